#!/usr/bin/env bash
# Builds the libFuzzer targets (build-fuzz/, clang-14, ASan+UBSan) and runs
# each for ITERATIONS inputs (default 20000) over its seed corpus. Prints one
# line per target and exits non-zero when any target crashed, leaked, hung
# or failed to build. test.sh runs it short; for a long run:
#
#   scripts/fuzz.sh 10000000                         # ten million inputs per target
#   scripts/fuzz.sh 0 -max_total_time=600            # 0: no run limit; 10 minutes each
#   FUZZ_TARGETS=snapshot_fuzzer scripts/fuzz.sh 0 -max_total_time=3600
#
# Arguments after ITERATIONS go to every fuzzer (libFuzzer flags). Corpora:
# fuzz/corpus/<target>/ (committed: hand-made and regression seeds) and the
# seeds make_seeds writes into build-fuzz/corpus/<target>/, where new
# interesting inputs are kept too (so a long run makes later ones better).
# A crashing input is saved as build-fuzz/artifacts/<target>-crash-<sha1>;
# reproduce it with build-fuzz/fuzz/<target> FILE.
#
# Results go to build-fuzz/fuzz-results.txt, one "<target> passed|failed"
# line each, which test_summary.py counts as one test per target.
#
# Warnings are errors when CI=true, as in test.sh; WERROR=true|false
# overrides.
set -uo pipefail
cd "$(dirname "$0")/.." || exit 1

iterations=${1:-20000}
shift || true
[ "$iterations" = 0 ] && iterations=-1  # libFuzzer's "no limit"
targets=(${FUZZ_TARGETS:-snapshot_fuzzer json_import_fuzzer metadata_fuzzer shm_header_fuzzer manifest_fuzzer reference_files_fuzzer})
dir=build-fuzz
werror=${WERROR:-$([ "${CI:-}" = true ] && echo true || echo false)}
results=$dir/fuzz-results.txt
rm -f "$results"

bash scripts/setup.sh || exit 1
if [ -d "$dir/meson-private" ]; then setup=(--reconfigure); else setup=(); fi
# b_lundef=false: the instrumented shared library leaves the sanitizer and
# coverage symbols to the executable that loads it.
if ! CC=clang-14 CXX=clang++-14 meson setup "${setup[@]}" "$dir" -Dfuzz=true \
       -Dwerror="$werror" -Db_sanitize=address,undefined -Db_lundef=false -Db_ndebug=false \
       -Dtests=false -Dbenchmarks=false -Dcli=false -Dpython=disabled ||
   ! nice -n 10 meson compile -C "$dir"; then
  echo "=== fuzz: BUILD FAILED"
  for t in "${targets[@]}"; do echo "$t failed" >>"$results"; done
  exit 1
fi

mkdir -p "$dir/corpus" "$dir/artifacts" "$dir/fuzz-logs"
"$dir/fuzz/make_seeds" "$dir/corpus" || exit 1
# The shared-memory fuzzer's segment and the JSON fuzzer's temporary file
# live here, removed at the end (a fuzzer that stops on a crash cannot).
shm_dir=$(mktemp -d /dev/shm/ts-fuzz.XXXXXX) || exit 1
trap 'rm -rf "$shm_dir"' EXIT

status=0
for t in "${targets[@]}"; do
  log=$dir/fuzz-logs/$t.log
  mkdir -p "$dir/corpus/$t"
  seeds=()
  [ -d "fuzz/corpus/$t" ] && seeds=("fuzz/corpus/$t")
  start=$(date +%s)
  # -timeout: one input running 30 s is a hang. UBSan reports fail the run.
  UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 TS_FUZZ_SHM_DIR=$shm_dir TMPDIR=$shm_dir \
    nice -n 10 "$dir/fuzz/$t" -runs="$iterations" -timeout=30 -print_final_stats=1 \
    -artifact_prefix="$dir/artifacts/$t-" "$@" "$dir/corpus/$t" "${seeds[@]}" >"$log" 2>&1
  rc=$?
  secs=$(($(date +%s) - start))
  runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
  units=$(ls "$dir/corpus/$t" | wc -l)
  if [ "$rc" -eq 0 ]; then
    echo "fuzz $t: passed, ${runs:-?} inputs in ${secs} s, corpus $units files"
    echo "$t passed" >>"$results"
  else
    echo "fuzz $t: FAILED (exit $rc) after ${runs:-?} inputs in ${secs} s; log $log"
    grep -E "ERROR:|SUMMARY:|Test unit written|^ *#[0-9]+ " "$log" | head -25
    echo "$t failed" >>"$results"
    status=1
  fi
done
exit "$status"
