#!/usr/bin/env python3
"""Checks `trackstore adopt` and `trackstore export-reference` against Python.

Writes a reference cache directory with Python's own json, gzip and hashlib,
exactly as the reference application writes it (doc/reference_files.md),
adopts it into a store, exports it back, and asserts that:
  - Python reads the exported tracks, metadata and delta state equal to the
    ones written;
  - the exported snapshot_hash is hashlib's SHA-256 of Python's canonical
    json.dumps of the tracks;
  - the exported files are byte-for-byte the originals (the snapshot
    decompressed: gzip headers carry a time), since the originals keep the
    extras' keys sorted, the one order a store keeps.

Usage: reference_hash_check.py TRACKSTORE_BINARY
"""
import datetime
import gzip
import hashlib
import json
import math
import os
import random
import struct
import subprocess
import sys
import tempfile

FIELDS = ["id", "name", "artist", "album", "genre", "year", "date_added", "last_modified",
          "track_status", "original_artist", "original_album", "year_before_mgu",
          "year_set_by_mgu", "release_year", "original_pos", "album_artist"]


def sorted_deep(v):
    """The value with the keys of every object sorted (a store's order)."""
    if isinstance(v, dict):
        return {k: sorted_deep(v[k]) for k in sorted(v)}
    if isinstance(v, list):
        return [sorted_deep(x) for x in v]
    return v


def random_float(rng):
    while True:
        f = struct.unpack("<d", struct.pack("<Q", rng.getrandbits(64)))[0]
        if math.isfinite(f):
            return f


def track(i, rng, **values):
    d = {f: None for f in FIELDS}
    d.update(id=str(100000 + i), name="Track %d" % i, artist="Artist", album="Album")
    d.update(values)
    return d


def make_payload():
    rng = random.Random(42)
    floats = [0.0, -0.0, 1.0, 0.1, 1.5, 100.0, 1e16, 1e15, 9999999999999998.0, 1e-4, 1e-5,
              1.5e-7, 5e-324, 1.7976931348623157e308, 2.2250738585072014e-308, 123456789.125,
              -3.25e-10, 1e22, 1e23]
    floats += [random_float(rng) for _ in range(300)]
    floats += [rng.uniform(-1e6, 1e6) for _ in range(100)]
    payload = [
        track(0, rng, genre="", year="1999", date_added="2020-01-01 10:00:00", original_pos=7,
              album_artist="", rating=5, loved=True, skipped=False, nothing=None,
              score=0.5, floats=floats[:40],
              nested={"z": {"y": [1, {"b": 2, "a": [None, "x"]}]}, "a": "b"},
              ints=[0, -1, 2**53 + 1, 2**63 - 1, -(2**63)]),
        track(1, rng, name="Zoë 🎵 日本語", artist="Sigur Rós", album="Ágætis byrjun",
              genre="Post-rock", year="", track_status="subscription"),
        track(2, rng, name="ctl \x01\x02\x1f \b\f\n\r\t \" \\ / \x7f \u2028\u2029 end",
              extra_text="\u0000 nul in an extra", emoji="👍🏽"),
        track(3, rng, original_pos=-3, year_before_mgu="1998", year_set_by_mgu="2001",
              release_year="2001", original_artist="O", original_album="OA",
              last_modified="2025-01-01"),
    ]
    for k in range(4, 60):
        payload.append(track(k, rng, genre=rng.choice([None, "", "Rock", "Jazz"]),
                             original_pos=rng.choice([None, k]),
                             f=floats[40 + (k * 7) % (len(floats) - 40)],
                             g=[floats[(k * 13) % len(floats)], {"k": floats[k]}]))
    # Declared fields in order, then the extras with sorted keys (every
    # nested object sorted too), as a store gives them back.
    out = []
    for t in payload:
        d = {f: t[f] for f in FIELDS}
        for k in sorted(k for k in t if k not in FIELDS):
            d[k] = sorted_deep(t[k])
        out.append(d)
    return out


