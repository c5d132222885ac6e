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

namespace od = simdjson::ondemand;
using simdjson::SIMDJSON_PADDING;
using simdjson::dom::element;

// A window of this size is parsed while it is still in the cache: stage 1
// of simdjson indexes it, then the records are read from it.
constexpr size_t kWindowBytes = size_t{1} << 20;
// Twice the largest record: a window that holds a whole record and the
// start of the next always has a record boundary to cut at.
constexpr size_t kMaxWindowBytes = 2 * kMaxRecordBytes;
constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

bool IsJsonSpace(char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; }

std::string_view TypeName(od::json_type type) {
  switch (type) {
    case od::json_type::array:
      return "array";
    case od::json_type::object:
      return "object";
    case od::json_type::number:
      return "number";
    case od::json_type::string:
      return "string";
    case od::json_type::boolean:
      return "boolean";
    case od::json_type::null:
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
  switch (e) {
    case simdjson::TAPE_ERROR:
    case simdjson::INCOMPLETE_ARRAY_OR_OBJECT:
    case simdjson::UNCLOSED_STRING:
    case simdjson::INCORRECT_TYPE:
    case simdjson::OUT_OF_BOUNDS:
    case simdjson::EMPTY:
    case simdjson::TRAILING_CONTENT:
      return true;
    default:
      return false;
  }
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
  size_t resume = 1;     // offset of the text after the last of them
  Status error;
  simdjson::error_code code = simdjson::SUCCESS;  // simdjson's, when it found the error
  // The error is in the text (or from the sink), whatever the window's
  // end: parsing again with more text cannot help.
  bool fatal = false;
};

class WindowParser {
 public:
  explicit WindowParser(std::string source) : source_(std::move(source)) {}

  // Parses doc[0, len) (an array of records; capacity bytes readable).
  WindowResult Parse(char* doc, size_t len, size_t capacity, bool final, uint64_t first_index,
                     JsonRecordSink* sink);

 private:
  // A simdjson error at record `index` (or before the first record).
  Status SyntaxError(simdjson::error_code e, uint64_t index, bool in_record) const {
    if (e == simdjson::MEMALLOC || e == simdjson::CAPACITY) {
      return Status::ResourceExhausted(source_, simdjson::error_message(e));
    }
    if (!in_record) return Status::InvalidArgument(source_, simdjson::error_message(e));
    return RecordError(source_, index, simdjson::error_message(e));
  }
  // Reads one record into record_. On a syntax error sets *syntax.
  Status ParseRecord(od::value value, uint64_t index, simdjson::error_code* syntax);
  // A syntax error, or success with *problem set when the value is not one.
  simdjson::error_code ReadOriginalPos(od::value value, std::string* problem);
  Status Canonicalize(std::string* problem);

  std::string source_;
  od::parser parser_;
  simdjson::dom::parser extras_parser_;
  JsonRecord record_;
  std::array<bool, kFieldCount> present_{};
  std::array<std::string, kFieldCount> problem_;  // a later repeat of the key clears it
  std::vector<std::pair<std::string_view, std::string_view>> extras_;  // key, raw JSON
  std::string extras_text_;
  std::string scratch_;
};

simdjson::error_code WindowParser::ReadOriginalPos(od::value value, std::string* problem) {
  constexpr std::string_view kExpected = "expected an integer, a numeric string or null, got ";
  record_.original_pos.reset();
  od::json_type type;
  if (simdjson::error_code e = value.type().get(type)) return e;
  if (type == od::json_type::null) {
    bool null = false;
    if (simdjson::error_code e = value.is_null().get(null)) return e;
    return null ? simdjson::SUCCESS : simdjson::N_ATOM_ERROR;
  }
  if (type == od::json_type::number) {
    int64_t n;
    if (value.get_int64().get(n) == simdjson::SUCCESS) {
      record_.original_pos = n;
      return simdjson::SUCCESS;
    }
    std::string_view raw = value.raw_json_token();
    while (!raw.empty() && IsJsonSpace(raw.back())) raw.remove_suffix(1);
    double d;
    // Not a JSON number at all (1e400, 01): a syntax error.
    if (value.get_double().get(d) != simdjson::SUCCESS) return simdjson::NUMBER_ERROR;
    *problem = std::string(kExpected).append(raw).append(", not an integer in int64 range");
    return simdjson::SUCCESS;
  }
  if (type == od::json_type::string) {
    std::string_view s;
    if (simdjson::error_code e = value.get_string().get(s)) return e;
    // The reference application accepts "7" for 7. Only an optional '-' and
    // ASCII digits: no blanks, no '+', no fraction.
    int64_t n;
    const auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), n);
    if (!s.empty() && ec == std::errc() && end == s.data() + s.size()) {
      record_.original_pos = n;
    } else {
      *problem = std::string(kExpected) + "a string that is not a decimal integer in int64 range";
    }
    return simdjson::SUCCESS;
  }
  *problem = std::string(kExpected).append(TypeName(type));
  return simdjson::SUCCESS;
}

