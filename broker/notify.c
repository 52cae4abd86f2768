/*
 * notify — see notify.h.
 *
 * One worker thread and a bounded queue, rather than curl's multi
 * interface on the event loop: notifications are rare (a few per held
 * transfer), the command hook has to wait for a child process anyway, and
 * a separate thread keeps every network and process wait off the loop by
 * construction. The thread blocks in libcurl (bounded by the timeouts,
 * and cut short by a progress callback when the broker stops) or in the
 * wait between retries (a condition variable, so stopping does not wait
 * for a back-off to run out).
 *
 * The document is built on the caller's thread as a CBOR map with
 * libcbor's encoders and turned into JSON by lib/cborjson, so escaping is
 * done by code that already has tests; what is queued is the finished
 * JSON text.
 *
 * The command is started with posix_spawn (safe in a threaded process,
 * unlike fork followed by arbitrary code), with SIGPIPE back to its
 * default and an empty signal mask, stdout and stderr on /dev/null, and
 * the document on a pipe. The caller must ignore SIGPIPE (sekishod does),
 * so a command that exits without reading its input cannot kill the
 * broker.
 */
#include "broker/notify.h"
#include "lib/cborjson.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <cbor.h>
#include <curl/curl.h>

#define MAX_RETRY_DELAY 300
#define MAX_TIMEOUT 300
#define EVENT_MAX 48

struct item {
	char event[EVENT_MAX];
	char *doc;
};

struct notify {
	char *url;
	char *ca;
	char *command;
	uint64_t retries, retry_delay, timeout, command_timeout;
	notify_log_fn *log;
	void *logarg;
	int enabled;

	pthread_t thread;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	struct item q[NOTIFY_QUEUE_MAX];
	size_t head, count;
	int stopping;
	unsigned long n_webhook, n_command, n_failed;
};

static void
logf_(struct notify *n, const char *level, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void
logf_(struct notify *n, const char *level, const char *fmt, ...)
{
	char msg[512];
	va_list ap;

	if (n->log == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	n->log(n->logarg, level, msg);
}

/* ---- configuration -------------------------------------------------------- */

static int
check_url(const char *url, char *err, size_t errlen)
{
	CURLU *u;
	char *scheme = NULL, *host = NULL;
	int ok = 0;

	if ((u = curl_url()) == NULL)
		return util_err(err, errlen, "notify: out of memory");
	if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_SCHEME, &scheme, 0) == CURLUE_OK &&
	    curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
		if (strcmp(scheme, "https") == 0)
			ok = 1;
		else if (strcmp(scheme, "http") == 0 &&
		    (strcmp(host, "127.0.0.1") == 0 ||
		    strcmp(host, "[::1]") == 0 ||
		    strcmp(host, "localhost") == 0))
			ok = 1;
		else
			util_err(err, errlen, "notify: webhook %s: only https "
			    "URLs (plain http to the local host only)", url);
	} else
		util_err(err, errlen, "notify: webhook: not a URL");
	curl_free(scheme);
	curl_free(host);
	curl_url_cleanup(u);
	return ok ? 0 : -1;
}

static int
check_command(const char *path, char *err, size_t errlen)
{
	struct stat sb;

	if (path[0] != '/')
		return util_err(err, errlen, "notify: command %s: must be an "
		    "absolute path", path);
	if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode) ||
	    access(path, X_OK) != 0)
		return util_err(err, errlen, "notify: command %s: not an "
		    "executable file", path);
	return 0;
}

static void
notify_free(struct notify *n)
{
	size_t i;

	for (i = 0; i < n->count; i++)
		free(n->q[(n->head + i) % NOTIFY_QUEUE_MAX].doc);
	free(n->url);
	free(n->ca);
	free(n->command);
	free(n);
}

static void *worker(void *arg);

int
notify_check(const struct notify_config *cfg, char *err, size_t errlen)
{
	if (cfg->retries > NOTIFY_MAX_RETRIES ||
	    cfg->retry_delay > MAX_RETRY_DELAY ||
	    cfg->timeout > MAX_TIMEOUT || cfg->command_timeout > MAX_TIMEOUT)
		return util_err(err, errlen, "notify: retries at most %d, "
		    "delays and timeouts at most %ds", NOTIFY_MAX_RETRIES,
		    MAX_TIMEOUT);
	if (cfg->webhook_url != NULL && check_url(cfg->webhook_url, err,
	    errlen) != 0)
		return -1;
	if (cfg->command != NULL && check_command(cfg->command, err,
	    errlen) != 0)
		return -1;
	return 0;
}

