/*
 * put — see put.h.
 *
 * One upload is a series of attempts. Each attempt opens a connection,
 * sends put (with "resume" once a transfer id is known), and streams the
 * file from the offset the broker's "ready" names; the local hash is
 * recomputed from the file each time, so what the broker already has and
 * what we send next are hashed the same way. An attempt ends in success, a
 * final failure, or a transient failure that the loop in put_run retries
 * after a pause.
 */
#include "client/i18n.h"
#include "client/put.h"
#include "client/conn.h"
#include "client/otp.h"
#include "client/output.h"
#include "client/progress.h"
#include "client/resume.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <limits.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>

#define PUT_BUF WIRE_MAX_CHUNK

enum attempt_result { ATTEMPT_DONE, ATTEMPT_FAIL, ATTEMPT_RETRY };

struct upload {
	const struct clientcfg *cfg;
	const struct put_opts *o;
	struct failure *f;
	int fd;
	struct stat st0;
	uint64_t size;
	const char *name;
	char *realpath;
	int have_state;			/* key is valid and state_dir set */
	char key[RESUME_KEY_LEN + 1];
	char transfer[UTIL_ID_LEN + 1];	/* "" until the broker gave one */
	int fresh_used;			/* restarted after a stale resume */
	/* The broker answered a resume with "stored": it holds this
	 * transfer already (its first "stored" never reached us). */
	int was_stored;
	uint64_t stored_size;
	uint8_t stored_sha[UTIL_SHA256_LEN];
	char stored_state[16];
	char otp[OTP_MAX + 1];		/* code for the next put, "" when none */
	unsigned otp_tries;		/* codes obtained in this run */
	uint8_t *buf;
	struct progress bar;
};

/* Broker codes that ask us to come back later rather than give up. */
static int
is_transient_code(const char *code)
{
	return code != NULL && (strcmp(code, "busy") == 0 ||
	    strcmp(code, "unavailable") == 0 ||
	    strcmp(code, "shutting_down") == 0 ||
	    strcmp(code, "session_expired") == 0);
}

/* Answers to a resume that mean "that transfer cannot continue". */
static int
is_stale_resume_code(const char *code)
{
	return code != NULL && (strcmp(code, "not_found") == 0 ||
	    strcmp(code, "expired") == 0 ||
	    strcmp(code, "not_resumable") == 0 ||
	    strcmp(code, "mismatch") == 0);
}

const char *
put_default_name(const char *path, char *out, size_t outlen)
{
	size_t len = strlen(path);
	const char *start;

	while (len > 1 && path[len - 1] == '/')
		len--;
	start = path + len;
	while (start > path && start[-1] != '/')
		start--;
	snprintf(out, outlen, "%.*s", (int)(len - (size_t)(start - path)),
	    start);
	return out;
}

static void
notice(struct upload *u, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
notice(struct upload *u, const char *fmt, ...)
{
	va_list ap;

	if (u->o->notices == NULL)
		return;
	progress_clear(&u->bar);
	fputs("sekisho: ", u->o->notices);
	va_start(ap, fmt);
	vfprintf(u->o->notices, _(fmt), ap);
	va_end(ap);
	fputc('\n', u->o->notices);
	fflush(u->o->notices);
}

static void
drop_state(struct upload *u)
{
	char err[256];

	if (u->have_state && resume_drop(u->o->state_dir, u->key, err,
	    sizeof(err)) != 0)
		notice(u, N_("warning: %s"), err);
}

static void
save_state(struct upload *u)
{
	char err[256];

	if (u->have_state && resume_save(u->o->state_dir, u->key, u->transfer,
	    err, sizeof(err)) != 0)
		notice(u, N_("warning: cannot save resume state (%s); a later "
		    "run will start this upload again"), err);
}

/* pread exactly len bytes at off; -1 with errno, or 0 with *short_read
 * set when the file ended early (it shrank under us). */
static int
read_at(int fd, uint8_t *buf, size_t len, uint64_t off, int *short_read)
{
	size_t got = 0;
	ssize_t n;

	*short_read = 0;
	while (got < len) {
		n = pread(fd, buf + got, len - got, (off_t)(off + got));
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0)
			return -1;
		if (n == 0) {
			*short_read = 1;
			return 0;
		}
		got += (size_t)n;
	}
	return 0;
}

