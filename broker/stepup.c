/*
 * stepup — see stepup.h.
 *
 * The TOTP arithmetic is liboath's (oath_totp_generate: RFC 6238 with
 * HMAC-SHA1 and dynamic truncation), and so is base32. What this module
 * adds is the policy around a code: which steps count, that a step counts
 * once, what failures cost, and how secrets rest on disk.
 *
 * Why candidates are generated rather than validated by liboath:
 * oath_totp_validate stops at the first match and compares with strcmp, so
 * its running time says how far from now the code was and how many digits
 * matched. Computing all 2*STEPUP_WINDOW+1 codes and comparing each with
 * CRYPTO_memcmp costs three HMACs and leaks nothing.
 *
 * Secrets are decrypted only inside stepup_verify, into a stack buffer that
 * is wiped on every path out.
 */
#include "broker/stepup.h"
#include "broker/audit.h"
#include "broker/store.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/random.h>
#include <unistd.h>

#include <liboath/oath.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <qrencode.h>

_Static_assert(STORE_TOTP_SEALED_MAX == STEPUP_SEALED_MAX,
    "store and stepup agree on the sealed size");
_Static_assert(STORE_TOTP_NONCE == STEPUP_NONCE_LEN,
    "store and stepup agree on the nonce size");
_Static_assert(STEPUP_SECRET_LEN + STEPUP_TAG_LEN <= STEPUP_SEALED_MAX,
    "a sealed secret fits its column");

#define KEY_FILE_MAX 128	/* bytes read from a key file, at most */
#define AAD_PREFIX "sekisho totp v1:"

struct stepup {
	uint8_t key[STEPUP_KEY_LEN];
	struct stepup_limits lim;
};

/* ---- key file ------------------------------------------------------------- */

int
stepup_key_load(const char *path, uint8_t key[STEPUP_KEY_LEN], char *err,
    size_t errlen)
{
	char buf[KEY_FILE_MAX + 1];
	ssize_t n;
	size_t len = 0;
	int fd, rc = -1;

	if (path == NULL || path[0] == '\0')
		return util_err(err, errlen, "step-up key file: no path given");
	if ((fd = util_open_key_file("step-up key file", path, 1, NULL,
	    err, errlen)) == -1)
		return -1;
	while (len < sizeof(buf)) {
		n = read(fd, buf + len, sizeof(buf) - len);
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0) {
			util_err(err, errlen, "step-up key file %s: %s", path,
			    strerror(errno));
			goto out;
		}
		if (n == 0)
			break;
		len += (size_t)n;
	}
	if (len > 0 && buf[len - 1] == '\n')
		len--;
	buf[len] = '\0';
	if (len != 2 * STEPUP_KEY_LEN ||
	    util_unhex(buf, key, STEPUP_KEY_LEN) != 0) {
		util_err(err, errlen, "step-up key file %s: must hold exactly "
		    "%d hex digits (create it with: openssl rand -hex %d)", path,
		    2 * STEPUP_KEY_LEN, STEPUP_KEY_LEN);
		OPENSSL_cleanse(key, STEPUP_KEY_LEN);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(buf, sizeof(buf));
	close(fd);
	return rc;
}

int
stepup_new(const char *key_file, const struct stepup_limits *lim,
    struct stepup **out, char *err, size_t errlen)
{
	struct stepup *su;

	*out = NULL;
	if (lim->max_failures == 0 || lim->lockout == 0 ||
	    lim->lockout_max < lim->lockout)
		return util_err(err, errlen, "step-up: max_failures and "
		    "lockout must be above 0 and lockout_max at least lockout");
	if (oath_init() != OATH_OK)
		return util_err(err, errlen, "step-up: liboath failed to "
		    "initialise");
	if ((su = calloc(1, sizeof(*su))) == NULL)
		return util_err(err, errlen, "out of memory");
	if (stepup_key_load(key_file, su->key, err, errlen) != 0) {
		free(su);
		return -1;
	}
	su->lim = *lim;
	*out = su;
	return 0;
}

void
stepup_free(struct stepup *su)
{
	if (su == NULL)
		return;
	OPENSSL_cleanse(su->key, sizeof(su->key));
	free(su);
}

const struct stepup_limits *
stepup_get_limits(const struct stepup *su)
{
	return &su->lim;
}

