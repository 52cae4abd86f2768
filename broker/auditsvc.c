/*
 * auditsvc — see auditsvc.h.
 *
 * The timer never touches the trail itself: the trail belongs to the commit
 * thread, so each tick queues a small job (at most one at a time) whose
 * work signs a checkpoint when due and prunes when due. A tick job is also
 * an ordinary batch, so the committer's health flag is refreshed by it; the
 * done callback, back on the loop, logs the unhealthy state.
 */
#include "broker/auditsvc.h"
#include "broker/audit.h"
#include "broker/auditsign.h"
#include "broker/broker.h"
#include "broker/committer.h"
#include "broker/config.h"
#include "broker/log.h"
#include "lib/util.h"

#include <sys/stat.h>

#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/event.h>

#define TICK_MAX 5		/* seconds between ticks at most */
#define PRUNE_EVERY 60		/* seconds between retention checks */
#define UNHEALTHY_LOG_EVERY 60	/* seconds between error lines */

struct auditsvc {
	struct auditsign *signer;
	struct note_verifier vk;
	const struct config *cfg;
	struct broker *b;
	struct audit *a;
	struct event *tick;
	int busy;			/* a tick job is queued */
	time_t last_prune;
	time_t last_unhealthy_log;
};

struct tick_job {
	struct commit_job job;
	struct auditsvc *s;
	time_t now;
	int prune;
	int pruned;			/* segments removed */
};

int
auditsvc_start(const struct config *cfg, struct auditsvc **out, char *err,
    size_t errlen)
{
	struct auditsign_options opt;
	struct auditsvc *s;
	char name[NOTE_NAME_MAX + 1], cpdir[PATH_MAX];
	int generated = 0;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return util_err(err, errlen, "out of memory");
	s->cfg = cfg;
	if (cfg->audit_name != NULL)
		util_strlcpy(name, cfg->audit_name, sizeof(name));
	else
		auditsign_default_name(name, sizeof(name));
	snprintf(cpdir, sizeof(cpdir), "%s/checkpoints", cfg->audit_log);
	memset(&opt, 0, sizeof(opt));
	opt.signing_key = cfg->audit_signing_key;
	opt.verifier_key = cfg->audit_verifier_key;
	opt.checkpoint_dir = cpdir;
	opt.generate = cfg->audit_key_default;
	opt.name = cfg->audit_name != NULL ? cfg->audit_name : name;
	if (auditsign_start(&opt, &s->signer, &s->vk, &generated, err,
	    errlen) != 0) {
		free(s);
		return -1;
	}
	if (generated) {
		char text[NOTE_KEY_TEXT_MAX + 1], e[128];

		if (note_verifier_format(&s->vk, text, sizeof(text), e,
		    sizeof(e)) != 0)
			text[0] = '\0';
		log_kv("warn", "audit_key", "result=generated signing_key=%s "
		    "verifier_key=%s verifier=%s note=\"give the verifier key "
		    "to the auditors\"", cfg->audit_signing_key,
		    cfg->audit_verifier_key, text);
	}
	*out = s;
	return 0;
}

const struct note_verifier *
auditsvc_verifier(const struct auditsvc *s)
{
	return &s->vk;
}

int
auditsvc_open(struct auditsvc *s, const struct config *cfg,
    struct audit **out, size_t *torn_bytes, char *err, size_t errlen)
{
	struct audit_options opt;
	struct audit_recovery rec;

