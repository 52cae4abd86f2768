/*
 * spool — see spool.h.
 *
 * Every file operation goes through one O_DIRECTORY descriptor opened at
 * start-up, and every name is built from a transfer id that util_is_id
 * accepted, so neither a client-supplied string nor a symlink planted in the
 * directory can redirect a write (O_NOFOLLOW on every open as well).
 *
 * Durability follows the usual rule for a new file: fsync the file, rename
 * it into place, fsync the directory that holds the new name. A failed fsync
 * is never retried: after a write-back error Linux may have dropped the dirty
 * pages and cleared the error, so a second fsync can report success for data
 * that never reached the disk. The caller fails the transfer instead.
 */
#include "broker/spool.h"

#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "lib/util.h"

#define SPOOL_PART_SUFFIX ".part"
#define SPOOL_NAME_MAX (UTIL_ID_LEN + sizeof(SPOOL_PART_SUFFIX))
#define SPOOL_HASH_BLOCK (1u << 20)	/* read size when re-hashing a prefix */

struct spool {
	int dirfd;
	char path[PATH_MAX];
};

/* Explains the errno values an operator must act on; the rest is strerror. */
static const char *
spool_strerror(int e)
{
	switch (e) {
	case ENOSPC:
		return "no space left on the spool file system";
	case EDQUOT:
		return "disk quota exceeded on the spool file system";
	case EIO:
		return "I/O error on the spool device (data may be lost; "
		    "check the disk and the kernel log)";
	case EROFS:
		return "the spool file system is read-only";
	default:
		return strerror(e);
	}
}

/*
 * Formats "spool: <what> file <name>: <reason>" and keeps errno intact.
 * Messages about one file name it without the directory: they reach the
 * transfer's error that `sekisho status` shows its sender, who has no
 * business with the broker's layout (the directory is spool_dir).
 */
static int
spool_fail(const struct spool *sp, char *err, size_t errlen, int e,
    const char *what, const char *name)
{
	(void)sp;
	util_err(err, errlen, "spool: %s file %s: %s", what,
	    name != NULL ? name : "", spool_strerror(e));
	errno = e;
	return -1;
}

/* Builds the entry name for id; refuses anything that is not an id. */
static int
spool_name(const char *id, int final, char out[SPOOL_NAME_MAX])
{
	if (!util_is_id(id)) {
		errno = EINVAL;
		return -1;
	}
	snprintf(out, SPOOL_NAME_MAX, "%s%s", id,
	    final ? "" : SPOOL_PART_SUFFIX);
	return 0;
}

static int
spool_bad_id(char *err, size_t errlen)
{
	util_err(err, errlen, "spool: refusing a name that is not a "
	    "transfer id");
	errno = EINVAL;
	return -1;
}

int
spool_open(const char *dir, struct spool **out, char *err, size_t errlen)
{
	struct spool *sp;
	struct stat st;
	int fd, e;

	*out = NULL;
	if (dir == NULL || dir[0] == '\0')
		return util_err(err, errlen, "spool: no directory given");
	if (strlen(dir) >= sizeof(sp->path))
		return util_err(err, errlen, "spool: directory name too long");
	if (mkdir(dir, 0700) == -1 && errno != EEXIST) {
		e = errno;
		util_err(err, errlen, "spool: mkdir %s: %s", dir,
		    spool_strerror(e));
		errno = e;
		return -1;
	}
	fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC | O_NOFOLLOW);
	if (fd == -1) {
		e = errno;
		/* O_NOFOLLOW|O_DIRECTORY reports a symlink as ENOTDIR. */
		if ((e == ELOOP || e == ENOTDIR) && lstat(dir, &st) == 0 &&
		    S_ISLNK(st.st_mode))
			util_err(err, errlen, "spool: %s is a symbolic link; "
			    "configure the real directory", dir);
		else
			util_err(err, errlen, "spool: open %s: %s", dir,
			    spool_strerror(e));
		errno = e;
		return -1;
	}
	if (fstat(fd, &st) == -1) {
		e = errno;
		close(fd);
		util_err(err, errlen, "spool: stat %s: %s", dir, strerror(e));
		errno = e;
		return -1;
	}
	if (st.st_uid != geteuid()) {
		close(fd);
		errno = EPERM;
		return util_err(err, errlen, "spool: %s is owned by uid %lu, "
		    "not by this process", dir, (unsigned long)st.st_uid);
	}
	/* The spool holds other people's files: only the broker may look. */
	if ((st.st_mode & 077) != 0 && fchmod(fd, 0700) == -1) {
		e = errno;
		close(fd);
		util_err(err, errlen, "spool: chmod 0700 %s: %s", dir,
		    strerror(e));
		errno = e;
		return -1;
	}
	if ((sp = calloc(1, sizeof(*sp))) == NULL) {
		e = errno;
		close(fd);
		errno = e;
		return util_err(err, errlen, "spool: out of memory");
	}
	sp->dirfd = fd;
	memcpy(sp->path, dir, strlen(dir) + 1);
	*out = sp;
	return 0;
}