int
notify_start(const struct notify_config *cfg, notify_log_fn *log,
    void *logarg, struct notify **out, char *err, size_t errlen)
{
	struct notify *n;
	pthread_condattr_t ca;
	int rc;

	*out = NULL;
	if (notify_check(cfg, err, errlen) != 0)
		return -1;
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return util_err(err, errlen, "notify: out of memory");
	n->log = log;
	n->logarg = logarg;
	n->retries = cfg->retries;
	n->retry_delay = cfg->retry_delay;
	n->timeout = cfg->timeout > 0 ? cfg->timeout : 10;
	n->command_timeout = cfg->command_timeout > 0 ?
	    cfg->command_timeout : 10;
	if ((cfg->webhook_url != NULL &&
	    (n->url = strdup(cfg->webhook_url)) == NULL) ||
	    (cfg->webhook_ca != NULL &&
	    (n->ca = strdup(cfg->webhook_ca)) == NULL) ||
	    (cfg->command != NULL &&
	    (n->command = strdup(cfg->command)) == NULL)) {
		notify_free(n);
		return util_err(err, errlen, "notify: out of memory");
	}
	n->enabled = n->url != NULL || n->command != NULL;
	if (!n->enabled) {
		*out = n;
		return 0;
	}
	if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
		notify_free(n);
		return util_err(err, errlen, "notify: libcurl did not "
		    "initialise");
	}
	pthread_mutex_init(&n->mu, NULL);
	pthread_condattr_init(&ca);
	pthread_condattr_setclock(&ca, CLOCK_MONOTONIC);
	pthread_cond_init(&n->cv, &ca);
	pthread_condattr_destroy(&ca);
	if ((rc = pthread_create(&n->thread, NULL, worker, n)) != 0) {
		pthread_cond_destroy(&n->cv);
		pthread_mutex_destroy(&n->mu);
		curl_global_cleanup();
		notify_free(n);
		return util_err(err, errlen, "notify: cannot start the "
		    "worker: %s", strerror(rc));
	}
	*out = n;
	return 0;
}

/* ---- the document --------------------------------------------------------- */

static int
put_text(unsigned char *buf, size_t size, size_t *off, const char *s)
{
	size_t len = strlen(s), w;

	w = cbor_encode_string_start(len, buf + *off, size - *off);
	if (w == 0 || size - *off - w < len)
		return -1;
	*off += w;
	memcpy(buf + *off, s, len);
	*off += len;
	return 0;
}

static int
put_uint(unsigned char *buf, size_t size, size_t *off, uint64_t v)
{
	size_t w = cbor_encode_uint(v, buf + *off, size - *off);

	if (w == 0)
		return -1;
	*off += w;
	return 0;
}

static int
reserved_or_repeated(const struct notify_field *f, size_t i)
{
	size_t j;

	if (f[i].key == NULL || f[i].key[0] == '\0' ||
	    strcmp(f[i].key, "event") == 0 || strcmp(f[i].key, "time") == 0 ||
	    strcmp(f[i].key, "id") == 0)
		return 1;
	for (j = 0; j < i; j++)
		if (strcmp(f[j].key, f[i].key) == 0)
			return 1;
	return 0;
}

