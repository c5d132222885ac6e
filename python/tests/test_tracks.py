"""Reading: every field through Track views, dicts, columns and raw buffers."""

import json

import pytest
import trackstore
from conftest import FIELDS, full


def test_round_trip_of_every_field(tmp_path, library):
    path = str(tmp_path / "lib.snap")
    result = trackstore.save_snapshot(path, library)
    assert result["track_count"] == 10
    snap = trackstore.Snapshot(path)
    assert len(snap) == 10
    assert [t.to_dict() for t in snap] == library
    assert snap.to_dicts() == library
    for t, d in zip(snap, library):
        for f in FIELDS:
            assert getattr(t, f) == d[f]
            assert t[f] == d[f]
            assert t.get(f, "fallback") == d[f]  # a declared field is present, even when None
    assert snap[1].genre == "" and snap[0].genre is None
    assert snap[1].year is None
    assert snap[2].name == "Ünïcødé ☃ 日本語 🎵"
    assert snap[3].extras == {"rating": 5, "score": 2.5, "loved": True, "skipped": False,
                              "note": None, "tags": ["a", "b"],
                              "nested": {"z": 1, "a": [1, {"b": None}]}}
    assert snap[3]["rating"] == 5 and snap[3].get("missing", 7) == 7
    assert "rating" in snap[3] and "missing" not in snap[3]
    with pytest.raises(KeyError):
        snap[3]["missing"]
    assert snap[4].original_pos is None
    assert list(snap[0].to_dict()) == list(FIELDS)  # the reference's key order


def test_to_dict_equals_the_imported_json_record(tmp_path, library):
    src = tmp_path / "lib.json"
    src.write_text(json.dumps(library, ensure_ascii=False), encoding="utf-8")
    out = str(tmp_path / "lib.snap")
    trackstore.import_json(str(src), out)
    snap = trackstore.Snapshot(out)
    assert [t.to_dict() for t in snap] == json.loads(src.read_text(encoding="utf-8"))
    # The same tracks saved from dicts hash the same as imported from JSON.
    saved = str(tmp_path / "saved.snap")
    assert trackstore.save_snapshot(saved, library)["content_hash"] == snap.content_hash


def test_key_order_of_extras_does_not_change_the_hash(tmp_path):
    a = trackstore.save_snapshot(str(tmp_path / "a"), [full(x=1, y={"p": 1, "q": 2})])
    b = trackstore.save_snapshot(str(tmp_path / "b"), [full(y={"q": 2, "p": 1}, x=1)])
    assert a["content_hash"] == b["content_hash"]


def test_find_index_and_contains(tmp_path, library):
    path = str(tmp_path / "lib.snap")
    trackstore.save_snapshot(path, library)
    snap = trackstore.Snapshot(path)
    assert snap.find("7").name == "Track 7"
    assert snap.find("nope") is None
    assert "7" in snap and "nope" not in snap and 7 not in snap
    assert snap[-1].id == "9"
    with pytest.raises(IndexError):
        snap[10]
    with pytest.raises(IndexError):
        snap[-11]
    assert repr(snap[0]) == "Track(id='0', name='Track 0')"


def test_columns_and_raw_buffers(tmp_path, library):
    path = str(tmp_path / "lib.snap")
    trackstore.save_snapshot(path, library)
    snap = trackstore.Snapshot(path)
    assert snap.column("name") == [d["name"] for d in library]
    assert snap.column("genre") == [d["genre"] for d in library]
    assert snap.column("original_pos") == [d["original_pos"] for d in library]
    with pytest.raises(KeyError):
        snap.column("nope")

    genre = snap.column_buffers("genre")
    assert genre["length"] == 10
    offsets = genre["offsets"]
    assert offsets.readonly and offsets.format == "I" and len(offsets) == 11
    data = bytes(genre["data"])
    validity = bytes(genre["validity"])
    for i, d in enumerate(library):
        present = (validity[i >> 3] >> (i & 7)) & 1
        assert bool(present) == (d["genre"] is not None)
        if present:
            assert data[offsets[i]:offsets[i + 1]].decode() == d["genre"]
    names = snap.column_buffers("name")
    assert names["validity"] is None  # a required field
    assert bytes(names["data"])[names["offsets"][2]:names["offsets"][3]].decode() == library[2]["name"]
    pos = snap.column_buffers("original_pos")
    assert pos["values"].format == "q" and pos["values"][7] == 7
    with pytest.raises(TypeError):
        pos["values"][0] = 1  # read-only


def test_model_dump_alias_and_pickling_as_a_dict(tmp_path, library):
    import pickle
    path = str(tmp_path / "lib.snap")
    trackstore.save_snapshot(path, library)
    t = trackstore.Snapshot(path)[3]
    assert t.model_dump(mode="json") == library[3]
    assert pickle.loads(pickle.dumps(t)) == library[3]
    assert t == library[3] and t == trackstore.Snapshot(path)[3] and t != library[2]


def test_corrupt_and_missing_files_raise_specific_errors(tmp_path, library):
    path = tmp_path / "lib.snap"
    trackstore.save_snapshot(str(path), library)
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    bad = tmp_path / "bad.snap"
    bad.write_bytes(bytes(raw))
    with pytest.raises(trackstore.CorruptionError) as e:
        trackstore.Snapshot(str(bad))
    assert e.value.code in ("hash_mismatch", "structure_invalid")
    with pytest.raises(trackstore.NotFoundError) as e:
        trackstore.Snapshot(str(tmp_path / "missing.snap"))
    assert e.value.code == "not_found"
    (tmp_path / "short.snap").write_bytes(bytes(raw[:40]))
    with pytest.raises(trackstore.CorruptionError):
        trackstore.Snapshot(str(tmp_path / "short.snap"))


def test_numpy_wraps_the_column_buffers_without_a_copy(tmp_path, library):
    numpy = pytest.importorskip("numpy")
    path = str(tmp_path / "lib.snap")
    trackstore.save_snapshot(path, library)
    snap = trackstore.Snapshot(path)
    pos = snap.column_buffers("original_pos")
    values = numpy.frombuffer(pos["values"], dtype=numpy.int64)
    assert not values.flags.writeable and not values.flags.owndata
    valid = numpy.unpackbits(numpy.frombuffer(pos["validity"], dtype=numpy.uint8),
                             bitorder="little")[:len(snap)].astype(bool)
    assert [int(v) if ok else None for v, ok in zip(values, valid)] == snap.column("original_pos")
    offsets = numpy.frombuffer(snap.column_buffers("name")["offsets"], dtype=numpy.uint32)
    assert offsets[0] == 0 and numpy.all(numpy.diff(offsets.astype(numpy.int64)) >= 0)
    del snap, pos
    assert int(values[7]) == 7  # the array keeps the mapping alive
