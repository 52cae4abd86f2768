/*
 * fwdservice — see fwdservice.h.
 *
 * What --check-config says about a service and what an attempt is built
 * from are the same checks (fwdservice_check), so a register that passes
 * the check does not fail its first attempt for a reason the check could
 * have seen.
 */
#include "broker/fwdservice.h"
#include "broker/broker.h"
#include "broker/config.h"
#include "broker/credentials.h"
#include "broker/forward_int.h"
#include "broker/pathtmpl.h"
#include "broker/upstream.h"
#include "broker/upstream_s3.h"
#include "broker/upstream_webdav.h"
#include "lib/util.h"
#include "policy/policy.h"

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

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

int
fwdservice_check(const struct config *cfg, const struct policy_service *s,
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

int
fwdservice_prepare(struct fwd_attempt *a, const struct policy_service *s,
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
	if (fwdservice_check(cfg, s, &a->cred, a->pins, sizeof(a->pins), err,
	    errlen) != 0)
		return -1;
	if (a->cred.kind == CREDENTIALS_AWS && a->cred.session_token[0]) {
		g->s3_session_token = 1;
		util_strlcpy(g->s3_token, a->cred.session_token,
		    sizeof(g->s3_token));
	}
	return 0;
}


size_t
fwdservice_check_config(const struct config *cfg, const struct policy *p,
    FILE *out)
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
		if (fwdservice_check(cfg, s, NULL, NULL, 0, err,
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
