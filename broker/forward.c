/*
 * forward — see forward.h.
 *
 * Structure:
 *   - items: one per transfer waiting for or in delivery, in FIFO order;
 *   - services: one per service id seen, with its running count and its
 *     circuit breaker;
 *   - an attempt: the connector's state machine plus the libcurl easy
 *     handle of its current request; requests of one attempt run one after
 *     the other;
 *   - the libcurl multi handle, driven by libevent: curl tells us which
 *     sockets to watch (sock_cb) and when to call it back (timer_cb); we
 *     tell it what happened (curl_multi_socket_action) and collect finished
 *     requests (check_multi_info).
 *
 * Every connection is new (no reuse between requests, no TLS session
 * resumption), so every request proves the upstream's certificate again
 * and the SPKI hash audited for an attempt is the one its connections
 * actually presented. The cost is a handshake per request, small next to
 * a file transfer.
 *
 * State changes go through commit jobs; each job's done callback continues
 * the item's story. An item has at most one job or one request outstanding
 * at a time, so it is never freed under a pending callback.
 */
#include "broker/forward.h"
#include "broker/approvals.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/config.h"
#include "broker/credentials.h"
#include "broker/fwdqueue.h"
#include "broker/log.h"
#include "broker/pathtmpl.h"
#include "broker/reconcile.h"
#include "broker/retry.h"
#include "broker/spool.h"
#include "broker/store.h"
#include "broker/upstream.h"
#include "broker/upstream_s3.h"
#include "broker/upstream_webdav.h"
#include "lib/util.h"
#include "policy/policy.h"

#include <errno.h>
#include <inttypes.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/queue.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <libxml/parser.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

#define SOFTWARE "sekishod/0.1.0"
#define SWEEP_INTERVAL 60		/* seconds between retention sweeps */
#define HASH_SLICE (1u << 20)		/* bytes hashed per loop turn */
#define UPLOAD_BUFFER (2 * 1024 * 1024)	/* libcurl's largest */
#define MAX_RETRY_AFTER_MS (3600ull * 1000)
#define JOB_RETRY_MS 5000		/* after a failed state commit */
#define MAX_PINS_TEXT 4096

enum item_state {
	I_WAITING,			/* in the queue, due at due_ms */
	I_BUSY,				/* a job or an attempt is running */
	I_DONE				/* finished; freed by its last job */
};

struct fwd_service {
	TAILQ_ENTRY(fwd_service) entry;
	char id[POLICY_ID_MAX + 1];
	unsigned active;
	struct retry_circuit circuit;
};
TAILQ_HEAD(fwd_service_list, fwd_service);

struct fwd_attempt;

struct fwd_item {
	TAILQ_ENTRY(fwd_item) entry;
	struct forwarder *f;
	struct transfer t;		/* snapshot of the row */
	enum item_state state;
	uint64_t due_ms;		/* monotonic */
	struct fwd_attempt *a;
};
TAILQ_HEAD(fwd_item_list, fwd_item);

struct fwd_sock {
	struct event *ev;
};

struct forwarder {
	struct broker *b;
	CURLM *multi;
	struct event *curl_timer;
	struct event *sched;
	struct event *sweep;
	struct fwd_item_list items;
	struct fwd_service_list services;
	size_t nitems;
	int stopping;
	int sweeping;
	struct fwdqueue *requeue;	/* stored, queue commit failed */
	unsigned test_fail_queue;	/* test hook: queue commits to fail
					   (commit thread only) */
};

struct fwd_attempt {
	struct fwd_item *it;
	struct fwd_service *svc;
	struct config_delivery d;	/* proxy points into the config */
	const struct upstream_ops *ops;
	void *conn;
	struct upstream_target target;
	struct credentials cred;
	int plain_http;			/* endpoint is http:// (local demo) */
	char ca[PATH_MAX];
	char pins[MAX_PINS_TEXT];
	char url[UPSTREAM_URL_MAX];	/* the object's URL, for the audit */
	char prep_error[256];		/* set: the attempt fails at once */
	enum retry_transport prep_transport;

	/* current request */
	struct upstream_request req;
	struct upstream_response resp;
	CURL *easy;
	struct curl_slist *hdrs;
	char curl_err[CURL_ERROR_SIZE];
	char *body;
	size_t bodylen;
	EVP_MD_CTX *sent_md, *body_md;
	uint64_t body_sent;
	char local_error[200];
	int spool_read_failed;		/* a read of the spool copy failed */
	int fd;
	unsigned nreq;

	/* hashing a range (UPSTREAM_HASH) */
	struct event *hash_ev;
	uint64_t hash_pos;

	/* results over the attempt */
	char spki[UTIL_SHA256_HEX + 1];
	char peer_ip[64];
	char last_step[16];
	uint64_t bytes;
	uint64_t retry_after_ms;
	uint64_t start_ms;
	long main_status;
};

enum fjob_kind {
	FJ_QUEUE, FJ_BEGIN, FJ_NOTE, FJ_END, FJ_LOAD, FJ_SWEEP, FJ_RELEASE,
	FJ_VERIFY
};

struct fjob {
	struct commit_job job;
	enum fjob_kind kind;
	struct forwarder *f;
	struct fwd_item *it;
	char id[UTIL_ID_LEN + 1];
	/* QUEUE: the row after queueing; BEGIN: the destination */
	struct transfer t;
	char destination[STORE_MAX_DEST + 1];
	char blocked[256];		/* BEGIN: why approvals stop it */
	/* BEGIN: the open upload an earlier attempt left ("" none);
	 * NOTE: the upload to record */
	char upload_url[STORE_MAX_DEST + 1];
	char upload_id[STORE_MAX_UPLOAD_ID + 1];
	/* END */
	char state[16];
	unsigned status;
	char etag[STORE_MAX_TAG + 1];
	char version[STORE_MAX_TAG + 1];
	char spki[UTIL_SHA256_HEX + 1];
	uint64_t bytes, duration_ms;
	int64_t next_attempt_at;
	int64_t spool_until;
	char last_error[256];
	char error[256];
	int set_error;
	uint64_t wait_ms;
	struct auditrec rec[2];
	size_t nrec;
	/* LOAD */
	struct transfer *rows;
	size_t nrows, cap;
	size_t ninterrupted;
	/* SWEEP / RELEASE */
	char (*ids)[UTIL_ID_LEN + 1];
	size_t nids, idcap;
	/* QUEUE: failed commits before this one; no retry when final */
	unsigned tries;
	int final;
	/* VERIFY: the attempt's outcome, the check's result (-2: not run) */
	struct upstream_outcome outcome;
	int verify_rc;
	char verify_why[200];
	uint64_t verify_ms;
};

static void schedule(struct forwarder *f);
static void attempt_step(struct fwd_attempt *a,
    const struct upstream_response *r);
static void attempt_abandon(struct fwd_attempt *a, uint64_t delay_ms);
static void note_start(struct fwd_attempt *a);
static void attempt_finish(struct fwd_attempt *a,
    const struct upstream_outcome *o);
static int spool_copy_damaged(struct fwd_item *it, int fd, char *why,
    size_t whylen);
static void attempt_decide(struct fwd_attempt *a,
    const struct upstream_outcome *o, const char *damaged);

/* ---- small helpers ------------------------------------------------------- */

static uint64_t
now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

static struct fjob *
fjob_new(struct forwarder *f, enum fjob_kind kind, struct fwd_item *it)
{
	struct fjob *j = calloc(1, sizeof(*j));

	if (j == NULL)
		return NULL;
	j->kind = kind;
	j->f = f;
	j->it = it;
	if (it != NULL)
		util_strlcpy(j->id, it->t.id, sizeof(j->id));
	return j;
}

static void
fjob_free(struct fjob *j)
{
	free(j->rows);
	free(j->ids);
	free(j);
}

static void
submit(struct forwarder *f, struct fjob *j,
    int (*work)(struct commit_job *, struct commit_env *),
    void (*done)(struct commit_job *, int))
{
	j->job.work = work;
	j->job.done = done;
	j->job.arg = j;
	committer_submit(f->b->committer, &j->job);
}

static int
append_records(struct fjob *j, struct commit_env *env)
{
	size_t i;

	for (i = 0; i < j->nrec; i++)
		if (auditrec_append(&j->rec[i], env->audit, time(NULL),
		    j->job.err, sizeof(j->job.err)) != 0)
			return -1;
	return 0;
}

static struct fwd_service *
service_get(struct forwarder *f, const char *id)
{
	struct fwd_service *s;

	TAILQ_FOREACH(s, &f->services, entry)
		if (strcmp(s->id, id) == 0)
			return s;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	util_strlcpy(s->id, id, sizeof(s->id));
	retry_circuit_init(&s->circuit);
	TAILQ_INSERT_TAIL(&f->services, s, entry);
	return s;
}

static void
item_free(struct forwarder *f, struct fwd_item *it)
{
	TAILQ_REMOVE(&f->items, it, entry);
	f->nitems--;
	free(it);
}

static struct fwd_item *
item_find(struct forwarder *f, const char *id)
{
	struct fwd_item *it;

	TAILQ_FOREACH(it, &f->items, entry)
		if (strcmp(it->t.id, id) == 0)
			return it;
	return NULL;
}

static struct fwd_item *
item_add(struct forwarder *f, const struct transfer *t)
{
	struct fwd_item *it;
	int64_t now = (int64_t)time(NULL);

	if ((it = item_find(f, t->id)) != NULL)
		return it;
	if ((it = calloc(1, sizeof(*it))) == NULL) {
		log_kv("error", "forward", "transfer=%s reason=\"out of "
		    "memory; delivery resumes at the next start\"", t->id);
		return NULL;
	}
	it->f = f;
	it->t = *t;
	it->state = I_WAITING;
	it->due_ms = now_ms();
	if (t->next_attempt_at > now)
		it->due_ms += (uint64_t)(t->next_attempt_at - now) * 1000;
	TAILQ_INSERT_TAIL(&f->items, it, entry);
	f->nitems++;
	return it;
}

/* ---- curl multi <-> libevent -------------------------------------------- */

static void check_multi_info(struct forwarder *f);

