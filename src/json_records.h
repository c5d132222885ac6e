// src/json_records.h (internal)
//
// The one JSON parser of track records, streaming: it reads a JSON array of
// track objects from a JsonInput in windows of about a MiB and hands each
// record, checked, to a sink as field values. Nothing is kept between
// records, so memory is the window (and simdjson's index of it) whatever the
// size of the input; the sink decides what to build (TrackRecords, or
// snapshot columns directly).
//
// How a window is cut: the text after the array's '[' is read in pieces;
// a window ends after the last '}' that a ',' follows (the end of a record,
// almost always), and is parsed with simdjson's DOM parser as "[" + window
// + "]" (the text of the window stays where it was read: the "]" is written
// over the byte after the cut while it is parsed). What follows the cut is
// carried into the next window. A cut that was not a record boundary (a '}'
// inside a string or a nested object) fails as a structural error; the
// window is then doubled and parsed again, so only text that still fails
// with a whole record in the window, or at the end of the input, is an
// error. A record may hold at most kMaxRecordBytes of text.
#ifndef TRACKSTORE_SRC_JSON_RECORDS_H_
#define TRACKSTORE_SRC_JSON_RECORDS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <string_view>

#include "json_input.h"
#include "trackstore/result.h"
#include "trackstore/status.h"
#include "trackstore/track.h"

namespace trackstore::internal {

// Larger records are refused (with a message saying so): the window must
// hold a whole record.
inline constexpr size_t kMaxRecordBytes = size_t{32} << 20;

// One record's values, valid only during the sink's call.
struct JsonRecord {
  uint64_t index = 0;  // position in the array
  // String fields in Field order; nullopt: absent or null (required fields
  // are always set).
  std::array<std::optional<std::string_view>, kStringFieldCount> strings;
  std::optional<int64_t> original_pos;
  // Canonical JSON object text of the unknown keys, or "" for none.
  std::string_view extras_json;
};

class JsonRecordSink {
 public:
  virtual ~JsonRecordSink() = default;
  // A non-OK status stops the import and is returned as it is.
  virtual Status Add(const JsonRecord& record) = 0;
};

struct JsonWindows {
  // The text read ahead of the parser. Default: 1 MiB, parsed while it is
  // still in the cache.
  size_t window_bytes = size_t{1} << 20;
  // The longest record. The window grows to twice this, so that it holds a
  // whole record and the start of the next. Default: kMaxRecordBytes.
  size_t max_record_bytes = kMaxRecordBytes;
  // JsonImportOptions::progress, called after each window; may be null or
  // empty.
  const std::function<void(uint64_t records, uint64_t bytes)>* progress = nullptr;
};

// Reads every record of `input` into `sink`, in order. Errors name the
// input, and the record and field where there is one, e.g.
//   "t.json: record 17: field 'year': expected a string or null, got number".
// The records and the success or failure do not depend on `windows` (the
// fuzzer checks that tiny windows give what one window gives).
Status ReadJsonRecords(JsonInput* input, JsonRecordSink* sink, const JsonWindows& windows = {});

// The canonical text (as extras are kept: compact, keys sorted byte-wise at
// every depth, a repeated key keeping its last value) of the JSON object
// `json`, for extras built elsewhere than by import (the Python binding).
// InvalidArgument when `json` is not one JSON object.
Result<std::string> CanonicalJsonObject(std::string_view json);

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_JSON_RECORDS_H_
