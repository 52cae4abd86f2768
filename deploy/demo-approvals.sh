#!/usr/bin/env bash
# sekisho approval officers demo (承認者): a transfer held for approval and
# approved by an officer, then delivered; an exception (例外措置) requested
# by a staff member, granted by an officer, used, and expiring at its
# deadline. Builds, creates a local CA, starts a local WebDAV "specified
# cloud" and the broker on 127.0.0.1. Officers confirm with one-time codes
# (TOTP) that oathtool computes from the enrolled secrets, as an
# authenticator app would. Everything lives in ./demo-approvals (delete it
# to start over). Takes about a minute and a half: the exception is
# granted for 45 seconds so that its expiry can be watched.
set -euo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

say() { printf '\n\033[1m== %s\033[0m\n' "$*"; }
. deploy/demo-lib.sh
run() { printf '$ %s\n' "$*" | sed "s|$top/||g" >&2; "$@"; }

say "Installing Debian packages (if missing)"
deploy/install-deps.sh --demo

say "Building"
deploy/build.sh build

demo="$top/demo-approvals"
pki="$top/pki/sekisho-pki"
sekishod="$top/build/broker/sekishod"
sekisho="$top/build/client/sekisho"
mkdir -p "$demo"
chmod 700 "$demo"
export SEKISHO_PKI_DIR="$demo/pki"

say "A local CA; certificates for a staff member and two approval officers"
if [ ! -f "$demo/pki/ca.crt" ]; then
	"$pki" init --name "sekisho approvals demo CA"
	"$pki" server localhost
	"$pki" user tanaka --dept kosodate --terminal T0001
	"$pki" user suzuki --dept somu
	"$pki" user sato --dept somu
fi

port=${SEKISHO_DEMO_PORT:-18453}
dav_port=${SEKISHO_DEMO_DAV_PORT:-18454}

say "Starting the local specified cloud: nginx WebDAV on https://localhost:$dav_port"
nginx_pid=
broker_pid=
trap 'kill $broker_pid $nginx_pid 2>/dev/null; wait 2>/dev/null || true' EXIT
start_cloud "$demo/dav" "$dav_port" "$demo/pki/servers/localhost.crt" \
    "$demo/pki/servers/localhost.key" "$demo/dav/root"

cat >"$demo/register.yaml" <<YAML
# Demo register: one service, two interfaces. IF-KOSODATE-001 holds every
# transfer for one approval by the 総務課 approvers; IF-TOKEI-002 takes
# classification 1 only, but an exception may widen it to 2 for a day.
principals:
  users:
    - {id: tanaka, name: 田中 一郎, department: kosodate, roles: [staff]}
    - {id: suzuki, name: 鈴木 花子, department: somu, roles: [staff, officer]}
    - {id: sato, name: 佐藤 次郎, department: somu, roles: [staff, officer]}
  groups:
    - {id: approvers-somu, name: 総務課 承認者, users: [suzuki, sato]}
services:
  - id: demo-dav
    connector: webdav
    endpoint: https://localhost:$dav_port
    ca: pki/ca.crt
interfaces:
  - id: IF-KOSODATE-001
    purpose: 子育て支援の申請書類を県へ提出
    max_class: 2
    service: demo-dav
    path: /kosodate/
    approval: {when: always, approvers: approvers-somu, count: 1}
  - id: IF-TOKEI-002
    purpose: 統計データの提出
    max_class: 1
    service: demo-dav
    path: /tokei/
    approval: {when: "class>=3", approvers: approvers-somu, count: 1}
    exception_limits: {max_class: 2, max_duration: 1d}
YAML
head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' >"$demo/totp.key"
echo >>"$demo/totp.key"
chmod 600 "$demo/totp.key"
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
stepup:
  key_file: totp.key
approvals:
  hold: 72h
  officer_stepup_max_age: 5m
YAML
for who in tanaka suzuki sato; do
	cert=$(cd "$demo" && ls pki/users/"$who"*.crt)
	cat >"$demo/$who.yaml" <<YAML
