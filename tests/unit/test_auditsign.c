/*
 * Unit tests for broker/auditsign.c: the signer process signs only
 * checkpoints of its own origin, never below the largest size it has signed
 * (also across restarts, from the checkpoint directory), never two roots for
 * one size; it refuses garbage and stops on a framing violation; key
 * generation, the verifier-key match and the generate-on-first-start mode.
 */
#include <sys/stat.h>

#include <fcntl.h>
#include <ftw.h>
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <cmocka.h>

#include "broker/auditsign.h"
#include "lib/note.h"

#define NAME "audit.example-city.lg.jp/sekisho"

struct fixture {
	char dir[64];
	char sk[128], vk[128], cpdir[128];
};

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
setup(void **state)
{
	struct fixture *f = calloc(1, sizeof(*f));

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sekisho-sign-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->sk, sizeof(f->sk), "%s/signing.key", f->dir);
	snprintf(f->vk, sizeof(f->vk), "%s/verifier.pub", f->dir);
	snprintf(f->cpdir, sizeof(f->cpdir), "%s/checkpoints", f->dir);
	assert_int_equal(mkdir(f->cpdir, 0700), 0);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static struct auditsign *
start_ok(struct fixture *f, struct note_verifier *vk, int generate)
{
	struct auditsign_options opt;
	struct auditsign *s = NULL;
	char err[512];
	int generated = -1;

	memset(&opt, 0, sizeof(opt));
	opt.signing_key = f->sk;
	opt.verifier_key = f->vk;
	opt.checkpoint_dir = f->cpdir;
	opt.generate = generate;
	opt.name = NAME;
	if (auditsign_start(&opt, &s, vk, &generated, err, sizeof(err)) != 0)
		fail_msg("auditsign_start: %s", err);
	assert_int_equal(generated, generate);
	return s;
}

/* Signs (origin, size, root[0] = b); 0 and the checked note, or -1. */
static int
sign(struct auditsign *s, const struct note_verifier *vk, const char *origin,
    uint64_t size, uint8_t b, char *why, size_t whylen)
{
	uint8_t root[32];
	struct note_checkpoint cp;
	char text[512], *note = NULL;
	size_t len, notelen;
	int rc;

	memset(root, b, sizeof(root));
	assert_int_equal(note_checkpoint_format(origin, size, root, NULL, 0,
	    text, sizeof(text), &len, why, whylen), 0);
	rc = auditsign_sign(s, text, len, &note, &notelen, why, whylen);
	if (rc == 0) {
		assert_int_equal(note_checkpoint_open(note, notelen, vk, 1,
		    NAME, &cp, why, whylen), 0);
		assert_int_equal(cp.size, size);
		assert_memory_equal(cp.root, root, 32);
		free(note);
	}
	return rc;
}

