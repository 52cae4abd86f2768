/*
 * webmsg — what a browser is told about a refusal: the HTTP status that
 * goes with a machine code of the request layer, and a Japanese sentence
 * saying what happened and what to do.
 *
 * The request layer's messages are English and often carry the numbers
 * of the case (a limit, a size); the Japanese sentence is per code (and,
 * for a policy refusal, per reason), so a page shows both: Japanese first,
 * the broker's English second. A code without its own sentence gets a
 * general one that still names the code, never an empty message.
 *
 * Pure: static tables, no state.
 */
#ifndef SEKISHO_WEBMSG_H
#define SEKISHO_WEBMSG_H

/* The HTTP status for an error code (400 for an unknown one). */
int webmsg_status(const char *code);

/*
 * The Japanese sentence for code; reason (a policy refusal's reason, e.g.
 * "class_too_high") may be NULL. Never NULL.
 */
const char *webmsg_ja(const char *code, const char *reason);

#endif
