/*
 * yamlnode — see yamlnode.h.
 *
 * libyaml's event parser does the YAML; this file only turns events into a
 * tree that remembers line numbers. Aliases are refused outright: besides
 * making "which line set this value" ambiguous they are the classic
 * billion-laughs amplification vector, and no sekisho file needs them.
 */
#include "lib/yamlnode.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <yaml.h>

struct builder {
	yaml_parser_t parser;
	const char *name;
	const char *buf;
	size_t len;
	size_t nodes;
	char *err;
	size_t errlen;
};

static void
node_free(struct yamlnode *n)
{
	size_t i;

	if (n == NULL)
		return;
	for (i = 0; i < n->n; i++) {
		if (n->keys != NULL)
			free(n->keys[i]);
		node_free(n->items[i]);
	}
	free(n->keys);
	free(n->key_lines);
	free(n->items);
	free(n->value);
	free(n);
}

void
yamlnode_free(struct yamlnode_doc *doc)
{
	if (doc == NULL)
		return;
	node_free(doc->root);
	free(doc->path);
	free(doc);
}

static int
next_event(struct builder *b, yaml_event_t *ev)
{
	size_t line, i;

	if (!yaml_parser_parse(&b->parser, ev)) {
		line = (size_t)b->parser.problem_mark.line + 1;
		/* Bad bytes (encoding, control characters) are found by the
		 * reader, which gives a byte offset instead of a mark. */
		if (b->parser.error == YAML_READER_ERROR)
			for (i = 0, line = 1; i < b->parser.problem_offset &&
			    i < b->len; i++)
				if (b->buf[i] == '\n')
					line++;
		return util_err(b->err, b->errlen, "%s:%zu: %s%s%s", b->name,
		    line,
		    b->parser.problem ? b->parser.problem : "syntax error",
		    b->parser.context ? " " : "",
		    b->parser.context ? b->parser.context : "");
	}
	return 0;
}

static struct yamlnode *
node_new(struct builder *b, enum yamlnode_kind kind, size_t line)
{
	struct yamlnode *n;

	if (++b->nodes > YAMLNODE_MAX_NODES) {
		util_err(b->err, b->errlen, "%s:%zu: too many nodes (limit %u)",
		    b->name, line, YAMLNODE_MAX_NODES);
		return NULL;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL) {
		util_err(b->err, b->errlen, "%s: out of memory", b->name);
		return NULL;
	}
	n->kind = kind;
	n->line = (unsigned)line;
	return n;
}

/*
 * The arrays' capacity is implicit: they grow to the next power of two (at
 * least 4) when n reaches one, so pushing n children costs O(n) copying
 * rather than O(n^2).
 */
static int
node_push(struct builder *b, struct yamlnode *parent, char *key,
    unsigned key_line, struct yamlnode *child)
{
	size_t n = parent->n, cap = 0;

	if (n == 0)
		cap = 4;
	else if (n >= 4 && (n & (n - 1)) == 0)
		cap = 2 * n;
	if (cap != 0) {
		struct yamlnode **items;

		items = reallocarray(parent->items, cap, sizeof(*items));
		if (items == NULL)
			return util_err(b->err, b->errlen, "%s: out of memory",
			    b->name);
		parent->items = items;
	}
	if (cap != 0 && parent->kind == YAMLNODE_MAP) {
		char **keys = reallocarray(parent->keys, cap, sizeof(*keys));
		unsigned *lines;

		if (keys == NULL)
			return util_err(b->err, b->errlen, "%s: out of memory",
			    b->name);
		parent->keys = keys;
		lines = reallocarray(parent->key_lines, cap, sizeof(*lines));
		if (lines == NULL)
			return util_err(b->err, b->errlen, "%s: out of memory",
			    b->name);
		parent->key_lines = lines;
	}
	if (parent->kind == YAMLNODE_MAP) {
		parent->keys[n] = key;
		parent->key_lines[n] = key_line;
	}
	parent->items[parent->n++] = child;
	return 0;
}

struct keyref {
	const char *key;
	size_t idx;
};

