/*
 * forward_int — the forwarder's state, shared by the modules that make up
 * delivery and by no one else: forward.c (queue, scheduling, the life of
 * an attempt and of a transfer), fwdhttp.c (an attempt's HTTP requests on
 * libcurl's multi handle) and fwdservice.c (a service's settings from the
 * register).
 *
 * The structures live here rather than in one of those modules so that
 * fwdhttp and fwdservice can read an attempt without calling into
 * forward.c: calls run one way only (forward.c -> fwdhttp, fwdservice),
 * and fwdhttp hands a finished request back through
 * forwarder.on_response.
 *
 * Loop thread only. forward.c allocates and frees every structure here.
 */
#ifndef SEKISHO_FORWARD_INT_H
#define SEKISHO_FORWARD_INT_H

#include "broker/config.h"
#include "broker/credentials.h"
#include "broker/retry.h"
#include "broker/store.h"
#include "broker/upstream.h"
#include "lib/util.h"
#include "policy/policy.h"

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/queue.h>

#include <curl/curl.h>
#include <event2/event.h>
#include <openssl/evp.h>

#define MAX_PINS_TEXT 4096

struct broker;
struct fwdqueue;

enum item_state {
	I_WAITING,			/* in the queue, due at due_ms */
	I_BUSY,				/* a job or an attempt is running */
	I_DONE				/* finished; freed by its last job */
};

struct fwd_service {
	TAILQ_ENTRY(fwd_service) entry;
	char id[POLICY_ID_MAX + 1];
	unsigned active;
	struct retry_circuit circuit;
};
TAILQ_HEAD(fwd_service_list, fwd_service);

struct fwd_attempt;

struct fwd_item {
	TAILQ_ENTRY(fwd_item) entry;
	struct forwarder *f;
	struct transfer t;		/* snapshot of the row */
	enum item_state state;
	uint64_t due_ms;		/* monotonic */
	struct fwd_attempt *a;
};
TAILQ_HEAD(fwd_item_list, fwd_item);

struct forwarder {
	struct broker *b;
	CURLM *multi;
	struct event *curl_timer;
	struct event *sched;
	struct event *sweep;
	struct fwd_item_list items;
	struct fwd_service_list services;
	size_t nitems;
	int stopping;
	int sweeping;
	struct fwdqueue *requeue;	/* stored, queue commit failed */
	unsigned test_fail_queue;	/* test hook: queue commits to fail
					   (commit thread only) */
	/* The attempt's next step, given what its request or hashing
	 * brought (fwdhttp calls back through it: see fwdhttp.h). */
	void (*on_response)(struct fwd_attempt *a,
	    const struct upstream_response *r);
};

struct fwd_attempt {
	struct fwd_item *it;
	struct fwd_service *svc;
	struct config_delivery d;	/* proxy points into the config */
	const struct upstream_ops *ops;
	void *conn;
	struct upstream_target target;
	struct credentials cred;
	int plain_http;			/* endpoint is http:// (local demo) */
	char ca[PATH_MAX];
	char pins[MAX_PINS_TEXT];
	char url[UPSTREAM_URL_MAX];	/* the object's URL, for the audit */
	char prep_error[256];		/* set: the attempt fails at once */
	enum retry_transport prep_transport;

	/* current request */
	struct upstream_request req;
	struct upstream_response resp;
	CURL *easy;
	struct curl_slist *hdrs;
	char curl_err[CURL_ERROR_SIZE];
	char *body;
	size_t bodylen;
	EVP_MD_CTX *sent_md, *body_md;
	uint64_t body_sent;
	char local_error[200];
	int spool_read_failed;		/* a read of the spool copy failed */
	int fd;
	unsigned nreq;

	/* hashing a range (UPSTREAM_HASH) */
	struct event *hash_ev;
	uint64_t hash_pos;

	/* results over the attempt */
	char spki[UTIL_SHA256_HEX + 1];
	char peer_ip[64];
	char last_step[16];
	uint64_t bytes;
	uint64_t retry_after_ms;
	uint64_t start_ms;
	long main_status;
};

#endif
