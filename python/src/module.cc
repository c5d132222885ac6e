// python/src/module.cc: the module trackstore._core. pybind11 binds the
// readers, the store, the writers, the snapshot service and the
// shared-memory cache; the per-track types are in track_object.cc.
//
// Every call that does real work (open, verify, write, merge, diff,
// import, export, commit, shm get/put) releases the GIL. Errors are raised
// as trackstore.Error subclasses carrying the Status code name in `.code`.
#include <pybind11/functional.h>
#include <pybind11/pybind11.h>
#include <pybind11/stl.h>

#include <condition_variable>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <thread>
#include <type_traits>
#include <utility>
#include <vector>

#include "column_writer.h"
#include "convert.h"
#include "readers.h"
#include "snapshot_access.h"
#include "track_object.h"
#include "trackstore/cache_manager.h"
#include "trackstore/diff.h"
#include "trackstore/json.h"
#include "trackstore/merge.h"
#include "trackstore/reference_files.h"
#include "trackstore/shm_cache.h"
#include "trackstore/snapshot_service.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/store.h"
#include "trackstore/version.h"

namespace py = pybind11;

namespace trackstore::python {
namespace {

// --- errors --------------------------------------------------------------

struct Errors {
  PyObject* base = nullptr;
  PyObject* not_found = nullptr;
  PyObject* corruption = nullptr;
  PyObject* invalid_argument = nullptr;
  PyObject* io = nullptr;
  PyObject* resource_exhausted = nullptr;
  PyObject* not_supported = nullptr;
  PyObject* busy = nullptr;
} g_errors;

PyObject* ErrorType(Status::Code code) {
  switch (code) {
    case Status::Code::kNotFound:
      return g_errors.not_found;
    case Status::Code::kNotASnapshot:
    case Status::Code::kTruncated:
    case Status::Code::kHashMismatch:
    case Status::Code::kStructureInvalid:
      return g_errors.corruption;
    case Status::Code::kInvalidArgument:
      return g_errors.invalid_argument;
    case Status::Code::kIOError:
      return g_errors.io;
    case Status::Code::kResourceExhausted:
      return g_errors.resource_exhausted;
    case Status::Code::kVersionUnsupported:
    case Status::Code::kNotSupported:
      return g_errors.not_supported;
    case Status::Code::kBusy:
      return g_errors.busy;
    default:
      return g_errors.base;
  }
}

[[noreturn]] void Raise(const Status& s) {
  PyObject* type = ErrorType(s.code());
  PyObject* error = PyObject_CallFunction(type, "s", s.message().c_str());
  if (error != nullptr) {
    const std::string code(Status::CodeName(s.code()));
    PyObject* name = PyUnicode_FromString(code.c_str());
    if (name != nullptr) PyObject_SetAttrString(error, "code", name);
    Py_XDECREF(name);
    PyErr_SetObject(type, error);
    Py_DECREF(error);
  }
  throw py::error_already_set();
}

void Check(const Status& s) {
  if (!s.ok()) Raise(s);
}

template <typename T>
T Take(Result<T>&& r) {
  if (!r.ok()) Raise(r.status());
  return std::move(r).value();
}

// fn() with the GIL released, so that other Python threads run meanwhile;
// fn must touch no Python object.
template <typename Fn>
auto WithoutGil(Fn&& fn) {
  py::gil_scoped_release nogil;
  return fn();
}

// WithoutGil(fn), then the value of the Result it returns, or nothing for a
// Status; an error is raised (with the GIL held again).
template <typename Fn>
auto TakeWithoutGil(Fn&& fn) {
  if constexpr (std::is_same_v<std::invoke_result_t<Fn&>, Status>) {
    Check(WithoutGil(fn));
  } else {
    return Take(WithoutGil(fn));
  }
}

PyObject* MakeError(py::module_& m, const char* name, PyObject* bases, const char* doc) {
  const std::string qualified = std::string("trackstore.") + name;
  PyObject* type = PyErr_NewExceptionWithDoc(qualified.c_str(), doc, bases, nullptr);
  if (type == nullptr) throw py::error_already_set();
  m.attr(name) = py::reinterpret_borrow<py::object>(type);
  return type;
}

void InitErrors(py::module_& m) {
  g_errors.base = MakeError(m, "Error", PyExc_Exception,
                            "Base of trackstore's errors; .code is the Status code name.");
  auto pair = [](PyObject* a, PyObject* b) { return PyTuple_Pack(2, a, b); };
  g_errors.not_found = MakeError(m, "NotFoundError", pair(g_errors.base, PyExc_LookupError),
                                 "A file, a key or a version does not exist.");
  g_errors.corruption = MakeError(m, "CorruptionError", g_errors.base,
                                  "A file is not a snapshot, truncated, or fails verification.");
  g_errors.invalid_argument =
      MakeError(m, "InvalidArgumentError", pair(g_errors.base, PyExc_ValueError),
                "Bad input: malformed JSON, empty or duplicate ids, invalid UTF-8.");
  g_errors.io = MakeError(m, "IoError", g_errors.base, "The operating system reported an error.");
  g_errors.resource_exhausted = MakeError(m, "ResourceExhaustedError", g_errors.base,
                                          "No space left, a full segment, a size limit.");
  g_errors.not_supported = MakeError(m, "NotSupportedError", g_errors.base,
                                     "Valid, but beyond what this build supports.");
  g_errors.busy =
      MakeError(m, "BusyError", g_errors.base, "Another process holds the store's writer lock.");
}

// --- conversions ---------------------------------------------------------

std::vector<TrackRecord> Records(py::handle tracks) {
  std::vector<TrackRecord> records;
  if (!ToRecords(tracks.ptr(), &records)) throw py::error_already_set();
  return records;
}

std::vector<std::string> Strings(py::handle ids) {
  std::vector<std::string> out;
  if (ids.is_none()) return out;
  if (!ToStrings(ids.ptr(), &out)) throw py::error_already_set();
  return out;
}

py::object Steal(PyObject* p) {
  if (p == nullptr) throw py::error_already_set();
  return py::reinterpret_steal<py::object>(p);
}

DuplicatePolicy Duplicates(const std::string& name) {
  if (name == "reject") return DuplicatePolicy::kReject;
  if (name == "keep_first") return DuplicatePolicy::kKeepFirst;
  if (name == "keep_last") return DuplicatePolicy::kKeepLast;
  throw py::value_error("duplicates must be 'reject', 'keep_first' or 'keep_last', not '" + name +
                        "'");
}

Field FieldNamed(const std::string& name) {
  if (name == "extras") return Field::kExtras;
  std::optional<Field> f = FieldFromName(name);
  if (!f) throw py::key_error("no field named '" + name + "'");
  return *f;
}

py::object OptionalMicros(const std::optional<Micros>& t) {
  return t ? py::object(py::int_(*t)) : py::object(py::none());
}

py::dict DeltaToDict(const DeltaState& d) {
  py::dict out;
  out["last_run"] = d.last_run;
  py::list ids;
  for (const std::string& id : d.processed_ids) ids.append(py::str(id));
  out["processed_ids"] = ids;
  out["field_hashes"] = d.field_hashes;
  out["tracked_since"] = OptionalMicros(d.tracked_since);
  return out;
}

DeltaState DeltaFromDict(const py::dict& d) {
  DeltaState s;
  s.last_run = d["last_run"].cast<Micros>();
  for (const std::string& id : Strings(d["processed_ids"])) s.processed_ids.insert(id);
  if (d.contains("field_hashes"))
    s.field_hashes = d["field_hashes"].cast<std::map<std::string, std::string>>();
  if (d.contains("tracked_since") && !d["tracked_since"].is_none())
    s.tracked_since = d["tracked_since"].cast<Micros>();
  return s;
}

py::dict MetadataToDict(const SnapshotMetadata& m) {
  py::dict out;
  out["format_version"] = m.format_version;
  out["last_full_scan"] = m.last_full_scan;
  out["library_mtime"] = m.library_mtime;
  out["track_count"] = m.track_count;
  out["snapshot_hash"] = m.snapshot_hash;
  out["last_force_scan"] = OptionalMicros(m.last_force_scan);
  return out;
}

SnapshotMetadata MetadataFromDict(const py::dict& d) {
  SnapshotMetadata m;
  if (d.contains("format_version")) m.format_version = d["format_version"].cast<int64_t>();
  m.last_full_scan = d["last_full_scan"].cast<Micros>();
  m.library_mtime = d["library_mtime"].cast<Micros>();
  if (d.contains("track_count")) m.track_count = d["track_count"].cast<uint64_t>();
  if (d.contains("snapshot_hash")) m.snapshot_hash = d["snapshot_hash"].cast<std::string>();
  if (d.contains("last_force_scan") && !d["last_force_scan"].is_none())
    m.last_force_scan = d["last_force_scan"].cast<Micros>();
  return m;
}

py::dict VersionInfoToDict(const VersionInfo& v) {
  py::dict out;
  out["number"] = v.number;
  out["parent"] = v.parent;
  out["created"] = v.created;
  out["operation"] = v.operation;
  out["track_count"] = v.track_count;
  out["content_hash"] = v.content_hash;
  py::list fragments;
  for (const FragmentInfo& f : v.fragments) {
    py::dict fd;
    fd["name"] = f.name;
    fd["delta"] = f.delta;
    fd["rows"] = f.rows;
    fd["bytes"] = f.bytes;
    fragments.append(fd);
  }
  out["fragments"] = fragments;
  out["has_metadata"] = v.service.has_value();
  out["has_delta_state"] = !v.delta_state.empty();
  return out;
}

// A Clock that calls a Python callable returning microseconds, taking the
// GIL for the call (the library may ask the time with the GIL released).
Clock PythonClock(py::object fn) {
  if (fn.is_none()) return SystemClock();
  auto holder = std::make_shared<py::object>(std::move(fn));
  return [holder]() -> Micros {
    py::gil_scoped_acquire gil;
    return (*holder)().cast<Micros>();
  };
}

// Every item of the iterable `tracks` into `writer`. False with a Python
// error set (a conversion error, or the writer's Status raised).
//
// Two threads share the work: this one reads the items (Python objects, so
// with the GIL) into batches of field views, while a second copies the
// previous batch into the columns (no Python object is touched there). The
// views point into str objects, which never change. While no Python code
// runs, nothing can free one (no other thread runs either: this one holds
// the GIL); before any runs (a generator's, model_dump(), an object's
// finalizer once one could be the last reference's), OwnViews references
// the strs of every view not yet copied, so that a generator reusing one
// dict, or another thread assigning to an item, cannot pull a string from
// under the copier. A list of plain dicts takes no reference at all.
class BatchedRecords final : public ViewOwner {
 public:
  explicit BatchedRecords(internal::ColumnSnapshotWriter* writer)
      : writer_(writer), copier_([this] { CopyLoop(); }) {}

