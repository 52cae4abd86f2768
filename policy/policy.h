/*
 * policy — the decision seam: may this principal send this file through this
 * interface now? A pure function of its inputs; the broker calls nothing else.
 *
 * The register (インターフェース管理台帳) is a YAML file loaded into an
 * immutable struct policy. policy_decide never allocates, never does I/O and
 * fails closed: any error inside evaluation is a deny with reason code
 * "evaluation_error". The schema, the decision order and every reason code
 * are documented in docs/policy.md.
 *
 * Ownership: policy_load returns a register the caller frees with
 * policy_free; decisions are plain values. A loaded register is never
 * modified, so any number of threads may call policy_decide on it at once.
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

/* Roles of a principal (bit set). */
#define POLICY_ROLE_STAFF	0x1u
#define POLICY_ROLE_OFFICER	0x2u
#define POLICY_ROLE_AUDITOR	0x4u
#define POLICY_ROLE_ADMIN	0x8u

#define POLICY_ID_MAX		63	/* longest id of anything in a register */
#define POLICY_EXCEPTION_EXTS_MAX 256	/* policy_exception.extensions */

struct policy;
struct tzone;

struct policy_principal {
	const char *user;
	const char *dept;		/* from the certificate; "" or NULL */
	const char *terminal;		/* "" or NULL when none */
};

struct policy_request {
	const char *interface;
	const char *filename;		/* display name as given; for extensions */
	uint64_t size;
	unsigned class;			/* 1..3 */
	const char *purpose;
};

/*
 * An active exception (例外措置) granted by an approval officer. It widens the
 * scope of one interface for one user for a time: a higher class, a larger
 * size, extra hours, extra file extensions. policy_decide applies it only
 * within the interface's exception_limits and never past a forbid (class 3
 * included). The approvals module owns the records; policy only reads them.
 */
struct policy_exception {
	const char *id;			/* recorded in the decision */
	const char *user;
	const char *interface;
	unsigned max_class;		/* 0: does not widen the class */
	uint64_t max_size;		/* 0: does not widen the size */
	int hours_from;			/* minutes after local midnight, */
	int hours_to;			/* 0..1440; -1/-1: no extra hours */
	const char *extensions;		/* "pdf,xlsx": extensions it adds to
					   the interface's allow list (and
					   lifts from its deny list); NULL or
					   "": none */
	time_t not_before;		/* active in [not_before, not_after) */
	time_t not_after;
};

struct policy_context {
	time_t now;
	time_t stepup_at;		/* last successful step-up, 0 if none */
	uint64_t bytes_today;		/* this user's usage on this interface */
	uint64_t count_today;
	const struct policy_exception *exceptions;	/* may be NULL */
	size_t nexceptions;
};

/* policy_decision.flags */
#define POLICY_FLAG_REVIEW_OVERDUE	0x1u	/* allowed, but review is late */
#define POLICY_FLAG_EXCEPTION		0x2u	/* needed an exception */
#define POLICY_FLAG_LEGACY_OPEN		0x4u	/* interface has no allow list */

struct policy_decision {
	enum policy_verdict verdict;
	char code[40];			/* machine reason, e.g. "class_too_high" */
	char reason[320];		/* for the requester; never names other
					   interfaces or principals */
	char rule[80];			/* matched rule id, e.g. "IF-2026-014" */
	char register_hash[65];		/* SHA-256 of the register file */
	unsigned flags;			/* POLICY_FLAG_* */
	char exception[POLICY_ID_MAX + 1];	/* exception used, or "" */
	/* POLICY_APPROVAL_REQUIRED: who must approve and how many of them. */
	char approvers[POLICY_ID_MAX + 1];	/* group id */
	unsigned approvals;
	/* POLICY_STEP_UP_REQUIRED: how fresh the step-up must be (seconds). */
	uint64_t stepup_max_age;
};

enum policy_connector {
	POLICY_CONNECTOR_WEBDAV = 1,
	POLICY_CONNECTOR_S3
};

