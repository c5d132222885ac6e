// Tests of CacheManager, SPEC.md section 7: can use snapshot, load snapshot,
// validated all-or-nothing cache reads, and the update sequence (snapshot,
// metadata, delta state), failure paths included.
#include "trackstore/cache_manager.h"

#include <filesystem>

#include "service_test_util.h"
#include "trackstore/memory_track_cache.h"

namespace trackstore {
namespace {

using testing::DirContents;
using ::testing::ElementsAre;
using testing::FailingEnv;
using ::testing::HasSubstr;
using testing::kHour;
using testing::kStartTime;
using testing::MakeTrack;
using testing::MakeTracks;
using testing::ServiceTest;
using testing::SetMtime;
using testing::WriteFileBytes;

struct LogLine {
  LogLevel level;
  std::string text;
};

class CacheManagerTest : public ServiceTest {
 protected:
  CacheManagerTest() : cache_(CacheOptions()) {}

  MemoryTrackCacheOptions CacheOptions() {
    MemoryTrackCacheOptions o;
    o.clock = [this] { return now_; };
    return o;
  }
  LogSink Sink() {
    return LogSink{[this](LogLevel level, std::string_view text) {
      log_.push_back({level, std::string(text)});
    }};
  }
  CacheManager Manager(SnapshotService* service) { return CacheManager(&cache_, service, Sink()); }

  bool Logged(LogLevel level, std::string_view part) const {
    for (const LogLine& l : log_) {
      if (l.level == level && l.text.find(part) != std::string::npos) return true;
    }
    return false;
  }

  MemoryTrackCache cache_;
  std::vector<LogLine> log_;
};

std::vector<TrackRecord> Records(const Snapshot& snap) {
  std::vector<TrackRecord> out;
  for (TrackView t : snap) out.push_back(t.ToRecord());
  return out;
}

// --- can use snapshot -------------------------------------------------------

TEST_F(CacheManagerTest, CanUseSnapshotNeedsAnEnabledService) {
  EXPECT_FALSE(Manager(nullptr).CanUseSnapshot());
  ServiceOptions o = Options();
  o.enabled = false;
  SnapshotService disabled(o);
  EXPECT_FALSE(Manager(&disabled).CanUseSnapshot());
  SnapshotService enabled(Options());
  EXPECT_TRUE(Manager(&enabled).CanUseSnapshot());
}

// --- load snapshot ----------------------------------------------------------

TEST_F(CacheManagerTest, LoadWithoutServiceIsNoneAndSaysSo) {
  Validity why;
  EXPECT_FALSE(Manager(nullptr).LoadSnapshot(&why).has_value());
  EXPECT_EQ(why.reason, "no snapshot service configured");
  EXPECT_TRUE(Logged(LogLevel::kInfo, "no snapshot service"));
}

TEST_F(CacheManagerTest, LoadWithoutSnapshotIsNone) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(5)));
  std::filesystem::remove(service.snapshot_path());
  Validity why;
  EXPECT_FALSE(m.LoadSnapshot(&why).has_value());
  EXPECT_EQ(why.failed, Validity::Check::kSnapshotMissing);
  EXPECT_TRUE(Logged(LogLevel::kInfo, "snapshot file missing"));
}

TEST_F(CacheManagerTest, LoadOfAStaleSnapshotIsNone) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(5)));
  SetMtime(library(), kStartTime);  // library changed
  now_ += 25 * kHour;
  EXPECT_FALSE(m.LoadSnapshot().has_value());
  EXPECT_TRUE(Logged(LogLevel::kInfo, "older than the maximum age"));
}

TEST_F(CacheManagerTest, LoadOfACorruptSnapshotIsNoneWithAWarning) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(5)));
  WriteFileBytes(service.snapshot_path(), "junk");
  EXPECT_FALSE(m.LoadSnapshot().has_value());
  EXPECT_TRUE(Logged(LogLevel::kWarning, "fails verification"));
}

TEST_F(CacheManagerTest, LoadOfAValidSnapshotReturnsItsTracks) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  const std::vector<TrackRecord> tracks = MakeTracks(50);
  ASSERT_OK(m.UpdateSnapshot(tracks));
  std::optional<Snapshot> snap = m.LoadSnapshot();
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(Records(*snap), tracks);
  EXPECT_EQ(m.LoadSnapshotRecords(), tracks);
}

TEST_F(CacheManagerTest, ValidEmptySnapshotIsEmptyNotNone) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  ASSERT_OK(m.UpdateSnapshot({}));
  std::optional<Snapshot> snap = m.LoadSnapshot();
  ASSERT_TRUE(snap.has_value());
  EXPECT_TRUE(snap->empty());
  std::optional<std::vector<TrackRecord>> records = m.LoadSnapshotRecords();
  ASSERT_TRUE(records.has_value());
  EXPECT_TRUE(records->empty());
}

