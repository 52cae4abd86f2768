/*
 * test_policy — the interface register: loading (with exact file:line:field
 * messages), the decision table, explain, lint and the helper lookups.
 *
 * The decision cases are one table over one register (REG below); each row
 * names a principal, a request, a time and the expected verdict, code and
 * rule. Every row also checks that the requester's reason names no other
 * interface and no other principal. The allocator is wrapped so that a test
 * can prove policy_decide allocates nothing.
 */
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
#include <openssl/evp.h>

#include "lib/util.h"
#include "policy/policy.h"
#include "policy/tzone.h"

/* ------------------------------------------------ allocation counting */

void *__real_malloc(size_t);
void *__real_calloc(size_t, size_t);
void *__real_realloc(void *, size_t);
void *__wrap_malloc(size_t);
void *__wrap_calloc(size_t, size_t);
void *__wrap_realloc(void *, size_t);

static size_t nallocs;

void *
__wrap_malloc(size_t n)
{
	nallocs++;
	return __real_malloc(n);
}

void *
__wrap_calloc(size_t n, size_t s)
{
	nallocs++;
	return __real_calloc(n, s);
}

void *
__wrap_realloc(void *p, size_t n)
{
	nallocs++;
	return __real_realloc(p, n);
}

/* ------------------------------------------------------------ fixture */

static const char REG[] =
"version: 1\n"
"timezone: Asia/Tokyo\n"
"review_overdue: warn\n"
"principals:\n"
"  unknown_users: staff\n"
"  users:\n"
"    - {id: alice, department: kikaku, roles: [staff]}\n"
"    - {id: bob, department: somu, roles: [staff, officer]}\n"
"    - {id: carol, department: somu, roles: [officer]}\n"
"    - {id: dave, department: kikaku, roles: [auditor]}\n"
"    - {id: erin, department: kikaku, roles: [staff], disabled: true}\n"
"    - {id: frank, roles: [staff]}\n"
"  groups:\n"
"    - {id: g-kikaku, departments: [kikaku]}\n"
"    - {id: g-hoiku, departments: [hoiku, kosodate]}\n"
"    - {id: g-approvers, users: [bob, carol]}\n"
"    - {id: g-named, users: [frank]}\n"
"  terminals:\n"
"    - {id: T1, group: floor2}\n"
"    - {id: T2, group: floor2}\n"
"    - {id: T3}\n"
"services:\n"
"  - {id: dav, connector: webdav, endpoint: \"https://dav.example.jp/\"}\n"
"interfaces:\n"
"  - id: IF-OPEN\n"
"    max_class: 2\n"
"  - id: IF-A\n"
"    service: dav\n"
"    path: /a/\n"
"    max_class: 1\n"
"    max_size: 10MiB\n"
"    allow: {groups: [g-kikaku]}\n"
"    schedule: {days: mon-fri, hours: \"08:00-18:00\"}\n"
"    extensions: {allow: [pdf, CSV]}\n"
"    exception_limits: {max_class: 2, max_size: 100MiB, "
"hours: \"07:00-22:00\", max_duration: 7d}\n"
"  - id: IF-NIGHT\n"
"    max_class: 2\n"
"    allow: {roles: [staff]}\n"
"    schedule: {days: [fri], hours: \"22:00-06:00\"}\n"
"  - id: IF-NY\n"
"    max_class: 2\n"
"    allow: {roles: [staff]}\n"
"    schedule: {hours: \"09:00-17:00\", timezone: America/New_York}\n"
"  - id: IF-FIXED\n"
"    max_class: 2\n"
"    allow: {roles: [staff]}\n"
"    schedule: {hours: \"09:00-17:00\", timezone: \"+05:30\"}\n"
"  - id: IF-VALID\n"
"    max_class: 2\n"
"    allow: {users: [alice]}\n"
"    valid_from: 2026-04-01\n"
"    valid_until: 2026-06-30\n"
"  - id: IF-TERM\n"
"    max_class: 2\n"
"    allow: {roles: [staff], terminals: [floor2]}\n"
"  - id: IF-TERM3\n"
"    max_class: 2\n"
"    allow: {users: [alice], terminals: [T3]}\n"
"  - id: IF-REVIEW\n"
"    max_class: 2\n"
"    allow: {roles: [staff]}\n"
"    next_review: 2026-03-31\n"
"  - id: IF-VOL\n"
"    max_class: 2\n"
"    allow: {roles: [staff]}\n"
"    daily_bytes: 1MiB\n"
"    daily_count: 3\n"
"  - id: IF-STEP\n"
"    max_class: 2\n"
"    allow: {roles: [staff]}\n"
"    step_up: {when: [\"class>=2\", \"size>=5MiB\"], max_age: 10m}\n"
"  - id: IF-STEPALL\n"
"    max_class: 2\n"
"    allow: {roles: [staff]}\n"
"    step_up: {when: always}\n"
"  - id: IF-APPR\n"
"    max_class: 2\n"
"    allow: {roles: [staff, officer]}\n"
"    approval: {when: [\"class>=2\", \"size>=50MiB\"], "
"approvers: g-approvers, count: 2}\n"
"  - id: IF-EXTDENY\n"
"    max_class: 2\n"
"    allow: {roles: [staff]}\n"
"    extensions: {deny: [zip, .Xlsm]}\n"
"  - id: IF-FORBIDDEN-G\n"
"    max_class: 2\n"
"    allow: {roles: [staff]}\n"
"  - id: IF-OFFICER\n"
"    max_class: 1\n"
"    allow: {roles: [officer]}\n"
"  - id: IF-NAMED\n"
"    max_class: 1\n"
"    allow: {groups: [g-named]}\n"
"  - id: IF-HOIKU\n"
"    max_class: 1\n"
"    allow: {groups: [g-hoiku]}\n"
"forbids:\n"
"  - {id: FB-EXE, extensions: [exe, js], message: no executables}\n"
"  - {id: FB-G, interfaces: [IF-FORBIDDEN-G], groups: [g-kikaku]}\n"
"  - {id: FB-BIG, min_size: 1GiB}\n"
"  - {id: FB-T3-C2, terminals: [T3], min_class: 2}\n";

static const char *const REG_IDS[] = {
	"IF-OPEN", "IF-A", "IF-NIGHT", "IF-NY", "IF-FIXED", "IF-VALID",
	"IF-TERM", "IF-TERM3", "IF-REVIEW", "IF-VOL", "IF-STEP", "IF-STEPALL",
	"IF-APPR", "IF-EXTDENY", "IF-FORBIDDEN-G", "IF-OFFICER", "IF-NAMED",
	"IF-HOIKU", "alice", "bob", "carol", "dave", "erin", "frank",
	"g-kikaku", "g-hoiku", "g-approvers", "g-named", "T1", "T2", "T3",
	"floor2", "dav", NULL
};

#define KiB (1024ull)
#define MiB (1024ull * 1024)
#define GiB (1024ull * 1024 * 1024)

/*
 * An instant from a UTC offset in hours and a local civil time, as a
 * constant expression (days from civil, H. Hinnant) so the case table can
 * hold it.
 */
#define Y_(y, m)	((y) - ((m) <= 2))
#define YOE_(y, m)	(Y_(y, m) - (Y_(y, m) / 400) * 400)
#define DOY_(m, d)	((153 * ((m) + ((m) > 2 ? -3 : 9)) + 2) / 5 + (d) - 1)
#define DAYS_(y, m, d)	((Y_(y, m) / 400) * 146097 + YOE_(y, m) * 365 + \
	YOE_(y, m) / 4 - YOE_(y, m) / 100 + DOY_(m, d) - 719468)
#define at(off, y, mo, d, h, mi) ((time_t)DAYS_(y, mo, d) * 86400 + \
	(h) * 3600 + (mi) * 60 - (off) * 3600)

#define JST(y, mo, d, h, mi) at(9, y, mo, d, h, mi)
#define UTC(y, mo, d, h, mi) at(0, y, mo, d, h, mi)
/* Monday 2026-05-11 10:00 JST: inside every weekday schedule. */
#define MON10 JST(2026, 5, 11, 10, 0)

enum { EX_NONE, EX_CLASS2, EX_CLASS2_EXPIRED, EX_CLASS2_OTHER, EX_SIZE500,
    EX_SIZE50, EX_HOURS, EX_LONG, EX_CLASS2_NOLIMIT };

struct dcase {
	const char *name;
	const char *user, *dept, *term;
	const char *iface, *file;
	uint64_t size;
	unsigned class;
	time_t now;
	long stepup_ago;		/* seconds before now; 0: none */
	uint64_t bytes_today, count_today;
	int exc;			/* EX_* */
	enum policy_verdict verdict;
	const char *code;
	const char *rule;
	unsigned flags;			/* expected flags that must be set */
};

#define A POLICY_ALLOW
#define D POLICY_DENY
#define S POLICY_STEP_UP_REQUIRED
#define P POLICY_APPROVAL_REQUIRED

