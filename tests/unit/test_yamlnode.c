/*
 * Tests for lib/yamlnode: the tree and its line numbers, every refusal the
 * header promises (duplicate keys, anchors, aliases, several documents,
 * depth, size, non-regular files), and the typed getters' three outcomes
 * (0 present and valid, 1 absent, -1 with "file:line: field 'key'").
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "lib/yamlnode.h"

static char errbuf[512];

static struct yamlnode_doc *
load_ok(const char *text)
{
	struct yamlnode_doc *doc = NULL;

	errbuf[0] = '\0';
	if (yamlnode_load_buffer("t.yaml", text, strlen(text), &doc, errbuf,
	    sizeof(errbuf)) != 0)
		fail_msg("refused: %s\n---\n%s", errbuf, text);
	assert_non_null(doc);
	assert_string_equal(doc->path, "t.yaml");
	return doc;
}

/* Loads text expecting refusal; the message must contain every needle. */
static void
load_bad(const char *text, size_t len, const char *needle1,
    const char *needle2)
{
	struct yamlnode_doc *doc = (struct yamlnode_doc *)1;

	errbuf[0] = '\0';
	if (len == 0)
		len = strlen(text);
	if (yamlnode_load_buffer("t.yaml", text, len, &doc, errbuf,
	    sizeof(errbuf)) != -1)
		fail_msg("accepted:\n%s", text);
	assert_null(doc);
	if (needle1 != NULL && strstr(errbuf, needle1) == NULL)
		fail_msg("message '%s' lacks '%s'", errbuf, needle1);
	if (needle2 != NULL && strstr(errbuf, needle2) == NULL)
		fail_msg("message '%s' lacks '%s'", errbuf, needle2);
}

static void
assert_err_has(const char *needle)
{
	if (strstr(errbuf, needle) == NULL)
		fail_msg("message '%s' lacks '%s'", errbuf, needle);
}

static void
test_nested_tree_and_lines(void **state)
{
	struct yamlnode_doc *doc;
	const struct yamlnode *r, *b, *c, *d, *item, *g;

	(void)state;
	doc = load_ok(
	    "# settings\n"			/* 1 */
	    "a: 1\n"				/* 2 */
	    "b:\n"				/* 3 */
	    "  c: [x, 'y']\n"			/* 4 */
	    "  d:\n"				/* 5 */
	    "    - e: f\n"			/* 6 */
	    "      g: \"h i\"\n"		/* 7 */
	    "    - 2\n"				/* 8 */
	    "    - []\n"			/* 9 */
	    "    - {}\n"			/* 10 */
	    "empty:\n");			/* 11 */
	r = doc->root;
	assert_non_null(r);
	assert_int_equal(r->kind, YAMLNODE_MAP);
	assert_int_equal(r->line, 2);
	assert_int_equal(r->n, 3);
	assert_string_equal(r->keys[0], "a");
	assert_int_equal(r->key_lines[0], 2);
	assert_string_equal(r->keys[1], "b");
	assert_int_equal(r->key_lines[1], 3);
	assert_string_equal(r->keys[2], "empty");
	assert_int_equal(r->key_lines[2], 11);

	assert_int_equal(r->items[0]->kind, YAMLNODE_SCALAR);
	assert_string_equal(r->items[0]->value, "1");
	assert_int_equal(r->items[0]->value_len, 1);
	assert_false(r->items[0]->quoted);
	assert_int_equal(r->items[0]->line, 2);

	b = yamlnode_get(r, "b");
	assert_ptr_equal(b, r->items[1]);
	assert_int_equal(b->kind, YAMLNODE_MAP);
	assert_int_equal(b->line, 4);
	c = yamlnode_get(b, "c");
	assert_non_null(c);
	assert_int_equal(c->kind, YAMLNODE_SEQ);
	assert_int_equal(c->line, 4);
	assert_int_equal(c->n, 2);
	assert_null(c->keys);
	assert_string_equal(c->items[0]->value, "x");
	assert_false(c->items[0]->quoted);
	assert_string_equal(c->items[1]->value, "y");
	assert_true(c->items[1]->quoted);

	d = yamlnode_get(b, "d");
	assert_int_equal(d->kind, YAMLNODE_SEQ);
	assert_int_equal(d->line, 6);
	assert_int_equal(d->n, 4);
	item = d->items[0];
	assert_int_equal(item->kind, YAMLNODE_MAP);
	assert_int_equal(item->line, 6);
	assert_int_equal(item->key_lines[1], 7);
	g = yamlnode_get(item, "g");
	assert_string_equal(g->value, "h i");
	assert_true(g->quoted);
	assert_int_equal(g->line, 7);
	assert_string_equal(d->items[1]->value, "2");
	assert_int_equal(d->items[1]->line, 8);
	assert_int_equal(d->items[2]->kind, YAMLNODE_SEQ);
	assert_int_equal(d->items[2]->n, 0);
	assert_int_equal(d->items[2]->line, 9);
	assert_int_equal(d->items[3]->kind, YAMLNODE_MAP);
	assert_int_equal(d->items[3]->n, 0);
	assert_int_equal(d->items[3]->line, 10);

	/* A key without a value is an empty plain scalar. */
	assert_int_equal(r->items[2]->kind, YAMLNODE_SCALAR);
	assert_string_equal(r->items[2]->value, "");

	assert_null(yamlnode_get(r, "missing"));
	assert_null(yamlnode_get(c, "x"));	/* not a map */
	assert_null(yamlnode_get(NULL, "a"));
	yamlnode_free(doc);
	yamlnode_free(NULL);
}

