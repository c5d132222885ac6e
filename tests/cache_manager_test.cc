// Tests of CacheManager, doc/behaviour.md section 7: can use snapshot, load snapshot,
// validated all-or-nothing cache reads, and the update (tracks, metadata and
// delta state as one store commit), failure paths included.
#include "trackstore/cache_manager.h"

#include <filesystem>
#include <functional>

#include "service_test_util.h"
#include "trackstore/memory_track_cache.h"

namespace trackstore {
namespace {

using testing::DirContents;
using ::testing::ElementsAre;
using testing::FaultEnv;
using testing::FileNames;
using ::testing::HasSubstr;
using testing::kHour;
using testing::kStartTime;
using testing::MakeTrack;
using testing::MakeTracks;
using testing::ReplaceFileBytes;
using testing::ServiceTest;
using testing::SetMtime;

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

std::vector<TrackRecord> Records(const Version& v) {
  std::vector<TrackRecord> out;
  for (TrackView t : v) out.push_back(t.ToRecord());
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
  Validity why;
  EXPECT_FALSE(m.LoadSnapshot(&why).has_value());  // no store at all
  EXPECT_EQ(why.failed, Validity::Check::kMetadata);
  EXPECT_TRUE(Logged(LogLevel::kInfo, "no usable metadata"));
}

// A version whose files are gone is incomplete: a warning, like damage.
TEST_F(CacheManagerTest, LoadOfAVersionWithAMissingFileIsNoneWithAWarning) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(5)));
  for (const std::string& f : Fragments()) std::filesystem::remove(f);
  Validity why;
  EXPECT_FALSE(m.LoadSnapshot(&why).has_value());
  EXPECT_EQ(why.failed, Validity::Check::kSnapshotMissing);
  EXPECT_TRUE(Logged(LogLevel::kWarning, "missing file"));
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
  for (const std::string& f : Fragments()) ReplaceFileBytes(f, "junk");
  EXPECT_FALSE(m.LoadSnapshot().has_value());
  EXPECT_TRUE(Logged(LogLevel::kWarning, "fails verification"));
}

TEST_F(CacheManagerTest, LoadOfAValidSnapshotReturnsItsTracks) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  const std::vector<TrackRecord> tracks = MakeTracks(50);
  ASSERT_OK(m.UpdateSnapshot(tracks));
  std::optional<Version> snap = m.LoadSnapshot();
  ASSERT_TRUE(snap.has_value());
  EXPECT_EQ(Records(*snap), tracks);
  EXPECT_EQ(m.LoadSnapshotRecords(), tracks);
}

TEST_F(CacheManagerTest, ValidEmptySnapshotIsEmptyNotNone) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  ASSERT_OK(m.UpdateSnapshot({}));
  std::optional<Version> snap = m.LoadSnapshot();
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
  Result<Version> snap = (*service.store())->Current();
  ASSERT_OK(snap.status());
  EXPECT_EQ(snap->number(), 1u);  // one commit: tracks, metadata and delta state
  EXPECT_EQ(Records(*snap), MakeTracks(40));
  Result<SnapshotMetadata> meta = service.ReadMetadata();
  ASSERT_OK(meta.status());
  EXPECT_EQ(meta->format_version, kMetadataFormatVersion);
  EXPECT_EQ(meta->last_full_scan, now_);
  EXPECT_EQ(meta->library_mtime, kStartTime - kHour);  // the library's current mtime
  EXPECT_EQ(meta->track_count, 40u);
  EXPECT_EQ(meta->snapshot_hash, snap->content_hash());
  EXPECT_FALSE(meta->last_force_scan.has_value());
  EXPECT_TRUE(service.CheckValidity().valid);
  EXPECT_TRUE(Logged(LogLevel::kInfo, "snapshot updated: version 1, 40 tracks"));
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

// Adding ids sets tracked_since when unset, even when adding
// none, so an update without ids on a fresh state starts the window now;
// later updates without ids keep it.
TEST_F(CacheManagerTest, UpdateWithoutIdsStartsTheTrackingWindowOfAFreshState) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  const std::vector<std::string> only_empty = {""};
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(3), only_empty));
  Result<DeltaState> d = service.ReadDeltaState();
  ASSERT_OK(d.status());
  EXPECT_EQ(d->last_run, now_);
  EXPECT_TRUE(d->processed_ids.empty());
  EXPECT_EQ(d->tracked_since, now_);

  const Micros started = now_;
  now_ += kHour;
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(3)));
  d = service.ReadDeltaState();
  ASSERT_OK(d.status());
  EXPECT_EQ(d->last_run, now_);
  EXPECT_EQ(d->tracked_since, started);
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
  EXPECT_TRUE(service.ReadDeltaState().status().IsNotFound());
  EXPECT_TRUE(FileNames(file("state")).empty());
}

