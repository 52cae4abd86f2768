/*
 * exception — `sekisho exception ...`: time-boxed exceptions (例外措置).
 *
 *   request  staff ask for one for themselves
 *   grant    an officer grants a request, or grants directly for named
 *            users and groups; --emergency for one that takes effect at
 *            once and lapses unless a second officer confirms it
 *   refuse, revoke, confirm
 *   ls       the inventory (棚卸し), also as CSV for the periodic review
 *
 * The broker checks everything (roles, authority, limits of the
 * interface, separation of duties); this file builds requests and prints
 * answers. The CSV export defuses cells a spreadsheet would run as a
 * formula, since reasons and comments are typed by people.
 */
#include "client/i18n.h"
#include "client/exception.h"
#include "client/ocli.h"
#include "client/output.h"
#include "lib/util.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifndef SEKISHO_VERSION
#define SEKISHO_VERSION "0.0.0"
#endif
#define SOFTWARE "sekisho/" SEKISHO_VERSION
#define MAX_PAGES 10000		/* of 100 exceptions: a bound, not a limit */

static const char *const usage_text = N_(
"usage: sekisho exception request --to IF --until TIME --reason TEXT\n"
"                 [--class N] [--max-bytes SIZE] [--max-count N]\n"
"                 [--hours HH:MM-HH:MM] [--extensions EXT,..]\n"
"                 [--from TIME]\n"
"       sekisho exception grant ID [--comment TEXT] [--emergency]\n"
"                 [--otp CODE]\n"
"       sekisho exception grant --to IF (--users U,.. | --groups G,..)\n"
"                 --until TIME --reason TEXT [scope as for request]\n"
"                 [--comment TEXT] [--emergency] [--otp CODE]\n"
"       sekisho exception refuse ID --comment TEXT [--otp CODE]\n"
"       sekisho exception revoke ID --reason TEXT [--otp CODE]\n"
"       sekisho exception confirm ID [--comment TEXT] [--otp CODE]\n"
"       sekisho exception ls [--active | --requested | --expired | --all]\n"
"                 [--csv | --json]\n"
"\n"
"Exceptions (例外措置) widen one interface for named people for a limited\n"
"time: a higher classification (never 3), larger files, extra hours, extra\n"
"file extensions, within the limits the interface register sets. Staff\n"
"request them; approval officers grant, refuse and revoke them. An\n"
"emergency grant takes effect at once and is revoked automatically unless\n"
"a second officer confirms it.\n"
"\n"
"  --to IF            the interface\n"
"  --class N          highest classification allowed (1 or 2)\n"
"  --max-bytes SIZE   largest file allowed (e.g. 500MiB)\n"
"  --max-count N      transfers allowed under it\n"
"  --hours RANGE      extra hours, e.g. 07:00-22:00\n"
"  --extensions LIST  extra file extensions, e.g. pdf,xlsx\n"
"  --from TIME        start (default now); --until TIME end (required)\n"
"                     TIME: 2026-12-01T17:00:00+09:00, @UNIXTIME or +3d/+36h\n"
"  --reason TEXT      why (required for request, direct grant and revoke)\n"
"  --comment TEXT     the officer's comment (required to refuse)\n"
"  --users, --groups  who a direct grant is for (comma-separated ids)\n"
"  --emergency        emergency grant (see above)\n"
"  ls filters: open (default: requested or in force), --active,\n"
"              --requested, --expired (ended, revoked, refused), --all\n"
"  --csv              ls as CSV (for the review); --json as JSON\n"
"  --otp CODE         one-time code; asked for when the broker wants one\n"
"Connection options as for every command (see sekisho --help).\n");

const char *
exception_usage(void)
{
	return _(usage_text);
}

enum {
	OPT_TO = 1, OPT_CLASS, OPT_MAX_BYTES, OPT_MAX_COUNT, OPT_HOURS,
	OPT_FROM, OPT_UNTIL, OPT_REASON, OPT_COMMENT, OPT_USERS, OPT_GROUPS,
	OPT_EMERGENCY, OPT_ACTIVE, OPT_EXPIRED, OPT_ALL, OPT_REQUESTED,
	OPT_CSV, OPT_EXTENSIONS, OPT_HELP
};

struct exargs {
	const char *to, *class_arg, *max_bytes, *max_count, *hours, *from,
	    *until, *reason, *comment, *users, *groups, *filter, *extensions;
	int emergency, csv;
};

