// include/trackstore/track.h
//
// The track record of doc/behaviour.md section 1, as an owning value (TrackRecord)
// and as a zero-copy view into an open snapshot (TrackView).
//
// A TrackView points into the mapped file. It is valid while the Snapshot
// that produced it is alive; call ToRecord() for an owning copy. Views are
// immutable and may be read from many threads at once.
#ifndef TRACKSTORE_TRACK_H_
#define TRACKSTORE_TRACK_H_

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "trackstore/export.h"

namespace trackstore {

// Every field of a track, in the order of doc/behaviour.md section 1. The first 15
// are strings; kId..kAlbum are required (but may be ""), the other strings
// are optional: absent (null) and "" are different values.
enum class Field : uint8_t {
  kId,
  kName,
  kArtist,
  kAlbum,
  kGenre,
  kYear,
  kDateAdded,
  kLastModified,
  kTrackStatus,
  kOriginalArtist,
  kOriginalAlbum,
  kYearBeforeMgu,
  kYearSetByMgu,
  kReleaseYear,
  kAlbumArtist,
  kOriginalPos,  // optional integer
  kExtras,       // optional JSON object text of the unknown fields
};
inline constexpr int kStringFieldCount = 15;         // kId .. kAlbumArtist
inline constexpr int kRequiredStringFieldCount = 4;  // kId .. kAlbum
inline constexpr int kFieldCount = 17;

// The JSON key of a field ("album_artist").
TRACKSTORE_EXPORT std::string_view FieldName(Field field);
// The field whose JSON key is `name`, or nullopt.
TRACKSTORE_EXPORT std::optional<Field> FieldFromName(std::string_view name);

// An owning track. Plain data: compare with ==, copy freely.
struct TRACKSTORE_EXPORT TrackRecord {
  std::string id;  // non-empty and unique within a snapshot
  std::string name;
  std::string artist;
  std::string album;
  std::optional<std::string> genre;
  std::optional<std::string> year;  // a string: "1999", "", or anything
  std::optional<std::string> date_added;
  std::optional<std::string> last_modified;
  std::optional<std::string> track_status;
  std::optional<std::string> original_artist;
  std::optional<std::string> original_album;
  std::optional<std::string> year_before_mgu;
  std::optional<std::string> year_set_by_mgu;
  std::optional<std::string> release_year;
  std::optional<std::string> album_artist;
  std::optional<int64_t> original_pos;
  // Unknown fields of an imported record, kept and exported again: a compact
  // JSON object text such as {"rating":5,"tags":["a"]}, or "" for none.
  std::string extras_json;

  bool operator==(const TrackRecord&) const = default;

  // The string field `i` (0 .. kStringFieldCount-1), or nullptr when absent.
  const std::string* StringField(int i) const;
  // Sets string field `i`; for a required field nullopt means "".
  void SetStringField(int i, std::optional<std::string> value);
};

namespace internal {
// Raw column pointers into a verified payload; see Snapshot. Not for users.
struct StringColumnRef {
  const uint32_t* offsets = nullptr;  // count + 1 entries
  const char* bytes = nullptr;
  uint64_t bytes_size = 0;
  const uint8_t* present = nullptr;  // null for required fields
};
struct IntColumnRef {
  const int64_t* values = nullptr;
  const uint8_t* present = nullptr;
};
struct Columns {
  uint64_t count = 0;
  std::array<StringColumnRef, kStringFieldCount> strings;
  IntColumnRef original_pos;
  StringColumnRef extras;
  const uint64_t* track_hashes = nullptr;  // count entries
  const uint64_t* id_index = nullptr;      // id_index_size slots
  uint64_t id_index_size = 0;
  // A store's delta fragment only (else null): per row, the slot it
  // replaces or removes, and the removal bitmap.
  const uint64_t* delta_targets = nullptr;
  const uint8_t* delta_removed = nullptr;
};
struct SnapshotAccess;  // src/ reaches a Snapshot's columns through this

inline bool BitSet(const uint8_t* bitmap, uint64_t i) { return (bitmap[i >> 3] >> (i & 7)) & 1; }

// The bounds check costs one compare. It can only fail on a damaged file
// opened with Snapshot::OpenTrusted; the result is then "" rather than a read
// outside the mapping.
inline std::string_view StringAt(const StringColumnRef& c, uint64_t i) {
  const uint32_t begin = c.offsets[i];
  const uint32_t end = c.offsets[i + 1];
  if (end < begin || end > c.bytes_size) [[unlikely]]
    return {};
  return std::string_view(c.bytes + begin, end - begin);
}
inline std::optional<std::string_view> OptionalStringAt(const StringColumnRef& c, uint64_t i) {
  if (c.present != nullptr && !BitSet(c.present, i)) return std::nullopt;
  return StringAt(c, i);
}
}  // namespace internal

// A zero-copy view of one track of a Snapshot. Cheap to copy (two words).
class Snapshot;
class Version;

class TRACKSTORE_EXPORT TrackView {
 public:
  // Position in library order, 0-based.
  uint64_t index() const { return i_; }

