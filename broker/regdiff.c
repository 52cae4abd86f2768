/*
 * regdiff — see regdiff.h.
 *
 * The canonical form hashed for a node is a tagged, length-prefixed walk:
 * 'S' len bytes for a scalar, 'Q' n items for a sequence, 'M' n (klen key
 * value)... for a mapping with its keys in byte order. Quoting is not part
 * of it: the register reads every scalar as text, so "2" and 2 mean the
 * same. Lengths are 8 bytes big-endian so no two trees share an encoding.
 */
#include "broker/regdiff.h"
#include "lib/util.h"
#include "lib/yamlnode.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/evp.h>

#define VALUE_SHOWN 48	/* bytes of a scalar shown in a field change */

/* One key of an entry: its digest, and its text when it is a scalar. */
struct keyd {
	char *key;
	uint8_t digest[UTIL_SHA256_LEN];
	char *value;			/* NULL unless a scalar */
};

struct entry {
	char *id;
	uint8_t digest[UTIL_SHA256_LEN];
	struct keyd *keys;		/* sorted by key; interfaces and named
					   entries only */
	size_t nkeys;
};

struct regdiff {
	struct entry *ifaces;		/* sorted by id */
	size_t nifaces;
	struct entry *sections;		/* sorted by key */
	size_t nsections;
	struct entry *named;		/* "service:ID", "user:ID", "group:ID",
					   "terminal:ID", sorted */
	size_t nnamed;
};

int
regdiff_read_file(const char *path, char **buf, size_t *len, char *err,
    size_t errlen)
{
	struct stat sb;
	size_t got = 0;
	ssize_t n;
	char *b;
	int fd;

	*buf = NULL;
	*len = 0;
	if ((fd = open(path, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK)) ==
	    -1)
		return util_err(err, errlen, "%s: %s", path, strerror(errno));
	if (fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode) ||
	    sb.st_size > (off_t)YAMLNODE_MAX_BYTES) {
		close(fd);
		return util_err(err, errlen, "%s: not a regular file of at most "
		    "%u bytes", path, YAMLNODE_MAX_BYTES);
	}
	if ((b = malloc((size_t)sb.st_size + 1)) == NULL) {
		close(fd);
		return util_err(err, errlen, "out of memory");
	}
	/* Read to the end (bounded), not to st_size: the file may be being
	 * replaced under us and must be taken as one piece. */
	while (got <= (size_t)sb.st_size) {
		n = read(fd, b + got, (size_t)sb.st_size + 1 - got);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			util_err(err, errlen, "%s: %s", path, strerror(errno));
			free(b);
			close(fd);
			return -1;
		}
		if (n == 0)
			break;
		got += (size_t)n;
	}
	close(fd);
	if (got > (size_t)sb.st_size) {
		free(b);
		return util_err(err, errlen, "%s: changed while being read",
		    path);
	}
	*buf = b;
	*len = got;
	return 0;
}

static void
put_len(EVP_MD_CTX *md, char tag, uint64_t v)
{
	uint8_t b[9];
	int i;

	b[0] = (uint8_t)tag;
	for (i = 0; i < 8; i++)
		b[1 + i] = (uint8_t)(v >> (56 - 8 * i));
	EVP_DigestUpdate(md, b, sizeof(b));
}

static int
cmp_keys(const void *a, const void *b, void *arg)
{
	const struct yamlnode *m = arg;
	size_t i = *(const size_t *)a, j = *(const size_t *)b;

	return strcmp(m->keys[i], m->keys[j]);
}

static int
hash_node(EVP_MD_CTX *md, const struct yamlnode *n)
{
	size_t i, *order;

	switch (n->kind) {
	case YAMLNODE_SCALAR:
		put_len(md, 'S', n->value_len);
		EVP_DigestUpdate(md, n->value, n->value_len);
		return 0;
	case YAMLNODE_SEQ:
		put_len(md, 'Q', n->n);
		for (i = 0; i < n->n; i++)
			if (hash_node(md, n->items[i]) != 0)
				return -1;
		return 0;
	case YAMLNODE_MAP:
		put_len(md, 'M', n->n);
		if (n->n == 0)
			return 0;
		if ((order = calloc(n->n, sizeof(*order))) == NULL)
			return -1;
		for (i = 0; i < n->n; i++)
			order[i] = i;
		qsort_r(order, n->n, sizeof(*order), cmp_keys, (void *)n);
		for (i = 0; i < n->n; i++) {
			const char *k = n->keys[order[i]];

			put_len(md, 'K', strlen(k));
			EVP_DigestUpdate(md, k, strlen(k));
			if (hash_node(md, n->items[order[i]]) != 0) {
				free(order);
				return -1;
			}
		}
		free(order);
		return 0;
	}
	return -1;
}

