/*
 * transfers — see transfers.h.
 */
#include "client/i18n.h"
#include "client/transfers.h"
#include "client/output.h"
#include "client/progress.h"
#include "client/status.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <libgen.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#ifndef SEKISHO_VERSION
#define SEKISHO_VERSION "0.0.0"
#endif
#define SOFTWARE "sekisho/" SEKISHO_VERSION

static const char *const usage_transfers = N_(
"usage: sekisho transfers [--limit N] [--after TRANSFER] [--json]\n"
"\n"
"Lists your own transfers, newest first: id, state, interface, size,\n"
"when it started and the file name. At most N (1 to 200, default 50);\n"
"when there are more, the command to see the next ones is printed.\n"
"Connection options as for every command (see sekisho --help).\n");

static const char *const usage_withdraw = N_(
"usage: sekisho withdraw TRANSFER [--reason TEXT] [--json]\n"
"\n"
"Withdraws (取り下げ) one of your transfers that is still held for\n"
"approval or whose upload did not finish: it is never delivered and the\n"
"broker deletes its copy. A transfer already released for delivery\n"
"cannot be withdrawn. --reason is recorded in the audit trail.\n"
"Connection options as for every command (see sekisho --help).\n");

const char *
transfers_usage(void)
{
	return _(usage_transfers);
}

