/*
 * auditbundle — see auditbundle.h. The file is read with pread through a
 * window of one control message; data items are never read here, only
 * located (the verifier reads their records through lib/auditfmt's
 * bounded reader), so a bundle of any size costs its leaf hashes and one
 * range per chunk of memory.
 */
#include "client/auditbundle.h"
#include "lib/util.h"
#include "lib/wire.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define WINDOW (WIRE_MAX_CONTROL + 16)

int
auditbundle_is_bundle(const char *path)
{
	struct stat sb;
	uint8_t first;
	int fd, ok;

	if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode))
		return 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return 0;
	ok = read(fd, &first, 1) == 1 && first >= 0xa0 && first <= 0xbb;
	close(fd);
	return ok;
}

void
auditbundle_free(struct auditbundle *b)
{
	if (b == NULL)
		return;
	if (b->fd != -1)
		close(b->fd);
	free(b->note);
	free(b->leaves);
	free(b->ranges);
	free(b);
}

static void
broken(struct auditbundle *b, int cut, uint64_t off, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static void
broken(struct auditbundle *b, int cut, uint64_t off, const char *fmt, ...)
{
	va_list ap;

	if (b->broken[0] != '\0')
		return;
	b->broken_is_cut = cut;
	b->broken_off = off;
	va_start(ap, fmt);
	vsnprintf(b->broken, sizeof(b->broken), fmt, ap);
	va_end(ap);
}

/* Hashes of a proof field: a multiple of 32 bytes, at most 64 of them. */
static int
take_hashes(const struct wire_msg *m, const char *key,
    uint8_t (*out)[AUDITFMT_HASH_LEN], size_t *n)
{
	size_t len = 0;
	const uint8_t *p = wire_msg_bytes(m, key, &len);

	*n = 0;
	if (p == NULL)
		return 0;
	if (len % AUDITFMT_HASH_LEN != 0 ||
	    len / AUDITFMT_HASH_LEN > AUDITFMT_PROOF_MAX)
		return -1;
	memcpy(out, p, len);
	*n = len / AUDITFMT_HASH_LEN;
	return 0;
}

/* The head: 0, or -1 with err (the file is not a bundle we can use). */
static int
take_head(struct auditbundle *b, const struct wire_msg *m, char *err,
    size_t errlen)
{
	struct auditfmt_proof *p = &b->proof;
	const char *note = wire_msg_text(m, "checkpoint");

	if (m->op == WIRE_OP_ERROR) {
		const char *code = wire_msg_text(m, "code");
		const char *msg = wire_msg_text(m, "message");

		return util_err(err, errlen, "the file holds the broker's "
		    "refusal of the pull, not records (%s: %s)",
		    code != NULL ? code : "?", msg != NULL ? msg : "");
	}
	if (m->op != WIRE_OP_AUDIT_HEAD || note == NULL ||
	    wire_msg_uint(m, "tree_size", &p->tree_size) != 0 ||
	    wire_msg_uint(m, "from_seq", &p->from_seq) != 0 ||
	    wire_msg_uint(m, "count", &p->count) != 0 ||
	    take_hashes(m, "left", p->left, &p->nleft) != 0 ||
	    take_hashes(m, "right", p->right, &p->nright) != 0 ||
	    take_hashes(m, "previous", p->previous, &p->nprevious) != 0)
		return util_err(err, errlen, "the file does not start with "
		    "the head of an audit pull (audit_head)");
	p->has_previous = wire_msg_uint(m, "previous_size",
	    &p->previous_size) == 0;
	if ((b->note = strdup(note)) == NULL)
		return util_err(err, errlen, "out of memory");
	b->notelen = strlen(note);
	return 0;
}

/* One audit_records message: its leaves appended, its range announced. */
static int
take_records(struct auditbundle *b, const struct wire_msg *m, uint64_t off,
    uint64_t *expect_count, char *err, size_t errlen)
{
	const uint8_t *leaves;
	uint64_t from = 0, count = 0;
	size_t llen = 0;
	void *grow;

	leaves = wire_msg_bytes(m, "leaves", &llen);
	if (wire_msg_uint(m, "from_seq", &from) != 0 ||
	    wire_msg_uint(m, "count", &count) != 0 || leaves == NULL ||
	    llen != count * AUDITFMT_HASH_LEN) {
		broken(b, 0, off, "the records message at offset %" PRIu64
		    " is not well-formed (its leaf hashes do not match its "
		    "count)", off);
		return 1;
	}
	if (b->nleaves + count > SIZE_MAX / AUDITFMT_HASH_LEN / 2 ||
	    (grow = realloc(b->leaves, (b->nleaves + count) *
	    AUDITFMT_HASH_LEN)) == NULL)
		return util_err(err, errlen, "out of memory");
	b->leaves = grow;
	memcpy(b->leaves[b->nleaves], leaves, llen);
	b->nleaves += count;
	if ((grow = reallocarray(b->ranges, b->nranges + 1,
	    sizeof(*b->ranges))) == NULL)
		return util_err(err, errlen, "out of memory");
	b->ranges = grow;
	memset(&b->ranges[b->nranges], 0, sizeof(b->ranges[0]));
	b->ranges[b->nranges].from_seq = from;
	b->ranges[b->nranges].count = count;
	*expect_count = count;
	return 0;
}

int
auditbundle_open(const char *path, struct auditbundle **out, char *err,
    size_t errlen)
{
	enum { WANT_HEAD, WANT_RECORDS_OR_DONE, WANT_DATA, WANT_EOF } st;
	struct auditbundle *b;
	struct wire_error werr;
	struct wire_msg m;
	struct stat sb;
	uint8_t *win = NULL;
	uint64_t pos = 0, size, dlen, expect = 0, seen = 0, done_count;
	size_t consumed;
	ssize_t n;
	int rc;

	*out = NULL;
	if ((b = calloc(1, sizeof(*b))) == NULL ||
	    (win = malloc(WINDOW)) == NULL) {
		free(b);
		return util_err(err, errlen, "out of memory");
	}
	if ((b->fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(b->fd, &sb) != 0 || !S_ISREG(sb.st_mode)) {
		util_err(err, errlen, "%s: %s", path, b->fd == -1 ?
		    strerror(errno) : "not a regular file");
		goto fail;
	}
	size = (uint64_t)sb.st_size;
	st = WANT_HEAD;
	while (pos < size && b->broken[0] == '\0') {
		if ((n = pread(b->fd, win, WINDOW, (off_t)pos)) <= 0) {
			util_err(err, errlen, "%s: %s", path, n < 0 ?
			    strerror(errno) : "short read");
			goto fail;
		}
		memset(&werr, 0, sizeof(werr));
		consumed = 0;
		dlen = 0;
		switch (wire_decode(win, (size_t)n, &m, &dlen, &consumed,
		    &werr)) {
		case WIRE_NEED_MORE:
			if (st == WANT_HEAD) {
				util_err(err, errlen, "%s is cut inside its "
				    "first message: not an audit bundle", path);
				goto fail;
			}
			broken(b, 1, pos, "the bundle is cut: it ends inside "
			    "the message at offset %" PRIu64, pos);
			continue;
		case WIRE_ERROR:
			if (st == WANT_HEAD) {
				util_err(err, errlen, "%s is not an audit "
				    "bundle (%s)", path, werr.message);
				goto fail;
			}
			broken(b, 0, pos, "the bundle is damaged at offset %"
			    PRIu64 ": %s", pos, werr.message);
			continue;
		case WIRE_DATA:
			if (st != WANT_DATA) {
				if (st == WANT_HEAD) {
					util_err(err, errlen, "%s is not an "
					    "audit bundle", path);
					goto fail;
				}
				broken(b, 0, pos, "unexpected data item at "
				    "offset %" PRIu64 " (records without their "
				    "audit_records message)", pos);
				continue;
			}
			b->ranges[b->nranges].start = pos + consumed;
			b->ranges[b->nranges].end = pos + consumed + dlen;
			if (b->ranges[b->nranges].end > size) {
				b->ranges[b->nranges].end = size;
				broken(b, 1, size, "the bundle is cut: it ends "
				    "inside the records that start at offset %"
				    PRIu64, pos + consumed);
			}
			pos = b->ranges[b->nranges++].end;
			seen += expect;
			st = WANT_RECORDS_OR_DONE;
			continue;
		case WIRE_CONTROL:
			break;
		}
		if (st == WANT_HEAD) {
			rc = take_head(b, &m, err, errlen);
			wire_msg_clear(&m);
			if (rc != 0)
				goto fail;
			st = WANT_RECORDS_OR_DONE;
		} else if (st == WANT_RECORDS_OR_DONE &&
		    m.op == WIRE_OP_AUDIT_RECORDS) {
			rc = take_records(b, &m, pos, &expect, err, errlen);
			wire_msg_clear(&m);
			if (rc < 0)
				goto fail;
			st = WANT_DATA;
		} else if (st == WANT_RECORDS_OR_DONE &&
		    m.op == WIRE_OP_AUDIT_DONE) {
			done_count = 0;
			wire_msg_uint(&m, "count", &done_count);
			wire_msg_clear(&m);
			if (done_count != seen || seen != b->proof.count)
				broken(b, 0, pos, "the bundle's end says %"
				    PRIu64 " records, its chunks hold %" PRIu64
				    " and its head announced %" PRIu64,
				    done_count, seen, b->proof.count);
			st = WANT_EOF;
		} else {
			const char *op = wire_op_name(m.op);

			if (m.op == WIRE_OP_ERROR) {
				const char *msg = wire_msg_text(&m, "message");

				broken(b, 0, pos, "the pull ended with the "
				    "broker's error: %s", msg != NULL ? msg :
				    "?");
			} else
				broken(b, 0, pos, "unexpected %s message at "
				    "offset %" PRIu64, op != NULL ? op : "?",
				    pos);
			wire_msg_clear(&m);
			continue;
		}
		pos += consumed;
		if (st == WANT_EOF && pos < size)
			broken(b, 0, pos, "%" PRIu64 " bytes follow the end of "
			    "the pull at offset %" PRIu64, size - pos, pos);
	}
	if (st == WANT_HEAD) {
		util_err(err, errlen, "%s is empty: not an audit bundle", path);
		goto fail;
	}
	if (st != WANT_EOF)
		broken(b, 1, pos, "the bundle is cut: it ends at offset %"
		    PRIu64 " without the end of the pull (audit_done), after %"
		    PRIu64 " of the %" PRIu64 " records its head announced",
		    pos, seen, b->proof.count);
	free(win);
	*out = b;
	return 0;
fail:
	free(win);
	auditbundle_free(b);
	return -1;
}
