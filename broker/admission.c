/*
 * admission — see admission.h.
 *
 * Two small hash tables keyed by source text, chained, with a fixed number
 * of buckets: connection counts (an entry lives while its source has a
 * connection, so there are at most limits.max_connections) and refusal
 * counts (bounded by max_sources, overflow into "*").
 */
#include "broker/admission.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>

#define BUCKETS 1024u
#define OVERFLOW "*"

struct conn_entry {
	char source[ADMISSION_SOURCE_LEN];
	size_t n;
	struct conn_entry *next;
};

struct reason_count {
	char text[256];
	uint64_t n;
};

struct refusal_entry {
	char source[ADMISSION_SOURCE_LEN];
	uint64_t count;			/* since the last flush */
	uint64_t logged;		/* of count, logged */
	time_t first, last;
	struct reason_count reasons[ADMISSION_REASONS];
	uint64_t other;			/* refusals with further reasons */
	int quiet;			/* a whole interval without any */
	struct refusal_entry *next;
};

struct admission {
	struct conn_entry *conns[BUCKETS];
	struct refusal_entry *refusals[BUCKETS];
	size_t nrefusal_sources;
	size_t max_sources;
	unsigned prefix_v6;
};

static unsigned
hash(const char *s)
{
	uint32_t h = 2166136261u;	/* FNV-1a */

	while (*s != '\0') {
		h ^= (unsigned char)*s++;
		h *= 16777619u;
	}
	return h % BUCKETS;
}

struct admission *
admission_new(size_t max_sources, unsigned prefix_v6)
{
	struct admission *a = calloc(1, sizeof(*a));

	if (a != NULL) {
		a->max_sources = max_sources > 0 ? max_sources : 1;
		a->prefix_v6 = prefix_v6 >= 1 && prefix_v6 <= 128 ?
		    prefix_v6 : ADMISSION_PREFIX_V6;
	}
	return a;
}

void
admission_free(struct admission *a)
{
	size_t i;

	if (a == NULL)
		return;
	for (i = 0; i < BUCKETS; i++) {
		struct conn_entry *c, *cn;
		struct refusal_entry *r, *rn;

		for (c = a->conns[i]; c != NULL; c = cn) {
			cn = c->next;
			free(c);
		}
		for (r = a->refusals[i]; r != NULL; r = rn) {
			rn = r->next;
			free(r);
		}
	}
	free(a);
}

void
admission_source(const struct sockaddr *sa, char *out)
{
	if (sa->sa_family == AF_INET)
		inet_ntop(AF_INET, &((const struct sockaddr_in *)(const void *)
		    sa)->sin_addr, out, ADMISSION_SOURCE_LEN);
	else if (sa->sa_family == AF_INET6)
		inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)
		    (const void *)sa)->sin6_addr, out, ADMISSION_SOURCE_LEN);
	else
		util_strlcpy(out, "unknown", ADMISSION_SOURCE_LEN);
}

void
admission_key(const char *source, unsigned prefix_v6, char *out)
{
	struct in6_addr in6;
	struct in_addr in4;
	char text[INET6_ADDRSTRLEN];
	unsigned i;

	if (inet_pton(AF_INET6, source, &in6) != 1) {
		/* IPv4, or text that is no address: as it is. */
		util_strlcpy(out, source, ADMISSION_SOURCE_LEN);
		return;
	}
	if (IN6_IS_ADDR_V4MAPPED(&in6)) {
		memcpy(&in4, &in6.s6_addr[12], sizeof(in4));
		inet_ntop(AF_INET, &in4, out, ADMISSION_SOURCE_LEN);
		return;
	}
	if (prefix_v6 >= 128) {
		inet_ntop(AF_INET6, &in6, out, ADMISSION_SOURCE_LEN);
		return;
	}
	for (i = 0; i < 16; i++) {
		if (i * 8 >= prefix_v6)
			in6.s6_addr[i] = 0;
		else if (i * 8 + 8 > prefix_v6)
			in6.s6_addr[i] &= (uint8_t)(0xff00u >>
			    (prefix_v6 - i * 8));
	}
	inet_ntop(AF_INET6, &in6, text, sizeof(text));
	snprintf(out, ADMISSION_SOURCE_LEN, "%s/%u", text, prefix_v6);
}

int
admission_enter(struct admission *a, const char *address, size_t max)
{
	char source[ADMISSION_SOURCE_LEN];
	unsigned h;
	struct conn_entry *c;

	admission_key(address, a->prefix_v6, source);
	h = hash(source);
	for (c = a->conns[h]; c != NULL; c = c->next)
		if (strcmp(c->source, source) == 0)
			break;
	if (c == NULL) {
		if (max == 0)
			return 1;
		if ((c = calloc(1, sizeof(*c))) == NULL)
			return -1;
		util_strlcpy(c->source, source, sizeof(c->source));
		c->next = a->conns[h];
		a->conns[h] = c;
	}
	if (c->n >= max)
		return 1;
	c->n++;
	return 0;
}

