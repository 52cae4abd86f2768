/*
 * regstore — see regstore.h.
 *
 * Register operations are rare (a few a month), so each statement is
 * prepared when it is used and finalized after; every value is bound.
 */
#include "broker/regstore.h"
#include "broker/store_int.h"

#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <sqlite3.h>

#define VERSION_COLUMNS \
	"sha256, proposer, reason, emergency, state, base, created, " \
	"expires, activated, previous, confirm_by, decided, summary"

static int
rs_fail(struct store *st, char *err, size_t errlen, const char *what)
{
	return util_err(err, errlen, "store: %s: %s", what,
	    sqlite3_errmsg(store_sqlite(st)));
}

static int
rs_prepare(struct store *st, const char *sql, sqlite3_stmt **s, char *err,
    size_t errlen, const char *what)
{
	if (sqlite3_prepare_v2(store_sqlite(st), sql, -1, s, NULL) !=
	    SQLITE_OK) {
		*s = NULL;
		return rs_fail(st, err, errlen, what);
	}
	return 0;
}

static int
rs_text(sqlite3_stmt *s, int i, const char *v)
{
	return sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC);
}

/* Copies column i into dst; -1 when it does not fit. */
static int
rs_col(sqlite3_stmt *s, int i, char *dst, size_t dstlen)
{
	const unsigned char *t = sqlite3_column_text(s, i);

	return util_strlcpy(dst, t != NULL ? (const char *)t : "", dstlen);
}

static int
rs_row(sqlite3_stmt *s, struct regstore_version *v)
{
	const unsigned char *sum;

	memset(v, 0, sizeof(*v));
	if (rs_col(s, 0, v->sha256, sizeof(v->sha256)) != 0 ||
	    rs_col(s, 1, v->proposer, sizeof(v->proposer)) != 0 ||
	    rs_col(s, 2, v->reason, sizeof(v->reason)) != 0 ||
	    rs_col(s, 4, v->state, sizeof(v->state)) != 0 ||
	    rs_col(s, 5, v->base, sizeof(v->base)) != 0 ||
	    rs_col(s, 9, v->previous, sizeof(v->previous)) != 0)
		return -1;
	v->emergency = sqlite3_column_int(s, 3);
	v->created = sqlite3_column_int64(s, 6);
	v->expires = sqlite3_column_int64(s, 7);
	v->activated = sqlite3_column_int64(s, 8);
	v->confirm_by = sqlite3_column_int64(s, 10);
	v->decided = sqlite3_column_int64(s, 11);
	sum = sqlite3_column_text(s, 12);
	if ((v->summary = strdup(sum != NULL ? (const char *)sum : "")) ==
	    NULL)
		return -1;
	return 0;
}

void
regstore_version_clear(struct regstore_version *v)
{
	if (v == NULL)
		return;
	free(v->summary);
	free(v->yaml);
	memset(v, 0, sizeof(*v));
}

