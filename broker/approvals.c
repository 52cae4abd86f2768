/*
 * approvals — see approvals.h.
 *
 * The rules are written as a chain of checks in a fixed order, the first
 * failure deciding, so that the answer to "why was I refused" is always
 * the most basic reason (no officer role before no authority before
 * separation of duties) and never depends on timing.
 *
 * Authority over an interface is membership of the group its approval
 * rule names; an interface without an approval rule has no approver group,
 * and then the officer role alone is the authority. Exceptions on it can
 * still only widen what its exception_limits allow.
 *
 * The cache is a sorted array searched by id: open exceptions are few
 * (hundreds at most in a municipality), and a decision looks at those of
 * one interface only, so a linear pass over a small array is the simple
 * and fast choice.
 */
#include "broker/approvals.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>

#define EX_PREFIX "EX-"
#define EX_HEX 12

const char *
approvals_code_name(enum approvals_code c)
{
	switch (c) {
	case APPROVALS_OK:
		return "ok";
	case APPROVALS_NOT_OFFICER:
		return "not_officer";
	case APPROVALS_NO_AUTHORITY:
		return "no_authority";
	case APPROVALS_OWN_REQUEST:
		return "own_request";
	case APPROVALS_ALREADY_VOTED:
		return "already_voted";
	case APPROVALS_NOT_PENDING:
		return "not_pending";
	case APPROVALS_EXPIRED:
		return "expired";
	case APPROVALS_NOT_PERMITTED:
		return "not_permitted";
	case APPROVALS_TOO_LONG:
		return "too_long";
	case APPROVALS_BAD_STATE:
		return "bad_state";
	}
	return "bad_state";
}