/* The scalar value of key in map, or NULL. */
static const char *
scalar(const struct yamlnode *map, const char *key)
{
	const struct yamlnode *v = yamlnode_get(map, key);

	return v != NULL && v->kind == YAMLNODE_SCALAR ? v->value : NULL;
}

/* The services[] entry with this id, or NULL. */
static const struct yamlnode *
find_service(const struct yamlnode *root, const char *id)
{
	const struct yamlnode *s = yamlnode_get(root, "services");
	const char *sid;
	size_t i;

	if (id == NULL || s == NULL || s->kind != YAMLNODE_SEQ)
		return NULL;
	for (i = 0; i < s->n; i++)
		if ((sid = scalar(s->items[i], "id")) != NULL &&
		    strcmp(sid, id) == 0)
			return s->items[i];
	return NULL;
}

static int
digest(const struct yamlnode *a, const struct yamlnode *b,
    uint8_t out[UTIL_SHA256_LEN])
{
	EVP_MD_CTX *md = EVP_MD_CTX_new();
	unsigned int len = 0;
	int rc = -1;

	if (md == NULL || EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1)
		goto out;
	if (hash_node(md, a) != 0)
		goto out;
	/* The service an interface delivers to is part of it. */
	put_len(md, 'V', b != NULL);
	if (b != NULL && hash_node(md, b) != 0)
		goto out;
	if (EVP_DigestFinal_ex(md, out, &len) == 1 && len == UTIL_SHA256_LEN)
		rc = 0;
out:
	EVP_MD_CTX_free(md);
	return rc;
}

static int
cmp_entry(const void *a, const void *b)
{
	return strcmp(((const struct entry *)a)->id,
	    ((const struct entry *)b)->id);
}

static int
cmp_keyd(const void *a, const void *b)
{
	return strcmp(((const struct keyd *)a)->key,
	    ((const struct keyd *)b)->key);
}

static void
entry_clear(struct entry *e)
{
	size_t i;

	for (i = 0; i < e->nkeys; i++) {
		free(e->keys[i].key);
		free(e->keys[i].value);
	}
	free(e->keys);
	free(e->id);
}

/* A scalar as shown in a field change: at most VALUE_SHOWN bytes, cut
 * on a UTF-8 boundary and marked, on one line. */
static char *
shown(const char *v)
{
	size_t n = strlen(v), cut = n, i;
	char *out;

	if (n > VALUE_SHOWN) {
		cut = VALUE_SHOWN;
		while (cut > 0 && ((unsigned char)v[cut] & 0xc0) == 0x80)
			cut--;
	}
	if ((out = malloc(cut + 4)) == NULL)
		return NULL;
	memcpy(out, v, cut);
	memcpy(out + cut, cut < n ? "..." : "", cut < n ? 4 : 1);
	for (i = 0; i < cut; i++)
		if (out[i] == '\n' || out[i] == '\r' || out[i] == '\t')
			out[i] = ' ';
	return out;
}

/* The digest of each key of map m (and of svc as the key "(service)",
 * for an interface), so a change can say which fields it touched. */
static int
entry_keys(struct entry *e, const struct yamlnode *m,
    const struct yamlnode *svc)
{
	size_t i, n;

	if (m == NULL || m->kind != YAMLNODE_MAP)
		return 0;
	n = m->n + (svc != NULL);
	if (n == 0)
		return 0;
	if ((e->keys = calloc(n, sizeof(*e->keys))) == NULL)
		return -1;
	for (i = 0; i < m->n; i++) {
		struct keyd *k = &e->keys[e->nkeys];
		const struct yamlnode *v = m->items[i];

		if ((k->key = strdup(m->keys[i])) == NULL)
			return -1;
		e->nkeys++;
		if (digest(v, NULL, k->digest) != 0)
			return -1;
		if (v->kind == YAMLNODE_SCALAR &&
		    (k->value = shown(v->value)) == NULL)
			return -1;
	}
	if (svc != NULL) {
		struct keyd *k = &e->keys[e->nkeys];

		if ((k->key = strdup("(service)")) == NULL)
			return -1;
		e->nkeys++;
		if (digest(svc, NULL, k->digest) != 0)
			return -1;
	}
	qsort(e->keys, e->nkeys, sizeof(*e->keys), cmp_keyd);
	return 0;
}

