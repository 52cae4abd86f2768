/*
 * mynumber — streaming detector of My Numbers (個人番号) in UTF-8 text.
 *
 * A My Number is 12 digits whose 12th digit is the check digit defined by
 * the Order for Enforcement of the My Number Act (番号法施行令) art. 8 and
 * the MIC ordinance under it: with P_n the n-th digit from the right
 * excluding the check digit (n = 1..11) and Q_n = n + 1 for n <= 6,
 * n - 5 for n >= 7, r = (sum P_n * Q_n) mod 11, the check digit is 0 when
 * r <= 1, else 11 - r.
 *
 * What is a candidate: ASCII digits and full-width digits (U+FF10..U+FF19),
 * mixed freely, either
 *   - one run of exactly 12 digits (a longer or shorter run never matches;
 *     any non-digit ends a run), or
 *   - three groups of 4 digits joined by one separator of a single kind:
 *     ASCII space, ASCII hyphen, full-width space (U+3000) or full-width
 *     hyphen-minus (U+FF0D), e.g. "1234 5678 9012", "1234-5678-9012",
 *     where the chain of groups joined by that separator is exactly these
 *     three (so "090-1234-5678-9012" or "1-2345-6789-0123" never match).
 * A candidate with a valid check digit is a hit. A hit is "near a keyword"
 * when 個人番号 or マイナンバー ends at most MYNUMBER_NEAR bytes before it
 * starts, or starts at most MYNUMBER_NEAR bytes after it ends, within the
 * same segment (see mynumber_scanner_boundary).
 *
 * Input is bytes, normally UTF-8; invalid sequences are treated as
 * ordinary non-digit characters. Other encodings are converted by the
 * caller (broker/mnscan.c).
 *
 * What is never kept: the scanner holds no digits. Its state is a partial
 * weighted sum and at most the latest digit of a candidate, plus up to 17
 * bytes of an incomplete multi-byte character at the end of a fed block;
 * all of that is zeroed when a candidate ends, at a boundary and when the
 * scanner is freed. A hit carries only where the candidate was (stream
 * offset, length in bytes, line) — never its digits.
 *
 * Thread safety: a scanner is used by one thread at a time; distinct
 * scanners share nothing (no global mutable state), so each worker thread
 * or child can run its own.
 */
#ifndef SEKISHO_MYNUMBER_H
#define SEKISHO_MYNUMBER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* How far (in bytes of the UTF-8 stream) a keyword may be from a hit. */
#define MYNUMBER_NEAR 256

struct mynumber_hit {
	uint64_t offset;	/* stream offset of the candidate's first byte */
	uint64_t line;		/* 1-based line ('\n'-separated) it starts on */
	uint32_t length;	/* bytes from the first to the last digit */
	bool near_keyword;
};

/* Called once per hit, in stream order, possibly late: a hit is held until
 * it is known whether a keyword follows it (at most MYNUMBER_NEAR bytes
 * later, or at the next boundary / finish). */
typedef void (*mynumber_hit_fn)(void *arg, const struct mynumber_hit *hit);

struct mynumber_scanner;

/* A new scanner at stream offset 0, line 1. Returns NULL when out of
 * memory. The callback must not call back into the same scanner. */
struct mynumber_scanner *mynumber_scanner_new(mynumber_hit_fn fn, void *arg);

/* Feeds the next len bytes of the stream. A candidate, a multi-byte
 * character or a keyword may span calls. */
void mynumber_scanner_feed(struct mynumber_scanner *s, const void *buf,
    size_t len);

/* Ends a segment: what was fed before and what is fed after are never
 * joined into one candidate, and a keyword on one side does not count for
 * a hit on the other (a spreadsheet cell, a zip entry, an XML text node).
 * Pending hits are reported. The stream offset and line go on. */
void mynumber_scanner_boundary(struct mynumber_scanner *s);

/* Ends the stream: like a boundary, with an incomplete trailing character
 * treated as a non-digit. The scanner may be fed again afterwards (the
 * offset goes on). */
void mynumber_scanner_finish(struct mynumber_scanner *s);

/* Sets the line counter, e.g. to 1 when a caller starts a new part. */
void mynumber_scanner_set_line(struct mynumber_scanner *s, uint64_t line);

/* Bytes fed so far. */
uint64_t mynumber_scanner_offset(const struct mynumber_scanner *s);

/* Zeroes and frees; NULL is fine. Pending hits are dropped: call finish
 * first to get them. */
void mynumber_scanner_free(struct mynumber_scanner *s);

/* True when the 12 ASCII digits at d form a valid My Number (the check
 * digit matches). Anything else (fewer digits, non-digits) is false. */
bool mynumber_check_digits(const char *d, size_t len);

#endif
