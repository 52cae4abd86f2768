/*
 * mnscan — the readers around lib/mynumber; see mnscan.h for what is read,
 * what is unscannable and what is never kept.
 */
#include "broker/mnscan.h"

#include <errno.h>
#include <iconv.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#include <poppler.h>
#include <libxml/parser.h>
#include <libxml/xmlreader.h>
#include <zip.h>

#include "lib/mynumber.h"

#define BLOCK		(64 * 1024)
#define RATIO_FROM	(1024 * 1024)

enum mode {
	M_TEXT,		/* line and offset */
	M_CSV,
	M_XML,		/* paragraphs of an XML part */
	M_SST,		/* xlsx shared strings: counted per index */
	M_SHEET,	/* xlsx worksheet: cells */
	M_NAME,		/* an entry's own name */
	M_PDF,		/* a PDF page */
};

struct scan {
	struct mnscan_report *r;
	const struct mnscan_limits *lim;
	struct mynumber_scanner *mn;
	enum mode mode;
	bool failed;		/* a bound or error: stop */

	/* where we are */
	const char *part;
	uint64_t row, column, paragraph, name_index, page;
	char sheet[64], cell[16];

	/* xlsx: hits per shared string (saturating), and whether used; one
	 * per workbook, so saved and cleared around a nested archive */
	struct sst {
		uint8_t *hits, *near, *used;
		size_t n, cap;
		uint64_t index;
		bool in_si;
	} sst;

	/* zip accounting */
	uint64_t total;
	uint64_t entry_bytes, entry_comp, entry_size;
	zip_file_t *zf;
	const char *entry_name;

	/* the xmlTextReader of the part being read, for line numbers */
	xmlTextReaderPtr xr;
};

