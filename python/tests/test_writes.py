"""Writing: snapshots, merge, diff, JSON import and export, and the store."""

import gzip
import json

import pytest
import trackstore
from conftest import full


def test_save_accepts_dicts_views_and_mappings(tmp_path, library):
    from collections import OrderedDict

    class Model:  # the reference's track model: model_dump() gives the dict
        def __init__(self, d):
            self._d = d

        def model_dump(self):
            return dict(self._d)

    first = str(tmp_path / "first.snap")
    trackstore.save_snapshot(first, library)
    views = list(trackstore.Snapshot(first))
    mixed = [views[0], OrderedDict(library[1]), Model(library[2])] + library[3:]
    second = str(tmp_path / "second.snap")
    assert trackstore.save_snapshot(second, mixed)["content_hash"] == \
        trackstore.Snapshot(first).content_hash


@pytest.mark.parametrize("bad, message", [
    ({"id": "1", "name": "n", "artist": "a"}, "record 0: field 'album': missing"),
    (full(year=1999), "record 0: field 'year': expected str or None, got int"),
    (full(name=None), "record 0: field 'name': required, got None"),
    (full(original_pos="7x"), "record 0: field 'original_pos': not an integer: '7x'"),
    (full(original_pos=2 ** 70), "out of int64 range"),
    (full(extra=object()), "record 0: field 'extras': not JSON-serializable"),
    (full(extra=float("nan")), "not JSON-serializable"),
    (full(name="\ud800"), "not encodable as UTF-8"),
    ("not a track", "expected a Track, a dict or a mapping, got str"),
])
def test_bad_records_name_the_record_and_field(tmp_path, bad, message):
    with pytest.raises((TypeError, ValueError)) as e:
        trackstore.save_snapshot(str(tmp_path / "x.snap"), [bad])
    assert message in str(e.value)
    assert not (tmp_path / "x.snap").exists()


def test_duplicate_and_empty_ids(tmp_path):
    tracks = [full(id="1", name="a"), full(id="1", name="b")]
    with pytest.raises(trackstore.InvalidArgumentError) as e:
        trackstore.save_snapshot(str(tmp_path / "d.snap"), tracks)
    assert "1" in str(e.value) and e.value.code == "invalid_argument"
    assert isinstance(e.value, ValueError)
    r = trackstore.save_snapshot(str(tmp_path / "d.snap"), tracks, duplicates="keep_last")
    assert r["duplicates_dropped"] == 1
    assert trackstore.Snapshot(str(tmp_path / "d.snap"))[0].name == "b"
    with pytest.raises(trackstore.InvalidArgumentError):
        trackstore.save_snapshot(str(tmp_path / "e.snap"), [full(id="")])
    with pytest.raises(ValueError):
        trackstore.save_snapshot(str(tmp_path / "e.snap"), tracks, duplicates="sometimes")


def test_merge_and_diff(tmp_path, library):
    base = str(tmp_path / "base.snap")
    trackstore.save_snapshot(base, library)
    updates = [full(id="3", name="changed"), full(id="new", name="appended")]
    out = str(tmp_path / "merged.snap")
    stats = trackstore.merge(trackstore.Snapshot(base), updates, out)
    assert (stats["replaced"], stats["appended"], stats["carried"]) == (1, 1, 9)
    merged = trackstore.Snapshot(out)
    assert [t.id for t in merged] == [str(i) for i in range(10)] + ["new"]
    assert merged.find("3").to_dict() == updates[0]  # replaced whole
    d = trackstore.diff(trackstore.Snapshot(base), merged)
    assert d["added"] == ["new"] and d["removed"] == []
    assert d["updated"][0][0] == "3" and "name" in d["updated"][0][1]


def test_json_import_and_gzip_export(tmp_path, library):
    src = tmp_path / "lib.json.gz"
    with gzip.open(src, "wt", encoding="utf-8") as f:
        json.dump(library, f, ensure_ascii=False)
    snap_path = str(tmp_path / "lib.snap")
    assert trackstore.import_json(str(src), snap_path)["track_count"] == 10
    out = tmp_path / "out.json.gz"
    trackstore.export_json(trackstore.Snapshot(snap_path), str(out))
    with gzip.open(out, "rt", encoding="utf-8") as f:
        # Export leaves out absent fields; the reference's dicts hold them as None.
        assert [full(**d) for d in json.load(f)] == library
    (tmp_path / "bad.json").write_text('[{"id": "1", "name": 5}]')
    with pytest.raises(trackstore.InvalidArgumentError) as e:
        trackstore.import_json(str(tmp_path / "bad.json"), str(tmp_path / "bad.snap"))
    assert "record 0" in str(e.value) and "name" in str(e.value)


def test_store_commits_versions_and_history(tmp_path, library):
    library = library + [full(id=str(i), name=f"Track {i}") for i in range(10, 100)]
    store = trackstore.Store(str(tmp_path / "store"))
    assert store.current() is None
    assert store.replace(library)["track_count"] == 100
    stats = store.commit([full(id="3", name="changed"), full(id="new", name="n")], ["0", "gone"])
    assert (stats["replaced"], stats["appended"], stats["removed"], stats["not_found"]) == (1, 1, 1, 1)
    v = store.current()
    assert not stats["compacted"]
    assert len(v) == 100 and v.number == stats["version"]
    ids = [t.id for t in v]
    assert ids == [str(i) for i in range(1, 100)] + ["new"]
    assert [v[i].id for i in range(len(v))] == ids and v[-1].id == "new"
    assert v.find("3").name == "changed" and v.find("0") is None
    with pytest.raises(ValueError):
        v.column_buffers("name")  # two fragments
    assert v.column("name")[2] == "changed"
    old = store.at(store.log()[1]["number"])
    assert old.find("0") is not None
    d = trackstore.diff(old, v)
    assert d["added"] == ["new"] and d["removed"] == ["0"]
    store.compact()
    compacted = store.current()
    assert [t.id for t in compacted] == ids
    assert compacted.content_hash == v.content_hash
    assert compacted.column_buffers("name")["length"] == 100
    assert [e["number"] for e in store.log()][0] == compacted.number
    store.checkout(old.number)
    assert store.current().to_dicts() == library
    trackstore.export_json(v, str(tmp_path / "v.json"))
    assert [d["id"] for d in json.loads((tmp_path / "v.json").read_text())] == ids


