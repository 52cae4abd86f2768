/*
 * policy_bench — how long one policy_decide takes on a large register.
 *
 * Generates a register of 1,000 interfaces with varied rules (groups, user
 * and terminal selectors, schedules in several zones, extension lists,
 * volume limits, step-up, approval, exception limits) and a few forbids,
 * then times at least 1e6 decisions over a pool of varied requests (known
 * and unknown interfaces, principals, classes, sizes, names, times,
 * exceptions).
 *
 * Timing: one decision takes well under a microsecond, close to the
 * resolution and cost of clock_gettime itself, so the clock is read once per
 * batch of BATCH decisions and the batch time divided by BATCH is one
 * sample. p50 and p99 are over those samples; they hide variation inside a
 * batch but not between batches. Run on an idle machine; numbers are for
 * comparison between versions, not a test.
 *
 * Usage: policy_bench [decisions]   (default 1000000)
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "policy/policy.h"

#define NIFACES		1000
#define NUSERS		2000
#define NDEPTS		40
#define NTERMS		500
#define NREQ		4096
#define BATCH		16

struct buf {
	char *s;
	size_t len, cap;
};

static void put(struct buf *, const char *, ...)
    __attribute__((format(printf, 2, 3)));

static void
put(struct buf *b, const char *fmt, ...)
{
	va_list ap;
	int n;

	for (;;) {
		va_start(ap, fmt);
		n = vsnprintf(b->s + b->len, b->cap - b->len, fmt, ap);
		va_end(ap);
		if (n >= 0 && (size_t)n < b->cap - b->len) {
			b->len += (size_t)n;
			return;
		}
		b->cap = b->cap * 2 + (size_t)n + 1;
		if ((b->s = realloc(b->s, b->cap)) == NULL) {
			perror("realloc");
			exit(1);
		}
	}
}

/* xorshift64*: reproducible across runs and machines. */
static uint64_t rng = 0x9e3779b97f4a7c15ull;

static uint64_t
rnd(void)
{
	rng ^= rng >> 12;
	rng ^= rng << 25;
	rng ^= rng >> 27;
	return rng * 2685821657736338717ull;
}

static unsigned
pick(unsigned n)
{
	return (unsigned)(rnd() % n);
}

