// Tests of SnapshotWriter: round trip of every field, determinism, the id
// policies, string validation and the atomic publish.
#include "trackstore/snapshot_writer.h"

#include <sys/stat.h>

#include <filesystem>

#include "fault_env.h"
#include "test_util.h"
#include "trackstore/env.h"
#include "trackstore/merge.h"
#include "trackstore/snapshot.h"
#include "trackstore/synthetic.h"

namespace trackstore {
namespace {

using testing::FaultEnv;
using ::testing::HasSubstr;
using testing::MakeTrack;
using testing::MakeTracks;
using testing::ReadFileBytes;
using testing::TempDir;

std::vector<TrackRecord> ReadAll(const Snapshot& snap) {
  std::vector<TrackRecord> out;
  for (TrackView t : snap) out.push_back(t.ToRecord());
  return out;
}

size_t FilesIn(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

TEST(SnapshotWriterTest, RoundTripsEveryField) {
  TempDir dir;
  std::vector<TrackRecord> tracks = MakeTracks(300);
  TrackRecord big;
  big.id = "big";
  big.name = std::string(64 * 1024, 'x');
  big.genre = std::string(64 * 1024, 'g');
  big.year = "";
  big.original_pos = -42;
  big.extras_json = R"({"nested":{"a":[1,2,{"b":null}]},"s":"\u00e9"})";
  tracks.push_back(big);

  Result<WriteResult> w = WriteSnapshot(dir.file("lib.snap"), tracks);
  ASSERT_OK(w.status());
  EXPECT_EQ(w->track_count, tracks.size());
  EXPECT_EQ(w->content_hash.size(), 32u);

  Result<Snapshot> snap = Snapshot::Open(dir.file("lib.snap"));
  ASSERT_OK(snap.status());
  EXPECT_EQ(snap->size(), tracks.size());
  EXPECT_EQ(ReadAll(*snap), tracks);
  EXPECT_EQ(snap->content_hash(), w->content_hash);
  EXPECT_EQ(snap->file_size(), w->file_size);
}

TEST(SnapshotWriterTest, AbsentAndEmptyOptionalFieldsStayDistinct) {
  TempDir dir;
  TrackRecord absent = MakeTrack(1), empty = MakeTrack(1);
  absent.genre.reset();
  empty.genre = "";
  Result<WriteResult> a = WriteSnapshot(dir.file("a.snap"), std::vector{absent});
  Result<WriteResult> b = WriteSnapshot(dir.file("b.snap"), std::vector{empty});
  ASSERT_OK(a.status());
  ASSERT_OK(b.status());
  EXPECT_NE(a->content_hash, b->content_hash);
  Result<Snapshot> snap = Snapshot::Open(dir.file("a.snap"));
  ASSERT_OK(snap.status());
  EXPECT_FALSE((*snap)[0].genre().has_value());
  snap = Snapshot::Open(dir.file("b.snap"));
  ASSERT_OK(snap.status());
  ASSERT_TRUE((*snap)[0].genre().has_value());
  EXPECT_EQ(*(*snap)[0].genre(), "");
}

TEST(SnapshotWriterTest, SameTracksGiveSameBytesAndHash) {
  TempDir dir;
  const std::vector<TrackRecord> tracks = MakeTracks(500);
  SnapshotWriter writer;
  Result<WriteResult> a = writer.Write(dir.file("a.snap"), tracks);
  Result<WriteResult> b = WriteSnapshot(dir.file("b.snap"), tracks);
  ASSERT_OK(a.status());
  ASSERT_OK(b.status());
  EXPECT_EQ(a->content_hash, b->content_hash);
  EXPECT_EQ(ReadFileBytes(dir.file("a.snap")), ReadFileBytes(dir.file("b.snap")));

  std::string encoded;
  ASSERT_OK(writer.Encode(tracks, &encoded).status());
  EXPECT_EQ(encoded, ReadFileBytes(dir.file("a.snap")));
}

TEST(SnapshotWriterTest, HashDependsOnOrderAndEveryField) {
  const std::vector<TrackRecord> tracks = MakeTracks(50);
  SnapshotWriter writer;
  std::string bytes;
  auto hash_of = [&](const std::vector<TrackRecord>& t) {
    Result<WriteResult> r = writer.Encode(t, &bytes);
    EXPECT_OK(r.status());
    return r.ok() ? r->content_hash : std::string();
  };
  const std::string base = hash_of(tracks);
  std::vector<TrackRecord> swapped = tracks;
  std::swap(swapped[3], swapped[4]);
  EXPECT_NE(hash_of(swapped), base);
  std::vector<TrackRecord> changed = tracks;
  changed[10].extras_json = R"({"rating":1})";
  EXPECT_NE(hash_of(changed), base);
  changed = tracks;
  changed[10].original_pos = 12345;
  EXPECT_NE(hash_of(changed), base);
  EXPECT_EQ(hash_of(tracks), base);
}

TEST(SnapshotWriterTest, EmptySnapshotRoundTrips) {
  TempDir dir;
  ASSERT_OK(WriteSnapshot(dir.file("empty.snap"), {}).status());
  Result<Snapshot> snap = Snapshot::Open(dir.file("empty.snap"));
  ASSERT_OK(snap.status());
  EXPECT_EQ(snap->size(), 0u);
  EXPECT_TRUE(snap->empty());
  EXPECT_FALSE(snap->Find("x").has_value());
}

TEST(SnapshotWriterTest, EmptyIdIsRejectedWithPositions) {
  std::vector<TrackRecord> tracks = MakeTracks(10);
  tracks[3].id = "";
  tracks[7].id = "";
  SnapshotWriter writer;
  std::string bytes;
  Result<WriteResult> r = writer.Encode(tracks, &bytes);
  ASSERT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_THAT(r.status().ToString(), HasSubstr("2 tracks have an empty id, at positions 3, 7"));

  WriteOptions options;
  options.drop_empty_ids = true;
  r = writer.Encode(tracks, &bytes, options);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->track_count, 8u);
  EXPECT_EQ(r->empty_ids_dropped, 2u);
}

TEST(SnapshotWriterTest, DuplicateIdsAreRejectedByDefault) {
  std::vector<TrackRecord> tracks = MakeTracks(10);
  tracks[8].id = tracks[2].id;
  SnapshotWriter writer;
  std::string bytes;
  Result<WriteResult> r = writer.Encode(tracks, &bytes);
  ASSERT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_THAT(r.status().ToString(),
              HasSubstr("1 duplicate ids: '" + tracks[2].id + "' at positions 2 and 8"));
}

TEST(SnapshotWriterTest, KeepFirstAndKeepLastPolicies) {
  TempDir dir;
  std::vector<TrackRecord> tracks = MakeTracks(6);
  tracks[4].id = tracks[1].id;  // 1 and 4 share an id
  tracks[5].id = tracks[1].id;  // and 5
  WriteOptions options;
  options.duplicates = DuplicatePolicy::kKeepFirst;
  Result<WriteResult> r = WriteSnapshot(dir.file("first.snap"), tracks, options);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->duplicates_dropped, 2u);
  Result<Snapshot> snap = Snapshot::Open(dir.file("first.snap"));
  ASSERT_OK(snap.status());
  EXPECT_EQ(ReadAll(*snap), (std::vector{tracks[0], tracks[1], tracks[2], tracks[3]}));

