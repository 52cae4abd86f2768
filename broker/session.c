/*
 * session — see session.h.
 *
 * The CBOR transport of the request layer: TLS and the bufferevent, the
 * sekisho/1 framing, hello, flow control both ways, and the connection's
 * admission and lifetime. Requests go to the handlers through the
 * responder below (request.h); the payload of an upload's data items goes
 * straight from the input buffer to upload_write_data (upload.h), without
 * a copy or a table.
 */
#include "broker/session.h"
#include "broker/admission.h"
#include "broker/auditrec.h"
#include "broker/broker.h"
#include "broker/config.h"
#include "broker/dispatch.h"
#include "broker/h2conn.h"
#include "broker/identity.h"
#include "broker/log.h"
#include "broker/refusals.h"
#include "broker/request.h"
#include "broker/stepup.h"
#include "broker/tlsserver.h"
#include "broker/upload.h"
#include "lib/util.h"
#include "lib/wire.h"

#include <arpa/inet.h>
#include <inttypes.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/uio.h>
#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <openssl/err.h>

#define SOFTWARE "sekishod/" "0.1.0"
#define READ_HIGH_WATER (256u * 1024)	/* bytes buffered per connection */
/* Answers queued for a client that does not read: above the high mark the
 * session stops reading requests, below the low mark it reads again. */
#define OUT_HIGH_WATER (256u * 1024)
#define OUT_LOW_WATER (64u * 1024)

enum sess_state {
	S_HANDSHAKE,		/* TLS not finished */
	S_CONNECTED,		/* verified, waiting for hello */
	S_OPEN,			/* hello done */
	S_CLOSING		/* flushing a final message */
};

struct session {
	struct reqconn c;		/* the request layer's view; first, so
					   a struct reqconn * is this session */
	struct bufferevent *bev;
	SSL *ssl;
	enum sess_state state;
	int refs;
	int closed;			/* connection gone, waiting for jobs */
	TAILQ_ENTRY(session) entry;
	/* admission (accept path): the source address the per-source count
	 * is kept under; the handshake deadline, then the session's
	 * lifetime; the list of handshakes while in it */
	char source[ADMISSION_SOURCE_LEN];
	struct event *timer;
	int in_handshakes;
	TAILQ_ENTRY(session) hs_entry;
	int out_blocked;		/* reading stopped: output above the
					   high-water mark */
};

static void session_read_cb(struct bufferevent *bev, void *arg);
static void session_event_cb(struct bufferevent *bev, short what, void *arg);
static void process_input(struct session *s);

/* ---- lifetime ---------------------------------------------------------- */

static void
session_unref(struct session *s)
{
	if (--s->refs > 0)
		return;
	free(s);
}

/* ---- output -------------------------------------------------------------- */

static void
send_msg(struct session *s, const struct wire_msg *m)
{
	struct wire_error werr;
	uint8_t *buf = NULL;
	size_t len = 0;

	if (s->closed)
		return;
	if (wire_encode(m, &buf, &len, &werr) != 0) {
		log_kv("error", "encode", "user=%s op=%s reason=%s",
		    s->c.who.user, wire_op_name(m->op), werr.message);
		return;
	}
	bufferevent_write(s->bev, buf, len);
	free(buf);
}

/* Leaves the waiting state and picks up input that arrived meanwhile. */
static void
session_continue(struct session *s)
{
	s->c.busy = 0;
	if (s->closed || s->state == S_CLOSING)
		return;
	if (s->out_blocked)
		return;		/* session_write_cb resumes reading */
	bufferevent_enable(s->bev, EV_READ);
	process_input(s);
}

/* ---- the responder (request.h) ---------------------------------------------- */

_Static_assert(offsetof(struct session, c) == 0,
    "a struct reqconn * of the request layer is its session");

static struct session *
session_of(const struct reqconn *c)
{
	return (struct session *)c;
}

static void
op_send(struct reqconn *c, const struct wire_msg *m)
{
	send_msg(session_of(c), m);
}