static void
gen_register(struct buf *b)
{
	static const char *const zones[] = {
		"Asia/Tokyo", "Asia/Tokyo", "Asia/Tokyo", "UTC",
		"Europe/Berlin", "America/New_York", "+09:00"
	};
	static const char *const days[] = {
		"mon-fri", "daily", "[mon, wed, fri]", "sat-sun"
	};
	static const char *const hours[] = {
		"\"08:00-18:00\"", "\"22:00-06:00\"",
		"[\"08:30-12:00\", \"13:00-17:15\"]", "\"00:00-24:00\""
	};
	unsigned i;

	put(b, "version: 1\ntimezone: Asia/Tokyo\nreview_overdue: warn\n"
	    "principals:\n  users:\n");
	for (i = 0; i < NUSERS; i++)
		put(b, "    - {id: user%04u, department: dept%02u, roles: [%s]}\n",
		    i, i % NDEPTS, i % 50 == 0 ? "staff, officer" : "staff");
	put(b, "  groups:\n");
	for (i = 0; i < NDEPTS; i++)
		put(b, "    - {id: grp%02u, departments: [dept%02u, dept%02u]}\n",
		    i, i, (i + 1) % NDEPTS);
	put(b, "    - {id: approvers, users: [user0000, user0050, user0100]}\n");
	put(b, "  terminals:\n");
	for (i = 0; i < NTERMS; i++)
		put(b, "    - {id: T%04u, group: floor%u}\n", i, i % 10);
	put(b, "services:\n  - {id: svc, connector: webdav, "
	    "endpoint: \"https://dav.example.jp/\"}\n");
	put(b, "interfaces:\n");
	for (i = 0; i < NIFACES; i++) {
		put(b, "  - id: IF-%04u\n    service: svc\n    path: /if%u/\n"
		    "    max_class: %u\n    next_review: 2027-0%u-01\n", i, i,
		    1 + i % 2, 1 + i % 9);
		switch (i % 4) {
		case 0:
			put(b, "    allow: {groups: [grp%02u, grp%02u]}\n",
			    i % NDEPTS, (i * 7 + 1) % NDEPTS);
			break;
		case 1:
			put(b, "    allow: {roles: [staff], terminals: "
			    "[floor%u, T%04u]}\n", i % 10, i % NTERMS);
			break;
		case 2:
			put(b, "    allow: {users: [user%04u, user%04u], "
			    "groups: [grp%02u]}\n", i % NUSERS,
			    (i * 3) % NUSERS, i % NDEPTS);
			break;
		default:
			put(b, "    allow: {roles: [staff, officer]}\n");
		}
		if (i % 3 != 0)
			put(b, "    schedule: {days: %s, hours: %s, timezone: "
			    "\"%s\"}\n", days[i % 4], hours[(i / 4) % 4],
			    zones[i % 7]);
		if (i % 5 == 0)
			put(b, "    extensions: {allow: [pdf, docx, xlsx, csv, "
			    "txt]}\n");
		else if (i % 5 == 1)
			put(b, "    extensions: {deny: [zip, 7z, lzh]}\n");
		put(b, "    max_size: %uMiB\n", 10u << (i % 5));
		if (i % 2 == 0)
			put(b, "    daily_bytes: 1GiB\n    daily_count: 100\n");
		if (i % 3 == 1)
			put(b, "    step_up: {when: [\"class>=2\", "
			    "\"size>=50MiB\"], max_age: 15m}\n");
		if (i % 7 == 2)
			put(b, "    approval: {when: \"size>=100MiB\", "
			    "approvers: approvers, count: 2}\n");
		if (i % 4 == 0)
			put(b, "    exception_limits: {max_class: 2, "
			    "max_size: 2GiB, hours: \"06:00-23:00\", "
			    "max_duration: 7d}\n");
		if (i % 11 == 0)
			put(b, "    valid_from: 2026-01-01\n"
			    "    valid_until: 2027-12-31\n");
	}
	put(b, "forbids:\n"
	    "  - {id: FB-EXE, extensions: [exe, bat, cmd, scr, js, vbs, ps1]}\n"
	    "  - {id: FB-BIG, min_size: 8GiB}\n"
	    "  - {id: FB-F9, terminals: [floor9], min_class: 2}\n");
	for (i = 0; i < 10; i++)
		put(b, "  - {id: FB-IF%u, interfaces: [IF-%04u], groups: "
		    "[grp%02u]}\n", i, i * 97, i);
}

struct req {
	char user[16], dept[16], term[16], iface[16], name[32];
	struct policy_principal who;
	struct policy_request rq;
	struct policy_context ctx;
	struct policy_exception exc;
};

static void
gen_requests(struct req *r, size_t n)
{
	static const char *const exts[] = {
		"pdf", "docx", "XLSX", "csv", "zip", "exe", "txt", "pdf", ""
	};
	size_t i;

	for (i = 0; i < n; i++) {
		unsigned u = pick(NUSERS + 200);	/* some unlisted */
		unsigned f = pick(NIFACES + 50);	/* some unknown */

		snprintf(r[i].user, sizeof(r[i].user), "user%04u", u);
		snprintf(r[i].dept, sizeof(r[i].dept), "dept%02u", u % NDEPTS);
		snprintf(r[i].term, sizeof(r[i].term), "T%04u", pick(NTERMS + 20));
		/* Most requests are plausible: an interface open to staff. */
		if (pick(10) < 6)
			f = (pick(NIFACES / 4) * 4 + 3) % NIFACES;
		snprintf(r[i].iface, sizeof(r[i].iface), "IF-%04u", f);
		snprintf(r[i].name, sizeof(r[i].name), "file%u.%s", pick(1000),
		    exts[pick(9)]);
		r[i].who.user = r[i].user;
		r[i].who.dept = r[i].dept;
		r[i].who.terminal = pick(10) == 0 ? "" : r[i].term;
		r[i].rq.interface = r[i].iface;
		r[i].rq.filename = r[i].name;
		r[i].rq.size = (rnd() % (200ull << 20)) + 1;
		r[i].rq.class = 1 + pick(20) / 9;	/* mostly 1-2, some 3 */
		if (pick(2) == 0)
			r[i].rq.size %= 5u << 20;
		r[i].rq.purpose = "bench";
		/* Times spread over a week in 2026. */
		r[i].ctx.now = 1778457600 + (time_t)pick(7 * 86400);
		r[i].ctx.stepup_at = pick(2) ? r[i].ctx.now - pick(1800) : 0;
		r[i].ctx.bytes_today = rnd() % (1ull << 30);
		r[i].ctx.count_today = pick(120);
		if (pick(8) == 0) {
			r[i].exc.id = "EX-BENCH";
			r[i].exc.user = r[i].user;
			r[i].exc.interface = r[i].iface;
			r[i].exc.max_class = 2;
			r[i].exc.max_size = 1ull << 30;
			r[i].exc.hours_from = 7 * 60;
			r[i].exc.hours_to = 22 * 60;
			r[i].exc.not_before = r[i].ctx.now - 3600;
			r[i].exc.not_after = r[i].ctx.now + 3600;
			r[i].ctx.exceptions = &r[i].exc;
			r[i].ctx.nexceptions = 1;
		}
	}
}

