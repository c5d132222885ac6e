"""Moving an installation: a cache directory written as the reference application writes it
(json + gzip, naive-UTC isoformat times), adopted into a store and written back."""

import gzip
import hashlib
import json
import os
from datetime import datetime, timedelta, timezone

import pytest
import trackstore
from conftest import full

UTC = timezone.utc
SCAN = datetime(2025, 11, 29, 16, 38, 50, 714113)  # naive UTC, as the reference keeps them
MTIME = datetime(2025, 11, 29, 16, 0, 0)


def write_reference(directory, tracks, *, compress=True, version="1.0", processed=("2", "1")):
    os.makedirs(directory, exist_ok=True)
    payload = json.dumps(tracks, ensure_ascii=False)
    if compress:
        with gzip.open(os.path.join(directory, "library_snapshot.json.gz"), "wt",
                       encoding="utf-8", compresslevel=6) as f:
            f.write(payload)
    else:
        with open(os.path.join(directory, "library_snapshot.json"), "w", encoding="utf-8") as f:
            f.write(payload)
    digest = hashlib.sha256(json.dumps(tracks, ensure_ascii=False, sort_keys=True,
                                       separators=(",", ":")).encode()).hexdigest()
    meta = {"version": version, "last_full_scan": SCAN.isoformat(),
            "library_mtime": MTIME.isoformat(), "track_count": len(tracks),
            "snapshot_hash": digest, "last_force_scan_time": None}
    with open(os.path.join(directory, "library_snapshot.meta.json"), "w") as f:
        json.dump(meta, f, indent=2)
    delta = {"last_run": SCAN.isoformat(), "processed_track_ids": sorted(processed),
             "field_hashes": {"1": "abc"}, "tracked_since": (SCAN - timedelta(days=1)).isoformat()}
    with open(os.path.join(directory, "library_delta.json"), "w") as f:
        json.dump(delta, f, indent=2)
    return digest


@pytest.mark.parametrize("compress", [True, False])
def test_adopt_carries_tracks_metadata_and_delta_state(tmp_path, library, compress):
    ref = str(tmp_path / "cache")
    digest = write_reference(ref, library, compress=compress)
    store_dir = str(tmp_path / "store")
    report = trackstore.adopt(ref, store_dir)
    assert report["tracks_carried"] == 10 and report["metadata_carried"] and report["delta_carried"]
    assert report["snapshot_hash_check"] == "matched" and report["computed_snapshot_hash"] == digest
    assert report["not_carried"] == []

    service = trackstore.LibrarySnapshotService(store_dir, None)
    assert [t.to_dict() for t in service.load_snapshot()] == library
    meta = service.get_snapshot_metadata()
    assert meta.last_full_scan == SCAN.replace(tzinfo=UTC)
    assert meta.library_mtime == MTIME.replace(tzinfo=UTC)
    assert meta.last_force_scan_time is None and meta.track_count == 10
    delta = trackstore.Store(store_dir).current().delta_state()
    assert delta["processed_ids"] == ["1", "2"] and delta["field_hashes"] == {"1": "abc"}

    # And back: the reference reads what trackstore writes.
    back = str(tmp_path / "back")
    out = trackstore.export_reference(store_dir, back, compress=compress)
    name = "library_snapshot.json.gz" if compress else "library_snapshot.json"
    opener = gzip.open if compress else open
    with opener(os.path.join(back, name), "rt", encoding="utf-8") as f:
        assert json.load(f) == library
    with open(os.path.join(back, "library_snapshot.meta.json")) as f:
        meta_back = json.load(f)
    assert meta_back["snapshot_hash"] == digest == out["snapshot_hash"]
    assert meta_back["last_full_scan"] == SCAN.isoformat()
    for f in ("library_snapshot.meta.json", "library_delta.json"):
        assert open(os.path.join(back, f)).read() == open(os.path.join(ref, f)).read(), f


def test_adopt_reports_what_it_cannot_carry_and_refuses_a_used_store(tmp_path, library):
    ref = str(tmp_path / "cache")
    write_reference(ref, library, version="2.0")
    store_dir = str(tmp_path / "store")
    report = trackstore.adopt(ref, store_dir)
    assert report["tracks_carried"] == 10 and not report["metadata_carried"]
    assert any("2.0" in reason for _, reason in report["not_carried"])
    assert not trackstore.LibrarySnapshotService(store_dir, None).is_snapshot_valid()
    with pytest.raises(trackstore.Error):
        trackstore.adopt(ref, store_dir)  # the store already holds a version
    assert trackstore.adopt(ref, store_dir, overwrite=True)["version"] > report["version"]


def test_adopt_of_a_broken_snapshot_writes_nothing(tmp_path, library):
    ref = tmp_path / "cache"
    write_reference(str(ref), library)
    data = (ref / "library_snapshot.json.gz").read_bytes()
    (ref / "library_snapshot.json.gz").write_bytes(data[: len(data) // 2])
    with pytest.raises(trackstore.Error):
        trackstore.adopt(str(ref), str(tmp_path / "store"))
    assert trackstore.Store(str(tmp_path / "store")).current() is None
