// tests/shm_cache_test.cc: ShmCache in one process: doc/behaviour.md section 9 with an
// injected clock, LRU eviction, size limits, stats, damaged and incompatible
// segments. Real processes are in shm_multiprocess_test.cc.
#include "trackstore/shm_cache.h"

#include <fcntl.h>
#include <sys/mount.h>
#include <unistd.h>

#include <atomic>
#include <cstdio>
#include <cstring>
#include <filesystem>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include "shm_test_util.h"
#include "test_util.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore {
namespace {

using ::testing::HasSubstr;
using testing::MakeTracks;
using testing::TempDir;

std::vector<TrackRecord> Versioned(uint64_t n, uint64_t version) {
  return testing::VersionedTracks(n, version);
}

std::string Encode(const std::vector<TrackRecord>& tracks) {
  std::string image;
  SnapshotWriter writer;
  EXPECT_TRUE(writer.Encode(tracks, &image).ok());
  return image;
}

class ShmCacheTest : public ::testing::Test {
 protected:
  ShmCacheTest() : now_(std::make_shared<std::atomic<Micros>>(1'700'000'000 * kMicrosPerSecond)) {
    static int counter = 0;
    options_.name = "ts-test-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    options_.capacity_bytes = 4 << 20;
    options_.max_entries = 64;
    options_.max_readers = 8;
    options_.lock_timeout_ms = 2000;
    auto now = now_;
    options_.clock = [now] { return now->load(); };
  }
  ~ShmCacheTest() override { (void)ShmCache::Remove(options_); }

  ShmCache OpenOrDie(const ShmOptions& o) {
    Result<ShmCache> c = ShmCache::Open(o);
    EXPECT_OK(c.status());
    if (!c.ok()) std::abort();
    return std::move(c).value();
  }
  void Advance(int64_t seconds) { now_->fetch_add(seconds * kMicrosPerSecond); }
  std::string SegmentPath() const { return options_.shm_dir + "/" + options_.name; }

  std::shared_ptr<std::atomic<Micros>> now_;
  ShmOptions options_;
};

TEST_F(ShmCacheTest, PutThenGetReturnsTheSameTracks) {
  ShmCache cache = OpenOrDie(options_);
  const std::vector<TrackRecord> tracks = MakeTracks(300);
  Result<uint64_t> version = cache.Put("k", tracks);
  ASSERT_OK(version.status());
  Result<ShmEntry> e = cache.Get("k");
  ASSERT_OK(e.status());
  EXPECT_EQ(e->key(), "k");
  EXPECT_EQ(e->version(), *version);
  ASSERT_EQ(e->snapshot().size(), tracks.size());
  for (uint64_t i = 0; i < tracks.size(); ++i) EXPECT_EQ(e->snapshot()[i].ToRecord(), tracks[i]);
  EXPECT_OK(e->snapshot().Verify());
  ASSERT_TRUE(e->snapshot().Find(tracks[17].id).has_value());
}

TEST_F(ShmCacheTest, MissingKeyIsNotFoundAndCounted) {
  ShmCache cache = OpenOrDie(options_);
  Result<ShmEntry> e = cache.Get("nope");
  EXPECT_TRUE(e.status().IsNotFound()) << e.status().ToString();
  EXPECT_THAT(e.status().ToString(), HasSubstr("no entry 'nope'"));
  EXPECT_EQ(cache.Stats().misses, 1u);
  EXPECT_EQ(cache.Stats().hits, 0u);
}

TEST_F(ShmCacheTest, HeldViewSurvivesReplacementAndItsMemoryIsReclaimedAfter) {
  ShmCache cache = OpenOrDie(options_);
  ASSERT_OK(cache.Put("k", Versioned(200, 1)).status());
  const uint64_t baseline = cache.Stats().bytes_used;
  Result<ShmEntry> v1 = cache.Get("k");
  ASSERT_OK(v1.status());
  for (uint64_t v = 2; v <= 20; ++v) ASSERT_OK(cache.Put("k", Versioned(200, v)).status());
  // The old view still reads version 1, whole.
  EXPECT_THAT(std::string(v1->snapshot()[0].name()), HasSubstr("v000001 "));
  EXPECT_OK(v1->snapshot().Verify());
  // Version 1 is held back, and version 2 (linked at the generation the
  // view pinned); not the 17 after.
  EXPECT_GT(cache.Stats().retired_bytes, 0u);
  EXPECT_LE(cache.Stats().retired_bytes, 2 * cache.Stats().entry_bytes);
  Result<ShmEntry> latest = cache.Get("k");
  ASSERT_OK(latest.status());
  EXPECT_THAT(std::string(latest->snapshot()[0].name()), HasSubstr("v000020 "));
  EXPECT_GT(latest->version(), v1->version());
  v1 = Status::NotFound("released");
  latest = Status::NotFound("released");
  ASSERT_OK(cache.Put("k", Versioned(200, 21)).status());
  EXPECT_EQ(cache.Stats().retired_bytes, 0u);
  EXPECT_EQ(cache.Stats().bytes_used, baseline);
}

TEST_F(ShmCacheTest, EntryExpiresAtTtlAndIsDropped) {
  ShmCache cache = OpenOrDie(options_);
  ASSERT_OK(cache.Put("k", MakeTracks(5), 10).status());
  Advance(9);
  EXPECT_OK(cache.Get("k").status());
  Advance(1);  // expires_at <= now
  Result<ShmEntry> e = cache.Get("k");
  EXPECT_TRUE(e.status().IsNotFound());
  EXPECT_THAT(e.status().ToString(), HasSubstr("expired"));
  EXPECT_EQ(cache.Stats().entries, 0u);  // dropped
}

TEST_F(ShmCacheTest, TtlZeroIsAlreadyExpiredAndDefaultIs900Seconds) {
  ShmCache cache = OpenOrDie(options_);
  ASSERT_OK(cache.Put("zero", MakeTracks(1), 0).status());
  EXPECT_TRUE(cache.Get("zero").status().IsNotFound());
  ASSERT_OK(cache.Put("default", MakeTracks(1)).status());
  Advance(899);
  EXPECT_OK(cache.Get("default").status());
  Advance(1);
  EXPECT_TRUE(cache.Get("default").status().IsNotFound());
}

TEST_F(ShmCacheTest, InvalidateTellsWhetherSomethingWasRemoved) {
  ShmCache cache = OpenOrDie(options_);
  ASSERT_OK(cache.Put("k", MakeTracks(3)).status());
  Result<bool> removed = cache.Invalidate("k");
  ASSERT_OK(removed.status());
  EXPECT_TRUE(*removed);
  removed = cache.Invalidate("k");
  ASSERT_OK(removed.status());
  EXPECT_FALSE(*removed);
  EXPECT_TRUE(cache.Get("k").status().IsNotFound());
}

TEST_F(ShmCacheTest, ClearEmptiesAndRemoveExpiredCounts) {
  ShmCache cache = OpenOrDie(options_);
  ASSERT_OK(cache.Put("short1", MakeTracks(2), 5).status());
  ASSERT_OK(cache.Put("short2", MakeTracks(2), 5).status());
  ASSERT_OK(cache.Put("long", MakeTracks(2), 500).status());
  Advance(5);
  Result<uint64_t> n = cache.RemoveExpired();
  ASSERT_OK(n.status());
  EXPECT_EQ(*n, 2u);
  EXPECT_EQ(cache.Stats().entries, 1u);
  ASSERT_OK(cache.Clear());
  EXPECT_EQ(cache.Stats().entries, 0u);
  EXPECT_EQ(cache.Stats().entry_bytes, 0u);
  EXPECT_TRUE(cache.Get("long").status().IsNotFound());
}

TEST_F(ShmCacheTest, LeastRecentlyUsedIsEvictedPastMaxEntries) {
  options_.max_entries = 3;
  ShmCache cache = OpenOrDie(options_);
  for (const char* k : {"a", "b", "c"}) ASSERT_OK(cache.Put(k, MakeTracks(2)).status());
  ASSERT_OK(cache.Get("a").status());  // refreshes a: b is now the oldest
  ASSERT_OK(cache.Put("d", MakeTracks(2)).status());
  EXPECT_TRUE(cache.Get("b").status().IsNotFound());
  for (const char* k : {"a", "c", "d"}) EXPECT_OK(cache.Get(k).status()) << k;
  EXPECT_EQ(cache.Stats().evictions, 1u);
  EXPECT_EQ(cache.Stats().entries, 3u);
}

TEST_F(ShmCacheTest, PutRefreshesRecencyAndReplacingNeverEvicts) {
  options_.max_entries = 2;
  ShmCache cache = OpenOrDie(options_);
  ASSERT_OK(cache.Put("a", MakeTracks(2)).status());
  ASSERT_OK(cache.Put("b", MakeTracks(2)).status());
  ASSERT_OK(cache.Put("a", MakeTracks(3)).status());  // replace: nothing evicted
  EXPECT_EQ(cache.Stats().evictions, 0u);
  EXPECT_EQ(cache.Stats().entries, 2u);
  ASSERT_OK(cache.Put("c", MakeTracks(2)).status());  // b is least recent
  EXPECT_TRUE(cache.Get("b").status().IsNotFound());
  EXPECT_OK(cache.Get("a").status());
}

TEST_F(ShmCacheTest, LeastRecentlyUsedIsEvictedPastMaxBytes) {
  ShmCache probe = OpenOrDie(options_);
  ASSERT_OK(probe.Put("x", MakeTracks(100)).status());
  const uint64_t one = probe.Stats().entry_bytes;
  ASSERT_OK(probe.Clear());
  options_.max_bytes = one * 5 / 2;
  ShmCache cache = OpenOrDie(options_);
  for (const char* k : {"a", "b", "c"}) ASSERT_OK(cache.Put(k, MakeTracks(100)).status());
  EXPECT_TRUE(cache.Get("a").status().IsNotFound());
  EXPECT_EQ(cache.Stats().entries, 2u);
  EXPECT_LE(cache.Stats().entry_bytes, options_.max_bytes);
}

TEST_F(ShmCacheTest, EntryLargerThanTheSegmentFailsAndLeavesTheCacheUnchanged) {
  options_.capacity_bytes = 1 << 20;
  ShmCache cache = OpenOrDie(options_);
  ASSERT_OK(cache.Put("small", MakeTracks(10)).status());
  const ShmStats before = cache.Stats();
  const std::string big = Encode(MakeTracks(8000));
  ASSERT_GT(big.size(), options_.capacity_bytes);
  Result<uint64_t> r = cache.PutImage("big", big.data(), big.size());
  EXPECT_TRUE(r.status().IsResourceExhausted()) << r.status().ToString();
  EXPECT_THAT(r.status().ToString(), HasSubstr("more than the whole segment holds"));
  const ShmStats after = cache.Stats();
  EXPECT_EQ(after.entries, before.entries);
  EXPECT_EQ(after.generation, before.generation);
  EXPECT_EQ(after.evictions, 0u);
  EXPECT_OK(cache.Get("small").status());
}

TEST_F(ShmCacheTest, SegmentFullOfVersionsHeldByReadersIsResourceExhausted) {
  options_.capacity_bytes = 1 << 20;
  ShmCache cache = OpenOrDie(options_);
  const std::vector<TrackRecord> tracks = MakeTracks(800);
  std::vector<ShmEntry> held;
  Status s;
  for (int i = 0; i < 100 && s.ok(); ++i) {
    s = cache.Put("k", tracks).status();
    if (s.ok()) {
      Result<ShmEntry> e = cache.Get("k");
      ASSERT_OK(e.status());
      held.push_back(std::move(e).value());
    }
  }
  ASSERT_TRUE(s.IsResourceExhausted()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr("held by readers"));
  EXPECT_GT(held.size(), 1u);
  for (const ShmEntry& e : held) EXPECT_OK(e.snapshot().Verify());
  held.clear();
  EXPECT_OK(cache.Put("k", tracks).status());
  EXPECT_EQ(cache.Stats().retired_bytes, 0u);
}

TEST_F(ShmCacheTest, PublishSnapshotFileUnderTracksAll) {
  TempDir dir;
  const std::vector<TrackRecord> tracks = MakeTracks(500);
  ASSERT_OK(WriteSnapshot(dir.file("lib.snap"), tracks).status());
  ShmCache cache = OpenOrDie(options_);
  ASSERT_OK(PublishSnapshotFile(cache, dir.file("lib.snap")));
  Result<ShmEntry> e = cache.Get(kAllTracksKey);
  ASSERT_OK(e.status());
  EXPECT_EQ(e->snapshot().size(), 500u);
  EXPECT_EQ(e->image_size(), testing::ReadFileBytes(dir.file("lib.snap")).size());
}

TEST_F(ShmCacheTest, DamagedFileIsRejectedAndTheCacheUnchanged) {
  TempDir dir;
  ASSERT_OK(WriteSnapshot(dir.file("lib.snap"), MakeTracks(100)).status());
  std::string bytes = testing::ReadFileBytes(dir.file("lib.snap"));
  bytes[bytes.size() - 40] ^= 0x10;
  testing::WriteFileBytes(dir.file("bad.snap"), bytes);
  ShmCache cache = OpenOrDie(options_);
  ASSERT_OK(cache.PutFile("k", dir.file("lib.snap")).status());
  const ShmStats before = cache.Stats();
  Status s = cache.PutFile("k", dir.file("bad.snap")).status();
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_TRUE(cache.PutFile("k", dir.file("missing.snap")).status().IsNotFound());
  EXPECT_EQ(cache.Stats().bytes_used, before.bytes_used);
  EXPECT_EQ(cache.Stats().generation, before.generation);
  EXPECT_OK(cache.Get("k").status());
}

// PutFile and PutImage hash the image piece by piece as they copy it
// (256 KiB pieces): a flip in any piece, first or last, is still caught.
TEST_F(ShmCacheTest, FileReadInPiecesIsVerifiedWhole) {
  TempDir dir;
  ASSERT_OK(WriteSnapshot(dir.file("lib.snap"), MakeTracks(6000)).status());
  const std::string good = testing::ReadFileBytes(dir.file("lib.snap"));
  ASSERT_GT(good.size(), 3u * (256 << 10));  // several pieces
  ShmCache cache = OpenOrDie(options_);
  ASSERT_OK(cache.PutFile("k", dir.file("lib.snap")).status());
  for (size_t at : {size_t{100}, size_t{256 << 10}, good.size() / 2, good.size() - 1}) {
    std::string bytes = good;
    bytes[at] ^= 0x01;
    testing::WriteFileBytes(dir.file("bad.snap"), bytes);
    const Status s = cache.PutFile("k", dir.file("bad.snap")).status();
    EXPECT_TRUE(s.IsCorruption()) << "flip at " << at << ": " << s.ToString();
    const Status image = cache.PutImage("k", bytes.data(), bytes.size()).status();
    EXPECT_TRUE(image.IsCorruption()) << "image, flip at " << at << ": " << image.ToString();
  }
  Result<ShmEntry> e = cache.Get("k");
  ASSERT_OK(e.status());
  EXPECT_EQ(e->snapshot().size(), 6000u);
  EXPECT_OK(e->snapshot().Verify());
}

TEST_F(ShmCacheTest, StrayWriteIsCaughtByVerifyOnGetAndTheEntryDropped) {
  options_.verify_on_get = true;
  ShmCache cache = OpenOrDie(options_);
  std::vector<TrackRecord> tracks = MakeTracks(50);
  tracks[7].name = "UNIQUE-MARKER-FOR-STRAY-WRITE";
  ASSERT_OK(cache.Put("k", tracks).status());
  // Flip one byte of the entry through the segment file (shared pages).
  const std::string seg = testing::ReadFileBytes(SegmentPath());
  const size_t at = seg.find("UNIQUE-MARKER");
  ASSERT_NE(at, std::string::npos);
  const int fd = ::open(SegmentPath().c_str(), O_RDWR);
  ASSERT_GE(fd, 0);
  ASSERT_EQ(::pwrite(fd, "X", 1, static_cast<off_t>(at)), 1);
  ::close(fd);
  Result<ShmEntry> e = cache.Get("k");
  EXPECT_TRUE(e.status().IsHashMismatch()) << e.status().ToString();
  EXPECT_EQ(cache.Stats().entries, 0u);
}

TEST_F(ShmCacheTest, StatsCountEntriesBytesReadersHitsAndMisses) {
  ShmCache cache = OpenOrDie(options_);
  ShmStats s = cache.Stats();
  EXPECT_EQ(s.entries, 0u);
  EXPECT_EQ(s.live_readers, 0u);
  EXPECT_EQ(s.max_entries, options_.max_entries);
  EXPECT_EQ(s.reader_slots, options_.max_readers);
  EXPECT_GT(s.capacity, 3u << 20);
  const uint64_t empty_used = s.bytes_used;
  ASSERT_OK(cache.Put("a", MakeTracks(10)).status());
  ASSERT_OK(cache.Put("b", MakeTracks(10)).status());
  ASSERT_OK(cache.Get("a").status());
  ASSERT_OK(cache.Get("b").status());
  (void)cache.Get("c");
  s = cache.Stats();
  EXPECT_EQ(s.entries, 2u);
  EXPECT_GT(s.bytes_used, empty_used);
  EXPECT_GT(s.entry_bytes, 0u);
  EXPECT_EQ(s.hits, 2u);
  EXPECT_EQ(s.misses, 1u);
  EXPECT_EQ(s.live_readers, 1u);  // this handle's slot
  EXPECT_EQ(s.dead_reader_slots, 0u);
  EXPECT_EQ(s.dead_writer_pid, 0);
}

TEST_F(ShmCacheTest, TrackCacheInterface) {
  ShmCache cache = OpenOrDie(options_);
  ShmTrackCache tc(&cache);
  const std::vector<TrackRecord> tracks = MakeTracks(40);
  ASSERT_OK(tc.Put("k", tracks, 60));
  std::optional<std::vector<TrackRecord>> got = tc.Get("k");
  ASSERT_TRUE(got.has_value());
  EXPECT_EQ(*got, tracks);
  ASSERT_OK(tc.Put("empty", std::vector<TrackRecord>{}, 60));
  got = tc.Get("empty");
  ASSERT_TRUE(got.has_value());  // an empty list is a hit
  EXPECT_TRUE(got->empty());
  EXPECT_TRUE(tc.Invalidate("k"));
  EXPECT_FALSE(tc.Invalidate("k"));
  EXPECT_FALSE(tc.Get("k").has_value());
  Advance(60);
  EXPECT_FALSE(tc.Get("empty").has_value());
}

TEST_F(ShmCacheTest, OptionsAreChecked) {
  ShmOptions o = options_;
  o.create_if_missing = false;
  Result<ShmCache> c = ShmCache::Open(o);
  EXPECT_TRUE(c.status().IsNotFound());
  EXPECT_THAT(c.status().ToString(), HasSubstr("trackstore shm publish"));
  EXPECT_EQ(::access(SegmentPath().c_str(), F_OK), -1);  // nothing left behind
  for (const char* bad : {"", "a/b", "..", ".hidden", "sp ace"}) {
    o.name = bad;
    EXPECT_TRUE(ShmCache::Open(o).status().IsInvalidArgument()) << bad;
  }
  o = options_;
  o.capacity_bytes = 64 << 10;
  o.max_entries = 10000;
  EXPECT_TRUE(ShmCache::Open(o).status().IsInvalidArgument());
  ShmCache cache = OpenOrDie(options_);
  EXPECT_TRUE(cache.Put("", MakeTracks(1)).status().IsInvalidArgument());
  EXPECT_TRUE(cache.Put(std::string(5000, 'k'), MakeTracks(1)).status().IsInvalidArgument());
}

TEST_F(ShmCacheTest, EntriesOutliveHandlesAndAreSharedBetweenThem) {
  {
    ShmCache writer = OpenOrDie(options_);
    ASSERT_OK(writer.Put("k", MakeTracks(20)).status());
    ShmCache reader = OpenOrDie(options_);
    EXPECT_OK(reader.Get("k").status());
  }
  ShmCache later = OpenOrDie(options_);
  Result<ShmEntry> e = later.Get("k");
  ASSERT_OK(e.status());
  EXPECT_EQ(e->snapshot().size(), 20u);
}

TEST_F(ShmCacheTest, ReaderSlotsRunOutOnlyWhileTheirOwnersLive) {
  options_.max_readers = 2;
  ShmCache a = OpenOrDie(options_);
  ASSERT_OK(a.Put("k", MakeTracks(3)).status());
  ShmCache b = OpenOrDie(options_);
  ShmCache c = OpenOrDie(options_);
  ASSERT_OK(a.Get("k").status());
  ASSERT_OK(b.Get("k").status());
  Result<ShmEntry> e = c.Get("k");
  EXPECT_TRUE(e.status().IsResourceExhausted()) << e.status().ToString();
  a = std::move(c);  // closes a's handle, freeing its slot
  EXPECT_OK(a.Get("k").status());
}

TEST_F(ShmCacheTest, IndexStaysUsableUnderChurn) {
  options_.max_entries = 8;
  ShmCache cache = OpenOrDie(options_);
  for (int i = 0; i < 500; ++i) {
    const std::string key = "key" + std::to_string(i);
    ASSERT_OK(cache.Put(key, MakeTracks(1)).status()) << i;
    if (i % 3 == 0) {
      Result<bool> r = cache.Invalidate(key);
      ASSERT_OK(r.status());
      ASSERT_TRUE(*r);
    }
    ASSERT_LE(cache.Stats().entries, 8u);
  }
  EXPECT_OK(cache.Get("key499").status());
  EXPECT_OK(cache.Get("key497").status());
  EXPECT_TRUE(cache.Get("key498").status().IsNotFound());  // invalidated (498 % 3 == 0)
}

TEST_F(ShmCacheTest, RemoveTakesTheNameAndAttachedHandlesNotice) {
  ShmCache cache = OpenOrDie(options_);
  ASSERT_OK(cache.Put("k", MakeTracks(3)).status());
  Result<ShmEntry> held = cache.Get("k");
  ASSERT_OK(held.status());
  ASSERT_OK(ShmCache::Remove(options_));
  EXPECT_TRUE(ShmCache::Remove(options_).IsNotFound());
  EXPECT_EQ(::access(SegmentPath().c_str(), F_OK), -1);
  EXPECT_OK(held->snapshot().Verify());  // still mapped
  Result<ShmEntry> e = cache.Get("k");
  EXPECT_TRUE(e.status().IsNotFound()) << e.status().ToString();
  ASSERT_OK(cache.Put("k2", MakeTracks(3)).status());  // a writer creates it anew
  EXPECT_OK(cache.Get("k2").status());
}

// The name swapped to another segment behind the cache's back (nobody set
// `replaced`): a miss checks the name and follows it.
TEST_F(ShmCacheTest, MissFollowsTheNameToANewerSegment) {
  ShmCache cache = OpenOrDie(options_);
  ASSERT_OK(cache.Put("old", MakeTracks(2)).status());
  ShmOptions other = options_;
  other.name += "-other";
  {
    ShmCache o = OpenOrDie(other);
    ASSERT_OK(o.Put("new", MakeTracks(3)).status());
  }
  ASSERT_EQ(::rename((options_.shm_dir + "/" + other.name).c_str(), SegmentPath().c_str()), 0);
  EXPECT_TRUE(ShmCache::Remove(other).IsNotFound());
  Result<ShmEntry> e = cache.Get("new");
  ASSERT_OK(e.status());
  EXPECT_EQ(e->snapshot().size(), 3u);
}

// A segment file that is not ours, or from another layout version, is
// rebuilt when nobody else has it open.
TEST_F(ShmCacheTest, GarbageOrIncompatibleSegmentIsRebuiltWhenAlone) {
  testing::WriteFileBytes(SegmentPath(), std::string(8192, 'x'));
  {
    ShmCache cache = OpenOrDie(options_);
    EXPECT_EQ(cache.Stats().rebuilds, 1u);
    ASSERT_OK(cache.Put("k", MakeTracks(3)).status());
  }
  std::string bytes = testing::ReadFileBytes(SegmentPath());
  bytes[8] = 99;  // layout_version (persisted at offset 8)
  testing::WriteFileBytes(SegmentPath() + ".other", bytes);
  ASSERT_EQ(::rename((SegmentPath() + ".other").c_str(), SegmentPath().c_str()), 0);
  ShmCache cache = OpenOrDie(options_);
  EXPECT_TRUE(cache.Get("k").status().IsNotFound());
  EXPECT_EQ(cache.Stats().max_entries, options_.max_entries);
}

// "In use": a process of the other build has the file open, holding the
// shared "attached" lock on its byte 1 as every handle does.
TEST_F(ShmCacheTest, IncompatibleSegmentInUseIsVersionUnsupported) {
  { ShmCache first = OpenOrDie(options_); }
  std::string bytes = testing::ReadFileBytes(SegmentPath());
  bytes[8] = 99;
  testing::WriteFileBytes(SegmentPath() + ".other", bytes);
  ASSERT_EQ(::rename((SegmentPath() + ".other").c_str(), SegmentPath().c_str()), 0);
  const int fd = ::open(SegmentPath().c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  struct flock attached = {};
  attached.l_type = F_RDLCK;
  attached.l_whence = SEEK_SET;
  attached.l_start = 1;
  attached.l_len = 1;
  ASSERT_EQ(::fcntl(fd, F_OFD_SETLK, &attached), 0);
  Result<ShmCache> second = ShmCache::Open(options_);
  ::close(fd);
  EXPECT_TRUE(second.status().IsVersionUnsupported()) << second.status().ToString();
  EXPECT_THAT(second.status().ToString(), HasSubstr("trackstore shm remove"));
}

// A tmpfs smaller than the capacity is an error at creation, not a
// SIGBUS later. Needs root for the mount; skipped otherwise.
TEST_F(ShmCacheTest, TmpfsTooSmallIsResourceExhausted) {
  TempDir dir;
  if (::mount("tmpfs", dir.path().c_str(), "tmpfs", 0, "size=1m") != 0) {
    GTEST_SKIP() << "cannot mount a tmpfs here: " << std::strerror(errno);
  }
  options_.shm_dir = dir.path();
  options_.capacity_bytes = 8 << 20;
  Result<ShmCache> c = ShmCache::Open(options_);
  EXPECT_TRUE(c.status().IsResourceExhausted()) << c.status().ToString();
  EXPECT_THAT(c.status().ToString(), HasSubstr("MiB free"));
  EXPECT_EQ(::access((dir.path() + "/" + options_.name).c_str(), F_OK), -1);
  EXPECT_EQ(std::distance(std::filesystem::directory_iterator(dir.path()),
                          std::filesystem::directory_iterator()),
            0);  // no temporary file either
  options_.capacity_bytes = 512 << 10;
  options_.max_entries = 16;
  {
    ShmCache small = OpenOrDie(options_);
    EXPECT_OK(small.Put("k", MakeTracks(10)).status());
  }
  (void)ShmCache::Remove(options_);
  ::umount(dir.path().c_str());
}

}  // namespace
}  // namespace trackstore
