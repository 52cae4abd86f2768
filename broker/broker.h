/*
 * broker — the daemon's shared context: what every connection needs to
 * reach (event base, TLS context, policy, commit thread, spool) and the list
 * of live sessions. It is created and owned by main.c; sessions borrow it.
 * Only the event-loop thread touches it.
 */
#ifndef SEKISHO_BROKER_H
#define SEKISHO_BROKER_H

#include <stddef.h>
#include <time.h>
#include <sys/queue.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

struct config;
struct policy;
struct committer;
struct spool;
struct session;
struct forwarder;
struct officer;
struct stepup;
struct stepup_grants;
struct tlskey;
struct admission;
struct h2conn;
struct upload;
struct web;

TAILQ_HEAD(session_list, session);
TAILQ_HEAD(h2conn_list, h2conn);
LIST_HEAD(upload_list, upload);

struct broker {
	struct event_base *base;
	struct config *cfg;
	SSL_CTX *ssl_ctx;		/* replaced on reload */
	struct tlskey *tlskey;		/* the TLS key's process; NULL when
					   the key stays here (not EC) */
	struct policy *policy;		/* replaced on reload */
	struct committer *committer;
	struct spool *spool;
	struct evconnlistener *listener;
	struct event *expiry_ev;		/* housekeeping timer */
	int orphan_sweeping;		/* an orphan sweep job is queued */
	struct orphans_stuck *orphans_stuck;	/* recorded, not removable
						   (broker/orphans.c) */
	struct session_list sessions;
	size_t nsessions;
	struct session_list handshakes;	/* sessions still in their TLS
					   handshake, oldest first */
	size_t nhandshakes;
	struct upload_list uploads;	/* every upload attached to a
					   connection, of any transport
					   (upload.h) */
	struct admission *admission;	/* connections per source, refusals */
	struct h2conn_list h2conns;	/* HTTP/2 connections (browsers); they
					   count in nsessions too */
	struct web *web;		/* the pages browsers get (web.h) */
	struct event *refusal_ev;	/* writes counted refusals */
	int shutting_down;
	struct forwarder *forwarder;	/* delivery; NULL until started */
	struct officer *officer;	/* approval officers: held transfers,
					   exceptions; NULL until loaded */
	struct regapproval *regapproval;	/* register changes under
						   approval; NULL in
						   register.mode file */
	struct stepup *stepup;		/* NULL: no stepup section configured;
					   read-only, also used by the commit
					   thread */
	struct stepup_grants *grants;	/* step-ups by certificate (loop) */
	time_t clock_offset;		/* seconds added to the clock; only
					   builds with test hooks set it */
	time_t crl_next_update;		/* of the CRL in force; 0: none
					   (crlwatch.h) */
};

/* The broker's clock for decisions and step-up (time(2), plus the offset
 * the integration tests inject in test-hook builds). */
static inline time_t
broker_now(const struct broker *b)
{
	return time(NULL) + b->clock_offset;
}

#endif