int
regstore_insert(struct store *st, const struct regstore_version *v,
    const char *yaml, size_t yaml_len, char *err, size_t errlen)
{
	unsigned char md[UTIL_SHA256_LEN];
	char hex[UTIL_SHA256_HEX + 1];
	sqlite3_stmt *s;
	int rc;

	if (yaml_len == 0 || yaml_len > REGSTORE_MAX_YAML)
		return util_err(err, errlen, "store: a register version must "
		    "be 1 to %d bytes (this one is %zu)", REGSTORE_MAX_YAML,
		    yaml_len);
	if (EVP_Digest(yaml, yaml_len, md, NULL, EVP_sha256(), NULL) != 1)
		return util_err(err, errlen, "store: SHA-256 failed");
	util_hex(md, sizeof(md), hex);
	if (strcmp(hex, v->sha256) != 0)
		return util_err(err, errlen, "store: register version %s: "
		    "the text's SHA-256 is %s", v->sha256, hex);
	if (rs_prepare(st, "INSERT INTO register_versions (" VERSION_COLUMNS
	    ", yaml) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12,"
	    " ?13, ?14)", &s, err, errlen, "insert register version") != 0)
		return -1;
	rc = rs_text(s, 1, v->sha256);
	if (rc == SQLITE_OK) rc = rs_text(s, 2, v->proposer);
	if (rc == SQLITE_OK) rc = rs_text(s, 3, v->reason);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int(s, 4, v->emergency ? 1 : 0);
	if (rc == SQLITE_OK) rc = rs_text(s, 5, v->state);
	if (rc == SQLITE_OK) rc = rs_text(s, 6, v->base);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 7, v->created);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 8, v->expires);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 9, v->activated);
	if (rc == SQLITE_OK) rc = rs_text(s, 10, v->previous);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 11, v->confirm_by);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 12, v->decided);
	if (rc == SQLITE_OK) rc = rs_text(s, 13, v->summary != NULL ?
	    v->summary : "");
	if (rc == SQLITE_OK) rc = sqlite3_bind_blob(s, 14, yaml, (int)yaml_len,
	    SQLITE_STATIC);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (sqlite3_extended_errcode(store_sqlite(st)) ==
	    SQLITE_CONSTRAINT_PRIMARYKEY) {
		util_err(err, errlen, "store: register version %s exists",
		    v->sha256);
		rc = STORE_EXISTS;
	} else
		rc = rs_fail(st, err, errlen, "insert register version");
	sqlite3_finalize(s);
	return rc;
}

int
regstore_get(struct store *st, const char *sha256, int with_yaml,
    struct regstore_version *out, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	const void *b;
	int rc, n;

	memset(out, 0, sizeof(*out));
	if (rs_prepare(st, "SELECT " VERSION_COLUMNS ", yaml FROM "
	    "register_versions WHERE sha256 = ?1", &s, err, errlen,
	    "get register version") != 0)
		return -1;
	if (rs_text(s, 1, sha256) != SQLITE_OK) {
		sqlite3_finalize(s);
		return rs_fail(st, err, errlen, "get register version");
	}
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(s);
		util_err(err, errlen, "store: no register version %s", sha256);
		return STORE_NOTFOUND;
	}
	if (rc != SQLITE_ROW) {
		rc = rs_fail(st, err, errlen, "get register version");
		sqlite3_finalize(s);
		return rc;
	}
	rc = rs_row(s, out);
	if (rc == 0 && with_yaml) {
		b = sqlite3_column_blob(s, 13);
		n = sqlite3_column_bytes(s, 13);
		if (b == NULL || n <= 0 || (out->yaml = malloc((size_t)n + 1)) ==
		    NULL)
			rc = -1;
		else {
			memcpy(out->yaml, b, (size_t)n);
			out->yaml[n] = '\0';
			out->yaml_len = (size_t)n;
		}
	}
	sqlite3_finalize(s);
	if (rc != 0) {
		regstore_version_clear(out);
		return util_err(err, errlen, "store: register version %s does "
		    "not fit its fields (or out of memory)", sha256);
	}
	return 0;
}

int
regstore_resolve(struct store *st, const char *prefix,
    char out[UTIL_SHA256_HEX + 1], char *err, size_t errlen)
{
	sqlite3_stmt *s;
	size_t len = strlen(prefix), i;
	int rc, n = 0;

	out[0] = '\0';
	for (i = 0; i < len; i++)
		if (!((prefix[i] >= '0' && prefix[i] <= '9') ||
		    (prefix[i] >= 'a' && prefix[i] <= 'f')))
			break;
	if (len < 8 || len > UTIL_SHA256_HEX || i != len)
		return util_err(err, errlen, "a register version is 8 to 64 "
		    "lower-case hexadecimal digits of its SHA-256");
	/* substr, not LIKE or GLOB: the prefix is data, never a pattern. */
	if (rs_prepare(st, "SELECT sha256 FROM register_versions WHERE "
	    "substr(sha256, 1, ?2) = ?1 LIMIT 2", &s, err, errlen,
	    "find register version") != 0)
		return -1;
	if (rs_text(s, 1, prefix) != SQLITE_OK ||
	    sqlite3_bind_int(s, 2, (int)len) != SQLITE_OK) {
		sqlite3_finalize(s);
		return rs_fail(st, err, errlen, "find register version");
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (n++ == 0 && rs_col(s, 0, out, UTIL_SHA256_HEX + 1) != 0)
			out[0] = '\0';
	}
	if (rc != SQLITE_DONE) {
		rc = rs_fail(st, err, errlen, "find register version");
		sqlite3_finalize(s);
		out[0] = '\0';
		return rc;
	}
	sqlite3_finalize(s);
	if (n == 0) {
		util_err(err, errlen, "no register version %s", prefix);
		return STORE_NOTFOUND;
	}
	if (n > 1) {
		out[0] = '\0';
		util_err(err, errlen, "register version %s is ambiguous: give "
		    "more digits", prefix);
		return STORE_EXISTS;
	}
	return 0;
}