static void
on_socket(evutil_socket_t fd, short what, void *arg)
{
	struct forwarder *f = arg;
	int running = 0, action = 0;

	if (what & EV_READ)
		action |= CURL_CSELECT_IN;
	if (what & EV_WRITE)
		action |= CURL_CSELECT_OUT;
	curl_multi_socket_action(f->multi, fd, action, &running);
	check_multi_info(f);
}

static void
on_curl_timer(evutil_socket_t fd, short what, void *arg)
{
	struct forwarder *f = arg;
	int running = 0;

	(void)fd;
	(void)what;
	curl_multi_socket_action(f->multi, CURL_SOCKET_TIMEOUT, 0, &running);
	check_multi_info(f);
}

static int
sock_cb(CURL *e, curl_socket_t s, int what, void *userp, void *socketp)
{
	struct forwarder *f = userp;
	struct fwd_sock *fs = socketp;
	short kind;

	(void)e;
	if (what == CURL_POLL_REMOVE) {
		if (fs != NULL) {
			if (fs->ev != NULL)
				event_free(fs->ev);
			free(fs);
		}
		curl_multi_assign(f->multi, s, NULL);
		return 0;
	}
	if (fs == NULL) {
		if ((fs = calloc(1, sizeof(*fs))) == NULL)
			return -1;
		curl_multi_assign(f->multi, s, fs);
	} else if (fs->ev != NULL) {
		event_free(fs->ev);
		fs->ev = NULL;
	}
	kind = EV_PERSIST;
	if (what & CURL_POLL_IN)
		kind |= EV_READ;
	if (what & CURL_POLL_OUT)
		kind |= EV_WRITE;
	if ((fs->ev = event_new(f->b->base, s, kind, on_socket, f)) == NULL ||
	    event_add(fs->ev, NULL) != 0)
		return -1;
	return 0;
}

static int
timer_cb(CURLM *m, long timeout_ms, void *userp)
{
	struct forwarder *f = userp;
	struct timeval tv;

	(void)m;
	if (timeout_ms < 0) {
		evtimer_del(f->curl_timer);
		return 0;
	}
	tv.tv_sec = timeout_ms / 1000;
	tv.tv_usec = (timeout_ms % 1000) * 1000;
	return evtimer_add(f->curl_timer, &tv) == 0 ? 0 : -1;
}

/* ---- one HTTP request --------------------------------------------------- */

static size_t
read_cb(char *buf, size_t size, size_t n, void *arg)
{
	struct fwd_attempt *a = arg;
	uint64_t left = a->req.length - a->body_sent;
	size_t want = size * n;
	ssize_t r;

	if (want > left)
		want = (size_t)left;
	if (want == 0)
		return 0;
	do
		r = pread(a->fd, buf, want, (off_t)(a->req.offset +
		    a->body_sent));
	while (r < 0 && errno == EINTR);
	if (r <= 0) {
		snprintf(a->local_error, sizeof(a->local_error), "reading the "
		    "spool file: %s", r < 0 ? strerror(errno) :
		    "it is shorter than the transfer");
		a->spool_read_failed = 1;
		return CURL_READFUNC_ABORT;
	}
	EVP_DigestUpdate(a->sent_md, buf, (size_t)r);
	a->body_sent += (uint64_t)r;
	return (size_t)r;
}

/* curl rewinds a body it must send again (after a 100-continue refusal on
 * a reused connection, for instance): start over and hash afresh. */
static int
seek_cb(void *arg, curl_off_t off, int origin)
{
	struct fwd_attempt *a = arg;

	if (origin != SEEK_SET || off != 0)
		return CURL_SEEKFUNC_CANTSEEK;
	a->body_sent = 0;
	EVP_DigestInit_ex(a->sent_md, EVP_sha256(), NULL);
	return CURL_SEEKFUNC_OK;
}

static size_t
write_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fwd_attempt *a = arg;
	size_t len = size * n, room;

	if (a->req.hash_body) {
		EVP_DigestUpdate(a->body_md, p, len);
		a->resp.body_bytes += len;
	}
	if (a->req.keep_body) {
		room = UPSTREAM_BODY_MAX - a->bodylen;
		if (len > room)
			a->resp.body_truncated = 1;
		if (a->body == NULL &&
		    (a->body = malloc(UPSTREAM_BODY_MAX + 1)) == NULL)
			return 0;
		memcpy(a->body + a->bodylen, p, len < room ? len : room);
		a->bodylen += len < room ? len : room;
		a->body[a->bodylen] = '\0';
	}
	return len;
}

static void
header_value(const char *v, size_t len, char *out, size_t outlen)
{
	while (len > 0 && (*v == ' ' || *v == '\t')) {
		v++;
		len--;
	}
	while (len > 0 && (v[len - 1] == '\r' || v[len - 1] == '\n' ||
	    v[len - 1] == ' ' || v[len - 1] == '\t'))
		len--;
	if (len >= outlen)
		len = outlen - 1;
	memcpy(out, v, len);
	out[len] = '\0';
}

static size_t
header_cb(char *p, size_t size, size_t n, void *arg)
{
	struct fwd_attempt *a = arg;
	struct upstream_response *r = &a->resp;
	size_t len = size * n, klen;
	const char *colon;
	char num[32];

	/* A new status line (100 Continue, a proxy's CONNECT answer, then
	 * the real one): only the last response's headers count. */
	if (len >= 5 && strncmp(p, "HTTP/", 5) == 0) {
		r->etag[0] = r->version_id[0] = r->meta_sha256[0] = '\0';
		r->has_length = 0;
		return len;
	}
	if ((colon = memchr(p, ':', len)) == NULL)
		return len;
	klen = (size_t)(colon - p);
#define HDR(name) (klen == strlen(name) && strncasecmp(p, (name), klen) == 0)
	if (HDR("etag"))
		header_value(colon + 1, len - klen - 1, r->etag,
		    sizeof(r->etag));
	else if (HDR("x-amz-version-id"))
		header_value(colon + 1, len - klen - 1, r->version_id,
		    sizeof(r->version_id));
	else if (HDR("x-amz-meta-sekisho-sha256"))
		header_value(colon + 1, len - klen - 1, r->meta_sha256,
		    sizeof(r->meta_sha256));
	else if (HDR("content-length")) {
		header_value(colon + 1, len - klen - 1, num, sizeof(num));
		if (num[0] != '\0' && strspn(num, "0123456789") ==
		    strlen(num) && strlen(num) <= 19) {
			r->content_length = strtoull(num, NULL, 10);
			r->has_length = 1;
		}
	}
#undef HDR
	return len;
}

/* The SPKI of the certificate the upstream presents, whatever the
 * verification's verdict (a refused key is worth auditing too). */
static int
verify_cb(int ok, X509_STORE_CTX *x)
{
	SSL *ssl = X509_STORE_CTX_get_ex_data(x,
	    SSL_get_ex_data_X509_STORE_CTX_idx());
	struct fwd_attempt *a;
	unsigned char *der = NULL, md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	X509 *leaf;
	int len;

	if (ssl == NULL ||
	    (a = SSL_CTX_get_app_data(SSL_get_SSL_CTX(ssl))) == NULL ||
	    (leaf = X509_STORE_CTX_get0_cert(x)) == NULL)
		return ok;
	if ((len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(leaf), &der)) > 0 &&
	    EVP_Digest(der, (size_t)len, md, &mdlen, EVP_sha256(), NULL) == 1 &&
	    mdlen == UTIL_SHA256_LEN)
		util_hex(md, mdlen, a->spki);
	OPENSSL_free(der);
	return ok;
}

static CURLcode
ssl_ctx_cb(CURL *e, void *sslctx, void *arg)
{
	SSL_CTX *ctx = sslctx;

	(void)e;
	SSL_CTX_set_app_data(ctx, arg);
	SSL_CTX_set_verify(ctx, SSL_CTX_get_verify_mode(ctx), verify_cb);
	return CURLE_OK;
}

static enum retry_transport
classify_curl(CURLcode rc)
{
	switch (rc) {
	case CURLE_OK:
		return RETRY_T_OK;
	case CURLE_COULDNT_RESOLVE_HOST:
	case CURLE_COULDNT_RESOLVE_PROXY:
	case CURLE_COULDNT_CONNECT:
		return RETRY_T_CONNECT;
	case CURLE_OPERATION_TIMEDOUT:
		return RETRY_T_TIMEOUT;
	case CURLE_PEER_FAILED_VERIFICATION:
	case CURLE_SSL_CACERT_BADFILE:
	case CURLE_SSL_ISSUER_ERROR:
	case CURLE_SSL_INVALIDCERTSTATUS:
		return RETRY_T_TLS_VERIFY;
	case CURLE_SSL_PINNEDPUBKEYNOTMATCH:
		return RETRY_T_PIN;
	case CURLE_READ_ERROR:
	case CURLE_ABORTED_BY_CALLBACK:
	case CURLE_OUT_OF_MEMORY:
	case CURLE_WRITE_ERROR:
		return RETRY_T_LOCAL;
	default:
		/* Resets, EOFs, handshake and proxy failures: the network. */
		return RETRY_T_BROKEN;
	}
}

static void
request_cleanup(struct fwd_attempt *a)
{
	if (a->easy != NULL) {
		curl_multi_remove_handle(a->it->f->multi, a->easy);
		curl_easy_cleanup(a->easy);
		a->easy = NULL;
	}
	curl_slist_free_all(a->hdrs);
	a->hdrs = NULL;
	free(a->body);
	a->body = NULL;
	a->bodylen = 0;
}

