/*
 * monitor — see monitor.h.
 *
 * /health is answered at once from what the loop knows. /metrics also needs
 * the transfers per state, which only the store knows; the request then
 * waits (libevent keeps a request the handler has not answered, and frees
 * it quietly if it is answered after its connection went away) for one
 * count job on the commit thread, which every /metrics request arriving in
 * the meantime shares. The JSON of /health is built as CBOR and rendered
 * by lib/cborjson, the same escaping the audit exports use.
 */
#include "broker/monitor.h"
#include "broker/crlwatch.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/config.h"
#include "broker/forward.h"
#include "broker/log.h"
#include "broker/spool.h"
#include "broker/store.h"
#include "broker/tlskey.h"
#include "lib/cborjson.h"
#include "lib/util.h"
#include "policy/policy.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <cbor.h>
#include <event2/buffer.h>
#include <event2/event.h>
#include <event2/http.h>
#include <event2/keyvalq_struct.h>

#define MAX_REASONS 4
#define MAX_STATES 16
#define MAX_SERVICES 64			/* listed; more are summed */
#define HEADERS_MAX 8192
#define REQUEST_TIMEOUT 10		/* seconds */

struct monitor {
	struct broker *b;
	struct evhttp *http;
	time_t started;
	/* state counts, from the last count job */
	struct {
		char state[16];
		uint64_t n;
	} counts[MAX_STATES];
	size_t ncounts;
	int counts_ok;
	time_t counts_at;		/* 0: never */
	/* the count job and the /metrics requests waiting for it */
	struct commit_job job;
	int job_running;
	struct evhttp_request *waiting[MONITOR_MAX_WAITING];
	size_t nwaiting;
};

/* What the loop knows right now. */
struct health {
	const char *status;		/* ok, degraded, failing */
	int http;
	char reasons[MAX_REASONS][300];
	size_t nreasons;
	int audit_ok;
	char audit_reason[256];
	int free_known;
	uint64_t free_bytes;
	size_t held;			/* transfers the forwarder holds */
	struct forward_service_stats svc[MAX_SERVICES];
	char svc_id[MAX_SERVICES][POLICY_ID_MAX + 1];
	size_t nsvc, more_svc;
	unsigned open_circuits;
	enum crlwatch_state crl;
	unsigned queue_failing;		/* stored, queue commit failing */
	char queue_error[256];
};

