/*
 * config — see config.h. A thin, strict reader over yamlnode: each section
 * lists the keys it accepts, so anything else is reported rather than
 * ignored.
 */
#include "broker/config.h"
#include "lib/util.h"
#include "lib/yamlnode.h"

#include <arpa/inet.h>
#include <errno.h>
#include <libgen.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <netinet/in.h>

#define DEFAULT_MAX_FILE_SIZE (4ull << 30)
#define DEFAULT_MAX_CONNECTIONS 1024
#define DEFAULT_HANDSHAKE_TIMEOUT 10
#define DEFAULT_MAX_PER_SOURCE 64
/* Three quarters of the slots, so a quarter stays for authenticated
 * sessions whatever unauthenticated peers do. */
#define DEFAULT_MAX_HANDSHAKES(c) \
	((c)->max_connections - (c)->max_connections / 4)
#define DEFAULT_REFUSAL_INTERVAL 60
#define DEFAULT_MAX_SESSION_LIFETIME (8 * 3600)
#define DEFAULT_IDLE_TIMEOUT 300
#define DEFAULT_PARTIAL_TTL (24 * 3600)
#define DEFAULT_MIN_FREE_SPACE (64ull << 20)
#define DEFAULT_SYNC_INTERVAL (64ull << 20)
#define DEFAULT_STEPUP_MAX_FAILURES 5
#define DEFAULT_STEPUP_LOCKOUT 30
#define DEFAULT_STEPUP_LOCKOUT_MAX 3600
#define MAX_STEPUP_LOCKOUT (30ull * 24 * 3600)
#define DEFAULT_APPROVALS_HOLD (72 * 3600)
#define DEFAULT_EMERGENCY_CONFIRM (24 * 3600)
#define DEFAULT_REGISTER_PROPOSAL_TTL (14 * 86400)
#define DEFAULT_REGISTER_EMERGENCY_CONFIRM (24 * 3600)
#define DEFAULT_OFFICER_STEPUP_MAX_AGE (5 * 60)
#define DEFAULT_NOTIFY_RETRIES 3
#define DEFAULT_NOTIFY_RETRY_DELAY 5
#define DEFAULT_NOTIFY_TIMEOUT 10
#define DEFAULT_CRL_MARGIN (7 * 86400)
#define MAX_CRL_MARGIN (365 * 86400ull)
/* delivery */
#define DEFAULT_CONCURRENCY 4
#define DEFAULT_CONNECT_TIMEOUT 15
#define DEFAULT_STALL_TIMEOUT 60
#define DEFAULT_MAX_ATTEMPTS 12
#define DEFAULT_MAX_AGE (72 * 3600)
#define DEFAULT_BACKOFF_BASE 5
#define DEFAULT_BACKOFF_MAX 900
#define DEFAULT_CIRCUIT_THRESHOLD 5
#define DEFAULT_CIRCUIT_COOLDOWN 60
#define DEFAULT_MULTIPART_THRESHOLD (64ull << 20)
#define DEFAULT_PART_SIZE (16ull << 20)
#define MIN_PART_SIZE (5ull << 20)	/* S3's smallest part but the last */
#define MAX_PART_SIZE (5ull << 30)
#define MAX_DELIVERY_SERVICES 1000
#define DEFAULT_AUDIT_SEGMENT (64ull << 20)
#define DEFAULT_AUDIT_CP_RECORDS 1000
#define DEFAULT_AUDIT_CP_INTERVAL 60
/* Timeouts end up in time_t timers and int64_t expiry arithmetic, where a
 * value near 2^64 turns negative and would expire every upload at once. */
#define MAX_TIMEOUT 2147483647ull

void
config_free(struct config *cfg)
{
	if (cfg == NULL)
		return;
	free(cfg->path);
	free(cfg->listen_host);
	free(cfg->listen_port);
	free(cfg->monitor_host);
	free(cfg->monitor_port);
	free(cfg->tls_cert);
	free(cfg->tls_key);
	free(cfg->tls_ca);
	free(cfg->tls_crl);
	free(cfg->spool_dir);
	free(cfg->state_db);
	free(cfg->audit_log);
	free(cfg->audit_signing_key);
	free(cfg->audit_verifier_key);
	free(cfg->audit_name);
	free(cfg->audit_archive_dir);
	free(cfg->register_path);
	free(cfg->credentials_dir);
	free(cfg->delivery.proxy);
	if (cfg->delivery_services != NULL) {
		size_t i;

		for (i = 0; i < cfg->ndelivery_services; i++) {
			free(cfg->delivery_services[i].id);
			free(cfg->delivery_services[i].d.proxy);
		}
		free(cfg->delivery_services);
	}
	free(cfg->stepup_key_file);
	free(cfg->notify_webhook);
	free(cfg->notify_webhook_ca);
	free(cfg->notify_command);
	free(cfg->web_root);
	free(cfg->web_origin);
	free(cfg);
}

/* Resolves a path from the file against the config file's directory. */
static int
get_path(const struct yamlnode_doc *doc, const struct yamlnode *map,
    const char *key, const char *where, const char *basedir, char **out,
    char *err, size_t errlen)
{
	const char *v = NULL;
	int rc = yamlnode_get_str(doc, map, key, PATH_MAX - 1, &v, err, errlen);

	if (rc < 0)
		return -1;
	if (rc == 1 || v[0] == '\0')
		return util_err(err, errlen, "%s:%u: %s: field '%s' is required "
		    "(a file or directory path)", doc->path,
		    map != NULL ? map->line : 1, where, key);
	if (v[0] == '/')
		*out = strdup(v);
	else if (asprintf(out, "%s/%s", basedir, v) < 0)
		*out = NULL;
	if (*out == NULL)
		return util_err(err, errlen, "out of memory");
	return 0;
}

