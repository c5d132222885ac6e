#include "json_records.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cstring>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "json_text.h"

namespace trackstore::internal {

namespace {

using simdjson::SIMDJSON_PADDING;
using simdjson::dom::element;

// Candidate cuts tried in a window before it is made larger.
constexpr int kCutAttempts = 4;
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

bool IsJsonSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string_view TypeName(simdjson::dom::element_type type) {
  using simdjson::dom::element_type;
  switch (type) {
    case element_type::ARRAY:
      return "array";
    case element_type::OBJECT:
      return "object";
    case element_type::INT64:
    case element_type::UINT64:
    case element_type::DOUBLE:
      return "number";
    case element_type::STRING:
      return "string";
    case element_type::BOOL:
      return "boolean";
    case element_type::NULL_VALUE:
      return "null";
  }
  return "unknown";
}

// The type of the JSON text starting with `c`, for "got ..." messages.
std::string_view TypeNameOfFirstByte(char c) {
  switch (c) {
    case '[':
      return "array";
    case '{':
      return "object";
    case '"':
      return "string";
    case 't':
    case 'f':
      return "boolean";
    case 'n':
      return "null";
    default:
      return (c == '-' || (c >= '0' && c <= '9')) ? "number" : "text that is not JSON";
  }
}

// Errors a cut that is not a record boundary can cause: the text ends
// early, or the '}' cut after was inside a string. Any other error is in
// the text itself, wherever the window ends.
bool CutMayCause(simdjson::error_code e) {
  return e == simdjson::TAPE_ERROR || e == simdjson::INCOMPLETE_ARRAY_OR_OBJECT ||
         e == simdjson::UNCLOSED_STRING;
}

Status RecordError(const std::string& source, uint64_t record, std::string_view what) {
  std::string detail = "record " + std::to_string(record) + ": ";
  detail.append(what);
  return Status::InvalidArgument(source, detail);
}

std::string FieldProblem(Field field, std::string_view what) {
  std::string detail = "field '";
  detail.append(FieldName(field));
  detail.append("': ");
  detail.append(what);
  return detail;
}

// --- extras: canonical JSON ----------------------------------------------

using Extra = std::pair<std::string_view, element>;

void AppendCanonicalObject(std::vector<Extra>* members, std::string* out);

// Appends `value` as compact JSON in canonical form: the members of every
// object, however deep, sorted by key. Equal content then gives equal bytes
// (and an equal content hash) whatever the key order of the input.
void AppendCanonical(element value, std::string* out) {
  simdjson::dom::object obj;
  simdjson::dom::array arr;
  if (value.get(obj) == simdjson::SUCCESS) {
    std::vector<Extra> members;
    for (simdjson::dom::key_value_pair kv : obj) members.emplace_back(kv.key, kv.value);
    AppendCanonicalObject(&members, out);
  } else if (value.get(arr) == simdjson::SUCCESS) {
    out->push_back('[');
    bool first = true;
    for (element e : arr) {
      if (!first) out->push_back(',');
      first = false;
      AppendCanonical(e, out);
    }
    out->push_back(']');
  } else {
    out->append(simdjson::minify(value));
  }
}

// Appends the object of `members` (reordered here) with its keys sorted
// byte-wise, which is code point order for UTF-8. A key that occurs more
// than once keeps its last value, as Python's json module (and so the
// reference application) does.
void AppendCanonicalObject(std::vector<Extra>* members, std::string* out) {
  std::stable_sort(members->begin(), members->end(),
                   [](const Extra& a, const Extra& b) { return a.first < b.first; });
  out->push_back('{');
  bool first = true;
  for (size_t i = 0; i < members->size(); ++i) {
    const auto& [key, value] = (*members)[i];
    if (i + 1 < members->size() && (*members)[i + 1].first == key) continue;  // a later one wins
    if (!first) out->push_back(',');
    first = false;
    json_text::AppendJsonString(key, out);
    out->push_back(':');
    AppendCanonical(value, out);
  }
  out->push_back('}');
}

// --- one window ----------------------------------------------------------

struct WindowResult {
  uint64_t records = 0;  // records handed to the sink
  Status error;
  simdjson::error_code code = simdjson::SUCCESS;  // simdjson's, when it found the error
  // The error is in a record (or from the sink), whatever the window's
  // end: parsing again with more text cannot help.
  bool fatal = false;
};

// "" when `v` is a valid original_pos (stored in *out, or left absent for
// null), else what is wrong with it.
std::string ReadOriginalPos(element v, std::optional<int64_t>* out) {
  constexpr std::string_view kExpected = "expected an integer, a numeric string or null, got ";
  int64_t n;
  std::string_view s;
  if (v.is_null()) return {};
  if (v.get(n) == simdjson::SUCCESS) {
    *out = n;
    return {};
  }
  if (v.get(s) == simdjson::SUCCESS) {
    // The reference application accepts "7" for 7. Only an optional '-' and
    // ASCII digits: no blanks, no '+', no fraction.
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (!s.empty() && ec == std::errc() && end == s.data() + s.size()) {
      *out = n;
      return {};
    }
    return std::string(kExpected) + "a string that is not a decimal integer in int64 range";
  }
  if (v.is_number()) {
    return std::string(kExpected) + simdjson::minify(v) + ", not an integer in int64 range";
  }
  return std::string(kExpected).append(TypeName(v.type()));
}

// simdjson's DOM parser, whose kernels are chosen at run time for the CPU
// (the On-Demand API would be compiled for the baseline x86-64 only). It
// validates a whole window (structure, numbers, UTF-8, nesting depth)
// before any record is read, so the checks here concern only the shape of
// each record.
class WindowParser {
 public:
  explicit WindowParser(std::string source) : source_(std::move(source)) {}