static int
file_changed(const struct upload *u)
{
	struct stat st;

	if (fstat(u->fd, &st) != 0)
		return 1;
	return st.st_size != u->st0.st_size ||
	    st.st_mtim.tv_sec != u->st0.st_mtim.tv_sec ||
	    st.st_mtim.tv_nsec != u->st0.st_mtim.tv_nsec ||
	    st.st_ino != u->st0.st_ino;
}

static enum attempt_result
fail_changed(struct upload *u)
{
	char name[256];

	drop_state(u);
	failure_set(u->f, SEKISHO_EXIT_LOCAL, "file_changed", N_("%s changed "
	    "during the upload (size or modification time); nothing was "
	    "stored, send it again when it is final"),
	    output_sanitize(u->o->file, name, sizeof(name)));
	return ATTEMPT_FAIL;
}

static enum attempt_result
fail_read(struct upload *u)
{
	char name[256];

	failure_set(u->f, SEKISHO_EXIT_LOCAL, "file", N_("cannot read %s: %s"),
	    output_sanitize(u->o->file, name, sizeof(name)), strerror(errno));
	return ATTEMPT_FAIL;
}

/* A broker "error" message at any point of the attempt. */
static enum attempt_result
broker_error(struct upload *u, const struct wire_msg *m, unsigned *wait)
{
	const char *code = wire_msg_text(m, "code");
	uint64_t after = 0;

	failure_from_broker(u->f, m);
	/* A retry hint means the broker expects us back (busy, restarting,
	 * out of space for now). */
	if (wire_msg_uint(m, "retry_after", &after) == 0 ||
	    is_transient_code(code)) {
		if (after > PUT_RETRY_AFTER_CAP)
			after = PUT_RETRY_AFTER_CAP;
		*wait = (unsigned)after;
		return ATTEMPT_RETRY;
	}
	/* Any definitive refusal makes the saved transfer id useless, except
	 * those about the broker or the connection rather than the transfer
	 * (its audit trail down, a certificate refused): the transfer may be
	 * stored there, and forgetting its id would send it a second time. */
	if (code == NULL || (strcmp(code, "internal") != 0 &&
	    strcmp(code, "audit_unavailable") != 0 &&
	    strcmp(code, "certificate_refused") != 0))
		drop_state(u);
	return ATTEMPT_FAIL;
}

/*
 * A conn_* failure. ENET is transient (after a last look for an error
 * message the broker may have sent before closing); the rest are final.
 */
static enum attempt_result
conn_failure(struct upload *u, struct conn *c, int rc,
    const struct i18n_msg *err, unsigned *wait)
{
	struct wire_msg m;
	struct i18n_msg perr;

	if (rc == CONN_ENET && c != NULL) {
		memset(&m, 0, sizeof(m));
		if (conn_poll_msg(c, &m, &perr) == 1 &&
		    m.op == WIRE_OP_ERROR) {
			enum attempt_result r = broker_error(u, &m, wait);

			wire_msg_clear(&m);
			return r;
		}
		wire_msg_clear(&m);
	}
	failure_from_conn(u->f, rc, err);
	return rc == CONN_ENET ? ATTEMPT_RETRY : ATTEMPT_FAIL;
}

/* what: a phrase marked with N_ ("expected ready"); m: the message that
 * came instead, if any. */
static enum attempt_result
protocol_error(struct upload *u, const char *what, const struct wire_msg *m)
{
	const char *op = m != NULL ? wire_op_name(m->op) : NULL;
	struct i18n_msg pm;

	if (op != NULL) {
		snprintf(pm.en, sizeof(pm.en), "protocol error: %s, got %s",
		    what, op);
		/* TRANSLATORS: what was wrong, then the message's op name. */
		snprintf(pm.text, sizeof(pm.text), _("protocol error: %s, got "
		    "%s"), _(what), op);
	} else {
		snprintf(pm.en, sizeof(pm.en), "protocol error: %s", what);
		snprintf(pm.text, sizeof(pm.text), _("protocol error: %s"),
		    _(what));
	}
	failure_set_msg(u->f, SEKISHO_EXIT_BROKER, "protocol", &pm);
	return ATTEMPT_FAIL;
}

