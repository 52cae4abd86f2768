/*
 * policy — the interface register (インターフェース管理台帳) and the decision
 * made against it. See policy.h for the contract and docs/policy.md for the
 * schema an administrator writes.
 *
 * Loading does all the work that can be done once: every string is copied
 * into an arena owned by the register, ids are sorted for binary search,
 * references (service, user, group, terminal, interface) are resolved to
 * indexes, dates are turned into instants in the interface's time zone and
 * time zones into offset tables (tzone). What is left for policy_decide is
 * comparisons and binary searches, so it never allocates and may run on the
 * event loop thread.
 *
 * The decision is one function (evaluate) shared by policy_decide and
 * policy_explain; explain only adds a trace buffer, so the chain of checks it
 * shows is the chain that decided.
 */
#include "policy/policy.h"
#include "policy/tzone.h"
#include "lib/util.h"
#include "lib/yamlnode.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

/* Bounds on what one register may hold; far above any municipality's. */
#define MAX_SERVICES	1000
#define MAX_USERS	100000
#define MAX_GROUPS	10000
#define MAX_TERMINALS	100000
#define MAX_INTERFACES	20000
#define MAX_FORBIDS	1000
#define MAX_LIST	10000	/* entries in one selector list */
#define MAX_WINDOWS	8	/* hour windows in one schedule */
#define MAX_ZONES	64
#define EXT_MAX		31
#define TEXT_MAX	512
#define PATH_MAX_LEN	512

#define DEFAULT_ZONE		"Asia/Tokyo"
#define DEFAULT_STEPUP_AGE	900
#define MAX_STEPUP_AGE		86400
#define MAX_EXC_DURATION	(90ull * 86400)

#define NONE		UINT32_MAX
#define UNLIMITED	UINT64_MAX

struct arena_blk {
	struct arena_blk *next;
	size_t used, cap;
	max_align_t data[];
};

struct idxlist {
	uint32_t *v;			/* sorted, unique */
	size_t n;
};

struct strlist {
	const char **v;			/* sorted, unique */
	size_t n;
};

struct window {
	int from, to;			/* minutes; from > to crosses midnight */
};

struct cond {
	int set;
	int always;
	unsigned min_class;		/* 0: none */
	int has_size;
	uint64_t min_size;
};

struct user {
	const char *id;
	const char *name;
	const char *dept;		/* NULL: taken from the certificate */
	unsigned roles;
	int disabled;
	unsigned line;
};

struct group {
	const char *id;
	const char *name;
	struct strlist depts;
	struct idxlist users;
	unsigned line;
};

struct terminal {
	const char *id;
	const char *group;		/* terminal group, may be NULL */
	unsigned line;
};

/* A principal selector (allow lists and forbids). */
struct selector {
	struct idxlist users;
	struct idxlist groups;
	unsigned roles;
	struct idxlist terms;
	struct strlist tgroups;
};

struct forbid {
	const char *id;
	const char *message;
	unsigned line;
	struct idxlist ifaces;
	struct selector sel;
	struct strlist exts;
	unsigned min_class;		/* 0: any */
	int has_size;
	uint64_t min_size;
};

struct iface {
	const char *id;
	const char *purpose;
	const char *owner;
	const char *approved_by;
	const char *approved_on;	/* text as written */
	const char *path;
	unsigned line;
	uint32_t service;		/* index or NONE */

	const struct tzone *tz;
	const char *valid_from_txt, *valid_until_txt, *review_txt;
	int64_t valid_from;		/* INT64_MIN when open */
	int64_t valid_until;		/* first instant no longer valid */
	int64_t review_late;		/* first instant past next_review */

	unsigned max_class;
	unsigned default_class;		/* 0: a put must name its class */
	uint64_t max_size;

	int legacy_open;
	struct selector allow;

	int has_sched;
	uint8_t days;			/* bit 0 Sunday .. bit 6 Saturday */
	struct window win[MAX_WINDOWS];
	size_t nwin;
	const char *sched_txt;

	struct strlist ext_allow, ext_deny;
	uint64_t daily_bytes, daily_count;

	struct cond stepup;
	uint64_t stepup_age;
	struct cond approval;
	uint32_t approvers;		/* group index */
	unsigned approvals;

	int has_exlim;
	struct policy_exception_limits exlim;
	struct strlist exlim_ext;	/* exlim.extensions points into it */
};

struct policy {
	char *name;
	char hash[UTIL_SHA256_HEX + 1];
	struct arena_blk *arena;
	int review_deny;
	int unknown_deny;
	struct tzone *zones[MAX_ZONES];
	size_t nzones;
	const struct tzone *tz;		/* register default */
	struct policy_service *services;
	size_t nservices;
	struct user *users;
	size_t nusers;
	struct group *groups;
	size_t ngroups;
	struct terminal *terms;
	size_t nterms;
	struct strlist tgroups;
	struct iface *ifaces;
	size_t nifaces;
	struct forbid *forbids;
	size_t nforbids;
	/* register_approvers: who approves changes of this register */
	int reg_set;
	uint32_t reg_group;		/* group index */
	unsigned reg_count;
};

/* ---------------------------------------------------------------- arena */

static void *
arena_alloc(struct policy *p, size_t n)
{
	struct arena_blk *b = p->arena;
	size_t al = sizeof(max_align_t), need;
	void *r;

	if (n == 0)
		n = 1;
	if (n > SIZE_MAX / 2)
		return NULL;
	need = (n + al - 1) / al * al;
	if (b == NULL || b->cap - b->used < need) {
		size_t cap = need > 65536 ? need : 65536;

		if ((b = calloc(1, sizeof(*b) + cap)) == NULL)
			return NULL;
		b->cap = cap;
		b->next = p->arena;
		p->arena = b;
	}
	r = (unsigned char *)b->data + b->used;
	b->used += need;
	return r;
}

static void *
arena_array(struct policy *p, size_t n, size_t size)
{
	if (size != 0 && n > SIZE_MAX / 4 / size)
		return NULL;
	return arena_alloc(p, n * size);
}

static char *
arena_strdup(struct policy *p, const char *s)
{
	size_t n = strlen(s) + 1;
	char *d;

	if ((d = arena_alloc(p, n)) != NULL)
		memcpy(d, s, n);
	return d;
}

/* ------------------------------------------------------ small helpers */

static const char *const day_names[7] = {
	"sun", "mon", "tue", "wed", "thu", "fri", "sat"
};
static const char *const day_titles[7] = {
	"Sun", "Mon", "Tue", "Wed", "Thu", "Fri", "Sat"
};

static int64_t
floor_div(int64_t a, int64_t b)
{
	int64_t q = a / b;

	if ((a % b != 0) && ((a < 0) != (b < 0)))
		q--;
	return q;
}

/* Days since 1970-01-01 of a civil date (H. Hinnant's algorithm). */
static int64_t
days_from_civil(int64_t y, unsigned m, unsigned d)
{
	int64_t era;
	unsigned yoe, doy, doe;

	y -= m <= 2;
	era = floor_div(y, 400);
	yoe = (unsigned)(y - era * 400);
	doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
	doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
	return era * 146097 + (int64_t)doe - 719468;
}

static int
is_leap(int y)
{
	return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
}

/* "YYYY-MM-DD" → days since the epoch. */
static int
parse_date(const char *s, int64_t *days)
{
	static const unsigned mdays[12] = {
		31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31
	};
	int y, m, d, i;

	if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
		return -1;
	for (i = 0; i < 10; i++)
		if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
			return -1;
	y = (s[0] - '0') * 1000 + (s[1] - '0') * 100 + (s[2] - '0') * 10 +
	    (s[3] - '0');
	m = (s[5] - '0') * 10 + (s[6] - '0');
	d = (s[8] - '0') * 10 + (s[9] - '0');
	if (y < 1970 || y > 2999 || m < 1 || m > 12 || d < 1)
		return -1;
	if (d > (int)mdays[m - 1] + (m == 2 && is_leap(y)))
		return -1;
	*days = days_from_civil(y, (unsigned)m, (unsigned)d);
	return 0;
}

static int
parse_hhmm(const char *s, size_t len, int *min)
{
	int h, m;

	if (len != 5 || s[2] != ':' || s[0] < '0' || s[0] > '9' ||
	    s[1] < '0' || s[1] > '9' || s[3] < '0' || s[3] > '5' ||
	    s[4] < '0' || s[4] > '9')
		return -1;
	h = (s[0] - '0') * 10 + (s[1] - '0');
	m = (s[3] - '0') * 10 + (s[4] - '0');
	if (h > 24 || (h == 24 && m != 0))
		return -1;
	*min = h * 60 + m;
	return 0;
}

int
policy_parse_hours(const char *s, int *from, int *to)
{
	const char *dash;
	int a, b;

	if (s == NULL || (dash = strchr(s, '-')) == NULL)
		return -1;
	if (parse_hhmm(s, (size_t)(dash - s), &a) != 0 ||
	    parse_hhmm(dash + 1, strlen(dash + 1), &b) != 0)
		return -1;
	if (a == 1440 || a == b)
		return -1;
	*from = a;
	*to = b;
	return 0;
}

static int
win_has(int from, int to, int min)
{
	if (from < to)
		return min >= from && min < to;
	return min >= from || min < to;
}

static void
fmt_size(uint64_t v, char *buf, size_t len)
{
	if (v >= (1ull << 30) && v % (1ull << 30) == 0)
		snprintf(buf, len, "%" PRIu64 " GiB", v >> 30);
	else if (v >= (1ull << 20) && v % (1ull << 20) == 0)
		snprintf(buf, len, "%" PRIu64 " MiB", v >> 20);
	else if (v >= (1ull << 10) && v % (1ull << 10) == 0)
		snprintf(buf, len, "%" PRIu64 " KiB", v >> 10);
	else
		snprintf(buf, len, "%" PRIu64 " bytes", v);
}

static int
cmp_str(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

static int
cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

	return x < y ? -1 : x > y;
}

static int
strlist_has(const struct strlist *l, const char *s)
{
	size_t lo = 0, hi = l->n;

	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		int c = strcmp(s, l->v[mid]);

		if (c == 0)
			return 1;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

static int
idxlist_has(const struct idxlist *l, uint32_t x)
{
	size_t lo = 0, hi = l->n;

	if (x == NONE)
		return 0;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;

		if (l->v[mid] == x)
			return 1;
		if (l->v[mid] > x)
			hi = mid;
		else
			lo = mid + 1;
	}
	return 0;
}

/*
 * Binary search over an array of structs whose first member is the id
 * string. Returns the index or NONE.
 */
static uint32_t
find_id(const void *base, size_t n, size_t size, const char *id)
{
	size_t lo = 0, hi = n;

	if (id == NULL)
		return NONE;
	while (lo < hi) {
		size_t mid = lo + (hi - lo) / 2;
		const char *k = *(const char *const *)(const void *)
		    ((const unsigned char *)base + mid * size);
		int c = strcmp(id, k);

		if (c == 0)
			return (uint32_t)mid;
		if (c < 0)
			hi = mid;
		else
			lo = mid + 1;
	}
	return NONE;
}

#define FIND(arr, n, id) find_id((arr), (n), sizeof(*(arr)), (id))

/*
 * Extension of a file name as the receiving system will see it: the part
 * after the last dot of the last path component, after stripping trailing
 * dots and spaces (Windows drops them, so "a.exe." is an .exe). A leading
 * dot alone ("".profile") is not an extension. Returns 1 and the lowercase
 * extension, 0 when there is none, -1 when it is longer than any register
 * entry can be (it then matches no list).
 */
static int
file_ext(const char *name, char out[EXT_MAX + 1])
{
	const char *base = name, *s, *dot = NULL;
	size_t len, i, n;

	if (name == NULL)
		return 0;
	for (s = name; *s != '\0'; s++)
		if (*s == '/' || *s == '\\')
			base = s + 1;
	len = strlen(base);
	while (len > 0 && (base[len - 1] == '.' || base[len - 1] == ' '))
		len--;
	for (i = 1; i < len; i++)
		if (base[i] == '.')
			dot = base + i;
	if (dot == NULL)
		return 0;
	n = (size_t)(base + len - dot - 1);
	if (n == 0)
		return 0;
	if (n > EXT_MAX)
		return -1;
	for (i = 0; i < n; i++) {
		char c = dot[1 + i];

		out[i] = (c >= 'A' && c <= 'Z') ? (char)(c - 'A' + 'a') : c;
	}
	out[n] = '\0';
	return 1;
}

/*
 * Whether the comma-separated list of an exception ("pdf,xlsx") names ext.
 * The list is compared as given: policy_exception_check keeps malformed
 * lists from being granted, and a malformed item simply matches nothing.
 */
static int
ext_list_has(const char *list, const char *ext)
{
	size_t n = strlen(ext), len;

	if (list == NULL || n == 0)
		return 0;
	while (*list != '\0') {
		len = strcspn(list, ",");
		if (len == n && memcmp(list, ext, n) == 0)
			return 1;
		list += len;
		if (*list == ',')
			list++;
	}
	return 0;
}

/* ------------------------------------------------------------ loading */

struct ld {
	struct policy *p;
	const char *name;
	char *err;
	size_t errlen;
};

static int lfail(struct ld *, unsigned, const char *, const char *,
    const char *, ...) __attribute__((format(printf, 5, 6)));

/* "name:line: where.key: message". Returns -1. */
static int
lfail(struct ld *l, unsigned line, const char *where, const char *key,
    const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	return util_err(l->err, l->errlen, "%s:%u: %s%s%s: %s", l->name, line,
	    where, (key != NULL && where[0] != '\0') ? "." : "",
	    key != NULL ? key : "", msg);
}

static int
nomem(struct ld *l)
{
	return util_err(l->err, l->errlen, "%s: out of memory", l->name);
}

static int
check_keys(struct ld *l, const struct yamlnode *map, const char *where,
    const char *const *allowed)
{
	size_t i, j;

	for (i = 0; i < map->n; i++) {
		for (j = 0; allowed[j] != NULL; j++)
			if (strcmp(map->keys[i], allowed[j]) == 0)
				break;
		if (allowed[j] == NULL)
			return lfail(l, map->key_lines[i], where, map->keys[i],
			    "unknown key");
	}
	return 0;
}

static int
need_map(struct ld *l, const struct yamlnode *n, const char *where,
    const char *key)
{
	if (n->kind != YAMLNODE_MAP)
		return lfail(l, n->line, where, key, "must be a mapping");
	return 0;
}

/* Checks a scalar node's text. */
static int
scalar_ok(struct ld *l, const struct yamlnode *n, const char *where,
    const char *key, size_t maxlen)
{
	size_t i;

	if (n->kind != YAMLNODE_SCALAR)
		return lfail(l, n->line, where, key, "must be a single value");
	if (strlen(n->value) != n->value_len)
		return lfail(l, n->line, where, key, "contains a NUL byte");
	if (n->value_len == 0)
		return lfail(l, n->line, where, key, "must not be empty");
	if (n->value_len > maxlen)
		return lfail(l, n->line, where, key, "longer than %zu bytes",
		    maxlen);
	for (i = 0; i < n->value_len; i++) {
		unsigned char c = (unsigned char)n->value[i];

		if (c < 0x20 || c == 0x7f)
			return lfail(l, n->line, where, key,
			    "contains control characters");
	}
	return 0;
}

/* 1 absent, 0 present and valid (*out, *line set), -1 error. */
static int
get_text(struct ld *l, const struct yamlnode *map, const char *where,
    const char *key, size_t maxlen, const char **out, unsigned *line)
{
	const struct yamlnode *n = yamlnode_get(map, key);

	if (n == NULL)
		return 1;
	if (scalar_ok(l, n, where, key, maxlen) != 0)
		return -1;
	*out = n->value;
	if (line != NULL)
		*line = n->line;
	return 0;
}

