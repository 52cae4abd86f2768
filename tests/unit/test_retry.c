/*
 * Tests for broker/retry: which outcomes are retried, exponential backoff
 * with jitter and its bounds, Retry-After, the give-up rules, and the
 * per-service circuit breaker.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include "broker/retry.h"

static const struct retry_policy pol = {
	.max_attempts = 5,
	.max_age = 3600,
	.base_ms = 1000,
	.max_ms = 60000,
	.max_retry_after_ms = 600000,
};

static void
test_classify(void **state)
{
	static const long again[] = { 408, 429, 500, 502, 503, 504, 599 };
	static const long never[] = { 400, 401, 403, 404, 405, 409, 412, 413,
	    301, 302, 304, 100, 600 };
	size_t i;

	(void)state;
	assert_int_equal(retry_classify(RETRY_T_OK, 200), RETRY_DONE);
	assert_int_equal(retry_classify(RETRY_T_OK, 201), RETRY_DONE);
	assert_int_equal(retry_classify(RETRY_T_OK, 204), RETRY_DONE);
	for (i = 0; i < sizeof(again) / sizeof(again[0]); i++)
		if (retry_classify(RETRY_T_OK, again[i]) != RETRY_AGAIN)
			fail_msg("%ld not retried", again[i]);
	for (i = 0; i < sizeof(never) / sizeof(never[0]); i++)
		if (retry_classify(RETRY_T_OK, never[i]) != RETRY_NEVER)
			fail_msg("%ld retried", never[i]);
	assert_int_equal(retry_classify(RETRY_T_CONNECT, 0), RETRY_AGAIN);
	assert_int_equal(retry_classify(RETRY_T_TIMEOUT, 0), RETRY_AGAIN);
	assert_int_equal(retry_classify(RETRY_T_BROKEN, 0), RETRY_AGAIN);
	assert_int_equal(retry_classify(RETRY_T_LOCAL, 0), RETRY_AGAIN);
	/* A certificate or pin problem is never retried (fail closed). */
	assert_int_equal(retry_classify(RETRY_T_TLS_VERIFY, 0), RETRY_NEVER);
	assert_int_equal(retry_classify(RETRY_T_PIN, 0), RETRY_NEVER);
}

static void
test_counts_against_service(void **state)
{
	(void)state;
	assert_true(retry_counts_against_service(RETRY_T_CONNECT, 0));
	assert_true(retry_counts_against_service(RETRY_T_TIMEOUT, 0));
	assert_true(retry_counts_against_service(RETRY_T_BROKEN, 0));
	assert_true(retry_counts_against_service(RETRY_T_OK, 503));
	assert_true(retry_counts_against_service(RETRY_T_OK, 429));
	assert_false(retry_counts_against_service(RETRY_T_OK, 201));
	assert_false(retry_counts_against_service(RETRY_T_OK, 403));
	assert_false(retry_counts_against_service(RETRY_T_LOCAL, 0));
	assert_false(retry_counts_against_service(RETRY_T_PIN, 0));
}

static void
test_backoff_grows_and_is_capped(void **state)
{
	unsigned n;
	uint64_t lo, hi, full;

	(void)state;
	for (n = 1; n <= 20; n++) {
		full = 1000ull << (n - 1 < 16 ? n - 1 : 16);
		if (full > pol.max_ms)
			full = pol.max_ms;
		lo = retry_backoff_ms(&pol, n, 0, 0);
		hi = retry_backoff_ms(&pol, n, UINT32_MAX, 0);
		/* Equal jitter: between half and all of the full delay. */
		assert_int_equal(lo, full / 2);
		assert_true(hi >= lo && hi <= full);
	}
	assert_int_equal(retry_backoff_ms(&pol, 1, 0, 0), 500);
	assert_int_equal(retry_backoff_ms(&pol, 3, 0, 0), 2000);
	/* Huge attempt counts saturate instead of wrapping to zero. */
	assert_int_equal(retry_backoff_ms(&pol, 4000000000u, 0, 0), 30000);
	/* Attempt 0 is treated as 1. */
	assert_int_equal(retry_backoff_ms(&pol, 0, 0, 0), 500);
}

static void
test_backoff_jitter_spreads(void **state)
{
	uint64_t seen[8];
	uint32_t r;
	size_t i, j, distinct = 0;

	(void)state;
	for (i = 0, r = 12345; i < 8; i++) {
		r = r * 1103515245u + 12345u;
		seen[i] = retry_backoff_ms(&pol, 4, r, 0);
		assert_true(seen[i] >= 4000 && seen[i] <= 8000);
	}
	for (i = 0; i < 8; i++) {
		for (j = 0; j < i && seen[j] != seen[i]; j++)
			;
		distinct += j == i;
	}
	assert_true(distinct > 4);
}

static void
test_retry_after(void **state)
{
	(void)state;
	/* A longer Retry-After wins; a shorter one does not shorten. */
	assert_int_equal(retry_backoff_ms(&pol, 1, 0, 120000), 120000);
	assert_int_equal(retry_backoff_ms(&pol, 3, 0, 10), 2000);
	/* It is capped. */
	assert_int_equal(retry_backoff_ms(&pol, 1, 0, 86400000), 600000);
}

static void
test_zero_base_never_spins(void **state)
{
	struct retry_policy p = pol;

	(void)state;
	p.base_ms = 0;
	assert_true(retry_backoff_ms(&p, 1, 0, 0) >= 1);
}

