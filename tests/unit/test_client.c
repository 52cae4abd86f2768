/*
 * Unit tests of the client modules that do not need a broker: configuration,
 * display sanitising and JSON quoting, resume state, progress formatting,
 * the mapping from broker errors to exit codes.
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "client/clientcfg.h"
#include "client/failure.h"
#include "client/keyload.h"
#include "client/output.h"
#include "client/progress.h"
#include "client/put.h"
#include "client/resume.h"
#include "lib/wire.h"

/* ---- helpers ------------------------------------------------------------ */

static char *
make_tmpdir(void)
{
	char tmpl[] = "/tmp/sekisho-test-client.XXXXXX";
	char *d = mkdtemp(tmpl);

	assert_non_null(d);
	return strdup(d);
}

static void
write_file(const char *dir, const char *name, const char *text, char *path,
    size_t pathlen)
{
	FILE *f;

	snprintf(path, pathlen, "%s/%s", dir, name);
	assert_non_null(f = fopen(path, "w"));
	fputs(text, f);
	fclose(f);
}

static void
rm_rf(const char *dir)
{
	char cmd[512];

	snprintf(cmd, sizeof(cmd), "rm -rf -- '%s'", dir);
	assert_int_equal(system(cmd), 0);
}

/* ---- clientcfg ---------------------------------------------------------- */

static void
test_cfg_good_relative_paths(void **state)
{
	struct clientcfg_flags flags = { 0 };
	struct clientcfg_env env = { NULL, "/home/tanaka" };
	struct clientcfg cfg;
	char *dir = make_tmpdir(), path[512], want[600];
	struct i18n_msg err;

	(void)state;
	write_file(dir, "client.yaml",
	    "# comment\n"
	    "broker: broker.example.lg.jp:8443\n"
	    "ca: certs/ca.crt\n"
	    "cert: /etc/sekisho/me.crt\n"
	    "key: ~/keys/me.key\n"
	    "key_passphrase_file: secrets/pass\n"
	    "timeout: 2m\n", path, sizeof(path));
	flags.config = path;
	assert_int_equal(clientcfg_load(&flags, &env, &cfg, &err), 0);
	assert_string_equal(cfg.host, "broker.example.lg.jp");
	assert_string_equal(cfg.port, "8443");
	assert_string_equal(cfg.server_name, "broker.example.lg.jp");
	snprintf(want, sizeof(want), "%s/certs/ca.crt", dir);
	assert_string_equal(cfg.ca, want);
	assert_string_equal(cfg.cert, "/etc/sekisho/me.crt");
	assert_string_equal(cfg.key, "/home/tanaka/keys/me.key");
	snprintf(want, sizeof(want), "%s/secrets/pass", dir);
	assert_string_equal(cfg.key_passphrase_file, want);
	assert_int_equal(cfg.timeout, 120);
	assert_string_equal(cfg.file, path);
	clientcfg_free(&cfg);
	rm_rf(dir);
	free(dir);
}

static void
test_passphrase_file(void **state)
{
	char *dir = make_tmpdir(), path[512], buf[16];
	char long_line[64];
	struct i18n_msg e;

	(void)state;
	write_file(dir, "pw", "s3cret phrase\r\nsecond line\n", path,
	    sizeof(path));
	/* Readable by others: refused, with the fix. */
	chmod(path, 0644);
	assert_int_equal(keyload_read_passphrase_file(path, buf, sizeof(buf),
	    &e), -1);
	assert_non_null(strstr(e.en, "chmod 600"));
	chmod(path, 0600);
	/* The first line, without its CRLF. */
	assert_int_equal(keyload_read_passphrase_file(path, buf, sizeof(buf),
	    &e), 13);
	assert_string_equal(buf, "s3cret phrase");
	/* Longer than the buffer and no line end in it: refused, not cut. */
	memset(long_line, 'a', sizeof(long_line) - 1);
	long_line[sizeof(long_line) - 1] = '\0';
	write_file(dir, "long", long_line, path, sizeof(path));
	chmod(path, 0600);
	assert_int_equal(keyload_read_passphrase_file(path, buf, sizeof(buf),
	    &e), -1);
	assert_non_null(strstr(e.en, "longer than 15 bytes"));
	write_file(dir, "empty", "\nnext\n", path, sizeof(path));
	chmod(path, 0600);
	assert_int_equal(keyload_read_passphrase_file(path, buf, sizeof(buf),
	    &e), -1);
	assert_non_null(strstr(e.en, "empty"));
	/* Not a regular file, and a missing one. */
	assert_int_equal(keyload_read_passphrase_file(dir, buf, sizeof(buf),
	    &e), -1);
	snprintf(path, sizeof(path), "%s/none", dir);
	assert_int_equal(keyload_read_passphrase_file(path, buf, sizeof(buf),
	    &e), -1);
	assert_non_null(strstr(e.en, "No such file"));
	rm_rf(dir);
	free(dir);
}

