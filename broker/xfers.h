/*
 * xfers — the request-layer views the browser pages (and the command line)
 * need beside put and status (docs/protocol.md, "Own transfers and held
 * files"):
 *
 *   interfaces_ls {?after, ?limit}
 *     <- interface {...} per interface the caller may use under the
 *        register in force (policy_interface_usable), then listed
 *   transfers_ls {?after, ?limit}
 *     <- state {...} per transfer of the caller, newest first, then
 *        listed {count, ?next}
 *   withdraw {transfer, ?reason}
 *     <- state: the owner ends a transfer still receiving or held for
 *        approval ("withdrawn"); its spool copy is removed, its approval
 *        request closed, audited ("withdrawn")
 *   held_open {transfer, ?otp}             (approval officers, step-up)
 *     <- file {transfer, name, size, sha256, content_type, filename},
 *        data items (the held copy, WIRE_MAX_CHUNK each), file_done
 *        {transfer, size}; audited ("held_open") before the first byte,
 *        and "held_open_failed" when the stream does not end whole
 *
 * Part of the request layer (request.h); every function runs on the loop.
 * Store reads and the held copy's reads run on the commit thread, one
 * bounded chunk per job, paced by the client's reading (as auditpull.c).
 */
#ifndef SEKISHO_XFERS_H
#define SEKISHO_XFERS_H

struct reqconn;
struct wire_msg;

void xfers_handle_interfaces_ls(struct reqconn *c, const struct wire_msg *m);
void xfers_handle_transfers_ls(struct reqconn *c, const struct wire_msg *m);
void xfers_handle_withdraw(struct reqconn *c, const struct wire_msg *m);
void xfers_handle_held_open(struct reqconn *c, const struct wire_msg *m);

#endif
