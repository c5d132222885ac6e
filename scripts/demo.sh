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

printf '\ndemo: done; files in %s/\n' "$OUT"
