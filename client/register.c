/*
 * register — see register.h.
 *
 * A proposal travels in parts of at most WIRE_MAX_REG_PART bytes, each a
 * register_propose message with its offset, so every message stays under
 * the wire's control bound; the broker answers register_staged until the
 * last part, then register_version (or a refusal). The texts here are
 * bilingual in the program itself, as the broker's are.
 */
#include "client/register.h"
#include "client/ocli.h"
#include "client/output.h"
#include "lib/util.h"

#include <getopt.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#define SOFTWARE "sekisho/" SEKISHO_VERSION
#define MAX_TEXT (1024 * 1024)	/* the broker's bound (REGSTORE_MAX_YAML) */

static const char usage_text[] =
"usage: sekisho register propose FILE --reason TEXT [--emergency] [--otp CODE]\n"
"       sekisho register ls [--state STATE]\n"
"       sekisho register show VERSION\n"
"       sekisho register diff VERSION\n"
"       sekisho register approve VERSION [--comment TEXT] [--otp CODE]\n"
"       sekisho register reject VERSION --comment TEXT [--otp CODE]\n"
"\n"
"インターフェース台帳の変更 (二人による承認) / changes of the interface\n"
"register, approved by a second person (register.mode: approved).\n"
"\n"
"  propose FILE       propose FILE as the next register (admin role and a\n"
"                     fresh step-up); it is checked as --check-config does\n"
"  --reason TEXT      why (required; recorded)\n"
"  --emergency        one approver activates it; unless a second confirms\n"
"                     in time, the previous version comes back by itself\n"
"  ls                 versions, newest first (--state proposed, active,\n"
"                     superseded, rejected, expired, emergency)\n"
"  show VERSION       one version, its change summary and its votes\n"
"  diff VERSION       its changes against the version in force now\n"
"  approve VERSION    approve (members of register_approvers; not the\n"
"                     proposer; each person once); the last approval puts\n"
"                     it in force. Approving a version in state emergency\n"
"                     confirms it\n"
"  reject VERSION     reject; --comment is required\n"
"\n"
"VERSION is the SHA-256 of the text, or at least its first 8 digits.\n"
"  --otp CODE         one-time code (TOTP); --otp - reads it from stdin\n"
"  --json             machine-readable output\n"
"Connection options as for every command (see sekisho --help).\n";

const char *
register_usage(void)
{
	return usage_text;
}

/* Reads the whole file (bounded). */
static int
read_text(struct ocli *o, const char *path, uint8_t **buf, size_t *len)
{
	FILE *f = fopen(path, "rb");
	size_t n;

	*buf = NULL;
	*len = 0;
	if (f == NULL)
		return failure_set(&o->f, SEKISHO_EXIT_LOCAL, "local",
		    "%s: cannot open it / 開けません", path);
	if ((*buf = malloc(MAX_TEXT + 1)) == NULL) {
		fclose(f);
		return failure_set(&o->f, SEKISHO_EXIT_LOCAL, "local",
		    "out of memory");
	}
	n = fread(*buf, 1, MAX_TEXT + 1, f);
	if (ferror(f) || n == 0 || n > MAX_TEXT) {
		fclose(f);
		free(*buf);
		*buf = NULL;
		return failure_set(&o->f, SEKISHO_EXIT_LOCAL, "local",
		    "%s: 1 byte to 1 MiB expected / 台帳は 1 MiB までです",
		    path);
	}
	fclose(f);
	*len = n;
	return SEKISHO_EXIT_OK;
}

/* Times as RFC 3339 (UTC); the summary line by line; everything else
 * sanitized for the terminal. */
