/*
 * qrsvg — a QR code (libqrencode) drawn as a small, inert SVG document
 * for a browser: one white <rect> for the background and quiet zone, and
 * one black <path> whose subpaths are the runs of dark modules of each row
 * (filled rectangles, one unit per module). Nothing else: no script, no
 * style sheet, no link, no external reference, no text; only the SVG
 * namespace declaration. The viewBox counts modules; width and height
 * give QRSVG_SCALE pixels per module for viewers that need a size.
 *
 * The encoding is byte mode, error correction level M, the smallest
 * version that holds the text, a quiet zone of QRSVG_MARGIN modules.
 */
#ifndef SEKISHO_QRSVG_H
#define SEKISHO_QRSVG_H

#include <stddef.h>

#define QRSVG_MARGIN 4		/* quiet zone, modules (ISO/IEC 18004) */
#define QRSVG_SCALE 6		/* pixels per module in width/height */
#define QRSVG_MAX_TEXT 512	/* bytes of text accepted */

/*
 * The SVG of text. Returns a malloc'd NUL-terminated document the caller
 * frees (wipe it first when text is secret), or NULL with err when text is
 * empty or longer than QRSVG_MAX_TEXT, libqrencode fails, or the document
 * would be longer than max bytes (NUL not counted).
 */
char *qrsvg_render(const char *text, size_t max, char *err, size_t errlen);

#endif
