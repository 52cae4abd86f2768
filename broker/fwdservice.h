/*
 * fwdservice — a service of the register as delivery needs it: the
 * checks that need no network (connector settings, endpoint form, CA file
 * readable, pins well-formed, credentials present, private and of the
 * right kind), and an attempt's target and connection settings built from
 * the register in force.
 *
 * Loop thread for fwdservice_prepare; the checks may run anywhere (they
 * read only cfg, the register and the credentials directory). Errors are
 * returned as text in err, never logged here.
 */
#ifndef SEKISHO_FWDSERVICE_H
#define SEKISHO_FWDSERVICE_H

#include <stddef.h>
#include <stdio.h>

struct config;
struct credentials;
struct fwd_attempt;
struct policy;
struct policy_service;

/* Everything that can be checked without a network, for service s. When
 * cred is not NULL it gets the loaded credentials (the caller clears
 * them); when pins is not NULL it gets the pins in curl's
 * "sha256//a;sha256//b" form. -1 with a reason naming the service. */
int fwdservice_check(const struct config *cfg, const struct policy_service *s,
    struct credentials *cred, char *pins, size_t pinslen, char *err,
    size_t errlen);

/* Fills a's connector, target, destination URL, CA, pins and credentials
 * from service s and path template tmpl, for the transfer a->it->t (a->d
 * must be set). -1 with a reason (a configuration problem: the attempt
 * fails and is retried). */
int fwdservice_prepare(struct fwd_attempt *a, const struct policy_service *s,
    const char *tmpl, char *err, size_t errlen);

/* forward_check (see forward.h): every interface's path template, every
 * service in use once, and delivery.services against the register. One
 * line per problem to out; returns the number of problems. */
size_t fwdservice_check_config(const struct config *cfg,
    const struct policy *p, FILE *out);

#endif
