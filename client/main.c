/*
 * sekisho — the staff's command-line client of the sekisho broker.
 *
 * This file only parses the command line, loads the configuration, runs
 * one subcommand and turns its outcome into output and an exit code; the
 * work is in conn (TLS + wire), put (upload and resume), status and output.
 * Options are parsed in one pass with GNU permutation so they may come
 * before or after the subcommand ("sekisho put FILE --to IF"); afterwards
 * options that do not belong to the chosen subcommand are refused.
 */
#include "client/audit.h"
#include "client/approvals.h"
#include "client/clientcfg.h"
#include "client/conn.h"
#include "client/explain.h"
#include "client/exception.h"
#include "client/register.h"
#include "client/failure.h"
#include "client/i18n.h"
#include "client/output.h"
#include "client/put.h"
#include "client/resume.h"
#include "client/status.h"
#include "client/transfers.h"
#include "lib/util.h"
#include "lib/wire.h"

#include <ctype.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <pwd.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#ifndef SEKISHO_VERSION
#define SEKISHO_VERSION "0.0.0"
#endif
#define SOFTWARE "sekisho/" SEKISHO_VERSION

enum {
	OPT_CONFIG = CLIENTCFG_OPT_CONFIG, OPT_BROKER, OPT_SERVER_NAME, OPT_CA,
	OPT_CERT, OPT_KEY, OPT_TIMEOUT, OPT_KEY_PASSPHRASE_FILE,
	OPT_JSON = CLIENTCFG_OPT_END, OPT_TO, OPT_CLASS, OPT_PURPOSE,
	OPT_NAME, OPT_RETRIES, OPT_NO_RESUME, OPT_OTP
};

static const struct option long_opts[] = {
	CLIENTCFG_LONG_OPTIONS("key"),
	{ "json", no_argument, NULL, OPT_JSON },
	{ "to", required_argument, NULL, OPT_TO },
	{ "class", required_argument, NULL, OPT_CLASS },
	{ "purpose", required_argument, NULL, OPT_PURPOSE },
	{ "name", required_argument, NULL, OPT_NAME },
	{ "retries", required_argument, NULL, OPT_RETRIES },
	{ "no-resume", no_argument, NULL, OPT_NO_RESUME },
	{ "otp", required_argument, NULL, OPT_OTP },
	{ "help", no_argument, NULL, 'h' },
	{ "version", no_argument, NULL, 'V' },
	{ NULL, 0, NULL, 0 }
};

struct args {
	struct clientcfg_flags flags;
	int json;
	int help;
	int version;
	const char *to;
	const char *class_arg;
	const char *purpose;
	const char *name;
	const char *retries_arg;
	int no_resume;
	const char *otp;
	int put_only;		/* some put-only option was given */
	const char *command;
	int nargs;
	char **argv;
	/* Checked values, filled by check_args before anything connects. */
	uint64_t class;
	unsigned retries;
	char id[UTIL_ID_LEN + 1];
};

static const char *const usage_main = N_(
"usage: sekisho [OPTIONS] COMMAND [ARGS]\n"
"\n"
"Send files through the sekisho broker (関所) to approved cloud services.\n"
"\n"
"Commands:\n"
"  put FILE --to INTERFACE  upload FILE through an approved interface\n"
"  status TRANSFER          show the state of an earlier transfer\n"
"  transfers                list your own transfers, newest first\n"
"  withdraw TRANSFER        withdraw a held or unfinished transfer of yours\n"
"  whoami                   show user, department and terminal as the broker\n"
"                           sees them\n"
"  approvals ls|open|approve|reject  (approval officers) held transfers;\n"
"                           see sekisho help approvals\n"
"  exception ...            request, grant, revoke and list exceptions\n"
"                           (例外措置); see sekisho help exception\n"
"  register propose|ls|show|diff|approve|reject\n"
"                           (administrators, register approvers) changes of\n"
"                           the interface register; see sekisho help register\n"
"  policy explain ...       (administrators) show how a register file decides\n"
"                           a request, locally; see sekisho help policy\n"
"  audit pull|verify|show|export\n"
"                           (auditors) pull the audit trail and verify it\n"
"                           offline; see sekisho help audit\n"
"  help [COMMAND]           show this help, or a command's help\n"
"\n"
"Connection options (override the configuration file):\n"
"  --config FILE        configuration file (default: $SEKISHO_CONFIG, else\n"
"                       ~/.config/sekisho/client.yaml)\n"
"  --broker HOST:PORT   broker address\n"
"  --server-name NAME   name required in the broker certificate (default:\n"
"                       the host of --broker)\n"
"  --ca FILE            CA certificate that issued the broker certificate\n"
"  --cert FILE          your client certificate (PEM)\n"
"  --key FILE           its private key (PEM; if encrypted, you are asked for\n"
"                       its passphrase on the terminal)\n"
"  --key-passphrase-file FILE\n"
"                       read the key's passphrase from FILE (mode 0600)\n"
"  --timeout SECONDS    limit on connecting and on every wait (default 30)\n"
"\n"
"Other options:\n"
"  --json               machine-readable output (one JSON object on stdout)\n"
"  -h, --help           show help\n"
"  -V, --version        show the version\n"
"\n"
"Exit status:\n"
"  0  success\n"
"  1  usage error\n"
"  2  local problem (file, configuration, certificate or key)\n"
"  3  connection or TLS failure\n"
"  4  refused by policy\n"
"  5  broker or protocol error (including a hash mismatch)\n"
"  6  transfer not found\n"
"\n"
"See docs/client.md for the configuration file and examples.\n");

