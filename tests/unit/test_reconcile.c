/*
 * Tests for broker/reconcile: a real trail (broker/audit), state store and
 * spool. Stories the state lost are counted and rebuilt (the spool copy
 * checked by SHA-256); stories the trail finished but the state did not,
 * accepts whose row never committed and stories with a repeated outcome
 * get exactly one compensating "reconcile" record, and a second pass finds
 * nothing more to do.
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

#include <openssl/evp.h>

#include "broker/audit.h"
#include "broker/reconcile.h"
#include "broker/spool.h"
#include "broker/store.h"
#include "lib/auditfmt.h"
#include "lib/util.h"

#define FP "ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff"
#define LOST "11111111111111111111111111111111"	/* stored, row lost */
#define AHEAD "22222222222222222222222222222222"	/* delivered, row queued */
#define NOROW "33333333333333333333333333333333"	/* accept only, no row */
#define TWICE "44444444444444444444444444444444"	/* delivered twice */
#define BAD "55555555555555555555555555555555"	/* stored, copy altered */
#define DONE "66666666666666666666666666666666"	/* delivered, no row */
#define THRICE "77777777777777777777777777777777"	/* delivered 3 times */
#define PRUNED "88888888888888888888888888888888"	/* stored, no accept */
#define WDRAWN "99999999999999999999999999999999"	/* withdrawn, no row */

static const char content[] = "the file's bytes";

struct fx {
	char dir[64];
	struct audit *a;
	struct store *st;
	struct spool *sp;
	uint8_t sha[32];
	uint64_t seq_first_delivered;	/* TWICE */
	uint64_t seq_ahead_delivered;	/* AHEAD */
	uint64_t seq_norow_accept;
};

static void
append(struct fx *f, const char *type, const char *id, int kind)
{
	struct audit_kv kv[6];
	struct audit_event ev;
	char err[256];
	size_t n = 0;

	memset(&ev, 0, sizeof(ev));
	memset(kv, 0, sizeof(kv));
	ev.type = type;
	ev.user = "alice";
	ev.dept = "soumu";
	ev.cert_fp = FP;
	ev.transfer = id;
	ev.interface = "IF-1";
	if (kind == 'a') {
		kv[n].key = "name"; kv[n].type = AUDIT_TEXT; kv[n++].text = "a.pdf";
		kv[n].key = "size"; kv[n].type = AUDIT_UINT;
		kv[n++].u = sizeof(content) - 1;
		kv[n].key = "class"; kv[n].type = AUDIT_UINT; kv[n++].u = 1;
		kv[n].key = "purpose"; kv[n].type = AUDIT_TEXT;
		kv[n++].text = "test";
	} else if (kind == 's') {
		kv[n].key = "size"; kv[n].type = AUDIT_UINT;
		kv[n++].u = sizeof(content) - 1;
		kv[n].key = "sha256"; kv[n].type = AUDIT_BYTES;
		kv[n].bytes = f->sha; kv[n++].len = 32;
	}
	ev.details = kv;
	ev.ndetails = n;
	assert_int_equal(audit_append(f->a, time(NULL), &ev, err,
	    sizeof(err)), 0);
}

static void
spool_file(struct fx *f, const char *id, const char *bytes)
{
	char err[256];
	int fd;

	assert_int_equal(spool_create(f->sp, id, &fd, err, sizeof(err)), 0);
	assert_int_equal(write(fd, bytes, strlen(bytes)),
	    (ssize_t)strlen(bytes));
	assert_int_equal(spool_commit(f->sp, id, fd, err, sizeof(err)), 0);
	close(fd);
}

static void
row(struct fx *f, const char *id, const char *state)
{
	struct transfer t;
	char err[256];

	memset(&t, 0, sizeof(t));
	util_strlcpy(t.id, id, sizeof(t.id));
	util_strlcpy(t.user, "alice", sizeof(t.user));
	util_strlcpy(t.dept, "soumu", sizeof(t.dept));
	util_strlcpy(t.cert_fp, FP, sizeof(t.cert_fp));
	util_strlcpy(t.interface, "IF-1", sizeof(t.interface));
	util_strlcpy(t.name, "a.pdf", sizeof(t.name));
	util_strlcpy(t.state, state, sizeof(t.state));
	t.size = t.received = sizeof(content) - 1;
	t.class = 1;
	util_hex(f->sha, 32, t.sha256);
	t.created = t.updated = time(NULL);
	assert_int_equal(store_transfer_insert(f->st, &t, err, sizeof(err)),
	    0);
}

