/*
 * keyload — the client's private key, encrypted or not.
 *
 * A staff terminal's key should be encrypted at rest. The passphrase comes
 * from a file the user alone can read (for scripts), or else is asked for on
 * the controlling terminal with echo off. It is never taken from the command
 * line or the environment, where other users and crash reports can see it.
 * Every copy of it is wiped once the key is decrypted.
 */
#ifndef SEKISHO_KEYLOAD_H
#define SEKISHO_KEYLOAD_H

#include <stddef.h>

#include <openssl/evp.h>

#include "client/i18n.h"

#define KEYLOAD_MAX_PASSPHRASE 1023

/*
 * Reads the PEM private key at path (PKCS#8, encrypted or not, or a
 * traditional EC/RSA key), which must be a regular file, not a symbolic
 * link, that neither group nor others can access (util_open_key_file).
 * For an encrypted key the passphrase is the first
 * line of passphrase_file when it is not NULL — the file must be a regular
 * file that neither group nor others can read — else it is asked for on
 * /dev/tty. On success *out is a key the caller frees with EVP_PKEY_free.
 * -1 with err filled (naming the file and what to do; English in err->en,
 * the user's language in err->text) on any failure: no such file, a mode
 * others can read, not a key, a wrong passphrase, no terminal to ask on.
 * The prompt on the terminal is in the user's language.
 */
int keyload_private_key(const char *path, const char *passphrase_file,
    EVP_PKEY **out, struct i18n_msg *err);

/*
 * The first line of file (without its line end) into buf, as a passphrase;
 * the checks above. Returns its length, or -1 with err filled. Exposed for
 * tests.
 */
int keyload_read_passphrase_file(const char *file, char *buf, size_t buflen,
    struct i18n_msg *err);

#endif
