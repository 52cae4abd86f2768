/*
 * test_approvals — held transfers and exceptions: the rules (who may vote,
 * grant, refuse, confirm, revoke; how votes count; when an exception is in
 * force), the cache that feeds policy_decide, and the store operations the
 * commit thread runs (hold, vote, use, sweep, the check before
 * forwarding), against a real register and a real SQLite store.
 */
#include <sys/stat.h>

#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/approvals.h"
#include "broker/store.h"
#include "lib/util.h"
#include "lib/wire.h"
#include "policy/policy.h"

static const char REG[] =
"principals:\n"
"  unknown_users: staff\n"
"  users:\n"
"    - {id: u-staff, department: somu, roles: [staff]}\n"
"    - {id: u-staff2, department: kikaku, roles: [staff]}\n"
"    - {id: u-off1, department: somu, roles: [staff, officer]}\n"
"    - {id: u-off2, department: somu, roles: [staff, officer]}\n"
"    - {id: u-off3, department: kikaku, roles: [staff, officer]}\n"
"    - {id: u-gone, department: somu, roles: [staff, officer], "
"disabled: true}\n"
"  groups:\n"
"    - {id: approvers-somu, users: [u-off1, u-off2, u-staff, u-gone]}\n"
"    - {id: kikaku, departments: [kikaku]}\n"
"interfaces:\n"
"  - id: IF-HOLD\n"
"    max_class: 2\n"
"    approval:\n"
"      when: always\n"
"      approvers: approvers-somu\n"
"      count: 2\n"
"    exception_limits:\n"
"      max_class: 2\n"
"      max_size: 1GiB\n"
"      hours: \"07:00-22:00\"\n"
"      max_duration: 7d\n"
"  - id: IF-OPEN\n"
"    max_class: 1\n"
"    max_size: 1MiB\n"
"    exception_limits:\n"
"      max_class: 2\n"
"      max_duration: 1d\n"
"  - id: IF-NOEX\n"
"    max_class: 1\n";

#define T0 ((time_t)1780000000)		/* 2026-05-28, a Thursday */
#define DAY 86400

struct fx {
	char dir[64];
	char db[128];
	struct store *st;
	struct policy *p;
};

