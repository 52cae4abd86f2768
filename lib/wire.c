/*
 * wire — the sekisho/1 protocol codec (see wire.h and docs/protocol.md).
 *
 * A control message is decoded in two passes over one item.
 *
 * The first pass walks the item with libcbor's streaming decoder, which hands
 * over one head (or one complete definite string) per call and allocates
 * nothing. It enforces the protocol's CBOR profile and every bound that does
 * not depend on the op: a definite map of at most WIRE_MAX_FIELDS pairs at
 * the top, text keys without duplicates, nesting, array lengths, UTF-8, and
 * the WIRE_MAX_CONTROL size of the whole item. It only records where each
 * value lies in the caller's buffer. cbor_load is deliberately not used: it
 * pre-allocates whatever counts an item declares.
 *
 * The second pass runs only on a complete item that passed the first: it
 * finds "op" (which may sit anywhere in the map), checks every pair against
 * the op's schema, and only then copies the values into the struct wire_msg.
 * So nothing is ever allocated from a peer-declared count before that count
 * was checked.
 *
 * Data items are not given to libcbor: its streaming decoder reports a byte
 * string only once the whole payload is buffered, and the point of a data
 * item is that the payload is streamed by the caller. Their head is parsed
 * here; the same small head parser lets the first pass refuse a string whose
 * declared length cannot fit in a control message before its bytes arrive.
 *
 * Encoding writes with libcbor's encoding primitives (which emit
 * minimal-length heads) into a buffer of WIRE_MAX_CONTROL bytes, so a message
 * that would be too large fails in the writer instead of on the other side.
 *
 * The schemas are a static table indexed by op; a new op needs an enum value
 * in wire.h, a key list and one row in schemas[] below.
 */
#include "lib/wire.h"

#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cbor.h>

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

/* ---------------------------------------------------------------- schemas */

struct wire_key {
	const char *name;
	enum wire_type type;
	bool required;
	size_t min_len;		/* TEXT/BYTES: bytes; TEXT_ARRAY: per item */
	size_t max_len;
	uint64_t min;		/* UINT */
	uint64_t max;
};

#define REQ true
#define OPT false
#define K_UINT(n, r)		{ (n), WIRE_T_UINT, (r), 0, 0, 0, UINT64_MAX }
#define K_RANGE(n, r, lo, hi)	{ (n), WIRE_T_UINT, (r), 0, 0, (lo), (hi) }
#define K_TEXT(n, r, max)	{ (n), WIRE_T_TEXT, (r), 0, (max), 0, 0 }
#define K_BYTES(n, r, size)	{ (n), WIRE_T_BYTES, (r), (size), (size), 0, 0 }
#define K_TEXTS(n, r, max)	{ (n), WIRE_T_TEXT_ARRAY, (r), 0, (max), 0, 0 }
#define K_BOOL(n, r)		{ (n), WIRE_T_BOOL, (r), 0, 0, 0, 0 }

#define SHA256_LEN 32
#define CLASS_MIN 1		/* 機密性 1..3 */
#define CLASS_MAX 3

static const struct wire_key hello_keys[] = {
	K_UINT("version", REQ),
	K_TEXT("software", REQ, WIRE_MAX_TEXT),
};

static const struct wire_key put_keys[] = {
	K_TEXT("interface", REQ, WIRE_MAX_TOKEN),
	K_TEXT("name", REQ, WIRE_MAX_NAME),
	K_UINT("size", REQ),
	/* Absent: the interface's default_class, else class_required. */
	K_RANGE("class", OPT, CLASS_MIN, CLASS_MAX),
	K_TEXT("purpose", REQ, WIRE_MAX_PURPOSE),
	K_TEXT("resume", OPT, WIRE_MAX_TOKEN),
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
	/* The SHA-256 the client declares before sending a byte (the
	 * browser API declares it at creation); recorded with the accept,
	 * and end must then carry the same. */
	K_BYTES("sha256", OPT, SHA256_LEN),
};

static const struct wire_key end_keys[] = {
	K_BYTES("sha256", REQ, SHA256_LEN),
};

static const struct wire_key status_keys[] = {
	K_TEXT("transfer", REQ, WIRE_MAX_TOKEN),
};

static const struct wire_key welcome_keys[] = {
	K_UINT("version", REQ),
	K_TEXT("user", REQ, WIRE_MAX_TEXT),
	K_TEXT("dept", REQ, WIRE_MAX_TEXT),
	K_TEXT("terminal", OPT, WIRE_MAX_TEXT),
	K_TEXTS("roles", OPT, WIRE_MAX_TEXT),
	K_UINT("max_chunk", REQ),
	K_UINT("max_size", REQ),
};

static const struct wire_key ready_keys[] = {
	K_TEXT("transfer", REQ, WIRE_MAX_TOKEN),
	K_UINT("offset", REQ),
};

static const struct wire_key stored_keys[] = {
	K_TEXT("transfer", REQ, WIRE_MAX_TOKEN),
	K_UINT("size", REQ),
	K_BYTES("sha256", REQ, SHA256_LEN),
	K_TEXT("state", OPT, WIRE_MAX_CODE),	/* "held": waits for officers */
};

static const struct wire_key state_keys[] = {
	K_TEXT("transfer", REQ, WIRE_MAX_TOKEN),
	K_TEXT("state", REQ, WIRE_MAX_TEXT),
	K_UINT("size", REQ),
	K_UINT("received", REQ),
	K_TEXT("interface", REQ, WIRE_MAX_TOKEN),
	K_RANGE("class", REQ, CLASS_MIN, CLASS_MAX),
	K_TEXT("name", REQ, WIRE_MAX_NAME),
	K_TEXT("created", REQ, WIRE_MAX_TEXT),
	K_TEXT("updated", REQ, WIRE_MAX_TEXT),
	K_BYTES("sha256", OPT, SHA256_LEN),
	K_TEXT("error", OPT, WIRE_MAX_TEXT),
	/* delivery */
	K_UINT("attempts", OPT),
	K_TEXT("last_error", OPT, WIRE_MAX_TEXT),
	K_UINT("upstream_status", OPT),
	K_TEXT("etag", OPT, WIRE_MAX_TEXT),
	K_TEXT("version_id", OPT, WIRE_MAX_TEXT),
	K_UINT("upstream_bytes", OPT),
	K_UINT("upstream_duration_ms", OPT),
	/* approval officers */
	K_TEXT("approval", OPT, WIRE_MAX_CODE),
	K_UINT("approvals", OPT),
	K_UINT("required", OPT),
	K_TEXT("comment", OPT, WIRE_MAX_COMMENT),
	/* where it was delivered */
	K_TEXT("destination", OPT, WIRE_MAX_DEST),
};

static const struct wire_key error_keys[] = {
	K_TEXT("code", REQ, WIRE_MAX_CODE),
	K_TEXT("message", REQ, WIRE_MAX_MESSAGE),
	K_TEXT("field", OPT, WIRE_MAX_CODE),
	K_TEXT("rule", OPT, 80),
	K_TEXT("reason", OPT, 40),
	K_TEXT("transfer", OPT, WIRE_MAX_TOKEN),
	K_UINT("retry_after", OPT),
};

/* The auditor's pull. Times are RFC 3339 with seconds (Z or an offset)
 * or dates; hashes travel concatenated in one byte string. */
#define K_VBYTES(n, r, lo, hi)	{ (n), WIRE_T_BYTES, (r), (lo), (hi), 0, 0 }

static const struct wire_key audit_pull_keys[] = {
	K_UINT("from_seq", OPT),
	K_UINT("to_seq", OPT),
	K_TEXT("since", OPT, WIRE_MAX_WHEN),
	K_TEXT("until", OPT, WIRE_MAX_WHEN),
	K_UINT("previous", OPT),
};

static const struct wire_key audit_head_keys[] = {
	K_TEXT("checkpoint", REQ, WIRE_MAX_CHECKPOINT),
	K_UINT("tree_size", REQ),
	K_UINT("from_seq", REQ),
	K_UINT("count", REQ),
	K_VBYTES("left", REQ, 0, WIRE_MAX_PROOF),
	K_VBYTES("right", REQ, 0, WIRE_MAX_PROOF),
	K_UINT("previous_size", OPT),
	K_VBYTES("previous", OPT, 0, WIRE_MAX_PROOF),
};

static const struct wire_key audit_records_keys[] = {
	K_UINT("from_seq", REQ),
	K_RANGE("count", REQ, 1, WIRE_MAX_LEAVES / 32),
	K_VBYTES("leaves", REQ, 32, WIRE_MAX_LEAVES),
};

static const struct wire_key audit_done_keys[] = {
	K_UINT("count", REQ),
};

/* The auditor's search and CSV export. Times: RFC 3339 (with Z or an
 * offset) or a date, a whole day in the register's zone. */
static const struct wire_key audit_search_keys[] = {
	K_TEXT("user", OPT, WIRE_MAX_TOKEN),
	K_TEXT("interface", OPT, WIRE_MAX_TOKEN),
	K_TEXT("transfer", OPT, WIRE_MAX_TOKEN),
	K_TEXT("type", OPT, WIRE_MAX_CODE),
	K_TEXT("since", OPT, WIRE_MAX_WHEN),
	K_TEXT("until", OPT, WIRE_MAX_WHEN),
	K_UINT("after", OPT),
	K_RANGE("limit", OPT, 1, WIRE_MAX_SEARCH),
};

