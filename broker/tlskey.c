/*
 * tlskey — see tlskey.h.
 *
 * The delegating key uses OpenSSL's EC_KEY_METHOD, deprecated since 3.0
 * in favour of writing a provider. A provider for one remote operation
 * would be several hundred lines of dispatch tables; the method is a few
 * dozen and is what OpenSSL 3 still supports for exactly this ("foreign"
 * keys stay on the legacy path), so this file alone silences the
 * deprecation warnings.
 */
#define OPENSSL_SUPPRESS_DEPRECATED
#include "broker/tlskey.h"
#include "broker/childproc.h"
#include "broker/log.h"
#include "broker/sandbox.h"
#include "lib/util.h"

#include <sys/prctl.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/pem.h>
#include <openssl/x509.h>

#define WHO "the TLS key process"

struct tlskey {
	int fd;
	pid_t pid;
	int dead;
	char failure[256];
	EC_KEY_METHOD *meth;
	EVP_PKEY *pkey;
};

/* ---- the child ----------------------------------------------------------- */

/* A daemon's key is not encrypted: no passphrase prompt on whatever
 * terminal the broker was started from. */
static int
no_passphrase(char *buf, int size, int rwflag, void *u)
{
	(void)buf;
	(void)size;
	(void)rwflag;
	(void)u;
	return -1;
}

static void
child_refuse(int fd, const char *path, const char *what)
{
	char why[512];

	snprintf(why, sizeof(why), "tls.key %s: %s", path, what);
	childproc_send_answer(fd, CHILDPROC_REFUSED, why, strlen(why),
	    TLSKEY_MAX_ANSWER);
}

/* Signs one digest: 0 to go on, -1 to end. */
static int
child_serve_one(int fd, EVP_PKEY_CTX *ctx)
{
	uint8_t dgst[TLSKEY_MAX_DIGEST], sig[TLSKEY_MAX_ANSWER];
	size_t dlen, siglen = sizeof(sig);

	if (childproc_read_request(fd, dgst, sizeof(dgst), &dlen) != 0)
		return -1;
	if (dlen < TLSKEY_MIN_DIGEST ||
	    EVP_PKEY_sign(ctx, sig, &siglen, dgst, dlen) != 1) {
		ERR_clear_error();
		return childproc_send_answer(fd, CHILDPROC_REFUSED,
		    "cannot sign", 11, TLSKEY_MAX_ANSWER);
	}
	return childproc_send_answer(fd, CHILDPROC_OK, sig, siglen,
	    TLSKEY_MAX_ANSWER);
}

EVP_PKEY *
tlskey_read_file(const char *path, char *err, size_t errlen)
{
	EVP_PKEY *key;
	FILE *f;
	int fd;

	if ((fd = util_open_key_file("tls.key", path, 1, NULL, err,
	    errlen)) == -1)
		return NULL;
	if ((f = fdopen(fd, "r")) == NULL) {
		util_err(err, errlen, "tls.key %s: %s", path, strerror(errno));
		close(fd);
		return NULL;
	}
	key = PEM_read_PrivateKey(f, NULL, no_passphrase, NULL);
	fclose(f);
	ERR_clear_error();
	if (key == NULL)
		util_err(err, errlen, "tls.key %s: not a PEM private key (an "
		    "encrypted key cannot be used by a daemon)", path);
	return key;
}

