/*
 * fuzz_cborjson — the CBOR to JSON renderer on arbitrary bytes.
 *
 * Whatever it accepts must be one line of well-formed output: valid UTF-8,
 * no raw control characters, brackets and quotes balanced, and no longer
 * than the bound the header promises (six output bytes per input byte, plus
 * the digits of one integer). Any crash, sanitizer report, leak or broken
 * invariant is a finding; refusals are not, but they must come with a
 * message and no output.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/cborjson.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check_utf8(const unsigned char *p)
{
	while (*p != '\0') {
		size_t len = *p < 0x80 ? 1 : (*p & 0xe0) == 0xc0 ? 2 :
		    (*p & 0xf0) == 0xe0 ? 3 : (*p & 0xf8) == 0xf0 ? 4 : 0;
		size_t k;

		if (len == 0)
			abort();
		for (k = 1; k < len; k++)
			if ((p[k] & 0xc0) != 0x80)
				abort();
		p += len;
	}
}

/* Brackets balance outside strings; strings close; no raw controls. */
static void
check_shape(const char *s)
{
	int depth = 0, in_str = 0;

	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x20 || c == 0x7f)
			abort();
		if (in_str) {
			if (c == '\\') {
				if (s[1] == '\0')
					abort();
				s++;
			} else if (c == '"')
				in_str = 0;
			continue;
		}
		if (c == '"')
			in_str = 1;
		else if (c == '[' || c == '{')
			depth++;
		else if (c == ']' || c == '}') {
			if (--depth < 0)
				abort();
		}
	}
	if (in_str || depth != 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char err[256], *out = (char *)1;
	size_t len;

	err[0] = '\0';
	if (cborjson_encode(data, size, &out, err, sizeof(err)) != 0) {
		if (out != NULL || err[0] == '\0')
			abort();
		return 0;
	}
	if (out == NULL)
		abort();
	len = strlen(out);
	if (len == 0 || len > 6 * size + 24)
		abort();
	check_utf8((const unsigned char *)out);
	check_shape(out);
	free(out);
	return 0;
}
