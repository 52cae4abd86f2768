/*
 * Tests for broker/identity: certificates are made here with OpenSSL (an EC
 * P-256 key, self-signed, with exactly the SAN entries and extended key
 * usages each case needs), then mapped to a principal or refused.
 */
#include <stdarg.h>
#include <stddef.h>
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <openssl/x509.h>
#include <openssl/x509v3.h>

#include "broker/identity.h"

enum eku { EKU_NONE, EKU_CLIENT, EKU_SERVER, EKU_BOTH, EKU_ANY };

struct san {
	int type;		/* GEN_URI, GEN_DNS, GEN_EMAIL */
	const char *v;
	size_t len;		/* 0: strlen(v) */
};

#define URI(s) { GEN_URI, (s), 0 }
#define END { 0, NULL, 0 }

static EVP_PKEY *key;
static char errbuf[256];

static int
setup(void **state)
{
	(void)state;
	key = EVP_EC_gen("P-256");
	return key == NULL ? -1 : 0;
}

static int
teardown(void **state)
{
	(void)state;
	EVP_PKEY_free(key);
	return 0;
}

static void
add_san(X509 *x, const struct san *sans)
{
	GENERAL_NAMES *names = sk_GENERAL_NAME_new_null();
	size_t i;

	assert_non_null(names);
	for (i = 0; sans[i].v != NULL; i++) {
		GENERAL_NAME *gn = GENERAL_NAME_new();
		ASN1_IA5STRING *s = ASN1_IA5STRING_new();
		size_t len = sans[i].len ? sans[i].len : strlen(sans[i].v);

		assert_non_null(gn);
		assert_non_null(s);
		assert_int_equal(ASN1_STRING_set(s, sans[i].v, (int)len), 1);
		GENERAL_NAME_set0_value(gn, sans[i].type, s);
		assert_true(sk_GENERAL_NAME_push(names, gn) > 0);
	}
	assert_int_equal(X509_add1_ext_i2d(x, NID_subject_alt_name, names, 0,
	    X509V3_ADD_DEFAULT), 1);
	GENERAL_NAMES_free(names);
}

static void
add_eku(X509 *x, enum eku eku)
{
	EXTENDED_KEY_USAGE *e;

	if (eku == EKU_NONE)
		return;
	e = sk_ASN1_OBJECT_new_null();
	assert_non_null(e);
	if (eku == EKU_CLIENT || eku == EKU_BOTH)
		sk_ASN1_OBJECT_push(e, OBJ_nid2obj(NID_client_auth));
	if (eku == EKU_SERVER || eku == EKU_BOTH)
		sk_ASN1_OBJECT_push(e, OBJ_nid2obj(NID_server_auth));
	if (eku == EKU_ANY)
		sk_ASN1_OBJECT_push(e, OBJ_nid2obj(NID_anyExtendedKeyUsage));
	assert_int_equal(X509_add1_ext_i2d(x, NID_ext_key_usage, e, 0,
	    X509V3_ADD_DEFAULT), 1);
	sk_ASN1_OBJECT_pop_free(e, ASN1_OBJECT_free);
}

/* sans NULL: no subjectAltName extension at all. */
static X509 *
make_cert(const char *cn, const struct san *sans, enum eku eku)
{
	X509 *x = X509_new();
	X509_NAME *name;

	assert_non_null(x);
	assert_int_equal(X509_set_version(x, 2), 1);
	assert_int_equal(ASN1_INTEGER_set_int64(X509_get_serialNumber(x),
	    0x1234abcdL), 1);
	name = X509_get_subject_name(x);
	assert_int_equal(X509_NAME_add_entry_by_txt(name, "CN", MBSTRING_UTF8,
	    (const unsigned char *)cn, -1, -1, 0), 1);
	assert_int_equal(X509_set_issuer_name(x, name), 1);
	assert_non_null(X509_gmtime_adj(X509_getm_notBefore(x), 0));
	assert_non_null(X509_gmtime_adj(X509_getm_notAfter(x), 86400));
	assert_int_equal(X509_set_pubkey(x, key), 1);
	if (sans != NULL)
		add_san(x, sans);
	add_eku(x, eku);
	assert_true(X509_sign(x, key, EVP_sha256()) > 0);
	return x;
}

static void
expect_ok(const struct san *sans, enum eku eku, struct principal *p)
{
	X509 *x = make_cert("someone", sans, eku);

	errbuf[0] = '\0';
	if (identity_from_cert(x, p, errbuf, sizeof(errbuf)) != 0)
		fail_msg("refused: %s", errbuf);
	X509_free(x);
}

static void
expect_refused(const char *cn, const struct san *sans, enum eku eku,
    const char *why)
{
	X509 *x = make_cert(cn, sans, eku);
	struct principal p, zero;

	memset(&p, 0x5a, sizeof(p));
	memset(&zero, 0, sizeof(zero));
	errbuf[0] = '\0';
	if (identity_from_cert(x, &p, errbuf, sizeof(errbuf)) != -1)
		fail_msg("accepted as user '%s'", p.user);
	/* No partial result. */
	assert_memory_equal(&p, &zero, sizeof(p));
	if (strstr(errbuf, why) == NULL)
		fail_msg("message '%s' lacks '%s'", errbuf, why);
	X509_free(x);
}

