#!/usr/bin/env bash
# `pip install --no-build-isolation .` of the Python package, offline, into a
# virtual environment that sees Debian's packages (meson-python, pybind11),
# from a copy of the source tree; then uses the installed package from
# outside the tree. Debian's own Python refuses pip installs outside a
# virtual environment (PEP 668), hence the venv.
#
# Usage: python_install_test.sh SOURCE_DIR [B_SANITIZE]
set -euo pipefail

src_dir=$1
sanitize=${2:-none}
python=/usr/bin/python3
if [ "$sanitize" != none ] && [ -n "$sanitize" ]; then
  echo "a sanitizer build: the wheel is built without one; skipped"
  exit 77
fi
"$python" -c 'import mesonpy, pybind11, venv' 2>/dev/null ||
  { echo "python3-mesonpy, python3-pybind11 or python3-venv missing: skipped"; exit 77; }

tmp=$(mktemp -d "${TMPDIR:-/tmp}/trackstore-pip-XXXXXX")
trap 'rm -rf "$tmp"' EXIT
mkdir "$tmp/src"
# The sources only: no build directories, no .git.
tar -C "$src_dir" --exclude='./build*' --exclude=./.git --exclude='./.mesonpy*' -cf - . |
  tar -C "$tmp/src" -xf -

"$python" -m venv --system-site-packages "$tmp/venv"
"$tmp/venv/bin/pip" install --no-build-isolation --no-index --no-deps --quiet "$tmp/src" \
  >"$tmp/pip.log" 2>&1 || { cat "$tmp/pip.log"; echo "FAIL: pip install"; exit 1; }

cd "$tmp"
"$tmp/venv/bin/python" - "$tmp" <<'PY'
import os, sys, trackstore
tmp = sys.argv[1]
where = os.path.dirname(trackstore.__file__)
assert where.startswith(os.path.join(tmp, "venv")), where
tracks = [{"id": str(i), "name": f"n{i}", "artist": "a", "album": "b", "rating": i}
          for i in range(1000)]
path = os.path.join(tmp, "lib.snap")
trackstore.save_snapshot(path, tracks)
snap = trackstore.Snapshot(path)
assert len(snap) == 1000 and snap.find("7").extras == {"rating": 7}
assert os.path.exists(os.path.join(where, "__init__.pyi")) and os.path.exists(os.path.join(where, "py.typed"))
print("installed", trackstore.__version__, "in", where)
PY
