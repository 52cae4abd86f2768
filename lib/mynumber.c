/*
 * mynumber — streaming detector of My Numbers; see mynumber.h for what it
 * finds. The hot path is the idle skip: outside a candidate only ASCII
 * digits and the lead bytes E3 (マ, U+3000), E5 (個) and EF (full-width
 * digits) can start anything, so everything else is passed over by a table
 * lookup per byte.
 */
#include "lib/mynumber.h"

#include <stdlib.h>
#include <string.h>

#ifdef __SSE2__
#include <emmintrin.h>
#endif

enum { SEP_NONE, SEP_SP, SEP_HY, SEP_FWSP, SEP_FWHY };

/* Weights of digits 1..11 of a 12-digit candidate, left to right: the
 * 11th digit is P_1 (Q = 2), the 6th P_6 (Q = 7), the 5th P_7 (Q = 2),
 * the 1st P_11 (Q = 6). Index 0 unused. */
static const uint8_t weight[12] = { 0, 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2 };

static const uint8_t kw_kojin[] = "\xe5\x80\x8b\xe4\xba\xba\xe7\x95\xaa\xe5\x8f\xb7";
static const uint8_t kw_mynum[] =
    "\xe3\x83\x9e\xe3\x82\xa4\xe3\x83\x8a\xe3\x83\xb3\xe3\x83\x90\xe3\x83\xbc";
#define KW_MAX 18

/* Bytes that can start something while no candidate is open. */
static const uint8_t stop_idle[256] = {
	['0'] = 1, ['1'] = 1, ['2'] = 1, ['3'] = 1, ['4'] = 1,
	['5'] = 1, ['6'] = 1, ['7'] = 1, ['8'] = 1, ['9'] = 1,
	[0xe3] = 1, [0xe5] = 1, [0xef] = 1,
};

struct mynumber_scanner {
	mynumber_hit_fn fn;
	void *arg;
	uint64_t off;		/* stream offset of the next byte fed */
	uint64_t line;		/* line number at line_pos */
	uint64_t line_pos;

	/* The open chain of digit groups (a candidate). */
	bool active;
	bool c444;		/* all groups 4 digits, at most 3 so far */
	uint8_t pend_sep;	/* separator after the last digit */
	uint8_t chain_sep;	/* the kind that joins this chain's groups */
	uint8_t ngroups;	/* closed groups, capped */
	uint8_t glen;		/* digits in the open group, capped at 13 */
	uint16_t gsum, csum;	/* weighted sums: group, chain (4-4-4) */
	uint8_t gcheck, ccheck;	/* the 12th digit of group / chain */
	uint64_t cstart, gstart, last_end;

	/* The block being scanned, for counting lines at a hit. */
	const uint8_t *blk;
	uint64_t blk_base;

	/* The latest keyword in this segment. */
	bool has_kw;
	uint64_t kw_end;

	/* A hit held until it is known whether a keyword follows. */
	bool has_pend;
	uint64_t pend_end;
	struct mynumber_hit pend;

	/* An incomplete character or keyword at the end of a block. */
	size_t nstash;
	uint8_t stash[32];
};

static void
wipe(void *p, size_t n)
{
	explicit_bzero(p, n);
}

static inline bool
check_ok(unsigned sum, unsigned check)
{
	unsigned r = sum % 11;

	return check == (r <= 1 ? 0 : 11 - r);
}

bool
mynumber_check_digits(const char *d, size_t len)
{
	unsigned sum = 0;
	bool ok;

	if (d == NULL || len != 12)
		return false;
	for (size_t i = 0; i < 12; i++)
		if (d[i] < '0' || d[i] > '9')
			return false;
	for (size_t i = 0; i < 11; i++)
		sum += weight[i + 1] * (unsigned)(d[i] - '0');
	ok = check_ok(sum, (unsigned)(d[11] - '0'));
	wipe(&sum, sizeof(sum));
	return ok;
}

static void
emit_pending(struct mynumber_scanner *s)
{
	if (!s->has_pend)
		return;
	s->has_pend = false;
	s->fn(s->arg, &s->pend);
	wipe(&s->pend, sizeof(s->pend));
}

