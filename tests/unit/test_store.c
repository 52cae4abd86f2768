/*
 * Unit tests for broker/store.c: migrations, the transfers table and its
 * constraints, savepoints, iteration.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <sqlite3.h>

#include "broker/store.h"
#include "lib/util.h"

struct fixture {
	char dir[64];
	char db[128];
	struct store *st;
};

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sekisho-store-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/state.db", f->dir);
	if (store_open(f->db, &f->st, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
make_transfer(struct transfer *t, int64_t created)
{
	memset(t, 0, sizeof(*t));
	assert_int_equal(util_new_id(t->id), 0);
	strcpy(t->user, "yamada.taro");
	strcpy(t->dept, "somu");
	strcpy(t->terminal, "T-0001");
	memset(t->cert_fp, 'a', UTIL_SHA256_HEX);
	strcpy(t->interface, "jichitai-cloud");
	strcpy(t->name, "報告書 2026.pdf");
	strcpy(t->purpose, "monthly report");
	t->size = 1000;
	t->class = 2;
	strcpy(t->state, STORE_RECEIVING);
	t->created = created;
	t->updated = created;
}

static void
insert_ok(struct store *st, const struct transfer *t)
{
	char err[256];

	if (store_transfer_insert(st, t, err, sizeof(err)) != 0)
		fail_msg("insert: %s", err);
}

/* Raw SQL against the file, as an operator (or a newer binary) might. */
static void
raw_exec(const char *db, const char *sql)
{
	sqlite3 *h;

	assert_int_equal(sqlite3_open(db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_exec(h, sql, NULL, NULL, NULL), SQLITE_OK);
	sqlite3_close(h);
}

static void
test_fresh_db_and_reopen(void **state)
{
	struct fixture *f = *state;
	struct transfer t, got;
	char err[256];
	struct stat sb;
	sqlite3 *h;
	sqlite3_stmt *s;

	assert_int_equal(store_schema_version(f->st), STORE_SCHEMA_VERSION);
	assert_int_equal(stat(f->db, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	make_transfer(&t, 100);
	insert_ok(f->st, &t);
	store_close(f->st);
	f->st = NULL;

	/* The journal mode is persistent: another connection sees WAL. */
	assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
	assert_int_equal(sqlite3_prepare_v2(h, "PRAGMA journal_mode", -1, &s,
	    NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_string_equal((const char *)sqlite3_column_text(s, 0), "wal");
	sqlite3_finalize(s);
	assert_int_equal(sqlite3_prepare_v2(h, "SELECT count(*) FROM "
	    "schema_version", -1, &s, NULL), SQLITE_OK);
	assert_int_equal(sqlite3_step(s), SQLITE_ROW);
	assert_int_equal(sqlite3_column_int(s, 0), STORE_SCHEMA_VERSION);
	sqlite3_finalize(s);
	sqlite3_close(h);

	/* Reopening applies nothing twice and keeps the data. */
	assert_int_equal(store_open(f->db, &f->st, err, sizeof(err)), 0);
	assert_int_equal(store_schema_version(f->st), STORE_SCHEMA_VERSION);
	assert_int_equal(store_transfer_get(f->st, t.id, &got, err,
	    sizeof(err)), 0);
	assert_string_equal(got.id, t.id);
}

static void
test_newer_schema_refused(void **state)
{
	struct fixture *f = *state;
	struct store *st = NULL;
	char err[256], sql[128], want[32];

	store_close(f->st);
	f->st = NULL;
	snprintf(sql, sizeof(sql), "INSERT INTO schema_version (version, "
	    "applied) VALUES (%d, 0)", STORE_SCHEMA_VERSION + 1);
	raw_exec(f->db, sql);
	assert_int_equal(store_open(f->db, &st, err, sizeof(err)), -1);
	assert_null(st);
	assert_non_null(strstr(err, "newer"));
	snprintf(want, sizeof(want), "version %d", STORE_SCHEMA_VERSION + 1);
	assert_non_null(strstr(err, want));

	/* A gap in the version sequence is refused as well. */
	raw_exec(f->db, "DELETE FROM schema_version WHERE version = 1");
	assert_int_equal(store_open(f->db, &st, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "sequence"));
}

static void
test_loose_mode_tightened(void **state)
{
	struct fixture *f = *state;
	char path[160], err[256];
	struct store *st;
	struct stat sb;

	snprintf(path, sizeof(path), "%s/loose.db", f->dir);
	close(creat(path, 0644));
	assert_int_equal(chmod(path, 0644), 0);
	assert_int_equal(store_open(path, &st, err, sizeof(err)), 0);
	assert_int_equal(stat(path, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	store_close(st);
}

static void
test_insert_get_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct transfer t, got;
	char err[256];

	make_transfer(&t, 1700000000);
	memset(t.terminal, 0, sizeof(t.terminal));
	t.size = (uint64_t)INT64_MAX;
	t.received = 42;
	t.class = 3;
	insert_ok(f->st, &t);
	assert_int_equal(store_transfer_get(f->st, t.id, &got, err,
	    sizeof(err)), 0);
	assert_memory_equal(&got, &t, sizeof(t));

	/* Same id twice: the primary key refuses it. */
	assert_int_equal(store_transfer_insert(f->st, &t, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "UNIQUE"));

	/* Larger than SQLite's signed integers: refused before binding. */
	make_transfer(&t, 1);
	t.size = (uint64_t)INT64_MAX + 1;
	assert_int_equal(store_transfer_insert(f->st, &t, err, sizeof(err)),
	    -1);
}

static void
test_check_constraints(void **state)
{
	struct fixture *f = *state;
	struct transfer t, ok;
	char err[256];
	unsigned i;

	make_transfer(&ok, 1);

	for (i = 0; i < 11; i++) {
		t = ok;
		switch (i) {
		case 0: t.class = 0; break;
		case 1: t.class = 4; break;
		case 2: strcpy(t.state, "delivered"); break;
		case 3: strcpy(t.state, STORE_STORED); break;	/* no sha256 */
		case 4: strcpy(t.id, "0123456789ABCDEF0123456789ABCDEF"); break;
		case 5: strcpy(t.id, "short"); break;
		case 6: t.received = t.size + 1; break;
		case 7: t.user[0] = '\0'; break;
		case 8: strcpy(t.cert_fp, "abc"); break;
		case 9: memset(t.sha256, 'z', UTIL_SHA256_HEX); break;
		case 10: t.interface[0] = '\0'; break;
		}
		err[0] = '\0';
		if (store_transfer_insert(f->st, &t, err, sizeof(err)) != -1)
			fail_msg("case %u was accepted", i);
		assert_non_null(strstr(err, "CHECK constraint failed"));
	}
	/* Nothing of the above was stored. */
	assert_int_equal(store_transfer_get(f->st, ok.id, &t, err,
	    sizeof(err)), STORE_NOTFOUND);

	/* Lengths are bytes, as the C fields are sized: 22 characters of
	 * 3 bytes do not fit a 64-byte user even though 22 < 64. */
	{
		sqlite3 *h;
		int rc;

		assert_int_equal(sqlite3_open(f->db, &h), SQLITE_OK);
		rc = sqlite3_exec(h, "INSERT INTO transfers (id, user, dept, "
		    "cert_fp, interface, name, purpose, size, class, state, "
		    "created, updated) VALUES ("
		    "'0123456789abcdef0123456789abcdef', "
		    "'関所関所関所関所関所関所関所関所関所関所関所', 'd', "
		    "'aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',"
		    " 'i', 'n', 'p', 1, 1, 'receiving', 1, 1)", NULL, NULL,
		    NULL);
		assert_int_equal(rc & 0xff, SQLITE_CONSTRAINT);
		sqlite3_close(h);
	}

	insert_ok(f->st, &ok);
	assert_int_equal(store_transfer_set_state(f->st, ok.id, "bogus", NULL,
	    NULL, 2, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "CHECK constraint failed"));
	assert_int_equal(store_transfer_set_state(f->st, ok.id, STORE_STORED,
	    NULL, NULL, 2, err, sizeof(err)), -1);
	assert_int_equal(store_transfer_progress(f->st, ok.id, ok.size + 1, 2,
	    err, sizeof(err)), -1);
	assert_int_equal(store_transfer_get(f->st, ok.id, &t, err,
	    sizeof(err)), 0);
	assert_string_equal(t.state, STORE_RECEIVING);
	assert_int_equal(t.received, 0);
}

static void
test_progress_state_notfound(void **state)
{
	struct fixture *f = *state;
	struct transfer t, got;
	char err[256], missing[UTIL_ID_LEN + 1], sha[UTIL_SHA256_HEX + 1];

	make_transfer(&t, 10);
	insert_ok(f->st, &t);
	assert_int_equal(util_new_id(missing), 0);

	assert_int_equal(store_transfer_get(f->st, missing, &got, err,
	    sizeof(err)), STORE_NOTFOUND);
	assert_int_equal(store_transfer_progress(f->st, missing, 1, 11, err,
	    sizeof(err)), STORE_NOTFOUND);
	assert_int_equal(store_transfer_set_state(f->st, missing,
	    STORE_FAILED, NULL, "x", 11, err, sizeof(err)), STORE_NOTFOUND);

	assert_int_equal(store_transfer_progress(f->st, t.id, 512, 11, err,
	    sizeof(err)), 0);
	assert_int_equal(store_transfer_get(f->st, t.id, &got, err,
	    sizeof(err)), 0);
	assert_int_equal(got.received, 512);
	assert_int_equal(got.updated, 11);
	assert_int_equal(got.created, 10);

	memset(sha, 'c', UTIL_SHA256_HEX);
	sha[UTIL_SHA256_HEX] = '\0';
	assert_int_equal(store_transfer_set_state(f->st, t.id, STORE_STORED,
	    sha, NULL, 12, err, sizeof(err)), 0);
	assert_int_equal(store_transfer_get(f->st, t.id, &got, err,
	    sizeof(err)), 0);
	assert_string_equal(got.state, STORE_STORED);
	assert_string_equal(got.sha256, sha);
	assert_string_equal(got.error, "");
	assert_int_equal(got.updated, 12);

	/* Progress applies only to receiving transfers. */
	assert_int_equal(store_transfer_progress(f->st, t.id, 600, 13, err,
	    sizeof(err)), STORE_NOTFOUND);

	/* NULL leaves sha256 alone; error is set. */
	assert_int_equal(store_transfer_set_state(f->st, t.id, STORE_EXPIRED,
	    NULL, "partial_ttl passed", 14, err, sizeof(err)), 0);
	assert_int_equal(store_transfer_get(f->st, t.id, &got, err,
	    sizeof(err)), 0);
	assert_string_equal(got.state, STORE_EXPIRED);
	assert_string_equal(got.sha256, sha);
	assert_string_equal(got.error, "partial_ttl passed");
	assert_int_equal(got.received, 512);
}

static void
test_savepoints(void **state)
{
	struct fixture *f = *state;
	struct transfer a, b, c, got;
	char err[256];

	make_transfer(&a, 1);
	make_transfer(&b, 2);
	make_transfer(&c, 3);
	assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
	insert_ok(f->st, &a);
	assert_int_equal(store_savepoint(f->st, err, sizeof(err)), 0);
	insert_ok(f->st, &b);
	assert_int_equal(store_rollback_to(f->st), 0);
	assert_int_equal(store_savepoint(f->st, err, sizeof(err)), 0);
	insert_ok(f->st, &c);
	assert_int_equal(store_release(f->st, err, sizeof(err)), 0);
	assert_int_equal(store_commit(f->st, err, sizeof(err)), 0);

	assert_int_equal(store_transfer_get(f->st, a.id, &got, err,
	    sizeof(err)), 0);
	assert_int_equal(store_transfer_get(f->st, b.id, &got, err,
	    sizeof(err)), STORE_NOTFOUND);
	assert_int_equal(store_transfer_get(f->st, c.id, &got, err,
	    sizeof(err)), 0);

	/* A whole transaction rolled back leaves nothing. */
	assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
	insert_ok(f->st, &b);
	assert_int_equal(store_rollback(f->st), 0);
	assert_int_equal(store_transfer_get(f->st, b.id, &got, err,
	    sizeof(err)), STORE_NOTFOUND);
	assert_int_equal(store_rollback(f->st), 0);	/* nothing open */

	/* Savepoint misuse outside a transaction is reported. */
	assert_int_equal(store_release(f->st, err, sizeof(err)), -1);
	assert_int_equal(store_commit(f->st, err, sizeof(err)), -1);
}

struct each_ctx {
	struct store *st;
	int64_t last_created;
	int count;
	int stop_after;
	int fail_them;
};

static int
each_cb(const struct transfer *t, void *arg)
{
	struct each_ctx *c = arg;
	char err[256];

	assert_string_equal(t->state, STORE_RECEIVING);
	assert_true(t->created >= c->last_created);
	c->last_created = t->created;
	c->count++;
	if (c->fail_them)
		assert_int_equal(store_transfer_set_state(c->st, t->id,
		    STORE_FAILED, NULL, "recovery", 999, err, sizeof(err)), 0);
	return c->stop_after != 0 && c->count == c->stop_after;
}

static void
test_each(void **state)
{
	struct fixture *f = *state;
	struct each_ctx c;
	struct transfer t;
	char err[256];
	int i;

	/* 150 receiving rows (more than a page), created in reverse order,
	 * updated 0..149; 5 stored rows that must not be visited. */
	for (i = 0; i < 150; i++) {
		make_transfer(&t, 1000 - i / 2);	/* ties in created */
		t.updated = i;
		insert_ok(f->st, &t);
	}
	for (i = 0; i < 5; i++) {
		make_transfer(&t, 5);
		strcpy(t.state, STORE_STORED);
		memset(t.sha256, 'b', UTIL_SHA256_HEX);
		insert_ok(f->st, &t);
	}

	memset(&c, 0, sizeof(c));
	c.st = f->st;
	c.last_created = INT64_MIN;
	assert_int_equal(store_transfer_each(f->st, STORE_RECEIVING, 0,
	    each_cb, &c, err, sizeof(err)), 0);
	assert_int_equal(c.count, 150);

	memset(&c, 0, sizeof(c));
	c.last_created = INT64_MIN;
	assert_int_equal(store_transfer_each(f->st, STORE_RECEIVING, 100,
	    each_cb, &c, err, sizeof(err)), 0);
	assert_int_equal(c.count, 100);

	memset(&c, 0, sizeof(c));
	c.last_created = INT64_MIN;
	c.stop_after = 70;
	assert_int_equal(store_transfer_each(f->st, STORE_RECEIVING, 0,
	    each_cb, &c, err, sizeof(err)), 0);
	assert_int_equal(c.count, 70);

	/* The callback may change the rows it is given. */
	memset(&c, 0, sizeof(c));
	c.st = f->st;
	c.last_created = INT64_MIN;
	c.fail_them = 1;
	assert_int_equal(store_transfer_each(f->st, STORE_RECEIVING, 0,
	    each_cb, &c, err, sizeof(err)), 0);
	assert_int_equal(c.count, 150);
	memset(&c, 0, sizeof(c));
	c.last_created = INT64_MIN;
	assert_int_equal(store_transfer_each(f->st, STORE_RECEIVING, 0,
	    each_cb, &c, err, sizeof(err)), 0);
	assert_int_equal(c.count, 0);
}

/* The owner's list is newest first, paged by (created, id), and only the
 * owner's; withdraw moves only receiving or held transfers of the owner. */
static void
test_list_own_and_withdraw(void **state)
{
	struct fixture *f = *state;
	struct transfer t[5], other, *out, got;
	char err[256];
	size_t n, i;

	out = calloc(8, sizeof(*out));
	assert_non_null(out);
	for (i = 0; i < 5; i++) {
		make_transfer(&t[i], 1000 + (int64_t)(i / 2));
		insert_ok(f->st, &t[i]);
	}
	make_transfer(&other, 5000);
	strcpy(other.user, "suzuki.hanako");
	insert_ok(f->st, &other);

	assert_int_equal(store_transfer_list_own(f->st, "yamada.taro", 0,
	    NULL, out, 8, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 5);
	for (i = 1; i < n; i++)
		assert_true(out[i - 1].created > out[i].created ||
		    (out[i - 1].created == out[i].created &&
		    strcmp(out[i - 1].id, out[i].id) > 0));
	assert_int_equal(out[0].created, 1002);
	/* The page after the second row holds the last three. */
	memcpy(&got, &out[1], sizeof(got));
	assert_int_equal(store_transfer_list_own(f->st, "yamada.taro",
	    got.created, got.id, out, 8, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++)
		assert_true(out[i].created < got.created ||
		    (out[i].created == got.created &&
		    strcmp(out[i].id, got.id) < 0));
	assert_int_equal(store_transfer_list_own(f->st, "yamada.taro", 0,
	    NULL, out, 2, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_int_equal(store_transfer_list_own(f->st, "nobody", 0, NULL,
	    out, 8, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);

	/* Not the owner, then the owner; a second time finds nothing. */
	assert_int_equal(store_transfer_withdraw(f->st, t[0].id,
	    "suzuki.hanako", "x", 2000, err, sizeof(err)), STORE_NOTFOUND);
	assert_int_equal(store_transfer_withdraw(f->st, t[0].id,
	    "yamada.taro", "withdrawn by its owner", 2000, err, sizeof(err)),
	    0);
	assert_int_equal(store_transfer_get(f->st, t[0].id, &got, err,
	    sizeof(err)), 0);
	assert_string_equal(got.state, STORE_WITHDRAWN);
	assert_string_equal(got.error, "withdrawn by its owner");
	assert_int_equal(got.updated, 2000);
	assert_int_equal(store_transfer_withdraw(f->st, t[0].id,
	    "yamada.taro", "x", 2001, err, sizeof(err)), STORE_NOTFOUND);
	/* Stored: released for delivery, not withdrawable. */
	assert_int_equal(store_transfer_set_state(f->st, t[1].id,
	    STORE_STORED, "0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef", NULL, 2000, err, sizeof(err)), 0);
	assert_int_equal(store_transfer_withdraw(f->st, t[1].id,
	    "yamada.taro", "x", 2001, err, sizeof(err)), STORE_NOTFOUND);
	assert_int_equal(store_transfer_set_state(f->st, t[2].id,
	    STORE_HELD, "0123456789abcdef0123456789abcdef0123456789abcdef"
	    "0123456789abcdef", NULL, 2000, err, sizeof(err)), 0);
	assert_int_equal(store_transfer_withdraw(f->st, t[2].id,
	    "yamada.taro", "x", 2001, err, sizeof(err)), 0);
	free(out);
}

/* Migration 9 rebuilds transfers and approval_requests while other tables
 * refer to them: the rows and the references survive, and foreign keys
 * are enforced again afterwards. */
static void
test_migration_9_with_references(void **state)
{
	struct fixture *f = *state;
	struct transfer t, got;
	struct store_approval a, ga;
	struct store_vote v;
	char err[256];
	size_t n;
	struct store_vote votes[2];

	make_transfer(&t, 1000);
	strcpy(t.state, STORE_STORED);
	memset(t.sha256, 'b', UTIL_SHA256_HEX);
	insert_ok(f->st, &t);
	memset(&a, 0, sizeof(a));
	strcpy(a.transfer, t.id);
	strcpy(a.interface, t.interface);
	strcpy(a.user, t.user);
	strcpy(a.approvers, "approvers");
	a.required = 2;
	strcpy(a.state, STORE_AP_PENDING);
	a.created = 1000;
	a.expires = 9000;
	assert_int_equal(store_approval_insert(f->st, &a, err, sizeof(err)),
	    0);
	memset(&v, 0, sizeof(v));
	strcpy(v.transfer, t.id);
	strcpy(v.officer, "sato");
	memset(v.cert_fp, 'c', UTIL_SHA256_HEX);
	v.approve = 1;
	v.at = 1100;
	assert_int_equal(store_vote_insert(f->st, &v, err, sizeof(err)), 0);
	assert_int_equal(store_upload_set(f->st, t.id, "https://s3/x", "up-1",
	    1200, err, sizeof(err)), 0);
	store_close(f->st);
	f->st = NULL;
	/* As if migration 9 had not run yet. */
	raw_exec(f->db, "DROP TABLE register_active; DROP TABLE register_votes;"
	    " DROP TABLE register_versions;"
	    " DELETE FROM schema_version WHERE version >= 9");

	if (store_open(f->db, &f->st, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	assert_int_equal(store_schema_version(f->st), STORE_SCHEMA_VERSION);
	assert_int_equal(store_transfer_get(f->st, t.id, &got, err,
	    sizeof(err)), 0);
	assert_string_equal(got.name, t.name);
	assert_int_equal(store_approval_get(f->st, t.id, &ga, err,
	    sizeof(err)), 0);
	assert_int_equal(ga.approvals, 1);
	assert_int_equal(store_vote_list(f->st, t.id, votes, 2, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 1);
	/* The new states are accepted... */
	assert_int_equal(store_approval_close(f->st, t.id, STORE_AP_WITHDRAWN,
	    "yamada.taro", "r", 1300, err, sizeof(err)), 0);
	assert_int_equal(store_transfer_set_state(f->st, t.id,
	    STORE_WITHDRAWN, NULL, "w", 1300, err, sizeof(err)), 0);
	/* ...and references are checked again. */
	strcpy(v.transfer, "00000000000000000000000000000000");
	assert_int_equal(store_vote_insert(f->st, &v, err, sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_fresh_db_and_reopen,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_newer_schema_refused,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_loose_mode_tightened,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_get_roundtrip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_check_constraints,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_progress_state_notfound,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_savepoints, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_each, setup, teardown),
		cmocka_unit_test_setup_teardown(test_list_own_and_withdraw,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_migration_9_with_references, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
