/*
 * explain — see explain.h.
 *
 * Everything printed that came from the register or the command line goes
 * through output_sanitize: a register is reviewed text, but a terminal
 * should never receive control sequences from a file.
 */
#include "client/explain.h"
#include "client/failure.h"
#include "client/i18n.h"
#include "client/output.h"
#include "lib/util.h"
#include "policy/policy.h"

#include <getopt.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

enum {
	OPT_REGISTER = 256, OPT_USER, OPT_DEPT, OPT_TERMINAL, OPT_TO,
	OPT_CLASS, OPT_SIZE, OPT_NAME, OPT_PURPOSE, OPT_AT, OPT_STEPUP_AGE
};

/* The default register is written out (EXPLAIN_DEFAULT_REGISTER): a
 * macro inside the text would hide it from xgettext. */
static const char *const usage_text = N_(
"usage: sekisho policy explain --user USER --to INTERFACE [--class N]\n"
"           [--size SIZE] [--name FILE] [--terminal T] [--dept D]\n"
"           [--at TIME] [--step-up-age DURATION] [--register FILE]\n"
"\n"
"For administrators: shows how the interface register decides a request\n"
"and the chain of checks that led there. Reads the register file only;\n"
"does not contact a broker.\n"
"\n"
"  --register FILE   register to load (default /etc/sekisho/register.yaml)\n"
"  --user USER       user id as in the certificate (required)\n"
"  --dept D          department from the certificate (default: none)\n"
"  --terminal T      terminal id (default: none)\n"
"  --to INTERFACE    interface id (required)\n"
"  --class N         data classification 1-3 (default: the interface's\n"
"                    default_class; without one a put is refused)\n"
"  --size SIZE       file size, e.g. 150MiB (default 0)\n"
"  --name FILE       file name, for extension rules (default report.pdf)\n"
"  --at TIME         decide at this time: RFC 3339 (2026-11-24T10:30:00+09:00)\n"
"                    or @UNIXSECONDS (default: now)\n"
"  --step-up-age D   assume a TOTP step-up D ago (e.g. 5m; default: none)\n"
"\n"
"Exit status: 0 allowed, 4 refused or needing step-up or approval,\n"
"1 usage error, 2 the register cannot be loaded.\n");

const char *
explain_usage(void)
{
	return _(usage_text);
}

static int
digits(const char *s, size_t n, int *out)
{
	size_t i;
	int v = 0;

	for (i = 0; i < n; i++) {
		if (s[i] < '0' || s[i] > '9')
			return -1;
		v = v * 10 + (s[i] - '0');
	}
	*out = v;
	return 0;
}

int
explain_parse_time(const char *s, time_t *out)
{
	struct tm tm;
	int y, mo, d, h, mi, sec = 0, oh, om, sign;
	const char *p;
	size_t len;
	long long v;
	char *end;

	if (s == NULL)
		return -1;
	if (s[0] == '@') {
		if (s[1] < '0' || s[1] > '9')
			return -1;
		v = strtoll(s + 1, &end, 10);
		if (*end != '\0' || v < 0 || v > 253402300799LL)
			return -1;
		*out = (time_t)v;
		return 0;
	}
	len = strlen(s);
	/* YYYY-MM-DDTHH:MM */
	if (len < 17 || s[4] != '-' || s[7] != '-' ||
	    (s[10] != 'T' && s[10] != 't' && s[10] != ' ') || s[13] != ':' ||
	    digits(s, 4, &y) || digits(s + 5, 2, &mo) || digits(s + 8, 2, &d) ||
	    digits(s + 11, 2, &h) || digits(s + 14, 2, &mi))
		return -1;
	p = s + 16;
	if (*p == ':') {
		if (digits(p + 1, 2, &sec) != 0)
			return -1;
		p += 3;
	}
	if (*p == 'Z' || *p == 'z') {
		if (p[1] != '\0')
			return -1;
		oh = om = 0;
		sign = 1;
	} else if ((*p == '+' || *p == '-') && strlen(p) == 6 &&
	    p[3] == ':' && digits(p + 1, 2, &oh) == 0 &&
	    digits(p + 4, 2, &om) == 0 && oh <= 23 && om <= 59)
		sign = *p == '+' ? 1 : -1;
	else
		return -1;
	if (y < 1970 || mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 ||
	    mi > 59 || sec > 60)
		return -1;
	memset(&tm, 0, sizeof(tm));
	tm.tm_year = y - 1900;
	tm.tm_mon = mo - 1;
	tm.tm_mday = d;
	tm.tm_hour = h;
	tm.tm_min = mi;
	tm.tm_sec = sec;
	*out = timegm(&tm) - sign * (time_t)(oh * 3600 + om * 60);
	/* timegm normalises 31 February into March: refuse it instead. */
	{
		struct tm back;
		time_t local = timegm(&tm);

		gmtime_r(&local, &back);
		if (back.tm_mday != d || back.tm_mon != mo - 1)
			return -1;
	}
	return 0;
}

