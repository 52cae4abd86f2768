/*
 * fuzz_auditbundle — a pull saved as one file (client/auditbundle.c) on
 * arbitrary bytes, and every record it locates flattened into CSV
 * (lib/auditcsv.c), as `sekisho audit verify/show/export FILE` do with a
 * file an auditor was handed.
 *
 * Invariants checked besides the sanitizers': the ranges of records lie
 * inside the file, in order, without overlap; the leaf hashes are as many
 * as the records messages announced; every record the reader finds in a
 * range decodes into a row whose cells lie inside the record or the row,
 * and whose CSV line ends in CRLF.
 */
#define _GNU_SOURCE
#include <sys/mman.h>

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client/auditbundle.h"
#include "lib/auditcsv.h"
#include "lib/auditfmt.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static int32_t
plus9(const void *ctx, int64_t t)
{
	(void)ctx;
	(void)t;
	return 9 * 3600;
}

static void
check_row(const uint8_t *rec, size_t len, const struct auditcsv_row *row)
{
	const char *lo = (const char *)rec, *hi = (const char *)rec + len;
	const char *rlo = (const char *)row, *rhi = (const char *)(row + 1);
	struct auditcsv_buf b = { NULL, 0, 0, 0 };
	int c;

	for (c = 0; c < AUDITCSV_NCOLS; c++) {
		const struct auditcsv_cell *x = &row->cell[c];

		if (x->p == NULL)
			continue;
		if (!((x->p >= lo && x->p + x->len <= hi) ||
		    (x->p >= rlo && x->p + x->len <= rhi) ||
		    (x->p == row->details && x->len == row->details_len)))
			abort();
	}
	auditcsv_row_put(&b, row);
	if (!b.failed && (b.len < 2 || memcmp(b.p + b.len - 2, "\r\n", 2) != 0))
		abort();
	auditcsv_buf_free(&b);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static struct auditfmt_record r;
	struct auditcsv_zone z = { plus9, NULL };
	struct auditbundle *b = NULL;
	char path[64], err[256];
	uint64_t prev_end = 0, announced = 0;
	size_t i;
	int fd;

	if ((fd = memfd_create("bundle", 0)) == -1)
		return 0;
	if (write(fd, data, size) != (ssize_t)size) {
		close(fd);
		return 0;
	}
	snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	(void)auditbundle_is_bundle(path);
	if (auditbundle_open(path, &b, err, sizeof(err)) != 0) {
		close(fd);
		return 0;
	}
	for (i = 0; i < b->nranges; i++) {
		const struct auditbundle_range *rg = &b->ranges[i];
		struct auditfmt_reader *rd = NULL;
		struct auditfmt_head h;
		const uint8_t *rec;
		uint64_t off;

		if (rg->start > rg->end || rg->end > size ||
		    rg->start < prev_end)
			abort();
		prev_end = rg->end;
		announced += rg->count;
		if (auditfmt_reader_open(b->fd, rg->start, rg->end, &rd, err,
		    sizeof(err)) != 0)
			continue;
		while (auditfmt_reader_next(rd, &rec, &off, &h, err,
		    sizeof(err)) == AUDITFMT_READ_REC) {
			struct auditcsv_row row;

			if (auditfmt_decode(rec, h.len, &r, err,
			    sizeof(err)) != 0)
				continue;
			if (auditcsv_flatten(rec, h.len, &r, &z, &row, err,
			    sizeof(err)) != 0)
				continue;
			check_row(rec, h.len, &row);
			auditcsv_row_clear(&row);
		}
		auditfmt_reader_free(rd);
	}
	/* A records message whose data item never came still counts. */
	if (b->nleaves < announced)
		abort();
	auditbundle_free(b);
	close(fd);
	return 0;
}
