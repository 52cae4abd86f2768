/*
 * merkle — RFC 9162 (Certificate Transparency v2) §2.1 Merkle tree hashing
 * over SHA-256, as used by the audit trail.
 *
 *   leaf hash  = SHA-256(0x00 || record bytes)
 *   node hash  = SHA-256(0x01 || left || right)
 *   empty tree = SHA-256("")
 *
 * The tree of n leaves D[0:n] splits at k, the largest power of two smaller
 * than n: MTH(D[0:n]) = node(MTH(D[0:k]), MTH(D[k:n])). Leaves are numbered
 * from 0; tree sizes count leaves.
 *
 * Three parts:
 *   - struct merkle_tree: an append-only builder that keeps one hash per set
 *     bit of the tree size (the roots of the perfect subtrees along the right
 *     edge, O(log n) state), so the broker can give the root after every
 *     append without rereading the log;
 *   - generators (root, inclusion proof, consistency proof of the first n
 *     leaves) that read leaf hashes through a caller's accessor; they read
 *     each leaf of the tree once per call (O(n) time, O(log n) memory) and
 *     write proofs into caller arrays of bounded size;
 *   - verifiers (RFC 9162 §2.1.3.2 and §2.1.4.2) that allocate nothing and
 *     return a merkle_verdict saying why a proof was refused.
 *
 * Nothing here allocates (hashing runs on stack contexts) and nothing
 * prints. Functions with an error buffer return 0 or -1 with a message in
 * it.
 */
#ifndef SEKISHO_MERKLE_H
#define SEKISHO_MERKLE_H

#include <stddef.h>
#include <stdint.h>

#define MERKLE_HASH_LEN 32
/* Longest proof any verifier accepts and any generator writes. Inclusion
 * proofs are at most ceil(log2(n)) hashes, consistency proofs at most one
 * more; 64 covers every tree of up to 2^63 leaves. */
#define MERKLE_MAX_PROOF 64
/* Perfect-subtree roots a builder keeps: one per bit of a uint64_t size. */
#define MERKLE_MAX_STACK 64

/* SHA-256 of the empty string: the root of the empty tree. */
extern const uint8_t merkle_empty_root[MERKLE_HASH_LEN];

/* Append-only builder. Treat as opaque; a zeroed struct (or merkle_tree_init)
 * is the empty tree. stack[0] is the root of the leftmost, largest perfect
 * subtree; there are popcount(size) entries. */
struct merkle_tree {
	uint64_t size;
	uint8_t stack[MERKLE_MAX_STACK][MERKLE_HASH_LEN];
};

/* Why a verifier refused. MERKLE_OK is 0; everything else is a refusal. */
enum merkle_verdict {
	MERKLE_OK = 0,
	MERKLE_ERR_RANGE,	/* index >= size, size1 > size2, size 0 ... */
	MERKLE_ERR_PROOF_LEN,	/* too long, too short or not empty when it must be */
	MERKLE_ERR_ROOT,	/* the proof leads to a different root */
	MERKLE_ERR_HASH,	/* SHA-256 itself failed (OpenSSL) */
};

/* Leaf hash accessor for the generators: writes the hash of leaf `index`
 * into out and returns 0, or returns -1 with a message in err (I/O error,
 * missing record, ...), which the generator passes on. */
typedef int (*merkle_leaf_fn)(void *arg, uint64_t index,
    uint8_t out[MERKLE_HASH_LEN], char *err, size_t errlen);

/* A ready accessor over an array: arg is `const uint8_t (*)[MERKLE_HASH_LEN]`
 * (the caller guarantees every index asked for is inside the array). */
int merkle_leaf_array(void *arg, uint64_t index,
    uint8_t out[MERKLE_HASH_LEN], char *err, size_t errlen);

/* out = SHA-256(0x00 || data[0:len]). -1 only if OpenSSL fails. No
 * allocation: the broker may call it on every append. */
int merkle_hash_leaf(const void *data, size_t len,
    uint8_t out[MERKLE_HASH_LEN], char *err, size_t errlen);

/* out = SHA-256(0x01 || left || right); out may alias left or right.
 * -1 only if OpenSSL fails. No allocation. */
