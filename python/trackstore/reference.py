"""The reference application's cache-manager interface over trackstore.

The application trackstore's behaviour comes from keeps its library with a
``TrackCacheManager`` over a snapshot service (gzip JSON files). The classes
here have the same names, methods and arguments, so the application can swap
its layer for these with the smallest change:

- ``LibrarySnapshotService`` / ``AsyncLibrarySnapshotService``: the snapshot
  service (``load_snapshot``, ``save_snapshot``, ``is_snapshot_valid``,
  ``get_snapshot_metadata``, ``update_snapshot_metadata``, ``load_delta``,
  ``save_delta``, ``get_library_mtime``, ``is_enabled``, ``is_delta_enabled``,
  ``should_force_scan``), over a trackstore store directory;
- ``TrackCacheManager`` / ``AsyncTrackCacheManager``: ``get_cached_tracks``,
  ``load_snapshot``, ``merge_tracks``, ``update_snapshot``,
  ``can_use_snapshot``.

The async classes' methods run the work in a thread (``asyncio.to_thread``);
the compiled core releases the GIL, so the event loop keeps running.

Differences from the reference, on purpose (doc/python.md lists them):
times are timezone-aware UTC datetimes (naive ones are taken as UTC);
``update_snapshot`` commits the tracks, the metadata and the delta state in
one atomic store commit, and reads the library mtime before writing
anything; a snapshot whose content does not match its metadata is invalid;
in ``merge_tracks`` an id repeated in the updates takes its last content.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone
from typing import Any, Callable, Iterable, Mapping, Sequence

from . import _core

UTC = timezone.utc
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_LOG_LEVELS = (logging.DEBUG, logging.INFO, logging.WARNING, logging.ERROR)


def to_micros(t: datetime) -> int:
    """Microseconds since the epoch of `t` (a naive datetime is taken as UTC)."""
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    delta = t - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(us: int) -> datetime:
    """The timezone-aware UTC datetime of `us` microseconds since the epoch."""
    return _EPOCH + timedelta(microseconds=us)


def _format_version_text(n: int) -> str:
    return f"{n}.0"


def _format_version_number(text: str) -> int:
    try:
        major, _, minor = str(text).partition(".")
        return int(major) if minor in ("", "0") else -1
    except ValueError:
        return -1


@dataclass
class LibraryCacheMetadata:
    """When the library was last scanned in full, and what the snapshot holds."""

    last_full_scan: datetime
    library_mtime: datetime
    track_count: int = 0
    snapshot_hash: str = ""
    last_force_scan_time: datetime | None = None
    version: str = _format_version_text(_core.METADATA_FORMAT_VERSION)

    @classmethod
    def _from_core(cls, d: Mapping[str, Any]) -> "LibraryCacheMetadata":
        last = d["last_force_scan"]
        return cls(
            last_full_scan=from_micros(d["last_full_scan"]),
            library_mtime=from_micros(d["library_mtime"]),
            track_count=d["track_count"],
            snapshot_hash=d["snapshot_hash"],
            last_force_scan_time=None if last is None else from_micros(last),
            version=_format_version_text(d["format_version"]),
        )

    def _to_core(self) -> dict[str, Any]:
        return {
            "format_version": _format_version_number(self.version),
            "last_full_scan": to_micros(self.last_full_scan),
            "library_mtime": to_micros(self.library_mtime),
            "track_count": int(self.track_count),
            "snapshot_hash": str(self.snapshot_hash),
            "last_force_scan": None if self.last_force_scan_time is None
            else to_micros(self.last_force_scan_time),
        }


@dataclass
class LibraryDeltaCache:
    """Which tracks a delta scan has processed since the state was reset.

    Due for reset with 50,000 ids or more, or when more than 7 days have
    passed since ``tracked_since`` (else ``last_run``).
    """

    last_run: datetime
    processed_track_ids: set[str] = field(default_factory=set)
    field_hashes: dict[str, str] = field(default_factory=dict)
    tracked_since: datetime | None = None

    def _to_core(self) -> dict[str, Any]:
        return {
            "last_run": to_micros(self.last_run),
            "processed_ids": sorted(str(i) for i in self.processed_track_ids),
            "field_hashes": dict(self.field_hashes),
            "tracked_since": None if self.tracked_since is None else to_micros(self.tracked_since),
        }

    @classmethod
    def _from_core(cls, d: Mapping[str, Any]) -> "LibraryDeltaCache":
        since = d["tracked_since"]
        return cls(
            last_run=from_micros(d["last_run"]),
            processed_track_ids=set(d["processed_ids"]),
            field_hashes=dict(d["field_hashes"]),
            tracked_since=None if since is None else from_micros(since),
        )

    def _assign(self, d: Mapping[str, Any]) -> None:
        other = LibraryDeltaCache._from_core(d)
        self.last_run = other.last_run
        self.processed_track_ids = other.processed_track_ids
        self.field_hashes = other.field_hashes
        self.tracked_since = other.tracked_since

    def should_reset(self, now: datetime | None = None) -> bool:
        """True when the state is due for reset at `now` (default: the current time)."""
        now = now or datetime.now(UTC)
        return _core.delta_is_due_for_reset(self._to_core(), to_micros(now))

    def add_processed_ids(self, ids: Iterable[Any], now: datetime | None = None) -> None:
        """Adds ids (made strings); resets first when due, and sets tracked_since when unset."""
        now = now or datetime.now(UTC)
        self._assign(_core.delta_add_processed_ids(self._to_core(), list(ids), to_micros(now)))


def _track_id(track: Any) -> str:
    if isinstance(track, Mapping):
        return str(track["id"])
    return str(track.id)


class LibrarySnapshotService:
    """The snapshot service over a trackstore store directory.

    ``directory`` is the store (created by the first write); ``library_path``
    the music library file whose mtime says whether the library changed.
    ``current_time_func`` (returning a datetime) is the one clock of every
    decision; ``max_age`` the age past which a snapshot of a changed library
    is not used (``timedelta(0)``: no limit).
    """

    def __init__(
        self,
        directory: str,
        library_path: str | None = None,
        *,
        enabled: bool = True,
        delta_enabled: bool = True,
        max_age: timedelta = timedelta(hours=24),
        current_time_func: Callable[[], datetime] | None = None,
        logger: logging.Logger | None = None,
    ) -> None:
        self.current_time_func = current_time_func
        self.logger = logger or logging.getLogger("trackstore")
        self._service = _core.Service(
            str(directory),
            str(library_path or ""),
            enabled=enabled,
            delta_enabled=delta_enabled,
            max_age_micros=int(max_age / timedelta(microseconds=1)),
            clock=self._now_micros,
            log=self._log,
        )

    # -- the clock and the log ------------------------------------------------
    def _now(self) -> datetime:
        return self.current_time_func() if self.current_time_func else datetime.now(UTC)

    def _now_micros(self) -> int:
        return to_micros(self._now())

    def _log(self, level: int, message: str) -> None:
        self.logger.log(_LOG_LEVELS[level], "%s", message)

    # -- the reference's interface ------------------------------------------------
    def is_enabled(self) -> bool:
        return self._service.enabled

    def is_delta_enabled(self) -> bool:
        return self._service.delta_enabled

    def load_snapshot(self) -> list[_core.Track] | None:
        """The current version's tracks (views), whatever its validity; None when there is none."""
        version = self._service.current()
        return None if version is None else list(version)

    def load_version(self) -> _core.Version | None:
        """The current version itself (a zero-copy sequence of tracks), or None."""
        return self._service.current()

    def save_snapshot(self, tracks: Iterable[Any]) -> str:
        """Commits `tracks` as the library; returns its content hash."""
        return self._service.save_snapshot(tracks)["content_hash"]

    def is_snapshot_valid(self) -> bool:
        return self._service.check_validity()["valid"]

    def snapshot_validity(self) -> tuple[bool, str]:
        """(valid, reason): the first validity check that failed, and why."""
        v = self._service.check_validity()
        return v["valid"], v["reason"]

    def get_snapshot_metadata(self) -> LibraryCacheMetadata | None:
        d = self._service.read_metadata()
        return None if d is None else LibraryCacheMetadata._from_core(d)

    def update_snapshot_metadata(self, metadata: LibraryCacheMetadata) -> None:
        self._service.write_metadata(metadata._to_core())

    def load_delta(self) -> LibraryDeltaCache | None:
        d = self._service.load_delta_state()
        return None if d is None else LibraryDeltaCache._from_core(d)

    def save_delta(self, delta: LibraryDeltaCache) -> None:
        d = self._service.save_delta_state(delta._to_core())
        return d

    def get_library_mtime(self) -> datetime:
        return from_micros(self._service.library_mtime())

    def should_force_scan(self, force: bool = False) -> tuple[bool, str]:
        """(due, reason): "forced", "first run", "weekly" or "fast mode"."""
        return self._service.check_force_scan(force)

    def record_force_scan(self) -> None:
        self._service.record_force_scan()


