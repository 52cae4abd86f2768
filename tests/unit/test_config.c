/*
 * Tests for broker/config: a complete file with every key, defaults, paths
 * resolved against the file's directory, and each way a file is refused
 * (missing required keys, unknown keys with their line, listen forms, limit
 * bounds), always with file:line in the message.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <unistd.h>

#include "broker/config.h"

static char dir[64];
static char path[128];
static char errbuf[512];

static const char full[] =
    "# sekishod test configuration\n"		/* 1 */
    "listen: \"127.0.0.1:8443\"\n"		/* 2 */
    "tls:\n"					/* 3 */
    "  cert: tls/server.crt\n"			/* 4 */
    "  key: /etc/sekisho/server.key\n"		/* 5 */
    "  ca: ca.crt\n"				/* 6 */
    "  crl: ./crl.pem\n"			/* 7 */
    "spool_dir: spool\n"			/* 8 */
    "state_db: state/state.db\n"		/* 9 */
    "audit_log: /var/log/sekisho/audit.log\n"	/* 10 */
    "register: register.yaml\n"			/* 11 */
    "limits:\n"					/* 12 */
    "  max_file_size: 2GiB\n"			/* 13 */
    "  max_connections: 100\n"			/* 14 */
    "  handshake_timeout: 5s\n"			/* 15 */
    "  idle_timeout: 2m\n"			/* 16 */
    "  partial_ttl: 3d\n"			/* 17 */
    "  min_free_space: 1GiB\n"			/* 18 */
    "  sync_interval: 8MiB\n";			/* 19 */

/* The required part alone: no limits section. */
static const char minimal[] =
    "listen: \"[::1]:9443\"\n"
    "tls: {cert: c.pem, key: k.pem, ca: ca.pem, crl: crl.pem}\n"
    "spool_dir: /srv/spool\n"
    "state_db: db\n"
    "audit_log: audit\n"
    "register: reg.yaml\n";

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_config.XXXXXX");
	if (mkdtemp(dir) == NULL)
		return -1;
	snprintf(path, sizeof(path), "%s/sekishod.yaml", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	return rmdir(dir);
}

static void
write_config(const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fputs(text, f) >= 0, 1);
	assert_int_equal(fclose(f), 0);
}

static struct config *
load_ok(const char *text)
{
	struct config *cfg = NULL;

	write_config(text);
	errbuf[0] = '\0';
	if (config_load(path, &cfg, errbuf, sizeof(errbuf)) != 0)
		fail_msg("refused: %s\n---\n%s", errbuf, text);
	assert_non_null(cfg);
	return cfg;
}

/* The message must start with "path:line:" and contain why. */
static void
load_bad(const char *text, unsigned line, const char *why)
{
	struct config *cfg = (struct config *)1;
	char want[256];

	write_config(text);
	errbuf[0] = '\0';
	if (config_load(path, &cfg, errbuf, sizeof(errbuf)) != -1)
		fail_msg("accepted:\n%s", text);
	assert_null(cfg);
	snprintf(want, sizeof(want), "%s:%u: ", path, line);
	if (strncmp(errbuf, want, strlen(want)) != 0)
		fail_msg("message '%s' does not start with '%s'", errbuf, want);
	if (strstr(errbuf, why) == NULL)
		fail_msg("message '%s' lacks '%s'", errbuf, why);
}

/* full with line n (1-based) replaced by repl ("" drops it). */
static char *
edit_line(const char *text, unsigned n, const char *repl)
{
	size_t cap = strlen(text) + strlen(repl) + 2;
	char *out = malloc(cap), *o = out;
	const char *p = text;
	unsigned line = 1;

	assert_non_null(out);
	while (*p != '\0') {
		const char *eol = strchr(p, '\n');
		size_t len = eol ? (size_t)(eol - p) + 1 : strlen(p);

		if (line == n) {
			if (repl[0] != '\0')
				o += sprintf(o, "%s\n", repl);
		} else {
			memcpy(o, p, len);
			o += len;
		}
		p += len;
		line++;
	}
	*o = '\0';
	return out;
}

static void
bad_line(unsigned n, const char *repl, unsigned line, const char *why)
{
	char *text = edit_line(full, n, repl);

	load_bad(text, line, why);
	free(text);
}

