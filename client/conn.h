/*
 * conn — one blocking TLS connection from the client to the broker.
 *
 * conn_open resolves and connects (each address in turn), runs a TLS 1.3
 * handshake with the client certificate, verifies the broker's chain
 * against the configured CA and its name (DNS name or IP address), requires
 * ALPN "sekisho/1", then sends hello and reads welcome. Every wait (connect,
 * handshake, read, write) is bounded by the configured timeout; a transfer
 * that keeps moving never times out.
 *
 * Failures carry a class so callers can map them to exit codes and decide
 * whether a retry can help:
 *   CONN_ELOCAL  the local side is wrong (unreadable CA/cert/key, key does
 *                not match the certificate): never retried;
 *   CONN_ENET    the network or the broker went away (refused, reset,
 *                timeout, EOF): retrying may help;
 *   CONN_ETLS    TLS failed in a way retrying will not fix (certificate
 *                verification, no common protocol, ALPN not selected);
 *   CONN_EPROTO  the broker broke the protocol (undecodable or unexpected
 *                message).
 * The failure's text comes back in err: English in err->en (for --json and
 * scripts), the user's language in err->text (the terminal).
 * Ownership: conn_open returns a connection freed by conn_close; received
 * messages belong to the caller (wire_msg_clear).
 */
#ifndef SEKISHO_CONN_H
#define SEKISHO_CONN_H

#include <stddef.h>
#include <stdint.h>

#include "client/clientcfg.h"
#include "client/i18n.h"
#include "lib/wire.h"

enum conn_fail {
	CONN_OK = 0,
	CONN_ELOCAL = -1,
	CONN_ENET = -2,
	CONN_ETLS = -3,
	CONN_EPROTO = -4
};

/* What the broker said in welcome (strings owned by the conn). */
struct conn_welcome {
	uint64_t version;
	const char *user;
	const char *dept;
	const char *terminal;		/* NULL when the cert names none */
	uint64_t max_chunk;		/* already clamped to WIRE_MAX_CHUNK */
	uint64_t max_size;
};

struct conn;

/*
 * Connects, handshakes and exchanges hello/welcome; software is sent as the
 * hello's "software" (e.g. "sekisho/0.1.0"). If the broker answers hello
 * with an error message instead of welcome, the result is CONN_EPROTO with
 * *refusal holding that message (caller clears it) when refusal is not
 * NULL, so the caller can honour e.g. "busy" with retry_after.
 * Returns CONN_OK with *out set, or a negative enum conn_fail with err.
 */
int conn_open(const struct clientcfg *cfg, const char *software,
    struct conn **out, struct wire_msg *refusal, struct i18n_msg *err);

/* The welcome of an open connection. */
const struct conn_welcome *conn_welcome(const struct conn *c);

/* The next request id (1, 2, ...; hello used 0). */
uint64_t conn_next_id(struct conn *c);

/* Encodes and sends a control message. CONN_OK or a negative class. */
int conn_send_msg(struct conn *c, const struct wire_msg *msg,
    struct i18n_msg *err);

/* Sends len (<= WIRE_MAX_CHUNK) bytes as one data item. */
int conn_send_data(struct conn *c, const uint8_t *buf, size_t len,
    struct i18n_msg *err);

/* Waits (bounded by the timeout) for the next control message from the
 * broker into msg (caller clears it). Data items from the broker are a
 * protocol error. */
int conn_recv_msg(struct conn *c, struct wire_msg *msg,
    struct i18n_msg *err);

/* Waits (bounded by the timeout) for the next item from the broker, which
 * must be a data item of at most cap bytes, and copies its payload into
 * buf (*len bytes). A control message there is a protocol error. Used by
 * the auditor's pull, where the broker sends records as data items. */
int conn_recv_data(struct conn *c, uint8_t *buf, size_t cap, size_t *len,
    struct i18n_msg *err);

/* Like conn_recv_data, but a control message where a data item could be
 * is returned in *msg (msg->op set, *len 0; caller clears it) instead of
 * being a protocol error: for a download that may end early with an
 * error (held_open). msg->op is WIRE_OP_INVALID after a data item. */
int conn_recv_item(struct conn *c, uint8_t *buf, size_t cap, size_t *len,
    struct wire_msg *msg, struct i18n_msg *err);

/*
 * Non-blocking: returns 1 with msg filled if a complete message has
 * arrived, 0 if not (any partial bytes stay buffered), or a negative class
 * (e.g. CONN_ENET when the broker closed). Used during an upload to notice
 * a refusal without stopping the data stream.
 */
int conn_poll_msg(struct conn *c, struct wire_msg *msg,
    struct i18n_msg *err);

/* From now on, writes every item received (control messages and data
 * items, exactly the bytes that arrived) to fd; -1 stops. The fd stays
 * the caller's. A write error is kept, not reported at once: ask
 * conn_tap_error (0, or the errno of the first failed write). Used to
 * save an audit pull as one file (`sekisho audit pull --raw`). */
void conn_tap(struct conn *c, int fd);
int conn_tap_error(const struct conn *c);

/* Sends close_notify (best effort, not waited for) and frees everything. */
void conn_close(struct conn *c);

#endif