static void
test_japanese_text_kept(void **state)
{
	struct yamlnode_doc *doc;
	const struct yamlnode *n;

	(void)state;
	doc = load_ok("name: \xe9\x96\xa2\xe6\x89\x80\n");	/* 関所 */
	n = yamlnode_get(doc->root, "name");
	assert_string_equal(n->value, "\xe9\x96\xa2\xe6\x89\x80");
	assert_int_equal(n->value_len, 6);
	yamlnode_free(doc);
}

static void
test_duplicate_key(void **state)
{
	(void)state;
	load_bad("a: 1\nb: 2\na: 3\n", 0, "t.yaml:3: duplicate key 'a'",
	    "line 1");
	load_bad("top:\n  x: 1\n  y: 2\n\n  x: 3\n", 0,
	    "t.yaml:5: duplicate key 'x'", "line 2");
	/* Several duplicates: the one met first in the file is reported. */
	load_bad("b: 1\na: 1\nc: 1\na: 2\nb: 2\na: 3\n", 0,
	    "t.yaml:4: duplicate key 'a' (first at line 2)", NULL);
	load_bad("z: 1\na: 1\nz: 2\na: 2\n", 0,
	    "t.yaml:3: duplicate key 'z' (first at line 1)", NULL);
	load_bad("x: 1\nx: 2\nx: 3\n", 0,
	    "t.yaml:2: duplicate key 'x' (first at line 1)", NULL);
	/* Keys are compared whole and exactly. */
	yamlnode_free(load_ok("a: 1\nA: 2\nab: 3\n'a ': 4\n"));
	load_bad("a: 1\n'a': 2\n", 0, "t.yaml:2: duplicate key 'a'", NULL);
	/* Same key in different maps is fine. */
	yamlnode_free(load_ok("a:\n  x: 1\nb:\n  x: 2\n"));
}

static void
test_duplicate_key_in_large_map(void **state)
{
	size_t n = 50000, cap = n * 16 + 32, off = 0, i;
	struct yamlnode_doc *doc;
	char *s = malloc(cap);

	(void)state;
	assert_non_null(s);
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off, "k%zu: %zu\n", i, i);
	doc = load_ok(s);
	assert_int_equal(doc->root->n, n);
	assert_int_equal(doc->root->key_lines[n - 1], n);
	assert_string_equal(yamlnode_get(doc->root, "k49999")->value, "49999");
	yamlnode_free(doc);
	/* The last line repeats the tenth key. */
	snprintf(s + off, cap - off, "k9: again\n");
	load_bad(s, 0, "t.yaml:50001: duplicate key 'k9' (first at line 10)",
	    NULL);
	free(s);
}

