/*
 * put — uploads one local file to the broker through an interface.
 *
 * The file is read with a fixed buffer (never whole into memory), hashed
 * with SHA-256 while it is sent in data chunks of min(max_chunk, 1 MiB),
 * and finished with end{sha256}; success is the broker's "stored" whose
 * size and hash match what was sent.
 *
 * Resume: the transfer id of an unfinished upload is kept in the resume
 * state (see resume.h) from the moment the broker answers "ready" until
 * "stored" or a refusal that makes resuming pointless. A later run with the
 * same file, interface and class resumes it; within one run a broken
 * connection is retried with exponential backoff (1, 2, 4, ... s, capped)
 * and the upload resumes from the broker's durable offset. "busy" answers
 * are retried the same way, honouring the broker's retry_after.
 * A resume the broker answers with "stored" (it stored the transfer, but
 * the answer to end was lost) is success when size and SHA-256 match the
 * whole file (res->state is the transfer's state now), hash_mismatch when
 * they do not; the file is never sent again under a new id.
 *
 * Step-up: when the broker answers step_up_required, the put is sent again
 * with a one-time code (see otp.h for where it comes from). A code typed
 * at the terminal may be retyped after step_up_failed (PUT_OTP_TRIES in
 * all); a code from --otp is used once. "locked" ends the run.
 */
#ifndef SEKISHO_PUT_H
#define SEKISHO_PUT_H

#include <stdint.h>
#include <stdio.h>

#include "client/clientcfg.h"
#include "client/failure.h"
#include "lib/util.h"

#define PUT_MAX_RETRIES 100
#define PUT_BACKOFF_CAP 30		/* seconds between reconnects, at most */
#define PUT_RETRY_AFTER_CAP 300		/* largest retry_after honoured */
#define PUT_OTP_TRIES 3			/* codes asked for at the terminal */

struct put_opts {
	const char *file;		/* local path */
	const char *interface;
	const char *name;		/* NULL: basename of file */
	const char *purpose;		/* NULL: "" */
	uint64_t class;
	unsigned retries;		/* reconnect attempts after a break */
	int no_resume;			/* ignore (and replace) saved state */
	int progress;			/* draw a progress bar on notices */
	const char *state_dir;		/* resume state dir; NULL: none kept */
	const char *software;		/* hello's software string */
	FILE *notices;			/* where reconnect notices go (stderr) */
	const char *otp;		/* --otp: a code, "-" (stdin), or NULL
					   (ask at the terminal when needed) */
};

struct put_result {
	char transfer[UTIL_ID_LEN + 1];
	uint64_t size;
	char sha256[UTIL_SHA256_HEX + 1];
	int resumed;			/* started at an offset > 0 */
	char state[16];			/* "stored", or "held" while approval
					   officers decide; after a lost
					   answer, the state now */
};

/* Runs the upload. Returns SEKISHO_EXIT_OK with res filled, or another
 * SEKISHO_EXIT_* with f describing the failure. */
int put_run(const struct clientcfg *cfg, const struct put_opts *o,
    struct put_result *res, struct failure *f);

/* The display name of path when --name is not given: its last component
 * (trailing slashes ignored). Returns a pointer into a copy kept in out. */
const char *put_default_name(const char *path, char *out, size_t outlen);

#endif
