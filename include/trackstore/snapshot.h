// include/trackstore/snapshot.h
//
// A Snapshot is a read-only, memory-mapped view of one snapshot file
// (doc/snapshot_format.md). Opening it does not parse or copy the tracks:
// a reader touches only the pages it reads.
//
// A Snapshot is immutable once opened: const methods may be called from many
// threads without locking. Views returned by a Snapshot must not outlive it.
// The file must not be modified in place while mapped (writers replace it by
// rename, which is safe: the old inode stays mapped until closed).
//
//   Result<Snapshot> snap = Snapshot::Open("library.snap");
//   if (!snap.ok()) { std::cerr << snap.status().ToString(); return; }
//   for (TrackView t : *snap) use(t.id(), t.name());
//   if (auto t = snap->Find("4711")) use(t->artist());
#ifndef TRACKSTORE_SNAPSHOT_H_
#define TRACKSTORE_SNAPSHOT_H_

#include <cassert>
#include <compare>
#include <cstddef>
#include <cstdint>
#include <iterator>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "trackstore/export.h"
#include "trackstore/result.h"
#include "trackstore/status.h"
#include "trackstore/track.h"

namespace trackstore {

class Env;  // env.h

// One string field of every track, for scans that read a single field.
// REQUIRES for operator[] and is_null: i < size() (an assertion without
// NDEBUG).
class TRACKSTORE_EXPORT StringColumnView {
 public:
  StringColumnView() = default;  // empty: size() == 0
  uint64_t size() const { return count_; }
  // The value of track i; "" for a null value (see is_null).
  std::string_view operator[](uint64_t i) const {
    assert(i < count_ && "StringColumnView::operator[]: index out of range");
    return internal::StringAt(*col_, i);
  }
  bool is_null(uint64_t i) const {
    assert(i < count_ && "StringColumnView::is_null: index out of range");
    return col_->present != nullptr && !internal::BitSet(col_->present, i);
  }

 private:
  friend class Snapshot;  // the only maker of non-empty views
  explicit StringColumnView(const internal::StringColumnRef* col, uint64_t count)
      : col_(col), count_(count) {}

  const internal::StringColumnRef* col_ = nullptr;
  uint64_t count_ = 0;
};

class TRACKSTORE_EXPORT Snapshot {
 public:
  // Opens and fully verifies `path`: the fixed header, the FlatBuffers
  // Verifier, the layout (offsets monotonic and in bounds, index slots in
  // range) and the XXH3-128 content hash. Cost: one pass over the file.
  // Errors: NotFound, NotASnapshot, VersionUnsupported, Truncated,
  // HashMismatch, StructureInvalid, IOError; each names the file.
  static Result<Snapshot> Open(const std::string& path);
  // The same, mapping the file through `env` (null: Env::Default()).
  static Result<Snapshot> Open(const std::string& path, Env* env);

  // Opens `path` checking only what costs O(1) whatever the size: the fixed
  // header and its checksum, the FlatBuffers Verifier over the fixed set of
  // column tables and vector bounds, and the vector lengths. For a file that
  // was already verified, e.g. by the process that published it.
  // Reads stay inside the mapping even if the file is damaged (a damaged
  // value reads as ""), but content is not checked: call Verify() to know.
  static Result<Snapshot> OpenTrusted(const std::string& path);
  static Result<Snapshot> OpenTrusted(const std::string& path, Env* env);

  // A Snapshot over `size` bytes at `data`: a complete snapshot file image
  // held elsewhere, such as in shared memory. Nothing is copied; `data` must
  // be 8-byte aligned and stay valid and unchanged while the Snapshot lives.
  // With `verify`, the checks of Open, else those of OpenTrusted. `name`
  // stands for the bytes in error messages.
  static Result<Snapshot> FromBuffer(const void* data, size_t size, std::string_view name,
                                     bool verify = true);