static int
setup(void **state)
{
	struct fx *f = calloc(1, sizeof(*f));
	char p[128], err[256];
	unsigned int n = 32;

	snprintf(f->dir, sizeof(f->dir), "/tmp/sekisho-rc-XXXXXX");
	if (f == NULL || mkdtemp(f->dir) == NULL)
		return -1;
	EVP_Digest(content, sizeof(content) - 1, f->sha, &n, EVP_sha256(),
	    NULL);
	snprintf(p, sizeof(p), "%s/audit", f->dir);
	if (audit_open(p, &f->a, NULL, err, sizeof(err)) != 0)
		return -1;
	snprintf(p, sizeof(p), "%s/state.db", f->dir);
	if (store_open(p, &f->st, err, sizeof(err)) != 0)
		return -1;
	snprintf(p, sizeof(p), "%s/spool", f->dir);
	if (spool_open(p, &f->sp, err, sizeof(err)) != 0)
		return -1;

	append(f, "accept", LOST, 'a');
	append(f, "stored", LOST, 's');
	spool_file(f, LOST, content);

	append(f, "accept", AHEAD, 'a');
	append(f, "stored", AHEAD, 's');
	f->seq_ahead_delivered = audit_next_seq(f->a);
	append(f, "delivered", AHEAD, 0);
	row(f, AHEAD, STORE_QUEUED);

	f->seq_norow_accept = audit_next_seq(f->a);
	append(f, "accept", NOROW, 'a');

	append(f, "accept", TWICE, 'a');
	append(f, "stored", TWICE, 's');
	f->seq_first_delivered = audit_next_seq(f->a);
	append(f, "delivered", TWICE, 0);
	append(f, "delivered", TWICE, 0);
	row(f, TWICE, STORE_DELIVERED);

	append(f, "accept", BAD, 'a');
	append(f, "stored", BAD, 's');
	spool_file(f, BAD, "the file's bytez");

	append(f, "accept", DONE, 'a');
	append(f, "stored", DONE, 's');
	append(f, "delivered", DONE, 0);

	/* Held, then withdrawn by its owner: finished, not lost. */
	append(f, "accept", WDRAWN, 'a');
	append(f, "stored", WDRAWN, 's');
	append(f, "withdrawn", WDRAWN, 0);
	if (audit_sync(f->a, err, sizeof(err)) != 0)
		return -1;
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;
	char cmd[128];

	audit_close(f->a);
	store_close(f->st);
	spool_close(f->sp);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", f->dir);
	if (system(cmd) != 0)
		return -1;
	free(f);
	return 0;
}

/* Counts records of a type (the last one decoded) in the synced trail. */
static size_t
count(struct fx *f, const char *type, struct auditfmt_record *last)
{
	static uint8_t buf[4 * AUDIT_MAX_RECORD];
	struct audit_cursor c;
	struct auditfmt_record *r = malloc(sizeof(*r));
	char err[256];
	uint64_t got;
	size_t len, off, n = 0;

	assert_non_null(r);
	assert_int_equal(audit_seek(f->a, 0, &c, err, sizeof(err)), 0);
	while (c.seq < audit_synced_seq(f->a)) {
		assert_int_equal(audit_read(f->a, &c, audit_synced_seq(f->a),
		    64, buf, sizeof(buf), &len, &got, err, sizeof(err)), 0);
		for (off = 0; off < len; off += r->len) {
			struct auditfmt_head h;

			assert_int_equal(auditfmt_walk(buf + off, len - off,
			    &h), AUDITFMT_OK);
			assert_int_equal(auditfmt_decode(buf + off, h.len, r,
			    err, sizeof(err)), 0);
			if (r->type.len == strlen(type) &&
			    memcmp(r->type.p, type, r->type.len) == 0) {
				n++;
				if (last != NULL)
					*last = *r;
			}
		}
	}
	free(r);
	return n;
}