static const struct wire_key audit_record_keys[] = {
	K_UINT("seq", REQ),
	K_TEXT("time", REQ, WIRE_MAX_CODE),
	K_TEXT("time_local", OPT, WIRE_MAX_CODE),
	K_TEXT("zone", OPT, WIRE_MAX_TOKEN),
	K_TEXT("clock", OPT, WIRE_MAX_CODE),
	K_TEXT("type", REQ, WIRE_MAX_CODE),
	K_TEXT("user", OPT, WIRE_MAX_TEXT),
	K_TEXT("dept", OPT, WIRE_MAX_TEXT),
	K_TEXT("terminal", OPT, WIRE_MAX_TEXT),
	K_TEXT("cert_fp", OPT, WIRE_MAX_TOKEN * 2),
	K_TEXT("peer", OPT, WIRE_MAX_TEXT),
	K_TEXT("transfer", OPT, WIRE_MAX_TOKEN),
	K_TEXT("interface", OPT, WIRE_MAX_TOKEN),
	K_TEXT("service", OPT, WIRE_MAX_TEXT),
	K_UINT("class", OPT),
	K_TEXT("name", OPT, WIRE_MAX_NAME),
	K_UINT("size", OPT),
	K_BYTES("sha256", OPT, SHA256_LEN),
	K_TEXT("state", OPT, WIRE_MAX_TEXT),
	K_TEXT("result", OPT, WIRE_MAX_TEXT),
	K_TEXT("reason", OPT, WIRE_MAX_TEXT),
	K_TEXT("comment", OPT, WIRE_MAX_TEXT),
	K_TEXT("details", OPT, WIRE_MAX_DETAILS),
	K_BOOL("truncated", OPT),
};

static const struct wire_key audit_csv_keys[] = {
	K_TEXT("since", OPT, WIRE_MAX_WHEN),
	K_TEXT("until", OPT, WIRE_MAX_WHEN),
	K_TEXT("header", OPT, 2),
};

static const struct wire_key audit_csv_head_keys[] = {
	K_TEXT("content_type", REQ, WIRE_MAX_CODE),
	K_TEXT("filename", REQ, WIRE_MAX_TOKEN),
	K_TEXT("zone", REQ, WIRE_MAX_TOKEN),
};

/* Approval officers and exceptions. Every officer request may carry a
 * one-time code for the step-up officer actions need. */
static const struct wire_key approvals_ls_keys[] = {
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
};

static const struct wire_key approve_keys[] = {
	K_TEXT("transfer", REQ, WIRE_MAX_TOKEN),
	K_TEXT("comment", OPT, WIRE_MAX_COMMENT),
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
};

static const struct wire_key reject_keys[] = {
	K_TEXT("transfer", REQ, WIRE_MAX_TOKEN),
	K_TEXT("comment", REQ, WIRE_MAX_COMMENT),
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
};

static const struct wire_key exception_request_keys[] = {
	K_TEXT("interface", REQ, WIRE_MAX_TOKEN),
	K_RANGE("class", OPT, CLASS_MIN, CLASS_MAX),
	K_UINT("max_size", OPT),
	K_UINT("max_count", OPT),
	K_TEXT("hours", OPT, WIRE_MAX_CODE),
	K_TEXT("extensions", OPT, WIRE_MAX_EXTS),
	K_UINT("from", OPT),
	K_UINT("until", REQ),
	K_TEXT("reason", REQ, WIRE_MAX_COMMENT),
};

static const struct wire_key exception_grant_keys[] = {
	K_TEXT("exception", OPT, WIRE_MAX_TOKEN),
	K_TEXT("interface", OPT, WIRE_MAX_TOKEN),
	K_TEXTS("users", OPT, WIRE_MAX_TOKEN),
	K_TEXTS("groups", OPT, WIRE_MAX_TOKEN),
	K_RANGE("class", OPT, CLASS_MIN, CLASS_MAX),
	K_UINT("max_size", OPT),
	K_UINT("max_count", OPT),
	K_TEXT("hours", OPT, WIRE_MAX_CODE),
	K_TEXT("extensions", OPT, WIRE_MAX_EXTS),
	K_UINT("from", OPT),
	K_UINT("until", OPT),
	K_TEXT("reason", OPT, WIRE_MAX_COMMENT),
	K_TEXT("comment", OPT, WIRE_MAX_COMMENT),
	K_BOOL("emergency", OPT),
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
};

static const struct wire_key exception_refuse_keys[] = {
	K_TEXT("exception", REQ, WIRE_MAX_TOKEN),
	K_TEXT("comment", REQ, WIRE_MAX_COMMENT),
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
};

static const struct wire_key exception_revoke_keys[] = {
	K_TEXT("exception", REQ, WIRE_MAX_TOKEN),
	K_TEXT("reason", REQ, WIRE_MAX_COMMENT),
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
};

static const struct wire_key exception_confirm_keys[] = {
	K_TEXT("exception", REQ, WIRE_MAX_TOKEN),
	K_TEXT("comment", OPT, WIRE_MAX_COMMENT),
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
};

static const struct wire_key exception_ls_keys[] = {
	K_TEXT("filter", OPT, WIRE_MAX_CODE),
	K_TEXT("after", OPT, WIRE_MAX_TOKEN),
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
};

static const struct wire_key approval_keys[] = {
	K_TEXT("transfer", REQ, WIRE_MAX_TOKEN),
	K_TEXT("user", REQ, WIRE_MAX_TOKEN),
	K_TEXT("dept", REQ, WIRE_MAX_TOKEN),
	K_TEXT("terminal", OPT, WIRE_MAX_TOKEN),
	K_TEXT("interface", REQ, WIRE_MAX_TOKEN),
	K_TEXT("name", REQ, WIRE_MAX_NAME),
	K_UINT("size", REQ),
	K_BYTES("sha256", REQ, SHA256_LEN),
	K_RANGE("class", REQ, CLASS_MIN, CLASS_MAX),
	K_TEXT("purpose", REQ, WIRE_MAX_PURPOSE),
	K_TEXT("created", REQ, WIRE_MAX_CODE),
	K_TEXT("expires", REQ, WIRE_MAX_CODE),
	K_TEXT("approvers", REQ, WIRE_MAX_TOKEN),
	K_UINT("approvals", REQ),
	K_UINT("required", REQ),
	K_BOOL("voted", REQ),
	K_TEXT("exception", OPT, WIRE_MAX_TOKEN),
};

static const struct wire_key decided_keys[] = {
	K_TEXT("transfer", REQ, WIRE_MAX_TOKEN),
	K_TEXT("state", REQ, WIRE_MAX_CODE),
	K_UINT("approvals", REQ),
	K_UINT("required", REQ),
};

static const struct wire_key exception_keys[] = {
	K_TEXT("exception", REQ, WIRE_MAX_TOKEN),
	K_TEXT("status", REQ, WIRE_MAX_CODE),
	K_BOOL("emergency", REQ),
	K_TEXT("interface", REQ, WIRE_MAX_TOKEN),
	K_TEXTS("users", OPT, WIRE_MAX_TOKEN),
	K_TEXTS("groups", OPT, WIRE_MAX_TOKEN),
	K_RANGE("class", OPT, CLASS_MIN, CLASS_MAX),
	K_UINT("max_size", OPT),
	K_UINT("max_count", OPT),
	K_UINT("uses", REQ),
	K_TEXT("hours", OPT, WIRE_MAX_CODE),
	K_TEXT("extensions", OPT, WIRE_MAX_EXTS),
	K_TEXT("valid_from", REQ, WIRE_MAX_CODE),
	K_TEXT("valid_until", REQ, WIRE_MAX_CODE),
	K_TEXT("reason", REQ, WIRE_MAX_COMMENT),
	K_TEXT("requester", REQ, WIRE_MAX_TOKEN),
	K_TEXT("granted_by", OPT, WIRE_MAX_TOKEN),
	K_TEXT("granted", OPT, WIRE_MAX_CODE),
	K_TEXT("grant_comment", OPT, WIRE_MAX_COMMENT),
	K_TEXT("confirm_by", OPT, WIRE_MAX_CODE),
	K_TEXT("confirmed_by", OPT, WIRE_MAX_TOKEN),
	K_TEXT("confirm_comment", OPT, WIRE_MAX_COMMENT),
	K_TEXT("ended", OPT, WIRE_MAX_CODE),
	K_TEXT("ended_by", OPT, WIRE_MAX_TOKEN),
	K_TEXT("end_reason", OPT, WIRE_MAX_COMMENT),
};

static const struct wire_key listed_keys[] = {
	K_UINT("count", REQ),
	K_TEXT("next", OPT, WIRE_MAX_TOKEN),
};

/* TOTP enrolment: the user redeems the administrator's one-time code,
 * gets a pending secret, and activates it with its first code. */
static const struct wire_key totp_enrol_keys[] = {
	K_TEXT("code", REQ, WIRE_MAX_ENROL_CODE),
};

static const struct wire_key totp_secret_keys[] = {
	K_TEXT("user", REQ, WIRE_MAX_TOKEN),
	K_TEXT("uri", REQ, WIRE_MAX_URI),
	K_TEXT("secret", REQ, WIRE_MAX_SECRET),
	K_TEXT("qr_svg", REQ, WIRE_MAX_QR_SVG),
};

