/*
 * conn — see conn.h.
 *
 * The socket is non-blocking and every OpenSSL call that wants I/O waits in
 * poll(2) for at most the configured timeout, which gives one simple,
 * uniform bound on connect, handshake, reads and writes without alarms or
 * socket options. Only the configured CA is trusted (not the system store):
 * the broker's certificate comes from the deployment's own PKI.
 */
#include "client/conn.h"
#include "client/keyload.h"
#include "lib/util.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509v3.h>

#define CONN_RBUF (2 * WIRE_MAX_CONTROL)

struct conn {
	SSL_CTX *ctx;
	SSL *ssl;
	int fd;
	int timeout_ms;
	uint64_t next_id;
	struct wire_msg welcome_msg;
	struct conn_welcome welcome;
	int tap_fd;			/* -1: none; else items received go here */
	int tap_errno;			/* first write error on it */
	size_t rlen;
	uint8_t rbuf[CONN_RBUF];
};

static const unsigned char alpn_wire[] = "\x09" WIRE_ALPN;

/* The most specific OpenSSL error text, then clears the queue. */
static const char *
ssl_errstr(char *buf, size_t len)
{
	unsigned long e = ERR_peek_last_error();

	if (e == 0)
		snprintf(buf, len, "unknown TLS error");
	else {
		const char *r = ERR_reason_error_string(e);

		snprintf(buf, len, "%s", r != NULL ? r : "unknown TLS error");
	}
	ERR_clear_error();
	return buf;
}

/*
 * Errors that name the stage of the connection they happened in: stage
 * is a phrase marked with N_ ("during the TLS handshake"), which en gets
 * in English and text translated. The macros keep one literal for both.
 */
#define STAGE_MSG(m, fmt, stage, ...) do {				\
	snprintf((m)->en, sizeof((m)->en), fmt, stage, __VA_ARGS__);	\
	snprintf((m)->text, sizeof((m)->text), _(fmt), _(stage),	\
	    __VA_ARGS__);						\
} while (0)

/* 0 when path can be opened for reading, else -1 with errno. */
static int
check_readable(const char *path)
{
	FILE *f = fopen(path, "r");

	if (f == NULL)
		return -1;
	fclose(f);
	return 0;
}

static int
setup_ctx(struct conn *c, const struct clientcfg *cfg, struct i18n_msg *err)
{
	char e[256];
	EVP_PKEY *key;
	int rc;

	/* The English stays "SETTING PATH: reason". TRANSLATORS: ca,
	 * cert and key are the settings' names. */
	if (check_readable(cfg->ca) != 0) {
		i18n_msg_pair(err, "ca %s: %s", N_("cannot read the CA "
		    "certificate %s (%s); check ca in the configuration"),
		    cfg->ca, strerror(errno));
		return CONN_ELOCAL;
	}
	if (check_readable(cfg->cert) != 0) {
		i18n_msg_pair(err, "cert %s: %s", N_("cannot read the "
		    "certificate %s (%s); check cert in the configuration"),
		    cfg->cert, strerror(errno));
		return CONN_ELOCAL;
	}
	if (check_readable(cfg->key) != 0) {
		i18n_msg_pair(err, "key %s: %s", N_("cannot read the private "
		    "key %s (%s); check key in the configuration"), cfg->key,
		    strerror(errno));
		return CONN_ELOCAL;
	}
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL) {
		i18n_msg_set(err, N_("TLS setup: %s"), ssl_errstr(e,
		    sizeof(e)));
		return CONN_ELOCAL;
	}
	if (SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION) != 1 ||
	    SSL_CTX_set_max_proto_version(c->ctx, TLS1_3_VERSION) != 1) {
		i18n_msg_set(err, N_("TLS setup: cannot require TLS 1.3"));
		return CONN_ELOCAL;
	}
	/* Each run is one connection; nothing is gained by resumption and
	 * nothing about earlier sessions should linger. */
	SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(c->ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_PEER, NULL);
	if (SSL_CTX_load_verify_locations(c->ctx, cfg->ca, NULL) != 1) {
		i18n_msg_set(err, N_("ca %s: cannot load CA certificates: %s"),
		    cfg->ca, ssl_errstr(e, sizeof(e)));
		return CONN_ELOCAL;
	}
	if (SSL_CTX_use_certificate_chain_file(c->ctx, cfg->cert) != 1) {
		i18n_msg_set(err, N_("cert %s: cannot load certificate: %s"),
		    cfg->cert, ssl_errstr(e, sizeof(e)));
		return CONN_ELOCAL;
	}
	if (keyload_private_key(cfg->key, cfg->key_passphrase_file, &key,
	    err) != 0)
		return CONN_ELOCAL;
	rc = SSL_CTX_use_PrivateKey(c->ctx, key);
	EVP_PKEY_free(key);
	if (rc != 1) {
		i18n_msg_set(err, N_("key %s: cannot use the private key: %s"),
		    cfg->key, ssl_errstr(e, sizeof(e)));
		return CONN_ELOCAL;
	}
	if (SSL_CTX_check_private_key(c->ctx) != 1) {
		ERR_clear_error();
		i18n_msg_set(err, N_("key %s does not match certificate %s"),
		    cfg->key, cfg->cert);
		return CONN_ELOCAL;
	}
	if (SSL_CTX_set_alpn_protos(c->ctx, alpn_wire,
	    sizeof(alpn_wire) - 1) != 0) {
		i18n_msg_set(err, N_("TLS setup: cannot set ALPN"));
		return CONN_ELOCAL;
	}
	return CONN_OK;
}

