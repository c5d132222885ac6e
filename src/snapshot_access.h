// src/snapshot_access.h (internal)
//
// Merge and diff work on a Snapshot's columns directly (byte ranges, the
// hash index); users see only TrackView. This is the one door.
#ifndef TRACKSTORE_SRC_SNAPSHOT_ACCESS_H_
#define TRACKSTORE_SRC_SNAPSHOT_ACCESS_H_

#include "trackstore/snapshot.h"

namespace trackstore::internal {

struct SnapshotAccess {
  static const Columns& Of(const Snapshot& snapshot) { return *snapshot.columns(); }
};

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_SNAPSHOT_ACCESS_H_
