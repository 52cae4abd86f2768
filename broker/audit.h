/*
 * audit — the broker's append-only audit trail.
 *
 * Every step of every transfer (connect, refuse, decide, receive, store,
 * resume, error, ...) is one record: a CBOR map with a gap-free sequence
 * number, UTC time, type, actor, subject, type-specific details, and the
 * SHA-256 of the previous record, so any change breaks the chain. Records are
 * written with one write(2) each to an O_APPEND file and made durable by
 * audit_sync (one fdatasync for many records: group commit).
 *
 * The audit log is used only from the commit thread. If it cannot be written
 * the broker must stop accepting transfers (fail closed): audit_append and
 * audit_sync return -1 and audit_healthy() turns false until restart.
 * Secrets never enter a record: callers pass ids, fingerprints and hashes.
 * docs/audit.md describes the record format.
 *
 * Records are numbered by their sequence number from 0; error messages say
 * "record N" with that number.
 */
#ifndef SEKISHO_AUDIT_H
#define SEKISHO_AUDIT_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define AUDIT_MAX_RECORD 65536	/* bytes of one encoded record */
#define AUDIT_MAX_DETAILS 64	/* details of one record */

struct audit;

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
	const struct audit_kv *details;
	size_t ndetails;
};

/* Opens (creating 0600) the log at path. Reads the existing tail to
 * continue the sequence and the hash chain; a log whose chain or last record
 * is corrupt is refused (the operator must look at it). A torn final record
 * left by a crash (incomplete CBOR at the end) is truncated away and counted
 * in *torn_bytes (may be NULL). So are trailing zero bytes, which some file
 * systems leave where unsynced appends were. Reads the whole file to verify
 * it. Takes an exclusive flock(2): a second writer is refused. */
int audit_open(const char *path, struct audit **out, size_t *torn_bytes,
    char *err, size_t errlen);
void audit_close(struct audit *a);

/* Appends one record at time now (not yet durable). Any failure, including
 * an invalid event (no type, repeated detail key, a record larger than
 * AUDIT_MAX_RECORD), latches the log unhealthy; nothing is written then. */
int audit_append(struct audit *a, time_t now, const struct audit_event *ev,
    char *err, size_t errlen);

/* Makes every appended record durable (fdatasync; never retried). */
int audit_sync(struct audit *a, char *err, size_t errlen);

/* False once any append or sync failed. */
int audit_healthy(const struct audit *a);

/* Next sequence number (== number of records). */
uint64_t audit_next_seq(const struct audit *a);

/*
 * Reads a log file and checks its hash chain and sequence, calling fn (may be
 * NULL) with each record's raw bytes (valid only during the call) once the
 * record has been checked. Returns 0 if the whole file is intact, -1 with
 * "record N ...: what is wrong" in err otherwise (an incomplete final record
 * included); fn returning non-zero stops the read with -1. Records before
 * the fault have been passed to fn. Used by tests and by the quick start to
 * print the trail.
 */
int audit_read_file(const char *path,
    int (*fn)(uint64_t seq, const uint8_t *rec, size_t len, void *arg),
    void *arg, char *err, size_t errlen);

#endif
