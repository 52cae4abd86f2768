/*
 * wire — the sekisho/1 protocol codec, shared by broker and client.
 *
 * Each direction of a connection is a CBOR sequence (RFC 8742) of items:
 *   - control messages: a CBOR map with text keys, always "op" (text) and
 *     "id" (uint, the request id the answer echoes), plus the fields the
 *     op's schema lists (see docs/protocol.md for the CDDL);
 *   - file data: a definite-length CBOR byte string of at most
 *     WIRE_MAX_CHUNK bytes, belonging to the upload the broker last answered
 *     with "ready" on this connection.
 *
 * The decoder is strict and bounded, and never trusts a count before checking
 * it: indefinite lengths, tags, floats, non-text keys, duplicate keys,
 * unknown ops, unknown keys, missing required fields, wrong types, text over
 * its limit or not valid UTF-8, nesting deeper than WIRE_MAX_DEPTH and
 * control messages over WIRE_MAX_CONTROL bytes are all refused with a machine
 * code and a human message. Data chunks are never buffered by the decoder: it
 * reports the head and the caller streams the payload itself.
 *
 * Ownership: a struct wire_msg owns its strings and byte strings; release
 * with wire_msg_clear. Encoders return malloc'd buffers the caller frees.
 */
#ifndef SEKISHO_WIRE_H
#define SEKISHO_WIRE_H

#include <stddef.h>
#include <stdint.h>

#define WIRE_ALPN "sekisho/1"
#define WIRE_VERSION 1
#define WIRE_MAX_CHUNK (1u << 20)	/* payload bytes of one data item */
#define WIRE_MAX_CONTROL 16384		/* encoded bytes of one control message */
#define WIRE_MAX_DEPTH 2		/* top map + one level of arrays */
#define WIRE_MAX_FIELDS 32		/* pairs in one control map */
#define WIRE_MAX_ARRAY 16		/* items in an array value */
#define WIRE_MAX_TEXT 1024		/* default bound for a text value */
#define WIRE_MAX_NAME 1024		/* file name as the user gave it */
#define WIRE_MAX_PURPOSE 512
#define WIRE_MAX_TOKEN 64		/* interface, transfer and resume ids */
#define WIRE_MAX_OTP 16			/* a TOTP code as typed */
#define WIRE_MAX_CODE 32		/* error code and error field names */
#define WIRE_MAX_MESSAGE 512		/* human message of an error */
#define WIRE_MAX_COMMENT 512		/* officers' comments and reasons */
#define WIRE_MAX_EXTS 256		/* "pdf,xlsx": an exception's extensions */
#define WIRE_MAX_CHECKPOINT 2048	/* a signed audit checkpoint */
#define WIRE_MAX_PROOF 2048		/* 64 hashes of 32 bytes */
#define WIRE_MAX_LEAVES 8192		/* 256 leaf hashes of 32 bytes */
#define WIRE_MAX_ENROL_CODE 32		/* a TOTP enrolment code as typed */
#define WIRE_MAX_URI 512		/* an otpauth:// URI */
#define WIRE_MAX_SECRET 64		/* a TOTP secret in base32 */
#define WIRE_MAX_QR_SVG 12288		/* the SVG drawing of a QR code */
#define WIRE_MAX_WHEN 25		/* "2026-04-01T09:00:00+09:00" */
#define WIRE_MAX_SEARCH 500		/* records one audit_search answers */
#define WIRE_MAX_DETAILS 8192		/* a record's details as JSON text */
#define WIRE_MAX_PAGE 200		/* items one list request may ask for */
#define WIRE_MAX_DEST 2048		/* a delivery destination (URL) */
#define WIRE_MAX_REG_PART 12288		/* bytes of register text in one
					   register_propose message */
#define WIRE_MAX_REG_SUMMARY 8192	/* a register change summary */