static const char *const usage_put = N_(
"usage: sekisho put FILE --to INTERFACE [--class N] [--purpose TEXT]\n"
"                   [--name NAME] [--retries N] [--no-resume] [--otp CODE]\n"
"                   [--json]\n"
"\n"
"Uploads FILE to the broker, which checks it against the interface register\n"
"and forwards it to the interface's cloud service.\n"
"\n"
"  --to INTERFACE   interface id to send through (required)\n"
"  --class N        data classification (機密性) of the file, 1 to 3;\n"
"                   required unless the interface has a default_class\n"
"  --purpose TEXT   why the file is sent, recorded in the audit trail\n"
"                   (default empty)\n"
"  --name NAME      file name to deliver (default: the last part of FILE)\n"
"  --retries N      reconnect attempts when the connection breaks or the\n"
"                   broker is busy (default 5, at most 100)\n"
"  --no-resume      start a new transfer even if an earlier upload of this\n"
"                   file was interrupted\n"
"  --otp CODE       one-time code (TOTP) for an interface that asks for\n"
"                   step-up; --otp - reads it from standard input. Without\n"
"                   it the code is asked for at the terminal when needed\n"
"  --json           print the result as JSON on stdout\n"
"\n"
"An interrupted upload resumes where the broker's copy ends when the same\n"
"command is run again. A progress bar is shown when stderr is a terminal.\n"
"Connection options: see sekisho --help.\n");

static const char *const usage_status = N_(
"usage: sekisho status TRANSFER [--json]\n"
"\n"
"Shows the state of transfer TRANSFER (the id `sekisho put` printed):\n"
"state, interface, class, size, bytes received, hash, times and any error.\n"
"Exits 6 when the broker knows no such transfer of yours.\n");

static const char *const usage_whoami = N_(
"usage: sekisho whoami [--json]\n"
"\n"
"Connects to the broker and prints the user, department and terminal it\n"
"took from your certificate. Useful to check a new configuration.\n");

static const char *
command_usage(const char *cmd)
{
	if (cmd == NULL)
		return _(usage_main);
	if (strcmp(cmd, "put") == 0)
		return _(usage_put);
	if (strcmp(cmd, "status") == 0)
		return _(usage_status);
	if (strcmp(cmd, "whoami") == 0)
		return _(usage_whoami);
	if (strcmp(cmd, "policy") == 0)
		return explain_usage();
	if (strcmp(cmd, "approvals") == 0 || strcmp(cmd, "approve") == 0 ||
	    strcmp(cmd, "reject") == 0)
		return approvals_usage();
	if (strcmp(cmd, "exception") == 0)
		return exception_usage();
	if (strcmp(cmd, "register") == 0)
		return register_usage();
	if (strcmp(cmd, "transfers") == 0)
		return transfers_usage();
	if (strcmp(cmd, "withdraw") == 0)
		return withdraw_usage();
	if (strcmp(cmd, "audit") == 0)
		return audit_usage_text();
	return NULL;
}

