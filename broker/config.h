/*
 * config — the broker's configuration file (YAML).
 *
 * Every key is checked: unknown keys, wrong types and out-of-range values are
 * errors naming file, line and field, so a typo in a security setting can
 * never be silently ignored. Relative paths are resolved against the
 * directory of the configuration file. Limits not given take the embedded
 * defaults listed in docs/operations.md.
 *
 * Ownership: config_load returns a struct the caller frees with config_free.
 */
#ifndef SEKISHO_CONFIG_H
#define SEKISHO_CONFIG_H

#include <stddef.h>
#include <stdint.h>

struct config {
	char *path;			/* the file loaded */
	char *listen_host;		/* "127.0.0.1", "::1", "0.0.0.0" */
	char *listen_port;
	char *tls_cert;
	char *tls_key;
	char *tls_ca;
	char *tls_crl;
	char *spool_dir;
	char *state_db;
	char *audit_log;
	char *register_path;
	uint64_t max_file_size;		/* bytes */
	uint64_t max_connections;
	uint64_t handshake_timeout;	/* seconds */
	uint64_t idle_timeout;		/* seconds */
	uint64_t partial_ttl;		/* seconds a broken upload stays resumable */
	uint64_t min_free_space;	/* bytes the spool must keep free */
	uint64_t sync_interval;		/* bytes between durable checkpoints */
	/* stepup: TOTP step-up; key file NULL when the section is absent
	 * (then no step-up can succeed). */
	char *stepup_key_file;		/* AES-256 key sealing TOTP secrets */
	uint64_t stepup_max_failures;	/* consecutive failures before a lock */
	uint64_t stepup_lockout;	/* seconds of the first lock */
	uint64_t stepup_lockout_max;	/* cap of the doubling lock */
};

/* Loads and validates path. -1 with "file:line: field: problem" in err. */
int config_load(const char *path, struct config **out, char *err,
    size_t errlen);
void config_free(struct config *cfg);

#endif
