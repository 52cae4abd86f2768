/*
 * Tests for broker/crlwatch: the CRL's state against its margin, when a log
 * line is due (at once on a change, then once a day while it lasts), and
 * the sentence the log, /health and --check-config show.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <time.h>
#include <cmocka.h>

#include "broker/crlwatch.h"

#define DAY 86400
#define NOW ((time_t)1796601600)	/* 2026-12-07T00:00:00Z */

static void
test_state(void **state)
{
	(void)state;
	assert_int_equal(crlwatch_state(0, NOW, 7 * DAY), CRLWATCH_OK);
	assert_int_equal(crlwatch_state(NOW + 30 * DAY, NOW, 7 * DAY),
	    CRLWATCH_OK);
	assert_int_equal(crlwatch_state(NOW + 7 * DAY + 1, NOW, 7 * DAY),
	    CRLWATCH_OK);
	assert_int_equal(crlwatch_state(NOW + 7 * DAY, NOW, 7 * DAY),
	    CRLWATCH_EXPIRING);
	assert_int_equal(crlwatch_state(NOW + 1, NOW, 7 * DAY),
	    CRLWATCH_EXPIRING);
	assert_int_equal(crlwatch_state(NOW, NOW, 7 * DAY), CRLWATCH_EXPIRED);
	assert_int_equal(crlwatch_state(NOW - DAY, NOW, 7 * DAY),
	    CRLWATCH_EXPIRED);
	/* Margin 0: no warning before, still an error after. */
	assert_int_equal(crlwatch_state(NOW + 60, NOW, 0), CRLWATCH_OK);
	assert_int_equal(crlwatch_state(NOW, NOW, 0), CRLWATCH_EXPIRED);
}

static void
test_due_daily(void **state)
{
	time_t next = NOW + 2 * DAY;

	(void)state;
	/* Nothing said yet: only a problem is worth a line. */
	assert_false(crlwatch_due(CRLWATCH_OK, 0, 0, CRLWATCH_OK, next, NOW));
	assert_true(crlwatch_due(CRLWATCH_OK, 0, 0, CRLWATCH_EXPIRING, next,
	    NOW));
	/* Said at NOW: quiet for a day, then again. */
	assert_false(crlwatch_due(CRLWATCH_EXPIRING, next, NOW,
	    CRLWATCH_EXPIRING, next, NOW + 3600));
	assert_false(crlwatch_due(CRLWATCH_EXPIRING, next, NOW,
	    CRLWATCH_EXPIRING, next, NOW + DAY - 1));
	assert_true(crlwatch_due(CRLWATCH_EXPIRING, next, NOW,
	    CRLWATCH_EXPIRING, next, NOW + DAY));
	/* A change is said at once: expired, a new CRL, back to OK once. */
	assert_true(crlwatch_due(CRLWATCH_EXPIRING, next, NOW,
	    CRLWATCH_EXPIRED, next, NOW + 60));
	assert_true(crlwatch_due(CRLWATCH_EXPIRING, next, NOW,
	    CRLWATCH_EXPIRING, next + DAY, NOW + 60));
	assert_true(crlwatch_due(CRLWATCH_EXPIRED, next, NOW, CRLWATCH_OK,
	    NOW + 30 * DAY, NOW + 60));
	assert_false(crlwatch_due(CRLWATCH_OK, NOW + 30 * DAY, NOW + 60,
	    CRLWATCH_OK, NOW + 30 * DAY, NOW + 3 * DAY));
}

static void
test_describe(void **state)
{
	char out[400];

	(void)state;
	crlwatch_describe(NOW + DAY + 3600 + 120, NOW, out, sizeof(out));
	assert_non_null(strstr(out, "2026-12-08T01:02:00Z"));
	assert_non_null(strstr(out, "in 25h 2m"));
	assert_non_null(strstr(out, "sekisho-pki crl"));
	crlwatch_describe(NOW - 10, NOW, out, sizeof(out));
	assert_non_null(strstr(out, "expired at 2026-12-06T23:59:50Z"));
	assert_non_null(strstr(out, "every client is refused"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_state),
		cmocka_unit_test(test_due_daily),
		cmocka_unit_test(test_describe),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