/* The trail directory: audit_dir, or audit_log as it was called when the
 * trail was one file (now the same directory). */
static int
parse_audit_dir(const struct yamlnode_doc *doc, const struct yamlnode *root,
    const char *basedir, struct config *cfg, char *err, size_t errlen)
{
	const struct yamlnode *dir = yamlnode_get(root, "audit_dir");
	const struct yamlnode *log = yamlnode_get(root, "audit_log");

	if (dir != NULL && log != NULL)
		return util_err(err, errlen, "%s:%u: give audit_dir only "
		    "(audit_log is its former name)", doc->path, log->line);
	return get_path(doc, root, log != NULL ? "audit_log" : "audit_dir",
	    "top level", basedir, &cfg->audit_log, err, errlen);
}

/* Optional path: 1 when absent (*out untouched). */
static int
get_opt_path(const struct yamlnode_doc *doc, const struct yamlnode *map,
    const char *key, const char *where, const char *basedir, char **out,
    char *err, size_t errlen)
{
	if (yamlnode_get(map, key) == NULL)
		return 1;
	free(*out);
	*out = NULL;
	return get_path(doc, map, key, where, basedir, out, err, errlen);
}

static int
parse_audit(const struct yamlnode_doc *doc, const struct yamlnode *au,
    const char *basedir, struct config *cfg, char *err, size_t errlen)
{
	static const char *const keys[] = { "signing_key", "verifier_key",
	    "name", "segment_size", "checkpoint_records",
	    "checkpoint_interval", "retention", "archive_dir", NULL };
	const char *name = NULL;
	int rc;

	if (asprintf(&cfg->audit_signing_key, "%s/audit-signing.key",
	    basedir) < 0 || asprintf(&cfg->audit_verifier_key,
	    "%s/audit-verifier.pub", basedir) < 0)
		return util_err(err, errlen, "out of memory");
	cfg->audit_key_default = 1;
	if (au == NULL)
		return 0;
	if (yamlnode_check_keys(doc, au, "audit", keys, err, errlen) != 0)
		return -1;
	if ((rc = get_opt_path(doc, au, "signing_key", "audit", basedir,
	    &cfg->audit_signing_key, err, errlen)) < 0)
		return -1;
	if (rc == 0)
		cfg->audit_key_default = 0;
	if (get_opt_path(doc, au, "verifier_key", "audit", basedir,
	    &cfg->audit_verifier_key, err, errlen) < 0 ||
	    get_opt_path(doc, au, "archive_dir", "audit", basedir,
	    &cfg->audit_archive_dir, err, errlen) < 0)
		return -1;
	if (yamlnode_get_str(doc, au, "name", 255, &name, err, errlen) < 0)
		return -1;
	if (name != NULL) {
		const unsigned char *p = (const unsigned char *)name;

		for (; *p != '\0'; p++)
			if (*p <= 0x20 || *p == '+' || *p == 0x7f)
				return util_err(err, errlen, "%s:%u: audit.name "
				    "must not contain spaces, '+' or control "
				    "characters (for example "
				    "\"audit.example-city.lg.jp/sekisho\")",
				    doc->path, au->line);
		if (name[0] == '\0' || (cfg->audit_name = strdup(name)) == NULL)
			return util_err(err, errlen, "%s:%u: audit.name must "
			    "not be empty", doc->path, au->line);
	}
	if (yamlnode_get_size(doc, au, "segment_size",
	    &cfg->audit_segment_size, err, errlen) < 0 ||
	    yamlnode_get_uint(doc, au, "checkpoint_records", 1, 100000000,
	    &cfg->audit_checkpoint_records, err, errlen) < 0 ||
	    yamlnode_get_duration(doc, au, "checkpoint_interval",
	    &cfg->audit_checkpoint_interval, err, errlen) < 0 ||
	    yamlnode_get_duration(doc, au, "retention", &cfg->audit_retention,
	    err, errlen) < 0)
		return -1;
	if (cfg->audit_segment_size < (4u << 10) ||
	    cfg->audit_segment_size > (1ull << 40))
		return util_err(err, errlen, "%s:%u: audit.segment_size must be "
		    "4KiB to 1TiB", doc->path, au->line);
	if (cfg->audit_checkpoint_interval == 0 ||
	    cfg->audit_checkpoint_interval > 86400)
		return util_err(err, errlen, "%s:%u: audit.checkpoint_interval "
		    "must be 1s to 1d", doc->path, au->line);
	if (cfg->audit_retention > MAX_TIMEOUT)
		return util_err(err, errlen, "%s:%u: audit.retention must be at "
		    "most %llu seconds", doc->path, au->line, MAX_TIMEOUT);
	return 0;
}

/*
 * Field key of map as "host:port" or "[v6]:port" into *host and *port
 * (malloc'd). 1 when the field is absent, 0 when read, -1 with err.
 */