static void
test_anchors_and_aliases(void **state)
{
	static const char *const texts[] = {
		"a: &x 1\nb: 2\n",
		"a: &x 1\nb: *x\n",
		"b: *x\n",
		"a: &m\n  k: v\n",
		"a: &s [1, 2]\n",
		"- &x a\n- *x\n",
		"&k key: 1\n",
		"&root\na: 1\n",
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		load_bad(texts[i], strlen(texts[i]), "t.yaml:", NULL);
		if (strstr(errbuf, "anchors") == NULL &&
		    strstr(errbuf, "aliases") == NULL &&
		    strstr(errbuf, "plain scalars") == NULL)
			fail_msg("'%s' refused for another reason: %s",
			    texts[i], errbuf);
	}
	load_bad("a: 1\nb: *x\n", 0, "t.yaml:2: aliases", NULL);
	/* An alias used as a key. */
	load_bad("a: &x k\n*x : 1\n", 0, "t.yaml:", NULL);
	/* Billion laughs dies at the first anchor. */
	load_bad("a: &a [\"lol\",\"lol\"]\nb: &b [*a,*a,*a]\nc: [*b,*b,*b]\n",
	    0, "t.yaml:1: anchors", NULL);
}

static void
test_keys_must_be_scalars(void **state)
{
	(void)state;
	load_bad("? [a, b]\n: 1\n", 0, "t.yaml:1: mapping keys", NULL);
	load_bad("{a: 1}: 2\n", 0, "t.yaml:1:", NULL);
}

static void
test_multiple_documents(void **state)
{
	(void)state;
	load_bad("a: 1\n---\nb: 2\n", 0, "only one YAML document", NULL);
	load_bad("---\na: 1\n...\n---\nb: 2\n", 0, "only one YAML document",
	    NULL);
	load_bad("---\n---\n", 0, "only one YAML document", NULL);
	/* An empty first document does not make room for a second one. */
	load_bad("---\n...\n---\na: 1\n", 0, "only one YAML document", NULL);
	load_bad("--- []\n--- {}\n", 0, "only one YAML document", NULL);
	/* One explicit document with its end marker is fine. */
	yamlnode_free(load_ok("---\na: 1\n...\n"));
}

static void
test_empty_documents(void **state)
{
	static const char *const texts[] = {
		"", "\n", "# only a comment\n", "---\n", "---\n...\n",
	};
	struct yamlnode_doc *doc;
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(texts) / sizeof(texts[0]); i++) {
		doc = load_ok(texts[i]);
		if (doc->root != NULL)
			fail_msg("'%s' has a root", texts[i]);
		yamlnode_free(doc);
	}
	/* An explicit empty string is a value, not an empty document. */
	doc = load_ok("''\n");
	assert_non_null(doc->root);
	assert_int_equal(doc->root->kind, YAMLNODE_SCALAR);
	assert_string_equal(doc->root->value, "");
	yamlnode_free(doc);
	doc = load_ok("x\n");
	assert_string_equal(doc->root->value, "x");
	yamlnode_free(doc);
}

static void
test_syntax_error_has_line(void **state)
{
	(void)state;
	load_bad("a: 1\nb: [1, 2\nc: 3\n", 0, "t.yaml:", NULL);
	load_bad("a: 1\nb: 2\n  c: 3\n", 0, "t.yaml:3:", NULL);
	load_bad("a: \"unterminated\n", 0, "t.yaml:", NULL);
	/* Bad bytes are reported at their own line. */
	load_bad("a:\tb\n\x01", 0, "t.yaml:2: control characters", NULL);
	load_bad("a: 1\nb: 2\nc: \xff\xfe\n", 0, "t.yaml:3: invalid leading "
	    "UTF-8", NULL);
	load_bad("a: 1\n\nc: \xe3\x81\n", 0, "t.yaml:3: ", NULL);
}