static uint64_t
detail_u(const struct auditfmt_record *r, const char *key)
{
	size_t i;

	for (i = 0; i < r->ndetails; i++)
		if (r->details[i].key.len == strlen(key) &&
		    memcmp(r->details[i].key.p, key, strlen(key)) == 0)
			return r->details[i].u;
	fail_msg("no detail %s", key);
	return 0;
}

static void
test_lost_and_rebuilt(void **state)
{
	struct fx *f = *state;
	struct reconcile *r;
	struct transfer t;
	char err[1024];
	long failed = -1;

	assert_int_equal(reconcile_scan(f->a, &r, err, sizeof(err)), 0);
	/* LOST and BAD are stored and unfinished without rows; DONE
	 * finished, NOROW was never stored. */
	assert_int_equal(reconcile_lost(r, f->st, err, sizeof(err)), 2);
	assert_non_null(strstr(err, "lost 2 transfers"));
	assert_non_null(strstr(err, "--recover-state"));
	assert_int_equal(reconcile_rebuild(r, f->st, f->a, f->sp, 3600,
	    time(NULL), &failed, err, sizeof(err)), 2);
	assert_int_equal(failed, 1);
	reconcile_free(r);

	assert_int_equal(store_transfer_get(f->st, LOST, &t, err,
	    sizeof(err)), 0);
	assert_string_equal(t.state, STORE_STORED);
	assert_string_equal(t.name, "a.pdf");
	assert_string_equal(t.purpose, "test");
	assert_int_equal(t.size, sizeof(content) - 1);
	assert_int_equal(store_transfer_get(f->st, BAD, &t, err,
	    sizeof(err)), 0);
	assert_string_equal(t.state, STORE_FAILED);
	assert_non_null(strstr(t.error, "SHA-256"));
	assert_int_equal(store_transfer_get(f->st, DONE, &t, err,
	    sizeof(err)), STORE_NOTFOUND);
	assert_int_equal(count(f, "state_rebuilt", NULL), 2);

	/* Nothing is lost any more. */
	assert_int_equal(reconcile_scan(f->a, &r, err, sizeof(err)), 0);
	assert_int_equal(reconcile_lost(r, f->st, err, sizeof(err)), 0);
	reconcile_free(r);
}

static void
test_compensated_once(void **state)
{
	struct fx *f = *state;
	struct reconcile *r;
	char err[1024];
	uint64_t voided[3];
	size_t i, n = 0;

	assert_int_equal(reconcile_scan(f->a, &r, err, sizeof(err)), 0);
	/* AHEAD (delivered, row queued), NOROW (accept, no row) and TWICE
	 * (two outcomes). */
	assert_int_equal(reconcile_compensate(r, f->st, f->a, time(NULL), err,
	    sizeof(err)), 3);
	reconcile_free(r);
	{
		struct audit_cursor c;
		static uint8_t buf[4 * AUDIT_MAX_RECORD];
		struct auditfmt_record *rec = malloc(sizeof(*rec));
		uint64_t got;
		size_t len, off;

		assert_non_null(rec);
		assert_int_equal(audit_seek(f->a, 0, &c, err, sizeof(err)), 0);
		assert_int_equal(audit_read(f->a, &c, audit_synced_seq(f->a),
		    1000, buf, sizeof(buf), &len, &got, err, sizeof(err)), 0);
		for (off = 0; off < len; off += rec->len) {
			struct auditfmt_head h;

			assert_int_equal(auditfmt_walk(buf + off, len - off,
			    &h), AUDITFMT_OK);
			assert_int_equal(auditfmt_decode(buf + off, h.len, rec,
			    err, sizeof(err)), 0);
			if (rec->type.len == 9 &&
			    memcmp(rec->type.p, "reconcile", 9) == 0) {
				assert_true(n < 3);
				voided[n++] = detail_u(rec, "void_seq");
			}
		}
		free(rec);
	}
	assert_int_equal(n, 3);
	for (i = 0; i < n; i++)
		assert_true(voided[i] == f->seq_ahead_delivered ||
		    voided[i] == f->seq_norow_accept ||
		    voided[i] == f->seq_first_delivered);
	assert_true(voided[0] != voided[1] && voided[1] != voided[2] &&
	    voided[0] != voided[2]);

	/* The stories are consistent now: nothing more to write. */
	assert_int_equal(reconcile_scan(f->a, &r, err, sizeof(err)), 0);
	assert_int_equal(reconcile_compensate(r, f->st, f->a, time(NULL), err,
	    sizeof(err)), 0);
	reconcile_free(r);
}

