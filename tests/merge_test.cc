// Tests of the zero-copy merge against doc/behaviour.md section 2, with a naive
// record-by-record merge as the reference: the merge must give the same
// bytes as writing the naive result from scratch.
#include "trackstore/merge.h"

#include <cstring>
#include <filesystem>
#include <random>
#include <unordered_map>

#include "test_util.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/synthetic.h"

namespace trackstore {
namespace {

using ::testing::HasSubstr;
using testing::MakeTrack;
using testing::MakeTracks;
using testing::ReadFileBytes;
using testing::TempDir;

// doc/behaviour.md section 2 written the obvious way.
std::vector<TrackRecord> NaiveMerge(const std::vector<TrackRecord>& existing,
                                    const std::vector<TrackRecord>& updates) {
  std::unordered_map<std::string, TrackRecord> last;
  std::vector<std::string> order;
  for (const TrackRecord& u : updates) {
    if (!last.count(u.id)) order.push_back(u.id);
    last[u.id] = u;
  }
  std::vector<TrackRecord> out;
  std::unordered_map<std::string, bool> existing_ids;
  for (const TrackRecord& t : existing) {
    existing_ids[t.id] = true;
    auto it = last.find(t.id);
    out.push_back(it == last.end() ? t : it->second);
  }
  for (const std::string& id : order) {
    if (!existing_ids.count(id)) out.push_back(last[id]);
  }
  return out;
}

class MergeTest : public ::testing::Test {
 protected:
  // Writes `tracks` as the base snapshot and opens it.
  Snapshot Base(const std::vector<TrackRecord>& tracks) {
    const std::string path = dir_.file("base-" + std::to_string(counter_++) + ".snap");
    EXPECT_OK(WriteSnapshot(path, tracks).status());
    Result<Snapshot> snap = Snapshot::Open(path);
    EXPECT_OK(snap.status());
    return std::move(snap.value());
  }
  std::string Scratch(const std::vector<TrackRecord>& tracks) {
    std::string bytes;
    EXPECT_OK(writer_.Encode(tracks, &bytes).status());
    return bytes;
  }
  // Merges both ways (records, and an updates snapshot) and checks each
  // against the naive merge written from scratch, byte for byte.
  void ExpectMergeMatchesNaive(const std::vector<TrackRecord>& existing,
                               const std::vector<TrackRecord>& updates) {
    Snapshot base = Base(existing);
    const std::string expected = Scratch(NaiveMerge(existing, updates));
    std::string merged;
    Result<MergeStats> stats = merger_.Encode(base, updates, &merged);
    ASSERT_OK(stats.status());
    EXPECT_TRUE(merged == expected) << "merge of records differs from a from-scratch write";

    // An updates snapshot cannot hold duplicate ids: dedupe keeping last.
    WriteOptions keep_last;
    keep_last.duplicates = DuplicatePolicy::kKeepLast;
    const std::string path = dir_.file("updates.snap");
    std::vector<TrackRecord> unique_updates = NaiveMerge({}, updates);
    ASSERT_OK(WriteSnapshot(path, unique_updates, keep_last).status());
    Result<Snapshot> update_snap = Snapshot::Open(path);
    ASSERT_OK(update_snap.status());
    ASSERT_OK(merger_.Encode(base, *update_snap, &merged).status());
    EXPECT_TRUE(merged == expected) << "merge of a snapshot differs from a from-scratch write";
  }

