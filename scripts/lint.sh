#!/usr/bin/env bash
# Formatting and lint, as scripts/test.sh runs them in CI:
#  - clang-format --dry-run -Werror over every C++ file of the repository
#    (.clang-format): a file that is not formatted fails;
#  - clang-tidy (.clang-tidy) over src/, the library and the tool, with
#    BUILD_DIR's compile_commands.json (the build must be configured and
#    built: generated headers are read), two files at a time.
# Each is one result in OUT_DIR/lint-results.txt ("clang-format passed"),
# which scripts/test_summary.py counts. Exits non-zero if either fails.
#
# Usage: scripts/lint.sh [BUILD_DIR [OUT_DIR]]   (default: build build-lint)
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1
root=$PWD
build_dir=${1:-build}
out_dir=${2:-build-lint}
mkdir -p "$out_dir"
results=$out_dir/lint-results.txt
: >"$results"
status=0

# Every C++ file under version control, else (an unpacked tarball) every
# one outside build directories.
if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
  mapfile -t sources < <(git ls-files '*.cc' '*.h' '*.hpp' '*.cpp')
else
  mapfile -t sources < <(find . -path './build*' -prune -o -path './subprojects' -prune -o \
    -type f \( -name '*.cc' -o -name '*.h' -o -name '*.hpp' -o -name '*.cpp' \) -print)
fi

echo "=== lint: clang-format (${#sources[@]} files)"
if "${CLANG_FORMAT:-clang-format}" --dry-run -Werror "${sources[@]}"; then
  echo "clang-format passed" >>"$results"
else
  echo "clang-format: files above are not formatted (clang-format -i FILE)"
  echo "clang-format failed" >>"$results"
  status=1
fi

# The translation units of src/ in the build's compilation database.
mapfile -t units < <(python3 - "$build_dir/compile_commands.json" <<'PY'
import json, os, sys
with open(sys.argv[1], encoding="utf-8") as f:
    entries = json.load(f)
src = os.path.join(os.getcwd(), "src") + os.sep
files = {os.path.normpath(os.path.join(e["directory"], e["file"])) for e in entries}
print("\n".join(sorted(f for f in files if f.startswith(src))))
PY
)
echo "=== lint: clang-tidy (${#units[@]} files of src/, 2 at a time)"
log=$out_dir/clang-tidy.log
if [ "${#units[@]}" -eq 0 ]; then
  echo "clang-tidy: no src/ files in $build_dir/compile_commands.json (configure the build first)"
  echo "clang-tidy failed" >>"$results"
  status=1
# Diagnostics in the project's own headers count; system and generated
# ones (the build directory) do not.
elif printf '%s\n' "${units[@]}" |
  xargs -P 2 -n 1 "${CLANG_TIDY:-clang-tidy}" -p "$build_dir" --quiet \
    --header-filter="^$root/(src|include)/" >"$log" 2>&1; then
  echo "clang-tidy passed" >>"$results"
else
  grep -E "(warning|error):" "$log" | sort -u
  echo "clang-tidy: findings above (full log: $log)"
  echo "clang-tidy failed" >>"$results"
  status=1
fi
cat "$results"
exit "$status"