static const struct dcase cases[] = {
	/* legacy interface and principals */
	{ "legacy open to listed staff", "alice", "kikaku", NULL, "IF-OPEN",
	  "a.txt", 1, 1, MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-OPEN",
	  POLICY_FLAG_LEGACY_OPEN },
	{ "legacy open to unlisted staff", "zoe", "x", NULL, "IF-OPEN",
	  "a.txt", 1, 2, MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-OPEN", 0 },
	{ "legacy refuses officer-only", "carol", "somu", NULL, "IF-OPEN",
	  "a.txt", 1, 1, MON10, 0, 0, 0, EX_NONE, D, "not_permitted",
	  "IF-OPEN", 0 },
	{ "legacy refuses auditor", "dave", "kikaku", NULL, "IF-OPEN", "a.txt",
	  1, 1, MON10, 0, 0, 0, EX_NONE, D, "not_permitted", "IF-OPEN", 0 },
	{ "disabled user", "erin", "kikaku", NULL, "IF-OPEN", "a.txt", 1, 1,
	  MON10, 0, 0, 0, EX_NONE, D, "principal_disabled", "", 0 },
	{ "certificate department differs", "alice", "somu", NULL, "IF-OPEN",
	  "a.txt", 1, 1, MON10, 0, 0, 0, EX_NONE, D, "principal_mismatch", "",
	  0 },
	{ "department from certificate", "frank", "any", NULL, "IF-OPEN",
	  "a.txt", 1, 1, MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-OPEN", 0 },
	{ "class 3 is always forbidden", "alice", "kikaku", NULL, "IF-OPEN",
	  "a.txt", 1, 3, MON10, 0, 0, 0, EX_NONE, D, "class_forbidden",
	  "builtin:class3", 0 },
	{ "class 0 is malformed", "alice", "kikaku", NULL, "IF-OPEN", "a.txt",
	  1, 0, MON10, 0, 0, 0, EX_NONE, D, "invalid_request", "", 0 },
	{ "class 4 is malformed", "alice", "kikaku", NULL, "IF-OPEN", "a.txt",
	  1, 4, MON10, 0, 0, 0, EX_NONE, D, "invalid_request", "", 0 },
	{ "interface id with a path", "alice", "kikaku", NULL, "../IF-OPEN",
	  "a.txt", 1, 1, MON10, 0, 0, 0, EX_NONE, D, "invalid_request", "",
	  0 },
	{ "no user", NULL, "kikaku", NULL, "IF-OPEN", "a.txt", 1, 1, MON10, 0,
	  0, 0, EX_NONE, D, "invalid_request", "", 0 },
	{ "unknown interface", "alice", "kikaku", NULL, "IF-NOPE", "a.txt", 1,
	  1, MON10, 0, 0, 0, EX_NONE, D, "unknown_interface", "IF-NOPE", 0 },

	/* class, size, extensions (IF-A: kikaku, pdf/csv, 10MiB, class 1) */
	{ "group by department", "alice", "kikaku", NULL, "IF-A", "a.pdf",
	  1 * MiB, 1, MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-A", 0 },
	{ "class above max_class", "alice", "kikaku", NULL, "IF-A", "a.pdf",
	  1, 2, MON10, 0, 0, 0, EX_NONE, D, "class_too_high", "IF-A", 0 },
	{ "size above max_size", "alice", "kikaku", NULL, "IF-A", "a.pdf",
	  10 * MiB + 1, 1, MON10, 0, 0, 0, EX_NONE, D, "too_large", "IF-A",
	  0 },
	{ "size equal to max_size", "alice", "kikaku", NULL, "IF-A", "a.pdf",
	  10 * MiB, 1, MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-A", 0 },
	{ "extension case-insensitive", "alice", "kikaku", NULL, "IF-A",
	  "A.PDF", 1, 1, MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-A", 0 },
	{ "register extension upper case", "alice", "kikaku", NULL, "IF-A",
	  "data.Csv", 1, 1, MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-A", 0 },
	{ "extension not in allow list", "alice", "kikaku", NULL, "IF-A",
	  "x.docx", 1, 1, MON10, 0, 0, 0, EX_NONE, D, "extension_not_allowed",
	  "IF-A", 0 },
	{ "no extension with allow list", "alice", "kikaku", NULL, "IF-A",
	  "README", 1, 1, MON10, 0, 0, 0, EX_NONE, D, "extension_required",
	  "IF-A", 0 },
	{ "dot file has no extension", "alice", "kikaku", NULL, "IF-A",
	  ".pdf", 1, 1, MON10, 0, 0, 0, EX_NONE, D, "extension_required",
	  "IF-A", 0 },
	{ "last extension counts", "alice", "kikaku", NULL, "IF-A",
	  "a.tar.pdf", 1, 1, MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-A", 0 },
	{ "directory part ignored", "alice", "kikaku", NULL, "IF-A",
	  "dir.pdf\\name", 1, 1, MON10, 0, 0, 0, EX_NONE, D,
	  "extension_required", "IF-A", 0 },
	{ "double extension exe forbidden", "alice", "kikaku", NULL, "IF-A",
	  "a.pdf.exe", 1, 1, MON10, 0, 0, 0, EX_NONE, D, "forbidden",
	  "FB-EXE", 0 },
	{ "trailing dot and space stripped", "alice", "kikaku", NULL, "IF-A",
	  "evil.EXE. ", 1, 1, MON10, 0, 0, 0, EX_NONE, D, "forbidden",
	  "FB-EXE", 0 },
	{ "other department refused", "bob", "somu", NULL, "IF-A", "a.pdf", 1,
	  1, MON10, 0, 0, 0, EX_NONE, D, "not_permitted", "IF-A", 0 },
	{ "unlisted user by certificate department", "zoe", "kikaku", NULL,
	  "IF-A", "a.pdf", 1, 1, MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-A",
	  0 },
	{ "group with several departments", "yuki", "hoiku", NULL, "IF-HOIKU",
	  "a.pdf", 1, 1, MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-HOIKU", 0 },
	{ "group of named users", "frank", "", NULL, "IF-NAMED", "a.pdf", 1,
	  1, MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-NAMED", 0 },
	{ "not in group of named users", "alice", "kikaku", NULL, "IF-NAMED",
	  "a.pdf", 1, 1, MON10, 0, 0, 0, EX_NONE, D, "not_permitted",
	  "IF-NAMED", 0 },
	{ "role selector", "carol", "somu", NULL, "IF-OFFICER", "a.pdf", 1, 1,
	  MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-OFFICER", 0 },
	{ "role selector refuses staff", "alice", "kikaku", NULL, "IF-OFFICER",
	  "a.pdf", 1, 1, MON10, 0, 0, 0, EX_NONE, D, "not_permitted",
	  "IF-OFFICER", 0 },
	{ "deny list", "alice", "kikaku", NULL, "IF-EXTDENY", "a.ZIP", 1, 1,
	  MON10, 0, 0, 0, EX_NONE, D, "extension_not_allowed", "IF-EXTDENY",
	  0 },
	{ "deny list entry with dot", "alice", "kikaku", NULL, "IF-EXTDENY",
	  "m.xlsm", 1, 1, MON10, 0, 0, 0, EX_NONE, D, "extension_not_allowed",
	  "IF-EXTDENY", 0 },
	{ "deny list last extension only", "alice", "kikaku", NULL,
	  "IF-EXTDENY", "a.zip.txt", 1, 1, MON10, 0, 0, 0, EX_NONE, A,
	  "allowed", "IF-EXTDENY", 0 },
	{ "deny list allows no extension", "alice", "kikaku", NULL,
	  "IF-EXTDENY", "Makefile", 1, 1, MON10, 0, 0, 0, EX_NONE, A,
	  "allowed", "IF-EXTDENY", 0 },

	/* schedule Mon-Fri 08:00-18:00 Asia/Tokyo */
	{ "saturday closed", "alice", "kikaku", NULL, "IF-A", "a.pdf", 1, 1,
	  JST(2026, 5, 16, 10, 0), 0, 0, 0, EX_NONE, D, "outside_hours",
	  "IF-A", 0 },
	{ "before opening", "alice", "kikaku", NULL, "IF-A", "a.pdf", 1, 1,
	  JST(2026, 5, 11, 7, 59), 0, 0, 0, EX_NONE, D, "outside_hours",
	  "IF-A", 0 },
	{ "at opening", "alice", "kikaku", NULL, "IF-A", "a.pdf", 1, 1,
	  JST(2026, 5, 11, 8, 0), 0, 0, 0, EX_NONE, A, "allowed", "IF-A", 0 },
	{ "closing is exclusive", "alice", "kikaku", NULL, "IF-A", "a.pdf", 1,
	  1, JST(2026, 5, 11, 18, 0), 0, 0, 0, EX_NONE, D, "outside_hours",
	  "IF-A", 0 },
	{ "local not UTC day", "alice", "kikaku", NULL, "IF-A", "a.pdf", 1, 1,
	  UTC(2026, 5, 10, 23, 30), 0, 0, 0, EX_NONE, A, "allowed", "IF-A", 0 },

	/* across midnight: Friday 22:00 - Saturday 06:00 */
	{ "night friday late", "alice", "kikaku", NULL, "IF-NIGHT", "a", 1, 1,
	  JST(2026, 5, 15, 23, 0), 0, 0, 0, EX_NONE, A, "allowed", "IF-NIGHT",
	  0 },
	{ "night saturday early", "alice", "kikaku", NULL, "IF-NIGHT", "a", 1,
	  1, JST(2026, 5, 16, 5, 59), 0, 0, 0, EX_NONE, A, "allowed",
	  "IF-NIGHT", 0 },
	{ "night saturday end exclusive", "alice", "kikaku", NULL, "IF-NIGHT",
	  "a", 1, 1, JST(2026, 5, 16, 6, 0), 0, 0, 0, EX_NONE, D,
	  "outside_hours", "IF-NIGHT", 0 },
	{ "night saturday late closed", "alice", "kikaku", NULL, "IF-NIGHT",
	  "a", 1, 1, JST(2026, 5, 16, 23, 0), 0, 0, 0, EX_NONE, D,
	  "outside_hours", "IF-NIGHT", 0 },
	{ "night friday early is thursday's", "alice", "kikaku", NULL,
	  "IF-NIGHT", "a", 1, 1, JST(2026, 5, 15, 5, 0), 0, 0, 0, EX_NONE, D,
	  "outside_hours", "IF-NIGHT", 0 },

	/* other zones */
	{ "new york summer 09:30 EDT", "alice", "kikaku", NULL, "IF-NY", "a",
	  1, 1, UTC(2026, 7, 1, 13, 30), 0, 0, 0, EX_NONE, A, "allowed",
	  "IF-NY", 0 },
	{ "new york winter 08:30 EST", "alice", "kikaku", NULL, "IF-NY", "a",
	  1, 1, UTC(2026, 1, 14, 13, 30), 0, 0, 0, EX_NONE, D,
	  "outside_hours", "IF-NY", 0 },
	{ "new york winter 09:30 EST", "alice", "kikaku", NULL, "IF-NY", "a",
	  1, 1, UTC(2026, 1, 14, 14, 30), 0, 0, 0, EX_NONE, A, "allowed",
	  "IF-NY", 0 },
	{ "fixed +05:30 open", "alice", "kikaku", NULL, "IF-FIXED", "a", 1, 1,
	  UTC(2026, 1, 14, 3, 30), 0, 0, 0, EX_NONE, A, "allowed", "IF-FIXED",
	  0 },
	{ "fixed +05:30 closed", "alice", "kikaku", NULL, "IF-FIXED", "a", 1,
	  1, UTC(2026, 1, 14, 3, 29), 0, 0, 0, EX_NONE, D, "outside_hours",
	  "IF-FIXED", 0 },

	/* validity 2026-04-01 .. 2026-06-30 in Asia/Tokyo */
	{ "before valid_from", "alice", "kikaku", NULL, "IF-VALID", "a", 1, 1,
	  JST(2026, 3, 31, 23, 59), 0, 0, 0, EX_NONE, D, "not_yet_valid",
	  "IF-VALID", 0 },
	{ "on valid_from", "alice", "kikaku", NULL, "IF-VALID", "a", 1, 1,
	  JST(2026, 4, 1, 0, 0), 0, 0, 0, EX_NONE, A, "allowed", "IF-VALID",
	  0 },
	{ "last day of validity", "alice", "kikaku", NULL, "IF-VALID", "a", 1,
	  1, JST(2026, 6, 30, 23, 59), 0, 0, 0, EX_NONE, A, "allowed",
	  "IF-VALID", 0 },
	{ "after valid_until", "alice", "kikaku", NULL, "IF-VALID", "a", 1, 1,
	  JST(2026, 7, 1, 0, 0), 0, 0, 0, EX_NONE, D, "expired", "IF-VALID",
	  0 },
	{ "user selector refuses others", "bob", "somu", NULL, "IF-VALID", "a",
	  1, 1, MON10, 0, 0, 0, EX_NONE, D, "not_permitted", "IF-VALID", 0 },

	/* terminals */
	{ "terminal group", "alice", "kikaku", "T1", "IF-TERM", "a", 1, 1,
	  MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-TERM", 0 },
	{ "terminal outside group", "alice", "kikaku", "T3", "IF-TERM", "a", 1,
	  1, MON10, 0, 0, 0, EX_NONE, D, "terminal_not_permitted", "IF-TERM",
	  0 },
	{ "no terminal where one is required", "alice", "kikaku", NULL,
	  "IF-TERM", "a", 1, 1, MON10, 0, 0, 0, EX_NONE, D,
	  "terminal_not_permitted", "IF-TERM", 0 },
	{ "unregistered terminal", "alice", "kikaku", "TX", "IF-TERM", "a", 1,
	  1, MON10, 0, 0, 0, EX_NONE, D, "terminal_not_permitted", "IF-TERM",
	  0 },
	{ "terminal by id", "alice", "kikaku", "T3", "IF-TERM3", "a", 1, 1,
	  MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-TERM3", 0 },
	{ "terminal AND user both needed", "bob", "somu", "T3", "IF-TERM3",
	  "a", 1, 1, MON10, 0, 0, 0, EX_NONE, D, "not_permitted", "IF-TERM3",
	  0 },
	{ "wrong terminal by id", "alice", "kikaku", "T1", "IF-TERM3", "a", 1,
	  1, MON10, 0, 0, 0, EX_NONE, D, "terminal_not_permitted", "IF-TERM3",
	  0 },
	{ "forbid by terminal and class", "alice", "kikaku", "T3", "IF-TERM3",
	  "a", 1, 2, MON10, 0, 0, 0, EX_NONE, D, "forbidden", "FB-T3-C2", 0 },

	/* review date (warn in this register) */
	{ "review on its date", "alice", "kikaku", NULL, "IF-REVIEW", "a", 1,
	  1, JST(2026, 3, 31, 23, 0), 0, 0, 0, EX_NONE, A, "allowed",
	  "IF-REVIEW", 0 },
	{ "review overdue warns", "alice", "kikaku", NULL, "IF-REVIEW", "a", 1,
	  1, JST(2026, 4, 1, 0, 0), 0, 0, 0, EX_NONE, A, "allowed",
	  "IF-REVIEW", POLICY_FLAG_REVIEW_OVERDUE },

	/* volume: 1 MiB and 3 files a day */
	{ "volume fits exactly", "alice", "kikaku", NULL, "IF-VOL", "a",
	  1 * MiB, 1, MON10, 0, 0, 2, EX_NONE, A, "allowed", "IF-VOL", 0 },
	{ "volume one byte over", "alice", "kikaku", NULL, "IF-VOL", "a",
	  1 * MiB, 1, MON10, 0, 1, 0, EX_NONE, D, "daily_bytes_exceeded",
	  "IF-VOL", 0 },
	{ "volume already past", "alice", "kikaku", NULL, "IF-VOL", "a", 0, 1,
	  MON10, 0, 2 * MiB, 0, EX_NONE, D, "daily_bytes_exceeded", "IF-VOL",
	  0 },
	{ "count exhausted", "alice", "kikaku", NULL, "IF-VOL", "a", 1, 1,
	  MON10, 0, 0, 3, EX_NONE, D, "daily_count_exceeded", "IF-VOL", 0 },
	{ "huge size does not wrap", "alice", "kikaku", NULL, "IF-VOL", "a",
	  UINT64_MAX - 10, 1, MON10, 0, 100, 0, EX_NONE, D, "forbidden",
	  "FB-BIG", 0 },

	/* step-up: class>=2 or size>=5MiB, max_age 10m */
	{ "step-up not needed", "alice", "kikaku", NULL, "IF-STEP", "a", 1, 1,
	  MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-STEP", 0 },
	{ "step-up by class", "alice", "kikaku", NULL, "IF-STEP", "a", 1, 2,
	  MON10, 0, 0, 0, EX_NONE, S, "step_up_required", "IF-STEP", 0 },
	{ "step-up fresh", "alice", "kikaku", NULL, "IF-STEP", "a", 1, 2,
	  MON10, 600, 0, 0, EX_NONE, A, "allowed", "IF-STEP", 0 },
	{ "step-up stale", "alice", "kikaku", NULL, "IF-STEP", "a", 1, 2,
	  MON10, 601, 0, 0, EX_NONE, S, "step_up_required", "IF-STEP", 0 },
	{ "step-up by size", "alice", "kikaku", NULL, "IF-STEP", "a", 5 * MiB,
	  1, MON10, 0, 0, 0, EX_NONE, S, "step_up_required", "IF-STEP", 0 },
	{ "step-up in the future is not fresh", "alice", "kikaku", NULL,
	  "IF-STEP", "a", 1, 2, MON10, -30, 0, 0, EX_NONE, S,
	  "step_up_required", "IF-STEP", 0 },
	{ "step-up always", "alice", "kikaku", NULL, "IF-STEPALL", "a", 1, 1,
	  MON10, 0, 0, 0, EX_NONE, S, "step_up_required", "IF-STEPALL", 0 },
	{ "step-up always, default max_age", "alice", "kikaku", NULL,
	  "IF-STEPALL", "a", 1, 1, MON10, 900, 0, 0, EX_NONE, A, "allowed",
	  "IF-STEPALL", 0 },

	/* approval: class>=2 or size>=50MiB, 2 of g-approvers */
	{ "approval not needed", "alice", "kikaku", NULL, "IF-APPR", "a", 1, 1,
	  MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-APPR", 0 },
	{ "approval by class", "alice", "kikaku", NULL, "IF-APPR", "a", 1, 2,
	  MON10, 0, 0, 0, EX_NONE, P, "approval_required", "IF-APPR", 0 },
	{ "approval by size", "bob", "somu", NULL, "IF-APPR", "a", 50 * MiB, 1,
	  MON10, 0, 0, 0, EX_NONE, P, "approval_required", "IF-APPR", 0 },
	{ "approval below size", "carol", "somu", NULL, "IF-APPR", "a",
	  50 * MiB - 1, 1, MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-APPR",
	  0 },

	/* forbids beat permits */
	{ "forbid interface and group", "alice", "kikaku", NULL,
	  "IF-FORBIDDEN-G", "a", 1, 1, MON10, 0, 0, 0, EX_NONE, D, "forbidden",
	  "FB-G", 0 },
	{ "forbid other group passes", "bob", "somu", NULL, "IF-FORBIDDEN-G",
	  "a", 1, 1, MON10, 0, 0, 0, EX_NONE, A, "allowed", "IF-FORBIDDEN-G",
	  0 },
	{ "forbid by size beats legacy", "alice", "kikaku", NULL, "IF-OPEN",
	  "a", 1 * GiB, 1, MON10, 0, 0, 0, EX_NONE, D, "forbidden", "FB-BIG",
	  0 },
	{ "forbid before unknown interface", "alice", "kikaku", NULL,
	  "IF-NOPE", "run.js", 1, 1, MON10, 0, 0, 0, EX_NONE, D, "forbidden",
	  "FB-EXE", 0 },

	/* exceptions, limits: class 2, 100MiB, 07:00-22:00, 7 days */
	{ "exception widens class", "alice", "kikaku", NULL, "IF-A", "a.pdf",
	  1, 2, MON10, 0, 0, 0, EX_CLASS2, A, "allowed", "IF-A",
	  POLICY_FLAG_EXCEPTION },
	{ "expired exception", "alice", "kikaku", NULL, "IF-A", "a.pdf", 1, 2,
	  MON10, 0, 0, 0, EX_CLASS2_EXPIRED, D, "class_too_high", "IF-A", 0 },
	{ "exception of another user", "alice", "kikaku", NULL, "IF-A",
	  "a.pdf", 1, 2, MON10, 0, 0, 0, EX_CLASS2_OTHER, D, "class_too_high",
	  "IF-A", 0 },
	{ "exception size capped by limits", "alice", "kikaku", NULL, "IF-A",
	  "a.pdf", 200 * MiB, 1, MON10, 0, 0, 0, EX_SIZE500, D, "too_large",
	  "IF-A", 0 },
	{ "exception size within limits", "alice", "kikaku", NULL, "IF-A",
	  "a.pdf", 100 * MiB, 1, MON10, 0, 0, 0, EX_SIZE500, A, "allowed",
	  "IF-A", POLICY_FLAG_EXCEPTION },
	{ "exception size below request", "alice", "kikaku", NULL, "IF-A",
	  "a.pdf", 60 * MiB, 1, MON10, 0, 0, 0, EX_SIZE50, D, "too_large",
	  "IF-A", 0 },
	{ "exception hours evening", "alice", "kikaku", NULL, "IF-A", "a.pdf",
	  1, 1, JST(2026, 5, 11, 21, 0), 0, 0, 0, EX_HOURS, A, "allowed",
	  "IF-A", POLICY_FLAG_EXCEPTION },
	{ "exception hours weekend", "alice", "kikaku", NULL, "IF-A", "a.pdf",
	  1, 1, JST(2026, 5, 16, 10, 0), 0, 0, 0, EX_HOURS, A, "allowed",
	  "IF-A", POLICY_FLAG_EXCEPTION },
	{ "exception hours capped by limits", "alice", "kikaku", NULL, "IF-A",
	  "a.pdf", 1, 1, JST(2026, 5, 11, 22, 30), 0, 0, 0, EX_HOURS, D,
	  "outside_hours", "IF-A", 0 },
	{ "exception hours limit end exclusive", "alice", "kikaku", NULL,
	  "IF-A", "a.pdf", 1, 1, JST(2026, 5, 11, 22, 0), 0, 0, 0, EX_HOURS, D,
	  "outside_hours", "IF-A", 0 },
	{ "exception longer than max_duration", "alice", "kikaku", NULL,
	  "IF-A", "a.pdf", 1, 2, MON10, 0, 0, 0, EX_LONG, D, "class_too_high",
	  "IF-A", 0 },
	{ "exception must cover every need", "alice", "kikaku", NULL, "IF-A",
	  "a.pdf", 1, 2, JST(2026, 5, 16, 10, 0), 0, 0, 0, EX_CLASS2, D,
	  "outside_hours", "IF-A", 0 },
	{ "exception never lifts class 3", "alice", "kikaku", NULL, "IF-A",
	  "a.pdf", 1, 3, MON10, 0, 0, 0, EX_CLASS2, D, "class_forbidden",
	  "builtin:class3", 0 },
	{ "exception never lifts a forbid", "alice", "kikaku", NULL, "IF-A",
	  "a.exe", 1, 2, MON10, 0, 0, 0, EX_CLASS2, D, "forbidden", "FB-EXE",
	  0 },
	{ "exception keeps extension rules", "alice", "kikaku", NULL, "IF-A",
	  "a.docx", 1, 2, MON10, 0, 0, 0, EX_CLASS2, D,
	  "extension_not_allowed", "IF-A", 0 },
	{ "no exception_limits, no exception", "carol", "somu", NULL,
	  "IF-OFFICER", "a", 1, 2, MON10, 0, 0, 0, EX_CLASS2_NOLIMIT, D,
	  "class_too_high", "IF-OFFICER", 0 },
	{ "exception does not widen selector", "bob", "somu", NULL, "IF-A",
	  "a.pdf", 1, 2, MON10, 0, 0, 0, EX_CLASS2_OTHER, D, "not_permitted",
	  "IF-A", 0 },
};

static struct policy *
load_reg(const char *text)
{
	struct policy *p = NULL;
	char err[512];

	if (policy_load_buffer("register.yaml", text, strlen(text), &p, err,
	    sizeof(err)) != 0)
		fail_msg("load failed: %s", err);
	return p;
}

/* Exceptions for a case; arr must hold one entry. */
static size_t
make_exc(int kind, time_t now, struct policy_exception *x)
{
	memset(x, 0, sizeof(*x));
	x->id = "EX-1";
	x->user = "alice";
	x->interface = "IF-A";
	x->hours_from = x->hours_to = -1;
	x->not_before = now - 3600;
	x->not_after = now + 3600;
	switch (kind) {
	case EX_NONE:
		return 0;
	case EX_CLASS2:
		x->max_class = 2;
		break;
	case EX_CLASS2_EXPIRED:
		x->max_class = 2;
		x->not_before = now - 7200;
		x->not_after = now;
		break;
	case EX_CLASS2_OTHER:
		x->max_class = 2;
		x->user = "bob";
		break;
	case EX_SIZE500:
		x->max_size = 500 * MiB;
		break;
	case EX_SIZE50:
		x->max_size = 50 * MiB;
		break;
	case EX_HOURS:
		x->hours_from = 6 * 60;
		x->hours_to = 23 * 60;
		break;
	case EX_LONG:
		x->max_class = 2;
		x->not_before = now - 8 * 86400;
		break;
	case EX_CLASS2_NOLIMIT:
		x->max_class = 2;
		x->user = "carol";
		x->interface = "IF-OFFICER";
		break;
	}
	return 1;
}

/* The reason may name the requested interface and nothing else. */
static void
check_no_leak(const struct dcase *c, const char *reason)
{
	size_t i;

	for (i = 0; REG_IDS[i] != NULL; i++) {
		const char *id = REG_IDS[i], *s = reason;
		size_t n = strlen(id);

		if ((c->iface != NULL && strcmp(id, c->iface) == 0) ||
		    (c->user != NULL && strcmp(id, c->user) == 0))
			continue;
		while ((s = strstr(s, id)) != NULL) {
			char next = s[n];
			int word = (s == reason || !(s[-1] == '-' ||
			    (s[-1] >= 'A' && s[-1] <= 'Z') ||
			    (s[-1] >= 'a' && s[-1] <= 'z'))) &&
			    !(next == '-' || (next >= 'A' && next <= 'Z') ||
			    (next >= 'a' && next <= 'z') ||
			    (next >= '0' && next <= '9'));

			if (word)
				fail_msg("%s: reason names '%s': %s", c->name,
				    id, reason);
			s += n;
		}
	}
}

static void
test_decisions(void **state)
{
	struct policy *p = load_reg(REG);
	size_t i, failed = 0;

	(void)state;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct dcase *c = &cases[i];
		struct policy_principal who = { c->user, c->dept, c->term };
		struct policy_request req = { c->iface, c->file, c->size,
		    c->class, "test" };
		struct policy_context ctx;
		struct policy_exception x;
		struct policy_decision d;
		char trace[4096];

		memset(&ctx, 0, sizeof(ctx));
		ctx.now = c->now;
		ctx.stepup_at = c->stepup_ago != 0 ? c->now - c->stepup_ago : 0;
		ctx.bytes_today = c->bytes_today;
		ctx.count_today = c->count_today;
		ctx.nexceptions = make_exc(c->exc, c->now, &x);
		ctx.exceptions = ctx.nexceptions ? &x : NULL;
		assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
		if (d.verdict != c->verdict || strcmp(d.code, c->code) != 0 ||
		    strcmp(d.rule, c->rule) != 0 ||
		    (d.flags & c->flags) != c->flags) {
			policy_explain(p, &who, &req, &ctx, &d, trace,
			    sizeof(trace));
			print_error("case '%s': got %s/%s rule '%s' flags %x, "
			    "want %s/%s rule '%s' flags %x\n%s\n", c->name,
			    policy_verdict_name(d.verdict), d.code, d.rule,
			    d.flags, policy_verdict_name(c->verdict), c->code,
			    c->rule, c->flags, trace);
			failed++;
		}
		assert_string_equal(d.register_hash, policy_hash(p));
		assert_true(d.reason[0] != '\0');
		check_no_leak(c, d.reason);
		if (c->flags & POLICY_FLAG_EXCEPTION)
			assert_string_equal(d.exception, "EX-1");
		else if (d.verdict != POLICY_DENY)
			assert_string_equal(d.exception, "");
	}
	assert_int_equal(failed, 0);
	policy_free(p);
}

static void
test_decision_details(void **state)
{
	struct policy *p = load_reg(REG);
	struct policy_principal who = { "alice", "kikaku", NULL };
	struct policy_request req = { "IF-A", "a.pdf", 1, 2, "x" };
	struct policy_context ctx = { MON10, 0, 0, 0, NULL, 0 };
	struct policy_decision d;

	(void)state;
	/* The reason tells the requester what to do. */
	policy_decide(p, &who, &req, &ctx, &d);
	assert_string_equal(d.reason, "interface IF-A allows classification "
	    "≤ 1; ask an approval officer for an exception");
	/* Without exception_limits there is nobody to ask. */
	who.user = "carol";
	who.dept = "somu";
	req.interface = "IF-OFFICER";
	policy_decide(p, &who, &req, &ctx, &d);
	assert_non_null(strstr(d.reason, "cannot carry classification 2"));
	/* Schedule in the reason. */
	who.user = "alice";
	who.dept = "kikaku";
	req.interface = "IF-A";
	req.class = 1;
	ctx.now = JST(2026, 5, 16, 10, 0);
	policy_decide(p, &who, &req, &ctx, &d);
	assert_non_null(strstr(d.reason, "Mon-Fri 08:00-18:00 (Asia/Tokyo)"));
	/* Approval carries its group and count. */
	ctx.now = MON10;
	req.interface = "IF-APPR";
	req.class = 2;
	policy_decide(p, &who, &req, &ctx, &d);
	assert_int_equal(d.verdict, POLICY_APPROVAL_REQUIRED);
	assert_string_equal(d.approvers, "g-approvers");
	assert_int_equal(d.approvals, 2);
	/* Step-up carries its max age. */
	req.interface = "IF-STEP";
	policy_decide(p, &who, &req, &ctx, &d);
	assert_int_equal(d.verdict, POLICY_STEP_UP_REQUIRED);
	assert_int_equal(d.stepup_max_age, 600);
	/* A forbid's message reaches the requester. */
	req.filename = "x.exe";
	policy_decide(p, &who, &req, &ctx, &d);
	assert_non_null(strstr(d.reason, "no executables"));
	policy_free(p);
}

static void
test_review_deny(void **state)
{
	static const char reg[] =
	    "review_overdue: deny\n"
	    "interfaces:\n"
	    "  - id: IF-R\n"
	    "    max_class: 1\n"
	    "    next_review: 2026-03-31\n";
	struct policy *p = load_reg(reg);
	struct policy_principal who = { "alice", "kikaku", NULL };
	struct policy_request req = { "IF-R", "a", 1, 1, "x" };
	struct policy_context ctx = { JST(2026, 3, 31, 23, 59), 0, 0, 0, NULL,
	    0 };
	struct policy_decision d;

	(void)state;
	policy_decide(p, &who, &req, &ctx, &d);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	ctx.now = JST(2026, 4, 1, 0, 0);
	policy_decide(p, &who, &req, &ctx, &d);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_string_equal(d.code, "review_overdue");
	policy_free(p);
}

static void
test_unknown_users_deny(void **state)
{
	static const char reg[] =
	    "principals:\n"
	    "  unknown_users: deny\n"
	    "  users:\n"
	    "    - {id: alice, department: kikaku}\n"
	    "interfaces:\n"
	    "  - {id: IF-1, max_class: 1}\n";
	struct policy *p = load_reg(reg);
	struct policy_principal who = { "zoe", "kikaku", NULL };
	struct policy_request req = { "IF-1", "a", 1, 1, "x" };
	struct policy_context ctx = { MON10, 0, 0, 0, NULL, 0 };
	struct policy_decision d;

	(void)state;
	policy_decide(p, &who, &req, &ctx, &d);
	assert_string_equal(d.code, "unknown_principal");
	who.user = "alice";
	policy_decide(p, &who, &req, &ctx, &d);
	assert_string_equal(d.code, "allowed");
	assert_int_equal(policy_principal_roles(p, &who), POLICY_ROLE_STAFF);
	who.user = "zoe";
	assert_int_equal(policy_principal_roles(p, &who), 0);
	policy_free(p);
}

static void
test_evaluation_errors(void **state)
{
	struct policy *p = load_reg(REG);
	struct policy_principal who = { "alice", "kikaku", NULL };
	struct policy_request req = { "IF-OPEN", "a", 1, 1, "x" };
	struct policy_context ctx = { MON10, 0, 0, 0, NULL, 0 };
	struct policy_decision d;

	(void)state;
	assert_int_equal(policy_decide(NULL, &who, &req, &ctx, &d), -1);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_string_equal(d.code, "evaluation_error");
	assert_int_equal(policy_decide(p, NULL, &req, &ctx, &d), -1);
	assert_string_equal(d.code, "evaluation_error");
	assert_int_equal(policy_decide(p, &who, NULL, &ctx, &d), -1);
	assert_string_equal(d.code, "evaluation_error");
	assert_int_equal(policy_decide(p, &who, &req, NULL, &d), -1);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_int_equal(policy_decide(p, &who, &req, &ctx, NULL), -1);
	/* Incomplete exception records are ignored, not trusted. */
	{
		struct policy_exception x;

		memset(&x, 0, sizeof(x));
		x.max_class = 2;
		x.not_after = MON10 + 10;
		ctx.exceptions = &x;
		ctx.nexceptions = 1;
		req.interface = "IF-A";
		req.filename = "a.pdf";
		req.class = 2;
		assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
		assert_string_equal(d.code, "class_too_high");
		/* Complete, but with an id too long to be recorded. */
		make_exc(EX_CLASS2, MON10, &x);
		x.id = "EX-0123456789012345678901234567890123456789012345678901"
		    "234567890123";
		assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
		assert_string_equal(d.code, "class_too_high");
		x.id = "EX-1";
		assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
		assert_string_equal(d.code, "allowed");
	}
	policy_free(p);
}

static void
test_decide_does_not_allocate(void **state)
{
	struct policy *p = load_reg(REG);
	size_t i, before;

	(void)state;
	before = nallocs;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const struct dcase *c = &cases[i];
		struct policy_principal who = { c->user, c->dept, c->term };
		struct policy_request req = { c->iface, c->file, c->size,
		    c->class, "test" };
		struct policy_context ctx = { c->now, 0, c->bytes_today,
		    c->count_today, NULL, 0 };
		struct policy_exception x;
		struct policy_decision d;

		ctx.nexceptions = make_exc(c->exc, c->now, &x);
		ctx.exceptions = &x;
		policy_decide(p, &who, &req, &ctx, &d);
	}
	assert_int_equal(nallocs, before);
	policy_free(p);
}

/* ------------------------------------------------------------ loading */

struct lcase {
	const char *yaml;
	const char *err;		/* exact message, or prefix ending '*' */
};

static const struct lcase lcases[] = {
	{ "interfaces:\n  - id: IF-1\n    max_class: 4\n",
	  "register.yaml:3: interfaces[0].max_class: must be 1..3" },
	{ "interfaces:\n  - id: IF-1\n    max_class: two\n",
	  "register.yaml:3: interfaces[0].max_class: must be 1..3" },
	{ "interfaces:\n  - id: IF-1\n",
	  "register.yaml:2: interfaces[0].max_class: missing (1..3)" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n    default_class: 2\n",
	  "register.yaml:4: interfaces[0].default_class: 2 is above max_class "
	  "1; a default must be a classification the interface accepts" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 2\n    default_class: 0\n",
	  "register.yaml:4: interfaces[0].default_class: must be 1..3" },
	{ "interfaces:\n  - max_class: 1\n",
	  "register.yaml:2: interfaces[0].id: missing" },
	{ "interfaces:\n  - {id: IF-1, max_class: 1}\n"
	  "  - {id: IF-2, max_class: 1}\n  - {id: IF-1, max_class: 2}\n",
	  "register.yaml:4: interfaces[2].id: duplicate id 'IF-1' (also at "
	  "line 2)" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n    maxsize: 1\n",
	  "register.yaml:4: interfaces[0].maxsize: unknown key" },
	{ "interface:\n  - {id: IF-1, max_class: 1}\n",
	  "register.yaml:1: interface: unknown key" },
	{ "version: 1\n",
	  "register.yaml:1: interfaces: missing (an empty list is allowed and "
	  "denies everything)" },
	{ "",
	  "register.yaml:1: interfaces: missing (the register is empty)" },
	{ "interfaces:\n  - id: ../x\n    max_class: 1\n",
	  "register.yaml:2: interfaces[0].id: '../x' is not a valid id "
	  "(letters, digits, '.', '_', '-'; not starting with '.' or '-')" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n    service: box\n",
	  "register.yaml:4: interfaces[0].service: unknown service 'box'" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    allow: {groups: [g1]}\n",
	  "register.yaml:4: interfaces[0].allow.groups[0]: unknown group "
	  "'g1'" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    allow:\n      users: [bob]\n",
	  "register.yaml:5: interfaces[0].allow.users[0]: unknown user 'bob'" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    allow:\n      terminals: [T9]\n      roles: [staff]\n",
	  "register.yaml:5: interfaces[0].allow.terminals[0]: unknown terminal "
	  "or terminal group 'T9'" },
	{ "principals:\n  terminals: [{id: T1}]\n"
	  "interfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    allow: {terminals: [T1]}\n",
	  "register.yaml:6: interfaces[0].allow: needs users, groups or roles "
	  "(terminals only narrow them)" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    allow: {roles: [boss]}\n",
	  "register.yaml:4: interfaces[0].allow.roles[0]: 'boss' is not a role "
	  "(staff, officer, auditor, admin)" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n    schedule:\n"
	  "      timezone: Mars/Olympus\n",
	  "register.yaml:5: interfaces[0].schedule.timezone: unknown time zone "
	  "'Mars/Olympus'" },
	{ "timezone: Nowhere/City\ninterfaces: []\n",
	  "register.yaml:1: timezone: unknown time zone 'Nowhere/City'" },
	{ "timezone: \"+15:00\"\ninterfaces: []\n",
	  "register.yaml:1: timezone: time zone '+15:00': fixed offsets are "
	  "written +HH:MM or -HH:MM" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n    schedule:\n"
	  "      hours: \"25:00-26:00\"\n",
	  "register.yaml:5: interfaces[0].schedule.hours: '25:00-26:00' is not "
	  "an hour range HH:MM-HH:MM (24:00 may end a range; start and end "
	  "must differ)" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n    schedule:\n"
	  "      hours: [\"08:00-12:00\", \"13:00-13:00\"]\n",
	  "register.yaml:5: interfaces[0].schedule.hours[1]: '13:00-13:00' is "
	  "not an hour range HH:MM-HH:MM (24:00 may end a range; start and end "
	  "must differ)" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n    schedule:\n"
	  "      days: [mon, funday]\n",
	  "register.yaml:5: interfaces[0].schedule.days[1]: 'funday' is not a "
	  "day (mon..sun), a range (mon-fri) or daily" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    valid_from: 2026-02-30\n",
	  "register.yaml:4: interfaces[0].valid_from: '2026-02-30' is not a "
	  "date YYYY-MM-DD" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    valid_from: 2026-04-01\n    valid_until: 2026-03-31\n",
	  "register.yaml:5: interfaces[0].valid_until: is before valid_from" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n    max_size: 10XB\n",
	  "register.yaml:4: interfaces[0].max_size: '10XB' is not a size such "
	  "as 1048576, 512KiB, 10MiB or 2GiB" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    extensions: {allow: [tar.gz]}\n",
	  "register.yaml:4: interfaces[0].extensions.allow[0]: 'tar.gz' is not "
	  "a single extension (letters, digits, _ + ~ -)" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    step_up: {when: \"class>=4\"}\n",
	  "register.yaml:4: interfaces[0].step_up.when: class>=N needs N in "
	  "1..3" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    step_up: {when: sometimes}\n",
	  "register.yaml:4: interfaces[0].step_up.when: 'sometimes' is not a "
	  "condition (always, class>=N, size>=SIZE)" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    step_up: {when: always, max_age: 2d}\n",
	  "register.yaml:4: interfaces[0].step_up.max_age: must be between 60s "
	  "and 86400s" },
	{ "principals:\n  groups: [{id: g, users: [a]}]\n"
	  "  users: [{id: a}]\ninterfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    approval:\n      when: always\n      approvers: g\n"
	  "      count: 2\n",
	  "register.yaml:10: interfaces[0].approval.count: needs 2 approvers "
	  "but group 'g' has 1 members" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    approval: {when: always, approvers: nobody}\n",
	  "register.yaml:4: interfaces[0].approval.approvers: unknown group "
	  "'nobody'" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    exception_limits: {max_class: 3, max_duration: 1d}\n",
	  "register.yaml:4: interfaces[0].exception_limits.max_class: class 3 "
	  "never leaves, not even by exception" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n"
	  "    exception_limits: {max_class: 2}\n",
	  "register.yaml:4: interfaces[0].exception_limits.max_duration: "
	  "missing (every exception needs a deadline; at most 90d)" },
	{ "services:\n  - {id: s, connector: ftp, endpoint: \"https://x\"}\n"
	  "interfaces: []\n",
	  "register.yaml:2: services[0].connector: must be webdav or s3" },
	{ "services:\n  - {id: s, connector: s3, endpoint: \"http://x.jp/\"}\n"
	  "interfaces: []\n",
	  "register.yaml:2: services[0].endpoint: must be an https:// URL with "
	  "a host (plain http only to localhost)" },
	{ "services:\n  - {id: s, connector: s3, endpoint: \"https://x/\"}\n"
	  "interfaces:\n  - {id: IF-1, max_class: 1, service: s, "
	  "path: /a/../b}\n",
	  "register.yaml:4: interfaces[0].path: must start with '/' and contain "
	  "no '.', '..', '//' segments or backslashes" },
	{ "review_overdue: maybe\ninterfaces: []\n",
	  "register.yaml:1: review_overdue: must be warn or deny" },
	{ "interfaces: []\nforbids:\n  - id: FB-1\n    message: x\n",
	  "register.yaml:3: forbids[0]: a forbid needs at least one of "
	  "interfaces, users, groups, roles, terminals, extensions, min_class, "
	  "min_size" },
	{ "interfaces: []\nforbids:\n  - {id: FB-1, interfaces: [IF-9]}\n",
	  "register.yaml:3: forbids[0].interfaces[0]: unknown interface "
	  "'IF-9'" },
	{ "interfaces: []\nforbids:\n  - {id: builtin-x, min_class: 2}\n",
	  "register.yaml:3: forbids[0].id: ids starting with 'builtin' are "
	  "reserved" },
	{ "principals:\n  groups:\n    - id: g\n      users: [ghost]\n"
	  "interfaces: []\n",
	  "register.yaml:4: principals.groups[0].users[0]: unknown user "
	  "'ghost'" },
	{ "principals:\n  groups:\n    - id: g\n      name: empty\n"
	  "interfaces: []\n",
	  "register.yaml:3: principals.groups[0]: a group needs departments or "
	  "users" },
	{ "principals:\n  users:\n    - {id: a, disabled: maybe}\n"
	  "interfaces: []\n",
	  "register.yaml:3: principals.users[0].disabled: must be true or "
	  "false" },
	{ "principals:\n  terminals:\n    - {id: T1, group: T2}\n"
	  "    - {id: T2}\ninterfaces: []\n",
	  "register.yaml:3: principals.terminals[0].group: terminal group 'T2' "
	  "has the name of a terminal (line 4)" },
	{ "principals:\n  users:\n    - {id: a}\n    - {id: b}\n"
	  "    - {id: a}\ninterfaces: []\n",
	  "register.yaml:5: principals.users[2].id: duplicate id 'a' (also at "
	  "line 3)" },
	{ "interfaces:\n  - id: IF-1\n    max_class: 1\n    max_class: 2\n",
	  "register.yaml:4: duplicate key 'max_class' (first at line 3)" },
	{ "interfaces:\n  - id: IF-1\n    purpose: \"a\\0b\"\n"
	  "    max_class: 1\n",
	  "register.yaml:3: interfaces[0].purpose: contains a NUL byte" },
	{ "interfaces: [\n", "register.yaml:*" },
	{ "- a\n- b\n",
	  "register.yaml:1: register: the document must be a mapping with an "
	  "'interfaces' list" },
};

static void
test_load_errors(void **state)
{
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(lcases) / sizeof(lcases[0]); i++) {
		const struct lcase *c = &lcases[i];
		struct policy *p = (struct policy *)1;
		char err[512];
		size_t n = strlen(c->err);
		int r;

		err[0] = '\0';
		r = policy_load_buffer("register.yaml", c->yaml,
		    strlen(c->yaml), &p, err, sizeof(err));
		if (r != -1 || p != NULL)
			fail_msg("case %zu loaded: %s", i, c->yaml);
		if (c->err[n - 1] == '*') {
			if (strncmp(err, c->err, n - 1) != 0)
				fail_msg("case %zu: got '%s'", i, err);
		} else if (strcmp(err, c->err) != 0)
			fail_msg("case %zu:\n got '%s'\nwant '%s'", i, err,
			    c->err);
	}
}

static void
test_minimal_and_hash(void **state)
{
	static const char min[] =
	    "interfaces:\n"
	    "  - id: IF-2026-001\n"
	    "    max_class: 2\n"
	    "  - id: IF-2026-002\n"
	    "    max_class: 1\n";
	char path[] = "/tmp/test_policy_XXXXXX";
	unsigned char md[32];
	char hex[65], err[256];
	struct policy *p;
	int fd;

	(void)state;
	fd = mkstemp(path);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, min, sizeof(min) - 1), sizeof(min) - 1);
	close(fd);
	assert_int_equal(policy_load(path, &p, err, sizeof(err)), 0);
	unlink(path);
	EVP_Digest(min, sizeof(min) - 1, md, NULL, EVP_sha256(), NULL);
	util_hex(md, 32, hex);
	assert_string_equal(policy_hash(p), hex);
	assert_string_equal(policy_hash(p), "52394de2dfb2e58d0f726b3872f6459f"
	    "5f42dd11ce81b1d908689e015800e94f");
	assert_int_equal(policy_interface_count(p), 2);
	policy_free(p);
	assert_int_equal(policy_load("/nonexistent/register.yaml", &p, err,
	    sizeof(err)), -1);
	assert_null(p);
	assert_non_null(strstr(err, "/nonexistent/register.yaml"));
}

static void
test_example_register(void **state)
{
	struct policy *p;
	char err[512];

	(void)state;
	/* The documented example must always load. */
	if (policy_load(SOURCE_ROOT "/policy/examples/register.yaml", &p, err,
	    sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_non_null(policy_service_find(p, "lgbox"));
	policy_free(p);
}

static void
test_explain(void **state)
{
	struct policy *p = load_reg(REG);
	struct policy_principal who = { "alice", "kikaku", NULL };
	struct policy_request req = { "IF-A", "a.pdf", 1, 2, "x" };
	struct policy_context ctx = { MON10, 0, 0, 0, NULL, 0 };
	struct policy_decision d, d2;
	char buf[4096], small[80];

	(void)state;
	assert_int_equal(policy_explain(p, &who, &req, &ctx, &d, buf,
	    sizeof(buf)), 0);
	policy_decide(p, &who, &req, &ctx, &d2);
	assert_int_equal(d.verdict, d2.verdict);
	assert_string_equal(d.code, d2.code);
	assert_non_null(strstr(buf, "forbid builtin:class3: no"));
	assert_non_null(strstr(buf, "forbid FB-EXE (line"));
	assert_non_null(strstr(buf, "interface IF-A: found (line 27)"));
	assert_non_null(strstr(buf, "allow users/groups/roles: match "
	    "(g-kikaku)"));
	assert_non_null(strstr(buf, "class 2, max_class 1: too high"));
	assert_non_null(strstr(buf, "verdict: deny code=class_too_high"));
	/* Cut output is marked and terminated. */
	policy_explain(p, &who, &req, &ctx, &d, small, sizeof(small));
	assert_true(strlen(small) < sizeof(small));
	assert_non_null(strstr(small, "...\n"));
	assert_string_equal(d.code, "class_too_high");
	/* Control characters from the request never reach the trace. */
	req.filename = "a\n\x1b[31m.pdf";
	policy_explain(p, &who, &req, &ctx, &d, buf, sizeof(buf));
	assert_null(strchr(buf, '\x1b'));
	/* A Japanese file name is traced as it is, as the header of
	 * `sekisho policy explain` prints it, not as "???...". */
	req.filename = "\xe5\xa0\xb1\xe5\x91\x8a\xe6\x9b\xb8.pdf";	/* 報告書 */
	policy_explain(p, &who, &req, &ctx, &d, buf, sizeof(buf));
	assert_non_null(strstr(buf, "name=\xe5\xa0\xb1\xe5\x91\x8a"
	    "\xe6\x9b\xb8.pdf\n"));
	/* Bytes that are not UTF-8, C1 controls and bidirectional overrides
	 * still become '?'. */
	req.filename = "a\xff\xc3" "x\xc2\x85\xe2\x80\xae" "b.pdf";
	policy_explain(p, &who, &req, &ctx, &d, buf, sizeof(buf));
	assert_non_null(strstr(buf, "name=a?" "?x?" "?b.pdf\n"));
	/* A long name is cut on a character boundary. */
	{
		char longname[400];
		const char *n;
		size_t i;

		for (i = 0; i + 3 < sizeof(longname); i += 3)
			memcpy(longname + i, "\xe5\xa0\xb1", 3);
		longname[i] = '\0';
		req.filename = longname;
		policy_explain(p, &who, &req, &ctx, &d, buf, sizeof(buf));
		assert_non_null(n = strstr(buf, "name="));
		n += 5;
		for (i = 0; n[i] != '.' && n[i] != '\n'; i += 3)
			assert_memory_equal(n + i, "\xe5\xa0\xb1", 3);
		assert_memory_equal(n + i, "...\n", 4);
	}
	policy_free(p);
}

struct lintlog {
	char text[8192];
	size_t len;
};

static void
lint_cb(void *arg, unsigned line, const char *code, const char *msg)
{
	struct lintlog *l = arg;

	l->len += (size_t)snprintf(l->text + l->len, sizeof(l->text) - l->len,
	    "%u %s %s\n", line, code, msg);
}

static void
test_lint(void **state)
{
	static const char reg[] =
	    "principals:\n"
	    "  users:\n"
	    "    - {id: alice, department: kikaku}\n"
	    "    - {id: idle, department: x, roles: [officer]}\n"
	    "  groups:\n"
	    "    - {id: g-k, departments: [kikaku]}\n"
	    "    - {id: g-unused, departments: [nobody]}\n"
	    "services:\n"
	    "  - {id: s1, connector: webdav, endpoint: \"https://a/\"}\n"
	    "  - {id: s2, connector: webdav, endpoint: \"http://localhost:8080/\"}\n"
	    "interfaces:\n"
	    "  - {id: IF-LEGACY, max_class: 1}\n"
	    "  - id: IF-3\n"
	    "    max_class: 3\n"
	    "    service: s1\n"
	    "    path: /x/\n"
	    "    next_review: 2026-01-31\n"
	    "    allow: {users: [alice], groups: [g-k]}\n"
	    "    step_up: {when: \"size>=1GiB\"}\n"
	    "    max_size: 10MiB\n"
	    "  - id: IF-4\n"
	    "    max_class: 1\n"
	    "    service: s1\n"
	    "    path: /x/\n"
	    "    allow: {roles: [staff]}\n"
	    "    extensions: {allow: [pdf, exe]}\n"
	    "forbids:\n"
	    "  - {id: FB-1, extensions: [exe]}\n"
	    "  - {id: FB-2, extensions: [exe]}\n"
	    "  - {id: FB-3, interfaces: [IF-4]}\n";
	struct policy *p = load_reg(reg);
	struct lintlog log;
	size_t n;

	(void)state;
	memset(&log, 0, sizeof(log));
	n = policy_lint(p, JST(2026, 5, 11, 10, 0), lint_cb, &log);
	assert_true(n > 0);
	assert_non_null(strstr(log.text, "12 legacy_open interface IF-LEGACY"));
	assert_non_null(strstr(log.text, "review_overdue interface IF-3 was "
	    "due for review on 2026-01-31"));
	assert_non_null(strstr(log.text, "shadowed interface IF-3: max_class 3"));
	assert_non_null(strstr(log.text, "redundant interface IF-3: user "
	    "alice is already allowed by g-k"));
	assert_non_null(strstr(log.text, "never_triggers interface IF-3: the "
	    "step_up"));
	assert_non_null(strstr(log.text, "shadowed interface IF-4: allowed "
	    "extension .exe is forbidden by FB-1"));
	assert_non_null(strstr(log.text, "shadowed interface IF-4 is entirely "
	    "forbidden by FB-3"));
	assert_non_null(strstr(log.text, "redundant forbid FB-2 matches "
	    "exactly what FB-1"));
	assert_non_null(strstr(log.text, "4 unused_principal user idle"));
	assert_non_null(strstr(log.text, "unused_principal group g-unused"));
	assert_non_null(strstr(log.text, "unused_service service s2"));
	assert_non_null(strstr(log.text, "insecure_endpoint service s2"));
	assert_non_null(strstr(log.text, "overlap interfaces IF-3 and IF-4"));
	assert_null(strstr(log.text, "user alice is not used"));
	/* The count is the same without a callback. */
	assert_int_equal(policy_lint(p, JST(2026, 5, 11, 10, 0), NULL, NULL),
	    n);
	policy_free(p);
}

static void
test_exception_check(void **state)
{
	struct policy *p = load_reg(REG);
	struct policy_exception x;
	struct policy_exception_limits lim;
	char err[256];

	(void)state;
	assert_int_equal(policy_exception_limits(p, "IF-A", &lim), 0);
	assert_int_equal(lim.max_class, 2);
	assert_int_equal(lim.max_size, 100 * MiB);
	assert_int_equal(lim.hours_from, 7 * 60);
	assert_int_equal(lim.max_duration, 7 * 86400);
	assert_int_equal(policy_exception_limits(p, "IF-OPEN", &lim), -1);

	make_exc(EX_CLASS2, MON10, &x);
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), 0);
	x.max_class = 3;
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), -1);
	make_exc(EX_SIZE500, MON10, &x);
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "exceeds the limit"));
	make_exc(EX_HOURS, MON10, &x);		/* 06:00-23:00 vs 07-22 */
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), -1);
	x.hours_from = 20 * 60;
	x.hours_to = 22 * 60;
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), 0);
	make_exc(EX_LONG, MON10, &x);
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)),
	    POLICY_EXCEPTION_TOO_LONG);
	assert_non_null(strstr(err, "the 7 days (7\xe6\x97\xa5) interface"));
	/* Durations read as people say them. */
	{
		char d[80];

		assert_string_equal(policy_duration_text(0, d, sizeof(d)),
		    "0 seconds (0\xe7\xa7\x92)");
		assert_string_equal(policy_duration_text(90061, d, sizeof(d)),
		    "1 day 1 hour 1 minute 1 second (1\xe6\x97\xa5" "1"
		    "\xe6\x99\x82\xe9\x96\x93" "1\xe5\x88\x86" "1\xe7\xa7\x92)");
		assert_string_equal(policy_duration_text(2 * 3600 + 120, d,
		    sizeof(d)), "2 hours 2 minutes (2\xe6\x99\x82\xe9\x96\x93"
		    "2\xe5\x88\x86)");
		assert_string_equal(policy_duration_text(90061, d, 12),
		    "1 day 1 hou");
	}
	make_exc(EX_CLASS2_NOLIMIT, MON10, &x);
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), -1);
	make_exc(EX_CLASS2, MON10, &x);
	x.max_class = 0;
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "widens nothing"));
	policy_free(p);
}