static int
op_send_data(struct reqconn *c, const uint8_t *buf, size_t len)
{
	struct session *s = session_of(c);
	uint8_t head[9];
	size_t hlen;

	if ((hlen = wire_encode_data_head(len, head)) == 0)
		return -1;
	if (s->closed)
		return 0;
	bufferevent_write(s->bev, head, hlen);
	bufferevent_write(s->bev, buf, len);
	return 0;
}

static size_t
op_output_pending(const struct reqconn *c)
{
	const struct session *s = session_of(c);

	if (s->closed)
		return 0;
	return evbuffer_get_length(bufferevent_get_output(s->bev));
}

static int
op_gone(const struct reqconn *c)
{
	return session_of(c)->closed;
}

static int
op_closing(const struct reqconn *c)
{
	return session_of(c)->state == S_CLOSING;
}

static void
op_hold(struct reqconn *c)
{
	session_of(c)->refs++;
}

static void
op_release(struct reqconn *c)
{
	session_unref(session_of(c));
}

static void
op_pause(struct reqconn *c)
{
	struct session *s = session_of(c);

	bufferevent_disable(s->bev, EV_READ);
}

static void
op_resume(struct reqconn *c)
{
	session_continue(session_of(c));
}

static void session_close_after_flush(struct session *s);

static void
op_close_after_flush(struct reqconn *c)
{
	session_close_after_flush(session_of(c));
}

static const struct reqconn_ops session_ops = {
	.send = op_send,
	.send_data = op_send_data,
	.output_pending = op_output_pending,
	.gone = op_gone,
	.closing = op_closing,
	.hold = op_hold,
	.release = op_release,
	.pause = op_pause,
	.resume = op_resume,
	.close_after_flush = op_close_after_flush,
};

/* ---- closing ----------------------------------------------------------------- */

/* The session is no longer an unauthenticated one. */
static void
handshake_leave(struct session *s)
{
	if (!s->in_handshakes)
		return;
	s->in_handshakes = 0;
	TAILQ_REMOVE(&s->c.b->handshakes, s, hs_entry);
	s->c.b->nhandshakes--;
}

static void
session_free_conn(struct session *s)
{
	struct broker *b = s->c.b;

	if (s->closed)
		return;
	s->closed = 1;
	TAILQ_REMOVE(&b->sessions, s, entry);
	b->nsessions--;
	handshake_leave(s);
	admission_leave(b->admission, s->source);
	if (s->timer != NULL) {
		event_free(s->timer);
		s->timer = NULL;
	}
	if (s->bev != NULL) {
		/* Best effort close_notify; a peer that is gone is fine. */
		if (s->ssl != NULL && s->state != S_HANDSHAKE)
			SSL_shutdown(s->ssl);
		ERR_clear_error();
		bufferevent_free(s->bev);
		s->bev = NULL;
	}
	session_unref(s);
}

static void
session_close(struct session *s, const char *why)
{
	if (s->closed)
		return;
	upload_abort(&s->c, why);
	session_free_conn(s);
}

static void
flushed_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	session_close(s, "connection closed by broker after an error");
}

/* Sends what is queued, then closes. */
static void
session_close_after_flush(struct session *s)
{
	if (s->closed || s->state == S_CLOSING)
		return;
	s->state = S_CLOSING;
	bufferevent_disable(s->bev, EV_READ);
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) == 0) {
		session_close(s, "connection closed by broker after an error");
		return;
	}
	bufferevent_setcb(s->bev, NULL, flushed_cb, session_event_cb, s);
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
}

/* ---- hello ------------------------------------------------------------------------ */

/* ---- upload data ------------------------------------------------------------- */

/*
 * Hands the buffered payload bytes of the current data item to the upload,
 * straight from the input buffer (no copy). -1 when the upload failed.
 */