int
stepup_mac(const struct stepup *su, const char *purpose, const uint8_t *msg,
    size_t len, uint8_t out[STEPUP_MAC_LEN])
{
	uint8_t k[STEPUP_MAC_LEN];
	unsigned int klen = 0, olen = 0;
	int rc = -1;

	/* A key of its own per purpose: the sealing key itself never keys
	 * an HMAC. */
	if (HMAC(EVP_sha256(), su->key, sizeof(su->key),
	    (const unsigned char *)purpose, strlen(purpose), k, &klen) !=
	    NULL && klen == sizeof(k) &&
	    HMAC(EVP_sha256(), k, sizeof(k), msg, len, out, &olen) != NULL &&
	    olen == STEPUP_MAC_LEN)
		rc = 0;
	OPENSSL_cleanse(k, sizeof(k));
	return rc;
}

/* ---- AES-256-GCM ------------------------------------------------------------ */

static int
aad(EVP_CIPHER_CTX *c, const char *user)
{
	int n;

	return EVP_CipherUpdate(c, NULL, &n, (const unsigned char *)AAD_PREFIX,
	    (int)strlen(AAD_PREFIX)) == 1 &&
	    EVP_CipherUpdate(c, NULL, &n, (const unsigned char *)user,
	    (int)strlen(user)) == 1 ? 0 : -1;
}

static int
random_bytes(uint8_t *out, size_t len)
{
	size_t got = 0;
	ssize_t n;

	while (got < len) {
		n = getrandom(out + got, len - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			return -1;
		got += (size_t)n;
	}
	return 0;
}

int
stepup_seal(const uint8_t key[STEPUP_KEY_LEN], const char *user,
    const uint8_t *secret, size_t len, uint8_t nonce[STEPUP_NONCE_LEN],
    uint8_t *out, size_t outlen, size_t *outlen_used, char *err,
    size_t errlen)
{
	EVP_CIPHER_CTX *c;
	int n = 0, fin = 0, rc = -1;

	if (len == 0 || len > 256 || outlen < len + STEPUP_TAG_LEN)
		return util_err(err, errlen, "step-up: secret size out of "
		    "range");
	if (random_bytes(nonce, STEPUP_NONCE_LEN) != 0)
		return util_err(err, errlen, "step-up: the CSPRNG failed");
	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		return util_err(err, errlen, "out of memory");
	if (EVP_EncryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, STEPUP_NONCE_LEN,
	    NULL) != 1 ||
	    EVP_EncryptInit_ex(c, NULL, NULL, key, nonce) != 1 ||
	    aad(c, user) != 0 ||
	    EVP_EncryptUpdate(c, out, &n, secret, (int)len) != 1 ||
	    EVP_EncryptFinal_ex(c, out + n, &fin) != 1 ||
	    (size_t)(n + fin) != len ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_GET_TAG, STEPUP_TAG_LEN,
	    out + len) != 1) {
		util_err(err, errlen, "step-up: encryption failed");
		OPENSSL_cleanse(out, outlen);
		goto out;
	}
	*outlen_used = len + STEPUP_TAG_LEN;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

int
stepup_unseal(const uint8_t key[STEPUP_KEY_LEN], const char *user,
    const uint8_t nonce[STEPUP_NONCE_LEN], const uint8_t *sealed,
    size_t sealedlen, uint8_t *secret, size_t secretlen, size_t *len,
    char *err, size_t errlen)
{
	EVP_CIPHER_CTX *c;
	uint8_t tag[STEPUP_TAG_LEN];
	size_t ctlen;
	int n = 0, fin = 0, rc = -1;

	if (sealedlen <= STEPUP_TAG_LEN || sealedlen > 256 + STEPUP_TAG_LEN ||
	    sealedlen - STEPUP_TAG_LEN > secretlen)
		return util_err(err, errlen, "step-up: the sealed secret of %s "
		    "has an impossible size", user);
	ctlen = sealedlen - STEPUP_TAG_LEN;
	memcpy(tag, sealed + ctlen, STEPUP_TAG_LEN);
	if ((c = EVP_CIPHER_CTX_new()) == NULL)
		return util_err(err, errlen, "out of memory");
	if (EVP_DecryptInit_ex(c, EVP_aes_256_gcm(), NULL, NULL, NULL) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_IVLEN, STEPUP_NONCE_LEN,
	    NULL) != 1 ||
	    EVP_DecryptInit_ex(c, NULL, NULL, key, nonce) != 1 ||
	    aad(c, user) != 0 ||
	    EVP_DecryptUpdate(c, secret, &n, sealed, (int)ctlen) != 1 ||
	    EVP_CIPHER_CTX_ctrl(c, EVP_CTRL_GCM_SET_TAG, STEPUP_TAG_LEN,
	    tag) != 1 ||
	    EVP_DecryptFinal_ex(c, secret + n, &fin) != 1 ||
	    (size_t)(n + fin) != ctlen) {
		util_err(err, errlen, "step-up: the secret of %s does not "
		    "authenticate (wrong key file, or the row was altered)",
		    user);
		OPENSSL_cleanse(secret, secretlen);
		goto out;
	}
	*len = ctlen;
	rc = 0;
