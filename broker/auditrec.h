/*
 * auditrec — an audit event captured on the event loop and appended later on
 * the commit thread. It owns copies of everything it names (fixed storage,
 * no allocation), so the connection it describes may be gone by the time the
 * record is written.
 *
 * A record may be copied by value (struct assignment): text and bytes are
 * kept as offsets into its own buffers and turned into pointers only when
 * it is appended.
 *
 * Bounds: at most AUDITREC_MAX_KV details and AUDITREC_TEXT bytes of text
 * in all; text that does not fit is cut and marked with "...", never
 * dropped silently, and binary values beyond AUDITREC_BIN are refused (the
 * record then says "truncated": true).
 */
#ifndef SEKISHO_AUDITREC_H
#define SEKISHO_AUDITREC_H

#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "broker/audit.h"
#include "broker/identity.h"

#define AUDITREC_MAX_KV 16
#define AUDITREC_TEXT 3072
#define AUDITREC_BIN 128

struct auditrec {
	char type[32];
	struct principal who;
	int has_who;
	char peer[64];
	char transfer[UTIL_ID_LEN + 1];
	char interface[65];
	char service[65];			/* the interface's cloud service */
	struct audit_kv kv[AUDITREC_MAX_KV];	/* text/bytes unset until append */
	size_t kv_off[AUDITREC_MAX_KV];		/* offset of text or bytes */
	size_t nkv;
	int truncated;
	char text[AUDITREC_TEXT];
	size_t text_used;
	uint8_t bin[AUDITREC_BIN];
	size_t bin_used;
};

/* Starts a record; who and peer may be NULL. */
void auditrec_init(struct auditrec *r, const char *type,
    const struct principal *who, const char *peer);
void auditrec_subject(struct auditrec *r, const char *transfer,
    const char *interface);

/* A record about transfer id whose actor is the transfer's owner as the
 * state knows it (user, department, terminal, certificate), for what the
 * broker writes on the owner's behalf with no connection (recovery,
 * reconciliation). t NULL: no actor, subject id alone. */
struct transfer;
void auditrec_init_owner(struct auditrec *r, const char *type,
    const char *id, const struct transfer *t);
/* The specified cloud service the subject's interface leads to. */
void auditrec_service(struct auditrec *r, const char *service);
void auditrec_text(struct auditrec *r, const char *key, const char *v);
void auditrec_uint(struct auditrec *r, const char *key, uint64_t v);
void auditrec_bool(struct auditrec *r, const char *key, int v);
void auditrec_bytes(struct auditrec *r, const char *key, const uint8_t *v,
    size_t len);

/* Appends r to the log (commit thread). */
int auditrec_append(struct auditrec *r, struct audit *a, time_t now,
    char *err, size_t errlen);

#endif
