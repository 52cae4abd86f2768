/*
 * Unit tests for regstore: register versions by SHA-256, their states,
 * votes once per person, the version in force, and that it all survives
 * closing and reopening the database.
 */
#include <sys/stat.h>

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
#include <openssl/evp.h>

#include "broker/regstore.h"
#include "broker/store.h"
#include "lib/util.h"

struct fixture {
	char dir[64];
	char db[128];
	struct store *st;
};

static const char yaml_a[] = "interfaces: []\n# a\n";
static const char yaml_b[] = "interfaces: []\n# b\n";

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
	char err[256];

	assert_non_null(f);
	strcpy(f->dir, "/tmp/sekisho-regstore-XXXXXX");
	assert_non_null(mkdtemp(f->dir));
	snprintf(f->db, sizeof(f->db), "%s/state.db", f->dir);
	if (store_open(f->db, &f->st, err, sizeof(err)) != 0)
		fail_msg("store_open: %s", err);
	*state = f;
	return 0;
}

static int
teardown(void **state)
{
	struct fixture *f = *state;

	store_close(f->st);
	nftw(f->dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	free(f);
	return 0;
}

static void
sha_of(const char *text, char out[UTIL_SHA256_HEX + 1])
{
	unsigned char md[UTIL_SHA256_LEN];

	assert_int_equal(EVP_Digest(text, strlen(text), md, NULL,
	    EVP_sha256(), NULL), 1);
	util_hex(md, sizeof(md), out);
}

static void
make_version(struct regstore_version *v, const char *text, const char *state,
    int64_t created)
{
	memset(v, 0, sizeof(*v));
	sha_of(text, v->sha256);
	strcpy(v->proposer, "admin.sato");
	strcpy(v->reason, "新しい連携先 / new route");
	strcpy(v->state, state);
	v->created = created;
	v->expires = created + 86400;
	v->summary = "interface added: x";
}

static void
test_insert_get_roundtrip(void **state)
{
	struct fixture *f = *state;
	struct regstore_version v, got;
	char err[256];

	make_version(&v, yaml_a, REGSTORE_PROPOSED, 1000);
	assert_int_equal(regstore_insert(f->st, &v, yaml_a, strlen(yaml_a),
	    err, sizeof(err)), 0);
	assert_int_equal(regstore_get(f->st, v.sha256, 1, &got, err,
	    sizeof(err)), 0);
	assert_string_equal(got.sha256, v.sha256);
	assert_string_equal(got.proposer, "admin.sato");
	assert_string_equal(got.reason, v.reason);
	assert_string_equal(got.state, REGSTORE_PROPOSED);
	assert_string_equal(got.summary, "interface added: x");
	assert_int_equal(got.expires, 1000 + 86400);
	assert_int_equal(got.yaml_len, strlen(yaml_a));
	assert_memory_equal(got.yaml, yaml_a, strlen(yaml_a));
	regstore_version_clear(&got);
	/* The same text again: content-addressed, stored once. */
	assert_int_equal(regstore_insert(f->st, &v, yaml_a, strlen(yaml_a),
	    err, sizeof(err)), STORE_EXISTS);
}

static void
test_insert_refuses_wrong_hash(void **state)
{
	struct fixture *f = *state;
	struct regstore_version v, got;
	char err[256];

	make_version(&v, yaml_a, REGSTORE_PROPOSED, 1000);
	assert_int_equal(regstore_insert(f->st, &v, yaml_b, strlen(yaml_b),
	    err, sizeof(err)), -1);
	assert_non_null(strstr(err, "SHA-256"));
	assert_int_equal(regstore_get(f->st, v.sha256, 0, &got, err,
	    sizeof(err)), STORE_NOTFOUND);
	regstore_version_clear(&got);
}

static void
test_state_compare_and_set(void **state)
{
	struct fixture *f = *state;
	struct regstore_version v, got;
	char err[256];

	make_version(&v, yaml_a, REGSTORE_PROPOSED, 1000);
	assert_int_equal(regstore_insert(f->st, &v, yaml_a, strlen(yaml_a),
	    err, sizeof(err)), 0);
	/* Not in the expected state: nothing changes. */
	assert_int_equal(regstore_set_state(f->st, v.sha256, REGSTORE_ACTIVE,
	    REGSTORE_SUPERSEDED, -1, -1, 2000, NULL, err, sizeof(err)),
	    STORE_NOTFOUND);
	assert_int_equal(regstore_set_state(f->st, v.sha256, REGSTORE_PROPOSED,
	    REGSTORE_ACTIVE, 1500, -1, -1, "", err, sizeof(err)), 0);
	assert_int_equal(regstore_get(f->st, v.sha256, 0, &got, err,
	    sizeof(err)), 0);
	assert_string_equal(got.state, REGSTORE_ACTIVE);
	assert_int_equal(got.activated, 1500);
	assert_int_equal(got.decided, 0);
	regstore_version_clear(&got);
	/* An emergency state needs its confirmation deadline (CHECK). */
	assert_int_equal(regstore_set_state(f->st, v.sha256, REGSTORE_ACTIVE,
	    REGSTORE_EMERGENCY, -1, -1, -1, NULL, err, sizeof(err)), -1);
	/* A state outside the list is refused by the schema. */
	assert_int_equal(regstore_set_state(f->st, v.sha256, REGSTORE_ACTIVE,
	    "bogus", -1, -1, -1, NULL, err, sizeof(err)), -1);
}

static void
test_votes_once_per_person(void **state)
{
	struct fixture *f = *state;
	struct regstore_version v;
	struct regstore_vote vote, list[4];
	size_t n;
	char err[256];

	make_version(&v, yaml_a, REGSTORE_PROPOSED, 1000);
	assert_int_equal(regstore_insert(f->st, &v, yaml_a, strlen(yaml_a),
	    err, sizeof(err)), 0);
	memset(&vote, 0, sizeof(vote));
	strcpy(vote.approver, "suzuki");
	strcpy(vote.vote, "approve");
	strcpy(vote.comment, "確認済み");
	vote.at = 1100;
	assert_int_equal(regstore_vote_insert(f->st, v.sha256, &vote, err,
	    sizeof(err)), 0);
	strcpy(vote.vote, "reject");
	vote.at = 1200;
	assert_int_equal(regstore_vote_insert(f->st, v.sha256, &vote, err,
	    sizeof(err)), STORE_EXISTS);
	strcpy(vote.approver, "tanaka");
	strcpy(vote.vote, "maybe");
	assert_int_equal(regstore_vote_insert(f->st, v.sha256, &vote, err,
	    sizeof(err)), -1);
	strcpy(vote.vote, "reject");
	assert_int_equal(regstore_vote_insert(f->st, v.sha256, &vote, err,
	    sizeof(err)), 0);
	/* A vote on a version that does not exist (foreign key). */
	assert_int_equal(regstore_vote_insert(f->st, "00000000000000000000000"
	    "00000000000000000000000000000000000000000", &vote, err,
	    sizeof(err)), -1);
	assert_int_equal(regstore_vote_list(f->st, v.sha256, list, 4, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 2);
	assert_string_equal(list[0].approver, "suzuki");
	assert_string_equal(list[0].vote, "approve");
	assert_string_equal(list[0].comment, "確認済み");
	assert_string_equal(list[1].approver, "tanaka");
	assert_string_equal(list[1].vote, "reject");
}

static void
test_active_survives_reopen(void **state)
{
	struct fixture *f = *state;
	struct regstore_version v;
	char err[256], sha[UTIL_SHA256_HEX + 1];
	int64_t since;

	assert_int_equal(regstore_active(f->st, sha, &since, err, sizeof(err)),
	    STORE_NOTFOUND);
	make_version(&v, yaml_a, REGSTORE_ACTIVE, 1000);
	assert_int_equal(regstore_insert(f->st, &v, yaml_a, strlen(yaml_a),
	    err, sizeof(err)), 0);
	/* Only a stored version can be in force (foreign key). */
	assert_int_equal(regstore_set_active(f->st, "1111111111111111111111111"
	    "111111111111111111111111111111111111111", 1000, err, sizeof(err)),
	    -1);
	assert_int_equal(regstore_set_active(f->st, v.sha256, 1000, err,
	    sizeof(err)), 0);
	make_version(&v, yaml_b, REGSTORE_ACTIVE, 2000);
	assert_int_equal(regstore_insert(f->st, &v, yaml_b, strlen(yaml_b),
	    err, sizeof(err)), 0);
	assert_int_equal(regstore_set_active(f->st, v.sha256, 2000, err,
	    sizeof(err)), 0);
	store_close(f->st);
	f->st = NULL;
	assert_int_equal(store_open(f->db, &f->st, err, sizeof(err)), 0);
	assert_int_equal(regstore_active(f->st, sha, &since, err, sizeof(err)),
	    0);
	assert_string_equal(sha, v.sha256);
	assert_int_equal(since, 2000);
}

/* Read-only, for --check-config: nothing created, the text in force. */
static void
test_read_active_read_only(void **state)
{
	struct fixture *f = *state;
	struct regstore_version v;
	char err[256], sha[UTIL_SHA256_HEX + 1], missing[160], *buf = NULL;
	size_t len = 0;

	snprintf(missing, sizeof(missing), "%s/none.db", f->dir);
	assert_int_equal(regstore_read_active(missing, &buf, &len, sha, err,
	    sizeof(err)), STORE_NOTFOUND);
	assert_int_equal(access(missing, F_OK), -1);
	assert_int_equal(regstore_read_active(f->db, &buf, &len, sha, err,
	    sizeof(err)), STORE_NOTFOUND);
	make_version(&v, yaml_b, REGSTORE_ACTIVE, 1000);
	assert_int_equal(regstore_insert(f->st, &v, yaml_b, strlen(yaml_b),
	    err, sizeof(err)), 0);
	assert_int_equal(regstore_set_active(f->st, v.sha256, 1000, err,
	    sizeof(err)), 0);
	assert_int_equal(regstore_read_active(f->db, &buf, &len, sha, err,
	    sizeof(err)), 0);
	assert_string_equal(sha, v.sha256);
	assert_int_equal(len, strlen(yaml_b));
	assert_string_equal(buf, yaml_b);
	free(buf);

	/* Another user's database (root checking the configuration): read
	 * as immutable, so no -wal or -shm file of root's is left behind. */
	if (geteuid() == 0) {
		char side[200];

		store_close(f->st);
		f->st = NULL;
		assert_int_equal(chown(f->db, 65534, 65534), 0);
		buf = NULL;
		assert_int_equal(regstore_read_active(f->db, &buf, &len, sha,
		    err, sizeof(err)), 0);
		assert_string_equal(buf, yaml_b);
		free(buf);
		snprintf(side, sizeof(side), "%s-wal", f->db);
		assert_int_equal(access(side, F_OK), -1);
		snprintf(side, sizeof(side), "%s-shm", f->db);
		assert_int_equal(access(side, F_OK), -1);
		assert_int_equal(chown(f->db, 0, 0), 0);
	}
}

static int
count_fn(const struct regstore_version *v, void *arg)
{
	size_t *n = arg;

	assert_non_null(v->summary);
	(*n)++;
	return 0;
}

static void
test_resolve_and_each(void **state)
{
	struct fixture *f = *state;
	struct regstore_version v;
	char err[256], sha[UTIL_SHA256_HEX + 1], full[UTIL_SHA256_HEX + 1];
	char prefix[16];
	size_t n = 0;

	make_version(&v, yaml_a, REGSTORE_PROPOSED, 1000);
	assert_int_equal(regstore_insert(f->st, &v, yaml_a, strlen(yaml_a),
	    err, sizeof(err)), 0);
	strcpy(full, v.sha256);
	make_version(&v, yaml_b, REGSTORE_REJECTED, 2000);
	assert_int_equal(regstore_insert(f->st, &v, yaml_b, strlen(yaml_b),
	    err, sizeof(err)), 0);
	memcpy(prefix, full, 8);
	prefix[8] = '\0';
	assert_int_equal(regstore_resolve(f->st, prefix, sha, err,
	    sizeof(err)), 0);
	assert_string_equal(sha, full);
	/* Too short, not hex, or a pattern: refused, never matched. */
	assert_int_equal(regstore_resolve(f->st, "abc", sha, err, sizeof(err)),
	    -1);
	assert_int_equal(regstore_resolve(f->st, "%%%%%%%%", sha, err,
	    sizeof(err)), -1);
	assert_int_equal(regstore_resolve(f->st, "ffffffffff", sha, err,
	    sizeof(err)) == STORE_NOTFOUND || strncmp(full, "ffffffffff", 10)
	    == 0, 1);
	assert_int_equal(regstore_each(f->st, NULL, 10, count_fn, &n, err,
	    sizeof(err)), 0);
	assert_int_equal(n, 2);
	n = 0;
	assert_int_equal(regstore_each(f->st, REGSTORE_REJECTED, 10, count_fn,
	    &n, err, sizeof(err)), 0);
	assert_int_equal(n, 1);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test_setup_teardown(test_insert_get_roundtrip,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_insert_refuses_wrong_hash,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_state_compare_and_set,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_votes_once_per_person,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_active_survives_reopen,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_resolve_and_each,
		    setup, teardown),
		cmocka_unit_test_setup_teardown(test_read_active_read_only,
		    setup, teardown),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
