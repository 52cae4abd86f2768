/*
 * Unit tests for broker/fwdqueue.c: the backoff doubles up to its cap, a
 * failed queue commit comes back through the retry callback after it, and
 * "failing" counts transfers (not failures) until each settles.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include <cmocka.h>
#include <event2/event.h>

#include "broker/fwdqueue.h"

struct calls {
	char id[64];
	unsigned tries;
	int n;
	struct event_base *base;
};

static void
on_retry(void *arg, const char *id, unsigned tries)
{
	struct calls *c = arg;

	strcpy(c->id, id);
	c->tries = tries;
	c->n++;
	event_base_loopbreak(c->base);
}

static void
test_backoff(void **state)
{
	(void)state;
	assert_int_equal(fwdqueue_backoff_ms(1), 1000);
	assert_int_equal(fwdqueue_backoff_ms(2), 2000);
	assert_int_equal(fwdqueue_backoff_ms(3), 4000);
	assert_int_equal(fwdqueue_backoff_ms(6), 32000);
	assert_int_equal(fwdqueue_backoff_ms(7), FWDQUEUE_BACKOFF_MAX_MS);
	assert_int_equal(fwdqueue_backoff_ms(1000), FWDQUEUE_BACKOFF_MAX_MS);
}

static void
test_retry_and_failing(void **state)
{
	static const char id[] = "0123456789abcdef0123456789abcdef";
	struct calls c;
	struct fwdqueue *q;
	char last[256];

	(void)state;
	memset(&c, 0, sizeof(c));
	c.base = event_base_new();
	assert_non_null(c.base);
	q = fwdqueue_new(c.base, on_retry, &c);
	assert_non_null(q);
	assert_int_equal(fwdqueue_failing(q, last, sizeof(last)), 0);
	assert_string_equal(last, "");

	assert_int_equal(fwdqueue_failed(q, id, 1, "disk I/O error"), 0);
	assert_int_equal(fwdqueue_failing(q, last, sizeof(last)), 1);
	assert_string_equal(last, "disk I/O error");
	event_base_dispatch(c.base);		/* about 1 s */
	assert_int_equal(c.n, 1);
	assert_string_equal(c.id, id);
	assert_int_equal(c.tries, 1);
	/* Failing again is the same transfer, not a second one. */
	assert_int_equal(fwdqueue_failed(q, id, 2, "still failing"), 0);
	assert_int_equal(fwdqueue_failing(q, NULL, 0), 1);
	fwdqueue_settled(q, 0);			/* never failed: no-op */
	assert_int_equal(fwdqueue_failing(q, NULL, 0), 1);
	fwdqueue_settled(q, 2);
	assert_int_equal(fwdqueue_failing(q, last, sizeof(last)), 0);
	assert_string_equal(last, "");
	/* Stopped: what waits is freed, never called back. */
	fwdqueue_stop(q);
	fwdqueue_free(q);
	assert_int_equal(c.n, 1);
	event_base_free(c.base);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_backoff),
		cmocka_unit_test(test_retry_and_failing),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
