// Tests of MemoryTrackCache against doc/behaviour.md section 9: expiry at
// expires_at <= now, LRU eviction by entries and bytes, recency refreshed by
// get and put, replace without eviction, invalidate/clear/remove-expired.
#include "trackstore/memory_track_cache.h"

#include <thread>

#include "test_util.h"

namespace trackstore {
namespace {

// Small records of `n` tracks; the cache does not look inside them.
std::vector<TrackRecord> MakeTracks(size_t n) {
  std::vector<TrackRecord> tracks(n);
  for (size_t i = 0; i < n; ++i) {
    tracks[i].id = std::to_string(i);
    tracks[i].name = "Song";
    tracks[i].genre = "Rock";
  }
  return tracks;
}

class MemoryTrackCacheTest : public ::testing::Test {
 protected:
  MemoryTrackCacheOptions Options(size_t max_entries = 10'000, uint64_t max_bytes = 0) {
    MemoryTrackCacheOptions o;
    o.max_entries = max_entries;
    o.max_bytes = max_bytes;
    o.clock = [this] { return now_; };
    return o;
  }

  Micros now_ = 1'000'000 * kMicrosPerSecond;
};

bool Has(MemoryTrackCache& cache, std::string_view key) { return cache.Get(key).has_value(); }

TEST_F(MemoryTrackCacheTest, DefaultsMatchSpec) {
  MemoryTrackCacheOptions o;
  EXPECT_EQ(o.max_entries, 10'000u);
  EXPECT_EQ(o.max_bytes, 0u);
  EXPECT_EQ(kDefaultTtlSeconds, 900);
  EXPECT_EQ(kAllTracksKey, "tracks_all");
}

TEST_F(MemoryTrackCacheTest, MissingKeyIsAMiss) {
  MemoryTrackCache cache(Options());
  EXPECT_FALSE(cache.Get("nope").has_value());
  EXPECT_EQ(cache.stats().misses, 1u);
}

TEST_F(MemoryTrackCacheTest, PutThenGetReturnsTheTracks) {
  MemoryTrackCache cache(Options());
  const std::vector<TrackRecord> tracks = MakeTracks(20);
  ASSERT_OK(cache.Put(kAllTracksKey, tracks));
  std::optional<std::vector<TrackRecord>> got = cache.Get(kAllTracksKey);
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, tracks);
  EXPECT_EQ(cache.stats().hits, 1u);
}

TEST_F(MemoryTrackCacheTest, EmptyListIsAHit) {
  MemoryTrackCache cache(Options());
  ASSERT_OK(cache.Put("k", {}));
  std::optional<std::vector<TrackRecord>> got = cache.Get("k");
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->empty());
}

TEST_F(MemoryTrackCacheTest, ExpiresExactlyWhenExpiresAtEqualsNow) {
  MemoryTrackCache cache(Options());
  ASSERT_OK(cache.Put("k", MakeTracks(1), /*ttl_seconds=*/10));
  now_ += 10 * kMicrosPerSecond - 1;
  EXPECT_TRUE(Has(cache, "k"));
  now_ += 1;
  EXPECT_FALSE(Has(cache, "k"));
}

TEST_F(MemoryTrackCacheTest, ExpiredEntryIsDroppedOnGet) {
  MemoryTrackCache cache(Options());
  ASSERT_OK(cache.Put("k", MakeTracks(1), 10));
  now_ += 11 * kMicrosPerSecond;
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_FALSE(Has(cache, "k"));
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(cache.stats().bytes, 0u);
  EXPECT_FALSE(cache.Invalidate("k"));
}

TEST_F(MemoryTrackCacheTest, TtlOfZeroIsAlreadyExpired) {
  MemoryTrackCache cache(Options());
  ASSERT_OK(cache.Put("k", MakeTracks(1), 0));
  EXPECT_FALSE(Has(cache, "k"));
}

TEST_F(MemoryTrackCacheTest, DefaultTtlIs900Seconds) {
  MemoryTrackCache cache(Options());
  ASSERT_OK(cache.Put("k", MakeTracks(1)));
  now_ += 900 * kMicrosPerSecond - 1;
  EXPECT_TRUE(Has(cache, "k"));
  now_ += 1;
  EXPECT_FALSE(Has(cache, "k"));
}

TEST_F(MemoryTrackCacheTest, EvictsLeastRecentlyUsedPastMaxEntries) {
  MemoryTrackCache cache(Options(/*max_entries=*/3));
  for (const char* k : {"a", "b", "c", "d"}) ASSERT_OK(cache.Put(k, MakeTracks(1)));
  EXPECT_FALSE(Has(cache, "a"));
  EXPECT_TRUE(Has(cache, "b"));
  EXPECT_TRUE(Has(cache, "c"));
  EXPECT_TRUE(Has(cache, "d"));
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_EQ(cache.stats().entries, 3u);
}

TEST_F(MemoryTrackCacheTest, DefaultMaxEntriesEvictsThe10001th) {
  MemoryTrackCache cache(Options());
  for (int i = 0; i <= 10'000; ++i) ASSERT_OK(cache.Put(std::to_string(i), {}));
  EXPECT_EQ(cache.stats().entries, 10'000u);
  EXPECT_EQ(cache.stats().evictions, 1u);
  EXPECT_FALSE(Has(cache, "0"));
}

TEST_F(MemoryTrackCacheTest, GetRefreshesRecency) {
  MemoryTrackCache cache(Options(3));
  for (const char* k : {"a", "b", "c"}) ASSERT_OK(cache.Put(k, MakeTracks(1)));
  EXPECT_TRUE(Has(cache, "a"));
  ASSERT_OK(cache.Put("d", MakeTracks(1)));
  EXPECT_TRUE(Has(cache, "a"));
  EXPECT_FALSE(Has(cache, "b"));
}

TEST_F(MemoryTrackCacheTest, PutRefreshesRecency) {
  MemoryTrackCache cache(Options(3));
  for (const char* k : {"a", "b", "c"}) ASSERT_OK(cache.Put(k, MakeTracks(1)));
  ASSERT_OK(cache.Put("a", MakeTracks(2)));
  ASSERT_OK(cache.Put("d", MakeTracks(1)));
  EXPECT_TRUE(Has(cache, "a"));
  EXPECT_FALSE(Has(cache, "b"));
}

TEST_F(MemoryTrackCacheTest, ReplacingAKeyNeverEvictsAnotherByCount) {
  MemoryTrackCache cache(Options(2));
  ASSERT_OK(cache.Put("a", MakeTracks(1)));
  ASSERT_OK(cache.Put("b", MakeTracks(1)));
  ASSERT_OK(cache.Put("a", MakeTracks(3)));
  EXPECT_EQ(cache.Get("a")->size(), 3u);
  EXPECT_TRUE(Has(cache, "b"));
  EXPECT_EQ(cache.stats().evictions, 0u);
}

TEST_F(MemoryTrackCacheTest, ReplacingAKeyNeverEvictsAnotherByBytes) {
  MemoryTrackCache probe(Options());
  ASSERT_OK(probe.Put("a", MakeTracks(10)));
  const uint64_t ten = probe.stats().bytes;

  MemoryTrackCache cache(Options(100, /*max_bytes=*/3 * ten));
  ASSERT_OK(cache.Put("a", MakeTracks(10)));
  ASSERT_OK(cache.Put("b", MakeTracks(10)));
  ASSERT_OK(cache.Put("a", MakeTracks(25)));  // total now above max_bytes
  EXPECT_GT(cache.stats().bytes, 3 * ten);
  EXPECT_TRUE(Has(cache, "a"));
  EXPECT_TRUE(Has(cache, "b"));
  EXPECT_EQ(cache.stats().evictions, 0u);
}

TEST_F(MemoryTrackCacheTest, EvictsLeastRecentlyUsedPastMaxBytes) {
  MemoryTrackCache probe(Options());
  ASSERT_OK(probe.Put("a", MakeTracks(10)));
  const uint64_t ten = probe.stats().bytes;

  MemoryTrackCache cache(Options(100, /*max_bytes=*/ten * 5 / 2));
  for (const char* k : {"a", "b", "c"}) ASSERT_OK(cache.Put(k, MakeTracks(10)));
  EXPECT_FALSE(Has(cache, "a"));
  EXPECT_TRUE(Has(cache, "b"));
  EXPECT_TRUE(Has(cache, "c"));
  EXPECT_LE(cache.stats().bytes, ten * 5 / 2);
  EXPECT_EQ(cache.stats().evictions, 1u);
}

TEST_F(MemoryTrackCacheTest, EntryLargerThanMaxBytesIsRejectedWithoutEvicting) {
  MemoryTrackCache cache(Options(100, /*max_bytes=*/4096));
  ASSERT_OK(cache.Put("small", MakeTracks(1)));
  ASSERT_OK(cache.Put("big", MakeTracks(1)));
  Status s = cache.Put("big", MakeTracks(1000));
  EXPECT_TRUE(s.IsResourceExhausted()) << s.ToString();
  EXPECT_TRUE(Has(cache, "small"));
  EXPECT_FALSE(Has(cache, "big"));  // no stale value after a failed replace
  EXPECT_EQ(cache.stats().evictions, 0u);
}

TEST_F(MemoryTrackCacheTest, InvalidateTellsWhetherSomethingWasRemoved) {
  MemoryTrackCache cache(Options());
  ASSERT_OK(cache.Put("k", MakeTracks(1)));
  EXPECT_TRUE(cache.Invalidate("k"));
  EXPECT_FALSE(cache.Invalidate("k"));
  EXPECT_FALSE(Has(cache, "k"));
  EXPECT_EQ(cache.stats().bytes, 0u);
}

TEST_F(MemoryTrackCacheTest, ClearEmptiesEverything) {
  MemoryTrackCache cache(Options());
  for (const char* k : {"a", "b", "c"}) ASSERT_OK(cache.Put(k, MakeTracks(2)));
  cache.Clear();
  EXPECT_EQ(cache.stats().entries, 0u);
  EXPECT_EQ(cache.stats().bytes, 0u);
  EXPECT_FALSE(Has(cache, "a"));
  EXPECT_FALSE(Has(cache, "c"));
}

TEST_F(MemoryTrackCacheTest, RemoveExpiredTellsHowMany) {
  MemoryTrackCache cache(Options());
  ASSERT_OK(cache.Put("short1", MakeTracks(1), 10));
  ASSERT_OK(cache.Put("short2", MakeTracks(1), 20));
  ASSERT_OK(cache.Put("long", MakeTracks(1), 100));
  now_ += 20 * kMicrosPerSecond;  // short2 expires exactly now
  EXPECT_EQ(cache.RemoveExpired(), 2u);
  EXPECT_EQ(cache.stats().entries, 1u);
  EXPECT_EQ(cache.RemoveExpired(), 0u);
  EXPECT_TRUE(Has(cache, "long"));
}

TEST_F(MemoryTrackCacheTest, StatsCountHitsMissesAndEvictions) {
  MemoryTrackCache cache(Options(1));
  ASSERT_OK(cache.Put("a", MakeTracks(1)));
  ASSERT_OK(cache.Put("b", MakeTracks(1)));  // evicts a
  EXPECT_TRUE(Has(cache, "b"));
  EXPECT_FALSE(Has(cache, "a"));
  EXPECT_FALSE(Has(cache, "c"));
  MemoryTrackCache::Stats s = cache.stats();
  EXPECT_EQ(s.entries, 1u);
  EXPECT_GT(s.bytes, 0u);
  EXPECT_EQ(s.hits, 1u);
  EXPECT_EQ(s.misses, 2u);
  EXPECT_EQ(s.evictions, 1u);
}

// Run under the sanitizer build, this catches unsynchronized access.
TEST_F(MemoryTrackCacheTest, ConcurrentUseIsSafe) {
  MemoryTrackCache cache(Options(8));
  const std::vector<TrackRecord> tracks = MakeTracks(3);
  std::vector<std::thread> threads;
  for (int t = 0; t < 4; ++t) {
    threads.emplace_back([&cache, &tracks, t] {
      for (int i = 0; i < 2000; ++i) {
        const std::string key = std::to_string((i * 7 + t) % 16);
        if (i % 3 == 0) (void)cache.Put(key, tracks);
        if (auto got = cache.Get(key)) {
          EXPECT_EQ(got->size(), 3u);
        }
        if (i % 50 == 0) cache.Invalidate(key);
      }
    });
  }
  for (std::thread& th : threads) th.join();
  EXPECT_LE(cache.stats().entries, 8u);
}

}  // namespace
}  // namespace trackstore