static void
test_cfg_flags_override(void **state)
{
	struct clientcfg_flags flags = { 0 };
	struct clientcfg_env env = { NULL, "/home/tanaka" };
	struct clientcfg cfg;
	char *dir = make_tmpdir(), path[512];
	struct i18n_msg err;

	(void)state;
	write_file(dir, "c.yaml",
	    "broker: a.example:1\nserver_name: named.example\n"
	    "ca: ca.pem\ncert: c.pem\nkey: k.pem\n", path, sizeof(path));
	/* $SEKISHO_CONFIG is used when --config is absent. */
	env.sekisho_config = path;
	flags.broker = "[::1]:9443";
	flags.key = "rel/k.pem";	/* flags are not rebased */
	flags.timeout = 7;
	assert_int_equal(clientcfg_load(&flags, &env, &cfg, &err), 0);
	assert_string_equal(cfg.host, "::1");
	assert_string_equal(cfg.port, "9443");
	assert_string_equal(cfg.server_name, "named.example");
	assert_string_equal(cfg.key, "rel/k.pem");
	assert_int_equal(cfg.timeout, 7);
	clientcfg_free(&cfg);
	rm_rf(dir);
	free(dir);
}

static void
test_cfg_unknown_key(void **state)
{
	struct clientcfg_flags flags = { 0 };
	struct clientcfg_env env = { NULL, "/home/tanaka" };
	struct clientcfg cfg;
	char *dir = make_tmpdir(), path[512], want[600];
	struct i18n_msg err;

	(void)state;
	write_file(dir, "c.yaml",
	    "broker: a.example:443\nca: ca.pem\ncert: c.pem\nkey: k.pem\n"
	    "brokr: typo.example:443\n", path, sizeof(path));
	flags.config = path;
	assert_int_equal(clientcfg_load(&flags, &env, &cfg, &err), -1);
	snprintf(want, sizeof(want), "%s:5:", path);
	assert_non_null(strstr(err.en, want));
	assert_non_null(strstr(err.en, "brokr"));
	rm_rf(dir);
	free(dir);
}

static void
test_cfg_missing_keys(void **state)
{
	struct clientcfg_flags flags = { 0 };
	struct clientcfg_env env = { NULL, "/home/tanaka" };
	struct clientcfg cfg;
	char *dir = make_tmpdir(), path[512];
	struct i18n_msg err;

	(void)state;
	write_file(dir, "c.yaml", "broker: a.example:443\nca: ca.pem\n", path,
	    sizeof(path));
	flags.config = path;
	assert_int_equal(clientcfg_load(&flags, &env, &cfg, &err), -1);
	assert_non_null(strstr(err.en, "cert, key"));
	assert_null(strstr(err.en, "missing setting(s) broker"));

	/* Flags can fill in what the file lacks. */
	flags.cert = "c.pem";
	flags.key = "k.pem";
	assert_int_equal(clientcfg_load(&flags, &env, &cfg, &err), 0);
	clientcfg_free(&cfg);
	rm_rf(dir);
	free(dir);
}