/* Unsigned decimal within [min, max]; -1 on anything else. */
static int
parse_uint(const char *s, uint64_t min, uint64_t max, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (s == NULL || s[0] == '\0')
		return -1;
	for (i = 0; s[i] != '\0'; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		if (v > (UINT64_MAX - (uint64_t)(s[i] - '0')) / 10)
			return -1;
		v = v * 10 + (uint64_t)(s[i] - '0');
	}
	if (v < min || v > max)
		return -1;
	*out = v;
	return 0;
}

/* A usage failure; arguments quoted from argv are sanitised by callers
 * through arg(). */
static int
usage_fail(struct failure *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
usage_fail(struct failure *f, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = failure_vusage(f, "sekisho --help", fmt, ap);
	va_end(ap);
	return rc;
}

/* argv text made safe to quote in a message. */
static const char *
arg(const char *s, char *buf, size_t len)
{
	return output_sanitize(s, buf, len);
}

static int
parse_args(int argc, char **argv, struct args *a, struct failure *f)
{
	struct i18n_msg cm;
	char ab[128];
	int c;

	memset(a, 0, sizeof(*a));
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":hV", long_opts, NULL)) != -1) {
		switch (c) {
		case OPT_CONFIG:
		case OPT_BROKER:
		case OPT_SERVER_NAME:
		case OPT_CA:
		case OPT_CERT:
		case OPT_KEY:
		case OPT_TIMEOUT:
		case OPT_KEY_PASSPHRASE_FILE:
			if (clientcfg_option(&a->flags, c, optarg, &cm) != 0)
				return failure_usage_msg(f, "sekisho --help",
				    &cm);
			break;
		case OPT_JSON:
			a->json = 1;
			break;
		case OPT_TO:
			a->to = optarg;
			a->put_only = 1;
			break;
		case OPT_CLASS:
			a->class_arg = optarg;
			a->put_only = 1;
			break;
		case OPT_PURPOSE:
			a->purpose = optarg;
			a->put_only = 1;
			break;
		case OPT_NAME:
			a->name = optarg;
			a->put_only = 1;
			break;
		case OPT_RETRIES:
			a->retries_arg = optarg;
			a->put_only = 1;
			break;
		case OPT_NO_RESUME:
			a->no_resume = 1;
			a->put_only = 1;
			break;
		case OPT_OTP:
			a->otp = optarg;
			a->put_only = 1;
			break;
		case 'h':
			a->help = 1;
			break;
		case 'V':
			a->version = 1;
			break;
		case ':':
			return usage_fail(f, N_("option %s needs a value"),
			    arg(argv[optind - 1], ab, sizeof(ab)));
		default:
			return usage_fail(f, N_("unknown option '%s'"),
			    arg(argv[optind - 1], ab, sizeof(ab)));
		}
	}
	if (optind < argc)
		a->command = argv[optind++];
	a->nargs = argc - optind;
	a->argv = argv + optind;
	return SEKISHO_EXIT_OK;
}

static const char *
home_dir(void)
{
	const char *h = getenv("HOME");
	struct passwd *pw;

	if (h != NULL && h[0] == '/')
		return h;
	pw = getpwuid(getuid());
	return pw != NULL && pw->pw_dir != NULL && pw->pw_dir[0] == '/' ?
	    pw->pw_dir : NULL;
}

static int
load_config(const struct args *a, struct clientcfg *cfg, struct failure *f)
{
	struct clientcfg_env env;
	struct i18n_msg cm;

	env.sekisho_config = getenv("SEKISHO_CONFIG");
	env.home = home_dir();
	if (clientcfg_load(&a->flags, &env, cfg, &cm) != 0)
		return failure_set_msg(f, SEKISHO_EXIT_LOCAL, "config", &cm);
	return SEKISHO_EXIT_OK;
}

/* A private key others can read is worth a word, not a refusal: the
 * administrator may have reasons (a group-managed terminal account). */
static void
warn_key_mode(const struct clientcfg *cfg)
{
	char name[256];
	struct stat st;

	if (stat(cfg->key, &st) == 0 && S_ISREG(st.st_mode) &&
	    (st.st_mode & 077) != 0)
		fprintf(stderr, _("sekisho: warning: private key %s can be "
		    "read by other users; protect it with chmod 600\n"),
		    output_sanitize(cfg->key, name, sizeof(name)));
}

