/*
 * auditfmt — the audit trail's on-disk and pulled formats, shared by the
 * broker (which writes them) and the client (which verifies, shows and
 * exports them). docs/audit.md is the specification.
 *
 * Four parts:
 *   - auditfmt_walk: finds where a record ends and checks its top-level
 *     fields, without allocating anything (the broker's start-up check, the
 *     segment reader and the verifier all use it);
 *   - auditfmt_decode: the fields of one record, strictly checked, as
 *     pointers into the record bytes (audit show and export);
 *   - a bounded reader that returns the records of a segment file one by
 *     one from a window of at most 2 * AUDITFMT_MAX_RECORD bytes;
 *   - the pulled-trail formats: proof.txt (format and parse) and the
 *     verifier that checks records, leaf hashes and proofs against a
 *     signed checkpoint, naming the first bad record and what is wrong.
 *
 * Nothing here prints. Functions with an error buffer return 0 (or a
 * documented positive value) on success and -1 with a message in it.
 * Text values handed out by auditfmt_decode are not NUL-terminated and stay
 * valid as long as the record bytes do.
 */
#ifndef SEKISHO_AUDITFMT_H
#define SEKISHO_AUDITFMT_H

#include <stddef.h>
#include <stdint.h>

#include "lib/merkle.h"
#include "lib/note.h"

#define AUDITFMT_MAX_RECORD 65536	/* bytes of one encoded record */
#define AUDITFMT_MAX_DETAILS 64		/* details of one record */
#define AUDITFMT_MAX_DEPTH 8		/* container nesting a reader accepts */
#define AUDITFMT_HASH_LEN 32
/* Records in one chunk of a pull; the chunk's leaf hashes must fit in one
 * control message of the wire protocol. */
#define AUDITFMT_CHUNK_RECORDS 256
#define AUDITFMT_PROOF_MAX MERKLE_MAX_PROOF

/* Clock status values a record may carry in "clock". */
#define AUDITFMT_CLOCK_SYNCED "synced"
#define AUDITFMT_CLOCK_UNSYNCED "unsynced"
#define AUDITFMT_CLOCK_UNKNOWN "unknown"

/* --- walking one record --------------------------------------------------- */

enum auditfmt_res {
	AUDITFMT_OK = 0,	/* a whole record starts at buf[0] */
	AUDITFMT_NEED,		/* the record does not end within len bytes */
	AUDITFMT_BAD		/* not a record; why says what is wrong */
};

/* Where a record lies in the chain. */
struct auditfmt_head {
	size_t len;				/* bytes of the record */
	uint64_t seq;
	uint8_t prev[AUDITFMT_HASH_LEN];
	const char *why;			/* static text, for AUDITFMT_BAD */
};

/* Finds the record that starts at buf[0] within len bytes: one definite-
 * length CBOR map with "seq" (uint), "time" (text), "type" (text), "actor",
 * "subject", "details" (maps) and "prev" (32 bytes), nested at most
 * AUDITFMT_MAX_DEPTH deep, no indefinite lengths. Other keys are allowed
 * (later format versions may add some). Never reads past buf[len]. */
enum auditfmt_res auditfmt_walk(const uint8_t *buf, size_t len,
    struct auditfmt_head *h);

/* --- decoding one record --------------------------------------------------- */

struct auditfmt_text {
	const char *p;		/* into the record; NULL when absent */
	size_t len;
};

enum auditfmt_vtype { AUDITFMT_V_TEXT, AUDITFMT_V_UINT, AUDITFMT_V_BYTES,
	AUDITFMT_V_BOOL };

struct auditfmt_detail {
	struct auditfmt_text key;
	enum auditfmt_vtype type;
	const uint8_t *data;	/* TEXT and BYTES */
	size_t len;
	uint64_t u;		/* UINT; BOOL as 0/1 */
};

