/*
 * Unit tests for broker/enrolcode.c: the code's format and entropy, how a
 * typed code is read, the MAC (keyed, bound to the user), --ttl bounds,
 * and issue/redeem against a real state store: single use, expiry,
 * another user's code, replacement, lockout, --force. Time is passed in.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>
#include <liboath/oath.h>
#include <openssl/sha.h>

#include "broker/enrolcode.h"
#include "broker/stepup.h"
#include "broker/store.h"
#include "lib/util.h"

#define KEY_HEX \
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"
#define KEY2_HEX \
	"1f1e1d1c1b1a191817161514131211100f0e0d0c0b0a09080706050403020100"
#define NOW 1800000000

struct fixture {
	char dir[64];
	char db[128];
	char key[128];
	struct store *st;
	struct stepup *su;
	struct stepup_limits lim;
};

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
write_key(const char *path, const char *hex)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, hex, strlen(hex)), (ssize_t)strlen(hex));
	close(fd);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sekisho-enrol-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/state.db", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/totp.key", f->dir);
	write_key(f->key, KEY_HEX "\n");
	if (store_open(f->db, &f->st, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	f->lim.max_failures = 3;
	f->lim.lockout = 60;
	f->lim.lockout_max = 600;
	if (stepup_new(f->key, &f->lim, &f->su, err, sizeof(err)) != 0)
		fail_msg("stepup_new: %s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	stepup_free(f->su);
	store_close(f->st);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

/* ---- format ---- */

static void
test_generate_format(void **state)
{
	static char codes[500][ENROLCODE_SHOWN + 1];
	char canon[ENROLCODE_CHARS + 1];
	unsigned seen[128] = { 0 };
	size_t i, j, k;

	(void)state;
	for (i = 0; i < 500; i++) {
		assert_int_equal(enrolcode_generate(codes[i]), 0);
		assert_int_equal(strlen(codes[i]), ENROLCODE_SHOWN);
		for (k = 0; k < ENROLCODE_SHOWN; k++) {
			char ch = codes[i][k];

			if (k == 4 || k == 9) {
				assert_int_equal(ch, '-');
				continue;
			}
			assert_true((ch >= 'A' && ch <= 'Z') ||
			    (ch >= '2' && ch <= '7'));
			seen[(unsigned char)ch]++;
		}
		assert_int_equal(enrolcode_normalize(codes[i], canon), 0);
		assert_int_equal(strlen(canon), ENROLCODE_CHARS);
		for (j = 0; j < i; j++)
			assert_string_not_equal(codes[i], codes[j]);
	}
	/* 6000 characters: every one of the 32 turns up (a generator that
	 * used fewer bits would miss some). */
	for (k = 0; k < 26; k++)
		assert_true(seen['A' + k] > 0);
	for (k = 0; k < 6; k++)
		assert_true(seen['2' + k] > 0);
	assert_int_equal(seen['0'] + seen['1'] + seen['8'] + seen['9'], 0);
}

static void
test_normalize(void **state)
{
	static const char *const bad[] = { "", "ABCD-EFGH-IJK",
	    "ABCD-EFGH-IJKLM", "ABCD-EFGH-IJK9", "ABCD_EFGH_IJKL",
	    "ABCD-EFGH-IJK!", "ABCD-EFGH-IJ\xc3\xa9", "ABCD\tEFGH-IJKL",
	    "ABCDEFGHIJKLABCDEFGHIJKL" };
	char out[ENROLCODE_CHARS + 1];
	size_t i;

	(void)state;
	assert_int_equal(enrolcode_normalize("ABCD-EFGH-IJKL", out), 0);
	assert_string_equal(out, "ABCDEFGHIJKL");
	assert_int_equal(enrolcode_normalize(" abcd efgh-ijkl ", out), 0);
	assert_string_equal(out, "ABCDEFGHIJKL");
	assert_int_equal(enrolcode_normalize("abcdefghijkl", out), 0);
	assert_string_equal(out, "ABCDEFGHIJKL");
	/* 0, 1 and 8 are read as the letters they look like. */
	assert_int_equal(enrolcode_normalize("0BCD-1FGH-8234", out), 0);
	assert_string_equal(out, "OBCDIFGHB234");
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		memset(out, 'x', sizeof(out));
		if (enrolcode_normalize(bad[i], out) != -1)
			fail_msg("'%s' accepted", bad[i]);
		/* Nothing of it is left behind. */
		assert_int_equal(out[0], '\0');
	}
	assert_int_equal(enrolcode_normalize(NULL, out), -1);
}