  ~BatchedRecords() {
    {
      std::lock_guard<std::mutex> l(mu_);
      quit_ = true;
    }
    cv_.notify_all();
    copier_.join();
    for (Batch& b : batches_) b.Release();
  }

  bool Run(PyObject* tracks) {
    PyObject* it = PyObject_GetIter(tracks);
    if (it == nullptr) return false;
    const py::object iterator = py::reinterpret_steal<py::object>(it);  // also when a raise throws
    // A list or tuple's iterator runs no Python code; another iterable's may.
    const bool sequence = PyList_CheckExact(tracks) || PyTuple_CheckExact(tracks);
    KeyCache keys;
    uint64_t index = 0;
    bool ok = true;
    for (;;) {
      if (!sequence) OwnViews();
      PyObject* item = PyIter_Next(it);
      if (item == nullptr) break;
      Batch& b = batches_[filling_];
      b.items[b.size] = item;  // the batch's reference
      ok = ToRecordView(item, index++, &keys, this, &b.views[b.size++]);
      if (!ok) break;
      if (b.size == kBatch && !(ok = HandOver())) break;
    }
    if (ok && PyErr_Occurred()) ok = false;
    if (ok) ok = HandOver();
    if (ok) ok = WaitIdle();  // the last batch copied
    return ok;
  }

