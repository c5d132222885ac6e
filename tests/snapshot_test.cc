// Tests of Snapshot: lookup, iteration, columns, the open modes, and one
// distinct error for each kind of wrong file.
#include "trackstore/snapshot.h"

#include <sys/stat.h>
#include <unistd.h>

#include <cstring>
#include <iterator>
#include <ranges>

#include "fault_env.h"
#include "test_util.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore {
namespace {

using testing::FaultEnv;
using ::testing::HasSubstr;
using testing::MakeTrack;
using testing::MakeTracks;
using testing::Op;
using testing::ReadFileBytes;
using testing::TempDir;
using testing::WriteFileBytes;

class SnapshotTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tracks_ = MakeTracks(1000);
    path_ = dir_.file("lib.snap");
    Result<WriteResult> w = WriteSnapshot(path_, tracks_);
    ASSERT_OK(w.status());
    hash_ = w->content_hash;
  }
  // Writes `bytes` as a new file and returns the status of opening it.
  Status OpenBytes(const std::string& bytes) {
    const std::string path = dir_.file("bad.snap");
    WriteFileBytes(path, bytes);
    return Snapshot::Open(path).status();
  }

  TempDir dir_;
  std::string path_;
  std::string hash_;
  std::vector<TrackRecord> tracks_;
};

TEST_F(SnapshotTest, FindsEveryTrackById) {
  Result<Snapshot> snap = Snapshot::Open(path_);
  ASSERT_OK(snap.status());
  for (size_t i = 0; i < tracks_.size(); ++i) {
    std::optional<TrackView> t = snap->Find(tracks_[i].id);
    ASSERT_TRUE(t.has_value()) << tracks_[i].id;
    EXPECT_EQ(t->index(), i);
    EXPECT_EQ(t->ToRecord(), tracks_[i]);
  }
}

TEST_F(SnapshotTest, LookupMissComparesIdsByteForByte) {
  std::vector<TrackRecord> tracks = {MakeTrack(1), MakeTrack(2)};
  tracks[0].id = "01";
  tracks[1].id = "Abc ";
  ASSERT_OK(WriteSnapshot(path_, tracks).status());
  Result<Snapshot> snap = Snapshot::Open(path_);
  ASSERT_OK(snap.status());
  EXPECT_TRUE(snap->Find("01").has_value());
  EXPECT_FALSE(snap->Find("1").has_value());
  EXPECT_FALSE(snap->Find("abc ").has_value());
  EXPECT_FALSE(snap->Find("Abc").has_value());
  EXPECT_FALSE(snap->Find("").has_value());
  EXPECT_TRUE(snap->Find("Abc ").has_value());
}

TEST_F(SnapshotTest, IteratesInLibraryOrder) {
  Result<Snapshot> snap = Snapshot::Open(path_);
  ASSERT_OK(snap.status());
  size_t i = 0;
  for (TrackView t : *snap) {
    ASSERT_LT(i, tracks_.size());
    EXPECT_EQ(t.id(), tracks_[i].id);
    EXPECT_EQ(t.index(), i);
    ++i;
  }
  EXPECT_EQ(i, tracks_.size());
}

TEST_F(SnapshotTest, ColumnViewReadsOneField) {
  Result<Snapshot> snap = Snapshot::Open(path_);
  ASSERT_OK(snap.status());
  StringColumnView genres = snap->column(Field::kGenre);
  ASSERT_EQ(genres.size(), tracks_.size());
  for (size_t i = 0; i < tracks_.size(); ++i) {
    EXPECT_EQ(genres.is_null(i), !tracks_[i].genre.has_value());
    EXPECT_EQ(genres[i], tracks_[i].genre.value_or(""));
  }
  StringColumnView extras = snap->column(Field::kExtras);
  EXPECT_EQ(extras[4], tracks_[4].extras_json);
  EXPECT_FALSE(snap->column(Field::kId).is_null(0));
}

