/*
 * audit — see audit.h and docs/audit.md.
 *
 * A segment is a plain concatenation of CBOR records; a record is exactly
 * the bytes of one definite-length CBOR map, so segments need no framing and
 * any CBOR tool can read them. The same record bytes are what the chain
 * hashes ("prev" = SHA-256 of the previous record) and what the Merkle tree
 * hashes (leaf = SHA-256(0x00 || record)), so records are never re-encoded
 * after they are written.
 *
 * Writing: a record is built with libcbor, serialised into a fixed 64 KiB
 * buffer and written with one write(2) on an O_APPEND descriptor, so a crash
 * can leave at most one incomplete record, at the very end of the newest
 * segment. audit_sync is one fdatasync for everything appended since the
 * last one. Any failure latches the log unhealthy: nothing is written after
 * a failed write or sync (a failed fsync is never retried, see spool.c), and
 * the broker stops accepting transfers until an operator has looked and
 * restarted it.
 *
 * Checkpoints: the tree's node file is synced, then the checkpoint text is
 * signed by the caller's function (the broker's signer process, which alone
 * holds the key), the note is verified here with the public key, and only
 * then written. So a checkpoint file never names a size whose nodes or
 * records are not durable, and start-up can trust the nodes up to the
 * latest checkpoint and rebuild only what follows it.
 *
 * Reading: lib/auditfmt's reader delimits records in a bounded window and
 * never allocates from a count in the file.
 */
#include "broker/audit.h"
#include "broker/audittree.h"

#include <sys/file.h>
#include <sys/stat.h>
#include <sys/timex.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cbor.h>
#include <openssl/evp.h>

#include "lib/util.h"

#define AUDIT_HASH_LEN 32
#define SEG_SUFFIX ".audit"
#define SEG_NAME_LEN 26		/* 20 digits + ".audit" */
#define CP_SUFFIX ".note"
#define CP_NAME_LEN 25		/* 20 digits + ".note" */
#define CP_FILE_MAX 8192	/* bytes of a checkpoint file we read */
#define TREE_DIR "tree"
#define TREE_FILE "tree/nodes"
#define CP_DIR "checkpoints"

struct audit {
	int dirfd;
	int cpfd;			/* checkpoints/ */
	int fd;				/* newest segment, -1 before the first */
	uint64_t seg_first;		/* its first seq */
	uint64_t seg_bytes;		/* its size */
	uint64_t *segs;			/* first seq of every segment, sorted */
	size_t nsegs, capsegs;
	int healthy;
	int dirty;			/* appended since the last sync */
	int dir_dirty;			/* a segment was created since then */
	uint64_t seq;			/* next sequence number */
	uint64_t synced;		/* records made durable */
	uint8_t prev[AUDIT_HASH_LEN];	/* hash of the last record */
	struct audittree *tree;
	uint64_t segment_size;
	uint64_t cp_records, cp_interval;
	const char *(*clock_status)(void);
	audit_sign_fn sign;
	void *sign_arg;
	int checkpoints;		/* origin, verifier and sign are set */
	char origin[NOTE_NAME_MAX + 1];
	struct note_verifier verifier;
	uint64_t cp_size;		/* latest checkpoint; 0: none */
	uint8_t cp_root[AUDIT_HASH_LEN];
	time_t cp_time;
	char *cp_note;
	size_t cp_notelen;
	char path[PATH_MAX];
	char failure[256];		/* why the log became unhealthy */
	uint8_t buf[AUDIT_MAX_RECORD];	/* serialisation buffer */
};

/* ------------------------------------------------------------------ */
/* Failure latch */

static int audit_latch(struct audit *a, char *err, size_t errlen,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Marks the log unhealthy for good and reports why. */
static int
audit_latch(struct audit *a, char *err, size_t errlen, const char *fmt, ...)
{
	char msg[256];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	if (a->healthy) {
		a->healthy = 0;
		snprintf(a->failure, sizeof(a->failure), "%s", msg);
	}
	return util_err(err, errlen, "audit: %s: %s", a->path, msg);
}

static const char *
audit_strerror(int e)
{
	switch (e) {
	case ENOSPC:
		return "no space left on the audit log's file system";
	case EDQUOT:
		return "disk quota exceeded on the audit log's file system";
	case EIO:
		return "I/O error on the audit log's device (records may be "
		    "lost; check the disk and the kernel log)";
	case EROFS:
		return "the audit log's file system is read-only";
	default:
		return strerror(e);
	}
}

/* ------------------------------------------------------------------ */
/* Building a record */

/* Replaces every ill-formed UTF-8 sequence by U+FFFD so that a text value
 * is always a valid CBOR text string. Returns s itself when it is already
 * valid, otherwise a malloc'd copy (*copy set, caller frees); NULL on
 * allocation failure. */
static const char *
audit_utf8(const char *s, char **copy)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len = strlen(s), i = 0, o = 0;
	int valid = 1;
	char *out = NULL;

	*copy = NULL;
	for (;;) {
		size_t n = 0;
		unsigned int c, min = 0;

		if (i >= len)
			break;
		c = p[i];
		if (c < 0x80) {
			n = 1;
		} else if (c >= 0xc2 && c <= 0xdf) {
			n = 2;
			min = 0x80;
		} else if (c >= 0xe0 && c <= 0xef) {
			n = 3;
			min = 0x800;
		} else if (c >= 0xf0 && c <= 0xf4) {
			n = 4;
			min = 0x10000;
		}
		if (n > 1) {
			unsigned int cp = c & (0x7f >> n);
			size_t k;

			if (i + n > len)
				n = 0;
			for (k = 1; n != 0 && k < n; k++) {
				if ((p[i + k] & 0xc0) != 0x80)
					n = 0;
				else
					cp = cp << 6 | (p[i + k] & 0x3f);
			}
			if (n != 0 && (cp < min || cp > 0x10ffff ||
			    (cp >= 0xd800 && cp <= 0xdfff)))
				n = 0;
		}
		if (n == 0 && valid) {
			/* First bad byte: switch to copying. */
			valid = 0;
			if ((out = malloc(3 * len + 1)) == NULL)
				return NULL;
			memcpy(out, s, i);
			o = i;
		}
		if (n == 0) {
			memcpy(out + o, "\xef\xbf\xbd", 3);
			o += 3;
			i++;
		} else {
			if (!valid)
				memcpy(out + o, p + i, n);
			o += n;
			i += n;
		}
	}
	if (valid)
		return s;
	out[o] = '\0';
	*copy = out;
	return out;
}

static cbor_item_t *
audit_build_text(const char *s)
{
	cbor_item_t *item;
	const char *t;
	char *copy;

	if ((t = audit_utf8(s, &copy)) == NULL)
		return NULL;
	item = cbor_build_stringn(t, strlen(t));
	free(copy);
	return item;
}

/* Shortest encoding, so records are in CBOR preferred serialisation. */
static cbor_item_t *
audit_build_uint(uint64_t v)
{
	if (v <= UINT8_MAX)
		return cbor_build_uint8((uint8_t)v);
	if (v <= UINT16_MAX)
		return cbor_build_uint16((uint16_t)v);
	if (v <= UINT32_MAX)
		return cbor_build_uint32((uint32_t)v);
	return cbor_build_uint64(v);
}

/* Adds key => value to map; consumes value (NULL value is a failure). */
static int
audit_put(cbor_item_t *map, const char *key, cbor_item_t *value)
{
	cbor_item_t *k;
	int ok;

	if (value == NULL)
		return -1;
	if ((k = cbor_build_string(key)) == NULL) {
		cbor_decref(&value);
		return -1;
	}
	ok = cbor_map_add(map, (struct cbor_pair){ .key = k, .value = value });
	cbor_decref(&k);
	cbor_decref(&value);
	return ok ? 0 : -1;
}

static int
audit_put_text(cbor_item_t *map, const char *key, const char *v)
{
	return audit_put(map, key, audit_build_text(v));
}

static int
present(const char *s)
{
	return s != NULL && s[0] != '\0';
}

/* A map of the present (non-NULL, non-empty) fields among n name/value
 * pairs. */
static cbor_item_t *
audit_build_fields(const char *const *names, const char *const *values,
    size_t n)
{
	cbor_item_t *map;
	size_t i, count = 0;

	for (i = 0; i < n; i++)
		if (present(values[i]))
			count++;
	if ((map = cbor_new_definite_map(count)) == NULL)
		return NULL;
	for (i = 0; i < n; i++) {
		if (present(values[i]) &&
		    audit_put_text(map, names[i], values[i]) == -1) {
			cbor_decref(&map);
			return NULL;
		}
	}
	return map;
}

