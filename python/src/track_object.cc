// python/src/track_object.cc: see track_object.h.
#include "track_object.h"

#include <array>
#include <new>
#include <string>
#include <utility>

namespace trackstore::python {
namespace {

// The declared fields in the order the reference application's records
// list them (original_pos before album_artist), which is the key order of
// to_dict() and of JSON export.
constexpr std::array<Field, 16> kDictOrder = {
    Field::kId,           Field::kName,           Field::kArtist,        Field::kAlbum,
    Field::kGenre,        Field::kYear,           Field::kDateAdded,     Field::kLastModified,
    Field::kTrackStatus,  Field::kOriginalArtist, Field::kOriginalAlbum, Field::kYearBeforeMgu,
    Field::kYearSetByMgu, Field::kReleaseYear,    Field::kOriginalPos,   Field::kAlbumArtist,
};

std::array<PyObject*, kFieldCount> g_field_keys{};  // interned, immortal for the process
PyObject* g_json_loads = nullptr;                   // json.loads

PyObject* Utf8(std::string_view s) {
  // Snapshots hold checked UTF-8; a file opened trusted could hold other
  // bytes, which must not raise on every read: they read as U+FFFD.
  return PyUnicode_DecodeUTF8(s.data(), static_cast<Py_ssize_t>(s.size()), "replace");
}

// Extras as a new dict (empty when there are none).
PyObject* ExtrasDict(const TrackView& view) {
  const std::string_view text = view.extras_json();
  if (text.empty()) return PyDict_New();
  PyObject* str = Utf8(text);
  if (str == nullptr) return nullptr;
  PyObject* value = PyObject_CallOneArg(g_json_loads, str);
  Py_DECREF(str);
  if (value != nullptr && !PyDict_Check(value)) {
    Py_DECREF(value);
    PyErr_SetString(PyExc_ValueError, "a track's extras are not a JSON object");
    return nullptr;
  }
  return value;
}

// --- Track ---------------------------------------------------------------

struct TrackObject {
  PyObject_HEAD PyObject* owner;
  TrackView view;
};

PyTypeObject g_track_type{};  // filled in by InitTrackTypes

void TrackDealloc(PyObject* self) {
  auto* t = reinterpret_cast<TrackObject*>(self);
  Py_XDECREF(t->owner);
  Py_TYPE(self)->tp_free(self);
}

PyObject* TrackGetField(PyObject* self, void* closure) {
  const auto field = static_cast<Field>(reinterpret_cast<intptr_t>(closure));
  return FieldValue(reinterpret_cast<TrackObject*>(self)->view, field);
}

PyObject* TrackGetExtras(PyObject* self, void*) {
  return ExtrasDict(reinterpret_cast<TrackObject*>(self)->view);
}

PyObject* TrackGetIndex(PyObject* self, void*) {
  return PyLong_FromUnsignedLongLong(reinterpret_cast<TrackObject*>(self)->view.index());
}

PyObject* TrackGetContentHash(PyObject* self, void*) {
  return PyLong_FromUnsignedLongLong(reinterpret_cast<TrackObject*>(self)->view.content_hash());
}

PyObject* TrackToDictMethod(PyObject* self, PyObject*) {
  return TrackToDict(reinterpret_cast<TrackObject*>(self)->view);
}

// model_dump(**kwargs): the name the reference application's track model
// uses for the same plain dict, so code written for it keeps working.
PyObject* TrackModelDump(PyObject* self, PyObject*, PyObject*) {
  return TrackToDict(reinterpret_cast<TrackObject*>(self)->view);
}

// The value under `key`: a declared field (None when absent), else an
// extra; null without an error set when there is no such key.
PyObject* Lookup(const TrackView& view, PyObject* key) {
  if (!PyUnicode_Check(key)) return nullptr;
  Py_ssize_t size = 0;
  const char* utf8 = PyUnicode_AsUTF8AndSize(key, &size);
  if (utf8 == nullptr) {
    PyErr_Clear();
    return nullptr;
  }
  const std::string_view name(utf8, static_cast<size_t>(size));
  if (std::optional<Field> f = FieldFromName(name)) return FieldValue(view, *f);
  if (view.extras_json().empty()) return nullptr;
  PyObject* extras = ExtrasDict(view);
  if (extras == nullptr) return nullptr;
  PyObject* value = PyDict_GetItemWithError(extras, key);
  Py_XINCREF(value);
  Py_DECREF(extras);
  return value;
}

PyObject* TrackGet(PyObject* self, PyObject* const* args, Py_ssize_t nargs) {
  if (nargs < 1 || nargs > 2) {
    PyErr_SetString(PyExc_TypeError, "get(key, default=None)");
    return nullptr;
  }
  PyObject* value = Lookup(reinterpret_cast<TrackObject*>(self)->view, args[0]);
  if (value != nullptr || PyErr_Occurred()) return value;
  PyObject* fallback = nargs == 2 ? args[1] : Py_None;
  Py_INCREF(fallback);
  return fallback;
}

PyObject* TrackSubscript(PyObject* self, PyObject* key) {
  PyObject* value = Lookup(reinterpret_cast<TrackObject*>(self)->view, key);
  if (value == nullptr && !PyErr_Occurred()) PyErr_SetObject(PyExc_KeyError, key);
  return value;
}

int TrackContains(PyObject* self, PyObject* key) {
  PyObject* value = Lookup(reinterpret_cast<TrackObject*>(self)->view, key);
  if (value == nullptr) return PyErr_Occurred() ? -1 : 0;
  Py_DECREF(value);
  return 1;
}

PyObject* TrackKeys(PyObject* self, PyObject*) {
  PyObject* dict = TrackToDict(reinterpret_cast<TrackObject*>(self)->view);
  if (dict == nullptr) return nullptr;
  PyObject* keys = PyDict_Keys(dict);
  Py_DECREF(dict);
  return keys;
}

// A Track equals another Track or a mapping with the same plain dict.
PyObject* TrackRichCompare(PyObject* self, PyObject* other, int op) {
  if (op != Py_EQ && op != Py_NE) Py_RETURN_NOTIMPLEMENTED;
  PyObject* mine = TrackToDict(reinterpret_cast<TrackObject*>(self)->view);
  if (mine == nullptr) return nullptr;
  PyObject* theirs = nullptr;
  if (const TrackView* v = TrackViewOf(other)) {
    theirs = TrackToDict(*v);
  } else if (PyDict_Check(other)) {
    theirs = Py_NewRef(other);
  } else {
    Py_DECREF(mine);
    Py_RETURN_NOTIMPLEMENTED;
  }
  if (theirs == nullptr) {
    Py_DECREF(mine);
    return nullptr;
  }
  PyObject* result = PyObject_RichCompare(mine, theirs, op);
  Py_DECREF(mine);
  Py_DECREF(theirs);
  return result;
}

PyObject* TrackRepr(PyObject* self) {
  const TrackView& v = reinterpret_cast<TrackObject*>(self)->view;
  PyObject* id = Utf8(v.id());
  PyObject* name = Utf8(v.name());
  PyObject* r = nullptr;
  if (id != nullptr && name != nullptr) r = PyUnicode_FromFormat("Track(id=%R, name=%R)", id, name);
  Py_XDECREF(id);
  Py_XDECREF(name);
  return r;
}

PyObject* TrackReduce(PyObject* self, PyObject*) {
  // A Track pickles as its plain dict: a view cannot cross processes.
  PyObject* dict = TrackToDict(reinterpret_cast<TrackObject*>(self)->view);
  if (dict == nullptr) return nullptr;
  return Py_BuildValue("(O(N))", reinterpret_cast<PyObject*>(&PyDict_Type), dict);
}

PyGetSetDef g_track_getset[20];

PyMethodDef g_track_methods[] = {
    {"to_dict", TrackToDictMethod, METH_NOARGS,
     "to_dict() -> dict\n\nA plain dict: every declared field in the reference order (None where "
     "absent), then the extras."},
    {"model_dump", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(TrackModelDump)),
     METH_VARARGS | METH_KEYWORDS,
     "model_dump(**kwargs) -> dict\n\nThe same as to_dict(); arguments are accepted and ignored."},
    {"get", reinterpret_cast<PyCFunction>(reinterpret_cast<void (*)()>(TrackGet)), METH_FASTCALL,
     "get(key, default=None)\n\nA declared field's value (None when absent), an extra's value, or "
     "default for any other key."},
    {"keys", TrackKeys, METH_NOARGS, "keys() -> list\n\nThe keys of to_dict()."},
    {"__reduce__", TrackReduce, METH_NOARGS, nullptr},
    {nullptr, nullptr, 0, nullptr},
};

PyMappingMethods g_track_mapping = {nullptr, TrackSubscript, nullptr};
PySequenceMethods g_track_sequence = {};

// --- iterator ------------------------------------------------------------

struct TrackIterObject {
  PyObject_HEAD PyObject* owner;
  Cursor* cursor;
};

PyTypeObject g_iter_type{};  // filled in by InitTrackTypes

void IterDealloc(PyObject* self) {
  auto* it = reinterpret_cast<TrackIterObject*>(self);
  delete it->cursor;
  Py_XDECREF(it->owner);
  Py_TYPE(self)->tp_free(self);
}

PyObject* IterNext(PyObject* self) {
  auto* it = reinterpret_cast<TrackIterObject*>(self);
  std::optional<TrackView> view;
  if (it->cursor == nullptr || !(view = it->cursor->Next())) return nullptr;  // StopIteration
  return NewTrack(it->owner, *view);
}

// --- MappedBuffer --------------------------------------------------------

struct MappedBufferObject {
  PyObject_HEAD PyObject* owner;
  const void* data;
  Py_ssize_t size;
  Py_ssize_t itemsize;
  const char* format;
};

PyTypeObject g_buffer_type{};  // filled in by InitTrackTypes

void BufferDealloc(PyObject* self) {
  Py_XDECREF(reinterpret_cast<MappedBufferObject*>(self)->owner);
  Py_TYPE(self)->tp_free(self);
}

int BufferGet(PyObject* self, Py_buffer* view, int flags) {
  auto* b = reinterpret_cast<MappedBufferObject*>(self);
  if ((flags & PyBUF_WRITABLE) == PyBUF_WRITABLE) {
    PyErr_SetString(PyExc_BufferError, "a snapshot's mapping is read-only");
    view->obj = nullptr;
    return -1;
  }
  view->buf = const_cast<void*>(b->data);
  view->obj = Py_NewRef(self);
  view->len = b->size;
  view->readonly = 1;
  view->itemsize = b->itemsize;
  view->format = (flags & PyBUF_FORMAT) ? const_cast<char*>(b->format) : nullptr;
  view->ndim = 1;
  view->shape = nullptr;
  if (flags & PyBUF_ND) {
    // One dimension of size / itemsize items: kept in `internal`.
    view->internal = new Py_ssize_t(b->size / b->itemsize);
    view->shape = static_cast<Py_ssize_t*>(view->internal);
  } else {
    view->internal = nullptr;
  }
  view->strides = (flags & PyBUF_STRIDES) == PyBUF_STRIDES ? &view->itemsize : nullptr;
  view->suboffsets = nullptr;
  return 0;
}

void BufferRelease(PyObject*, Py_buffer* view) { delete static_cast<Py_ssize_t*>(view->internal); }

PyBufferProcs g_buffer_procs = {BufferGet, BufferRelease};

}  // namespace

