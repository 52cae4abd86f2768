/*
 * sandbox — see sandbox.h.
 *
 * The audit signer's filter is an allow-list; anything else kills the
 * process (SCMP_ACT_KILL_PROCESS, also for a system call made through
 * another architecture's calling convention, such as int 0x80 or x32 on
 * x86-64). The list comes from tracing the signer (strace -f) through the
 * audit trail and upload integration tests, in the release build and in
 * the ASan+UBSan build, and from what glibc and OpenSSL may do on paths a
 * short trace does not reach. After start-up the signer's loop made only
 * read(3), write(3) and, at the end, exit_group; everything else below is
 * there so that an allocator or clock path taken on another machine or
 * after a long run does not end the signer, which would stop the broker's
 * uploads (the trail goes unhealthy) until a restart.
 *
 *   read, write      only on the channel descriptor: the requests and the
 *                    answers. Not stderr: the signer logs nothing once it
 *                    serves, and a taken-over signer must not be able to
 *                    write lines into the broker's log.
 *   exit_group, exit _exit() at the end of the channel.
 *   brk              glibc malloc's main arena grows and trims by brk.
 *   mmap             anonymous memory only, never PROT_EXEC: malloc's large
 *                    chunks, and its fallback when brk fails. No file can
 *                    be mapped (the signer has no file descriptor besides
 *                    the socket and stderr anyway).
 *   mprotect         never PROT_EXEC: malloc's heaps outside the main arena.
 *   munmap, mremap   freeing and growing mmap'd chunks (realloc).
 *   madvise          MADV_DONTNEED and MADV_FREE (returning freed memory),
 *                    MADV_HUGEPAGE and MADV_NOHUGEPAGE (glibc's hugetlb
 *                    tunable); not the advice values that act beyond the
 *                    process's own pages (MADV_HWPOISON and the like).
 *   clock_gettime, gettimeofday, time
 *                    normally answered by the vDSO without a system call;
 *                    on a machine whose clock source the vDSO cannot read
 *                    (some hypervisors) glibc falls back to the call.
 *   getrandom        not seen: Ed25519 signatures are deterministic. It
 *                    reaches nothing outside the process, and it keeps a
 *                    reseed of OpenSSL's random generator from killing the
 *                    signer.
 *   rt_sigreturn     the return from any signal handler.
 *
 * Not allowed, among others: open/openat, socket, connect, sendmsg,
 * recvmsg (no descriptor can come in over the socket), dup, fcntl, ioctl,
 * execve, clone/fork, kill/tgkill, ptrace, prctl, seccomp, futex (the
 * signer has one thread), poll (it blocks in read).
 *
 * With a sanitizer (SANDBOX_SANITIZER), the runtimes of ASan, LSan and
 * UBSan also make calls of their own, traced the same way and by making a
 * confined child report a heap overflow and an integer overflow: they
 * print the report to stderr, take their internal locks, and, with
 * abort_on_error=1, abort.
 *
 *   write on stderr (2), getpid, gettid, sched_yield, futex, sigaltstack
 *   (the _exit interceptor looks at it), rt_sigprocmask and tgkill on this
 *   process (abort), madvise with any advice (the allocator's
 *   MADV_DONTDUMP, MADV_NOHUGEPAGE...).
 *
 * The report's symbolizer opens /proc/self/maps and the executable and
 * reads /proc/self/exe: open, openat, readlink and readlinkat fail with
 * EACCES there instead of killing, so the report still comes out, with
 * raw addresses (they would fail anyway: RLIMIT_NOFILE is 0). ioctl fails
 * with ENOTTY (the runtime asks whether stderr is a terminal, for colour).
 * Everything else still kills, so a sanitizer build confines the signer as
 * tightly otherwise.
 */
#include "broker/sandbox.h"
#include "lib/util.h"

#include <sys/mman.h>

#include <errno.h>
#include <string.h>
#include <unistd.h>

#include <seccomp.h>