static void
set_reason(struct scan *sc, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
set_reason(struct scan *sc, const char *fmt, ...)
{
	va_list ap;

	sc->failed = true;
	if (sc->r->verdict == MNSCAN_UNSCANNABLE)
		return;		/* the first reason stays */
	sc->r->verdict = MNSCAN_UNSCANNABLE;
	va_start(ap, fmt);
	vsnprintf(sc->r->reason, sizeof(sc->r->reason), fmt, ap);
	va_end(ap);
}

void
mnscan_limits_default(struct mnscan_limits *l)
{
	l->max_total = 4ULL << 30;
	l->max_entry = 1ULL << 30;
	l->max_ratio = 200;
	l->max_entries = 10000;
	l->max_depth = 2;
	l->max_nested = 64ULL << 20;
	l->max_strings = 4000000;
	l->max_pages = 10000;
}

void
mnscan_init(void)
{
	xmlInitParser();
}

/* libxml2 prints errors (with bytes of the input in them) through its
 * generic and structured handlers, some without any parser context (the
 * encoding converters): both are silenced. They are per thread in
 * libxml2, so this is done on every scan. */
static void
xml_quiet(void *ctx, const char *msg, ...)
{
	(void)ctx;
	(void)msg;
}

static void
xml_quiet_structured(void *ctx, xmlErrorPtr err)
{
	(void)ctx;
	(void)err;
}

/* --- names from the file ------------------------------------------------ */

static void
name_hit(void *arg, const struct mynumber_hit *hit)
{
	(void)hit;
	(*(bool *)arg) = true;
}

/* Copies a name taken from the file into out: control bytes and
 * backslashes become '?', cut at a character boundary; when the name holds
 * a My Number, "#<index>" instead (and *hit says so). */
static void
clean_name(const char *in, size_t len, uint64_t index, char *out,
    size_t size, bool *hit)
{
	struct mynumber_scanner *s;
	size_t o = 0;
	bool found = false;

	if ((s = mynumber_scanner_new(name_hit, &found)) != NULL) {
		mynumber_scanner_feed(s, in, len);
		mynumber_scanner_finish(s);
		mynumber_scanner_free(s);
	} else {
		found = true;	/* cannot tell: do not show it */
	}
	if (hit != NULL)
		*hit = found;
	if (found) {
		snprintf(out, size, "#%llu", (unsigned long long)index);
		return;
	}
	for (size_t i = 0; i < len && o + 1 < size; i++) {
		unsigned char c = (unsigned char)in[i];

		if (c < 0x20 || c == 0x7f || c == '\\')
			c = '?';
		out[o++] = (char)c;
	}
	/* cut short: do not end inside a UTF-8 sequence */
	if (o < len) {
		size_t k = o;

		while (k > 0 && ((unsigned char)out[k - 1] & 0xc0) == 0x80)
			k--;
		if (k > 0 && (unsigned char)out[k - 1] >= 0xc0) {
			unsigned char lead = (unsigned char)out[k - 1];
			size_t need = lead >= 0xf0 ? 4 : lead >= 0xe0 ? 3 : 2;

			if (o - (k - 1) < need)
				o = k - 1;
		}
	}
	out[o] = '\0';
}

/* --- hits --------------------------------------------------------------- */

static struct mnscan_finding *
new_finding(struct scan *sc, enum mnscan_where where, bool near)
{
	struct mnscan_report *r = sc->r;
	struct mnscan_finding *f;

	r->count++;
	if (near)
		r->near_keyword++;
	if (r->nfindings >= MNSCAN_MAX_FINDINGS)
		return NULL;
	f = &r->findings[r->nfindings++];
	memset(f, 0, sizeof(*f));
	f->where = where;
	f->near_keyword = near;
	if (sc->part != NULL)
		snprintf(f->part, sizeof(f->part), "%s", sc->part);
	return f;
}

static void
on_hit(void *arg, const struct mynumber_hit *hit)
{
	struct scan *sc = arg;
	struct mnscan_finding *f;

	switch (sc->mode) {
	case M_SST:
		if (sc->sst.in_si && sc->sst.index < sc->sst.cap) {
			if (sc->sst.hits[sc->sst.index] < 255)
				sc->sst.hits[sc->sst.index]++;
			if (hit->near_keyword && sc->sst.near[sc->sst.index] < 255)
				sc->sst.near[sc->sst.index]++;
		}
		return;
	case M_TEXT:
		if ((f = new_finding(sc, MNSCAN_AT_LINE, hit->near_keyword)) != NULL) {
			f->line = hit->line;
			f->offset = hit->offset;
		}
		return;
	case M_CSV:
		if ((f = new_finding(sc, MNSCAN_AT_CSV, hit->near_keyword)) != NULL) {
			f->row = sc->row;
			f->column = sc->column;
			f->line = hit->line;
		}
		return;
	case M_XML:
		if ((f = new_finding(sc, MNSCAN_AT_PARAGRAPH, hit->near_keyword)) != NULL) {
			f->paragraph = sc->paragraph;
			if (sc->xr != NULL)
				f->line = (uint64_t)xmlTextReaderGetParserLineNumber(sc->xr);
		}
		return;
	case M_SHEET:
		if ((f = new_finding(sc, MNSCAN_AT_CELL, hit->near_keyword)) != NULL) {
			snprintf(f->sheet, sizeof(f->sheet), "%s", sc->sheet);
			snprintf(f->cell, sizeof(f->cell), "%s", sc->cell);
		}
		return;
	case M_NAME:
		if ((f = new_finding(sc, MNSCAN_AT_NAME, hit->near_keyword)) != NULL)
			f->index = sc->name_index;
		return;
	case M_PDF:
		if ((f = new_finding(sc, MNSCAN_AT_PAGE, hit->near_keyword)) != NULL)
			f->page = sc->page;
		return;
	}
}

/* --- text: encodings and CSV --------------------------------------------- */

/* Feeds decoded UTF-8 text; in CSV mode cuts it at cells. */
struct csv {
	char delim;
	bool quoted;
	bool after_quote;	/* a quote inside a quoted cell: "" or end */
	bool cr;
};

static void
feed_text(struct scan *sc, struct csv *csv, const char *p, size_t n)
{
	size_t start = 0;

	sc->r->bytes += n;
	if (sc->mode != M_CSV) {
		mynumber_scanner_feed(sc->mn, p, n);
		return;
	}
	for (size_t i = 0; i < n; i++) {
		char c = p[i];
		bool cell_end = false, row_end = false;

		if (csv->quoted) {
			if (csv->after_quote) {
				csv->after_quote = false;
				if (c != '"')
					csv->quoted = false;	/* the closing quote */
				else
					continue;		/* "" */
			} else if (c == '"') {
				csv->after_quote = true;
				continue;
			} else {
				continue;
			}
		}
		if (c == '"') {
			csv->quoted = true;
			continue;
		}
		if (c == csv->delim)
			cell_end = true;
		else if (c == '\n')
			row_end = true;
		if (!cell_end && !row_end)
			continue;
		mynumber_scanner_feed(sc->mn, p + start, i + 1 - start);
		start = i + 1;
		mynumber_scanner_boundary(sc->mn);
		if (row_end) {
			sc->row++;
			sc->column = 1;
		} else {
			sc->column++;
		}
	}
	if (start < n)
		mynumber_scanner_feed(sc->mn, p + start, n - start);
}

static bool
utf8_valid(const unsigned char *p, size_t n)
{
	size_t i = 0;

	while (i < n) {
		unsigned char c = p[i];
		size_t k;

		if (c < 0x80) {
			i++;
			continue;
		}
		if (c >= 0xc2 && c <= 0xdf)
			k = 2;
		else if (c >= 0xe0 && c <= 0xef)
			k = 3;
		else if (c >= 0xf0 && c <= 0xf4)
			k = 4;
		else
			return false;
		if (i + k > n)
			return true;	/* cut by the sample's end */
		for (size_t j = 1; j < k; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
		i += k;
	}
	return true;
}

static bool
name_ends(const char *name, const char *ext)
{
	size_t n, e = strlen(ext);

	if (name == NULL)
		return false;
	n = strlen(name);
	return n >= e && strcasecmp(name + n - e, ext) == 0;
}

/* Reads the whole of fd from offset `from' as text in `enc' (NULL: UTF-8
 * as it is). */
static void
scan_text_fd(struct scan *sc, int fd, off_t from, const char *enc,
    struct csv *csv)
{
	size_t unit = enc != NULL && strncmp(enc, "UTF-16", 6) == 0 ? 2 : 1;
	char *in = malloc(BLOCK), *out = malloc(BLOCK * 3 + 16);
	iconv_t cd = (iconv_t)-1;
	size_t keep = 0;
	off_t pos = from;

	if (in == NULL || out == NULL) {
		set_reason(sc, "out of memory");
		goto done;
	}
	if (enc != NULL && (cd = iconv_open("UTF-8", enc)) == (iconv_t)-1) {
		set_reason(sc, "no converter from %s", enc);
		goto done;
	}
	for (;;) {
		ssize_t n = pread(fd, in + keep, BLOCK - keep, pos);

		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			set_reason(sc, "read error: %s", strerror(errno));
			break;
		}
		pos += n;
		if (cd == (iconv_t)-1) {
			if (n == 0)
				break;
			feed_text(sc, csv, in, (size_t)n);
			continue;
		}
		{
			char *ip = in, *op = out;
			size_t il = keep + (size_t)n, ol = BLOCK * 3 + 16;

			while (il > 0) {
				if (iconv(cd, &ip, &il, &op, &ol) != (size_t)-1)
					break;
				if (errno == EINVAL && n > 0)
					break;	/* incomplete: wait for more */
				if (errno == E2BIG)
					break;	/* cannot happen: out is 3x */
				/* EILSEQ, or EINVAL at the end: a byte that is
				 * not text ends any number and is skipped */
				if (il < unit)
					break;
				ip += unit;
				il -= unit;
				if (ol > 0) {
					*op++ = ' ';
					ol--;
				}
			}
			feed_text(sc, csv, out, (size_t)(op - out));
			explicit_bzero(out, (size_t)(op - out));
			memmove(in, ip, il);
			keep = il;
			if (n == 0)
				break;
		}
	}
done:
	if (cd != (iconv_t)-1)
		iconv_close(cd);
	if (in != NULL)
		explicit_bzero(in, BLOCK);
	if (out != NULL)
		explicit_bzero(out, BLOCK * 3 + 16);
	free(in);
	free(out);
}

/* --- zip and XML ------------------------------------------------------- */

/* Inline elements of WordprocessingML, DrawingML and SpreadsheetML runs:
 * text on either side of them is one text (a number may be split into
 * runs by spelling marks or formatting). Any other element separates. */
static bool
inline_element(const char *ln)
{
	static const char *const names[] = {
		"r", "t", "rPr", "proofErr", "bookmarkStart", "bookmarkEnd",
		"lastRenderedPageBreak", "softHyphen", "noBreakHyphen", "ins",
		"del", "delText", "smartTag", "hyperlink", "fldSimple",
		"instrText", "fldChar", "moveFrom", "moveTo", "permStart",
		"permEnd", "commentRangeStart", "commentRangeEnd", "sdt",
		"sdtContent", "customXml", NULL,
	};

	for (size_t i = 0; names[i] != NULL; i++)
		if (strcmp(ln, names[i]) == 0)
			return true;
	return false;
}

static int
xml_read(void *ctx, char *buf, int len)
{
	struct scan *sc = ctx;
	zip_int64_t n;

	if (sc->failed)
		return -1;
	n = zip_fread(sc->zf, buf, (zip_uint64_t)len);
	if (n < 0) {
		set_reason(sc, "zip entry %s: %s", sc->entry_name,
		    zip_file_strerror(sc->zf));
		return -1;
	}
	sc->entry_bytes += (uint64_t)n;
	sc->total += (uint64_t)n;
	if (sc->total > sc->lim->max_total) {
		set_reason(sc, "archive expands to more than %llu bytes",
		    (unsigned long long)sc->lim->max_total);
		return -1;
	}
	if (sc->entry_bytes > sc->lim->max_entry) {
		set_reason(sc, "zip entry %s expands to more than %llu bytes",
		    sc->entry_name, (unsigned long long)sc->lim->max_entry);
		return -1;
	}
	if (sc->entry_bytes > sc->entry_size) {
		set_reason(sc, "zip entry %s expands beyond its declared size",
		    sc->entry_name);
		return -1;
	}
	if (sc->entry_bytes > RATIO_FROM &&
	    sc->entry_bytes / (sc->entry_comp ? sc->entry_comp : 1) >
	    sc->lim->max_ratio) {
		set_reason(sc, "zip entry %s expands more than %u times",
		    sc->entry_name, sc->lim->max_ratio);
		return -1;
	}
	return (int)n;
}

static int
xml_close(void *ctx)
{
	(void)ctx;
	return 0;
}

static void
sst_grow(struct scan *sc)
{
	size_t cap;
	uint8_t *h, *nr, *u;

	if (sc->sst.n < sc->sst.cap)
		return;
	if (sc->sst.n >= sc->lim->max_strings) {
		set_reason(sc, "more than %u shared strings", sc->lim->max_strings);
		return;
	}
	cap = sc->sst.cap ? sc->sst.cap * 2 : 1024;
	if (cap > sc->lim->max_strings)
		cap = sc->lim->max_strings;
	h = realloc(sc->sst.hits, cap);
	if (h != NULL)
		sc->sst.hits = h;
	nr = realloc(sc->sst.near, cap);
	if (nr != NULL)
		sc->sst.near = nr;
	u = realloc(sc->sst.used, cap);
	if (u != NULL)
		sc->sst.used = u;
	if (h == NULL || nr == NULL || u == NULL) {
		set_reason(sc, "out of memory");
		return;
	}
	memset(sc->sst.hits + sc->sst.cap, 0, cap - sc->sst.cap);
	memset(sc->sst.near + sc->sst.cap, 0, cap - sc->sst.cap);
	memset(sc->sst.used + sc->sst.cap, 0, cap - sc->sst.cap);
	sc->sst.cap = cap;
}

/* A cell of a worksheet: its reference and type, and the shared string
 * index read from <v>. */
struct cellstate {
	bool in_cell, shared, in_v, in_f;
	uint64_t sidx;
	bool sidx_ok;
};

static void
sheet_cell_end(struct scan *sc, struct cellstate *cs)
{
	mynumber_scanner_boundary(sc->mn);
	if (cs->shared && cs->sidx_ok && cs->sidx < sc->sst.n) {
		unsigned k = sc->sst.hits[cs->sidx];

		sc->sst.used[cs->sidx] = 1;
		for (unsigned i = 0; i < k; i++) {
			struct mnscan_finding *f = new_finding(sc, MNSCAN_AT_CELL,
			    i < sc->sst.near[cs->sidx]);

			if (f != NULL) {
				snprintf(f->sheet, sizeof(f->sheet), "%s", sc->sheet);
				snprintf(f->cell, sizeof(f->cell), "%s", sc->cell);
				f->index = cs->sidx;
			}
		}
	}
	memset(cs, 0, sizeof(*cs));
	sc->cell[0] = '\0';
}

static void
sheet_cell_start(struct scan *sc, struct cellstate *cs, xmlTextReaderPtr xr)
{
	xmlChar *ref = xmlTextReaderGetAttribute(xr, BAD_CAST "r");
	xmlChar *t = xmlTextReaderGetAttribute(xr, BAD_CAST "t");
	size_t o = 0;

	mynumber_scanner_boundary(sc->mn);
	memset(cs, 0, sizeof(*cs));
	cs->in_cell = true;
	cs->shared = t != NULL && strcmp((char *)t, "s") == 0;
	/* A reference is letters then digits; anything else is not shown. */
	if (ref != NULL) {
		const char *p = (const char *)ref;

		while (*p >= 'A' && *p <= 'Z' && o < 3)
			sc->cell[o++] = *p++;
		while (*p >= '0' && *p <= '9' && o < 10)
			sc->cell[o++] = *p++;
		if (*p != '\0' || o == 0)
			o = 0;
	}
	if (o == 0)
		o = (size_t)snprintf(sc->cell, sizeof(sc->cell), "?");
	sc->cell[o] = '\0';
	xmlFree(ref);
	xmlFree(t);
}

/* Streams the open entry sc->zf through xmlTextReader in the current
 * mode. */
static void
scan_xml_entry(struct scan *sc)
{
	xmlTextReaderPtr xr;
	struct cellstate cs = { 0 };
	unsigned rpr_depth = 0;
	int ret;

	xr = xmlReaderForIO(xml_read, xml_close, sc, NULL, NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING |
	    XML_PARSE_NOCDATA);
	if (xr == NULL) {
		set_reason(sc, "out of memory");
		return;
	}
	sc->xr = xr;
	sc->paragraph = 0;
	sc->sst.in_si = false;
	while ((ret = xmlTextReaderRead(xr)) == 1) {
		int type = xmlTextReaderNodeType(xr);
		const char *ln = (const char *)xmlTextReaderConstLocalName(xr);
		bool empty;

		if (ln == NULL)
			ln = "";
		switch (type) {
		case XML_READER_TYPE_ELEMENT:
			empty = xmlTextReaderIsEmptyElement(xr) == 1;
			if (sc->mode == M_SST) {
				if (strcmp(ln, "si") == 0) {
					mynumber_scanner_boundary(sc->mn);
					sst_grow(sc);
					if (sc->failed)
						goto out;
					sc->sst.index = sc->sst.n;
					if (empty)
						sc->sst.n++;
					else
						sc->sst.in_si = true;
				} else if (strcmp(ln, "rPh") == 0) {
					mynumber_scanner_boundary(sc->mn);
				}
				break;
			}
			if (sc->mode == M_SHEET) {
				if (strcmp(ln, "c") == 0) {
					sheet_cell_start(sc, &cs, xr);
					if (empty)
						sheet_cell_end(sc, &cs);
				} else if (strcmp(ln, "v") == 0 && !empty) {
					cs.in_v = true;
				} else if (strcmp(ln, "f") == 0 && !empty) {
					cs.in_f = true;
				}
				break;
			}
			if (rpr_depth > 0) {
				if (!empty)
					rpr_depth++;
				break;
			}
			if (strcmp(ln, "rPr") == 0) {
				if (!empty)
					rpr_depth = 1;
				break;
			}
			if (inline_element(ln))
				break;
			mynumber_scanner_boundary(sc->mn);
			if (strcmp(ln, "p") == 0)
				sc->paragraph++;
			break;
		case XML_READER_TYPE_END_ELEMENT:
			if (sc->mode == M_SST) {
				if (strcmp(ln, "si") == 0 && sc->sst.in_si) {
					mynumber_scanner_boundary(sc->mn);
					sc->sst.in_si = false;
					sc->sst.n++;
				} else if (strcmp(ln, "rPh") == 0) {
					mynumber_scanner_boundary(sc->mn);
				}
				break;
			}
			if (sc->mode == M_SHEET) {
				if (strcmp(ln, "c") == 0)
					sheet_cell_end(sc, &cs);
				else if (strcmp(ln, "v") == 0)
					cs.in_v = false;
				else if (strcmp(ln, "f") == 0)
					cs.in_f = false;
				break;
			}
			if (rpr_depth > 0) {
				rpr_depth--;
				break;
			}
			if (!inline_element(ln))
				mynumber_scanner_boundary(sc->mn);
			break;
		case XML_READER_TYPE_TEXT:
		case XML_READER_TYPE_CDATA:
		case XML_READER_TYPE_SIGNIFICANT_WHITESPACE: {
			const char *v = (const char *)xmlTextReaderConstValue(xr);
			size_t n = v != NULL ? strlen(v) : 0;

			if (n == 0)
				break;
			if (sc->mode == M_SHEET) {
				if (cs.in_f || !cs.in_cell)
					break;
				if (cs.shared && cs.in_v) {
					/* the shared string's index, not text */
					cs.sidx_ok = n <= 10;
					cs.sidx = 0;
					for (size_t i = 0; i < n && cs.sidx_ok; i++) {
						if (v[i] < '0' || v[i] > '9')
							cs.sidx_ok = false;
						else
							cs.sidx = cs.sidx * 10 +
							    (uint64_t)(v[i] - '0');
					}
					break;
				}
			}
			if (sc->mode == M_SST && !sc->sst.in_si)
				break;
			sc->r->bytes += n;
			mynumber_scanner_feed(sc->mn, v, n);
			break;
		}
		default:
			break;
		}
		if (sc->failed)
			break;
	}
out:
	mynumber_scanner_boundary(sc->mn);
	sc->sst.in_si = false;
	if (ret < 0 && !sc->failed)
		set_reason(sc, "zip entry %s: not well-formed XML", sc->entry_name);
	sc->xr = NULL;
	xmlFreeTextReader(xr);
}

/* An entry that is not XML: read as UTF-8 text. */
static void
scan_raw_entry(struct scan *sc)
{
	char *buf = malloc(BLOCK);
	int n;

	if (buf == NULL) {
		set_reason(sc, "out of memory");
		return;
	}
	sc->mode = M_TEXT;
	while ((n = xml_read(sc, buf, BLOCK)) > 0) {
		sc->r->bytes += (uint64_t)n;
		mynumber_scanner_feed(sc->mn, buf, (size_t)n);
	}
	mynumber_scanner_boundary(sc->mn);
	explicit_bzero(buf, BLOCK);
	free(buf);
}

static bool
is_xml_name(const char *name)
{
	return name_ends(name, ".xml") || name_ends(name, ".rels") ||
	    name_ends(name, ".vml");
}

static void scan_archive(struct scan *, zip_t *, char (*)[96], unsigned);
static void scan_nested(struct scan *, zip_t *, zip_uint64_t, const char *,
    unsigned);

static void
scan_entry(struct scan *sc, zip_t *za, zip_uint64_t idx, enum mode mode,
    const char *shown, unsigned depth)
{
	zip_stat_t st;
	unsigned char head[4];
	zip_int64_t n;

	zip_stat_init(&st);
	if (zip_stat_index(za, idx, 0, &st) != 0) {
		set_reason(sc, "zip entry #%llu: %s", (unsigned long long)idx,
		    zip_strerror(za));
		return;
	}
	if ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) &&
	    st.encryption_method != ZIP_EM_NONE) {
		set_reason(sc, "zip entry %s is encrypted", shown);
		return;
	}
	if (st.name != NULL && st.name[0] != '\0' &&
	    st.name[strlen(st.name) - 1] == '/')
		return;		/* a directory */
	/* Sizes are checked again while reading: the declared ones may lie. */
	if ((st.valid & ZIP_STAT_SIZE) && st.size > sc->lim->max_entry) {
		set_reason(sc, "zip entry %s expands to more than %llu bytes",
		    shown, (unsigned long long)sc->lim->max_entry);
		return;
	}
	sc->entry_comp = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : 0;
	sc->entry_size = (st.valid & ZIP_STAT_SIZE) ? st.size : UINT64_MAX;
	if (sc->entry_size != UINT64_MAX && sc->entry_size > RATIO_FROM &&
	    sc->entry_size / (sc->entry_comp ? sc->entry_comp : 1) >
	    sc->lim->max_ratio) {
		set_reason(sc, "zip entry %s expands more than %u times",
		    shown, sc->lim->max_ratio);
		return;
	}
	sc->entry_bytes = 0;
	sc->entry_name = shown;
	sc->part = shown;
	if ((sc->zf = zip_fopen_index(za, idx, 0)) == NULL) {
		set_reason(sc, "zip entry %s: %s", shown, zip_strerror(za));
		return;
	}
	/* An archive inside (an embedded workbook in a document): read into
	 * memory, bounded, since a zip is read from its end; beyond the
	 * depth bound, unscannable. */
	n = zip_fread(sc->zf, head, sizeof(head));
	if (n == (zip_int64_t)sizeof(head) && memcmp(head, "PK\3\4", 4) == 0) {
		zip_fclose(sc->zf);
		sc->zf = NULL;
		if (depth >= sc->lim->max_depth)
			set_reason(sc, "zip entry %s is an archive inside the "
			    "archive (nesting depth over %u)", shown,
			    sc->lim->max_depth);
		else
			scan_nested(sc, za, idx, shown, depth);
		return;
	}
	zip_fclose(sc->zf);
	if ((sc->zf = zip_fopen_index(za, idx, 0)) == NULL) {
		set_reason(sc, "zip entry %s: %s", shown, zip_strerror(za));
		return;
	}
	sc->mode = mode;
	if (mode == M_TEXT && is_xml_name(st.name))
		sc->mode = M_XML;
	if (sc->mode == M_TEXT)
		scan_raw_entry(sc);
	else
		scan_xml_entry(sc);
	/* libzip checks the CRC at the end of the data: a read error there
	 * is a damaged entry. */
	zip_fclose(sc->zf);
	sc->zf = NULL;
}

