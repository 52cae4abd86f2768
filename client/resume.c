/*
 * resume — see resume.h.
 *
 * The state directory lives in the user's home, which other local users
 * cannot write, but the code still refuses to follow symlinks for the state
 * file itself and keeps everything private (0700/0600): a transfer id lets
 * whoever holds the user's certificate continue that upload.
 */
#include "client/resume.h"
#include "client/i18n.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

int
resume_key(const char *realpath, uint64_t size, int64_t mtime_ns,
    const char *interface, uint64_t class, char out[RESUME_KEY_LEN + 1])
{
	EVP_MD_CTX *md;
	char num[3][32];
	uint8_t digest[UTIL_SHA256_LEN];
	unsigned int dlen = 0;
	int ok;

	out[0] = '\0';
	snprintf(num[0], sizeof(num[0]), "%" PRIu64, size);
	snprintf(num[1], sizeof(num[1]), "%" PRId64, mtime_ns);
	snprintf(num[2], sizeof(num[2]), "%" PRIu64, class);
	if ((md = EVP_MD_CTX_new()) == NULL)
		return -1;
	/* The "+ 1" includes each field's terminating NUL as the separator. */
	ok = EVP_DigestInit_ex(md, EVP_sha256(), NULL) == 1 &&
	    EVP_DigestUpdate(md, realpath, strlen(realpath) + 1) == 1 &&
	    EVP_DigestUpdate(md, num[0], strlen(num[0]) + 1) == 1 &&
	    EVP_DigestUpdate(md, num[1], strlen(num[1]) + 1) == 1 &&
	    EVP_DigestUpdate(md, interface, strlen(interface) + 1) == 1 &&
	    EVP_DigestUpdate(md, num[2], strlen(num[2]) + 1) == 1 &&
	    EVP_DigestFinal_ex(md, digest, &dlen) == 1 &&
	    dlen == sizeof(digest);
	EVP_MD_CTX_free(md);
	if (!ok)
		return -1;
	util_hex(digest, sizeof(digest), out);
	return 0;
}

int
resume_dir(const char *xdg_state_home, const char *home, char *out,
    size_t outlen, char *err, size_t errlen)
{
	int n;

	if (xdg_state_home != NULL && xdg_state_home[0] == '/')
		n = snprintf(out, outlen, "%s/sekisho/uploads", xdg_state_home);
	else if (home != NULL && home[0] == '/')
		n = snprintf(out, outlen, "%s/.local/state/sekisho/uploads",
		    home);
	else
		return util_err(err, errlen, _("cannot place resume state: "
		    "neither XDG_STATE_HOME nor HOME is an absolute path"));
	if (n < 0 || (size_t)n >= outlen)
		return util_err(err, errlen, _("resume state directory path is "
		    "too long"));
	return 0;
}

static int
state_path(const char *dir, const char *key, const char *suffix, char *out,
    size_t outlen, char *err, size_t errlen)
{
	size_t i;
	int n;

	/* The key becomes a file name: accept only what resume_key makes. */
	for (i = 0; key[i] != '\0'; i++)
		if (!((key[i] >= '0' && key[i] <= '9') ||
		    (key[i] >= 'a' && key[i] <= 'f')))
			break;
	if (i != RESUME_KEY_LEN || key[i] != '\0')
		return util_err(err, errlen, _("malformed resume key"));
	n = snprintf(out, outlen, "%s/%s%s", dir, key, suffix);
	if (n < 0 || (size_t)n >= outlen)
		return util_err(err, errlen, _("resume state path is too long"));
	return 0;
}

/* mkdir -p with 0700 for what we create; the leaf must end up ours and
 * private. */