void
spool_close(struct spool *sp)
{
	if (sp == NULL)
		return;
	close(sp->dirfd);
	free(sp);
}

int
spool_create(struct spool *sp, const char *id, int *fd,
    char *err, size_t errlen)
{
	char name[SPOOL_NAME_MAX];
	int f;

	*fd = -1;
	if (spool_name(id, 0, name) == -1)
		return spool_bad_id(err, errlen);
	f = openat(sp->dirfd, name,
	    O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC | O_NOFOLLOW, 0600);
	if (f == -1)
		return spool_fail(sp, err, errlen, errno, "create", name);
	*fd = f;
	return 0;
}

/* Feeds [0, len) of fd into md, reading in SPOOL_HASH_BLOCK pieces. */
static int
spool_hash_prefix(struct spool *sp, const char *name, int fd, uint64_t len,
    EVP_MD_CTX *md, char *err, size_t errlen)
{
	uint8_t *buf;
	uint64_t off = 0;

	if ((buf = malloc(SPOOL_HASH_BLOCK)) == NULL)
		return util_err(err, errlen, "spool: out of memory");
	while (off < len) {
		size_t want = len - off < SPOOL_HASH_BLOCK ?
		    (size_t)(len - off) : SPOOL_HASH_BLOCK;
		ssize_t n = pread(fd, buf, want, (off_t)off);

		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			int e = errno;

			free(buf);
			return spool_fail(sp, err, errlen, e, "read", name);
		}
		if (n == 0) {
			free(buf);
			errno = EIO;
			return util_err(err, errlen, "spool: read file %s: "
			    "shorter than expected", name);
		}
		if (EVP_DigestUpdate(md, buf, (size_t)n) != 1) {
			free(buf);
			errno = EINVAL;
			return util_err(err, errlen, "spool: hashing file %s "
			    "failed", name);
		}
		off += (uint64_t)n;
	}
	free(buf);
	return 0;
}

int
spool_reopen(struct spool *sp, const char *id, uint64_t offset,
    EVP_MD_CTX *md, int *fd, char *err, size_t errlen)
{
	char name[SPOOL_NAME_MAX];
	struct stat st;
	int f, e;

	*fd = -1;
	if (spool_name(id, 0, name) == -1)
		return spool_bad_id(err, errlen);
	if (offset > (uint64_t)INT64_MAX) {
		errno = EINVAL;
		return util_err(err, errlen, "spool: offset out of range");
	}
	f = openat(sp->dirfd, name, O_RDWR | O_CLOEXEC | O_NOFOLLOW);
	if (f == -1)
		return spool_fail(sp, err, errlen, errno, "reopen", name);
	if (fstat(f, &st) == -1) {
		e = errno;
		close(f);
		return spool_fail(sp, err, errlen, e, "stat", name);
	}
	if (!S_ISREG(st.st_mode)) {
		close(f);
		errno = EINVAL;
		return util_err(err, errlen, "spool: %s is not a regular "
		    "file", name);
	}
	if ((uint64_t)st.st_size < offset) {
		close(f);
		errno = EINVAL;
		return util_err(err, errlen, "spool: file %s has %llu bytes, "
		    "fewer than the recorded %llu", name,
		    (unsigned long long)st.st_size,
		    (unsigned long long)offset);
	}
	/* Bytes past the durable offset were never acknowledged: drop them. */
	if ((uint64_t)st.st_size > offset &&
	    ftruncate(f, (off_t)offset) == -1) {
		e = errno;
		close(f);
		return spool_fail(sp, err, errlen, e, "truncate", name);
	}
	if (spool_hash_prefix(sp, name, f, offset, md, err, errlen) == -1) {
		e = errno;
		close(f);
		errno = e;
		return -1;
	}
	if (lseek(f, (off_t)offset, SEEK_SET) == -1) {
		e = errno;
		close(f);
		return spool_fail(sp, err, errlen, e, "seek", name);
	}
	*fd = f;
	return 0;
}

int
spool_sync(int fd, char *err, size_t errlen)
{
	int e;

	if (fsync(fd) == 0)
		return 0;
	e = errno;
	util_err(err, errlen, "spool: fsync of a partial file: %s",
	    spool_strerror(e));
	errno = e;
	return -1;
}

