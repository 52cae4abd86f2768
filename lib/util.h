/*
 * util — small helpers shared by every part of sekisho.
 *
 * Nothing here allocates unless it says so; nothing prints. Functions that can
 * fail take an error buffer (char *err, size_t errlen) and return -1 with a
 * one-line, human-readable message in it; they return 0 on success.
 */
#ifndef SEKISHO_UTIL_H
#define SEKISHO_UTIL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#define UTIL_ID_LEN 32		/* transfer ids: 128 random bits as lowercase hex */
#define UTIL_SHA256_LEN 32
#define UTIL_SHA256_HEX 64

/* Writes a formatted message into err (always NUL-terminated when errlen > 0).
 * Returns -1 so callers can write `return util_err(err, errlen, "...")`. */
int util_err(char *err, size_t errlen, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Lowercase hex of len bytes into out, which must hold 2*len+1 bytes. */
void util_hex(const uint8_t *in, size_t len, char *out);

/* Parses exactly 2*len hex digits (either case) into out. -1 on anything else. */
int util_unhex(const char *in, uint8_t *out, size_t len);

/* A fresh transfer id (UTIL_ID_LEN hex chars + NUL) from the OS CSPRNG.
 * -1 only if the CSPRNG fails (then the caller must not proceed). */
int util_new_id(char out[UTIL_ID_LEN + 1]);

/* True when s is a well-formed transfer id: exactly UTIL_ID_LEN chars of
 * [0-9a-f]. Ids are the only thing ever used to build spool paths. */
int util_is_id(const char *s);

/* True when s is 1..maxlen chars of [A-Za-z0-9._-] and does not start with
 * '.' or '-'. Used for user, department, terminal and interface ids. */
int util_is_token(const char *s, size_t maxlen);

/* Copies src into dst of size dstlen; -1 (dst emptied) if it does not fit. */
int util_strlcpy(char *dst, const char *src, size_t dstlen);

/* RFC 3339 UTC time with seconds ("2026-11-22T01:20:23Z") into out[21]. */
void util_time_rfc3339(time_t t, char out[21]);

/* Parses exactly len decimal digits (no sign, no space; leading zeros
 * allowed) into *out. -1 when len is 0, a byte is not a digit, or the value
 * does not fit in 64 bits. */
int util_parse_digits(const char *s, size_t len, uint64_t *out);

/* Parses a size such as "1048576", "10MiB", "2GiB", "512KiB". -1 on
 * garbage, negative numbers or overflow. */
int util_parse_size(const char *s, uint64_t *out);

/* Parses a duration such as "90", "90s", "15m", "24h", "3d" into seconds. */
int util_parse_duration(const char *s, uint64_t *out);

/*
 * Opens path for reading as a file that holds a key or another secret: a
 * regular file, not reached through a symbolic link (nor a FIFO or device,
 * which could block or answer differently each time), and with secret set
 * one that neither group nor others may access. Returns the descriptor
 * (close-on-exec) and, when sb is not NULL, its fstat there; or -1 with err
 * "WHAT PATH: reason" (just "PATH: reason" when what is NULL); for the
 * mode, the reason names the mode and the fix.
 */
struct stat;
int util_open_key_file(const char *what, const char *path, int secret,
    struct stat *sb, char *err, size_t errlen);

#endif
