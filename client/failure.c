/*
 * failure — see failure.h.
 *
 * The broker's strings are untrusted: they are kept raw here (JSON output
 * escapes them exactly) and only sanitised when formatted for a terminal.
 */
#include "client/failure.h"
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
	return exit;
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

char *
failure_format(const struct failure *f, char *out, size_t outlen)
{
	char msg[512], code[48], rule[96], reason[336], field[48], raw[1400];

	output_sanitize(f->message, msg, sizeof(msg));
	if (!f->from_broker) {
		snprintf(out, outlen, "%s", msg);
		return out;
	}
	output_sanitize(f->code, code, sizeof(code));
	output_sanitize(f->rule, rule, sizeof(rule));
	output_sanitize(f->reason, reason, sizeof(reason));
	output_sanitize(f->field, field, sizeof(field));
	if (f->exit == SEKISHO_EXIT_POLICY) {
		/* The policy's own reason code says more than "denied". */
		const char *why = reason[0] != '\0' ? reason : code;

		if (rule[0] != '\0')
			snprintf(out, outlen, "refused by policy (rule %s, %s): "
			    "%s", rule, why, msg);
		else
			snprintf(out, outlen, "refused by policy (%s): %s", why,
			    msg);
		return out;
	} else if (field[0] != '\0')
		snprintf(raw, sizeof(raw), "broker error (%s, field %s): %s",
		    code, field, msg);
	else if (f->exit == SEKISHO_EXIT_NOTFOUND)
		snprintf(raw, sizeof(raw), "not found (%s): %s", code, msg);
	else
		snprintf(raw, sizeof(raw), "broker error (%s): %s", code, msg);
	if (reason[0] != '\0' && strcmp(reason, msg) != 0)
		snprintf(out, outlen, "%s; reason: %s", raw, reason);
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
