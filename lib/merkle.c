/*
 * merkle — RFC 9162 Merkle trees for the audit trail; see merkle.h.
 *
 * The generators never hold more than one builder per subtree they hash:
 * an audit log may have millions of records and the broker must not keep
 * their hashes in memory. Proofs are built top-down (that is where the
 * split points are known) and reversed at the end, because RFC 9162 lists
 * the innermost hash first.
 *
 * The verifiers follow RFC 9162 §2.1.3.2 and §2.1.4.2 step by step, with
 * the size checks made explicit so that a truncated, padded or reordered
 * proof is reported as such rather than as a root mismatch.
 *
 * Hashing uses OpenSSL's low-level SHA256_Init/Update/Final on a stack
 * context. They are deprecated in OpenSSL 3 in favour of EVP, but EVP (and
 * the one-shot SHA256(), which OpenSSL 3 routes through EVP_Q_digest)
 * fetches the algorithm and allocates on every call: three mallocs per node
 * hash, four times slower, and a verifier that could fail for lack of
 * memory. The low-level calls run the same assembly with no allocation,
 * which is what the verifier contract in merkle.h promises.
 */
#define OPENSSL_SUPPRESS_DEPRECATED

#include "lib/merkle.h"

#include <string.h>

#include <openssl/sha.h>

#include "lib/util.h"

const uint8_t merkle_empty_root[MERKLE_HASH_LEN] = {
	0xe3, 0xb0, 0xc4, 0x42, 0x98, 0xfc, 0x1c, 0x14,
	0x9a, 0xfb, 0xf4, 0xc8, 0x99, 0x6f, 0xb9, 0x24,
	0x27, 0xae, 0x41, 0xe4, 0x64, 0x9b, 0x93, 0x4c,
	0xa4, 0x95, 0x99, 0x1b, 0x78, 0x52, 0xb8, 0x55,
};

int
merkle_leaf_array(void *arg, uint64_t index, uint8_t out[MERKLE_HASH_LEN],
    char *err, size_t errlen)
{
	const uint8_t (*leaves)[MERKLE_HASH_LEN] = arg;

	(void)err;
	(void)errlen;
	memcpy(out, leaves[index], MERKLE_HASH_LEN);
	return 0;
}

int
merkle_hash_leaf(const void *data, size_t len, uint8_t out[MERKLE_HASH_LEN],
    char *err, size_t errlen)
{
	static const uint8_t prefix = 0x00;
	SHA256_CTX c;
	int ok;

	ok = SHA256_Init(&c) == 1 && SHA256_Update(&c, &prefix, 1) == 1 &&
	    (len == 0 || SHA256_Update(&c, data, len) == 1) &&
	    SHA256_Final(out, &c) == 1;
	if (!ok)
		return util_err(err, errlen, "merkle: SHA-256 failed");
	return 0;
}

int
merkle_hash_node(const uint8_t left[MERKLE_HASH_LEN],
    const uint8_t right[MERKLE_HASH_LEN], uint8_t out[MERKLE_HASH_LEN])
{
	static const uint8_t prefix = 0x01;
	SHA256_CTX c;
	uint8_t md[MERKLE_HASH_LEN];	/* out may alias left or right */

	if (SHA256_Init(&c) != 1 || SHA256_Update(&c, &prefix, 1) != 1 ||
	    SHA256_Update(&c, left, MERKLE_HASH_LEN) != 1 ||
	    SHA256_Update(&c, right, MERKLE_HASH_LEN) != 1 ||
	    SHA256_Final(md, &c) != 1)
		return -1;
	memcpy(out, md, MERKLE_HASH_LEN);
	return 0;
}

/* --- builder --- */

static size_t
popcount64(uint64_t x)
{
	return (size_t)__builtin_popcountll(x);
}

void
merkle_tree_init(struct merkle_tree *t)
{
	memset(t, 0, sizeof(*t));
}

