/*
 * Unit tests for lib/auditfmt.c: record walking and strict decoding, the
 * segment reader (torn and zero tails), proof.txt formatting and strict
 * parsing, and the verifier: a pull made by the broker's own audit and tree
 * code verifies, and every tamper (changed byte, deleted, reordered, cut
 * tail, changed leaf hashes, older checkpoint, rewritten log) is named with
 * the right record and fault.
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

#include <cbor.h>
#include <cmocka.h>

#include "broker/audit.h"
#include "broker/audittree.h"
#include "lib/auditfmt.h"
#include "lib/note.h"

#define ORIGIN "audit.test/sekisho"
#define NREC 20

struct pull {
	uint8_t *rec;			/* the records, concatenated */
	size_t len;
	uint8_t (*leaves)[32];
	size_t nleaves;
	struct auditfmt_proof proof;
	char *note;
	size_t notelen;
};

struct fixture {
	char dir[64];
	char log[128];
	struct note_signer sk;
	struct note_verifier vk;
	struct audit *a;
	char *old_note;			/* checkpoint at 10 records */
	size_t old_notelen;
};

static int
sign_cb(void *arg, const char *text, size_t len, char **note,
    size_t *notelen, char *err, size_t errlen)
{
	return note_sign(text, len, arg, note, notelen, err, errlen);
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static void
append(struct audit *a, unsigned i)
{
	struct audit_kv kv[2];
	struct audit_event ev;
	char err[256];

	memset(kv, 0, sizeof(kv));
	kv[0].key = "i";
	kv[0].type = AUDIT_UINT;
	kv[0].u = i;
	kv[1].key = "name";
	kv[1].type = AUDIT_TEXT;
	kv[1].text = "報告書.pdf";
	memset(&ev, 0, sizeof(ev));
	ev.type = i % 2 ? "stored" : "accept";
	ev.user = "yamada.taro";
	ev.transfer = "0123456789abcdef0123456789abcdef";
	ev.interface = "IF-1";
	ev.details = kv;
	ev.ndetails = 2;
	if (audit_append(a, 1700000000 + (time_t)i, &ev, err,
	    sizeof(err)) != 0)
		fail_msg("append: %s", err);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	struct audit_options opt;
	char err[256];
	uint64_t size;
	unsigned i;

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sekisho-fmt-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->log, sizeof(f->log), "%s/trail", f->dir);
	assert_int_equal(note_key_generate(ORIGIN, &f->sk, err, sizeof(err)),
	    0);
	note_signer_verifier(&f->sk, &f->vk);
	memset(&opt, 0, sizeof(opt));
	opt.segment_size = 900;
	opt.origin = ORIGIN;
	opt.verifier = &f->vk;
	opt.sign = sign_cb;
	opt.sign_arg = &f->sk;
	if (audit_open_opts(f->log, &opt, &f->a, NULL, err, sizeof(err)) != 0)
		fail_msg("open: %s", err);
	for (i = 0; i < NREC; i++) {
		append(f->a, i);
		assert_int_equal(audit_sync(f->a, err, sizeof(err)), 0);
		if (i == 9) {
			assert_int_equal(audit_checkpoint(f->a, 0, 1, err,
			    sizeof(err)), 1);
			assert_int_equal(audit_latest_checkpoint(f->a,
			    &f->old_note, &f->old_notelen, &size, err,
			    sizeof(err)), 0);
			assert_int_equal(size, 10);
		}
	}
	assert_int_equal(audit_checkpoint(f->a, 0, 1, err, sizeof(err)), 1);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	audit_close(f->a);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	note_signer_clear(&f->sk);
	free(f->old_note);
	free(f);
	return 0;
}

/* What the broker sends for records [from, to) with an optional earlier
 * checkpoint size. */
static void
make_pull(struct fixture *f, uint64_t from, uint64_t to, uint64_t previous,
    struct pull *p)
{
	struct audittree *t = audit_tree(f->a);
	struct audit_cursor cur;
	char err[256];
	uint64_t n, size;
	size_t cnt;