static void
test_full_config(void **state)
{
	struct config *cfg;
	char want[256];

	(void)state;
	cfg = load_ok(full);
	assert_string_equal(cfg->path, path);
	assert_string_equal(cfg->listen_host, "127.0.0.1");
	assert_string_equal(cfg->listen_port, "8443");
	snprintf(want, sizeof(want), "%s/tls/server.crt", dir);
	assert_string_equal(cfg->tls_cert, want);
	assert_string_equal(cfg->tls_key, "/etc/sekisho/server.key");
	snprintf(want, sizeof(want), "%s/ca.crt", dir);
	assert_string_equal(cfg->tls_ca, want);
	snprintf(want, sizeof(want), "%s/./crl.pem", dir);
	assert_string_equal(cfg->tls_crl, want);
	snprintf(want, sizeof(want), "%s/spool", dir);
	assert_string_equal(cfg->spool_dir, want);
	snprintf(want, sizeof(want), "%s/state/state.db", dir);
	assert_string_equal(cfg->state_db, want);
	assert_string_equal(cfg->audit_log, "/var/log/sekisho/audit.log");
	snprintf(want, sizeof(want), "%s/register.yaml", dir);
	assert_string_equal(cfg->register_path, want);
	assert_true(cfg->max_file_size == 2ull << 30);
	assert_int_equal(cfg->max_connections, 100);
	assert_int_equal(cfg->handshake_timeout, 5);
	assert_int_equal(cfg->idle_timeout, 120);
	assert_int_equal(cfg->partial_ttl, 3 * 86400);
	assert_true(cfg->min_free_space == 1ull << 30);
	assert_int_equal(cfg->sync_interval, 8 << 20);
	config_free(cfg);
	config_free(NULL);
}

/*
 * "-c sekishod.yaml" from the file's directory: every path still comes out
 * absolute, so a check that wants one (notify.command) sees the same path
 * at --check-config and at start, and a chdir later cannot move a file.
 */
static void
test_relative_config_path(void **state)
{
	static const char text[] =
	    "listen: \"127.0.0.1:8443\"\n"
	    "tls: {cert: c.pem, key: k.pem, ca: ca.pem, crl: crl.pem}\n"
	    "spool_dir: spool\n"
	    "state_db: db\n"
	    "audit_log: audit\n"
	    "register: reg.yaml\n"
	    "notify: {command: ./notify-cmd.sh}\n";
	struct config *cfg = NULL;
	char want[256], cwd[4096];

	(void)state;
	write_config(text);
	assert_non_null(getcwd(cwd, sizeof(cwd)));
	assert_int_equal(chdir(dir), 0);
	errbuf[0] = '\0';
	if (config_load("sekishod.yaml", &cfg, errbuf, sizeof(errbuf)) != 0)
		fail_msg("refused: %s", errbuf);
	assert_int_equal(chdir(cwd), 0);
	snprintf(want, sizeof(want), "%s/./notify-cmd.sh", dir);
	assert_string_equal(cfg->notify_command, want);
	snprintf(want, sizeof(want), "%s/spool", dir);
	assert_string_equal(cfg->spool_dir, want);
	snprintf(want, sizeof(want), "%s/crl.pem", dir);
	assert_string_equal(cfg->tls_crl, want);
	/* The CRL margin: 7 days unless given. */
	assert_int_equal(cfg->tls_crl_margin, 7 * 86400);
	config_free(cfg);
}

static void
test_crl_margin(void **state)
{
	struct config *cfg;

	(void)state;
	cfg = load_ok("listen: \"127.0.0.1:8443\"\n"
	    "tls: {cert: c, key: k, ca: a, crl: r, crl_margin: 36h}\n"
	    "spool_dir: s\nstate_db: d\naudit_log: a\nregister: r\n");
	assert_int_equal(cfg->tls_crl_margin, 36 * 3600);
	config_free(cfg);
	load_bad("listen: \"127.0.0.1:8443\"\n"
	    "tls: {cert: c, key: k, ca: a, crl: r, crl_margin: 400d}\n"
	    "spool_dir: s\nstate_db: d\naudit_log: a\nregister: r\n", 2,
	    "tls.crl_margin must be at most 365d");
}

