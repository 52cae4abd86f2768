/*
 * fuzz_mynumber — the streaming My Number detector on arbitrary bytes.
 *
 * Invariants checked on every input (a broken one aborts):
 *   - the hits are the same whether the input is fed whole, byte by byte
 *     or in blocks of a size taken from the input;
 *   - every hit lies inside the input, in stream order, and its bytes are
 *     12 digits (ASCII or full-width), optionally in 4-4-4 groups with one
 *     kind of separator, whose check digit is valid (re-checked here with
 *     mynumber_check_digits);
 *   - the characters right before and after a hit are not digits.
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/mynumber.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

#define MAXH 4096

struct hits {
	size_t n;
	struct mynumber_hit h[MAXH];
};

static void
collect(void *arg, const struct mynumber_hit *hit)
{
	struct hits *hs = arg;

	if (hs->n < MAXH)
		hs->h[hs->n] = *hit;
	hs->n++;
}

static void
run(const uint8_t *d, size_t n, size_t step, struct hits *hs)
{
	struct mynumber_scanner *s = mynumber_scanner_new(collect, hs);

	if (s == NULL)
		abort();
	hs->n = 0;
	for (size_t o = 0; o < n; o += step)
		mynumber_scanner_feed(s, d + o, n - o < step ? n - o : step);
	mynumber_scanner_finish(s);
	if (mynumber_scanner_offset(s) != n)
		abort();
	mynumber_scanner_free(s);
}

/* The digit at p (ASCII or full-width), its byte length in *len; -1 if
 * none. */
static int
digit_at(const uint8_t *p, size_t avail, size_t *len)
{
	if (avail >= 1 && p[0] >= '0' && p[0] <= '9') {
		*len = 1;
		return p[0] - '0';
	}
	if (avail >= 3 && p[0] == 0xef && p[1] == 0xbc && p[2] >= 0x90 &&
	    p[2] <= 0x99) {
		*len = 3;
		return p[2] - 0x90;
	}
	return -1;
}

static void
check_hit(const uint8_t *d, size_t n, const struct mynumber_hit *h)
{
	char digits[12];
	size_t i = (size_t)h->offset, end = i + h->length, nd = 0, len;
	int v;

	if (h->offset > n || h->length > n - h->offset)
		abort();
	while (i < end) {
		if ((v = digit_at(d + i, end - i, &len)) >= 0) {
			if (nd == 12)
				abort();
			digits[nd++] = (char)('0' + v);
			i += len;
		} else if (d[i] == ' ' || d[i] == '-') {
			if (nd != 4 && nd != 8)
				abort();
			i++;
		} else if (end - i >= 3 && ((d[i] == 0xe3 && d[i + 1] == 0x80 &&
		    d[i + 2] == 0x80) || (d[i] == 0xef && d[i + 1] == 0xbc &&
		    d[i + 2] == 0x8d))) {
			if (nd != 4 && nd != 8)
				abort();
			i += 3;
		} else {
			abort();
		}
	}
	if (nd != 12 || !mynumber_check_digits(digits, 12))
		abort();
	/* not continued by a digit on either side */
	if (end < n && digit_at(d + end, n - end, &len) >= 0)
		abort();
	if (h->offset >= 1 && d[h->offset - 1] >= '0' && d[h->offset - 1] <= '9')
		abort();
	if (h->offset >= 3 && d[h->offset - 3] == 0xef &&
	    digit_at(d + h->offset - 3, 3, &len) >= 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct hits whole, bytewise, blocks;
	size_t step;

	if (size < 1)
		return 0;
	step = 1 + data[0] % 61;
	data++;
	size--;
	run(data, size, size + 1, &whole);
	run(data, size, 1, &bytewise);
	run(data, size, step, &blocks);
	if (whole.n != bytewise.n || whole.n != blocks.n)
		abort();
	for (size_t k = 0; k < whole.n && k < MAXH; k++) {
		if (memcmp(&whole.h[k], &bytewise.h[k], sizeof(whole.h[k])) != 0 ||
		    memcmp(&whole.h[k], &blocks.h[k], sizeof(whole.h[k])) != 0)
			abort();
		if (k > 0 && whole.h[k].offset <= whole.h[k - 1].offset)
			abort();
		check_hit(data, size, &whole.h[k]);
	}
	return 0;
}