/* A specified cloud service (特定クラウドサービス); strings may be NULL. */
struct policy_service {
	const char *id;
	enum policy_connector connector;
	const char *endpoint;		/* https URL */
	const char *description;
	const char *ca;			/* CA bundle path for the upstream */
	const char *const *pins;	/* SPKI pins as written */
	size_t npins;
	const char *credentials;	/* reference to a secret, never the secret */
	const char *region;
	const char *bucket;
	unsigned line;
};

/* How far an exception may widen one interface (its exception_limits). */
struct policy_exception_limits {
	unsigned max_class;		/* 0: class cannot be widened */
	uint64_t max_size;		/* 0: size cannot be widened */
	int hours_from, hours_to;	/* -1/-1: hours cannot be widened */
	uint64_t max_duration;		/* seconds */
	const char *const *extensions;	/* lower-case, sorted; owned by the
					   register */
	size_t nextensions;		/* 0: extensions cannot be widened */
};

/*
 * Loads and validates a register. -1 with "file:line: field: problem" in err
 * (e.g. "register.yaml:12: interfaces[3].max_class: must be 1..3"; list
 * indexes count from 0). Time zones are resolved at load time.
 */
int policy_load(const char *path, struct policy **out, char *err,
    size_t errlen);
/* Same from memory; name stands for the file in messages. The hash is that
 * of buf. */
int policy_load_buffer(const char *name, const char *buf, size_t len,
    struct policy **out, char *err, size_t errlen);
void policy_free(struct policy *p);

/* Hex SHA-256 of the register file the policy was loaded from. */
const char *policy_hash(const struct policy *p);
/* The file name given to load. */
const char *policy_name(const struct policy *p);

/*
 * Decides. Always fills *out (when out is not NULL). Returns 0 when a
 * decision was reached by the rules (allow or deny alike) and -1 when it
 * failed closed (NULL arguments, internal inconsistency): then the verdict is
 * POLICY_DENY with code "evaluation_error". Never allocates.
 */
int policy_decide(const struct policy *p, const struct policy_principal *who,
    const struct policy_request *req, const struct policy_context *ctx,
    struct policy_decision *out);

/*
 * Like policy_decide, and also writes the chain of checks evaluated, one per
 * line, into buf (always NUL-terminated when buflen > 0; truncated lines end
 * the text with "...\n"). For administrators (`sekisho policy explain`,
 * `sekishod --check-config`): unlike the decision's reason it may name
 * rules and selectors of the register. Returns what policy_decide returns.
 */
int policy_explain(const struct policy *p, const struct policy_principal *who,
    const struct policy_request *req, const struct policy_context *ctx,
    struct policy_decision *out, char *buf, size_t buflen);

/*
 * Lint: calls fn once per warning with the register line (0 when none), a
 * short code ("review_overdue", "unused_principal", "shadowed",
 * "legacy_open", ...) and a message. Returns the number of warnings.
 */
typedef void policy_lint_fn(void *arg, unsigned line, const char *code,
    const char *msg);
size_t policy_lint(const struct policy *p, time_t now, policy_lint_fn *fn,
    void *arg);

const char *policy_verdict_name(enum policy_verdict v);

/* Lookups for the broker and the approvals and delivery modules. */
size_t policy_interface_count(const struct policy *p);
/* Id of the i-th interface in id order; NULL when i is out of range. */
const char *policy_interface_id(const struct policy *p, size_t i);
const struct policy_service *policy_service_find(const struct policy *p,
    const char *id);
/* Service (NULL when the interface names none) and destination path ("" when
 * none) of an interface. -1 when the interface is unknown. */
int policy_interface_target(const struct policy *p, const char *interface,
    const struct policy_service **service, const char **path);
/* The classification a put without one gets on this interface (the
 * register's default_class, never above max_class); 0 when the register
 * sets none or the interface is unknown: then such a put is refused. */
unsigned policy_interface_default_class(const struct policy *p,
    const char *interface);
/* The time zone of an interface's dates (its schedule.timezone, else the
 * register's timezone); the register's zone for an unknown interface.
 * Owned by p. */
const struct tzone *policy_interface_zone(const struct policy *p,
    const char *interface);