static int
get_hostport(const struct yamlnode_doc *doc, const struct yamlnode *map,
    const char *key, const char *where, const char *example, char **host,
    char **port, char *err, size_t errlen)
{
	const struct yamlnode *n = yamlnode_get(map, key);
	const char *v = NULL, *colon;
	uint64_t num;
	char *end;
	int rc;

	if ((rc = yamlnode_get_str(doc, map, key, 300, &v, err, errlen)) != 0)
		return rc < 0 ? -1 : 1;
	/* "[::1]:8443" or "host:port" */
	if (v[0] == '[') {
		const char *close = strchr(v, ']');

		if (close == NULL || close == v + 1 || close[1] != ':')
			goto bad;
		*host = strndup(v + 1, (size_t)(close - v - 1));
		colon = close + 1;
	} else {
		/* An unbracketed IPv6 address ("fe80::1:443") is ambiguous. */
		colon = strchr(v, ':');
		if (colon == NULL || colon == v || strchr(colon + 1, ':') != NULL)
			goto bad;
		*host = strndup(v, (size_t)(colon - v));
	}
	/* Digits only: strtoull alone also takes blanks, a sign, and wraps
	 * "-18446744073709551615" around to 1. */
	if (colon[1] == '\0' || strlen(colon + 1) > 5 ||
	    strspn(colon + 1, "0123456789") != strlen(colon + 1))
		goto bad;
	num = strtoull(colon + 1, &end, 10);
	if (*end != '\0' || num == 0 || num > 65535)
		goto bad;
	if ((*port = strdup(colon + 1)) == NULL || *host == NULL)
		return util_err(err, errlen, "out of memory");
	return 0;
bad:
	free(*host);
	*host = NULL;
	return util_err(err, errlen, "%s:%u: %sfield '%s': '%s' is not "
	    "host:port (for example %s)", doc->path, n->line, where, key, v,
	    example);
}

static int
parse_listen(const struct yamlnode_doc *doc, const struct yamlnode *root,
    struct config *cfg, char *err, size_t errlen)
{
	int rc = get_hostport(doc, root, "listen", "", "\"127.0.0.1:8443\" or "
	    "\"[::1]:8443\"", &cfg->listen_host, &cfg->listen_port, err,
	    errlen);

	if (rc == 1)
		return util_err(err, errlen, "%s:1: field 'listen' is required "
		    "(for example \"127.0.0.1:8443\")", doc->path);
	return rc;
}

/*
 * The monitor answers anyone who can connect, without a certificate: it
 * may listen on a loopback address only, where the host's own monitoring
 * agent reads it. A name ("localhost") could resolve elsewhere, so only an
 * address literal is taken.
 */
static int
parse_monitor(const struct yamlnode_doc *doc, const struct yamlnode *mo,
    struct config *cfg, char *err, size_t errlen)
{
	static const char *const keys[] = { "listen", NULL };
	struct in_addr a4;
	struct in6_addr a6;
	int rc;

	if (mo == NULL)
		return 0;
	if (yamlnode_check_keys(doc, mo, "monitor", keys, err, errlen) != 0)
		return -1;
	rc = get_hostport(doc, mo, "listen", "monitor: ", "\"127.0.0.1:9464\"",
	    &cfg->monitor_host, &cfg->monitor_port, err, errlen);
	if (rc == 1)
		return util_err(err, errlen, "%s:%u: monitor: field 'listen' is "
		    "required (for example \"127.0.0.1:9464\")", doc->path,
		    mo->line);
	if (rc < 0)
		return -1;
	if (!(inet_pton(AF_INET, cfg->monitor_host, &a4) == 1 &&
	    (ntohl(a4.s_addr) >> 24) == 127) &&
	    !(inet_pton(AF_INET6, cfg->monitor_host, &a6) == 1 &&
	    IN6_IS_ADDR_LOOPBACK(&a6)))
		return util_err(err, errlen, "%s:%u: monitor.listen: '%s' is "
		    "not a loopback address; the monitor has no "
		    "authentication, so it listens on 127.0.0.1 or ::1 only",
		    doc->path, mo->line, cfg->monitor_host);
	return 0;
}

/*
 * web: root (a directory, resolved like the other paths) and origin, the
 * browsers' origin exactly as their Origin header gives it: https, a host,
 * an optional port, nothing else (it is compared byte for byte).
 */
static int
parse_web(const struct yamlnode_doc *doc, const struct yamlnode *we,
    const char *basedir, struct config *cfg, char *err, size_t errlen)
{
	static const char *const keys[] = { "root", "origin", NULL };
	const char *v = NULL, *p;
	int rc;

	if (we == NULL)
		return 0;
	if (yamlnode_check_keys(doc, we, "web", keys, err, errlen) != 0 ||
	    get_opt_path(doc, we, "root", "web", basedir, &cfg->web_root, err,
	    errlen) < 0)
		return -1;
	if ((rc = yamlnode_get_str(doc, we, "origin", 255, &v, err,
	    errlen)) < 0)
		return -1;
	if (rc == 1)
		return 0;
	if (strncmp(v, "https://", 8) != 0 || v[8] == '\0')
		return util_err(err, errlen, "%s:%u: web.origin: '%s' is not an "
		    "https origin (for example \"https://sekisho.example.lg.jp"
		    ":8443\")", doc->path, we->line, v);
	for (p = v + 8; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') ||
		    *p == '.' || *p == '-' || *p == ':' || *p == '[' ||
		    *p == ']'))
			return util_err(err, errlen, "%s:%u: web.origin: '%s': "
			    "only a lowercase host and an optional port may "
			    "follow https:// (no path, no trailing slash)",
			    doc->path, we->line, v);
	if ((cfg->web_origin = strdup(v)) == NULL)
		return util_err(err, errlen, "out of memory");
	return 0;
}

/* The limits against exhaustion: one source, unauthenticated handshakes,
 * refusals in the trail, the age of a session. */