/* Splits "a,b c" into the text array of key. */
static int
set_list(struct wire_msg *m, const char *key, const char *s)
{
	char *copy, *p, *save = NULL;
	const char *items[WIRE_MAX_ARRAY];
	size_t n = 0;
	int rc;

	if ((copy = strdup(s)) == NULL)
		return -1;
	for (p = strtok_r(copy, ", ", &save); p != NULL;
	    p = strtok_r(NULL, ", ", &save)) {
		if (n == WIRE_MAX_ARRAY) {
			free(copy);
			return -1;
		}
		items[n++] = p;
	}
	rc = n > 0 ? wire_msg_set_text_array(m, key, items, n) : 0;
	free(copy);
	return rc;
}

/* The scope options into m. Exit code. */
static int
scope(struct ocli *o, const struct exargs *x, struct wire_msg *m)
{
	uint64_t v;
	time_t now = time(NULL), t;

	if (x->to == NULL)
		return ocli_usage(o, N_("--to INTERFACE is required"));
	if (wire_msg_set_text(m, "interface", x->to) != 0)
		return ocli_usage(o, N_("--to: not an interface id"));
	if (x->class_arg != NULL) {
		if (strcmp(x->class_arg, "1") != 0 &&
		    strcmp(x->class_arg, "2") != 0 &&
		    strcmp(x->class_arg, "3") != 0)
			return ocli_usage(o, N_("--class: 1 or 2"));
		wire_msg_set_uint(m, "class", (uint64_t)(x->class_arg[0] - '0'));
	}
	if (x->max_bytes != NULL) {
		if (util_parse_size(x->max_bytes, &v) != 0 || v == 0)
			return ocli_usage(o, N_("--max-bytes: a size such as "
			    "500MiB"));
		wire_msg_set_uint(m, "max_size", v);
	}
	if (x->max_count != NULL) {
		char *end;

		v = strtoull(x->max_count, &end, 10);
		if (*end != '\0' || x->max_count[0] == '\0' ||
		    x->max_count[0] == '-' || v == 0 || v > 1000000)
			return ocli_usage(o, N_("--max-count: 1 to 1000000"));
		wire_msg_set_uint(m, "max_count", v);
	}
	if (x->hours != NULL && wire_msg_set_text(m, "hours", x->hours) != 0)
		return ocli_usage(o, N_("--hours: HH:MM-HH:MM"));
	if (x->extensions != NULL && (x->extensions[0] == '\0' ||
	    strlen(x->extensions) > WIRE_MAX_EXTS ||
	    wire_msg_set_text(m, "extensions", x->extensions) != 0))
		return ocli_usage(o, N_("--extensions: comma-separated "
		    "extensions such as pdf,xlsx (at most %d bytes)"),
		    WIRE_MAX_EXTS);
	if (x->from != NULL) {
		if (ocli_parse_time(x->from, now, &t) != 0 || t < 0)
			return ocli_usage(o, N_("--from: a time such as "
			    "2026-12-01T09:00:00+09:00, @UNIXTIME or +1h"));
		wire_msg_set_uint(m, "from", (uint64_t)t);
	}
	if (x->until == NULL)
		return ocli_usage(o, N_("--until TIME is required: every "
		    "exception has a deadline"));
	if (ocli_parse_time(x->until, now, &t) != 0 || t <= 0)
		return ocli_usage(o, N_("--until: a time such as "
		    "2026-12-01T17:00:00+09:00, @UNIXTIME or +3d"));
	wire_msg_set_uint(m, "until", (uint64_t)t);
	if (x->reason == NULL || x->reason[0] == '\0')
		return ocli_usage(o, N_("--reason TEXT is required"));
	if (strlen(x->reason) > WIRE_MAX_COMMENT ||
	    wire_msg_set_text(m, "reason", x->reason) != 0)
		return ocli_usage(o, N_("--reason: at most %d bytes of text"),
		    WIRE_MAX_COMMENT);
	return SEKISHO_EXIT_OK;
}

/* ---- output ----------------------------------------------------------------- */

static const char *const csv_columns[] = { "exception", "status",
    "emergency", "interface", "users", "groups", "class", "max_size",
    "max_count", "uses", "hours", "valid_from", "valid_until", "reason",
    "requester", "granted_by", "granted", "grant_comment", "confirm_by",
    "confirmed_by", "confirm_comment", "ended", "ended_by", "end_reason",
    "extensions", NULL };

/* One CSV cell (RFC 4180), with text a spreadsheet would take for a
 * formula turned into plain text. */
