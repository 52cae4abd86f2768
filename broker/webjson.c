/*
 * webjson — see webjson.h.
 */
#include "broker/webjson.h"
#include "lib/util.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define QUERY_MAX_PAIRS 32

static int fail(struct wire_error *err, const char *code, const char *field,
    const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static int
fail(struct wire_error *err, const char *code, const char *field,
    const char *fmt, ...)
{
	va_list ap;

	memset(err, 0, sizeof(*err));
	util_strlcpy(err->code, code, sizeof(err->code));
	if (field != NULL)
		util_strlcpy(err->field, field, sizeof(err->field));
	va_start(ap, fmt);
	vsnprintf(err->message, sizeof(err->message), fmt, ap);
	va_end(ap);
	return -1;
}

static int
hexval(int ch)
{
	if (ch >= '0' && ch <= '9')
		return ch - '0';
	if (ch >= 'a' && ch <= 'f')
		return ch - 'a' + 10;
	if (ch >= 'A' && ch <= 'F')
		return ch - 'A' + 10;
	return -1;
}

/* A decimal string without sign, spaces or leading "+" into *out. */
static int
parse_uint(const char *s, uint64_t *out)
{
	uint64_t v = 0;

	if (*s == '\0')
		return -1;
	for (; *s != '\0'; s++) {
		if (*s < '0' || *s > '9' || v > (UINT64_MAX - 9) / 10)
			return -1;
		v = v * 10 + (uint64_t)(*s - '0');
	}
	*out = v;
	return 0;
}

static int
set_field(struct wire_msg *m, enum wire_op op, const char *name,
    const json_t *v, struct wire_error *err)
{
	enum wire_type type = WIRE_T_NONE;
	const char *key = wire_schema_key(op, name, &type);
	uint64_t u = 0;
	uint8_t bytes[WIRE_MAX_LEAVES];
	size_t i, n;
	int rc = -1;

	if (key == NULL)
		return fail(err, "bad_value", name, "unknown field \"%s\" for "
		    "this request; leave it out", name);
	switch (type) {
	case WIRE_T_TEXT:
		if (!json_is_string(v))
			return fail(err, "bad_value", key, "%s must be a string",
			    key);
		if (memchr(json_string_value(v), '\0', json_string_length(v))
		    != NULL)
			return fail(err, "bad_value", key, "%s must not contain "
			    "NUL", key);
		rc = wire_msg_set_text(m, key, json_string_value(v));
		break;
	case WIRE_T_UINT:
		if (json_is_integer(v) && json_integer_value(v) >= 0)
			u = (uint64_t)json_integer_value(v);
		else if (!json_is_string(v) ||
		    parse_uint(json_string_value(v), &u) != 0)
			return fail(err, "bad_value", key, "%s must be a whole "
			    "number of 0 or more", key);
		rc = wire_msg_set_uint(m, key, u);
		break;
	case WIRE_T_BOOL:
		if (json_is_boolean(v))
			rc = wire_msg_set_bool(m, key, json_is_true(v));
		else if (json_is_string(v) &&
		    (strcmp(json_string_value(v), "true") == 0 ||
		    strcmp(json_string_value(v), "false") == 0))
			rc = wire_msg_set_bool(m, key,
			    strcmp(json_string_value(v), "true") == 0);
		else
			return fail(err, "bad_value", key, "%s must be true or "
			    "false", key);
		break;
	case WIRE_T_BYTES:
		if (!json_is_string(v) || (n = json_string_length(v)) % 2 != 0
		    || n / 2 > sizeof(bytes))
			return fail(err, "bad_value", key, "%s must be "
			    "hexadecimal (two digits per byte)", key);
		for (i = 0; i < n / 2; i++) {
			int hi = hexval(json_string_value(v)[2 * i]);
			int lo = hexval(json_string_value(v)[2 * i + 1]);

			if (hi < 0 || lo < 0)
				return fail(err, "bad_value", key, "%s must be "
				    "hexadecimal (two digits per byte)", key);
			bytes[i] = (uint8_t)(hi << 4 | lo);
		}
		rc = wire_msg_set_bytes(m, key, bytes, n / 2);
		break;
	case WIRE_T_TEXT_ARRAY: {
		const char *items[WIRE_MAX_ARRAY];

		if (json_is_string(v)) {
			items[0] = json_string_value(v);
			rc = wire_msg_set_text_array(m, key, items, 1);
			break;
		}
		if (!json_is_array(v) || json_array_size(v) > WIRE_MAX_ARRAY)
			return fail(err, "bad_value", key, "%s must be a list "
			    "of at most 16 strings", key);
		for (i = 0; i < json_array_size(v); i++) {
			if (!json_is_string(json_array_get(v, i)))
				return fail(err, "bad_value", key, "%s must be "
				    "a list of strings", key);
			items[i] = json_string_value(json_array_get(v, i));
		}
		rc = wire_msg_set_text_array(m, key, items,
		    json_array_size(v));
		break;
	}
	default:
		break;
	}
	if (rc != 0)
		return fail(err, "bad_value", key, "%s could not be taken "
		    "(too many fields, or out of memory)", key);
	return 0;
}

int
webjson_to_msg(enum wire_op op, uint64_t id, const json_t *obj,
    struct wire_msg *m, struct wire_error *err)
{
	const char *name;
	json_t *v;
	uint8_t *buf = NULL;
	size_t len = 0, consumed = 0;
	uint64_t dlen = 0;
	struct wire_msg tmp;

	wire_msg_init(m, op, id);
	if (obj != NULL && !json_is_object(obj))
		return fail(err, "bad_request", NULL, "the request body must be "
		    "a JSON object");
	if (obj != NULL)
		json_object_foreach((json_t *)obj, name, v)
			if (set_field(m, op, name, v, err) != 0) {
				wire_msg_clear(m);
				return -1;
			}
	/* The same schema as sekisho/1: through the encoder (required keys)
	 * and the decoder (types and bounds). */
	memset(err, 0, sizeof(*err));
	if (wire_encode(m, &buf, &len, err) != 0) {
		wire_msg_clear(m);
		if (err->code[0] == '\0')
			util_strlcpy(err->code, "bad_value", sizeof(err->code));
		return -1;
	}
	wire_msg_clear(m);
	if (wire_decode(buf, len, &tmp, &dlen, &consumed, err) !=
	    WIRE_CONTROL) {
		OPENSSL_cleanse(buf, len);
		free(buf);
		if (err->code[0] == '\0')
			util_strlcpy(err->code, "bad_value", sizeof(err->code));
		return -1;
	}
	/* It may hold a one-time code. */
	OPENSSL_cleanse(buf, len);
	free(buf);
	*m = tmp;
	return 0;
}

json_t *
webjson_from_msg(const struct wire_msg *m)
{
	json_t *o = json_object(), *v;
	char hex[2 * WIRE_MAX_LEAVES + 1];
	size_t i, k;

	if (o == NULL)
		return NULL;
	for (i = 0; i < m->nfields; i++) {
		const struct wire_field *f = &m->fields[i];

		v = NULL;
		switch (f->v.type) {
		case WIRE_T_UINT:
			v = json_integer((json_int_t)(f->v.u > INT64_MAX ?
			    INT64_MAX : f->v.u));
			break;
		case WIRE_T_BOOL:
			v = json_boolean(f->v.u != 0);
			break;
		case WIRE_T_TEXT:
			v = json_stringn(f->v.text, f->v.len);
			break;
		case WIRE_T_BYTES:
			if (f->v.len > WIRE_MAX_LEAVES)
				break;
			for (k = 0; k < f->v.len; k++)
				snprintf(hex + 2 * k, 3, "%02x", f->v.bytes[k]);
			hex[2 * f->v.len] = '\0';
			v = json_string(hex);
			break;
		case WIRE_T_TEXT_ARRAY:
			if ((v = json_array()) == NULL)
				break;
			for (k = 0; k < f->v.len; k++)
				json_array_append_new(v,
				    json_string(f->v.array[k]));
			break;
		default:
			break;
		}
		if (v == NULL || json_object_set_new(o, f->key, v) != 0) {
			json_decref(o);
			return NULL;
		}
	}
	return o;
}

json_t *
webjson_parse_body(const uint8_t *buf, size_t len, struct wire_error *err)
{
	json_error_t je;
	json_t *o;

	if (len > WEBJSON_MAX_BODY) {
		fail(err, "too_large", NULL, "the request body is larger than "
		    "16384 bytes");
		return NULL;
	}
	if (len == 0)
		return json_object();
	/* JSON_REJECT_DUPLICATES: a second "class" must not win quietly. */
	o = json_loadb((const char *)buf, len, JSON_REJECT_DUPLICATES, &je);
	if (o == NULL) {
		char why[200];

		snprintf(why, sizeof(why), "the body is not valid JSON (line %d "
		    "column %d: %.120s)", je.line, je.column, je.text);
		fail(err, "bad_request", NULL, "%s", why);
		return NULL;
	}
	if (!json_is_object(o)) {
		json_decref(o);
		fail(err, "bad_request", NULL, "the request body must be a "
		    "JSON object");
		return NULL;
	}
	return o;
}

/* Percent-decodes s[0..len) into out (NUL-terminated); -1 if malformed or
 * with NUL. */
static int
unescape(const char *s, size_t len, char *out, size_t outlen)
{
	size_t i, o = 0;

	for (i = 0; i < len; i++) {
		int ch = (unsigned char)s[i];

		if (ch == '+')
			ch = ' ';
		else if (ch == '%') {
			int hi, lo;

			if (i + 2 >= len)
				return -1;
			hi = hexval((unsigned char)s[i + 1]);
			lo = hexval((unsigned char)s[i + 2]);
			if (hi < 0 || lo < 0)
				return -1;
			ch = hi << 4 | lo;
			i += 2;
		}
		if (ch == 0 || o + 1 >= outlen)
			return -1;
		out[o++] = (char)ch;
	}
	out[o] = '\0';
	return 0;
}

json_t *
webjson_parse_query(const char *q, struct wire_error *err)
{
	json_t *o = json_object();
	char name[64], value[WIRE_MAX_TEXT + 1];
	size_t pairs = 0;

	if (o == NULL) {
		fail(err, "unavailable", NULL, "out of memory");
		return NULL;
	}
	while (q != NULL && *q != '\0') {
		size_t len = strcspn(q, "&"), nlen = strcspn(q, "=&");
		const char *val = q + nlen;
		size_t vlen = nlen < len ? len - nlen - 1 : 0;

		if (nlen < len)
			val++;
		if (len == 0) {
			q++;
			continue;
		}
		if (++pairs > QUERY_MAX_PAIRS ||
		    unescape(q, nlen, name, sizeof(name)) != 0 ||
		    unescape(val, vlen, value, sizeof(value)) != 0) {
			fail(err, "bad_value", NULL, "the query string is not "
			    "well formed (at most 32 names, each value at most "
			    "1024 bytes, %%XX escapes)");
			json_decref(o);
			return NULL;
		}
		if (json_object_get(o, name) != NULL) {
			fail(err, "bad_value", name, "%s is given twice in the "
			    "query string", name);
			json_decref(o);
			return NULL;
		}
		/* json_string refuses text that is not UTF-8. */
		if (json_object_set_new(o, name, json_string(value)) != 0) {
			fail(err, "bad_value", name, "%s is not valid UTF-8",
			    name);
			json_decref(o);
			return NULL;
		}
		q += len;
		if (*q == '&')
			q++;
	}
	return o;
}

json_t *
webjson_parse_tus_metadata(const char *hdr, struct wire_error *err)
{
	static const struct { const char *tus, *field; } keys[] = {
		{ "interface", "interface" }, { "filename", "name" },
		{ "name", "name" }, { "class", "class" },
		{ "purpose", "purpose" }, { "sha256", "sha256" },
		{ "otp", "otp" }, { "filetype", NULL },
	};
	const char *p = hdr;
	json_t *o = json_object();

	if (o == NULL) {
		fail(err, "unavailable", NULL, "out of memory");
		return NULL;
	}
	while (p != NULL && *p != '\0') {
		size_t len = strcspn(p, ","), klen, i;
		char key[32];
		unsigned char val[WEBJSON_MAX_META + 4];
		int vlen = 0;
		json_t *v;

		while (*p == ' ' && len > 0)
			p++, len--;
		klen = strcspn(p, " ,");
		if (klen == 0 || klen >= sizeof(key) || klen > len) {
			fail(err, "bad_value", "Upload-Metadata", "Upload-Metadata "
			    "is not \"key base64,key base64,...\"");
			goto bad;
		}
		memcpy(key, p, klen);
		key[klen] = '\0';
		if (klen < len) {
			const char *b64 = p + klen + 1;
			size_t blen = len - klen - 1, pad = 0;

			if (blen % 4 != 0 || blen > 4 * (WEBJSON_MAX_META / 3 +
			    1) || strspn(b64, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdef"
			    "ghijklmnopqrstuvwxyz0123456789+/=") < blen ||
			    (vlen = EVP_DecodeBlock(val, (const unsigned char *)
			    b64, (int)blen)) < 0) {
				fail(err, "bad_value", "Upload-Metadata",
				    "Upload-Metadata %s is not base64 or is "
				    "longer than %d bytes", key, WEBJSON_MAX_META);
				goto bad;
			}
			/* EVP_DecodeBlock counts the padding as bytes */
			while (pad < 2 && blen > pad && b64[blen - 1 - pad] ==
			    '=')
				pad++;
			vlen -= (int)pad;
			if (vlen < 0 || vlen > WEBJSON_MAX_META) {
				fail(err, "bad_value", "Upload-Metadata",
				    "Upload-Metadata %s is longer than %d bytes",
				    key, WEBJSON_MAX_META);
				goto bad;
			}
		}
		val[vlen] = '\0';
		for (i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
			if (strcmp(keys[i].tus, key) == 0)
				break;
		if (i == sizeof(keys) / sizeof(keys[0])) {
			fail(err, "bad_value", "Upload-Metadata", "Upload-Metadata "
			    "has an unknown key \"%s\" (known: interface, "
			    "filename, class, purpose, sha256, otp)", key);
			goto bad;
		}
		if (keys[i].field != NULL) {
			/* json_string refuses text that is not UTF-8 */
			if (memchr(val, '\0', (size_t)vlen) != NULL ||
			    (v = json_string((const char *)val)) == NULL) {
				fail(err, "bad_value", "Upload-Metadata",
				    "Upload-Metadata %s is not UTF-8 text", key);
				goto bad;
			}
			if (json_object_get(o, keys[i].field) != NULL) {
				json_decref(v);
				fail(err, "bad_value", "Upload-Metadata",
				    "Upload-Metadata names %s twice", key);
				goto bad;
			}
			json_object_set_new(o, keys[i].field, v);
		}
		p += len;
		if (*p == ',')
			p++;
	}
	return o;
bad:
	json_decref(o);
	return NULL;
}
