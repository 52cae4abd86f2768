/*
 * childproc — what the broker's key-holding child processes share: the
 * audit signer (auditsign) and the TLS key process (tlskey).
 *
 * Each child is forked before the broker has threads, keys or sockets,
 * talks to the broker over one socketpair, holds one private key, and
 * answers one kind of request. This module is their common ground:
 *
 *   - framing: a request is uint32 length (big-endian) || bytes; an answer
 *     is one status byte ('0' ok, '1' refused) || uint32 length || bytes.
 *     Every length is checked against the caller's bound before anything
 *     is read;
 *   - start-up hygiene in the child: die with the parent, ignore the
 *     service manager's group signals (the broker ends the child by closing
 *     the socket), keep only the channel (as fd 3) and stderr;
 *   - dropping what a key holder never needs: core dumps, ptrace, new
 *     privileges, new files, file writes, children;
 *   - reaping: close the channel, wait a moment, then SIGKILL.
 *
 * The parent's side of a channel is used from one thread at a time.
 */
#ifndef SEKISHO_CHILDPROC_H
#define SEKISHO_CHILDPROC_H

#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

#define CHILDPROC_OK '0'
#define CHILDPROC_REFUSED '1'
#define CHILDPROC_FD 3			/* the channel, in the child */

/* Writes all of buf. 0, or -1 (errno set). */
int childproc_write_full(int fd, const void *buf, size_t len);

/* Reads exactly len bytes; timeout_ms < 0 waits for ever. 0, or -1 on EOF
 * (errno EPIPE), error, or timeout (errno ETIMEDOUT). */
int childproc_read_full(int fd, void *buf, size_t len, int timeout_ms);

/* Sends a request: length || bytes. len must be 1..UINT32_MAX. */
int childproc_send_request(int fd, const void *buf, size_t len);

/* Reads a request of at most max bytes into buf: 0 with *len; -1 on EOF
 * or error; -2 when the announced length is out of 1..max (*len holds it;
 * the framing cannot be trusted any more, the child should end). Waits for
 * ever. */
int childproc_read_request(int fd, uint8_t *buf, size_t max, size_t *len);

/* Sends an answer; a payload longer than max is cut to max. */
int childproc_send_answer(int fd, char status, const void *payload,
    size_t len, size_t max);

/*
 * Reads an answer of at most max bytes within timeout_ms: 0 with *status
 * (CHILDPROC_OK or CHILDPROC_REFUSED) and *payload malloc'd,
 * NUL-terminated, owned by the caller. -1 with err naming who did not
 * answer (what, e.g. "the signer process").
 */
int childproc_read_answer(int fd, const char *what, size_t max,
    int timeout_ms, char *status, char **payload, size_t *len, char *err,
    size_t errlen);

/*
 * Parent, before any thread exists: forks a child that runs
 * child(chan, arg) (which must end with _exit; returning exits 1), and
 * reads the child's first answer — ready, or why it refused — within
 * timeout_ms, as childproc_read_answer does. 0 with *fd (the parent's end
 * of the channel), *pid and the answer (*payload the caller's); -1 with err
 * when the child could not be started or did not answer, the child then
 * reaped and how it ended said in err.
 */
int childproc_spawn(void (*child)(int chan, const void *arg),
    const void *arg, const char *who, size_t max, int timeout_ms, int *fd,
    pid_t *pid, char *status, char **payload, size_t *len, char *err,
    size_t errlen);

/*
 * In a freshly forked child: dies with the parent, ignores SIGTERM, SIGINT,
 * SIGHUP and SIGPIPE, moves fd to CHILDPROC_FD and closes every other
 * descriptor but stdin/stdout/stderr. Returns CHILDPROC_FD, or -1.
 */
int childproc_child_setup(int fd);

/* In the child, once its key is loaded: not dumpable, no new privileges,
 * no core, no file writes, no new descriptors, no children; cwd "/". */
void childproc_child_drop(void);

/* Parent: closes fd (if not -1) and reaps pid (if > 0): it should exit on
 * EOF; after 2 s it is killed. */
void childproc_stop(int fd, pid_t pid);

/*
 * Parent, after the channel to the child failed: if the child has ended
 * (waiting up to 1 s for it to finish exiting), reaps it, sets *pid to -1
 * and appends to err how it ended — a SIGSYS reads as a system call its
 * seccomp filter (or the service manager's) refused. who names it ("the
 * signer process"). Nothing changes while the child still runs.
 */
void childproc_explain_end(pid_t *pid, const char *who, char *err,
    size_t errlen);

#endif
