/*
 * regstore — versions of the interface register that go through
 * two-person approval, in the state store (migration 10).
 *
 * A version is the exact YAML text, addressed by its SHA-256 (the same
 * hash policy_hash gives and every accept record carries), with who
 * proposed it, why, the change summary against the version it was based
 * on, and its state:
 *
 *   proposed ──approve×N──▶ active ──(a newer one activated)──▶ superseded
 *      │  └──reject──▶ rejected
 *      ├──(waited too long)──▶ expired
 *      └──emergency approve──▶ emergency ──confirm──▶ active
 *                                  └──(not confirmed in time)──▶ expired
 *                                     (the previous version is active again)
 *
 * One row of register_active names the version in force. The same text
 * is stored once: proposing it again while it exists is STORE_EXISTS.
 *
 * Every function runs in the caller's transaction, on the thread that
 * owns the store. Return convention as store.h: 0, STORE_NOTFOUND,
 * STORE_EXISTS, or -1 with err.
 */
#ifndef SEKISHO_REGSTORE_H
#define SEKISHO_REGSTORE_H

#include <stddef.h>
#include <stdint.h>

#include "broker/store.h"

#define REGSTORE_MAX_YAML (1024 * 1024)	/* bytes of one version's text */
#define REGSTORE_MAX_SUMMARY 65536	/* bytes of its change summary */

#define REGSTORE_PROPOSED "proposed"
#define REGSTORE_ACTIVE "active"
#define REGSTORE_SUPERSEDED "superseded"
#define REGSTORE_REJECTED "rejected"
#define REGSTORE_EXPIRED "expired"
#define REGSTORE_EMERGENCY "emergency"

struct regstore_version {
	char sha256[UTIL_SHA256_HEX + 1];
	char proposer[65];
	char reason[STORE_TEXT_MAX + 1];
	int emergency;			/* proposed as an emergency change */
	char state[16];
	char base[UTIL_SHA256_HEX + 1];	/* the version in force when it was
					   proposed ("" for the first) */
	int64_t created;
	int64_t expires;		/* a proposal expires then; 0: never */
	int64_t activated;		/* 0 while never in force */
	char previous[UTIL_SHA256_HEX + 1];	/* in force before this one
						   was activated */
	int64_t confirm_by;		/* emergency: the deadline of the
					   second approval */
	int64_t decided;		/* rejected, expired, superseded */
	/* malloc'd, freed by regstore_version_clear; yaml only when asked */
	char *summary;
	char *yaml;
	size_t yaml_len;
};

struct regstore_vote {
	char approver[65];
	char vote[8];			/* "approve" | "reject" */
	char comment[STORE_TEXT_MAX + 1];
	int64_t at;
};

/* Stores v (its sha256 must be the SHA-256 of yaml, checked here) with
 * its text and summary (NULL: ""). STORE_EXISTS when that text is
 * stored already, in any state. */
int regstore_insert(struct store *st, const struct regstore_version *v,
    const char *yaml, size_t yaml_len, char *err, size_t errlen);

/* The version sha256 into *out, with its YAML text when with_yaml.
 * Release with regstore_version_clear (also after a failure). */
int regstore_get(struct store *st, const char *sha256, int with_yaml,
    struct regstore_version *out, char *err, size_t errlen);
void regstore_version_clear(struct regstore_version *v);

/* The full hash of the version whose hash begins with prefix (8 to 64
 * lower-case hex digits). STORE_NOTFOUND when none, STORE_EXISTS when
 * more than one does. */
int regstore_resolve(struct store *st, const char *prefix,
    char out[UTIL_SHA256_HEX + 1], char *err, size_t errlen);

/* Moves the version from state expect to state (compare-and-set),
 * writing the given time fields (a negative one is left as it is) and
 * previous (NULL: left). STORE_NOTFOUND when it is not in expect. */
int regstore_set_state(struct store *st, const char *sha256,
    const char *expect, const char *state, int64_t activated,
    int64_t confirm_by, int64_t decided, const char *previous, char *err,
    size_t errlen);

/* The version in force into out (size UTIL_SHA256_HEX + 1) and since
 * when; STORE_NOTFOUND when none was ever installed. */
int regstore_active(struct store *st, char *out, int64_t *since, char *err,
    size_t errlen);
/* Makes sha256 (a stored version) the one in force. */
int regstore_set_active(struct store *st, const char *sha256, int64_t now,
    char *err, size_t errlen);

/* Records a vote; STORE_EXISTS when approver voted on this version. */
int regstore_vote_insert(struct store *st, const char *version,
    const struct regstore_vote *v, char *err, size_t errlen);
/* The up to max votes on version, oldest first, *n of them. */
int regstore_vote_list(struct store *st, const char *version,
    struct regstore_vote *out, size_t max, size_t *n, char *err,
    size_t errlen);

/* Calls fn for each version in state (NULL: any), newest first, up to
 * limit of them, without the YAML text (summary included). fn returning
 * non-zero stops the walk and is returned. fn must not use the store. */
int regstore_each(struct store *st, const char *state, size_t limit,
    int (*fn)(const struct regstore_version *v, void *arg), void *arg,
    char *err, size_t errlen);

/*
 * The version in force and its text, read from the database at path
 * opened read-only, without migrating or creating anything (for
 * --check-config and the start, which may run as another user than the
 * database's owner). STORE_NOTFOUND when the file does not exist or holds
 * no version in force. *buf is malloc'd, NUL-terminated.
 */
int regstore_read_active(const char *path, char **buf, size_t *len,
    char sha[UTIL_SHA256_HEX + 1], char *err, size_t errlen);

#endif