static void
reason(struct health *h, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
reason(struct health *h, const char *fmt, ...)
{
	va_list ap;

	if (h->nreasons >= MAX_REASONS)
		return;
	va_start(ap, fmt);
	vsnprintf(h->reasons[h->nreasons++], sizeof(h->reasons[0]), fmt, ap);
	va_end(ap);
}

static void
collect_service(const struct forward_service_stats *s, void *arg)
{
	struct health *h = arg;

	if (strcmp(s->circuit, "closed") != 0)
		h->open_circuits++;
	if (h->nsvc >= MAX_SERVICES) {
		h->more_svc++;
		return;
	}
	h->svc[h->nsvc] = *s;
	util_strlcpy(h->svc_id[h->nsvc], s->id, sizeof(h->svc_id[0]));
	h->svc[h->nsvc].id = h->svc_id[h->nsvc];
	h->nsvc++;
}

static void
health_read(struct monitor *m, struct health *h)
{
	struct broker *b = m->b;
	char msg[400];

	memset(h, 0, sizeof(*h));
	h->audit_ok = committer_audit_healthy(b->committer);
	if (!h->audit_ok)
		committer_audit_failure(b->committer, h->audit_reason,
		    sizeof(h->audit_reason));
	h->free_known = spool_free_bytes(b->spool, &h->free_bytes) == 0;
	if (b->forwarder != NULL)
		h->held = forward_stats(b->forwarder, collect_service, h);

	h->crl = crlwatch_state(b->crl_next_update, time(NULL),
	    b->cfg->tls_crl_margin);

	h->status = "ok";
	h->http = HTTP_OK;
	if (!h->audit_ok)
		reason(h, "the audit trail is unhealthy (%s): transfers are "
		    "refused", h->audit_reason);
	if (!h->free_known)
		reason(h, "the spool's free space cannot be read");
	else if (h->free_bytes < b->cfg->min_free_space)
		reason(h, "the spool has %" PRIu64 " bytes free, below "
		    "limits.min_free_space (%" PRIu64 "): uploads are refused",
		    h->free_bytes, b->cfg->min_free_space);
	if (b->tlskey != NULL && !tlskey_alive(b->tlskey))
		reason(h, "%s: no terminal can connect", tlskey_failure(b->tlskey));
	if (b->shutting_down)
		reason(h, "the broker is shutting down");
	if (h->crl == CRLWATCH_EXPIRED) {
		crlwatch_describe(b->crl_next_update, time(NULL), msg,
		    sizeof(msg));
		reason(h, "%s", msg);
	}
	if (h->nreasons > 0) {
		h->status = "failing";
		h->http = 503;
		return;
	}
	if (h->open_circuits > 0) {
		h->status = "degraded";
		reason(h, "%u service(s) failing: their transfers wait "
		    "(circuit open)", h->open_circuits);
	}
	if (h->crl == CRLWATCH_EXPIRING) {
		h->status = "degraded";
		crlwatch_describe(b->crl_next_update, time(NULL), msg,
		    sizeof(msg));
		reason(h, "%s", msg);
	}
	h->queue_failing = forward_queue_failing(b->forwarder, h->queue_error,
	    sizeof(h->queue_error));
	if (h->queue_failing > 0 && h->http == HTTP_OK) {
		h->status = "degraded";
		reason(h, "%u stored transfer(s) could not be queued for "
		    "delivery (%s): retried", h->queue_failing, h->queue_error);
	}
}

/* ---- /health ------------------------------------------------------------- */

static int
put(cbor_item_t *map, const char *key, cbor_item_t *value)
{
	if (value == NULL)
		return -1;
	return cbor_map_add(map, (struct cbor_pair){
	    .key = cbor_move(cbor_build_string(key)),
	    .value = cbor_move(value) }) ? 0 : -1;
}

static cbor_item_t *
health_item(struct monitor *m, const struct health *h)
{
	cbor_item_t *root, *reasons, *audit, *spool, *fwd, *svcs, *s, *tls;
	char when[21];
	size_t i;
	int bad = 0;

	root = cbor_new_definite_map(10);
	tls = cbor_new_definite_map(m->b->crl_next_update != 0 ? 2 : 1);
	reasons = cbor_new_definite_array(h->nreasons);
	audit = cbor_new_definite_map(h->audit_ok ? 1 : 2);
	spool = cbor_new_definite_map(h->free_known ? 2 : 1);
	fwd = cbor_new_definite_map(3);
	svcs = cbor_new_definite_array(h->nsvc);
	if (root == NULL || reasons == NULL || audit == NULL || spool == NULL ||
	    fwd == NULL || svcs == NULL || tls == NULL) {
		bad = 1;
		goto out;
	}
	for (i = 0; i < h->nreasons; i++)
		bad |= !cbor_array_push(reasons,
		    cbor_move(cbor_build_string(h->reasons[i])));
	bad |= put(audit, "healthy", cbor_build_bool(h->audit_ok));
	if (!h->audit_ok)
		bad |= put(audit, "reason", cbor_build_string(h->audit_reason));
	if (h->free_known)
		bad |= put(spool, "free_bytes", cbor_build_uint64(h->free_bytes));
	bad |= put(spool, "min_free_bytes",
	    cbor_build_uint64(m->b->cfg->min_free_space));
	for (i = 0; i < h->nsvc; i++) {
		if ((s = cbor_new_definite_map(4)) == NULL) {
			bad = 1;
			break;
		}
		bad |= put(s, "id", cbor_build_string(h->svc[i].id));
		bad |= put(s, "circuit", cbor_build_string(h->svc[i].circuit));
		bad |= put(s, "failures", cbor_build_uint32(h->svc[i].failures));
		bad |= put(s, "active", cbor_build_uint32(h->svc[i].active));
		bad |= !cbor_array_push(svcs, cbor_move(s));
	}
	bad |= put(fwd, "transfers", cbor_build_uint64(h->held));
	bad |= put(fwd, "services_not_listed", cbor_build_uint64(h->more_svc));
	bad |= put(fwd, "services", cbor_incref(svcs));
	bad |= put(root, "status", cbor_build_string(h->status));
	bad |= put(root, "reasons", cbor_incref(reasons));
	bad |= put(root, "version", cbor_build_string(SEKISHO_VERSION));
	bad |= put(root, "uptime_s",
	    cbor_build_uint64((uint64_t)(time(NULL) - m->started)));
	bad |= put(root, "sessions", cbor_build_uint64(m->b->nsessions));
	bad |= put(root, "register_sha256",
	    cbor_build_string(policy_hash(m->b->policy)));
	bad |= put(root, "audit", cbor_incref(audit));
	bad |= put(root, "spool", cbor_incref(spool));
	bad |= put(root, "forward", cbor_incref(fwd));
	bad |= put(tls, "crl", cbor_build_string(h->crl == CRLWATCH_EXPIRED ?
	    "expired" : h->crl == CRLWATCH_EXPIRING ? "expiring" : "ok"));
	if (m->b->crl_next_update != 0) {
		util_time_rfc3339(m->b->crl_next_update, when);
		bad |= put(tls, "crl_next_update", cbor_build_string(when));
	}
	bad |= put(root, "tls", cbor_incref(tls));
out:
	if (tls != NULL)
		cbor_decref(&tls);
	if (reasons != NULL)
		cbor_decref(&reasons);
	if (audit != NULL)
		cbor_decref(&audit);
	if (spool != NULL)
		cbor_decref(&spool);
	if (fwd != NULL)
		cbor_decref(&fwd);
	if (svcs != NULL)
		cbor_decref(&svcs);
	if (bad && root != NULL)
		cbor_decref(&root);
	return bad ? NULL : root;
}

static void
reply_text(struct evhttp_request *req, int code, const char *type,
    const char *body, size_t len)
{
	struct evbuffer *buf = evbuffer_new();
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);

	evhttp_add_header(hdr, "Content-Type", type);
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	if (buf == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	/* HEAD: libevent sends the headers with the length and no body. */
	evbuffer_add(buf, body, len);
	evhttp_send_reply(req, code, code == HTTP_OK ? "OK" :
	    code == 503 ? "Service Unavailable" : "Error", buf);
	evbuffer_free(buf);
}

static void
on_health(struct monitor *m, struct evhttp_request *req)
{
	struct health *h;
	cbor_item_t *item = NULL;
	unsigned char *cb = NULL;
	size_t cblen = 0, cap;
	char *json = NULL, err[128];

	if ((h = malloc(sizeof(*h))) == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		return;
	}
	health_read(m, h);
	if ((item = health_item(m, h)) == NULL ||
	    (cblen = cbor_serialize_alloc(item, &cb, &cap)) == 0 ||
	    cborjson_encode(cb, cblen, &json, err, sizeof(err)) != 0) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
	} else {
		reply_text(req, h->http, "application/json", json,
		    strlen(json));
	}
	free(json);
	free(cb);
	if (item != NULL)
		cbor_decref(&item);
	free(h);
}