/* Copies an optional free-text value into the arena. */
static int
get_copy(struct ld *l, const struct yamlnode *map, const char *where,
    const char *key, size_t maxlen, const char **out)
{
	const char *s;
	int r;

	if ((r = get_text(l, map, where, key, maxlen, &s, NULL)) != 0)
		return r;
	if ((*out = arena_strdup(l->p, s)) == NULL)
		return nomem(l);
	return 0;
}

static int
token_ok(struct ld *l, const struct yamlnode *n, const char *where,
    const char *key)
{
	if (scalar_ok(l, n, where, key, POLICY_ID_MAX) != 0)
		return -1;
	if (!util_is_token(n->value, POLICY_ID_MAX))
		return lfail(l, n->line, where, key, "'%s' is not a valid id "
		    "(letters, digits, '.', '_', '-'; not starting with '.' "
		    "or '-')", n->value);
	return 0;
}

/* An id-like value copied into the arena. */
static int
get_id(struct ld *l, const struct yamlnode *map, const char *where,
    const char *key, int required, const char **out, unsigned *line)
{
	const struct yamlnode *n = yamlnode_get(map, key);

	if (n == NULL) {
		if (required)
			return lfail(l, map->line, where, key, "missing");
		return 1;
	}
	if (token_ok(l, n, where, key) != 0)
		return -1;
	if ((*out = arena_strdup(l->p, n->value)) == NULL)
		return nomem(l);
	if (line != NULL)
		*line = n->line;
	return 0;
}

static int
get_uint(struct ld *l, const struct yamlnode *map, const char *where,
    const char *key, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *s;
	unsigned line;
	uint64_t v = 0;
	size_t i;
	int r;

	if ((r = get_text(l, map, where, key, 20, &s, &line)) != 0)
		return r;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9' ||
		    v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			break;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (s[i] != '\0' || v < min || v > max)
		return lfail(l, line, where, key, "must be %" PRIu64 "..%"
		    PRIu64, min, max);
	*out = v;
	return 0;
}

static int
get_size(struct ld *l, const struct yamlnode *map, const char *where,
    const char *key, uint64_t *out)
{
	const char *s;
	unsigned line;
	int r;

	if ((r = get_text(l, map, where, key, 32, &s, &line)) != 0)
		return r;
	if (util_parse_size(s, out) != 0 || *out == 0)
		return lfail(l, line, where, key, "'%s' is not a size such as "
		    "1048576, 512KiB, 10MiB or 2GiB", s);
	return 0;
}

static int
get_duration(struct ld *l, const struct yamlnode *map, const char *where,
    const char *key, uint64_t min, uint64_t max, uint64_t *out)
{
	const char *s;
	unsigned line;
	int r;

	if ((r = get_text(l, map, where, key, 32, &s, &line)) != 0)
		return r;
	if (util_parse_duration(s, out) != 0)
		return lfail(l, line, where, key, "'%s' is not a duration such "
		    "as 90s, 15m, 24h or 7d", s);
	if (*out < min || *out > max)
		return lfail(l, line, where, key, "must be between %" PRIu64
		    "s and %" PRIu64 "s", min, max);
	return 0;
}

static int
get_bool(struct ld *l, const struct yamlnode *map, const char *where,
    const char *key, int *out)
{
	const char *s;
	unsigned line;
	int r;

	if ((r = get_text(l, map, where, key, 8, &s, &line)) != 0)
		return r;
	if (strcmp(s, "true") == 0)
		*out = 1;
	else if (strcmp(s, "false") == 0)
		*out = 0;
	else
		return lfail(l, line, where, key, "must be true or false");
	return 0;
}

/* 1 absent, 0 a sequence, -1 something else. */
static int
get_seq(struct ld *l, const struct yamlnode *map, const char *where,
    const char *key, const struct yamlnode **out)
{
	const struct yamlnode *n = yamlnode_get(map, key);

	if (n == NULL)
		return 1;
	if (n->kind != YAMLNODE_SEQ)
		return lfail(l, n->line, where, key, "must be a list");
	*out = n;
	return 0;
}

/* "where.key[i]" into buf. */
static void
item_name(char *buf, size_t len, const char *where, const char *key,
    size_t i)
{
	snprintf(buf, len, "%s%s%s[%zu]", where, where[0] != '\0' ? "." : "",
	    key, i);
}

static int
load_zone(struct ld *l, const char *name, unsigned line, const char *where,
    const char *key, const struct tzone **out)
{
	struct policy *p = l->p;
	char msg[160];
	size_t i;

	for (i = 0; i < p->nzones; i++)
		if (strcmp(tzone_name(p->zones[i]), name) == 0) {
			*out = p->zones[i];
			return 0;
		}
	if (p->nzones == MAX_ZONES)
		return lfail(l, line, where, key, "more than %d different time "
		    "zones", MAX_ZONES);
	if (tzone_load(name, &p->zones[p->nzones], msg, sizeof(msg)) != 0)
		return lfail(l, line, where, key, "%s", msg);
	*out = p->zones[p->nzones++];
	return 0;
}

/*
 * Reads a list of ids (or lowercased extensions) into a sorted, unique
 * string list. kind 0: ids; kind 1: extensions; kind 2: departments.
 */
static int
load_strlist(struct ld *l, const struct yamlnode *map, const char *where,
    const char *key, int kind, struct strlist *out)
{
	const struct yamlnode *seq = NULL;
	char name[192];
	size_t i, j;
	int r;

	if ((r = get_seq(l, map, where, key, &seq)) != 0)
		return r;
	if (seq->n > MAX_LIST)
		return lfail(l, seq->line, where, key, "more than %d entries",
		    MAX_LIST);
	out->n = seq->n;
	if ((out->v = arena_array(l->p, seq->n, sizeof(*out->v))) == NULL)
		return nomem(l);
	for (i = 0; i < seq->n; i++) {
		const struct yamlnode *it = seq->items[i];
		char *s;

		item_name(name, sizeof(name), where, key, i);
		if (kind == 1) {
			const char *e;

			if (scalar_ok(l, it, name, NULL, EXT_MAX + 1) != 0)
				return -1;
			e = it->value[0] == '.' ? it->value + 1 : it->value;
			if (e[0] == '\0' || strlen(e) > EXT_MAX)
				return lfail(l, it->line, name, NULL,
				    "extension must be 1..%d characters",
				    EXT_MAX);
			for (j = 0; e[j] != '\0'; j++)
				if (!((e[j] >= 'a' && e[j] <= 'z') ||
				    (e[j] >= 'A' && e[j] <= 'Z') ||
				    (e[j] >= '0' && e[j] <= '9') ||
				    strchr("_+~-", e[j]) != NULL))
					return lfail(l, it->line, name, NULL,
					    "'%s' is not a single extension "
					    "(letters, digits, _ + ~ -)",
					    it->value);
			if ((s = arena_strdup(l->p, e)) == NULL)
				return nomem(l);
			for (j = 0; s[j] != '\0'; j++)
				if (s[j] >= 'A' && s[j] <= 'Z')
					s[j] = (char)(s[j] - 'A' + 'a');
		} else {
			if (token_ok(l, it, name, NULL) != 0)
				return -1;
			if ((s = arena_strdup(l->p, it->value)) == NULL)
				return nomem(l);
		}
		out->v[i] = s;
	}
	qsort(out->v, out->n, sizeof(*out->v), cmp_str);
	for (i = 1; i < out->n; i++)
		if (strcmp(out->v[i - 1], out->v[i]) == 0)
			return lfail(l, seq->line, where, key,
			    "'%s' is listed twice", out->v[i]);
	return 0;
}

/* Reads a list of references to ids of an array (users, groups, ...). */
static int
load_refs(struct ld *l, const struct yamlnode *map, const char *where,
    const char *key, const void *base, size_t n, size_t size,
    const char *what, struct idxlist *out)
{
	const struct yamlnode *seq = NULL;
	char name[192];
	size_t i;
	int r;

	if ((r = get_seq(l, map, where, key, &seq)) != 0)
		return r;
	if (seq->n > MAX_LIST)
		return lfail(l, seq->line, where, key, "more than %d entries",
		    MAX_LIST);
	out->n = seq->n;
	if ((out->v = arena_array(l->p, seq->n, sizeof(*out->v))) == NULL)
		return nomem(l);
	for (i = 0; i < seq->n; i++) {
		const struct yamlnode *it = seq->items[i];
		uint32_t x;

		item_name(name, sizeof(name), where, key, i);
		if (token_ok(l, it, name, NULL) != 0)
			return -1;
		x = find_id(base, n, size, it->value);
		if (x == NONE)
			return lfail(l, it->line, name, NULL, "unknown %s '%s'",
			    what, it->value);
		out->v[i] = x;
	}
	qsort(out->v, out->n, sizeof(*out->v), cmp_u32);
	for (i = 1; i < out->n; i++)
		if (out->v[i - 1] == out->v[i])
			return lfail(l, seq->line, where, key,
			    "an entry is listed twice");
	return 0;
}

static int
role_bit(const char *s, unsigned *bit)
{
	static const struct {
		const char *name;
		unsigned bit;
	} roles[] = {
		{ "staff", POLICY_ROLE_STAFF },
		{ "officer", POLICY_ROLE_OFFICER },
		{ "auditor", POLICY_ROLE_AUDITOR },
		{ "admin", POLICY_ROLE_ADMIN },
	};
	size_t i;

	for (i = 0; i < sizeof(roles) / sizeof(roles[0]); i++)
		if (strcmp(s, roles[i].name) == 0) {
			*bit = roles[i].bit;
			return 0;
		}
	return -1;
}

static int
load_roles(struct ld *l, const struct yamlnode *map, const char *where,
    const char *key, unsigned *out)
{
	const struct yamlnode *seq = NULL;
	char name[192];
	size_t i;
	int r;

	if ((r = get_seq(l, map, where, key, &seq)) != 0)
		return r;
	if (seq->n == 0)
		return lfail(l, seq->line, where, key, "must not be empty");
	*out = 0;
	for (i = 0; i < seq->n; i++) {
		unsigned bit;

		item_name(name, sizeof(name), where, key, i);
		if (scalar_ok(l, seq->items[i], name, NULL, 16) != 0)
			return -1;
		if (role_bit(seq->items[i]->value, &bit) != 0)
			return lfail(l, seq->items[i]->line, name, NULL,
			    "'%s' is not a role (staff, officer, auditor, "
			    "admin)", seq->items[i]->value);
		if (*out & bit)
			return lfail(l, seq->items[i]->line, name, NULL,
			    "role '%s' is listed twice", seq->items[i]->value);
		*out |= bit;
	}
	return 0;
}

/* Terminal selectors name a terminal id or a terminal group. */
static int
load_terminal_sel(struct ld *l, const struct yamlnode *map, const char *where,
    struct selector *sel)
{
	struct policy *p = l->p;
	const struct yamlnode *seq = NULL;
	char name[192];
	size_t i, nt = 0, ng = 0;
	int r;

	if ((r = get_seq(l, map, where, "terminals", &seq)) != 0)
		return r;
	if (seq->n > MAX_LIST)
		return lfail(l, seq->line, where, "terminals",
		    "more than %d entries", MAX_LIST);
	sel->terms.v = arena_array(p, seq->n, sizeof(*sel->terms.v));
	sel->tgroups.v = arena_array(p, seq->n, sizeof(*sel->tgroups.v));
	if (sel->terms.v == NULL || sel->tgroups.v == NULL)
		return nomem(l);
	for (i = 0; i < seq->n; i++) {
		const struct yamlnode *it = seq->items[i];
		uint32_t x;

		item_name(name, sizeof(name), where, "terminals", i);
		if (token_ok(l, it, name, NULL) != 0)
			return -1;
		if ((x = FIND(p->terms, p->nterms, it->value)) != NONE)
			sel->terms.v[nt++] = x;
		else if (strlist_has(&p->tgroups, it->value)) {
			if ((sel->tgroups.v[ng++] = arena_strdup(p,
			    it->value)) == NULL)
				return nomem(l);
		} else
			return lfail(l, it->line, name, NULL, "unknown terminal "
			    "or terminal group '%s'", it->value);
	}
	sel->terms.n = nt;
	sel->tgroups.n = ng;
	qsort(sel->terms.v, nt, sizeof(*sel->terms.v), cmp_u32);
	qsort(sel->tgroups.v, ng, sizeof(*sel->tgroups.v), cmp_str);
	for (i = 1; i < nt; i++)
		if (sel->terms.v[i - 1] == sel->terms.v[i])
			return lfail(l, seq->line, where, "terminals",
			    "an entry is listed twice");
	for (i = 1; i < ng; i++)
		if (strcmp(sel->tgroups.v[i - 1], sel->tgroups.v[i]) == 0)
			return lfail(l, seq->line, where, "terminals",
			    "an entry is listed twice");
	return 0;
}

/* users, groups, roles, terminals of an allow list or a forbid. */
static int
load_selector(struct ld *l, const struct yamlnode *map, const char *where,
    struct selector *sel)
{
	struct policy *p = l->p;

	if (load_refs(l, map, where, "users", p->users, p->nusers,
	    sizeof(*p->users), "user", &sel->users) < 0 ||
	    load_refs(l, map, where, "groups", p->groups, p->ngroups,
	    sizeof(*p->groups), "group", &sel->groups) < 0 ||
	    load_roles(l, map, where, "roles", &sel->roles) < 0 ||
	    load_terminal_sel(l, map, where, sel) < 0)
		return -1;
	return 0;
}

/* Index of the last entry of seq that starts on line (for messages). */
static size_t
seq_index(const struct yamlnode *seq, unsigned line)
{
	size_t i, r = 0;

	for (i = 0; i < seq->n; i++)
		if (seq->items[i]->line == line)
			r = i;
	return r;
}

/* Sorts an array of id-first structs and refuses duplicates. */
static int
sort_unique(struct ld *l, void *base, size_t n, size_t size,
    size_t line_off, const struct yamlnode *seq, const char *section_name)
{
	unsigned char *b = base;
	char where[96];
	size_t i;

	qsort(base, n, size, cmp_str);
	for (i = 1; i < n; i++) {
		const char *a = *(const char **)(void *)(b + (i - 1) * size);
		const char *c = *(const char **)(void *)(b + i * size);

		if (strcmp(a, c) == 0) {
			unsigned la = *(unsigned *)(void *)(b + (i - 1) * size +
			    line_off);
			unsigned lc = *(unsigned *)(void *)(b + i * size +
			    line_off);
			unsigned later = la > lc ? la : lc;

			snprintf(where, sizeof(where), "%s[%zu]", section_name,
			    seq_index(seq, later));
			return lfail(l, later, where, "id",
			    "duplicate id '%s' (also at line %u)", a,
			    la > lc ? lc : la);
		}
	}
	return 0;
}

/* Counts sequence entries of section key, refusing more than max. */
static int
section(struct ld *l, const struct yamlnode *map, const char *where,
    const char *key, size_t max, const struct yamlnode **seq)
{
	int r;

	*seq = NULL;
	if ((r = get_seq(l, map, where, key, seq)) != 0)
		return r < 0 ? -1 : 0;
	if ((*seq)->n > max)
		return lfail(l, (*seq)->line, where, key, "more than %zu "
		    "entries", max);
	return 0;
}

static int
load_users(struct ld *l, const struct yamlnode *pr)
{
	static const char *const keys[] = {
		"id", "name", "department", "roles", "disabled", NULL
	};
	struct policy *p = l->p;
	const struct yamlnode *seq = NULL;
	char where[96];
	size_t i;

	if (section(l, pr, "principals", "users", MAX_USERS, &seq) != 0)
		return -1;
	if (seq == NULL)
		return 0;
	p->nusers = seq->n;
	if ((p->users = arena_array(p, seq->n, sizeof(*p->users))) == NULL)
		return nomem(l);
	for (i = 0; i < seq->n; i++) {
		const struct yamlnode *m = seq->items[i];
		struct user *u = &p->users[i];

		snprintf(where, sizeof(where), "principals.users[%zu]", i);
		if (need_map(l, m, where, NULL) != 0 ||
		    check_keys(l, m, where, keys) != 0 ||
		    get_id(l, m, where, "id", 1, &u->id, NULL) < 0 ||
		    get_copy(l, m, where, "name", 128, &u->name) < 0 ||
		    get_id(l, m, where, "department", 0, &u->dept, NULL) < 0 ||
		    get_bool(l, m, where, "disabled", &u->disabled) < 0)
			return -1;
		u->line = m->line;
		u->roles = POLICY_ROLE_STAFF;
		if (load_roles(l, m, where, "roles", &u->roles) < 0)
			return -1;
	}
	return sort_unique(l, p->users, p->nusers, sizeof(*p->users),
	    offsetof(struct user, line), seq, "principals.users");
}