static void
print_text(const struct wire_msg *m, int indent)
{
	static const char *const times[] = { "created", "expires",
	    "activated", "confirm_by", "decided", "at", NULL };
	char line[1200], clean[1200], when[21];
	const char *p, *nl;
	size_t i, k;

	for (i = 0; i < m->nfields; i++) {
		const struct wire_field *fld = &m->fields[i];
		const struct wire_value *v = &fld->v;

		printf("%*s%-13s ", indent, "", fld->key);
		if (v->type == WIRE_T_BOOL)
			puts(v->u ? "yes" : "no");
		else if (v->type == WIRE_T_UINT) {
			for (k = 0; times[k] != NULL &&
			    strcmp(times[k], fld->key) != 0; k++)
				;
			if (times[k] != NULL && v->u > 0 &&
			    v->u < (uint64_t)INT64_MAX) {
				util_time_rfc3339((time_t)v->u, when);
				puts(when);
			} else
				printf("%" PRIu64 "\n", v->u);
		} else if (v->type == WIRE_T_TEXT &&
		    strcmp(fld->key, "summary") == 0) {
			/* One line per line of the summary, aligned. */
			for (p = v->text, k = 0; p != NULL && *p != '\0'; k++) {
				nl = strchr(p, '\n');
				snprintf(line, sizeof(line), "%.*s",
				    (int)(nl != NULL ? (size_t)(nl - p) :
				    strlen(p)), p);
				if (k > 0)
					printf("%*s%-13s ", indent, "", "");
				puts(output_sanitize(line, clean,
				    sizeof(clean)));
				p = nl != NULL ? nl + 1 : NULL;
			}
			if (k == 0)
				putchar('\n');
		} else if (v->type == WIRE_T_TEXT)
			puts(output_sanitize(v->text, clean, sizeof(clean)));
		else
			puts("?");
	}
}

static void
print_version(struct ocli *o, const struct wire_msg *m)
{
	struct output_json j;

	if (o->json) {
		output_json_begin(&j, stdout);
		ocli_json_fields(&j, m);
		output_json_end(&j);
	} else
		print_text(m, 0);
}

/* Prints items until "listed"; with --json one object with "versions"
 * and "votes" arrays. */
static int
print_items(struct ocli *o, struct wire_msg *first)
{
	struct output_json j;
	struct wire_msg m = *first;
	int rc = SEKISHO_EXIT_OK, n = 0, in_votes = 0;

	if (o->json) {
		output_json_begin(&j, stdout);
		output_json_array(&j, "versions");
	}
	for (;;) {
		if (m.op == WIRE_OP_LISTED) {
			wire_msg_clear(&m);
			break;
		}
		if (m.op != WIRE_OP_REGISTER_VERSION &&
		    m.op != WIRE_OP_REGISTER_VOTE) {
			wire_msg_clear(&m);
			rc = failure_set(&o->f, SEKISHO_EXIT_BROKER, "protocol",
			    "protocol error: unexpected answer");
			break;
		}
		if (o->json) {
			if (m.op == WIRE_OP_REGISTER_VOTE && !in_votes) {
				output_json_close(&j, ']');
				output_json_array(&j, "votes");
				in_votes = 1;
			}
			output_json_object(&j, NULL);
			ocli_json_fields(&j, &m);
			output_json_close(&j, '}');
		} else {
			if (n++ > 0)
				putchar('\n');
			if (m.op == WIRE_OP_REGISTER_VOTE)
				fputs("vote / 投票:\n", stdout);
			print_text(&m, m.op == WIRE_OP_REGISTER_VOTE ? 2 : 0);
		}
		wire_msg_clear(&m);
		if ((rc = ocli_next(o, &m)) != SEKISHO_EXIT_OK)
			break;
	}
	if (o->json) {
		output_json_close(&j, ']');
		if (!in_votes) {
			output_json_array(&j, "votes");
			output_json_close(&j, ']');
		}
		output_json_end(&j);
	} else if (rc == SEKISHO_EXIT_OK && n == 0)
		fputs("該当する版はありません / no register versions\n", stdout);
	return rc;
}

