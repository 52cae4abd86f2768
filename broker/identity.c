/*
 * identity — see identity.h. Maps a verified client certificate to the
 * principal the policy and the audit trail talk about.
 */
#include "broker/identity.h"

#include <string.h>
#include <openssl/evp.h>
#include <openssl/x509v3.h>

#define URN_PREFIX "urn:sekisho:"

static int
set_once(char *dst, const char *what, const char *val, size_t len, char *err,
    size_t errlen)
{
	char tmp[IDENTITY_MAX_ID + 1];

	if (dst[0] != '\0')
		return util_err(err, errlen, "certificate names more than one "
		    "%s in its subjectAltName", what);
	if (len == 0 || len > IDENTITY_MAX_ID)
		return util_err(err, errlen, "certificate %s id is empty or "
		    "longer than %d characters", what, IDENTITY_MAX_ID);
	memcpy(tmp, val, len);
	tmp[len] = '\0';
	if (strlen(tmp) != len || !util_is_token(tmp, IDENTITY_MAX_ID))
		return util_err(err, errlen, "certificate %s id contains "
		    "characters outside [A-Za-z0-9._-]", what);
	memcpy(dst, tmp, len + 1);
	return 0;
}

static int
has_client_auth(X509 *cert)
{
	EXTENDED_KEY_USAGE *eku;
	int i, found = 0;

	eku = X509_get_ext_d2i(cert, NID_ext_key_usage, NULL, NULL);
	if (eku == NULL)
		return 0;
	for (i = 0; i < sk_ASN1_OBJECT_num(eku); i++)
		if (OBJ_obj2nid(sk_ASN1_OBJECT_value(eku, i)) ==
		    NID_client_auth)
			found = 1;
	EXTENDED_KEY_USAGE_free(eku);
	return found;
}

int
identity_fingerprint(X509 *cert, char out[UTIL_SHA256_HEX + 1])
{
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;

	if (X509_digest(cert, EVP_sha256(), md, &mdlen) != 1 ||
	    mdlen != UTIL_SHA256_LEN) {
		out[0] = '\0';
		return -1;
	}
	util_hex(md, mdlen, out);
	return 0;
}

int
identity_from_cert(X509 *cert, struct principal *out, char *err,
    size_t errlen)
{
	struct principal p;
	GENERAL_NAMES *names;
	const ASN1_INTEGER *sn;
	BIGNUM *bn;
	char *hex;
	int i, rc = 0;

	memset(out, 0, sizeof(*out));
	memset(&p, 0, sizeof(p));
	if (cert == NULL)
		return util_err(err, errlen, "no client certificate");
	if (!has_client_auth(cert))
		return util_err(err, errlen, "certificate lacks the clientAuth "
		    "extended key usage");
	names = X509_get_ext_d2i(cert, NID_subject_alt_name, NULL, NULL);
	if (names == NULL)
		return util_err(err, errlen, "certificate has no "
		    "subjectAltName naming a sekisho user");
	for (i = 0; i < sk_GENERAL_NAME_num(names) && rc == 0; i++) {
		const GENERAL_NAME *gn = sk_GENERAL_NAME_value(names, i);
		const char *v;
		size_t len;

		if (gn->type != GEN_URI)
			continue;
		v = (const char *)ASN1_STRING_get0_data(gn->d.uniformResourceIdentifier);
		len = (size_t)ASN1_STRING_length(gn->d.uniformResourceIdentifier);
		if (len < sizeof(URN_PREFIX) - 1 ||
		    memcmp(v, URN_PREFIX, sizeof(URN_PREFIX) - 1) != 0)
			continue;
		v += sizeof(URN_PREFIX) - 1;
		len -= sizeof(URN_PREFIX) - 1;
		if (len >= 5 && memcmp(v, "user:", 5) == 0)
			rc = set_once(p.user, "user", v + 5, len - 5, err,
			    errlen);
		else if (len >= 5 && memcmp(v, "dept:", 5) == 0)
			rc = set_once(p.dept, "department", v + 5, len - 5, err,
			    errlen);
		else if (len >= 9 && memcmp(v, "terminal:", 9) == 0)
			rc = set_once(p.terminal, "terminal", v + 9, len - 9,
			    err, errlen);
	}
	GENERAL_NAMES_free(names);
	if (rc != 0)
		return -1;
	if (p.user[0] == '\0')
		return util_err(err, errlen, "certificate has no "
		    "urn:sekisho:user: subjectAltName");
	if (p.dept[0] == '\0')
		return util_err(err, errlen, "certificate has no "
		    "urn:sekisho:dept: subjectAltName");
	if (identity_fingerprint(cert, p.cert_fp) != 0)
		return util_err(err, errlen, "cannot hash certificate");
	sn = X509_get0_serialNumber(cert);
	if ((bn = ASN1_INTEGER_to_BN(sn, NULL)) != NULL) {
		if ((hex = BN_bn2hex(bn)) != NULL) {
			util_strlcpy(p.serial, hex, sizeof(p.serial));
			OPENSSL_free(hex);
		}
		BN_free(bn);
	}
	*out = p;
	return 0;
}
