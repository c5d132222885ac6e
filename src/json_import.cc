// JSON import (include/trackstore/json.h).
//
// Import uses simdjson's DOM parser, which validates the whole document
// (structure, numbers, UTF-8, nesting depth) before any value is read, so the
// checks here only concern the shape of each record. simdjson is used through
// its error-code API; the entry points turn std::bad_alloc into a Status.
#include "trackstore/json.h"

#include <fcntl.h>
#include <simdjson.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <array>
#include <cerrno>
#include <charconv>
#include <cstring>
#include <new>
#include <utility>

#include "file_util.h"
#include "json_text.h"
#include "snapshot_format.h"
#include "trackstore/env.h"

namespace trackstore {

namespace {

using json_text::AppendJsonString;
using json_text::FirstInvalidUtf8;

using simdjson::SIMDJSON_PADDING;
using simdjson::dom::element;
using simdjson::dom::element_type;

constexpr std::string_view kUtf8Bom = "\xEF\xBB\xBF";

std::string_view TypeName(element_type type) {
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

Status RecordError(std::string_view source, size_t record, std::string_view what) {
  std::string detail = "record " + std::to_string(record) + ": ";
  detail.append(what);
  return Status::InvalidArgument(source, detail);
}

Status FieldError(std::string_view source, size_t record, Field field, std::string_view what) {
  std::string detail = "field '";
  detail.append(FieldName(field));
  detail.append("': ");
  detail.append(what);
  return RecordError(source, record, detail);
}

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
    AppendJsonString(key, out);
    out->push_back(':');
    AppendCanonical(value, out);
  }
  out->push_back('}');
}

// The values of one record by field, found in one pass over its keys, and
// its unknown keys in input order. Reused across records.
struct RecordValues {
  std::array<element, kFieldCount> value;
  std::array<bool, kFieldCount> present{};
  std::vector<Extra> extras;
};

Status ParseRecord(element elem, size_t index, std::string_view source, RecordValues* rv,
                   TrackRecord* out) {
  simdjson::dom::object obj;
  if (elem.get(obj) != simdjson::SUCCESS) {
    return RecordError(source, index,
                       std::string("expected an object, got ").append(TypeName(elem.type())));
  }
  rv->present.fill(false);
  rv->extras.clear();
  for (simdjson::dom::key_value_pair kv : obj) {
    if (std::optional<Field> f = FieldFromName(kv.key)) {
      rv->value[static_cast<int>(*f)] = kv.value;  // a repeated key: the last wins
      rv->present[static_cast<int>(*f)] = true;
    } else {
      rv->extras.emplace_back(kv.key, kv.value);
    }
  }

  for (int i = 0; i < kStringFieldCount; ++i) {
    const Field field = static_cast<Field>(i);
    const bool required = i < kRequiredStringFieldCount;
    if (!rv->present[i]) {
      if (required) return FieldError(source, index, field, "missing");
      continue;
    }
    std::string_view s;
    if (rv->value[i].get(s) == simdjson::SUCCESS) {
      out->SetStringField(i, std::string(s));
    } else if (required || !rv->value[i].is_null()) {
      std::string what = required ? "expected a string, got " : "expected a string or null, got ";
      return FieldError(source, index, field, what.append(TypeName(rv->value[i].type())));
    }
  }

  const int pos = static_cast<int>(Field::kOriginalPos);
  if (rv->present[pos]) {
    std::string what = ReadOriginalPos(rv->value[pos], &out->original_pos);
    if (!what.empty()) return FieldError(source, index, Field::kOriginalPos, what);
  }

  if (!rv->extras.empty()) AppendCanonicalObject(&rv->extras, &out->extras_json);
  return Status::OK();
}

// `json` must have SIMDJSON_PADDING readable bytes after its end.
Result<std::vector<TrackRecord>> ParsePadded(simdjson::padded_string_view json,
                                             std::string_view source,
                                             uint64_t max_payload_bytes = 0) {
  // A UTF-8 byte order mark is skipped: RFC 8259 section 8.1 allows a parser
  // to ignore one, and Windows editors add it. simdjson would reject it.
  size_t skipped = 0;
  if (std::string_view(json).starts_with(kUtf8Bom)) {
    skipped = kUtf8Bom.size();
    json = simdjson::padded_string_view(json.data() + skipped, json.size() - skipped,
                                        json.capacity() - skipped);
  }

  simdjson::dom::parser parser;
  element root;
  if (const simdjson::error_code err = parser.parse(json).get(root)) {
    std::string detail = simdjson::error_message(err);
    if (err == simdjson::MEMALLOC || err == simdjson::CAPACITY) {
      return Status::ResourceExhausted(source, detail);
    }
    if (err == simdjson::UTF8_ERROR) {
      detail += " (first invalid byte at offset " +
                std::to_string(skipped + FirstInvalidUtf8(std::string_view(json))) + ")";
    }
    return Status::InvalidArgument(source, detail);
  }
  simdjson::dom::array records;
  if (root.get(records) != simdjson::SUCCESS) {
    return Status::InvalidArgument(
        source, std::string("expected an array of track objects at the top level, got ")
                    .append(TypeName(root.type())));
  }

  std::vector<TrackRecord> tracks;
  tracks.reserve(records.size());  // saturates at 2^24 - 1 in simdjson 3.0: a hint only
  RecordValues values;
  uint64_t payload = 0;
  for (element elem : records) {
    const size_t index = tracks.size();
    Status s = ParseRecord(elem, index, source, &values, &tracks.emplace_back());
    if (!s.ok()) return s;
    payload += format::PayloadBytesOf(tracks.back());
    if (max_payload_bytes != 0 && payload > max_payload_bytes) {
      return Status::NotSupported(
          source, "record " + std::to_string(index) + ": the tracks so far need about " +
                      std::to_string(payload) + " bytes, more than one snapshot file holds (" +
                      std::to_string(max_payload_bytes) +
                      "); a store directory splits a library into fragments");
    }
  }
  return tracks;
}

// Reads all of `path` ("-": standard input) into *buf, followed by
// SIMDJSON_PADDING spare bytes; *len is the number of bytes read. More than
// `limit` bytes is ResourceExhausted, found while reading, so that a FIFO,
// a pipe or /dev/zero never grows the buffer past limit + 1 bytes.
Status ReadWholeFile(const std::string& path, uint64_t limit, std::string* buf, size_t* len) {
  const bool is_stdin = path == "-";
  const int fd = is_stdin ? STDIN_FILENO : ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError(path, errno);
  struct CloseFd {
    int fd;
    bool owned;
    ~CloseFd() {
      if (owned) ::close(fd);
    }
  } close_fd{fd, !is_stdin};
  struct stat st;
  if (::fstat(fd, &st) != 0) return PosixError(path, errno);
  const auto too_large = [&] {
    return Status::ResourceExhausted(
        path, "input is larger than max_input_bytes (" + std::to_string(limit) + " bytes)");
  };
  // The size of a regular file is only a hint (read until EOF, in case it
  // grew), but one above the limit needs no reading to refuse.
  const bool regular = S_ISREG(st.st_mode);
  if (regular && static_cast<uint64_t>(st.st_size) > limit) return too_large();
  const uint64_t max_buffer = std::min<uint64_t>(limit, buf->max_size() / 2) + 1;
  // One byte beyond the hint, so that a file that did not grow needs no
  // second buffer: the read that finds EOF has room.
  uint64_t capacity =
      std::min<uint64_t>(max_buffer, (regular ? static_cast<uint64_t>(st.st_size) : 64 << 10) + 1);
  buf->resize(capacity + SIMDJSON_PADDING);
  size_t n = 0;
  for (;;) {
    if (n == capacity) {
      if (n > limit) return too_large();
      capacity = std::min<uint64_t>(max_buffer, capacity * 2);
      buf->resize(capacity + SIMDJSON_PADDING);
    }
    const ssize_t r = ::read(fd, buf->data() + n, capacity - n);
    if (r < 0) {
      if (errno == EINTR) continue;
      return PosixError(path, errno);
    }
    if (r == 0) break;
    n += static_cast<size_t>(r);
  }
  if (n > limit) return too_large();
  *len = n;
  return Status::OK();
}

// Inflates every member of the gzip data `in` into *out (followed by
// SIMDJSON_PADDING spare bytes); *len is the decompressed size. gzip(1) reads
// concatenated members as one stream (`cat a.gz b.gz`), so do we.
Status Gunzip(std::string_view in, const std::string& path, uint64_t limit, std::string* out,
              size_t* len) {
  z_stream zs{};
  if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
    return Status::ResourceExhausted(path, "zlib: out of memory");
  }
  struct InflateEnd {
    z_stream* zs;
    ~InflateEnd() { inflateEnd(zs); }
  } inflate_end{&zs};