/* Waits for ev on the socket; CONN_ENET on timeout or poll failure. what
 * is a stage phrase (STAGE_MSG). */
static int
wait_fd(struct conn *c, short ev, const char *what, struct i18n_msg *err)
{
	struct pollfd pfd;
	int n;

	pfd.fd = c->fd;
	pfd.events = ev;
	pfd.revents = 0;
	do
		n = poll(&pfd, 1, c->timeout_ms);
	while (n < 0 && errno == EINTR);
	if (n == 0) {
		/* TRANSLATORS: the stage ("connecting", "while
		 * sending"...) comes first; %2$d is seconds. */
		STAGE_MSG(err, N_("timed out after %2$d s %1$s"), what,
		    c->timeout_ms / 1000);
		return CONN_ENET;
	}
	if (n < 0) {
		i18n_msg_set(err, N_("poll: %s"), strerror(errno));
		return CONN_ENET;
	}
	return CONN_OK;
}

static int
connect_tcp(struct conn *c, const struct clientcfg *cfg,
    struct i18n_msg *err)
{
	struct addrinfo hints, *res = NULL, *ai;
	struct i18n_msg lasterr;
	int gai, fd, soerr, one = 1;
	socklen_t slen;

	memset(&hints, 0, sizeof(hints));
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = AI_ADDRCONFIG;
	i18n_msg_set(&lasterr, N_("no address"));
	if ((gai = getaddrinfo(cfg->host, cfg->port, &hints, &res)) != 0) {
		i18n_msg_set(err, N_("cannot resolve broker %s: %s"),
		    cfg->host, gai_strerror(gai));
		return CONN_ENET;
	}
	for (ai = res; ai != NULL; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, ai->ai_protocol);
		if (fd < 0) {
			i18n_msg_set(&lasterr, "%s", strerror(errno));
			continue;
		}
		c->fd = fd;
		if (connect(fd, ai->ai_addr, ai->ai_addrlen) != 0) {
			if (errno != EINPROGRESS) {
				i18n_msg_set(&lasterr, "%s", strerror(errno));
				goto next;
			}
			if (wait_fd(c, POLLOUT, N_("connecting"), &lasterr) !=
			    CONN_OK)
				goto next;
			slen = sizeof(soerr);
			if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr,
			    &slen) != 0)
				soerr = errno;
			if (soerr != 0) {
				i18n_msg_set(&lasterr, "%s", strerror(soerr));
				goto next;
			}
		}
		/* Control messages are small and answered one by one. */
		setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
		freeaddrinfo(res);
		return CONN_OK;