static int
parse_exhaustion_limits(const struct yamlnode_doc *doc,
    const struct yamlnode *lim, struct config *cfg, char *err, size_t errlen)
{
	int hs;

	if (yamlnode_get_uint(doc, lim, "max_connections_per_source", 1,
	    1000000, &cfg->max_connections_per_source, err, errlen) < 0 ||
	    yamlnode_get_uint(doc, lim, "source_prefix_v6", 16, 128,
	    &cfg->source_prefix_v6, err, errlen) < 0 ||
	    (hs = yamlnode_get_uint(doc, lim, "max_handshakes", 1, 1000000,
	    &cfg->max_handshakes, err, errlen)) < 0 ||
	    yamlnode_get_duration(doc, lim, "refusal_interval",
	    &cfg->refusal_interval, err, errlen) < 0 ||
	    yamlnode_get_duration(doc, lim, "max_session_lifetime",
	    &cfg->max_session_lifetime, err, errlen) < 0)
		return -1;
	if (cfg->refusal_interval == 0 || cfg->refusal_interval > 86400)
		return util_err(err, errlen, "%s:%u: limits.refusal_interval "
		    "must be between 1s and 24h", doc->path, lim->line);
	if (cfg->max_session_lifetime == 0 ||
	    cfg->max_session_lifetime > MAX_TIMEOUT)
		return util_err(err, errlen, "%s:%u: limits.max_session_lifetime "
		    "must be between 1s and %llu seconds", doc->path, lim->line,
		    MAX_TIMEOUT);
	if (hs == 1)
		cfg->max_handshakes = DEFAULT_MAX_HANDSHAKES(cfg);
	else if (cfg->max_handshakes >= cfg->max_connections &&
	    cfg->max_connections > 1)
		return util_err(err, errlen, "%s:%u: limits.max_handshakes (%llu) "
		    "must be below limits.max_connections (%llu), so that "
		    "unauthenticated connections cannot take every slot",
		    doc->path, lim->line,
		    (unsigned long long)cfg->max_handshakes,
		    (unsigned long long)cfg->max_connections);
	return 0;
}

static int
parse_limits(const struct yamlnode_doc *doc, const struct yamlnode *lim,
    struct config *cfg, char *err, size_t errlen)
{
	static const char *const keys[] = { "max_file_size",
	    "max_connections", "handshake_timeout", "idle_timeout",
	    "partial_ttl", "min_free_space", "sync_interval",
	    "max_connections_per_source", "source_prefix_v6",
	    "max_handshakes", "refusal_interval", "max_session_lifetime",
	    NULL };

	if (lim == NULL) {
		cfg->max_handshakes = DEFAULT_MAX_HANDSHAKES(cfg);
		return 0;
	}
	if (yamlnode_check_keys(doc, lim, "limits", keys, err, errlen) != 0)
		return -1;
	if (yamlnode_get_size(doc, lim, "max_file_size", &cfg->max_file_size,
	    err, errlen) < 0 ||
	    yamlnode_get_uint(doc, lim, "max_connections", 1, 1000000,
	    &cfg->max_connections, err, errlen) < 0 ||
	    yamlnode_get_duration(doc, lim, "handshake_timeout",
	    &cfg->handshake_timeout, err, errlen) < 0 ||
	    yamlnode_get_duration(doc, lim, "idle_timeout", &cfg->idle_timeout,
	    err, errlen) < 0 ||
	    yamlnode_get_duration(doc, lim, "partial_ttl", &cfg->partial_ttl,
	    err, errlen) < 0 ||
	    yamlnode_get_size(doc, lim, "min_free_space", &cfg->min_free_space,
	    err, errlen) < 0 ||
	    yamlnode_get_size(doc, lim, "sync_interval", &cfg->sync_interval,
	    err, errlen) < 0)
		return -1;
	if (cfg->max_file_size == 0)
		return util_err(err, errlen, "%s:%u: limits.max_file_size must "
		    "be above 0", doc->path, lim->line);
	if (cfg->handshake_timeout == 0 || cfg->idle_timeout == 0 ||
	    cfg->partial_ttl == 0)
		return util_err(err, errlen, "%s:%u: limits: timeouts must be "
		    "above 0 seconds", doc->path, lim->line);
	if (cfg->handshake_timeout > MAX_TIMEOUT ||
	    cfg->idle_timeout > MAX_TIMEOUT || cfg->partial_ttl > MAX_TIMEOUT)
		return util_err(err, errlen, "%s:%u: limits.%s must be at most "
		    "%llu seconds", doc->path, lim->line,
		    cfg->handshake_timeout > MAX_TIMEOUT ? "handshake_timeout" :
		    cfg->idle_timeout > MAX_TIMEOUT ? "idle_timeout" :
		    "partial_ttl", MAX_TIMEOUT);
	if (cfg->sync_interval < (1u << 20))
		return util_err(err, errlen, "%s:%u: limits.sync_interval must "
		    "be at least 1MiB", doc->path, lim->line);
	return parse_exhaustion_limits(doc, lim, cfg, err, errlen);
}

static int
parse_stepup(const struct yamlnode_doc *doc, const struct yamlnode *su,
    const char *basedir, struct config *cfg, char *err, size_t errlen)
{
	static const char *const keys[] = { "key_file", "max_failures",
	    "lockout", "lockout_max", NULL };

	if (su == NULL)
		return 0;
	if (yamlnode_check_keys(doc, su, "stepup", keys, err, errlen) != 0 ||
	    get_path(doc, su, "key_file", "stepup", basedir,
	    &cfg->stepup_key_file, err, errlen) != 0 ||
	    yamlnode_get_uint(doc, su, "max_failures", 1, 100,
	    &cfg->stepup_max_failures, err, errlen) < 0 ||
	    yamlnode_get_duration(doc, su, "lockout", &cfg->stepup_lockout,
	    err, errlen) < 0 ||
	    yamlnode_get_duration(doc, su, "lockout_max",
	    &cfg->stepup_lockout_max, err, errlen) < 0)
		return -1;
	if (cfg->stepup_lockout == 0 ||
	    cfg->stepup_lockout > MAX_STEPUP_LOCKOUT ||
	    cfg->stepup_lockout_max > MAX_STEPUP_LOCKOUT)
		return util_err(err, errlen, "%s:%u: stepup: lockout and "
		    "lockout_max must be 1s to 30d", doc->path, su->line);
	if (cfg->stepup_lockout_max < cfg->stepup_lockout)
		return util_err(err, errlen, "%s:%u: stepup.lockout_max must be "
		    "at least stepup.lockout", doc->path, su->line);
	return 0;
}