static void
csv_cell(FILE *out, const char *s)
{
	const char *p;

	if (s[0] == '=' || s[0] == '+' || s[0] == '-' || s[0] == '@' ||
	    s[0] == '\t' || s[0] == '\r') {
		fputs("\"'", out);
		for (p = s; *p != '\0'; p++) {
			if (*p == '"')
				fputc('"', out);
			fputc(*p, out);
		}
		fputc('"', out);
		return;
	}
	if (strpbrk(s, ",\"\r\n") == NULL) {
		fputs(s, out);
		return;
	}
	fputc('"', out);
	for (p = s; *p != '\0'; p++) {
		if (*p == '"')
			fputc('"', out);
		fputc(*p, out);
	}
	fputc('"', out);
}

static void
csv_row(FILE *out, const struct wire_msg *m)
{
	const struct wire_value *v;
	char num[24], joined[WIRE_MAX_ARRAY * (WIRE_MAX_TOKEN + 1) + 1];
	size_t i, k;

	for (i = 0; csv_columns[i] != NULL; i++) {
		if (i > 0)
			fputc(',', out);
		if ((v = wire_msg_get(m, csv_columns[i])) == NULL)
			continue;
		switch (v->type) {
		case WIRE_T_TEXT:
			csv_cell(out, v->text);
			break;
		case WIRE_T_UINT:
			snprintf(num, sizeof(num), "%" PRIu64, v->u);
			fputs(num, out);
			break;
		case WIRE_T_BOOL:
			fputs(v->u ? "yes" : "no", out);
			break;
		case WIRE_T_TEXT_ARRAY:
			joined[0] = '\0';
			for (k = 0; k < v->len; k++) {
				if (k > 0)
					strncat(joined, " ", sizeof(joined) -
					    strlen(joined) - 1);
				strncat(joined, v->array[k], sizeof(joined) -
				    strlen(joined) - 1);
			}
			csv_cell(out, joined);
			break;
		default:
			break;
		}
	}
	fputs("\r\n", out);
}

/* Prints one "exception" answer of a change. */
static int
print_one(struct ocli *o, struct wire_msg *ans)
{
	struct output_json j;

	if (ans->op != WIRE_OP_EXCEPTION) {
		wire_msg_clear(ans);
		return failure_set(&o->f, SEKISHO_EXIT_BROKER, "protocol",
		    N_("protocol error: expected exception"));
	}
	if (o->json) {
		output_json_begin(&j, stdout);
		ocli_json_fields(&j, ans);
		output_json_end(&j);
	} else
		ocli_print_fields(ans, stdout, 0);
	wire_msg_clear(ans);
	return SEKISHO_EXIT_OK;
}

static int
list(struct ocli *o, const struct exargs *x)
{
	struct output_json j;
	struct wire_msg m, ans;
	char after[WIRE_MAX_TOKEN + 1] = "";
	const char *next;
	uint64_t total = 0;
	int rc = SEKISHO_EXIT_OK, pages, n = 0;

	if (x->csv) {
		size_t i;

		/* As the audit CSV (auditshow.c): a BOM so that Excel reads
		 * UTF-8 (Japanese names and comments), CRLF line ends. */
		fputs("\xef\xbb\xbf", stdout);
		for (i = 0; csv_columns[i] != NULL; i++)
			printf("%s%s", i ? "," : "", csv_columns[i]);
		fputs("\r\n", stdout);
	} else if (o->json) {
		output_json_begin(&j, stdout);
		output_json_array(&j, "exceptions");
	}
	for (pages = 0; pages < MAX_PAGES; pages++) {
		wire_msg_init(&m, WIRE_OP_EXCEPTION_LS, 0);
		wire_msg_set_text(&m, "filter", x->filter);
		if (after[0] != '\0')
			wire_msg_set_text(&m, "after", after);
		rc = ocli_request(o, &m, &ans);
		wire_msg_clear(&m);
		while (rc == SEKISHO_EXIT_OK && ans.op == WIRE_OP_EXCEPTION) {
			total++;
			if (x->csv)
				csv_row(stdout, &ans);
			else if (o->json) {
				output_json_object(&j, NULL);
				ocli_json_fields(&j, &ans);
				output_json_close(&j, '}');
			} else {
				if (n++ > 0)
					putchar('\n');
				ocli_print_fields(&ans, stdout, 0);
			}
			wire_msg_clear(&ans);
			rc = ocli_next(o, &ans);
		}
		if (rc != SEKISHO_EXIT_OK)
			break;
		if (ans.op != WIRE_OP_LISTED) {
			wire_msg_clear(&ans);
			rc = failure_set(&o->f, SEKISHO_EXIT_BROKER, "protocol",
			    N_("protocol error: unexpected answer"));
			break;
		}
		next = wire_msg_text(&ans, "next");
		if (next == NULL || util_strlcpy(after, next,
		    sizeof(after)) != 0) {
			wire_msg_clear(&ans);
			break;
		}
		wire_msg_clear(&ans);
	}
	if (o->json && !x->csv) {
		output_json_close(&j, ']');
		output_json_uint(&j, "count", total);
		output_json_end(&j);
	} else if (!x->csv && rc == SEKISHO_EXIT_OK && total == 0)
		printf(_("no exceptions (%s)\n"), x->filter);
	return rc;
}

