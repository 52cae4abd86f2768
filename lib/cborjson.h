/*
 * cborjson — renders one CBOR item as one line of JSON, for people and
 * tools reading audit records (quick start, exports).
 *
 * It walks the item with libcbor's streaming decoder, so nothing is
 * allocated by a count the input declares: a hostile or corrupted record
 * costs at most a small multiple of its own length in output (six times,
 * for text made of escaped control characters). Mapping: text → JSON
 * string (escaped; text that is not valid UTF-8 is refused), byte strings
 * → lowercase hex strings, unsigned/negative integers → numbers,
 * true/false/null → themselves; map keys must be text.
 * Tags, floats, undefined and indefinite lengths are refused, as the audit
 * format never uses them. Depth is bounded by CBORJSON_MAX_DEPTH.
 *
 * Ownership: *out is malloc'd and NUL-terminated; the caller frees it.
 */
#ifndef SEKISHO_CBORJSON_H
#define SEKISHO_CBORJSON_H

#include <stddef.h>
#include <stdint.h>

#define CBORJSON_MAX_DEPTH 16

/* Converts exactly one item that fills buf[0..len). -1 with the reason. */
int cborjson_encode(const uint8_t *buf, size_t len, char **out,
    char *err, size_t errlen);

#endif