static int
write_data(struct session *s, struct evbuffer *in)
{
	struct evbuffer_iovec vec[UPLOAD_MAX_IOV];
	struct iovec iov[UPLOAD_MAX_IOV];
	uint64_t pending = upload_data_pending(&s->c);
	size_t want = evbuffer_get_length(in);
	ssize_t w;
	int n, i;

	if (want > pending)
		want = (size_t)pending;
	n = evbuffer_peek(in, (ev_ssize_t)want, NULL, vec, UPLOAD_MAX_IOV);
	if (n > UPLOAD_MAX_IOV)
		n = UPLOAD_MAX_IOV;
	for (i = 0; i < n; i++) {
		iov[i].iov_base = vec[i].iov_base;
		iov[i].iov_len = vec[i].iov_len;
	}
	if ((w = upload_write_data(&s->c, iov, n)) < 0)
		return -1;
	evbuffer_drain(in, (size_t)w);
	return 0;
}

static void
handle_hello(struct session *s, const struct wire_msg *m)
{
	struct wire_msg r;
	uint64_t version = 0;

	if (s->state != S_CONNECTED) {
		upload_protocol_error(&s->c, m->id, "bad_request", "hello was "
		    "already sent on this connection", NULL);
		return;
	}
	wire_msg_uint(m, "version", &version);
	if (version != WIRE_VERSION) {
		upload_protocol_error(&s->c, m->id, "version", "this broker "
		    "speaks sekisho/1 only; update the client", "version");
		return;
	}
	if (request_refuse_unaudited(&s->c, m->id)) {
		session_close_after_flush(s);
		return;
	}
	s->state = S_OPEN;
	wire_msg_init(&r, WIRE_OP_WELCOME, m->id);
	wire_msg_set_uint(&r, "version", WIRE_VERSION);
	wire_msg_set_text(&r, "user", s->c.who.user);
	wire_msg_set_text(&r, "dept", s->c.who.dept);
	if (s->c.who.terminal[0] != '\0')
		wire_msg_set_text(&r, "terminal", s->c.who.terminal);
	wire_msg_set_uint(&r, "max_chunk", WIRE_MAX_CHUNK);
	wire_msg_set_uint(&r, "max_size", s->c.b->cfg->max_file_size);
	send_msg(s, &r);
	wire_msg_clear(&r);
}

/* ---- input loop -------------------------------------------------------------------------- */

static void
dispatch(struct session *s, const struct wire_msg *m)
{
	if (s->state != S_OPEN && m->op != WIRE_OP_HELLO) {
		upload_protocol_error(&s->c, m->id, "bad_request", "send hello "
		    "first", NULL);
		return;
	}
	/* hello opens this transport; everything else is the request
	 * layer's (which refuses a hello during an upload like any op but
	 * end). */
	if (m->op == WIRE_OP_HELLO && !upload_is_receiving(&s->c)) {
		handle_hello(s, m);
		return;
	}
	dispatch_request(&s->c, m);
}

/*
 * A client that sends requests and never reads would make every answer
 * pile up here: above the high-water mark stop reading (the client's
 * sends then stall in TCP), and read again once the output has drained
 * below the low mark (session_write_cb).
 */
static int
output_full(struct session *s)
{
	if (evbuffer_get_length(bufferevent_get_output(s->bev)) <=
	    OUT_HIGH_WATER)
		return 0;
	if (!s->out_blocked) {
		s->out_blocked = 1;
		bufferevent_disable(s->bev, EV_READ);
		bufferevent_setwatermark(s->bev, EV_WRITE, OUT_LOW_WATER, 0);
	}
	return 1;
}

static void
session_write_cb(struct bufferevent *bev, void *arg)
{
	struct session *s = arg;

	(void)bev;
	if (!s->out_blocked || s->closed || s->state == S_CLOSING)
		return;
	s->out_blocked = 0;
	bufferevent_setwatermark(s->bev, EV_WRITE, 0, 0);
	if (s->c.busy)
		return;		/* the job's end resumes reading */
	bufferevent_enable(s->bev, EV_READ);
	process_input(s);
}

