/*
 * fuzz_mnscan — the My Number detector's file readers on arbitrary input.
 *
 * An input starting with "PK" is scanned as the file itself (zip parsing,
 * entry bounds). Any other input is cut at 0xff bytes into up to three XML
 * parts and packed by libzip into an xlsx (shared strings, a sheet) and a
 * docx part, so that the XML walkers see well-formed zips with fuzzed
 * parts; a fourth piece, if any, is scanned as a CSV file. Small limits
 * keep each run short. Checked: no crash or sanitizer report, the report's
 * invariants (verdict agrees with count and reason, findings bounded, every
 * string terminated).
 */
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include <zip.h>

#include "broker/mnscan.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
check(const struct mnscan_report *r)
{
	char line[512];

	if (r->nfindings > MNSCAN_MAX_FINDINGS || r->nfindings > r->count ||
	    r->near_keyword > r->count)
		abort();
	if (memchr(r->reason, '\0', sizeof(r->reason)) == NULL ||
	    memchr(r->format, '\0', sizeof(r->format)) == NULL)
		abort();
	if ((r->verdict == MNSCAN_UNSCANNABLE) != (r->reason[0] != '\0'))
		abort();
	if (r->verdict == MNSCAN_FOUND && r->count == 0)
		abort();
	if (r->verdict == MNSCAN_CLEAN && r->count != 0)
		abort();
	for (size_t i = 0; i < r->nfindings; i++) {
		const struct mnscan_finding *f = &r->findings[i];

		if (memchr(f->part, '\0', sizeof(f->part)) == NULL ||
		    memchr(f->sheet, '\0', sizeof(f->sheet)) == NULL ||
		    memchr(f->cell, '\0', sizeof(f->cell)) == NULL)
			abort();
		mnscan_finding_format(f, line, sizeof(line));
	}
}

static void
scan_bytes(const void *d, size_t n, const char *name)
{
	struct mnscan_limits lim;
	struct mnscan_report r;
	int fd = memfd_create("fuzz", 0);

	if (fd < 0)
		abort();
	if (n > 0 && write(fd, d, n) != (ssize_t)n)
		abort();
	mnscan_limits_default(&lim);
	lim.max_total = 8 << 20;
	lim.max_entry = 4 << 20;
	lim.max_entries = 64;
	lim.max_strings = 10000;
	lim.max_nested = 1 << 20;
	if (mnscan_fd(fd, name, &lim, &r) != 0)
		abort();
	check(&r);
	close(fd);
}

static void
add(zip_t *za, const char *name, const uint8_t *d, size_t n)
{
	zip_source_t *src = zip_source_buffer(za, d, n, 0);

	if (src == NULL || zip_file_add(za, name, src, 0) < 0)
		abort();
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static bool init;
	const uint8_t *part[4] = { 0 };
	size_t plen[4] = { 0 }, np = 0, start = 0;
	zip_source_t *zs;
	zip_error_t ze;
	zip_t *za;
	void *buf = NULL;
	zip_int64_t zlen;

	if (!init) {
		mnscan_init();
		init = true;
	}
	if (size > 200000)
		return 0;
	if (size >= 2 && data[0] == 'P' && data[1] == 'K') {
		scan_bytes(data, size, "x.xlsx");
		return 0;
	}
	for (size_t i = 0; i <= size && np < 4; i++) {
		if (i == size || data[i] == 0xff) {
			part[np] = data + start;
			plen[np++] = i - start;
			start = i + 1;
		}
	}
	zip_error_init(&ze);
	if ((zs = zip_source_buffer_create(NULL, 0, 0, &ze)) == NULL)
		abort();
	zip_source_keep(zs);
	if ((za = zip_open_from_source(zs, ZIP_TRUNCATE, &ze)) == NULL)
		abort();
	add(za, "[Content_Types].xml", (const uint8_t *)"<Types/>", 8);
	add(za, "xl/workbook.xml", (const uint8_t *)"<workbook/>", 11);
	add(za, "xl/sharedStrings.xml", part[0], plen[0]);
	if (np > 1)
		add(za, "xl/worksheets/sheet1.xml", part[1], plen[1]);
	if (np > 2)
		add(za, "word/document.xml", part[2], plen[2]);
	if (zip_close(za) != 0)
		abort();
	if (zip_source_open(zs) != 0)
		abort();
	zip_source_seek(zs, 0, SEEK_END);
	zlen = zip_source_tell(zs);
	zip_source_seek(zs, 0, SEEK_SET);
	if (zlen > 0 && (buf = malloc((size_t)zlen)) != NULL &&
	    zip_source_read(zs, buf, (zip_uint64_t)zlen) == zlen)
		scan_bytes(buf, (size_t)zlen, "x.xlsx");
	free(buf);
	zip_source_close(zs);
	zip_source_free(zs);
	zip_error_fini(&ze);
	if (np > 3)
		scan_bytes(part[3], plen[3], "x.csv");
	return 0;
}
