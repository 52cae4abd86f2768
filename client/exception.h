/*
 * exception — `sekisho exception request|grant|refuse|revoke|confirm|ls`:
 * time-boxed exceptions (例外措置) for staff and approval officers, and
 * the inventory export (CSV) for the periodic review (棚卸し). See
 * docs/officers.md.
 */
#ifndef SEKISHO_EXCEPTION_CLI_H
#define SEKISHO_EXCEPTION_CLI_H

/* argv[0] is "exception". Returns the exit code. */
int exception_main(int argc, char **argv);
const char *exception_usage(void);

#endif