/* Fills a put message; -1 names the offending option in f. */
static int
build_put(struct upload *u, struct wire_msg *m, uint64_t id)
{
	const struct put_opts *o = u->o;

	wire_msg_init(m, WIRE_OP_PUT, id);
	if (wire_msg_set_text(m, "interface", o->interface) != 0) {
		failure_set(u->f, SEKISHO_EXIT_USAGE, "usage", N_("--to: not a "
		    "valid interface id"));
		goto fail;
	}
	if (wire_msg_set_text(m, "name", u->name) != 0) {
		failure_set(u->f, SEKISHO_EXIT_USAGE, "usage", N_("--name: "
		    "must be 1 to %d bytes of valid UTF-8"), WIRE_MAX_NAME);
		goto fail;
	}
	if (wire_msg_set_uint(m, "size", u->size) != 0) {
		failure_set(u->f, SEKISHO_EXIT_LOCAL, "file", N_("file too "
		    "large for the protocol"));
		goto fail;
	}
	/* 0: no --class; the broker applies the interface's default or
	 * refuses with class_required. */
	if (o->class != 0 && wire_msg_set_uint(m, "class", o->class) != 0) {
		failure_set(u->f, SEKISHO_EXIT_USAGE, "usage", N_("--class: "
		    "out of range"));
		goto fail;
	}
	if (wire_msg_set_text(m, "purpose", o->purpose != NULL ?
	    o->purpose : "") != 0) {
		failure_set(u->f, SEKISHO_EXIT_USAGE, "usage", N_("--purpose: "
		    "must be at most %d bytes of valid UTF-8"),
		    WIRE_MAX_PURPOSE);
		goto fail;
	}
	if (u->transfer[0] != '\0' &&
	    wire_msg_set_text(m, "resume", u->transfer) != 0) {
		failure_set(u->f, SEKISHO_EXIT_LOCAL, "internal", N_("cannot "
		    "build the resume request"));
		goto fail;
	}
	if (u->otp[0] != '\0' && wire_msg_set_text(m, "otp", u->otp) != 0) {
		failure_set(u->f, SEKISHO_EXIT_LOCAL, "internal", N_("cannot "
		    "build the request with the one-time code"));
		goto fail;
	}
	return 0;
fail:
	wire_msg_clear(m);
	return -1;
}

/* The broker's sha256 field as 32 raw bytes, whichever way it is sent. */
static int
msg_sha256(const struct wire_msg *m, uint8_t out[UTIL_SHA256_LEN])
{
	const struct wire_value *v = wire_msg_get(m, "sha256");

	if (v == NULL)
		return -1;
	if (v->type == WIRE_T_BYTES && v->len == UTIL_SHA256_LEN) {
		memcpy(out, v->bytes, UTIL_SHA256_LEN);
		return 0;
	}
	if (v->type == WIRE_T_TEXT)
		return util_unhex(v->text, out, UTIL_SHA256_LEN);
	return -1;
}

/* Hashes [0, offset) of the file into md. */
static enum attempt_result
hash_prefix(struct upload *u, EVP_MD_CTX *md, uint64_t offset)
{
	uint64_t pos = 0;
	int shortread;

	while (pos < offset) {
		size_t n = offset - pos > PUT_BUF ? PUT_BUF :
		    (size_t)(offset - pos);

		if (read_at(u->fd, u->buf, n, pos, &shortread) != 0)
			return fail_read(u);
		if (shortread)
			return fail_changed(u);
		if (EVP_DigestUpdate(md, u->buf, n) != 1) {
			failure_set(u->f, SEKISHO_EXIT_LOCAL, "internal",
			    N_("SHA-256 failed"));
			return ATTEMPT_FAIL;
		}
		pos += n;
	}
	return ATTEMPT_DONE;
}

/*
 * The broker wants a one-time code (step_up_required), or did not accept
 * the last one (step_up_failed). Gets the next code into u->otp, or ends
 * the attempt: a code from --otp is used once, the terminal is asked
 * PUT_OTP_TRIES times at most.
 */