static uint64_t line_at(struct mynumber_scanner *, const uint8_t *, uint64_t,
    uint64_t);

/* The line is counted only now: a candidate holds no newline, so counting
 * up to its start or to the end of an earlier block gives the same. */
static void
add_hit(struct mynumber_scanner *s, uint64_t start)
{
	emit_pending(s);
	s->pend.offset = start;
	s->pend.line = line_at(s, s->blk, s->blk_base,
	    start > s->line_pos ? start : s->line_pos);
	s->pend.length = (uint32_t)(s->last_end - start);
	s->pend.near_keyword = s->has_kw && start >= s->kw_end &&
	    start - s->kw_end <= MYNUMBER_NEAR;
	s->pend_end = s->last_end;
	s->has_pend = true;
}

static uint64_t
line_at(struct mynumber_scanner *s, const uint8_t *p, uint64_t base,
    uint64_t off)
{
	if (off > s->line_pos && p != NULL) {
		const uint8_t *q = p + (s->line_pos - base);
		const uint8_t *end = p + (off - base);

		while ((q = memchr(q, '\n', (size_t)(end - q))) != NULL) {
			s->line++;
			if (++q >= end)
				break;
		}
		s->line_pos = off;
	}
	return s->line;
}

static void
group_close(struct mynumber_scanner *s)
{
	if (s->glen == 12 && check_ok(s->gsum, s->gcheck))
		add_hit(s, s->gstart);
	if (s->glen != 4)
		s->c444 = false;
	if (s->ngroups < 255)
		s->ngroups++;
	if (s->ngroups > 3)
		s->c444 = false;
	s->glen = 0;
	s->gsum = 0;
	s->gcheck = 0;
}

static void
chain_end(struct mynumber_scanner *s)
{
	if (!s->active)
		return;
	group_close(s);
	if (s->c444 && s->ngroups == 3 && check_ok(s->csum, s->ccheck))
		add_hit(s, s->cstart);
	s->active = false;
	s->pend_sep = s->chain_sep = SEP_NONE;
	s->ngroups = 0;
	s->csum = 0;
	s->ccheck = 0;
}

static inline void
on_digit(struct mynumber_scanner *s, unsigned d, uint64_t off,
    unsigned nbytes)
{
	if (!s->active) {
		s->active = true;
		s->c444 = true;
		s->ngroups = 0;
		s->glen = 0;
		s->gsum = s->csum = 0;
		s->cstart = s->gstart = off;
	} else if (s->pend_sep != SEP_NONE) {
		s->chain_sep = s->pend_sep;
		s->pend_sep = SEP_NONE;
		group_close(s);
		s->gstart = off;
	}
	if (s->glen < 13)
		s->glen++;
	if (s->glen <= 11)
		s->gsum = (uint16_t)(s->gsum + weight[s->glen] * d);
	else if (s->glen == 12)
		s->gcheck = (uint8_t)d;
	if (s->glen > 4)
		s->c444 = false;
	if (s->c444) {
		unsigned pos = 4u * s->ngroups + s->glen;

		if (pos <= 11)
			s->csum = (uint16_t)(s->csum + weight[pos] * d);
		else
			s->ccheck = (uint8_t)d;
	}
	s->last_end = off + nbytes;
}

/* p[i..i+12) are 12 ASCII digits bounded by non-digits that cannot
 * continue a candidate. */
static void
run12(struct mynumber_scanner *s, const uint8_t *p, uint64_t base, size_t i)
{
	unsigned sum = 0;

	for (unsigned k = 0; k < 11; k++)
		sum += weight[k + 1] * (unsigned)(p[i + k] - '0');
	if (check_ok(sum, (unsigned)(p[i + 11] - '0'))) {
		s->last_end = base + i + 12;
		add_hit(s, base + i);
	}
	sum = 0;
	__asm__ volatile("" : : "r"(&sum) : "memory");
}

/* As on_digit for each of n ASCII digits starting a group, for a group of
 * neither 4 nor 12 digits. */