  // Parses doc[0, len) (an array of records, SIMDJSON_PADDING readable
  // bytes after it).
  WindowResult Parse(const char* doc, size_t len, uint64_t first_index, JsonRecordSink* sink);

 private:
  // Reads one record into record_.
  Status ParseRecord(element elem, uint64_t index);

  std::string source_;
  simdjson::dom::parser parser_;
  JsonRecord record_;
  std::array<element, kFieldCount> value_;
  std::array<bool, kFieldCount> present_{};
  std::vector<Extra> extras_;
  std::string extras_text_;
};

Status WindowParser::ParseRecord(element elem, uint64_t index) {
  simdjson::dom::object obj;
  if (elem.get(obj) != simdjson::SUCCESS) {
    return RecordError(source_, index,
                       std::string("expected an object, got ").append(TypeName(elem.type())));
  }
  present_.fill(false);
  extras_.clear();
  int expected = 0;  // keys usually come in Field order: try that one first
  for (simdjson::dom::key_value_pair kv : obj) {
    int f = -1;
    if (expected < static_cast<int>(Field::kExtras) &&
        kv.key == FieldName(static_cast<Field>(expected))) {
      f = expected;
    } else if (std::optional<Field> known = FieldFromName(kv.key)) {
      f = static_cast<int>(*known);
    }
    if (f < 0) {
      extras_.emplace_back(kv.key, kv.value);
      continue;
    }
    value_[f] = kv.value;  // a repeated key: the last wins
    present_[f] = true;
    expected = f + 1;
  }

  record_.index = index;
  for (int i = 0; i < kStringFieldCount; ++i) {
    const Field field = static_cast<Field>(i);
    const bool required = i < kRequiredStringFieldCount;
    record_.strings[i].reset();
    if (!present_[i]) {
      if (required) return RecordError(source_, index, FieldProblem(field, "missing"));
      continue;
    }
    std::string_view s;
    if (value_[i].get(s) == simdjson::SUCCESS) {
      record_.strings[i] = s;
    } else if (required || !value_[i].is_null()) {
      std::string what = required ? "expected a string, got " : "expected a string or null, got ";
      return RecordError(source_, index,
                         FieldProblem(field, what.append(TypeName(value_[i].type()))));
    }
  }
  const int pos = static_cast<int>(Field::kOriginalPos);
  record_.original_pos.reset();
  if (present_[pos]) {
    std::string what = ReadOriginalPos(value_[pos], &record_.original_pos);
    if (!what.empty()) return RecordError(source_, index, FieldProblem(Field::kOriginalPos, what));
  }
  extras_text_.clear();
  if (!extras_.empty()) AppendCanonicalObject(&extras_, &extras_text_);
  record_.extras_json = extras_text_;
  return Status::OK();
}

WindowResult WindowParser::Parse(const char* doc, size_t len, uint64_t first_index,
                                 JsonRecordSink* sink) {
  WindowResult r;
  element root;
  if (simdjson::error_code e =
          parser_.parse(reinterpret_cast<const uint8_t*>(doc), len, false).get(root)) {
    r.code = e;
    r.fatal = !CutMayCause(e);
    if (e == simdjson::MEMALLOC || e == simdjson::CAPACITY) {
      r.error = Status::ResourceExhausted(source_, simdjson::error_message(e));
      r.fatal = true;
    } else {
      std::string detail = simdjson::error_message(e);
      if (first_index > 0) detail += " (after record " + std::to_string(first_index - 1) + ")";
      r.error = Status::InvalidArgument(source_, detail);
    }
    return r;
  }
  simdjson::dom::array records;
  if (root.get(records) != simdjson::SUCCESS) {  // only the first window can be another type
    r.error = Status::InvalidArgument(
        source_, std::string("expected an array of track objects at the top level, got ")
                     .append(TypeName(root.type())));
    r.fatal = true;
    return r;
  }
  uint64_t index = first_index;
  for (element elem : records) {
    Status s = ParseRecord(elem, index);
    if (s.ok()) s = sink->Add(record_);
    if (!s.ok()) {
      r.error = s;
      r.fatal = true;
      return r;
    }
    ++index;
    ++r.records;
  }
  return r;
}

// --- the input, in windows -----------------------------------------------

// The text being parsed: buf[0, len) is '[' followed by the input from
// `offset` + 1 on (buf[0] stands for the byte before, a ',' or the '[').
class Window {
 public:
  // Windows of `window_bytes`, growing up to `max_window_bytes`.
  Window(JsonInput* input, size_t window_bytes, size_t max_window_bytes)
      : input_(input), window_bytes_(window_bytes), max_window_bytes_(max_window_bytes) {}

