#!/usr/bin/env bash
# Builds sekisho for the demo scripts and for a first install:
#   deploy/build.sh [BUILDDIR [NINJA-TARGET...]]     (BUILDDIR: build)
# needs only what deploy/install-deps.sh installs (unit tests are built only
# when cmocka is there). Quiet when it works; when a step fails it prints
# everything that step said and exits non-zero. Run again after any failure:
# a build directory that a failed "meson setup" left half-made is set up
# again from scratch (neither ninja nor meson can use it as it is).
set -euo pipefail
cd "$(dirname "$0")/.."
dir=${1:-build}
[ $# -gt 0 ] && shift

# quietly CMD...: runs CMD with its output kept aside; shows it on failure.
quietly() {
	local log rc=0
	log=$(mktemp)
	"$@" >"$log" 2>&1 || rc=$?
	if [ "$rc" -ne 0 ]; then
		cat "$log" >&2
		echo "build: '$*' failed (exit $rc)" >&2
	fi
	rm -f "$log"
	return "$rc"
}

# meson writes build.ninja last: without it the directory is what a failed
# setup left behind.
if [ ! -f "$dir/build.ninja" ]; then
	rm -rf "$dir"
	quietly meson setup "$dir" || exit 1
fi
quietly ninja -C "$dir" "$@" || exit 1
