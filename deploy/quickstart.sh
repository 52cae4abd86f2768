#!/usr/bin/env bash
# sekisho quick start: installs the Debian packages, builds, creates a local
# CA and certificates, starts the broker on 127.0.0.1 with the embedded
# defaults, uploads a sample file with the client, and shows where it landed
# and its audit trail. Everything lives in ./demo (delete it to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }

say "Installing Debian packages (if missing)"
deploy/install-deps.sh

say "Building"
[ -d build ] || meson setup build >/dev/null
ninja -C build >/dev/null

demo="$top/demo"
pki="$top/pki/sekisho-pki"
mkdir -p "$demo"
chmod 700 "$demo"
export SEKISHO_PKI_DIR="$demo/pki"

say "Creating a local CA, a broker certificate and a user certificate"
if [ ! -f "$demo/pki/ca.crt" ]; then
	"$pki" init --name "sekisho demo CA"
	"$pki" server localhost
	"$pki" user demo-user --dept soumu --terminal T0001
fi
"$pki" list

port=${SEKISHO_DEMO_PORT:-18443}
cat >"$demo/register.yaml" <<YAML
# Demo interface register: one interface for classification 1 and 2.
interfaces:
  - id: IF-DEMO-001
    max_class: 2
YAML
cat >"$demo/sekishod.yaml" <<YAML
listen: "127.0.0.1:$port"
tls:
  cert: pki/servers/localhost.crt
  key: pki/servers/localhost.key
  ca: pki/ca.crt
  crl: pki/crl.pem
spool_dir: spool
state_db: state.db
audit_log: audit.log
register: register.yaml
YAML
cat >"$demo/client.yaml" <<YAML
broker: "127.0.0.1:$port"
server_name: localhost
ca: pki/ca.crt
cert: pki/users/demo-user@T0001.crt
key: pki/users/demo-user@T0001.key
YAML

say "Checking the configuration"
build/broker/sekishod -c "$demo/sekishod.yaml" --check-config

say "Starting the broker on 127.0.0.1:$port"
build/broker/sekishod -c "$demo/sekishod.yaml" 2>>"$demo/sekishod.log" &
broker_pid=$!
trap 'kill $broker_pid 2>/dev/null; wait $broker_pid 2>/dev/null || true' EXIT
for _ in $(seq 1 50); do
	(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && break
	kill -0 $broker_pid 2>/dev/null || { cat "$demo/sekishod.log"; exit 1; }
	sleep 0.1
done

say "Who am I, as the broker sees my certificate?"
build/client/sekisho --config "$demo/client.yaml" whoami

say "Uploading a sample file (classification 2) to IF-DEMO-001"
sample="$demo/sample-report.txt"
printf '関所 quick start sample, %s\n' "$(date -u +%FT%TZ)" >"$sample"
out=$(build/client/sekisho --config "$demo/client.yaml" put "$sample" \
	--to IF-DEMO-001 --class 2 --purpose "quick start" --json)
echo "$out"
id=$(printf '%s' "$out" | sed -n 's/.*"transfer": *"\([0-9a-f]*\)".*/\1/p')

say "Transfer status"
build/client/sekisho --config "$demo/client.yaml" status "$id"

say "Where it landed (the spool names files by transfer id, never by client name)"
ls -l "$demo/spool/$id"
sha256sum "$sample" "$demo/spool/$id"

say "A refused upload: classification 3 never leaves through the broker"
build/client/sekisho --config "$demo/client.yaml" put "$sample" \
	--to IF-DEMO-001 --class 3 || echo "(exit code $? - refused as expected)"

say "The audit trail (hash chain verified, one JSON record per line)"
build/broker/sekishod -c "$demo/sekishod.yaml" --print-audit

say "Done"
echo "Broker log: $demo/sekishod.log"
echo "Start the broker again with: build/broker/sekishod -c $demo/sekishod.yaml"
