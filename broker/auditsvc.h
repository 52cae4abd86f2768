/*
 * auditsvc — how sekishod runs its audit trail: the signer process, the
 * trail's options from the configuration, the checkpoint and retention
 * timer, the health log line, and `sekishod --audit-keygen`.
 *
 * Order at start (main.c): auditsvc_start right after the configuration is
 * read (it forks the signer, so before any thread, key or socket exists),
 * auditsvc_open instead of audit_open, auditsvc_checkpoint after the
 * "start" record, auditsvc_timer_start once the event loop and the commit
 * thread run. At the end: auditsvc_checkpoint after the "stop" record, then
 * auditsvc_free.
 *
 * The timer runs on the loop: every few seconds it queues a job for the
 * commit thread that signs a checkpoint when checkpoint_interval has passed
 * and, at most once a minute, prunes segments past audit.retention. While
 * the trail is unhealthy it logs an error line once a minute, so an
 * operator cannot miss that the broker is refusing transfers.
 */
#ifndef SEKISHO_AUDITSVC_H
#define SEKISHO_AUDITSVC_H

#include <stddef.h>
#include <time.h>

#include "lib/note.h"

struct audit;
struct broker;
struct config;
struct auditsvc;

/* Forks the signer (generating the key pair at first start when the key
 * paths are the defaults). */
int auditsvc_start(const struct config *cfg, struct auditsvc **out,
    char *err, size_t errlen);

/* Opens the trail with checkpoints signed by the signer; logs what was
 * repaired; *torn_bytes (may be NULL) as struct audit_recovery says. */
int auditsvc_open(struct auditsvc *s, const struct config *cfg,
    struct audit **out, size_t *torn_bytes, char *err, size_t errlen);

/* Signs a checkpoint of every synced record now (main thread, while the
 * commit thread is not running). */
int auditsvc_checkpoint(struct auditsvc *s, struct audit *a, char *err,
    size_t errlen);

/* Starts the timer on b's loop (b->committer must run). */
int auditsvc_timer_start(struct auditsvc *s, struct broker *b,
    struct audit *a, char *err, size_t errlen);
void auditsvc_timer_stop(struct auditsvc *s);

/* The public key auditors verify with (valid after auditsvc_start). */
const struct note_verifier *auditsvc_verifier(const struct auditsvc *s);

/* Stops the timer and the signer. */
void auditsvc_free(struct auditsvc *s);

/* For --check-config: the audit keys as far as the main process may look
 * (the verifier key is read and must be named audit.name; the signing key
 * is only stat()ed: it must be a regular file of mode 0600). 0 when fine
 * or when the pair will be generated at first start, -1 with err. */
int auditsvc_check(const struct config *cfg, char *err, size_t errlen);

/* `sekishod -c CONFIG --audit-keygen`: writes audit.signing_key (0600) and
 * audit.verifier_key, prints the verifier key. Exit status. */
int auditsvc_keygen(const char *config_path);

#endif