/*
 * Extensions widened by an exception: only within the interface's
 * exception_limits.extensions, only for the user it names, never past a
 * forbid.
 */
static void
test_exception_extensions(void **state)
{
	static const char reg[] =
	    "timezone: Asia/Tokyo\n"
	    "principals:\n"
	    "  users:\n"
	    "    - {id: alice, department: kikaku, roles: [staff]}\n"
	    "    - {id: bob, department: kikaku, roles: [staff]}\n"
	    "interfaces:\n"
	    "  - id: IF-CSV\n"
	    "    max_class: 2\n"
	    "    allow: {roles: [staff]}\n"
	    "    extensions: {allow: [csv], deny: [xlsm]}\n"
	    "    exception_limits: {extensions: [pdf, XLSM, exe, js], "
	    "max_duration: 7d}\n"
	    "  - id: IF-NOEXT\n"
	    "    max_class: 2\n"
	    "    extensions: {allow: [csv]}\n"
	    "    exception_limits: {max_size: 1GiB, max_duration: 7d}\n"
	    "forbids:\n"
	    "  - {id: FB-EXE, extensions: [exe]}\n";
	struct policy *p = load_reg(reg);
	struct policy_principal who = { "alice", "kikaku", NULL };
	struct policy_request req = { "IF-CSV", "a.pdf", 1, 1, "x" };
	struct policy_context ctx = { MON10, 0, 0, 0, NULL, 0 };
	struct policy_exception_limits lim;
	struct policy_exception x;
	struct policy_decision d;
	char err[256];

	(void)state;
	assert_int_equal(policy_exception_limits(p, "IF-CSV", &lim), 0);
	assert_int_equal(lim.nextensions, 4);
	assert_string_equal(lim.extensions[0], "exe");
	assert_string_equal(lim.extensions[3], "xlsm");
	assert_int_equal(policy_exception_limits(p, "IF-NOEXT", &lim), 0);
	assert_int_equal(lim.nextensions, 0);

	/* Without an exception the .pdf is refused, with a hint. */
	assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_string_equal(d.code, "extension_not_allowed");
	assert_non_null(strstr(d.reason, "ask an approval officer"));

	memset(&x, 0, sizeof(x));
	x.id = "EX-1";
	x.user = "alice";
	x.interface = "IF-CSV";
	x.hours_from = x.hours_to = -1;
	x.extensions = "pdf,xlsm";
	x.not_before = MON10 - 3600;
	x.not_after = MON10 + 3600;
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), 0);
	ctx.exceptions = &x;
	ctx.nexceptions = 1;

	/* Widened: alice's .pdf, and her .xlsm the deny list refuses. */
	assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	assert_true(d.flags & POLICY_FLAG_EXCEPTION);
	assert_string_equal(d.exception, "EX-1");
	req.filename = "Macro.XLSM";
	assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	/* An extension the exception does not add stays refused. */
	req.filename = "a.docx";
	assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
	assert_string_equal(d.code, "extension_not_allowed");
	/* A file without an extension is not widened. */
	req.filename = "README";
	assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
	assert_string_equal(d.code, "extension_required");
	/* A .csv needs no exception and does not use it. */
	req.filename = "a.csv";
	assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
	assert_int_equal(d.verdict, POLICY_ALLOW);
	assert_string_equal(d.exception, "");

	/* Another user is not widened. */
	who.user = "bob";
	req.filename = "a.pdf";
	assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_string_equal(d.code, "extension_not_allowed");
	who.user = "alice";

	/* Expired: no longer widened. */
	ctx.now = MON10 + 3600;
	assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
	assert_string_equal(d.code, "extension_not_allowed");
	ctx.now = MON10;

	/* A forbid still wins, even over an exception naming it. */
	x.extensions = "pdf,exe";
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), 0);
	req.filename = "run.exe";
	assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
	assert_int_equal(d.verdict, POLICY_DENY);
	assert_string_equal(d.code, "forbidden");
	assert_string_equal(d.rule, "FB-EXE");
	/* So does class 3. */
	req.filename = "a.pdf";
	req.class = 3;
	assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
	assert_string_equal(d.code, "class_forbidden");
	req.class = 1;

	/* An exception naming an extension outside the limits does not
	 * widen it, and the check refuses to grant it. */
	x.extensions = "docx";
	req.filename = "a.docx";
	assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
	assert_string_equal(d.code, "extension_not_allowed");
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "extension .docx is not in the "
	    "exception_limits of interface IF-CSV"));
	x.extensions = "pdf,docx";
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), -1);
	assert_non_null(strstr(err, ".docx"));
	/* Malformed lists. */
	x.extensions = "PDF";
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "lower-case"));
	x.extensions = "pdf,";
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), -1);
	x.extensions = ".pdf";
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), -1);
	x.extensions = "pdf,pdf";
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "listed twice"));
	/* Extensions alone widen something. */
	x.extensions = "";
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "widens nothing"));
	/* An interface whose limits name no extensions. */
	x.interface = "IF-NOEXT";
	x.extensions = "pdf";
	assert_int_equal(policy_exception_check(p, &x, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "allows no extra extensions"));
	req.interface = "IF-NOEXT";
	req.filename = "a.pdf";
	assert_int_equal(policy_decide(p, &who, &req, &ctx, &d), 0);
	assert_string_equal(d.code, "extension_not_allowed");
	assert_null(strstr(d.reason, "ask an approval officer"));
	policy_free(p);
}