next:
		close(fd);
		c->fd = -1;
	}
	freeaddrinfo(res);
	snprintf(err->en, sizeof(err->en), "cannot connect to broker %s: "
	    "%.300s", cfg->broker, lasterr.en);
	snprintf(err->text, sizeof(err->text), _("cannot connect to broker "
	    "%s: %s"), cfg->broker, lasterr.text);
	return CONN_ENET;
}

/* TLS alerts that mean "the broker does not accept who we are". */
static int
is_cert_alert(int reason)
{
	switch (reason - SSL_AD_REASON_OFFSET) {
	case SSL_AD_BAD_CERTIFICATE:
	case SSL_AD_UNSUPPORTED_CERTIFICATE:
	case SSL_AD_CERTIFICATE_REVOKED:
	case SSL_AD_CERTIFICATE_EXPIRED:
	case SSL_AD_CERTIFICATE_UNKNOWN:
	case SSL_AD_UNKNOWN_CA:
	case SSL_AD_ACCESS_DENIED:
	case SSL_AD_CERTIFICATE_REQUIRED:
	case SSL_AD_NO_APPLICATION_PROTOCOL:
	case SSL_AD_PROTOCOL_VERSION:
	case SSL_AD_HANDSHAKE_FAILURE:
		return 1;
	}
	return 0;
}

static void
closed_msg(struct i18n_msg *err, const char *what)
{
	snprintf(err->en, sizeof(err->en), "the broker closed the connection "
	    "%s", what);
	snprintf(err->text, sizeof(err->text), _("the broker closed the "
	    "connection %s"), _(what));
}

/*
 * Classifies a failed SSL_* call. Returns 1 when the caller should wait
 * for *ev and try again, else a negative conn_fail with err filled.
 */
static int
ssl_fail(struct conn *c, int ret, const char *what, short *ev,
    struct i18n_msg *err)
{
	int e = SSL_get_error(c->ssl, ret), saved = errno;
	unsigned long le;
	char buf[256];

	switch (e) {
	case SSL_ERROR_WANT_READ:
		*ev = POLLIN;
		return 1;
	case SSL_ERROR_WANT_WRITE:
		*ev = POLLOUT;
		return 1;
	case SSL_ERROR_ZERO_RETURN:
		closed_msg(err, what);
		return CONN_ENET;
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (saved != 0)
			STAGE_MSG(err, N_("connection lost %s: %s"), what,
			    strerror(saved));
		else
			closed_msg(err, what);
		return CONN_ENET;
	case SSL_ERROR_SSL:
		le = ERR_peek_last_error();
		if (ERR_GET_LIB(le) == ERR_LIB_SSL &&
		    ERR_GET_REASON(le) == SSL_R_UNEXPECTED_EOF_WHILE_READING) {
			ERR_clear_error();
			closed_msg(err, what);
			return CONN_ENET;
		}
		if (ERR_GET_LIB(le) == ERR_LIB_SSL &&
		    is_cert_alert(ERR_GET_REASON(le))) {
			STAGE_MSG(err, N_("the broker refused the TLS "
			    "connection %s (%s); check that your certificate "
			    "is valid, not revoked and issued by the "
			    "deployment's CA"), what, ssl_errstr(buf,
			    sizeof(buf)));
			return CONN_ETLS;
		}
		STAGE_MSG(err, N_("TLS error %s: %s"), what, ssl_errstr(buf,
		    sizeof(buf)));
		return CONN_ETLS;
	default:
		ERR_clear_error();
		STAGE_MSG(err, N_("TLS error %s (code %d)"), what, e);
		return CONN_ETLS;
	}
}

