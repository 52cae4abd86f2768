/*
 * request — the transport-independent request layer's view of one client
 * connection (a "reqconn") and the responder a transport supplies for it.
 *
 * The request handlers (put/resume/status/end in upload.h, held transfers
 * and exceptions in officer.h, audit pull in auditpull.h, the table and
 * gates in handlers.h) take a struct reqconn and never see how the bytes
 * travel: the CBOR session (session.h) embeds one per TLS connection and
 * fills in ops; another transport (HTTP/2) would do the same. Nothing in
 * the request layer includes a transport's header.
 *
 * Lifetime: the transport owns the memory of the reqconn (it is embedded
 * in its connection). ops->hold / ops->release count references: while a
 * handler holds one (reqconn_wait, or a job it queued), the memory stays
 * valid even after the connection ended; reqconn_gone tells whether it
 * did, reqconn_ending whether it did or is closing (then nothing more is
 * done for it). Sending on a gone connection does nothing.
 *
 * Threads: everything here runs on the event loop.
 */
#ifndef SEKISHO_REQUEST_H
#define SEKISHO_REQUEST_H

#include <stddef.h>
#include <stdint.h>

#include "broker/identity.h"

struct auditrec;
struct broker;
struct policy_decision;
struct reqconn;
struct upload;
struct wire_msg;

/* What a transport does for the request layer. All members are set. */
struct reqconn_ops {
	/* Queues one answer for the client (the transport encodes it). */
	void (*send)(struct reqconn *c, const struct wire_msg *m);
	/* Queues len (<= WIRE_MAX_CHUNK) bytes of data; -1 if too large. */
	int (*send_data)(struct reqconn *c, const uint8_t *buf, size_t len);
	/* Bytes queued for the client and not yet written (0 once gone). */
	size_t (*output_pending)(const struct reqconn *c);
	/* True once the connection has ended. */
	int (*gone)(const struct reqconn *c);
	/* True while it only sends its last answers before it ends
	 * (certificate revoked, lifetime reached, a protocol error,
	 * shutdown): it reads no more requests. */
	int (*closing)(const struct reqconn *c);
	/* Keep / give back the memory of c (reference count). */
	void (*hold)(struct reqconn *c);
	void (*release)(struct reqconn *c);
	/* Stop reading requests (c->busy is set): the answer to the current
	 * one must come first (a job the client has to wait for). */
	void (*pause)(struct reqconn *c);
	/* Clear c->busy and, unless the connection is gone or closing, read
	 * again and pick up what arrived meanwhile. */
	void (*resume)(struct reqconn *c);
	/* Send what is queued, then end the connection. */
	void (*close_after_flush)(struct reqconn *c);
};

/* One connection as the request layer sees it. The transport sets ops, b,
 * who and peer; the rest belongs to the layer (zero to start). */
struct reqconn {
	const struct reqconn_ops *ops;
	struct broker *b;
	struct principal who;
	char peer[64];
	int waits;			/* reqconn_wait not yet ended */
	int busy;			/* a job the protocol waits for: the
					   transport reads no request */
	struct upload *up;		/* the upload attached (upload.h) */
	uint64_t probed;		/* 1 + id of the put whose resume was
					   looked up already; 0: none */
};

static inline int
reqconn_gone(const struct reqconn *c)
{
	return c->ops->gone(c);
}

/*
 * True once the connection has ended or is closing. A job that ends now
 * must not go on to act for it: no vote or decision is written, no put
 * decided, no step-up grant given, for a connection whose certificate may
 * just have been revoked. Its memory is still valid while held.
 */
static inline int
reqconn_ending(const struct reqconn *c)
{
	return c->ops->gone(c) || c->ops->closing(c);
}

static inline void
reqconn_send(struct reqconn *c, const struct wire_msg *m)
{
	c->ops->send(c, m);
}

static inline int
reqconn_send_data(struct reqconn *c, const uint8_t *buf, size_t len)
{
	return c->ops->send_data(c, buf, len);
}

/* Stops c reading until reqconn_resume (nothing once it is gone). */
static inline void
reqconn_pause(struct reqconn *c)
{
	if (c->ops->gone(c))
		return;
	c->busy = 1;
	c->ops->pause(c);
}

static inline void
reqconn_resume(struct reqconn *c)
{
	c->ops->resume(c);
}

static inline void
reqconn_close_after_flush(struct reqconn *c)
{
	c->ops->close_after_flush(c);
}

static inline size_t
reqconn_output_pending(const struct reqconn *c)
{
	return c->ops->output_pending(c);
}

/*
 * An error answer: code and message (cut on a UTF-8 boundary to the wire's
 * bound, never lost); field may be NULL; d (rule and reason of a policy
 * verdict), transfer may be NULL; retry_after 0 for none.
 */
void reqconn_send_error_full(struct reqconn *c, uint64_t id,
    const char *code, const char *message, const char *field,
    const struct policy_decision *d, const char *transfer,
    uint64_t retry_after);

/* The common case of reqconn_send_error_full. */
void reqconn_send_error(struct reqconn *c, uint64_t id, const char *code,
    const char *message, const char *field, uint64_t retry_after);

/*
 * Stops c reading and holds it until reqconn_done_waiting, which resumes
 * reading when the connection is still there and drops the hold; call
 * them in pairs around a job whose answer the client must get before it
 * may send more. Pairs may nest: reading resumes when the last ends.
 */
void reqconn_wait(struct reqconn *c);
void reqconn_done_waiting(struct reqconn *c);

/* Records an event with no other effect in the audit trail (queued to
 * the commit thread; a failure is logged). */
void request_audit(struct broker *b, const struct auditrec *rec);

/* Fail closed: when the audit trail cannot be written, answers id with
 * "audit_unavailable" and returns 1; else 0. */
int request_refuse_unaudited(struct reqconn *c, uint64_t id);

#endif
