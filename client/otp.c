/*
 * otp — see otp.h.
 *
 * The terminal is opened as /dev/tty so that a prompt still works when
 * stdin is a file being uploaded from a pipe or stdout is captured for
 * --json. Echo is switched off for the read and restored on every path.
 */
#include "client/otp.h"
#include "lib/util.h"

#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <string.h>
#include <termios.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define LINE_MAX_OTP 128	/* bytes of one typed line, at most */

int
otp_normalize(const char *in, char out[OTP_MAX + 1])
{
	size_t n = 0;

	for (; *in != '\0'; in++) {
		if (*in == ' ' || *in == '-' || *in == '\t' || *in == '\r' ||
		    *in == '\n')
			continue;
		if (*in < '0' || *in > '9' || n == OTP_MAX) {
			OPENSSL_cleanse(out, OTP_MAX + 1);
			return -1;
		}
		out[n++] = *in;
	}
	out[n] = '\0';
	if (n < 6) {
		OPENSSL_cleanse(out, OTP_MAX + 1);
		return -1;
	}
	return 0;
}

/* Reads one line (without its newline) from fd, at most len-1 bytes; the
 * rest of a longer line is consumed and makes it an error. */
static int
read_line(int fd, char *buf, size_t len)
{
	size_t n = 0;
	int too_long = 0;
	ssize_t r;
	char c;

	for (;;) {
		r = read(fd, &c, 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return -1;
		if (r == 0) {
			if (n == 0 && !too_long)
				return -1;
			break;
		}
		if (c == '\n')
			break;
		if (n + 1 < len)
			buf[n++] = c;
		else
			too_long = 1;
	}
	buf[n] = '\0';
	return too_long ? -1 : 0;
}

static int
from_tty(const char *prompt, char *line, size_t len, struct i18n_msg *err)
{
	struct termios old, quiet;
	int fd, rc, e;

	fd = open("/dev/tty", O_RDWR | O_CLOEXEC | O_NOCTTY);
	if (fd == -1)
		return i18n_msg_set(err, N_("this transfer needs a one-time "
		    "code and there is no terminal to ask for it; give --otp "
		    "CODE, or --otp - to read it from standard input"));
	if (tcgetattr(fd, &old) != 0) {
		close(fd);
		return i18n_msg_set(err, N_("cannot use the terminal: %s"),
		    strerror(errno));
	}
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	quiet.c_lflag |= ICANON;
	if (write(fd, prompt, strlen(prompt)) < 0 ||
	    tcsetattr(fd, TCSAFLUSH, &quiet) != 0) {
		e = errno;
		tcsetattr(fd, TCSAFLUSH, &old);
		close(fd);
		return i18n_msg_set(err, N_("cannot use the terminal: %s"),
		    strerror(e));
	}
	rc = read_line(fd, line, len);
	tcsetattr(fd, TCSAFLUSH, &old);
	if (write(fd, "\n", 1) < 0) {
		/* The newline is cosmetic; the code was read. */
	}
	close(fd);
	if (rc != 0)
		return i18n_msg_set(err, N_("no one-time code was entered"));
	return 0;
}

int
otp_read(const char *src, const char *prompt, char out[OTP_MAX + 1],
    struct i18n_msg *err)
{
	char line[LINE_MAX_OTP];
	int rc;

	if (src == NULL)
		rc = from_tty(prompt, line, sizeof(line), err);
	else if (strcmp(src, "-") == 0) {
		rc = read_line(STDIN_FILENO, line, sizeof(line));
		if (rc != 0)
			i18n_msg_set(err, N_("--otp -: no one-time code on "
			    "standard input"));
	} else
		rc = util_strlcpy(line, src, sizeof(line)) == 0 ? 0 :
		    i18n_msg_set(err, N_("--otp: not a one-time code"));
	if (rc == 0 && otp_normalize(line, out) != 0)
		rc = i18n_msg_set(err, N_("a one-time code is 6 digits (as "
		    "your authenticator app shows it)"));
	OPENSSL_cleanse(line, sizeof(line));
	return rc;
}