static int
audit_check_details(const struct audit_event *ev, char *why, size_t whylen)
{
	size_t i, j;

	if (ev->ndetails > AUDIT_MAX_DETAILS) {
		snprintf(why, whylen, "%zu details (at most %d)",
		    ev->ndetails, AUDIT_MAX_DETAILS);
		return -1;
	}
	if (ev->ndetails > 0 && ev->details == NULL) {
		snprintf(why, whylen, "details missing");
		return -1;
	}
	for (i = 0; i < ev->ndetails; i++) {
		const struct audit_kv *kv = &ev->details[i];
		char *copy = NULL;

		if (!present(kv->key) || audit_utf8(kv->key, &copy) !=
		    kv->key) {
			free(copy);
			snprintf(why, whylen, "detail %zu has no valid key", i);
			return -1;
		}
		for (j = 0; j < i; j++) {
			if (strcmp(ev->details[j].key, kv->key) == 0) {
				snprintf(why, whylen, "detail key \"%s\" "
				    "repeated", kv->key);
				return -1;
			}
		}
		switch (kv->type) {
		case AUDIT_TEXT:
		case AUDIT_UINT:
		case AUDIT_BOOL:
			break;
		case AUDIT_BYTES:
			if (kv->bytes == NULL && kv->len != 0) {
				snprintf(why, whylen, "detail \"%s\" has no "
				    "bytes", kv->key);
				return -1;
			}
			break;
		default:
			snprintf(why, whylen, "detail \"%s\" has an unknown "
			    "type", kv->key);
			return -1;
		}
	}
	return 0;
}

static cbor_item_t *
audit_build_details(const struct audit_event *ev)
{
	cbor_item_t *map, *v;
	size_t i;

	if ((map = cbor_new_definite_map(ev->ndetails)) == NULL)
		return NULL;
	for (i = 0; i < ev->ndetails; i++) {
		const struct audit_kv *kv = &ev->details[i];

		switch (kv->type) {
		case AUDIT_TEXT:
			v = audit_build_text(kv->text != NULL ? kv->text : "");
			break;
		case AUDIT_UINT:
			v = audit_build_uint(kv->u);
			break;
		case AUDIT_BYTES:
			v = cbor_build_bytestring(kv->len > 0 ? kv->bytes :
			    (const uint8_t *)"", kv->len);
			break;
		case AUDIT_BOOL:
		default:
			v = cbor_build_bool(kv->u != 0);
			break;
		}
		if (audit_put(map, kv->key, v) == -1) {
			cbor_decref(&map);
			return NULL;
		}
	}
	return map;
}

/* The record for ev as a CBOR item; NULL when out of memory. */
static cbor_item_t *
audit_build(const struct audit *a, time_t now, const struct audit_event *ev)
{
	static const char *const actor_names[] = {
		"user", "dept", "terminal", "cert_fp", "peer",
	};
	static const char *const subject_names[] = { "transfer", "interface",
	    "service" };
	const char *actor_values[] = {
		ev->user, ev->dept, ev->terminal, ev->cert_fp, ev->peer,
	};
	const char *subject_values[] = { ev->transfer, ev->interface,
	    ev->service };
	const char *clock = a->clock_status != NULL ? a->clock_status() :
	    audit_clock_status();
	char when[21];
	cbor_item_t *rec;

	util_time_rfc3339(now, when);
	if ((rec = cbor_new_definite_map(8)) == NULL)
		return NULL;
	if (audit_put(rec, "seq", audit_build_uint(a->seq)) == -1 ||
	    audit_put_text(rec, "time", when) == -1 ||
	    audit_put_text(rec, "clock", clock) == -1 ||
	    audit_put_text(rec, "type", ev->type) == -1 ||
	    audit_put(rec, "actor", audit_build_fields(actor_names,
	    actor_values, 5)) == -1 ||
	    audit_put(rec, "subject", audit_build_fields(subject_names,
	    subject_values, 3)) == -1 ||
	    audit_put(rec, "details", audit_build_details(ev)) == -1 ||
	    audit_put(rec, "prev", cbor_build_bytestring(a->prev,
	    sizeof(a->prev))) == -1) {
		cbor_decref(&rec);
		return NULL;
	}
	return rec;
}

static int
audit_sha256(const uint8_t *buf, size_t len, uint8_t out[AUDIT_HASH_LEN])
{
	unsigned int n = AUDIT_HASH_LEN;

	return EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL) == 1 &&
	    n == AUDIT_HASH_LEN ? 0 : -1;
}

/* ------------------------------------------------------------------ */
/* Segments */

static void
seg_name(uint64_t first, char out[SEG_NAME_LEN + 1])
{
	snprintf(out, SEG_NAME_LEN + 1, "%020" PRIu64 SEG_SUFFIX, first);
}

/* Parses "<20 digits><suffix>"; -1 for any other name. */
static int
parse_numbered(const char *name, const char *suffix, uint64_t *out)
{
	size_t sl = strlen(suffix);

	if (strlen(name) != 20 + sl || strcmp(name + 20, suffix) != 0)
		return -1;
	return util_parse_digits(name, 20, out);
}

static int
cmp_u64(const void *x, const void *y)
{
	uint64_t a = *(const uint64_t *)x, b = *(const uint64_t *)y;

	return a < b ? -1 : a > b;
}

static int
segs_push(struct audit *a, uint64_t first)
{
	if (a->nsegs == a->capsegs) {
		size_t cap = a->capsegs ? 2 * a->capsegs : 16;
		uint64_t *n = realloc(a->segs, cap * sizeof(*n));

		if (n == NULL)
			return -1;
		a->segs = n;
		a->capsegs = cap;
	}
	a->segs[a->nsegs++] = first;
	return 0;
}

/* Index of the segment holding seq (the last one whose first <= seq). */
static size_t
seg_index(const struct audit *a, uint64_t seq)
{
	size_t lo = 0, hi = a->nsegs;

	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (a->segs[mid] <= seq)
			lo = mid;
		else
			hi = mid;
	}
	return lo;
}

/* Lists dir's segments into a->segs (sorted). */
static int
list_segments(struct audit *a, int dirfd, char *err, size_t errlen)
{
	DIR *d;
	struct dirent *de;
	int fd = dup(dirfd);

	if (fd == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return util_err(err, errlen, "audit: %s: %s", a->path,
		    strerror(errno));
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		uint64_t first;

		if (parse_numbered(de->d_name, SEG_SUFFIX, &first) != 0)
			continue;
		if (segs_push(a, first) != 0) {
			closedir(d);
			return util_err(err, errlen, "audit: out of memory");
		}
	}
	closedir(d);
	if (a->nsegs > 0)
		qsort(a->segs, a->nsegs, sizeof(*a->segs), cmp_u64);
	return 0;
}