/* Adds one named entry per item of the list at root.path (a sequence of
 * mappings with an "id"), as "prefix:ID". */
static int
add_named(struct regdiff *d, const struct yamlnode *list, const char *prefix)
{
	struct entry *e;
	const char *id;
	size_t i;

	if (list == NULL || list->kind != YAMLNODE_SEQ || list->n == 0)
		return 0;
	if ((e = realloc(d->named, (d->nnamed + list->n) *
	    sizeof(*d->named))) == NULL)
		return -1;
	d->named = e;
	for (i = 0; i < list->n; i++) {
		e = &d->named[d->nnamed];
		memset(e, 0, sizeof(*e));
		if ((id = scalar(list->items[i], "id")) == NULL)
			continue;
		if (asprintf(&e->id, "%s:%s", prefix, id) < 0) {
			e->id = NULL;
			return -1;
		}
		d->nnamed++;
		if (digest(list->items[i], NULL, e->digest) != 0 ||
		    entry_keys(e, list->items[i], NULL) != 0)
			return -1;
	}
	return 0;
}

void
regdiff_free(struct regdiff *d)
{
	size_t i;

	if (d == NULL)
		return;
	for (i = 0; i < d->nifaces; i++)
		entry_clear(&d->ifaces[i]);
	for (i = 0; i < d->nsections; i++)
		entry_clear(&d->sections[i]);
	for (i = 0; i < d->nnamed; i++)
		entry_clear(&d->named[i]);
	free(d->ifaces);
	free(d->sections);
	free(d->named);
	free(d);
}

int
regdiff_new(const char *name, const char *buf, size_t len,
    struct regdiff **out, char *err, size_t errlen)
{
	struct yamlnode_doc *doc = NULL;
	const struct yamlnode *root, *ifs;
	struct regdiff *d;
	size_t i;
	const char *id;

	*out = NULL;
	if ((d = calloc(1, sizeof(*d))) == NULL)
		return util_err(err, errlen, "out of memory");
	if (yamlnode_load_buffer(name, buf, len, &doc, err, errlen) != 0)
		goto fail;
	root = doc->root;
	if (root == NULL || root->kind != YAMLNODE_MAP) {
		util_err(err, errlen, "%s: not a mapping", name);
		goto fail;
	}
	ifs = yamlnode_get(root, "interfaces");
	if (ifs != NULL && ifs->kind == YAMLNODE_SEQ && ifs->n > 0) {
		if ((d->ifaces = calloc(ifs->n, sizeof(*d->ifaces))) == NULL)
			goto nomem;
		for (i = 0; i < ifs->n; i++) {
			const struct yamlnode *f = ifs->items[i];

			if ((id = scalar(f, "id")) == NULL) {
				util_err(err, errlen, "%s:%u: interface "
				    "without an id", name, f->line);
				goto fail;
			}
			const struct yamlnode *svc;

			if ((d->ifaces[d->nifaces].id = strdup(id)) == NULL)
				goto nomem;
			d->nifaces++;
			svc = find_service(root, scalar(f, "service"));
			if (digest(f, svc, d->ifaces[d->nifaces - 1].digest) !=
			    0 || entry_keys(&d->ifaces[d->nifaces - 1], f,
			    svc) != 0)
				goto nomem;
		}
		qsort(d->ifaces, d->nifaces, sizeof(*d->ifaces), cmp_entry);
	}
	{
		const struct yamlnode *pr = yamlnode_get(root, "principals");

		if (add_named(d, yamlnode_get(root, "services"), "service") != 0 ||
		    (pr != NULL && pr->kind == YAMLNODE_MAP &&
		    (add_named(d, yamlnode_get(pr, "users"), "user") != 0 ||
		    add_named(d, yamlnode_get(pr, "groups"), "group") != 0 ||
		    add_named(d, yamlnode_get(pr, "terminals"),
		    "terminal") != 0)))
			goto nomem;
		if (d->nnamed > 0)
			qsort(d->named, d->nnamed, sizeof(*d->named),
			    cmp_entry);
	}
	if (root->n > 0 &&
	    (d->sections = calloc(root->n, sizeof(*d->sections))) == NULL)
		goto nomem;
	for (i = 0; i < root->n; i++) {
		if (strcmp(root->keys[i], "interfaces") == 0)
			continue;
		if ((d->sections[d->nsections].id = strdup(root->keys[i])) ==
		    NULL)
			goto nomem;
		d->nsections++;
		if (digest(root->items[i], NULL,
		    d->sections[d->nsections - 1].digest) != 0)
			goto nomem;
	}
	qsort(d->sections, d->nsections, sizeof(*d->sections), cmp_entry);
	yamlnode_free(doc);
	*out = d;
	return 0;
nomem:
	util_err(err, errlen, "out of memory");
fail:
	yamlnode_free(doc);
	regdiff_free(d);
	return -1;
}

