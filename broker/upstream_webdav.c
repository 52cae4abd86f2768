/*
 * upstream_webdav — see upstream_webdav.h. A state machine over the
 * responses the forwarder hands back; no I/O here.
 *
 * Collections: a WebDAV server answers 409 to a PUT whose parent collection
 * does not exist (RFC 4918 9.7.1). Path templates put files under
 * per-interface and per-date folders, so on the first 409 the connector
 * creates the folders of the destination path, top down, with MKCOL — an
 * existing one answers 405, which is fine — and sends the PUT once more.
 * Only folders inside the service's endpoint are created: the endpoint's own
 * base path is the operator's to provide.
 */
#include "broker/upstream_webdav.h"

#include <openssl/crypto.h>
#include <stdlib.h>
#include <string.h>

enum phase {
	P_START,
	P_CHECK,		/* HEAD final before sending */
	P_VERIFY,		/* GET final, compare its SHA-256 */
	P_PUT,			/* PUT temporary */
	P_MKCOL,		/* MKCOL a folder of the path, top down */
	P_MOVE,			/* MOVE temporary -> final */
	P_FINAL,		/* HEAD final after the MOVE */
	P_CLEAN			/* DELETE temporary, then the saved outcome */
};

struct webdav {
	struct upstream_target t;
	enum phase phase;
	char final_url[UPSTREAM_URL_MAX];
	char temp_url[UPSTREAM_URL_MAX];
	int put_done;		/* the temporary holds our bytes */
	int verify_rounds;	/* GETs after a 404 race, bounded */
	int mkcol_tried;	/* folders created once; a second 409 fails */
	size_t mkcol_end;	/* t.path[0, mkcol_end] is the folder sent */
	long move_status;	/* answer to the MOVE */
	struct upstream_outcome saved;	/* P_CLEAN: what to report */
};

static void *
webdav_start(const struct upstream_target *t, char *err, size_t errlen)
{
	struct webdav *w;
	char tmp[PATHTMPL_MAX + 64];
	const char *slash;

	if ((w = calloc(1, sizeof(*w))) == NULL) {
		util_err(err, errlen, "out of memory");
		return NULL;
	}
	w->t = *t;
	slash = strrchr(t->path, '/');
	if (slash == NULL || snprintf(tmp, sizeof(tmp), "%.*s/.sekisho-%s.part",
	    (int)(slash - t->path), t->path, t->transfer) >= (int)sizeof(tmp) ||
	    upstream_url(t->endpoint, t->path, NULL, w->final_url,
	    sizeof(w->final_url)) != 0 ||
	    upstream_url(t->endpoint, tmp, NULL, w->temp_url,
	    sizeof(w->temp_url)) != 0) {
		util_err(err, errlen, "the destination URL is too long");
		free(w);
		return NULL;
	}
	return w;
}

static void
webdav_free(void *state)
{
	free(state);
}

static enum upstream_next
send_head(struct webdav *w, enum phase p, struct upstream_request *req)
{
	w->phase = p;
	upstream_req_init(req, p == P_CHECK ? "check" : "head", "HEAD",
	    w->final_url);
	/* After the MOVE the outcome is known; this only reads it back. */
	req->cleanup = p == P_FINAL;
	return UPSTREAM_SEND;
}

static enum upstream_next
send_get(struct webdav *w, struct upstream_request *req)
{
	w->phase = P_VERIFY;
	upstream_req_init(req, "verify", "GET", w->final_url);
	req->hash_body = 1;
	return UPSTREAM_SEND;
}

static enum upstream_next
send_put(struct webdav *w, struct upstream_request *req)
{
	w->phase = P_PUT;
	upstream_req_init(req, "put", "PUT", w->temp_url);
	req->body = UPSTREAM_BODY_SPOOL;
	req->offset = 0;
	req->length = w->t.size;
	req->main = 1;
	upstream_req_header(req, "Content-Type: application/octet-stream");
	return UPSTREAM_SEND;
}

