/*
 * auditshow — see auditshow.h. Records are decoded with lib/auditfmt's
 * strict decoder, whose text values point into the record; they are copied
 * into bounded buffers only where a NUL-terminated string is needed.
 */
#include "client/i18n.h"
#include "client/auditshow.h"
#include "client/auditbundle.h"
#include "client/output.h"
#include "lib/auditcsv.h"
#include "lib/auditfmt.h"
#include "lib/cborjson.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define SHOW_TEXT 1024		/* bytes of one value shown */

typedef int (*record_fn)(const uint8_t *rec, size_t len,
    const struct auditfmt_record *r, void *arg, char *err, size_t errlen);

/* Calls fn for every record of fd[start, end), decoded; adds them to *n.
 * 0, or -1 with err. */
static int
each_in_range(int fd, uint64_t start, uint64_t end, const char *what,
    struct auditfmt_record *r, record_fn fn, void *arg, long *n, char *err,
    size_t errlen)
{
	struct auditfmt_reader *rd = NULL;
	struct auditfmt_head h;
	const uint8_t *rec;
	char why[256];
	uint64_t off;
	int rc, ret = 0;

	if (auditfmt_reader_open(fd, start, end, &rd, err, errlen) != 0)
		return -1;
	for (;;) {
		rc = auditfmt_reader_next(rd, &rec, &off, &h, why, sizeof(why));
		if (rc == AUDITFMT_READ_END)
			break;
		if (rc == AUDITFMT_READ_TORN) {
			ret = util_err(err, errlen, "%s: incomplete record at "
			    "offset %" PRIu64 " (run sekisho audit verify)",
			    what, off);
			break;
		}
		if (rc < 0 || auditfmt_decode(rec, h.len, r, why,
		    sizeof(why)) != 0) {
			ret = util_err(err, errlen, "%s: record at offset %"
			    PRIu64 ": %s (run sekisho audit verify)", what, off,
			    why);
			break;
		}
		if (fn(rec, h.len, r, arg, err, errlen) != 0) {
			ret = -1;
			break;
		}
		(*n)++;
	}
	auditfmt_reader_free(rd);
	return ret;
}

/* Calls fn for every record of dir/records.audit (or of the bundle file
 * dir, auditbundle.h), decoded. */
static long
each_record(const char *dir, record_fn fn, void *arg, char *err,
    size_t errlen)
{
	struct auditfmt_record *r;
	struct auditbundle *b = NULL;
	char path[PATH_MAX];
	long n = 0;
	size_t i;
	int fd;

	if ((r = malloc(sizeof(*r))) == NULL)
		return util_err(err, errlen, "out of memory");
	if (auditbundle_is_bundle(dir)) {
		if (auditbundle_open(dir, &b, err, errlen) != 0) {
			free(r);
			return -1;
		}
		for (i = 0; i < b->nranges && n >= 0; i++)
			if (each_in_range(b->fd, b->ranges[i].start,
			    b->ranges[i].end, dir, r, fn, arg, &n, err,
			    errlen) != 0)
				n = -1;
		if (n >= 0 && b->broken[0] != '\0')
			n = util_err(err, errlen, "%s: %s (run sekisho audit "
			    "verify)", dir, b->broken);
		auditbundle_free(b);
		free(r);
		return n;
	}
	snprintf(path, sizeof(path), "%s/records.audit", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		free(r);
		return util_err(err, errlen, "%s: %s", path, strerror(errno));
	}
	if (each_in_range(fd, 0, UINT64_MAX, path, r, fn, arg, &n, err,
	    errlen) != 0)
		n = -1;
	free(r);
	close(fd);
	return n;
}

/* A text value as a NUL-terminated copy (cut at SHOW_TEXT bytes). */
static const char *
cstr(const struct auditfmt_text *t, char *buf, size_t buflen)
{
	size_t n;

	if (t->p == NULL)
		return "";
	n = t->len < buflen - 1 ? t->len : buflen - 1;
	memcpy(buf, t->p, n);
	buf[n] = '\0';
	return buf;
}

static int
text_is(const struct auditfmt_text *t, const char *s)
{
	return t->p != NULL && t->len == strlen(s) &&
	    memcmp(t->p, s, t->len) == 0;
}

/* ---- show ------------------------------------------------------------------ */

struct show {
	const char *transfer;
	FILE *out;
	long found;
	/* Records of the transfer that a later "reconcile" record voided:
	 * (voided seq, voiding seq) pairs. */
	struct voided { uint64_t seq, by; } *voided;
	size_t nvoided, capvoided;
};

/* First pass: the transfer's "reconcile" records and what they void. */
static int
collect_voided(const uint8_t *rec, size_t len,
    const struct auditfmt_record *r, void *arg, char *err, size_t errlen)
{
	struct show *sh = arg;
	struct voided *v;
	size_t i;

	(void)rec;
	(void)len;
	if (!text_is(&r->transfer, sh->transfer) ||
	    !text_is(&r->type, "reconcile"))
		return 0;
	for (i = 0; i < r->ndetails; i++) {
		const struct auditfmt_detail *d = &r->details[i];

		if (!text_is(&d->key, "void_seq") || d->type != AUDITFMT_V_UINT)
			continue;
		if (sh->nvoided == sh->capvoided) {
			size_t cap = sh->capvoided ? sh->capvoided * 2 : 8;

			if ((v = reallocarray(sh->voided, cap,
			    sizeof(*v))) == NULL)
				return util_err(err, errlen, "out of memory");
			sh->voided = v;
			sh->capvoided = cap;
		}
		sh->voided[sh->nvoided].seq = d->u;
		sh->voided[sh->nvoided++].by = r->seq;
	}
	return 0;
}