/*
 * rename(2) that never replaces an existing entry. File systems without
 * RENAME_NOREPLACE get a check first; ids are random, so the window only
 * matters for a bug that reuses an id, and then the check catches it.
 */
static int
spool_rename(struct spool *sp, const char *from, const char *to)
{
	struct stat st;

	if (renameat2(sp->dirfd, from, sp->dirfd, to, RENAME_NOREPLACE) == 0)
		return 0;
	if (errno != EINVAL && errno != ENOSYS)
		return -1;
	if (fstatat(sp->dirfd, to, &st, AT_SYMLINK_NOFOLLOW) == 0) {
		errno = EEXIST;
		return -1;
	}
	if (errno != ENOENT)
		return -1;
	return renameat(sp->dirfd, from, sp->dirfd, to);
}

int
spool_commit(struct spool *sp, const char *id, int fd,
    char *err, size_t errlen)
{
	char part[SPOOL_NAME_MAX], final[SPOOL_NAME_MAX];

	if (spool_name(id, 0, part) == -1 || spool_name(id, 1, final) == -1)
		return spool_bad_id(err, errlen);
	if (fsync(fd) == -1)
		return spool_fail(sp, err, errlen, errno, "fsync", part);
	if (spool_rename(sp, part, final) == -1)
		return spool_fail(sp, err, errlen, errno, "rename", part);
	if (fsync(sp->dirfd) == -1)
		return spool_fail(sp, err, errlen, errno, "fsync directory of",
		    final);
	return 0;
}

int
spool_uncommit(struct spool *sp, const char *id, char *err, size_t errlen)
{
	char part[SPOOL_NAME_MAX], final[SPOOL_NAME_MAX];

	if (spool_name(id, 0, part) == -1 || spool_name(id, 1, final) == -1)
		return spool_bad_id(err, errlen);
	if (spool_rename(sp, final, part) == -1)
		return spool_fail(sp, err, errlen, errno, "rename", final);
	if (fsync(sp->dirfd) == -1)
		return spool_fail(sp, err, errlen, errno, "fsync directory of",
		    part);
	return 0;
}

int
spool_remove(struct spool *sp, const char *id, char *err, size_t errlen)
{
	char name[SPOOL_NAME_MAX];
	int final;

	for (final = 0; final <= 1; final++) {
		if (spool_name(id, final, name) == -1)
			return spool_bad_id(err, errlen);
		if (unlinkat(sp->dirfd, name, 0) == -1 && errno != ENOENT)
			return spool_fail(sp, err, errlen, errno, "remove",
			    name);
	}
	return 0;
}

