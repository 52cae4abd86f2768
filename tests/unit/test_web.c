/*
 * Tests for broker/web: the page table (only regular files with plain
 * names, never links), lookups that never normalise or decode a path, the
 * same-origin rule for state-changing requests, whoami from the principal
 * alone, and JSON errors with a machine code and Japanese + English text.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <sys/stat.h>
#include <cmocka.h>

#include "broker/identity.h"
#include "broker/web.h"

struct fx {
	char dir[64];
	char root[96];
	struct web *w;
	struct principal who;
};

static void
put_file(const char *path, const char *text)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
}

static int
setup(void **state)
{
	struct fx *fx = calloc(1, sizeof(*fx));
	char p[160];
	size_t skipped = 99;
	char err[256];

	assert_non_null(fx);
	strcpy(fx->dir, "/tmp/test_web.XXXXXX");
	assert_non_null(mkdtemp(fx->dir));
	snprintf(fx->root, sizeof(fx->root), "%s/root", fx->dir);
	assert_int_equal(mkdir(fx->root, 0700), 0);
	snprintf(p, sizeof(p), "%s/sub", fx->root);
	assert_int_equal(mkdir(p, 0700), 0);
	snprintf(p, sizeof(p), "%s/index.html", fx->root);
	put_file(p, "<p>x</p>");
	snprintf(p, sizeof(p), "%s/sub/a.css", fx->root);
	put_file(p, "p{}");
	snprintf(p, sizeof(p), "%s/.env", fx->root);
	put_file(p, "SECRET");
	snprintf(p, sizeof(p), "%s/secret.txt", fx->dir);
	put_file(p, "SECRET");
	{
		char link[160];

		snprintf(link, sizeof(link), "%s/link.txt", fx->root);
		assert_int_equal(symlink(p, link), 0);
	}
	assert_int_equal(web_load(fx->root, 1, &fx->w, &skipped, err,
	    sizeof(err)), 0);
	assert_int_equal(web_count(fx->w), 2);
	assert_int_equal(skipped, 2);
	strcpy(fx->who.user, "alice");
	strcpy(fx->who.dept, "soumu");
	strcpy(fx->who.terminal, "T001");
	strcpy(fx->who.serial, "01");
	strcpy(fx->who.cert_fp, "ab");
	*state = fx;
	return 0;
}

static int
teardown(void **state)
{
	struct fx *fx = *state;
	char cmd[128];

	web_free(fx->w);
	snprintf(cmd, sizeof(cmd), "rm -rf %s", fx->dir);
	assert_int_equal(system(cmd), 0);
	free(fx);
	return 0;
}

static struct web_response
route(struct fx *fx, const char *method, const char *path,
    const char *origin, int custom)
{
	struct web_request rq = { method, path, "broker.example:8443", origin,
	    custom };
	struct web_response r;

	web_route(fx->w, NULL, &rq, &fx->who, &r);
	return r;
}

static void
test_pages_and_what_is_never_served(void **state)
{
	struct fx *fx = *state;
	static const char *const bad[] = { "/../secret.txt", "/link.txt",
	    "/.env", "/%2e%2e/secret.txt", "/sub%2fa.css", "/sub/../index.html",
	    "//index.html", "/sub/a.css/", "/SUB/a.css", "", "/index.html\n",
	    NULL };
	struct web_response r;
	size_t i;

	r = route(fx, "GET", "/", NULL, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/html; charset=utf-8");
	assert_int_equal(r.len, 8);
	web_response_clear(&r);
	r = route(fx, "GET", "/sub/a.css?v=1", NULL, 0);
	assert_int_equal(r.status, 200);
	assert_string_equal(r.content_type, "text/css; charset=utf-8");
	web_response_clear(&r);
	for (i = 0; bad[i] != NULL; i++) {
		r = route(fx, "GET", bad[i], NULL, 0);
		assert_int_equal(r.status, 404);
		assert_string_equal(r.code, "not_found");
		assert_null(strstr((const char *)r.body, "SECRET"));
		web_response_clear(&r);
	}
}

static void
test_missing_root(void **state)
{
	struct web *w = NULL;
	char err[256];

	(void)state;
	assert_int_equal(web_load("/nonexistent/sekisho-web", 0, &w, NULL,
	    err, sizeof(err)), 0);
	assert_int_equal(web_count(w), 0);
	web_free(w);
	assert_int_equal(web_load("/nonexistent/sekisho-web", 1, &w, NULL,
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "web.root"));
}

static void
test_same_origin_rule(void **state)
{
	struct fx *fx = *state;
	struct web_response r;
	struct web_request rq = { "POST", "/api/v1/whoami",
	    "broker.example:8443", "https://broker.example:8443", 1 };

	r = route(fx, "POST", "/api/v1/whoami", "https://evil.example", 1);
	assert_int_equal(r.status, 403);
	assert_string_equal(r.code, "cross_origin");
	assert_non_null(strstr((const char *)r.body, "\"ja\":"));
	assert_non_null(strstr((const char *)r.body, "\"en\":"));
	web_response_clear(&r);
	r = route(fx, "POST", "/api/v1/whoami", "https://broker.example:8443",
	    0);
	assert_int_equal(r.status, 403);
	web_response_clear(&r);
	r = route(fx, "DELETE", "/api/v1/whoami", NULL, 1);
	assert_int_equal(r.status, 403);
	web_response_clear(&r);
	/* a lookalike origin */
	r = route(fx, "POST", "/api/v1/whoami",
	    "https://broker.example:8443.evil.example", 1);
	assert_int_equal(r.status, 403);
	web_response_clear(&r);
	r = route(fx, "POST", "/api/v1/whoami", "https://broker.example:8443",
	    1);
	assert_int_equal(r.status, 405);
	assert_string_equal(r.allow, "GET, HEAD");
	web_response_clear(&r);
	/* a configured origin wins over the request's authority */
	web_route(fx->w, "https://sekisho.example.lg.jp", &rq, &fx->who, &r);
	assert_int_equal(r.status, 403);
	web_response_clear(&r);
	rq.origin = "https://sekisho.example.lg.jp";
	web_route(fx->w, "https://sekisho.example.lg.jp", &rq, &fx->who, &r);
	assert_int_equal(r.status, 405);
	web_response_clear(&r);
}

