// include/trackstore/json.h
//
// JSON import and export in the reference application's format: a JSON
// array of track objects, plain or gzip-compressed (import detects gzip by
// its magic bytes; export writes it for a name ending in ".gz"). Keys are the field names of
// doc/behaviour.md section 1; unknown keys are kept in TrackRecord::extras_json and written back.
//
// Import reads its input in windows of about 1 MiB (a record may hold at
// most 32 MiB of text), each validated in full by simdjson's DOM parser
// before its records are read, and reports the first problem with the
// record index and field, e.g.
//   "tracks.json: record 17: field 'year': expected a string or null, got number".
// A syntax error carries simdjson's message and the last record read before
// it (simdjson gives no position); invalid UTF-8 gives the offset of the
// first bad byte in the input.
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
//  - Values may nest at most 1024 deep.
#ifndef TRACKSTORE_JSON_H_
#define TRACKSTORE_JSON_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trackstore/export.h"
#include "trackstore/result.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/store.h"
#include "trackstore/track.h"

namespace trackstore {

class Env;  // env.h

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
  // Called as the import goes, after each window of the input is read
  // (about every MiB of text, and once at its end), with the records read
  // and the bytes of text consumed so far (after gzip inflation): for a
  // progress display. It must not throw. Unset (the default), it costs
  // nothing.
  std::function<void(uint64_t records, uint64_t bytes)> progress = nullptr;
  // The Env the input file is read through (standard input is read
  // directly). Null (the default): the Env the output goes to
  // (WriteOptions::env, the store's StoreOptions::env), else Env::Default().
  Env* env = nullptr;
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

// Imports a .json or .json.gz file (as ImportJsonFile: the same rules,
// limits and errors) straight into the snapshot file `snapshot_path`,
// without a TrackRecord per track: each record's values go from the parser
// into the snapshot's columns. Memory holds the output's columns and a
// window of the input of about 1 MiB (more for a record larger than that),
// not the input. The policies of write_options apply (duplicate and empty
// ids; strings are valid UTF-8 by JSON's rules, and a NUL in an id or a name
// is InvalidArgument); errors name records by their index in the input.
// A library too large for one file is NotSupported, naming the record:
// import it into a store. The output is written as SnapshotWriter::Write
// writes it (atomically; write_options.sync).
TRACKSTORE_EXPORT Result<WriteResult> ImportJsonToSnapshot(
    const std::string& json_path, const std::string& snapshot_path,
    const JsonImportOptions& import_options = {}, const WriteOptions& write_options = {});

// The same into a new version of `store` that replaces its library (as
// Store::Replace), holding the store's writer lock while it reads: a base
// fragment is written as soon as its columns reach
// StoreOptions::max_fragment_bytes, so memory holds one fragment's columns.
TRACKSTORE_EXPORT Result<CommitStats> ImportJsonToStore(
    Store& store, const std::string& json_path, const JsonImportOptions& import_options = {},
    const CommitOptions& commit_options = {});

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

// How an export is compressed.
enum class JsonCompression {
  // gzip when the output path ends in ".gz" (lib.json.gz; the suffix is
  // case-sensitive), plain JSON otherwise, "-" (standard output) included.
  kByName,
  kNone,
  kGzip,
};

struct TRACKSTORE_EXPORT JsonExportOptions {
  // Default: by the output's name.
  JsonCompression compression = JsonCompression::kByName;
  // zlib level of gzip output: 0 (stored) to 9, or -1 for zlib's default.
  // Anything else is InvalidArgument before the output is opened. Default:
  // 6, the level of the reference application.
  int gzip_level = 6;
  // The JSON text is produced and written out in pieces of about this many
  // bytes (a piece ends after the track that reaches it), so memory stays
  // near this bound however large the library. Default: 4 MiB.
  size_t buffer_bytes = size_t{4} << 20;
  // The Env the output file is written through; null for Env::Default().
  // Standard output is written directly.
  Env* env = nullptr;
  // fdatasync the output file and fsync its directory (see
  // AtomicOutputFile). Default: true.
  bool sync = true;
  // Called after each piece is written out (about every buffer_bytes of
  // text, and once at the end) with the tracks and the bytes of JSON text
  // written so far (before gzip): for a progress display. It must not
  // throw. Unset (the default), it costs nothing.
  std::function<void(uint64_t tracks, uint64_t bytes)> progress = nullptr;
};

// Writes tracks as a JSON array, one object per line ("[\n{...},\n{...}\n]\n",
// or "[]\n"), streaming: the text is produced piece by piece while the
// tracks are read, and each piece (options.buffer_bytes) is written out
// before the next is made, so memory holds one piece (and, for a Snapshot
// or Version, the pages of its mapping read so far), never the whole text.
// gzip output (options.compression) is deflated in the same pass, a gzip
// member with zlib's header (windowBits 15 + 16) that ImportJsonFile and
// gzip -d read.
//
// The output file is published atomically through AtomicOutputFile
// (env.h), whose rules apply: a failure at any point (a write error, a full
// disk, a track that cannot be written) removes the temporary file and
// leaves `path` as it was. A string that is not valid UTF-8 cannot be read
// back as JSON: it fails with InvalidArgument naming the record and field.
// A store version (layered or not) exports the same text as its tracks
// written as one snapshot. `path` "-" writes to standard output instead
// (not atomic: a failure leaves what was written before it).
TRACKSTORE_EXPORT Status ExportJsonFile(const Snapshot& snapshot, const std::string& path,
                                        const JsonExportOptions& options = {});
TRACKSTORE_EXPORT Status ExportJsonFile(const Version& version, const std::string& path,
                                        const JsonExportOptions& options = {});
TRACKSTORE_EXPORT Status WriteJsonFile(std::span<const TrackRecord> tracks, const std::string& path,
                                       const JsonExportOptions& options = {});

}  // namespace trackstore

#endif  // TRACKSTORE_JSON_H_
