/*
 * yamlnode — loads a YAML document (via libyaml) into a small tree that keeps
 * line numbers, so every configuration reader can say "file:line: field: what
 * is wrong". It is deliberately tiny: mappings, sequences and scalars; anchors
 * and aliases are refused (they are not needed in a security configuration and
 * make "which line set this" ambiguous); duplicate keys are refused.
 *
 * Ownership: yamlnode_load_file returns a tree the caller frees with
 * yamlnode_free. Pointers returned by lookups point into that tree.
 * Limits: files above YAMLNODE_MAX_BYTES, depth above YAMLNODE_MAX_DEPTH and
 * more than YAMLNODE_MAX_NODES nodes are refused.
 */
#ifndef SEKISHO_YAMLNODE_H
#define SEKISHO_YAMLNODE_H

#include <stddef.h>
#include <stdint.h>

#define YAMLNODE_MAX_BYTES (8u << 20)
#define YAMLNODE_MAX_DEPTH 32
#define YAMLNODE_MAX_NODES 1000000

enum yamlnode_kind { YAMLNODE_SCALAR, YAMLNODE_MAP, YAMLNODE_SEQ };

struct yamlnode {
	enum yamlnode_kind kind;
	unsigned line;			/* 1-based line of the node's start */
	char *value;			/* SCALAR: the text (NUL-terminated) */
	size_t value_len;		/* SCALAR: length; may contain no NUL */
	int quoted;			/* SCALAR: written in quotes */
	/* MAP: keys[i] -> items[i]; SEQ: items[i]. */
	size_t n;
	char **keys;
	unsigned *key_lines;
	struct yamlnode **items;
};

struct yamlnode_doc {
	char *path;			/* as given to load */
	struct yamlnode *root;		/* NULL for an empty document */
};

/* Loads path. On error returns -1 with "path:line: message" in err. */
int yamlnode_load_file(const char *path, struct yamlnode_doc **out,
    char *err, size_t errlen);

/* Same, from memory; name is used in messages. */
int yamlnode_load_buffer(const char *name, const char *buf, size_t len,
    struct yamlnode_doc **out, char *err, size_t errlen);

void yamlnode_free(struct yamlnode_doc *doc);

/* MAP lookup; NULL when map is not a MAP or key is absent. */
const struct yamlnode *yamlnode_get(const struct yamlnode *map, const char *key);

/*
 * Typed readers for a key of a MAP. Each returns 0 and sets *out when the key
 * is present and valid, 1 when the key is absent (*out untouched), -1 with
 * "path:line: field 'key': ..." in err when present but wrong.
 */
int yamlnode_get_str(const struct yamlnode_doc *doc, const struct yamlnode *map,
    const char *key, size_t maxlen, const char **out, char *err, size_t errlen);
int yamlnode_get_uint(const struct yamlnode_doc *doc, const struct yamlnode *map,
    const char *key, uint64_t min, uint64_t max, uint64_t *out,
    char *err, size_t errlen);
int yamlnode_get_bool(const struct yamlnode_doc *doc, const struct yamlnode *map,
    const char *key, int *out, char *err, size_t errlen);
/* Sizes accept util_parse_size syntax ("10MiB"), durations util_parse_duration. */
int yamlnode_get_size(const struct yamlnode_doc *doc, const struct yamlnode *map,
    const char *key, uint64_t *out, char *err, size_t errlen);
int yamlnode_get_duration(const struct yamlnode_doc *doc,
    const struct yamlnode *map, const char *key, uint64_t *out,
    char *err, size_t errlen);

/*
 * Refuses keys of map that are not in allowed (a NULL-terminated list), so a
 * typo in a security setting is an error rather than a silently ignored line.
 * `where` names the section in the message ("tls", "interfaces[2]").
 */
int yamlnode_check_keys(const struct yamlnode_doc *doc,
    const struct yamlnode *map, const char *where, const char *const *allowed,
    char *err, size_t errlen);

#endif
