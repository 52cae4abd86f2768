/*
 * Tests for broker/mnscan (the My Number detector's readers). Fixtures are
 * made here: text in UTF-8, Shift_JIS (converted with iconv from the UTF-8
 * source) and UTF-16, CSV, and zip archives written with libzip (xlsx with
 * shared strings and inline cells, docx with a number split into runs,
 * a bomb, an encrypted entry, an archive inside, many entries). Every
 * string a report holds is checked never to contain the digits found.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <errno.h>
#include <fcntl.h>
#include <iconv.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include <zip.h>

#include "broker/mnscan.h"

/* Valid: 123456789018 (check worked in test_mynumber), 100000000005;
 * invalid: 123456789010. */
#define VALID1 "123456789018"
#define VALID2 "100000000005"
#define WRONG "123456789010"

static char tmpdir[] = "/tmp/mnscan-test-XXXXXX";
static int fileno_;

static char *
path_new(const char *ext)
{
	char *p;

	assert_true(asprintf(&p, "%s/f%d%s", tmpdir, fileno_++, ext) > 0);
	return p;
}

static int
write_file(const char *path, const void *data, size_t len)
{
	int fd = open(path, O_RDWR | O_CREAT | O_TRUNC, 0600);

	assert_true(fd >= 0);
	assert_int_equal(write(fd, data, len), (ssize_t)len);
	return fd;
}

/* Every string of the report: no 4 digits of a found number in a row may
 * appear (a whole number, or a group of one). */
static void
assert_no_digits(const struct mnscan_report *r, const char *const *nums)
{
	char line[512];

	for (size_t k = 0; nums[k] != NULL; k++) {
		for (size_t g = 0; g + 4 <= 12; g += 4) {
			char grp[5];

			memcpy(grp, nums[k] + g, 4);
			grp[4] = '\0';
			assert_null(strstr(r->reason, grp));
			assert_null(strstr(r->format, grp));
			for (size_t i = 0; i < r->nfindings; i++) {
				const struct mnscan_finding *f = &r->findings[i];

				assert_null(strstr(f->part, grp));
				assert_null(strstr(f->sheet, grp));
				assert_null(strstr(f->cell, grp));
				mnscan_finding_format(f, line, sizeof(line));
				assert_null(strstr(line, grp));
			}
		}
	}
}

static const char *const found_nums[] = { VALID1, VALID2, NULL };

static struct mnscan_report
scan_data(const char *ext, const void *data, size_t len)
{
	struct mnscan_report r;
	char *p = path_new(ext);
	int fd = write_file(p, data, len);

	assert_int_equal(mnscan_fd(fd, p, NULL, &r), 0);
	close(fd);
	free(p);
	assert_no_digits(&r, found_nums);
	return r;
}

static struct mnscan_report
scan_str(const char *ext, const char *s)
{
	return scan_data(ext, s, strlen(s));
}

static size_t
convert(const char *to, const char *in, char *out, size_t cap)
{
	iconv_t cd = iconv_open(to, "UTF-8");
	char *ip = (char *)in, *op = out;
	size_t il = strlen(in), ol = cap;

	assert_true(cd != (iconv_t)-1);
	assert_true(iconv(cd, &ip, &il, &op, &ol) != (size_t)-1);
	iconv_close(cd);
	return (size_t)(op - out);
}

static const char text_src[] =
    "申請書\n"
    "氏名 山田太郎 電話 090-1234-5678\n"
    "個人番号 " VALID1 "\n"
    "管理番号 " WRONG " 法人番号 1" VALID1 "\n"
    "\xef\xbc\x91\xef\xbc\x90\xef\xbc\x90\xef\xbc\x90" "-0000-0005\n";

static void
check_text_report(const struct mnscan_report *r, const char *format)
{
	assert_int_equal(r->verdict, MNSCAN_FOUND);
	assert_string_equal(r->format, format);
	assert_int_equal(r->count, 2);
	/* both: a keyword reaches over lines, not over MYNUMBER_NEAR */
	assert_int_equal(r->near_keyword, 2);
	assert_int_equal(r->nfindings, 2);
	assert_int_equal(r->findings[0].where, MNSCAN_AT_LINE);
	assert_int_equal(r->findings[0].line, 3);
	assert_true(r->findings[0].near_keyword);
	assert_int_equal(r->findings[1].line, 5);
	assert_true(r->findings[1].near_keyword);
}