/* Three outcome records: both earlier ones are voided, the last stands. */
static void
test_three_outcomes(void **state)
{
	struct fx *f = *state;
	struct reconcile *r;
	static uint8_t buf[4 * AUDIT_MAX_RECORD];
	struct auditfmt_record *rec = malloc(sizeof(*rec));
	struct audit_cursor c;
	char err[1024];
	uint64_t d[3], got, v, voided[4];
	size_t len, off, n = 0;
	int i;

	assert_non_null(rec);
	append(f, "accept", THRICE, 'a');
	append(f, "stored", THRICE, 's');
	for (i = 0; i < 3; i++) {
		d[i] = audit_next_seq(f->a);
		append(f, "delivered", THRICE, 0);
	}
	row(f, THRICE, STORE_DELIVERED);
	assert_int_equal(audit_sync(f->a, err, sizeof(err)), 0);

	assert_int_equal(reconcile_scan(f->a, &r, err, sizeof(err)), 0);
	/* AHEAD, NOROW, TWICE as in test_compensated_once; THRICE twice. */
	assert_int_equal(reconcile_compensate(r, f->st, f->a, time(NULL), err,
	    sizeof(err)), 5);
	reconcile_free(r);

	assert_int_equal(audit_seek(f->a, 0, &c, err, sizeof(err)), 0);
	assert_int_equal(audit_read(f->a, &c, audit_synced_seq(f->a), 1000,
	    buf, sizeof(buf), &len, &got, err, sizeof(err)), 0);
	for (off = 0; off < len; off += rec->len) {
		struct auditfmt_head h;

		assert_int_equal(auditfmt_walk(buf + off, len - off, &h),
		    AUDITFMT_OK);
		assert_int_equal(auditfmt_decode(buf + off, h.len, rec, err,
		    sizeof(err)), 0);
		if (rec->type.len != 9 || memcmp(rec->type.p, "reconcile", 9) !=
		    0 || rec->transfer.len != 32 || memcmp(rec->transfer.p,
		    THRICE, 32) != 0)
			continue;
		v = detail_u(rec, "void_seq");
		assert_true(n < 4);
		voided[n++] = v;
	}
	free(rec);
	assert_int_equal(n, 2);
	assert_true((voided[0] == d[0] && voided[1] == d[1]) ||
	    (voided[0] == d[1] && voided[1] == d[0]));

	/* The story ends in one outcome: a second pass writes nothing. */
	assert_int_equal(reconcile_scan(f->a, &r, err, sizeof(err)), 0);
	assert_int_equal(reconcile_compensate(r, f->st, f->a, time(NULL), err,
	    sizeof(err)), 0);
	reconcile_free(r);
}

/* A lost transfer that cannot be rebuilt (its accept record is gone)
 * stops the rebuild before anything is written. */
static void
test_rebuild_all_or_nothing(void **state)
{
	struct fx *f = *state;
	struct reconcile *r;
	struct transfer t;
	char err[1024];

	append(f, "stored", "77777777777777777777777777777777", 's');
	assert_int_equal(audit_sync(f->a, err, sizeof(err)), 0);
	assert_int_equal(reconcile_scan(f->a, &r, err, sizeof(err)), 0);
	assert_int_equal(reconcile_lost(r, f->st, err, sizeof(err)), 3);
	assert_int_equal(reconcile_rebuild(r, f->st, f->a, f->sp, 3600,
	    time(NULL), NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "accept record"));
	reconcile_free(r);
	assert_int_equal(store_transfer_get(f->st, LOST, &t, err,
	    sizeof(err)), STORE_NOTFOUND);
	assert_int_equal(count(f, "state_rebuilt", NULL), 0);
	/* The altered copy is still there for an operator to look at. */
	assert_int_equal(reconcile_spool_verify(f->sp, BAD,
	    sizeof(content) - 1, "00", err, sizeof(err)), 1);
	assert_null(strstr(err, "missing"));
}

