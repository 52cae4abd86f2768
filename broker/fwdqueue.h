/*
 * fwdqueue — stored transfers whose stored->queued commit failed, retried
 * with backoff until the commit succeeds.
 *
 * A transfer is acknowledged ("stored") before it is queued for delivery;
 * if the commit that queues it fails (a full disk, an I/O error, a batch
 * that did not commit), dropping it would leave it "stored" until the next
 * restart while everything looks fine. The forwarder hands such ids here;
 * after 1, 2, 4, … s (at most FWDQUEUE_BACKOFF_MAX_MS) the retry callback
 * submits the queue job again. While any is waiting or being retried,
 * fwdqueue_failing() is non-zero, which /health and /metrics show.
 *
 * Loop thread only. Copies what it is given; owns its entries and timer.
 */
#ifndef SEKISHO_FWDQUEUE_H
#define SEKISHO_FWDQUEUE_H

#include <stddef.h>
#include <stdint.h>

struct event_base;
struct fwdqueue;

#define FWDQUEUE_BACKOFF_MAX_MS 60000u

/* retry(arg, id, tries) submits the queue job for id again; tries is the
 * number of failed commits so far (>= 1), to be passed back to
 * fwdqueue_failed or fwdqueue_settled. NULL when out of memory. */
struct fwdqueue *fwdqueue_new(struct event_base *base,
    void (*retry)(void *arg, const char *id, unsigned tries), void *arg);

/* Frees the entries still waiting (their transfers stay "stored" in the
 * store, where the next start finds them) and the timer. q may be NULL. */
void fwdqueue_free(struct fwdqueue *q);

/* Stops retrying (shutdown); entries stay until fwdqueue_free. */
void fwdqueue_stop(struct fwdqueue *q);

/* The queue commit for id failed for the tries-th time (1: first). Keeps
 * reason as the last error. -1 only when out of memory (the transfer is
 * then queued at the next start). */
int fwdqueue_failed(struct fwdqueue *q, const char *id, unsigned tries,
    const char *reason);

/* A queue commit of a transfer that had failed tries (>= 1) times
 * succeeded, or needs no more retries: it no longer counts as failing.
 * tries 0 is a no-op. */
void fwdqueue_settled(struct fwdqueue *q, unsigned tries);

/* How many transfers are failing to be queued now; last gets the latest
 * reason ("" when none). */
unsigned fwdqueue_failing(const struct fwdqueue *q, char *last,
    size_t lastlen);

/* The wait before retry number tries (1, 2, 4, … s, capped). Pure. */
uint64_t fwdqueue_backoff_ms(unsigned tries);

#endif