static void
test_cfg_no_default_file(void **state)
{
	struct clientcfg_flags flags = { 0 };
	struct clientcfg_env env = { NULL, NULL };
	struct clientcfg cfg;
	char *dir = make_tmpdir();
	struct i18n_msg err;

	(void)state;
	env.home = dir;		/* no .config/sekisho/client.yaml there */
	assert_int_equal(clientcfg_load(&flags, &env, &cfg, &err), -1);
	assert_non_null(strstr(err.en, ".config/sekisho/client.yaml"));
	assert_non_null(strstr(err.en, "broker, ca, cert, key"));

	/* Without a file, flags alone are enough. */
	flags.broker = "10.0.0.1:8443";
	flags.ca = "ca.pem";
	flags.cert = "c.pem";
	flags.key = "k.pem";
	assert_int_equal(clientcfg_load(&flags, &env, &cfg, &err), 0);
	assert_null(cfg.file);
	assert_string_equal(cfg.server_name, "10.0.0.1");
	assert_int_equal(cfg.timeout, CLIENTCFG_DEFAULT_TIMEOUT);
	clientcfg_free(&cfg);

	/* A file named explicitly must exist, even if flags say it all. */
	flags.config = "/nonexistent/sekisho.yaml";
	assert_int_equal(clientcfg_load(&flags, &env, &cfg, &err), -1);
	assert_non_null(strstr(err.en, "/nonexistent/sekisho.yaml"));
	rm_rf(dir);
	free(dir);
}

static void
test_cfg_bad_values(void **state)
{
	struct clientcfg_flags flags = { 0 };
	struct clientcfg_env env = { NULL, "/home/tanaka" };
	struct clientcfg cfg;
	char *dir = make_tmpdir(), path[512];
	struct i18n_msg err;

	(void)state;
	flags.config = path;
	write_file(dir, "a.yaml", "broker: nohost\nca: a\ncert: b\nkey: c\n",
	    path, sizeof(path));
	assert_int_equal(clientcfg_load(&flags, &env, &cfg, &err), -1);
	assert_non_null(strstr(err.en, "host:port"));
	write_file(dir, "b.yaml", "broker: h:1\nca: ''\ncert: b\nkey: c\n",
	    path, sizeof(path));
	assert_int_equal(clientcfg_load(&flags, &env, &cfg, &err), -1);
	assert_non_null(strstr(err.en, ":2:"));
	write_file(dir, "c.yaml", "broker: h:1\nca: a\ncert: b\nkey: c\n"
	    "timeout: 0\n", path, sizeof(path));
	assert_int_equal(clientcfg_load(&flags, &env, &cfg, &err), -1);
	assert_non_null(strstr(err.en, "timeout"));
	write_file(dir, "d.yaml", "- broker\n", path, sizeof(path));
	assert_int_equal(clientcfg_load(&flags, &env, &cfg, &err), -1);
	rm_rf(dir);
	free(dir);
}

static void
test_cfg_split_broker(void **state)
{
	char *h, *p;
	struct i18n_msg err;

	(void)state;
	assert_int_equal(clientcfg_split_broker("b.example:8443", &h, &p,
	    &err), 0);
	assert_string_equal(h, "b.example");
	assert_string_equal(p, "8443");
	free(h);
	free(p);
	assert_int_equal(clientcfg_split_broker("[fe80::1]:443", &h, &p, &err),
	    0);
	assert_string_equal(h, "fe80::1");
	free(h);
	free(p);
	assert_int_equal(clientcfg_split_broker("fe80::1:443", &h, &p, &err),
	    -1);
	assert_int_equal(clientcfg_split_broker("h:0", &h, &p, &err), -1);
	assert_int_equal(clientcfg_split_broker("h:65536", &h, &p, &err), -1);
	assert_int_equal(clientcfg_split_broker("h:12a", &h, &p, &err), -1);
	assert_int_equal(clientcfg_split_broker(":443", &h, &p, &err), -1);
	assert_int_equal(clientcfg_split_broker("h:", &h, &p, &err), -1);
}

