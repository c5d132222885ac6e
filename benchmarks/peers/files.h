// benchmarks/peers/files.h
//
// Small file helpers shared by the store adapters and the harness. Errors
// are Status values naming the file (trackstore::PosixError).
#ifndef TRACKSTORE_BENCHMARKS_PEERS_FILES_H_
#define TRACKSTORE_BENCHMARKS_PEERS_FILES_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "trackstore/status.h"

namespace trackstore_bench {

using trackstore::Status;

// A heap buffer aligned to 8 bytes (Snapshot::FromBuffer needs it), left
// uninitialised: read() fills it.
struct HeapFile {
  std::unique_ptr<uint64_t[]> words;
  size_t size = 0;
  const void* data() const { return words.get(); }
};

// Reads all of `path` with read(2) into a fresh buffer of the file's size.
Status ReadFile(const std::string& path, HeapFile* out);

// Removes each file that exists; a missing file is fine.
void RemoveFiles(std::span<const std::string> paths);

// Copies `from` to `to` (replacing it) and fsyncs the copy. The harness
// restores a store with it before a timed merge; the fsync keeps the copy's
// dirty pages out of the merge's own fsync.
Status CopyFile(const std::string& from, const std::string& to);

// The total size of the files that exist among `paths`.
uint64_t FileBytes(std::span<const std::string> paths);

// fsync of the directory holding `path`, making a rename or a new file in
// it durable.
Status SyncParentDir(const std::string& path);

}  // namespace trackstore_bench

#endif  // TRACKSTORE_BENCHMARKS_PEERS_FILES_H_