/* register: a path (file mode, the default) or a mapping with the mode
 * of two-person approval. */
static void
test_register_mode(void **state)
{
	static const char head[] = "listen: \"127.0.0.1:8443\"\n"
	    "tls: {cert: c, key: k, ca: a, crl: r}\n"
	    "spool_dir: s\nstate_db: d\naudit_log: a\n";
	struct config *cfg;
	char text[1024], want[256];

	(void)state;
	snprintf(text, sizeof(text), "%sregister: r.yaml\n", head);
	cfg = load_ok(text);
	assert_int_equal(cfg->register_approved, 0);
	assert_int_equal(cfg->register_proposal_ttl, 14 * 86400);
	assert_int_equal(cfg->register_emergency_confirm, 86400);
	config_free(cfg);
	snprintf(text, sizeof(text), "%sregister:\n  path: r.yaml\n"
	    "  mode: approved\n  proposal_ttl: 2d\n"
	    "  emergency_confirm: 90s\n", head);
	cfg = load_ok(text);
	snprintf(want, sizeof(want), "%s/r.yaml", dir);
	assert_string_equal(cfg->register_path, want);
	assert_int_equal(cfg->register_approved, 1);
	assert_int_equal(cfg->register_proposal_ttl, 2 * 86400);
	assert_int_equal(cfg->register_emergency_confirm, 90);
	config_free(cfg);
	snprintf(text, sizeof(text), "%sregister: {path: r, mode: file}\n",
	    head);
	cfg = load_ok(text);
	assert_int_equal(cfg->register_approved, 0);
	config_free(cfg);
	snprintf(text, sizeof(text), "%sregister:\n  path: r\n"
	    "  mode: trusted\n", head);
	load_bad(text, 7, "register.mode must be approved");
	snprintf(text, sizeof(text), "%sregister:\n  mode: approved\n", head);
	load_bad(text, 7, "register: field 'path' is required");
	snprintf(text, sizeof(text), "%sregister:\n  path: r\n"
	    "  emergency_confirm: 30d\n", head);
	load_bad(text, 7, "register.emergency_confirm must be 1m to 7d");
	snprintf(text, sizeof(text), "%sregister:\n  path: r\n"
	    "  approvers: x\n", head);
	load_bad(text, 8, "approvers");
}

static void
test_defaults_and_ipv6(void **state)
{
	struct config *cfg;
	char want[256];

	(void)state;
	cfg = load_ok(minimal);
	assert_string_equal(cfg->listen_host, "::1");
	assert_string_equal(cfg->listen_port, "9443");
	assert_string_equal(cfg->spool_dir, "/srv/spool");
	snprintf(want, sizeof(want), "%s/db", dir);
	assert_string_equal(cfg->state_db, want);
	/* Defaults (docs/operations.md). */
	assert_true(cfg->max_file_size == 4ull << 30);
	assert_int_equal(cfg->max_connections, 1024);
	assert_int_equal(cfg->handshake_timeout, 10);
	assert_int_equal(cfg->idle_timeout, 300);
	assert_int_equal(cfg->partial_ttl, 86400);
	assert_true(cfg->min_free_space == 64ull << 20);
	assert_true(cfg->sync_interval == 64ull << 20);
	config_free(cfg);

	/* A partial limits section keeps the other defaults. */
	{
		char text[1024];

		snprintf(text, sizeof(text), "%slimits:\n  idle_timeout: 1h\n",
		    minimal);
		cfg = load_ok(text);
		assert_int_equal(cfg->idle_timeout, 3600);
		assert_int_equal(cfg->handshake_timeout, 10);
		assert_int_equal(cfg->max_connections, 1024);
		config_free(cfg);
	}
}

static void
test_missing_required(void **state)
{
	(void)state;
	bad_line(2, "", 1, "field 'listen' is required");
	/* Reported at the first line of the section. */
	bad_line(4, "", 4, "tls: field 'cert' is required");
	bad_line(5, "", 4, "tls: field 'key' is required");
	bad_line(6, "", 4, "tls: field 'ca' is required");
	bad_line(7, "", 4, "tls: field 'crl' is required");
	bad_line(8, "", 2, "field 'spool_dir' is required");
	bad_line(9, "", 2, "field 'state_db' is required");
	bad_line(10, "", 2, "field 'audit_dir' is required");
	bad_line(11, "", 2, "field 'register' is required");
	/* Present but empty is the same as missing. */
	bad_line(8, "spool_dir: ''", 2, "field 'spool_dir' is required");
	bad_line(4, "  cert:", 4, "field 'cert' is required");
	/* The whole tls section. */
	load_bad("listen: \"127.0.0.1:1\"\nspool_dir: s\nstate_db: d\n"
	    "audit_log: a\nregister: r\n", 1, "section 'tls' is required");
}

