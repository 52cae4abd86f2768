/*
 * log — the broker's operational log: one line per event on stderr (which
 * systemd hands to journald), "key=value" pairs after a timestamp and level,
 * so operators can grep and ship them. Values that may contain spaces are
 * quoted by the caller with log_quote. Never pass secrets here.
 */
#ifndef SEKISHO_LOG_H
#define SEKISHO_LOG_H

#include <stddef.h>

/* level is "info", "warn" or "error"; fmt continues the key=value list. */
void log_kv(const char *level, const char *event, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

/* Writes a double-quoted, escaped copy of s (control characters and
 * quotes escaped, at most outlen-1 bytes) into out and returns out. */
const char *log_quote(const char *s, char *out, size_t outlen);

#endif