static void
test_cfg_resolve_path(void **state)
{
	struct i18n_msg err;
	char *p;

	(void)state;
	p = clientcfg_resolve_path("/etc/sekisho/client.yaml", "ca.pem",
	    "/home/u", &err);
	assert_string_equal(p, "/etc/sekisho/ca.pem");
	free(p);
	p = clientcfg_resolve_path("client.yaml", "ca.pem", "/home/u", &err);
	assert_string_equal(p, "ca.pem");
	free(p);
	p = clientcfg_resolve_path("conf/client.yaml", "../ca.pem", NULL, &err);
	assert_string_equal(p, "conf/../ca.pem");
	free(p);
	assert_null(clientcfg_resolve_path("/c.yaml", "~/x", NULL, &err));
}

/* ---- output ------------------------------------------------------------- */

static void
check_quote(const char *in, size_t len, const char *want)
{
	char *q = output_json_quote(in, len);

	assert_non_null(q);
	assert_string_equal(q, want);
	free(q);
}

static void
test_json_quote(void **state)
{
	(void)state;
	check_quote("", 0, "\"\"");
	check_quote("plain", 5, "\"plain\"");
	check_quote("a\"b\\c/", 6, "\"a\\\"b\\\\c/\"");
	check_quote("\b\f\n\r\t", 5, "\"\\b\\f\\n\\r\\t\"");
	check_quote("\x01\x1b\x1f\x7f", 4, "\"\\u0001\\u001b\\u001f\\u007f\"");
	check_quote("a\0b", 3, "\"a\\u0000b\"");
	/* Valid UTF-8 passes through unchanged. */
	check_quote("関所 é 😀", strlen("関所 é 😀"), "\"関所 é 😀\"");
	/* Separators that break JavaScript embedding are escaped. */
	check_quote("\xe2\x80\xa8\xe2\x80\xa9", 6, "\"\\u2028\\u2029\"");
	/* Invalid UTF-8 becomes U+FFFD, one per bad byte. */
	check_quote("\xff", 1, "\"\\ufffd\"");
	check_quote("a\xc3", 2, "\"a\\ufffd\"");
	check_quote("\xc0\xaf", 2, "\"\\ufffd\\ufffd\"");	/* overlong */
	check_quote("\xed\xa0\x80", 3, "\"\\ufffd\\ufffd\\ufffd\""); /* UTF-16 surrogate */
	check_quote("\xf4\x90\x80\x80", 4,
	    "\"\\ufffd\\ufffd\\ufffd\\ufffd\"");		/* > U+10FFFF */
	check_quote("\xe6\x97x", 3, "\"\\ufffd\\ufffdx\"");	/* truncated */
}

static void
test_json_writer(void **state)
{
	struct output_json j;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(f = open_memstream(&buf, &len));
	output_json_begin(&j, f);
	output_json_str(&j, "transfer", "0123");
	output_json_uint(&j, "size", 18446744073709551615ull);
	output_json_null(&j, "terminal");
	output_json_bool(&j, "ok", 1);
	output_json_object(&j, "error");
	output_json_str(&j, "code", "x\"y");
	output_json_array(&j, "list");
	output_json_str(&j, NULL, "a");
	output_json_str(&j, NULL, "b");
	output_json_close(&j, ']');
	output_json_close(&j, '}');
	output_json_end(&j);
	fclose(f);
	assert_string_equal(buf, "{\"transfer\":\"0123\","
	    "\"size\":18446744073709551615,\"terminal\":null,\"ok\":true,"
	    "\"error\":{\"code\":\"x\\\"y\",\"list\":[\"a\",\"b\"]}}\n");
	free(buf);
}