static int
usage_error(const char *fmt, ...) __attribute__((format(printf, 1, 2)));

/* fmt is an English msgid (N_), shown translated. Arguments quoted in
 * fmt must have been sanitised by the caller (arg()). */
static int
usage_error(const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), _(fmt), ap);
	va_end(ap);
	fprintf(stderr, "sekisho: ");
	fprintf(stderr, _("%s (see %s)"), msg, "sekisho help policy");
	fputc('\n', stderr);
	return SEKISHO_EXIT_USAGE;
}

/* The headings of the trace: values start one column after the widest,
 * in the user's language (10 columns in English). TRANSLATORS: keep
 * them short. */
static const char *const headings[] = {
	N_("register"), N_("sha256"), N_("request"), N_("at"), N_("step-up"),
	N_("verdict"), N_("code"), N_("rule"), N_("reason"), N_("flags"),
	N_("exception"), N_("approval"),
};

static size_t
heading_width(void)
{
	size_t i, c, w = 0;

	for (i = 0; i < sizeof(headings) / sizeof(headings[0]); i++)
		if ((c = i18n_columns(_(headings[i]))) > w)
			w = c;
	return w + 1;
}

static void
heading(const char *msgid, size_t width)
{
	i18n_pad(stdout, _(msgid), width);
}

static void
print_flags(unsigned flags)
{
	const char *sep = "";

	if (flags == 0) {
		printf("-");
		return;
	}
	if (flags & POLICY_FLAG_REVIEW_OVERDUE) {
		printf("%sreview_overdue", sep);
		sep = ",";
	}
	if (flags & POLICY_FLAG_EXCEPTION) {
		printf("%sexception", sep);
		sep = ",";
	}
	if (flags & POLICY_FLAG_LEGACY_OPEN)
		printf("%slegacy_open", sep);
}

