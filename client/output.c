/*
 * output — see output.h.
 *
 * Both the sanitiser and the JSON quoting walk the input with one strict
 * UTF-8 decoder (no overlong forms, no surrogates, nothing above U+10FFFF),
 * so "valid" means the same thing for the terminal and for JSON.
 */
#include "client/output.h"

#include <stdlib.h>
#include <string.h>

/* Length of the valid UTF-8 sequence at s (max len bytes) with its code
 * point in *cp, or 0 when the bytes there are not valid UTF-8. */
static size_t
utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t c, min;
	size_t n, i;

	if (len == 0)
		return 0;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	} else if ((c & 0xe0) == 0xc0) {
		n = 2;
		c &= 0x1f;
		min = 0x80;
	} else if ((c & 0xf0) == 0xe0) {
		n = 3;
		c &= 0x0f;
		min = 0x800;
	} else if ((c & 0xf8) == 0xf0) {
		n = 4;
		c &= 0x07;
		min = 0x10000;
	} else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if (c < min || c > 0x10ffff || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Characters that can hide or reorder what the user reads. */
static int
is_unsafe_display(uint32_t cp)
{
	return cp < 0x20 || cp == 0x7f || (cp >= 0x80 && cp <= 0x9f) ||
	    cp == 0x061c || cp == 0x200e || cp == 0x200f ||
	    (cp >= 0x202a && cp <= 0x202e) || (cp >= 0x2066 && cp <= 0x2069) ||
	    cp == 0x2028 || cp == 0x2029;
}

char *
output_sanitize(const char *s, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t len, i = 0, o = 0, n;
	uint32_t cp;

	if (outlen == 0)
		return out;
	if (s == NULL) {
		out[0] = '\0';
		return out;
	}
	len = strlen(s);
	while (i < len) {
		char repl = 0;

		n = utf8_next(p + i, len - i, &cp);
		if (n == 0) {
			n = 1;
			repl = '?';
		} else if (cp == '\t')
			repl = ' ';
		else if (is_unsafe_display(cp))
			repl = '?';
		if (o + (repl ? 1 : n) + 1 > outlen) {
			/* Truncate on a character boundary, mark with "...". */
			size_t keep = outlen > 4 ? outlen - 4 : 0;

			if (o > keep) {
				o = keep;
				while (o > 0 && ((unsigned char)out[o] & 0xc0)
				    == 0x80)
					o--;
			}
			if (outlen >= 4) {
				memcpy(out + o, "...", 3);
				o += 3;
			}
			break;
		}
		if (repl)
			out[o++] = repl;
		else {
			memcpy(out + o, p + i, n);
			o += n;
		}
		i += n;
	}
	out[o] = '\0';
	return out;
}

char *
output_json_quote(const char *s, size_t len)
{
	static const char hex[] = "0123456789abcdef";
	const unsigned char *p = (const unsigned char *)s;
	size_t i = 0, o = 0, n;
	uint32_t cp;
	char *out;

	/* Worst case: every byte becomes \ufffd (6 bytes), plus quotes. */
	if (len > (SIZE_MAX - 3) / 6)
		return NULL;
	if ((out = malloc(len * 6 + 3)) == NULL)
		return NULL;
	out[o++] = '"';
	while (i < len) {
		n = utf8_next(p + i, len - i, &cp);
		if (n == 0) {
			memcpy(out + o, "\\ufffd", 6);
			o += 6;
			i++;
			continue;
		}
		switch (cp) {
		case '"':
			memcpy(out + o, "\\\"", 2);
			o += 2;
			break;
		case '\\':
			memcpy(out + o, "\\\\", 2);
			o += 2;
			break;
		case '\b':
			memcpy(out + o, "\\b", 2);
			o += 2;
			break;
		case '\f':
			memcpy(out + o, "\\f", 2);
			o += 2;
			break;
		case '\n':
			memcpy(out + o, "\\n", 2);
			o += 2;
			break;
		case '\r':
			memcpy(out + o, "\\r", 2);
			o += 2;
			break;
		case '\t':
			memcpy(out + o, "\\t", 2);
			o += 2;
			break;
		default:
			if (cp < 0x20 || cp == 0x7f || cp == 0x2028 ||
			    cp == 0x2029) {
				out[o++] = '\\';
				out[o++] = 'u';
				out[o++] = hex[(cp >> 12) & 0xf];
				out[o++] = hex[(cp >> 8) & 0xf];
				out[o++] = hex[(cp >> 4) & 0xf];
				out[o++] = hex[cp & 0xf];
			} else {
				memcpy(out + o, p + i, n);
				o += n;
			}
		}
		i += n;
	}
	out[o++] = '"';
	out[o] = '\0';
	return out;
}

void
output_json_string(FILE *f, const char *s)
{
	char *q;

	if (s == NULL) {
		fputs("null", f);
		return;
	}
	if ((q = output_json_quote(s, strlen(s))) == NULL) {
		/* Out of memory: still emit valid JSON. */
		fputs("null", f);
		return;
	}
	fputs(q, f);
	free(q);
}

void
output_json_begin(struct output_json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
	j->first[0] = 1;
	fputc('{', f);
}

/* Separator and key for the next member of the current container. */
static void
member(struct output_json *j, const char *key)
{
	if (!j->first[j->depth])
		fputc(',', j->f);
	j->first[j->depth] = 0;
	if (key != NULL) {
		output_json_string(j->f, key);
		fputc(':', j->f);
	}
}

void
output_json_str(struct output_json *j, const char *key, const char *v)
{
	member(j, key);
	output_json_string(j->f, v);
}

void
output_json_strn(struct output_json *j, const char *key, const char *v,
    size_t len)
{
	char *q;

	member(j, key);
	if (v == NULL || (q = output_json_quote(v, len)) == NULL) {
		fputs("null", j->f);
		return;
	}
	fputs(q, j->f);
	free(q);
}

void
output_json_uint(struct output_json *j, const char *key, uint64_t v)
{
	member(j, key);
	fprintf(j->f, "%llu", (unsigned long long)v);
}

void
output_json_bool(struct output_json *j, const char *key, int v)
{
	member(j, key);
	fputs(v ? "true" : "false", j->f);
}

void
output_json_null(struct output_json *j, const char *key)
{
	member(j, key);
	fputs("null", j->f);
}

static void
open_container(struct output_json *j, const char *key, char opener)
{
	member(j, key);
	fputc(opener, j->f);
	/* Deeper nesting than we ever emit would be a bug; stay valid JSON by
	 * reusing the last level's separator state. */
	if (j->depth + 1 < OUTPUT_JSON_DEPTH)
		j->depth++;
	j->first[j->depth] = 1;
}

void
output_json_object(struct output_json *j, const char *key)
{
	open_container(j, key, '{');
}

void
output_json_array(struct output_json *j, const char *key)
{
	open_container(j, key, '[');
}

void
output_json_close(struct output_json *j, char closer)
{
	fputc(closer, j->f);
	if (j->depth > 0)
		j->depth--;
}

void
output_json_end(struct output_json *j)
{
	while (j->depth > 0)
		output_json_close(j, '}');
	fputs("}\n", j->f);
	fflush(j->f);
}
