/*
 * failure — why a command failed, and how that is shown and exited with.
 *
 * Every command fills one struct failure: either from a local problem
 * (failure_set) or from the broker's error message (failure_from_broker,
 * which also decides the exit code from the broker's code and rule). main
 * prints it once: "sekisho: ..." on stderr and, with --json, an
 * {"error": {...}} object on stdout.
 */
#ifndef SEKISHO_FAILURE_H
#define SEKISHO_FAILURE_H

#include <stdio.h>

#include "lib/wire.h"

/* Exit codes (also in `sekisho --help` and docs/client.md). */
enum {
	SEKISHO_EXIT_OK = 0,
	SEKISHO_EXIT_USAGE = 1,		/* bad command line */
	SEKISHO_EXIT_LOCAL = 2,		/* file, config, certificate, key */
	SEKISHO_EXIT_CONN = 3,		/* connection or TLS failure */
	SEKISHO_EXIT_POLICY = 4,	/* refused by policy */
	SEKISHO_EXIT_BROKER = 5,	/* broker or protocol error, hash */
	SEKISHO_EXIT_NOTFOUND = 6	/* transfer not found */
};

struct failure {
	int exit;			/* one of SEKISHO_EXIT_* */
	int from_broker;		/* fields below came from the broker */
	char code[40];			/* machine code ("denied", "config") */
	char message[512];		/* raw; sanitised when printed */
	char field[40];
	char rule[80];
	char reason[320];
};

/* Sets a local failure; returns exit so callers can `return failure_set()`. */
int failure_set(struct failure *f, int exit, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/*
 * Fills f from a broker "error" message and returns the exit code:
 * SEKISHO_EXIT_POLICY for denied, class_too_high, unknown_interface,
 * forbidden, step_up_required, approval_required and any error naming a
 * rule; SEKISHO_EXIT_NOTFOUND for not_found; SEKISHO_EXIT_CONN for
 * certificate_refused; SEKISHO_EXIT_BROKER otherwise.
 */
int failure_from_broker(struct failure *f, const struct wire_msg *m);

/* The exit code failure_from_broker would choose for code/rule. */
int failure_exit_for(const char *code, const char *rule);

/* The one-line human text (without the "sekisho: " prefix), sanitised for
 * a terminal, into out. */
char *failure_format(const struct failure *f, char *out, size_t outlen);

/* Prints "sekisho: <text>" to err, and with json the error object to out. */
void failure_print(const struct failure *f, int json, FILE *out, FILE *err);

#endif
