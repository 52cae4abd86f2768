/*
 * startcheck — see startcheck.h.
 */
#include "broker/startcheck.h"
#include "broker/auditsvc.h"
#include "broker/config.h"
#include "broker/crlwatch.h"
#include "broker/forward.h"
#include "broker/notify.h"
#include "broker/officer.h"
#include "broker/regadmin.h"
#include "broker/regdiff.h"
#include "broker/stepup.h"
#include "broker/tlsserver.h"
#include "broker/web.h"
#include "lib/util.h"
#include "policy/policy.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SEKISHO_WEB_ROOT
#define SEKISHO_WEB_ROOT "/usr/local/share/sekisho/web"
#endif

int
startcheck_register_approved(const struct config *cfg, struct policy **p,
    struct regdiff **rd, char *err, size_t errlen)
{
	char *buf = NULL, sha[UTIL_SHA256_HEX + 1], name[96];
	size_t len = 0;
	int rc = -1;

	*p = NULL;
	*rd = NULL;
	/* Read-only: a --check-config run as root must not create the
	 * database, nor need to own it. */
	if (regadmin_read_active(cfg->state_db, &buf, &len, sha, err,
	    errlen) != 0)
		goto out;
	/* Messages and lint lines name the version, not the file on disk,
	 * which may say something else. */
	snprintf(name, sizeof(name), "approved register %.12s", sha);
	if (policy_load_buffer(name, buf, len, p, err, errlen) != 0)
		goto out;
	if (regdiff_new(name, buf, len, rd, err, errlen) != 0) {
		policy_free(*p);
		*p = NULL;
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

int
startcheck_register(const char *path, struct policy **p, struct regdiff **rd,
    char *err, size_t errlen)
{
	char *buf = NULL;
	size_t len = 0;
	int rc = -1;

	*p = NULL;
	*rd = NULL;
	if (regdiff_read_file(path, &buf, &len, err, errlen) != 0)
		return -1;
	if (policy_load_buffer(path, buf, len, p, err, errlen) != 0)
		goto out;
	if (regdiff_new(path, buf, len, rd, err, errlen) != 0) {
		policy_free(*p);
		*p = NULL;
		goto out;
	}
	rc = 0;
out:
	free(buf);
	return rc;
}

SSL_CTX *
startcheck_tls(const struct config *cfg, EVP_PKEY *tls_key, time_t now,
    time_t *next_update, char *err, size_t errlen)
{
	SSL_CTX *ctx;
	char why[400];

	*next_update = 0;
	if ((ctx = tlsserver_new(cfg, tls_key, err, errlen)) == NULL)
		return NULL;
	(void)tlsserver_crl_next_update(ctx, next_update);
	if (crlwatch_state(*next_update, now, cfg->tls_crl_margin) ==
	    CRLWATCH_EXPIRED) {
		crlwatch_describe(*next_update, now, why, sizeof(why));
		util_err(err, errlen, "tls.crl %s: %s", cfg->tls_crl, why);
		SSL_CTX_free(ctx);
		return NULL;
	}
	return ctx;
}

static void
stepup_limits_of(const struct config *cfg, struct stepup_limits *lim)
{
	lim->max_failures = cfg->stepup_max_failures;
	lim->lockout = cfg->stepup_lockout;
	lim->lockout_max = cfg->stepup_lockout_max;
}

int
startcheck_run(const struct config *cfg, EVP_PKEY *tls_key, time_t now,
    FILE *problems, struct startcheck *sc, char *err, size_t errlen)
{
	struct notify_config nc;
	struct stepup_limits lim;
	char sub[768];
	size_t n;

	memset(sc, 0, sizeof(*sc));
	if ((cfg->register_approved ? startcheck_register_approved(cfg,
	    &sc->policy, &sc->regdiff, sub, sizeof(sub)) :
	    startcheck_register(cfg->register_path, &sc->policy, &sc->regdiff,
	    sub, sizeof(sub))) != 0) {
		util_err(err, errlen, "register: %s", sub);
		goto fail;
	}
	if ((sc->ssl_ctx = startcheck_tls(cfg, tls_key, now,
	    &sc->crl_next_update, err, errlen)) == NULL)
		goto fail;
	if (auditsvc_check(cfg, sub, sizeof(sub)) != 0) {
		util_err(err, errlen, "audit: %s", sub);
		goto fail;
	}
	if (cfg->stepup_key_file != NULL) {
		stepup_limits_of(cfg, &lim);
		if (stepup_new(cfg->stepup_key_file, &lim, &sc->stepup, sub,
		    sizeof(sub)) != 0) {
			util_err(err, errlen, "stepup: %s", sub);
			goto fail;
		}
	}
	officer_notify_config(cfg, &nc);
	if (notify_check(&nc, err, errlen) != 0)
		goto fail;
	if ((n = forward_check(cfg, sc->policy, problems)) > 0) {
		util_err(err, errlen, "the delivery configuration has %zu "
		    "problem%s (listed above)", n, n == 1 ? "" : "s");
		goto fail;
	}
	sc->web_root = cfg->web_root != NULL ? cfg->web_root :
	    SEKISHO_WEB_ROOT;
	if (web_load(sc->web_root, cfg->web_root != NULL, &sc->web,
	    &sc->web_skipped, err, errlen) != 0)
		goto fail;
	return 0;
fail:
	startcheck_release(sc);
	return -1;
}

void
startcheck_release(struct startcheck *sc)
{
	stepup_free(sc->stepup);
	web_free(sc->web);
	SSL_CTX_free(sc->ssl_ctx);
	regdiff_free(sc->regdiff);
	policy_free(sc->policy);
	memset(sc, 0, sizeof(*sc));
}