struct sandbox_call {
	const char *name;
	int nr;
};

#define CALL(x) { #x, SCMP_SYS(x) }

/* Allowed with any arguments. */
static const struct sandbox_call signer_calls[] = {
	CALL(exit_group),
	CALL(exit),
	CALL(brk),
	CALL(munmap),
	CALL(mremap),
	CALL(clock_gettime),
	CALL(gettimeofday),
	CALL(time),
	CALL(getrandom),
	CALL(rt_sigreturn),
};

#ifndef SANDBOX_SANITIZER
static const int signer_madvise[] = {
	MADV_DONTNEED, MADV_FREE, MADV_HUGEPAGE, MADV_NOHUGEPAGE,
};
#else
static const struct sandbox_call sanitizer_calls[] = {
	CALL(getpid),
	CALL(gettid),
	CALL(sched_yield),
	CALL(futex),
	CALL(sigaltstack),
	CALL(rt_sigprocmask),
	CALL(madvise),
};

/* Fail with EACCES instead of killing. */
static const struct sandbox_call sanitizer_denied[] = {
	CALL(open),
	CALL(openat),
	CALL(readlink),
	CALL(readlinkat),
};
#endif

static int
add_rule(scmp_filter_ctx ctx, uint32_t action, const char *name, int nr,
    unsigned int argc, const struct scmp_arg_cmp *arg, char *err,
    size_t errlen)
{
	int rc;

	rc = seccomp_rule_add_array(ctx, action, nr, argc, arg);
	if (rc != 0)
		return util_err(err, errlen, "seccomp: cannot add the rule for "
		    "%s: %s", name, strerror(-rc));
	return 0;
}

static int
add_calls(scmp_filter_ctx ctx, uint32_t action,
    const struct sandbox_call *calls, size_t n, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < n; i++)
		if (add_rule(ctx, action, calls[i].name, calls[i].nr, 0, NULL,
		    err, errlen) != 0)
			return -1;
	return 0;
}

static int
add_fd_rule(scmp_filter_ctx ctx, const char *name, int nr, int fd,
    char *err, size_t errlen)
{
	struct scmp_arg_cmp arg[1] = {
		SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)fd, 0),
	};

	return add_rule(ctx, SCMP_ACT_ALLOW, name, nr, 1, arg, err, errlen);
}

#ifndef SANDBOX_SANITIZER
static int
add_madvise_rules(scmp_filter_ctx ctx, char *err, size_t errlen)
{
	size_t i;

	for (i = 0; i < sizeof(signer_madvise) / sizeof(signer_madvise[0]);
	    i++) {
		struct scmp_arg_cmp arg[1] = {
			SCMP_A2(SCMP_CMP_EQ,
			    (scmp_datum_t)signer_madvise[i], 0),
		};

		if (add_rule(ctx, SCMP_ACT_ALLOW, "madvise", SCMP_SYS(madvise),
		    1, arg, err, errlen) != 0)
			return -1;
	}
	return 0;
}
#else
static int
add_sanitizer_rules(scmp_filter_ctx ctx, int chan, char *err, size_t errlen)
{
	struct scmp_arg_cmp self[1] = {
		SCMP_A0(SCMP_CMP_EQ, (scmp_datum_t)getpid(), 0),
	};

	if (add_calls(ctx, SCMP_ACT_ALLOW, sanitizer_calls,
	    sizeof(sanitizer_calls) / sizeof(sanitizer_calls[0]), err,
	    errlen) != 0 ||
	    add_calls(ctx, SCMP_ACT_ERRNO(EACCES), sanitizer_denied,
	    sizeof(sanitizer_denied) / sizeof(sanitizer_denied[0]), err,
	    errlen) != 0 ||
	    add_rule(ctx, SCMP_ACT_ERRNO(ENOTTY), "ioctl", SCMP_SYS(ioctl), 0,
	    NULL, err, errlen) != 0 ||
	    add_rule(ctx, SCMP_ACT_ALLOW, "tgkill", SCMP_SYS(tgkill), 1, self,
	    err, errlen) != 0)
		return -1;
	if (chan != STDERR_FILENO && add_fd_rule(ctx, "write",
	    SCMP_SYS(write), STDERR_FILENO, err, errlen) != 0)
		return -1;
	return 0;
}
#endif

