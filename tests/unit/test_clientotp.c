/*
 * Unit tests for the client's step-up and policy tooling helpers:
 * client/otp.c (normalising and reading a one-time code) and the time
 * parser of client/explain.c.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "client/explain.h"
#include "client/otp.h"

static void
test_normalize(void **state)
{
	char out[OTP_MAX + 1];

	(void)state;
	assert_int_equal(otp_normalize("123456", out), 0);
	assert_string_equal(out, "123456");
	assert_int_equal(otp_normalize(" 123 456\n", out), 0);
	assert_string_equal(out, "123456");
	assert_int_equal(otp_normalize("123-456", out), 0);
	assert_string_equal(out, "123456");
	assert_int_equal(otp_normalize("12345678", out), 0);
	assert_int_equal(otp_normalize("12345", out), -1);
	assert_int_equal(otp_normalize("", out), -1);
	assert_int_equal(otp_normalize("12345a", out), -1);
	assert_int_equal(otp_normalize("１２３４５６", out), -1);
	assert_int_equal(otp_normalize("12345678901", out), -1);
}

static void
test_read_sources(void **state)
{
	char out[OTP_MAX + 1];
	struct i18n_msg err;
	int fds[2], saved;

	(void)state;
	assert_int_equal(otp_read("654 321", "", out, &err), 0);
	assert_string_equal(out, "654321");
	assert_int_equal(otp_read("nope", "", out, &err), -1);
	assert_non_null(strstr(err.en, "6 digits"));

	/* "-": one line from stdin. */
	assert_int_equal(pipe(fds), 0);
	assert_int_equal(write(fds[1], "111 222\nrest\n", 13), 13);
	close(fds[1]);
	saved = dup(STDIN_FILENO);
	assert_true(dup2(fds[0], STDIN_FILENO) >= 0);
	close(fds[0]);
	assert_int_equal(otp_read("-", "", out, &err), 0);
	assert_string_equal(out, "111222");
	/* The rest of the input is not a code. */
	assert_int_equal(otp_read("-", "", out, &err), -1);
	/* End of input. */
	assert_int_equal(otp_read("-", "", out, &err), -1);
	assert_non_null(strstr(err.en, "standard input"));
	assert_true(dup2(saved, STDIN_FILENO) >= 0);
	close(saved);
}

static void
test_parse_time(void **state)
{
	time_t t;

	(void)state;
	assert_int_equal(explain_parse_time("2026-11-24T10:30:00+09:00", &t),
	    0);
	assert_int_equal(t, 1795483800);
	assert_int_equal(explain_parse_time("2026-11-24T01:30:00Z", &t), 0);
	assert_int_equal(t, 1795483800);
	assert_int_equal(explain_parse_time("2026-11-24T01:30Z", &t), 0);
	assert_int_equal(t, 1795483800);
	assert_int_equal(explain_parse_time("2026-11-23T21:30:00-04:00", &t),
	    0);
	assert_int_equal(t, 1795483800);
	assert_int_equal(explain_parse_time("@1795483800", &t), 0);
	assert_int_equal(t, 1795483800);
	assert_int_equal(explain_parse_time("2026-02-31T10:00:00Z", &t), -1);
	assert_int_equal(explain_parse_time("2026-11-24T10:30:00", &t), -1);
	assert_int_equal(explain_parse_time("2026-11-24 25:00:00Z", &t), -1);
	assert_int_equal(explain_parse_time("2026-11-24T10:30:00+9:00", &t),
	    -1);
	assert_int_equal(explain_parse_time("@-5", &t), -1);
	assert_int_equal(explain_parse_time("@12x", &t), -1);
	assert_int_equal(explain_parse_time("tomorrow", &t), -1);
	assert_int_equal(explain_parse_time("", &t), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_normalize),
		cmocka_unit_test(test_read_sources),
		cmocka_unit_test(test_parse_time),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
