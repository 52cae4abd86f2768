/*
 * Unit tests for broker/spool.c: entries are named by ids only, reopen
 * truncates and re-hashes the durable prefix, commit renames into place.
 */
#include <sys/stat.h>

#include <errno.h>
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

#include <cmocka.h>
#include <openssl/evp.h>

#include "broker/spool.h"
#include "lib/util.h"

struct fixture {
	char dir[64];
	char spooldir[96];
	struct spool *sp;
};

static int
rm_entry(const char *path, const struct stat *st, int flag, struct FTW *ftw)
{
	(void)st;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));
	char err[256];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sekisho-spool-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->spooldir, sizeof(f->spooldir), "%s/spool", f->dir);
	assert_int_equal(spool_open(f->spooldir, &f->sp, err, sizeof(err)), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	spool_close(f->sp);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
write_all(int fd, const void *buf, size_t len)
{
	const uint8_t *p = buf;

	while (len > 0) {
		ssize_t n = write(fd, p, len);

		assert_true(n > 0);
		p += n;
		len -= (size_t)n;
	}
}

static void
sha256(const void *buf, size_t len, uint8_t out[32])
{
	unsigned int n = 32;

	assert_int_equal(EVP_Digest(buf, len, out, &n, EVP_sha256(), NULL), 1);
}

static void
test_open_creates_private_dir(void **state)
{
	struct fixture *f = *state;
	struct stat st;

	assert_int_equal(stat(f->spooldir, &st), 0);
	assert_true(S_ISDIR(st.st_mode));
	assert_int_equal(st.st_mode & 0777, 0700);
}

static void
test_open_tightens_mode_and_refuses_symlink(void **state)
{
	struct fixture *f = *state;
	char loose[128], link[128], err[256];
	struct spool *sp;
	struct stat st;

	snprintf(loose, sizeof(loose), "%s/loose", f->dir);
	assert_int_equal(mkdir(loose, 0755), 0);
	assert_int_equal(chmod(loose, 0755), 0);
	assert_int_equal(spool_open(loose, &sp, err, sizeof(err)), 0);
	assert_int_equal(stat(loose, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0700);
	spool_close(sp);

	snprintf(link, sizeof(link), "%s/link", f->dir);
	assert_int_equal(symlink(loose, link), 0);
	assert_int_equal(spool_open(link, &sp, err, sizeof(err)), -1);
	assert_null(sp);
	assert_non_null(strstr(err, "symbolic link"));
}

static void
test_create_write_commit(void **state)
{
	struct fixture *f = *state;
	char id[UTIL_ID_LEN + 1], err[256], path[256];
	uint64_t size;
	struct stat st;
	int fd, rfd;
	char buf[16];

	assert_int_equal(util_new_id(id), 0);
	assert_int_equal(spool_create(f->sp, id, &fd, err, sizeof(err)), 0);
	assert_true(fd >= 0);
	/* Exclusive: a second create of the same id fails. */
	assert_int_equal(spool_create(f->sp, id, &rfd, err, sizeof(err)), -1);
	assert_int_equal(errno, EEXIST);
	assert_int_equal(rfd, -1);

	write_all(fd, "hello, spool", 12);
	assert_int_equal(spool_sync(fd, err, sizeof(err)), 0);
	assert_int_equal(spool_stat(f->sp, id, 0, &size), 0);
	assert_int_equal(size, 12);
	assert_int_equal(spool_stat(f->sp, id, 1, &size), -1);

	assert_int_equal(spool_path(f->sp, id, 0, path, sizeof(path)), 0);
	assert_int_equal(stat(path, &st), 0);
	assert_int_equal(st.st_mode & 0777, 0600);

	assert_int_equal(spool_commit(f->sp, id, fd, err, sizeof(err)), 0);
	close(fd);
	assert_int_equal(spool_stat(f->sp, id, 0, &size), -1);
	assert_int_equal(spool_stat(f->sp, id, 1, &size), 0);
	assert_int_equal(size, 12);
	assert_int_equal(stat(path, &st), -1);
	assert_int_equal(spool_path(f->sp, id, 1, path, sizeof(path)), 0);
	assert_int_equal(stat(path, &st), 0);

	assert_int_equal(spool_open_read(f->sp, id, &rfd, err, sizeof(err)), 0);
	assert_int_equal(read(rfd, buf, sizeof(buf)), 12);
	assert_memory_equal(buf, "hello, spool", 12);
	close(rfd);

	/* Uncommit puts the .part back; commit never replaces a final file. */
	assert_int_equal(spool_uncommit(f->sp, id, err, sizeof(err)), 0);
	assert_int_equal(spool_stat(f->sp, id, 0, &size), 0);
	assert_int_equal(spool_stat(f->sp, id, 1, &size), -1);
	assert_int_equal(spool_open_read(f->sp, id, &rfd, err, sizeof(err)),
	    -1);
	assert_int_equal(spool_remove(f->sp, id, err, sizeof(err)), 0);
	assert_int_equal(spool_stat(f->sp, id, 0, &size), -1);
	/* Removing what is not there is fine. */
	assert_int_equal(spool_remove(f->sp, id, err, sizeof(err)), 0);
}

static void
test_commit_does_not_replace(void **state)
{
	struct fixture *f = *state;
	char id[UTIL_ID_LEN + 1], err[256];
	uint64_t size;
	int fd;

	assert_int_equal(util_new_id(id), 0);
	assert_int_equal(spool_create(f->sp, id, &fd, err, sizeof(err)), 0);
	write_all(fd, "first", 5);
	assert_int_equal(spool_commit(f->sp, id, fd, err, sizeof(err)), 0);
	close(fd);
	assert_int_equal(spool_create(f->sp, id, &fd, err, sizeof(err)), 0);
	write_all(fd, "second!", 7);
	assert_int_equal(spool_commit(f->sp, id, fd, err, sizeof(err)), -1);
	assert_int_equal(errno, EEXIST);
	close(fd);
	assert_int_equal(spool_stat(f->sp, id, 1, &size), 0);
	assert_int_equal(size, 5);
	assert_int_equal(spool_remove(f->sp, id, err, sizeof(err)), 0);
	assert_int_equal(spool_stat(f->sp, id, 0, &size), -1);
	assert_int_equal(spool_stat(f->sp, id, 1, &size), -1);
}

static void
test_reopen_truncates_and_rehashes(void **state)
{
	struct fixture *f = *state;
	const size_t total = (3u << 20) + 12345;	/* spans several blocks */
	const uint64_t durable = (2u << 20) + 777;
	char id[UTIL_ID_LEN + 1], err[256];
	uint8_t *data, want[32], got[32];
	unsigned int n = 32;
	EVP_MD_CTX *md;
	uint64_t size;
	size_t i;
	int fd;

	data = malloc(total);
	assert_non_null(data);
	for (i = 0; i < total; i++)
		data[i] = (uint8_t)(i * 2654435761u >> 13);

	assert_int_equal(util_new_id(id), 0);
	assert_int_equal(spool_create(f->sp, id, &fd, err, sizeof(err)), 0);
	write_all(fd, data, total);
	close(fd);

	/* Only `durable` bytes were recorded; the rest must go. */
	md = EVP_MD_CTX_new();
	assert_non_null(md);
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	assert_int_equal(spool_reopen(f->sp, id, durable, md, &fd, err,
	    sizeof(err)), 0);
	assert_int_equal(spool_stat(f->sp, id, 0, &size), 0);
	assert_int_equal(size, durable);
	assert_int_equal(lseek(fd, 0, SEEK_CUR), (off_t)durable);

	/* Continue writing: the final hash equals hashing the whole file. */
	write_all(fd, data + durable, total - durable);
	assert_int_equal(EVP_DigestUpdate(md, data + durable, total - durable),
	    1);
	assert_int_equal(EVP_DigestFinal_ex(md, got, &n), 1);
	EVP_MD_CTX_free(md);
	sha256(data, total, want);
	assert_memory_equal(got, want, 32);
	assert_int_equal(spool_commit(f->sp, id, fd, err, sizeof(err)), 0);
	close(fd);
	assert_int_equal(spool_stat(f->sp, id, 1, &size), 0);
	assert_int_equal(size, total);

	/* A prefix hash alone matches too (offset 0 and an exact offset). */
	assert_int_equal(spool_uncommit(f->sp, id, err, sizeof(err)), 0);
	md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	assert_int_equal(spool_reopen(f->sp, id, total, md, &fd, err,
	    sizeof(err)), 0);
	close(fd);
	assert_int_equal(EVP_DigestFinal_ex(md, got, &n), 1);
	EVP_MD_CTX_free(md);
	assert_memory_equal(got, want, 32);

	/* Shorter than the recorded offset: refused, file untouched. */
	md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	assert_int_equal(spool_reopen(f->sp, id, total + 1, md, &fd, err,
	    sizeof(err)), -1);
	assert_int_equal(fd, -1);
	assert_non_null(strstr(err, "fewer than"));
	assert_int_equal(spool_stat(f->sp, id, 0, &size), 0);
	assert_int_equal(size, total);

	assert_int_equal(spool_reopen(f->sp, id, 0, md, &fd, err,
	    sizeof(err)), 0);
	close(fd);
	assert_int_equal(EVP_DigestFinal_ex(md, got, &n), 1);
	EVP_MD_CTX_free(md);
	sha256("", 0, want);
	assert_memory_equal(got, want, 32);
	assert_int_equal(spool_stat(f->sp, id, 0, &size), 0);
	assert_int_equal(size, 0);
	free(data);
}

static void
test_bad_ids_refused(void **state)
{
	struct fixture *f = *state;
	static const char *bad[] = {
		"../../../../../../../../etc/passwd",
		"0123456789abcdef0123456789abcde/",
		"0123456789abcdef/123456789abcdef",
		"..23456789abcdef0123456789abcdef",
		"0123456789ABCDEF0123456789ABCDEF",
		"0123456789abcdef0123456789abcde",
		"0123456789abcdef0123456789abcdef0",
		"0123456789abcdef0123456789abcdeg",
		"",
		NULL,
	};
	char err[256], path[256];
	EVP_MD_CTX *md;
	uint64_t size;
	size_t i;
	int fd;

	md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestInit_ex(md, EVP_sha256(), NULL), 1);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		const char *id = bad[i];

		err[0] = '\0';
		assert_int_equal(spool_create(f->sp, id, &fd, err,
		    sizeof(err)), -1);
		assert_int_equal(fd, -1);
		assert_non_null(strstr(err, "not a transfer id"));
		assert_int_equal(spool_reopen(f->sp, id, 0, md, &fd, err,
		    sizeof(err)), -1);
		assert_int_equal(spool_commit(f->sp, id, 0, err, sizeof(err)),
		    -1);
		assert_int_equal(spool_uncommit(f->sp, id, err, sizeof(err)),
		    -1);
		assert_int_equal(spool_remove(f->sp, id, err, sizeof(err)),
		    -1);
		assert_int_equal(spool_stat(f->sp, id, 0, &size), -1);
		assert_int_equal(spool_stat(f->sp, id, 1, &size), -1);
		assert_int_equal(spool_open_read(f->sp, id, &fd, err,
		    sizeof(err)), -1);
		assert_int_equal(spool_path(f->sp, id, 1, path, sizeof(path)),
		    -1);
	}
	EVP_MD_CTX_free(md);
}

