/*
 * auditpull — the broker's side of `sekisho audit pull`: an auditor (監査人)
 * asks for the records of a period or a range of sequence numbers and gets,
 * besides the records, everything needed to prove them against a signed
 * checkpoint without trusting the broker (docs/audit.md, docs/protocol.md):
 *
 *   audit_pull {?from_seq, ?to_seq | ?since, ?until; ?previous}
 *   <- audit_head {checkpoint, tree_size, from_seq, count, left, right,
 *                  ?previous_size, ?previous}
 *   <- audit_records {from_seq, count, leaves} + one data item of records,
 *      repeated (at most AUDITFMT_CHUNK_RECORDS records, 1 MiB, each)
 *   <- audit_done {count}
 *
 * Only principals whose register roles include auditor may pull; anyone
 * else gets "forbidden", and the attempt is an audit record
 * ("audit_pull_refused"). A pull is itself recorded ("audit_pull").
 *
 * Reading the trail and making proofs happen on the commit thread (the
 * trail belongs to it), one chunk per job, so a long pull never holds up
 * the uploads' group commits for more than one chunk. The connection does
 * not read while the pull runs; the next chunk is read only when the
 * client has taken most of the last one (bounded memory per pull).
 */
#ifndef SEKISHO_AUDITPULL_H
#define SEKISHO_AUDITPULL_H

struct reqconn;
struct wire_msg;

/* Handles an audit_pull message (loop thread); the table (handlers.h)
 * has checked the auditor role. */
void auditpull_handle(struct reqconn *c, const struct wire_msg *m);

/* The refusal of a pull: audited ("audit_pull_refused", reason why),
 * logged, answered with code and why. */
void auditpull_refuse(struct reqconn *c, const struct wire_msg *m,
    const char *code, const char *why);

#endif
