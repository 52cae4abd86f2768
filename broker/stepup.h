/*
 * stepup — TOTP step-up authentication (RFC 6238 through liboath).
 *
 * Pieces, from the bottom up:
 *   - the secret key file (AES-256, 64 hex digits, mode 0600) that seals
 *     every TOTP secret in the state store with AES-256-GCM (a fresh 96-bit
 *     nonce per secret, the user id bound in as additional data, so a
 *     sealed secret copied to another user's row does not open);
 *   - TOTP matching: HMAC-SHA1, 6 digits, 30 s steps, the current step and
 *     one on either side; all three candidates are always computed and
 *     compared with CRYPTO_memcmp, so timing does not tell which matched;
 *   - verification against the store: a step is accepted at most once per
 *     user (the last accepted step is written with a compare-and-set in the
 *     caller's transaction), consecutive failures lock the user for a delay
 *     that doubles with each lock (capped), and a pending secret becomes
 *     active with its first accepted code;
 *   - enrolment and reset for the administrator's command line, which runs
 *     while the broker runs: it cannot write the audit log (the broker holds
 *     it), so it queues its audit events in the store (table totp_audit)
 *     and the broker moves them into the trail (stepup_audit_pending);
 *   - the table of successful step-ups on the event loop
 *     (struct stepup_grants), keyed by client certificate fingerprint.
 *     It is memory only: a restart forgets every step-up (fail closed).
 *
 * Secrets and codes never leave this module in messages: errors name the
 * user and what failed, never a value.
 *
 * Threads: struct stepup is immutable after stepup_new (any thread may
 * read it). Functions taking a struct store run on the store's thread
 * (the commit thread in the broker). struct stepup_grants belongs to the
 * event loop.
 *
 * Time: every function takes `now`; nothing here reads the clock.
 */
#ifndef SEKISHO_STEPUP_H
#define SEKISHO_STEPUP_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "lib/util.h"

struct store;
struct audit;

#define STEPUP_SECRET_LEN 20	/* 160-bit TOTP secrets (RFC 4226 §4) */
#define STEPUP_DIGITS 6
#define STEPUP_PERIOD 30	/* seconds per step */
#define STEPUP_WINDOW 1		/* steps accepted on either side of now */
#define STEPUP_KEY_LEN 32	/* AES-256 */
#define STEPUP_NONCE_LEN 12	/* GCM nonce */
#define STEPUP_TAG_LEN 16	/* GCM tag */
#define STEPUP_SEALED_MAX 64	/* ciphertext + tag of a secret */
#define STEPUP_BASE32_MAX 64	/* base32 of a secret, with NUL */
#define STEPUP_URI_MAX 320
#define STEPUP_GRANTS 1024	/* step-ups remembered on the loop */
#define STEPUP_MAC_LEN 32	/* HMAC-SHA256 */

struct stepup_limits {
	uint64_t max_failures;	/* consecutive failures before a lock */
	uint64_t lockout;	/* seconds of the first lock */
	uint64_t lockout_max;	/* cap of the doubling */
};

struct stepup;

/*
 * Reads the key file: exactly 64 hex digits, optionally followed by one
 * newline. Refuses a file that is not a regular file, is a symbolic link,
 * or that group or others may access in any way (mode & 077), so a key
 * anyone else can read is never used. The key never appears in err.
 */
int stepup_key_load(const char *path, uint8_t key[STEPUP_KEY_LEN],
    char *err, size_t errlen);

/* Loads the key and keeps the limits. Free with stepup_free (which wipes
 * the key). */
int stepup_new(const char *key_file, const struct stepup_limits *lim,
    struct stepup **out, char *err, size_t errlen);
void stepup_free(struct stepup *su);

/* The limits given to stepup_new. */
const struct stepup_limits *stepup_get_limits(const struct stepup *su);

