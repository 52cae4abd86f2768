/*
 * ocli — see ocli.h.
 */
#include "client/ocli.h"
#include "client/i18n.h"
#include "client/explain.h"
#include "client/otp.h"
#include "client/output.h"
#include "client/progress.h"
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

int
ocli_usage(struct ocli *o, const char *fmt, ...)
{
	va_list ap;
	int rc;

	va_start(ap, fmt);
	rc = failure_vusage(&o->f, NULL, fmt, ap);
	va_end(ap);
	return rc;
}

int
ocli_option(struct ocli *o, int c, const char *v)
{
	struct i18n_msg cm;

	if (c >= CLIENTCFG_OPT_CONFIG && c < CLIENTCFG_OPT_END) {
		if (clientcfg_option(&o->flags, c, v, &cm) != 0) {
			failure_usage_msg(&o->f, NULL, &cm);
			return -1;
		}
		return 1;
	}
	if (c == OCLI_OPT_JSON) {
		o->json = 1;
		return 1;
	}
	if (c == OCLI_OPT_OTP) {
		o->otp = v;
		return 1;
	}
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

static int
conn_fail(struct ocli *o, int rc, const struct i18n_msg *err)
{
	return failure_from_conn(&o->f, rc, err);
}

int
ocli_connect(struct ocli *o, const char *software)
{
	struct clientcfg_env env;
	struct wire_msg refusal;
	struct i18n_msg cm, err;
	int rc;

	env.sekisho_config = getenv("SEKISHO_CONFIG");
	env.home = home_dir();
	if (clientcfg_load(&o->flags, &env, &o->cfg, &cm) != 0)
		return failure_set_msg(&o->f, SEKISHO_EXIT_LOCAL, "config",
		    &cm);
	rc = conn_open(&o->cfg, software, &o->conn, &refusal, &err);
	if (rc != CONN_OK) {
		o->conn = NULL;
		if (refusal.op == WIRE_OP_ERROR) {
			rc = failure_from_broker(&o->f, &refusal);
			wire_msg_clear(&refusal);
			return rc;
		}
		return conn_fail(o, rc, &err);
	}
	return SEKISHO_EXIT_OK;
}

static int
send_and_read(struct ocli *o, struct wire_msg *m, struct wire_msg *ans)
{
	struct i18n_msg err;
	int rc;

	m->id = conn_next_id(o->conn);
	rc = conn_send_msg(o->conn, m, &err);
	if (rc == CONN_OK)
		rc = conn_recv_msg(o->conn, ans, &err);
	if (rc != CONN_OK)
		return conn_fail(o, rc, &err);
	return SEKISHO_EXIT_OK;
}

/* Puts the code into m's "otp", replacing one there. */
static int
set_otp(struct ocli *o, struct wire_msg *m, const char *src)
{
	char code[OTP_MAX + 1];
	struct i18n_msg err;
	size_t i;

	if (otp_read(src, _("one-time code for the officer action: "), code,
	    &err) != 0)
		return failure_set_msg(&o->f, SEKISHO_EXIT_LOCAL, "otp", &err);
	for (i = 0; i < m->nfields; i++)
		if (strcmp(m->fields[i].key, "otp") == 0) {
			OPENSSL_cleanse(m->fields[i].v.text,
			    m->fields[i].v.len);
			free(m->fields[i].v.text);
			m->fields[i] = m->fields[--m->nfields];
			break;
		}
	i = (size_t)wire_msg_set_text(m, "otp", code);
	OPENSSL_cleanse(code, sizeof(code));
	if (i != 0)
		return failure_set(&o->f, SEKISHO_EXIT_LOCAL, "otp",
		    N_("cannot add the code to the request"));
	return SEKISHO_EXIT_OK;
}

/* The rules' refusals (role, authority, separation of duties, state) are
 * refusals by policy, like a denied put: exit 4. */
static int
refusal_exit(struct ocli *o, int rc)
{
	static const char *const codes[] = { "not_officer", "no_authority",
	    "own_request", "already_voted", "not_pending", "not_permitted",
	    "too_long", "bad_state", "step_up_failed", "locked",
	    "not_admin", "not_register_approver", "register_invalid",
	    "register_exists", "register_not_pending", "register_expired",
	    "register_file_mode", "register_hash_mismatch", "register_stale",
	    NULL };
	size_t i;

	for (i = 0; codes[i] != NULL; i++)
		if (strcmp(o->f.code, codes[i]) == 0)
			return o->f.exit = SEKISHO_EXIT_POLICY;
	return rc;
}

int
ocli_request(struct ocli *o, struct wire_msg *m, struct wire_msg *ans)
{
	const char *code;
	int rc, asked = 0;

	memset(ans, 0, sizeof(*ans));
	if (o->otp != NULL && (rc = set_otp(o, m, o->otp)) != SEKISHO_EXIT_OK)
		return rc;
	for (;;) {
		if ((rc = send_and_read(o, m, ans)) != SEKISHO_EXIT_OK)
			return rc;
		if (ans->op != WIRE_OP_ERROR)
			return SEKISHO_EXIT_OK;
		code = wire_msg_text(ans, "code");
		if (code == NULL || strcmp(code, "step_up_required") != 0 ||
		    o->otp != NULL || asked || !isatty(STDIN_FILENO))
			break;
		asked = 1;
		wire_msg_clear(ans);
		if ((rc = set_otp(o, m, NULL)) != SEKISHO_EXIT_OK)
			return rc;
	}
	rc = failure_from_broker(&o->f, ans);
	wire_msg_clear(ans);
	return refusal_exit(o, rc);
}

int
ocli_next(struct ocli *o, struct wire_msg *ans)
{
	struct i18n_msg err;
	int rc;

	rc = conn_recv_msg(o->conn, ans, &err);
	if (rc != CONN_OK)
		return conn_fail(o, rc, &err);
	if (ans->op == WIRE_OP_ERROR) {
		rc = failure_from_broker(&o->f, ans);
		wire_msg_clear(ans);
		return rc;
	}
	return SEKISHO_EXIT_OK;
}

int
ocli_finish(struct ocli *o, int rc)
{
	if (o->conn != NULL)
		conn_close(o->conn);
	o->conn = NULL;
	clientcfg_free(&o->cfg);
	if (rc != SEKISHO_EXIT_OK)
		failure_print(&o->f, o->json, stdout, stderr);
	if (fflush(stdout) != 0 && rc == SEKISHO_EXIT_OK)
		rc = SEKISHO_EXIT_LOCAL;
	return rc;
}

void
ocli_print_fields(const struct wire_msg *m, FILE *out, int indent)
{
	char key[40], buf[1100], sbuf[32];
	const char *label;
	size_t i, k;

	for (i = 0; i < m->nfields; i++) {
		const struct wire_field *fld = &m->fields[i];
		const struct wire_value *v = &fld->v;

		output_sanitize(fld->key, key, sizeof(key));
		if ((label = i18n_field_label(fld->key)) == NULL)
			label = key;
		fprintf(out, "%*s", indent, "");
		i18n_pad(out, label, 13);
		fputc(' ', out);
		switch (v->type) {
		case WIRE_T_UINT:
			if ((strcmp(fld->key, "size") == 0 ||
			    strcmp(fld->key, "max_size") == 0) && v->u >= 1024)
				fprintf(out, "%" PRIu64 " (%s)\n", v->u,
				    progress_format_size(v->u, sbuf,
				    sizeof(sbuf)));
			else
				fprintf(out, "%" PRIu64 "\n", v->u);
			break;
		case WIRE_T_TEXT:
			fprintf(out, "%s\n", output_sanitize(v->text, buf,
			    sizeof(buf)));
			break;
		case WIRE_T_BYTES:
			for (k = 0; k < v->len && k < 64; k++)
				fprintf(out, "%02x", v->bytes[k]);
			fputc('\n', out);
			break;
		case WIRE_T_BOOL:
			fprintf(out, "%s\n", v->u ? _("yes") : _("no"));
			break;
		case WIRE_T_TEXT_ARRAY:
			for (k = 0; k < v->len; k++)
				fprintf(out, "%s%s", k ? ", " : "",
				    output_sanitize(v->array[k], buf,
				    sizeof(buf)));
			fputc('\n', out);
			break;
		default:
			fputc('\n', out);
		}
	}
}

void
ocli_json_fields(struct output_json *j, const struct wire_msg *m)
{
	char hex[2 * 64 + 1];
	size_t i, k;

	for (i = 0; i < m->nfields; i++) {
		const struct wire_field *fld = &m->fields[i];
		const struct wire_value *v = &fld->v;

		switch (v->type) {
		case WIRE_T_UINT:
			output_json_uint(j, fld->key, v->u);
			break;
		case WIRE_T_TEXT:
			output_json_strn(j, fld->key, v->text, v->len);
			break;
		case WIRE_T_BYTES:
			util_hex(v->bytes, v->len > 64 ? 64 : v->len, hex);
			output_json_str(j, fld->key, hex);
			break;
		case WIRE_T_BOOL:
			output_json_bool(j, fld->key, v->u != 0);
			break;
		case WIRE_T_TEXT_ARRAY:
			output_json_array(j, fld->key);
			for (k = 0; k < v->len; k++)
				output_json_str(j, NULL, v->array[k]);
			output_json_close(j, ']');
			break;
		default:
			output_json_null(j, fld->key);
		}
	}
}

int
ocli_parse_time(const char *s, time_t now, time_t *out)
{
	uint64_t d;

	if (s == NULL || s[0] == '\0')
		return -1;
	if (s[0] == '+') {
		if (util_parse_duration(s + 1, &d) != 0 || d == 0 ||
		    d > 400ull * 86400)
			return -1;
		*out = now + (time_t)d;
		return 0;
	}
	return explain_parse_time(s, out);
}
