/*
 * reconcile — see reconcile.h.
 *
 * The scan keeps a small fixed entry per transfer (no names or purposes):
 * the sequence numbers of the records that matter and the stored size and
 * hash. The few transfers that must be rebuilt read their "accept" record
 * again by sequence number.
 */
#include "broker/reconcile.h"
#include "broker/approvals.h"
#include "broker/audit.h"
#include "broker/auditrec.h"
#include "broker/spool.h"
#include "broker/store.h"
#include "lib/auditfmt.h"
#include "lib/util.h"

#include <errno.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define NONE UINT64_MAX
#define READ_CHUNK 256
#define LIST_IDS 3		/* ids named in the refusal message */

/* What the trail says a transfer is. */
enum story {
	S_UNKNOWN = 0,		/* only records that change nothing */
	S_ACCEPTED,		/* receiving: accepted, not stored */
	S_STORED,		/* stored (maybe held), not finished */
	S_APPROVED,		/* held, then approved: waits for delivery */
	S_FINISHED,		/* delivered, failed, expired, rejected,
				   withdrawn */
	S_VOID			/* a "reconcile" said the state has no row */
};

struct rtx {
	char id[UTIL_ID_LEN + 1];	/* "" for a free slot */
	uint8_t story;
	uint8_t held;
	uint64_t accept_seq;
	uint64_t stored_seq;
	uint64_t end_seq;		/* the record that finished it */
	char end_type[24];
	uint64_t size;
	uint8_t sha[UTIL_SHA256_LEN];
};

/* An earlier outcome a later one repeated (two or more "delivered"
 * records from before compensation existed) and no reconcile voided yet.
 * Every one but the last of a story is kept, in trail order. */
struct rdup {
	char id[UTIL_ID_LEN + 1];
	uint64_t seq;
	char type[24];
	int voided;
};

struct reconcile {
	struct rtx *tab;
	size_t cap, n;			/* cap: a power of two */
	struct rdup *dups;		/* ascending seq */
	size_t ndups, dupcap;
};

/* ---- the table ---------------------------------------------------------- */

static size_t
slot_of(const struct reconcile *r, const char *id)
{
	uint64_t h = 1469598103934665603ull;	/* FNV-1a */
	size_t i;

	for (i = 0; id[i] != '\0'; i++)
		h = (h ^ (uint8_t)id[i]) * 1099511628211ull;
	return (size_t)h & (r->cap - 1);
}

static struct rtx *
find(struct reconcile *r, const char *id)
{
	size_t i;

	if (r->cap == 0)
		return NULL;
	for (i = slot_of(r, id); r->tab[i].id[0] != '\0';
	    i = (i + 1) & (r->cap - 1))
		if (strcmp(r->tab[i].id, id) == 0)
			return &r->tab[i];
	return NULL;
}

static int
grow(struct reconcile *r)
{
	struct rtx *old = r->tab;
	size_t oldcap = r->cap, i, j;

	r->cap = oldcap == 0 ? 1024 : oldcap * 2;
	if ((r->tab = calloc(r->cap, sizeof(*r->tab))) == NULL) {
		r->tab = old;
		r->cap = oldcap;
		return -1;
	}
	for (i = 0; i < oldcap; i++) {
		if (old[i].id[0] == '\0')
			continue;
		for (j = slot_of(r, old[i].id); r->tab[j].id[0] != '\0';
		    j = (j + 1) & (r->cap - 1))
			;
		r->tab[j] = old[i];
	}
	free(old);
	return 0;
}

static struct rtx *
get(struct reconcile *r, const char *id)
{
	struct rtx *e;
	size_t i;

	if ((e = find(r, id)) != NULL)
		return e;
	if ((r->n + 1) * 2 > r->cap && grow(r) != 0)
		return NULL;
	for (i = slot_of(r, id); r->tab[i].id[0] != '\0';
	    i = (i + 1) & (r->cap - 1))
		;
	e = &r->tab[i];
	util_strlcpy(e->id, id, sizeof(e->id));
	e->accept_seq = e->stored_seq = e->end_seq = NONE;
	r->n++;
	return e;
}

/* ---- reading records ---------------------------------------------------- */

static int
text_is(const struct auditfmt_text *t, const char *s)
{
	size_t n = strlen(s);

	return t->p != NULL && t->len == n && memcmp(t->p, s, n) == 0;
}

