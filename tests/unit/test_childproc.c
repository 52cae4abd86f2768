/*
 * Tests for broker/childproc.c, the channel between the broker and its
 * key-holding children: every length is checked before anything is read,
 * answers are bounded and time out, and a child that ends is reported the
 * way it ended.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <cmocka.h>

#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "broker/childproc.h"

static void
pair(int sv[2])
{
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
}

static void
test_request_lengths_are_checked(void **state)
{
	uint8_t buf[16];
	size_t len = 0;
	int sv[2];

	(void)state;
	pair(sv);
	assert_int_equal(childproc_send_request(sv[0], "digest", 6), 0);
	assert_int_equal(childproc_read_request(sv[1], buf, sizeof(buf),
	    &len), 0);
	assert_int_equal(len, 6);
	assert_memory_equal(buf, "digest", 6);
	/* A length of zero, or above the bound: -2, nothing read after the
	 * header, the length reported. */
	assert_int_equal(write(sv[0], "\0\0\0\0", 4), 4);
	assert_int_equal(childproc_read_request(sv[1], buf, sizeof(buf),
	    &len), -2);
	assert_int_equal(len, 0);
	assert_int_equal(write(sv[0], "\0\0\0\021", 4), 4);
	assert_int_equal(childproc_read_request(sv[1], buf, sizeof(buf),
	    &len), -2);
	assert_int_equal(len, 17);
	/* The peer gone: -1. */
	close(sv[0]);
	assert_int_equal(childproc_read_request(sv[1], buf, sizeof(buf),
	    &len), -1);
	close(sv[1]);
	assert_int_equal(childproc_send_request(sv[1], "x", 0), -1);
}

static void
test_answers_are_bounded(void **state)
{
	char status, *payload, err[256];
	size_t len;
	int sv[2];

	(void)state;
	pair(sv);
	assert_int_equal(childproc_send_answer(sv[1], CHILDPROC_OK, "sig", 3,
	    64), 0);
	assert_int_equal(childproc_read_answer(sv[0], "the child", 64, 1000,
	    &status, &payload, &len, err, sizeof(err)), 0);
	assert_int_equal(status, CHILDPROC_OK);
	assert_int_equal(len, 3);
	assert_string_equal(payload, "sig");
	free(payload);
	/* The sender cuts to its bound. */
	assert_int_equal(childproc_send_answer(sv[1], CHILDPROC_REFUSED,
	    "a long reason", 13, 6), 0);
	assert_int_equal(childproc_read_answer(sv[0], "the child", 64, 1000,
	    &status, &payload, &len, err, sizeof(err)), 0);
	assert_int_equal(status, CHILDPROC_REFUSED);
	assert_string_equal(payload, "a long");
	free(payload);
	/* Longer than the reader's bound, or an unknown status: refused. */
	assert_int_equal(childproc_send_answer(sv[1], CHILDPROC_OK, "0123456789",
	    10, 64), 0);
	assert_int_equal(childproc_read_answer(sv[0], "the child", 8, 1000,
	    &status, &payload, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "malformed answer from the child"));
	close(sv[0]);
	close(sv[1]);
	pair(sv);
	assert_int_equal(write(sv[1], "9\0\0\0\0", 5), 5);
	assert_int_equal(childproc_read_answer(sv[0], "the child", 8, 1000,
	    &status, &payload, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "malformed"));
	/* Silence: a timeout, not a wait for ever. */
	assert_int_equal(childproc_read_answer(sv[0], "the child", 8, 50,
	    &status, &payload, &len, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "timed out"));
	close(sv[0]);
	close(sv[1]);
}

static void
child_ready(int chan, const void *arg)
{
	(void)childproc_send_answer(chan, CHILDPROC_OK, arg, strlen(arg), 64);
	_exit(0);
}

static void
child_killed(int chan, const void *arg)
{
	(void)chan;
	(void)arg;
	/* The test runner catches SIGSYS in this process; the child must die
	 * of it, as under a filter. */
	signal(SIGSYS, SIG_DFL);
	raise(SIGSYS);
	_exit(0);
}

static void
test_spawn_and_how_a_child_ended(void **state)
{
	char status, *payload, err[512];
	size_t len;
	pid_t pid;
	int fd;

	(void)state;
	assert_int_equal(childproc_spawn(child_ready, "ready", "the child", 64,
	    5000, &fd, &pid, &status, &payload, &len, err, sizeof(err)), 0);
	assert_int_equal(status, CHILDPROC_OK);
	assert_string_equal(payload, "ready");
	free(payload);
	childproc_stop(fd, pid);
	/* Killed before its first answer, as by a seccomp filter. */
	assert_int_equal(childproc_spawn(child_killed, NULL, "the child", 64,
	    5000, &fd, &pid, &status, &payload, &len, err, sizeof(err)), -1);
	if (strstr(err, "the child was killed by SIGSYS") == NULL)
		fail_msg("%s", err);
	assert_int_equal(fd, -1);
	assert_int_equal(pid, -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_request_lengths_are_checked),
		cmocka_unit_test(test_answers_are_bounded),
		cmocka_unit_test(test_spawn_and_how_a_child_ended),
	};

	return cmocka_run_group_tests_name("childproc", tests, NULL, NULL);
}
