// include/trackstore/track_cache.h
//
// TrackCache is the keyed cache of track lists that the cache manager reads
// from (doc/behaviour.md sections 7 and 9). Two implementations: MemoryTrackCache
// (in this process, memory_track_cache.h) and the shared-memory cache
// (shm_cache.h), which many processes read at once.
//
// Semantics every implementation keeps (doc/behaviour.md section 9): a missing or
// expired key is a miss, and an expired entry is dropped when seen; an entry
// expires when expires_at <= now, so a TTL of 0 is already expired.
// Implementations are thread-safe.
#ifndef TRACKSTORE_TRACK_CACHE_H_
#define TRACKSTORE_TRACK_CACHE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "trackstore/export.h"
#include "trackstore/status.h"
#include "trackstore/track.h"

namespace trackstore {

inline constexpr int64_t kDefaultTtlSeconds = 900;
inline constexpr std::string_view kAllTracksKey = "tracks_all";

class TRACKSTORE_EXPORT TrackCache {
 public:
  virtual ~TrackCache() = default;

  // The tracks stored under `key`, as owning records, or nullopt on a miss.
  // The records are returned as stored: validating them is the caller's
  // business (the cache manager does it, all or nothing).
  virtual std::optional<std::vector<TrackRecord>> Get(std::string_view key) = 0;

  // Stores `tracks` under `key` for `ttl_seconds`, replacing any entry.
  virtual Status Put(std::string_view key, std::span<const TrackRecord> tracks,
                     int64_t ttl_seconds = kDefaultTtlSeconds) = 0;

  // Removes `key`; tells whether there was an entry.
  virtual bool Invalidate(std::string_view key) = 0;
};

}  // namespace trackstore

#endif  // TRACKSTORE_TRACK_CACHE_H_
