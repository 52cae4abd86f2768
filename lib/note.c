/*
 * note — C2SP signed notes and tlog checkpoints with Ed25519; see note.h.
 *
 * The parsing rules follow golang.org/x/mod/sumdb/note (the reference
 * implementation) so that notes and keys pass between the two, with three
 * deliberate differences, all towards refusing more:
 *   - every signature line of a known key is verified, not just the first
 *     one per key, so a note never carries a bad signature we overlooked;
 *   - base64 must be canonical (padding present, unused bits zero);
 *   - a verifier list with two keys of the same name and id is refused
 *     outright rather than when a signature happens to use it.
 * Notes are parsed completely (syntax, count) before any signature is
 * checked, so a malformed note costs no public-key work.
 *
 * Crypto is OpenSSL's: Ed25519 through EVP_PKEY_ED25519 (RFC 8032,
 * deterministic), SHA-256 for key ids, RAND_priv_bytes for new seeds, and
 * EVP_EncodeBlock/EVP_DecodeBlock for base64. EVP_DecodeBlock is lenient
 * (it skips surrounding white space and counts padding as zero bytes), so
 * b64_check validates the alphabet, padding and canonical form first and
 * the decoded length is computed here, not taken from OpenSSL.
 *
 * Secrets (seeds, encoded private keys, key file contents) are wiped with
 * OPENSSL_cleanse on every path out of the functions that touch them.
 */
#include "lib/note.h"

#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/sha.h>

#include "lib/util.h"

#define EM_DASH_SP "\xe2\x80\x94 "	/* U+2014 and a space */
#define EM_DASH_SP_LEN 4
#define PRIV_PREFIX "PRIVATE+KEY+"
#define PRIV_PREFIX_LEN 12
#define KEYBLOB_LEN (1 + NOTE_PUBKEY_LEN)	/* alg byte || key */
#define SIGBLOB_LEN (4 + NOTE_SIG_LEN)		/* key id || signature */
#define B64_LEN(n) (4 * (((n) + 2) / 3))
#define B64_TMP_MAX 96		/* decoded bytes b64_decode handles */

/* --- UTF-8 and the character rules of the spec --- */

/* Decodes one UTF-8 sequence at s[0:len] into *cp; returns its length, or
 * 0 if it is not valid (overlong, surrogate, beyond U+10FFFF, truncated). */
static size_t
utf8_next(const unsigned char *s, size_t len, uint32_t *cp)
{
	uint32_t c;
	size_t n, i;

	if (len == 0)
		return 0;
	c = s[0];
	if (c < 0x80) {
		*cp = c;
		return 1;
	}
	if (c >= 0xc2 && c <= 0xdf) {
		n = 2;
		c &= 0x1f;
	} else if (c >= 0xe0 && c <= 0xef) {
		n = 3;
		c &= 0x0f;
	} else if (c >= 0xf0 && c <= 0xf4) {
		n = 4;
		c &= 0x07;
	} else
		return 0;
	if (len < n)
		return 0;
	for (i = 1; i < n; i++) {
		if ((s[i] & 0xc0) != 0x80)
			return 0;
		c = c << 6 | (s[i] & 0x3f);
	}
	if ((n == 3 && c < 0x800) || (n == 4 && (c < 0x10000 ||
	    c > 0x10ffff)) || (c >= 0xd800 && c <= 0xdfff))
		return 0;
	*cp = c;
	return n;
}

/* Valid UTF-8 with no ASCII control character other than newline. */
static int
text_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t i = 0, n;

	while (i < len) {
		if ((n = utf8_next(p + i, len - i, &cp)) == 0)
			return 0;
		if (cp < 0x20 && cp != '\n')
			return 0;
		i += n;
	}
	return 1;
}

/* Unicode White_Space, as Go's unicode.IsSpace (which the reference
 * implementation uses for key names). */
static int
is_space(uint32_t c)
{
	switch (c) {
	case '\t': case '\n': case '\v': case '\f': case '\r': case ' ':
	case 0x85: case 0xa0: case 0x1680: case 0x2028: case 0x2029:
	case 0x202f: case 0x205f: case 0x3000:
		return 1;
	}
	return c >= 0x2000 && c <= 0x200a;
}

/* Key name rule of the spec: non-empty UTF-8, no space, no '+'. We also
 * refuse control characters (a note cannot carry them anyway). */
