/*
 * auditverify — `sekisho audit verify DIR --key KEYFILE [--previous CP]`:
 * checks a pulled trail offline with nothing but the broker's public key.
 *
 * PATH is a pulled directory or a pull saved as one file (auditbundle.h).
 * A pulled directory (written by `sekisho audit pull`, docs/audit.md):
 *   checkpoint.note   the signed checkpoint the pull was proven against
 *   proof.txt         from_seq, count, tree_size and the proof hashes
 *   leaves.bin        the leaf hash of every pulled record, 32 bytes each
 *   records.audit     the records, exactly as the broker stored them
 *   previous.note     (if pulled with --previous) the earlier checkpoint
 *
 * Checks, in order, stopping at the first failure: the checkpoint's
 * signature and origin; the proof file; that left + leaves + right give the
 * signed root; every record (well-formed, in sequence, equal to its leaf,
 * chained to the one before); that none is missing at the end; and, given
 * an earlier checkpoint, its signature and the consistency proof from it.
 * The verdict names the first bad record and what is wrong with it.
 * "reconcile" records (compensations for records the broker's state never
 * reflected) are counted; each must void an earlier record.
 */
#ifndef SEKISHO_AUDITVERIFY_H
#define SEKISHO_AUDITVERIFY_H

#include <stddef.h>
#include <stdint.h>

#include "client/i18n.h"
#include "lib/auditfmt.h"

#define AUDITVERIFY_NOTE_MAX 8192	/* bytes of a checkpoint file */

struct auditverify_result {
	struct auditfmt_verdict v;	/* fault NONE when everything holds;
					 * v.msg in English (--json) */
	/* v.msg in the user's language when this module found the fault;
	 * "" when lib/auditfmt's verifier did (its detail is English only,
	 * auditverify_fault_advice says what it means). */
	char text[sizeof(((struct auditfmt_verdict *)0)->msg)];
	char origin[NOTE_ORIGIN_MAX + 1];
	uint64_t tree_size;
	uint64_t from_seq;
	uint64_t count;			/* records verified */
	int has_previous;
	uint64_t previous_size;
	uint64_t reconciled;		/* "reconcile" records among them */
};

/*
 * Verifies dir. previous (may be NULL) is a checkpoint file the auditor
 * kept from an earlier pull. Returns 0 when the check could be run (res->v
 * says whether the trail holds), -1 with err when it could not (a file
 * missing or unreadable, the key file bad).
 */
int auditverify_dir(const char *dir, const char *keyfile,
    const char *previous, struct auditverify_result *res,
    struct i18n_msg *err);

/* The same checks on a pull saved as one file (auditbundle.h): the
 * checkpoint, proof and leaf hashes come from its messages, the records
 * from its data items. A bundle that is cut, has broken framing or counts
 * that disagree fails (missing / malformed) even when the records it has
 * hold. Same returns as auditverify_dir. */
int auditverify_bundle(const char *path, const char *keyfile,
    const char *previous, struct auditverify_result *res,
    struct i18n_msg *err);

/* auditverify_bundle when path is a bundle (by its first byte), else
 * auditverify_dir. */
int auditverify_path(const char *path, const char *keyfile,
    const char *previous, struct auditverify_result *res,
    struct i18n_msg *err);

/* Reads a small file (at most max bytes) into a malloc'd, NUL-terminated
 * buffer. For checkpoint and proof files. -1 with err. */
int auditverify_read_small(const char *path, size_t max, char **out,
    size_t *len, struct i18n_msg *err);

/* What fault f means for the auditor and what to do, one sentence in the
 * user's language (static storage); "" for AUDITFMT_FAULT_NONE. */
const char *auditverify_fault_advice(enum auditfmt_fault f);

#endif