/* A lost transfer whose accept record is gone: the rebuild refuses and
 * names the way out; --abandon (reconcile_abandon) records it, sets its
 * spool copy aside, and the rest can then be rebuilt. */
static void
test_abandon_pruned(void **state)
{
	struct fx *f = *state;
	struct reconcile *r;
	struct auditfmt_record *rec = malloc(sizeof(*rec));
	char err[2048], p[256];
	long failed = -1;

	assert_non_null(rec);
	append(f, "stored", PRUNED, 's');
	spool_file(f, PRUNED, content);
	assert_int_equal(audit_sync(f->a, err, sizeof(err)), 0);

	assert_int_equal(reconcile_scan(f->a, &r, err, sizeof(err)), 0);
	assert_int_equal(reconcile_lost(r, f->st, err, sizeof(err)), 3);
	assert_int_equal(reconcile_rebuild(r, f->st, f->a, f->sp, 3600,
	    time(NULL), NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, PRUNED));
	assert_non_null(strstr(err, "--abandon " PRUNED));
	/* Refused: no reason; not lost; rebuildable. Nothing changes. */
	assert_int_equal(reconcile_abandon(r, f->st, f->a, f->sp, PRUNED, "",
	    time(NULL), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--reason"));
	assert_int_equal(reconcile_abandon(r, f->st, f->a, f->sp, TWICE, "x",
	    time(NULL), err, sizeof(err)), -1);
	assert_int_equal(reconcile_abandon(r, f->st, f->a, f->sp, LOST, "x",
	    time(NULL), err, sizeof(err)), -1);
	assert_non_null(strstr(err, "can be rebuilt"));
	assert_int_equal(count(f, "state_abandoned", NULL), 0);

	assert_int_equal(reconcile_abandon(r, f->st, f->a, f->sp, PRUNED,
	    "ticket 42: the sender uploads it again", time(NULL), err,
	    sizeof(err)), 0);
	reconcile_free(r);
	assert_int_equal(count(f, "state_abandoned", rec), 1);
	assert_int_equal(rec->transfer.len, 32);
	assert_memory_equal(rec->transfer.p, PRUNED, 32);
	snprintf(p, sizeof(p), "%s/spool/" PRUNED, f->dir);
	assert_int_equal(access(p, F_OK), -1);
	snprintf(p, sizeof(p), "%s/spool/quarantine/" PRUNED, f->dir);
	assert_int_equal(access(p, F_OK), 0);

	/* A new scan no longer counts it; the others are rebuilt. */
	assert_int_equal(reconcile_scan(f->a, &r, err, sizeof(err)), 0);
	assert_int_equal(reconcile_lost(r, f->st, err, sizeof(err)), 2);
	assert_int_equal(reconcile_rebuild(r, f->st, f->a, f->sp, 3600,
	    time(NULL), &failed, err, sizeof(err)), 2);
	reconcile_free(r);
	assert_int_equal(reconcile_scan(f->a, &r, err, sizeof(err)), 0);
	assert_int_equal(reconcile_lost(r, f->st, err, sizeof(err)), 0);
	assert_int_equal(reconcile_compensate(r, f->st, f->a, time(NULL), err,
	    sizeof(err)), 3);
	reconcile_free(r);
	free(rec);
}

static void
test_spool_verify(void **state)
{
	struct fx *f = *state;
	char why[256], hex[65];

	util_hex(f->sha, 32, hex);
	assert_int_equal(reconcile_spool_verify(f->sp, LOST,
	    sizeof(content) - 1, hex, why, sizeof(why)), 0);
	assert_int_equal(reconcile_spool_verify(f->sp, BAD,
	    sizeof(content) - 1, hex, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "SHA-256"));
	assert_int_equal(reconcile_spool_verify(f->sp, LOST,
	    sizeof(content), hex, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "shorter"));
	assert_int_equal(reconcile_spool_verify(f->sp, DONE,
	    sizeof(content) - 1, hex, why, sizeof(why)), 1);
	assert_non_null(strstr(why, "missing"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_lost_and_rebuilt, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_compensated_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_three_outcomes, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_rebuild_all_or_nothing,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_abandon_pruned, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_spool_verify, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
