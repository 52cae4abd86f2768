/*
 * Tests for broker/admission: connections counted per source up to a cap
 * and given back; refusals written at once for a quiet source, then summed
 * per interval with exact counts, reasons kept and bounded, quiet sources
 * forgotten, and the table of sources bounded by an overflow entry.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include "broker/admission.h"

struct seen {
	struct admission_summary s[16];
	size_t n;
};

static void
collect(const struct admission_summary *sum, void *arg)
{
	struct seen *seen = arg;

	assert_true(seen->n < 16);
	seen->s[seen->n++] = *sum;
}

static void
test_connections_per_source(void **state)
{
	struct admission *a = admission_new(16, 64);
	int i;

	(void)state;
	assert_non_null(a);
	for (i = 0; i < 3; i++)
		assert_int_equal(admission_enter(a, "192.0.2.1", 3), 0);
	assert_int_equal(admission_enter(a, "192.0.2.1", 3), 1);
	assert_int_equal(admission_enter(a, "192.0.2.2", 3), 0);
	admission_leave(a, "192.0.2.1");
	assert_int_equal(admission_enter(a, "192.0.2.1", 3), 0);
	assert_int_equal(admission_enter(a, "192.0.2.1", 3), 1);
	/* Leaving more than entered, or an unknown source, is harmless. */
	for (i = 0; i < 5; i++)
		admission_leave(a, "192.0.2.1");
	admission_leave(a, "198.51.100.9");
	assert_int_equal(admission_enter(a, "192.0.2.1", 1), 0);
	assert_int_equal(admission_enter(a, "192.0.2.1", 1), 1);
	admission_free(a);
}

static void
test_refusals_counted(void **state)
{
	struct admission *a = admission_new(16, 64);
	struct seen seen = { .n = 0 };
	int log, i, logged = 0;

	(void)state;
	/* The first from a quiet source: written at once. */
	assert_int_equal(admission_refused(a, "192.0.2.1", "eof", 100, &log),
	    1);
	assert_true(log);
	for (i = 0; i < 499; i++) {
		assert_int_equal(admission_refused(a, "192.0.2.1",
		    i % 100 == 0 ? "timeout" : "eof", 101 + i / 100, &log), 0);
		logged += log;
	}
	assert_int_equal(logged, ADMISSION_LOG_PER_INTERVAL);
	admission_flush(a, collect, &seen);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.s[0].source, "192.0.2.1");
	assert_int_equal(seen.s[0].count, 499);
	assert_int_equal(seen.s[0].unlogged, 499 - ADMISSION_LOG_PER_INTERVAL);
	assert_int_equal(seen.s[0].first, 101);
	assert_int_equal(seen.s[0].last, 105);
	assert_string_equal(seen.s[0].reason, "eof");
	assert_string_equal(seen.s[0].reasons, "timeout (5); eof (494)");
	/* Still known after its interval: the next is counted, not
	 * written at once. */
	assert_int_equal(admission_refused(a, "192.0.2.1", "eof", 200, &log),
	    0);
	seen.n = 0;
	admission_flush(a, collect, &seen);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.s[0].count, 1);
	/* Two quiet intervals: forgotten, so written at once again. */
	seen.n = 0;
	admission_flush(a, collect, &seen);
	admission_flush(a, collect, &seen);
	assert_int_equal(seen.n, 0);
	assert_int_equal(admission_refused(a, "192.0.2.1", "eof", 300, &log),
	    1);
	admission_free(a);
}

static void
test_reasons_bounded(void **state)
{
	struct admission *a = admission_new(16, 64);
	struct seen seen = { .n = 0 };
	char why[32];
	int log, i;

	(void)state;
	admission_refused(a, "s", "first", 1, &log);
	for (i = 0; i < 10; i++) {
		snprintf(why, sizeof(why), "reason %d", i);
		admission_refused(a, "s", why, 2, &log);
	}
	admission_flush(a, collect, &seen);
	assert_int_equal(seen.n, 1);
	assert_int_equal(seen.s[0].count, 10);
	assert_non_null(strstr(seen.s[0].reasons, "reason 3 (1)"));
	assert_null(strstr(seen.s[0].reasons, "reason 4"));
	assert_non_null(strstr(seen.s[0].reasons, "other reasons (6)"));
	admission_free(a);
}

static void
test_sources_bounded(void **state)
{
	struct admission *a = admission_new(4, 64);
	struct seen seen = { .n = 0 };
	char src[32];
	uint64_t total = 0;
	int log, i, written = 0;
	size_t k;

	(void)state;
	for (i = 0; i < 100; i++) {
		snprintf(src, sizeof(src), "10.0.0.%d", i);
		written += admission_refused(a, src, "eof", 1, &log);
		written += admission_refused(a, src, "eof", 2, &log);
	}
	admission_flush(a, collect, &seen);
	/* Four sources of their own, then all the others under "*"; every
	 * refusal is either written at once or in a count. */
	assert_true(seen.n <= 5);
	for (k = 0; k < seen.n; k++)
		total += seen.s[k].count;
	assert_int_equal(total + (uint64_t)written, 200);
	assert_true(written <= 5);
	admission_free(a);
}