/*
 * MKCOL for the next folder of the destination path after the one at
 * mkcol_end (0 before the first), with the trailing '/' that names a
 * collection (nginx insists on it). Returns 0 when the last folder is done.
 */
static int
send_mkcol(struct webdav *w, struct upstream_request *req)
{
	char dir[PATHTMPL_MAX + 1], url[UPSTREAM_URL_MAX];
	const char *next, *last = strrchr(w->t.path, '/');

	next = strchr(w->t.path + w->mkcol_end + 1, '/');
	if (last == NULL || next == NULL || next > last)
		return 0;
	w->mkcol_end = (size_t)(next - w->t.path);
	memcpy(dir, w->t.path, w->mkcol_end + 1);
	dir[w->mkcol_end + 1] = '\0';
	w->phase = P_MKCOL;
	if (upstream_url(w->t.endpoint, dir, NULL, url, sizeof(url)) != 0)
		return 0;	/* shorter than the final URL: cannot happen */
	upstream_req_init(req, "mkcol", "MKCOL", url);
	return 1;
}

static enum upstream_next
send_move(struct webdav *w, struct upstream_request *req)
{
	w->phase = P_MOVE;
	upstream_req_init(req, "move", "MOVE", w->temp_url);
	if (upstream_req_header(req, "Destination: %s", w->final_url) != 0) {
		/* Cannot happen with the URL bounds; fail closed. */
		req->nheaders = 0;
	}
	upstream_req_header(req, "Overwrite: F");
	return UPSTREAM_SEND;
}

/* Ends the attempt with o, removing our temporary first if it holds
 * bytes. */
static enum upstream_next
finish(struct webdav *w, const struct upstream_outcome *o,
    struct upstream_request *req, struct upstream_outcome *out)
{
	if (w->put_done && w->phase != P_CLEAN) {
		w->saved = *o;
		w->phase = P_CLEAN;
		w->put_done = 0;
		upstream_req_init(req, "cleanup", "DELETE", w->temp_url);
		req->cleanup = 1;
		return UPSTREAM_SEND;
	}
	*out = *o;
	return UPSTREAM_DONE;
}

static enum upstream_next
webdav_next(void *state, const struct upstream_response *r,
    struct upstream_request *req, struct upstream_outcome *o)
{
	struct webdav *w = state;
	struct upstream_outcome tmp;
	size_t len;