/*
 * Daily limits (daily_bytes, daily_count) count per user and interface from
 * local midnight in the interface's time zone. Returns 1 with the start of
 * the day containing now (UTC seconds) in *day_start when the interface has
 * a daily limit, 0 when it has none (no usage lookup needed), -1 when the
 * interface is unknown.
 */
int policy_daily_window(const struct policy *p, const char *interface,
    time_t now, int64_t *day_start);
/* -1 when the interface is unknown or has no exception_limits. */
int policy_exception_limits(const struct policy *p, const char *interface,
    struct policy_exception_limits *out);
/* Approver group of an interface's approval rule (NULL when it has none)
 * and how many approvals it needs (0 when none). -1 when the interface is
 * unknown. */
int policy_interface_approval(const struct policy *p, const char *interface,
    const char **group, unsigned *count);
/* Checks an exception about to be granted against its interface's limits.
 * -1 with a message naming what exceeds the limits (an extension is refused
 * when it is malformed, not lower-case, listed twice or not in the
 * interface's exception_limits.extensions); POLICY_EXCEPTION_TOO_LONG when
 * everything else is within the limits but it lasts longer than
 * exception_limits.max_duration (the message gives both durations in
 * days/hours/minutes/seconds, English then Japanese). */
#define POLICY_EXCEPTION_TOO_LONG (-2)
int policy_exception_check(const struct policy *p,
    const struct policy_exception *e, char *err, size_t errlen);
/* A duration in seconds as people read it, English then Japanese:
 * "1 day 12 hours (1日12時間)", "45 seconds (45秒)". Always terminated;
 * returns buf. */
const char *policy_duration_text(uint64_t seconds, char *buf, size_t len);
/*
 * What the register says one interface offers a principal: for a staff
 * member's list of "where may I send files" (interfaces_ls). Pointers are
 * owned by the register.
 */
struct policy_interface_view {
	const char *id;
	const char *title;		/* the interface's purpose as written */
	unsigned max_class;		/* 1..2: classes 1..max_class allowed */
	unsigned default_class;		/* 0: a put must name its class */
	uint64_t max_size;		/* UINT64_MAX: no limit */
	const char *hours;		/* "Mon-Fri 08:00-18:00 (Asia/Tokyo)";
					   NULL: any time */
	const char *const *extensions;	/* allow list, lower-case, sorted; */
	size_t nextensions;		/* 0: any extension not denied */
	int approval;			/* an approval rule may hold a put */
	int approval_always;		/* it holds every put */
	unsigned approvals_required;	/* 0 when no approval rule */
	int stepup;			/* a step-up rule may apply */
	const char *service;		/* delivery service id, NULL: none */
};

/*
 * Whether who may use the i-th interface (policy_interface_id order) at
 * now, and if so what it offers: 1 with *out filled, 0 when not (the
 * principal is refused by the register, not in the interface's allow
 * list or its terminals, the interface not valid at now or suspended for
 * an overdue review, or a forbid rule refuses every transfer of who
 * through it), -1 when i is out of range or an argument is NULL. Rules
 * that depend on a file (extension, class, size forbids), the time of
 * day and daily limits are not judged here: a put is still decided by
 * policy_decide. Pure; never allocates.
 */
int policy_interface_usable(const struct policy *p, size_t i,
    const struct policy_principal *who, time_t now,
    struct policy_interface_view *out);

/* Roles of who as the register sees them (0 when the register refuses the
 * principal: disabled, mismatched department, unknown where required). */
unsigned policy_principal_roles(const struct policy *p,
    const struct policy_principal *who);
/* 1 when who belongs to group (by department or by name), else 0. */
int policy_group_has(const struct policy *p, const char *group,
    const struct policy_principal *who);

/* register_approvers of the register: the group whose members approve a
 * change of the register (register.mode approved) and how many of them
 * must. 0 with both set; -1 (group NULL, count 0) when the register names
 * none, so no change can be approved. */
int policy_register_approvers(const struct policy *p, const char **group,
    unsigned *count);

/* Parses "HH:MM-HH:MM" (24:00 allowed as an end; end before start crosses
 * midnight) into minutes after midnight. -1 on anything else. */
int policy_parse_hours(const char *s, int *from, int *to);

#endif
