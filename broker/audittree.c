/*
 * audittree — see audittree.h.
 *
 * The right edge (one perfect-subtree root per set bit of the size) lives in
 * memory, as lib/merkle's builder keeps it, so appends and the current root
 * cost no reads. Appending merges the new leaf with the edge's trailing
 * subtrees exactly as many times as the new size has trailing zero bits;
 * each merged parent is a node of the file, written after the leaf, which
 * is what makes the file post-order.
 */
#include "broker/audittree.h"
#include "lib/util.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define H MERKLE_HASH_LEN
#define PENDING_MAX 4096	/* nodes buffered before a write */

struct audittree {
	int fd;
	uint64_t size;				/* leaves */
	uint8_t edge[MERKLE_MAX_STACK][H];	/* largest first */
	size_t nedge;
	uint64_t written;			/* nodes in the file */
	uint8_t (*pending)[H];			/* nodes not yet written */
	size_t npending;
};

static unsigned
popcount64(uint64_t x)
{
	return (unsigned)__builtin_popcountll(x);
}

uint64_t
audittree_nodes(uint64_t n)
{
	return 2 * n - popcount64(n);
}

/* Position of the node of level k and index j. */
static uint64_t
node_pos(unsigned k, uint64_t j)
{
	uint64_t m = (j + 1) << k;

	return audittree_nodes(m) - 1 - ((unsigned)__builtin_ctzll(m) - k);
}

static int
read_node(struct audittree *t, unsigned k, uint64_t j, uint8_t out[H],
    char *err, size_t errlen)
{
	uint64_t pos = node_pos(k, j);
	ssize_t n;

	if (pos >= t->written) {
		if (pos - t->written < t->npending) {
			memcpy(out, t->pending[pos - t->written], H);
			return 0;
		}
		return util_err(err, errlen, "audit tree: node %llu is not "
		    "stored", (unsigned long long)pos);
	}
	do
		n = pread(t->fd, out, H, (off_t)(pos * H));
	while (n == -1 && errno == EINTR);
	if (n != H)
		return util_err(err, errlen, "audit tree: reading node %llu: %s",
		    (unsigned long long)pos, n < 0 ? strerror(errno) :
		    "file too short");
	return 0;
}

/* Loads the right edge of the first n leaves from the file. */
static int
load_edge(struct audittree *t, uint64_t n, char *err, size_t errlen)
{
	uint64_t start = 0;
	int k;

	t->nedge = 0;
	for (k = 63; k >= 0; k--) {
		if (!(n & (1ull << k)))
			continue;
		if (read_node(t, (unsigned)k, start >> k, t->edge[t->nedge],
		    err, errlen) != 0)
			return -1;
		t->nedge++;
		start += 1ull << k;
	}
	t->size = n;
	return 0;
}

int
audittree_open(int dirfd, const char *name, struct audittree **out,
    uint64_t *leaves, char *err, size_t errlen)
{
	struct audittree *t;
	struct stat sb;
	uint64_t entries, n;
	int fd;

	*out = NULL;
	fd = openat(dirfd, name, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW,
	    0600);
	if (fd == -1)
		return util_err(err, errlen, "audit tree: open %s: %s", name,
		    strerror(errno));
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return util_err(err, errlen, "audit tree: %s is not a regular "
		    "file", name);
	}
	if ((t = calloc(1, sizeof(*t))) == NULL ||
	    (t->pending = malloc(PENDING_MAX * sizeof(*t->pending))) == NULL) {
		free(t);
		close(fd);
		return util_err(err, errlen, "audit tree: out of memory");
	}
	t->fd = fd;
	entries = (uint64_t)sb.st_size / H;
	/* Largest n with nodes(n) <= entries: nodes(n) is within 64 of 2n. */
	n = entries / 2 + 1;
	while (n > 0 && audittree_nodes(n) > entries)
		n--;
	t->written = audittree_nodes(n);
	/* Whatever lies past the last whole tree is a torn write. */
	if ((uint64_t)sb.st_size != t->written * H &&
	    ftruncate(fd, (off_t)(t->written * H)) == -1) {
		audittree_close(t);
		return util_err(err, errlen, "audit tree: truncate %s: %s",
		    name, strerror(errno));
	}
	if (load_edge(t, n, err, errlen) != 0) {
		audittree_close(t);
		return -1;
	}
	if (leaves != NULL)
		*leaves = n;
	*out = t;
	return 0;
}

void
audittree_close(struct audittree *t)
{
	if (t == NULL)
		return;
	close(t->fd);
	free(t->pending);
	free(t);
}

uint64_t
audittree_size(const struct audittree *t)
{
	return t->size;
}