static void
test_text_encodings(void **state)
{
	char buf[1024];
	size_t n;
	struct mnscan_report r;

	(void)state;
	r = scan_str(".txt", text_src);
	check_text_report(&r, "utf-8");
	/* offset of the first: in the file as it is */
	assert_int_equal(r.findings[0].offset,
	    (uint64_t)(strstr(text_src, VALID1) - text_src));

	n = convert("CP932", text_src, buf, sizeof(buf));
	r = scan_data(".txt", buf, n);
	check_text_report(&r, "shift_jis");

	buf[0] = (char)0xff;
	buf[1] = (char)0xfe;
	n = convert("UTF-16LE", text_src, buf + 2, sizeof(buf) - 2);
	r = scan_data(".txt", buf, n + 2);
	check_text_report(&r, "utf-16le");

	buf[0] = (char)0xfe;
	buf[1] = (char)0xff;
	n = convert("UTF-16BE", text_src, buf + 2, sizeof(buf) - 2);
	r = scan_data(".txt", buf, n + 2);
	check_text_report(&r, "utf-16be");

	/* with a UTF-8 BOM */
	snprintf(buf, sizeof(buf), "\xef\xbb\xbf%s", text_src);
	r = scan_str(".txt", buf);
	check_text_report(&r, "utf-8");
}

static void
test_text_clean(void **state)
{
	struct mnscan_report r;

	(void)state;
	r = scan_str(".txt", "電話 03-1234-5678 / 090-1234-5678\n法人番号 "
	    "1" VALID1 "\n" WRONG "\n" VALID1 "99\n1-" "1234-5678-9018\n");
	assert_int_equal(r.verdict, MNSCAN_CLEAN);
	assert_int_equal(r.count, 0);
	r = scan_str(".json", "{\"id\": \"" VALID1 "\"}");
	assert_int_equal(r.verdict, MNSCAN_FOUND);
	r = scan_str(".txt", "");
	assert_int_equal(r.verdict, MNSCAN_CLEAN);
}

static void
test_csv_cells(void **state)
{
	struct mnscan_report r;
	char buf[512];
	size_t n;

	(void)state;
	r = scan_str(".csv", "番号,氏名,備考\n"
	    "1,山田,\"" VALID1 "\"\n"
	    "2,\"佐藤, \"\"花子\"\"\",x " VALID2 "\n"
	    "123456,789018,x\n");
	assert_int_equal(r.verdict, MNSCAN_FOUND);
	assert_string_equal(r.format, "csv/utf-8");
	/* the number split over two cells (row 4) is not one */
	assert_int_equal(r.count, 2);
	assert_int_equal(r.findings[0].where, MNSCAN_AT_CSV);
	assert_int_equal(r.findings[0].row, 2);
	assert_int_equal(r.findings[0].column, 3);
	assert_int_equal(r.findings[1].row, 3);
	assert_int_equal(r.findings[1].column, 3);

	r = scan_str(".tsv", "a\tb\n\t" VALID1 "\n");
	assert_string_equal(r.format, "tsv/utf-8");
	assert_int_equal(r.count, 1);
	assert_int_equal(r.findings[0].row, 2);
	assert_int_equal(r.findings[0].column, 2);

	n = convert("CP932", "氏名,番号\n山田," VALID1 "\n", buf, sizeof(buf));
	r = scan_data(".csv", buf, n);
	assert_string_equal(r.format, "csv/shift_jis");
	assert_int_equal(r.count, 1);
	assert_int_equal(r.findings[0].row, 2);
	assert_int_equal(r.findings[0].column, 2);
}

/* --- zip fixtures ------------------------------------------------------- */

struct entry {
	const char *name;
	const char *data;	/* NULL: data_len bytes of 'a' */
	size_t data_len;
	bool encrypt;
};

static char *
make_zip(const struct entry *e)
{
	char *p = path_new(".zip");
	int err;
	zip_t *za = zip_open(p, ZIP_CREATE | ZIP_TRUNCATE, &err);

	assert_non_null(za);
	for (; e->name != NULL; e++) {
		zip_source_t *src;
		zip_int64_t idx;
		const void *data = e->data;
		size_t len = e->data != NULL && e->data_len == 0 ?
		    strlen(e->data) : e->data_len;

		if (data == NULL) {
			char *big = malloc(len);

			assert_non_null(big);
			memset(big, 'a', len);
			src = zip_source_buffer(za, big, len, 1);
		} else {
			src = zip_source_buffer(za, data, len, 0);
		}
		assert_non_null(src);
		assert_true((idx = zip_file_add(za, e->name, src, 0)) >= 0);
		if (e->encrypt)
			assert_int_equal(zip_file_set_encryption(za,
			    (zip_uint64_t)idx, ZIP_EM_AES_256, "secret"), 0);
	}
	assert_int_equal(zip_close(za), 0);
	return p;
}

