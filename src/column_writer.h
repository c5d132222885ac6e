// src/column_writer.h (internal)
//
// A snapshot written from records given one at a time as field values
// (JsonRecord: string views and an optional integer), which go straight
// into columns with no TrackRecord in between, as JSON import does. The
// Python binding writes lists of dicts through it: their strings are read
// where Python keeps them and copied once, into the columns.
#ifndef TRACKSTORE_SRC_COLUMN_WRITER_H_
#define TRACKSTORE_SRC_COLUMN_WRITER_H_

#include <memory>
#include <string>

#include "json_records.h"
#include "trackstore/result.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore::internal {

class ColumnSnapshotWriter {
 public:
  // `source` names the input in errors; `drop_empty_ids` as WriteOptions.
  ColumnSnapshotWriter(std::string source, bool drop_empty_ids);
  ~ColumnSnapshotWriter();
  ColumnSnapshotWriter(const ColumnSnapshotWriter&) = delete;
  ColumnSnapshotWriter& operator=(const ColumnSnapshotWriter&) = delete;

  // Copies one record (record.index names it in errors). Required strings
  // must be set; the values must be valid UTF-8 and extras canonical JSON
  // (CanonicalJsonObject). InvalidArgument for a NUL in id or name,
  // NotSupported past one file's size.
  Status Add(const JsonRecord& record);

  // Writes the records added as the snapshot file `path`, as
  // SnapshotWriter::Write would (same bytes, same errors for empty and
  // duplicate ids). The writer is then empty.
  Result<WriteResult> Write(const std::string& path, const WriteOptions& options);

 private:
  struct State;
  std::unique_ptr<State> state_;
};

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_COLUMN_WRITER_H_