	memset(&tmp, 0, sizeof(tmp));
	if (r == NULL) {
		if (w->t.check_existing)
			return send_head(w, P_CHECK, req);
		return send_put(w, req);
	}
	switch (w->phase) {
	case P_START:
		break;
	case P_CHECK:
		if (r->transport == RETRY_T_OK && r->status == 404)
			return send_put(w, req);
		if (r->transport == RETRY_T_OK && r->status >= 200 &&
		    r->status <= 299)
			return send_get(w, req);
		upstream_settle(r, "check", &tmp);
		if (tmp.verdict == RETRY_DONE)	/* a 2xx handled above */
			tmp.verdict = RETRY_NEVER;
		return finish(w, &tmp, req, o);
	case P_VERIFY:
		if (r->transport == RETRY_T_OK && r->status == 404 &&
		    w->verify_rounds++ < 2)
			/* Gone again (someone removed it): send ours. */
			return w->put_done ? send_move(w, req) :
			    send_put(w, req);
		if (r->transport != RETRY_T_OK || r->status < 200 ||
		    r->status > 299) {
			if (upstream_settle(r, "verify", &tmp) == RETRY_DONE)
				tmp.verdict = RETRY_NEVER;
			return finish(w, &tmp, req, o);
		}
		if (r->body_bytes == w->t.size &&
		    CRYPTO_memcmp(r->body_sha256, w->t.sha256,
		    sizeof(w->t.sha256)) == 0) {
			upstream_outcome(&tmp, RETRY_DONE, r->status, "the "
			    "object was already at the destination with the "
			    "same SHA-256 (an earlier attempt delivered it)");
			tmp.already_there = 1;
			util_strlcpy(tmp.etag, r->etag, sizeof(tmp.etag));
			return finish(w, &tmp, req, o);
		}
		upstream_outcome(&tmp, RETRY_NEVER, r->status, "a different "
		    "object (%llu bytes, other SHA-256) already exists at the "
		    "destination; it was not overwritten",
		    (unsigned long long)r->body_bytes);
		return finish(w, &tmp, req, o);
	case P_PUT:
		if (r->transport == RETRY_T_OK && r->status == 409 &&
		    !w->mkcol_tried) {
			w->mkcol_tried = 1;
			w->mkcol_end = 0;
			if (send_mkcol(w, req))
				return UPSTREAM_SEND;
		}
		if (upstream_settle(r, "put", &tmp) != RETRY_DONE) {
			/* A broken body or a server error may have left part
			 * of it under the temporary name (ours: remove it); a
			 * refusal (4xx) stored nothing. */
			w->put_done = (r->transport != RETRY_T_OK &&
			    r->body_sent > 0) || r->status >= 500;
			return finish(w, &tmp, req, o);
		}
		w->put_done = 1;
		if (!r->sent_hashed || CRYPTO_memcmp(r->sent_sha256,
		    w->t.sha256, sizeof(w->t.sha256)) != 0) {
			upstream_outcome(&tmp, RETRY_AGAIN, r->status, "the "
			    "bytes read from the spool did not match the "
			    "transfer's SHA-256; nothing was moved into place");
			tmp.transport = RETRY_T_LOCAL;
			tmp.spool_suspect = 1;
			return finish(w, &tmp, req, o);
		}
		return send_move(w, req);
	case P_MKCOL:
		/* 201: created; 405: it already exists. */
		if (r->transport != RETRY_T_OK ||
		    (r->status != 201 && r->status != 405)) {
			if (upstream_settle(r, "mkcol", &tmp) == RETRY_DONE)
				/* Another 2xx is not the answer MKCOL has for
				 * "created"; do not guess that it was. */
				tmp.verdict = RETRY_NEVER;
			len = strlen(tmp.reason);
			snprintf(tmp.reason + len, sizeof(tmp.reason) - len,
			    " (creating the folder %.*s)", (int)w->mkcol_end,
			    w->t.path);
			return finish(w, &tmp, req, o);
		}
		if (send_mkcol(w, req))
			return UPSTREAM_SEND;
		return send_put(w, req);
	case P_MOVE:
		if (r->transport == RETRY_T_OK && r->status == 412)
			/* The final name exists: ours from a lost answer, or
			 * someone else's. */
			return send_get(w, req);
		if (upstream_settle(r, "move", &tmp) != RETRY_DONE)
			return finish(w, &tmp, req, o);
		w->put_done = 0;	/* the temporary is gone */
		w->move_status = r->status;
		return send_head(w, P_FINAL, req);
	case P_FINAL:
		if (r->transport == RETRY_T_OK && r->status >= 200 &&
		    r->status <= 299 && r->has_length &&
		    r->content_length != w->t.size) {
			upstream_outcome(&tmp, RETRY_NEVER, r->status, "the "
			    "object at the destination has %llu bytes, not "
			    "%llu", (unsigned long long)r->content_length,
			    (unsigned long long)w->t.size);
			return finish(w, &tmp, req, o);
		}
		/* The MOVE succeeded: delivered even if this HEAD failed. */
		upstream_outcome(&tmp, RETRY_DONE, w->move_status,
		    "delivered");
		util_strlcpy(tmp.etag, r->etag, sizeof(tmp.etag));
		return finish(w, &tmp, req, o);
	case P_CLEAN:
		*o = w->saved;
		return UPSTREAM_DONE;
	}
	upstream_outcome(o, RETRY_NEVER, 0, "internal error: unexpected "
	    "WebDAV state");
	return UPSTREAM_DONE;
}

const struct upstream_ops upstream_webdav_ops = {
	"webdav",
	webdav_start,
	webdav_next,
	webdav_free,
};
