/*
 * web — see web.h.
 */
#include "broker/web.h"
#include "broker/identity.h"
#include "lib/cborjson.h"
#include "lib/util.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <cbor.h>

struct web_page {
	char path[WEB_MAX_PATH + 1];	/* "/dir/file.ext" */
	const char *type;
	uint8_t *data;
	size_t len;
};

struct web {
	struct web_page *pages;
	size_t n;
	size_t total;
};

static const struct web_header security_headers[] = {
	/* No inline script, nothing from elsewhere, never framed. */
	{ "content-security-policy", "default-src 'self'; "
	    "frame-ancestors 'none'; base-uri 'none'; form-action 'self'" },
	{ "x-frame-options", "DENY" },
	{ "x-content-type-options", "nosniff" },
	{ "referrer-policy", "no-referrer" },
	{ "strict-transport-security", "max-age=31536000" },
	{ "cross-origin-opener-policy", "same-origin" },
	{ "cross-origin-resource-policy", "same-origin" },
};

const struct web_header *
web_security_headers(size_t *n)
{
	*n = sizeof(security_headers) / sizeof(security_headers[0]);
	return security_headers;
}

static const struct {
	const char *ext;
	const char *type;
} types[] = {
	{ ".html", "text/html; charset=utf-8" },
	{ ".css", "text/css; charset=utf-8" },
	{ ".js", "text/javascript; charset=utf-8" },
	{ ".mjs", "text/javascript; charset=utf-8" },
	{ ".json", "application/json" },
	{ ".svg", "image/svg+xml" },
	{ ".png", "image/png" },
	{ ".ico", "image/vnd.microsoft.icon" },
	{ ".woff2", "font/woff2" },
	{ ".txt", "text/plain; charset=utf-8" },
	{ ".webmanifest", "application/manifest+json" },
};

static const char *
type_of(const char *name)
{
	size_t i, nl = strlen(name);

	for (i = 0; i < sizeof(types) / sizeof(types[0]); i++) {
		size_t el = strlen(types[i].ext);

		if (nl > el && strcmp(name + nl - el, types[i].ext) == 0)
			return types[i].type;
	}
	/* With nosniff a browser will not run or render this. */
	return "application/octet-stream";
}

/* The names a page may have: nothing that needs encoding in a URL, no
 * hidden files (editor backups, .git). */
static int
name_ok(const char *name)
{
	const char *p;

	if (name[0] == '\0' || name[0] == '.' || strlen(name) > 100)
		return 0;
	for (p = name; *p != '\0'; p++)
		if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '_' ||
		    *p == '-'))
			return 0;
	return 1;
}

static int
read_page(int dirfd, const char *name, size_t size, uint8_t **out,
    char *err, size_t errlen)
{
	uint8_t *buf;
	size_t got = 0;
	int fd;

	/* O_NOFOLLOW: the entry was a regular file when listed; if it was
	 * swapped for a link since, the open fails rather than follows. */
	if ((fd = openat(dirfd, name, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
	    O_NONBLOCK)) < 0)
		return util_err(err, errlen, "web.root: %s: %s", name,
		    strerror(errno));
	if ((buf = malloc(size > 0 ? size : 1)) == NULL) {
		close(fd);
		return util_err(err, errlen, "out of memory");
	}
	while (got < size) {
		ssize_t n = read(fd, buf + got, size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			free(buf);
			close(fd);
			return util_err(err, errlen, "web.root: %s: %s", name,
			    n < 0 ? strerror(errno) : "changed while read");
		}
		got += (size_t)n;
	}
	close(fd);
	*out = buf;
	return 0;
}

static int
load_dir(struct web *w, int dfd, const char *prefix, int depth,
    size_t *skipped, char *err, size_t errlen)
{
	DIR *d;
	struct dirent *de;
	int rc = 0;

	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return util_err(err, errlen, "web.root%s: %s", prefix,
		    strerror(errno));
	}
	while (rc == 0 && (de = readdir(d)) != NULL) {
		char path[WEB_MAX_PATH + 2];
		struct stat st;

		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		if (!name_ok(de->d_name) ||
		    (size_t)snprintf(path, sizeof(path), "%s/%s", prefix,
		    de->d_name) > WEB_MAX_PATH ||
		    fstatat(dirfd(d), de->d_name, &st,
		    AT_SYMLINK_NOFOLLOW) != 0 ||
		    !(S_ISREG(st.st_mode) || S_ISDIR(st.st_mode))) {
			/* links, devices, odd names: never served */
			(*skipped)++;
			continue;
		}
		if (S_ISDIR(st.st_mode)) {
			int sub;

			if (depth >= WEB_MAX_DEPTH) {
				(*skipped)++;
				continue;
			}
			if ((sub = openat(dirfd(d), de->d_name, O_RDONLY |
			    O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)) < 0) {
				rc = util_err(err, errlen, "web.root%s: %s",
				    path, strerror(errno));
				break;
			}
			rc = load_dir(w, sub, path, depth + 1, skipped, err,
			    errlen);
			continue;
		}
		if (w->n >= WEB_MAX_FILES ||
		    (size_t)st.st_size > WEB_MAX_FILE_SIZE ||
		    w->total + (size_t)st.st_size > WEB_MAX_TOTAL) {
			rc = util_err(err, errlen, "web.root%s: too large (at "
			    "most %u files of %u bytes, %u bytes in all)",
			    path, WEB_MAX_FILES, WEB_MAX_FILE_SIZE,
			    WEB_MAX_TOTAL);
			break;
		}
		{
			struct web_page *pg = &w->pages[w->n];

			util_strlcpy(pg->path, path, sizeof(pg->path));
			pg->type = type_of(de->d_name);
			pg->len = (size_t)st.st_size;
			if ((rc = read_page(dirfd(d), de->d_name, pg->len,
			    &pg->data, err, errlen)) == 0) {
				w->n++;
				w->total += pg->len;
			}
		}
	}
	closedir(d);
	return rc;
}

