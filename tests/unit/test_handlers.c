/*
 * Tests for broker/handlers: the request layer's table. Every op a client
 * may send (but hello, which opens the CBOR transport) has exactly one
 * entry and reaches the handler of its area; a broker-to-client op or an
 * invalid value finds none; the roles each entry demands, its step-up and
 * its refusal are the documented ones (docs/officers.md, docs/audit.md).
 * The handlers are replaced here by stubs that record which one ran.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "broker/auditpull.h"
#include "broker/enrol.h"
#include "broker/auditsearch.h"
#include "broker/handlers.h"
#include "broker/officer.h"
#include "broker/regapproval.h"
#include "broker/status.h"
#include "broker/upload.h"
#include "broker/xfers.h"
#include "lib/wire.h"
#include "policy/policy.h"

/* The stub that ran last. */
static const char *ran;

#define STUB(fn) \
	void fn(struct reqconn *c, const struct wire_msg *m) \
	{ (void)c; (void)m; ran = #fn; }
STUB(upload_handle_put)
STUB(upload_handle_end)
STUB(status_handle_request)
STUB(officer_handle_approvals_ls)
STUB(officer_handle_approve)
STUB(officer_handle_reject)
STUB(officer_handle_exception_request)
STUB(officer_handle_exception_grant)
STUB(officer_handle_exception_change)
STUB(officer_handle_exception_ls)
STUB(auditpull_handle)
STUB(enrol_handle_totp_enrol)
STUB(enrol_handle_totp_confirm)
STUB(auditsearch_handle_search)
STUB(auditsearch_handle_csv)
STUB(xfers_handle_interfaces_ls)
STUB(xfers_handle_transfers_ls)
STUB(xfers_handle_withdraw)
STUB(xfers_handle_held_open)
STUB(regapproval_handle_propose)
STUB(regapproval_handle_ls)
STUB(regapproval_handle_show)
STUB(regapproval_handle_vote)

void
regapproval_refuse(struct reqconn *c, const struct wire_msg *m,
    const char *code, const char *message)
{
	(void)c; (void)m; (void)code; (void)message;
	ran = "regapproval_refuse";
}

void
officer_refuse(struct reqconn *c, const struct wire_msg *m, const char *code,
    const char *message)
{
	(void)c; (void)m; (void)code; (void)message;
	ran = "officer_refuse";
}

void
auditpull_refuse(struct reqconn *c, const struct wire_msg *m,
    const char *code, const char *why)
{
	(void)c; (void)m; (void)code; (void)why;
	ran = "auditpull_refuse";
}

#define STAFF POLICY_ROLE_STAFF
#define OFFICER POLICY_ROLE_OFFICER
#define AUDITOR POLICY_ROLE_AUDITOR
#define ADMIN POLICY_ROLE_ADMIN
#define EVERYONE (STAFF | OFFICER | AUDITOR | ADMIN)

/* What each client op must meet, written out independently of the
 * table: the handler, the refusal, who may use it, when a step-up. */
struct expect {
	enum wire_op op;
	const char *handler;
	const char *refuse;		/* NULL: refuses nothing */
	unsigned allowed[4];		/* role sets that pass */
	unsigned denied[4];		/* role sets that do not (0 ends) */
	int stepup_plain;		/* step-up for a principal without
					   the officer role */
	int stepup_officer;		/* ... with it */
	const char *code;		/* refusal code for missing roles */
};

static const struct expect expected[] = {
	{ WIRE_OP_PUT, "upload_handle_put", NULL, { 0, STAFF, EVERYONE },
	    { 0 }, 0, 0, NULL },
	{ WIRE_OP_END, "upload_handle_end", NULL, { 0, STAFF, EVERYONE },
	    { 0 }, 0, 0, NULL },
	{ WIRE_OP_STATUS, "status_handle_request", NULL,
	    { 0, STAFF, EVERYONE }, { 0 }, 0, 0, NULL },
	{ WIRE_OP_APPROVALS_LS, "officer_handle_approvals_ls",
	    "officer_refuse", { OFFICER, EVERYONE },
	    { STAFF, AUDITOR, ADMIN, STAFF | AUDITOR | ADMIN }, 1, 1,
	    "not_officer" },
	{ WIRE_OP_APPROVE, "officer_handle_approve", "officer_refuse",
	    { OFFICER, EVERYONE },
	    { STAFF, AUDITOR, ADMIN, STAFF | AUDITOR | ADMIN }, 1, 1,
	    "not_officer" },
	{ WIRE_OP_REJECT, "officer_handle_reject", "officer_refuse",
	    { OFFICER, EVERYONE },
	    { STAFF, AUDITOR, ADMIN, STAFF | AUDITOR | ADMIN }, 1, 1,
	    "not_officer" },
	{ WIRE_OP_EXCEPTION_REQUEST, "officer_handle_exception_request",
	    "officer_refuse", { 0, STAFF, EVERYONE }, { 0 }, 0, 0, NULL },
	{ WIRE_OP_EXCEPTION_GRANT, "officer_handle_exception_grant",
	    "officer_refuse", { OFFICER, EVERYONE },
	    { STAFF, AUDITOR, ADMIN, STAFF | AUDITOR | ADMIN }, 1, 1,
	    "not_officer" },
	{ WIRE_OP_EXCEPTION_REFUSE, "officer_handle_exception_change",
	    "officer_refuse", { OFFICER, EVERYONE },
	    { STAFF, AUDITOR, ADMIN, STAFF | AUDITOR | ADMIN }, 1, 1,
	    "not_officer" },
	{ WIRE_OP_EXCEPTION_REVOKE, "officer_handle_exception_change",
	    "officer_refuse", { OFFICER, EVERYONE },
	    { STAFF, AUDITOR, ADMIN, STAFF | AUDITOR | ADMIN }, 1, 1,
	    "not_officer" },
	{ WIRE_OP_EXCEPTION_CONFIRM, "officer_handle_exception_change",
	    "officer_refuse", { OFFICER, EVERYONE },
	    { STAFF, AUDITOR, ADMIN, STAFF | AUDITOR | ADMIN }, 1, 1,
	    "not_officer" },
	{ WIRE_OP_EXCEPTION_LS, "officer_handle_exception_ls",
	    "officer_refuse", { 0, STAFF, AUDITOR, EVERYONE }, { 0 }, 0, 1,
	    NULL },
	{ WIRE_OP_INTERFACES_LS, "xfers_handle_interfaces_ls", NULL,
	    { 0, STAFF, EVERYONE }, { 0 }, 0, 0, NULL },
	{ WIRE_OP_TRANSFERS_LS, "xfers_handle_transfers_ls", NULL,
	    { 0, STAFF, EVERYONE }, { 0 }, 0, 0, NULL },
	{ WIRE_OP_WITHDRAW, "xfers_handle_withdraw", NULL,
	    { 0, STAFF, EVERYONE }, { 0 }, 0, 0, NULL },
	{ WIRE_OP_HELD_OPEN, "xfers_handle_held_open", "officer_refuse",
	    { OFFICER, EVERYONE },
	    { STAFF, AUDITOR, ADMIN, STAFF | AUDITOR | ADMIN }, 1, 1,
	    "not_officer" },
	{ WIRE_OP_AUDIT_PULL, "auditpull_handle", "auditpull_refuse",
	    { AUDITOR, EVERYONE },
	    { STAFF, OFFICER, ADMIN, STAFF | OFFICER | ADMIN }, 0, 0,
	    "forbidden" },
	/* TOTP enrolment: anyone with a certificate (the handler asks the
	 * register), never a step-up (there is no secret yet) */
	{ WIRE_OP_TOTP_ENROL, "enrol_handle_totp_enrol", NULL,
	    { 0, STAFF, OFFICER, EVERYONE }, { 0 }, 0, 0, NULL },
	{ WIRE_OP_TOTP_CONFIRM, "enrol_handle_totp_confirm", NULL,
	    { 0, STAFF, OFFICER, EVERYONE }, { 0 }, 0, 0, NULL },
	{ WIRE_OP_AUDIT_SEARCH, "auditsearch_handle_search",
	    "auditpull_refuse", { AUDITOR, EVERYONE },
	    { STAFF, OFFICER, ADMIN, STAFF | OFFICER | ADMIN }, 0, 0,
	    "forbidden" },
	{ WIRE_OP_AUDIT_CSV, "auditsearch_handle_csv", "auditpull_refuse",
	    { AUDITOR, EVERYONE },
	    { STAFF, OFFICER, ADMIN, STAFF | OFFICER | ADMIN }, 0, 0,
	    "forbidden" },
	/* the register: admins propose after a step-up; reading and
	 * deciding are checked by the handler against register_approvers
	 * (a group, not a role), deciding after a step-up */
	{ WIRE_OP_REGISTER_PROPOSE, "regapproval_handle_propose",
	    "regapproval_refuse", { ADMIN, EVERYONE },
	    { STAFF, OFFICER, AUDITOR, STAFF | OFFICER | AUDITOR }, 1, 1,
	    "not_admin" },
	{ WIRE_OP_REGISTER_LS, "regapproval_handle_ls", "regapproval_refuse",
	    { 0, STAFF, EVERYONE }, { 0 }, 0, 0, NULL },
	{ WIRE_OP_REGISTER_SHOW, "regapproval_handle_show",
	    "regapproval_refuse", { 0, STAFF, EVERYONE }, { 0 }, 0, 0, NULL },
	{ WIRE_OP_REGISTER_DIFF, "regapproval_handle_show",
	    "regapproval_refuse", { 0, STAFF, EVERYONE }, { 0 }, 0, 0, NULL },
	{ WIRE_OP_REGISTER_APPROVE, "regapproval_handle_vote",
	    "regapproval_refuse", { 0, STAFF, EVERYONE }, { 0 }, 1, 1, NULL },
	{ WIRE_OP_REGISTER_REJECT, "regapproval_handle_vote",
	    "regapproval_refuse", { 0, STAFF, EVERYONE }, { 0 }, 1, 1, NULL },
};

#define NEXPECT (sizeof(expected) / sizeof(expected[0]))

static const struct expect *
expect_of(enum wire_op op)
{
	size_t i;

	for (i = 0; i < NEXPECT; i++)
		if (expected[i].op == op)
			return &expected[i];
	return NULL;
}

/* Every client op but hello has exactly one entry; nothing else has one. */
static void
test_every_client_op_has_one_entry(void **state)
{
	const struct handlers_entry *t;
	size_t n, i;
	int op, count;

	(void)state;
	t = handlers_table(&n);
	for (op = WIRE_OP_INVALID; op <= WIRE_OP__COUNT; op++) {
		for (count = 0, i = 0; i < n; i++)
			if ((int)t[i].op == op)
				count++;
		if (wire_op_from_client((enum wire_op)op) &&
		    op != WIRE_OP_HELLO) {
			if (count != 1)
				fail_msg("client op %s has %d entries",
				    wire_op_name((enum wire_op)op), count);
			assert_non_null(expect_of((enum wire_op)op));
		} else if (count != 0)
			fail_msg("op %d (%s) is not a client request but has "
			    "an entry", op, wire_op_name((enum wire_op)op) ?
			    wire_op_name((enum wire_op)op) : "invalid");
	}
	assert_int_equal(n, NEXPECT);
}

/* Answers, hello, invalid values: no entry, so "unknown_op". */
static void
test_unknown_ops_find_nothing(void **state)
{
	(void)state;
	assert_null(handlers_find(WIRE_OP_INVALID));
	assert_null(handlers_find(WIRE_OP__COUNT));
	assert_null(handlers_find((enum wire_op)-1));
	assert_null(handlers_find(WIRE_OP_HELLO));
	assert_null(handlers_find(WIRE_OP_WELCOME));
	assert_null(handlers_find(WIRE_OP_ERROR));
	assert_null(handlers_find(WIRE_OP_STORED));
	assert_null(handlers_find(WIRE_OP_AUDIT_RECORDS));
	assert_null(handlers_find(WIRE_OP_LISTED));
}

/* Each op reaches the handler of its area, and refuses the area's way. */
static void
test_each_op_reaches_its_handler(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NEXPECT; i++) {
		const struct handlers_entry *e = handlers_find(expected[i].op);
		struct wire_msg m;

		assert_non_null(e);
		wire_msg_init(&m, expected[i].op, 1);
		ran = NULL;
		e->handle(NULL, &m);
		assert_non_null(ran);
		assert_string_equal(ran, expected[i].handler);
		if (expected[i].refuse == NULL) {
			assert_null(e->refuse);
		} else {
			assert_non_null(e->refuse);
			ran = NULL;
			e->refuse(NULL, &m, "x", "y");
			assert_string_equal(ran, expected[i].refuse);
		}
		wire_msg_clear(&m);
	}
}