int
regstore_set_state(struct store *st, const char *sha256, const char *expect,
    const char *state, int64_t activated, int64_t confirm_by,
    int64_t decided, const char *previous, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc;

	if (rs_prepare(st, "UPDATE register_versions SET state = ?3, "
	    "activated = CASE WHEN ?4 < 0 THEN activated ELSE ?4 END, "
	    "confirm_by = CASE WHEN ?5 < 0 THEN confirm_by ELSE ?5 END, "
	    "decided = CASE WHEN ?6 < 0 THEN decided ELSE ?6 END, "
	    "previous = coalesce(?7, previous) "
	    "WHERE sha256 = ?1 AND state = ?2", &s, err, errlen,
	    "update register version") != 0)
		return -1;
	rc = rs_text(s, 1, sha256);
	if (rc == SQLITE_OK) rc = rs_text(s, 2, expect);
	if (rc == SQLITE_OK) rc = rs_text(s, 3, state);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 4, activated);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 5, confirm_by);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 6, decided);
	if (rc == SQLITE_OK) rc = previous != NULL ? rs_text(s, 7, previous) :
	    sqlite3_bind_null(s, 7);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_DONE) {
		rc = rs_fail(st, err, errlen, "update register version");
		sqlite3_finalize(s);
		return rc;
	}
	sqlite3_finalize(s);
	if (sqlite3_changes(store_sqlite(st)) == 0) {
		util_err(err, errlen, "register version %s is not %s", sha256,
		    expect);
		return STORE_NOTFOUND;
	}
	return 0;
}

int
regstore_active(struct store *st, char *out, int64_t *since, char *err,
    size_t errlen)
{
	sqlite3_stmt *s;
	int rc;

	out[0] = '\0';
	if (since != NULL)
		*since = 0;
	if (rs_prepare(st, "SELECT version, since FROM register_active "
	    "WHERE id = 1", &s, err, errlen, "active register") != 0)
		return -1;
	rc = sqlite3_step(s);
	if (rc == SQLITE_DONE) {
		sqlite3_finalize(s);
		util_err(err, errlen, "no approved register version has been "
		    "installed");
		return STORE_NOTFOUND;
	}
	if (rc != SQLITE_ROW || rs_col(s, 0, out, UTIL_SHA256_HEX + 1) != 0) {
		rc = rs_fail(st, err, errlen, "active register");
		sqlite3_finalize(s);
		out[0] = '\0';
		return rc;
	}
	if (since != NULL)
		*since = sqlite3_column_int64(s, 1);
	sqlite3_finalize(s);
	return 0;
}

int
regstore_set_active(struct store *st, const char *sha256, int64_t now,
    char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc;

	if (rs_prepare(st, "INSERT OR REPLACE INTO register_active (id, "
	    "version, since) VALUES (1, ?1, ?2)", &s, err, errlen,
	    "set active register") != 0)
		return -1;
	rc = rs_text(s, 1, sha256);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 2, now);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc != SQLITE_DONE)
		rc = rs_fail(st, err, errlen, "set active register");
	else
		rc = 0;
	sqlite3_finalize(s);
	return rc;
}