static void
test_symlink_entry_not_followed(void **state)
{
	struct fixture *f = *state;
	char id[UTIL_ID_LEN + 1], err[256], path[256], target[128];
	uint64_t size;
	int fd;

	assert_int_equal(util_new_id(id), 0);
	snprintf(target, sizeof(target), "%s/outside", f->dir);
	fd = open(target, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(spool_path(f->sp, id, 1, path, sizeof(path)), 0);
	assert_int_equal(symlink(target, path), 0);
	assert_int_equal(spool_open_read(f->sp, id, &fd, err, sizeof(err)),
	    -1);
	assert_int_equal(spool_stat(f->sp, id, 1, &size), -1);
	assert_int_equal(spool_remove(f->sp, id, err, sizeof(err)), 0);
}

struct seen {
	char ids[4][UTIL_ID_LEN + 1];
	uint64_t sizes[4];
	size_t n;
};

static int
note_partial(const char *id, uint64_t size, int64_t mtime, void *arg)
{
	struct seen *s = arg;

	assert_true(mtime > 0);
	assert_true(s->n < 4);
	strcpy(s->ids[s->n], id);
	s->sizes[s->n++] = size;
	return 0;
}

/* Only <id>.part regular files are listed; removing a partial leaves the
 * final file of the same id alone. */
static void
test_each_partial_and_remove_partial(void **state)
{
	struct fixture *f = *state;
	char a[UTIL_ID_LEN + 1], b[UTIL_ID_LEN + 1], err[256], path[256];
	struct seen seen;
	uint64_t size;
	int fd;

	assert_int_equal(util_new_id(a), 0);
	assert_int_equal(util_new_id(b), 0);
	assert_int_equal(spool_create(f->sp, a, &fd, err, sizeof(err)), 0);
	write_all(fd, "abc", 3);
	close(fd);
	/* a final file, a stranger, a directory and a symlink named .part */
	assert_int_equal(spool_path(f->sp, a, 1, path, sizeof(path)), 0);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	snprintf(path, sizeof(path), "%s/notanid.part", f->spooldir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0600);
	assert_true(fd >= 0);
	close(fd);
	assert_int_equal(spool_path(f->sp, b, 0, path, sizeof(path)), 0);
	assert_int_equal(mkdir(path, 0700), 0);

	memset(&seen, 0, sizeof(seen));
	assert_int_equal(spool_each_partial(f->sp, note_partial, &seen, err,
	    sizeof(err)), 0);
	assert_int_equal(seen.n, 1);
	assert_string_equal(seen.ids[0], a);
	assert_int_equal(seen.sizes[0], 3);

	assert_int_equal(spool_remove_partial(f->sp, a, err, sizeof(err)), 0);
	assert_int_equal(spool_stat(f->sp, a, 0, &size), -1);
	assert_int_equal(spool_stat(f->sp, a, 1, &size), 0);
	/* absent: not an error; not an id: refused */
	assert_int_equal(spool_remove_partial(f->sp, a, err, sizeof(err)), 0);
	assert_int_equal(spool_remove_partial(f->sp, "../x", err,
	    sizeof(err)), -1);
	assert_int_equal(spool_path(f->sp, b, 0, path, sizeof(path)), 0);
	assert_int_equal(rmdir(path), 0);
}

static void
test_path_and_free_bytes(void **state)
{
	struct fixture *f = *state;
	char id[UTIL_ID_LEN + 1], path[256], small[8], want[256];
	uint64_t bytes = 0;

	assert_int_equal(util_new_id(id), 0);
	assert_int_equal(spool_path(f->sp, id, 0, path, sizeof(path)), 0);
	snprintf(want, sizeof(want), "%s/%s.part", f->spooldir, id);
	assert_string_equal(path, want);
	assert_int_equal(spool_path(f->sp, id, 0, small, sizeof(small)), -1);
	assert_string_equal(small, "");
	assert_int_equal(spool_free_bytes(f->sp, &bytes), 0);
	assert_true(bytes > 0);
}

/* Room counts what is kept free and what was promised, without
 * wrapping around. */
static void
test_has_room(void **state)
{
	struct fixture *f = *state;
	uint64_t avail = 0, got = 0;

	assert_int_equal(spool_free_bytes(f->sp, &avail), 0);
	assert_true(avail > 4096);
	assert_int_equal(spool_has_room(f->sp, 0, 0, 1, &got), 0);
	assert_true(got > 0);
	assert_int_equal(spool_has_room(f->sp, 0, 0, UINT64_MAX, &got), 1);
	assert_int_equal(spool_has_room(f->sp, UINT64_MAX, 0, 0, &got), 1);
	assert_int_equal(spool_has_room(f->sp, 0, UINT64_MAX, 0, &got), 1);
	/* Free space minus a promise of nearly all of it leaves no room
	 * for more than the rest. */
	assert_int_equal(spool_has_room(f->sp, 0, avail / 2, avail, &got),
	    1);
	assert_int_equal(spool_has_room(f->sp, avail / 4, avail / 4, 4096,
	    &got), 0);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_open_creates_private_dir,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_open_tightens_mode_and_refuses_symlink, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_create_write_commit,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_commit_does_not_replace,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(
		    test_reopen_truncates_and_rehashes, setup, teardown),
		cmocka_unit_test_setup_teardown(test_bad_ids_refused, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_symlink_entry_not_followed, setup, teardown),
		cmocka_unit_test_setup_teardown(test_path_and_free_bytes,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_has_room, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(
		    test_each_partial_and_remove_partial, setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