/* The JSON document of an event, malloc'd; NULL with err. */
static char *
build_doc(const char *event, time_t now, const struct notify_field *f,
    size_t nf, char *err, size_t errlen)
{
	unsigned char buf[NOTIFY_MAX_DOC];
	char when[21], id[UTIL_ID_LEN + 1];
	char *json = NULL;
	size_t off = 0, i, w;

	if (nf > NOTIFY_MAX_FIELDS) {
		util_err(err, errlen, "too many fields");
		return NULL;
	}
	for (i = 0; i < nf; i++)
		if (reserved_or_repeated(f, i)) {
			util_err(err, errlen, "field %zu: bad or repeated key",
			    i);
			return NULL;
		}
	if (util_new_id(id) != 0) {
		util_err(err, errlen, "no random bytes for the id");
		return NULL;
	}
	util_time_rfc3339(now, when);
	w = cbor_encode_map_start(nf + 3, buf, sizeof(buf));
	off = w;
	if (w == 0 || put_text(buf, sizeof(buf), &off, "event") != 0 ||
	    put_text(buf, sizeof(buf), &off, event) != 0 ||
	    put_text(buf, sizeof(buf), &off, "time") != 0 ||
	    put_text(buf, sizeof(buf), &off, when) != 0 ||
	    put_text(buf, sizeof(buf), &off, "id") != 0 ||
	    put_text(buf, sizeof(buf), &off, id) != 0)
		goto big;
	for (i = 0; i < nf; i++) {
		if (put_text(buf, sizeof(buf), &off, f[i].key) != 0 ||
		    (f[i].text != NULL ? put_text(buf, sizeof(buf), &off,
		    f[i].text) : put_uint(buf, sizeof(buf), &off, f[i].u)) != 0)
			goto big;
	}
	if (cborjson_encode(buf, off, &json, err, errlen) != 0)
		return NULL;
	if (strlen(json) >= NOTIFY_MAX_DOC) {
		free(json);
		goto big;
	}
	return json;
big:
	util_err(err, errlen, "document larger than %d bytes",
	    NOTIFY_MAX_DOC);
	return NULL;
}

int
notify_send(struct notify *n, const char *event, time_t now,
    const struct notify_field *fields, size_t nfields)
{
	char err[128];
	char *doc;

	if (n == NULL || !n->enabled)
		return 0;
	if (event == NULL || strlen(event) >= EVENT_MAX ||
	    !util_is_token(event, EVENT_MAX - 1)) {
		logf_(n, "error", "notify: dropped an event with a bad name");
		return -1;
	}
	if ((doc = build_doc(event, now, fields, nfields, err,
	    sizeof(err))) == NULL) {
		logf_(n, "error", "notify: dropped %s: %s", event, err);
		pthread_mutex_lock(&n->mu);
		n->n_failed++;
		pthread_mutex_unlock(&n->mu);
		return -1;
	}
	pthread_mutex_lock(&n->mu);
	if (n->count == NOTIFY_QUEUE_MAX || n->stopping) {
		n->n_failed++;
		pthread_mutex_unlock(&n->mu);
		free(doc);
		logf_(n, "warn", "notify: dropped %s: queue full", event);
		return -1;
	}
	{
		struct item *it = &n->q[(n->head + n->count) %
		    NOTIFY_QUEUE_MAX];

		util_strlcpy(it->event, event, sizeof(it->event));
		it->doc = doc;
		n->count++;
	}
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
	return 0;
}

/* ---- delivery (worker thread) --------------------------------------------- */

static int
is_stopping(struct notify *n)
{
	int s;

	pthread_mutex_lock(&n->mu);
	s = n->stopping;
	pthread_mutex_unlock(&n->mu);
	return s;
}

static size_t
discard(char *ptr, size_t size, size_t nmemb, void *arg)
{
	(void)ptr;
	(void)arg;
	return size * nmemb;
}

static int
progress(void *arg, curl_off_t dlt, curl_off_t dln, curl_off_t ult,
    curl_off_t uln)
{
	(void)dlt;
	(void)dln;
	(void)ult;
	(void)uln;
	return is_stopping(arg);	/* non-zero aborts the transfer */
}

/* One POST. 0 on a 2xx answer, -1 with why. */
static int
post_once(struct notify *n, const char *doc, char *why, size_t whylen)
{
	struct curl_slist *hdr = NULL, *h;
	CURL *c;
	CURLcode rc;
	long status = 0;
	int ret = -1;

	if ((c = curl_easy_init()) == NULL)
		return util_err(why, whylen, "libcurl: out of memory");
	if ((h = curl_slist_append(hdr, "Content-Type: application/json")) !=
	    NULL)
		hdr = h;
	curl_easy_setopt(c, CURLOPT_URL, n->url);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "https,http");
	curl_easy_setopt(c, CURLOPT_FOLLOWLOCATION, 0L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdr);
	curl_easy_setopt(c, CURLOPT_USERAGENT, "sekishod-notify");
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, doc);
	curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(doc));
	curl_easy_setopt(c, CURLOPT_TIMEOUT, (long)n->timeout);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT, (long)n->timeout);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, discard);
	curl_easy_setopt(c, CURLOPT_NOPROGRESS, 0L);
	curl_easy_setopt(c, CURLOPT_XFERINFOFUNCTION, progress);
	curl_easy_setopt(c, CURLOPT_XFERINFODATA, n);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYPEER, 1L);
	curl_easy_setopt(c, CURLOPT_SSL_VERIFYHOST, 2L);
	if (n->ca != NULL)
		curl_easy_setopt(c, CURLOPT_CAINFO, n->ca);
	rc = curl_easy_perform(c);
	if (rc != CURLE_OK)
		util_err(why, whylen, "%s", curl_easy_strerror(rc));
	else if (curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) !=
	    CURLE_OK || status < 200 || status > 299)
		util_err(why, whylen, "HTTP status %ld", status);
	else
		ret = 0;
	curl_easy_cleanup(c);
	curl_slist_free_all(hdr);
	return ret;
}