// A state stored while deltas were enabled is neither read nor replaced by
// an update with deltas disabled: the new version carries it unchanged.
TEST_F(CacheManagerTest, UpdateWithDeltasDisabledKeepsTheStoredDeltaState) {
  SnapshotService enabled(Options());
  const std::vector<std::string> first = {"a"};
  ASSERT_OK(Manager(&enabled).UpdateSnapshot(MakeTracks(3), first));
  const DeltaState before = *enabled.ReadDeltaState();

  ServiceOptions o = Options();
  o.delta_enabled = false;
  SnapshotService disabled(o);
  now_ += kHour;
  const std::vector<std::string> second = {"b"};
  ASSERT_OK(Manager(&disabled).UpdateSnapshot(MakeTracks(4), second));
  EXPECT_EQ(enabled.ReadMetadata()->track_count, 4u);
  EXPECT_EQ(enabled.ReadMetadata()->last_full_scan, now_);
  EXPECT_EQ(*enabled.ReadDeltaState(), before);
}

// A version whose library files are lost is invalid (validity step 5);
// the full scan that follows must be able to publish a new version, and the
// stored delta state is added to (only a missing,
// unreadable or due state reads as none). A replacement reads only the
// parent's manifest, never its fragments.
TEST_F(CacheManagerTest, UpdateRepairsAVersionWhoseLibraryFilesWereLost) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  const std::vector<std::string> first = {"a"}, second = {"b"};
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(3), first));
  const Micros started = now_;
  for (const std::string& f : Fragments()) std::filesystem::remove(f);
  ASSERT_FALSE(m.LoadSnapshot().has_value());
  now_ += kHour;
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(4), second));
  Result<DeltaState> d = service.ReadDeltaState();
  ASSERT_OK(d.status());
  EXPECT_THAT(d->processed_ids, ElementsAre("a", "b"));
  EXPECT_EQ(d->tracked_since, started);
  EXPECT_TRUE(m.LoadSnapshot().has_value());

  for (const std::string& f : Fragments()) ReplaceFileBytes(f, "junk");
  ASSERT_FALSE(m.LoadSnapshot().has_value());
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(5)));
  EXPECT_TRUE(m.LoadSnapshot().has_value());
}

TEST_F(CacheManagerTest, FailingLibraryMtimeReadWritesNothing) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  const std::vector<std::string> ids = {"a"};
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(10), ids));
  const auto before = DirContents(service_dir());
  ASSERT_EQ(Manifests().size(), 1u);

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
  std::vector<TrackRecord> empty_id = {MakeTrack(1)};
  empty_id[0].id.clear();
  EXPECT_TRUE(m.CommitDelta(empty_id).IsInvalidArgument());
  EXPECT_TRUE(m.CommitDelta(MakeTracks(2), {}, bad_ids).IsInvalidArgument());
  EXPECT_EQ(DirContents(service_dir()), before);
}

// Tracks, metadata and delta state are one commit: an update that fails at
// any file operation leaves the previous version current and valid, all
// three together, and no temporary file behind; the update then succeeds.
TEST_F(CacheManagerTest, UpdateFailingAtAnyFileOperationKeepsThePreviousVersion) {
  FaultEnv env;
  env.set_partial_writes(true);  // a failed write leaves half of its bytes, as a full disk would
  ServiceOptions o = Options();
  o.env = &env;
  o.store.sync = true;  // directory syncs are operations that can fail too
  SnapshotService service(o);
  CacheManager m = Manager(&service);
  std::vector<TrackRecord> tracks = MakeTracks(20);
  ASSERT_OK(m.UpdateSnapshot(tracks, std::vector<std::string>{"first"}));

  struct Update {
    const char* what;
    std::function<Status(int)> run;  // the attempt's number, for distinct contents
  };
  const Update updates[] = {
      {"UpdateSnapshot",
       [&](int k) {
         return m.UpdateSnapshot(MakeTracks(21 + k % 3), std::vector<std::string>{"u"});
       }},
      {"CommitDelta",
       [&](int k) {
         TrackRecord t = MakeTrack(3);
         t.name = "attempt " + std::to_string(k);
         return m.CommitDelta(std::vector<TrackRecord>{t, MakeTrack(100 + k)},
                              std::vector<std::string>{MakeTrack(k).id},
                              std::vector<std::string>{t.id});
       }},
  };
  for (const Update& u : updates) {
    for (int k = 1;; ++k) {
      now_ += kMicrosPerSecond;
      const SnapshotMetadata meta_before = *service.ReadMetadata();
      const DeltaState delta_before = *service.ReadDeltaState();
      std::optional<std::vector<TrackRecord>> tracks_before = m.LoadSnapshotRecords();
      ASSERT_TRUE(tracks_before.has_value());
      const size_t versions = Manifests().size();
      env.FailAt(k, FaultEnv::Action::kFail, testing::ChangingOps());
      const Status s = u.run(k);
      if (!env.failed()) {  // k is past the last operation: the update succeeded
        ASSERT_OK(s) << u.what;
        EXPECT_EQ(service.ReadMetadata()->last_full_scan, now_) << u.what;
        break;
      }
      const bool published = env.manifest_published();
      env.FailAt(0);
      // After the commit point only syncing the manifest directory fails the
      // call; a failed compaction or gc after it leaves the commit done.
      if (!published) {
        EXPECT_FALSE(s.ok()) << u.what << ", operation " << k;
      }
      EXPECT_TRUE(FileNames(file("tmp")).empty()) << u.what << ", operation " << k;
      Validity why;
      std::optional<std::vector<TrackRecord>> now_tracks = m.LoadSnapshotRecords(&why);
      ASSERT_TRUE(now_tracks.has_value()) << u.what << ", operation " << k << ": " << why.reason;
      if (published) {
        // Failed after the commit point (syncing it, cleaning up): the new
        // version is current, complete and valid.
        EXPECT_EQ(service.ReadMetadata()->last_full_scan, now_) << u.what << ", operation " << k;
      } else {
        EXPECT_EQ(Manifests().size(), versions) << u.what << ", operation " << k;
        EXPECT_EQ(*now_tracks, *tracks_before) << u.what << ", operation " << k;
        EXPECT_EQ(*service.ReadMetadata(), meta_before) << u.what << ", operation " << k;
        EXPECT_EQ(*service.ReadDeltaState(), delta_before) << u.what << ", operation " << k;
      }
      // The same update, retried without a failure, succeeds.
      ASSERT_OK(u.run(k)) << u.what << ", operation " << k;
      EXPECT_EQ(service.ReadMetadata()->last_full_scan, now_) << u.what << ", operation " << k;
      EXPECT_TRUE(service.CheckValidity().valid) << u.what << ", operation " << k;
    }
  }
}