/* --- xlsx sheet names ---------------------------------------------------- */

struct rel {
	char id[64];
	char target[160];
};

struct meta {
	struct scan *sc;
	struct rel *rels;
	size_t nrels, caprels;
	zip_t *za;
	char (*names)[64];	/* per entry index: the sheet's name */
	zip_int64_t nent;
};

static const char ns_rel[] =
    "http://schemas.openxmlformats.org/officeDocument/2006/relationships";
static const char ns_rel_strict[] =
    "http://purl.oclc.org/ooxml/officeDocument/relationships";

static void
rels_element(struct meta *m, xmlTextReaderPtr xr, const char *ln)
{
	xmlChar *id, *target;

	if (strcmp(ln, "Relationship") != 0)
		return;
	id = xmlTextReaderGetAttribute(xr, BAD_CAST "Id");
	target = xmlTextReaderGetAttribute(xr, BAD_CAST "Target");
	if (id != NULL && target != NULL &&
	    m->nrels < m->sc->lim->max_entries) {
		if (m->nrels == m->caprels) {
			size_t cap = m->caprels ? m->caprels * 2 : 16;
			struct rel *r = realloc(m->rels, cap * sizeof(*r));

			if (r != NULL) {
				m->rels = r;
				m->caprels = cap;
			}
		}
		if (m->nrels < m->caprels) {
			struct rel *r = &m->rels[m->nrels++];

			snprintf(r->id, sizeof(r->id), "%s", (char *)id);
			/* relative to xl/, or absolute in the package */
			if (target[0] == '/')
				snprintf(r->target, sizeof(r->target), "%s",
				    (char *)target + 1);
			else
				snprintf(r->target, sizeof(r->target), "xl/%s",
				    (char *)target);
		}
	}
	xmlFree(id);
	xmlFree(target);
}