// --- get cached tracks ------------------------------------------------------

TEST_F(CacheManagerTest, CacheMissIsNone) {
  EXPECT_FALSE(Manager(nullptr).GetCachedTracks(kAllTracksKey).has_value());
  CacheManager no_cache(nullptr, nullptr, Sink());
  EXPECT_FALSE(no_cache.GetCachedTracks(kAllTracksKey).has_value());
}

TEST_F(CacheManagerTest, ValidCachedTracksAreReturned) {
  const std::vector<TrackRecord> tracks = MakeTracks(30);
  ASSERT_OK(cache_.Put(kAllTracksKey, tracks));
  EXPECT_EQ(Manager(nullptr).GetCachedTracks(kAllTracksKey), tracks);
}

TEST_F(CacheManagerTest, EmptyCachedListIsAHit) {
  ASSERT_OK(cache_.Put(kAllTracksKey, {}));
  std::optional<std::vector<TrackRecord>> got = Manager(nullptr).GetCachedTracks(kAllTracksKey);
  ASSERT_TRUE(got.has_value());
  EXPECT_TRUE(got->empty());
}

TEST_F(CacheManagerTest, OneInvalidTrackMakesTheWholeResultAMissWithAWarning) {
  std::vector<TrackRecord> tracks = MakeTracks(5);
  tracks[3].id.clear();
  tracks[4].id.clear();
  ASSERT_OK(cache_.Put("k1", tracks));
  EXPECT_FALSE(Manager(nullptr).GetCachedTracks("k1").has_value());
  ASSERT_EQ(log_.size(), 1u);
  EXPECT_EQ(log_[0].level, LogLevel::kWarning);
  EXPECT_THAT(log_[0].text, HasSubstr("'k1'"));
  EXPECT_THAT(log_[0].text, HasSubstr("index 3"));
}

TEST(ValidateTrackTest, AcceptsWellFormedTracks) {
  for (const TrackRecord& t : MakeTracks(100)) EXPECT_OK(ValidateTrack(t));
  TrackRecord t;
  t.id = "x";
  t.album = std::string("a\0b", 3);  // NUL is only forbidden in id and name
  t.extras_json = " {\"k\": [1, {\"n\": null}]} ";
  EXPECT_OK(ValidateTrack(t));
}

TEST(ValidateTrackTest, RejectsEachKindOfBadTrack) {
  struct Case {
    const char* what;
    void (*edit)(TrackRecord&);
  } cases[] = {
      {"empty id", [](TrackRecord& t) { t.id.clear(); }},
      {"NUL in id",
       [](TrackRecord& t) {
         t.id = std::string(
             "1\0"
             "2",
             3);
       }},
      {"NUL in name", [](TrackRecord& t) { t.name = std::string("a\0", 2); }},
      {"bad UTF-8 in name", [](TrackRecord& t) { t.name = "\xc3"; }},
      {"bad UTF-8 in id", [](TrackRecord& t) { t.id = "\xff"; }},
      {"bad UTF-8 in an optional field", [](TrackRecord& t) { t.album_artist = "ok\xe2\x82"; }},
      {"extras an array", [](TrackRecord& t) { t.extras_json = "[1]"; }},
      {"extras a number", [](TrackRecord& t) { t.extras_json = "5"; }},
      {"extras broken JSON", [](TrackRecord& t) { t.extras_json = "{\"a\":"; }},
      {"extras trailing text", [](TrackRecord& t) { t.extras_json = "{} {}"; }},
      {"extras bad UTF-8", [](TrackRecord& t) { t.extras_json = "{\"a\":\"\xff\"}"; }},
  };
  for (const Case& c : cases) {
    TrackRecord t = MakeTrack(1);
    c.edit(t);
    Status s = ValidateTrack(t);
    EXPECT_TRUE(s.IsInvalidArgument()) << c.what << ": " << s.ToString();
  }
}

// --- update snapshot --------------------------------------------------------

TEST_F(CacheManagerTest, UpdateDoesNothingWhenDisabledOrWithoutService) {
  ServiceOptions o = Options();
  o.enabled = false;
  SnapshotService service(o);
  ASSERT_OK(Manager(&service).UpdateSnapshot(MakeTracks(5)));
  ASSERT_OK(Manager(nullptr).UpdateSnapshot(MakeTracks(5)));
  EXPECT_TRUE(DirContents(service_dir()).empty());
}