enum wire_op {
	WIRE_OP_INVALID = 0,
	/* client -> broker */
	WIRE_OP_HELLO,		/* version, software */
	WIRE_OP_PUT,		/* interface, name, size, class, purpose, ?resume,
				   ?otp, ?sha256 */
	WIRE_OP_END,		/* sha256 */
	WIRE_OP_STATUS,		/* transfer */
	/* broker -> client */
	WIRE_OP_WELCOME,	/* version, user, dept, ?terminal, ?roles,
				   max_chunk, max_size */
	WIRE_OP_READY,		/* transfer, offset */
	WIRE_OP_STORED,		/* transfer, size, sha256 */
	WIRE_OP_STATE,		/* transfer, state, size, received, interface, class,
				   name, created, updated, ?sha256, ?error */
	WIRE_OP_ERROR,		/* code, message, ?field, ?rule, ?reason,
				   ?transfer, ?retry_after */
	/* approval officers and exceptions: client -> broker */
	WIRE_OP_APPROVALS_LS,	/* ?otp */
	WIRE_OP_APPROVE,	/* transfer, ?comment, ?otp */
	WIRE_OP_REJECT,		/* transfer, comment, ?otp */
	WIRE_OP_EXCEPTION_REQUEST,	/* interface, ?class, ?max_size, ?max_count,
				   ?hours, ?from, until, reason */
	WIRE_OP_EXCEPTION_GRANT,	/* exception | (interface, ?users, ?groups,
				   scope, until, reason); ?comment,
				   ?emergency, ?otp */
	WIRE_OP_EXCEPTION_REFUSE,	/* exception, comment, ?otp */
	WIRE_OP_EXCEPTION_REVOKE,	/* exception, reason, ?otp */
	WIRE_OP_EXCEPTION_CONFIRM,	/* exception, ?comment, ?otp */
	WIRE_OP_EXCEPTION_LS,	/* ?filter, ?after, ?otp */
	/* broker -> client */
	WIRE_OP_APPROVAL,	/* one held transfer (answers approvals_ls) */
	WIRE_OP_DECIDED,	/* transfer, state, approvals, required */
	WIRE_OP_EXCEPTION,	/* one exception */
	WIRE_OP_LISTED,		/* count, ?next: ends a list */
	/* the auditor's pull of the audit trail (docs/audit.md) */
	WIRE_OP_AUDIT_PULL,	/* client: ?from_seq, ?to_seq, ?since, ?until,
				   ?previous */
	WIRE_OP_AUDIT_HEAD,	/* checkpoint, tree_size, from_seq, count, left,
				   right, ?previous_size, ?previous */
	WIRE_OP_AUDIT_RECORDS,	/* from_seq, count, leaves; a data item with
				   the records follows */
	WIRE_OP_AUDIT_DONE,	/* count */
	/* TOTP enrolment by the user (docs/protocol.md) */
	WIRE_OP_TOTP_ENROL,	/* client: code */
	WIRE_OP_TOTP_SECRET,	/* user, uri, secret, qr_svg */
	WIRE_OP_TOTP_CONFIRM,	/* client: otp */
	WIRE_OP_TOTP_ENROLLED,	/* user */
	/* the auditor's search and CSV export (docs/audit.md) */
	WIRE_OP_AUDIT_SEARCH,	/* client: ?user, ?interface, ?transfer, ?type,
				   ?since, ?until, ?after, ?limit */
	WIRE_OP_AUDIT_RECORD,	/* one record, flattened; answers audit_search
				   (then listed) */
	WIRE_OP_AUDIT_CSV,	/* client: ?since, ?until, ?header */
	WIRE_OP_AUDIT_CSV_HEAD,	/* content_type, filename, zone; data items of
				   CSV follow, then audit_done */
	/* the browser pages' own views (docs/protocol.md, "Transfers") */
	WIRE_OP_INTERFACES_LS,	/* client: ?after, ?limit */
	WIRE_OP_INTERFACE,	/* one interface the caller may use */
	WIRE_OP_TRANSFERS_LS,	/* client: ?after, ?limit; answered by state
				   items, then listed */
	WIRE_OP_WITHDRAW,	/* client: transfer, ?reason */
	WIRE_OP_HELD_OPEN,	/* client: transfer, ?otp */
	WIRE_OP_FILE,		/* transfer, name, size, sha256, content_type,
				   filename; data items follow */
	WIRE_OP_FILE_DONE,	/* transfer, size: the file was sent whole */
	/* the interface register under two-person approval
	 * (docs/protocol.md "Register changes") */
	WIRE_OP_REGISTER_PROPOSE,	/* client: version, size, offset, part,
				   reason, ?emergency, ?otp; one part of
				   the text per message, in order */
	WIRE_OP_REGISTER_LS,	/* client: ?state */
	WIRE_OP_REGISTER_SHOW,	/* client: version; answered by
				   register_version, register_vote items,
				   listed */
	WIRE_OP_REGISTER_DIFF,	/* client: version */
	WIRE_OP_REGISTER_APPROVE,	/* client: version, ?comment, ?otp */
	WIRE_OP_REGISTER_REJECT,	/* client: version, comment, ?otp */
	WIRE_OP_REGISTER_STAGED,	/* version, received: more parts wanted */
	WIRE_OP_REGISTER_VERSION,	/* one version of the register */
	WIRE_OP_REGISTER_VOTE,	/* version, approver, vote, comment, at */
	WIRE_OP__COUNT
};

