/*
 * credentials — see credentials.h.
 *
 * The file is opened once (O_NOFOLLOW) and every check is made on that
 * descriptor, so the file checked is the file read. The read buffer is
 * wiped before it is freed; the parsed tree is freed by yamlnode.
 */
#include "broker/credentials.h"
#include "lib/util.h"
#include "lib/yamlnode.h"

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

void
credentials_clear(struct credentials *c)
{
	explicit_bzero(c, sizeof(*c));
}

const char *
credentials_kind_name(enum credentials_kind k)
{
	switch (k) {
	case CREDENTIALS_BEARER:
		return "bearer";
	case CREDENTIALS_BASIC:
		return "basic";
	case CREDENTIALS_AWS:
		return "aws";
	case CREDENTIALS_NONE:
		break;
	}
	return "none";
}

int
credentials_path(const char *dir, const char *ref, char *out, size_t outlen,
    char *err, size_t errlen)
{
	int n;

	if (ref == NULL || ref[0] == '\0')
		return util_err(err, errlen, "no credentials reference");
	if (ref[0] == '/') {
		if (strstr(ref, "/../") != NULL || strstr(ref, "/./") != NULL)
			return util_err(err, errlen, "credentials path '%s' "
			    "has '.' or '..' segments", ref);
		if (util_strlcpy(out, ref, outlen) != 0)
			return util_err(err, errlen, "credentials path too "
			    "long");
		return 0;
	}
	if (!util_is_token(ref, 63))
		return util_err(err, errlen, "credentials reference '%.64s' is "
		    "neither an absolute path nor a name (A-Z a-z 0-9 . _ -)",
		    ref);
	if (dir == NULL || dir[0] == '\0')
		return util_err(err, errlen, "no credentials_dir for "
		    "credentials '%s'", ref);
	n = snprintf(out, outlen, "%s/%s.yaml", dir, ref);
	if (n < 0 || (size_t)n >= outlen)
		return util_err(err, errlen, "credentials path too long");
	return 0;
}

static int
read_checked(const char *path, char **buf, size_t *len, char *err,
    size_t errlen)
{
	struct stat sb;
	ssize_t r;
	size_t got = 0;
	int fd;

	*buf = NULL;
	if ((fd = util_open_key_file("credentials", path, 1, &sb, err,
	    errlen)) == -1)
		return -1;
	if (sb.st_uid != geteuid()) {
		close(fd);
		return util_err(err, errlen, "credentials %s: owned by uid %lu, "
		    "not by the broker's user", path,
		    (unsigned long)sb.st_uid);
	}
	if (sb.st_size > CREDENTIALS_MAX_FILE) {
		close(fd);
		return util_err(err, errlen, "credentials %s: larger than %d "
		    "bytes", path, CREDENTIALS_MAX_FILE);
	}
	if ((*buf = calloc(1, (size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		return util_err(err, errlen, "out of memory");
	}
	while (got < (size_t)sb.st_size) {
		r = read(fd, *buf + got, (size_t)sb.st_size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0)
			break;
		got += (size_t)r;
	}
	close(fd);
	if (got != (size_t)sb.st_size) {
		explicit_bzero(*buf, (size_t)sb.st_size);
		free(*buf);
		*buf = NULL;
		return util_err(err, errlen, "credentials %s: short read",
		    path);
	}
	*len = got;
	return 0;
}

/* A required (or optional) text field copied into dst. */
static int
field(const struct yamlnode_doc *doc, const struct yamlnode *root,
    const char *key, int required, char *dst, size_t dstlen, char *err,
    size_t errlen)
{
	const char *v = NULL;
	int rc = yamlnode_get_str(doc, root, key, dstlen - 1, &v, err, errlen);

	if (rc < 0)
		return -1;
	if (rc == 1 || v[0] == '\0') {
		if (!required)
			return 0;
		return util_err(err, errlen, "%s: field '%s' is required",
		    doc->path, key);
	}
	/* A secret goes into HTTP headers: no line breaks or controls. */
	for (; *v != '\0'; v++) {
		if ((unsigned char)*v < 0x20 || *v == 0x7f)
			return util_err(err, errlen, "%s: field '%s' has a "
			    "control character", doc->path, key);
		*dst++ = *v;
	}
	*dst = '\0';
	return 0;
}

int
credentials_load(const char *dir, const char *ref, struct credentials *out,
    char *err, size_t errlen)
{
	static const char *const bearer_keys[] = { "type", "token", NULL };
	static const char *const basic_keys[] = { "type", "username",
	    "password", NULL };
	static const char *const aws_keys[] = { "type", "access_key_id",
	    "secret_access_key", "session_token", NULL };
	struct yamlnode_doc *doc = NULL;
	const struct yamlnode *root;
	const char *type = NULL;
	char path[PATH_MAX], *buf = NULL;
	size_t len = 0;
	int rc = -1;

	credentials_clear(out);
	if (credentials_path(dir, ref, path, sizeof(path), err, errlen) != 0 ||
	    read_checked(path, &buf, &len, err, errlen) != 0)
		return -1;
	if (yamlnode_load_buffer(path, buf, len, &doc, err, errlen) != 0)
		goto out;
	root = doc->root;
	if (root == NULL || root->kind != YAMLNODE_MAP) {
		util_err(err, errlen, "%s: expected a mapping (type, ...)",
		    path);
		goto out;
	}
	if (yamlnode_get_str(doc, root, "type", 16, &type, err, errlen) != 0) {
		if (type == NULL)
			util_err(err, errlen, "%s: field 'type' is required "
			    "(bearer, basic or aws)", path);
		goto out;
	}
	if (strcmp(type, "bearer") == 0) {
		out->kind = CREDENTIALS_BEARER;
		if (yamlnode_check_keys(doc, root, "credentials", bearer_keys,
		    err, errlen) != 0 || field(doc, root, "token", 1,
		    out->secret, sizeof(out->secret), err, errlen) != 0)
			goto out;
	} else if (strcmp(type, "basic") == 0) {
		out->kind = CREDENTIALS_BASIC;
		if (yamlnode_check_keys(doc, root, "credentials", basic_keys,
		    err, errlen) != 0 || field(doc, root, "username", 1,
		    out->user, sizeof(out->user), err, errlen) != 0 ||
		    field(doc, root, "password", 1, out->secret,
		    sizeof(out->secret), err, errlen) != 0)
			goto out;
		if (strchr(out->user, ':') != NULL) {
			util_err(err, errlen, "%s: a basic username cannot "
			    "contain ':'", path);
			goto out;
		}
	} else if (strcmp(type, "aws") == 0) {
		out->kind = CREDENTIALS_AWS;
		if (yamlnode_check_keys(doc, root, "credentials", aws_keys,
		    err, errlen) != 0 || field(doc, root, "access_key_id", 1,
		    out->user, sizeof(out->user), err, errlen) != 0 ||
		    field(doc, root, "secret_access_key", 1, out->secret,
		    sizeof(out->secret), err, errlen) != 0 ||
		    field(doc, root, "session_token", 0, out->session_token,
		    sizeof(out->session_token), err, errlen) != 0)
			goto out;
	} else {
		util_err(err, errlen, "%s: type must be bearer, basic or aws",
		    path);
		goto out;
	}
	rc = 0;
out:
	if (rc != 0)
		credentials_clear(out);
	yamlnode_free(doc);
	if (buf != NULL) {
		explicit_bzero(buf, len);
		free(buf);
	}
	return rc;
}
