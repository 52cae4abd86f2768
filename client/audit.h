/*
 * audit — the auditor's (監査人) commands of the sekisho client:
 *
 *   sekisho audit pull (--since T1 [--until T2] | [--from-seq A] [--to-seq B])
 *                      --out DIR [--previous CHECKPOINT]
 *   sekisho audit verify DIR --key KEYFILE [--previous CHECKPOINT]
 *   sekisho audit show TRANSFER_ID DIR
 *   sekisho audit export DIR --format csv|jsonl [--output FILE]
 *
 * pull talks to the broker (the principal needs the auditor role in the
 * interface register); the others work offline on a pulled directory, with
 * nothing but the broker's published verifier key. docs/audit.md is the
 * guide. The command has its own option parser: `--key` is the verifier key
 * here (the TLS key of the configuration can be overridden with
 * --tls-key).
 *
 * Exit status: as the other commands (0 success, 1 usage, 2 local problem,
 * 3 connection, 4 refused, 5 broker or protocol error, 6 not found), and
 * AUDIT_EXIT_INVALID when a verification fails: the trail was changed,
 * cut, reordered, wrongly signed or rolled back.
 */
#ifndef SEKISHO_AUDIT_CLIENT_H
#define SEKISHO_AUDIT_CLIENT_H

#define AUDIT_EXIT_INVALID 7


/* Runs `sekisho ... audit ...`; returns the exit status. */
int audit_main(int argc, char **argv);

/* The audit commands' help text (static; `sekisho help audit`). */
const char *audit_usage_text(void);

#endif
