/*
 * auditrec — see auditrec.h. Keys are string literals from the broker's own
 * code, so only values are copied.
 */
#include "broker/auditrec.h"
#include "broker/store.h"

#include <string.h>

void
auditrec_init(struct auditrec *r, const char *type,
    const struct principal *who, const char *peer)
{
	memset(r, 0, sizeof(*r));
	util_strlcpy(r->type, type, sizeof(r->type));
	if (who != NULL) {
		r->who = *who;
		r->has_who = 1;
	}
	if (peer != NULL)
		util_strlcpy(r->peer, peer, sizeof(r->peer));
}

void
auditrec_subject(struct auditrec *r, const char *transfer,
    const char *interface)
{
	if (transfer != NULL)
		util_strlcpy(r->transfer, transfer, sizeof(r->transfer));
	if (interface != NULL)
		util_strlcpy(r->interface, interface, sizeof(r->interface));
}

void
auditrec_init_owner(struct auditrec *r, const char *type, const char *id,
    const struct transfer *t)
{
	struct principal who;

	if (t == NULL) {
		auditrec_init(r, type, NULL, NULL);
		auditrec_subject(r, id, NULL);
		return;
	}
	memset(&who, 0, sizeof(who));
	util_strlcpy(who.user, t->user, sizeof(who.user));
	util_strlcpy(who.dept, t->dept, sizeof(who.dept));
	util_strlcpy(who.terminal, t->terminal, sizeof(who.terminal));
	util_strlcpy(who.cert_fp, t->cert_fp, sizeof(who.cert_fp));
	auditrec_init(r, type, &who, NULL);
	auditrec_subject(r, id, t->interface);
}

void
auditrec_service(struct auditrec *r, const char *service)
{
	if (service != NULL)
		util_strlcpy(r->service, service, sizeof(r->service));
}

static struct audit_kv *
next_kv(struct auditrec *r, const char *key, enum audit_kv_type type)
{
	struct audit_kv *kv;

	if (r->nkv >= AUDITREC_MAX_KV) {
		r->truncated = 1;
		return NULL;
	}
	kv = &r->kv[r->nkv++];
	memset(kv, 0, sizeof(*kv));
	kv->key = key;
	kv->type = type;
	return kv;
}

void
auditrec_text(struct auditrec *r, const char *key, const char *v)
{
	size_t room = sizeof(r->text) - r->text_used, len;
	struct audit_kv *kv;
	char *dst;

	if (v == NULL || room < 4 || (kv = next_kv(r, key, AUDIT_TEXT)) == NULL) {
		r->truncated = 1;
		return;
	}
	dst = r->text + r->text_used;
	len = strlen(v);
	if (len + 1 > room) {
		/* Cut on a UTF-8 boundary so the record stays valid text. */
		len = room - 4;
		while (len > 0 && ((unsigned char)v[len] & 0xc0) == 0x80)
			len--;
		memcpy(dst, v, len);
		memcpy(dst + len, "...", 4);
		len += 3;
		r->truncated = 1;
	} else
		memcpy(dst, v, len + 1);
	r->kv_off[kv - r->kv] = r->text_used;
	r->text_used += len + 1;
}

void
auditrec_uint(struct auditrec *r, const char *key, uint64_t v)
{
	struct audit_kv *kv = next_kv(r, key, AUDIT_UINT);

	if (kv != NULL)
		kv->u = v;
}

void
auditrec_bool(struct auditrec *r, const char *key, int v)
{
	struct audit_kv *kv = next_kv(r, key, AUDIT_BOOL);

	if (kv != NULL)
		kv->u = v != 0;
}

void
auditrec_bytes(struct auditrec *r, const char *key, const uint8_t *v,
    size_t len)
{
	struct audit_kv *kv;

	if (len > sizeof(r->bin) - r->bin_used) {
		r->truncated = 1;
		return;
	}
	if ((kv = next_kv(r, key, AUDIT_BYTES)) == NULL)
		return;
	memcpy(r->bin + r->bin_used, v, len);
	r->kv_off[kv - r->kv] = r->bin_used;
	kv->len = len;
	r->bin_used += len;
}

int
auditrec_append(struct auditrec *r, struct audit *a, time_t now, char *err,
    size_t errlen)
{
	struct audit_event ev;
	size_t i;

	for (i = 0; i < r->nkv; i++) {
		if (r->kv[i].type == AUDIT_TEXT)
			r->kv[i].text = r->text + r->kv_off[i];
		else if (r->kv[i].type == AUDIT_BYTES)
			r->kv[i].bytes = r->bin + r->kv_off[i];
	}
	if (r->truncated) {
		/* With every slot taken the last detail gives way: the mark
		 * matters more than one more value. */
		struct audit_kv *kv = &r->kv[r->nkv < AUDITREC_MAX_KV ?
		    r->nkv++ : AUDITREC_MAX_KV - 1];

		memset(kv, 0, sizeof(*kv));
		kv->key = "truncated";
		kv->type = AUDIT_BOOL;
		kv->u = 1;
		r->truncated = 0;
	}
	memset(&ev, 0, sizeof(ev));
	ev.type = r->type;
	if (r->has_who) {
		ev.user = r->who.user;
		ev.dept = r->who.dept;
		ev.terminal = r->who.terminal[0] != '\0' ? r->who.terminal : NULL;
		ev.cert_fp = r->who.cert_fp[0] != '\0' ? r->who.cert_fp : NULL;
	}
	ev.peer = r->peer[0] != '\0' ? r->peer : NULL;
	ev.transfer = r->transfer[0] != '\0' ? r->transfer : NULL;
	ev.interface = r->interface[0] != '\0' ? r->interface : NULL;
	ev.service = r->service[0] != '\0' ? r->service : NULL;
	ev.details = r->kv;
	ev.ndetails = r->nkv;
	return audit_append(a, now, &ev, err, errlen);
}