static void
dead_group(struct mynumber_scanner *s, uint64_t off, size_t n)
{
	if (!s->active) {
		s->active = true;
		s->ngroups = 0;
		s->csum = 0;
		s->cstart = off;
	} else {
		s->chain_sep = s->pend_sep;
		s->pend_sep = SEP_NONE;
		group_close(s);
	}
	s->gstart = off;
	s->gsum = 0;
	s->glen = (uint8_t)(n < 13 ? n : 13);
	s->c444 = false;
	s->last_end = off + n;
}

static inline void
on_sep(struct mynumber_scanner *s, uint8_t kind)
{
	if (!s->active)
		return;
	if (s->pend_sep != SEP_NONE ||
	    (s->chain_sep != SEP_NONE && s->chain_sep != kind))
		chain_end(s);
	else
		s->pend_sep = kind;
}

static void
on_keyword(struct mynumber_scanner *s, uint64_t start, uint64_t end)
{
	if (s->has_pend && start >= s->pend_end &&
	    start - s->pend_end <= MYNUMBER_NEAR)
		s->pend.near_keyword = true;
	s->has_kw = true;
	s->kw_end = end;
}

/* 0: no keyword at q; -1: a keyword's prefix fills all avail bytes;
 * else the keyword's length. */
static int
kw_match(const uint8_t *q, size_t avail)
{
	const uint8_t *kw = q[0] == 0xe5 ? kw_kojin : kw_mynum;
	size_t kwlen = q[0] == 0xe5 ? sizeof(kw_kojin) - 1 : sizeof(kw_mynum) - 1;
	size_t m = avail < kwlen ? avail : kwlen;

	if (memcmp(q, kw, m) != 0)
		return 0;
	return m == kwlen ? (int)kwlen : -1;
}

/* Length of the UTF-8 sequence at q if its available bytes are a valid
 * prefix (may exceed avail), else 1. */
static inline size_t
seq_len(const uint8_t *q, size_t avail)
{
	size_t n;

	if (q[0] >= 0xc2 && q[0] <= 0xdf)
		n = 2;
	else if (q[0] >= 0xe0 && q[0] <= 0xef)
		n = 3;
	else if (q[0] >= 0xf0 && q[0] <= 0xf4)
		n = 4;
	else
		return 1;
	for (size_t k = 1; k < n && k < avail; k++)
		if ((q[k] & 0xc0) != 0x80)
			return 1;
	return n;
}

#ifdef __SSE2__
/* Skips, 16 bytes at a time, what cannot start anything while no candidate
 * is open: stops at an ASCII digit, an EF lead byte (full-width digits) or
 * the first byte of 個 or マ (found by their third byte, so that the lead
 * bytes of ordinary Japanese text do not stop it). Returns where the
 * scalar path must go on. */
static size_t
skip_idle(const uint8_t *p, size_t len, size_t i)
{
	const __m128i lo = _mm_set1_epi8(0x2f), hi = _mm_set1_epi8(0x3a);
	const __m128i ef = _mm_set1_epi8((char)0xef);
	const __m128i k3 = _mm_set1_epi8((char)0x8b), k2 = _mm_set1_epi8((char)0x80);
	const __m128i k1 = _mm_set1_epi8((char)0xe5);
	const __m128i m3 = _mm_set1_epi8((char)0x9e), m2 = _mm_set1_epi8((char)0x83);
	const __m128i m1 = _mm_set1_epi8((char)0xe3);
	size_t from = i;

	if (i < 2)
		return i;
	while (i + 16 <= len) {
		__m128i v = _mm_loadu_si128((const __m128i *)(const void *)(p + i));
		__m128i v1 = _mm_loadu_si128((const __m128i *)(const void *)(p + i - 1));
		__m128i v2 = _mm_loadu_si128((const __m128i *)(const void *)(p + i - 2));
		__m128i m = _mm_and_si128(_mm_cmpgt_epi8(v, lo), _mm_cmpgt_epi8(hi, v));
		int bits;
		size_t j;

		m = _mm_or_si128(m, _mm_cmpeq_epi8(v, ef));
		m = _mm_or_si128(m, _mm_and_si128(_mm_cmpeq_epi8(v, k3),
		    _mm_and_si128(_mm_cmpeq_epi8(v1, k2), _mm_cmpeq_epi8(v2, k1))));
		m = _mm_or_si128(m, _mm_and_si128(_mm_cmpeq_epi8(v, m3),
		    _mm_and_si128(_mm_cmpeq_epi8(v1, m2), _mm_cmpeq_epi8(v2, m1))));
		bits = _mm_movemask_epi8(m);
		if (bits == 0) {
			i += 16;
			continue;
		}
		j = i + (size_t)__builtin_ctz((unsigned)bits);
		if (p[j] == 0x8b || p[j] == 0x9e) {
			/* A keyword's lead skipped here is gone back to; one
			 * before `from' was seen by the caller already. */
			if (j - 2 >= from)
				return j - 2;
			i = j + 1;
			continue;
		}
		return j;
	}
	/* The lead bytes of a keyword whose third byte lies beyond the last
	 * vector are left to the scalar path. */
	return i - 2 > from ? i - 2 : from;
}
#else
static size_t
skip_idle(const uint8_t *p, size_t len, size_t i)
{
	(void)p;
	(void)len;
	return i;
}
#endif

