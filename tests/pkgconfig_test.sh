#!/usr/bin/env bash
# Installs the build into a scratch DESTDIR, then builds and runs a program
# outside the tree (tests/pkgconfig/consumer.cc) against the installed
# headers and library, found only through the installed trackstore.pc, and
# again through the installed CMake package (tests/cmake/, when cmake is
# installed). Checks that the installed library exports only namespace
# trackstore's public API, and runs the installed CLI on the file the
# consumer wrote.
#
# Usage: pkgconfig_test.sh BUILD_DIR [B_SANITIZE [CLI]]
# B_SANITIZE is Meson's b_sanitize of that build ("none", "address,undefined"):
# a sanitized libtrackstore needs a consumer built with the same runtime.
# CLI is "true" when the build installs the trackstore tool (option cli).
set -euo pipefail

build_dir=$1
sanitize=${2:-none}
with_cli=${3:-true}
src_dir=$(cd "$(dirname "$0")" && pwd)
cxx=${CXX:-g++}

command -v pkg-config >/dev/null || { echo "pkg-config not found: skipped"; exit 77; }
command -v "$cxx" >/dev/null || { echo "$cxx not found: skipped"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/trackstore-pkgconfig-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
destdir=$tmp/root

# meson test has already rebuilt the tree; don't run ninja from inside a test.
meson install -C "$build_dir" --destdir "$destdir" --no-rebuild --quiet

pc=$(find "$destdir" -name trackstore.pc -print -quit)
[ -n "$pc" ] || { echo "FAIL: no trackstore.pc installed under $destdir"; exit 1; }
echo "--- $pc"
cat "$pc"

# The .pc names its own install prefix; point it into the DESTDIR. (A
# sysroot would also rewrite the paths of any system package it requires.)
prefix=$(sed -n 's/^prefix=//p' "$pc")
pkgconf() {
  PKG_CONFIG_PATH=$(dirname "$pc") pkg-config --define-variable=prefix="$destdir$prefix" "$@"
}
cflags=$(pkgconf --cflags trackstore)
libs=$(pkgconf --libs trackstore)
libdir=$(pkgconf --variable=libdir trackstore)
echo "--- cflags: $cflags"
echo "--- libs:   $libs"

# The public headers include only the standard library: no Requires in the
# public part of the .pc, no -D or -I beyond the include directory.
if grep -qE '^Requires:' "$pc"; then echo "FAIL: trackstore.pc has public Requires"; exit 1; fi

extra=()
if [ "$sanitize" != none ] && [ -n "$sanitize" ]; then extra+=("-fsanitize=$sanitize"); fi
# shellcheck disable=SC2086  # cflags and libs are word lists
"$cxx" -std=c++20 -Wall -Wextra -Wpedantic -Werror "${extra[@]}" \
  "$src_dir/pkgconfig/consumer.cc" -o "$tmp/consumer" $cflags $libs

export LD_LIBRARY_PATH=$libdir${LD_LIBRARY_PATH:+:$LD_LIBRARY_PATH}
"$tmp/consumer" "$tmp/three.snap"

# The exported symbols: namespace trackstore only (functions, typeinfo,
# vtables), none of its internal namespaces or classes' Reps, nothing from
# the standard library or the libraries compiled in.
lib=$(find "$destdir" -name 'libtrackstore.so.*.*.*' -type f -print -quit)
[ -n "$lib" ] || { echo "FAIL: no libtrackstore.so.X.Y.Z installed"; exit 1; }
soname=$(readelf -d "$lib" | sed -n 's/.*Library soname: \[\(.*\)\]/\1/p')
echo "--- $(basename "$lib"): soname $soname, $(nm -D --defined-only "$lib" | wc -l) symbols"
version=$(sed -n 's/^Version: //p' "$pc")
case $version in
  0.*) want=libtrackstore.so.$(echo "$version" | cut -d. -f1,2) ;;
  *) want=libtrackstore.so.$(echo "$version" | cut -d. -f1) ;;
esac
[ "$soname" = "$want" ] || { echo "FAIL: soname $soname, want $want"; exit 1; }
outside=$(nm -D --defined-only -C "$lib" | cut -d' ' -f3- |
  grep -vE '^((typeinfo name for|typeinfo for|vtable for|VTT for|non-virtual thunk to|virtual thunk to) )?trackstore::' || true)
internal=$(nm -D --defined-only -C "$lib" | cut -d' ' -f3- |
  grep -E 'trackstore::(internal|shm|format|store|cli)::|::Rep::' || true)
if [ -n "$outside$internal" ]; then
  echo "FAIL: the library exports more than its public API:"
  printf '%s\n' "$outside" "$internal" | head -20
  exit 1
fi

# CMake: find_package(trackstore) from the same tree.
if command -v cmake >/dev/null; then
  cmake_flags=()
  if [ "$sanitize" != none ] && [ -n "$sanitize" ]; then
    cmake_flags+=("-DCMAKE_CXX_FLAGS=-fsanitize=$sanitize")
  fi
  cmake -S "$src_dir/cmake" -B "$tmp/cmake-build" -DCMAKE_PREFIX_PATH="$destdir$prefix" \
    -DCMAKE_CXX_COMPILER="$(command -v "$cxx")" -DCMAKE_BUILD_TYPE=Release "${cmake_flags[@]}" \
    -DCMAKE_COMPILE_WARNING_AS_ERROR=ON >"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log"; echo "FAIL: cmake could not configure the consumer"; exit 1; }
  cmake --build "$tmp/cmake-build" >>"$tmp/cmake.log" 2>&1 ||
    { cat "$tmp/cmake.log"; echo "FAIL: the CMake consumer did not build"; exit 1; }
  grep -q -- '-std=gnu++20\|-std=c++20' "$tmp/cmake-build/CMakeFiles/consumer.dir/flags.make" ||
    { echo "FAIL: trackstore::trackstore did not carry cxx_std_20"; exit 1; }
  "$tmp/cmake-build/consumer" "$tmp/cmake.snap"
  echo "--- cmake consumer: OK"
else
  echo "--- cmake not found: the CMake consumer was skipped"
fi

if [ "$with_cli" = true ]; then
  cli=$(find "$destdir" -type f -name trackstore -perm -u+x -print -quit)
  [ -n "$cli" ] || { echo "FAIL: the trackstore CLI was not installed"; exit 1; }
  "$cli" verify "$tmp/three.snap"
fi
echo "pkgconfig_test: OK"
