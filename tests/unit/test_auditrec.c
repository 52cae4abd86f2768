/*
 * Tests for broker/auditrec: the fixed-size record keeps copies of what it
 * names, cuts text on a UTF-8 boundary with "...", refuses details and
 * bytes beyond its bounds, and whenever it had to drop or cut anything the
 * record written to the audit log says "truncated": true. Records are
 * appended to a real log (broker/audit) and read back as JSON.
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

#include "broker/auditrec.h"
#include "lib/cborjson.h"

static char errbuf[256];

/* Text and bytes are kept as offsets until the record is appended. */
static const char *
kv_text(const struct auditrec *r, size_t i)
{
	assert_int_equal(r->kv[i].type, AUDIT_TEXT);
	assert_true(r->kv_off[i] < sizeof(r->text));
	return r->text + r->kv_off[i];
}

static const uint8_t *
kv_bytes(const struct auditrec *r, size_t i)
{
	assert_int_equal(r->kv[i].type, AUDIT_BYTES);
	assert_true(r->kv_off[i] <= sizeof(r->bin));
	return r->bin + r->kv_off[i];
}

/* True when s is well-formed UTF-8 (no cut sequence at the end). */
static int
utf8_ok(const char *s)
{
	const unsigned char *p = (const unsigned char *)s;

	while (*p != '\0') {
		size_t len = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 :
		    (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
		size_t k;

		if (len == 0)
			return 0;
		for (k = 1; k < len; k++)
			if ((p[k] & 0xc0) != 0x80)
				return 0;
		p += len;
	}
	return 1;
}

static void
test_init_and_subject(void **state)
{
	struct auditrec r;
	struct principal who;

	(void)state;
	memset(&who, 0, sizeof(who));
	strcpy(who.user, "alice");
	strcpy(who.dept, "somu");
	strcpy(who.cert_fp, "ab");
	auditrec_init(&r, "connect", &who, "192.0.2.1:50000");
	assert_string_equal(r.type, "connect");
	assert_true(r.has_who);
	assert_string_equal(r.who.user, "alice");
	assert_string_equal(r.peer, "192.0.2.1:50000");
	assert_int_equal(r.nkv, 0);
	assert_false(r.truncated);
	/* A copy: the caller's principal may go away. */
	strcpy(who.user, "mallory");
	assert_string_equal(r.who.user, "alice");

	auditrec_subject(&r, "0123456789abcdef0123456789abcdef", "mail-out");
	assert_string_equal(r.transfer, "0123456789abcdef0123456789abcdef");
	assert_string_equal(r.interface, "mail-out");
	auditrec_subject(&r, NULL, NULL);	/* leaves them */
	assert_string_equal(r.interface, "mail-out");

	/* Re-initialising forgets everything. */
	auditrec_uint(&r, "n", 1);
	auditrec_init(&r, "refuse", NULL, NULL);
	assert_false(r.has_who);
	assert_string_equal(r.peer, "");
	assert_string_equal(r.transfer, "");
	assert_int_equal(r.nkv, 0);
}

static void
test_details(void **state)
{
	static const uint8_t hash[4] = { 1, 2, 3, 4 };
	struct auditrec r;
	char name[32];

	(void)state;
	auditrec_init(&r, "stored", NULL, NULL);
	strcpy(name, "report.pdf");
	auditrec_text(&r, "name", name);
	auditrec_uint(&r, "size", UINT64_MAX);
	auditrec_bool(&r, "resumed", 7);
	auditrec_bool(&r, "dup", 0);
	auditrec_bytes(&r, "hash", hash, sizeof(hash));
	auditrec_bytes(&r, "empty", hash, 0);
	assert_int_equal(r.nkv, 6);
	assert_false(r.truncated);
	strcpy(name, "changed");	/* values are copied */
	assert_string_equal(r.kv[0].key, "name");
	assert_int_equal(r.kv[0].type, AUDIT_TEXT);
	assert_string_equal(kv_text(&r, 0), "report.pdf");
	assert_int_equal(r.kv_off[0], 0);
	assert_int_equal(r.text_used, sizeof("report.pdf"));
	assert_int_equal(r.kv[1].type, AUDIT_UINT);
	assert_true(r.kv[1].u == UINT64_MAX);
	assert_int_equal(r.kv[2].type, AUDIT_BOOL);
	assert_int_equal(r.kv[2].u, 1);
	assert_int_equal(r.kv[3].u, 0);
	assert_int_equal(r.kv[4].type, AUDIT_BYTES);
	assert_int_equal(r.kv[4].len, 4);
	assert_memory_equal(kv_bytes(&r, 4), hash, 4);
	assert_int_equal(r.kv_off[4], 0);
	assert_int_equal(r.kv[5].len, 0);
	assert_int_equal(r.bin_used, 4);
	/* A NULL text is not a value: dropped, and said so. */
	auditrec_text(&r, "null", NULL);
	assert_int_equal(r.nkv, 6);
	assert_true(r.truncated);
}

static void
test_text_fits_exactly(void **state)
{
	static char big[AUDITREC_TEXT + 16];
	struct auditrec r;

	(void)state;
	auditrec_init(&r, "t", NULL, NULL);
	/* The whole area: AUDITREC_TEXT - 1 bytes and the NUL. */
	memset(big, 'a', AUDITREC_TEXT - 1);
	big[AUDITREC_TEXT - 1] = '\0';
	auditrec_text(&r, "k", big);
	assert_false(r.truncated);
	assert_string_equal(kv_text(&r, 0), big);
	assert_int_equal(r.text_used, AUDITREC_TEXT);
	/* Nothing more fits, not even an empty string. */
	auditrec_text(&r, "k2", "");
	assert_true(r.truncated);
	assert_int_equal(r.nkv, 1);
	assert_int_equal(r.text_used, AUDITREC_TEXT);
}

static void
test_text_cut_ascii(void **state)
{
	static char big[2 * AUDITREC_TEXT];
	struct auditrec r;
	const char *t;

	(void)state;
	auditrec_init(&r, "t", NULL, NULL);
	memset(big, 'x', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	auditrec_text(&r, "k", big);
	assert_true(r.truncated);
	assert_int_equal(r.nkv, 1);
	t = kv_text(&r, 0);
	assert_int_equal(strlen(t), AUDITREC_TEXT - 4 + 3);
	assert_string_equal(t + AUDITREC_TEXT - 4, "...");
	assert_int_equal(strspn(t, "x"), AUDITREC_TEXT - 4);
	assert_true(r.text_used <= AUDITREC_TEXT);
	/* The cut value still lies inside the record's storage. */
	assert_true(t >= r.text && t + strlen(t) < r.text + sizeof(r.text));
}

/* Multi-byte characters cut at every position land on a boundary. */
static void
test_text_cut_utf8_boundary(void **state)
{
	static const char *const chars[] = {
		"\xc3\xa9",		/* é, 2 bytes */
		"\xe3\x81\x82",		/* あ, 3 bytes */
		"\xf0\x9f\x98\x80",	/* 😀, 4 bytes */
	};
	static char big[2 * AUDITREC_TEXT + 8];
	struct auditrec r;
	size_t c, shift, off, clen;
	const char *t;

	(void)state;
	for (c = 0; c < 3; c++) {
		clen = strlen(chars[c]);
		for (shift = 0; shift < clen; shift++) {
			/* shift ASCII bytes first move the cut across the
			 * character. */
			memset(big, 'a', shift);
			for (off = shift; off + clen < sizeof(big) - 1;
			    off += clen)
				memcpy(big + off, chars[c], clen);
			big[off] = '\0';

			auditrec_init(&r, "t", NULL, NULL);
			auditrec_text(&r, "name", big);
			assert_true(r.truncated);
			t = kv_text(&r, 0);
			assert_true(strlen(t) >= 3);
			assert_string_equal(t + strlen(t) - 3, "...");
			assert_true(utf8_ok(t));
			/* Nothing but the partial character was dropped. */
			assert_true(strlen(t) - 3 > AUDITREC_TEXT - 4 - clen);
			assert_true(strlen(t) - 3 <= AUDITREC_TEXT - 4);
			assert_memory_equal(t, big, strlen(t) - 3);
		}
	}
}

static void
test_text_shared_budget(void **state)
{
	static char part[1100];
	struct auditrec r;

	(void)state;
	auditrec_init(&r, "t", NULL, NULL);
	memset(part, 'p', sizeof(part) - 1);
	part[sizeof(part) - 1] = '\0';
	auditrec_text(&r, "a", part);	/* 1100 used */
	auditrec_text(&r, "b", part);	/* 2200 used */
	assert_false(r.truncated);
	auditrec_text(&r, "c", part);	/* 872 left: cut */
	assert_true(r.truncated);
	assert_int_equal(r.nkv, 3);
	assert_int_equal(strlen(kv_text(&r, 2)), AUDITREC_TEXT - 2200 - 4 + 3);
	assert_string_equal(kv_text(&r, 0), part);
	assert_string_equal(kv_text(&r, 1), part);
	assert_true(r.text_used <= AUDITREC_TEXT);
}

static void
test_kv_overflow(void **state)
{
	static const char *const keys[AUDITREC_MAX_KV + 2] = {
		"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9",
		"k10", "k11", "k12", "k13", "k14", "k15", "k16", "k17",
	};
	struct auditrec r;
	size_t i;

	(void)state;
	auditrec_init(&r, "t", NULL, NULL);
	for (i = 0; i < AUDITREC_MAX_KV; i++)
		auditrec_uint(&r, keys[i], i);
	assert_int_equal(r.nkv, AUDITREC_MAX_KV);
	assert_false(r.truncated);
	auditrec_uint(&r, keys[i++], 99);
	assert_true(r.truncated);
	assert_int_equal(r.nkv, AUDITREC_MAX_KV);
	/* Every kind of detail is refused the same way. */
	auditrec_text(&r, keys[i], "x");
	auditrec_bool(&r, keys[i], 1);
	auditrec_bytes(&r, keys[i], (const uint8_t *)"x", 1);
	assert_int_equal(r.nkv, AUDITREC_MAX_KV);
	assert_int_equal(r.bin_used, 0);
	assert_int_equal(r.text_used, 0);
}

static void
test_bytes_bound(void **state)
{
	uint8_t buf[AUDITREC_BIN + 1];
	struct auditrec r;

	(void)state;
	memset(buf, 0xab, sizeof(buf));
	auditrec_init(&r, "t", NULL, NULL);
	auditrec_bytes(&r, "all", buf, AUDITREC_BIN);
	assert_false(r.truncated);
	assert_int_equal(r.bin_used, AUDITREC_BIN);
	auditrec_bytes(&r, "more", buf, 1);
	assert_true(r.truncated);
	assert_int_equal(r.nkv, 1);

	auditrec_init(&r, "t", NULL, NULL);
	auditrec_bytes(&r, "over", buf, AUDITREC_BIN + 1);
	assert_true(r.truncated);
	assert_int_equal(r.nkv, 0);
	assert_int_equal(r.bin_used, 0);

	auditrec_init(&r, "t", NULL, NULL);
	auditrec_bytes(&r, "a", buf, 100);
	auditrec_bytes(&r, "b", buf, AUDITREC_BIN - 100 + 1);
	assert_true(r.truncated);
	assert_int_equal(r.nkv, 1);
	auditrec_bytes(&r, "c", buf, AUDITREC_BIN - 100);
	assert_int_equal(r.nkv, 2);
	assert_int_equal(r.bin_used, AUDITREC_BIN);
	assert_int_equal(r.kv_off[1], 100);
}

/* --- appended to a real audit log --- */

struct logdir {
	char dir[64];
	char path[128];
	struct audit *a;
};

static int
setup_log(void **state)
{
	struct logdir *l = calloc(1, sizeof(*l));

	if (l == NULL)
		return -1;
	snprintf(l->dir, sizeof(l->dir), "/tmp/test_auditrec.XXXXXX");
	if (mkdtemp(l->dir) == NULL)
		return -1;
	snprintf(l->path, sizeof(l->path), "%s/audit.log", l->dir);
	if (audit_open(l->path, &l->a, NULL, errbuf, sizeof(errbuf)) != 0)
		return -1;
	*state = l;
	return 0;
}

static int
teardown_log(void **state)
{
	struct logdir *l = *state;

	audit_close(l->a);
	unlink(l->path);
	rmdir(l->dir);
	free(l);
	return 0;
}

struct readback {
	char *json[8];
	size_t n;
};

static int
collect(uint64_t seq, const uint8_t *rec, size_t len, void *arg)
{
	struct readback *rb = arg;

	(void)seq;
	if (rb->n >= 8 || cborjson_encode(rec, len, &rb->json[rb->n], errbuf,
	    sizeof(errbuf)) != 0)
		return -1;
	rb->n++;
	return 0;
}

static void
read_back(struct logdir *l, struct readback *rb)
{
	memset(rb, 0, sizeof(*rb));
	assert_int_equal(audit_sync(l->a, errbuf, sizeof(errbuf)), 0);
	if (audit_read_file(l->path, collect, rb, errbuf, sizeof(errbuf)) != 0)
		fail_msg("read: %s", errbuf);
}

static void
free_back(struct readback *rb)
{
	size_t i;

	for (i = 0; i < rb->n; i++)
		free(rb->json[i]);
}

static void
assert_has(const char *json, const char *needle)
{
	if (strstr(json, needle) == NULL)
		fail_msg("record %s lacks %s", json, needle);
}

static void
test_append_plain(void **state)
{
	struct logdir *l = *state;
	struct principal who;
	struct auditrec r;
	struct readback rb;

	memset(&who, 0, sizeof(who));
	strcpy(who.user, "alice");
	strcpy(who.dept, "somu");
	strcpy(who.cert_fp, "00ff");
	auditrec_init(&r, "stored", &who, "[::1]:5000");
	auditrec_subject(&r, "0123456789abcdef0123456789abcdef", "cloud-a");
	auditrec_text(&r, "name", "\xe5\xa0\xb1\xe5\x91\x8a.pdf");
	auditrec_uint(&r, "size", 1048576);
	auditrec_bool(&r, "resumed", 1);
	auditrec_bytes(&r, "sha256", (const uint8_t *)"\x01\x02", 2);
	assert_int_equal(auditrec_append(&r, l->a, 1795310423, errbuf,
	    sizeof(errbuf)), 0);
	read_back(l, &rb);
	assert_int_equal(rb.n, 1);
	assert_has(rb.json[0], "\"type\":\"stored\"");
	assert_has(rb.json[0], "\"time\":\"2026-11-22T01:20:23Z\"");
	assert_has(rb.json[0], "\"user\":\"alice\"");
	assert_has(rb.json[0], "\"dept\":\"somu\"");
	assert_has(rb.json[0], "\"cert_fp\":\"00ff\"");
	assert_has(rb.json[0], "\"peer\":\"[::1]:5000\"");
	assert_has(rb.json[0], "\"transfer\":\"0123456789abcdef0123456789abcdef\"");
	assert_has(rb.json[0], "\"interface\":\"cloud-a\"");
	assert_has(rb.json[0], "\"name\":\"\xe5\xa0\xb1\xe5\x91\x8a.pdf\"");
	assert_has(rb.json[0], "\"size\":1048576");
	assert_has(rb.json[0], "\"resumed\":true");
	assert_has(rb.json[0], "\"sha256\":\"0102\"");
	if (strstr(rb.json[0], "truncated") != NULL)
		fail_msg("complete record marked truncated: %s", rb.json[0]);
	/* No terminal in the principal: left out. */
	if (strstr(rb.json[0], "terminal") != NULL)
		fail_msg("empty terminal written: %s", rb.json[0]);
	free_back(&rb);
}

/* A record copied by value carries its values, not the original's. */
static void
test_append_copy(void **state)
{
	struct logdir *l = *state;
	struct auditrec *orig = malloc(sizeof(*orig)), copy;
	struct readback rb;

	assert_non_null(orig);
	auditrec_init(orig, "decide", NULL, "192.0.2.7:4000");
	auditrec_text(orig, "reason", "allowed by rule 3");
	auditrec_bytes(orig, "digest", (const uint8_t *)"\xaa\xbb", 2);
	copy = *orig;
	memset(orig, 0x5a, sizeof(*orig));
	free(orig);
	assert_int_equal(auditrec_append(&copy, l->a, 0, errbuf,
	    sizeof(errbuf)), 0);
	read_back(l, &rb);
	assert_int_equal(rb.n, 1);
	assert_has(rb.json[0], "\"reason\":\"allowed by rule 3\"");
	assert_has(rb.json[0], "\"digest\":\"aabb\"");
	assert_has(rb.json[0], "\"peer\":\"192.0.2.7:4000\"");
	free_back(&rb);
}

static void
test_append_marks_truncation(void **state)
{
	static const char *const keys[AUDITREC_MAX_KV + 1] = {
		"k0", "k1", "k2", "k3", "k4", "k5", "k6", "k7", "k8", "k9",
		"k10", "k11", "k12", "k13", "k14", "k15", "k16",
	};
	static char big[AUDITREC_TEXT + 10];
	uint8_t bin[AUDITREC_BIN + 1];
	struct logdir *l = *state;
	struct auditrec r;
	struct readback rb;
	size_t i;

	/* 1: text cut. */
	memset(big, 'y', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	auditrec_init(&r, "cut", NULL, NULL);
	auditrec_text(&r, "name", big);
	assert_int_equal(auditrec_append(&r, l->a, 0, errbuf, sizeof(errbuf)),
	    0);
	/* 2: too many details. */
	auditrec_init(&r, "many", NULL, NULL);
	for (i = 0; i < AUDITREC_MAX_KV + 1; i++)
		auditrec_uint(&r, keys[i], i);
	assert_true(r.truncated);
	assert_int_equal(auditrec_append(&r, l->a, 0, errbuf, sizeof(errbuf)),
	    0);
	/* 3: bytes over the bound. */
	memset(bin, 0, sizeof(bin));
	auditrec_init(&r, "bin", NULL, NULL);
	auditrec_bytes(&r, "blob", bin, sizeof(bin));
	assert_int_equal(auditrec_append(&r, l->a, 0, errbuf, sizeof(errbuf)),
	    0);
	/* 4: exactly the maximum of details: complete, not truncated. */
	auditrec_init(&r, "full", NULL, NULL);
	for (i = 0; i < AUDITREC_MAX_KV; i++)
		auditrec_uint(&r, keys[i], i);
	assert_int_equal(auditrec_append(&r, l->a, 0, errbuf, sizeof(errbuf)),
	    0);

	read_back(l, &rb);
	assert_int_equal(rb.n, 4);
	for (i = 0; i < 3; i++)
		assert_has(rb.json[i], "\"truncated\":true");
	assert_has(rb.json[0], "yyy...\"");
	assert_has(rb.json[1], "\"k0\":0");
	assert_has(rb.json[1], "\"k14\":14");
	if (strstr(rb.json[1], "\"k16\"") != NULL)
		fail_msg("detail beyond the bound written: %s", rb.json[1]);
	if (strstr(rb.json[2], "blob") != NULL)
		fail_msg("refused bytes written: %s", rb.json[2]);
	assert_has(rb.json[3], "\"k15\":15");
	if (strstr(rb.json[3], "truncated") != NULL)
		fail_msg("complete record marked truncated: %s", rb.json[3]);
	free_back(&rb);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_init_and_subject),
		cmocka_unit_test(test_details),
		cmocka_unit_test(test_text_fits_exactly),
		cmocka_unit_test(test_text_cut_ascii),
		cmocka_unit_test(test_text_cut_utf8_boundary),
		cmocka_unit_test(test_text_shared_budget),
		cmocka_unit_test(test_kv_overflow),
		cmocka_unit_test(test_bytes_bound),
		cmocka_unit_test_setup_teardown(test_append_plain, setup_log,
		    teardown_log),
		cmocka_unit_test_setup_teardown(test_append_copy, setup_log,
		    teardown_log),
		cmocka_unit_test_setup_teardown(test_append_marks_truncation,
		    setup_log, teardown_log),
	};

	return cmocka_run_group_tests_name("auditrec", tests, NULL, NULL);
}
