#!/usr/bin/env bash
# The bash completion script (src/cli/trackstore.bash) in bash: what it
# offers after a few prefixes, with the built tool first on PATH, and every
# command `trackstore --help` lists.
#
# Usage: completion_test.sh SOURCE_DIR TRACKSTORE
set -euo pipefail

src_dir=$1
cli=$(cd "$(dirname "$2")" && pwd)/$(basename "$2")
export PATH=$(dirname "$cli"):$PATH
# shellcheck source=/dev/null
source "$src_dir/src/cli/trackstore.bash"

failures=0
# complete WORD...: the words offered for the last WORD, one per line.
complete_words() {
  COMP_WORDS=("$@")
  COMP_CWORD=$(($# - 1))
  COMPREPLY=()
  _trackstore
  printf '%s\n' "${COMPREPLY[@]}"
}
# expect DESCRIPTION WORD_EXPECTED WORD...: WORD_EXPECTED is among them.
expect() {
  local what=$1 want=$2
  shift 2
  local offered
  offered=$(complete_words "$@")
  if grep -qxF -- "$want" <<<"$offered"; then
    echo "ok: $what"
  else
    echo "FAIL: $what: '$want' not offered for '$*' (got: $(tr '\n' ' ' <<<"$offered"))"
    failures=$((failures + 1))
  fi
}

[ "$(complete_words trackstore imp)" = import ] ||
  { echo "FAIL: 'trackstore imp' does not complete to import alone"; failures=$((failures + 1)); }
expect "an option of import" --json trackstore import --
expect "an option of import" --dedupe trackstore import --d
expect "a global option" --quiet trackstore --q
expect "shm's subcommands" stat trackstore shm st
expect "an option of shm publish" --capacity trackstore shm publish --c
expect "the option of a command after its arguments" --version trackstore get lib.snap --v

tmp=$(mktemp -d "${TMPDIR:-/tmp}/trackstore-completion-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
touch "$tmp/library.json"
expect "a file name as an argument" "$tmp/library.json" trackstore import "$tmp/lib"

# Every command --help lists (and every shm subcommand) is offered.
commands=$("$cli" --help | awk '/^Subcommands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
[ -n "$commands" ] || { echo "FAIL: no commands in --help"; exit 1; }
for c in $commands; do expect "command $c" "$c" trackstore ""; done
shm_commands=$("$cli" shm --help | awk '/^Subcommands:/ { on = 1; next } on && /^$/ { exit } on { print $1 }')
for c in $shm_commands; do expect "shm $c" "$c" trackstore shm ""; done

[ "$failures" -eq 0 ] || { echo "$failures failures"; exit 1; }
echo "completion_test: OK"