static int
name_ok(const char *s, size_t len)
{
	const unsigned char *p = (const unsigned char *)s;
	uint32_t cp;
	size_t i = 0, n;

	if (len == 0)
		return 0;
	while (i < len) {
		if ((n = utf8_next(p + i, len - i, &cp)) == 0)
			return 0;
		if (cp < 0x20 || cp == '+' || is_space(cp))
			return 0;
		i += n;
	}
	return 1;
}

int
note_name_valid(const char *name)
{
	size_t len;

	if (name == NULL)
		return 0;
	len = strnlen(name, NOTE_NAME_MAX + 1);
	return len <= NOTE_NAME_MAX && name_ok(name, len);
}

/* --- base64 (RFC 4648 §4, padded) --- */

static int
b64val(unsigned char c)
{
	if (c >= 'A' && c <= 'Z')
		return c - 'A';
	if (c >= 'a' && c <= 'z')
		return c - 'a' + 26;
	if (c >= '0' && c <= '9')
		return c - '0' + 52;
	if (c == '+')
		return 62;
	if (c == '/')
		return 63;
	return -1;
}

/* Is in[0:len] canonical padded base64 of at least one byte? Gives the
 * decoded length. */
static int
b64_check(const char *in, size_t len, size_t *declen)
{
	size_t pad = 0, i;
	int v;

	if (len == 0 || len % 4 != 0)
		return -1;
	if (in[len - 1] == '=')
		pad = in[len - 2] == '=' ? 2 : 1;
	for (i = 0; i < len - pad; i++)
		if (b64val((unsigned char)in[i]) < 0)
			return -1;
	/* The last data character may not carry bits past the end. */
	v = b64val((unsigned char)in[len - pad - 1]);
	if ((pad == 1 && (v & 0x03) != 0) || (pad == 2 && (v & 0x0f) != 0))
		return -1;
	*declen = len / 4 * 3 - pad;
	return 0;
}

/* Decodes canonical base64 in[0:len] into out[outcap]. */
static int
b64_decode(const char *in, size_t len, uint8_t *out, size_t outcap,
    size_t *outlen)
{
	uint8_t tmp[B64_TMP_MAX];
	size_t declen;
	int n;

	if (b64_check(in, len, &declen) == -1 || declen > outcap ||
	    len / 4 * 3 > sizeof(tmp))
		return -1;
	n = EVP_DecodeBlock(tmp, (const unsigned char *)in, (int)len);
	if (n < 0 || (size_t)n != len / 4 * 3) {
		OPENSSL_cleanse(tmp, sizeof(tmp));
		return -1;
	}
	memcpy(out, tmp, declen);
	OPENSSL_cleanse(tmp, sizeof(tmp));
	*outlen = declen;
	return 0;
}

/* Encodes in[0:n] into out, which must hold B64_LEN(n) + 1 bytes. */
static size_t
b64_encode(const uint8_t *in, size_t n, char *out)
{
	return (size_t)EVP_EncodeBlock((unsigned char *)out, in, (int)n);
}

static uint32_t
get_be32(const uint8_t *p)
{
	return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 |
	    (uint32_t)p[2] << 8 | p[3];
}

static void
put_be32(uint8_t *p, uint32_t v)
{
	p[0] = (uint8_t)(v >> 24);
	p[1] = (uint8_t)(v >> 16);
	p[2] = (uint8_t)(v >> 8);
	p[3] = (uint8_t)v;
}

/* --- keys --- */

static int
key_id_n(const char *name, size_t namelen, const uint8_t pub[NOTE_PUBKEY_LEN],
    uint32_t *id)
{
	uint8_t buf[NOTE_NAME_MAX + 2 + NOTE_PUBKEY_LEN];
	uint8_t md[SHA256_DIGEST_LENGTH];

	if (namelen > NOTE_NAME_MAX)
		return -1;
	memcpy(buf, name, namelen);
	buf[namelen] = '\n';
	buf[namelen + 1] = NOTE_ALG_ED25519;
	memcpy(buf + namelen + 2, pub, NOTE_PUBKEY_LEN);
	if (SHA256(buf, namelen + 2 + NOTE_PUBKEY_LEN, md) == NULL)
		return -1;
	*id = get_be32(md);
	return 0;
}

