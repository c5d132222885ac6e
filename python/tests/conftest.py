"""Shared fixtures of the Python tests (run by meson test with the build's package)."""

import pytest

FIELDS = (
    "id", "name", "artist", "album", "genre", "year", "date_added", "last_modified",
    "track_status", "original_artist", "original_album", "year_before_mgu", "year_set_by_mgu",
    "release_year", "original_pos", "album_artist",
)


def full(**values):
    """A record as the reference dumps it: every declared field, None where not given."""
    d = {f: None for f in FIELDS}
    d.update(id="1", name="", artist="", album="")
    d.update(values)
    return d


@pytest.fixture
def library():
    """Ten tracks covering None vs "", non-ASCII and extras of every JSON type."""
    tracks = [full(id=str(i), name=f"Track {i}", artist="Artist", album="Album",
                   year=str(1990 + i), original_pos=i) for i in range(10)]
    tracks[1].update(genre="", year=None)
    tracks[2].update(name="Ünïcødé ☃ 日本語 🎵", artist="Sigur Rós")
    tracks[3].update(rating=5, score=2.5, loved=True, skipped=False, note=None,
                     tags=["a", "b"], nested={"z": 1, "a": [1, {"b": None}]})
    tracks[4].update(original_pos=None, track_status="subscription")
    return tracks