static void
test_whoami_is_the_principal(void **state)
{
	struct fx *fx = *state;
	struct web_response r;

	strcpy(fx->who.user, "a\"b\\c");
	r = route(fx, "GET", "/api/v1/whoami", NULL, 0);
	assert_int_equal(r.status, 200);
	assert_true(r.no_store);
	assert_string_equal(r.content_type, "application/json");
	assert_non_null(strstr((const char *)r.body,
	    "\"user\":\"a\\\"b\\\\c\""));
	assert_non_null(strstr((const char *)r.body, "\"terminal\":\"T001\""));
	web_response_clear(&r);
	r = route(fx, "GET", "/api/v1/other", NULL, 0);
	assert_int_equal(r.status, 404);
	web_response_clear(&r);
}

static void
test_security_headers(void **state)
{
	const struct web_header *h;
	size_t n, i;
	int csp = 0, nosniff = 0, ref = 0, hsts = 0;

	(void)state;
	h = web_security_headers(&n);
	for (i = 0; i < n; i++) {
		if (strcmp(h[i].name, "content-security-policy") == 0)
			csp = strstr(h[i].value, "default-src 'self'") !=
			    NULL && strstr(h[i].value,
			    "frame-ancestors 'none'") != NULL &&
			    strstr(h[i].value, "unsafe") == NULL;
		nosniff |= strcmp(h[i].name, "x-content-type-options") == 0 &&
		    strcmp(h[i].value, "nosniff") == 0;
		ref |= strcmp(h[i].name, "referrer-policy") == 0 &&
		    strcmp(h[i].value, "no-referrer") == 0;
		hsts |= strcmp(h[i].name, "strict-transport-security") == 0;
	}
	assert_true(csp && nosniff && ref && hsts);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(
		    test_pages_and_what_is_never_served, setup, teardown),
		cmocka_unit_test(test_missing_root),
		cmocka_unit_test_setup_teardown(test_same_origin_rule, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_whoami_is_the_principal,
		    setup, teardown),
		cmocka_unit_test(test_security_headers),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