	memset(&opt, 0, sizeof(opt));
	opt.segment_size = cfg->audit_segment_size;
	opt.origin = s->vk.name;
	opt.verifier = &s->vk;
	opt.sign = auditsign_sign;
	opt.sign_arg = s->signer;
	opt.checkpoint_records = cfg->audit_checkpoint_records;
	opt.checkpoint_interval = cfg->audit_checkpoint_interval;
	if (audit_open_opts(cfg->audit_log, &opt, out, &rec, err, errlen) != 0)
		return -1;
	if (torn_bytes != NULL)
		*torn_bytes = (size_t)rec.torn_bytes;
	if (rec.torn_bytes > 0)
		log_kv("warn", "audit", "reason=\"removed %llu bytes of an "
		    "incomplete final record left by a crash\"",
		    (unsigned long long)rec.torn_bytes);
	if (rec.tree_rebuilt)
		log_kv("warn", "audit", "reason=\"the Merkle node file did not "
		    "match the signed checkpoint; rebuilt from the records\"");
	log_kv("info", "audit", "dir=%s records=%llu checkpoint=%llu "
	    "rehashed=%llu origin=%s", cfg->audit_log,
	    (unsigned long long)audit_next_seq(*out),
	    (unsigned long long)rec.checkpoint_size,
	    (unsigned long long)rec.rehashed, s->vk.name);
	return 0;
}

int
auditsvc_checkpoint(struct auditsvc *s, struct audit *a, char *err,
    size_t errlen)
{
	(void)s;
	return audit_checkpoint(a, time(NULL), 1, err, errlen) < 0 ? -1 : 0;
}

/* ---- the timer ---------------------------------------------------------- */

static int
work_tick(struct commit_job *cj, struct commit_env *env)
{
	struct tick_job *j = cj->arg;
	const struct config *cfg = j->s->cfg;
	int n;

	if (env->audit == NULL || !audit_healthy(env->audit))
		return 0;
	if (audit_checkpoint(env->audit, j->now, 0, cj->err,
	    sizeof(cj->err)) < 0)
		return -1;
	if (j->prune && cfg->audit_retention > 0) {
		n = audit_prune(env->audit, j->now, cfg->audit_retention,
		    cfg->audit_archive_dir, cj->err, sizeof(cj->err));
		if (n < 0)
			return -1;
		j->pruned = n;
	}
	return 0;
}

static void
done_tick(struct commit_job *cj, int status)
{
	struct tick_job *j = cj->arg;
	struct auditsvc *s = j->s;
	char q[600];

	s->busy = 0;
	if (status != 0)
		log_kv("error", "audit", "reason=%s",
		    log_quote(cj->err, q, sizeof(q)));
	if (j->pruned > 0)
		log_kv("info", "audit_prune", "segments=%d retention=%llu "
		    "archive=%s", j->pruned,
		    (unsigned long long)s->cfg->audit_retention,
		    s->cfg->audit_archive_dir != NULL ?
		    s->cfg->audit_archive_dir : "-");
	free(j);
}

/* Seconds between retention checks: a minute, or less for a retention of
 * under two minutes (which only tests use). */
static time_t
prune_every(const struct config *cfg)
{
	if (cfg->audit_retention >= 2 * PRUNE_EVERY)
		return PRUNE_EVERY;
	return cfg->audit_retention >= 2 ? (time_t)cfg->audit_retention / 2 : 1;
}

static void
on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct auditsvc *s = arg;
	struct tick_job *j;
	time_t now = time(NULL);

	(void)fd;
	(void)what;
	if (s->b->committer == NULL || s->b->shutting_down)
		return;
	if (!committer_audit_healthy(s->b->committer) &&
	    now - s->last_unhealthy_log >= UNHEALTHY_LOG_EVERY) {
		char why[256], q[300];

		committer_audit_failure(s->b->committer, why, sizeof(why));
		log_kv("error", "audit_unavailable", "reason=%s result=\"new "
		    "transfers are refused until the audit trail is writable "
		    "and the broker restarted\"", log_quote(why, q, sizeof(q)));
		s->last_unhealthy_log = now;
	}
	if (s->busy || (j = calloc(1, sizeof(*j))) == NULL)
		return;
	j->s = s;
	j->now = now;
	if (now - s->last_prune >= prune_every(s->cfg)) {
		j->prune = 1;
		s->last_prune = now;
	}
	j->job.work = work_tick;
	j->job.done = done_tick;
	j->job.arg = j;
	s->busy = 1;
	committer_submit(s->b->committer, &j->job);
}

