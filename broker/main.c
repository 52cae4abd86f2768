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
 *                   a reload that fails keeps what is in force; one that
 *                   succeeds is audited with the register's SHA-256 and
 *                   the interfaces it added, removed and changed.
 *
 * It also holds the administrator's TOTP commands (--totp-enroll,
 * --totp-reset), which work on the state store while the broker runs, and
 * a timer that moves their queued audit events into the trail.
 */
#include "broker/audit.h"
#include "broker/auditrec.h"
#include "broker/auditsvc.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/config.h"
#include "broker/crlwatch.h"
#include "broker/enrolcode.h"
#include "broker/forward.h"
#include "broker/h2conn.h"
#include "broker/housekeeping.h"
#include "broker/reconcile.h"
#include "broker/officer.h"
#include "broker/log.h"
#include "broker/monitor.h"
#include "broker/refusals.h"
#include "broker/session.h"
#include "broker/regadmin.h"
#include "broker/regapproval.h"
#include "broker/regdiff.h"
#include "broker/spool.h"
#include "broker/startcheck.h"
#include "broker/stepup.h"
#include "broker/store.h"
#include "broker/tlsserver.h"
#include "broker/tlskey.h"
#include "broker/web.h"
#include "lib/cborjson.h"
#include "lib/util.h"
#include "lib/yamlnode.h"
#include "policy/policy.h"
#include "policy/tzone.h"

#include <errno.h>
#include <getopt.h>
#include <inttypes.h>
#include <netdb.h>
#include <pwd.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <event2/thread.h>
#include <curl/curl.h>
#include <openssl/crypto.h>
#include <openssl/err.h>

#define VERSION "0.1.0"
#define SHUTDOWN_GRACE 5	/* seconds to flush goodbyes to clients */
#define TOTP_AUDIT_INTERVAL 5	/* seconds between moves of queued TOTP
				   audit events into the trail */

struct daemon {
	struct broker b;
	struct store *store;
	struct audit *audit;
	struct commit_env env;
	struct event *sig_term, *sig_int, *sig_hup, *grace_ev;
	struct event *accept_pause_ev;
	int grace_ticks;
	struct auditsvc *asvc;		/* audit signer and checkpoint timer */
	struct regdiff *regdiff;	/* digests of the register in force */
	struct event *totp_ev;		/* queued TOTP audit events timer */
	int totp_busy;			/* a queue job is in flight */
	struct monitor *monitor;	/* health and metrics; NULL: off */
	struct crlwatch *crlwatch;	/* the CRL's deadline in the log */
};