static struct mnscan_report
scan_path(const char *p, const struct mnscan_limits *lim)
{
	struct mnscan_report r;
	int fd = open(p, O_RDONLY);

	assert_true(fd >= 0);
	assert_int_equal(mnscan_fd(fd, p, lim, &r), 0);
	close(fd);
	assert_no_digits(&r, found_nums);
	return r;
}

static const char ct[] = "<?xml version=\"1.0\"?><Types "
    "xmlns=\"http://schemas.openxmlformats.org/package/2006/content-types\"/>";

static void
test_xlsx_cells(void **state)
{
	/* shared string 1 holds a number and is used by B2 and C5; shared
	 * string 2 holds one in rich text runs and no cell uses it; sheet2
	 * has an inline string and a numeric cell; D1 holds a shared-string
	 * index that happens to be... just an index. */
	static const char sst[] =
	    "<?xml version=\"1.0\"?><sst xmlns=\"http://schemas.openxmlformats."
	    "org/spreadsheetml/2006/main\" count=\"3\" uniqueCount=\"3\">"
	    "<si><t>氏名</t></si>"
	    "<si><t>個人番号 " VALID1 "</t></si>"
	    "<si><r><t>1000</t></r><r><rPr><b/></rPr><t>0000</t></r><r><t>0005</t></r></si>"
	    "<si><t>123456</t><rPh><t>789018</t></rPh></si>"
	    "</sst>";
	static const char sheet1[] =
	    "<?xml version=\"1.0\"?><worksheet xmlns=\"http://schemas."
	    "openxmlformats.org/spreadsheetml/2006/main\"><sheetData>"
	    "<row r=\"1\"><c r=\"A1\" t=\"s\"><v>0</v></c>"
	    "<c r=\"D1\"><v>" WRONG "</v></c></row>"
	    "<row r=\"2\"><c r=\"B2\" t=\"s\"><v>1</v></c>"
	    "<c r=\"C2\" t=\"s\"><v>3</v></c></row>"
	    "<row r=\"5\"><c r=\"C5\" t=\"s\"><v>1</v></c></row>"
	    "</sheetData></worksheet>";
	static const char sheet2[] =
	    "<?xml version=\"1.0\"?><worksheet xmlns=\"http://schemas."
	    "openxmlformats.org/spreadsheetml/2006/main\"><sheetData>"
	    "<row r=\"3\"><c r=\"B3\" t=\"inlineStr\"><is><t>" VALID2 "</t></is></c>"
	    "<c r=\"C3\"><f>SUM(A1:A2)</f><v>" VALID1 "</v></c>"
	    "<c r=\"D3\"><v>123456</v></c><c r=\"E3\"><v>789018</v></c></row>"
	    "</sheetData></worksheet>";
	const struct entry e[] = {
		{ "[Content_Types].xml", ct, 0, false },
		{ "xl/worksheets/sheet1.xml", sheet1, 0, false },
		{ "xl/workbook.xml", "<workbook/>", 0, false },
		{ "xl/worksheets/sheet2.xml", sheet2, 0, false },
		{ "xl/sharedStrings.xml", sst, 0, false },
		{ NULL, NULL, 0, false },
	};
	char *p = make_zip(e);
	struct mnscan_report r = scan_path(p, NULL);
	char line[256];

	(void)state;
	assert_int_equal(r.verdict, MNSCAN_FOUND);
	assert_string_equal(r.format, "xlsx");
	/* sheet1 B2, C5 (shared), sheet2 B3 (inline), C3 (value),
	 * shared string 2 used by no cell */
	assert_int_equal(r.count, 5);
	assert_int_equal(r.near_keyword, 2);
	assert_int_equal(r.nfindings, 5);
	mnscan_finding_format(&r.findings[0], line, sizeof(line));
	assert_string_equal(line,
	    "xl/worksheets/sheet1.xml sheet1!B2 (near keyword)");
	assert_string_equal(r.findings[1].cell, "C5");
	assert_true(r.findings[1].near_keyword);
	assert_string_equal(r.findings[2].sheet, "sheet2");
	assert_string_equal(r.findings[2].cell, "B3");
	assert_string_equal(r.findings[3].cell, "C3");
	assert_int_equal(r.findings[4].where, MNSCAN_AT_STRING);
	assert_int_equal(r.findings[4].index, 2);
	assert_string_equal(r.findings[4].part, "xl/sharedStrings.xml");
	free(p);
}

/* Sheets are named as the workbook names them (through its
 * relationships, relative or absolute targets); a name holding a My
 * Number is not shown. */
