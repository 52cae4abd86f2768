/*
 * explain — `sekisho policy explain`: for administrators, shows how an
 * interface register file decides one request, and the chain of checks
 * that led there (policy_explain). It reads the register locally and
 * talks to no broker, so a register change can be tried before it is
 * deployed.
 *
 * Exit status: 0 allowed, 4 any other verdict (deny, step-up, approval),
 * 1 usage error, 2 the register cannot be loaded.
 */
#ifndef SEKISHO_EXPLAIN_H
#define SEKISHO_EXPLAIN_H

#include <time.h>

#define EXPLAIN_DEFAULT_REGISTER "/etc/sekisho/register.yaml"

/* argv[0] is "policy". Prints to stdout (the result) and stderr
 * (errors). */
int explain_main(int argc, char **argv);

/* The help text of the policy command. */
const char *explain_usage(void);

/* Parses "@SECONDS" or an RFC 3339 time ("2026-11-24T10:30:00+09:00",
 * "2026-11-24T01:30:00Z", seconds optional). -1 on anything else. */
int explain_parse_time(const char *s, time_t *out);

#endif
