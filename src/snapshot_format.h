// src/snapshot_format.h (internal)
//
// The byte layout of a snapshot file (doc/snapshot_format.md) and the one
// piece of code that lays out a payload. Both the writer (from records) and
// the merge (from byte ranges of other snapshots) fill the same
// PayloadBuilder, which is why equal tracks in equal order always give equal
// bytes and an equal content hash, whichever way they were produced.
#ifndef TRACKSTORE_SRC_SNAPSHOT_FORMAT_H_
#define TRACKSTORE_SRC_SNAPSHOT_FORMAT_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <memory>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trackstore/env.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/status.h"
#include "trackstore/track.h"

struct XXH3_state_s;

namespace trackstore::format {

// Persisted. Do not change existing values.
inline constexpr char kMagic[4] = {'T', 'S', 'N', 'P'};
inline constexpr uint16_t kFormatVersion = 1;
inline constexpr uint32_t kHeaderSize = 64;
inline constexpr char kFileIdentifier[] = "TRK1";  // FlatBuffers file_identifier

// The fixed header at offset 0 (little-endian):
//   0  magic "TSNP"            4  u16 format version     6  u16 header size
//   8  u32 chunk count (1)    12  u32 flags (0)          16  u64 payload offset
//  24  u64 payload length     32  u64 track count        40  u8[16] XXH3-128 of
//  the payload (canonical, big-endian)                   56  u64 XXH3-64 of bytes 0..55
// Magic and version stay at offsets 0 and 4 in every future version, so a
// reader can always tell "not ours" from "ours, other version".
struct Header {
  uint16_t format_version = kFormatVersion;
  uint32_t chunk_count = 1;
  uint64_t payload_offset = kHeaderSize;
  uint64_t payload_size = 0;
  uint64_t track_count = 0;
  std::array<uint8_t, 16> content_hash{};
};

void EncodeHeader(const Header& header, uint8_t out[kHeaderSize]);
// Checks magic, version, header checksum and that the payload lies exactly in
// `file` (Truncated when the file is shorter than the header says).
Status DecodeHeader(std::string_view name, std::span<const uint8_t> file, Header* header);

// XXH3-128 of the payload, canonical byte order.
std::array<uint8_t, 16> HashPayload(std::span<const uint8_t> payload);
std::string HashToHex(const std::array<uint8_t, 16>& hash);

// The hash index: open addressing, power-of-two size, at most half full.
// A slot is 0 when empty, else (HashId(id) >> 32) << 32 | (track index + 1);
// probing is linear from HashId(id) & (size - 1).
uint64_t HashId(std::string_view id);
uint64_t IndexSizeFor(uint64_t track_count);
inline uint64_t IndexSlot(uint64_t id_hash, uint64_t track) {
  return (id_hash & 0xffffffff00000000ULL) | (track + 1);
}

// Column c of the payload: the 15 string fields in Field order, then extras.
inline constexpr int kStringColumnCount = kStringFieldCount + 1;
inline constexpr int kExtrasColumn = kStringFieldCount;
inline bool ColumnHasPresence(int c) { return c >= kRequiredStringFieldCount && c < kExtrasColumn; }
inline uint64_t BitmapBytes(uint64_t count) { return (count + 7) / 8; }

// What a payload will hold, known before any byte is written, so that every
// vector is allocated once and filled in place.
struct PayloadShape {
  uint64_t track_count = 0;
  std::array<uint64_t, kStringColumnCount> column_bytes{};
  // A store's delta fragment: adds the DeltaRows table (targets, removals).
  bool delta = false;
};

// DeltaRows.target of a row appended as a new slot.
inline constexpr uint64_t kAppendTarget = ~uint64_t{0};

// A track's share of a payload beyond its strings, a little above what
// Start allocates: 16 offsets, its bitmap bits, original_pos, its hash and
// up to four index slots. For sizing fragments and checking the 2 GiB limit
// before a payload is built.
inline constexpr uint64_t kPayloadBytesPerTrack = 16 * 4 + 2 + 8 + 8 + 32;
// A record's share of a payload: its strings plus kPayloadBytesPerTrack.
uint64_t PayloadBytesOf(const TrackRecord& track);

// Where to write. Offsets have track_count + 1 entries; offsets[0] is 0.
// Bitmaps arrive zeroed.
struct StringColumnOut {
  uint32_t* offsets = nullptr;
  char* bytes = nullptr;
  uint8_t* present = nullptr;  // null for required fields and extras
};
struct PayloadOut {
  std::array<StringColumnOut, kStringColumnCount> strings;
  int64_t* pos_values = nullptr;
  uint8_t* pos_present = nullptr;
  uint64_t* track_hashes = nullptr;  // one per track, see track_hash.h
  // Delta fragments only (shape.delta): one target per row, and the removal
  // bitmap (zeroed). Both lie after the index.
  uint64_t* delta_targets = nullptr;
  uint8_t* delta_removed = nullptr;
  // The whole payload, laid out in full by Start: only the vectors'
  // elements above are left to fill. In address order: each string column's
  // offsets then bytes (id column first, extras last), the presence bitmaps,
  // pos_present, pos_values, track_hashes, and the id index (filled by
  // Finish) last.
  std::span<const uint8_t> payload;
  const uint64_t* index = nullptr;
};

// Two tracks with the same id, by position in the payload.
struct DuplicateId {
  uint64_t first;
  uint64_t second;
};

// A hash index already built for the first `tracks` tracks of a payload
// (a merge's base): when its size fits, Finish copies it and inserts only the
// tracks after them, which gives the same slots as inserting all in order.
struct IndexPrefix {
  const uint64_t* slots = nullptr;
  uint64_t size = 0;
  uint64_t tracks = 0;
};

class PayloadBuilder {
 public:
  PayloadBuilder();
  ~PayloadBuilder();
  PayloadBuilder(const PayloadBuilder&) = delete;
  PayloadBuilder& operator=(const PayloadBuilder&) = delete;