/* Sends a->req. On a local failure, the step gets a LOCAL response. */
static void
request_send(struct fwd_attempt *a)
{
	struct forwarder *f = a->it->f;
	struct upstream_request *q = &a->req;
	struct curl_slist *h;
	CURL *e;
	char aws[160];
	size_t i;
	int ok = 1;

	memset(&a->resp, 0, sizeof(a->resp));
	a->curl_err[0] = a->local_error[0] = '\0';
	a->body_sent = 0;
	if (++a->nreq > UPSTREAM_MAX_STEPS || (e = curl_easy_init()) == NULL) {
		a->resp.transport = RETRY_T_LOCAL;
		util_strlcpy(a->resp.error, a->nreq > UPSTREAM_MAX_STEPS ?
		    "too many requests in one attempt" : "out of memory",
		    sizeof(a->resp.error));
		attempt_step(a, &a->resp);
		return;
	}
	a->easy = e;
	if (!q->cleanup)
		util_strlcpy(a->last_step, q->step, sizeof(a->last_step));
	EVP_DigestInit_ex(a->sent_md, EVP_sha256(), NULL);
	EVP_DigestInit_ex(a->body_md, EVP_sha256(), NULL);

#define SET(opt, val) do { if (curl_easy_setopt(e, (opt), (val)) != CURLE_OK) \
	ok = 0; } while (0)
	SET(CURLOPT_URL, q->url);
	SET(CURLOPT_PRIVATE, a);
	SET(CURLOPT_ERRORBUFFER, a->curl_err);
	SET(CURLOPT_NOSIGNAL, 1L);
	SET(CURLOPT_USERAGENT, SOFTWARE);
	SET(CURLOPT_PROTOCOLS_STR, a->plain_http ? "http,https" : "https");
	SET(CURLOPT_FOLLOWLOCATION, 0L);
	SET(CURLOPT_FRESH_CONNECT, 1L);
	SET(CURLOPT_FORBID_REUSE, 1L);
	SET(CURLOPT_SSL_SESSIONID_CACHE, 0L);
	SET(CURLOPT_TCP_KEEPALIVE, 1L);
	SET(CURLOPT_CONNECTTIMEOUT, (long)a->d.connect_timeout);
	SET(CURLOPT_LOW_SPEED_LIMIT, 1L);
	SET(CURLOPT_LOW_SPEED_TIME, (long)a->d.stall_timeout);
	SET(CURLOPT_UPLOAD_BUFFERSIZE, (long)UPLOAD_BUFFER);
	/* Trust: the chain and the host name, always. */
	SET(CURLOPT_SSL_VERIFYPEER, 1L);
	SET(CURLOPT_SSL_VERIFYHOST, 2L);
	SET(CURLOPT_SSLVERSION, (long)CURL_SSLVERSION_TLSv1_2);
	if (a->ca[0] != '\0') {
		/* Only this CA: no system store next to it. */
		SET(CURLOPT_CAINFO, a->ca);
		SET(CURLOPT_CAPATH, (char *)NULL);
	}
	if (a->pins[0] != '\0')
		SET(CURLOPT_PINNEDPUBLICKEY, a->pins);
	SET(CURLOPT_SSL_CTX_FUNCTION, ssl_ctx_cb);
	SET(CURLOPT_SSL_CTX_DATA, a);
	/* An explicit empty proxy also keeps *_proxy variables out. */
	SET(CURLOPT_PROXY, a->d.proxy != NULL ? a->d.proxy : "");
	if (a->d.proxy != NULL)
		SET(CURLOPT_HTTPPROXYTUNNEL, 1L);
	SET(CURLOPT_HEADERFUNCTION, header_cb);
	SET(CURLOPT_HEADERDATA, a);
	SET(CURLOPT_WRITEFUNCTION, write_cb);
	SET(CURLOPT_WRITEDATA, a);

	switch (a->cred.kind) {
	case CREDENTIALS_BEARER:
		SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BEARER);
		SET(CURLOPT_XOAUTH2_BEARER, a->cred.secret);
		break;
	case CREDENTIALS_BASIC:
		SET(CURLOPT_HTTPAUTH, (long)CURLAUTH_BASIC);
		SET(CURLOPT_USERNAME, a->cred.user);
		SET(CURLOPT_PASSWORD, a->cred.secret);
		break;
	case CREDENTIALS_AWS:
		snprintf(aws, sizeof(aws), "aws:amz:%s:s3",
		    a->target.region);
		SET(CURLOPT_AWS_SIGV4, aws);
		SET(CURLOPT_USERNAME, a->cred.user);
		SET(CURLOPT_PASSWORD, a->cred.secret);
		break;
	case CREDENTIALS_NONE:
		break;
	}

	if (strcmp(q->method, "HEAD") == 0)
		SET(CURLOPT_NOBODY, 1L);
	else if (strcmp(q->method, "GET") == 0)
		SET(CURLOPT_HTTPGET, 1L);
	else if (q->body == UPSTREAM_BODY_SPOOL) {
		SET(CURLOPT_UPLOAD, 1L);
		SET(CURLOPT_INFILESIZE_LARGE, (curl_off_t)q->length);
		SET(CURLOPT_READFUNCTION, read_cb);
		SET(CURLOPT_READDATA, a);
		SET(CURLOPT_SEEKFUNCTION, seek_cb);
		SET(CURLOPT_SEEKDATA, a);
		if (strcmp(q->method, "PUT") != 0)
			SET(CURLOPT_CUSTOMREQUEST, q->method);
	} else if (q->body == UPSTREAM_BODY_MEMORY) {
		SET(CURLOPT_POST, 1L);
		SET(CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)q->memlen);
		SET(CURLOPT_POSTFIELDS, q->mem);
		if (strcmp(q->method, "POST") != 0)
			SET(CURLOPT_CUSTOMREQUEST, q->method);
	} else
		SET(CURLOPT_CUSTOMREQUEST, q->method);
	for (i = 0; i < q->nheaders; i++) {
		if ((h = curl_slist_append(a->hdrs, q->headers[i])) == NULL) {
			ok = 0;
			break;
		}
		a->hdrs = h;
	}
	/* No header may be blanked out here (such as "Expect:" to skip
	 * 100-continue): libcurl's SigV4 would sign it, send nothing, and
	 * the signature would not match what arrives. */
	SET(CURLOPT_HTTPHEADER, a->hdrs);
#undef SET
	if (!ok || curl_multi_add_handle(f->multi, e) != CURLM_OK) {
		request_cleanup(a);
		memset(&a->resp, 0, sizeof(a->resp));
		a->resp.transport = RETRY_T_LOCAL;
		util_strlcpy(a->resp.error, "could not set up the request",
		    sizeof(a->resp.error));
		attempt_step(a, &a->resp);
	}
}

/* A request finished: fill the response, clean up, run the next step. */
static void
request_done(struct fwd_attempt *a, CURLcode rc)
{
	struct upstream_response *r = &a->resp;
	curl_off_t up = 0, ra = 0;
	unsigned char md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	long status = 0;
	char *ip = NULL;

	curl_easy_getinfo(a->easy, CURLINFO_RESPONSE_CODE, &status);
	curl_easy_getinfo(a->easy, CURLINFO_SIZE_UPLOAD_T, &up);
	if (curl_easy_getinfo(a->easy, CURLINFO_PRIMARY_IP, &ip) == CURLE_OK &&
	    ip != NULL && ip[0] != '\0')
		util_strlcpy(a->peer_ip, ip, sizeof(a->peer_ip));
	if (curl_easy_getinfo(a->easy, CURLINFO_RETRY_AFTER, &ra) ==
	    CURLE_OK && ra > 0)
		a->retry_after_ms = (uint64_t)ra * 1000;
	if (up > 0)
		a->bytes += (uint64_t)up;
	r->transport = classify_curl(rc);
	if (rc != CURLE_OK) {
		if (a->local_error[0] != '\0') {
			r->transport = RETRY_T_LOCAL;
			util_strlcpy(r->error, a->local_error, sizeof(r->error));
		} else
			snprintf(r->error, sizeof(r->error), "%s",
			    a->curl_err[0] != '\0' ? a->curl_err :
			    curl_easy_strerror(rc));
		status = 0;
	}
	r->status = status;
	r->body_sent = a->body_sent;
	if (a->req.main && status != 0)
		a->main_status = status;
	if (a->req.body == UPSTREAM_BODY_SPOOL &&
	    a->body_sent == a->req.length &&
	    EVP_DigestFinal_ex(a->sent_md, md, &mdlen) == 1 &&
	    mdlen == UTIL_SHA256_LEN) {
		memcpy(r->sent_sha256, md, mdlen);
		r->sent_hashed = 1;
	}
	if (a->req.hash_body && EVP_DigestFinal_ex(a->body_md, md, &mdlen) ==
	    1 && mdlen == UTIL_SHA256_LEN)
		memcpy(r->body_sha256, md, mdlen);
	r->body = a->body;
	r->bodylen = a->bodylen;
	curl_multi_remove_handle(a->it->f->multi, a->easy);
	curl_easy_cleanup(a->easy);
	a->easy = NULL;
	curl_slist_free_all(a->hdrs);
	a->hdrs = NULL;
	attempt_step(a, r);
}

static void
check_multi_info(struct forwarder *f)
{
	struct fwd_attempt *a;
	CURLMsg *msg;
	int left;

	while ((msg = curl_multi_info_read(f->multi, &left)) != NULL) {
		if (msg->msg != CURLMSG_DONE)
			continue;
		a = NULL;
		curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE,
		    (char **)&a);
		if (a != NULL && a->easy == msg->easy_handle)
			request_done(a, msg->data.result);
	}
}

/* ---- hashing a range of the spool file (S3 parts) ---------------------- */

static void
on_hash(evutil_socket_t fd, short what, void *arg)
{
	struct fwd_attempt *a = arg;
	static const struct timeval now = { 0, 0 };
	unsigned char buf[64 * 1024], md[EVP_MAX_MD_SIZE];
	unsigned int mdlen = 0;
	uint64_t end = a->req.offset + a->req.length, done = 0;
	ssize_t r;

	(void)fd;
	(void)what;
	while (a->hash_pos < end && done < HASH_SLICE) {
		size_t want = end - a->hash_pos < sizeof(buf) ?
		    (size_t)(end - a->hash_pos) : sizeof(buf);

		do
			r = pread(a->fd, buf, want, (off_t)a->hash_pos);
		while (r < 0 && errno == EINTR);
		if (r <= 0) {
			a->spool_read_failed = 1;
			memset(&a->resp, 0, sizeof(a->resp));
			attempt_step(a, &a->resp);	/* hashed == 0 */
			return;
		}
		EVP_DigestUpdate(a->body_md, buf, (size_t)r);
		a->hash_pos += (uint64_t)r;
		done += (uint64_t)r;
	}
	if (a->hash_pos < end) {
		/* Let the loop serve sockets before the next slice. */
		evtimer_add(a->hash_ev, &now);
		return;
	}
	memset(&a->resp, 0, sizeof(a->resp));
	if (EVP_DigestFinal_ex(a->body_md, md, &mdlen) == 1 &&
	    mdlen == UTIL_SHA256_LEN) {
		memcpy(a->resp.range_sha256, md, mdlen);
		a->resp.hashed = 1;
	}
	attempt_step(a, &a->resp);
}