static void
test_xlsx_sheet_names(void **state)
{
	static const char wb[] =
	    "<workbook xmlns=\"http://schemas.openxmlformats.org/spreadsheetml/"
	    "2006/main\" xmlns:r=\"http://schemas.openxmlformats.org/"
	    "officeDocument/2006/relationships\"><sheets>"
	    "<sheet name=\"名簿\" sheetId=\"1\" r:id=\"rId1\"/>"
	    "<sheet name=\"" VALID1 "\" sheetId=\"2\" r:id=\"rId2\"/>"
	    "</sheets></workbook>";
	static const char rels[] =
	    "<Relationships xmlns=\"http://schemas.openxmlformats.org/package/"
	    "2006/relationships\">"
	    "<Relationship Id=\"rId2\" Type=\"x/worksheet\" "
	    "Target=\"/xl/worksheets/sheet2.xml\"/>"
	    "<Relationship Id=\"rId1\" Type=\"x/worksheet\" "
	    "Target=\"worksheets/sheet1.xml\"/></Relationships>";
	static const char sheet[] = "<worksheet><sheetData><row><c r=\"C7\" "
	    "t=\"inlineStr\"><is><t>" VALID2 "</t></is></c></row></sheetData>"
	    "</worksheet>";
	const struct entry e[] = {
		{ "[Content_Types].xml", ct, 0, false },
		{ "xl/workbook.xml", wb, 0, false },
		{ "xl/_rels/workbook.xml.rels", rels, 0, false },
		{ "xl/worksheets/sheet1.xml", sheet, 0, false },
		{ "xl/worksheets/sheet2.xml", sheet, 0, false },
		{ NULL, NULL, 0, false },
	};
	char *p = make_zip(e);
	struct mnscan_report r = scan_path(p, NULL);
	char line[256];

	(void)state;
	assert_int_equal(r.count, 2);
	assert_string_equal(r.findings[0].sheet, "名簿");
	mnscan_finding_format(&r.findings[0], line, sizeof(line));
	assert_string_equal(line, "xl/worksheets/sheet1.xml 名簿!C7");
	assert_string_equal(r.findings[1].sheet, "#4");
	free(p);
}

static void
test_docx_runs_and_paragraphs(void **state)
{
	/* The number is split into runs with a spelling mark between them:
	 * one number. Two paragraphs each with half of another: none. */
	static const char doc[] =
	    "<?xml version=\"1.0\"?><w:document xmlns:w=\"http://schemas."
	    "openxmlformats.org/wordprocessingml/2006/main\"><w:body>"
	    "<w:p><w:r><w:t>マイナンバーは</w:t></w:r></w:p>"
	    "<w:p><w:r><w:rPr><w:b/></w:rPr><w:t>1234</w:t></w:r>"
	    "<w:proofErr w:type=\"spellStart\"/><w:r><w:t xml:space=\"preserve\">-5678-</w:t></w:r>"
	    "<w:r><w:rPr><w:sz w:val=\"24\"/></w:rPr><w:t>9018</w:t></w:r></w:p>"
	    "<w:p><w:r><w:t>100000</w:t></w:r></w:p>"
	    "<w:p><w:r><w:t>000005</w:t></w:r></w:p>"
	    "<w:tbl><w:tr><w:tc><w:p><w:r><w:t>" VALID2 "</w:t></w:r></w:p></w:tc></w:tr></w:tbl>"
	    "</w:body></w:document>";
	const struct entry e[] = {
		{ "[Content_Types].xml", ct, 0, false },
		{ "word/document.xml", doc, 0, false },
		{ "docProps/core.xml", "<cp:coreProperties xmlns:cp=\"x\">"
		    "<cp:keywords>none</cp:keywords></cp:coreProperties>", 0, false },
		{ NULL, NULL, 0, false },
	};
	char *p = make_zip(e);
	struct mnscan_report r = scan_path(p, NULL);

	(void)state;
	assert_string_equal(r.format, "docx");
	assert_int_equal(r.count, 2);
	assert_int_equal(r.findings[0].where, MNSCAN_AT_PARAGRAPH);
	assert_string_equal(r.findings[0].part, "word/document.xml");
	assert_int_equal(r.findings[0].paragraph, 2);
	assert_int_equal(r.findings[1].paragraph, 5);
	free(p);
}