/* default_class and the zone of an interface, as the broker asks them. */
static void
test_interface_defaults(void **state)
{
	static const char reg[] =
	    "timezone: Asia/Tokyo\n"
	    "interfaces:\n"
	    "  - {id: IF-D, max_class: 2, default_class: 2}\n"
	    "  - {id: IF-N, max_class: 2}\n"
	    "  - id: IF-Z\n"
	    "    max_class: 1\n"
	    "    schedule: {timezone: America/New_York, days: [mon]}\n";
	struct policy *p = load_reg(reg);

	(void)state;
	assert_int_equal(policy_interface_default_class(p, "IF-D"), 2);
	assert_int_equal(policy_interface_default_class(p, "IF-N"), 0);
	assert_int_equal(policy_interface_default_class(p, "IF-X"), 0);
	assert_string_equal(tzone_name(policy_interface_zone(p, "IF-N")),
	    "Asia/Tokyo");
	assert_string_equal(tzone_name(policy_interface_zone(p, "IF-Z")),
	    "America/New_York");
	/* An interface no longer in the register: the register's zone. */
	assert_string_equal(tzone_name(policy_interface_zone(p, "IF-X")),
	    "Asia/Tokyo");
	policy_free(p);
}

/* The interfaces a principal may use, as a comma list in id order. */
static void
usable_list(const struct policy *p, const struct policy_principal *who,
    time_t now, char *buf, size_t len)
{
	struct policy_interface_view v;
	size_t i, n = 0;
	int r;

	buf[0] = '\0';
	for (i = 0; i < policy_interface_count(p); i++) {
		r = policy_interface_usable(p, i, who, now, &v);
		assert_true(r == 0 || r == 1);
		if (r == 1) {
			assert_string_equal(v.id, policy_interface_id(p, i));
			n += (size_t)snprintf(buf + n, len - n, "%s%s",
			    n > 0 ? "," : "", v.id);
		}
	}
}

