/*
 * crosscheck_notetool — a command-line face of lib/merkle and lib/note for
 * crosscheck.go, which compares them with golang.org/x/mod/sumdb/note and
 * sumdb/tlog (an independent implementation of the same formats).
 *
 * Commands (keys are passed as encoded strings; this is a test tool and its
 * keys are throwaway):
 *   genkey NAME                 print signer key, then verifier key
 *   sign SKEY                   sign the text on stdin
 *   open VKEY                   open the note on stdin, print its text
 *   checkpoint SKEY ORIGIN N    sign the checkpoint of the first N records
 *   open-checkpoint VKEY ORIGIN print "size hexroot" of the checkpoint on stdin
 *   proofs NMAX                 print every inclusion and consistency proof
 *                               of trees up to NMAX records:
 *                               "i M N h1,h2,..." and "c M N h1,h2,..."
 *   verify-proofs               read such lines on stdin and verify them
 *   root N                      print the hex root of the first N records
 * Record i is the text "sekisho crosscheck record <i>\n".
 * Exit status 0 on success, 1 on refusal or error (message on stderr).
 */
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "lib/merkle.h"
#include "lib/note.h"
#include "lib/util.h"

#define MAXRECS 4096

static uint8_t leaves[MAXRECS][MERKLE_HASH_LEN];

static int
make_leaves(uint64_t n)
{
	char rec[64], err[128];
	uint64_t i;
	int len;

	if (n > MAXRECS)
		return -1;
	for (i = 0; i < n; i++) {
		len = snprintf(rec, sizeof(rec),
		    "sekisho crosscheck record %" PRIu64 "\n", i);
		if (merkle_hash_leaf(rec, (size_t)len, leaves[i], err,
		    sizeof(err)) == -1)
			return -1;
	}
	return 0;
}

static char *
read_stdin(size_t *len)
{
	size_t cap = NOTE_MAX_SIZE + 2, n;
	char *buf;

	if ((buf = malloc(cap)) == NULL)
		return NULL;
	n = fread(buf, 1, cap - 1, stdin);
	buf[n] = '\0';
	*len = n;
	return buf;
}

static void
print_hashes(char kind, uint64_t m, uint64_t n, uint8_t (*p)[MERKLE_HASH_LEN],
    size_t len)
{
	char hex[2 * MERKLE_HASH_LEN + 1];
	size_t i;

	printf("%c %" PRIu64 " %" PRIu64 " ", kind, m, n);
	for (i = 0; i < len; i++) {
		util_hex(p[i], MERKLE_HASH_LEN, hex);
		printf("%s%s", i ? "," : "", hex);
	}
	printf("\n");
}

