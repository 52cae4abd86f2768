/*
 * sekishod — the sekisho broker.
 *
 * main owns every long-lived object (configuration, TLS context, policy,
 * spool, state store, audit log, commit thread, event loop) and the signal
 * handling around them:
 *   SIGTERM/SIGINT  stop accepting, checkpoint uploads in progress (their
 *                   durable offsets are recorded so clients resume after the
 *                   restart), let the commit thread drain, exit 0;
 *   SIGHUP          reload the CRL/TLS context and the interface register;
 *                   a reload that fails keeps what is in force.
 */
#include "broker/audit.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/config.h"
#include "broker/housekeeping.h"
#include "broker/log.h"
#include "broker/session.h"
#include "broker/spool.h"
#include "broker/store.h"
#include "broker/tlsserver.h"
#include "lib/cborjson.h"
#include "lib/util.h"
#include "policy/policy.h"

#include <errno.h>
#include <getopt.h>
#include <netdb.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <openssl/err.h>

#define VERSION "0.1.0"
#define SHUTDOWN_GRACE 5	/* seconds to flush goodbyes to clients */

struct daemon {
	struct broker b;
	struct store *store;
	struct audit *audit;
	struct commit_env env;
	struct event *sig_term, *sig_int, *sig_hup, *grace_ev;
	struct event *accept_pause_ev;
	int grace_ticks;
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sekishod -c CONFIG [--check-config | --print-audit]\n"
	    "\n"
	    "  -c, --config FILE   broker configuration (YAML)\n"
	    "  -t, --check-config  validate the configuration, the interface\n"
	    "                      register and the TLS material, then exit\n"
	    "                      (0 valid, 1 not)\n"
	    "  -p, --print-audit   verify the hash chain of the configured audit\n"
	    "                      log and print its records as JSON lines\n"
	    "                      (exit 1 at the first broken record)\n"
	    "  -V, --version       print the version\n"
	    "\n"
	    "Signals: SIGTERM stops (uploads in progress stay resumable),\n"
	    "SIGHUP reloads the CRL and the interface register.\n");
}

/* Appends one broker-level audit record synchronously (main thread only,
 * while the commit thread is not running). */
static int
audit_now(struct audit *a, struct auditrec *rec, char *err, size_t errlen)
{
	if (auditrec_append(rec, a, time(NULL), err, errlen) != 0)
		return -1;
	return audit_sync(a, err, errlen);
}

/* ---- shutdown and reload ------------------------------------------------ */

static void
grace_cb(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	if (d->b.nsessions == 0 || ++d->grace_ticks > SHUTDOWN_GRACE * 10)
		event_base_loopexit(d->b.base, NULL);
}

static void
on_term(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct timeval tick = { 0, 100000 };

	(void)what;
	if (d->b.shutting_down)
		return;
	log_kv("info", "shutdown", "signal=%d sessions=%zu", (int)sig,
	    d->b.nsessions);
	d->b.shutting_down = 1;
	if (d->b.listener != NULL) {
		evconnlistener_free(d->b.listener);
		d->b.listener = NULL;
	}
	housekeeping_stop(&d->b);
	session_shutdown_all(&d->b);
	d->grace_ev = event_new(d->b.base, -1, EV_PERSIST, grace_cb, d);
	if (d->grace_ev == NULL || event_add(d->grace_ev, &tick) != 0)
		event_base_loopexit(d->b.base, NULL);
}

struct reload_job {
	struct commit_job job;
	struct auditrec rec;
};

static int
work_reload(struct commit_job *cj, struct commit_env *env)
{
	struct reload_job *j = cj->arg;

	return auditrec_append(&j->rec, env->audit, time(NULL), cj->err,
	    sizeof(cj->err));
}

static void
done_reload(struct commit_job *cj, int status)
{
	if (status != 0)
		log_kv("error", "audit", "reason=\"%s\"", cj->err);
	free(cj->arg);
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct policy *p = NULL;
	struct reload_job *j;
	SSL_CTX *ctx;
	char err[512], q[600];
	int tls_ok = 0, policy_ok = 0;

	(void)sig;
	(void)what;
	if ((ctx = tlsserver_new(d->b.cfg, err, sizeof(err))) == NULL)
		log_kv("error", "reload", "part=tls reason=%s "
		    "result=\"old TLS context and CRL stay in force\"",
		    log_quote(err, q, sizeof(q)));
	else {
		SSL_CTX_free(d->b.ssl_ctx);
		d->b.ssl_ctx = ctx;
		tls_ok = 1;
	}
	if (policy_load(d->b.cfg->register_path, &p, err, sizeof(err)) != 0)
		log_kv("error", "reload", "part=register reason=%s "
		    "result=\"old register stays in force\"",
		    log_quote(err, q, sizeof(q)));
	else {
		policy_free(d->b.policy);
		d->b.policy = p;
		policy_ok = 1;
	}
	log_kv(tls_ok && policy_ok ? "info" : "warn", "reload",
	    "tls=%s register=%s register_sha256=%s",
	    tls_ok ? "reloaded" : "kept", policy_ok ? "reloaded" : "kept",
	    policy_hash(d->b.policy));
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return;
	auditrec_init(&j->rec, "reload", NULL, NULL);
	auditrec_bool(&j->rec, "tls_reloaded", tls_ok);
	auditrec_bool(&j->rec, "register_reloaded", policy_ok);
	auditrec_text(&j->rec, "register", policy_hash(d->b.policy));
	if (!tls_ok || !policy_ok)
		auditrec_text(&j->rec, "error", err);
	j->job.work = work_reload;
	j->job.done = done_reload;
	j->job.arg = j;
	committer_submit(d->b.committer, &j->job);
}

