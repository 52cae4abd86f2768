/*
 * status — see status.h.
 *
 * The printer walks the message's fields generically, known ones first in a
 * fixed order, so a broker that adds a field does not need a new client to
 * show it.
 */
#include "client/i18n.h"
#include "client/status.h"
#include "client/conn.h"
#include "client/output.h"
#include "client/progress.h"
#include "lib/util.h"

#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static const char *const field_order[] = { "transfer", "state", "interface",
    "name", "class", "size", "received", "sha256", "created", "updated", "error",
    "attempts", "last_error", "upstream_status", "etag", "version_id",
    "upstream_bytes", "upstream_duration_ms", NULL };

int
status_run(const struct clientcfg *cfg, const char *software,
    const char *transfer, struct wire_msg *state, struct failure *f)
{
	struct conn *c = NULL;
	struct wire_msg m, refusal;
	struct i18n_msg err;
	int rc;

	memset(state, 0, sizeof(*state));
	memset(f, 0, sizeof(*f));
	rc = conn_open(cfg, software, &c, &refusal, &err);
	if (rc != CONN_OK) {
		if (refusal.op == WIRE_OP_ERROR) {
			rc = failure_from_broker(f, &refusal);
			wire_msg_clear(&refusal);
			return rc;
		}
		goto connfail;
	}
	wire_msg_init(&m, WIRE_OP_STATUS, conn_next_id(c));
	if (wire_msg_set_text(&m, "transfer", transfer) != 0) {
		wire_msg_clear(&m);
		conn_close(c);
		return failure_set(f, SEKISHO_EXIT_USAGE, "usage", N_("not a "
		    "transfer id"));
	}
	rc = conn_send_msg(c, &m, &err);
	wire_msg_clear(&m);
	if (rc == CONN_OK)
		rc = conn_recv_msg(c, &m, &err);
	conn_close(c);
	if (rc != CONN_OK)
		goto connfail;
	if (m.op == WIRE_OP_ERROR) {
		rc = failure_from_broker(f, &m);
		wire_msg_clear(&m);
		return rc;
	}
	if (m.op != WIRE_OP_STATE) {
		wire_msg_clear(&m);
		return failure_set(f, SEKISHO_EXIT_BROKER, "protocol",
		    N_("protocol error: expected state"));
	}
	*state = m;
	return SEKISHO_EXIT_OK;
connfail:
	return failure_from_conn(f, rc, &err);
}

static int
is_time_key(const char *key)
{
	return strcmp(key, "created") == 0 || strcmp(key, "updated") == 0;
}

static int
is_size_key(const char *key)
{
	return strcmp(key, "size") == 0 || strcmp(key, "received") == 0 ||
	    strcmp(key, "upstream_bytes") == 0;
}

static void
print_human(const struct wire_field *fld, FILE *out)
{
	const struct wire_value *v = &fld->v;
	char key[32], buf[1100], tbuf[21], sbuf[32];
	const char *label;
	size_t i;

	output_sanitize(fld->key, key, sizeof(key));
	if ((label = i18n_field_label(fld->key)) == NULL)
		label = key;
	i18n_pad(out, label, i18n_columns(label) > 10 ? 20 : 10);
	fputc(' ', out);
	switch (v->type) {
	case WIRE_T_UINT:
		if (is_time_key(fld->key) && v->u <= (uint64_t)INT32_MAX * 64) {
			util_time_rfc3339((time_t)v->u, tbuf);
			fprintf(out, "%s\n", tbuf);
		} else if (is_size_key(fld->key) && v->u >= 1024)
			fprintf(out, "%" PRIu64 " (%s)\n", v->u,
			    progress_format_size(v->u, sbuf, sizeof(sbuf)));
		else
			fprintf(out, "%" PRIu64 "\n", v->u);
		break;
	case WIRE_T_TEXT:
		fprintf(out, "%s\n", output_sanitize(v->text, buf, sizeof(buf)));
		break;
	case WIRE_T_BYTES:
		for (i = 0; i < v->len && i < 512; i++)
			fprintf(out, "%02x", v->bytes[i]);
		fputc('\n', out);
		break;
	case WIRE_T_BOOL:
		fprintf(out, "%s\n", v->u ? _("yes") : _("no"));
		break;
	case WIRE_T_TEXT_ARRAY:
		for (i = 0; i < v->len; i++)
			fprintf(out, "%s%s", i ? ", " : "",
			    output_sanitize(v->array[i], buf, sizeof(buf)));
		fputc('\n', out);
		break;
	default:
		fputc('\n', out);
	}
}

static void
print_json(struct output_json *j, const struct wire_field *fld)
{
	const struct wire_value *v = &fld->v;
	char *hex;
	size_t i;

	switch (v->type) {
	case WIRE_T_UINT:
		output_json_uint(j, fld->key, v->u);
		break;
	case WIRE_T_TEXT:
		output_json_strn(j, fld->key, v->text, v->len);
		break;
	case WIRE_T_BYTES:
		if ((hex = malloc(v->len * 2 + 1)) == NULL) {
			output_json_null(j, fld->key);
			break;
		}
		util_hex(v->bytes, v->len, hex);
		output_json_str(j, fld->key, hex);
		free(hex);
		break;
	case WIRE_T_BOOL:
		output_json_bool(j, fld->key, v->u != 0);
		break;
	case WIRE_T_TEXT_ARRAY:
		output_json_array(j, fld->key);
		for (i = 0; i < v->len; i++)
			output_json_str(j, NULL, v->array[i]);
		output_json_close(j, ']');
		break;
	default:
		output_json_null(j, fld->key);
	}
}

void
status_print(const struct wire_msg *state, int json, FILE *out)
{
	struct output_json j;
	const struct wire_field *fld;
	size_t i, k;
	int known;

	if (json)
		output_json_begin(&j, out);
	/* Known fields in their natural order, then anything else. */
	for (k = 0; field_order[k] != NULL; k++)
		for (i = 0; i < state->nfields; i++) {
			fld = &state->fields[i];
			if (strcmp(fld->key, field_order[k]) != 0)
				continue;
			if (json)
				print_json(&j, fld);
			else
				print_human(fld, out);
		}
	for (i = 0; i < state->nfields; i++) {
		fld = &state->fields[i];
		known = 0;
		for (k = 0; field_order[k] != NULL; k++)
			if (strcmp(fld->key, field_order[k]) == 0)
				known = 1;
		if (known)
			continue;
		if (json)
			print_json(&j, fld);
		else
			print_human(fld, out);
	}
	if (json)
		output_json_end(&j);
	else
		fflush(out);
}
