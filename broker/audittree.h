/*
 * audittree — the audit trail's Merkle tree on disk: every node hash of the
 * RFC 9162 tree over the records, so that the broker can give the root of
 * any earlier size and inclusion and consistency proofs in O(log^2 n) reads,
 * and restart without rehashing the log.
 *
 * The file is a plain array of 32-byte hashes in post-order of completion:
 * appending leaf i writes its leaf hash and then the hash of every perfect
 * subtree that leaf completes. After n leaves the file holds
 * 2n - popcount(n) hashes, and the node of level k (2^k leaves) and index j
 * is at position nodes((j+1) * 2^k) - 1 - (ctz((j+1) * 2^k) - k), where
 * nodes(m) = 2m - popcount(m). Only perfect, aligned subtrees are stored;
 * every other subtree a proof needs is combined from them.
 *
 * The file is derived data. It is written at every audit_sync (page cache)
 * and synced before each checkpoint is signed, so the nodes of every signed
 * size are durable; after a crash the caller truncates to the last signed
 * size (audittree_truncate) and appends the rest again from the records.
 *
 * Used from one thread at a time (the commit thread). Functions return 0 or
 * -1 with a message in err.
 */
#ifndef SEKISHO_AUDITTREE_H
#define SEKISHO_AUDITTREE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/merkle.h"

struct audittree;

/* Number of stored hashes for n leaves: 2n - popcount(n). */
uint64_t audittree_nodes(uint64_t n);

/* Opens (creating 0600) the node file name relative to dirfd. A partial
 * hash at the end is ignored; *leaves (may be NULL) receives the largest n
 * whose nodes the file holds in full. */
int audittree_open(int dirfd, const char *name, struct audittree **out,
    uint64_t *leaves, char *err, size_t errlen);
void audittree_close(struct audittree *t);

/* Leaves in the tree. */
uint64_t audittree_size(const struct audittree *t);

/* Cuts the tree back to its first n leaves (n <= size) and reloads the right
 * edge from the stored nodes. */
int audittree_truncate(struct audittree *t, uint64_t n, char *err,
    size_t errlen);

/* Appends a leaf hash; the node hashes are buffered until
 * audittree_flush. */
int audittree_append(struct audittree *t,
    const uint8_t leaf[MERKLE_HASH_LEN], char *err, size_t errlen);

/* Writes buffered nodes (pwrite, no sync). */
int audittree_flush(struct audittree *t, char *err, size_t errlen);

/* Flushes and fdatasyncs the file. */
int audittree_sync(struct audittree *t, char *err, size_t errlen);

/* Root of the whole tree (from memory, no I/O). */
int audittree_root(const struct audittree *t, uint8_t root[MERKLE_HASH_LEN],
    char *err, size_t errlen);

/* Root of the first n leaves, n <= size (merkle_empty_root for 0). */
int audittree_root_at(struct audittree *t, uint64_t n,
    uint8_t root[MERKLE_HASH_LEN], char *err, size_t errlen);

/* Leaf hashes a .. b-1 (b <= size) into out[b - a]. */
int audittree_leaves(struct audittree *t, uint64_t a, uint64_t b,
    uint8_t (*out)[MERKLE_HASH_LEN], char *err, size_t errlen);

/* The roots of the perfect subtrees of the first n leaves, largest first
 * (popcount(n) hashes, as merkle_tree_restore takes them). cap >= 64. */
int audittree_compact(struct audittree *t, uint64_t n,
    uint8_t (*out)[MERKLE_HASH_LEN], size_t cap, size_t *count, char *err,
    size_t errlen);

/* RFC 9162 PATH(m, D[0:n]) and PROOF(m, D[0:n]) over the stored nodes (n <=
 * size). Same results as merkle_prove_inclusion / _consistency, at most cap
 * hashes. */
int audittree_prove_inclusion(struct audittree *t, uint64_t m, uint64_t n,
    uint8_t (*proof)[MERKLE_HASH_LEN], size_t cap, size_t *len, char *err,
    size_t errlen);
int audittree_prove_consistency(struct audittree *t, uint64_t m, uint64_t n,
    uint8_t (*proof)[MERKLE_HASH_LEN], size_t cap, size_t *len, char *err,
    size_t errlen);

#endif
