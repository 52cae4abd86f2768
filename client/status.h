/*
 * status — asks the broker about one earlier transfer and shows its state.
 */
#ifndef SEKISHO_STATUS_H
#define SEKISHO_STATUS_H

#include <stdio.h>

#include "client/clientcfg.h"
#include "client/failure.h"
#include "lib/wire.h"

/*
 * Sends status{transfer} and reads the answer. Returns SEKISHO_EXIT_OK with
 * *state holding the broker's "state" message (caller clears it), or
 * another SEKISHO_EXIT_* with f filled (not_found gives
 * SEKISHO_EXIT_NOTFOUND).
 */
int status_run(const struct clientcfg *cfg, const char *software,
    const char *transfer, struct wire_msg *state, struct failure *f);

/*
 * Prints a state message: as aligned "key  value" lines (values sanitised,
 * times as RFC 3339, sizes with a readable unit) or, with json, as one
 * object with every field of the message (byte strings as hex, times as
 * the numbers the broker sent).
 */
void status_print(const struct wire_msg *state, int json, FILE *out);

#endif
