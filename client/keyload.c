/*
 * keyload — see keyload.h.
 *
 * OpenSSL asks for a passphrase only when the PEM block is encrypted, through
 * the callback given to PEM_read_PrivateKey; the callback records whether it
 * was asked, so that a failure can be told apart: "wrong passphrase" after it
 * was asked, "not a key" before.
 */
#include "client/keyload.h"
#include "lib/util.h"

#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/pem.h>

struct pass {
	const char *key;		/* for the prompt and messages */
	const char *file;		/* NULL: ask on the terminal */
	int asked;			/* OpenSSL wanted a passphrase */
	struct i18n_msg why;		/* why none could be given */
};

/*
 * util_open_key_file refused path (what: N_("key") or N_("key passphrase
 * file")) with uerr, English, which en keeps as it is. The decision is
 * util's; this only looks again at the file to say the same in the user's
 * language (a file changed in between gets a less precise text, never a
 * different decision).
 */
static int
open_refused(struct i18n_msg *err, const char *what, const char *path,
    const char *uerr)
{
	struct stat sb;

	snprintf(err->en, sizeof(err->en), "%s", uerr);
	if (lstat(path, &sb) != 0)
		/* TRANSLATORS: "key" or "key passphrase file", the path,
		 * the system's reason. */
		snprintf(err->text, sizeof(err->text), _("%s %s: cannot open "
		    "it (%s)"), _(what), path, strerror(errno));
	else if (S_ISLNK(sb.st_mode))
		snprintf(err->text, sizeof(err->text), _("%s %s: is a symbolic "
		    "link; give the file itself"), _(what), path);
	else if (!S_ISREG(sb.st_mode))
		snprintf(err->text, sizeof(err->text), _("%s %s: not a regular "
		    "file"), _(what), path);
	else if ((sb.st_mode & 077) != 0)
		snprintf(err->text, sizeof(err->text), _("%s %s: mode %04o lets "
		    "group or others access it; chmod 600 it (and consider "
		    "what it holds disclosed)"), _(what), path,
		    (unsigned)(sb.st_mode & 07777));
	else {
		/* Mode and type are fine: the open itself failed (not
		 * permitted to read it, say). */
		int fd = open(path, O_RDONLY | O_NOFOLLOW | O_CLOEXEC |
		    O_NOCTTY | O_NONBLOCK);

		if (fd == -1)
			snprintf(err->text, sizeof(err->text), _("%s %s: "
			    "cannot open it (%s)"), _(what), path,
			    strerror(errno));
		else {
			close(fd);
			snprintf(err->text, sizeof(err->text), "%s", uerr);
		}
	}
	return -1;
}

int
keyload_read_passphrase_file(const char *file, char *buf, size_t buflen,
    struct i18n_msg *err)
{
	char uerr[sizeof(err->en)];
	ssize_t n;
	size_t len = 0;
	int fd;
	char *nl;

	if ((fd = util_open_key_file("key passphrase file", file, 1, NULL,
	    uerr, sizeof(uerr))) == -1)
		return open_refused(err, N_("key passphrase file"), file, uerr);
	while (len + 1 < buflen &&
	    (n = read(fd, buf + len, buflen - 1 - len)) != 0) {
		if (n < 0) {
			if (errno == EINTR)
				continue;
			i18n_msg_set(err, N_("key passphrase file %s: %s"),
			    file, strerror(errno));
			close(fd);
			OPENSSL_cleanse(buf, buflen);
			return -1;
		}
		len += (size_t)n;
	}
	close(fd);
	buf[len] = '\0';
	if ((nl = memchr(buf, '\n', len)) != NULL) {
		len = (size_t)(nl - buf);
		if (len > 0 && buf[len - 1] == '\r')
			len--;
	} else if (len + 1 >= buflen) {
		OPENSSL_cleanse(buf, buflen);
		return i18n_msg_set(err, N_("key passphrase file %s: longer "
		    "than %zu bytes"), file, buflen - 1);
	}
	OPENSSL_cleanse(buf + len, buflen - len);
	if (len == 0)
		return i18n_msg_set(err, N_("key passphrase file %s: the "
		    "first line is empty"), file);
	return (int)len;
}

/*
 * Asks on the controlling terminal; -1 with why filled. The terminal is put
 * in non-canonical mode without echo and without signal keys, so that the
 * interrupt key is seen here: the terminal is restored first and the
 * interrupt raised after, instead of leaving the user's terminal silent.
 */
