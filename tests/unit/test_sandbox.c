/*
 * Unit tests for broker/sandbox.c: a child that enters the signer's filter
 * can still do what the signer's loop does (read and write its channel,
 * allocate small and large blocks, read the clock, get random bytes, exit),
 * and is killed by SIGSYS as soon as it tries anything else: open a file,
 * make a socket, exec, fork, signal its parent, read or write another
 * descriptor, map executable or file-backed memory.
 *
 * Each case runs in a forked child that sends a marker byte on its channel
 * right before the call under test, so a kill is known to come from that
 * call and not from an earlier one.
 */
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/random.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/sandbox.h"

#define REACHED 'r'

struct confined {
	int status;		/* from waitpid */
	char out[64];		/* what the child wrote on its channel */
	size_t outlen;
};

/* The body runs confined; chan is its channel, other a pipe's write end
 * that it must not be able to use. */
typedef void (*body_fn)(int chan, int other);

static void
must_write(int fd, const void *buf, size_t len)
{
	if (write(fd, buf, len) != (ssize_t)len)
		_exit(98);
}

typedef int (*enter_fn)(int chan, char *err, size_t errlen);

static void
run_confined_in(enter_fn enter, body_fn body, const char *input,
    struct confined *c)
{
	struct rlimit zero = { 0, 0 };
	int sv[2], other[2];
	pid_t pid;

