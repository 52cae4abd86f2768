/*
 * i18n — see i18n.h.
 */
#include "client/i18n.h"

#include <locale.h>
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
i18n_is_japanese(void)
{
	/* TRANSLATORS: the code of the language of this catalogue ("ja");
	 * the client shows the Japanese half of the broker's
	 * "日本語 / English" messages when it is "ja". */
	return strcmp(_("en"), "ja") == 0;
}