out:
	EVP_CIPHER_CTX_free(c);
	return rc;
}

/* ---- TOTP ---------------------------------------------------------------- */

int
stepup_totp_code(const uint8_t *secret, size_t len, time_t now,
    char out[STEPUP_DIGITS + 1])
{
	if (now < 0 || oath_init() != OATH_OK)
		return -1;
	if (oath_totp_generate((const char *)secret, len, now, STEPUP_PERIOD,
	    0, STEPUP_DIGITS, out) != OATH_OK)
		return -1;
	out[STEPUP_DIGITS] = '\0';
	return 0;
}

int64_t
stepup_totp_match(const uint8_t *secret, size_t len, const char *code,
    time_t now)
{
	char cand[STEPUP_DIGITS + 1];
	int64_t step, s, found = -1;
	int i, ok;

	if (code == NULL || strlen(code) != STEPUP_DIGITS ||
	    strspn(code, "0123456789") != STEPUP_DIGITS || now < 0)
		return -1;
	step = (int64_t)now / STEPUP_PERIOD;
	for (i = -STEPUP_WINDOW; i <= STEPUP_WINDOW; i++) {
		s = step + i;
		if (s < 0)
			continue;
		if (stepup_totp_code(secret, len, (time_t)(s * STEPUP_PERIOD),
		    cand) != 0) {
			OPENSSL_cleanse(cand, sizeof(cand));
			return -1;
		}
		ok = CRYPTO_memcmp(cand, code, STEPUP_DIGITS) == 0;
		/* Branch-free select: the highest matching step wins. */
		found = ok ? s : found;
	}
	OPENSSL_cleanse(cand, sizeof(cand));
	return found;
}

uint64_t
stepup_lock_seconds(const struct stepup_limits *lim, uint64_t n)
{
	uint64_t d = lim->lockout;

	while (n-- > 0 && d < lim->lockout_max)
		d = d > UINT64_MAX / 2 ? UINT64_MAX : d * 2;
	return d < lim->lockout_max ? d : lim->lockout_max;
}

const char *
stepup_result_name(enum stepup_result r)
{
	switch (r) {
	case STEPUP_OK:
		return "ok";
	case STEPUP_ACTIVATED:
		return "activated";
	case STEPUP_WRONG:
		return "wrong_code";
	case STEPUP_REPLAY:
		return "replay";
	case STEPUP_LOCKOUT:
		return "lockout";
	case STEPUP_LOCKED:
		return "locked";
	case STEPUP_NOT_ENROLLED:
		return "not_enrolled";
	}
	return "unknown";
}

/* ---- verification ------------------------------------------------------- */