  // zlib counts in 32-bit uInt: feed and drain at most 1 GiB per call. The
  // output may grow to limit + 1 bytes: one byte more proves the limit passed.
  // *out always has SIMDJSON_PADDING bytes beyond `capacity`.
  constexpr size_t kMaxStep = size_t{1} << 30;
  const uint64_t max_buffer = std::min<uint64_t>(limit, out->max_size() / 2) + 1;
  const unsigned char* next_in = reinterpret_cast<const unsigned char*>(in.data());
  size_t in_left = in.size();
  size_t produced = 0;
  // First guess: the last member's trailer holds its size mod 2^32; deflate
  // expands at most 1032-fold. One byte more, so that the end needs no growth.
  uint64_t isize = 0;
  for (size_t i = 1; i <= 4 && in.size() >= 18; ++i) {  // little-endian
    isize = (isize << 8) | static_cast<unsigned char>(in[in.size() - i]);
  }
  const uint64_t guess = std::min<uint64_t>(isize, uint64_t{in.size()} * 1032) + 1;
  uint64_t capacity = std::min<uint64_t>(max_buffer, std::max<uint64_t>(guess, 64 << 10));
  out->resize(capacity + SIMDJSON_PADDING);
  for (;;) {
    if (zs.avail_in == 0 && in_left > 0) {
      zs.next_in = const_cast<unsigned char*>(next_in);
      zs.avail_in = static_cast<uInt>(std::min(in_left, kMaxStep));
      next_in += zs.avail_in;
      in_left -= zs.avail_in;
    }
    if (produced == capacity) {
      capacity = std::min<uint64_t>(max_buffer, capacity * 2);
      out->resize(capacity + SIMDJSON_PADDING);
    }
    zs.next_out = reinterpret_cast<unsigned char*>(out->data() + produced);
    zs.avail_out = static_cast<uInt>(std::min<uint64_t>(capacity - produced, kMaxStep));
    const uInt before = zs.avail_out;
    const int rc = inflate(&zs, Z_NO_FLUSH);
    produced += before - zs.avail_out;
    if (produced > limit) {
      return Status::ResourceExhausted(
          path, "gzip data inflates to more than max_decompressed_bytes (" + std::to_string(limit) +
                    " bytes)");
    }
    const bool input_done = zs.avail_in == 0 && in_left == 0;
    if (rc == Z_STREAM_END) {
      if (input_done) break;
      inflateReset(&zs);  // another member follows
      continue;
    }
    if (rc == Z_MEM_ERROR) return Status::ResourceExhausted(path, "zlib: out of memory");
    if (rc != Z_OK && rc != Z_BUF_ERROR) {
      return Status::InvalidArgument(
          path, std::string("corrupt gzip data: ") + (zs.msg != nullptr ? zs.msg : "zlib error"));
    }
    if (input_done && zs.avail_out > 0) {
      return Status::InvalidArgument(path, "truncated gzip data");
    }
  }
  out->resize(produced + SIMDJSON_PADDING);  // shrinks: no copy
  *len = produced;
  return Status::OK();
}

}  // namespace