static void
workbook_element(struct meta *m, xmlTextReaderPtr xr, const char *ln)
{
	xmlChar *name, *id;

	if (strcmp(ln, "sheet") != 0)
		return;
	name = xmlTextReaderGetAttribute(xr, BAD_CAST "name");
	id = xmlTextReaderGetAttributeNs(xr, BAD_CAST "id", BAD_CAST ns_rel);
	if (id == NULL)
		id = xmlTextReaderGetAttributeNs(xr, BAD_CAST "id",
		    BAD_CAST ns_rel_strict);
	for (size_t i = 0; name != NULL && id != NULL && i < m->nrels; i++) {
		zip_int64_t idx;

		if (strcmp(m->rels[i].id, (char *)id) != 0)
			continue;
		idx = zip_name_locate(m->za, m->rels[i].target, 0);
		if (idx >= 0 && idx < m->nent)
			clean_name((char *)name, strlen((char *)name),
			    (uint64_t)idx, m->names[idx],
			    sizeof(m->names[idx]), NULL);
		break;
	}
	xmlFree(name);
	xmlFree(id);
}

/* Reads a small XML part of the package for its elements (through the
 * same bounds as every entry); a failure leaves the names unknown. */
static void
read_meta(struct meta *m, const char *part,
    void (*fn)(struct meta *, xmlTextReaderPtr, const char *))
{
	struct scan *sc = m->sc;
	zip_int64_t idx = zip_name_locate(m->za, part, 0);
	xmlTextReaderPtr xr;
	zip_stat_t st;

	if (idx < 0 || zip_stat_index(m->za, (zip_uint64_t)idx, 0, &st) != 0 ||
	    ((st.valid & ZIP_STAT_ENCRYPTION_METHOD) &&
	    st.encryption_method != ZIP_EM_NONE) ||
	    !(st.valid & ZIP_STAT_SIZE) || st.size > (16u << 20))
		return;
	if ((sc->zf = zip_fopen_index(m->za, (zip_uint64_t)idx, 0)) == NULL)
		return;
	sc->entry_comp = (st.valid & ZIP_STAT_COMP_SIZE) ? st.comp_size : 0;
	sc->entry_size = st.size;
	sc->entry_bytes = 0;
	sc->entry_name = part;
	xr = xmlReaderForIO(xml_read, xml_close, sc, NULL, NULL,
	    XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING);
	while (xr != NULL && xmlTextReaderRead(xr) == 1 && !sc->failed) {
		const char *ln = (const char *)xmlTextReaderConstLocalName(xr);

		if (xmlTextReaderNodeType(xr) == XML_READER_TYPE_ELEMENT &&
		    ln != NULL)
			fn(m, xr, ln);
	}
	if (xr != NULL)
		xmlFreeTextReader(xr);
	zip_fclose(sc->zf);
	sc->zf = NULL;
}

