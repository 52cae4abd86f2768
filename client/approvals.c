/*
 * approvals — see approvals.h.
 *
 * Officer commands have their own option parser (like `sekisho policy`),
 * so the staff's `put` keeps its short, familiar set. The common options
 * are the connection ones of every command plus --json and --otp.
 *
 * A one-time code is read only when needed: if the broker says
 * step_up_required (the officer's last step-up is older than the broker
 * allows), the code is asked for at the terminal (or taken from --otp)
 * and the same request is sent again. A list ends with "listed".
 */
#include "client/i18n.h"
#include "client/approvals.h"
#include "client/ocli.h"
#include "client/explain.h"
#include "client/otp.h"
#include "client/output.h"
#include "client/progress.h"
#include "client/transfers.h"
#include "lib/util.h"

#include <ctype.h>
#include <getopt.h>
#include <inttypes.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#ifndef SEKISHO_VERSION
#define SEKISHO_VERSION "0.0.0"
#endif
#define SOFTWARE "sekisho/" SEKISHO_VERSION

static const char *const usage_text = N_(
"usage: sekisho approvals ls [--json]\n"
"       sekisho approvals open TRANSFER -o FILE [--otp CODE]\n"
"       sekisho approvals approve TRANSFER [--comment TEXT] [--otp CODE]\n"
"       sekisho approvals reject TRANSFER --comment TEXT [--otp CODE]\n"
"       (also: sekisho approve ..., sekisho reject ...)\n"
"\n"
"For approval officers (承認者): transfers the interface register holds\n"
"for approval wait until enough officers approve them.\n"
"\n"
"  ls                 the held transfers you may decide: who sent what\n"
"                     (file, size, SHA-256, classification, purpose), from\n"
"                     which terminal, to which interface, and until when\n"
"  open TRANSFER -o FILE\n"
"                     save the held file to FILE (a new file) to read it\n"
"                     before deciding; checked against its SHA-256, and\n"
"                     recorded in the audit trail\n"
"  approve TRANSFER   approve; the transfer is delivered once the\n"
"                     interface's number of approvals is reached\n"
"  reject TRANSFER    reject; it is never delivered and the broker's copy\n"
"                     is deleted. --comment is required: the sender sees it\n"
"\n"
"  --comment TEXT     recorded with the decision and shown to the sender\n"
"  --otp CODE         one-time code (TOTP); --otp - reads it from stdin.\n"
"                     Without it the code is asked for when the broker\n"
"                     wants one (officer actions need a fresh step-up)\n"
"  --json             machine-readable output\n"
"Connection options as for every command (see sekisho --help).\n"
"\n"
"You cannot approve your own transfer, and you count once.\n");

const char *
approvals_usage(void)
{
	return _(usage_text);
}

/* Prints a list answered as items of op `item` ended by "listed"; with
 * json as {"<name>": [...], "count": N}. Returns the exit code. */
static int
print_list(struct ocli *o, struct wire_msg *first, enum wire_op item,
    const char *name)
{
	struct output_json j;
	struct wire_msg m = *first;
	uint64_t count = 0;
	int rc = SEKISHO_EXIT_OK, n = 0;

	if (o->json) {
		output_json_begin(&j, stdout);
		output_json_array(&j, name);
	}
	for (;;) {
		if (m.op == WIRE_OP_LISTED) {
			wire_msg_uint(&m, "count", &count);
			wire_msg_clear(&m);
			break;
		}
		if (m.op != item) {
			wire_msg_clear(&m);
			rc = failure_set(&o->f, SEKISHO_EXIT_BROKER, "protocol",
			    N_("protocol error: unexpected answer"));
			break;
		}
		if (o->json) {
			output_json_object(&j, NULL);
			ocli_json_fields(&j, &m);
			output_json_close(&j, '}');
		} else {
			if (n++ > 0)
				putchar('\n');
			ocli_print_fields(&m, stdout, 0);
		}
		wire_msg_clear(&m);
		if ((rc = ocli_next(o, &m)) != SEKISHO_EXIT_OK)
			break;
	}
	if (o->json) {
		output_json_close(&j, ']');
		output_json_uint(&j, "count", count);
		output_json_end(&j);
	} else if (rc == SEKISHO_EXIT_OK && n == 0)
		fputs(_("nothing waits for your decision\n"), stdout);
	return rc;
}

static int
parse_id(struct ocli *o, const char *s, char id[UTIL_ID_LEN + 1])
{
	size_t i;

	if (s == NULL || strlen(s) != UTIL_ID_LEN)
		return ocli_usage(o, N_("not a transfer id (32 hex digits)"));
	for (i = 0; i <= UTIL_ID_LEN; i++)
		id[i] = (char)tolower((unsigned char)s[i]);
	if (!util_is_id(id))
		return ocli_usage(o, N_("not a transfer id (32 hex digits)"));
	return SEKISHO_EXIT_OK;
}


/* ---- the command --------------------------------------------------------------- */