static enum attempt_result
next_code(struct upload *u, const struct wire_msg *m, int failed)
{
	char prompt[160], iface[80], msg[WIRE_MAX_MESSAGE + 1];
	struct i18n_msg err;
	int rc;

	OPENSSL_cleanse(u->otp, sizeof(u->otp));
	if ((u->o->otp != NULL && u->otp_tries > 0) ||
	    u->otp_tries >= PUT_OTP_TRIES) {
		failure_from_broker(u->f, m);
		return ATTEMPT_FAIL;
	}
	if (failed)
		notice(u, "%s", output_sanitize(wire_msg_text(m, "message"),
		    msg, sizeof(msg)));
	snprintf(prompt, sizeof(prompt), _("One-time code (TOTP) for %s: "),
	    output_sanitize(u->o->interface, iface, sizeof(iface)));
	progress_clear(&u->bar);
	rc = otp_read(u->o->otp, prompt, u->otp, &err);
	u->otp_tries++;
	if (rc != 0) {
		failure_set_msg(u->f, SEKISHO_EXIT_POLICY, "step_up_required",
		    &err);
		return ATTEMPT_FAIL;
	}
	return ATTEMPT_DONE;
}

/* A resume answered with "stored": remember what the broker holds; the
 * caller compares it with the file. */
static enum attempt_result
already_stored(struct upload *u, const struct wire_msg *m)
{
	const char *transfer = wire_msg_text(m, "transfer");
	const char *st = wire_msg_text(m, "state");

	if (transfer == NULL || strcmp(transfer, u->transfer) != 0 ||
	    wire_msg_uint(m, "size", &u->stored_size) != 0 ||
	    msg_sha256(m, u->stored_sha) != 0)
		return protocol_error(u, N_("malformed stored"), NULL);
	util_strlcpy(u->stored_state, st != NULL && util_is_token(st,
	    sizeof(u->stored_state) - 1) ? st : "stored",
	    sizeof(u->stored_state));
	u->was_stored = 1;
	return ATTEMPT_DONE;
}

/*
 * The broker already holds the transfer: success when it holds this file
 * (size and SHA-256 of the whole local file), never a second upload.
 */
static enum attempt_result
report_stored(struct upload *u, EVP_MD_CTX *md, struct put_result *res)
{
	uint8_t digest[UTIL_SHA256_LEN];
	char hex[UTIL_SHA256_HEX + 1], shex[UTIL_SHA256_HEX + 1];
	char sid[UTIL_ID_LEN + 1], sst[sizeof(u->stored_state)];
	unsigned int dlen = 0;
	enum attempt_result r;

	if ((r = hash_prefix(u, md, u->size)) != ATTEMPT_DONE)
		return r;
	if (file_changed(u))
		return fail_changed(u);
	if (EVP_DigestFinal_ex(md, digest, &dlen) != 1 ||
	    dlen != sizeof(digest)) {
		failure_set(u->f, SEKISHO_EXIT_LOCAL, "internal", N_("SHA-256 "
		    "failed"));
		return ATTEMPT_FAIL;
	}
	util_hex(digest, sizeof(digest), hex);
	util_hex(u->stored_sha, sizeof(u->stored_sha), shex);
	output_sanitize(u->transfer, sid, sizeof(sid));
	drop_state(u);
	if (u->stored_size != u->size ||
	    memcmp(u->stored_sha, digest, sizeof(digest)) != 0) {
		failure_set(u->f, SEKISHO_EXIT_BROKER, "hash_mismatch",
		    N_("the broker already stored transfer %s as %" PRIu64
		    " bytes with sha256 %s, but this file is %" PRIu64
		    " bytes with sha256 %s; it was not sent again. Check the "
		    "file, then send it with --no-resume if it is meant as a "
		    "new upload"), sid, u->stored_size, shex, u->size, hex);
		return ATTEMPT_FAIL;
	}
	notice(u, N_("transfer %s was already stored by the broker (state %s); "
	    "it was not sent again"), sid, output_sanitize(u->stored_state,
	    sst, sizeof(sst)));
	memcpy(res->transfer, u->transfer, sizeof(res->transfer));
	res->size = u->size;
	memcpy(res->sha256, hex, sizeof(res->sha256));
	util_strlcpy(res->state, u->stored_state, sizeof(res->state));
	res->resumed = 1;
	return ATTEMPT_DONE;
}

/* Sends put (once more without resume if the broker forgot the id) and
 * reads ready, or "stored" when a resumed transfer was already complete
 * (u->was_stored); *offset gets the broker's durable offset. */
