#!/bin/sh
# Installs the Debian 12 packages sekisho needs. Run as root (or with sudo).
#   deploy/install-deps.sh          build + run (quick start)
#   deploy/install-deps.sh --test   also what the test suite needs
#   deploy/install-deps.sh --demo   also what deploy/demo-approvals.sh needs
# apt's output is shown only when it fails.
set -eu

BUILD_PKGS="meson ninja-build pkg-config gcc libc6-dev openssl libssl-dev \
libevent-dev libcbor-dev liboath-dev libsqlite3-dev libcurl4-openssl-dev \
libyaml-dev libqrencode-dev libicu-dev sqlite3 python3 python3-cbor2 nginx-light \
libnginx-mod-http-dav-ext libxml2-dev libzip-dev libpoppler-glib-dev libseccomp-dev libnghttp2-dev libjansson-dev gettext"
TEST_PKGS="libcmocka-dev python3-pytest oathtool clang libclang-rt-14-dev \
tinyproxy curl golang-go golang-golang-x-mod-dev python3-h2 \
chromium chromium-driver python3-selenium libnss3-tools fonts-ipafont-gothic \
librsvg2-bin zbar-tools"

# librsvg2-bin (rsvg-convert) and zbar-tools (zbarimg) turn the enrolment QR
# code's SVG into an image and read it back in tests/integration/test_enrol.py.
# oathtool computes the officers' one-time codes in the approvals demo.
DEMO_PKGS="oathtool"

pkgs="$BUILD_PKGS"
case "${1:-}" in
"") ;;
--test) pkgs="$pkgs $TEST_PKGS" ;;
--demo) pkgs="$pkgs $DEMO_PKGS" ;;
*) echo "usage: install-deps.sh [--test | --demo]" >&2; exit 2 ;;
esac
# The S3 emulator of the delivery tests runs on Node.js; a node and npm
# already installed (from any source) will do.
[ "${1:-}" = "--test" ] && ! command -v npm >/dev/null 2>&1 &&
	pkgs="$pkgs nodejs npm"

missing=""
for p in $pkgs; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" ||
		missing="$missing $p"
done
[ -z "$missing" ] && exit 0

SUDO=""
if [ "$(id -u)" -ne 0 ]; then
	command -v sudo >/dev/null 2>&1 || {
		echo "install-deps: missing packages:$missing; run as root" >&2
		exit 1
	}
	SUDO=sudo
fi
echo "install-deps: installing$missing" >&2
log=$(mktemp)
trap 'rm -f "$log"' EXIT
# quietly CMD...: CMD's output is kept aside and shown only if it fails.
quietly() {
	"$@" >"$log" 2>&1 && return 0
	cat "$log" >&2
	echo "install-deps: '$*' failed" >&2
	exit 1
}
quietly $SUDO apt-get update -qq
# nginx's package starts a system nginx on install; sekisho runs its own
# instances, so keep the packaged service from starting where we can.
quietly $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq \
	--no-install-recommends $missing