def reference_hash(payload):
    text = json.dumps(payload, ensure_ascii=False, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def iso(dt):
    return dt.isoformat()


def write_reference(directory, payload, compress, compact):
    os.makedirs(directory, exist_ok=True)
    if compact:  # orjson's layout, which the reference uses when installed
        text = json.dumps(payload, ensure_ascii=False, separators=(",", ":"))
    else:
        text = json.dumps(payload, ensure_ascii=False)
    if compress:
        with gzip.open(os.path.join(directory, "library_snapshot.json.gz"), "wt",
                       encoding="utf-8", compresslevel=6) as f:
            f.write(text)
    else:
        with open(os.path.join(directory, "library_snapshot.json"), "w", encoding="utf-8") as f:
            f.write(text)
    scan = datetime.datetime(2025, 11, 29, 16, 38, 50, 714113)
    meta = {
        "version": "1.0",
        "last_full_scan": iso(scan),
        "library_mtime": iso(datetime.datetime(2025, 11, 29, 16, 0, 0)),
        "track_count": len(payload),
        "snapshot_hash": reference_hash(payload),
        "last_force_scan_time": iso(datetime.datetime(2025, 11, 20, 3, 4, 5, 6)),
    }
    with open(os.path.join(directory, "library_snapshot.meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    delta = {
        "last_run": iso(scan),
        "processed_track_ids": sorted({t["id"] for t in payload[:10]} | {"ü-id", "1 2"}),
        "field_hashes": {t["id"]: hashlib.md5(t["id"].encode()).hexdigest() for t in payload[:5]},
        "tracked_since": iso(datetime.datetime(2025, 11, 28)),
    }
    delta["field_hashes"] = dict(sorted(delta["field_hashes"].items()))
    with open(os.path.join(directory, "library_delta.json"), "w") as f:
        json.dump(delta, f, indent=2)
    return meta, delta, text


def run(args):
    r = subprocess.run(args, capture_output=True, text=True)
    if r.returncode != 0:
        sys.exit("FAILED: %s\nexit %d\nstdout: %s\nstderr: %s" %
                 (" ".join(args), r.returncode, r.stdout, r.stderr))
    return json.loads(r.stdout)


def check(tool, tmp, compress, compact):
    name = "gz" if compress else "plain"
    name += "-compact" if compact else ""
    ref = os.path.join(tmp, "ref-" + name)
    store = os.path.join(tmp, "store-" + name)
    out = os.path.join(tmp, "out-" + name)
    payload = make_payload()
    meta, delta, text = write_reference(ref, payload, compress, compact)

    adopted = run([tool, "adopt", ref, store, "--json", "--no-sync"])
    assert adopted["ok"] is True, adopted
    assert adopted["tracks"] == len(payload), adopted
    assert adopted["metadata_carried"] and adopted["delta_carried"], adopted
    assert adopted["snapshot_hash_check"] == "matched", adopted
    assert adopted["computed_snapshot_hash"] == meta["snapshot_hash"], adopted
    assert adopted["not_carried"] == [], adopted

    args = [tool, "export-reference", store, out, "--json", "--no-sync"]
    if not compress:
        args.append("--no-compress")
    exported = run(args)
    assert exported["ok"] is True, exported

    snap = os.path.join(out, "library_snapshot.json" + (".gz" if compress else ""))
    if compress:
        with gzip.open(snap, "rt", encoding="utf-8") as f:
            out_text = f.read()
    else:
        with open(snap, encoding="utf-8") as f:
            out_text = f.read()
    assert json.loads(out_text) == payload, "tracks differ after the round trip"
    assert exported["snapshot_hash"] == reference_hash(payload), exported
    with open(os.path.join(out, "library_snapshot.meta.json")) as f:
        out_meta_text = f.read()
    with open(os.path.join(out, "library_delta.json")) as f:
        out_delta_text = f.read()
    assert json.loads(out_meta_text) == meta, out_meta_text
    assert json.loads(out_delta_text) == delta, out_delta_text
    # Byte for byte, in the layout of the reference without orjson.
    assert out_text == json.dumps(payload, ensure_ascii=False), "snapshot text differs"
    if not compact:
        assert out_text == text
    with open(os.path.join(ref, "library_snapshot.meta.json")) as f:
        assert out_meta_text == f.read(), "metadata bytes differ"
    with open(os.path.join(ref, "library_delta.json")) as f:
        assert out_delta_text == f.read(), "delta bytes differ"
    print("ok: %s: %d tracks, hash %s" % (name, len(payload), exported["snapshot_hash"]))


def main():
    if len(sys.argv) != 2:
        sys.exit(__doc__)
    tool = sys.argv[1]
    with tempfile.TemporaryDirectory() as tmp:
        for compress, compact in [(True, False), (False, False), (True, True)]:
            check(tool, tmp, compress, compact)


if __name__ == "__main__":
    main()