const char *
withdraw_usage(void)
{
	return _(usage_withdraw);
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

static void
print_row(const struct wire_msg *m)
{
	char name[300], iface[80], st[40], sz[32], t[21];
	const char *created = wire_msg_text(m, "created");
	uint64_t size = 0;

	wire_msg_uint(m, "size", &size);
	util_strlcpy(t, created != NULL ? created : "", sizeof(t));
	printf("%s  %-10s  %-16s  %10s  %s  %s\n",
	    wire_msg_text(m, "transfer") != NULL ?
	    wire_msg_text(m, "transfer") : "?",
	    output_sanitize(wire_msg_text(m, "state"), st, sizeof(st)),
	    output_sanitize(wire_msg_text(m, "interface"), iface,
	    sizeof(iface)),
	    progress_format_size(size, sz, sizeof(sz)), t,
	    output_sanitize(wire_msg_text(m, "name"), name, sizeof(name)));
}

static int
cmd_transfers(struct ocli *o, uint64_t limit, const char *after)
{
	struct output_json j;
	struct wire_msg m, ans;
	uint64_t count = 0;
	char next[WIRE_MAX_TOKEN + 1] = "";
	int rc, n = 0;

	if ((rc = ocli_connect(o, SOFTWARE)) != SEKISHO_EXIT_OK)
		return rc;
	wire_msg_init(&m, WIRE_OP_TRANSFERS_LS, 0);
	wire_msg_set_uint(&m, "limit", limit);
	if (after != NULL)
		wire_msg_set_text(&m, "after", after);
	rc = ocli_request(o, &m, &ans);
	wire_msg_clear(&m);
	if (rc != SEKISHO_EXIT_OK)
		return rc;
	if (o->json) {
		output_json_begin(&j, stdout);
		output_json_array(&j, "transfers");
	}
	for (;;) {
		if (ans.op == WIRE_OP_LISTED) {
			wire_msg_uint(&ans, "count", &count);
			if (wire_msg_text(&ans, "next") != NULL)
				util_strlcpy(next, wire_msg_text(&ans, "next"),
				    sizeof(next));
			wire_msg_clear(&ans);
			break;
		}
		if (ans.op != WIRE_OP_STATE) {
			wire_msg_clear(&ans);
			rc = failure_set(&o->f, SEKISHO_EXIT_BROKER, "protocol",
			    N_("protocol error: unexpected answer"));
			break;
		}
		if (o->json) {
			output_json_object(&j, NULL);
			ocli_json_fields(&j, &ans);
			output_json_close(&j, '}');
		} else
			print_row(&ans);
		n++;
		wire_msg_clear(&ans);
		if ((rc = ocli_next(o, &ans)) != SEKISHO_EXIT_OK)
			break;
	}
	if (o->json) {
		output_json_close(&j, ']');
		output_json_uint(&j, "count", count);
		if (next[0] != '\0')
			output_json_str(&j, "next", next);
		output_json_end(&j);
	} else if (rc == SEKISHO_EXIT_OK && n == 0)
		fputs(_("no transfers\n"), stdout);
	else if (rc == SEKISHO_EXIT_OK && next[0] != '\0' &&
	    util_is_id(next))
		printf(_("more: sekisho transfers --after %s\n"), next);
	return rc;
}

static int
cmd_withdraw(struct ocli *o, const char *id, const char *reason)
{
	struct wire_msg m, ans;
	char st[40];
	int rc;

	if ((rc = ocli_connect(o, SOFTWARE)) != SEKISHO_EXIT_OK)
		return rc;
	wire_msg_init(&m, WIRE_OP_WITHDRAW, 0);
	wire_msg_set_text(&m, "transfer", id);
	if (reason != NULL)
		wire_msg_set_text(&m, "reason", reason);
	rc = ocli_request(o, &m, &ans);
	wire_msg_clear(&m);
	if (rc != SEKISHO_EXIT_OK)
		return rc;
	if (ans.op != WIRE_OP_STATE) {
		wire_msg_clear(&ans);
		return failure_set(&o->f, SEKISHO_EXIT_BROKER, "protocol",
		    N_("protocol error: expected state"));
	}
	if (o->json)
		status_print(&ans, 1, stdout);
	else
		printf(_("withdrew %s: %s\n"), id, output_sanitize(
		    wire_msg_text(&ans, "state"), st, sizeof(st)));
	wire_msg_clear(&ans);
	return SEKISHO_EXIT_OK;
}

int
transfers_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "limit", required_argument, NULL, 'l' },
		{ "after", required_argument, NULL, 'a' },
		{ "reason", required_argument, NULL, 'r' },
		{ "help", no_argument, NULL, 'h' },
		OCLI_OPTIONS,
		{ NULL, 0, NULL, 0 }
	};
	struct ocli o;
	const char *limit_arg = NULL, *after = NULL, *reason = NULL;
	int withdraw = strcmp(argv[0], "withdraw") == 0;
	char id[UTIL_ID_LEN + 1], after_id[UTIL_ID_LEN + 1], line[200];
	uint64_t limit = 50;
	char *end;
	int c, rc;

	memset(&o, 0, sizeof(o));
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		if (c == 'l' && !withdraw)
			limit_arg = optarg;
		else if (c == 'a' && !withdraw)
			after = optarg;
		else if (c == 'r' && withdraw)
			reason = optarg;
		else if (c == 'h') {
			fputs(withdraw ? withdraw_usage() : transfers_usage(),
			    stdout);
			return SEKISHO_EXIT_OK;
		} else if ((rc = ocli_option(&o, c, optarg)) < 0)
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		else if (rc == 0 || o.otp != NULL) {
			ocli_usage(&o, N_("unknown option or missing value: %s "
			    "(see sekisho help %s)"), output_sanitize(
			    argv[optind - 1], line, sizeof(line)), argv[0]);
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
	}
	if (withdraw) {
		if (optind + 1 != argc) {
			ocli_usage(&o, N_("withdraw needs one transfer id"));
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
		if ((rc = parse_id(&o, argv[optind], id)) != SEKISHO_EXIT_OK)
			return ocli_finish(&o, rc);
		if (reason != NULL && strlen(reason) > WIRE_MAX_COMMENT) {
			ocli_usage(&o, N_("--reason: at most %d bytes"),
			    WIRE_MAX_COMMENT);
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
		return ocli_finish(&o, cmd_withdraw(&o, id, reason));
	}
	if (optind != argc) {
		ocli_usage(&o, N_("transfers takes no argument"));
		return ocli_finish(&o, SEKISHO_EXIT_USAGE);
	}
	if (limit_arg != NULL) {
		errno = 0;
		limit = strtoull(limit_arg, &end, 10);
		if (errno != 0 || end == limit_arg || *end != '\0' ||
		    !isdigit((unsigned char)limit_arg[0]) || limit < 1 ||
		    limit > WIRE_MAX_PAGE) {
			ocli_usage(&o, N_("--limit: give 1 to %d"),
			    WIRE_MAX_PAGE);
			return ocli_finish(&o, SEKISHO_EXIT_USAGE);
		}
	}
	if (after != NULL && (rc = parse_id(&o, after, after_id)) !=
	    SEKISHO_EXIT_OK)
		return ocli_finish(&o, rc);
	return ocli_finish(&o, cmd_transfers(&o, limit, after != NULL ?
	    after_id : NULL));
}

/* ---- approvals open ---------------------------------------------------- */

/* Writes all of buf to fd; -1 with errno on failure. */
static int
write_all(int fd, const uint8_t *buf, size_t len)
{
	ssize_t w;

	while (len > 0) {
		w = write(fd, buf, len);
		if (w < 0 && errno == EINTR)
			continue;
		if (w <= 0)
			return -1;
		buf += w;
		len -= (size_t)w;
	}
	return 0;
}

int
transfers_open_held(struct ocli *o, const char *id, const char *path)
{
	struct wire_msg m, ans, item;
	char tmp[PATH_MAX], dirbuf[PATH_MAX], hex[65];
	struct i18n_msg cerr;
	const uint8_t *want;
	uint8_t *buf = NULL, got[EVP_MAX_MD_SIZE];
	EVP_MD_CTX *md = NULL;
	uint64_t size = 0, total = 0;
	size_t len, wlen = 0;
	unsigned int n = 0;
	int fd = -1, rc, linked = 0;

	if (access(path, F_OK) == 0)
		return failure_set(&o->f, SEKISHO_EXIT_LOCAL, "local",
		    N_("%s exists; give a new file name"), path);
	util_strlcpy(dirbuf, path, sizeof(dirbuf));
	if ((size_t)snprintf(tmp, sizeof(tmp), "%s/.sekisho-open-XXXXXX",
	    dirname(dirbuf)) >= sizeof(tmp))
		return failure_set(&o->f, SEKISHO_EXIT_LOCAL, "local",
		    N_("file name too long"));
	wire_msg_init(&m, WIRE_OP_HELD_OPEN, 0);
	wire_msg_set_text(&m, "transfer", id);
	rc = ocli_request(o, &m, &ans);
	wire_msg_clear(&m);
	if (rc != SEKISHO_EXIT_OK)
		return rc;
	if (ans.op != WIRE_OP_FILE || wire_msg_uint(&ans, "size", &size) != 0 ||
	    (want = wire_msg_bytes(&ans, "sha256", &wlen)) == NULL ||
	    wlen != 32) {
		wire_msg_clear(&ans);
		return failure_set(&o->f, SEKISHO_EXIT_BROKER, "protocol",
		    N_("protocol error: expected file"));
	}
	if ((buf = malloc(WIRE_MAX_CHUNK)) == NULL ||
	    (md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		rc = failure_set(&o->f, SEKISHO_EXIT_LOCAL, "local",
		    N_("out of memory"));
		goto out;
	}
	if ((fd = mkstemp(tmp)) < 0) {
		rc = failure_set(&o->f, SEKISHO_EXIT_LOCAL, "local",
		    N_("cannot create a file beside %s: %s"), path,
		    strerror(errno));
		goto out;
	}
	for (;;) {
		rc = conn_recv_item(o->conn, buf, WIRE_MAX_CHUNK, &len, &item,
		    &cerr);
		if (rc != CONN_OK) {
			rc = failure_from_conn(&o->f, rc, &cerr);
			goto out;
		}
		if (item.op == WIRE_OP_ERROR) {
			rc = failure_from_broker(&o->f, &item);
			wire_msg_clear(&item);
			goto out;
		}
		if (item.op == WIRE_OP_FILE_DONE)
			break;
		if (item.op != WIRE_OP_INVALID || len > size - total) {
			wire_msg_clear(&item);
			rc = failure_set(&o->f, SEKISHO_EXIT_BROKER, "protocol",
			    N_("protocol error: unexpected answer"));
			goto out;
		}
		if (write_all(fd, buf, len) != 0 ||
		    EVP_DigestUpdate(md, buf, len) != 1) {
			rc = failure_set(&o->f, SEKISHO_EXIT_LOCAL, "local",
			    N_("cannot write %s: %s"), tmp, strerror(errno));
			goto out;
		}
		total += len;
	}
	wire_msg_clear(&item);
	if (total != size || EVP_DigestFinal_ex(md, got, &n) != 1 ||
	    n != 32 || CRYPTO_memcmp(got, want, 32) != 0) {
		rc = failure_set(&o->f, SEKISHO_EXIT_BROKER, "hash_mismatch",
		    N_("the file received does not match the SHA-256 the "
		    "broker announced; nothing was saved"));
		goto out;
	}
	if (fsync(fd) != 0 || link(tmp, path) != 0) {
		rc = failure_set(&o->f, SEKISHO_EXIT_LOCAL, "local",
		    N_("cannot save %s: %s"), path, strerror(errno));
		goto out;
	}
	linked = 1;
	util_hex(want, 32, hex);
	if (o->json) {
		struct output_json j;

		output_json_begin(&j, stdout);
		output_json_str(&j, "transfer", id);
		output_json_str(&j, "file", path);
		output_json_uint(&j, "size", size);
		output_json_str(&j, "sha256", hex);
		output_json_end(&j);
	} else
		printf(_("saved %s (%" PRIu64 " bytes, sha256 %s)\n"), path,
		    size, hex);
	rc = SEKISHO_EXIT_OK;
out:
	if (fd >= 0) {
		close(fd);
		unlink(tmp);
	}
	(void)linked;
	wire_msg_clear(&ans);
	EVP_MD_CTX_free(md);
	free(buf);
	return rc;
}