	memset(p, 0, sizeof(*p));
	assert_int_equal(audit_latest_checkpoint(f->a, &p->note, &p->notelen,
	    &size, err, sizeof(err)), 0);
	assert_int_equal(size, NREC);
	p->rec = malloc(NREC * 1024);
	assert_non_null(p->rec);
	assert_int_equal(audit_seek(f->a, from, &cur, err, sizeof(err)), 0);
	assert_int_equal(audit_read(f->a, &cur, to, NREC, p->rec, NREC * 1024,
	    &p->len, &n, err, sizeof(err)), 0);
	assert_int_equal(n, to - from);
	p->leaves = malloc(NREC * 32);
	assert_non_null(p->leaves);
	p->nleaves = (size_t)(to - from);
	assert_int_equal(audittree_leaves(t, from, to, p->leaves, err,
	    sizeof(err)), 0);
	p->proof.from_seq = from;
	p->proof.count = to - from;
	p->proof.tree_size = size;
	assert_int_equal(audittree_compact(t, from, p->proof.left,
	    AUDITFMT_PROOF_MAX, &p->proof.nleft, err, sizeof(err)), 0);
	assert_int_equal(audittree_prove_consistency(t, to, size,
	    p->proof.right, AUDITFMT_PROOF_MAX, &p->proof.nright, err,
	    sizeof(err)), 0);
	if (previous > 0) {
		p->proof.has_previous = 1;
		p->proof.previous_size = previous;
		assert_int_equal(audittree_prove_consistency(t, previous, size,
		    p->proof.previous, AUDITFMT_PROOF_MAX, &cnt, err,
		    sizeof(err)), 0);
		p->proof.nprevious = cnt;
	}
	(void)cnt;
}

static void
free_pull(struct pull *p)
{
	free(p->rec);
	free(p->leaves);
	free(p->note);
}

/* Offset of record i in the pull (i counted from the pull's start). */
static size_t
rec_off(const struct pull *p, unsigned i, size_t *len)
{
	struct auditfmt_head h;
	size_t off = 0;
	unsigned k;

	for (k = 0;; k++) {
		assert_int_equal(auditfmt_walk(p->rec + off, p->len - off, &h),
		    AUDITFMT_OK);
		if (k == i) {
			*len = h.len;
			return off;
		}
		off += h.len;
	}
}

/* Runs the verifier as `sekisho audit verify` does. */
static struct auditfmt_verdict
verify(struct fixture *f, const struct pull *p, const char *note,
    size_t notelen)
{
	struct auditfmt_verify vf;
	struct note_checkpoint cp;
	struct auditfmt_head h;
	char err[256];
	size_t off = 0;
	int ok;

	memset(&vf, 0, sizeof(vf));
	if (note_checkpoint_open(note != NULL ? note : p->note,
	    note != NULL ? notelen : p->notelen, &f->vk, 1, ORIGIN, &cp, err,
	    sizeof(err)) != 0) {
		vf.v.fault = AUDITFMT_FAULT_SIGNATURE;
		return vf.v;
	}
	ok = auditfmt_verify_begin(&vf, &cp, &p->proof,
	    (const uint8_t (*)[32])p->leaves, p->nleaves) == 0;
	while (ok && off < p->len) {
		enum auditfmt_res r = auditfmt_walk(p->rec + off, p->len - off,
		    &h);

		if (r == AUDITFMT_NEED)
			break;		/* a cut record: the end */
		if (r == AUDITFMT_BAD) {
			auditfmt_verify_malformed(&vf, off, h.why);
			break;
		}
		auditfmt_verify_record(&vf, p->rec + off, h.len, off);
		off += h.len;
	}
	auditfmt_verify_end(&vf);
	return vf.v;
}

