/*
 * auditverify — see auditverify.h. The checks themselves are lib/auditfmt's
 * verifier (shared with the broker's tests and the benchmark); this file
 * reads the pulled files with bounds and runs it. leaves.bin is mapped, not
 * read, so a long pull costs no heap.
 */
#include "client/i18n.h"
#include "client/auditverify.h"
#include "client/auditbundle.h"
#include "lib/util.h"

#include <sys/mman.h>
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

int
auditverify_read_small(const char *path, size_t max, char **out, size_t *len,
    struct i18n_msg *err)
{
	struct stat sb;
	char *buf;
	ssize_t n;
	int fd;

	*out = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1)
		return i18n_msg_pair(err, "%s: %s", N_("cannot read %s: %s"),
		    path, strerror(errno));
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    (uint64_t)sb.st_size > max) {
		close(fd);
		return i18n_msg_set(err, N_("%s: not a regular file of at most "
		    "%zu bytes"), path, max);
	}
	if ((buf = malloc((size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		return i18n_msg_set(err, N_("out of memory"));
	}
	n = read(fd, buf, (size_t)sb.st_size);
	close(fd);
	if (n != sb.st_size) {
		free(buf);
		return i18n_msg_set(err, N_("%s: short read"), path);
	}
	buf[n] = '\0';
	*out = buf;
	*len = (size_t)n;
	return 0;
}

/* A fault found here: fmt (a msgid) formatted into res->v.msg in
 * English and into res->text translated. */
static void
verdict(struct auditverify_result *res, enum auditfmt_fault f,
    const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void
verdict(struct auditverify_result *res, enum auditfmt_fault f,
    const char *fmt, ...)
{
	struct auditfmt_verdict *v = &res->v;
	va_list ap;

	memset(v, 0, sizeof(*v));
	v->fault = f;
	va_start(ap, fmt);
	vsnprintf(v->msg, sizeof(v->msg), fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	vsnprintf(res->text, sizeof(res->text), _(fmt), ap);
	va_end(ap);
}

/* Opens a checkpoint file against the key. 0, or 1 with the verdict. */
static int
open_checkpoint(const char *path, const struct note_verifier *vk,
    struct note_checkpoint *cp, struct auditverify_result *res,
    struct i18n_msg *err)
{
	char *buf, why[256];
	size_t len;

	if (auditverify_read_small(path, AUDITVERIFY_NOTE_MAX, &buf, &len,
	    err) != 0)
		return -1;
	if (note_checkpoint_open(buf, len, vk, 1, vk->name, cp, why,
	    sizeof(why)) != 0) {
		free(buf);
		/* TRANSLATORS: the file, the key's name, why (English,
		 * from the checkpoint reader). */
		verdict(res, AUDITFMT_FAULT_SIGNATURE, N_("%s is not a "
		    "checkpoint signed by the key %s (%s): it was changed, or "
		    "comes from another key or log"), path, vk->name, why);
		return 1;
	}
	free(buf);
	return 0;
}

/*
 * A "reconcile" record (docs/audit.md) voids an earlier record of the same
 * transfer that the broker's state never reflected. The record is proven
 * like any other; here it is counted, and one that does not point back
 * into the trail cannot be a compensation the broker wrote.
 */
static void
note_reconcile(struct auditverify_result *res, const uint8_t *rec,
    size_t len, struct auditfmt_record *rp, struct auditfmt_verdict *v)
{
	struct auditfmt_record *r = rp;
	char why[128];
	size_t i;

	if (r == NULL || auditfmt_decode(rec, len, r, why, sizeof(why)) != 0 ||
	    r->type.len != 9 || memcmp(r->type.p, "reconcile", 9) != 0)
		return;
	res->reconciled++;
	for (i = 0; i < r->ndetails; i++)
		if (r->details[i].key.len == 8 &&
		    memcmp(r->details[i].key.p, "void_seq", 8) == 0 &&
		    r->details[i].type == AUDITFMT_V_UINT &&
		    r->details[i].u < r->seq)
			return;
	if (v->fault == AUDITFMT_FAULT_NONE) {
		v->fault = AUDITFMT_FAULT_MALFORMED;
		v->has_seq = 1;
		v->seq = r->seq;
		snprintf(v->msg, sizeof(v->msg), "record %llu is a reconcile "
		    "record without a void_seq before it",
		    (unsigned long long)r->seq);
		snprintf(res->text, sizeof(res->text), _("record %llu is a "
		    "reconcile record without a void_seq before it"),
		    (unsigned long long)r->seq);
	}
}

/* Feeds the records of fd[start, end) to the verifier. In a pulled
 * directory a cut record ends the records (the verifier then names what
 * is missing); inside a bundle's chunk it is damage. */
static int
verify_range(struct auditfmt_verify *vf, struct auditverify_result *res,
    struct auditfmt_record *dec, int fd, uint64_t start, uint64_t end,
    int torn_is_end, struct i18n_msg *err)
{
	struct auditfmt_reader *rd = NULL;
	struct auditfmt_head h;
	const uint8_t *rec;
	char why[512];
	uint64_t off;
	int rc;

	if (auditfmt_reader_open(fd, start, end, &rd, why, sizeof(why)) != 0) {
		i18n_msg_pair(err, "%s", N_("cannot read the records: %s"),
		    why);
		return -1;
	}
	while (vf->v.fault == AUDITFMT_FAULT_NONE || vf->pending) {
		rc = auditfmt_reader_next(rd, &rec, &off, &h, why, sizeof(why));
		if (rc == AUDITFMT_READ_END)
			break;
		if (rc == AUDITFMT_READ_TORN) {
			if (!torn_is_end)
				auditfmt_verify_malformed(vf, off, "an "
				    "incomplete record ends the chunk");
			break;
		}
		if (rc < 0) {
			auditfmt_verify_malformed(vf, off, why);
			break;
		}
		if (auditfmt_verify_record(vf, rec, h.len, off) == 0)
			note_reconcile(res, rec, h.len, dec, &vf->v);
	}
	auditfmt_reader_free(rd);
	return 0;
}

/* The earlier checkpoint the auditor kept, once the pull holds. */
static int
verify_previous(const char *previous, const struct note_verifier *vk,
    const struct note_checkpoint *cp, const struct auditfmt_proof *proof,
    struct auditverify_result *res, struct i18n_msg *err)
{
	struct note_checkpoint prev;
	int rc;

	if (res->v.fault != AUDITFMT_FAULT_NONE || previous == NULL)
		return 0;
	res->has_previous = 1;
	if ((rc = open_checkpoint(previous, vk, &prev, res, err)) != 0)
		return rc < 0 ? -1 : 0;
	res->previous_size = prev.size;
	auditfmt_verify_previous(&prev, cp, proof, &res->v);
	return 0;
}

int
auditverify_bundle(const char *path, const char *keyfile,
    const char *previous, struct auditverify_result *res,
    struct i18n_msg *err)
{
	struct auditbundle *b = NULL;
	struct auditfmt_verify *vf = NULL;
	struct auditfmt_record *dec = NULL;
	struct note_verifier vk;
	struct note_checkpoint cp;
	char why[256];
	size_t i;
	int ret = -1;

	memset(res, 0, sizeof(*res));
	if (note_verifier_load(keyfile, &vk, why, sizeof(why)) != 0) {
		i18n_msg_pair(err, "%s", N_("cannot use the verifier key: %s"),
		    why);
		return -1;
	}
	util_strlcpy(res->origin, vk.name, sizeof(res->origin));
	if (auditbundle_open(path, &b, why, sizeof(why)) != 0) {
		i18n_msg_pair(err, "%s", N_("cannot read the bundle: %s"), why);
		return -1;
	}
	if (note_checkpoint_open(b->note, b->notelen, &vk, 1, vk.name, &cp,
	    why, sizeof(why)) != 0) {
		verdict(res, AUDITFMT_FAULT_SIGNATURE, N_("the bundle's "
		    "checkpoint is not signed by the key %s (%s): it was "
		    "changed, or comes from another key or log"), vk.name, why);
		ret = 0;
		goto out;
	}
	res->tree_size = cp.size;
	res->from_seq = b->proof.from_seq;
	if ((vf = malloc(sizeof(*vf))) == NULL ||
	    (dec = malloc(sizeof(*dec))) == NULL) {
		i18n_msg_set(err, N_("out of memory"));
		goto out;
	}
	auditfmt_verify_begin(vf, &cp, &b->proof,
	    (const uint8_t (*)[AUDITFMT_HASH_LEN])b->leaves, b->nleaves);
	for (i = 0; i < b->nranges; i++)
		if (verify_range(vf, res, dec, b->fd, b->ranges[i].start,
		    b->ranges[i].end, i + 1 == b->nranges &&
		    b->broken_is_cut, err) != 0)
			goto out;
	auditfmt_verify_end(vf);
	res->v = vf->v;
	res->count = vf->pos;
	/* The records that are there hold; the bundle itself is not whole
	 * (cut, damaged framing, counts that disagree): that fails too. */
	if (res->v.fault == AUDITFMT_FAULT_NONE && b->broken[0] != '\0') {
		verdict(res, b->broken_is_cut ? AUDITFMT_FAULT_MISSING :
		    AUDITFMT_FAULT_MALFORMED, "%s", b->broken);
		if (b->broken_is_cut && vf->pos < b->proof.count) {
			res->v.has_seq = 1;
			res->v.seq = b->proof.from_seq + vf->pos;
		}
	}
	if (verify_previous(previous, &vk, &cp, &b->proof, res, err) != 0)
		goto out;
	ret = 0;
out:
	auditbundle_free(b);
	free(vf);
	free(dec);
	return ret;
}

int
auditverify_path(const char *path, const char *keyfile, const char *previous,
    struct auditverify_result *res, struct i18n_msg *err)
{
	struct stat sb;

	if (auditbundle_is_bundle(path))
		return auditverify_bundle(path, keyfile, previous, res, err);
	if (stat(path, &sb) == 0 && !S_ISDIR(sb.st_mode)) {
		memset(res, 0, sizeof(*res));
		return i18n_msg_set(err, N_("%s is neither a pulled directory "
		    "nor a pull saved as one file (sekisho audit pull --raw)"),
		    path);
	}
	return auditverify_dir(path, keyfile, previous, res, err);
}

int
auditverify_dir(const char *dir, const char *keyfile, const char *previous,
    struct auditverify_result *res, struct i18n_msg *err)
{
	struct auditfmt_proof *proof = NULL;
	struct auditfmt_verify *vf = NULL;
	struct auditfmt_record *dec = NULL;	/* large: not on the stack */
	struct note_verifier vk;
	struct note_checkpoint cp;
	struct stat sb;
	void *map = MAP_FAILED;
	char path[PATH_MAX], why[512], *text = NULL;
	size_t len, maplen = 0;
	int rc, fd = -1, ret = -1;

	memset(res, 0, sizeof(*res));
	if (note_verifier_load(keyfile, &vk, why, sizeof(err->en)) != 0) {
		/* The reader's English text names the file and the fault. */
		util_strlcpy(err->en, why, sizeof(err->en));
		snprintf(err->text, sizeof(err->text), _("cannot use the "
		    "verifier key: %s"), err->en);
		return -1;
	}
	util_strlcpy(res->origin, vk.name, sizeof(res->origin));

	snprintf(path, sizeof(path), "%s/checkpoint.note", dir);
	if ((rc = open_checkpoint(path, &vk, &cp, res, err)) != 0)
		return rc < 0 ? -1 : 0;
	res->tree_size = cp.size;

	snprintf(path, sizeof(path), "%s/proof.txt", dir);
	if ((proof = malloc(sizeof(*proof))) == NULL ||
	    (vf = malloc(sizeof(*vf))) == NULL ||
	    (dec = malloc(sizeof(*dec))) == NULL) {
		i18n_msg_set(err, N_("out of memory"));
		goto out;
	}
	if (auditverify_read_small(path, AUDITFMT_PROOF_TEXT_MAX, &text, &len,
	    err) != 0)
		goto out;
	if (auditfmt_proof_parse(text, len, proof, why, sizeof(why)) != 0) {
		verdict(res, AUDITFMT_FAULT_PROOF, "%s: %s", path, why);
		/* TRANSLATORS: the proof file, then why (English, from the
		 * proof reader). */
		snprintf(res->text, sizeof(res->text), _("%s is not a valid "
		    "proof: %s"), path, why);
		ret = 0;
		goto out;
	}
	res->from_seq = proof->from_seq;

	/* The leaf hashes, mapped. */
	snprintf(path, sizeof(path), "%s/leaves.bin", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		if (fd == -1)
			i18n_msg_pair(err, "%s: %s", N_("cannot read %s: %s"),
			    path, strerror(errno));
		else
			i18n_msg_set(err, N_("%s: not a regular file"), path);
		goto out;
	}
	maplen = (size_t)sb.st_size;
	if (maplen > 0 && (map = mmap(NULL, maplen, PROT_READ, MAP_PRIVATE,
	    fd, 0)) == MAP_FAILED) {
		i18n_msg_pair(err, "%s: %s", N_("cannot read %s: %s"),
		    path, strerror(errno));
		goto out;
	}
	close(fd);
	fd = -1;
	if (maplen % AUDITFMT_HASH_LEN != 0) {
		verdict(res, AUDITFMT_FAULT_PROOF, N_("%s is %zu bytes, not a "
		    "whole number of 32-byte hashes"), path, maplen);
		ret = 0;
		goto out;
	}
	auditfmt_verify_begin(vf, &cp, proof,
	    (const uint8_t (*)[AUDITFMT_HASH_LEN])(maplen > 0 ? map : NULL),
	    maplen / AUDITFMT_HASH_LEN);

	/* The records, in file order. */
	snprintf(path, sizeof(path), "%s/records.audit", dir);
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		i18n_msg_pair(err, "%s: %s", N_("cannot read %s: %s"),
		    path, strerror(errno));
		goto out;
	}
	if (verify_range(vf, res, dec, fd, 0, UINT64_MAX, 1, err) != 0)
		goto out;
	auditfmt_verify_end(vf);
	res->v = vf->v;
	res->count = vf->pos;
	if (verify_previous(previous, &vk, &cp, proof, res, err) != 0)
		goto out;
	ret = 0;
out:
	if (fd != -1)
		close(fd);
	if (map != MAP_FAILED)
		munmap(map, maplen);
	free(text);
	free(proof);
	free(vf);
	free(dec);
	return ret;
}

const char *
auditverify_fault_advice(enum auditfmt_fault f)
{
	switch (f) {
	case AUDITFMT_FAULT_NONE:
		return "";
	case AUDITFMT_FAULT_CHANGED:
		return _("a record differs from what the broker signed: do not "
		    "rely on this copy; pull the trail again, and if it fails "
		    "again tell the broker's administrator");
	case AUDITFMT_FAULT_MISSING:
		return _("records are missing from this copy: pull the trail "
		    "again, and if it fails again tell the broker's "
		    "administrator");
	case AUDITFMT_FAULT_REORDERED:
		return _("records are out of order or repeated: pull the trail "
		    "again, and if it fails again tell the broker's "
		    "administrator");
	case AUDITFMT_FAULT_MALFORMED:
		return _("the records file holds bytes that are not a record: "
		    "pull the trail again, and if it fails again tell the "
		    "broker's administrator");
	case AUDITFMT_FAULT_SIGNATURE:
		return _("the checkpoint's signature does not hold for this "
		    "key: check that --key is the broker's verifier key, then "
		    "pull the trail again");
	case AUDITFMT_FAULT_ROLLBACK:
		return _("the log shrank or was rewritten since your previous "
		    "checkpoint: keep both pulls and tell the broker's "
		    "administrator and your audit lead");
	case AUDITFMT_FAULT_PROOF:
		return _("the proof does not match the records: pull the trail "
		    "again, and if it fails again tell the broker's "
		    "administrator");
	}
	return "";
}
