/*
 * enrolcode — see enrolcode.h.
 *
 * Why a MAC and not a plain SHA-256: 60 bits are beyond an online guess
 * with a lockout, but a copy of the state database would let anyone
 * search them offline at leisure; keyed with the step-up key (which never
 * sits in the database) the stored value tells nothing on its own. The
 * user is inside the MAC, so the comparison with the principal's own row
 * is the whole check: another user's code is simply a wrong one.
 */
#include "broker/enrolcode.h"
#include "broker/store.h"
#include "lib/util.h"

#include <errno.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>

#include <openssl/crypto.h>

static const char alphabet[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";

int
enrolcode_generate(char out[ENROLCODE_SHOWN + 1])
{
	uint8_t r[ENROLCODE_CHARS];
	size_t got = 0, i, o = 0;
	ssize_t n;

	while (got < sizeof(r)) {
		n = getrandom(r + got, sizeof(r) - got, 0);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0) {
			OPENSSL_cleanse(r, sizeof(r));
			return -1;
		}
		got += (size_t)n;
	}
	for (i = 0; i < ENROLCODE_CHARS; i++) {
		if (i > 0 && i % 4 == 0)
			out[o++] = '-';
		/* 256 is a multiple of 32: every character is uniform. */
		out[o++] = alphabet[r[i] & 31];
	}
	out[o] = '\0';
	OPENSSL_cleanse(r, sizeof(r));
	return 0;
}

int
enrolcode_normalize(const char *typed, char out[ENROLCODE_CHARS + 1])
{
	size_t n = 0;
	const char *p;
	char ch;

	if (typed == NULL)
		goto bad;
	for (p = typed; *p != '\0'; p++) {
		ch = *p;
		if (ch == '-' || ch == ' ')
			continue;
		if (ch >= 'a' && ch <= 'z')
			ch = (char)(ch - 'a' + 'A');
		else if (ch == '0')
			ch = 'O';
		else if (ch == '1')
			ch = 'I';
		else if (ch == '8')
			ch = 'B';
		if (!((ch >= 'A' && ch <= 'Z') || (ch >= '2' && ch <= '7')) ||
		    n == ENROLCODE_CHARS)
			goto bad;
		out[n++] = ch;
	}
	if (n != ENROLCODE_CHARS)
		goto bad;
	out[n] = '\0';
	return 0;
bad:
	OPENSSL_cleanse(out, ENROLCODE_CHARS + 1);
	return -1;
}

int
enrolcode_mac(const struct stepup *su, const char *user,
    const char *canonical, uint8_t out[STEPUP_MAC_LEN])
{
	uint8_t msg[64 + 1 + ENROLCODE_CHARS];
	size_t ul = strlen(user), cl = strlen(canonical);
	int rc;

	if (ul == 0 || ul > 64 || cl != ENROLCODE_CHARS)
		return -1;
	/* user NUL code: no two (user, code) pairs give the same bytes. */
	memcpy(msg, user, ul);
	msg[ul] = 0;
	memcpy(msg + ul + 1, canonical, cl);
	rc = stepup_mac(su, ENROLCODE_PURPOSE, msg, ul + 1 + cl, out);
	OPENSSL_cleanse(msg, sizeof(msg));
	return rc;
}

int
enrolcode_parse_ttl(const char *s, uint64_t *out, char *err, size_t errlen)
{
	uint64_t v;

	if (util_parse_duration(s, &v) != 0 || v < ENROLCODE_TTL_MIN ||
	    v > ENROLCODE_TTL_MAX)
		return util_err(err, errlen, "--ttl %s: give a duration from "
		    "5m to 7d (for example 30m, 24h, 3d)", s != NULL ? s : "");
	*out = v;
	return 0;
}

int
enrolcode_issue(const struct stepup *su, struct store *st, const char *user,
    const char *actor, int force, uint64_t ttl, time_t now,
    struct enrolcode_issued *out, char *err, size_t errlen)
{
	struct store_enrol_code c;
	struct store_totp t;
	char canon[ENROLCODE_CHARS + 1], detail[128], exp[21];
	int rc;

	memset(out, 0, sizeof(*out));
	memset(&c, 0, sizeof(c));
	if (!util_is_token(user, 64))
		return util_err(err, errlen, "'%s' is not a user id (1-64 of "
		    "A-Z a-z 0-9 . _ -)", user);
	if (ttl < ENROLCODE_TTL_MIN || ttl > ENROLCODE_TTL_MAX || now < 0)
		return util_err(err, errlen, "the code's lifetime must be "
		    "from 5 minutes to 7 days");
	if (store_begin(st, err, errlen) != 0)
		return -1;
	rc = store_totp_get(st, user, &t, err, errlen);
	if (rc != 0 && rc != STORE_NOTFOUND)
		goto fail;
	out->active = rc == 0 && strcmp(t.state, STORE_TOTP_ACTIVE) == 0;
	if (out->active && !force) {
		util_err(err, errlen, "user %s already has an active TOTP "
		    "secret; give --force to issue a code that replaces it "
		    "(the old secret stops working when the code is used)",
		    user);
		goto fail;
	}
	rc = store_enrol_code_get(st, user, &c, err, errlen);
	if (rc != 0 && rc != STORE_NOTFOUND)
		goto fail;
	out->replaced = rc == 0 && c.has_mac && c.used == 0 &&
	    c.expires > (int64_t)now;
	if (enrolcode_generate(out->code) != 0) {
		util_err(err, errlen, "the CSPRNG failed");
		goto fail;
	}
	if (enrolcode_normalize(out->code, canon) != 0 ||
	    enrolcode_mac(su, user, canon, c.mac) != 0) {
		util_err(err, errlen, "cannot compute the code's MAC");
		goto fail;
	}
	util_strlcpy(c.user, user, sizeof(c.user));
	c.has_mac = 1;
	c.issued = (int64_t)now;
	c.expires = (int64_t)now + (int64_t)ttl;
	c.used = 0;
	c.force = force != 0;
	c.failures = 0;
	c.locked_until = 0;
	c.lock_count = 0;
	out->expires = c.expires;
	util_time_rfc3339((time_t)c.expires, exp);
	snprintf(detail, sizeof(detail), "expires=%s ttl=%llu forced=%s "
	    "replaced=%s", exp, (unsigned long long)ttl, force ? "yes" : "no",
	    out->replaced ? "code" : "none");
	if (store_enrol_code_put(st, &c, err, errlen) != 0 ||
	    stepup_queue_event(st, ENROLCODE_ISSUED, user, actor, detail, now,
	    err, errlen) != 0 || store_commit(st, err, errlen) != 0)
		goto fail;
	OPENSSL_cleanse(canon, sizeof(canon));
	OPENSSL_cleanse(&c, sizeof(c));
	return 0;
fail:
	store_rollback(st);
	OPENSSL_cleanse(canon, sizeof(canon));
	OPENSSL_cleanse(&c, sizeof(c));
	OPENSSL_cleanse(out, sizeof(*out));
	return -1;
}

