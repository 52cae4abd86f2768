/*
 * audit — see audit.h. Command-line handling for the auditor's commands and
 * the pull itself; verification is in auditverify.c, show and export in
 * auditshow.c.
 *
 * A pull writes into a new directory and checks only what it must to write
 * it correctly (the chunks are contiguous and complete, every length in
 * bounds); whether the content can be trusted is for `audit verify`, which
 * an auditor can run again at any time, on any machine, with the public key
 * alone.
 */
#include "client/i18n.h"
#include "client/audit.h"
#include "client/auditshow.h"
#include "client/auditverify.h"
#include "client/clientcfg.h"
#include "client/conn.h"
#include "client/failure.h"
#include "client/output.h"
#include "lib/auditcsv.h"
#include "lib/auditfmt.h"
#include "policy/tzone.h"
#include "lib/util.h"
#include "lib/wire.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <pwd.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#ifndef SEKISHO_VERSION
#define SEKISHO_VERSION "0.0.0"
#endif
#define SOFTWARE "sekisho/" SEKISHO_VERSION

enum {
	O_CONFIG = CLIENTCFG_OPT_CONFIG, O_BROKER, O_SERVER_NAME, O_CA, O_CERT,
	O_TLS_KEY, O_TIMEOUT, O_KEY_PASSPHRASE_FILE,
	O_JSON = CLIENTCFG_OPT_END, O_SINCE, O_UNTIL, O_FROM, O_TO, O_OUT, O_PREVIOUS,
	O_KEY, O_FORMAT, O_OUTPUT, O_RAW, O_HEADER, O_ZONE
};

static const struct option audit_opts[] = {
	CLIENTCFG_LONG_OPTIONS("tls-key"),
	{ "json", no_argument, NULL, O_JSON },
	{ "since", required_argument, NULL, O_SINCE },
	{ "until", required_argument, NULL, O_UNTIL },
	{ "from-seq", required_argument, NULL, O_FROM },
	{ "to-seq", required_argument, NULL, O_TO },
	{ "out", required_argument, NULL, O_OUT },
	{ "previous", required_argument, NULL, O_PREVIOUS },
	{ "key", required_argument, NULL, O_KEY },
	{ "format", required_argument, NULL, O_FORMAT },
	{ "output", required_argument, NULL, O_OUTPUT },
	{ "raw", required_argument, NULL, O_RAW },
	{ "header", required_argument, NULL, O_HEADER },
	{ "zone", required_argument, NULL, O_ZONE },
	{ "help", no_argument, NULL, 'h' },
	{ NULL, 0, NULL, 0 }
};

static const char *const audit_usage = N_(
"usage: sekisho audit pull (--since T1 [--until T2] | [--from-seq A]\n"
"                          [--to-seq B]) (--out DIR | --raw FILE)\n"
"                          [--previous CHECKPOINT]\n"
"       sekisho audit verify DIR|FILE --key KEYFILE [--previous CHECKPOINT]\n"
"       sekisho audit show TRANSFER_ID DIR|FILE\n"
"       sekisho audit export DIR|FILE --format csv|jsonl [--output FILE]\n"
"                          [--header en|ja] [--zone ZONE]\n"
"\n"
"The auditor's commands (監査人). pull fetches the audit trail of a period\n"
"(T1, T2: YYYY-MM-DD in local time, or YYYY-MM-DDTHH:MM:SSZ, or with an\n"
"offset such as +09:00) or of a range of record numbers, with the broker's\n"
"signed checkpoint and the proofs, into the new directory DIR. It needs the\n"
"auditor role. Keep checkpoint.note of each pull: given as --previous to\n"
"the next pull and verify, it proves that nothing was removed or rewritten\n"
"in between. --raw FILE saves the pull as one file instead, exactly the\n"
"messages the broker sent (the file the browser downloads as a bundle).\n"
"\n"
"verify checks DIR offline with the broker's verifier key only: signature,\n"
"every record against the signed tree, order, completeness and, with\n"
"--previous, that the log only grew. It names the first bad record.\n"
"show prints every event of one transfer in a pulled DIR; export writes\n"
"DIR's records as CSV (UTF-8 with BOM) or JSON Lines (stdout by default);\n"
"every command takes a bundle FILE where it takes DIR. CSV: --header ja\n"
"writes the header row in Japanese, --zone ZONE (Asia/Tokyo, +09:00) the\n"
"local_time column in that zone (default: this machine's).\n"
"\n"
"Connection options as for the other commands (--config, --broker,\n"
"--server-name, --ca, --cert, --timeout, --key-passphrase-file); --tls-key\n"
"overrides the configuration's TLS key (here --key is the verifier key).\n"
"--json prints pull and verify results as one JSON object.\n"
"\n"
"Exit status: 0 success, 1 usage, 2 local problem, 3 connection,\n"
"4 refused (not an auditor), 5 broker or protocol error, 6 transfer not\n"
"found, 7 verification failed. See docs/audit.md.\n");

