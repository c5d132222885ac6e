// src/track_hash.h (internal)
//
// The per-track content hash stored in every snapshot's track_hash column.
// Persisted: changing it changes every snapshot's bytes.
//
// The hash chains XXH3-64 over the fields in Field order, each seeded with
// the running value plus the field number, so that moving a value to
// another field changes it. An absent value hashes as the single byte 0xFF,
// which no valid UTF-8 value can be, so absent and "" differ.
#ifndef TRACKSTORE_SRC_TRACK_HASH_H_
#define TRACKSTORE_SRC_TRACK_HASH_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>

#include "trackstore/track.h"

namespace trackstore::internal {

uint64_t TrackHash(const TrackRecord& track);
uint64_t TrackHash(const TrackView& track);
// The same from field values: the kStringFieldCount string fields in Field
// order (nullopt: absent), original_pos and the extras text.
uint64_t TrackHash(const std::optional<std::string_view>* strings,
                   std::optional<int64_t> original_pos, std::string_view extras_json);

// TrackHash of each of `tracks` into `out`, the same values. Four tracks'
// chains are interleaved field by field: one chain is a run of dependent
// short hashes, so alone it leaves most of the core idle.
void TrackHashes(std::span<const TrackRecord* const> tracks, uint64_t* out);

// XXH3-64 of an id, as format::HashId (the id index), inlined: ids are short.
uint64_t IdHash(std::string_view id);

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_TRACK_HASH_H_
