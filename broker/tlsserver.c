/*
 * tlsserver — see tlsserver.h.
 *
 * Revocation: the CRL is loaded into the context's X509_STORE with
 * X509_V_FLAG_CRL_CHECK, so a client whose certificate is on it fails the
 * handshake; an expired CRL also fails every handshake (fail closed) until
 * the administrator publishes a fresh one and reloads (SIGHUP).
 */
#include "broker/tlsserver.h"
#include "broker/config.h"
#include "broker/tlskey.h"
#include "lib/util.h"
#include "lib/wire.h"

#include <stdio.h>
#include <string.h>
#include <time.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>

static void
ssl_errors(char *out, size_t outlen)
{
	unsigned long e = ERR_get_error();

	if (e == 0)
		util_strlcpy(out, "unknown TLS error", outlen);
	else
		ERR_error_string_n(e, out, outlen);
	ERR_clear_error();
}

/*
 * ALPN: "sekisho/1" for the command-line client, "h2" for browsers, in
 * that order of preference. A client offering neither (an HTTP/1.1-only
 * one) gets the no_application_protocol alert; tlsserver_failure words it.
 */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static const unsigned char want[] = "\x09" WIRE_ALPN "\x02"
	    TLSSERVER_ALPN_H2;
	unsigned char *sel = NULL;

	(void)ssl;
	(void)arg;
	if (SSL_select_next_proto(&sel, outlen, want, sizeof(want) - 1, in,
	    inlen) != OPENSSL_NPN_NEGOTIATED)
		return SSL_TLSEXT_ERR_ALERT_FATAL;
	*out = sel;
	return SSL_TLSEXT_ERR_OK;
}

static int
load_crls(X509_STORE *store, const char *path, char *err, size_t errlen)
{
	FILE *f;
	X509_CRL *crl;
	int n = 0;

	if ((f = fopen(path, "r")) == NULL)
		return util_err(err, errlen, "tls.crl %s: cannot open (a CRL is "
		    "required; publish one with 'sekisho-pki crl')", path);
	while ((crl = PEM_read_X509_CRL(f, NULL, NULL, NULL)) != NULL) {
		if (X509_STORE_add_crl(store, crl) != 1) {
			X509_CRL_free(crl);
			fclose(f);
			return util_err(err, errlen, "tls.crl %s: cannot add "
			    "CRL", path);
		}
		X509_CRL_free(crl);
		n++;
	}
	fclose(f);
	ERR_clear_error();	/* the read loop ends with a "no start line" */
	if (n == 0)
		return util_err(err, errlen, "tls.crl %s: no PEM CRL found",
		    path);
	return 0;
}

SSL_CTX *
tlsserver_new(const struct config *cfg, EVP_PKEY *key, char *err,
    size_t errlen)
{
	SSL_CTX *ctx;
	STACK_OF(X509_NAME) *cas;
	X509_STORE *store;
	EVP_PKEY *own = NULL;
	char buf[256];

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		ssl_errors(buf, sizeof(buf));
		util_err(err, errlen, "cannot create TLS context: %s", buf);
		return NULL;
	}
	if (SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(ctx, TLS1_3_VERSION) != 1)
		goto ssl_fail;
	/* No resumption: every connection proves its certificate again. */
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET | SSL_OP_NO_RENEGOTIATION |
	    SSL_OP_CIPHER_SERVER_PREFERENCE);
	if (SSL_CTX_set_num_tickets(ctx, 0) != 1)
		goto ssl_fail;
	if (SSL_CTX_use_certificate_chain_file(ctx, cfg->tls_cert) != 1) {
		ssl_errors(buf, sizeof(buf));
		util_err(err, errlen, "tls.cert %s: %s", cfg->tls_cert, buf);
		goto fail;
	}
	/* Read as every private key is (tlskey_read_file): a key group or
	 * others can read is refused here too. */
	if (key == NULL && (own = tlskey_read_file(cfg->tls_key, err,
	    errlen)) == NULL)
		goto fail;
	if (SSL_CTX_use_PrivateKey(ctx, key != NULL ? key : own) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		ssl_errors(buf, sizeof(buf));
		util_err(err, errlen, "tls.key %s: %s (does it match "
		    "tls.cert?%s)", cfg->tls_key, buf, key != NULL ? " the key "
		    "process keeps the key read at start: a new key needs a "
		    "restart" : "");
		goto fail;
	}
	EVP_PKEY_free(own);	/* the context holds its own reference */
	own = NULL;
	if (SSL_CTX_load_verify_locations(ctx, cfg->tls_ca, NULL) != 1) {
		ssl_errors(buf, sizeof(buf));
		util_err(err, errlen, "tls.ca %s: %s", cfg->tls_ca, buf);
		goto fail;
	}
	if ((cas = SSL_load_client_CA_file(cfg->tls_ca)) == NULL) {
		ssl_errors(buf, sizeof(buf));
		util_err(err, errlen, "tls.ca %s: %s", cfg->tls_ca, buf);
		goto fail;
	}
	SSL_CTX_set_client_CA_list(ctx, cas);
	store = SSL_CTX_get_cert_store(ctx);
	if (load_crls(store, cfg->tls_crl, err, errlen) != 0)
		goto fail;
	X509_STORE_set_flags(store, X509_V_FLAG_CRL_CHECK |
	    X509_V_FLAG_X509_STRICT);
	if (SSL_CTX_set_purpose(ctx, X509_PURPOSE_SSL_CLIENT) != 1)
		goto ssl_fail;
	SSL_CTX_set_verify(ctx, SSL_VERIFY_PEER |
	    SSL_VERIFY_FAIL_IF_NO_PEER_CERT | SSL_VERIFY_CLIENT_ONCE, NULL);
	SSL_CTX_set_verify_depth(ctx, 4);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	return ctx;