static int
cmd_whoami(const struct args *a, const struct clientcfg *cfg,
    struct failure *f)
{
	const struct conn_welcome *w;
	struct output_json j;
	struct wire_msg refusal;
	struct conn *c = NULL;
	struct i18n_msg err;
	char user[256], dept[256], term[256];
	int rc;

	rc = conn_open(cfg, SOFTWARE, &c, &refusal, &err);
	if (rc != CONN_OK) {
		if (refusal.op == WIRE_OP_ERROR) {
			rc = failure_from_broker(f, &refusal);
			wire_msg_clear(&refusal);
			return rc;
		}
		return failure_from_conn(f, rc, &err);
	}
	w = conn_welcome(c);
	if (a->json) {
		output_json_begin(&j, stdout);
		output_json_str(&j, "user", w->user);
		/* "dept" as on the wire; "department" spelled out. */
		output_json_str(&j, "dept", w->dept);
		output_json_str(&j, "department", w->dept);
		if (w->terminal != NULL)
			output_json_str(&j, "terminal", w->terminal);
		else
			output_json_null(&j, "terminal");
		output_json_end(&j);
	} else {
		printf(_("user        %s\n"), output_sanitize(w->user, user,
		    sizeof(user)));
		printf(_("department  %s\n"), output_sanitize(w->dept, dept,
		    sizeof(dept)));
		printf(_("terminal    %s\n"), w->terminal != NULL ?
		    output_sanitize(w->terminal, term, sizeof(term)) :
		    _("(none)"));
	}
	conn_close(c);
	return SEKISHO_EXIT_OK;
}

static int
cmd_status(const struct args *a, const struct clientcfg *cfg,
    struct failure *f)
{
	struct wire_msg state;
	int rc;

	if ((rc = status_run(cfg, SOFTWARE, a->id, &state, f)) !=
	    SEKISHO_EXIT_OK)
		return rc;
	status_print(&state, a->json, stdout);
	wire_msg_clear(&state);
	return SEKISHO_EXIT_OK;
}

static int
cmd_put(const struct args *a, const struct clientcfg *cfg, struct failure *f)
{
	struct put_opts o;
	struct put_result res;
	struct output_json j;
	char statedir[PATH_MAX], err[512], iface[256];
	int rc;

	memset(&o, 0, sizeof(o));
	o.file = a->argv[0];
	o.interface = a->to;
	o.name = a->name;
	o.purpose = a->purpose != NULL ? a->purpose : "";
	o.class = a->class;
	o.retries = a->retries;
	o.no_resume = a->no_resume;
	o.otp = a->otp;
	o.progress = !a->json && isatty(STDERR_FILENO);
	o.software = SOFTWARE;
	o.notices = stderr;
	if (resume_dir(getenv("XDG_STATE_HOME"), home_dir(), statedir,
	    sizeof(statedir), err, sizeof(err)) == 0)
		o.state_dir = statedir;
	else
		fprintf(stderr, _("sekisho: warning: %s; an interrupted upload "
		    "will not resume in a later run\n"), err);

	if ((rc = put_run(cfg, &o, &res, f)) != SEKISHO_EXIT_OK)
		return rc;
	if (a->json) {
		output_json_begin(&j, stdout);
		output_json_str(&j, "transfer", res.transfer);
		output_json_uint(&j, "size", res.size);
		output_json_str(&j, "sha256", res.sha256);
		output_json_str(&j, "state", res.state);
		output_json_str(&j, "interface", o.interface);
		output_json_end(&j);
	} else if (strcmp(res.state, "held") == 0)
		printf(P_("held %s (%llu byte, sha256 %s) for %s: it waits for "
		    "an approval officer; see sekisho status %s\n",
		    "held %s (%llu bytes, sha256 %s) for %s: it waits for an "
		    "approval officer; see sekisho status %s\n",
		    res.size), res.transfer, (unsigned long long)res.size,
		    res.sha256,
		    output_sanitize(o.interface, iface, sizeof(iface)),
		    res.transfer);
	else if (strcmp(res.state, "stored") != 0) {
		/* Stored by an earlier run whose answer was lost. */
		char st[sizeof(res.state)];

		printf(P_("stored %s (%llu byte, sha256 %s) to %s; now %s\n",
		    "stored %s (%llu bytes, sha256 %s) to %s; now %s\n",
		    res.size), res.transfer, (unsigned long long)res.size,
		    res.sha256,
		    output_sanitize(o.interface, iface, sizeof(iface)),
		    output_sanitize(res.state, st, sizeof(st)));
	} else
		printf(P_("stored %s (%llu byte, sha256 %s) to %s\n",
		    "stored %s (%llu bytes, sha256 %s) to %s\n", res.size),
		    res.transfer, (unsigned long long)res.size, res.sha256,
		    output_sanitize(o.interface, iface, sizeof(iface)));
	return SEKISHO_EXIT_OK;
}

