/*
 * pathtmpl — where at a specified cloud service a transfer is delivered.
 *
 * An interface's `path` in the register is a template. Placeholders in
 * braces are replaced by values of the transfer:
 *
 *   {interface}  interface id          {transfer}  transfer id
 *   {user}       user id               {dept}      department id
 *   {date}       YYYY-MM-DD            {year} {month} {day}
 *   {time}       HHMMSS                {name}      the client's file name,
 *                                                   sanitised (see below)
 *
 * Dates and times are those of the transfer's creation on the wall clock
 * of the interface's time zone (the register's `timezone`, or the
 * interface's schedule.timezone), never the broker's TZ: a 01:05 upload in
 * Tokyo is filed under that day even on a broker running in UTC. Being the
 * creation time, a retry never moves the object to another day.
 * A template that ends in '/' (or is empty) names a directory: the default
 * object name "{transfer}-{name}" is appended, which is unique per transfer
 * and keeps the name the user recognises.
 *
 * The client's file name is the only value that comes from the network, so
 * it never reaches the path raw: sanitising keeps letters and digits of any
 * script (valid UTF-8 outside ASCII is kept as is), '.', '-' and '_'; every
 * other byte (slash, backslash, control characters, '%', '?', '#', quotes,
 * spaces, invalid UTF-8, ...) becomes '_'; leading dots are dropped, so the
 * result is never "." or ".." or a hidden file; it is cut to
 * PATHTMPL_NAME_MAX bytes on a character boundary; an empty result is
 * "file". Ids are tokens (A-Z a-z 0-9 . _ -) already.
 *
 * The expanded path is checked again as a whole: it starts with '/', has no
 * empty, "." or ".." segment, no backslash and no control character.
 *
 * Pure functions, no allocation. Errors: -1 with a message in err.
 */
#ifndef SEKISHO_PATHTMPL_H
#define SEKISHO_PATHTMPL_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

struct tzone;

#define PATHTMPL_MAX 1024		/* bytes of an expanded path */
#define PATHTMPL_NAME_MAX 200		/* bytes of a sanitised file name */
#define PATHTMPL_DEFAULT_NAME "{transfer}-{name}"

struct pathtmpl_vars {
	const char *interface;
	const char *transfer;
	const char *user;
	const char *dept;
	const char *name;		/* raw client file name */
	time_t created;
	const struct tzone *tz;		/* zone of {date}/{time}; NULL: UTC */
};

/* Checks a template: known placeholders, balanced braces, the rules of an
 * expanded path. -1 with the problem in err. */
int pathtmpl_check(const char *tmpl, char *err, size_t errlen);

/* Expands tmpl into out (outlen bytes, at most PATHTMPL_MAX used). */
int pathtmpl_expand(const char *tmpl, const struct pathtmpl_vars *v,
    char *out, size_t outlen, char *err, size_t errlen);

/* The sanitised form of a client file name (always NUL-terminated; out
 * must hold PATHTMPL_NAME_MAX + 1 bytes). */
void pathtmpl_sanitize_name(const char *name, char *out, size_t outlen);

/* Percent-encodes a path for a URL: every byte outside A-Z a-z 0-9 - . _ ~
 * and '/' becomes %XX (upper-case hex), which is also the canonical URI
 * form AWS Signature Version 4 expects. -1 if out is too small. */
int pathtmpl_url_encode(const char *path, char *out, size_t outlen);

#endif