/*
 * register: a path (the file mode, as before), or a mapping with path,
 * mode (file | approved), proposal_ttl and emergency_confirm. The default
 * mode stays "file" so configurations written before approvals keep
 * working; new installations set mode: approved (docs/policy.md).
 */
static int
parse_register(const struct yamlnode_doc *doc, const struct yamlnode *root,
    const char *basedir, struct config *cfg, char *err, size_t errlen)
{
	static const char *const keys[] = { "path", "mode", "proposal_ttl",
	    "emergency_confirm", NULL };
	const struct yamlnode *r = yamlnode_get(root, "register");
	const char *mode = NULL;
	int rc = 1;

	if (r == NULL || r->kind != YAMLNODE_MAP)
		return get_path(doc, root, "register", "top level", basedir,
		    &cfg->register_path, err, errlen);
	if (yamlnode_check_keys(doc, r, "register", keys, err, errlen) != 0 ||
	    get_path(doc, r, "path", "register", basedir, &cfg->register_path,
	    err, errlen) != 0 ||
	    (rc = yamlnode_get_str(doc, r, "mode", 16, &mode, err,
	    errlen)) < 0 ||
	    yamlnode_get_duration(doc, r, "proposal_ttl",
	    &cfg->register_proposal_ttl, err, errlen) < 0 ||
	    yamlnode_get_duration(doc, r, "emergency_confirm",
	    &cfg->register_emergency_confirm, err, errlen) < 0)
		return -1;
	if (rc == 0 && strcmp(mode, "approved") == 0)
		cfg->register_approved = 1;
	else if (rc == 0 && strcmp(mode, "file") != 0)
		return util_err(err, errlen, "%s:%u: register.mode must be "
		    "approved (only approved versions run; recommended) or "
		    "file (the file runs as it is, for labs)", doc->path,
		    r->line);
	if (cfg->register_proposal_ttl < 3600 ||
	    cfg->register_proposal_ttl > 90 * 86400ull)
		return util_err(err, errlen, "%s:%u: register.proposal_ttl "
		    "must be 1h to 90d", doc->path, r->line);
	if (cfg->register_emergency_confirm < 60 ||
	    cfg->register_emergency_confirm > 7 * 86400ull)
		return util_err(err, errlen, "%s:%u: "
		    "register.emergency_confirm must be 1m to 7d", doc->path,
		    r->line);
	return 0;
}

static int
parse_approvals(const struct yamlnode_doc *doc, const struct yamlnode *ap,
    struct config *cfg, char *err, size_t errlen)
{
	static const char *const keys[] = { "hold", "emergency_confirm",
	    "officer_stepup_max_age", NULL };

	if (ap == NULL)
		return 0;
	if (yamlnode_check_keys(doc, ap, "approvals", keys, err, errlen) != 0 ||
	    yamlnode_get_duration(doc, ap, "hold", &cfg->approvals_hold, err,
	    errlen) < 0 ||
	    yamlnode_get_duration(doc, ap, "emergency_confirm",
	    &cfg->emergency_confirm, err, errlen) < 0 ||
	    yamlnode_get_duration(doc, ap, "officer_stepup_max_age",
	    &cfg->officer_stepup_max_age, err, errlen) < 0)
		return -1;
	if (cfg->approvals_hold < 60 || cfg->approvals_hold > 90 * 86400ull)
		return util_err(err, errlen, "%s:%u: approvals.hold must be 1m "
		    "to 90d", doc->path, ap->line);
	if (cfg->emergency_confirm < 60 ||
	    cfg->emergency_confirm > 7 * 86400ull)
		return util_err(err, errlen, "%s:%u: approvals.emergency_confirm "
		    "must be 1m to 7d", doc->path, ap->line);
	if (cfg->officer_stepup_max_age < 30 ||
	    cfg->officer_stepup_max_age > 3600)
		return util_err(err, errlen, "%s:%u: "
		    "approvals.officer_stepup_max_age must be 30s to 1h",
		    doc->path, ap->line);
	return 0;
}

static int
parse_notify(const struct yamlnode_doc *doc, const struct yamlnode *no,
    const char *basedir, struct config *cfg, char *err, size_t errlen)
{
	static const char *const keys[] = { "webhook", "webhook_ca",
	    "retries", "retry_delay", "timeout", "command", "command_timeout",
	    NULL };
	const char *url = NULL;
	int rc;

	if (no == NULL)
		return 0;
	if (yamlnode_check_keys(doc, no, "notify", keys, err, errlen) != 0 ||
	    (rc = yamlnode_get_str(doc, no, "webhook", 2048, &url, err,
	    errlen)) < 0 ||
	    (yamlnode_get(no, "webhook_ca") != NULL && get_path(doc, no,
	    "webhook_ca", "notify", basedir, &cfg->notify_webhook_ca, err,
	    errlen) != 0) ||
	    (yamlnode_get(no, "command") != NULL && get_path(doc, no,
	    "command", "notify", basedir, &cfg->notify_command, err,
	    errlen) != 0) ||
	    yamlnode_get_uint(doc, no, "retries", 0, 10, &cfg->notify_retries,
	    err, errlen) < 0 ||
	    yamlnode_get_duration(doc, no, "retry_delay",
	    &cfg->notify_retry_delay, err, errlen) < 0 ||
	    yamlnode_get_duration(doc, no, "timeout", &cfg->notify_timeout, err,
	    errlen) < 0 ||
	    yamlnode_get_duration(doc, no, "command_timeout",
	    &cfg->notify_command_timeout, err, errlen) < 0)
		return -1;
	if (rc == 0 && (cfg->notify_webhook = strdup(url)) == NULL)
		return util_err(err, errlen, "out of memory");
	if (cfg->notify_retry_delay > 300 || cfg->notify_timeout == 0 ||
	    cfg->notify_timeout > 300 || cfg->notify_command_timeout == 0 ||
	    cfg->notify_command_timeout > 300)
		return util_err(err, errlen, "%s:%u: notify: timeouts must be "
		    "1s to 5m, retry_delay at most 5m", doc->path, no->line);
	return 0;
}

