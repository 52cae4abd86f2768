/*
 * test_notify — the webhook against a small HTTP server on the loopback
 * (retries until a 2xx, giving up after the configured attempts), the
 * command hook (document on stdin, exit status, time limit), the
 * document, the configuration checks and the bounded queue.
 *
 * Waiting for the worker is done by polling its counters with a generous
 * bound: the tests check what happened, never how long it took.
 */
#include <sys/socket.h>
#include <sys/stat.h>

#include <arpa/inet.h>
#include <errno.h>
#include <ftw.h>
#include <netinet/in.h>
#include <pthread.h>
#include <setjmp.h>
#include <signal.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/notify.h"

#define T0 ((time_t)1780000000)

/* ---- a tiny HTTP server: answers each request with the next status ---- */

struct server {
	int fd;
	unsigned short port;
	pthread_t thread;
	int statuses[8];
	size_t nstatuses;
	pthread_mutex_t mu;
	int requests;
	char body[8192];		/* the last request body */
	char head[4096];		/* the last request head */
	int stop;
};

static void *
serve(void *arg)
{
	struct server *s = arg;
	char buf[16384], resp[128];
	size_t used;
	ssize_t r;
	int c, status;

	for (;;) {
		char *end, *cl;
		size_t want;

		if ((c = accept(s->fd, NULL, NULL)) < 0)
			return NULL;
		pthread_mutex_lock(&s->mu);
		if (s->stop) {
			pthread_mutex_unlock(&s->mu);
			close(c);
			return NULL;
		}
		pthread_mutex_unlock(&s->mu);
		used = 0;
		end = NULL;
		want = 0;
		while (used < sizeof(buf) - 1) {
			r = read(c, buf + used, sizeof(buf) - 1 - used);
			if (r <= 0)
				break;
			used += (size_t)r;
			buf[used] = '\0';
			if (end == NULL && (end = strstr(buf, "\r\n\r\n")) !=
			    NULL) {
				cl = strcasestr(buf, "Content-Length:");
				want = (size_t)(end + 4 - buf) +
				    (cl != NULL ? strtoul(cl + 15, NULL, 10) :
				    0);
			}
			if (end != NULL && used >= want)
				break;
		}
		pthread_mutex_lock(&s->mu);
		status = s->requests < (int)s->nstatuses ?
		    s->statuses[s->requests] : 200;
		s->requests++;
		if (end != NULL) {
			snprintf(s->head, sizeof(s->head), "%.*s",
			    (int)(end - buf), buf);
			snprintf(s->body, sizeof(s->body), "%s", end + 4);
		}
		pthread_mutex_unlock(&s->mu);
		snprintf(resp, sizeof(resp), "HTTP/1.1 %d X\r\n"
		    "Content-Length: 0\r\nConnection: close\r\n\r\n", status);
		if (write(c, resp, strlen(resp)) < 0)
			(void)0;
		close(c);
	}
}

static void
server_start(struct server *s)
{
	struct sockaddr_in a;
	socklen_t len = sizeof(a);
	int one = 1;

	pthread_mutex_init(&s->mu, NULL);
	s->fd = socket(AF_INET, SOCK_STREAM, 0);
	assert_true(s->fd >= 0);
	setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	assert_int_equal(bind(s->fd, (struct sockaddr *)&a, sizeof(a)), 0);
	assert_int_equal(listen(s->fd, 8), 0);
	assert_int_equal(getsockname(s->fd, (struct sockaddr *)&a, &len), 0);
	s->port = ntohs(a.sin_port);
	assert_int_equal(pthread_create(&s->thread, NULL, serve, s), 0);
}

static void
server_stop(struct server *s)
{
	struct sockaddr_in a;
	int c;

	pthread_mutex_lock(&s->mu);
	s->stop = 1;
	pthread_mutex_unlock(&s->mu);
	/* wake the accept */
	c = socket(AF_INET, SOCK_STREAM, 0);
	memset(&a, 0, sizeof(a));
	a.sin_family = AF_INET;
	a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	a.sin_port = htons(s->port);
	(void)connect(c, (struct sockaddr *)&a, sizeof(a));
	close(c);
	pthread_join(s->thread, NULL);
	close(s->fd);
	pthread_mutex_destroy(&s->mu);
}