static void
test_pptx_slides(void **state)
{
	static const char slide[] =
	    "<p:sld xmlns:p=\"p\" xmlns:a=\"a\"><p:cSld><p:spTree><p:sp><p:txBody>"
	    "<a:p><a:r><a:rPr lang=\"ja-JP\"/><a:t>番号 1000 0000</a:t></a:r>"
	    "<a:r><a:rPr lang=\"en-US\" b=\"1\"/><a:t> 0005</a:t></a:r></a:p>"
	    "<a:p><a:r><a:t>" WRONG "</a:t></a:r></a:p>"
	    "</p:txBody></p:sp></p:spTree></p:cSld></p:sld>";
	const struct entry e[] = {
		{ "[Content_Types].xml", ct, 0, false },
		{ "ppt/presentation.xml", "<p:presentation xmlns:p=\"p\"/>", 0, false },
		{ "ppt/slides/slide1.xml", "<p:sld xmlns:p=\"p\"/>", 0, false },
		{ "ppt/slides/slide2.xml", slide, 0, false },
		{ NULL, NULL, 0, false },
	};
	char *p = make_zip(e);
	struct mnscan_report r = scan_path(p, NULL);

	(void)state;
	assert_string_equal(r.format, "pptx");
	assert_int_equal(r.count, 1);
	assert_string_equal(r.findings[0].part, "ppt/slides/slide2.xml");
	assert_int_equal(r.findings[0].paragraph, 1);
	free(p);
}

static void
test_zip_entries_not_joined(void **state)
{
	const struct entry e[] = {
		{ "a.txt", "123456", 0, false },
		{ "b.txt", "789018", 0, false },
		{ NULL, NULL, 0, false },
	};
	const struct entry e2[] = {
		{ "dir/", "", 0, false },
		{ "dir/list.txt", "x " VALID1 " y", 0, false },
		{ "names/" VALID2 ".txt", "nothing", 0, false },
		{ NULL, NULL, 0, false },
	};
	char *p = make_zip(e);
	struct mnscan_report r = scan_path(p, NULL);

	(void)state;
	assert_string_equal(r.format, "zip");
	assert_int_equal(r.verdict, MNSCAN_CLEAN);
	free(p);

	/* a long name is cut at a character: 31 of 40 three-byte ones */
	{
		char longname[200] = "";
		const struct entry e3[] = {
			{ longname, VALID1, 0, false },
			{ NULL, NULL, 0, false },
		};

		for (int i = 0; i < 40; i++)
			strcat(longname, "あ");
		strcat(longname, ".txt");
		p = make_zip(e3);
		r = scan_path(p, NULL);
		assert_int_equal(r.count, 1);
		assert_int_equal(strlen(r.findings[0].part), 93);
		assert_memory_equal(r.findings[0].part, longname, 93);
		free(p);
	}

	/* a number in an entry's name counts, and the name is not shown */
	p = make_zip(e2);
	r = scan_path(p, NULL);
	assert_int_equal(r.verdict, MNSCAN_FOUND);
	assert_int_equal(r.count, 2);
	assert_int_equal(r.findings[0].where, MNSCAN_AT_NAME);
	assert_string_equal(r.findings[0].part, "#2");
	assert_string_equal(r.findings[1].part, "dir/list.txt");
	free(p);
}

static char *read_all(const char *path, size_t *len);

static void
test_zip_bounds(void **state)
{
	struct mnscan_limits lim;
	const struct entry bomb[] = {
		{ "x.txt", NULL, 64 * 1024 * 1024, false },
		{ NULL, NULL, 0, false },
	};
	const struct entry two[] = {
		{ "a.txt", NULL, 3 * 1024 * 1024, false },
		{ "b.txt", NULL, 3 * 1024 * 1024, false },
		{ NULL, NULL, 0, false },
	};
	const struct entry many[] = {
		{ "1", "a", 0, false }, { "2", "a", 0, false },
		{ "3", "a", 0, false }, { "4", "a", 0, false },
		{ NULL, NULL, 0, false },
	};
	char *p;
	struct mnscan_report r;

	(void)state;
	/* 64 MiB of one byte compresses over 1000 times: over the ratio */
	p = make_zip(bomb);
	r = scan_path(p, NULL);
	assert_int_equal(r.verdict, MNSCAN_UNSCANNABLE);
	assert_non_null(strstr(r.reason, "expands more than 200 times"));
	/* stopped early, not after expanding it all */
	assert_true(r.bytes < 4 * 1024 * 1024);
	free(p);

	/* the same with sizes that lie (100 bytes declared, in the local
	 * header and the central directory): stopped by what is read */
	p = make_zip(bomb);
	{
		size_t len;
		char *data = read_all(p, &len);
		int fd;

		for (size_t i = 0; i + 46 <= len; i++) {
			if (memcmp(data + i, "PK\3\4", 4) == 0 && i == 0)
				memcpy(data + i + 22, "\x64\0\0\0", 4);
			if (memcmp(data + i, "PK\1\2", 4) == 0)
				memcpy(data + i + 24, "\x64\0\0\0", 4);
		}
		fd = write_file(p, data, len);
		close(fd);
		free(data);
	}
	r = scan_path(p, NULL);
	assert_int_equal(r.verdict, MNSCAN_UNSCANNABLE);
	assert_non_null(strstr(r.reason, "x.txt expands beyond its declared size"));
	assert_true(r.bytes < 4 * 1024 * 1024);
	free(p);

	mnscan_limits_default(&lim);
	lim.max_ratio = 100000;
	lim.max_total = 5 * 1024 * 1024;
	p = make_zip(two);
	r = scan_path(p, &lim);
	assert_int_equal(r.verdict, MNSCAN_UNSCANNABLE);
	assert_non_null(strstr(r.reason, "archive expands to more than"));
	lim.max_total = 1ULL << 30;
	lim.max_entry = 2 * 1024 * 1024;
	r = scan_path(p, &lim);
	assert_int_equal(r.verdict, MNSCAN_UNSCANNABLE);
	assert_non_null(strstr(r.reason, "a.txt expands to more than"));
	free(p);

	mnscan_limits_default(&lim);
	lim.max_entries = 3;
	p = make_zip(many);
	r = scan_path(p, &lim);
	assert_int_equal(r.verdict, MNSCAN_UNSCANNABLE);
	assert_non_null(strstr(r.reason, "more than 3 entries"));
	lim.max_entries = 4;
	r = scan_path(p, &lim);
	assert_int_equal(r.verdict, MNSCAN_CLEAN);
	free(p);
}

