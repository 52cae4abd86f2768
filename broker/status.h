/*
 * status — the handler of "status": what the broker knows of one of the
 * principal's transfers (state, sizes, delivery, an approval request), read
 * on the commit thread. Someone else's transfer is answered like a missing
 * one ("not_found"). Part of the request layer (request.h); loop thread.
 */
#ifndef SEKISHO_STATUS_H
#define SEKISHO_STATUS_H

struct reqconn;
struct store_approval;
struct transfer;
struct wire_msg;

void status_handle_request(struct reqconn *c, const struct wire_msg *m);

/* Sets the fields of a "state" message r (initialised by the caller) from
 * t and its approval request ap (NULL: none): the answer to status and
 * one item of transfers_ls. */
void status_fill_state(const struct transfer *t,
    const struct store_approval *ap, struct wire_msg *r);

#endif