static void
test_source_text(void **state)
{
	struct sockaddr_in in4;
	struct sockaddr_in6 in6;
	char out[ADMISSION_SOURCE_LEN];

	(void)state;
	memset(&in4, 0, sizeof(in4));
	in4.sin_family = AF_INET;
	in4.sin_port = htons(4443);
	inet_pton(AF_INET, "192.0.2.7", &in4.sin_addr);
	admission_source((struct sockaddr *)&in4, out);
	assert_string_equal(out, "192.0.2.7");
	memset(&in6, 0, sizeof(in6));
	in6.sin6_family = AF_INET6;
	inet_pton(AF_INET6, "2001:db8::1", &in6.sin6_addr);
	admission_source((struct sockaddr *)&in6, out);
	assert_string_equal(out, "2001:db8::1");
}

/* IPv6 sources are counted by their /64 (one holder of a /64 can use any
 * of its addresses), IPv4 by the address, IPv4-mapped IPv6 as IPv4. */
static void
test_ipv6_prefix(void **state)
{
	struct admission *a = admission_new(16, 64);
	struct seen seen;
	int log, i;

	(void)state;
	assert_non_null(a);
	/* Two addresses of one /64 are one source. */
	assert_int_equal(admission_enter(a, "2001:db8:1:2::1", 2), 0);
	assert_int_equal(admission_enter(a, "2001:db8:1:2:ffff::9", 2), 0);
	assert_int_equal(admission_enter(a, "2001:db8:1:2:abcd::77", 2), 1);
	/* Another /64 is another source. */
	assert_int_equal(admission_enter(a, "2001:db8:1:3::1", 2), 0);
	assert_int_equal(admission_enter(a, "2001:db8:1:3::2", 2), 0);
	/* Leaving by any address of the /64 gives its slot back. */
	admission_leave(a, "2001:db8:1:2::1");
	assert_int_equal(admission_enter(a, "2001:db8:1:2::5", 2), 0);
	/* IPv4: by the address; IPv4-mapped counts as the IPv4 address. */
	assert_int_equal(admission_enter(a, "192.0.2.1", 2), 0);
	assert_int_equal(admission_enter(a, "::ffff:192.0.2.1", 2), 0);
	assert_int_equal(admission_enter(a, "192.0.2.1", 2), 1);
	assert_int_equal(admission_enter(a, "192.0.2.2", 2), 0);

	/* Refusals: many addresses of one /64 make one quiet source, so
	 * only the first is written at once and one summary follows. */
	assert_int_equal(admission_refused(a, "2001:db8:9:9::1", "x", 100,
	    &log), 1);
	for (i = 2; i < 50; i++) {
		char src[64];

		snprintf(src, sizeof(src), "2001:db8:9:9::%x", i);
		assert_int_equal(admission_refused(a, src, "x", 100, &log),
		    0);
	}
	assert_int_equal(admission_refused(a, "2001:db8:9:a::1", "x", 100,
	    &log), 1);
	memset(&seen, 0, sizeof(seen));
	admission_flush(a, collect, &seen);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.s[0].source, "2001:db8:9:9::/64");
	assert_int_equal(seen.s[0].count, 48);
	admission_free(a);

	/* The prefix is configurable. */
	a = admission_new(16, 48);
	assert_non_null(a);
	assert_int_equal(admission_enter(a, "2001:db8:1:2::1", 1), 0);
	assert_int_equal(admission_enter(a, "2001:db8:1:3::1", 1), 1);
	assert_int_equal(admission_enter(a, "2001:db8:2:3::1", 1), 0);
	admission_free(a);
}

static void
test_source_key(void **state)
{
	char out[ADMISSION_SOURCE_LEN];

	(void)state;
	admission_key("192.0.2.7", 64, out);
	assert_string_equal(out, "192.0.2.7");
	admission_key("::ffff:192.0.2.7", 64, out);
	assert_string_equal(out, "192.0.2.7");
	admission_key("::ffff:c000:207", 64, out);
	assert_string_equal(out, "192.0.2.7");
	admission_key("2001:db8:aa:bb:cc:dd:ee:ff", 64, out);
	assert_string_equal(out, "2001:db8:aa:bb::/64");
	admission_key("2001:db8:aa:bb:cc:dd:ee:ff", 56, out);
	assert_string_equal(out, "2001:db8:aa::/56");
	admission_key("2001:db8:aa:bb:cc:dd:ee:ff", 128, out);
	assert_string_equal(out, "2001:db8:aa:bb:cc:dd:ee:ff");
	admission_key("::1", 64, out);
	assert_string_equal(out, "::/64");
	admission_key("unknown", 64, out);
	assert_string_equal(out, "unknown");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_connections_per_source),
		cmocka_unit_test(test_refusals_counted),
		cmocka_unit_test(test_reasons_bounded),
		cmocka_unit_test(test_sources_bounded),
		cmocka_unit_test(test_source_text),
		cmocka_unit_test(test_ipv6_prefix),
		cmocka_unit_test(test_source_key),
	};

	return cmocka_run_group_tests_name("admission", tests, NULL, NULL);
}
