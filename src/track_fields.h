// src/track_fields.h (internal)
//
// TrackRecord's string members in Field order, so code can loop over the
// fields instead of naming each one. Shared by track.cc and the writer.
#ifndef TRACKSTORE_SRC_TRACK_FIELDS_H_
#define TRACKSTORE_SRC_TRACK_FIELDS_H_

#include <optional>
#include <string>

#include "trackstore/track.h"

namespace trackstore::internal {

using RequiredMember = std::string TrackRecord::*;
using OptionalMember = std::optional<std::string> TrackRecord::*;

inline constexpr int kOptionalStringFieldCount = kStringFieldCount - kRequiredStringFieldCount;

inline constexpr RequiredMember kRequiredMembers[kRequiredStringFieldCount] = {
    &TrackRecord::id, &TrackRecord::name, &TrackRecord::artist, &TrackRecord::album};

inline constexpr OptionalMember kOptionalMembers[kOptionalStringFieldCount] = {
    &TrackRecord::genre,           &TrackRecord::year,
    &TrackRecord::date_added,      &TrackRecord::last_modified,
    &TrackRecord::track_status,    &TrackRecord::original_artist,
    &TrackRecord::original_album,  &TrackRecord::year_before_mgu,
    &TrackRecord::year_set_by_mgu, &TrackRecord::release_year,
    &TrackRecord::album_artist};

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_TRACK_FIELDS_H_
