// include/trackstore/merge.h
//
// Merges a delta (new and changed tracks) into an existing snapshot, as
// doc/behaviour.md section 2 says:
//   - existing tracks keep their order; a track whose id is in the updates
//     is replaced whole (a field absent in the update is absent after);
//   - ids not in the existing snapshot are appended, in the order of their
//     first appearance in the updates;
//   - an id that appears several times in the updates takes the content of
//     its last appearance (deliberate: the reference keeps the first for new
//     ids);
//   - no updates gives the same bytes and the same content hash.
//
// The merge is zero-copy: tracks carried over from a snapshot (the base, or
// an updates snapshot) are copied as byte ranges per column, never decoded
// and re-encoded. The result is byte-identical to SnapshotWriter's output
// for the same tracks in the same order.
//
// A Merger keeps its buffers between calls; it is not thread-safe.
#ifndef TRACKSTORE_MERGE_H_
#define TRACKSTORE_MERGE_H_

#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "trackstore/export.h"
#include "trackstore/result.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/track.h"

namespace trackstore {

struct TRACKSTORE_EXPORT MergeStats {
  WriteResult written;      // hash, track count and size of the result
  uint64_t carried = 0;     // existing tracks copied unchanged
  uint64_t replaced = 0;    // existing tracks replaced by an update
  uint64_t appended = 0;    // new ids appended
  uint64_t superseded = 0;  // updates dropped because a later one had the same id
};

class TRACKSTORE_EXPORT Merger {
 public:
  Merger();
  ~Merger();
  Merger(const Merger&) = delete;
  Merger& operator=(const Merger&) = delete;

  // Merges `updates` into `base` and writes the result to `path` atomically
  // (options.sync, options.env and options.validate_utf8 apply; the id
  // policies do not: an update with an empty id is InvalidArgument).
  // `path` may be base's own file: base stays mapped and valid.
  Result<MergeStats> Merge(const Snapshot& base, std::span<const TrackRecord> updates,
                           const std::string& path, const WriteOptions& options = {});
  // The same with the updates read from another snapshot (zero-copy too).
  Result<MergeStats> Merge(const Snapshot& base, const Snapshot& updates, const std::string& path,
                           const WriteOptions& options = {});

  // Merges into `out` (the complete file image) without touching the
  // filesystem.
  Result<MergeStats> Encode(const Snapshot& base, std::span<const TrackRecord> updates,
                            std::string* out, const WriteOptions& options = {});
  Result<MergeStats> Encode(const Snapshot& base, const Snapshot& updates, std::string* out,
                            const WriteOptions& options = {});
  // Without the copy into a string: `view` points into this Merger's
  // buffers until its next call.
  Result<MergeStats> EncodeView(const Snapshot& base, std::span<const TrackRecord> updates,
                                EncodedView* view, const WriteOptions& options = {});

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

}  // namespace trackstore

#endif  // TRACKSTORE_MERGE_H_