static void
test_full_principal(void **state)
{
	static const struct san sans[] = {
		URI("urn:sekisho:user:tanaka.taro"),
		URI("urn:sekisho:dept:somu-ka"),
		URI("urn:sekisho:terminal:LG-PC_0042"),
		END,
	};
	X509 *x = make_cert("Tanaka Taro", sans, EKU_CLIENT);
	struct principal p;
	unsigned char *der = NULL, md[32];
	char hex[65], fp[65];
	int len;

	(void)state;
	assert_int_equal(identity_from_cert(x, &p, errbuf, sizeof(errbuf)), 0);
	assert_string_equal(p.user, "tanaka.taro");
	assert_string_equal(p.dept, "somu-ka");
	assert_string_equal(p.terminal, "LG-PC_0042");
	assert_string_equal(p.serial, "1234ABCD");

	/* The fingerprint is SHA-256 over the DER encoding. */
	len = i2d_X509(x, &der);
	assert_true(len > 0);
	assert_int_equal(EVP_Digest(der, (size_t)len, md, NULL, EVP_sha256(),
	    NULL), 1);
	OPENSSL_free(der);
	util_hex(md, 32, hex);
	assert_string_equal(p.cert_fp, hex);
	assert_int_equal(identity_fingerprint(x, fp), 0);
	assert_string_equal(fp, hex);
	X509_free(x);
}

static void
test_terminal_optional_and_order_free(void **state)
{
	static const struct san sans[] = {
		URI("urn:sekisho:dept:zaimu"),
		URI("urn:sekisho:user:u1"),
		END,
	};
	struct principal p;

	(void)state;
	expect_ok(sans, EKU_CLIENT, &p);
	assert_string_equal(p.user, "u1");
	assert_string_equal(p.dept, "zaimu");
	assert_string_equal(p.terminal, "");
	assert_int_equal(strlen(p.cert_fp), 64);
}

static void
test_other_names_ignored(void **state)
{
	static const struct san sans[] = {
		URI("https://example.org/urn:sekisho:user:mallory"),
		URI("urn:other:user:mallory"),
		URI("URN:SEKISHO:USER:mallory"),
		URI("urn:sekisho:role:admin"),
		URI("urn:sekisho:"),
		URI("urn:sekisho"),
		{ GEN_DNS, "urn:sekisho:user:mallory", 0 },
		{ GEN_EMAIL, "urn:sekisho:dept:evil", 0 },
		URI("urn:sekisho:user:alice"),
		{ GEN_DNS, "client.example.lg.jp", 0 },
		URI("urn:sekisho:dept:kikaku"),
		END,
	};
	struct principal p;

	(void)state;
	expect_ok(sans, EKU_CLIENT, &p);
	assert_string_equal(p.user, "alice");
	assert_string_equal(p.dept, "kikaku");
	assert_string_equal(p.terminal, "");
}

static void
test_missing_parts(void **state)
{
	static const struct san no_user[] = {
		URI("urn:sekisho:dept:somu"), URI("urn:sekisho:terminal:t1"),
		END,
	};
	static const struct san no_dept[] = {
		URI("urn:sekisho:user:alice"), URI("urn:sekisho:terminal:t1"),
		END,
	};
	static const struct san dns_only[] = {
		{ GEN_DNS, "alice.example", 0 }, END,
	};
	static const struct san empty[] = { END };

	(void)state;
	expect_refused("alice", no_user, EKU_CLIENT, "urn:sekisho:user:");
	expect_refused("alice", no_dept, EKU_CLIENT, "urn:sekisho:dept:");
	expect_refused("alice", dns_only, EKU_CLIENT, "urn:sekisho:user:");
	expect_refused("alice", empty, EKU_CLIENT, "urn:sekisho:user:");
	/* The CN is never read, however convincing. */
	expect_refused("urn:sekisho:user:alice", NULL, EKU_CLIENT,
	    "no subjectAltName");
	expect_refused("urn:sekisho:user:alice", dns_only, EKU_CLIENT,
	    "urn:sekisho:user:");
}

static void
test_duplicates_refused(void **state)
{
	static const struct san two_users[] = {
		URI("urn:sekisho:user:alice"), URI("urn:sekisho:dept:somu"),
		URI("urn:sekisho:user:bob"), END,
	};
	static const struct san same_user_twice[] = {
		URI("urn:sekisho:user:alice"), URI("urn:sekisho:dept:somu"),
		URI("urn:sekisho:user:alice"), END,
	};
	static const struct san two_depts[] = {
		URI("urn:sekisho:dept:somu"), URI("urn:sekisho:user:alice"),
		URI("urn:sekisho:dept:zaimu"), END,
	};
	static const struct san two_terminals[] = {
		URI("urn:sekisho:user:alice"), URI("urn:sekisho:dept:somu"),
		URI("urn:sekisho:terminal:t1"), URI("urn:sekisho:terminal:t2"),
		END,
	};

	(void)state;
	expect_refused("x", two_users, EKU_CLIENT, "more than one user");
	expect_refused("x", same_user_twice, EKU_CLIENT, "more than one user");
	expect_refused("x", two_depts, EKU_CLIENT, "more than one department");
	expect_refused("x", two_terminals, EKU_CLIENT,
	    "more than one terminal");
}