/* A growing comma-separated list. */
struct list {
	char *s;
	size_t len, cap, n;
};

static int
list_add(struct list *l, const char *id)
{
	size_t need = l->len + strlen(id) + 2;
	char *p;

	if (need > l->cap) {
		size_t cap = l->cap == 0 ? 256 : l->cap;

		while (cap < need)
			cap *= 2;
		if ((p = realloc(l->s, cap)) == NULL)
			return -1;
		l->s = p;
		l->cap = cap;
	}
	if (l->len > 0)
		l->s[l->len++] = ',';
	memcpy(l->s + l->len, id, strlen(id) + 1);
	l->len += strlen(id);
	l->n++;
	return 0;
}

static char *
list_take(struct list *l)
{
	char *s = l->s != NULL ? l->s : strdup("");

	l->s = NULL;
	return s;
}

/* Merges two sorted entry arrays into added/removed/changed lists. */
static int
merge(const struct entry *a, size_t na, const struct entry *b, size_t nb,
    struct list *added, struct list *removed, struct list *changed)
{
	size_t i = 0, j = 0;
	int c;

	while (i < na || j < nb) {
		c = i == na ? 1 : j == nb ? -1 : strcmp(a[i].id, b[j].id);
		if (c < 0) {
			if (list_add(removed, a[i++].id) != 0)
				return -1;
		} else if (c > 0) {
			if (list_add(added, b[j++].id) != 0)
				return -1;
		} else {
			if (memcmp(a[i].digest, b[j].digest,
			    UTIL_SHA256_LEN) != 0 &&
			    list_add(changed, a[i].id) != 0)
				return -1;
			i++;
			j++;
		}
	}
	return 0;
}

/* Interface keys whose presence limits the interface: adding one
 * narrows it, removing one widens it. */
static int
limiting_key(const char *k)
{
	static const char *const keys[] = { "allow", "max_size",
	    "daily_bytes", "daily_count", "valid_from", "valid_until",
	    "schedule", "extensions", "step_up", "approval", NULL };
	size_t i;

	for (i = 0; keys[i] != NULL; i++)
		if (strcmp(keys[i], k) == 0)
			return 1;
	return 0;
}

/* " (widened)", " (narrowed)" or "" for an interface scalar that changed
 * from a to b: larger limits widen, a later valid_until widens, a later
 * valid_from narrows. Values cut for display are not judged. */
static const char *
direction(const char *key, const char *a, const char *b)
{
	uint64_t x, y;
	int c;

	if (strstr(a, "...") != NULL || strstr(b, "...") != NULL)
		return "";
	if (strcmp(key, "max_class") == 0 || strcmp(key, "max_size") == 0 ||
	    strcmp(key, "daily_bytes") == 0 ||
	    strcmp(key, "daily_count") == 0) {
		if (util_parse_size(a, &x) != 0 || util_parse_size(b, &y) != 0 ||
		    x == y)
			return "";
		return y > x ? " (widened)" : " (narrowed)";
	}
	if (strcmp(key, "valid_until") == 0 || strcmp(key, "valid_from") == 0) {
		/* YYYY-MM-DD compares as text. */
		if (strlen(a) != 10 || strlen(b) != 10 || (c = strcmp(a, b)) == 0)
			return "";
		return (c < 0) == (strcmp(key, "valid_until") == 0) ?
		    " (widened)" : " (narrowed)";
	}
	return "";
}

/* Appends to f what changed between the keys of a and b:
 * "max_class 1 -> 2", "+allow", "-schedule", "allow"; for an interface
 * (iface) with " (widened)" or " (narrowed)" where that is plain. */