static void
on_accept(struct evconnlistener *l, evutil_socket_t fd, struct sockaddr *sa,
    int salen, void *arg)
{
	struct daemon *d = arg;

	(void)l;
	session_accept(&d->b, fd, sa, salen);
}

static void
resume_accept(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;

	(void)fd;
	(void)what;
	if (d->b.listener != NULL && !d->b.shutting_down)
		evconnlistener_enable(d->b.listener);
}

static void
on_accept_error(struct evconnlistener *l, void *arg)
{
	struct daemon *d = arg;
	struct timeval pause = { 1, 0 };
	int e = EVUTIL_SOCKET_ERROR();

	/* EMFILE and friends: a listener left enabled would spin on the same
	 * error; pause accepting for a second and try again. */
	log_kv("error", "accept", "reason=\"%s\" result=\"accepting paused "
	    "for 1s\"", evutil_socket_error_to_string(e));
	evconnlistener_disable(l);
	if (d->accept_pause_ev == NULL)
		d->accept_pause_ev = evtimer_new(d->b.base, resume_accept, d);
	if (d->accept_pause_ev == NULL ||
	    evtimer_add(d->accept_pause_ev, &pause) != 0)
		evconnlistener_enable(l);
}

static int
listen_on(struct daemon *d, char *err, size_t errlen)
{
	struct addrinfo hints, *res = NULL;
	int rc;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_PASSIVE | AI_NUMERICSERV;
	rc = getaddrinfo(d->b.cfg->listen_host, d->b.cfg->listen_port, &hints,
	    &res);
	if (rc != 0)
		return util_err(err, errlen, "listen %s:%s: %s",
		    d->b.cfg->listen_host, d->b.cfg->listen_port,
		    gai_strerror(rc));
	d->b.listener = evconnlistener_new_bind(d->b.base, on_accept, d,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC | LEV_OPT_REUSEABLE,
	    128, res->ai_addr, (int)res->ai_addrlen);
	freeaddrinfo(res);
	if (d->b.listener == NULL)
		return util_err(err, errlen, "listen %s:%s: %s",
		    d->b.cfg->listen_host, d->b.cfg->listen_port,
		    strerror(errno));
	evconnlistener_set_error_cb(d->b.listener, on_accept_error);
	return 0;
}

static int
check_config(const char *path)
{
	struct config *cfg = NULL;
	struct policy *p = NULL;
	SSL_CTX *ctx = NULL;
	char err[1024];
	int ok = 0;

	if (config_load(path, &cfg, err, sizeof(err)) != 0)
		fprintf(stderr, "sekishod: %s\n", err);
	else if (policy_load(cfg->register_path, &p, err, sizeof(err)) != 0)
		fprintf(stderr, "sekishod: register: %s\n", err);
	else if ((ctx = tlsserver_new(cfg, err, sizeof(err))) == NULL)
		fprintf(stderr, "sekishod: %s\n", err);
	else {
		printf("sekishod: configuration %s is valid (register %s, "
		    "sha256 %s)\n", path, cfg->register_path, policy_hash(p));
		ok = 1;
	}
	SSL_CTX_free(ctx);
	policy_free(p);
	config_free(cfg);
	return ok ? 0 : 1;
}

static int
print_record(uint64_t seq, const uint8_t *rec, size_t len, void *arg)
{
	char err[256], *json;

	(void)arg;
	if (cborjson_encode(rec, len, &json, err, sizeof(err)) != 0) {
		fprintf(stderr, "sekishod: audit record %llu: %s\n",
		    (unsigned long long)seq, err);
		return -1;
	}
	printf("%s\n", json);
	free(json);
	return 0;
}

static int
print_audit(const char *path)
{
	struct config *cfg = NULL;
	char err[1024];
	int rc = 1;

	if (config_load(path, &cfg, err, sizeof(err)) != 0)
		fprintf(stderr, "sekishod: %s\n", err);
	else if (audit_read_file(cfg->audit_log, print_record, NULL, err,
	    sizeof(err)) != 0)
		fprintf(stderr, "sekishod: audit log %s: %s\n", cfg->audit_log,
		    err);
	else
		rc = 0;
	fflush(stdout);
	config_free(cfg);
	return rc;
}