static int
make_dirs(const char *dir, char *err, size_t errlen)
{
	char buf[PATH_MAX];
	struct stat st;
	size_t i, len = strlen(dir);

	if (len == 0 || len >= sizeof(buf))
		return util_err(err, errlen, _("bad state directory"));
	memcpy(buf, dir, len + 1);
	for (i = 1; i <= len; i++) {
		if (buf[i] != '/' && buf[i] != '\0')
			continue;
		buf[i] = '\0';
		if (mkdir(buf, 0700) != 0 && errno != EEXIST)
			return util_err(err, errlen, _("cannot create %s: %s"),
			    buf, strerror(errno));
		if (i < len)
			buf[i] = '/';
	}
	if (lstat(dir, &st) != 0)
		return util_err(err, errlen, "%s: %s", dir, strerror(errno));
	if (!S_ISDIR(st.st_mode))
		return util_err(err, errlen, _("%s is not a directory"), dir);
	if (st.st_uid != geteuid())
		return util_err(err, errlen, _("%s is not owned by you"), dir);
	if ((st.st_mode & 077) != 0 && chmod(dir, 0700) != 0)
		return util_err(err, errlen, _("cannot make %s private: %s"),
		    dir, strerror(errno));
	return 0;
}

int
resume_load(const char *dir, const char *key, char id[UTIL_ID_LEN + 1],
    char *err, size_t errlen)
{
	char path[PATH_MAX], buf[UTIL_ID_LEN + 8];
	struct stat st;
	ssize_t n;
	size_t got = 0;
	int fd;

	id[0] = '\0';
	if (state_path(dir, key, "", path, sizeof(path), err, errlen) != 0)
		return -1;
	fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NONBLOCK);
	if (fd < 0) {
		if (errno == ENOENT)
			return 0;
		return util_err(err, errlen, _("cannot read %s: %s"), path,
		    strerror(errno));
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return util_err(err, errlen, _("%s: not a regular file"),
		    path);
	}
	while (got < sizeof(buf) - 1) {
		n = read(fd, buf + got, sizeof(buf) - 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			util_err(err, errlen, _("cannot read %s: %s"), path,
			    strerror(errno));
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	buf[got] = '\0';
	if (got > 0 && buf[got - 1] == '\n')
		buf[--got] = '\0';
	if (!util_is_id(buf)) {
		/* Damaged or foreign content: forget it rather than send it. */
		unlink(path);
		return 0;
	}
	memcpy(id, buf, UTIL_ID_LEN + 1);
	return 1;
}

int
resume_save(const char *dir, const char *key, const char *id,
    char *err, size_t errlen)
{
	char path[PATH_MAX], tmp[PATH_MAX], line[UTIL_ID_LEN + 2];
	size_t len;
	int fd, saved;

	if (!util_is_id(id))
		return util_err(err, errlen, _("malformed transfer id"));
	if (state_path(dir, key, "", path, sizeof(path), err, errlen) != 0 ||
	    state_path(dir, key, ".tmp", tmp, sizeof(tmp), err, errlen) != 0)
		return -1;
	if (make_dirs(dir, err, errlen) != 0)
		return -1;
	len = (size_t)snprintf(line, sizeof(line), "%s\n", id);
	unlink(tmp);
	fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    0600);
	if (fd < 0)
		return util_err(err, errlen, _("cannot write %s: %s"), tmp,
		    strerror(errno));
	if (write(fd, line, len) != (ssize_t)len || fsync(fd) != 0) {
		saved = errno;
		close(fd);
		unlink(tmp);
		return util_err(err, errlen, _("cannot write %s: %s"), tmp,
		    strerror(saved));
	}
	if (close(fd) != 0 || rename(tmp, path) != 0) {
		saved = errno;
		unlink(tmp);
		return util_err(err, errlen, _("cannot write %s: %s"), path,
		    strerror(saved));
	}
	return 0;
}

int
resume_drop(const char *dir, const char *key, char *err, size_t errlen)
{
	char path[PATH_MAX];

	if (state_path(dir, key, "", path, sizeof(path), err, errlen) != 0)
		return -1;
	if (unlink(path) != 0 && errno != ENOENT)
		return util_err(err, errlen, _("cannot remove %s: %s"), path,
		    strerror(errno));
	return 0;
}
