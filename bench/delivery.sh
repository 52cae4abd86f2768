#!/usr/bin/env bash
# Delivery benchmark: one file (1 GiB by default) through sekisho to a local
# nginx WebDAV server over HTTPS, against a direct `curl -T` PUT of the same
# file to the same nginx. Everything on 127.0.0.1, in a temporary directory.
#
#   bench/delivery.sh [SIZE_MIB]        (default 1024)
#   BUILD=build-xyz bench/delivery.sh   (default: build)
#
# Prints three numbers, all from this one run:
#   client upload      `sekisho put` until the broker answered "stored"
#   until delivered    from the start of the put until the transfer is
#                      "delivered" (durably, after MOVE into place)
#   direct curl -T     the same bytes PUT straight to the same nginx
# and checks that both copies at the upstream have the file's SHA-256.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)
size_mib=${1:-1024}
build=${BUILD:-build}
[ -x "$build/broker/sekishod" ] && [ -x "$build/client/sekisho" ] || {
	echo "build first: meson setup $build && ninja -C $build" >&2
	exit 1
}
command -v nginx >/dev/null || PATH=$PATH:/usr/sbin
. deploy/demo-lib.sh

work=$(mktemp -d /tmp/sekisho-bench.XXXXXX)
chmod 700 "$work"
pids=()
cleanup() {
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$work"
}
trap cleanup EXIT

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'
}
now() { date +%s.%N; }
secs() { awk -v a="$1" -v b="$2" 'BEGIN { printf "%.2f", b - a }'; }
rate() { awk -v s="$1" -v m="$size_mib" 'BEGIN { printf "%.0f", m / s }'; }

export SEKISHO_PKI_DIR="$work/pki"
pki/sekisho-pki init --name "sekisho bench CA" >/dev/null
pki/sekisho-pki server localhost >/dev/null
pki/sekisho-pki user bench-user --dept soumu --terminal T0001 >/dev/null

dav_port=$(free_port)
start_cloud "$work/nginx" "$dav_port" "$work/pki/servers/localhost.crt" \
    "$work/pki/servers/localhost.key" "$work/dav"
pids+=("$nginx_pid")

port=$(free_port)
cat >"$work/register.yaml" <<YAML
services:
  - id: bench-dav
    connector: webdav
    endpoint: https://localhost:$dav_port
    ca: $work/pki/ca.crt
interfaces:
  - id: IF-BENCH
    max_class: 2
    service: bench-dav
    path: /via-sekisho/
YAML
cat >"$work/sekishod.yaml" <<YAML
listen: "127.0.0.1:$port"
tls:
  cert: pki/servers/localhost.crt
  key: pki/servers/localhost.key
  ca: pki/ca.crt
  crl: pki/crl.pem
spool_dir: spool
state_db: state.db
audit_log: audit
register: register.yaml
limits:
  max_file_size: 8GiB
YAML
cat >"$work/client.yaml" <<YAML
broker: "127.0.0.1:$port"
server_name: localhost
ca: $work/pki/ca.crt
cert: $work/pki/users/bench-user@T0001.crt
key: $work/pki/users/bench-user@T0001.key
YAML
start_broker "$build/broker/sekishod" "$work/sekishod.yaml" "$work/sekishod.log"
pids+=("$broker_pid")

file="$work/payload.bin"
echo "== creating a $size_mib MiB file of random bytes"
head -c "$((size_mib * 1024 * 1024))" /dev/urandom >"$file"
want=$(sha256sum "$file" | cut -d' ' -f1)
sync

echo "== sekisho put (client -> broker, durable), then delivery to nginx"
t0=$(now)
out=$(HOME="$work" XDG_STATE_HOME="$work/state" "$build/client/sekisho" \
	--config "$work/client.yaml" put "$file" --to IF-BENCH --class 1 \
	--purpose benchmark --json 2>/dev/null)
t1=$(now)
id=$(printf '%s' "$out" | sed -n 's/.*"transfer": *"\([0-9a-f]*\)".*/\1/p')
[ -n "$id" ] || { echo "put failed: $out" >&2; exit 1; }
state=""
for _ in $(seq 1 7200); do
	st=$(HOME="$work" "$build/client/sekisho" --config "$work/client.yaml" \
		status "$id" --json)
	state=$(printf '%s' "$st" | sed -n 's/.*"state": *"\([a-z]*\)".*/\1/p')
	case $state in delivered|failed) break ;; esac
	# Each poll is a client run (process + TLS handshake): not so often
	# that it takes the CPU the delivery is measured with.
	sleep 0.25
done
t2=$(now)
[ "$state" = delivered ] || { echo "transfer ended $state: $st" >&2; exit 1; }

echo "== direct curl -T to the same nginx"
t3=$(now)
curl -sS --fail --cacert "$work/pki/ca.crt" -T "$file" \
	"https://localhost:$dav_port/direct/payload.bin"
t4=$(now)

got=$(sha256sum "$work/dav/via-sekisho/$id-payload.bin" | cut -d' ' -f1)
direct=$(sha256sum "$work/dav/direct/payload.bin" | cut -d' ' -f1)
[ "$got" = "$want" ] && [ "$direct" = "$want" ] || {
	echo "hash mismatch: want $want, via sekisho $got, direct $direct" >&2
	exit 1
}

up=$(secs "$t0" "$t1")
deliv=$(secs "$t0" "$t2")
fwd=$(secs "$t1" "$t2")
curl_t=$(secs "$t3" "$t4")
echo
echo "file: $size_mib MiB, sha256 $want (matches at the upstream, both ways)"
printf "client upload (put -> stored):        %8s s  (%s MiB/s)\n" "$up" "$(rate "$up")"
printf "until delivered upstream (from put):  %8s s  (forwarding %s s, %s MiB/s)\n" "$deliv" "$fwd" "$(rate "$fwd")"
attempt_ms=$(printf '%s' "$st" | sed -n 's/.*"upstream_duration_ms": *\([0-9]*\).*/\1/p')
attempt=$(awk -v m="${attempt_ms:-0}" 'BEGIN { printf "%.2f", m / 1000 }')
printf "  of which the delivery attempt:      %8s s  (PUT + MOVE + HEAD, as the broker measured it)\n" "$attempt"
printf "direct curl -T to the same nginx:     %8s s  (%s MiB/s)\n" "$curl_t" "$(rate "$curl_t")"
echo "upstream result: $st"