/*
 * HMAC-SHA256 of msg under a key derived from the step-up key for purpose
 * (a fixed text naming what the MAC is for), so values kept for one
 * purpose never match another's and the sealing key never keys an HMAC
 * itself. -1 only when OpenSSL fails.
 */
int stepup_mac(const struct stepup *su, const char *purpose,
    const uint8_t *msg, size_t len, uint8_t out[STEPUP_MAC_LEN]);

/*
 * AES-256-GCM. stepup_seal draws a fresh nonce from the OS CSPRNG into
 * nonce and writes ciphertext || tag (len + 16 bytes) into out, which must
 * hold outlen >= len + STEPUP_TAG_LEN bytes; *outlen_used gets the size.
 * stepup_unseal reverses it; -1 ("does not authenticate") when the key,
 * nonce, user or any byte differs. user is the additional data.
 */
int stepup_seal(const uint8_t key[STEPUP_KEY_LEN], const char *user,
    const uint8_t *secret, size_t len, uint8_t nonce[STEPUP_NONCE_LEN],
    uint8_t *out, size_t outlen, size_t *outlen_used, char *err,
    size_t errlen);
int stepup_unseal(const uint8_t key[STEPUP_KEY_LEN], const char *user,
    const uint8_t nonce[STEPUP_NONCE_LEN], const uint8_t *sealed,
    size_t sealedlen, uint8_t *secret, size_t secretlen, size_t *len,
    char *err, size_t errlen);

/* The TOTP code of secret at time now (digits + NUL). -1 on a liboath
 * failure. */
int stepup_totp_code(const uint8_t *secret, size_t len, time_t now,
    char out[STEPUP_DIGITS + 1]);

/*
 * Which step code belongs to, among now's step and STEPUP_WINDOW steps on
 * either side. Returns the highest matching step (>= 0), or -1 when none
 * matches or code is not exactly STEPUP_DIGITS ASCII digits. Every
 * candidate is computed and compared in constant time.
 */
int64_t stepup_totp_match(const uint8_t *secret, size_t len,
    const char *code, time_t now);

/* Length of the n-th lock (n = locks before it, from 0): lockout * 2^n,
 * capped at lockout_max. */
uint64_t stepup_lock_seconds(const struct stepup_limits *lim, uint64_t n);

enum stepup_result {
	STEPUP_OK,		/* accepted */
	STEPUP_ACTIVATED,	/* accepted, and the pending secret is now
				   active */
	STEPUP_WRONG,		/* no match (counted) */
	STEPUP_REPLAY,		/* matched a step already used (counted) */
	STEPUP_LOCKOUT,		/* this failure started a lock */
	STEPUP_LOCKED,		/* locked before the attempt; not checked */
	STEPUP_NOT_ENROLLED	/* no secret for the user */
};

struct stepup_outcome {
	enum stepup_result result;
	uint64_t failures;	/* consecutive failures after the attempt */
	uint64_t lock_count;	/* locks since the last success */
	int64_t locked_until;	/* unix seconds; 0 when not locked */
	uint64_t retry_after;	/* LOCKOUT/LOCKED: seconds left */
};

/* "ok", "activated", "wrong_code", "replay", "lockout", "locked",
 * "not_enrolled". */
const char *stepup_result_name(enum stepup_result r);

/*
 * Checks code for user at now and records the outcome in the store:
 * failures, locks, the accepted step. Must run inside a transaction (the
 * commit thread's batch, or store_begin) so that reading and writing the
 * row is one atomic step; the write of last_step is also a compare-and-set,
 * so of two uses of one code exactly one is accepted. Returns 0 with *out
 * filled (a refused code is not an error), -1 on a store or crypto failure
 * (the caller's savepoint should then be rolled back).
 */
int stepup_verify(const struct stepup *su, struct store *st,
    const char *user, const char *code, time_t now,
    struct stepup_outcome *out, char *err, size_t errlen);

