#!/usr/bin/env bash
# Installs missing system packages, then configures and builds one build
# directory. Shared by demo.sh and test.sh.
#
# Usage: scripts/build.sh [BUILD_DIR [MESON_OPTION...]]
#   scripts/build.sh                       # build/ with the defaults
#   scripts/build.sh build-asan -Db_sanitize=address,undefined
# An existing build directory is reconfigured with the options given.
set -euo pipefail
cd "$(dirname "$0")/.."

build_dir=${1:-build}
shift || true

bash scripts/setup.sh

if [ -d "$build_dir/meson-private" ]; then
  meson setup --reconfigure "$build_dir" "$@"
else
  meson setup "$build_dir" "$@"
fi
meson compile -C "$build_dir"
