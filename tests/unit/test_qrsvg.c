/*
 * Unit tests for broker/qrsvg.c: the drawing is exactly libqrencode's
 * matrix (read back from the path), holds nothing but the allowed
 * elements, and stays within its bound for the longest otpauth URI.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <qrencode.h>

#include "broker/qrsvg.h"
#include "broker/stepup.h"
#include "lib/wire.h"

#define URI_LONGEST "otpauth://totp/sekisho:" \
	"u234567890123456789012345678901234567890123456789012345678901234" \
	"?secret=ABCDEFGHIJKLMNOPQRSTUVWXYZ234567&issuer=sekisho" \
	"&algorithm=SHA1&digits=6&period=30"

/* Reads the d attribute back into a grid of w*w cells (1 = dark). Each
 * subpath must be a one-module-high rectangle "hN v1 h-N z". */
static unsigned char *
rasterize(const char *svg, int *width)
{
	const char *p, *vb;
	unsigned char *g;
	int w, x = 0, y = 0, n, n2, i, first = 1, used;
	char cmd;

	vb = strstr(svg, "viewBox=\"0 0 ");
	assert_non_null(vb);
	assert_int_equal(sscanf(vb, "viewBox=\"0 0 %d", &w), 1);
	assert_true(w > 0 && w < 200);
	*width = w;
	g = calloc((size_t)w * (size_t)w, 1);
	assert_non_null(g);
	p = strstr(svg, " d=\"");
	assert_non_null(p);
	p += 4;
	while (*p != '"') {
		cmd = *p++;
		if (cmd == 'M' || cmd == 'm') {
			int a, b;

			assert_int_equal(sscanf(p, "%d %d%n", &a, &b, &used),
			    2);
			p += used;
			/* Absolute only at the start; then relative to the
			 * previous run's start (where z leaves the pen). */
			assert_int_equal(cmd == 'M', first);
			x = cmd == 'M' ? a : x + a;
			y = cmd == 'M' ? b : y + b;
			first = 0;
			assert_int_equal(sscanf(p, "h%dv1h-%dz%n", &n, &n2,
			    &used), 2);
			assert_int_equal(n, n2);
			assert_true(n > 0 && x >= 0 && y >= 0 && x + n <= w &&
			    y < w);
			p += used;
			for (i = 0; i < n; i++) {
				/* Runs never overlap. */
				assert_int_equal(g[y * w + x + i], 0);
				g[y * w + x + i] = 1;
			}
		} else
			fail_msg("unexpected path command '%c'", cmd);
	}
	return g;
}

static void
check_matches_qrencode(const char *text)
{
	char err[256], *svg;
	unsigned char *g;
	QRcode *q;
	int w, x, y, dark;

	svg = qrsvg_render(text, WIRE_MAX_QR_SVG, err, sizeof(err));
	if (svg == NULL)
		fail_msg("qrsvg_render: %s", err);
	q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1);
	assert_non_null(q);
	g = rasterize(svg, &w);
	assert_int_equal(w, q->width + 2 * QRSVG_MARGIN);
	for (y = 0; y < w; y++)
		for (x = 0; x < w; x++) {
			int qx = x - QRSVG_MARGIN, qy = y - QRSVG_MARGIN;

			dark = qx >= 0 && qy >= 0 && qx < q->width &&
			    qy < q->width ?
			    (q->data[qy * q->width + qx] & 1) : 0;
			if (g[y * w + x] != dark)
				fail_msg("module (%d,%d) is %d, should be %d",
				    x, y, g[y * w + x], dark);
		}
	free(g);
	QRcode_free(q);
	free(svg);
}

static void
test_matrix_round_trip(void **state)
{
	(void)state;
	check_matches_qrencode("otpauth://totp/sekisho:alice?secret="
	    "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP&issuer=sekisho&algorithm=SHA1"
	    "&digits=6&period=30");
	check_matches_qrencode("x");
	check_matches_qrencode(URI_LONGEST);
}

/* Only svg, one rect and one path; no script, style, link, text, entity
 * or reference to anything outside. */
static void
test_inert(void **state)
{
	static const char *const banned[] = { "<script", "script", "href",
	    "style=", "<style", "<a", "<image", "<use", "<foreignObject",
	    "url(", "&", "<!", "<?", " on", "javascript" };
	char err[256], *svg, *rest;
	const char *p;
	size_t i;
	int elements = 0;

	(void)state;
	svg = qrsvg_render(URI_LONGEST, WIRE_MAX_QR_SVG, err, sizeof(err));
	assert_non_null(svg);
	assert_true(strncmp(svg, "<svg xmlns=\"http://www.w3.org/2000/svg\"",
	    39) == 0);
	assert_non_null(strstr(svg, "</svg>"));
	assert_string_equal(svg + strlen(svg) - 6, "</svg>");
	/* The namespace is the one URL, and it is never fetched. */
	rest = strstr(svg, "2000/svg\"") + 9;
	for (i = 0; i < sizeof(banned) / sizeof(banned[0]); i++)
		if (strstr(rest, banned[i]) != NULL)
			fail_msg("'%s' in the drawing", banned[i]);
	assert_null(strstr(rest, "http"));
	for (p = svg; (p = strchr(p, '<')) != NULL; p++) {
		elements++;
		assert_true(strncmp(p, "<svg ", 5) == 0 ||
		    strncmp(p, "<rect ", 6) == 0 ||
		    strncmp(p, "<path ", 6) == 0 ||
		    strncmp(p, "</svg>", 6) == 0);
	}
	assert_int_equal(elements, 4);
	/* Black on white. */
	assert_non_null(strstr(svg, "<rect width"));
	assert_non_null(strstr(svg, "fill=\"#fff\""));
	assert_non_null(strstr(svg, "<path fill=\"#000\""));
	free(svg);
}

static void
test_bounds(void **state)
{
	char err[256], *svg, big[QRSVG_MAX_TEXT + 2];
	size_t len;

	(void)state;
	/* The longest otpauth URI a user id allows fits one message. */
	assert_true(strlen(URI_LONGEST) < STEPUP_URI_MAX);
	svg = qrsvg_render(URI_LONGEST, WIRE_MAX_QR_SVG, err, sizeof(err));
	assert_non_null(svg);
	len = strlen(svg);
	assert_true(len <= WIRE_MAX_QR_SVG);
	free(svg);
	/* One byte short of that: refused, not cut. */
	assert_null(qrsvg_render(URI_LONGEST, len - 1, err, sizeof(err)));
	assert_non_null(strstr(err, "exceed"));
	svg = qrsvg_render(URI_LONGEST, len, err, sizeof(err));
	assert_non_null(svg);
	assert_int_equal(strlen(svg), len);
	free(svg);
	/* Empty and oversized texts. */
	assert_null(qrsvg_render("", 4096, err, sizeof(err)));
	assert_null(qrsvg_render(NULL, 4096, err, sizeof(err)));
	memset(big, 'A', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	assert_null(qrsvg_render(big, 1 << 16, err, sizeof(err)));
	assert_non_null(strstr(err, "512"));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_matrix_round_trip),
		cmocka_unit_test(test_inert),
		cmocka_unit_test(test_bounds),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
