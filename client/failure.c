/*
 * failure — see failure.h.
 *
 * The broker's strings are untrusted: they are kept raw here (JSON output
 * escapes them exactly) and only sanitised when formatted for a terminal.
 */
#include "client/failure.h"
#include "client/conn.h"
#include "client/i18n.h"
#include "client/output.h"

#include <stdarg.h>
#include <string.h>

static void
copy(char *dst, size_t len, const char *src)
{
	snprintf(dst, len, "%s", src != NULL ? src : "");
}

int
failure_set(struct failure *f, int exit, const char *code, const char *fmt,
    ...)
{
	va_list ap;

	memset(f, 0, sizeof(*f));
	f->exit = exit;
	copy(f->code, sizeof(f->code), code);
	va_start(ap, fmt);
	vsnprintf(f->message, sizeof(f->message), fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	vsnprintf(f->text, sizeof(f->text), _(fmt), ap);
	va_end(ap);
	return exit;
}

int
failure_vusage(struct failure *f, const char *help, const char *fmt,
    va_list ap)
{
	char en[384], local[384];
	va_list aq;

	va_copy(aq, ap);
	vsnprintf(en, sizeof(en), fmt, ap);
	vsnprintf(local, sizeof(local), _(fmt), aq);
	va_end(aq);
	memset(f, 0, sizeof(*f));
	f->exit = SEKISHO_EXIT_USAGE;
	copy(f->code, sizeof(f->code), "usage");
	if (help == NULL) {
		copy(f->message, sizeof(f->message), en);
		copy(f->text, sizeof(f->text), local);
	} else {
		snprintf(f->message, sizeof(f->message), "%s (see %s)", en,
		    help);
		/* TRANSLATORS: a usage error, then the command that helps. */
		snprintf(f->text, sizeof(f->text), _("%s (see %s)"), local,
		    help);
	}
	return f->exit;
}

int
failure_set_msg(struct failure *f, int exit, const char *code,
    const struct i18n_msg *m)
{
	memset(f, 0, sizeof(*f));
	f->exit = exit;
	copy(f->code, sizeof(f->code), code);
	copy(f->message, sizeof(f->message), m->en);
	copy(f->text, sizeof(f->text), m->text);
	return exit;
}

int
failure_from_conn(struct failure *f, int conn_rc, const struct i18n_msg *m)
{
	switch (conn_rc) {
	case CONN_ELOCAL:
		return failure_set_msg(f, SEKISHO_EXIT_LOCAL, "local", m);
	case CONN_ENET:
		return failure_set_msg(f, SEKISHO_EXIT_CONN, "connection", m);
	case CONN_ETLS:
		return failure_set_msg(f, SEKISHO_EXIT_CONN, "tls", m);
	default:
		return failure_set_msg(f, SEKISHO_EXIT_BROKER, "protocol", m);
	}
}

int
failure_usage_msg(struct failure *f, const char *help,
    const struct i18n_msg *m)
{
	failure_set_msg(f, SEKISHO_EXIT_USAGE, "usage", m);
	if (help != NULL) {
		snprintf(f->message, sizeof(f->message), "%s (see %s)",
		    m->en, help);
		snprintf(f->text, sizeof(f->text), _("%s (see %s)"), m->text,
		    help);
	}
	return f->exit;
}

int
failure_exit_for(const char *code, const char *rule)
{
	static const char *const policy_codes[] = { "denied",
	    "class_too_high", "unknown_interface", "forbidden",
	    "step_up_required", "approval_required", NULL };
	size_t i;

	if (rule != NULL && rule[0] != '\0')
		return SEKISHO_EXIT_POLICY;
	if (code == NULL)
		return SEKISHO_EXIT_BROKER;
	for (i = 0; policy_codes[i] != NULL; i++)
		if (strcmp(code, policy_codes[i]) == 0)
			return SEKISHO_EXIT_POLICY;
	if (strcmp(code, "not_found") == 0)
		return SEKISHO_EXIT_NOTFOUND;
	/* The command line lacks --class for this interface. */
	if (strcmp(code, "class_required") == 0)
		return SEKISHO_EXIT_USAGE;
	/* The broker accepted the TLS session but not the certificate's
	 * identity: for the user that is the same failure as a TLS refusal. */
	if (strcmp(code, "certificate_refused") == 0)
		return SEKISHO_EXIT_CONN;
	return SEKISHO_EXIT_BROKER;
}

int
failure_from_broker(struct failure *f, const struct wire_msg *m)
{
	memset(f, 0, sizeof(*f));
	f->from_broker = 1;
	copy(f->code, sizeof(f->code), wire_msg_text(m, "code"));
	if (f->code[0] == '\0')
		copy(f->code, sizeof(f->code), "error");
	copy(f->message, sizeof(f->message), wire_msg_text(m, "message"));
	if (f->message[0] == '\0')
		copy(f->message, sizeof(f->message), "the broker reported an "
		    "error");
	copy(f->field, sizeof(f->field), wire_msg_text(m, "field"));
	copy(f->rule, sizeof(f->rule), wire_msg_text(m, "rule"));
	copy(f->reason, sizeof(f->reason), wire_msg_text(m, "reason"));
	f->exit = failure_exit_for(f->code, f->rule);
	return f->exit;
}

/*
 * The broker words its messages as "日本語 / English". The pair is split
 * at the first " / " after which only ASCII follows and before which
 * there is some non-ASCII text, so a slash inside either half (a file
 * name, "1 / 2") does not split it; anything else is shown whole.
 */
static void
pick_half(const char *msg, char *out, size_t outlen)
{
	const char *p, *q;
	int ja_before = 0;

	for (p = msg; *p != '\0'; p++) {
		if ((unsigned char)*p >= 0x80)
			ja_before = 1;
		if (!ja_before || strncmp(p, " / ", 3) != 0)
			continue;
		for (q = p + 3; *q != '\0' && (unsigned char)*q < 0x80; q++)
			;
		if (*q != '\0')
			continue;
		if (i18n_is_japanese())
			snprintf(out, outlen, "%.*s", (int)(p - msg), msg);
		else
			snprintf(out, outlen, "%s", p + 3);
		return;
	}
	snprintf(out, outlen, "%s", msg);
}

char *
failure_format(const struct failure *f, char *out, size_t outlen)
{
	char msg[512], code[48], rule[96], reason[336], field[48], raw[1400];
	char half[512], full[512], base[512], note[160], body[680];
	size_t at = f->note_at > 0 && f->note_at < sizeof(f->message) ?
	    f->note_at : strlen(f->message);

	snprintf(base, sizeof(base), "%.*s", (int)at, f->message);
	output_sanitize(f->note_at > 0 ? f->note : "", note, sizeof(note));
	if (!f->from_broker) {
		output_sanitize(f->text[0] != '\0' ? f->text : base, msg,
		    sizeof(msg));
		snprintf(out, outlen, "%s%s", msg, note);
		return out;
	}
	pick_half(base, half, sizeof(half));
	output_sanitize(half, msg, sizeof(msg));
	snprintf(body, sizeof(body), "%s%s", msg, note);
	output_sanitize(f->message, full, sizeof(full));
	output_sanitize(f->code, code, sizeof(code));
	output_sanitize(f->rule, rule, sizeof(rule));
	output_sanitize(f->reason, reason, sizeof(reason));
	output_sanitize(f->field, field, sizeof(field));
	if (f->exit == SEKISHO_EXIT_POLICY) {
		/* The policy's own reason code says more than "denied". */
		const char *why = reason[0] != '\0' ? reason : code;

		if (rule[0] != '\0')
			snprintf(out, outlen, _("refused by policy (rule %s, "
			    "%s): %s"), rule, why, body);
		else
			snprintf(out, outlen, _("refused by policy (%s): %s"),
			    why, body);
		return out;
	} else if (field[0] != '\0')
		snprintf(raw, sizeof(raw), _("broker error (%s, field %s): "
		    "%s"), code, field, body);
	else if (f->exit == SEKISHO_EXIT_NOTFOUND)
		snprintf(raw, sizeof(raw), _("not found (%s): %s"), code, body);
	else
		snprintf(raw, sizeof(raw), _("broker error (%s): %s"), code,
		    body);
	if (reason[0] != '\0' && strcmp(reason, full) != 0)
		snprintf(out, outlen, _("%s; reason: %s"), raw, reason);
	else
		snprintf(out, outlen, "%s", raw);
	return out;
}

void
failure_print(const struct failure *f, int json, FILE *out, FILE *err)
{
	struct output_json j;
	char line[1600];

	fprintf(err, "sekisho: %s\n", failure_format(f, line, sizeof(line)));
	fflush(err);
	if (!json)
		return;
	output_json_begin(&j, out);
	output_json_object(&j, "error");
	output_json_str(&j, "code", f->code);
	output_json_str(&j, "message", f->message);
	if (f->field[0] != '\0')
		output_json_str(&j, "field", f->field);
	if (f->rule[0] != '\0')
		output_json_str(&j, "rule", f->rule);
	if (f->reason[0] != '\0')
		output_json_str(&j, "reason", f->reason);
	output_json_close(&j, '}');
	output_json_end(&j);
}
