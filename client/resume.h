/*
 * resume — local memory of unfinished uploads, so a broken or interrupted
 * upload continues where the broker's durable copy ends.
 *
 * One small file per upload in the state directory
 * ($XDG_STATE_HOME/sekisho/uploads, default ~/.local/state/sekisho/uploads;
 * directories 0700, files 0600). The file name is the key: the hex SHA-256
 * of the upload's identity (real path, size, mtime in ns, interface,
 * class), so the same file sent again to the same place finds its transfer
 * id, while a file that changed in between does not. The file holds the
 * transfer id and a newline.
 *
 * Nothing here prints; failures come back in err, in the user's language:
 * they are only ever shown on the terminal, as warnings (an upload goes
 * on without its resume state), never in --json.
 */
#ifndef SEKISHO_RESUME_H
#define SEKISHO_RESUME_H

#include <stddef.h>
#include <stdint.h>

#include "lib/util.h"

#define RESUME_KEY_LEN UTIL_SHA256_HEX

/*
 * The key: lowercase hex SHA-256 over
 *   realpath NUL size NUL mtime_ns NUL interface NUL class NUL
 * with numbers in decimal. NUL cannot occur inside any field, so distinct
 * tuples never share an input. -1 only if hashing fails.
 */
int resume_key(const char *realpath, uint64_t size, int64_t mtime_ns,
    const char *interface, uint64_t class, char out[RESUME_KEY_LEN + 1]);

/*
 * The state directory from the two environment values (either may be
 * NULL): xdg_state_home if it is absolute (per the XDG spec a relative one
 * is ignored), else home/.local/state; then "/sekisho/uploads".
 * -1 with err when neither is usable or the result does not fit.
 */
int resume_dir(const char *xdg_state_home, const char *home, char *out,
    size_t outlen, char *err, size_t errlen);

/* Reads the transfer id stored under key. Returns 1 with id filled, 0 when
 * there is none (a malformed file counts as none and is removed), -1 with
 * err on an I/O error or a state file that is not a regular file. */
int resume_load(const char *dir, const char *key, char id[UTIL_ID_LEN + 1],
    char *err, size_t errlen);

/* Stores id under key, creating dir (and missing parents) as 0700. The
 * write is atomic (temporary file, then rename). -1 with err. */
int resume_save(const char *dir, const char *key, const char *id,
    char *err, size_t errlen);

/* Removes the state for key; absent is not an error. -1 with err. */
int resume_drop(const char *dir, const char *key, char *err, size_t errlen);

#endif
