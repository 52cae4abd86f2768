/*
 * fuzz_audit — the audit trail readers on arbitrary bytes: the record
 * walker, the strict decoder, the segment reader (over an in-memory file),
 * proof.txt parsing and the verifier.
 *
 * Invariants checked besides the sanitizers': a record the walker accepts
 * lies inside the input; the decoder accepts only what the walker accepts,
 * with the same length, sequence number and prev, and hands out text that
 * lies inside the record; the reader returns exactly the records the
 * walker finds in the same bytes; a proof that parses formats back to the
 * same text; a verifier fed with the records the input holds (against the
 * root they give themselves) accepts them, and never crashes on the rest.
 */
#include <sys/mman.h>

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/auditfmt.h"
#include "lib/merkle.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXREC 256

static void
inside(const uint8_t *base, size_t len, const void *p, size_t n)
{
	const uint8_t *q = p;

	if (p == NULL)
		return;
	if (q < base || q + n > base + len)
		abort();
}

static void
check_decode(const uint8_t *rec, size_t len, const struct auditfmt_head *h)
{
	static struct auditfmt_record r;
	char err[256];
	size_t i;

	if (auditfmt_decode(rec, len, &r, err, sizeof(err)) != 0) {
		if (err[0] == '\0')
			abort();
		return;
	}
	if (r.len != h->len || r.seq != h->seq ||
	    memcmp(r.prev, h->prev, AUDITFMT_HASH_LEN) != 0 ||
	    r.ndetails > AUDITFMT_MAX_DETAILS)
		abort();
	inside(rec, len, r.time.p, r.time.len);
	inside(rec, len, r.type.p, r.type.len);
	inside(rec, len, r.clock.p, r.clock.len);
	inside(rec, len, r.user.p, r.user.len);
	inside(rec, len, r.transfer.p, r.transfer.len);
	for (i = 0; i < r.ndetails; i++) {
		inside(rec, len, r.details[i].key.p, r.details[i].key.len);
		if (r.details[i].type == AUDITFMT_V_TEXT ||
		    r.details[i].type == AUDITFMT_V_BYTES)
			inside(rec, len, r.details[i].data, r.details[i].len);
	}
}

static void
check_proof(const uint8_t *data, size_t size)
{
	static struct auditfmt_proof p, q;
	char err[256], *text;
	size_t len;

	if (auditfmt_proof_parse((const char *)data, size, &p, err,
	    sizeof(err)) != 0)
		return;
	if (auditfmt_proof_format(&p, &text, &len, err, sizeof(err)) != 0)
		abort();
	if (len != size || memcmp(text, data, size) != 0 ||
	    auditfmt_proof_parse(text, len, &q, err, sizeof(err)) != 0)
		abort();
	free(text);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static size_t offs[MAXREC], lens[MAXREC];
	static uint8_t leaves[MAXREC][AUDITFMT_HASH_LEN];
	static struct auditfmt_proof proof;
	static struct auditfmt_verify vf;
	struct auditfmt_reader *rd;
	struct auditfmt_head h;
	struct note_checkpoint cp;
	struct merkle_tree t;
	const uint8_t *rec;
	size_t off = 0, n = 0, i;
	uint64_t roff;
	char err[256];
	int fd, rc;

	/* The walker, record after record. */
	while (off < size && n < MAXREC) {
		size_t window = size - off < AUDITFMT_MAX_RECORD ? size - off :
		    AUDITFMT_MAX_RECORD;
		enum auditfmt_res r = auditfmt_walk(data + off, window, &h);

		if (r != AUDITFMT_OK)
			break;
		if (h.len == 0 || h.len > size - off)
			abort();
		check_decode(data + off, h.len, &h);
		offs[n] = off;
		lens[n] = h.len;
		n++;
		off += h.len;
	}

	/* The reader over the same bytes as a file. */
	if ((fd = memfd_create("fuzz", 0)) != -1) {
		if (size == 0 || write(fd, data, size) == (ssize_t)size) {
			if (auditfmt_reader_open(fd, 0, UINT64_MAX, &rd, err,
			    sizeof(err)) == 0) {
				for (i = 0;; i++) {
					rc = auditfmt_reader_next(rd, &rec,
					    &roff, &h, err, sizeof(err));
					if (rc != AUDITFMT_READ_REC)
						break;
					if (i < n && (roff != offs[i] ||
					    h.len != lens[i] ||
					    memcmp(rec, data + roff, h.len) != 0))
						abort();
				}
				if (n < MAXREC && i != n)
					abort();
				auditfmt_reader_free(rd);
			}
		}
		close(fd);
	}

	check_proof(data, size);

	/* The verifier: records proven against the root they give. */
	merkle_tree_init(&t);
	for (i = 0; i < n; i++) {
		if (merkle_hash_leaf(data + offs[i], lens[i], leaves[i], err,
		    sizeof(err)) != 0 || merkle_tree_append(&t, leaves[i], err,
		    sizeof(err)) != 0)
			abort();
	}
	memset(&proof, 0, sizeof(proof));
	memset(&cp, 0, sizeof(cp));
	proof.count = n;
	proof.tree_size = n;
	cp.size = n;
	if (merkle_tree_root(&t, cp.root, err, sizeof(err)) != 0)
		abort();
	auditfmt_verify_begin(&vf, &cp, &proof,
	    (const uint8_t (*)[AUDITFMT_HASH_LEN])leaves, n);
	for (i = 0; i < n; i++)
		auditfmt_verify_record(&vf, data + offs[i], lens[i], offs[i]);
	auditfmt_verify_end(&vf);
	/* Sequence numbers and prev chains in arbitrary input rarely hold;
	 * when they do, the verdict must be clean. */
	if (vf.v.fault == AUDITFMT_FAULT_NONE && vf.pos != n)
		abort();
	return 0;
}
