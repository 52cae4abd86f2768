/*
 * web — what the broker answers browsers over HTTP/2 (h2conn.h carries
 * it): the pages of a directory, GET /api/v1/whoami, and the JSON errors;
 * the security headers every answer carries; the same-origin rule for
 * state-changing requests. No I/O here: web_route maps one request to one
 * answer, so the rules are testable without a connection.
 *
 * The pages are a table built once at start from the files under the root
 * (web_load): a request path is looked up in the table byte for byte and
 * never becomes a filesystem path, so "..", percent-encoded dots or
 * slashes and symbolic links cannot reach a file outside the table.
 * Symbolic links are not followed while the table is built (a link is
 * skipped, whatever it points to), file names are limited to
 * [A-Za-z0-9._-] without a leading dot, and the table is bounded (files,
 * bytes per file, bytes in all, depth). The files are read into memory at
 * start: serving them does no file I/O on the event loop, and a page
 * changed on disk is served after a restart.
 *
 * Identity is the client certificate alone (the principal the TLS layer
 * proved): no cookie, no token, nothing that outlives the connection.
 */
#ifndef SEKISHO_WEB_H
#define SEKISHO_WEB_H

#include <stddef.h>
#include <stdint.h>

struct principal;
struct web;

/* Bounds of the page table. */
#define WEB_MAX_FILES 512
#define WEB_MAX_FILE_SIZE (4u * 1024 * 1024)
#define WEB_MAX_TOTAL (32u * 1024 * 1024)
#define WEB_MAX_DEPTH 6
#define WEB_MAX_PATH 256		/* bytes of a page's URL path */

/* The custom header a state-changing request must carry (with value
 * "1"): a cross-site form cannot set it, and a cross-origin script cannot
 * without a CORS preflight, which the broker never approves. */
#define WEB_CUSTOM_HEADER "x-sekisho-request"

/* One request, as h2conn collected it; the strings are borrowed. origin
 * NULL: no Origin header. custom: the custom header was present with
 * value "1". */
struct web_request {
	const char *method;
	const char *path;		/* :path, query included */
	const char *authority;		/* :authority (or host); may be NULL */
	const char *origin;
	int custom;
};

/* One answer. body is borrowed from the table, or owned (malloc'd, freed
 * by web_response_clear). content_length is what a GET would carry; a
 * HEAD sends the headers only. */
struct web_response {
	int status;
	const char *content_type;
	const uint8_t *body;
	size_t len;
	char *owned;
	const char *allow;		/* the Allow header (405); NULL: none */
	int no_store;			/* Cache-Control: no-store */
	const char *code;		/* machine code of an error; NULL: ok */
};

struct web_header {
	const char *name;
	const char *value;
};

/*
 * Builds the page table from root. A root that does not exist gives an
 * empty table when required is 0 (the installed default directory before
 * any page is installed); any other failure is -1 with the reason.
 * Skipped entries (links, other file types, names outside the rule) are
 * counted in *skipped when skipped is not NULL. *out is freed with web_free.
 */
int web_load(const char *root, int required, struct web **out,
    size_t *skipped, char *err, size_t errlen);
void web_free(struct web *w);
size_t web_count(const struct web *w);

/*
 * The answer to rq for the principal who. own_origin is the broker's
 * origin ("https://host[:port]"), or NULL to take "https://" + the
 * request's authority. Never fails: out of memory is a 503 answer with a
 * static body. Clear *out with web_response_clear.
 */
void web_route(const struct web *w, const char *own_origin,
    const struct web_request *rq, const struct principal *who,
    struct web_response *out);
void web_response_clear(struct web_response *r);

/*
 * A page of the table by its URL path ("/openapi.json"): 0 with its bytes
 * (owned by w), -1 when there is none.
 */
int web_page(const struct web *w, const char *path, const uint8_t **data,
    size_t *len);

/*
 * The same-origin rule (docs/web.md): 1 when rq may go on (a GET or HEAD,
 * or a request from own_origin with the custom header), 0 when it is
 * refused (web_route then answers it with 403 cross_origin).
 */
int web_origin_ok(const char *own_origin, const struct web_request *rq);

/* A JSON error answer: code, the Japanese and the English message. */
void web_error(struct web_response *r, int status, const char *code,
    const char *ja, const char *en);

/* The headers every answer carries (CSP, frame-ancestors, nosniff,
 * Referrer-Policy, HSTS, ...): a static array of *n entries. */
const struct web_header *web_security_headers(size_t *n);

#endif
