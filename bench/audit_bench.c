/*
 * audit_bench — how fast the audit trail takes records and how fast an
 * auditor's verify goes.
 *
 *   append   records/s appended with audit_append and made durable with
 *            audit_sync (fdatasync) every BATCH records, as the commit
 *            thread's group commit does; once per batch size given
 *   verify   records/s through lib/auditfmt's verifier (walk, leaf hash,
 *            chain, tree) over records read back from the trail, the
 *            same work `sekisho audit verify` does per record
 *
 * The trail lives in a fresh directory under DIR (default: the current
 * directory, so the durable numbers are those of the disk it is on).
 * bench/audit_bench.sh runs it next to `openssl speed sha256`.
 *
 * usage: audit_bench [-n RECORDS] [-d DIR] [-b BATCH[,BATCH...]]
 */
#include "broker/audit.h"
#include "broker/audittree.h"
#include "lib/auditfmt.h"
#include "lib/note.h"

#include <sys/stat.h>

#include <ftw.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static double
now_s(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int
rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	(void)sb;
	(void)flag;
	(void)ftw;
	return remove(path);
}

static int
sign_cb(void *arg, const char *text, size_t len, char **note,
    size_t *notelen, char *err, size_t errlen)
{
	return note_sign(text, len, arg, note, notelen, err, errlen);
}

/* A record like the broker's "stored": principal, subject, size, hash. */
static int
append_one(struct audit *a, unsigned i, char *err, size_t errlen)
{
	static const uint8_t sha[32] = { 0x9f, 0x86, 0xd0, 0x81 };
	struct audit_kv kv[3];
	struct audit_event ev;

	memset(kv, 0, sizeof(kv));
	kv[0].key = "size";
	kv[0].type = AUDIT_UINT;
	kv[0].u = 1048576 + i;
	kv[1].key = "sha256";
	kv[1].type = AUDIT_BYTES;
	kv[1].bytes = sha;
	kv[1].len = sizeof(sha);
	kv[2].key = "name";
	kv[2].type = AUDIT_TEXT;
	kv[2].text = "令和8年度予算資料.xlsx";
	memset(&ev, 0, sizeof(ev));
	ev.type = "stored";
	ev.user = "yamada.taro";
	ev.dept = "somu";
	ev.terminal = "T-0001";
	ev.cert_fp = "5d1c0b6e0f4a3b2c1d0e9f8a7b6c5d4e3f2a1b0c9d8e7f6a5b4c3d2e1f0a9b1c";
	ev.peer = "192.0.2.10:50412";
	ev.transfer = "3f2a9c0d5e6b7a8f1c2d3e4f5a6b7c8d";
	ev.interface = "IF-2026-001";
	ev.service = "jichitai-cloud";
	ev.details = kv;
	ev.ndetails = 3;
	return audit_append(a, time(NULL), &ev, err, errlen);
}

static int
bench_append(const char *base, unsigned n, unsigned batch)
{
	struct audit *a;
	char dir[4096], err[512];
	double t0, t1;
	unsigned i;

	snprintf(dir, sizeof(dir), "%s/audit-bench-%d-%u", base, (int)getpid(),
	    batch);
	if (audit_open(dir, &a, NULL, err, sizeof(err)) != 0) {
		fprintf(stderr, "audit_bench: %s\n", err);
		return -1;
	}
	t0 = now_s();
	for (i = 0; i < n; i++) {
		if (append_one(a, i, err, sizeof(err)) != 0 ||
		    ((i + 1) % batch == 0 && audit_sync(a, err,
		    sizeof(err)) != 0)) {
			fprintf(stderr, "audit_bench: %s\n", err);
			audit_close(a);
			return -1;
		}
	}
	if (audit_sync(a, err, sizeof(err)) != 0) {
		fprintf(stderr, "audit_bench: %s\n", err);
		audit_close(a);
		return -1;
	}
	t1 = now_s();
	printf("append  batch %5u  %9u records  %8.3f s  %12.0f records/s "
	    "durable\n", batch, n, t1 - t0, n / (t1 - t0));
	audit_close(a);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	return 0;
}