int
merkle_tree_append(struct merkle_tree *t,
    const uint8_t leaf_hash[MERKLE_HASH_LEN], char *err, size_t errlen)
{
	uint8_t h[MERKLE_HASH_LEN];
	size_t depth;
	uint64_t s;

	if (t->size == UINT64_MAX)
		return util_err(err, errlen, "merkle: tree is full");
	depth = popcount64(t->size);
	memcpy(h, leaf_hash, MERKLE_HASH_LEN);
	/*
	 * Each trailing 1 bit of the old size is a perfect subtree of the
	 * same height as the one being carried: merge them, like binary
	 * addition. Work on a copy so a hash failure leaves t unchanged.
	 */
	for (s = t->size; s & 1; s >>= 1) {
		if (merkle_hash_node(t->stack[depth - 1], h, h) == -1)
			return util_err(err, errlen, "merkle: SHA-256 failed");
		depth--;
	}
	memcpy(t->stack[depth], h, MERKLE_HASH_LEN);
	t->size++;
	return 0;
}

int
merkle_tree_root(const struct merkle_tree *t, uint8_t root[MERKLE_HASH_LEN],
    char *err, size_t errlen)
{
	uint8_t h[MERKLE_HASH_LEN];
	size_t depth, i;

	depth = popcount64(t->size);
	if (depth == 0) {
		memcpy(root, merkle_empty_root, MERKLE_HASH_LEN);
		return 0;
	}
	/* The right edge folds from the smallest subtree leftwards. */
	memcpy(h, t->stack[depth - 1], MERKLE_HASH_LEN);
	for (i = depth - 1; i > 0; i--)
		if (merkle_hash_node(t->stack[i - 1], h, h) == -1)
			return util_err(err, errlen, "merkle: SHA-256 failed");
	memcpy(root, h, MERKLE_HASH_LEN);
	return 0;
}

int
merkle_tree_restore(struct merkle_tree *t, uint64_t size,
    const uint8_t (*stack)[MERKLE_HASH_LEN], size_t count,
    char *err, size_t errlen)
{
	if (count != popcount64(size))
		return util_err(err, errlen, "merkle: %zu subtree hashes for "
		    "tree size %llu, want %zu", count,
		    (unsigned long long)size, popcount64(size));
	merkle_tree_init(t);
	if (count > 0)
		memcpy(t->stack, stack, count * MERKLE_HASH_LEN);
	t->size = size;
	return 0;
}

/* --- generators --- */

/* Largest power of two strictly smaller than n (n >= 2). */
static uint64_t
split_point(uint64_t n)
{
	return (uint64_t)1 << (63 - __builtin_clzll(n - 1));
}

/* MTH(D[lo:hi]) through the accessor. */
static int
range_root(uint64_t lo, uint64_t hi, merkle_leaf_fn fn, void *arg,
    uint8_t out[MERKLE_HASH_LEN], char *err, size_t errlen)
{
	struct merkle_tree t;
	uint8_t leaf[MERKLE_HASH_LEN];
	uint64_t i;

	merkle_tree_init(&t);
	for (i = lo; i < hi; i++) {
		if (fn(arg, i, leaf, err, errlen) == -1)
			return -1;
		if (merkle_tree_append(&t, leaf, err, errlen) == -1)
			return -1;
	}
	return merkle_tree_root(&t, out, err, errlen);
}

static void
reverse_hashes(uint8_t (*h)[MERKLE_HASH_LEN], size_t n)
{
	uint8_t tmp[MERKLE_HASH_LEN];
	size_t i;

	for (i = 0; i < n / 2; i++) {
		memcpy(tmp, h[i], MERKLE_HASH_LEN);
		memcpy(h[i], h[n - 1 - i], MERKLE_HASH_LEN);
		memcpy(h[n - 1 - i], tmp, MERKLE_HASH_LEN);
	}
}

int
merkle_root(uint64_t n, merkle_leaf_fn fn, void *arg,
    uint8_t root[MERKLE_HASH_LEN], char *err, size_t errlen)
{
	return range_root(0, n, fn, arg, root, err, errlen);
}