static enum attempt_result
request(struct upload *u, struct conn *c, uint64_t *offset, unsigned *wait)
{
	struct wire_msg m;
	const char *transfer, *code;
	char sid[UTIL_ID_LEN + 1], scode[WIRE_MAX_CODE + 4];
	struct i18n_msg err;
	int rc, sent_resume;
	enum attempt_result r;

	for (;;) {
		if (build_put(u, &m, conn_next_id(c)) != 0)
			return ATTEMPT_FAIL;
		sent_resume = u->transfer[0] != '\0';
		rc = conn_send_msg(c, &m, &err);
		wire_msg_clear(&m);
		if (rc != CONN_OK)
			return conn_failure(u, c, rc, &err, wait);
		if ((rc = conn_recv_msg(c, &m, &err)) != CONN_OK)
			return conn_failure(u, c, rc, &err, wait);
		if (m.op == WIRE_OP_ERROR) {
			code = wire_msg_text(&m, "code");
			if (code != NULL && (strcmp(code, "step_up_failed") == 0 ||
			    (strcmp(code, "step_up_required") == 0 &&
			    u->otp[0] == '\0'))) {
				r = next_code(u, &m,
				    strcmp(code, "step_up_failed") == 0);
				wire_msg_clear(&m);
				if (r != ATTEMPT_DONE)
					return r;
				continue;
			}
			OPENSSL_cleanse(u->otp, sizeof(u->otp));
			if (code != NULL && (strcmp(code, "locked") == 0 ||
			    strcmp(code, "step_up_required") == 0)) {
				/* Not a reason to retry, nor to forget an
				 * upload that can resume later. */
				failure_from_broker(u->f, &m);
				wire_msg_clear(&m);
				return ATTEMPT_FAIL;
			}
			if (sent_resume && !u->fresh_used &&
			    is_stale_resume_code(code)) {
				output_sanitize(u->transfer, sid, sizeof(sid));
				notice(u, N_("the broker no longer has "
				    "transfer %s (%s); starting the upload "
				    "again"), sid,
				    output_sanitize(code, scode, sizeof(scode)));
				drop_state(u);
				u->transfer[0] = '\0';
				u->fresh_used = 1;
				wire_msg_clear(&m);
				continue;
			}
			r = broker_error(u, &m, wait);
			wire_msg_clear(&m);
			return r;
		}
		if (m.op == WIRE_OP_STORED && sent_resume) {
			r = already_stored(u, &m);
			wire_msg_clear(&m);
			OPENSSL_cleanse(u->otp, sizeof(u->otp));
			return r;
		}
		if (m.op != WIRE_OP_READY) {
			r = protocol_error(u, N_("expected ready"), &m);
			wire_msg_clear(&m);
			return r;
		}
		transfer = wire_msg_text(&m, "transfer");
		if (transfer == NULL || !util_is_id(transfer) ||
		    wire_msg_uint(&m, "offset", offset) != 0 ||
		    *offset > u->size) {
			wire_msg_clear(&m);
			return protocol_error(u, N_("malformed ready"), NULL);
		}
		memcpy(u->transfer, transfer, UTIL_ID_LEN + 1);
		wire_msg_clear(&m);
		OPENSSL_cleanse(u->otp, sizeof(u->otp));
		save_state(u);
		return ATTEMPT_DONE;
	}
}

