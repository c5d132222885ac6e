#include "track_hash.h"

// Inlined on purpose: the values are short (a median of ~12 bytes), where
// XXH3's small-input path is a handful of instructions and a call into the
// shared library would cost more than the hashing.
#define XXH_INLINE_ALL
#include <xxhash.h>

#include <optional>
#include <string_view>

#include "track_fields.h"

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

// One step of Hash for four tracks at once.
template <int kLanes>
void HashLanes(const TrackRecord* const* t, uint64_t* out) {
  uint64_t h[kLanes];
  for (int l = 0; l < kLanes; ++l) h[l] = kSeed;
  for (int f = 0; f < kRequiredStringFieldCount; ++f) {
    for (int l = 0; l < kLanes; ++l) {
      const std::string& s = t[l]->*kRequiredMembers[f];
      h[l] = Mix(h[l], f, s.data(), s.size());
    }
  }
  for (int k = 0; k < kOptionalStringFieldCount; ++k) {
    const int f = kRequiredStringFieldCount + k;
    for (int l = 0; l < kLanes; ++l) {
      const std::optional<std::string>& v = t[l]->*kOptionalMembers[k];
      h[l] = v ? Mix(h[l], f, v->data(), v->size()) : Mix(h[l], f, &kAbsent, 1);
    }
  }
  const int pos_field = static_cast<int>(Field::kOriginalPos);
  for (int l = 0; l < kLanes; ++l) {
    const std::optional<int64_t>& pos = t[l]->original_pos;
    h[l] = pos ? Mix(h[l], pos_field, &*pos, sizeof(int64_t)) : Mix(h[l], pos_field, &kAbsent, 1);
  }
  for (int l = 0; l < kLanes; ++l) {
    const std::string& extras = t[l]->extras_json;
    out[l] = Mix(h[l], static_cast<int>(Field::kExtras), extras.data(), extras.size());
  }
}

}  // namespace

uint64_t TrackHash(const std::optional<std::string_view>* strings,
                   std::optional<int64_t> original_pos, std::string_view extras_json) {
  return Hash(ValueFields{strings}, extras_json, original_pos);
}

void TrackHashes(std::span<const TrackRecord* const> tracks, uint64_t* out) {
  size_t i = 0;
  for (; i + 4 <= tracks.size(); i += 4) HashLanes<4>(tracks.data() + i, out + i);
  for (; i < tracks.size(); ++i) HashLanes<1>(tracks.data() + i, out + i);
}

uint64_t IdHash(std::string_view id) { return XXH3_64bits(id.data(), id.size()); }

uint64_t TrackHash(const TrackRecord& track) {
  return Hash(RecordFields{track}, track.extras_json, track.original_pos);
}

uint64_t TrackHash(const TrackView& track) {
  return Hash(track, track.extras_json(), track.original_pos());
}

}  // namespace trackstore::internal