static int
is_ip_literal(const char *name)
{
	unsigned char buf[sizeof(struct in6_addr)];

	return inet_pton(AF_INET, name, buf) == 1 ||
	    inet_pton(AF_INET6, name, buf) == 1;
}

static int
handshake(struct conn *c, const struct clientcfg *cfg, struct i18n_msg *err)
{
	const unsigned char *alpn = NULL;
	unsigned int alpnlen = 0;
	long vr;
	short ev;
	int ret, rc;

	if ((c->ssl = SSL_new(c->ctx)) == NULL ||
	    SSL_set_fd(c->ssl, c->fd) != 1) {
		i18n_msg_set(err, N_("TLS setup failed"));
		return CONN_ELOCAL;
	}
	if (is_ip_literal(cfg->server_name)) {
		/* SNI must not carry an address; check the IP SAN instead. */
		if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(c->ssl),
		    cfg->server_name) != 1) {
			i18n_msg_set(err, N_("server_name %s: bad address"),
			    cfg->server_name);
			return CONN_ELOCAL;
		}
	} else {
		SSL_set_hostflags(c->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
		if (SSL_set_tlsext_host_name(c->ssl, cfg->server_name) != 1 ||
		    SSL_set1_host(c->ssl, cfg->server_name) != 1) {
			i18n_msg_set(err, N_("server_name %s: not usable"),
			    cfg->server_name);
			return CONN_ELOCAL;
		}
	}
	for (;;) {
		ERR_clear_error();
		errno = 0;
		if ((ret = SSL_connect(c->ssl)) == 1)
			break;
		vr = SSL_get_verify_result(c->ssl);
		if (vr != X509_V_OK) {
			ERR_clear_error();
			i18n_msg_set(err, N_("broker certificate rejected: %s "
			    "(expected name %s, CA %s)"),
			    X509_verify_cert_error_string(vr), cfg->server_name,
			    cfg->ca);
			return CONN_ETLS;
		}
		rc = ssl_fail(c, ret, N_("during the TLS handshake"), &ev,
		    err);
		if (rc != 1)
			return rc;
		if ((rc = wait_fd(c, ev, N_("during the TLS handshake"),
		    err)) != CONN_OK)
			return rc;
	}
	SSL_get0_alpn_selected(c->ssl, &alpn, &alpnlen);
	if (alpnlen != sizeof(WIRE_ALPN) - 1 ||
	    memcmp(alpn, WIRE_ALPN, alpnlen) != 0) {
		i18n_msg_set(err, N_("the server at %s did not select "
		    "protocol %s; is it a sekisho broker?"), cfg->broker,
		    WIRE_ALPN);
		return CONN_ETLS;
	}
	return CONN_OK;
}

/* One SSL_read into rbuf. Returns >0 bytes read, 0 when nothing is
 * available and !block, or a negative conn_fail. */
static int
read_some(struct conn *c, int block, struct i18n_msg *err)
{
	short ev;
	int ret, rc;

	if (c->rlen >= sizeof(c->rbuf)) {
		i18n_msg_set(err, N_("broker message too large"));
		return CONN_EPROTO;
	}
	for (;;) {
		ERR_clear_error();
		errno = 0;
		ret = SSL_read(c->ssl, c->rbuf + c->rlen,
		    (int)(sizeof(c->rbuf) - c->rlen));
		if (ret > 0) {
			c->rlen += (size_t)ret;
			return ret;
		}
		rc = ssl_fail(c, ret, N_("while reading"), &ev, err);
		if (rc != 1)
			return rc;
		if (!block)
			return 0;
		if ((rc = wait_fd(c, ev, N_("waiting for the broker"),
		    err)) != CONN_OK)
			return rc;
	}
}

/* Copies bytes received to the tap, if any (the first error is kept). */
static void
tap(struct conn *c, const uint8_t *p, size_t len)
{
	while (c->tap_fd != -1 && c->tap_errno == 0 && len > 0) {
		ssize_t n = write(c->tap_fd, p, len);

		if (n <= 0) {
			c->tap_errno = n < 0 ? errno : EIO;
			break;
		}
		p += n;
		len -= (size_t)n;
	}
}