int
regstore_vote_insert(struct store *st, const char *version,
    const struct regstore_vote *v, char *err, size_t errlen)
{
	sqlite3_stmt *s;
	int rc;

	if (rs_prepare(st, "INSERT INTO register_votes (version, approver, "
	    "vote, comment, at) VALUES (?1, ?2, ?3, ?4, ?5)", &s, err, errlen,
	    "insert register vote") != 0)
		return -1;
	rc = rs_text(s, 1, version);
	if (rc == SQLITE_OK) rc = rs_text(s, 2, v->approver);
	if (rc == SQLITE_OK) rc = rs_text(s, 3, v->vote);
	if (rc == SQLITE_OK) rc = rs_text(s, 4, v->comment);
	if (rc == SQLITE_OK) rc = sqlite3_bind_int64(s, 5, v->at);
	if (rc == SQLITE_OK)
		rc = sqlite3_step(s);
	if (rc == SQLITE_DONE)
		rc = 0;
	else if (sqlite3_extended_errcode(store_sqlite(st)) ==
	    SQLITE_CONSTRAINT_PRIMARYKEY) {
		util_err(err, errlen, "%s has voted on register version %s "
		    "already", v->approver, version);
		rc = STORE_EXISTS;
	} else
		rc = rs_fail(st, err, errlen, "insert register vote");
	sqlite3_finalize(s);
	return rc;
}

int
regstore_vote_list(struct store *st, const char *version,
    struct regstore_vote *out, size_t max, size_t *n, char *err,
    size_t errlen)
{
	sqlite3_stmt *s;
	int rc;

	*n = 0;
	if (rs_prepare(st, "SELECT approver, vote, comment, at FROM "
	    "register_votes WHERE version = ?1 ORDER BY at, approver", &s, err,
	    errlen, "list register votes") != 0)
		return -1;
	if (rs_text(s, 1, version) != SQLITE_OK) {
		sqlite3_finalize(s);
		return rs_fail(st, err, errlen, "list register votes");
	}
	while (*n < max && (rc = sqlite3_step(s)) == SQLITE_ROW) {
		struct regstore_vote *v = &out[*n];

		memset(v, 0, sizeof(*v));
		if (rs_col(s, 0, v->approver, sizeof(v->approver)) != 0 ||
		    rs_col(s, 1, v->vote, sizeof(v->vote)) != 0 ||
		    rs_col(s, 2, v->comment, sizeof(v->comment)) != 0) {
			sqlite3_finalize(s);
			return util_err(err, errlen, "store: a register vote "
			    "does not fit its fields");
		}
		v->at = sqlite3_column_int64(s, 3);
		(*n)++;
	}
	if (*n < max && rc != SQLITE_DONE) {
		rc = rs_fail(st, err, errlen, "list register votes");
		sqlite3_finalize(s);
		return rc;
	}
	sqlite3_finalize(s);
	return 0;
}

int
regstore_each(struct store *st, const char *state, size_t limit,
    int (*fn)(const struct regstore_version *v, void *arg), void *arg,
    char *err, size_t errlen)
{
	struct regstore_version v;
	sqlite3_stmt *s;
	int rc, ret = 0;

	if (rs_prepare(st, "SELECT " VERSION_COLUMNS " FROM register_versions "
	    "WHERE ?1 IS NULL OR state = ?1 ORDER BY created DESC, sha256 "
	    "LIMIT ?2", &s, err, errlen, "list register versions") != 0)
		return -1;
	rc = state != NULL ? rs_text(s, 1, state) : sqlite3_bind_null(s, 1);
	if (rc == SQLITE_OK)
		rc = sqlite3_bind_int64(s, 2, limit > INT32_MAX ? INT32_MAX :
		    (sqlite3_int64)limit);
	if (rc != SQLITE_OK) {
		sqlite3_finalize(s);
		return rs_fail(st, err, errlen, "list register versions");
	}
	while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
		if (rs_row(s, &v) != 0) {
			regstore_version_clear(&v);
			sqlite3_finalize(s);
			return util_err(err, errlen, "store: a register version "
			    "does not fit its fields");
		}
		ret = fn(&v, arg);
		regstore_version_clear(&v);
		if (ret != 0)
			break;
	}
	if (ret == 0 && rc != SQLITE_DONE) {
		ret = rs_fail(st, err, errlen, "list register versions");
	}
	sqlite3_finalize(s);
	return ret;
}

