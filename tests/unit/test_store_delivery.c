/*
 * Tests for the delivery part of broker/store (migration 2): the table
 * rebuild keeps existing transfers, and the delivery steps move a
 * transfer only forwards (stored -> queued -> forwarding -> queued |
 * delivered | failed), record the upstream result, and find spool copies
 * whose retention has passed.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <cmocka.h>

#include <sqlite3.h>

#include "broker/store.h"

#define ID1 "11111111111111111111111111111111"
#define ID2 "22222222222222222222222222222222"
#define FP "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define SHA "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
#define SPKI "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"

struct fx {
	char dir[64];
	char path[128];
	struct store *st;
};

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));

	snprintf(f->dir, sizeof(f->dir), "/tmp/sekisho-sd-XXXXXX");
	if (mkdtemp(f->dir) == NULL)
		return -1;
	snprintf(f->path, sizeof(f->path), "%s/state.db", f->dir);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char p[200];

	store_close(f->st);
	snprintf(p, sizeof(p), "%s-wal", f->path);
	unlink(p);
	snprintf(p, sizeof(p), "%s-shm", f->path);
	unlink(p);
	unlink(f->path);
	rmdir(f->dir);
	free(f);
	return 0;
}

static void
stored_transfer(struct store *st, const char *id, int64_t now)
{
	struct transfer t;
	char err[256];

	memset(&t, 0, sizeof(t));
	snprintf(t.id, sizeof(t.id), "%s", id);
	snprintf(t.user, sizeof(t.user), "alice");
	snprintf(t.dept, sizeof(t.dept), "soumu");
	snprintf(t.cert_fp, sizeof(t.cert_fp), FP);
	snprintf(t.interface, sizeof(t.interface), "IF-1");
	snprintf(t.name, sizeof(t.name), "a.pdf");
	snprintf(t.state, sizeof(t.state), STORE_RECEIVING);
	t.size = 10;
	t.class = 1;
	t.created = t.updated = now;
	assert_int_equal(store_transfer_insert(st, &t, err, sizeof(err)), 0);
	assert_int_equal(store_transfer_progress(st, id, 10, now, err,
	    sizeof(err)), 0);
	assert_int_equal(store_transfer_set_state(st, id, STORE_STORED, SHA,
	    NULL, now, err, sizeof(err)), 0);
}

static void
test_delivery_steps(void **state)
{
	struct fx *f = *state;
	struct store_upstream u;
	struct transfer t;
	char err[256];

	assert_int_equal(store_open(f->path, &f->st, err, sizeof(err)), 0);
	stored_transfer(f->st, ID1, 1000);

	/* An attempt needs a queued transfer. */
	assert_int_equal(store_transfer_attempt(f->st, ID1, "https://x/a",
	    1001, err, sizeof(err)), STORE_NOTFOUND);
	assert_int_equal(store_transfer_queue(f->st, ID1, 1002, err,
	    sizeof(err)), 0);
	assert_int_equal(store_transfer_queue(f->st, ID1, 1003, err,
	    sizeof(err)), 0);
	assert_int_equal(store_transfer_get(f->st, ID1, &t, err, sizeof(err)),
	    0);
	assert_string_equal(t.state, STORE_QUEUED);
	assert_int_equal(t.queued_at, 1002);	/* the first time counts */
	assert_int_equal(t.attempts, 0);

	assert_int_equal(store_transfer_attempt(f->st, ID1, "https://x/a",
	    1004, err, sizeof(err)), 0);
	memset(&u, 0, sizeof(u));
	u.status = 503;
	u.bytes = 7;
	u.duration_ms = 12;
	u.spki = SPKI;
	assert_int_equal(store_transfer_attempt_end(f->st, ID1, STORE_QUEUED,
	    &u, 1010, "put: the service answered HTTP 503", NULL, 0, 1005,
	    err, sizeof(err)), 0);
	assert_int_equal(store_transfer_get(f->st, ID1, &t, err, sizeof(err)),
	    0);
	assert_string_equal(t.state, STORE_QUEUED);
	assert_int_equal(t.attempts, 1);
	assert_int_equal(t.next_attempt_at, 1010);
	assert_string_equal(t.last_error, "put: the service answered HTTP 503");
	assert_string_equal(t.destination, "https://x/a");
	assert_int_equal(t.upstream_status, 503);
	assert_string_equal(t.upstream_spki, SPKI);

	assert_int_equal(store_transfer_attempt(f->st, ID1, "https://x/a",
	    1011, err, sizeof(err)), 0);
	memset(&u, 0, sizeof(u));
	u.status = 201;
	u.etag = "\"e\"";
	u.version = "v9";
	u.bytes = 10;
	u.duration_ms = 3;
	assert_int_equal(store_transfer_attempt_end(f->st, ID1,
	    STORE_DELIVERED, &u, 0, NULL, NULL, 1012, 1012, err,
	    sizeof(err)), 0);
	assert_int_equal(store_transfer_get(f->st, ID1, &t, err, sizeof(err)),
	    0);
	assert_string_equal(t.state, STORE_DELIVERED);
	assert_int_equal(t.attempts, 2);
	assert_string_equal(t.upstream_etag, "\"e\"");
	assert_string_equal(t.upstream_version, "v9");
	assert_int_equal(t.upstream_bytes, 10);
	assert_int_equal(t.spool_until, 1012);
	/* The last error stays for the record; the SPKI was unknown. */
	assert_string_equal(t.last_error, "put: the service answered HTTP 503");
	assert_string_equal(t.upstream_spki, "");

	/* Never backwards. */
	assert_int_equal(store_transfer_queue(f->st, ID1, 1013, err,
	    sizeof(err)), STORE_NOTFOUND);
	assert_int_equal(store_transfer_attempt(f->st, ID1, "x", 1013, err,
	    sizeof(err)), STORE_NOTFOUND);
	assert_int_equal(store_transfer_attempt_end(f->st, ID1, STORE_FAILED,
	    NULL, 0, NULL, "late", 0, 1013, err, sizeof(err)),
	    STORE_NOTFOUND);
	/* A malformed SPKI is refused by the schema. */
	stored_transfer(f->st, ID2, 2000);
	assert_int_equal(store_transfer_queue(f->st, ID2, 2001, err,
	    sizeof(err)), 0);
	memset(&u, 0, sizeof(u));
	u.spki = "not hex";
	assert_int_equal(store_transfer_attempt_end(f->st, ID2, STORE_FAILED,
	    &u, 0, NULL, "x", 0, 2002, err, sizeof(err)), -1);
	/* A state outside the list is refused too. */
	assert_int_equal(store_transfer_attempt_end(f->st, ID2, "sent", NULL,
	    0, NULL, NULL, 0, 2002, err, sizeof(err)), -1);
}