static const struct wire_key totp_confirm_keys[] = {
	K_TEXT("otp", REQ, WIRE_MAX_OTP),
};

static const struct wire_key totp_enrolled_keys[] = {
	K_TEXT("user", REQ, WIRE_MAX_TOKEN),
};

/* The browser pages' views: interfaces and transfers of the caller, the
 * owner's withdrawal, an officer's read of a held file. */
static const struct wire_key interfaces_ls_keys[] = {
	K_TEXT("after", OPT, WIRE_MAX_TOKEN),
	K_RANGE("limit", OPT, 1, WIRE_MAX_PAGE),
};

static const struct wire_key interface_keys[] = {
	K_TEXT("interface", REQ, WIRE_MAX_TOKEN),
	K_TEXT("title", OPT, WIRE_MAX_PURPOSE),
	K_TEXTS("classes", REQ, 1),
	K_RANGE("default_class", OPT, CLASS_MIN, CLASS_MAX),
	K_TEXT("hours", OPT, WIRE_MAX_TEXT),
	K_UINT("max_size", OPT),
	K_TEXTS("extensions", OPT, 31),
	K_BOOL("extensions_more", OPT),
	K_BOOL("approval", REQ),
	K_UINT("approvals_required", OPT),
	K_BOOL("stepup", REQ),
	K_TEXT("destination", OPT, WIRE_MAX_TOKEN),
};

static const struct wire_key transfers_ls_keys[] = {
	K_TEXT("after", OPT, WIRE_MAX_TOKEN),
	K_RANGE("limit", OPT, 1, WIRE_MAX_PAGE),
};

static const struct wire_key withdraw_keys[] = {
	K_TEXT("transfer", REQ, WIRE_MAX_TOKEN),
	K_TEXT("reason", OPT, WIRE_MAX_COMMENT),
};

static const struct wire_key held_open_keys[] = {
	K_TEXT("transfer", REQ, WIRE_MAX_TOKEN),
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
};

static const struct wire_key file_keys[] = {
	K_TEXT("transfer", REQ, WIRE_MAX_TOKEN),
	K_TEXT("name", REQ, WIRE_MAX_NAME),
	K_UINT("size", REQ),
	K_BYTES("sha256", REQ, SHA256_LEN),
	K_TEXT("content_type", REQ, 255),	/* RFC 6838: 127 + "/" + 127 */
	K_TEXT("filename", REQ, WIRE_MAX_NAME),
};

static const struct wire_key file_done_keys[] = {
	K_TEXT("transfer", REQ, WIRE_MAX_TOKEN),
	K_UINT("size", REQ),
};

/* The register under approval. A version is named by its SHA-256 (or at
 * least 8 leading hex digits of it); the text travels in parts of at most
 * WIRE_MAX_REG_PART bytes, so each message stays under WIRE_MAX_CONTROL. */
static const struct wire_key register_propose_keys[] = {
	K_TEXT("version", REQ, 64),
	K_UINT("size", REQ),
	K_UINT("offset", REQ),
	K_VBYTES("part", REQ, 1, WIRE_MAX_REG_PART),
	K_TEXT("reason", REQ, WIRE_MAX_COMMENT),
	K_BOOL("emergency", OPT),
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
};

static const struct wire_key register_ls_keys[] = {
	K_TEXT("state", OPT, WIRE_MAX_CODE),
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
};

static const struct wire_key register_show_keys[] = {
	K_TEXT("version", REQ, 64),
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
};

static const struct wire_key register_approve_keys[] = {
	K_TEXT("version", REQ, 64),
	K_TEXT("comment", OPT, WIRE_MAX_COMMENT),
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
};

static const struct wire_key register_reject_keys[] = {
	K_TEXT("version", REQ, 64),
	K_TEXT("comment", REQ, WIRE_MAX_COMMENT),
	K_TEXT("otp", OPT, WIRE_MAX_OTP),
};

static const struct wire_key register_staged_keys[] = {
	K_TEXT("version", REQ, 64),
	K_UINT("received", REQ),
};

static const struct wire_key register_version_keys[] = {
	K_TEXT("version", REQ, 64),
	K_TEXT("state", REQ, WIRE_MAX_CODE),
	K_TEXT("proposer", OPT, WIRE_MAX_TOKEN),
	K_TEXT("reason", OPT, WIRE_MAX_COMMENT),
	K_BOOL("emergency", OPT),
	K_TEXT("base", OPT, 64),
	K_UINT("created", OPT),
	K_UINT("expires", OPT),
	K_UINT("activated", OPT),
	K_TEXT("previous", OPT, 64),
	K_UINT("confirm_by", OPT),
	K_UINT("decided", OPT),
	K_UINT("approvals", OPT),
	K_UINT("required", OPT),
	K_BOOL("in_force", OPT),
	K_TEXT("summary", OPT, WIRE_MAX_REG_SUMMARY),
	K_TEXT("against", OPT, 64),
};

static const struct wire_key register_vote_keys[] = {
	K_TEXT("version", REQ, 64),
	K_TEXT("approver", REQ, WIRE_MAX_TOKEN),
	K_TEXT("vote", REQ, WIRE_MAX_CODE),
	K_TEXT("comment", OPT, WIRE_MAX_COMMENT),
	K_UINT("at", REQ),
};

struct wire_schema {
	const char *op;
	const struct wire_key *keys;
	size_t nkeys;
	int from_client;	/* a client sends it; else the broker */
};

#define SCHEMA(name, keys) { (name), (keys), NITEMS(keys), 0 }
#define CLIENT_SCHEMA(name, keys) { (name), (keys), NITEMS(keys), 1 }

static const struct wire_schema schemas[WIRE_OP__COUNT] = {
	[WIRE_OP_HELLO] = CLIENT_SCHEMA("hello", hello_keys),
	[WIRE_OP_PUT] = CLIENT_SCHEMA("put", put_keys),
	[WIRE_OP_END] = CLIENT_SCHEMA("end", end_keys),
	[WIRE_OP_STATUS] = CLIENT_SCHEMA("status", status_keys),
	[WIRE_OP_WELCOME] = SCHEMA("welcome", welcome_keys),
	[WIRE_OP_READY] = SCHEMA("ready", ready_keys),
	[WIRE_OP_STORED] = SCHEMA("stored", stored_keys),
	[WIRE_OP_STATE] = SCHEMA("state", state_keys),
	[WIRE_OP_ERROR] = SCHEMA("error", error_keys),
	[WIRE_OP_APPROVALS_LS] = CLIENT_SCHEMA("approvals_ls",
	    approvals_ls_keys),
	[WIRE_OP_APPROVE] = CLIENT_SCHEMA("approve", approve_keys),
	[WIRE_OP_REJECT] = CLIENT_SCHEMA("reject", reject_keys),
	[WIRE_OP_EXCEPTION_REQUEST] = CLIENT_SCHEMA("exception_request",
	    exception_request_keys),
	[WIRE_OP_EXCEPTION_GRANT] = CLIENT_SCHEMA("exception_grant",
	    exception_grant_keys),
	[WIRE_OP_EXCEPTION_REFUSE] = CLIENT_SCHEMA("exception_refuse",
	    exception_refuse_keys),
	[WIRE_OP_EXCEPTION_REVOKE] = CLIENT_SCHEMA("exception_revoke",
	    exception_revoke_keys),
	[WIRE_OP_EXCEPTION_CONFIRM] = CLIENT_SCHEMA("exception_confirm",
	    exception_confirm_keys),
	[WIRE_OP_EXCEPTION_LS] = CLIENT_SCHEMA("exception_ls",
	    exception_ls_keys),
	[WIRE_OP_APPROVAL] = SCHEMA("approval", approval_keys),
	[WIRE_OP_DECIDED] = SCHEMA("decided", decided_keys),
	[WIRE_OP_EXCEPTION] = SCHEMA("exception", exception_keys),
	[WIRE_OP_LISTED] = SCHEMA("listed", listed_keys),
	[WIRE_OP_AUDIT_PULL] = CLIENT_SCHEMA("audit_pull", audit_pull_keys),
	[WIRE_OP_AUDIT_HEAD] = SCHEMA("audit_head", audit_head_keys),
	[WIRE_OP_AUDIT_RECORDS] = SCHEMA("audit_records", audit_records_keys),
	[WIRE_OP_AUDIT_DONE] = SCHEMA("audit_done", audit_done_keys),
	[WIRE_OP_TOTP_ENROL] = CLIENT_SCHEMA("totp_enrol", totp_enrol_keys),
	[WIRE_OP_TOTP_SECRET] = SCHEMA("totp_secret", totp_secret_keys),
	[WIRE_OP_TOTP_CONFIRM] = CLIENT_SCHEMA("totp_confirm",
	    totp_confirm_keys),
	[WIRE_OP_TOTP_ENROLLED] = SCHEMA("totp_enrolled", totp_enrolled_keys),
	[WIRE_OP_AUDIT_SEARCH] = CLIENT_SCHEMA("audit_search",
	    audit_search_keys),
	[WIRE_OP_AUDIT_RECORD] = SCHEMA("audit_record", audit_record_keys),
	[WIRE_OP_AUDIT_CSV] = CLIENT_SCHEMA("audit_csv", audit_csv_keys),
	[WIRE_OP_AUDIT_CSV_HEAD] = SCHEMA("audit_csv_head",
	    audit_csv_head_keys),
	[WIRE_OP_INTERFACES_LS] = CLIENT_SCHEMA("interfaces_ls",
	    interfaces_ls_keys),
	[WIRE_OP_INTERFACE] = SCHEMA("interface", interface_keys),
	[WIRE_OP_TRANSFERS_LS] = CLIENT_SCHEMA("transfers_ls",
	    transfers_ls_keys),
	[WIRE_OP_WITHDRAW] = CLIENT_SCHEMA("withdraw", withdraw_keys),
	[WIRE_OP_HELD_OPEN] = CLIENT_SCHEMA("held_open", held_open_keys),
	[WIRE_OP_FILE] = SCHEMA("file", file_keys),
	[WIRE_OP_FILE_DONE] = SCHEMA("file_done", file_done_keys),
	[WIRE_OP_REGISTER_PROPOSE] = CLIENT_SCHEMA("register_propose",
	    register_propose_keys),
	[WIRE_OP_REGISTER_LS] = CLIENT_SCHEMA("register_ls", register_ls_keys),
	[WIRE_OP_REGISTER_SHOW] = CLIENT_SCHEMA("register_show",
	    register_show_keys),
	[WIRE_OP_REGISTER_DIFF] = CLIENT_SCHEMA("register_diff",
	    register_show_keys),
	[WIRE_OP_REGISTER_APPROVE] = CLIENT_SCHEMA("register_approve",
	    register_approve_keys),
	[WIRE_OP_REGISTER_REJECT] = CLIENT_SCHEMA("register_reject",
	    register_reject_keys),
	[WIRE_OP_REGISTER_STAGED] = SCHEMA("register_staged",
	    register_staged_keys),
	[WIRE_OP_REGISTER_VERSION] = SCHEMA("register_version",
	    register_version_keys),
	[WIRE_OP_REGISTER_VOTE] = SCHEMA("register_vote", register_vote_keys),
};
_Static_assert(WIRE_MAX_REG_PART + 2 * WIRE_MAX_COMMENT + 512 <
    WIRE_MAX_CONTROL, "a register_propose message must fit the bound");