enum wire_type { WIRE_T_NONE = 0, WIRE_T_UINT, WIRE_T_TEXT, WIRE_T_BYTES,
	WIRE_T_BOOL, WIRE_T_TEXT_ARRAY };

struct wire_value {
	enum wire_type type;
	uint64_t u;		/* UINT; BOOL as 0/1 */
	char *text;		/* TEXT: NUL-terminated, no embedded NUL */
	size_t len;		/* TEXT/BYTES length; TEXT_ARRAY item count */
	uint8_t *bytes;		/* BYTES */
	char **array;		/* TEXT_ARRAY */
};

struct wire_field {
	const char *key;	/* points at the schema's static key string */
	struct wire_value v;
};

struct wire_msg {
	enum wire_op op;
	uint64_t id;
	size_t nfields;		/* not counting op and id */
	struct wire_field fields[WIRE_MAX_FIELDS];
};

/*
 * Error codes (struct wire_error.code), the same for decoding and encoding:
 *   malformed        not well-formed CBOR, or outside the sekisho/1 profile
 *                    (indefinite length, tag, float, negative integer, null,
 *                    undefined or another simple value, a non-text map key,
 *                    a top-level item that is neither a map nor a byte string)
 *   too_large        message over WIRE_MAX_CONTROL, map over WIRE_MAX_FIELDS
 *                    pairs, array over WIRE_MAX_ARRAY items, a text over its
 *                    field's bound
 *   too_deep         nesting deeper than WIRE_MAX_DEPTH
 *   unknown_op       "op" names no known operation
 *   unknown_field    a key the op's schema does not list
 *   missing_field    a required key (or "op", "id") is absent
 *   bad_type         a value of the wrong CBOR type for its key
 *   bad_value        right type, value out of range (class outside 1..3,
 *                    sha256 not 32 bytes)
 *   duplicate_field  a key appears twice in one map
 *   chunk_too_large  a data item declares more than WIRE_MAX_CHUNK bytes
 *   bad_utf8         text that is not valid UTF-8 or contains a NUL
 *   no_memory        local allocation failure (not the peer's fault)
 */
struct wire_error {
	char code[32];		/* machine code, e.g. "too_large" */
	char field[32];		/* offending key when known, else "" */
	char message[256];	/* one line for humans */
};

enum wire_item {
	WIRE_NEED_MORE = 0,	/* not enough bytes yet; nothing consumed */
	WIRE_CONTROL,		/* *msg holds a decoded control message */
	WIRE_DATA,		/* a data head; *data_len payload bytes follow */
	WIRE_ERROR		/* protocol violation; the connection must end */
};