static void
test_interface_usable(void **state)
{
	struct policy *p = load_reg(REG);
	struct policy_principal alice = { "alice", "kikaku", NULL };
	struct policy_principal alice_t3 = { "alice", "kikaku", "T3" };
	struct policy_principal erin = { "erin", "kikaku", NULL };
	struct policy_principal carol = { "carol", "somu", NULL };
	struct policy_principal bad = { "../x", "kikaku", NULL };
	struct policy_interface_view v;
	char buf[1024];
	size_t i, n = policy_interface_count(p);

	(void)state;
	/* Not: IF-TERM/IF-TERM3 (terminals), IF-FORBIDDEN-G (forbid on her
	 * group), IF-OFFICER/IF-NAMED/IF-HOIKU (not in their allow lists). */
	usable_list(p, &alice, MON10, buf, sizeof(buf));
	assert_string_equal(buf, "IF-A,IF-APPR,IF-EXTDENY,IF-FIXED,IF-NIGHT,"
	    "IF-NY,IF-OPEN,IF-REVIEW,IF-STEP,IF-STEPALL,IF-VALID,IF-VOL");
	/* From terminal T3: IF-TERM3 too (FB-T3-C2 only forbids class 2). */
	usable_list(p, &alice_t3, MON10, buf, sizeof(buf));
	assert_non_null(strstr(buf, "IF-TERM3"));
	assert_null(strstr(buf, "IF-TERM,"));
	/* After IF-VALID's valid_until. */
	usable_list(p, &alice, JST(2026, 7, 1, 10, 0), buf, sizeof(buf));
	assert_null(strstr(buf, "IF-VALID"));
	/* Disabled, malformed: nothing. An officer-only account. */
	usable_list(p, &erin, MON10, buf, sizeof(buf));
	assert_string_equal(buf, "");
	usable_list(p, &bad, MON10, buf, sizeof(buf));
	assert_string_equal(buf, "");
	usable_list(p, &carol, MON10, buf, sizeof(buf));
	assert_string_equal(buf, "IF-APPR,IF-OFFICER");

	/* What each one offers agrees with the register. */
	for (i = 0; i < n; i++)
		if (strcmp(policy_interface_id(p, i), "IF-A") == 0)
			break;
	assert_true(i < n);
	assert_int_equal(policy_interface_usable(p, i, &alice, MON10, &v), 1);
	assert_string_equal(v.id, "IF-A");
	assert_int_equal(v.max_class, 1);
	assert_int_equal(v.default_class, 0);
	assert_true(v.max_size == 10 * MiB);
	assert_non_null(v.hours);
	assert_non_null(strstr(v.hours, "Mon-Fri 08:00-18:00"));
	assert_int_equal(v.nextensions, 2);
	assert_string_equal(v.extensions[0], "csv");
	assert_string_equal(v.extensions[1], "pdf");
	assert_false(v.approval);
	assert_false(v.stepup);
	assert_string_equal(v.service, "dav");
	for (i = 0; i < n; i++) {
		const char *id = policy_interface_id(p, i);

		if (strcmp(id, "IF-APPR") == 0) {
			assert_int_equal(policy_interface_usable(p, i, &alice,
			    MON10, &v), 1);
			assert_true(v.approval);
			assert_false(v.approval_always);
			assert_int_equal(v.approvals_required, 2);
			assert_null(v.service);
			assert_null(v.hours);
			assert_true(v.max_size == UINT64_MAX);
		} else if (strcmp(id, "IF-STEPALL") == 0) {
			assert_int_equal(policy_interface_usable(p, i, &alice,
			    MON10, &v), 1);
			assert_true(v.stepup);
			assert_false(v.approval);
			assert_int_equal(v.approvals_required, 0);
		}
	}
	assert_int_equal(policy_interface_usable(p, n, &alice, MON10, &v), -1);
	assert_int_equal(policy_interface_usable(NULL, 0, &alice, MON10, &v),
	    -1);
	policy_free(p);
}