static int
keyref_cmp(const void *a, const void *b)
{
	const struct keyref *x = a, *y = b;
	int c = strcmp(x->key, y->key);

	if (c != 0)
		return c;
	return (x->idx > y->idx) - (x->idx < y->idx);
}

/*
 * Duplicate keys are found by sorting once the mapping is complete: comparing
 * each new key with all earlier ones made a large file cost quadratic time.
 * Reports the duplicate that comes first in the file.
 */
static int
check_duplicates(struct builder *b, const struct yamlnode *n)
{
	struct keyref *refs;
	size_t i, dup = SIZE_MAX, first = 0;

	if (n->n < 2)
		return 0;
	if ((refs = reallocarray(NULL, n->n, sizeof(*refs))) == NULL)
		return util_err(b->err, b->errlen, "%s: out of memory", b->name);
	for (i = 0; i < n->n; i++) {
		refs[i].key = n->keys[i];
		refs[i].idx = i;
	}
	qsort(refs, n->n, sizeof(*refs), keyref_cmp);
	for (i = 1; i < n->n; i++) {
		if (refs[i].idx < dup &&
		    strcmp(refs[i - 1].key, refs[i].key) == 0) {
			dup = refs[i].idx;
			first = refs[i - 1].idx;
		}
	}
	free(refs);
	if (dup == SIZE_MAX)
		return 0;
	return util_err(b->err, b->errlen, "%s:%u: duplicate key '%s' (first "
	    "at line %u)", b->name, n->key_lines[dup], n->keys[dup],
	    n->key_lines[first]);
}

static int parse_node(struct builder *b, yaml_event_t *ev, unsigned depth,
    struct yamlnode **out);

/* Parses the children of a MAP or SEQ whose start event was just consumed. */
static int
parse_children(struct builder *b, struct yamlnode *n, unsigned depth)
{
	yaml_event_t ev;

	for (;;) {
		char *key = NULL;
		unsigned key_line = 0;
		struct yamlnode *child = NULL;

		if (next_event(b, &ev) != 0)
			return -1;
		if (ev.type == YAML_MAPPING_END_EVENT ||
		    ev.type == YAML_SEQUENCE_END_EVENT) {
			yaml_event_delete(&ev);
			return n->kind == YAMLNODE_MAP ?
			    check_duplicates(b, n) : 0;
		}
		if (n->kind == YAMLNODE_MAP) {
			if (ev.type != YAML_SCALAR_EVENT) {
				util_err(b->err, b->errlen,
				    "%s:%zu: mapping keys must be plain scalars",
				    b->name, (size_t)ev.start_mark.line + 1);
				yaml_event_delete(&ev);
				return -1;
			}
			key_line = (unsigned)ev.start_mark.line + 1;
			if (ev.data.scalar.anchor != NULL) {
				util_err(b->err, b->errlen,
				    "%s:%u: anchors (&name) are not allowed",
				    b->name, key_line);
				yaml_event_delete(&ev);
				return -1;
			}
			if (strlen((char *)ev.data.scalar.value) !=
			    ev.data.scalar.length) {
				util_err(b->err, b->errlen,
				    "%s:%u: key contains a NUL byte", b->name,
				    key_line);
				yaml_event_delete(&ev);
				return -1;
			}
			key = strdup((char *)ev.data.scalar.value);
			yaml_event_delete(&ev);
			if (key == NULL)
				return util_err(b->err, b->errlen,
				    "%s: out of memory", b->name);
			if (next_event(b, &ev) != 0) {
				free(key);
				return -1;
			}
		}
		if (parse_node(b, &ev, depth + 1, &child) != 0) {
			free(key);
			return -1;
		}
		if (node_push(b, n, key, key_line, child) != 0) {
			free(key);
			node_free(child);
			return -1;
		}
	}
}

/* Builds a node from ev (consumed here) and, for collections, its children. */
static int
parse_node(struct builder *b, yaml_event_t *ev, unsigned depth,
    struct yamlnode **out)
{
	size_t line = (size_t)ev->start_mark.line + 1;
	struct yamlnode *n;