// extras_ into extras_text_, canonical: each raw value is parsed (and so
// validated in full) by the DOM parser.
Status WindowParser::Canonicalize(std::string* problem) {
  extras_text_.clear();
  if (extras_.empty()) return Status::OK();
  std::stable_sort(extras_.begin(), extras_.end(),
                   [](const auto& a, const auto& b) { return a.first < b.first; });
  extras_text_.push_back('{');
  bool first = true;
  for (size_t i = 0; i < extras_.size(); ++i) {
    const auto& [key, raw] = extras_[i];
    if (i + 1 < extras_.size() && extras_[i + 1].first == key) continue;  // a later one wins
    element value;
    if (simdjson::error_code e = extras_parser_.parse(raw.data(), raw.size()).get(value)) {
      if (e == simdjson::MEMALLOC || e == simdjson::CAPACITY) {
        return Status::ResourceExhausted(source_, simdjson::error_message(e));
      }
      *problem = "key '" + std::string(key.substr(0, 64)) + "': " + simdjson::error_message(e);
      return Status::OK();
    }
    if (!first) extras_text_.push_back(',');
    first = false;
    json_text::AppendJsonString(key, &extras_text_);
    extras_text_.push_back(':');
    AppendCanonical(value, &extras_text_);
  }
  extras_text_.push_back('}');
  return Status::OK();
}

Status WindowParser::ParseRecord(od::value value, uint64_t index, simdjson::error_code* syntax) {
  *syntax = simdjson::SUCCESS;
  od::json_type type;
  if ((*syntax = value.type().get(type))) return Status::OK();
  if (type != od::json_type::object) {
    return RecordError(source_, index,
                       std::string("expected an object, got ").append(TypeName(type)));
  }
  od::object object;
  if ((*syntax = value.get_object().get(object))) return Status::OK();

  record_.index = index;
  record_.strings.fill(std::nullopt);
  record_.original_pos.reset();
  present_.fill(false);
  for (std::string& p : problem_) p.clear();
  extras_.clear();
  int expected = 0;  // keys usually come in Field order: try that one first
  for (auto member : object) {
    od::field field;
    if ((*syntax = std::move(member).get(field))) return Status::OK();
    std::string_view key;
    if ((*syntax = field.unescaped_key().get(key))) return Status::OK();
    od::value v = field.value();
    int f = -1;
    if (expected < static_cast<int>(Field::kExtras) &&
        key == FieldName(static_cast<Field>(expected))) {
      f = expected;
    } else if (std::optional<Field> known = FieldFromName(key)) {
      f = static_cast<int>(*known);
    }
    if (f < 0) {
      std::string_view raw;
      if ((*syntax = simdjson::to_json_string(v).get(raw))) return Status::OK();
      extras_.emplace_back(key, raw);
      continue;
    }
    expected = f + 1;
    present_[f] = true;
    problem_[f].clear();  // a repeated key: only its last value counts
    if (f == static_cast<int>(Field::kOriginalPos)) {
      if ((*syntax = ReadOriginalPos(v, &problem_[f]))) return Status::OK();
      continue;
    }
    od::json_type vt;
    if ((*syntax = v.type().get(vt))) return Status::OK();
    const bool required = f < kRequiredStringFieldCount;
    if (vt == od::json_type::string) {
      std::string_view s;
      if ((*syntax = v.get_string().get(s))) return Status::OK();
      record_.strings[f] = s;
    } else if (vt == od::json_type::null && !required) {
      bool null = false;
      if ((*syntax = v.is_null().get(null))) return Status::OK();
      if (!null) {
        *syntax = simdjson::N_ATOM_ERROR;
        return Status::OK();
      }
      record_.strings[f].reset();
    } else {
      record_.strings[f].reset();
      problem_[f] =
          std::string(required ? "expected a string, got " : "expected a string or null, got ")
              .append(TypeName(vt));
    }
  }

  // The record is complete: report its first problem in Field order.
  for (int f = 0; f < kFieldCount - 1; ++f) {
    if (f < kRequiredStringFieldCount && !present_[f]) {
      return RecordError(source_, index, FieldProblem(static_cast<Field>(f), "missing"));
    }
    if (!problem_[f].empty()) {
      return RecordError(source_, index, FieldProblem(static_cast<Field>(f), problem_[f]));
    }
  }
  std::string problem;
  if (Status s = Canonicalize(&problem); !s.ok()) return s;
  if (!problem.empty()) return RecordError(source_, index, "extras: " + problem);
  record_.extras_json = extras_text_;
  return Status::OK();
}

