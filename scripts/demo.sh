#!/usr/bin/env bash
# README command 1: installs what is missing, builds, and runs the demo:
# a synthetic 100k-track library → JSON → verified snapshot → lookups →
# merge, diff, the snapshot service, shared memory → a versioned store
# taking delta commits, its log, a checkout, a compaction and a diff of two
# versions. Every step prints its own timing on stderr; the store steps
# also print their wall time. Output files go to demo-out/.
set -euo pipefail
cd "$(dirname "$0")/.."

TRACKS=${TRACKS:-100000}
LOOKUPS=${LOOKUPS:-1000000}
OUT=demo-out

bash scripts/build.sh build
ts=build/src/cli/trackstore
mkdir -p "$OUT"

step() { printf '\n=== %s\n' "$*"; }

step "generate a synthetic library of $TRACKS tracks as JSON"
$ts generate "$TRACKS" "$OUT/library.json" --seed 42
ls -l "$OUT/library.json"

step "import it into a snapshot (atomic write, fsync)"
$ts import "$OUT/library.json" "$OUT/library.snap"

step "info (opens with full verification)"
$ts info "$OUT/library.snap"

step "verify"
$ts verify "$OUT/library.snap"

step "get two tracks by id (the first and the last of the library)"
$ts get "$OUT/library.snap" 100000
$ts get "$OUT/library.snap" $((100000 + TRACKS - 1)) --json

step "get an id that is not there (exit code 1)"
if $ts get "$OUT/library.snap" no-such-id; then exit 1; fi

step "$LOOKUPS random lookups by id"
$ts lookup "$OUT/library.snap" --count "$LOOKUPS"

step "export back to JSON"
$ts export "$OUT/library.snap" "$OUT/export.json"

step "a delta: 1000 changed tracks and 100 new ones, merged zero-copy"
$ts generate 1000 "$OUT/changed.json" --seed 7 --first-id 150000
$ts generate 100 "$OUT/new.json" --seed 8 --first-id 900000
$ts merge "$OUT/library.snap" "$OUT/changed.json" "$OUT/merged.snap"
$ts merge "$OUT/merged.snap" "$OUT/new.json" "$OUT/merged.snap"

step "diff of the library and the merged snapshot (first lines)"
# Into a file first: `cmd | head` would kill cmd with SIGPIPE once head has
# its lines, and pipefail would fail the demo.
$ts diff "$OUT/library.snap" "$OUT/merged.snap" > "$OUT/diff.txt"
head -n 6 "$OUT/diff.txt"

step "the snapshot service: update a directory, then ask whether its snapshot is valid and why"
$ts update "$OUT/state" "$OUT/library.json" --library "$OUT/library.json"
$ts status "$OUT/state" --library "$OUT/library.json"
touch "$OUT/library.json"  # the library changed since the snapshot
# Not valid any more: status says why and exits 3.
rc=0
$ts status "$OUT/state" --library "$OUT/library.json" --max-age-hours 0.000001 > "$OUT/status.txt" || rc=$?
head -n 8 "$OUT/status.txt"
[ "$rc" -eq 3 ] || { echo "demo: status exited $rc, expected 3 (not valid)"; exit 1; }

step "shared memory: publish the snapshot, read it from 4 processes at once"
shm=trackstore-demo-$$
trap '$ts shm remove "$shm" >/dev/null 2>&1 || true' EXIT
$ts shm publish "$shm" tracks_all "$OUT/merged.snap"
for id in 100000 150000 199999 900000; do $ts shm get "$shm" tracks_all "$id" --json & done
wait

step "4 reader processes at once, $LOOKUPS random lookups each, all in the one copy"
pids=()
for seed in 1 2 3 4; do
  $ts shm lookup "$shm" tracks_all --count "$LOOKUPS" --seed "$seed" &
  pids+=($!)
done
for pid in "${pids[@]}"; do wait "$pid"; done  # a failed reader fails the demo
$ts shm stat "$shm"
$ts shm remove "$shm"
trap - EXIT

# A store step with its wall time (process start included) after it.
timed() {
  local start end
  start=$(date +%s%N)
  "$@"
  end=$(date +%s%N)
  printf '  [%s %s: %d ms wall]\n' "$(basename "$1")" "$2" $(((end - start) / 1000000))
}

store="$OUT/store"
rm -rf "$store"

step "a store: the library imported as version 1 (a full replacement commit)"
timed $ts import "$OUT/library.json" "$store/"

step "three delta commits: 1000 changed tracks; 50 new ones; 500 changed and 4 removed"
$ts generate 1000 "$OUT/delta1.json" --seed 11 --first-id 120000
$ts generate 50 "$OUT/delta2.json" --seed 12 --first-id 950000
$ts generate 500 "$OUT/delta3.json" --seed 13 --first-id 180000
printf '%s\n' 100001 100002 100003 950001 > "$OUT/removed.txt"
timed $ts commit "$store" "$OUT/delta1.json"
timed $ts commit "$store" "$OUT/delta2.json"
timed $ts commit "$store" "$OUT/delta3.json" --remove "$OUT/removed.txt"

step "the store's history (* marks the current version)"
timed $ts log "$store"

step "reads of the layered version: info, a lookup, a removed id (exit code 1)"
timed $ts info "$store"
timed $ts get "$store" 950000 --json
if $ts get "$store" 950001; then exit 1; fi
timed $ts lookup "$store" --count "$LOOKUPS"

step "diff of versions 1 and 4 (first lines)"
$ts diff "$store" "$store" --version-a 1 --version-b 4 > "$OUT/store-diff.txt"
head -n 4 "$OUT/store-diff.txt"

step "checkout of version 2 (as a new version), then a compaction"
timed $ts checkout "$store" 2
timed $ts compact "$store"
timed $ts verify "$store"
timed $ts lookup "$store" --count "$LOOKUPS"  # one base fragment again
timed $ts log "$store"

step "garbage collection: keep the newest 2 versions; version 1 is then gone"
timed $ts gc "$store" --keep 2
if $ts info "$store" --version 1; then exit 1; fi

printf '\ndemo: done; files in %s/\n' "$OUT"
