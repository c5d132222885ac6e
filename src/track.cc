#include "trackstore/track.h"

#include "track_fields.h"

namespace trackstore {

using internal::kOptionalMembers;
using internal::kRequiredMembers;

namespace {

constexpr std::string_view kFieldNames[kFieldCount] = {
    "id",
    "name",
    "artist",
    "album",
    "genre",
    "year",
    "date_added",
    "last_modified",
    "track_status",
    "original_artist",
    "original_album",
    "year_before_mgu",
    "year_set_by_mgu",
    "release_year",
    "album_artist",
    "original_pos",
    "extras",
};

}  // namespace

std::string_view FieldName(Field field) { return kFieldNames[static_cast<int>(field)]; }

std::optional<Field> FieldFromName(std::string_view name) {
  // "extras" is not a JSON key of a record: unknown keys are the extras.
  for (int i = 0; i < static_cast<int>(Field::kExtras); ++i) {
    if (kFieldNames[i] == name) return static_cast<Field>(i);
  }
  return std::nullopt;
}

const std::string* TrackRecord::StringField(int i) const {
  if (i < kRequiredStringFieldCount) return &(this->*kRequiredMembers[i]);
  const auto& value = this->*kOptionalMembers[i - kRequiredStringFieldCount];
  return value ? &*value : nullptr;
}

void TrackRecord::SetStringField(int i, std::optional<std::string> value) {
  if (i < kRequiredStringFieldCount) {
    this->*kRequiredMembers[i] = value ? std::move(*value) : std::string();
  } else {
    this->*kOptionalMembers[i - kRequiredStringFieldCount] = std::move(value);
  }
}

TrackRecord TrackView::ToRecord() const {
  TrackRecord r;
  for (int f = 0; f < kStringFieldCount; ++f) {
    std::optional<std::string_view> v = string_field(f);
    if (v) r.SetStringField(f, std::string(*v));
  }
  r.original_pos = original_pos();
  r.extras_json = std::string(extras_json());
  return r;
}

}  // namespace trackstore