static int
page_cmp(const void *a, const void *b)
{
	return strcmp(((const struct web_page *)a)->path,
	    ((const struct web_page *)b)->path);
}

int
web_load(const char *root, int required, struct web **out, size_t *skipped,
    char *err, size_t errlen)
{
	struct web *w;
	size_t skip = 0;
	int fd;

	*out = NULL;
	if ((w = calloc(1, sizeof(*w))) == NULL ||
	    (w->pages = calloc(WEB_MAX_FILES, sizeof(*w->pages))) == NULL) {
		free(w);
		return util_err(err, errlen, "out of memory");
	}
	if ((fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC)) < 0) {
		if (errno == ENOENT && !required) {
			*out = w;
			if (skipped != NULL)
				*skipped = 0;
			return 0;
		}
		util_err(err, errlen, "web.root %s: %s (a directory of the "
		    "browser pages)", root, strerror(errno));
		web_free(w);
		return -1;
	}
	if (load_dir(w, fd, "", 0, &skip, err, errlen) != 0) {
		web_free(w);
		return -1;
	}
	qsort(w->pages, w->n, sizeof(*w->pages), page_cmp);
	if (skipped != NULL)
		*skipped = skip;
	*out = w;
	return 0;
}

void
web_free(struct web *w)
{
	size_t i;

	if (w == NULL)
		return;
	for (i = 0; i < w->n; i++)
		free(w->pages[i].data);
	free(w->pages);
	free(w);
}

size_t
web_count(const struct web *w)
{
	return w != NULL ? w->n : 0;
}

static const struct web_page *
page_find(const struct web *w, const char *path, size_t len)
{
	struct web_page key;

	if (w == NULL || len == 0 || len > WEB_MAX_PATH)
		return NULL;
	memcpy(key.path, path, len);
	key.path[len] = '\0';
	if (strcmp(key.path, "/") == 0)
		util_strlcpy(key.path, "/index.html", sizeof(key.path));
	return bsearch(&key, w->pages, w->n, sizeof(*w->pages), page_cmp);
}

/* ---- answers -------------------------------------------------------------- */

static const char oom_body[] = "{\"code\":\"unavailable\",\"message\":{"
    "\"ja\":\"一時的に応答できません。\",\"en\":\"temporarily unavailable\"}}";

/* Adds key: value to map (value's reference is taken over). */
static int
add_pair(cbor_item_t *map, const char *key, cbor_item_t *value)
{
	struct cbor_pair p;
	int ok;

	if (value == NULL)
		return 0;
	if ((p.key = cbor_build_string(key)) == NULL) {
		cbor_decref(&value);
		return 0;
	}
	p.value = value;
	ok = cbor_map_add(map, p);
	cbor_decref(&p.key);
	cbor_decref(&value);
	return ok;
}

/* A JSON body from a CBOR map of text pairs (kv: key, value, ...,
 * NULL), with an optional "message": {"ja", "en"}. cborjson escapes. */
static int
json_of(const char *const *kv, const char *ja, const char *en, char **out)
{
	cbor_item_t *map, *msg;
	unsigned char *buf = NULL;
	size_t n, pairs = 0, i, buflen = 0;
	char err[128];
	int rc = -1;

	for (i = 0; kv[i] != NULL; i += 2)
		pairs++;
	if ((map = cbor_new_definite_map(pairs + (ja != NULL))) == NULL)
		return -1;
	for (i = 0; kv[i] != NULL; i += 2)
		if (!add_pair(map, kv[i], cbor_build_string(kv[i + 1])))
			goto out;
	if (ja != NULL) {
		if ((msg = cbor_new_definite_map(2)) == NULL)
			goto out;
		if (!add_pair(msg, "ja", cbor_build_string(ja)) ||
		    !add_pair(msg, "en", cbor_build_string(en))) {
			cbor_decref(&msg);
			goto out;
		}
		if (!add_pair(map, "message", msg))
			goto out;
	}
	if ((n = cbor_serialize_alloc(map, &buf, &buflen)) == 0)
		goto out;
	rc = cborjson_encode(buf, n, out, err, sizeof(err));
out:
	free(buf);
	cbor_decref(&map);
	return rc;
}