struct auditfmt_record {
	uint64_t seq;
	struct auditfmt_text time, clock, type;
	struct auditfmt_text user, dept, terminal, cert_fp, peer;
	struct auditfmt_text transfer, interface, service;
	struct auditfmt_detail details[AUDITFMT_MAX_DETAILS];
	size_t ndetails;
	uint8_t prev[AUDITFMT_HASH_LEN];
	size_t len;		/* bytes of the record */
};

/* Decodes the record rec[0:len] (exactly one record) strictly: everything
 * auditfmt_walk checks, plus text that is valid UTF-8, actor and subject
 * values that are text, at most AUDITFMT_MAX_DETAILS details with unique
 * text keys and text, uint, bytes or bool values. Unknown actor or subject
 * keys are ignored. */
int auditfmt_decode(const uint8_t *rec, size_t len, struct auditfmt_record *r,
    char *err, size_t errlen);

/* --- reading a segment file ------------------------------------------------ */

struct auditfmt_reader;

enum auditfmt_read {
	AUDITFMT_READ_END = 0,	/* no more records */
	AUDITFMT_READ_REC = 1,	/* a record was returned */
	AUDITFMT_READ_TORN = 2	/* the rest is an incomplete record or zeros */
};

/* Reads fd (not closed by the reader) from offset start up to offset end,
 * or to the end of the file when end is UINT64_MAX (the size is taken
 * once, at open). */
int auditfmt_reader_open(int fd, uint64_t start, uint64_t end,
    struct auditfmt_reader **out, char *err, size_t errlen);
void auditfmt_reader_free(struct auditfmt_reader *r);

/* Next record: AUDITFMT_READ_REC with *rec (valid until the next call),
 * *off (its offset in the file) and *h set; AUDITFMT_READ_END at the end;
 * AUDITFMT_READ_TORN when the bytes left are an incomplete record or only
 * zero bytes (*off is where they start); -1 with "at offset O: why" in err
 * for a record that is not well-formed, longer than AUDITFMT_MAX_RECORD, or
 * an I/O error. Sequence numbers and the chain are the caller's to check. */
int auditfmt_reader_next(struct auditfmt_reader *r, const uint8_t **rec,
    uint64_t *off, struct auditfmt_head *h, char *err, size_t errlen);

/* --- proof.txt --------------------------------------------------------------- */

/*
 * What a pull proves, besides the signed checkpoint:
 *   from_seq, count   the records pulled are seq from_seq .. from_seq+count-1
 *   tree_size         the checkpoint's tree size (from_seq + count <= it)
 *   left              the roots of the perfect subtrees of the first
 *                     from_seq leaves (popcount(from_seq) hashes, largest
 *                     first): with the pulled leaf hashes they give the root
 *                     of the first from_seq + count leaves
 *   right             consistency proof from from_seq + count to tree_size
 *   previous_size     when the auditor gave an earlier checkpoint: its size,
 *   previous          and the consistency proof from it to tree_size
 */
struct auditfmt_proof {
	uint64_t from_seq;
	uint64_t count;
	uint64_t tree_size;
	uint8_t left[AUDITFMT_PROOF_MAX][AUDITFMT_HASH_LEN];
	size_t nleft;
	uint8_t right[AUDITFMT_PROOF_MAX][AUDITFMT_HASH_LEN];
	size_t nright;
	int has_previous;
	uint64_t previous_size;
	uint8_t previous[AUDITFMT_PROOF_MAX][AUDITFMT_HASH_LEN];
	size_t nprevious;
};

#define AUDITFMT_PROOF_MAGIC "sekisho-audit-proof 1"
#define AUDITFMT_PROOF_TEXT_MAX 32768	/* bytes of a proof.txt */

/* Writes p as text (malloc'd, NUL-terminated, *len bytes without the NUL;
 * the caller frees *out). */
int auditfmt_proof_format(const struct auditfmt_proof *p, char **out,
    size_t *len, char *err, size_t errlen);

/* Parses a proof.txt strictly (the exact lines auditfmt_proof_format
 * writes, in that order; canonical base64; decimal without leading zeros;
 * nleft == popcount(from_seq)). Never reads past text[len]. */