static void
usage(FILE *f)
{
	fprintf(f,
	    "usage: sekishod -c CONFIG [--check-config | --print-audit |\n"
	    "                --recover-state [--abandon ID --reason TEXT] |\n"
	    "                --totp-enroll USER [--force] | --totp-reset USER |\n"
	    "                --totp-enrol-code USER [--ttl DURATION] [--force] |\n"
	    "                --register-bootstrap FILE --reason TEXT |\n"
	    "                --register-export FILE |\n"
	    "                --audit-keygen]\n"
	    "       sekishod -V | --version\n"
	    "\n"
	    "  -c, --config FILE   broker configuration (YAML)\n"
	    "  -t, --check-config  validate the configuration, the interface\n"
	    "                      register and the TLS material, then exit\n"
	    "                      (0 valid, 1 not)\n"
	    "  -p, --print-audit   verify the hash chain of the configured audit\n"
	    "                      log and print its records as JSON lines\n"
	    "                      (exit 1 at the first broken record)\n"
	    "      --recover-state rebuild the transfers the audit trail says\n"
	    "                      were stored and not finished but the state\n"
	    "                      database lost, from the trail and the spool\n"
	    "                      (SHA-256 checked), audited; then exit. Run it\n"
	    "                      with the broker stopped, when the start says so\n"
	    "      --abandon ID    with --recover-state: give up lost transfer ID\n"
	    "                      that cannot be rebuilt (its accept record was\n"
	    "                      pruned): its spool copy is moved to the spool's\n"
	    "                      quarantine/ directory and a state_abandoned\n"
	    "                      record is written. May be repeated\n"
	    "      --reason TEXT   why (required with --abandon; audited)\n"
	    "      --totp-enroll USER  create a TOTP secret for USER, print its\n"
	    "                      otpauth:// URI and QR code; it becomes active\n"
	    "                      with the first code the user sends. Replacing\n"
	    "                      an active secret needs --force\n"
	    "      --totp-reset USER   remove USER's TOTP secret\n"
	    "      --totp-enrol-code USER  issue a one-time enrolment code\n"
	    "                      with which USER sets up TOTP from the browser\n"
	    "                      (it replaces USER's previous code);\n"
	    "                      printed once. An active secret is replaced\n"
	    "                      only with --force\n"
	    "      --ttl DURATION  how long the code is valid (5m..7d, default\n"
	    "                      24h)\n"
	    "      --register-bootstrap FILE  register.mode approved: install\n"
	    "                      FILE (checked as --check-config does) as the\n"
	    "                      first approved version of the interface\n"
	    "                      register, with --reason TEXT; audited. Later\n"
	    "                      changes go through sekisho register propose\n"
	    "      --register-export FILE  write the approved register version\n"
	    "                      in force to FILE (- for standard output), to\n"
	    "                      make the working copy the approved one\n"
	    "      --audit-keygen  write the audit signing key (audit.signing_key,\n"
	    "                      0600) and its verifier key for the auditors\n"
	    "  -V, --version       print the version\n"
	    "\n"
	    "Signals: SIGTERM stops (uploads in progress stay resumable),\n"
	    "SIGHUP reloads the CRL and the interface register (with\n"
	    "register.mode approved, a file that is not the approved version\n"
	    "in force is refused and audited).\n");
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

/*
 * Forks the TLS key process (tlskey.h). A key it cannot hold (not EC)
 * stays here, said once at start; a key that cannot be used at all stops
 * the start.
 */
static int
start_tlskey(struct broker *b, char *err, size_t errlen)
{
	char q[600];
	int rc = tlskey_start(b->cfg->tls_key, &b->tlskey, err, errlen);

	if (rc == 1) {
		log_kv("warn", "tls_key", "separated=0 reason=%s",
		    log_quote(err, q, sizeof(q)));
		err[0] = '\0';
		return 0;
	}
	if (rc == 0)
		log_kv("info", "tls_key", "separated=1");
	return rc;
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
	h2conn_shutdown_all(&d->b);
	forward_shutdown(d->b.forwarder);
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

/*
 * A register the broker would refuse to start with (a service delivery
 * cannot use: missing credentials, bad pins, unknown placeholders) is
 * refused on reload too, so a reload never swaps in what --check-config
 * rejects. On refusal frees *p and *rd and says what is wrong in err.
 */
static int
reload_delivery_check(struct daemon *d, struct policy **p,
    struct regdiff **rd, char *err, size_t errlen)
{
	char *probs = NULL, *nl;
	size_t plen = 0, n = 0;
	FILE *mf;

	if ((mf = open_memstream(&probs, &plen)) != NULL) {
		n = forward_check(d->b.cfg, *p, mf);
		fclose(mf);
	}
	if (mf != NULL && n == 0) {
		free(probs);
		return 0;
	}
	if (probs != NULL && (nl = strchr(probs, '\n')) != NULL)
		*nl = '\0';
	util_err(err, errlen, "%zu delivery problem%s in the register, "
	    "first: %s (sekishod --check-config lists them all)", n,
	    n == 1 ? "" : "s", probs != NULL && probs[0] != '\0' ? probs :
	    "cannot check");
	free(probs);
	policy_free(*p);
	regdiff_free(*rd);
	*p = NULL;
	*rd = NULL;
	return -1;
}

/*
 * register.mode approved, at SIGHUP: 1 when the file on disk is the
 * version in force (nothing to do); 0 when it is not, or cannot be read:
 * then the change is refused, logged and audited as
 * register_reload_refused, and the version in force stays.
 */
static int
reload_approved_check(struct daemon *d, char *err, size_t errlen)
{
	struct reload_job *j;
	char *buf = NULL, sha[UTIL_SHA256_HEX + 1], q[600];
	size_t len = 0;
	int same;

	if (regdiff_read_file(d->b.cfg->register_path, &buf, &len, err,
	    errlen) != 0 || regadmin_sha256(buf, len, sha, err,
	    errlen) != 0)
		util_strlcpy(sha, "", sizeof(sha));
	free(buf);
	same = sha[0] != '\0' && strcmp(sha, policy_hash(d->b.policy)) == 0;
	if (same)
		return 1;
	if (sha[0] != '\0')
		util_err(err, errlen, "%s (sha256 %s) is not the approved "
		    "register version in force; propose it with sekisho "
		    "register propose / 承認されていない台帳は読み込みません",
		    d->b.cfg->register_path, sha);
	log_kv("error", "register_reload_refused", "path=%s file_sha256=%s "
	    "register_sha256=%s reason=%s result=\"approved register stays "
	    "in force\"", log_quote(d->b.cfg->register_path, q, sizeof(q)),
	    sha[0] != '\0' ? sha : "-", policy_hash(d->b.policy),
	    log_quote(err, q, sizeof(q)));
	if ((j = calloc(1, sizeof(*j))) == NULL)
		return 0;
	auditrec_init(&j->rec, "register_reload_refused", NULL, NULL);
	auditrec_text(&j->rec, "path", d->b.cfg->register_path);
	auditrec_text(&j->rec, "file_sha256", sha);
	auditrec_text(&j->rec, "register", policy_hash(d->b.policy));
	auditrec_text(&j->rec, "error", err);
	j->job.work = work_reload;
	j->job.done = done_reload;
	j->job.arg = j;
	committer_submit(d->b.committer, &j->job);
	return 0;
}

static void
on_hup(evutil_socket_t sig, short what, void *arg)
{
	struct daemon *d = arg;
	struct policy *p = NULL;
	struct regdiff *rd = NULL;
	struct regdiff_changes ch;
	struct reload_job *j;
	SSL_CTX *ctx;
	time_t next_update;
	char err[512], q[600], old_hash[UTIL_SHA256_HEX + 1];
	int tls_ok = 0, policy_ok = 0, have_changes = 0;
	size_t revoked = 0;

	(void)sig;
	(void)what;
	/* The start's TLS checks: an expired CRL is refused here too. */
	if ((ctx = startcheck_tls(d->b.cfg, d->b.tlskey != NULL ?
	    tlskey_pkey(d->b.tlskey) : NULL, time(NULL), &next_update, err,
	    sizeof(err))) == NULL)
		log_kv("error", "reload", "part=tls reason=%s "
		    "result=\"old TLS context and CRL stay in force\"",
		    log_quote(err, q, sizeof(q)));
	else {
		SSL_CTX_free(d->b.ssl_ctx);
		d->b.ssl_ctx = ctx;
		d->b.crl_next_update = next_update;
		crlwatch_reloaded(d->crlwatch);
		tls_ok = 1;
		/* A certificate revoked by the new CRL loses its open
		 * connections too, not only its next handshake. */
		revoked = session_recheck_certificates(&d->b) +
		    h2conn_recheck_certificates(&d->b);
	}
	util_strlcpy(old_hash, policy_hash(d->b.policy), sizeof(old_hash));
	memset(&ch, 0, sizeof(ch));
	if (d->b.cfg->register_approved) {
		/* Only an approval changes the register in force; the file
		 * is looked at to catch an edit outside the process. */
		policy_ok = reload_approved_check(d, err, sizeof(err));
	} else if (startcheck_register(d->b.cfg->register_path, &p, &rd, err,
	    sizeof(err)) != 0 ||
	    reload_delivery_check(d, &p, &rd, err, sizeof(err)) != 0)
		log_kv("error", "reload", "part=register reason=%s "
		    "result=\"old register stays in force\"",
		    log_quote(err, q, sizeof(q)));
	else {
		/* Without the old digests (never at start) every interface
		 * would look new; report what can be compared. */
		if (d->regdiff != NULL && regdiff_compare(d->regdiff, rd, &ch,
		    err, sizeof(err)) == 0)
			have_changes = 1;
		policy_free(d->b.policy);
		d->b.policy = p;
		regdiff_free(d->regdiff);
		d->regdiff = rd;
		policy_ok = 1;
	}
	log_kv(tls_ok && policy_ok ? "info" : "warn", "reload",
	    "tls=%s register=%s register_sha256=%s added=%zu removed=%zu "
	    "changed=%zu sessions_revoked=%zu", tls_ok ? "reloaded" : "kept",
	    policy_ok ? "reloaded" : "kept", policy_hash(d->b.policy),
	    ch.nadded, ch.nremoved, ch.nchanged, revoked);
	if ((j = calloc(1, sizeof(*j))) == NULL) {
		regdiff_changes_free(&ch);
		return;
	}
	auditrec_init(&j->rec, "reload", NULL, NULL);
	auditrec_bool(&j->rec, "tls_reloaded", tls_ok);
	auditrec_bool(&j->rec, "register_reloaded", policy_ok);
	auditrec_uint(&j->rec, "sessions_revoked", revoked);
	auditrec_text(&j->rec, "register", policy_hash(d->b.policy));
	if (d->b.cfg->register_approved)
		auditrec_text(&j->rec, "register_mode", "approved");
	if (policy_ok) {
		auditrec_text(&j->rec, "register_previous", old_hash);
		auditrec_bool(&j->rec, "register_changed",
		    strcmp(old_hash, policy_hash(d->b.policy)) != 0);
	}
	if (have_changes) {
		/* Long lists are cut by auditrec (marked "..."); the counts
		 * stay exact. */
		auditrec_uint(&j->rec, "interfaces_added", ch.nadded);
		auditrec_uint(&j->rec, "interfaces_removed", ch.nremoved);
		auditrec_uint(&j->rec, "interfaces_changed", ch.nchanged);
		auditrec_text(&j->rec, "added", ch.added);
		auditrec_text(&j->rec, "removed", ch.removed);
		auditrec_text(&j->rec, "changed", ch.changed);
		auditrec_text(&j->rec, "sections_changed", ch.sections);
	}
	regdiff_changes_free(&ch);
	if (!tls_ok || !policy_ok)
		auditrec_text(&j->rec, "error", err);
	j->job.work = work_reload;
	j->job.done = done_reload;
	j->job.arg = j;
	committer_submit(d->b.committer, &j->job);
}

/* Moves the TOTP audit events queued by --totp-enroll/--totp-reset into
 * the trail, on the commit thread (it owns the store and the log). */
struct totp_job {
	struct commit_job job;
	struct daemon *d;
};

static int
work_totp_audit(struct commit_job *cj, struct commit_env *env)
{
	int n = stepup_audit_pending(env->store, env->audit, time(NULL),
	    cj->err, sizeof(cj->err));

	if (n > 0)
		snprintf(cj->err, sizeof(cj->err), "%d", n);
	return n < 0 ? -1 : 0;
}

static void
done_totp_audit(struct commit_job *cj, int status)
{
	struct totp_job *j = cj->arg;

	if (status != 0)
		log_kv("error", "totp_audit", "reason=\"%s\"", cj->err);
	else if (cj->err[0] != '\0')
		log_kv("info", "totp_audit", "appended=%s", cj->err);
	j->d->totp_busy = 0;
	free(j);
}

static void
on_totp_timer(evutil_socket_t fd, short what, void *arg)
{
	struct daemon *d = arg;
	struct totp_job *j;

	(void)fd;
	(void)what;
	if (d->totp_busy || d->b.shutting_down || d->b.committer == NULL ||
	    (j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->d = d;
	j->job.work = work_totp_audit;
	j->job.done = done_totp_audit;
	j->job.arg = j;
	d->totp_busy = 1;
	committer_submit(d->b.committer, &j->job);
}

/* The same at start, before the commit thread runs. */
static int
totp_audit_now(struct daemon *d, char *err, size_t errlen)
{
	int n;

	if (store_begin(d->store, err, errlen) != 0)
		return -1;
	if ((n = stepup_audit_pending(d->store, d->audit, time(NULL), err,
	    errlen)) < 0 || audit_sync(d->audit, err, errlen) != 0 ||
	    store_commit(d->store, err, errlen) != 0) {
		store_rollback(d->store);
		return -1;
	}
	if (n > 0)
		log_kv("info", "totp_audit", "appended=%d", n);
	return 0;
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

struct lint_out {
	const char *path;
	size_t n;
};

static void
print_lint(void *arg, unsigned line, const char *code, const char *msg)
{
	struct lint_out *o = arg;

	fprintf(stderr, "%s:%u: %s: %s\n", o->path, line, code, msg);
	o->n++;
}

static void
limits_of(const struct config *cfg, struct stepup_limits *lim)
{
	lim->max_failures = cfg->stepup_max_failures;
	lim->lockout = cfg->stepup_lockout;
	lim->lockout_max = cfg->stepup_lockout_max;
}

/* Interfaces of the register with a step_up rule (best effort: 0 when the
 * file cannot be read as YAML, which policy_load has reported already). */
static size_t
count_step_up(const char *path)
{
	struct yamlnode_doc *doc = NULL;
	const struct yamlnode *ifs;
	char err[256];
	size_t i, n = 0;

	if (yamlnode_load_file(path, &doc, err, sizeof(err)) != 0)
		return 0;
	ifs = doc->root != NULL ? yamlnode_get(doc->root, "interfaces") : NULL;
	if (ifs != NULL && ifs->kind == YAMLNODE_SEQ)
		for (i = 0; i < ifs->n; i++)
			if (yamlnode_get(ifs->items[i], "step_up") != NULL)
				n++;
	yamlnode_free(doc);
	return n;
}

/* register.mode approved: a warning when the working copy on disk is not
 * the version in force (a SIGHUP would refuse it). The number printed. */
static size_t
check_register_file(const struct config *cfg, const struct policy *p)
{
	char *buf = NULL, sha[UTIL_SHA256_HEX + 1], err[512];
	size_t len = 0;

	if (regdiff_read_file(cfg->register_path, &buf, &len, err,
	    sizeof(err)) != 0 || regadmin_sha256(buf, len, sha, err,
	    sizeof(err)) != 0) {
		free(buf);
		fprintf(stderr, "%s:0: register_file_unreadable: %s (the "
		    "approved version in force is used)\n", cfg->register_path,
		    err);
		return 1;
	}
	free(buf);
	if (strcmp(sha, policy_hash(p)) == 0)
		return 0;
	fprintf(stderr, "%s:0: register_file_differs: sha256 %s is not the "
	    "approved version in force (%s); it runs only once proposed and "
	    "approved (sekisho register propose)\n", cfg->register_path, sha,
	    policy_hash(p));
	return 1;
}

/*
 * Errors make the configuration invalid (exit 1): exactly those that stop
 * the start, because both run startcheck_run. Lint findings of the
 * register and a CRL close to its nextUpdate are warnings: printed as
 * "file:line: code: message" on stderr, and the exit status stays 0.
 */
static int
check_config(const char *path)
{
	struct config *cfg = NULL;
	struct startcheck sc;
	struct lint_out lo;
	char err[1024], why[400];
	time_t now = time(NULL);
	size_t nstep = 0;
	int ok = 0;

	memset(&sc, 0, sizeof(sc));
	if (config_load(path, &cfg, err, sizeof(err)) != 0 ||
	    startcheck_run(cfg, NULL, now, stderr, &sc, err,
	    sizeof(err)) != 0)
		fprintf(stderr, "sekishod: %s\n", err);
	else
		ok = 1;
	if (ok) {
		lo.path = cfg->register_path;
		lo.n = 0;
		policy_lint(sc.policy, now, print_lint, &lo);
		nstep = count_step_up(cfg->register_path);
		if (nstep > 0 && sc.stepup == NULL) {
			fprintf(stderr, "%s:0: stepup_unconfigured: %zu "
			    "interface(s) require TOTP step-up but the "
			    "configuration has no stepup section, so every such "
			    "transfer is refused\n", cfg->register_path, nstep);
			lo.n++;
		}
		if (cfg->register_approved)
			lo.n += check_register_file(cfg, sc.policy);
		if (crlwatch_state(sc.crl_next_update, now,
		    cfg->tls_crl_margin) == CRLWATCH_EXPIRING) {
			crlwatch_describe(sc.crl_next_update, now, why,
			    sizeof(why));
			fprintf(stderr, "%s:0: crl_expiring: %s (tls.crl_margin "
			    "%llus)\n", cfg->tls_crl, why,
			    (unsigned long long)cfg->tls_crl_margin);
			lo.n++;
		}
		printf("sekishod: configuration %s is valid (register %s, "
		    "sha256 %s, %zu warning%s)\n", path,
		    cfg->register_approved ? "approved version in the state "
		    "store" : cfg->register_path, policy_hash(sc.policy), lo.n,
		    lo.n == 1 ? "" : "s");
	}
	startcheck_release(&sc);
	config_free(cfg);
	return ok ? 0 : 1;
}

/* The clock offset of a test-hook build (0 otherwise, always). */
static time_t
test_clock_offset(void)
{
#ifdef SEKISHO_TEST_HOOKS
	const char *v = getenv("SEKISHO_TEST_CLOCK_OFFSET");
	char *end;
	long long o;

	if (v == NULL || v[0] == '\0')
		return 0;
	errno = 0;
	o = strtoll(v, &end, 10);
	if (errno != 0 || *end != '\0' || o < -100000000 || o > 100000000)
		return 0;
	return (time_t)o;
#else
	return 0;
#endif
}

/* Who runs an administrative command, for the audit trail. */
static void
admin_actor(char *out, size_t outlen)
{
	struct passwd *pw = getpwuid(getuid());
	const char *sudo = getenv("SUDO_USER");
	char name[65];

	util_strlcpy(name, pw != NULL && pw->pw_name != NULL ? pw->pw_name :
	    "?", sizeof(name));
	if (sudo != NULL && util_is_token(sudo, 32) && strcmp(sudo, name) != 0)
		snprintf(out, outlen, "%s (sudo by %s)", name, sudo);
	else
		snprintf(out, outlen, "%s", name);
}

/* Prints base32 in groups of four, as authenticator apps show it. */
static void
print_grouped(const char *b32)
{
	size_t i;

	for (i = 0; b32[i] != '\0'; i++) {
		if (i > 0 && i % 4 == 0)
			putchar(' ');
		putchar(b32[i]);
	}
}

/*
 * --totp-enroll / --totp-reset. They run beside a live broker: SQLite in
 * WAL mode with a busy timeout lets both write the state store, and the
 * audit events wait in the store until the broker appends them (the audit
 * log itself is the broker's alone).
 */
static int
totp_admin(const char *path, const char *enroll, const char *reset,
    int force)
{
	struct config *cfg = NULL;
	struct store *st = NULL;
	struct stepup *su = NULL;
	struct stepup_limits lim;
	struct stepup_enrolment e;
	char err[1024], actor[128], *qr = NULL;
	time_t now = time(NULL) + test_clock_offset();
	int rc = 1, r;

	memset(&e, 0, sizeof(e));
	if (config_load(path, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "sekishod: %s\n", err);
		goto out;
	}
	admin_actor(actor, sizeof(actor));
	if (store_open(cfg->state_db, &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "sekishod: %s\n", err);
		goto out;
	}
	if (reset != NULL) {
		r = stepup_reset(st, reset, actor, now, err, sizeof(err));
		if (r != 0) {
			fprintf(stderr, "sekishod: %s\n", err);
			goto out;
		}
		printf("sekishod: TOTP secret of %s removed; step-up is "
		    "impossible for this user until enrolled again\n", reset);
		rc = 0;
		goto out;
	}
	if (cfg->stepup_key_file == NULL) {
		fprintf(stderr, "sekishod: %s has no stepup section (key_file): "
		    "TOTP secrets cannot be stored\n", path);
		goto out;
	}
	limits_of(cfg, &lim);
	if (stepup_new(cfg->stepup_key_file, &lim, &su, err,
	    sizeof(err)) != 0 ||
	    stepup_enroll(su, st, enroll, actor, force, now, &e, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "sekishod: %s\n", err);
		goto out;
	}
	if ((qr = stepup_qr_text(e.uri, err, sizeof(err))) == NULL)
		fprintf(stderr, "sekishod: warning: %s; use the key or the URI "
		    "below\n", err);
	printf("TOTP secret for %s created%s. It stays pending until %s "
	    "proves one code\n(the first step-up with `sekisho put`).\n\n",
	    enroll, e.replaced == 2 ? " (the active secret was replaced)" :
	    e.replaced == 1 ? " (the pending secret was replaced)" : "",
	    enroll);
	if (qr != NULL)
		printf("Scan with an authenticator app:\n\n%s\n", qr);
	printf("Or enter this key by hand (TOTP, SHA-1, 6 digits, 30 s):\n  ");
	print_grouped(e.base32);
	printf("\n\nURI: %s\n\nThis secret is not shown again. Hand it over "
	    "in person; do not send it by e-mail.\n", e.uri);
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	if (qr != NULL) {
		OPENSSL_cleanse(qr, strlen(qr));
		free(qr);
	}
	OPENSSL_cleanse(&e, sizeof(e));
	stepup_free(su);
	store_close(st);
	config_free(cfg);
	return rc;
}

/* t as local time of the register's zone: "2026-12-08 21:00 (+09:00
 * Asia/Tokyo)"; UTC when the register cannot be read. */
static void
zone_time(const struct tzone *z, time_t t, char *out, size_t outlen)
{
	int32_t off = z != NULL ? tzone_offset(z, (int64_t)t) : 0;
	time_t local = t + off;
	struct tm tm;
	char day[32];
	int a = off < 0 ? -off : off;

	if (gmtime_r(&local, &tm) == NULL ||
	    strftime(day, sizeof(day), "%Y-%m-%d %H:%M", &tm) == 0)
		util_strlcpy(day, "?", sizeof(day));
	snprintf(out, outlen, "%s (%c%02d:%02d %s)", day, off < 0 ? '-' : '+',
	    a / 3600, a % 3600 / 60, z != NULL ? tzone_name(z) : "UTC");
}

/*
 * --totp-enrol-code: a one-time code with which USER enrols from the
 * browser or client (op totp_enrol). Like --totp-enroll it runs beside a
 * live broker and leaves its audit event queued in the store.
 */
static int
totp_enrol_code(const char *path, const char *user, const char *ttl_text,
    int force)
{
	struct config *cfg = NULL;
	struct store *st = NULL;
	struct stepup *su = NULL;
	struct stepup_limits lim;
	struct enrolcode_issued out;
	struct policy *p = NULL;
	struct regdiff *rd = NULL;
	char err[1024], actor[128], when[96], utc[21];
	time_t now = time(NULL) + test_clock_offset();
	uint64_t ttl = ENROLCODE_TTL_DEFAULT;
	int rc = 1;

	memset(&out, 0, sizeof(out));
	if (ttl_text != NULL && enrolcode_parse_ttl(ttl_text, &ttl, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "sekishod: %s\n", err);
		return 2;
	}
	if (config_load(path, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "sekishod: %s\n", err);
		goto out;
	}
	if (cfg->stepup_key_file == NULL) {
		fprintf(stderr, "sekishod: %s has no stepup section (key_file): "
		    "TOTP secrets cannot be stored\n", path);
		goto out;
	}
	admin_actor(actor, sizeof(actor));
	limits_of(cfg, &lim);
	if (store_open(cfg->state_db, &st, err, sizeof(err)) != 0 ||
	    stepup_new(cfg->stepup_key_file, &lim, &su, err,
	    sizeof(err)) != 0 ||
	    enrolcode_issue(su, st, user, actor, force, ttl, now, &out, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "sekishod: %s\n", err);
		goto out;
	}
	/* The register's zone, as for every date users see. */
	if (startcheck_register(cfg->register_path, &p, &rd, err,
	    sizeof(err)) != 0)
		fprintf(stderr, "sekishod: warning: %s; the expiry is shown in "
		    "UTC\n", err);
	zone_time(p != NULL ? policy_interface_zone(p, NULL) : NULL,
	    (time_t)out.expires, when, sizeof(when));
	util_time_rfc3339((time_t)out.expires, utc);
	printf("%s の TOTP 登録コード / TOTP enrolment code for %s%s:\n\n"
	    "    %s\n\n"
	    "有効期限 / valid until: %s = %s\n"
	    "1 回だけ使えます / one use only.\n\n"
	    "利用者はこのコードをブラウザーに入力し、表示される QR コードを"
	    "読み取って最初のワンタイムコードで確認します。\n"
	    "%s enters it in the browser, scans the QR code shown then and\n"
	    "confirms with the first one-time code.\n%s"
	    "\nこのコードは二度と表示されません。対面か電話で渡し、電子メールで"
	    "送らないでください。\nThe code is not shown again. Hand it over "
	    "in person or by telephone;\ndo not send it by e-mail.\n", user,
	    user, out.replaced ? " (the previous code no longer works / "
	    "以前のコードは無効になりました)" : "", out.code, when, utc, user,
	    out.active ? "\n使われた時点で、現在有効な TOTP 秘密鍵は無効になります"
	    "。\nWhen it is used, the active TOTP secret stops working.\n" :
	    "");
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	OPENSSL_cleanse(&out, sizeof(out));
	policy_free(p);
	regdiff_free(rd);
	stepup_free(su);
	store_close(st);
	config_free(cfg);
	return rc;
}

/*
 * --register-bootstrap: the first approved version of the register. Like
 * the TOTP commands it may run beside a live broker; its audit event waits
 * in the store until the broker appends it. A running broker keeps the
 * register it started with until it is restarted.
 */
static int
register_bootstrap(const char *path, const char *file, const char *reason)
{
	struct config *cfg = NULL;
	struct store *st = NULL;
	char err[1024], actor[128], sha[UTIL_SHA256_HEX + 1];
	time_t now = time(NULL) + test_clock_offset();
	int rc = 1;

	if (config_load(path, &cfg, err, sizeof(err)) != 0 ||
	    store_open(cfg->state_db, &st, err, sizeof(err)) != 0) {
		fprintf(stderr, "sekishod: %s\n", err);
		goto out;
	}
	admin_actor(actor, sizeof(actor));
	if (regadmin_bootstrap(cfg, st, file, reason, actor, now, stderr,
	    sha, err, sizeof(err)) != 0) {
		fprintf(stderr, "sekishod: --register-bootstrap: %s\n", err);
		goto out;
	}
	printf("台帳 %s を最初の承認済み版として登録しました / installed %s as "
	    "the first approved version of the register\n  sha256 %s\n"
	    "以後の変更は sekisho register propose で提案し、別の承認者が承認"
	    "します。\nLater changes are proposed with sekisho register "
	    "propose and approved by another person.\n", file, file, sha);
	rc = fflush(stdout) == 0 ? 0 : 1;
out:
	store_close(st);
	config_free(cfg);
	return rc;
}

/* --register-export: the approved version in force, to FILE or stdout
 * (regadmin_export). */
static int
register_export(const char *path, const char *file)
{
	struct config *cfg = NULL;
	char err[1024], sha[UTIL_SHA256_HEX + 1];
	int rc = 1;

	if (config_load(path, &cfg, err, sizeof(err)) != 0 ||
	    regadmin_export(cfg->state_db, file, sha, err, sizeof(err)) != 0)
		fprintf(stderr, "sekishod: --register-export: %s\n", err);
	else {
		if (strcmp(file, "-") != 0)
			fprintf(stderr, "sekishod: wrote the approved register "
			    "version %s to %s / 承認済みの台帳を書き出しました\n",
			    sha, file);
		rc = 0;
	}
	config_free(cfg);
	return rc;
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
	struct note_verifier vk;
	char err[1024];
	int rc = 1, have_vk = 0;

	if (config_load(path, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "sekishod: %s\n", err);
		goto out;
	}
	/* No verifier key yet: a trail that was never checkpointed. */
	if (cfg->audit_verifier_key != NULL &&
	    access(cfg->audit_verifier_key, F_OK) == 0) {
		if (note_verifier_load(cfg->audit_verifier_key, &vk, err,
		    sizeof(err)) != 0) {
			fprintf(stderr, "sekishod: %s: %s\n",
			    cfg->audit_verifier_key, err);
			goto out;
		}
		have_vk = 1;
	}
	if (audit_check_file(cfg->audit_log, have_vk ? &vk : NULL,
	    print_record, NULL, err, sizeof(err)) != 0)
		fprintf(stderr, "sekishod: audit log %s: %s\n", cfg->audit_log,
		    err);
	else
		rc = 0;
out:
	fflush(stdout);
	config_free(cfg);
	return rc;
}

/*
 * --recover-state: rebuilds the rows the state lost (broker/reconcile.h),
 * with the same start-up recovery and checkpoints as a start, then exits.
 * The trail's flock keeps a running broker out.
 */
/* The operator's reason goes into the trail as text: no control bytes. */
static int
has_control(const char *s)
{
	for (; *s != '\0'; s++)
		if ((unsigned char)*s < 0x20 || *s == 0x7f)
			return 1;
	return 0;
}

#define MAX_ABANDON 64
#define MAX_REASON 400

static int
recover_state(const char *path, char *const *abandon, size_t nabandon,
    const char *reason)
{
	struct config *cfg = NULL;
	struct auditsvc *asvc = NULL;
	struct spool *sp = NULL;
	struct store *st = NULL;
	struct audit *a = NULL;
	struct reconcile *r = NULL;
	struct auditrec rec;
	char err[1024], q[1100];
	size_t torn = 0;
	long n = -1, failed = 0;
	size_t i;
	int rc = 1;

	umask(077);
	if (config_load(path, &cfg, err, sizeof(err)) != 0 ||
	    auditsvc_start(cfg, &asvc, err, sizeof(err)) != 0 ||
	    spool_open(cfg->spool_dir, &sp, err, sizeof(err)) != 0 ||
	    store_open(cfg->state_db, &st, err, sizeof(err)) != 0 ||
	    auditsvc_open(asvc, cfg, &a, &torn, err, sizeof(err)) != 0 ||
	    housekeeping_recover(st, a, sp, time(NULL), err, sizeof(err)) < 0 ||
	    reconcile_scan(a, &r, err, sizeof(err)) != 0)
		goto out;
	for (i = 0; i < nabandon; i++) {
		if (reconcile_abandon(r, st, a, sp, abandon[i], reason,
		    time(NULL), err, sizeof(err)) != 0)
			goto out;
		log_kv("warn", "recover_state", "abandoned=%s "
		    "spool_copy=%s/", abandon[i], SPOOL_QUARANTINE);
		printf("転送 %s を復元不能として記録し、スプールの複製を %s/ に"
		    "移しました / recorded transfer %s as abandoned; its spool "
		    "copy (if any) is in the spool's %s/ directory\n",
		    abandon[i], SPOOL_QUARANTINE, abandon[i],
		    SPOOL_QUARANTINE);
	}
	if ((n = reconcile_rebuild(r, st, a, sp, cfg->approvals_hold,
	    time(NULL), &failed, err, sizeof(err))) < 0)
		goto out;
	auditrec_init(&rec, "recover_state", NULL, NULL);
	auditrec_uint(&rec, "rebuilt", (uint64_t)n);
	auditrec_uint(&rec, "failed", (uint64_t)failed);
	auditrec_uint(&rec, "abandoned", (uint64_t)nabandon);
	if (audit_now(a, &rec, err, sizeof(err)) != 0 ||
	    auditsvc_checkpoint(asvc, a, err, sizeof(err)) != 0)
		goto out;
	log_kv(failed > 0 ? "error" : "info", "recover_state",
	    "rebuilt=%ld failed=%ld", n, failed);
	printf("状態を %ld 件復元しました (うちスプールの複製が欠損・破損して"
	    "いたため失敗としたもの %ld 件) / rebuilt %ld transfer%s from the "
	    "audit trail and the spool (%ld of them failed: spool copy "
	    "missing or damaged; sekisho status shows why)\n", n, failed, n,
	    n == 1 ? "" : "s", failed);
	rc = 0;
out:
	if (rc != 0) {
		log_kv("error", "recover_state", "reason=%s",
		    log_quote(err, q, sizeof(q)));
		fprintf(stderr, "sekishod: --recover-state: %s\n", err);
	}
	fflush(stdout);
	reconcile_free(r);
	audit_close(a);
	auditsvc_free(asvc);
	store_close(st);
	spool_close(sp);
	config_free(cfg);
	return rc;
}

static int
run(const char *path)
{
	struct daemon d;
	struct startcheck sc;
	struct auditrec rec;
	char err[1024], q[1100];
	size_t torn = 0;
	int recovered, rc = 1;
	long compensated, damaged;

	memset(&d, 0, sizeof(d));
	memset(&sc, 0, sizeof(sc));
	TAILQ_INIT(&d.b.sessions);
	TAILQ_INIT(&d.b.handshakes);
	LIST_INIT(&d.b.uploads);
	TAILQ_INIT(&d.b.h2conns);
	signal(SIGPIPE, SIG_IGN);
	/* Before any thread exists. */
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		fprintf(stderr, "sekishod: cannot initialise libcurl\n");
		return 1;
	}
	umask(077);
	/* The signer and the TLS key process are forked first: before any
	 * thread, key or socket. */
	if (config_load(path, &d.b.cfg, err, sizeof(err)) != 0 ||
	    auditsvc_start(d.b.cfg, &d.asvc, err, sizeof(err)) != 0 ||
	    start_tlskey(&d.b, err, sizeof(err)) != 0 ||
	    startcheck_run(d.b.cfg, d.b.tlskey != NULL ?
	    tlskey_pkey(d.b.tlskey) : NULL, time(NULL), stderr, &sc, err,
	    sizeof(err)) != 0)
		goto fail;
	/* What was checked is what runs (startcheck.h). */
	d.b.policy = sc.policy;
	d.regdiff = sc.regdiff;
	d.b.ssl_ctx = sc.ssl_ctx;
	d.b.stepup = sc.stepup;
	d.b.crl_next_update = sc.crl_next_update;
	d.b.web = sc.web;
	log_kv(sc.web_skipped > 0 ? "warn" : "info", "web", "root=%s pages=%zu "
	    "skipped=%zu%s", log_quote(sc.web_root, q, sizeof(q)),
	    web_count(sc.web), sc.web_skipped, sc.web_skipped > 0 ?
	    " reason=\"links, hidden files and other names are never "
	    "served\"" : "");
	memset(&sc, 0, sizeof(sc));
	if (spool_open(d.b.cfg->spool_dir, &d.b.spool, err, sizeof(err)) != 0 ||
	    store_open(d.b.cfg->state_db, &d.store, err, sizeof(err)) != 0 ||
	    auditsvc_open(d.asvc, d.b.cfg, &d.audit, &torn, err,
	    sizeof(err)) != 0)
		goto fail;
	/* The cross-check comes first: a start that lost acknowledged
	 * transfers must stop before anything is changed (no orphan removed,
	 * no recovery record written), and the trail is compared with the
	 * state as the crash left it. */
	if ((compensated = housekeeping_cross_check(d.store, d.audit, err,
	    sizeof(err))) < 0)
		goto fail;
	if (compensated > 0)
		log_kv("warn", "recover", "compensated=%ld reason=\"the audit "
		    "trail ran ahead of the state; reconcile records written\"",
		    compensated);
	recovered = housekeeping_recover(d.store, d.audit, d.b.spool,
	    time(NULL), err, sizeof(err));
	if (recovered < 0)
		goto fail;
	if ((damaged = housekeeping_verify_spool(d.store, d.audit, d.b.spool,
	    time(NULL), err, sizeof(err))) < 0)
		goto fail;
	recovered += (int)damaged;
	/* Open exceptions, for decisions on the loop (the store is still
	 * this thread's). */
	if (officer_new(d.store, &d.b.officer, err, sizeof(err)) != 0)
		goto fail;
	d.b.clock_offset = test_clock_offset();
	if (d.b.clock_offset != 0)
		log_kv("warn", "test_hook", "clock_offset=%lld",
		    (long long)d.b.clock_offset);
	if ((d.b.grants = calloc(1, sizeof(*d.b.grants))) == NULL) {
		util_err(err, sizeof(err), "out of memory");
		goto fail;
	}
	if (totp_audit_now(&d, err, sizeof(err)) != 0)
		goto fail;
	auditrec_init(&rec, "start", NULL, NULL);
	auditrec_text(&rec, "version", VERSION);
	auditrec_text(&rec, "register", policy_hash(d.b.policy));
	auditrec_text(&rec, "register_mode", d.b.cfg->register_approved ?
	    "approved" : "file");
	auditrec_uint(&rec, "recovered", (uint64_t)recovered);
	auditrec_uint(&rec, "compensated", (uint64_t)compensated);
	auditrec_uint(&rec, "audit_torn_bytes", torn);
	if (audit_now(d.audit, &rec, err, sizeof(err)) != 0 ||
	    auditsvc_checkpoint(d.asvc, d.audit, err, sizeof(err)) != 0)
		goto fail;

	if (evthread_use_pthreads() != 0 ||
	    (d.b.base = event_base_new()) == NULL) {
		util_err(err, sizeof(err), "cannot create the event loop");
		goto fail;
	}
	/* Before the commit thread: it reads the version in force from the
	 * store, which is still this thread's. */
	if (regapproval_start(&d.b, d.store, err, sizeof(err)) != 0)
		goto fail;
	d.env.store = d.store;
	d.env.audit = d.audit;
	d.env.spool = d.b.spool;
	/*
	 * The listener is bound last: a terminal (or a supervisor probing the
	 * port) that can connect must be able to rely on a broker that has
	 * finished starting, not one about to exit over a bad notify URL.
	 */
	if (committer_start(d.b.base, &d.env, &d.b.committer, err,
	    sizeof(err)) != 0 ||
	    refusals_start(&d.b, err, sizeof(err)) != 0 ||
	    auditsvc_timer_start(d.asvc, &d.b, d.audit, err, sizeof(err)) != 0 ||
	    housekeeping_start(&d.b, err, sizeof(err)) != 0 ||
	    forward_start(&d.b, &d.b.forwarder, err, sizeof(err)) != 0 ||
	    officer_start(d.b.officer, &d.b, err, sizeof(err)) != 0 ||
	    monitor_start(&d.b, &d.monitor, err, sizeof(err)) != 0 ||
	    crlwatch_start(&d.b, &d.crlwatch, err, sizeof(err)) != 0)
		goto fail;
	d.sig_term = evsignal_new(d.b.base, SIGTERM, on_term, &d);
	d.sig_int = evsignal_new(d.b.base, SIGINT, on_term, &d);
	d.sig_hup = evsignal_new(d.b.base, SIGHUP, on_hup, &d);
	d.totp_ev = event_new(d.b.base, -1, EV_PERSIST, on_totp_timer, &d);
	if (d.sig_term == NULL || d.sig_int == NULL || d.sig_hup == NULL ||
	    d.totp_ev == NULL ||
	    event_add(d.sig_term, NULL) != 0 || event_add(d.sig_int, NULL) != 0 ||
	    event_add(d.sig_hup, NULL) != 0 ||
	    event_add(d.totp_ev, &(struct timeval){ TOTP_AUDIT_INTERVAL, 0 }) !=
	    0) {
		util_err(err, sizeof(err), "cannot install signal handlers");
		goto fail;
	}
	if (listen_on(&d, err, sizeof(err)) != 0)
		goto fail;
	log_kv("info", "start", "version=%s listen=%s:%s register_sha256=%s "
	    "recovered=%d", VERSION, d.b.cfg->listen_host,
	    d.b.cfg->listen_port, policy_hash(d.b.policy), recovered);
	event_base_dispatch(d.b.base);

	committer_stop(d.b.committer);
	d.b.committer = NULL;
	auditsvc_timer_stop(d.asvc);
	auditrec_init(&rec, "stop", NULL, NULL);
	if (audit_now(d.audit, &rec, err, sizeof(err)) != 0 ||
	    auditsvc_checkpoint(d.asvc, d.audit, err, sizeof(err)) != 0) {
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
	auditsvc_timer_stop(d.asvc);
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
	if (d.totp_ev != NULL)
		event_free(d.totp_ev);
	housekeeping_stop(&d.b);
	crlwatch_free(d.crlwatch);
	d.crlwatch = NULL;
	/* The committer is stopped: no count job is pending now. */
	monitor_free(d.monitor);
	d.monitor = NULL;
	/* The committer is stopped: no job can call the forwarder now. */
	forward_free(d.b.forwarder);
	d.b.forwarder = NULL;
	officer_free(d.b.officer);
	regapproval_free(d.b.regapproval);
	d.b.officer = NULL;
	if (d.b.listener != NULL)
		evconnlistener_free(d.b.listener);
	refusals_stop(&d.b);
	if (d.b.base != NULL)
		event_base_free(d.b.base);
	audit_close(d.audit);
	auditsvc_free(d.asvc);
	store_close(d.store);
	spool_close(d.b.spool);
	SSL_CTX_free(d.b.ssl_ctx);
	/* After the last TLS context: their keys call into it. */
	tlskey_stop(d.b.tlskey);
	policy_free(d.b.policy);
	regdiff_free(d.regdiff);
	stepup_free(d.b.stepup);
	free(d.b.grants);
	web_free(d.b.web);
	config_free(d.b.cfg);
	curl_global_cleanup();
	return rc;
}

int
main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "config", required_argument, NULL, 'c' },
		{ "check-config", no_argument, NULL, 't' },
		{ "print-audit", no_argument, NULL, 'p' },
		{ "recover-state", no_argument, NULL, 'S' },
		{ "abandon", required_argument, NULL, 'A' },
		{ "reason", required_argument, NULL, 'r' },
		{ "audit-keygen", no_argument, NULL, 'K' },
		{ "totp-enroll", required_argument, NULL, 'E' },
		{ "register-bootstrap", required_argument, NULL, 'B' },
		{ "register-export", required_argument, NULL, 'X' },
		{ "totp-reset", required_argument, NULL, 'R' },
		{ "totp-enrol-code", required_argument, NULL, 'O' },
		{ "ttl", required_argument, NULL, 'L' },
		{ "force", no_argument, NULL, 'f' },
		{ "version", no_argument, NULL, 'V' },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *config = NULL, *enroll = NULL, *reset = NULL;
	const char *enrol_code = NULL, *ttl = NULL;
	const char *reason = NULL, *bootstrap = NULL, *export_to = NULL;
	char *abandon[MAX_ABANDON];
	size_t nabandon = 0;
	int ch, check = 0, dump = 0, keygen = 0, force = 0, rebuild = 0;

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
		case 'S':
			rebuild = 1;
			break;
		case 'A':
			if (nabandon == MAX_ABANDON || !util_is_id(optarg)) {
				fprintf(stderr, "sekishod: --abandon %s: %s\n",
				    optarg, nabandon == MAX_ABANDON ? "at most "
				    "64 transfers per run" : "not a transfer id "
				    "(32 lowercase hex digits)");
				return 2;
			}
			abandon[nabandon++] = optarg;
			break;
		case 'r':
			reason = optarg;
			break;
		case 'E':
			enroll = optarg;
			break;
		case 'B':
			bootstrap = optarg;
			break;
		case 'X':
			export_to = optarg;
			break;
		case 'R':
			reset = optarg;
			break;
		case 'O':
			enrol_code = optarg;
			break;
		case 'L':
			ttl = optarg;
			break;
		case 'f':
			force = 1;
			break;
		case 'K':
			keygen = 1;
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
	if (config == NULL || optind != argc ||
	    check + dump + rebuild + (enroll != NULL) + (reset != NULL) +
	    (enrol_code != NULL) + (bootstrap != NULL) +
	    (export_to != NULL) > 1 ||
	    (force && enroll == NULL && enrol_code == NULL) ||
	    (ttl != NULL && enrol_code == NULL)) {
		usage(stderr);
		return 2;
	}
	if (export_to != NULL) {
		if (reason != NULL || nabandon > 0) {
			usage(stderr);
			return 2;
		}
		return register_export(config, export_to);
	}
	if (bootstrap != NULL) {
		if (reason == NULL || reason[0] == '\0' ||
		    strlen(reason) > MAX_REASON || has_control(reason) ||
		    nabandon > 0) {
			fprintf(stderr, "sekishod: --register-bootstrap FILE "
			    "needs --reason TEXT: why (1..%d characters, no "
			    "control characters), recorded with the version\n",
			    MAX_REASON);
			return 2;
		}
		return register_bootstrap(config, bootstrap, reason);
	}
	if ((nabandon > 0 || reason != NULL) && (!rebuild || nabandon == 0 ||
	    reason == NULL || reason[0] == '\0' ||
	    strlen(reason) > MAX_REASON || has_control(reason))) {
		fprintf(stderr, "sekishod: --abandon ID and --reason TEXT go "
		    "together, with --recover-state; TEXT says why (1..%d "
		    "characters, no control characters), for the audit "
		    "trail\n", MAX_REASON);
		return 2;
	}
	if (enroll != NULL || reset != NULL)
		return totp_admin(config, enroll, reset, force);
	if (enrol_code != NULL)
		return totp_enrol_code(config, enrol_code, ttl, force);
	if (keygen) {
		if (check || dump || rebuild) {
			usage(stderr);
			return 2;
		}
		return auditsvc_keygen(config);
	}
	if (check)
		return check_config(config);
	if (dump)
		return print_audit(config);
	if (rebuild)
		return recover_state(config, abandon, nabandon, reason);
	return run(config);
}