int
note_key_id(const char *name, const uint8_t pub[NOTE_PUBKEY_LEN],
    uint32_t *id)
{
	return key_id_n(name, strnlen(name, NOTE_NAME_MAX + 1), pub, id);
}

/* The Ed25519 public key of a seed. */
static int
seed_public(const uint8_t seed[NOTE_SEED_LEN], uint8_t pub[NOTE_PUBKEY_LEN])
{
	EVP_PKEY *pkey;
	size_t len = NOTE_PUBKEY_LEN;
	int ok;

	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
	    NOTE_SEED_LEN);
	if (pkey == NULL)
		return -1;
	ok = EVP_PKEY_get_raw_public_key(pkey, pub, &len) == 1 &&
	    len == NOTE_PUBKEY_LEN;
	EVP_PKEY_free(pkey);
	return ok ? 0 : -1;
}

int
note_key_generate(const char *name, struct note_signer *sk, char *err,
    size_t errlen)
{
	memset(sk, 0, sizeof(*sk));
	if (!note_name_valid(name))
		return util_err(err, errlen, "note: invalid key name");
	if (RAND_priv_bytes(sk->seed, NOTE_SEED_LEN) != 1) {
		note_signer_clear(sk);
		return util_err(err, errlen, "note: random generator failed");
	}
	if (seed_public(sk->seed, sk->pub) == -1 ||
	    note_key_id(name, sk->pub, &sk->id) == -1) {
		note_signer_clear(sk);
		return util_err(err, errlen, "note: Ed25519 key setup failed");
	}
	memcpy(sk->name, name, strlen(name) + 1);
	return 0;
}

void
note_signer_verifier(const struct note_signer *sk, struct note_verifier *vk)
{
	memset(vk, 0, sizeof(*vk));
	memcpy(vk->name, sk->name, sizeof(vk->name));
	vk->id = sk->id;
	memcpy(vk->pub, sk->pub, NOTE_PUBKEY_LEN);
}

void
note_signer_clear(struct note_signer *sk)
{
	OPENSSL_cleanse(sk, sizeof(*sk));
}

/*
 * Common part of both key encodings: "<name>+<8 hex>+<base64 blob>" in
 * s[0:len]. The blob (alg byte || 32 key bytes) goes to blob; it may be
 * secret, so the caller wipes it.
 */
static int
key_split(const char *s, size_t len, char name[NOTE_NAME_MAX + 1],
    uint32_t *id, uint8_t blob[KEYBLOB_LEN], char *err, size_t errlen)
{
	const char *plus, *b64;
	char hex[9];
	uint8_t idb[4];
	size_t namelen, bloblen;

	if ((plus = memchr(s, '+', len)) == NULL)
		return util_err(err, errlen, "note: malformed key");
	namelen = (size_t)(plus - s);
	if (namelen > NOTE_NAME_MAX || !name_ok(s, namelen))
		return util_err(err, errlen, "note: invalid key name");
	if (len - namelen - 1 < 9 || plus[9] != '+')
		return util_err(err, errlen, "note: malformed key id");
	memcpy(hex, plus + 1, 8);
	hex[8] = '\0';
	if (util_unhex(hex, idb, 4) == -1)
		return util_err(err, errlen, "note: malformed key id");
	b64 = plus + 10;
	if (b64_decode(b64, len - (size_t)(b64 - s), blob, KEYBLOB_LEN,
	    &bloblen) == -1 || bloblen != KEYBLOB_LEN)
		return util_err(err, errlen, "note: malformed key data");
	if (blob[0] != NOTE_ALG_ED25519)
		return util_err(err, errlen, "note: unknown key algorithm %u",
		    blob[0]);
	memcpy(name, s, namelen);
	name[namelen] = '\0';
	*id = get_be32(idb);
	return 0;
}

static int
no_nul(const char *s, size_t len)
{
	return memchr(s, '\0', len) == NULL;
}

int
note_verifier_parse(const char *text, size_t len, struct note_verifier *vk,
    char *err, size_t errlen)
{
	uint8_t blob[KEYBLOB_LEN];
	uint32_t want;

	memset(vk, 0, sizeof(*vk));
	if (len > NOTE_KEY_TEXT_MAX || !no_nul(text, len))
		return util_err(err, errlen, "note: malformed key");
	if (key_split(text, len, vk->name, &vk->id, blob, err, errlen) == -1)
		return -1;
	memcpy(vk->pub, blob + 1, NOTE_PUBKEY_LEN);
	if (note_key_id(vk->name, vk->pub, &want) == -1)
		return util_err(err, errlen, "note: SHA-256 failed");
	if (want != vk->id)
		return util_err(err, errlen, "note: key id %08" PRIx32
		    " does not match the key of %s", vk->id, vk->name);
	return 0;
}

