/*
 * handlers — the request layer's table: for each op a client may send,
 * the handler that answers it, who may use it and whether it needs a
 * fresh step-up. One table for every transport (the CBOR session today,
 * HTTP/2 next), so the same request meets the same checks, records and
 * error codes whichever way it came. The model is relayd's procs[].
 *
 * This module is the table and its pure rules (no I/O); dispatch.h runs
 * them against a connection. Handlers receive a transport-neutral request
 * (request.h: the principal, the decoded message of lib/wire.h) and
 * answer through the connection's responder.
 */
#ifndef SEKISHO_HANDLERS_H
#define SEKISHO_HANDLERS_H

#include <stddef.h>

#include "lib/wire.h"

struct reqconn;

/* When an entry needs a step-up (TOTP, docs/officers.md). */
enum handlers_stepup {
	HANDLERS_STEPUP_NONE,		/* never (a put's step-up is the
					   policy's verdict, not the table's) */
	HANDLERS_STEPUP_ALWAYS,		/* every use */
	HANDLERS_STEPUP_IF_OFFICER	/* when the principal holds the
					   officer role (an officer sees
					   everything, others their own) */
};

/* Entry flags. */
#define HANDLERS_OFFICERS	0x1u	/* needs the approvals module running */
#define HANDLERS_IN_UPLOAD	0x2u	/* allowed while an upload receives
					   data (only end) */

struct handlers_entry {
	enum wire_op op;
	/* POLICY_ROLE_* bits the principal must all hold in the register in
	 * force; 0: anyone with a certificate. */
	unsigned roles;
	enum handlers_stepup stepup;
	unsigned flags;
	/* The refusal when roles are missing (code, message). */
	const char *role_code;
	const char *role_message;
	void (*handle)(struct reqconn *c, const struct wire_msg *m);
	/* Records and answers a refusal the area's way (its audit event);
	 * NULL when the entry refuses nothing. */
	void (*refuse)(struct reqconn *c, const struct wire_msg *m,
	    const char *code, const char *message);
};

/* The entry of op, or NULL when a client may not send op (a broker-to-
 * client op, an invalid value). */
const struct handlers_entry *handlers_find(enum wire_op op);

/* All entries, for tests and documentation: *n is set to their count. */
const struct handlers_entry *handlers_table(size_t *n);

/* 1 when a principal with roles (POLICY_ROLE_* bits) may use e. */
int handlers_role_allows(const struct handlers_entry *e, unsigned roles);

/* 1 when e, used by a principal with roles, needs a fresh step-up. */
int handlers_stepup_needed(const struct handlers_entry *e, unsigned roles);

#endif