static enum approvals_code
refuse(enum approvals_code c, char *msg, size_t msglen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static enum approvals_code
refuse(enum approvals_code c, char *msg, size_t msglen, const char *fmt, ...)
{
	va_list ap;

	if (msglen > 0) {
		va_start(ap, fmt);
		vsnprintf(msg, msglen, fmt, ap);
		va_end(ap);
	}
	return c;
}

/* ---- ids and lists -------------------------------------------------- */

int
approvals_new_exception_id(char out[STORE_EX_ID_MAX + 1])
{
	uint8_t r[EX_HEX / 2];
	char hex[EX_HEX + 1];

	if (getrandom(r, sizeof(r), 0) != (ssize_t)sizeof(r))
		return -1;
	util_hex(r, sizeof(r), hex);
	snprintf(out, STORE_EX_ID_MAX + 1, EX_PREFIX "%s", hex);
	return 0;
}

int
approvals_is_exception_id(const char *s)
{
	size_t i;

	if (s == NULL || strncmp(s, EX_PREFIX, 3) != 0 ||
	    strlen(s) != 3 + EX_HEX)
		return 0;
	for (i = 3; s[i] != '\0'; i++)
		if (!((s[i] >= '0' && s[i] <= '9') ||
		    (s[i] >= 'a' && s[i] <= 'f')))
			return 0;
	return 1;
}

int
approvals_list_has(const char *list, const char *id)
{
	size_t n = strlen(id);
	const char *p = list;

	if (n == 0)
		return 0;
	while ((p = strstr(p, id)) != NULL) {
		if ((p == list || p[-1] == ' ') &&
		    (p[n] == '\0' || p[n] == ' '))
			return 1;
		p += n;
	}
	return 0;
}

int
approvals_list_parse(const char *s, char *out, size_t outlen, char *err,
    size_t errlen)
{
	char item[66];
	size_t used = 0, count = 0, len;
	const char *p = s, *q;

	if (outlen == 0)
		return util_err(err, errlen, "no room for the list");
	out[0] = '\0';
	if (s == NULL)
		return 0;
	for (;;) {
		while (*p == ',' || *p == ' ')
			p++;
		if (*p == '\0')
			break;
		for (q = p; *q != '\0' && *q != ',' && *q != ' '; q++)
			;
		len = (size_t)(q - p);
		if (len >= sizeof(item)) {
			return util_err(err, errlen, "'%.20s...' is not an id "
			    "(1-64 characters of A-Z a-z 0-9 . _ -)", p);
		}
		memcpy(item, p, len);
		item[len] = '\0';
		if (!util_is_token(item, 64))
			return util_err(err, errlen, "'%s' is not an id (1-64 "
			    "characters of A-Z a-z 0-9 . _ -)", item);
		if (approvals_list_has(out, item))
			return util_err(err, errlen, "'%s' is listed twice",
			    item);
		if (++count > APPROVALS_MAX_PRINCIPALS)
			return util_err(err, errlen, "at most %d ids may be "
			    "listed", APPROVALS_MAX_PRINCIPALS);
		if (used + (used > 0) + len + 1 > outlen)
			return util_err(err, errlen, "the list is too long");
		if (used > 0)
			out[used++] = ' ';
		memcpy(out + used, item, len + 1);
		used += len;
		p = q;
	}
	return 0;
}

/* ---- shared checks ------------------------------------------------------ */

static int
is_officer(const struct policy *p, const struct policy_principal *who)
{
	return (policy_principal_roles(p, who) & POLICY_ROLE_OFFICER) != 0;
}

/* Member of the interface's approver group, or any officer when the
 * interface names none. Unknown interfaces give no authority. */
static int
has_authority(const struct policy *p, const struct policy_principal *who,
    const char *interface)
{
	const char *group = NULL;
	unsigned count = 0;

	if (policy_interface_approval(p, interface, &group, &count) != 0)
		return 0;
	return group == NULL || policy_group_has(p, group, who);
}

/* Calls fn for each id of a normalised list; stops at the first non-zero. */
static int
list_any(const char *list, int (*fn)(const char *id, const void *arg),
    const void *arg)
{
	char item[66];
	const char *p = list, *q;
	size_t len;

	while (*p != '\0') {
		for (q = p; *q != '\0' && *q != ' '; q++)
			;
		len = (size_t)(q - p);
		if (len < sizeof(item)) {
			memcpy(item, p, len);
			item[len] = '\0';
			if (fn(item, arg))
				return 1;
		}
		p = *q == ' ' ? q + 1 : q;
	}
	return 0;
}

struct group_probe {
	const struct policy *p;
	const struct policy_principal *who;
};

static int
probe_group(const char *group, const void *arg)
{
	const struct group_probe *g = arg;

	return policy_group_has(g->p, group, g->who);
}

int
approvals_exception_covers(const struct policy *p,
    const struct store_exception *e, const struct policy_principal *who)
{
	struct group_probe g = { p, who };

	if (who == NULL || who->user == NULL ||
	    policy_principal_roles(p, who) == 0)
		return 0;
	return approvals_list_has(e->users, who->user) ||
	    list_any(e->groups, probe_group, &g);
}

/* ---- held transfers ------------------------------------------------------ */

enum approvals_code
approvals_check_vote(const struct policy *p,
    const struct policy_principal *officer, const struct store_approval *a,
    int voted, time_t now, char *msg, size_t msglen)
{
	if (!is_officer(p, officer))
		return refuse(APPROVALS_NOT_OFFICER, msg, msglen, "you are not "
		    "an approval officer in the interface register");
	if (strcmp(a->state, STORE_AP_PENDING) != 0)
		return refuse(APPROVALS_NOT_PENDING, msg, msglen, "transfer %s "
		    "was already decided (%s)", a->transfer, a->state);
	if ((int64_t)now >= a->expires)
		return refuse(APPROVALS_EXPIRED, msg, msglen, "the wait for "
		    "approval of transfer %s has ended; it will not be "
		    "delivered", a->transfer);
	if (!policy_group_has(p, a->approvers, officer))
		return refuse(APPROVALS_NO_AUTHORITY, msg, msglen, "you are "
		    "not an approver of interface %s (group %s)", a->interface,
		    a->approvers);
	if (strcmp(officer->user, a->user) == 0)
		return refuse(APPROVALS_OWN_REQUEST, msg, msglen, "you sent "
		    "transfer %s yourself; another officer must decide it",
		    a->transfer);
	if (voted)
		return refuse(APPROVALS_ALREADY_VOTED, msg, msglen, "you have "
		    "already decided on transfer %s; an officer counts once",
		    a->transfer);
	return APPROVALS_OK;
}

const char *
approvals_tally(unsigned required, unsigned approvals, unsigned rejections)
{
	if (rejections > 0)
		return STORE_AP_REJECTED;
	if (required > 0 && approvals >= required)
		return STORE_AP_APPROVED;
	return STORE_AP_PENDING;
}

/* ---- exceptions ------------------------------------------------------------ */

static int
emergency_lapsed(const struct store_exception *e, time_t now)
{
	return e->emergency && e->confirmed_by[0] == '\0' &&
	    (int64_t)now >= e->confirm_by;
}

const char *
approvals_exception_status(const struct store_exception *e, time_t now)
{
	if (strcmp(e->state, STORE_EX_ACTIVE) != 0)
		return e->state;
	if ((int64_t)now >= e->not_after)
		return "expired";
	if (emergency_lapsed(e, now))
		return "unconfirmed";
	if (e->max_count > 0 && e->uses >= e->max_count)
		return "used_up";
	if ((int64_t)now < e->not_before)
		return "scheduled";
	return "active";
}

int
approvals_exception_usable(const struct store_exception *e, time_t now)
{
	return strcmp(approvals_exception_status(e, now), "active") == 0;
}

int
approvals_exception_holds(const struct store_exception *e, time_t now)
{
	return strcmp(e->state, STORE_EX_ACTIVE) == 0 &&
	    (int64_t)now < e->not_after && !emergency_lapsed(e, now);
}

void
approvals_exception_to_policy(const struct store_exception *e,
    const char *user, struct policy_exception *out)
{
	memset(out, 0, sizeof(*out));
	out->id = e->id;
	out->user = user;
	out->interface = e->interface;
	out->max_class = e->max_class;
	out->max_size = e->max_size;
	out->hours_from = e->hours_from;
	out->hours_to = e->hours_to;
	out->extensions = e->extensions;
	out->not_before = (time_t)e->not_before;
	out->not_after = (time_t)e->not_after;
}

/* The interface's limits applied to e, as policy_exception_check sees
 * them; the user only needs to be an id, so any named principal does. */
static enum approvals_code
check_limits(const struct policy *p, const struct store_exception *e,
    time_t now, char *msg, size_t msglen)
{
	struct policy_exception pe;
	char first[66] = "";
	const char *src = e->users[0] != '\0' ? e->users : e->groups;
	size_t n = strcspn(src, " ");
	char why[320];
	int rc;

	if (n >= sizeof(first))
		return refuse(APPROVALS_NOT_PERMITTED, msg, msglen, "the "
		    "exception names no valid principal");
	memcpy(first, src, n);
	first[n] = '\0';
	approvals_exception_to_policy(e, first, &pe);
	if ((rc = policy_exception_check(p, &pe, why, sizeof(why))) != 0)
		return refuse(rc == POLICY_EXCEPTION_TOO_LONG ?
		    APPROVALS_TOO_LONG : APPROVALS_NOT_PERMITTED, msg, msglen,
		    "%s", why);
	if (e->not_after <= (int64_t)now)
		return refuse(APPROVALS_NOT_PERMITTED, msg, msglen, "the "
		    "exception would already be over");
	return APPROVALS_OK;
}

enum approvals_code
approvals_check_request(const struct policy *p,
    const struct policy_principal *requester,
    const struct store_exception *e, time_t now, char *msg, size_t msglen)
{
	if (policy_principal_roles(p, requester) == 0)
		return refuse(APPROVALS_NOT_PERMITTED, msg, msglen, "your "
		    "account may not request exceptions; ask your "
		    "administrator");
	if (strcmp(e->users, requester->user) != 0 || e->groups[0] != '\0')
		return refuse(APPROVALS_NOT_PERMITTED, msg, msglen, "you can "
		    "request an exception for yourself only; an approval "
		    "officer can grant one for others");
	if (e->reason[0] == '\0')
		return refuse(APPROVALS_NOT_PERMITTED, msg, msglen, "an "
		    "exception needs a reason");
	return check_limits(p, e, now, msg, msglen);
}

static int
is_beneficiary(const struct policy *p, const struct store_exception *e,
    const struct policy_principal *who)
{
	return approvals_exception_covers(p, e, who);
}

enum approvals_code
approvals_check_grant(const struct policy *p,
    const struct policy_principal *officer, const struct store_exception *e,
    int emergency, time_t now, char *msg, size_t msglen)
{
	if (!is_officer(p, officer))
		return refuse(APPROVALS_NOT_OFFICER, msg, msglen, "you are not "
		    "an approval officer in the interface register");
	if (strcmp(e->state, STORE_EX_REQUESTED) != 0)
		return refuse(APPROVALS_BAD_STATE, msg, msglen, "exception %s "
		    "is %s, not requested", e->id, e->state);
	if (!emergency && !has_authority(p, officer, e->interface))
		return refuse(APPROVALS_NO_AUTHORITY, msg, msglen, "you are "
		    "not an approver of interface %s; in an emergency, grant "
		    "with --emergency and have an approver confirm it",
		    e->interface);
	if (is_beneficiary(p, e, officer))
		return refuse(APPROVALS_OWN_REQUEST, msg, msglen, "the "
		    "exception would apply to you; another officer must "
		    "grant it");
	if (e->reason[0] == '\0')
		return refuse(APPROVALS_NOT_PERMITTED, msg, msglen, "an "
		    "exception needs a reason");
	return check_limits(p, e, now, msg, msglen);
}

enum approvals_code
approvals_check_refuse(const struct policy *p,
    const struct policy_principal *officer, const struct store_exception *e,
    char *msg, size_t msglen)
{
	if (!is_officer(p, officer))
		return refuse(APPROVALS_NOT_OFFICER, msg, msglen, "you are not "
		    "an approval officer in the interface register");
	if (strcmp(e->state, STORE_EX_REQUESTED) != 0)
		return refuse(APPROVALS_BAD_STATE, msg, msglen, "exception %s "
		    "is %s, not requested", e->id, e->state);
	if (!has_authority(p, officer, e->interface))
		return refuse(APPROVALS_NO_AUTHORITY, msg, msglen, "you are "
		    "not an approver of interface %s", e->interface);
	if (is_beneficiary(p, e, officer))
		return refuse(APPROVALS_OWN_REQUEST, msg, msglen, "you asked "
		    "for this exception; another officer must decide it");
	return APPROVALS_OK;
}

enum approvals_code
approvals_check_confirm(const struct policy *p,
    const struct policy_principal *officer, const struct store_exception *e,
    time_t now, char *msg, size_t msglen)
{
	if (!is_officer(p, officer))
		return refuse(APPROVALS_NOT_OFFICER, msg, msglen, "you are not "
		    "an approval officer in the interface register");
	if (strcmp(e->state, STORE_EX_ACTIVE) != 0 || !e->emergency ||
	    e->confirmed_by[0] != '\0')
		return refuse(APPROVALS_BAD_STATE, msg, msglen, "exception %s "
		    "is not an emergency exception waiting for confirmation",
		    e->id);
	if ((int64_t)now >= e->confirm_by || (int64_t)now >= e->not_after)
		return refuse(APPROVALS_EXPIRED, msg, msglen, "the time to "
		    "confirm exception %s has passed", e->id);
	if (!has_authority(p, officer, e->interface))
		return refuse(APPROVALS_NO_AUTHORITY, msg, msglen, "you are "
		    "not an approver of interface %s", e->interface);
	if (strcmp(officer->user, e->granted_by) == 0 ||
	    strcmp(officer->user, e->requester) == 0 ||
	    is_beneficiary(p, e, officer))
		return refuse(APPROVALS_OWN_REQUEST, msg, msglen, "a second "
		    "officer, who neither granted nor benefits from exception "
		    "%s, must confirm it", e->id);
	return APPROVALS_OK;
}

enum approvals_code
approvals_check_revoke(const struct policy *p,
    const struct policy_principal *officer, const struct store_exception *e,
    char *msg, size_t msglen)
{
	if (!is_officer(p, officer))
		return refuse(APPROVALS_NOT_OFFICER, msg, msglen, "you are not "
		    "an approval officer in the interface register");
	if (strcmp(e->state, STORE_EX_ACTIVE) != 0)
		return refuse(APPROVALS_BAD_STATE, msg, msglen, "exception %s "
		    "is %s; only a granted exception can be revoked", e->id,
		    e->state);
	if (strcmp(officer->user, e->granted_by) != 0 &&
	    !has_authority(p, officer, e->interface))
		return refuse(APPROVALS_NO_AUTHORITY, msg, msglen, "you are "
		    "not an approver of interface %s", e->interface);
	return APPROVALS_OK;
}

/* ---- cache ------------------------------------------------------------------ */

void
approvals_cache_init(struct approvals_cache *c)
{
	memset(c, 0, sizeof(*c));
}

void
approvals_cache_free(struct approvals_cache *c)
{
	free(c->e);
	memset(c, 0, sizeof(*c));
}

static int
is_open(const struct store_exception *e)
{
	return strcmp(e->state, STORE_EX_REQUESTED) == 0 ||
	    strcmp(e->state, STORE_EX_ACTIVE) == 0;
}

/* Index of id, or where it would go (*found says which). */
static size_t
cache_pos(const struct approvals_cache *c, const char *id, int *found)
{
	size_t lo = 0, hi = c->n, mid;
	int r;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		r = strcmp(c->e[mid].id, id);
		if (r == 0) {
			*found = 1;
			return mid;
		}
		if (r < 0)
			lo = mid + 1;
		else
			hi = mid;
	}
	*found = 0;
	return lo;
}

