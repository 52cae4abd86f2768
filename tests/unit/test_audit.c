/*
 * Unit tests for broker/audit.c: records, the hash chain, reopen, torn-tail
 * recovery, refusal of a changed log, the failure latch, segments,
 * checkpoints (with an in-process signer), reading back, time search and
 * retention.
 */
#include <sys/resource.h>
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cbor.h>
#include <cmocka.h>
#include <openssl/evp.h>

#include "broker/audit.h"
#include "broker/audittree.h"
#include "lib/note.h"

struct fixture {
	char dir[64];
	char log[128];		/* the trail directory */
	char seg[192];		/* its first segment */
};

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sekisho-audit-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->log, sizeof(f->log), "%s/audit.log", f->dir);
	snprintf(f->seg, sizeof(f->seg), "%s/00000000000000000000.audit",
	    f->log);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct audit *
open_ok(const char *path, size_t *torn)
{
	struct audit *a = NULL;
	char err[512];

	if (audit_open(path, &a, torn, err, sizeof(err)) != 0)
		fail_msg("audit_open: %s", err);
	return a;
}

/* Appends n records of type "receive" (record i has detail "i" = i). */
static void
append_n(struct audit *a, unsigned n, time_t now)
{
	struct audit_kv kv[2];
	struct audit_event ev;
	char err[512];
	unsigned i;

	for (i = 0; i < n; i++) {
		memset(kv, 0, sizeof(kv));
		kv[0].key = "i";
		kv[0].type = AUDIT_UINT;
		kv[0].u = i;
		kv[1].key = "note";
		kv[1].type = AUDIT_TEXT;
		kv[1].text = "chunk durable";
		memset(&ev, 0, sizeof(ev));
		ev.type = "receive";
		ev.user = "yamada.taro";
		ev.peer = "192.0.2.10:50000";
		ev.transfer = "0123456789abcdef0123456789abcdef";
		ev.details = kv;
		ev.ndetails = 2;
		if (audit_append(a, now, &ev, err, sizeof(err)) != 0)
			fail_msg("audit_append: %s", err);
	}
}

/* Everything the tests want to know about a log's records. */
struct collected {
	unsigned n;
	uint64_t off[64];		/* file offset of record i */
	size_t len[64];
	uint8_t hash[64][32];		/* SHA-256 of record i */
	uint8_t prev[64][32];		/* its "prev" field */
	uint64_t seq[64];
	uint64_t next_off;
	cbor_item_t *item[64];		/* decoded, when keep is set */
	uint64_t first;			/* seq of the first (after a prune) */
	int keep;
};

static cbor_item_t *
map_get(const cbor_item_t *map, const char *key)
{
	struct cbor_pair *p = cbor_map_handle(map);
	size_t i;

	assert_true(cbor_isa_map(map));
	for (i = 0; i < cbor_map_size(map); i++) {
		if (cbor_isa_string(p[i].key) &&
		    cbor_string_length(p[i].key) == strlen(key) &&
		    memcmp(cbor_string_handle(p[i].key), key,
		    strlen(key)) == 0)
			return p[i].value;
	}
	return NULL;
}

static int
collect_cb(uint64_t seq, const uint8_t *rec, size_t len, void *arg)
{
	struct collected *c = arg;
	struct cbor_load_result res;
	cbor_item_t *item, *v;
	unsigned int hl = 32;

	assert_true(c->n < 64);
	if (c->n == 0)
		c->first = seq;
	assert_int_equal(seq, c->first + c->n);
	c->off[c->n] = c->next_off;
	c->len[c->n] = len;
	c->next_off += len;
	assert_int_equal(EVP_Digest(rec, len, c->hash[c->n], &hl,
	    EVP_sha256(), NULL), 1);
	item = cbor_load(rec, len, &res);
	assert_non_null(item);
	assert_int_equal(res.read, len);
	v = map_get(item, "seq");
	assert_non_null(v);
	c->seq[c->n] = cbor_get_int(v);
	v = map_get(item, "prev");
	assert_non_null(v);
	assert_int_equal(cbor_bytestring_length(v), 32);
	memcpy(c->prev[c->n], cbor_bytestring_handle(v), 32);
	if (c->keep)
		c->item[c->n] = item;
	else
		cbor_decref(&item);
	c->n++;
	return 0;
}

static void
collect(const char *path, struct collected *c)
{
	char err[512];

	memset(c, 0, sizeof(*c));
	if (audit_read_file(path, collect_cb, c, err, sizeof(err)) != 0)
		fail_msg("audit_read_file: %s", err);
}

static void
flip_byte(const char *path, uint64_t off)
{
	uint8_t b;
	int fd = open(path, O_RDWR);

	assert_true(fd >= 0);
	assert_int_equal(pread(fd, &b, 1, (off_t)off), 1);
	b ^= 0x20;
	assert_int_equal(pwrite(fd, &b, 1, (off_t)off), 1);
	close(fd);
}

static void
append_raw(const char *path, const void *buf, size_t len)
{
	int fd = open(path, O_WRONLY | O_APPEND);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, buf, len), (ssize_t)len);
	close(fd);
}

static off_t
file_size(const char *path)
{
	struct stat sb;

	assert_int_equal(stat(path, &sb), 0);
	return sb.st_size;
}