static void
expect(struct auditfmt_verdict v, enum auditfmt_fault fault, int has_seq,
    uint64_t seq)
{
	if (v.fault != fault || v.has_seq != has_seq ||
	    (has_seq && v.seq != seq))
		fail_msg("verdict %s (seq %d/%llu: %s), expected %s at %llu",
		    auditfmt_fault_name(v.fault), v.has_seq,
		    (unsigned long long)v.seq, v.msg,
		    auditfmt_fault_name(fault), (unsigned long long)seq);
}

static void
test_verify_ok(void **state)
{
	struct fixture *f = *state;
	static const uint64_t ranges[][2] = {
		{ 0, NREC }, { 5, 12 }, { 7, NREC }, { 0, 1 }, { 19, 20 },
		{ 8, 8 },
	};
	struct pull p;
	size_t i;

	for (i = 0; i < sizeof(ranges) / sizeof(ranges[0]); i++) {
		make_pull(f, ranges[i][0], ranges[i][1], 0, &p);
		expect(verify(f, &p, NULL, 0), AUDITFMT_FAULT_NONE, 0, 0);
		free_pull(&p);
	}
}

static void
test_verify_tampered_records(void **state)
{
	struct fixture *f = *state;
	struct pull p;
	size_t off, len, off2, len2;
	uint8_t *tmp;

	/* A flipped byte inside record 9 (its file name). */
	make_pull(f, 0, NREC, 0, &p);
	off = rec_off(&p, 9, &len);
	p.rec[off + len / 2] ^= 0x01;
	expect(verify(f, &p, NULL, 0), AUDITFMT_FAULT_CHANGED, 1, 9);
	free_pull(&p);

	/* A flipped byte in the map header: no longer a record. */
	make_pull(f, 0, NREC, 0, &p);
	off = rec_off(&p, 4, &len);
	p.rec[off] ^= 0x20;
	expect(verify(f, &p, NULL, 0), AUDITFMT_FAULT_MALFORMED, 1, 4);
	free_pull(&p);

	/* The last record changed. */
	make_pull(f, 3, NREC, 0, &p);
	off = rec_off(&p, NREC - 4, &len);
	p.rec[off + len - 40] ^= 0x01;
	expect(verify(f, &p, NULL, 0), AUDITFMT_FAULT_CHANGED, 1, NREC - 1);
	free_pull(&p);

	/* Record 9 deleted. */
	make_pull(f, 0, NREC, 0, &p);
	off = rec_off(&p, 9, &len);
	memmove(p.rec + off, p.rec + off + len, p.len - off - len);
	p.len -= len;
	expect(verify(f, &p, NULL, 0), AUDITFMT_FAULT_MISSING, 1, 9);
	free_pull(&p);

	/* Records 9 and 10 swapped. */
	make_pull(f, 0, NREC, 0, &p);
	off = rec_off(&p, 9, &len);
	off2 = rec_off(&p, 10, &len2);
	tmp = malloc(len + len2);
	assert_non_null(tmp);
	memcpy(tmp, p.rec + off2, len2);
	memcpy(tmp + len2, p.rec + off, len);
	memcpy(p.rec + off, tmp, len + len2);
	free(tmp);
	expect(verify(f, &p, NULL, 0), AUDITFMT_FAULT_REORDERED, 1, 9);
	free_pull(&p);

	/* The tail cut off: three whole records, then in the middle of one. */
	make_pull(f, 2, NREC, 0, &p);
	p.len = rec_off(&p, NREC - 2 - 3, &len);
	expect(verify(f, &p, NULL, 0), AUDITFMT_FAULT_MISSING, 1, NREC - 3);
	free_pull(&p);
	make_pull(f, 2, NREC, 0, &p);
	p.len = rec_off(&p, 6, &len) + len / 2;
	expect(verify(f, &p, NULL, 0), AUDITFMT_FAULT_MISSING, 1, 8);
	free_pull(&p);

	/* A record repeated. */
	make_pull(f, 0, 6, 0, &p);
	off = rec_off(&p, 2, &len);
	tmp = malloc(p.len + len);
	assert_non_null(tmp);
	memcpy(tmp, p.rec, off + len);
	memcpy(tmp + off + len, p.rec + off, p.len - off);
	free(p.rec);
	p.rec = tmp;
	p.len += len;
	expect(verify(f, &p, NULL, 0), AUDITFMT_FAULT_REORDERED, 1, 3);
	free_pull(&p);
}

