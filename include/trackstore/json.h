// include/trackstore/json.h
//
// JSON import and export in the reference application's format: a JSON
// array of track objects, plain or gzip-compressed (detected by its magic
// bytes, not the file name). Keys are the field names of SPEC.md section 1;
// unknown keys are kept in TrackRecord::extras_json and written back.
//
// Import validates all of the input (simdjson DOM parser) and reports the
// first problem with the record index and field, e.g.
//   "tracks.json: record 17: field 'year': expected a string or null, got number".
#ifndef TRACKSTORE_JSON_H_
#define TRACKSTORE_JSON_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trackstore/result.h"
#include "trackstore/snapshot.h"
#include "trackstore/track.h"

namespace trackstore {

struct JsonImportOptions {
  // Upper bound on the decompressed size of a .gz input, against
  // decompression bombs. Default: 4 GiB.
  uint64_t max_decompressed_bytes = uint64_t{4} << 30;
};

// Parses a JSON array of track objects. `source` names the input in errors.
Result<std::vector<TrackRecord>> ParseTracksJson(std::string_view json,
                                                 std::string_view source = "<input>");

// Reads and parses a .json or .json.gz file.
Result<std::vector<TrackRecord>> ImportJsonFile(const std::string& path,
                                                const JsonImportOptions& options = {});

// Appends one track as a compact JSON object (fields in SPEC order, absent
// optional fields omitted, extras last).
void AppendTrackJson(const TrackView& track, std::string* out);
void AppendTrackJson(const TrackRecord& track, std::string* out);

// Writes tracks as a JSON array, one object per line, atomically
// (temporary file, fsync, rename).
Status ExportJsonFile(const Snapshot& snapshot, const std::string& path);
Status WriteJsonFile(std::span<const TrackRecord> tracks, const std::string& path);

}  // namespace trackstore

#endif  // TRACKSTORE_JSON_H_
