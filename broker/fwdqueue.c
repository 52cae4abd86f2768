/*
 * fwdqueue — see fwdqueue.h.
 *
 * A short list with one timer: failures are rare, so a linear scan for the
 * next due entry costs nothing worth an ordered structure.
 */
#include "broker/fwdqueue.h"
#include "lib/util.h"

#include <stdlib.h>
#include <string.h>
#include <sys/queue.h>
#include <time.h>

#include <event2/event.h>

struct fwdqueue_entry {
	TAILQ_ENTRY(fwdqueue_entry) entry;
	char id[UTIL_ID_LEN + 1];
	unsigned tries;
	uint64_t due_ms;
};
TAILQ_HEAD(fwdqueue_list, fwdqueue_entry);

struct fwdqueue {
	struct fwdqueue_list waiting;
	struct event *timer;
	void (*retry)(void *arg, const char *id, unsigned tries);
	void *arg;
	unsigned failing;
	int stopped;
	char last[256];
};

static uint64_t
mono_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000;
}

uint64_t
fwdqueue_backoff_ms(unsigned tries)
{
	uint64_t ms = 1000;

	while (tries-- > 1 && ms < FWDQUEUE_BACKOFF_MAX_MS)
		ms *= 2;
	return ms < FWDQUEUE_BACKOFF_MAX_MS ? ms : FWDQUEUE_BACKOFF_MAX_MS;
}

static void
arm(struct fwdqueue *q)
{
	struct fwdqueue_entry *e;
	uint64_t now = mono_ms(), next = UINT64_MAX, w;
	struct timeval tv;

	evtimer_del(q->timer);
	if (q->stopped)
		return;
	TAILQ_FOREACH(e, &q->waiting, entry)
		if (e->due_ms < next)
			next = e->due_ms;
	if (next == UINT64_MAX)
		return;
	w = next > now ? next - now : 0;
	tv.tv_sec = (time_t)(w / 1000);
	tv.tv_usec = (suseconds_t)((w % 1000) * 1000);
	evtimer_add(q->timer, &tv);
}

static void
on_timer(evutil_socket_t fd, short what, void *arg)
{
	struct fwdqueue *q = arg;
	struct fwdqueue_entry *e, *next;
	uint64_t now = mono_ms();

	(void)fd;
	(void)what;
	for (e = TAILQ_FIRST(&q->waiting); e != NULL && !q->stopped;
	    e = next) {
		next = TAILQ_NEXT(e, entry);
		if (e->due_ms > now)
			continue;
		TAILQ_REMOVE(&q->waiting, e, entry);
		q->retry(q->arg, e->id, e->tries);
		free(e);
	}
	arm(q);
}

struct fwdqueue *
fwdqueue_new(struct event_base *base,
    void (*retry)(void *arg, const char *id, unsigned tries), void *arg)
{
	struct fwdqueue *q = calloc(1, sizeof(*q));

	if (q == NULL)
		return NULL;
	TAILQ_INIT(&q->waiting);
	q->retry = retry;
	q->arg = arg;
	if ((q->timer = evtimer_new(base, on_timer, q)) == NULL) {
		free(q);
		return NULL;
	}
	return q;
}

void
fwdqueue_stop(struct fwdqueue *q)
{
	if (q == NULL)
		return;
	q->stopped = 1;
	evtimer_del(q->timer);
}

void
fwdqueue_free(struct fwdqueue *q)
{
	struct fwdqueue_entry *e;

	if (q == NULL)
		return;
	while ((e = TAILQ_FIRST(&q->waiting)) != NULL) {
		TAILQ_REMOVE(&q->waiting, e, entry);
		free(e);
	}
	event_free(q->timer);
	free(q);
}

int
fwdqueue_failed(struct fwdqueue *q, const char *id, unsigned tries,
    const char *reason)
{
	struct fwdqueue_entry *e;

	util_strlcpy(q->last, reason, sizeof(q->last));
	if (tries == 1)
		q->failing++;
	if ((e = calloc(1, sizeof(*e))) == NULL) {
		fwdqueue_settled(q, tries);
		return -1;
	}
	util_strlcpy(e->id, id, sizeof(e->id));
	e->tries = tries;
	e->due_ms = mono_ms() + fwdqueue_backoff_ms(tries);
	TAILQ_INSERT_TAIL(&q->waiting, e, entry);
	arm(q);
	return 0;
}

void
fwdqueue_settled(struct fwdqueue *q, unsigned tries)
{
	if (tries == 0 || q->failing == 0)
		return;
	if (--q->failing == 0)
		q->last[0] = '\0';
}

unsigned
fwdqueue_failing(const struct fwdqueue *q, char *last, size_t lastlen)
{
	if (last != NULL)
		util_strlcpy(last, q != NULL ? q->last : "", lastlen);
	return q != NULL ? q->failing : 0;
}