static void
test_chain_and_reopen(void **state)
{
	struct fixture *f = *state;
	static const uint8_t zero[32];
	struct collected c;
	struct audit *a, *b;
	char err[512];
	struct stat sb;
	unsigned i;

	a = open_ok(f->log, NULL);
	assert_int_equal(stat(f->log, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0700);
	assert_int_equal(audit_next_seq(a), 0);
	assert_true(audit_healthy(a));
	append_n(a, 10, 1700000000);
	assert_int_equal(audit_next_seq(a), 10);
	assert_int_equal(audit_sync(a, err, sizeof(err)), 0);
	assert_int_equal(stat(f->seg, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);

	/* A second writer would fork the chain: refused. */
	assert_int_equal(audit_open(f->log, &b, NULL, err, sizeof(err)), -1);
	assert_null(b);
	assert_non_null(strstr(err, "in use"));
	audit_close(a);

	a = open_ok(f->log, NULL);
	assert_int_equal(audit_next_seq(a), 10);
	append_n(a, 5, 1700000100);
	assert_int_equal(audit_sync(a, err, sizeof(err)), 0);
	audit_close(a);

	collect(f->log, &c);
	assert_int_equal(c.n, 15);
	assert_int_equal(c.next_off, (uint64_t)file_size(f->seg));
	assert_memory_equal(c.prev[0], zero, 32);
	for (i = 0; i < c.n; i++) {
		assert_int_equal(c.seq[i], i);
		if (i > 0)
			assert_memory_equal(c.prev[i], c.hash[i - 1], 32);
	}
}

/* Offset of needle inside record i of c. */
static uint64_t
find_in_record(const char *path, const struct collected *c, unsigned i,
    const void *needle, size_t nlen)
{
	uint8_t buf[4096];
	const uint8_t *p;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_true(c->len[i] <= sizeof(buf));
	assert_int_equal(pread(fd, buf, c->len[i], (off_t)c->off[i]),
	    (ssize_t)c->len[i]);
	close(fd);
	p = memmem(buf, c->len[i], needle, nlen);
	assert_non_null(p);
	return c->off[i] + (uint64_t)(p - buf);
}

static void
expect_refused2(const char *path, const char *seg, const char *what)
{
	struct audit *a;
	char err[512];
	off_t before = file_size(seg);

	assert_int_equal(audit_read_file(path, NULL, NULL, err, sizeof(err)),
	    -1);
	if (strstr(err, what) == NULL)
		fail_msg("audit_read_file said \"%s\", expected \"%s\"", err,
		    what);
	assert_int_equal(audit_open(path, &a, NULL, err, sizeof(err)), -1);
	assert_null(a);
	if (strstr(err, what) == NULL)
		fail_msg("audit_open said \"%s\", expected \"%s\"", err, what);
	assert_int_equal(file_size(seg), before);	/* left alone */
}

#define expect_refused(f, what) expect_refused2((f)->log, (f)->seg, what)

static void
test_flipped_byte_in_content(void **state)
{
	struct fixture *f = *state;
	struct collected c;
	struct audit *a;
	char err[512];

	a = open_ok(f->log, NULL);
	append_n(a, 10, 1700000000);
	assert_int_equal(audit_sync(a, err, sizeof(err)), 0);
	audit_close(a);
	collect(f->log, &c);

	/* "chunk durable" -> "chunk Durable" in record 5: record 5 itself
	 * still parses; the next record's prev no longer matches it. */
	flip_byte(f->seg, find_in_record(f->seg, &c, 5, "durable", 7));
	expect_refused(f, "record 6 ");
	expect_refused(f, "prev does not match the hash of record 5");
}

static void
test_flipped_byte_in_prev(void **state)
{
	struct fixture *f = *state;
	struct collected c;
	struct audit *a;
	char err[512];

	a = open_ok(f->log, NULL);
	append_n(a, 10, 1700000000);
	assert_int_equal(audit_sync(a, err, sizeof(err)), 0);
	audit_close(a);
	collect(f->log, &c);

	/* prev is the last field: its last byte ends the record. */
	flip_byte(f->seg, c.off[5] + c.len[5] - 1);
	expect_refused(f, "record 5 ");
}

static void
test_flipped_structure(void **state)
{
	struct fixture *f = *state;
	struct collected c;
	struct audit *a;
	char err[512];

	a = open_ok(f->log, NULL);
	append_n(a, 10, 1700000000);
	assert_int_equal(audit_sync(a, err, sizeof(err)), 0);
	audit_close(a);
	collect(f->log, &c);

	/* Record 3's map header (0xa7) becomes an array header (0x87). */
	flip_byte(f->seg, c.off[3]);
	expect_refused(f, "record 3 ");

	/* Rewriting a sequence number is caught as well. */
	flip_byte(f->seg, c.off[3]);
	assert_int_equal(audit_read_file(f->log, NULL, NULL, err,
	    sizeof(err)), 0);
	/* "seq" key then value 7 (0x07) in record 7 -> 0x27 (negative). */
	flip_byte(f->seg, find_in_record(f->seg, &c, 7, "seq\x07", 4) + 3);
	expect_refused(f, "record 7 ");
}

static void
test_torn_tail_truncated(void **state)
{
	struct fixture *f = *state;
	struct collected c;
	struct audit *a;
	uint8_t *copy;
	char err[512];
	size_t torn = 0;
	off_t good;
	int fd;

	a = open_ok(f->log, NULL);
	append_n(a, 5, 1700000000);
	assert_int_equal(audit_sync(a, err, sizeof(err)), 0);
	audit_close(a);
	collect(f->log, &c);
	good = file_size(f->seg);

	/* The first 40 bytes of a record, as a crash mid-append leaves. */
	copy = malloc(c.len[2]);
	assert_non_null(copy);
	fd = open(f->seg, O_RDONLY);
	assert_int_equal(pread(fd, copy, c.len[2], (off_t)c.off[2]),
	    (ssize_t)c.len[2]);
	close(fd);
	append_raw(f->seg, copy, 40);

	assert_int_equal(audit_read_file(f->log, NULL, NULL, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "record 5: incomplete final record"));

	a = open_ok(f->log, &torn);
	assert_int_equal(torn, 40);
	assert_int_equal(file_size(f->seg), good);
	assert_int_equal(audit_next_seq(a), 5);
	append_n(a, 2, 1700000001);
	assert_int_equal(audit_sync(a, err, sizeof(err)), 0);
	audit_close(a);
	collect(f->log, &c);
	assert_int_equal(c.n, 7);

	/* Zeros where unsynced appends were (seen on some file systems). */
	good = file_size(f->seg);
	memset(copy, 0, c.len[2]);
	append_raw(f->seg, copy, c.len[2]);
	a = open_ok(f->log, &torn);
	assert_int_equal(torn, c.len[2]);
	assert_int_equal(file_size(f->seg), good);
	audit_close(a);

	/* A complete item that is not a record is corruption, not a tear. */
	append_raw(f->seg, "\x01", 1);
	expect_refused(f, "record 7 ");
	free(copy);

	/* A clean log reports no torn bytes. */
	assert_int_equal(truncate(f->seg, good), 0);
	torn = 99;
	a = open_ok(f->log, &torn);
	assert_int_equal(torn, 0);
	audit_close(a);
}

static void
test_record_fields_roundtrip(void **state)
{
	struct fixture *f = *state;
	static const uint64_t uints[] = {
		0, 23, 24, 255, 256, 65535, 65536, 4294967295u, 4294967296u,
		UINT64_MAX,
	};
	static const char *const ukeys[] = {
		"u0", "u1", "u2", "u3", "u4", "u5", "u6", "u7", "u8", "u9",
	};
	const uint8_t blob[] = { 0x00, 0xff, 0x10, 0x80 };
	struct audit_kv kv[16];
	struct audit_event ev;
	struct collected c;
	cbor_item_t *rec, *actor, *subject, *details, *v;
	struct audit *a;
	char err[512];
	size_t i, n = 0;

	memset(kv, 0, sizeof(kv));
	kv[n].key = "name"; kv[n].type = AUDIT_TEXT;
	kv[n++].text = "報告書.pdf";
	kv[n].key = "bad"; kv[n].type = AUDIT_TEXT;
	kv[n++].text = "a\xff" "b\xe3\x81";	/* ill-formed UTF-8 */
	kv[n].key = "sha256"; kv[n].type = AUDIT_BYTES;
	kv[n].bytes = blob; kv[n++].len = sizeof(blob);
	kv[n].key = "empty"; kv[n].type = AUDIT_BYTES;
	kv[n].bytes = NULL; kv[n++].len = 0;
	kv[n].key = "yes"; kv[n].type = AUDIT_BOOL; kv[n++].u = 1;
	kv[n].key = "no"; kv[n].type = AUDIT_BOOL; kv[n++].u = 0;
	for (i = 0; i < 10; i++) {
		kv[n].key = ukeys[i];
		kv[n].type = AUDIT_UINT;
		kv[n++].u = uints[i];
	}

	memset(&ev, 0, sizeof(ev));
	ev.type = "store";
	ev.user = "yamada.taro";
	ev.dept = "somu";
	ev.terminal = "";		/* empty: left out like NULL */
	ev.cert_fp = "ab12";
	ev.transfer = "0123456789abcdef0123456789abcdef";
	ev.service = "lgwan-box";
	ev.details = kv;
	ev.ndetails = n;

	a = open_ok(f->log, NULL);
	assert_int_equal(audit_append(a, 1763774423, &ev, err, sizeof(err)),
	    0);
	memset(&ev, 0, sizeof(ev));
	ev.type = "connect";		/* nothing else */
	assert_int_equal(audit_append(a, 0, &ev, err, sizeof(err)), 0);
	assert_int_equal(audit_sync(a, err, sizeof(err)), 0);
	audit_close(a);

	memset(&c, 0, sizeof(c));
	c.keep = 1;
	assert_int_equal(audit_read_file(f->log, collect_cb, &c, err,
	    sizeof(err)), 0);
	assert_int_equal(c.n, 2);
	rec = c.item[0];
	assert_int_equal(cbor_map_size(rec), 8);
	v = map_get(rec, "clock");
	assert_true(cbor_isa_string(v));
	v = map_get(rec, "time");
	assert_int_equal(cbor_string_length(v), 20);
	assert_memory_equal(cbor_string_handle(v), "2025-11-22T01:20:23Z", 20);
	v = map_get(rec, "type");
	assert_memory_equal(cbor_string_handle(v), "store", 5);

	actor = map_get(rec, "actor");
	assert_int_equal(cbor_map_size(actor), 3);
	assert_memory_equal(cbor_string_handle(map_get(actor, "user")),
	    "yamada.taro", 11);
	assert_memory_equal(cbor_string_handle(map_get(actor, "dept")),
	    "somu", 4);
	assert_memory_equal(cbor_string_handle(map_get(actor, "cert_fp")),
	    "ab12", 4);
	assert_null(map_get(actor, "terminal"));
	assert_null(map_get(actor, "peer"));
	subject = map_get(rec, "subject");
	assert_int_equal(cbor_map_size(subject), 2);
	assert_memory_equal(cbor_string_handle(map_get(subject, "service")),
	    "lgwan-box", 9);
	assert_int_equal(cbor_string_length(map_get(subject, "transfer")), 32);

	details = map_get(rec, "details");
	assert_int_equal(cbor_map_size(details), n);
	v = map_get(details, "name");
	assert_true(cbor_isa_string(v));
	assert_int_equal(cbor_string_length(v), strlen("報告書.pdf"));
	assert_memory_equal(cbor_string_handle(v), "報告書.pdf",
	    strlen("報告書.pdf"));
	v = map_get(details, "bad");
	assert_int_equal(cbor_string_length(v), 11);
	assert_memory_equal(cbor_string_handle(v),
	    "a\xef\xbf\xbd" "b\xef\xbf\xbd\xef\xbf\xbd", 11);
	v = map_get(details, "sha256");
	assert_true(cbor_isa_bytestring(v));
	assert_int_equal(cbor_bytestring_length(v), sizeof(blob));
	assert_memory_equal(cbor_bytestring_handle(v), blob, sizeof(blob));
	v = map_get(details, "empty");
	assert_true(cbor_isa_bytestring(v));
	assert_int_equal(cbor_bytestring_length(v), 0);
	v = map_get(details, "yes");
	assert_true(cbor_is_bool(v) && cbor_get_bool(v));
	v = map_get(details, "no");
	assert_true(cbor_is_bool(v) && !cbor_get_bool(v));
	for (i = 0; i < 10; i++) {
		v = map_get(details, ukeys[i]);
		assert_true(cbor_isa_uint(v));
		assert_int_equal(cbor_get_int(v), uints[i]);
	}
	/* Preferred (shortest) integer encoding. */
	assert_int_equal(cbor_int_get_width(map_get(details, "u1")),
	    CBOR_INT_8);
	assert_int_equal(cbor_int_get_width(map_get(details, "u4")),
	    CBOR_INT_16);
	assert_int_equal(cbor_int_get_width(map_get(details, "u9")),
	    CBOR_INT_64);

	rec = c.item[1];
	assert_int_equal(cbor_map_size(map_get(rec, "actor")), 0);
	assert_int_equal(cbor_map_size(map_get(rec, "subject")), 0);
	assert_int_equal(cbor_map_size(map_get(rec, "details")), 0);
	assert_memory_equal(cbor_string_handle(map_get(rec, "time")),
	    "1970-01-01T00:00:00Z", 20);
	for (i = 0; i < c.n; i++)
		cbor_decref(&c.item[i]);
}

static void
test_bad_event_latches(void **state)
{
	struct fixture *f = *state;
	struct audit_kv kv[2];
	struct audit_event ev;
	struct collected c;
	struct audit *a;
	char err[512], *big;

	a = open_ok(f->log, NULL);
	append_n(a, 2, 1700000000);

	memset(kv, 0, sizeof(kv));
	kv[0].key = "k";
	kv[0].type = AUDIT_UINT;
	kv[1].key = "k";
	kv[1].type = AUDIT_BOOL;
	memset(&ev, 0, sizeof(ev));
	ev.type = "decide";
	ev.details = kv;
	ev.ndetails = 2;
	assert_int_equal(audit_append(a, 1, &ev, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "repeated"));
	assert_false(audit_healthy(a));

	/* Everything after the first failure is refused, with its reason. */
	ev.ndetails = 1;
	assert_int_equal(audit_append(a, 1, &ev, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "earlier failure"));
	assert_non_null(strstr(err, "repeated"));
	assert_int_equal(audit_sync(a, err, sizeof(err)), -1);
	assert_int_equal(audit_next_seq(a), 2);
	audit_close(a);

	/* Nothing of the refused events reached the file. */
	collect(f->log, &c);
	assert_int_equal(c.n, 2);

	/* A record over 64 KiB is refused whole. */
	big = malloc(70000);
	assert_non_null(big);
	memset(big, 'x', 69999);
	big[69999] = '\0';
	kv[0].key = "huge";
	kv[0].type = AUDIT_TEXT;
	kv[0].text = big;
	a = open_ok(f->log, NULL);
	assert_int_equal(audit_append(a, 1, &ev, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "larger than"));
	assert_false(audit_healthy(a));
	audit_close(a);
	free(big);
	collect(f->log, &c);
	assert_int_equal(c.n, 2);
}

static void
test_write_failure_latches(void **state)
{
	struct fixture *f = *state;
	struct rlimit old, lim;
	struct collected c;
	struct audit *a;
	char err[512];
	size_t torn = 0;
	off_t size;

	a = open_ok(f->log, NULL);
	append_n(a, 3, 1700000000);
	assert_int_equal(audit_sync(a, err, sizeof(err)), 0);
	size = file_size(f->seg);

	/* A file size limit half a record past the end: the next append
	 * writes part of its record and then fails (EFBIG). */
	assert_int_equal(getrlimit(RLIMIT_FSIZE, &old), 0);
	signal(SIGXFSZ, SIG_IGN);
	lim = old;
	lim.rlim_cur = (rlim_t)(size + size / 3 / 2);
	assert_int_equal(setrlimit(RLIMIT_FSIZE, &lim), 0);
	{
		struct audit_event ev;
		int rc;

		memset(&ev, 0, sizeof(ev));
		ev.type = "receive";
		rc = audit_append(a, 1700000001, &ev, err, sizeof(err));
		assert_int_equal(setrlimit(RLIMIT_FSIZE, &old), 0);
		signal(SIGXFSZ, SIG_DFL);
		assert_int_equal(rc, -1);
	}
	assert_non_null(strstr(err, "short write of record 3"));
	assert_false(audit_healthy(a));
	assert_int_equal(audit_next_seq(a), 3);
	assert_int_equal(audit_sync(a, err, sizeof(err)), -1);
	audit_close(a);

	/* The partial record is a torn tail on the next open. */
	a = open_ok(f->log, &torn);
	assert_int_equal(torn, (size_t)(size / 3 / 2));
	assert_true(audit_healthy(a));
	assert_int_equal(audit_next_seq(a), 3);
	audit_close(a);
	collect(f->log, &c);
	assert_int_equal(c.n, 3);
}

static void
test_not_a_log(void **state)
{
	struct fixture *f = *state;
	char path[160], err[512];
	struct audit *a;

	/* Not CBOR at all: refused, not truncated. */
	assert_int_equal(mkdir(f->log, 0700), 0);
	{
		int fd = open(f->seg, O_WRONLY | O_CREAT | O_EXCL, 0600);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "hello world\n", 12), 12);
		close(fd);
	}
	expect_refused(f, "record 0 ");
	/* A plain file where the directory should be. */
	snprintf(path, sizeof(path), "%s/text.log", f->dir);
	{
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

		assert_true(fd >= 0);
		close(fd);
	}
	assert_int_equal(audit_open(path, &a, NULL, err, sizeof(err)), -1);
	assert_non_null(strstr(err, "not a directory"));

	/* A symlink is never followed. */
	snprintf(path, sizeof(path), "%s/link.log", f->dir);
	assert_int_equal(symlink(f->log, path), 0);
	assert_int_equal(audit_open(path, &a, NULL, err, sizeof(err)), -1);
	assert_int_equal(audit_read_file(path, NULL, NULL, err, sizeof(err)),
	    -1);

	/* A missing file is an error for the reader. */
	snprintf(path, sizeof(path), "%s/missing.log", f->dir);
	assert_int_equal(audit_read_file(path, NULL, NULL, err, sizeof(err)),
	    -1);
}