class AsyncLibrarySnapshotService:
    """LibrarySnapshotService with the reference's awaitable methods."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self.sync = LibrarySnapshotService(*args, **kwargs)

    @property
    def current_time_func(self) -> Callable[[], datetime] | None:
        return self.sync.current_time_func

    @current_time_func.setter
    def current_time_func(self, fn: Callable[[], datetime] | None) -> None:
        self.sync.current_time_func = fn

    def is_enabled(self) -> bool:
        return self.sync.is_enabled()

    def is_delta_enabled(self) -> bool:
        return self.sync.is_delta_enabled()

    async def load_snapshot(self) -> list[_core.Track] | None:
        return await asyncio.to_thread(self.sync.load_snapshot)

    async def save_snapshot(self, tracks: Iterable[Any]) -> str:
        return await asyncio.to_thread(self.sync.save_snapshot, tracks)

    async def is_snapshot_valid(self) -> bool:
        return await asyncio.to_thread(self.sync.is_snapshot_valid)

    async def get_snapshot_metadata(self) -> LibraryCacheMetadata | None:
        return await asyncio.to_thread(self.sync.get_snapshot_metadata)

    async def update_snapshot_metadata(self, metadata: LibraryCacheMetadata) -> None:
        await asyncio.to_thread(self.sync.update_snapshot_metadata, metadata)

    async def load_delta(self) -> LibraryDeltaCache | None:
        return await asyncio.to_thread(self.sync.load_delta)

    async def save_delta(self, delta: LibraryDeltaCache) -> None:
        await asyncio.to_thread(self.sync.save_delta, delta)

    async def get_library_mtime(self) -> datetime:
        return await asyncio.to_thread(self.sync.get_library_mtime)

    async def should_force_scan(self, force: bool = False) -> tuple[bool, str]:
        return await asyncio.to_thread(self.sync.should_force_scan, force)


def _sync_service(service: Any) -> LibrarySnapshotService | None:
    if service is None:
        return None
    if isinstance(service, AsyncLibrarySnapshotService):
        return service.sync
    if isinstance(service, LibrarySnapshotService):
        return service
    raise TypeError("snapshot_service must be a LibrarySnapshotService, an "
                    "AsyncLibrarySnapshotService or None")


class _ManagerCore:
    """What the sync and async managers share."""

    def __init__(
        self,
        cache_service: Any,
        snapshot_service: Any,
        console_logger: logging.Logger,
        current_time_func: Callable[[], datetime] | None = None,
    ) -> None:
        self.cache_service = cache_service
        self.snapshot_service = snapshot_service
        self.console_logger = console_logger
        self._service = _sync_service(snapshot_service)
        # One clock for the manager and its service.
        if self._service is not None and current_time_func is not None:
            self._service.current_time_func = current_time_func
        self._current_time_func = current_time_func or (
            self._service._now if self._service is not None else (lambda: datetime.now(UTC)))

    def _current_time(self) -> datetime:
        return self._current_time_func()

    def can_use_snapshot(self) -> bool:
        """True when a snapshot service is configured and enabled."""
        return self._service is not None and self._service.is_enabled()

    @staticmethod
    def merge_tracks(existing: Sequence[Any], updates: Sequence[Any]) -> list[Any]:
        """Existing tracks in order, each replaced whole by its update; then new ids in the
        order of their first appearance. An id repeated in the updates takes its last content."""
        update_map = {_track_id(t): t for t in updates}
        merged: list[Any] = []
        seen: set[str] = set()
        for track in existing:
            track_id = _track_id(track)
            merged.append(update_map.get(track_id, track))
            seen.add(track_id)
        for track in updates:
            track_id = _track_id(track)
            if track_id not in seen:
                merged.append(update_map[track_id])
                seen.add(track_id)
        return merged

    def _validated(self, cache_key: str, cached: Any) -> list[Any] | None:
        if cached is None:
            return None
        items = list(cached)
        bad = _core.validate_tracks(items)
        if bad is not None:
            self.console_logger.warning(
                "Cached data for %s contains invalid track dict at index %d. Ignoring cache.",
                cache_key, bad[0])
            return None
        return items

    def _load(self) -> list[Any] | None:
        if self._service is None:
            return None
        version, why = self._service._service.load_snapshot()
        if version is None:
            if why["failed"] in ("none", "metadata", "snapshot_missing") and \
                    self._service._service.current() is None:
                self.console_logger.debug("Snapshot cache missing on disk")
            else:
                self.console_logger.debug("Snapshot exists but is stale: %s", why["reason"])
            return None
        return list(version)

    def _update(self, tracks: Iterable[Any], processed_track_ids: Sequence[Any] | None,
                library_mtime_override: datetime | None) -> None:
        if self._service is None or not self._service.is_enabled():
            return
        override = None if library_mtime_override is None else to_micros(library_mtime_override)
        self._service._service.update_snapshot(tracks, processed_track_ids, override)


def _cache_get(cache_service: Any, key: str) -> Any:
    if cache_service is None:
        return None
    return cache_service.get(key)


class TrackCacheManager(_ManagerCore):
    """The reference's TrackCacheManager, synchronous.

    ``cache_service`` is a trackstore.ShmCache (entries read in place), or any
    object with ``get(key)`` returning a list of tracks or None.
    """

    def get_cached_tracks(self, cache_key: str) -> list[Any] | None:
        """The cached tracks under `cache_key`, all valid, or None (a miss, or any invalid item)."""
        return self._validated(cache_key, _cache_get(self.cache_service, cache_key))

    def load_snapshot(self) -> list[Any] | None:
        """The snapshot's tracks if there is a valid one, else None (logged at debug level)."""
        return self._load()

    def update_snapshot(
        self,
        tracks: Iterable[Any],
        processed_track_ids: Sequence[Any] | None = None,
        *,
        library_mtime_override: datetime | None = None,
    ) -> None:
        """Persists the tracks, the metadata and the delta state in one commit."""
        self._update(tracks, processed_track_ids, library_mtime_override)


class AsyncTrackCacheManager(_ManagerCore):
    """The reference's TrackCacheManager with its awaitable methods.

    ``cache_service`` is a trackstore.ShmCache, or any object with
    ``get_async(key)`` (awaited) or ``get(key)``.
    """

    async def get_cached_tracks(self, cache_key: str) -> list[Any] | None:
        cache = self.cache_service
        if cache is not None and hasattr(cache, "get_async"):
            cached = await cache.get_async(cache_key)
        else:
            cached = await asyncio.to_thread(_cache_get, cache, cache_key)
        return self._validated(cache_key, cached)

    async def load_snapshot(self) -> list[Any] | None:
        return await asyncio.to_thread(self._load)

    async def update_snapshot(
        self,
        tracks: Iterable[Any],
        processed_track_ids: Sequence[Any] | None = None,
        *,
        library_mtime_override: datetime | None = None,
    ) -> None:
        await asyncio.to_thread(self._update, tracks, processed_track_ids, library_mtime_override)