  std::string_view id() const { return Str(Field::kId); }
  std::string_view name() const { return Str(Field::kName); }
  std::string_view artist() const { return Str(Field::kArtist); }
  std::string_view album() const { return Str(Field::kAlbum); }
  std::optional<std::string_view> genre() const { return Opt(Field::kGenre); }
  std::optional<std::string_view> year() const { return Opt(Field::kYear); }
  std::optional<std::string_view> date_added() const { return Opt(Field::kDateAdded); }
  std::optional<std::string_view> last_modified() const { return Opt(Field::kLastModified); }
  std::optional<std::string_view> track_status() const { return Opt(Field::kTrackStatus); }
  std::optional<std::string_view> original_artist() const { return Opt(Field::kOriginalArtist); }
  std::optional<std::string_view> original_album() const { return Opt(Field::kOriginalAlbum); }
  std::optional<std::string_view> year_before_mgu() const { return Opt(Field::kYearBeforeMgu); }
  std::optional<std::string_view> year_set_by_mgu() const { return Opt(Field::kYearSetByMgu); }
  std::optional<std::string_view> release_year() const { return Opt(Field::kReleaseYear); }
  std::optional<std::string_view> album_artist() const { return Opt(Field::kAlbumArtist); }
  std::optional<int64_t> original_pos() const {
    const auto& col = c_->original_pos;
    if (!internal::BitSet(col.present, i_)) return std::nullopt;
    return col.values[i_];
  }
  // The JSON object text of the unknown fields, or "" when there are none.
  std::string_view extras_json() const { return internal::StringAt(c_->extras, i_); }

  // A 64-bit hash of every field of this track (XXH3-based), stored in the
  // snapshot. Equal tracks have equal hashes, in any snapshot; a diff uses
  // it to skip unchanged tracks.
  uint64_t content_hash() const { return c_->track_hashes[i_]; }

  // String field `i` (0 .. kStringFieldCount-1); nullopt when absent, and
  // for an `i` outside that range.
  std::optional<std::string_view> string_field(int i) const {
    if (i < 0 || i >= kStringFieldCount) [[unlikely]]
      return std::nullopt;
    return internal::OptionalStringAt(c_->strings[i], i_);
  }

  // An owning copy of every field.
  TrackRecord ToRecord() const;

 private:
  std::string_view Str(Field f) const {
    return internal::StringAt(c_->strings[static_cast<int>(f)], i_);
  }
  std::optional<std::string_view> Opt(Field f) const {
    return internal::OptionalStringAt(c_->strings[static_cast<int>(f)], i_);
  }

  // Views are made by the readers (Snapshot, Version) and, inside the
  // library, through internal::SnapshotAccess: the columns pointer is theirs.
  friend class Snapshot;
  friend class Version;
  friend struct internal::SnapshotAccess;
  TrackView(const internal::Columns* columns, uint64_t index) : c_(columns), i_(index) {}

  const internal::Columns* c_;
  uint64_t i_;
};

}  // namespace trackstore

#endif  // TRACKSTORE_TRACK_H_