static int
open_segment(struct audit *a, uint64_t first, int flags, char *err,
    size_t errlen)
{
	char name[SEG_NAME_LEN + 1];
	int fd;

	seg_name(first, name);
	fd = openat(a->dirfd, name, flags | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (fd == -1)
		return util_err(err, errlen, "audit: %s/%s: %s", a->path, name,
		    audit_strerror(errno));
	return fd;
}

/* Closes the newest segment (synced) and starts one named a->seq. */
static int
rotate(struct audit *a, char *err, size_t errlen)
{
	int fd;

	if (a->fd != -1) {
		/* Never retried: after a failed fdatasync the pages may be
		 * gone. */
		if (a->dirty && fdatasync(a->fd) == -1)
			return audit_latch(a, err, errlen, "fdatasync of "
			    "segment %llu: %s", (unsigned long long)a->seg_first,
			    audit_strerror(errno));
		close(a->fd);
		a->fd = -1;
	}
	fd = open_segment(a, a->seq, O_WRONLY | O_APPEND | O_CREAT | O_EXCL,
	    err, errlen);
	if (fd == -1)
		return audit_latch(a, err, errlen, "cannot start segment %llu",
		    (unsigned long long)a->seq);
	if (segs_push(a, a->seq) != 0) {
		close(fd);
		return audit_latch(a, err, errlen, "out of memory");
	}
	a->fd = fd;
	a->seg_first = a->seq;
	a->seg_bytes = 0;
	a->dir_dirty = 1;
	return 0;
}

/* ------------------------------------------------------------------ */
/* Appending */

int
audit_append(struct audit *a, time_t now, const struct audit_event *ev,
    char *err, size_t errlen)
{
	uint8_t hash[AUDIT_HASH_LEN], leaf[AUDIT_HASH_LEN];
	cbor_item_t *rec;
	char why[128];
	size_t len;
	ssize_t n;

	if (!a->healthy)
		return util_err(err, errlen, "audit: %s is not writable since "
		    "an earlier failure: %s", a->path, a->failure);
	if (ev == NULL || !present(ev->type))
		return audit_latch(a, err, errlen, "record %llu: no event type",
		    (unsigned long long)a->seq);
	if (audit_check_details(ev, why, sizeof(why)) == -1)
		return audit_latch(a, err, errlen, "record %llu (%s): %s",
		    (unsigned long long)a->seq, ev->type, why);
	if ((rec = audit_build(a, now, ev)) == NULL)
		return audit_latch(a, err, errlen, "record %llu: out of memory",
		    (unsigned long long)a->seq);
	len = cbor_serialize(rec, a->buf, sizeof(a->buf));
	cbor_decref(&rec);
	if (len == 0)
		return audit_latch(a, err, errlen, "record %llu (%s) is larger "
		    "than %d bytes", (unsigned long long)a->seq, ev->type,
		    AUDIT_MAX_RECORD);
	if (audit_sha256(a->buf, len, hash) == -1 ||
	    merkle_hash_leaf(a->buf, len, leaf, why, sizeof(why)) == -1)
		return audit_latch(a, err, errlen, "record %llu: SHA-256 "
		    "failed", (unsigned long long)a->seq);
	if ((a->fd == -1 || (a->seg_bytes > 0 &&
	    a->seg_bytes + len > a->segment_size)) &&
	    rotate(a, err, errlen) != 0)
		return -1;
	do {
		n = write(a->fd, a->buf, len);
	} while (n == -1 && errno == EINTR);
	if (n == -1)
		return audit_latch(a, err, errlen, "write of record %llu: %s",
		    (unsigned long long)a->seq, audit_strerror(errno));
	if ((size_t)n != len)
		return audit_latch(a, err, errlen, "short write of record %llu "
		    "(%zd of %zu bytes; the file system is probably full)",
		    (unsigned long long)a->seq, n, len);
	if (audittree_append(a->tree, leaf, why, sizeof(why)) != 0)
		return audit_latch(a, err, errlen, "record %llu: %s",
		    (unsigned long long)a->seq, why);
	memcpy(a->prev, hash, sizeof(a->prev));
	a->seq++;
	a->seg_bytes += len;
	a->dirty = 1;
	return 0;
}

int
audit_sync(struct audit *a, char *err, size_t errlen)
{
	char why[200];

	if (!a->healthy)
		return util_err(err, errlen, "audit: %s is not writable since "
		    "an earlier failure: %s", a->path, a->failure);
	if (!a->dirty)
		return 0;
	/* Never retried: after a failed fdatasync the pages may be gone. */
	if (fdatasync(a->fd) == -1)
		return audit_latch(a, err, errlen, "fdatasync: %s",
		    audit_strerror(errno));
	if (a->dir_dirty && fsync(a->dirfd) == -1)
		return audit_latch(a, err, errlen, "fsync of the directory: %s",
		    audit_strerror(errno));
	/* The nodes are derived data: written now, synced before a
	 * checkpoint. A failure still latches: without them no checkpoint
	 * can be signed. */
	if (audittree_flush(a->tree, why, sizeof(why)) != 0)
		return audit_latch(a, err, errlen, "%s", why);
	a->dirty = 0;
	a->dir_dirty = 0;
	a->synced = a->seq;
	return 0;
}

int
audit_healthy(const struct audit *a)
{
	return a != NULL && a->healthy;
}

const char *
audit_failure(const struct audit *a)
{
	return a->healthy ? "" : a->failure;
}

uint64_t
audit_next_seq(const struct audit *a)
{
	return a->seq;
}

uint64_t
audit_synced_seq(const struct audit *a)
{
	return a->synced;
}

uint64_t
audit_first_seq(const struct audit *a)
{
	return a->nsegs > 0 ? a->segs[0] : a->seq;
}

struct audittree *
audit_tree(struct audit *a)
{
	return a->tree;
}

const char *
audit_clock_status(void)
{
	struct timex tx;
	int st;

	memset(&tx, 0, sizeof(tx));
	if ((st = adjtimex(&tx)) == -1)
		return AUDITFMT_CLOCK_UNKNOWN;
	if ((tx.status & STA_UNSYNC) || st == TIME_ERROR)
		return AUDITFMT_CLOCK_UNSYNCED;
	return AUDITFMT_CLOCK_SYNCED;
}

/* ------------------------------------------------------------------ */
/* Checkpoints */

/* Writes a new file name under dfd durably: tmp, fsync, rename, fsync dir.
 * Refuses to replace an existing file. */
static int
write_durable(int dfd, const char *name, const char *data, size_t len,
    char *err, size_t errlen)
{
	char tmp[64];
	size_t done = 0;
	int fd, e;

	snprintf(tmp, sizeof(tmp), ".%s.tmp", name);
	(void)unlinkat(dfd, tmp, 0);
	fd = openat(dfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC |
	    O_NOFOLLOW, 0644);
	if (fd == -1)
		return util_err(err, errlen, "create %s: %s", tmp,
		    audit_strerror(errno));
	while (done < len) {
		ssize_t n = write(fd, data + done, len - done);

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			e = n < 0 ? errno : ENOSPC;
			close(fd);
			unlinkat(dfd, tmp, 0);
			return util_err(err, errlen, "write %s: %s", tmp,
			    audit_strerror(e));
		}
		done += (size_t)n;
	}
	if (fsync(fd) == -1) {
		e = errno;
		close(fd);
		unlinkat(dfd, tmp, 0);
		return util_err(err, errlen, "fsync %s: %s", tmp,
		    audit_strerror(e));
	}
	close(fd);
	if (faccessat(dfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0) {
		unlinkat(dfd, tmp, 0);
		return util_err(err, errlen, "%s exists already", name);
	}
	if (renameat(dfd, tmp, dfd, name) == -1 || fsync(dfd) == -1) {
		e = errno;
		unlinkat(dfd, tmp, 0);
		return util_err(err, errlen, "rename to %s: %s", name,
		    audit_strerror(e));
	}
	return 0;
}

int
audit_checkpoint(struct audit *a, time_t now, int force, char *err,
    size_t errlen)
{
	uint8_t root[AUDIT_HASH_LEN];
	struct note_checkpoint cp;
	char text[NOTE_ORIGIN_MAX + 128], name[CP_NAME_LEN + 1], why[256];
	char *note = NULL;
	size_t textlen, notelen = 0;
	uint64_t size = a->synced;

	if (!a->checkpoints)
		return 0;
	if (!a->healthy)
		return util_err(err, errlen, "audit: %s is not writable since "
		    "an earlier failure: %s", a->path, a->failure);
	if (size == a->cp_size)
		return 0;
	if (!force && size - a->cp_size < a->cp_records &&
	    now - a->cp_time < (time_t)a->cp_interval)
		return 0;
	if (audittree_sync(a->tree, why, sizeof(why)) != 0 ||
	    audittree_root_at(a->tree, size, root, why, sizeof(why)) != 0)
		return audit_latch(a, err, errlen, "checkpoint %llu: %s",
		    (unsigned long long)size, why);
	if (note_checkpoint_format(a->origin, size, root, NULL, 0, text,
	    sizeof(text), &textlen, why, sizeof(why)) != 0)
		return audit_latch(a, err, errlen, "checkpoint %llu: %s",
		    (unsigned long long)size, why);
	if (a->sign(a->sign_arg, text, textlen, &note, &notelen, why,
	    sizeof(why)) != 0)
		return audit_latch(a, err, errlen, "checkpoint %llu: the "
		    "signer refused or failed: %s", (unsigned long long)size,
		    why);
	/* Trust nothing the signer process returns without checking it. */
	if (note_checkpoint_open(note, notelen, &a->verifier, 1, a->origin,
	    &cp, why, sizeof(why)) != 0 || cp.size != size ||
	    memcmp(cp.root, root, sizeof(root)) != 0) {
		free(note);
		return audit_latch(a, err, errlen, "checkpoint %llu: the "
		    "signed note does not verify with the configured key",
		    (unsigned long long)size);
	}
	snprintf(name, sizeof(name), "%020" PRIu64 CP_SUFFIX, size);
	if (write_durable(a->cpfd, name, note, notelen, why,
	    sizeof(why)) != 0) {
		free(note);
		return audit_latch(a, err, errlen, "checkpoint %llu: %s",
		    (unsigned long long)size, why);
	}
	free(a->cp_note);
	a->cp_note = note;
	a->cp_notelen = notelen;
	a->cp_size = size;
	memcpy(a->cp_root, root, sizeof(root));
	a->cp_time = now;
	return 1;
}

int
audit_latest_checkpoint(struct audit *a, char **note, size_t *notelen,
    uint64_t *size, char *err, size_t errlen)
{
	*note = NULL;
	if (a->cp_note == NULL)
		return util_err(err, errlen, "no signed checkpoint yet");
	if ((*note = malloc(a->cp_notelen + 1)) == NULL)
		return util_err(err, errlen, "out of memory");
	memcpy(*note, a->cp_note, a->cp_notelen);
	(*note)[a->cp_notelen] = '\0';
	*notelen = a->cp_notelen;
	*size = a->cp_size;
	return 0;
}

/* Loads the checkpoint with the largest size from checkpoints/ and checks
 * its signature. No checkpoint at all is fine (a new trail). */
static int
load_latest_checkpoint(struct audit *a, char *err, size_t errlen)
{
	char name[CP_NAME_LEN + 1], why[256];
	struct note_checkpoint cp;
	struct dirent *de;
	struct stat sb;
	uint64_t best = 0, size;
	int found = 0, fd;
	char *buf;
	ssize_t n;
	DIR *d;

	if ((fd = dup(a->cpfd)) == -1 || (d = fdopendir(fd)) == NULL) {
		if (fd != -1)
			close(fd);
		return util_err(err, errlen, "audit: %s/" CP_DIR ": %s",
		    a->path, strerror(errno));
	}
	rewinddir(d);
	while ((de = readdir(d)) != NULL) {
		if (parse_numbered(de->d_name, CP_SUFFIX, &size) != 0)
			continue;
		if (!found || size > best)
			best = size;
		found = 1;
	}
	closedir(d);
	if (!found)
		return 0;
	snprintf(name, sizeof(name), "%020" PRIu64 CP_SUFFIX, best);
	fd = openat(a->cpfd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1 || fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > CP_FILE_MAX) {
		if (fd != -1)
			close(fd);
		return util_err(err, errlen, "audit: %s/" CP_DIR "/%s is not "
		    "a readable checkpoint", a->path, name);
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		return util_err(err, errlen, "audit: out of memory");
	}
	n = pread(fd, buf, (size_t)sb.st_size, 0);
	close(fd);
	if (n != sb.st_size || note_checkpoint_open(buf, (size_t)n,
	    &a->verifier, 1, a->origin, &cp, why, sizeof(why)) != 0 ||
	    cp.size != best) {
		free(buf);
		return util_err(err, errlen, "audit: %s/" CP_DIR "/%s does not "
		    "verify with the configured key (%s); refusing to continue "
		    "a trail that cannot be proven (an operator must inspect "
		    "it)", a->path, name, n != sb.st_size ? "short read" :
		    cp.size != best ? "wrong size" : why);
	}
	buf[n] = '\0';
	a->cp_note = buf;
	a->cp_notelen = (size_t)n;
	a->cp_size = cp.size;
	memcpy(a->cp_root, cp.root, sizeof(a->cp_root));
	return 0;
}

/* ------------------------------------------------------------------ */
/* Opening */

struct scan {
	uint64_t next;			/* next expected seq */
	int have_prev;
	uint8_t prev[AUDIT_HASH_LEN];
	uint64_t torn;
	uint64_t hashed;
};

/*
 * Reads segment index i from its start: sequence, chain and, for records at
 * or after hash_from, leaf hashes into the tree. A torn tail is truncated
 * when truncate_torn (the newest segment only) and refused otherwise.
 */
static int
scan_segment(struct audit *a, size_t i, uint64_t hash_from, int truncate_torn,
    struct scan *sc, char *err, size_t errlen)
{
	struct auditfmt_reader *r = NULL;
	struct auditfmt_head h;
	const uint8_t *rec;
	uint8_t hash[AUDIT_HASH_LEN], leaf[AUDIT_HASH_LEN];
	char name[SEG_NAME_LEN + 1], why[256];
	uint64_t off;
	int fd, rc, ret = -1;

	seg_name(a->segs[i], name);
	if (sc->next != a->segs[i])
		return util_err(err, errlen, "audit: %s/%s: segment starts at "
		    "record %llu but record %llu was expected (segments are "
		    "missing or misnamed)", a->path, name,
		    (unsigned long long)a->segs[i],
		    (unsigned long long)sc->next);
	if ((fd = open_segment(a, a->segs[i], truncate_torn ? O_RDWR :
	    O_RDONLY, err, errlen)) == -1)
		return -1;
	if (auditfmt_reader_open(fd, 0, UINT64_MAX, &r, why,
	    sizeof(why)) != 0) {
		util_err(err, errlen, "audit: %s/%s: %s", a->path, name, why);
		goto out;
	}
	for (;;) {
		rc = auditfmt_reader_next(r, &rec, &off, &h, why, sizeof(why));
		if (rc == AUDITFMT_READ_END)
			break;
		if (rc == AUDITFMT_READ_TORN) {
			off_t size = lseek(fd, 0, SEEK_END);

			if (!truncate_torn) {
				util_err(err, errlen, "audit: %s/%s: record "
				    "%llu at offset %llu is incomplete, in a "
				    "segment that is not the newest", a->path,
				    name, (unsigned long long)sc->next,
				    (unsigned long long)off);
				goto out;
			}
			/* Only a crash during an unsynced append leaves
			 * this, and the state commit of that batch never
			 * happened either. */
			if (ftruncate(fd, (off_t)off) == -1 ||
			    fsync(fd) == -1) {
				util_err(err, errlen, "audit: %s/%s: "
				    "truncating an incomplete final record: "
				    "%s", a->path, name, audit_strerror(errno));
				goto out;
			}
			sc->torn = (uint64_t)size - off;
			break;
		}
		if (rc < 0) {
			util_err(err, errlen, "audit: %s/%s: record %llu %s; "
			    "refusing to append to it (an operator must "
			    "inspect the log)", a->path, name,
			    (unsigned long long)sc->next, why);
			goto out;
		}
		if (h.seq != sc->next) {
			util_err(err, errlen, "audit: %s/%s: record %llu at "
			    "offset %llu: sequence number is %llu", a->path,
			    name, (unsigned long long)sc->next,
			    (unsigned long long)off,
			    (unsigned long long)h.seq);
			goto out;
		}
		if ((sc->have_prev || sc->next == 0) &&
		    memcmp(h.prev, sc->prev, AUDIT_HASH_LEN) != 0) {
			util_err(err, errlen, "audit: %s/%s: record %llu at "
			    "offset %llu: prev does not match the hash of "
			    "record %lld (one of the two was changed)",
			    a->path, name, (unsigned long long)sc->next,
			    (unsigned long long)off,
			    (long long)sc->next - 1);
			goto out;
		}
		if (audit_sha256(rec, h.len, hash) == -1) {
			util_err(err, errlen, "audit: SHA-256 failed");
			goto out;
		}
		if (sc->next >= hash_from) {
			if (merkle_hash_leaf(rec, h.len, leaf, why,
			    sizeof(why)) != 0 ||
			    audittree_append(a->tree, leaf, why,
			    sizeof(why)) != 0) {
				util_err(err, errlen, "audit: %s", why);
				goto out;
			}
			sc->hashed++;
		}
		memcpy(sc->prev, hash, AUDIT_HASH_LEN);
		sc->have_prev = 1;
		sc->next++;
	}
	if (truncate_torn) {
		off_t size = lseek(fd, 0, SEEK_END);

		a->seg_bytes = size > 0 ? (uint64_t)size : 0;
	}
	ret = 0;
out:
	auditfmt_reader_free(r);
	close(fd);
	return ret;
}

/* Rebuilds the tree from record hash_from on and checks the checkpoint. */
static int
scan_from(struct audit *a, uint64_t hash_from, struct scan *sc, char *err,
    size_t errlen)
{
	char why[256];
	size_t i, start;

	memset(sc, 0, sizeof(*sc));
	if (audittree_truncate(a->tree, hash_from, why, sizeof(why)) != 0)
		return util_err(err, errlen, "audit: %s", why);
	if (a->nsegs == 0) {
		a->seq = 0;
		return 0;
	}
	start = seg_index(a, hash_from);
	if (a->segs[start] > hash_from)
		return util_err(err, errlen, "audit: %s: the tree needs records "
		    "from %llu on, but the oldest segment starts at %llu "
		    "(pruned); an operator must restore the tree/ directory",
		    a->path, (unsigned long long)hash_from,
		    (unsigned long long)a->segs[start]);
	sc->next = a->segs[start];
	for (i = start; i < a->nsegs; i++)
		if (scan_segment(a, i, hash_from, i + 1 == a->nsegs, sc, err,
		    errlen) != 0)
			return -1;
	a->seq = sc->next;
	memcpy(a->prev, sc->prev, sizeof(a->prev));
	if (a->seq < hash_from)
		return util_err(err, errlen, "audit: %s holds %llu records but "
		    "the tree and the checkpoints cover %llu: records were "
		    "lost or removed; refusing to continue (an operator must "
		    "inspect the log)", a->path, (unsigned long long)a->seq,
		    (unsigned long long)hash_from);
	if (audittree_size(a->tree) != a->seq)
		return util_err(err, errlen, "audit: %s: the tree has %llu "
		    "leaves for %llu records", a->path,
		    (unsigned long long)audittree_size(a->tree),
		    (unsigned long long)a->seq);
	return 0;
}

/* 1 when the tree's root at the checkpoint's size is the signed root. */
static int
tree_matches_checkpoint(struct audit *a)
{
	uint8_t root[AUDIT_HASH_LEN];
	char why[128];

	if (a->cp_size == 0)
		return 1;
	if (audittree_root_at(a->tree, a->cp_size, root, why,
	    sizeof(why)) != 0)
		return 0;
	return memcmp(root, a->cp_root, sizeof(root)) == 0;
}

static int
open_dir(const char *path, int mode, int *created, char *err, size_t errlen)
{
	int fd;

	*created = 0;
	if (mkdir(path, (mode_t)mode) == 0)
		*created = 1;
	else if (errno != EEXIST)
		return util_err(err, errlen, "audit: mkdir %s: %s", path,
		    audit_strerror(errno));
	fd = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return util_err(err, errlen, "audit: %s: %s", path,
		    errno == ELOOP ? "is a symbolic link" : errno == ENOTDIR ?
		    "is not a directory: audit_dir names a directory of "
		    "segment files (a log from before segments becomes its "
		    "first segment: mkdir DIR && mv LOG "
		    "DIR/00000000000000000000.audit)" : audit_strerror(errno));
	return fd;
}

static int
open_subdir(struct audit *a, const char *name, char *err, size_t errlen)
{
	int fd;

	if (mkdirat(a->dirfd, name, 0700) == 0) {
		if (fsync(a->dirfd) == -1)
			return util_err(err, errlen, "audit: fsync %s: %s",
			    a->path, audit_strerror(errno));
	} else if (errno != EEXIST)
		return util_err(err, errlen, "audit: mkdir %s/%s: %s", a->path,
		    name, audit_strerror(errno));
	fd = openat(a->dirfd, name, O_RDONLY | O_DIRECTORY | O_CLOEXEC |
	    O_NOFOLLOW);
	if (fd == -1)
		return util_err(err, errlen, "audit: %s/%s: %s", a->path, name,
		    audit_strerror(errno));
	return fd;
}

/* Makes a new directory's entry durable in its parent. */
static int
sync_parent(const char *path, char *err, size_t errlen)
{
	char copy[PATH_MAX], *slash;
	int dfd;

	util_strlcpy(copy, path, sizeof(copy));
	while ((slash = strrchr(copy, '/')) != NULL && slash[1] == '\0')
		*slash = '\0';
	slash = strrchr(copy, '/');
	if (slash == copy)
		slash[1] = '\0';
	else if (slash != NULL)
		*slash = '\0';
	else
		util_strlcpy(copy, ".", sizeof(copy));
	dfd = open(copy, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (dfd == -1 || fsync(dfd) == -1) {
		int e = errno;

		if (dfd != -1)
			close(dfd);
		return util_err(err, errlen, "audit: fsync of the directory "
		    "of %s: %s", path, audit_strerror(e));
	}
	close(dfd);
	return 0;
}

int
audit_open_opts(const char *dir, const struct audit_options *opt,
    struct audit **out, struct audit_recovery *rec, char *err, size_t errlen)
{
	struct audit_recovery dummy;
	struct audit *a;
	struct stat sb;
	struct scan sc;
	uint64_t leaves = 0, base;
	char why[256];
	int created;

	*out = NULL;
	if (rec == NULL)
		rec = &dummy;
	memset(rec, 0, sizeof(*rec));
	if (dir == NULL || dir[0] == '\0')
		return util_err(err, errlen, "audit: no directory given");
	if (strlen(dir) >= sizeof(a->path))
		return util_err(err, errlen, "audit: path too long");
	if ((a = calloc(1, sizeof(*a))) == NULL)
		return util_err(err, errlen, "audit: out of memory");
	a->fd = a->cpfd = -1;
	memcpy(a->path, dir, strlen(dir) + 1);
	a->segment_size = AUDIT_DEFAULT_SEGMENT;
	a->cp_records = AUDIT_DEFAULT_CP_RECORDS;
	a->cp_interval = AUDIT_DEFAULT_CP_INTERVAL;
	if (opt != NULL) {
		if (opt->segment_size != 0)
			a->segment_size = opt->segment_size;
		if (opt->checkpoint_records != 0)
			a->cp_records = opt->checkpoint_records;
		if (opt->checkpoint_interval != 0)
			a->cp_interval = opt->checkpoint_interval;
		a->clock_status = opt->clock_status;
		if (opt->origin != NULL) {
			if (opt->verifier == NULL || opt->sign == NULL ||
			    util_strlcpy(a->origin, opt->origin,
			    sizeof(a->origin)) != 0 ||
			    strcmp(opt->verifier->name, opt->origin) != 0) {
				free(a);
				return util_err(err, errlen, "audit: the "
				    "checkpoint origin must be the verifier "
				    "key's name");
			}
			a->verifier = *opt->verifier;
			a->sign = opt->sign;
			a->sign_arg = opt->sign_arg;
			a->checkpoints = 1;
		}
	}
	if ((a->dirfd = open_dir(dir, 0700, &created, err, errlen)) == -1) {
		free(a);
		return -1;
	}
	if (created && sync_parent(dir, err, errlen) != 0)
		goto fail;
	if (fstat(a->dirfd, &sb) == -1) {
		util_err(err, errlen, "audit: stat %s: %s", dir, strerror(errno));
		goto fail;
	}
	if (sb.st_uid != geteuid()) {
		util_err(err, errlen, "audit: %s is owned by uid %lu, not by "
		    "this process", dir, (unsigned long)sb.st_uid);
		goto fail;
	}
	/* Two writers would fork the chain. */
	if (flock(a->dirfd, LOCK_EX | LOCK_NB) == -1) {
		util_err(err, errlen, "audit: %s: %s", dir,
		    errno == EWOULDBLOCK ? "in use by another process" :
		    strerror(errno));
		goto fail;
	}
	if ((a->cpfd = open_subdir(a, CP_DIR, err, errlen)) == -1)
		goto fail;
	{
		int tfd = open_subdir(a, TREE_DIR, err, errlen);

		if (tfd == -1)
			goto fail;
		close(tfd);
	}
	if (a->checkpoints && load_latest_checkpoint(a, err, errlen) != 0)
		goto fail;
	rec->checkpoint_size = a->cp_size;
	if (list_segments(a, a->dirfd, err, errlen) != 0)
		goto fail;
	/* A crash right after a rotation can leave an empty newest segment. */
	while (a->nsegs > 1) {
		char name[SEG_NAME_LEN + 1];
		struct stat ss;

		seg_name(a->segs[a->nsegs - 1], name);
		if (fstatat(a->dirfd, name, &ss, AT_SYMLINK_NOFOLLOW) == -1 ||
		    ss.st_size != 0)
			break;
		if (unlinkat(a->dirfd, name, 0) == -1 || fsync(a->dirfd) == -1) {
			util_err(err, errlen, "audit: removing the empty "
			    "segment %s: %s", name, strerror(errno));
			goto fail;
		}
		a->nsegs--;
	}
	if (audittree_open(a->dirfd, TREE_FILE, &a->tree, &leaves, why,
	    sizeof(why)) != 0) {
		util_err(err, errlen, "audit: %s: %s", dir, why);
		goto fail;
	}
	/* Nodes up to the latest checkpoint were synced before it was
	 * signed; everything after it is rebuilt from the records. */
	base = leaves < a->cp_size ? leaves : a->cp_size;
	if (a->nsegs > 0 && base < a->segs[0])
		base = a->segs[0] <= leaves ? a->segs[0] : base;
	if (scan_from(a, base, &sc, err, errlen) != 0)
		goto fail;
	if (a->cp_size > a->seq) {
		util_err(err, errlen, "audit: %s holds %llu records but "
		    "checkpoint %llu was signed: records were lost or removed; "
		    "refusing to continue (an operator must inspect the log)",
		    dir, (unsigned long long)a->seq,
		    (unsigned long long)a->cp_size);
		goto fail;
	}
	if (!tree_matches_checkpoint(a)) {
		/* The node file does not give the signed root: rebuild it
		 * from every record and check again. */
		rec->tree_rebuilt = 1;
		if (scan_from(a, 0, &sc, err, errlen) != 0)
			goto fail;
		if (!tree_matches_checkpoint(a)) {
			util_err(err, errlen, "audit: %s: the records do not "
			    "give the root of signed checkpoint %llu: the "
			    "trail was changed; refusing to continue (an "
			    "operator must inspect the log)", dir,
			    (unsigned long long)a->cp_size);
			goto fail;
		}
	}
	rec->torn_bytes = sc.torn;
	rec->rehashed = sc.hashed;
	if (audittree_sync(a->tree, why, sizeof(why)) != 0) {
		util_err(err, errlen, "audit: %s", why);
		goto fail;
	}
	if (a->nsegs > 0) {
		a->seg_first = a->segs[a->nsegs - 1];
		if ((a->fd = open_segment(a, a->seg_first, O_WRONLY | O_APPEND,
		    err, errlen)) == -1)
			goto fail;
	}
	a->synced = a->seq;
	a->healthy = 1;
	a->cp_time = time(NULL);
	*out = a;
	return 0;
fail:
	audit_close(a);
	return -1;
}

int
audit_open(const char *dir, struct audit **out, size_t *torn_bytes,
    char *err, size_t errlen)
{
	struct audit_recovery rec;
	int rc = audit_open_opts(dir, NULL, out, &rec, err, errlen);

	if (torn_bytes != NULL)
		*torn_bytes = rc == 0 ? (size_t)rec.torn_bytes : 0;
	return rc;
}

void
audit_close(struct audit *a)
{
	if (a == NULL)
		return;
	if (a->fd != -1)
		close(a->fd);
	if (a->cpfd != -1)
		close(a->cpfd);
	if (a->dirfd != -1)
		close(a->dirfd);
	audittree_close(a->tree);
	free(a->cp_note);
	free(a->segs);
	free(a);
}

/* ------------------------------------------------------------------ */
/* Reading back */

int
audit_seek(struct audit *a, uint64_t seq, struct audit_cursor *c, char *err,
    size_t errlen)
{
	struct auditfmt_reader *r = NULL;
	struct auditfmt_head h;
	const uint8_t *rec;
	uint64_t off = 0, at;
	char why[256];
	size_t i;
	int fd, rc;

	if (seq < audit_first_seq(a) || seq > a->synced)
		return util_err(err, errlen, "record %llu is not available "
		    "(records %llu to %llu are)", (unsigned long long)seq,
		    (unsigned long long)audit_first_seq(a),
		    (unsigned long long)(a->synced > 0 ? a->synced - 1 : 0));
	c->seq = seq;
	c->offset = 0;
	if (a->nsegs == 0) {
		c->segment = 0;
		return 0;
	}
	i = seg_index(a, seq);
	c->segment = a->segs[i];
	if ((fd = open_segment(a, a->segs[i], O_RDONLY, err, errlen)) == -1)
		return -1;
	if (auditfmt_reader_open(fd, 0, UINT64_MAX, &r, why,
	    sizeof(why)) != 0) {
		close(fd);
		return util_err(err, errlen, "%s", why);
	}
	for (at = a->segs[i]; at < seq; at++) {
		rc = auditfmt_reader_next(r, &rec, &off, &h, why, sizeof(why));
		if (rc != AUDITFMT_READ_REC) {
			auditfmt_reader_free(r);
			close(fd);
			return util_err(err, errlen, "segment %llu: record "
			    "%llu: %s", (unsigned long long)a->segs[i],
			    (unsigned long long)at, rc < 0 ? why :
			    "not found");
		}
		off += h.len;
	}
	auditfmt_reader_free(r);
	close(fd);
	c->offset = off;
	return 0;
}

int
audit_read(struct audit *a, struct audit_cursor *c, uint64_t end_seq,
    size_t maxrec, uint8_t *buf, size_t cap, size_t *len, uint64_t *count,
    char *err, size_t errlen)
{
	char why[256];

	*len = 0;
	*count = 0;
	if (end_seq > a->synced)
		end_seq = a->synced;
	while (c->seq < end_seq && *count < maxrec) {
		struct auditfmt_reader *r = NULL;
		struct auditfmt_head h;
		const uint8_t *rec;
		uint64_t off;
		size_t i;
		int fd, rc, full = 0;

		if (a->nsegs == 0 || c->segment < a->segs[0])
			return util_err(err, errlen, "record %llu is no longer "
			    "available (pruned)", (unsigned long long)c->seq);
		i = seg_index(a, c->segment);
		if (a->segs[i] != c->segment)
			return util_err(err, errlen, "segment %llu is gone",
			    (unsigned long long)c->segment);
		if ((fd = open_segment(a, c->segment, O_RDONLY, err,
		    errlen)) == -1)
			return -1;
		if (auditfmt_reader_open(fd, c->offset, UINT64_MAX, &r, why,
		    sizeof(why)) != 0) {
			close(fd);
			return util_err(err, errlen, "%s", why);
		}
		while (c->seq < end_seq && *count < maxrec) {
			rc = auditfmt_reader_next(r, &rec, &off, &h, why,
			    sizeof(why));
			if (rc == AUDITFMT_READ_END)
				break;
			if (rc != AUDITFMT_READ_REC || h.seq != c->seq) {
				auditfmt_reader_free(r);
				close(fd);
				return util_err(err, errlen, "segment %llu: "
				    "record %llu: %s", (unsigned long long)
				    c->segment, (unsigned long long)c->seq,
				    rc < 0 ? why : rc == AUDITFMT_READ_TORN ?
				    "incomplete" : "wrong sequence number");
			}
			if (cap - *len < h.len) {
				full = 1;
				break;
			}
			memcpy(buf + *len, rec, h.len);
			*len += h.len;
			(*count)++;
			c->seq++;
			c->offset = off + h.len;
		}
		auditfmt_reader_free(r);
		close(fd);
		if (full || c->seq >= end_seq || *count >= maxrec)
			break;
		/* End of this segment: the next one starts at c->seq. */
		if (i + 1 >= a->nsegs || a->segs[i + 1] != c->seq)
			return util_err(err, errlen, "segment %llu ends before "
			    "record %llu", (unsigned long long)c->segment,
			    (unsigned long long)c->seq);
		c->segment = a->segs[i + 1];
		c->offset = 0;
	}
	return 0;
}

/* Time of the first record of segment i, copied into out[32]. */
static int
segment_first_time(struct audit *a, size_t i, char out[32], char *err,
    size_t errlen)
{
	struct auditfmt_reader *r = NULL;
	struct auditfmt_record *dec;
	struct auditfmt_head h;
	const uint8_t *rec;
	uint64_t off;
	char why[256];
	int fd, rc;

	if ((fd = open_segment(a, a->segs[i], O_RDONLY, err, errlen)) == -1)
		return -1;
	if (auditfmt_reader_open(fd, 0, UINT64_MAX, &r, why,
	    sizeof(why)) != 0) {
		close(fd);
		return util_err(err, errlen, "%s", why);
	}
	rc = auditfmt_reader_next(r, &rec, &off, &h, why, sizeof(why));
	if (rc != AUDITFMT_READ_REC || (dec = malloc(sizeof(*dec))) == NULL) {
		auditfmt_reader_free(r);
		close(fd);
		return util_err(err, errlen, "segment %llu: no first record",
		    (unsigned long long)a->segs[i]);
	}
	rc = auditfmt_decode(rec, h.len, dec, why, sizeof(why));
	if (rc == 0) {
		size_t n = dec->time.len < 31 ? dec->time.len : 31;

		memcpy(out, dec->time.p, n);
		out[n] = '\0';
	}
	free(dec);
	auditfmt_reader_free(r);
	close(fd);
	if (rc != 0)
		return util_err(err, errlen, "segment %llu: first record: %s",
		    (unsigned long long)a->segs[i], why);
	return 0;
}

int
audit_find_time(struct audit *a, const char *when, uint64_t *seq, char *err,
    size_t errlen)
{
	struct auditfmt_record *dec = NULL;
	char t[32], why[256];
	size_t lo = 0, hi, i;
	int ret = -1;

	*seq = a->synced;
	if (a->nsegs == 0 || a->synced == 0)
		return 0;
	/* The last segment whose first record is before when (or 0). */
	hi = a->nsegs;
	while (hi - lo > 1) {
		size_t mid = lo + (hi - lo) / 2;

		if (a->segs[mid] >= a->synced) {
			hi = mid;
			continue;
		}
		if (segment_first_time(a, mid, t, err, errlen) != 0)
			return -1;
		if (strcmp(t, when) < 0)
			lo = mid;
		else
			hi = mid;
	}
	if ((dec = malloc(sizeof(*dec))) == NULL)
		return util_err(err, errlen, "out of memory");
	for (i = lo; i < a->nsegs && a->segs[i] < a->synced; i++) {
		struct auditfmt_reader *r = NULL;
		struct auditfmt_head h;
		const uint8_t *rec;
		uint64_t off, at = a->segs[i];
		int fd, rc, found = 0;

		if ((fd = open_segment(a, a->segs[i], O_RDONLY, err,
		    errlen)) == -1)
			goto out;
		if (auditfmt_reader_open(fd, 0, UINT64_MAX, &r, why,
		    sizeof(why)) != 0) {
			close(fd);
			util_err(err, errlen, "%s", why);
			goto out;
		}
		while (at < a->synced) {
			rc = auditfmt_reader_next(r, &rec, &off, &h, why,
			    sizeof(why));
			if (rc == AUDITFMT_READ_END)
				break;
			if (rc != AUDITFMT_READ_REC || auditfmt_decode(rec,
			    h.len, dec, why, sizeof(why)) != 0) {
				auditfmt_reader_free(r);
				close(fd);
				util_err(err, errlen, "record %llu: %s",
				    (unsigned long long)at, rc < 0 ? why :
				    "unreadable");
				goto out;
			}
			if (dec->time.len < sizeof(t)) {
				memcpy(t, dec->time.p, dec->time.len);
				t[dec->time.len] = '\0';
				if (strcmp(t, when) >= 0) {
					found = 1;
					break;
				}
			}
			at++;
		}
		auditfmt_reader_free(r);
		close(fd);
		if (found) {
			*seq = at;
			break;
		}
	}
	ret = 0;
out:
	free(dec);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Retention */

/* Parses "YYYY-MM-DDTHH:MM:SSZ" into a time_t; -1 on anything else. */
static int
parse_rfc3339(const char *s, time_t *out)
{
	struct tm tm;
	char *end;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) != 20 || (end = strptime(s, "%Y-%m-%dT%H:%M:%SZ",
	    &tm)) == NULL || *end != '\0')
		return -1;
	*out = timegm(&tm);
	return 0;
}

int
audit_prune(struct audit *a, time_t now, uint64_t retention,
    const char *archive_dir, char *err, size_t errlen)
{
	struct audit_event ev;
	struct audit_kv kv[5];
	struct stat sa, sd;
	char t[32], name[SEG_NAME_LEN + 1];
	size_t k = 0, i;
	int afd = -1, ret = -1;
	time_t first;

	if (retention == 0 || a->nsegs < 2 || !a->healthy)
		return 0;
	/* Segment i goes when the next one started before the horizon: all
	 * of its records are older than that. */
	while (k + 1 < a->nsegs && a->segs[k + 1] <= a->synced) {
		if (segment_first_time(a, k + 1, t, err, errlen) != 0)
			return -1;
		if (parse_rfc3339(t, &first) != 0 ||
		    (uint64_t)(now > first ? now - first : 0) <= retention)
			break;
		k++;
	}
	if (k == 0)
		return 0;
	if (archive_dir != NULL) {
		afd = open(archive_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		if (afd == -1 || fstat(afd, &sa) == -1 ||
		    fstat(a->dirfd, &sd) == -1 || sa.st_dev != sd.st_dev) {
			if (afd != -1)
				close(afd);
			return util_err(err, errlen, "audit: archive %s: %s",
			    archive_dir, afd == -1 ? strerror(errno) :
			    "not on the audit directory's file system");
		}
	}
	/* The record and a signed checkpoint covering it come first. */
	memset(kv, 0, sizeof(kv));
	kv[0].key = "from_seq";
	kv[0].type = AUDIT_UINT;
	kv[0].u = a->segs[0];
	kv[1].key = "to_seq";
	kv[1].type = AUDIT_UINT;
	kv[1].u = a->segs[k];
	kv[2].key = "segments";
	kv[2].type = AUDIT_UINT;
	kv[2].u = k;
	kv[3].key = "archived";
	kv[3].type = AUDIT_BOOL;
	kv[3].u = archive_dir != NULL;
	kv[4].key = "retention";
	kv[4].type = AUDIT_UINT;
	kv[4].u = retention;
	memset(&ev, 0, sizeof(ev));
	ev.type = "prune";
	ev.details = kv;
	ev.ndetails = 5;
	if (audit_append(a, now, &ev, err, errlen) != 0 ||
	    audit_sync(a, err, errlen) != 0 ||
	    audit_checkpoint(a, now, 1, err, errlen) < 0)
		goto out;
	for (i = 0; i < k; i++) {
		seg_name(a->segs[i], name);
		if ((afd != -1 ? renameat(a->dirfd, name, afd, name) :
		    unlinkat(a->dirfd, name, 0)) == -1) {
			util_err(err, errlen, "audit: pruning %s: %s", name,
			    strerror(errno));
			goto out;
		}
	}
	if (fsync(a->dirfd) == -1 || (afd != -1 && fsync(afd) == -1)) {
		util_err(err, errlen, "audit: fsync after pruning: %s",
		    strerror(errno));
		goto out;
	}
	ret = (int)k;
out:
	/* Whatever is gone from the directory goes from the list too. */
	for (i = 0; i < k; i++) {
		seg_name(a->segs[i], name);
		if (faccessat(a->dirfd, name, F_OK, AT_SYMLINK_NOFOLLOW) == 0)
			break;
	}
	if (i > 0) {
		memmove(a->segs, a->segs + i, (a->nsegs - i) *
		    sizeof(*a->segs));
		a->nsegs -= i;
	}
	if (afd != -1)
		close(afd);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Reading a whole trail (tools and tests) */

struct readall {
	uint64_t next;
	int have_prev;
	uint8_t prev[AUDIT_HASH_LEN];
	int (*fn)(uint64_t, const uint8_t *, size_t, void *);
	void *arg;
};

static int
read_one_file(int fd, const char *label, struct readall *ra, char *err,
    size_t errlen)
{
	struct auditfmt_reader *r = NULL;
	struct auditfmt_head h;
	const uint8_t *rec;
	uint8_t hash[AUDIT_HASH_LEN];
	uint64_t off;
	char why[256];
	int rc, ret = -1;

	if (auditfmt_reader_open(fd, 0, UINT64_MAX, &r, why,
	    sizeof(why)) != 0)
		return util_err(err, errlen, "%s: %s", label, why);
	for (;;) {
		rc = auditfmt_reader_next(r, &rec, &off, &h, why, sizeof(why));
		if (rc == AUDITFMT_READ_END)
			break;
		if (rc == AUDITFMT_READ_TORN) {
			util_err(err, errlen, "record %llu: incomplete final "
			    "record at offset %llu of %s",
			    (unsigned long long)ra->next,
			    (unsigned long long)off, label);
			goto out;
		}
		if (rc < 0) {
			util_err(err, errlen, "record %llu %s (%s)",
			    (unsigned long long)ra->next, why, label);
			goto out;
		}
		if (!ra->have_prev && ra->next == 0 && h.seq != 0)
			ra->next = h.seq;	/* a pruned trail */
		if (h.seq != ra->next) {
			util_err(err, errlen, "record %llu at offset %llu: "
			    "sequence number is %llu (%s)",
			    (unsigned long long)ra->next,
			    (unsigned long long)off,
			    (unsigned long long)h.seq, label);
			goto out;
		}
		if ((ra->have_prev || ra->next == 0) &&
		    memcmp(h.prev, ra->prev, AUDIT_HASH_LEN) != 0) {
			util_err(err, errlen, "record %llu at offset %llu: "
			    "prev does not match the hash of record %lld (one "
			    "of the two was changed) (%s)",
			    (unsigned long long)ra->next,
			    (unsigned long long)off, (long long)ra->next - 1,
			    label);
			goto out;
		}
		if (audit_sha256(rec, h.len, hash) == -1) {
			util_err(err, errlen, "SHA-256 failed");
			goto out;
		}
		if (ra->fn != NULL && ra->fn(ra->next, rec, h.len,
		    ra->arg) != 0) {
			util_err(err, errlen, "record %llu: reading stopped by "
			    "the caller", (unsigned long long)ra->next);
			goto out;
		}
		memcpy(ra->prev, hash, AUDIT_HASH_LEN);
		ra->have_prev = 1;
		ra->next++;
	}
	ret = 0;
out:
	auditfmt_reader_free(r);
	return ret;
}

int
audit_read_file(const char *path,
    int (*fn)(uint64_t seq, const uint8_t *rec, size_t len, void *arg),
    void *arg, char *err, size_t errlen)
{
	struct readall ra;
	struct audit tmp;
	struct stat sb;
	size_t i;
	int fd, ret = 0;

	memset(&ra, 0, sizeof(ra));
	ra.fn = fn;
	ra.arg = arg;
	fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1)
		return util_err(err, errlen, "audit: open %s: %s", path,
		    errno == ELOOP ? "is a symbolic link" : strerror(errno));
	if (fstat(fd, &sb) == -1) {
		close(fd);
		return util_err(err, errlen, "audit: stat %s: %s", path,
		    strerror(errno));
	}
	if (S_ISREG(sb.st_mode)) {
		ret = read_one_file(fd, path, &ra, err, errlen);
		close(fd);
		return ret;
	}
	if (!S_ISDIR(sb.st_mode)) {
		close(fd);
		return util_err(err, errlen, "audit: %s is not a directory "
		    "or a regular file", path);
	}
	memset(&tmp, 0, sizeof(tmp));
	util_strlcpy(tmp.path, path, sizeof(tmp.path));
	tmp.dirfd = fd;
	if (list_segments(&tmp, fd, err, errlen) != 0) {
		free(tmp.segs);
		close(fd);
		return -1;
	}
	for (i = 0; i < tmp.nsegs && ret == 0; i++) {
		char name[SEG_NAME_LEN + 1], label[PATH_MAX + 32];
		int sfd;

		seg_name(tmp.segs[i], name);
		snprintf(label, sizeof(label), "%s/%s", path, name);
		if (ra.have_prev && ra.next != tmp.segs[i]) {
			ret = util_err(err, errlen, "record %llu: segment %s "
			    "starts at record %llu (segments are missing)",
			    (unsigned long long)ra.next, name,
			    (unsigned long long)tmp.segs[i]);
			break;
		}
		sfd = openat(fd, name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (sfd == -1) {
			ret = util_err(err, errlen, "audit: %s: %s", label,
			    strerror(errno));
			break;
		}
		ret = read_one_file(sfd, label, &ra, err, errlen);
		close(sfd);
	}
	free(tmp.segs);
	close(fd);
	return ret;
}

/* ------------------------------------------------------------------ */
/* Reading a trail offline against its checkpoints (--print-audit) */

struct cpcheck {
	int (*fn)(uint64_t, const uint8_t *, size_t, void *);
	void *arg;
	uint64_t first, next;		/* first seq read, next seq expected */
	int started;
	struct merkle_tree tree;	/* leaves from record 0 on */
	uint64_t cp_size;
	uint8_t cp_root[AUDIT_HASH_LEN];
	int root_checked, root_bad;
};

static int
cpcheck_record(uint64_t seq, const uint8_t *rec, size_t len, void *arg)
{
	struct cpcheck *c = arg;
	uint8_t leaf[AUDIT_HASH_LEN], root[AUDIT_HASH_LEN];
	char e[128];

	if (!c->started) {
		c->started = 1;
		c->first = seq;
	}
	c->next = seq + 1;
	/* The root can be recomputed only from the first record on (not
	 * after retention pruned the oldest segments). */
	if (c->first == 0 && c->tree.size < c->cp_size) {
		if (merkle_hash_leaf(rec, len, leaf, e, sizeof(e)) != 0 ||
		    merkle_tree_append(&c->tree, leaf, e, sizeof(e)) != 0)
			return -1;
		if (c->tree.size == c->cp_size) {
			if (merkle_tree_root(&c->tree, root, e, sizeof(e)) != 0)
				return -1;
			c->root_checked = 1;
			c->root_bad = memcmp(root, c->cp_root,
			    sizeof(root)) != 0;
		}
	}
	return c->fn != NULL ? c->fn(seq, rec, len, c->arg) : 0;
}

int
audit_check_file(const char *path, const struct note_verifier *vk,
    int (*fn)(uint64_t seq, const uint8_t *rec, size_t len, void *arg),
    void *arg, char *err, size_t errlen)
{
	struct audit tmp;
	struct cpcheck c;
	struct stat sb;
	char cpdir[PATH_MAX];
	int fd, ret;

	memset(&c, 0, sizeof(c));
	c.fn = fn;
	c.arg = arg;
	merkle_tree_init(&c.tree);
	memset(&tmp, 0, sizeof(tmp));
	tmp.cpfd = -1;
	snprintf(cpdir, sizeof(cpdir), "%s/" CP_DIR, path);
	if (stat(path, &sb) == 0 && S_ISDIR(sb.st_mode) &&
	    (fd = open(cpdir, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) != -1) {
		tmp.cpfd = fd;
		util_strlcpy(tmp.path, path, sizeof(tmp.path));
		if (vk != NULL) {
			tmp.verifier = *vk;
			util_strlcpy(tmp.origin, vk->name, sizeof(tmp.origin));
		}
		ret = load_latest_checkpoint(&tmp, err, errlen);
		close(fd);
		free(tmp.cp_note);
		if (ret != 0 && vk == NULL)
			return util_err(err, errlen, "audit: %s has signed "
			    "checkpoints but there is no verifier key to check "
			    "them (audit.verifier_key)", path);
		if (ret != 0)
			return -1;
		c.cp_size = tmp.cp_size;
		memcpy(c.cp_root, tmp.cp_root, sizeof(c.cp_root));
	}
	if (audit_read_file(path, cpcheck_record, &c, err, errlen) != 0)
		return -1;
	if (c.cp_size > 0 && (!c.started || c.next < c.cp_size))
		return util_err(err, errlen, "record %llu: the trail ends here "
		    "but its newest checkpoint (checkpoints/%020llu.note) signs "
		    "%llu records: records %llu to %llu were cut off. The "
		    "broker refuses to start on this trail; an operator must "
		    "inspect it (restore the missing segment files from a "
		    "backup)", (unsigned long long)c.next,
		    (unsigned long long)c.cp_size,
		    (unsigned long long)c.cp_size, (unsigned long long)c.next,
		    (unsigned long long)(c.cp_size - 1));
	if (c.root_bad)
		return util_err(err, errlen, "the first %llu records do not "
		    "give the root signed by checkpoints/%020llu.note: a record "
		    "before record %llu was changed, removed or inserted",
		    (unsigned long long)c.cp_size,
		    (unsigned long long)c.cp_size,
		    (unsigned long long)c.cp_size);
	return 0;
}