/* Streams [offset, size) as data items, watching for an early refusal. */
static enum attempt_result
stream(struct upload *u, struct conn *c, EVP_MD_CTX *md, uint64_t offset,
    unsigned *wait)
{
	uint64_t chunk = conn_welcome(c)->max_chunk, pos = offset;
	struct wire_msg m;
	struct i18n_msg err;
	int rc, shortread;
	enum attempt_result r;

	if (chunk > PUT_BUF)
		chunk = PUT_BUF;
	progress_start(&u->bar, u->o->notices, u->o->progress, u->size,
	    offset, progress_now());
	while (pos < u->size) {
		size_t n = u->size - pos > chunk ? (size_t)chunk :
		    (size_t)(u->size - pos);

		if (read_at(u->fd, u->buf, n, pos, &shortread) != 0)
			return fail_read(u);
		if (shortread)
			return fail_changed(u);
		if (EVP_DigestUpdate(md, u->buf, n) != 1) {
			failure_set(u->f, SEKISHO_EXIT_LOCAL, "internal",
			    N_("SHA-256 failed"));
			return ATTEMPT_FAIL;
		}
		if ((rc = conn_send_data(c, u->buf, n, &err)) !=
		    CONN_OK)
			return conn_failure(u, c, rc, &err, wait);
		pos += n;
		memset(&m, 0, sizeof(m));
		rc = conn_poll_msg(c, &m, &err);
		if (rc < 0)
			return conn_failure(u, c, rc, &err, wait);
		if (rc == 1) {
			if (m.op == WIRE_OP_ERROR)
				r = broker_error(u, &m, wait);
			else
				r = protocol_error(u, N_("unexpected message "
				    "during the upload"), &m);
			wire_msg_clear(&m);
			return r;
		}
		progress_update(&u->bar, pos, progress_now(), 0);
	}
	progress_update(&u->bar, pos, progress_now(), 1);
	return ATTEMPT_DONE;
}

/* Sends end and checks stored against what we sent. */
static enum attempt_result
finish(struct upload *u, struct conn *c, const uint8_t digest[32],
    struct put_result *res, unsigned *wait)
{
	struct wire_msg m;
	char hex[UTIL_SHA256_HEX + 1], shex[UTIL_SHA256_HEX + 1];
	struct i18n_msg err;
	uint8_t sdigest[UTIL_SHA256_LEN];
	const char *transfer;
	uint64_t ssize = 0;
	int rc;
	enum attempt_result r;

	util_hex(digest, UTIL_SHA256_LEN, hex);
	wire_msg_init(&m, WIRE_OP_END, conn_next_id(c));
	/* The schema fixes the representation; send whichever it takes. */
	if (wire_msg_set_bytes(&m, "sha256", digest, UTIL_SHA256_LEN) != 0 &&
	    wire_msg_set_text(&m, "sha256", hex) != 0) {
		wire_msg_clear(&m);
		failure_set(u->f, SEKISHO_EXIT_LOCAL, "internal", N_("cannot "
		    "build the end message"));
		return ATTEMPT_FAIL;
	}
	rc = conn_send_msg(c, &m, &err);
	wire_msg_clear(&m);
	if (rc != CONN_OK)
		return conn_failure(u, c, rc, &err, wait);
	if ((rc = conn_recv_msg(c, &m, &err)) != CONN_OK)
		return conn_failure(u, c, rc, &err, wait);
	if (m.op == WIRE_OP_ERROR) {
		r = broker_error(u, &m, wait);
		wire_msg_clear(&m);
		return r;
	}
	if (m.op != WIRE_OP_STORED) {
		r = protocol_error(u, N_("expected stored"), &m);
		wire_msg_clear(&m);
		return r;
	}
	transfer = wire_msg_text(&m, "transfer");
	if (transfer == NULL || strcmp(transfer, u->transfer) != 0 ||
	    wire_msg_uint(&m, "size", &ssize) != 0 ||
	    msg_sha256(&m, sdigest) != 0) {
		wire_msg_clear(&m);
		return protocol_error(u, N_("malformed stored"), NULL);
	}
	{
		/* "held": the interface wants approval officers first. */
		const char *st = wire_msg_text(&m, "state");

		util_strlcpy(res->state, st != NULL && util_is_token(st,
		    sizeof(res->state) - 1) ? st : "stored",
		    sizeof(res->state));
	}
	wire_msg_clear(&m);
	drop_state(u);
	if (ssize != u->size || memcmp(sdigest, digest, UTIL_SHA256_LEN) != 0) {
		util_hex(sdigest, UTIL_SHA256_LEN, shex);
		failure_set(u->f, SEKISHO_EXIT_BROKER, "hash_mismatch",
		    N_("the broker stored transfer %s as %"
		    PRIu64 " bytes with sha256 %s, but %"
		    PRIu64 " bytes with sha256 %s were sent"),
		    u->transfer, ssize, shex, u->size, hex);
		return ATTEMPT_FAIL;
	}
	memcpy(res->transfer, u->transfer, sizeof(res->transfer));
	res->size = u->size;
	memcpy(res->sha256, hex, sizeof(res->sha256));
	return ATTEMPT_DONE;
}

