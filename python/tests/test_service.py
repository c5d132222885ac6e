"""The reference's cache-manager behaviour through the Python classes, sync and async,
with an injected clock."""

import asyncio
import logging
import os
from datetime import datetime, timedelta, timezone

import pytest
import trackstore
from conftest import full
from trackstore.reference import to_micros

UTC = timezone.utc
T0 = datetime(2025, 6, 1, 12, 0, 0, tzinfo=UTC)


class Clock:
    def __init__(self, now=T0):
        self.now = now

    def __call__(self):
        return self.now


class DictCache:
    def __init__(self, entries=None):
        self.entries = dict(entries or {})

    def get(self, key):
        return self.entries.get(key)


class AsyncDictCache(DictCache):
    async def get_async(self, key):
        await asyncio.sleep(0)
        return self.entries.get(key)


@pytest.fixture
def env(tmp_path):
    library = tmp_path / "Library.musiclibrary"
    library.write_text("x")
    os.utime(library, (T0.timestamp() - 3600, T0.timestamp() - 3600))
    clock = Clock()
    return tmp_path, str(library), clock


def make(env, async_=False, cache=None, **kw):
    tmp_path, library, clock = env
    cls = trackstore.AsyncLibrarySnapshotService if async_ else trackstore.LibrarySnapshotService
    service = cls(str(tmp_path / "store"), library, current_time_func=clock, **kw)
    manager_cls = trackstore.AsyncTrackCacheManager if async_ else trackstore.TrackCacheManager
    manager = manager_cls(cache, service, logging.getLogger("test"), current_time_func=clock)
    return service, manager


def run(value):
    return asyncio.run(value) if asyncio.iscoroutine(value) else value


@pytest.mark.parametrize("async_", [False, True])
def test_update_then_load_snapshot(env, async_):
    service, manager = make(env, async_)
    assert manager.can_use_snapshot()
    assert run(manager.load_snapshot()) is None  # nothing on disk yet
    tracks = [full(id=str(i), name=f"t{i}") for i in range(5)]
    run(manager.update_snapshot(tracks, processed_track_ids=["1", 2, ""]))
    loaded = run(manager.load_snapshot())
    assert [t.to_dict() for t in loaded] == tracks
    meta = run(service.get_snapshot_metadata())
    assert meta.last_full_scan == T0 and meta.last_full_scan.tzinfo is not None
    assert meta.track_count == 5 and meta.version == "1.0"
    assert meta.library_mtime == T0 - timedelta(hours=1)
    delta = run(service.load_delta())
    assert delta.processed_track_ids == {"1", "2"}  # ints made strings, empty ids dropped
    assert delta.last_run == T0 and delta.tracked_since == T0


@pytest.mark.parametrize("async_", [False, True])
def test_library_mtime_override_is_recorded_and_library_not_read(env, async_):
    tmp_path, library, clock = env
    service, manager = make(env, async_)
    override = T0 - timedelta(days=3)
    os.remove(library)  # not read when an override is given
    run(manager.update_snapshot([full()], library_mtime_override=override))
    assert run(service.get_snapshot_metadata()).library_mtime == override


def test_update_without_override_fails_before_writing_when_the_library_is_gone(env, caplog):
    tmp_path, library, clock = env
    service, manager = make(env)
    manager.update_snapshot([full(id="a")])
    os.remove(library)
    with pytest.raises(trackstore.Error):
        manager.update_snapshot([full(id="b")])
    assert [t.id for t in service.load_snapshot()] == ["a"]  # the previous snapshot is intact


def test_validity_reasons_and_max_age(env):
    tmp_path, library, clock = env
    service, manager = make(env, max_age=timedelta(hours=24))
    assert service.snapshot_validity()[0] is False  # no metadata
    manager.update_snapshot([full()])
    assert service.is_snapshot_valid()
    # The library changes: the age check applies; exactly the maximum age is still valid.
    os.utime(library, (T0.timestamp() + 60, T0.timestamp() + 60))
    clock.now = T0 + timedelta(hours=24)
    assert service.is_snapshot_valid()
    clock.now = T0 + timedelta(hours=24, microseconds=1)
    valid, reason = service.snapshot_validity()
    assert not valid and reason
    assert manager.load_snapshot() is None
    # A library that did not change since is never too old.
    os.utime(library, (T0.timestamp() - 7200, T0.timestamp() - 7200))
    clock.now = T0 + timedelta(days=30)
    assert service.is_snapshot_valid()