/* ---- the command ----------------------------------------------------------------- */

int
exception_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "to", required_argument, NULL, OPT_TO },
		{ "class", required_argument, NULL, OPT_CLASS },
		{ "max-bytes", required_argument, NULL, OPT_MAX_BYTES },
		{ "max-count", required_argument, NULL, OPT_MAX_COUNT },
		{ "hours", required_argument, NULL, OPT_HOURS },
		{ "from", required_argument, NULL, OPT_FROM },
		{ "until", required_argument, NULL, OPT_UNTIL },
		{ "reason", required_argument, NULL, OPT_REASON },
		{ "comment", required_argument, NULL, OPT_COMMENT },
		{ "users", required_argument, NULL, OPT_USERS },
		{ "groups", required_argument, NULL, OPT_GROUPS },
		{ "emergency", no_argument, NULL, OPT_EMERGENCY },
		{ "active", no_argument, NULL, OPT_ACTIVE },
		{ "expired", no_argument, NULL, OPT_EXPIRED },
		{ "all", no_argument, NULL, OPT_ALL },
		{ "requested", no_argument, NULL, OPT_REQUESTED },
		{ "csv", no_argument, NULL, OPT_CSV },
		{ "extensions", required_argument, NULL, OPT_EXTENSIONS },
		{ "help", no_argument, NULL, OPT_HELP },
		OCLI_OPTIONS,
		{ NULL, 0, NULL, 0 }
	};
	struct ocli o;
	struct exargs x;
	struct wire_msg m, ans;
	const char *verb, *id = NULL;
	char line[200];
	int c, rc, nfilters = 0;
	enum wire_op op;

	memset(&o, 0, sizeof(o));
	memset(&x, 0, sizeof(x));
	x.filter = "open";
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":", opts, NULL)) != -1) {
		switch (c) {
		case OPT_TO: x.to = optarg; break;
		case OPT_CLASS: x.class_arg = optarg; break;
		case OPT_MAX_BYTES: x.max_bytes = optarg; break;
		case OPT_MAX_COUNT: x.max_count = optarg; break;
		case OPT_HOURS: x.hours = optarg; break;
		case OPT_FROM: x.from = optarg; break;
		case OPT_UNTIL: x.until = optarg; break;
		case OPT_REASON: x.reason = optarg; break;
		case OPT_COMMENT: x.comment = optarg; break;
		case OPT_USERS: x.users = optarg; break;
		case OPT_GROUPS: x.groups = optarg; break;
		case OPT_EMERGENCY: x.emergency = 1; break;
		case OPT_ACTIVE: x.filter = "active"; nfilters++; break;
		case OPT_EXPIRED: x.filter = "expired"; nfilters++; break;
		case OPT_ALL: x.filter = "all"; nfilters++; break;
		case OPT_REQUESTED: x.filter = "requested"; nfilters++; break;
		case OPT_CSV: x.csv = 1; break;
		case OPT_EXTENSIONS: x.extensions = optarg; break;
		case OPT_HELP:
			fputs(_(usage_text), stdout);
			return SEKISHO_EXIT_OK;
		default:
			if ((rc = ocli_option(&o, c, optarg)) < 0)
				return ocli_finish(&o, SEKISHO_EXIT_USAGE);
			if (rc == 0) {
				ocli_usage(&o, N_("unknown option or missing "
				    "value: %s (see sekisho exception --help)"),
				    output_sanitize(argv[optind - 1], line,
				    sizeof(line)));
				return ocli_finish(&o, SEKISHO_EXIT_USAGE);
			}
		}
	}
	if (optind >= argc) {
		fputs(_(usage_text), stderr);
		ocli_usage(&o, N_("exception needs a command (request, grant, "
		    "refuse, revoke, confirm, ls)"));
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	verb = argv[optind++];
	if (optind < argc)
		id = argv[optind++];
	if (optind < argc) {
		ocli_usage(&o, N_("too many arguments"));
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	if (x.comment != NULL && strlen(x.comment) > WIRE_MAX_COMMENT) {
		ocli_usage(&o, N_("--comment: at most %d bytes"),
		    WIRE_MAX_COMMENT);
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	if (strcmp(verb, "ls") == 0) {
		if (id != NULL || nfilters > 1) {
			ocli_usage(&o, N_("ls takes no argument and at most "
			    "one filter"));
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
		if ((rc = ocli_connect(&o, SOFTWARE)) != SEKISHO_EXIT_OK)
			return ocli_finish(&o, rc);
		return ocli_finish(&o, list(&o, &x));
	}
	if (strcmp(verb, "request") == 0)
		op = WIRE_OP_EXCEPTION_REQUEST;
	else if (strcmp(verb, "grant") == 0)
		op = WIRE_OP_EXCEPTION_GRANT;
	else if (strcmp(verb, "refuse") == 0)
		op = WIRE_OP_EXCEPTION_REFUSE;
	else if (strcmp(verb, "revoke") == 0)
		op = WIRE_OP_EXCEPTION_REVOKE;
	else if (strcmp(verb, "confirm") == 0)
		op = WIRE_OP_EXCEPTION_CONFIRM;
	else {
		ocli_usage(&o, N_("unknown exception command '%s'"),
		    output_sanitize(verb, line, sizeof(line)));
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	wire_msg_init(&m, op, 0);
	rc = SEKISHO_EXIT_OK;
	if (op == WIRE_OP_EXCEPTION_REQUEST || (op == WIRE_OP_EXCEPTION_GRANT &&
	    id == NULL)) {
		if (id != NULL)
			rc = ocli_usage(&o, N_("request takes no id"));
		else if (op == WIRE_OP_EXCEPTION_REQUEST &&
		    (x.users != NULL || x.groups != NULL || x.emergency))
			rc = ocli_usage(&o, N_("a request is for yourself; "
			    "--users, --groups and --emergency are for grant"));
		else if (op == WIRE_OP_EXCEPTION_GRANT && x.users == NULL &&
		    x.groups == NULL)
			rc = ocli_usage(&o, N_("grant without an id needs "
			    "--users or --groups"));
		else if ((rc = scope(&o, &x, &m)) == SEKISHO_EXIT_OK &&
		    ((x.users != NULL && set_list(&m, "users", x.users) != 0) ||
		    (x.groups != NULL && set_list(&m, "groups",
		    x.groups) != 0)))
			rc = ocli_usage(&o, N_("--users/--groups: at most %d "
			    "ids of 1-64 characters"), WIRE_MAX_ARRAY);
	} else {
		if (id == NULL || wire_msg_set_text(&m, "exception", id) != 0)
			rc = ocli_usage(&o, N_("%s needs an exception id "
			    "(EX-...)"), verb);
		else if (x.to != NULL || x.until != NULL || x.users != NULL ||
		    x.groups != NULL || x.extensions != NULL)
			rc = ocli_usage(&o, N_("%s ID takes no scope options; "
			    "the exception is decided as it was requested"
			    ), verb);
		else if (op == WIRE_OP_EXCEPTION_REFUSE && (x.comment == NULL ||
		    x.comment[0] == '\0'))
			rc = ocli_usage(&o, N_("refuse needs --comment: the "
			    "requester is told why"));
		else if (op == WIRE_OP_EXCEPTION_REVOKE && (x.reason == NULL ||
		    x.reason[0] == '\0'))
			rc = ocli_usage(&o, N_("revoke needs --reason"));
		else if (op == WIRE_OP_EXCEPTION_REVOKE &&
		    wire_msg_set_text(&m, "reason", x.reason) != 0)
			rc = ocli_usage(&o, N_("--reason: at most %d bytes"),
			    WIRE_MAX_COMMENT);
	}
	if (rc == SEKISHO_EXIT_OK && x.emergency &&
	    op != WIRE_OP_EXCEPTION_GRANT)
		rc = ocli_usage(&o, N_("--emergency is for grant"));
	if (rc == SEKISHO_EXIT_OK && x.emergency)
		wire_msg_set_bool(&m, "emergency", 1);
	if (rc == SEKISHO_EXIT_OK && x.comment != NULL &&
	    op != WIRE_OP_EXCEPTION_REQUEST && op != WIRE_OP_EXCEPTION_REVOKE)
		wire_msg_set_text(&m, "comment", x.comment);
	if (rc == SEKISHO_EXIT_OK)
		rc = ocli_connect(&o, SOFTWARE);
	if (rc == SEKISHO_EXIT_OK)
		rc = ocli_request(&o, &m, &ans);
	wire_msg_clear(&m);
	if (rc == SEKISHO_EXIT_OK)
		rc = print_one(&o, &ans);
	return ocli_finish(&o, rc);
}
