/*
 * i18n — the client's messages in the user's language (gettext).
 *
 * _() translates a message at the point it is shown; N_() only marks a
 * string for extraction (static tables, formats handed to failure_set,
 * which translates them itself). The catalogue is the "sekisho" text
 * domain; main calls i18n_init once before anything is printed. Without
 * a catalogue for the locale, gettext returns the English msgid, so the
 * client never depends on one being installed.
 *
 * Not translated, by design: --json output, machine codes ("disk_full"),
 * the broker's own messages (already Japanese / English) and key=value
 * log lines.
 */
#ifndef SEKISHO_I18N_H
#define SEKISHO_I18N_H

#include <libintl.h>
#include <stddef.h>
#include <stdio.h>

#define I18N_DOMAIN "sekisho"

#define _(s) dgettext(I18N_DOMAIN, s)
#define N_(s) (s)
#define P_(s, p, n) dngettext(I18N_DOMAIN, s, p, n)

/*
 * Sets the locale from the environment (LANG, LC_ALL, LANGUAGE) and binds
 * the text domain to $SEKISHO_LOCALEDIR when set (a build tree: the tests
 * and developers), else to the installed locale directory. LC_NUMERIC
 * stays "C" and libc's own messages (strerror) stay English, since they
 * also reach --json. Never fails: a missing catalogue means English.
 */
void i18n_init(void);

/*
 * 1 when the messages are shown in Japanese (the catalogue answered for
 * this locale), for the few texts kept as fixed "日本語 / English" pairs
 * elsewhere: callers show only the half that fits.
 */
int i18n_is_japanese(void);

/*
 * A message of one of the client's modules in two languages: en for
 * --json and anything a script reads, text for the terminal.
 */
struct i18n_msg {
	char en[448];		/* fits struct failure's message */
	char text[448];
};

/*
 * Formats fmt (an English msgid; mark it with N_) into m->en and its
 * translation into m->text. Returns -1, so that a failing function can
 * `return i18n_msg_set(...)`.
 */
int i18n_msg_set(struct i18n_msg *m, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

/*
 * As i18n_msg_set, for a message whose English wording stays as it was
 * (terse, e.g. "PATH: reason", which scripts may already match) while the
 * translation says more: en from en_fmt, text from the translation of
 * msgid. Both take the same arguments. Returns -1.
 */
int i18n_msg_pair(struct i18n_msg *m, const char *en_fmt, const char *msgid,
    ...) __attribute__((format(printf, 3, 4)));

/*
 * The label of a field of the broker's answers (status, approvals ls,
 * exception) in the user's language, or NULL for a field the client does
 * not know (callers show its wire name). Static storage.
 */
const char *i18n_field_label(const char *key);

/* Terminal columns that the UTF-8 text s takes (CJK counts two). */
size_t i18n_columns(const char *s);

/* Writes label to f, padded with spaces to width columns. */
void i18n_pad(FILE *f, const char *label, size_t width);

#endif