int
stepup_verify(const struct stepup *su, struct store *st, const char *user,
    const char *code, time_t now, struct stepup_outcome *out, char *err,
    size_t errlen)
{
	struct store_totp t;
	uint8_t secret[STEPUP_SEALED_MAX];
	size_t slen = 0;
	int64_t step, expect;
	int rc;

	memset(out, 0, sizeof(*out));
	rc = store_totp_get(st, user, &t, err, errlen);
	if (rc == STORE_NOTFOUND) {
		out->result = STEPUP_NOT_ENROLLED;
		return 0;
	}
	if (rc != 0)
		return -1;
	out->lock_count = t.lock_count;
	if (t.locked_until > (int64_t)now) {
		out->result = STEPUP_LOCKED;
		out->failures = t.failures;
		out->locked_until = t.locked_until;
		out->retry_after = (uint64_t)(t.locked_until - (int64_t)now);
		return 0;
	}
	if (stepup_unseal(su->key, user, t.nonce, t.sealed, t.sealed_len,
	    secret, sizeof(secret), &slen, err, errlen) != 0)
		return -1;
	step = stepup_totp_match(secret, slen, code, now);
	OPENSSL_cleanse(secret, sizeof(secret));

	expect = t.last_step;
	t.locked_until = 0;
	if (step >= 0 && step > t.last_step) {
		out->result = strcmp(t.state, STORE_TOTP_PENDING) == 0 ?
		    STEPUP_ACTIVATED : STEPUP_OK;
		t.last_step = step;
		t.failures = 0;
		t.lock_count = 0;
		if (out->result == STEPUP_ACTIVATED) {
			util_strlcpy(t.state, STORE_TOTP_ACTIVE,
			    sizeof(t.state));
			t.activated = (int64_t)now;
		}
	} else {
		out->result = step >= 0 ? STEPUP_REPLAY : STEPUP_WRONG;
		t.failures++;
		if (t.failures >= su->lim.max_failures) {
			uint64_t d = stepup_lock_seconds(&su->lim,
			    t.lock_count);

			out->result = STEPUP_LOCKOUT;
			out->retry_after = d;
			t.locked_until = (int64_t)now + (int64_t)d;
			t.lock_count++;
			t.failures = 0;
		}
	}
	/* Compare-and-set: a concurrent writer that accepted a code in the
	 * meantime makes this attempt a replay, never a second success. */
	rc = store_totp_update(st, &t, expect, err, errlen);
	if (rc == STORE_NOTFOUND) {
		memset(out, 0, sizeof(*out));
		out->result = STEPUP_REPLAY;
		return 0;
	}
	if (rc != 0)
		return -1;
	out->failures = t.failures;
	out->lock_count = t.lock_count;
	out->locked_until = t.locked_until;
	return 0;
}

/* ---- enrolment -------------------------------------------------------------- */

int
stepup_uri(const char *user, const char *base32, char *out, size_t outlen)
{
	int n;

	if (!util_is_token(user, 64))
		return -1;
	/* Tokens are [A-Za-z0-9._-]: nothing in them needs percent-encoding. */
	n = snprintf(out, outlen, "otpauth://totp/sekisho:%s?secret=%s"
	    "&issuer=sekisho&algorithm=SHA1&digits=%d&period=%d", user, base32,
	    STEPUP_DIGITS, STEPUP_PERIOD);
	return n < 0 || (size_t)n >= outlen ? -1 : 0;
}

int
stepup_queue_event(struct store *st, const char *type, const char *user,
    const char *actor, const char *detail, time_t now, char *err,
    size_t errlen)
{
	struct store_totp_event ev;

	memset(&ev, 0, sizeof(ev));
	ev.time = (int64_t)now;
	util_strlcpy(ev.type, type, sizeof(ev.type));
	util_strlcpy(ev.user, user, sizeof(ev.user));
	if (util_strlcpy(ev.actor, actor != NULL ? actor : "", sizeof(ev.actor))
	    != 0)
		util_strlcpy(ev.actor, "?", sizeof(ev.actor));
	util_strlcpy(ev.detail, detail, sizeof(ev.detail));
	return store_totp_event_add(st, &ev, err, errlen);
}