static enum attempt_result
attempt(struct upload *u, int first, struct put_result *res, unsigned *wait)
{
	struct conn *c = NULL;
	struct wire_msg refusal;
	EVP_MD_CTX *md = NULL;
	uint8_t digest[UTIL_SHA256_LEN];
	unsigned int dlen = 0;
	uint64_t offset = 0;
	char sid[UTIL_ID_LEN + 1];
	struct i18n_msg err;
	int rc;
	enum attempt_result r;

	*wait = 0;
	if (file_changed(u))
		return fail_changed(u);
	rc = conn_open(u->cfg, u->o->software, &c, &refusal, &err);
	if (rc != CONN_OK) {
		if (refusal.op == WIRE_OP_ERROR) {
			r = broker_error(u, &refusal, wait);
			wire_msg_clear(&refusal);
			return r;
		}
		r = conn_failure(u, NULL, rc, &err, wait);
		/* The very first connection is not retried: a wrong address
		 * or a broker that is down should be reported at once. */
		if (r == ATTEMPT_RETRY && first)
			r = ATTEMPT_FAIL;
		return r;
	}
	if ((r = request(u, c, &offset, wait)) != ATTEMPT_DONE)
		goto out;
	if (u->was_stored) {
		conn_close(c);
		c = NULL;
		if ((md = EVP_MD_CTX_new()) == NULL ||
		    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
			failure_set(u->f, SEKISHO_EXIT_LOCAL, "internal",
			    N_("SHA-256 unavailable"));
			r = ATTEMPT_FAIL;
			goto out;
		}
		r = report_stored(u, md, res);
		goto out;
	}
	if (offset > 0) {
		res->resumed = 1;
		output_sanitize(u->transfer, sid, sizeof(sid));
		notice(u, N_("resuming transfer %s at byte %" PRIu64 " of %"
		    PRIu64), sid, offset, u->size);
	}
	if ((md = EVP_MD_CTX_new()) == NULL ||
	    EVP_DigestInit_ex(md, EVP_sha256(), NULL) != 1) {
		failure_set(u->f, SEKISHO_EXIT_LOCAL, "internal", N_("SHA-256 "
		    "unavailable"));
		r = ATTEMPT_FAIL;
		goto out;
	}
	if ((r = hash_prefix(u, md, offset)) != ATTEMPT_DONE ||
	    (r = stream(u, c, md, offset, wait)) != ATTEMPT_DONE)
		goto out;
	progress_clear(&u->bar);
	if (file_changed(u)) {
		r = fail_changed(u);
		goto out;
	}
	if (EVP_DigestFinal_ex(md, digest, &dlen) != 1 ||
	    dlen != sizeof(digest)) {
		failure_set(u->f, SEKISHO_EXIT_LOCAL, "internal", N_("SHA-256 "
		    "failed"));
		r = ATTEMPT_FAIL;
		goto out;
	}
	r = finish(u, c, digest, res, wait);
out:
	progress_clear(&u->bar);
	EVP_MD_CTX_free(md);
	conn_close(c);
	return r;
}

static int
open_file(struct upload *u)
{
	char name[256];
	int saved;

	output_sanitize(u->o->file, name, sizeof(name));
	u->fd = open(u->o->file, O_RDONLY | O_CLOEXEC | O_NOCTTY | O_NONBLOCK);
	if (u->fd < 0)
		return failure_set(u->f, SEKISHO_EXIT_LOCAL, "file",
		    N_("cannot open %s: %s"), name, strerror(errno));
	if (fstat(u->fd, &u->st0) != 0) {
		saved = errno;
		return failure_set(u->f, SEKISHO_EXIT_LOCAL, "file", "%s: %s",
		    name, strerror(saved));
	}
	if (!S_ISREG(u->st0.st_mode))
		return failure_set(u->f, SEKISHO_EXIT_LOCAL, "file", N_("%s: "
		    "not a regular file"), name);
	u->size = (uint64_t)u->st0.st_size;
	if ((u->realpath = realpath(u->o->file, NULL)) == NULL) {
		saved = errno;
		return failure_set(u->f, SEKISHO_EXIT_LOCAL, "file", "%s: %s",
		    name, strerror(saved));
	}
	return SEKISHO_EXIT_OK;
}

