/*
 * i18n — see i18n.h.
 */
#include "client/i18n.h"

#include <locale.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#ifndef SEKISHO_LOCALEDIR
#define SEKISHO_LOCALEDIR "/usr/local/share/locale"
#endif

void
i18n_init(void)
{
	const char *dir = getenv("SEKISHO_LOCALEDIR");

	setlocale(LC_ALL, "");
	/* Numbers are written the same in every language (progress, sizes;
	 * a locale's decimal comma would change them). */
	setlocale(LC_NUMERIC, "C");
	bindtextdomain(I18N_DOMAIN, dir != NULL && dir[0] == '/' ? dir :
	    SEKISHO_LOCALEDIR);
	/* strerror and gai_strerror stay English: their text goes into the
	 * --json "message" too, which must not depend on the locale. A
	 * directory that cannot exist leaves libc without a catalogue. */
	bindtextdomain("libc", "/dev/null/none");
	bind_textdomain_codeset(I18N_DOMAIN, "UTF-8");
	textdomain(I18N_DOMAIN);
}

int
i18n_msg_set(struct i18n_msg *m, const char *fmt, ...)
{
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(m->en, sizeof(m->en), fmt, ap);
	va_end(ap);
	va_start(ap, fmt);
	vsnprintf(m->text, sizeof(m->text), _(fmt), ap);
	va_end(ap);
	return -1;
}

int
i18n_msg_pair(struct i18n_msg *m, const char *en_fmt, const char *msgid, ...)
{
	va_list ap;

	va_start(ap, msgid);
	vsnprintf(m->en, sizeof(m->en), en_fmt, ap);
	va_end(ap);
	va_start(ap, msgid);
	vsnprintf(m->text, sizeof(m->text), _(msgid), ap);
	va_end(ap);
	return -1;
}

int
i18n_is_japanese(void)
{
	/* TRANSLATORS: the code of the language of this catalogue ("ja");
	 * the client shows the Japanese half of the broker's
	 * "日本語 / English" messages when it is "ja". */
	return strcmp(_("en"), "ja") == 0;
}

/* The fields of the broker's answers that the client shows as "label
 * value" lines (status, approvals ls, exception): the wire name and its
 * label. TRANSLATORS: these are column labels; keep them short. */
static const char *const field_labels[][2] = {
	{ "transfer", N_("transfer") }, { "state", N_("state") },
	{ "interface", N_("interface") }, { "name", N_("name") },
	{ "class", N_("class") }, { "size", N_("size") },
	{ "received", N_("received") }, { "sha256", N_("sha256") },
	{ "created", N_("created") }, { "updated", N_("updated") },
	{ "error", N_("error") }, { "attempts", N_("attempts") },
	{ "last_error", N_("last_error") },
	{ "upstream_status", N_("upstream_status") }, { "etag", N_("etag") },
	{ "version_id", N_("version_id") },
	{ "upstream_bytes", N_("upstream_bytes") },
	{ "upstream_duration_ms", N_("upstream_duration_ms") },
	{ "approval", N_("approval") }, { "approvals", N_("approvals") },
	{ "required", N_("required") }, { "comment", N_("comment") },
	{ "user", N_("user") }, { "dept", N_("dept") },
	{ "terminal", N_("terminal") }, { "purpose", N_("purpose") },
	{ "expires", N_("expires") }, { "approvers", N_("approvers") },
	{ "voted", N_("voted") }, { "exception", N_("exception") },
	{ "status", N_("status") }, { "emergency", N_("emergency") },
	{ "users", N_("users") }, { "groups", N_("groups") },
	{ "max_size", N_("max_size") }, { "max_count", N_("max_count") },
	{ "uses", N_("uses") }, { "hours", N_("hours") },
	{ "extensions", N_("extensions") }, { "valid_from", N_("valid_from") },
	{ "valid_until", N_("valid_until") }, { "reason", N_("reason") },
	{ "requester", N_("requester") }, { "granted_by", N_("granted_by") },
	{ "granted", N_("granted") }, { "grant_comment", N_("grant_comment") },
	{ "confirm_by", N_("confirm_by") },
	{ "confirmed_by", N_("confirmed_by") },
	{ "confirm_comment", N_("confirm_comment") }, { "ended", N_("ended") },
	{ "ended_by", N_("ended_by") }, { "end_reason", N_("end_reason") },
};

const char *
i18n_field_label(const char *key)
{
	size_t i;

	for (i = 0; i < sizeof(field_labels) / sizeof(field_labels[0]); i++)
		if (strcmp(key, field_labels[i][0]) == 0)
			return _(field_labels[i][1]);
	return NULL;
}

size_t
i18n_columns(const char *s)
{
	size_t w = 0;

	/* Valid UTF-8 assumed (output_sanitize made it so): a 3- or 4-byte
	 * sequence is CJK text, two columns; ASCII and 2-byte ones, one. */
	for (; *s != '\0'; s++) {
		unsigned char c = (unsigned char)*s;

		if (c < 0x80)
			w++;
		else if (c >= 0xe0)
			w += 2;
		else if (c >= 0xc0)
			w++;
	}
	return w;
}

void
i18n_pad(FILE *f, const char *label, size_t width)
{
	size_t w = i18n_columns(label);

	fputs(label, f);
	for (; w < width; w++)
		fputc(' ', f);
}