const char *
enrolcode_result_name(enum enrolcode_result r)
{
	switch (r) {
	case ENROLCODE_REDEEMED:
		return "redeemed";
	case ENROLCODE_WRONG:
		return "wrong_code";
	case ENROLCODE_USED:
		return "used";
	case ENROLCODE_EXPIRED:
		return "expired";
	case ENROLCODE_ACTIVE:
		return "active";
	case ENROLCODE_LOCKOUT:
		return "lockout";
	case ENROLCODE_LOCKED:
		return "locked";
	}
	return "unknown";
}

int
enrolcode_redeem(const struct stepup *su, struct store *st, const char *user,
    const char *typed, time_t now, struct enrolcode_outcome *o,
    struct stepup_enrolment *secret, char *err, size_t errlen)
{
	const struct stepup_limits *lim = stepup_get_limits(su);
	struct store_enrol_code c;
	struct store_totp t;
	uint8_t mac[STEPUP_MAC_LEN];
	char canon[ENROLCODE_CHARS + 1];
	int rc, match, active;

	memset(o, 0, sizeof(*o));
	memset(secret, 0, sizeof(*secret));
	o->reason = "";
	if (!util_is_token(user, 64))
		return util_err(err, errlen, "'%s' is not a user id", user);
	rc = store_enrol_code_get(st, user, &c, err, errlen);
	if (rc != 0 && rc != STORE_NOTFOUND)
		return -1;
	o->lock_count = c.lock_count;
	if (c.locked_until > (int64_t)now) {
		o->result = ENROLCODE_LOCKED;
		o->reason = "locked";
		o->failures = c.failures;
		o->locked_until = c.locked_until;
		o->retry_after = (uint64_t)(c.locked_until - (int64_t)now);
		return 0;
	}
	/* A code that cannot be canonical matches nothing; it is checked
	 * (and counted) like any other so that its shape tells nothing. */
	memset(mac, 0, sizeof(mac));
	if (enrolcode_normalize(typed, canon) == 0 &&
	    enrolcode_mac(su, user, canon, mac) != 0) {
		OPENSSL_cleanse(canon, sizeof(canon));
		return util_err(err, errlen, "cannot compute the code's MAC");
	}
	OPENSSL_cleanse(canon, sizeof(canon));
	match = CRYPTO_memcmp(mac, c.mac, sizeof(mac)) == 0 && c.has_mac;
	OPENSSL_cleanse(mac, sizeof(mac));
	c.locked_until = 0;
	if (!match) {
		o->result = ENROLCODE_WRONG;
		o->reason = c.has_mac ? "wrong_code" : "no_code";
	} else if (c.used != 0) {
		o->result = ENROLCODE_USED;
		o->reason = "used";
	} else if (c.expires <= (int64_t)now) {
		o->result = ENROLCODE_EXPIRED;
		o->reason = "expired";
	} else {
		rc = store_totp_get(st, user, &t, err, errlen);
		if (rc != 0 && rc != STORE_NOTFOUND)
			return -1;
		active = rc == 0 && strcmp(t.state, STORE_TOTP_ACTIVE) == 0;
		if (active && !c.force) {
			/* Not the user's fault: the code stays usable for
			 * when the administrator resets the secret. */
			o->result = ENROLCODE_ACTIVE;
			o->reason = "active";
			o->failures = c.failures;
			return 0;
		}
		if (stepup_enroll_pending(su, st, user, c.force, now, secret,
		    err, errlen) != 0)
			return -1;
		o->result = ENROLCODE_REDEEMED;
		o->issued = c.issued;
		o->forced = c.force;
		o->replaced = secret->replaced;
		c.used = (int64_t)now;
		c.failures = 0;
		c.lock_count = 0;
	}
	if (o->result != ENROLCODE_REDEEMED) {
		c.failures++;
		if (c.failures >= lim->max_failures) {
			uint64_t d = stepup_lock_seconds(lim, c.lock_count);

			o->result = ENROLCODE_LOCKOUT;
			o->retry_after = d;
			c.locked_until = (int64_t)now + (int64_t)d;
			c.lock_count++;
			c.failures = 0;
		}
	}
	o->failures = c.failures;
	o->lock_count = c.lock_count;
	o->locked_until = c.locked_until;
	rc = store_enrol_code_put(st, &c, err, errlen);
	OPENSSL_cleanse(&c, sizeof(c));
	if (rc != 0) {
		OPENSSL_cleanse(secret, sizeof(*secret));
		return -1;
	}
	return 0;
}
