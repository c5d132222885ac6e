// src/track_columns.h (internal)
//
// A library's columns built one track at a time, for writers that get
// tracks as field values one by one (the streaming JSON import) and so do
// not know the payload's shape before the last track. Each column lives in
// its own anonymous mapping that grows with mremap(2), which moves pages
// instead of copying them, so a column of hundreds of MiB never exists
// twice. FillPayload then copies every column into its place in the
// payload once, giving each column's memory back as soon as it is copied:
// memory peaks near the output's size plus its largest column.
#ifndef TRACKSTORE_SRC_TRACK_COLUMNS_H_
#define TRACKSTORE_SRC_TRACK_COLUMNS_H_

#include <array>
#include <cstddef>
#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "snapshot_format.h"

namespace trackstore::internal {

// Bytes in an anonymous mapping that grows in place or by remapping.
// Allocation failure throws std::bad_alloc, as the standard containers do.
class GrowBuffer {
 public:
  GrowBuffer() = default;
  ~GrowBuffer() { Release(); }
  GrowBuffer(const GrowBuffer&) = delete;
  GrowBuffer& operator=(const GrowBuffer&) = delete;

  char* data() const { return data_; }
  size_t size() const { return size_; }

  void Append(const void* bytes, size_t n) {
    if (n > cap_ - size_) Grow(size_ + n);
    if (n > 0) __builtin_memcpy(data_ + size_, bytes, n);
    size_ += n;
  }
  // n more bytes, zeroed (fresh mapped pages are).
  void AppendZeros(size_t n) {
    if (n > cap_ - size_) Grow(size_ + n);
    size_ += n;
  }
  // Gives the memory back; the buffer is then empty.
  void Release();

  // Asks for transparent huge pages once the buffer is at least 2 MiB
  // (madvise(MADV_HUGEPAGE)): one page fault per 2 MiB instead of 512. The
  // cost is up to 2 MiB resident beyond the bytes written.
  void UseHugePages() { huge_pages_ = true; }

 private:
  void Grow(size_t need);

  char* data_ = nullptr;
  size_t size_ = 0;
  size_t cap_ = 0;
  bool huge_pages_ = false;
};

class TrackColumns {
 public:
  TrackColumns() = default;
  TrackColumns(const TrackColumns&) = delete;
  TrackColumns& operator=(const TrackColumns&) = delete;

  // Appends one track: `strings` holds kStringFieldCount values in Field
  // order (nullopt: absent; required fields must be set). The caller has
  // checked the values (valid UTF-8; no NUL in id and name).
  void Append(const std::optional<std::string_view>* strings, std::optional<int64_t> original_pos,
              std::string_view extras_json);

  uint64_t size() const { return count_; }
  // The payload these tracks need, a little above what the writer
  // allocates (format::PayloadBytesOf, summed).
  uint64_t payload_bytes() const { return payload_bytes_; }
  // The id of track i (valid until FillPayload).
  std::string_view id(uint64_t i) const;

  // format::HashId of every track's id, in track order: the id index is
  // built from them (PayloadBuilder::Finish), with no second pass over the
  // ids.
  const uint64_t* id_hashes() const { return reinterpret_cast<const uint64_t*>(id_hashes_.data()); }

  // What PayloadBuilder::Start needs.
  format::PayloadShape Shape() const;
  // Copies every column but the ids, which CopyIds (below) put there first,
  // into `out` (from PayloadBuilder::Start(Shape())), releasing each as it
  // goes; the columns are then empty, ready for more tracks.
  void FillPayload(const format::PayloadOut& out);

  // The other way to a payload, with no copy of most columns: CopyIds puts
  // only the id column into `out` (Finish builds the index from it); after
  // Finish, PayloadPieces lists `payload` as pieces in order, each vector's
  // elements read from these columns, the rest (tables, ids, index) from
  // `payload`. Untouched, those vectors' pages of `payload` are never
  // faulted in. The pieces are valid while the columns are (until Clear or
  // FillPayload).
  void CopyIds(const format::PayloadOut& out) const;
  void PayloadPieces(const format::PayloadOut& out, std::span<const uint8_t> payload,
                     std::vector<ConstBytes>* pieces) const;
  // Empties the columns, giving their memory back.
  void Clear();

  // Every column in huge pages (GrowBuffer::UseHugePages): faster to fill,
  // for a writer whose memory is not bounded tightly (the streaming JSON
  // import keeps 4 KiB pages, whose peak memory is a documented bound).
  void UseHugePages();

  // Appends every track of `other` after these (as if appended here one by
  // one) and empties `other`, a column at a time.
  void Absorb(TrackColumns* other);

 private:
  static constexpr int kColumns = format::kStringColumnCount;
  std::array<GrowBuffer, kColumns> bytes_;
  std::array<GrowBuffer, kColumns> ends_;     // uint32 end offset per track
  std::array<GrowBuffer, kColumns> present_;  // bitmaps of the optional columns
  GrowBuffer pos_values_;                     // int64 per track
  GrowBuffer pos_present_;
  GrowBuffer hashes_;     // TrackHash per track
  GrowBuffer id_hashes_;  // HashId per track
  uint64_t count_ = 0;
  uint64_t payload_bytes_ = 0;
};

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_TRACK_COLUMNS_H_