TEST_F(CacheManagerTest, UpdateWritesSnapshotAndMetadata) {
  SnapshotService service(Options());
  ASSERT_OK(Manager(&service).UpdateSnapshot(MakeTracks(40)));
  Result<Snapshot> snap = Snapshot::Open(service.snapshot_path());
  ASSERT_OK(snap.status());
  Result<SnapshotMetadata> meta = service.ReadMetadata();
  ASSERT_OK(meta.status());
  EXPECT_EQ(meta->format_version, kMetadataFormatVersion);
  EXPECT_EQ(meta->last_full_scan, now_);
  EXPECT_EQ(meta->library_mtime, kStartTime - kHour);  // the library's current mtime
  EXPECT_EQ(meta->track_count, 40u);
  EXPECT_EQ(meta->snapshot_hash, snap->content_hash());
  EXPECT_FALSE(meta->last_force_scan.has_value());
  EXPECT_TRUE(service.CheckValidity().valid);
}

TEST_F(CacheManagerTest, UpdateUsesTheMtimeOverrideWithoutReadingTheLibrary) {
  std::filesystem::remove(library());  // reading it would fail
  SnapshotService service(Options());
  ASSERT_OK(Manager(&service).UpdateSnapshot(MakeTracks(3), {}, 42));
  EXPECT_EQ(service.ReadMetadata()->library_mtime, 42);
}

// The override is taken before the fetch: a track added during the fetch
// moves the library mtime past it, which shows as a change next time.
TEST_F(CacheManagerTest, MtimeOverrideTakenBeforeTheFetchShowsLaterChanges) {
  SnapshotService service(Options());
  const Micros before_fetch = *service.LibraryMtime();
  SetMtime(library(), kStartTime - 1);  // a track was added during the fetch
  ASSERT_OK(Manager(&service).UpdateSnapshot(MakeTracks(3), {}, before_fetch));
  now_ += 25 * kHour;
  EXPECT_EQ(service.CheckValidity().failed, Validity::Check::kMaxAge);
}

TEST_F(CacheManagerTest, UpdateKeepsTheLastForceScanTime) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(3)));
  ASSERT_OK(service.RecordForceScan());
  const Micros forced_at = now_;
  now_ += kHour;
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(4)));
  Result<SnapshotMetadata> meta = service.ReadMetadata();
  EXPECT_EQ(meta->last_force_scan, forced_at);
  EXPECT_EQ(meta->last_full_scan, now_);
  EXPECT_EQ(meta->track_count, 4u);
}

TEST_F(CacheManagerTest, UpdateStartsAFreshDeltaStateWithTheProcessedIds) {
  SnapshotService service(Options());
  const std::vector<std::string> ids = {"7", "", "8", "7"};
  ASSERT_OK(Manager(&service).UpdateSnapshot(MakeTracks(3), ids));
  Result<DeltaState> d = service.ReadDeltaState();
  ASSERT_OK(d.status());
  EXPECT_EQ(d->last_run, now_);
  EXPECT_THAT(d->processed_ids, ElementsAre("7", "8"));  // empty id dropped
  EXPECT_EQ(d->tracked_since, now_);
}

TEST_F(CacheManagerTest, UpdateAddsToTheStoredDeltaState) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  const std::vector<std::string> first = {"a"}, second = {"b"};
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(3), first));
  const Micros started = now_;
  now_ += kMicrosPerDay;
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(3), second));
  Result<DeltaState> d = service.ReadDeltaState();
  EXPECT_THAT(d->processed_ids, ElementsAre("a", "b"));
  EXPECT_EQ(d->last_run, now_);
  EXPECT_EQ(d->tracked_since, started);
}

TEST_F(CacheManagerTest, UpdateReplacesADeltaStateDueForReset) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  const std::vector<std::string> first = {"a"}, second = {"b"};
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(3), first));
  now_ += 7 * kMicrosPerDay + 1;
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(3), second));
  Result<DeltaState> d = service.ReadDeltaState();
  EXPECT_THAT(d->processed_ids, ElementsAre("b"));
  EXPECT_EQ(d->tracked_since, now_);
}

// Without processed ids, a fresh delta state still starts its tracking
// window: tracked_since is set to now.
TEST_F(CacheManagerTest, UpdateWithoutIdsStartsTheTrackingWindow) {
  SnapshotService service(Options());
  const std::vector<std::string> only_empty = {""};
  ASSERT_OK(Manager(&service).UpdateSnapshot(MakeTracks(3), only_empty));
  Result<DeltaState> d = service.ReadDeltaState();
  ASSERT_OK(d.status());
  EXPECT_EQ(d->last_run, now_);
  EXPECT_TRUE(d->processed_ids.empty());
  EXPECT_EQ(d->tracked_since, now_);
}