static void
test_verify_tampered_proof(void **state)
{
	struct fixture *f = *state;
	struct pull p;
	size_t off, len;

	/* Leaf hashes changed along with the record: the chain still names
	 * the record. */
	make_pull(f, 0, NREC, 0, &p);
	off = rec_off(&p, 9, &len);
	p.rec[off + len / 2] ^= 0x01;
	assert_int_equal(merkle_hash_leaf(p.rec + off, len, p.leaves[9], NULL,
	    0), 0);
	expect(verify(f, &p, NULL, 0), AUDITFMT_FAULT_CHANGED, 1, 9);
	free_pull(&p);

	/* Only the leaf hashes changed. */
	make_pull(f, 0, NREC, 0, &p);
	p.leaves[3][0] ^= 1;
	expect(verify(f, &p, NULL, 0), AUDITFMT_FAULT_PROOF, 0, 0);
	free_pull(&p);

	/* A right hash changed. */
	make_pull(f, 0, 12, 0, &p);
	assert_true(p.proof.nright > 0);
	p.proof.right[0][5] ^= 1;
	expect(verify(f, &p, NULL, 0), AUDITFMT_FAULT_PROOF, 0, 0);
	free_pull(&p);

	/* The tail cut off with the leaf hashes and the count fixed up to
	 * match: the first record that cannot be proven is named. */
	make_pull(f, 0, NREC, 0, &p);
	assert_int_equal(p.proof.nright, 0);
	p.len = rec_off(&p, 12, &len);
	p.nleaves = 12;
	p.proof.count = 12;
	expect(verify(f, &p, NULL, 0), AUDITFMT_FAULT_MISSING, 1, 12);
	free_pull(&p);

	/* An older checkpoint in place of the pulled one. */
	make_pull(f, 0, 8, 0, &p);
	expect(verify(f, &p, f->old_note, f->old_notelen),
	    AUDITFMT_FAULT_ROLLBACK, 0, 0);
	free_pull(&p);

	/* A checkpoint signed by another key. */
	{
		struct note_signer other;
		struct note_checkpoint cp;
		char err[256], *note;
		size_t notelen;

		make_pull(f, 0, NREC, 0, &p);
		assert_int_equal(note_key_generate(ORIGIN, &other, err,
		    sizeof(err)), 0);
		assert_int_equal(note_checkpoint_open(p.note, p.notelen, &f->vk,
		    1, ORIGIN, &cp, err, sizeof(err)), 0);
		assert_int_equal(note_checkpoint_sign(&other, ORIGIN, cp.size,
		    cp.root, &note, &notelen, err, sizeof(err)), 0);
		expect(verify(f, &p, note, notelen), AUDITFMT_FAULT_SIGNATURE,
		    0, 0);
		free(note);
		note_signer_clear(&other);
		free_pull(&p);
	}
}