/* The entries of an open archive; prefix is the name of the entry that
 * holds it (NULL for the file itself), depth 1 for the file itself. */
static void
scan_archive(struct scan *sc, zip_t *za, char (*prefix)[96], unsigned depth)
{
	zip_int64_t nent;
	zip_int64_t sst = -1;
	bool xlsx, docx, pptx;
	char (*shown)[96] = NULL;
	char (*sheetnames)[64] = NULL;

	nent = zip_get_num_entries(za, 0);
	if (nent < 0 || (uint64_t)nent > sc->lim->max_entries) {
		set_reason(sc, "archive has more than %u entries",
		    sc->lim->max_entries);
		return;
	}
	xlsx = zip_name_locate(za, "xl/workbook.xml", 0) >= 0;
	docx = zip_name_locate(za, "word/document.xml", 0) >= 0;
	pptx = zip_name_locate(za, "ppt/presentation.xml", 0) >= 0;
	if (depth == 1)
		snprintf(sc->r->format, sizeof(sc->r->format), "%s",
		    xlsx ? "xlsx" : docx ? "docx" : pptx ? "pptx" : "zip");
	if (nent > 0 && (shown = calloc((size_t)nent, sizeof(*shown))) == NULL) {
		set_reason(sc, "out of memory");
		return;
	}
	/* Names first: a name can hold a number, and then is never shown. */
	for (zip_int64_t i = 0; i < nent && !sc->failed; i++) {
		const char *name = zip_get_name(za, (zip_uint64_t)i, 0);
		char clean[96];
		bool hit = false;

		if (name == NULL)
			name = "";
		clean_name(name, strlen(name), (uint64_t)i, clean,
		    sizeof(clean), &hit);
		if (prefix != NULL)
			snprintf(shown[i], sizeof(shown[i]), "%.40s/%.54s",
			    *prefix, clean);
		else
			memcpy(shown[i], clean, sizeof(clean));
		if (hit) {
			sc->mode = M_NAME;
			sc->part = shown[i];
			sc->name_index = (uint64_t)i;
			on_hit(sc, &(struct mynumber_hit){ 0 });
		}
	}
	if (xlsx && nent > 0) {
		/* the sheets' own names, for Sheet!B3 */
		struct meta m = { .sc = sc, .za = za, .nent = nent };

		if ((m.names = calloc((size_t)nent, sizeof(*m.names))) != NULL) {
			read_meta(&m, "xl/_rels/workbook.xml.rels", rels_element);
			read_meta(&m, "xl/workbook.xml", workbook_element);
		}
		sheetnames = m.names;
		free(m.rels);
	}
	if (xlsx && (sst = zip_name_locate(za, "xl/sharedStrings.xml", 0)) >= 0)
		scan_entry(sc, za, (zip_uint64_t)sst, M_SST, shown[sst], depth);
	for (zip_int64_t i = 0; i < nent && !sc->failed; i++) {
		const char *name = zip_get_name(za, (zip_uint64_t)i, 0);
		enum mode m = M_TEXT;

		if (i == sst)
			continue;
		if (xlsx && name != NULL &&
		    strncmp(name, "xl/worksheets/", 14) == 0 &&
		    name_ends(name, ".xml") && strchr(name + 14, '/') == NULL) {
			const char *base = strrchr(shown[i], '/');
			size_t l = base != NULL ? strlen(base + 1) : 0;

			m = M_SHEET;
			/* the workbook's name for it, else the part's */
			if (sheetnames != NULL && sheetnames[i][0] != '\0')
				snprintf(sc->sheet, sizeof(sc->sheet), "%s",
				    sheetnames[i]);
			else if (l > 4 && name_ends(base, ".xml"))
				snprintf(sc->sheet, sizeof(sc->sheet), "%.*s",
				    (int)(l - 4), base + 1);
			else
				snprintf(sc->sheet, sizeof(sc->sheet), "?");
		}
		scan_entry(sc, za, (zip_uint64_t)i, m, shown[i], depth);
	}
	/* Shared strings with a number that no cell uses still are in the
	 * file. */
	for (size_t k = 0; k < sc->sst.n && !sc->failed; k++) {
		if (sc->sst.used[k] || sc->sst.hits[k] == 0)
			continue;
		sc->part = shown[sst];
		for (unsigned j = 0; j < sc->sst.hits[k]; j++) {
			struct mnscan_finding *f = new_finding(sc, MNSCAN_AT_STRING,
			    j < sc->sst.near[k]);

			if (f != NULL)
				f->index = k;
		}
	}
	sc->part = NULL;
	free(shown);
	free(sheetnames);
}