int
spool_quarantine(struct spool *sp, const char *id, int *moved, char *err,
    size_t errlen)
{
	char name[SPOOL_NAME_MAX], to[sizeof(SPOOL_QUARANTINE) + SPOOL_NAME_MAX];
	struct stat st;
	int qfd;

	*moved = 0;
	if (spool_name(id, 1, name) == -1)
		return spool_bad_id(err, errlen);
	if (mkdirat(sp->dirfd, SPOOL_QUARANTINE, 0700) == -1 &&
	    errno != EEXIST)
		return spool_fail(sp, err, errlen, errno, "create directory",
		    SPOOL_QUARANTINE);
	snprintf(to, sizeof(to), "%s/%s", SPOOL_QUARANTINE, name);
	if (fstatat(sp->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1) {
		if (errno != ENOENT)
			return spool_fail(sp, err, errlen, errno, "stat", name);
		return 0;	/* none, or moved by an earlier run */
	}
	if (spool_rename(sp, name, to) == -1)
		return spool_fail(sp, err, errlen, errno, "move to quarantine",
		    name);
	if ((qfd = openat(sp->dirfd, SPOOL_QUARANTINE, O_RDONLY |
	    O_DIRECTORY | O_CLOEXEC)) == -1)
		return spool_fail(sp, err, errlen, errno, "open directory",
		    SPOOL_QUARANTINE);
	if (fsync(qfd) == -1 || fsync(sp->dirfd) == -1) {
		int e = errno;

		close(qfd);
		return spool_fail(sp, err, errlen, e, "fsync directory of",
		    to);
	}
	close(qfd);
	*moved = 1;
	return 0;
}

int
spool_remove_partial(struct spool *sp, const char *id, char *err,
    size_t errlen)
{
	char name[SPOOL_NAME_MAX];

	if (spool_name(id, 0, name) == -1)
		return spool_bad_id(err, errlen);
	if (unlinkat(sp->dirfd, name, 0) == -1 && errno != ENOENT)
		return spool_fail(sp, err, errlen, errno, "remove", name);
	return 0;
}

int
spool_each_partial(struct spool *sp,
    int (*fn)(const char *id, uint64_t size, int64_t mtime, void *arg),
    void *arg, char *err, size_t errlen)
{
	char id[UTIL_ID_LEN + 1];
	struct dirent *de;
	struct stat st;
	DIR *d;
	size_t len;
	int fd, rc = 0;

	/* A descriptor of its own: readdir's position is per open file. */
	if ((fd = openat(sp->dirfd, ".", O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return spool_fail(sp, err, errlen, errno, "list", "");
	if ((d = fdopendir(fd)) == NULL) {
		int e = errno;

		close(fd);
		return spool_fail(sp, err, errlen, e, "list", "");
	}
	for (;;) {
		errno = 0;
		if ((de = readdir(d)) == NULL) {
			if (errno != 0)
				rc = spool_fail(sp, err, errlen, errno, "list",
				    "");
			break;
		}
		len = strlen(de->d_name);
		if (len != UTIL_ID_LEN + strlen(SPOOL_PART_SUFFIX) ||
		    strcmp(de->d_name + UTIL_ID_LEN, SPOOL_PART_SUFFIX) != 0)
			continue;
		memcpy(id, de->d_name, UTIL_ID_LEN);
		id[UTIL_ID_LEN] = '\0';
		if (!util_is_id(id) || fstatat(sp->dirfd, de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) == -1 || !S_ISREG(st.st_mode))
			continue;
		if ((rc = fn(id, (uint64_t)st.st_size,
		    (int64_t)st.st_mtim.tv_sec, arg)) != 0) {
			if (rc < 0)
				util_err(err, errlen, "spool: listing %s "
				    "stopped", sp->path);
			rc = rc < 0 ? -1 : 0;
			break;
		}
	}
	closedir(d);
	return rc;
}

int
spool_stat(struct spool *sp, const char *id, int final, uint64_t *size)
{
	char name[SPOOL_NAME_MAX];
	struct stat st;

	if (spool_name(id, final, name) == -1)
		return -1;
	if (fstatat(sp->dirfd, name, &st, AT_SYMLINK_NOFOLLOW) == -1)
		return -1;
	if (!S_ISREG(st.st_mode)) {
		errno = EINVAL;
		return -1;
	}
	*size = (uint64_t)st.st_size;
	return 0;
}

int
spool_open_read(struct spool *sp, const char *id, int *fd,
    char *err, size_t errlen)
{
	char name[SPOOL_NAME_MAX];
	struct stat st;
	int f, e;

	*fd = -1;
	if (spool_name(id, 1, name) == -1)
		return spool_bad_id(err, errlen);
	/* O_NONBLOCK so a FIFO cannot hang the caller before the type check. */
	f = openat(sp->dirfd, name,
	    O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
	if (f == -1)
		return spool_fail(sp, err, errlen, errno, "open", name);
	if (fstat(f, &st) == -1) {
		e = errno;
		close(f);
		return spool_fail(sp, err, errlen, e, "stat", name);
	}
	if (!S_ISREG(st.st_mode)) {
		close(f);
		errno = EINVAL;
		return util_err(err, errlen, "spool: %s is not a regular "
		    "file", name);
	}
	if (fcntl(f, F_SETFL, 0) == -1) {
		e = errno;
		close(f);
		return spool_fail(sp, err, errlen, e, "fcntl", name);
	}
	*fd = f;
	return 0;
}

int
spool_path(const struct spool *sp, const char *id, int final,
    char *out, size_t outlen)
{
	char name[SPOOL_NAME_MAX];
	int n;

	if (outlen > 0)
		out[0] = '\0';
	if (spool_name(id, final, name) == -1)
		return -1;
	n = snprintf(out, outlen, "%s/%s", sp->path, name);
	if (n < 0 || (size_t)n >= outlen) {
		if (outlen > 0)
			out[0] = '\0';
		errno = ENAMETOOLONG;
		return -1;
	}
	return 0;
}

int
spool_free_bytes(const struct spool *sp, uint64_t *out)
{
	struct statvfs vfs;

	if (fstatvfs(sp->dirfd, &vfs) == -1)
		return -1;
	*out = (uint64_t)vfs.f_bavail * (uint64_t)vfs.f_frsize;
	return 0;
}

int
spool_has_room(const struct spool *sp, uint64_t keep_free, uint64_t promised,
    uint64_t size, uint64_t *free_out)
{
	uint64_t avail;

	*free_out = 0;
	if (spool_free_bytes(sp, &avail) != 0)
		return -1;
	*free_out = avail;
	if (avail < keep_free || avail - keep_free < promised ||
	    avail - keep_free - promised < size)
		return 1;
	return 0;
}