static int
add_signer_rules(scmp_filter_ctx ctx, int chan, char *err, size_t errlen)
{
	struct scmp_arg_cmp mmap_arg[2] = {
		SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0),
		SCMP_A3(SCMP_CMP_MASKED_EQ, MAP_ANONYMOUS, MAP_ANONYMOUS),
	};
	struct scmp_arg_cmp mprotect_arg[1] = {
		SCMP_A2(SCMP_CMP_MASKED_EQ, PROT_EXEC, 0),
	};

	if (add_calls(ctx, SCMP_ACT_ALLOW, signer_calls,
	    sizeof(signer_calls) / sizeof(signer_calls[0]), err, errlen) != 0 ||
	    add_fd_rule(ctx, "read", SCMP_SYS(read), chan, err, errlen) != 0 ||
	    add_fd_rule(ctx, "write", SCMP_SYS(write), chan, err, errlen) != 0 ||
	    add_rule(ctx, SCMP_ACT_ALLOW, "mmap", SCMP_SYS(mmap), 2, mmap_arg,
	    err, errlen) != 0 ||
	    add_rule(ctx, SCMP_ACT_ALLOW, "mprotect", SCMP_SYS(mprotect), 1,
	    mprotect_arg, err, errlen) != 0)
		return -1;
#ifndef SANDBOX_SANITIZER
	return add_madvise_rules(ctx, err, errlen);
#else
	return add_sanitizer_rules(ctx, chan, err, errlen);
#endif
}

/* The signer's list, plus extra (NULL: none). */
static int
enter(int chan, const struct sandbox_call *extra, size_t nextra, char *err,
    size_t errlen)
{
	scmp_filter_ctx ctx;
	int rc;

	if (chan < 0)
		return util_err(err, errlen, "seccomp: no channel descriptor");
	if ((ctx = seccomp_init(SCMP_ACT_KILL_PROCESS)) == NULL)
		return util_err(err, errlen, "seccomp: cannot make a filter "
		    "that kills the process (kernel or libseccomp too old?)");
	if ((rc = seccomp_attr_set(ctx, SCMP_FLTATR_ACT_BADARCH,
	    SCMP_ACT_KILL_PROCESS)) != 0) {
		seccomp_release(ctx);
		return util_err(err, errlen, "seccomp: cannot set the action for "
		    "foreign architectures: %s", strerror(-rc));
	}
	if (add_signer_rules(ctx, chan, err, errlen) != 0 ||
	    (extra != NULL && add_calls(ctx, SCMP_ACT_ALLOW, extra, nextra, err,
	    errlen) != 0)) {
		seccomp_release(ctx);
		return -1;
	}
	rc = seccomp_load(ctx);
	/* From here on the filter is in force: releasing the context is the
	 * first thing it allows (free). */
	seccomp_release(ctx);
	if (rc != 0)
		return util_err(err, errlen, "seccomp: cannot load the filter: "
		    "%s", strerror(-rc));
	return 0;
}

int
sandbox_enter_signer(int chan, char *err, size_t errlen)
{
	return enter(chan, NULL, 0, err, errlen);
}

int
sandbox_enter_tlskey(int chan, char *err, size_t errlen)
{
#ifndef SANDBOX_SANITIZER
	/* OpenSSL's random generator compares getpid() with the pid it was
	 * seeded in before every ECDSA nonce (fork safety); the sanitizer
	 * list already has it. */
	static const struct sandbox_call tlskey_calls[] = { CALL(getpid) };

	return enter(chan, tlskey_calls, 1, err, errlen);
#else
	return enter(chan, NULL, 0, err, errlen);
#endif
}
