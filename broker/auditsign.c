/*
 * auditsign — see auditsign.h and docs/architecture.md ("The checkpoint
 * signer").
 *
 * The signer is deliberately small: one blocking loop over one socket, a
 * fixed-size request buffer, and the same strict checkpoint parser the
 * auditors' verifier uses. It re-formats the checkpoint from the parsed
 * values before signing, so whatever it signs is canonical text it
 * produced itself. It remembers the largest tree size it has signed (taken
 * at start from the newest checkpoint file that verifies with its own key)
 * and refuses to go below it, so even a broker process that has been taken
 * over cannot get two inconsistent histories signed for the same or a
 * smaller size.
 *
 * The child ignores SIGTERM, SIGINT and SIGHUP: a service manager that
 * signals the whole group must not stop the signer before the broker has
 * signed its shutdown checkpoint. It ends when the broker closes the socket,
 * and dies with it (PR_SET_PDEATHSIG).
 *
 * The last thing the child does before it serves is to enter its seccomp
 * filter (broker/sandbox.c): from then on it can read and write its socket,
 * use memory and exit, and any other system call kills it. A filter that
 * cannot be installed fails the start: the signer never serves unconfined.
 * When the channel fails, the parent says how the child ended, so that a
 * filter violation (SIGSYS) reads as one in the broker's log.
 */
#include "broker/auditsign.h"
#include "broker/childproc.h"
#include "broker/sandbox.h"
#include "lib/util.h"

#include <sys/prctl.h>
#include <sys/stat.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/crypto.h>

#define WHO "the signer process"
#define CP_FILE_MAX 8192

struct auditsign {
	int fd;
	pid_t pid;
};

/* ------------------------------------------------------------------ */
/* The child */

struct signer_state {
	struct note_signer sk;
	int has_floor;
	uint64_t floor_size;
	uint8_t floor_root[NOTE_HASH_LEN];
};

/* The largest checkpoint in dir that verifies with our key becomes the
 * floor. Files that do not verify are ignored here (the broker refuses
 * them itself when it opens the trail). */
