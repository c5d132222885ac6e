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

#include "trackstore/track.h"

namespace trackstore::python {

bool InitConvert();

// Converts `item`, record `index` of the input (named in errors). False
// with a Python error set (TypeError or ValueError naming the record and
// field) on failure.
bool ToRecord(PyObject* item, uint64_t index, TrackRecord* out);

// Every item of the iterable `tracks`. False with a Python error set.
bool ToRecords(PyObject* tracks, std::vector<TrackRecord>* out);

// Every item of the iterable `ids`, each a str (or an int, made a str as
// the reference application does). False with a Python error set.
bool ToStrings(PyObject* ids, std::vector<std::string>* out);

}  // namespace trackstore::python

#endif  // TRACKSTORE_PYTHON_CONVERT_H_
