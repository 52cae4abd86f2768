/*
 * Unit tests for broker/audit.c: records, the hash chain, reopen, torn-tail
 * recovery, refusal of a changed log, and the failure latch.
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

struct fixture {
	char dir[64];
	char log[128];
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
	assert_int_equal(seq, c->n);
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
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(audit_next_seq(a), 0);
	assert_true(audit_healthy(a));
	append_n(a, 10, 1700000000);
	assert_int_equal(audit_next_seq(a), 10);
	assert_int_equal(audit_sync(a, err, sizeof(err)), 0);

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
	assert_int_equal(c.next_off, (uint64_t)file_size(f->log));
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
expect_refused(const char *path, const char *what)
{
	struct audit *a;
	char err[512];
	off_t before = file_size(path);

	assert_int_equal(audit_read_file(path, NULL, NULL, err, sizeof(err)),
	    -1);
	if (strstr(err, what) == NULL)
		fail_msg("audit_read_file said \"%s\", expected \"%s\"", err,
		    what);
	assert_int_equal(audit_open(path, &a, NULL, err, sizeof(err)), -1);
	assert_null(a);
	if (strstr(err, what) == NULL)
		fail_msg("audit_open said \"%s\", expected \"%s\"", err, what);
	assert_int_equal(file_size(path), before);	/* left alone */
}

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
	flip_byte(f->log, find_in_record(f->log, &c, 5, "durable", 7));
	expect_refused(f->log, "record 6 ");
	expect_refused(f->log, "prev does not match the hash of record 5");
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
	flip_byte(f->log, c.off[5] + c.len[5] - 1);
	expect_refused(f->log, "record 5 ");
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
	flip_byte(f->log, c.off[3]);
	expect_refused(f->log, "record 3 ");

	/* Rewriting a sequence number is caught as well. */
	flip_byte(f->log, c.off[3]);
	assert_int_equal(audit_read_file(f->log, NULL, NULL, err,
	    sizeof(err)), 0);
	/* "seq" key then value 7 (0x07) in record 7 -> 0x27 (negative). */
	flip_byte(f->log, find_in_record(f->log, &c, 7, "seq\x07", 4) + 3);
	expect_refused(f->log, "record 7 ");
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
	good = file_size(f->log);

	/* The first 40 bytes of a record, as a crash mid-append leaves. */
	copy = malloc(c.len[2]);
	assert_non_null(copy);
	fd = open(f->log, O_RDONLY);
	assert_int_equal(pread(fd, copy, c.len[2], (off_t)c.off[2]),
	    (ssize_t)c.len[2]);
	close(fd);
	append_raw(f->log, copy, 40);

	assert_int_equal(audit_read_file(f->log, NULL, NULL, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "record 5: incomplete final record "
	    "(40 bytes"));

	a = open_ok(f->log, &torn);
	assert_int_equal(torn, 40);
	assert_int_equal(file_size(f->log), good);
	assert_int_equal(audit_next_seq(a), 5);
	append_n(a, 2, 1700000001);
	assert_int_equal(audit_sync(a, err, sizeof(err)), 0);
	audit_close(a);
	collect(f->log, &c);
	assert_int_equal(c.n, 7);

	/* Zeros where unsynced appends were (seen on some file systems). */
	good = file_size(f->log);
	memset(copy, 0, c.len[2]);
	append_raw(f->log, copy, c.len[2]);
	a = open_ok(f->log, &torn);
	assert_int_equal(torn, c.len[2]);
	assert_int_equal(file_size(f->log), good);
	audit_close(a);

	/* A complete item that is not a record is corruption, not a tear. */
	append_raw(f->log, "\x01", 1);
	expect_refused(f->log, "record 7 ");
	free(copy);

	/* A clean log reports no torn bytes. */
	assert_int_equal(truncate(f->log, good), 0);
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
	assert_int_equal(cbor_map_size(rec), 7);
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
	assert_int_equal(cbor_map_size(subject), 1);
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
	size = file_size(f->log);

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
	snprintf(path, sizeof(path), "%s/text.log", f->dir);
	{
		int fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);

		assert_true(fd >= 0);
		assert_int_equal(write(fd, "hello world\n", 12), 12);
		close(fd);
	}
	expect_refused(path, "record 0 ");

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
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
