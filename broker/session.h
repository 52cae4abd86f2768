/*
 * session — one client connection: TLS handshake, identity, and the
 * sekisho/1 request loop (hello, put + data + end, status).
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

/* True when an upload for transfer id is attached to a live session. */
int session_transfer_busy(struct broker *b, const char *id);

/*
 * For the modules that answer ops of their own (audit pull, officers).
 * All on the loop thread.
 *
 * session_wait stops the session reading and holds it (a reference) until
 * session_done_waiting, which resumes reading when the connection is still
 * there and drops the reference; call them in pairs around a job whose
 * answer the client must get before it may send more. Pairs may nest (a
 * done callback that queues the next job before ending its own wait):
 * reading resumes when the last wait ends. session_gone is
 * true once the connection has ended or is closing (the session stays
 * valid while held): nothing more is done for it. Sending on an ended
 * session does nothing.
 */
struct principal;
struct auditrec;
struct wire_msg;

struct broker *session_broker(struct session *s);
const struct principal *session_principal(const struct session *s);
const char *session_peer(const struct session *s);
int session_gone(const struct session *s);
void session_wait(struct session *s);
void session_done_waiting(struct session *s);
void session_send(struct session *s, const struct wire_msg *m);
/* An error message; field may be NULL, retry_after 0 for none. */
void session_send_error(struct session *s, uint64_t id, const char *code,
    const char *message, const char *field, uint64_t retry_after);
/* One data item of len (<= WIRE_MAX_CHUNK) bytes; -1 if too large. */
int session_send_data(struct session *s, const uint8_t *buf, size_t len);
/* Bytes queued for the client and not yet written (0 once gone). */
size_t session_output_pending(const struct session *s);
/* Records an event in the audit trail (queued to the commit thread). */
void session_audit(struct broker *b, const struct auditrec *rec);

#endif