static char *
read_all(const char *path, size_t *len)
{
	FILE *f = fopen(path, "rb");
	char *data;
	long n;

	assert_non_null(f);
	fseek(f, 0, SEEK_END);
	n = ftell(f);
	rewind(f);
	data = malloc((size_t)n + 1);
	assert_non_null(data);
	assert_int_equal(fread(data, 1, (size_t)n, f), (size_t)n);
	fclose(f);
	*len = (size_t)n;
	return data;
}

/* An archive holding `inner' (len bytes) as entry `name' beside a docx's
 * main part. */
static char *
wrap_zip(const char *name, const char *inner, size_t len)
{
	char *p = path_new(".docx");
	zip_source_t *src;
	int err;
	zip_t *za = zip_open(p, ZIP_CREATE | ZIP_TRUNCATE, &err);

	assert_non_null(za);
	src = zip_source_buffer(za, ct, strlen(ct), 0);
	assert_true(zip_file_add(za, "[Content_Types].xml", src, 0) >= 0);
	src = zip_source_buffer(za, "<w:document xmlns:w=\"x\"/>", 25, 0);
	assert_true(zip_file_add(za, "word/document.xml", src, 0) >= 0);
	src = zip_source_buffer(za, inner, len, 0);
	assert_true(zip_file_add(za, name, src, 0) >= 0);
	assert_int_equal(zip_close(za), 0);
	return p;
}

static void
test_zip_nested_and_encrypted(void **state)
{
	/* an embedded workbook: its own shared strings, its cells */
	static const char sst[] = "<sst><si><t>x</t></si><si><t>" VALID1
	    "</t></si></sst>";
	static const char sheet[] = "<worksheet><sheetData><row>"
	    "<c r=\"A1\" t=\"s\"><v>1</v></c></row></sheetData></worksheet>";
	const struct entry inner[] = {
		{ "[Content_Types].xml", ct, 0, false },
		{ "xl/workbook.xml", "<workbook/>", 0, false },
		{ "xl/sharedStrings.xml", sst, 0, false },
		{ "xl/worksheets/sheet1.xml", sheet, 0, false },
		{ NULL, NULL, 0, false },
	};
	char *ip = make_zip(inner), *p, *p2, *data, *data2;
	struct mnscan_report r;
	struct mnscan_limits lim;
	size_t len, len2;

	(void)state;
	data = read_all(ip, &len);
	p = wrap_zip("word/embeddings/x.xlsx", data, len);
	r = scan_path(p, NULL);
	assert_string_equal(r.format, "docx");
	assert_int_equal(r.verdict, MNSCAN_FOUND);
	assert_int_equal(r.count, 1);
	assert_string_equal(r.findings[0].part,
	    "word/embeddings/x.xlsx/xl/worksheets/sheet1.xml");
	assert_string_equal(r.findings[0].sheet, "sheet1");
	assert_string_equal(r.findings[0].cell, "A1");

	/* depth 1: not opened, unscannable */
	mnscan_limits_default(&lim);
	lim.max_depth = 1;
	r = scan_path(p, &lim);
	assert_int_equal(r.verdict, MNSCAN_UNSCANNABLE);
	assert_non_null(strstr(r.reason, "archive inside the archive"));
	/* too large to be read into memory */
	mnscan_limits_default(&lim);
	lim.max_nested = len - 1;
	r = scan_path(p, &lim);
	assert_int_equal(r.verdict, MNSCAN_UNSCANNABLE);
	assert_non_null(strstr(r.reason, "larger than"));

	/* three levels: over the default depth */
	data2 = read_all(p, &len2);
	p2 = wrap_zip("word/embeddings/y.docx", data2, len2);
	r = scan_path(p2, NULL);
	assert_int_equal(r.verdict, MNSCAN_UNSCANNABLE);
	assert_non_null(strstr(r.reason, "nesting depth over 2"));
	free(p2);
	free(data2);
	free(p);
	free(data);
	free(ip);

	if (zip_encryption_method_supported(ZIP_EM_AES_256, 1)) {
		const struct entry enc[] = {
			{ "plain.txt", "nothing", 0, false },
			{ "secret.txt", VALID1, 0, true },
			{ NULL, NULL, 0, false },
		};

		p = make_zip(enc);
		r = scan_path(p, NULL);
		assert_int_equal(r.verdict, MNSCAN_UNSCANNABLE);
		assert_non_null(strstr(r.reason, "secret.txt is encrypted"));
		free(p);
	} else {
		fail_msg("libzip cannot write AES: no encrypted fixture");
	}
}