/* The table refuses an op to a principal without its role, and lets the
 * right roles through. */
static void
test_roles(void **state)
{
	size_t i, k;

	(void)state;
	for (i = 0; i < NEXPECT; i++) {
		const struct expect *x = &expected[i];
		const struct handlers_entry *e = handlers_find(x->op);

		for (k = 0; k < 4; k++) {
			if (k > 0 && x->allowed[k] == 0)
				break;
			if (!handlers_role_allows(e, x->allowed[k]))
				fail_msg("%s refused to roles %#x",
				    wire_op_name(x->op), x->allowed[k]);
		}
		for (k = 0; k < 4 && x->denied[k] != 0; k++)
			if (handlers_role_allows(e, x->denied[k]))
				fail_msg("%s allowed to roles %#x",
				    wire_op_name(x->op), x->denied[k]);
		if (x->code != NULL) {
			/* No roles at all: refused too. */
			assert_false(handlers_role_allows(e, 0));
			assert_non_null(e->role_code);
			assert_string_equal(e->role_code, x->code);
			assert_non_null(e->role_message);
			assert_true(strlen(e->role_message) > 0);
		}
	}
}

/* Officer actions need a step-up; the inventory only for an officer; a
 * put never (the policy asks for it), nor an auditor's pull. */
static void
test_stepup(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < NEXPECT; i++) {
		const struct expect *x = &expected[i];
		const struct handlers_entry *e = handlers_find(x->op);

		if (handlers_stepup_needed(e, STAFF | AUDITOR) !=
		    x->stepup_plain)
			fail_msg("%s: step-up without the officer role is %d",
			    wire_op_name(x->op), !x->stepup_plain);
		if (handlers_stepup_needed(e, OFFICER) != x->stepup_officer)
			fail_msg("%s: step-up for an officer is %d",
			    wire_op_name(x->op), !x->stepup_officer);
		/* A step-up gate refuses the area's way: it needs one. */
		if (e->stepup != HANDLERS_STEPUP_NONE)
			assert_non_null(e->refuse);
	}
}

/* Only end may come while an upload receives data; the officer and
 * exception ops, and reading a held file, need the approvals module. */
static void
test_flags(void **state)
{
	size_t n, i;
	const struct handlers_entry *t = handlers_table(&n);

	(void)state;
	for (i = 0; i < n; i++) {
		const char *h = expect_of(t[i].op)->handler;

		assert_int_equal((t[i].flags & HANDLERS_IN_UPLOAD) != 0,
		    t[i].op == WIRE_OP_END);
		assert_int_equal((t[i].flags & HANDLERS_OFFICERS) != 0,
		    strncmp(h, "officer_", 8) == 0 ||
		    t[i].op == WIRE_OP_HELD_OPEN);
	}
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_every_client_op_has_one_entry),
		cmocka_unit_test(test_unknown_ops_find_nothing),
		cmocka_unit_test(test_each_op_reaches_its_handler),
		cmocka_unit_test(test_roles),
		cmocka_unit_test(test_stepup),
		cmocka_unit_test(test_flags),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
