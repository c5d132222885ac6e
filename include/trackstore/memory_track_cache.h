// include/trackstore/memory_track_cache.h
//
// MemoryTrackCache is the in-process TrackCache: a map from key to a list of
// owning track records, with an expiry time per entry and least-recently-used
// eviction (doc/behaviour.md section 9).
//
//   MemoryTrackCache cache;                       // 10,000 entries, no byte limit
//   cache.Put(kAllTracksKey, tracks);             // TTL 900 s
//   if (auto hit = cache.Get(kAllTracksKey)) use(*hit);
//
// Thread-safe: every method takes one internal mutex, so calls from many
// threads are serialized. Get returns a copy, so no reference into the
// cache outlives the lock.
#ifndef TRACKSTORE_MEMORY_TRACK_CACHE_H_
#define TRACKSTORE_MEMORY_TRACK_CACHE_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "trackstore/clock.h"
#include "trackstore/export.h"
#include "trackstore/status.h"
#include "trackstore/track.h"
#include "trackstore/track_cache.h"

namespace trackstore {

struct TRACKSTORE_EXPORT MemoryTrackCacheOptions {
  // Most entries kept. Adding a new key past it evicts the least recently
  // used entries. 0 = no limit. Default: 10,000 (doc/behaviour.md section 10).
  size_t max_entries = 10'000;
  // Most bytes kept, counting the approximate in-memory size of each entry's
  // key and records. Adding a new key past it evicts the least recently
  // used entries. 0 = no limit. Default: 0.
  uint64_t max_bytes = 0;
  // The time source for expiry. Default: the system clock.
  Clock clock = SystemClock();
};

class TRACKSTORE_EXPORT MemoryTrackCache final : public TrackCache {
 public:
  // Counters since construction; Clear() empties entries but keeps them.
  struct Stats {
    uint64_t entries = 0;    // entries held now (expired ones not yet seen included)
    uint64_t bytes = 0;      // approximate bytes held now
    uint64_t hits = 0;       // Get calls that returned tracks
    uint64_t misses = 0;     // Get calls that found nothing or an expired entry
    uint64_t evictions = 0;  // entries removed to respect a limit (not expiry)
  };

  explicit MemoryTrackCache(MemoryTrackCacheOptions options = {});
  ~MemoryTrackCache() override;
  MemoryTrackCache(const MemoryTrackCache&) = delete;
  MemoryTrackCache& operator=(const MemoryTrackCache&) = delete;

  // The tracks under `key`, or nullopt. An entry whose expiry time is <= now
  // is a miss and is removed. A hit makes the entry the most recently used.
  std::optional<std::vector<TrackRecord>> Get(std::string_view key) override;

  // Stores a copy of `tracks` under `key`, expiring `ttl_seconds` from now
  // (a TTL <= 0 stores an entry that is already expired), and makes it the
  // most recently used.
  // - Replacing an existing key never evicts another entry, even if the new
  //   value is larger (the byte total may then exceed max_bytes until the
  //   next new key).
  // - A new key evicts least recently used entries until both limits hold.
  // Errors: ResourceExhausted when the entry alone is larger than max_bytes;
  // nothing is evicted, and an existing entry under `key` is removed so that
  // no stale value survives a failed replace.
  Status Put(std::string_view key, std::span<const TrackRecord> tracks,
             int64_t ttl_seconds = kDefaultTtlSeconds) override;

  // Removes `key`; true if there was an entry (expired or not).
  bool Invalidate(std::string_view key) override;

  // Removes every entry.
  void Clear();

  // Removes every expired entry; returns how many.
  size_t RemoveExpired();

  Stats stats() const;

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

}  // namespace trackstore

#endif  // TRACKSTORE_MEMORY_TRACK_CACHE_H_