// The entry points turn std::bad_alloc, the one exception that can arise
// here (a huge input), into a Status.
Result<std::vector<TrackRecord>> ParseTracksJson(std::string_view json,
                                                 std::string_view source) try {
  const simdjson::padded_string padded(json);  // simdjson reads past the end
  return ParsePadded(padded, source);
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(source, "out of memory");
}

Result<std::vector<TrackRecord>> ImportJsonFile(const std::string& path,
                                                const JsonImportOptions& options) try {
  std::string raw;
  size_t raw_len = 0;
  Status s = ReadWholeFile(path, options.max_input_bytes, &raw, &raw_len);
  if (!s.ok()) return s;
  if (raw_len == 0) return Status::InvalidArgument(path, "empty file");

  // gzip by its magic bytes, not by the name: "tracks.json" may be gzip.
  if (raw_len >= 2 && static_cast<unsigned char>(raw[0]) == 0x1f &&
      static_cast<unsigned char>(raw[1]) == 0x8b) {
    std::string inflated;
    size_t len = 0;
    s = Gunzip(std::string_view(raw.data(), raw_len), path, options.max_decompressed_bytes,
               &inflated, &len);
    if (!s.ok()) return s;
    std::string().swap(raw);  // free the compressed bytes before parsing
    return ParsePadded(simdjson::padded_string_view(inflated.data(), len, inflated.size()), path,
                       options.max_payload_bytes);
  }
  return ParsePadded(simdjson::padded_string_view(raw.data(), raw_len, raw.size()), path,
                     options.max_payload_bytes);
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(path, "out of memory");
}

}  // namespace trackstore