void
conn_tap(struct conn *c, int fd)
{
	c->tap_fd = fd;
	c->tap_errno = 0;
}

int
conn_tap_error(const struct conn *c)
{
	return c->tap_errno;
}

/* Decodes a buffered message: 1 got one, 0 need more, <0 failure. */
static int
take_msg(struct conn *c, struct wire_msg *msg, struct i18n_msg *err)
{
	struct wire_error werr;
	uint64_t dlen = 0;
	size_t consumed = 0;

	if (c->rlen == 0)
		return 0;
	memset(&werr, 0, sizeof(werr));
	switch (wire_decode(c->rbuf, c->rlen, msg, &dlen, &consumed, &werr)) {
	case WIRE_NEED_MORE:
		return 0;
	case WIRE_CONTROL:
		if (consumed > c->rlen)
			consumed = c->rlen;
		tap(c, c->rbuf, consumed);
		memmove(c->rbuf, c->rbuf + consumed, c->rlen - consumed);
		c->rlen -= consumed;
		return 1;
	case WIRE_DATA:
		i18n_msg_set(err, N_("protocol error: the broker sent file "
		    "data"));
		return CONN_EPROTO;
	case WIRE_ERROR:
	default:
		i18n_msg_set(err, N_("protocol error: undecodable message "
		    "from the broker (%s: %s)"), werr.code, werr.message);
		return CONN_EPROTO;
	}
}

int
conn_recv_msg(struct conn *c, struct wire_msg *msg, struct i18n_msg *err)
{
	int rc;

	for (;;) {
		if ((rc = take_msg(c, msg, err)) != 0)
			return rc > 0 ? CONN_OK : rc;
		if ((rc = read_some(c, 1, err)) < 0)
			return rc;
	}
}

static int
recv_item(struct conn *c, uint8_t *buf, size_t cap, size_t *len,
    struct wire_msg *out, struct i18n_msg *err)
{
	struct wire_error werr;
	struct wire_msg msg;
	uint64_t dlen = 0, got = 0;
	size_t consumed = 0;
	enum wire_item item;
	int rc;

	*len = 0;
	for (;;) {
		if (c->rlen > 0) {
			memset(&werr, 0, sizeof(werr));
			item = wire_decode(c->rbuf, c->rlen, &msg, &dlen,
			    &consumed, &werr);
			if (item == WIRE_DATA)
				break;
			if (item == WIRE_CONTROL && out != NULL) {
				memmove(c->rbuf, c->rbuf + consumed,
				    c->rlen - consumed);
				c->rlen -= consumed;
				*out = msg;
				return CONN_OK;
			}
			if (item == WIRE_CONTROL) {
				const char *op = wire_op_name(msg.op);

				if (op != NULL)
					i18n_msg_set(err, N_("protocol error: "
					    "expected data from the broker, got "
					    "%s"), op);
				else
					i18n_msg_set(err, N_("protocol error: "
					    "expected data from the broker, got "
					    "a message"));
				wire_msg_clear(&msg);
				return CONN_EPROTO;
			}
			if (item == WIRE_ERROR) {
				i18n_msg_set(err, N_("protocol error: "
				    "undecodable item from the broker (%s: %s)"),
				    werr.code, werr.message);
				return CONN_EPROTO;
			}
		}
		if ((rc = read_some(c, 1, err)) < 0)
			return rc;
	}
	if (dlen > cap) {
		i18n_msg_set(err, N_("protocol error: a data item of %llu "
		    "bytes, at most %zu expected"), (unsigned long long)dlen,
		    cap);
		return CONN_EPROTO;
	}
	tap(c, c->rbuf, consumed);
	memmove(c->rbuf, c->rbuf + consumed, c->rlen - consumed);
	c->rlen -= consumed;
	while (got < dlen) {
		size_t take;

		if (c->rlen == 0 && (rc = read_some(c, 1, err)) < 0)
			return rc;
		take = c->rlen < dlen - got ? c->rlen : (size_t)(dlen - got);
		memcpy(buf + got, c->rbuf, take);
		tap(c, c->rbuf, take);
		memmove(c->rbuf, c->rbuf + take, c->rlen - take);
		c->rlen -= take;
		got += take;
	}
	*len = (size_t)dlen;
	return CONN_OK;
}

