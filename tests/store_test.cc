// Store: commits, layered reads, compaction, history, garbage collection.
// The model test checks every layered read against the same library kept
// as a plain vector (the merge rule applied by hand) and written from
// scratch as one snapshot.
#include "trackstore/store.h"

#include <gmock/gmock.h>
#include <gtest/gtest.h>

#include <algorithm>
#include <filesystem>
#include <random>

#include "store_test_util.h"
#include "test_util.h"
#include "trackstore/diff.h"
#include "trackstore/env.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore {
namespace {

using testing::MakeTrack;
using testing::MakeTracks;
using testing::Model;
using testing::Records;
using testing::TempDir;

std::string HashOfScratch(const std::vector<TrackRecord>& tracks, const TempDir& dir) {
  const std::string path = dir.file("scratch.snap");
  EXPECT_OK(WriteSnapshot(path, tracks).status());
  Result<Snapshot> snap = Snapshot::Open(path);
  EXPECT_OK(snap.status());
  return LogicalContentHash(*snap);
}

StoreOptions Quiet() {
  StoreOptions o;
  o.sync = false;  // tmpfs or not, the tests do not need durability
  return o;
}

TEST(StoreTest, EmptyStoreHasNoVersion) {
  TempDir dir;
  Result<Store> store = Store::Open(dir.file("s"), Quiet());
  ASSERT_OK(store.status());
  EXPECT_TRUE(store->Current().status().IsNotFound()) << store->Current().status().ToString();
  Result<std::vector<VersionInfo>> log = store->Log();
  ASSERT_OK(log.status());
  EXPECT_TRUE(log->empty());
}

TEST(StoreTest, OpenWithoutCreateIsNotFound) {
  TempDir dir;
  StoreOptions o = Quiet();
  o.create_if_missing = false;
  EXPECT_TRUE(Store::Open(dir.file("missing"), o).status().IsNotFound());
  EXPECT_TRUE(Store::Open(dir.path(), o).status().IsNotFound());  // a directory, not a store
}

TEST(StoreTest, ReplaceThenCommitLayersTheDelta) {
  TempDir dir;
  Result<Store> store = Store::Open(dir.file("s"), Quiet());
  ASSERT_OK(store.status());
  std::vector<TrackRecord> base = MakeTracks(100);
  ASSERT_OK(store->Replace(base).status());

  std::vector<TrackRecord> updates = {MakeTrack(500), MakeTrack(3)};
  updates[1].name = "changed";
  Result<CommitStats> c = store->Commit(updates, std::vector<std::string>{"1010", "nope"});
  ASSERT_OK(c.status());
  EXPECT_EQ(c->version, 2u);
  EXPECT_EQ(c->replaced, 1u);
  EXPECT_EQ(c->appended, 1u);
  EXPECT_EQ(c->removed, 1u);
  EXPECT_EQ(c->not_found, 1u);
  EXPECT_EQ(c->track_count, 100u);

  Model model{base};
  model.Apply(updates, {"1010", "nope"});
  Result<Version> v = store->Current();
  ASSERT_OK(v.status());
  EXPECT_EQ(Records(*v), model.tracks);
  EXPECT_EQ(v->info().fragments.size(), 2u);
  EXPECT_TRUE(v->info().fragments[1].delta);
  EXPECT_EQ(v->content_hash(), HashOfScratch(model.tracks, dir));
  EXPECT_OK(v->Verify());
  ASSERT_TRUE(v->Find("1003").has_value());
  EXPECT_EQ(v->Find("1003")->name(), "changed");
  EXPECT_FALSE(v->Find("1010").has_value());
  EXPECT_TRUE(v->Find("1500").has_value());
}

TEST(StoreTest, UnchangedUpdatesWriteNoFragment) {
  TempDir dir;
  Result<Store> store = Store::Open(dir.file("s"), Quiet());
  ASSERT_OK(store.status());
  std::vector<TrackRecord> base = MakeTracks(20);
  ASSERT_OK(store->Replace(base).status());
  Result<CommitStats> c = store->Commit(base);
  ASSERT_OK(c.status());
  EXPECT_EQ(c->unchanged, 20u);
  Result<Version> v = store->Current();
  ASSERT_OK(v.status());
  EXPECT_EQ(v->info().fragments.size(), 1u);
  EXPECT_EQ(v->content_hash(), store->At(1)->content_hash());
}

TEST(StoreTest, RemovedThenReaddedIdGoesToTheEnd) {
  TempDir dir;
  Result<Store> store = Store::Open(dir.file("s"), Quiet());
  ASSERT_OK(store.status());
  ASSERT_OK(store->Replace(MakeTracks(5)).status());
  ASSERT_OK(store->Commit({}, std::vector<std::string>{"1001"}).status());
  TrackRecord again = MakeTrack(1);
  again.name = "back";
  ASSERT_OK(store->Commit(std::vector<TrackRecord>{again}).status());
  Result<Version> v = store->Current();
  ASSERT_OK(v.status());
  std::vector<std::string> ids;
  for (TrackView t : *v) ids.emplace_back(t.id());
  EXPECT_EQ(ids, (std::vector<std::string>{"1000", "1002", "1003", "1004", "1001"}));
  EXPECT_EQ(v->Find("1001")->name(), "back");
  EXPECT_OK(v->Verify());
}

// Random commits of replacements, appends and removals; after each, every
// read of the layered version equals the model, and so does the compacted
// version, byte for byte with a snapshot written from scratch.
TEST(StoreTest, ModelBasedRandomCommits) {
  for (uint32_t seed = 1; seed <= 6; ++seed) {
    TempDir dir;
    StoreOptions o = Quiet();
    o.auto_compact = seed % 2 == 0;
    o.compact_max_deltas = 3;
    o.max_fragment_bytes = seed % 3 == 0 ? 4096 : o.max_fragment_bytes;  // several base fragments
    Result<Store> store = Store::Open(dir.file("s"), o);
    ASSERT_OK(store.status());
    std::mt19937_64 rng(seed);
    Model model{MakeTracks(60)};
    ASSERT_OK(store->Replace(model.tracks).status());
    uint64_t next_id = 1000;
    for (int round = 0; round < 12; ++round) {
      std::vector<TrackRecord> updates;
      std::vector<std::string> removed;
      const int n = static_cast<int>(rng() % 12);
      for (int i = 0; i < n; ++i) {
        TrackRecord t;
        if (!model.tracks.empty() && rng() % 3 != 0) {
          t = model.tracks[rng() % model.tracks.size()];
          t.name = "r" + std::to_string(round) + "-" + std::to_string(i);
          if (rng() % 2) t.genre.reset();
        } else {
          t = MakeTrack(next_id++);
        }
        updates.push_back(t);
      }
      const int m = static_cast<int>(rng() % 4);
      for (int i = 0; i < m && !model.tracks.empty(); ++i) {
        removed.push_back(model.tracks[rng() % model.tracks.size()].id);
      }
      if (rng() % 5 == 0) removed.push_back("no-such-id");
      // The model applies repeated ids in order, which is what the commit's
      // "first position, last content" rule gives.
      ASSERT_OK(store->Commit(updates, removed).status()) << "seed " << seed << " round " << round;
      model.Apply(updates, removed);

      Result<Version> v = store->Current();
      ASSERT_OK(v.status());
      ASSERT_EQ(v->size(), model.tracks.size());
      ASSERT_EQ(Records(*v), model.tracks) << "seed " << seed << " round " << round;
      for (const TrackRecord& t : model.tracks) {
        std::optional<TrackView> found = v->Find(t.id);
        ASSERT_TRUE(found.has_value()) << t.id;
        ASSERT_EQ(found->ToRecord(), t);
      }
      for (const std::string& id : removed) {
        const bool present = std::any_of(model.tracks.begin(), model.tracks.end(),
                                         [&](const TrackRecord& t) { return t.id == id; });
        ASSERT_EQ(v->Find(id).has_value(), present) << id;
      }
      ASSERT_EQ(v->content_hash(), HashOfScratch(model.tracks, dir));
      ASSERT_OK(v->Verify());
    }
    Result<CommitStats> compacted = store->Compact();
    ASSERT_OK(compacted.status());
    Result<Version> v = store->Current();
    ASSERT_OK(v.status());
    EXPECT_EQ(Records(*v), model.tracks);
    EXPECT_EQ(v->content_hash(), HashOfScratch(model.tracks, dir));
    for (const FragmentInfo& f : v->info().fragments) EXPECT_FALSE(f.delta);
    if (v->info().fragments.size() == 1) {
      // One base fragment compacted is the same file a writer makes.
      EXPECT_EQ(
          testing::ReadFileBytes(dir.file("s/fragments/" + v->info().fragments[0].name + ".snap")),
          testing::ReadFileBytes(dir.file("scratch.snap")));
    }
    EXPECT_OK(v->Verify());
  }
}

TEST(StoreTest, HistoryCheckoutAndGarbageCollection) {
  TempDir dir;
  StoreOptions o = Quiet();
  o.keep_versions = 3;
  o.auto_compact = false;
  Result<Store> store = Store::Open(dir.file("s"), o);
  ASSERT_OK(store.status());
  ASSERT_OK(store->Replace(MakeTracks(10)).status());
  std::vector<std::string> hashes = {store->Current()->content_hash()};
  for (int i = 0; i < 4; ++i) {
    ASSERT_OK(store->Commit(std::vector<TrackRecord>{MakeTrack(100 + i)}).status());
    hashes.push_back(store->Current()->content_hash());
  }
  Result<std::vector<VersionInfo>> log = store->Log();
  ASSERT_OK(log.status());
  ASSERT_EQ(log->size(), 5u);
  EXPECT_EQ(log->front().number, 5u);

  // A reader holds version 2 while gc removes it.
  Result<Version> held = store->At(2);
  ASSERT_OK(held.status());
  const std::vector<TrackRecord> held_tracks = Records(*held);

  Result<CommitStats> back = store->Checkout(2);
  ASSERT_OK(back.status());
  EXPECT_EQ(back->version, 6u);
  EXPECT_EQ(back->content_hash, hashes[1]);

  Result<GcStats> gc = store->CollectGarbage();
  ASSERT_OK(gc.status());
  EXPECT_EQ(gc->manifests_removed, 3u);  // 1, 2, 3 (kept: 6, 5, 4)
  EXPECT_TRUE(store->At(2).status().IsNotFound());
  EXPECT_OK(store->At(4).status());
  EXPECT_EQ(Records(*held), held_tracks);  // mapped bytes outlive the files
  EXPECT_OK(held->Verify());
  Result<Version> v = store->Current();
  ASSERT_OK(v.status());
  EXPECT_EQ(v->content_hash(), hashes[1]);
  EXPECT_OK(v->Verify());
}

TEST(StoreTest, DamagedNewestManifestFallsBackToThePrevious) {
  TempDir dir;
  Result<Store> store = Store::Open(dir.file("s"), Quiet());
  ASSERT_OK(store.status());
  ASSERT_OK(store->Replace(MakeTracks(10)).status());
  ASSERT_OK(store->Commit(std::vector<TrackRecord>{MakeTrack(50)}).status());
  const std::string path = dir.file("s/manifests/00000000000000000002.manifest");
  std::string text = testing::ReadFileBytes(path);
  text[text.size() / 2] ^= 1;
  testing::WriteFileBytes(path, text);
  Result<Version> v = store->Current();
  ASSERT_OK(v.status());
  EXPECT_EQ(v->number(), 1u);
  // The next commit does not reuse the damaged number.
  Result<CommitStats> c = store->Commit(std::vector<TrackRecord>{MakeTrack(51)});
  ASSERT_OK(c.status());
  EXPECT_EQ(c->version, 3u);
}

TEST(StoreTest, DeltaStateAndMetadataTravelWithTheVersion) {
  TempDir dir;
  Result<Store> store = Store::Open(dir.file("s"), Quiet());
  ASSERT_OK(store.status());
  CommitOptions c;
  c.service = ServiceMetadata{1, 100, 200, 300};
  DeltaState state;
  state.last_run = 5;
  state.processed_ids = {"a", "b"};
  c.delta_state = state;
  ASSERT_OK(store->Replace(MakeTracks(3), c).status());
  ASSERT_OK(store->Commit(std::vector<TrackRecord>{MakeTrack(9)}).status());  // keeps both
  Result<Version> v = store->Current();
  ASSERT_OK(v.status());
  EXPECT_EQ(v->info().service, c.service);
  Result<DeltaState> read = v->ReadDeltaState();
  ASSERT_OK(read.status());
  EXPECT_EQ(*read, state);
}

TEST(StoreTest, DuplicateAcrossBaseFragmentsIsRejected) {
  TempDir dir;
  StoreOptions o = Quiet();
  o.max_fragment_bytes = 2048;
  Result<Store> store = Store::Open(dir.file("s"), o);
  ASSERT_OK(store.status());
  std::vector<TrackRecord> tracks = MakeTracks(50);
  tracks.push_back(tracks[0]);
  Result<CommitStats> r = store->Replace(tracks);
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_TRUE(store->Current().status().IsNotFound());
}

TEST(StoreTest, SecondWriterInTheSameProcessWaitsThenFailsBusy) {
  TempDir dir;
  ASSERT_OK(Store::Open(dir.file("s"), Quiet()).status());
  std::unique_ptr<FileLock> held;
  ASSERT_OK(Env::Default()->TryLockFile(dir.file("s/LOCK"), &held));
  StoreOptions o = Quiet();
  o.lock_timeout = 50'000;
  Result<Store> store = Store::Open(dir.file("s"), o);
  ASSERT_OK(store.status());
  Result<CommitStats> r = store->Replace(MakeTracks(3));
  ASSERT_TRUE(r.status().IsBusy()) << r.status().ToString();
  EXPECT_THAT(r.status().message(), ::testing::HasSubstr(std::to_string(::getpid())));
  held.reset();
  EXPECT_OK(store->Replace(MakeTracks(3)).status());
}

}  // namespace
}  // namespace trackstore