/* "file:PATH?mode=ro[&immutable=1]", PATH with the characters a URI
 * gives meaning to escaped (RFC 3986, as SQLite reads it). */
static char *
ro_uri(const char *path, int immutable)
{
	size_t n = strlen(path), i, o = 0;
	char *u = malloc(3 * n + 40);

	if (u == NULL)
		return NULL;
	o += (size_t)sprintf(u, "file:");
	for (i = 0; i < n; i++) {
		unsigned char c = (unsigned char)path[i];

		if (c == '%' || c == '?' || c == '#' || c <= 0x20 || c >= 0x7f)
			o += (size_t)sprintf(u + o, "%%%02X", c);
		else
			u[o++] = (char)c;
	}
	sprintf(u + o, "?mode=ro%s", immutable ? "&immutable=1" : "");
	return u;
}

int
regstore_read_active(const char *path, char **buf, size_t *len,
    char sha[UTIL_SHA256_HEX + 1], char *err, size_t errlen)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *s = NULL;
	struct stat sb;
	const void *b;
	char *uri = NULL;
	int rc = -1, n, step;

	*buf = NULL;
	*len = 0;
	sha[0] = '\0';
	if (stat(path, &sb) == -1) {
		if (errno == ENOENT) {
			util_err(err, errlen, "the state database %s does not "
			    "exist yet", path);
			return STORE_NOTFOUND;
		}
		return util_err(err, errlen, "store: %s: %s", path,
		    strerror(errno));
	}
	/* Read-only still creates the -wal and -shm files when they are
	 * missing; as another user (root checking the configuration) they
	 * would then belong to that user and lock the broker out. So another
	 * user reads the file as immutable: no side files, and at worst a
	 * change still in the broker's WAL is not seen. */
	if ((uri = ro_uri(path, sb.st_uid != geteuid())) == NULL) {
		util_err(err, errlen, "out of memory");
		goto out;
	}
	if (sqlite3_open_v2(uri, &db, SQLITE_OPEN_READONLY |
	    SQLITE_OPEN_NOFOLLOW | SQLITE_OPEN_URI, NULL) != SQLITE_OK) {
		util_err(err, errlen, "store: open %s: %s", path,
		    db != NULL ? sqlite3_errmsg(db) : "out of memory");
		goto out;
	}
	sqlite3_busy_timeout(db, 5000);
	if (sqlite3_prepare_v2(db, "SELECT a.version, v.yaml FROM "
	    "register_active a JOIN register_versions v ON v.sha256 = "
	    "a.version WHERE a.id = 1", -1, &s, NULL) != SQLITE_OK) {
		/* A database from before migration 10 has no such table. */
		if (strstr(sqlite3_errmsg(db), "no such table") != NULL) {
			util_err(err, errlen, "the state database %s holds no "
			    "register versions", path);
			rc = STORE_NOTFOUND;
		} else
			util_err(err, errlen, "store: %s: %s", path,
			    sqlite3_errmsg(db));
		goto out;
	}
	step = sqlite3_step(s);
	if (step == SQLITE_DONE) {
		util_err(err, errlen, "the state database %s holds no approved "
		    "register version", path);
		rc = STORE_NOTFOUND;
		goto out;
	}
	if (step != SQLITE_ROW || rs_col(s, 0, sha, UTIL_SHA256_HEX + 1) != 0) {
		util_err(err, errlen, "store: %s: %s", path,
		    sqlite3_errmsg(db));
		goto out;
	}
	b = sqlite3_column_blob(s, 1);
	n = sqlite3_column_bytes(s, 1);
	if (b == NULL || n <= 0 || (*buf = malloc((size_t)n + 1)) == NULL) {
		util_err(err, errlen, "store: register version %s: no text "
		    "(or out of memory)", sha);
		goto out;
	}
	memcpy(*buf, b, (size_t)n);
	(*buf)[n] = '\0';
	*len = (size_t)n;
	rc = 0;
out:
	sqlite3_finalize(s);
	sqlite3_close(db);
	free(uri);
	return rc;
}