static void
test_bad_ids(void **state)
{
	static const char *const bad[] = {
		"urn:sekisho:user:al/ice", "urn:sekisho:user:../etc",
		"urn:sekisho:user:.hidden", "urn:sekisho:user:-rf",
		"urn:sekisho:user:a b", "urn:sekisho:user:a:b",
		"urn:sekisho:user:\xe7\x94\xb0\xe4\xb8\xad",	/* 田中 */
		"urn:sekisho:user:a%2fb", "urn:sekisho:user:a\\b",
	};
	struct san sans[4] = {
		URI("urn:sekisho:dept:somu"), URI(NULL), END, END,
	};
	size_t i;

	(void)state;
	for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
		sans[1].v = bad[i];
		expect_refused("x", sans, EKU_CLIENT,
		    "characters outside [A-Za-z0-9._-]");
	}
	/* A NUL hidden in the URI must not cut the id short. */
	sans[1].v = "urn:sekisho:user:alice\0admin";
	sans[1].len = 28;
	expect_refused("x", sans, EKU_CLIENT, "characters outside");
	sans[1].len = 0;
	/* Bad dept and terminal ids as well. */
	sans[1].v = "urn:sekisho:user:alice";
	sans[2] = (struct san)URI("urn:sekisho:terminal:t/1");
	expect_refused("x", sans, EKU_CLIENT, "terminal id contains");
	sans[0] = (struct san)URI("urn:sekisho:dept:so mu");
	sans[2] = (struct san)END;
	expect_refused("x", sans, EKU_CLIENT, "department id contains");
}

static void
test_empty_id_refused(void **state)
{
	static const struct san empty_user[] = {
		URI("urn:sekisho:user:"), URI("urn:sekisho:dept:somu"), END,
	};
	static const struct san empty_and_real[] = {
		URI("urn:sekisho:user:"), URI("urn:sekisho:user:alice"),
		URI("urn:sekisho:dept:somu"), END,
	};
	static const struct san empty_terminal[] = {
		URI("urn:sekisho:user:alice"), URI("urn:sekisho:dept:somu"),
		URI("urn:sekisho:terminal:"), END,
	};

	(void)state;
	expect_refused("x", empty_user, EKU_CLIENT, "user id is empty");
	expect_refused("x", empty_and_real, EKU_CLIENT, "user id is empty");
	expect_refused("x", empty_terminal, EKU_CLIENT, "terminal id is empty");
}

static void
test_id_length(void **state)
{
	char user[sizeof("urn:sekisho:user:") + IDENTITY_MAX_ID + 1];
	struct san sans[3] = {
		URI("urn:sekisho:dept:somu"), URI(user), END,
	};
	struct principal p;

	(void)state;
	snprintf(user, sizeof(user), "urn:sekisho:user:%0*d", IDENTITY_MAX_ID,
	    7);
	expect_ok(sans, EKU_CLIENT, &p);
	assert_int_equal(strlen(p.user), IDENTITY_MAX_ID);
	snprintf(user, sizeof(user), "urn:sekisho:user:%0*d",
	    IDENTITY_MAX_ID + 1, 7);
	expect_refused("x", sans, EKU_CLIENT, "longer than 64");
}

static void
test_extended_key_usage(void **state)
{
	static const struct san sans[] = {
		URI("urn:sekisho:user:alice"), URI("urn:sekisho:dept:somu"),
		END,
	};
	struct principal p;

	(void)state;
	expect_refused("x", sans, EKU_NONE, "clientAuth");
	expect_refused("x", sans, EKU_SERVER, "clientAuth");
	expect_refused("x", sans, EKU_ANY, "clientAuth");
	expect_ok(sans, EKU_CLIENT, &p);
	assert_string_equal(p.user, "alice");
	expect_ok(sans, EKU_BOTH, &p);
	assert_string_equal(p.user, "alice");
}

static void
test_null_cert(void **state)
{
	struct principal p;

	(void)state;
	memset(&p, 0x5a, sizeof(p));
	assert_int_equal(identity_from_cert(NULL, &p, errbuf, sizeof(errbuf)),
	    -1);
	assert_non_null(strstr(errbuf, "no client certificate"));
	assert_string_equal(p.user, "");
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_full_principal),
		cmocka_unit_test(test_terminal_optional_and_order_free),
		cmocka_unit_test(test_other_names_ignored),
		cmocka_unit_test(test_missing_parts),
		cmocka_unit_test(test_duplicates_refused),
		cmocka_unit_test(test_bad_ids),
		cmocka_unit_test(test_empty_id_refused),
		cmocka_unit_test(test_id_length),
		cmocka_unit_test(test_extended_key_usage),
		cmocka_unit_test(test_null_cert),
	};

	return cmocka_run_group_tests_name("identity", tests, setup, teardown);
}