static void
answer_json(struct web_response *r, int status, const char *const *kv,
    const char *ja, const char *en)
{
	r->status = status;
	r->content_type = "application/json";
	r->no_store = 1;
	if (json_of(kv, ja, en, &r->owned) != 0) {
		r->status = 503;
		r->code = "unavailable";
		r->body = (const uint8_t *)oom_body;
		r->len = sizeof(oom_body) - 1;
		return;
	}
	r->body = (const uint8_t *)r->owned;
	r->len = strlen(r->owned);
}

static void
answer_error(struct web_response *r, int status, const char *code,
    const char *ja, const char *en)
{
	const char *kv[] = { "code", code, NULL };

	answer_json(r, status, kv, ja, en);
	if (r->status == status)
		r->code = code;
}

static void
answer_whoami(struct web_response *r, const struct principal *who)
{
	const char *kv[] = { "user", who->user, "dept", who->dept,
	    "terminal", who->terminal, "serial", who->serial,
	    "cert_fp", who->cert_fp, NULL };

	answer_json(r, 200, kv, NULL, NULL);
}

void
web_error(struct web_response *r, int status, const char *code,
    const char *ja, const char *en)
{
	memset(r, 0, sizeof(*r));
	answer_error(r, status, code, ja, en);
}

static int
is_safe_method(const char *m)
{
	return strcmp(m, "GET") == 0 || strcmp(m, "HEAD") == 0;
}

/*
 * Same origin: the Origin header is the broker's own origin, and the
 * custom header is there. Browsers send Origin on every state-changing
 * request, so a request without one is refused too.
 */
static int
same_origin(const char *own_origin, const struct web_request *rq)
{
	char own[300];

	if (!rq->custom || rq->origin == NULL)
		return 0;
	if (own_origin == NULL) {
		if (rq->authority == NULL || rq->authority[0] == '\0' ||
		    (size_t)snprintf(own, sizeof(own), "https://%s",
		    rq->authority) >= sizeof(own))
			return 0;
		own_origin = own;
	}
	return strcmp(rq->origin, own_origin) == 0;
}

int
web_page(const struct web *w, const char *path, const uint8_t **data,
    size_t *len)
{
	const struct web_page *pg;

	if (w == NULL || (pg = page_find(w, path, strlen(path))) == NULL)
		return -1;
	*data = pg->data;
	*len = pg->len;
	return 0;
}

int
web_origin_ok(const char *own_origin, const struct web_request *rq)
{
	return is_safe_method(rq->method) || same_origin(own_origin, rq);
}

void
web_route(const struct web *w, const char *own_origin,
    const struct web_request *rq, const struct principal *who,
    struct web_response *out)
{
	const struct web_page *pg;
	size_t plen;

	memset(out, 0, sizeof(*out));
	/* Refused before anything else looks at the request: a cross-site
	 * page must not learn whether the route exists. */
	if (!is_safe_method(rq->method) && !same_origin(own_origin, rq)) {
		answer_error(out, 403, "cross_origin", "このリクエストは関所の"
		    "画面からのものではないため受け付けません。",
		    "state-changing requests are accepted only from the "
		    "broker's own pages (same Origin and the "
		    "X-Sekisho-Request: 1 header)");
		return;
	}
	plen = strcspn(rq->path, "?#");
	if (plen == strlen("/api/v1/whoami") &&
	    memcmp(rq->path, "/api/v1/whoami", plen) == 0) {
		if (!is_safe_method(rq->method)) {
			answer_error(out, 405, "method_not_allowed", "この操作"
			    "はこのアドレスでは使えません。", "this method is "
			    "not allowed here (use GET)");
			out->allow = "GET, HEAD";
			return;
		}
		answer_whoami(out, who);
		return;
	}
	if (plen >= 5 && memcmp(rq->path, "/api/", 5) == 0) {
		answer_error(out, 404, "not_found", "指定された API はありませ"
		    "ん。", "no such API endpoint");
		return;
	}
	if ((pg = page_find(w, rq->path, plen)) == NULL) {
		answer_error(out, 404, "not_found", "ページが見つかりません。",
		    "no such page");
		return;
	}
	if (!is_safe_method(rq->method)) {
		answer_error(out, 405, "method_not_allowed", "この操作はこの"
		    "アドレスでは使えません。", "this method is not allowed "
		    "for a page (use GET)");
		out->allow = "GET, HEAD";
		return;
	}
	out->status = 200;
	out->content_type = pg->type;
	out->body = pg->data;
	out->len = pg->len;
}

void
web_response_clear(struct web_response *r)
{
	free(r->owned);
	memset(r, 0, sizeof(*r));
}