static void
test_wrong_shapes(void **state)
{
	(void)state;
	load_bad("", 1, "expected a mapping");
	load_bad("# nothing\n", 1, "expected a mapping");
	load_bad("- listen\n", 1, "expected a mapping");
	load_bad("just text\n", 1, "expected a mapping");
	load_bad("listen: \"127.0.0.1:1\"\ntls: files\nspool_dir: s\n"
	    "state_db: d\naudit_log: a\nregister: r\n", 2,
	    "tls: expected a mapping");
	load_bad("listen: \"127.0.0.1:1\"\ntls: [c, k]\nspool_dir: s\n"
	    "state_db: d\naudit_log: a\nregister: r\n", 2,
	    "tls: expected a mapping");
	bad_line(8, "spool_dir: [a, b]", 8, "field 'spool_dir': expected a "
	    "single value");
	bad_line(2, "listen: [\"127.0.0.1:1\"]", 2, "field 'listen': "
	    "expected a single value");
	{
		char text[1024];

		snprintf(text, sizeof(text), "%slimits: 5\n", minimal);
		load_bad(text, 7, "limits: expected a mapping");
		snprintf(text, sizeof(text), "%slimits:\n", minimal);
		load_bad(text, 7, "limits: expected a mapping");
	}
	bad_line(8, "spool_dir: \"a\\0b\"", 8, "contains a NUL");
	/* YAML errors keep their line. */
	bad_line(9, "state_db: [unclosed", 10, "while parsing a flow sequence");
	bad_line(9, "spool_dir: again", 9, "duplicate key 'spool_dir' (first "
	    "at line 8)");
}

static void
test_unknown_keys(void **state)
{
	(void)state;
	bad_line(8, "spool_dri: spool", 8, "top level: unknown field "
	    "'spool_dri'");
	{
		char *text = edit_line(full, 20, "");
		char big[2048];

		snprintf(big, sizeof(big), "%sdebug: true\n", text);
		load_bad(big, 20, "top level: unknown field 'debug'");
		free(text);
	}
	bad_line(6, "  cafile: ca.crt", 6, "tls: unknown field 'cafile'");
	bad_line(17, "  partial_tll: 3d", 17, "limits: unknown field "
	    "'partial_tll'");
	bad_line(14, "  max_conections: 100", 14, "limits: unknown field "
	    "'max_conections'");
}

static void
test_listen_forms(void **state)
{
	static const struct { const char *v; const char *host, *port; } ok[] = {
		{ "127.0.0.1:8443", "127.0.0.1", "8443" },
		{ "[::1]:8443", "::1", "8443" },
		{ "0.0.0.0:1", "0.0.0.0", "1" },
		{ "localhost:65535", "localhost", "65535" },
		{ "[fe80::1%eth0]:443", "fe80::1%eth0", "443" },
		{ "[::]:8443", "::", "8443" },
	};
	static const char *const bad[] = {
		"127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:99999999999999999999",
		"127.0.0.1", "127.0.0.1:", "127.0.0.1:x", "127.0.0.1:80x",
		":8443", "[::1]8443", "[::1]", "[::1", "[::1]:", "[::1]:0",
		"[]:8443", "::1:8443", "fe80::1:443", "8443",
		"127.0.0.1:+80", "127.0.0.1:-1", "127.0.0.1: 80",
		"127.0.0.1:-18446744073709551615", "127.0.0.1:0x50", "",
	};
	struct config *cfg;
	char line[128];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		char *text;

		snprintf(line, sizeof(line), "listen: \"%s\"", ok[i].v);
		text = edit_line(full, 2, line);
		cfg = load_ok(text);
		assert_string_equal(cfg->listen_host, ok[i].host);
		assert_string_equal(cfg->listen_port, ok[i].port);
		config_free(cfg);
		free(text);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		snprintf(line, sizeof(line), "listen: \"%s\"", bad[i]);
		bad_line(2, line, 2, "field 'listen': ");
	}
}