static int
cmp_u64(const void *a, const void *b)
{
	uint64_t x = *(const uint64_t *)a, y = *(const uint64_t *)b;

	return x < y ? -1 : x > y;
}

static uint64_t
ns_now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

int
main(int argc, char **argv)
{
	struct buf b = { NULL, 0, 0 };
	struct policy *p;
	struct req *reqs;
	struct policy_decision d;
	uint64_t *samples, t0, t1, verdicts[4] = { 0 };
	size_t total = 1000000, nsamples, i, j, k = 0;
	char err[512];

	if (argc > 1)
		total = strtoull(argv[1], NULL, 10);
	if (total < BATCH)
		total = BATCH;
	nsamples = total / BATCH;
	gen_register(&b);
	t0 = ns_now();
	if (policy_load_buffer("bench.yaml", b.s, b.len, &p, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "policy_bench: %s\n", err);
		return 1;
	}
	t1 = ns_now();
	printf("register: %zu interfaces, %zu bytes, loaded in %.1f ms\n",
	    policy_interface_count(p), b.len, (double)(t1 - t0) / 1e6);

	reqs = calloc(NREQ, sizeof(*reqs));
	samples = calloc(nsamples, sizeof(*samples));
	if (reqs == NULL || samples == NULL) {
		perror("calloc");
		return 1;
	}
	gen_requests(reqs, NREQ);
	/* Warm up caches and branch predictors. */
	for (i = 0; i < NREQ; i++)
		policy_decide(p, &reqs[i].who, &reqs[i].rq, &reqs[i].ctx, &d);

	for (i = 0; i < nsamples; i++) {
		t0 = ns_now();
		for (j = 0; j < BATCH; j++, k = (k + 1) % NREQ)
			policy_decide(p, &reqs[k].who, &reqs[k].rq,
			    &reqs[k].ctx, &d);
		t1 = ns_now();
		samples[i] = (t1 - t0) / BATCH;
		verdicts[d.verdict & 3]++;
	}
	qsort(samples, nsamples, sizeof(*samples), cmp_u64);
	printf("decisions: %zu in batches of %d\n", nsamples * BATCH, BATCH);
	printf("ns per decision: p50 %" PRIu64 "  p99 %" PRIu64 "  max %"
	    PRIu64 "\n", samples[nsamples / 2], samples[nsamples * 99 / 100],
	    samples[nsamples - 1]);
	/* Last verdict of each batch: shows the mix is not all one path. */
	printf("verdict mix (sampled): deny %" PRIu64 ", allow %" PRIu64
	    ", step-up %" PRIu64 ", approval %" PRIu64 "\n", verdicts[0],
	    verdicts[1], verdicts[2], verdicts[3]);
	printf("target p99 <= 5000 ns: %s\n",
	    samples[nsamples * 99 / 100] <= 5000 ? "met" : "NOT met");
	policy_free(p);
	free(reqs);
	free(samples);
	free(b.s);
	return 0;
}