static void
sst_free(struct sst *t)
{
	free(t->hits);
	free(t->near);
	free(t->used);
	memset(t, 0, sizeof(*t));
}

static void
scan_nested(struct scan *sc, zip_t *za, zip_uint64_t idx, const char *shown,
    unsigned depth)
{
	uint64_t size = sc->entry_size;
	char *buf;
	uint64_t got = 0;
	zip_error_t ze;
	zip_source_t *src;
	zip_t *inner;
	struct sst outer;
	char prefix[96];

	if (size == UINT64_MAX || size > sc->lim->max_nested) {
		set_reason(sc, "zip entry %s is an archive inside the archive "
		    "larger than %llu bytes", shown,
		    (unsigned long long)sc->lim->max_nested);
		return;
	}
	if ((buf = malloc(size ? size : 1)) == NULL) {
		set_reason(sc, "out of memory");
		return;
	}
	if ((sc->zf = zip_fopen_index(za, idx, 0)) == NULL) {
		set_reason(sc, "zip entry %s: %s", shown, zip_strerror(za));
		free(buf);
		return;
	}
	sc->entry_bytes = 0;
	while (got < size) {
		int n = xml_read(sc, buf + got,
		    size - got > BLOCK ? BLOCK : (int)(size - got));

		if (n <= 0)
			break;
		got += (uint64_t)n;
	}
	zip_fclose(sc->zf);
	sc->zf = NULL;
	if (got != size && !sc->failed)
		set_reason(sc, "zip entry %s: shorter than declared", shown);
	if (sc->failed)
		goto out;
	zip_error_init(&ze);
	if ((src = zip_source_buffer_create(buf, size, 0, &ze)) == NULL ||
	    (inner = zip_open_from_source(src, ZIP_RDONLY, &ze)) == NULL) {
		if (src != NULL)
			zip_source_free(src);
		set_reason(sc, "zip entry %s: an archive inside that cannot be "
		    "read: %s", shown, zip_error_strerror(&ze));
		zip_error_fini(&ze);
		goto out;
	}
	zip_error_fini(&ze);
	snprintf(prefix, sizeof(prefix), "%s", shown);
	outer = sc->sst;
	memset(&sc->sst, 0, sizeof(sc->sst));
	scan_archive(sc, inner, &prefix, depth + 1);
	sst_free(&sc->sst);
	sc->sst = outer;
	zip_discard(inner);
out:
	explicit_bzero(buf, size);
	free(buf);
}