static int
propose(struct ocli *o, const char *path, const char *reason, int emergency)
{
	unsigned char md[UTIL_SHA256_LEN];
	char sha[UTIL_SHA256_HEX + 1];
	struct wire_msg m, ans;
	uint8_t *buf = NULL;
	size_t len = 0, off = 0, n;
	int rc;

	if ((rc = read_text(o, path, &buf, &len)) != SEKISHO_EXIT_OK)
		return rc;
	if (EVP_Digest(buf, len, md, NULL, EVP_sha256(), NULL) != 1) {
		free(buf);
		return failure_set(&o->f, SEKISHO_EXIT_LOCAL, "local",
		    "SHA-256 failed");
	}
	util_hex(md, sizeof(md), sha);
	if ((rc = ocli_connect(o, SOFTWARE)) != SEKISHO_EXIT_OK) {
		free(buf);
		return rc;
	}
	do {
		n = len - off > WIRE_MAX_REG_PART ? WIRE_MAX_REG_PART :
		    len - off;
		wire_msg_init(&m, WIRE_OP_REGISTER_PROPOSE, 0);
		if (wire_msg_set_text(&m, "version", sha) != 0 ||
		    wire_msg_set_uint(&m, "size", len) != 0 ||
		    wire_msg_set_uint(&m, "offset", off) != 0 ||
		    wire_msg_set_bytes(&m, "part", buf + off, n) != 0 ||
		    wire_msg_set_text(&m, "reason", reason) != 0 ||
		    (emergency && wire_msg_set_bool(&m, "emergency", 1) != 0)) {
			wire_msg_clear(&m);
			free(buf);
			return failure_set(&o->f, SEKISHO_EXIT_USAGE, "usage",
			    "--reason: at most %d bytes", WIRE_MAX_COMMENT);
		}
		rc = ocli_request(o, &m, &ans);
		wire_msg_clear(&m);
		if (rc != SEKISHO_EXIT_OK) {
			free(buf);
			return rc;
		}
		off += n;
		if (off < len && ans.op != WIRE_OP_REGISTER_STAGED) {
			wire_msg_clear(&ans);
			free(buf);
			return failure_set(&o->f, SEKISHO_EXIT_BROKER,
			    "protocol", "protocol error: expected "
			    "register_staged");
		}
		if (off < len)
			wire_msg_clear(&ans);
	} while (off < len);
	free(buf);
	if (ans.op != WIRE_OP_REGISTER_VERSION) {
		wire_msg_clear(&ans);
		return failure_set(&o->f, SEKISHO_EXIT_BROKER, "protocol",
		    "protocol error: expected register_version");
	}
	if (!o->json)
		printf("台帳の変更を提案しました。別の承認者の承認を待ちます / "
		    "proposed; it waits for approval by another person\n\n");
	print_version(o, &ans);
	wire_msg_clear(&ans);
	return SEKISHO_EXIT_OK;
}

