/*
 * fuzz_yamlnode — the YAML loader on arbitrary bytes.
 *
 * A document that loads is walked completely: the tree's invariants are
 * checked (they are what every configuration reader relies on) and every
 * typed getter and the key check run on every key of every mapping. Any
 * crash, sanitizer report, leak or broken invariant is a finding; load
 * errors are not, but they must come with a message.
 */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "lib/yamlnode.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

static void
walk(const struct yamlnode_doc *doc, const struct yamlnode *n, unsigned depth)
{
	static const char *const allowed[] = { "listen", "tls", "cert", "a",
	    NULL };
	char err[256];
	size_t i, j;

	if (n == NULL || depth > YAMLNODE_MAX_DEPTH || n->line == 0)
		abort();
	switch (n->kind) {
	case YAMLNODE_SCALAR:
		if (n->value == NULL || n->value[n->value_len] != '\0' ||
		    n->n != 0)
			abort();
		return;
	case YAMLNODE_SEQ:
		if (n->keys != NULL)
			abort();
		break;
	case YAMLNODE_MAP:
		if (n->n > 0 && (n->keys == NULL || n->key_lines == NULL))
			abort();
		break;
	default:
		abort();
	}
	for (i = 0; i < n->n; i++) {
		if (n->kind == YAMLNODE_MAP) {
			const char *k = n->keys[i], *s;
			uint64_t u;
			int b;

			if (k == NULL || n->key_lines[i] == 0)
				abort();
			/* Duplicate keys never survive loading. */
			for (j = 0; j < i && j < 64; j++)
				if (strcmp(n->keys[j], k) == 0)
					abort();
			if (yamlnode_get(n, k) != n->items[i])
				abort();
			if (yamlnode_get_str(doc, n, k, 16, &s, err,
			    sizeof(err)) == 0 && strlen(s) > 16)
				abort();
			if (yamlnode_get_uint(doc, n, k, 1, 100, &u, err,
			    sizeof(err)) == 0 && (u < 1 || u > 100))
				abort();
			(void)yamlnode_get_bool(doc, n, k, &b, err, sizeof(err));
			(void)yamlnode_get_size(doc, n, k, &u, err, sizeof(err));
			(void)yamlnode_get_duration(doc, n, k, &u, err,
			    sizeof(err));
		}
		walk(doc, n->items[i], depth + 1);
	}
	if (n->kind == YAMLNODE_MAP)
		(void)yamlnode_check_keys(doc, n, "fuzz", allowed, err,
		    sizeof(err));
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct yamlnode_doc *doc = NULL;
	char err[256];

	err[0] = '\0';
	if (yamlnode_load_buffer("fuzz.yaml", (const char *)data, size, &doc,
	    err, sizeof(err)) != 0) {
		if (doc != NULL || err[0] == '\0')
			abort();
		return 0;
	}
	if (doc == NULL)
		abort();
	if (doc->root != NULL)
		walk(doc, doc->root, 0);
	yamlnode_free(doc);
	return 0;
}