int
approvals_cache_put(struct approvals_cache *c,
    const struct store_exception *e)
{
	struct store_exception *ne;
	size_t i, cap;
	int found;

	i = cache_pos(c, e->id, &found);
	if (!is_open(e)) {
		if (found) {
			memmove(&c->e[i], &c->e[i + 1],
			    (c->n - i - 1) * sizeof(*c->e));
			c->n--;
		}
		return 0;
	}
	if (found) {
		c->e[i] = *e;
		return 0;
	}
	if (c->n >= APPROVALS_CACHE_MAX)
		return -1;
	if (c->n == c->cap) {
		cap = c->cap == 0 ? 16 : c->cap * 2;
		if (cap > APPROVALS_CACHE_MAX)
			cap = APPROVALS_CACHE_MAX;
		if ((ne = reallocarray(c->e, cap, sizeof(*ne))) == NULL)
			return -1;
		c->e = ne;
		c->cap = cap;
	}
	memmove(&c->e[i + 1], &c->e[i], (c->n - i) * sizeof(*c->e));
	c->e[i] = *e;
	c->n++;
	return 0;
}

const struct store_exception *
approvals_cache_find(const struct approvals_cache *c, const char *id)
{
	int found;
	size_t i;

	if (c->n == 0)
		return NULL;
	i = cache_pos(c, id, &found);
	return found ? &c->e[i] : NULL;
}

