// MemoryTrackCache: a doubly linked list in recency order (front = most
// recently used) plus a hash map from key to list node, under one mutex.
#include "trackstore/memory_track_cache.h"

#include <functional>
#include <limits>
#include <list>
#include <mutex>
#include <string>
#include <unordered_map>
#include <utility>

namespace trackstore {

namespace {

struct Entry {
  std::string key;
  std::vector<TrackRecord> tracks;
  Micros expires_at = 0;
  uint64_t bytes = 0;
};

// Lets the map be searched with a string_view without building a string.
struct KeyHash {
  using is_transparent = void;
  size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
};

uint64_t ApproximateBytes(std::string_view key, std::span<const TrackRecord> tracks) {
  uint64_t n = sizeof(Entry) + key.size();
  for (const TrackRecord& t : tracks) {
    n += sizeof(TrackRecord) + t.extras_json.size();
    for (int f = 0; f < kStringFieldCount; ++f) {
      if (const std::string* s = t.StringField(f)) n += s->size();
    }
  }
  return n;
}

// now + ttl, saturating; a TTL <= 0 gives an entry that is already expired.
Micros ExpiryTime(Micros now, int64_t ttl_seconds) {
  if (ttl_seconds <= 0) return now;
  constexpr Micros kMax = std::numeric_limits<Micros>::max();
  if (ttl_seconds > (kMax - now) / kMicrosPerSecond) return kMax;
  return now + ttl_seconds * kMicrosPerSecond;
}

}  // namespace

struct TRACKSTORE_HIDDEN MemoryTrackCache::Rep {
  explicit Rep(MemoryTrackCacheOptions o) : options(std::move(o)) {
    if (!options.clock) options.clock = SystemClock();
  }

  using List = std::list<Entry>;

  // REQUIRES: mu held.
  void Erase(List::iterator it) {
    stats.bytes -= it->bytes;
    index.erase(it->key);
    lru.erase(it);
  }

  bool OverLimit() const {
    return (options.max_entries > 0 && lru.size() > options.max_entries) ||
           (options.max_bytes > 0 && stats.bytes > options.max_bytes);
  }

  // REQUIRES: mu held. Evicts from the back, never the front entry (the one
  // just added).
  void EvictPastLimits() {
    while (lru.size() > 1 && OverLimit()) {
      Erase(std::prev(lru.end()));
      ++stats.evictions;
    }
  }

  MemoryTrackCacheOptions options;
  mutable std::mutex mu;
  List lru;  // GUARDED_BY(mu)
  std::unordered_map<std::string, List::iterator, KeyHash, std::equal_to<>>
      index;    // GUARDED_BY(mu)
  Stats stats;  // GUARDED_BY(mu); entries is derived from lru.size()
};

MemoryTrackCache::MemoryTrackCache(MemoryTrackCacheOptions options)
    : rep_(std::make_unique<Rep>(std::move(options))) {}

MemoryTrackCache::~MemoryTrackCache() = default;

std::optional<std::vector<TrackRecord>> MemoryTrackCache::Get(std::string_view key) {
  const Micros now = rep_->options.clock();
  std::lock_guard<std::mutex> lock(rep_->mu);
  auto found = rep_->index.find(key);
  if (found == rep_->index.end() || found->second->expires_at <= now) {
    if (found != rep_->index.end()) rep_->Erase(found->second);
    ++rep_->stats.misses;
    return std::nullopt;
  }
  rep_->lru.splice(rep_->lru.begin(), rep_->lru, found->second);
  ++rep_->stats.hits;
  return found->second->tracks;
}

Status MemoryTrackCache::Put(std::string_view key, std::span<const TrackRecord> tracks,
                             int64_t ttl_seconds) {
  const Micros now = rep_->options.clock();
  const uint64_t bytes = ApproximateBytes(key, tracks);
  // Copy outside the lock: it is the expensive part.
  Entry entry{std::string(key), std::vector<TrackRecord>(tracks.begin(), tracks.end()),
              ExpiryTime(now, ttl_seconds), bytes};
  std::lock_guard<std::mutex> lock(rep_->mu);
  auto found = rep_->index.find(key);
  const uint64_t max_bytes = rep_->options.max_bytes;
  if (max_bytes > 0 && bytes > max_bytes) {
    if (found != rep_->index.end()) rep_->Erase(found->second);
    return Status::ResourceExhausted("track cache key '" + std::string(key) + "'",
                                     "entry of about " + std::to_string(bytes) +
                                         " bytes exceeds max_bytes " + std::to_string(max_bytes));
  }
  if (found != rep_->index.end()) {
    // Replace in place: no eviction of other keys.
    rep_->stats.bytes += bytes - found->second->bytes;  // unsigned wrap-around cancels out
    *found->second = std::move(entry);
    rep_->lru.splice(rep_->lru.begin(), rep_->lru, found->second);
    return Status::OK();
  }
  rep_->lru.push_front(std::move(entry));
  rep_->index.emplace(rep_->lru.front().key, rep_->lru.begin());
  rep_->stats.bytes += bytes;
  rep_->EvictPastLimits();
  return Status::OK();
}

bool MemoryTrackCache::Invalidate(std::string_view key) {
  std::lock_guard<std::mutex> lock(rep_->mu);
  auto found = rep_->index.find(key);
  if (found == rep_->index.end()) return false;
  rep_->Erase(found->second);
  return true;
}

void MemoryTrackCache::Clear() {
  std::lock_guard<std::mutex> lock(rep_->mu);
  rep_->index.clear();
  rep_->lru.clear();
  rep_->stats.bytes = 0;
}

size_t MemoryTrackCache::RemoveExpired() {
  const Micros now = rep_->options.clock();
  std::lock_guard<std::mutex> lock(rep_->mu);
  size_t removed = 0;
  for (auto it = rep_->lru.begin(); it != rep_->lru.end();) {
    auto next = std::next(it);
    if (it->expires_at <= now) {
      rep_->Erase(it);
      ++removed;
    }
    it = next;
  }
  return removed;
}

MemoryTrackCache::Stats MemoryTrackCache::stats() const {
  std::lock_guard<std::mutex> lock(rep_->mu);
  Stats s = rep_->stats;
  s.entries = rep_->lru.size();
  return s;
}

}  // namespace trackstore