static const struct auditfmt_detail *
detail(const struct auditfmt_record *rec, const char *key)
{
	size_t i;

	for (i = 0; i < rec->ndetails; i++)
		if (text_is(&rec->details[i].key, key))
			return &rec->details[i];
	return NULL;
}

static int
detail_is(const struct auditfmt_record *rec, const char *key, const char *v)
{
	const struct auditfmt_detail *d = detail(rec, key);
	struct auditfmt_text t;

	if (d == NULL || d->type != AUDITFMT_V_TEXT)
		return 0;
	t.p = (const char *)d->data;
	t.len = d->len;
	return text_is(&t, v);
}

/* Copies text t into dst; -1 when absent or too long. */
static int
text_copy(const struct auditfmt_text *t, char *dst, size_t dstlen)
{
	if (t->p == NULL || t->len >= dstlen)
		return -1;
	memcpy(dst, t->p, t->len);
	dst[t->len] = '\0';
	return 0;
}

static int
detail_text(const struct auditfmt_record *rec, const char *key, char *dst,
    size_t dstlen)
{
	const struct auditfmt_detail *d = detail(rec, key);
	struct auditfmt_text t;

	if (d == NULL || d->type != AUDITFMT_V_TEXT)
		return -1;
	t.p = (const char *)d->data;
	t.len = d->len;
	return text_copy(&t, dst, dstlen);
}

static int
detail_uint(const struct auditfmt_record *rec, const char *key, uint64_t *v)
{
	const struct auditfmt_detail *d = detail(rec, key);

	if (d == NULL || d->type != AUDITFMT_V_UINT)
		return -1;
	*v = d->u;
	return 0;
}

/* The outcome e ended with is repeated by a later one: remember it. */
static int
dup_add(struct reconcile *r, const struct rtx *e)
{
	struct rdup *d;

	if (r->ndups == r->dupcap) {
		size_t cap = r->dupcap == 0 ? 16 : r->dupcap * 2;

		if ((d = reallocarray(r->dups, cap, sizeof(*d))) == NULL)
			return -1;
		r->dups = d;
		r->dupcap = cap;
	}
	d = &r->dups[r->ndups++];
	memcpy(d->id, e->id, sizeof(d->id));
	d->seq = e->end_seq;
	memcpy(d->type, e->end_type, sizeof(d->type));
	d->voided = 0;
	return 0;
}

/* The repeated outcome of id at seq (binary search: seqs ascend). */
static struct rdup *
dup_find(struct reconcile *r, const char *id, uint64_t seq)
{
	size_t lo = 0, hi = r->ndups, mid;

	while (lo < hi) {
		mid = lo + (hi - lo) / 2;
		if (r->dups[mid].seq < seq)
			lo = mid + 1;
		else
			hi = mid;
	}
	if (lo < r->ndups && r->dups[lo].seq == seq &&
	    strcmp(r->dups[lo].id, id) == 0)
		return &r->dups[lo];
	return NULL;
}

static int
finish(struct reconcile *r, struct rtx *e, const struct auditfmt_record *rec)
{
	if (e->story == S_FINISHED && e->end_seq != NONE &&
	    dup_add(r, e) != 0)
		return -1;
	e->story = S_FINISHED;
	e->end_seq = rec->seq;
	if (text_copy(&rec->type, e->end_type, sizeof(e->end_type)) != 0)
		util_strlcpy(e->end_type, "?", sizeof(e->end_type));
	return 0;
}

