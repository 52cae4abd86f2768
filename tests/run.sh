#!/usr/bin/env bash
# The whole test suite, as README.md gives it: installs what it needs
# (Debian 12, root), builds with warnings as errors, runs the unit and
# integration tests, then builds again with ASan+UBSan and runs them again.
# Ends with one line "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")/.."
top=$(pwd)

deploy/install-deps.sh --test || exit 1

# Servers the delivery tests run (s3rver, from the npm registry, pinned by
# tests/integration/package-lock.json).
results="$top/build-results"
rm -rf "$results"
mkdir -p "$results"
# A missing test server is a failure, not a reason to skip its tests.
if [ -f tests/integration/package-lock.json ]; then
	(cd tests/integration && npm ci --no-audit --no-fund --loglevel=error) ||
		echo "npm ci failed: no S3 emulator for the delivery tests" \
			>"$results/npm.fatal"
fi
PY=/usr/bin/python3

run_suite() {		# name builddir meson-args...
	local name=$1 dir=$2
	shift 2
	echo "== $name: configure and build ($dir)"
	# A directory without build.ninja is what a failed first setup left:
	# --reconfigure cannot use it, so it is set up again from scratch.
	if [ -f "$dir/build.ninja" ]; then
		meson setup --reconfigure "$dir" "$@" >"$results/$name-setup.log" 2>&1
	else
		rm -rf "$dir"
		meson setup "$dir" "$@" >"$results/$name-setup.log" 2>&1
	fi || { cat "$results/$name-setup.log"; echo "build failed" >"$results/$name.fatal"; return; }
	if ! ninja -C "$dir" >"$results/$name-build.log" 2>&1; then
		tail -50 "$results/$name-build.log"
		echo "build failed" >"$results/$name.fatal"
		return
	fi
	echo "== $name: unit tests"
	meson test -C "$dir" --suite unit --print-errorlogs --num-processes 2 \
		>"$results/$name-unit.log" 2>&1
	tail -15 "$results/$name-unit.log"
	cp "$dir/meson-logs/testlog.json" "$results/$name-unit.json" 2>/dev/null
	echo "== $name: integration tests"
	# The browser tests save a screenshot of each page here.
	mkdir -p "$results/screenshots/$name"
	SEKISHO_SCREENSHOTS="$results/screenshots/$name" \
	SEKISHO_BUILD="$top/$dir" $PY -m pytest -q -p no:cacheprovider \
		--junitxml="$results/$name-integration.xml" tests/integration \
		2>&1 | tee "$results/$name-integration.log" | tail -25
	[ -s "$results/$name-integration.xml" ] ||
		echo "integration tests did not run" >"$results/$name.fatal"
	[ -s "$results/$name-unit.json" ] ||
		echo "unit tests did not run" >"$results/$name.fatal"
}

# -Dtests=enabled: the unit tests must be built here; a missing cmocka is a
# failed build, not tests silently left out.
# -Dtest_hooks=true: the integration tests move the broker's clock
# (SEKISHO_TEST_CLOCK_OFFSET) to test step-up lockout release; a production
# build never has the hook.
run_suite release build -Dwerror=true -Dbuildtype=debugoptimized \
	-Dtests=enabled -Dtest_hooks=true
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
run_suite asan build-asan -Dwerror=true -Db_sanitize=address,undefined \
	-Db_lundef=false -Dbuildtype=debug -Dtests=enabled -Dtest_hooks=true

$PY tests/summarize.py "$results"