	*out = NULL;
	if (depth > YAMLNODE_MAX_DEPTH) {
		yaml_event_delete(ev);
		return util_err(b->err, b->errlen,
		    "%s:%zu: nested deeper than %u levels", b->name, line,
		    YAMLNODE_MAX_DEPTH);
	}
	switch (ev->type) {
	case YAML_ALIAS_EVENT:
		yaml_event_delete(ev);
		return util_err(b->err, b->errlen,
		    "%s:%zu: aliases (*name) are not allowed", b->name, line);
	case YAML_SCALAR_EVENT:
		if (ev->data.scalar.anchor != NULL) {
			yaml_event_delete(ev);
			return util_err(b->err, b->errlen,
			    "%s:%zu: anchors (&name) are not allowed", b->name,
			    line);
		}
		if ((n = node_new(b, YAMLNODE_SCALAR, line)) == NULL) {
			yaml_event_delete(ev);
			return -1;
		}
		n->value_len = ev->data.scalar.length;
		n->value = malloc(n->value_len + 1);
		if (n->value == NULL) {
			yaml_event_delete(ev);
			node_free(n);
			return util_err(b->err, b->errlen, "%s: out of memory",
			    b->name);
		}
		memcpy(n->value, ev->data.scalar.value, n->value_len);
		n->value[n->value_len] = '\0';
		n->quoted = ev->data.scalar.style != YAML_PLAIN_SCALAR_STYLE;
		yaml_event_delete(ev);
		*out = n;
		return 0;
	case YAML_SEQUENCE_START_EVENT:
	case YAML_MAPPING_START_EVENT: {
		int is_map = ev->type == YAML_MAPPING_START_EVENT;
		int anchored = is_map ? ev->data.mapping_start.anchor != NULL :
		    ev->data.sequence_start.anchor != NULL;

		yaml_event_delete(ev);
		if (anchored)
			return util_err(b->err, b->errlen,
			    "%s:%zu: anchors (&name) are not allowed", b->name,
			    line);
		n = node_new(b, is_map ? YAMLNODE_MAP : YAMLNODE_SEQ, line);
		if (n == NULL)
			return -1;
		if (parse_children(b, n, depth) != 0) {
			node_free(n);
			return -1;
		}
		*out = n;
		return 0;
	}
	default:
		yaml_event_delete(ev);
		return util_err(b->err, b->errlen,
		    "%s:%zu: unexpected YAML structure", b->name, line);
	}
}

int
yamlnode_load_buffer(const char *name, const char *buf, size_t len,
    struct yamlnode_doc **out, char *err, size_t errlen)
{
	struct builder b;
	struct yamlnode_doc *doc;
	yaml_event_t ev;
	int rc = -1, done = 0, ndocs = 0;