int
auditsvc_timer_start(struct auditsvc *s, struct broker *b, struct audit *a,
    char *err, size_t errlen)
{
	struct timeval tv = { TICK_MAX, 0 };

	s->b = b;
	s->a = a;
	if (s->cfg->audit_checkpoint_interval < TICK_MAX)
		tv.tv_sec = (time_t)s->cfg->audit_checkpoint_interval;
	/* The first retention check comes one interval after start. */
	s->last_prune = time(NULL) - prune_every(s->cfg) + (time_t)tv.tv_sec;
	s->tick = event_new(b->base, -1, EV_PERSIST, on_tick, s);
	if (s->tick == NULL || event_add(s->tick, &tv) != 0)
		return util_err(err, errlen, "cannot start the audit timer");
	return 0;
}

void
auditsvc_timer_stop(struct auditsvc *s)
{
	if (s != NULL && s->tick != NULL) {
		event_free(s->tick);
		s->tick = NULL;
	}
}

void
auditsvc_free(struct auditsvc *s)
{
	if (s == NULL)
		return;
	auditsvc_timer_stop(s);
	auditsign_stop(s->signer);
	free(s);
}

/* ---- checks and key generation ----------------------------------------------- */

int
auditsvc_check(const struct config *cfg, char *err, size_t errlen)
{
	struct note_verifier vk;
	struct stat sk, sv;
	int have_sk = lstat(cfg->audit_signing_key, &sk) == 0;
	int have_vk = lstat(cfg->audit_verifier_key, &sv) == 0;

	if (!have_sk && !have_vk && cfg->audit_key_default)
		return 0;	/* made at first start */
	if (!have_sk)
		return util_err(err, errlen, "audit.signing_key %s: %s",
		    cfg->audit_signing_key, strerror(errno));
	if (!S_ISREG(sk.st_mode) || (sk.st_mode & 077) != 0)
		return util_err(err, errlen, "audit.signing_key %s must be a "
		    "regular file of mode 0600", cfg->audit_signing_key);
	if (note_verifier_load(cfg->audit_verifier_key, &vk, err,
	    errlen) != 0)
		return -1;
	if (cfg->audit_name != NULL && strcmp(cfg->audit_name, vk.name) != 0)
		return util_err(err, errlen, "audit.verifier_key is named "
		    "\"%s\", not \"%s\" as audit.name says", vk.name,
		    cfg->audit_name);
	return 0;
}

int
auditsvc_keygen(const char *config_path)
{
	struct config *cfg = NULL;
	struct note_verifier vk;
	char err[1024], name[NOTE_NAME_MAX + 1], text[NOTE_KEY_TEXT_MAX + 1];
	int rc = 1;

	if (config_load(config_path, &cfg, err, sizeof(err)) != 0) {
		fprintf(stderr, "sekishod: %s\n", err);
		return 1;
	}
	if (cfg->audit_name != NULL)
		util_strlcpy(name, cfg->audit_name, sizeof(name));
	else
		auditsign_default_name(name, sizeof(name));
	if (auditsign_keygen(name, cfg->audit_signing_key,
	    cfg->audit_verifier_key, err, sizeof(err)) != 0) {
		fprintf(stderr, "sekishod: audit key: %s\n", err);
		goto out;
	}
	if (note_verifier_load(cfg->audit_verifier_key, &vk, err,
	    sizeof(err)) != 0 || note_verifier_format(&vk, text, sizeof(text),
	    err, sizeof(err)) != 0) {
		fprintf(stderr, "sekishod: audit key: %s\n", err);
		goto out;
	}
	printf("signing key (keep secret, 0600): %s\n"
	    "verifier key (give to the auditors): %s\n%s\n",
	    cfg->audit_signing_key, cfg->audit_verifier_key, text);
	rc = 0;
out:
	config_free(cfg);
	return rc;
}
