/*
 * childproc — see childproc.h. The model is OpenBSD relayd's "ca" process:
 * the process that talks to the network never holds the private keys; it
 * asks a small child that does, over a socket, with a framing simple enough
 * to check completely.
 */
#include "broker/childproc.h"
#include "lib/util.h"

#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#define STOP_WAIT_MS 2000

static void
put32(uint8_t out[4], uint32_t v)
{
	out[0] = (uint8_t)(v >> 24);
	out[1] = (uint8_t)(v >> 16);
	out[2] = (uint8_t)(v >> 8);
	out[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t in[4])
{
	return (uint32_t)in[0] << 24 | (uint32_t)in[1] << 16 |
	    (uint32_t)in[2] << 8 | in[3];
}

int
childproc_write_full(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
childproc_read_full(int fd, void *buf, size_t len, int timeout_ms)
{
	uint8_t *p = buf;
	struct timespec start, now;

	clock_gettime(CLOCK_MONOTONIC, &start);
	while (len > 0) {
		ssize_t n;

		if (timeout_ms >= 0) {
			struct pollfd pfd = { .fd = fd, .events = POLLIN };
			long left;
			int rc;

			clock_gettime(CLOCK_MONOTONIC, &now);
			left = timeout_ms - ((now.tv_sec - start.tv_sec) * 1000 +
			    (now.tv_nsec - start.tv_nsec) / 1000000);
			if (left <= 0) {
				errno = ETIMEDOUT;
				return -1;
			}
			rc = poll(&pfd, 1, (int)left);
			if (rc == -1 && errno == EINTR)
				continue;
			if (rc <= 0) {
				if (rc == 0)
					errno = ETIMEDOUT;
				return -1;
			}
		}
		n = read(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			if (n == 0)
				errno = EPIPE;
			return -1;
		}
		p += n;
		len -= (size_t)n;
	}
	return 0;
}

int
childproc_send_request(int fd, const void *buf, size_t len)
{
	uint8_t head[4];

	if (len == 0 || len > UINT32_MAX) {
		errno = EINVAL;
		return -1;
	}
	put32(head, (uint32_t)len);
	if (childproc_write_full(fd, head, sizeof(head)) != 0)
		return -1;
	return childproc_write_full(fd, buf, len);
}

int
childproc_read_request(int fd, uint8_t *buf, size_t max, size_t *len)
{
	uint8_t head[4];
	uint32_t n;

	if (childproc_read_full(fd, head, sizeof(head), -1) != 0)
		return -1;
	n = get32(head);
	if (n == 0 || n > max) {
		*len = n;
		return -2;
	}
	if (childproc_read_full(fd, buf, n, -1) != 0)
		return -1;
	*len = n;
	return 0;
}

int
childproc_send_answer(int fd, char status, const void *payload, size_t len,
    size_t max)
{
	uint8_t head[5];

	if (len > max)
		len = max;
	head[0] = (uint8_t)status;
	put32(head + 1, (uint32_t)len);
	if (childproc_write_full(fd, head, sizeof(head)) != 0)
		return -1;
	return len > 0 ? childproc_write_full(fd, payload, len) : 0;
}

int
childproc_read_answer(int fd, const char *what, size_t max, int timeout_ms,
    char *status, char **payload, size_t *len, char *err, size_t errlen)
{
	uint8_t head[5];
	uint32_t n;
	char *p;

	*payload = NULL;
	if (childproc_read_full(fd, head, sizeof(head), timeout_ms) != 0)
		return util_err(err, errlen, "no answer from %s (%s)", what,
		    errno == ETIMEDOUT ? "timed out" : errno == EPIPE ?
		    "it has exited" : strerror(errno));
	n = get32(head + 1);
	if ((head[0] != CHILDPROC_OK && head[0] != CHILDPROC_REFUSED) ||
	    n > max)
		return util_err(err, errlen, "malformed answer from %s", what);
	if ((p = malloc((size_t)n + 1)) == NULL)
		return util_err(err, errlen, "out of memory");
	if (n > 0 && childproc_read_full(fd, p, n, timeout_ms) != 0) {
		free(p);
		return util_err(err, errlen, "truncated answer from %s", what);
	}
	p[n] = '\0';
	*status = (char)head[0];
	*payload = p;
	*len = n;
	return 0;
}

int
childproc_child_setup(int fd)
{
	(void)prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	signal(SIGTERM, SIG_IGN);
	signal(SIGINT, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	signal(SIGPIPE, SIG_IGN);
	if (fd != CHILDPROC_FD) {
		if (dup2(fd, CHILDPROC_FD) == -1)
			return -1;
		close(fd);
	}
	(void)close_range(CHILDPROC_FD + 1, ~0U, 0);
	return CHILDPROC_FD;
}

void
childproc_child_drop(void)
{
	struct rlimit zero = { 0, 0 };

	(void)prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	(void)prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0);
	(void)setrlimit(RLIMIT_CORE, &zero);
	(void)setrlimit(RLIMIT_FSIZE, &zero);
	(void)setrlimit(RLIMIT_NPROC, &zero);
	(void)setrlimit(RLIMIT_NOFILE, &zero);
	if (chdir("/") != 0)
		return;
}

void
childproc_stop(int fd, pid_t pid)
{
	int i, status;

	if (fd != -1)
		close(fd);
	if (pid <= 0)
		return;
	/* It exits on EOF; give it a moment, then insist. */
	for (i = 0; i < STOP_WAIT_MS / 10; i++) {
		pid_t r = waitpid(pid, &status, WNOHANG);

		if (r == pid || (r == -1 && errno != EINTR))
			return;
		usleep(10000);
	}
	kill(pid, SIGKILL);
	waitpid(pid, &status, 0);
}

void
childproc_explain_end(pid_t *pid, const char *who, char *err, size_t errlen)
{
	char first[512];
	pid_t r = 0;
	int i, status;

	if (*pid <= 0)
		return;
	for (i = 0; i < 100; i++) {
		r = waitpid(*pid, &status, WNOHANG);
		if (r != 0 && !(r == -1 && errno == EINTR))
			break;
		usleep(10000);
	}
	if (r != *pid)
		return;
	*pid = -1;
	util_strlcpy(first, err, sizeof(first));
	if (WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS)
		util_err(err, errlen, "%s; %s was killed by SIGSYS: it made a "
		    "system call that its seccomp filter, or the service "
		    "manager's, does not allow", first, who);
	else if (WIFSIGNALED(status))
		util_err(err, errlen, "%s; %s was killed by signal %d (%s)",
		    first, who, WTERMSIG(status), strsignal(WTERMSIG(status)));
	else if (WIFEXITED(status))
		util_err(err, errlen, "%s; %s exited with status %d", first,
		    who, WEXITSTATUS(status));
}

int
childproc_spawn(void (*child)(int chan, const void *arg), const void *arg,
    const char *who, size_t max, int timeout_ms, int *fd, pid_t *pid,
    char *status, char **payload, size_t *len, char *err, size_t errlen)
{
	int sv[2];

	*fd = -1;
	*pid = -1;
	*payload = NULL;
	if (socketpair(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0, sv) == -1)
		return util_err(err, errlen, "socketpair: %s", strerror(errno));
	/* Nothing buffered may be written twice. */
	fflush(NULL);
	if ((*pid = fork()) == -1) {
		close(sv[0]);
		close(sv[1]);
		return util_err(err, errlen, "fork: %s", strerror(errno));
	}
	if (*pid == 0) {
		close(sv[0]);
		child(sv[1], arg);
		_exit(1);
	}
	close(sv[1]);
	*fd = sv[0];
	if (childproc_read_answer(*fd, who, max, timeout_ms, status, payload,
	    len, err, errlen) != 0) {
		childproc_explain_end(pid, who, err, errlen);
		childproc_stop(*fd, *pid);
		*fd = -1;
		*pid = -1;
		return -1;
	}
	return 0;
}
