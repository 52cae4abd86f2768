/*
 * auditverify — see auditverify.h. The checks themselves are lib/auditfmt's
 * verifier (shared with the broker's tests and the benchmark); this file
 * reads the pulled files with bounds and runs it. leaves.bin is mapped, not
 * read, so a long pull costs no heap.
 */
#include "client/i18n.h"
#include "client/auditverify.h"
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

int
auditverify_dir(const char *dir, const char *keyfile, const char *previous,
    struct auditverify_result *res, struct i18n_msg *err)
{
	struct auditfmt_proof *proof = NULL;
	struct auditfmt_reader *rd = NULL;
	struct auditfmt_verify *vf = NULL;
	struct auditfmt_record *dec = NULL;	/* large: not on the stack */
	struct note_verifier vk;
	struct note_checkpoint cp, prev;
	struct auditfmt_head h;
	struct stat sb;
	const uint8_t *rec;
	void *map = MAP_FAILED;
	char path[PATH_MAX], why[512], *text = NULL;
	size_t len, maplen = 0;
	uint64_t off;
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
	if (auditfmt_reader_open(fd, 0, UINT64_MAX, &rd, why,
	    sizeof(why)) != 0) {
		i18n_msg_pair(err, "%s", N_("cannot read the records: %s"),
		    why);
		goto out;
	}
	while (vf->v.fault == AUDITFMT_FAULT_NONE || vf->pending) {
		rc = auditfmt_reader_next(rd, &rec, &off, &h, why, sizeof(why));
		if (rc == AUDITFMT_READ_END || rc == AUDITFMT_READ_TORN)
			break;		/* a cut record ends the records */
		if (rc < 0) {
			auditfmt_verify_malformed(vf, off, why);
			break;
		}
		if (auditfmt_verify_record(vf, rec, h.len, off) == 0)
			note_reconcile(res, rec, h.len, dec, &vf->v);
	}
	auditfmt_verify_end(vf);
	res->v = vf->v;
	res->count = vf->pos;
	if (res->v.fault != AUDITFMT_FAULT_NONE || previous == NULL) {
		ret = 0;
		goto out;
	}

	/* An earlier checkpoint the auditor kept. */
	res->has_previous = 1;
	if ((rc = open_checkpoint(previous, &vk, &prev, res, err)) != 0) {
		ret = rc < 0 ? -1 : 0;
		goto out;
	}
	res->previous_size = prev.size;
	auditfmt_verify_previous(&prev, &cp, proof, &res->v);
	ret = 0;
out:
	if (fd != -1)
		close(fd);
	if (map != MAP_FAILED)
		munmap(map, maplen);
	auditfmt_reader_free(rd);
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