static void
child_main(int fd, const void *arg)
{
	const char *path = arg;
	EVP_PKEY *key;
	EVP_PKEY_CTX *ctx;
	unsigned char *der = NULL;
	uint8_t dgst[32] = { 0 }, sig[TLSKEY_MAX_ANSWER];
	size_t siglen = sizeof(sig);
	char err[256];
	int len;

	if ((fd = childproc_child_setup(fd)) == -1)
		_exit(1);
	/* What ps and /proc/PID/comm show, for operators and tests. */
	(void)prctl(PR_SET_NAME, "sekishod-tlskey", 0, 0, 0);
	if ((key = tlskey_read_file(path, err, sizeof(err))) == NULL) {
		childproc_send_answer(fd, CHILDPROC_REFUSED, err, strlen(err),
		    TLSKEY_MAX_ANSWER);
		_exit(1);
	}
	if (EVP_PKEY_get_base_id(key) != EVP_PKEY_EC) {
		childproc_send_answer(fd, CHILDPROC_REFUSED, "not-ec", 6,
		    TLSKEY_MAX_ANSWER);
		EVP_PKEY_free(key);
		_exit(0);
	}
	/* One signature before the limits: whatever OpenSSL sets up lazily
	 * (its random generator among them) is set up now. */
	if ((ctx = EVP_PKEY_CTX_new(key, NULL)) == NULL ||
	    EVP_PKEY_sign_init(ctx) != 1 ||
	    EVP_PKEY_sign(ctx, sig, &siglen, dgst, sizeof(dgst)) != 1 ||
	    (len = i2d_PUBKEY(key, &der)) <= 0) {
		child_refuse(fd, path, "cannot sign with it");
		_exit(1);
	}
	childproc_child_drop();
	/* Last: from here on it can read and write its socket, use memory
	 * and exit (broker/sandbox.c). Never serve unconfined. */
	if (sandbox_enter_tlskey(fd, err, sizeof(err)) != 0) {
		child_refuse(fd, path, err);
		_exit(1);
	}
	if (childproc_send_answer(fd, CHILDPROC_OK, der, (size_t)len,
	    TLSKEY_MAX_ANSWER) == 0)
		while (child_serve_one(fd, ctx) == 0)
			;
	OPENSSL_free(der);
	EVP_PKEY_CTX_free(ctx);
	EVP_PKEY_free(key);
	_exit(0);
}

/* ---- the delegating key --------------------------------------------------- */

/* Said once: from now on every handshake fails (fail closed). */
static void
mark_dead(struct tlskey *k, const char *why)
{
	char q[300];

	if (k->dead)
		return;
	util_strlcpy(k->failure, why, sizeof(k->failure));
	k->dead = 1;
	log_kv("error", "tls_key", "reason=%s result=\"no handshake can "
	    "succeed until the broker is restarted\"",
	    log_quote(why, q, sizeof(q)));
}

/* EC_KEY_METHOD sign: DER signature into sig (ECDSA_size bytes). */
static int
remote_sign(int type, const unsigned char *dgst, int dlen,
    unsigned char *sig, unsigned int *siglen, const BIGNUM *kinv,
    const BIGNUM *r, EC_KEY *eckey)
{
	struct tlskey *k;
	char status, *payload = NULL, err[256];
	size_t len;
	int max = ECDSA_size(eckey);

	(void)type;
	(void)kinv;
	(void)r;
	*siglen = 0;
	if ((k = EC_KEY_get_ex_data(eckey, 0)) == NULL)
		return 0;
	if (k->dead || dlen < TLSKEY_MIN_DIGEST || dlen > TLSKEY_MAX_DIGEST)
		return 0;
	if (childproc_send_request(k->fd, dgst, (size_t)dlen) != 0) {
		snprintf(err, sizeof(err), "cannot reach %s (%s)", WHO,
		    strerror(errno));
		childproc_explain_end(&k->pid, WHO, err, sizeof(err));
		mark_dead(k, err);
		return 0;
	}
	if (childproc_read_answer(k->fd, WHO, TLSKEY_MAX_ANSWER,
	    TLSKEY_TIMEOUT_MS, &status, &payload, &len, err,
	    sizeof(err)) != 0) {
		childproc_explain_end(&k->pid, WHO, err, sizeof(err));
		mark_dead(k, err);
		return 0;
	}
	if (status != CHILDPROC_OK || max <= 0 || len > (size_t)max) {
		free(payload);
		return 0;
	}
	memcpy(sig, payload, len);
	*siglen = (unsigned int)len;
	free(payload);
	return 1;
}

/* EC_KEY_METHOD sign_sig: the same, as an ECDSA_SIG. */
static ECDSA_SIG *
remote_sign_sig(const unsigned char *dgst, int dlen, const BIGNUM *kinv,
    const BIGNUM *r, EC_KEY *eckey)
{
	unsigned char buf[TLSKEY_MAX_ANSWER];
	const unsigned char *p = buf;
	unsigned int len;

	if (ECDSA_size(eckey) > (int)sizeof(buf) ||
	    remote_sign(0, dgst, dlen, buf, &len, kinv, r, eckey) != 1)
		return NULL;
	return d2i_ECDSA_SIG(NULL, &p, len);
}

