// src/store/compaction.h (internal)
//
// Compaction writes a version's tracks, in library order, as new base
// fragments. Consecutive tracks that sit in consecutive rows of one
// fragment form a run; each run is copied per column as one byte range, as
// the zero-copy merge does, so no track is decoded.
#ifndef TRACKSTORE_SRC_STORE_COMPACTION_H_
#define TRACKSTORE_SRC_STORE_COMPACTION_H_

#include <cstdint>
#include <functional>

#include "store/version_rep.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/status.h"

namespace trackstore::store {

// Called with each finished fragment image (valid during the call only).
using FragmentSink = std::function<Status(const EncodedView& image, const WriteResult& written)>;

// Encodes the tracks of `version` as base fragments of at most about
// `max_payload_bytes` each and hands each to `sink`, in order.
Status Compact(const Version::Fragments& version, uint64_t max_payload_bytes,
               const FragmentSink& sink);

}  // namespace trackstore::store

#endif  // TRACKSTORE_SRC_STORE_COMPACTION_H_