/* "http://host:port" with nothing else, or "direct" (NULL). */
static int
get_proxy(const struct yamlnode_doc *doc, const struct yamlnode *map,
    const char *where, char **out, char *err, size_t errlen)
{
	const char *v = NULL, *host, *colon;
	int rc = yamlnode_get_str(doc, map, "proxy", 300, &v, err, errlen);

	if (rc != 0)
		return rc < 0 ? -1 : 0;
	free(*out);
	*out = NULL;
	if (strcmp(v, "direct") == 0)
		return 0;
	host = strncmp(v, "http://", 7) == 0 ? v + 7 : NULL;
	colon = host != NULL ? strrchr(host, ':') : NULL;
	if (host == NULL || colon == NULL || colon == host ||
	    strcspn(host, "/@?# ") < (size_t)(colon - host) ||
	    colon[1] == '\0' || strspn(colon + 1, "0123456789") !=
	    strlen(colon + 1) || strlen(colon + 1) > 5 ||
	    atoi(colon + 1) < 1 || atoi(colon + 1) > 65535)
		return util_err(err, errlen, "%s:%u: %s.proxy: '%s' is not "
		    "\"http://host:port\" or \"direct\" (credentials in the "
		    "URL are not accepted)", doc->path,
		    yamlnode_get(map, "proxy")->line, where, v);
	if ((*out = strdup(v)) == NULL)
		return util_err(err, errlen, "out of memory");
	return 0;
}

/* The settings a service may override; d holds the defaults on entry. */
static int
parse_delivery_fields(const struct yamlnode_doc *doc,
    const struct yamlnode *m, const char *where, struct config_delivery *d,
    char *err, size_t errlen)
{
	if (get_proxy(doc, m, where, &d->proxy, err, errlen) != 0 ||
	    yamlnode_get_uint(doc, m, "concurrency", 1, 256, &d->concurrency,
	    err, errlen) < 0 ||
	    yamlnode_get_duration(doc, m, "connect_timeout",
	    &d->connect_timeout, err, errlen) < 0 ||
	    yamlnode_get_duration(doc, m, "stall_timeout", &d->stall_timeout,
	    err, errlen) < 0 ||
	    yamlnode_get_uint(doc, m, "max_attempts", 1, 1000,
	    &d->max_attempts, err, errlen) < 0 ||
	    yamlnode_get_duration(doc, m, "max_age", &d->max_age, err,
	    errlen) < 0 ||
	    yamlnode_get_duration(doc, m, "backoff_base", &d->backoff_base,
	    err, errlen) < 0 ||
	    yamlnode_get_duration(doc, m, "backoff_max", &d->backoff_max, err,
	    errlen) < 0 ||
	    yamlnode_get_uint(doc, m, "circuit_threshold", 1, 1000,
	    &d->circuit_threshold, err, errlen) < 0 ||
	    yamlnode_get_duration(doc, m, "circuit_cooldown",
	    &d->circuit_cooldown, err, errlen) < 0 ||
	    yamlnode_get_size(doc, m, "multipart_threshold",
	    &d->multipart_threshold, err, errlen) < 0 ||
	    yamlnode_get_size(doc, m, "part_size", &d->part_size, err,
	    errlen) < 0)
		return -1;
	if (d->connect_timeout == 0 || d->stall_timeout == 0 ||
	    d->max_age == 0 || d->backoff_base == 0 ||
	    d->circuit_cooldown == 0 || d->connect_timeout > 3600 ||
	    d->stall_timeout > 3600 || d->max_age > MAX_TIMEOUT ||
	    d->backoff_max > 86400 || d->circuit_cooldown > 86400)
		return util_err(err, errlen, "%s:%u: %s: timeouts must be above "
		    "0 (connect and stall timeouts at most 1h, backoff_max and "
		    "circuit_cooldown at most 1d)", doc->path, m->line, where);
	if (d->backoff_max < d->backoff_base)
		return util_err(err, errlen, "%s:%u: %s.backoff_max must be at "
		    "least backoff_base", doc->path, m->line, where);
	if (d->part_size < MIN_PART_SIZE || d->part_size > MAX_PART_SIZE)
		return util_err(err, errlen, "%s:%u: %s.part_size must be "
		    "5MiB to 5GiB", doc->path, m->line, where);
	if (d->multipart_threshold < d->part_size)
		return util_err(err, errlen, "%s:%u: %s.multipart_threshold "
		    "must be at least part_size", doc->path, m->line, where);
	return 0;
}