int
note_verifier_format(const struct note_verifier *vk, char *out, size_t outlen,
    char *err, size_t errlen)
{
	uint8_t blob[KEYBLOB_LEN];
	char b64[B64_LEN(KEYBLOB_LEN) + 1];
	int n;

	if (!note_name_valid(vk->name))
		return util_err(err, errlen, "note: invalid key name");
	blob[0] = NOTE_ALG_ED25519;
	memcpy(blob + 1, vk->pub, NOTE_PUBKEY_LEN);
	b64_encode(blob, sizeof(blob), b64);
	n = snprintf(out, outlen, "%s+%08" PRIx32 "+%s", vk->name, vk->id, b64);
	if (n < 0 || (size_t)n >= outlen)
		return util_err(err, errlen, "note: key does not fit");
	return 0;
}

int
note_signer_parse(const char *text, size_t len, struct note_signer *sk,
    char *err, size_t errlen)
{
	uint8_t blob[KEYBLOB_LEN];
	uint32_t want;
	int rc = -1;

	memset(sk, 0, sizeof(*sk));
	if (len > NOTE_KEY_TEXT_MAX || !no_nul(text, len) ||
	    len < PRIV_PREFIX_LEN || memcmp(text, PRIV_PREFIX,
	    PRIV_PREFIX_LEN) != 0) {
		util_err(err, errlen, "note: malformed private key");
		goto out;
	}
	if (key_split(text + PRIV_PREFIX_LEN, len - PRIV_PREFIX_LEN, sk->name,
	    &sk->id, blob, err, errlen) == -1)
		goto out;
	memcpy(sk->seed, blob + 1, NOTE_SEED_LEN);
	if (seed_public(sk->seed, sk->pub) == -1 ||
	    note_key_id(sk->name, sk->pub, &want) == -1) {
		util_err(err, errlen, "note: Ed25519 key setup failed");
		goto out;
	}
	if (want != sk->id) {
		util_err(err, errlen, "note: private key id does not match "
		    "the key of %s", sk->name);
		goto out;
	}
	rc = 0;
out:
	OPENSSL_cleanse(blob, sizeof(blob));
	if (rc == -1)
		note_signer_clear(sk);
	return rc;
}

int
note_signer_format(const struct note_signer *sk, char *out, size_t outlen,
    char *err, size_t errlen)
{
	uint8_t blob[KEYBLOB_LEN];
	char b64[B64_LEN(KEYBLOB_LEN) + 1];
	int n;

	if (!note_name_valid(sk->name))
		return util_err(err, errlen, "note: invalid key name");
	blob[0] = NOTE_ALG_ED25519;
	memcpy(blob + 1, sk->seed, NOTE_SEED_LEN);
	b64_encode(blob, sizeof(blob), b64);
	n = snprintf(out, outlen, PRIV_PREFIX "%s+%08" PRIx32 "+%s", sk->name,
	    sk->id, b64);
	OPENSSL_cleanse(blob, sizeof(blob));
	OPENSSL_cleanse(b64, sizeof(b64));
	if (n < 0 || (size_t)n >= outlen) {
		OPENSSL_cleanse(out, outlen);
		return util_err(err, errlen, "note: key does not fit");
	}
	return 0;
}