static void
hash_start(struct fwd_attempt *a)
{
	static const struct timeval now = { 0, 0 };

	if (a->hash_ev == NULL && (a->hash_ev = evtimer_new(a->it->f->b->base,
	    on_hash, a)) == NULL) {
		memset(&a->resp, 0, sizeof(a->resp));
		attempt_step(a, &a->resp);
		return;
	}
	EVP_DigestInit_ex(a->body_md, EVP_sha256(), NULL);
	a->hash_pos = a->req.offset;
	evtimer_add(a->hash_ev, &now);
}

/* ---- attempts ------------------------------------------------------------------ */

static void
attempt_free(struct fwd_attempt *a)
{
	if (a == NULL)
		return;
	request_cleanup(a);
	if (a->hash_ev != NULL)
		event_free(a->hash_ev);
	if (a->conn != NULL)
		a->ops->free(a->conn);
	if (a->fd != -1)
		close(a->fd);
	EVP_MD_CTX_free(a->sent_md);
	EVP_MD_CTX_free(a->body_md);
	credentials_clear(&a->cred);
	explicit_bzero(a->target.s3_token, sizeof(a->target.s3_token));
	free(a);
}

static int
work_note(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;

	return store_upload_set(env->store, j->id, j->upload_url, j->upload_id,
	    time(NULL), cj->err, sizeof(cj->err));
}

static void
done_note(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;
	struct fwd_attempt *a = j->it->a;
	struct upstream_response r;

	if (status != 0)
		log_kv("error", "forward", "transfer=%s reason=\"could not "
		    "record the upload id: %s\"", j->id, cj->err);
	if (j->f->stopping) {
		/* Recorded or not, the next start takes it from here. */
		fjob_free(j);
		attempt_abandon(a, 0);
		return;
	}
	fjob_free(j);
	memset(&r, 0, sizeof(r));
	r.transport = RETRY_T_OK;
	r.noted = status == 0;
	attempt_step(a, &r);
}

/* UPSTREAM_NOTE: the store learns of an open upload before it is used. */
static void
note_start(struct fwd_attempt *a)
{
	struct fjob *j;
	struct upstream_response r;

	if ((j = fjob_new(a->it->f, FJ_NOTE, a->it)) == NULL ||
	    util_strlcpy(j->upload_url, a->req.url, sizeof(j->upload_url)) !=
	    0 || util_strlcpy(j->upload_id, a->req.note_upload_id,
	    sizeof(j->upload_id)) != 0) {
		free(j);
		memset(&r, 0, sizeof(r));
		r.transport = RETRY_T_OK;	/* r.noted = 0 */
		attempt_step(a, &r);
		return;
	}
	submit(a->it->f, j, work_note, done_note);
}

static void
attempt_step(struct fwd_attempt *a, const struct upstream_response *r)
{
	struct upstream_outcome o;

	enum upstream_next nx;

	memset(&o, 0, sizeof(o));
	nx = a->ops->next(a->conn, r, &a->req, &o);
	/* The response body lives only for that call. */
	free(a->body);
	a->body = NULL;
	a->bodylen = 0;
	switch (nx) {
	case UPSTREAM_SEND:
		request_send(a);
		return;
	case UPSTREAM_HASH:
		hash_start(a);
		return;
	case UPSTREAM_NOTE:
		note_start(a);
		return;
	case UPSTREAM_DONE:
		attempt_finish(a, &o);
		return;
	}
}

/* Joins the service's pins into curl's "sha256//a;sha256//b" form. */
static int
join_pins(const struct policy_service *s, char *out, size_t outlen,
    char *err, size_t errlen)
{
	size_t i, len = 0;
	int n;

	out[0] = '\0';
	for (i = 0; i < s->npins; i++) {
		const char *p = s->pins[i];
		uint8_t raw[64];
		int dl;

		if (strncmp(p, "sha256//", 8) != 0 || strlen(p + 8) != 44 ||
		    (dl = EVP_DecodeBlock(raw, (const unsigned char *)p + 8,
		    44)) != 33 || p[8 + 43] != '=')
			return util_err(err, errlen, "pins[%zu] of service %s "
			    "is not sha256//<base64 of 32 bytes>", i, s->id);
		n = snprintf(out + len, outlen - len, "%s%s", i > 0 ? ";" : "",
		    p);
		if (n < 0 || (size_t)n >= outlen - len)
			return util_err(err, errlen, "too many pins for "
			    "service %s", s->id);
		len += (size_t)n;
	}
	return 0;
}

/* A service's CA file: as written when absolute, else relative to the
 * register's directory (the register is where it was written). "" when
 * the service names none. -1 if the path does not fit. */