/* ------------------------------------------------------------------ */
/* Segments, checkpoints, reading back, time search, retention */

struct signer_ctx {
	struct note_signer sk;
	struct note_signer other;	/* a key the broker does not trust */
	int refuse;			/* the signer says no */
	int wrong_key;			/* signs with the other key */
	unsigned calls;
};

static int
test_sign(void *arg, const char *text, size_t len, char **note,
    size_t *notelen, char *err, size_t errlen)
{
	struct signer_ctx *s = arg;

	s->calls++;
	if (s->refuse) {
		snprintf(err, errlen, "refused for the test");
		return -1;
	}
	return note_sign(text, len, s->wrong_key ? &s->other : &s->sk, note,
	    notelen, err, errlen);
}

static const char *
clock_unsynced(void)
{
	return "unsynced";
}

struct opened {
	struct signer_ctx sc;
	struct note_verifier vk;
	struct audit_options opt;
};

static void
signing_options(struct opened *o, uint64_t segment_size)
{
	char err[256];

	memset(o, 0, sizeof(*o));
	assert_int_equal(note_key_generate("audit.test/sekisho", &o->sc.sk,
	    err, sizeof(err)), 0);
	assert_int_equal(note_key_generate("audit.test/sekisho", &o->sc.other,
	    err, sizeof(err)), 0);
	note_signer_verifier(&o->sc.sk, &o->vk);
	o->opt.segment_size = segment_size;
	o->opt.origin = "audit.test/sekisho";
	o->opt.verifier = &o->vk;
	o->opt.sign = test_sign;
	o->opt.sign_arg = &o->sc;
	o->opt.checkpoint_records = 5;
	o->opt.checkpoint_interval = 3600;
}