static void
process_input(struct session *s)
{
	struct evbuffer *in;

	while (!s->closed && !s->c.busy && s->state != S_CLOSING &&
	    !output_full(s)) {
		struct wire_msg m;
		struct wire_error werr;
		uint64_t dlen = 0;
		size_t avail, n, consumed = 0;
		unsigned char *p;
		enum wire_item item;

		in = bufferevent_get_input(s->bev);
		if ((avail = evbuffer_get_length(in)) == 0)
			return;
		if (upload_data_pending(&s->c) > 0) {
			if (write_data(s, in) != 0)
				return;
			continue;
		}
		n = avail < WIRE_MAX_CONTROL ? avail : WIRE_MAX_CONTROL;
		if ((p = evbuffer_pullup(in, (ev_ssize_t)n)) == NULL) {
			session_close(s, "out of memory");
			return;
		}
		memset(&werr, 0, sizeof(werr));
		item = wire_decode(p, n, &m, &dlen, &consumed, &werr);
		switch (item) {
		case WIRE_NEED_MORE:
			return;
		case WIRE_ERROR:
			upload_protocol_error(&s->c, 0, werr.code, werr.message,
			    werr.field);
			return;
		case WIRE_DATA:
			evbuffer_drain(in, consumed);
			upload_take_data_head(&s->c, dlen);
			break;
		case WIRE_CONTROL:
			evbuffer_drain(in, consumed);
			dispatch(s, &m);
			wire_msg_clear(&m);
			break;
		}
	}
}

static void
session_read_cb(struct bufferevent *bev, void *arg)
{
	(void)bev;
	process_input(arg);
}

/* ---- admission: refusals, deadlines, lifetime ------------------------------------------- */

/* Ends a connection still in its handshake as a refusal. */
static void
handshake_refuse(struct session *s, const char *why)
{
	refusals_note(s->c.b, s->source, s->c.peer, why);
	session_close(s, why);
}

/*
 * One timer per connection: from accept, the handshake's absolute
 * deadline (bytes trickling in do not extend it, unlike the bufferevent's
 * inactivity timeouts); after the handshake, the session's lifetime.
 */
static void
session_timer_cb(evutil_socket_t fd, short what, void *arg)
{
	struct session *s = arg;
	struct auditrec rec;
	char why[128];

	(void)fd;
	(void)what;
	if (s->closed)
		return;
	if (s->state == S_HANDSHAKE) {
		snprintf(why, sizeof(why), "TLS handshake not finished within "
		    "limits.handshake_timeout (%" PRIu64 "s)",
		    s->c.b->cfg->handshake_timeout);
		handshake_refuse(s, why);
		return;
	}
	if (s->state == S_CLOSING)
		return;
	snprintf(why, sizeof(why), "limits.max_session_lifetime (%" PRIu64
	    "s) reached", s->c.b->cfg->max_session_lifetime);
	log_kv("info", "disconnect", "user=%s peer=%s reason=\"%s\"",
	    s->c.who.user, s->c.peer, why);
	auditrec_init(&rec, "disconnect", &s->c.who, s->c.peer);
	auditrec_text(&rec, "reason", why);
	request_audit(s->c.b, &rec);
	reqconn_send_error_full(&s->c, 0, "session_expired", "this connection "
	    "reached the broker's maximum session lifetime; connect again (an "
	    "upload in progress can be resumed)", NULL, NULL,
	    s->c.up != NULL ? s->c.up->id : NULL, 1);
	upload_abort(&s->c, why);
	s->c.busy = 0;
	session_close_after_flush(s);
}

/* ---- connection events ------------------------------------------------------------------- */

/*
 * ALPN chose "h2" (a browser): h2conn takes the checked connection over
 * with the same principal; the session ends here without closing it, its
 * admission slot and count passing to the h2 connection (h2conn.h).
 */
static void
handover_h2(struct session *s)
{
	struct bufferevent *bev = s->bev;
	struct reqconn from = s->c;
	char source[sizeof(s->source)];

	util_strlcpy(source, s->source, sizeof(source));
	bufferevent_setcb(bev, NULL, NULL, NULL, NULL);
	s->bev = NULL;
	session_free_conn(s);
	(void)h2conn_start(bev, &from, source);
}

