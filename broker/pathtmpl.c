/*
 * pathtmpl — see pathtmpl.h.
 *
 * The template comes from the reviewed register, the values from the state
 * store; only the file name is the client's, and it is reduced to a safe
 * single segment before it is placed. The whole result is checked again
 * after expansion, so a value that slipped through could still not climb
 * out of the interface's directory.
 */
#include "broker/pathtmpl.h"
#include "policy/tzone.h"
#include "lib/util.h"

#include <stdio.h>
#include <string.h>

struct sink {
	char *out;
	size_t len, cap;
	int overflow;
};

static void
sink_put(struct sink *s, const char *p, size_t n)
{
	if (s->overflow || s->len + n >= s->cap) {
		s->overflow = 1;
		return;
	}
	memcpy(s->out + s->len, p, n);
	s->len += n;
	s->out[s->len] = '\0';
}

/* Length of the valid UTF-8 sequence at p (2..4), or 0. */
static size_t
utf8_seq(const unsigned char *p, uint32_t *cp)
{
	uint32_t c;
	size_t n, i;

	if (p[0] >= 0xc2 && p[0] <= 0xdf) {
		n = 2;
		c = p[0] & 0x1f;
	} else if (p[0] >= 0xe0 && p[0] <= 0xef) {
		n = 3;
		c = p[0] & 0x0f;
	} else if (p[0] >= 0xf0 && p[0] <= 0xf4) {
		n = 4;
		c = p[0] & 0x07;
	} else
		return 0;
	for (i = 1; i < n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		c = (c << 6) | (p[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && c < 0x10000) || c > 0x10ffff ||
	    (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Code points kept out of names although valid: C1 controls, invisible
 * format characters and bidirectional overrides (they disguise names). */
static int
unwanted(uint32_t c)
{
	return (c >= 0x80 && c <= 0x9f) || c == 0xad || c == 0xfeff ||
	    (c >= 0x200b && c <= 0x200f) || (c >= 0x2028 && c <= 0x202e) ||
	    (c >= 0x2060 && c <= 0x206f) || (c >= 0xfff0 && c <= 0xffff);
}

void
pathtmpl_sanitize_name(const char *name, char *out, size_t outlen)
{
	const unsigned char *p = (const unsigned char *)(name != NULL ?
	    name : "");
	size_t len = 0, max = outlen > 0 ? outlen - 1 : 0, n;
	uint32_t cp;

	if (max > PATHTMPL_NAME_MAX)
		max = PATHTMPL_NAME_MAX;
	while (*p == '.')
		p++;
	while (*p != '\0' && len < max) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '.' || *p == '-' ||
		    *p == '_') {
			out[len++] = (char)*p++;
			continue;
		}
		if (*p >= 0x80 && (n = utf8_seq(p, &cp)) > 0 && !unwanted(cp)) {
			if (len + n > max)
				break;		/* cut on a character boundary */
			memcpy(out + len, p, n);
			len += n;
			p += n;
			continue;
		}
		out[len++] = '_';
		p += (*p >= 0x80 && (n = utf8_seq(p, &cp)) > 0) ? n : 1;
	}
	if (outlen == 0)
		return;
	out[len] = '\0';
	if (len == 0)
		util_strlcpy(out, "file", outlen);
}

/* The rules of an expanded path; -1 with the reason. */
static int
path_valid(const char *s, char *err, size_t errlen)
{
	const char *seg, *end;
	size_t n;

	if (s[0] != '/')
		return util_err(err, errlen, "the path must start with '/'");
	for (seg = s + 1;; seg = end + 1) {
		end = strchr(seg, '/');
		n = end != NULL ? (size_t)(end - seg) : strlen(seg);
		if ((n == 0 && end != NULL) || (n == 1 && seg[0] == '.') ||
		    (n == 2 && seg[0] == '.' && seg[1] == '.'))
			return util_err(err, errlen, "the path has an empty, "
			    "'.' or '..' segment");
		if (n == 0 && end == NULL)
			return util_err(err, errlen, "the path names a "
			    "directory, not an object");
		if (end == NULL)
			break;
	}
	for (; *s != '\0'; s++)
		if (*s == '\\' || (unsigned char)*s < 0x20 || *s == 0x7f)
			return util_err(err, errlen, "the path has a "
			    "backslash or a control character");
	return 0;
}

static int
expand(const char *tmpl, const struct pathtmpl_vars *v, char *out,
    size_t outlen, char *err, size_t errlen)
{
	struct sink s = { out, 0, outlen < PATHTMPL_MAX + 1 ? outlen :
	    PATHTMPL_MAX + 1, 0 };
	char name[PATHTMPL_NAME_MAX + 1], buf[48];
	const char *p, *close, *val;
	struct tm tm;
	time_t when = v != NULL ? v->created : 0;
	int pass;

	if (outlen == 0)
		return util_err(err, errlen, "no room for the path");
	out[0] = '\0';
	/* The interface's wall clock, not the process's TZ (see pathtmpl.h). */
	if (v != NULL && v->tz != NULL)
		when += tzone_offset(v->tz, (int64_t)when);
	if (gmtime_r(&when, &tm) == NULL)
		memset(&tm, 0, sizeof(tm));
	/* Pass 0 is the template, pass 1 the default object name appended to
	 * a directory template. */
	for (pass = 0; pass < 2; pass++) {
		if (pass == 1) {
			if (tmpl[0] != '\0' && tmpl[strlen(tmpl) - 1] != '/')
				break;
			if (tmpl[0] == '\0')
				sink_put(&s, "/", 1);
			tmpl = PATHTMPL_DEFAULT_NAME;
		}
		for (p = tmpl; *p != '\0'; p++) {
			if (*p == '}')
				return util_err(err, errlen, "'}' without '{' "
				    "in the path template");
			if (*p != '{') {
				sink_put(&s, p, 1);
				continue;
			}
			if ((close = strchr(p, '}')) == NULL)
				return util_err(err, errlen, "'{' without '}' "
				    "in the path template");
			val = NULL;
#define IS(k) ((size_t)(close - p - 1) == strlen(k) && \
    strncmp(p + 1, (k), strlen(k)) == 0)
			if (IS("interface"))
				val = v != NULL ? v->interface : "";
			else if (IS("transfer"))
				val = v != NULL ? v->transfer : "";
			else if (IS("user"))
				val = v != NULL ? v->user : "";
			else if (IS("dept"))
				val = v != NULL ? v->dept : "";
			else if (IS("name")) {
				pathtmpl_sanitize_name(v != NULL ? v->name :
				    "", name, sizeof(name));
				val = name;
			} else if (IS("date")) {
				snprintf(buf, sizeof(buf), "%04d-%02d-%02d",
				    tm.tm_year + 1900, tm.tm_mon + 1,
				    tm.tm_mday);
				val = buf;
			} else if (IS("year")) {
				snprintf(buf, sizeof(buf), "%04d",
				    tm.tm_year + 1900);
				val = buf;
			} else if (IS("month")) {
				snprintf(buf, sizeof(buf), "%02d",
				    tm.tm_mon + 1);
				val = buf;
			} else if (IS("day")) {
				snprintf(buf, sizeof(buf), "%02d", tm.tm_mday);
				val = buf;
			} else if (IS("time")) {
				snprintf(buf, sizeof(buf), "%02d%02d%02d",
				    tm.tm_hour, tm.tm_min, tm.tm_sec);
				val = buf;
			}
#undef IS
			if (val == NULL)
				return util_err(err, errlen, "unknown "
				    "placeholder '%.*s' in the path template",
				    (int)(close - p + 1 > 40 ? 40 :
				    close - p + 1), p);
			/* Ids are tokens; a value that is not (a test
			 * harness, a damaged row) must not shape the path. */
			if (val != name && val != buf &&
			    (val == NULL || !util_is_token(val, 64))) {
				if (v != NULL)
					return util_err(err, errlen, "a value "
					    "for %.*s is not an id",
					    (int)(close - p + 1), p);
				val = "x";
			}
			sink_put(&s, val, strlen(val));
			p = close;
		}
	}
	if (s.overflow)
		return util_err(err, errlen, "the path is longer than %d "
		    "bytes", PATHTMPL_MAX);
	return path_valid(out, err, errlen);
}

int
pathtmpl_check(const char *tmpl, char *err, size_t errlen)
{
	char out[PATHTMPL_MAX + 1];

	if (tmpl == NULL)
		return util_err(err, errlen, "no path template");
	return expand(tmpl, NULL, out, sizeof(out), err, errlen);
}

int
pathtmpl_expand(const char *tmpl, const struct pathtmpl_vars *v, char *out,
    size_t outlen, char *err, size_t errlen)
{
	if (tmpl == NULL || v == NULL)
		return util_err(err, errlen, "no path template");
	return expand(tmpl, v, out, outlen, err, errlen);
}

int
pathtmpl_url_encode(const char *path, char *out, size_t outlen)
{
	static const char hex[] = "0123456789ABCDEF";
	const unsigned char *p;
	size_t len = 0;

	for (p = (const unsigned char *)path; *p != '\0'; p++) {
		if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') ||
		    (*p >= '0' && *p <= '9') || *p == '-' || *p == '.' ||
		    *p == '_' || *p == '~' || *p == '/') {
			if (len + 1 >= outlen)
				return -1;
			out[len++] = (char)*p;
		} else {
			if (len + 3 >= outlen)
				return -1;
			out[len++] = '%';
			out[len++] = hex[*p >> 4];
			out[len++] = hex[*p & 0xf];
		}
	}
	if (outlen == 0)
		return -1;
	out[len] = '\0';
	return 0;
}
