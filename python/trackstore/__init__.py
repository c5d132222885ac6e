"""trackstore: a memory-mapped snapshot store for music-library track records.

Reading is zero-copy: a Snapshot (or a store Version, or a shared-memory
entry) is a sequence of Track views over the mapped file, whose fields are
read on access::

    import trackstore
    trackstore.save_snapshot("lib.snap", [{"id": "1", "name": "So What",
                                           "artist": "Miles Davis", "album": "Kind of Blue"}])
    snap = trackstore.Snapshot("lib.snap")
    for t in snap:
        print(t.id, t.name, t.genre)          # genre is None when absent
    snap.find("1").to_dict()                  # a plain dict, extras included

Writes take dicts, Track views, or any mapping with the same keys. A Store
keeps versions of the library committed atomically; trackstore.reference
offers the reference application's cache-manager interface over it.
Every call that does real work releases the GIL.
"""

from ._core import (  # noqa: F401
    ALL_TRACKS_KEY,
    BusyError,
    CorruptionError,
    Error,
    InvalidArgumentError,
    IoError,
    NotFoundError,
    NotSupportedError,
    Reader,
    ResourceExhaustedError,
    ShmCache,
    ShmEntry,
    Snapshot,
    Store,
    Track,
    Version,
    adopt,
    diff,
    export_json,
    export_reference,
    import_json,
    merge,
    save_snapshot,
    validate_tracks,
)
from ._core import __version__  # noqa: F401
from .reference import (  # noqa: F401
    AsyncLibrarySnapshotService,
    AsyncTrackCacheManager,
    LibraryCacheMetadata,
    LibraryDeltaCache,
    LibrarySnapshotService,
    TrackCacheManager,
)


def open(path: str, *, verify: bool = True) -> Snapshot:  # noqa: A001 - mirrors io.open's role
    """Opens a snapshot file (see Snapshot)."""
    return Snapshot(path, verify)


FIELDS = (
    "id", "name", "artist", "album", "genre", "year", "date_added", "last_modified",
    "track_status", "original_artist", "original_album", "year_before_mgu", "year_set_by_mgu",
    "release_year", "original_pos", "album_artist",
)
"""The declared fields of a track, in the reference application's order."""