void
approvals_cache_count_use(struct approvals_cache *c, const char *id)
{
	int found;
	size_t i;

	if (c->n == 0)
		return;
	i = cache_pos(c, id, &found);
	if (found)
		c->e[i].uses++;
}

struct cache_load {
	struct approvals_cache *c;
	int full;
};

static int
load_one(const struct store_exception *e, void *arg)
{
	struct cache_load *l = arg;

	if (approvals_cache_put(l->c, e) != 0) {
		l->full = 1;
		return 1;
	}
	return 0;
}

int
approvals_cache_load(struct approvals_cache *c, struct store *st,
    char *err, size_t errlen)
{
	struct cache_load l = { c, 0 };

	c->n = 0;
	if (store_exception_each(st, STORE_EX_REQUESTED, load_one, &l, err,
	    errlen) != 0 || (!l.full && store_exception_each(st,
	    STORE_EX_ACTIVE, load_one, &l, err, errlen) != 0))
		return -1;
	if (l.full)
		return util_err(err, errlen, "more than %d open exceptions "
		    "(or out of memory); revoke or refuse some",
		    APPROVALS_CACHE_MAX);
	return 0;
}

size_t
approvals_cache_context(const struct approvals_cache *c,
    const struct policy *p, const struct policy_principal *who,
    const char *interface, time_t now, struct policy_exception *out,
    size_t max)
{
	size_t i, n = 0;

	for (i = 0; i < c->n && n < max; i++) {
		const struct store_exception *e = &c->e[i];

		if (strcmp(e->interface, interface) != 0 ||
		    !approvals_exception_usable(e, now) ||
		    !approvals_exception_covers(p, e, who))
			continue;
		approvals_exception_to_policy(e, who->user, &out[n++]);
	}
	return n;
}