/* Scans p[0..len) at stream offset base. Returns how many bytes were
 * consumed: less than len only when !final and the rest is an incomplete
 * character or keyword (at most KW_MAX - 1 bytes). */
static size_t
scan_block(struct mynumber_scanner *s, const uint8_t *p, size_t len,
    uint64_t base, bool final)
{
	size_t i = 0;

	while (i < len) {
		uint8_t b;
		size_t n;

		if (!s->active) {
			i = skip_idle(p, len, i);
			while (i < len && !stop_idle[p[i]])
				i++;
			if (i == len)
				break;
			b = p[i];
			/* Most Japanese text is E3/E5 lead bytes: pass over
			 * the characters that start nothing without decoding
			 * them further. */
			if (b >= 0x80 && b != 0xef && i + 2 < len &&
			    !(b == 0xe3 && p[i + 1] == 0x83 && p[i + 2] == 0x9e) &&
			    !(b == 0xe5 && p[i + 1] == 0x80 && p[i + 2] == 0x8b)) {
				i += ((p[i + 1] & 0xc0) == 0x80 &&
				    (p[i + 2] & 0xc0) == 0x80) ? 3 : 1;
				continue;
			}
			/* A run of ASCII digits ended by a byte that cannot
			 * continue a candidate (not a digit, separator or the
			 * lead of a full-width one) is decided at once. */
			if (b < 0x80) {
				size_t k = i + 1;

				while (k < len && (unsigned)(p[k] - '0') < 10)
					k++;
				if (k < len && p[k] < 0x80 && p[k] != ' ' &&
				    p[k] != '-') {
					if (k - i == 12)
						run12(s, p, base, i);
					i = k;
					continue;
				}
			}
		}
		b = p[i];
		if ((unsigned)(b - '0') < 10) {
			size_t k = i + 1;

			while (k < len && (unsigned)(p[k] - '0') < 10)
				k++;
			/* A run that starts a group and is ended by an ASCII
			 * byte is a whole group; unless it has 4 or 12 digits
			 * it can neither match nor start a 4-4-4 chain, so
			 * only its length is kept. */
			if (k < len && p[k] < 0x80 && k - i != 4 &&
			    k - i != 12 && (!s->active || s->pend_sep)) {
				dead_group(s, base + i, k - i);
				i = k;
				continue;
			}
			for (; i < k; i++)
				on_digit(s, (unsigned)(p[i] - '0'), base + i, 1);
			continue;
		}
		if (b < 0x80) {
			if (b == ' ')
				on_sep(s, SEP_SP);
			else if (b == '-')
				on_sep(s, SEP_HY);
			else
				chain_end(s);
			i++;
			continue;
		}
		n = seq_len(p + i, len - i);
		if (i + n > len) {
			if (!final)
				return i;
			n = 1;
		}
		if (n == 3 && b == 0xef && p[i + 1] == 0xbc) {
			uint8_t c = p[i + 2];

			if (c >= 0x90 && c <= 0x99) {
				on_digit(s, (unsigned)(c - 0x90), base + i, 3);
				i += 3;
				continue;
			}
			if (c == 0x8d) {
				on_sep(s, SEP_FWHY);
				i += 3;
				continue;
			}
		}
		if (n == 3 && b == 0xe3 && p[i + 1] == 0x80 && p[i + 2] == 0x80) {
			on_sep(s, SEP_FWSP);
			i += 3;
			continue;
		}
		chain_end(s);
		if (n == 3 && (b == 0xe3 || b == 0xe5)) {
			int k = kw_match(p + i, len - i);

			if (k < 0 && !final)
				return i;
			if (k > 0) {
				on_keyword(s, base + i, base + i + (size_t)k);
				i += (size_t)k;
				continue;
			}
		}
		i += n;
	}
	return i;
}

