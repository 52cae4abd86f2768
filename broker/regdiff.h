/*
 * regdiff — what changed between two versions of the interface register,
 * for the audit record of a reload (変更管理: every policy change recorded).
 *
 * It works on the YAML tree (lib/yamlnode) of exactly the bytes the policy
 * was loaded from, so the register hash and the digests describe the same
 * file. Each interface gets a digest of its canonical form (mapping keys
 * sorted, so reordering keys is not a change) together with the service
 * entry it names (a new endpoint or pin changes where the interface
 * delivers). Every other top-level section (principals, services, forbids,
 * timezone, ...) gets one digest, reported by name when it changed.
 *
 * Ownership: regdiff_new returns a set freed with regdiff_free;
 * regdiff_compare fills malloc'd strings freed with regdiff_changes_free.
 */
#ifndef SEKISHO_REGDIFF_H
#define SEKISHO_REGDIFF_H

#include <stddef.h>

struct regdiff;

/* Reads a register file whole (a regular file of at most 8 MiB) into a
 * malloc'd buffer for policy_load_buffer and regdiff_new. */
int regdiff_read_file(const char *path, char **buf, size_t *len, char *err,
    size_t errlen);

/* Digests of the register in buf (name is used in messages). The register
 * should already have been accepted by policy_load_buffer; this only needs
 * it to be YAML with an "interfaces" list of mappings with an "id". */
int regdiff_new(const char *name, const char *buf, size_t len,
    struct regdiff **out, char *err, size_t errlen);
void regdiff_free(struct regdiff *d);

/* Interface ids (comma-separated, in id order) added, removed and changed
 * from old to new, and the other top-level sections that changed. */
struct regdiff_changes {
	char *added;
	char *removed;
	char *changed;
	char *sections;
	size_t nadded, nremoved, nchanged, nsections;
};

int regdiff_compare(const struct regdiff *old, const struct regdiff *new,
    struct regdiff_changes *out, char *err, size_t errlen);
void regdiff_changes_free(struct regdiff_changes *c);

/*
 * The detail an approver reads (regapproval.h): the services, users,
 * groups and terminals added, removed and changed, each as "service:ID",
 * "user:ID", "group:ID", "terminal:ID" (comma-separated, in order), and
 * for each changed interface and named entry one line "ID: fields": a key
 * added ("+allow"), removed ("-schedule"), a scalar changed with both
 * values ("max_class 1 -> 2", values cut to 48 bytes) or another value
 * changed ("allow"); "(service)" when the service entry an interface
 * names changed. For an interface, " (widened)" or " (narrowed)" follows
 * where that is plain: a larger or smaller max_class, max_size,
 * daily_bytes or daily_count, a later or earlier valid_until (valid_from
 * the other way), a limiting key (allow, max_size, daily_*, valid_*,
 * schedule, extensions, step_up, approval) removed or added. A change
 * inside a list or map (who is in allow, which hours) is named, not
 * judged.
 * malloc'd strings, freed with regdiff_detail_free.
 */
struct regdiff_detail {
	char *named_added;
	char *named_removed;
	char *named_changed;
	char *interface_fields;		/* lines */
	char *named_fields;		/* lines */
};

int regdiff_compare_detail(const struct regdiff *old,
    const struct regdiff *new, struct regdiff_detail *out, char *err,
    size_t errlen);
void regdiff_detail_free(struct regdiff_detail *d);

#endif