PyObject* ExtrasToDict(const TrackView& view) { return ExtrasDict(view); }

PyObject* FieldKey(Field field) { return g_field_keys[static_cast<int>(field)]; }

PyObject* FieldValue(const TrackView& view, Field field) {
  if (field == Field::kOriginalPos) {
    std::optional<int64_t> pos = view.original_pos();
    if (!pos) Py_RETURN_NONE;
    return PyLong_FromLongLong(*pos);
  }
  std::optional<std::string_view> s = view.string_field(static_cast<int>(field));
  if (!s) Py_RETURN_NONE;
  return Utf8(*s);
}

PyObject* TrackToDict(const TrackView& view) {
  PyObject* dict = PyDict_New();
  if (dict == nullptr) return nullptr;
  for (Field f : kDictOrder) {
    PyObject* value = FieldValue(view, f);
    if (value == nullptr || PyDict_SetItem(dict, FieldKey(f), value) < 0) {
      Py_XDECREF(value);
      Py_DECREF(dict);
      return nullptr;
    }
    Py_DECREF(value);
  }
  if (!view.extras_json().empty()) {
    PyObject* extras = ExtrasDict(view);
    if (extras == nullptr || PyDict_Update(dict, extras) < 0) {
      Py_XDECREF(extras);
      Py_DECREF(dict);
      return nullptr;
    }
    Py_DECREF(extras);
  }
  return dict;
}