/* n nested flow sequences around a scalar: "[[[1]]]". */
static char *
nested_flow(unsigned n)
{
	char *s = malloc(2 * n + 2);
	unsigned i;

	assert_non_null(s);
	for (i = 0; i < n; i++) {
		s[i] = '[';
		s[n + 1 + i] = ']';
	}
	s[n] = '1';
	s[2 * n + 1] = '\0';
	return s;
}

/* n nested block mappings, one key per level, the last holding a scalar. */
static char *
nested_block(unsigned n)
{
	size_t cap = (size_t)n * (2 * n + 8) + 16, off = 0;
	char *s = malloc(cap);
	unsigned i;

	assert_non_null(s);
	for (i = 0; i < n; i++)
		off += (size_t)snprintf(s + off, cap - off, "%*sk%u:%s",
		    (int)(2 * i), "", i, i + 1 < n ? "\n" : " v\n");
	return s;
}

static void
test_depth_limit(void **state)
{
	struct yamlnode_doc *doc;
	const struct yamlnode *n;
	char *s;
	unsigned i;

	(void)state;
	/* A scalar inside MAX_DEPTH collections is at depth MAX_DEPTH. */
	s = nested_flow(YAMLNODE_MAX_DEPTH);
	doc = load_ok(s);
	for (n = doc->root, i = 0; n->kind == YAMLNODE_SEQ; n = n->items[0])
		i++;
	assert_int_equal(i, YAMLNODE_MAX_DEPTH);
	assert_string_equal(n->value, "1");
	yamlnode_free(doc);
	free(s);
	s = nested_flow(YAMLNODE_MAX_DEPTH + 1);
	load_bad(s, strlen(s), "t.yaml:1: nested deeper than 32", NULL);
	free(s);

	s = nested_block(YAMLNODE_MAX_DEPTH);
	yamlnode_free(load_ok(s));
	free(s);
	s = nested_block(YAMLNODE_MAX_DEPTH + 1);
	load_bad(s, strlen(s), "t.yaml:33: nested deeper than", NULL);
	free(s);

	/* Far deeper than the limit: refused, without recursing that deep. */
	s = nested_flow(200000);
	load_bad(s, strlen(s), "nested deeper than", NULL);
	free(s);
}

static void
test_node_limit(void **state)
{
	/* A root sequence plus MAX_NODES scalars is one node too many. */
	size_t n = YAMLNODE_MAX_NODES, len = 2 + 2 * n, i;
	char *s = malloc(len + 1);

	(void)state;
	assert_non_null(s);
	s[0] = '[';
	for (i = 0; i < n; i++) {
		s[1 + 2 * i] = '1';
		s[2 + 2 * i] = i + 1 < n ? ',' : ']';
	}
	s[len - 1] = '\n';
	s[len] = '\0';
	load_bad(s, len, "too many nodes", NULL);
	/* One fewer fits. */
	s[len - 4] = ']';
	s[len - 3] = '\n';
	s[len - 2] = '\0';
	yamlnode_free(load_ok(s));
	free(s);
}

static void
test_buffer_size_limit(void **state)
{
	size_t len = YAMLNODE_MAX_BYTES + 1;
	char *s = malloc(len + 1);

	(void)state;
	assert_non_null(s);
	memset(s, '#', len);
	s[len] = '\0';
	load_bad(s, len, "larger than", NULL);
	/* Exactly at the limit is accepted: a comment line. */
	s[len - 2] = '\n';
	s[len - 1] = '\0';
	yamlnode_free(load_ok(s));
	free(s);
}

