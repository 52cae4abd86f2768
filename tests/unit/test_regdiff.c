/*
 * Unit tests for broker/regdiff.c: which interfaces and sections a new
 * version of the register adds, removes and changes, and what does not
 * count as a change.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>

#include "broker/regdiff.h"

static struct regdiff *
load(const char *yaml)
{
	struct regdiff *d = NULL;
	char err[256];

	if (regdiff_new("register.yaml", yaml, strlen(yaml), &d, err,
	    sizeof(err)) != 0)
		fail_msg("regdiff_new: %s", err);
	return d;
}

static void
compare(const char *a, const char *b, struct regdiff_changes *c)
{
	struct regdiff *x = load(a), *y = load(b);
	char err[256];

	assert_int_equal(regdiff_compare(x, y, c, err, sizeof(err)), 0);
	regdiff_free(x);
	regdiff_free(y);
}

static const char base[] =
    "timezone: Asia/Tokyo\n"
    "services:\n"
    "  - id: dav\n"
    "    connector: webdav\n"
    "    endpoint: https://dav.example.jp/a/\n"
    "interfaces:\n"
    "  - id: IF-B\n"
    "    max_class: 1\n"
    "    service: dav\n"
    "  - id: IF-A\n"
    "    max_class: 2\n"
    "    allow:\n"
    "      users: [u1, u2]\n"
    "  - id: IF-C\n"
    "    max_class: 1\n";

static void
test_same_register_no_changes(void **state)
{
	struct regdiff_changes c;

	(void)state;
	compare(base, base, &c);
	assert_string_equal(c.added, "");
	assert_string_equal(c.removed, "");
	assert_string_equal(c.changed, "");
	assert_string_equal(c.sections, "");
	assert_int_equal(c.nadded + c.nremoved + c.nchanged + c.nsections, 0);
	regdiff_changes_free(&c);
}

static void
test_reordering_is_not_a_change(void **state)
{
	static const char reordered[] =
	    "interfaces:\n"
	    "  - id: IF-C\n"
	    "    max_class: \"1\"\n"
	    "  - allow:\n"
	    "      users: [u1, u2]\n"
	    "    max_class: 2\n"
	    "    id: IF-A\n"
	    "  - service: dav\n"
	    "    id: IF-B\n"
	    "    max_class: 1\n"
	    "services:\n"
	    "  - endpoint: https://dav.example.jp/a/\n"
	    "    id: dav\n"
	    "    connector: webdav\n"
	    "timezone: Asia/Tokyo\n";
	struct regdiff_changes c;

	(void)state;
	compare(base, reordered, &c);
	assert_string_equal(c.changed, "");
	assert_string_equal(c.sections, "");
	regdiff_changes_free(&c);
}

static void
test_added_removed_changed(void **state)
{
	static const char next[] =
	    "timezone: Asia/Tokyo\n"
	    "services:\n"
	    "  - id: dav\n"
	    "    connector: webdav\n"
	    "    endpoint: https://dav.example.jp/a/\n"
	    "interfaces:\n"
	    "  - id: IF-B\n"
	    "    max_class: 1\n"
	    "    service: dav\n"
	    "  - id: IF-A\n"
	    "    max_class: 2\n"
	    "    allow:\n"
	    "      users: [u2, u1]\n"		/* order of a list counts */
	    "  - id: IF-E\n"
	    "    max_class: 1\n"
	    "  - id: IF-D\n"
	    "    max_class: 1\n"
	    "forbids:\n"
	    "  - id: FB-1\n"
	    "    min_class: 2\n";
	struct regdiff_changes c;

	(void)state;
	compare(base, next, &c);
	assert_string_equal(c.added, "IF-D,IF-E");
	assert_int_equal(c.nadded, 2);
	assert_string_equal(c.removed, "IF-C");
	assert_int_equal(c.nremoved, 1);
	assert_string_equal(c.changed, "IF-A");
	assert_int_equal(c.nchanged, 1);
	assert_string_equal(c.sections, "forbids");
	regdiff_changes_free(&c);
}

/* What an approver reads: the fields of each changed interface (scalars
 * with both values), and principals and services by name. */