  char* data() { return buf_.get(); }
  size_t size() const { return len_; }
  size_t capacity() const { return cap_ + SIMDJSON_PADDING; }
  bool eof() const { return eof_; }
  uint64_t offset() const { return offset_; }

  // Reads until the window holds `target` bytes or the input ends (each
  // read asks for as much as fits).
  Status Fill(size_t target) {
    if (target > cap_) {
      // A small input needs no more than its size (zero: unknown).
      const size_t hint = input_->size_hint();
      const size_t first = hint > 0 && hint < window_bytes_ ? hint + 1 : window_bytes_;
      const size_t cap = std::max({target, first, std::min(cap_ + cap_ / 2, max_window_bytes_)});
      auto bigger = std::make_unique_for_overwrite<char[]>(cap + SIMDJSON_PADDING);
      if (len_ > 0) std::memcpy(bigger.get(), buf_.get(), len_);
      buf_ = std::move(bigger);
      cap_ = cap;
    }
    while (!eof_ && len_ < target) {
      size_t got = 0;
      if (Status s = input_->Read(buf_.get() + len_, cap_ - len_, &got); !s.ok()) return s;
      if (got == 0) eof_ = true;
      len_ += got;
    }
    return Status::OK();
  }

  // Drops buf[0, n) (the input's bytes before the array).
  void Skip(size_t n) {
    std::memmove(buf_.get(), buf_.get() + n, len_ - n);
    len_ -= n;
    offset_ += n;
  }

  // Keeps the text from `pos` on, after a ',' or at the end of the array,
  // as a window of its own: "[" + the records that follow.
  void Carry(size_t pos) {
    size_t q = pos;
    while (q < len_ && IsJsonSpace(buf_[q])) ++q;
    const size_t start = (q < len_ && buf_[q] == ',') ? q : q - 1;
    Skip(start);
    buf_[0] = '[';
  }

  // Whether everything after buf[0] is a blank.
  bool BlanksAfterBracket() const {
    for (size_t i = 1; i < len_; ++i) {
      if (!IsJsonSpace(buf_[i])) return false;
    }
    return true;
  }
  // Drops all but buf[0] (the '[').
  void KeepBracket() {
    offset_ += len_ - 1;
    len_ = 1;
  }

  // The end of the last "}" before `limit` that a "," follows, or 0 if
  // there is none.
  size_t FindCut(size_t limit) const {
    char next = 0;  // the nearest byte to the right that is not a space
    for (size_t i = len_; i-- > 1;) {
      const char c = buf_[i];
      if (c == '}' && next == ',' && i + 1 < limit) return i + 1;
      if (!IsJsonSpace(c)) next = c;
    }
    return 0;
  }

