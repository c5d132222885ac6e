"""Views and memoryviews keep their snapshot alive; the GIL is released during real work."""

import gc
import json
import sys
import threading
import time

import trackstore
from conftest import full


def test_views_outlive_their_snapshot_object(tmp_path):
    path = str(tmp_path / "lib.snap")
    trackstore.save_snapshot(path, [full(id=str(i), name=f"n{i}", genre="g") for i in range(1000)])
    snap = trackstore.Snapshot(path)
    track = snap[999]
    it = iter(snap)
    buffers = snap.column_buffers("genre")
    data = buffers["data"]
    del snap, buffers
    gc.collect()
    (tmp_path / "lib.snap").unlink()  # the mapping outlives the name too
    assert track.name == "n999" and track.to_dict()["genre"] == "g"
    assert next(it).id == "0"
    assert bytes(data[:3]) == b"ggg"


def test_store_versions_outlive_the_store_and_gc(tmp_path):
    store = trackstore.Store(str(tmp_path / "s"))
    store.replace([full(id=str(i), name=f"v1-{i}") for i in range(100)])
    first = list(store.current())
    store.replace([full(id=str(i), name=f"v2-{i}") for i in range(100)])
    store.collect_garbage(1)  # the first version's files are deleted
    del store
    gc.collect()
    assert [t.name for t in first][:2] == ["v1-0", "v1-1"]


def test_a_python_thread_runs_while_a_long_import_runs(tmp_path):
    src = tmp_path / "big.json"
    with open(src, "w") as f:
        json.dump([full(id=str(i), name="x" * 40, artist="a" * 20, album="b" * 20, genre="Rock")
                   for i in range(200_000)], f)
    started = threading.Event()
    result = {}

    def run_import():
        started.set()
        result.update(trackstore.import_json(str(src), str(tmp_path / "big.snap")))
        result["finished"] = True

    # With an hour-long switch interval no thread is preempted: the main
    # thread can run while the import runs only if the import releases the
    # GIL. Held, the main thread would run again only once it had finished.
    old = sys.getswitchinterval()
    sys.setswitchinterval(3600)
    try:
        t = threading.Thread(target=run_import)
        t.start()
        started.wait()
        ticks = 0
        while "finished" not in result:
            ticks += 1
            time.sleep(0.001)  # lets the import thread take the GIL back when it returns
        t.join()
    finally:
        sys.setswitchinterval(old)
    assert result["track_count"] == 200_000
    assert ticks > 0