static void
test_other_kinds_unscannable(void **state)
{
	struct mnscan_report r;

	(void)state;
	r = scan_data(".pdf", "%PDF-1.7\n" VALID1, 9 + 12);
	assert_int_equal(r.verdict, MNSCAN_UNSCANNABLE);
	assert_string_equal(r.format, "pdf");
	assert_string_equal(r.reason, "not a readable PDF");
	r = scan_data(".docx", "\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1 EncryptedPackage", 25);
	assert_int_equal(r.verdict, MNSCAN_UNSCANNABLE);
	assert_string_equal(r.format, "ole2");
	/* a broken XML part */
	{
		const struct entry e[] = {
			{ "[Content_Types].xml", ct, 0, false },
			{ "word/document.xml", "<w:document><w:p>", 0, false },
			{ NULL, NULL, 0, false },
		};
		char *p = make_zip(e);

		r = scan_path(p, NULL);
		assert_int_equal(r.verdict, MNSCAN_UNSCANNABLE);
		assert_non_null(strstr(r.reason, "not well-formed"));
		free(p);
	}
	/* a zip that is not one */
	r = scan_data(".zip", "PK\3\4garbage", 11);
	assert_int_equal(r.verdict, MNSCAN_UNSCANNABLE);
}

/* libxml2 reports errors on stderr by default, with bytes of the input in
 * them; the readers must keep it quiet. */
static void
test_nothing_printed(void **state)
{
	static const char *const parts[] = {
		"<?xml version=\"1.0\" encoding=\"UTF-16\"?><w:document>" VALID1
		    "</w:document>",
		"<?xml version=\"1.0\" encoding=\"Shift_JIS\"?><w:document>" VALID1
		    "\x81\x00\x00\x00</w:document>",
		"<?xml version=\"1.0\" encoding=\"EUC-JP\"?><w:document>" VALID1
		    "\x8e\x00\xff\xfe</w:document>",
		"<w:ftr>" VALID1 "</w:x>",
		"<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]>"
		    "<x>&e;&undefined;" VALID1 "</x>",
		"<x>" VALID1 "\xc3\x28</x>",
		NULL,
	};
	/* "<" in UCS-4LE, then bytes no converter accepts */
	static const char ucs4[] = "<\0\0\0\0\0\0\xf7\xf7" VALID1;
	char *errpath = path_new(".err");
	int saved = dup(2), efd;
	struct stat st;

	(void)state;
	efd = open(errpath, O_RDWR | O_CREAT | O_TRUNC, 0600);
	assert_true(saved >= 0 && efd >= 0);
	fflush(stderr);
	assert_int_equal(dup2(efd, 2), 2);
	for (size_t i = 0; i == 0 || parts[i - 1] != NULL; i++) {
		const struct entry e[] = {
			{ "[Content_Types].xml", ct, 0, false },
			{ "word/document.xml", parts[i] != NULL ? parts[i] : ucs4,
			    parts[i] != NULL ? 0 : sizeof(ucs4) - 1, false },
			{ NULL, NULL, 0, false },
		};
		char *p = make_zip(e);

		(void)scan_path(p, NULL);
		free(p);
	}
	fflush(stderr);
	dup2(saved, 2);
	close(saved);
	assert_int_equal(fstat(efd, &st), 0);
	close(efd);
	assert_int_equal(st.st_size, 0);
	free(errpath);
}

/* A PDF of one text line per page (Helvetica, ASCII), with a correct
 * cross-reference table. */