static void
show_field(FILE *out, const char *name, const struct auditfmt_text *t)
{
	char raw[SHOW_TEXT], safe[SHOW_TEXT + 8];

	if (t->p == NULL || t->len == 0)
		return;
	fprintf(out, " %s=%s", name, output_sanitize(cstr(t, raw,
	    sizeof(raw)), safe, sizeof(safe)));
}

static int
show_one(const uint8_t *rec, size_t len, const struct auditfmt_record *r,
    void *arg, char *err, size_t errlen)
{
	struct show *sh = arg;
	char raw[SHOW_TEXT], safe[SHOW_TEXT + 8], hex[2 * 64 + 1];
	size_t i;

	(void)rec;
	(void)len;
	(void)err;
	(void)errlen;
	if (!text_is(&r->transfer, sh->transfer))
		return 0;
	sh->found++;
	fprintf(sh->out, "%" PRIu64 "  %s", r->seq,
	    output_sanitize(cstr(&r->time, raw, sizeof(raw)), safe,
	    sizeof(safe)));
	fprintf(sh->out, "  %s ", output_sanitize(cstr(&r->type, raw,
	    sizeof(raw)), safe, sizeof(safe)));
	/* Only a clock that was not known to be synchronised is worth a
	 * word: the time of such a record may be off. */
	if (r->clock.p != NULL && !text_is(&r->clock, AUDITFMT_CLOCK_SYNCED))
		show_field(sh->out, "clock", &r->clock);
	show_field(sh->out, "user", &r->user);
	show_field(sh->out, "dept", &r->dept);
	show_field(sh->out, "terminal", &r->terminal);
	show_field(sh->out, "peer", &r->peer);
	show_field(sh->out, "interface", &r->interface);
	show_field(sh->out, "service", &r->service);
	for (i = 0; i < r->ndetails; i++) {
		const struct auditfmt_detail *d = &r->details[i];

		fprintf(sh->out, " %s=", output_sanitize(cstr(&d->key, raw,
		    sizeof(raw)), safe, sizeof(safe)));
		switch (d->type) {
		case AUDITFMT_V_TEXT: {
			struct auditfmt_text t = { (const char *)d->data,
			    d->len };

			fprintf(sh->out, "\"%s\"", output_sanitize(cstr(&t, raw,
			    sizeof(raw)), safe, sizeof(safe)));
			break;
		}
		case AUDITFMT_V_UINT:
			fprintf(sh->out, "%" PRIu64, d->u);
			break;
		case AUDITFMT_V_BOOL:
			fputs(d->u ? "true" : "false", sh->out);
			break;
		case AUDITFMT_V_BYTES:
			util_hex(d->data, d->len < 64 ? d->len : 64, hex);
			fprintf(sh->out, "%s%s", hex, d->len > 64 ? "..." : "");
			break;
		}
	}
	for (i = 0; i < sh->nvoided; i++)
		if (sh->voided[i].seq == r->seq)
			fprintf(sh->out, "  [voided by %" PRIu64 "]",
			    sh->voided[i].by);
	fputc('\n', sh->out);
	return 0;
}

int
auditshow_transfer(const char *dir, const char *transfer, FILE *out,
    char *err, size_t errlen)
{
	struct show sh;
	int rc = -1;

	memset(&sh, 0, sizeof(sh));
	sh.transfer = transfer;
	sh.out = out;
	if (each_record(dir, collect_voided, &sh, err, errlen) >= 0 &&
	    each_record(dir, show_one, &sh, err, errlen) >= 0)
		rc = (int)sh.found;
	free(sh.voided);
	return rc;
}

/* ---- export ------------------------------------------------------------------ */

struct export {
	enum auditshow_format fmt;
	const struct auditcsv_zone *zone;
	FILE *out;
};

static int
export_one(const uint8_t *rec, size_t len, const struct auditfmt_record *r,
    void *arg, char *err, size_t errlen)
{
	struct export *ex = arg;
	struct auditcsv_buf b = { NULL, 0, 0, 0 };
	struct auditcsv_row row;
	char *json;

	if (ex->fmt == AUDITSHOW_JSONL) {
		if (cborjson_encode(rec, len, &json, err, errlen) != 0)
			return -1;
		fprintf(ex->out, "%s\n", json);
		free(json);
		return 0;
	}
	if (auditcsv_flatten(rec, len, r, ex->zone, &row, err, errlen) != 0)
		return -1;
	auditcsv_row_put(&b, &row);
	auditcsv_row_clear(&row);
	if (b.failed) {
		auditcsv_buf_free(&b);
		return util_err(err, errlen, "out of memory");
	}
	fwrite(b.p, 1, b.len, ex->out);
	auditcsv_buf_free(&b);
	return 0;
}

long
auditshow_export(const char *dir, enum auditshow_format fmt,
    enum auditcsv_lang lang, const struct auditcsv_zone *zone, FILE *out,
    char *err, size_t errlen)
{
	struct export ex = { fmt, zone, out };

	if (fmt == AUDITSHOW_CSV) {
		struct auditcsv_buf b = { NULL, 0, 0, 0 };

		/* Always with a byte order mark: Excel reads UTF-8 only then. */
		auditcsv_header(&b, lang, 1);
		if (b.failed) {
			auditcsv_buf_free(&b);
			return util_err(err, errlen, "out of memory");
		}
		fwrite(b.p, 1, b.len, out);
		auditcsv_buf_free(&b);
	}
	return each_record(dir, export_one, &ex, err, errlen);
}