static void
load_floor(struct signer_state *st, const char *dir)
{
	struct note_verifier vk;
	struct dirent *de;
	DIR *d;
	int dfd;

	note_signer_verifier(&st->sk, &vk);
	if (dir == NULL || (dfd = open(dir, O_RDONLY | O_DIRECTORY |
	    O_CLOEXEC)) == -1)
		return;
	if ((d = fdopendir(dfd)) == NULL) {
		close(dfd);
		return;
	}
	while ((de = readdir(d)) != NULL) {
		struct note_checkpoint cp;
		char buf[CP_FILE_MAX], err[128];
		ssize_t n;
		int fd;

		if (strlen(de->d_name) != 25 ||
		    strcmp(de->d_name + 20, ".note") != 0 ||
		    strspn(de->d_name, "0123456789") != 20)
			continue;
		fd = openat(dfd, de->d_name, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		if (fd == -1)
			continue;
		n = read(fd, buf, sizeof(buf));
		close(fd);
		if (n <= 0 || n == (ssize_t)sizeof(buf) ||
		    note_checkpoint_open(buf, (size_t)n, &vk, 1, st->sk.name,
		    &cp, err, sizeof(err)) != 0)
			continue;
		if (!st->has_floor || cp.size > st->floor_size) {
			st->has_floor = 1;
			st->floor_size = cp.size;
			memcpy(st->floor_root, cp.root, NOTE_HASH_LEN);
		}
	}
	closedir(d);
}

/* Loads (or generates) the key and checks the verifier file matches it.
 * *generated set when a new pair was made. */
static int
child_load_key(const struct auditsign_options *opt, struct signer_state *st,
    int *generated, char *err, size_t errlen)
{
	struct note_verifier vk, want;
	struct stat sb;

	*generated = 0;
	if (lstat(opt->signing_key, &sb) == -1 && errno == ENOENT &&
	    opt->generate) {
		if (lstat(opt->verifier_key, &sb) == 0)
			return util_err(err, errlen, "the verifier key %s exists "
			    "but the signing key %s does not: restore the "
			    "signing key or remove both to start a new key",
			    opt->verifier_key, opt->signing_key);
		if (auditsign_keygen(opt->name, opt->signing_key,
		    opt->verifier_key, err, errlen) != 0)
			return -1;
		*generated = 1;
	}
	if (note_signer_load(opt->signing_key, &st->sk, err, errlen) != 0)
		return -1;
	if (note_verifier_load(opt->verifier_key, &vk, err, errlen) != 0)
		return -1;
	note_signer_verifier(&st->sk, &want);
	if (strcmp(vk.name, want.name) != 0 || vk.id != want.id ||
	    memcmp(vk.pub, want.pub, NOTE_PUBKEY_LEN) != 0)
		return util_err(err, errlen, "the verifier key %s is not the "
		    "public half of the signing key %s", opt->verifier_key,
		    opt->signing_key);
	if (opt->name != NULL && opt->name[0] != '\0' &&
	    strcmp(opt->name, st->sk.name) != 0)
		return util_err(err, errlen, "the signing key is named \"%s\", "
		    "not \"%s\" as audit.name says", st->sk.name, opt->name);
	return 0;
}

static int
answer(int fd, char status, const char *payload, size_t len)
{
	return childproc_send_answer(fd, status, payload, len,
	    AUDITSIGN_MAX_ANSWER);
}

/* One request: 0 to go on, -1 to end the signer. */
static int
child_serve_one(int fd, struct signer_state *st)
{
	char text[AUDITSIGN_MAX_REQUEST + 1], why[256];
	struct note_checkpoint cp;
	char *note = NULL;
	size_t notelen = 0, len;
	int rc;

	rc = childproc_read_request(fd, (uint8_t *)text, AUDITSIGN_MAX_REQUEST,
	    &len);
	if (rc == -2) {
		snprintf(why, sizeof(why), "request of %zu bytes (1 to %d "
		    "accepted); the signer stops", len, AUDITSIGN_MAX_REQUEST);
		answer(fd, CHILDPROC_REFUSED, why, strlen(why));
		return -1;
	}
	if (rc != 0)
		return -1;		/* the broker closed: done */
	text[len] = '\0';
	if (note_checkpoint_parse(text, len, &cp, why, sizeof(why)) != 0)
		goto refuse;
	if (strcmp(cp.origin, st->sk.name) != 0) {
		snprintf(why, sizeof(why), "checkpoint origin is not this "
		    "key's name");
		goto refuse;
	}
	if (cp.ext_len != 0) {
		snprintf(why, sizeof(why), "checkpoint has extension lines");
		goto refuse;
	}
	if (st->has_floor && cp.size < st->floor_size) {
		snprintf(why, sizeof(why), "rollback: tree size %" PRIu64
		    " is below %" PRIu64 ", already signed", cp.size,
		    st->floor_size);
		goto refuse;
	}
	if (st->has_floor && cp.size == st->floor_size &&
	    CRYPTO_memcmp(cp.root, st->floor_root, NOTE_HASH_LEN) != 0) {
		snprintf(why, sizeof(why), "fork: tree size %" PRIu64 " was "
		    "already signed with another root", cp.size);
		goto refuse;
	}
	if (note_checkpoint_sign(&st->sk, st->sk.name, cp.size, cp.root, &note,
	    &notelen, why, sizeof(why)) != 0)
		goto refuse;
	rc = answer(fd, CHILDPROC_OK, note, notelen);
	free(note);
	if (rc != 0)
		return -1;
	st->has_floor = 1;
	st->floor_size = cp.size;
	memcpy(st->floor_root, cp.root, NOTE_HASH_LEN);
	return 0;
refuse:
	return answer(fd, CHILDPROC_REFUSED, why, strlen(why)) == 0 ? 0 : -1;
}

static void
child_main(int fd, const void *arg)
{
	const struct auditsign_options *opt = arg;
	struct signer_state st;
	struct note_verifier vk;
	char err[512], ready[NOTE_KEY_TEXT_MAX + 2];
	char *note = NULL;
	size_t notelen;
	int generated = 0;

	/* Only the channel (as fd 3) and stderr stay open. */
	if ((fd = childproc_child_setup(fd)) == -1)
		_exit(1);
	/* For ps and top, as the TLS key process is "sekishod-tlskey". */
	(void)prctl(PR_SET_NAME, "sekishod-audit", 0, 0, 0);

	memset(&st, 0, sizeof(st));
	if (child_load_key(opt, &st, &generated, err, sizeof(err)) != 0) {
		answer(fd, CHILDPROC_REFUSED, err, strlen(err));
		note_signer_clear(&st.sk);
		_exit(1);
	}
	load_floor(&st, opt->checkpoint_dir);
	/* One signature before the limits: whatever OpenSSL sets up lazily
	 * is set up now. */
	if (note_checkpoint_sign(&st.sk, st.sk.name, 0, st.sk.pub, &note,
	    &notelen, err, sizeof(err)) != 0) {
		answer(fd, CHILDPROC_REFUSED, err, strlen(err));
		note_signer_clear(&st.sk);
		_exit(1);
	}
	free(note);
	note_signer_verifier(&st.sk, &vk);
	ready[0] = generated ? 'g' : 'l';
	if (note_verifier_format(&vk, ready + 1, sizeof(ready) - 1, err,
	    sizeof(err)) != 0) {
		answer(fd, CHILDPROC_REFUSED, err, strlen(err));
		note_signer_clear(&st.sk);
		_exit(1);
	}
	childproc_child_drop();
	if (sandbox_enter_signer(fd, err, sizeof(err)) != 0) {
		answer(fd, CHILDPROC_REFUSED, err, strlen(err));
		note_signer_clear(&st.sk);
		_exit(1);
	}
	if (answer(fd, CHILDPROC_OK, ready, strlen(ready)) == 0)
		while (child_serve_one(fd, &st) == 0)
			;
	note_signer_clear(&st.sk);
	_exit(0);
}

/* ------------------------------------------------------------------ */
/* The parent */

int
auditsign_start(const struct auditsign_options *opt, struct auditsign **out,
    struct note_verifier *vk, int *generated, char *err, size_t errlen)
{
	struct auditsign *s;
	char status, *payload = NULL;
	size_t len;

	*out = NULL;
	if ((s = calloc(1, sizeof(*s))) == NULL)
		return util_err(err, errlen, "out of memory");
	if (childproc_spawn(child_main, opt, WHO, AUDITSIGN_MAX_ANSWER,
	    AUDITSIGN_TIMEOUT_MS, &s->fd, &s->pid, &status, &payload, &len,
	    err, errlen) != 0) {
		free(s);
		return -1;
	}
	if (status != CHILDPROC_OK) {
		util_err(err, errlen, "audit signer: %s", payload);
		free(payload);
		auditsign_stop(s);
		return -1;
	}
	if (len < 2 || note_verifier_parse(payload + 1, len - 1, vk, err,
	    errlen) != 0) {
		free(payload);
		auditsign_stop(s);
		return -1;
	}
	*generated = payload[0] == 'g';
	free(payload);
	*out = s;
	return 0;
}

int
auditsign_sign(void *arg, const char *text, size_t len, char **note,
    size_t *notelen, char *err, size_t errlen)
{
	struct auditsign *s = arg;
	char status, *payload = NULL;
	size_t plen;

	*note = NULL;
	*notelen = 0;
	if (s == NULL || s->fd == -1)
		return util_err(err, errlen, "no signer process");
	if (len == 0 || len > AUDITSIGN_MAX_REQUEST)
		return util_err(err, errlen, "checkpoint text of %zu bytes is "
		    "out of bounds", len);
	if (childproc_send_request(s->fd, text, len) != 0) {
		util_err(err, errlen, "cannot reach the signer process (%s)",
		    strerror(errno));
		childproc_explain_end(&s->pid, WHO, err, errlen);
		return -1;
	}
	if (childproc_read_answer(s->fd, WHO, AUDITSIGN_MAX_ANSWER,
	    AUDITSIGN_TIMEOUT_MS, &status, &payload, &plen, err,
	    errlen) != 0) {
		childproc_explain_end(&s->pid, WHO, err, errlen);
		return -1;
	}
	if (status != CHILDPROC_OK) {
		size_t i;

		/* The reason is printable text from our own child; keep it
		 * so anyway. */
		for (i = 0; i < plen; i++)
			if ((unsigned char)payload[i] < 0x20)
				payload[i] = ' ';
		util_err(err, errlen, "%s", payload);
		free(payload);
		return -1;
	}
	*note = payload;
	*notelen = plen;
	return 0;
}

void
auditsign_stop(struct auditsign *s)
{
	if (s == NULL)
		return;
	childproc_stop(s->fd, s->pid);
	free(s);
}

int
auditsign_keygen(const char *name, const char *signing_key,
    const char *verifier_key, char *err, size_t errlen)
{
	struct note_signer sk;
	struct note_verifier vk;
	int rc;

	if (name == NULL || !note_name_valid(name))
		return util_err(err, errlen, "\"%s\" is not a valid key name "
		    "(no spaces, no '+', at most %d bytes)",
		    name != NULL ? name : "", NOTE_NAME_MAX);
	if (note_key_generate(name, &sk, err, errlen) != 0)
		return -1;
	note_signer_verifier(&sk, &vk);
	rc = note_signer_save(signing_key, &sk, err, errlen);
	note_signer_clear(&sk);
	if (rc != 0)
		return -1;
	if (note_verifier_save(verifier_key, &vk, err, errlen) != 0) {
		/* A private key without its published half is of no use. */
		unlink(signing_key);
		return -1;
	}
	return 0;
}

void
auditsign_default_name(char *out, size_t outlen)
{
	char host[256];
	size_t i;

	if (gethostname(host, sizeof(host)) != 0 || host[0] == '\0')
		snprintf(host, sizeof(host), "localhost");
	host[sizeof(host) - 1] = '\0';
	for (i = 0; host[i] != '\0'; i++)
		if ((unsigned char)host[i] <= 0x20 || host[i] == '+' ||
		    (unsigned char)host[i] >= 0x7f)
			host[i] = '-';
	snprintf(out, outlen, "%s/sekisho-audit", host);
}
