// Tests of Diff against doc/behaviour.md section 8.
#include "trackstore/diff.h"

#include <algorithm>
#include <random>

#include "test_util.h"
#include "trackstore/merge.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/store.h"

namespace trackstore {
namespace {

using ::testing::ElementsAre;
using testing::MakeTrack;
using testing::MakeTracks;
using testing::TempDir;

class DiffTest : public ::testing::Test {
 protected:
  Snapshot Write(const std::vector<TrackRecord>& tracks) {
    const std::string path = dir_.file(std::to_string(counter_++) + ".snap");
    EXPECT_OK(WriteSnapshot(path, tracks).status());
    Result<Snapshot> snap = Snapshot::Open(path);
    EXPECT_OK(snap.status());
    return std::move(snap.value());
  }
  static TrackRecord WithId(std::string id) {
    TrackRecord t = MakeTrack(1);
    t.id = std::move(id);
    return t;
  }

  TempDir dir_;
  int counter_ = 0;
};

TEST_F(DiffTest, IdenticalSnapshotsHaveNoDifference) {
  const std::vector<TrackRecord> tracks = MakeTracks(200);
  EXPECT_TRUE(Diff(Write(tracks), Write(tracks)).empty());
}

TEST_F(DiffTest, NewRemovedUpdatedSortedByteWise) {
  std::vector<TrackRecord> a = {WithId("b"), WithId("10"), WithId("keep"), WithId("x"),
                                WithId("B")};
  std::vector<TrackRecord> b = {WithId("keep"), WithId("9"),        WithId("a"),
                                WithId("x"),    WithId("\xc3\xa9"), WithId("A")};
  b[3].name = "changed";
  SnapshotDiff d = Diff(Write(a), Write(b));
  EXPECT_THAT(d.added, ElementsAre("9", "A", "a", "\xc3\xa9"));
  EXPECT_THAT(d.removed, ElementsAre("10", "B", "b"));
  ASSERT_EQ(d.updated.size(), 1u);
  EXPECT_EQ(d.updated[0].id, "x");
  EXPECT_THAT(d.updated[0].changed, ElementsAre(Field::kName));
}

TEST_F(DiffTest, UpdatedListsEveryChangedFieldNullDiffersFromEmpty) {
  TrackRecord before = MakeTrack(3), after = MakeTrack(3);
  before.genre.reset();
  after.genre = "";
  after.original_pos = 99;
  after.extras_json = R"({"k":1})";
  SnapshotDiff d = Diff(Write({before}), Write({after}));
  ASSERT_EQ(d.updated.size(), 1u);
  EXPECT_THAT(d.updated[0].changed,
              ElementsAre(Field::kGenre, Field::kOriginalPos, Field::kExtras));
}

TEST_F(DiffTest, ReferenceRuleCountsOnlyGenreYearAndStatus) {
  auto diff_of = [&](const TrackRecord& x, const TrackRecord& y) {
    return Diff(Write({x}), Write({y}), DiffOptions{ChangeRule::kReference});
  };
  TrackRecord base = MakeTrack(2);
  base.genre = "Rock";
  base.year = "1999";
  base.track_status = "purchased";

  TrackRecord t = base;
  t.name = "other name";  // not counted
  EXPECT_TRUE(diff_of(base, t).empty());
  t = base;
  t.genre = "";  // clearing is not a change
  EXPECT_TRUE(diff_of(base, t).empty());
  t.genre.reset();
  EXPECT_TRUE(diff_of(base, t).empty());
  t = base;
  t.genre = "Jazz";
  SnapshotDiff d = diff_of(base, t);
  ASSERT_EQ(d.updated.size(), 1u);
  EXPECT_THAT(d.updated[0].changed, ElementsAre(Field::kGenre));

  TrackRecord no_year = base;
  no_year.year.reset();
  TrackRecord empty_year = base;
  empty_year.year = "";
  EXPECT_TRUE(diff_of(no_year, empty_year).empty());  // null and "" are the same
  t = no_year;
  t.year = "2001";
  EXPECT_THAT(diff_of(no_year, t).updated[0].changed, ElementsAre(Field::kYear));

  t = base;
  t.track_status = "matched";
  EXPECT_THAT(diff_of(base, t).updated[0].changed, ElementsAre(Field::kTrackStatus));
  TrackRecord no_status = base;
  no_status.track_status = "";
  EXPECT_TRUE(diff_of(no_status, base).empty());  // both must be non-empty
  EXPECT_TRUE(diff_of(base, no_status).empty());
}

TEST_F(DiffTest, SharedOrderAndShuffledOrderGiveTheSameDiff) {
  const std::vector<TrackRecord> a = MakeTracks(500);
  std::vector<TrackRecord> updates;
  for (uint64_t i = 0; i < 500; i += 37) {
    TrackRecord t = a[i];
    t.album += " (remaster)";
    updates.push_back(t);
  }
  for (uint64_t i = 500; i < 510; ++i) updates.push_back(MakeTrack(i));
  Snapshot snap_a = Write(a);
  const std::string merged_path = dir_.file("merged.snap");
  Merger merger;
  ASSERT_OK(merger.Merge(snap_a, updates, merged_path).status());
  Result<Snapshot> merged = Snapshot::Open(merged_path);
  ASSERT_OK(merged.status());
  SnapshotDiff shared = Diff(snap_a, *merged);
  EXPECT_EQ(shared.added.size(), 10u);
  EXPECT_EQ(shared.updated.size(), 14u);
  EXPECT_TRUE(shared.removed.empty());

  std::vector<TrackRecord> shuffled;
  for (TrackView t : *merged) shuffled.push_back(t.ToRecord());
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(5));
  shuffled.pop_back();  // one removed as well
  // The shuffled copy holds every merged track but one: the same diff, plus
  // that one as removed (or one fewer added, if it was new).
  std::vector<std::string> kept;
  for (const TrackRecord& t : shuffled) kept.push_back(t.id);
  SnapshotDiff other = Diff(snap_a, Write(shuffled));
  SnapshotDiff expected = shared;
  for (TrackView t : *merged) {
    if (std::find(kept.begin(), kept.end(), t.id()) != kept.end()) continue;
    const std::string id(t.id());
    auto added = std::find(expected.added.begin(), expected.added.end(), id);
    if (added != expected.added.end()) {
      expected.added.erase(added);
    } else {
      std::erase_if(expected.updated, [&](const UpdatedTrack& u) { return u.id == id; });
      expected.removed.insert(
          std::lower_bound(expected.removed.begin(), expected.removed.end(), id), id);
    }
  }
  EXPECT_EQ(other.added, expected.added);
  EXPECT_EQ(other.removed, expected.removed);
  ASSERT_EQ(other.updated.size(), expected.updated.size());
  for (size_t k = 0; k < other.updated.size(); ++k) {
    EXPECT_EQ(other.updated[k].id, expected.updated[k].id);
    EXPECT_EQ(other.updated[k].changed, expected.updated[k].changed);
  }
}

TEST_F(DiffTest, EqualTracksHaveEqualContentHashesAcrossSnapshots) {
  std::vector<TrackRecord> a = MakeTracks(20), b = MakeTracks(20);
  std::reverse(b.begin(), b.end());
  Snapshot sa = Write(a), sb = Write(b);
  for (uint64_t i = 0; i < 20; ++i) {
    EXPECT_EQ(sa[i].content_hash(), sb[19 - i].content_hash());
  }
  TrackRecord empty = a[0], absent = a[0];
  empty.genre = "";
  absent.genre.reset();
  EXPECT_NE(Write({empty})[0].content_hash(), Write({absent})[0].content_hash());
}

void ExpectSameDiff(const SnapshotDiff& got, const SnapshotDiff& want) {
  EXPECT_EQ(got.added, want.added);
  EXPECT_EQ(got.removed, want.removed);
  ASSERT_EQ(got.updated.size(), want.updated.size());
  for (size_t k = 0; k < got.updated.size(); ++k) {
    EXPECT_EQ(got.updated[k].id, want.updated[k].id);
    EXPECT_EQ(got.updated[k].changed, want.updated[k].changed);
  }
}

// Layered versions (a base and delta fragments with replacements, appends
// and removals) diff exactly as the same libraries written from scratch,
// between any two versions, under both rules, and against a snapshot.
TEST_F(DiffTest, LayeredVersionsDiffAsTheirLibrariesWrittenFromScratch) {
  StoreOptions options;
  options.sync = false;
  options.auto_compact = false;  // keep the deltas: the layered reads are the point
  Result<Store> store = Store::Open(dir_.file("store"), options);
  ASSERT_OK(store.status());

  std::vector<TrackRecord> library = MakeTracks(300);
  ASSERT_OK(store->Replace(library).status());
  std::vector<std::vector<TrackRecord>> libraries = {library};
  std::mt19937_64 rng(11);
  uint64_t next_id = 300;
  for (int round = 0; round < 4; ++round) {
    std::vector<TrackRecord> updates;
    for (int k = 0; k < 20; ++k) {
      TrackRecord t = library[rng() % library.size()];
      t.genre = "genre " + std::to_string(round);
      if (k % 3 == 0) t.year = std::to_string(1950 + round);
      updates.push_back(t);
    }
    for (int k = 0; k < 5; ++k) updates.push_back(MakeTrack(next_id++));
    std::vector<std::string> removed;
    for (int k = 0; k < 7; ++k) removed.push_back(library[rng() % library.size()].id);
    ASSERT_OK(store->Commit(updates, removed).status());
    // The merge rule by hand: replace in place, append new ids, then remove.
    for (const TrackRecord& u : updates) {
      auto it = std::find_if(library.begin(), library.end(),
                             [&](const TrackRecord& t) { return t.id == u.id; });
      if (it != library.end()) {
        *it = u;
      } else {
        library.push_back(u);
      }
    }
    std::erase_if(library, [&](const TrackRecord& t) {
      return std::find(removed.begin(), removed.end(), t.id) != removed.end();
    });
    libraries.push_back(library);
  }

  std::vector<Version> versions;
  std::vector<Snapshot> scratch;
  for (uint64_t n = 1; n <= libraries.size(); ++n) {
    Result<Version> v = store->At(n);
    ASSERT_OK(v.status());
    versions.push_back(std::move(v).value());
    scratch.push_back(Write(libraries[n - 1]));
  }
  ASSERT_EQ(versions.back().single_snapshot(), nullptr) << "the last version must be layered";
  for (size_t i = 0; i < versions.size(); ++i) {
    for (size_t j = 0; j < versions.size(); ++j) {
      for (ChangeRule rule : {ChangeRule::kAllFields, ChangeRule::kReference}) {
        SCOPED_TRACE("versions " + std::to_string(i + 1) + " and " + std::to_string(j + 1));
        const SnapshotDiff want = Diff(scratch[i], scratch[j], DiffOptions{rule});
        ExpectSameDiff(Diff(versions[i], versions[j], DiffOptions{rule}), want);
        ExpectSameDiff(Diff(scratch[i], versions[j], DiffOptions{rule}), want);
        ExpectSameDiff(Diff(versions[i], scratch[j], DiffOptions{rule}), want);
      }
    }
  }
  const SnapshotDiff first_to_last = Diff(versions.front(), versions.back());
  EXPECT_FALSE(first_to_last.added.empty());
  EXPECT_FALSE(first_to_last.updated.empty());
  EXPECT_FALSE(first_to_last.removed.empty());
}

}  // namespace
}  // namespace trackstore