ssl_fail:
	ssl_errors(buf, sizeof(buf));
	util_err(err, errlen, "TLS setup failed: %s", buf);
fail:
	EVP_PKEY_free(own);
	SSL_CTX_free(ctx);
	return NULL;
}

int
tlsserver_crl_next_update(SSL_CTX *ctx, time_t *out)
{
	STACK_OF(X509_OBJECT) *objs;
	int i, found = 0;

	*out = 0;
	objs = X509_STORE_get0_objects(SSL_CTX_get_cert_store(ctx));
	for (i = 0; objs != NULL && i < sk_X509_OBJECT_num(objs); i++) {
		X509_OBJECT *o = sk_X509_OBJECT_value(objs, i);
		const ASN1_TIME *next;
		struct tm tm;
		time_t t;

		if (X509_OBJECT_get_type(o) != X509_LU_CRL ||
		    (next = X509_CRL_get0_nextUpdate(
		    X509_OBJECT_get0_X509_CRL(o))) == NULL ||
		    ASN1_TIME_to_tm(next, &tm) != 1)
			continue;
		t = timegm(&tm);
		if (!found || t < *out)
			*out = t;
		found = 1;
	}
	return found ? 0 : 1;
}

int
tlsserver_is_h2(SSL *ssl)
{
	const unsigned char *alpn = NULL;
	unsigned int alpnlen = 0;

	SSL_get0_alpn_selected(ssl, &alpn, &alpnlen);
	return alpnlen == strlen(TLSSERVER_ALPN_H2) &&
	    memcmp(alpn, TLSSERVER_ALPN_H2, alpnlen) == 0;
}

int
tlsserver_check(SSL *ssl, char *err, size_t errlen)
{
	const unsigned char *alpn = NULL;
	unsigned int alpnlen = 0;
	long vr;

	if (SSL_version(ssl) != TLS1_3_VERSION)
		return util_err(err, errlen, "protocol is not TLS 1.3");
	SSL_get0_alpn_selected(ssl, &alpn, &alpnlen);
	if (!(alpnlen == strlen(WIRE_ALPN) &&
	    memcmp(alpn, WIRE_ALPN, alpnlen) == 0) && !tlsserver_is_h2(ssl))
		return util_err(err, errlen, "%s", TLSSERVER_NO_ALPN);
	if (SSL_get0_peer_certificate(ssl) == NULL)
		return util_err(err, errlen, "no client certificate");
	if ((vr = SSL_get_verify_result(ssl)) != X509_V_OK)
		return util_err(err, errlen, "client certificate not verified: "
		    "%s", X509_verify_cert_error_string(vr));
	return 0;
}

/* A verification error as an administrator reads it; NULL: use
 * OpenSSL's own text. */
static const char *
verify_phrase(long vr)
{
	switch (vr) {
	case X509_V_ERR_CERT_HAS_EXPIRED:
		return "expired";
	case X509_V_ERR_CERT_NOT_YET_VALID:
		return "not yet valid";
	case X509_V_ERR_CERT_REVOKED:
		return "revoked";
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT:
	case X509_V_ERR_UNABLE_TO_GET_ISSUER_CERT_LOCALLY:
	case X509_V_ERR_DEPTH_ZERO_SELF_SIGNED_CERT:
	case X509_V_ERR_SELF_SIGNED_CERT_IN_CHAIN:
	case X509_V_ERR_CERT_SIGNATURE_FAILURE:
		return "issued by an unknown CA";
	case X509_V_ERR_INVALID_PURPOSE:
		return "not for client authentication (extended key "
		    "usage)";
	case X509_V_ERR_CRL_HAS_EXPIRED:
		return "the broker's CRL has expired: every client is refused "
		    "until a fresh CRL is published and reloaded";
	case X509_V_ERR_CRL_NOT_YET_VALID:
		return "the broker's CRL is not yet valid";
	case X509_V_ERR_UNABLE_TO_GET_CRL:
		return "no CRL of the client certificate's CA";
	default:
		return NULL;
	}
}