// The window started by an update without ids does not slide with later
// runs: 8 days on, the ids of the second update are reset.
TEST_F(CacheManagerTest, TrackingWindowStartedWithoutIdsDoesNotSlide) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(3)));
  const Micros started = now_;
  now_ += 4 * kMicrosPerDay;
  const std::vector<std::string> first = {"a"};
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(3), first));
  Result<DeltaState> d = service.ReadDeltaState();
  EXPECT_EQ(d->tracked_since, started);
  now_ += 4 * kMicrosPerDay;  // 8 days after the window started
  const std::vector<std::string> second = {"b"};
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(3), second));
  d = service.ReadDeltaState();
  EXPECT_THAT(d->processed_ids, ElementsAre("b"));
  EXPECT_EQ(d->tracked_since, now_);
}

TEST_F(CacheManagerTest, UpdateWithDeltasDisabledWritesNoDeltaState) {
  ServiceOptions o = Options();
  o.delta_enabled = false;
  SnapshotService service(o);
  const std::vector<std::string> ids = {"a"};
  ASSERT_OK(Manager(&service).UpdateSnapshot(MakeTracks(3), ids));
  EXPECT_TRUE(service.CheckValidity().valid);
  EXPECT_FALSE(std::filesystem::exists(service.delta_state_path()));
}

TEST_F(CacheManagerTest, FailingLibraryMtimeReadWritesNothing) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  const std::vector<std::string> ids = {"a"};
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(10), ids));
  const auto before = DirContents(service_dir());
  ASSERT_EQ(before.size(), 3u);

  std::filesystem::remove(library());
  now_ += kHour;
  const std::vector<std::string> more = {"b"};
  Status s = m.UpdateSnapshot(MakeTracks(20), more);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_EQ(DirContents(service_dir()), before);
}

TEST_F(CacheManagerTest, InvalidInputWritesNothing) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(10)));
  const auto before = DirContents(service_dir());
  const std::vector<std::string> bad_ids = {"ok", "\xff"};
  EXPECT_TRUE(m.UpdateSnapshot(MakeTracks(5), bad_ids).IsInvalidArgument());
  std::vector<TrackRecord> dup = MakeTracks(5);
  dup.push_back(dup[0]);
  EXPECT_TRUE(m.UpdateSnapshot(dup).IsInvalidArgument());
  EXPECT_EQ(DirContents(service_dir()), before);
}

// A failed metadata write after the snapshot was replaced: the pair must
// read as invalid, never as a valid but wrong snapshot.
TEST_F(CacheManagerTest, FailedMetadataWriteLeavesAnInvalidSnapshot) {
  SnapshotService good(Options());
  ASSERT_OK(Manager(&good).UpdateSnapshot(MakeTracks(10)));

  FailingEnv env{std::string(kMetadataFileName)};
  ServiceOptions o = Options();
  o.env = &env;
  SnapshotService failing(o);
  Status s = Manager(&failing).UpdateSnapshot(MakeTracks(11));
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  Validity v = good.CheckValidity();
  EXPECT_FALSE(v.valid);
  EXPECT_EQ(v.failed, Validity::Check::kSnapshotContent) << v.reason;
}

TEST_F(CacheManagerTest, MergePublishesTheMergedSnapshot) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  std::vector<TrackRecord> tracks = MakeTracks(20);
  ASSERT_OK(m.UpdateSnapshot(tracks));
  std::optional<Snapshot> base = m.LoadSnapshot();
  ASSERT_TRUE(base.has_value());

  std::vector<TrackRecord> updates = {MakeTrack(5), MakeTrack(20)};
  updates[0].genre = "Changed";
  const std::vector<std::string> ids = {updates[0].id, updates[1].id};
  now_ += kHour;
  ASSERT_OK(m.Merge(*base, updates, ids));

  tracks[5] = updates[0];
  tracks.push_back(updates[1]);
  std::optional<Snapshot> merged = m.LoadSnapshot();
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(Records(*merged), tracks);
  EXPECT_EQ(service.ReadMetadata()->last_full_scan, now_);
  EXPECT_EQ(service.ReadDeltaState()->processed_ids.size(), 2u);
  EXPECT_EQ(base->size(), 20u);  // the base stays mapped and valid
}

TEST_F(CacheManagerTest, DefaultLogSinkWritesWarningsAndUpToStderr) {
  ::testing::internal::CaptureStderr();
  LogSink sink = LogSink::Stderr();
  sink.write(LogLevel::kInfo, "quiet");
  sink.write(LogLevel::kWarning, "loud");
  sink.write(LogLevel::kError, "louder");
  const std::string err = ::testing::internal::GetCapturedStderr();
  EXPECT_EQ(err, "trackstore: warning: loud\ntrackstore: error: louder\n");
}

}  // namespace
}  // namespace trackstore