static void
test_get_str(void **state)
{
	struct yamlnode_doc *doc;
	const char *out = "untouched";

	(void)state;
	doc = load_ok(
	    "name: alice\n"		/* 1 */
	    "nul: \"a\\0b\"\n"		/* 2 */
	    "map:\n"			/* 3 */
	    "  k: v\n"			/* 4 */
	    "seq: [1]\n"		/* 5 */
	    "empty: ''\n");		/* 6 */
	assert_int_equal(yamlnode_get_str(doc, doc->root, "name", 5, &out,
	    errbuf, sizeof(errbuf)), 0);
	assert_string_equal(out, "alice");
	assert_int_equal(yamlnode_get_str(doc, doc->root, "empty", 0, &out,
	    errbuf, sizeof(errbuf)), 0);
	assert_string_equal(out, "");

	out = "untouched";
	assert_int_equal(yamlnode_get_str(doc, doc->root, "name", 4, &out,
	    errbuf, sizeof(errbuf)), -1);
	assert_err_has("t.yaml:1: field 'name': longer than 4");
	assert_string_equal(out, "untouched");

	assert_int_equal(yamlnode_get_str(doc, doc->root, "nul", 100, &out,
	    errbuf, sizeof(errbuf)), -1);
	assert_err_has("t.yaml:2: field 'nul': contains a NUL");
	assert_int_equal(yamlnode_get(doc->root, "nul")->value_len, 3);

	assert_int_equal(yamlnode_get_str(doc, doc->root, "map", 100, &out,
	    errbuf, sizeof(errbuf)), -1);
	assert_err_has("t.yaml:4: field 'map': expected a single value, not a "
	    "mapping");
	assert_int_equal(yamlnode_get_str(doc, doc->root, "seq", 100, &out,
	    errbuf, sizeof(errbuf)), -1);
	assert_err_has("t.yaml:5: field 'seq': expected a single value, not a "
	    "list");

	assert_int_equal(yamlnode_get_str(doc, doc->root, "absent", 100, &out,
	    errbuf, sizeof(errbuf)), 1);
	assert_string_equal(out, "untouched");
	/* A non-map parent has no keys. */
	assert_int_equal(yamlnode_get_str(doc, yamlnode_get(doc->root, "seq"),
	    "x", 100, &out, errbuf, sizeof(errbuf)), 1);
	yamlnode_free(doc);
}

static void
test_nul_in_key_refused(void **state)
{
	(void)state;
	load_bad("\"a\\0b\": 1\n", 0, "t.yaml:1: key contains a NUL", NULL);
}

static void
test_get_uint(void **state)
{
	static const struct { const char *key; const char *why; } bad[] = {
		{ "garbage", "'12abc' is not a whole number" },
		{ "neg", "'-1' is not a whole number" },
		{ "unit", "'12KiB' is not a whole number" },
		{ "blank", "'' is not a whole number" },
		{ "plus", "'+5' is not a whole number" },
		{ "space", "'5 5' is not a whole number" },
		{ "huge", "is not a whole number" },
		{ "low", "0 is out of range (1..100)" },
		{ "high", "101 is out of range (1..100)" },
	};
	struct yamlnode_doc *doc;
	uint64_t v;
	size_t i;
	char want[128];

	(void)state;
	doc = load_ok(
	    "ok: 42\n"
	    "edge: 100\n"
	    "quoted: \"7\"\n"
	    "max: 18446744073709551615\n"
	    "garbage: 12abc\n"
	    "neg: -1\n"
	    "unit: 12KiB\n"
	    "blank: ''\n"
	    "plus: +5\n"
	    "space: 5 5\n"
	    "huge: 18446744073709551616\n"
	    "low: 0\n"
	    "high: 101\n");
	assert_int_equal(yamlnode_get_uint(doc, doc->root, "ok", 1, 100, &v,
	    errbuf, sizeof(errbuf)), 0);
	assert_int_equal(v, 42);
	assert_int_equal(yamlnode_get_uint(doc, doc->root, "edge", 1, 100, &v,
	    errbuf, sizeof(errbuf)), 0);
	assert_int_equal(v, 100);
	assert_int_equal(yamlnode_get_uint(doc, doc->root, "quoted", 1, 100, &v,
	    errbuf, sizeof(errbuf)), 0);
	assert_int_equal(v, 7);
	assert_int_equal(yamlnode_get_uint(doc, doc->root, "max", 0, UINT64_MAX,
	    &v, errbuf, sizeof(errbuf)), 0);
	assert_true(v == UINT64_MAX);
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = 999;
		if (yamlnode_get_uint(doc, doc->root, bad[i].key, 1, 100, &v,
		    errbuf, sizeof(errbuf)) != -1)
			fail_msg("%s accepted", bad[i].key);
		assert_int_equal(v, 999);
		assert_err_has(bad[i].why);
		snprintf(want, sizeof(want), "t.yaml:%u: field '%s': ",
		    yamlnode_get(doc->root, bad[i].key)->line, bad[i].key);
		assert_err_has(want);
	}
	assert_int_equal(yamlnode_get_uint(doc, doc->root, "absent", 1, 100,
	    &v, errbuf, sizeof(errbuf)), 1);
	assert_int_equal(v, 999);
	yamlnode_free(doc);
}