	memset(c, 0, sizeof(*c));
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	assert_int_equal(pipe(other), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		char err[256];

		close(sv[0]);
		close(other[0]);
		/* As the signer: a kill leaves no core file behind. */
		(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		(void)setrlimit(RLIMIT_CORE, &zero);
		if (enter(sv[1], err, sizeof(err)) != 0) {
			fprintf(stderr, "sandbox: %s\n", err);
			_exit(99);
		}
		body(sv[1], other[1]);
		_exit(0);
	}
	close(sv[1]);
	close(other[1]);
	if (input != NULL)
		assert_int_equal(write(sv[0], input, strlen(input)),
		    (ssize_t)strlen(input));
	for (;;) {
		ssize_t n = read(sv[0], c->out + c->outlen,
		    sizeof(c->out) - 1 - c->outlen);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			break;
		c->outlen += (size_t)n;
		if (c->outlen == sizeof(c->out) - 1)
			break;
	}
	c->out[c->outlen] = '\0';
	assert_int_equal(waitpid(pid, &c->status, 0), pid);
	close(sv[0]);
	close(other[0]);
}

static void
run_confined(body_fn body, const char *input, struct confined *c)
{
	run_confined_in(sandbox_enter_signer, body, input, c);
}

static void
assert_killed_by_filter(const struct confined *c)
{
	if (!WIFSIGNALED(c->status) || WTERMSIG(c->status) != SIGSYS)
		fail_msg("expected SIGSYS, got %s %d (output \"%s\")",
		    WIFSIGNALED(c->status) ? "signal" : "exit status",
		    WIFSIGNALED(c->status) ? WTERMSIG(c->status) :
		    WEXITSTATUS(c->status), c->out);
	/* Killed at the call under test, not before it. */
	assert_string_equal(c->out, "r");
}

/* ------------------------------------------------------------------ */
/* What the signer does */

static void
body_signer_loop(int chan, int other)
{
	struct timespec ts;
	uint8_t rnd[32];
	char req[4];
	char *small[1024], *big;
	size_t i;

	(void)other;
	/* Ready, then one request and its answer. */
	must_write(chan, "ready ", 6);
	if (read(chan, req, sizeof(req)) != (ssize_t)sizeof(req) ||
	    memcmp(req, "ping", 4) != 0)
		_exit(2);
	/* Small blocks that grow the heap by a few MiB (brk) and shrink it
	 * again when freed, a large one that malloc maps, and a realloc that
	 * moves or grows it. */
	for (i = 0; i < sizeof(small) / sizeof(small[0]); i++) {
		if ((small[i] = malloc(4096 + i)) == NULL)
			_exit(3);
		memset(small[i], 'x', 4096 + i);
	}
	for (i = 0; i < sizeof(small) / sizeof(small[0]); i++)
		free(small[i]);
	if ((big = malloc(1 << 20)) == NULL)
		_exit(4);
	memset(big, 'y', 1 << 20);
	if ((big = realloc(big, 8 << 20)) == NULL)
		_exit(5);
	big[(8 << 20) - 1] = 'z';
	free(big);
	if (clock_gettime(CLOCK_MONOTONIC, &ts) != 0 ||
	    clock_gettime(CLOCK_REALTIME, &ts) != 0 || time(NULL) == -1)
		_exit(6);
	if (getrandom(rnd, sizeof(rnd), 0) != (ssize_t)sizeof(rnd))
		_exit(7);
	must_write(chan, "pong", 4);
}

static void
test_signer_loop_runs(void **state)
{
	struct confined c;

	(void)state;
	run_confined(body_signer_loop, "ping", &c);
	if (!WIFEXITED(c.status) || WEXITSTATUS(c.status) != 0)
		fail_msg("confined child ended with %s %d (output \"%s\")",
		    WIFSIGNALED(c.status) ? "signal" : "exit status",
		    WIFSIGNALED(c.status) ? WTERMSIG(c.status) :
		    WEXITSTATUS(c.status), c.out);
	assert_string_equal(c.out, "ready pong");
}

/* The filter is in force while the child runs: /proc says so. */
static void
body_wait_for_eof(int chan, int other)
{
	char b;

	(void)other;
	must_write(chan, "ready", 5);
	while (read(chan, &b, 1) == 1)
		;
}

static void
test_proc_status_shows_filter(void **state)
{
	char path[64], line[256], buf[8];
	int sv[2], status, mode = -1;
	FILE *f;
	pid_t pid;

	(void)state;
	assert_int_equal(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
	pid = fork();
	assert_true(pid != -1);
	if (pid == 0) {
		char err[256];

		close(sv[0]);
		if (sandbox_enter_signer(sv[1], err, sizeof(err)) != 0)
			_exit(99);
		body_wait_for_eof(sv[1], -1);
		_exit(0);
	}
	close(sv[1]);
	assert_int_equal(read(sv[0], buf, 5), 5);
	snprintf(path, sizeof(path), "/proc/%d/status", (int)pid);
	assert_non_null(f = fopen(path, "r"));
	while (fgets(line, sizeof(line), f) != NULL)
		if (strncmp(line, "Seccomp:", 8) == 0)
			mode = atoi(line + 8);
	fclose(f);
	close(sv[0]);
	assert_int_equal(waitpid(pid, &status, 0), pid);
	assert_true(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	assert_int_equal(mode, 2);	/* SECCOMP_MODE_FILTER */
}

/* ------------------------------------------------------------------ */
/* What it must not do */

static void
body_open(int chan, int other)
{
	int fd;

	(void)other;
	must_write(chan, "r", 1);
	fd = open("/etc/hostname", O_RDONLY);
	/* Only a sanitizer build gets here (see sandbox.c). */
	must_write(chan, fd == -1 && errno == EACCES ? "E" : "O", 1);
}

static void
test_open_is_refused(void **state)
{
	struct confined c;

	(void)state;
	run_confined(body_open, NULL, &c);
#ifdef SANDBOX_SANITIZER
	/* The sanitizer's report may look at /proc: the call fails instead. */
	assert_true(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
	assert_string_equal(c.out, "rE");
#else
	assert_killed_by_filter(&c);
#endif
}

static void
body_openat_dir(int chan, int other)
{
	(void)other;
	must_write(chan, "r", 1);
	(void)openat(AT_FDCWD, "/", O_RDONLY | O_DIRECTORY);
	must_write(chan, "!", 1);
}

static void
body_socket(int chan, int other)
{
	(void)other;
	must_write(chan, "r", 1);
	(void)socket(AF_INET, SOCK_STREAM, 0);
}

static void
body_exec(int chan, int other)
{
	char *argv[] = { "true", NULL }, *envp[] = { NULL };

	(void)other;
	must_write(chan, "r", 1);
	(void)execve("/bin/true", argv, envp);
}

static void
body_fork(int chan, int other)
{
	pid_t pid;

	(void)other;
	must_write(chan, "r", 1);
	if ((pid = fork()) == 0)
		_exit(0);
}

static void
body_kill_parent(int chan, int other)
{
	(void)other;
	must_write(chan, "r", 1);
	(void)kill(getppid(), 0);
}

static void
body_write_other(int chan, int other)
{
	must_write(chan, "r", 1);
	if (write(other, "x", 1) == 1)
		must_write(chan, "!", 1);
}

static void
body_read_stdin(int chan, int other)
{
	char b;

	(void)other;
	must_write(chan, "r", 1);
	if (read(STDIN_FILENO, &b, 0) >= 0)
		must_write(chan, "!", 1);
}

static void
body_dup(int chan, int other)
{
	(void)other;
	must_write(chan, "r", 1);
	if (dup(chan) >= 0)
		must_write(chan, "!", 1);
}

static void
body_mmap_exec(int chan, int other)
{
	(void)other;
	must_write(chan, "r", 1);
	(void)mmap(NULL, 4096, PROT_READ | PROT_EXEC,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
}

static void
body_mmap_file(int chan, int other)
{
	must_write(chan, "r", 1);
	(void)mmap(NULL, 4096, PROT_READ, MAP_SHARED, other, 0);
}

static void
body_mprotect_exec(int chan, int other)
{
	void *p;

	(void)other;
	p = mmap(NULL, 4096, PROT_READ | PROT_WRITE,
	    MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
	if (p == MAP_FAILED)
		_exit(3);
	must_write(chan, "r", 1);
	(void)mprotect(p, 4096, PROT_READ | PROT_EXEC);
}

static void
body_prctl(int chan, int other)
{
	(void)other;
	must_write(chan, "r", 1);
	(void)prctl(PR_SET_DUMPABLE, 1, 0, 0, 0);
}

static void
test_forbidden_calls_kill(void **state)
{
	static const struct {
		const char *name;
		body_fn body;
	} cases[] = {
		{ "socket", body_socket },
		{ "execve", body_exec },
		{ "fork", body_fork },
		{ "kill", body_kill_parent },
		{ "write to another descriptor", body_write_other },
		{ "read from stdin", body_read_stdin },
		{ "dup", body_dup },
		{ "mmap PROT_EXEC", body_mmap_exec },
		{ "mmap of a file", body_mmap_file },
		{ "mprotect PROT_EXEC", body_mprotect_exec },
		{ "prctl", body_prctl },
#ifndef SANDBOX_SANITIZER
		{ "openat", body_openat_dir },
#endif
	};
	struct confined c;
	size_t i;

	(void)state;
	(void)body_openat_dir;
	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		print_message("forbidden: %s\n", cases[i].name);
		run_confined(cases[i].body, NULL, &c);
		assert_killed_by_filter(&c);
	}
}

static void
body_getpid(int chan, int other)
{
	(void)other;
	must_write(chan, "r", 1);
	if (getpid() <= 0)
		_exit(2);
	must_write(chan, "p", 1);
}

/* The TLS key process's filter is the signer's plus getpid, which
 * OpenSSL's random generator calls before each ECDSA nonce. */
static void
test_tlskey_filter(void **state)
{
	struct confined c;

	(void)state;
	run_confined_in(sandbox_enter_tlskey, body_getpid, NULL, &c);
	assert_true(WIFEXITED(c.status) && WEXITSTATUS(c.status) == 0);
	assert_string_equal(c.out, "rp");
	run_confined_in(sandbox_enter_tlskey, body_socket, NULL, &c);
	assert_killed_by_filter(&c);
#ifndef SANDBOX_SANITIZER
	run_confined(body_getpid, NULL, &c);
	assert_killed_by_filter(&c);
#endif
}

static void
test_bad_channel(void **state)
{
	char err[256];

	(void)state;
	/* Refused before anything is installed: this process goes on. */
	assert_int_equal(sandbox_enter_signer(-1, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "channel"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_signer_loop_runs),
		cmocka_unit_test(test_proc_status_shows_filter),
		cmocka_unit_test(test_open_is_refused),
		cmocka_unit_test(test_forbidden_calls_kill),
		cmocka_unit_test(test_tlskey_filter),
		cmocka_unit_test(test_bad_channel),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
