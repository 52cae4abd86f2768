/*
 * note — C2SP signed notes (c2sp.org/signed-note) with Ed25519, and the
 * transparency log checkpoints carried in them (c2sp.org/tlog-checkpoint).
 *
 * A signed note is a text ending in a newline, a blank line, then one or
 * more signature lines:
 *
 *   <text, ending in \n>
 *   \n
 *   — <key name> <base64(4-byte key id || 64-byte Ed25519 signature)>\n
 *
 * (the dash is U+2014 EM DASH). The whole note is valid UTF-8 with no ASCII
 * control characters other than newline. The key id is the first four bytes
 * (big-endian) of SHA-256(key name || 0x0A || 0x01 || 32-byte public key).
 *
 * Keys are written as golang.org/x/mod/sumdb/note writes them:
 *   verifier  <name>+<8 hex key id>+<base64(0x01 || public key)>
 *   signer    PRIVATE+KEY+<name>+<8 hex key id>+<base64(0x01 || seed)>
 * so keys and notes interoperate with that package and with the Go
 * transparency tooling built on it.
 *
 * A checkpoint is a note whose text is
 *   <origin>\n<tree size, decimal>\n<base64 root hash>\n[extension lines]
 *
 * Secrets: struct note_signer holds the Ed25519 seed; wipe it with
 * note_signer_clear. Nothing in this module logs or prints; error messages
 * never contain key material. Functions return 0 on success and -1 with a
 * message in err, unless said otherwise.
 */
#ifndef SEKISHO_NOTE_H
#define SEKISHO_NOTE_H

#include <stddef.h>
#include <stdint.h>

#define NOTE_MAX_SIZE (1u << 20)	/* bytes of a whole signed note */
#define NOTE_MAX_SIGS 100		/* signature lines in one note */
#define NOTE_NAME_MAX 255		/* bytes of a key name (our bound) */
#define NOTE_ORIGIN_MAX 255		/* bytes of a checkpoint origin */
#define NOTE_KEY_TEXT_MAX 512		/* encoded verifier or signer key */
#define NOTE_ALG_ED25519 0x01		/* C2SP signature type byte */
#define NOTE_PUBKEY_LEN 32
#define NOTE_SEED_LEN 32
#define NOTE_SIG_LEN 64
#define NOTE_HASH_LEN 32		/* checkpoint root hash */

/* A public key that notes are checked against. */
struct note_verifier {
	char name[NOTE_NAME_MAX + 1];
	uint32_t id;
	uint8_t pub[NOTE_PUBKEY_LEN];
};

/* A private key. seed is secret: never log it, wipe with note_signer_clear. */
struct note_signer {
	char name[NOTE_NAME_MAX + 1];
	uint32_t id;
	uint8_t pub[NOTE_PUBKEY_LEN];
	uint8_t seed[NOTE_SEED_LEN];
};

/* What note_open found. The verified text is msg[0:textlen] (it ends in a
 * newline and is not NUL-terminated). */
struct note_result {
	size_t textlen;
	size_t nverified;	/* distinct known keys whose signature verified */
	size_t nunknown;	/* signature lines of unknown keys (ignored) */
};

/* A parsed checkpoint. Extension lines, if any, are text[ext_off:ext_off +
 * ext_len] of the text that was parsed (each line non-empty, ending in \n). */
struct note_checkpoint {
	char origin[NOTE_ORIGIN_MAX + 1];
	uint64_t size;
	uint8_t root[NOTE_HASH_LEN];
	size_t ext_off;
	size_t ext_len;
};

/* --- keys --- */

/* True when name is a valid key name: 1..NOTE_NAME_MAX bytes of UTF-8 with
 * no Unicode space, no '+' and no control character. */
int note_name_valid(const char *name);

/* The C2SP key id of an Ed25519 key: -1 only if SHA-256 fails. */
int note_key_id(const char *name, const uint8_t pub[NOTE_PUBKEY_LEN],
    uint32_t *id);

/* A fresh key pair named name, from OpenSSL's CSPRNG. */
int note_key_generate(const char *name, struct note_signer *sk,
    char *err, size_t errlen);

/* The verifier (public half) of a signer. */
void note_signer_verifier(const struct note_signer *sk,
    struct note_verifier *vk);

/* Wipes the secret (and everything else) in sk. */
void note_signer_clear(struct note_signer *sk);

/* Parses an encoded verifier key (text[0:len], no newline). Refuses a bad
 * name, a key id that is not 8 hex digits or does not match the key, an
 * algorithm other than Ed25519, and non-canonical base64. */
