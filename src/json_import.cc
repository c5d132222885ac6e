// JSON import (include/trackstore/json.h): the streaming record parser
// (json_records.h) with sinks that build TrackRecords, or snapshot columns
// directly (json_columns.cc).
#include <new>
#include <string>
#include <vector>

#include "json_input.h"
#include "json_records.h"
#include "snapshot_format.h"
#include "trackstore/json.h"

namespace trackstore {

namespace {

// Builds a TrackRecord per record; stops with NotSupported once the tracks
// would need a payload larger than `max_payload_bytes` (0: no limit).
class RecordVectorSink : public internal::JsonRecordSink {
 public:
  RecordVectorSink(std::string source, uint64_t max_payload_bytes)
      : source_(std::move(source)), max_payload_(max_payload_bytes) {}

  Status Add(const internal::JsonRecord& r) override {
    TrackRecord& t = tracks_.emplace_back();
    for (int i = 0; i < kStringFieldCount; ++i) {
      if (r.strings[i]) t.SetStringField(i, std::string(*r.strings[i]));
    }
    t.original_pos = r.original_pos;
    t.extras_json = r.extras_json;
    payload_ += format::PayloadBytesOf(t);
    if (max_payload_ != 0 && payload_ > max_payload_) {
      return Status::NotSupported(
          source_, "record " + std::to_string(r.index) + ": the tracks so far need about " +
                       std::to_string(payload_) + " bytes, more than one snapshot file holds (" +
                       std::to_string(max_payload_) +
                       "); a store directory splits a library into fragments");
    }
    return Status::OK();
  }

  std::vector<TrackRecord> Take() { return std::move(tracks_); }

 private:
  std::string source_;
  uint64_t max_payload_;
  uint64_t payload_ = 0;
  std::vector<TrackRecord> tracks_;
};

Result<std::vector<TrackRecord>> ReadRecords(internal::JsonInput* input,
                                             const JsonImportOptions& options) {
  RecordVectorSink sink(input->name(), options.max_payload_bytes);
  internal::JsonWindows windows;
  windows.progress = &options.progress;
  if (Status s = internal::ReadJsonRecords(input, &sink, windows); !s.ok()) return s;
  return sink.Take();
}

}  // namespace

// The entry points turn std::bad_alloc, the one exception that can arise
// here (a huge input), into a Status.
Result<std::vector<TrackRecord>> ParseTracksJson(std::string_view json,
                                                 std::string_view source) try {
  std::unique_ptr<internal::JsonInput> input = internal::JsonInput::FromMemory(json, source);
  return ReadRecords(input.get(), JsonImportOptions());
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(source, "out of memory");
}

Result<std::vector<TrackRecord>> ImportJsonFile(const std::string& path,
                                                const JsonImportOptions& options) try {
  Result<std::unique_ptr<internal::JsonInput>> input =
      internal::JsonInput::Open(path, options, options.env);
  if (!input.ok()) return input.status();
  return ReadRecords(input->get(), options);
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(path, "out of memory");
}

}  // namespace trackstore
