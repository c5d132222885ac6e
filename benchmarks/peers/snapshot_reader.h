// benchmarks/peers/snapshot_reader.h
//
// The Reader over an open trackstore Snapshot, shared by trackstore (the
// snapshot mapped) and the read() peer (the same file read into the heap).
#ifndef TRACKSTORE_BENCHMARKS_PEERS_SNAPSHOT_READER_H_
#define TRACKSTORE_BENCHMARKS_PEERS_SNAPSHOT_READER_H_

#include <memory>

#include "files.h"
#include "store.h"
#include "trackstore/snapshot.h"

namespace trackstore_bench {

// `bytes`, when not empty, holds the image `snap` views (Snapshot::FromBuffer):
// the Reader keeps it alive as long as the Snapshot.
std::unique_ptr<Reader> NewSnapshotReader(trackstore::Snapshot snap, HeapFile bytes = {});

}  // namespace trackstore_bench

#endif  // TRACKSTORE_BENCHMARKS_PEERS_SNAPSHOT_READER_H_
