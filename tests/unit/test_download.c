/*
 * Tests for broker/download: the Content-Type a held file is offered
 * with (only types browsers do not run, else octet-stream) and the name
 * it is saved as (no directories, no control characters, cut on a UTF-8
 * boundary, a fallback when nothing is left).
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <string.h>
#include <cmocka.h>

#include "broker/download.h"

static void
test_content_type(void **state)
{
	(void)state;
	assert_string_equal(download_content_type("a.pdf"), "application/pdf");
	assert_string_equal(download_content_type("申請書.PDF"),
	    "application/pdf");
	assert_string_equal(download_content_type("x.csv"),
	    "text/csv; charset=utf-8");
	assert_string_equal(download_content_type("報告.xlsx"),
	    "application/vnd.openxmlformats-officedocument.spreadsheetml."
	    "sheet");
	assert_string_equal(download_content_type("p.JPeG"), "image/jpeg");
	/* Active content is never given a type a browser would run. */
	assert_string_equal(download_content_type("a.html"),
	    "application/octet-stream");
	assert_string_equal(download_content_type("a.svg"),
	    "application/octet-stream");
	assert_string_equal(download_content_type("a.xml"),
	    "application/octet-stream");
	assert_string_equal(download_content_type("a.pdf.js"),
	    "application/octet-stream");
	assert_string_equal(download_content_type("noext"),
	    "application/octet-stream");
	assert_string_equal(download_content_type("dir.pdf/file"),
	    "application/octet-stream");
	assert_string_equal(download_content_type("dir.pdf\\file"),
	    "application/octet-stream");
	assert_string_equal(download_content_type(".pdf"), "application/pdf");
	assert_string_equal(download_content_type(""),
	    "application/octet-stream");
	assert_string_equal(download_content_type(NULL),
	    "application/octet-stream");
}

static void
test_filename(void **state)
{
	char out[16];
	char big[64];

	(void)state;
	download_filename("dir/sub/a.pdf", "ID", big, sizeof(big));
	assert_string_equal(big, "a.pdf");
	download_filename("C:\\Users\\x\\申請.pdf", "ID", big, sizeof(big));
	assert_string_equal(big, "申請.pdf");
	download_filename("a\r\nb\t.pdf\x7f", "ID", big, sizeof(big));
	assert_string_equal(big, "a__b_.pdf_");
	download_filename("dir/", "ID", big, sizeof(big));
	assert_string_equal(big, "ID");
	download_filename("..", "ID", big, sizeof(big));
	assert_string_equal(big, "ID");
	download_filename("a/.", "ID", big, sizeof(big));
	assert_string_equal(big, "ID");
	download_filename(NULL, "ID", big, sizeof(big));
	assert_string_equal(big, "ID");
	/* 15 bytes fit: five 3-byte characters, never a part of one. */
	download_filename("申請書申請書.pdf", "ID", out, sizeof(out));
	assert_string_equal(out, "申請書申請");
	download_filename("abcdefghijklmnopqrstuvwxyz", "ID", out, sizeof(out));
	assert_string_equal(out, "abcdefghijklmno");
	download_filename("", "0123456789abcdef0123", out, sizeof(out));
	assert_string_equal(out, "0123456789abcde");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_content_type),
		cmocka_unit_test(test_filename),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