/* "op" and "id" live in struct wire_msg itself, so a schema never lists them
 * and the map may carry WIRE_MAX_FIELDS pairs in all. */
_Static_assert(NITEMS(state_keys) + 2 <= WIRE_MAX_FIELDS,
    "a schema must fit in struct wire_msg");
_Static_assert(NITEMS(exception_keys) + 2 <= WIRE_MAX_FIELDS,
    "a schema must fit in struct wire_msg");
_Static_assert(NITEMS(approval_keys) + 2 <= WIRE_MAX_FIELDS,
    "a schema must fit in struct wire_msg");
_Static_assert(NITEMS(audit_record_keys) + 2 <= WIRE_MAX_FIELDS,
    "a schema must fit in struct wire_msg");
_Static_assert(NITEMS(exception_grant_keys) + 2 <= WIRE_MAX_FIELDS,
    "a schema must fit in struct wire_msg");

static const struct wire_schema *
schema_of(enum wire_op op)
{
	if ((int)op <= (int)WIRE_OP_INVALID || op >= WIRE_OP__COUNT ||
	    schemas[op].op == NULL)
		return NULL;
	return &schemas[op];
}

static const struct wire_key *
schema_key(const struct wire_schema *sc, const void *name, size_t len)
{
	size_t i;

	for (i = 0; i < sc->nkeys; i++)
		if (strlen(sc->keys[i].name) == len &&
		    memcmp(sc->keys[i].name, name, len) == 0)
			return &sc->keys[i];
	return NULL;
}

const char *
wire_schema_key(enum wire_op op, const char *name, enum wire_type *type)
{
	const struct wire_schema *sc = schema_of(op);
	const struct wire_key *k;

	if (sc == NULL || name == NULL ||
	    (k = schema_key(sc, name, strlen(name))) == NULL)
		return NULL;
	if (type != NULL)
		*type = k->type;
	return k->name;
}

static bool
key_is(const void *p, size_t len, const char *name)
{
	return strlen(name) == len && memcmp(p, name, len) == 0;
}

static const char *
type_name(enum wire_type t)
{
	switch (t) {
	case WIRE_T_UINT:
		return "an unsigned integer";
	case WIRE_T_TEXT:
		return "a text string";
	case WIRE_T_BYTES:
		return "a byte string";
	case WIRE_T_BOOL:
		return "a boolean";
	case WIRE_T_TEXT_ARRAY:
		return "an array of text strings";
	default:
		return "nothing";
	}
}

const char *
wire_op_name(enum wire_op op)
{
	const struct wire_schema *sc = schema_of(op);

	return sc == NULL ? NULL : sc->op;
}

int
wire_op_from_client(enum wire_op op)
{
	const struct wire_schema *sc = schema_of(op);

	return sc != NULL && sc->from_client;
}

/* ----------------------------------------------------------------- errors */

/* Peer-supplied keys end up in logs and in error replies: keep them short,
 * printable ASCII, and therefore valid UTF-8 after truncation. */
static void
sanitize(char *out, size_t outlen, const void *p, size_t len)
{
	const uint8_t *s = p;
	size_t i;

	if (outlen == 0)
		return;
	for (i = 0; i < len && i + 1 < outlen; i++)
		out[i] = (s[i] > 0x20 && s[i] < 0x7f) ? (char)s[i] : '?';
	out[i] = '\0';
}

static void set_err(struct wire_error *, const char *, const char *,
    const char *, ...) __attribute__((format(printf, 4, 5)));

static void
set_err(struct wire_error *err, const char *code, const char *field,
    const char *fmt, ...)
{
	va_list ap;

	if (err == NULL)
		return;
	snprintf(err->code, sizeof(err->code), "%s", code);
	snprintf(err->field, sizeof(err->field), "%s",
	    field == NULL ? "" : field);
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
}

/* ------------------------------------------------------------ validation */

enum utf8_result { UTF8_OK, UTF8_BAD, UTF8_NUL };

/* RFC 3629: no overlong forms, no surrogates, nothing above U+10FFFF. NUL is
 * valid UTF-8 but cannot survive as a C string, so it is refused too. */