int
register_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "reason", required_argument, NULL, 'r' },
		{ "comment", required_argument, NULL, 'c' },
		{ "state", required_argument, NULL, 's' },
		{ "emergency", no_argument, NULL, 'e' },
		{ "help", no_argument, NULL, 'h' },
		OCLI_OPTIONS,
		{ NULL, 0, NULL, 0 }
	};
	struct ocli o;
	struct wire_msg m, ans;
	const char *verb, *reason = NULL, *comment = NULL, *state = NULL;
	char line[200];
	int c, rc, emergency = 0;
	enum wire_op op;

	memset(&o, 0, sizeof(o));
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'r')
			reason = optarg;
		else if (c == 'c')
			comment = optarg;
		else if (c == 's')
			state = optarg;
		else if (c == 'e')
			emergency = 1;
		else if (c == 'h') {
			fputs(usage_text, stdout);
			return SEKISHO_EXIT_OK;
		} else if ((rc = ocli_option(&o, c, optarg)) < 0)
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		else if (rc == 0) {
			ocli_usage(&o, "unknown option or missing value: %s "
			    "(see sekisho register --help)",
			    output_sanitize(argv[optind - 1], line,
			    sizeof(line)));
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
	}
	if (optind >= argc) {
		fputs(usage_text, stderr);
		ocli_usage(&o, "register needs propose, ls, show, diff, approve "
		    "or reject");
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	verb = argv[optind++];
	if (strcmp(verb, "propose") == 0) {
		if (optind + 1 != argc || reason == NULL || reason[0] == '\0' ||
		    comment != NULL || state != NULL) {
			ocli_usage(&o, "register propose needs FILE and --reason "
			    "TEXT / 提案には FILE と --reason が必要です");
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
		return ocli_finish(&o, propose(&o, argv[optind], reason,
		    emergency));
	}
	if (emergency || reason != NULL) {
		ocli_usage(&o, "--reason and --emergency are for register "
		    "propose");
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	if (strcmp(verb, "ls") == 0) {
		if (optind != argc || comment != NULL) {
			ocli_usage(&o, "register ls takes only --state");
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
		op = WIRE_OP_REGISTER_LS;
	} else if (strcmp(verb, "show") == 0 || strcmp(verb, "diff") == 0 ||
	    strcmp(verb, "approve") == 0 || strcmp(verb, "reject") == 0) {
		if (optind + 1 != argc || state != NULL) {
			ocli_usage(&o, "register %s needs one VERSION", verb);
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
		op = strcmp(verb, "show") == 0 ? WIRE_OP_REGISTER_SHOW :
		    strcmp(verb, "diff") == 0 ? WIRE_OP_REGISTER_DIFF :
		    strcmp(verb, "approve") == 0 ? WIRE_OP_REGISTER_APPROVE :
		    WIRE_OP_REGISTER_REJECT;
		if (op == WIRE_OP_REGISTER_REJECT &&
		    (comment == NULL || comment[0] == '\0')) {
			ocli_usage(&o, "register reject needs --comment: why / "
			    "却下には理由 (--comment) が必要です");
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
		if (comment != NULL && op != WIRE_OP_REGISTER_APPROVE &&
		    op != WIRE_OP_REGISTER_REJECT) {
			ocli_usage(&o, "--comment is for approve and reject");
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
	} else {
		ocli_usage(&o, "unknown register command '%s'",
		    output_sanitize(verb, line, sizeof(line)));
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	if ((rc = ocli_connect(&o, SOFTWARE)) != SEKISHO_EXIT_OK)
		return ocli_finish(&o, rc);
	wire_msg_init(&m, op, 0);
	if (op != WIRE_OP_REGISTER_LS &&
	    wire_msg_set_text(&m, "version", argv[optind]) != 0) {
		wire_msg_clear(&m);
		ocli_usage(&o, "VERSION: 8 to 64 hex digits of the SHA-256");
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	if ((state != NULL && wire_msg_set_text(&m, "state", state) != 0) ||
	    (comment != NULL && wire_msg_set_text(&m, "comment",
	    comment) != 0)) {
		wire_msg_clear(&m);
		ocli_usage(&o, "--state or --comment is too long");
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	rc = ocli_request(&o, &m, &ans);
	wire_msg_clear(&m);
	if (rc != SEKISHO_EXIT_OK)
		return ocli_finish(&o, rc);
	if (op == WIRE_OP_REGISTER_LS || op == WIRE_OP_REGISTER_SHOW)
		return ocli_finish(&o, print_items(&o, &ans));
	if (ans.op != WIRE_OP_REGISTER_VERSION) {
		wire_msg_clear(&ans);
		return ocli_finish(&o, failure_set(&o.f, SEKISHO_EXIT_BROKER,
		    "protocol", "protocol error: expected register_version"));
	}
	print_version(&o, &ans);
	wire_msg_clear(&ans);
	return ocli_finish(&o, SEKISHO_EXIT_OK);
}
