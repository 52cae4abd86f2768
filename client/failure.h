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

#include <stdarg.h>
#include <stdio.h>

#include "client/i18n.h"
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
	char message[512];		/* raw; sanitised when printed;
					 * English for local failures, as
					 * --json shows it */
	char text[512];			/* local failures: message in the
					 * user's language, for the terminal */
	char field[40];
	char rule[80];
	char reason[320];
	/* A note the client appended to message (put's "gave up after"):
	 * message keeps it in English from byte note_at on (0: none), note
	 * holds it in the user's language for failure_format. */
	size_t note_at;
	char note[160];
};

/*
 * Sets a local failure; returns exit so callers can `return failure_set()`.
 * fmt is an English msgid (mark it with N_ for extraction): message gets
 * it formatted as is (the --json "message" does not depend on the
 * locale), text gets its translation formatted with the same arguments.
 */
int failure_set(struct failure *f, int exit, const char *code,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

/* Sets a local failure from a module's message: message gets m->en, text
 * m->text. Returns exit. */
int failure_set_msg(struct failure *f, int exit, const char *code,
    const struct i18n_msg *m);

/*
 * A failure of the connection (conn_rc: a negative enum conn_fail) with
 * conn's message: CONN_ELOCAL is a local failure ("local"), CONN_ENET
 * ("connection") and CONN_ETLS ("tls") connection failures, anything
 * else a protocol error ("protocol"). Returns the exit code.
 */
int failure_from_conn(struct failure *f, int conn_rc,
    const struct i18n_msg *m);

/* A usage failure from a module's message, with "(see HELP)" after it
 * when help is not NULL, as failure_vusage. Returns SEKISHO_EXIT_USAGE. */
int failure_usage_msg(struct failure *f, const char *help,
    const struct i18n_msg *m);

/*
 * A usage failure (exit SEKISHO_EXIT_USAGE, code "usage"): fmt with its
 * arguments, followed by "(see HELP)" when help (a command, e.g.
 * "sekisho --help") is not NULL. As failure_set, message is English and
 * text the translation.
 */
int failure_vusage(struct failure *f, const char *help, const char *fmt,
    va_list ap) __attribute__((format(printf, 3, 0)));

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
 * a terminal, in the user's language, into out. A broker message that is
 * a "日本語 / English" pair shows only the half for the locale. */
char *failure_format(const struct failure *f, char *out, size_t outlen);

/* Prints "sekisho: <text>" to err, and with json the error object to out. */
void failure_print(const struct failure *f, int json, FILE *out, FILE *err);

#endif