static void
test_lookups(void **state)
{
	struct policy *p = load_reg(REG);
	const struct policy_service *s;
	struct policy_principal bob = { "bob", "somu", NULL };
	struct policy_principal alice = { "alice", "kikaku", NULL };
	struct policy_principal yuki = { "yuki", "hoiku", NULL };
	const char *path;
	int from, to;

	(void)state;
	assert_int_equal(policy_interface_target(p, "IF-A", &s, &path), 0);
	assert_non_null(s);
	assert_string_equal(s->id, "dav");
	assert_int_equal(s->connector, POLICY_CONNECTOR_WEBDAV);
	assert_string_equal(path, "/a/");
	assert_int_equal(policy_interface_target(p, "IF-OPEN", &s, &path), 0);
	assert_null(s);
	assert_string_equal(path, "");
	assert_int_equal(policy_interface_target(p, "nope", &s, &path), -1);
	/* No default classification unless the register gives one. */
	assert_int_equal(policy_interface_default_class(p, "IF-A"), 0);
	assert_int_equal(policy_interface_default_class(p, "nope"), 0);
	assert_null(policy_service_find(p, "nope"));
	assert_int_equal(policy_principal_roles(p, &bob),
	    POLICY_ROLE_STAFF | POLICY_ROLE_OFFICER);
	assert_true(policy_group_has(p, "g-approvers", &bob));
	assert_false(policy_group_has(p, "g-approvers", &alice));
	assert_true(policy_group_has(p, "g-kikaku", &alice));
	assert_true(policy_group_has(p, "g-hoiku", &yuki));
	assert_false(policy_group_has(p, "nope", &bob));
	bob.dept = "kikaku";		/* certificate disagrees */
	assert_int_equal(policy_principal_roles(p, &bob), 0);
	assert_false(policy_group_has(p, "g-approvers", &bob));

	assert_int_equal(policy_parse_hours("22:00-06:00", &from, &to), 0);
	assert_int_equal(from, 1320);
	assert_int_equal(to, 360);
	assert_int_equal(policy_parse_hours("00:00-24:00", &from, &to), 0);
	assert_int_equal(to, 1440);
	assert_int_equal(policy_parse_hours("24:00-01:00", &from, &to), -1);
	assert_int_equal(policy_parse_hours("8:00-18:00", &from, &to), -1);
	assert_int_equal(policy_parse_hours("08:60-18:00", &from, &to), -1);
	assert_int_equal(policy_parse_hours("08:00", &from, &to), -1);
	assert_string_equal(policy_verdict_name(POLICY_ALLOW), "allow");
	assert_string_equal(policy_verdict_name(POLICY_STEP_UP_REQUIRED),
	    "step_up_required");
	policy_free(p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_decisions),
		cmocka_unit_test(test_interface_defaults),
		cmocka_unit_test(test_decision_details),
		cmocka_unit_test(test_review_deny),
		cmocka_unit_test(test_unknown_users_deny),
		cmocka_unit_test(test_evaluation_errors),
		cmocka_unit_test(test_decide_does_not_allocate),
		cmocka_unit_test(test_load_errors),
		cmocka_unit_test(test_minimal_and_hash),
		cmocka_unit_test(test_example_register),
		cmocka_unit_test(test_explain),
		cmocka_unit_test(test_lint),
		cmocka_unit_test(test_exception_check),
		cmocka_unit_test(test_exception_extensions),
		cmocka_unit_test(test_lookups),
		cmocka_unit_test(test_interface_usable),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
