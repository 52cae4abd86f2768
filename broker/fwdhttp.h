/*
 * fwdhttp — the HTTP requests of a delivery attempt, on libcurl's multi
 * handle driven by the broker's event loop, and the hashing of a range of
 * the spool file (S3 parts) in slices between loop turns.
 *
 * An attempt (broker/forward_int.h) runs one request at a time: its
 * connector fills a->req, fwdhttp_send sends it with the attempt's trust
 * settings (CA, pins, credentials, proxy, timeouts), and when it ends the
 * response (status, bytes sent, hash of what was sent, peer address, the
 * SPKI hash the upstream presented) goes to f->on_response. The request
 * body is read from a->fd in curl's read callback; the response body is
 * kept in a->body for that one call.
 *
 * Loop thread only. Never fails to call back: a local failure (out of
 * memory, a request that cannot be set up, too many requests in one
 * attempt, a spool file that cannot be read) becomes a response with
 * transport RETRY_T_LOCAL, or hashed == 0 for a range.
 */
#ifndef SEKISHO_FWDHTTP_H
#define SEKISHO_FWDHTTP_H

struct forwarder;
struct fwd_attempt;
struct upstream_response;

/* Creates f->multi and its timer event and sets on_response as the
 * callback for every finished request or range. -1 when out of memory
 * (what was made is freed by fwdhttp_teardown). */
int fwdhttp_setup(struct forwarder *f,
    void (*on_response)(struct fwd_attempt *a,
    const struct upstream_response *r));

/* Frees the multi handle and its timer; after every attempt's
 * fwdhttp_cleanup. */
void fwdhttp_teardown(struct forwarder *f);

/* Sends a->req. The result comes to f->on_response, possibly before this
 * returns (a local failure). */
void fwdhttp_send(struct fwd_attempt *a);

/* Hashes a->req's range of the spool file; the SHA-256 comes to
 * f->on_response in range_sha256 (hashed == 0 when it could not be
 * read). */
void fwdhttp_hash(struct fwd_attempt *a);

/* Drops the attempt's current request, if any (no callback follows);
 * the attempt keeps its other state. */
void fwdhttp_cleanup(struct fwd_attempt *a);

#endif