/* Everything that can be judged from the command line alone, so a usage
 * error is reported as one (exit 1) before the configuration is read. */
static int
check_args(struct args *a, struct failure *f)
{
	char ab[128];
	uint64_t v;
	size_t i;

	if (strcmp(a->command, "put") != 0 && a->put_only)
		return usage_fail(f, N_("%s does not take put's options (--to, "
		    "--class, --purpose, --name, --retries, --no-resume, "
		    "--otp)"), a->command);
	if (strcmp(a->command, "policy") == 0)
		return usage_fail(f, N_("write the policy command first: "
		    "sekisho policy explain --user U --to INTERFACE ..."));
	if (strcmp(a->command, "whoami") == 0) {
		if (a->nargs != 0)
			return usage_fail(f, N_("whoami takes no argument "
			    "('%s')"), arg(a->argv[0], ab, sizeof(ab)));
		return SEKISHO_EXIT_OK;
	}
	if (strcmp(a->command, "status") == 0) {
		if (a->nargs != 1)
			return usage_fail(f, a->nargs == 0 ? N_("status needs "
			    "a transfer id") : N_("status takes one transfer id"
			    ));
		/* Ids are lowercase hex; accept a retyped id in capitals. */
		if (strlen(a->argv[0]) != UTIL_ID_LEN)
			return usage_fail(f, N_("'%s' is not a transfer id (32 "
			    "hex digits)"), arg(a->argv[0], ab, sizeof(ab)));
		for (i = 0; i <= UTIL_ID_LEN; i++)
			a->id[i] = (char)tolower((unsigned char)a->argv[0][i]);
		if (!util_is_id(a->id))
			return usage_fail(f, N_("'%s' is not a transfer id (32 "
			    "hex digits)"), arg(a->argv[0], ab, sizeof(ab)));
		return SEKISHO_EXIT_OK;
	}
	/* put */
	if (a->nargs != 1)
		return usage_fail(f, a->nargs == 0 ? N_("put needs a FILE") :
		    N_("put takes one FILE (quote names with spaces)"));
	if (a->to == NULL)
		return usage_fail(f, N_("put needs --to INTERFACE"));
	/* No --class: none is sent, and the broker applies the interface's
	 * default_class or refuses; 1 is never assumed here. */
	a->class = 0;
	a->retries = 5;
	if (a->class_arg != NULL) {
		if (parse_uint(a->class_arg, 1, 3, &v) != 0)
			return usage_fail(f, N_("--class '%s': the "
			    "classification is 1, 2 or 3"), arg(a->class_arg,
			    ab, sizeof(ab)));
		a->class = v;
	}
	if (a->retries_arg != NULL) {
		if (parse_uint(a->retries_arg, 0, PUT_MAX_RETRIES, &v) != 0)
			return usage_fail(f, N_("--retries '%s': give 0 to %d"),
			    arg(a->retries_arg, ab, sizeof(ab)),
			    PUT_MAX_RETRIES);
		a->retries = (unsigned)v;
	}
	return SEKISHO_EXIT_OK;
}

