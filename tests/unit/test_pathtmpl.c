/*
 * Tests for broker/pathtmpl: placeholders, the default object name of a
 * directory template, sanitising of client file names (the one value from
 * the network), the checks on the expanded path, and URL encoding.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "broker/pathtmpl.h"
#include "policy/tzone.h"

#define ID "0123456789abcdef0123456789abcdef"

static struct pathtmpl_vars
vars(const char *name)
{
	struct pathtmpl_vars v;

	memset(&v, 0, sizeof(v));
	v.interface = "IF-2026-001";
	v.transfer = ID;
	v.user = "u-tanaka";
	v.dept = "kikaku";
	v.name = name;
	/* 2026-04-01 09:08:07 in UTC; the tests run with TZ=UTC. */
	v.created = 1775034487;
	return v;
}

static void
expand_ok(const char *tmpl, const char *name, const char *want)
{
	struct pathtmpl_vars v = vars(name);
	char out[PATHTMPL_MAX + 1], err[256];

	if (pathtmpl_expand(tmpl, &v, out, sizeof(out), err, sizeof(err)) != 0)
		fail_msg("'%s': %s", tmpl, err);
	assert_string_equal(out, want);
	assert_int_equal(pathtmpl_check(tmpl, err, sizeof(err)), 0);
}

static void
test_placeholders(void **state)
{
	(void)state;
	expand_ok("/in/{interface}/{user}/{dept}/{transfer}.bin", "a.pdf",
	    "/in/IF-2026-001/u-tanaka/kikaku/" ID ".bin");
	expand_ok("/{date}/{year}{month}{day}-{time}-{name}", "a.pdf",
	    "/2026-04-01/20260401-090807-a.pdf");
	expand_ok("/fixed/name.txt", "ignored.pdf", "/fixed/name.txt");
}

/*
 * {date} and {time} are the interface's wall clock, not the broker's TZ:
 * 2026-04-01 16:05:00 UTC is 01:05 on 2 April in Tokyo, so an upload made
 * at 01:05 JST is filed under 2 April. Without a zone, UTC (never the
 * process's TZ, so the path does not depend on how the broker was started).
 */