/* ---- log capture ------------------------------------------------------ */

struct logs {
	pthread_mutex_t mu;
	char text[16384];
};

static void
log_cb(void *arg, const char *level, const char *msg)
{
	struct logs *l = arg;
	size_t used;

	pthread_mutex_lock(&l->mu);
	used = strlen(l->text);
	snprintf(l->text + used, sizeof(l->text) - used, "%s %s\n", level,
	    msg);
	pthread_mutex_unlock(&l->mu);
}

static int
logs_has(struct logs *l, const char *s)
{
	int r;

	pthread_mutex_lock(&l->mu);
	r = strstr(l->text, s) != NULL;
	pthread_mutex_unlock(&l->mu);
	return r;
}

/* Polls the counters until webhook + command + failed reach want. */
static void
wait_for(struct notify *n, unsigned long want)
{
	unsigned long w, c, f;
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int i;

	for (i = 0; i < 6000; i++) {
		notify_stats(n, &w, &c, &f);
		if (w + c + f >= want)
			return;
		nanosleep(&tick, NULL);
	}
	fail_msg("the worker did not finish (%lu/%lu/%lu)", w, c, f);
}

static const struct notify_field FIELDS[] = {
	{ "transfer", "0123456789abcdef0123456789abcdef", 0 },
	{ "interface", "IF-2026-014", 0 },
	{ "required", NULL, 2 },
};

/* ---- tests -------------------------------------------------------------- */