static int
parse_delivery(const struct yamlnode_doc *doc, const struct yamlnode *dl,
    const char *basedir, struct config *cfg, char *err, size_t errlen)
{
	static const char *const keys[] = { "credentials_dir", "retention",
	    "services", "proxy", "concurrency", "connect_timeout",
	    "stall_timeout", "max_attempts", "max_age", "backoff_base",
	    "backoff_max", "circuit_threshold", "circuit_cooldown",
	    "multipart_threshold", "part_size", NULL };
	const struct yamlnode *svcs;
	char where[128];
	size_t i;

	if (asprintf(&cfg->credentials_dir, "%s/credentials", basedir) < 0) {
		cfg->credentials_dir = NULL;
		return util_err(err, errlen, "out of memory");
	}
	if (dl == NULL)
		return 0;
	if (yamlnode_check_keys(doc, dl, "delivery", keys, err, errlen) != 0)
		return -1;
	if (yamlnode_get(dl, "credentials_dir") != NULL) {
		free(cfg->credentials_dir);
		cfg->credentials_dir = NULL;
		if (get_path(doc, dl, "credentials_dir", "delivery", basedir,
		    &cfg->credentials_dir, err, errlen) != 0)
			return -1;
	}
	if (yamlnode_get_duration(doc, dl, "retention",
	    &cfg->delivery_retention, err, errlen) < 0)
		return -1;
	if (cfg->delivery_retention > MAX_TIMEOUT)
		return util_err(err, errlen, "%s:%u: delivery.retention must be "
		    "at most %llu seconds", doc->path, dl->line, MAX_TIMEOUT);
	if (parse_delivery_fields(doc, dl, "delivery", &cfg->delivery, err,
	    errlen) != 0)
		return -1;
	if ((svcs = yamlnode_get(dl, "services")) == NULL)
		return 0;
	if (svcs->kind != YAMLNODE_MAP)
		return util_err(err, errlen, "%s:%u: delivery.services must map "
		    "service ids to settings", doc->path, svcs->line);
	if (svcs->n > MAX_DELIVERY_SERVICES)
		return util_err(err, errlen, "%s:%u: delivery.services: more "
		    "than %d services", doc->path, svcs->line,
		    MAX_DELIVERY_SERVICES);
	if (svcs->n == 0)
		return 0;
	if ((cfg->delivery_services = calloc(svcs->n,
	    sizeof(*cfg->delivery_services))) == NULL)
		return util_err(err, errlen, "out of memory");
	for (i = 0; i < svcs->n; i++) {
		struct config_delivery_service *ds = &cfg->delivery_services[i];
		const struct yamlnode *m = svcs->items[i];

		cfg->ndelivery_services = i + 1;
		ds->line = svcs->key_lines[i];
		if (!util_is_token(svcs->keys[i], 63))
			return util_err(err, errlen, "%s:%u: delivery.services: "
			    "'%s' is not a service id", doc->path, ds->line,
			    svcs->keys[i]);
		snprintf(where, sizeof(where), "delivery.services.%s",
		    svcs->keys[i]);
		if (m->kind != YAMLNODE_MAP)
			return util_err(err, errlen, "%s:%u: %s must be a "
			    "mapping of settings", doc->path, m->line, where);
		/* keys + 3: what a service may override (not the first
		 * three, which are global). */
		if (yamlnode_check_keys(doc, m, where, keys + 3, err,
		    errlen) != 0)
			return -1;
		ds->d = cfg->delivery;
		ds->d.proxy = NULL;
		if ((ds->id = strdup(svcs->keys[i])) == NULL ||
		    (cfg->delivery.proxy != NULL && (ds->d.proxy =
		    strdup(cfg->delivery.proxy)) == NULL))
			return util_err(err, errlen, "out of memory");
		if (parse_delivery_fields(doc, m, where, &ds->d, err,
		    errlen) != 0)
			return -1;
	}
	return 0;
}

const struct config_delivery *
config_delivery_for(const struct config *cfg, const char *service)
{
	size_t i;

	for (i = 0; service != NULL && i < cfg->ndelivery_services; i++)
		if (strcmp(cfg->delivery_services[i].id, service) == 0)
			return &cfg->delivery_services[i].d;
	return &cfg->delivery;
}

