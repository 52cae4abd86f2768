/*
 * approvals — the officer's commands for held transfers (`sekisho
 * approvals ls`, `sekisho approvals approve|reject TRANSFER`, also
 * spelled `sekisho approve|reject TRANSFER`, `sekisho approvals open
 * TRANSFER -o FILE`). The plumbing every such command shares is in
 * ocli.h.
 *
 * The client only asks: who may approve what is decided by the broker.
 */
#ifndef SEKISHO_APPROVALS_CLI_H
#define SEKISHO_APPROVALS_CLI_H

#include <stdio.h>
#include <time.h>

#include "client/clientcfg.h"
#include "client/conn.h"
#include "client/failure.h"
#include "lib/wire.h"

/* argv[0] is "approvals", "approve" or "reject". Returns the exit code. */
int approvals_main(int argc, char **argv);
const char *approvals_usage(void);

#endif