static void
test_config_checks(void **state)
{
	struct notify_config cfg;
	struct notify *n;
	char err[256];

	(void)state;
	memset(&cfg, 0, sizeof(cfg));
	cfg.webhook_url = "http://example.jp/hook";
	assert_int_equal(notify_start(&cfg, NULL, NULL, &n, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "https"));
	cfg.webhook_url = "ftp://127.0.0.1/x";
	assert_int_equal(notify_start(&cfg, NULL, NULL, &n, err,
	    sizeof(err)), -1);
	cfg.webhook_url = "not a url";
	assert_int_equal(notify_start(&cfg, NULL, NULL, &n, err,
	    sizeof(err)), -1);
	cfg.webhook_url = "https://hooks.example.jp/sekisho";
	cfg.retries = 11;
	assert_int_equal(notify_start(&cfg, NULL, NULL, &n, err,
	    sizeof(err)), -1);
	cfg.retries = 0;
	cfg.command = "notify.sh";
	assert_int_equal(notify_start(&cfg, NULL, NULL, &n, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "absolute"));
	cfg.command = "/nonexistent/notify.sh";
	assert_int_equal(notify_start(&cfg, NULL, NULL, &n, err,
	    sizeof(err)), -1);
	/* nothing configured: a no-op that succeeds */
	memset(&cfg, 0, sizeof(cfg));
	assert_int_equal(notify_start(&cfg, NULL, NULL, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(notify_send(n, "approval_requested", T0, FIELDS, 3),
	    0);
	notify_stop(n);
}

static void
test_webhook_retries(void **state)
{
	struct server s;
	struct notify_config cfg;
	struct logs l;
	struct notify *n;
	char url[64], err[256];
	unsigned long w, c, f;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.statuses[0] = 503;
	s.statuses[1] = 500;
	s.nstatuses = 2;
	server_start(&s);
	memset(&l, 0, sizeof(l));
	pthread_mutex_init(&l.mu, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/hook", s.port);
	memset(&cfg, 0, sizeof(cfg));
	cfg.webhook_url = url;
	cfg.retries = 3;
	cfg.retry_delay = 0;
	cfg.timeout = 30;
	if (notify_start(&cfg, log_cb, &l, &n, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(notify_send(n, "approval_requested", T0, FIELDS, 3),
	    0);
	wait_for(n, 1);
	notify_stats(n, &w, &c, &f);
	assert_int_equal(w, 1);
	assert_int_equal(f, 0);
	notify_stop(n);
	server_stop(&s);
	assert_int_equal(s.requests, 3);	/* 503, 500, then 200 */
	assert_non_null(strstr(s.head, "POST /hook"));
	assert_non_null(strcasestr(s.head, "Content-Type: application/json"));
	assert_non_null(strstr(s.body, "\"event\":\"approval_requested\""));
	assert_non_null(strstr(s.body, "\"time\":\"2026-05-28T"));
	assert_non_null(strstr(s.body,
	    "\"transfer\":\"0123456789abcdef0123456789abcdef\""));
	assert_non_null(strstr(s.body, "\"required\":2"));
	assert_non_null(strstr(s.body, "\"id\":\""));
	assert_true(logs_has(&l, "attempt 1 failed: HTTP status 503"));
	assert_true(logs_has(&l, "delivered (attempt 3)"));
	pthread_mutex_destroy(&l.mu);
}

static void
test_webhook_gives_up(void **state)
{
	struct server s;
	struct notify_config cfg;
	struct logs l;
	struct notify *n;
	char url[64], err[256];
	unsigned long w, c, f;

	(void)state;
	memset(&s, 0, sizeof(s));
	s.statuses[0] = s.statuses[1] = s.statuses[2] = 500;
	s.nstatuses = 3;
	server_start(&s);
	memset(&l, 0, sizeof(l));
	pthread_mutex_init(&l.mu, NULL);
	snprintf(url, sizeof(url), "http://127.0.0.1:%u/hook", s.port);
	memset(&cfg, 0, sizeof(cfg));
	cfg.webhook_url = url;
	cfg.retries = 1;
	if (notify_start(&cfg, log_cb, &l, &n, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(notify_send(n, "exception_granted", T0, FIELDS, 1),
	    0);
	wait_for(n, 1);
	notify_stats(n, &w, &c, &f);
	assert_int_equal(w, 0);
	assert_int_equal(f, 1);
	notify_stop(n);
	server_stop(&s);
	assert_int_equal(s.requests, 2);	/* the first try and one retry */
	assert_true(logs_has(&l, "exception_granted not delivered"));
	pthread_mutex_destroy(&l.mu);
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

/* Writes an executable shell script into dir; returns its path. */
static char *
script(const char *dir, const char *name, const char *body)
{
	static char path[256];
	FILE *fp;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	fp = fopen(path, "w");
	assert_non_null(fp);
	fprintf(fp, "#!/bin/sh\n%s\n", body);
	fclose(fp);
	assert_int_equal(chmod(path, 0700), 0);
	return path;
}

static void
test_command_hook(void **state)
{
	struct notify_config cfg;
	struct notify *n;
	struct logs l;
	char dir[64] = "/tmp/sekisho-notify-XXXXXX", body[512], out[256],
	    err[256], got[4096];
	unsigned long w, c, f;
	FILE *fp;
	size_t len;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&l, 0, sizeof(l));
	pthread_mutex_init(&l.mu, NULL);
	snprintf(out, sizeof(out), "%s/out", dir);
	/* argv[1] is the event; the environment is PATH only */
	snprintf(body, sizeof(body), "{ echo \"$1 ${HOME:-nohome}\"; cat; } "
	    "> %s", out);
	memset(&cfg, 0, sizeof(cfg));
	cfg.command = script(dir, "hook.sh", body);
	if (notify_start(&cfg, log_cb, &l, &n, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(notify_send(n, "approval_decided", T0, FIELDS, 3),
	    0);
	wait_for(n, 1);
	notify_stats(n, &w, &c, &f);
	assert_int_equal(c, 1);
	assert_int_equal(f, 0);
	notify_stop(n);
	fp = fopen(out, "r");
	assert_non_null(fp);
	len = fread(got, 1, sizeof(got) - 1, fp);
	got[len] = '\0';
	fclose(fp);
	assert_non_null(strstr(got, "approval_decided nohome\n{"));
	assert_non_null(strstr(got, "\"interface\":\"IF-2026-014\""));

	/* a failing command is logged */
	cfg.command = script(dir, "fail.sh", "cat >/dev/null; exit 3");
	if (notify_start(&cfg, log_cb, &l, &n, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(notify_send(n, "approval_decided", T0, FIELDS, 3),
	    0);
	wait_for(n, 1);
	notify_stats(n, &w, &c, &f);
	assert_int_equal(f, 1);
	notify_stop(n);
	assert_true(logs_has(&l, "exited with status 3"));

	/* a command that hangs is killed at its time limit */
	cfg.command = script(dir, "hang.sh", "exec sleep 60");
	cfg.command_timeout = 1;
	if (notify_start(&cfg, log_cb, &l, &n, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	assert_int_equal(notify_send(n, "approval_decided", T0, FIELDS, 3),
	    0);
	wait_for(n, 1);
	notify_stats(n, &w, &c, &f);
	assert_int_equal(c, 0);
	assert_int_equal(f, 1);
	notify_stop(n);
	assert_true(logs_has(&l, "killed (time limit reached)"));
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	pthread_mutex_destroy(&l.mu);
}

static void
test_document_and_queue(void **state)
{
	struct notify_config cfg;
	struct notify *n;
	struct logs l;
	struct notify_field bad[2];
	char dir[64] = "/tmp/sekisho-notify-XXXXXX", err[256], big[5000];
	char marker[128], body[256];
	struct timespec tick = { 0, 10 * 1000 * 1000 };
	int i, last = 0;

	(void)state;
	assert_non_null(mkdtemp(dir));
	memset(&l, 0, sizeof(l));
	pthread_mutex_init(&l.mu, NULL);
	memset(&cfg, 0, sizeof(cfg));
	/* the first event keeps the worker busy until the stop */
	snprintf(marker, sizeof(marker), "%s/started", dir);
	snprintf(body, sizeof(body), "touch %s; exec sleep 60", marker);
	cfg.command = script(dir, "slow.sh", body);
	cfg.command_timeout = 120;
	if (notify_start(&cfg, log_cb, &l, &n, err, sizeof(err)) != 0)
		fail_msg("%s", err);
	/* refused documents */
	bad[0] = FIELDS[0];
	bad[1] = FIELDS[0];
	assert_int_equal(notify_send(n, "x", T0, bad, 2), -1);
	bad[1].key = "event";
	assert_int_equal(notify_send(n, "x", T0, bad, 2), -1);
	assert_int_equal(notify_send(n, "bad event", T0, FIELDS, 1), -1);
	assert_int_equal(notify_send(n, "x", T0, FIELDS,
	    NOTIFY_MAX_FIELDS + 1), -1);
	memset(big, 'a', sizeof(big) - 1);
	big[sizeof(big) - 1] = '\0';
	bad[0].key = "big";
	bad[0].text = big;
	assert_int_equal(notify_send(n, "x", T0, bad, 1), -1);
	assert_true(logs_has(&l, "larger than"));
	/* the queue holds NOTIFY_QUEUE_MAX; one more is dropped */
	assert_int_equal(notify_send(n, "approval_requested", T0, FIELDS, 3),
	    0);
	for (i = 0; i < 6000 && access(marker, F_OK) != 0; i++)
		nanosleep(&tick, NULL);
	assert_int_equal(access(marker, F_OK), 0);
	for (i = 0; i < NOTIFY_QUEUE_MAX + 1; i++)
		last = notify_send(n, "approval_requested", T0, FIELDS, 3);
	assert_int_equal(last, -1);
	assert_true(logs_has(&l, "queue full"));
	notify_stop(n);
	assert_true(logs_has(&l, "killed (the broker is stopping)"));
	assert_true(logs_has(&l, "not sent at shutdown"));
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	pthread_mutex_destroy(&l.mu);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_config_checks),
		cmocka_unit_test(test_webhook_retries),
		cmocka_unit_test(test_webhook_gives_up),
		cmocka_unit_test(test_command_hook),
		cmocka_unit_test(test_document_and_queue),
	};

	signal(SIGPIPE, SIG_IGN);	/* as sekishod does */
	return cmocka_run_group_tests(tests, NULL, NULL);
}