static enum utf8_result
utf8_check(const void *p, size_t len)
{
	const uint8_t *s = p;
	size_t i = 0, n, j;
	uint32_t cp, min;

	while (i < len) {
		if (s[i] == 0)
			return UTF8_NUL;
		if (s[i] < 0x80) {
			i++;
			continue;
		}
		if ((s[i] & 0xe0) == 0xc0) {
			n = 1;
			cp = s[i] & 0x1f;
			min = 0x80;
		} else if ((s[i] & 0xf0) == 0xe0) {
			n = 2;
			cp = s[i] & 0x0f;
			min = 0x800;
		} else if ((s[i] & 0xf8) == 0xf0) {
			n = 3;
			cp = s[i] & 0x07;
			min = 0x10000;
		} else
			return UTF8_BAD;
		if (len - i - 1 < n)
			return UTF8_BAD;
		for (j = 1; j <= n; j++) {
			if ((s[i + j] & 0xc0) != 0x80)
				return UTF8_BAD;
			cp = (cp << 6) | (s[i + j] & 0x3f);
		}
		if (cp < min || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
			return UTF8_BAD;
		i += n + 1;
	}
	return UTF8_OK;
}

static int
check_utf8(const void *p, size_t len, const char *field,
    struct wire_error *err)
{
	switch (utf8_check(p, len)) {
	case UTF8_OK:
		return 0;
	case UTF8_NUL:
		set_err(err, "bad_utf8", field, "text%s%s contains a NUL",
		    *field ? " of " : "", field);
		return -1;
	default:
		set_err(err, "bad_utf8", field, "text%s%s is not valid UTF-8",
		    *field ? " of " : "", field);
		return -1;
	}
}

/* Length bound of a text, a byte string or one item of a text array. */
static int
check_len(const struct wire_key *k, size_t len, struct wire_error *err)
{
	if (k->min_len == k->max_len && len != k->max_len) {
		set_err(err, "bad_value", k->name, "%s must be %zu bytes, not %zu",
		    k->name, k->max_len, len);
		return -1;
	}
	if (len > k->max_len) {
		set_err(err, "too_large", k->name,
		    "%s is %zu bytes, at most %zu allowed", k->name, len,
		    k->max_len);
		return -1;
	}
	if (len < k->min_len) {
		set_err(err, "bad_value", k->name,
		    "%s is %zu bytes, at least %zu needed", k->name, len,
		    k->min_len);
		return -1;
	}
	return 0;
}

static int
check_uint(const struct wire_key *k, uint64_t v, struct wire_error *err)
{
	if (v < k->min || v > k->max) {
		set_err(err, "bad_value", k->name,
		    "%s must be in %llu..%llu", k->name,
		    (unsigned long long)k->min, (unsigned long long)k->max);
		return -1;
	}
	return 0;
}

static int
check_type(const struct wire_key *k, enum wire_type t, struct wire_error *err)
{
	if (k->type != t) {
		set_err(err, "bad_type", k->name, "%s must be %s", k->name,
		    type_name(k->type));
		return -1;
	}
	return 0;
}

/* Full check of one value held in a struct wire_field (encoder, setters). */
static int
check_value(const struct wire_key *k, const struct wire_value *v,
    struct wire_error *err)
{
	size_t i;

	if (check_type(k, v->type, err) == -1)
		return -1;
	switch (v->type) {
	case WIRE_T_UINT:
		return check_uint(k, v->u, err);
	case WIRE_T_BOOL:
		if (v->u > 1) {
			set_err(err, "bad_value", k->name, "%s must be 0 or 1",
			    k->name);
			return -1;
		}
		return 0;
	case WIRE_T_TEXT:
		if (v->text == NULL || strlen(v->text) != v->len) {
			set_err(err, "bad_value", k->name,
			    "%s has an inconsistent length", k->name);
			return -1;
		}
		if (check_len(k, v->len, err) == -1)
			return -1;
		return check_utf8(v->text, v->len, k->name, err);
	case WIRE_T_BYTES:
		if (v->bytes == NULL && v->len > 0) {
			set_err(err, "bad_value", k->name, "%s has no bytes",
			    k->name);
			return -1;
		}
		return check_len(k, v->len, err);
	case WIRE_T_TEXT_ARRAY:
		if (v->len > WIRE_MAX_ARRAY) {
			set_err(err, "too_large", k->name,
			    "%s has %zu items, at most %d allowed", k->name,
			    v->len, WIRE_MAX_ARRAY);
			return -1;
		}
		if (v->array == NULL && v->len > 0) {
			set_err(err, "bad_value", k->name, "%s has no items",
			    k->name);
			return -1;
		}
		for (i = 0; i < v->len; i++) {
			if (v->array[i] == NULL) {
				set_err(err, "bad_value", k->name,
				    "%s has a missing item", k->name);
				return -1;
			}
			if (check_len(k, strlen(v->array[i]), err) == -1 ||
			    check_utf8(v->array[i], strlen(v->array[i]),
			    k->name, err) == -1)
				return -1;
		}
		return 0;
	default:
		set_err(err, "bad_type", k->name, "%s has no type", k->name);
		return -1;
	}
}

/* --------------------------------------------------------- memory helpers */

static char *
copy_text(const void *p, size_t len)
{
	char *s;

	if ((s = malloc(len + 1)) == NULL)
		return NULL;
	memcpy(s, p, len);
	s[len] = '\0';
	return s;
}

static uint8_t *
copy_bytes(const void *p, size_t len)
{
	uint8_t *b;

	/* malloc(0) may return NULL: keep "present but empty" distinct. */
	if ((b = malloc(len == 0 ? 1 : len)) == NULL)
		return NULL;
	if (len > 0)
		memcpy(b, p, len);
	return b;
}

static void
value_free(struct wire_value *v)
{
	size_t i;

	free(v->text);
	free(v->bytes);
	if (v->array != NULL) {
		for (i = 0; i < v->len; i++)
			free(v->array[i]);
		free(v->array);
	}
	memset(v, 0, sizeof(*v));
}

void
wire_msg_clear(struct wire_msg *msg)
{
	size_t i;

	if (msg == NULL)
		return;
	for (i = 0; i < msg->nfields && i < WIRE_MAX_FIELDS; i++)
		value_free(&msg->fields[i].v);
	memset(msg, 0, sizeof(*msg));
}

/* ------------------------------------------------------------ head parser */

enum head_result { HEAD_OK, HEAD_MORE, HEAD_RESERVED, HEAD_INDEFINITE };

/* RFC 8949 §3: the initial byte and up to eight bytes of argument. */
static enum head_result
head_parse(const uint8_t *p, size_t len, unsigned *major, uint64_t *arg,
    size_t *hlen)
{
	unsigned ai;
	size_t n, i;

	if (len == 0)
		return HEAD_MORE;
	*major = p[0] >> 5;
	ai = p[0] & 0x1f;
	if (ai < 24) {
		*arg = ai;
		*hlen = 1;
		return HEAD_OK;
	}
	if (ai == 31)
		return HEAD_INDEFINITE;
	if (ai > 27)
		return HEAD_RESERVED;
	n = (size_t)1 << (ai - 24);
	if (len - 1 < n)
		return HEAD_MORE;
	*arg = 0;
	for (i = 0; i < n; i++)
		*arg = (*arg << 8) | p[1 + i];
	*hlen = 1 + n;
	return HEAD_OK;
}

/* ------------------------------------------------------- pass 1: the scan */

enum raw_type { RAW_NONE = 0, RAW_UINT, RAW_TEXT, RAW_BYTES, RAW_BOOL,
	RAW_ARRAY, RAW_MAP };

struct raw_span {
	const uint8_t *p;
	size_t len;
};

struct raw_value {
	enum raw_type type;
	uint64_t u;		/* UINT, BOOL */
	struct raw_span s;	/* TEXT, BYTES */
	size_t count;		/* ARRAY, MAP: declared items / pairs */
	size_t first;		/* ARRAY: first item in scan.items */
	bool all_text;		/* ARRAY: every item was text */
};

struct raw_pair {
	struct raw_span key;
	struct raw_value v;
};

struct frame {
	bool is_map;
	size_t total;		/* items (a map counts keys and values) */
	size_t index;		/* next item */
};

struct scan {
	struct frame stack[WIRE_MAX_DEPTH];
	size_t depth;
	bool done;
	bool failed;
	struct raw_pair pairs[WIRE_MAX_FIELDS];
	size_t npairs;
	/* Items of arrays that are values of the top map; bounded because
	 * both the pairs and each array's length are checked first. */
	struct raw_span items[WIRE_MAX_FIELDS * WIRE_MAX_ARRAY];
	size_t nitems;
	struct wire_error *err;
};

static bool
scan_at_key(const struct scan *s)
{
	const struct frame *f = &s->stack[s->depth - 1];

	return f->is_map && f->index % 2 == 0;
}

/* The key the current value belongs to, for error reports. */
static void
scan_field(const struct scan *s, char out[32])
{
	out[0] = '\0';
	if (s->depth >= 1 && s->npairs > 0 && !(s->depth == 1 && scan_at_key(s)))
		sanitize(out, 32, s->pairs[s->npairs - 1].key.p,
		    s->pairs[s->npairs - 1].key.len);
}

static void scan_fail(struct scan *, const char *, const char *,
    const char *, ...) __attribute__((format(printf, 4, 5)));

static void
scan_fail(struct scan *s, const char *code, const char *field,
    const char *fmt, ...)
{
	va_list ap;
	char msg[256];

	s->failed = true;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	set_err(s->err, code, field, "%s", msg);
}

static void
scan_fail_profile(struct scan *s, const char *what)
{
	char field[32];

	if (s->failed || s->done)
		return;
	scan_field(s, field);
	scan_fail(s, "malformed", field, "%s not allowed in sekisho/1", what);
}

/* One complete item was read in the innermost open container: step over it
 * and close every container it completed. */
static void
scan_advance(struct scan *s)
{
	struct frame *f;

	while (s->depth > 0) {
		f = &s->stack[s->depth - 1];
		if (++f->index < f->total)
			return;
		s->depth--;
	}
	s->done = true;
}

static void
scan_scalar(struct scan *s, enum raw_type t, uint64_t u, const uint8_t *p,
    size_t len)
{
	struct raw_pair *pair;
	char field[32];
	size_t i;

	if (s->failed || s->done)
		return;
	if (s->depth == 0) {
		scan_fail(s, "malformed", "", "a control message must be a map");
		return;
	}
	if (scan_at_key(s)) {
		if (t != RAW_TEXT) {
			scan_fail(s, "malformed", "", "map keys must be text");
			return;
		}
		sanitize(field, sizeof(field), p, len);
		if (check_utf8(p, len, field, s->err) == -1) {
			s->failed = true;
			return;
		}
		if (s->depth == 1) {
			for (i = 0; i < s->npairs; i++) {
				if (s->pairs[i].key.len == len &&
				    memcmp(s->pairs[i].key.p, p, len) == 0) {
					scan_fail(s, "duplicate_field", field,
					    "key %s appears twice", field);
					return;
				}
			}
			/* map_start bounded the pairs to the array size */
			pair = &s->pairs[s->npairs++];
			memset(pair, 0, sizeof(*pair));
			pair->key.p = p;
			pair->key.len = len;
		}
		scan_advance(s);
		return;
	}
	scan_field(s, field);
	if (t == RAW_TEXT && check_utf8(p, len, field, s->err) == -1) {
		s->failed = true;
		return;
	}
	pair = &s->pairs[s->npairs - 1];
	if (s->depth == 1) {
		pair->v.type = t;
		pair->v.u = u;
		pair->v.s.p = p;
		pair->v.s.len = len;
	} else if (s->depth == 2 && pair->v.type == RAW_ARRAY) {
		if (t != RAW_TEXT)
			pair->v.all_text = false;
		else if (s->nitems < NITEMS(s->items)) {
			s->items[s->nitems].p = p;
			s->items[s->nitems].len = len;
			s->nitems++;
		} else {
			scan_fail(s, "too_large", field, "too many array items");
			return;
		}
	}
	/* Members of nested maps are checked for the profile only: no
	 * schema has a map value, so the second pass refuses the field. */
	scan_advance(s);
}

static void
scan_container(struct scan *s, bool is_map, size_t n)
{
	struct raw_pair *pair;
	struct frame *f;
	char field[32];

	if (s->failed || s->done)
		return;
	if (s->depth == 0) {
		if (!is_map) {
			scan_fail(s, "malformed", "",
			    "a control message must be a map");
			return;
		}
		if (n > WIRE_MAX_FIELDS) {
			scan_fail(s, "too_large", "",
			    "map of %zu pairs, at most %d allowed", n,
			    WIRE_MAX_FIELDS);
			return;
		}
		if (n == 0) {
			s->done = true;
			return;
		}
		f = &s->stack[s->depth++];
		f->is_map = true;
		f->total = 2 * n;
		f->index = 0;
		return;
	}
	if (scan_at_key(s)) {
		scan_fail(s, "malformed", "", "map keys must be text");
		return;
	}
	scan_field(s, field);
	if (s->depth >= WIRE_MAX_DEPTH) {
		scan_fail(s, "too_deep", field, "nesting deeper than %d",
		    WIRE_MAX_DEPTH);
		return;
	}
	if (is_map && n > WIRE_MAX_FIELDS) {
		scan_fail(s, "too_large", field,
		    "map of %zu pairs, at most %d allowed", n, WIRE_MAX_FIELDS);
		return;
	}
	if (!is_map && n > WIRE_MAX_ARRAY) {
		scan_fail(s, "too_large", field,
		    "array of %zu items, at most %d allowed", n,
		    WIRE_MAX_ARRAY);
		return;
	}
	pair = &s->pairs[s->npairs - 1];
	if (s->depth == 1) {
		pair->v.type = is_map ? RAW_MAP : RAW_ARRAY;
		pair->v.count = n;
		pair->v.first = s->nitems;
		pair->v.all_text = true;
	} else
		pair->v.all_text = false;	/* only with WIRE_MAX_DEPTH > 2 */
	if (n == 0) {
		scan_advance(s);
		return;
	}
	f = &s->stack[s->depth++];
	f->is_map = is_map;
	f->total = is_map ? 2 * n : n;
	f->index = 0;
}

static void
cb_uint8(void *ctx, uint8_t v)
{
	scan_scalar(ctx, RAW_UINT, v, NULL, 0);
}

static void
cb_uint16(void *ctx, uint16_t v)
{
	scan_scalar(ctx, RAW_UINT, v, NULL, 0);
}

static void
cb_uint32(void *ctx, uint32_t v)
{
	scan_scalar(ctx, RAW_UINT, v, NULL, 0);
}

static void
cb_uint64(void *ctx, uint64_t v)
{
	scan_scalar(ctx, RAW_UINT, v, NULL, 0);
}

static void
cb_negint8(void *ctx, uint8_t v)
{
	(void)v;
	scan_fail_profile(ctx, "a negative integer is");
}

static void
cb_negint16(void *ctx, uint16_t v)
{
	(void)v;
	scan_fail_profile(ctx, "a negative integer is");
}

static void
cb_negint32(void *ctx, uint32_t v)
{
	(void)v;
	scan_fail_profile(ctx, "a negative integer is");
}

static void
cb_negint64(void *ctx, uint64_t v)
{
	(void)v;
	scan_fail_profile(ctx, "a negative integer is");
}

static void
cb_bytes(void *ctx, cbor_data p, size_t len)
{
	scan_scalar(ctx, RAW_BYTES, 0, p, len);
}

static void
cb_text(void *ctx, cbor_data p, size_t len)
{
	scan_scalar(ctx, RAW_TEXT, 0, p, len);
}

static void
cb_indefinite(void *ctx)
{
	scan_fail_profile(ctx, "an indefinite length is");
}

static void
cb_array(void *ctx, size_t n)
{
	scan_container(ctx, false, n);
}

static void
cb_map(void *ctx, size_t n)
{
	scan_container(ctx, true, n);
}

static void
cb_tag(void *ctx, uint64_t tag)
{
	(void)tag;
	scan_fail_profile(ctx, "a tag is");
}

static void
cb_float(void *ctx, float v)
{
	(void)v;
	scan_fail_profile(ctx, "a float is");
}

static void
cb_double(void *ctx, double v)
{
	(void)v;
	scan_fail_profile(ctx, "a float is");
}

static void
cb_null(void *ctx)
{
	scan_fail_profile(ctx, "null or undefined is");
}

static void
cb_bool(void *ctx, bool v)
{
	scan_scalar(ctx, RAW_BOOL, v, NULL, 0);
}

static const struct cbor_callbacks scan_callbacks = {
	.uint8 = cb_uint8,
	.uint16 = cb_uint16,
	.uint32 = cb_uint32,
	.uint64 = cb_uint64,
	.negint8 = cb_negint8,
	.negint16 = cb_negint16,
	.negint32 = cb_negint32,
	.negint64 = cb_negint64,
	.byte_string_start = cb_indefinite,
	.byte_string = cb_bytes,
	.string = cb_text,
	.string_start = cb_indefinite,
	.indef_array_start = cb_indefinite,
	.array_start = cb_array,
	.indef_map_start = cb_indefinite,
	.map_start = cb_map,
	.tag = cb_tag,
	.float2 = cb_float,
	.float4 = cb_float,
	.float8 = cb_double,
	.undefined = cb_null,
	.null = cb_null,
	.boolean = cb_bool,
	.indef_break = cb_indefinite,
};

/* ------------------------------------------------ pass 2: schema and copy */

static int
check_raw(const struct wire_key *k, const struct raw_value *v,
    const struct scan *s, struct wire_error *err)
{
	size_t i;

	switch (k->type) {
	case WIRE_T_UINT:
		if (v->type != RAW_UINT)
			break;
		return check_uint(k, v->u, err);
	case WIRE_T_BOOL:
		if (v->type != RAW_BOOL)
			break;
		return 0;
	case WIRE_T_TEXT:
		if (v->type != RAW_TEXT)
			break;
		return check_len(k, v->s.len, err);
	case WIRE_T_BYTES:
		if (v->type != RAW_BYTES)
			break;
		return check_len(k, v->s.len, err);
	case WIRE_T_TEXT_ARRAY:
		if (v->type != RAW_ARRAY || !v->all_text)
			break;
		for (i = 0; i < v->count; i++)
			if (check_len(k, s->items[v->first + i].len, err) == -1)
				return -1;
		return 0;
	default:
		break;
	}
	set_err(err, "bad_type", k->name, "%s must be %s", k->name,
	    type_name(k->type));
	return -1;
}

static int
copy_raw(struct wire_value *dst, const struct wire_key *k,
    const struct raw_value *v, const struct scan *s)
{
	const struct raw_span *it;
	size_t i;

	dst->type = k->type;
	switch (k->type) {
	case WIRE_T_UINT:
	case WIRE_T_BOOL:
		dst->u = v->u;
		return 0;
	case WIRE_T_TEXT:
		dst->len = v->s.len;
		return (dst->text = copy_text(v->s.p, v->s.len)) ? 0 : -1;
	case WIRE_T_BYTES:
		dst->len = v->s.len;
		return (dst->bytes = copy_bytes(v->s.p, v->s.len)) ? 0 : -1;
	case WIRE_T_TEXT_ARRAY:
		/* count was bounded by WIRE_MAX_ARRAY in the first pass */
		dst->array = calloc(v->count == 0 ? 1 : v->count,
		    sizeof(*dst->array));
		if (dst->array == NULL)
			return -1;
		for (i = 0; i < v->count; i++) {
			it = &s->items[v->first + i];
			if ((dst->array[i] = copy_text(it->p, it->len)) == NULL)
				return -1;
			dst->len = i + 1;
		}
		return 0;
	default:
		return -1;
	}
}

static enum wire_op
op_lookup(const void *p, size_t len)
{
	int op;

	for (op = WIRE_OP_INVALID + 1; op < WIRE_OP__COUNT; op++)
		if (schemas[op].op != NULL && key_is(p, len, schemas[op].op))
			return (enum wire_op)op;
	return WIRE_OP_INVALID;
}

static enum wire_item
scan_build(const struct scan *s, struct wire_msg *msg, struct wire_error *err)
{
	const struct raw_pair *opp = NULL, *idp = NULL, *pair;
	const struct wire_schema *sc;
	const struct wire_key *k, *keys[WIRE_MAX_FIELDS];
	enum wire_op op;
	char name[32];
	size_t i, j;

	for (i = 0; i < s->npairs; i++) {
		if (key_is(s->pairs[i].key.p, s->pairs[i].key.len, "op"))
			opp = &s->pairs[i];
		else if (key_is(s->pairs[i].key.p, s->pairs[i].key.len, "id"))
			idp = &s->pairs[i];
	}
	if (opp == NULL) {
		set_err(err, "missing_field", "op", "op is missing");
		return WIRE_ERROR;
	}
	if (opp->v.type != RAW_TEXT) {
		set_err(err, "bad_type", "op", "op must be a text string");
		return WIRE_ERROR;
	}
	if ((op = op_lookup(opp->v.s.p, opp->v.s.len)) == WIRE_OP_INVALID) {
		sanitize(name, sizeof(name), opp->v.s.p, opp->v.s.len);
		set_err(err, "unknown_op", "op", "unknown op %s", name);
		return WIRE_ERROR;
	}
	sc = &schemas[op];

	for (i = 0; i < s->npairs; i++) {
		pair = &s->pairs[i];
		keys[i] = NULL;
		if (pair == opp)
			continue;
		if (pair == idp) {
			if (pair->v.type != RAW_UINT) {
				set_err(err, "bad_type", "id",
				    "id must be an unsigned integer");
				return WIRE_ERROR;
			}
			continue;
		}
		k = schema_key(sc, pair->key.p, pair->key.len);
		if (k == NULL) {
			sanitize(name, sizeof(name), pair->key.p,
			    pair->key.len);
			set_err(err, "unknown_field", name,
			    "%s has no field %s", sc->op, name);
			return WIRE_ERROR;
		}
		if (check_raw(k, &pair->v, s, err) == -1)
			return WIRE_ERROR;
		keys[i] = k;
	}
	if (idp == NULL) {
		set_err(err, "missing_field", "id", "id is missing");
		return WIRE_ERROR;
	}
	for (j = 0; j < sc->nkeys; j++) {
		if (!sc->keys[j].required)
			continue;
		for (i = 0; i < s->npairs; i++)
			if (keys[i] == &sc->keys[j])
				break;
		if (i == s->npairs) {
			set_err(err, "missing_field", sc->keys[j].name,
			    "%s needs %s", sc->op, sc->keys[j].name);
			return WIRE_ERROR;
		}
	}

	msg->op = op;
	msg->id = idp->v.u;
	for (i = 0; i < s->npairs; i++) {
		if (keys[i] == NULL)
			continue;
		msg->fields[msg->nfields].key = keys[i]->name;
		if (copy_raw(&msg->fields[msg->nfields].v, keys[i],
		    &s->pairs[i].v, s) == -1) {
			msg->nfields++;		/* free the partial value too */
			wire_msg_clear(msg);
			set_err(err, "no_memory", "", "out of memory");
			return WIRE_ERROR;
		}
		msg->nfields++;
	}
	return WIRE_CONTROL;
}

/* ----------------------------------------------------------------- decode */

static enum wire_item
decode_data(const uint8_t *buf, size_t len, uint64_t *data_len,
    size_t *consumed, struct wire_error *err)
{
	unsigned major;
	uint64_t arg;
	size_t hlen;

	switch (head_parse(buf, len, &major, &arg, &hlen)) {
	case HEAD_MORE:
		return WIRE_NEED_MORE;
	case HEAD_INDEFINITE:
		set_err(err, "malformed", "",
		    "an indefinite length is not allowed in sekisho/1");
		return WIRE_ERROR;
	case HEAD_RESERVED:
		set_err(err, "malformed", "", "reserved CBOR head");
		return WIRE_ERROR;
	case HEAD_OK:
		break;
	}
	if (arg > WIRE_MAX_CHUNK) {
		set_err(err, "chunk_too_large", "",
		    "data item of %llu bytes, at most %u allowed",
		    (unsigned long long)arg, WIRE_MAX_CHUNK);
		return WIRE_ERROR;
	}
	if (data_len != NULL)
		*data_len = arg;
	*consumed = hlen;
	return WIRE_DATA;
}

static enum wire_item
decode_control(const uint8_t *buf, size_t len, struct wire_msg *msg,
    size_t *consumed, struct wire_error *err)
{
	struct scan s;
	struct cbor_decoder_result r;
	enum wire_item item;
	size_t limit, pos = 0, hlen;
	unsigned major;
	uint64_t arg;
	char field[32];

	memset(&s, 0, sizeof(s));
	s.err = err;
	/* Never look further than a control message may be long: what does
	 * not end within WIRE_MAX_CONTROL bytes is too large. */
	limit = len < WIRE_MAX_CONTROL ? len : WIRE_MAX_CONTROL;
	while (!s.done) {
		/* Refuse a string that cannot fit before waiting for it. */
		if (head_parse(buf + pos, limit - pos, &major, &arg, &hlen) ==
		    HEAD_OK && (major == 2 || major == 3) &&
		    arg > WIRE_MAX_CONTROL - pos - hlen) {
			if (s.depth > 0 && !scan_at_key(&s))
				scan_field(&s, field);
			else
				field[0] = '\0';
			set_err(err, "too_large", field,
			    "string of %llu bytes cannot fit in a control "
			    "message of at most %d bytes",
			    (unsigned long long)arg, WIRE_MAX_CONTROL);
			return WIRE_ERROR;
		}
#if SIZE_MAX < UINT64_MAX
		/* libcbor narrows lengths to size_t: do not let it wrap. */
		if (head_parse(buf + pos, limit - pos, &major, &arg, &hlen) ==
		    HEAD_OK && (major == 4 || major == 5) && arg > SIZE_MAX) {
			set_err(err, "too_large", "", "count out of range");
			return WIRE_ERROR;
		}
#endif
		r = cbor_stream_decode(buf + pos, limit - pos, &scan_callbacks,
		    &s);
		if (s.failed)
			return WIRE_ERROR;
		switch (r.status) {
		case CBOR_DECODER_FINISHED:
			pos += r.read;
			break;
		case CBOR_DECODER_NEDATA:
			if (len >= WIRE_MAX_CONTROL) {
				set_err(err, "too_large", "",
				    "control message over %d bytes",
				    WIRE_MAX_CONTROL);
				return WIRE_ERROR;
			}
			return WIRE_NEED_MORE;
		default:
			set_err(err, "malformed", "", "malformed CBOR at byte %zu",
			    pos);
			return WIRE_ERROR;
		}
	}
	item = scan_build(&s, msg, err);
	if (item == WIRE_CONTROL)
		*consumed = pos;
	return item;
}

enum wire_item
wire_decode(const uint8_t *buf, size_t len, struct wire_msg *msg,
    uint64_t *data_len, size_t *consumed, struct wire_error *err)
{
	enum wire_item item;

	*consumed = 0;
	if (msg != NULL)
		memset(msg, 0, sizeof(*msg));
	if (data_len != NULL)
		*data_len = 0;
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (len == 0 || buf == NULL)
		return WIRE_NEED_MORE;
	switch (buf[0] >> 5) {
	case 2:
		return decode_data(buf, len, data_len, consumed, err);
	case 5:
		if (msg == NULL) {
			set_err(err, "malformed", "", "no message to decode into");
			return WIRE_ERROR;
		}
		item = decode_control(buf, len, msg, consumed, err);
		if (item != WIRE_CONTROL)
			memset(msg, 0, sizeof(*msg));
		return item;
	default:
		set_err(err, "malformed", "",
		    "expected a control map or a data byte string");
		return WIRE_ERROR;
	}
}

/* --------------------------------------------------------------- builders */

void
wire_msg_init(struct wire_msg *msg, enum wire_op op, uint64_t id)
{
	memset(msg, 0, sizeof(*msg));
	msg->op = op;
	msg->id = id;
}

/* The schema entry for a new field key of type t, or NULL if msg cannot
 * take it (unknown op or key, other type, already set, full). */
static const struct wire_key *
field_slot(const struct wire_msg *msg, const char *key, enum wire_type t)
{
	const struct wire_schema *sc;
	const struct wire_key *k;

	if (msg == NULL || key == NULL || (sc = schema_of(msg->op)) == NULL)
		return NULL;
	if ((k = schema_key(sc, key, strlen(key))) == NULL || k->type != t)
		return NULL;
	if (wire_msg_get(msg, key) != NULL ||
	    msg->nfields >= WIRE_MAX_FIELDS - 2)
		return NULL;
	return k;
}

static int
field_commit(struct wire_msg *msg, const struct wire_key *k,
    const struct wire_value *v)
{
	msg->fields[msg->nfields].key = k->name;
	msg->fields[msg->nfields].v = *v;
	msg->nfields++;
	return 0;
}

int
wire_msg_set_uint(struct wire_msg *msg, const char *key, uint64_t v)
{
	const struct wire_key *k;
	struct wire_value val = { .type = WIRE_T_UINT, .u = v };

	if ((k = field_slot(msg, key, WIRE_T_UINT)) == NULL ||
	    check_value(k, &val, NULL) == -1)
		return -1;
	return field_commit(msg, k, &val);
}

int
wire_msg_set_bool(struct wire_msg *msg, const char *key, int v)
{
	const struct wire_key *k;
	struct wire_value val = { .type = WIRE_T_BOOL, .u = v != 0 };

	if ((k = field_slot(msg, key, WIRE_T_BOOL)) == NULL)
		return -1;
	return field_commit(msg, k, &val);
}

int
wire_msg_set_text(struct wire_msg *msg, const char *key, const char *v)
{
	const struct wire_key *k;
	struct wire_value val = { .type = WIRE_T_TEXT };

	if (v == NULL || (k = field_slot(msg, key, WIRE_T_TEXT)) == NULL)
		return -1;
	val.text = (char *)v;
	val.len = strlen(v);
	if (check_value(k, &val, NULL) == -1)
		return -1;
	if ((val.text = copy_text(v, val.len)) == NULL)
		return -1;
	return field_commit(msg, k, &val);
}

int
wire_msg_set_bytes(struct wire_msg *msg, const char *key, const uint8_t *v,
    size_t len)
{
	const struct wire_key *k;
	struct wire_value val = { .type = WIRE_T_BYTES, .len = len };

	if ((v == NULL && len > 0) ||
	    (k = field_slot(msg, key, WIRE_T_BYTES)) == NULL)
		return -1;
	val.bytes = (uint8_t *)v;
	if (check_value(k, &val, NULL) == -1)
		return -1;
	if ((val.bytes = copy_bytes(v, len)) == NULL)
		return -1;
	return field_commit(msg, k, &val);
}

int
wire_msg_set_text_array(struct wire_msg *msg, const char *key,
    const char *const *v, size_t n)
{
	const struct wire_key *k;
	struct wire_value val = { .type = WIRE_T_TEXT_ARRAY, .len = n };
	size_t i;

	if ((v == NULL && n > 0) ||
	    (k = field_slot(msg, key, WIRE_T_TEXT_ARRAY)) == NULL)
		return -1;
	val.array = (char **)v;
	if (check_value(k, &val, NULL) == -1)
		return -1;
	if ((val.array = calloc(n == 0 ? 1 : n, sizeof(*val.array))) == NULL)
		return -1;
	for (i = 0; i < n; i++) {
		if ((val.array[i] = copy_text(v[i], strlen(v[i]))) == NULL) {
			val.len = i;
			value_free(&val);
			return -1;
		}
	}
	return field_commit(msg, k, &val);
}

/* ---------------------------------------------------------------- lookups */

const struct wire_value *
wire_msg_get(const struct wire_msg *msg, const char *key)
{
	size_t i;

	if (msg == NULL || key == NULL)
		return NULL;
	for (i = 0; i < msg->nfields && i < WIRE_MAX_FIELDS; i++)
		if (msg->fields[i].key != NULL &&
		    strcmp(msg->fields[i].key, key) == 0)
			return &msg->fields[i].v;
	return NULL;
}

const char *
wire_msg_text(const struct wire_msg *msg, const char *key)
{
	const struct wire_value *v = wire_msg_get(msg, key);

	return (v != NULL && v->type == WIRE_T_TEXT) ? v->text : NULL;
}

int
wire_msg_uint(const struct wire_msg *msg, const char *key, uint64_t *out)
{
	const struct wire_value *v = wire_msg_get(msg, key);

	if (v == NULL || v->type != WIRE_T_UINT)
		return -1;
	if (out != NULL)
		*out = v->u;
	return 0;
}

const uint8_t *
wire_msg_bytes(const struct wire_msg *msg, const char *key, size_t *len)
{
	const struct wire_value *v = wire_msg_get(msg, key);

	if (v == NULL || v->type != WIRE_T_BYTES)
		return NULL;
	if (len != NULL)
		*len = v->len;
	return v->bytes;
}

/* ----------------------------------------------------------------- encode */

struct writer {
	uint8_t *buf;
	size_t len;
	size_t cap;
	bool full;
};

/* n is what a cbor_encode_* call returned: 0 means it did not fit. */
static void
w_advance(struct writer *w, size_t n)
{
	if (n == 0)
		w->full = true;
	w->len += n;
}

static void
w_uint(struct writer *w, uint64_t v)
{
	if (!w->full)
		w_advance(w, cbor_encode_uint(v, w->buf + w->len,
		    w->cap - w->len));
}

static void
w_bool(struct writer *w, bool v)
{
	if (!w->full)
		w_advance(w, cbor_encode_bool(v, w->buf + w->len,
		    w->cap - w->len));
}

static void
w_payload(struct writer *w, const void *p, size_t n)
{
	if (w->full)
		return;
	if (n > w->cap - w->len) {
		w->full = true;
		return;
	}
	if (n > 0)
		memcpy(w->buf + w->len, p, n);
	w->len += n;
}

static void
w_text(struct writer *w, const char *p, size_t n)
{
	if (w->full)
		return;
	w_advance(w, cbor_encode_string_start(n, w->buf + w->len,
	    w->cap - w->len));
	w_payload(w, p, n);
}

static void
w_bytes(struct writer *w, const uint8_t *p, size_t n)
{
	if (w->full)
		return;
	w_advance(w, cbor_encode_bytestring_start(n, w->buf + w->len,
	    w->cap - w->len));
	w_payload(w, p, n);
}

static void
w_map(struct writer *w, size_t n)
{
	if (!w->full)
		w_advance(w, cbor_encode_map_start(n, w->buf + w->len,
		    w->cap - w->len));
}

static void
w_array(struct writer *w, size_t n)
{
	if (!w->full)
		w_advance(w, cbor_encode_array_start(n, w->buf + w->len,
		    w->cap - w->len));
}

/* Everything the decoder of the other side would check, so that neither
 * side ever sends what the other must refuse. */
static int
encode_check(const struct wire_msg *msg, const struct wire_schema *sc,
    const struct wire_key **keys, struct wire_error *err)
{
	const struct wire_field *f;
	char name[32];
	size_t i, j;

	if (msg->nfields > WIRE_MAX_FIELDS - 2) {
		set_err(err, "too_large", "", "%zu fields, at most %d allowed",
		    msg->nfields, WIRE_MAX_FIELDS - 2);
		return -1;
	}
	for (i = 0; i < msg->nfields; i++) {
		f = &msg->fields[i];
		if (f->key == NULL ||
		    (keys[i] = schema_key(sc, f->key, strlen(f->key))) == NULL) {
			sanitize(name, sizeof(name), f->key ? f->key : "",
			    f->key ? strlen(f->key) : 0);
			set_err(err, "unknown_field", name, "%s has no field %s",
			    sc->op, name);
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (keys[j] == keys[i]) {
				set_err(err, "duplicate_field", keys[i]->name,
				    "key %s appears twice", keys[i]->name);
				return -1;
			}
		}
		if (check_value(keys[i], &f->v, err) == -1)
			return -1;
	}
	for (j = 0; j < sc->nkeys; j++) {
		if (!sc->keys[j].required)
			continue;
		for (i = 0; i < msg->nfields; i++)
			if (keys[i] == &sc->keys[j])
				break;
		if (i == msg->nfields) {
			set_err(err, "missing_field", sc->keys[j].name,
			    "%s needs %s", sc->op, sc->keys[j].name);
			return -1;
		}
	}
	return 0;
}

int
wire_encode(const struct wire_msg *msg, uint8_t **out, size_t *outlen,
    struct wire_error *err)
{
	const struct wire_schema *sc;
	const struct wire_key *keys[WIRE_MAX_FIELDS];
	const struct wire_value *v;
	struct writer w = { 0 };
	uint8_t *shrunk;
	size_t i, j;

	*out = NULL;
	*outlen = 0;
	if (err != NULL)
		memset(err, 0, sizeof(*err));
	if (msg == NULL || (sc = schema_of(msg->op)) == NULL) {
		set_err(err, "unknown_op", "op", "no such op");
		return -1;
	}
	if (encode_check(msg, sc, keys, err) == -1)
		return -1;

	w.cap = WIRE_MAX_CONTROL;
	if ((w.buf = malloc(w.cap)) == NULL) {
		set_err(err, "no_memory", "", "out of memory");
		return -1;
	}
	w_map(&w, msg->nfields + 2);
	w_text(&w, "op", 2);
	w_text(&w, sc->op, strlen(sc->op));
	w_text(&w, "id", 2);
	w_uint(&w, msg->id);
	for (i = 0; i < msg->nfields; i++) {
		v = &msg->fields[i].v;
		w_text(&w, keys[i]->name, strlen(keys[i]->name));
		switch (v->type) {
		case WIRE_T_UINT:
			w_uint(&w, v->u);
			break;
		case WIRE_T_BOOL:
			w_bool(&w, v->u != 0);
			break;
		case WIRE_T_TEXT:
			w_text(&w, v->text, v->len);
			break;
		case WIRE_T_BYTES:
			w_bytes(&w, v->bytes, v->len);
			break;
		case WIRE_T_TEXT_ARRAY:
			w_array(&w, v->len);
			for (j = 0; j < v->len; j++)
				w_text(&w, v->array[j], strlen(v->array[j]));
			break;
		default:
			break;		/* refused by encode_check */
		}
	}
	if (w.full) {
		free(w.buf);
		set_err(err, "too_large", "", "%s message over %d bytes",
		    sc->op, WIRE_MAX_CONTROL);
		return -1;
	}
	if ((shrunk = realloc(w.buf, w.len)) != NULL)
		w.buf = shrunk;
	*out = w.buf;
	*outlen = w.len;
	return 0;
}

size_t
wire_encode_data_head(uint64_t len, uint8_t out[9])
{
	if (len > WIRE_MAX_CHUNK)
		return 0;
	return cbor_encode_bytestring_start((size_t)len, out, 9);
}

int
wire_encode_error(uint64_t id, const char *code, const char *message,
    const char *field, uint8_t **out, size_t *outlen)
{
	struct wire_msg msg;
	char text[WIRE_MAX_MESSAGE + 1];
	size_t n;
	int rc = -1;

	*out = NULL;
	*outlen = 0;
	if (message == NULL)
		message = "";
	/* Cut an overlong message at a character boundary rather than fail
	 * to report the error at all. */
	n = strlen(message);
	if (n > WIRE_MAX_MESSAGE) {
		n = WIRE_MAX_MESSAGE;
		while (n > 0 && ((uint8_t)message[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(text, message, n);
	text[n] = '\0';

	wire_msg_init(&msg, WIRE_OP_ERROR, id);
	if (wire_msg_set_text(&msg, "code", code) == -1)
		goto done;
	if (wire_msg_set_text(&msg, "message", text) == -1 &&
	    wire_msg_set_text(&msg, "message", code) == -1)
		goto done;
	/* A field that cannot be sent is dropped, the error still goes. */
	if (field != NULL && *field != '\0')
		(void)wire_msg_set_text(&msg, "field", field);
	rc = wire_encode(&msg, out, outlen, NULL);
done:
	wire_msg_clear(&msg);
	return rc;
}
