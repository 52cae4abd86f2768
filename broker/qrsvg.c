/*
 * qrsvg — see qrsvg.h.
 *
 * Runs rather than one element per module keep the document small enough
 * for one sekisho/1 control message even for the largest otpauth URI: a
 * run is "M x y" (or "m dx dy" from the previous run's start, where
 * closepath leaves the pen) followed by "hN v1 h-N z".
 */
#include "broker/qrsvg.h"
#include "lib/util.h"

#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <openssl/crypto.h>
#include <qrencode.h>

struct buf {
	char *p;
	size_t len, cap;	/* cap: bytes usable, NUL excluded */
	int full;
};

static void
put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	if (b->full)
		return;
	va_start(ap, fmt);
	n = vsnprintf(b->p + b->len, b->cap + 1 - b->len, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n > b->cap - b->len) {
		b->full = 1;
		return;
	}
	b->len += (size_t)n;
}

static int
dark(const QRcode *q, int x, int y)
{
	return (q->data[(size_t)y * (size_t)q->width + (size_t)x] & 1) != 0;
}

char *
qrsvg_render(const char *text, size_t max, char *err, size_t errlen)
{
	QRcode *q;
	struct buf b;
	size_t tlen;
	int x, y, run, w, px = 0, py = 0, first = 1;

	tlen = text != NULL ? strlen(text) : 0;
	if (tlen == 0 || tlen > QRSVG_MAX_TEXT) {
		util_err(err, errlen, "QR code: the text must be 1 to %d bytes",
		    QRSVG_MAX_TEXT);
		return NULL;
	}
	if (max == 0 || max > 1u << 20) {
		util_err(err, errlen, "QR code: bad size bound");
		return NULL;
	}
	if ((q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1)) ==
	    NULL) {
		util_err(err, errlen, "QR code: encoding failed: %s",
		    strerror(errno));
		return NULL;
	}
	memset(&b, 0, sizeof(b));
	b.cap = max;
	if ((b.p = malloc(max + 1)) == NULL) {
		QRcode_free(q);
		util_err(err, errlen, "out of memory");
		return NULL;
	}
	b.p[0] = '\0';
	w = q->width + 2 * QRSVG_MARGIN;
	put(&b, "<svg xmlns=\"http://www.w3.org/2000/svg\" version=\"1.1\" "
	    "viewBox=\"0 0 %d %d\" width=\"%d\" height=\"%d\" "
	    "shape-rendering=\"crispEdges\">"
	    "<rect width=\"%d\" height=\"%d\" fill=\"#fff\"/>"
	    "<path fill=\"#000\" d=\"", w, w, w * QRSVG_SCALE, w * QRSVG_SCALE,
	    w, w);
	for (y = 0; y < q->width; y++) {
		for (x = 0; x < q->width; x += run > 0 ? run : 1) {
			for (run = 0; x + run < q->width &&
			    dark(q, x + run, y); run++)
				;
			if (run == 0)
				continue;
			if (first)
				put(&b, "M%d %d", x + QRSVG_MARGIN,
				    y + QRSVG_MARGIN);
			else
				put(&b, "m%d %d", x - px, y - py);
			put(&b, "h%dv1h-%dz", run, run);
			first = 0;
			px = x;
			py = y;
		}
	}
	put(&b, "\"/></svg>");
	QRcode_free(q);
	if (b.full) {
		OPENSSL_cleanse(b.p, max + 1);
		free(b.p);
		util_err(err, errlen, "QR code: the drawing would exceed %zu "
		    "bytes", max);
		return NULL;
	}
	return b.p;
}