static void
test_get_bool(void **state)
{
	static const struct { const char *key; int v; } ok[] = {
		{ "t", 1 }, { "y", 1 }, { "f", 0 }, { "n", 0 }, { "q", 1 },
	};
	static const char *const bad[] = { "upper", "one", "zero", "junk",
	    "blank", "on" };
	struct yamlnode_doc *doc;
	char want[128];
	size_t i;
	int v;

	(void)state;
	doc = load_ok("t: true\ny: yes\nf: false\nn: no\nq: \"true\"\n"
	    "upper: True\none: 1\nzero: 0\njunk: maybe\nblank:\non: on\n");
	for (i = 0; i < sizeof(ok) / sizeof(ok[0]); i++) {
		v = -5;
		assert_int_equal(yamlnode_get_bool(doc, doc->root, ok[i].key,
		    &v, errbuf, sizeof(errbuf)), 0);
		assert_int_equal(v, ok[i].v);
	}
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		v = -5;
		if (yamlnode_get_bool(doc, doc->root, bad[i], &v, errbuf,
		    sizeof(errbuf)) != -1)
			fail_msg("%s accepted", bad[i]);
		assert_int_equal(v, -5);
		snprintf(want, sizeof(want), "t.yaml:%u: field '%s': expected "
		    "true or false", (unsigned)(6 + i), bad[i]);
		assert_err_has(want);
	}
	assert_int_equal(yamlnode_get_bool(doc, doc->root, "absent", &v,
	    errbuf, sizeof(errbuf)), 1);
	assert_int_equal(v, -5);
	yamlnode_free(doc);
}

static void
test_get_size_and_duration(void **state)
{
	struct yamlnode_doc *doc;
	uint64_t v;

	(void)state;
	doc = load_ok(
	    "s1: 10MiB\n"		/* 1 */
	    "s2: 1048576\n"		/* 2 */
	    "s3: 10 MiB\n"		/* 3 */
	    "s4: -1\n"			/* 4 */
	    "d1: 15m\n"			/* 5 */
	    "d2: 90\n"			/* 6 */
	    "d3: 1.5h\n"		/* 7 */
	    "d4: [1]\n");		/* 8 */
	assert_int_equal(yamlnode_get_size(doc, doc->root, "s1", &v, errbuf,
	    sizeof(errbuf)), 0);
	assert_int_equal(v, 10 << 20);
	assert_int_equal(yamlnode_get_size(doc, doc->root, "s2", &v, errbuf,
	    sizeof(errbuf)), 0);
	assert_int_equal(v, 1048576);
	v = 3;
	assert_int_equal(yamlnode_get_size(doc, doc->root, "s3", &v, errbuf,
	    sizeof(errbuf)), -1);
	assert_err_has("t.yaml:3: field 's3': '10 MiB' is not a size");
	assert_int_equal(yamlnode_get_size(doc, doc->root, "s4", &v, errbuf,
	    sizeof(errbuf)), -1);
	assert_err_has("t.yaml:4: field 's4': '-1' is not a size");
	assert_int_equal(yamlnode_get_size(doc, doc->root, "sx", &v, errbuf,
	    sizeof(errbuf)), 1);
	assert_int_equal(v, 3);

	assert_int_equal(yamlnode_get_duration(doc, doc->root, "d1", &v,
	    errbuf, sizeof(errbuf)), 0);
	assert_int_equal(v, 900);
	assert_int_equal(yamlnode_get_duration(doc, doc->root, "d2", &v,
	    errbuf, sizeof(errbuf)), 0);
	assert_int_equal(v, 90);
	assert_int_equal(yamlnode_get_duration(doc, doc->root, "d3", &v,
	    errbuf, sizeof(errbuf)), -1);
	assert_err_has("t.yaml:7: field 'd3': '1.5h' is not a duration");
	assert_int_equal(yamlnode_get_duration(doc, doc->root, "d4", &v,
	    errbuf, sizeof(errbuf)), -1);
	assert_err_has("t.yaml:8: field 'd4': expected a single value");
	v = 3;
	assert_int_equal(yamlnode_get_duration(doc, doc->root, "dx", &v,
	    errbuf, sizeof(errbuf)), 1);
	assert_int_equal(v, 3);
	yamlnode_free(doc);
}