int
conn_recv_data(struct conn *c, uint8_t *buf, size_t cap, size_t *len,
    struct i18n_msg *err)
{
	return recv_item(c, buf, cap, len, NULL, err);
}

int
conn_recv_item(struct conn *c, uint8_t *buf, size_t cap, size_t *len,
    struct wire_msg *msg, struct i18n_msg *err)
{
	memset(msg, 0, sizeof(*msg));
	return recv_item(c, buf, cap, len, msg, err);
}

int
conn_poll_msg(struct conn *c, struct wire_msg *msg, struct i18n_msg *err)
{
	int rc;

	for (;;) {
		if ((rc = take_msg(c, msg, err)) != 0)
			return rc;
		if ((rc = read_some(c, 0, err)) <= 0)
			return rc;
	}
}

static int
write_all(struct conn *c, const uint8_t *buf, size_t len,
    struct i18n_msg *err)
{
	size_t off = 0;
	short ev;
	int ret, rc;

	while (off < len) {
		size_t n = len - off;

		if (n > INT32_MAX)
			n = INT32_MAX;
		ERR_clear_error();
		errno = 0;
		ret = SSL_write(c->ssl, buf + off, (int)n);
		if (ret > 0) {
			off += (size_t)ret;
			continue;
		}
		rc = ssl_fail(c, ret, N_("while sending"), &ev, err);
		if (rc != 1)
			return rc;
		if ((rc = wait_fd(c, ev, N_("sending to the broker"), err)) !=
		    CONN_OK)
			return rc;
	}
	return CONN_OK;
}

int
conn_send_msg(struct conn *c, const struct wire_msg *msg,
    struct i18n_msg *err)
{
	struct wire_error werr;
	uint8_t *buf = NULL;
	size_t len = 0;
	int rc;

	memset(&werr, 0, sizeof(werr));
	if (wire_encode(msg, &buf, &len, &werr) != 0) {
		i18n_msg_set(err, N_("cannot encode %s: %s"),
		    wire_op_name(msg->op) != NULL ? wire_op_name(msg->op) : "?",
		    werr.message);
		return CONN_ELOCAL;
	}
	rc = write_all(c, buf, len, err);
	free(buf);
	return rc;
}

int
conn_send_data(struct conn *c, const uint8_t *buf, size_t len,
    struct i18n_msg *err)
{
	uint8_t head[9];
	size_t hlen;
	int rc;

	if ((hlen = wire_encode_data_head(len, head)) == 0) {
		i18n_msg_set(err, N_("data chunk of %zu bytes is too large"),
		    len);
		return CONN_ELOCAL;
	}
	if ((rc = write_all(c, head, hlen, err)) != CONN_OK)
		return rc;
	return write_all(c, buf, len, err);
}

