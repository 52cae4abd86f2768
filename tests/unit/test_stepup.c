/*
 * Unit tests for broker/stepup.c: RFC 6238 vectors, the ±1 step window,
 * replay, lockout growth and release, AES-256-GCM sealing and tamper
 * detection, key file checks, enrolment, the audit queue, the QR text and
 * the loop's table of step-ups. Time is always passed in, never read.
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

#include "broker/audit.h"
#include "broker/stepup.h"
#include "broker/store.h"
#include "lib/util.h"

#define KEY_HEX \
	"000102030405060708090a0b0c0d0e0f101112131415161718191a1b1c1d1e1f"

/* RFC 6238 appendix B: the SHA-1 seed. */
static const uint8_t rfc_seed[] = "12345678901234567890";

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
write_file(const char *path, const char *text, mode_t mode)
{
	int fd;

	unlink(path);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
	assert_int_equal(fchmod(fd, mode), 0);
	close(fd);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sekisho-stepup-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/state.db", f->dir);
	snprintf(f->key, sizeof(f->key), "%s/totp.key", f->dir);
	write_file(f->key, KEY_HEX "\n", 0600);
	if (store_open(f->db, &f->st, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	f->lim.max_failures = 5;
	f->lim.lockout = 30;
	f->lim.lockout_max = 300;
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

/* ---- TOTP arithmetic ---- */

static void
test_rfc6238_vectors(void **state)
{
	static const struct {
		time_t t;
		const char *code;	/* last 6 of the RFC's 8 digits */
	} v[] = {
		{ 59, "287082" },
		{ 1111111109, "081804" },
		{ 1111111111, "050471" },
		{ 1234567890, "005924" },
		{ 2000000000, "279037" },
		{ (time_t)20000000000LL, "353130" },
	};
	char code[STEPUP_DIGITS + 1];
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(v) / sizeof(v[0]); i++) {
		assert_int_equal(stepup_totp_code(rfc_seed, 20, v[i].t, code),
		    0);
		assert_string_equal(code, v[i].code);
		/* And the match reports that very step. */
		assert_int_equal(stepup_totp_match(rfc_seed, 20, v[i].code,
		    v[i].t), (int64_t)v[i].t / 30);
	}
}

static void
test_window(void **state)
{
	const time_t now = 1700000015;	/* middle of a step */
	const int64_t step = 1700000015 / 30;
	char code[STEPUP_DIGITS + 1];
	int d;

	(void)state;
	for (d = -1; d <= 1; d++) {
		assert_int_equal(stepup_totp_code(rfc_seed, 20,
		    now + d * 30, code), 0);
		assert_int_equal(stepup_totp_match(rfc_seed, 20, code, now),
		    step + d);
	}
	/* Two steps away on either side: refused. */
	for (d = -2; d <= 2; d += 4) {
		assert_int_equal(stepup_totp_code(rfc_seed, 20,
		    now + d * 30, code), 0);
		assert_int_equal(stepup_totp_match(rfc_seed, 20, code, now),
		    -1);
	}
}

static void
test_code_format(void **state)
{
	char code[STEPUP_DIGITS + 1], longer[16];

	(void)state;
	assert_int_equal(stepup_totp_code(rfc_seed, 20, 59, code), 0);
	snprintf(longer, sizeof(longer), "%s0", code);
	assert_int_equal(stepup_totp_match(rfc_seed, 20, longer, 59), -1);
	longer[5] = '\0';
	assert_int_equal(stepup_totp_match(rfc_seed, 20, longer, 59), -1);
	assert_int_equal(stepup_totp_match(rfc_seed, 20, "28708a", 59), -1);
	assert_int_equal(stepup_totp_match(rfc_seed, 20, " 87082", 59), -1);
	assert_int_equal(stepup_totp_match(rfc_seed, 20, "", 59), -1);
	assert_int_equal(stepup_totp_match(rfc_seed, 20, NULL, 59), -1);
	assert_int_equal(stepup_totp_match(rfc_seed, 20, "287082", 59), 1);
}

static void
test_lock_growth(void **state)
{
	struct stepup_limits lim = { 5, 30, 300 };

	(void)state;
	assert_int_equal(stepup_lock_seconds(&lim, 0), 30);
	assert_int_equal(stepup_lock_seconds(&lim, 1), 60);
	assert_int_equal(stepup_lock_seconds(&lim, 2), 120);
	assert_int_equal(stepup_lock_seconds(&lim, 3), 240);
	assert_int_equal(stepup_lock_seconds(&lim, 4), 300);
	assert_int_equal(stepup_lock_seconds(&lim, 1000000), 300);
	lim.lockout = lim.lockout_max = UINT64_MAX / 3;
	assert_int_equal(stepup_lock_seconds(&lim, 80), UINT64_MAX / 3);
}

/* ---- sealing and the key file ---- */

static void
test_seal_roundtrip_and_tamper(void **state)
{
	uint8_t key[STEPUP_KEY_LEN], other[STEPUP_KEY_LEN];
	uint8_t nonce[STEPUP_NONCE_LEN], nonce2[STEPUP_NONCE_LEN];
	uint8_t sealed[STEPUP_SEALED_MAX], bad[STEPUP_SEALED_MAX];
	uint8_t out[STEPUP_SEALED_MAX];
	size_t slen = 0, olen = 0, i;
	char err[256];

	(void)state;
	for (i = 0; i < sizeof(key); i++) {
		key[i] = (uint8_t)i;
		other[i] = (uint8_t)(i + 1);
	}
	assert_int_equal(stepup_seal(key, "alice", rfc_seed, 20, nonce, sealed,
	    sizeof(sealed), &slen, err, sizeof(err)), 0);
	assert_int_equal(slen, 20 + STEPUP_TAG_LEN);
	assert_memory_not_equal(sealed, rfc_seed, 20);
	assert_int_equal(stepup_unseal(key, "alice", nonce, sealed, slen, out,
	    sizeof(out), &olen, err, sizeof(err)), 0);
	assert_int_equal(olen, 20);
	assert_memory_equal(out, rfc_seed, 20);

	/* A second seal of the same secret uses another nonce. */
	assert_int_equal(stepup_seal(key, "alice", rfc_seed, 20, nonce2, bad,
	    sizeof(bad), &olen, err, sizeof(err)), 0);
	assert_memory_not_equal(nonce, nonce2, sizeof(nonce));

	/* Every flipped byte (ciphertext and tag) is detected. */
	for (i = 0; i < slen; i++) {
		memcpy(bad, sealed, slen);
		bad[i] ^= 0x01;
		assert_int_equal(stepup_unseal(key, "alice", nonce, bad, slen,
		    out, sizeof(out), &olen, err, sizeof(err)), -1);
	}
	assert_non_null(strstr(err, "does not authenticate"));
	/* Another user (the AAD), another key, another nonce, a cut tag. */
	assert_int_equal(stepup_unseal(key, "bob", nonce, sealed, slen, out,
	    sizeof(out), &olen, err, sizeof(err)), -1);
	assert_int_equal(stepup_unseal(other, "alice", nonce, sealed, slen,
	    out, sizeof(out), &olen, err, sizeof(err)), -1);
	assert_int_equal(stepup_unseal(key, "alice", nonce2, sealed, slen,
	    out, sizeof(out), &olen, err, sizeof(err)), -1);
	assert_int_equal(stepup_unseal(key, "alice", nonce, sealed, slen - 1,
	    out, sizeof(out), &olen, err, sizeof(err)), -1);
	assert_int_equal(stepup_unseal(key, "alice", nonce, sealed,
	    STEPUP_TAG_LEN, out, sizeof(out), &olen, err, sizeof(err)), -1);
}

static void
test_key_file_checks(void **state)
{
	struct fixture *f = *state;
	uint8_t key[STEPUP_KEY_LEN];
	char path[160], link[160], err[256];

	snprintf(path, sizeof(path), "%s/k", f->dir);
	write_file(path, KEY_HEX, 0600);
	assert_int_equal(stepup_key_load(path, key, err, sizeof(err)), 0);
	assert_int_equal(key[0], 0x00);
	assert_int_equal(key[31], 0x1f);
	write_file(path, KEY_HEX "\n", 0400);
	assert_int_equal(stepup_key_load(path, key, err, sizeof(err)), 0);

	/* Group or others may do anything at all: refused. */
	write_file(path, KEY_HEX "\n", 0640);
	assert_int_equal(stepup_key_load(path, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "0640"));
	assert_null(strstr(err, "0001020304"));
	write_file(path, KEY_HEX "\n", 0604);
	assert_int_equal(stepup_key_load(path, key, err, sizeof(err)), -1);
	write_file(path, KEY_HEX "\n", 0620);
	assert_int_equal(stepup_key_load(path, key, err, sizeof(err)), -1);

	/* Wrong contents. */
	write_file(path, "00010203", 0600);
	assert_int_equal(stepup_key_load(path, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "64 hex digits"));
	write_file(path, KEY_HEX "00", 0600);
	assert_int_equal(stepup_key_load(path, key, err, sizeof(err)), -1);
	write_file(path, KEY_HEX "\n\n", 0600);
	assert_int_equal(stepup_key_load(path, key, err, sizeof(err)), -1);
	write_file(path, "zz0102030405060708090a0b0c0d0e0f"
	    "101112131415161718191a1b1c1d1e1f", 0600);
	assert_int_equal(stepup_key_load(path, key, err, sizeof(err)), -1);

	/* A symbolic link, a directory, a missing file. */
	write_file(path, KEY_HEX, 0600);
	snprintf(link, sizeof(link), "%s/link", f->dir);
	assert_int_equal(symlink(path, link), 0);
	assert_int_equal(stepup_key_load(link, key, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "symbolic link"));
	assert_int_equal(stepup_key_load(f->dir, key, err, sizeof(err)), -1);
	snprintf(path, sizeof(path), "%s/missing", f->dir);
	assert_int_equal(stepup_key_load(path, key, err, sizeof(err)), -1);
}

/* ---- enrolment and verification against the store ---- */

/* Enrols user and returns the raw secret decoded from the base32. */
static void
enroll(struct fixture *f, const char *user, int force, time_t now,
    uint8_t secret[STEPUP_SECRET_LEN], struct stepup_enrolment *e)
{
	char err[256], *raw = NULL;
	size_t rawlen = 0;

	if (stepup_enroll(f->su, f->st, user, "root", force, now, e, err,
	    sizeof(err)) != 0)
		fail_msg("enroll: %s", err);
	assert_int_equal(oath_base32_decode(e->base32, strlen(e->base32),
	    &raw, &rawlen), OATH_OK);
	assert_int_equal(rawlen, STEPUP_SECRET_LEN);
	memcpy(secret, raw, STEPUP_SECRET_LEN);
	free(raw);
}

static enum stepup_result
verify(struct fixture *f, const char *user, const char *code, time_t now,
    struct stepup_outcome *o)
{
	char err[256];

	assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
	if (stepup_verify(f->su, f->st, user, code, now, o, err,
	    sizeof(err)) != 0)
		fail_msg("verify: %s", err);
	assert_int_equal(store_commit(f->st, err, sizeof(err)), 0);
	return o->result;
}

static const char *
code_at(const uint8_t *secret, time_t t, char buf[STEPUP_DIGITS + 1])
{
	assert_int_equal(stepup_totp_code(secret, STEPUP_SECRET_LEN, t, buf),
	    0);
	return buf;
}

/* A six-digit code that is not the secret's for t-30..t+30. */
static const char *
wrong_at(const uint8_t *secret, time_t t, char buf[STEPUP_DIGITS + 1])
{
	unsigned n;

	for (n = 0;; n++) {
		snprintf(buf, STEPUP_DIGITS + 1, "%06u", n);
		if (stepup_totp_match(secret, STEPUP_SECRET_LEN, buf, t) < 0)
			return buf;
	}
}

static void
test_enrol_activate_replay(void **state)
{
	struct fixture *f = *state;
	struct stepup_enrolment e;
	struct stepup_outcome o;
	struct store_totp row;
	uint8_t secret[STEPUP_SECRET_LEN];
	char code[STEPUP_DIGITS + 1], err[256];
	time_t now = 1700000000;

	assert_int_equal(verify(f, "alice", "123456", now, &o),
	    STEPUP_NOT_ENROLLED);

	enroll(f, "alice", 0, now, secret, &e);
	assert_int_equal(e.replaced, 0);
	assert_int_equal(strlen(e.base32), 32);
	assert_non_null(strstr(e.uri, "otpauth://totp/sekisho:alice?secret="));
	assert_non_null(strstr(e.uri, e.base32));
	assert_non_null(strstr(e.uri, "&issuer=sekisho&algorithm=SHA1&"
	    "digits=6&period=30"));
	assert_int_equal(store_totp_get(f->st, "alice", &row, err,
	    sizeof(err)), 0);
	assert_string_equal(row.state, STORE_TOTP_PENDING);
	/* The secret is not stored in the clear. */
	assert_null(memmem(row.sealed, row.sealed_len, secret, 8));

	/* The first good code activates the secret. */
	assert_int_equal(verify(f, "alice", code_at(secret, now, code), now,
	    &o), STEPUP_ACTIVATED);
	assert_int_equal(store_totp_get(f->st, "alice", &row, err,
	    sizeof(err)), 0);
	assert_string_equal(row.state, STORE_TOTP_ACTIVE);
	assert_int_equal(row.activated, now);
	assert_int_equal(row.last_step, now / 30);

	/* The same code again, even seconds later in the same step: replay. */
	assert_int_equal(verify(f, "alice", code, now + 5, &o), STEPUP_REPLAY);
	assert_int_equal(o.failures, 1);
	/* The previous step's code, still inside the window: replay too. */
	assert_int_equal(verify(f, "alice", code_at(secret, now - 30, code),
	    now, &o), STEPUP_REPLAY);
	/* The next step's code is fresh; it resets the failures. */
	assert_int_equal(verify(f, "alice", code_at(secret, now + 30, code),
	    now + 30, &o), STEPUP_OK);
	assert_int_equal(o.failures, 0);

	/* ±2 steps of skew: refused. */
	assert_int_equal(verify(f, "alice", code_at(secret, now + 120, code),
	    now + 60, &o), STEPUP_WRONG);
	assert_int_equal(verify(f, "alice", code_at(secret, now + 60, code),
	    now + 120, &o), STEPUP_WRONG);
}

static void
test_compare_and_set(void **state)
{
	struct fixture *f = *state;
	struct stepup_enrolment e;
	struct stepup_outcome o;
	struct store_totp row;
	uint8_t secret[STEPUP_SECRET_LEN];
	char code[STEPUP_DIGITS + 1], err[256];
	time_t now = 1700000000;
	int64_t stale;

	enroll(f, "alice", 0, now, secret, &e);
	assert_int_equal(store_totp_get(f->st, "alice", &row, err,
	    sizeof(err)), 0);
	stale = row.last_step;
	assert_int_equal(verify(f, "alice", code_at(secret, now, code), now,
	    &o), STEPUP_ACTIVATED);
	/* A writer that read the row before that success cannot write. */
	row.last_step = now / 30;
	assert_int_equal(store_totp_update(f->st, &row, stale, err,
	    sizeof(err)), STORE_NOTFOUND);
	/* Nor one that read another secret's row (re-enrolled since). */
	assert_int_equal(store_totp_get(f->st, "alice", &row, err,
	    sizeof(err)), 0);
	enroll(f, "alice", 1, now, secret, &e);
	assert_int_equal(store_totp_update(f->st, &row, 0, err,
	    sizeof(err)), STORE_NOTFOUND);
}

static void
test_lockout_and_release(void **state)
{
	struct fixture *f = *state;
	struct stepup_enrolment e;
	struct stepup_outcome o;
	uint8_t secret[STEPUP_SECRET_LEN];
	char code[STEPUP_DIGITS + 1];
	time_t now = 1700000000;
	int i, round;

	enroll(f, "alice", 0, now, secret, &e);
	for (round = 0; round < 3; round++) {
		uint64_t lock = round == 0 ? 30 : round == 1 ? 60 : 120;

		for (i = 1; i < 5; i++) {
			assert_int_equal(verify(f, "alice", wrong_at(secret,
			    now, code), now, &o), STEPUP_WRONG);
			assert_int_equal(o.failures, (uint64_t)i);
		}
		assert_int_equal(verify(f, "alice", wrong_at(secret, now,
		    code), now, &o), STEPUP_LOCKOUT);
		assert_int_equal(o.retry_after, lock);
		assert_int_equal(o.lock_count, (uint64_t)round + 1);
		assert_int_equal(o.locked_until, now + (time_t)lock);

		/* While locked even the right code is not looked at. */
		assert_int_equal(verify(f, "alice", code_at(secret, now + 1,
		    code), now + 1, &o), STEPUP_LOCKED);
		assert_int_equal(o.retry_after, lock - 1);
		assert_int_equal(verify(f, "alice", code_at(secret,
		    now + (time_t)lock - 1, code), now + (time_t)lock - 1, &o),
		    STEPUP_LOCKED);
		assert_int_equal(o.retry_after, 1);
		now += (time_t)lock + 30;
	}
	/* Released: the right code works and the growth starts over. */
	assert_int_equal(verify(f, "alice", code_at(secret, now, code), now,
	    &o), STEPUP_ACTIVATED);
	assert_int_equal(o.lock_count, 0);
	now += 60;
	for (i = 1; i < 5; i++)
		verify(f, "alice", wrong_at(secret, now, code), now, &o);
	assert_int_equal(verify(f, "alice", wrong_at(secret, now, code), now,
	    &o), STEPUP_LOCKOUT);
	assert_int_equal(o.retry_after, 30);
}

static void
test_reenrol_and_reset(void **state)
{
	struct fixture *f = *state;
	struct stepup_enrolment e, e2;
	struct stepup_outcome o;
	uint8_t secret[STEPUP_SECRET_LEN], secret2[STEPUP_SECRET_LEN];
	char code[STEPUP_DIGITS + 1], err[256];
	time_t now = 1700000000;

	enroll(f, "alice", 0, now, secret, &e);
	/* A pending secret is replaced without --force. */
	enroll(f, "alice", 0, now, secret2, &e2);
	assert_int_equal(e2.replaced, 1);
	assert_memory_not_equal(secret, secret2, sizeof(secret));
	/* The replaced secret's codes no longer work. */
	assert_int_equal(verify(f, "alice", code_at(secret, now, code), now,
	    &o), STEPUP_WRONG);
	assert_int_equal(verify(f, "alice", code_at(secret2, now, code), now,
	    &o), STEPUP_ACTIVATED);
	/* An active one only with force. */
	assert_int_equal(stepup_enroll(f->su, f->st, "alice", "root", 0, now,
	    &e, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "--force"));
	enroll(f, "alice", 1, now, secret, &e);
	assert_int_equal(e.replaced, 2);

	assert_int_equal(stepup_reset(f->st, "alice", "root", now, err,
	    sizeof(err)), 0);
	assert_int_equal(stepup_reset(f->st, "alice", "root", now, err,
	    sizeof(err)), STORE_NOTFOUND);
	assert_int_equal(verify(f, "alice", code_at(secret, now, code), now,
	    &o), STEPUP_NOT_ENROLLED);
	assert_int_equal(stepup_enroll(f->su, f->st, "../x", "root", 0, now,
	    &e, err, sizeof(err)), -1);
}

static int
count_record(uint64_t seq, const uint8_t *rec, size_t len, void *arg)
{
	(void)seq;
	(void)rec;
	(void)len;
	(*(int *)arg)++;
	return 0;
}

static void
test_audit_queue(void **state)
{
	struct fixture *f = *state;
	struct stepup_enrolment e;
	struct audit *a = NULL;
	uint8_t secret[STEPUP_SECRET_LEN];
	char path[160], err[256];
	size_t n = 0;
	int count = 0;
	struct store_totp_event ev[4];
	FILE *fp;
	char buf[8192];
	size_t got;

	enroll(f, "alice", 0, 1700000000, secret, &e);
	enroll(f, "bob", 0, 1700000001, secret, &e);
	assert_int_equal(stepup_reset(f->st, "bob", "admin2", 1700000002, err,
	    sizeof(err)), 0);
	assert_int_equal(store_totp_event_list(f->st, ev, 4, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 3);
	assert_string_equal(ev[0].type, "totp_enrol");
	assert_string_equal(ev[0].user, "alice");
	assert_string_equal(ev[0].actor, "root");
	assert_string_equal(ev[2].type, "totp_reset");
	assert_string_equal(ev[2].actor, "admin2");

	snprintf(path, sizeof(path), "%s/audit.log", f->dir);
	assert_int_equal(audit_open(path, &a, NULL, err, sizeof(err)), 0);
	assert_int_equal(store_begin(f->st, err, sizeof(err)), 0);
	assert_int_equal(stepup_audit_pending(f->st, a, 1700000010, err,
	    sizeof(err)), 3);
	assert_int_equal(audit_sync(a, err, sizeof(err)), 0);
	assert_int_equal(store_commit(f->st, err, sizeof(err)), 0);
	assert_int_equal(store_totp_event_list(f->st, ev, 4, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 0);
	audit_close(a);
	assert_int_equal(audit_read_file(path, count_record, &count, err,
	    sizeof(err)), 0);
	assert_int_equal(count, 3);
	/* Neither the secret nor its base32 is in the trail (its first
	 * segment file). */
	snprintf(path, sizeof(path), "%s/audit.log/00000000000000000000.audit",
	    f->dir);
	fp = fopen(path, "rb");
	assert_non_null(fp);
	got = fread(buf, 1, sizeof(buf), fp);
	fclose(fp);
	assert_null(memmem(buf, got, e.base32, 16));
	assert_null(memmem(buf, got, secret, 8));
	assert_non_null(memmem(buf, got, "totp_enrol", 10));
}

/* ---- QR text and the loop's table ---- */

static void
test_qr_text(void **state)
{
	char err[256], *qr, *line, *save = NULL;
	size_t width = 0, rows = 0;

	(void)state;
	qr = stepup_qr_text("otpauth://totp/sekisho:alice?secret="
	    "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=sekisho", err,
	    sizeof(err));
	assert_non_null(qr);
	for (line = strtok_r(qr, "\n", &save); line != NULL;
	    line = strtok_r(NULL, "\n", &save)) {
		size_t cells = 0;
		const unsigned char *p = (const unsigned char *)line;

		while (*p != '\0') {
			if (*p == ' ')
				p++;
			else {
				/* ▀ ▄ █ are E2 96 80/84/88. */
				assert_int_equal(p[0], 0xe2);
				assert_int_equal(p[1], 0x96);
				assert_true(p[2] == 0x80 || p[2] == 0x84 ||
				    p[2] == 0x88);
				p += 3;
			}
			cells++;
		}
		if (width == 0)
			width = cells;
		assert_int_equal(cells, width);
		rows++;
	}
	/* A version 3+ symbol plus a quiet zone of 2 on each side, two
	 * modules per row of text. */
	assert_true(width >= 29 + 4);
	assert_int_equal(rows, (width + 1) / 2);
	free(qr);
}

static void
test_grants(void **state)
{
	struct stepup_grants *t = calloc(1, sizeof(*t));
	char fp[UTIL_SHA256_HEX + 1];
	size_t i;

	(void)state;
	assert_non_null(t);
	memset(fp, 'a', UTIL_SHA256_HEX);
	fp[UTIL_SHA256_HEX] = '\0';
	assert_int_equal(stepup_grant_lookup(t, fp, "alice"), 0);
	stepup_grant_record(t, fp, "alice", 1000);
	assert_int_equal(stepup_grant_lookup(t, fp, "alice"), 1000);
	/* Bound to the certificate and its user. */
	assert_int_equal(stepup_grant_lookup(t, fp, "bob"), 0);
	fp[0] = 'b';
	assert_int_equal(stepup_grant_lookup(t, fp, "alice"), 0);
	fp[0] = 'a';
	stepup_grant_record(t, fp, "alice", 2000);
	assert_int_equal(stepup_grant_lookup(t, fp, "alice"), 2000);
	assert_int_equal(t->n, 1);

	/* Full: the oldest entry (the first, at 2000) gives way. */
	for (i = 1; i < STEPUP_GRANTS; i++) {
		snprintf(fp, sizeof(fp), "%064zx", i);
		stepup_grant_record(t, fp, "u", 3000 + (time_t)i);
	}
	assert_int_equal(t->n, STEPUP_GRANTS);
	snprintf(fp, sizeof(fp), "%064x", 0xffffu);
	stepup_grant_record(t, fp, "new", 9000);
	assert_int_equal(t->n, STEPUP_GRANTS);
	assert_int_equal(stepup_grant_lookup(t, fp, "new"), 9000);
	memset(fp, 'a', UTIL_SHA256_HEX);
	assert_int_equal(stepup_grant_lookup(t, fp, "alice"), 0);
	snprintf(fp, sizeof(fp), "%064zx", (size_t)1);
	assert_int_equal(stepup_grant_lookup(t, fp, "u"), 3001);
	free(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_rfc6238_vectors),
		cmocka_unit_test(test_window),
		cmocka_unit_test(test_code_format),
		cmocka_unit_test(test_lock_growth),
		cmocka_unit_test(test_seal_roundtrip_and_tamper),
		cmocka_unit_test_setup_teardown(test_key_file_checks, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_enrol_activate_replay,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_compare_and_set, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_lockout_and_release, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reenrol_and_reset, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_audit_queue, setup,
		    teardown),
		cmocka_unit_test(test_qr_text),
		cmocka_unit_test(test_grants),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
