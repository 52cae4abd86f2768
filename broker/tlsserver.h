/*
 * tlsserver — the broker's TLS context: TLS 1.3 only, client certificate
 * mandatory and verified against the configured CA with CRL checking, ALPN
 * "sekisho/1" (the sekisho client) or "h2" (HTTP/2, browsers; HTTP/1.1 is
 * not served), no session resumption of any kind (every connection
 * runs a full handshake, so a revoked certificate is refused at once after a
 * CRL reload). Unexpected EOF stays an error (no
 * SSL_OP_IGNORE_UNEXPECTED_EOF), so a truncated upload can never look like
 * a finished one.
 *
 * Ownership: tlsserver_new returns an SSL_CTX the caller releases with
 * SSL_CTX_free; SSL objects made from it keep their own reference, so a
 * reload can swap contexts under live connections.
 */
#ifndef SEKISHO_TLSSERVER_H
#define SEKISHO_TLSSERVER_H

#include <stddef.h>
#include <time.h>
#include <openssl/ssl.h>

struct config;

/* Builds a context from cfg's tls section. With key NULL the private key
 * is read from tls.key; otherwise key is used (the key process's, see
 * tlskey.h) and must match tls.cert. -1/NULL with the reason. */
SSL_CTX *tlsserver_new(const struct config *cfg, EVP_PKEY *key, char *err,
    size_t errlen);

/*
 * The earliest nextUpdate of the CRLs in ctx (seconds since the epoch):
 * after it OpenSSL refuses every client certificate (fail closed), so the
 * start-up checks and the monitor watch it. 1 with *out 0 when no CRL has
 * a nextUpdate.
 */
int tlsserver_crl_next_update(SSL_CTX *ctx, time_t *out);

#define TLSSERVER_ALPN_H2 "h2"
/* Why a client without a protocol in common is refused. */
#define TLSSERVER_NO_ALPN "no application protocol in common: the broker " \
	"serves ALPN \"sekisho/1\" (the sekisho client) and \"h2\" " \
	"(HTTP/2, browsers); HTTP/1.1 is not served: use HTTP/2 or the " \
	"sekisho client"

/* After a handshake: checks that ALPN "sekisho/1" or "h2" was negotiated,
 * the version is TLS 1.3 and the chain verified. -1 with the reason. */
int tlsserver_check(SSL *ssl, char *err, size_t errlen);

/* True when the handshake of ssl chose "h2". */
int tlsserver_is_h2(SSL *ssl);

/* Verifies the peer certificate of an established ssl again, against
 * ctx's store (its CA and CRL, e.g. after a reload): 0 when it still
 * verifies, -1 with the reason ("certificate revoked", ...) when not. */
int tlsserver_recheck(SSL_CTX *ctx, SSL *ssl, char *err, size_t errlen);

/*
 * Why a handshake failed, for logs and the audit trail, in words an
 * administrator acts on (no client certificate, protocol version, unknown
 * CA, expired, revoked, ...) followed by OpenSSL's own text: the
 * certificate verification result if there was one, else the OpenSSL
 * error e. libevent moves the handshake's errors off the thread's queue
 * (bufferevent_get_openssl_error), so the caller passes the first; with e 0
 * the queue is looked at. Clears the queue.
 */
void tlsserver_failure(SSL *ssl, unsigned long e, char *out, size_t outlen);

#endif