static void
test_check_keys(void **state)
{
	static const char *const allowed[] = { "cert", "key", "ca", NULL };
	static const char *const none[] = { NULL };
	struct yamlnode_doc *doc;
	const struct yamlnode *tls;

	(void)state;
	doc = load_ok(
	    "tls:\n"			/* 1 */
	    "  cert: a\n"		/* 2 */
	    "  key: b\n"		/* 3 */
	    "\n"			/* 4 */
	    "  cetr: c\n"		/* 5 */
	    "good:\n"			/* 6 */
	    "  ca: x\n"			/* 7 */
	    "list: [1]\n");		/* 8 */
	tls = yamlnode_get(doc->root, "tls");
	assert_int_equal(yamlnode_check_keys(doc, tls, "tls", allowed, errbuf,
	    sizeof(errbuf)), -1);
	assert_err_has("t.yaml:5: tls: unknown field 'cetr'");
	assert_int_equal(yamlnode_check_keys(doc, yamlnode_get(doc->root,
	    "good"), "good", allowed, errbuf, sizeof(errbuf)), 0);
	assert_int_equal(yamlnode_check_keys(doc, yamlnode_get(doc->root,
	    "good"), "good", none, errbuf, sizeof(errbuf)), -1);
	assert_err_has("t.yaml:7: good: unknown field 'ca'");
	assert_int_equal(yamlnode_check_keys(doc, yamlnode_get(doc->root,
	    "list"), "list", allowed, errbuf, sizeof(errbuf)), -1);
	assert_err_has("t.yaml:8: list: expected a mapping");
	/* An absent section has no unknown keys. */
	assert_int_equal(yamlnode_check_keys(doc, NULL, "x", allowed, errbuf,
	    sizeof(errbuf)), 0);
	yamlnode_free(doc);
}

/* --- files --- */

static int
setup_dir(void **state)
{
	char tmpl[] = "/tmp/test_yamlnode.XXXXXX";
	char *dir = mkdtemp(tmpl);

	if (dir == NULL)
		return -1;
	*state = strdup(dir);
	return *state == NULL ? -1 : 0;
}

static int
teardown_dir(void **state)
{
	char cmd[128];

	snprintf(cmd, sizeof(cmd), "rm -rf '%s'", (char *)*state);
	free(*state);
	return system(cmd) == 0 ? 0 : -1;
}

static void
write_file(const char *path, const char *data, size_t len)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	assert_int_equal(fwrite(data, 1, len, f), len);
	assert_int_equal(fclose(f), 0);
}

