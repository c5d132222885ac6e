"""Shared memory from Python: worker processes read one entry while another process
publishes new versions of it; every read is checked."""

import logging
import os
import subprocess
import sys
import uuid

import pytest
import trackstore
from conftest import full

WORKER = r"""
import sys, trackstore
name, rounds = sys.argv[1], int(sys.argv[2])
cache = trackstore.ShmCache(name, create=False)
reads = 0
while reads < rounds:
    entry = cache.get("tracks_all")
    if entry is None:
        continue
    n = len(entry)
    # Every version is a whole library: n tracks, ids 0..n-1, each name tagged
    # with the version's generation, all the same within one entry.
    tags = {t.name.split(":")[0] for t in entry}
    assert len(tags) == 1, tags
    assert [t.id for t in entry] == [str(i) for i in range(n)]
    assert entry.find(str(n - 1)).name.endswith(str(n - 1))
    reads += 1
print(reads)
"""


@pytest.fixture
def shm_name():
    name = "trackstore-pytest-" + uuid.uuid4().hex[:12]
    yield name
    try:
        trackstore.ShmCache.remove(name)
    except trackstore.Error:
        pass


def version(gen, n):
    return [full(id=str(i), name=f"g{gen}:{i}") for i in range(n)]


def test_workers_read_while_another_process_publishes(shm_name):
    cache = trackstore.ShmCache(shm_name, capacity_bytes=32 << 20)
    cache.put("tracks_all", version(0, 1000))
    env = dict(os.environ)
    workers = [subprocess.Popen([sys.executable, "-c", WORKER, shm_name, "200"], env=env,
                                stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
               for _ in range(3)]
    publisher = subprocess.Popen([sys.executable, "-c", r"""
import sys, trackstore
sys.path.insert(0, sys.argv[2])
from conftest import full
cache = trackstore.ShmCache(sys.argv[1], create=False)
for gen in range(1, 60):
    cache.put("tracks_all", [full(id=str(i), name=f"g{gen}:{i}") for i in range(1000 + gen)])
""", shm_name, os.path.dirname(__file__)], env=env, stderr=subprocess.PIPE, text=True)
    assert publisher.wait(timeout=120) == 0, publisher.stderr.read()
    for w in workers:
        out, err = w.communicate(timeout=120)
        assert w.returncode == 0, err
        assert int(out) == 200
    assert len(cache.get("tracks_all")) == 1059


def test_cache_manager_reads_the_shared_entry_in_place(shm_name, tmp_path):
    cache = trackstore.ShmCache(shm_name)
    tracks = version(1, 50)
    cache.put(trackstore.ALL_TRACKS_KEY, tracks)
    manager = trackstore.TrackCacheManager(cache, None, logging.getLogger("t"))
    got = manager.get_cached_tracks("tracks_all")
    assert isinstance(got[0], trackstore.Track)
    assert [t.to_dict() for t in got] == tracks
    assert manager.get_cached_tracks("other") is None
    # An entry read stays valid after it is replaced and invalidated.
    entry = cache.get("tracks_all")
    cache.put("tracks_all", version(2, 3))
    cache.invalidate("tracks_all")
    assert entry[49].name == "g1:49" and len(entry) == 50
    assert cache.get("tracks_all") is None


def test_publish_a_snapshot_file_and_expiry(shm_name, tmp_path):
    now = [1_000_000_000_000_000]
    cache = trackstore.ShmCache(shm_name, clock=lambda: now[0])
    path = str(tmp_path / "lib.snap")
    trackstore.save_snapshot(path, version(0, 10))
    cache.put("k", trackstore.Snapshot(path), ttl_seconds=10)
    assert cache.get("k").content_hash == trackstore.Snapshot(path).content_hash
    now[0] += 10_000_000  # expires_at <= now: a miss
    assert cache.get("k") is None
    with pytest.raises(trackstore.NotFoundError):
        trackstore.ShmCache(shm_name + "-absent", create=False)
