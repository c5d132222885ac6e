// include/trackstore/json.h
//
// JSON import and export in the reference application's format: a JSON
// array of track objects, plain or gzip-compressed (detected by its magic
// bytes, not the file name). Keys are the field names of doc/behaviour.md section 1;
// unknown keys are kept in TrackRecord::extras_json and written back.
//
// Import validates all of the input (simdjson DOM parser) and reports the
// first problem with the record index and field, e.g.
//   "tracks.json: record 17: field 'year': expected a string or null, got number".
// A syntax error carries simdjson's message (it gives no position); invalid
// UTF-8 also gives the offset of the first bad byte.
//
// Import rules beyond doc/behaviour.md section 1:
//  - A leading UTF-8 byte order mark is skipped (RFC 8259 section 8.1 allows
//    it). Any other BOM is invalid UTF-8.
//  - A key repeated within one object keeps its last value, as Python's json
//    module (and so the reference application) does; only that value is
//    type-checked.
//  - original_pos: an integer in int64 range, null, or a string of an
//    optional '-' and ASCII digits in int64 range ("7", "-3", "007"); no
//    blanks, '+' or fraction. 7.0 and 1e30 are not integers.
//  - Unknown keys, "extras" included, go to extras_json as canonical JSON:
//    compact, with the keys of every object (nested ones too) sorted
//    byte-wise, so the key order of the input never changes the content hash
//    ({"x":1,"y":2} and {"y":2,"x":1} give the same track). Keys are
//    re-escaped and numbers rewritten in simdjson's shortest form
//    (1E2 -> 100.0, 2.50 -> 2.5). Export writes them back in that order.
//  - Duplicate or empty ids are not checked here (see SnapshotWriter).
//  - simdjson 3.0 takes documents below 4 GiB, nested at most 1024 deep.
#ifndef TRACKSTORE_JSON_H_
#define TRACKSTORE_JSON_H_

#include <cstdint>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trackstore/export.h"
#include "trackstore/result.h"
#include "trackstore/snapshot.h"
#include "trackstore/track.h"

namespace trackstore {

class Version;  // store.h

struct TRACKSTORE_EXPORT JsonImportOptions {
  // Upper bound on the bytes read from the input (a file, a FIFO, a pipe,
  // standard input). Checked while reading, so that /dev/zero or a FIFO
  // that never ends stops there; memory stays near this bound. Default: 4 GiB.
  uint64_t max_input_bytes = uint64_t{4} << 30;
  // Upper bound on the decompressed size of a .gz input, against
  // decompression bombs; checked while inflating, so a bomb stops at the
  // bound, not after inflating everything. Default: 4 GiB.
  uint64_t max_decompressed_bytes = uint64_t{4} << 30;
  // Stop with NotSupported, naming the record, as soon as the tracks read so
  // far would need a snapshot payload larger than this (an estimate a little
  // above the writer's): for a single-file output, set it to
  // kMaxSnapshotPayloadBytes so that a library too big for one file fails
  // before every record has been turned into a TrackRecord. 0: no limit.
  // Default: 0.
  uint64_t max_payload_bytes = 0;
};

// Parses a JSON array of track objects. `source` names the input in errors.
TRACKSTORE_EXPORT Result<std::vector<TrackRecord>> ParseTracksJson(
    std::string_view json, std::string_view source = "<input>");

// Reads and parses a .json or .json.gz file ("-": standard input). gzip is
// detected by its magic bytes; concatenated gzip members are read as one
// stream (as gzip -d does); bytes after the last member that are not a gzip
// member are an error.
// Errors: NotFound / IOError from the filesystem; InvalidArgument for an
// empty file, corrupt or truncated gzip data, or bad JSON; ResourceExhausted
// when the input is larger than options.max_input_bytes or inflates past
// options.max_decompressed_bytes, or memory runs out. Each names `path`.
TRACKSTORE_EXPORT Result<std::vector<TrackRecord>> ImportJsonFile(
    const std::string& path, const JsonImportOptions& options = {});

// `text` with each byte that is not part of a well-formed UTF-8 sequence
// replaced by U+FFFD: the one policy for text that must become JSON (the
// CLI's --json output, AppendTrackJson of a crafted file's values).
TRACKSTORE_EXPORT std::string ReplaceInvalidUtf8(std::string_view text);

// Appends one track as a compact JSON object (fields in SPEC order, absent
// optional fields omitted, extras last). Strings are written byte for byte
// with '"', '\\' and control characters escaped (\n, \u0001, ...).
// extras_json must be "" or a JSON object text whose keys are not field
// names; its members are copied as they are. Import gives back the same
// TrackRecord for valid UTF-8 strings and canonical extras (those import
// produces); "{}" reads back as "".
TRACKSTORE_EXPORT void AppendTrackJson(const TrackView& track, std::string* out);
TRACKSTORE_EXPORT void AppendTrackJson(const TrackRecord& track, std::string* out);

// Writes tracks as a JSON array, one object per line ("[\n{...},\n{...}\n]\n",
// or "[]\n"), atomically (temporary file, fsync, rename). A string that is
// not valid UTF-8 cannot be read back as JSON: it fails with InvalidArgument
// naming the record and field, and nothing is written. A store version
// (layered or not) exports the same text as its tracks written as one
// snapshot. `path` "-" writes to standard output instead (not atomic: a
// failure may leave part of it). The rules of WriteFileAtomically (env.h)
// apply to the output file.
TRACKSTORE_EXPORT Status ExportJsonFile(const Snapshot& snapshot, const std::string& path);
TRACKSTORE_EXPORT Status ExportJsonFile(const Version& version, const std::string& path);
TRACKSTORE_EXPORT Status WriteJsonFile(std::span<const TrackRecord> tracks,
                                       const std::string& path);

}  // namespace trackstore

#endif  // TRACKSTORE_JSON_H_
