/*
 * Unit tests for the audit part of broker/config.c: audit_dir and its
 * former name audit_log, the defaults of the audit section (key paths next
 * to the configuration, the generate-at-first-start mode only when no key
 * path is given), every key of the section and its bounds.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/config.h"

static char dir[64], path[128], errbuf[1024];

static const char base[] =
    "listen: \"127.0.0.1:8443\"\n"
    "tls: {cert: c, key: k, ca: a, crl: r}\n"
    "spool_dir: spool\n"
    "state_db: state.db\n"
    "register: register.yaml\n";

static struct config *
load(const char *more)
{
	struct config *cfg = NULL;
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(base, f);
	fputs(more, f);
	fclose(f);
	errbuf[0] = '\0';
	if (config_load(path, &cfg, errbuf, sizeof(errbuf)) != 0)
		return NULL;
	return cfg;
}

static void
refused(const char *more, const char *why)
{
	struct config *cfg = load(more);

	if (cfg != NULL)
		fail_msg("accepted: %s", more);
	if (strstr(errbuf, why) == NULL)
		fail_msg("message '%s' lacks '%s'", errbuf, why);
}

static int
setup(void **state)
{
	(void)state;
	snprintf(dir, sizeof(dir), "/tmp/test_config_audit.XXXXXX");
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/sekishod.yaml", dir);
	return 0;
}

static int
teardown(void **state)
{
	(void)state;
	unlink(path);
	rmdir(dir);
	return 0;
}

static void
test_defaults(void **state)
{
	struct config *cfg;
	char want[256];

	(void)state;
	cfg = load("audit_dir: trail\n");
	assert_non_null(cfg);
	snprintf(want, sizeof(want), "%s/trail", dir);
	assert_string_equal(cfg->audit_log, want);
	snprintf(want, sizeof(want), "%s/audit-signing.key", dir);
	assert_string_equal(cfg->audit_signing_key, want);
	snprintf(want, sizeof(want), "%s/audit-verifier.pub", dir);
	assert_string_equal(cfg->audit_verifier_key, want);
	assert_true(cfg->audit_key_default);
	assert_null(cfg->audit_name);
	assert_null(cfg->audit_archive_dir);
	assert_int_equal(cfg->audit_segment_size, 64ull << 20);
	assert_int_equal(cfg->audit_checkpoint_records, 1000);
	assert_int_equal(cfg->audit_checkpoint_interval, 60);
	assert_int_equal(cfg->audit_retention, 0);
	config_free(cfg);

	/* The former name means the same directory. */
	cfg = load("audit_log: /var/log/sekisho/audit\n");
	assert_non_null(cfg);
	assert_string_equal(cfg->audit_log, "/var/log/sekisho/audit");
	config_free(cfg);
}

static void
test_all_keys(void **state)
{
	struct config *cfg;
	char want[256];

	(void)state;
	cfg = load("audit_dir: /srv/audit\n"
	    "audit:\n"
	    "  name: audit.example-city.lg.jp/sekisho\n"
	    "  signing_key: keys/signing.key\n"
	    "  verifier_key: /etc/sekisho/verifier.pub\n"
	    "  segment_size: 16MiB\n"
	    "  checkpoint_records: 50\n"
	    "  checkpoint_interval: 5m\n"
	    "  retention: 3650d\n"
	    "  archive_dir: archive\n");
	if (cfg == NULL)
		fail_msg("refused: %s", errbuf);
	assert_string_equal(cfg->audit_name,
	    "audit.example-city.lg.jp/sekisho");
	snprintf(want, sizeof(want), "%s/keys/signing.key", dir);
	assert_string_equal(cfg->audit_signing_key, want);
	assert_string_equal(cfg->audit_verifier_key,
	    "/etc/sekisho/verifier.pub");
	assert_false(cfg->audit_key_default);
	assert_int_equal(cfg->audit_segment_size, 16ull << 20);
	assert_int_equal(cfg->audit_checkpoint_records, 50);
	assert_int_equal(cfg->audit_checkpoint_interval, 300);
	assert_int_equal(cfg->audit_retention, 3650ull * 86400);
	snprintf(want, sizeof(want), "%s/archive", dir);
	assert_string_equal(cfg->audit_archive_dir, want);
	config_free(cfg);

	/* Only the verifier path given: the signing key may still be made
	 * at first start. */
	cfg = load("audit_dir: a\naudit:\n  verifier_key: v.pub\n");
	assert_non_null(cfg);
	assert_true(cfg->audit_key_default);
	config_free(cfg);
}

static void
test_refusals(void **state)
{
	(void)state;
	refused("", "field 'audit_dir' is required");
	refused("audit_dir: a\naudit_log: b\n", "give audit_dir only");
	refused("audit_dir: a\naudit:\n  nmae: x\n", "nmae");
	refused("audit_dir: a\naudit:\n  name: \"has space\"\n",
	    "must not contain spaces");
	refused("audit_dir: a\naudit:\n  name: \"a+b\"\n",
	    "must not contain spaces");
	refused("audit_dir: a\naudit:\n  segment_size: 1KiB\n",
	    "segment_size must be 4KiB to 1TiB");
	refused("audit_dir: a\naudit:\n  checkpoint_records: 0\n",
	    "checkpoint_records");
	refused("audit_dir: a\naudit:\n  checkpoint_interval: 0\n",
	    "checkpoint_interval must be 1s to 1d");
	refused("audit_dir: a\naudit:\n  checkpoint_interval: 2d\n",
	    "checkpoint_interval must be 1s to 1d");
	refused("audit_dir: a\naudit:\n  signing_key: ''\n",
	    "field 'signing_key' is required");
	refused("audit_dir: a\naudit: [1]\n", "audit");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_defaults, setup, teardown),
		cmocka_unit_test_setup_teardown(test_all_keys, setup, teardown),
		cmocka_unit_test_setup_teardown(test_refusals, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
