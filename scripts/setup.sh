#!/usr/bin/env bash
# Installs every system package trackstore needs to build, test and benchmark
# on Debian 12. Idempotent; run as root (or with sudo available).
set -euo pipefail

packages=(
  build-essential pkg-config meson ninja-build
  clang-format clang-tidy                   # CI: formatting and lint (scripts/lint.sh)
  help2man                                  # the man page, from trackstore --help-all
  cmake                                     # tests: a consumer through find_package(trackstore)
  libflatbuffers-dev flatbuffers-compiler   # schema compiler + runtime (2.0.8)
  libxxhash-dev                             # XXH3 content hashes
  libboost-dev                              # Boost.Interprocess (header-only)
  libgtest-dev libgmock-dev                 # tests
  libbenchmark-dev                          # benchmarks
  libcli11-dev                              # CLI argument parsing
  libsimdjson-dev nlohmann-json3-dev        # JSON import (simdjson DOM) / export
  zlib1g-dev                                # .json.gz import
  python3                                   # test summary, benchmark ratios
  python3-dev pybind11-dev python3-pybind11 # the Python package (python/): headers, pybind11
  python3-pytest python3-numpy              # its tests (numpy wraps column buffers without a copy)
  python3-mesonpy python3-pip python3-venv patchelf  # pip install --no-build-isolation . (offline)
  liblmdb-dev                               # store_bench peer: LMDB
  libsqlite3-dev                            # store_bench peer: SQLite
  libssl-dev                                # store_bench peer: reference format's SHA-256 (libcrypto)
  gnuplot-nox                               # benchmarks/report.py chart
  clang-14 libclang-rt-14-dev               # fuzz targets: clang with libFuzzer (scripts/fuzz.sh)
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done

if [ ${#missing[@]} -eq 0 ]; then
  echo "setup: all ${#packages[@]} packages present"
  exit 0
fi

SUDO=""
if [ "$(id -u)" -ne 0 ]; then SUDO="sudo"; fi
echo "setup: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -q
$SUDO apt-get install -y -q --no-install-recommends "${missing[@]}"