static void
fields_of(FILE *f, const struct entry *a, const struct entry *b, int iface)
{
	size_t i = 0, j = 0, n = 0;
	int c;

	while (i < a->nkeys || j < b->nkeys) {
		c = i == a->nkeys ? 1 : j == b->nkeys ? -1 :
		    strcmp(a->keys[i].key, b->keys[j].key);
		if (c < 0) {
			fprintf(f, "%s-%s%s", n++ > 0 ? ", " : "",
			    a->keys[i].key, iface &&
			    limiting_key(a->keys[i].key) ? " (widened)" : "");
			i++;
		} else if (c > 0) {
			fprintf(f, "%s+%s%s", n++ > 0 ? ", " : "",
			    b->keys[j].key, iface &&
			    limiting_key(b->keys[j].key) ? " (narrowed)" : "");
			j++;
		} else {
			if (memcmp(a->keys[i].digest, b->keys[j].digest,
			    UTIL_SHA256_LEN) != 0) {
				if (a->keys[i].value != NULL &&
				    b->keys[j].value != NULL)
					fprintf(f, "%s%s %s -> %s%s", n++ > 0 ?
					    ", " : "", a->keys[i].key,
					    a->keys[i].value, b->keys[j].value,
					    iface ? direction(a->keys[i].key,
					    a->keys[i].value, b->keys[j].value) :
					    "");
				else
					fprintf(f, "%s%s", n++ > 0 ? ", " :
					    "", a->keys[i].key);
			}
			i++;
			j++;
		}
	}
}

/* One line per changed entry of two sorted arrays: "ID: fields". */
static int
field_lines(const struct entry *a, size_t na, const struct entry *b,
    size_t nb, int iface, char **out)
{
	size_t i = 0, j = 0, len = 0;
	FILE *f;
	int c;

	*out = NULL;
	if ((f = open_memstream(out, &len)) == NULL)
		return -1;
	while (i < na && j < nb) {
		c = strcmp(a[i].id, b[j].id);
		if (c < 0)
			i++;
		else if (c > 0)
			j++;
		else {
			if (memcmp(a[i].digest, b[j].digest,
			    UTIL_SHA256_LEN) != 0) {
				fprintf(f, "%s: ", a[i].id);
				fields_of(f, &a[i], &b[j], iface);
				fputc('\n', f);
			}
			i++;
			j++;
		}
	}
	if (fclose(f) != 0) {
		free(*out);
		*out = NULL;
		return -1;
	}
	return 0;
}

int
regdiff_compare_detail(const struct regdiff *old, const struct regdiff *new,
    struct regdiff_detail *out, char *err, size_t errlen)
{
	struct list added = { 0 }, removed = { 0 }, changed = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = merge(old->named, old->nnamed, new->named, new->nnamed, &added,
	    &removed, &changed);
	out->named_added = list_take(&added);
	out->named_removed = list_take(&removed);
	out->named_changed = list_take(&changed);
	if (rc != 0 || out->named_added == NULL ||
	    out->named_removed == NULL || out->named_changed == NULL ||
	    field_lines(old->ifaces, old->nifaces, new->ifaces, new->nifaces,
	    1, &out->interface_fields) != 0 ||
	    field_lines(old->named, old->nnamed, new->named, new->nnamed, 0,
	    &out->named_fields) != 0) {
		regdiff_detail_free(out);
		return util_err(err, errlen, "out of memory");
	}
	return 0;
}

void
regdiff_detail_free(struct regdiff_detail *d)
{
	free(d->named_added);
	free(d->named_removed);
	free(d->named_changed);
	free(d->interface_fields);
	free(d->named_fields);
	memset(d, 0, sizeof(*d));
}

int
regdiff_compare(const struct regdiff *old, const struct regdiff *new,
    struct regdiff_changes *out, char *err, size_t errlen)
{
	struct list added = { 0 }, removed = { 0 }, changed = { 0 };
	struct list sections = { 0 };
	int rc;

	memset(out, 0, sizeof(*out));
	rc = merge(old->ifaces, old->nifaces, new->ifaces, new->nifaces,
	    &added, &removed, &changed);
	/* For sections, added and removed ones are changes too. */
	if (rc == 0)
		rc = merge(old->sections, old->nsections, new->sections,
		    new->nsections, &sections, &sections, &sections);
	out->nadded = added.n;
	out->nremoved = removed.n;
	out->nchanged = changed.n;
	out->nsections = sections.n;
	out->added = list_take(&added);
	out->removed = list_take(&removed);
	out->changed = list_take(&changed);
	out->sections = list_take(&sections);
	if (rc != 0 || out->added == NULL || out->removed == NULL ||
	    out->changed == NULL || out->sections == NULL) {
		regdiff_changes_free(out);
		return util_err(err, errlen, "out of memory");
	}
	return 0;
}

void
regdiff_changes_free(struct regdiff_changes *c)
{
	free(c->added);
	free(c->removed);
	free(c->changed);
	free(c->sections);
	memset(c, 0, sizeof(*c));
}
