/*
 * policy — the decision seam: may this principal send this file through this
 * interface now? A pure function of its inputs; the broker calls nothing else.
 *
 * The register (インターフェース管理台帳) is a YAML file loaded into an
 * immutable struct policy. policy_decide never allocates, never does I/O and
 * fails closed: any error inside evaluation is a deny with reason code
 * "evaluation_error".
 *
 * Ownership: policy_load returns a register the caller frees with
 * policy_free; decisions are plain values.
 */
#ifndef SEKISHO_POLICY_H
#define SEKISHO_POLICY_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

enum policy_verdict {
	POLICY_DENY = 0,
	POLICY_ALLOW,
	POLICY_STEP_UP_REQUIRED,
	POLICY_APPROVAL_REQUIRED
};

struct policy;

struct policy_principal {
	const char *user;
	const char *dept;
	const char *terminal;		/* "" or NULL when none */
};

struct policy_request {
	const char *interface;
	const char *filename;		/* display name as given; for extensions */
	uint64_t size;
	unsigned class;			/* 1..3 */
	const char *purpose;
};

struct policy_context {
	time_t now;
	time_t stepup_at;		/* last successful step-up, 0 if none */
	uint64_t bytes_today;		/* this user's usage on this interface */
	uint64_t count_today;
};

struct policy_decision {
	enum policy_verdict verdict;
	char code[40];			/* machine reason, e.g. "class_too_high" */
	char reason[320];		/* for the requester; never names other
					   interfaces or principals */
	char rule[80];			/* matched rule id, e.g. "IF-2026-014" */
	char register_hash[65];		/* SHA-256 of the register file */
};

/* Loads and validates a register. -1 with "file:line: field: problem". */
int policy_load(const char *path, struct policy **out, char *err,
    size_t errlen);
void policy_free(struct policy *p);

/* Hex SHA-256 of the register file the policy was loaded from. */
const char *policy_hash(const struct policy *p);

int policy_decide(const struct policy *p, const struct policy_principal *who,
    const struct policy_request *req, const struct policy_context *ctx,
    struct policy_decision *out);

const char *policy_verdict_name(enum policy_verdict v);

#endif
