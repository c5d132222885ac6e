#!/usr/bin/env bash
# README command 1: installs what is missing, builds, and runs the demo:
# a synthetic 100k-track library → JSON → verified snapshot → lookups.
# Every step prints its own timing on stderr. Output files go to demo-out/.
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
$ts status "$OUT/state" --library "$OUT/library.json" --max-age-hours 0.000001 > "$OUT/status.txt"
head -n 8 "$OUT/status.txt"

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

printf '\ndemo: done; files in %s/\n' "$OUT"
