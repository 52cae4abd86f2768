/*
 * auditsign — the audit checkpoint signer: a separate process that alone
 * holds the Ed25519 private key.
 *
 * sekishod forks it at start, before it loads the TLS key, opens the state
 * or the trail, starts the commit thread or listens on any socket (the
 * model is OpenBSD relayd's "ca" process, which keeps the TLS keys away
 * from the processes that talk to the network). The child closes every
 * descriptor but its end of a socketpair (and stderr for its log lines),
 * loads the key, learns the latest checkpoint already signed from the trail
 * directory, then drops what it can: no core dumps, not dumpable, no new
 * privileges, no new files, no file writes, no child processes, and last a
 * seccomp filter (broker/sandbox.h) that allows only read and write on its
 * socket, memory for the allocator, the clock and exit: any other system
 * call kills it (SIGSYS), which the broker sees as a signer gone (below).
 * If the filter cannot be installed, the signer refuses to start. It
 * answers one kind of request only:
 *
 *   request   uint32 length (big-endian, 1..AUDITSIGN_MAX_REQUEST) ||
 *             checkpoint text
 *   answer    one status byte ('0' signed, '1' refused) ||
 *             uint32 length (big-endian, <= AUDITSIGN_MAX_ANSWER) ||
 *             signed note, or the reason for the refusal
 *
 * It signs only text that parses as a tlog-checkpoint with the configured
 * origin and no extension lines, whose tree size is not smaller than the
 * last it signed (rollback), and, at the same size, whose root is the same.
 * A request that breaks the framing ends the signer: the broker then cannot
 * sign, and its trail goes unhealthy (fail closed). So does a signer that
 * dies; the error of auditsign_start or auditsign_sign then says how it
 * ended (exit status, or the signal, SIGSYS for a filter violation).
 *
 * The parent's side is used from one thread at a time (the commit thread,
 * or the main thread while the commit thread is not running). The private
 * key never exists in the parent's memory.
 */
#ifndef SEKISHO_AUDITSIGN_H
#define SEKISHO_AUDITSIGN_H

#include <stddef.h>
#include <stdint.h>

#include "lib/note.h"

#define AUDITSIGN_MAX_REQUEST 1024
#define AUDITSIGN_MAX_ANSWER 4096
#define AUDITSIGN_TIMEOUT_MS 10000	/* for one answer */

struct auditsign;

struct auditsign_options {
	const char *signing_key;	/* private key file (0600) */
	const char *verifier_key;	/* public key file */
	const char *checkpoint_dir;	/* <trail>/checkpoints; may not exist */
	/* When the signing key file does not exist and this is set, the
	 * signer generates a key named name (and writes both files) instead
	 * of refusing to start. The broker sets it only for the default key
	 * paths. */
	int generate;
	const char *name;
};

/*
 * Forks and starts the signer. On success *vk is the signer's public key
 * (read from the verifier key file, which must match the private key).
 * *generated tells whether a new key pair was made. Call before any other
 * thread exists.
 */
int auditsign_start(const struct auditsign_options *opt,
    struct auditsign **out, struct note_verifier *vk, int *generated,
    char *err, size_t errlen);

/* Asks the signer to sign a checkpoint text: an audit_sign_fn (arg is the
 * struct auditsign). *note is malloc'd (NUL-terminated); the caller checks
 * it against the verifier key. */
int auditsign_sign(void *arg, const char *text, size_t len, char **note,
    size_t *notelen, char *err, size_t errlen);

/* Closes the channel and reaps the signer. */
void auditsign_stop(struct auditsign *s);

/* Generates a key pair named name into signing_key (0600) and
 * verifier_key (0644); refuses to replace either file. For
 * `sekishod --audit-keygen`. */
int auditsign_keygen(const char *name, const char *signing_key,
    const char *verifier_key, char *err, size_t errlen);

/* A default key name for this host: "<hostname>/sekisho-audit" with
 * characters a key name may not hold replaced by '-'. */
void auditsign_default_name(char *out, size_t outlen);

#endif