static int
bench_verify(const char *base, unsigned n)
{
	struct auditfmt_verify *vf = malloc(sizeof(*vf));
	struct auditfmt_proof *proof = calloc(1, sizeof(*proof));
	struct audit_options opt;
	struct audit_cursor cur;
	struct note_signer sk;
	struct note_verifier vk;
	struct note_checkpoint cp;
	struct auditfmt_head h;
	struct audit *a;
	uint8_t *buf, (*leaves)[32];
	char dir[4096], err[512], *note;
	size_t len, notelen, off;
	uint64_t got, size, total = 0, bytes = 0;
	double t0, t1;
	unsigned i;

	buf = malloc((size_t)n * 1024 + AUDIT_MAX_RECORD);
	leaves = malloc((size_t)n * 32);
	if (vf == NULL || proof == NULL || buf == NULL || leaves == NULL ||
	    note_key_generate("bench.example/sekisho-audit", &sk, err,
	    sizeof(err)) != 0) {
		fprintf(stderr, "audit_bench: out of memory or no key\n");
		return -1;
	}
	note_signer_verifier(&sk, &vk);
	memset(&opt, 0, sizeof(opt));
	opt.origin = vk.name;
	opt.verifier = &vk;
	opt.sign = sign_cb;
	opt.sign_arg = &sk;
	snprintf(dir, sizeof(dir), "%s/audit-bench-%d-verify", base,
	    (int)getpid());
	if (audit_open_opts(dir, &opt, &a, NULL, err, sizeof(err)) != 0)
		goto fail;
	for (i = 0; i < n; i++)
		if (append_one(a, i, err, sizeof(err)) != 0)
			goto fail;
	if (audit_sync(a, err, sizeof(err)) != 0 ||
	    audit_checkpoint(a, time(NULL), 1, err, sizeof(err)) < 0 ||
	    audit_latest_checkpoint(a, &note, &notelen, &size, err,
	    sizeof(err)) != 0 || audit_seek(a, 0, &cur, err,
	    sizeof(err)) != 0)
		goto fail;
	while (total < n) {
		if (audit_read(a, &cur, n, n, buf + bytes, (size_t)n * 1024 +
		    AUDIT_MAX_RECORD - bytes, &len, &got, err,
		    sizeof(err)) != 0)
			goto fail;
		if (got == 0)
			break;
		total += got;
		bytes += len;
	}
	if (audittree_leaves(audit_tree(a), 0, n, leaves, err,
	    sizeof(err)) != 0)
		goto fail;
	proof->count = n;
	proof->tree_size = size;

	t0 = now_s();
	if (note_checkpoint_open(note, notelen, &vk, 1, vk.name, &cp, err,
	    sizeof(err)) != 0)
		goto fail;
	auditfmt_verify_begin(vf, &cp, proof,
	    (const uint8_t (*)[32])leaves, n);
	for (off = 0; off < bytes; off += h.len) {
		if (auditfmt_walk(buf + off, bytes - off, &h) != AUDITFMT_OK)
			break;
		auditfmt_verify_record(vf, buf + off, h.len, off);
	}
	auditfmt_verify_end(vf);
	t1 = now_s();
	if (vf->v.fault != AUDITFMT_FAULT_NONE) {
		fprintf(stderr, "audit_bench: verification failed: %s\n",
		    vf->v.msg);
		return -1;
	}
	printf("verify               %9u records  %8.3f s  %12.0f records/s "
	    "(%.0f bytes/record, %.1f MB/s)\n", n, t1 - t0, n / (t1 - t0),
	    (double)bytes / n, (double)bytes / (t1 - t0) / 1e6);
	free(note);
	audit_close(a);
	nftw(dir, rm_entry, 8, FTW_DEPTH | FTW_PHYS);
	note_signer_clear(&sk);
	free(vf);
	free(proof);
	free(buf);
	free(leaves);
	return 0;
fail:
	fprintf(stderr, "audit_bench: %s\n", err);
	return -1;
}

int
main(int argc, char **argv)
{
	const char *base = ".", *batches = "1,16,256";
	unsigned n = 200000;
	char *copy, *tok, *save = NULL;
	int c;

	while ((c = getopt(argc, argv, "n:d:b:")) != -1) {
		switch (c) {
		case 'n':
			n = (unsigned)strtoul(optarg, NULL, 10);
			break;
		case 'd':
			base = optarg;
			break;
		case 'b':
			batches = optarg;
			break;
		default:
			fprintf(stderr, "usage: audit_bench [-n RECORDS] "
			    "[-d DIR] [-b BATCH[,BATCH...]]\n");
			return 2;
		}
	}
	if (n == 0)
		n = 1;
	if ((copy = strdup(batches)) == NULL)
		return 1;
	for (tok = strtok_r(copy, ",", &save); tok != NULL;
	    tok = strtok_r(NULL, ",", &save)) {
		unsigned b = (unsigned)strtoul(tok, NULL, 10);
		/* Syncing every record is slow: fewer of them. */
		unsigned count = b == 1 && n > 20000 ? 20000 : n;

		if (b == 0 || bench_append(base, count, b) != 0) {
			free(copy);
			return 1;
		}
	}
	free(copy);
	return bench_verify(base, n) == 0 ? 0 : 1;
}