static int
count_id(const char *id, void *arg)
{
	int *n = arg;

	(void)id;
	(*n)++;
	return 0;
}

static void
test_spool_due(void **state)
{
	struct fx *f = *state;
	char err[256];
	int n;

	assert_int_equal(store_open(f->path, &f->st, err, sizeof(err)), 0);
	stored_transfer(f->st, ID1, 1000);
	stored_transfer(f->st, ID2, 1000);
	store_transfer_queue(f->st, ID1, 1001, err, sizeof(err));
	store_transfer_queue(f->st, ID2, 1001, err, sizeof(err));
	assert_int_equal(store_transfer_attempt_end(f->st, ID1,
	    STORE_DELIVERED, NULL, 0, NULL, NULL, 1100, 1002, err,
	    sizeof(err)), 0);
	assert_int_equal(store_transfer_attempt_end(f->st, ID2, STORE_FAILED,
	    NULL, 0, NULL, "gave up", 5000, 1002, err, sizeof(err)), 0);
	n = 0;
	assert_int_equal(store_transfer_each_spool_due(f->st, 1099, count_id,
	    &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	n = 0;
	store_transfer_each_spool_due(f->st, 1100, count_id, &n, err,
	    sizeof(err));
	assert_int_equal(n, 1);
	n = 0;
	store_transfer_each_spool_due(f->st, 9999, count_id, &n, err,
	    sizeof(err));
	assert_int_equal(n, 2);
	assert_int_equal(store_transfer_spool_released(f->st, ID1, err,
	    sizeof(err)), 0);
	n = 0;
	store_transfer_each_spool_due(f->st, 9999, count_id, &n, err,
	    sizeof(err));
	assert_int_equal(n, 1);
}

static void
test_open_uploads(void **state)
{
	struct fx *f = *state;
	char err[256], url[STORE_MAX_DEST + 1], id[STORE_MAX_UPLOAD_ID + 1];
	char big[STORE_MAX_UPLOAD_ID + 2];

	assert_int_equal(store_open(f->path, &f->st, err, sizeof(err)), 0);
	stored_transfer(f->st, ID1, 1000);
	assert_int_equal(store_upload_get(f->st, ID1, url, sizeof(url), id,
	    sizeof(id), err, sizeof(err)), 1);
	assert_int_equal(store_upload_set(f->st, ID1, "https://s3/b/k", "u-1",
	    1001, err, sizeof(err)), 0);
	/* A new upload replaces the old one: one per transfer. */
	assert_int_equal(store_upload_set(f->st, ID1, "https://s3/b/k", "u-2",
	    1002, err, sizeof(err)), 0);
	assert_int_equal(store_upload_get(f->st, ID1, url, sizeof(url), id,
	    sizeof(id), err, sizeof(err)), 0);
	assert_string_equal(url, "https://s3/b/k");
	assert_string_equal(id, "u-2");
	/* Forgetting an older id leaves the newer one. */
	assert_int_equal(store_upload_forget(f->st, ID1, "u-1", err,
	    sizeof(err)), 0);
	assert_int_equal(store_upload_get(f->st, ID1, url, sizeof(url), id,
	    sizeof(id), err, sizeof(err)), 0);
	assert_int_equal(store_upload_forget(f->st, ID1, NULL, err,
	    sizeof(err)), 0);
	assert_int_equal(store_upload_get(f->st, ID1, url, sizeof(url), id,
	    sizeof(id), err, sizeof(err)), 1);
	/* Bounds, and only for a transfer that exists. */
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(store_upload_set(f->st, ID1, "https://s3/b/k", big,
	    1003, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "too long"));
	assert_int_equal(store_upload_set(f->st, ID1, "", "u", 1003, err,
	    sizeof(err)), -1);
	assert_int_equal(store_upload_set(f->st, ID2, "https://s3/b/k", "u",
	    1003, err, sizeof(err)), -1);
	assert_int_equal(store_upload_get(f->st, ID2, url, sizeof(url), id,
	    sizeof(id), err, sizeof(err)), 1);
}

struct counts {
	char states[4][16];
	uint64_t n[4];
	size_t len;
};

static void
add_count(const char *state, uint64_t n, void *arg)
{
	struct counts *c = arg;

	assert_true(c->len < 4);
	snprintf(c->states[c->len], sizeof(c->states[0]), "%s", state);
	c->n[c->len++] = n;
}

static void
test_count_states(void **state)
{
	struct fx *f = *state;
	struct counts c;
	char err[256];

	assert_int_equal(store_open(f->path, &f->st, err, sizeof(err)), 0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_transfer_count_states(f->st, add_count, &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c.len, 0);
	stored_transfer(f->st, ID1, 1000);
	stored_transfer(f->st, ID2, 1000);
	store_transfer_queue(f->st, ID2, 1001, err, sizeof(err));
	memset(&c, 0, sizeof(c));
	assert_int_equal(store_transfer_count_states(f->st, add_count, &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c.len, 2);
	assert_string_equal(c.states[0], STORE_QUEUED);
	assert_int_equal(c.n[0], 1);
	assert_string_equal(c.states[1], STORE_STORED);
	assert_int_equal(c.n[1], 1);
}

static void
test_migration_keeps_rows(void **state)
{
	struct fx *f = *state;
	struct transfer t;
	sqlite3 *db;
	char err[256];

	/* A database as migration 1 left it, with one stored transfer. */
	assert_int_equal(sqlite3_open(f->path, &db), SQLITE_OK);
	assert_int_equal(sqlite3_exec(db,
	    "CREATE TABLE schema_version (version INTEGER PRIMARY KEY NOT NULL,"
	    " applied INTEGER NOT NULL) STRICT;"
	    "INSERT INTO schema_version VALUES (1, 0);"
	    "CREATE TABLE transfers (id TEXT PRIMARY KEY NOT NULL, user TEXT"
	    " NOT NULL, dept TEXT NOT NULL, terminal TEXT NOT NULL DEFAULT '',"
	    " cert_fp TEXT NOT NULL, interface TEXT NOT NULL, name TEXT NOT"
	    " NULL, purpose TEXT NOT NULL, size INTEGER NOT NULL, class INTEGER"
	    " NOT NULL, state TEXT NOT NULL CHECK (state IN ('receiving',"
	    " 'stored', 'failed', 'expired')), received INTEGER NOT NULL"
	    " DEFAULT 0, sha256 TEXT NOT NULL DEFAULT '', error TEXT NOT NULL"
	    " DEFAULT '', created INTEGER NOT NULL, updated INTEGER NOT NULL)"
	    " STRICT;"
	    "CREATE INDEX transfers_state_updated ON transfers (state, updated);"
	    "CREATE INDEX transfers_user ON transfers (user);"
	    "INSERT INTO transfers VALUES ('" ID1 "', 'alice', 'soumu', 'T1', '"
	    FP "', 'IF-1', '報告.pdf', 'p', 10, 2, 'stored', 10, '" SHA "', '',"
	    " 100, 200);", NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(db);

	assert_int_equal(store_open(f->path, &f->st, err, sizeof(err)), 0);
	assert_int_equal(store_schema_version(f->st), STORE_SCHEMA_VERSION);
	assert_int_equal(store_transfer_get(f->st, ID1, &t, err, sizeof(err)),
	    0);
	assert_string_equal(t.state, STORE_STORED);
	assert_string_equal(t.name, "報告.pdf");
	assert_string_equal(t.terminal, "T1");
	assert_string_equal(t.sha256, SHA);
	assert_int_equal(t.class, 2);
	assert_int_equal(t.created, 100);
	assert_int_equal(t.attempts, 0);
	assert_int_equal(t.spool_until, 0);
	/* And it can now be delivered. */
	assert_int_equal(store_transfer_queue(f->st, ID1, 300, err,
	    sizeof(err)), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_delivery_steps, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_spool_due, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_count_states, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_open_uploads, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_migration_keeps_rows, setup,
		    teardown),
	};

	return cmocka_run_group_tests_name("store_delivery", tests, NULL,
	    NULL);
}
