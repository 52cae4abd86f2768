/*
 * mynumber_bench — plain-text throughput of the My Number detector on one
 * core, beside two baselines over the same buffer in the same run:
 * memchr for a byte that never occurs (about the memory bandwidth one core
 * reaches) and SHA-256 (OpenSSL), so the ratio means something on any
 * machine.
 *
 * The text (default 256 MiB) is made of lines like those of a municipal
 * ledger exported as text: Japanese prose, CSV rows with dates, amounts,
 * postal codes, phone numbers (03-1234-5678, 090-1234-5678), 13-digit
 * corporate numbers, 12-digit numbers with wrong check digits and, now
 * and then, a valid My Number (plain, spaced, hyphenated, full-width),
 * sometimes after 個人番号. It is fed in 64 KiB blocks, as the readers do.
 * Each pass is run three times and the best is printed.
 *
 * Usage: mynumber_bench [MiB]   (default 256)
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <openssl/evp.h>

#include "lib/mynumber.h"

#define BLOCK	(64 * 1024)

static uint64_t rng = 0x9e3779b97f4a7c15ULL;

static uint32_t
rnd(uint32_t n)
{
	rng ^= rng << 13;
	rng ^= rng >> 7;
	rng ^= rng << 17;
	return (uint32_t)(rng % n);
}

static double
now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

/* 11 random digits and the valid (or, with bad, a wrong) check digit. */
static void
make_number(char d[12], int bad)
{
	static const int w[11] = { 6, 5, 4, 3, 2, 7, 6, 5, 4, 3, 2 };
	int sum = 0, r, c;

	for (int i = 0; i < 11; i++) {
		d[i] = (char)('0' + rnd(10));
		sum += w[i] * (d[i] - '0');
	}
	r = sum % 11;
	c = r <= 1 ? 0 : 11 - r;
	if (bad)
		c = (c + 1 + (int)rnd(9)) % 10;
	d[11] = (char)('0' + c);
}

static size_t
gen_line(char *out, size_t cap, uint64_t *valid)
{
	static const char *prose[] = {
		"本日の窓口受付は午前八時三十分から午後五時十五分までです。",
		"住民票の写しの交付申請について、下記のとおり通知します。",
		"The quarterly report was filed with the prefecture on time.",
		"市民税・県民税の特別徴収税額の決定通知書を送付いたします。",
		"会議資料（第3回）：予算執行状況と来年度の事業計画について",
	};
	char d[12];
	int k = (int)rnd(100);

	if (k < 45)
		return (size_t)snprintf(out, cap, "%s\n", prose[rnd(5)]);
	if (k < 80)
		return (size_t)snprintf(out, cap,
		    "%u,山田 太郎,2024-%02u-%02u,〒%03u-%04u,03-%04u-%04u,%u円\n",
		    rnd(100000), 1 + rnd(12), 1 + rnd(28), rnd(1000),
		    rnd(10000), rnd(10000), rnd(10000), rnd(1000000));
	if (k < 88)
		return (size_t)snprintf(out, cap,
		    "法人番号 %u%06u%06u, 電話 090-%04u-%04u\n", 1 + rnd(9),
		    rnd(1000000), rnd(1000000), rnd(10000), rnd(10000));
	if (k < 96) {
		make_number(d, 1);
		return (size_t)snprintf(out, cap, "管理番号 %.12s 受付\n", d);
	}
	make_number(d, 0);
	(*valid)++;
	switch (rnd(4)) {
	case 0:
		return (size_t)snprintf(out, cap, "個人番号：%.12s\n", d);
	case 1:
		return (size_t)snprintf(out, cap, "%.4s %.4s %.4s\n", d, d + 4,
		    d + 8);
	case 2:
		return (size_t)snprintf(out, cap, "番号 %.4s-%.4s-%.4s 様\n", d,
		    d + 4, d + 8);
	default: {
		size_t n = 0;

		for (int i = 0; i < 12; i++) {
			out[n++] = (char)0xef;
			out[n++] = (char)0xbc;
			out[n++] = (char)(0x90 + (d[i] - '0'));
		}
		out[n++] = '\n';
		return n;
	}
	}
}

static void
count_hit(void *arg, const struct mynumber_hit *hit)
{
	(void)hit;
	(*(uint64_t *)arg)++;
}

int
main(int argc, char **argv)
{
	size_t mib = argc > 1 ? (size_t)strtoul(argv[1], NULL, 10) : 256;
	size_t size = mib * 1024 * 1024, len = 0;
	uint64_t valid = 0, hits = 0;
	double best_scan = 1e9, best_memchr = 1e9, best_sha = 1e9;
	char *buf;
	uint8_t md[32];
	unsigned int mdlen;

	if (mib == 0 || (buf = malloc(size + 512)) == NULL) {
		fprintf(stderr, "usage: mynumber_bench [MiB]\n");
		return 2;
	}
	while (len < size) {
		char line[512];
		uint64_t v = 0;
		size_t n = gen_line(line, sizeof(line), &v);

		if (len + n > size)
			break;
		memcpy(buf + len, line, n);
		len += n;
		valid += v;
	}
	for (int run = 0; run < 3; run++) {
		struct mynumber_scanner *s;
		double t;

		hits = 0;
		s = mynumber_scanner_new(count_hit, &hits);
		t = now();
		for (size_t o = 0; o < len; o += BLOCK)
			mynumber_scanner_feed(s, buf + o,
			    len - o < BLOCK ? len - o : BLOCK);
		mynumber_scanner_finish(s);
		t = now() - t;
		mynumber_scanner_free(s);
		if (t < best_scan)
			best_scan = t;

		t = now();
		if (memchr(buf, 0x01, len) != NULL)
			return 1;
		t = now() - t;
		if (t < best_memchr)
			best_memchr = t;

		t = now();
		EVP_Digest(buf, len, md, &mdlen, EVP_sha256(), NULL);
		t = now() - t;
		if (t < best_sha)
			best_sha = t;
	}
	printf("text: %zu bytes, %" PRIu64 " valid numbers planted, %" PRIu64
	    " hits\n", len, valid, hits);
	printf("mynumber scan: %8.1f MB/s\n", (double)len / best_scan / 1e6);
	printf("memchr:        %8.1f MB/s (scan is %.2fx of it)\n",
	    (double)len / best_memchr / 1e6, best_memchr / best_scan);
	printf("sha256:        %8.1f MB/s (scan is %.2fx of it)\n",
	    (double)len / best_sha / 1e6, best_sha / best_scan);
	free(buf);
	return hits == valid ? 0 : 1;
}