int merkle_hash_node(const uint8_t left[MERKLE_HASH_LEN],
    const uint8_t right[MERKLE_HASH_LEN], uint8_t out[MERKLE_HASH_LEN]);

/* --- builder --- */

void merkle_tree_init(struct merkle_tree *t);

/* Adds the next leaf (its leaf hash, not the record). -1 if the tree is
 * full (2^64 - 1 leaves) or hashing fails; the tree is then unchanged. */
int merkle_tree_append(struct merkle_tree *t,
    const uint8_t leaf_hash[MERKLE_HASH_LEN], char *err, size_t errlen);

/* Root of the leaves appended so far (merkle_empty_root when none). */
int merkle_tree_root(const struct merkle_tree *t,
    uint8_t root[MERKLE_HASH_LEN], char *err, size_t errlen);

/* Restores a builder from saved state (size and its popcount(size) subtree
 * roots, as in t->stack after the same appends), so a restarted broker need
 * not rehash the whole log. -1 if count != popcount(size). The hashes are
 * taken on trust: check the resulting root against a signed checkpoint. */
int merkle_tree_restore(struct merkle_tree *t, uint64_t size,
    const uint8_t (*stack)[MERKLE_HASH_LEN], size_t count,
    char *err, size_t errlen);

/* --- generators over an accessor --- */

/* Root of the first n leaves (n may be 0). */
int merkle_root(uint64_t n, merkle_leaf_fn fn, void *arg,
    uint8_t root[MERKLE_HASH_LEN], char *err, size_t errlen);

/* RFC 9162 §2.1.3.1 PATH(m, D[0:n]): the audit path of leaf m in the tree
 * of the first n leaves, innermost sibling first. Writes at most cap hashes
 * into proof and their count into *len. -1 if m >= n or cap is too small. */
int merkle_prove_inclusion(uint64_t m, uint64_t n, merkle_leaf_fn fn,
    void *arg, uint8_t (*proof)[MERKLE_HASH_LEN], size_t cap, size_t *len,
    char *err, size_t errlen);

/* RFC 9162 §2.1.4.1 PROOF(m, D[0:n]) for 0 < m < n. For m == n and for
 * m == 0 the proof is empty (*len = 0): every tree is consistent with
 * itself and with the empty tree. -1 if m > n or cap is too small. */
int merkle_prove_consistency(uint64_t m, uint64_t n, merkle_leaf_fn fn,
    void *arg, uint8_t (*proof)[MERKLE_HASH_LEN], size_t cap, size_t *len,
    char *err, size_t errlen);

/* --- verifiers (no allocation) --- */

/* RFC 9162 §2.1.3.2: does proof (prooflen hashes, innermost first) show
 * that leaf_hash is leaf `index` of the tree of tree_size leaves whose root
 * is root? Refuses index >= tree_size and prooflen > MERKLE_MAX_PROOF. */
enum merkle_verdict merkle_verify_inclusion(
    const uint8_t leaf_hash[MERKLE_HASH_LEN], uint64_t index,
    uint64_t tree_size, const uint8_t (*proof)[MERKLE_HASH_LEN],
    size_t prooflen, const uint8_t root[MERKLE_HASH_LEN]);

/* RFC 9162 §2.1.4.2: does proof show that the tree of size1 leaves with
 * root1 is a prefix of the tree of size2 leaves with root2?
 *   size1 > size2            refused (MERKLE_ERR_RANGE)
 *   size1 == size2           proof must be empty and root1 == root2
 *   size1 == 0 < size2       proof must be empty and root1 must be the
 *                            empty root (anything is an extension of it)
 *   0 < size1 < size2        the RFC algorithm; proof not empty, at most
 *                            MERKLE_MAX_PROOF hashes */
enum merkle_verdict merkle_verify_consistency(uint64_t size1, uint64_t size2,
    const uint8_t root1[MERKLE_HASH_LEN], const uint8_t root2[MERKLE_HASH_LEN],
    const uint8_t (*proof)[MERKLE_HASH_LEN], size_t prooflen);

/* A short English description of a verdict (static string). */
const char *merkle_verdict_str(enum merkle_verdict v);

#endif
