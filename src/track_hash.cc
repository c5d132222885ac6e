#include "track_hash.h"

// Inlined on purpose: the values are short (a median of ~12 bytes), where
// XXH3's small-input path is a handful of instructions and a call into the
// shared library would cost more than the hashing.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <optional>
#include <string_view>

namespace trackstore::internal {

namespace {

constexpr uint64_t kSeed = 0x747261636b686173ULL;  // "trackhas"
constexpr char kAbsent = '\xff';

inline uint64_t Mix(uint64_t h, int field, const void* data, size_t size) {
  return XXH3_64bits_withSeed(data, size, h + static_cast<uint64_t>(field));
}

inline uint64_t MixOptional(uint64_t h, int field, std::optional<std::string_view> v) {
  return v ? Mix(h, field, v->data(), v->size()) : Mix(h, field, &kAbsent, 1);
}

template <typename Track>
uint64_t Hash(const Track& t, std::string_view extras, std::optional<int64_t> pos) {
  uint64_t h = kSeed;
  for (int f = 0; f < kStringFieldCount; ++f) h = MixOptional(h, f, t.string_field(f));
  const int pos_field = static_cast<int>(Field::kOriginalPos);
  h = pos ? Mix(h, pos_field, &*pos, sizeof(int64_t)) : Mix(h, pos_field, &kAbsent, 1);
  return Mix(h, static_cast<int>(Field::kExtras), extras.data(), extras.size());
}

// TrackRecord's view of a string field, shaped like TrackView::string_field.
struct RecordFields {
  const TrackRecord& r;
  std::optional<std::string_view> string_field(int f) const {
    const std::string* s = r.StringField(f);
    return s ? std::optional<std::string_view>(*s) : std::nullopt;
  }
};

// Field values in an array, shaped like TrackView::string_field.
struct ValueFields {
  const std::optional<std::string_view>* strings;
  std::optional<std::string_view> string_field(int f) const { return strings[f]; }
};

}  // namespace

uint64_t TrackHash(const std::optional<std::string_view>* strings,
                   std::optional<int64_t> original_pos, std::string_view extras_json) {
  return Hash(ValueFields{strings}, extras_json, original_pos);
}

uint64_t TrackHash(const TrackRecord& track) {
  return Hash(RecordFields{track}, track.extras_json, track.original_pos);
}

uint64_t TrackHash(const TrackView& track) {
  return Hash(track, track.extras_json(), track.original_pos());
}

}  // namespace trackstore::internal