/* An OpenSSL error of the handshake as an administrator reads it; NULL:
 * use OpenSSL's own text. */
static const char *
ssl_phrase(unsigned long e)
{
	if (ERR_GET_LIB(e) != ERR_LIB_SSL)
		return NULL;
	switch (ERR_GET_REASON(e)) {
	case SSL_R_PEER_DID_NOT_RETURN_A_CERTIFICATE:
		return "no client certificate (a certificate from the "
		    "broker's CA is required)";
	case SSL_R_UNSUPPORTED_PROTOCOL:
	case SSL_R_WRONG_VERSION_NUMBER:
	case SSL_R_VERSION_TOO_LOW:
		return "client protocol version too old (only TLS 1.3 is "
		    "accepted)";
	case SSL_R_NO_SHARED_CIPHER:
		return "no cipher suite in common";
	case SSL_R_NO_APPLICATION_PROTOCOL:
		return TLSSERVER_NO_ALPN;
	case SSL_R_TLSV1_ALERT_UNKNOWN_CA:
	case SSL_R_SSLV3_ALERT_BAD_CERTIFICATE:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_EXPIRED:
	case SSL_R_SSLV3_ALERT_CERTIFICATE_UNKNOWN:
		return "the client refused the broker's certificate";
	case SSL_R_HTTP_REQUEST:
	case SSL_R_HTTPS_PROXY_REQUEST:
		return "not TLS (an HTTP request)";
	default:
		return NULL;
	}
}

void
tlsserver_failure(SSL *ssl, unsigned long e, char *out, size_t outlen)
{
	long vr = ssl != NULL ? SSL_get_verify_result(ssl) : X509_V_OK;
	const char *phrase;
	char buf[256];

	if (e == 0)
		e = ERR_peek_error();
	if (vr != X509_V_OK) {
		phrase = verify_phrase(vr);
		snprintf(out, outlen, "client certificate refused: %s%s%s%s",
		    phrase != NULL ? phrase : "",
		    phrase != NULL ? " (" : "", X509_verify_cert_error_string(vr),
		    phrase != NULL ? ")" : "");
		ERR_clear_error();
		return;
	}
	if (e == 0) {
		/* No TLS error at all: the peer went away (port probes, a
		 * client killed during the handshake). */
		snprintf(out, outlen, "connection closed during the TLS "
		    "handshake");
		return;
	}
	ERR_error_string_n(e, buf, sizeof(buf));
	ERR_clear_error();
	if (ERR_GET_LIB(e) == ERR_LIB_SSL &&
	    ERR_GET_REASON(e) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
		/* Port probes, a client killed during the handshake. */
		snprintf(out, outlen, "connection closed during the TLS "
		    "handshake");
		return;
	}
	if ((phrase = ssl_phrase(e)) != NULL)
		snprintf(out, outlen, "TLS handshake refused: %s (%s)", phrase,
		    buf);
	else
		snprintf(out, outlen, "TLS handshake failed: %s", buf);
}

int
tlsserver_recheck(SSL_CTX *ctx, SSL *ssl, char *err, size_t errlen)
{
	X509 *cert = SSL_get0_peer_certificate(ssl);
	X509_STORE_CTX *x;
	int ok;

	if (cert == NULL)
		return util_err(err, errlen, "no client certificate");
	if ((x = X509_STORE_CTX_new()) == NULL ||
	    X509_STORE_CTX_init(x, SSL_CTX_get_cert_store(ctx), cert,
	    SSL_get_peer_cert_chain(ssl)) != 1 ||
	    X509_STORE_CTX_set_default(x, "ssl_client") != 1) {
		X509_STORE_CTX_free(x);
		ERR_clear_error();
		/* Fail closed: what cannot be checked is not kept. */
		return util_err(err, errlen, "the certificate could not be "
		    "checked again (out of memory)");
	}
	ok = X509_verify_cert(x);
	if (ok != 1)
		util_err(err, errlen, "client certificate no longer verifies "
		    "after the CRL reload: %s", X509_verify_cert_error_string(
		    X509_STORE_CTX_get_error(x)));
	X509_STORE_CTX_free(x);
	ERR_clear_error();
	return ok == 1 ? 0 : -1;
}
