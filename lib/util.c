/*
 * util — see util.h. Small, allocation-free helpers; the only randomness in
 * sekisho comes from the OS CSPRNG through getrandom(2).
 */
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <unistd.h>

int
util_err(char *err, size_t errlen, const char *fmt, ...)
{
	va_list ap;

	if (err == NULL || errlen == 0)
		return -1;
	va_start(ap, fmt);
	vsnprintf(err, errlen, fmt, ap);
	va_end(ap);
	return -1;
}

void
util_hex(const uint8_t *in, size_t len, char *out)
{
	static const char digits[] = "0123456789abcdef";
	size_t i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0x0f];
	}
	out[2 * len] = '\0';
}

static int
hexval(int c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

int
util_unhex(const char *in, uint8_t *out, size_t len)
{
	size_t i;

	if (in == NULL || strlen(in) != 2 * len)
		return -1;
	for (i = 0; i < len; i++) {
		int hi = hexval((unsigned char)in[2 * i]);
		int lo = hexval((unsigned char)in[2 * i + 1]);

		if (hi < 0 || lo < 0)
			return -1;
		out[i] = (uint8_t)(hi << 4 | lo);
	}
	return 0;
}

int
util_new_id(char out[UTIL_ID_LEN + 1])
{
	uint8_t raw[UTIL_ID_LEN / 2];
	size_t got = 0;

	while (got < sizeof(raw)) {
		ssize_t n = getrandom(raw + got, sizeof(raw) - got, 0);

		if (n < 0) {
			if (errno == EINTR)
				continue;
			out[0] = '\0';
			return -1;
		}
		got += (size_t)n;
	}
	util_hex(raw, sizeof(raw), out);
	return 0;
}

int
util_is_id(const char *s)
{
	size_t i;

	if (s == NULL)
		return 0;
	for (i = 0; i < UTIL_ID_LEN; i++) {
		char c = s[i];

		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f')))
			return 0;
	}
	return s[UTIL_ID_LEN] == '\0';
}

int
util_is_token(const char *s, size_t maxlen)
{
	size_t i;

	if (s == NULL || s[0] == '\0' || s[0] == '.' || s[0] == '-')
		return 0;
	for (i = 0; s[i] != '\0'; i++) {
		char c = s[i];

		if (i >= maxlen)
			return 0;
		if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'z') ||
		    (c >= 'A' && c <= 'Z') || c == '.' || c == '_' || c == '-'))
			return 0;
	}
	return 1;
}

int
util_strlcpy(char *dst, const char *src, size_t dstlen)
{
	size_t n;

	if (dstlen == 0)
		return -1;
	n = strlen(src);
	if (n >= dstlen) {
		dst[0] = '\0';
		return -1;
	}
	memcpy(dst, src, n + 1);
	return 0;
}

void
util_time_rfc3339(time_t t, char out[21])
{
	struct tm tm;

	if (gmtime_r(&t, &tm) == NULL ||
	    strftime(out, 21, "%Y-%m-%dT%H:%M:%SZ", &tm) == 0)
		memcpy(out, "0000-00-00T00:00:00Z", 21);
}

int
util_parse_digits(const char *s, size_t len, uint64_t *out)
{
	uint64_t v = 0;
	size_t i;

	if (len == 0)
		return -1;
	for (i = 0; i < len; i++) {
		uint64_t d;

		if (s[i] < '0' || s[i] > '9')
			return -1;
		d = (uint64_t)(s[i] - '0');
		if (v > (UINT64_MAX - d) / 10)
			return -1;
		v = v * 10 + d;
	}
	*out = v;
	return 0;
}

/* Parses a leading unsigned decimal; *end gets the rest. Overflow is -1. */
static int
parse_u64(const char *s, uint64_t *out, const char **end)
{
	size_t n = strspn(s, "0123456789");

	if (util_parse_digits(s, n, out) != 0)
		return -1;
	*end = s + n;
	return 0;
}

static int
scale(uint64_t v, uint64_t mul, uint64_t *out)
{
	if (mul != 0 && v > UINT64_MAX / mul)
		return -1;
	*out = v * mul;
	return 0;
}

int
util_parse_size(const char *s, uint64_t *out)
{
	static const struct { const char *suffix; uint64_t mul; } units[] = {
		{ "", 1 }, { "B", 1 },
		{ "KiB", 1ull << 10 }, { "MiB", 1ull << 20 },
		{ "GiB", 1ull << 30 }, { "TiB", 1ull << 40 },
		{ "KB", 1000ull }, { "MB", 1000000ull },
		{ "GB", 1000000000ull }, { "TB", 1000000000000ull },
	};
	const char *end;
	uint64_t v;
	size_t i;

	if (s == NULL || parse_u64(s, &v, &end) != 0)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].suffix) == 0)
			return scale(v, units[i].mul, out);
	return -1;
}

int
util_parse_duration(const char *s, uint64_t *out)
{
	static const struct { const char *suffix; uint64_t mul; } units[] = {
		{ "", 1 }, { "s", 1 }, { "m", 60 }, { "h", 3600 },
		{ "d", 86400 },
	};
	const char *end;
	uint64_t v;
	size_t i;

	if (s == NULL || parse_u64(s, &v, &end) != 0)
		return -1;
	for (i = 0; i < sizeof(units) / sizeof(units[0]); i++)
		if (strcmp(end, units[i].suffix) == 0)
			return scale(v, units[i].mul, out);
	return -1;
}

int
util_open_key_file(const char *what, const char *path, int secret,
    struct stat *out, char *err, size_t errlen)
{
	const char *sep = what != NULL ? " " : "";
	struct stat sb;
	int fd, e;

	if (what == NULL)
		what = "";
	if ((fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC | O_NOCTTY |
	    O_NONBLOCK)) == -1) {
		e = errno;
		return util_err(err, errlen, "%s%s%s: %s", what, sep, path,
		    e == ELOOP ? "is a symbolic link" : strerror(e));
	}
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		close(fd);
		return util_err(err, errlen, "%s%s%s: not a regular file", what,
		    sep, path);
	}
	if (secret && (sb.st_mode & 077) != 0) {
		close(fd);
		return util_err(err, errlen, "%s%s%s: mode %04o lets group or "
		    "others access it; chmod 600 it (and consider what it "
		    "holds disclosed)", what, sep, path,
		    (unsigned)(sb.st_mode & 07777));
	}
	if (out != NULL)
		*out = sb;
	return fd;
}