/* What stepup_enroll did. */
struct stepup_enrolment {
	char base32[STEPUP_BASE32_MAX];	/* the new secret, for the user's app */
	char uri[STEPUP_URI_MAX];	/* otpauth:// URI of it */
	int replaced;			/* 0: new; 1: a pending secret; 2: an
					   active one (only with force) */
};

/*
 * Creates a secret (STEPUP_SECRET_LEN bytes from getrandom(2)) for user,
 * stores it sealed as "pending" and queues a "totp_enrol" audit event with
 * actor (the administrator's login). A pending secret is replaced; an
 * active one only with force (else -1 saying so). Runs its own
 * transaction. The caller must wipe *out after showing it
 * (OPENSSL_cleanse).
 */
int stepup_enroll(const struct stepup *su, struct store *st,
    const char *user, const char *actor, int force, time_t now,
    struct stepup_enrolment *out, char *err, size_t errlen);

/*
 * The heart of stepup_enroll without its transaction and audit event, for
 * a caller that runs inside one (the commit thread's batch): creates the
 * secret, stores it sealed as pending (replacing a pending one, an active
 * one only with force, else -1 saying so) and fills *out, which the caller
 * must wipe after use. On failure *out is wiped and the caller rolls back.
 */
int stepup_enroll_pending(const struct stepup *su, struct store *st,
    const char *user, int force, time_t now, struct stepup_enrolment *out,
    char *err, size_t errlen);

/* Queues an audit event of type about user, done by actor (the
 * administrator's login), with detail (no secret, no code), for
 * stepup_audit_pending to move into the trail. In the caller's
 * transaction. */
int stepup_queue_event(struct store *st, const char *type, const char *user,
    const char *actor, const char *detail, time_t now, char *err,
    size_t errlen);

/* Removes user's secret and queues a "totp_reset" audit event. Returns
 * 1 (from store.h: STORE_NOTFOUND) when the user had none. Runs its own
 * transaction. */
int stepup_reset(struct store *st, const char *user, const char *actor,
    time_t now, char *err, size_t errlen);

/*
 * Moves queued audit events (enrolments and resets made by the command
 * line) into the audit log and deletes them from the queue. Call inside a
 * transaction that is committed only after the audit log is synced (the
 * commit thread's batch does exactly that); a crash in between appends
 * them again on the next run, each with its queue id, so duplicates can be
 * told apart. Returns the number moved, or -1.
 */
int stepup_audit_pending(struct store *st, struct audit *a, time_t now,
    char *err, size_t errlen);

/* otpauth://totp/sekisho:USER?secret=...&issuer=sekisho&algorithm=SHA1&
 * digits=6&period=30. user must be a token (util_is_token). */
int stepup_uri(const char *user, const char *base32, char *out,
    size_t outlen);

/*
 * A QR code of text drawn for a terminal with Unicode half blocks (two
 * modules per character cell, quiet zone included, dark on light). Returns
 * a malloc'd NUL-terminated string the caller frees, or NULL with err.
 */
char *stepup_qr_text(const char *text, char *err, size_t errlen);

/* ---- the loop's table of step-ups ---- */

struct stepup_grant {
	char cert_fp[UTIL_SHA256_HEX + 1];
	char user[65];
	time_t at;
};

struct stepup_grants {
	struct stepup_grant g[STEPUP_GRANTS];
	size_t n;
};

/* Records a step-up of user with the certificate cert_fp at `at`,
 * replacing that certificate's entry, or the oldest one when full. */
void stepup_grant_record(struct stepup_grants *t, const char *cert_fp,
    const char *user, time_t at);

/* Forgets the step-up of the certificate cert_fp (revoked); 1 when there
 * was one, 0 when none. */
int stepup_grant_drop(struct stepup_grants *t, const char *cert_fp);

/* Time of the last step-up of user with cert_fp, 0 when none. */
time_t stepup_grant_lookup(const struct stepup_grants *t,
    const char *cert_fp, const char *user);

#endif