/* The public key the child sent, as a key whose signatures it makes. */
static int
make_pkey(struct tlskey *k, const uint8_t *der, size_t len, char *err,
    size_t errlen)
{
	const unsigned char *p = der;
	EVP_PKEY *pub;
	EC_KEY *ec = NULL;
	int (*sign_setup)(EC_KEY *, BN_CTX *, BIGNUM **, BIGNUM **) = NULL;

	if ((pub = d2i_PUBKEY(NULL, &p, (long)len)) == NULL ||
	    (ec = EVP_PKEY_get1_EC_KEY(pub)) == NULL)
		goto fail;
	EVP_PKEY_free(pub);
	pub = NULL;
	if ((k->meth = EC_KEY_METHOD_new(EC_KEY_get_default_method())) == NULL)
		goto fail;
	EC_KEY_METHOD_get_sign(k->meth, NULL, &sign_setup, NULL);
	EC_KEY_METHOD_set_sign(k->meth, remote_sign, sign_setup,
	    remote_sign_sig);
	/* Slot 0 is the application's own ("app data"): no process-wide
	 * index has to be registered for one pointer. */
	if (EC_KEY_set_method(ec, k->meth) != 1 ||
	    EC_KEY_set_ex_data(ec, 0, k) != 1 ||
	    (k->pkey = EVP_PKEY_new()) == NULL ||
	    EVP_PKEY_assign_EC_KEY(k->pkey, ec) != 1)
		goto fail;
	return 0;
fail:
	ERR_clear_error();
	EVP_PKEY_free(pub);
	EC_KEY_free(ec);
	return util_err(err, errlen, "%s sent a public key that cannot be "
	    "used", WHO);
}

/* ---- the parent ------------------------------------------------------------ */

int
tlskey_start(const char *path, struct tlskey **out, char *err, size_t errlen)
{
	struct tlskey *k;
	char status, *payload = NULL;
	size_t len;
	int rc;

	*out = NULL;
	if ((k = calloc(1, sizeof(*k))) == NULL)
		return util_err(err, errlen, "out of memory");
	if (childproc_spawn(child_main, path, WHO, TLSKEY_MAX_ANSWER,
	    TLSKEY_TIMEOUT_MS * 5, &k->fd, &k->pid, &status, &payload, &len,
	    err, errlen) != 0) {
		free(k);
		return -1;
	}
	if (status != CHILDPROC_OK) {
		rc = strcmp(payload, "not-ec") == 0 ? 1 : -1;
		if (rc == 1)
			util_err(err, errlen, "tls.key %s is not an EC key: it "
			    "stays in the broker process (issue an EC key, as "
			    "sekisho-pki does, to keep it in a process of its "
			    "own)", path);
		else
			util_err(err, errlen, "%s", payload);
		free(payload);
		tlskey_stop(k);
		return rc;
	}
	rc = make_pkey(k, (const uint8_t *)payload, len, err, errlen);
	free(payload);
	if (rc != 0) {
		tlskey_stop(k);
		return -1;
	}
	*out = k;
	return 0;
}

EVP_PKEY *
tlskey_pkey(struct tlskey *k)
{
	return k->pkey;
}

int
tlskey_alive(struct tlskey *k)
{
	int status;

	if (!k->dead && k->pid > 0 &&
	    waitpid(k->pid, &status, WNOHANG) == k->pid) {
		k->pid = -1;
		mark_dead(k, WIFSIGNALED(status) && WTERMSIG(status) == SIGSYS ?
		    "the TLS key process was killed by SIGSYS (a system call "
		    "outside its seccomp filter)" : WIFSIGNALED(status) ?
		    "the TLS key process was killed" :
		    "the TLS key process exited");
	}
	return !k->dead;
}

const char *
tlskey_failure(const struct tlskey *k)
{
	return k->dead ? k->failure : "";
}

void
tlskey_stop(struct tlskey *k)
{
	if (k == NULL)
		return;
	childproc_stop(k->fd, k->pid);
	/* Every EC_KEY using the method calls into it when freed, and into
	 * k when it signs: the broker frees its TLS contexts (which hold
	 * references to the key) before it stops the key process. */
	EVP_PKEY_free(k->pkey);
	if (k->meth != NULL)		/* it does not take NULL */
		EC_KEY_METHOD_free(k->meth);
	free(k);
}