 private:
  JsonInput* input_;
  size_t window_bytes_;
  size_t max_window_bytes_;
  std::unique_ptr<char[]> buf_;
  size_t cap_ = 0;
  size_t len_ = 0;
  uint64_t offset_ = 0;
  bool eof_ = false;
};

// Offset of the first invalid UTF-8 byte in the window, in the input.
Status Utf8Error(const std::string& source, Window& w, size_t len) {
  const size_t at = json_text::FirstInvalidUtf8(std::string_view(w.data(), len));
  return Status::InvalidArgument(source, "invalid UTF-8 (first invalid byte at offset " +
                                             std::to_string(w.offset() + at) + ")");
}

}  // namespace

Status ReadJsonRecords(JsonInput* input, JsonRecordSink* sink, const JsonWindows& windows) try {
  const std::string& source = input->name();
  // A window is parsed while it is still in the cache: stage 1 of simdjson
  // indexes it, then the records are read from it. It grows to twice the
  // largest record, so that it always holds a record boundary to cut at.
  const size_t window_size = std::max<size_t>(windows.window_bytes, 16);
  const size_t max_record = std::max(windows.max_record_bytes, window_size);
  const size_t max_window = 2 * max_record;
  Window w(input, window_size, max_window);

  // Up to the array's '[': a UTF-8 byte order mark is skipped (RFC 8259
  // section 8.1 allows a parser to ignore one, and Windows editors add it),
  // then blanks.
  // Byte by byte as they come: a pipe that sends a few bytes of something
  // else is refused at once, not after a window's worth.
  bool at_start = true;
  for (;;) {
    if (Status s = w.Fill(w.size() + 1); !s.ok()) return s;
    std::string_view text(w.data(), w.size());
    if (at_start && !w.eof() && text.size() < kUtf8Bom.size() && kUtf8Bom.starts_with(text)) {
      continue;  // perhaps a byte order mark: wait for all of it
    }
    size_t i = 0;
    if (at_start && text.starts_with(kUtf8Bom)) i = kUtf8Bom.size();
    at_start = false;
    while (i < w.size() && IsJsonSpace(w.data()[i])) ++i;
    w.Skip(i);
    if (w.size() > 0) break;
    if (w.eof()) {
      return Status::InvalidArgument(
          source, "expected an array of track objects at the top level, got nothing");
    }
  }
  if (w.data()[0] != '[') {
    if (static_cast<unsigned char>(w.data()[0]) >= 0x80 &&
        json_text::FirstInvalidUtf8(std::string_view(w.data(), w.size())) == 0) {
      return Utf8Error(source, w, w.size());
    }
    return Status::InvalidArgument(source,
                                   std::string("expected an array of track objects at the top "
                                               "level, got ")
                                       .append(TypeNameOfFirstByte(w.data()[0])));
  }

  WindowParser parser(source);
  uint64_t index = 0;
  size_t target = window_size;
  for (;;) {
    if (Status s = w.Fill(target); !s.ok()) return s;
    WindowResult r;
    // The last candidate cut first; when it fails as a cut that is not a
    // record boundary would, a few earlier ones before a larger window.
    size_t cut = w.eof() ? w.size() : w.FindCut(w.size());
    int attempts = 0;
    bool parsed = false;
    while (cut > 0) {
      // The window is parsed as "[" + text + "]", the "]" written over the
      // byte after the cut for the time of the parse.
      char* doc = w.data();
      const char saved = doc[cut];
      if (!w.eof()) doc[cut] = ']';
      const size_t len = w.eof() ? cut : cut + 1;
      r = parser.Parse(doc, len, index, sink);
      doc[cut] = saved;
      index += r.records;
      if (r.error.ok()) {
        parsed = true;
        // The bytes before this window, the '[' it starts with, its text.
        if (windows.progress != nullptr && *windows.progress) {
          (*windows.progress)(index, w.offset() + cut);
        }
        break;
      }
      if (r.code == simdjson::UTF8_ERROR) return Utf8Error(source, w, cut);
      if (r.fatal || w.eof()) return r.error;
      if (++attempts == kCutAttempts) break;
      cut = w.FindCut(cut - 1);
    }
    if (parsed) {
      if (w.eof()) return Status::OK();
      w.Carry(cut);
      target = w.size() + window_size;
      continue;
    }
    // Blanks alone are no record: drop them rather than let them fill the
    // window.
    if (cut == 0 && attempts == 0 && w.BlanksAfterBracket()) {
      w.KeepBracket();
      target = window_size;
      continue;
    }
    // A larger window, up to the limit.
    if (w.size() >= max_window) {
      if (attempts > 0) return r.error;
      return Status::InvalidArgument(
          source, "record " + std::to_string(index) + ": no end of the record within " +
                      std::to_string(w.size()) + " bytes (a record may hold at most " +
                      std::to_string(max_record) + " bytes)");
    }
    target = std::min(max_window, 2 * w.size());
  }
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(input->name(), "out of memory");
}

Result<std::string> CanonicalJsonObject(std::string_view json) {
  simdjson::dom::parser parser;
  simdjson::dom::element root;
  if (auto error = parser.parse(json.data(), json.size()).get(root); error != simdjson::SUCCESS) {
    return Status::InvalidArgument("extras", simdjson::error_message(error));
  }
  if (!root.is_object()) return Status::InvalidArgument("extras", "not a JSON object");
  std::string out;
  AppendCanonical(root, &out);
  return out;
}

}  // namespace trackstore::internal