TEST_F(SnapshotTest, ReportsHashSizeAndVersion) {
  Result<Snapshot> snap = Snapshot::Open(path_);
  ASSERT_OK(snap.status());
  EXPECT_EQ(snap->content_hash(), hash_);
  EXPECT_EQ(snap->file_size(), ReadFileBytes(path_).size());
  EXPECT_EQ(snap->format_version(), 1u);
  EXPECT_EQ(snap->path(), path_);
  EXPECT_OK(snap->Verify());
}

TEST_F(SnapshotTest, TrustedOpenChecksHeaderButNotContent) {
  std::string bytes = ReadFileBytes(path_);
  bytes[bytes.size() - 100] ^= 0x01;  // inside the id index: a content change
  WriteFileBytes(path_, bytes);
  EXPECT_TRUE(Snapshot::Open(path_).status().IsHashMismatch());
  Result<Snapshot> trusted = Snapshot::OpenTrusted(path_);
  ASSERT_OK(trusted.status());
  EXPECT_TRUE(trusted->Verify().IsHashMismatch());
}

// The column directory (each string column's byte length, written after
// the tables) lets a trusted open place the columns without reading them.
// A directory that disagrees with the columns is caught by a verified open
// and by Verify(); a trusted open of it still reads only inside the file.
TEST_F(SnapshotTest, ColumnDirectoryIsCheckedAgainstTheColumns) {
  uint64_t id_bytes = 0, name_bytes = 0;
  for (const TrackRecord& t : tracks_) {
    id_bytes += t.id.size();
    name_bytes += t.name.size();
  }
  std::string bytes = ReadFileBytes(path_);
  char pattern[16];
  std::memcpy(pattern, &id_bytes, 8);  // little-endian, as FlatBuffers stores it
  std::memcpy(pattern + 8, &name_bytes, 8);
  const size_t at = bytes.find(std::string_view(pattern, sizeof(pattern)));
  ASSERT_NE(at, std::string::npos);
  ASSERT_LT(at, 4096u);  // in the payload's first page, beside the tables
  const uint64_t shorter = id_bytes - 1;
  std::memcpy(bytes.data() + at, &shorter, 8);
  WriteFileBytes(path_, bytes);

  const Status verified = Snapshot::Open(path_).status();
  EXPECT_TRUE(verified.IsCorruption()) << verified.ToString();
  EXPECT_THAT(verified.ToString(), HasSubstr("column directory"));
  Result<Snapshot> trusted = Snapshot::OpenTrusted(path_);
  ASSERT_OK(trusted.status());
  uint64_t read = 0;
  for (TrackView t : *trusted) read += t.id().size() + t.name().size();
  EXPECT_GT(read, 0u);
  const Status v = trusted->Verify();
  EXPECT_TRUE(v.IsCorruption()) << v.ToString();
}

TEST_F(SnapshotTest, FromBufferViewsBytesWithoutCopy) {
  const std::string bytes = ReadFileBytes(path_);
  std::vector<uint64_t> aligned((bytes.size() + 7) / 8);
  std::memcpy(aligned.data(), bytes.data(), bytes.size());
  Result<Snapshot> snap = Snapshot::FromBuffer(aligned.data(), bytes.size(), "shm:lib");
  ASSERT_OK(snap.status());
  EXPECT_EQ(snap->content_hash(), hash_);
  EXPECT_EQ(snap->Find(tracks_[7].id)->ToRecord(), tracks_[7]);
  // Zero-copy: the view points into the caller's buffer.
  const char* begin = reinterpret_cast<const char*>(aligned.data());
  const char* id = (*snap)[0].id().data();
  EXPECT_TRUE(id >= begin && id < begin + bytes.size());
  Result<Snapshot> misaligned =
      Snapshot::FromBuffer(reinterpret_cast<const char*>(aligned.data()) + 1, 100, "x");
  EXPECT_TRUE(misaligned.status().IsInvalidArgument());
}