def test_store_import_json(tmp_path, library):
    src = tmp_path / "lib.json"
    src.write_text(json.dumps(library))
    store = trackstore.Store(str(tmp_path / "s"))
    assert store.import_json(str(src))["track_count"] == 10
    assert store.current().to_dicts() == library


def test_large_inputs_cross_batches_errors_and_generators(tmp_path):
    # save_snapshot reads items in batches of about a thousand while another
    # thread copies the previous batch: an error in a later batch still names
    # its record and writes nothing, and items made on the fly (a generator,
    # model_dump() dicts) stay alive until they are copied.
    n = 20_000
    tracks = [full(id=str(i), name=f"n{i}", genre="g" * (i % 7), extra={"k": i}) for i in range(n)]
    bad = list(tracks)
    bad[12_345] = full(id="x", name=None)
    path = tmp_path / "big.snap"
    with pytest.raises(TypeError) as e:
        trackstore.save_snapshot(str(path), bad)
    assert "record 12345: field 'name'" in str(e.value)
    assert not path.exists()

    class Model:
        def __init__(self, d):
            self.d = d

        def model_dump(self):
            # New str objects, owned by this dict alone.
            return {k: (v if not isinstance(v, str) else (v + "\0")[:-1]) for k, v in self.d.items()}

    trackstore.save_snapshot(str(path), (Model(t) for t in tracks))
    snap = trackstore.Snapshot(str(path))
    assert len(snap) == n and snap.to_dicts() == tracks
    dup = tracks + [full(id="5", name="again")]
    with pytest.raises(trackstore.InvalidArgumentError):
        trackstore.save_snapshot(str(path), dup)
    assert trackstore.Snapshot(str(path)).to_dicts() == tracks  # the last good file survives


def test_keys_in_any_order_and_of_any_origin(tmp_path):
    # Each dict's keys are matched by their own value, whatever the key
    # objects and their order: literal keys, keys that json.loads made,
    # keys built at run time, extras where a field stood in the dict before.
    base = [full(id=str(i), name=f"n{i}", genre="g") for i in range(6)]
    reordered = [dict(reversed(list(base[1].items())))]
    built = [{("".join(["i", "d"]) if k == "id" else k): v for k, v in base[2].items()}]
    from_json = json.loads(json.dumps(base[3:5]))
    swapped = dict(base[5])
    del swapped["genre"]
    swapped = {"genre_x": 1, **swapped, "genre": "h"}  # an extra at a field's position
    tracks = [base[0]] + reordered + built + from_json + [swapped]
    path = str(tmp_path / "keys.snap")
    trackstore.save_snapshot(path, tracks)
    got = trackstore.Snapshot(path).to_dicts()
    assert got[:5] == [base[0], base[1], base[2], base[3], base[4]]
    assert got[5]["genre"] == "h" and got[5]["genre_x"] == 1
    assert trackstore.Snapshot(path).find("1").genre == "g"

    bad = [base[0], {**base[1], 7: "seven"}]
    with pytest.raises(TypeError) as e:
        trackstore.save_snapshot(path, bad)
    assert "record 1: a key is not a str but int" in str(e.value)
    assert trackstore.Snapshot(path).to_dicts() == got  # the last good file survives


def test_a_generator_reusing_one_dict_and_hostile_keys(tmp_path):
    # The views of a batch outlive the items' current values: a generator
    # that reassigns one dict's values for every record must not leave the
    # copier reading freed strings.
    def reuse(n):
        d = full()
        for i in range(n):
            d["id"] = f"id-{i}"
            d["name"] = f"name {i} " + "x" * (i % 50)
            yield d
    n = 5000
    path = str(tmp_path / "reuse.snap")
    trackstore.save_snapshot(path, reuse(n))
    snap = trackstore.Snapshot(path)
    assert len(snap) == n
    assert [t.id for t in snap] == [f"id-{i}" for i in range(n)]
    assert snap[4999].name == "name 4999 " + "x" * (4999 % 50)

    class Key(str):  # a str subclass whose hash and equality run Python code
        def __hash__(self):
            if armed:
                record.clear()  # the dict being read
            return str.__hash__(self)

        def __eq__(self, other):
            if armed:
                record.clear()
            return str.__eq__(self, other)

    armed = False
    record = full(id="v", name="victim")
    del record["genre"]
    record[Key("genre")] = "from a subclass key"  # a field, compared by characters
    record[Key("extra_key")] = "value"            # an extra: its hash runs, clearing record
    armed = True
    trackstore.save_snapshot(path, [record])
    armed = False
    t = trackstore.Snapshot(path)[0]
    assert (t.id, t.name, t.genre) == ("v", "victim", "from a subclass key")
    assert t.get("extra_key") == "value"