/* ---- store operations ----------------------------------------------------- */

int
approvals_hold(struct store *st, const struct transfer *t,
    const char *approvers, unsigned required, uint64_t hold_secs,
    time_t now, char *err, size_t errlen)
{
	struct store_approval a;

	if (hold_secs == 0 || hold_secs > INT32_MAX)
		return util_err(err, errlen, "approvals: hold time out of "
		    "range");
	if (required < 1 || required > APPROVALS_MAX_VOTES ||
	    !util_is_token(approvers, 64))
		return util_err(err, errlen, "approvals: transfer %s: bad "
		    "approver group or count", t->id);
	memset(&a, 0, sizeof(a));
	if (util_strlcpy(a.transfer, t->id, sizeof(a.transfer)) != 0 ||
	    util_strlcpy(a.interface, t->interface, sizeof(a.interface)) != 0 ||
	    util_strlcpy(a.user, t->user, sizeof(a.user)) != 0 ||
	    util_strlcpy(a.approvers, approvers, sizeof(a.approvers)) != 0)
		return util_err(err, errlen, "approvals: transfer %s: a field "
		    "is too long", t->id);
	a.required = required;
	util_strlcpy(a.state, STORE_AP_PENDING, sizeof(a.state));
	a.created = now;
	a.expires = (int64_t)now + (int64_t)hold_secs;
	if (store_approval_insert(st, &a, err, errlen) != 0)
		return -1;
	return store_transfer_set_state(st, t->id, STORE_HELD, NULL, NULL,
	    now, err, errlen) == 0 ? 0 : -1;
}