struct mynumber_scanner *
mynumber_scanner_new(mynumber_hit_fn fn, void *arg)
{
	struct mynumber_scanner *s;

	if (fn == NULL || (s = calloc(1, sizeof(*s))) == NULL)
		return NULL;
	s->fn = fn;
	s->arg = arg;
	s->line = 1;
	return s;
}

static void
flush_far_pending(struct mynumber_scanner *s)
{
	if (s->has_pend && s->off - s->pend_end > MYNUMBER_NEAR + KW_MAX)
		emit_pending(s);
}

void
mynumber_scanner_feed(struct mynumber_scanner *s, const void *buf, size_t len)
{
	const uint8_t *p = buf;
	size_t i = 0, c;

	if (len == 0)
		return;
	if (s->nstash > 0) {
		uint8_t tmp[sizeof(s->stash) + 32];
		size_t take = len < 32 ? len : 32, n = s->nstash + take;
		uint64_t tbase = s->off - s->nstash;

		memcpy(tmp, s->stash, s->nstash);
		memcpy(tmp + s->nstash, p, take);
		s->blk = tmp;
		s->blk_base = tbase;
		c = scan_block(s, tmp, n, tbase, false);
		if (c >= s->nstash) {
			i = c - s->nstash;
			wipe(s->stash, sizeof(s->stash));
			s->nstash = 0;
		} else {
			/* Still incomplete: the whole (short) input joins the
			 * stash; fewer than KW_MAX bytes remain from c. */
			memmove(s->stash, tmp + c, n - c);
			s->nstash = n - c;
			i = len;
		}
		wipe(tmp, sizeof(tmp));
	}
	/* Lines are counted from the start of the block (line_pos is never
	 * before it), whichever part of it is being scanned. */
	s->blk = p;
	s->blk_base = s->off;
	if (i < len) {
		c = scan_block(s, p + i, len - i, s->off + i, false);
		if (c < len - i) {
			s->nstash = len - i - c;
			memcpy(s->stash, p + i + c, s->nstash);
		}
	}
	line_at(s, p, s->off, s->off + len);
	s->blk = NULL;
	s->off += len;
	flush_far_pending(s);
}

void
mynumber_scanner_boundary(struct mynumber_scanner *s)
{
	if (s->nstash > 0) {
		uint8_t tmp[sizeof(s->stash)];
		size_t n = s->nstash;

		memcpy(tmp, s->stash, n);
		wipe(s->stash, sizeof(s->stash));
		s->nstash = 0;
		s->blk = tmp;
		s->blk_base = s->off - n;
		scan_block(s, tmp, n, s->off - n, true);
		s->blk = NULL;
		wipe(tmp, sizeof(tmp));
	}
	chain_end(s);
	emit_pending(s);
	s->has_kw = false;
	s->kw_end = 0;
	wipe(&s->gsum, sizeof(s->gsum));
	wipe(&s->csum, sizeof(s->csum));
	s->gcheck = s->ccheck = 0;
}

void
mynumber_scanner_finish(struct mynumber_scanner *s)
{
	mynumber_scanner_boundary(s);
}

void
mynumber_scanner_set_line(struct mynumber_scanner *s, uint64_t line)
{
	s->line = line;
	s->line_pos = s->off;
}

uint64_t
mynumber_scanner_offset(const struct mynumber_scanner *s)
{
	return s->off;
}

void
mynumber_scanner_free(struct mynumber_scanner *s)
{
	if (s == NULL)
		return;
	wipe(s, sizeof(*s));
	free(s);
}
