/*
 * audit — the broker's append-only audit trail.
 *
 * Every step of every transfer (connect, refuse, decide, receive, store,
 * resume, error, ...) is one record: a CBOR map with a gap-free sequence
 * number, UTC time and the clock's sync status, type, actor, subject,
 * type-specific details, and the SHA-256 of the previous record, so any
 * change breaks the chain. Records are also the leaves of an RFC 9162
 * Merkle tree (broker/audittree.c) whose root the broker signs as a C2SP
 * checkpoint every so many records or seconds, at start and at shutdown.
 *
 * On disk the trail is a directory:
 *   <first seq, 20 digits>.audit   segment files: records, concatenated
 *   tree/nodes                     the Merkle tree's node hashes
 *   checkpoints/<size, 20 digits>.note   every signed checkpoint
 * Records are written with one write(2) each to the newest segment
 * (O_APPEND) and made durable by audit_sync (one fdatasync for many
 * records: group commit). A segment that would grow past the configured
 * size is closed and a new one started, named by its first record.
 *
 * The audit log is used only from the commit thread. If it cannot be written
 * the broker must stop accepting transfers (fail closed): audit_append and
 * audit_sync return -1 and audit_healthy() turns false until restart.
 * Secrets never enter a record: callers pass ids, fingerprints and hashes.
 * docs/audit.md describes the formats.
 *
 * Records are numbered by their sequence number from 0; error messages say
 * "record N" with that number.
 */
#ifndef SEKISHO_AUDIT_H
#define SEKISHO_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/auditfmt.h"
#include "lib/note.h"

#define AUDIT_MAX_RECORD AUDITFMT_MAX_RECORD	/* bytes of one record */
#define AUDIT_MAX_DETAILS AUDITFMT_MAX_DETAILS	/* details of one record */
#define AUDIT_DEFAULT_SEGMENT (64ull << 20)
#define AUDIT_DEFAULT_CP_RECORDS 1000
#define AUDIT_DEFAULT_CP_INTERVAL 60

struct audit;
struct audittree;

enum audit_kv_type { AUDIT_TEXT, AUDIT_UINT, AUDIT_BYTES, AUDIT_BOOL };

struct audit_kv {
	const char *key;
	enum audit_kv_type type;
	const char *text;
	uint64_t u;
	const uint8_t *bytes;
	size_t len;
};

/*
 * Who did it and to what. Any field may be NULL (or "") when it does not
 * apply; such fields are left out of the record. Text that is not valid
 * UTF-8 is written with U+FFFD in place of each bad byte (use AUDIT_BYTES
 * for exact bytes). Detail keys must be non-empty, valid UTF-8 and unique.
 */
struct audit_event {
	const char *type;		/* e.g. "connect", "refuse", "decide" */
	const char *user;
	const char *dept;
	const char *terminal;
	const char *cert_fp;		/* hex SHA-256 of the client cert */
	const char *peer;		/* "ip:port" */
	const char *transfer;
	const char *interface;
	const char *service;		/* the interface's cloud service */
	const struct audit_kv *details;
	size_t ndetails;
};

/*
 * Signs a checkpoint text (the broker asks its signer process). *note is a
 * malloc'd signed note the caller frees. The audit module checks the note
 * against the verifier key before it keeps it.
 */
typedef int (*audit_sign_fn)(void *arg, const char *text, size_t len,
    char **note, size_t *notelen, char *err, size_t errlen);

struct audit_options {
	uint64_t segment_size;		/* 0: AUDIT_DEFAULT_SEGMENT */
	/* Checkpoints: all three set, or origin NULL for none (tools, tests).
	 * origin is the verifier key's name. */
	const char *origin;
	const struct note_verifier *verifier;
	audit_sign_fn sign;
	void *sign_arg;
	uint64_t checkpoint_records;	/* 0: AUDIT_DEFAULT_CP_RECORDS */
	uint64_t checkpoint_interval;	/* seconds; 0: AUDIT_DEFAULT_CP_INTERVAL */
	/* "synced", "unsynced" or "unknown" for each record; NULL asks the
	 * kernel (adjtimex). */
	const char *(*clock_status)(void);
};

/* What audit_open found and repaired (for the broker to log and audit). */
struct audit_recovery {
	uint64_t torn_bytes;		/* incomplete record cut off the end */
	uint64_t rehashed;		/* records hashed into the tree again */
	int tree_rebuilt;		/* the node file did not match: rebuilt */
	uint64_t checkpoint_size;	/* latest signed checkpoint, 0: none */
};

/*
 * Opens (creating, mode 0700) the trail directory dir and takes an
 * exclusive flock(2) on it: a second writer is refused. Checks without
 * reading the whole history:
 *   - the latest checkpoint verifies with the configured key (else refused);
 *   - the segments from the one holding the latest checkpoint's size to the
 *     end are read: sequence, chain and, for records the checkpoint covers,
 *     the tree; a torn final record (a crash during an unsynced append) is
 *     truncated away;
 *   - fewer records than the checkpoint signed, or records that do not give
 *     its root, are refused (an operator must inspect the trail).
 * The tree's nodes after the checkpoint are appended again from the records;
 * a node file that does not match is rebuilt from all records.
 * opt may be NULL (defaults, no checkpoints). rec may be NULL.
 */
int audit_open_opts(const char *dir, const struct audit_options *opt,
    struct audit **out, struct audit_recovery *rec, char *err, size_t errlen);

/* audit_open_opts with default options; *torn_bytes (may be NULL) as in
 * struct audit_recovery. */