int
stepup_enroll_pending(const struct stepup *su, struct store *st,
    const char *user, int force, time_t now, struct stepup_enrolment *out,
    char *err, size_t errlen)
{
	struct store_totp t, cur;
	uint8_t secret[STEPUP_SECRET_LEN];
	char *b32 = NULL;
	size_t b32len = 0;
	int rc;

	memset(out, 0, sizeof(*out));
	if (!util_is_token(user, 64))
		return util_err(err, errlen, "'%s' is not a user id (1-64 of "
		    "A-Z a-z 0-9 . _ -)", user);
	rc = store_totp_get(st, user, &cur, err, errlen);
	if (rc != 0 && rc != STORE_NOTFOUND)
		return -1;
	if (rc == 0) {
		if (strcmp(cur.state, STORE_TOTP_ACTIVE) == 0 && !force)
			return util_err(err, errlen, "user %s already has an "
			    "active TOTP secret; give --force to replace it "
			    "(the old one stops working at once)", user);
		out->replaced = strcmp(cur.state, STORE_TOTP_ACTIVE) == 0 ?
		    2 : 1;
	}
	memset(&t, 0, sizeof(t));
	util_strlcpy(t.user, user, sizeof(t.user));
	util_strlcpy(t.state, STORE_TOTP_PENDING, sizeof(t.state));
	t.created = (int64_t)now;
	rc = -1;
	if (random_bytes(secret, sizeof(secret)) != 0) {
		util_err(err, errlen, "step-up: the CSPRNG failed");
		goto out;
	}
	if (stepup_seal(su->key, user, secret, sizeof(secret), t.nonce,
	    t.sealed, sizeof(t.sealed), &t.sealed_len, err, errlen) != 0)
		goto out;
	if (oath_base32_encode((const char *)secret, sizeof(secret), &b32,
	    &b32len) != OATH_OK || b32len >= sizeof(out->base32)) {
		util_err(err, errlen, "step-up: base32 encoding failed");
		goto out;
	}
	memcpy(out->base32, b32, b32len);
	out->base32[b32len] = '\0';
	if (stepup_uri(user, out->base32, out->uri, sizeof(out->uri)) != 0) {
		util_err(err, errlen, "step-up: cannot build the URI");
		goto out;
	}
	rc = store_totp_put(st, &t, err, errlen);
out:
	OPENSSL_cleanse(secret, sizeof(secret));
	if (b32 != NULL) {
		OPENSSL_cleanse(b32, b32len);
		free(b32);
	}
	if (rc != 0)
		OPENSSL_cleanse(out, sizeof(*out));
	return rc;
}

int
stepup_enroll(const struct stepup *su, struct store *st, const char *user,
    const char *actor, int force, time_t now, struct stepup_enrolment *out,
    char *err, size_t errlen)
{
	char detail[64];

	memset(out, 0, sizeof(*out));
	if (!util_is_token(user, 64))
		return util_err(err, errlen, "'%s' is not a user id (1-64 of "
		    "A-Z a-z 0-9 . _ -)", user);
	if (store_begin(st, err, errlen) != 0)
		return -1;
	if (stepup_enroll_pending(su, st, user, force, now, out, err,
	    errlen) != 0)
		goto fail;
	snprintf(detail, sizeof(detail), "replaced=%s forced=%s",
	    out->replaced == 2 ? "active" : out->replaced == 1 ? "pending" :
	    "none", force ? "yes" : "no");
	if (stepup_queue_event(st, "totp_enrol", user, actor, detail, now,
	    err, errlen) != 0 || store_commit(st, err, errlen) != 0)
		goto fail;
	return 0;
fail:
	store_rollback(st);
	OPENSSL_cleanse(out, sizeof(*out));
	return -1;
}

int
stepup_reset(struct store *st, const char *user, const char *actor,
    time_t now, char *err, size_t errlen)
{
	int rc;

	if (!util_is_token(user, 64))
		return util_err(err, errlen, "'%s' is not a user id", user);
	if (store_begin(st, err, errlen) != 0)
		return -1;
	rc = store_totp_delete(st, user, err, errlen);
	if (rc == STORE_NOTFOUND) {
		store_rollback(st);
		util_err(err, errlen, "user %s has no TOTP secret", user);
		return STORE_NOTFOUND;
	}
	if (rc != 0 || stepup_queue_event(st, "totp_reset", user, actor, "", now,
	    err, errlen) != 0 || store_commit(st, err, errlen) != 0) {
		store_rollback(st);
		return -1;
	}
	return 0;
}