  void OwnViews() override {
    python_ran_ = true;
    for (Batch& b : batches_) {
      for (size_t i = b.owned_upto; i < b.size; ++i) b.views[i].Own();
      // The last view may still be being read: it is looked at again.
      b.owned_upto = b.size > 0 ? b.size - 1 : 0;
    }
  }

 private:
  // Records read before the copier is handed them: small enough that the
  // views are still in the cache when it copies them.
  static constexpr size_t kBatch = 1024;

  // Views reused from batch to batch (their extras text keeps its capacity).
  struct Batch {
    std::unique_ptr<RecordView[]> views = std::make_unique<RecordView[]>(kBatch);
    std::unique_ptr<PyObject*[]> items = std::make_unique<PyObject*[]>(kBatch);
    size_t size = 0;
    size_t owned_upto = 0;  // views before it own their strs (RecordView::Own)
    // Drops the items, the dicts made for them and the strs owned (with the
    // GIL held).
    void Release() {
      for (size_t i = 0; i < size; ++i) {
        views[i].Release();
        Py_DECREF(items[i]);
      }
      size = owned_upto = 0;
    }
  };

  // Waits for the copier to finish its batch; false with the writer's
  // error raised if it failed.
  bool WaitIdle() {
    Status error;
    {
      std::unique_lock<std::mutex> l(mu_);
      cv_.wait(l, [&] { return !busy_; });
      error = error_;
    }
    // Dropping the last reference to an object can run its finalizer: once
    // Python code has run here, an item may hold the last one.
    if (python_ran_) OwnViews();
    batches_[1 - filling_].Release();
    if (!error.ok()) Raise(error);
    return true;
  }

  // Gives the batch being filled to the copier (after the previous one is
  // done) and starts filling the other.
  bool HandOver() {
    if (!WaitIdle()) return false;
    {
      std::lock_guard<std::mutex> l(mu_);
      busy_ = true;
      copying_ = filling_;
    }
    cv_.notify_all();
    filling_ = 1 - filling_;
    return true;
  }

  void CopyLoop() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      cv_.wait(l, [&] { return quit_ || busy_; });
      if (quit_) return;
      Batch& b = batches_[copying_];
      const bool failed = !error_.ok();
      l.unlock();
      Status s;
      if (!failed) {
        for (size_t i = 0; i < b.size; ++i) {
          if (s = writer_->Add(b.views[i].record); !s.ok()) break;
        }
      }
      l.lock();
      if (!s.ok() && error_.ok()) error_ = s;
      busy_ = false;
      cv_.notify_all();
    }
  }

  internal::ColumnSnapshotWriter* writer_;
  Batch batches_[2];
  int filling_ = 0;
  int copying_ = 1;
  std::mutex mu_;
  std::condition_variable cv_;
  bool busy_ = false;        // guarded by mu_
  bool quit_ = false;        // guarded by mu_
  Status error_;             // guarded by mu_; read by the copier only between batches
  bool python_ran_ = false;  // Python code may have run since the start
  std::thread copier_;       // last: starts once the rest is set
};

bool AddRecords(py::handle tracks, internal::ColumnSnapshotWriter* writer) {
  BatchedRecords batched(writer);
  return batched.Run(tracks.ptr());
}

// --- readers -------------------------------------------------------------

Reader& ReaderOf(py::handle self) { return self.cast<Reader&>(); }

py::object TrackAt(py::handle self, int64_t index) {
  Reader& r = ReaderOf(self);
  const int64_t n = static_cast<int64_t>(r.Size());
  if (index < 0) index += n;
  if (index < 0 || index >= n) throw py::index_error("track index out of range");
  return Steal(NewTrack(self.ptr(), r.At(static_cast<uint64_t>(index))));
}

py::object FindTrack(py::handle self, std::string_view id) {
  std::optional<TrackView> t = ReaderOf(self).Find(id);
  if (!t) return py::none();
  return Steal(NewTrack(self.ptr(), *t));
}

py::list Column(py::handle self, const std::string& name) {
  Reader& r = ReaderOf(self);
  const Field field = FieldNamed(name);
  py::list out(r.Size());
  std::unique_ptr<Cursor> cursor = r.Begin();
  size_t i = 0;
  while (std::optional<TrackView> view = cursor->Next()) {
    PyObject* value = nullptr;
    if (field == Field::kExtras) {
      value = ExtrasToDict(*view);
    } else {
      value = FieldValue(*view, field);
    }
    if (value == nullptr) throw py::error_already_set();
    PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i++), value);
  }
  return out;
}

py::dict ColumnBuffers(py::handle self, const std::string& name) {
  Reader& r = ReaderOf(self);
  const Snapshot* s = r.Single();
  if (s == nullptr) {
    throw py::value_error(
        "column buffers need the tracks in one file: this version has several fragments "
        "(Store.compact() makes one)");
  }
  const Field field = FieldNamed(name);
  const internal::Columns& c = internal::SnapshotAccess::Of(*s);
  const Py_ssize_t n = static_cast<Py_ssize_t>(c.count);
  const Py_ssize_t bitmap_bytes = (n + 7) / 8;
  PyObject* owner = self.ptr();
  py::dict out;
  out["length"] = n;
  if (field == Field::kOriginalPos) {
    out["values"] = Steal(NewMappedMemoryView(owner, c.original_pos.values, n * 8, "q", 8));
    out["validity"] =
        Steal(NewMappedMemoryView(owner, c.original_pos.present, bitmap_bytes, "B", 1));
    return out;
  }
  const internal::StringColumnRef& col =
      field == Field::kExtras ? c.extras : c.strings[static_cast<int>(field)];
  out["offsets"] = Steal(NewMappedMemoryView(owner, col.offsets, (n + 1) * 4, "I", 4));
  out["data"] =
      Steal(NewMappedMemoryView(owner, col.bytes, static_cast<Py_ssize_t>(col.bytes_size), "B", 1));
  out["validity"] = col.present == nullptr
                        ? py::object(py::none())
                        : Steal(NewMappedMemoryView(owner, col.present, bitmap_bytes, "B", 1));
  return out;
}

