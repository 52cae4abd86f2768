/*
 * Tests for lib/merkle: RFC 6962/9162 reference vectors (the 8-leaf tree the
 * Certificate Transparency implementations share), agreement with a
 * straightforward recursive transcription of the RFC definitions written
 * here, every inclusion and consistency proof of every tree up to 64 leaves,
 * and refusal of every single-bit corruption of a proof, root, leaf hash,
 * index and size.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "lib/merkle.h"
#include "lib/util.h"

#define H MERKLE_HASH_LEN
#define NMAX 64			/* exhaustive proofs for every tree up to this */
#define NFLIP 32		/* every bit flipped for trees up to this; above,
				   one bit per byte, rotating with (m, n) */
#define NBIG 300		/* roots checked up to this */

/* --- an independent model, straight from RFC 9162 §2.1 --- */

static void
ref_leaf(const uint8_t *data, size_t len, uint8_t out[H])
{
	uint8_t buf[64];

	assert_true(len + 1 <= sizeof(buf));
	buf[0] = 0;
	if (len > 0)
		memcpy(buf + 1, data, len);
	SHA256(buf, len + 1, out);
}

static void
ref_node(const uint8_t l[H], const uint8_t r[H], uint8_t out[H])
{
	uint8_t buf[1 + 2 * H];

	buf[0] = 1;
	memcpy(buf + 1, l, H);
	memcpy(buf + 1 + H, r, H);
	SHA256(buf, sizeof(buf), out);
}

static uint64_t
ref_k(uint64_t n)
{
	uint64_t k = 1;

	while (k * 2 < n)
		k *= 2;
	return k;
}

/* MTH(D[0:n]) over leaf hashes. */
static void
ref_mth(const uint8_t (*d)[H], uint64_t n, uint8_t out[H])
{
	uint8_t l[H], r[H];
	uint64_t k;

	if (n == 0) {
		SHA256((const uint8_t *)"", 0, out);
		return;
	}
	if (n == 1) {
		memcpy(out, d[0], H);
		return;
	}
	k = ref_k(n);
	ref_mth(d, k, l);
	ref_mth(d + k, n - k, r);
	ref_node(l, r, out);
}

/* PATH(m, D[0:n]), appended to out in RFC order. */
static void
ref_path(uint64_t m, const uint8_t (*d)[H], uint64_t n, uint8_t (*out)[H],
    size_t *len)
{
	uint64_t k;

	if (n == 1)
		return;
	k = ref_k(n);
	if (m < k) {
		ref_path(m, d, k, out, len);
		ref_mth(d + k, n - k, out[(*len)++]);
	} else {
		ref_path(m - k, d + k, n - k, out, len);
		ref_mth(d, k, out[(*len)++]);
	}
}

/* SUBPROOF(m, D[0:n], b). */
static void
ref_subproof(uint64_t m, const uint8_t (*d)[H], uint64_t n, int b,
    uint8_t (*out)[H], size_t *len)
{
	uint64_t k;

	if (m == n) {
		if (!b)
			ref_mth(d, n, out[(*len)++]);
		return;
	}
	k = ref_k(n);
	if (m <= k) {
		ref_subproof(m, d, k, b, out, len);
		ref_mth(d + k, n - k, out[(*len)++]);
	} else {
		ref_subproof(m - k, d + k, n - k, 0, out, len);
		ref_mth(d, k, out[(*len)++]);
	}
}

/* --- fixtures --- */

static uint8_t leaves[NBIG][H];		/* leaf hashes of "leaf i" records */
static uint8_t roots[NBIG + 1][H];	/* reference MTH of the first n */

static void
make_leaves(void)
{
	static int done;
	char rec[32];
	uint64_t i;

	if (done)
		return;
	for (i = 0; i < NBIG; i++) {
		int n = snprintf(rec, sizeof(rec), "record %llu",
		    (unsigned long long)i);
		ref_leaf((const uint8_t *)rec, (size_t)n, leaves[i]);
	}
	for (i = 0; i <= NBIG; i++)
		ref_mth((const uint8_t (*)[H])leaves, i, roots[i]);
	done = 1;
}