static void
test_sanitize(void **state)
{
	char out[64], small[10];

	(void)state;
	assert_string_equal(output_sanitize("\x1b[31mred\x07", out,
	    sizeof(out)), "?[31mred?");
	assert_string_equal(output_sanitize("a\tb\nc\r", out, sizeof(out)),
	    "a b?c?");
	assert_string_equal(output_sanitize("関所", out, sizeof(out)), "関所");
	/* C1 controls (here CSI, U+009B) and bidi overrides. */
	assert_string_equal(output_sanitize("\xc2\x9b" "2J", out, sizeof(out)),
	    "?2J");
	assert_string_equal(output_sanitize("\xe2\x80\xae" "txt.exe", out,
	    sizeof(out)), "?txt.exe");
	assert_string_equal(output_sanitize("\xff\xfe", out, sizeof(out)),
	    "??");
	assert_string_equal(output_sanitize(NULL, out, sizeof(out)), "");
	/* Truncation keeps whole characters and marks the cut. */
	assert_string_equal(output_sanitize("abcdefghijkl", small,
	    sizeof(small)), "abcdef...");
	assert_string_equal(output_sanitize("ab関所関所", small,
	    sizeof(small)), "ab関...");
	assert_string_equal(output_sanitize("abcdefghi", small,
	    sizeof(small)), "abcdefghi");
}

/* ---- resume state ------------------------------------------------------- */

static void
test_resume_key(void **state)
{
	char k[RESUME_KEY_LEN + 1], k2[RESUME_KEY_LEN + 1];

	(void)state;
	/* SHA-256 of "/home/u/doc.pdf\0" "1048576\0" "1700000000123456789\0"
	 * "IF-2026-001\0" "1\0", computed independently. */
	assert_int_equal(resume_key("/home/u/doc.pdf", 1048576,
	    1700000000123456789LL, "IF-2026-001", 1, k), 0);
	assert_string_equal(k, "80226e94b17482408ac490d4e65cbed1"
	    "80f4674a9ed0b2eb3302d104e5b3751c");
	/* Every part of the identity changes the key. */
	assert_int_equal(resume_key("/home/u/doc.pdf", 1048577,
	    1700000000123456789LL, "IF-2026-001", 1, k2), 0);
	assert_string_not_equal(k, k2);
	assert_int_equal(resume_key("/home/u/doc.pdf", 1048576,
	    1700000000123456788LL, "IF-2026-001", 1, k2), 0);
	assert_string_not_equal(k, k2);
	assert_int_equal(resume_key("/home/u/doc.pdf", 1048576,
	    1700000000123456789LL, "IF-2026-002", 1, k2), 0);
	assert_string_not_equal(k, k2);
	assert_int_equal(resume_key("/home/u/doc.pdf", 1048576,
	    1700000000123456789LL, "IF-2026-001", 2, k2), 0);
	assert_string_not_equal(k, k2);
	assert_int_equal(resume_key("/home/u/doc.pdg", 1048576,
	    1700000000123456789LL, "IF-2026-001", 1, k2), 0);
	assert_string_not_equal(k, k2);
	/* Field boundaries are unambiguous. */
	assert_int_equal(resume_key("/a1", 2, 3, "x", 1, k), 0);
	assert_int_equal(resume_key("/a", 12, 3, "x", 1, k2), 0);
	assert_string_not_equal(k, k2);
}

static void
test_resume_dir(void **state)
{
	char out[256], err[256];

	(void)state;
	assert_int_equal(resume_dir("/x/state", "/home/u", out, sizeof(out),
	    err, sizeof(err)), 0);
	assert_string_equal(out, "/x/state/sekisho/uploads");
	assert_int_equal(resume_dir("relative", "/home/u", out, sizeof(out),
	    err, sizeof(err)), 0);
	assert_string_equal(out, "/home/u/.local/state/sekisho/uploads");
	assert_int_equal(resume_dir(NULL, "/home/u", out, sizeof(out), err,
	    sizeof(err)), 0);
	assert_string_equal(out, "/home/u/.local/state/sekisho/uploads");
	assert_int_equal(resume_dir(NULL, NULL, out, sizeof(out), err,
	    sizeof(err)), -1);
	assert_int_equal(resume_dir("/x", NULL, out, 8, err, sizeof(err)), -1);
}

