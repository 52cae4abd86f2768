/*
 * otp — where the client gets a one-time code (TOTP) for a step-up.
 *
 * Three sources: the code itself on the command line (--otp 123456), one
 * line of standard input (--otp -, for scripts), or the terminal
 * (/dev/tty, never stdin or stdout, with echo off) when neither is given.
 * Blanks and dashes a user types to group digits ("123 456") are dropped;
 * what remains must be 6 to 10 ASCII digits.
 *
 * Codes are secrets for their 30 seconds: callers wipe the buffer
 * (OPENSSL_cleanse) once it has been sent.
 */
#ifndef SEKISHO_OTP_H
#define SEKISHO_OTP_H

#include <stddef.h>

#include "client/i18n.h"

#define OTP_MAX 10		/* digits */

/* Copies in without blanks and dashes into out (OTP_MAX + 1 bytes); -1
 * when the rest is not 6..OTP_MAX digits. */
int otp_normalize(const char *in, char out[OTP_MAX + 1]);

/*
 * Gets a code: src NULL reads the terminal after writing prompt to it;
 * src "-" reads one line from stdin; anything else is the code. -1 with a
 * message in err (no terminal, end of input, not a code): English in
 * err->en, the user's language in err->text.
 */
int otp_read(const char *src, const char *prompt, char out[OTP_MAX + 1],
    struct i18n_msg *err);

#endif
