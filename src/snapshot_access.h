// src/snapshot_access.h (internal)
//
// Merge and diff work on a Snapshot's columns directly (byte ranges, the
// hash index); users see only TrackView. This is the one door.
#ifndef TRACKSTORE_SRC_SNAPSHOT_ACCESS_H_
#define TRACKSTORE_SRC_SNAPSHOT_ACCESS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <span>
#include <string_view>
#include <utility>
#include <vector>

#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore::internal {

struct SnapshotAccess {
  static const Columns& Of(const Snapshot& snapshot) { return *snapshot.columns(); }
  // The view of row `row` of `columns` (TrackView's constructor is private).
  static TrackView View(const Columns* columns, uint64_t row) { return TrackView(columns, row); }
  // The whole file image (header and payload) the snapshot reads.
  static std::span<const uint8_t> FileBytes(const Snapshot& snapshot);

  // Snapshot::FromBuffer(..., verify=true) for bytes whose payload hash the
  // caller computed while writing them (format::PayloadHasher), so that the
  // verification does not read them all again to hash them.
  static Result<Snapshot> FromBufferHashed(const void* data, size_t size, std::string_view name,
                                           const std::array<uint8_t, 16>& payload_hash);
};

// The row whose id is `id` through the hash index of `c`, or kNoRow.
// `hash` is format::HashId(id). Probes at most the index's size, so a
// damaged index (trusted open) cannot loop forever.
inline constexpr uint64_t kNoRow = ~uint64_t{0};
uint64_t FindRow(const Columns& c, std::string_view id, uint64_t hash);
// The slot FindRow starts at: prefetch it when probing several payloads.
inline const uint64_t* HomeSlot(const Columns& c, uint64_t hash) {
  return c.id_index + (hash & (c.id_index_size - 1));
}

// A store's delta fragment to encode: its rows in order, and per row the
// slot it targets (format::kAppendTarget for a new slot) and whether it is
// a removal (non-zero).
struct DeltaRowsIn {
  std::span<const TrackRecord* const> rows;
  std::span<const uint64_t> targets;
  std::span<const uint8_t> removed;
  // Each row's TrackHash when the caller computed it already, else empty.
  std::span<const uint64_t> hashes;
};

struct WriterAccess {
  // Encodes `delta` as a delta fragment; `view` is valid until the writer's
  // next call. Errors: InvalidArgument for invalid UTF-8 or a NUL in an id
  // or name, NotSupported past the 2 GiB limit.
  static Result<WriteResult> EncodeDelta(SnapshotWriter& writer, const DeltaRowsIn& delta,
                                         EncodedView* view);
  // Encodes `tracks` as Encode does (empty ids rejected) but keeps tracks
  // whose id repeats an earlier one instead of applying a policy, which
  // would encode everything a second time: each later occurrence is listed
  // in `repeats` as (first position, later position). The image is then for
  // reading by columns only: its id index holds the first occurrences.
  static Result<WriteResult> EncodeKeepingRepeats(
      SnapshotWriter& writer, std::span<const TrackRecord> tracks, bool validate_utf8,
      std::string* out, std::vector<std::pair<uint64_t, uint64_t>>* repeats);
};

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_SNAPSHOT_ACCESS_H_