static void
scan_zip(struct scan *sc, int fd)
{
	zip_t *za;
	int err = 0, dupfd;

	if ((dupfd = dup(fd)) < 0 || lseek(dupfd, 0, SEEK_SET) < 0) {
		set_reason(sc, "cannot read the file: %s", strerror(errno));
		if (dupfd >= 0)
			close(dupfd);
		return;
	}
	if ((za = zip_fdopen(dupfd, ZIP_RDONLY, &err)) == NULL) {
		zip_error_t ze;

		close(dupfd);
		zip_error_init_with_code(&ze, err);
		set_reason(sc, "not a readable zip archive: %s",
		    zip_error_strerror(&ze));
		zip_error_fini(&ze);
		return;
	}
	scan_archive(sc, za, NULL, 1);
	zip_discard(za);
}

/* --- PDF ---------------------------------------------------------------- */

static void
scan_pdf(struct scan *sc, int fd)
{
	PopplerDocument *doc;
	GError *err = NULL;
	int dupfd, npages;

	if ((dupfd = dup(fd)) < 0 || lseek(dupfd, 0, SEEK_SET) < 0) {
		set_reason(sc, "cannot read the file: %s", strerror(errno));
		if (dupfd >= 0)
			close(dupfd);
		return;
	}
	/* poppler owns dupfd from here on, even when it fails */
	if ((doc = poppler_document_new_from_fd(dupfd, NULL, &err)) == NULL) {
		if (err != NULL && g_error_matches(err, POPPLER_ERROR,
		    POPPLER_ERROR_ENCRYPTED))
			set_reason(sc, "PDF is encrypted (needs a password)");
		else
			set_reason(sc, "not a readable PDF");
		g_clear_error(&err);
		return;
	}
	npages = poppler_document_get_n_pages(doc);
	if (npages < 0 || (uint32_t)npages > sc->lim->max_pages) {
		set_reason(sc, "PDF has more than %u pages", sc->lim->max_pages);
		g_object_unref(doc);
		return;
	}
	sc->mode = M_PDF;
	for (int i = 0; i < npages && !sc->failed; i++) {
		PopplerPage *page = poppler_document_get_page(doc, i);
		char *text;

		if (page == NULL) {
			set_reason(sc, "PDF page %d cannot be read", i + 1);
			break;
		}
		sc->page = (uint64_t)i + 1;
		if ((text = poppler_page_get_text(page)) != NULL) {
			size_t n = strlen(text);

			sc->r->bytes += n;
			mynumber_scanner_feed(sc->mn, text, n);
			mynumber_scanner_boundary(sc->mn);
			explicit_bzero(text, n);
			g_free(text);
		}
		g_object_unref(page);
	}
	g_object_unref(doc);
}