int
merkle_prove_inclusion(uint64_t m, uint64_t n, merkle_leaf_fn fn, void *arg,
    uint8_t (*proof)[MERKLE_HASH_LEN], size_t cap, size_t *len,
    char *err, size_t errlen)
{
	uint64_t lo = 0, hi = n, k;
	size_t count = 0;

	*len = 0;
	if (m >= n)
		return util_err(err, errlen, "merkle: leaf %llu is not in a "
		    "tree of %llu leaves", (unsigned long long)m,
		    (unsigned long long)n);
	if (cap > MERKLE_MAX_PROOF)
		cap = MERKLE_MAX_PROOF;
	while (hi - lo > 1) {
		if (count == cap)
			return util_err(err, errlen,
			    "merkle: proof longer than %zu hashes", cap);
		k = split_point(hi - lo);
		if (m < lo + k) {
			if (range_root(lo + k, hi, fn, arg, proof[count],
			    err, errlen) == -1)
				return -1;
			hi = lo + k;
		} else {
			if (range_root(lo, lo + k, fn, arg, proof[count],
			    err, errlen) == -1)
				return -1;
			lo += k;
		}
		count++;
	}
	reverse_hashes(proof, count);
	*len = count;
	return 0;
}

int
merkle_prove_consistency(uint64_t m, uint64_t n, merkle_leaf_fn fn,
    void *arg, uint8_t (*proof)[MERKLE_HASH_LEN], size_t cap, size_t *len,
    char *err, size_t errlen)
{
	uint64_t lo = 0, hi = n, k;
	size_t count = 0;
	int whole = 1;	/* RFC 9162's b: the old tree is this whole subtree */

	*len = 0;
	if (m > n)
		return util_err(err, errlen, "merkle: no consistency proof "
		    "from %llu down to %llu leaves", (unsigned long long)m,
		    (unsigned long long)n);
	if (m == 0 || m == n)
		return 0;
	if (cap > MERKLE_MAX_PROOF)
		cap = MERKLE_MAX_PROOF;
	for (;;) {
		if (m == hi - lo) {
			/*
			 * The old tree ends exactly here. If it is the whole
			 * old tree the verifier knows its root already;
			 * otherwise the verifier needs this subtree's root.
			 */
			if (whole)
				break;
			if (count == cap)
				goto toolong;
			if (range_root(lo, hi, fn, arg, proof[count],
			    err, errlen) == -1)
				return -1;
			count++;
			break;
		}
		if (count == cap)
			goto toolong;
		k = split_point(hi - lo);
		if (m <= k) {
			if (range_root(lo + k, hi, fn, arg, proof[count],
			    err, errlen) == -1)
				return -1;
			hi = lo + k;
		} else {
			if (range_root(lo, lo + k, fn, arg, proof[count],
			    err, errlen) == -1)
				return -1;
			m -= k;
			lo += k;
			whole = 0;
		}
		count++;
	}
	reverse_hashes(proof, count);
	*len = count;
	return 0;
toolong:
	return util_err(err, errlen, "merkle: proof longer than %zu hashes",
	    cap);
}

/* --- verifiers --- */

