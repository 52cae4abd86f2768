/*
 * identity — who is on the other end of a verified TLS connection.
 *
 * The principal comes only from the certificate's subjectAltName URIs,
 * never from the CN (which is display text and easily confused):
 *   urn:sekisho:user:<id>       exactly one, required
 *   urn:sekisho:dept:<id>       exactly one, required
 *   urn:sekisho:terminal:<id>   at most one, optional
 * Each <id> must be a util_is_token of at most 64 characters. Other SAN
 * entries are ignored; a second user/dept/terminal URI is an error, because a
 * certificate naming two people identifies nobody.
 *
 * The certificate must carry the clientAuth extended key usage: a
 * certificate without an EKU extension is refused, although OpenSSL's purpose
 * check would accept it.
 */
#ifndef SEKISHO_IDENTITY_H
#define SEKISHO_IDENTITY_H

#include <stddef.h>
#include <openssl/x509.h>

#include "lib/util.h"

#define IDENTITY_MAX_ID 64

struct principal {
	char user[IDENTITY_MAX_ID + 1];
	char dept[IDENTITY_MAX_ID + 1];
	char terminal[IDENTITY_MAX_ID + 1];	/* "" when none */
	char cert_fp[UTIL_SHA256_HEX + 1];	/* SHA-256 of the DER cert */
	char serial[80];			/* hex serial, for logs */
};

/* Fills out from cert. -1 with the reason in err (no partial result). */
int identity_from_cert(X509 *cert, struct principal *out, char *err,
    size_t errlen);

/* Hex SHA-256 fingerprint of cert's DER encoding. */
int identity_fingerprint(X509 *cert, char out[UTIL_SHA256_HEX + 1]);

#endif