static int
load_groups(struct ld *l, const struct yamlnode *pr)
{
	static const char *const keys[] = {
		"id", "name", "departments", "users", NULL
	};
	struct policy *p = l->p;
	const struct yamlnode *seq = NULL;
	char where[96];
	size_t i;

	if (section(l, pr, "principals", "groups", MAX_GROUPS, &seq) != 0)
		return -1;
	if (seq == NULL)
		return 0;
	p->ngroups = seq->n;
	if ((p->groups = arena_array(p, seq->n, sizeof(*p->groups))) == NULL)
		return nomem(l);
	/* Ids first, so that sorting cannot disturb references. */
	for (i = 0; i < seq->n; i++) {
		const struct yamlnode *m = seq->items[i];
		struct group *g = &p->groups[i];

		snprintf(where, sizeof(where), "principals.groups[%zu]", i);
		if (need_map(l, m, where, NULL) != 0 ||
		    check_keys(l, m, where, keys) != 0 ||
		    get_id(l, m, where, "id", 1, &g->id, NULL) < 0 ||
		    get_copy(l, m, where, "name", 128, &g->name) < 0)
			return -1;
		g->line = m->line;
	}
	if (sort_unique(l, p->groups, p->ngroups, sizeof(*p->groups),
	    offsetof(struct group, line), seq, "principals.groups") != 0)
		return -1;
	for (i = 0; i < seq->n; i++) {
		const struct yamlnode *m = seq->items[i];
		struct group *g;
		const char *id = yamlnode_get(m, "id")->value;

		g = &p->groups[FIND(p->groups, p->ngroups, id)];
		snprintf(where, sizeof(where), "principals.groups[%zu]", i);
		if (load_strlist(l, m, where, "departments", 2,
		    &g->depts) < 0 ||
		    load_refs(l, m, where, "users", p->users, p->nusers,
		    sizeof(*p->users), "user", &g->users) < 0)
			return -1;
		if (g->depts.n == 0 && g->users.n == 0)
			return lfail(l, m->line, where, NULL, "a group needs "
			    "departments or users");
	}
	return 0;
}

static int
load_terminals(struct ld *l, const struct yamlnode *pr)
{
	static const char *const keys[] = {
		"id", "group", "description", NULL
	};
	struct policy *p = l->p;
	const struct yamlnode *seq = NULL;
	char where[96];
	const char *desc;
	size_t i, n = 0;

	if (section(l, pr, "principals", "terminals", MAX_TERMINALS,
	    &seq) != 0)
		return -1;
	if (seq == NULL)
		return 0;
	p->nterms = seq->n;
	if ((p->terms = arena_array(p, seq->n, sizeof(*p->terms))) == NULL ||
	    (p->tgroups.v = arena_array(p, seq->n,
	    sizeof(*p->tgroups.v))) == NULL)
		return nomem(l);
	for (i = 0; i < seq->n; i++) {
		const struct yamlnode *m = seq->items[i];
		struct terminal *t = &p->terms[i];

		snprintf(where, sizeof(where), "principals.terminals[%zu]", i);
		if (need_map(l, m, where, NULL) != 0 ||
		    check_keys(l, m, where, keys) != 0 ||
		    get_id(l, m, where, "id", 1, &t->id, NULL) < 0 ||
		    get_id(l, m, where, "group", 0, &t->group, NULL) < 0 ||
		    get_text(l, m, where, "description", TEXT_MAX, &desc,
		    NULL) < 0)
			return -1;
		t->line = m->line;
		if (t->group != NULL)
			p->tgroups.v[n++] = t->group;
	}
	if (sort_unique(l, p->terms, p->nterms, sizeof(*p->terms),
	    offsetof(struct terminal, line), seq, "principals.terminals") != 0)
		return -1;
	/* Terminal groups: unique names, none equal to a terminal id. */
	qsort(p->tgroups.v, n, sizeof(*p->tgroups.v), cmp_str);
	p->tgroups.n = 0;
	for (i = 0; i < n; i++) {
		if (p->tgroups.n > 0 && strcmp(p->tgroups.v[p->tgroups.n - 1],
		    p->tgroups.v[i]) == 0)
			continue;
		p->tgroups.v[p->tgroups.n++] = p->tgroups.v[i];
	}
	for (i = 0; i < p->nterms; i++) {
		uint32_t x;

		if (p->terms[i].group == NULL)
			continue;
		x = FIND(p->terms, p->nterms, p->terms[i].group);
		if (x != NONE) {
			snprintf(where, sizeof(where),
			    "principals.terminals[%zu]",
			    seq_index(seq, p->terms[i].line));
			return lfail(l, p->terms[i].line, where, "group",
			    "terminal group '%s' has the name of a terminal "
			    "(line %u)", p->terms[i].group, p->terms[x].line);
		}
	}
	return 0;
}

static int
load_principals(struct ld *l, const struct yamlnode *root)
{
	static const char *const keys[] = {
		"unknown_users", "users", "groups", "terminals", NULL
	};
	const struct yamlnode *pr = yamlnode_get(root, "principals");
	const char *s;
	unsigned line;
	int r;

	if (pr == NULL)
		return 0;
	if (need_map(l, pr, "", "principals") != 0 ||
	    check_keys(l, pr, "principals", keys) != 0)
		return -1;
	r = get_text(l, pr, "principals", "unknown_users", 16, &s, &line);
	if (r < 0)
		return -1;
	if (r == 0) {
		if (strcmp(s, "deny") == 0)
			l->p->unknown_deny = 1;
		else if (strcmp(s, "staff") != 0)
			return lfail(l, line, "principals", "unknown_users",
			    "must be staff or deny");
	}
	if (load_users(l, pr) != 0 || load_groups(l, pr) != 0 ||
	    load_terminals(l, pr) != 0)
		return -1;
	return 0;
}

static int
endpoint_ok(const char *s)
{
	const char *host, *end;
	size_t hl;

	if (strncmp(s, "https://", 8) == 0)
		host = s + 8;
	else if (strncmp(s, "http://", 7) == 0)
		host = s + 7;
	else
		return -1;
	end = host + strcspn(host, "/?#");
	hl = (size_t)(end - host);
	if (hl == 0 || memchr(host, '@', hl) != NULL ||
	    strpbrk(s, " \\\"<>") != NULL)
		return -1;
	if (host == s + 8)
		return 0;
	/* Plain http only to this machine (a local demo upstream). */
	if ((hl >= 9 && strncmp(host, "127.0.0.1", 9) == 0 &&
	    (hl == 9 || host[9] == ':')) ||
	    (hl >= 9 && strncmp(host, "localhost", 9) == 0 &&
	    (hl == 9 || host[9] == ':')) ||
	    (hl >= 5 && strncmp(host, "[::1]", 5) == 0 &&
	    (hl == 5 || host[5] == ':')))
		return 1;
	return -1;
}

static int
load_services(struct ld *l, const struct yamlnode *root)
{
	static const char *const keys[] = {
		"id", "connector", "endpoint", "description", "ca", "pins",
		"credentials", "region", "bucket", NULL
	};
	struct policy *p = l->p;
	const struct yamlnode *seq = NULL;
	char where[64];
	size_t i;

	if (section(l, root, "", "services", MAX_SERVICES, &seq) != 0)
		return -1;
	if (seq == NULL)
		return 0;
	p->nservices = seq->n;
	if ((p->services = arena_array(p, seq->n,
	    sizeof(*p->services))) == NULL)
		return nomem(l);
	for (i = 0; i < seq->n; i++) {
		const struct yamlnode *m = seq->items[i];
		struct policy_service *s = &p->services[i];
		struct strlist pins = { NULL, 0 };
		const char *conn;
		unsigned line;
		int r;

		snprintf(where, sizeof(where), "services[%zu]", i);
		if (need_map(l, m, where, NULL) != 0 ||
		    check_keys(l, m, where, keys) != 0 ||
		    get_id(l, m, where, "id", 1, &s->id, NULL) < 0)
			return -1;
		s->line = m->line;
		if ((r = get_text(l, m, where, "connector", 16, &conn,
		    &line)) < 0)
			return -1;
		if (r == 1)
			return lfail(l, m->line, where, "connector", "missing");
		if (strcmp(conn, "webdav") == 0)
			s->connector = POLICY_CONNECTOR_WEBDAV;
		else if (strcmp(conn, "s3") == 0)
			s->connector = POLICY_CONNECTOR_S3;
		else
			return lfail(l, line, where, "connector",
			    "must be webdav or s3");
		if ((r = get_text(l, m, where, "endpoint", 1024, &s->endpoint,
		    &line)) < 0)
			return -1;
		if (r == 1)
			return lfail(l, m->line, where, "endpoint", "missing");
		if (endpoint_ok(s->endpoint) < 0)
			return lfail(l, line, where, "endpoint", "must be an "
			    "https:// URL with a host (plain http only to "
			    "localhost)");
		if ((s->endpoint = arena_strdup(p, s->endpoint)) == NULL)
			return nomem(l);
		if (get_copy(l, m, where, "description", TEXT_MAX,
		    &s->description) < 0 ||
		    get_copy(l, m, where, "ca", 1024, &s->ca) < 0 ||
		    get_copy(l, m, where, "credentials", 256,
		    &s->credentials) < 0 ||
		    get_copy(l, m, where, "region", 64, &s->region) < 0 ||
		    get_copy(l, m, where, "bucket", 255, &s->bucket) < 0)
			return -1;
		if (yamlnode_get(m, "pins") != NULL) {
			const struct yamlnode *ps = NULL;
			char name[96];
			size_t j;

			if (get_seq(l, m, where, "pins", &ps) < 0)
				return -1;
			if (ps->n > 64)
				return lfail(l, ps->line, where, "pins",
				    "more than 64 pins");
			pins.n = ps->n;
			if ((pins.v = arena_array(p, ps->n,
			    sizeof(*pins.v))) == NULL)
				return nomem(l);
			for (j = 0; j < ps->n; j++) {
				item_name(name, sizeof(name), where, "pins", j);
				if (scalar_ok(l, ps->items[j], name, NULL,
				    256) != 0)
					return -1;
				if ((pins.v[j] = arena_strdup(p,
				    ps->items[j]->value)) == NULL)
					return nomem(l);
			}
		}
		s->pins = pins.v;
		s->npins = pins.n;
	}
	return sort_unique(l, p->services, p->nservices, sizeof(*p->services),
	    offsetof(struct policy_service, line), seq, "services");
}

/* "class>=N", "size>=SIZE" or "always", one or a list, into c. */
static int
load_cond(struct ld *l, const struct yamlnode *m, const char *where,
    struct cond *c)
{
	const struct yamlnode *w = yamlnode_get(m, "when");
	const struct yamlnode *one;
	char name[160];
	size_t i, n;

	if (w == NULL)
		return lfail(l, m->line, where, "when", "missing");
	n = w->kind == YAMLNODE_SEQ ? w->n : 1;
	if (n == 0 || n > 3)
		return lfail(l, w->line, where, "when", "must list 1 to 3 "
		    "conditions");
	c->set = 1;
	for (i = 0; i < n; i++) {
		const char *s, *v;

		one = w->kind == YAMLNODE_SEQ ? w->items[i] : w;
		if (w->kind == YAMLNODE_SEQ)
			item_name(name, sizeof(name), where, "when", i);
		else
			snprintf(name, sizeof(name), "%s.when", where);
		if (scalar_ok(l, one, name, NULL, 64) != 0)
			return -1;
		s = one->value;
		if (strcmp(s, "always") == 0) {
			c->always = 1;
			continue;
		}
		if (strncmp(s, "class", 5) == 0 || strncmp(s, "size", 4) == 0) {
			int is_class = s[0] == 'c';

			v = s + (is_class ? 5 : 4);
			while (*v == ' ')
				v++;
			if (v[0] != '>' || v[1] != '=')
				goto bad;
			v += 2;
			while (*v == ' ')
				v++;
			if (is_class) {
				if (c->min_class != 0)
					return lfail(l, one->line, name, NULL,
					    "class is given twice");
				if (v[0] < '1' || v[0] > '3' || v[1] != '\0')
					return lfail(l, one->line, name, NULL,
					    "class>=N needs N in 1..3");
				c->min_class = (unsigned)(v[0] - '0');
			} else {
				if (c->has_size)
					return lfail(l, one->line, name, NULL,
					    "size is given twice");
				if (util_parse_size(v, &c->min_size) != 0 ||
				    c->min_size == 0)
					return lfail(l, one->line, name, NULL,
					    "size>=N needs a size such as "
					    "10MiB");
				c->has_size = 1;
			}
			continue;
		}
bad:
		return lfail(l, one->line, name, NULL, "'%s' is not a condition "
		    "(always, class>=N, size>=SIZE)", s);
	}
	return 0;
}

static int
parse_day(const char *s, size_t len)
{
	int d;

	for (d = 0; d < 7; d++)
		if (len == 3 && strncasecmp(s, day_names[d], 3) == 0)
			return d;
	return -1;
}

/* "mon", "mon-fri" (wrapping allowed: "fri-mon") or "daily". */
static int
day_spec(const char *s, uint8_t *bits)
{
	const char *dash = strchr(s, '-');
	int a, b;

	if (strcmp(s, "daily") == 0) {
		*bits |= 0x7f;
		return 0;
	}
	if (dash == NULL) {
		if ((a = parse_day(s, strlen(s))) < 0)
			return -1;
		*bits |= (uint8_t)(1u << a);
		return 0;
	}
	if ((a = parse_day(s, (size_t)(dash - s))) < 0 ||
	    (b = parse_day(dash + 1, strlen(dash + 1))) < 0)
		return -1;
	for (;;) {
		*bits |= (uint8_t)(1u << a);
		if (a == b)
			break;
		a = (a + 1) % 7;
	}
	return 0;
}

/* Builds "Mon-Fri 08:00-18:00 (Asia/Tokyo)" for reasons. */
static const char *
sched_text(struct policy *p, const struct iface *f)
{
	char buf[256];
	size_t len = 0;
	int d, start = -1, first = 1;
	size_t i;

	buf[0] = '\0';
	if (f->days == 0x7f)
		len += (size_t)snprintf(buf, sizeof(buf), "every day");
	else {
		/* Runs of consecutive days, Monday first. */
		for (i = 0; i <= 7; i++) {
			d = (int)((i + 1) % 7);
			if (i < 7 && (f->days & (1u << d))) {
				if (start < 0)
					start = d;
				continue;
			}
			if (start >= 0) {
				int last = (int)((i + 7) % 7);

				len += (size_t)snprintf(buf + len,
				    sizeof(buf) - len, "%s%s", first ? "" : ",",
				    day_titles[start]);
				if (last != start)
					len += (size_t)snprintf(buf + len,
					    sizeof(buf) - len, "-%s",
					    day_titles[last]);
				first = 0;
				start = -1;
			}
			if (len >= sizeof(buf))
				break;
		}
	}
	for (i = 0; i < f->nwin && len < sizeof(buf); i++)
		len += (size_t)snprintf(buf + len, sizeof(buf) - len,
		    "%s%02d:%02d-%02d:%02d", i == 0 ? " " : ", ",
		    f->win[i].from / 60, f->win[i].from % 60, f->win[i].to / 60,
		    f->win[i].to % 60);
	if (len < sizeof(buf))
		snprintf(buf + len, sizeof(buf) - len, " (%s)",
		    tzone_name(f->tz));
	return arena_strdup(p, buf);
}