/* Reads a small key file into buf[cap]; strips one final newline. */
static int
read_key_file(const char *path, int secret, char *buf, size_t cap,
    size_t *len, char *err, size_t errlen)
{
	size_t got = 0;
	ssize_t n;
	int fd;

	if ((fd = util_open_key_file(NULL, path, secret, NULL, err,
	    errlen)) == -1)
		return -1;
	for (;;) {
		n = read(fd, buf + got, cap - got);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			util_err(err, errlen, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		got += (size_t)n;
		if (got == cap) {
			util_err(err, errlen, "%s: too large for a key", path);
			goto fail;
		}
	}
	close(fd);
	if (got > 0 && buf[got - 1] == '\n')
		got--;
	*len = got;
	return 0;
fail:
	close(fd);
	OPENSSL_cleanse(buf, cap);
	return -1;
}

static int
write_key_file(const char *path, mode_t mode, const char *text, size_t len,
    char *err, size_t errlen)
{
	size_t off = 0;
	ssize_t n;
	int fd;

	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
	    mode);
	if (fd == -1)
		return util_err(err, errlen, "%s: %s", path, strerror(errno));
	/* The umask may have narrowed the mode; never let it widen. */
	if (fchmod(fd, mode) == -1)
		goto fail;
	while (off < len) {
		n = write(fd, text + off, len - off);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1)
			goto fail;
		off += (size_t)n;
	}
	if (fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	return 0;
fail:
	util_err(err, errlen, "%s: %s", path, strerror(errno));
	if (fd != -1)
		close(fd);
	unlink(path);
	return -1;
}

int
note_verifier_load(const char *path, struct note_verifier *vk, char *err,
    size_t errlen)
{
	char buf[NOTE_KEY_TEXT_MAX + 2];
	size_t len;

	memset(vk, 0, sizeof(*vk));
	if (read_key_file(path, 0, buf, sizeof(buf), &len, err, errlen) == -1)
		return -1;
	if (note_verifier_parse(buf, len, vk, err, errlen) == -1)
		return -1;
	return 0;
}

int
note_verifier_save(const char *path, const struct note_verifier *vk,
    char *err, size_t errlen)
{
	char buf[NOTE_KEY_TEXT_MAX + 2];
	size_t len;

	if (note_verifier_format(vk, buf, sizeof(buf) - 1, err, errlen) == -1)
		return -1;
	len = strlen(buf);
	buf[len++] = '\n';
	return write_key_file(path, 0644, buf, len, err, errlen);
}

