/*
 * download — how a file the broker hands out is offered: its Content-Type
 * and the name it is saved as. Pure functions, no I/O; used by held_open
 * (xfers.h) and the HTTP/2 API's download headers.
 */
#ifndef SEKISHO_DOWNLOAD_H
#define SEKISHO_DOWNLOAD_H

#include <stddef.h>

/*
 * The Content-Type for a file called name, from its extension (case
 * ignored) among a short list of types browsers display but do not run:
 * PDF, plain text and CSV (UTF-8), PNG, JPEG, GIF, zip and the Office
 * formats. Anything else, HTML, SVG, XML and scripts included, and a
 * name without an extension, is application/octet-stream. Never NULL;
 * a static string.
 */
const char *download_content_type(const char *name);

/*
 * The name a download is saved as: the last component of name (after the
 * last '/' or '\\'), with control characters (below U+0020, and DEL)
 * replaced by '_', cut to fit out (outlen > 0) on a UTF-8 boundary;
 * fallback (itself cut to fit) when nothing usable is left ("", ".",
 * ".."). name may be NULL.
 */
void download_filename(const char *name, const char *fallback, char *out,
    size_t outlen);

#endif