/* ---- /metrics ------------------------------------------------------------ */

static void
metric(struct evbuffer *b, const char *name, const char *help,
    const char *type)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

static void
metrics_send(struct monitor *m, struct evhttp_request *req)
{
	static const char *const states[] = { STORE_RECEIVING, STORE_STORED,
	    STORE_HELD, STORE_QUEUED, STORE_FORWARDING, STORE_DELIVERED,
	    STORE_FAILED, STORE_EXPIRED, STORE_REJECTED, STORE_WITHDRAWN };
	struct evbuffer *b = evbuffer_new();
	struct evkeyvalq *hdr = evhttp_request_get_output_headers(req);
	struct health *h = malloc(sizeof(*h));
	size_t i, j;
	uint64_t n;
	int seen;

	if (b == NULL || h == NULL) {
		evhttp_send_error(req, HTTP_INTERNAL, NULL);
		evbuffer_free(b);
		free(h);
		return;
	}
	health_read(m, h);
	metric(b, "sekisho_up", "1 while the broker runs.", "gauge");
	evbuffer_add_printf(b, "sekisho_up 1\n");
	metric(b, "sekisho_healthy", "1 while the broker can take and "
	    "deliver transfers (GET /health is not 503).", "gauge");
	evbuffer_add_printf(b, "sekisho_healthy %d\n", h->http == HTTP_OK);
	metric(b, "sekisho_audit_healthy", "1 while the audit trail can be "
	    "written and signed.", "gauge");
	evbuffer_add_printf(b, "sekisho_audit_healthy %d\n", h->audit_ok);
	if (m->b->crl_next_update != 0) {
		metric(b, "sekisho_crl_next_update_seconds", "When the CRL in "
		    "force expires (Unix time); after it every client is "
		    "refused.", "gauge");
		evbuffer_add_printf(b, "sekisho_crl_next_update_seconds "
		    "%lld\n", (long long)m->b->crl_next_update);
	}
	metric(b, "sekisho_uptime_seconds", "Seconds since the broker "
	    "started.", "gauge");
	evbuffer_add_printf(b, "sekisho_uptime_seconds %lld\n",
	    (long long)(time(NULL) - m->started));
	metric(b, "sekisho_sessions", "Terminal connections open now.",
	    "gauge");
	evbuffer_add_printf(b, "sekisho_sessions %zu\n", m->b->nsessions);
	if (h->free_known) {
		metric(b, "sekisho_spool_free_bytes", "Bytes free on the "
		    "spool's file system.", "gauge");
		evbuffer_add_printf(b, "sekisho_spool_free_bytes %" PRIu64 "\n",
		    h->free_bytes);
	}
	metric(b, "sekisho_spool_min_free_bytes", "limits.min_free_space: "
	    "uploads are refused below it.", "gauge");
	evbuffer_add_printf(b, "sekisho_spool_min_free_bytes %" PRIu64 "\n",
	    m->b->cfg->min_free_space);
	metric(b, "sekisho_forward_transfers", "Transfers the forwarder "
	    "holds (waiting or in delivery).", "gauge");
	evbuffer_add_printf(b, "sekisho_forward_transfers %zu\n", h->held);
	metric(b, "sekisho_forward_queue_failing", "Stored transfers whose "
	    "commit to the delivery queue failed and is being retried.",
	    "gauge");
	evbuffer_add_printf(b, "sekisho_forward_queue_failing %u\n",
	    h->queue_failing);
	/* Service ids are register ids ([A-Za-z0-9._-]): nothing to escape
	 * in a label value. */
	metric(b, "sekisho_service_circuit_open", "1 while deliveries to the "
	    "service are held back after repeated failures.", "gauge");
	for (i = 0; i < h->nsvc; i++)
		evbuffer_add_printf(b, "sekisho_service_circuit_open"
		    "{service=\"%s\"} %d\n", h->svc[i].id,
		    strcmp(h->svc[i].circuit, "closed") != 0);
	metric(b, "sekisho_service_failures", "Consecutive failed attempts "
	    "to the service.", "gauge");
	for (i = 0; i < h->nsvc; i++)
		evbuffer_add_printf(b, "sekisho_service_failures"
		    "{service=\"%s\"} %u\n", h->svc[i].id, h->svc[i].failures);
	metric(b, "sekisho_service_active", "Delivery attempts running to "
	    "the service.", "gauge");
	for (i = 0; i < h->nsvc; i++)
		evbuffer_add_printf(b, "sekisho_service_active"
		    "{service=\"%s\"} %u\n", h->svc[i].id, h->svc[i].active);
	if (m->counts_ok) {
		metric(b, "sekisho_transfers", "Transfers in the state "
		    "database, by state (at most " "5 s old).", "gauge");
		for (i = 0; i < sizeof(states) / sizeof(states[0]); i++) {
			for (n = 0, j = 0; j < m->ncounts; j++)
				if (strcmp(m->counts[j].state, states[i]) == 0)
					n = m->counts[j].n;
			evbuffer_add_printf(b, "sekisho_transfers{state=\"%s\"} "
			    "%" PRIu64 "\n", states[i], n);
		}
		for (j = 0; j < m->ncounts; j++) {
			for (seen = 0, i = 0; i < sizeof(states) /
			    sizeof(states[0]); i++)
				seen |= strcmp(m->counts[j].state,
				    states[i]) == 0;
			if (!seen)
				evbuffer_add_printf(b, "sekisho_transfers"
				    "{state=\"%s\"} %" PRIu64 "\n",
				    m->counts[j].state, m->counts[j].n);
		}
	}
	metric(b, "sekisho_transfers_known", "1 when sekisho_transfers could "
	    "be read from the state database.", "gauge");
	evbuffer_add_printf(b, "sekisho_transfers_known %d\n", m->counts_ok);
	evhttp_add_header(hdr, "Content-Type",
	    "text/plain; version=0.0.4; charset=utf-8");
	evhttp_add_header(hdr, "Cache-Control", "no-store");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
	free(h);
}