static int
load_window(struct ld *l, const struct yamlnode *n, const char *name,
    struct window *w)
{
	if (scalar_ok(l, n, name, NULL, 16) != 0)
		return -1;
	if (policy_parse_hours(n->value, &w->from, &w->to) != 0)
		return lfail(l, n->line, name, NULL, "'%s' is not an hour range "
		    "HH:MM-HH:MM (24:00 may end a range; start and end must "
		    "differ)", n->value);
	return 0;
}

static int
load_schedule(struct ld *l, const struct yamlnode *m, const char *where,
    struct iface *f)
{
	static const char *const keys[] = {
		"days", "hours", "timezone", NULL
	};
	const struct yamlnode *days, *hours;
	char w2[128], name[160];
	size_t i;

	snprintf(w2, sizeof(w2), "%s.schedule", where);
	if (need_map(l, m, where, "schedule") != 0 ||
	    check_keys(l, m, w2, keys) != 0)
		return -1;
	f->has_sched = 1;
	f->days = 0x7f;
	if ((days = yamlnode_get(m, "days")) != NULL) {
		size_t n = days->kind == YAMLNODE_SEQ ? days->n : 1;

		if (n == 0 || n > 7)
			return lfail(l, days->line, w2, "days", "must list 1 to "
			    "7 days or ranges");
		f->days = 0;
		for (i = 0; i < n; i++) {
			const struct yamlnode *d = days->kind == YAMLNODE_SEQ ?
			    days->items[i] : days;

			if (days->kind == YAMLNODE_SEQ)
				item_name(name, sizeof(name), w2, "days", i);
			else
				snprintf(name, sizeof(name), "%s.days", w2);
			if (scalar_ok(l, d, name, NULL, 16) != 0)
				return -1;
			if (day_spec(d->value, &f->days) != 0)
				return lfail(l, d->line, name, NULL, "'%s' is "
				    "not a day (mon..sun), a range (mon-fri) "
				    "or daily", d->value);
		}
	}
	if ((hours = yamlnode_get(m, "hours")) != NULL) {
		size_t n = hours->kind == YAMLNODE_SEQ ? hours->n : 1;

		if (n == 0 || n > MAX_WINDOWS)
			return lfail(l, hours->line, w2, "hours", "must list 1 "
			    "to %d ranges", MAX_WINDOWS);
		for (i = 0; i < n; i++) {
			const struct yamlnode *h = hours->kind ==
			    YAMLNODE_SEQ ? hours->items[i] : hours;

			if (hours->kind == YAMLNODE_SEQ)
				item_name(name, sizeof(name), w2, "hours", i);
			else
				snprintf(name, sizeof(name), "%s.hours", w2);
			if (load_window(l, h, name, &f->win[i]) != 0)
				return -1;
		}
		f->nwin = n;
	} else {
		f->win[0].from = 0;
		f->win[0].to = 1440;
		f->nwin = 1;
	}
	return 0;
}

static int
load_extensions(struct ld *l, const struct yamlnode *m, const char *where,
    struct iface *f)
{
	static const char *const keys[] = { "allow", "deny", NULL };
	char w2[128];

	snprintf(w2, sizeof(w2), "%s.extensions", where);
	if (need_map(l, m, where, "extensions") != 0 ||
	    check_keys(l, m, w2, keys) != 0 ||
	    load_strlist(l, m, w2, "allow", 1, &f->ext_allow) < 0 ||
	    load_strlist(l, m, w2, "deny", 1, &f->ext_deny) < 0)
		return -1;
	if (yamlnode_get(m, "allow") != NULL && f->ext_allow.n == 0)
		return lfail(l, m->line, w2, "allow", "an empty allow list "
		    "would refuse every file; remove the interface instead");
	return 0;
}

static int
load_stepup(struct ld *l, const struct yamlnode *m, const char *where,
    struct iface *f)
{
	static const char *const keys[] = { "when", "max_age", NULL };
	char w2[128];

	snprintf(w2, sizeof(w2), "%s.step_up", where);
	f->stepup_age = DEFAULT_STEPUP_AGE;
	if (need_map(l, m, where, "step_up") != 0 ||
	    check_keys(l, m, w2, keys) != 0 ||
	    load_cond(l, m, w2, &f->stepup) != 0 ||
	    get_duration(l, m, w2, "max_age", 60, MAX_STEPUP_AGE,
	    &f->stepup_age) < 0)
		return -1;
	return 0;
}

static int
load_approval(struct ld *l, const struct yamlnode *m, const char *where,
    struct iface *f)
{
	static const char *const keys[] = {
		"when", "approvers", "count", NULL
	};
	struct policy *p = l->p;
	const struct group *g;
	const char *gid;
	char w2[128];
	unsigned line;
	uint64_t count = 1;
	int r;

	snprintf(w2, sizeof(w2), "%s.approval", where);
	if (need_map(l, m, where, "approval") != 0 ||
	    check_keys(l, m, w2, keys) != 0 ||
	    load_cond(l, m, w2, &f->approval) != 0)
		return -1;
	if ((r = get_id(l, m, w2, "approvers", 1, &gid, &line)) != 0)
		return -1;
	if ((f->approvers = FIND(p->groups, p->ngroups, gid)) == NONE)
		return lfail(l, line, w2, "approvers", "unknown group '%s'",
		    gid);
	if (get_uint(l, m, w2, "count", 1, 16, &count) < 0)
		return -1;
	f->approvals = (unsigned)count;
	g = &p->groups[f->approvers];
	/* N of M: a group of named users only has a known M. */
	if (g->depts.n == 0 && count > g->users.n)
		return lfail(l, yamlnode_get(m, "count") != NULL ?
		    yamlnode_get(m, "count")->line : m->line, w2, "count",
		    "needs %" PRIu64 " approvers but group '%s' has %zu "
		    "members", count, g->id, g->users.n);
	return 0;
}

static int
load_exlim(struct ld *l, const struct yamlnode *m, const char *where,
    struct iface *f)
{
	static const char *const keys[] = {
		"max_class", "max_size", "hours", "max_duration", "extensions",
		NULL
	};
	struct policy_exception_limits *x = &f->exlim;
	const struct yamlnode *h;
	char w2[128];
	uint64_t v;
	int r;

	snprintf(w2, sizeof(w2), "%s.exception_limits", where);
	if (need_map(l, m, where, "exception_limits") != 0 ||
	    check_keys(l, m, w2, keys) != 0)
		return -1;
	f->has_exlim = 1;
	x->hours_from = x->hours_to = -1;
	if ((r = get_uint(l, m, w2, "max_class", 1, 3, &v)) < 0)
		return -1;
	if (r == 0 && v == 3)
		return lfail(l, yamlnode_get(m, "max_class")->line, w2,
		    "max_class", "class 3 never leaves, not even by exception");
	if (r == 0)
		x->max_class = (unsigned)v;
	if (get_size(l, m, w2, "max_size", &x->max_size) < 0)
		return -1;
	if ((h = yamlnode_get(m, "hours")) != NULL) {
		struct window w;
		char name[160];

		snprintf(name, sizeof(name), "%s.hours", w2);
		if (load_window(l, h, name, &w) != 0)
			return -1;
		x->hours_from = w.from;
		x->hours_to = w.to;
	}
	if (load_strlist(l, m, w2, "extensions", 1, &f->exlim_ext) < 0)
		return -1;
	x->extensions = f->exlim_ext.v;
	x->nextensions = f->exlim_ext.n;
	if ((r = get_duration(l, m, w2, "max_duration", 60, MAX_EXC_DURATION,
	    &x->max_duration)) < 0)
		return -1;
	if (r == 1)
		return lfail(l, m->line, w2, "max_duration", "missing (every "
		    "exception needs a deadline; at most 90d)");
	return 0;
}

/* A date in the interface's zone: local midnight of day (+ add days). */
static int
load_date(struct ld *l, const struct yamlnode *m, const char *where,
    const char *key, const struct tzone *tz, int add, const char **txt,
    int64_t *at)
{
	const char *s;
	unsigned line;
	int64_t days;
	int r;

	if ((r = get_text(l, m, where, key, 16, &s, &line)) != 0)
		return r;
	if (parse_date(s, &days) != 0)
		return lfail(l, line, where, key, "'%s' is not a date "
		    "YYYY-MM-DD", s);
	if ((*txt = arena_strdup(l->p, s)) == NULL)
		return nomem(l);
	*at = tzone_from_local(tz, (days + add) * 86400);
	return 0;
}

static int
path_ok(const char *s)
{
	const char *c;

	if (s[0] != '/' || strchr(s, '\\') != NULL || strstr(s, "//") != NULL)
		return -1;
	for (c = s; *c != '\0'; c++) {
		/* Each segment after a '/': refuse "." and "..". */
		if (*c == '/' && c[1] == '.' && (c[2] == '/' || c[2] == '\0' ||
		    (c[2] == '.' && (c[3] == '/' || c[3] == '\0'))))
			return -1;
	}
	return 0;
}

static int
load_interface(struct ld *l, const struct yamlnode *m, size_t idx,
    struct iface *f)
{
	static const char *const keys[] = {
		"id", "purpose", "owner", "approved_by", "approved_on",
		"next_review", "service", "path", "max_class", "default_class",
		"max_size", "allow", "valid_from", "valid_until", "schedule", "extensions",
		"daily_bytes", "daily_count", "step_up", "approval",
		"exception_limits", NULL
	};
	struct policy *p = l->p;
	const struct yamlnode *n, *sched;
	char where[64];
	const char *s;
	unsigned line;
	uint64_t v;
	int64_t days;
	int r;

	snprintf(where, sizeof(where), "interfaces[%zu]", idx);
	if (need_map(l, m, where, NULL) != 0 ||
	    check_keys(l, m, where, keys) != 0 ||
	    get_id(l, m, where, "id", 1, &f->id, NULL) < 0 ||
	    get_copy(l, m, where, "purpose", TEXT_MAX, &f->purpose) < 0 ||
	    get_copy(l, m, where, "owner", 128, &f->owner) < 0 ||
	    get_copy(l, m, where, "approved_by", 128, &f->approved_by) < 0)
		return -1;
	f->line = m->line;
	f->service = NONE;
	f->max_size = f->daily_bytes = f->daily_count = UNLIMITED;
	f->valid_from = INT64_MIN;
	f->valid_until = INT64_MAX;
	f->review_late = INT64_MAX;

	if ((r = get_uint(l, m, where, "max_class", 1, 3, &v)) < 0)
		return -1;
	if (r == 1)
		return lfail(l, m->line, where, "max_class", "missing (1..3)");
	f->max_class = (unsigned)v;
	/* Only an explicit default: a put without a class is otherwise
	 * refused, so nothing is ever filed under a lower class silently. */
	if ((r = get_uint(l, m, where, "default_class", 1, 3, &v)) < 0)
		return -1;
	if (r == 0 && v > f->max_class)
		return lfail(l, yamlnode_get(m, "default_class")->line, where,
		    "default_class", "%u is above max_class %u; a default must "
		    "be a classification the interface accepts", (unsigned)v,
		    f->max_class);
	if (r == 0)
		f->default_class = (unsigned)v;

	if ((r = get_id(l, m, where, "service", 0, &s, &line)) < 0)
		return -1;
	if (r == 0 && (f->service = FIND(p->services, p->nservices,
	    s)) == NONE)
		return lfail(l, line, where, "service", "unknown service '%s'",
		    s);
	if ((r = get_text(l, m, where, "path", PATH_MAX_LEN, &s, &line)) < 0)
		return -1;
	if (r == 0) {
		if (f->service == NONE)
			return lfail(l, line, where, "path", "a path needs a "
			    "service");
		if (path_ok(s) != 0)
			return lfail(l, line, where, "path", "must start with "
			    "'/' and contain no '.', '..', '//' segments or "
			    "backslashes");
		if ((f->path = arena_strdup(p, s)) == NULL)
			return nomem(l);
	}

	/* Time zone first: dates and the schedule are local to it. */
	f->tz = p->tz;
	sched = yamlnode_get(m, "schedule");
	if (sched != NULL && sched->kind == YAMLNODE_MAP &&
	    (n = yamlnode_get(sched, "timezone")) != NULL) {
		char w2[96];

		snprintf(w2, sizeof(w2), "%s.schedule", where);
		if (scalar_ok(l, n, w2, "timezone", TZONE_NAME_MAX - 1) != 0 ||
		    load_zone(l, n->value, n->line, w2, "timezone",
		    &f->tz) != 0)
			return -1;
	}
	if (load_date(l, m, where, "valid_from", f->tz, 0, &f->valid_from_txt,
	    &f->valid_from) < 0 ||
	    load_date(l, m, where, "valid_until", f->tz, 1,
	    &f->valid_until_txt, &f->valid_until) < 0 ||
	    load_date(l, m, where, "next_review", f->tz, 1, &f->review_txt,
	    &f->review_late) < 0)
		return -1;
	if (f->valid_from_txt != NULL && f->valid_until_txt != NULL &&
	    f->valid_until <= f->valid_from)
		return lfail(l, yamlnode_get(m, "valid_until")->line, where,
		    "valid_until", "is before valid_from");
	if ((r = get_text(l, m, where, "approved_on", 16, &s, &line)) < 0)
		return -1;
	if (r == 0) {
		if (parse_date(s, &days) != 0)
			return lfail(l, line, where, "approved_on", "'%s' is "
			    "not a date YYYY-MM-DD", s);
		if ((f->approved_on = arena_strdup(p, s)) == NULL)
			return nomem(l);
	}

	if (get_size(l, m, where, "max_size", &f->max_size) < 0 ||
	    get_size(l, m, where, "daily_bytes", &f->daily_bytes) < 0 ||
	    get_uint(l, m, where, "daily_count", 1, 1000000,
	    &f->daily_count) < 0)
		return -1;

	if ((n = yamlnode_get(m, "allow")) == NULL)
		f->legacy_open = 1;
	else {
		static const char *const akeys[] = {
			"users", "groups", "roles", "terminals", NULL
		};
		char w2[96];

		snprintf(w2, sizeof(w2), "%s.allow", where);
		if (need_map(l, n, where, "allow") != 0 ||
		    check_keys(l, n, w2, akeys) != 0 ||
		    load_selector(l, n, w2, &f->allow) != 0)
			return -1;
		if (f->allow.users.n == 0 && f->allow.groups.n == 0 &&
		    f->allow.roles == 0)
			return lfail(l, n->line, where, "allow", "needs users, "
			    "groups or roles (terminals only narrow them)");
	}
	if (sched != NULL) {
		if (load_schedule(l, sched, where, f) != 0)
			return -1;
		if ((f->sched_txt = sched_text(p, f)) == NULL)
			return nomem(l);
	}
	if ((n = yamlnode_get(m, "extensions")) != NULL &&
	    load_extensions(l, n, where, f) != 0)
		return -1;
	if ((n = yamlnode_get(m, "step_up")) != NULL &&
	    load_stepup(l, n, where, f) != 0)
		return -1;
	if ((n = yamlnode_get(m, "approval")) != NULL &&
	    load_approval(l, n, where, f) != 0)
		return -1;
	if ((n = yamlnode_get(m, "exception_limits")) != NULL &&
	    load_exlim(l, n, where, f) != 0)
		return -1;
	return 0;
}

static int
load_interfaces(struct ld *l, const struct yamlnode *root)
{
	struct policy *p = l->p;
	const struct yamlnode *seq = NULL;
	size_t i;

	if (section(l, root, "", "interfaces", MAX_INTERFACES, &seq) != 0)
		return -1;
	if (seq == NULL)
		return lfail(l, root->line, "", "interfaces", "missing (an "
		    "empty list is allowed and denies everything)");
	p->nifaces = seq->n;
	if ((p->ifaces = arena_array(p, seq->n, sizeof(*p->ifaces))) == NULL)
		return nomem(l);
	for (i = 0; i < seq->n; i++)
		if (load_interface(l, seq->items[i], i, &p->ifaces[i]) != 0)
			return -1;
	return sort_unique(l, p->ifaces, p->nifaces, sizeof(*p->ifaces),
	    offsetof(struct iface, line), seq, "interfaces");
}