static void
test_load_file(void **state)
{
	const char *dir = *state;
	struct yamlnode_doc *doc = NULL;
	char path[256];

	snprintf(path, sizeof(path), "%s/ok.yaml", dir);
	write_file(path, "a: 1\nb:\n  c: d\n", 15);
	assert_int_equal(yamlnode_load_file(path, &doc, errbuf,
	    sizeof(errbuf)), 0);
	assert_string_equal(doc->path, path);
	assert_string_equal(yamlnode_get(yamlnode_get(doc->root, "b"),
	    "c")->value, "d");
	assert_int_equal(yamlnode_get(doc->root, "b")->line, 3);
	yamlnode_free(doc);

	/* Messages name the file as given. */
	snprintf(path, sizeof(path), "%s/dup.yaml", dir);
	write_file(path, "a: 1\na: 2\n", 10);
	doc = (struct yamlnode_doc *)1;
	assert_int_equal(yamlnode_load_file(path, &doc, errbuf,
	    sizeof(errbuf)), -1);
	assert_null(doc);
	assert_non_null(strstr(errbuf, path));
	assert_err_has("dup.yaml:2: duplicate key 'a'");

	snprintf(path, sizeof(path), "%s/absent.yaml", dir);
	assert_int_equal(yamlnode_load_file(path, &doc, errbuf,
	    sizeof(errbuf)), -1);
	assert_err_has("cannot open");
}

static void
test_load_file_not_regular(void **state)
{
	const char *dir = *state;
	struct yamlnode_doc *doc = (struct yamlnode_doc *)1;
	char path[256];

	assert_int_equal(yamlnode_load_file(dir, &doc, errbuf,
	    sizeof(errbuf)), -1);
	assert_null(doc);
	assert_err_has("not a regular file");

	/* A FIFO with no writer must be refused, not waited on. */
	snprintf(path, sizeof(path), "%s/fifo", dir);
	assert_int_equal(mkfifo(path, 0600), 0);
	assert_int_equal(yamlnode_load_file(path, &doc, errbuf,
	    sizeof(errbuf)), -1);
	assert_err_has("not a regular file");

	assert_int_equal(yamlnode_load_file("/dev/null", &doc, errbuf,
	    sizeof(errbuf)), -1);
	assert_err_has("not a regular file");
}

static void
test_load_file_too_large(void **state)
{
	const char *dir = *state;
	struct yamlnode_doc *doc = (struct yamlnode_doc *)1;
	char path[256];
	int fd;

	snprintf(path, sizeof(path), "%s/big.yaml", dir);
	fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, "a: 1\n", 5), 5);
	/* Sparse: the size alone must be enough to refuse it. */
	assert_int_equal(ftruncate(fd, (off_t)YAMLNODE_MAX_BYTES + 1), 0);
	close(fd);
	assert_int_equal(yamlnode_load_file(path, &doc, errbuf,
	    sizeof(errbuf)), -1);
	assert_null(doc);
	assert_err_has("larger than 8388608 bytes");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_nested_tree_and_lines),
		cmocka_unit_test(test_japanese_text_kept),
		cmocka_unit_test(test_duplicate_key),
		cmocka_unit_test(test_duplicate_key_in_large_map),
		cmocka_unit_test(test_anchors_and_aliases),
		cmocka_unit_test(test_keys_must_be_scalars),
		cmocka_unit_test(test_multiple_documents),
		cmocka_unit_test(test_empty_documents),
		cmocka_unit_test(test_syntax_error_has_line),
		cmocka_unit_test(test_depth_limit),
		cmocka_unit_test(test_node_limit),
		cmocka_unit_test(test_buffer_size_limit),
		cmocka_unit_test(test_get_str),
		cmocka_unit_test(test_nul_in_key_refused),
		cmocka_unit_test(test_get_uint),
		cmocka_unit_test(test_get_bool),
		cmocka_unit_test(test_get_size_and_duration),
		cmocka_unit_test(test_check_keys),
		cmocka_unit_test_setup_teardown(test_load_file, setup_dir,
		    teardown_dir),
		cmocka_unit_test_setup_teardown(test_load_file_not_regular,
		    setup_dir, teardown_dir),
		cmocka_unit_test_setup_teardown(test_load_file_too_large,
		    setup_dir, teardown_dir),
	};

	return cmocka_run_group_tests_name("yamlnode", tests, NULL, NULL);
}