int
approvals_vote(struct store *st, const struct store_vote *v, time_t now,
    struct approvals_vote_result *res, char *err, size_t errlen)
{
	struct store_approval a;
	struct store_vote votes[APPROVALS_MAX_VOTES + 1];
	const char *outcome;
	unsigned rejections = 0;
	size_t n = 0, i;
	int rc;

	memset(res, 0, sizeof(*res));
	rc = store_approval_get(st, v->transfer, &a, err, errlen);
	if (rc == STORE_NOTFOUND) {
		res->code = APPROVALS_NOT_PENDING;
		return 0;
	}
	if (rc != 0)
		return -1;
	res->required = a.required;
	res->approvals = a.approvals;
	util_strlcpy(res->state, a.state, sizeof(res->state));
	if (strcmp(a.state, STORE_AP_PENDING) != 0) {
		res->code = APPROVALS_NOT_PENDING;
		return 0;
	}
	if ((int64_t)now >= a.expires) {
		res->code = APPROVALS_EXPIRED;
		return 0;
	}
	if ((rc = store_vote_insert(st, v, err, errlen)) == STORE_EXISTS) {
		res->code = APPROVALS_ALREADY_VOTED;
		return 0;
	}
	if (rc != 0)
		return -1;
	/* Count from the store, this vote included: it is the truth even
	 * when several officers vote in one batch. */
	if (store_vote_list(st, v->transfer, votes, APPROVALS_MAX_VOTES + 1,
	    &n, err, errlen) != 0)
		return -1;
	res->approvals = 0;
	for (i = 0; i < n; i++) {
		if (votes[i].approve)
			res->approvals++;
		else
			rejections++;
	}
	outcome = approvals_tally(a.required, res->approvals, rejections);
	util_strlcpy(res->state, outcome, sizeof(res->state));
	res->code = APPROVALS_OK;
	if (strcmp(outcome, STORE_AP_PENDING) == 0)
		return 0;
	if (store_approval_close(st, v->transfer, outcome, v->officer,
	    v->comment, now, err, errlen) != 0)
		return -1;
	if (strcmp(outcome, STORE_AP_APPROVED) == 0)
		rc = store_transfer_set_state(st, v->transfer,
		    APPROVALS_RELEASED, NULL, NULL, now, err, errlen);
	else
		rc = store_transfer_set_state(st, v->transfer, STORE_REJECTED,
		    NULL, "rejected by an approval officer", now, err, errlen);
	return rc == 0 ? 0 : -1;
}