static int
service_ca(const struct config *cfg, const struct policy_service *s,
    char *out, size_t outlen)
{
	const char *slash;
	int n;

	out[0] = '\0';
	if (s->ca == NULL || s->ca[0] == '\0')
		return 0;
	if (s->ca[0] == '/' || (slash = strrchr(cfg->register_path,
	    '/')) == NULL)
		return util_strlcpy(out, s->ca, outlen);
	n = snprintf(out, outlen, "%.*s/%s",
	    (int)(slash - cfg->register_path), cfg->register_path, s->ca);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

/* Everything that can be checked without a network, for one service;
 * fills a (when not NULL) with the connection settings. */
static int
service_check(const struct config *cfg, const struct policy_service *s,
    struct credentials *cred, char *pins, size_t pinslen, char *err,
    size_t errlen)
{
	struct credentials tmp;
	char pbuf[MAX_PINS_TEXT], ca[PATH_MAX];
	const char *host;

	if (s->endpoint == NULL || (strncmp(s->endpoint, "https://", 8) != 0 &&
	    strncmp(s->endpoint, "http://", 7) != 0))
		return util_err(err, errlen, "service %s: endpoint must be an "
		    "https URL", s->id);
	host = s->endpoint + (s->endpoint[4] == 's' ? 8 : 7);
	if (strpbrk(s->endpoint, "?#") != NULL || host[0] == '/' ||
	    host[0] == '\0')
		return util_err(err, errlen, "service %s: endpoint must be "
		    "scheme://host[:port][/path] without query or fragment",
		    s->id);
	if (s->connector == POLICY_CONNECTOR_S3 &&
	    (s->region == NULL || s->region[0] == '\0' ||
	    !util_is_token(s->region, 63)))
		return util_err(err, errlen, "service %s: an s3 service needs "
		    "a region (for example ap-northeast-1)", s->id);
	if (s->bucket != NULL && s->bucket[0] != '\0' &&
	    (strlen(s->bucket) > 63 || strspn(s->bucket,
	    "abcdefghijklmnopqrstuvwxyz0123456789.-") != strlen(s->bucket)))
		return util_err(err, errlen, "service %s: bucket '%s' is not "
		    "an S3 bucket name", s->id, s->bucket);
	if (service_ca(cfg, s, ca, sizeof(ca)) != 0)
		return util_err(err, errlen, "service %s: ca path too long",
		    s->id);
	if (ca[0] != '\0' && access(ca, R_OK) != 0)
		return util_err(err, errlen, "service %s: ca %s: %s", s->id,
		    ca, strerror(errno));
	if (join_pins(s, pins != NULL ? pins : pbuf, pins != NULL ? pinslen :
	    sizeof(pbuf), err, errlen) != 0)
		return -1;
	if (cred == NULL)
		cred = &tmp;
	if (s->credentials == NULL || s->credentials[0] == '\0') {
		credentials_clear(cred);
		if (s->connector == POLICY_CONNECTOR_S3)
			return util_err(err, errlen, "service %s: an s3 "
			    "service needs credentials", s->id);
		return 0;
	}
	if (credentials_load(cfg->credentials_dir, s->credentials, cred, err,
	    errlen) != 0)
		return -1;
	if ((s->connector == POLICY_CONNECTOR_S3) !=
	    (cred->kind == CREDENTIALS_AWS)) {
		util_err(err, errlen, "service %s: credentials of type %s do "
		    "not fit a %s service", s->id,
		    credentials_kind_name(cred->kind),
		    s->connector == POLICY_CONNECTOR_S3 ? "s3" : "webdav");
		credentials_clear(cred);
		return -1;
	}
	if (cred == &tmp)
		credentials_clear(&tmp);
	return 0;
}

/* Builds the attempt from the register in force. -1 with a reason:
 * *gone says the interface or service left the register (the transfer
 * fails) rather than a fixable configuration problem (it is retried). */
static int
attempt_prepare(struct fwd_attempt *a, const struct policy_service *s,
    const char *tmpl, char *err, size_t errlen)
{
	struct forwarder *f = a->it->f;
	const struct config *cfg = f->b->cfg;
	const struct transfer *t = &a->it->t;
	struct upstream_target *g = &a->target;
	struct pathtmpl_vars v;

	a->ops = s->connector == POLICY_CONNECTOR_S3 ? &upstream_s3_ops :
	    &upstream_webdav_ops;
	a->plain_http = strncmp(s->endpoint, "http://", 7) == 0;
	if (service_ca(cfg, s, a->ca, sizeof(a->ca)) != 0)
		return util_err(err, errlen, "ca path too long");
	util_strlcpy(g->service, s->id, sizeof(g->service));
	util_strlcpy(g->transfer, t->id, sizeof(g->transfer));
	g->size = t->size;
	/* A retry looks first in case an earlier attempt arrived. S3 also
	 * looks before the first attempt: its PUT replaces an object without
	 * asking (WebDAV's MOVE has Overwrite: F), and a fixed destination
	 * key must never overwrite someone else's file. */
	g->check_existing = t->attempts > 0 ||
	    s->connector == POLICY_CONNECTOR_S3;
	g->multipart_threshold = a->d.multipart_threshold;
	g->part_size = a->d.part_size;
	if (util_unhex(t->sha256, g->sha256, sizeof(g->sha256)) != 0)
		return util_err(err, errlen, "the transfer has no SHA-256");
	if (util_strlcpy(g->endpoint, s->endpoint, sizeof(g->endpoint)) != 0)
		return util_err(err, errlen, "endpoint too long");
	if (s->region != NULL)
		util_strlcpy(g->region, s->region, sizeof(g->region));
	if (s->bucket != NULL)
		util_strlcpy(g->bucket, s->bucket, sizeof(g->bucket));
	memset(&v, 0, sizeof(v));
	v.interface = t->interface;
	v.transfer = t->id;
	v.user = t->user;
	v.dept = t->dept;
	v.name = t->name;
	v.created = (time_t)t->created;
	v.tz = policy_interface_zone(f->b->policy, t->interface);
	if (pathtmpl_expand(tmpl, &v, g->path, sizeof(g->path), err,
	    errlen) != 0)
		return -1;
	{
		char key[PATHTMPL_MAX + 300];

		/* The object's URL, as the audit trail shows it. */
		snprintf(key, sizeof(key), "%s%s%s", g->bucket[0] != '\0' ?
		    "/" : "", g->bucket, g->path);
		if (upstream_url(g->endpoint, key, NULL, a->url,
		    sizeof(a->url)) != 0)
			return util_err(err, errlen, "destination URL too "
			    "long");
	}
	if (service_check(cfg, s, &a->cred, a->pins, sizeof(a->pins), err,
	    errlen) != 0)
		return -1;
	if (a->cred.kind == CREDENTIALS_AWS && a->cred.session_token[0]) {
		g->s3_session_token = 1;
		util_strlcpy(g->s3_token, a->cred.session_token,
		    sizeof(g->s3_token));
	}
	return 0;
}

static void done_begin(struct commit_job *cj, int status);
static int work_begin(struct commit_job *cj, struct commit_env *env);
static void end_transfer(struct fwd_item *it, const char *state,
    const char *reason, struct fwd_attempt *a,
    const struct upstream_outcome *o, uint64_t wait_ms);

/* Starts an attempt for it (state I_WAITING, service resolved). */
static void
attempt_start(struct forwarder *f, struct fwd_item *it,
    struct fwd_service *svc, const struct policy_service *s,
    const char *tmpl)
{
	struct fwd_attempt *a;
	struct fjob *j;
	char err[256];

	if ((a = calloc(1, sizeof(*a))) == NULL ||
	    (a->sent_md = EVP_MD_CTX_new()) == NULL ||
	    (a->body_md = EVP_MD_CTX_new()) == NULL ||
	    (j = fjob_new(f, FJ_BEGIN, it)) == NULL) {
		if (a != NULL) {
			a->fd = -1;
			attempt_free(a);
		}
		retry_circuit_cancel(&svc->circuit);
		it->due_ms = now_ms() + JOB_RETRY_MS;
		return;
	}
	a->fd = -1;
	a->it = it;
	a->svc = svc;
	a->d = *config_delivery_for(f->b->cfg, s->id);
	a->start_ms = now_ms();
	it->a = a;
	it->state = I_BUSY;
	svc->active++;
	if (attempt_prepare(a, s, tmpl, err, sizeof(err)) != 0) {
		/* Counted and audited like any failed attempt, retried
		 * later: an administrator can fix a configuration. */
		util_strlcpy(a->prep_error, err, sizeof(a->prep_error));
		a->prep_transport = RETRY_T_LOCAL;
	}
	util_strlcpy(j->destination, a->url, sizeof(j->destination));
	submit(f, j, work_begin, done_begin);
}

static int
work_begin(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;
	int may;

	/* Held, rejected, or sent under an exception that was revoked or
	 * has expired since: never forwarded (broker/approvals.h). */
	may = approvals_may_forward(env->store, j->id, broker_now(j->f->b),
	    j->blocked, sizeof(j->blocked));
	if (may < 0)
		return util_err(cj->err, sizeof(cj->err), "%s", j->blocked);
	if (may == 0)
		return 0;
	if (store_transfer_attempt(env->store, j->id, j->destination,
	    time(NULL), cj->err, sizeof(cj->err)) != 0)
		return -1;
	if (store_upload_get(env->store, j->id, j->upload_url,
	    sizeof(j->upload_url), j->upload_id, sizeof(j->upload_id), cj->err,
	    sizeof(cj->err)) < 0)
		return -1;
	return 0;
}

/*
 * The upload an earlier attempt left open is aborted only on the endpoint
 * it was made on: after the register moved the service elsewhere, the old
 * host is not one this attempt's trust settings speak for.
 */
static void
stale_upload(struct upstream_target *g, const char *url, const char *id)
{
	size_t n = strlen(g->endpoint);

	while (n > 0 && g->endpoint[n - 1] == '/')
		n--;
	if (id[0] == '\0' || strncmp(url, g->endpoint, n) != 0 ||
	    url[n] != '/')
		return;
	if (util_strlcpy(g->stale_url, url, sizeof(g->stale_url)) != 0 ||
	    util_strlcpy(g->stale_upload_id, id,
	    sizeof(g->stale_upload_id)) != 0)
		g->stale_url[0] = g->stale_upload_id[0] = '\0';
}

static void
attempt_abandon(struct fwd_attempt *a, uint64_t delay_ms)
{
	struct fwd_item *it = a->it;

	a->svc->active--;
	retry_circuit_cancel(&a->svc->circuit);
	it->a = NULL;
	it->state = I_WAITING;
	it->due_ms = now_ms() + delay_ms;
	attempt_free(a);
}

static void
done_begin(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;
	struct forwarder *f = j->f;
	struct fwd_item *it = j->it;
	struct fwd_attempt *a = it->a;
	struct upstream_outcome o;
	char err[256], blocked[256], q[3 * STORE_MAX_UPLOAD_ID + 3];

	util_strlcpy(blocked, j->blocked, sizeof(blocked));
	if (status == 0 && a->ops == &upstream_s3_ops)
		stale_upload(&a->target, j->upload_url, j->upload_id);
	fjob_free(j);
	if (f->stopping) {
		/* The state says forwarding; the next start resumes it. */
		attempt_abandon(a, 0);
		return;
	}
	if (status != 0) {
		log_kv("error", "forward", "transfer=%s reason=\"could not "
		    "record the attempt: %s\"", it->t.id, cj->err);
		attempt_abandon(a, JOB_RETRY_MS);
		schedule(f);
		return;
	}
	memset(&o, 0, sizeof(o));
	if (blocked[0] != '\0') {
		/* Nothing was sent: the transfer ends as failed. */
		log_kv("warn", "forward", "transfer=%s reason=\"%s\"",
		    it->t.id, blocked);
		upstream_outcome(&o, RETRY_NEVER, 0, "%s", blocked);
		o.transport = RETRY_T_LOCAL;
		attempt_finish(a, &o);
		return;
	}
	it->t.attempts++;
	util_strlcpy(it->t.state, STORE_FORWARDING, sizeof(it->t.state));
	if (a->prep_error[0] != '\0') {
		upstream_outcome(&o, RETRY_AGAIN, 0, "%s", a->prep_error);
		o.transport = a->prep_transport;
		attempt_finish(a, &o);
		return;
	}
	if (spool_open_read(f->b->spool, it->t.id, &a->fd, err,
	    sizeof(err)) != 0) {
		/* The stored copy is gone: nothing can ever be sent. */
		upstream_outcome(&o, RETRY_NEVER, 0, "the spool copy cannot be "
		    "read: %s", err);
		o.transport = RETRY_T_LOCAL;
		attempt_finish(a, &o);
		return;
	}
	if (spool_copy_damaged(it, a->fd, err, sizeof(err))) {
		upstream_outcome(&o, RETRY_NEVER, 0, "%s", err);
		o.transport = RETRY_T_LOCAL;
		attempt_finish(a, &o);
		return;
	}
	if ((a->conn = a->ops->start(&a->target, err, sizeof(err))) == NULL) {
		upstream_outcome(&o, RETRY_NEVER, 0, "%s", err);
		o.transport = RETRY_T_LOCAL;
		attempt_finish(a, &o);
		return;
	}
	log_kv("info", "forward", "transfer=%s service=%s attempt=%u "
	    "connector=%s", it->t.id, a->target.service, it->t.attempts,
	    a->ops->name);
	if (a->target.stale_upload_id[0] != '\0')
		log_kv("info", "forward", "transfer=%s abort_upload=%s "
		    "reason=\"an earlier attempt left this multipart upload "
		    "open\"", it->t.id, log_quote(a->target.stale_upload_id, q,
		    sizeof(q)));
	attempt_step(a, NULL);
}

/*
 * The spool copy is immutable once stored: a copy of another size, or whose
 * bytes do not give the transfer's SHA-256, was damaged on disk and no retry
 * can send the file. Such a transfer fails at once, loudly.
 */
static int
spool_copy_damaged(struct fwd_item *it, int fd, char *why, size_t whylen)
{
	struct stat sb;

	if (fstat(fd, &sb) != 0 || (uint64_t)sb.st_size == it->t.size)
		return 0;
	snprintf(why, whylen, "the spool copy is damaged: it is %s than the "
	    "transfer (%lld bytes, %" PRIu64 " expected); it cannot be sent "
	    "and is not retried", (uint64_t)sb.st_size < it->t.size ?
	    "shorter" : "longer", (long long)sb.st_size, it->t.size);
	log_kv("error", "spool_damaged", "transfer=%s reason=\"%s\"",
	    it->t.id, why);
	return 1;
}

/*
 * After an attempt whose bytes from the spool were wrong (a failed or short
 * read, bytes that did not hash as expected): the whole copy is read once
 * to tell damage from a passing fault. Up to the largest transfer, so never
 * on the loop: it runs as a job on the commit thread (it changes nothing
 * there, and is rare: only such failures lead here), and the attempt's
 * decision continues in done_verify.
 */
static int
work_verify(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;
	uint64_t t0 = now_ms();

	j->verify_rc = reconcile_spool_verify(env->spool, j->id, j->t.size,
	    j->t.sha256, j->verify_why, sizeof(j->verify_why));
	j->verify_ms = now_ms() - t0;
	return 0;
}

static void
done_verify(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;
	struct fwd_item *it = j->it;
	struct fwd_attempt *a = it->a;
	char reason[300];
	int damaged = j->verify_rc == 1;

	(void)status;		/* a batch that did not commit: result kept */
	log_kv(damaged ? "error" : "info", "spool_verify", "transfer=%s "
	    "result=%s ms=%" PRIu64, it->t.id, damaged ? "damaged" :
	    j->verify_rc == 0 ? "ok" : j->verify_rc == -2 ? "not_run" :
	    "unreadable", j->verify_ms);
	if (damaged) {
		snprintf(reason, sizeof(reason), "the spool copy is damaged: "
		    "%s; it cannot be sent and is not retried", j->verify_why);
		log_kv("error", "spool_damaged", "transfer=%s reason=\"%s\"",
		    it->t.id, reason);
	}
	attempt_decide(a, &j->outcome, damaged ? reason : NULL);
	fjob_free(j);
}

static void
verify_start(struct fwd_attempt *a, const struct upstream_outcome *o)
{
	struct fwd_item *it = a->it;
	struct fjob *j = fjob_new(it->f, FJ_VERIFY, it);

	if (j == NULL) {
		/* Unchecked: retried like any local failure. */
		attempt_decide(a, o, NULL);
		return;
	}
	j->outcome = *o;
	j->verify_rc = -2;
	j->t.size = it->t.size;
	util_strlcpy(j->t.sha256, it->t.sha256, sizeof(j->t.sha256));
	submit(it->f, j, work_verify, done_verify);
}

/* The attempt ended: decide the transfer's next state. */
static void
attempt_finish(struct fwd_attempt *a, const struct upstream_outcome *o)
{
	struct fwd_item *it = a->it;
	const struct config_delivery *d = &a->d;
	uint64_t now = now_ms();
	int healthy, opened;

	request_cleanup(a);
	if (a->hash_ev != NULL)
		evtimer_del(a->hash_ev);
	if (a->fd != -1) {
		close(a->fd);
		a->fd = -1;
	}
	a->svc->active--;
	/* The circuit hears about the service's health only. */
	if (o->transport == RETRY_T_LOCAL)
		retry_circuit_cancel(&a->svc->circuit);
	else {
		healthy = !retry_counts_against_service(o->transport,
		    o->status);
		opened = retry_circuit_report(&a->svc->circuit, healthy, now,
		    (unsigned)d->circuit_threshold,
		    d->circuit_cooldown * 1000);
		if (opened)
			log_kv("warn", "circuit", "service=%s state=open "
			    "failures=%u cooldown_s=%" PRIu64, a->svc->id,
			    a->svc->circuit.failures,
			    a->svc->circuit.cooldown_ms / 1000);
	}
	if (o->verdict == RETRY_DONE) {
		end_transfer(it, STORE_DELIVERED, NULL, a, o, 0);
		return;
	}
	/* Only a failure that read the spool says anything about the copy:
	 * a configuration error found when preparing, a failed write of the
	 * answer or a lack of memory did not read it. */
	if (o->verdict == RETRY_AGAIN && o->transport == RETRY_T_LOCAL &&
	    (a->spool_read_failed || o->spool_suspect)) {
		verify_start(a, o);
		return;
	}
	attempt_decide(a, o, NULL);
}

/* The rest of attempt_finish, once the copy was checked when it had to be:
 * damaged (its reason) fails the transfer at once. */
static void
attempt_decide(struct fwd_attempt *a, const struct upstream_outcome *o,
    const char *damaged)
{
	struct fwd_item *it = a->it;
	const struct config_delivery *d = &a->d;
	struct retry_policy pol;
	uint64_t wait = 0;
	char reason[300];

	if (damaged != NULL) {
		end_transfer(it, STORE_FAILED, damaged, a, o, 0);
		return;
	}
	if (o->verdict == RETRY_AGAIN) {
		pol.max_attempts = (unsigned)d->max_attempts;
		pol.max_age = d->max_age;
		pol.base_ms = d->backoff_base * 1000;
		pol.max_ms = d->backoff_max * 1000;
		pol.max_retry_after_ms = MAX_RETRY_AFTER_MS;
		wait = retry_backoff_ms(&pol, it->t.attempts, arc4random(),
		    a->retry_after_ms);
		if (retry_may_continue(&pol, it->t.attempts, it->t.queued_at,
		    (int64_t)time(NULL), wait)) {
			end_transfer(it, STORE_QUEUED, NULL, a, o, wait);
			return;
		}
		snprintf(reason, sizeof(reason), "gave up after %u attempts: "
		    "%s", it->t.attempts, o->reason);
		end_transfer(it, STORE_FAILED, reason, a, o, 0);
		return;
	}
	end_transfer(it, STORE_FAILED, o->reason, a, o, 0);
}

/* ---- ending an attempt or a transfer ------------------------------------ */

static int
work_end(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;
	struct store_upstream u;

	memset(&u, 0, sizeof(u));
	u.status = j->status;
	u.etag = j->etag;
	u.version = j->version;
	u.bytes = j->bytes;
	u.duration_ms = j->duration_ms;
	u.spki = j->spki;
	if (store_transfer_attempt_end(env->store, j->id, j->state, &u,
	    j->next_attempt_at, j->last_error[0] != '\0' ? j->last_error :
	    NULL, j->set_error ? j->error : NULL, j->spool_until, time(NULL),
	    cj->err, sizeof(cj->err)) != 0)
		return -1;
	/* No attempt follows a final state: an upload still recorded was
	 * completed, or its abort failed and only the bucket's lifecycle
	 * rule can remove it now. */
	if (strcmp(j->state, STORE_QUEUED) != 0 &&
	    store_upload_forget(env->store, j->id, NULL, cj->err,
	    sizeof(cj->err)) != 0)
		return -1;
	return append_records(j, env);
}

static int
work_release(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;
	char err[256];
	size_t i;

	for (i = 0; i < j->nids; i++) {
		/* Unlinked first: a crash before the commit repeats it, and
		 * a missing file is not an error. */
		if (spool_remove(env->spool, j->ids[i], err, sizeof(err)) != 0)
			return util_err(cj->err, sizeof(cj->err), "%s", err);
		if (store_transfer_spool_released(env->store, j->ids[i],
		    cj->err, sizeof(cj->err)) < 0)
			return -1;
	}
	return 0;
}

static void
done_release(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;

	if (status != 0)
		log_kv("error", "spool_release", "reason=\"%s\" "
		    "result=\"retried by the next sweep\"", cj->err);
	fjob_free(j);
}

static void
release_spool(struct forwarder *f, const char *id)
{
	struct fjob *j = fjob_new(f, FJ_RELEASE, NULL);

	if (j == NULL || (j->ids = calloc(1, sizeof(*j->ids))) == NULL) {
		free(j);
		return;			/* the sweep catches it */
	}
	util_strlcpy(j->ids[0], id, sizeof(j->ids[0]));
	j->nids = 1;
	submit(f, j, work_release, done_release);
}

static void
done_end(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;
	struct forwarder *f = j->f;
	struct fwd_item *it = j->it;

	if (status != 0) {
		/* Not durable: the row still says forwarding (or queued).
		 * Try the whole attempt again later; the check step finds a
		 * delivered object if this one got there. */
		log_kv("error", "forward", "transfer=%s reason=\"could not "
		    "record the end of the attempt: %s\"", j->id, cj->err);
		if (!f->stopping) {
			it->state = I_WAITING;
			it->due_ms = now_ms() + JOB_RETRY_MS;
			schedule(f);
		}
		fjob_free(j);
		return;
	}
	if (strcmp(j->state, STORE_QUEUED) == 0) {
		it->state = I_WAITING;
		it->due_ms = now_ms() + j->wait_ms;
		util_strlcpy(it->t.state, STORE_QUEUED, sizeof(it->t.state));
	} else {
		/* delivered or failed, durably: the spool copy may go. */
		if (f->b->cfg->delivery_retention == 0)
			release_spool(f, j->id);
		item_free(f, it);
	}
	fjob_free(j);
	if (!f->stopping)
		schedule(f);
}

static void
text_if(struct auditrec *r, const char *key, const char *v)
{
	if (v != NULL && v[0] != '\0')
		auditrec_text(r, key, v);
}

/*
 * Records the end of an attempt (a may be NULL when the transfer ends
 * without one: its interface or service left the register) and the
 * transfer's next state: queued (retry after wait_ms), delivered, failed.
 */
static void
end_transfer(struct fwd_item *it, const char *state, const char *reason,
    struct fwd_attempt *a, const struct upstream_outcome *o, uint64_t wait_ms)
{
	struct forwarder *f = it->f;
	struct fjob *j;
	struct auditrec *r;
	int64_t now = (int64_t)time(NULL);
	uint64_t ms = a != NULL ? now_ms() - a->start_ms : 0;
	const char *result;

	if ((j = fjob_new(f, FJ_END, it)) == NULL) {
		log_kv("error", "forward", "transfer=%s reason=\"out of "
		    "memory\"", it->t.id);
		if (a != NULL) {
			it->a = NULL;
			attempt_free(a);
		}
		it->state = I_WAITING;
		it->due_ms = now_ms() + JOB_RETRY_MS;
		return;
	}
	it->state = I_BUSY;
	util_strlcpy(j->state, state, sizeof(j->state));
	j->wait_ms = wait_ms;
	if (strcmp(state, STORE_QUEUED) == 0) {
		j->next_attempt_at = now + (int64_t)((wait_ms + 999) / 1000);
		result = "retry";
	} else {
		j->spool_until = now + (int64_t)f->b->cfg->delivery_retention;
		if (j->spool_until == 0)
			j->spool_until = 1;
		result = strcmp(state, STORE_DELIVERED) == 0 ? "delivered" :
		    "failed";
	}
	if (o != NULL) {
		j->status = (unsigned)(o->status > 0 && o->status < 1000 ?
		    o->status : 0);
		util_strlcpy(j->etag, o->etag, sizeof(j->etag));
		util_strlcpy(j->version, o->version_id, sizeof(j->version));
		if (o->verdict != RETRY_DONE)
			util_strlcpy(j->last_error, o->reason,
			    sizeof(j->last_error));
	}
	if (reason != NULL) {
		util_strlcpy(j->error, reason, sizeof(j->error));
		if (strlen(reason) >= sizeof(j->error)) {
			memcpy(j->error, reason, sizeof(j->error) - 4);
			memcpy(j->error + sizeof(j->error) - 4, "...", 4);
		}
		j->set_error = 1;
		if (j->last_error[0] == '\0')
			util_strlcpy(j->last_error, j->error,
			    sizeof(j->last_error));
	}
	if (a != NULL) {
		util_strlcpy(j->spki, a->spki, sizeof(j->spki));
		j->bytes = a->bytes;
		j->duration_ms = ms;
	}

	if (a != NULL) {
		/* One record per attempt. */
		r = &j->rec[j->nrec++];
		auditrec_init(r, "forward", NULL, NULL);
		auditrec_subject(r, it->t.id, it->t.interface);
		text_if(r, "user", it->t.user);
		text_if(r, "service", a->target.service);
		text_if(r, "url", a->url);
		auditrec_uint(r, "attempt", it->t.attempts);
		text_if(r, "step", a->last_step);
		auditrec_uint(r, "http_status", j->status);
		auditrec_uint(r, "bytes_sent", a->bytes);
		auditrec_uint(r, "duration_ms", ms);
		text_if(r, "spki_sha256", a->spki);
		text_if(r, "peer", a->peer_ip);
		auditrec_text(r, "result", result);
		if (o != NULL && o->verdict != RETRY_DONE)
			text_if(r, "error", o->reason);
		if (o != NULL && o->already_there)
			auditrec_bool(r, "already_there", 1);
		if (strcmp(state, STORE_QUEUED) == 0)
			auditrec_uint(r, "retry_in_ms", wait_ms);
	}
	if (strcmp(state, STORE_QUEUED) != 0) {
		r = &j->rec[j->nrec++];
		auditrec_init(r, strcmp(state, STORE_DELIVERED) == 0 ?
		    "delivered" : "delivery_failed", NULL, NULL);
		auditrec_subject(r, it->t.id, it->t.interface);
		text_if(r, "user", it->t.user);
		if (a != NULL) {
			text_if(r, "service", a->target.service);
			text_if(r, "url", a->url);
		}
		auditrec_uint(r, "attempts", it->t.attempts);
		auditrec_uint(r, "size", it->t.size);
		text_if(r, "sha256", it->t.sha256);
		if (strcmp(state, STORE_DELIVERED) == 0) {
			text_if(r, "etag", j->etag);
			text_if(r, "version_id", j->version);
		} else
			text_if(r, "reason", j->error[0] != '\0' ? j->error :
			    j->last_error);
	}
	{
		char q[600];

		log_kv(strcmp(result, "failed") == 0 ? "warn" : "info",
		    "forward_end", "transfer=%s result=%s attempt=%u "
		    "status=%u bytes=%" PRIu64 " ms=%" PRIu64 " error=%s",
		    it->t.id, result, it->t.attempts, j->status, j->bytes, ms,
		    log_quote(j->last_error, q, sizeof(q)));
	}
	if (a != NULL) {
		it->a = NULL;
		attempt_free(a);
	}
	submit(f, j, work_end, done_end);
}

/* ---- scheduling ------------------------------------------------------------------ */

static void
on_sched(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	schedule(arg);
}

static void
schedule(struct forwarder *f)
{
	struct fwd_item *it, *next;
	struct fwd_service *svc;
	const struct policy_service *s;
	const char *tmpl;
	const struct config_delivery *d;
	uint64_t now = now_ms(), wake = UINT64_MAX, w;
	struct timeval tv;
	char reason[300];

	if (f->stopping)
		return;
	for (it = TAILQ_FIRST(&f->items); it != NULL; it = next) {
		next = TAILQ_NEXT(it, entry);
		if (it->state != I_WAITING)
			continue;
		if (it->due_ms > now) {
			if (it->due_ms < wake)
				wake = it->due_ms;
			continue;
		}
		/* The register in force decides, every attempt anew. */
		s = NULL;
		tmpl = NULL;
		if (policy_interface_target(f->b->policy, it->t.interface, &s,
		    &tmpl) != 0 || s == NULL) {
			snprintf(reason, sizeof(reason), s == NULL &&
			    policy_interface_target(f->b->policy,
			    it->t.interface, NULL, NULL) == 0 ?
			    "interface %s no longer names a service in the "
			    "register; not delivered" : "interface %s is no "
			    "longer in the register; not delivered",
			    it->t.interface);
			end_transfer(it, STORE_FAILED, reason, NULL, NULL, 0);
			continue;
		}
		if ((svc = service_get(f, s->id)) == NULL)
			continue;
		d = config_delivery_for(f->b->cfg, s->id);
		if (svc->active >= d->concurrency)
			continue;	/* woken when a slot frees */
		if (!retry_circuit_allow(&svc->circuit, now)) {
			w = now + retry_circuit_wait_ms(&svc->circuit, now);
			if (w > now && w < wake)
				wake = w;
			continue;
		}
		attempt_start(f, it, svc, s, tmpl);
	}
	evtimer_del(f->sched);
	if (wake != UINT64_MAX) {
		w = wake > now ? wake - now : 0;
		tv.tv_sec = (time_t)(w / 1000);
		tv.tv_usec = (suseconds_t)((w % 1000) * 1000);
		evtimer_add(f->sched, &tv);
	}
}

/* ---- queueing ----------------------------------------------------------------------- */

static int
work_queue(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;
	int rc;

	if (j->f->test_fail_queue > 0) {
		j->f->test_fail_queue--;
		return util_err(cj->err, sizeof(cj->err), "injected fault "
		    "(SEKISHO_TEST_FAIL_QUEUE)");
	}
	rc = store_transfer_queue(env->store, j->id, time(NULL), cj->err,
	    sizeof(cj->err));
	if (rc == STORE_NOTFOUND) {
		j->final = 1;
		return util_err(cj->err, sizeof(cj->err), "transfer %s is not "
		    "stored (held, or already handled)", j->id);
	}
	if (rc != 0)
		return -1;
	return store_transfer_get(env->store, j->id, &j->t, cj->err,
	    sizeof(cj->err)) == 0 ? 0 : -1;
}

static void
done_queue(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;
	struct forwarder *f = j->f;
	char q[600];

	if (status != 0 && !j->final) {
		/* Acknowledged and durable, but not queued: never dropped,
		 * retried until the commit succeeds (the state stays
		 * "stored" meanwhile, which a restart also picks up). */
		log_kv("error", "forward", "transfer=%s tries=%u retry_in_ms=%"
		    PRIu64 " reason=%s", j->id, j->tries + 1,
		    fwdqueue_backoff_ms(j->tries + 1), log_quote(cj->err, q,
		    sizeof(q)));
		if (fwdqueue_failed(f->requeue, j->id, j->tries + 1,
		    cj->err) != 0)
			log_kv("error", "forward", "transfer=%s reason=\"out of "
			    "memory; queued at the next start\"", j->id);
		fjob_free(j);
		return;
	}
	if (j->tries > 0)
		log_kv(status == 0 ? "info" : "warn", "forward", "transfer=%s "
		    "tries=%u reason=%s", j->id, j->tries, status == 0 ?
		    "\"queued after failed commits\"" : log_quote(cj->err, q,
		    sizeof(q)));
	else if (status != 0)
		log_kv("warn", "forward", "transfer=%s reason=\"not queued: "
		    "%s\"", j->id, cj->err);
	fwdqueue_settled(f->requeue, j->tries);
	if (status == 0 && !f->stopping && item_add(f, &j->t) != NULL)
		schedule(f);
	fjob_free(j);
}

static void
queue_transfer_try(struct forwarder *f, const char *id, unsigned tries)
{
	struct fjob *j = fjob_new(f, FJ_QUEUE, NULL);

	if (j == NULL) {
		log_kv("error", "forward", "transfer=%s reason=\"out of memory; "
		    "queued at the next start\"", id);
		fwdqueue_settled(f->requeue, tries);
		return;
	}
	util_strlcpy(j->id, id, sizeof(j->id));
	j->tries = tries;
	submit(f, j, work_queue, done_queue);
}

static void
requeue_cb(void *arg, const char *id, unsigned tries)
{
	queue_transfer_try(arg, id, tries);
}

static void
queue_transfer(struct forwarder *f, const char *id)
{
	queue_transfer_try(f, id, 0);
}

unsigned
forward_queue_failing(struct forwarder *f, char *last, size_t lastlen)
{
	return fwdqueue_failing(f != NULL ? f->requeue : NULL, last, lastlen);
}

/* Is there a destination at all? Interfaces without a service keep their
 * transfers stored (nothing can be delivered); anything else is queued,
 * and an interface that has left the register fails at its attempt. */
static int
wants_delivery(struct forwarder *f, const char *interface)
{
	const struct policy_service *s = NULL;

	if (policy_interface_target(f->b->policy, interface, &s, NULL) != 0)
		return 1;
	return s != NULL;
}

void
forward_submit(struct forwarder *f, const char *transfer,
    const char *interface)
{
	if (f == NULL || f->stopping)
		return;
	if (!wants_delivery(f, interface)) {
		log_kv("info", "forward", "transfer=%s interface=%s "
		    "reason=\"the interface names no service; kept stored\"",
		    transfer, interface);
		return;
	}
	queue_transfer(f, transfer);
}

/* ---- recovery and retention ------------------------------------------------------------ */

static int
collect_row(const struct transfer *t, void *arg)
{
	struct fjob *j = arg;
	struct transfer *rows;

	if (j->nrows == j->cap) {
		size_t cap = j->cap == 0 ? 16 : j->cap * 2;

		if ((rows = reallocarray(j->rows, cap, sizeof(*rows))) == NULL)
			return -1;
		j->rows = rows;
		j->cap = cap;
	}
	j->rows[j->nrows++] = *t;
	return 0;
}

/*
 * A transfer still "forwarding" at start had its attempt cut off by a
 * crash or a stop: nothing recorded how it ended. Record it now (a
 * "forward" record with result "interrupted", the attempt number it had)
 * and put the transfer back to "queued" for an attempt at once. The
 * interrupted attempt stays counted in attempts, like a failed one; the
 * retry rule is applied when the next attempt ends, so a transfer whose
 * last allowed attempt was interrupted still gets that one more attempt:
 * the interrupted one may have completed upstream, and only an attempt
 * (which checks the destination first) can tell.
 */
static int
record_interrupted(struct fjob *j, struct commit_env *env)
{
	static const char reason[] = "interrupted: the broker stopped during "
	    "the attempt (crash or shutdown)";
	int64_t now = (int64_t)time(NULL);
	struct store_upstream u;
	struct auditrec r;
	size_t i;

	memset(&u, 0, sizeof(u));
	for (i = 0; i < j->nrows; i++) {
		struct transfer *t = &j->rows[i];

		if (strcmp(t->state, STORE_FORWARDING) != 0)
			continue;
		if (store_transfer_attempt_end(env->store, t->id, STORE_QUEUED,
		    &u, now, reason, NULL, 0, now, j->job.err,
		    sizeof(j->job.err)) != 0)
			return -1;
		auditrec_init(&r, "forward", NULL, NULL);
		auditrec_subject(&r, t->id, t->interface);
		text_if(&r, "user", t->user);
		text_if(&r, "url", t->destination);
		auditrec_uint(&r, "attempt", t->attempts);
		auditrec_text(&r, "result", "interrupted");
		auditrec_text(&r, "error", reason);
		if (auditrec_append(&r, env->audit, now, j->job.err,
		    sizeof(j->job.err)) != 0)
			return -1;
		util_strlcpy(t->state, STORE_QUEUED, sizeof(t->state));
		util_strlcpy(t->last_error, reason, sizeof(t->last_error));
		t->next_attempt_at = now;
		j->ninterrupted++;
	}
	return 0;
}

static int
work_load(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;
	static const char *const states[] = { STORE_FORWARDING, STORE_QUEUED,
	    STORE_STORED };
	size_t i;

	for (i = 0; i < sizeof(states) / sizeof(states[0]); i++)
		if (store_transfer_each(env->store, states[i], 0, collect_row, j,
		    cj->err, sizeof(cj->err)) != 0)
			return -1;
	return record_interrupted(j, env);
}

static void
done_load(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;
	struct forwarder *f = j->f;
	size_t i, resumed = 0, queued = 0;

	if (status != 0)
		log_kv("error", "forward", "reason=\"could not load unfinished "
		    "deliveries: %s\"", cj->err);
	for (i = 0; status == 0 && !f->stopping && i < j->nrows; i++) {
		const struct transfer *t = &j->rows[i];

		if (strcmp(t->state, STORE_STORED) == 0) {
			if (wants_delivery(f, t->interface)) {
				queue_transfer(f, t->id);
				queued++;
			}
		} else if (item_add(f, t) != NULL)
			resumed++;
	}
	if (status == 0)
		log_kv("info", "forward", "recovered=%zu queued=%zu "
		    "interrupted=%zu", resumed, queued, j->ninterrupted);
	fjob_free(j);
	schedule(f);
}

static int
collect_id(const char *id, void *arg)
{
	struct fjob *j = arg;
	char (*ids)[UTIL_ID_LEN + 1];

	if (j->nids == j->idcap) {
		size_t cap = j->idcap == 0 ? 64 : j->idcap * 2;

		if ((ids = reallocarray(j->ids, cap, sizeof(*ids))) == NULL)
			return -1;
		j->ids = ids;
		j->idcap = cap;
	}
	util_strlcpy(j->ids[j->nids++], id, sizeof(j->ids[0]));
	return j->nids >= 4096;		/* the rest next time */
}

static int
work_sweep(struct commit_job *cj, struct commit_env *env)
{
	struct fjob *j = cj->arg;

	return store_transfer_each_spool_due(env->store, (int64_t)time(NULL),
	    collect_id, j, cj->err, sizeof(cj->err));
}

/* The rows read are durable now (the batch committed): release them. */
static void
done_sweep(struct commit_job *cj, int status)
{
	struct fjob *j = cj->arg;
	struct forwarder *f = j->f;

	f->sweeping = 0;
	if (status == 0 && j->nids > 0) {
		j->kind = FJ_RELEASE;
		submit(f, j, work_release, done_release);
		return;
	}
	fjob_free(j);
}

static void
on_sweep(evutil_socket_t fd, short what, void *arg)
{
	struct forwarder *f = arg;
	struct fjob *j;

	(void)fd;
	(void)what;
	if (f->stopping || f->sweeping || (j = fjob_new(f, FJ_SWEEP,
	    NULL)) == NULL)
		return;
	f->sweeping = 1;
	submit(f, j, work_sweep, done_sweep);
}

/* ---- life -------------------------------------------------------------------------- */

int
forward_start(struct broker *b, struct forwarder **out, char *err,
    size_t errlen)
{
	struct forwarder *f;
	struct fjob *j;
	struct timeval tv = { SWEEP_INTERVAL, 0 };

	*out = NULL;
	xmlInitParser();
	if ((f = calloc(1, sizeof(*f))) == NULL)
		return util_err(err, errlen, "forward: out of memory");
	f->b = b;
	TAILQ_INIT(&f->items);
	TAILQ_INIT(&f->services);
	if ((f->multi = curl_multi_init()) == NULL ||
	    (f->curl_timer = evtimer_new(b->base, on_curl_timer, f)) == NULL ||
	    (f->sched = evtimer_new(b->base, on_sched, f)) == NULL ||
	    (f->sweep = event_new(b->base, -1, EV_PERSIST, on_sweep,
	    f)) == NULL || (f->requeue = fwdqueue_new(b->base, requeue_cb,
	    f)) == NULL || (j = fjob_new(f, FJ_LOAD, NULL)) == NULL) {
		forward_free(f);
		return util_err(err, errlen, "forward: cannot set up libcurl "
		    "and its events");
	}
#ifdef SEKISHO_TEST_HOOKS
	{
		/* Fail the first N stored->queued commits, as a batch that
		 * did not commit would. */
		const char *v = getenv("SEKISHO_TEST_FAIL_QUEUE");

		if (v != NULL && (f->test_fail_queue = (unsigned)strtoul(v,
		    NULL, 10)) > 0)
			log_kv("warn", "test_hook", "fail_queue=%u",
			    f->test_fail_queue);
	}
#endif
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETFUNCTION, sock_cb);
	curl_multi_setopt(f->multi, CURLMOPT_SOCKETDATA, f);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERFUNCTION, timer_cb);
	curl_multi_setopt(f->multi, CURLMOPT_TIMERDATA, f);
	event_add(f->sweep, &tv);
	submit(f, j, work_load, done_load);
	on_sweep(-1, 0, f);		/* spool copies left by a crash */
	*out = f;
	return 0;
}