static int
cmd_proofs(uint64_t nmax)
{
	uint8_t p[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	char err[128];
	size_t len;
	uint64_t m, n;

	if (make_leaves(nmax) == -1)
		return 1;
	for (n = 1; n <= nmax; n++)
		for (m = 0; m < n; m++) {
			if (merkle_prove_inclusion(m, n, merkle_leaf_array,
			    leaves, p, MERKLE_MAX_PROOF, &len, err,
			    sizeof(err)) == -1)
				goto fail;
			print_hashes('i', m, n, p, len);
			if (merkle_prove_consistency(m + 1, n,
			    merkle_leaf_array, leaves, p, MERKLE_MAX_PROOF,
			    &len, err, sizeof(err)) == -1)
				goto fail;
			print_hashes('c', m + 1, n, p, len);
		}
	return 0;
fail:
	fprintf(stderr, "%s\n", err);
	return 1;
}

static int
cmd_verify_proofs(void)
{
	static uint8_t roots[MAXRECS + 1][MERKLE_HASH_LEN];
	uint8_t p[MERKLE_MAX_PROOF][MERKLE_HASH_LEN];
	char line[MERKLE_MAX_PROOF * 65 + 64], kind, *h, *save;
	char hex[2 * MERKLE_HASH_LEN + 1], err[128];
	unsigned long long m, n;
	size_t len, count = 0, bad = 0;
	enum merkle_verdict v;
	uint64_t i;
	int off;

	if (make_leaves(MAXRECS) == -1)
		return 1;
	for (i = 0; i <= MAXRECS; i++)
		if (merkle_root(i, merkle_leaf_array, leaves, roots[i], err,
		    sizeof(err)) == -1)
			return 1;
	while (fgets(line, sizeof(line), stdin) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (sscanf(line, "%c %llu %llu %n", &kind, &m, &n, &off) != 3 ||
		    n > MAXRECS || m > n) {
			fprintf(stderr, "bad line: %s\n", line);
			return 1;
		}
		len = 0;
		for (h = strtok_r(line + off, ",", &save); h != NULL;
		    h = strtok_r(NULL, ",", &save)) {
			if (len == MERKLE_MAX_PROOF || strlen(h) != 64)
				return 1;
			memcpy(hex, h, 65);
			if (util_unhex(hex, p[len++], MERKLE_HASH_LEN) == -1)
				return 1;
		}
		if (kind == 'i')
			v = m < n ? merkle_verify_inclusion(leaves[m], m, n,
			    (const uint8_t (*)[MERKLE_HASH_LEN])p, len,
			    roots[n]) : MERKLE_ERR_RANGE;
		else
			v = merkle_verify_consistency(m, n, roots[m], roots[n],
			    (const uint8_t (*)[MERKLE_HASH_LEN])p, len);
		count++;
		if (v != MERKLE_OK) {
			fprintf(stderr, "%c %llu %llu: %s\n", kind, m, n,
			    merkle_verdict_str(v));
			bad++;
		}
	}
	printf("%zu verified, %zu refused\n", count - bad, bad);
	return bad == 0 && count > 0 ? 0 : 1;
}

int
main(int argc, char **argv)
{
	struct note_signer sk;
	struct note_verifier vk;
	struct note_checkpoint cp;
	struct note_result res;
	struct merkle_tree t;
	char err[256], key[NOTE_KEY_TEXT_MAX], hex[65], *in, *out;
	uint8_t root[MERKLE_HASH_LEN];
	size_t len, outlen;
	uint64_t n, i;
	int rc = 1;

	if (argc < 2)
		goto usage;
	if (strcmp(argv[1], "genkey") == 0 && argc == 3) {
		if (note_key_generate(argv[2], &sk, err, sizeof(err)) == -1 ||
		    note_signer_format(&sk, key, sizeof(key), err,
		    sizeof(err)) == -1)
			goto fail;
		printf("%s\n", key);
		note_signer_verifier(&sk, &vk);
		if (note_verifier_format(&vk, key, sizeof(key), err,
		    sizeof(err)) == -1)
			goto fail;
		printf("%s\n", key);
		return 0;
	}
	if ((strcmp(argv[1], "sign") == 0 && argc == 3) ||
	    (strcmp(argv[1], "checkpoint") == 0 && argc == 5)) {
		if (note_signer_parse(argv[2], strlen(argv[2]), &sk, err,
		    sizeof(err)) == -1)
			goto fail;
		if (argv[1][0] == 's') {
			if ((in = read_stdin(&len)) == NULL)
				return 1;
			rc = note_sign(in, len, &sk, &out, &outlen, err,
			    sizeof(err));
			free(in);
		} else {
			n = strtoull(argv[4], NULL, 10);
			if (make_leaves(n) == -1)
				return 1;
			merkle_tree_init(&t);
			for (i = 0; i < n; i++)
				if (merkle_tree_append(&t, leaves[i], err,
				    sizeof(err)) == -1)
					goto fail;
			if (merkle_tree_root(&t, root, err, sizeof(err)) == -1)
				goto fail;
			rc = note_checkpoint_sign(&sk, argv[3], n, root, &out,
			    &outlen, err, sizeof(err));
		}
		note_signer_clear(&sk);
		if (rc == -1)
			goto fail;
		fwrite(out, 1, outlen, stdout);
		free(out);
		return 0;
	}
	if ((strcmp(argv[1], "open") == 0 && argc == 3) ||
	    (strcmp(argv[1], "open-checkpoint") == 0 && argc == 4)) {
		if (note_verifier_parse(argv[2], strlen(argv[2]), &vk, err,
		    sizeof(err)) == -1)
			goto fail;
		if ((in = read_stdin(&len)) == NULL)
			return 1;
		if (argc == 3) {
			rc = note_open(in, len, &vk, 1, &res, NULL, err,
			    sizeof(err));
			if (rc == 0)
				fwrite(in, 1, res.textlen, stdout);
		} else {
			rc = note_checkpoint_open(in, len, &vk, 1, argv[3], &cp,
			    err, sizeof(err));
			if (rc == 0) {
				util_hex(cp.root, MERKLE_HASH_LEN, hex);
				printf("%" PRIu64 " %s\n", cp.size, hex);
			}
		}
		free(in);
		if (rc == -1)
			goto fail;
		return 0;
	}
	if (strcmp(argv[1], "root") == 0 && argc == 3) {
		n = strtoull(argv[2], NULL, 10);
		if (make_leaves(n) == -1 || merkle_root(n, merkle_leaf_array,
		    leaves, root, err, sizeof(err)) == -1)
			return 1;
		util_hex(root, MERKLE_HASH_LEN, hex);
		printf("%s\n", hex);
		return 0;
	}
	if (strcmp(argv[1], "proofs") == 0 && argc == 3)
		return cmd_proofs(strtoull(argv[2], NULL, 10));
	if (strcmp(argv[1], "verify-proofs") == 0 && argc == 2)
		return cmd_verify_proofs();
usage:
	fprintf(stderr, "usage: crosscheck_notetool command [args]\n");
	return 2;
fail:
	fprintf(stderr, "%s\n", err);
	return 1;
}
