/*
 * download — see download.h.
 */
#include "broker/download.h"

#include <string.h>
#include <strings.h>

/* A UTF-8 text cut to fit outlen, never inside a character. */
static void
cut_utf8(char *dst, size_t dstlen, const char *src)
{
	size_t n = strlen(src);

	if (n >= dstlen) {
		n = dstlen - 1;
		while (n > 0 && ((unsigned char)src[n] & 0xc0) == 0x80)
			n--;
	}
	memcpy(dst, src, n);
	dst[n] = '\0';
}

static const char *const content_types[][2] = {
	{ "pdf", "application/pdf" },
	{ "txt", "text/plain; charset=utf-8" },
	{ "csv", "text/csv; charset=utf-8" },
	{ "png", "image/png" },
	{ "jpg", "image/jpeg" },
	{ "jpeg", "image/jpeg" },
	{ "gif", "image/gif" },
	{ "zip", "application/zip" },
	{ "doc", "application/msword" },
	{ "xls", "application/vnd.ms-excel" },
	{ "ppt", "application/vnd.ms-powerpoint" },
	{ "docx", "application/vnd.openxmlformats-officedocument."
	    "wordprocessingml.document" },
	{ "xlsx", "application/vnd.openxmlformats-officedocument."
	    "spreadsheetml.sheet" },
	{ "pptx", "application/vnd.openxmlformats-officedocument."
	    "presentationml.presentation" },
};

const char *
download_content_type(const char *name)
{
	const char *dot = name != NULL ? strrchr(name, '.') : NULL;
	size_t i;

	if (dot != NULL && strchr(dot, '/') == NULL &&
	    strchr(dot, '\\') == NULL)
		for (i = 0; i < sizeof(content_types) /
		    sizeof(content_types[0]); i++)
			if (strcasecmp(dot + 1, content_types[i][0]) == 0)
				return content_types[i][1];
	return "application/octet-stream";
}

void
download_filename(const char *name, const char *fallback, char *out,
    size_t outlen)
{
	const char *base = name != NULL ? name : "", *p;
	size_t i;

	for (p = base; *p != '\0'; p++)
		if (*p == '/' || *p == '\\')
			base = p + 1;
	cut_utf8(out, outlen, base);
	for (i = 0; out[i] != '\0'; i++)
		if ((unsigned char)out[i] < 0x20 || out[i] == 0x7f)
			out[i] = '_';
	if (out[0] == '\0' || strcmp(out, ".") == 0 || strcmp(out, "..") == 0)
		cut_utf8(out, outlen, fallback != NULL ? fallback : "");
}
