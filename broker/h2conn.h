/*
 * h2conn — one browser connection: HTTP/2 (libnghttp2) over the broker's
 * TLS 1.3 mTLS listener, on the same event loop as the sekisho/1 sessions.
 *
 * The session module does the TLS handshake and every check of the
 * certificate (chain, CRL, clientAuth EKU, identity) for both protocols;
 * when ALPN chose "h2" it hands the established connection over here with
 * the principal it proved (h2conn_start). From then on the connection is a
 * session of the broker like the others: it holds its admission slot for
 * its source, counts in b->nsessions (limits.max_connections), ends at
 * limits.max_session_lifetime and at the idle timeout, is checked again
 * against a reloaded CRL (h2conn_recheck_certificates) and goes away at
 * shutdown (h2conn_shutdown_all). Requests are answered by web.h.
 *
 * Bounds (docs/architecture.md says why): SETTINGS advertise
 * H2_MAX_STREAMS concurrent streams, a header list of H2_MAX_HEADER_LIST
 * bytes and H2_WINDOW bytes of window per stream; a stream whose headers
 * exceed the list size, more than H2_MAX_CONTINUATIONS CONTINUATION frames,
 * or more than H2_RESET_BUDGET streams reset within H2_RESET_INTERVAL
 * seconds end the connection with GOAWAY (ENHANCE_YOUR_CALM), closed once
 * written or at most 5 s later. Reading stops
 * while more than H2_OUT_HIGH bytes wait to be written, so a client that
 * does not read cannot make the broker queue without bound; one read
 * callback handles at most H2_READ_HIGH bytes, so one connection's flood
 * cannot hold the loop from the others.
 *
 * Loop thread only. The connection owns its bufferevent (and SSL) and frees
 * itself when it ends.
 */
#ifndef SEKISHO_H2CONN_H
#define SEKISHO_H2CONN_H

#include <stddef.h>

struct broker;
struct bufferevent;
struct reqconn;
struct h2conn;

#define H2_MAX_STREAMS 32
#define H2_MAX_HEADER_LIST (16u * 1024)
#define H2_WINDOW (1024u * 1024)
#define H2_MAX_CONTINUATIONS 8
#define H2_MAX_UPLOADS 4		/* PATCH streams in flight */
#define H2_RESET_BUDGET 100
#define H2_RESET_INTERVAL 10		/* seconds */
#define H2_READ_HIGH (64u * 1024)
#define H2_OUT_HIGH (256u * 1024)
#define H2_OUT_LOW (64u * 1024)

/*
 * Takes over bev, an established TLS connection that negotiated "h2", for
 * the broker, principal and peer of from (the request layer's view of the
 * connection, request.h; copied), with source (the admission key). The
 * caller has given back its own admission slot and session count:
 * h2conn_start takes them again for the new connection.
 * On failure (out of memory) the connection is closed, the reason logged,
 * and -1 returned.
 */
int h2conn_start(struct bufferevent *bev, const struct reqconn *from,
    const char *source);

/* After a TLS reload: closes (GOAWAY, audited as session_revoked, step-up
 * grants dropped) every connection whose certificate no longer verifies
 * against b->ssl_ctx. Returns how many. */
size_t h2conn_recheck_certificates(struct broker *b);

/* Shutdown: every connection gets GOAWAY and closes once it is sent. */
void h2conn_shutdown_all(struct broker *b);

#endif