int
audittree_truncate(struct audittree *t, uint64_t n, char *err, size_t errlen)
{
	uint64_t keep = audittree_nodes(n);

	if (n > t->size)
		return util_err(err, errlen, "audit tree: cannot truncate %llu "
		    "leaves to %llu", (unsigned long long)t->size,
		    (unsigned long long)n);
	if (audittree_flush(t, err, errlen) != 0)
		return -1;
	if (ftruncate(t->fd, (off_t)(keep * H)) == -1)
		return util_err(err, errlen, "audit tree: truncate: %s",
		    strerror(errno));
	t->written = keep;
	return load_edge(t, n, err, errlen);
}

static int
push_node(struct audittree *t, const uint8_t h[H], char *err, size_t errlen)
{
	if (t->npending == PENDING_MAX &&
	    audittree_flush(t, err, errlen) != 0)
		return -1;
	memcpy(t->pending[t->npending++], h, H);
	return 0;
}

int
audittree_append(struct audittree *t, const uint8_t leaf[H], char *err,
    size_t errlen)
{
	uint8_t cur[H];
	uint64_t m;

	if (t->size == UINT64_MAX / 2)
		return util_err(err, errlen, "audit tree: full");
	if (push_node(t, leaf, err, errlen) != 0)
		return -1;
	memcpy(cur, leaf, H);
	/* Each trailing zero bit of the new size closes one more subtree. */
	for (m = t->size + 1; (m & 1) == 0; m >>= 1) {
		merkle_hash_node(t->edge[t->nedge - 1], cur, cur);
		t->nedge--;
		if (push_node(t, cur, err, errlen) != 0)
			return -1;
	}
	memcpy(t->edge[t->nedge++], cur, H);
	t->size++;
	return 0;
}

int
audittree_flush(struct audittree *t, char *err, size_t errlen)
{
	size_t done = 0, len = t->npending * H;
	const uint8_t *p = (const uint8_t *)t->pending;

	while (done < len) {
		ssize_t n = pwrite(t->fd, p + done, len - done,
		    (off_t)(t->written * H + done));

		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return util_err(err, errlen, "audit tree: write: %s",
			    n < 0 ? strerror(errno) : "short write");
		done += (size_t)n;
	}
	t->written += t->npending;
	t->npending = 0;
	return 0;
}

int
audittree_sync(struct audittree *t, char *err, size_t errlen)
{
	if (audittree_flush(t, err, errlen) != 0)
		return -1;
	if (fdatasync(t->fd) == -1)
		return util_err(err, errlen, "audit tree: fdatasync: %s",
		    strerror(errno));
	return 0;
}

/* Folds perfect-subtree roots, largest first, into one root. */
static void
fold(const uint8_t (*edge)[H], size_t n, uint8_t root[H])
{
	size_t i;

	if (n == 0) {
		memcpy(root, merkle_empty_root, H);
		return;
	}
	memcpy(root, edge[n - 1], H);
	for (i = n - 1; i > 0; i--)
		merkle_hash_node(edge[i - 1], root, root);
}

int
audittree_root(const struct audittree *t, uint8_t root[H], char *err,
    size_t errlen)
{
	(void)err;
	(void)errlen;
	fold((const uint8_t (*)[H])t->edge, t->nedge, root);
	return 0;
}

/* MTH(D[a:b]) for a subtree that occurs in the RFC recursion: a is aligned
 * to the largest power of two not above b - a. */
static int
subtree(struct audittree *t, uint64_t a, uint64_t b, uint8_t out[H],
    char *err, size_t errlen)
{
	uint64_t n = b - a, k;
	uint8_t l[H], r[H];

	if ((n & (n - 1)) == 0) {
		unsigned lvl = (unsigned)__builtin_ctzll(n);

		return read_node(t, lvl, a >> lvl, out, err, errlen);
	}
	k = 1ull << (63 - __builtin_clzll(n - 1));
	if (subtree(t, a, a + k, l, err, errlen) != 0 ||
	    subtree(t, a + k, b, r, err, errlen) != 0)
		return -1;
	merkle_hash_node(l, r, out);
	return 0;
}

int
audittree_root_at(struct audittree *t, uint64_t n, uint8_t root[H],
    char *err, size_t errlen)
{
	if (n > t->size)
		return util_err(err, errlen, "audit tree: size %llu is beyond "
		    "%llu leaves", (unsigned long long)n,
		    (unsigned long long)t->size);
	if (n == 0) {
		memcpy(root, merkle_empty_root, H);
		return 0;
	}
	return subtree(t, 0, n, root, err, errlen);
}