const TrackView* TrackViewOf(PyObject* object) {
  if (Py_TYPE(object) != &g_track_type) return nullptr;
  return &reinterpret_cast<TrackObject*>(object)->view;
}

PyObject* NewTrack(PyObject* owner, const TrackView& view) {
  auto* t = PyObject_New(TrackObject, &g_track_type);
  if (t == nullptr) return nullptr;
  t->owner = Py_NewRef(owner);
  new (&t->view) TrackView(view);
  return reinterpret_cast<PyObject*>(t);
}

PyObject* NewTrackIterator(PyObject* owner, std::unique_ptr<Cursor> cursor) {
  auto* it = PyObject_New(TrackIterObject, &g_iter_type);
  if (it == nullptr) return nullptr;
  it->owner = Py_NewRef(owner);
  it->cursor = cursor.release();
  return reinterpret_cast<PyObject*>(it);
}

PyObject* NewMappedMemoryView(PyObject* owner, const void* data, Py_ssize_t size,
                              const char* format, Py_ssize_t itemsize) {
  auto* b = PyObject_New(MappedBufferObject, &g_buffer_type);
  if (b == nullptr) return nullptr;
  b->owner = Py_NewRef(owner);
  static const char kEmpty = 0;
  b->data = data != nullptr ? data : &kEmpty;
  b->size = size;
  b->itemsize = itemsize;
  b->format = format;
  PyObject* view = PyMemoryView_FromObject(reinterpret_cast<PyObject*>(b));
  Py_DECREF(b);
  return view;
}