/* Name of an op ("put"), or NULL for an invalid value. */
const char *wire_op_name(enum wire_op op);

/* 1 when op is one a client sends (a request, or hello), 0 for the
 * broker's answers and invalid values. */
int wire_op_from_client(enum wire_op op);

/*
 * Decodes the next item of a sequence from buf[0..len).
 * WIRE_CONTROL: *msg is filled (caller clears it), *consumed = item bytes.
 * WIRE_DATA: *data_len = payload length (0..WIRE_MAX_CHUNK), *consumed = head
 *   bytes only; the payload follows in the stream.
 * WIRE_NEED_MORE: *consumed = 0. If len >= WIRE_MAX_CONTROL and the item is
 *   still incomplete, the result is WIRE_ERROR "too_large" instead.
 * WIRE_ERROR: *err says why; *msg is left empty.
 * *msg is overwritten on entry (not freed: clear a previous message first);
 * err may be NULL. The decoder keeps no state between calls and never reads
 * buf beyond len, nor beyond WIRE_MAX_CONTROL bytes for a control message.
 */
enum wire_item wire_decode(const uint8_t *buf, size_t len, struct wire_msg *msg,
    uint64_t *data_len, size_t *consumed, struct wire_error *err);

/* Builders. wire_msg_init zeroes msg and sets op and id. The setters copy
 * their arguments; they return -1 (msg unchanged) on allocation failure, a
 * key the op's schema does not list, a wrong type for that key, a duplicate
 * key, or a value over its bound. */
void wire_msg_init(struct wire_msg *msg, enum wire_op op, uint64_t id);
int wire_msg_set_uint(struct wire_msg *msg, const char *key, uint64_t v);
int wire_msg_set_text(struct wire_msg *msg, const char *key, const char *v);
int wire_msg_set_bytes(struct wire_msg *msg, const char *key,
    const uint8_t *v, size_t len);
int wire_msg_set_bool(struct wire_msg *msg, const char *key, int v);
int wire_msg_set_text_array(struct wire_msg *msg, const char *key,
    const char *const *v, size_t n);
void wire_msg_clear(struct wire_msg *msg);

/* Lookups: NULL / -1 when the field is absent or of another type. */
const struct wire_value *wire_msg_get(const struct wire_msg *msg,
    const char *key);
const char *wire_msg_text(const struct wire_msg *msg, const char *key);
int wire_msg_uint(const struct wire_msg *msg, const char *key, uint64_t *out);
const uint8_t *wire_msg_bytes(const struct wire_msg *msg, const char *key,
    size_t *len);

/*
 * Encodes msg as one CBOR map. Checks it against the op's schema (required
 * fields present) so neither side can send what the other must refuse.
 * Returns 0 with a malloc'd *out of *outlen bytes, or -1 with *err filled.
 */
int wire_encode(const struct wire_msg *msg, uint8_t **out, size_t *outlen,
    struct wire_error *err);

/*
 * The schema's own key string for name in op's messages, with its type in
 * *type (may be NULL); NULL when op has no such key. For a transport that
 * builds messages from names it received (the setters keep the key
 * pointer, which must be the schema's).
 */
const char *wire_schema_key(enum wire_op op, const char *name,
    enum wire_type *type);

/* Encodes the head of a data item of len payload bytes (len <= WIRE_MAX_CHUNK)
 * into out (at most 9 bytes); returns the head length, or 0 if len is over
 * the bound. */
size_t wire_encode_data_head(uint64_t len, uint8_t out[9]);

/* Convenience: encodes an error message. code is required (at most
 * WIRE_MAX_CODE bytes); a message over WIRE_MAX_MESSAGE bytes is cut at a
 * character boundary; field may be NULL or "" and is left out if it is not
 * acceptable. Returns 0 with a malloc'd *out, or -1. */
int wire_encode_error(uint64_t id, const char *code, const char *message,
    const char *field, uint8_t **out, size_t *outlen);

#endif