int
approvals_use_exception(struct store *st, const char *id,
    const char *transfer, const char *user, time_t now, char *err,
    size_t errlen)
{
	struct store_exception e;
	char cur[STORE_EX_ID_MAX + 1];
	int rc;

	/* A resumed upload was counted when it started. */
	rc = store_exception_of(st, transfer, cur, err, errlen);
	if (rc == 0 && strcmp(cur, id) == 0)
		return 0;
	if (rc == 0) {
		util_err(err, errlen, "transfer %s went through exception %s "
		    "before", transfer, cur);
		return 1;
	}
	if (rc != STORE_NOTFOUND)
		return -1;
	rc = store_exception_get(st, id, &e, err, errlen);
	if (rc == STORE_NOTFOUND) {
		util_err(err, errlen, "exception %s does not exist", id);
		return 1;
	}
	if (rc != 0)
		return -1;
	if (!approvals_exception_usable(&e, now)) {
		util_err(err, errlen, "exception %s is %s", id,
		    approvals_exception_status(&e, now));
		return 1;
	}
	rc = store_exception_use(st, id, transfer, user, now, err, errlen);
	if (rc == STORE_EXISTS)
		return 1;
	return rc == 0 ? 0 : -1;
}

int
approvals_may_forward(struct store *st, const char *transfer, time_t now,
    char *reason, size_t reasonlen)
{
	struct store_approval a;
	struct store_exception e;
	char id[STORE_EX_ID_MAX + 1];
	int rc;

	rc = store_approval_get(st, transfer, &a, reason, reasonlen);
	if (rc == 0 && strcmp(a.state, STORE_AP_APPROVED) != 0) {
		util_err(reason, reasonlen, "the transfer's approval is %s",
		    a.state);
		return 0;
	}
	if (rc != 0 && rc != STORE_NOTFOUND)
		return -1;
	rc = store_exception_of(st, transfer, id, reason, reasonlen);
	if (rc == STORE_NOTFOUND) {
		if (reasonlen > 0)
			reason[0] = '\0';
		return 1;
	}
	if (rc != 0 || store_exception_get(st, id, &e, reason,
	    reasonlen) != 0)
		return -1;
	if (!approvals_exception_holds(&e, now)) {
		util_err(reason, reasonlen, "exception %s it was sent under "
		    "is %s", id, approvals_exception_status(&e, now));
		return 0;
	}
	if (reasonlen > 0)
		reason[0] = '\0';
	return 1;
}