	*out = NULL;
	if (len > YAMLNODE_MAX_BYTES)
		return util_err(err, errlen, "%s: file larger than %u bytes",
		    name, YAMLNODE_MAX_BYTES);
	if ((doc = calloc(1, sizeof(*doc))) == NULL ||
	    (doc->path = strdup(name)) == NULL) {
		yamlnode_free(doc);
		return util_err(err, errlen, "%s: out of memory", name);
	}
	memset(&b, 0, sizeof(b));
	b.name = name;
	b.buf = buf;
	b.len = len;
	b.err = err;
	b.errlen = errlen;
	if (!yaml_parser_initialize(&b.parser)) {
		yamlnode_free(doc);
		return util_err(err, errlen, "%s: cannot initialise parser",
		    name);
	}
	yaml_parser_set_input_string(&b.parser, (const unsigned char *)buf,
	    len);
	/* Expect STREAM_START, optional DOCUMENT, STREAM_END; one document. */
	while (!done) {
		if (next_event(&b, &ev) != 0)
			goto out;
		switch (ev.type) {
		case YAML_STREAM_START_EVENT:
		case YAML_DOCUMENT_END_EVENT:
			yaml_event_delete(&ev);
			break;
		case YAML_DOCUMENT_START_EVENT:
			yaml_event_delete(&ev);
			if (++ndocs > 1) {
				util_err(err, errlen, "%s:%zu: only one YAML "
				    "document is allowed", name,
				    (size_t)b.parser.mark.line + 1);
				goto out;
			}
			if (next_event(&b, &ev) != 0)
				goto out;
			if (ev.type == YAML_DOCUMENT_END_EVENT) {
				yaml_event_delete(&ev);
				break;
			}
			/* libyaml reports "---" with no content as an empty
			 * plain scalar; that is an empty document. */
			if (ev.type == YAML_SCALAR_EVENT &&
			    ev.data.scalar.length == 0 &&
			    ev.data.scalar.style == YAML_PLAIN_SCALAR_STYLE &&
			    ev.data.scalar.tag == NULL &&
			    ev.data.scalar.anchor == NULL) {
				yaml_event_delete(&ev);
				break;
			}
			if (parse_node(&b, &ev, 0, &doc->root) != 0)
				goto out;
			break;
		case YAML_STREAM_END_EVENT:
			yaml_event_delete(&ev);
			done = 1;
			break;
		default:
			yaml_event_delete(&ev);
			util_err(err, errlen, "%s: unexpected YAML event", name);
			goto out;
		}
	}
	rc = 0;
	*out = doc;
	doc = NULL;
out:
	yaml_parser_delete(&b.parser);
	yamlnode_free(doc);
	return rc;
}

int
yamlnode_load_file(const char *path, struct yamlnode_doc **out, char *err,
    size_t errlen)
{
	struct stat st;
	char *buf = NULL;
	size_t got = 0;
	int fd, rc;

	*out = NULL;
	/* O_NONBLOCK: opening a FIFO must not wait for a writer before the
	 * regular-file check below can refuse it. */
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NONBLOCK)) == -1)
		return util_err(err, errlen, "%s: cannot open: %s", path,
		    strerror(errno));
	if (fstat(fd, &st) == -1 || !S_ISREG(st.st_mode)) {
		close(fd);
		return util_err(err, errlen, "%s: not a regular file", path);
	}
	if ((uint64_t)st.st_size > YAMLNODE_MAX_BYTES) {
		close(fd);
		return util_err(err, errlen, "%s: file larger than %u bytes",
		    path, YAMLNODE_MAX_BYTES);
	}
	if ((buf = malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return util_err(err, errlen, "%s: out of memory", path);
	}
	while (got < (size_t)st.st_size) {
		ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);

		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			rc = util_err(err, errlen, "%s: read failed: %s", path,
			    n < 0 ? strerror(errno) : "file shrank");
			close(fd);
			free(buf);
			return rc;
		}
		got += (size_t)n;
	}
	close(fd);
	rc = yamlnode_load_buffer(path, buf, got, out, err, errlen);
	free(buf);
	return rc;
}

const struct yamlnode *
yamlnode_get(const struct yamlnode *map, const char *key)
{
	size_t i;

	if (map == NULL || map->kind != YAMLNODE_MAP)
		return NULL;
	for (i = 0; i < map->n; i++)
		if (strcmp(map->keys[i], key) == 0)
			return map->items[i];
	return NULL;
}

/* Finds key and checks it is a scalar; 1 when absent. */
static int
get_scalar(const struct yamlnode_doc *doc, const struct yamlnode *map,
    const char *key, const struct yamlnode **out, char *err, size_t errlen)
{
	const struct yamlnode *n = yamlnode_get(map, key);

	if (n == NULL)
		return 1;
	if (n->kind != YAMLNODE_SCALAR)
		return util_err(err, errlen, "%s:%u: field '%s': expected a "
		    "single value, not a %s", doc->path, n->line, key,
		    n->kind == YAMLNODE_MAP ? "mapping" : "list");
	*out = n;
	return 0;
}

