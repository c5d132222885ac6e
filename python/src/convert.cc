// python/src/convert.cc: see convert.h.
#include "convert.h"

#include <string_view>
#include <utility>

#include "json_records.h"
#include "track_object.h"

namespace trackstore::python {
namespace {

PyObject* g_json_dumps = nullptr;     // json.dumps
PyObject* g_dumps_kwargs = nullptr;   // ensure_ascii=False, separators=(",", ":"), allow_nan=False
PyObject* g_model_dump = nullptr;     // "model_dump"
PyObject* g_keys = nullptr;           // "keys"
PyObject* g_field_numbers = nullptr;  // {"id": 0, "name": 1, ...}: a declared field's number

bool Fail(PyObject* type, uint64_t index, std::string_view field, const std::string& what) {
  std::string message = "record " + std::to_string(index);
  if (!field.empty()) message += ": field '" + std::string(field) + "'";
  message += ": " + what;
  PyErr_SetString(type, message.c_str());
  return false;
}

bool Utf8Of(PyObject* value, std::string_view* out) {
  if (PyUnicode_IS_COMPACT_ASCII(value)) {  // most strings: their bytes are the UTF-8
    *out = std::string_view(static_cast<const char*>(PyUnicode_DATA(value)),
                            static_cast<size_t>(PyUnicode_GET_LENGTH(value)));
    return true;
  }
  Py_ssize_t size = 0;
  const char* data = PyUnicode_AsUTF8AndSize(value, &size);  // cached by the str object
  if (data == nullptr) return false;
  *out = std::string_view(data, static_cast<size_t>(size));
  return true;
}

bool SetField(Field field, PyObject* value, uint64_t index, RecordView* view) {
  internal::JsonRecord* out = &view->record;
  const int i = static_cast<int>(field);
  if (i < kStringFieldCount && PyUnicode_Check(value)) {  // the common case first
    std::string_view s;
    if (Utf8Of(value, &s)) {
      out->strings[i] = s;
      view->strs[view->str_count++] = value;
      return true;
    }
    // A lone surrogate cannot be UTF-8.
    PyErr_Clear();
    return Fail(PyExc_ValueError, index, FieldName(field), "not encodable as UTF-8");
  }
  const std::string_view name = FieldName(field);
  if (field == Field::kOriginalPos) {
    if (value == Py_None) {
      out->original_pos.reset();
      return true;
    }
    if (PyLong_Check(value) && !PyBool_Check(value)) {
      int overflow = 0;
      const long long v = PyLong_AsLongLongAndOverflow(value, &overflow);
      if (overflow != 0) return Fail(PyExc_ValueError, index, name, "out of int64 range");
      out->original_pos = v;
      return true;
    }
    if (PyUnicode_Check(value)) {
      // As JSON import: an optional '-' and ASCII digits ("7") are an integer.
      std::string_view s;
      if (!Utf8Of(value, &s)) return false;
      const bool negative = !s.empty() && s[0] == '-';
      const std::string_view digits = negative ? s.substr(1) : s;
      bool ok = !digits.empty() && digits.size() <= 19;
      unsigned long long magnitude = 0;
      for (char c : digits) {
        if (c < '0' || c > '9') ok = false;
        if (ok) magnitude = magnitude * 10 + static_cast<unsigned>(c - '0');
      }
      const unsigned long long limit = negative ? (1ULL << 63) : (1ULL << 63) - 1;
      if (!ok || magnitude > limit)
        return Fail(PyExc_ValueError, index, name, "not an integer: '" + std::string(s) + "'");
      out->original_pos =
          negative ? static_cast<int64_t>(0 - magnitude) : static_cast<int64_t>(magnitude);
      return true;
    }
    return Fail(
        PyExc_TypeError, index, name,
        std::string("expected int, a string of digits or None, got ") + Py_TYPE(value)->tp_name);
  }
  if (value == Py_None) {
    if (i < kRequiredStringFieldCount)
      return Fail(PyExc_TypeError, index, name, "required, got None");
    out->strings[i].reset();
    return true;
  }
  return Fail(PyExc_TypeError, index, name,
              std::string("expected str") + (i < kRequiredStringFieldCount ? "" : " or None") +
                  ", got " + Py_TYPE(value)->tp_name);
}

// The canonical JSON text of the dict `extras` into *text.
bool ExtrasText(PyObject* extras, uint64_t index, std::string* text) {
  PyObject* args = PyTuple_Pack(1, extras);
  PyObject* dumped = args != nullptr ? PyObject_Call(g_json_dumps, args, g_dumps_kwargs) : nullptr;
  Py_XDECREF(args);
  if (dumped == nullptr) {
    // Not JSON: say which record, keep Python's reason.
    PyObject *type, *err, *tb;
    PyErr_Fetch(&type, &err, &tb);
    PyObject* reason = err != nullptr ? PyObject_Str(err) : nullptr;
    const char* r = reason != nullptr ? PyUnicode_AsUTF8(reason) : nullptr;
    std::string why = r != nullptr ? r : "not JSON";
    Py_XDECREF(reason);
    Py_XDECREF(type);
    Py_XDECREF(err);
    Py_XDECREF(tb);
    PyErr_Clear();
    return Fail(PyExc_TypeError, index, "extras", "not JSON-serializable: " + why);
  }
  std::string_view json;
  bool ok = Utf8Of(dumped, &json);
  if (ok) {
    Result<std::string> canonical = internal::CanonicalJsonObject(json);
    if (canonical.ok()) {
      *text = std::move(canonical.value());
    } else {
      ok = Fail(PyExc_ValueError, index, "extras", canonical.status().message());
    }
  }
  Py_DECREF(dumped);
  return ok;
}

bool FromDict(PyObject* dict, uint64_t index, KeyCache* keys, ViewOwner* owner, RecordView* out) {
  internal::JsonRecord& r = out->record;
  bool seen[kFieldCount] = {};
  PyObject* extras = nullptr;  // dict of the unknown keys, made on the first one
  PyObject* key = nullptr;
  PyObject* value = nullptr;
  Py_ssize_t pos = 0;
  Py_ssize_t nth = 0;  // the key's position: PyDict_Next's `pos` may skip deleted slots
  bool ok = true;
  // FieldOf and SetField run no Python code; PyDict_SetItem may (a str
  // subclass's __hash__), and so may serializing the extras.
  while (ok && PyDict_Next(dict, &pos, &key, &value)) {
    const int field = keys->FieldOf(key, nth++);
    if (field >= 0) {
      if (seen[field]) {  // str subclasses equal to one name, with their own hashes
        ok = Fail(PyExc_ValueError, index, FieldName(static_cast<Field>(field)), "given twice");
        break;
      }
      seen[field] = true;
      ok = SetField(static_cast<Field>(field), value, index, out);
      continue;
    }
    if (field == KeyCache::kNotAString) {
      ok = Fail(PyExc_TypeError, index, "",
                std::string("a key is not a str but ") + Py_TYPE(key)->tp_name);
    }
    if (field != KeyCache::kExtra) {
      ok = false;
      break;
    }
    owner->OwnViews();
    if (extras == nullptr && (extras = PyDict_New()) == nullptr) {
      ok = false;
      break;
    }
    Py_INCREF(key);
    Py_INCREF(value);
    ok = PyDict_SetItem(extras, key, value) == 0;
    Py_DECREF(value);
    Py_DECREF(key);
  }
  for (int i = 0; ok && i < kRequiredStringFieldCount; ++i) {
    if (!seen[i]) ok = Fail(PyExc_ValueError, index, FieldName(static_cast<Field>(i)), "missing");
  }
  if (ok && extras != nullptr) {
    ok = ExtrasText(extras, index, &out->extras);
    r.extras_json = out->extras;
  }
  Py_XDECREF(extras);
  return ok;
}

}  // namespace

KeyCache::~KeyCache() {
  for (PyObject* k : keys_) Py_XDECREF(k);
}

int KeyCache::Learn(PyObject* key, Py_ssize_t pos) {
  if (!PyUnicode_Check(key)) return kNotAString;
  int field = kExtra;
  if (PyUnicode_CheckExact(key)) {
    // A dict lookup: the key's hash is cached, and a key that is the
    // interned name matches by identity. No Python code runs for a str.
    PyObject* number = PyDict_GetItemWithError(g_field_numbers, key);
    if (number != nullptr) {
      field = static_cast<int>(PyLong_AsLong(number));
    } else if (PyErr_Occurred()) {
      return kError;
    }
  } else {
    // A str subclass: compared by its characters, never through its own
    // __hash__ or __eq__ (Python code that could change the dict).
    for (int i = 0; i < static_cast<int>(Field::kExtras); ++i) {
      if (PyUnicode_Compare(key, FieldKey(static_cast<Field>(i))) == 0) {
        field = i;
        break;
      }
    }
    if (PyErr_Occurred()) return kError;
  }
  // Only an exact str is remembered: dropping one later runs no Python code
  // (a str subclass could have a finalizer).
  if (pos < kSlots && PyUnicode_CheckExact(key)) {
    Py_INCREF(key);
    Py_XSETREF(keys_[pos], key);
    fields_[pos] = field;
  }
  return field;
}

bool InitConvert() {
  PyObject* json = PyImport_ImportModule("json");
  if (json == nullptr) return false;
  g_json_dumps = PyObject_GetAttrString(json, "dumps");
  Py_DECREF(json);
  if (g_json_dumps == nullptr) return false;
  g_dumps_kwargs = Py_BuildValue("{s:O,s:(ss),s:O}", "ensure_ascii", Py_False, "separators", ",",
                                 ":", "allow_nan", Py_False);
  g_model_dump = PyUnicode_InternFromString("model_dump");
  g_keys = PyUnicode_InternFromString("keys");
  g_field_numbers = PyDict_New();
  if (g_field_numbers == nullptr) return false;
  for (int i = 0; i < static_cast<int>(Field::kExtras); ++i) {
    PyObject* number = PyLong_FromLong(i);
    const int rc = number != nullptr
                       ? PyDict_SetItem(g_field_numbers, FieldKey(static_cast<Field>(i)), number)
                       : -1;
    Py_XDECREF(number);
    if (rc < 0) return false;
  }
  return g_dumps_kwargs != nullptr && g_model_dump != nullptr && g_keys != nullptr;
}

bool ToRecordView(PyObject* item, uint64_t index, KeyCache* keys, ViewOwner* owner,
                  RecordView* out) {
  out->record = internal::JsonRecord();
  out->record.index = index;
  out->extras.clear();
  out->Release();
  if (const TrackView* view = TrackViewOf(item)) {
    for (int i = 0; i < kStringFieldCount; ++i) out->record.strings[i] = view->string_field(i);
    out->record.original_pos = view->original_pos();
    out->record.extras_json = view->extras_json();
    return true;
  }
  if (PyDict_CheckExact(item)) return FromDict(item, index, keys, owner, out);
  owner->OwnViews();  // model_dump(), keys(), a dict subclass's methods: Python code
  PyObject* dict = nullptr;
  if (PyDict_Check(item)) {
    dict = PyDict_Copy(item);  // a dict subclass: its entries, as they are now
  } else if (PyObject_HasAttr(item, g_model_dump)) {
    dict = PyObject_CallMethodNoArgs(item, g_model_dump);
    if (dict != nullptr && !PyDict_Check(dict)) {
      Py_DECREF(dict);
      return Fail(PyExc_TypeError, index, "", "model_dump() did not return a dict");
    }
  } else if (PyObject_HasAttr(item, g_keys)) {
    dict = PyDict_New();
    if (dict != nullptr && PyDict_Merge(dict, item, 1) < 0) Py_CLEAR(dict);
  } else {
    return Fail(
        PyExc_TypeError, index, "",
        std::string("expected a Track, a dict or a mapping, got ") + Py_TYPE(item)->tp_name);
  }
  if (dict == nullptr) return false;
  out->keepalive = dict;  // the views point into its values
  return FromDict(dict, index, keys, owner, out);
}

bool ToRecord(PyObject* item, uint64_t index, KeyCache* keys, TrackRecord* out) {
  if (const TrackView* view = TrackViewOf(item)) {
    *out = view->ToRecord();
    return true;
  }
  // The strings are copied before the next item, but Python code may run
  // within this one (serializing its extras), so its views are owned.
  struct OwnOne final : ViewOwner {
    RecordView* view;
    void OwnViews() override { view->Own(); }
  };
  RecordView v;
  OwnOne owner;
  owner.view = &v;
  if (!ToRecordView(item, index, keys, &owner, &v)) return false;
  *out = TrackRecord();
  for (int i = 0; i < kStringFieldCount; ++i) {
    if (v.record.strings[i]) out->SetStringField(i, std::string(*v.record.strings[i]));
  }
  out->original_pos = v.record.original_pos;
  out->extras_json = std::string(v.record.extras_json);
  return true;
}

bool ToRecords(PyObject* tracks, std::vector<TrackRecord>* out) {
  out->clear();
  KeyCache keys;
  if (PyList_Check(tracks) || PyTuple_Check(tracks)) {
    PyObject* seq = PySequence_Fast(tracks, "");
    const Py_ssize_t n = PySequence_Fast_GET_SIZE(seq);
    out->resize(static_cast<size_t>(n));
    PyObject** items = PySequence_Fast_ITEMS(seq);
    for (Py_ssize_t i = 0; i < n; ++i) {
      if (!ToRecord(items[i], static_cast<uint64_t>(i), &keys, &(*out)[i])) {
        Py_DECREF(seq);
        return false;
      }
    }
    Py_DECREF(seq);
    return true;
  }
  PyObject* it = PyObject_GetIter(tracks);
  if (it == nullptr) return false;
  PyObject* item = nullptr;
  uint64_t index = 0;
  while ((item = PyIter_Next(it)) != nullptr) {
    out->emplace_back();
    const bool ok = ToRecord(item, index++, &keys, &out->back());
    Py_DECREF(item);
    if (!ok) {
      Py_DECREF(it);
      return false;
    }
  }
  Py_DECREF(it);
  return !PyErr_Occurred();
}

bool ToStrings(PyObject* ids, std::vector<std::string>* out) {
  out->clear();
  PyObject* it = PyObject_GetIter(ids);
  if (it == nullptr) return false;
  PyObject* item = nullptr;
  while ((item = PyIter_Next(it)) != nullptr) {
    PyObject* str = PyUnicode_Check(item) ? Py_NewRef(item) : PyObject_Str(item);
    Py_DECREF(item);
    std::string_view s;
    if (str == nullptr || !Utf8Of(str, &s)) {
      Py_XDECREF(str);
      Py_DECREF(it);
      return false;
    }
    out->emplace_back(s);
    Py_DECREF(str);
  }
  Py_DECREF(it);
  return !PyErr_Occurred();
}

}  // namespace trackstore::python
