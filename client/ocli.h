/*
 * ocli — what every command that asks the broker for one thing shares
 * (`sekisho approvals`, `exception`, `transfers`, `withdraw`): the common
 * options, the connection, and a request that answers the broker's
 * step_up_required by asking for a one-time code and sending the request
 * again; printing an answer's fields as text or JSON.
 *
 * The client only asks: what may be done is decided by the broker.
 */
#ifndef SEKISHO_OCLI_H
#define SEKISHO_OCLI_H

#include <stdio.h>
#include <time.h>

#include "client/clientcfg.h"
#include "client/conn.h"
#include "client/failure.h"
#include "lib/wire.h"

/* Options every officer command takes. */
struct ocli {
	struct clientcfg_flags flags;
	int json;
	const char *otp;		/* --otp CODE or "-"; NULL: ask when
					   the broker wants one */
	struct clientcfg cfg;
	struct conn *conn;
	struct failure f;
};

/*
 * Handles one common option (getopt_long value c with optarg) into o.
 * Returns 1 when c was one, 0 when not, -1 on a bad value (o->f set).
 */
int ocli_option(struct ocli *o, int c, const char *optarg_);
/* The common long options, to be appended to a command's own (whose
 * values must stay below CLIENTCFG_OPT_CONFIG): the connection options,
 * --json and --otp. */
#define OCLI_OPT_JSON CLIENTCFG_OPT_END
#define OCLI_OPT_OTP (CLIENTCFG_OPT_END + 1)
#define OCLI_OPTIONS \
	CLIENTCFG_LONG_OPTIONS("key"), \
	{ "json", no_argument, NULL, OCLI_OPT_JSON }, \
	{ "otp", required_argument, NULL, OCLI_OPT_OTP }

/* Loads the configuration and connects. Exit code. */
int ocli_connect(struct ocli *o, const char *software);

/*
 * Sends m (its "otp" is added from --otp when given) and reads the first
 * answer into *ans (caller clears it). When the broker answers
 * step_up_required and no --otp was given, asks for a code at the
 * terminal and sends m again once. Returns SEKISHO_EXIT_OK with *ans
 * holding a non-error answer, or an exit code with o->f filled.
 */
int ocli_request(struct ocli *o, struct wire_msg *m, struct wire_msg *ans);
/* The next answer of a list (after ocli_request gave the first). */
int ocli_next(struct ocli *o, struct wire_msg *ans);

/* Closes the connection, frees the configuration; prints o->f when rc is
 * not OK. Returns rc. */
int ocli_finish(struct ocli *o, int rc);

/* A usage error into o->f. */
int ocli_usage(struct ocli *o, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/* Prints every field of m as "key  value" lines. */
void ocli_print_fields(const struct wire_msg *m, FILE *out, int indent);
/* Adds every field of m to the open JSON object j (bytes as hex). */
struct output_json;
void ocli_json_fields(struct output_json *j, const struct wire_msg *m);

/*
 * Parses a time for --until/--from: RFC 3339 ("2026-12-01T17:00:00+09:00"),
 * "@SECONDS", or "+DURATION" after now ("+3d", "+36h", "+90m"). -1 on
 * anything else.
 */
int ocli_parse_time(const char *s, time_t now, time_t *out);

#endif