  // Allocates every vector of a payload of `shape`, uninitialised except for
  // zeroed bitmaps and offsets[0]. NotSupported past the 2 GiB FlatBuffers limit.
  Status Start(const PayloadShape& shape, PayloadOut* out);

  // Moves the payload Start laid out to `place` (out->payload.size() bytes,
  // writable, not overlapping the builder's buffer) and points `out` there:
  // the rest of the build then writes straight into the caller's memory,
  // and Finish returns a span of it. Only the bytes outside the vectors'
  // elements (tables, length prefixes, padding: a few KB) are copied.
  void Relocate(uint8_t* place, PayloadOut* out);

  // Builds the id index from the filled id column and the tables, and returns
  // the finished payload (valid until the next Start). Appends every pair of
  // equal ids to `duplicates`; the payload is then not a valid snapshot.
  std::span<const uint8_t> Finish(std::vector<DuplicateId>* duplicates,
                                  const IndexPrefix& prefix = {});
  // The same with HashId of every track's id given (one per track, computed
  // while the ids were in cache): the slots are then prefetched ahead of
  // the inserts, which are cache misses in an index larger than the cache.
  std::span<const uint8_t> Finish(std::vector<DuplicateId>* duplicates, const IndexPrefix& prefix,
                                  const uint64_t* id_hashes);

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

// Hashes a payload front to back while it is being filled, so that each
// stretch is hashed right after it is written, while it is still in cache
// (a separate pass over a 300 MB payload costs as much again as the copy).
// Bytes before the furthest HashTo must be final by then.
class PayloadHasher {
 public:
  explicit PayloadHasher(std::span<const uint8_t> payload);
  ~PayloadHasher();
  PayloadHasher(const PayloadHasher&) = delete;
  PayloadHasher& operator=(const PayloadHasher&) = delete;

  // Hashes the payload's bytes up to `end` that are not hashed yet.
  void HashTo(const void* end);
  // The same, but only once at least kStride bytes are waiting: cheap to
  // call after every small write.
  void HashAhead(const void* end);
  // Small enough to stay in L2 between the write and the hash.
  static constexpr ptrdiff_t kStride = 64 << 10;
  // Hashes the rest; the result equals HashPayload(payload).
  std::array<uint8_t, 16> Finish();

 private:
  XXH3_state_s* state_;  // xxhash's streaming state, kept out of this header
  const uint8_t* next_;
  const uint8_t* end_;
};

// HashPayload of a payload given as pieces, in order, in two steps split at
// an address `at` inside one of the pieces: the bytes before it, then the
// rest. The bytes before `at` can then be hashed while those after it are
// still being written (the id index, which lies last).
class PiecesHasher {
 public:
  PiecesHasher();
  ~PiecesHasher();
  PiecesHasher(const PiecesHasher&) = delete;
  PiecesHasher& operator=(const PiecesHasher&) = delete;

  // Hashes the pieces' bytes before `at` (all of them when no piece holds
  // `at`).
  void UpdateBefore(std::span<const ConstBytes> pieces, const void* at);
  // Hashes the pieces' bytes from `at` to the end.
  void UpdateFrom(std::span<const ConstBytes> pieces, const void* at);
  std::array<uint8_t, 16> Finish();

 private:
  XXH3_state_s* state_;
};

// A finished payload and its header: what Seal produces and the output
// helpers write.
struct SealedPayload {
  Header header;
  std::span<const uint8_t> payload;
  uint8_t header_bytes[kHeaderSize];  // the encoded header, filled by Seal
  EncodedView View() const { return {{header_bytes, kHeaderSize}, payload}; }
};
// Hashes `payload` and fills the header and `result` (hash, count, size).
SealedPayload Seal(std::span<const uint8_t> payload, uint64_t track_count, WriteResult* result);
// The same, with the payload's hash already computed (PayloadHasher).
SealedPayload Seal(std::span<const uint8_t> payload, uint64_t track_count,
                   const std::array<uint8_t, 16>& content_hash, WriteResult* result);
// The complete file image into `out`.
void CopyToString(const SealedPayload& sealed, std::string* out);
// The file, published atomically (options.env, options.sync).
Status WriteToFile(const SealedPayload& sealed, const std::string& path,
                   const WriteOptions& options);

}  // namespace trackstore::format

#endif  // TRACKSTORE_SRC_SNAPSHOT_FORMAT_H_