static int
ask_terminal(struct pass *p, char *buf, int size)
{
	struct termios old, quiet;
	char prompt[4200];
	ssize_t n;
	int fd, len = 0, restored, interrupted = 0;
	unsigned char c;

	if ((fd = open("/dev/tty", O_RDWR | O_NOCTTY | O_CLOEXEC)) == -1) {
		i18n_msg_set(&p->why, N_("the key is encrypted and there is "
		    "no terminal to ask for its passphrase on; give "
		    "--key-passphrase-file FILE (or key_passphrase_file in "
		    "the configuration)"));
		return -1;
	}
	if (tcgetattr(fd, &old) != 0) {
		close(fd);
		i18n_msg_set(&p->why, N_("the key is encrypted and the "
		    "terminal cannot be set up to ask for its passphrase"));
		return -1;
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL | ICANON | ISIG);
	quiet.c_cc[VMIN] = 1;
	quiet.c_cc[VTIME] = 0;
	snprintf(prompt, sizeof(prompt), _("Passphrase for %s: "), p->key);
	/* Echo goes off before the prompt shows, so nothing typed at the
	 * prompt can be echoed. */
	if (tcsetattr(fd, TCSAFLUSH, &quiet) != 0 ||
	    write(fd, prompt, strlen(prompt)) < 0) {
		tcsetattr(fd, TCSAFLUSH, &old);
		close(fd);
		i18n_msg_set(&p->why, N_("the key is encrypted and the "
		    "terminal cannot be set up to ask for its passphrase"));
		return -1;
	}
	for (;;) {
		n = read(fd, &c, 1);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0 || c == '\n' || c == '\r')
			break;
		if (c == old.c_cc[VINTR] || c == old.c_cc[VQUIT] ||
		    (c == old.c_cc[VEOF] && len == 0)) {
			interrupted = c != old.c_cc[VEOF];
			len = 0;
			break;
		}
		if (c == old.c_cc[VERASE] || c == 0x7f || c == 0x08) {
			/* A whole UTF-8 character: its continuation bytes
			 * too. */
			while (len > 0 && (buf[--len] & 0xc0) == 0x80)
				;
			continue;
		}
		if (c == old.c_cc[VKILL]) {
			len = 0;
			continue;
		}
		if (c < 0x20)		/* other control keys: not typed text */
			continue;
		if (len + 1 < size)
			buf[len++] = (char)c;
	}
	c = 0;
	restored = tcsetattr(fd, TCSAFLUSH, &old) == 0;
	(void)!write(fd, "\n", 1);
	close(fd);
	if (interrupted) {
		OPENSSL_cleanse(buf, (size_t)size);
		raise(SIGINT);
	}
	if (!restored || len == 0) {
		OPENSSL_cleanse(buf, (size_t)size);
		i18n_msg_set(&p->why, N_("no passphrase was given for the "
		    "encrypted key"));
		return -1;
	}
	return len;
}

static int
pass_cb(char *buf, int size, int rwflag, void *u)
{
	struct pass *p = u;

	(void)rwflag;
	p->asked = 1;
	if (size <= 1)
		return -1;
	if (p->file == NULL)
		return ask_terminal(p, buf, size);
	return keyload_read_passphrase_file(p->file, buf, (size_t)size,
	    &p->why);
}

int
keyload_private_key(const char *path, const char *passphrase_file,
    EVP_PKEY **out, struct i18n_msg *err)
{
	char uerr[sizeof(err->en)];
	struct pass p;
	FILE *f;
	EVP_PKEY *k;
	int fd;

	*out = NULL;
	memset(&p, 0, sizeof(p));
	p.key = path;
	p.file = passphrase_file;
	/* The same rule as every private key of the project, encrypted or
	 * not: a key others can read is a key others may already have. */
	if ((fd = util_open_key_file("key", path, 1, NULL, uerr,
	    sizeof(uerr))) == -1)
		return open_refused(err, N_("key"), path, uerr);
	if ((f = fdopen(fd, "r")) == NULL) {
		close(fd);
		return i18n_msg_set(err, N_("key %s: %s"), path,
		    strerror(errno));
	}
	k = PEM_read_PrivateKey(f, NULL, pass_cb, &p);
	fclose(f);
	if (k == NULL) {
		unsigned long e = ERR_peek_last_error();
		const char *r = ERR_reason_error_string(e);

		ERR_clear_error();
		if (p.why.en[0] != '\0') {
			snprintf(err->en, sizeof(err->en), "key %s: %.384s",
			    path, p.why.en);
			snprintf(err->text, sizeof(err->text), _("key %s: %s"),
			    path, p.why.text);
			return -1;
		}
		if (p.asked)
			return i18n_msg_set(err, N_("key %s: wrong passphrase "
			    "(or the key is damaged)"), path);
		return i18n_msg_set(err, N_("key %s: not a PEM private key "
		    "(%s)"), path, r != NULL ? r : "unreadable");
	}
	*out = k;
	return 0;
}
