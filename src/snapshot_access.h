// src/snapshot_access.h (internal)
//
// Merge and diff work on a Snapshot's columns directly (byte ranges, the
// hash index); users see only TrackView. This is the one door.
#ifndef TRACKSTORE_SRC_SNAPSHOT_ACCESS_H_
#define TRACKSTORE_SRC_SNAPSHOT_ACCESS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "trackstore/snapshot.h"

namespace trackstore::internal {

struct SnapshotAccess {
  static const Columns& Of(const Snapshot& snapshot) { return *snapshot.columns(); }

  // Snapshot::FromBuffer(..., verify=true) for bytes whose payload hash the
  // caller computed while writing them (format::PayloadHasher), so that the
  // verification does not read them all again to hash them.
  static Result<Snapshot> FromBufferHashed(const void* data, size_t size, std::string_view name,
                                           const std::array<uint8_t, 16>& payload_hash);
};

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_SNAPSHOT_ACCESS_H_