static struct audit *
open_opts_ok(const char *dir, const struct audit_options *opt,
    struct audit_recovery *rec)
{
	struct audit *a = NULL;
	char err[512];

	if (audit_open_opts(dir, opt, &a, rec, err, sizeof(err)) != 0)
		fail_msg("audit_open_opts: %s", err);
	return a;
}

static unsigned
count_suffix(const char *dir, const char *suffix)
{
	char cmd[512];
	unsigned n = 0;
	FILE *p;

	snprintf(cmd, sizeof(cmd), "ls %s | grep -c '%s$'", dir, suffix);
	p = popen(cmd, "r");
	assert_non_null(p);
	if (fscanf(p, "%u", &n) != 1)
		n = 0;
	pclose(p);
	return n;
}

static void
sync_ok(struct audit *a)
{
	char err[512];

	if (audit_sync(a, err, sizeof(err)) != 0)
		fail_msg("audit_sync: %s", err);
}

static void
test_segments_rotate(void **state)
{
	struct fixture *f = *state;
	struct audit_options opt;
	struct collected c;
	struct audit *a;
	char path[256];
	unsigned i, nseg;
	int fd;

	memset(&opt, 0, sizeof(opt));
	opt.segment_size = 700;
	a = open_opts_ok(f->log, &opt, NULL);
	append_n(a, 30, 1700000000);
	sync_ok(a);
	audit_close(a);
	nseg = count_suffix(f->log, ".audit");
	assert_true(nseg >= 4);
	collect(f->log, &c);
	assert_int_equal(c.n, 30);
	for (i = 1; i < c.n; i++)
		assert_memory_equal(c.prev[i], c.hash[i - 1], 32);

	/* A crash just after a rotation leaves an empty newest segment. */
	snprintf(path, sizeof(path), "%s/00000000000000000030.audit", f->log);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	a = open_opts_ok(f->log, &opt, NULL);
	assert_int_equal(audit_next_seq(a), 30);
	assert_int_equal(access(path, F_OK), -1);
	append_n(a, 10, 1700000100);
	sync_ok(a);
	audit_close(a);
	collect(f->log, &c);
	assert_int_equal(c.n, 40);
	for (i = 0; i < c.n; i++)
		assert_int_equal(c.seq[i], i);

	/* A segment missing in the middle is refused by the reader. */
	{
		char cmd[512];

		snprintf(cmd, sizeof(cmd), "cd %s && rm \"$(ls *.audit | "
		    "sed -n 2p)\"", f->log);
		assert_int_equal(system(cmd), 0);
	}
	{
		char err[512];

		assert_int_equal(audit_read_file(f->log, NULL, NULL, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "segments are missing"));
	}
}

