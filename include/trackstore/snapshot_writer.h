// include/trackstore/snapshot_writer.h
//
// Writes tracks, in the order given, to a snapshot file atomically: a
// temporary file in the same directory, written and fsync'ed, renamed over
// the target, then the directory fsync'ed. A reader sees the old file or the
// new one, never a part; a failed write leaves the old file untouched and no
// temporary file behind.
//
// The same tracks in the same order always give the same bytes and the same
// content hash.
//
// A SnapshotWriter keeps its column buffers between calls, so a process that
// writes snapshots repeatedly does not pay for fresh memory each time. It is
// not thread-safe: use one per thread. An input of 32k tracks or more is
// encoded by two threads, the caller's and one started for the call (the
// bytes do not depend on it).
#ifndef TRACKSTORE_SNAPSHOT_WRITER_H_
#define TRACKSTORE_SNAPSHOT_WRITER_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>

#include "trackstore/export.h"
#include "trackstore/result.h"
#include "trackstore/track.h"

namespace trackstore {

class Env;
namespace internal {
struct WriterAccess;
}

// The largest payload one snapshot file can hold: one FlatBuffers buffer
// (2 GiB - 1). A store (store.h) splits a larger library into fragments.
inline constexpr uint64_t kMaxSnapshotPayloadBytes = (uint64_t{1} << 31) - 1;

// About how many bytes `track` adds to a snapshot's payload: its strings
// and its share of the offsets, bitmaps, hashes and id index, rounded up.
// For checking kMaxSnapshotPayloadBytes before a library is encoded.
TRACKSTORE_EXPORT uint64_t EstimatePayloadBytes(const TrackRecord& track);

// What to do with a track whose id was already seen in the same input.
enum class DuplicatePolicy {
  kReject,     // InvalidArgument naming the ids and positions (default)
  kKeepFirst,  // keep the first occurrence, drop the later ones
  kKeepLast,   // keep the position of the first, the content of the last
};

struct TRACKSTORE_EXPORT WriteOptions {
  // Duplicate ids in the input. Default: reject.
  DuplicatePolicy duplicates = DuplicatePolicy::kReject;
  // Drop tracks whose id is "" instead of failing. Default: false (an empty
  // id is an InvalidArgument naming its positions).
  bool drop_empty_ids = false;
  // fsync the file and its directory before returning. If false, a machine
  // crash (not a process crash) may lose the newest snapshot. Default: true.
  bool sync = true;
  // Check that every string is valid UTF-8 and that ids and names hold no
  // NUL byte; the FlatBuffers Verifier checks neither. Default: true.
  bool validate_utf8 = true;
  // Filesystem access; tests pass a fault-injecting Env. Default: Env::Default().
  Env* env = nullptr;
};

// A complete snapshot file image as two pieces, header then payload, held
// by the SnapshotWriter or Merger that produced it and valid until its next
// call. Lets a caller place the bytes (a file, shared memory) with one copy.
struct TRACKSTORE_EXPORT EncodedView {
  std::span<const uint8_t> header;
  std::span<const uint8_t> payload;
  uint64_t size() const { return header.size() + payload.size(); }
};

struct TRACKSTORE_EXPORT WriteResult {
  std::string content_hash;  // XXH3-128 of the payload, 32 lowercase hex digits
  uint64_t track_count = 0;
  uint64_t file_size = 0;
  uint64_t duplicates_dropped = 0;  // only with a keep policy
  uint64_t empty_ids_dropped = 0;   // only with drop_empty_ids
};

class TRACKSTORE_EXPORT SnapshotWriter {
 public:
  SnapshotWriter();
  ~SnapshotWriter();
  SnapshotWriter(const SnapshotWriter&) = delete;
  SnapshotWriter& operator=(const SnapshotWriter&) = delete;

  // Writes `tracks` to `path` atomically.
  // Errors: InvalidArgument (empty or duplicate ids, invalid UTF-8, NUL in an
  // id or name), NotSupported (payload over the 2 GiB FlatBuffers limit),
  // IOError / ResourceExhausted / NotFound from the filesystem.
  Result<WriteResult> Write(const std::string& path, std::span<const TrackRecord> tracks,
                            const WriteOptions& options = {});

  // Encodes `tracks` into `out` (the complete file image) without touching
  // the filesystem. Same checks and errors as Write; on an error `out` is
  // left empty. The columns are filled straight into `out`'s buffer.
  Result<WriteResult> Encode(std::span<const TrackRecord> tracks, std::string* out,
                             const WriteOptions& options = {});
  // The same without the copy into a string: `view` points into this
  // writer's buffers until its next call.
  Result<WriteResult> EncodeView(std::span<const TrackRecord> tracks, EncodedView* view,
                                 const WriteOptions& options = {});

 private:
  friend struct internal::WriterAccess;
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

// Convenience: a one-off SnapshotWriter.
TRACKSTORE_EXPORT Result<WriteResult> WriteSnapshot(const std::string& path,
                                                    std::span<const TrackRecord> tracks,
                                                    const WriteOptions& options = {});

}  // namespace trackstore

#endif  // TRACKSTORE_SNAPSHOT_WRITER_H_
