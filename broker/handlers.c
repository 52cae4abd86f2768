/*
 * handlers — see handlers.h.
 */
#include "broker/handlers.h"
#include "broker/auditpull.h"
#include "broker/enrol.h"
#include "broker/auditsearch.h"
#include "broker/officer.h"
#include "broker/regapproval.h"
#include "broker/status.h"
#include "broker/upload.h"
#include "broker/xfers.h"
#include "policy/policy.h"

#define NITEMS(a) (sizeof(a) / sizeof((a)[0]))

#define NOT_OFFICER_CODE "not_officer"
#define NOT_OFFICER_MSG "this needs the approval officer role in the " \
	"interface register"
#define OFFICER_ONLY POLICY_ROLE_OFFICER, HANDLERS_STEPUP_ALWAYS, \
	HANDLERS_OFFICERS, NOT_OFFICER_CODE, NOT_OFFICER_MSG

static const struct handlers_entry table[] = {
	/* uploads: anyone; the policy decides (and may ask for a step-up) */
	{ WIRE_OP_PUT, 0, HANDLERS_STEPUP_NONE, 0, NULL, NULL,
	    upload_handle_put, NULL },
	{ WIRE_OP_END, 0, HANDLERS_STEPUP_NONE, HANDLERS_IN_UPLOAD, NULL, NULL,
	    upload_handle_end, NULL },
	{ WIRE_OP_STATUS, 0, HANDLERS_STEPUP_NONE, 0, NULL, NULL,
	    status_handle_request, NULL },
	/* held transfers: officers, after a step-up */
	{ WIRE_OP_APPROVALS_LS, OFFICER_ONLY, officer_handle_approvals_ls,
	    officer_refuse },
	{ WIRE_OP_APPROVE, OFFICER_ONLY, officer_handle_approve,
	    officer_refuse },
	{ WIRE_OP_REJECT, OFFICER_ONLY, officer_handle_reject,
	    officer_refuse },
	/* the caller's own view: interfaces it may use, its transfers, and
	 * withdrawing one of them (the handlers check ownership) */
	{ WIRE_OP_INTERFACES_LS, 0, HANDLERS_STEPUP_NONE, 0, NULL, NULL,
	    xfers_handle_interfaces_ls, NULL },
	{ WIRE_OP_TRANSFERS_LS, 0, HANDLERS_STEPUP_NONE, 0, NULL, NULL,
	    xfers_handle_transfers_ls, NULL },
	{ WIRE_OP_WITHDRAW, 0, HANDLERS_STEPUP_NONE, 0, NULL, NULL,
	    xfers_handle_withdraw, NULL },
	/* a held file's bytes: officers, after a step-up, as approvals_ls */
	{ WIRE_OP_HELD_OPEN, OFFICER_ONLY, xfers_handle_held_open,
	    officer_refuse },
	/* exceptions: anyone asks; officers decide, after a step-up */
	{ WIRE_OP_EXCEPTION_REQUEST, 0, HANDLERS_STEPUP_NONE, HANDLERS_OFFICERS,
	    NULL, NULL, officer_handle_exception_request, officer_refuse },
	{ WIRE_OP_EXCEPTION_GRANT, OFFICER_ONLY,
	    officer_handle_exception_grant, officer_refuse },
	{ WIRE_OP_EXCEPTION_REFUSE, OFFICER_ONLY,
	    officer_handle_exception_change, officer_refuse },
	{ WIRE_OP_EXCEPTION_REVOKE, OFFICER_ONLY,
	    officer_handle_exception_change, officer_refuse },
	{ WIRE_OP_EXCEPTION_CONFIRM, OFFICER_ONLY,
	    officer_handle_exception_change, officer_refuse },
	/* the inventory: officers see all (after a step-up), auditors read
	 * it, staff see their own */
	{ WIRE_OP_EXCEPTION_LS, 0, HANDLERS_STEPUP_IF_OFFICER,
	    HANDLERS_OFFICERS, NULL, NULL, officer_handle_exception_ls,
	    officer_refuse },
	/* the audit trail: auditors only */
	{ WIRE_OP_AUDIT_PULL, POLICY_ROLE_AUDITOR, HANDLERS_STEPUP_NONE, 0,
	    "forbidden", "only principals with the auditor role in the "
	    "interface register may pull the audit trail", auditpull_handle,
	    auditpull_refuse },
	/* TOTP enrolment: the certificate's own user, with the one-time
	 * enrolment code the administrator issued (no step-up: there is no
	 * secret yet); the handler asks the register to admit the user */
	{ WIRE_OP_TOTP_ENROL, 0, HANDLERS_STEPUP_NONE, 0, NULL, NULL,
	    enrol_handle_totp_enrol, NULL },
	{ WIRE_OP_TOTP_CONFIRM, 0, HANDLERS_STEPUP_NONE, 0, NULL, NULL,
	    enrol_handle_totp_confirm, NULL },
	{ WIRE_OP_AUDIT_SEARCH, POLICY_ROLE_AUDITOR, HANDLERS_STEPUP_NONE, 0,
	    "forbidden", "only principals with the auditor role in the "
	    "interface register may search the audit trail",
	    auditsearch_handle_search, auditpull_refuse },
	{ WIRE_OP_AUDIT_CSV, POLICY_ROLE_AUDITOR, HANDLERS_STEPUP_NONE, 0,
	    "forbidden", "only principals with the auditor role in the "
	    "interface register may export the audit trail",
	    auditsearch_handle_csv, auditpull_refuse },
	/* the register under two-person approval: administrators propose,
	 * after a step-up; administrators and register approvers read;
	 * register approvers decide, after a step-up (the handlers check
	 * membership of register_approvers in the version in force) */
	{ WIRE_OP_REGISTER_PROPOSE, POLICY_ROLE_ADMIN, HANDLERS_STEPUP_ALWAYS,
	    0, "not_admin", "台帳の変更を提案するには管理者 (admin) の役割が"
	    "必要です / proposing a register change needs the admin role in "
	    "the interface register", regapproval_handle_propose,
	    regapproval_refuse },
	{ WIRE_OP_REGISTER_LS, 0, HANDLERS_STEPUP_NONE, 0, NULL, NULL,
	    regapproval_handle_ls, regapproval_refuse },
	{ WIRE_OP_REGISTER_SHOW, 0, HANDLERS_STEPUP_NONE, 0, NULL, NULL,
	    regapproval_handle_show, regapproval_refuse },
	{ WIRE_OP_REGISTER_DIFF, 0, HANDLERS_STEPUP_NONE, 0, NULL, NULL,
	    regapproval_handle_show, regapproval_refuse },
	{ WIRE_OP_REGISTER_APPROVE, 0, HANDLERS_STEPUP_ALWAYS, 0, NULL, NULL,
	    regapproval_handle_vote, regapproval_refuse },
	{ WIRE_OP_REGISTER_REJECT, 0, HANDLERS_STEPUP_ALWAYS, 0, NULL, NULL,
	    regapproval_handle_vote, regapproval_refuse },
};

const struct handlers_entry *
handlers_find(enum wire_op op)
{
	size_t i;

	for (i = 0; i < NITEMS(table); i++)
		if (table[i].op == op)
			return &table[i];
	return NULL;
}

const struct handlers_entry *
handlers_table(size_t *n)
{
	*n = NITEMS(table);
	return table;
}

int
handlers_role_allows(const struct handlers_entry *e, unsigned roles)
{
	return (roles & e->roles) == e->roles;
}

int
handlers_stepup_needed(const struct handlers_entry *e, unsigned roles)
{
	switch (e->stepup) {
	case HANDLERS_STEPUP_ALWAYS:
		return 1;
	case HANDLERS_STEPUP_IF_OFFICER:
		return (roles & POLICY_ROLE_OFFICER) != 0;
	case HANDLERS_STEPUP_NONE:
		break;
	}
	return 0;
}
