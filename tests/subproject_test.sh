#!/usr/bin/env bash
# Builds tests/subproject/ (a project outside the tree that takes trackstore
# as a Meson subproject, through dependency('trackstore')) and runs its
# consumer. Checks that the subproject built neither its tests nor its
# benchmarks.
#
# Usage: subproject_test.sh [B_SANITIZE]
set -euo pipefail

sanitize=${1:-none}
src_dir=$(cd "$(dirname "$0")/.." && pwd)

command -v meson >/dev/null || { echo "meson not found: skipped"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/trackstore-subproject-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/project/subprojects" "$tmp/project/pkgconfig"
cp "$src_dir/tests/subproject/meson.build" "$tmp/project/"
cp "$src_dir/tests/pkgconfig/consumer.cc" "$tmp/project/pkgconfig/"
ln -s "$src_dir" "$tmp/project/subprojects/trackstore"

args=()
if [ "$sanitize" != none ] && [ -n "$sanitize" ]; then args+=("-Db_sanitize=$sanitize"); fi
meson setup "$tmp/build" "$tmp/project" "${args[@]}" >"$tmp/setup.log" 2>&1 ||
  { cat "$tmp/setup.log"; echo "FAIL: meson setup of the consumer project"; exit 1; }
if grep -q "Dependency gtest\|Dependency benchmark" "$tmp/setup.log"; then
  cat "$tmp/setup.log"
  echo "FAIL: the subproject looked for its test or benchmark dependencies"
  exit 1
fi
meson compile -C "$tmp/build" >"$tmp/compile.log" 2>&1 ||
  { tail -50 "$tmp/compile.log"; echo "FAIL: the consumer project did not build"; exit 1; }
meson test -C "$tmp/build" --print-errorlogs
echo "subproject_test: OK"