static void
test_mac(void **state)
{
	struct fixture *f = *state;
	struct stepup *other;
	uint8_t a[STEPUP_MAC_LEN], b[STEPUP_MAC_LEN], sha[SHA256_DIGEST_LENGTH];
	char err[256], key2[160];

	assert_int_equal(enrolcode_mac(f->su, "alice", "ABCDEFGHIJKL", a), 0);
	assert_int_equal(enrolcode_mac(f->su, "alice", "ABCDEFGHIJKL", b), 0);
	assert_memory_equal(a, b, sizeof(a));
	/* Bound to the user, to the code and to the key. */
	assert_int_equal(enrolcode_mac(f->su, "bob", "ABCDEFGHIJKL", b), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	assert_int_equal(enrolcode_mac(f->su, "alice", "ABCDEFGHIJKM", b), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	snprintf(key2, sizeof(key2), "%s/key2", f->dir);
	write_key(key2, KEY2_HEX);
	assert_int_equal(stepup_new(key2, &f->lim, &other, err, sizeof(err)),
	    0);
	assert_int_equal(enrolcode_mac(other, "alice", "ABCDEFGHIJKL", b), 0);
	assert_memory_not_equal(a, b, sizeof(a));
	stepup_free(other);
	/* Not a plain hash of the code. */
	SHA256((const unsigned char *)"ABCDEFGHIJKL", 12, sha);
	assert_memory_not_equal(a, sha, sizeof(a));
	/* Only canonical codes and real user ids. */
	assert_int_equal(enrolcode_mac(f->su, "", "ABCDEFGHIJKL", b), -1);
	assert_int_equal(enrolcode_mac(f->su, "alice", "ABCD-EFGH-IJKL", b),
	    -1);
}

static void
test_parse_ttl(void **state)
{
	static const char *const bad[] = { "4m", "299", "8d", "604801", "",
	    "abc", "-1h", "24x", "1h30m" };
	char err[256];
	uint64_t v;
	size_t i;

	(void)state;
	assert_int_equal(enrolcode_parse_ttl("24h", &v, err, sizeof(err)), 0);
	assert_int_equal(v, 86400);
	assert_int_equal(enrolcode_parse_ttl("5m", &v, err, sizeof(err)), 0);
	assert_int_equal(v, 300);
	assert_int_equal(enrolcode_parse_ttl("7d", &v, err, sizeof(err)), 0);
	assert_int_equal(v, 604800);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		err[0] = '\0';
		if (enrolcode_parse_ttl(bad[i], &v, err, sizeof(err)) != -1)
			fail_msg("--ttl %s accepted", bad[i]);
		assert_non_null(strstr(err, "5m to 7d"));
	}
}

/* ---- issue and redeem against the store ---- */

static int
redeem(struct fixture *f, const char *user, const char *code, time_t now,
    struct enrolcode_outcome *o, struct stepup_enrolment *e)
{
	char err[256];
	int rc;

	assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
	rc = enrolcode_redeem(f->su, f->st, user, code, now, o, e, err,
	    sizeof(err));
	if (rc != 0)
		fail_msg("enrolcode_redeem: %s", err);
	assert_int_equal(store_commit(f->st, err, sizeof(err)), 0);
	return rc;
}

static void
issue(struct fixture *f, const char *user, int force, uint64_t ttl,
    time_t now, struct enrolcode_issued *out)
{
	char err[256];

	if (enrolcode_issue(f->su, f->st, user, "admin", force, ttl, now, out,
	    err, sizeof(err)) != 0)
		fail_msg("enrolcode_issue: %s", err);
}

static void
test_redeem_once(void **state)
{
	struct fixture *f = *state;
	struct enrolcode_issued is;
	struct enrolcode_outcome o;
	struct stepup_enrolment e;
	struct store_totp t;
	char err[256], lower[ENROLCODE_SHOWN + 1];
	size_t i;

	issue(f, "alice", 0, 86400, NOW, &is);
	assert_int_equal(is.expires, NOW + 86400);
	assert_int_equal(is.replaced, 0);
	assert_int_equal(is.active, 0);
	assert_int_equal(store_totp_get(f->st, "alice", &t, err, sizeof(err)),
	    STORE_NOTFOUND);

	/* Typed in lower case, without hyphens: the same code. */
	for (i = 0; is.code[i] != '\0'; i++)
		lower[i] = (char)(is.code[i] >= 'A' && is.code[i] <= 'Z' ?
		    is.code[i] - 'A' + 'a' : is.code[i]);
	lower[i] = '\0';
	redeem(f, "alice", lower, NOW + 10, &o, &e);
	assert_int_equal(o.result, ENROLCODE_REDEEMED);
	assert_string_equal(o.reason, "");
	assert_int_equal(o.issued, NOW);
	assert_int_equal(o.replaced, 0);
	assert_int_equal(strlen(e.base32), 32);
	assert_non_null(strstr(e.uri, "otpauth://totp/sekisho:alice?secret="));
	assert_non_null(strstr(e.uri, e.base32));
	/* A pending secret, as --totp-enroll leaves it. */
	assert_int_equal(store_totp_get(f->st, "alice", &t, err, sizeof(err)),
	    0);
	assert_string_equal(t.state, STORE_TOTP_PENDING);

	/* Used: refused, and counted. */
	redeem(f, "alice", is.code, NOW + 20, &o, &e);
	assert_int_equal(o.result, ENROLCODE_USED);
	assert_string_equal(o.reason, "used");
	assert_int_equal(o.failures, 1);
	assert_int_equal(e.base32[0], '\0');
}

static void
test_other_user_and_wrong(void **state)
{
	struct fixture *f = *state;
	struct enrolcode_issued a, b;
	struct enrolcode_outcome o;
	struct stepup_enrolment e;
	char err[256];
	struct store_totp t;

	issue(f, "alice", 0, 3600, NOW, &a);
	/* bob has no code: alice's is simply wrong for him. */
	redeem(f, "bob", a.code, NOW + 1, &o, &e);
	assert_int_equal(o.result, ENROLCODE_WRONG);
	assert_string_equal(o.reason, "no_code");
	assert_int_equal(o.failures, 1);
	/* With a code of his own, alice's is still wrong. */
	issue(f, "bob", 0, 3600, NOW, &b);
	redeem(f, "bob", a.code, NOW + 2, &o, &e);
	assert_int_equal(o.result, ENROLCODE_WRONG);
	assert_string_equal(o.reason, "wrong_code");
	assert_int_equal(store_totp_get(f->st, "bob", &t, err, sizeof(err)),
	    STORE_NOTFOUND);
	/* And alice's code still works for alice. */
	redeem(f, "alice", a.code, NOW + 3, &o, &e);
	assert_int_equal(o.result, ENROLCODE_REDEEMED);
	/* A malformed code is just wrong. */
	redeem(f, "bob", "not a code", NOW + 4, &o, &e);
	assert_int_equal(o.result, ENROLCODE_WRONG);
}

static void
test_expiry(void **state)
{
	struct fixture *f = *state;
	struct enrolcode_issued is;
	struct enrolcode_outcome o;
	struct stepup_enrolment e;

	issue(f, "alice", 0, ENROLCODE_TTL_MIN, NOW, &is);
	redeem(f, "alice", is.code, NOW + ENROLCODE_TTL_MIN, &o, &e);
	assert_int_equal(o.result, ENROLCODE_EXPIRED);
	assert_string_equal(o.reason, "expired");
	issue(f, "alice", 0, ENROLCODE_TTL_MIN, NOW, &is);
	redeem(f, "alice", is.code, NOW + ENROLCODE_TTL_MIN - 1, &o, &e);
	assert_int_equal(o.result, ENROLCODE_REDEEMED);
}

static void
test_replace(void **state)
{
	struct fixture *f = *state;
	struct enrolcode_issued first, second;
	struct enrolcode_outcome o;
	struct stepup_enrolment e;

	issue(f, "alice", 0, 3600, NOW, &first);
	issue(f, "alice", 0, 3600, NOW + 5, &second);
	assert_int_equal(second.replaced, 1);
	assert_string_not_equal(first.code, second.code);
	redeem(f, "alice", first.code, NOW + 6, &o, &e);
	assert_int_equal(o.result, ENROLCODE_WRONG);
	redeem(f, "alice", second.code, NOW + 7, &o, &e);
	assert_int_equal(o.result, ENROLCODE_REDEEMED);
	assert_int_equal(o.issued, NOW + 5);
}

static void
test_lockout(void **state)
{
	struct fixture *f = *state;
	struct enrolcode_issued is;
	struct enrolcode_outcome o;
	struct stepup_enrolment e;

	issue(f, "alice", 0, 86400, NOW, &is);
	redeem(f, "alice", "AAAA-AAAA-AAAA", NOW + 1, &o, &e);
	assert_int_equal(o.result, ENROLCODE_WRONG);
	redeem(f, "alice", "AAAA-AAAA-AAAB", NOW + 2, &o, &e);
	assert_int_equal(o.failures, 2);
	redeem(f, "alice", "AAAA-AAAA-AAAC", NOW + 3, &o, &e);
	assert_int_equal(o.result, ENROLCODE_LOCKOUT);
	assert_string_equal(o.reason, "wrong_code");
	assert_int_equal(o.retry_after, 60);
	assert_int_equal(o.locked_until, NOW + 3 + 60);
	assert_int_equal(o.lock_count, 1);
	/* Locked: even the right code is not looked at. */
	redeem(f, "alice", is.code, NOW + 30, &o, &e);
	assert_int_equal(o.result, ENROLCODE_LOCKED);
	assert_int_equal(o.retry_after, 33);
	assert_int_equal(e.base32[0], '\0');
	/* The next lock is twice as long. */
	redeem(f, "alice", "AAAA-AAAA-AAAD", NOW + 63, &o, &e);
	redeem(f, "alice", "AAAA-AAAA-AAAE", NOW + 64, &o, &e);
	redeem(f, "alice", "AAAA-AAAA-AAAF", NOW + 65, &o, &e);
	assert_int_equal(o.result, ENROLCODE_LOCKOUT);
	assert_int_equal(o.retry_after, 120);
	/* After it, the right code works and clears the count. */
	redeem(f, "alice", is.code, NOW + 65 + 120, &o, &e);
	assert_int_equal(o.result, ENROLCODE_REDEEMED);
	assert_int_equal(o.failures, 0);
	assert_int_equal(o.lock_count, 0);

	/* A new code from the administrator lifts a lock at once. */
	redeem(f, "alice", "AAAA-AAAA-AAAA", NOW + 400, &o, &e);
	redeem(f, "alice", "AAAA-AAAA-AAAA", NOW + 401, &o, &e);
	redeem(f, "alice", "AAAA-AAAA-AAAA", NOW + 402, &o, &e);
	assert_int_equal(o.result, ENROLCODE_LOCKOUT);
	issue(f, "alice", 0, 86400, NOW + 403, &is);
	redeem(f, "alice", is.code, NOW + 404, &o, &e);
	assert_int_equal(o.result, ENROLCODE_REDEEMED);
}

static void
activate(struct fixture *f, const char *user, time_t now)
{
	struct stepup_enrolment e;
	struct stepup_outcome so;
	uint8_t secret[64];
	size_t len = sizeof(secret);
	char code[STEPUP_DIGITS + 1], err[256];
	char *raw = NULL;

	if (stepup_enroll(f->su, f->st, user, "admin", 1, now, &e, err,
	    sizeof(err)) != 0)
		fail_msg("stepup_enroll: %s", err);
	assert_int_equal(oath_base32_decode(e.base32, strlen(e.base32), &raw,
	    &len), 0);
	memcpy(secret, raw, len);
	free(raw);
	assert_int_equal(stepup_totp_code(secret, len, now, code), 0);
	assert_int_equal(stepup_verify(f->su, f->st, user, code, now, &so,
	    err, sizeof(err)), 0);
	assert_int_equal(so.result, STEPUP_ACTIVATED);
}

static void
test_force(void **state)
{
	struct fixture *f = *state;
	struct enrolcode_issued is;
	struct enrolcode_outcome o;
	struct stepup_enrolment e;
	struct store_totp t;
	char err[256];

	/* Issued while nothing is active, then the user got enrolled at the
	 * console: the code does not replace the active secret, and stays
	 * good for when the secret is reset. */
	issue(f, "alice", 0, 86400, NOW, &is);
	activate(f, "alice", NOW + 10);
	redeem(f, "alice", is.code, NOW + 100, &o, &e);
	assert_int_equal(o.result, ENROLCODE_ACTIVE);
	assert_int_equal(o.failures, 0);
	assert_int_equal(store_totp_get(f->st, "alice", &t, err, sizeof(err)),
	    0);
	assert_string_equal(t.state, STORE_TOTP_ACTIVE);

	/* Issuing for an active user needs force. */
	memset(&is, 0x55, sizeof(is));
	assert_int_equal(enrolcode_issue(f->su, f->st, "alice", "admin", 0,
	    86400, NOW + 200, &is, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--force"));
	assert_int_equal(is.code[0], '\0');
	issue(f, "alice", 1, 86400, NOW + 200, &is);
	assert_int_equal(is.active, 1);
	redeem(f, "alice", is.code, NOW + 300, &o, &e);
	assert_int_equal(o.result, ENROLCODE_REDEEMED);
	assert_int_equal(o.forced, 1);
	assert_int_equal(o.replaced, 2);
	assert_int_equal(store_totp_get(f->st, "alice", &t, err, sizeof(err)),
	    0);
	assert_string_equal(t.state, STORE_TOTP_PENDING);
}

/* The queued audit event names the user, the actor and the expiry, and
 * neither the event nor the database holds the code. */
static void
test_audit_event_and_storage(void **state)
{
	struct fixture *f = *state;
	struct enrolcode_issued is;
	struct store_totp_event ev[4];
	char canon[ENROLCODE_CHARS + 1], path[256], err[256];
	size_t n, i;
	int s;

	issue(f, "alice", 0, 7200, NOW, &is);
	assert_int_equal(enrolcode_normalize(is.code, canon), 0);
	assert_int_equal(store_totp_event_list(f->st, ev, 4, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 1);
	assert_string_equal(ev[0].type, "totp_enrol_code_issued");
	assert_string_equal(ev[0].user, "alice");
	assert_string_equal(ev[0].actor, "admin");
	assert_non_null(strstr(ev[0].detail, "expires=2027-01-15T10:00:00Z"));
	assert_non_null(strstr(ev[0].detail, "ttl=7200"));
	assert_null(strstr(ev[0].detail, is.code));
	assert_null(strstr(ev[0].detail, canon));
	/* Neither form of the code is in the database or its log. */
	for (s = 0; s < 2; s++) {
		FILE *fp;
		char *buf;
		long len;

		snprintf(path, sizeof(path), "%s%s", f->db, s ? "-wal" : "");
		if ((fp = fopen(path, "rb")) == NULL)
			continue;
		fseek(fp, 0, SEEK_END);
		len = ftell(fp);
		rewind(fp);
		buf = malloc((size_t)len + 1);
		assert_non_null(buf);
		assert_int_equal(fread(buf, 1, (size_t)len, fp), (size_t)len);
		fclose(fp);
		for (i = 0; i + ENROLCODE_CHARS <= (size_t)len; i++) {
			assert_false(memcmp(buf + i, canon,
			    ENROLCODE_CHARS) == 0);
			assert_false(i + ENROLCODE_SHOWN <= (size_t)len &&
			    memcmp(buf + i, is.code, ENROLCODE_SHOWN) == 0);
		}
		free(buf);
	}
	/* Bad input changes nothing. */
	assert_int_equal(enrolcode_issue(f->su, f->st, "no such/user", "admin",
	    0, 7200, NOW, &is, err, sizeof(err)), -1);
	assert_int_equal(enrolcode_issue(f->su, f->st, "bob", "admin", 0,
	    ENROLCODE_TTL_MAX + 1, NOW, &is, err, sizeof(err)), -1);
	assert_int_equal(store_totp_event_list(f->st, ev, 4, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_generate_format),
		cmocka_unit_test(test_normalize),
		cmocka_unit_test_setup_teardown(test_mac, setup, teardown),
		cmocka_unit_test(test_parse_ttl),
		cmocka_unit_test_setup_teardown(test_redeem_once, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_other_user_and_wrong,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_expiry, setup, teardown),
		cmocka_unit_test_setup_teardown(test_replace, setup, teardown),
		cmocka_unit_test_setup_teardown(test_lockout, setup, teardown),
		cmocka_unit_test_setup_teardown(test_force, setup, teardown),
		cmocka_unit_test_setup_teardown(test_audit_event_and_storage,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