int
explain_main(int argc, char **argv)
{
	static const struct option opts[] = {
		{ "register", required_argument, NULL, OPT_REGISTER },
		{ "user", required_argument, NULL, OPT_USER },
		{ "dept", required_argument, NULL, OPT_DEPT },
		{ "terminal", required_argument, NULL, OPT_TERMINAL },
		{ "to", required_argument, NULL, OPT_TO },
		{ "class", required_argument, NULL, OPT_CLASS },
		{ "size", required_argument, NULL, OPT_SIZE },
		{ "name", required_argument, NULL, OPT_NAME },
		{ "purpose", required_argument, NULL, OPT_PURPOSE },
		{ "at", required_argument, NULL, OPT_AT },
		{ "step-up-age", required_argument, NULL, OPT_STEPUP_AGE },
		{ "help", no_argument, NULL, 'h' },
		{ NULL, 0, NULL, 0 }
	};
	const char *reg = EXPLAIN_DEFAULT_REGISTER, *at = NULL;
	struct policy_principal who;
	struct policy_request req;
	struct policy_context ctx;
	struct policy_decision d;
	struct policy *p = NULL;
	char err[1024], line[512], when[21], *chain = NULL, *save, *l;
	uint64_t v, age = 0;
	char ab[128];
	int c, have_age = 0, rc;
	size_t w;
	size_t chainlen = 65536;

	memset(&who, 0, sizeof(who));
	memset(&req, 0, sizeof(req));
	memset(&ctx, 0, sizeof(ctx));
	req.class = 0;	/* none given: as the broker, see below */
	req.filename = "report.pdf";
	req.purpose = "";
	ctx.now = time(NULL);
	optind = 1;
	opterr = 0;
	while ((c = getopt_long(argc, argv, ":h", opts, NULL)) != -1) {
		switch (c) {
		case OPT_REGISTER:
			reg = optarg;
			break;
		case OPT_USER:
			who.user = optarg;
			break;
		case OPT_DEPT:
			who.dept = optarg;
			break;
		case OPT_TERMINAL:
			who.terminal = optarg;
			break;
		case OPT_TO:
			req.interface = optarg;
			break;
		case OPT_CLASS:
			if (optarg[0] < '1' || optarg[0] > '3' ||
			    optarg[1] != '\0')
				return usage_error(N_("--class '%s': give 1, 2 "
				    "or 3"), output_sanitize(optarg, ab, sizeof(ab)));
			req.class = (unsigned)(optarg[0] - '0');
			break;
		case OPT_SIZE:
			if (util_parse_size(optarg, &v) != 0)
				return usage_error(N_("--size '%s': give bytes "
				    "or a size such as 150MiB"), output_sanitize(optarg, ab,
				    sizeof(ab)));
			req.size = v;
			break;
		case OPT_NAME:
			req.filename = optarg;
			break;
		case OPT_PURPOSE:
			req.purpose = optarg;
			break;
		case OPT_AT:
			at = optarg;
			if (explain_parse_time(optarg, &ctx.now) != 0)
				return usage_error(N_("--at '%s': give an RFC "
				    "3339 time such as 2026-11-24T10:30:00+09:00, "
				    "or @UNIXSECONDS"), output_sanitize(optarg, ab,
				    sizeof(ab)));
			break;
		case OPT_STEPUP_AGE:
			if (util_parse_duration(optarg, &age) != 0 ||
			    age > 365u * 86400)
				return usage_error(N_("--step-up-age '%s': give "
				    "a duration such as 5m"), output_sanitize(optarg, ab,
				    sizeof(ab)));
			have_age = 1;
			break;
		case 'h':
			fputs(usage_text, stdout);
			return SEKISHO_EXIT_OK;
		case ':':
			return usage_error(N_("option %s needs a value"),
			    output_sanitize(argv[optind - 1], ab, sizeof(ab)));
		default:
			return usage_error(N_("unknown option '%s'"),
			    output_sanitize(argv[optind - 1], ab, sizeof(ab)));
		}
	}
	if (optind >= argc || strcmp(argv[optind], "explain") != 0)
		return usage_error(optind < argc ? N_("unknown policy "
		    "command; the one there is: policy explain") :
		    N_("policy needs a command: policy explain"));
	if (optind + 1 != argc)
		return usage_error(N_("policy explain takes no argument "
		    "('%s')"),
		    output_sanitize(argv[optind + 1], ab, sizeof(ab)));
	if (who.user == NULL || req.interface == NULL)
		return usage_error(N_("policy explain needs --user and --to"));
	if (have_age)
		ctx.stepup_at = ctx.now - (time_t)age;

	if (policy_load(reg, &p, err, sizeof(err)) != 0) {
		fprintf(stderr, "sekisho: %s\n", output_sanitize(err, line,
		    sizeof(line)));
		return SEKISHO_EXIT_LOCAL;
	}
	/* What the broker does with a put that names no class. */
	if (req.class == 0 && (req.class = policy_interface_default_class(p,
	    req.interface)) == 0) {
		fprintf(stderr, _("sekisho: class_required: %s has no "
		    "default_class, so the broker refuses a put without a class; "
		    "give --class 1, 2 or 3\n"), output_sanitize(req.interface,
		    line, sizeof(line)));
		policy_free(p);
		return SEKISHO_EXIT_USAGE;
	}
	if ((chain = malloc(chainlen)) == NULL) {
		policy_free(p);
		fprintf(stderr, "sekisho: %s\n", _("out of memory"));
		return SEKISHO_EXIT_LOCAL;
	}
	policy_explain(p, &who, &req, &ctx, &d, chain, chainlen);

	util_time_rfc3339(ctx.now, when);
	w = heading_width();
	heading(N_("register"), w);
	printf("%s\n", output_sanitize(reg, line, sizeof(line)));
	heading(N_("sha256"), w);
	printf("%s\n", policy_hash(p));
	/* The request as key=value, the values of the trace as they are:
	 * both are for comparing with the register and the broker's log. */
	heading(N_("request"), w);
	printf("user=%s", output_sanitize(who.user, line, sizeof(line)));
	if (who.dept != NULL)
		printf(" dept=%s", output_sanitize(who.dept, line,
		    sizeof(line)));
	if (who.terminal != NULL)
		printf(" terminal=%s", output_sanitize(who.terminal, line,
		    sizeof(line)));
	printf(" to=%s", output_sanitize(req.interface, line, sizeof(line)));
	printf(" class=%u size=%llu name=%s\n", req.class,
	    (unsigned long long)req.size, output_sanitize(req.filename, line,
	    sizeof(line)));
	heading(N_("at"), w);
	printf("%s%s\n", when, at == NULL ? _(" (now)") : "");
	if (have_age) {
		heading(N_("step-up"), w);
		printf(_("%llu s ago\n"), (unsigned long long)age);
	}
	heading(N_("verdict"), w);
	printf("%s\n", policy_verdict_name(d.verdict));
	heading(N_("code"), w);
	printf("%s\n", d.code);
	heading(N_("rule"), w);
	printf("%s\n", d.rule[0] != '\0' ?
	    output_sanitize(d.rule, line, sizeof(line)) : "-");
	heading(N_("reason"), w);
	printf("%s\n", output_sanitize(d.reason, line, sizeof(line)));
	heading(N_("flags"), w);
	print_flags(d.flags);
	printf("\n");
	if (d.exception[0] != '\0') {
		heading(N_("exception"), w);
		printf("%s\n", output_sanitize(d.exception, line,
		    sizeof(line)));
	}
	if (d.verdict == POLICY_STEP_UP_REQUIRED) {
		heading(N_("step-up"), w);
		printf(_("within %llu s\n"),
		    (unsigned long long)d.stepup_max_age);
	}
	if (d.verdict == POLICY_APPROVAL_REQUIRED) {
		heading(N_("approval"), w);
		/* TRANSLATORS: the number of approvals, the group. */
		printf(_("%u of group %s\n"), d.approvals,
		    output_sanitize(d.approvers, line, sizeof(line)));
	}
	/* TRANSLATORS: heading of the engine's trace (kept in English:
	 * it names the register's fields and values). */
	printf("%s\n", _("chain:"));
	for (l = strtok_r(chain, "\n", &save); l != NULL;
	    l = strtok_r(NULL, "\n", &save))
		printf("  %s\n", output_sanitize(l, line, sizeof(line)));
	rc = d.verdict == POLICY_ALLOW ? SEKISHO_EXIT_OK : SEKISHO_EXIT_POLICY;
	free(chain);
	policy_free(p);
	if (fflush(stdout) != 0)
		return SEKISHO_EXIT_LOCAL;
	return rc;
}