static void
test_limit_bounds(void **state)
{
	static const struct { const char *line; unsigned n; const char *why; }
	    bad[] = {
		{ "  sync_interval: 1048575", 19, "sync_interval must be at "
		    "least 1MiB" },
		{ "  sync_interval: 1023KiB", 19, "sync_interval must be at "
		    "least 1MiB" },
		{ "  sync_interval: 0", 19, "sync_interval must be" },
		{ "  handshake_timeout: 0", 15, "timeouts must be above 0" },
		{ "  idle_timeout: 0s", 16, "timeouts must be above 0" },
		{ "  partial_ttl: 0d", 17, "timeouts must be above 0" },
		{ "  max_connections: 0", 14, "0 is out of range" },
		{ "  max_connections: 1000001", 14, "out of range" },
		{ "  max_connections: 10k", 14, "is not a whole number" },
		{ "  max_file_size: 0", 13, "max_file_size must be above 0" },
		{ "  max_file_size: 10 MiB", 13, "is not a size" },
		{ "  min_free_space: -1", 18, "is not a size" },
		{ "  idle_timeout: 1.5h", 16, "is not a duration" },
		{ "  idle_timeout: 18446744073709551615", 16,
		    "limits.idle_timeout must be at most 2147483647 seconds" },
		{ "  handshake_timeout: 99999999999d", 15,
		    "limits.handshake_timeout must be at most" },
		{ "  partial_ttl: 9223372036854775807", 17,
		    "limits.partial_ttl must be at most" },
		{ "  partial_ttl: 2147483648", 17,
		    "limits.partial_ttl must be at most" },
	};
	struct config *cfg;
	char *text;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		/* Bounds are reported at the field's or the section's line. */
		char *t = edit_line(full, bad[i].n, bad[i].line);
		struct config *c = (struct config *)1;

		write_config(t);
		if (config_load(path, &c, errbuf, sizeof(errbuf)) != -1)
			fail_msg("accepted '%s'", bad[i].line);
		assert_null(c);
		if (strstr(errbuf, bad[i].why) == NULL)
			fail_msg("'%s': message '%s' lacks '%s'", bad[i].line,
			    errbuf, bad[i].why);
		if (strstr(errbuf, path) != errbuf)
			fail_msg("message '%s' does not name the file", errbuf);
		free(t);
	}
	/* The edges that are allowed. */
	text = edit_line(full, 19, "  sync_interval: 1MiB");
	cfg = load_ok(text);
	assert_int_equal(cfg->sync_interval, 1 << 20);
	config_free(cfg);
	free(text);
	text = edit_line(full, 14, "  max_connections: 1000000");
	cfg = load_ok(text);
	assert_int_equal(cfg->max_connections, 1000000);
	config_free(cfg);
	free(text);
	text = edit_line(full, 18, "  min_free_space: 0");
	cfg = load_ok(text);
	assert_int_equal(cfg->min_free_space, 0);
	config_free(cfg);
	free(text);
	text = edit_line(full, 16, "  idle_timeout: 2147483647");
	cfg = load_ok(text);
	assert_int_equal(cfg->idle_timeout, 2147483647);
	config_free(cfg);
	free(text);
	text = edit_line(full, 17, "  partial_ttl: 1s");
	cfg = load_ok(text);
	assert_int_equal(cfg->partial_ttl, 1);
	config_free(cfg);
	free(text);
}

static void
test_missing_file(void **state)
{
	struct config *cfg = (struct config *)1;
	char missing[160];

	(void)state;
	snprintf(missing, sizeof(missing), "%s/absent.yaml", dir);
	assert_int_equal(config_load(missing, &cfg, errbuf, sizeof(errbuf)),
	    -1);
	assert_null(cfg);
	assert_non_null(strstr(errbuf, "absent.yaml"));
	assert_int_equal(config_load(dir, &cfg, errbuf, sizeof(errbuf)), -1);
	assert_non_null(strstr(errbuf, "not a regular file"));
}

