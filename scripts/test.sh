#!/usr/bin/env bash
# README command 2: installs what is missing, builds the normal build (build/)
# and an ASan+UBSan build (build-asan/) and runs every test in both, then
# runs the threaded shared-memory test under TSan (build-tsan/), then each
# libFuzzer target for a short fixed run (build-fuzz/, scripts/fuzz.sh),
# then clang-format and clang-tidy over the sources (build-lint/,
# scripts/lint.sh, with build/'s compilation database).
# Ends with the line "N passed, N failed" summed over all runs (GoogleTest
# cases, plus one per other test, fuzz target and lint check); exits
# non-zero if anything failed.
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

# ThreadSanitizer over the threaded tests (shared memory, the store,
# import, whose gzip input is inflated on a thread of its own, and the
# encoder and merge, which fill large payloads with two threads):
# readers and writers in threads of one process. (TSan cannot see races
# between processes; the multi-process tests above cover those.) Only the
# library and those tests are built, to keep CI short.
echo "=== build-tsan: build"
rm -f build-tsan/meson-logs/testlog.json
if [ -d build-tsan/meson-private ]; then setup=(--reconfigure); else setup=(); fi
if meson setup "${setup[@]}" build-tsan -Dwerror="$werror" -Db_sanitize=thread \
     -Db_ndebug=false -Dbenchmarks=false -Dcli=false -Dpython=disabled &&
   meson compile -C build-tsan tests/shm_threads_test tests/store_threads_test \
     tests/json_stream_test tests/snapshot_writer_test tests/merge_test; then
  echo "=== build-tsan: test"
  TSAN_OPTIONS=halt_on_error=1 meson test -C build-tsan --no-rebuild --print-errorlogs \
    --timeout-multiplier 3 shm_threads store_threads json_stream snapshot_writer merge || status=1
else
  echo "=== build-tsan: BUILD FAILED"
  status=1
fi

# Each fuzz target, 20000 inputs over its seed corpus: about a minute in all.
# A fixed seed makes this run the same inputs on every machine, so a result
# is reproducible; exploring with new seeds is the long run's job
# (scripts/fuzz.sh 0 -max_total_time=600).
echo "=== build-fuzz: fuzz"
bash scripts/fuzz.sh "${FUZZ_ITERATIONS:-20000}" "-seed=${FUZZ_SEED:-1}" || status=1

# Formatting (every C++ file) and clang-tidy (src/), one result each.
rm -f build-lint/lint-results.txt
bash scripts/lint.sh build build-lint || status=1

echo "=== summary"
python3 scripts/test_summary.py build build-asan build-tsan build-fuzz build-lint || status=1
exit "$status"
