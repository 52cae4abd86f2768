/*
 * upstream — helpers shared by the connectors (see upstream.h): building
 * requests and URLs, and turning a response into an outcome.
 */
#include "broker/upstream.h"

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

int
upstream_req_init(struct upstream_request *req, const char *step,
    const char *method, const char *url)
{
	memset(req, 0, sizeof(*req));
	util_strlcpy(req->step, step, sizeof(req->step));
	if (util_strlcpy(req->method, method, sizeof(req->method)) != 0 ||
	    util_strlcpy(req->url, url, sizeof(req->url)) != 0)
		return -1;
	return 0;
}

int
upstream_req_header(struct upstream_request *req, const char *fmt, ...)
{
	va_list ap;
	char *h;
	int n;

	if (req->nheaders >= UPSTREAM_MAX_HEADERS)
		return -1;
	h = req->headers[req->nheaders];
	va_start(ap, fmt);
	n = vsnprintf(h, UPSTREAM_HEADER_MAX, fmt, ap);
	va_end(ap);
	if (n < 0 || n >= UPSTREAM_HEADER_MAX)
		return -1;
	/* Header injection: no CR, LF or other control characters. */
	for (; *h != '\0'; h++)
		if ((unsigned char)*h < 0x20 || *h == 0x7f)
			return -1;
	req->nheaders++;
	return 0;
}

int
upstream_url(const char *endpoint, const char *path, const char *query,
    char *out, size_t outlen)
{
	size_t elen = strlen(endpoint), used;

	while (elen > 0 && endpoint[elen - 1] == '/')
		elen--;
	if (elen + 1 >= outlen)
		return -1;
	memcpy(out, endpoint, elen);
	out[elen] = '\0';
	if (pathtmpl_url_encode(path, out + elen, outlen - elen) != 0)
		return -1;
	if (query != NULL && query[0] != '\0') {
		used = strlen(out);
		if (snprintf(out + used, outlen - used, "?%s", query) >=
		    (int)(outlen - used))
			return -1;
	}
	return 0;
}

void
upstream_outcome(struct upstream_outcome *o, enum retry_verdict v,
    long status, const char *fmt, ...)
{
	va_list ap;

	o->verdict = v;
	o->status = status;
	va_start(ap, fmt);
	vsnprintf(o->reason, sizeof(o->reason), fmt, ap);
	va_end(ap);
}

enum retry_verdict
upstream_settle(const struct upstream_response *r, const char *step,
    struct upstream_outcome *o)
{
	enum retry_verdict v = retry_classify(r->transport, r->status);

	o->transport = r->transport;
	if (r->transport != RETRY_T_OK)
		upstream_outcome(o, v, 0, "%s: %s", step,
		    r->error[0] != '\0' ? r->error : "transport error");
	else if (v == RETRY_DONE)
		upstream_outcome(o, v, r->status, "%s: HTTP %ld", step,
		    r->status);
	else
		upstream_outcome(o, v, r->status, "%s: the service answered "
		    "HTTP %ld", step, r->status);
	return v;
}
