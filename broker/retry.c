/*
 * retry — see retry.h. Arithmetic is saturating: no configuration value can
 * make a wait wrap around to zero and turn backoff into a tight loop.
 */
#include "broker/retry.h"

#include <stddef.h>

#define MAX_COOLDOWN_FACTOR 8

enum retry_verdict
retry_classify(enum retry_transport t, long http_status)
{
	switch (t) {
	case RETRY_T_OK:
		break;
	case RETRY_T_CONNECT:
	case RETRY_T_TIMEOUT:
	case RETRY_T_BROKEN:
	case RETRY_T_LOCAL:
		return RETRY_AGAIN;
	case RETRY_T_TLS_VERIFY:
	case RETRY_T_PIN:
	default:
		return RETRY_NEVER;
	}
	if (http_status >= 200 && http_status <= 299)
		return RETRY_DONE;
	if (http_status == 408 || http_status == 429 ||
	    (http_status >= 500 && http_status <= 599))
		return RETRY_AGAIN;
	/* 1xx/3xx as a final answer (we follow no redirects) and other 4xx:
	 * sending the same request again cannot change the answer. */
	return RETRY_NEVER;
}

int
retry_counts_against_service(enum retry_transport t, long http_status)
{
	switch (t) {
	case RETRY_T_CONNECT:
	case RETRY_T_TIMEOUT:
	case RETRY_T_BROKEN:
		return 1;
	case RETRY_T_OK:
		return http_status == 429 ||
		    (http_status >= 500 && http_status <= 599);
	default:
		return 0;
	}
}

static uint64_t
sat_mul2(uint64_t v, unsigned times, uint64_t cap)
{
	while (times-- > 0 && v != 0) {
		if (v > cap / 2)
			return cap;
		v *= 2;
	}
	return v < cap ? v : cap;
}

uint64_t
retry_backoff_ms(const struct retry_policy *p, unsigned attempt, uint32_t rnd,
    uint64_t retry_after_ms)
{
	uint64_t d, half, ra;

	if (attempt == 0)
		attempt = 1;
	d = sat_mul2(p->base_ms, attempt - 1, p->max_ms);
	half = d / 2;
	d = half + (uint64_t)rnd % (half + 1);	/* half < 2^63 */
	if (d == 0)
		d = 1;
	ra = retry_after_ms < p->max_retry_after_ms ? retry_after_ms :
	    p->max_retry_after_ms;
	return ra > d ? ra : d;
}

int
retry_may_continue(const struct retry_policy *p, unsigned attempts,
    int64_t queued_at, int64_t now, uint64_t wait_ms)
{
	uint64_t age, next;

	if (attempts >= p->max_attempts)
		return 0;
	age = now > queued_at ? (uint64_t)(now - queued_at) : 0;
	next = age + wait_ms / 1000 + (wait_ms % 1000 != 0);
	if (next < age || next >= p->max_age)
		return 0;
	return 1;
}

void
retry_circuit_init(struct retry_circuit *c)
{
	c->state = RETRY_CLOSED;
	c->failures = 0;
	c->open_until_ms = 0;
	c->cooldown_ms = 0;
	c->probing = 0;
}

int
retry_circuit_allow(struct retry_circuit *c, uint64_t now_ms)
{
	switch (c->state) {
	case RETRY_CLOSED:
		return 1;
	case RETRY_OPEN:
		if (now_ms < c->open_until_ms)
			return 0;
		c->state = RETRY_HALF_OPEN;
		c->probing = 0;
		/* FALLTHROUGH */
	case RETRY_HALF_OPEN:
		if (c->probing)
			return 0;
		c->probing = 1;
		return 1;
	}
	return 0;
}

uint64_t
retry_circuit_wait_ms(const struct retry_circuit *c, uint64_t now_ms)
{
	if (c->state == RETRY_OPEN && now_ms < c->open_until_ms)
		return c->open_until_ms - now_ms;
	return 0;
}

static void
circuit_open(struct retry_circuit *c, uint64_t now_ms, uint64_t cooldown)
{
	c->state = RETRY_OPEN;
	c->probing = 0;
	c->cooldown_ms = cooldown;
	c->open_until_ms = now_ms + cooldown < now_ms ? UINT64_MAX :
	    now_ms + cooldown;
}

int
retry_circuit_report(struct retry_circuit *c, int healthy, uint64_t now_ms,
    unsigned threshold, uint64_t cooldown_ms)
{
	uint64_t next;

	if (threshold == 0)
		threshold = 1;
	if (healthy) {
		retry_circuit_init(c);
		return 0;
	}
	if (c->failures < UINT32_MAX)
		c->failures++;
	if (c->state == RETRY_HALF_OPEN) {
		/* The probe failed: wait longer this time, within a bound. */
		next = sat_mul2(c->cooldown_ms > 0 ? c->cooldown_ms :
		    cooldown_ms, 1, cooldown_ms * MAX_COOLDOWN_FACTOR);
		circuit_open(c, now_ms, next);
		return 1;
	}
	if (c->state == RETRY_CLOSED && c->failures >= threshold) {
		circuit_open(c, now_ms, cooldown_ms);
		return 1;
	}
	return 0;
}

void
retry_circuit_cancel(struct retry_circuit *c)
{
	if (c->state == RETRY_HALF_OPEN)
		c->probing = 0;
}

const char *
retry_circuit_name(enum retry_circuit_state s)
{
	switch (s) {
	case RETRY_CLOSED:
		return "closed";
	case RETRY_OPEN:
		return "open";
	case RETRY_HALF_OPEN:
		return "half-open";
	}
	return "?";
}