int
yamlnode_get_str(const struct yamlnode_doc *doc, const struct yamlnode *map,
    const char *key, size_t maxlen, const char **out, char *err,
    size_t errlen)
{
	const struct yamlnode *n = NULL;
	int rc = get_scalar(doc, map, key, &n, err, errlen);

	if (rc != 0)
		return rc;
	if (n->value_len != strlen(n->value))
		return util_err(err, errlen, "%s:%u: field '%s': contains a NUL "
		    "byte", doc->path, n->line, key);
	if (n->value_len > maxlen)
		return util_err(err, errlen, "%s:%u: field '%s': longer than %zu "
		    "characters", doc->path, n->line, key, maxlen);
	*out = n->value;
	return 0;
}

int
yamlnode_get_uint(const struct yamlnode_doc *doc, const struct yamlnode *map,
    const char *key, uint64_t min, uint64_t max, uint64_t *out, char *err,
    size_t errlen)
{
	const struct yamlnode *n = NULL;
	uint64_t v;
	int rc = get_scalar(doc, map, key, &n, err, errlen);

	if (rc != 0)
		return rc;
	if (util_parse_size(n->value, &v) != 0 ||
	    strspn(n->value, "0123456789") != n->value_len)
		return util_err(err, errlen, "%s:%u: field '%s': '%s' is not a "
		    "whole number", doc->path, n->line, key, n->value);
	if (v < min || v > max)
		return util_err(err, errlen, "%s:%u: field '%s': %" PRIu64
		    " is out of range (%" PRIu64 "..%" PRIu64 ")", doc->path,
		    n->line, key, v, min, max);
	*out = v;
	return 0;
}

int
yamlnode_get_bool(const struct yamlnode_doc *doc, const struct yamlnode *map,
    const char *key, int *out, char *err, size_t errlen)
{
	const struct yamlnode *n = NULL;
	int rc = get_scalar(doc, map, key, &n, err, errlen);

	if (rc != 0)
		return rc;
	if (strcmp(n->value, "true") == 0 || strcmp(n->value, "yes") == 0)
		*out = 1;
	else if (strcmp(n->value, "false") == 0 || strcmp(n->value, "no") == 0)
		*out = 0;
	else
		return util_err(err, errlen, "%s:%u: field '%s': expected true "
		    "or false, got '%s'", doc->path, n->line, key, n->value);
	return 0;
}

int
yamlnode_get_size(const struct yamlnode_doc *doc, const struct yamlnode *map,
    const char *key, uint64_t *out, char *err, size_t errlen)
{
	const struct yamlnode *n = NULL;
	int rc = get_scalar(doc, map, key, &n, err, errlen);

	if (rc != 0)
		return rc;
	if (util_parse_size(n->value, out) != 0)
		return util_err(err, errlen, "%s:%u: field '%s': '%s' is not a "
		    "size (examples: 1048576, 512KiB, 10MiB, 2GiB)", doc->path,
		    n->line, key, n->value);
	return 0;
}

int
yamlnode_get_duration(const struct yamlnode_doc *doc,
    const struct yamlnode *map, const char *key, uint64_t *out, char *err,
    size_t errlen)
{
	const struct yamlnode *n = NULL;
	int rc = get_scalar(doc, map, key, &n, err, errlen);

	if (rc != 0)
		return rc;
	if (util_parse_duration(n->value, out) != 0)
		return util_err(err, errlen, "%s:%u: field '%s': '%s' is not a "
		    "duration (examples: 30s, 15m, 24h, 3d)", doc->path,
		    n->line, key, n->value);
	return 0;
}

int
yamlnode_check_keys(const struct yamlnode_doc *doc, const struct yamlnode *map,
    const char *where, const char *const *allowed, char *err, size_t errlen)
{
	size_t i, j;

	if (map == NULL)
		return 0;
	if (map->kind != YAMLNODE_MAP)
		return util_err(err, errlen, "%s:%u: %s: expected a mapping",
		    doc->path, map->line, where);
	for (i = 0; i < map->n; i++) {
		for (j = 0; allowed[j] != NULL; j++)
			if (strcmp(map->keys[i], allowed[j]) == 0)
				break;
		if (allowed[j] == NULL)
			return util_err(err, errlen, "%s:%u: %s: unknown field "
			    "'%s'", doc->path, map->key_lines[i], where,
			    map->keys[i]);
	}
	return 0;
}