static void
test_date_in_interface_zone(void **state)
{
	struct pathtmpl_vars v = vars("a.pdf");
	struct tzone *tokyo = NULL, *ny = NULL;
	char out[PATHTMPL_MAX + 1], err[256];

	(void)state;
	assert_int_equal(tzone_load("Asia/Tokyo", &tokyo, err, sizeof(err)),
	    0);
	assert_int_equal(tzone_load("America/New_York", &ny, err,
	    sizeof(err)), 0);
	setenv("TZ", "America/Los_Angeles", 1);
	tzset();
	v.created = 1775059500;		/* 2026-04-01 16:05:00 UTC */
	v.tz = tokyo;
	assert_int_equal(pathtmpl_expand("/{date}/{year}{month}{day}-{time}",
	    &v, out, sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "/2026-04-02/20260402-010500");
	/* 00:30 UTC on 2 April is still 1 April (20:30, EDT) in New York. */
	v.created = 1775089800;
	v.tz = ny;
	assert_int_equal(pathtmpl_expand("/{date}-{time}", &v, out,
	    sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "/2026-04-01-203000");
	v.tz = NULL;
	assert_int_equal(pathtmpl_expand("/{date}-{time}", &v, out,
	    sizeof(out), err, sizeof(err)), 0);
	assert_string_equal(out, "/2026-04-02-003000");
	unsetenv("TZ");
	tzset();
	tzone_free(tokyo);
	tzone_free(ny);
}

static void
test_directory_template_gets_default_name(void **state)
{
	(void)state;
	expand_ok("/kosodate/shinsei/", "申請書.pdf",
	    "/kosodate/shinsei/" ID "-申請書.pdf");
	expand_ok("", "r.csv", "/" ID "-r.csv");
	expand_ok("/", "r.csv", "/" ID "-r.csv");
	expand_ok("/{date}/", "r.csv", "/2026-04-01/" ID "-r.csv");
}

static void
sanitized(const char *name, const char *want)
{
	char out[PATHTMPL_NAME_MAX + 1];

	pathtmpl_sanitize_name(name, out, sizeof(out));
	if (strcmp(out, want) != 0)
		fail_msg("'%s' -> '%s', want '%s'", name, out, want);
}

static void
test_sanitize_name(void **state)
{
	char longname[1000], out[PATHTMPL_NAME_MAX + 1];
	size_t i;

	(void)state;
	sanitized("report.pdf", "report.pdf");
	sanitized("../../etc/passwd", "_.._etc_passwd");
	sanitized("..", "file");
	sanitized(".hidden", "hidden");
	sanitized("a/b\\c", "a_b_c");
	sanitized("C:\\Users\\x.doc", "C__Users_x.doc");
	sanitized("a b%20c?d#e&f\"g'h", "a_b_20c_d_e_f_g_h");
	sanitized("tab\there\nnl\r", "tab_here_nl_");
	sanitized("", "file");
	sanitized(NULL, "file");
	sanitized("子育て 申請.xlsx", "子育て_申請.xlsx");
	/* Invalid UTF-8: a lone continuation byte, an overlong '/', a
	 * surrogate; each sequence is one '_'. */
	sanitized("a\x80" "b", "a_b");
	sanitized("a\xc0\xaf" "b", "a__b");
	sanitized("a\xed\xa0\x80" "b", "a___b");
	/* Right-to-left override (U+202E) would disguise "exe.pdf". */
	sanitized("x\xe2\x80\xae" "fdp.exe", "x_fdp.exe");
	/* C1 control U+0085. */
	sanitized("a\xc2\x85" "b", "a_b");

	/* Cut at PATHTMPL_NAME_MAX bytes, never inside a character. */
	memset(longname, 0, sizeof(longname));
	for (i = 0; i + 3 < sizeof(longname) - 1; i += 3)
		memcpy(longname + i, "あ", 3);
	pathtmpl_sanitize_name(longname, out, sizeof(out));
	assert_true(strlen(out) <= PATHTMPL_NAME_MAX);
	assert_int_equal(strlen(out) % 3, 0);
	/* A small buffer is respected. */
	pathtmpl_sanitize_name("abcdef", out, 4);
	assert_string_equal(out, "abc");
}

static void
refused(const char *tmpl, const char *what)
{
	char err[256] = "";

	if (pathtmpl_check(tmpl, err, sizeof(err)) != -1)
		fail_msg("'%s' accepted", tmpl);
	if (strstr(err, what) == NULL)
		fail_msg("'%s': message '%s' lacks '%s'", tmpl, err, what);
}

static void
test_bad_templates(void **state)
{
	(void)state;
	refused("/a/{nme}", "unknown placeholder '{nme}'");
	refused("/a/{name", "'{' without '}'");
	refused("/a/name}", "'}' without '{'");
	refused("relative/{name}", "start with '/'");
	refused("/a//{name}", "empty");
	refused("/a/../{name}", "'..'");
	refused("/a/./{name}", "'.'");
	refused("/a\\b/{name}", "backslash");
}

static void
test_values_cannot_escape(void **state)
{
	struct pathtmpl_vars v = vars("x");
	char out[PATHTMPL_MAX + 1], err[256];

	(void)state;
	/* An id that is not a token never shapes the path. */
	v.user = "../root";
	assert_int_equal(pathtmpl_expand("/{user}/{name}", &v, out,
	    sizeof(out), err, sizeof(err)), -1);
	v = vars("../../x");
	assert_int_equal(pathtmpl_expand("/{name}", &v, out, sizeof(out), err,
	    sizeof(err)), 0);
	assert_string_equal(out, "/_.._x");
	/* A name that sanitises to nothing is "file", never a directory. */
	v = vars("...");
	assert_int_equal(pathtmpl_expand("/d/{name}", &v, out, sizeof(out),
	    err, sizeof(err)), 0);
	assert_string_equal(out, "/d/file");
}

static void
test_length_bound(void **state)
{
	char tmpl[PATHTMPL_MAX + 100], out[PATHTMPL_MAX + 1], err[256];
	struct pathtmpl_vars v = vars("x");

	(void)state;
	memset(tmpl, 'a', sizeof(tmpl));
	tmpl[0] = '/';
	tmpl[sizeof(tmpl) - 1] = '\0';
	assert_int_equal(pathtmpl_expand(tmpl, &v, out, sizeof(out), err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "longer than"));
	/* A small output buffer is an error, not an overflow. */
	assert_int_equal(pathtmpl_expand("/abcdef", &v, out, 4, err,
	    sizeof(err)), -1);
}

static void
test_url_encode(void **state)
{
	char out[64];

	(void)state;
	assert_int_equal(pathtmpl_url_encode("/a b/c~d_e-f.g", out,
	    sizeof(out)), 0);
	assert_string_equal(out, "/a%20b/c~d_e-f.g");
	assert_int_equal(pathtmpl_url_encode("/あ%?#+", out, sizeof(out)), 0);
	assert_string_equal(out, "/%E3%81%82%25%3F%23%2B");
	assert_int_equal(pathtmpl_url_encode("/abc", out, 4), -1);
	assert_int_equal(pathtmpl_url_encode("/ab", out, 4), 0);
	assert_int_equal(pathtmpl_url_encode("/a ", out, 5), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_placeholders),
		cmocka_unit_test(test_date_in_interface_zone),
		cmocka_unit_test(test_directory_template_gets_default_name),
		cmocka_unit_test(test_sanitize_name),
		cmocka_unit_test(test_bad_templates),
		cmocka_unit_test(test_values_cannot_escape),
		cmocka_unit_test(test_length_bound),
		cmocka_unit_test(test_url_encode),
	};

	setenv("TZ", "UTC", 1);
	tzset();
	return cmocka_run_group_tests_name("pathtmpl", tests, NULL, NULL);
}