/* --- entry point ------------------------------------------------------- */

int
mnscan_fd(int fd, const char *name, const struct mnscan_limits *limits,
    struct mnscan_report *out)
{
	struct mnscan_limits def;
	struct scan sc;
	unsigned char head[BLOCK];
	ssize_t n;
	struct csv csv = { 0 };

	if (out == NULL)
		return errno = EINVAL, -1;
	memset(out, 0, sizeof(*out));
	if (limits == NULL) {
		mnscan_limits_default(&def);
		limits = &def;
	}
	memset(&sc, 0, sizeof(sc));
	sc.r = out;
	sc.lim = limits;
	sc.row = sc.column = 1;
	if (fd < 0) {
		set_reason(&sc, "no file");
		return errno = EINVAL, -1;
	}
	xmlSetGenericErrorFunc(NULL, xml_quiet);
	xmlSetStructuredErrorFunc(NULL, xml_quiet_structured);
	if ((sc.mn = mynumber_scanner_new(on_hit, &sc)) == NULL) {
		set_reason(&sc, "out of memory");
		return 0;
	}
	do
		n = pread(fd, head, sizeof(head), 0);
	while (n < 0 && errno == EINTR);
	if (n < 0) {
		set_reason(&sc, "read error: %s", strerror(errno));
		goto done;
	}
	if (name_ends(name, ".csv") || name_ends(name, ".tsv")) {
		sc.mode = M_CSV;
		csv.delim = name_ends(name, ".tsv") ? '\t' : ',';
	}
	if (n >= 4 && (memcmp(head, "PK\3\4", 4) == 0 ||
	    memcmp(head, "PK\5\6", 4) == 0)) {
		if (limits->max_depth < 1)
			set_reason(&sc, "archive: nesting depth over %u",
			    limits->max_depth);
		else
			scan_zip(&sc, fd);
	} else if (n >= 8 && memcmp(head, "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", 8) == 0) {
		snprintf(out->format, sizeof(out->format), "ole2");
		set_reason(&sc, "OLE2 compound file (an encrypted Office document "
		    "or a legacy .doc/.xls/.ppt): not inspected");
	} else if (n >= 5 && memcmp(head, "%PDF-", 5) == 0) {
		snprintf(out->format, sizeof(out->format), "pdf");
		scan_pdf(&sc, fd);
	} else if (n >= 2 && head[0] == 0xff && head[1] == 0xfe) {
		snprintf(out->format, sizeof(out->format), "utf-16le");
		scan_text_fd(&sc, fd, 2, "UTF-16LE", &csv);
	} else if (n >= 2 && head[0] == 0xfe && head[1] == 0xff) {
		snprintf(out->format, sizeof(out->format), "utf-16be");
		scan_text_fd(&sc, fd, 2, "UTF-16BE", &csv);
	} else if (utf8_valid(head, (size_t)n)) {
		snprintf(out->format, sizeof(out->format), "utf-8");
		scan_text_fd(&sc, fd, 0, NULL, &csv);
	} else {
		snprintf(out->format, sizeof(out->format), "shift_jis");
		scan_text_fd(&sc, fd, 0, "CP932", &csv);
	}
	if (csv.delim != 0 && out->format[0] == 'u') {
		char enc[sizeof(out->format)];

		memcpy(enc, out->format, sizeof(enc));
		snprintf(out->format, sizeof(out->format), "%s/%.8s",
		    csv.delim == ',' ? "csv" : "tsv", enc);
	} else if (csv.delim != 0 && out->format[0] == 's') {
		snprintf(out->format, sizeof(out->format), "%s/shift_jis",
		    csv.delim == ',' ? "csv" : "tsv");
	}
done:
	mynumber_scanner_finish(sc.mn);
	mynumber_scanner_free(sc.mn);
	explicit_bzero(head, sizeof(head));
	sst_free(&sc.sst);
	if (out->verdict != MNSCAN_UNSCANNABLE)
		out->verdict = out->count > 0 ? MNSCAN_FOUND : MNSCAN_CLEAN;
	return 0;
}

void
mnscan_finding_format(const struct mnscan_finding *f, char *buf, size_t size)
{
	const char *kw = f->near_keyword ? " (near keyword)" : "";

	switch (f->where) {
	case MNSCAN_AT_LINE:
		snprintf(buf, size, "%s%sline %llu (offset %llu)%s", f->part,
		    f->part[0] ? " " : "", (unsigned long long)f->line,
		    (unsigned long long)f->offset, kw);
		break;
	case MNSCAN_AT_CSV:
		snprintf(buf, size, "row %llu, column %llu%s",
		    (unsigned long long)f->row, (unsigned long long)f->column, kw);
		break;
	case MNSCAN_AT_PARAGRAPH:
		snprintf(buf, size, "%s paragraph %llu%s", f->part,
		    (unsigned long long)f->paragraph, kw);
		break;
	case MNSCAN_AT_CELL:
		snprintf(buf, size, "%s %s!%s%s", f->part, f->sheet, f->cell, kw);
		break;
	case MNSCAN_AT_STRING:
		snprintf(buf, size, "%s shared string %llu (no cell)%s", f->part,
		    (unsigned long long)f->index, kw);
		break;
	case MNSCAN_AT_NAME:
		snprintf(buf, size, "name of zip entry %s", f->part);
		break;
	case MNSCAN_AT_PAGE:
		snprintf(buf, size, "page %llu%s", (unsigned long long)f->page, kw);
		break;
	}
}
