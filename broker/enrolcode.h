/*
 * enrolcode — one-time TOTP enrolment codes: the administrator issues one
 * for a user (sekishod --totp-enrol-code), the user redeems it once with
 * the certificate of that user (op totp_enrol) and gets a pending TOTP
 * secret, which becomes active with its first code (stepup.h).
 *
 * A code is 12 characters of the RFC 4648 base32 alphabet (A-Z, 2-7: 60
 * bits from getrandom(2)), shown as XXXX-XXXX-XXXX. As typed it may be in
 * either case, with hyphens or spaces anywhere, and with 0, 1 and 8 for
 * the O, I and B they are mistaken for (none of them is in the alphabet).
 *
 * Only an HMAC-SHA256 of the user and the normalised code is stored
 * (stepup_mac, purpose ENROLCODE_PURPOSE), so the state database alone
 * does not let anyone test guesses, and a code issued for another user
 * never matches. Each user has at most one code: issuing replaces the old
 * one. Failed attempts count per user with their own lockout, with the
 * step-up limits (max_failures, lockout doubling up to lockout_max).
 *
 * Threads: the functions taking a store run on the store's thread; nothing
 * here reads the clock (now is passed in). Codes never appear in err.
 */
#ifndef SEKISHO_ENROLCODE_H
#define SEKISHO_ENROLCODE_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "broker/stepup.h"

struct store;

#define ENROLCODE_CHARS 12		/* base32 characters (60 bits) */
#define ENROLCODE_SHOWN 14		/* XXXX-XXXX-XXXX */
#define ENROLCODE_TTL_DEFAULT 86400	/* 24 hours */
#define ENROLCODE_TTL_MIN 300		/* 5 minutes */
#define ENROLCODE_TTL_MAX (7 * 86400)	/* 7 days */
#define ENROLCODE_PURPOSE "sekisho totp enrolment code v1"
#define ENROLCODE_ISSUED "totp_enrol_code_issued"	/* queued event */

/*
 * A fresh code from the OS CSPRNG, grouped (XXXX-XXXX-XXXX + NUL). -1 only
 * when the CSPRNG fails. The caller wipes it after showing it.
 */
int enrolcode_generate(char out[ENROLCODE_SHOWN + 1]);

/*
 * The code as typed to its canonical form (ENROLCODE_CHARS upper-case
 * base32 characters + NUL): case folded, hyphens and spaces dropped, 0/1/8
 * read as O/I/B. -1 when anything else is left or the count is not
 * ENROLCODE_CHARS (out is then wiped).
 */
int enrolcode_normalize(const char *typed, char out[ENROLCODE_CHARS + 1]);

/* The MAC stored for user's code (canonical form, see above). -1 on an
 * OpenSSL failure. */
int enrolcode_mac(const struct stepup *su, const char *user,
    const char *canonical, uint8_t out[STEPUP_MAC_LEN]);

/* "--ttl" values: a duration ("90m", "24h", "3d", seconds) within
 * [ENROLCODE_TTL_MIN, ENROLCODE_TTL_MAX]. -1 with err naming the bounds. */
int enrolcode_parse_ttl(const char *s, uint64_t *out, char *err,
    size_t errlen);

/* What enrolcode_issue did. */
struct enrolcode_issued {
	char code[ENROLCODE_SHOWN + 1];	/* to show once, then wipe */
	int64_t expires;		/* unix seconds */
	int replaced;			/* an unused code was replaced */
	int active;			/* the user has an active secret (only
					   with force) */
};

/*
 * Issues a code for user valid for ttl seconds from now, replacing any
 * code the user had and clearing the user's failures and lock (the
 * administrator has just vouched for the user), and queues the
 * ENROLCODE_ISSUED audit event with actor (never the code). When the
 * user already has an active TOTP secret it refuses unless force, and the
 * code then carries force (its redemption replaces the active secret).
 * Runs its own transaction. -1 with err; *out is wiped on failure.
 */
int enrolcode_issue(const struct stepup *su, struct store *st,
    const char *user, const char *actor, int force, uint64_t ttl, time_t now,
    struct enrolcode_issued *out, char *err, size_t errlen);

enum enrolcode_result {
	ENROLCODE_REDEEMED,	/* the code was good: *secret is filled */
	ENROLCODE_WRONG,	/* no code matches (counted) */
	ENROLCODE_USED,		/* the code was used before (counted) */
	ENROLCODE_EXPIRED,	/* the code has expired (counted) */
	ENROLCODE_ACTIVE,	/* the user enrolled meanwhile and the code
				   was issued without force (not counted;
				   the code stays unused) */
	ENROLCODE_LOCKOUT,	/* this failure started a lock */
	ENROLCODE_LOCKED	/* locked before the attempt; not checked */
};

struct enrolcode_outcome {
	enum enrolcode_result result;
	/* For the audit trail: why a code was refused ("wrong_code",
	 * "no_code", "used", "expired", "active", "locked"); "" when
	 * redeemed. With LOCKOUT, the failure that started the lock. */
	const char *reason;
	uint64_t failures;	/* consecutive failures after the attempt */
	uint64_t lock_count;
	int64_t locked_until;	/* 0: not locked */
	uint64_t retry_after;	/* LOCKOUT/LOCKED: seconds left */
	int64_t issued;		/* REDEEMED: when the code was issued */
	int forced;		/* REDEEMED: it carried force */
	int replaced;		/* REDEEMED: 0 none, 1 pending, 2 active */
};

/* "redeemed", "wrong_code", "used", "expired", "active", "lockout",
 * "locked". */
const char *enrolcode_result_name(enum enrolcode_result r);

/*
 * Redeems typed (as the user typed it) for user at now, inside the
 * caller's transaction (the commit thread's batch; BEGIN IMMEDIATE, so
 * reading and marking the code is one step and a code is used at most
 * once). A good code is marked used and a pending secret is created as
 * --totp-enroll does (stepup_enroll_pending), into *secret (the caller
 * wipes it). A refused code is not an error: 0 with o->result. -1 on a
 * store or crypto failure (roll the savepoint back).
 */
int enrolcode_redeem(const struct stepup *su, struct store *st,
    const char *user, const char *typed, time_t now,
    struct enrolcode_outcome *o, struct stepup_enrolment *secret, char *err,
    size_t errlen);

#endif
