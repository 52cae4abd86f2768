/*
 * Unit tests for broker/audittree.c: the stored tree gives the same roots,
 * inclusion and consistency proofs and compact ranges as lib/merkle's
 * generators over the same leaves (an independent implementation checked
 * against RFC 9162 vectors), for every size up to 70 and every index; it
 * survives close, reopen and truncation, and a partial hash at the end of
 * the file is ignored.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/audittree.h"
#include "lib/merkle.h"

#define N 70

static uint8_t leaves[N][MERKLE_HASH_LEN];

static void
make_leaves(void)
{
	char err[128], text[32];
	int i;

	for (i = 0; i < N; i++) {
		snprintf(text, sizeof(text), "record %d", i);
		assert_int_equal(merkle_hash_leaf(text, strlen(text), leaves[i],
		    err, sizeof(err)), 0);
	}
}

struct fixture {
	char dir[64];
	int dfd;
};

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sekisho-tree-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	f->dfd = open(f->dir, O_RDONLY | O_DIRECTORY);
	assert_true(f->dfd >= 0);
	make_leaves();
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	unlinkat(f->dfd, "nodes", 0);
	close(f->dfd);
	rmdir(f->dir);
	free(f);
	return 0;
}

static struct audittree *
build(struct fixture *f, uint64_t n)
{
	struct audittree *t;
	char err[256];
	uint64_t have, i;

	assert_int_equal(audittree_open(f->dfd, "nodes", &t, &have, err,
	    sizeof(err)), 0);
	for (i = have; i < n; i++)
		assert_int_equal(audittree_append(t, leaves[i], err,
		    sizeof(err)), 0);
	return t;
}

static void
check_against_merkle(struct audittree *t, uint64_t n)
{
	uint8_t a[MERKLE_HASH_LEN], b[MERKLE_HASH_LEN];
	uint8_t pa[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	uint8_t pb[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	struct merkle_tree mt;
	size_t la, lb;
	char err[256];
	uint64_t m;

	assert_int_equal(audittree_root_at(t, n, a, err, sizeof(err)), 0);
	assert_int_equal(merkle_root(n, merkle_leaf_array, leaves, b, err,
	    sizeof(err)), 0);
	assert_memory_equal(a, b, MERKLE_HASH_LEN);
	for (m = 0; m <= n; m++) {
		if (m < n) {
			assert_int_equal(audittree_prove_inclusion(t, m, n, pa,
			    MERKLE_MAX_PROOF, &la, err, sizeof(err)), 0);
			assert_int_equal(merkle_prove_inclusion(m, n,
			    merkle_leaf_array, leaves, pb, MERKLE_MAX_PROOF,
			    &lb, err, sizeof(err)), 0);
			assert_int_equal(la, lb);
			assert_memory_equal(pa, pb, la * MERKLE_HASH_LEN);
		}
		assert_int_equal(audittree_prove_consistency(t, m, n, pa,
		    MERKLE_MAX_PROOF, &la, err, sizeof(err)), 0);
		assert_int_equal(merkle_prove_consistency(m, n,
		    merkle_leaf_array, leaves, pb, MERKLE_MAX_PROOF, &lb, err,
		    sizeof(err)), 0);
		assert_int_equal(la, lb);
		if (la > 0)
			assert_memory_equal(pa, pb, la * MERKLE_HASH_LEN);
	}
	/* The compact range of n is the builder's stack after n appends. */
	merkle_tree_init(&mt);
	for (m = 0; m < n; m++)
		assert_int_equal(merkle_tree_append(&mt, leaves[m], err,
		    sizeof(err)), 0);
	assert_int_equal(audittree_compact(t, n, pa, MERKLE_MAX_PROOF, &la,
	    err, sizeof(err)), 0);
	assert_int_equal(la, (size_t)__builtin_popcountll(n));
	if (la > 0)
		assert_memory_equal(pa, mt.stack, la * MERKLE_HASH_LEN);
}

static void
test_matches_merkle(void **state)
{
	struct fixture *f = *state;
	struct audittree *t = build(f, N);
	uint8_t out[N][MERKLE_HASH_LEN], root[MERKLE_HASH_LEN];
	uint8_t want[MERKLE_HASH_LEN];
	char err[256];
	uint64_t n;

	assert_int_equal(audittree_size(t), N);
	for (n = 0; n <= N; n++)
		check_against_merkle(t, n);
	assert_int_equal(audittree_root(t, root, err, sizeof(err)), 0);
	assert_int_equal(merkle_root(N, merkle_leaf_array, leaves, want, err,
	    sizeof(err)), 0);
	assert_memory_equal(root, want, MERKLE_HASH_LEN);
	assert_int_equal(audittree_leaves(t, 10, 20, out, err, sizeof(err)),
	    0);
	assert_memory_equal(out, leaves[10], 10 * MERKLE_HASH_LEN);
	/* Out of range. */
	assert_int_equal(audittree_root_at(t, N + 1, root, err, sizeof(err)),
	    -1);
	assert_int_equal(audittree_leaves(t, 60, N + 1, out, err,
	    sizeof(err)), -1);
	assert_int_equal(audittree_prove_inclusion(t, 5, 5, out, N, &n, err,
	    sizeof(err)), -1);
	audittree_close(t);
}

static void
test_reopen_and_truncate(void **state)
{
	struct fixture *f = *state;
	struct audittree *t;
	uint64_t have;
	char err[256];
	struct stat sb;

	t = build(f, 37);
	assert_int_equal(audittree_flush(t, err, sizeof(err)), 0);
	audittree_close(t);
	assert_int_equal(fstatat(f->dfd, "nodes", &sb, 0), 0);
	assert_int_equal(sb.st_size, audittree_nodes(37) * MERKLE_HASH_LEN);

	/* Reopened: same state; appends continue where they stopped. */
	t = build(f, N);
	check_against_merkle(t, N);
	assert_int_equal(audittree_sync(t, err, sizeof(err)), 0);
	audittree_close(t);

	/* A partial hash at the end (a torn write) is ignored. */
	{
		char path[128];

		snprintf(path, sizeof(path), "%s/nodes", f->dir);
		assert_int_equal(truncate(path, (off_t)(audittree_nodes(N) *
		    MERKLE_HASH_LEN - 5)), 0);
	}
	assert_int_equal(audittree_open(f->dfd, "nodes", &t, &have, err,
	    sizeof(err)), 0);
	assert_int_equal(have, N - 1);
	check_against_merkle(t, N - 1);

	/* Truncated back to 21 leaves, then grown again. */
	assert_int_equal(audittree_truncate(t, 21, err, sizeof(err)), 0);
	assert_int_equal(audittree_size(t), 21);
	check_against_merkle(t, 21);
	assert_int_equal(audittree_truncate(t, 22, err, sizeof(err)), -1);
	audittree_close(t);
	t = build(f, N);
	check_against_merkle(t, N);
	audittree_close(t);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_matches_merkle, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_reopen_and_truncate, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