static int
read_welcome(struct conn *c, struct wire_msg *refusal, struct i18n_msg *err)
{
	struct wire_msg *m = &c->welcome_msg;
	struct conn_welcome *w = &c->welcome;
	int rc;

	if ((rc = conn_recv_msg(c, m, err)) != CONN_OK)
		return rc;
	if (m->op == WIRE_OP_ERROR) {
		const char *code = wire_msg_text(m, "code");
		const char *text = wire_msg_text(m, "message");

		i18n_msg_set(err, N_("the broker refused the session (%s): "
		    "%s"), code != NULL ? code : "?", text != NULL ? text : "");
		if (refusal != NULL) {
			*refusal = *m;
			memset(m, 0, sizeof(*m));
		} else
			wire_msg_clear(m);
		return CONN_EPROTO;
	}
	if (m->op != WIRE_OP_WELCOME) {
		i18n_msg_set(err, N_("protocol error: expected welcome, got "
		    "%s"), wire_op_name(m->op) != NULL ? wire_op_name(m->op) :
		    "?");
		return CONN_EPROTO;
	}
	memset(w, 0, sizeof(*w));
	w->version = WIRE_VERSION;
	(void)wire_msg_uint(m, "version", &w->version);
	w->user = wire_msg_text(m, "user");
	w->dept = wire_msg_text(m, "dept");
	w->terminal = wire_msg_text(m, "terminal");
	if (w->user == NULL || w->dept == NULL ||
	    wire_msg_uint(m, "max_chunk", &w->max_chunk) != 0 ||
	    wire_msg_uint(m, "max_size", &w->max_size) != 0 ||
	    w->max_chunk == 0) {
		i18n_msg_set(err, N_("protocol error: incomplete welcome"));
		return CONN_EPROTO;
	}
	if (w->version != WIRE_VERSION) {
		i18n_msg_set(err, N_("the broker speaks protocol version %llu, "
		    "this client %d"), (unsigned long long)w->version,
		    WIRE_VERSION);
		return CONN_EPROTO;
	}
	if (w->max_chunk > WIRE_MAX_CHUNK)
		w->max_chunk = WIRE_MAX_CHUNK;
	return CONN_OK;
}

int
conn_open(const struct clientcfg *cfg, const char *software,
    struct conn **out, struct wire_msg *refusal, struct i18n_msg *err)
{
	struct wire_msg hello;
	struct conn *c;
	int rc;

	*out = NULL;
	if (refusal != NULL)
		memset(refusal, 0, sizeof(*refusal));
	if ((c = calloc(1, sizeof(*c))) == NULL) {
		i18n_msg_set(err, N_("out of memory"));
		return CONN_ELOCAL;
	}
	c->fd = -1;
	c->tap_fd = -1;
	c->timeout_ms = (int)(cfg->timeout != 0 ? cfg->timeout :
	    CLIENTCFG_DEFAULT_TIMEOUT) * 1000;
	c->next_id = 1;
	if ((rc = setup_ctx(c, cfg, err)) != CONN_OK ||
	    (rc = connect_tcp(c, cfg, err)) != CONN_OK ||
	    (rc = handshake(c, cfg, err)) != CONN_OK)
		goto fail;
	wire_msg_init(&hello, WIRE_OP_HELLO, 0);
	if (wire_msg_set_uint(&hello, "version", WIRE_VERSION) != 0 ||
	    wire_msg_set_text(&hello, "software", software) != 0) {
		wire_msg_clear(&hello);
		i18n_msg_set(err, N_("cannot build hello"));
		rc = CONN_ELOCAL;
		goto fail;
	}
	rc = conn_send_msg(c, &hello, err);
	wire_msg_clear(&hello);
	if (rc != CONN_OK)
		goto fail;
	if ((rc = read_welcome(c, refusal, err)) != CONN_OK)
		goto fail;
	*out = c;
	return CONN_OK;
fail:
	conn_close(c);
	return rc;
}

const struct conn_welcome *
conn_welcome(const struct conn *c)
{
	return &c->welcome;
}

uint64_t
conn_next_id(struct conn *c)
{
	return c->next_id++;
}

void
conn_close(struct conn *c)
{
	if (c == NULL)
		return;
	if (c->ssl != NULL) {
		/* Best effort: a broken connection must not hang here. */
		if (SSL_is_init_finished(c->ssl))
			(void)SSL_shutdown(c->ssl);
		SSL_free(c->ssl);
	}
	ERR_clear_error();
	if (c->fd >= 0)
		close(c->fd);
	SSL_CTX_free(c->ctx);
	wire_msg_clear(&c->welcome_msg);
	free(c);
}