struct audit_args {
	struct clientcfg_flags flags;
	int json;
	int help;
	const char *since, *until, *from, *to, *out, *previous, *key;
	const char *format, *output, *raw, *header, *zone;
	const char *sub;
	int npos;
	char **pos;
	int printed;		/* the command printed its own failure */
};

/* ---- command line ------------------------------------------------------- */

static int
usage_fail(struct failure *f, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
usage_fail(struct failure *f, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = failure_vusage(f, "sekisho audit --help", fmt, ap);
	va_end(ap);
	return rc;
}

static int
parse_args(int argc, char **argv, struct audit_args *a, struct failure *f)
{
	struct i18n_msg cm;
	char ab[128];
	int c;

	memset(a, 0, sizeof(*a));
	opterr = 0;
	optind = 1;
	while ((c = getopt_long(argc, argv, ":h", audit_opts, NULL)) != -1) {
		switch (c) {
		case O_CONFIG:
		case O_BROKER:
		case O_SERVER_NAME:
		case O_CA:
		case O_CERT:
		case O_TLS_KEY:
		case O_TIMEOUT:
		case O_KEY_PASSPHRASE_FILE:
			if (clientcfg_option(&a->flags, c, optarg, &cm) != 0)
				return failure_usage_msg(f, "sekisho audit "
				    "--help", &cm);
			break;
		case O_JSON:
			a->json = 1;
			break;
		case O_SINCE:
			a->since = optarg;
			break;
		case O_UNTIL:
			a->until = optarg;
			break;
		case O_FROM:
			a->from = optarg;
			break;
		case O_TO:
			a->to = optarg;
			break;
		case O_OUT:
			a->out = optarg;
			break;
		case O_PREVIOUS:
			a->previous = optarg;
			break;
		case O_KEY:
			a->key = optarg;
			break;
		case O_FORMAT:
			a->format = optarg;
			break;
		case O_OUTPUT:
			a->output = optarg;
			break;
		case O_RAW:
			a->raw = optarg;
			break;
		case O_HEADER:
			a->header = optarg;
			break;
		case O_ZONE:
			a->zone = optarg;
			break;
		case 'h':
			a->help = 1;
			break;
		case ':':
			return usage_fail(f, N_("option %s needs a value"),
			    output_sanitize(argv[optind - 1], ab, sizeof(ab)));
		default:
			return usage_fail(f, N_("unknown option '%s'"),
			    output_sanitize(argv[optind - 1], ab, sizeof(ab)));
		}
	}
	/* argv[optind] is "audit". */
	if (optind < argc)
		optind++;
	if (optind < argc)
		a->sub = argv[optind++];
	a->npos = argc - optind;
	a->pos = argv + optind;
	return SEKISHO_EXIT_OK;
}

/* Decimal uint64; -1 on anything else. */
static int
parse_u64(const char *s, uint64_t *out)
{
	if (s == NULL)
		return -1;
	return util_parse_digits(s, strlen(s), out);
}

/*
 * A time of the command line as RFC 3339 UTC ("...Z") for the broker:
 * "YYYY-MM-DD" is a local date (its start, or its last second for an end),
 * "YYYY-MM-DDTHH:MM:SSZ" is UTC, "YYYY-MM-DDTHH:MM:SS+09:00" has an offset.
 */
static int
parse_when(const char *s, int end_of_day, char out[21])
{
	struct tm tm;
	const char *rest;
	time_t t;

	memset(&tm, 0, sizeof(tm));
	if (strlen(s) == 10) {
		if ((rest = strptime(s, "%Y-%m-%d", &tm)) == NULL ||
		    *rest != '\0')
			return -1;
		if (end_of_day) {
			tm.tm_hour = 23;
			tm.tm_min = 59;
			tm.tm_sec = 59;
		}
		tm.tm_isdst = -1;
		if ((t = mktime(&tm)) == (time_t)-1)
			return -1;
	} else {
		if ((rest = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
			return -1;
		t = timegm(&tm);
		if (strcmp(rest, "Z") == 0)
			;
		else if (strlen(rest) == 6 && (rest[0] == '+' ||
		    rest[0] == '-') && rest[3] == ':' &&
		    strspn(rest + 1, "0123456789") == 2 &&
		    strspn(rest + 4, "0123456789") == 2) {
			int off = ((rest[1] - '0') * 10 + (rest[2] - '0')) *
			    3600 + ((rest[4] - '0') * 10 + (rest[5] - '0')) * 60;

			t += rest[0] == '+' ? -off : off;
		} else
			return -1;
	}
	if (t < 0)
		return -1;
	util_time_rfc3339(t, out);
	return 0;
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

/* ---- pull --------------------------------------------------------------- */

/* The bundle holds the whole trail (names, users, purposes): its
 * directory and files are for their owner only, whatever the umask. */
#define BUNDLE_DIR_MODE 0700
#define BUNDLE_FILE_MODE 0600

/* Writes a whole buffer to a new file in dir (0600, fsynced). */
static int
write_new(const char *dir, const char *name, const void *buf, size_t len,
    char *err, size_t errlen)
{
	char path[PATH_MAX];
	size_t done = 0;
	int fd;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
	    BUNDLE_FILE_MODE);
	if (fd == -1)
		return util_err(err, errlen, "%s: %s", path, strerror(errno));
	while (done < len) {
		ssize_t n = write(fd, (const uint8_t *)buf + done, len - done);

		if (n <= 0) {
			close(fd);
			return util_err(err, errlen, "%s: %s", path,
			    n < 0 ? strerror(errno) : "short write");
		}
		done += (size_t)n;
	}
	if (fsync(fd) != 0 || close(fd) != 0)
		return util_err(err, errlen, "%s: %s", path, strerror(errno));
	return 0;
}

static int
append_fd(int fd, const void *buf, size_t len)
{
	size_t done = 0;

	while (done < len) {
		ssize_t n = write(fd, (const uint8_t *)buf + done, len - done);

		if (n <= 0)
			return -1;
		done += (size_t)n;
	}
	return 0;
}

/* The size a checkpoint file names, read without checking its signature
 * (verify does that); for asking the broker for a consistency proof. */
static int
previous_size(const char *path, uint64_t *size, struct i18n_msg *err)
{
	struct note_checkpoint cp;
	char *buf, *sep, *p, why[256];
	size_t len;

	if (auditverify_read_small(path, AUDITVERIFY_NOTE_MAX, &buf, &len,
	    err) != 0)
		return -1;
	/* The text ends at the last blank line. */
	sep = NULL;
	for (p = buf; (p = strstr(p, "\n\n")) != NULL; p++)
		sep = p;
	if (sep == NULL || note_checkpoint_parse(buf, (size_t)(sep - buf) + 1,
	    &cp, why, sizeof(why)) != 0) {
		free(buf);
		return i18n_msg_set(err, N_("%s is not a signed checkpoint"),
		    path);
	}
	free(buf);
	*size = cp.size;
	return 0;
}

/* Hashes of a proof field: a multiple of 32 bytes, at most 64 of them. */
static int
take_hashes(const struct wire_msg *m, const char *key,
    uint8_t (*out)[AUDITFMT_HASH_LEN], size_t *n)
{
	size_t len = 0;
	const uint8_t *p = wire_msg_bytes(m, key, &len);

	*n = 0;
	if (p == NULL)
		return len == 0 ? 0 : -1;
	if (len % AUDITFMT_HASH_LEN != 0 ||
	    len / AUDITFMT_HASH_LEN > AUDITFMT_PROOF_MAX)
		return -1;
	memcpy(out, p, len);
	*n = len / AUDITFMT_HASH_LEN;
	return 0;
}

static int
cmd_pull(const struct audit_args *a, struct failure *f)
{
	struct clientcfg cfg;
	struct clientcfg_env env;
	struct conn *c = NULL;
	struct wire_msg req, m;
	struct auditfmt_proof *proof = NULL;
	char err[1024], since[21], until[21], ab[128], *text = NULL;
	const char *note;
	uint8_t *buf = NULL;
	uint64_t from = 0, to = 0, prev = 0, expect, got = 0;
	size_t len, textlen;
	int rc, rfd = -1, lfd = -1, rawfd = -1, ret;
	struct i18n_msg cm, cerr;
	struct stat sb;

	memset(&cfg, 0, sizeof(cfg));
	memset(&m, 0, sizeof(m));
	if (a->npos != 0)
		return usage_fail(f, N_("pull takes no arguments besides "
		    "options"));
	if ((a->out == NULL) == (a->raw == NULL))
		return usage_fail(f, N_("pull needs --out DIR or --raw FILE"));
	if ((a->since != NULL || a->until != NULL) &&
	    (a->from != NULL || a->to != NULL))
		return usage_fail(f, N_("give a period (--since, --until) or "
		    "record numbers (--from-seq, --to-seq), not both"));
	if (a->until != NULL && a->since == NULL)
		return usage_fail(f, N_("--until needs --since"));
	if (a->since != NULL && parse_when(a->since, 0, since) != 0)
		return usage_fail(f, N_("--since '%s' is not a date or time"),
		    output_sanitize(a->since, ab, sizeof(ab)));
	if (a->until != NULL && parse_when(a->until, 1, until) != 0)
		return usage_fail(f, N_("--until '%s' is not a date or time"),
		    output_sanitize(a->until, ab, sizeof(ab)));
	if ((a->from != NULL && parse_u64(a->from, &from) != 0) ||
	    (a->to != NULL && parse_u64(a->to, &to) != 0))
		return usage_fail(f, N_("--from-seq and --to-seq take record "
		    "numbers"));
	if (a->from != NULL && a->to != NULL && to < from)
		return usage_fail(f, N_("--to-seq is before --from-seq"));
	if (a->previous != NULL && previous_size(a->previous, &prev,
	    &cerr) != 0)
		return failure_set_msg(f, SEKISHO_EXIT_LOCAL, "previous",
		    &cerr);
	if (a->out != NULL && stat(a->out, &sb) == 0)
		return failure_set(f, SEKISHO_EXIT_LOCAL, "out", N_("%s exists "
		    "already; pull into a new directory"),
		    output_sanitize(a->out, ab, sizeof(ab)));
	if (a->raw != NULL && (rawfd = open(a->raw, O_WRONLY | O_CREAT |
	    O_EXCL | O_CLOEXEC, BUNDLE_FILE_MODE)) == -1)
		return failure_set(f, SEKISHO_EXIT_LOCAL, "out", N_("%s: %s "
		    "(--raw writes a new file)"), output_sanitize(a->raw, ab,
		    sizeof(ab)), strerror(errno));

	env.sekisho_config = getenv("SEKISHO_CONFIG");
	env.home = home_dir();
	if (clientcfg_load(&a->flags, &env, &cfg, &cm) != 0) {
		if (rawfd != -1) {
			close(rawfd);
			unlink(a->raw);
		}
		return failure_set_msg(f, SEKISHO_EXIT_LOCAL, "config", &cm);
	}
	if ((rc = conn_open(&cfg, SOFTWARE, &c, &m, &cerr)) != CONN_OK) {
		if (m.op == WIRE_OP_ERROR) {
			ret = failure_from_broker(f, &m);
			wire_msg_clear(&m);
		} else
			ret = failure_from_conn(f, rc, &cerr);
		clientcfg_free(&cfg);
		if (rawfd != -1) {
			close(rawfd);
			unlink(a->raw);
		}
		return ret;
	}
	if (rawfd != -1)
		conn_tap(c, rawfd);
	wire_msg_init(&req, WIRE_OP_AUDIT_PULL, conn_next_id(c));
	if (a->since != NULL)
		wire_msg_set_text(&req, "since", since);
	if (a->until != NULL)
		wire_msg_set_text(&req, "until", until);
	if (a->from != NULL)
		wire_msg_set_uint(&req, "from_seq", from);
	if (a->to != NULL)
		wire_msg_set_uint(&req, "to_seq", to);
	if (a->previous != NULL)
		wire_msg_set_uint(&req, "previous", prev);
	rc = conn_send_msg(c, &req, &cerr);
	wire_msg_clear(&req);
	if (rc != CONN_OK || (rc = conn_recv_msg(c, &m, &cerr)) != CONN_OK) {
		ret = failure_from_conn(f, rc, &cerr);
		goto out;
	}
	if (m.op == WIRE_OP_ERROR) {
		ret = failure_from_broker(f, &m);
		goto out;
	}
	if ((proof = calloc(1, sizeof(*proof))) == NULL ||
	    (buf = malloc(WIRE_MAX_CHUNK)) == NULL) {
		ret = failure_set(f, SEKISHO_EXIT_LOCAL, "memory", N_("out of "
		    "memory"));
		goto out;
	}
	note = wire_msg_text(&m, "checkpoint");
	if (m.op != WIRE_OP_AUDIT_HEAD || note == NULL ||
	    wire_msg_uint(&m, "tree_size", &proof->tree_size) != 0 ||
	    wire_msg_uint(&m, "from_seq", &proof->from_seq) != 0 ||
	    wire_msg_uint(&m, "count", &proof->count) != 0 ||
	    take_hashes(&m, "left", proof->left, &proof->nleft) != 0 ||
	    take_hashes(&m, "right", proof->right, &proof->nright) != 0 ||
	    take_hashes(&m, "previous", proof->previous,
	    &proof->nprevious) != 0) {
		ret = failure_set(f, SEKISHO_EXIT_BROKER, "protocol", N_("the "
		    "broker's answer to the pull is not an audit head"));
		goto out;
	}
	proof->has_previous = wire_msg_uint(&m, "previous_size",
	    &proof->previous_size) == 0;
	if (a->out == NULL)
		goto records;
	if (mkdir(a->out, BUNDLE_DIR_MODE) != 0) {
		ret = failure_set(f, SEKISHO_EXIT_LOCAL, "out", N_("mkdir %s: "
		    "%s"), output_sanitize(a->out, ab, sizeof(ab)),
		    strerror(errno));
		goto out;
	}
	if (write_new(a->out, "checkpoint.note", note, strlen(note), err,
	    sizeof(err)) != 0 || auditfmt_proof_format(proof, &text, &textlen,
	    err, sizeof(err)) != 0 || write_new(a->out, "proof.txt", text,
	    textlen, err, sizeof(err)) != 0) {
		ret = failure_set(f, SEKISHO_EXIT_LOCAL, "out", "%s", err);
		goto out;
	}
	if (a->previous != NULL) {
		char *pbuf;
		size_t plen;

		if (auditverify_read_small(a->previous, AUDITVERIFY_NOTE_MAX,
		    &pbuf, &plen, &cerr) != 0) {
			ret = failure_set_msg(f, SEKISHO_EXIT_LOCAL, "out",
			    &cerr);
			goto out;
		}
		rc = write_new(a->out, "previous.note", pbuf, plen, err,
		    sizeof(err));
		free(pbuf);
		if (rc != 0) {
			ret = failure_set(f, SEKISHO_EXIT_LOCAL, "out", "%s",
			    err);
			goto out;
		}
	}
	{
		char rp[PATH_MAX], lp[PATH_MAX];

		snprintf(rp, sizeof(rp), "%s/records.audit", a->out);
		snprintf(lp, sizeof(lp), "%s/leaves.bin", a->out);
		rfd = open(rp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    BUNDLE_FILE_MODE);
		lfd = open(lp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC,
		    BUNDLE_FILE_MODE);
		if (rfd == -1 || lfd == -1) {
			ret = failure_set(f, SEKISHO_EXIT_LOCAL, "out", "%s: %s",
			    rfd == -1 ? rp : lp, strerror(errno));
			goto out;
		}
	}
records:
	expect = proof->from_seq;
	for (;;) {
		const uint8_t *leaves;
		uint64_t first = 0, count = 0;
		size_t llen = 0;

		wire_msg_clear(&m);
		if ((rc = conn_recv_msg(c, &m, &cerr)) != CONN_OK) {
			ret = failure_from_conn(f, rc, &cerr);
			goto out;
		}
		if (m.op == WIRE_OP_ERROR) {
			ret = failure_from_broker(f, &m);
			goto out;
		}
		if (m.op == WIRE_OP_AUDIT_DONE) {
			if (wire_msg_uint(&m, "count", &count) != 0 ||
			    count != got || got != proof->count) {
				ret = failure_set(f, SEKISHO_EXIT_BROKER,
				    "protocol", N_("the broker ended the pull "
				    "after %" PRIu64 " of %" PRIu64 " records"),
				    got, proof->count);
				goto out;
			}
			break;
		}
		leaves = wire_msg_bytes(&m, "leaves", &llen);
		if (m.op != WIRE_OP_AUDIT_RECORDS ||
		    wire_msg_uint(&m, "from_seq", &first) != 0 ||
		    wire_msg_uint(&m, "count", &count) != 0 || first != expect ||
		    leaves == NULL || llen != count * AUDITFMT_HASH_LEN ||
		    count > proof->count - got) {
			ret = failure_set(f, SEKISHO_EXIT_BROKER, "protocol",
			    N_("unexpected message in the pull after record %"
			    PRIu64), expect);
			goto out;
		}
		if ((rc = conn_recv_data(c, buf, WIRE_MAX_CHUNK, &len,
		    &cerr)) != CONN_OK) {
			ret = failure_from_conn(f, rc, &cerr);
			goto out;
		}
		if (a->out != NULL && (append_fd(lfd, leaves, llen) != 0 ||
		    append_fd(rfd, buf, len) != 0)) {
			ret = failure_set(f, SEKISHO_EXIT_LOCAL, "out",
			    N_("writing %s: %s"), output_sanitize(a->out, ab,
			    sizeof(ab)),
			    strerror(errno));
			goto out;
		}
		got += count;
		expect += count;
	}
	if ((a->out != NULL && (fsync(rfd) != 0 || fsync(lfd) != 0)) ||
	    (rawfd != -1 && (conn_tap_error(c) != 0 || fsync(rawfd) != 0))) {
		ret = failure_set(f, SEKISHO_EXIT_LOCAL, "out", N_("writing "
		    "the pull: %s"), strerror(rawfd != -1 &&
		    conn_tap_error(c) != 0 ? conn_tap_error(c) : errno));
		goto out;
	}
	if (a->previous != NULL && !proof->has_previous) {
		ret = failure_set(f, AUDIT_EXIT_INVALID, "rollback", N_("the "
		    "broker's latest checkpoint has %" PRIu64 " records, fewer "
		    "than the %" PRIu64 " of your previous checkpoint: the log "
		    "was rolled back (the pull is in %s for inspection)"),
		    proof->tree_size, prev, output_sanitize(a->out, ab,
		    sizeof(ab)));
		goto out;
	}
	if (a->json) {
		struct output_json j;

		output_json_begin(&j, stdout);
		output_json_str(&j, a->out != NULL ? "dir" : "file",
		    a->out != NULL ? a->out : a->raw);
		output_json_uint(&j, "from_seq", proof->from_seq);
		output_json_uint(&j, "count", got);
		output_json_uint(&j, "tree_size", proof->tree_size);
		if (proof->has_previous)
			output_json_uint(&j, "previous_size",
			    proof->previous_size);
		output_json_end(&j);
	} else {
		char span[96] = "";

		if (got > 0)
			snprintf(span, sizeof(span), _(" (%" PRIu64 " to %"
			    PRIu64 ")"), proof->from_seq,
			    proof->from_seq + got - 1);
		/* TRANSLATORS: count, " (first to last)" or "", trail
		 * size, directory. */
		printf(P_("pulled %" PRIu64 " record%s of a trail of %" PRIu64
		    " into %s\n", "pulled %" PRIu64 " records%s of a trail of %"
		    PRIu64 " into %s\n", got), got, span, proof->tree_size,
		    output_sanitize(a->out != NULL ? a->out : a->raw, ab,
		    sizeof(ab)));
		printf(_("verify with: sekisho audit verify %s --key "
		    "KEYFILE%s\n"),
		    output_sanitize(a->out != NULL ? a->out : a->raw, ab,
		    sizeof(ab)), a->previous !=
		    NULL ? " --previous CHECKPOINT" : "");
	}
	ret = SEKISHO_EXIT_OK;
out:
	if (rawfd != -1) {
		close(rawfd);
		/* A pull that failed leaves no file that looks like one. */
		if (ret != SEKISHO_EXIT_OK && ret != AUDIT_EXIT_INVALID)
			unlink(a->raw);
	}
	if (rfd != -1)
		close(rfd);
	if (lfd != -1)
		close(lfd);
	wire_msg_clear(&m);
	conn_close(c);
	clientcfg_free(&cfg);
	free(text);
	free(buf);
	free(proof);
	return ret;
}

/* ---- verify, show, export ------------------------------------------------- */

static int
cmd_verify(struct audit_args *a, struct failure *f)
{
	struct auditverify_result res;
	struct i18n_msg err;

	if (a->npos != 1)
		return usage_fail(f, N_("verify takes one directory"));
	if (a->key == NULL)
		return usage_fail(f, N_("verify needs --key KEYFILE (the "
		    "broker's verifier key)"));
	if (auditverify_path(a->pos[0], a->key, a->previous, &res, &err) != 0)
		return failure_set_msg(f, SEKISHO_EXIT_LOCAL, "verify", &err);
	if (a->json) {
		struct output_json j;

		output_json_begin(&j, stdout);
		output_json_bool(&j, "ok", res.v.fault == AUDITFMT_FAULT_NONE);
		output_json_str(&j, "origin", res.origin);
		output_json_uint(&j, "tree_size", res.tree_size);
		output_json_uint(&j, "from_seq", res.from_seq);
		output_json_uint(&j, "records", res.count);
		output_json_uint(&j, "reconciled", res.reconciled);
		if (res.has_previous)
			output_json_uint(&j, "previous_size",
			    res.previous_size);
		if (res.v.fault != AUDITFMT_FAULT_NONE) {
			output_json_str(&j, "fault",
			    auditfmt_fault_name(res.v.fault));
			if (res.v.has_seq)
				output_json_uint(&j, "seq", res.v.seq);
			output_json_str(&j, "message", res.v.msg);
		}
		output_json_end(&j);
	}
	if (res.v.fault != AUDITFMT_FAULT_NONE) {
		char safe[600];

		/* The detail in the user's language when auditverify found
		 * the fault; lib/auditfmt's own detail is English only, and
		 * the advice line after says what it means. */
		fprintf(stderr, _("sekisho: verification FAILED (%s%s): %s\n"),
		    auditfmt_fault_name(res.v.fault), res.v.has_seq ?
		    _(", first bad record") : "", output_sanitize(
		    res.text[0] != '\0' ? res.text : res.v.msg, safe,
		    sizeof(safe)));
		if (res.v.has_seq)
			fprintf(stderr, _("sekisho: first bad record: %" PRIu64
			    "\n"), res.v.seq);
		fprintf(stderr, "sekisho: %s\n",
		    auditverify_fault_advice(res.v.fault));
		a->printed = 1;
		return AUDIT_EXIT_INVALID;
	}
	if (!a->json) {
		char span[96] = "";

		if (res.count > 0)
			snprintf(span, sizeof(span), _(" (%" PRIu64 " to %"
			    PRIu64 ")"), res.from_seq,
			    res.from_seq + res.count - 1);
		/* TRANSLATORS: count, " (first to last)" or "", trail
		 * size, the signer's name. */
		printf(P_("OK: %" PRIu64 " record%s is intact, complete and in "
		    "order in the trail of %" PRIu64 " records signed by %s",
		    "OK: %" PRIu64 " records%s are intact, complete and in "
		    "order in the trail of %" PRIu64 " records signed by %s",
		    res.count), res.count, span, res.tree_size, res.origin);
		if (res.has_previous)
			printf(P_("; it extends your previous checkpoint of %"
			    PRIu64 " record", "; it extends your previous "
			    "checkpoint of %" PRIu64 " records",
			    res.previous_size), res.previous_size);
		if (res.reconciled > 0)
			printf(P_("; %" PRIu64 " reconcile record voids "
			    "records the broker's state never reflected "
			    "(sekisho audit "
			    "show marks them)", "; %" PRIu64 " reconcile "
			    "records void records the broker's state never "
			    "reflected (sekisho audit show marks them)",
			    res.reconciled), res.reconciled);
		printf("\n");
	}
	return SEKISHO_EXIT_OK;
}

static int
cmd_show(const struct audit_args *a, struct failure *f)
{
	char err[1024], ab[128];
	int n;

	if (a->npos != 2)
		return usage_fail(f, N_("show takes a transfer id and a pulled "
		    "directory"));
	if (!util_is_id(a->pos[0]))
		return usage_fail(f, N_("'%s' is not a transfer id (32 "
		    "lowercase hex digits)"
		    ), output_sanitize(a->pos[0], ab, sizeof(ab)));
	if ((n = auditshow_transfer(a->pos[1], a->pos[0], stdout, err,
	    sizeof(err))) < 0)
		return failure_set(f, SEKISHO_EXIT_LOCAL, "show", "%s", err);
	if (n == 0)
		return failure_set(f, SEKISHO_EXIT_NOTFOUND, "not_found",
		    N_("no record of transfer %s in %s"), a->pos[0],
		    output_sanitize(a->pos[1], ab, sizeof(ab)));
	return SEKISHO_EXIT_OK;
}

/* The offset of a zone given with --zone. */
static int32_t
zone_offset(const void *ctx, int64_t t)
{
	return tzone_offset(ctx, t);
}

/* This machine's zone (TZ, /etc/localtime) at instant t. */
static int32_t
local_offset(const void *ctx, int64_t t)
{
	time_t tt = (time_t)t;
	struct tm tm;

	(void)ctx;
	if (localtime_r(&tt, &tm) == NULL)
		return 0;
	return (int32_t)tm.tm_gmtoff;
}

static int
cmd_export(const struct audit_args *a, struct failure *f)
{
	enum auditshow_format fmt;
	enum auditcsv_lang lang = AUDITCSV_EN;
	struct auditcsv_zone zone;
	struct tzone *tz = NULL;
	char err[1024], ab[128];
	FILE *out = stdout;
	long n;

	if (a->npos != 1)
		return usage_fail(f, N_("export takes one directory"));
	if (a->format == NULL)
		return usage_fail(f, N_("export needs --format csv or jsonl"));
	if (strcmp(a->format, "csv") == 0)
		fmt = AUDITSHOW_CSV;
	else if (strcmp(a->format, "jsonl") == 0)
		fmt = AUDITSHOW_JSONL;
	else
		return usage_fail(f, N_("--format '%s': give csv or jsonl"),
		    output_sanitize(a->format, ab, sizeof(ab)));
	if (a->header != NULL && strcmp(a->header, "ja") == 0)
		lang = AUDITCSV_JA;
	else if (a->header != NULL && strcmp(a->header, "en") != 0)
		return usage_fail(f, N_("--header '%s': give en or ja"),
		    output_sanitize(a->header, ab, sizeof(ab)));
	if (a->zone != NULL && tzone_load(a->zone, &tz, err,
	    sizeof(err)) != 0)
		return usage_fail(f, N_("--zone '%s' is not a time zone (give "
		    "an IANA name such as Asia/Tokyo, or +09:00)"),
		    output_sanitize(a->zone, ab, sizeof(ab)));
	zone.offset = tz != NULL ? zone_offset : local_offset;
	zone.ctx = tz;
	if (a->output != NULL) {
		int fd = open(a->output, O_WRONLY | O_CREAT | O_EXCL |
		    O_CLOEXEC, BUNDLE_FILE_MODE);

		if (fd == -1 || (out = fdopen(fd, "w")) == NULL) {
			if (fd != -1)
				close(fd);
			tzone_free(tz);
			return failure_set(f, SEKISHO_EXIT_LOCAL, "output",
			    "%s: %s", output_sanitize(a->output, ab,
			    sizeof(ab)), strerror(errno));
		}
	}
	n = auditshow_export(a->pos[0], fmt, lang, &zone, out, err,
	    sizeof(err));
	tzone_free(tz);
	if (out != stdout && fclose(out) != 0 && n >= 0)
		n = util_err(err, sizeof(err), "%s: %s", a->output,
		    strerror(errno));
	if (n < 0)
		return failure_set(f, SEKISHO_EXIT_LOCAL, "export", "%s", err);
	return SEKISHO_EXIT_OK;
}

int
audit_main(int argc, char **argv)
{
	struct audit_args a;
	struct failure f;
	int rc;

	memset(&f, 0, sizeof(f));
	rc = parse_args(argc, argv, &a, &f);
	if (rc == SEKISHO_EXIT_OK) {
		if (a.help || a.sub == NULL || strcmp(a.sub, "help") == 0) {
			fputs(_(audit_usage),
			    a.sub == NULL && !a.help ? stderr :
			    stdout);
			rc = a.sub == NULL && !a.help ? SEKISHO_EXIT_USAGE :
			    SEKISHO_EXIT_OK;
			if (rc != SEKISHO_EXIT_OK)
				failure_set(&f, rc, "usage", N_("no audit "
				    "command given"));
		} else if (strcmp(a.sub, "pull") == 0)
			rc = cmd_pull(&a, &f);
		else if (strcmp(a.sub, "verify") == 0)
			rc = cmd_verify(&a, &f);
		else if (strcmp(a.sub, "show") == 0)
			rc = cmd_show(&a, &f);
		else if (strcmp(a.sub, "export") == 0)
			rc = cmd_export(&a, &f);
		else {
			char ab[128];

			rc = usage_fail(&f, N_("unknown audit command '%s'"),
			    output_sanitize(a.sub, ab, sizeof(ab)));
		}
	}
	if (rc != SEKISHO_EXIT_OK && !a.printed)
		failure_print(&f, a.json, stdout, stderr);
	if (fflush(stdout) != 0 && rc == SEKISHO_EXIT_OK)
		rc = SEKISHO_EXIT_LOCAL;
	return rc;
}

const char *
audit_usage_text(void)
{
	return _(audit_usage);
}