int
approvals_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "comment", required_argument, NULL, 'c' },
		{ "output", required_argument, NULL, 'o' },
		{ "help", no_argument, NULL, 'h' },
		OCLI_OPTIONS,
		{ NULL, 0, NULL, 0 }
	};
	struct ocli o;
	struct wire_msg m, ans;
	const char *verb, *comment = NULL, *output = NULL;
	char id[UTIL_ID_LEN + 1], line[200];
	int c, rc, argi;

	memset(&o, 0, sizeof(o));
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":ho:", opts, NULL)) != -1) {
		if (c == 'c')
			comment = optarg;
		else if (c == 'o')
			output = optarg;
		else if (c == 'h') {
			fputs(_(usage_text), stdout);
			return SEKISHO_EXIT_OK;
		} else if ((rc = ocli_option(&o, c, optarg)) < 0)
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		else if (rc == 0) {
			ocli_usage(&o, N_("unknown option or missing value: %s "
			    "(see sekisho approvals --help)"),
			    output_sanitize(argv[optind - 1], line,
			    sizeof(line)));
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
	}
	/* "approve ID", "reject ID" or "approvals VERB [ID]". */
	argi = optind;
	if (strcmp(argv[0], "approvals") == 0) {
		if (argi >= argc) {
			fputs(_(usage_text), stderr);
			ocli_usage(&o, N_("approvals needs ls, approve or "
			    "reject"));
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
		verb = argv[argi++];
	} else
		verb = argv[0];
	if (strcmp(verb, "ls") == 0) {
		if (argi != argc || comment != NULL) {
			ocli_usage(&o, N_("approvals ls takes no argument"));
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
		if ((rc = ocli_connect(&o, SOFTWARE)) != SEKISHO_EXIT_OK)
			return ocli_finish(&o, rc);
		wire_msg_init(&m, WIRE_OP_APPROVALS_LS, 0);
		rc = ocli_request(&o, &m, &ans);
		wire_msg_clear(&m);
		if (rc == SEKISHO_EXIT_OK)
			rc = print_list(&o, &ans, WIRE_OP_APPROVAL,
			    "approvals");
		return ocli_finish(&o, rc);
	}
	if (strcmp(verb, "open") == 0) {
		if (argi + 1 != argc || output == NULL || output[0] == '\0' ||
		    comment != NULL) {
			ocli_usage(&o, N_("approvals open needs one transfer "
			    "id and -o FILE"));
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
		if ((rc = parse_id(&o, argv[argi], id)) != SEKISHO_EXIT_OK ||
		    (rc = ocli_connect(&o, SOFTWARE)) != SEKISHO_EXIT_OK)
			return ocli_finish(&o, rc);
		return ocli_finish(&o, transfers_open_held(&o, id, output));
	}
	if (output != NULL) {
		ocli_usage(&o, N_("-o is for approvals open only"));
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	if (strcmp(verb, "approve") != 0 && strcmp(verb, "reject") != 0) {
		ocli_usage(&o, N_("unknown approvals command '%s'"),
		    output_sanitize(verb, line, sizeof(line)));
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	if (argi + 1 != argc) {
		ocli_usage(&o, N_("%s needs one transfer id"), verb);
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	if ((rc = parse_id(&o, argv[argi], id)) != SEKISHO_EXIT_OK)
		return ocli_finish(&o, rc);
	if (strcmp(verb, "reject") == 0 &&
	    (comment == NULL || comment[0] == '\0')) {
		ocli_usage(&o, N_("reject needs --comment: the sender is told "
		    "why"));
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	if (comment != NULL && strlen(comment) > WIRE_MAX_COMMENT) {
		ocli_usage(&o, N_("--comment: at most %d bytes"),
		    WIRE_MAX_COMMENT);
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	if ((rc = ocli_connect(&o, SOFTWARE)) != SEKISHO_EXIT_OK)
		return ocli_finish(&o, rc);
	wire_msg_init(&m, strcmp(verb, "approve") == 0 ? WIRE_OP_APPROVE :
	    WIRE_OP_REJECT, 0);
	wire_msg_set_text(&m, "transfer", id);
	if (comment != NULL)
		wire_msg_set_text(&m, "comment", comment);
	rc = ocli_request(&o, &m, &ans);
	wire_msg_clear(&m);
	if (rc != SEKISHO_EXIT_OK)
		return ocli_finish(&o, rc);
	if (ans.op != WIRE_OP_DECIDED) {
		wire_msg_clear(&ans);
		rc = failure_set(&o.f, SEKISHO_EXIT_BROKER, "protocol",
		    N_("protocol error: expected decided"));
		return ocli_finish(&o, rc);
	}
	if (o.json) {
		struct output_json j;

		output_json_begin(&j, stdout);
		ocli_json_fields(&j, &ans);
		output_json_end(&j);
	} else {
		const char *st = wire_msg_text(&ans, "state");
		uint64_t n = 0, req = 0;

		wire_msg_uint(&ans, "approvals", &n);
		wire_msg_uint(&ans, "required", &req);
		printf(strcmp(verb, "approve") == 0 ?
		    P_("approved %s: %s (%" PRIu64 " of %" PRIu64
		    " approval)\n", "approved %s: %s (%" PRIu64 " of %" PRIu64
		    " approvals)\n", req) :
		    P_("rejected %s: %s (%" PRIu64 " of %" PRIu64
		    " approval)\n", "rejected %s: %s (%" PRIu64 " of %" PRIu64
		    " approvals)\n", req), id, output_sanitize(st, line,
		    sizeof(line)), n, req);
	}
	wire_msg_clear(&ans);
	return ocli_finish(&o, SEKISHO_EXIT_OK);
}
