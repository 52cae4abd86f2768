/*
 * startcheck — every check of the configuration that decides whether the
 * broker may start, in one place: `sekishod --check-config` and the start
 * both call startcheck_run, so what one accepts the other accepts and a
 * refusal names the same reason (they used to be two lists, and a relative
 * notify command passed the one and stopped the other).
 *
 * What it checks, in order, stopping at the first error:
 *   - the interface register (policy_load) and its change digests: the
 *     file, or with register.mode approved the version in force from the
 *     state store (regapproval.h);
 *   - the TLS context: certificate, private key (mode 0600, as every key),
 *     CA, CRL, and the CRL's nextUpdate: an expired CRL refuses every
 *     client, so it is an error (crlwatch.h);
 *   - the audit keys (auditsvc_check);
 *   - the step-up key, when a stepup section is configured;
 *   - the notification sinks (notify_check: URL, command absolute and
 *     executable);
 *   - delivery: every service and path template (forward_check), each
 *     problem on its own line to `problems`;
 *   - the browsers' pages (web_load from web.root, or the installed
 *     directory, which may be absent).
 * A CRL within tls.crl_margin of its nextUpdate is not an error: the
 * caller reads sc->crl_next_update (a warning at --check-config, the
 * crlwatch log line and /health at run time).
 *
 * What it builds is what the broker then runs with (the policy, the TLS
 * context, the step-up context), so nothing is checked on one copy and used
 * from another.
 *
 * Ownership: on success the caller owns the objects in *sc and releases
 * them with startcheck_release (or takes them over and NULLs the fields).
 */
#ifndef SEKISHO_STARTCHECK_H
#define SEKISHO_STARTCHECK_H

#include <stddef.h>
#include <stdio.h>
#include <time.h>

#include <openssl/ssl.h>

struct config;
struct policy;
struct regdiff;
struct stepup;
struct web;

struct startcheck {
	struct policy *policy;
	struct regdiff *regdiff;
	SSL_CTX *ssl_ctx;
	struct stepup *stepup;		/* NULL without a stepup section */
	time_t crl_next_update;		/* earliest nextUpdate; 0: none */
	struct web *web;		/* the page table (web.h) */
	const char *web_root;		/* where it was read from (static or
					   cfg's) */
	size_t web_skipped;		/* entries never served (links, ...) */
};

/*
 * Runs every check above at time now. tls_key is the key process's key
 * (tlskey.h), or NULL to read tls.key here (--check-config, keys that stay
 * in the broker). Delivery problems are listed on problems. 0 with *sc
 * filled; -1 with the first problem in err ("see above" for delivery) and
 * *sc empty.
 */
int startcheck_run(const struct config *cfg, EVP_PKEY *tls_key, time_t now,
    FILE *problems, struct startcheck *sc, char *err, size_t errlen);

/*
 * The TLS part alone, for a reload (SIGHUP): a new context from cfg's tls
 * section, refused when its CRL has expired. *next_update as above.
 * NULL with err.
 */
SSL_CTX *startcheck_tls(const struct config *cfg, EVP_PKEY *tls_key,
    time_t now, time_t *next_update, char *err, size_t errlen);

/*
 * The register alone, read once so that the policy and the change
 * digests describe the same bytes even if the file is replaced while
 * being read. -1 with err, *p and *rd NULL.
 */
int startcheck_register(const char *path, struct policy **p,
    struct regdiff **rd, char *err, size_t errlen);

/*
 * register.mode approved: the version in force, read from the state store
 * (cfg->state_db), never the file on disk. -1 with err (naming
 * --register-bootstrap when none is installed), *p and *rd NULL.
 * startcheck_run calls this instead of startcheck_register in that mode.
 */
int startcheck_register_approved(const struct config *cfg, struct policy **p,
    struct regdiff **rd, char *err, size_t errlen);

void startcheck_release(struct startcheck *sc);

#endif
