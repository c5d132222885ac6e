// python/src/track_object.h: the Python types on the hot path, written with
// the CPython API directly (a pybind11 instance costs several times more to
// create): Track, a view of one track; the iterator over a reader's tracks;
// and MappedBuffer, which lends a range of a mapping to memoryview.
//
// Every object made here holds a strong reference to its owner, the Python
// object (Snapshot, Version, ShmEntry) whose C++ value keeps the mapping
// alive, so a view or a memoryview that outlives every other reference to
// its snapshot still reads mapped memory.
#ifndef TRACKSTORE_PYTHON_TRACK_OBJECT_H_
#define TRACKSTORE_PYTHON_TRACK_OBJECT_H_

#include <Python.h>

#include <cstdint>
#include <memory>
#include <optional>
#include <string_view>

#include "trackstore/track.h"

namespace trackstore::python {

// Yields a reader's tracks in library order.
class Cursor {
 public:
  virtual ~Cursor() = default;
  virtual std::optional<TrackView> Next() = 0;  // nullopt after the last
};

// Registers the types; false with a Python error set on failure.
bool InitTrackTypes(PyObject* module);

// A new Track (a new reference), or null with a Python error set.
PyObject* NewTrack(PyObject* owner, const TrackView& view);
// A new iterator over `cursor`'s tracks.
PyObject* NewTrackIterator(PyObject* owner, std::unique_ptr<Cursor> cursor);
// A read-only memoryview of `size` bytes at `data`, whose items have the
// struct format `format` ("B", "I", "q", "Q"), keeping `owner` alive.
PyObject* NewMappedMemoryView(PyObject* owner, const void* data, Py_ssize_t size,
                              const char* format, Py_ssize_t itemsize);

// The view inside a Track object, or null when `object` is not a Track.
const TrackView* TrackViewOf(PyObject* object);

// A field's value as Python has it: str, None or int (original_pos).
PyObject* FieldValue(const TrackView& view, Field field);
// The plain dict of a track: every declared field in order (None where
// absent), then the extras.
PyObject* TrackToDict(const TrackView& view);

// The extras of a track as a new dict (empty when there are none).
PyObject* ExtrasToDict(const TrackView& view);

// The interned key object of a declared field ("album_artist").
PyObject* FieldKey(Field field);

}  // namespace trackstore::python

#endif  // TRACKSTORE_PYTHON_TRACK_OBJECT_H_
