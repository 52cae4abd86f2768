/*
 * transfers — the staff's commands on their own transfers: `sekisho
 * transfers` (the list, newest first) and `sekisho withdraw TRANSFER`
 * (end one that is held for approval or still partial); and the officer's
 * `sekisho approvals open TRANSFER -o FILE` (read a held file), which
 * approvals.c hands over here.
 *
 * The broker decides what may be listed, withdrawn or read; the client
 * only asks and shows the answer.
 */
#ifndef SEKISHO_TRANSFERS_CLI_H
#define SEKISHO_TRANSFERS_CLI_H

#include "client/ocli.h"

/* argv[0] is "transfers" or "withdraw". Returns the exit code. */
int transfers_main(int argc, char **argv);
const char *transfers_usage(void);
const char *withdraw_usage(void);

/*
 * held_open for transfer id into a new file path (never replacing one):
 * written to a temporary file beside it, checked against the SHA-256 the
 * broker announced, and linked into place only when whole. o is
 * connected. Returns the exit code (o->f filled on failure).
 */
int transfers_open_held(struct ocli *o, const char *id, const char *path);

#endif
