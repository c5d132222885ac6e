// Tests of the delta-processing state, doc/behaviour.md section 6: the reset rule
// (>= 50,000 ids; strictly more than 7 days), adding ids, the JSON form,
// and loading/saving through SnapshotService, where the state is kept with
// a store version (only when snapshots and deltas are both enabled).
#include "trackstore/delta_state.h"

#include <filesystem>

#include "service_test_util.h"
#include "trackstore/snapshot_service.h"
#include "trackstore/store.h"

namespace trackstore {
namespace {

using testing::DirContents;
using testing::FileNames;
using ::testing::HasSubstr;
using testing::kStartTime;
using testing::ReadFileBytes;
using testing::ReplaceFileBytes;
using testing::ServiceTest;

constexpr Micros kNow = kStartTime;

std::vector<std::string> Ids(size_t n, const std::string& prefix = "id") {
  std::vector<std::string> ids;
  for (size_t i = 0; i < n; ++i) ids.push_back(prefix + std::to_string(i));
  return ids;
}

DeltaState WithIds(size_t n) {
  DeltaState d;
  d.last_run = kNow;
  d.tracked_since = kNow;
  std::vector<std::string> ids = Ids(n);
  d.processed_ids.insert(ids.begin(), ids.end());
  return d;
}

// --- the reset rule ---------------------------------------------------------

TEST(DeltaStateTest, Holding49999IdsIsNotDueFor50000Is) {
  EXPECT_FALSE(WithIds(49'999).IsDueForReset(kNow));
  EXPECT_TRUE(WithIds(50'000).IsDueForReset(kNow));
}

TEST(DeltaStateTest, DueOnlyWhenStrictlyMoreThanSevenDaysSinceTrackedSince) {
  DeltaState d = WithIds(1);
  d.last_run = kNow + 6 * kMicrosPerDay;  // ignored while tracked_since is set
  EXPECT_FALSE(d.IsDueForReset(kNow + 7 * kMicrosPerDay));
  EXPECT_TRUE(d.IsDueForReset(kNow + 7 * kMicrosPerDay + 1));
}

TEST(DeltaStateTest, UsesLastRunWhenTrackedSinceIsUnset) {
  DeltaState d;
  d.last_run = kNow;
  EXPECT_FALSE(d.IsDueForReset(kNow + 7 * kMicrosPerDay));
  EXPECT_TRUE(d.IsDueForReset(kNow + 7 * kMicrosPerDay + 1));
}

TEST(DeltaStateTest, AFutureWindowStartIsNotDue) {
  DeltaState d = WithIds(1);
  d.tracked_since = kNow + kMicrosPerDay;
  EXPECT_FALSE(d.IsDueForReset(kNow));
}

// --- adding ids -------------------------------------------------------------

TEST(DeltaStateTest, AddingWhenDueClearsIdsAndRestartsTheWindowFirst) {
  DeltaState d = WithIds(3);
  const Micros later = kNow + 8 * kMicrosPerDay;
  d.AddProcessedIds(Ids(2, "new"), later);
  EXPECT_EQ(d.processed_ids, (std::set<std::string>{"new0", "new1"}));
  EXPECT_EQ(d.tracked_since, later);
}

TEST(DeltaStateTest, AddingAt50000IdsResetsBeforeAdding) {
  DeltaState d = WithIds(50'000);
  d.AddProcessedIds(Ids(1, "x"), kNow + 1);
  EXPECT_EQ(d.processed_ids, (std::set<std::string>{"x0"}));
  EXPECT_EQ(d.tracked_since, kNow + 1);
}

TEST(DeltaStateTest, LimitIsCheckedBeforeAddingNotAfter) {
  DeltaState d = WithIds(49'999);
  d.AddProcessedIds(Ids(5, "x"), kNow);
  EXPECT_EQ(d.processed_ids.size(), 50'004u);
  EXPECT_EQ(d.tracked_since, kNow);
}

TEST(DeltaStateTest, AddingSetsTrackedSinceWhenUnsetEvenWithNoIds) {
  DeltaState d;
  d.last_run = kNow;
  d.AddProcessedIds({}, kNow + 5);
  EXPECT_EQ(d.tracked_since, kNow + 5);
  EXPECT_TRUE(d.processed_ids.empty());
}

TEST(DeltaStateTest, AddingKeepsTheWindowWhenNotDue) {
  DeltaState d = WithIds(2);
  d.AddProcessedIds(Ids(4), kNow + kMicrosPerDay);
  EXPECT_EQ(d.tracked_since, kNow);
  EXPECT_EQ(d.processed_ids.size(), 4u);  // id0, id1 were there already
}

TEST(DeltaStateTest, IdsAreExactBytes) {
  DeltaState d;
  d.AddProcessedIds(std::vector<std::string>{"01", "1", "A", "a", "a ", " a"}, kNow);
  EXPECT_EQ(d.processed_ids.size(), 6u);
}

TEST(DeltaStateTest, ResetKeepsFieldHashes) {
  DeltaState d = WithIds(50'000);
  d.field_hashes["id1"] = "abc";
  EXPECT_TRUE(d.ResetIfDue(kNow));
  EXPECT_TRUE(d.processed_ids.empty());
  EXPECT_EQ(d.field_hashes.at("id1"), "abc");
}

// --- JSON -------------------------------------------------------------------

TEST(DeltaStateTest, JsonRoundTripsExactly) {
  DeltaState d = WithIds(100);
  d.processed_ids.insert("caf\u00e9 \"quoted\" \\ \n");
  d.field_hashes = {{"id1", "h1"}, {"\u65e5\u672c", "{opaque: [text]}"}};
  for (std::optional<Micros> since : {std::optional<Micros>(), std::optional<Micros>(-5)}) {
    d.tracked_since = since;
    Result<std::string> json = d.ToJson();
    ASSERT_OK(json.status());
    Result<DeltaState> back = DeltaState::FromJson(*json, "test");
    ASSERT_OK(back.status());
    EXPECT_EQ(*back, d);
  }
}

TEST(DeltaStateTest, ToJsonRejectsAnIdThatIsNotUtf8) {
  DeltaState d;
  d.processed_ids.insert("bad\xff");
  EXPECT_TRUE(d.ToJson().status().IsInvalidArgument());
}

TEST(DeltaStateTest, FromJsonRejectsBrokenIncompleteOrOtherVersionText) {
  const char* cases[] = {
      "",
      "{\"format_version\":1,\"last_run\":5,\"processed_ids\":[",  // partial write
      "[]",
      R"({"last_run":5,"processed_ids":[],"field_hashes":{}})",
      R"({"format_version":2,"last_run":5,"processed_ids":[],"field_hashes":{}})",
      R"({"format_version":1,"processed_ids":[],"field_hashes":{}})",
      R"({"format_version":1,"last_run":"5","processed_ids":[],"field_hashes":{}})",
      R"({"format_version":1,"last_run":5,"field_hashes":{}})",
      R"({"format_version":1,"last_run":5,"processed_ids":[1],"field_hashes":{}})",
      R"({"format_version":1,"last_run":5,"processed_ids":[]})",
      R"({"format_version":1,"last_run":5,"processed_ids":[],"field_hashes":{"a":1}})",
      R"({"format_version":1,"last_run":5,"tracked_since":1.5,"processed_ids":[],"field_hashes":{}})",
  };
  for (const char* text : cases) {
    Result<DeltaState> d = DeltaState::FromJson(text, "delta_state.json");
    EXPECT_TRUE(d.status().IsInvalidArgument()) << text;
    EXPECT_THAT(d.status().message(), HasSubstr("delta_state.json")) << text;
  }
}

// --- through SnapshotService ------------------------------------------------

class DeltaServiceTest : public ServiceTest {
 protected:
  // Stores `d` as it is (not reset, unlike SaveDeltaState) with the current
  // tracks, through the store itself.
  void WriteState(const DeltaState& d) {
    Result<Store> store = Store::Open(service_dir());
    ASSERT_OK(store.status());
    CommitOptions c;
    c.delta_state = d;
    ASSERT_OK(store->SetState(c).status());
  }

  // The paths of the store's delta-state files.
  std::vector<std::string> StateFiles() const {
    std::vector<std::string> paths;
    for (const std::string& name : FileNames(file("state"))) {
      paths.push_back(file("state/" + name));
    }
    return paths;
  }
};

TEST_F(DeltaServiceTest, LoadReturnsTheStoredState) {
  DeltaState d = WithIds(10);
  d.field_hashes["id3"] = "h";
  WriteState(d);
  SnapshotService service(Options());
  std::optional<DeltaState> loaded = service.LoadDeltaState();
  ASSERT_TRUE(loaded.has_value());
  EXPECT_EQ(*loaded, d);
}

TEST_F(DeltaServiceTest, LoadWithoutAStoredStateIsNone) {
  SnapshotService service(Options());  // no store yet
  EXPECT_FALSE(service.LoadDeltaState().has_value());
  EXPECT_TRUE(service.ReadDeltaState().status().IsNotFound());
  EXPECT_TRUE(FileNames(service_dir()).empty());  // reading creates nothing

  ASSERT_OK(service.SaveSnapshot(testing::MakeTracks(3)).status());  // a version without one
  EXPECT_FALSE(service.LoadDeltaState().has_value());
  EXPECT_TRUE(service.ReadDeltaState().status().IsNotFound());
}

TEST_F(DeltaServiceTest, LoadOfAnUnreadableStateIsNone) {
  WriteState(WithIds(3));
  SnapshotService service(Options());
  ASSERT_TRUE(service.LoadDeltaState().has_value());
  const std::vector<std::string> states = StateFiles();
  ASSERT_EQ(states.size(), 1u);
  const std::string good = ReadFileBytes(states[0]);

  ReplaceFileBytes(states[0], "{\"format_version\":1,\"last_r");  // torn
  EXPECT_FALSE(service.ReadDeltaState().ok());
  EXPECT_FALSE(service.LoadDeltaState().has_value());

  std::string edited = good;  // valid JSON, but not the state the version names
  edited.replace(edited.find("id0"), 3, "id9");
  ReplaceFileBytes(states[0], edited);
  EXPECT_TRUE(service.ReadDeltaState().status().IsHashMismatch());
  EXPECT_FALSE(service.LoadDeltaState().has_value());

  std::filesystem::remove(states[0]);
  EXPECT_FALSE(service.ReadDeltaState().ok());
  EXPECT_FALSE(service.LoadDeltaState().has_value());
}

// The state is its own file: a version whose library files are missing or
// damaged (a full scan is then due) still has a readable state.
TEST_F(DeltaServiceTest, LoadDoesNotNeedTheLibraryFiles) {
  SnapshotService service(Options());
  ASSERT_OK(service.SaveSnapshot(testing::MakeTracks(5)).status());
  WriteState(WithIds(3));
  const std::vector<std::string> fragments = FileNames(file("fragments"));
  ASSERT_EQ(fragments.size(), 1u);
  ReplaceFileBytes(file("fragments/" + fragments[0]), "junk");
  Result<DeltaState> d = service.ReadDeltaState();
  ASSERT_OK(d.status());
  EXPECT_EQ(*d, WithIds(3));
  std::filesystem::remove(file("fragments/" + fragments[0]));
  d = service.ReadDeltaState();
  ASSERT_OK(d.status());
  EXPECT_EQ(*d, WithIds(3));
  EXPECT_EQ(service.LoadDeltaState(), WithIds(3));
}

TEST_F(DeltaServiceTest, LoadOfAStateDueForResetIsNone) {
  WriteState(WithIds(50'000));
  SnapshotService service(Options());
  EXPECT_FALSE(service.LoadDeltaState().has_value());
  EXPECT_OK(service.ReadDeltaState().status());  // read as written, whatever its age
  WriteState(WithIds(49'999));
  EXPECT_TRUE(service.LoadDeltaState().has_value());
}

TEST_F(DeltaServiceTest, LoadAtExactlySevenDaysIsKeptOneMicrosecondLaterIsNone) {
  WriteState(WithIds(3));
  SnapshotService service(Options());
  now_ = kNow + 7 * kMicrosPerDay;
  EXPECT_TRUE(service.LoadDeltaState().has_value());
  now_ += 1;
  EXPECT_FALSE(service.LoadDeltaState().has_value());
}

TEST_F(DeltaServiceTest, SaveResetsAStateDueForResetFirst) {
  SnapshotService service(Options());
  DeltaState d = WithIds(50'000);
  d.field_hashes["a"] = "b";
  now_ = kNow + 3;
  ASSERT_OK(service.SaveDeltaState(d));
  Result<DeltaState> saved = service.ReadDeltaState();
  ASSERT_OK(saved.status());
  EXPECT_TRUE(saved->processed_ids.empty());
  EXPECT_EQ(saved->tracked_since, kNow + 3);
  EXPECT_EQ(saved->field_hashes.at("a"), "b");
}

TEST_F(DeltaServiceTest, SaveKeepsAStateNotDue) {
  SnapshotService service(Options());
  const DeltaState d = WithIds(49'999);
  ASSERT_OK(service.SaveDeltaState(d));
  Result<DeltaState> saved = service.ReadDeltaState();
  ASSERT_OK(saved.status());
  EXPECT_EQ(*saved, d);
}

// A state is kept with a version: on a store without one, saving makes a
// version with an empty library and no metadata, which is not a valid
// snapshot.
TEST_F(DeltaServiceTest, SaveWithoutAVersionMakesAnEmptyVersionWithoutMetadata) {
  SnapshotService service(Options());
  ASSERT_OK(service.SaveDeltaState(WithIds(2)));
  Result<Store*> store = service.store();
  ASSERT_OK(store.status());
  Result<Version> v = (*store)->Current();
  ASSERT_OK(v.status());
  EXPECT_TRUE(v->empty());
  EXPECT_TRUE(service.ReadMetadata().status().IsNotFound());
  EXPECT_EQ(service.CheckValidity().failed, Validity::Check::kMetadata);
  EXPECT_EQ(*service.ReadDeltaState(), WithIds(2));
}

// Saving the state keeps the tracks and the metadata of the version.
TEST_F(DeltaServiceTest, SaveKeepsTheTracksAndTheMetadata) {
  SnapshotService service(Options());
  Result<CommitStats> saved = service.SaveSnapshot(testing::MakeTracks(7));
  ASSERT_OK(saved.status());
  SnapshotMetadata m;
  m.last_full_scan = kNow;
  m.library_mtime = *service.LibraryMtime();
  ASSERT_OK(service.WriteMetadata(m));
  const SnapshotMetadata before = *service.ReadMetadata();
  ASSERT_OK(service.SaveDeltaState(WithIds(4)));
  EXPECT_EQ(*service.ReadMetadata(), before);
  std::optional<Version> opened;
  ASSERT_TRUE(service.CheckValidity(&opened).valid);
  EXPECT_EQ(opened->size(), 7u);
  EXPECT_EQ(opened->content_hash(), saved->content_hash);
  EXPECT_EQ(*service.LoadDeltaState(), WithIds(4));
}

TEST_F(DeltaServiceTest, NeitherReadNorWrittenUnlessSnapshotsAndDeltasAreEnabled) {
  WriteState(WithIds(5));
  const auto before = DirContents(service_dir());
  for (auto [enabled, delta] :
       {std::pair{false, true}, std::pair{true, false}, std::pair{false, false}}) {
    ServiceOptions o = Options();
    o.enabled = enabled;
    o.delta_enabled = delta;
    SnapshotService service(o);
    EXPECT_FALSE(service.delta_enabled());
    EXPECT_FALSE(service.LoadDeltaState().has_value());
    ASSERT_OK(service.SaveDeltaState(WithIds(1)));
    EXPECT_EQ(DirContents(service_dir()), before);
  }
  EXPECT_EQ(*SnapshotService(Options()).ReadDeltaState(), WithIds(5));
}

}  // namespace
}  // namespace trackstore
