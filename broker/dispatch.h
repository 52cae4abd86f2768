/*
 * dispatch — runs one request of a connection through the table of
 * handlers.h: the upload in progress, the op's entry, the approvals
 * module, the principal's roles in the register in force and a fresh
 * step-up, in that order, then the entry's handler. A transport calls
 * dispatch_request for every decoded request after its own opening
 * (hello); what it refuses is answered here, the same for every
 * transport.
 *
 * Step-up (officer actions): a grant made with the same client
 * certificate no longer ago than approvals.officer_stepup_max_age is
 * enough; else a request carrying "otp" is parked while a job checks the
 * code on the commit thread, and run again from the top when it is
 * accepted (the grant recorded in b->grants). Loop thread.
 */
#ifndef SEKISHO_DISPATCH_H
#define SEKISHO_DISPATCH_H

struct reqconn;
struct wire_msg;

void dispatch_request(struct reqconn *c, const struct wire_msg *m);

#endif
