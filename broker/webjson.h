/*
 * webjson — the browser API's JSON and the request layer's messages, one
 * into the other (jansson).
 *
 * A request: the fields of a JSON object (a POST body, or a query string
 * made into one) become the fields of the same name of one op's message;
 * a name the op does not know is refused, never ignored. The message is
 * then encoded and decoded by lib/wire.c, so a field reaches a handler
 * only if it passes the same schema (types, bounds, required keys) as a
 * sekisho/1 client's message: one set of rules for both transports.
 *
 * An answer: a message's fields become a JSON object (unsigned integers as
 * numbers, byte strings as lowercase hex, text arrays as arrays).
 *
 * Pure functions; no state.
 */
#ifndef SEKISHO_WEBJSON_H
#define SEKISHO_WEBJSON_H

#include <stddef.h>
#include <stdint.h>

#include <jansson.h>

#include "lib/wire.h"

/* Bytes of a JSON request body accepted (bodies are control requests;
 * file data never travels as JSON). */
#define WEBJSON_MAX_BODY 16384

/*
 * Fills *m (initialised here; clear it with wire_msg_clear) with op's
 * message built from obj (NULL: no fields). Strings are accepted for
 * numbers, booleans ("true"/"false") and byte strings (hex), since a
 * query string has only strings. On a refusal returns -1 with err: code
 * "bad_value" (or the schema's), field, and a message saying what to send.
 */
int webjson_to_msg(enum wire_op op, uint64_t id, const json_t *obj,
    struct wire_msg *m, struct wire_error *err);

/* A new JSON object of m's fields (without op and id); NULL when out of
 * memory. The caller owns the reference. */
json_t *webjson_from_msg(const struct wire_msg *m);

/*
 * Parses a JSON body of len bytes (an object, at most WEBJSON_MAX_BODY
 * bytes, nesting bounded). NULL with err filled (code "bad_request").
 */
json_t *webjson_parse_body(const uint8_t *buf, size_t len,
    struct wire_error *err);

/*
 * Parses a query string ("a=1&b=x%20y", without '?') into a JSON object of
 * strings: percent-decoding, '+' as space, at most 32 pairs, a repeated
 * name refused, text must be UTF-8 without NUL. NULL with err filled.
 */
json_t *webjson_parse_query(const char *q, struct wire_error *err);

/* Bytes of one decoded Upload-Metadata value. */
#define WEBJSON_MAX_META 1024

/*
 * tus Upload-Metadata ("key base64,key base64,..."; hdr NULL: none) into a
 * JSON object of the put's fields: interface, filename -> name, class,
 * purpose, sha256, otp (filetype is accepted and dropped). An unknown or
 * repeated key, a value that is not base64 or not UTF-8 text, or one over
 * WEBJSON_MAX_META bytes is refused (a misspelt key must not quietly drop
 * the classification). NULL with err filled (field "Upload-Metadata").
 */
json_t *webjson_parse_tus_metadata(const char *hdr, struct wire_error *err);

#endif
