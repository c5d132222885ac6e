#!/usr/bin/env bash
# Runs trackstore against its peer stores and rebuilds the report:
# builds store_bench in build-bench (release), runs it at 30k and 1M tracks,
# and writes doc/benchmarks/README.md, chart.png and store_bench.json.
# About 10-12 minutes on 2 vCPUs. Needs ~8 GB of RAM and ~4 GB in /tmp.
#
# Usage: bash scripts/bench_peers.sh [extra store_bench flags...]
#   e.g. bash scripts/bench_peers.sh --benchmark_filter=/30000   # the small library only
set -euo pipefail
cd "$(dirname "$0")/.."

start=$(date +%s)
bash scripts/setup.sh

# Its own build directory, so that it never disturbs build/ (tests, demo).
if [ -d build-bench/meson-private ]; then
  meson setup --reconfigure build-bench -Dbuildtype=release -Dtests=false >/dev/null
else
  meson setup build-bench -Dbuildtype=release -Dtests=false
fi
meson compile -C build-bench -j 2 store_bench

out=doc/benchmarks
mkdir -p "$out"
load_start=$(cut -d' ' -f1-3 /proc/loadavg)
command="bash scripts/bench_peers.sh${*:+ $*}"
echo "bench_peers: running store_bench (load average $load_start)"
build-bench/benchmarks/store_bench --benchmark_out="$out/store_bench.json" \
  --benchmark_out_format=json "$@"

elapsed=$(( $(date +%s) - start ))
python3 benchmarks/report.py "$out/store_bench.json" --out-dir "$out" \
  --command "$command" --load-start "$load_start" \
  --elapsed "$((elapsed / 60)) min $((elapsed % 60)) s"
echo "bench_peers: done in $((elapsed / 60)) min $((elapsed % 60)) s: $out/README.md"
