// python/src/convert.h: Python values to TrackRecords, for every write.
//
// A track may be given as a trackstore.Track (copied from its mapping), a
// dict, any other mapping (anything with keys()), or an object with
// model_dump() (the reference application's track model). Keys are the
// field names; unknown keys become the extras, kept as canonical JSON so
// that they hash as the same record imported from JSON would.
#ifndef TRACKSTORE_PYTHON_CONVERT_H_
#define TRACKSTORE_PYTHON_CONVERT_H_

#include <Python.h>

#include <cstdint>
#include <string>
#include <vector>

#include "json_records.h"
#include "trackstore/track.h"

namespace trackstore::python {

bool InitConvert();

// Which field each key of a dict names, remembered by the key's position:
// the dicts of one list nearly always hold the same key objects in the same
// order (literal keys are interned, json.loads shares its keys), so a
// pointer comparison stands in for a dict lookup. Holds references to the
// keys it remembers; use and destroy it with the GIL held.
class KeyCache {
 public:
  KeyCache() = default;
  KeyCache(const KeyCache&) = delete;
  KeyCache& operator=(const KeyCache&) = delete;
  ~KeyCache();

  // A str key that is not a field: it goes into the extras.
  static constexpr int kExtra = -1;
  // A key of another type (no Python error set).
  static constexpr int kNotAString = -2;
  // The lookup failed, with a Python error set.
  static constexpr int kError = -3;
  // The field number of `key`, the dict's `pos`-th key, or one of the
  // negative values above.
  int FieldOf(PyObject* key, Py_ssize_t pos) {
    if (pos < kSlots && key == keys_[pos]) return fields_[pos];
    return Learn(key, pos);
  }

 private:
  static constexpr Py_ssize_t kSlots = 32;
  int Learn(PyObject* key, Py_ssize_t pos);

  PyObject* keys_[kSlots] = {};
  int fields_[kSlots] = {};
};

// One track's values as views into the str objects that hold them. A view
// stays valid while its str lives: while no Python code runs, nothing can
// free one, so the strs are only noted; before Python code runs (a
// generator, model_dump(), serializing extras), ViewOwner::OwnViews takes
// references to them, so that nothing the code does (reusing one dict,
// assigning to an item) frees a string a view points into. Reusable.
struct RecordView {
  internal::JsonRecord record;
  std::string extras;                // the canonical extras text record.extras_json points to
  PyObject* strs[kFieldCount] = {};  // the strs the views point into
  int str_count = 0;
  int owned_count = 0;            // strs[0, owned_count) are referenced
  PyObject* keepalive = nullptr;  // a dict made for the item (model_dump(), a mapping)
  RecordView() = default;
  RecordView(const RecordView&) = delete;
  RecordView& operator=(const RecordView&) = delete;
  ~RecordView() { Release(); }
  // References the strs not referenced yet.
  void Own() {
    for (; owned_count < str_count; ++owned_count) Py_INCREF(strs[owned_count]);
  }
  // Drops the references (with the GIL held).
  void Release() {
    for (int i = 0; i < owned_count; ++i) Py_DECREF(strs[i]);
    str_count = owned_count = 0;
    Py_CLEAR(keepalive);
  }
};

// Called before Python code may run: references the strs of every view
// not yet copied (RecordView).
class ViewOwner {
 public:
  virtual void OwnViews() = 0;

 protected:
  ~ViewOwner() = default;
};

// Reads `item`, record `index`, into *out without copying its strings.
// False with a Python error set on failure. Resets *out first. `keys` is
// the cache of the items read before this one; `owner` is told before any
// Python code runs.
bool ToRecordView(PyObject* item, uint64_t index, KeyCache* keys, ViewOwner* owner,
                  RecordView* out);

// Converts `item`, record `index` of the input (named in errors). False
// with a Python error set (TypeError or ValueError naming the record and
// field) on failure.
bool ToRecord(PyObject* item, uint64_t index, KeyCache* keys, TrackRecord* out);

// Every item of the iterable `tracks`. False with a Python error set.
bool ToRecords(PyObject* tracks, std::vector<TrackRecord>* out);

// Every item of the iterable `ids`, each a str (or an int, made a str as
// the reference application does). False with a Python error set.
bool ToStrings(PyObject* ids, std::vector<std::string>* out);

}  // namespace trackstore::python

#endif  // TRACKSTORE_PYTHON_CONVERT_H_