/* Waits secs unless stopping; returns non-zero when stopping. */
static int
nap(struct notify *n, uint64_t secs)
{
	struct timespec until;
	int s;

	clock_gettime(CLOCK_MONOTONIC, &until);
	until.tv_sec += (time_t)secs;
	pthread_mutex_lock(&n->mu);
	while (!n->stopping)
		if (pthread_cond_timedwait(&n->cv, &n->mu, &until) ==
		    ETIMEDOUT)
			break;
	s = n->stopping;
	pthread_mutex_unlock(&n->mu);
	return s;
}

static int
deliver_webhook(struct notify *n, const struct item *it)
{
	uint64_t attempt, delay = n->retry_delay;
	char why[256];

	for (attempt = 0; attempt <= n->retries; attempt++) {
		if (attempt > 0) {
			if (nap(n, delay))
				break;
			delay = delay * 2 > MAX_RETRY_DELAY ? MAX_RETRY_DELAY :
			    delay * 2;
		}
		if (post_once(n, it->doc, why, sizeof(why)) == 0) {
			logf_(n, "info", "notify: webhook: %s delivered "
			    "(attempt %llu)", it->event,
			    (unsigned long long)attempt + 1);
			return 0;
		}
		logf_(n, "warn", "notify: webhook: %s attempt %llu failed: %s",
		    it->event, (unsigned long long)attempt + 1, why);
		if (is_stopping(n))
			break;
	}
	logf_(n, "error", "notify: webhook: %s not delivered", it->event);
	return -1;
}

static uint64_t
mono_ms(void)
{
	struct timespec now;

	clock_gettime(CLOCK_MONOTONIC, &now);
	return (uint64_t)now.tv_sec * 1000 + (uint64_t)now.tv_nsec / 1000000;
}

/* Writes all of doc to fd before deadline (mono_ms). */
static int
write_all(int fd, const char *doc, uint64_t deadline)
{
	size_t len = strlen(doc), off = 0;
	struct pollfd p = { fd, POLLOUT, 0 };
	ssize_t w;

	while (off < len) {
		if (mono_ms() >= deadline)
			return -1;
		if (poll(&p, 1, 100) < 0 && errno != EINTR)
			return -1;
		w = write(fd, doc + off, len - off);
		if (w < 0 && errno != EAGAIN && errno != EINTR)
			return -1;
		if (w > 0)
			off += (size_t)w;
	}
	return 0;
}