static void
add_count(const char *state, uint64_t n, void *arg)
{
	struct monitor *m = arg;

	if (m->ncounts >= MAX_STATES)
		return;
	util_strlcpy(m->counts[m->ncounts].state, state,
	    sizeof(m->counts[0].state));
	m->counts[m->ncounts++].n = n;
}

/* Commit thread: touches only the monitor's count fields, which the loop
 * leaves alone while job_running is set. */
static int
work_count(struct commit_job *cj, struct commit_env *env)
{
	struct monitor *m = cj->arg;

	m->ncounts = 0;
	if (env->store == NULL)
		return 0;
	return store_transfer_count_states(env->store, add_count, m, cj->err,
	    sizeof(cj->err));
}

static void
done_count(struct commit_job *cj, int status)
{
	struct monitor *m = cj->arg;
	size_t i, n = m->nwaiting;
	char q[300];

	m->job_running = 0;
	/* Said when the counts stop being readable, not at every scrape. */
	if (status != 0 && (m->counts_ok || m->counts_at == 0))
		log_kv("warn", "monitor", "reason=%s result=\"metrics without "
		    "sekisho_transfers\"", log_quote(cj->err, q, sizeof(q)));
	m->counts_ok = status == 0;
	m->counts_at = time(NULL);
	m->nwaiting = 0;
	for (i = 0; i < n; i++)
		metrics_send(m, m->waiting[i]);
}