static void
test_verify_previous(void **state)
{
	struct fixture *f = *state;
	struct auditfmt_verdict v;
	struct note_checkpoint prev, cp, fake;
	struct pull p;
	char err[256];

	assert_int_equal(note_checkpoint_open(f->old_note, f->old_notelen,
	    &f->vk, 1, ORIGIN, &prev, err, sizeof(err)), 0);
	make_pull(f, 10, NREC, 10, &p);
	assert_int_equal(note_checkpoint_open(p.note, p.notelen, &f->vk, 1,
	    ORIGIN, &cp, err, sizeof(err)), 0);
	assert_int_equal(auditfmt_verify_previous(&prev, &cp, &p.proof, &v), 0);
	/* The same checkpoint as previous: nothing to prove. */
	assert_int_equal(auditfmt_verify_previous(&cp, &cp, &p.proof, &v), 0);
	/* Previous newer than the pulled one: rollback. */
	assert_int_equal(auditfmt_verify_previous(&cp, &prev, &p.proof, &v),
	    -1);
	assert_int_equal(v.fault, AUDITFMT_FAULT_ROLLBACK);
	/* A previous checkpoint of another history (same size, other root,
	 * or the proof does not hold). */
	fake = prev;
	fake.root[0] ^= 1;
	assert_int_equal(auditfmt_verify_previous(&fake, &cp, &p.proof, &v),
	    -1);
	assert_int_equal(v.fault, AUDITFMT_FAULT_ROLLBACK);
	fake = cp;
	fake.root[0] ^= 1;
	assert_int_equal(auditfmt_verify_previous(&fake, &cp, &p.proof, &v),
	    -1);
	assert_int_equal(v.fault, AUDITFMT_FAULT_ROLLBACK);
	/* No proof for that size. */
	p.proof.previous_size = 9;
	assert_int_equal(auditfmt_verify_previous(&prev, &cp, &p.proof, &v),
	    -1);
	assert_int_equal(v.fault, AUDITFMT_FAULT_PROOF);
	free_pull(&p);
}

static void
test_proof_text(void **state)
{
	struct fixture *f = *state;
	struct auditfmt_proof q;
	struct pull p;
	char *text, err[256], *bad;
	size_t len;

	make_pull(f, 13, 17, 6, &p);
	assert_int_equal(auditfmt_proof_format(&p.proof, &text, &len, err,
	    sizeof(err)), 0);
	assert_int_equal(strlen(text), len);
	assert_int_equal(auditfmt_proof_parse(text, len, &q, err, sizeof(err)),
	    0);
	assert_int_equal(q.from_seq, 13);
	assert_int_equal(q.count, 4);
	assert_int_equal(q.tree_size, NREC);
	assert_int_equal(q.nleft, p.proof.nleft);
	assert_memory_equal(q.left, p.proof.left, q.nleft * 32);
	assert_int_equal(q.nright, p.proof.nright);
	assert_memory_equal(q.right, p.proof.right, q.nright * 32);
	assert_true(q.has_previous);
	assert_int_equal(q.previous_size, 6);
	assert_int_equal(q.nprevious, p.proof.nprevious);

	/* Refusals: every change below must be refused. */
	bad = strdup(text);
	assert_non_null(bad);
	bad[0] = 'S';
	assert_int_equal(auditfmt_proof_parse(bad, len, &q, err, sizeof(err)),
	    -1);
	free(bad);
	{
		static const char *const texts[] = {
			"sekisho-audit-proof 1\nfrom_seq 01\ncount 0\n"
			    "tree_size 1\n",
			"sekisho-audit-proof 1\nfrom_seq 0\ncount 2\n"
			    "tree_size 1\n",
			"sekisho-audit-proof 1\nfrom_seq 0\ncount 0\n"
			    "tree_size 1",
			"sekisho-audit-proof 1\nfrom_seq 1\ncount 0\n"
			    "tree_size 1\n",
			"sekisho-audit-proof 1\nfrom_seq 0\ncount 0\n"
			    "tree_size 1\nright AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAB=\n",
			"sekisho-audit-proof 1\nfrom_seq 0\ncount 0\n"
			    "tree_size 1\nright AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA==\n",
			"sekisho-audit-proof 1\nfrom_seq 0\ncount 0\n"
			    "tree_size 1\nextra\n",
			"sekisho-audit-proof 1\nfrom_seq 0\ncount 0\n"
			    "tree_size 18446744073709551616\n",
		};
		size_t i;

		for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++)
			if (auditfmt_proof_parse(texts[i], strlen(texts[i]), &q,
			    err, sizeof(err)) != -1)
				fail_msg("proof %zu was accepted", i);
		/* A canonical one with one right hash is fine. */
		const char *good = "sekisho-audit-proof 1\nfrom_seq 0\n"
		    "count 0\ntree_size 1\nright "
		    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n";

		assert_int_equal(auditfmt_proof_parse(good, strlen(good), &q,
		    err, sizeof(err)), 0);
	}
	/* More than 64 hashes of a kind. */
	{
		size_t cap = 200 + 70 * 60, i;
		char *big = malloc(cap);

		assert_non_null(big);
		len = (size_t)snprintf(big, cap, "sekisho-audit-proof 1\n"
		    "from_seq 0\ncount 0\ntree_size 1\n");
		for (i = 0; i < 65; i++)
			len += (size_t)snprintf(big + len, cap - len, "right "
			    "AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\n");
		assert_int_equal(auditfmt_proof_parse(big, len, &q, err,
		    sizeof(err)), -1);
		assert_non_null(strstr(err, "more than 64"));
		free(big);
	}
	free(text);
	free_pull(&p);
}

