/*
 * auditbundle — a pull saved as one file: the sekisho/1 items the broker
 * sends for an audit_pull, byte for byte as they travel (docs/audit.md,
 * "A pull as one file"):
 *
 *   audit_head {checkpoint, tree_size, from_seq, count, left, right,
 *               ?previous_size, ?previous}
 *   ( audit_records {from_seq, count, leaves}  <data item: the records> )*
 *   audit_done {count}
 *
 * This is what `sekisho audit pull --raw FILE` writes and what the
 * browser downloads from /api/v1/audit/bundle. The reader takes such a
 * file apart into what a pulled directory holds (checkpoint, proof, leaf
 * hashes, where the records are) without trusting any of it: the verifier
 * (auditverify.h) decides whether it holds.
 *
 * Detection: a bundle starts with a CBOR map (0xa0..0xbb); a pulled
 * directory is a directory.
 *
 * Ownership: auditbundle_open returns a bundle freed by auditbundle_free;
 * the file descriptor it holds is closed there.
 */
#ifndef SEKISHO_AUDITBUNDLE_H
#define SEKISHO_AUDITBUNDLE_H

#include <stddef.h>
#include <stdint.h>

#include "lib/auditfmt.h"

/* Where one data item's records lie in the file. */
struct auditbundle_range {
	uint64_t start, end;		/* file offsets, end exclusive */
	uint64_t from_seq, count;	/* what its audit_records said */
};

struct auditbundle {
	int fd;
	char *note;			/* the checkpoint text (NUL-terminated) */
	size_t notelen;
	struct auditfmt_proof proof;	/* count: what the head announced */
	uint8_t (*leaves)[AUDITFMT_HASH_LEN];	/* every records message's */
	size_t nleaves;
	struct auditbundle_range *ranges;
	size_t nranges;
	/* Why the bundle stops early ("" when audit_done ended it and the
	 * counts agree): a cut file, a broken item, a message out of place.
	 * The records before that point can still be checked. */
	char broken[256];
	int broken_is_cut;		/* the file simply ends too soon */
	uint64_t broken_off;
};

/* 1 when path is a regular file whose first byte starts a CBOR map (the
 * only thing a bundle can start with); 0 otherwise (a directory, another
 * file, missing). */
int auditbundle_is_bundle(const char *path);

/*
 * Reads the bundle at path. Returns 0 with *out set even when the bundle
 * is damaged after its head (b->broken says where and why), -1 with err
 * when it cannot be read at all or does not start with an audit_head (a
 * saved error answer is reported with the broker's code and message).
 */
int auditbundle_open(const char *path, struct auditbundle **out, char *err,
    size_t errlen);
void auditbundle_free(struct auditbundle *b);

#endif