static void
on_metrics(struct monitor *m, struct evhttp_request *req)
{
	time_t now = time(NULL);

	if (m->counts_at != 0 && now >= m->counts_at &&
	    now - m->counts_at < MONITOR_COUNT_TTL && !m->job_running) {
		metrics_send(m, req);
		return;
	}
	if (m->nwaiting >= MONITOR_MAX_WAITING) {
		evhttp_send_error(req, 503, "too many metrics requests");
		return;
	}
	m->waiting[m->nwaiting++] = req;
	if (m->job_running)
		return;
	memset(&m->job, 0, sizeof(m->job));
	m->job.work = work_count;
	m->job.done = done_count;
	m->job.arg = m;
	m->job_running = 1;
	committer_submit(m->b->committer, &m->job);
}

/* ---- requests ------------------------------------------------------------ */

static void
on_request(struct evhttp_request *req, void *arg)
{
	struct monitor *m = arg;
	const char *path = evhttp_uri_get_path(evhttp_request_get_evhttp_uri(
	    req));

	if (path == NULL)
		evhttp_send_error(req, HTTP_BADREQUEST, NULL);
	else if (strcmp(path, "/health") == 0)
		on_health(m, req);
	else if (strcmp(path, "/metrics") == 0)
		on_metrics(m, req);
	else
		evhttp_send_error(req, HTTP_NOTFOUND, "GET /health or "
		    "/metrics");
}

int
monitor_start(struct broker *b, struct monitor **out, char *err,
    size_t errlen)
{
	struct monitor *m;
	ev_uint16_t port;

	*out = NULL;
	if (b->cfg->monitor_host == NULL)
		return 0;
	if ((m = calloc(1, sizeof(*m))) == NULL)
		return util_err(err, errlen, "monitor: out of memory");
	m->b = b;
	m->started = time(NULL);
	port = (ev_uint16_t)strtoul(b->cfg->monitor_port, NULL, 10);
	if ((m->http = evhttp_new(b->base)) == NULL) {
		free(m);
		return util_err(err, errlen, "monitor: out of memory");
	}
	evhttp_set_allowed_methods(m->http, EVHTTP_REQ_GET | EVHTTP_REQ_HEAD);
	evhttp_set_max_headers_size(m->http, HEADERS_MAX);
	evhttp_set_max_body_size(m->http, 0);
	evhttp_set_timeout(m->http, REQUEST_TIMEOUT);
	evhttp_set_gencb(m->http, on_request, m);
	if (evhttp_bind_socket(m->http, b->cfg->monitor_host, port) != 0) {
		evhttp_free(m->http);
		free(m);
		return util_err(err, errlen, "monitor: cannot listen on %s:%s "
		    "(in use?)", b->cfg->monitor_host, b->cfg->monitor_port);
	}
	*out = m;
	return 0;
}

void
monitor_free(struct monitor *m)
{
	if (m == NULL)
		return;
	/* Requests still waiting get an answer (their connection may be
	 * gone: libevent then just frees them). */
	while (m->nwaiting > 0)
		evhttp_send_error(m->waiting[--m->nwaiting], 503,
		    "shutting down");
	evhttp_free(m->http);
	free(m);
}