void
forward_shutdown(struct forwarder *f)
{
	struct fwd_item *it;
	struct fwd_attempt *a;
	size_t cancelled = 0;

	if (f == NULL || f->stopping)
		return;
	f->stopping = 1;
	fwdqueue_stop(f->requeue);
	evtimer_del(f->sched);
	event_del(f->sweep);
	TAILQ_FOREACH(it, &f->items, entry) {
		if ((a = it->a) == NULL || (a->easy == NULL &&
		    a->hash_ev == NULL))
			continue;	/* none, or waiting for a job */
		if (a->easy == NULL && !evtimer_pending(a->hash_ev, NULL))
			continue;
		cancelled++;
		attempt_abandon(a, 0);
	}
	log_kv("info", "forward", "shutdown=1 cancelled=%zu queued=%zu",
	    cancelled, f->nitems);
}

size_t
forward_stats(struct forwarder *f,
    void (*fn)(const struct forward_service_stats *s, void *arg), void *arg)
{
	struct forward_service_stats st;
	struct fwd_service *s;

	TAILQ_FOREACH(s, &f->services, entry) {
		st.id = s->id;
		st.active = s->active;
		st.circuit = retry_circuit_name(s->circuit.state);
		st.failures = s->circuit.failures;
		fn(&st, arg);
	}
	return f->nitems;
}