broker: "127.0.0.1:$port"
server_name: localhost
ca: pki/ca.crt
cert: $cert
key: ${cert%.crt}.key
YAML
done
as() { local who=$1; shift; run "$sekisho" --config "$demo/$who.yaml" "$@"; }

say "Enrolling the officers' one-time codes (TOTP)"
declare -A secret
for who in suzuki sato; do
	uri=$("$sekishod" -c "$demo/sekishod.yaml" --totp-enroll "$who" --force |
		grep -o 'otpauth://[^ ]*')
	secret[$who]=$(printf '%s' "$uri" | sed -n 's/.*secret=\([A-Z2-7]*\).*/\1/p')
	echo "$who: enrolled (the QR code would go to the authenticator app)"
done
code() { oathtool --totp -b "${secret[$1]}"; }

say "Starting the broker on 127.0.0.1:$port"
start_broker "$sekishod" "$demo/sekishod.yaml" "$demo/sekishod.log"

say "1. Tanaka sends an application; the interface holds it for approval"
form="$demo/申請書.pdf"
printf '%%PDF-1.4 demo application %s\n' "$(date -u +%FT%TZ)" >"$form"
out=$(as tanaka put "$form" --to IF-KOSODATE-001 --class 2 \
	--purpose "児童手当 申請書の提出" --json)
echo "$out"
id=$(printf '%s' "$out" | sed -n 's/.*"transfer": *"\([0-9a-f]*\)".*/\1/p')
as tanaka status "$id"

say "2. Officer Suzuki lists what waits (a one-time code confirms her)"
as suzuki approvals ls --otp "$(code suzuki)"

say "3. Suzuki approves (her step-up is fresh: no new code needed)"
as suzuki approve "$id" --comment "内容を確認しました"

say "4. Delivered to the cloud"
state=
for _ in $(seq 1 300); do
	state=$("$sekisho" --config "$demo/tanaka.yaml" status "$id" --json |
		sed -n 's/.*"state": *"\([a-z]*\)".*/\1/p')
	case $state in delivered|failed) break ;; esac
	sleep 0.1
done
as tanaka status "$id"
[ "$state" = delivered ] || { tail -20 "$demo/sekishod.log"; exit 1; }
ls -l "$demo/dav/root/kosodate/"

say "5. Tanaka needs to send classification 2 statistics: refused without an exception"
stats="$demo/統計.csv"
printf 'ward,count\n1,42\n' >"$stats"
as tanaka put "$stats" --to IF-TOKEI-002 --class 2 ||
	echo "(exit code $? - refused as expected)"

say "6. Tanaka requests an exception for 45 seconds"
out=$(as tanaka exception request --to IF-TOKEI-002 --class 2 \
	--until +45s --reason "県への年次統計提出（機密性2を含む）" --json)
echo "$out"
ex=$(printf '%s' "$out" | sed -n 's/.*"exception": *"\(EX-[0-9a-f]*\)".*/\1/p')

say "7. Officer Sato grants it"
as sato exception grant "$ex" --comment "期限付きで許可" --otp "$(code sato)"

say "8. Now Tanaka's class 2 file goes through (under $ex)"
as tanaka put "$stats" --to IF-TOKEI-002 --class 2

say "9. The inventory (棚卸し) as CSV"
as sato exception ls --all --csv

say "10. Waiting for the deadline (45 s)"
sleep 47
as sato exception ls --expired
as tanaka put "$stats" --to IF-TOKEI-002 --class 2 ||
	echo "(exit code $? - refused: the exception has expired)"

say "The officers' steps in the audit trail"
"$sekishod" -c "$demo/sekishod.yaml" --print-audit |
	grep -E '"type":"(stored|approval_vote|approval_decided|exception_[a-z_]+|officer_refused)"' ||
	true

say "Done"
echo "Broker log: $demo/sekishod.log; the workflow is described in docs/officers.md"