  TempDir dir_;
  int counter_ = 0;
  SnapshotWriter writer_;
  Merger merger_;
};

TEST_F(MergeTest, ReplacesInPlaceAndAppendsNewIdsInOrder) {
  std::vector<TrackRecord> existing = MakeTracks(5);
  TrackRecord changed = existing[2];
  changed.name = "renamed";
  changed.genre.reset();  // absent in the update → absent after
  TrackRecord new_b = MakeTrack(100), new_a = MakeTrack(50);
  Snapshot base = Base(existing);
  const std::string out = dir_.file("merged.snap");
  Result<MergeStats> stats = merger_.Merge(base, std::vector{new_b, changed, new_a}, out);
  ASSERT_OK(stats.status());
  EXPECT_EQ(stats->replaced, 1u);
  EXPECT_EQ(stats->appended, 2u);
  EXPECT_EQ(stats->carried, 4u);
  Result<Snapshot> merged = Snapshot::Open(out);
  ASSERT_OK(merged.status());
  ASSERT_EQ(merged->size(), 7u);
  EXPECT_EQ((*merged)[2].ToRecord(), changed);
  EXPECT_FALSE((*merged)[2].genre().has_value());
  EXPECT_EQ((*merged)[5].id(), new_b.id);
  EXPECT_EQ((*merged)[6].id(), new_a.id);
  EXPECT_EQ((*merged)[0].ToRecord(), existing[0]);
  EXPECT_EQ(merged->Find(new_a.id)->index(), 6u);
}

TEST_F(MergeTest, RepeatedUpdateIdTakesTheLastContent) {
  std::vector<TrackRecord> existing = MakeTracks(4);
  TrackRecord first = existing[1], last = existing[1];
  first.name = "first";
  last.name = "last";
  TrackRecord new_first = MakeTrack(70), new_last = MakeTrack(70);
  new_first.album = "first";
  new_last.album = "last";
  Snapshot base = Base(existing);
  std::string bytes;
  Result<MergeStats> stats =
      merger_.Encode(base, std::vector{first, new_first, last, MakeTrack(80), new_last}, &bytes);
  ASSERT_OK(stats.status());
  EXPECT_EQ(stats->superseded, 2u);
  std::vector<uint64_t> aligned(bytes.size() / 8 + 1);
  std::memcpy(aligned.data(), bytes.data(), bytes.size());
  Result<Snapshot> merged = Snapshot::FromBuffer(aligned.data(), bytes.size(), "merged");
  ASSERT_OK(merged.status());
  EXPECT_EQ((*merged)[1].name(), "last");
  EXPECT_EQ((*merged)[4].id(), new_last.id);  // position of the first appearance
  EXPECT_EQ((*merged)[4].album(), "last");    // content of the last
  EXPECT_EQ((*merged)[5].id(), MakeTrack(80).id);
}

TEST_F(MergeTest, NoUpdatesGivesTheSameBytesAndHash) {
  const std::vector<TrackRecord> existing = MakeTracks(300);
  Snapshot base = Base(existing);
  const std::string out = dir_.file("same.snap");
  Result<MergeStats> stats = merger_.Merge(base, std::vector<TrackRecord>{}, out);
  ASSERT_OK(stats.status());
  EXPECT_EQ(stats->written.content_hash, base.content_hash());
  EXPECT_EQ(ReadFileBytes(out), ReadFileBytes(base.path()));
}

TEST_F(MergeTest, SameTracksSameHashAsFromScratch) {
  std::mt19937_64 rng(7);
  for (int trial = 0; trial < 30; ++trial) {
    const uint64_t n = rng() % 200;
    std::vector<TrackRecord> existing = MakeTracks(n);
    std::vector<TrackRecord> updates;
    const uint64_t u = rng() % 60;
    for (uint64_t k = 0; k < u; ++k) {
      TrackRecord t = MakeTrack(rng() % (n + 40));  // existing and new ids
      t.name += "*" + std::to_string(rng() % 3);
      if (rng() % 4 == 0) t.year.reset();
      if (rng() % 5 == 0) t.original_pos = static_cast<int64_t>(rng() % 1000);
      updates.push_back(t);
    }
    SCOPED_TRACE("trial " + std::to_string(trial) + ": " + std::to_string(n) + " tracks, " +
                 std::to_string(u) + " updates");
    ExpectMergeMatchesNaive(existing, updates);
  }
}

TEST_F(MergeTest, EdgeShapes) {
  const std::vector<TrackRecord> existing = MakeTracks(64);
  ExpectMergeMatchesNaive({}, MakeTracks(10));  // empty base
  ExpectMergeMatchesNaive(existing, {});        // empty delta
  std::vector<TrackRecord> all = existing;
  for (TrackRecord& t : all) t.artist = "everyone changed";
  ExpectMergeMatchesNaive(existing, all);  // replace every track
  std::vector<TrackRecord> reversed(all.rbegin(), all.rend());
  ExpectMergeMatchesNaive(existing, reversed);  // other order
  std::vector<TrackRecord> only_new;
  for (uint64_t i = 64; i < 200; ++i) only_new.push_back(MakeTrack(i));
  ExpectMergeMatchesNaive(existing, only_new);  // only new ids; the index grows past its size
}

TEST_F(MergeTest, BadUpdatesAreRejectedAndNothingIsWritten) {
  Snapshot base = Base(MakeTracks(10));
  const std::string out = dir_.file("out.snap");
  std::vector<TrackRecord> updates = {MakeTrack(3), MakeTrack(4)};
  updates[1].id = "";
  Result<MergeStats> r = merger_.Merge(base, updates, out);
  ASSERT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_THAT(r.status().ToString(),
              HasSubstr("updates: 1 tracks have an empty id, at positions 1"));
  updates[1] = MakeTrack(4);
  updates[1].artist = "\xff\xfe";
  r = merger_.Merge(base, updates, out);
  ASSERT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_THAT(r.status().ToString(),
              HasSubstr("updates: track 1 (id '1004'): field 'artist' is not valid UTF-8"));
  EXPECT_FALSE(std::filesystem::exists(out));
}

TEST_F(MergeTest, MergeOverTheBaseFileKeepsTheBaseReadable) {
  Snapshot base = Base(MakeTracks(100));
  TrackRecord changed = MakeTrack(5);
  changed.name = "changed";
  ASSERT_OK(merger_.Merge(base, std::vector{changed}, base.path()).status());
  EXPECT_EQ(base[5].name(), MakeTrack(5).name);  // the old mapping is intact
  EXPECT_OK(base.Verify());
  Result<Snapshot> reopened = Snapshot::Open(base.path());
  ASSERT_OK(reopened.status());
  EXPECT_EQ((*reopened)[5].name(), "changed");
}

// A base large enough that the merge fills its columns on two threads, and
// the writer encodes on two: still the bytes of the naive merge.
TEST_F(MergeTest, LargeMergeMatchesNaive) {
  const std::vector<TrackRecord> existing = GenerateLibrary(60'000);
  std::vector<TrackRecord> updates;
  std::mt19937_64 rng(7);
  for (int k = 0; k < 6'000; ++k) {
    TrackRecord t = existing[rng() % existing.size()];
    if (k % 10 == 9) {
      t.id = "new-" + std::to_string(k % 4'000);  // some new ids repeat
    } else {
      t.name += " (remastered)";
      t.genre.reset();
    }
    updates.push_back(std::move(t));
  }
  ExpectMergeMatchesNaive(existing, updates);
}

}  // namespace
}  // namespace trackstore