  options.duplicates = DuplicatePolicy::kKeepLast;
  ASSERT_OK(WriteSnapshot(dir.file("last.snap"), tracks, options).status());
  snap = Snapshot::Open(dir.file("last.snap"));
  ASSERT_OK(snap.status());
  // The position of the first occurrence, the content of the last.
  EXPECT_EQ(ReadAll(*snap), (std::vector{tracks[0], tracks[5], tracks[2], tracks[3]}));
  EXPECT_EQ(snap->Find(tracks[1].id)->index(), 1u);
}

TEST(SnapshotWriterTest, InvalidUtf8IsRejectedNamingTrackAndField) {
  std::vector<TrackRecord> tracks = MakeTracks(20);
  tracks[11].album = "ok \xed\xa0\x80 surrogate";
  SnapshotWriter writer;
  std::string bytes;
  Result<WriteResult> r = writer.Encode(tracks, &bytes);
  ASSERT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_THAT(r.status().ToString(), HasSubstr("track 11"));
  EXPECT_THAT(r.status().ToString(), HasSubstr("field 'album' is not valid UTF-8"));
  EXPECT_TRUE(bytes.empty());
}

TEST(SnapshotWriterTest, SplitMultibyteCharacterAcrossFieldsIsRejected) {
  // "\xc3" ends one value and "\xa9" starts the next: the column's bytes are
  // valid UTF-8 as a whole, each value is not.
  std::vector<TrackRecord> tracks = MakeTracks(2);
  tracks[0].artist = "a\xc3";
  tracks[1].artist = "\xa9z";
  SnapshotWriter writer;
  std::string bytes;
  Result<WriteResult> r = writer.Encode(tracks, &bytes);
  ASSERT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_THAT(r.status().ToString(), HasSubstr("track 0"));
}

TEST(SnapshotWriterTest, NulInIdIsRejectedButAllowedElsewhere) {
  std::vector<TrackRecord> tracks = MakeTracks(3);
  tracks[2].genre = std::string("a\0b", 3);
  SnapshotWriter writer;
  std::string bytes;
  ASSERT_OK(writer.Encode(tracks, &bytes).status());
  tracks[1].id = std::string("1\0", 2);
  Result<WriteResult> r = writer.Encode(tracks, &bytes);
  ASSERT_TRUE(r.status().IsInvalidArgument());
  EXPECT_THAT(r.status().ToString(), HasSubstr("field 'id' contains a NUL byte"));
}

TEST(SnapshotWriterTest, FailedWriteLeavesExistingSnapshotAndNoTempFile) {
  TempDir dir;
  const std::string path = dir.file("lib.snap");
  ASSERT_OK(WriteSnapshot(path, MakeTracks(100)).status());
  const std::string before = ReadFileBytes(path);
  std::vector<TrackRecord> bad = MakeTracks(100);
  bad[50].id = bad[49].id;
  EXPECT_TRUE(WriteSnapshot(path, bad).status().IsInvalidArgument());
  EXPECT_EQ(ReadFileBytes(path), before);
  EXPECT_EQ(FilesIn(dir.path()), 1u);
}

TEST(SnapshotWriterTest, MissingDirectoryIsNotFound) {
  TempDir dir;
  Result<WriteResult> r = WriteSnapshot(dir.file("no/such/dir/lib.snap"), MakeTracks(3));
  EXPECT_TRUE(r.status().IsNotFound()) << r.status().ToString();
}

// Fails the N-th filesystem operation, as LevelDB's ErrorEnv does, and
// records the order of operations.
TEST(SnapshotWriterTest, PublishOrderIsWriteSyncRenameSyncDir) {
  TempDir dir;
  FaultEnv env;
  WriteOptions options;
  options.env = &env;
  ASSERT_OK(WriteSnapshot(dir.file("lib.snap"), MakeTracks(5), options).status());
  EXPECT_EQ(env.ops(), (std::vector<std::string>{"WriteNewFile", "Rename", "SyncDir"}));
}

TEST(SnapshotWriterTest, EveryFailingOperationKeepsThePreviousSnapshot) {
  for (int fail_at = 1; fail_at <= 2; ++fail_at) {  // write, rename
    TempDir dir;
    const std::string path = dir.file("lib.snap");
    ASSERT_OK(WriteSnapshot(path, MakeTracks(10)).status());
    const std::string before = ReadFileBytes(path);
    FaultEnv env;
    env.set_partial_writes(true);
    env.FailAt(fail_at);
    WriteOptions options;
    options.env = &env;
    Status s = WriteSnapshot(path, MakeTracks(20), options).status();
    EXPECT_FALSE(s.ok()) << "operation " << fail_at;
    EXPECT_EQ(ReadFileBytes(path), before) << "operation " << fail_at;
    EXPECT_EQ(FilesIn(dir.path()), 1u) << "temporary file left behind, operation " << fail_at;
    ASSERT_OK(Snapshot::Open(path).status());
  }
}

TEST(SnapshotWriterTest, UnwritableDirectoryIsAnError) {
  if (geteuid() == 0) GTEST_SKIP() << "root ignores directory permissions";
  TempDir dir;
  ASSERT_EQ(chmod(dir.path().c_str(), 0500), 0);
  Status s = WriteSnapshot(dir.file("lib.snap"), MakeTracks(3)).status();
  chmod(dir.path().c_str(), 0700);
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
}

// Inputs this large are encoded by two threads, each filling half of the
// tracks into precomputed places. The merge builds the same snapshot from
// encodes too small to be split: equal bytes show the split changes nothing.
TEST(SnapshotWriterTest, TwoThreadEncodeGivesTheSameBytesAsSmallPieces) {
  const std::vector<TrackRecord> tracks = GenerateLibrary(80'000);
  const std::span<const TrackRecord> all(tracks);
  SnapshotWriter writer;
  std::string whole;
  Result<WriteResult> w = writer.Encode(tracks, &whole);
  ASSERT_OK(w.status());

  std::string pieces;
  ASSERT_OK(writer.Encode(all.first(20'000), &pieces).status());
  Merger merger;
  for (size_t from = 20'000; from < tracks.size(); from += 30'000) {
    Result<Snapshot> base = Snapshot::FromBuffer(pieces.data(), pieces.size(), "base", false);
    ASSERT_OK(base.status());
    std::string next;
    ASSERT_OK(merger.Encode(*base, all.subspan(from, 30'000), &next).status());
    pieces = std::move(next);
  }
  EXPECT_TRUE(whole == pieces);

  Result<Snapshot> snap = Snapshot::FromBuffer(whole.data(), whole.size(), "whole");
  ASSERT_OK(snap.status());
  EXPECT_EQ(snap->content_hash(), w->content_hash);
  EXPECT_EQ(ReadAll(*snap), tracks);
}

TEST(SnapshotWriterTest, ErrorsInTheSecondHalfNameTheirPositions) {
  const std::vector<TrackRecord> good = MakeTracks(80'000);
  SnapshotWriter writer;
  std::string bytes;

  std::vector<TrackRecord> tracks = good;
  tracks[70'001].album = "ok \xed\xa0\x80 surrogate";
  tracks[75'000].name = "\xff";
  Result<WriteResult> r = writer.Encode(tracks, &bytes);
  ASSERT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  // Columns are checked in field order: the name before the album.
  EXPECT_THAT(r.status().ToString(), HasSubstr("track 75000"));
  EXPECT_THAT(r.status().ToString(), HasSubstr("field 'name' is not valid UTF-8"));

  tracks = good;
  tracks[79'999].name = std::string("a\0b", 3);
  r = writer.Encode(tracks, &bytes);
  ASSERT_TRUE(r.status().IsInvalidArgument());
  EXPECT_THAT(r.status().ToString(), HasSubstr("track 79999"));
  EXPECT_THAT(r.status().ToString(), HasSubstr("field 'name' contains a NUL byte"));

  tracks = good;
  tracks[79'998].id = tracks[3].id;
  r = writer.Encode(tracks, &bytes);
  ASSERT_TRUE(r.status().IsInvalidArgument());
  EXPECT_THAT(r.status().ToString(), HasSubstr("at positions 3 and 79998"));

  tracks = good;
  tracks[60'000].id = "";
  r = writer.Encode(tracks, &bytes);
  ASSERT_TRUE(r.status().IsInvalidArgument());
  EXPECT_THAT(r.status().ToString(), HasSubstr("at positions 60000"));
  WriteOptions drop;
  drop.drop_empty_ids = true;
  r = writer.Encode(tracks, &bytes, drop);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->empty_ids_dropped, 1u);
  tracks.erase(tracks.begin() + 60'000);
  Result<Snapshot> snap = Snapshot::FromBuffer(bytes.data(), bytes.size(), "dropped");
  ASSERT_OK(snap.status());
  EXPECT_EQ(ReadAll(*snap), tracks);
}

}  // namespace
}  // namespace trackstore