  // A moved-from Snapshot may only be destroyed or assigned to; any other
  // call aborts with a message naming it (AbortOnMisuse).
  Snapshot(Snapshot&&) noexcept;
  Snapshot& operator=(Snapshot&&) noexcept;
  Snapshot(const Snapshot&) = delete;
  Snapshot& operator=(const Snapshot&) = delete;
  ~Snapshot();  // unmaps; every view from this Snapshot becomes invalid

  // Re-runs the full verification of Open (layout and content hash).
  Status Verify() const;

  // Number of tracks.
  uint64_t size() const;
  bool empty() const { return size() == 0; }

  // Track `i` in library order. REQUIRES: i < size() (checked by an
  // assertion in builds without NDEBUG).
  TrackView operator[](uint64_t i) const {
    const internal::Columns* c = columns();  // aborts on a moved-from Snapshot
    assert(i < c->count && "Snapshot::operator[]: index out of range");
    return TrackView(c, i);
  }

  // The track whose id equals `id` byte for byte, through the hash index
  // stored in the file (no index is built at open). O(1) expected.
  std::optional<TrackView> Find(std::string_view id) const;

  // One field of every track: a string field (kId .. kAlbumArtist) or
  // kExtras. Any other field (kOriginalPos, an integer) has no string
  // column: the view is empty (size() == 0), never a read past the columns.
  StringColumnView column(Field field) const;

  // XXH3-128 of the payload as 32 lowercase hex digits (doc/behaviour.md section 3).
  const std::string& content_hash() const;
  const std::string& path() const;
  uint64_t file_size() const;
  uint32_t format_version() const;
  // True for a store's delta fragment (store.h): its rows replace, append
  // or remove tracks of an earlier version instead of forming a library.
  bool is_delta() const;

  // Random access: it + n, it[n] and it2 - it1 are O(1), as operator[].
  class Iterator {
   public:
    using iterator_category = std::random_access_iterator_tag;
    using iterator_concept = std::random_access_iterator_tag;
    using value_type = TrackView;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = TrackView;
    Iterator() = default;
    TrackView operator*() const { return TrackView(c_, i_); }
    TrackView operator[](difference_type n) const { return TrackView(c_, i_ + n); }
    Iterator& operator++() {
      ++i_;
      return *this;
    }
    Iterator operator++(int) {
      Iterator t = *this;
      ++i_;
      return t;
    }
    Iterator& operator--() {
      --i_;
      return *this;
    }
    Iterator operator--(int) {
      Iterator t = *this;
      --i_;
      return t;
    }
    Iterator& operator+=(difference_type n) {
      i_ += n;
      return *this;
    }
    Iterator& operator-=(difference_type n) {
      i_ -= n;
      return *this;
    }
    friend Iterator operator+(Iterator it, difference_type n) { return it += n; }
    friend Iterator operator+(difference_type n, Iterator it) { return it += n; }
    friend Iterator operator-(Iterator it, difference_type n) { return it -= n; }
    friend difference_type operator-(const Iterator& a, const Iterator& b) {
      return static_cast<difference_type>(a.i_ - b.i_);
    }
    bool operator==(const Iterator& o) const { return i_ == o.i_; }
    auto operator<=>(const Iterator& o) const { return i_ <=> o.i_; }

   private:
    friend class Snapshot;  // begin() and end()
    Iterator(const internal::Columns* c, uint64_t i) : c_(c), i_(i) {}
    const internal::Columns* c_ = nullptr;
    uint64_t i_ = 0;
  };
  Iterator begin() const { return Iterator(columns(), 0); }
  Iterator end() const { return Iterator(columns(), size()); }

 private:
  friend struct internal::SnapshotAccess;
  struct Rep;
  explicit Snapshot(std::unique_ptr<Rep> rep);
  static Result<Snapshot> OpenFile(const std::string& path, bool verify, Env* env);
  static Result<Snapshot> Make(std::unique_ptr<Rep> rep, bool verify);
  const internal::Columns* columns() const;

  std::unique_ptr<Rep> rep_;
};

}  // namespace trackstore

#endif  // TRACKSTORE_SNAPSHOT_H_
