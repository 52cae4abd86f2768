/*
 * tlskey — the broker's TLS private key, held by a separate process.
 *
 * The event-loop process parses everything terminals send; if it were ever
 * taken over, a key in its memory could be copied and the broker
 * impersonated long after. So, as OpenBSD relayd does, sekishod forks a key
 * process at start (after the audit signer, before any thread, socket or
 * state): it alone reads tls.key, then drops what it can (childproc.h) and
 * answers one request — "sign this digest" — with an ECDSA signature,
 * under a seccomp filter (sandbox_enter_tlskey: its socket, memory, the
 * clock, getpid and getrandom for OpenSSL's nonces, exit). The
 * broker's TLS context gets a key object that has the public half only and
 * whose signing operation asks the key process (an EC_KEY_METHOD; OpenSSL
 * 3 keeps such a key on its legacy path, which honours the method).
 *
 *   request   digest (20..64 bytes, the TLS 1.3 CertificateVerify hash)
 *   answer    '0' || DER ECDSA-Sig-Value, or '1' || reason
 *
 * Only EC keys (the project's PKI issues P-256) are separated. Other key
 * types are left to the broker process with a warning at start, as before.
 * The key process lives as long as the broker; a reload (SIGHUP) reuses it,
 * so a new certificate on reload must keep the same key — a new key needs
 * a restart. If the key process dies, every later handshake fails (fail
 * closed) and tlskey_alive turns false (the monitor's /health says so).
 *
 * Everything is used from the event-loop thread; a signature is a blocking
 * round trip of some tens of microseconds, bounded by TLSKEY_TIMEOUT_MS.
 */
#ifndef SEKISHO_TLSKEY_H
#define SEKISHO_TLSKEY_H

#include <stddef.h>

#include <openssl/evp.h>

#define TLSKEY_TIMEOUT_MS 2000
#define TLSKEY_MIN_DIGEST 20
#define TLSKEY_MAX_DIGEST 64
#define TLSKEY_MAX_ANSWER 4096

struct tlskey;

/*
 * Forks the key process for the PEM key at path. Call before any thread
 * exists. Returns 0 with *out; 1 with *out NULL and err saying why the key
 * stays in the broker (not an EC key); -1 with err when the key cannot be
 * used at all (unreadable, not a key).
 */
int tlskey_start(const char *path, struct tlskey **out, char *err,
    size_t errlen);

/*
 * Reads the unencrypted PEM private key at path, held to the rule of every
 * private key of the broker (util_open_key_file): a regular file, not a
 * symbolic link, that neither group nor others may access. The key
 * process uses it, and so does tlsserver_new when the key stays in the
 * broker (--check-config, non-EC keys), so both refuse the same files.
 * NULL with "tls.key PATH: reason" in err. The caller frees the key.
 */
EVP_PKEY *tlskey_read_file(const char *path, char *err, size_t errlen);

/* The key for SSL_CTX_use_PrivateKey: public half here, signatures by the
 * key process. Owned by k (SSL_CTX takes its own reference). */
EVP_PKEY *tlskey_pkey(struct tlskey *k);

/* False once the key process is gone or stopped answering properly. */
int tlskey_alive(struct tlskey *k);

/* Why it is not alive ("" while it is). */
const char *tlskey_failure(const struct tlskey *k);

/* Ends the key process and frees k. NULL is fine. */
void tlskey_stop(struct tlskey *k);

#endif