TEST_F(SnapshotTest, ReplacedFileStaysReadableWhileMapped) {
  Result<Snapshot> old_snap = Snapshot::Open(path_);
  ASSERT_OK(old_snap.status());
  ASSERT_OK(WriteSnapshot(path_, MakeTracks(3)).status());
  EXPECT_EQ(old_snap->size(), tracks_.size());
  EXPECT_OK(old_snap->Verify());
  Result<Snapshot> new_snap = Snapshot::Open(path_);
  ASSERT_OK(new_snap.status());
  EXPECT_EQ(new_snap->size(), 3u);
}

TEST_F(SnapshotTest, MissingFileIsNotFound) {
  Status s = Snapshot::Open(dir_.file("nope.snap")).status();
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr("nope.snap"));
}

TEST_F(SnapshotTest, DirectoryAndFifoAreNotSnapshots) {
  Status s = Snapshot::Open(dir_.path()).status();
  EXPECT_TRUE(s.IsNotASnapshot()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr("directory"));
  const std::string fifo = dir_.file("fifo");
  ASSERT_EQ(mkfifo(fifo.c_str(), 0600), 0);
  s = Snapshot::Open(fifo).status();  // must not block waiting for a writer
  EXPECT_TRUE(s.IsNotASnapshot()) << s.ToString();
}

// The file is mapped through the Env given: one MapReadOnlyFile, and a
// failed mapping is an error naming the file, with nothing left mapped.
TEST_F(SnapshotTest, OpensThroughTheEnvGivenAndReportsAFailedMapping) {
  FaultEnv env;
  Result<Snapshot> snap = Snapshot::Open(path_, &env);
  ASSERT_OK(snap.status());
  EXPECT_EQ(snap->size(), tracks_.size());
  EXPECT_EQ(env.log(), std::vector<std::string>{"MapReadOnlyFile " + path_});

  env.FailEvery(testing::Ops({Op::kMapReadOnlyFile}));
  for (bool verify : {true, false}) {
    Status s =
        verify ? Snapshot::Open(path_, &env).status() : Snapshot::OpenTrusted(path_, &env).status();
    EXPECT_TRUE(s.IsIOError()) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr(path_));
    EXPECT_THAT(s.message(), HasSubstr("injected failure of MapReadOnlyFile"));
  }
  // The Snapshot opened before stays readable; null is Env::Default().
  EXPECT_EQ(snap->Find(tracks_[7].id)->name(), tracks_[7].name);
  ASSERT_OK(Snapshot::OpenTrusted(path_, nullptr).status());
}

// An empty file maps to no bytes, which are not a snapshot (not a crash).
TEST_F(SnapshotTest, EmptyFileThroughTheEnvIsNotASnapshot) {
  const std::string path = dir_.file("empty.snap");
  WriteFileBytes(path, "");
  std::unique_ptr<ReadOnlyMapping> mapping;
  ASSERT_OK(Env::Default()->MapReadOnlyFile(path, &mapping));
  EXPECT_EQ(mapping->size(), 0u);
  EXPECT_EQ(mapping->data(), nullptr);
  FaultEnv env;
  Status s = Snapshot::Open(path, &env).status();
  EXPECT_TRUE(s.IsNotASnapshot()) << s.ToString();
}

TEST_F(SnapshotTest, EmptyAndForeignFilesAreNotSnapshots) {
  Status s = OpenBytes("");
  EXPECT_TRUE(s.IsNotASnapshot()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr("empty file"));
  s = OpenBytes(std::string("PK\x03\x04 not a snapshot at all, but long enough to have a header"));
  EXPECT_TRUE(s.IsNotASnapshot()) << s.ToString();
}