static const struct policy_principal STAFF = { "u-staff", "somu", "T1" };
static const struct policy_principal STAFF2 = { "u-staff2", "kikaku", "" };
static const struct policy_principal OFF1 = { "u-off1", "somu", "" };
static const struct policy_principal OFF2 = { "u-off2", "somu", "" };
static const struct policy_principal OFF3 = { "u-off3", "kikaku", "" };
static const struct policy_principal GONE = { "u-gone", "somu", "" };

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
	struct fx *f = calloc(1, sizeof(*f));
	char err[512];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sekisho-approvals-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/state.db", f->dir);
	if (store_open(f->db, &f->st, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	if (policy_load_buffer("register.yaml", REG, strlen(REG), &f->p, err,
	    sizeof(err)) != 0)
		fail_msg("policy: %s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *f = *state;

	store_close(f->st);
	policy_free(f->p);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* A stored transfer of user to interface, in the store. */
static void
add_transfer(struct fx *f, const char *id, const char *user,
    const char *interface)
{
	struct transfer t;
	char err[256];

	memset(&t, 0, sizeof(t));
	util_strlcpy(t.id, id, sizeof(t.id));
	util_strlcpy(t.user, user, sizeof(t.user));
	util_strlcpy(t.dept, "somu", sizeof(t.dept));
	memset(t.cert_fp, 'a', UTIL_SHA256_HEX);
	util_strlcpy(t.interface, interface, sizeof(t.interface));
	util_strlcpy(t.name, "report.pdf", sizeof(t.name));
	util_strlcpy(t.purpose, "monthly report", sizeof(t.purpose));
	t.size = 10;
	t.received = 10;
	t.class = 2;
	util_strlcpy(t.state, STORE_STORED, sizeof(t.state));
	memset(t.sha256, 'b', UTIL_SHA256_HEX);
	t.created = t.updated = T0;
	if (store_transfer_insert(f->st, &t, err, sizeof(err)) != 0)
		fail_msg("insert transfer: %s", err);
}

static void
transfer_state(struct fx *f, const char *id, const char *want)
{
	struct transfer t;
	char err[256];

	if (store_transfer_get(f->st, id, &t, err, sizeof(err)) != 0)
		fail_msg("get transfer: %s", err);
	assert_string_equal(t.state, want);
}

static void
hold(struct fx *f, const char *id, const char *user, unsigned required,
    uint64_t secs)
{
	struct transfer t;
	char err[256];

	if (store_transfer_get(f->st, id, &t, err, sizeof(err)) != 0)
		fail_msg("get transfer: %s", err);
	(void)user;
	if (approvals_hold(f->st, &t, "approvers-somu", required, secs, T0,
	    err, sizeof(err)) != 0)
		fail_msg("hold: %s", err);
}

static struct store_vote
vote_of(const char *transfer, const char *officer, int approve)
{
	struct store_vote v;

	memset(&v, 0, sizeof(v));
	util_strlcpy(v.transfer, transfer, sizeof(v.transfer));
	util_strlcpy(v.officer, officer, sizeof(v.officer));
	memset(v.cert_fp, 'c', UTIL_SHA256_HEX);
	util_strlcpy(v.comment, approve ? "ok" : "contains personal data",
	    sizeof(v.comment));
	v.approve = approve;
	v.at = T0 + 60;
	return v;
}

/* An exception requested by requester for users/groups on interface. */
static struct store_exception
ex_of(const char *id, const char *requester, const char *users,
    const char *groups, const char *interface)
{
	struct store_exception e;

	memset(&e, 0, sizeof(e));
	util_strlcpy(e.id, id, sizeof(e.id));
	util_strlcpy(e.state, STORE_EX_REQUESTED, sizeof(e.state));
	util_strlcpy(e.interface, interface, sizeof(e.interface));
	util_strlcpy(e.users, users, sizeof(e.users));
	util_strlcpy(e.groups, groups, sizeof(e.groups));
	e.max_class = 2;
	e.hours_from = e.hours_to = -1;
	e.not_before = T0;
	e.not_after = T0 + DAY / 2;
	util_strlcpy(e.reason, "annual statistics", sizeof(e.reason));
	util_strlcpy(e.requester, requester, sizeof(e.requester));
	e.requested = T0;
	return e;
}

/* e granted by officer at T0 (emergency: confirm within a day). */
static void
grant(struct store_exception *e, const char *officer, int emergency)
{
	util_strlcpy(e->state, STORE_EX_ACTIVE, sizeof(e->state));
	util_strlcpy(e->granted_by, officer, sizeof(e->granted_by));
	e->granted = T0;
	e->emergency = emergency;
	if (emergency)
		e->confirm_by = T0 + 3600;
}

/* ---------------------------------------------------------------- ids */

static void
test_list_parse(void **state)
{
	char out[STORE_EX_LIST_MAX + 1], err[256], big[2048];
	int i;

	(void)state;
	assert_int_equal(approvals_list_parse("u-a,u-b  u-c,", out,
	    sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "u-a u-b u-c");
	assert_int_equal(approvals_list_parse(NULL, out, sizeof(out), err,
	    sizeof(err)), 0);
	assert_string_equal(out, "");
	assert_int_equal(approvals_list_parse(" , ", out, sizeof(out), err,
	    sizeof(err)), 0);
	assert_string_equal(out, "");
	assert_int_equal(approvals_list_parse("u-a,u-a", out, sizeof(out),
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "twice"));
	assert_int_equal(approvals_list_parse("u-a,../x", out, sizeof(out),
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not an id"));
	assert_int_equal(approvals_list_parse("-a", out, sizeof(out), err,
	    sizeof(err)), -1);
	/* 17 ids: one too many */
	big[0] = '\0';
	for (i = 0; i < 17; i++)
		snprintf(big + strlen(big), sizeof(big) - strlen(big),
		    "u%d,", i);
	assert_int_equal(approvals_list_parse(big, out, sizeof(out), err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "at most 16"));
	/* 65 characters is not an id */
	memset(big, 'a', 65);
	big[65] = '\0';
	assert_int_equal(approvals_list_parse(big, out, sizeof(out), err,
	    sizeof(err)), -1);
	/* membership is by whole ids */
	assert_true(approvals_list_has("u-ab u-c", "u-c"));
	assert_true(approvals_list_has("u-ab u-c", "u-ab"));
	assert_false(approvals_list_has("u-ab u-c", "u-a"));
	assert_false(approvals_list_has("u-ab u-c", "b"));
	assert_false(approvals_list_has("", "u-a"));
}

static void
test_exception_id(void **state)
{
	char a[STORE_EX_ID_MAX + 1], b[STORE_EX_ID_MAX + 1];

	(void)state;
	assert_int_equal(approvals_new_exception_id(a), 0);
	assert_int_equal(approvals_new_exception_id(b), 0);
	assert_true(approvals_is_exception_id(a));
	assert_int_equal(strlen(a), 15);
	assert_string_not_equal(a, b);
	assert_false(approvals_is_exception_id("EX-12345678901"));
	assert_false(approvals_is_exception_id("EX-12345678901A"));
	assert_false(approvals_is_exception_id("XX-123456789012"));
	assert_false(approvals_is_exception_id(NULL));
}

/* ------------------------------------------------------- held: rules */

static void
test_check_vote(void **state)
{
	struct fx *f = *state;
	struct store_approval a;
	char msg[256];

	memset(&a, 0, sizeof(a));
	strcpy(a.transfer, "0123456789abcdef0123456789abcdef");
	strcpy(a.interface, "IF-HOLD");
	strcpy(a.user, "u-off1");		/* an officer uploaded it */
	strcpy(a.approvers, "approvers-somu");
	a.required = 2;
	strcpy(a.state, STORE_AP_PENDING);
	a.created = T0;
	a.expires = T0 + 3600;

	assert_int_equal(approvals_check_vote(f->p, &OFF2, &a, 0, T0, msg,
	    sizeof(msg)), APPROVALS_OK);
	/* in the approver group, but not an officer */
	assert_int_equal(approvals_check_vote(f->p, &STAFF, &a, 0, T0, msg,
	    sizeof(msg)), APPROVALS_NOT_OFFICER);
	/* disabled accounts have no role at all */
	assert_int_equal(approvals_check_vote(f->p, &GONE, &a, 0, T0, msg,
	    sizeof(msg)), APPROVALS_NOT_OFFICER);
	/* an officer, but not an approver of this interface */
	assert_int_equal(approvals_check_vote(f->p, &OFF3, &a, 0, T0, msg,
	    sizeof(msg)), APPROVALS_NO_AUTHORITY);
	assert_non_null(strstr(msg, "IF-HOLD"));
	/* the uploader never approves their own transfer */
	assert_int_equal(approvals_check_vote(f->p, &OFF1, &a, 0, T0, msg,
	    sizeof(msg)), APPROVALS_OWN_REQUEST);
	/* one officer counts once */
	assert_int_equal(approvals_check_vote(f->p, &OFF2, &a, 1, T0, msg,
	    sizeof(msg)), APPROVALS_ALREADY_VOTED);
	/* the wait ends at expires, exactly */
	assert_int_equal(approvals_check_vote(f->p, &OFF2, &a, 0,
	    T0 + 3599, msg, sizeof(msg)), APPROVALS_OK);
	assert_int_equal(approvals_check_vote(f->p, &OFF2, &a, 0,
	    T0 + 3600, msg, sizeof(msg)), APPROVALS_EXPIRED);
	strcpy(a.state, STORE_AP_APPROVED);
	assert_int_equal(approvals_check_vote(f->p, &OFF2, &a, 0, T0, msg,
	    sizeof(msg)), APPROVALS_NOT_PENDING);
	assert_string_equal(approvals_code_name(APPROVALS_OWN_REQUEST),
	    "own_request");
}

static void
test_tally(void **state)
{
	(void)state;
	assert_string_equal(approvals_tally(2, 0, 0), STORE_AP_PENDING);
	assert_string_equal(approvals_tally(2, 1, 0), STORE_AP_PENDING);
	assert_string_equal(approvals_tally(2, 2, 0), STORE_AP_APPROVED);
	assert_string_equal(approvals_tally(1, 1, 0), STORE_AP_APPROVED);
	assert_string_equal(approvals_tally(2, 1, 1), STORE_AP_REJECTED);
	assert_string_equal(approvals_tally(1, 5, 1), STORE_AP_REJECTED);
	assert_string_equal(approvals_tally(0, 5, 0), STORE_AP_PENDING);
}

/* ------------------------------------------------------- held: store */

static void
test_hold_approve_n_of_m(void **state)
{
	struct fx *f = *state;
	const char *id = "11111111111111111111111111111111";
	struct approvals_vote_result r;
	struct store_vote v;
	struct store_approval a;
	struct store_vote votes[4];
	char err[256], why[256];
	size_t n;

	add_transfer(f, id, "u-staff", "IF-HOLD");
	hold(f, id, "u-staff", 2, 3600);
	transfer_state(f, id, STORE_HELD);
	assert_int_equal(approvals_may_forward(f->st, id, T0, why,
	    sizeof(why)), 0);
	assert_non_null(strstr(why, "pending"));

	v = vote_of(id, "u-off1", 1);
	assert_int_equal(approvals_vote(f->st, &v, T0 + 60, &r, err,
	    sizeof(err)), 0);
	assert_int_equal(r.code, APPROVALS_OK);
	assert_string_equal(r.state, STORE_AP_PENDING);
	assert_int_equal(r.approvals, 1);
	assert_int_equal(r.required, 2);
	transfer_state(f, id, STORE_HELD);

	/* the same officer again does not count twice */
	assert_int_equal(approvals_vote(f->st, &v, T0 + 61, &r, err,
	    sizeof(err)), 0);
	assert_int_equal(r.code, APPROVALS_ALREADY_VOTED);
	assert_int_equal(store_approval_get(f->st, id, &a, err, sizeof(err)),
	    0);
	assert_int_equal(a.approvals, 1);

	v = vote_of(id, "u-off2", 1);
	assert_int_equal(approvals_vote(f->st, &v, T0 + 120, &r, err,
	    sizeof(err)), 0);
	assert_int_equal(r.code, APPROVALS_OK);
	assert_string_equal(r.state, STORE_AP_APPROVED);
	assert_int_equal(r.approvals, 2);
	transfer_state(f, id, APPROVALS_RELEASED);
	assert_int_equal(store_approval_get(f->st, id, &a, err, sizeof(err)),
	    0);
	assert_string_equal(a.state, STORE_AP_APPROVED);
	assert_string_equal(a.decided_by, "u-off2");
	assert_int_equal(a.decided, T0 + 120);
	assert_int_equal(approvals_may_forward(f->st, id, T0 + 121, why,
	    sizeof(why)), 1);

	/* closed: later votes do not reopen it */
	v = vote_of(id, "u-staff", 0);
	assert_int_equal(approvals_vote(f->st, &v, T0 + 130, &r, err,
	    sizeof(err)), 0);
	assert_int_equal(r.code, APPROVALS_NOT_PENDING);
	assert_int_equal(store_vote_list(f->st, id, votes, 4, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(votes[0].officer, "u-off1");
	assert_true(votes[0].approve);
	assert_string_equal(votes[1].officer, "u-off2");
}

static void
test_hold_reject(void **state)
{
	struct fx *f = *state;
	const char *id = "22222222222222222222222222222222";
	struct approvals_vote_result r;
	struct store_vote v;
	struct store_approval a;
	char err[256], why[256];
	struct transfer t;

	add_transfer(f, id, "u-staff", "IF-HOLD");
	hold(f, id, "u-staff", 2, 3600);
	v = vote_of(id, "u-off1", 1);
	assert_int_equal(approvals_vote(f->st, &v, T0 + 10, &r, err,
	    sizeof(err)), 0);
	v = vote_of(id, "u-off2", 0);
	assert_int_equal(approvals_vote(f->st, &v, T0 + 20, &r, err,
	    sizeof(err)), 0);
	assert_string_equal(r.state, STORE_AP_REJECTED);
	transfer_state(f, id, STORE_REJECTED);
	assert_int_equal(store_transfer_get(f->st, id, &t, err, sizeof(err)),
	    0);
	assert_non_null(strstr(t.error, "rejected"));
	assert_int_equal(store_approval_get(f->st, id, &a, err, sizeof(err)),
	    0);
	assert_string_equal(a.comment, "contains personal data");
	assert_string_equal(a.decided_by, "u-off2");
	assert_int_equal(approvals_may_forward(f->st, id, T0 + 30, why,
	    sizeof(why)), 0);
	assert_non_null(strstr(why, "rejected"));
}

static void
test_vote_after_expiry(void **state)
{
	struct fx *f = *state;
	const char *id = "33333333333333333333333333333333";
	struct approvals_vote_result r;
	struct store_vote v;
	char err[256];

	add_transfer(f, id, "u-staff", "IF-HOLD");
	hold(f, id, "u-staff", 1, 3600);
	v = vote_of(id, "u-off1", 1);
	assert_int_equal(approvals_vote(f->st, &v, T0 + 3600, &r, err,
	    sizeof(err)), 0);
	assert_int_equal(r.code, APPROVALS_EXPIRED);
	transfer_state(f, id, STORE_HELD);
	/* a vote on no request at all */
	v = vote_of("44444444444444444444444444444444", "u-off1", 1);
	assert_int_equal(approvals_vote(f->st, &v, T0, &r, err, sizeof(err)),
	    0);
	assert_int_equal(r.code, APPROVALS_NOT_PENDING);
}

struct changes {
	int expired, revoked;
	char last[64];
};

static int
count_change(const struct approvals_change *ch, void *arg)
{
	struct changes *c = arg;

	if (strcmp(ch->kind, "approval_expired") == 0) {
		c->expired++;
		assert_non_null(ch->a);
		util_strlcpy(c->last, ch->a->transfer, sizeof(c->last));
		assert_string_equal(ch->a->state, STORE_AP_EXPIRED);
	} else if (strcmp(ch->kind, "exception_auto_revoked") == 0) {
		c->revoked++;
		assert_non_null(ch->e);
		util_strlcpy(c->last, ch->e->id, sizeof(c->last));
		assert_string_equal(ch->e->state, STORE_EX_REVOKED);
	} else
		fail_msg("unknown change %s", ch->kind);
	return 0;
}

static void
test_sweep_expires_held(void **state)
{
	struct fx *f = *state;
	const char *a = "55555555555555555555555555555555";
	const char *b = "66666666666666666666666666666666";
	struct changes c;
	struct store_approval ap;
	char err[256], why[256];

	add_transfer(f, a, "u-staff", "IF-HOLD");
	add_transfer(f, b, "u-staff", "IF-HOLD");
	hold(f, a, "u-staff", 1, 3600);
	hold(f, b, "u-staff", 1, 7200);
	memset(&c, 0, sizeof(c));
	assert_int_equal(approvals_sweep(f->st, T0 + 3599, count_change, &c,
	    err, sizeof(err)), 0);
	assert_int_equal(c.expired, 0);
	assert_int_equal(approvals_sweep(f->st, T0 + 3600, count_change, &c,
	    err, sizeof(err)), 1);
	assert_int_equal(c.expired, 1);
	assert_string_equal(c.last, a);
	transfer_state(f, a, STORE_EXPIRED);
	transfer_state(f, b, STORE_HELD);
	assert_int_equal(store_approval_get(f->st, a, &ap, err, sizeof(err)),
	    0);
	assert_string_equal(ap.state, STORE_AP_EXPIRED);
	assert_string_equal(ap.decided_by, "");
	assert_int_equal(approvals_may_forward(f->st, a, T0 + 3600, why,
	    sizeof(why)), 0);
	/* a second sweep finds nothing new */
	assert_int_equal(approvals_sweep(f->st, T0 + 3601, count_change, &c,
	    err, sizeof(err)), 0);
	assert_int_equal(c.expired, 1);
}

static int
stop_after_one(const struct approvals_change *ch, void *arg)
{
	(void)ch;
	(*(int *)arg)++;
	return 1;
}

static int
fail_change(const struct approvals_change *ch, void *arg)
{
	(void)ch;
	(void)arg;
	return -1;
}

static void
test_sweep_stops_and_fails(void **state)
{
	struct fx *f = *state;
	const char *ids[3] = { "a0000000000000000000000000000001",
	    "a0000000000000000000000000000002",
	    "a0000000000000000000000000000003" };
	char err[256];
	int i, seen = 0;

	for (i = 0; i < 3; i++) {
		add_transfer(f, ids[i], "u-staff", "IF-HOLD");
		hold(f, ids[i], "u-staff", 1, 60);
	}
	/* a callback that fails makes the sweep fail; the caller's
	 * transaction undoes what it changed */
	assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
	assert_int_equal(approvals_sweep(f->st, T0 + 60, fail_change, NULL,
	    err, sizeof(err)), -1);
	assert_int_equal(store_rollback(f->st), 0);
	for (i = 0; i < 3; i++)
		transfer_state(f, ids[i], STORE_HELD);
	/* one that stops: one change now, the rest next time */
	assert_int_equal(approvals_sweep(f->st, T0 + 60, stop_after_one,
	    &seen, err, sizeof(err)), 1);
	assert_int_equal(seen, 1);
	assert_int_equal(approvals_sweep(f->st, T0 + 60, NULL, NULL, err,
	    sizeof(err)), 2);
	for (i = 0; i < 3; i++)
		transfer_state(f, ids[i], STORE_EXPIRED);
}

/* ------------------------------------------------- exceptions: rules */

static void
test_request_rules(void **state)
{
	struct fx *f = *state;
	struct store_exception e;
	char msg[256];

	e = ex_of("EX-000000000001", "u-staff", "u-staff", "", "IF-OPEN");
	assert_int_equal(approvals_check_request(f->p, &STAFF, &e, T0, msg,
	    sizeof(msg)), APPROVALS_OK);
	/* for someone else, or for a group: officers only */
	e = ex_of("EX-000000000001", "u-staff", "u-staff2", "", "IF-OPEN");
	assert_int_equal(approvals_check_request(f->p, &STAFF, &e, T0, msg,
	    sizeof(msg)), APPROVALS_NOT_PERMITTED);
	e = ex_of("EX-000000000001", "u-staff", "u-staff", "kikaku",
	    "IF-OPEN");
	assert_int_equal(approvals_check_request(f->p, &STAFF, &e, T0, msg,
	    sizeof(msg)), APPROVALS_NOT_PERMITTED);
	/* class 3 never, by exception either */
	e = ex_of("EX-000000000001", "u-staff", "u-staff", "", "IF-OPEN");
	e.max_class = 3;
	assert_int_equal(approvals_check_request(f->p, &STAFF, &e, T0, msg,
	    sizeof(msg)), APPROVALS_NOT_PERMITTED);
	/* beyond the interface's limits */
	e = ex_of("EX-000000000001", "u-staff", "u-staff", "", "IF-OPEN");
	e.max_size = 2u << 20;		/* IF-OPEN may not widen size */
	assert_int_equal(approvals_check_request(f->p, &STAFF, &e, T0, msg,
	    sizeof(msg)), APPROVALS_NOT_PERMITTED);
	assert_non_null(strstr(msg, "size"));
	e = ex_of("EX-000000000001", "u-staff", "u-staff", "", "IF-OPEN");
	e.not_after = T0 + DAY + 1;	/* max_duration 1d */
	/* Too long is its own code, and says the limit as people read it:
	 * "1 day", not "86400s". */
	assert_int_equal(approvals_check_request(f->p, &STAFF, &e, T0, msg,
	    sizeof(msg)), APPROVALS_TOO_LONG);
	assert_string_equal(approvals_code_name(APPROVALS_TOO_LONG),
	    "too_long");
	assert_non_null(strstr(msg, "longer"));
	assert_non_null(strstr(msg, "1 day 1 second (1\xe6\x97\xa5" "1\xe7\xa7\x92)"));
	assert_non_null(strstr(msg, "the 1 day (1\xe6\x97\xa5)"));
	assert_null(strstr(msg, "86400"));
	e = ex_of("EX-000000000001", "u-staff", "u-staff", "", "IF-NOEX");
	assert_int_equal(approvals_check_request(f->p, &STAFF, &e, T0, msg,
	    sizeof(msg)), APPROVALS_NOT_PERMITTED);
	e = ex_of("EX-000000000001", "u-staff", "u-staff", "", "IF-NONE");
	assert_int_equal(approvals_check_request(f->p, &STAFF, &e, T0, msg,
	    sizeof(msg)), APPROVALS_NOT_PERMITTED);
	/* a reason is required; an exception already over is refused */
	e = ex_of("EX-000000000001", "u-staff", "u-staff", "", "IF-OPEN");
	e.reason[0] = '\0';
	assert_int_equal(approvals_check_request(f->p, &STAFF, &e, T0, msg,
	    sizeof(msg)), APPROVALS_NOT_PERMITTED);
	e = ex_of("EX-000000000001", "u-staff", "u-staff", "", "IF-OPEN");
	assert_int_equal(approvals_check_request(f->p, &STAFF, &e,
	    T0 + DAY, msg, sizeof(msg)), APPROVALS_NOT_PERMITTED);
	/* widening nothing is not an exception */
	e = ex_of("EX-000000000001", "u-staff", "u-staff", "", "IF-OPEN");
	e.max_class = 0;
	assert_int_equal(approvals_check_request(f->p, &STAFF, &e, T0, msg,
	    sizeof(msg)), APPROVALS_NOT_PERMITTED);
}

static void
test_grant_rules(void **state)
{
	struct fx *f = *state;
	struct store_exception e;
	char msg[256];

	e = ex_of("EX-000000000002", "u-staff", "u-staff", "", "IF-HOLD");
	assert_int_equal(approvals_check_grant(f->p, &OFF1, &e, 0, T0, msg,
	    sizeof(msg)), APPROVALS_OK);
	/* staff cannot grant, not even one in the approver group */
	assert_int_equal(approvals_check_grant(f->p, &STAFF, &e, 0, T0, msg,
	    sizeof(msg)), APPROVALS_NOT_OFFICER);
	/* an officer without authority over the interface ... */
	assert_int_equal(approvals_check_grant(f->p, &OFF3, &e, 0, T0, msg,
	    sizeof(msg)), APPROVALS_NO_AUTHORITY);
	/* ... may grant in an emergency */
	assert_int_equal(approvals_check_grant(f->p, &OFF3, &e, 1, T0, msg,
	    sizeof(msg)), APPROVALS_OK);
	/* nobody grants an exception for themselves, named or by group */
	e = ex_of("EX-000000000002", "u-off1", "u-off1", "", "IF-HOLD");
	assert_int_equal(approvals_check_grant(f->p, &OFF1, &e, 0, T0, msg,
	    sizeof(msg)), APPROVALS_OWN_REQUEST);
	assert_int_equal(approvals_check_grant(f->p, &OFF2, &e, 0, T0, msg,
	    sizeof(msg)), APPROVALS_OK);
	e = ex_of("EX-000000000002", "u-off3", "", "kikaku", "IF-HOLD");
	assert_int_equal(approvals_check_grant(f->p, &OFF3, &e, 1, T0, msg,
	    sizeof(msg)), APPROVALS_OWN_REQUEST);
	assert_int_equal(approvals_check_grant(f->p, &OFF1, &e, 0, T0, msg,
	    sizeof(msg)), APPROVALS_OK);
	/* limits hold for officers too */
	e = ex_of("EX-000000000002", "u-off1", "u-staff", "", "IF-HOLD");
	e.not_after = T0 + 8 * DAY;
	assert_int_equal(approvals_check_grant(f->p, &OFF1, &e, 0, T0, msg,
	    sizeof(msg)), APPROVALS_TOO_LONG);
	e = ex_of("EX-000000000002", "u-off1", "u-staff", "", "IF-HOLD");
	e.hours_from = 6 * 60;
	e.hours_to = 23 * 60;
	assert_int_equal(approvals_check_grant(f->p, &OFF1, &e, 0, T0, msg,
	    sizeof(msg)), APPROVALS_NOT_PERMITTED);
	e.hours_from = 7 * 60;
	e.hours_to = 22 * 60;
	assert_int_equal(approvals_check_grant(f->p, &OFF1, &e, 0, T0, msg,
	    sizeof(msg)), APPROVALS_OK);
	/* only requests are granted */
	grant(&e, "u-off1", 0);
	assert_int_equal(approvals_check_grant(f->p, &OFF2, &e, 0, T0, msg,
	    sizeof(msg)), APPROVALS_BAD_STATE);
}

static void
test_refuse_confirm_revoke_rules(void **state)
{
	struct fx *f = *state;
	struct store_exception e;
	char msg[256];

	e = ex_of("EX-000000000003", "u-staff", "u-staff", "", "IF-HOLD");
	assert_int_equal(approvals_check_refuse(f->p, &OFF1, &e, msg,
	    sizeof(msg)), APPROVALS_OK);
	assert_int_equal(approvals_check_refuse(f->p, &OFF3, &e, msg,
	    sizeof(msg)), APPROVALS_NO_AUTHORITY);
	assert_int_equal(approvals_check_refuse(f->p, &STAFF, &e, msg,
	    sizeof(msg)), APPROVALS_NOT_OFFICER);
	e = ex_of("EX-000000000003", "u-off1", "u-off1", "", "IF-HOLD");
	assert_int_equal(approvals_check_refuse(f->p, &OFF1, &e, msg,
	    sizeof(msg)), APPROVALS_OWN_REQUEST);

	/* an emergency grant by u-off3 (no authority) */
	e = ex_of("EX-000000000003", "u-staff", "u-staff", "", "IF-HOLD");
	grant(&e, "u-off3", 1);
	assert_int_equal(approvals_check_confirm(f->p, &OFF3, &e, T0, msg,
	    sizeof(msg)), APPROVALS_NO_AUTHORITY);
	assert_int_equal(approvals_check_confirm(f->p, &STAFF, &e, T0, msg,
	    sizeof(msg)), APPROVALS_NOT_OFFICER);
	assert_int_equal(approvals_check_confirm(f->p, &OFF1, &e, T0, msg,
	    sizeof(msg)), APPROVALS_OK);
	assert_int_equal(approvals_check_confirm(f->p, &OFF1, &e,
	    T0 + 3600, msg, sizeof(msg)), APPROVALS_EXPIRED);
	/* the granting officer cannot confirm their own grant */
	grant(&e, "u-off1", 1);
	assert_int_equal(approvals_check_confirm(f->p, &OFF1, &e, T0, msg,
	    sizeof(msg)), APPROVALS_OWN_REQUEST);
	assert_int_equal(approvals_check_confirm(f->p, &OFF2, &e, T0, msg,
	    sizeof(msg)), APPROVALS_OK);
	strcpy(e.confirmed_by, "u-off2");
	assert_int_equal(approvals_check_confirm(f->p, &OFF2, &e, T0, msg,
	    sizeof(msg)), APPROVALS_BAD_STATE);
	/* not an emergency: nothing to confirm */
	grant(&e, "u-off1", 0);
	e.confirmed_by[0] = '\0';
	assert_int_equal(approvals_check_confirm(f->p, &OFF2, &e, T0, msg,
	    sizeof(msg)), APPROVALS_BAD_STATE);

	/* revoke: authority, or the officer who granted it */
	assert_int_equal(approvals_check_revoke(f->p, &OFF2, &e, msg,
	    sizeof(msg)), APPROVALS_OK);
	assert_int_equal(approvals_check_revoke(f->p, &OFF3, &e, msg,
	    sizeof(msg)), APPROVALS_NO_AUTHORITY);
	grant(&e, "u-off3", 1);
	assert_int_equal(approvals_check_revoke(f->p, &OFF3, &e, msg,
	    sizeof(msg)), APPROVALS_OK);
	assert_int_equal(approvals_check_revoke(f->p, &STAFF, &e, msg,
	    sizeof(msg)), APPROVALS_NOT_OFFICER);
	strcpy(e.state, STORE_EX_REVOKED);
	assert_int_equal(approvals_check_revoke(f->p, &OFF2, &e, msg,
	    sizeof(msg)), APPROVALS_BAD_STATE);
}

static void
test_exception_status(void **state)
{
	struct store_exception e;

	(void)state;
	e = ex_of("EX-000000000004", "u-staff", "u-staff", "", "IF-OPEN");
	assert_string_equal(approvals_exception_status(&e, T0), "requested");
	assert_false(approvals_exception_usable(&e, T0));
	assert_false(approvals_exception_holds(&e, T0));
	grant(&e, "u-off1", 0);
	e.not_before = T0 + 100;
	assert_string_equal(approvals_exception_status(&e, T0), "scheduled");
	assert_false(approvals_exception_usable(&e, T0));
	assert_string_equal(approvals_exception_status(&e, T0 + 100),
	    "active");
	assert_true(approvals_exception_usable(&e, T0 + 100));
	/* the deadline is exclusive */
	assert_true(approvals_exception_usable(&e, e.not_after - 1));
	assert_string_equal(approvals_exception_status(&e, e.not_after),
	    "expired");
	assert_false(approvals_exception_usable(&e, e.not_after));
	assert_false(approvals_exception_holds(&e, e.not_after));
	/* usage limit: stops new transfers, not counted ones */
	e.max_count = 2;
	e.uses = 2;
	assert_string_equal(approvals_exception_status(&e, T0 + 100),
	    "used_up");
	assert_false(approvals_exception_usable(&e, T0 + 100));
	assert_true(approvals_exception_holds(&e, T0 + 100));
	e.uses = 1;
	assert_true(approvals_exception_usable(&e, T0 + 100));
	/* an emergency lapses unconfirmed at its deadline */
	grant(&e, "u-off1", 1);
	e.not_before = T0;
	assert_true(approvals_exception_usable(&e, T0 + 3599));
	assert_string_equal(approvals_exception_status(&e, T0 + 3600),
	    "unconfirmed");
	assert_false(approvals_exception_holds(&e, T0 + 3600));
	strcpy(e.confirmed_by, "u-off2");
	assert_true(approvals_exception_holds(&e, T0 + 3600));
	assert_true(approvals_exception_usable(&e, T0 + 3600));
	strcpy(e.state, STORE_EX_REVOKED);
	assert_string_equal(approvals_exception_status(&e, T0), "revoked");
	assert_false(approvals_exception_holds(&e, T0));
}

/* ------------------------------------------------- exceptions: policy */

static void
test_exception_widens_for_one_user(void **state)
{
	struct fx *f = *state;
	struct approvals_cache c;
	struct store_exception e;
	struct policy_exception pe[APPROVALS_CONTEXT_MAX];
	struct policy_request req = { "IF-OPEN", "a.csv", 100, 2, "stats" };
	struct policy_context ctx;
	struct policy_decision d;
	size_t n;

	approvals_cache_init(&c);
	e = ex_of("EX-000000000005", "u-staff", "u-staff", "", "IF-OPEN");
	grant(&e, "u-off1", 0);
	assert_int_equal(approvals_cache_put(&c, &e), 0);
	/* another, on another interface, must not leak into IF-OPEN */
	e = ex_of("EX-000000000006", "u-staff2", "u-staff2", "", "IF-HOLD");
	grant(&e, "u-off1", 0);
	assert_int_equal(approvals_cache_put(&c, &e), 0);
	/* a request is not in force */
	e = ex_of("EX-000000000007", "u-staff2", "u-staff2", "", "IF-OPEN");
	assert_int_equal(approvals_cache_put(&c, &e), 0);

	memset(&ctx, 0, sizeof(ctx));
	ctx.now = T0 + 10;
	n = approvals_cache_context(&c, f->p, &STAFF, "IF-OPEN", ctx.now, pe,
	    APPROVALS_CONTEXT_MAX);
	assert_int_equal(n, 1);
	assert_string_equal(pe[0].id, "EX-000000000005");
	assert_string_equal(pe[0].user, "u-staff");
	ctx.exceptions = pe;
	ctx.nexceptions = n;
	assert_int_equal(policy_decide(f->p, &STAFF, &req, &ctx, &d), 0);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	assert_true(d.flags & POLICY_FLAG_EXCEPTION);
	assert_string_equal(d.exception, "EX-000000000005");

	/* u-staff2 has no exception on IF-OPEN: class 2 is refused */
	n = approvals_cache_context(&c, f->p, &STAFF2, "IF-OPEN", ctx.now,
	    pe, APPROVALS_CONTEXT_MAX);
	assert_int_equal(n, 0);
	ctx.exceptions = NULL;
	ctx.nexceptions = 0;
	assert_int_equal(policy_decide(f->p, &STAFF2, &req, &ctx, &d), 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_string_equal(d.code, "class_too_high");

	/* class 3 stays forbidden under any exception */
	n = approvals_cache_context(&c, f->p, &STAFF, "IF-OPEN", ctx.now, pe,
	    APPROVALS_CONTEXT_MAX);
	ctx.exceptions = pe;
	ctx.nexceptions = n;
	req.class = 3;
	assert_int_equal(policy_decide(f->p, &STAFF, &req, &ctx, &d), 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_string_equal(d.code, "class_forbidden");

	/* past its deadline the exception is not offered */
	n = approvals_cache_context(&c, f->p, &STAFF, "IF-OPEN",
	    T0 + DAY / 2, pe, APPROVALS_CONTEXT_MAX);
	assert_int_equal(n, 0);
	approvals_cache_free(&c);
}

static void
test_exception_for_group(void **state)
{
	struct fx *f = *state;
	struct approvals_cache c;
	struct store_exception e;
	struct policy_exception pe[4];
	const struct policy_principal other = { "u-new", "kikaku", "" };
	const struct policy_principal moved = { "u-staff2", "somu", "" };

	approvals_cache_init(&c);
	e = ex_of("EX-000000000008", "u-off1", "", "kikaku", "IF-OPEN");
	grant(&e, "u-off1", 0);
	assert_int_equal(approvals_cache_put(&c, &e), 0);
	assert_int_equal(approvals_cache_context(&c, f->p, &STAFF2,
	    "IF-OPEN", T0, pe, 4), 1);
	assert_string_equal(pe[0].user, "u-staff2");
	/* an unlisted user of the department is in the group too */
	assert_int_equal(approvals_cache_context(&c, f->p, &other,
	    "IF-OPEN", T0, pe, 4), 1);
	assert_int_equal(approvals_cache_context(&c, f->p, &STAFF,
	    "IF-OPEN", T0, pe, 4), 0);
	/* a certificate that disagrees with the register covers nobody */
	assert_int_equal(approvals_cache_context(&c, f->p, &moved,
	    "IF-OPEN", T0, pe, 4), 0);
	approvals_cache_free(&c);
}

static void
test_cache(void **state)
{
	struct approvals_cache c;
	struct store_exception e;
	char id[STORE_EX_ID_MAX + 1];
	int i;

	(void)state;
	approvals_cache_init(&c);
	assert_null(approvals_cache_find(&c, "EX-000000000001"));
	for (i = 40; i > 0; i--) {
		snprintf(id, sizeof(id), "EX-%012d", i);
		e = ex_of(id, "u-staff", "u-staff", "", "IF-OPEN");
		assert_int_equal(approvals_cache_put(&c, &e), 0);
	}
	assert_int_equal(c.n, 40);
	for (i = 1; i < 40; i++)
		assert_true(strcmp(c.e[i - 1].id, c.e[i].id) < 0);
	assert_non_null(approvals_cache_find(&c, "EX-000000000017"));
	/* replace, count a use */
	e = ex_of("EX-000000000017", "u-staff", "u-staff", "", "IF-OPEN");
	grant(&e, "u-off1", 0);
	assert_int_equal(approvals_cache_put(&c, &e), 0);
	assert_int_equal(c.n, 40);
	approvals_cache_count_use(&c, "EX-000000000017");
	assert_int_equal(approvals_cache_find(&c, "EX-000000000017")->uses,
	    1);
	assert_string_equal(approvals_cache_find(&c,
	    "EX-000000000017")->state, STORE_EX_ACTIVE);
	/* ended exceptions leave */
	strcpy(e.state, STORE_EX_REVOKED);
	assert_int_equal(approvals_cache_put(&c, &e), 0);
	assert_int_equal(c.n, 39);
	assert_null(approvals_cache_find(&c, "EX-000000000017"));
	approvals_cache_free(&c);
}

/* ------------------------------------------------- exceptions: store */

static void
test_exception_store_and_use(void **state)
{
	struct fx *f = *state;
	struct store_exception e, g;
	struct approvals_cache c;
	const char *t1 = "77777777777777777777777777777777";
	const char *t2 = "88888888888888888888888888888888";
	char err[256], why[256];

	e = ex_of("EX-00000000000a", "u-staff", "u-staff", "", "IF-OPEN");
	e.max_count = 1;
	strcpy(e.extensions, "pdf,xlsx");
	assert_int_equal(store_exception_insert(f->st, &e, err, sizeof(err)),
	    0);
	assert_int_equal(store_exception_insert(f->st, &e, err, sizeof(err)),
	    STORE_EXISTS);
	add_transfer(f, t1, "u-staff", "IF-OPEN");
	add_transfer(f, t2, "u-staff", "IF-OPEN");
	/* a request carries nothing */
	assert_int_equal(approvals_use_exception(f->st, e.id, t1, "u-staff",
	    T0 + 1, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "requested"));

	/* grant it: compare-and-set against the state read */
	g = e;
	grant(&g, "u-off1", 0);
	assert_int_equal(store_exception_update(f->st, &g, STORE_EX_ACTIVE,
	    err, sizeof(err)), STORE_NOTFOUND);
	assert_int_equal(store_exception_update(f->st, &g, STORE_EX_REQUESTED,
	    err, sizeof(err)), 0);
	assert_int_equal(store_exception_get(f->st, e.id, &g, err,
	    sizeof(err)), 0);
	assert_string_equal(g.state, STORE_EX_ACTIVE);
	assert_string_equal(g.granted_by, "u-off1");
	assert_string_equal(g.reason, "annual statistics");
	assert_string_equal(g.extensions, "pdf,xlsx");
	assert_int_equal(g.uses, 0);
	{
		struct policy_exception pe;

		approvals_exception_to_policy(&g, "u-staff", &pe);
		assert_string_equal(pe.extensions, "pdf,xlsx");
	}

	assert_int_equal(approvals_use_exception(f->st, e.id, t1, "u-staff",
	    T0 + 1, err, sizeof(err)), 0);
	/* the resumed upload of the same transfer is not a second use */
	assert_int_equal(approvals_use_exception(f->st, e.id, t1, "u-staff",
	    T0 + 2, err, sizeof(err)), 0);
	assert_int_equal(store_exception_get(f->st, e.id, &g, err,
	    sizeof(err)), 0);
	assert_int_equal(g.uses, 1);
	/* max_count 1: the next transfer is refused */
	assert_int_equal(approvals_use_exception(f->st, e.id, t2, "u-staff",
	    T0 + 3, err, sizeof(err)), 1);
	assert_non_null(strstr(err, "used_up"));
	assert_int_equal(approvals_may_forward(f->st, t1, T0 + 4, why,
	    sizeof(why)), 1);
	assert_int_equal(approvals_may_forward(f->st, t2, T0 + 4, why,
	    sizeof(why)), 1);
	/* past the deadline, a transfer sent under it may not go */
	assert_int_equal(approvals_may_forward(f->st, t1, g.not_after, why,
	    sizeof(why)), 0);
	assert_non_null(strstr(why, "expired"));

	/* the cache loads open exceptions only, with their uses */
	approvals_cache_init(&c);
	assert_int_equal(approvals_cache_load(&c, f->st, err, sizeof(err)),
	    0);
	assert_int_equal(c.n, 1);
	assert_int_equal(c.e[0].uses, 1);

	/* revoked: queued transfers under it stop */
	g.state[0] = '\0';
	assert_int_equal(store_exception_get(f->st, e.id, &g, err,
	    sizeof(err)), 0);
	strcpy(g.state, STORE_EX_REVOKED);
	strcpy(g.ended_by, "u-off2");
	g.ended = T0 + 5;
	strcpy(g.end_reason, "no longer needed");
	strcpy(g.extensions, "pdf");
	assert_int_equal(store_exception_update(f->st, &g, STORE_EX_ACTIVE,
	    err, sizeof(err)), 0);
	assert_int_equal(approvals_may_forward(f->st, t1, T0 + 6, why,
	    sizeof(why)), 0);
	assert_non_null(strstr(why, "revoked"));
	assert_int_equal(store_exception_get(f->st, e.id, &g, err,
	    sizeof(err)), 0);
	assert_string_equal(g.extensions, "pdf");
	assert_int_equal(approvals_cache_load(&c, f->st, err, sizeof(err)),
	    0);
	assert_int_equal(c.n, 0);
	approvals_cache_free(&c);

	/* a transfer goes through one exception only */
	e = ex_of("EX-00000000000b", "u-staff", "u-staff", "", "IF-OPEN");
	grant(&e, "u-off1", 0);
	assert_int_equal(store_exception_insert(f->st, &e, err, sizeof(err)),
	    0);
	assert_int_equal(approvals_use_exception(f->st, e.id, t1, "u-staff",
	    T0 + 7, err, sizeof(err)), 1);
	/* and an unknown exception carries nothing */
	assert_int_equal(approvals_use_exception(f->st, "EX-0000000000ff",
	    t2, "u-staff", T0 + 7, err, sizeof(err)), 1);
}

static void
test_emergency_sweep(void **state)
{
	struct fx *f = *state;
	struct store_exception a, b, g;
	struct changes c;
	char err[256];

	a = ex_of("EX-0000000000e1", "u-off3", "u-staff", "", "IF-HOLD");
	grant(&a, "u-off3", 1);
	b = ex_of("EX-0000000000e2", "u-off3", "u-staff", "", "IF-HOLD");
	grant(&b, "u-off3", 1);
	strcpy(b.confirmed_by, "u-off1");
	b.confirmed = T0 + 60;
	assert_int_equal(store_exception_insert(f->st, &a, err, sizeof(err)),
	    0);
	assert_int_equal(store_exception_insert(f->st, &b, err, sizeof(err)),
	    0);
	memset(&c, 0, sizeof(c));
	assert_int_equal(approvals_sweep(f->st, T0 + 3599, count_change, &c,
	    err, sizeof(err)), 0);
	assert_int_equal(approvals_sweep(f->st, T0 + 3600, count_change, &c,
	    err, sizeof(err)), 1);
	assert_int_equal(c.revoked, 1);
	assert_string_equal(c.last, a.id);
	assert_int_equal(store_exception_get(f->st, a.id, &g, err,
	    sizeof(err)), 0);
	assert_string_equal(g.state, STORE_EX_REVOKED);
	assert_string_equal(g.ended_by, "");
	assert_int_equal(g.ended, T0 + 3600);
	assert_non_null(strstr(g.end_reason, "not confirmed"));
	/* the confirmed one survives */
	assert_int_equal(store_exception_get(f->st, b.id, &g, err,
	    sizeof(err)), 0);
	assert_string_equal(g.state, STORE_EX_ACTIVE);
	assert_true(approvals_exception_usable(&g, T0 + 3600));
}

static void
test_store_constraints(void **state)
{
	struct fx *f = *state;
	struct store_exception e;
	struct store_approval a;
	struct store_vote v;
	char err[256];

	/* a vote on a request that does not exist */
	v = vote_of("99999999999999999999999999999999", "u-off1", 1);
	assert_int_equal(store_vote_insert(f->st, &v, err, sizeof(err)), -1);
	/* no class 3, no empty scope, no end before start, id form */
	e = ex_of("EX-0000000000c1", "u-staff", "u-staff", "", "IF-OPEN");
	e.max_class = 3;
	assert_int_equal(store_exception_insert(f->st, &e, err, sizeof(err)),
	    -1);
	e = ex_of("EX-0000000000c1", "u-staff", "", "", "IF-OPEN");
	assert_int_equal(store_exception_insert(f->st, &e, err, sizeof(err)),
	    -1);
	e = ex_of("EX-0000000000c1", "u-staff", "u-staff", "", "IF-OPEN");
	e.not_after = e.not_before;
	assert_int_equal(store_exception_insert(f->st, &e, err, sizeof(err)),
	    -1);
	e = ex_of("../etc/passwd", "u-staff", "u-staff", "", "IF-OPEN");
	assert_int_equal(store_exception_insert(f->st, &e, err, sizeof(err)),
	    -1);
	/* active needs a granting officer */
	e = ex_of("EX-0000000000c1", "u-staff", "u-staff", "", "IF-OPEN");
	strcpy(e.state, STORE_EX_ACTIVE);
	assert_int_equal(store_exception_insert(f->st, &e, err, sizeof(err)),
	    -1);
	e.max_size = (uint64_t)INT64_MAX + 1;
	grant(&e, "u-off1", 0);
	assert_int_equal(store_exception_insert(f->st, &e, err, sizeof(err)),
	    -1);
	assert_non_null(strstr(err, "range"));
	/* a request for a transfer that does not exist */
	memset(&a, 0, sizeof(a));
	strcpy(a.transfer, "99999999999999999999999999999999");
	strcpy(a.interface, "IF-HOLD");
	strcpy(a.user, "u-staff");
	strcpy(a.approvers, "approvers-somu");
	a.required = 1;
	strcpy(a.state, STORE_AP_PENDING);
	assert_int_equal(store_approval_insert(f->st, &a, err, sizeof(err)),
	    -1);
	assert_int_equal(store_approval_get(f->st, a.transfer, &a, err,
	    sizeof(err)), STORE_NOTFOUND);
}

/* ------------------------------------------------------------ wire */

/* Encodes m, decodes it again; returns the decoder's verdict. */
static enum wire_item
roundtrip(const struct wire_msg *m, struct wire_msg *out,
    struct wire_error *werr)
{
	uint8_t *buf = NULL;
	size_t len = 0, used = 0;
	uint64_t dlen = 0;
	enum wire_item r;

	if (wire_encode(m, &buf, &len, werr) != 0)
		return WIRE_ERROR;
	r = wire_decode(buf, len, out, &dlen, &used, werr);
	free(buf);
	return r;
}

static void
test_wire_officer_ops(void **state)
{
	struct wire_msg m, d;
	struct wire_error werr;
	const struct wire_value *v;
	const char *users[17];
	char names[17][8], big[WIRE_MAX_COMMENT + 2];
	int i;

	(void)state;
	for (i = 0; i < 17; i++) {
		snprintf(names[i], sizeof(names[i]), "u%d", i);
		users[i] = names[i];
	}
	wire_msg_init(&m, WIRE_OP_EXCEPTION_GRANT, 7);
	assert_int_equal(wire_msg_set_text(&m, "interface", "IF-EX"), 0);
	assert_int_equal(wire_msg_set_text_array(&m, "users", users, 16), 0);
	assert_int_equal(wire_msg_set_bool(&m, "emergency", 1), 0);
	assert_int_equal(wire_msg_set_uint(&m, "class", 2), 0);
	assert_int_equal(wire_msg_set_uint(&m, "until", 1780000000), 0);
	assert_int_equal(wire_msg_set_text(&m, "reason", "災害対応"), 0);
	assert_int_equal(wire_msg_set_text(&m, "otp", "123456"), 0);
	/* not a field of this op, and class 3 is still a class */
	assert_int_equal(wire_msg_set_text(&m, "transfer", "x"), -1);
	assert_int_equal(roundtrip(&m, &d, &werr), WIRE_CONTROL);
	assert_int_equal(d.op, WIRE_OP_EXCEPTION_GRANT);
	v = wire_msg_get(&d, "users");
	assert_non_null(v);
	assert_int_equal(v->len, 16);
	assert_string_equal(v->array[15], "u15");
	assert_int_equal(wire_msg_get(&d, "emergency")->u, 1);
	wire_msg_clear(&d);
	wire_msg_clear(&m);

	/* 17 principals: over the array bound */
	wire_msg_init(&m, WIRE_OP_EXCEPTION_GRANT, 8);
	assert_int_equal(wire_msg_set_text_array(&m, "users", users, 17), -1);
	wire_msg_clear(&m);

	/* a reject needs its comment; a comment has a bound */
	wire_msg_init(&m, WIRE_OP_REJECT, 9);
	wire_msg_set_text(&m, "transfer", "0123456789abcdef0123456789abcdef");
	assert_int_equal(roundtrip(&m, &d, &werr), WIRE_ERROR);
	assert_string_equal(werr.code, "missing_field");
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_int_equal(wire_msg_set_text(&m, "comment", big), -1);
	big[WIRE_MAX_COMMENT] = '\0';
	assert_int_equal(wire_msg_set_text(&m, "comment", big), 0);
	assert_int_equal(roundtrip(&m, &d, &werr), WIRE_CONTROL);
	wire_msg_clear(&d);
	wire_msg_clear(&m);

	/* the answers: a listed without next, an exception with its 22
	 * fields fits one message */
	wire_msg_init(&m, WIRE_OP_LISTED, 10);
	wire_msg_set_uint(&m, "count", 0);
	assert_int_equal(roundtrip(&m, &d, &werr), WIRE_CONTROL);
	assert_int_equal(d.op, WIRE_OP_LISTED);
	wire_msg_clear(&d);
	wire_msg_clear(&m);
	assert_string_equal(wire_op_name(WIRE_OP_EXCEPTION_LS), "exception_ls");
	assert_string_equal(wire_op_name(WIRE_OP_APPROVAL), "approval");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_list_parse),
		cmocka_unit_test(test_exception_id),
		cmocka_unit_test_setup_teardown(test_check_vote, setup,
		    teardown),
		cmocka_unit_test(test_tally),
		cmocka_unit_test_setup_teardown(test_hold_approve_n_of_m, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_hold_reject, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_vote_after_expiry, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sweep_expires_held, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_sweep_stops_and_fails,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_request_rules, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_grant_rules, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_refuse_confirm_revoke_rules,
		    setup, teardown),
		cmocka_unit_test(test_exception_status),
		cmocka_unit_test_setup_teardown(test_exception_widens_for_one_user,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_exception_for_group, setup,
		    teardown),
		cmocka_unit_test(test_cache),
		cmocka_unit_test_setup_teardown(test_exception_store_and_use,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_emergency_sweep, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_store_constraints, setup,
		    teardown),
		cmocka_unit_test(test_wire_officer_ops),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