static void
test_decode(void **state)
{
	struct fixture *f = *state;
	struct auditfmt_record *r = malloc(sizeof(*r));
	struct pull p;
	size_t off, len, i;
	char err[256];
	int found = 0;

	assert_non_null(r);
	make_pull(f, 0, 4, 0, &p);
	off = rec_off(&p, 3, &len);
	assert_int_equal(auditfmt_decode(p.rec + off, len, r, err,
	    sizeof(err)), 0);
	assert_int_equal(r->seq, 3);
	assert_int_equal(r->len, len);
	assert_int_equal(r->time.len, 20);
	assert_memory_equal(r->time.p, "2023-11-14T22:13:23Z", 20);
	assert_memory_equal(r->type.p, "stored", 6);
	assert_memory_equal(r->user.p, "yamada.taro", 11);
	assert_null(r->dept.p);
	assert_memory_equal(r->interface.p, "IF-1", 4);
	assert_int_equal(r->transfer.len, 32);
	assert_non_null(r->clock.p);
	assert_int_equal(r->ndetails, 2);
	for (i = 0; i < r->ndetails; i++) {
		if (r->details[i].key.len == 4 &&
		    memcmp(r->details[i].key.p, "name", 4) == 0) {
			assert_int_equal(r->details[i].type, AUDITFMT_V_TEXT);
			assert_int_equal(r->details[i].len,
			    strlen("報告書.pdf"));
			found = 1;
		}
	}
	assert_true(found);
	/* Trailing bytes, a cut record. */
	assert_int_equal(auditfmt_decode(p.rec, off + len, r, err,
	    sizeof(err)), -1);
	assert_int_equal(auditfmt_decode(p.rec + off, len - 1, r, err,
	    sizeof(err)), -1);
	free_pull(&p);

	/* Hand-made records the strict decoder refuses but the walker
	 * accepts (a nested detail, text that is not UTF-8). */
	{
		static const uint8_t zero[32];
		cbor_item_t *rec, *details, *arr;
		unsigned char *buf = NULL;
		size_t blen = 0, n;
		struct auditfmt_head h;
		int variant;

		for (variant = 0; variant < 3; variant++) {
			rec = cbor_new_definite_map(7);
			details = cbor_new_definite_map(1);
			if (variant == 0) {
				arr = cbor_new_definite_array(0);
				cbor_map_add(details, (struct cbor_pair){
				    cbor_move(cbor_build_string("x")),
				    cbor_move(arr) });
			} else if (variant == 1) {
				cbor_map_add(details, (struct cbor_pair){
				    cbor_move(cbor_build_string("x")),
				    cbor_move(cbor_build_stringn("\xff", 1)) });
			} else {
				cbor_map_add(details, (struct cbor_pair){
				    cbor_move(cbor_build_string("x")),
				    cbor_move(cbor_build_uint8(1)) });
			}
			cbor_map_add(rec, (struct cbor_pair){
			    cbor_move(cbor_build_string("seq")),
			    cbor_move(cbor_build_uint8(0)) });
			cbor_map_add(rec, (struct cbor_pair){
			    cbor_move(cbor_build_string("time")),
			    cbor_move(cbor_build_string(
			    "2026-01-01T00:00:00Z")) });
			cbor_map_add(rec, (struct cbor_pair){
			    cbor_move(cbor_build_string("type")),
			    cbor_move(cbor_build_string("x")) });
			cbor_map_add(rec, (struct cbor_pair){
			    cbor_move(cbor_build_string("actor")),
			    cbor_move(cbor_new_definite_map(0)) });
			cbor_map_add(rec, (struct cbor_pair){
			    cbor_move(cbor_build_string("subject")),
			    cbor_move(cbor_new_definite_map(0)) });
			cbor_map_add(rec, (struct cbor_pair){
			    cbor_move(cbor_build_string("details")),
			    cbor_move(details) });
			cbor_map_add(rec, (struct cbor_pair){
			    cbor_move(cbor_build_string("prev")),
			    cbor_move(cbor_build_bytestring(zero, 32)) });
			n = cbor_serialize_alloc(rec, &buf, &blen);
			cbor_decref(&rec);
			assert_true(n > 0);
			assert_int_equal(auditfmt_walk(buf, n, &h), AUDITFMT_OK);
			assert_int_equal(auditfmt_decode(buf, n, r, err,
			    sizeof(err)), variant == 2 ? 0 : -1);
			free(buf);
			buf = NULL;
		}
	}
	free(r);
}