static int
run(int argc, char **argv, struct args *a, struct failure *f)
{
	char ab[128];
	struct clientcfg cfg;
	const char *text;
	int rc;

	if ((rc = parse_args(argc, argv, a, f)) != SEKISHO_EXIT_OK)
		return rc;
	if (a->version) {
		printf("sekisho %s (protocol %s)\n", SEKISHO_VERSION, WIRE_ALPN);
		return SEKISHO_EXIT_OK;
	}
	if (a->command != NULL && strcmp(a->command, "help") == 0) {
		if (a->nargs > 1)
			return usage_fail(f, N_("help takes at most one command"
			    ));
		text = command_usage(a->nargs == 1 ? a->argv[0] : NULL);
		if (text == NULL)
			return usage_fail(f, N_("unknown command '%s'"),
			    arg(a->argv[0], ab, sizeof(ab)));
		fputs(text, stdout);
		return SEKISHO_EXIT_OK;
	}
	if (a->help) {
		text = command_usage(a->command);
		fputs(text != NULL ? text : _(usage_main), stdout);
		return SEKISHO_EXIT_OK;
	}
	if (a->command == NULL) {
		fputs(_(usage_main), stderr);
		return failure_set(f, SEKISHO_EXIT_USAGE, "usage", N_("no "
		    "command given"));
	}
	if (command_usage(a->command) == NULL)
		return usage_fail(f, N_("unknown command '%s'"),
		    arg(a->command, ab, sizeof(ab)));
	if ((rc = check_args(a, f)) != SEKISHO_EXIT_OK)
		return rc;

	if ((rc = load_config(a, &cfg, f)) != SEKISHO_EXIT_OK)
		return rc;
	warn_key_mode(&cfg);
	if (strcmp(a->command, "whoami") == 0)
		rc = cmd_whoami(a, &cfg, f);
	else if (strcmp(a->command, "status") == 0)
		rc = cmd_status(a, &cfg, f);
	else
		rc = cmd_put(a, &cfg, f);
	clientcfg_free(&cfg);
	return rc;
}

/*
 * Where the command word is in a full command line (options may come
 * before it: "sekisho --config F approvals ls"): the index of the first
 * argument that is not an option or the value of one, or -1.
 */
static int
command_index(int argc, char **argv)
{
	static const char *const valued[] = { "--config", "--broker",
	    "--server-name", "--ca", "--cert", "--key", "--key-passphrase-file",
	    "--timeout", "--otp", "--to", "--class", "--purpose", "--name",
	    "--retries", NULL };
	int i;
	size_t k;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--") == 0)
			return i + 1 < argc ? i + 1 : -1;
		if (argv[i][0] != '-' || argv[i][1] == '\0')
			return i;
		for (k = 0; valued[k] != NULL; k++)
			if (strcmp(argv[i], valued[k]) == 0) {
				i++;	/* its value */
				break;
			}
	}
	return -1;
}

int
main(int argc, char **argv)
{
	struct failure f;
	struct args a;
	int rc, ci;

	i18n_init();
	/* A broker that goes away mid-write must give EPIPE, not a kill. */
	signal(SIGPIPE, SIG_IGN);
	/* Local and offline: its own options, no configuration, no broker. */
	if (argc > 1 && strcmp(argv[1], "policy") == 0)
		return explain_main(argc - 1, argv + 1);
	/* Officers', exception and audit commands parse their own options
	 * (the connection ones may come before the command word). */
	ci = command_index(argc, argv);
	if (ci > 0 &&
	    (strcmp(argv[ci], "approvals") == 0 ||
	    strcmp(argv[ci], "approve") == 0 ||
	    strcmp(argv[ci], "reject") == 0 ||
	    strcmp(argv[ci], "exception") == 0)) {
		char *cmd = argv[ci];

		for (; ci > 1; ci--)
			argv[ci] = argv[ci - 1];
		argv[1] = cmd;
		return strcmp(cmd, "exception") == 0 ?
		    exception_main(argc - 1, argv + 1) :
		    approvals_main(argc - 1, argv + 1);
	}
	if (ci > 0 && strcmp(argv[ci], "register") == 0) {
		char *cmd = argv[ci];

		for (; ci > 1; ci--)
			argv[ci] = argv[ci - 1];
		argv[1] = cmd;
		return register_main(argc - 1, argv + 1);
	}
	if (ci > 0 && strcmp(argv[ci], "audit") == 0)
		return audit_main(argc, argv);
	if (ci > 0 && (strcmp(argv[ci], "transfers") == 0 ||
	    strcmp(argv[ci], "withdraw") == 0)) {
		char *cmd = argv[ci];

		for (; ci > 1; ci--)
			argv[ci] = argv[ci - 1];
		argv[1] = cmd;
		return transfers_main(argc - 1, argv + 1);
	}
	memset(&f, 0, sizeof(f));
	rc = run(argc, argv, &a, &f);
	if (rc != SEKISHO_EXIT_OK)
		failure_print(&f, a.json, stdout, stderr);
	if (fflush(stdout) != 0 && rc == SEKISHO_EXIT_OK)
		rc = SEKISHO_EXIT_LOCAL;
	return rc;
}