bool InitTrackTypes(PyObject* module) {
  for (int i = 0; i < static_cast<int>(Field::kExtras); ++i) {
    const std::string_view name = FieldName(static_cast<Field>(i));
    g_field_keys[i] = PyUnicode_InternFromString(std::string(name).c_str());
    if (g_field_keys[i] == nullptr) return false;
  }
  PyObject* json = PyImport_ImportModule("json");
  if (json == nullptr) return false;
  g_json_loads = PyObject_GetAttrString(json, "loads");
  Py_DECREF(json);
  if (g_json_loads == nullptr) return false;

  int n = 0;
  static const char* kFieldDoc = "A declared field: str, or None when absent (original_pos: int).";
  for (int i = 0; i < static_cast<int>(Field::kExtras); ++i) {
    g_track_getset[n++] = {FieldName(static_cast<Field>(i)).data(), TrackGetField, nullptr,
                           kFieldDoc, reinterpret_cast<void*>(static_cast<intptr_t>(i))};
  }
  g_track_getset[n++] = {"extras", TrackGetExtras, nullptr,
                         "The unknown fields of the record, as a new dict.", nullptr};
  g_track_getset[n++] = {"index", TrackGetIndex, nullptr,
                         "The track's row in its fragment (library order for a snapshot).",
                         nullptr};
  g_track_getset[n++] = {"content_hash", TrackGetContentHash, nullptr,
                         "A 64-bit hash of every field, stored in the file.", nullptr};
  g_track_getset[n] = {nullptr, nullptr, nullptr, nullptr, nullptr};

  g_track_sequence.sq_contains = TrackContains;
  g_track_type.tp_name = "trackstore.Track";
  g_track_type.tp_basicsize = sizeof(TrackObject);
  g_track_type.tp_flags = Py_TPFLAGS_DEFAULT;
  g_track_type.tp_doc =
      "A zero-copy view of one track of a Snapshot, a store Version or a shared-memory entry.\n\n"
      "Fields are read from the mapping on access: t.name, t.genre (None when absent),\n"
      "t.get(key, default), t['year'], t.to_dict(). The view keeps its snapshot alive.";
  g_track_type.tp_dealloc = TrackDealloc;
  g_track_type.tp_getset = g_track_getset;
  g_track_type.tp_methods = g_track_methods;
  g_track_type.tp_as_mapping = &g_track_mapping;
  g_track_type.tp_as_sequence = &g_track_sequence;
  g_track_type.tp_richcompare = TrackRichCompare;
  g_track_type.tp_repr = TrackRepr;
  g_track_type.tp_hash = PyObject_HashNotImplemented;

  g_iter_type.tp_name = "trackstore.TrackIterator";
  g_iter_type.tp_basicsize = sizeof(TrackIterObject);
  g_iter_type.tp_flags = Py_TPFLAGS_DEFAULT;
  g_iter_type.tp_doc = "Iterates a reader's tracks in library order.";
  g_iter_type.tp_dealloc = IterDealloc;
  g_iter_type.tp_iter = PyObject_SelfIter;
  g_iter_type.tp_iternext = IterNext;

  g_buffer_type.tp_name = "trackstore.MappedBuffer";
  g_buffer_type.tp_basicsize = sizeof(MappedBufferObject);
  g_buffer_type.tp_flags = Py_TPFLAGS_DEFAULT;
  g_buffer_type.tp_doc = "A read-only range of a snapshot's mapping (wrap it in memoryview).";
  g_buffer_type.tp_dealloc = BufferDealloc;
  g_buffer_type.tp_as_buffer = &g_buffer_procs;

  for (PyTypeObject* type : {&g_track_type, &g_iter_type, &g_buffer_type}) {
    Py_SET_REFCNT(reinterpret_cast<PyObject*>(type), 1);  // static: never freed
    if (PyType_Ready(type) < 0) return false;
  }
  Py_INCREF(&g_track_type);
  if (PyModule_AddObject(module, "Track", reinterpret_cast<PyObject*>(&g_track_type)) < 0) {
    Py_DECREF(&g_track_type);
    return false;
  }
  return true;
}

}  // namespace trackstore::python
