#!/usr/bin/env python3
"""trackstore from Python beside the reference application's own approach, in one run.

For each library size (default 30,000 and 1,000,000 tracks of the same
synthetic data, about 380 bytes of JSON a track like a real library):

  open        trackstore: Store(dir).current() (the store opens fragments that were
              verified when committed: O(1)) and Snapshot(path, verify=False); also a
              verified Snapshot(path) for reference.
              reference: read library_snapshot.json.gz, gunzip, json.loads (its list of dicts).
  iterate     id and name of every track (trackstore: open + iteration over Track views;
              reference: load + the same over its dicts).
  find        100,000 random ids (trackstore: Version.find; reference: a dict by id, built
              then probed).
  to_dict     a plain dict of every track (reference: its dicts exist; dict(d) copies).
  save        trackstore: save_snapshot(path, list of dicts), durable (fdatasync + rename),
              and with sync=False (rename only: what the reference does);
              reference: json.dumps + gzip level 6 + SHA-256 over the sorted-keys dump, as
              it saves (no fsync). Dirty pages are flushed (os.sync) before each timed run.

Medians of --repeat runs (the reference's 1M load and save: --repeat-slow).
Run with the build's package on the path:

  PYTHONPATH=build/python /usr/bin/python3 benchmarks/python_bench.py
  PYTHONPATH=build/python /usr/bin/python3 benchmarks/python_bench.py --tracks 30000 --json out.json
"""

import argparse
import gc
import gzip
import hashlib
import json
import os
import random
import shutil
import statistics
import sys
import tempfile
import time

import trackstore

GENRES = ["Rock", "Jazz", "Classical", "Electronic", "Hip-Hop", "Pop", "Folk", ""]
STATUSES = ["subscription", "purchased", "matched", "uploaded"]


def generate(n, seed=1):
    rnd = random.Random(seed)
    tracks = []
    for i in range(n):
        artist = f"Artist {rnd.randrange(n // 10 + 1)}"
        tracks.append({
            "id": f"{rnd.getrandbits(64):016X}",
            "name": f"Track title number {i} ({rnd.choice(['live', 'remaster', 'demo', 'edit'])})",
            "artist": artist,
            "album": f"Album {rnd.randrange(n // 8 + 1)} of {artist}",
            "genre": rnd.choice(GENRES) if i % 13 else None,
            "year": str(1950 + rnd.randrange(75)),
            "date_added": f"2023-0{1 + i % 9}-1{i % 10}T12:3{i % 10}:00",
            "last_modified": f"2024-1{i % 3}-0{1 + i % 9}T08:00:00",
            "track_status": rnd.choice(STATUSES),
            "original_artist": artist if i % 7 == 0 else None,
            "original_album": None,
            "year_before_mgu": str(1950 + rnd.randrange(75)) if i % 5 == 0 else None,
            "year_set_by_mgu": None,
            "release_year": str(1950 + rnd.randrange(75)),
            "original_pos": i,
            "album_artist": artist,
        })
    return tracks


def median_time(fn, repeat):
    times = []
    result = None
    for _ in range(repeat):
        gc.collect()
        # Dirty pages of an earlier step (the reference's gzip files) are
        # written back now, not during the next fdatasync.
        os.sync()
        start = time.perf_counter()
        result = fn()
        times.append(time.perf_counter() - start)
    return statistics.median(times), result