int auditfmt_proof_parse(const char *text, size_t len,
    struct auditfmt_proof *p, char *err, size_t errlen);

/* --- the verifier -------------------------------------------------------------- */

/* What went wrong, first fault only. */
enum auditfmt_fault {
	AUDITFMT_FAULT_NONE = 0,
	AUDITFMT_FAULT_CHANGED,		/* a record's bytes were changed */
	AUDITFMT_FAULT_MISSING,		/* records are absent (gap, cut tail) */
	AUDITFMT_FAULT_REORDERED,	/* a record is out of order or repeated */
	AUDITFMT_FAULT_MALFORMED,	/* bytes that are not a record */
	AUDITFMT_FAULT_SIGNATURE,	/* a checkpoint's signature or origin */
	AUDITFMT_FAULT_ROLLBACK,	/* the log shrank or was rewritten */
	AUDITFMT_FAULT_PROOF		/* proof or leaf hashes do not match */
};

/* Short name of a fault ("changed", "missing", ...). */
const char *auditfmt_fault_name(enum auditfmt_fault f);

struct auditfmt_verdict {
	enum auditfmt_fault fault;
	int has_seq;			/* seq names the first bad record */
	uint64_t seq;
	char msg[512];
};

/*
 * Streaming verification of one pull. Use:
 *   auditfmt_verify_begin   with the opened checkpoint, the parsed proof and
 *                           the pulled leaf hashes (count of them): checks
 *                           that left + leaves + right lead to the signed
 *                           root, so the leaf hashes are authentic;
 *   auditfmt_verify_record  for each record in file order (its offset for
 *                           messages);
 *   auditfmt_verify_end     after the last one.
 * Each returns 0 while everything holds and -1 once a fault is known (the
 * verdict says which; later calls keep the first fault and return -1, except
 * that a sequence fault is classified only at the end: whether the missing
 * record shows up later decides between "missing" and "reordered").
 * leaves must stay valid until auditfmt_verify_end. If the leaf hashes are
 * not authentic, verification goes on with the hashes of the records
 * themselves, so that a changed record can still be named by the chain.
 */
struct auditfmt_verify {
	struct note_checkpoint cp;
	const struct auditfmt_proof *proof;
	const uint8_t (*leaves)[AUDITFMT_HASH_LEN];
	size_t nleaves;
	int leaves_ok;			/* leaves lead to the signed root */
	struct merkle_tree tree;	/* from records, for the fallback */
	uint64_t pos;			/* records seen */
	uint8_t prev[AUDITFMT_HASH_LEN];	/* hash of the last record */
	int pending;			/* a sequence fault awaiting class */
	uint64_t want_seq;		/* ... the record expected there */
	uint64_t found_seq;		/* ... the record found instead */
	uint64_t found_off;
	int want_seen;			/* want_seq appeared later */
	int leaf_differs;		/* a record's leaf != its pulled leaf */
	uint64_t leaf_differs_seq;	/* ... the first such record */
	struct auditfmt_verdict v;
};

int auditfmt_verify_begin(struct auditfmt_verify *vf,
    const struct note_checkpoint *cp, const struct auditfmt_proof *proof,
    const uint8_t (*leaves)[AUDITFMT_HASH_LEN], size_t nleaves);
int auditfmt_verify_record(struct auditfmt_verify *vf, const uint8_t *rec,
    size_t len, uint64_t off);
/* Reports bytes that are not a record at offset off of the records file
 * (why: the reader's message). */
int auditfmt_verify_malformed(struct auditfmt_verify *vf, uint64_t off,
    const char *why);
int auditfmt_verify_end(struct auditfmt_verify *vf);

/* Checks that the pulled checkpoint extends an earlier one the auditor kept
 * (prev), with the consistency proof in proof. -1 with v filled
 * (AUDITFMT_FAULT_ROLLBACK or AUDITFMT_FAULT_PROOF). */
int auditfmt_verify_previous(const struct note_checkpoint *prev,
    const struct note_checkpoint *cp, const struct auditfmt_proof *proof,
    struct auditfmt_verdict *v);

#endif