void
admission_leave(struct admission *a, const char *address)
{
	char source[ADMISSION_SOURCE_LEN];
	struct conn_entry **pp, *c;

	admission_key(address, a->prefix_v6, source);
	for (pp = &a->conns[hash(source)]; (c = *pp) != NULL; pp = &c->next)
		if (strcmp(c->source, source) == 0) {
			if (c->n > 0)
				c->n--;
			if (c->n == 0) {
				*pp = c->next;
				free(c);
			}
			return;
		}
}

static struct refusal_entry *
refusal_find(struct admission *a, const char *source, int *created)
{
	unsigned h = hash(source);
	struct refusal_entry *r;

	*created = 0;
	for (r = a->refusals[h]; r != NULL; r = r->next)
		if (strcmp(r->source, source) == 0)
			return r;
	if (a->nrefusal_sources >= a->max_sources &&
	    strcmp(source, OVERFLOW) != 0)
		return refusal_find(a, OVERFLOW, created);
	if ((r = calloc(1, sizeof(*r))) == NULL)
		return NULL;
	util_strlcpy(r->source, source, sizeof(r->source));
	r->next = a->refusals[h];
	a->refusals[h] = r;
	a->nrefusal_sources++;
	*created = 1;
	return r;
}

int
admission_refused(struct admission *a, const char *address,
    const char *reason, time_t now, int *log)
{
	char source[ADMISSION_SOURCE_LEN];
	struct refusal_entry *r;
	int created, i;

	*log = 1;
	admission_key(address, a->prefix_v6, source);
	if ((r = refusal_find(a, source, &created)) == NULL)
		return 1;	/* no memory to count it: write it */
	r->quiet = 0;
	if (created)
		return 1;	/* written at once, not counted again */
	if (r->count == 0)
		r->first = now;
	r->count++;
	r->last = now;
	*log = r->logged < ADMISSION_LOG_PER_INTERVAL;
	if (*log)
		r->logged++;
	for (i = 0; i < ADMISSION_REASONS; i++) {
		if (r->reasons[i].n == 0) {
			util_strlcpy(r->reasons[i].text, reason,
			    sizeof(r->reasons[i].text));
			r->reasons[i].n = 1;
			return 0;
		}
		if (strcmp(r->reasons[i].text, reason) == 0) {
			r->reasons[i].n++;
			return 0;
		}
	}
	r->other++;
	return 0;
}

static void
summarize(const struct refusal_entry *r, struct admission_summary *s)
{
	size_t used = 0, best = 0;
	int i;

	memset(s, 0, sizeof(*s));
	util_strlcpy(s->source, r->source, sizeof(s->source));
	s->count = r->count;
	s->unlogged = r->count - r->logged;
	s->first = r->first;
	s->last = r->last;
	for (i = 0; i < ADMISSION_REASONS && r->reasons[i].n > 0; i++) {
		if (r->reasons[i].n > r->reasons[best].n)
			best = (size_t)i;
		if (used < sizeof(s->reasons)) {
			int n = snprintf(s->reasons + used,
			    sizeof(s->reasons) - used, "%s%s (%llu)",
			    used > 0 ? "; " : "", r->reasons[i].text,
			    (unsigned long long)r->reasons[i].n);
			if (n > 0)
				used += (size_t)n;
		}
	}
	if (r->other > 0 && used < sizeof(s->reasons))
		snprintf(s->reasons + used, sizeof(s->reasons) - used,
		    "; other reasons (%llu)", (unsigned long long)r->other);
	util_strlcpy(s->reason, r->reasons[best].text, sizeof(s->reason));
}

void
admission_flush(struct admission *a,
    void (*emit)(const struct admission_summary *, void *), void *arg)
{
	size_t i;

	for (i = 0; i < BUCKETS; i++) {
		struct refusal_entry **pp = &a->refusals[i], *r;

		while ((r = *pp) != NULL) {
			if (r->count > 0) {
				struct admission_summary s;

				summarize(r, &s);
				emit(&s, arg);
				memset(r->reasons, 0, sizeof(r->reasons));
				r->count = r->logged = r->other = 0;
				pp = &r->next;
				continue;
			}
			if (r->quiet) {
				*pp = r->next;
				free(r);
				a->nrefusal_sources--;
				continue;
			}
			r->quiet = 1;
			pp = &r->next;
		}
	}
}