static int
run(const char *path)
{
	struct daemon d;
	struct auditrec rec;
	char err[1024], q[1100];
	size_t torn = 0;
	int recovered, rc = 1;

	memset(&d, 0, sizeof(d));
	TAILQ_INIT(&d.b.sessions);
	signal(SIGPIPE, SIG_IGN);
	umask(077);
	if (config_load(path, &d.b.cfg, err, sizeof(err)) != 0 ||
	    policy_load(d.b.cfg->register_path, &d.b.policy, err,
	    sizeof(err)) != 0 ||
	    (d.b.ssl_ctx = tlsserver_new(d.b.cfg, err, sizeof(err))) == NULL ||
	    spool_open(d.b.cfg->spool_dir, &d.b.spool, err, sizeof(err)) != 0 ||
	    store_open(d.b.cfg->state_db, &d.store, err, sizeof(err)) != 0 ||
	    audit_open(d.b.cfg->audit_log, &d.audit, &torn, err,
	    sizeof(err)) != 0)
		goto fail;
	if (torn > 0)
		log_kv("warn", "audit", "reason=\"removed %zu bytes of an "
		    "incomplete final record left by a crash\"", torn);
	recovered = housekeeping_recover(d.store, d.audit, d.b.spool,
	    time(NULL), err, sizeof(err));
	if (recovered < 0)
		goto fail;
	auditrec_init(&rec, "start", NULL, NULL);
	auditrec_text(&rec, "version", VERSION);
	auditrec_text(&rec, "register", policy_hash(d.b.policy));
	auditrec_uint(&rec, "recovered", (uint64_t)recovered);
	auditrec_uint(&rec, "audit_torn_bytes", torn);
	if (audit_now(d.audit, &rec, err, sizeof(err)) != 0)
		goto fail;

	if (evthread_use_pthreads() != 0 ||
	    (d.b.base = event_base_new()) == NULL) {
		util_err(err, sizeof(err), "cannot create the event loop");
		goto fail;
	}
	d.env.store = d.store;
	d.env.audit = d.audit;
	d.env.spool = d.b.spool;
	if (committer_start(d.b.base, &d.env, &d.b.committer, err,
	    sizeof(err)) != 0 || listen_on(&d, err, sizeof(err)) != 0 ||
	    housekeeping_start(&d.b, err, sizeof(err)) != 0)
		goto fail;
	d.sig_term = evsignal_new(d.b.base, SIGTERM, on_term, &d);
	d.sig_int = evsignal_new(d.b.base, SIGINT, on_term, &d);
	d.sig_hup = evsignal_new(d.b.base, SIGHUP, on_hup, &d);
	if (d.sig_term == NULL || d.sig_int == NULL || d.sig_hup == NULL ||
	    event_add(d.sig_term, NULL) != 0 || event_add(d.sig_int, NULL) != 0 ||
	    event_add(d.sig_hup, NULL) != 0) {
		util_err(err, sizeof(err), "cannot install signal handlers");
		goto fail;
	}
	log_kv("info", "start", "version=%s listen=%s:%s register_sha256=%s "
	    "recovered=%d", VERSION, d.b.cfg->listen_host,
	    d.b.cfg->listen_port, policy_hash(d.b.policy), recovered);
	event_base_dispatch(d.b.base);

	committer_stop(d.b.committer);
	d.b.committer = NULL;
	auditrec_init(&rec, "stop", NULL, NULL);
	if (audit_now(d.audit, &rec, err, sizeof(err)) != 0) {
		log_kv("error", "stop", "reason=%s", log_quote(err, q, sizeof(q)));
		goto out;
	}
	log_kv("info", "stop", "result=clean");
	rc = 0;
	goto out;
fail:
	log_kv("error", "start", "reason=%s", log_quote(err, q, sizeof(q)));
	fprintf(stderr, "sekishod: %s\n", err);
	if (d.b.committer != NULL) {
		committer_stop(d.b.committer);
		d.b.committer = NULL;
	}
out:
	if (d.sig_term != NULL)
		event_free(d.sig_term);
	if (d.sig_int != NULL)
		event_free(d.sig_int);
	if (d.sig_hup != NULL)
		event_free(d.sig_hup);
	if (d.grace_ev != NULL)
		event_free(d.grace_ev);
	if (d.accept_pause_ev != NULL)
		event_free(d.accept_pause_ev);
	housekeeping_stop(&d.b);
	if (d.b.listener != NULL)
		evconnlistener_free(d.b.listener);
	if (d.b.base != NULL)
		event_base_free(d.b.base);
	audit_close(d.audit);
	store_close(d.store);
	spool_close(d.b.spool);
	SSL_CTX_free(d.b.ssl_ctx);
	policy_free(d.b.policy);
	config_free(d.b.cfg);
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "print-audit", no_argument, NULL, 'p' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config = NULL;
	int ch, check = 0, dump = 0;

	while ((ch = getopt_long(argc, argv, "c:tpVh", opts, NULL)) != -1) {
		switch (ch) {
		case 'c':
			config = optarg;
			break;
		case 't':
			check = 1;
			break;
		case 'p':
			dump = 1;
			break;
		case 'V':
			printf("sekishod %s\n", VERSION);
			return 0;
		case 'h':
			usage(stdout);
			return 0;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (config == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (check)
		return check_config(config);
	if (dump)
		return print_audit(config);
	return run(config);
}