static void
test_detail_names_fields_and_principals(void **state)
{
	static const char a[] =
	    "principals:\n"
	    "  users:\n"
	    "    - id: u1\n"
	    "      roles: [staff]\n"
	    "    - id: u2\n"
	    "  groups:\n"
	    "    - id: g1\n"
	    "      users: [u1]\n"
	    "services:\n"
	    "  - id: dav\n"
	    "    connector: webdav\n"
	    "    endpoint: https://dav.example.jp/a/\n"
	    "interfaces:\n"
	    "  - id: IF-A\n"
	    "    max_class: 1\n"
	    "    purpose: x月次報告の提出先となる県の共有フォルダーへの送付経路\n"
	    "    schedule: {days: [mon]}\n"
	    "    service: dav\n"
	    "  - id: IF-B\n"
	    "    max_class: 1\n";
	static const char b[] =
	    "principals:\n"
	    "  users:\n"
	    "    - id: u1\n"
	    "      roles: [staff, officer]\n"
	    "    - id: u3\n"
	    "  groups:\n"
	    "    - id: g1\n"
	    "      users: [u1]\n"
	    "services:\n"
	    "  - id: dav\n"
	    "    connector: webdav\n"
	    "    endpoint: https://dav.example.jp/b/\n"
	    "interfaces:\n"
	    "  - id: IF-A\n"
	    "    max_class: 2\n"
	    "    purpose: 月次報告の提出先となる県の共有フォルダーへの送付経路 (改)\n"
	    "    allow: {groups: [g1]}\n"
	    "    service: dav\n"
	    "  - id: IF-B\n"
	    "    max_class: 1\n";
	struct regdiff *x = load(a), *y = load(b);
	struct regdiff_detail d;
	char err[256];

	(void)state;
	assert_int_equal(regdiff_compare_detail(x, y, &d, err, sizeof(err)),
	    0);
	assert_string_equal(d.named_added, "user:u3");
	assert_string_equal(d.named_removed, "user:u2");
	assert_string_equal(d.named_changed, "service:dav,user:u1");
	/* Keys in byte order; the long value cut on a character boundary. */
	assert_string_equal(d.interface_fields, "IF-A: (service), "
	    "+allow (narrowed), max_class 1 -> 2 (widened), purpose "
	    "x月次報告の提出先となる県の共有... -> 月次報告の提出先となる県"
	    "の共有フ..., -schedule (widened)\n");
	assert_string_equal(d.named_fields, "service:dav: endpoint "
	    "https://dav.example.jp/a/ -> https://dav.example.jp/b/\n"
	    "user:u1: roles\n");
	regdiff_detail_free(&d);
	regdiff_free(x);
	regdiff_free(y);
}

/* Limits that grow widen, limits that shrink narrow. */
static void
test_detail_widened_and_narrowed(void **state)
{
	static const char a[] =
	    "interfaces:\n"
	    "  - id: IF-A\n"
	    "    max_class: 2\n"
	    "    max_size: 10MiB\n"
	    "    valid_until: 2027-03-31\n"
	    "    daily_count: 5\n";
	static const char b[] =
	    "interfaces:\n"
	    "  - id: IF-A\n"
	    "    max_class: 1\n"
	    "    max_size: 1GiB\n"
	    "    valid_until: 2026-12-31\n"
	    "    approval: {when: always, approvers: g, count: 1}\n";
	struct regdiff *x = load(a), *y = load(b);
	struct regdiff_detail d;
	char err[256];

	(void)state;
	assert_int_equal(regdiff_compare_detail(x, y, &d, err, sizeof(err)),
	    0);
	assert_string_equal(d.interface_fields, "IF-A: +approval (narrowed), "
	    "-daily_count (widened), max_class 2 -> 1 (narrowed), max_size "
	    "10MiB -> 1GiB (widened), valid_until 2027-03-31 -> 2026-12-31 "
	    "(narrowed)\n");
	regdiff_detail_free(&d);
	regdiff_free(x);
	regdiff_free(y);
}

static void
test_service_change_changes_its_interfaces(void **state)
{
	char next[sizeof(base)];
	struct regdiff_changes c;
	char *p;

	(void)state;
	memcpy(next, base, sizeof(base));
	p = strstr(next, "/a/");
	assert_non_null(p);
	p[1] = 'b';
	compare(base, next, &c);
	assert_string_equal(c.changed, "IF-B");
	assert_string_equal(c.sections, "services");
	regdiff_changes_free(&c);
}

static void
test_value_boundaries_are_not_ambiguous(void **state)
{
	/* "ab" + "c" and "a" + "bc" must not hash alike. */
	static const char one[] =
	    "interfaces:\n  - id: X\n    max_class: 1\n    purpose: ab\n"
	    "    owner: c\n";
	static const char two[] =
	    "interfaces:\n  - id: X\n    max_class: 1\n    purpose: a\n"
	    "    owner: bc\n";
	struct regdiff_changes c;

	(void)state;
	compare(one, two, &c);
	assert_string_equal(c.changed, "X");
	regdiff_changes_free(&c);
}

static void
test_refusals(void **state)
{
	struct regdiff *d = NULL;
	char err[256];

	(void)state;
	assert_int_equal(regdiff_new("r.yaml", "- a\n", 4, &d, err,
	    sizeof(err)), -1);
	assert_null(d);
	assert_int_equal(regdiff_new("r.yaml", "interfaces:\n  - max_class: 1\n",
	    29, &d, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "without an id"));
	assert_int_equal(regdiff_new("r.yaml", "a: [", 4, &d, err,
	    sizeof(err)), -1);
	/* No interfaces at all is fine (everything is removed). */
	assert_int_equal(regdiff_new("r.yaml", "interfaces: []\n", 15, &d, err,
	    sizeof(err)), 0);
	regdiff_free(d);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_same_register_no_changes),
		cmocka_unit_test(test_reordering_is_not_a_change),
		cmocka_unit_test(test_added_removed_changed),
		cmocka_unit_test(test_detail_names_fields_and_principals),
		cmocka_unit_test(test_detail_widened_and_narrowed),
		cmocka_unit_test(test_service_change_changes_its_interfaces),
		cmocka_unit_test(test_value_boundaries_are_not_ambiguous),
		cmocka_unit_test(test_refusals),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