static int
load_forbids(struct ld *l, const struct yamlnode *root)
{
	static const char *const keys[] = {
		"id", "message", "interfaces", "users", "groups", "roles",
		"terminals", "extensions", "min_class", "min_size", NULL
	};
	struct policy *p = l->p;
	const struct yamlnode *seq = NULL;
	char where[64];
	size_t i, j;

	if (section(l, root, "", "forbids", MAX_FORBIDS, &seq) != 0)
		return -1;
	if (seq == NULL)
		return 0;
	p->nforbids = seq->n;
	if ((p->forbids = arena_array(p, seq->n, sizeof(*p->forbids))) == NULL)
		return nomem(l);
	for (i = 0; i < seq->n; i++) {
		const struct yamlnode *m = seq->items[i];
		struct forbid *f = &p->forbids[i];
		uint64_t v;
		int r;

		snprintf(where, sizeof(where), "forbids[%zu]", i);
		if (need_map(l, m, where, NULL) != 0 ||
		    check_keys(l, m, where, keys) != 0 ||
		    get_id(l, m, where, "id", 1, &f->id, NULL) < 0 ||
		    get_copy(l, m, where, "message", 200, &f->message) < 0 ||
		    load_refs(l, m, where, "interfaces", p->ifaces, p->nifaces,
		    sizeof(*p->ifaces), "interface", &f->ifaces) < 0 ||
		    load_selector(l, m, where, &f->sel) != 0 ||
		    load_strlist(l, m, where, "extensions", 1, &f->exts) < 0)
			return -1;
		f->line = m->line;
		if ((r = get_uint(l, m, where, "min_class", 1, 3, &v)) < 0)
			return -1;
		if (r == 0)
			f->min_class = (unsigned)v;
		if ((r = get_size(l, m, where, "min_size", &f->min_size)) < 0)
			return -1;
		f->has_size = r == 0;
		if (f->ifaces.n == 0 && f->sel.users.n == 0 &&
		    f->sel.groups.n == 0 && f->sel.roles == 0 &&
		    f->sel.terms.n == 0 && f->sel.tgroups.n == 0 &&
		    f->exts.n == 0 && f->min_class == 0 && !f->has_size)
			return lfail(l, m->line, where, NULL, "a forbid needs at "
			    "least one of interfaces, users, groups, roles, "
			    "terminals, extensions, min_class, min_size");
		if (strncmp(f->id, "builtin", 7) == 0)
			return lfail(l, m->line, where, "id", "ids starting "
			    "with 'builtin' are reserved");
		for (j = 0; j < i; j++)
			if (strcmp(p->forbids[j].id, f->id) == 0)
				return lfail(l, m->line, where, "id",
				    "duplicate id '%s' (also at line %u)",
				    f->id, p->forbids[j].line);
	}
	return 0;
}

/* register_approvers: {group, count}: the N of M who approve a change
 * of the register itself (register.mode approved, docs/policy.md). */
static int
load_reg_approvers(struct ld *l, const struct yamlnode *root)
{
	static const char *const keys[] = { "group", "count", NULL };
	const struct yamlnode *m = yamlnode_get(root, "register_approvers");
	const char *w = "register_approvers";
	struct policy *p = l->p;
	const struct group *g;
	const char *gid;
	unsigned line;
	uint64_t count = 1;

	if (m == NULL)
		return 0;
	if (need_map(l, m, "", w) != 0 || check_keys(l, m, w, keys) != 0 ||
	    get_id(l, m, w, "group", 1, &gid, &line) != 0)
		return -1;
	if ((p->reg_group = FIND(p->groups, p->ngroups, gid)) == NONE)
		return lfail(l, line, w, "group", "unknown group '%s'", gid);
	if (get_uint(l, m, w, "count", 1, 16, &count) < 0)
		return -1;
	g = &p->groups[p->reg_group];
	if (g->depts.n == 0 && count > g->users.n)
		return lfail(l, yamlnode_get(m, "count") != NULL ?
		    yamlnode_get(m, "count")->line : m->line, w, "count",
		    "needs %" PRIu64 " approvers but group '%s' has %zu "
		    "members", count, g->id, g->users.n);
	p->reg_count = (unsigned)count;
	p->reg_set = 1;
	return 0;
}

int
policy_register_approvers(const struct policy *p, const char **group,
    unsigned *count)
{
	*group = p->reg_set ? p->groups[p->reg_group].id : NULL;
	*count = p->reg_set ? p->reg_count : 0;
	return p->reg_set ? 0 : -1;
}

static int
load_top(struct ld *l, const struct yamlnode *root)
{
	static const char *const keys[] = {
		"version", "timezone", "review_overdue", "principals",
		"services", "interfaces", "forbids", "register_approvers", NULL
	};
	const char *s;
	unsigned line;
	uint64_t v;
	int r;

	if (root->kind != YAMLNODE_MAP)
		return lfail(l, root->line, "", "register", "the document must "
		    "be a mapping with an 'interfaces' list");
	if (check_keys(l, root, "", keys) != 0 ||
	    get_uint(l, root, "", "version", 1, 1, &v) < 0)
		return -1;
	if ((r = get_text(l, root, "", "timezone", TZONE_NAME_MAX - 1, &s,
	    &line)) < 0)
		return -1;
	if (r == 1) {
		s = DEFAULT_ZONE;
		line = root->line;
	}
	if (load_zone(l, s, line, "", "timezone", &l->p->tz) != 0)
		return -1;
	if ((r = get_text(l, root, "", "review_overdue", 8, &s, &line)) < 0)
		return -1;
	if (r == 0) {
		if (strcmp(s, "deny") == 0)
			l->p->review_deny = 1;
		else if (strcmp(s, "warn") != 0)
			return lfail(l, line, "", "review_overdue",
			    "must be warn or deny");
	}
	if (load_principals(l, root) != 0 || load_reg_approvers(l, root) != 0 ||
	    load_services(l, root) != 0 ||
	    load_interfaces(l, root) != 0 || load_forbids(l, root) != 0)
		return -1;
	return 0;
}

int
policy_load_buffer(const char *name, const char *buf, size_t len,
    struct policy **out, char *err, size_t errlen)
{
	struct yamlnode_doc *doc = NULL;
	unsigned char md[UTIL_SHA256_LEN];
	struct policy *p;
	struct ld l;

	*out = NULL;
	if (name == NULL || buf == NULL)
		return util_err(err, errlen, "policy: no register given");
	if ((p = calloc(1, sizeof(*p))) == NULL ||
	    (p->name = strdup(name)) == NULL) {
		free(p);
		return util_err(err, errlen, "%s: out of memory", name);
	}
	if (EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL) != 1) {
		policy_free(p);
		return util_err(err, errlen, "%s: SHA-256 failed", name);
	}
	util_hex(md, sizeof(md), p->hash);
	if (yamlnode_load_buffer(name, buf, len, &doc, err, errlen) != 0) {
		policy_free(p);
		return -1;
	}
	l.p = p;
	l.name = name;
	l.err = err;
	l.errlen = errlen;
	if (doc->root == NULL) {
		yamlnode_free(doc);
		policy_free(p);
		return util_err(err, errlen, "%s:1: interfaces: missing (the "
		    "register is empty)", name);
	}
	if (load_top(&l, doc->root) != 0) {
		yamlnode_free(doc);
		policy_free(p);
		return -1;
	}
	yamlnode_free(doc);
	*out = p;
	return 0;
}

int
policy_load(const char *path, struct policy **out, char *err, size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	ssize_t n;
	int fd, r;

	*out = NULL;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return util_err(err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return util_err(err, errlen, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > YAMLNODE_MAX_BYTES) {
		close(fd);
		return util_err(err, errlen, "%s: larger than %u bytes", path,
		    YAMLNODE_MAX_BYTES);
	}
	/* Read what is there now; the hash covers exactly the bytes parsed. */
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return util_err(err, errlen, "%s: out of memory", path);
	}
	while (got < (size_t)st.st_size) {
		n = read(fd, buf + got, (size_t)st.st_size - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got != (size_t)st.st_size) {
		free(buf);
		return util_err(err, errlen, "%s: short read", path);
	}
	r = policy_load_buffer(path, buf, got, out, err, errlen);
	free(buf);
	return r;
}

void
policy_free(struct policy *p)
{
	struct arena_blk *b, *next;
	size_t i;

	if (p == NULL)
		return;
	for (b = p->arena; b != NULL; b = next) {
		next = b->next;
		free(b);
	}
	for (i = 0; i < p->nzones; i++)
		tzone_free(p->zones[i]);
	free(p->name);
	free(p);
}

const char *
policy_hash(const struct policy *p)
{
	return p->hash;
}

const char *
policy_name(const struct policy *p)
{
	return p->name;
}

const char *
policy_verdict_name(enum policy_verdict v)
{
	switch (v) {
	case POLICY_DENY:
		return "deny";
	case POLICY_ALLOW:
		return "allow";
	case POLICY_STEP_UP_REQUIRED:
		return "step_up_required";
	case POLICY_APPROVAL_REQUIRED:
		return "approval_required";
	}
	return "unknown";
}

/* ----------------------------------------------------------- deciding */

struct eval {
	const struct policy *p;
	const struct policy_principal *who;
	const struct policy_request *req;
	const struct policy_context *ctx;
	struct policy_decision *out;
	char *tbuf;			/* explain only */
	size_t tlen, tcap;
	int tfull;
	uint32_t user;			/* index or NONE */
	unsigned roles;
	const char *dept;
	uint32_t term;
	const char *tgroup;
	int ext_kind;			/* file_ext() result */
	char ext[EXT_MAX + 1];
};

#define TRACE(e, ...) do {						\
	if ((e)->tbuf != NULL)						\
		trace_add((e), __VA_ARGS__);				\
} while (0)

