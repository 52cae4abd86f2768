/*
 * mnscan — looks for My Numbers in one file: the readers around the
 * detector of lib/mynumber.h.
 *
 * Why here and not in lib/: the readers pull in libzip, libxml2 and iconv
 * and are meant to run only inside the broker's inspection step (off the
 * event loop, in a worker thread or a sandboxed child); the client and the
 * other tools need none of it. The detector itself stays in lib/ with no
 * dependencies.
 *
 * What it reads (the kind is decided by content; the name is only a hint
 * for CSV/TSV):
 *   - text: UTF-8 (with or without BOM), UTF-16 LE/BE with a BOM, and
 *     anything that is not valid UTF-8 as Shift_JIS (CP932), converted by
 *     iconv in blocks; JSON, XML and HTML are read as text. Location: line
 *     and byte offset (for converted text, the offset in the UTF-8 text).
 *   - CSV/TSV (name ending .csv / .tsv, any of the encodings above): the
 *     cell (row, column, 1-based; quotes per RFC 4180). A number never
 *     joins two cells.
 *   - PDF: the text of each page as poppler (poppler-glib) extracts it;
 *     never two pages joined. Location: page. An encrypted PDF (one that
 *     needs a password to open) is unscannable; so are more pages than
 *     limits.max_pages and a PDF poppler cannot read. Poppler reads the
 *     file itself (random access through the descriptor) and may print
 *     its own parse errors on stderr, which the calling process must send
 *     to /dev/null (poppler-glib offers no way to silence them).
 *   - zip, and in it Office Open XML (docx, xlsx, pptx): each entry is
 *     streamed from libzip into libxml2's xmlTextReader; never two entries
 *     joined. docx/pptx: part and paragraph; xlsx: sheet and cell
 *     (Sheet1!B3), shared strings mapped to every cell that uses them.
 *     Other entries are read as text. An archive inside (e.g. a workbook
 *     embedded in a document) is read into memory (limits.max_nested) and
 *     scanned in turn, down to limits.max_depth; its parts are named
 *     "outer/inner".
 * What it refuses to call clean (verdict MNSCAN_UNSCANNABLE, with the
 * reason): an encrypted zip entry; an OLE2 file (what an encrypted Office
 * document or a legacy .doc/.xls is); an encrypted PDF; an archive inside the archive beyond limits.max_depth or
 * larger than limits.max_nested; more
 * entries, more expanded bytes, a larger entry or a higher ratio than the
 * limits; an XML part that does not parse; a read error.
 *
 * Never stored or returned: the digits. A finding is where (part, sheet,
 * cell, line, paragraph, offset), never what; names taken from the file
 * (entry and sheet names) are made printable ASCII/UTF-8, cut to size and
 * replaced by "#<index>" when they themselves hold a My Number. Buffers
 * that held file content are zeroed before they are freed. libxml2's own
 * buffers are not: the caller should run mnscan in a process that ends
 * after the scan.
 *
 * No global state besides libxml2's: call mnscan_init once from the main
 * thread before any thread uses mnscan_fd; then each thread may scan its
 * own files at the same time. mnscan_fd silences the calling thread's
 * libxml2 error handlers (they would print bytes of the file on stderr).
 */
#ifndef SEKISHO_MNSCAN_H
#define SEKISHO_MNSCAN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

enum mnscan_verdict {
	MNSCAN_CLEAN,		/* everything read, nothing found */
	MNSCAN_FOUND,		/* everything read, count > 0 */
	MNSCAN_UNSCANNABLE,	/* some part not read: see reason; count
				   and findings cover what was read */
};

struct mnscan_limits {
	uint64_t max_total;	/* bytes expanded from all entries */
	uint64_t max_entry;	/* bytes expanded from one entry */
	uint32_t max_ratio;	/* expanded / compressed of one entry,
				   checked past 1 MiB expanded */
	uint32_t max_entries;	/* entries in one archive */
	uint32_t max_depth;	/* archives in archives: 1 = the file itself
				   may be one, 2 = and an archive in it (an
				   embedded workbook); deeper: unscannable */
	uint64_t max_nested;	/* an archive inside is read into memory (a
				   zip is read from its end): its size */
	uint32_t max_strings;	/* xlsx shared strings */
	uint32_t max_pages;	/* PDF pages */
};

/* 4 GiB total, 1 GiB per entry, ratio 200, 10,000 entries, depth 2,
 * 64 MiB for an archive inside,
 * 4,000,000 shared strings, 10,000 PDF pages. */
void mnscan_limits_default(struct mnscan_limits *l);

enum mnscan_where {
	MNSCAN_AT_LINE,		/* text: line, offset */
	MNSCAN_AT_CSV,		/* CSV/TSV: row, column */
	MNSCAN_AT_PARAGRAPH,	/* XML part: part, paragraph (0 if none), line */
	MNSCAN_AT_CELL,		/* xlsx: part, sheet, cell */
	MNSCAN_AT_STRING,	/* xlsx shared string used by no cell: index */
	MNSCAN_AT_NAME,		/* the name of a zip entry: part is "#<index>" */
	MNSCAN_AT_PAGE,		/* PDF: page (1-based) */
};

struct mnscan_finding {
	enum mnscan_where where;
	bool near_keyword;
	char part[96];		/* zip entry name, "" for a plain file */
	char sheet[64];		/* xlsx sheet name */
	char cell[16];		/* xlsx cell reference, e.g. "B3" */
	uint64_t line, offset, row, column, paragraph, index, page;
};

#define MNSCAN_MAX_FINDINGS 32

/* Fixed size, no pointers: can be copied as it is, e.g. from a child. */
struct mnscan_report {
	enum mnscan_verdict verdict;
	char format[16];	/* "utf-8", "shift_jis", "utf-16le",
				   "csv/utf-8", "docx", "xlsx", "pptx", "zip",
				   "pdf", ... */
	char reason[160];	/* why unscannable, English, no content */
	uint64_t count;		/* hits (an xlsx shared string counts once per
				   cell that uses it) */
	uint64_t near_keyword;	/* of which near 個人番号 / マイナンバー */
	uint64_t bytes;		/* bytes of text scanned */
	size_t nfindings;	/* the first MNSCAN_MAX_FINDINGS hits */
	struct mnscan_finding findings[MNSCAN_MAX_FINDINGS];
};

/* Initialises libxml2; call once before threads use mnscan_fd. */
void mnscan_init(void);

/* Scans the file open on fd (read from offset 0; a zip moves the fd's
 * offset; fd stays open and owned by the caller). name is
 * the sender's file name or NULL, used only to choose CSV/TSV reading;
 * limits NULL means the defaults. Fills *out in every case and returns 0;
 * -1 (EINVAL) only for a NULL out or bad fd, with *out unscannable. */
int mnscan_fd(int fd, const char *name, const struct mnscan_limits *limits,
    struct mnscan_report *out);

/* One line for an audit record or a page, e.g.
 * "xl/worksheets/sheet1.xml Sheet1!B3" or "line 12 (offset 345)". */
void mnscan_finding_format(const struct mnscan_finding *f, char *buf,
    size_t size);

#endif