int
note_signer_load(const char *path, struct note_signer *sk, char *err,
    size_t errlen)
{
	char buf[NOTE_KEY_TEXT_MAX + 2];
	size_t len;
	int rc;

	memset(sk, 0, sizeof(*sk));
	if (read_key_file(path, 1, buf, sizeof(buf), &len, err, errlen) == -1)
		return -1;
	rc = note_signer_parse(buf, len, sk, err, errlen);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

int
note_signer_save(const char *path, const struct note_signer *sk, char *err,
    size_t errlen)
{
	char buf[NOTE_KEY_TEXT_MAX + 2];
	size_t len;
	int rc;

	if (note_signer_format(sk, buf, sizeof(buf) - 1, err, errlen) == -1)
		return -1;
	len = strlen(buf);
	buf[len++] = '\n';
	rc = write_key_file(path, 0600, buf, len, err, errlen);
	OPENSSL_cleanse(buf, sizeof(buf));
	return rc;
}

/* --- Ed25519 --- */

static int
ed25519_sign(const uint8_t seed[NOTE_SEED_LEN], const char *msg, size_t len,
    uint8_t sig[NOTE_SIG_LEN])
{
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx = NULL;
	size_t siglen = NOTE_SIG_LEN;
	int ok = 0;

	pkey = EVP_PKEY_new_raw_private_key(EVP_PKEY_ED25519, NULL, seed,
	    NOTE_SEED_LEN);
	if (pkey == NULL)
		return -1;
	if ((ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestSignInit(ctx, NULL, NULL, NULL, pkey) == 1 &&
	    EVP_DigestSign(ctx, sig, &siglen, (const unsigned char *)msg,
	    len) == 1 && siglen == NOTE_SIG_LEN)
		ok = 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return ok ? 0 : -1;
}

/* 1 if valid, 0 if not, -1 if OpenSSL could not run the check. */
static int
ed25519_verify(const uint8_t pub[NOTE_PUBKEY_LEN], const char *msg,
    size_t len, const uint8_t sig[NOTE_SIG_LEN])
{
	EVP_PKEY *pkey;
	EVP_MD_CTX *ctx = NULL;
	int rc = -1;

	pkey = EVP_PKEY_new_raw_public_key(EVP_PKEY_ED25519, NULL, pub,
	    NOTE_PUBKEY_LEN);
	if (pkey == NULL)
		return 0;	/* not a point on the curve: no signature is valid */
	if ((ctx = EVP_MD_CTX_new()) != NULL &&
	    EVP_DigestVerifyInit(ctx, NULL, NULL, NULL, pkey) == 1)
		rc = EVP_DigestVerify(ctx, sig, NOTE_SIG_LEN,
		    (const unsigned char *)msg, len) == 1;
	EVP_MD_CTX_free(ctx);
	EVP_PKEY_free(pkey);
	return rc;
}

/* --- notes --- */

int
note_sign(const char *text, size_t len, const struct note_signer *sk,
    char **out, size_t *outlen, char *err, size_t errlen)
{
	uint8_t blob[SIGBLOB_LEN];
	char b64[B64_LEN(SIGBLOB_LEN) + 1];
	size_t namelen, b64len, total, off;
	char *buf;

	*out = NULL;
	*outlen = 0;
	if (!note_name_valid(sk->name))
		return util_err(err, errlen, "note: invalid signer name");
	if (len > NOTE_MAX_SIZE)
		return util_err(err, errlen, "note: text too long");
	if (len == 0 || text[len - 1] != '\n')
		return util_err(err, errlen, "note: text must end in a newline");
	if (!text_ok(text, len))
		return util_err(err, errlen, "note: text is not UTF-8 or "
		    "contains control characters");
	namelen = strlen(sk->name);
	total = len + 1 + EM_DASH_SP_LEN + namelen + 1 + B64_LEN(SIGBLOB_LEN)
	    + 1;
	if (total > NOTE_MAX_SIZE)
		return util_err(err, errlen, "note: text too long (max %u "
		    "bytes with signatures)", NOTE_MAX_SIZE);
	put_be32(blob, sk->id);
	if (ed25519_sign(sk->seed, text, len, blob + 4) == -1)
		return util_err(err, errlen, "note: Ed25519 signing failed");
	b64len = b64_encode(blob, sizeof(blob), b64);
	if ((buf = malloc(total + 1)) == NULL)
		return util_err(err, errlen, "note: out of memory");
	memcpy(buf, text, len);
	off = len;
	buf[off++] = '\n';
	memcpy(buf + off, EM_DASH_SP, EM_DASH_SP_LEN);
	off += EM_DASH_SP_LEN;
	memcpy(buf + off, sk->name, namelen);
	off += namelen;
	buf[off++] = ' ';
	memcpy(buf + off, b64, b64len);
	off += b64len;
	buf[off++] = '\n';
	buf[off] = '\0';
	*out = buf;
	*outlen = off;
	return 0;
}

/* One parsed signature line; name and b64 point into the note. */
struct sigline {
	const char *name;
	size_t namelen;
	const char *b64;
	size_t b64len;
	size_t declen;
	uint32_t id;
};

/* Parses line[0:len] (without its newline). */
static int
sigline_parse(const char *line, size_t len, struct sigline *sl)
{
	const char *sp;
	uint8_t head[6];
	size_t n;

	if (len < EM_DASH_SP_LEN || memcmp(line, EM_DASH_SP,
	    EM_DASH_SP_LEN) != 0)
		return -1;
	line += EM_DASH_SP_LEN;
	len -= EM_DASH_SP_LEN;
	if ((sp = memchr(line, ' ', len)) == NULL)
		return -1;
	sl->name = line;
	sl->namelen = (size_t)(sp - line);
	sl->b64 = sp + 1;
	sl->b64len = len - sl->namelen - 1;
	if (!name_ok(sl->name, sl->namelen))
		return -1;
	if (b64_check(sl->b64, sl->b64len, &sl->declen) == -1 ||
	    sl->declen < 5)
		return -1;
	/* Only the key id is needed to tell known from unknown keys, and
	 * unknown signatures may be long (post-quantum): decode 8 chars. */
	if (b64_decode(sl->b64, 8, head, sizeof(head), &n) == -1 || n < 4)
		return -1;
	sl->id = get_be32(head);
	return 0;
}

static int
key_match(const struct note_verifier *k, const struct sigline *sl)
{
	return k->id == sl->id && strlen(k->name) == sl->namelen &&
	    memcmp(k->name, sl->name, sl->namelen) == 0;
}

int
note_open(const char *msg, size_t len, const struct note_verifier *keys,
    size_t nkeys, struct note_result *res, uint8_t *verified, char *err,
    size_t errlen)
{
	struct sigline sl;
	const char *sigs, *line, *nl, *end;
	uint8_t blob[SIGBLOB_LEN];
	uint8_t *hit = NULL;
	size_t i, j, split, textlen, nlines, n;
	int rc = -1, v;

	memset(res, 0, sizeof(*res));
	if (verified != NULL && nkeys > 0)
		memset(verified, 0, nkeys);
	for (i = 0; i < nkeys; i++)
		for (j = i + 1; j < nkeys; j++)
			if (keys[i].id == keys[j].id &&
			    strcmp(keys[i].name, keys[j].name) == 0)
				return util_err(err, errlen, "note: key %s+%08"
				    PRIx32 " is listed twice", keys[i].name,
				    keys[i].id);
	if (len > NOTE_MAX_SIZE)
		return util_err(err, errlen, "note: larger than %u bytes",
		    NOTE_MAX_SIZE);
	if (!text_ok(msg, len))
		return util_err(err, errlen, "note: malformed: not UTF-8 or "
		    "contains control characters");

	/* The text ends at the last blank line. */
	for (split = len; split >= 2; split--)
		if (msg[split - 2] == '\n' && msg[split - 1] == '\n')
			break;
	if (split < 2)
		return util_err(err, errlen, "note: malformed: no blank line "
		    "before the signatures");
	textlen = split - 1;
	sigs = msg + split;
	end = msg + len;
	if (sigs == end || end[-1] != '\n')
		return util_err(err, errlen, "note: malformed: signature "
		    "block missing or not ending in a newline");

	/* Pass 1: syntax and count, before any public-key work. */
	nlines = 0;
	for (line = sigs; line < end; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(end - line));
		if (++nlines > NOTE_MAX_SIGS)
			return util_err(err, errlen, "note: malformed: more "
			    "than %d signatures", NOTE_MAX_SIGS);
		if (sigline_parse(line, (size_t)(nl - line), &sl) == -1)
			return util_err(err, errlen, "note: malformed "
			    "signature line %zu", nlines);
	}

	/* Pass 2: verify every line of a known key. */
	if (nkeys > 0 && (hit = calloc(nkeys, 1)) == NULL)
		return util_err(err, errlen, "note: out of memory");
	for (line = sigs; line < end; line = nl + 1) {
		nl = memchr(line, '\n', (size_t)(end - line));
		(void)sigline_parse(line, (size_t)(nl - line), &sl);
		for (i = 0; i < nkeys; i++)
			if (key_match(&keys[i], &sl))
				break;
		if (i == nkeys) {
			res->nunknown++;
			continue;
		}
		if (sl.declen != SIGBLOB_LEN || b64_decode(sl.b64, sl.b64len,
		    blob, sizeof(blob), &n) == -1) {
			util_err(err, errlen, "note: invalid signature for key "
			    "%s+%08" PRIx32, keys[i].name, keys[i].id);
			goto out;
		}
		v = ed25519_verify(keys[i].pub, msg, textlen, blob + 4);
		if (v == -1) {
			util_err(err, errlen, "note: Ed25519 verification "
			    "failed to run");
			goto out;
		}
		if (v == 0) {
			util_err(err, errlen, "note: invalid signature for key "
			    "%s+%08" PRIx32, keys[i].name, keys[i].id);
			goto out;
		}
		hit[i] = 1;
	}
	for (i = 0; i < nkeys; i++)
		if (hit[i]) {
			res->nverified++;
			if (verified != NULL)
				verified[i] = 1;
		}
	if (res->nverified == 0) {
		util_err(err, errlen, "note: no signature by a known key");
		goto out;
	}
	res->textlen = textlen;
	rc = 0;
out:
	free(hit);
	if (rc == -1) {
		memset(res, 0, sizeof(*res));
		if (verified != NULL && nkeys > 0)
			memset(verified, 0, nkeys);
	}
	return rc;
}

/* --- checkpoints --- */

/* Extension lines: non-empty, valid text, the last ending in newline. */
static int
ext_ok(const char *ext, size_t len)
{
	size_t i;

	if (len == 0)
		return 1;
	if (ext[0] == '\n' || ext[len - 1] != '\n' || !text_ok(ext, len))
		return 0;
	for (i = 1; i < len; i++)
		if (ext[i] == '\n' && ext[i - 1] == '\n')
			return 0;
	return 1;
}

int
note_checkpoint_format(const char *origin, uint64_t size,
    const uint8_t root[NOTE_HASH_LEN], const char *ext, size_t extlen,
    char *out, size_t outlen, size_t *len, char *err, size_t errlen)
{
	char b64[B64_LEN(NOTE_HASH_LEN) + 1];
	int n;

	*len = 0;
	if (!note_name_valid(origin) || strlen(origin) > NOTE_ORIGIN_MAX)
		return util_err(err, errlen, "checkpoint: invalid origin");
	if (!ext_ok(ext, extlen))
		return util_err(err, errlen, "checkpoint: invalid extension "
		    "lines");
	b64_encode(root, NOTE_HASH_LEN, b64);
	n = snprintf(out, outlen, "%s\n%" PRIu64 "\n%s\n", origin, size, b64);
	if (n < 0 || (size_t)n >= outlen || outlen - (size_t)n <= extlen)
		return util_err(err, errlen, "checkpoint: buffer too small");
	if (extlen > 0)
		memcpy(out + n, ext, extlen);
	out[(size_t)n + extlen] = '\0';
	*len = (size_t)n + extlen;
	return 0;
}

int
note_checkpoint_parse(const char *text, size_t len,
    struct note_checkpoint *cp, char *err, size_t errlen)
{
	const char *p = text, *end = text + len, *nl;
	size_t n;
	uint64_t v;

	memset(cp, 0, sizeof(*cp));
	if (len == 0 || text[len - 1] != '\n' || !text_ok(text, len))
		return util_err(err, errlen, "checkpoint: text not UTF-8 "
		    "lines ending in a newline");

	/* Origin. */
	nl = memchr(p, '\n', (size_t)(end - p));
	n = (size_t)(nl - p);
	if (n == 0 || n > NOTE_ORIGIN_MAX)
		return util_err(err, errlen, "checkpoint: origin empty or "
		    "longer than %d bytes", NOTE_ORIGIN_MAX);
	memcpy(cp->origin, p, n);
	cp->origin[n] = '\0';
	p = nl + 1;

	/* Tree size: decimal, no sign, no leading zero, fits uint64_t. */
	if (p == end || (nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
		return util_err(err, errlen, "checkpoint: missing tree size");
	n = (size_t)(nl - p);
	if (n == 0 || n > 20 || (n > 1 && p[0] == '0'))
		return util_err(err, errlen, "checkpoint: malformed tree size");
	if (util_parse_digits(p, n, &v) != 0)
		return util_err(err, errlen, "checkpoint: malformed tree size");
	cp->size = v;
	p = nl + 1;

	/* Root hash. */
	if (p == end || (nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
		return util_err(err, errlen, "checkpoint: missing root hash");
	if (b64_decode(p, (size_t)(nl - p), cp->root, sizeof(cp->root),
	    &n) == -1 || n != NOTE_HASH_LEN)
		return util_err(err, errlen, "checkpoint: root hash is not "
		    "32 bytes of base64");
	p = nl + 1;

	if (!ext_ok(p, (size_t)(end - p)))
		return util_err(err, errlen, "checkpoint: empty extension "
		    "line");
	cp->ext_off = (size_t)(p - text);
	cp->ext_len = (size_t)(end - p);
	return 0;
}

int
note_checkpoint_sign(const struct note_signer *sk, const char *origin,
    uint64_t size, const uint8_t root[NOTE_HASH_LEN], char **out,
    size_t *outlen, char *err, size_t errlen)
{
	char text[NOTE_ORIGIN_MAX + 128];
	size_t len;

	*out = NULL;
	*outlen = 0;
	if (note_checkpoint_format(origin, size, root, NULL, 0, text,
	    sizeof(text), &len, err, errlen) == -1)
		return -1;
	return note_sign(text, len, sk, out, outlen, err, errlen);
}

int
note_checkpoint_open(const char *msg, size_t len,
    const struct note_verifier *keys, size_t nkeys, const char *origin,
    struct note_checkpoint *cp, char *err, size_t errlen)
{
	struct note_result res;

	memset(cp, 0, sizeof(*cp));
	if (note_open(msg, len, keys, nkeys, &res, NULL, err, errlen) == -1)
		return -1;
	if (note_checkpoint_parse(msg, res.textlen, cp, err, errlen) == -1)
		return -1;
	if (origin != NULL && strcmp(cp->origin, origin) != 0) {
		util_err(err, errlen, "checkpoint: origin is not %s", origin);
		memset(cp, 0, sizeof(*cp));
		return -1;
	}
	return 0;
}