static void
handshake_done(struct session *s)
{
	struct auditrec rec;
	struct timeval idle;
	char why[256];
	X509 *cert;

	handshake_leave(s);
	cert = SSL_get0_peer_certificate(s->ssl);
	/* Accepted before a CRL reload: the handshake verified against the
	 * old context's CRL; the one in force now decides. */
	if (tlsserver_check(s->ssl, why, sizeof(why)) != 0 ||
	    (SSL_get_SSL_CTX(s->ssl) != s->c.b->ssl_ctx &&
	    tlsserver_recheck(s->c.b->ssl_ctx, s->ssl, why,
	    sizeof(why)) != 0) ||
	    identity_from_cert(cert, &s->c.who, why, sizeof(why)) != 0) {
		char q[300];

		log_kv("warn", "refuse", "peer=%s reason=%s", s->c.peer,
		    log_quote(why, q, sizeof(q)));
		auditrec_init(&rec, "refuse", NULL, s->c.peer);
		auditrec_text(&rec, "reason", why);
		if (cert != NULL) {
			char fp[UTIL_SHA256_HEX + 1];

			if (identity_fingerprint(cert, fp) == 0)
				auditrec_text(&rec, "cert_fp", fp);
		}
		request_audit(s->c.b, &rec);
		s->state = S_CONNECTED;
		if (!tlsserver_is_h2(s->ssl))	/* not sekisho/1 to a browser */
			reqconn_send_error_full(&s->c, 0, "certificate_refused",
			    why, NULL, NULL, NULL, 0);
		session_close_after_flush(s);
		return;
	}
	s->state = S_CONNECTED;
	idle.tv_sec = (time_t)s->c.b->cfg->idle_timeout;
	idle.tv_usec = 0;
	bufferevent_set_timeouts(s->bev, &idle, &idle);
	idle.tv_sec = (time_t)s->c.b->cfg->max_session_lifetime;
	evtimer_add(s->timer, &idle);
	log_kv("info", "connect", "user=%s dept=%s terminal=%s peer=%s "
	    "serial=%s", s->c.who.user, s->c.who.dept, s->c.who.terminal,
	    s->c.peer, s->c.who.serial);
	auditrec_init(&rec, "connect", &s->c.who, s->c.peer);
	auditrec_text(&rec, "serial", s->c.who.serial);
	if (tlsserver_is_h2(s->ssl))
		auditrec_text(&rec, "protocol", "h2");
	request_audit(s->c.b, &rec);
	if (tlsserver_is_h2(s->ssl))
		handover_h2(s);
}

static void
session_event_cb(struct bufferevent *bev, short what, void *arg)
{
	struct session *s = arg;
	char why[300];

	(void)bev;
	if (what & BEV_EVENT_CONNECTED) {
		s->refs++;	/* an h2 handover ends the session */
		handshake_done(s);
		if (!s->closed && s->state == S_CONNECTED)
			process_input(s);
		session_unref(s);
		return;
	}
	if (s->state == S_HANDSHAKE) {
		if (what & BEV_EVENT_TIMEOUT)
			util_strlcpy(why, "TLS handshake timed out", sizeof(why));
		else if (what & BEV_EVENT_EOF)
			util_strlcpy(why, "peer closed during TLS handshake",
			    sizeof(why));
		else
			tlsserver_failure(s->ssl,
			    bufferevent_get_openssl_error(bev), why,
			    sizeof(why));
		handshake_refuse(s, why);
		return;
	}
	if (what & BEV_EVENT_TIMEOUT)
		util_strlcpy(why, "idle timeout", sizeof(why));
	else if (what & BEV_EVENT_EOF)
		util_strlcpy(why, "client closed the connection", sizeof(why));
	else {
		unsigned long e = ERR_peek_error();

		snprintf(why, sizeof(why), "connection dropped without TLS "
		    "close_notify%s%s", e != 0 ? ": " : "",
		    e != 0 ? ERR_reason_error_string(e) != NULL ?
		    ERR_reason_error_string(e) : "" : "");
		ERR_clear_error();
	}
	log_kv("info", "disconnect", "user=%s peer=%s reason=\"%s\"",
	    s->c.who.user, s->c.peer, why);
	{
		struct auditrec rec;

		auditrec_init(&rec, "disconnect", &s->c.who, s->c.peer);
		auditrec_text(&rec, "reason", why);
		request_audit(s->c.b, &rec);
	}
	session_close(s, why);
}