void
forward_free(struct forwarder *f)
{
	struct fwd_item *it;
	struct fwd_service *s;

	if (f == NULL)
		return;
	while ((it = TAILQ_FIRST(&f->items)) != NULL) {
		if (it->a != NULL) {
			it->a->svc->active--;
			attempt_free(it->a);
		}
		item_free(f, it);
	}
	while ((s = TAILQ_FIRST(&f->services)) != NULL) {
		TAILQ_REMOVE(&f->services, s, entry);
		free(s);
	}
	if (f->multi != NULL)
		curl_multi_cleanup(f->multi);
	if (f->curl_timer != NULL)
		event_free(f->curl_timer);
	if (f->sched != NULL)
		event_free(f->sched);
	if (f->sweep != NULL)
		event_free(f->sweep);
	fwdqueue_free(f->requeue);
	free(f);
}

/* ---- --check-config -------------------------------------------------------------------- */

size_t
forward_check(const struct config *cfg, const struct policy *p, FILE *out)
{
	const struct policy_service *s;
	const char *tmpl;
	char err[512];
	size_t i, n = policy_interface_count(p), problems = 0;

	for (i = 0; i < n; i++) {
		const char *id = policy_interface_id(p, i);

		s = NULL;
		tmpl = NULL;
		if (policy_interface_target(p, id, &s, &tmpl) != 0 || s == NULL)
			continue;
		if (pathtmpl_check(tmpl != NULL ? tmpl : "", err,
		    sizeof(err)) != 0) {
			fprintf(out, "interface %s: path: %s\n", id, err);
			problems++;
		}
	}
	/* Each service once, through the interfaces that use it and the
	 * ids delivery.services names. */
	for (i = 0; i < n; i++) {
		const char *id = policy_interface_id(p, i);
		size_t k;
		int seen = 0;

		s = NULL;
		if (policy_interface_target(p, id, &s, NULL) != 0 || s == NULL)
			continue;
		for (k = 0; k < i && !seen; k++) {
			const struct policy_service *o = NULL;

			if (policy_interface_target(p, policy_interface_id(p, k),
			    &o, NULL) == 0 && o == s)
				seen = 1;
		}
		if (seen)
			continue;
		if (service_check(cfg, s, NULL, NULL, 0, err,
		    sizeof(err)) != 0) {
			fprintf(out, "%s\n", err);
			problems++;
		}
	}
	for (i = 0; i < cfg->ndelivery_services; i++) {
		if (policy_service_find(p, cfg->delivery_services[i].id) ==
		    NULL) {
			fprintf(out, "%s:%u: delivery.services.%s: no such "
			    "service in the register\n", cfg->path,
			    cfg->delivery_services[i].line,
			    cfg->delivery_services[i].id);
			problems++;
		}
	}
	return problems;
}