static void
test_resume_files(void **state)
{
	const char *id = "0123456789abcdef0123456789abcdef";
	char *base = make_tmpdir(), dir[512], path[700], got[UTIL_ID_LEN + 1];
	char key[RESUME_KEY_LEN + 1], err[256], buf[64];
	struct stat st;
	FILE *f;

	(void)state;
	snprintf(dir, sizeof(dir), "%s/state/sekisho/uploads", base);
	assert_int_equal(resume_key("/f", 1, 1, "IF", 1, key), 0);
	snprintf(path, sizeof(path), "%s/%s", dir, key);

	/* Nothing saved yet (and the directory does not even exist). */
	assert_int_equal(resume_load(dir, key, got, err, sizeof(err)), 0);

	assert_int_equal(resume_save(dir, key, id, err, sizeof(err)), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	snprintf(buf, sizeof(buf), "%s/state/sekisho", base);
	assert_int_equal(stat(buf, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);
	assert_non_null(f = fopen(path, "r"));
	assert_non_null(fgets(buf, sizeof(buf), f));
	fclose(f);
	assert_string_equal(buf, "0123456789abcdef0123456789abcdef\n");

	assert_int_equal(resume_load(dir, key, got, err, sizeof(err)), 1);
	assert_string_equal(got, id);

	/* Overwrite keeps one file with the new id. */
	assert_int_equal(resume_save(dir, key,
	    "ffffffffffffffffffffffffffffffff", err, sizeof(err)), 0);
	assert_int_equal(resume_load(dir, key, got, err, sizeof(err)), 1);
	assert_string_equal(got, "ffffffffffffffffffffffffffffffff");

	/* Only well-formed ids are stored or believed. */
	assert_int_equal(resume_save(dir, key, "../../etc/passwd", err,
	    sizeof(err)), -1);
	assert_non_null(f = fopen(path, "w"));
	fputs("not an id\n", f);
	fclose(f);
	assert_int_equal(resume_load(dir, key, got, err, sizeof(err)), 0);
	assert_int_equal(access(path, F_OK), -1);	/* removed */

	/* Keys that are not what resume_key makes never become paths. */
	assert_int_equal(resume_load(dir, "../x", got, err, sizeof(err)), -1);
	assert_int_equal(resume_drop(dir, "ABC", err, sizeof(err)), -1);

	/* A symlink planted as the state file is not followed. */
	assert_int_equal(symlink("/etc/hostname", path), 0);
	assert_int_equal(resume_load(dir, key, got, err, sizeof(err)), -1);
	assert_int_equal(unlink(path), 0);

	assert_int_equal(resume_save(dir, key, id, err, sizeof(err)), 0);
	assert_int_equal(resume_drop(dir, key, err, sizeof(err)), 0);
	assert_int_equal(resume_load(dir, key, got, err, sizeof(err)), 0);
	assert_int_equal(resume_drop(dir, key, err, sizeof(err)), 0);

	/* A group/world-readable state directory is made private again. */
	assert_int_equal(chmod(dir, 0755), 0);
	assert_int_equal(resume_save(dir, key, id, err, sizeof(err)), 0);
	assert_int_equal(stat(dir, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	rm_rf(base);
	free(base);
}

/* ---- progress ----------------------------------------------------------- */

static void
test_progress_sizes(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(progress_format_size(0, b, sizeof(b)), "0 B");
	assert_string_equal(progress_format_size(1023, b, sizeof(b)),
	    "1023 B");
	assert_string_equal(progress_format_size(1024, b, sizeof(b)),
	    "1.00 KiB");
	assert_string_equal(progress_format_size(1536, b, sizeof(b)),
	    "1.50 KiB");
	assert_string_equal(progress_format_size(1048575, b, sizeof(b)),
	    "1023 KiB");
	assert_string_equal(progress_format_size(10u << 20, b, sizeof(b)),
	    "10.0 MiB");
	assert_string_equal(progress_format_size(512u << 20, b, sizeof(b)),
	    "512 MiB");
	assert_string_equal(progress_format_size(3ull << 30, b, sizeof(b)),
	    "3.00 GiB");
	assert_string_equal(progress_format_size(5ull << 40, b, sizeof(b)),
	    "5.00 TiB");
	assert_string_equal(progress_format_size(UINT64_MAX, b, sizeof(b)),
	    "16.0 EiB");	/* 2^64 - 1 rounds up as a double */
}

static void
test_progress_rate_eta(void **state)
{
	char b[32];

	(void)state;
	assert_string_equal(progress_format_rate(-1, b, sizeof(b)), "--");
	assert_string_equal(progress_format_rate(0, b, sizeof(b)), "0 B/s");
	assert_string_equal(progress_format_rate(1048576.0, b, sizeof(b)),
	    "1.00 MiB/s");
	assert_string_equal(progress_format_rate(12.5 * 1048576, b,
	    sizeof(b)), "12.5 MiB/s");
	assert_string_equal(progress_format_eta(-1, b, sizeof(b)), "--:--");
	assert_string_equal(progress_format_eta(0, b, sizeof(b)), "0:00");
	assert_string_equal(progress_format_eta(4.2, b, sizeof(b)), "0:05");
	assert_string_equal(progress_format_eta(754, b, sizeof(b)), "12:34");
	assert_string_equal(progress_format_eta(3723, b, sizeof(b)),
	    "1:02:03");
	assert_string_equal(progress_format_eta(400000, b, sizeof(b)),
	    ">99h");
}

static void
test_progress_line(void **state)
{
	char b[PROGRESS_LINE + 1];

	(void)state;
	progress_format_line(420, 1000, 100, 79, b, sizeof(b));
	assert_true(strlen(b) <= 79);
	assert_non_null(strstr(b, " 42% ["));
	assert_non_null(strstr(b, "420 B/1000 B  100 B/s  ETA 0:06"));
	progress_format_line(0, 0, -1, 79, b, sizeof(b));
	assert_non_null(strstr(b, "100%"));
	progress_format_line(1ull << 30, 2ull << 30, -1, 79, b, sizeof(b));
	assert_non_null(strstr(b, " 50% ["));
	assert_non_null(strstr(b, "1.00 GiB/2.00 GiB  --  ETA --:--"));
	/* A narrow terminal drops the bar, never the numbers' start. */
	progress_format_line(1, 2, 1, 30, b, sizeof(b));
	assert_true(strlen(b) <= 30);
	assert_int_equal(strncmp(b, " 50% ", 5), 0);
	assert_null(strchr(b, '['));
}

static void
test_progress_redraw_limit(void **state)
{
	struct progress p;
	char *buf = NULL;
	size_t len = 0;
	FILE *f;

	(void)state;
	assert_non_null(f = open_memstream(&buf, &len));
	progress_start(&p, f, 1, 1000, 0, 100.0);
	assert_int_equal(progress_update(&p, 100, 100.0, 0), 1);
	assert_int_equal(progress_update(&p, 200, 100.05, 0), 0);
	assert_int_equal(progress_update(&p, 300, 100.11, 0), 1);
	assert_int_equal(progress_update(&p, 300, 100.12, 1), 1);
	progress_clear(&p);
	fflush(f);
	assert_non_null(strstr(buf, "\r"));
	assert_non_null(strstr(buf, " 30% ["));
	fclose(f);
	free(buf);

	/* Disabled: nothing is ever written. */
	buf = NULL;
	assert_non_null(f = open_memstream(&buf, &len));
	progress_start(&p, f, 0, 1000, 0, 0.0);
	assert_int_equal(progress_update(&p, 500, 5.0, 1), 0);
	progress_clear(&p);
	fclose(f);
	assert_int_equal(len, 0);
	free(buf);
}

/* ---- failure and put helpers -------------------------------------------- */

static void
test_exit_codes(void **state)
{
	(void)state;
	assert_int_equal(failure_exit_for("denied", NULL), SEKISHO_EXIT_POLICY);
	assert_int_equal(failure_exit_for("class_too_high", ""),
	    SEKISHO_EXIT_POLICY);
	assert_int_equal(failure_exit_for("unknown_interface", NULL),
	    SEKISHO_EXIT_POLICY);
	assert_int_equal(failure_exit_for("io_error", "IF-2026-002"),
	    SEKISHO_EXIT_POLICY);
	assert_int_equal(failure_exit_for("not_found", NULL),
	    SEKISHO_EXIT_NOTFOUND);
	assert_int_equal(failure_exit_for("certificate_refused", NULL),
	    SEKISHO_EXIT_CONN);
	assert_int_equal(failure_exit_for("hash_mismatch", NULL),
	    SEKISHO_EXIT_BROKER);
	assert_int_equal(failure_exit_for("busy", NULL), SEKISHO_EXIT_BROKER);
	assert_int_equal(failure_exit_for(NULL, NULL), SEKISHO_EXIT_BROKER);
}

static void
test_failure_from_broker(void **state)
{
	struct wire_msg m;
	struct failure f;
	char line[1600], *buf = NULL;
	size_t len = 0;
	FILE *out, *err;

	(void)state;
	wire_msg_init(&m, WIRE_OP_ERROR, 3);
	assert_int_equal(wire_msg_set_text(&m, "code", "denied"), 0);
	assert_int_equal(wire_msg_set_text(&m, "message",
	    "class 2 data may not use this interface\x1b[2J"), 0);
	assert_int_equal(wire_msg_set_text(&m, "rule", "IF-2026-002"), 0);
	assert_int_equal(wire_msg_set_text(&m, "reason", "class_too_high"), 0);
	assert_int_equal(failure_from_broker(&f, &m), SEKISHO_EXIT_POLICY);
	wire_msg_clear(&m);
	assert_string_equal(failure_format(&f, line, sizeof(line)),
	    "refused by policy (rule IF-2026-002, class_too_high): class 2 "
	    "data may not use this interface?[2J");

	assert_non_null(out = open_memstream(&buf, &len));
	assert_non_null(err = tmpfile());
	failure_print(&f, 1, out, err);
	fclose(out);
	fclose(err);
	assert_string_equal(buf, "{\"error\":{\"code\":\"denied\",\"message\":"
	    "\"class 2 data may not use this interface\\u001b[2J\","
	    "\"rule\":\"IF-2026-002\",\"reason\":\"class_too_high\"}}\n");
	free(buf);

	failure_set(&f, SEKISHO_EXIT_LOCAL, "file", "x.txt: %s", "gone");
	assert_string_equal(failure_format(&f, line, sizeof(line)),
	    "x.txt: gone");
}

static void
test_default_name(void **state)
{
	char b[256];

	(void)state;
	assert_string_equal(put_default_name("/a/b/c.txt", b, sizeof(b)),
	    "c.txt");
	assert_string_equal(put_default_name("c.txt", b, sizeof(b)), "c.txt");
	assert_string_equal(put_default_name("dir/sub/", b, sizeof(b)), "sub");
	assert_string_equal(put_default_name("./報告書.pdf", b, sizeof(b)),
	    "報告書.pdf");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_cfg_good_relative_paths),
		cmocka_unit_test(test_cfg_flags_override),
		cmocka_unit_test(test_passphrase_file),
		cmocka_unit_test(test_cfg_unknown_key),
		cmocka_unit_test(test_cfg_missing_keys),
		cmocka_unit_test(test_cfg_no_default_file),
		cmocka_unit_test(test_cfg_bad_values),
		cmocka_unit_test(test_cfg_split_broker),
		cmocka_unit_test(test_cfg_resolve_path),
		cmocka_unit_test(test_json_quote),
		cmocka_unit_test(test_json_writer),
		cmocka_unit_test(test_sanitize),
		cmocka_unit_test(test_resume_key),
		cmocka_unit_test(test_resume_dir),
		cmocka_unit_test(test_resume_files),
		cmocka_unit_test(test_progress_sizes),
		cmocka_unit_test(test_progress_rate_eta),
		cmocka_unit_test(test_progress_line),
		cmocka_unit_test(test_progress_redraw_limit),
		cmocka_unit_test(test_exit_codes),
		cmocka_unit_test(test_failure_from_broker),
		cmocka_unit_test(test_default_name),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