static void
test_reader(void **state)
{
	struct fixture *f = *state;
	struct auditfmt_reader *rd;
	struct auditfmt_head h;
	const uint8_t *rec;
	struct pull p;
	char path[160], err[256];
	uint64_t off;
	size_t n = 0;
	int fd;

	make_pull(f, 0, 5, 0, &p);
	snprintf(path, sizeof(path), "%s/records", f->dir);
	fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, p.rec, p.len), (ssize_t)p.len);
	assert_int_equal(write(fd, p.rec, 17), 17);	/* a torn tail */
	assert_int_equal(auditfmt_reader_open(fd, 0, UINT64_MAX, &rd, err,
	    sizeof(err)), 0);
	while (auditfmt_reader_next(rd, &rec, &off, &h, err, sizeof(err)) ==
	    AUDITFMT_READ_REC)
		n++;
	assert_int_equal(n, 5);
	assert_int_equal(off, p.len);
	auditfmt_reader_free(rd);

	/* Zeros at the end are a tear too; garbage is an error. */
	assert_int_equal(ftruncate(fd, (off_t)p.len + 100), 0);
	assert_int_equal(pwrite(fd, "\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0", 17,
	    (off_t)p.len), 17);
	assert_int_equal(auditfmt_reader_open(fd, 0, UINT64_MAX, &rd, err,
	    sizeof(err)), 0);
	for (n = 0; n < 5; n++)
		assert_int_equal(auditfmt_reader_next(rd, &rec, &off, &h, err,
		    sizeof(err)), AUDITFMT_READ_REC);
	assert_int_equal(auditfmt_reader_next(rd, &rec, &off, &h, err,
	    sizeof(err)), AUDITFMT_READ_TORN);
	auditfmt_reader_free(rd);
	assert_int_equal(pwrite(fd, "\x01", 1, (off_t)p.len), 1);
	assert_int_equal(auditfmt_reader_open(fd, 0, UINT64_MAX, &rd, err,
	    sizeof(err)), 0);
	for (n = 0; n < 5; n++)
		assert_int_equal(auditfmt_reader_next(rd, &rec, &off, &h, err,
		    sizeof(err)), AUDITFMT_READ_REC);
	assert_int_equal(auditfmt_reader_next(rd, &rec, &off, &h, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "at offset"));
	auditfmt_reader_free(rd);
	/* Bounded reads: start and end. */
	assert_int_equal(auditfmt_reader_open(fd, p.len + 200, UINT64_MAX, &rd,
	    err, sizeof(err)), -1);
	close(fd);
	free_pull(&p);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_verify_ok, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_verify_tampered_records,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_tampered_proof,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_verify_previous, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_proof_text, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_decode, setup, teardown),
		cmocka_unit_test_setup_teardown(test_reader, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