py::list ToDicts(py::handle self) {
  Reader& r = ReaderOf(self);
  py::list out(r.Size());
  std::unique_ptr<Cursor> cursor = r.Begin();
  size_t i = 0;
  while (std::optional<TrackView> view = cursor->Next()) {
    PyObject* d = TrackToDict(*view);
    if (d == nullptr) throw py::error_already_set();
    PyList_SET_ITEM(out.ptr(), static_cast<Py_ssize_t>(i++), d);
  }
  return out;
}

template <typename T>
T& Value(py::handle self) {
  return self.cast<T&>();
}

// --- results ---------------------------------------------------------------

py::dict WriteResultDict(const WriteResult& w) {
  py::dict d;
  d["content_hash"] = w.content_hash;
  d["track_count"] = w.track_count;
  d["file_size"] = w.file_size;
  d["duplicates_dropped"] = w.duplicates_dropped;
  d["empty_ids_dropped"] = w.empty_ids_dropped;
  return d;
}

py::dict CommitStatsDict(const CommitStats& c) {
  py::dict d;
  d["version"] = c.version;
  d["track_count"] = c.track_count;
  d["content_hash"] = c.content_hash;
  d["replaced"] = c.replaced;
  d["appended"] = c.appended;
  d["unchanged"] = c.unchanged;
  d["superseded"] = c.superseded;
  d["removed"] = c.removed;
  d["not_found"] = c.not_found;
  d["bytes_written"] = c.bytes_written;
  d["duplicates_dropped"] = c.duplicates_dropped;
  d["empty_ids_dropped"] = c.empty_ids_dropped;
  d["compacted"] = c.compacted;
  return d;
}

py::dict DiffDict(const SnapshotDiff& diff) {
  py::dict d;
  d["added"] = diff.added;
  py::list updated;
  for (const UpdatedTrack& u : diff.updated) {
    py::list fields;
    for (Field f : u.changed) fields.append(py::str(std::string(FieldName(f))));
    updated.append(py::make_tuple(u.id, fields));
  }
  d["updated"] = updated;
  d["removed"] = diff.removed;
  return d;
}

// --- the service -------------------------------------------------------------

// A SnapshotService and the CacheManager over it (no cache: the Python
// layer reads caches itself), with the log going to a Python callable.
class Service {
 public:
  Service(ServiceOptions options, py::object log)
      : service_(std::move(options)), manager_(nullptr, &service_, MakeLog(std::move(log))) {}
  SnapshotService& service() { return service_; }
  CacheManager& manager() { return manager_; }

 private:
  static LogSink MakeLog(py::object log) {
    if (log.is_none()) return LogSink{[](LogLevel, std::string_view) {}};
    auto holder = std::make_shared<py::object>(std::move(log));
    return LogSink{[holder](LogLevel level, std::string_view message) {
      py::gil_scoped_acquire gil;
      (*holder)(static_cast<int>(level), py::str(std::string(message)));
    }};
  }
  SnapshotService service_;
  CacheManager manager_;
};

py::dict ValidityDict(const Validity& v) {
  py::dict d;
  d["valid"] = v.valid;
  d["failed"] = std::string(ValidityCheckName(v.failed));
  d["reason"] = v.reason;
  return d;
}

}  // namespace
}  // namespace trackstore::python

using namespace trackstore;
using namespace trackstore::python;