/* One record of the trail changes its transfer's story. */
static int
apply(struct reconcile *r, const struct auditfmt_record *rec)
{
	char id[UTIL_ID_LEN + 1];
	const struct auditfmt_text *ty = &rec->type;
	const struct auditfmt_detail *d;
	struct rtx *e;

	if (text_copy(&rec->transfer, id, sizeof(id)) != 0 || !util_is_id(id))
		return 0;
	if (!text_is(ty, "accept") && !text_is(ty, "stored") &&
	    !text_is(ty, "recover") && !text_is(ty, "approval_decided") &&
	    !text_is(ty, "delivered") && !text_is(ty, "delivery_failed") &&
	    !text_is(ty, "failed") && !text_is(ty, "expired") &&
	    !text_is(ty, "approval_expired") && !text_is(ty, "state_rebuilt") &&
	    !text_is(ty, "reconcile") && !text_is(ty, "state_abandoned") &&
	    !text_is(ty, "withdrawn"))
		return 0;
	if ((e = get(r, id)) == NULL)
		return -1;
	if (text_is(ty, "accept")) {
		e->accept_seq = rec->seq;
		if (e->story == S_UNKNOWN)
			e->story = S_ACCEPTED;
	} else if (text_is(ty, "stored")) {
		e->story = S_STORED;
		e->stored_seq = rec->seq;
		e->held = detail_is(rec, "state", STORE_HELD);
		e->size = 0;
		(void)detail_uint(rec, "size", &e->size);
		d = detail(rec, "sha256");
		if (d != NULL && d->type == AUDITFMT_V_BYTES &&
		    d->len == UTIL_SHA256_LEN)
			memcpy(e->sha, d->data, UTIL_SHA256_LEN);
	} else if (text_is(ty, "recover")) {
		/* The commit was undone: receiving again. */
		e->story = S_ACCEPTED;
		e->stored_seq = NONE;
	} else if (text_is(ty, "approval_decided")) {
		if (detail_is(rec, "state", "approved"))
			e->story = S_APPROVED;
		else
			return finish(r, e, rec);
	} else if (text_is(ty, "state_rebuilt")) {
		if (detail_is(rec, "state", STORE_FAILED))
			return finish(r, e, rec);
		else if (detail_is(rec, "state", STORE_HELD))
			e->story = S_STORED;
		else
			e->story = S_APPROVED;	/* stored, deliverable */
	} else if (text_is(ty, "reconcile")) {
		struct rdup *dp;
		uint64_t v;

		/* Voiding a repeated outcome leaves the last one standing. */
		if (detail_uint(rec, "void_seq", &v) == 0 &&
		    (dp = dup_find(r, id, v)) != NULL) {
			dp->voided = 1;
			return 0;
		}
		/* The state's word is the story from here on. */
		if (detail_is(rec, "state", "none"))
			e->story = S_VOID;
		else if (detail_is(rec, "state", STORE_RECEIVING))
			e->story = S_ACCEPTED;
		else if (detail_is(rec, "state", STORE_HELD))
			e->story = S_STORED;
		else
			e->story = S_APPROVED;
		e->end_seq = NONE;
	} else
		return finish(r, e, rec);
	return 0;
}

int
reconcile_scan(struct audit *a, struct reconcile **out, char *err,
    size_t errlen)
{
	struct reconcile *r;
	struct audit_cursor c;
	struct auditfmt_record rec;
	uint8_t *buf;
	uint64_t end = audit_synced_seq(a), count, at;
	size_t len, off;

	*out = NULL;
	if ((r = calloc(1, sizeof(*r))) == NULL ||
	    (buf = malloc(AUDIT_MAX_RECORD * 4)) == NULL) {
		free(r);
		return util_err(err, errlen, "out of memory");
	}
	if (audit_first_seq(a) < end &&
	    audit_seek(a, audit_first_seq(a), &c, err, errlen) != 0)
		goto fail;
	while (audit_first_seq(a) < end && c.seq < end) {
		if (audit_read(a, &c, end, READ_CHUNK, buf, AUDIT_MAX_RECORD * 4,
		    &len, &count, err, errlen) != 0)
			goto fail;
		if (count == 0) {
			util_err(err, errlen, "the trail ends at record %"
			    PRIu64 " before its synced end %" PRIu64, c.seq,
			    end);
			goto fail;
		}
		at = c.seq - count;
		for (off = 0; off < len; off += rec.len, at++) {
			struct auditfmt_head h;
			enum auditfmt_res wr;
			char why[256];

			memset(&h, 0, sizeof(h));
			wr = auditfmt_walk(buf + off, len - off, &h);
			if (wr != AUDITFMT_OK)
				util_strlcpy(why, wr == AUDITFMT_BAD &&
				    h.why != NULL ? h.why : "incomplete",
				    sizeof(why));
			if (wr != AUDITFMT_OK || auditfmt_decode(buf + off,
			    h.len, &rec, why, sizeof(why)) != 0) {
				util_err(err, errlen, "the state cross-check "
				    "cannot read audit record %" PRIu64 " (%s); "
				    "without it the state cannot be checked "
				    "against the trail. Inspect the trail with "
				    "sekishod -c CONFIG --print-audit", at, why);
				goto fail;
			}
			if (apply(r, &rec) != 0) {
				util_err(err, errlen, "out of memory");
				goto fail;
			}
		}
	}
	free(buf);
	*out = r;
	return 0;
fail:
	free(buf);
	reconcile_free(r);
	return -1;
}