/* Looks up saved state for this upload (unless --no-resume). */
static void
load_state(struct upload *u)
{
	char err[256];
	int64_t mtime_ns;

	if (u->o->state_dir == NULL)
		return;
	mtime_ns = (int64_t)u->st0.st_mtim.tv_sec * 1000000000 +
	    u->st0.st_mtim.tv_nsec;
	if (resume_key(u->realpath, u->size, mtime_ns, u->o->interface,
	    u->o->class, u->key) != 0)
		return;
	u->have_state = 1;
	if (u->o->no_resume) {
		drop_state(u);
		return;
	}
	if (resume_load(u->o->state_dir, u->key, u->transfer, err,
	    sizeof(err)) < 0) {
		notice(u, N_("warning: ignoring resume state: %s"), err);
		u->transfer[0] = '\0';
	}
}

int
put_run(const struct clientcfg *cfg, const struct put_opts *o,
    struct put_result *res, struct failure *f)
{
	struct upload u;
	struct wire_msg probe;
	char defname[NAME_MAX + 1], reason[600];
	unsigned attempts = 0, backoff = 1, wait;
	int rc;
	enum attempt_result r;

	memset(res, 0, sizeof(*res));
	memset(f, 0, sizeof(*f));
	memset(&u, 0, sizeof(u));
	u.cfg = cfg;
	u.o = o;
	u.f = f;
	u.fd = -1;
	u.name = o->name != NULL ? o->name :
	    put_default_name(o->file, defname, sizeof(defname));
	if (u.name[0] == '\0') {
		rc = failure_set(f, SEKISHO_EXIT_USAGE, "usage", N_("cannot "
		    "take a file name from '%s'; give --name"), o->file);
		goto out;
	}
	if ((rc = open_file(&u)) != SEKISHO_EXIT_OK)
		goto out;
	/* Check the request is expressible before touching the network. */
	if (build_put(&u, &probe, 0) != 0) {
		rc = f->exit;
		goto out;
	}
	wire_msg_clear(&probe);
	if ((u.buf = malloc(PUT_BUF)) == NULL) {
		rc = failure_set(f, SEKISHO_EXIT_LOCAL, "internal", N_("out of "
		    "memory"));
		goto out;
	}
	load_state(&u);

	for (;;) {
		r = attempt(&u, attempts == 0, res, &wait);
		if (r == ATTEMPT_DONE) {
			rc = SEKISHO_EXIT_OK;
			break;
		}
		if (r == ATTEMPT_FAIL) {
			rc = f->exit;
			break;
		}
		failure_format(f, reason, sizeof(reason));
		if (attempts >= o->retries) {
			/* Keep the last cause; say what was tried and how
			 * to go on. */
			size_t len = strlen(f->message), nlen;

			/* English in message (as --json shows it), the
			 * user's language in note (the terminal). */
			f->note_at = len;
			if (o->retries > 0) {
				snprintf(f->message + len,
				    sizeof(f->message) - len,
				    " (gave up after %u retries)", attempts);
				snprintf(f->note, sizeof(f->note),
				    P_(" (gave up after %u retry)",
				    " (gave up after %u retries)", attempts),
				    attempts);
			}
			len = strlen(f->message);
			nlen = strlen(f->note);
			if (u.transfer[0] != '\0' && u.have_state) {
				snprintf(f->message + len,
				    sizeof(f->message) - len, "; run the same "
				    "command again to resume the upload");
				snprintf(f->note + nlen, sizeof(f->note) - nlen,
				    "%s", _("; run the same command again to "
				    "resume the upload"));
			}
			rc = f->exit;
			break;
		}
		attempts++;
		if (wait == 0) {
			wait = backoff;
			backoff = backoff * 2 > PUT_BACKOFF_CAP ?
			    PUT_BACKOFF_CAP : backoff * 2;
		}
		notice(&u, N_("%s; retrying in %u s (%u of %u)"), reason, wait,
		    attempts, o->retries);
		sleep(wait);
	}
out:
	OPENSSL_cleanse(u.otp, sizeof(u.otp));
	if (u.fd >= 0)
		close(u.fd);
	free(u.realpath);
	free(u.buf);
	return rc;
}
