/*
 * regadmin — the approved register's administrative side, for the command
 * line and the start (register.mode: approved; docs/policy.md "Approved
 * register"):
 *   - the first version, installed by `sekishod --register-bootstrap`
 *     (explicit, audited through the store's queued-audit events, as the
 *     TOTP commands are);
 *   - reading the version in force (at start, and for
 *     `sekishod --register-export`);
 *   - checking a candidate text as `sekishod --check-config` does:
 *     policy_load_buffer (errors with line numbers) and forward_check (what
 *     delivery needs); lint findings are warnings, as there.
 * The request layer's side (proposals and votes) is regapproval.h.
 *
 * Ownership: malloc'd buffers and policies go to the caller (free,
 * policy_free, regdiff_free). Errors are returned in err, never printed.
 */
#ifndef SEKISHO_REGADMIN_H
#define SEKISHO_REGADMIN_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include "lib/util.h"

struct config;
struct policy;
struct regdiff;
struct store;

/* SHA-256 of buf as lower-case hex (the register hash policy_hash gives). */
int regadmin_sha256(const char *buf, size_t len,
    char out[UTIL_SHA256_HEX + 1], char *err, size_t errlen);

/*
 * The version in force, read from the store: its text (malloc'd, *len
 * bytes, NUL-terminated) and hash. STORE_NOTFOUND (1) with an
 * explanation naming --register-bootstrap when none was installed; -1 on
 * an error. Checks that the text still has its hash.
 */
int regadmin_active_text(struct store *st, char **buf, size_t *len,
    char sha[UTIL_SHA256_HEX + 1], char *err, size_t errlen);

/*
 * Checks a candidate text as --check-config does: the register must load
 * (an error names its line) and every service must be deliverable with
 * cfg (each problem one line on problems, may be NULL). name is used in
 * messages ("register.yaml"). On success *p (and *rd when rd is not NULL)
 * hold the loaded register; on failure they are NULL and err says the
 * first problem.
 */
int regadmin_check_text(const struct config *cfg, const char *name,
    const char *buf, size_t len, FILE *problems, struct policy **p,
    struct regdiff **rd, char *err, size_t errlen);

/*
 * --register-bootstrap: installs the text of file as the first version in
 * force, with reason and actor (the administrator's login), in one
 * transaction of st, and queues the "register_bootstrap" audit event the
 * broker moves into the trail. Refused when cfg is not in approved mode,
 * when a version is in force already (changes are proposed and approved),
 * or when the text does not pass regadmin_check_text. *sha is the
 * installed version.
 */
int regadmin_bootstrap(const struct config *cfg, struct store *st,
    const char *file, const char *reason, const char *actor, time_t now,
    FILE *problems, char sha[UTIL_SHA256_HEX + 1], char *err,
    size_t errlen);

/*
 * --register-export: writes the text of the version in force (read
 * read-only from the state database at db_path) to file
 * (mode 0644, written beside it and renamed), or to standard output when
 * file is "-". *sha is that version. 0, or -1 with err.
 */
int regadmin_export(const char *db_path, const char *file,
    char sha[UTIL_SHA256_HEX + 1], char *err, size_t errlen);

/*
 * The same as regadmin_active_text from the database at path opened
 * read-only (regstore_read_active): nothing is created or migrated, so
 * --check-config may run as another user than the broker's.
 */
int regadmin_read_active(const char *path, char **buf, size_t *len,
    char sha[UTIL_SHA256_HEX + 1], char *err, size_t errlen);

#endif