int
audittree_leaves(struct audittree *t, uint64_t a, uint64_t b,
    uint8_t (*out)[H], char *err, size_t errlen)
{
	uint64_t i;

	if (a > b || b > t->size)
		return util_err(err, errlen, "audit tree: leaves %llu..%llu "
		    "out of range", (unsigned long long)a,
		    (unsigned long long)b);
	for (i = a; i < b; i++)
		if (read_node(t, 0, i, out[i - a], err, errlen) != 0)
			return -1;
	return 0;
}

int
audittree_compact(struct audittree *t, uint64_t n, uint8_t (*out)[H],
    size_t cap, size_t *count, char *err, size_t errlen)
{
	uint64_t start = 0;
	int k;

	*count = 0;
	if (n > t->size)
		return util_err(err, errlen, "audit tree: size %llu is beyond "
		    "%llu leaves", (unsigned long long)n,
		    (unsigned long long)t->size);
	for (k = 63; k >= 0; k--) {
		if (!(n & (1ull << k)))
			continue;
		if (*count == cap)
			return util_err(err, errlen, "audit tree: no room");
		if (read_node(t, (unsigned)k, start >> k, out[*count], err,
		    errlen) != 0)
			return -1;
		(*count)++;
		start += 1ull << k;
	}
	return 0;
}

struct proof_out {
	uint8_t (*p)[H];
	size_t cap, len;
};

static int
proof_add(struct proof_out *o, const uint8_t h[H], char *err, size_t errlen)
{
	if (o->len == o->cap)
		return util_err(err, errlen, "audit tree: proof too long");
	memcpy(o->p[o->len++], h, H);
	return 0;
}

/* PATH(m, D[a:b]). */
static int
path(struct audittree *t, uint64_t m, uint64_t a, uint64_t b,
    struct proof_out *o, char *err, size_t errlen)
{
	uint64_t n = b - a, k;
	uint8_t h[H];

	if (n == 1)
		return 0;
	k = 1ull << (63 - __builtin_clzll(n - 1));
	if (m < k) {
		if (path(t, m, a, a + k, o, err, errlen) != 0 ||
		    subtree(t, a + k, b, h, err, errlen) != 0)
			return -1;
	} else {
		if (path(t, m - k, a + k, b, o, err, errlen) != 0 ||
		    subtree(t, a, a + k, h, err, errlen) != 0)
			return -1;
	}
	return proof_add(o, h, err, errlen);
}

/* SUBPROOF(m, D[a:b], flag). */
static int
subproof(struct audittree *t, uint64_t m, uint64_t a, uint64_t b, int flag,
    struct proof_out *o, char *err, size_t errlen)
{
	uint64_t n = b - a, k;
	uint8_t h[H];

	if (m == n) {
		if (flag)
			return 0;
		if (subtree(t, a, b, h, err, errlen) != 0)
			return -1;
		return proof_add(o, h, err, errlen);
	}
	k = 1ull << (63 - __builtin_clzll(n - 1));
	if (m <= k) {
		if (subproof(t, m, a, a + k, flag, o, err, errlen) != 0 ||
		    subtree(t, a + k, b, h, err, errlen) != 0)
			return -1;
	} else {
		if (subproof(t, m - k, a + k, b, 0, o, err, errlen) != 0 ||
		    subtree(t, a, a + k, h, err, errlen) != 0)
			return -1;
	}
	return proof_add(o, h, err, errlen);
}

int
audittree_prove_inclusion(struct audittree *t, uint64_t m, uint64_t n,
    uint8_t (*proof)[H], size_t cap, size_t *len, char *err, size_t errlen)
{
	struct proof_out o = { proof, cap, 0 };

	*len = 0;
	if (m >= n || n > t->size)
		return util_err(err, errlen, "audit tree: no leaf %llu in a "
		    "tree of %llu", (unsigned long long)m,
		    (unsigned long long)n);
	if (path(t, m, 0, n, &o, err, errlen) != 0)
		return -1;
	*len = o.len;
	return 0;
}

int
audittree_prove_consistency(struct audittree *t, uint64_t m, uint64_t n,
    uint8_t (*proof)[H], size_t cap, size_t *len, char *err, size_t errlen)
{
	struct proof_out o = { proof, cap, 0 };

	*len = 0;
	if (m > n || n > t->size)
		return util_err(err, errlen, "audit tree: no consistency proof "
		    "from %llu to %llu leaves", (unsigned long long)m,
		    (unsigned long long)n);
	if (m == 0 || m == n)
		return 0;
	if (subproof(t, m, 0, n, 1, &o, err, errlen) != 0)
		return -1;
	*len = o.len;
	return 0;
}
