/*
 * config — the broker's configuration file (YAML).
 *
 * Every key is checked: unknown keys, wrong types and out-of-range values are
 * errors naming file, line and field, so a typo in a security setting can
 * never be silently ignored. Relative paths are resolved against the
 * directory of the configuration file, made absolute (so every path in
 * struct config is absolute). Limits not given take the embedded
 * defaults listed in docs/operations.md.
 *
 * Ownership: config_load returns a struct the caller frees with config_free.
 */
#ifndef SEKISHO_CONFIG_H
#define SEKISHO_CONFIG_H

#include <stddef.h>
#include <stdint.h>

/*
 * delivery: how the broker reaches the specified cloud services. What is
 * approved (destination, trust, pins, path) is in the interface register;
 * how to get there is here: defaults, and overrides per service id.
 */
struct config_delivery {
	char *proxy;			/* "http://host:port" (CONNECT); NULL:
					   direct */
	uint64_t concurrency;		/* transfers at once, per service */
	uint64_t connect_timeout;	/* seconds: TCP, proxy and TLS */
	uint64_t stall_timeout;		/* seconds without a byte moving */
	uint64_t max_attempts;
	uint64_t max_age;		/* seconds from queued to giving up */
	uint64_t backoff_base;		/* seconds before the second attempt */
	uint64_t backoff_max;		/* seconds, cap of the backoff */
	uint64_t circuit_threshold;	/* consecutive failures that open it */
	uint64_t circuit_cooldown;	/* seconds it stays open */
	uint64_t multipart_threshold;	/* bytes from which S3 uses multipart */
	uint64_t part_size;		/* bytes per S3 part */
};

struct config_delivery_service {
	char *id;			/* service id of the register */
	unsigned line;
	struct config_delivery d;	/* the defaults with its overrides */
};

struct config {
	char *path;			/* the file loaded */
	char *listen_host;		/* "127.0.0.1", "::1", "0.0.0.0" */
	char *listen_port;
	char *tls_cert;
	char *tls_key;
	char *tls_ca;
	char *tls_crl;
	uint64_t tls_crl_margin;	/* seconds before the CRL's nextUpdate
					   at which /health turns degraded */
	char *spool_dir;
	char *state_db;
	char *audit_log;		/* the audit trail directory (key
					   audit_dir, or the legacy audit_log) */
	char *register_path;
	/* register: "file" runs the file at register_path as today (labs,
	 * the quick start); "approved" runs only versions approved in the
	 * state store (regapproval.h) and never the file by itself. */
	int register_approved;		/* 0: file, 1: approved */
	uint64_t register_proposal_ttl;	/* seconds a proposal waits before
					   it expires */
	uint64_t register_emergency_confirm;	/* seconds for a second
						   approver to confirm an
						   emergency change */
	uint64_t max_file_size;		/* bytes */
	uint64_t max_connections;
	uint64_t handshake_timeout;	/* seconds */
	uint64_t idle_timeout;		/* seconds */
	uint64_t partial_ttl;		/* seconds a broken upload stays resumable */
	uint64_t min_free_space;	/* bytes the spool must keep free */
	uint64_t sync_interval;		/* bytes between durable checkpoints */
	/* limits against exhaustion (handshakes, sources, refusals, session
	 * age); see docs/operations.md */
	uint64_t max_connections_per_source;
	uint64_t source_prefix_v6;	/* IPv6 sources counted by this prefix */
	uint64_t max_handshakes;	/* unauthenticated connections at once */
	uint64_t refusal_interval;	/* seconds refusals are counted into one
					   audit record per source */
	uint64_t max_session_lifetime;	/* seconds a connection may live */
	/* audit: the trail's signing key, segments, checkpoints, retention */
	char *audit_signing_key;	/* private key, read by the signer only */
	char *audit_verifier_key;	/* public key published for auditors */
	char *audit_name;		/* key name and checkpoint origin; NULL:
					   the key's own name */
	int audit_key_default;		/* no key path configured: the signer
					   may generate the pair at first start */
	uint64_t audit_segment_size;	/* bytes */
	uint64_t audit_checkpoint_records;
	uint64_t audit_checkpoint_interval;	/* seconds */
	uint64_t audit_retention;	/* seconds; 0: keep every segment */
	char *audit_archive_dir;	/* pruned segments go here; NULL: deleted */
	/* delivery */
	char *credentials_dir;		/* where credential names resolve */
	uint64_t delivery_retention;	/* seconds a spool copy outlives its
					   transfer's end */
	struct config_delivery delivery;	/* defaults */
	struct config_delivery_service *delivery_services;
	size_t ndelivery_services;
	/* stepup: TOTP step-up; key file NULL when the section is absent
	 * (then no step-up can succeed). */
	char *stepup_key_file;		/* AES-256 key sealing TOTP secrets */
	uint64_t stepup_max_failures;	/* consecutive failures before a lock */
	uint64_t stepup_lockout;	/* seconds of the first lock */
	uint64_t stepup_lockout_max;	/* cap of the doubling lock */
	/* approvals: approval officers (held transfers, exceptions) */
	uint64_t approvals_hold;	/* seconds a held transfer waits */
	uint64_t emergency_confirm;	/* seconds for a second officer to
					   confirm an emergency exception */
	uint64_t officer_stepup_max_age;	/* seconds an officer's step-up
						   counts */
	/* notify: who is told about held transfers and exceptions; NULL:
	 * that sink is off */
	char *notify_webhook;		/* https URL */
	char *notify_webhook_ca;	/* CA bundle of the receiver */
	uint64_t notify_retries;
	uint64_t notify_retry_delay;	/* seconds, doubling */
	uint64_t notify_timeout;	/* seconds per attempt */
	char *notify_command;		/* program run with the document */
	uint64_t notify_command_timeout;	/* seconds */
	/* monitor: the loopback HTTP endpoint for health checks and
	 * metrics; NULL: off. The host is a loopback address literal. */
	char *monitor_host;
	char *monitor_port;
	/* web: what browsers get over HTTP/2 (h2conn.h, web.h). web_root is
	 * the directory of the pages; NULL: the installed share directory,
	 * which may be absent (then no page is served). web_origin is the
	 * origin the browsers use ("https://host[:port]"); NULL: the
	 * request's own :authority. */
	char *web_root;
	char *web_origin;
};

/* Loads and validates path. -1 with "file:line: field: problem" in err. */
int config_load(const char *path, struct config **out, char *err,
    size_t errlen);
void config_free(struct config *cfg);

/* The delivery settings of a service: its overrides, else the defaults. */
const struct config_delivery *config_delivery_for(const struct config *cfg,
    const char *service);

#endif