struct sweep {
	struct store *st;
	time_t now;
	int (*fn)(const struct approvals_change *, void *);
	void *arg;
	int count;
	int failed;
	int stopped;
	char *err;
	size_t errlen;
};

/* Hands a change to the caller: -1 fails the sweep, 1 stops it. */
static int
sweep_report(struct sweep *s, const struct approvals_change *ch)
{
	int r = s->fn != NULL ? s->fn(ch, s->arg) : 0;

	if (r < 0)
		s->failed = 1;
	else if (r > 0)
		s->stopped = 1;
	return r != 0;
}

static int
sweep_approval(const struct store_approval *a, void *arg)
{
	struct sweep *s = arg;
	struct approvals_change ch;
	struct store_approval closed = *a;
	int rc;

	rc = store_approval_close(s->st, a->transfer, STORE_AP_EXPIRED, "",
	    "no decision before the wait for approval ended", s->now, s->err,
	    s->errlen);
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc != 0 || store_transfer_set_state(s->st, a->transfer,
	    STORE_EXPIRED, NULL, "no approval before the wait ended",
	    s->now, s->err, s->errlen) != 0)
		goto fail;
	util_strlcpy(closed.state, STORE_AP_EXPIRED, sizeof(closed.state));
	closed.decided = s->now;
	memset(&ch, 0, sizeof(ch));
	ch.kind = "approval_expired";
	ch.a = &closed;
	s->count++;
	return sweep_report(s, &ch);
fail:
	s->failed = 1;
	return 1;
}

static int
sweep_exception(const struct store_exception *e, void *arg)
{
	struct sweep *s = arg;
	struct approvals_change ch;
	struct store_exception r = *e;
	int rc;

	if (!emergency_lapsed(e, s->now))
		return 0;
	util_strlcpy(r.state, STORE_EX_REVOKED, sizeof(r.state));
	r.ended_by[0] = '\0';
	r.ended = s->now;
	util_strlcpy(r.end_reason, "emergency exception not confirmed by a "
	    "second officer in time", sizeof(r.end_reason));
	rc = store_exception_update(s->st, &r, STORE_EX_ACTIVE, s->err,
	    s->errlen);
	if (rc == STORE_NOTFOUND)
		return 0;
	if (rc != 0)
		goto fail;
	memset(&ch, 0, sizeof(ch));
	ch.kind = "exception_auto_revoked";
	ch.e = &r;
	s->count++;
	return sweep_report(s, &ch);
fail:
	s->failed = 1;
	return 1;
}

int
approvals_sweep(struct store *st, time_t now,
    int (*fn)(const struct approvals_change *ch, void *arg), void *arg,
    char *err, size_t errlen)
{
	struct sweep s;

	memset(&s, 0, sizeof(s));
	s.st = st;
	s.now = now;
	s.fn = fn;
	s.arg = arg;
	s.err = err;
	s.errlen = errlen;
	if (store_approval_each(st, STORE_AP_PENDING, (int64_t)now + 1,
	    sweep_approval, &s, err, errlen) != 0 || s.failed)
		return -1;
	if (!s.stopped && (store_exception_each(st, STORE_EX_ACTIVE,
	    sweep_exception, &s, err, errlen) != 0 || s.failed))
		return -1;
	return s.count;
}
