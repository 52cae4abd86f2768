/*
 * output — what the client shows: sanitised text for a terminal, JSON for
 * scripts.
 *
 * Anything that came from the broker or from a file name is untrusted: it
 * may hold control characters (terminal escapes), invalid UTF-8 or
 * bidirectional overrides. output_sanitize makes it safe to print;
 * output_json_quote makes any byte string a valid JSON string (invalid
 * UTF-8 becomes U+FFFD, so the output is always valid UTF-8).
 *
 * The JSON writer emits one compact object per call sequence, written to a
 * stdio stream; it never fails on content, only the stream can.
 */
#ifndef SEKISHO_OUTPUT_H
#define SEKISHO_OUTPUT_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/*
 * Copies s into out (size outlen, always NUL-terminated when outlen > 0)
 * for display on a terminal: C0/C1 controls, DEL, invalid UTF-8 and
 * bidirectional formatting characters become '?'; TAB becomes a space.
 * Truncates on a character boundary and ends with "..." if it did not fit.
 * Returns out. NULL s gives "".
 */
char *output_sanitize(const char *s, char *out, size_t outlen);

/*
 * Returns a malloc'd JSON string literal (with the quotes) for the len
 * bytes at s: '"', '\\' and control characters escaped (\n, \t, ... or
 * \u00XX), U+2028/U+2029 escaped, invalid UTF-8 sequences replaced by
 * \ufffd. NULL only on allocation failure.
 */
char *output_json_quote(const char *s, size_t len);

/* Writes output_json_quote(s) to f (NULL s writes null). */
void output_json_string(FILE *f, const char *s);

#define OUTPUT_JSON_DEPTH 8

struct output_json {
	FILE *f;
	int depth;
	int first[OUTPUT_JSON_DEPTH];
};

/* Starts a top-level object on f. */
void output_json_begin(struct output_json *j, FILE *f);
/* Members of the current object; a NULL key is only valid inside arrays. */
void output_json_str(struct output_json *j, const char *key, const char *v);
void output_json_strn(struct output_json *j, const char *key, const char *v,
    size_t len);
void output_json_uint(struct output_json *j, const char *key, uint64_t v);
void output_json_bool(struct output_json *j, const char *key, int v);
void output_json_null(struct output_json *j, const char *key);
/* Nested object / array under key; close with output_json_close. */
void output_json_object(struct output_json *j, const char *key);
void output_json_array(struct output_json *j, const char *key);
void output_json_close(struct output_json *j, char closer);
/* Closes the top-level object and writes a newline. */
void output_json_end(struct output_json *j);

#endif