WindowResult WindowParser::Parse(char* doc, size_t len, size_t capacity, bool final,
                                 uint64_t first_index, JsonRecordSink* sink) {
  WindowResult r;
  uint64_t index = first_index;
  od::document document;
  if (simdjson::error_code e = parser_.iterate(doc, len, capacity).get(document)) {
    r.error = SyntaxError(e, index, false);
    r.code = e;
    r.fatal = !CutMayCause(e);
    return r;
  }
  od::array array;
  if (simdjson::error_code e = document.get_array().get(array)) {
    r.error = SyntaxError(e, index, false);
    r.fatal = !CutMayCause(e);
    return r;
  }
  for (auto item : array) {
    od::value value;
    simdjson::error_code e = item.get(value);
    Status s;
    if (!e) s = ParseRecord(value, index, &e);
    if (e) {
      r.error = SyntaxError(e, index, true);
      r.fatal = !CutMayCause(e);
      return r;
    }
    if (s.ok()) s = sink->Add(record_);
    if (!s.ok()) {
      r.error = s;
      r.fatal = true;
      return r;
    }
    ++index;
    ++r.records;
    const char* at = nullptr;
    r.resume = document.current_location().get(at) == simdjson::SUCCESS
                   ? static_cast<size_t>(at - doc)
                   : len;
  }
  const char* trailing = nullptr;
  if (final && document.current_location().get(trailing) == simdjson::SUCCESS) {
    r.error = Status::InvalidArgument(source_, "text after the array of tracks");
    r.fatal = true;
  }
  return r;
}

// --- the input, in windows -----------------------------------------------

// The text being parsed: buf[0, len) is '[' followed by the input from
// `offset` + 1 on (buf[0] stands for the byte before, a ',' or the '[').
class Window {
 public:
  explicit Window(JsonInput* input) : input_(input) {}

  char* data() { return buf_.get(); }
  size_t size() const { return len_; }
  size_t capacity() const { return cap_ + SIMDJSON_PADDING; }
  bool eof() const { return eof_; }
  uint64_t offset() const { return offset_; }

  // Reads until the window holds `target` bytes or the input ends.
  Status Fill(size_t target) {
    if (target > cap_) {
      auto bigger = std::make_unique<char[]>(target + SIMDJSON_PADDING);
      if (len_ > 0) std::memcpy(bigger.get(), buf_.get(), len_);
      buf_ = std::move(bigger);
      cap_ = target;
    }
    while (!eof_ && len_ < target) {
      size_t got = 0;
      if (Status s = input_->Read(buf_.get() + len_, target - len_, &got); !s.ok()) return s;
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

  // The end of the last "}" that a "," follows, or 0 if there is none.
  size_t FindCut() const {
    char next = 0;  // the nearest byte to the right that is not a space
    for (size_t i = len_; i-- > 1;) {
      const char c = buf_[i];
      if (c == '}' && next == ',') return i + 1;
      if (!IsJsonSpace(c)) next = c;
    }
    return 0;
  }

 private:
  JsonInput* input_;
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

Status ReadJsonRecords(JsonInput* input, JsonRecordSink* sink) try {
  const std::string& source = input->name();
  Window w(input);

  // Up to the array's '[': a UTF-8 byte order mark is skipped (RFC 8259
  // section 8.1 allows a parser to ignore one, and Windows editors add it),
  // then blanks.
  bool at_start = true;
  for (;;) {
    if (Status s = w.Fill(kWindowBytes); !s.ok()) return s;
    size_t i = 0;
    if (at_start && std::string_view(w.data(), w.size()).starts_with(kUtf8Bom)) i = kUtf8Bom.size();
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
  size_t target = kWindowBytes;
  for (;;) {
    if (Status s = w.Fill(target); !s.ok()) return s;
    const size_t cut = w.eof() ? w.size() : w.FindCut();
    WindowResult r;
    r.error = Status::InvalidArgument(source, "record " + std::to_string(index) +
                                                  ": no end of the record found within " +
                                                  std::to_string(w.size()) + " bytes");
    if (cut > 0) {
      // The window is parsed as "[" + text + "]", the "]" written over the
      // byte after the cut for the time of the parse.
      char* doc = w.data();
      const char saved = doc[cut];
      if (!w.eof()) doc[cut] = ']';
      const size_t len = w.eof() ? cut : cut + 1;
      r = parser.Parse(doc, len, w.capacity(), w.eof(), index, sink);
      doc[cut] = saved;
      index += r.records;
      if (r.error.ok()) {
        if (w.eof()) return Status::OK();
        w.Carry(cut);
        target = w.size() + kWindowBytes;
        continue;
      }
      if (r.code == simdjson::UTF8_ERROR) return Utf8Error(source, w, cut);
      if (r.fatal || w.eof()) return r.error;
      if (r.records > 0) {
        w.Carry(r.resume);
        target = w.size() + kWindowBytes;
        continue;
      }
    }
    // No record ended in the window: more text, up to the limit.
    if (w.size() >= kMaxWindowBytes) {
      if (cut > 0) return r.error;
      return Status::InvalidArgument(
          source, "record " + std::to_string(index) + ": no end of the record within " +
                      std::to_string(w.size()) + " bytes (a record may hold at most " +
                      std::to_string(kMaxRecordBytes) + " bytes)");
    }
    target = std::min(kMaxWindowBytes, 2 * w.size());
  }
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(input->name(), "out of memory");
}

}  // namespace trackstore::internal