int audit_open(const char *dir, struct audit **out, size_t *torn_bytes,
    char *err, size_t errlen);
void audit_close(struct audit *a);

/* Appends one record at time now (not yet durable). Any failure, including
 * an invalid event (no type, repeated detail key, a record larger than
 * AUDIT_MAX_RECORD), latches the log unhealthy; nothing is written then. */
int audit_append(struct audit *a, time_t now, const struct audit_event *ev,
    char *err, size_t errlen);

/* Makes every appended record durable (fdatasync of the segment, fsync of
 * the directory after a rotation; never retried) and writes the tree's new
 * nodes. */
int audit_sync(struct audit *a, char *err, size_t errlen);

/*
 * Signs a checkpoint of every synced record when one is due: force, or at
 * least checkpoint_records records or checkpoint_interval seconds since the
 * last one (and at least one new record). Returns 1 when it signed, 0 when
 * nothing was due or checkpoints are off. The node file is synced first,
 * the signed note checked against the verifier and written to
 * checkpoints/ (tmp, fsync, rename, fsync dir). A failure latches the log
 * unhealthy: records that can never be signed are not an audit trail.
 */
int audit_checkpoint(struct audit *a, time_t now, int force, char *err,
    size_t errlen);

/* False once any append, sync or checkpoint failed. */
int audit_healthy(const struct audit *a);

/* Why the log is unhealthy ("" while healthy). */
const char *audit_failure(const struct audit *a);

/* Next sequence number (== number of records, pruned ones included). */
uint64_t audit_next_seq(const struct audit *a);

/* Records made durable by audit_sync so far. */
uint64_t audit_synced_seq(const struct audit *a);

/* Sequence number of the oldest record still in a segment (after
 * retention pruned older ones; 0 otherwise). */
uint64_t audit_first_seq(const struct audit *a);

/* The tree, for proofs (commit thread only; borrowed). */
struct audittree *audit_tree(struct audit *a);

/* The latest signed checkpoint: -1 when there is none. *note is a
 * malloc'd copy the caller frees. */
int audit_latest_checkpoint(struct audit *a, char **note, size_t *notelen,
    uint64_t *size, char *err, size_t errlen);

/* --- reading records back (pulls) --- */

/* Where the next record is: its seq, the segment it is in and its offset. */
struct audit_cursor {
	uint64_t seq;
	uint64_t segment;		/* first seq of the segment */
	uint64_t offset;
};

/* Positions c at record seq (audit_first_seq <= seq <= synced): reads the
 * segment holding it from the start. */
int audit_seek(struct audit *a, uint64_t seq, struct audit_cursor *c,
    char *err, size_t errlen);

/* Copies whole records from c into buf (cap >= AUDIT_MAX_RECORD), at most
 * maxrec of them and never at or past end_seq (<= synced); *len bytes and
 * *count records; advances c. */
int audit_read(struct audit *a, struct audit_cursor *c, uint64_t end_seq,
    size_t maxrec, uint8_t *buf, size_t cap, size_t *len, uint64_t *count,
    char *err, size_t errlen);

/* First synced record (from audit_first_seq) whose time is at or after
 * when (RFC 3339 UTC, "YYYY-MM-DDTHH:MM:SSZ"); the synced count when none
 * is. Assumes record times do not go backwards across segments; within
 * the chosen segments it reads record by record. */
int audit_find_time(struct audit *a, const char *when, uint64_t *seq,
    char *err, size_t errlen);

/* --- retention --- */

/*
 * Removes the oldest segments whose records are all older than now -
 * retention seconds (the newest segment always stays). First a "prune"
 * record says which records go (from_seq, to_seq, segments, archived) and
 * a checkpoint covering it is signed; only then are the segment files
 * moved to archive_dir (a directory on the same file system; NULL to
 * delete them). The tree keeps every leaf, so later pulls still verify
 * against the same root. Returns the number of segments removed (0 when
 * none is due) or -1.
 */
int audit_prune(struct audit *a, time_t now, uint64_t retention,
    const char *archive_dir, char *err, size_t errlen);

/*
 * Reads a trail (a directory of segments, or one legacy log file) and checks
 * its sequence and hash chain, calling fn (may be NULL) with each record's
 * raw bytes (valid only during the call) once the record has been checked.
 * Returns 0 if everything is intact, -1 with "record N ...: what is wrong"
 * in err otherwise (an incomplete final record included); fn returning
 * non-zero stops the read with -1. Records before the fault have been
 * passed to fn. Used by --print-audit and tests.
 */
int audit_read_file(const char *path,
    int (*fn)(uint64_t seq, const uint8_t *rec, size_t len, void *arg),
    void *arg, char *err, size_t errlen);

/*
 * audit_read_file, then the same checks against the trail's newest signed
 * checkpoint as audit_open (without its lock or repairs, so it can run
 * beside the broker): the checkpoint must verify with vk (NULL: only a
 * trail without checkpoints passes), the trail must hold at least the
 * records it signs (else "record N: the trail ends here ..." with N the
 * first missing record), and, when the trail still starts at record 0,
 * its records must give the signed root. Used by --print-audit.
 */
int audit_check_file(const char *path, const struct note_verifier *vk,
    int (*fn)(uint64_t seq, const uint8_t *rec, size_t len, void *arg),
    void *arg, char *err, size_t errlen);

/* "synced", "unsynced" or "unknown" from adjtimex(2) (STA_UNSYNC). */
const char *audit_clock_status(void);

#endif