def reference_save(tracks, directory):
    """The reference's save: compact JSON, gzip level 6, SHA-256 of the sorted-keys dump."""
    payload = json.dumps(tracks, ensure_ascii=False)
    with gzip.open(os.path.join(directory, "library_snapshot.json.gz"), "wt", encoding="utf-8",
                   compresslevel=6) as f:
        f.write(payload)
    canonical = json.dumps(tracks, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    digest = hashlib.sha256(canonical.encode("utf-8")).hexdigest()
    with open(os.path.join(directory, "library_snapshot.meta.json"), "w") as f:
        json.dump({"version": "1.0", "track_count": len(tracks), "snapshot_hash": digest}, f, indent=2)
    return digest


def reference_load(directory):
    with gzip.open(os.path.join(directory, "library_snapshot.json.gz"), "rt", encoding="utf-8") as f:
        return json.loads(f.read())


def run(n, repeat, repeat_slow, workdir):
    rows = []
    slow = repeat_slow if n >= 300_000 else repeat
    tracks = generate(n)
    ref_dir = os.path.join(workdir, f"ref-{n}")
    os.makedirs(ref_dir)
    snap_path = os.path.join(workdir, f"lib-{n}.snap")
    store_dir = os.path.join(workdir, f"store-{n}")

    t_ref_save, _ = median_time(lambda: reference_save(tracks, ref_dir), slow)
    t_save, _ = median_time(lambda: trackstore.save_snapshot(snap_path, tracks), repeat)
    t_save_nosync, _ = median_time(
        lambda: trackstore.save_snapshot(snap_path, tracks, sync=False), repeat)
    trackstore.Store(store_dir).replace(trackstore.Snapshot(snap_path))
    rows.append(("save (durable)", t_save, t_ref_save))
    rows.append(("save (no fsync, as the ref.)", t_save_nosync, t_ref_save))

    t_ref_load, ref_tracks = median_time(lambda: reference_load(ref_dir), slow)
    t_open_store, _ = median_time(lambda: trackstore.Store(store_dir).current(), max(repeat, 20))
    t_open_trusted, _ = median_time(lambda: trackstore.Snapshot(snap_path, verify=False), max(repeat, 20))
    t_open_verified, _ = median_time(lambda: trackstore.Snapshot(snap_path), repeat)
    rows.append(("open (store current)", t_open_store, t_ref_load))
    rows.append(("open (Snapshot, trusted)", t_open_trusted, t_ref_load))
    rows.append(("open (Snapshot, verified)", t_open_verified, t_ref_load))

    def iterate_ours():
        version = trackstore.Store(store_dir).current()
        k = 0
        for t in version:
            t.id
            t.name
            k += 1
        return k

    def iterate_ref_only(items):
        k = 0
        for d in items:
            d["id"]
            d["name"]
            k += 1
        return k

    t_iter, count = median_time(iterate_ours, repeat)
    assert count == n
    t_ref_iter_only, _ = median_time(lambda: iterate_ref_only(ref_tracks), repeat)
    rows.append(("open + iterate id, name", t_iter, t_ref_load + t_ref_iter_only))

    version = trackstore.Store(store_dir).current()
    rnd = random.Random(7)
    ids = [tracks[rnd.randrange(n)]["id"] for _ in range(100_000)]

    def find_ours():
        find = version.find
        for i in ids:
            find(i)

    def find_ref():
        index = {d["id"]: d for d in ref_tracks}
        for i in ids:
            index.get(i)

    t_find, _ = median_time(find_ours, repeat)
    t_ref_find, _ = median_time(find_ref, repeat)
    rows.append(("100k random find", t_find, t_ref_find))

    t_dicts, dicts = median_time(lambda: [t.to_dict() for t in version], repeat)
    assert dicts == ref_tracks
    del dicts
    t_ref_dicts, _ = median_time(lambda: [dict(d) for d in ref_tracks], repeat)
    rows.append(("to_dict of every track", t_dicts, t_ref_dicts))
    return rows


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--tracks", default="30000,1000000")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--repeat-slow", type=int, default=3)
    parser.add_argument("--json", help="also write the medians here")
    args = parser.parse_args()
    workdir = tempfile.mkdtemp(prefix="trackstore-pybench-")
    results = {}
    try:
        print(f"trackstore {trackstore.__version__}, Python {sys.version.split()[0]}, "
              f"{os.cpu_count()} CPUs; medians")
        for n in [int(x) for x in args.tracks.split(",")]:
            rows = run(n, args.repeat, args.repeat_slow, workdir)
            print(f"\n{n:,} tracks")
            print(f"{'operation':30} {'trackstore':>12} {'reference':>12} {'ratio':>10}")
            for name, ours, ref in rows:
                print(f"{name:30} {ours * 1e3:10.3f}ms {ref * 1e3:10.1f}ms {ref / ours:9.1f}x")
            results[n] = [{"operation": name, "trackstore_s": ours, "reference_s": ref,
                           "ratio": ref / ours} for name, ours, ref in rows]
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    if args.json:
        with open(args.json, "w") as f:
            json.dump(results, f, indent=2)


if __name__ == "__main__":
    main()