def test_metadata_round_trip_and_force_scan(env):
    service, manager = make(env)
    assert service.should_force_scan() == (False, "first run")
    assert service.should_force_scan(True)[0] is True
    manager.update_snapshot([full()])
    meta = service.get_snapshot_metadata()
    meta.last_force_scan_time = T0 - timedelta(days=7)
    service.update_snapshot_metadata(meta)
    assert service.get_snapshot_metadata().last_force_scan_time == T0 - timedelta(days=7)
    due, reason = service.should_force_scan()
    assert due and reason
    # update_snapshot keeps the last force-scan time.
    manager.update_snapshot([full(id="2")])
    assert service.get_snapshot_metadata().last_force_scan_time == T0 - timedelta(days=7)


def test_delta_state_limits(env):
    tmp_path, library, clock = env
    service, manager = make(env)
    manager.update_snapshot([full()], processed_track_ids=[str(i) for i in range(10)])
    delta = service.load_delta()
    assert len(delta.processed_track_ids) == 10
    # Exactly 7 days since tracked_since is not yet due; a microsecond more is.
    assert not delta.should_reset(T0 + timedelta(days=7))
    assert delta.should_reset(T0 + timedelta(days=7, microseconds=1))
    clock.now = T0 + timedelta(days=8)
    assert service.load_delta() is None  # due for reset reads as none
    manager.update_snapshot([full()], processed_track_ids=["x"])
    delta = service.load_delta()
    assert delta.processed_track_ids == {"x"} and delta.tracked_since == clock.now
    # 50,000 ids: due; adding then clears first.
    big = trackstore.LibraryDeltaCache(last_run=T0, processed_track_ids={str(i) for i in range(50_000)},
                                       tracked_since=T0)
    assert big.should_reset(T0)
    big.add_processed_ids(["new"], now=T0)
    assert big.processed_track_ids == {"new"}
    fresh = trackstore.LibraryDeltaCache(last_run=T0)
    fresh.add_processed_ids([], now=T0 + timedelta(seconds=5))
    assert fresh.tracked_since == T0 + timedelta(seconds=5)  # set even when adding none


def test_disabled_service_writes_nothing(env):
    tmp_path, library, clock = env
    service, manager = make(env, enabled=False)
    assert not manager.can_use_snapshot()
    manager.update_snapshot([full()])
    assert not (tmp_path / "store").exists()
    assert trackstore.TrackCacheManager(None, None, logging.getLogger("t")).load_snapshot() is None


def test_merge_tracks_order_and_duplicates():
    merge = trackstore.TrackCacheManager.merge_tracks
    existing = [full(id="1", name="a"), full(id="2", name="b"), full(id="3", name="c")]
    updates = [full(id="9", name="new1"), full(id="2", name="b1"), full(id="9", name="new2"),
               full(id="2", name="b2")]
    merged = merge(existing, updates)
    assert [(t["id"], t["name"]) for t in merged] == \
        [("1", "a"), ("2", "b2"), ("3", "c"), ("9", "new2")]
    assert merge(existing, []) == existing


@pytest.mark.parametrize("async_", [False, True])
def test_cached_tracks_are_validated_all_or_nothing(env, caplog, async_):
    good = [full(id="1"), full(id="2")]
    cache = (AsyncDictCache if async_ else DictCache)({
        "good": good, "empty": [],
        "bad": [full(id="1"), {"id": "2", "name": 5}, full(id="3")],
        "empty_id": [full(id="")],
    })
    service, manager = make(env, async_, cache=cache)
    assert run(manager.get_cached_tracks("good")) == good
    assert run(manager.get_cached_tracks("empty")) == []  # an empty list is a hit
    assert run(manager.get_cached_tracks("missing")) is None
    with caplog.at_level(logging.WARNING):
        assert run(manager.get_cached_tracks("bad")) is None
    assert "Cached data for bad contains invalid track dict at index 1" in caplog.text
    assert run(manager.get_cached_tracks("empty_id")) is None


def test_async_methods_do_not_block_the_event_loop(env):
    service, manager = make(env, async_=True)
    tracks = [full(id=str(i), name="x" * 50) for i in range(100_000)]

    async def main():
        ticks = 0
        done = False

        async def ticker():
            nonlocal ticks
            while not done:
                ticks += 1
                await asyncio.sleep(0)

        task = asyncio.create_task(ticker())
        await manager.update_snapshot(tracks)
        loaded = await manager.load_snapshot()
        done = True
        await task
        return ticks, loaded

    ticks, loaded = asyncio.run(main())
    assert len(loaded) == 100_000
    assert ticks > 1  # the loop ran while the work was in its thread


def test_a_corrupt_version_is_not_loaded(env, caplog):
    tmp_path, library, clock = env
    service, manager = make(env)
    manager.update_snapshot([full(id=str(i)) for i in range(100)])
    fragments = list((tmp_path / "store" / "fragments").iterdir())
    data = bytearray(fragments[0].read_bytes())
    data[-100] ^= 0xFF
    fragments[0].write_bytes(bytes(data))
    with caplog.at_level(logging.DEBUG):
        assert manager.load_snapshot() is None
    assert not service.is_snapshot_valid()