void
reconcile_free(struct reconcile *r)
{
	if (r == NULL)
		return;
	free(r->tab);
	free(r->dups);
	free(r);
}

static int
is_open(const struct rtx *e)
{
	return e->story == S_STORED || e->story == S_APPROVED;
}

long
reconcile_lost(struct reconcile *r, struct store *st, char *err,
    size_t errlen)
{
	struct transfer t;
	char ids[LIST_IDS * (UTIL_ID_LEN + 2) + 1] = "";
	long lost = 0;
	size_t i;
	int rc;

	for (i = 0; i < r->cap; i++) {
		struct rtx *e = &r->tab[i];

		if (e->id[0] == '\0' || !is_open(e))
			continue;
		rc = store_transfer_get(st, e->id, &t, err, errlen);
		if (rc < 0)
			return -1;
		if (rc != STORE_NOTFOUND)
			continue;
		if (lost < LIST_IDS) {
			if (lost > 0)
				strcat(ids, ", ");
			strcat(ids, e->id);
		}
		lost++;
	}
	if (lost > 0)
		util_err(err, errlen, "状態データベースが失われています: 監査証跡"
		    "では保管済みで未完了の転送 %ld 件 (%s%s) が状態にありません。"
		    "sekishod -c <設定> --recover-state で証跡とスプールから"
		    "復元してください / the state database lost %ld transfer%s "
		    "the audit trail says were stored and not finished (%s%s); "
		    "nothing was changed. Rebuild them from the trail and the "
		    "spool with: sekishod -c CONFIG --recover-state "
		    "(docs/operations.md, \"Recovering lost state\")", lost,
		    ids, lost > LIST_IDS ? ", ..." : "", lost,
		    lost == 1 ? "" : "s", ids, lost > LIST_IDS ? ", ..." : "");
	return lost;
}

/* ---- the spool copy ----------------------------------------------------- */