static void
test_keygen(void **state)
{
	struct fixture *f = *state;
	struct note_verifier vk;
	struct note_signer sk;
	struct stat sb;
	char err[512];

	assert_int_equal(auditsign_keygen(NAME, f->sk, f->vk, err,
	    sizeof(err)), 0);
	assert_int_equal(stat(f->sk, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0600);
	assert_int_equal(stat(f->vk, &sb), 0);
	assert_int_equal(sb.st_mode & 0777, 0644);
	assert_int_equal(note_signer_load(f->sk, &sk, err, sizeof(err)), 0);
	assert_int_equal(note_verifier_load(f->vk, &vk, err, sizeof(err)), 0);
	assert_string_equal(vk.name, NAME);
	assert_memory_equal(vk.pub, sk.pub, 32);
	note_signer_clear(&sk);
	/* Never replaces a key. */
	assert_int_equal(auditsign_keygen(NAME, f->sk, f->vk, err,
	    sizeof(err)), -1);
	assert_int_equal(auditsign_keygen("bad name", f->sk, f->vk, err,
	    sizeof(err)), -1);
	{
		char name[300];

		auditsign_default_name(name, sizeof(name));
		assert_true(note_name_valid(name));
		assert_non_null(strstr(name, "/sekisho-audit"));
	}
}

static void
test_sign_rules(void **state)
{
	struct fixture *f = *state;
	struct note_verifier vk;
	struct auditsign *s;
	char why[512];

	assert_int_equal(auditsign_keygen(NAME, f->sk, f->vk, why,
	    sizeof(why)), 0);
	s = start_ok(f, &vk, 0);
	assert_string_equal(vk.name, NAME);
	assert_int_equal(sign(s, &vk, NAME, 5, 1, why, sizeof(why)), 0);
	assert_int_equal(sign(s, &vk, NAME, 9, 2, why, sizeof(why)), 0);
	/* The same size and root again is fine (a repeat, not a fork). */
	assert_int_equal(sign(s, &vk, NAME, 9, 2, why, sizeof(why)), 0);
	/* Another root for a size already signed: a fork. */
	assert_int_equal(sign(s, &vk, NAME, 9, 3, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "fork"));
	/* Smaller: rollback. */
	assert_int_equal(sign(s, &vk, NAME, 8, 2, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "rollback"));
	/* Another origin. */
	assert_int_equal(sign(s, &vk, "other.example/log", 10, 2, why,
	    sizeof(why)), -1);
	assert_non_null(strstr(why, "origin"));
	/* Not a checkpoint, or one with extension lines. */
	{
		char *note;
		size_t notelen;
		const char *junk = "hello\n";
		const char *ext = NAME "\n10\n"
		    "AQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQEBAQE=\nextra\n";

		assert_int_equal(auditsign_sign(s, junk, strlen(junk), &note,
		    &notelen, why, sizeof(why)), -1);
		assert_int_equal(auditsign_sign(s, ext, strlen(ext), &note,
		    &notelen, why, sizeof(why)), -1);
		assert_non_null(strstr(why, "extension"));
	}
	/* After all the refusals it still signs. */
	assert_int_equal(sign(s, &vk, NAME, 10, 4, why, sizeof(why)), 0);
	auditsign_stop(s);
}

static void
test_floor_from_directory(void **state)
{
	struct fixture *f = *state;
	struct note_verifier vk;
	struct note_signer sk;
	struct auditsign *s;
	uint8_t root[32];
	char why[512], path[256], *note;
	size_t notelen;
	int fd;

	assert_int_equal(auditsign_keygen(NAME, f->sk, f->vk, why,
	    sizeof(why)), 0);
	/* A checkpoint of 20 records signed earlier, as the trail keeps it,
	 * and one from another key (ignored). */
	assert_int_equal(note_signer_load(f->sk, &sk, why, sizeof(why)), 0);
	memset(root, 7, sizeof(root));
	assert_int_equal(note_checkpoint_sign(&sk, NAME, 20, root, &note,
	    &notelen, why, sizeof(why)), 0);
	note_signer_clear(&sk);
	snprintf(path, sizeof(path), "%s/00000000000000000020.note",
	    f->cpdir);
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
	assert_true(fd >= 0);
	assert_int_equal(write(fd, note, notelen), (ssize_t)notelen);
	close(fd);
	free(note);
	{
		struct note_signer other;

		assert_int_equal(note_key_generate(NAME, &other, why,
		    sizeof(why)), 0);
		assert_int_equal(note_checkpoint_sign(&other, NAME, 90, root,
		    &note, &notelen, why, sizeof(why)), 0);
		note_signer_clear(&other);
		snprintf(path, sizeof(path), "%s/00000000000000000090.note",
		    f->cpdir);
		fd = open(path, O_WRONLY | O_CREAT | O_EXCL, 0644);
		assert_true(fd >= 0);
		assert_int_equal(write(fd, note, notelen), (ssize_t)notelen);
		close(fd);
		free(note);
	}
	s = start_ok(f, &vk, 0);
	assert_int_equal(sign(s, &vk, NAME, 19, 7, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "rollback"));
	assert_int_equal(sign(s, &vk, NAME, 20, 8, why, sizeof(why)), -1);
	assert_int_equal(sign(s, &vk, NAME, 20, 7, why, sizeof(why)), 0);
	assert_int_equal(sign(s, &vk, NAME, 21, 7, why, sizeof(why)), 0);
	auditsign_stop(s);
}

static void
test_oversized_request(void **state)
{
	struct fixture *f = *state;
	struct note_verifier vk;
	struct auditsign *s;
	char why[512], *big, *note;
	size_t notelen;

	assert_int_equal(auditsign_keygen(NAME, f->sk, f->vk, why,
	    sizeof(why)), 0);
	s = start_ok(f, &vk, 0);
	/* The parent refuses to send it... */
	big = malloc(AUDITSIGN_MAX_REQUEST + 1);
	assert_non_null(big);
	memset(big, 'a', AUDITSIGN_MAX_REQUEST + 1);
	assert_int_equal(auditsign_sign(s, big, AUDITSIGN_MAX_REQUEST + 1,
	    &note, &notelen, why, sizeof(why)), -1);
	assert_non_null(strstr(why, "out of bounds"));
	free(big);
	assert_int_equal(sign(s, &vk, NAME, 1, 1, why, sizeof(why)), 0);
	auditsign_stop(s);
}

static void
test_key_checks(void **state)
{
	struct fixture *f = *state;
	struct auditsign_options opt;
	struct note_verifier vk;
	struct auditsign *s = NULL;
	char err[512], other_vk[160];
	int generated;

	memset(&opt, 0, sizeof(opt));
	opt.signing_key = f->sk;
	opt.verifier_key = f->vk;
	opt.checkpoint_dir = f->cpdir;
	opt.name = NAME;
	/* No key and no generation: refused. */
	assert_int_equal(auditsign_start(&opt, &s, &vk, &generated, err,
	    sizeof(err)), -1);
	assert_null(s);
	/* Generated on first start, loaded after. */
	s = start_ok(f, &vk, 1);
	auditsign_stop(s);
	s = start_ok(f, &vk, 0);
	auditsign_stop(s);
	{
		struct note_verifier vk2;

		s = NULL;
		opt.generate = 1;
		assert_int_equal(auditsign_start(&opt, &s, &vk2, &generated,
		    err, sizeof(err)), 0);
		assert_int_equal(generated, 0);
		assert_memory_equal(vk2.pub, vk.pub, 32);
		auditsign_stop(s);
		opt.generate = 0;
	}
	/* A verifier file that is not the key's public half: refused. */
	snprintf(other_vk, sizeof(other_vk), "%s/other.pub", f->dir);
	{
		char sk2[160];

		snprintf(sk2, sizeof(sk2), "%s/other.key", f->dir);
		assert_int_equal(auditsign_keygen(NAME, sk2, other_vk, err,
		    sizeof(err)), 0);
	}
	opt.verifier_key = other_vk;
	assert_int_equal(auditsign_start(&opt, &s, &vk, &generated, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "not the public half"));
	/* Another name than configured. */
	opt.verifier_key = f->vk;
	opt.name = "someone.else/log";
	assert_int_equal(auditsign_start(&opt, &s, &vk, &generated, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "named"));
	/* Signing key lost but the published key still there. */
	opt.name = NAME;
	opt.generate = 1;
	assert_int_equal(unlink(f->sk), 0);
	assert_int_equal(auditsign_start(&opt, &s, &vk, &generated, err,
	    sizeof(err)), -1);
	assert_non_null(strstr(err, "does not"));
	/* A private key others can read: refused by the loader. */
	assert_int_equal(unlink(f->vk), 0);
	assert_int_equal(auditsign_keygen(NAME, f->sk, f->vk, err,
	    sizeof(err)), 0);
	assert_int_equal(chmod(f->sk, 0644), 0);
	opt.generate = 0;
	assert_int_equal(auditsign_start(&opt, &s, &vk, &generated, err,
	    sizeof(err)), -1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_keygen, setup, teardown),
		cmocka_unit_test_setup_teardown(test_sign_rules, setup,
		    teardown),
		cmocka_unit_test_setup_teardown(test_floor_from_directory,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_oversized_request,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_key_checks, setup,
		    teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