static void
checkpoint_file(const char *dir, uint64_t size, char *out, size_t outlen)
{
	snprintf(out, outlen, "%s/checkpoints/%020llu.note", dir,
	    (unsigned long long)size);
}

static char *
read_all(const char *path, size_t *len)
{
	struct stat sb;
	char *buf;
	int fd = open(path, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(fstat(fd, &sb), 0);
	buf = malloc((size_t)sb.st_size + 1);
	assert_non_null(buf);
	assert_int_equal(read(fd, buf, (size_t)sb.st_size), sb.st_size);
	close(fd);
	buf[sb.st_size] = '\0';
	*len = (size_t)sb.st_size;
	return buf;
}

static void
test_checkpoints(void **state)
{
	struct fixture *f = *state;
	struct audit_recovery rec;
	struct note_checkpoint cp;
	struct opened o;
	struct audit *a;
	uint8_t root[32];
	char err[512], path[256], *note;
	size_t len;
	uint64_t size;

	signing_options(&o, 0);
	a = open_opts_ok(f->log, &o.opt, &rec);
	assert_int_equal(rec.checkpoint_size, 0);
	append_n(a, 3, 1700000000);
	sync_ok(a);
	assert_int_equal(audit_checkpoint(a, 1700000000, 0, err,
	    sizeof(err)), 0);
	assert_int_equal(audit_latest_checkpoint(a, &note, &len, &size, err,
	    sizeof(err)), -1);
	append_n(a, 3, 1700000000);
	/* Only synced records are ever signed. */
	assert_int_equal(audit_checkpoint(a, 1700000000, 0, err,
	    sizeof(err)), 0);
	sync_ok(a);
	assert_int_equal(audit_checkpoint(a, 1700000000, 0, err,
	    sizeof(err)), 1);
	checkpoint_file(f->log, 6, path, sizeof(path));
	note = read_all(path, &len);
	assert_int_equal(note_checkpoint_open(note, len, &o.vk, 1,
	    "audit.test/sekisho", &cp, err, sizeof(err)), 0);
	assert_int_equal(cp.size, 6);
	assert_int_equal(audittree_root_at(audit_tree(a), 6, root, err,
	    sizeof(err)), 0);
	assert_memory_equal(cp.root, root, 32);
	free(note);
	/* Nothing new: nothing signed, even when forced. */
	assert_int_equal(audit_checkpoint(a, 1700000000, 1, err,
	    sizeof(err)), 0);
	/* Time-based. */
	append_n(a, 1, 1700000001);
	sync_ok(a);
	assert_int_equal(audit_checkpoint(a, 1700000010, 0, err,
	    sizeof(err)), 0);
	assert_int_equal(audit_checkpoint(a, time(NULL) + 3600, 0, err,
	    sizeof(err)), 1);
	assert_int_equal(audit_latest_checkpoint(a, &note, &len, &size, err,
	    sizeof(err)), 0);
	assert_int_equal(size, 7);
	free(note);
	append_n(a, 2, 1700000002);
	sync_ok(a);
	audit_close(a);

	/* Reopen: the nodes up to the checkpoint are trusted, the two records
	 * after it are hashed again. */
	a = open_opts_ok(f->log, &o.opt, &rec);
	assert_int_equal(rec.checkpoint_size, 7);
	assert_int_equal(rec.rehashed, 2);
	assert_int_equal(rec.tree_rebuilt, 0);
	assert_int_equal(audit_next_seq(a), 9);
	audit_close(a);

	/* A damaged node file is rebuilt from the records. The start-up
	 * check reads the subtree roots along the right edge of the signed
	 * size: node (level 2, index 0) is the sixth hash of the file. */
	snprintf(path, sizeof(path), "%s/tree/nodes", f->log);
	flip_byte(path, 6 * 32 + 5);
	a = open_opts_ok(f->log, &o.opt, &rec);
	assert_int_equal(rec.tree_rebuilt, 1);
	assert_int_equal(rec.rehashed, 9);
	audit_close(a);
	/* And a missing one too. */
	assert_int_equal(unlink(path), 0);
	a = open_opts_ok(f->log, &o.opt, &rec);
	assert_int_equal(rec.rehashed, 9);
	audit_close(a);

	/* A record the checkpoint covers was changed, consistently with the
	 * chain from there on: the signed root catches it. */
	{
		struct collected c;
		uint8_t *rest;
		size_t restlen;
		int fd;

		collect(f->log, &c);
		/* Drop records 5.. and append them again from a copy whose
		 * record 5 differs: simplest is to cut the log to 5 records
		 * and append new ones. */
		restlen = (size_t)(file_size(f->seg) - (off_t)c.off[5]);
		rest = malloc(restlen);
		assert_non_null(rest);
		fd = open(f->seg, O_RDONLY);
		assert_int_equal(pread(fd, rest, restlen, (off_t)c.off[5]),
		    (ssize_t)restlen);
		close(fd);
		assert_int_equal(truncate(f->seg, (off_t)c.off[5]), 0);
		/* Fewer records than signed: refused. */
		assert_int_equal(audit_open_opts(f->log, &o.opt, &a, NULL, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "records were lost"));
		/* Rewritten records 5..8 with a valid chain: refused. */
		{
			struct audit_options plain = o.opt;

			plain.origin = NULL;
			a = open_opts_ok(f->log, &plain, NULL);
			append_n(a, 4, 1800000000);
			sync_ok(a);
			audit_close(a);
		}
		assert_int_equal(audit_open_opts(f->log, &o.opt, &a, NULL, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "do not give the root"));
		/* Put the original back. */
		assert_int_equal(truncate(f->seg, (off_t)c.off[5]), 0);
		append_raw(f->seg, rest, restlen);
		free(rest);
	}
	a = open_opts_ok(f->log, &o.opt, NULL);
	audit_close(a);

	/* A checkpoint from another key: refused. */
	{
		char *other;
		size_t olen;
		int fd;

		assert_int_equal(note_checkpoint_sign(&o.sc.other,
		    "audit.test/sekisho", 9, root, &other, &olen, err,
		    sizeof(err)), 0);
		checkpoint_file(f->log, 9, path, sizeof(path));
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, other, olen), (ssize_t)olen);
		close(fd);
		free(other);
		assert_int_equal(audit_open_opts(f->log, &o.opt, &a, NULL, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "does not verify"));
		assert_int_equal(unlink(path), 0);
	}

	/* The signer refuses, or answers with another key: latched. */
	a = open_opts_ok(f->log, &o.opt, NULL);
	append_n(a, 1, 1700000003);
	sync_ok(a);
	o.sc.refuse = 1;
	assert_int_equal(audit_checkpoint(a, 1700000003, 1, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "refused for the test"));
	assert_false(audit_healthy(a));
	assert_non_null(strstr(audit_failure(a), "signer"));
	audit_close(a);
	o.sc.refuse = 0;
	o.sc.wrong_key = 1;
	a = open_opts_ok(f->log, &o.opt, NULL);
	assert_int_equal(audit_checkpoint(a, 1700000003, 1, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "does not verify"));
	assert_false(audit_healthy(a));
	audit_close(a);
	note_signer_clear(&o.sc.sk);
	note_signer_clear(&o.sc.other);
}