/* The limits against exhaustion: defaults, bounds, handshakes below
 * connections. */
static void
test_exhaustion_limits(void **state)
{
	struct config *cfg;
	char *text;

	(void)state;
	cfg = load_ok(minimal);
	assert_int_equal(cfg->max_connections_per_source, 64);
	assert_int_equal(cfg->max_handshakes, 768);	/* 3/4 of 1024 */
	assert_int_equal(cfg->refusal_interval, 60);
	assert_int_equal(cfg->max_session_lifetime, 8 * 3600);
	config_free(cfg);
	cfg = load_ok(full);
	assert_int_equal(cfg->max_handshakes, 75);	/* 3/4 of 100 */
	config_free(cfg);
	text = edit_line(full, 19, "  sync_interval: 8MiB\n"
	    "  max_connections_per_source: 3\n  max_handshakes: 40\n"
	    "  refusal_interval: 5s\n  max_session_lifetime: 1h");
	cfg = load_ok(text);
	free(text);
	assert_int_equal(cfg->max_connections_per_source, 3);
	assert_int_equal(cfg->max_handshakes, 40);
	assert_int_equal(cfg->refusal_interval, 5);
	assert_int_equal(cfg->max_session_lifetime, 3600);
	config_free(cfg);
	bad_line(19, "  max_handshakes: 100", 13,
	    "limits.max_handshakes (100) must be below "
	    "limits.max_connections (100)");
	bad_line(19, "  max_connections_per_source: 0", 19, "out of range");
	bad_line(19, "  refusal_interval: 0s", 13, "refusal_interval must be "
	    "between 1s and 24h");
	bad_line(19, "  refusal_interval: 2d", 13, "refusal_interval");
	bad_line(19, "  max_session_lifetime: 0", 13,
	    "max_session_lifetime must be");
}

/* web: root resolved like the other paths, origin exactly an https
 * origin (it is compared byte for byte with the browsers' Origin). */
static void
test_web(void **state)
{
	static const char base[] = "listen: \"127.0.0.1:8443\"\n"
	    "tls: {cert: c, key: k, ca: a, crl: r}\n"
	    "spool_dir: s\nstate_db: d\naudit_log: a\nregister: r\n";
	char text[512], want[160];
	struct config *cfg;

	(void)state;
	cfg = load_ok(base);
	assert_null(cfg->web_root);
	assert_null(cfg->web_origin);
	config_free(cfg);
	snprintf(text, sizeof(text), "%sweb: {root: pages, origin: "
	    "\"https://sekisho.example.lg.jp:8443\"}\n", base);
	cfg = load_ok(text);
	snprintf(want, sizeof(want), "/pages");
	assert_non_null(strstr(cfg->web_root, want));
	assert_int_equal(cfg->web_root[0], '/');
	assert_string_equal(cfg->web_origin,
	    "https://sekisho.example.lg.jp:8443");
	config_free(cfg);
	snprintf(text, sizeof(text), "%sweb: {origin: \"http://x.example\"}\n",
	    base);
	load_bad(text, 7, "is not an https origin");
	snprintf(text, sizeof(text), "%sweb: {origin: \"https://x.example/\"}"
	    "\n", base);
	load_bad(text, 7, "no path, no trailing slash");
	snprintf(text, sizeof(text), "%sweb: {origin: \"https://X.example\"}"
	    "\n", base);
	load_bad(text, 7, "lowercase host");
	snprintf(text, sizeof(text), "%sweb: {roots: x}\n", base);
	load_bad(text, 7, "roots");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_web),
		cmocka_unit_test(test_full_config),
		cmocka_unit_test(test_relative_config_path),
		cmocka_unit_test(test_crl_margin),
		cmocka_unit_test(test_register_mode),
		cmocka_unit_test(test_defaults_and_ipv6),
		cmocka_unit_test(test_missing_required),
		cmocka_unit_test(test_wrong_shapes),
		cmocka_unit_test(test_unknown_keys),
		cmocka_unit_test(test_listen_forms),
		cmocka_unit_test(test_limit_bounds),
		cmocka_unit_test(test_missing_file),
		cmocka_unit_test(test_exhaustion_limits),
	};

	return cmocka_run_group_tests_name("config", tests, setup, teardown);
}