PYBIND11_MODULE(_core, m) {
  m.doc() = "trackstore's compiled core; use the package trackstore.";
  if (!InitTrackTypes(m.ptr()) || !InitConvert()) throw py::error_already_set();
  InitErrors(m);
  m.attr("__version__") = std::string(LibraryVersion().string);
  m.attr("ALL_TRACKS_KEY") = std::string(kAllTracksKey);
  m.attr("DELTA_RESET_ID_COUNT") = kDeltaResetIdCount;
  m.attr("DELTA_RESET_AGE_MICROS") = kDeltaResetAge;
  m.attr("METADATA_FORMAT_VERSION") = kMetadataFormatVersion;

  // Readers.
  py::class_<Reader>(m, "Reader",
                     "What Snapshot, Version and ShmEntry share: a sequence of Tracks.")
      .def("__len__", [](py::handle self) { return ReaderOf(self).Size(); })
      .def(
          "__iter__",
          [](py::handle self) {
            return Steal(NewTrackIterator(self.ptr(), ReaderOf(self).Begin()));
          },
          "Tracks in library order.")
      .def("__getitem__", &TrackAt, py::arg("index"),
           "The track at a position (negative from the end).")
      .def("find", &FindTrack, py::arg("id"), "find(id) -> Track | None: the track with this id.")
      .def("__contains__",
           [](py::handle self, py::handle id) {
             if (!py::isinstance<py::str>(id)) return false;
             return ReaderOf(self).Find(id.cast<std::string_view>()).has_value();
           })
      .def("column", &Column, py::arg("name"),
           "column(name) -> list: one field of every track in library order (str/None, int/None "
           "for original_pos, dicts for 'extras').")
      .def(
          "column_buffers", &ColumnBuffers, py::arg("name"),
          "column_buffers(name) -> dict: read-only memoryviews over the mapping, with no copy.\n\n"
          "A string field gives 'offsets' (uint32, length+1), 'data' (UTF-8 bytes) and 'validity'\n"
          "(a bitmap, least significant bit first, or None for required fields): the layout of an\n"
          "Arrow string array. 'original_pos' gives 'values' (int64) and 'validity'. The views "
          "keep\n"
          "the snapshot alive. Needs the tracks in one file (a Snapshot, a shm entry, or a\n"
          "compacted Version).")
      .def("to_dicts", &ToDicts, "Every track as a plain dict, in library order.")
      .def(
          "verify",
          [](py::handle self) {
            Reader& r = ReaderOf(self);
            TakeWithoutGil([&] { return r.Verify(); });
          },
          "Checks the structure and the content hash of every byte; raises CorruptionError.")
      .def_property_readonly(
          "content_hash", [](py::handle self) { return ReaderOf(self).ContentHash(); },
          "The content hash (32 hex digits).");

  py::class_<SnapshotReader, Reader>(
      m, "Snapshot",
      "An immutable snapshot file, memory-mapped: nothing is parsed or copied.\n\n"
      "Snapshot(path, verify=True) opens it; verify=False checks only the header and the column\n"
      "tables (O(1)), for a file verified before. Tracks are zero-copy views that keep the\n"
      "snapshot alive.")
      .def(py::init([](const std::string& path, bool verify) {
             return new SnapshotReader(TakeWithoutGil(
                 [&] { return verify ? Snapshot::Open(path) : Snapshot::OpenTrusted(path); }));
           }),
           py::arg("path"), py::arg("verify") = true)
      .def_property_readonly(
          "path", [](py::handle s) { return Value<SnapshotReader>(s).snapshot().path(); },
          "The file the snapshot was opened from.")
      .def_property_readonly(
          "file_size", [](py::handle s) { return Value<SnapshotReader>(s).snapshot().file_size(); },
          "The file's size in bytes.")
      .def_property_readonly(
          "format_version",
          [](py::handle s) { return Value<SnapshotReader>(s).snapshot().format_version(); },
          "The snapshot format version of the file.")
      .def("__repr__", [](py::handle s) {
        const Snapshot& snap = Value<SnapshotReader>(s).snapshot();
        return "<trackstore.Snapshot " + snap.path() + ": " + std::to_string(snap.size()) +
               " tracks>";
      });

  py::class_<VersionReader, Reader>(
      m, "Version",
      "One version of a store: its tracks (base and deltas resolved), read zero-copy.")
      .def_property_readonly(
          "number", [](py::handle s) { return Value<VersionReader>(s).version().number(); },
          "The version's number (a new version has a higher number).")
      .def_property_readonly(
          "info",
          [](py::handle s) { return VersionInfoToDict(Value<VersionReader>(s).version().info()); },
          "The manifest entry: number, parent, created, operation, track_count, content_hash, "
          "fragments.")
      .def("delta_state",
           [](py::handle s) -> py::object {
             Result<DeltaState> r = Value<VersionReader>(s).version().ReadDeltaState();
             if (!r.ok() && r.status().IsNotFound()) return py::none();
             return DeltaToDict(Take(std::move(r)));
           })
      .def("__repr__", [](py::handle s) {
        const Version& v = Value<VersionReader>(s).version();
        return "<trackstore.Version " + std::to_string(v.number()) + ": " +
               std::to_string(v.size()) + " tracks>";
      });

  py::class_<ShmEntryReader, Reader>(
      m, "ShmEntry",
      "An entry of a shared-memory cache, read in place: the tracks are views into the segment.")
      .def_property_readonly(
          "key", [](py::handle s) { return std::string(Value<ShmEntryReader>(s).entry().key()); },
          "The entry's key.")
      .def_property_readonly(
          "version", [](py::handle s) { return Value<ShmEntryReader>(s).entry().version(); },
          "The entry's version (bumped by every put of its key).")
      .def_property_readonly(
          "expires_at", [](py::handle s) { return Value<ShmEntryReader>(s).entry().expires_at(); },
          "When the entry expires, in microseconds since the epoch.")
      .def_property_readonly(
          "image_size", [](py::handle s) { return Value<ShmEntryReader>(s).entry().image_size(); },
          "The size of the entry's snapshot image in the segment.");

  // Writers.
  m.def(
      "save_snapshot",
      [](const std::string& path, py::handle tracks, const std::string& duplicates,
         bool drop_empty_ids, bool sync) {
        // Straight into columns: each string is copied once, from where Python
        // keeps it (no TrackRecord in between).
        internal::ColumnSnapshotWriter writer(path, drop_empty_ids);
        if (!AddRecords(tracks, &writer)) throw py::error_already_set();
        WriteOptions o;
        o.duplicates = Duplicates(duplicates);
        o.drop_empty_ids = drop_empty_ids;
        o.sync = sync;
        return WriteResultDict(TakeWithoutGil([&] { return writer.Write(path, o); }));
      },
      py::arg("path"), py::arg("tracks"), py::kw_only(), py::arg("duplicates") = "reject",
      py::arg("drop_empty_ids") = false, py::arg("sync") = true);

  m.def(
      "merge",
      [](const SnapshotReader& base, py::handle updates, const std::string& path, bool sync) {
        WriteOptions o;
        o.sync = sync;
        Merger merger;
        auto merge = [&]() -> MergeStats {
          if (py::isinstance<SnapshotReader>(updates)) {
            const Snapshot& u = updates.cast<const SnapshotReader&>().snapshot();
            return TakeWithoutGil([&] { return merger.Merge(base.snapshot(), u, path, o); });
          }
          std::vector<TrackRecord> records = Records(updates);
          return TakeWithoutGil([&] { return merger.Merge(base.snapshot(), records, path, o); });
        };
        MergeStats s = merge();
        py::dict d = WriteResultDict(s.written);
        d["carried"] = s.carried;
        d["replaced"] = s.replaced;
        d["appended"] = s.appended;
        d["superseded"] = s.superseded;
        return d;
      },
      py::arg("base"), py::arg("updates"), py::arg("path"), py::kw_only(), py::arg("sync") = true);

  m.def(
      "diff",
      [](py::handle a, py::handle b, const std::string& rule) {
        DiffOptions o;
        if (rule == "reference")
          o.rule = ChangeRule::kReference;
        else if (rule != "all")
          throw py::value_error("rule must be 'all' or 'reference'");
        auto snap = [](py::handle h) -> const Snapshot* {
          return py::isinstance<SnapshotReader>(h) ? &h.cast<const SnapshotReader&>().snapshot()
                                                   : nullptr;
        };
        auto version = [](py::handle h) -> const Version* {
          return py::isinstance<VersionReader>(h) ? &h.cast<const VersionReader&>().version()
                                                  : nullptr;
        };
        const Snapshot* sa = snap(a);
        const Snapshot* sb = snap(b);
        const Version* va = version(a);
        const Version* vb = version(b);
        if ((sa == nullptr && va == nullptr) || (sb == nullptr && vb == nullptr))
          throw py::type_error("diff takes Snapshots or Versions");
        return DiffDict(WithoutGil([&] {
          if (sa && sb) return Diff(*sa, *sb, o);
          if (va && vb) return Diff(*va, *vb, o);
          if (sa) return Diff(*sa, *vb, o);
          return Diff(*va, *sb, o);
        }));
      },
      py::arg("a"), py::arg("b"), py::kw_only(), py::arg("rule") = "all");

  m.def(
      "import_json",
      [](const std::string& json_path, const std::string& snapshot_path, bool sync) {
        WriteOptions o;
        o.sync = sync;
        return WriteResultDict(
            TakeWithoutGil([&] { return ImportJsonToSnapshot(json_path, snapshot_path, {}, o); }));
      },
      py::arg("json_path"), py::arg("snapshot_path"), py::kw_only(), py::arg("sync") = true);

  m.def(
      "export_json",
      [](py::handle reader, const std::string& path, int gzip_level, bool sync) {
        JsonExportOptions o;
        o.gzip_level = gzip_level;
        o.sync = sync;
        if (py::isinstance<VersionReader>(reader)) {
          const Version& v = reader.cast<const VersionReader&>().version();
          TakeWithoutGil([&] { return ExportJsonFile(v, path, o); });
        } else {
          const Snapshot* snap = ReaderOf(reader).Single();
          TakeWithoutGil([&] { return ExportJsonFile(*snap, path, o); });
        }
      },
      py::arg("reader"), py::arg("path"), py::kw_only(), py::arg("gzip_level") = 6,
      py::arg("sync") = true);

  m.def(
      "load_json",
      [](const std::string& path) { (void)TakeWithoutGil([&] { return ImportJsonFile(path); }); },
      py::arg("path"), "Checks that a JSON library imports (raises the import's error otherwise).");

  m.def(
      "adopt",
      [](const std::string& reference_dir, const std::string& store_dir, bool overwrite) {
        AdoptOptions o;
        o.overwrite = overwrite;
        AdoptReport a =
            TakeWithoutGil([&] { return AdoptReferenceCache(reference_dir, store_dir, o); });
        py::dict d;
        d["snapshot_file"] = a.snapshot_file;
        d["records_read"] = a.records_read;
        d["tracks_carried"] = a.tracks_carried;
        d["duplicates_dropped"] = a.duplicates_dropped;
        d["empty_ids_dropped"] = a.empty_ids_dropped;
        d["metadata_carried"] = a.metadata_carried;
        d["delta_carried"] = a.delta_carried;
        d["snapshot_hash_check"] = std::string(ReferenceHashCheckName(a.snapshot_hash_check));
        d["computed_snapshot_hash"] = a.computed_snapshot_hash;
        d["version"] = a.version;
        d["content_hash"] = a.content_hash;
        py::list not_carried;
        for (const NotCarried& n : a.not_carried)
          not_carried.append(py::make_tuple(n.item, n.reason));
        d["not_carried"] = not_carried;
        return d;
      },
      py::arg("reference_dir"), py::arg("store_dir"), py::kw_only(), py::arg("overwrite") = false,
      "adopt(reference_dir, store_dir, *, overwrite=False) -> dict\n\n"
      "Reads the reference application's cache directory (its snapshot .json or .json.gz, its\n"
      "metadata and delta-state files) into one new version of the store; the report lists\n"
      "what was carried and, in 'not_carried', each (item, reason) that was not.");

  m.def(
      "export_reference",
      [](const std::string& store_dir, const std::string& reference_dir, bool compress,
         std::optional<uint64_t> version) {
        ExportReferenceOptions o;
        o.compress = compress;
        o.version = version;
        ExportReferenceReport e =
            TakeWithoutGil([&] { return ExportReferenceCache(store_dir, reference_dir, o); });
        py::dict d;
        d["version"] = e.version;
        d["tracks"] = e.tracks;
        d["snapshot_file"] = e.snapshot_file;
        d["metadata_file"] =
            e.metadata_file ? py::object(py::str(*e.metadata_file)) : py::object(py::none());
        d["delta_file"] =
            e.delta_file ? py::object(py::str(*e.delta_file)) : py::object(py::none());
        d["snapshot_hash"] = e.snapshot_hash;
        d["notes"] = e.notes;
        return d;
      },
      py::arg("store_dir"), py::arg("reference_dir"), py::kw_only(), py::arg("compress") = true,
      py::arg("version") = py::none(),
      "export_reference(store_dir, reference_dir, *, compress=True, version=None) -> dict\n\n"
      "Writes a store version as the reference application's cache files, which it reads back.");

  m.def(
      "validate_tracks",
      [](py::handle tracks) -> py::object {
        // The index and reason of the first item that is not a valid track,
        // or None: the all-or-nothing check of cached tracks.
        PyObject* it = PyObject_GetIter(tracks.ptr());
        if (it == nullptr) throw py::error_already_set();
        PyObject* item = nullptr;
        uint64_t i = 0;
        py::object result = py::none();
        KeyCache keys;
        while ((item = PyIter_Next(it)) != nullptr) {
          TrackRecord record;
          std::string reason;
          if (!ToRecord(item, i, &keys, &record)) {
            PyObject *type, *value, *tb;
            PyErr_Fetch(&type, &value, &tb);
            py::object v = py::reinterpret_steal<py::object>(value);
            Py_XDECREF(type);
            Py_XDECREF(tb);
            reason = v ? py::str(v).cast<std::string>() : "not a track";
          } else if (Status s = ValidateTrack(record); !s.ok()) {
            reason = s.message();
          }
          Py_DECREF(item);
          if (!reason.empty()) {
            result = py::make_tuple(i, reason);
            break;
          }
          ++i;
        }
        Py_DECREF(it);
        if (PyErr_Occurred()) throw py::error_already_set();
        return result;
      },
      py::arg("tracks"));

  m.def("version", []() { return std::string(LibraryVersion().string); });

  // The store.
  py::class_<Store>(
      m, "Store",
      "A store directory: versions of the library committed atomically under a writer lock.")
      .def(py::init([](const std::string& dir, bool create, bool sync, py::object clock) {
             StoreOptions o;
             o.create_if_missing = create;
             o.sync = sync;
             o.clock = PythonClock(std::move(clock));
             return new Store(TakeWithoutGil([&] { return Store::Open(dir, o); }));
           }),
           py::arg("directory"), py::kw_only(), py::arg("create") = true, py::arg("sync") = true,
           py::arg("clock") = py::none())
      .def_property_readonly("directory", &Store::directory)
      .def(
          "current",
          [](const Store& s) -> py::object {
            Result<Version> r = WithoutGil([&] { return s.Current(); });
            if (!r.ok() && r.status().IsNotFound()) return py::none();
            return py::cast(new VersionReader(Take(std::move(r))),
                            py::return_value_policy::take_ownership);
          },
          "The current version, or None for an empty store.")
      .def(
          "at",
          [](const Store& s, uint64_t n) {
            return new VersionReader(TakeWithoutGil([&] { return s.At(n); }));
          },
          py::arg("number"))
      .def(
          "log",
          [](const Store& s) {
            py::list out;
            for (const VersionInfo& v : Take(s.Log())) out.append(VersionInfoToDict(v));
            return out;
          },
          "The versions kept, newest first, as dicts.")
      .def(
          "commit",
          [](Store& s, py::handle updates, py::handle removed, const std::string& duplicates) {
            CommitOptions o;
            o.duplicates = Duplicates(duplicates);
            std::vector<std::string> ids = Strings(removed);
            if (py::isinstance<SnapshotReader>(updates)) {
              const Snapshot& u = updates.cast<const SnapshotReader&>().snapshot();
              return CommitStatsDict(TakeWithoutGil([&] { return s.Commit(u, ids, o); }));
            }
            std::vector<TrackRecord> records = Records(updates);
            return CommitStatsDict(TakeWithoutGil([&] { return s.Commit(records, ids, o); }));
          },
          py::arg("updates"), py::arg("removed_ids") = py::none(), py::kw_only(),
          py::arg("duplicates") = "keep_last",
          "Replaces and appends `updates`, removes `removed_ids`: one new version, costing the "
          "delta.")
      .def(
          "replace",
          [](Store& s, py::handle tracks, const std::string& duplicates) {
            CommitOptions o;
            o.duplicates = Duplicates(duplicates);
            if (py::isinstance<SnapshotReader>(tracks)) {
              const Snapshot& u = tracks.cast<const SnapshotReader&>().snapshot();
              return CommitStatsDict(TakeWithoutGil([&] { return s.Replace(u, o); }));
            }
            std::vector<TrackRecord> records = Records(tracks);
            return CommitStatsDict(TakeWithoutGil([&] { return s.Replace(records, o); }));
          },
          py::arg("tracks"), py::kw_only(), py::arg("duplicates") = "reject",
          "A new version holding exactly `tracks`.")
      .def(
          "import_json",
          [](Store& s, const std::string& path) {
            return CommitStatsDict(TakeWithoutGil([&] { return ImportJsonToStore(s, path); }));
          },
          py::arg("json_path"), "A new version holding a JSON library's tracks (streamed).")
      .def(
          "checkout",
          [](Store& s, uint64_t n) {
            return CommitStatsDict(TakeWithoutGil([&] { return s.Checkout(n); }));
          },
          py::arg("number"))
      .def("compact",
           [](Store& s) { return CommitStatsDict(TakeWithoutGil([&] { return s.Compact(); })); })
      .def(
          "collect_garbage",
          [](Store& s, std::optional<uint32_t> keep) {
            GcStats g = TakeWithoutGil([&] { return s.CollectGarbage(keep); });
            py::dict d;
            d["manifests_removed"] = g.manifests_removed;
            d["fragments_removed"] = g.fragments_removed;
            d["states_removed"] = g.states_removed;
            d["temporary_removed"] = g.temporary_removed;
            d["bytes_freed"] = g.bytes_freed;
            return d;
          },
          py::arg("keep") = py::none());

  // The snapshot service and its cache manager (used by trackstore.reference).
  py::class_<Service>(m, "Service")
      .def(py::init([](const std::string& directory, const std::string& library_path, bool enabled,
                       bool delta_enabled, int64_t max_age_micros, py::object clock,
                       py::object log) {
             ServiceOptions o;
             o.directory = directory;
             o.library_path = library_path;
             o.enabled = enabled;
             o.delta_enabled = delta_enabled;
             o.max_age = max_age_micros;
             o.clock = PythonClock(std::move(clock));
             return new Service(std::move(o), std::move(log));
           }),
           py::arg("directory"), py::arg("library_path") = "", py::kw_only(),
           py::arg("enabled") = true, py::arg("delta_enabled") = true,
           py::arg("max_age_micros") = kDefaultMaxAge, py::arg("clock") = py::none(),
           py::arg("log") = py::none())
      .def_property_readonly("enabled", [](Service& s) { return s.service().enabled(); })
      .def_property_readonly("delta_enabled",
                             [](Service& s) { return s.service().delta_enabled(); })
      .def_property_readonly("directory", [](Service& s) { return s.service().directory(); })
      .def_property_readonly("library_path",
                             [](Service& s) { return s.service().options().library_path; })
      .def("now", [](Service& s) { return s.service().Now(); })
      .def("check_validity",
           [](Service& s) {
             return ValidityDict(WithoutGil([&] { return s.service().CheckValidity(); }));
           })
      .def("current",
           [](Service& s) -> py::object {
             // The current version whatever its validity, or None.
             Result<Store*> store = s.service().store();
             if (!store.ok()) return py::none();
             Result<Version> r = WithoutGil([&] { return (*store)->Current(); });
             if (!r.ok()) return py::none();
             return py::cast(new VersionReader(std::move(r).value()),
                             py::return_value_policy::take_ownership);
           })
      .def("load_snapshot",
           [](Service& s) -> py::tuple {
             // (version or None, validity dict): the cache manager's load.
             Validity why;
             std::optional<Version> v = WithoutGil([&] { return s.manager().LoadSnapshot(&why); });
             py::object version = v ? py::cast(new VersionReader(std::move(*v)),
                                               py::return_value_policy::take_ownership)
                                    : py::object(py::none());
             return py::make_tuple(version, ValidityDict(why));
           })
      .def("save_snapshot",
           [](Service& s, py::handle tracks) {
             std::vector<TrackRecord> records = Records(tracks);
             return CommitStatsDict(
                 TakeWithoutGil([&] { return s.service().SaveSnapshot(records); }));
           })
      .def("read_metadata",
           [](Service& s) -> py::object {
             Result<SnapshotMetadata> r = s.service().ReadMetadata();
             if (!r.ok()) return py::none();
             return MetadataToDict(*r);
           })
      .def("write_metadata",
           [](Service& s, const py::dict& d) {
             SnapshotMetadata m = MetadataFromDict(d);
             TakeWithoutGil([&] { return s.service().WriteMetadata(m); });
           })
      .def("library_mtime", [](Service& s) { return Take(s.service().LibraryMtime()); })
      .def("load_delta_state",
           [](Service& s) -> py::object {
             std::optional<DeltaState> d = s.service().LoadDeltaState();
             if (!d) return py::none();
             return DeltaToDict(*d);
           })
      .def("save_delta_state",
           [](Service& s, const py::dict& d) {
             DeltaState state = DeltaFromDict(d);
             TakeWithoutGil([&] { return s.service().SaveDeltaState(std::move(state)); });
           })
      .def(
          "check_force_scan",
          [](Service& s, bool forced) {
            ForceScanDecision d = s.service().CheckForceScan(forced);
            return py::make_tuple(d.due, d.reason);
          },
          py::arg("forced") = false)
      .def("record_force_scan", [](Service& s) { Check(s.service().RecordForceScan()); })
      .def(
          "update_snapshot",
          [](Service& s, py::handle tracks, py::handle processed,
             std::optional<Micros> mtime_override) {
            std::vector<TrackRecord> records = Records(tracks);
            std::vector<std::string> ids = Strings(processed);
            TakeWithoutGil(
                [&] { return s.manager().UpdateSnapshot(records, ids, mtime_override); });
          },
          py::arg("tracks"), py::arg("processed_ids") = py::none(),
          py::arg("library_mtime_override") = py::none())
      .def(
          "commit_delta",
          [](Service& s, py::handle updates, py::handle removed, py::handle processed,
             std::optional<Micros> mtime_override) {
            std::vector<TrackRecord> records = Records(updates);
            std::vector<std::string> removed_ids = Strings(removed);
            std::vector<std::string> ids = Strings(processed);
            TakeWithoutGil(
                [&] { return s.manager().CommitDelta(records, removed_ids, ids, mtime_override); });
          },
          py::arg("updates"), py::arg("removed_ids") = py::none(),
          py::arg("processed_ids") = py::none(), py::arg("library_mtime_override") = py::none());

  m.def("delta_add_processed_ids", [](const py::dict& state, py::handle ids, Micros now) {
    DeltaState s = DeltaFromDict(state);
    s.AddProcessedIds(Strings(ids), now);
    return DeltaToDict(s);
  });
  m.def("delta_is_due_for_reset",
        [](const py::dict& state, Micros now) { return DeltaFromDict(state).IsDueForReset(now); });

  // The shared-memory cache.
  py::class_<ShmCache>(
      m, "ShmCache",
      "A shared-memory cache of track lists, read in place by many processes.\n\n"
      "ShmCache(name) opens (or creates) the segment /dev/shm/<name>; workers open the same\n"
      "name and get() entries without copying them.")
      .def(py::init([](const std::string& name, bool create, uint64_t capacity_bytes,
                       uint64_t max_entries, int64_t default_ttl_seconds, py::object clock) {
             ShmOptions o;
             o.name = name;
             o.create_if_missing = create;
             o.capacity_bytes = capacity_bytes;
             o.max_entries = max_entries;
             o.default_ttl_seconds = default_ttl_seconds;
             o.clock = PythonClock(std::move(clock));
             return new ShmCache(TakeWithoutGil([&] { return ShmCache::Open(o); }));
           }),
           py::arg("name"), py::kw_only(), py::arg("create") = true,
           py::arg("capacity_bytes") = uint64_t{64} << 20, py::arg("max_entries") = 10000,
           py::arg("default_ttl_seconds") = kDefaultTtlSeconds, py::arg("clock") = py::none())
      .def_property_readonly("name", &ShmCache::name)
      .def(
          "get",
          [](ShmCache& c, const std::string& key) -> py::object {
            Result<ShmEntry> r = WithoutGil([&] { return c.Get(key); });
            if (!r.ok() && r.status().IsNotFound()) return py::none();
            return py::cast(new ShmEntryReader(Take(std::move(r))),
                            py::return_value_policy::take_ownership);
          },
          py::arg("key"), "get(key) -> ShmEntry | None (missing or expired).")
      .def(
          "put",
          [](ShmCache& c, const std::string& key, py::handle tracks, std::optional<int64_t> ttl) {
            if (py::isinstance<SnapshotReader>(tracks)) {
              const Snapshot& s = tracks.cast<const SnapshotReader&>().snapshot();
              std::span<const uint8_t> bytes = internal::SnapshotAccess::FileBytes(s);
              return TakeWithoutGil(
                  [&] { return c.PutImage(key, bytes.data(), bytes.size(), ttl); });
            }
            std::vector<TrackRecord> records = Records(tracks);
            return TakeWithoutGil([&] { return c.Put(key, records, ttl); });
          },
          py::arg("key"), py::arg("tracks"), py::arg("ttl_seconds") = py::none(),
          "put(key, tracks or Snapshot, ttl_seconds=None) -> the entry's version.")
      .def("invalidate",
           [](ShmCache& c, const std::string& key) { return Take(c.Invalidate(key)); })
      .def("clear", [](ShmCache& c) { Check(c.Clear()); })
      .def("remove_expired", [](ShmCache& c) { return Take(c.RemoveExpired()); })
      .def("stats",
           [](const ShmCache& c) {
             ShmStats s = c.Stats();
             py::dict d;
             d["entries"] = s.entries;
             d["bytes_used"] = s.bytes_used;
             d["capacity"] = s.capacity;
             d["live_readers"] = s.live_readers;
             d["hits"] = s.hits;
             d["misses"] = s.misses;
             d["evictions"] = s.evictions;
             d["generation"] = s.generation;
             return d;
           })
      .def_static(
          "remove",
          [](const std::string& name) {
            ShmOptions o;
            o.name = name;
            Check(ShmCache::Remove(o));
          },
          py::arg("name"), "Removes the segment of that name.");
}