static void
format_peer(const struct sockaddr *sa, char *out, size_t outlen)
{
	char host[INET6_ADDRSTRLEN] = "?";
	unsigned port = 0;

	if (sa->sa_family == AF_INET) {
		const struct sockaddr_in *in = (const void *)sa;

		inet_ntop(AF_INET, &in->sin_addr, host, sizeof(host));
		port = ntohs(in->sin_port);
		snprintf(out, outlen, "%s:%u", host, port);
	} else if (sa->sa_family == AF_INET6) {
		const struct sockaddr_in6 *in6 = (const void *)sa;

		inet_ntop(AF_INET6, &in6->sin6_addr, host, sizeof(host));
		port = ntohs(in6->sin6_port);
		snprintf(out, outlen, "[%s]:%u", host, port);
	} else
		util_strlcpy(out, "unknown", outlen);
}

/*
 * Whether a new connection from source gets a slot (0: counted for its
 * source, admission_leave gives it back) or is refused (-1, counted as a
 * refusal). Unauthenticated connections never hold more than
 * limits.max_handshakes slots, so the rest stay for authenticated sessions; when the handshake budget or every slot is taken, the oldest
 * pending handshake gives way (it had the longest to finish), so idle
 * sockets only delay a real client, they cannot lock it out.
 */
static int
accept_gate(struct broker *b, const char *source, const char *peer)
{
	char why[160];
	int rc;

	if ((rc = admission_enter(b->admission, source,
	    b->cfg->max_connections_per_source)) != 0) {
		if (rc < 0)
			util_strlcpy(why, "out of memory", sizeof(why));
		else
			snprintf(why, sizeof(why), "limits."
			    "max_connections_per_source (%" PRIu64 ") reached "
			    "for %s", b->cfg->max_connections_per_source,
			    source);
		refusals_note(b, source, peer, why);
		return -1;
	}
	while (b->nhandshakes >= b->cfg->max_handshakes ||
	    b->nsessions >= b->cfg->max_connections) {
		struct session *old = TAILQ_FIRST(&b->handshakes);

		if (old == NULL) {
			admission_leave(b->admission, source);
			refusals_note(b, source, peer,
			    "limits.max_connections reached");
			return -1;
		}
		snprintf(why, sizeof(why), "handshake slots full (limits.%s): "
		    "the oldest pending handshake gave way",
		    b->nhandshakes >= b->cfg->max_handshakes ?
		    "max_handshakes" : "max_connections");
		handshake_refuse(old, why);
	}
	return 0;
}