int
stepup_audit_pending(struct store *st, struct audit *a, time_t now,
    char *err, size_t errlen)
{
	struct store_totp_event ev[16];
	struct audit_kv kv[4];
	struct audit_event e;
	size_t n, i;
	int moved = 0;

	for (;;) {
		if (store_totp_event_list(st, ev, 16, &n, err, errlen) != 0)
			return -1;
		for (i = 0; i < n; i++) {
			memset(kv, 0, sizeof(kv));
			kv[0].key = "actor";
			kv[0].type = AUDIT_TEXT;
			kv[0].text = ev[i].actor;
			kv[1].key = "queued";
			kv[1].type = AUDIT_UINT;
			kv[1].u = ev[i].time > 0 ? (uint64_t)ev[i].time : 0;
			kv[2].key = "queue_id";
			kv[2].type = AUDIT_UINT;
			kv[2].u = (uint64_t)ev[i].id;
			kv[3].key = "detail";
			kv[3].type = AUDIT_TEXT;
			kv[3].text = ev[i].detail;
			memset(&e, 0, sizeof(e));
			e.type = ev[i].type;
			e.user = ev[i].user;
			e.details = kv;
			e.ndetails = ev[i].detail[0] != '\0' ? 4 : 3;
			if (audit_append(a, now, &e, err, errlen) != 0 ||
			    store_totp_event_delete(st, ev[i].id, err,
			    errlen) != 0)
				return -1;
			moved++;
		}
		if (n < 16)
			return moved;
	}
}

/* ---- QR code -------------------------------------------------------------- */

#define QR_MARGIN 2

static int
qr_light(const QRcode *q, int x, int y)
{
	if (x < 0 || y < 0 || x >= q->width || y >= q->width)
		return 1;		/* quiet zone */
	return (q->data[(size_t)y * (size_t)q->width + (size_t)x] & 1) == 0;
}

char *
stepup_qr_text(const char *text, char *err, size_t errlen)
{
	static const char *const cell[4] = { " ", "\xe2\x96\x84",
	    "\xe2\x96\x80", "\xe2\x96\x88" };	/* " ", ▄, ▀, █ */
	QRcode *q;
	char *out, *p;
	size_t cap;
	int x, y, w;

	if ((q = QRcode_encodeString(text, 0, QR_ECLEVEL_M, QR_MODE_8, 1)) ==
	    NULL) {
		util_err(err, errlen, "QR encoding failed: %s", strerror(errno));
		return NULL;
	}
	w = q->width + 2 * QR_MARGIN;
	/* 3 bytes per cell, a newline per row of cells. */
	cap = ((size_t)w * 3 + 1) * (size_t)((w + 1) / 2) + 1;
	if ((out = malloc(cap)) == NULL) {
		QRcode_free(q);
		util_err(err, errlen, "out of memory");
		return NULL;
	}
	p = out;
	/* Light modules are drawn, for a dark terminal background (as
	 * qrencode -t UTF8 does); phone scanners read either polarity. */
	for (y = -QR_MARGIN; y < q->width + QR_MARGIN; y += 2) {
		for (x = -QR_MARGIN; x < q->width + QR_MARGIN; x++) {
			int top = qr_light(q, x, y);
			int bottom = y + 1 < q->width + QR_MARGIN ?
			    qr_light(q, x, y + 1) : 0;
			const char *c = cell[top * 2 + bottom];
			size_t l = strlen(c);

			memcpy(p, c, l);
			p += l;
		}
		*p++ = '\n';
	}
	*p = '\0';
	QRcode_free(q);
	return out;
}

/* ---- step-ups on the loop --------------------------------------------------- */

void
stepup_grant_record(struct stepup_grants *t, const char *cert_fp,
    const char *user, time_t at)
{
	size_t i, slot = t->n;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->g[i].cert_fp, cert_fp) == 0) {
			slot = i;
			break;
		}
	if (slot == t->n) {
		if (t->n < STEPUP_GRANTS)
			t->n++;
		else {
			/* Full: forget the oldest (it is the least likely
			 * to be fresh still). */
			slot = 0;
			for (i = 1; i < t->n; i++)
				if (t->g[i].at < t->g[slot].at)
					slot = i;
		}
	}
	util_strlcpy(t->g[slot].cert_fp, cert_fp, sizeof(t->g[slot].cert_fp));
	util_strlcpy(t->g[slot].user, user, sizeof(t->g[slot].user));
	t->g[slot].at = at;
}

int
stepup_grant_drop(struct stepup_grants *t, const char *cert_fp)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->g[i].cert_fp, cert_fp) == 0) {
			t->g[i] = t->g[--t->n];
			return 1;
		}
	return 0;
}

time_t
stepup_grant_lookup(const struct stepup_grants *t, const char *cert_fp,
    const char *user)
{
	size_t i;

	for (i = 0; i < t->n; i++)
		if (strcmp(t->g[i].cert_fp, cert_fp) == 0)
			return strcmp(t->g[i].user, user) == 0 ? t->g[i].at : 0;
	return 0;
}
