#!/usr/bin/env python3
"""Prints the medians of a snapshot_bench run and the ratios its targets name.

    build/benchmarks/snapshot_bench --benchmark_format=json > bench.json
    python3 benchmarks/ratios.py bench.json        # or: ... | python3 benchmarks/ratios.py
    python3 benchmarks/ratios.py --cpu bench.json  # CPU time instead of real time

Uses the "median" aggregate of each benchmark when the run has repetitions,
else the median of its iterations' entries. Times are real (wall-clock)
times by default; on a machine busy with other work, --cpu (the thread's CPU
time, which includes the kernel work it does: page faults, write(2)) is the
steadier measure. Targets (RATIOS below) are checked at 1M tracks.
"""
import json
import statistics
import sys

UNIT_NS = {"ns": 1.0, "us": 1e3, "ms": 1e6, "s": 1e9}

# (label, numerator, denominator, target) where target is ("<=", x) or (">=", x) or None.
RATIOS = [
    ("verified open / XXH3-128 of the same bytes", "BM_Open_Verified", "BM_Open_BaselineXXH3",
     ("<=", 3.0)),
    ("stock Verifier (table per track) / verified open", "BM_Open_BaselineFlatBuffersVerifier",
     "BM_Open_Verified", (">=", 10.0)),
    ("LookupByKey / Find", "BM_Lookup_BaselineLookupByKey", "BM_Lookup_Find", (">=", 10.0)),
    ("Encode / memcpy of the output bytes", "BM_Write_Encode", "BM_Write_BaselineMemcpy",
     ("<=", 3.0)),
    ("Write (sync=false) / memcpy of the output bytes", "BM_Write_File",
     "BM_Write_BaselineMemcpy", ("<=", 3.0)),
    # Context, no target.
    ("Write (sync=false) / write(2)+rename of the same bytes", "BM_Write_File",
     "BM_Write_BaselineWriteSyscall", None),
    ("write(2)+rename / memcpy", "BM_Write_BaselineWriteSyscall", "BM_Write_BaselineMemcpy", None),
    ("Encode / Encode without UTF-8 check", "BM_Write_Encode", "BM_Write_EncodeNoUtf8Check", None),
    ("FlatBuffers build (table per track) / Encode", "BM_Write_BaselineFlatBuffersBuild",
     "BM_Write_Encode", None),
    ("verified open / mmap+XXH3-128 (fresh mapping)", "BM_Open_Verified",
     "BM_Open_BaselineMmapXXH3", None),
    ("Verify (open snapshot) / XXH3-128", "BM_Verify", "BM_Open_BaselineXXH3", None),
    ("scan id+name: table per track / trackstore", "BM_Scan_BaselineFlatBuffersIdName",
     "BM_Scan_IdName", None),
    ("scan all fields: table per track / trackstore", "BM_Scan_BaselineFlatBuffersAllFields",
     "BM_Scan_AllFields", None),
    ("scan all fields: trackstore row by row / column by column", "BM_Scan_AllFields",
     "BM_Scan_AllFieldsByColumn", None),
    ("scan all fields / memcpy of the snapshot", "BM_Scan_AllFields", "BM_Scan_BaselineMemcpy",
     None),
]


def load(stream, field):
    """Returns {(family, n): {"ns": median `field` time, "counters": {...}}}."""
    data = json.load(stream)
    medians, iterations = {}, {}
    for b in data.get("benchmarks", []):
        if b.get("error_occurred"):
            continue
        parts = b.get("run_name", b["name"]).split("/")
        if len(parts) < 2 or not parts[1].isdigit():
            continue
        key = (parts[0], int(parts[1]))
        ns = b[field] * UNIT_NS[b.get("time_unit", "ns")]
        entry = {"ns": ns, "counters": b}
        if b.get("run_type") == "aggregate":
            if b.get("aggregate_name") == "median":
                medians[key] = entry
        else:
            iterations.setdefault(key, []).append(entry)
    for key, runs in iterations.items():
        if key not in medians:
            runs.sort(key=lambda e: e["ns"])
            medians[key] = {"ns": statistics.median(e["ns"] for e in runs),
                            "counters": runs[len(runs) // 2]["counters"]}
    return data.get("context", {}), medians


def human(ns):
    for unit, scale in (("s", 1e9), ("ms", 1e6), ("us", 1e3)):
        if ns >= scale:
            return f"{ns / scale:.3g} {unit}"
    return f"{ns:.3g} ns"


def main():
    args = sys.argv[1:]
    field = "real_time"
    if "--cpu" in args:
        args.remove("--cpu")
        field = "cpu_time"
    stream = open(args[0]) if args else sys.stdin
    context, medians = load(stream, field)
    if not medians:
        sys.exit("ratios.py: no benchmark results in the input (use --benchmark_format=json)")
    sizes = sorted({n for _, n in medians})
    families = list(dict.fromkeys(f for f, _ in medians))
    load_avg = context.get("load_avg", [])
    print(f"# snapshot_bench medians ({field.replace('_', ' ')}), {context.get('date', '')}, "
          f"{context.get('num_cpus', '?')} CPUs, load average at start "
          + " ".join(f"{x:.2f}" for x in load_avg))
    print()
    print("| benchmark | " + " | ".join(f"{n:,}" for n in sizes) + " | B/track |")
    print("|---|" + "---:|" * (len(sizes) + 1))
    for fam in families:
        cells = [human(medians[(fam, n)]["ns"]) if (fam, n) in medians else "-" for n in sizes]
        bpt = medians.get((fam, sizes[-1]), {}).get("counters", {}).get("bytes_per_track")
        print(f"| {fam} | " + " | ".join(cells) + (f" | {bpt:.1f} |" if bpt else " | |"))
    print()
    print("| ratio | " + " | ".join(f"{n:,}" for n in sizes) + " | target (1M) |")
    print("|---|" + "---:|" * len(sizes) + "---|")
    for label, num, den, target in RATIOS:
        cells, verdict = [], ""
        for n in sizes:
            if (num, n) in medians and (den, n) in medians:
                r = medians[(num, n)]["ns"] / medians[(den, n)]["ns"]
                cells.append(f"{r:.2f}x")
                if target and n == 1_000_000:
                    op, limit = target
                    ok = r <= limit if op == "<=" else r >= limit
                    verdict = f"{op} {limit:g}x: {'PASS' if ok else 'FAIL'}"
            else:
                cells.append("-")
        if target and not verdict:
            verdict = f"{target[0]} {target[1]:g}x (no 1M result)"
        print(f"| {label} | " + " | ".join(cells) + f" | {verdict} |")
    print()
    for n in sizes:
        trusted = medians.get(("BM_Open_Trusted", n))
        snap = medians.get(("BM_Open_Verified", n), {}).get("counters", {})
        table = medians.get(("BM_Open_BaselineFlatBuffersVerifier", n), {}).get("counters", {})
        line = f"{n:,} tracks:"
        if trusted:
            line += f" trusted open {human(trusted['ns'])};"
        if "bytes_per_track" in snap:
            line += f" snapshot {snap['bytes_per_track']:.1f} B/track;"
        if "bytes_per_track" in table:
            line += f" table per track {table['bytes_per_track']:.1f} B/track"
        print(line.rstrip(";"))


if __name__ == "__main__":
    main()