static void trace_add(struct eval *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
trace_add(struct eval *e, const char *fmt, ...)
{
	char line[512];
	size_t n;
	va_list ap;

	if (e->tfull)
		return;
	va_start(ap, fmt);
	vsnprintf(line, sizeof(line), fmt, ap);
	va_end(ap);
	n = strlen(line);
	/* Keep room for the "...\n" that marks a cut. */
	if (e->tcap < 5 || n + 1 > e->tcap - e->tlen - 5) {
		if (e->tcap - e->tlen >= 5)
			memcpy(e->tbuf + e->tlen, "...\n", 5);
		e->tfull = 1;
		return;
	}
	memcpy(e->tbuf + e->tlen, line, n);
	e->tbuf[e->tlen + n] = '\n';
	e->tlen += n + 1;
	e->tbuf[e->tlen] = '\0';
}

/* Printable-ASCII copy of untrusted text for traces and reasons. */
static const char *
safe(const char *s, char *buf, size_t len)
{
	size_t i;

	if (s == NULL)
		return "(none)";
	for (i = 0; s[i] != '\0' && i + 1 < len; i++)
		buf[i] = (s[i] >= 0x20 && s[i] < 0x7f) ? s[i] : '?';
	buf[i] = '\0';
	if (s[i] != '\0' && len > 4)
		memcpy(buf + len - 4, "...", 4);
	return buf;
}

/* Length of the UTF-8 sequence at s[0:n] when it is one valid, shortest
 * form character (stored in *cp); 0 otherwise. */
static size_t
utf8_char(const unsigned char *s, size_t n, uint32_t *cp)
{
	size_t len, i;
	uint32_t c;

	if (s[0] < 0x80) {
		*cp = s[0];
		return 1;
	}
	if (s[0] >= 0xc2 && s[0] <= 0xdf) {
		len = 2;
		c = s[0] & 0x1f;
	} else if (s[0] >= 0xe0 && s[0] <= 0xef) {
		len = 3;
		c = s[0] & 0x0f;
	} else if (s[0] >= 0xf0 && s[0] <= 0xf4) {
		len = 4;
		c = s[0] & 0x07;
	} else
		return 0;
	if (n < len)
		return 0;
	for (i = 1; i < len; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (s[i] & 0x3f);
	}
	if ((len == 3 && c < 0x800) || (len == 4 && c < 0x10000) ||
	    c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return len;
}

/*
 * Copy of untrusted text for the explain trace: characters are kept (a
 * Japanese file name reads as it does in `sekisho policy explain`'s
 * header), while bytes that are not UTF-8, control characters and the
 * line and bidirectional controls that could disguise the line become
 * '?'. A cut falls on a character boundary and is marked "...".
 */
static const char *
safe_text(const char *s, char *buf, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, n, slen;
	uint32_t cp;

	if (s == NULL)
		return "(none)";
	if (len < 4)
		return "";
	slen = strlen(s);
	while (i < slen) {
		n = utf8_char(p + i, slen - i, &cp);
		if (n == 0 || cp < 0x20 || (cp >= 0x7f && cp < 0xa0) ||
		    (cp >= 0x202a && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069) ||
		    cp == 0x2028 || cp == 0x2029) {
			if (o + 1 + 1 > len)
				break;
			buf[o++] = '?';
			i += n == 0 ? 1 : n;
			continue;
		}
		if (o + n + 1 > len)
			break;
		memcpy(buf + o, p + i, n);
		o += n;
		i += n;
	}
	if (i < slen) {
		/* Back off whole characters until "..." fits. */
		while (o > 0 && o + 4 > len) {
			o--;
			while (o > 0 && ((unsigned char)buf[o] & 0xc0) == 0x80)
				o--;
		}
		memcpy(buf + o, "...", 3);
		o += 3;
	}
	buf[o] = '\0';
	return buf;
}

static int finish(struct eval *, enum policy_verdict, const char *,
    const char *, const char *, ...) __attribute__((format(printf, 5, 6)));

static int
finish(struct eval *e, enum policy_verdict v, const char *code,
    const char *rule, const char *fmt, ...)
{
	struct policy_decision *o = e->out;
	va_list ap;

	o->verdict = v;
	(void)util_strlcpy(o->code, code, sizeof(o->code));
	(void)util_strlcpy(o->rule, rule != NULL ? rule : "", sizeof(o->rule));
	va_start(ap, fmt);
	vsnprintf(o->reason, sizeof(o->reason), fmt, ap);
	va_end(ap);
	TRACE(e, "verdict: %s code=%s rule=%s", policy_verdict_name(v), code,
	    o->rule[0] != '\0' ? o->rule : "-");
	TRACE(e, "reason: %s", o->reason);
	return 0;
}

static int
in_group(const struct group *g, uint32_t user, const char *dept)
{
	if (dept != NULL && dept[0] != '\0' && strlist_has(&g->depts, dept))
		return 1;
	return idxlist_has(&g->users, user);
}

/* Does the principal part (users, groups, roles) of s match? */
static int
sel_principal(const struct eval *e, const struct selector *s,
    const char **why)
{
	size_t i;

	if (idxlist_has(&s->users, e->user)) {
		*why = "listed user";
		return 1;
	}
	if (s->roles & e->roles) {
		*why = "role";
		return 1;
	}
	for (i = 0; i < s->groups.n; i++)
		if (in_group(&e->p->groups[s->groups.v[i]], e->user,
		    e->dept)) {
			*why = e->p->groups[s->groups.v[i]].id;
			return 1;
		}
	return 0;
}

static int
sel_has_terminals(const struct selector *s)
{
	return s->terms.n > 0 || s->tgroups.n > 0;
}

static int
sel_terminal(const struct eval *e, const struct selector *s)
{
	if (idxlist_has(&s->terms, e->term))
		return 1;
	return e->tgroup != NULL && strlist_has(&s->tgroups, e->tgroup);
}

static int
forbid_hits(const struct eval *e, const struct forbid *f, uint32_t iface)
{
	const struct selector *s = &f->sel;
	const char *why;

	if (f->ifaces.n > 0 && !idxlist_has(&f->ifaces, iface))
		return 0;
	if ((s->users.n > 0 || s->groups.n > 0 || s->roles != 0) &&
	    !sel_principal(e, s, &why))
		return 0;
	if (sel_has_terminals(s) && !sel_terminal(e, s))
		return 0;
	if (f->exts.n > 0 && (e->ext_kind != 1 ||
	    !strlist_has(&f->exts, e->ext)))
		return 0;
	if (f->min_class != 0 && e->req->class < f->min_class)
		return 0;
	if (f->has_size && e->req->size < f->min_size)
		return 0;
	return 1;
}

static void
local_time(const struct tzone *tz, int64_t now, int *wday, int *min)
{
	int64_t l = now + tzone_offset(tz, now);
	int64_t days = floor_div(l, 86400);

	*wday = (int)(((days % 7) + 7 + 4) % 7);	/* 1970-01-01: Thu */
	*min = (int)((l - days * 86400) / 60);
}

static int
sched_open(const struct iface *f, int wday, int min)
{
	size_t i;

	if (!f->has_sched)
		return 1;
	for (i = 0; i < f->nwin; i++) {
		const struct window *w = &f->win[i];

		if (w->from < w->to) {
			if (min >= w->from && min < w->to &&
			    (f->days & (1u << wday)))
				return 1;
		} else {
			/* After midnight belongs to the previous day's range. */
			if (min >= w->from && (f->days & (1u << wday)))
				return 1;
			if (min < w->to && (f->days & (1u << ((wday + 6) % 7))))
				return 1;
		}
	}
	return 0;
}

static int
cond_hit(const struct cond *c, const struct policy_request *r)
{
	if (!c->set)
		return 0;
	if (c->always)
		return 1;
	if (c->min_class != 0 && r->class >= c->min_class)
		return 1;
	return c->has_size && r->size >= c->min_size;
}

/*
 * An active exception for this user and interface that covers every aspect
 * the request exceeds, within the interface's limits; NULL when none.
 */
static const struct policy_exception *
find_exception(struct eval *e, const struct iface *f, int need_ext,
    int need_hours, int need_class, int need_size, int min)
{
	const struct policy_context *c = e->ctx;
	const struct policy_exception_limits *lim = &f->exlim;
	size_t i;

	if (!f->has_exlim || c->exceptions == NULL)
		return NULL;
	for (i = 0; i < c->nexceptions; i++) {
		const struct policy_exception *x = &c->exceptions[i];
		char b[80];

		/* An id that cannot be recorded in the decision is unusable. */
		if (x->id == NULL || x->user == NULL || x->interface == NULL ||
		    strlen(x->id) > POLICY_ID_MAX ||
		    strcmp(x->user, e->who->user) != 0 ||
		    strcmp(x->interface, f->id) != 0)
			continue;
		safe(x->id, b, sizeof(b));
		if (c->now < x->not_before || c->now >= x->not_after) {
			TRACE(e, "  exception %s: not active now", b);
			continue;
		}
		if (x->not_after <= x->not_before ||
		    (uint64_t)(x->not_after - x->not_before) >
		    lim->max_duration) {
			char d[80];

			TRACE(e, "  exception %s: ignored, lasts longer than "
			    "max_duration %s", b, policy_duration_text(
			    lim->max_duration, d, sizeof(d)));
			continue;
		}
		if (need_ext && !(e->ext_kind == 1 &&
		    ext_list_has(x->extensions, e->ext) &&
		    strlist_has(&f->exlim_ext, e->ext))) {
			TRACE(e, "  exception %s: does not add this extension",
			    b);
			continue;
		}
		if (need_class && !(x->max_class != 0 && lim->max_class != 0 &&
		    e->req->class <= x->max_class &&
		    e->req->class <= lim->max_class)) {
			TRACE(e, "  exception %s: does not cover class %u "
			    "(limit %u)", b, e->req->class, lim->max_class);
			continue;
		}
		if (need_size && !(x->max_size != 0 && lim->max_size != 0 &&
		    e->req->size <= x->max_size &&
		    e->req->size <= lim->max_size)) {
			TRACE(e, "  exception %s: does not cover size %" PRIu64,
			    b, e->req->size);
			continue;
		}
		if (need_hours && !(x->hours_from >= 0 && x->hours_from < 1440 &&
		    x->hours_to >= 0 && x->hours_to <= 1440 &&
		    x->hours_from != x->hours_to && lim->hours_from >= 0 &&
		    win_has(x->hours_from, x->hours_to, min) &&
		    win_has(lim->hours_from, lim->hours_to, min))) {
			TRACE(e, "  exception %s: does not cover this time", b);
			continue;
		}
		TRACE(e, "  exception %s: applies", b);
		return x;
	}
	return NULL;
}

static const char *
roles_text(unsigned roles, char *buf, size_t len)
{
	static const char *const names[] = {
		"staff", "officer", "auditor", "admin"
	};
	size_t i, n = 0;

	buf[0] = '\0';
	for (i = 0; i < 4; i++)
		if (roles & (1u << i))
			n += (size_t)snprintf(buf + n, n < len ? len - n : 0,
			    "%s%s", n > 0 ? "," : "", names[i]);
	return buf[0] != '\0' ? buf : "none";
}

/* Resolves the principal; returns 0 or a finished deny (1). */
static int
resolve_principal(struct eval *e)
{
	const struct policy *p = e->p;
	const struct policy_principal *w = e->who;
	const struct user *u;
	char b[80];

	e->user = FIND(p->users, p->nusers, w->user);
	e->term = NONE;
	e->tgroup = NULL;
	if (w->terminal != NULL && w->terminal[0] != '\0' &&
	    (e->term = FIND(p->terms, p->nterms, w->terminal)) != NONE)
		e->tgroup = p->terms[e->term].group;
	if (e->user == NONE) {
		if (p->unknown_deny) {
			TRACE(e, "principal %s: not in the register and "
			    "unknown_users is deny", w->user);
			finish(e, POLICY_DENY, "unknown_principal", "",
			    "your account is not registered for sending files; "
			    "ask your administrator");
			return 1;
		}
		e->roles = POLICY_ROLE_STAFF;
		e->dept = w->dept;
		TRACE(e, "principal %s: not listed, staff of department %s "
		    "(from the certificate)", w->user, safe(w->dept, b,
		    sizeof(b)));
	} else {
		u = &p->users[e->user];
		if (u->disabled) {
			TRACE(e, "principal %s: disabled (line %u)", u->id,
			    u->line);
			finish(e, POLICY_DENY, "principal_disabled", "",
			    "your account is suspended in the interface "
			    "register; ask your administrator");
			return 1;
		}
		if (u->dept != NULL && w->dept != NULL && w->dept[0] != '\0' &&
		    strcmp(u->dept, w->dept) != 0) {
			TRACE(e, "principal %s: certificate department %s, "
			    "register department %s (line %u)", u->id,
			    safe(w->dept, b, sizeof(b)), u->dept, u->line);
			finish(e, POLICY_DENY, "principal_mismatch", "",
			    "the department in your certificate does not "
			    "match the interface register; ask your "
			    "administrator");
			return 1;
		}
		e->roles = u->roles;
		e->dept = u->dept != NULL ? u->dept : w->dept;
		if (e->tbuf != NULL) {
			char rb[40];

			TRACE(e, "principal %s: listed (line %u), roles %s, "
			    "department %s", u->id, u->line, roles_text(u->roles,
			    rb, sizeof(rb)), safe(e->dept, b, sizeof(b)));
		}
	}
	if (w->terminal == NULL || w->terminal[0] == '\0')
		TRACE(e, "terminal: none");
	else if (e->term == NONE)
		TRACE(e, "terminal %s: not in the register",
		    safe(w->terminal, b, sizeof(b)));
	else
		TRACE(e, "terminal %s: listed, group %s", w->terminal,
		    e->tgroup != NULL ? e->tgroup : "-");
	return 0;
}

static int
evaluate(struct eval *e)
{
	const struct policy *p = e->p;
	const struct policy_request *r = e->req;
	const struct policy_context *c = e->ctx;
	const struct policy_exception *x = NULL;
	const struct iface *f;
	const char *why;
	char b1[40], b2[40], eb[EXT_MAX + 1], list[160];
	int wday, min, need_e = 0, need_h, need_c, need_s;
	uint32_t fi;
	size_t i;

	TRACE(e, "register %s sha256:%s", p->name, p->hash);
	if (e->tbuf != NULL) {
		char u[80], i1[80], fn[300];

		TRACE(e, "request: user=%s interface=%s class=%u size=%" PRIu64
		    " name=%s", safe(e->who->user, u, sizeof(u)),
		    safe(r->interface, i1, sizeof(i1)), r->class, r->size,
		    safe_text(r->filename, fn, sizeof(fn)));
	}
	if (e->who->user == NULL || !util_is_token(e->who->user,
	    POLICY_ID_MAX) || r->interface == NULL ||
	    !util_is_token(r->interface, POLICY_ID_MAX) || r->class < 1 ||
	    r->class > 3)
		return finish(e, POLICY_DENY, "invalid_request", "", "the "
		    "request is malformed: it needs a user, an interface id "
		    "and a classification 1..3");
	if (r->class >= 3) {
		TRACE(e, "forbid builtin:class3: matches (class %u)", r->class);
		return finish(e, POLICY_DENY, "class_forbidden",
		    "builtin:class3", "classification 3 (機密性3) data may "
		    "never be sent outside; this cannot be approved or "
		    "excepted");
	}
	TRACE(e, "forbid builtin:class3: no (class %u)", r->class);
	if (resolve_principal(e) != 0)
		return 0;

	e->ext_kind = file_ext(r->filename, e->ext);
	if (e->ext_kind == 1)
		TRACE(e, "extension: %s", safe(e->ext, eb, sizeof(eb)));
	else
		TRACE(e, "extension: %s", e->ext_kind == 0 ? "none" :
		    "too long to match any list");

	fi = FIND(p->ifaces, p->nifaces, r->interface);
	for (i = 0; i < p->nforbids; i++) {
		const struct forbid *fb = &p->forbids[i];

		if (!forbid_hits(e, fb, fi)) {
			TRACE(e, "forbid %s (line %u): no", fb->id, fb->line);
			continue;
		}
		TRACE(e, "forbid %s (line %u): matches", fb->id, fb->line);
		return finish(e, POLICY_DENY, "forbidden", fb->id,
		    "this transfer is forbidden by rule %s%s%s", fb->id,
		    fb->message != NULL ? ": " : "",
		    fb->message != NULL ? fb->message : "");
	}

	if (fi == NONE) {
		TRACE(e, "interface %s: not in the register", r->interface);
		return finish(e, POLICY_DENY, "unknown_interface", r->interface,
		    "interface %s is not in the interface register; check the "
		    "id with the interface owner", r->interface);
	}
	f = &p->ifaces[fi];
	TRACE(e, "interface %s: found (line %u)", f->id, f->line);

	if (f->legacy_open) {
		e->out->flags |= POLICY_FLAG_LEGACY_OPEN;
		if (!(e->roles & POLICY_ROLE_STAFF)) {
			TRACE(e, "allow: none given (legacy open to staff); "
			    "principal is not staff");
			return finish(e, POLICY_DENY, "not_permitted", f->id,
			    "you are not permitted to use interface %s; ask "
			    "the interface owner", f->id);
		}
		TRACE(e, "allow: none given (legacy open to staff): match");
	} else {
		if (!sel_principal(e, &f->allow, &why)) {
			TRACE(e, "allow users/groups/roles: no match");
			return finish(e, POLICY_DENY, "not_permitted", f->id,
			    "you are not permitted to use interface %s; ask "
			    "the interface owner to add you", f->id);
		}
		TRACE(e, "allow users/groups/roles: match (%s)", why);
		if (sel_has_terminals(&f->allow)) {
			if (!sel_terminal(e, &f->allow)) {
				TRACE(e, "allow terminals: no match");
				return finish(e, POLICY_DENY,
				    "terminal_not_permitted", f->id,
				    "interface %s may not be used from this "
				    "terminal; use a terminal registered for "
				    "it", f->id);
			}
			TRACE(e, "allow terminals: match");
		}
	}

	if (c->now < f->valid_from) {
		TRACE(e, "valid_from %s: not yet", f->valid_from_txt);
		return finish(e, POLICY_DENY, "not_yet_valid", f->id,
		    "interface %s can be used from %s", f->id,
		    f->valid_from_txt);
	}
	if (c->now >= f->valid_until) {
		TRACE(e, "valid_until %s: expired", f->valid_until_txt);
		return finish(e, POLICY_DENY, "expired", f->id,
		    "interface %s expired after %s; ask the interface owner to "
		    "renew it", f->id, f->valid_until_txt);
	}
	TRACE(e, "validity: ok");
	if (c->now >= f->review_late) {
		TRACE(e, "next_review %s: overdue (%s)", f->review_txt,
		    p->review_deny ? "deny" : "warn");
		if (p->review_deny)
			return finish(e, POLICY_DENY, "review_overdue", f->id,
			    "interface %s was due for review on %s and is "
			    "suspended until the review is done; ask the "
			    "interface owner", f->id, f->review_txt);
		e->out->flags |= POLICY_FLAG_REVIEW_OVERDUE;
	}

	/* A refused extension may still pass under an exception (below). */
	list[0] = '\0';
	if (e->ext_kind == 1 && strlist_has(&f->ext_deny, e->ext)) {
		TRACE(e, "extensions deny: matches");
		need_e = 1;
	}
	if (f->ext_allow.n > 0) {
		size_t len = 0;

		list[0] = '\0';
		for (i = 0; i < f->ext_allow.n && len < sizeof(list); i++)
			len += (size_t)snprintf(list + len, sizeof(list) - len,
			    "%s.%s", i > 0 ? " " : "", f->ext_allow.v[i]);
		if (e->ext_kind != 1) {
			TRACE(e, "extensions allow: file has no usable "
			    "extension");
			return finish(e, POLICY_DENY, "extension_required",
			    f->id, "interface %s accepts only files named with "
			    "one of: %s", f->id, list);
		}
		if (!strlist_has(&f->ext_allow, e->ext)) {
			TRACE(e, "extensions allow: not listed");
			if (need_e == 0)
				need_e = 2;
		} else
			TRACE(e, "extensions allow: listed");
	}

	local_time(f->tz, c->now, &wday, &min);
	need_h = !sched_open(f, wday, min);
	need_c = r->class > f->max_class;
	need_s = r->size > f->max_size;
	TRACE(e, "schedule: %s at %s %02d:%02d local: %s",
	    f->has_sched ? f->sched_txt : "none", day_titles[wday], min / 60,
	    min % 60, need_h ? "closed" : "open");
	TRACE(e, "class %u, max_class %u: %s", r->class, f->max_class,
	    need_c ? "too high" : "ok");
	if (f->max_size != UNLIMITED)
		TRACE(e, "size %" PRIu64 ", max_size %" PRIu64 ": %s", r->size,
		    f->max_size, need_s ? "too large" : "ok");
	if (need_e || need_h || need_c || need_s) {
		x = find_exception(e, f, need_e != 0, need_h, need_c, need_s,
		    min);
		if (x == NULL) {
			const char *hint = need_e != 0 &&
			    strlist_has(&f->exlim_ext, e->ext) ? "; ask an "
			    "approval officer for an exception" : "";

			if (need_e == 1)
				return finish(e, POLICY_DENY,
				    "extension_not_allowed", f->id, "files of "
				    "type .%s may not be sent through interface "
				    "%s%s", safe(e->ext, eb, sizeof(eb)), f->id,
				    hint);
			if (need_e == 2)
				return finish(e, POLICY_DENY,
				    "extension_not_allowed", f->id, "interface "
				    "%s accepts only: %s%s", f->id, list, hint);
			if (need_h)
				return finish(e, POLICY_DENY, "outside_hours",
				    f->id, "interface %s is open %s; try again "
				    "then%s", f->id, f->sched_txt,
				    f->has_exlim && f->exlim.hours_from >= 0 ?
				    " or ask an approval officer for an "
				    "exception" : "");
			if (need_c) {
				if (f->has_exlim &&
				    f->exlim.max_class >= r->class)
					return finish(e, POLICY_DENY,
					    "class_too_high", f->id,
					    "interface %s allows classification "
					    "≤ %u; ask an approval officer for "
					    "an exception", f->id,
					    f->max_class);
				return finish(e, POLICY_DENY, "class_too_high",
				    f->id, "interface %s allows classification "
				    "≤ %u and cannot carry classification %u "
				    "data", f->id, f->max_class, r->class);
			}
			fmt_size(f->max_size, b1, sizeof(b1));
			return finish(e, POLICY_DENY, "too_large", f->id,
			    "interface %s accepts files up to %s%s", f->id, b1,
			    f->has_exlim && f->exlim.max_size >= r->size ?
			    "; ask an approval officer for an exception" : "");
		}
		e->out->flags |= POLICY_FLAG_EXCEPTION;
		(void)util_strlcpy(e->out->exception, x->id,
		    sizeof(e->out->exception));
	}

	if (f->daily_count != UNLIMITED) {
		TRACE(e, "daily_count %" PRIu64 ", used %" PRIu64 ": %s",
		    f->daily_count, c->count_today,
		    c->count_today >= f->daily_count ? "exhausted" : "ok");
		if (c->count_today >= f->daily_count)
			return finish(e, POLICY_DENY, "daily_count_exceeded",
			    f->id, "you have sent the %" PRIu64 " files a day "
			    "that interface %s allows; try again tomorrow",
			    f->daily_count, f->id);
	}
	if (f->daily_bytes != UNLIMITED) {
		int over = c->bytes_today > f->daily_bytes ||
		    r->size > f->daily_bytes - c->bytes_today;

		TRACE(e, "daily_bytes %" PRIu64 ", used %" PRIu64 ": %s",
		    f->daily_bytes, c->bytes_today, over ? "exceeded" : "ok");
		if (over) {
			fmt_size(f->daily_bytes, b1, sizeof(b1));
			fmt_size(c->bytes_today, b2, sizeof(b2));
			return finish(e, POLICY_DENY, "daily_bytes_exceeded",
			    f->id, "interface %s allows %s a day per person; "
			    "you have sent %s today", f->id, b1, b2);
		}
	}

	if (cond_hit(&f->stepup, r)) {
		int fresh = c->stepup_at != 0 && c->stepup_at <= c->now &&
		    (uint64_t)(c->now - c->stepup_at) <= f->stepup_age;

		TRACE(e, "step_up: required, max_age %" PRIu64 "s: %s",
		    f->stepup_age, fresh ? "fresh" : "not fresh");
		if (!fresh) {
			e->out->stepup_max_age = f->stepup_age;
			return finish(e, POLICY_STEP_UP_REQUIRED,
			    "step_up_required", f->id, "this transfer needs "
			    "a fresh confirmation with your one-time code "
			    "(TOTP)");
		}
	} else
		TRACE(e, "step_up: not required");

	if (cond_hit(&f->approval, r)) {
		const struct group *g = &p->groups[f->approvers];

		TRACE(e, "approval: required, %u of group %s", f->approvals,
		    g->id);
		(void)util_strlcpy(e->out->approvers, g->id,
		    sizeof(e->out->approvers));
		e->out->approvals = f->approvals;
		return finish(e, POLICY_APPROVAL_REQUIRED, "approval_required",
		    f->id, "this transfer will be held until %u approval "
		    "officer%s approve%s it", f->approvals,
		    f->approvals > 1 ? "s" : "", f->approvals > 1 ? "" : "s");
	}
	TRACE(e, "approval: not required");
	if (x != NULL)
		return finish(e, POLICY_ALLOW, "allowed", f->id, "allowed by "
		    "interface %s under exception %s", f->id,
		    e->out->exception);
	return finish(e, POLICY_ALLOW, "allowed", f->id, "allowed by "
	    "interface %s", f->id);
}

static int
run(const struct policy *p, const struct policy_principal *who,
    const struct policy_request *req, const struct policy_context *ctx,
    struct policy_decision *out, char *buf, size_t buflen)
{
	struct eval e;

	if (out == NULL)
		return -1;
	memset(out, 0, sizeof(*out));
	out->verdict = POLICY_DENY;
	(void)util_strlcpy(out->code, "evaluation_error", sizeof(out->code));
	(void)util_strlcpy(out->reason, "the policy could not be evaluated; "
	    "the transfer is refused", sizeof(out->reason));
	if (buf != NULL && buflen > 0)
		buf[0] = '\0';
	if (p == NULL || who == NULL || req == NULL || ctx == NULL)
		return -1;
	memcpy(out->register_hash, p->hash, sizeof(out->register_hash));
	memset(&e, 0, sizeof(e));
	e.p = p;
	e.who = who;
	e.req = req;
	e.ctx = ctx;
	e.out = out;
	if (buf != NULL && buflen > 0) {
		e.tbuf = buf;
		e.tcap = buflen;
	}
	if (evaluate(&e) != 0) {
		out->verdict = POLICY_DENY;
		(void)util_strlcpy(out->code, "evaluation_error",
		    sizeof(out->code));
		return -1;
	}
	return 0;
}

int
policy_decide(const struct policy *p, const struct policy_principal *who,
    const struct policy_request *req, const struct policy_context *ctx,
    struct policy_decision *out)
{
	return run(p, who, req, ctx, out, NULL, 0);
}

int
policy_explain(const struct policy *p, const struct policy_principal *who,
    const struct policy_request *req, const struct policy_context *ctx,
    struct policy_decision *out, char *buf, size_t buflen)
{
	return run(p, who, req, ctx, out, buf, buflen);
}

/* ------------------------------------------------------------ lookups */

size_t
policy_interface_count(const struct policy *p)
{
	return p->nifaces;
}

const char *
policy_interface_id(const struct policy *p, size_t i)
{
	return i < p->nifaces ? p->ifaces[i].id : NULL;
}

const struct policy_service *
policy_service_find(const struct policy *p, const char *id)
{
	uint32_t i = FIND(p->services, p->nservices, id);

	return i == NONE ? NULL : &p->services[i];
}

int
policy_interface_target(const struct policy *p, const char *interface,
    const struct policy_service **service, const char **path)
{
	uint32_t i = FIND(p->ifaces, p->nifaces, interface);
	const struct iface *f;

	if (i == NONE)
		return -1;
	f = &p->ifaces[i];
	if (service != NULL)
		*service = f->service == NONE ? NULL : &p->services[f->service];
	if (path != NULL)
		*path = f->path != NULL ? f->path : "";
	return 0;
}

unsigned
policy_interface_default_class(const struct policy *p, const char *interface)
{
	uint32_t i = FIND(p->ifaces, p->nifaces, interface);

	return i == NONE ? 0 : p->ifaces[i].default_class;
}

const struct tzone *
policy_interface_zone(const struct policy *p, const char *interface)
{
	uint32_t i = interface != NULL ? FIND(p->ifaces, p->nifaces,
	    interface) : NONE;

	return i == NONE ? p->tz : p->ifaces[i].tz;
}

int
policy_daily_window(const struct policy *p, const char *interface,
    time_t now, int64_t *day_start)
{
	uint32_t i = FIND(p->ifaces, p->nifaces, interface);
	const struct iface *f;
	int64_t local, day;

	if (i == NONE)
		return -1;
	f = &p->ifaces[i];
	if (f->daily_bytes == UNLIMITED && f->daily_count == UNLIMITED)
		return 0;
	/* Midnight of the interface's own zone: a day in Tokyo starts at
	 * 15:00 UTC, not at 00:00 UTC. */
	local = (int64_t)now + tzone_offset(f->tz, (int64_t)now);
	day = local - (((local % 86400) + 86400) % 86400);
	*day_start = tzone_from_local(f->tz, day);
	return 1;
}

int
policy_exception_limits(const struct policy *p, const char *interface,
    struct policy_exception_limits *out)
{
	uint32_t i = FIND(p->ifaces, p->nifaces, interface);

	if (i == NONE || !p->ifaces[i].has_exlim)
		return -1;
	*out = p->ifaces[i].exlim;
	return 0;
}

int
policy_interface_approval(const struct policy *p, const char *interface,
    const char **group, unsigned *count)
{
	uint32_t i = FIND(p->ifaces, p->nifaces, interface);
	const struct iface *f;

	if (i == NONE)
		return -1;
	f = &p->ifaces[i];
	*group = f->approval.set ? p->groups[f->approvers].id : NULL;
	*count = f->approval.set ? f->approvals : 0;
	return 0;
}

int
policy_interface_usable(const struct policy *p, size_t i,
    const struct policy_principal *who, time_t now,
    struct policy_interface_view *out)
{
	struct policy_request req;
	struct policy_context ctx;
	struct policy_decision dec;
	struct eval e;
	const struct iface *f;
	const char *why;
	size_t k;

	if (p == NULL || who == NULL || out == NULL || i >= p->nifaces)
		return -1;
	if (who->user == NULL || !util_is_token(who->user, POLICY_ID_MAX))
		return 0;
	f = &p->ifaces[i];
	/* The mildest request there is: class 1, no bytes, no extension. A
	 * forbid that still matches it refuses everything. */
	memset(&req, 0, sizeof(req));
	req.interface = f->id;
	req.class = 1;
	memset(&ctx, 0, sizeof(ctx));
	ctx.now = now;
	memset(&e, 0, sizeof(e));
	e.p = p;
	e.who = who;
	e.req = &req;
	e.ctx = &ctx;
	e.out = &dec;
	e.ext_kind = 0;
	if (resolve_principal(&e) != 0)
		return 0;
	if (f->legacy_open) {
		if (!(e.roles & POLICY_ROLE_STAFF))
			return 0;
	} else if (!sel_principal(&e, &f->allow, &why) ||
	    (sel_has_terminals(&f->allow) && !sel_terminal(&e, &f->allow)))
		return 0;
	if (now < f->valid_from || now >= f->valid_until ||
	    (p->review_deny && now >= f->review_late))
		return 0;
	for (k = 0; k < p->nforbids; k++)
		if (forbid_hits(&e, &p->forbids[k], (uint32_t)i))
			return 0;
	memset(out, 0, sizeof(*out));
	out->id = f->id;
	out->title = f->purpose;
	/* Classification 3 never leaves (builtin:class3). */
	out->max_class = f->max_class < 3 ? f->max_class : 2;
	out->default_class = f->default_class <= out->max_class ?
	    f->default_class : 0;
	out->max_size = f->max_size;
	out->hours = f->has_sched ? f->sched_txt : NULL;
	out->extensions = f->ext_allow.v;
	out->nextensions = f->ext_allow.n;
	out->approval = f->approval.set;
	out->approval_always = f->approval.set && f->approval.always;
	out->approvals_required = f->approval.set ? f->approvals : 0;
	out->stepup = f->stepup.set;
	out->service = f->service != NONE ? p->services[f->service].id :
	    NULL;
	return 1;
}

/* The extensions an exception adds: "pdf,xlsx", each within the
 * interface's exception_limits.extensions. */
static int
check_ext_list(const struct iface *f, const char *list, char *err,
    size_t errlen)
{
	char ext[EXT_MAX + 1];
	const char *s = list, *t;
	size_t len, i;

	if (strlen(list) > POLICY_EXCEPTION_EXTS_MAX)
		return util_err(err, errlen, "exception: extensions: longer "
		    "than %d characters", POLICY_EXCEPTION_EXTS_MAX);
	for (;;) {
		len = strcspn(s, ",");
		if (len == 0 || len > EXT_MAX)
			return util_err(err, errlen, "exception: extensions: "
			    "each must be 1..%d characters, separated by "
			    "commas", EXT_MAX);
		for (i = 0; i < len; i++)
			if (!((s[i] >= 'a' && s[i] <= 'z') ||
			    (s[i] >= '0' && s[i] <= '9') ||
			    strchr("_+~-", s[i]) != NULL))
				return util_err(err, errlen, "exception: "
				    "extensions: '%.*s' is not a lower-case "
				    "extension (letters, digits, _ + ~ -)",
				    (int)len, s);
		memcpy(ext, s, len);
		ext[len] = '\0';
		for (t = list; t < s; t += strcspn(t, ",") + 1)
			if (strcspn(t, ",") == len && memcmp(t, s, len) == 0)
				return util_err(err, errlen, "exception: "
				    "extensions: .%s is listed twice", ext);
		if (f->exlim_ext.n == 0)
			return util_err(err, errlen, "exception: interface %s "
			    "allows no extra extensions", f->id);
		if (!strlist_has(&f->exlim_ext, ext))
			return util_err(err, errlen, "exception: extension .%s "
			    "is not in the exception_limits of interface %s",
			    ext, f->id);
		if (s[len] == '\0')
			return 0;
		s += len + 1;
	}
}

int
policy_exception_check(const struct policy *p,
    const struct policy_exception *e, char *err, size_t errlen)
{
	const struct policy_exception_limits *lim;
	const struct iface *f;
	uint32_t i;
	int m;

	if (e == NULL || e->user == NULL || !util_is_token(e->user,
	    POLICY_ID_MAX) || e->interface == NULL)
		return util_err(err, errlen, "exception: user and interface "
		    "are required");
	if ((i = FIND(p->ifaces, p->nifaces, e->interface)) == NONE)
		return util_err(err, errlen, "exception: unknown interface");
	f = &p->ifaces[i];
	lim = &f->exlim;
	if (!f->has_exlim)
		return util_err(err, errlen, "exception: interface %s allows "
		    "no exceptions (no exception_limits)", f->id);
	if (e->max_class == 0 && e->max_size == 0 && e->hours_from < 0 &&
	    e->hours_to < 0 && (e->extensions == NULL ||
	    e->extensions[0] == '\0'))
		return util_err(err, errlen, "exception: widens nothing");
	if (e->extensions != NULL && e->extensions[0] != '\0' &&
	    check_ext_list(f, e->extensions, err, errlen) != 0)
		return -1;
	if (e->max_class != 0 && (e->max_class > lim->max_class ||
	    e->max_class > 2))
		return util_err(err, errlen, "exception: class %u exceeds the "
		    "limit %u of interface %s", e->max_class, lim->max_class,
		    f->id);
	if (e->max_size != 0 && e->max_size > lim->max_size)
		return util_err(err, errlen, "exception: size %" PRIu64
		    " exceeds the limit %" PRIu64 " of interface %s",
		    e->max_size, lim->max_size, f->id);
	if (e->hours_from >= 0 || e->hours_to >= 0) {
		if (e->hours_from < 0 || e->hours_from >= 1440 ||
		    e->hours_to < 0 || e->hours_to > 1440 ||
		    e->hours_from == e->hours_to)
			return util_err(err, errlen, "exception: bad hours");
		if (lim->hours_from < 0)
			return util_err(err, errlen, "exception: interface %s "
			    "allows no extra hours", f->id);
		for (m = 0; m < 1440; m++)
			if (win_has(e->hours_from, e->hours_to, m) &&
			    !win_has(lim->hours_from, lim->hours_to, m))
				return util_err(err, errlen, "exception: "
				    "hours reach past the limit of interface "
				    "%s (%02d:%02d-%02d:%02d)", f->id,
				    lim->hours_from / 60, lim->hours_from % 60,
				    lim->hours_to / 60, lim->hours_to % 60);
	}
	if (e->not_after <= e->not_before)
		return util_err(err, errlen, "exception: ends before it "
		    "starts");
	if ((uint64_t)(e->not_after - e->not_before) > lim->max_duration) {
		char has[80], may[80];

		(void)util_err(err, errlen, "exception: lasts %s, longer than "
		    "the %s interface %s allows (exception_limits."
		    "max_duration); choose an earlier end",
		    policy_duration_text((uint64_t)(e->not_after -
		    e->not_before), has, sizeof(has)),
		    policy_duration_text(lim->max_duration, may, sizeof(may)),
		    f->id);
		return POLICY_EXCEPTION_TOO_LONG;
	}
	return 0;
}

const char *
policy_duration_text(uint64_t seconds, char *buf, size_t len)
{
	static const struct {
		uint64_t s;
		const char *one, *many, *ja;
	} units[] = {
		{ 86400, "day", "days", "\xe6\x97\xa5" },		/* 日 */
		{ 3600, "hour", "hours", "\xe6\x99\x82\xe9\x96\x93" },	/* 時間 */
		{ 60, "minute", "minutes", "\xe5\x88\x86" },		/* 分 */
		{ 1, "second", "seconds", "\xe7\xa7\x92" },		/* 秒 */
	};
	char en[64] = "", ja[64] = "";
	size_t i, el = 0, jl = 0;
	uint64_t left = seconds, n;

	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++) {
		n = left / units[i].s;
		left %= units[i].s;
		if (n == 0 && !(seconds == 0 && units[i].s == 1))
			continue;
		el += (size_t)snprintf(en + el, sizeof(en) - el, "%s%" PRIu64
		    " %s", el > 0 ? " " : "", n, n == 1 ? units[i].one :
		    units[i].many);
		jl += (size_t)snprintf(ja + jl, sizeof(ja) - jl, "%" PRIu64
		    "%s", n, units[i].ja);
		if (el >= sizeof(en) || jl >= sizeof(ja))
			break;
	}
	if (len > 0)
		snprintf(buf, len, "%s (%s)", en, ja);
	return buf;
}

unsigned
policy_principal_roles(const struct policy *p,
    const struct policy_principal *who)
{
	const struct user *u;
	uint32_t i;

	if (p == NULL || who == NULL || who->user == NULL)
		return 0;
	if ((i = FIND(p->users, p->nusers, who->user)) == NONE)
		return p->unknown_deny ? 0 : POLICY_ROLE_STAFF;
	u = &p->users[i];
	if (u->disabled || (u->dept != NULL && who->dept != NULL &&
	    who->dept[0] != '\0' && strcmp(u->dept, who->dept) != 0))
		return 0;
	return u->roles;
}

int
policy_group_has(const struct policy *p, const char *group,
    const struct policy_principal *who)
{
	uint32_t g, u;
	const char *dept;

	if (p == NULL || who == NULL || who->user == NULL ||
	    (g = FIND(p->groups, p->ngroups, group)) == NONE ||
	    policy_principal_roles(p, who) == 0)
		return 0;
	u = FIND(p->users, p->nusers, who->user);
	dept = u != NONE && p->users[u].dept != NULL ? p->users[u].dept :
	    who->dept;
	return in_group(&p->groups[g], u, dept);
}

/* --------------------------------------------------------------- lint */

struct lint {
	policy_lint_fn *fn;
	void *arg;
	size_t count;
};

static void lint_add(struct lint *, unsigned, const char *, const char *,
    ...) __attribute__((format(printf, 4, 5)));

static void
lint_add(struct lint *t, unsigned line, const char *code, const char *fmt,
    ...)
{
	char msg[320];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	t->count++;
	if (t->fn != NULL)
		t->fn(t->arg, line, code, msg);
}

static int
forbid_only_ifaces(const struct forbid *f)
{
	return f->sel.users.n == 0 && f->sel.groups.n == 0 &&
	    f->sel.roles == 0 && !sel_has_terminals(&f->sel) &&
	    f->exts.n == 0 && f->min_class == 0 && !f->has_size;
}

static int
forbid_only_exts(const struct forbid *f)
{
	return f->ifaces.n == 0 && f->sel.users.n == 0 &&
	    f->sel.groups.n == 0 && f->sel.roles == 0 &&
	    !sel_has_terminals(&f->sel) && f->min_class == 0 &&
	    !f->has_size && f->exts.n > 0;
}

static int
idx_eq(const struct idxlist *a, const struct idxlist *b)
{
	return a->n == b->n && (a->n == 0 ||
	    memcmp(a->v, b->v, a->n * sizeof(*a->v)) == 0);
}

static int
str_eq(const struct strlist *a, const struct strlist *b)
{
	size_t i;

	if (a->n != b->n)
		return 0;
	for (i = 0; i < a->n; i++)
		if (strcmp(a->v[i], b->v[i]) != 0)
			return 0;
	return 1;
}

static int
forbid_eq(const struct forbid *a, const struct forbid *b)
{
	return idx_eq(&a->ifaces, &b->ifaces) &&
	    idx_eq(&a->sel.users, &b->sel.users) &&
	    idx_eq(&a->sel.groups, &b->sel.groups) &&
	    a->sel.roles == b->sel.roles &&
	    idx_eq(&a->sel.terms, &b->sel.terms) &&
	    str_eq(&a->sel.tgroups, &b->sel.tgroups) &&
	    str_eq(&a->exts, &b->exts) && a->min_class == b->min_class &&
	    a->has_size == b->has_size &&
	    (!a->has_size || a->min_size == b->min_size);
}

static void
mark_idx(unsigned char *used, const struct idxlist *l)
{
	size_t i;

	for (i = 0; i < l->n; i++)
		used[l->v[i]] = 1;
}

static void
lint_cond(struct lint *t, const struct iface *f, const struct cond *c,
    const char *what)
{
	unsigned top = f->max_class;
	uint64_t big = f->max_size;

	if (!c->set || c->always)
		return;
	if (f->has_exlim && f->exlim.max_class > top)
		top = f->exlim.max_class;
	if (f->has_exlim && f->exlim.max_size > big && big != UNLIMITED)
		big = f->exlim.max_size;
	if (top > 2)
		top = 2;
	if ((c->min_class == 0 || c->min_class > top) &&
	    (!c->has_size || c->min_size > big))
		lint_add(t, f->line, "never_triggers", "interface %s: the %s "
		    "condition can never be met (class and size limits are "
		    "lower)", f->id, what);
}

static void
lint_iface(struct lint *t, const struct policy *p, const struct iface *f,
    time_t now)
{
	size_t i, j;

	if (f->legacy_open)
		lint_add(t, f->line, "legacy_open", "interface %s has no allow "
		    "list: every staff member with a valid certificate may "
		    "use it", f->id);
	if (f->service == NONE)
		lint_add(t, f->line, "no_service", "interface %s names no "
		    "service: nothing can be delivered through it", f->id);
	if (f->review_txt == NULL)
		lint_add(t, f->line, "review_missing", "interface %s has no "
		    "next_review date", f->id);
	else if ((int64_t)now >= f->review_late)
		lint_add(t, f->line, "review_overdue", "interface %s was due "
		    "for review on %s (%s)", f->id, f->review_txt,
		    p->review_deny ? "it is denied until reviewed" :
		    "transfers are allowed with a warning");
	if ((int64_t)now >= f->valid_until)
		lint_add(t, f->line, "expired", "interface %s expired after "
		    "%s", f->id, f->valid_until_txt);
	if (f->purpose == NULL || f->owner == NULL || f->approved_by == NULL)
		lint_add(t, f->line, "incomplete", "interface %s lacks purpose, "
		    "owner or approved_by (インターフェース管理基準 (2))", f->id);
	if (f->max_class == 3)
		lint_add(t, f->line, "shadowed", "interface %s: max_class 3 has "
		    "no effect, class 3 is always forbidden", f->id);
	for (i = 0; i < f->ext_allow.n; i++) {
		if (strlist_has(&f->ext_deny, f->ext_allow.v[i]))
			lint_add(t, f->line, "shadowed", "interface %s: "
			    "extension .%s is both allowed and denied", f->id,
			    f->ext_allow.v[i]);
		for (j = 0; j < p->nforbids; j++)
			if (forbid_only_exts(&p->forbids[j]) &&
			    strlist_has(&p->forbids[j].exts, f->ext_allow.v[i]))
				lint_add(t, f->line, "shadowed", "interface %s: "
				    "allowed extension .%s is forbidden by %s",
				    f->id, f->ext_allow.v[i],
				    p->forbids[j].id);
	}
	for (j = 0; j < p->nforbids; j++) {
		const struct forbid *fb = &p->forbids[j];

		if (forbid_only_ifaces(fb) &&
		    idxlist_has(&fb->ifaces, (uint32_t)(f - p->ifaces)))
			lint_add(t, f->line, "shadowed", "interface %s is "
			    "entirely forbidden by %s", f->id, fb->id);
	}
	for (i = 0; i < f->allow.users.n; i++) {
		const struct user *u = &p->users[f->allow.users.v[i]];
		const char *why = NULL;

		if (u->roles & f->allow.roles)
			why = "a listed role";
		for (j = 0; why == NULL && j < f->allow.groups.n; j++)
			if (in_group(&p->groups[f->allow.groups.v[j]],
			    f->allow.users.v[i], u->dept))
				why = p->groups[f->allow.groups.v[j]].id;
		if (why != NULL)
			lint_add(t, f->line, "redundant", "interface %s: user "
			    "%s is already allowed by %s", f->id, u->id, why);
	}
	lint_cond(t, f, &f->stepup, "step_up");
	lint_cond(t, f, &f->approval, "approval");
	if (f->approval.set) {
		const struct group *g = &p->groups[f->approvers];
		size_t officers = 0;

		for (i = 0; i < p->nusers; i++)
			if ((p->users[i].roles & POLICY_ROLE_OFFICER) &&
			    !p->users[i].disabled &&
			    in_group(g, (uint32_t)i, p->users[i].dept))
				officers++;
		if (officers < f->approvals)
			lint_add(t, f->line, "approvers_short", "interface %s: "
			    "approval needs %u officers of group %s, the "
			    "register lists %zu", f->id, f->approvals, g->id,
			    officers);
	}
	if (f->has_exlim && (f->exlim.max_class == 0 ||
	    f->exlim.max_class <= f->max_class) && (f->exlim.max_size == 0 ||
	    f->exlim.max_size <= f->max_size) && (f->exlim.hours_from < 0 ||
	    !f->has_sched) && f->exlim.nextensions == 0)
		lint_add(t, f->line, "exception_limits_ineffective",
		    "interface %s: exception_limits widen nothing", f->id);
}

static int
cmp_target(const void *a, const void *b)
{
	const struct iface *x = *(const struct iface *const *)a;
	const struct iface *y = *(const struct iface *const *)b;

	if (x->service != y->service)
		return x->service < y->service ? -1 : 1;
	return strcmp(x->path != NULL ? x->path : "",
	    y->path != NULL ? y->path : "");
}

size_t
policy_lint(const struct policy *p, time_t now, policy_lint_fn *fn,
    void *arg)
{
	struct lint t = { fn, arg, 0 };
	unsigned char *uu = NULL, *gu = NULL, *tu = NULL, *su = NULL;
	const struct iface **byt = NULL;
	unsigned roles = 0;
	size_t i, j;

	if (p == NULL)
		return 0;
	for (i = 0; i < p->nifaces; i++)
		lint_iface(&t, p, &p->ifaces[i], now);
	for (i = 0; i < p->nforbids; i++) {
		const struct forbid *a = &p->forbids[i];

		if (a->min_class == 3 && forbid_only_ifaces(a) == 0 &&
		    a->ifaces.n == 0 && a->sel.users.n == 0 &&
		    a->sel.groups.n == 0 && a->sel.roles == 0 &&
		    !sel_has_terminals(&a->sel) && a->exts.n == 0 &&
		    !a->has_size)
			lint_add(&t, a->line, "redundant", "forbid %s repeats "
			    "the built-in class 3 forbid", a->id);
		for (j = 0; j < i; j++)
			if (forbid_eq(a, &p->forbids[j]))
				lint_add(&t, a->line, "redundant", "forbid %s "
				    "matches exactly what %s (line %u) "
				    "matches", a->id, p->forbids[j].id,
				    p->forbids[j].line);
	}
	for (i = 0; i < p->nservices; i++)
		if (strncmp(p->services[i].endpoint, "http://", 7) == 0)
			lint_add(&t, p->services[i].line, "insecure_endpoint",
			    "service %s uses plain http (local demo only)",
			    p->services[i].id);

	uu = calloc(p->nusers + 1, 1);
	gu = calloc(p->ngroups + 1, 1);
	tu = calloc(p->nterms + 1, 1);
	su = calloc(p->nservices + 1, 1);
	byt = calloc(p->nifaces + 1, sizeof(*byt));
	if (uu == NULL || gu == NULL || tu == NULL || su == NULL ||
	    byt == NULL) {
		lint_add(&t, 0, "lint_incomplete", "out of memory");
		goto out;
	}
	if (p->reg_set)
		gu[p->reg_group] = 1;
	for (i = 0; i < p->nifaces; i++) {
		const struct iface *f = &p->ifaces[i];

		mark_idx(uu, &f->allow.users);
		mark_idx(gu, &f->allow.groups);
		mark_idx(tu, &f->allow.terms);
		roles |= f->legacy_open ? POLICY_ROLE_STAFF : f->allow.roles;
		if (f->approval.set)
			gu[f->approvers] = 1;
		if (f->service != NONE)
			su[f->service] = 1;
		for (j = 0; j < p->nterms; j++)
			if (p->terms[j].group != NULL &&
			    strlist_has(&f->allow.tgroups, p->terms[j].group))
				tu[j] = 1;
	}
	for (i = 0; i < p->nforbids; i++) {
		const struct forbid *fb = &p->forbids[i];

		mark_idx(uu, &fb->sel.users);
		mark_idx(gu, &fb->sel.groups);
		mark_idx(tu, &fb->sel.terms);
		roles |= fb->sel.roles;
		for (j = 0; j < p->nterms; j++)
			if (p->terms[j].group != NULL &&
			    strlist_has(&fb->sel.tgroups, p->terms[j].group))
				tu[j] = 1;
	}
	for (i = 0; i < p->nusers; i++) {
		/* Auditors and administrators work outside interfaces. */
		if (p->users[i].roles & (roles | POLICY_ROLE_AUDITOR |
		    POLICY_ROLE_ADMIN))
			uu[i] = 1;
		for (j = 0; !uu[i] && j < p->ngroups; j++)
			if (gu[j] && in_group(&p->groups[j], (uint32_t)i,
			    p->users[i].dept))
				uu[i] = 1;
		if (!uu[i])
			lint_add(&t, p->users[i].line, "unused_principal",
			    "user %s is not used by any interface, forbid or "
			    "approver group", p->users[i].id);
	}
	for (i = 0; i < p->ngroups; i++)
		if (!gu[i])
			lint_add(&t, p->groups[i].line, "unused_principal",
			    "group %s is not used by any interface or forbid",
			    p->groups[i].id);
	for (i = 0; i < p->nterms; i++)
		if (!tu[i])
			lint_add(&t, p->terms[i].line, "unused_principal",
			    "terminal %s is not named by any interface or "
			    "forbid (it may still use unrestricted interfaces)",
			    p->terms[i].id);
	for (i = 0; i < p->nservices; i++)
		if (!su[i])
			lint_add(&t, p->services[i].line, "unused_service",
			    "service %s is not used by any interface",
			    p->services[i].id);
	/* Interfaces that deliver to the same place overlap. */
	for (i = 0, j = 0; i < p->nifaces; i++)
		if (p->ifaces[i].service != NONE)
			byt[j++] = &p->ifaces[i];
	qsort(byt, j, sizeof(*byt), cmp_target);
	for (i = 1; i < j; i++)
		if (cmp_target(&byt[i - 1], &byt[i]) == 0)
			lint_add(&t, byt[i]->line, "overlap", "interfaces %s "
			    "and %s deliver to the same service and path",
			    byt[i - 1]->id, byt[i]->id);
out:
	free(uu);
	free(gu);
	free(tu);
	free(su);
	free(byt);
	return t.count;
}