static int
run_command(struct notify *n, const struct item *it)
{
	posix_spawn_file_actions_t fa;
	posix_spawnattr_t sa;
	sigset_t none, pipe_only;
	char pathenv[] = "PATH=/usr/bin:/bin";
	char *argv[3], *envp[2] = { pathenv, NULL };
	struct timespec tick = { 0, 20 * 1000 * 1000 };
	uint64_t deadline;
	int fds[2], rc, status = 0, done = 0, wrote;
	pid_t pid, w;

	if (pipe2(fds, O_CLOEXEC) != 0) {
		logf_(n, "error", "notify: command: %s: pipe: %s", it->event,
		    strerror(errno));
		return -1;
	}
	argv[0] = n->command;
	argv[1] = (char *)it->event;
	argv[2] = NULL;
	sigemptyset(&none);
	sigemptyset(&pipe_only);
	sigaddset(&pipe_only, SIGPIPE);
	posix_spawn_file_actions_init(&fa);
	posix_spawn_file_actions_adddup2(&fa, fds[0], 0);
	posix_spawn_file_actions_addopen(&fa, 1, "/dev/null", O_WRONLY, 0);
	posix_spawn_file_actions_addopen(&fa, 2, "/dev/null", O_WRONLY, 0);
	posix_spawnattr_init(&sa);
	posix_spawnattr_setflags(&sa, POSIX_SPAWN_SETSIGMASK |
	    POSIX_SPAWN_SETSIGDEF);
	posix_spawnattr_setsigmask(&sa, &none);
	posix_spawnattr_setsigdefault(&sa, &pipe_only);
	rc = posix_spawn(&pid, n->command, &fa, &sa, argv, envp);
	posix_spawn_file_actions_destroy(&fa);
	posix_spawnattr_destroy(&sa);
	close(fds[0]);
	if (rc != 0) {
		close(fds[1]);
		logf_(n, "error", "notify: command: %s: cannot start: %s",
		    it->event, strerror(rc));
		return -1;
	}
	fcntl(fds[1], F_SETFL, O_NONBLOCK);
	deadline = mono_ms() + n->command_timeout * 1000;
	wrote = write_all(fds[1], it->doc, deadline);
	close(fds[1]);
	for (;;) {
		w = waitpid(pid, &status, WNOHANG);
		if (w == pid) {
			done = 1;
			break;
		}
		if (w < 0 && errno != EINTR)
			break;
		if (mono_ms() >= deadline || is_stopping(n))
			break;
		nanosleep(&tick, NULL);
	}
	if (!done) {
		kill(pid, SIGKILL);
		while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
			;
		logf_(n, "error", "notify: command: %s: killed (%s)",
		    it->event, is_stopping(n) ? "the broker is stopping" :
		    "time limit reached");
		return -1;
	}
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		logf_(n, "error", "notify: command: %s: %s %d", it->event,
		    WIFEXITED(status) ? "exited with status" :
		    "killed by signal", WIFEXITED(status) ?
		    WEXITSTATUS(status) : WTERMSIG(status));
		return -1;
	}
	if (wrote != 0)
		logf_(n, "warn", "notify: command: %s: did not read the whole "
		    "document", it->event);
	logf_(n, "info", "notify: command: %s done", it->event);
	return 0;
}

static void *
worker(void *arg)
{
	struct notify *n = arg;
	struct item it;
	int failed;

	for (;;) {
		pthread_mutex_lock(&n->mu);
		while (n->count == 0 && !n->stopping)
			pthread_cond_wait(&n->cv, &n->mu);
		if (n->stopping) {
			pthread_mutex_unlock(&n->mu);
			break;
		}
		it = n->q[n->head];
		n->head = (n->head + 1) % NOTIFY_QUEUE_MAX;
		n->count--;
		pthread_mutex_unlock(&n->mu);

		failed = 0;
		if (n->url != NULL) {
			if (deliver_webhook(n, &it) == 0) {
				pthread_mutex_lock(&n->mu);
				n->n_webhook++;
				pthread_mutex_unlock(&n->mu);
			} else
				failed = 1;
		}
		if (n->command != NULL) {
			if (run_command(n, &it) == 0) {
				pthread_mutex_lock(&n->mu);
				n->n_command++;
				pthread_mutex_unlock(&n->mu);
			} else
				failed = 1;
		}
		if (failed) {
			pthread_mutex_lock(&n->mu);
			n->n_failed++;
			pthread_mutex_unlock(&n->mu);
		}
		free(it.doc);
	}
	return NULL;
}

void
notify_stop(struct notify *n)
{
	if (n == NULL)
		return;
	if (n->enabled) {
		pthread_mutex_lock(&n->mu);
		n->stopping = 1;
		pthread_cond_broadcast(&n->cv);
		pthread_mutex_unlock(&n->mu);
		pthread_join(n->thread, NULL);
		if (n->count > 0)
			logf_(n, "warn", "notify: %zu notifications not sent "
			    "at shutdown", n->count);
		pthread_cond_destroy(&n->cv);
		pthread_mutex_destroy(&n->mu);
		curl_global_cleanup();
	}
	notify_free(n);
}

void
notify_stats(struct notify *n, unsigned long *webhook,
    unsigned long *command, unsigned long *failed)
{
	if (!n->enabled) {
		*webhook = *command = *failed = 0;
		return;
	}
	pthread_mutex_lock(&n->mu);
	*webhook = n->n_webhook;
	*command = n->n_command;
	*failed = n->n_failed;
	pthread_mutex_unlock(&n->mu);
}
