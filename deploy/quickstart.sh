#!/usr/bin/env bash
# sekisho quick start: installs the Debian packages, builds, creates a local
# CA and certificates, starts a local "specified cloud" (nginx with WebDAV
# over HTTPS, certificate from the same CA) and the broker on 127.0.0.1 with
# the embedded defaults, uploads a sample file with the client, shows it
# arriving at the cloud with the same SHA-256, and prints the audit trail.
# Everything lives in ./demo (delete it to start over).
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
. deploy/demo-lib.sh

say "Installing Debian packages (if missing)"
deploy/install-deps.sh

say "Building"
deploy/build.sh build

demo="$top/demo"
pki="$top/pki/sekisho-pki"
mkdir -p "$demo"
chmod 700 "$demo"
export SEKISHO_PKI_DIR="$demo/pki"
# The client from the build tree finds its message catalogues there
# (LANGUAGE=ja or a Japanese LANG shows it in Japanese).
export SEKISHO_LOCALEDIR="$top/build/po"

say "Creating a local CA, a broker certificate and a user certificate"
if [ ! -f "$demo/pki/ca.crt" ]; then
	"$pki" init --name "sekisho demo CA"
	"$pki" server localhost
	"$pki" user demo-user --dept soumu --terminal T0001
fi
"$pki" list

# The demo user's certificate and key as one PKCS#12 file, for importing
# into a browser (the pages are served on the broker's own port).
p12="$demo/demo-user.p12"
if [ ! -f "$p12" ]; then
	openssl rand -hex 8 >"$demo/demo-user.p12.password"
	chmod 600 "$demo/demo-user.p12.password"
	openssl pkcs12 -export -in "$demo/pki/users/demo-user@T0001.crt" \
		-inkey "$demo/pki/users/demo-user@T0001.key" \
		-certfile "$demo/pki/ca.crt" -name "demo-user@T0001" -out "$p12" \
		-passout "file:$demo/demo-user.p12.password"
	chmod 600 "$p12"
fi

port=${SEKISHO_DEMO_PORT:-18443}
dav_port=${SEKISHO_DEMO_DAV_PORT:-18444}

say "Starting the local specified cloud: nginx WebDAV on https://localhost:$dav_port"
nginx_pid=
broker_pid=
trap 'kill $broker_pid $nginx_pid 2>/dev/null; wait 2>/dev/null || true' EXIT
start_cloud "$demo/dav" "$dav_port" "$demo/pki/servers/localhost.crt" \
    "$demo/pki/servers/localhost.key" "$demo/dav/root"

cat >"$demo/register.yaml" <<YAML
# Demo interface register: one specified cloud service (the local nginx)
# and one interface for classification 1 and 2 that delivers to it.
services:
  - id: demo-dav
    connector: webdav
    endpoint: https://localhost:$dav_port
    description: local WebDAV server of the quick start
    ca: pki/ca.crt
interfaces:
  - id: IF-DEMO-001
    purpose: quick start demonstration (総務課 → local WebDAV)
    owner: 総務課長
    approved_by: 情報セキュリティ委員会
    approved_on: $(date -u +%F)
    next_review: $(date -u -d '+1 year' +%F)
    max_class: 2
    allow:
      roles: [staff]
    service: demo-dav
    path: /inbox/{date}/
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
audit_dir: audit
register: register.yaml
web:
  root: "$top/web"
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
start_broker build/broker/sekishod "$demo/sekishod.yaml" "$demo/sekishod.log"

say "Who am I, as the broker sees my certificate?"
build/client/sekisho --config "$demo/client.yaml" whoami

say "Uploading a sample file (classification 2) to IF-DEMO-001"
sample="$demo/sample-report.txt"
printf '関所 quick start sample, %s\n' "$(date -u +%FT%TZ)" >"$sample"
out=$(build/client/sekisho --config "$demo/client.yaml" put "$sample" \
	--to IF-DEMO-001 --class 2 --purpose "quick start" --json)
echo "$out"
id=$(printf '%s' "$out" | sed -n 's/.*"transfer": *"\([0-9a-f]*\)".*/\1/p')

say "Delivery to the specified cloud (PUT under a temporary name, then MOVE)"
state=
for _ in $(seq 1 300); do
	state=$(build/client/sekisho --config "$demo/client.yaml" status "$id" \
		--json | sed -n 's/.*"state": *"\([a-z]*\)".*/\1/p')
	case $state in delivered|failed) break ;; esac
	sleep 0.1
done
build/client/sekisho --config "$demo/client.yaml" status "$id"
[ "$state" = delivered ] || { tail -20 "$demo/sekishod.log"; exit 1; }

say "Where it arrived (the name comes from the interface's path template)"
arrived=$(ls "$demo/dav/root/inbox/"*/"$id"-*)
ls -l "$arrived"
sha256sum "$sample" "$arrived"
[ "$(sha256sum <"$sample")" = "$(sha256sum <"$arrived")" ] &&
	echo "SHA-256 matches: the file arrived intact."

say "A refused upload: classification 3 never leaves through the broker"
build/client/sekisho --config "$demo/client.yaml" put "$sample" \
	--to IF-DEMO-001 --class 3 || echo "(exit code $? - refused as expected)"

say "The audit trail (one JSON record per line), its hash chain verified"
# --print-audit checks every record's link to the one before and stops at
# the first broken one, naming it on stderr.
if ! trail=$(build/broker/sekishod -c "$demo/sekishod.yaml" --print-audit); then
	printf '%s\n' "$trail"
	echo "Hash chain verification FAILED (see the message above)." >&2
	exit 1
fi
printf '%s\n' "$trail"
echo "Hash chain verified: $(printf '%s\n' "$trail" | grep -c '"seq"') records, each linked to the one before."

say "Done"
echo "Broker log: $demo/sekishod.log"
echo "Start the broker again with: build/broker/sekishod -c $demo/sekishod.yaml"
echo "and the local cloud with: $(command -v nginx || echo /usr/sbin/nginx) -p $demo/dav -c $demo/dav/nginx.conf"

say "The browser pages (with the broker started again as above)"
cat <<EOF
Staff page:   https://localhost:$port/
Officer page: https://localhost:$port/officer.html
Auditor page: https://localhost:$port/auditor.html
The browser must present the demo user's certificate and trust the demo CA:
  certificate: $p12
  password:    in $demo/demo-user.p12.password
  demo CA:     $demo/pki/ca.crt
Windows: copy both files to the PC; double-click the .p12 (or certmgr.msc,
  Personal > Certificates > Import) and enter the password; import ca.crt
  into "Trusted Root Certification Authorities" (demo only). Chrome and
  Edge use the Windows store (Chrome: Settings > Privacy and security >
  Security > Manage certificates).
Linux (Chromium/Chrome):
  certutil -d sql:\$HOME/.pki/nssdb -A -t "C,," -n "sekisho demo CA" -i $demo/pki/ca.crt
  pk12util -d sql:\$HOME/.pki/nssdb -i $p12 -w $demo/demo-user.p12.password
See docs/web.md.
EOF