static char *
make_pdf(const char *const *pages, size_t npages)
{
	char *buf = NULL, *p = path_new(".pdf");
	size_t len = 0, nobj = 3 + 2 * npages;
	long off[64];
	FILE *f = open_memstream(&buf, &len);
	int fd;

	assert_true(nobj < 64);
	assert_non_null(f);
	fprintf(f, "%%PDF-1.4\n");
	off[1] = ftell(f);
	fprintf(f, "1 0 obj << /Type /Catalog /Pages 2 0 R >> endobj\n");
	off[2] = ftell(f);
	fprintf(f, "2 0 obj << /Type /Pages /Count %zu /Kids [", npages);
	for (size_t i = 0; i < npages; i++)
		fprintf(f, " %zu 0 R", 4 + 2 * i);
	fprintf(f, " ] >> endobj\n");
	off[3] = ftell(f);
	fprintf(f, "3 0 obj << /Type /Font /Subtype /Type1 /BaseFont /Helvetica "
	    ">> endobj\n");
	for (size_t i = 0; i < npages; i++) {
		char content[256];
		int n = snprintf(content, sizeof(content),
		    "BT /F1 12 Tf 72 700 Td (%s) Tj ET", pages[i]);

		off[4 + 2 * i] = ftell(f);
		fprintf(f, "%zu 0 obj << /Type /Page /Parent 2 0 R /MediaBox "
		    "[0 0 612 792] /Contents %zu 0 R /Resources << /Font << /F1 "
		    "3 0 R >> >> >> endobj\n", 4 + 2 * i, 5 + 2 * i);
		off[5 + 2 * i] = ftell(f);
		fprintf(f, "%zu 0 obj << /Length %d >> stream\n%s\nendstream "
		    "endobj\n", 5 + 2 * i, n, content);
	}
	{
		long xref = ftell(f);

		fprintf(f, "xref\n0 %zu\n0000000000 65535 f \n", nobj + 1);
		for (size_t i = 1; i <= nobj; i++)
			fprintf(f, "%010ld 00000 n \n", off[i]);
		fprintf(f, "trailer << /Size %zu /Root 1 0 R >>\nstartxref\n%ld\n"
		    "%%%%EOF\n", nobj + 1, xref);
	}
	fclose(f);
	fd = write_file(p, buf, len);
	close(fd);
	free(buf);
	return p;
}

static void
test_pdf_pages(void **state)
{
	static const char *const pages[] = {
		"Application form",
		"Tel 03-1234-5678, corporate 1" VALID1 ", " WRONG,
		"Number: " VALID1 " and 1000-0000-0005",
		"split 123456",
		"789018 across pages",
	};
	char *p = make_pdf(pages, 5);
	struct mnscan_report r = scan_path(p, NULL);
	struct mnscan_limits lim;
	char line[128];

	(void)state;
	assert_string_equal(r.format, "pdf");
	assert_int_equal(r.verdict, MNSCAN_FOUND);
	assert_int_equal(r.count, 2);
	assert_int_equal(r.findings[0].where, MNSCAN_AT_PAGE);
	assert_int_equal(r.findings[0].page, 3);
	assert_int_equal(r.findings[1].page, 3);
	mnscan_finding_format(&r.findings[0], line, sizeof(line));
	assert_string_equal(line, "page 3");

	mnscan_limits_default(&lim);
	lim.max_pages = 4;
	r = scan_path(p, &lim);
	assert_int_equal(r.verdict, MNSCAN_UNSCANNABLE);
	assert_non_null(strstr(r.reason, "more than 4 pages"));
	free(p);
}

static int
setup(void **state)
{
	(void)state;
	mnscan_init();
	return mkdtemp(tmpdir) != NULL ? 0 : -1;
}

static int
teardown(void **state)
{
	char cmd[128];

	(void)state;
	snprintf(cmd, sizeof(cmd), "rm -rf %s", tmpdir);
	return system(cmd) == 0 ? 0 : -1;
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_text_encodings),
		cmocka_unit_test(test_text_clean),
		cmocka_unit_test(test_csv_cells),
		cmocka_unit_test(test_xlsx_cells),
		cmocka_unit_test(test_xlsx_sheet_names),
		cmocka_unit_test(test_docx_runs_and_paragraphs),
		cmocka_unit_test(test_pptx_slides),
		cmocka_unit_test(test_zip_entries_not_joined),
		cmocka_unit_test(test_zip_bounds),
		cmocka_unit_test(test_zip_nested_and_encrypted),
		cmocka_unit_test(test_other_kinds_unscannable),
		cmocka_unit_test(test_nothing_printed),
		cmocka_unit_test(test_pdf_pages),
	};

	return cmocka_run_group_tests(tests, setup, teardown);
}