static void
unhex(const char *s, uint8_t *out, size_t len)
{
	assert_int_equal(util_unhex(s, out, len), 0);
}

/* --- RFC 6962 reference vectors (certificate-transparency / trillian) --- */

static const struct {
	const char *hex;
	size_t len;
} ct_data[8] = {
	{ "", 0 }, { "00", 1 }, { "10", 1 }, { "2021", 2 }, { "3031", 2 },
	{ "40414243", 4 }, { "5051525354555657", 8 },
	{ "606162636465666768696a6b6c6d6e6f", 16 },
};

static const char *ct_roots[9] = {
	"e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
	"6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	"fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
	"aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
	"d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
	"4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
	"76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
	"ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
	"5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
};

/* Inclusion: 0-based leaf index, tree size, audit path. */
static const struct {
	uint64_t index, size;
	size_t len;
	const char *proof[3];
} ct_incl[] = {
	{ 0, 8, 3, {
	    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 5, 8, 3, {
	    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
	    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 3, 1, {
	    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125" } },
	{ 1, 5, 3, {
	    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 0, 1, 0, { NULL } },
};

static const struct {
	uint64_t size1, size2;
	size_t len;
	const char *proof[3];
} ct_cons[] = {
	{ 1, 1, 0, { NULL } },
	{ 1, 8, 3, {
	    "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4" } },
	{ 6, 8, 3, {
	    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	    "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
	{ 2, 5, 2, {
	    "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
	    "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b" } },
	{ 6, 7, 3, {
	    "0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
	    "b08693ec2e721597130641e8211e7eedccb4c26413963eee6c1e2ed16ffb1a5f",
	    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7" } },
};

static void
ct_leaf_hashes(uint8_t out[8][H])
{
	char err[128];
	uint8_t data[16], ref[H];
	size_t i;

	for (i = 0; i < 8; i++) {
		if (ct_data[i].len > 0)
			unhex(ct_data[i].hex, data, ct_data[i].len);
		assert_int_equal(merkle_hash_leaf(data, ct_data[i].len, out[i],
		    err, sizeof(err)), 0);
		ref_leaf(data, ct_data[i].len, ref);
		assert_memory_equal(out[i], ref, H);
	}
}

static void
test_ct_roots(void **state)
{
	struct merkle_tree t;
	uint8_t lh[8][H], want[H], got[H];
	char err[128];
	uint64_t n;

	(void)state;
	make_leaves();
	ct_leaf_hashes(lh);
	merkle_tree_init(&t);
	for (n = 0; n <= 8; n++) {
		unhex(ct_roots[n], want, H);
		assert_int_equal(merkle_tree_root(&t, got, err, sizeof(err)), 0);
		assert_memory_equal(got, want, H);
		assert_int_equal(merkle_root(n, merkle_leaf_array, lh, got,
		    err, sizeof(err)), 0);
		assert_memory_equal(got, want, H);
		if (n < 8)
			assert_int_equal(merkle_tree_append(&t, lh[n], err,
			    sizeof(err)), 0);
	}
	assert_memory_equal(merkle_empty_root, roots[0], H);
}

static void
test_ct_proofs(void **state)
{
	uint8_t lh[8][H], want[3][H], got[MERKLE_MAX_PROOF][H];
	uint8_t r1[H], r2[H];
	char err[128];
	size_t i, j, len;

	(void)state;
	ct_leaf_hashes(lh);
	for (i = 0; i < sizeof(ct_incl) / sizeof(ct_incl[0]); i++) {
		for (j = 0; j < ct_incl[i].len; j++)
			unhex(ct_incl[i].proof[j], want[j], H);
		assert_int_equal(merkle_prove_inclusion(ct_incl[i].index,
		    ct_incl[i].size, merkle_leaf_array, lh, got,
		    MERKLE_MAX_PROOF, &len, err, sizeof(err)), 0);
		assert_int_equal(len, ct_incl[i].len);
		if (len > 0)
			assert_memory_equal(got, want, len * H);
		unhex(ct_roots[ct_incl[i].size], r2, H);
		assert_int_equal(merkle_verify_inclusion(lh[ct_incl[i].index],
		    ct_incl[i].index, ct_incl[i].size,
		    (const uint8_t (*)[H])want, ct_incl[i].len, r2), MERKLE_OK);
	}
	for (i = 0; i < sizeof(ct_cons) / sizeof(ct_cons[0]); i++) {
		for (j = 0; j < ct_cons[i].len; j++)
			unhex(ct_cons[i].proof[j], want[j], H);
		assert_int_equal(merkle_prove_consistency(ct_cons[i].size1,
		    ct_cons[i].size2, merkle_leaf_array, lh, got,
		    MERKLE_MAX_PROOF, &len, err, sizeof(err)), 0);
		assert_int_equal(len, ct_cons[i].len);
		if (len > 0)
			assert_memory_equal(got, want, len * H);
		unhex(ct_roots[ct_cons[i].size1], r1, H);
		unhex(ct_roots[ct_cons[i].size2], r2, H);
		assert_int_equal(merkle_verify_consistency(ct_cons[i].size1,
		    ct_cons[i].size2, r1, r2, (const uint8_t (*)[H])want,
		    ct_cons[i].len), MERKLE_OK);
	}
}

/* --- agreement with the model --- */

static void
test_roots_match_model(void **state)
{
	struct merkle_tree t, r;
	uint8_t got[H];
	char err[128];
	uint64_t n;

	(void)state;
	make_leaves();
	merkle_tree_init(&t);
	for (n = 0; n <= NBIG; n++) {
		assert_int_equal(t.size, n);
		assert_int_equal(merkle_tree_root(&t, got, err, sizeof(err)), 0);
		assert_memory_equal(got, roots[n], H);
		assert_int_equal(merkle_root(n, merkle_leaf_array, leaves, got,
		    err, sizeof(err)), 0);
		assert_memory_equal(got, roots[n], H);
		/* A builder restored from saved state carries on identically. */
		assert_int_equal(merkle_tree_restore(&r, t.size,
		    (const uint8_t (*)[H])t.stack,
		    (size_t)__builtin_popcountll(t.size), err, sizeof(err)), 0);
		assert_int_equal(merkle_tree_root(&r, got, err, sizeof(err)), 0);
		assert_memory_equal(got, roots[n], H);
		if (n < NBIG) {
			assert_int_equal(merkle_tree_append(&r, leaves[n], err,
			    sizeof(err)), 0);
			assert_int_equal(merkle_tree_root(&r, got, err,
			    sizeof(err)), 0);
			assert_memory_equal(got, roots[n + 1], H);
			assert_int_equal(merkle_tree_append(&t, leaves[n], err,
			    sizeof(err)), 0);
		}
	}
}

/*
 * Which bits of a hash to flip: all of them in trees up to NFLIP leaves;
 * in larger trees one per byte (every bit position still gets its turn
 * over the pairs), which keeps the run short under sanitizers.
 */
static int
first_bit(uint64_t m, uint64_t n, size_t i)
{
	return n <= NFLIP ? 0 : (int)((m + n + i) % 8);
}

static int
bit_step(uint64_t n)
{
	return n <= NFLIP ? 1 : 8;
}

/* Every way to damage an inclusion proof for (m, n) must be refused. */
static void
check_inclusion_corruptions(uint64_t m, uint64_t n, uint8_t (*p)[H],
    size_t len)
{
	uint8_t leaf[H], root[H], ext[MERKLE_MAX_PROOF + 2][H];
	uint64_t x;
	size_t i;
	int bit;

	memcpy(leaf, leaves[m], H);
	memcpy(root, roots[n], H);
	for (i = 0; i < len; i++)
		for (bit = first_bit(m, n, i); bit < 8 * H;
		    bit += bit_step(n)) {
			p[i][bit / 8] ^= (uint8_t)(1 << (bit % 8));
			assert_int_not_equal(merkle_verify_inclusion(leaf, m, n,
			    (const uint8_t (*)[H])p, len, root), MERKLE_OK);
			p[i][bit / 8] ^= (uint8_t)(1 << (bit % 8));
		}
	for (bit = first_bit(m, n, 0); bit < 8 * H; bit += bit_step(n)) {
		root[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		assert_int_equal(merkle_verify_inclusion(leaf, m, n,
		    (const uint8_t (*)[H])p, len, root), MERKLE_ERR_ROOT);
		root[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		leaf[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		assert_int_equal(merkle_verify_inclusion(leaf, m, n,
		    (const uint8_t (*)[H])p, len, root), MERKLE_ERR_ROOT);
		leaf[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}
	/* Any other index, with this leaf or with that index's own leaf. */
	for (x = 0; x < n + 2; x++) {
		if (x == m)
			continue;
		assert_int_not_equal(merkle_verify_inclusion(leaf, x, n,
		    (const uint8_t (*)[H])p, len, root), MERKLE_OK);
		if (x < n)
			assert_int_not_equal(merkle_verify_inclusion(leaves[x],
			    x, n, (const uint8_t (*)[H])p, len, root),
			    MERKLE_OK);
	}
	/* Any other tree size, with its own true root. */
	for (x = 0; x <= NMAX + 1; x++) {
		if (x == n)
			continue;
		assert_int_not_equal(merkle_verify_inclusion(leaf, m, x,
		    (const uint8_t (*)[H])p, len, roots[x]), MERKLE_OK);
	}
	/*
	 * (A path does not commit to the exact tree size: the path of leaf 0
	 * of 5 leaves also fits 6, 7 and 8 leaves with the same root. That
	 * is inherent to RFC 9162; the signed checkpoint binds size and
	 * root together, so no test claims another size with root R(n).)
	 */
	/* Truncated, extended at either end, a hash dropped or duplicated. */
	if (len > 0) {
		assert_int_equal(merkle_verify_inclusion(leaf, m, n,
		    (const uint8_t (*)[H])p, len - 1, root),
		    MERKLE_ERR_PROOF_LEN);
		assert_int_not_equal(merkle_verify_inclusion(leaf, m, n,
		    (const uint8_t (*)[H])p + 1, len - 1, root), MERKLE_OK);
	}
	memcpy(ext, p, len * H);
	memcpy(ext[len], root, H);
	assert_int_equal(merkle_verify_inclusion(leaf, m, n,
	    (const uint8_t (*)[H])ext, len + 1, root), MERKLE_ERR_PROOF_LEN);
	memcpy(ext[0], leaf, H);
	memcpy(ext + 1, p, len * H);
	assert_int_not_equal(merkle_verify_inclusion(leaf, m, n,
	    (const uint8_t (*)[H])ext, len + 1, root), MERKLE_OK);
	for (i = 0; i + 1 < len; i++)
		if (memcmp(p[i], p[i + 1], H) != 0) {
			memcpy(ext, p, len * H);
			memcpy(ext[i], p[i + 1], H);
			memcpy(ext[i + 1], p[i], H);
			assert_int_equal(merkle_verify_inclusion(leaf, m, n,
			    (const uint8_t (*)[H])ext, len, root),
			    MERKLE_ERR_ROOT);
		}
}

static void
test_inclusion_exhaustive(void **state)
{
	uint8_t got[MERKLE_MAX_PROOF][H], want[MERKLE_MAX_PROOF][H];
	char err[128];
	size_t len, wlen;
	uint64_t m, n;

	(void)state;
	make_leaves();
	for (n = 1; n <= NMAX; n++)
		for (m = 0; m < n; m++) {
			wlen = 0;
			ref_path(m, (const uint8_t (*)[H])leaves, n, want,
			    &wlen);
			assert_int_equal(merkle_prove_inclusion(m, n,
			    merkle_leaf_array, leaves, got, MERKLE_MAX_PROOF,
			    &len, err, sizeof(err)), 0);
			assert_int_equal(len, wlen);
			if (len > 0)
				assert_memory_equal(got, want, len * H);
			assert_int_equal(merkle_verify_inclusion(leaves[m], m,
			    n, (const uint8_t (*)[H])got, len, roots[n]),
			    MERKLE_OK);
			check_inclusion_corruptions(m, n, got, len);
		}
}

static void
check_consistency_corruptions(uint64_t m, uint64_t n, uint8_t (*p)[H],
    size_t len)
{
	uint8_t r1[H], r2[H], ext[MERKLE_MAX_PROOF + 2][H];
	uint64_t x;
	size_t i;
	int bit;

	memcpy(r1, roots[m], H);
	memcpy(r2, roots[n], H);
	for (i = 0; i < len; i++)
		for (bit = first_bit(m, n, i); bit < 8 * H;
		    bit += bit_step(n)) {
			p[i][bit / 8] ^= (uint8_t)(1 << (bit % 8));
			assert_int_not_equal(merkle_verify_consistency(m, n,
			    r1, r2, (const uint8_t (*)[H])p, len), MERKLE_OK);
			p[i][bit / 8] ^= (uint8_t)(1 << (bit % 8));
		}
	for (bit = first_bit(m, n, 0); bit < 8 * H; bit += bit_step(n)) {
		r1[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		assert_int_equal(merkle_verify_consistency(m, n, r1, r2,
		    (const uint8_t (*)[H])p, len), MERKLE_ERR_ROOT);
		r1[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		r2[bit / 8] ^= (uint8_t)(1 << (bit % 8));
		assert_int_equal(merkle_verify_consistency(m, n, r1, r2,
		    (const uint8_t (*)[H])p, len), MERKLE_ERR_ROOT);
		r2[bit / 8] ^= (uint8_t)(1 << (bit % 8));
	}
	/* Other sizes, each claimed with its own true root. */
	for (x = 0; x <= NMAX + 1; x++) {
		if (x != m)
			assert_int_not_equal(merkle_verify_consistency(x, n,
			    roots[x], r2, (const uint8_t (*)[H])p, len),
			    MERKLE_OK);
		if (x != n)
			assert_int_not_equal(merkle_verify_consistency(m, x,
			    r1, roots[x], (const uint8_t (*)[H])p, len),
			    MERKLE_OK);
	}
	assert_int_not_equal(merkle_verify_consistency(m, n, r2, r1,
	    (const uint8_t (*)[H])p, len), MERKLE_OK);
	assert_int_not_equal(merkle_verify_consistency(n, m, r2, r1,
	    (const uint8_t (*)[H])p, len), MERKLE_OK);
	/* Truncated, empty, extended, prefixed. */
	assert_int_not_equal(merkle_verify_consistency(m, n, r1, r2,
	    (const uint8_t (*)[H])p, len - 1), MERKLE_OK);
	assert_int_equal(merkle_verify_consistency(m, n, r1, r2, NULL, 0),
	    MERKLE_ERR_PROOF_LEN);
	memcpy(ext, p, len * H);
	memcpy(ext[len], r2, H);
	assert_int_not_equal(merkle_verify_consistency(m, n, r1, r2,
	    (const uint8_t (*)[H])ext, len + 1), MERKLE_OK);
	memcpy(ext[0], r1, H);
	memcpy(ext + 1, p, len * H);
	assert_int_not_equal(merkle_verify_consistency(m, n, r1, r2,
	    (const uint8_t (*)[H])ext, len + 1), MERKLE_OK);
	for (i = 0; i + 1 < len; i++)
		if (memcmp(p[i], p[i + 1], H) != 0) {
			memcpy(ext, p, len * H);
			memcpy(ext[i], p[i + 1], H);
			memcpy(ext[i + 1], p[i], H);
			assert_int_not_equal(merkle_verify_consistency(m, n,
			    r1, r2, (const uint8_t (*)[H])ext, len), MERKLE_OK);
		}
}

static void
test_consistency_exhaustive(void **state)
{
	uint8_t got[MERKLE_MAX_PROOF][H], want[MERKLE_MAX_PROOF][H];
	char err[128];
	size_t len, wlen;
	uint64_t m, n;

	(void)state;
	make_leaves();
	for (n = 0; n <= NMAX; n++)
		for (m = 0; m <= n; m++) {
			wlen = 0;
			if (m > 0 && m < n)
				ref_subproof(m, (const uint8_t (*)[H])leaves,
				    n, 1, want, &wlen);
			assert_int_equal(merkle_prove_consistency(m, n,
			    merkle_leaf_array, leaves, got, MERKLE_MAX_PROOF,
			    &len, err, sizeof(err)), 0);
			assert_int_equal(len, wlen);
			if (len > 0)
				assert_memory_equal(got, want, len * H);
			assert_int_equal(merkle_verify_consistency(m, n,
			    roots[m], roots[n], (const uint8_t (*)[H])got, len),
			    MERKLE_OK);
			if (len > 0)
				check_consistency_corruptions(m, n, got, len);
		}
}

/* The trivial cases have exact rules: see merkle.h. */
static void
test_consistency_edges(void **state)
{
	uint8_t one[1][H];

	(void)state;
	make_leaves();
	memcpy(one[0], roots[0], H);
	/* Same size: roots must match and the proof be empty. */
	assert_int_equal(merkle_verify_consistency(5, 5, roots[5], roots[5],
	    NULL, 0), MERKLE_OK);
	assert_int_equal(merkle_verify_consistency(5, 5, roots[5], roots[4],
	    NULL, 0), MERKLE_ERR_ROOT);
	assert_int_equal(merkle_verify_consistency(5, 5, roots[5], roots[5],
	    (const uint8_t (*)[H])one, 1), MERKLE_ERR_PROOF_LEN);
	/* From empty: root1 must be the empty root, proof empty. */
	assert_int_equal(merkle_verify_consistency(0, 9, roots[0], roots[9],
	    NULL, 0), MERKLE_OK);
	assert_int_equal(merkle_verify_consistency(0, 0, roots[0], roots[0],
	    NULL, 0), MERKLE_OK);
	assert_int_equal(merkle_verify_consistency(0, 9, roots[1], roots[9],
	    NULL, 0), MERKLE_ERR_ROOT);
	assert_int_equal(merkle_verify_consistency(0, 9, roots[0], roots[9],
	    (const uint8_t (*)[H])one, 1), MERKLE_ERR_PROOF_LEN);
	/* Backwards. */
	assert_int_equal(merkle_verify_consistency(9, 5, roots[9], roots[5],
	    NULL, 0), MERKLE_ERR_RANGE);
}

static void
test_inclusion_edges(void **state)
{
	uint8_t big[MERKLE_MAX_PROOF + 1][H];

	(void)state;
	make_leaves();
	memset(big, 0, sizeof(big));
	/* Single leaf: the root is the leaf hash and the proof is empty. */
	assert_int_equal(merkle_verify_inclusion(leaves[0], 0, 1, NULL, 0,
	    leaves[0]), MERKLE_OK);
	assert_int_equal(merkle_verify_inclusion(leaves[0], 0, 1, NULL, 0,
	    leaves[1]), MERKLE_ERR_ROOT);
	assert_int_equal(merkle_verify_inclusion(leaves[0], 0, 0, NULL, 0,
	    roots[0]), MERKLE_ERR_RANGE);
	assert_int_equal(merkle_verify_inclusion(leaves[0], 1, 1, NULL, 0,
	    leaves[0]), MERKLE_ERR_RANGE);
	assert_int_equal(merkle_verify_inclusion(leaves[0], UINT64_MAX,
	    UINT64_MAX, NULL, 0, leaves[0]), MERKLE_ERR_RANGE);
	/* Over-long proofs are refused before any hashing. */
	assert_int_equal(merkle_verify_inclusion(leaves[0], 0, UINT64_MAX,
	    (const uint8_t (*)[H])big, MERKLE_MAX_PROOF + 1, roots[0]),
	    MERKLE_ERR_PROOF_LEN);
	assert_int_equal(merkle_verify_consistency(3, UINT64_MAX, roots[3],
	    roots[0], (const uint8_t (*)[H])big, MERKLE_MAX_PROOF + 1),
	    MERKLE_ERR_PROOF_LEN);
	/* Leaf 0 of a 2^63+1 leaf tree has a 64-hash path: it is processed
	 * (and fails on the root, not on the bounds). */
	assert_int_equal(merkle_verify_inclusion(leaves[0], 0,
	    (uint64_t)1 << 63 | 1, (const uint8_t (*)[H])big,
	    MERKLE_MAX_PROOF, roots[0]), MERKLE_ERR_ROOT);
	assert_string_equal(merkle_verdict_str(MERKLE_OK), "proof verified");
}

/* Generators: bounds, capacity and accessor failures. */
static int
failing_leaf(void *arg, uint64_t index, uint8_t out[H], char *err,
    size_t errlen)
{
	uint64_t bad = *(const uint64_t *)arg;

	if (index == bad)
		return util_err(err, errlen, "record %llu unreadable",
		    (unsigned long long)index);
	memcpy(out, leaves[index], H);
	return 0;
}

static void
test_generator_errors(void **state)
{
	uint8_t p[MERKLE_MAX_PROOF][H], r[H];
	char err[128];
	size_t len;
	uint64_t bad = 7;

	(void)state;
	make_leaves();
	assert_int_equal(merkle_prove_inclusion(5, 5, merkle_leaf_array,
	    leaves, p, MERKLE_MAX_PROOF, &len, err, sizeof(err)), -1);
	assert_int_equal(merkle_prove_consistency(6, 5, merkle_leaf_array,
	    leaves, p, MERKLE_MAX_PROOF, &len, err, sizeof(err)), -1);
	/* In 33 leaves the first needs 6 hashes, the last only one. */
	assert_int_equal(merkle_prove_inclusion(0, 33, merkle_leaf_array,
	    leaves, p, 5, &len, err, sizeof(err)), -1);
	assert_int_equal(merkle_prove_inclusion(0, 33, merkle_leaf_array,
	    leaves, p, 6, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 6);
	assert_int_equal(merkle_prove_inclusion(32, 33, merkle_leaf_array,
	    leaves, p, 1, &len, err, sizeof(err)), 0);
	assert_int_equal(len, 1);
	assert_int_equal(merkle_prove_consistency(3, 33, merkle_leaf_array,
	    leaves, p, 2, &len, err, sizeof(err)), -1);
	assert_int_equal(len, 0);
	/* An unreadable record fails the call with the accessor's message. */
	assert_int_equal(merkle_root(20, failing_leaf, &bad, r, err,
	    sizeof(err)), -1);
	assert_string_equal(err, "record 7 unreadable");
	assert_int_equal(merkle_prove_inclusion(1, 20, failing_leaf, &bad, p,
	    MERKLE_MAX_PROOF, &len, err, sizeof(err)), -1);
	assert_int_equal(merkle_prove_consistency(3, 20, failing_leaf, &bad,
	    p, MERKLE_MAX_PROOF, &len, err, sizeof(err)), -1);
	assert_int_equal(merkle_root(7, failing_leaf, &bad, r, err,
	    sizeof(err)), 0);
	assert_memory_equal(r, roots[7], H);
}

static void
test_builder_limits(void **state)
{
	struct merkle_tree t;
	uint8_t stack[MERKLE_MAX_STACK][H], r[H];
	char err[128];

	(void)state;
	make_leaves();
	memset(stack, 0, sizeof(stack));
	assert_int_equal(merkle_tree_restore(&t, 5, (const uint8_t (*)[H])stack,
	    3, err, sizeof(err)), -1);
	assert_int_equal(merkle_tree_restore(&t, UINT64_MAX,
	    (const uint8_t (*)[H])stack, MERKLE_MAX_STACK, err, sizeof(err)), 0);
	assert_int_equal(merkle_tree_append(&t, leaves[0], err, sizeof(err)),
	    -1);
	assert_true(t.size == UINT64_MAX);
	/* One below full: the append merges all 63 subtrees. */
	assert_int_equal(merkle_tree_restore(&t, UINT64_MAX - 1,
	    (const uint8_t (*)[H])stack, MERKLE_MAX_STACK - 1, err,
	    sizeof(err)), 0);
	assert_int_equal(merkle_tree_append(&t, leaves[0], err, sizeof(err)),
	    0);
	assert_int_equal(merkle_tree_root(&t, r, err, sizeof(err)), 0);
}

/* OpenSSL allocations, counted through CRYPTO_set_mem_functions. */
static unsigned long ossl_allocs;

static void *
count_malloc(size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	ossl_allocs++;
	return malloc(n);
}

static void *
count_realloc(void *p, size_t n, const char *file, int line)
{
	(void)file;
	(void)line;
	ossl_allocs++;
	return realloc(p, n);
}

static void
count_free(void *p, const char *file, int line)
{
	(void)file;
	(void)line;
	free(p);
}

/* The verifiers and the builder allocate nothing (lib/merkle itself calls
 * no allocator; this checks that OpenSSL does not either). */
static void
test_no_allocation(void **state)
{
	struct merkle_tree t;
	uint8_t p[MERKLE_MAX_PROOF][H], r[H];
	char err[128];
	size_t len, plen2;
	uint8_t p2[MERKLE_MAX_PROOF][H];
	unsigned long before;
	uint64_t i;

	(void)state;
	make_leaves();
	assert_int_equal(merkle_prove_inclusion(13, 57, merkle_leaf_array,
	    leaves, p, MERKLE_MAX_PROOF, &len, err, sizeof(err)), 0);
	assert_int_equal(merkle_prove_consistency(13, 57, merkle_leaf_array,
	    leaves, p2, MERKLE_MAX_PROOF, &plen2, err, sizeof(err)), 0);
	before = ossl_allocs;
	assert_int_equal(merkle_verify_inclusion(leaves[13], 13, 57,
	    (const uint8_t (*)[H])p, len, roots[57]), MERKLE_OK);
	assert_int_equal(merkle_verify_consistency(13, 57, roots[13],
	    roots[57], (const uint8_t (*)[H])p2, plen2), MERKLE_OK);
	merkle_tree_init(&t);
	for (i = 0; i < 100; i++)
		assert_int_equal(merkle_tree_append(&t, leaves[i], err,
		    sizeof(err)), 0);
	assert_int_equal(merkle_tree_root(&t, r, err, sizeof(err)), 0);
	assert_int_equal(merkle_hash_leaf("record", 6, r, err, sizeof(err)),
	    0);
	assert_int_equal(ossl_allocs, before);
	/* The counter does count: EVP_MD_CTX_new allocates. */
	EVP_MD_CTX_free(EVP_MD_CTX_new());
	assert_true(ossl_allocs > before);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_ct_roots),
		cmocka_unit_test(test_ct_proofs),
		cmocka_unit_test(test_roots_match_model),
		cmocka_unit_test(test_inclusion_exhaustive),
		cmocka_unit_test(test_consistency_exhaustive),
		cmocka_unit_test(test_consistency_edges),
		cmocka_unit_test(test_inclusion_edges),
		cmocka_unit_test(test_generator_errors),
		cmocka_unit_test(test_builder_limits),
		cmocka_unit_test(test_no_allocation),
	};

	/* Must come before OpenSSL allocates anything. */
	if (CRYPTO_set_mem_functions(count_malloc, count_realloc,
	    count_free) != 1)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
