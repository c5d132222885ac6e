#!/usr/bin/env bash
# README command 2: installs what is missing, builds the normal build (build/)
# and an ASan+UBSan build (build-asan/), and runs every test in both.
# Ends with the line "N passed, N failed" summed over both runs (GoogleTest
# cases, plus one per other test); exits non-zero if anything failed.
#
# Warnings are errors when CI=true (.ci/run sets it); WERROR=true|false
# overrides.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

werror=${WERROR:-$([ "${CI:-}" = true ] && echo true || echo false)}
status=0

# build_and_test DIR MESON_OPTION...: a build failure is recorded, and its
# missing test log counts as a failure in the summary.
build_and_test() {
  local dir=$1
  shift
  rm -f "$dir/meson-logs/testlog.json"
  echo "=== $dir: build"
  if ! bash scripts/build.sh "$dir" -Dwerror="$werror" "$@"; then
    echo "=== $dir: BUILD FAILED"
    status=1
    return
  fi
  echo "=== $dir: test"
  meson test -C "$dir" --print-errorlogs --timeout-multiplier "$multiplier" || status=1
}

multiplier=1
build_and_test build

# Asserts on (b_ndebug=false) so that misuse of Result is caught too;
# -fno-sanitize-recover makes any UBSan report fail its test.
multiplier=3
build_and_test build-asan -Db_sanitize=address,undefined -Db_ndebug=false \
  -Dbenchmarks=false -Dcpp_args=-fno-sanitize-recover=all

echo "=== summary"
python3 scripts/test_summary.py build build-asan || status=1
exit "$status"
