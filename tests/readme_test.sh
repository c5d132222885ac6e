#!/usr/bin/env bash
# Runs the README's examples as written: every C++ block is compiled against
# the built library and run, and the shell blocks of its "CLI" section are
# run in order in a scratch directory, with the built tool on PATH, and
# the blocks of its "Python" section with the built package.
# A shared-memory segment name in them is made unique to this run.
#
# Usage: readme_test.sh SOURCE_DIR BUILD_DIR [B_SANITIZE [CLI]]
set -euo pipefail

src_dir=$(cd "$1" && pwd)
build_dir=$(cd "$2" && pwd)
sanitize=${3:-none}
with_cli=${4:-true}
cxx=${CXX:-g++}
readme=$src_dir/README.md

# The C++ blocks link the shared library (a static build would need its
# private dependencies on the command line too).
[ -e "$build_dir/src/libtrackstore.so" ] || { echo "no shared library: skipped"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/trackstore-readme-XXXXXX")
segment=readme-test-$$
cleanup() {
  if [ "$with_cli" = true ]; then
    "$build_dir/src/cli/trackstore" shm remove "$segment" >/dev/null 2>&1 || true
  fi
  rm -rf "$tmp"
}
trap cleanup EXIT

# extract LANG SECTION: the fenced LANG blocks under the heading SECTION,
# up to the next "## " heading (the whole file when SECTION is empty), each
# to $tmp/LANG-N.
extract() {
  awk -v lang="$1" -v section="$2" -v dir="$tmp" '
    /^## / { inside = (section == "" || $0 == section) }
    /^```/ {
      if (fence) { fence = 0; close(out); next }
      if (inside && $0 == "```" lang) { fence = 1; n++; out = dir "/" lang "-" n; next }
    }
    fence { print > out }
  ' "$readme"
}

extra=()
if [ "$sanitize" != none ] && [ -n "$sanitize" ]; then extra+=("-fsanitize=$sanitize"); fi

extract cpp ""
n=0
for block in "$tmp"/cpp-*; do
  n=$((n + 1))
  echo "--- C++ example $n"
  "$cxx" -std=c++20 -Wall -Wextra -Werror "${extra[@]}" -x c++ "$block" -o "$tmp/example-$n" \
    -I"$src_dir/include" -I"$build_dir/include" -L"$build_dir/src" -ltrackstore \
    -Wl,-rpath,"$build_dir/src"
  (cd "$tmp" && mkdir -p "run-$n" && cd "run-$n" && "$tmp/example-$n")
done
[ "$n" -gt 0 ] || { echo "FAIL: no C++ block in README.md"; exit 1; }

if [ "$with_cli" = true ]; then
  extract sh "## CLI"
  mkdir -p "$tmp/cli"
  export PATH=$build_dir/src/cli:$PATH
  n=0
  for block in "$tmp"/sh-*; do
    n=$((n + 1))
    echo "--- CLI block $n"
    sed -i "s/\(shm [a-z]*\) tracks\b/\1 $segment/g" "$block"
    (cd "$tmp/cli" && bash -euo pipefail -x "$block" >/dev/null)
  done
  [ "$n" -gt 0 ] || { echo "FAIL: no shell block in README.md's CLI section"; exit 1; }
fi
# The Python section's blocks, when the package was built (not under a
# sanitizer: the interpreter would need the sanitizer's runtime preloaded).
if [ -d "$build_dir/python/trackstore" ] && { [ "$sanitize" = none ] || [ -z "$sanitize" ]; }; then
  extract python "## Python"
  mkdir -p "$tmp/python"
  n=0
  for block in "$tmp"/python-*; do
    n=$((n + 1))
    echo "--- Python block $n"
    (cd "$tmp/python" && PYTHONPATH=$build_dir/python /usr/bin/python3 "$block")
  done
  [ "$n" -gt 0 ] || { echo "FAIL: no Python block in README.md's Python section"; exit 1; }
fi
echo "readme_test: OK"