int
reconcile_spool_verify(struct spool *sp, const char *id, uint64_t size,
    const char *sha256_hex, char *why, size_t whylen)
{
	uint8_t want[UTIL_SHA256_LEN], got[UTIL_SHA256_LEN];
	unsigned int gotlen = 0;
	uint8_t *buf;
	EVP_MD_CTX *md;
	uint64_t have = 0, actual;
	char e[256];
	ssize_t n;
	int fd, rc = -1;

	if (spool_stat(sp, id, 1, &actual) != 0) {
		util_err(why, whylen, "the spool copy is missing");
		return 1;
	}
	if (actual != size) {
		util_err(why, whylen, "the spool copy is %s than the transfer "
		    "(%" PRIu64 " bytes, %" PRIu64 " expected)", actual < size ?
		    "shorter" : "longer", actual, size);
		return 1;
	}
	if (util_unhex(sha256_hex, want, sizeof(want)) != 0) {
		util_err(why, whylen, "the transfer has no valid SHA-256");
		return 1;
	}
	if (spool_open_read(sp, id, &fd, e, sizeof(e)) != 0) {
		util_err(why, whylen, "the spool copy cannot be opened: %s", e);
		return errno == ENOENT ? 1 : -1;
	}
	if ((buf = malloc(1 << 20)) == NULL || (md = EVP_MD_CTX_new()) ==
	    NULL) {
		free(buf);
		close(fd);
		return util_err(why, whylen, "out of memory");
	}
	if (EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	for (;;) {
		do
			n = read(fd, buf, 1 << 20);
		while (n < 0 && errno == EINTR);
		if (n < 0) {
			util_err(why, whylen, "reading the spool copy: %s",
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		have += (uint64_t)n;
		EVP_DigestUpdate(md, buf, (size_t)n);
	}
	if (EVP_DigestFinal_ex(md, got, &gotlen) != 1 ||
	    gotlen != UTIL_SHA256_LEN)
		goto out;
	if (have != size)
		rc = 1, util_err(why, whylen, "the spool copy is %s than the "
		    "transfer", have < size ? "shorter" : "longer");
	else if (CRYPTO_memcmp(want, got, sizeof(want)) != 0)
		rc = 1, util_err(why, whylen, "the spool copy's SHA-256 is not "
		    "the transfer's: its content was changed");
	else
		rc = 0;
out:
	if (rc == -1 && why[0] == '\0')
		util_err(why, whylen, "cannot compute the spool copy's SHA-256");
	EVP_MD_CTX_free(md);
	free(buf);
	close(fd);
	return rc;
}

/* ---- rebuild ------------------------------------------------------------ */

/* Reads record seq into buf and decodes it into *rec. */
static int
read_record(struct audit *a, uint64_t seq, uint8_t *buf, size_t cap,
    struct auditfmt_record *rec, char *err, size_t errlen)
{
	struct audit_cursor c;
	uint64_t count;
	size_t len;

	if (audit_seek(a, seq, &c, err, errlen) != 0 ||
	    audit_read(a, &c, seq + 1, 1, buf, cap, &len, &count, err,
	    errlen) != 0)
		return -1;
	if (count != 1)
		return util_err(err, errlen, "record %" PRIu64 " cannot be "
		    "read", seq);
	return auditfmt_decode(buf, len, rec, err, errlen);
}

static int64_t
record_time(const struct auditfmt_record *rec, int64_t fallback)
{
	char s[32];
	struct tm tm;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (text_copy(&rec->time, s, sizeof(s)) != 0 ||
	    sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2dZ", &tm.tm_year, &tm.tm_mon,
	    &tm.tm_mday, &tm.tm_hour, &tm.tm_min, &tm.tm_sec) != 6)
		return fallback;
	tm.tm_year -= 1900;
	tm.tm_mon -= 1;
	if ((t = timegm(&tm)) == (time_t)-1)
		return fallback;
	return (int64_t)t;
}

/* The row the trail describes, from its accept record. */
static int
row_from_accept(const struct rtx *e, const struct auditfmt_record *acc,
    struct transfer *t, char *approvers, size_t approverslen,
    uint64_t *required, int64_t now, char *err, size_t errlen)
{
	uint64_t class = 0, size = 0;

	memset(t, 0, sizeof(*t));
	util_strlcpy(t->id, e->id, sizeof(t->id));
	if (text_copy(&acc->user, t->user, sizeof(t->user)) != 0 ||
	    text_copy(&acc->cert_fp, t->cert_fp, sizeof(t->cert_fp)) != 0 ||
	    text_copy(&acc->interface, t->interface, sizeof(t->interface)) !=
	    0 || detail_text(acc, "name", t->name, sizeof(t->name)) != 0 ||
	    detail_uint(acc, "size", &size) != 0 ||
	    detail_uint(acc, "class", &class) != 0)
		return util_err(err, errlen, "transfer %s: its accept record "
		    "(record %" PRIu64 ") lacks a field the state needs",
		    e->id, e->accept_seq);
	if (acc->dept.p != NULL)
		(void)text_copy(&acc->dept, t->dept, sizeof(t->dept));
	if (acc->terminal.p != NULL)
		(void)text_copy(&acc->terminal, t->terminal,
		    sizeof(t->terminal));
	(void)detail_text(acc, "purpose", t->purpose, sizeof(t->purpose));
	approvers[0] = '\0';
	*required = 0;
	(void)detail_text(acc, "approvers", approvers, approverslen);
	(void)detail_uint(acc, "approvals_required", required);
	if (size != e->size)
		return util_err(err, errlen, "transfer %s: accepted with %"
		    PRIu64 " bytes but stored with %" PRIu64, e->id, size,
		    e->size);
	t->size = size;
	t->class = (unsigned)class;
	t->received = size;
	t->created = record_time(acc, now);
	t->updated = now;
	return 0;
}

/* One lost transfer, checked and ready to be written. */
struct rebuilt {
	struct rtx *e;
	struct transfer t;
	char approvers[65];
	uint64_t required;
	int held, failed;
	char why[256];
};

/* Everything that can refuse, before anything is written: the accept
 * record, the row it gives, the spool copy. */
static int
prepare_one(struct rtx *e, struct audit *a, struct spool *sp, time_t now,
    uint8_t *buf, size_t cap, struct rebuilt *rb, char *err, size_t errlen)
{
	struct auditfmt_record *acc;
	char hex[UTIL_SHA256_HEX + 1];
	int v, rc = -1;

	memset(rb, 0, sizeof(*rb));
	rb->e = e;
	if (e->accept_seq == NONE)
		return util_err(err, errlen, "転送 %s は受付記録が証跡に残って"
		    "いない (保存期間で削除済み) ため復元できません。何も変更して"
		    "いません。他に手段がなければ --abandon %s --reason 理由 で"
		    "記録して先へ進めます / transfer %s: its accept record is no "
		    "longer in the trail (pruned by retention); it cannot be "
		    "rebuilt and nothing was changed. If it cannot be recovered "
		    "otherwise, record that and set its spool copy aside with: "
		    "sekishod -c CONFIG --recover-state --abandon %s --reason "
		    "TEXT (docs/operations.md, \"Recovering lost state\")",
		    e->id, e->id, e->id, e->id);
	if ((acc = malloc(sizeof(*acc))) == NULL)
		return util_err(err, errlen, "out of memory");
	if (read_record(a, e->accept_seq, buf, cap, acc, err, errlen) != 0 ||
	    row_from_accept(e, acc, &rb->t, rb->approvers,
	    sizeof(rb->approvers), &rb->required, now, err, errlen) != 0)
		goto out;
	util_hex(e->sha, sizeof(e->sha), hex);
	v = reconcile_spool_verify(sp, e->id, e->size, hex, rb->why,
	    sizeof(rb->why));
	if (v < 0) {
		util_err(err, errlen, "transfer %s: %s", e->id, rb->why);
		goto out;
	}
	if (v == 0) {
		util_strlcpy(rb->t.state, STORE_STORED, sizeof(rb->t.state));
		util_strlcpy(rb->t.sha256, hex, sizeof(rb->t.sha256));
		rb->held = e->story == S_STORED && e->held;
		if (rb->held && (rb->approvers[0] == '\0' ||
		    rb->required == 0)) {
			util_err(err, errlen, "transfer %s: held, but its "
			    "accept record names no approvers", e->id);
			goto out;
		}
	} else {
		rb->failed = 1;
		util_strlcpy(rb->t.state, STORE_FAILED, sizeof(rb->t.state));
		snprintf(rb->t.error, sizeof(rb->t.error), "state rebuilt from "
		    "the audit trail, but %.200s", rb->why);
	}
	rc = 0;
out:
	free(acc);
	return rc;
}

static int
apply_one(struct rebuilt *rb, struct store *st, struct audit *a,
    uint64_t hold_secs, time_t now, char *err, size_t errlen)
{
	struct transfer *t = &rb->t;
	struct auditrec rec;

	if (store_transfer_insert(st, t, err, errlen) != 0)
		return -1;
	if (rb->held) {
		if (approvals_hold(st, t, rb->approvers,
		    (unsigned)rb->required, hold_secs, now, err, errlen) != 0)
			return -1;
		util_strlcpy(t->state, STORE_HELD, sizeof(t->state));
	}
	auditrec_init_owner(&rec, "state_rebuilt", t->id, t);
	auditrec_text(&rec, "state", t->state);
	auditrec_uint(&rec, "size", t->size);
	auditrec_bytes(&rec, "sha256", rb->e->sha, sizeof(rb->e->sha));
	auditrec_uint(&rec, "accept_seq", rb->e->accept_seq);
	auditrec_uint(&rec, "stored_seq", rb->e->stored_seq);
	if (rb->failed)
		auditrec_text(&rec, "reason", rb->why);
	return auditrec_append(&rec, a, now, err, errlen);
}

long
reconcile_rebuild(struct reconcile *r, struct store *st, struct audit *a,
    struct spool *sp, uint64_t hold_secs, time_t now, long *failed,
    char *err, size_t errlen)
{
	struct rebuilt *rbs = NULL, *grown;
	struct transfer t;
	uint8_t *buf;
	size_t i, n = 0, cap = 0;
	long nfail = 0, ret = -1;
	int rc;

	if ((buf = malloc(AUDIT_MAX_RECORD)) == NULL)
		return util_err(err, errlen, "out of memory");
	/* First check every lost transfer: one that cannot be rebuilt
	 * stops the command before anything is written. */
	for (i = 0; i < r->cap; i++) {
		struct rtx *e = &r->tab[i];

		if (e->id[0] == '\0' || !is_open(e))
			continue;
		rc = store_transfer_get(st, e->id, &t, err, errlen);
		if (rc < 0)
			goto out;
		if (rc != STORE_NOTFOUND)
			continue;
		if (n == cap) {
			cap = cap == 0 ? 16 : cap * 2;
			if ((grown = reallocarray(rbs, cap,
			    sizeof(*rbs))) == NULL) {
				util_err(err, errlen, "out of memory");
				goto out;
			}
			rbs = grown;
		}
		if (prepare_one(e, a, sp, now, buf, AUDIT_MAX_RECORD, &rbs[n],
		    err, errlen) != 0)
			goto out;
		nfail += rbs[n].failed;
		n++;
	}
	if (n == 0) {
		ret = 0;
		goto out;
	}
	if (store_begin(st, err, errlen) != 0)
		goto out;
	for (i = 0; i < n; i++)
		if (apply_one(&rbs[i], st, a, hold_secs, now, err,
		    errlen) != 0) {
			store_rollback(st);
			goto out;
		}
	if (audit_sync(a, err, errlen) != 0 ||
	    store_commit(st, err, errlen) != 0) {
		store_rollback(st);
		goto out;
	}
	/* Durable: a damaged copy can go now. */
	for (i = 0; i < n; i++) {
		char ignored[128];

		if (rbs[i].failed)
			spool_remove(sp, rbs[i].e->id, ignored,
			    sizeof(ignored));
	}
	ret = (long)n;
out:
	if (ret >= 0 && failed != NULL)
		*failed = nfail;
	free(rbs);
	free(buf);
	return ret;
}

/* ---- compensation -------------------------------------------------------- */

struct comp {
	int failed;
	struct reconcile *r;
	struct audit *a;
	time_t now;
	long n;
	char *err;
	size_t errlen;
};

static int
compensate(struct comp *c, struct rtx *e, const char *state,
    const struct transfer *t)
{
	struct auditrec rec;
	uint64_t seq = e->story == S_FINISHED ? e->end_seq : e->accept_seq;

	/* No actor when the state has no row: the broker did it. */
	auditrec_init_owner(&rec, "reconcile", e->id, t);
	auditrec_uint(&rec, "void_seq", seq);
	auditrec_text(&rec, "void_type", e->story == S_FINISHED ? e->end_type :
	    "accept");
	auditrec_text(&rec, "state", state);
	auditrec_text(&rec, "reason", t != NULL ? "the trail ran ahead of the "
	    "state: the record was written but the state change it describes "
	    "never committed" : "the transfer was accepted but its state row "
	    "never committed");
	if (auditrec_append(&rec, c->a, c->now, c->err, c->errlen) != 0)
		return -1;
	e->story = t == NULL ? S_VOID : S_APPROVED;
	c->n++;
	return 0;
}

static int
void_dup(struct comp *c, struct rtx *e, struct rdup *dp,
    const struct transfer *t)
{
	struct auditrec rec;
	char why[160];

	auditrec_init_owner(&rec, "reconcile", e->id, t);
	auditrec_uint(&rec, "void_seq", dp->seq);
	auditrec_text(&rec, "void_type", dp->type);
	auditrec_text(&rec, "state", t != NULL ? t->state : "none");
	snprintf(why, sizeof(why), "a later record (%" PRIu64 ", %s) repeats "
	    "this outcome; the later one stands", e->end_seq, e->end_type);
	auditrec_text(&rec, "reason", why);
	if (auditrec_append(&rec, c->a, c->now, c->err, c->errlen) != 0)
		return -1;
	dp->voided = 1;
	c->n++;
	return 0;
}

/* An unfinished row whose story the trail has already finished. */
static int
check_row(const struct transfer *t, void *arg)
{
	struct comp *c = arg;
	struct rtx *e = find(c->r, t->id);

	if (e == NULL || e->story != S_FINISHED)
		return 0;
	if (compensate(c, e, t->state, t) != 0) {
		c->failed = 1;
		return 1;
	}
	return 0;
}

long
reconcile_compensate(struct reconcile *r, struct store *st, struct audit *a,
    time_t now, char *err, size_t errlen)
{
	static const char *const open_states[] = { STORE_RECEIVING,
	    STORE_STORED, STORE_HELD, STORE_QUEUED, STORE_FORWARDING };
	struct comp c;
	struct transfer t;
	size_t i;
	int rc;

	memset(&c, 0, sizeof(c));
	c.r = r;
	c.a = a;
	c.now = now;
	c.err = err;
	c.errlen = errlen;
	for (i = 0; i < sizeof(open_states) / sizeof(open_states[0]); i++)
		if (store_transfer_each(st, open_states[i], 0, check_row, &c,
		    err, errlen) != 0 || c.failed)
			return -1;
	/* A story with two or more outcomes (written before compensation
	 * existed): every earlier one is voided, the last one matches the
	 * state. */
	for (i = 0; i < r->ndups; i++) {
		struct rdup *dp = &r->dups[i];
		struct rtx *e;

		if (dp->voided || (e = find(r, dp->id)) == NULL)
			continue;
		rc = store_transfer_get(st, e->id, &t, err, errlen);
		if (rc < 0)
			return -1;
		if (void_dup(&c, e, dp, rc == 0 ? &t : NULL) != 0)
			return -1;
	}
	/* An accept whose create never committed, no outcome after it. */
	for (i = 0; i < r->cap; i++) {
		struct rtx *e = &r->tab[i];

		if (e->id[0] == '\0' || e->story != S_ACCEPTED ||
		    e->accept_seq == NONE)
			continue;
		rc = store_transfer_get(st, e->id, &t, err, errlen);
		if (rc < 0)
			return -1;
		if (rc == STORE_NOTFOUND && compensate(&c, e, "none", NULL) != 0)
			return -1;
	}
	if (c.n > 0 && audit_sync(a, err, errlen) != 0)
		return -1;
	return c.n;
}

/* ---- abandoning what cannot be rebuilt ----------------------------------- */

int
reconcile_abandon(struct reconcile *r, struct store *st, struct audit *a,
    struct spool *sp, const char *id, const char *reason, time_t now,
    char *err, size_t errlen)
{
	struct rtx *e = util_is_id(id) ? find(r, id) : NULL;
	struct rebuilt *rb = NULL;
	struct transfer t;
	struct auditrec rec;
	char why[1024], hex[UTIL_SHA256_HEX + 1];
	uint8_t *buf = NULL;
	int rc, moved = 0, ret = -1;

	if (reason == NULL || reason[0] == '\0')
		return util_err(err, errlen, "--abandon %s: --reason TEXT is "
		    "required (why the transfer is given up, for the audit "
		    "trail)", id);
	if (e == NULL || !is_open(e))
		return util_err(err, errlen, "--abandon %s: the audit trail "
		    "does not say this transfer was stored and not finished; "
		    "nothing was changed", id);
	if ((rc = store_transfer_get(st, e->id, &t, err, errlen)) < 0)
		return -1;
	if (rc != STORE_NOTFOUND)
		return util_err(err, errlen, "--abandon %s: the state still "
		    "has this transfer (%s); nothing was changed", id,
		    t.state);
	/* Only what cannot be rebuilt: anything else is rebuilt instead. */
	if ((buf = malloc(AUDIT_MAX_RECORD)) == NULL ||
	    (rb = malloc(sizeof(*rb))) == NULL) {
		util_err(err, errlen, "out of memory");
		goto out;
	}
	if (prepare_one(e, a, sp, now, buf, AUDIT_MAX_RECORD, rb, why,
	    sizeof(why)) == 0) {
		util_err(err, errlen, "--abandon %s: this transfer can be "
		    "rebuilt; run --recover-state without --abandon; nothing "
		    "was changed", id);
		goto out;
	}
	/* Set aside first: a crash before the record leaves it lost (the
	 * start refuses again) and the next run finds it set aside. */
	if (spool_quarantine(sp, e->id, &moved, err, errlen) != 0)
		goto out;
	util_hex(e->sha, sizeof(e->sha), hex);
	auditrec_init(&rec, "state_abandoned", NULL, NULL);
	auditrec_subject(&rec, e->id, NULL);
	auditrec_text(&rec, "reason", reason);
	auditrec_text(&rec, "cause", e->accept_seq == NONE ? "its accept "
	    "record is no longer in the trail (pruned by retention)" : why);
	auditrec_uint(&rec, "size", e->size);
	auditrec_bytes(&rec, "sha256", e->sha, sizeof(e->sha));
	if (e->stored_seq != NONE)
		auditrec_uint(&rec, "stored_seq", e->stored_seq);
	auditrec_text(&rec, "spool_copy", moved ? SPOOL_QUARANTINE "/" :
	    "none");
	if (auditrec_append(&rec, a, now, err, errlen) != 0 ||
	    audit_sync(a, err, errlen) != 0)
		goto out;
	e->story = S_FINISHED;
	ret = 0;
out:
	free(rb);
	free(buf);
	return ret;
}