int note_verifier_parse(const char *text, size_t len,
    struct note_verifier *vk, char *err, size_t errlen);

/* Writes the encoded verifier key, NUL-terminated, into out[outlen]. */
int note_verifier_format(const struct note_verifier *vk, char *out,
    size_t outlen, char *err, size_t errlen);

/* Parses an encoded signer key; the key id must match the public key
 * derived from the seed. */
int note_signer_parse(const char *text, size_t len, struct note_signer *sk,
    char *err, size_t errlen);

/* Writes the encoded signer key (secret!) into out[outlen]. The caller
 * wipes out (OPENSSL_cleanse) when done with it. */
int note_signer_format(const struct note_signer *sk, char *out,
    size_t outlen, char *err, size_t errlen);

/* Key files hold one encoded key, optionally followed by one newline.
 * Loading refuses symlinks, non-regular files and files over
 * NOTE_KEY_TEXT_MAX bytes; a signer file must not be accessible to group or
 * others (mode & 077 == 0). Saving creates a new file (refusing to replace
 * an existing one) with mode 0600 for a signer, 0644 for a verifier, and
 * fsyncs it; a half-written file is removed. */
int note_verifier_load(const char *path, struct note_verifier *vk,
    char *err, size_t errlen);
int note_verifier_save(const char *path, const struct note_verifier *vk,
    char *err, size_t errlen);
int note_signer_load(const char *path, struct note_signer *sk,
    char *err, size_t errlen);
int note_signer_save(const char *path, const struct note_signer *sk,
    char *err, size_t errlen);

/* --- notes --- */

/* Signs text[0:len] (must end in a newline, be valid UTF-8 without control
 * characters other than newline, and leave room for the signature within
 * NOTE_MAX_SIZE). *out receives a malloc'd signed note of *outlen bytes,
 * also NUL-terminated; the caller frees it. Ed25519 is deterministic: the
 * same key and text always give the same note. */
int note_sign(const char *text, size_t len, const struct note_signer *sk,
    char **out, size_t *outlen, char *err, size_t errlen);

/*
 * Opens the signed note msg[0:len] against nkeys known keys.
 *   - refused as malformed: over NOTE_MAX_SIZE, not UTF-8, control
 *     characters, no blank line before the signatures, a signature block not
 *     ending in newline, a line that is not a well-formed signature line,
 *     more than NOTE_MAX_SIGS signature lines;
 *   - signature lines whose (name, key id) matches no known key are counted
 *     in nunknown and otherwise ignored;
 *   - every signature line of a known key must verify, or the whole note is
 *     refused (duplicates included);
 *   - at least one known key must have signed.
 * keys must not contain two entries with the same name and id. If verified
 * is not NULL it has nkeys entries and verified[i] is set to 1 when keys[i]
 * signed the note, 0 otherwise.
 */
int note_open(const char *msg, size_t len, const struct note_verifier *keys,
    size_t nkeys, struct note_result *res, uint8_t *verified,
    char *err, size_t errlen);

/* --- checkpoints --- */

/* Writes a checkpoint text into out[outlen] (NUL-terminated, *len bytes
 * without the NUL). origin must satisfy note_name_valid (so it can also be
 * the signing key's name). ext (may be NULL when extlen is 0) is appended
 * as extension lines: each non-empty, the last ending in a newline. */
int note_checkpoint_format(const char *origin, uint64_t size,
    const uint8_t root[NOTE_HASH_LEN], const char *ext, size_t extlen,
    char *out, size_t outlen, size_t *len, char *err, size_t errlen);

/* Parses a checkpoint text text[0:len] strictly: non-empty origin of at
 * most NOTE_ORIGIN_MAX bytes, size in decimal without sign or leading
 * zeros that fits in uint64_t, root exactly 32 bytes of canonical base64,
 * extension lines non-empty, text ending in a newline. */
int note_checkpoint_parse(const char *text, size_t len,
    struct note_checkpoint *cp, char *err, size_t errlen);

/* Formats and signs a checkpoint without extension lines (see note_sign for
 * *out). The origin is usually the key's name. */
int note_checkpoint_sign(const struct note_signer *sk, const char *origin,
    uint64_t size, const uint8_t root[NOTE_HASH_LEN], char **out,
    size_t *outlen, char *err, size_t errlen);

/* Opens a signed checkpoint (note_open) and parses its text. If origin is
 * not NULL the checkpoint's origin must equal it. */
int note_checkpoint_open(const char *msg, size_t len,
    const struct note_verifier *keys, size_t nkeys, const char *origin,
    struct note_checkpoint *cp, char *err, size_t errlen);

#endif