int
config_load(const char *path, struct config **out, char *err, size_t errlen)
{
	static const char *const top_keys[] = { "listen", "tls", "spool_dir",
	    "state_db", "audit_log", "audit_dir", "audit", "register",
	    "limits", "stepup", "delivery", "approvals", "notify", "monitor",
	    "web", NULL };
	static const char *const tls_keys[] = { "cert", "key", "ca", "crl",
	    "crl_margin", NULL };
	struct yamlnode_doc *doc = NULL;
	const struct yamlnode *root, *tls;
	struct config *cfg;
	char *copy = NULL, *basedir = NULL;
	int rc = -1;

	*out = NULL;
	if ((cfg = calloc(1, sizeof(*cfg))) == NULL)
		return util_err(err, errlen, "out of memory");
	cfg->max_file_size = DEFAULT_MAX_FILE_SIZE;
	cfg->max_connections = DEFAULT_MAX_CONNECTIONS;
	cfg->handshake_timeout = DEFAULT_HANDSHAKE_TIMEOUT;
	cfg->idle_timeout = DEFAULT_IDLE_TIMEOUT;
	cfg->partial_ttl = DEFAULT_PARTIAL_TTL;
	cfg->min_free_space = DEFAULT_MIN_FREE_SPACE;
	cfg->sync_interval = DEFAULT_SYNC_INTERVAL;
	cfg->max_connections_per_source = DEFAULT_MAX_PER_SOURCE;
	cfg->source_prefix_v6 = 64;
	cfg->refusal_interval = DEFAULT_REFUSAL_INTERVAL;
	cfg->max_session_lifetime = DEFAULT_MAX_SESSION_LIFETIME;
	cfg->audit_segment_size = DEFAULT_AUDIT_SEGMENT;
	cfg->audit_checkpoint_records = DEFAULT_AUDIT_CP_RECORDS;
	cfg->audit_checkpoint_interval = DEFAULT_AUDIT_CP_INTERVAL;
	cfg->delivery.concurrency = DEFAULT_CONCURRENCY;
	cfg->delivery.connect_timeout = DEFAULT_CONNECT_TIMEOUT;
	cfg->delivery.stall_timeout = DEFAULT_STALL_TIMEOUT;
	cfg->delivery.max_attempts = DEFAULT_MAX_ATTEMPTS;
	cfg->delivery.max_age = DEFAULT_MAX_AGE;
	cfg->delivery.backoff_base = DEFAULT_BACKOFF_BASE;
	cfg->delivery.backoff_max = DEFAULT_BACKOFF_MAX;
	cfg->delivery.circuit_threshold = DEFAULT_CIRCUIT_THRESHOLD;
	cfg->delivery.circuit_cooldown = DEFAULT_CIRCUIT_COOLDOWN;
	cfg->delivery.multipart_threshold = DEFAULT_MULTIPART_THRESHOLD;
	cfg->delivery.part_size = DEFAULT_PART_SIZE;
	cfg->stepup_max_failures = DEFAULT_STEPUP_MAX_FAILURES;
	cfg->stepup_lockout = DEFAULT_STEPUP_LOCKOUT;
	cfg->stepup_lockout_max = DEFAULT_STEPUP_LOCKOUT_MAX;
	cfg->approvals_hold = DEFAULT_APPROVALS_HOLD;
	cfg->emergency_confirm = DEFAULT_EMERGENCY_CONFIRM;
	cfg->register_proposal_ttl = DEFAULT_REGISTER_PROPOSAL_TTL;
	cfg->register_emergency_confirm = DEFAULT_REGISTER_EMERGENCY_CONFIRM;
	cfg->officer_stepup_max_age = DEFAULT_OFFICER_STEPUP_MAX_AGE;
	cfg->notify_retries = DEFAULT_NOTIFY_RETRIES;
	cfg->notify_retry_delay = DEFAULT_NOTIFY_RETRY_DELAY;
	cfg->notify_timeout = DEFAULT_NOTIFY_TIMEOUT;
	cfg->notify_command_timeout = DEFAULT_NOTIFY_TIMEOUT;
	cfg->tls_crl_margin = DEFAULT_CRL_MARGIN;

	if ((cfg->path = strdup(path)) == NULL || (copy = strdup(path)) == NULL) {
		util_err(err, errlen, "out of memory");
		goto out;
	}
	/* Absolute, so a path resolved against it does not depend on the
	 * working directory or on how the file was named ("-c x.yaml" gives
	 * "."), and the checks that want absolute paths (notify.command) see
	 * the same path at --check-config and at start. */
	if ((basedir = realpath(dirname(copy), NULL)) == NULL) {
		util_err(err, errlen, "%s: cannot resolve its directory: %s",
		    path, strerror(errno));
		goto out;
	}
	if (yamlnode_load_file(path, &doc, err, errlen) != 0)
		goto out;
	root = doc->root;
	if (root == NULL || root->kind != YAMLNODE_MAP) {
		util_err(err, errlen, "%s:1: expected a mapping of settings "
		    "(listen, tls, spool_dir, ...)", path);
		goto out;
	}
	if (yamlnode_check_keys(doc, root, "top level", top_keys, err,
	    errlen) != 0 || parse_listen(doc, root, cfg, err, errlen) != 0)
		goto out;
	tls = yamlnode_get(root, "tls");
	if (tls == NULL) {
		util_err(err, errlen, "%s:1: section 'tls' is required (cert, "
		    "key, ca, crl)", path);
		goto out;
	}
	if (yamlnode_check_keys(doc, tls, "tls", tls_keys, err, errlen) != 0 ||
	    get_path(doc, tls, "cert", "tls", basedir, &cfg->tls_cert, err,
	    errlen) != 0 ||
	    get_path(doc, tls, "key", "tls", basedir, &cfg->tls_key, err,
	    errlen) != 0 ||
	    get_path(doc, tls, "ca", "tls", basedir, &cfg->tls_ca, err,
	    errlen) != 0 ||
	    get_path(doc, tls, "crl", "tls", basedir, &cfg->tls_crl, err,
	    errlen) != 0 ||
	    yamlnode_get_duration(doc, tls, "crl_margin", &cfg->tls_crl_margin,
	    err, errlen) < 0 ||
	    get_path(doc, root, "spool_dir", "top level", basedir,
	    &cfg->spool_dir, err, errlen) != 0 ||
	    get_path(doc, root, "state_db", "top level", basedir,
	    &cfg->state_db, err, errlen) != 0 ||
	    parse_audit_dir(doc, root, basedir, cfg, err, errlen) != 0 ||
	    parse_audit(doc, yamlnode_get(root, "audit"), basedir, cfg, err,
	    errlen) != 0 ||
	    parse_register(doc, root, basedir, cfg, err, errlen) != 0 ||
	    parse_limits(doc, yamlnode_get(root, "limits"), cfg, err,
	    errlen) != 0 ||
	    parse_stepup(doc, yamlnode_get(root, "stepup"), basedir, cfg, err,
	    errlen) != 0 ||
	    parse_approvals(doc, yamlnode_get(root, "approvals"), cfg, err,
	    errlen) != 0 ||
	    parse_notify(doc, yamlnode_get(root, "notify"), basedir, cfg, err,
	    errlen) != 0 ||
	    parse_monitor(doc, yamlnode_get(root, "monitor"), cfg, err,
	    errlen) != 0 ||
	    parse_web(doc, yamlnode_get(root, "web"), basedir, cfg, err,
	    errlen) != 0 ||
	    parse_delivery(doc, yamlnode_get(root, "delivery"), basedir, cfg,
	    err, errlen) != 0)
		goto out;
	if (cfg->tls_crl_margin > MAX_CRL_MARGIN) {
		util_err(err, errlen, "%s:%u: tls.crl_margin must be at most "
		    "365d (it says how long before the CRL expires /health "
		    "turns degraded)", path, tls->line);
		goto out;
	}
	*out = cfg;
	cfg = NULL;
	rc = 0;
out:
	free(basedir);
	free(copy);
	yamlnode_free(doc);
	config_free(cfg);
	return rc;
}
