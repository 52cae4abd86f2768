/*
 * upload — the request handlers of the upload path: put (new, resumed,
 * after a step-up, with daily limits), the data of an upload, end;
 * and an upload's end when its connection drops. Part of the request
 * layer: it answers through the reqconn's responder (request.h) and knows
 * no transport.
 *
 * The life of an upload:
 *
 *   put ──▶ decide (policy, on the loop: pure and cheap)
 *        ──▶ job: insert transfer + audit  ──▶ "ready" {transfer, offset 0}
 *   data: the transport hands the payload bytes of each data item straight
 *   to upload_write_data, which writes them to the spool file with
 *   writev(2) and hashes them on the way; every cfg->sync_interval bytes a
 *   job makes the prefix durable and records the offset, so a resume never
 *   starts past what survived.
 *   end ──▶ hash compared ──▶ job: fsync + rename + fsync dir, state
 *           "stored", audit ──▶ "stored" (only now, after all of it is on
 *           stable storage)
 *
 * A resume ("put" with a transfer id) runs a job that checks ownership and
 * state, truncates the partial file to its last durable offset and re-hashes
 * that prefix (all on the commit thread, since it reads the file), then
 * answers "ready" with that offset. Before any decision, a lookup job asks
 * whether the transfer was stored already (its "stored" lost with the
 * connection); then "stored" is answered again, with the state now, and
 * nothing is received.
 *
 * A connection that ends with an upload attached (close_notify, TCP reset,
 * timeout or shutdown) is an aborted upload (upload_abort): a job syncs
 * what arrived and records it as the durable offset; the partial stays
 * resumable until limits.partial_ttl.
 *
 * Step-up: when the policy answers step_up_required and the put carries an
 * "otp", a job checks the code on the commit thread (the store is
 * single-threaded there, so "a code is accepted once" is one transaction).
 * The put is kept encoded in the job; when the code is accepted the step-up
 * is recorded for the client certificate (b->grants, memory only) and the
 * put is decided again from the start, now with ctx.stepup_at set.
 *
 * Threads: the event loop; the work functions of its jobs run on the
 * commit thread.
 */
#ifndef SEKISHO_UPLOAD_H
#define SEKISHO_UPLOAD_H

#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>
#include <sys/types.h>
#include <sys/uio.h>
#include <openssl/evp.h>

#include "broker/officer.h"
#include "lib/util.h"

struct broker;
struct reqconn;
struct wire_msg;

/* At most this many iovecs are written by one upload_write_data. */
#define UPLOAD_MAX_IOV 16

/* An upload attached to a connection (reqconn.up). Owned by upload.c;
 * a transport only reads id and interface (for its own messages). */
struct upload {
	char id[UTIL_ID_LEN + 1];
	uint64_t req_id;		/* id of the put that opened it */
	char interface[65];
	unsigned class;
	uint64_t size;			/* declared */
	uint64_t received;		/* bytes written to the spool file */
	uint64_t synced;		/* offset of the last durable checkpoint
					   submitted */
	uint64_t remaining;		/* payload bytes left in this data item */
	int fd;				/* -1 until ready */
	EVP_MD_CTX *md;
	int ready;			/* "ready" sent: data may arrive */
	int wrote;			/* data written since it was attached */
	struct officer_put op;		/* exception used; hold for officers */
	uint8_t declared[32];		/* the SHA-256 declared by put */
	int has_declared;		/* end must carry the same */
	LIST_ENTRY(upload) entry;	/* b->uploads: every live upload */
};

/* The handlers of the table (handlers.h): put (new or resume), end. */
void upload_handle_put(struct reqconn *c, const struct wire_msg *m);
void upload_handle_end(struct reqconn *c, const struct wire_msg *m);

/* True when c has an upload whose "ready" was sent: only data and end
 * may come until it ends. */
int upload_is_receiving(const struct reqconn *c);

/*
 * The data path, kept direct (no table, no copy):
 * upload_take_data_head: a data item of len payload bytes begins (refused
 * as a protocol error without a ready upload; the upload fails when it is
 * more than declared).
 * upload_data_pending: payload bytes of the current item not yet written
 * (0 when no item is open).
 * upload_write_data: writes up to upload_data_pending bytes of iov[0..n)
 * to the spool file, hashing them; returns how many were taken (the
 * transport drops them from its buffer), or -1 when the write failed and
 * the upload was failed (answered; the connection ends).
 */
void upload_take_data_head(struct reqconn *c, uint64_t len);
uint64_t upload_data_pending(const struct reqconn *c);
ssize_t upload_write_data(struct reqconn *c, const struct iovec *iov,
    int n);

/*
 * Detaches c's upload, if any, and hands it to a job that syncs what
 * arrived and records it as the durable offset (the transfer stays
 * resumable). For a connection that ends; why goes into the record.
 */
void upload_abort(struct reqconn *c, const char *why);

/*
 * For a transport whose requests each carry a part of an upload (tus):
 * lets go of c's upload after a request's part. When nothing was written
 * through c it is only closed (no job, no record: the transfer stays
 * resumable at its durable offset); otherwise as upload_abort.
 */
void upload_release(struct reqconn *c, const char *why);

/* True when an upload for transfer id is attached to a live connection,
 * of any transport. */
int upload_transfer_busy(const struct broker *b, const char *id);

/*
 * A request the protocol does not allow here: audited ("protocol_error",
 * naming the upload attached, if any), answered with code, and the
 * connection ended once the answer is sent.
 */
void upload_protocol_error(struct reqconn *c, uint64_t id, const char *code,
    const char *message, const char *field);

#endif