void
session_accept(struct broker *b, evutil_socket_t fd,
    const struct sockaddr *sa, int salen)
{
	struct session *s;
	struct timeval hs;
	char peer[64], source[ADMISSION_SOURCE_LEN];

	(void)salen;
	format_peer(sa, peer, sizeof(peer));
	admission_source(sa, source);
	if (b->shutting_down) {
		log_kv("warn", "refuse", "peer=%s reason=\"shutting down\"",
		    peer);
		evutil_closesocket(fd);
		return;
	}
	if (accept_gate(b, source, peer) != 0) {
		evutil_closesocket(fd);
		return;
	}
	if ((s = calloc(1, sizeof(*s))) == NULL ||
	    (s->ssl = SSL_new(b->ssl_ctx)) == NULL ||
	    (s->timer = evtimer_new(b->base, session_timer_cb, s)) == NULL) {
		log_kv("error", "accept", "peer=%s reason=\"out of memory\"",
		    peer);
		admission_leave(b->admission, source);
		if (s != NULL) {
			if (s->timer != NULL)
				event_free(s->timer);
			SSL_free(s->ssl);
		}
		free(s);
		evutil_closesocket(fd);
		return;
	}
	util_strlcpy(s->source, source, sizeof(s->source));
	s->c.ops = &session_ops;
	s->c.b = b;
	s->refs = 1;
	s->state = S_HANDSHAKE;
	util_strlcpy(s->c.peer, peer, sizeof(s->c.peer));
	util_strlcpy(s->c.who.user, "-", sizeof(s->c.who.user));
	s->bev = bufferevent_openssl_socket_new(b->base, fd, s->ssl,
	    BUFFEREVENT_SSL_ACCEPTING, BEV_OPT_CLOSE_ON_FREE);
	if (s->bev == NULL) {
		log_kv("error", "accept", "peer=%s reason=\"cannot create "
		    "connection\"", peer);
		admission_leave(b->admission, source);
		event_free(s->timer);
		SSL_free(s->ssl);
		free(s);
		evutil_closesocket(fd);
		return;
	}
	TAILQ_INSERT_TAIL(&b->sessions, s, entry);
	b->nsessions++;
	TAILQ_INSERT_TAIL(&b->handshakes, s, hs_entry);
	b->nhandshakes++;
	s->in_handshakes = 1;
	hs.tv_sec = (time_t)b->cfg->handshake_timeout;
	hs.tv_usec = 0;
	bufferevent_set_timeouts(s->bev, &hs, &hs);
	evtimer_add(s->timer, &hs);
	bufferevent_setwatermark(s->bev, EV_READ, 0, READ_HIGH_WATER);
	bufferevent_setcb(s->bev, session_read_cb, session_write_cb,
	    session_event_cb, s);
	bufferevent_enable(s->bev, EV_READ | EV_WRITE);
}

static void
session_shutdown(struct session *s)
{
	if (s->closed)
		return;
	if (s->state == S_OPEN || s->state == S_CONNECTED)
		reqconn_send_error_full(&s->c, 0, "shutting_down", "the broker "
		    "is restarting; resume the upload in a moment", NULL, NULL,
		    s->c.up != NULL ? s->c.up->id : NULL, 5);
	upload_abort(&s->c, "broker shutting down");
	s->c.busy = 0;
	session_close_after_flush(s);
}

void
session_shutdown_all(struct broker *b)
{
	struct session *s, *next;

	/* What was counted since the last interval goes into the trail. */
	refusals_flush(b);

	for (s = TAILQ_FIRST(&b->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		session_shutdown(s);
	}
}

/* Closes an authenticated session whose certificate no longer verifies. */
static void
session_revoke(struct session *s, const char *why)
{
	struct auditrec rec;
	char q[320];
	int dropped;

	dropped = s->c.b->grants != NULL &&
	    stepup_grant_drop(s->c.b->grants, s->c.who.cert_fp);
	log_kv("warn", "session_revoked", "user=%s peer=%s serial=%s "
	    "stepup_dropped=%d reason=%s", s->c.who.user, s->c.peer,
	    s->c.who.serial, dropped, log_quote(why, q, sizeof(q)));
	auditrec_init(&rec, "session_revoked", &s->c.who, s->c.peer);
	auditrec_text(&rec, "serial", s->c.who.serial);
	auditrec_text(&rec, "reason", why);
	auditrec_bool(&rec, "stepup_dropped", dropped);
	if (s->c.up != NULL)
		auditrec_subject(&rec, s->c.up->id, s->c.up->interface);
	request_audit(s->c.b, &rec);
	reqconn_send_error_full(&s->c, 0, "certificate_refused", why, NULL,
	    NULL, NULL, 0);
	upload_abort(&s->c, why);
	s->c.busy = 0;
	session_close_after_flush(s);
}

size_t
session_recheck_certificates(struct broker *b)
{
	struct session *s, *next;
	char why[256];
	size_t n = 0;

	for (s = TAILQ_FIRST(&b->sessions); s != NULL; s = next) {
		next = TAILQ_NEXT(s, entry);
		if (s->closed || s->state == S_HANDSHAKE ||
		    s->state == S_CLOSING)
			continue;
		if (tlsserver_recheck(b->ssl_ctx, s->ssl, why,
		    sizeof(why)) == 0)
			continue;
		session_revoke(s, why);
		n++;
	}
	return n;
}
