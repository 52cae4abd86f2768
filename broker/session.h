/*
 * session — one client connection of the CBOR transport: TLS handshake,
 * identity, hello, and the sekisho/1 framing of requests and data items.
 * The requests themselves are answered by the request layer (dispatch.h,
 * request.h): the session is its struct reqconn and serves its responder.
 * It also does the handshake and certificate checks for browsers: when
 * ALPN chose "h2" it hands the checked connection to h2conn (h2conn.h).
 *
 * A session lives on the event loop. Anything that must reach stable
 * storage goes to the commit thread as a job; while a job the protocol must
 * wait for is outstanding, the session stops reading (so a client cannot
 * run ahead of durability), and it resumes when the job's done callback
 * runs. Jobs hold a reference, so a session whose connection dropped stays
 * allocated until its last job returns.
 */
#ifndef SEKISHO_SESSION_H
#define SEKISHO_SESSION_H

#include <stddef.h>
#include <stdint.h>
#include <sys/socket.h>
#include <event2/util.h>

struct broker;
struct session;

/* Takes ownership of fd (an accepted TCP socket) and starts the TLS
 * handshake. On failure the socket is closed and the refusal logged. */
void session_accept(struct broker *b, evutil_socket_t fd,
    const struct sockaddr *sa, int salen);

/* Shutdown: for every live session, checkpoints any upload in progress (its
 * durable offset is recorded so the client can resume after the restart),
 * tells the client the broker is going away, and closes the connection once
 * that message is flushed. */
void session_shutdown_all(struct broker *b);

/* After a reload of the TLS context (a new CRL): checks every
 * authenticated session's certificate against b->ssl_ctx again, and closes
 * the sessions whose certificate no longer verifies (revoked, or no longer
 * trusted), audited, dropping their step-up grants. Returns how many. */
size_t session_recheck_certificates(struct broker *b);

#endif
