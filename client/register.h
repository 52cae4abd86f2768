/*
 * register — `sekisho register`: changes of the interface register under
 * two-person approval (register.mode approved on the broker;
 * docs/policy.md "Approved register"):
 *   propose FILE --reason TEXT [--emergency]   (admin role, step-up)
 *   ls [--state S] | show VERSION | diff VERSION
 *   approve VERSION [--comment TEXT] | reject VERSION --comment TEXT
 *                                              (register approvers, step-up)
 * The client only asks; who may do what is decided by the broker. It uses
 * the officer commands' plumbing (struct ocli, approvals.h).
 */
#ifndef SEKISHO_REGISTER_CLI_H
#define SEKISHO_REGISTER_CLI_H

/* argv[0] is "register". Returns the exit code. */
int register_main(int argc, char **argv);
const char *register_usage(void);

#endif