enum merkle_verdict
merkle_verify_inclusion(const uint8_t leaf_hash[MERKLE_HASH_LEN],
    uint64_t index, uint64_t tree_size,
    const uint8_t (*proof)[MERKLE_HASH_LEN], size_t prooflen,
    const uint8_t root[MERKLE_HASH_LEN])
{
	uint8_t r[MERKLE_HASH_LEN];
	uint64_t fn, sn;
	size_t i;

	if (index >= tree_size)
		return MERKLE_ERR_RANGE;
	if (prooflen > MERKLE_MAX_PROOF)
		return MERKLE_ERR_PROOF_LEN;
	fn = index;
	sn = tree_size - 1;
	memcpy(r, leaf_hash, MERKLE_HASH_LEN);
	for (i = 0; i < prooflen; i++) {
		if (sn == 0)
			return MERKLE_ERR_PROOF_LEN;	/* hashes left over */
		if ((fn & 1) || fn == sn) {
			if (merkle_hash_node(proof[i], r, r) == -1)
				return MERKLE_ERR_HASH;
			/* Skip levels where this node has no right sibling. */
			while ((fn & 1) == 0 && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			if (merkle_hash_node(r, proof[i], r) == -1)
				return MERKLE_ERR_HASH;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return MERKLE_ERR_PROOF_LEN;		/* proof too short */
	if (memcmp(r, root, MERKLE_HASH_LEN) != 0)
		return MERKLE_ERR_ROOT;
	return MERKLE_OK;
}

enum merkle_verdict
merkle_verify_consistency(uint64_t size1, uint64_t size2,
    const uint8_t root1[MERKLE_HASH_LEN], const uint8_t root2[MERKLE_HASH_LEN],
    const uint8_t (*proof)[MERKLE_HASH_LEN], size_t prooflen)
{
	uint8_t fr[MERKLE_HASH_LEN], sr[MERKLE_HASH_LEN];
	uint64_t fn, sn;
	size_t i;

	if (size1 > size2)
		return MERKLE_ERR_RANGE;
	if (size1 == size2 || size1 == 0) {
		if (prooflen != 0)
			return MERKLE_ERR_PROOF_LEN;
		if (size1 == 0)
			return memcmp(root1, merkle_empty_root,
			    MERKLE_HASH_LEN) == 0 ? MERKLE_OK : MERKLE_ERR_ROOT;
		return memcmp(root1, root2, MERKLE_HASH_LEN) == 0 ?
		    MERKLE_OK : MERKLE_ERR_ROOT;
	}
	if (prooflen == 0 || prooflen > MERKLE_MAX_PROOF)
		return MERKLE_ERR_PROOF_LEN;

	/*
	 * When the old tree is a perfect subtree its root is the first node
	 * of the path and the proof leaves it out.
	 */
	if ((size1 & (size1 - 1)) == 0) {
		memcpy(fr, root1, MERKLE_HASH_LEN);
		i = 0;
	} else {
		memcpy(fr, proof[0], MERKLE_HASH_LEN);
		i = 1;
	}
	memcpy(sr, fr, MERKLE_HASH_LEN);
	fn = size1 - 1;
	sn = size2 - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	for (; i < prooflen; i++) {
		if (sn == 0)
			return MERKLE_ERR_PROOF_LEN;	/* hashes left over */
		if ((fn & 1) || fn == sn) {
			if (merkle_hash_node(proof[i], fr, fr) == -1 ||
			    merkle_hash_node(proof[i], sr, sr) == -1)
				return MERKLE_ERR_HASH;
			while ((fn & 1) == 0 && fn != 0) {
				fn >>= 1;
				sn >>= 1;
			}
		} else {
			if (merkle_hash_node(sr, proof[i], sr) == -1)
				return MERKLE_ERR_HASH;
		}
		fn >>= 1;
		sn >>= 1;
	}
	if (sn != 0)
		return MERKLE_ERR_PROOF_LEN;		/* proof too short */
	if (memcmp(fr, root1, MERKLE_HASH_LEN) != 0 ||
	    memcmp(sr, root2, MERKLE_HASH_LEN) != 0)
		return MERKLE_ERR_ROOT;
	return MERKLE_OK;
}

const char *
merkle_verdict_str(enum merkle_verdict v)
{
	switch (v) {
	case MERKLE_OK:
		return "proof verified";
	case MERKLE_ERR_RANGE:
		return "leaf index or tree sizes out of range";
	case MERKLE_ERR_PROOF_LEN:
		return "proof has the wrong number of hashes";
	case MERKLE_ERR_ROOT:
		return "proof does not lead to the expected root";
	case MERKLE_ERR_HASH:
		return "SHA-256 failed";
	}
	return "unknown verdict";
}
