#!/usr/bin/env bash
# Audit trail benchmark: durable appends (records/s with group commit of
# 1, 16 and 256 records per fdatasync) and verify (records/s), next to what
# this machine's SHA-256 can do (`openssl speed -seconds 3 sha256`), since
# verifying is mostly hashing (each record: one leaf hash and one chain
# hash; the tree adds about one node hash per record).
#
# usage: bench/audit_bench.sh [BUILD_DIR] [RECORDS]
# The trail is written under $AUDIT_BENCH_DIR (default: a fresh directory in
# the current one), so the durable figures are those of that disk.
set -euo pipefail
build=${1:-build}
n=${2:-200000}
bin="$build/bench/audit_bench"
[ -x "$bin" ] || { echo "build it first: ninja -C $build bench/audit_bench" >&2; exit 1; }
dir=${AUDIT_BENCH_DIR:-$(mktemp -d ./audit-bench.XXXXXX)}
trap 'rm -rf "$dir"' EXIT

echo "== sekisho audit trail ($(uname -srm), $(nproc) CPUs, trail on $(df -P "$dir" | awk 'NR==2 {print $1}'))"
"$bin" -n "$n" -d "$dir" -b 1,16,256 | tee "$dir/result.txt"
echo
echo "== openssl speed -seconds 3 sha256"
openssl speed -seconds 3 sha256 2>/dev/null | tail -3 | tee "$dir/openssl.txt"
echo
# The 256-byte column is closest to one record (about 440 bytes).
awk '
	FNR == NR && /^verify/ { vr = $6; mbs = $10 }
	FNR != NR && /^sha256/ { s256 = $4; s1k = $5; sub(/k$/, "", s256); sub(/k$/, "", s1k) }
	END {
		if (vr == "" || s256 == "") exit
		calls = s256 * 1000 / 256
		printf "verify: %.0f records/s, %.1f MB/s of records\n", vr, mbs
		printf "sha256: %.0f MB/s on 256-byte blocks (%.0f calls/s), %.0f MB/s on 1 KiB\n", s256 / 1000, calls, s1k / 1000
		printf "verify does about three SHA-256 calls per record (leaf, chain, tree node): %.0f%% of the hashing bound\n", 100 * vr * 3 / calls
	}' "$dir/result.txt" "$dir/openssl.txt"