TEST_F(CacheManagerTest, CommitDeltaPublishesTheLayeredVersion) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  std::vector<TrackRecord> tracks = MakeTracks(20);
  ASSERT_OK(m.UpdateSnapshot(tracks, std::vector<std::string>{"first"}));
  std::optional<Version> base = m.LoadSnapshot();
  ASSERT_TRUE(base.has_value());

  std::vector<TrackRecord> updates = {MakeTrack(5), MakeTrack(20)};
  updates[0].genre = "Changed";
  const std::vector<std::string> removed = {MakeTrack(7).id};
  const std::vector<std::string> ids = {updates[0].id, updates[1].id};
  now_ += kHour;
  SetMtime(library(), kStartTime - 1);
  ASSERT_OK(m.CommitDelta(updates, removed, ids));

  tracks[5] = updates[0];
  tracks.push_back(updates[1]);
  tracks.erase(tracks.begin() + 7);
  std::optional<Version> merged = m.LoadSnapshot();
  ASSERT_TRUE(merged.has_value());
  EXPECT_EQ(Records(*merged), tracks);
  EXPECT_EQ(merged->number(), 2u);  // one commit
  ASSERT_EQ(merged->info().fragments.size(), 2u);
  EXPECT_TRUE(merged->info().fragments[1].delta);  // only the change was written
  Result<SnapshotMetadata> meta = service.ReadMetadata();
  ASSERT_OK(meta.status());
  EXPECT_EQ(meta->last_full_scan, now_);
  EXPECT_EQ(meta->library_mtime, kStartTime - 1);
  EXPECT_EQ(meta->track_count, 20u);
  EXPECT_EQ(meta->snapshot_hash, merged->content_hash());
  EXPECT_THAT(service.ReadDeltaState()->processed_ids, ElementsAre("1005", "1020", "first"));
  EXPECT_EQ(base->size(), 20u);  // the base stays mapped and valid
  EXPECT_EQ(Records(*base), MakeTracks(20));
}

TEST_F(CacheManagerTest, CommitDeltaDoesNothingWhenDisabled) {
  ServiceOptions o = Options();
  o.enabled = false;
  SnapshotService service(o);
  ASSERT_OK(Manager(&service).CommitDelta(MakeTracks(2)));
  ASSERT_OK(Manager(nullptr).CommitDelta(MakeTracks(2)));
  EXPECT_TRUE(DirContents(service_dir()).empty());
  EXPECT_TRUE(FileNames(service_dir()).empty());
}

TEST_F(CacheManagerTest, CommitDeltaReadsTheLibraryFirstAndWritesNothingOnFailure) {
  SnapshotService service(Options());
  CacheManager m = Manager(&service);
  ASSERT_OK(m.UpdateSnapshot(MakeTracks(10)));
  const auto before = DirContents(service_dir());
  std::filesystem::remove(library());
  EXPECT_TRUE(m.CommitDelta(MakeTracks(12)).IsNotFound());
  EXPECT_EQ(DirContents(service_dir()), before);
  ASSERT_OK(m.CommitDelta(MakeTracks(12), {}, {}, 42));  // the override needs no library
  EXPECT_EQ(service.ReadMetadata()->library_mtime, 42);
  EXPECT_EQ(service.ReadMetadata()->track_count, 12u);
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