static void
test_may_continue(void **state)
{
	(void)state;
	assert_true(retry_may_continue(&pol, 1, 1000, 1000, 500));
	assert_true(retry_may_continue(&pol, 4, 1000, 1000, 500));
	/* max_attempts reached. */
	assert_false(retry_may_continue(&pol, 5, 1000, 1000, 500));
	/* The next attempt would start after max_age. */
	assert_false(retry_may_continue(&pol, 1, 1000, 1000 + 3599, 2000));
	assert_false(retry_may_continue(&pol, 1, 1000, 1000 + 7200, 0));
	assert_true(retry_may_continue(&pol, 1, 1000, 1000 + 3000, 1000));
	/* A clock that went backwards counts as age 0. */
	assert_true(retry_may_continue(&pol, 1, 5000, 1000, 1000));
	/* A wait near 2^64 does not wrap into "allowed". */
	assert_false(retry_may_continue(&pol, 1, 1000, 1000, UINT64_MAX));
}

static void
test_circuit_opens_after_threshold(void **state)
{
	struct retry_circuit c;

	(void)state;
	retry_circuit_init(&c);
	assert_true(retry_circuit_allow(&c, 0));
	assert_int_equal(retry_circuit_report(&c, 0, 10, 3, 1000), 0);
	assert_int_equal(retry_circuit_report(&c, 0, 20, 3, 1000), 0);
	assert_true(retry_circuit_allow(&c, 25));
	assert_int_equal(retry_circuit_report(&c, 0, 30, 3, 1000), 1);
	assert_int_equal(c.state, RETRY_OPEN);
	assert_false(retry_circuit_allow(&c, 31));
	assert_int_equal(retry_circuit_wait_ms(&c, 530), 500);
	assert_false(retry_circuit_allow(&c, 1029));
	/* Cooldown over: exactly one probe. */
	assert_true(retry_circuit_allow(&c, 1030));
	assert_int_equal(c.state, RETRY_HALF_OPEN);
	assert_false(retry_circuit_allow(&c, 1031));
	assert_int_equal(retry_circuit_wait_ms(&c, 1031), 0);
	/* The probe succeeds: closed, counters reset. */
	assert_int_equal(retry_circuit_report(&c, 1, 1040, 3, 1000), 0);
	assert_int_equal(c.state, RETRY_CLOSED);
	assert_int_equal(c.failures, 0);
	assert_true(retry_circuit_allow(&c, 1041));
	assert_true(retry_circuit_allow(&c, 1041));
}

static void
test_circuit_success_resets_count(void **state)
{
	struct retry_circuit c;

	(void)state;
	retry_circuit_init(&c);
	retry_circuit_report(&c, 0, 1, 3, 1000);
	retry_circuit_report(&c, 0, 2, 3, 1000);
	retry_circuit_report(&c, 1, 3, 3, 1000);
	assert_int_equal(retry_circuit_report(&c, 0, 4, 3, 1000), 0);
	assert_int_equal(retry_circuit_report(&c, 0, 5, 3, 1000), 0);
	assert_int_equal(c.state, RETRY_CLOSED);
}

static void
test_circuit_failed_probe_backs_off(void **state)
{
	struct retry_circuit c;
	int i;

	(void)state;
	retry_circuit_init(&c);
	assert_int_equal(retry_circuit_report(&c, 0, 0, 1, 1000), 1);
	assert_true(retry_circuit_allow(&c, 1000));
	assert_int_equal(retry_circuit_report(&c, 0, 1000, 1, 1000), 1);
	assert_int_equal(c.state, RETRY_OPEN);
	assert_int_equal(c.open_until_ms, 3000);	/* twice the cooldown */
	/* Repeated failed probes: bounded at 8 times the cooldown. */
	for (i = 0; i < 10; i++) {
		assert_true(retry_circuit_allow(&c, c.open_until_ms));
		retry_circuit_report(&c, 0, c.open_until_ms, 1, 1000);
	}
	assert_int_equal(c.cooldown_ms, 8000);
}

static void
test_circuit_cancelled_probe(void **state)
{
	struct retry_circuit c;

	(void)state;
	retry_circuit_init(&c);
	retry_circuit_report(&c, 0, 0, 1, 100);
	assert_true(retry_circuit_allow(&c, 100));
	assert_false(retry_circuit_allow(&c, 100));
	retry_circuit_cancel(&c);
	assert_true(retry_circuit_allow(&c, 100));
	assert_string_equal(retry_circuit_name(RETRY_HALF_OPEN), "half-open");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_classify),
		cmocka_unit_test(test_counts_against_service),
		cmocka_unit_test(test_backoff_grows_and_is_capped),
		cmocka_unit_test(test_backoff_jitter_spreads),
		cmocka_unit_test(test_retry_after),
		cmocka_unit_test(test_zero_base_never_spins),
		cmocka_unit_test(test_may_continue),
		cmocka_unit_test(test_circuit_opens_after_threshold),
		cmocka_unit_test(test_circuit_success_resets_count),
		cmocka_unit_test(test_circuit_failed_probe_backs_off),
		cmocka_unit_test(test_circuit_cancelled_probe),
	};

	return cmocka_run_group_tests_name("retry", tests, NULL, NULL);
}