TEST_F(SnapshotTest, FutureVersionIsUnsupportedNotCorrupt) {
  std::string bytes = ReadFileBytes(path_);
  bytes[4] = 2;
  Status s = OpenBytes(bytes);
  EXPECT_TRUE(s.IsVersionUnsupported()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr("format version 2"));
}

TEST_F(SnapshotTest, ShortFileIsTruncatedWithBothSizes) {
  const std::string bytes = ReadFileBytes(path_);
  Status s = OpenBytes(bytes.substr(0, bytes.size() - 10));
  EXPECT_TRUE(s.IsTruncated()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr("header says " + std::to_string(bytes.size()) +
                                      " bytes, file has " + std::to_string(bytes.size() - 10)));
  s = OpenBytes(bytes.substr(0, 20));
  EXPECT_TRUE(s.IsTruncated()) << s.ToString();
}

TEST_F(SnapshotTest, TrailingGarbageIsStructureInvalid) {
  Status s = OpenBytes(ReadFileBytes(path_) + "garbage");
  EXPECT_TRUE(s.IsStructureInvalid()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr("7 trailing bytes"));
}

TEST_F(SnapshotTest, DamagedHeaderIsStructureInvalid) {
  std::string bytes = ReadFileBytes(path_);
  bytes[33] ^= 0x40;  // track count
  Status s = OpenBytes(bytes);
  EXPECT_TRUE(s.IsStructureInvalid()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr("header checksum"));
}

TEST_F(SnapshotTest, FlippedPayloadBitIsHashMismatch) {
  std::string bytes = ReadFileBytes(path_);
  bytes[bytes.size() / 2] ^= 0x08;
  Status s = OpenBytes(bytes);
  EXPECT_TRUE(s.IsCorruption()) << s.ToString();
  EXPECT_TRUE(s.IsHashMismatch() || s.IsStructureInvalid()) << s.ToString();
}

TEST_F(SnapshotTest, UnreadableFileIsIOError) {
  if (geteuid() == 0) GTEST_SKIP() << "root reads mode-000 files";
  ASSERT_EQ(chmod(path_.c_str(), 0), 0);
  Status s = Snapshot::Open(path_).status();
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
}

TEST_F(SnapshotTest, ViewsStayValidAfterMove) {
  Result<Snapshot> snap = Snapshot::Open(path_);
  ASSERT_OK(snap.status());
  Snapshot moved = std::move(snap.value());
  TrackView t = moved[5];
  Snapshot moved_again = std::move(moved);
  EXPECT_EQ(t.ToRecord(), tracks_[5]);
  EXPECT_EQ(moved_again.size(), tracks_.size());
}

}  // namespace
}  // namespace trackstore

// The iterator is random access: a std::random_access_iterator, so that
// std::ranges algorithms (binary search over a sorted column, distance,
// advance) are O(1) per step.
static_assert(std::random_access_iterator<trackstore::Snapshot::Iterator>);
static_assert(std::ranges::random_access_range<const trackstore::Snapshot&>);

TEST(SnapshotIteratorTest, RandomAccessMatchesIndexing) {
  trackstore::testing::TempDir dir;
  const std::string path = dir.file("it.snap");
  ASSERT_TRUE(trackstore::WriteSnapshot(path, trackstore::testing::MakeTracks(100)).ok());
  trackstore::Result<trackstore::Snapshot> snap = trackstore::Snapshot::Open(path);
  ASSERT_TRUE(snap.ok());
  auto begin = snap->begin();
  auto end = snap->end();
  EXPECT_EQ(end - begin, 100);
  EXPECT_EQ((*(begin + 37)).id(), (*snap)[37].id());
  EXPECT_EQ(begin[99].id(), (*snap)[99].id());
  EXPECT_EQ((*(end - 1)).id(), (*snap)[99].id());
  auto it = end;
  --it;
  it -= 9;
  EXPECT_EQ((*it).index(), 90u);
  EXPECT_LT(begin, it);
  EXPECT_EQ(std::ranges::distance(*snap), 100);
}
