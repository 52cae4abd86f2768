/*
 * sandbox — system call filters (seccomp-BPF, through libseccomp) for the
 * broker's helper processes, in the spirit of OpenBSD's pledge("stdio").
 *
 * A filter is for the rest of the process's life and is inherited by any
 * child: enter it last, once the process holds every descriptor, key and
 * page it needs. The default action is to kill the whole process (as by
 * SIGSYS, a core file only if it is still dumpable), so a violation is
 * never an error code that buggy or hostile code could retry around.
 *
 * In builds with a sanitizer (meson -Db_sanitize=..., or any ASan build;
 * SANDBOX_SANITIZER is then defined for the module and for the code that
 * includes this header), the filter also lets the sanitizer runtime print
 * its report, and open, openat, readlink, readlinkat and ioctl fail with
 * an error instead of killing: see sandbox.c.
 */
#ifndef SEKISHO_SANDBOX_H
#define SEKISHO_SANDBOX_H

#include <stddef.h>

/* An ASan build made without meson's b_sanitize gets the same list. */
#if !defined(SANDBOX_SANITIZER) && defined(__SANITIZE_ADDRESS__)
#define SANDBOX_SANITIZER 1
#endif
#if !defined(SANDBOX_SANITIZER) && defined(__has_feature)
#if __has_feature(address_sanitizer)
#define SANDBOX_SANITIZER 1
#endif
#endif

/*
 * Confines the calling process to what the audit checkpoint signer's
 * request loop needs: read and write on chan (its socket) only, memory for
 * the allocator (never executable), the clock, getrandom, and exit. Opening
 * files, sockets, exec, fork, kill, ioctl and every other system call kill
 * the process. Sets PR_SET_NO_NEW_PRIVS. Call from a process with one
 * thread.
 *
 * Returns 0 once the filter is in force; -1 with a message in err when it
 * could not be built or loaded (then nothing is installed, and the caller
 * must not go on unconfined).
 */
int sandbox_enter_signer(int chan, char *err, size_t errlen);

/*
 * The same for the TLS key process (tlskey.h), which also needs getpid:
 * OpenSSL checks it before each ECDSA signature's random nonce.
 */
int sandbox_enter_tlskey(int chan, char *err, size_t errlen);

#endif