static void
test_read_back(void **state)
{
	struct fixture *f = *state;
	struct audit_options opt;
	struct audit_cursor cur;
	struct collected c;
	struct audit *a;
	uint8_t *buf;
	char err[512];
	size_t len;
	uint64_t n, i, total = 0;

	memset(&opt, 0, sizeof(opt));
	opt.segment_size = 700;
	opt.clock_status = clock_unsynced;
	a = open_opts_ok(f->log, &opt, NULL);
	append_n(a, 40, 1700000000);
	/* Not synced yet: nothing to read. */
	assert_int_equal(audit_seek(a, 1, &cur, err, sizeof(err)), -1);
	sync_ok(a);
	collect(f->log, &c);
	buf = malloc(AUDIT_MAX_RECORD * 2);
	assert_non_null(buf);

	assert_int_equal(audit_seek(a, 17, &cur, err, sizeof(err)), 0);
	assert_int_equal(cur.seq, 17);
	assert_int_equal(audit_read(a, &cur, 40, 5, buf, AUDIT_MAX_RECORD * 2,
	    &len, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 5);
	assert_int_equal(cur.seq, 22);
	for (i = 17; i < 22; i++)
		total += c.len[i];
	assert_int_equal(len, total);
	/* Across segment boundaries, up to an end. */
	assert_int_equal(audit_read(a, &cur, 35, 100, buf,
	    AUDIT_MAX_RECORD * 2, &len, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 13);
	assert_int_equal(cur.seq, 35);
	{
		/* The bytes are the records themselves, in order. */
		uint64_t off = 0;
		struct auditfmt_head h;

		for (i = 22; i < 35; i++) {
			assert_int_equal(auditfmt_walk(buf + off, len - off, &h),
			    AUDITFMT_OK);
			assert_int_equal(h.seq, i);
			assert_memory_equal(h.prev, c.prev[i], 32);
			off += h.len;
		}
		assert_int_equal(off, len);
	}
	assert_int_equal(audit_read(a, &cur, 100, 100, buf,
	    AUDIT_MAX_RECORD * 2, &len, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 5);
	assert_int_equal(audit_read(a, &cur, 100, 100, buf,
	    AUDIT_MAX_RECORD * 2, &len, &n, err, sizeof(err)), 0);
	assert_int_equal(n, 0);
	assert_int_equal(audit_seek(a, 41, &cur, err, sizeof(err)), -1);
	assert_int_equal(audit_seek(a, 40, &cur, err, sizeof(err)), 0);

	/* The clock status given by the caller is in every record. */
	{
		struct auditfmt_record *r = malloc(sizeof(*r));

		assert_non_null(r);
		assert_int_equal(audit_seek(a, 0, &cur, err, sizeof(err)), 0);
		assert_int_equal(audit_read(a, &cur, 1, 1, buf,
		    AUDIT_MAX_RECORD * 2, &len, &n, err, sizeof(err)), 0);
		assert_int_equal(auditfmt_decode(buf, len, r, err,
		    sizeof(err)), 0);
		assert_int_equal(r->clock.len, 8);
		assert_memory_equal(r->clock.p, "unsynced", 8);
		free(r);
	}
	free(buf);
	audit_close(a);
}

static void
append_at(struct audit *a, time_t when)
{
	append_n(a, 1, when);
}

static void
test_find_time(void **state)
{
	struct fixture *f = *state;
	struct audit_options opt;
	struct audit *a;
	char err[512];
	uint64_t seq;
	unsigned i;

	memset(&opt, 0, sizeof(opt));
	opt.segment_size = 500;
	a = open_opts_ok(f->log, &opt, NULL);
	assert_int_equal(audit_find_time(a, "2023-11-14T22:13:20Z", &seq, err,
	    sizeof(err)), 0);
	assert_int_equal(seq, 0);
	/* 1700000000 = 2023-11-14T22:13:20Z; one record every 10 s. */
	for (i = 0; i < 30; i++)
		append_at(a, 1700000000 + 10 * (time_t)i);
	sync_ok(a);
	assert_int_equal(audit_find_time(a, "2000-01-01T00:00:00Z", &seq, err,
	    sizeof(err)), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(audit_find_time(a, "2023-11-14T22:13:20Z", &seq, err,
	    sizeof(err)), 0);
	assert_int_equal(seq, 0);
	assert_int_equal(audit_find_time(a, "2023-11-14T22:13:21Z", &seq, err,
	    sizeof(err)), 0);
	assert_int_equal(seq, 1);
	assert_int_equal(audit_find_time(a, "2023-11-14T22:16:40Z", &seq, err,
	    sizeof(err)), 0);
	assert_int_equal(seq, 20);
	assert_int_equal(audit_find_time(a, "2023-11-14T22:18:10Z", &seq, err,
	    sizeof(err)), 0);
	assert_int_equal(seq, 29);
	assert_int_equal(audit_find_time(a, "2030-01-01T00:00:00Z", &seq, err,
	    sizeof(err)), 0);
	assert_int_equal(seq, 30);
	audit_close(a);
}

static void
test_prune(void **state)
{
	struct fixture *f = *state;
	struct audit_recovery rec;
	struct audit_cursor cur;
	struct collected c;
	struct opened o;
	struct audit *a;
	char err[512], archive[192];
	unsigned before, i;
	int n;

	signing_options(&o, 600);
	o.opt.checkpoint_records = 1000;
	a = open_opts_ok(f->log, &o.opt, NULL);
	for (i = 0; i < 20; i++)
		append_at(a, 1700000000 + (time_t)i);
	for (i = 0; i < 20; i++)
		append_at(a, 1700100000 + (time_t)i);
	sync_ok(a);
	assert_int_equal(audit_checkpoint(a, 1700100020, 1, err,
	    sizeof(err)), 1);
	before = count_suffix(f->log, ".audit");
	assert_true(before >= 6);
	/* Nothing is older than the retention: nothing happens. */
	assert_int_equal(audit_prune(a, 1700100100, 1000000, NULL, err,
	    sizeof(err)), 0);
	/* Records of the first day are older than an hour at 1700100100. */
	snprintf(archive, sizeof(archive), "%s/archive", f->dir);
	assert_int_equal(mkdir(archive, 0700), 0);
	n = audit_prune(a, 1700100100, 3600, archive, err, sizeof(err));
	if (n < 0)
		fail_msg("audit_prune: %s", err);
	assert_true(n >= 2);
	/* (The prune record itself may have started a new segment.) */
	assert_true(count_suffix(f->log, ".audit") + (unsigned)n == before ||
	    count_suffix(f->log, ".audit") + (unsigned)n == before + 1);
	assert_int_equal(count_suffix(archive, ".audit"), (unsigned)n);
	assert_true(audit_first_seq(a) > 0 && audit_first_seq(a) <= 20);
	/* The prune record is the last one, and a checkpoint covers it. */
	assert_int_equal(audit_next_seq(a), 41);
	{
		char *note;
		size_t len;
		uint64_t size;

		assert_int_equal(audit_latest_checkpoint(a, &note, &len, &size,
		    err, sizeof(err)), 0);
		assert_int_equal(size, 41);
		free(note);
	}
	assert_int_equal(audit_seek(a, 0, &cur, err, sizeof(err)), -1);
	assert_int_equal(audit_seek(a, audit_first_seq(a), &cur, err,
	    sizeof(err)), 0);
	audit_close(a);

	/* The trail still opens and reads, from the first kept record. */
	a = open_opts_ok(f->log, &o.opt, &rec);
	assert_int_equal(audit_next_seq(a), 41);
	audit_close(a);
	collect(f->log, &c);
	assert_int_equal(c.n, 41 - (unsigned)c.seq[0]);
	assert_true(c.seq[0] > 0);
	note_signer_clear(&o.sc.sk);
	note_signer_clear(&o.sc.other);
}

/* A log from before segments (records of seven keys, no "clock") is a
 * valid first segment: the trail opens, hashes it into the tree, signs. */
static void
test_legacy_log_as_first_segment(void **state)
{
	struct fixture *f = *state;
	struct audit_recovery rec;
	struct opened o;
	struct audit *a;
	uint8_t prev[32];
	char err[512];
	unsigned i;
	FILE *fp;

	assert_int_equal(mkdir(f->log, 0700), 0);
	fp = fopen(f->seg, "wb");
	assert_non_null(fp);
	memset(prev, 0, sizeof(prev));
	for (i = 0; i < 3; i++) {
		cbor_item_t *r = cbor_new_definite_map(7);
		unsigned char *buf = NULL;
		size_t cap = 0, n;
		unsigned int hl = 32;

		cbor_map_add(r, (struct cbor_pair){
		    cbor_move(cbor_build_string("seq")),
		    cbor_move(cbor_build_uint8((uint8_t)i)) });
		cbor_map_add(r, (struct cbor_pair){
		    cbor_move(cbor_build_string("time")),
		    cbor_move(cbor_build_string("2025-11-22T01:20:23Z")) });
		cbor_map_add(r, (struct cbor_pair){
		    cbor_move(cbor_build_string("type")),
		    cbor_move(cbor_build_string("connect")) });
		cbor_map_add(r, (struct cbor_pair){
		    cbor_move(cbor_build_string("actor")),
		    cbor_move(cbor_new_definite_map(0)) });
		cbor_map_add(r, (struct cbor_pair){
		    cbor_move(cbor_build_string("subject")),
		    cbor_move(cbor_new_definite_map(0)) });
		cbor_map_add(r, (struct cbor_pair){
		    cbor_move(cbor_build_string("details")),
		    cbor_move(cbor_new_definite_map(0)) });
		cbor_map_add(r, (struct cbor_pair){
		    cbor_move(cbor_build_string("prev")),
		    cbor_move(cbor_build_bytestring(prev, 32)) });
		n = cbor_serialize_alloc(r, &buf, &cap);
		cbor_decref(&r);
		assert_true(n > 0);
		assert_int_equal(fwrite(buf, 1, n, fp), n);
		assert_int_equal(EVP_Digest(buf, n, prev, &hl, EVP_sha256(),
		    NULL), 1);
		free(buf);
	}
	fclose(fp);
	signing_options(&o, 0);
	a = open_opts_ok(f->log, &o.opt, &rec);
	assert_int_equal(audit_next_seq(a), 3);
	assert_int_equal(rec.rehashed, 3);
	append_n(a, 2, 1800000000);
	sync_ok(a);
	assert_int_equal(audit_checkpoint(a, 1800000000, 1, err, sizeof(err)),
	    1);
	audit_close(a);
	a = open_opts_ok(f->log, &o.opt, &rec);
	assert_int_equal(rec.checkpoint_size, 5);
	assert_int_equal(rec.rehashed, 0);
	audit_close(a);
	note_signer_clear(&o.sc.sk);
	note_signer_clear(&o.sc.other);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_chain_and_reopen, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte_in_content,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_byte_in_prev,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_flipped_structure, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_torn_tail_truncated,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_record_fields_roundtrip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_event_latches, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_write_failure_latches,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_not_a_log, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_segments_rotate, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_checkpoints, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_read_back, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_find_time, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_prune, setup, teardown),
		cmocka_unit_test_setup_teardown(test_legacy_log_as_first_segment,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
