// JSON import reads its input in windows of about a MiB: these tests give it
// inputs many windows long, with the text that can fool a window's cut
// (strings and nested objects holding "},"), records longer than a window,
// and errors deep inside, and check every record and every error offset.
#include <unistd.h>

#include <string>
#include <utility>
#include <vector>

#include <filesystem>
#include "fault_env.h"
#include "gzip_test_util.h"
#include "test_util.h"

#include "trackstore/json.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/store.h"

namespace trackstore {
namespace {

using testing::Gzip;
using ::testing::HasSubstr;
using testing::TempDir;
using testing::WriteFileBytes;

// Records whose text is hostile to a cut after "}," : ids, names and
// extras holding "},", "}, {" and nested objects in arrays.
std::vector<TrackRecord> TrickyTracks(size_t count) {
  std::vector<TrackRecord> tracks(count);
  for (size_t i = 0; i < count; ++i) {
    TrackRecord& t = tracks[i];
    t.id = "id-" + std::to_string(i);
    t.name = i % 3 == 0 ? "a},{\"b\":\"c\"}," : "track " + std::to_string(i);
    t.artist = i % 5 == 0 ? "}, {" : "artist";
    t.album = "album";
    if (i % 2 == 0) t.genre = "rock},";
    if (i % 7 == 0) t.original_pos = static_cast<int64_t>(i);
    if (i % 4 == 0) {
      t.extras_json = R"({"tags":[{"a":1},{"b":[{"c":"},"}]}],"z":{"y":{}}})";
    }
  }
  return tracks;
}

std::string ExportText(const std::vector<TrackRecord>& tracks) {
  std::string text = "[";
  for (size_t i = 0; i < tracks.size(); ++i) {
    if (i) text += ",";
    AppendTrackJson(tracks[i], &text);
  }
  return text + "]";
}

TEST(JsonStreamTest, CompactTextManyWindowsLong) {
  const std::vector<TrackRecord> tracks = TrickyTracks(40000);
  const std::string text = ExportText(tracks);
  ASSERT_GT(text.size(), size_t{3} << 20);  // windows are about 1 MiB
  Result<std::vector<TrackRecord>> got = ParseTracksJson(text, "t.json");
  ASSERT_OK(got.status());
  EXPECT_EQ(*got, tracks);
}

TEST(JsonStreamTest, PrettyTextManyWindowsLong) {
  const std::vector<TrackRecord> tracks = TrickyTracks(30000);
  std::string text = "\n[\n";
  for (size_t i = 0; i < tracks.size(); ++i) {
    std::string one;
    AppendTrackJson(tracks[i], &one);
    // Blanks around every structural character outside strings would need
    // a tokenizer; between records and after the keys' colons is enough.
    text += "  " + one + (i + 1 < tracks.size() ? " ,\n\t" : "\n");
  }
  text += "]\n\n";
  Result<std::vector<TrackRecord>> got = ParseTracksJson(text, "t.json");
  ASSERT_OK(got.status());
  EXPECT_EQ(*got, tracks);
}

// Every window ends inside a string: each record is one long name of
// "}," pairs.
TEST(JsonStreamTest, CutsInsideStringsAreRetried) {
  std::vector<TrackRecord> tracks(12);
  for (size_t i = 0; i < tracks.size(); ++i) {
    tracks[i].id = std::to_string(i);
    std::string name;
    while (name.size() < (size_t{700} << 10)) name += "},";
    tracks[i].name = name;
  }
  Result<std::vector<TrackRecord>> got = ParseTracksJson(ExportText(tracks), "t.json");
  ASSERT_OK(got.status());
  EXPECT_EQ(*got, tracks);
}

TEST(JsonStreamTest, RecordLargerThanAWindow) {
  std::vector<TrackRecord> tracks = TrickyTracks(10);
  tracks[4].name = std::string(size_t{5} << 20, 'x');
  tracks[5].extras_json = R"({"big":")" + std::string(size_t{3} << 20, 'y') + R"("})";
  Result<std::vector<TrackRecord>> got = ParseTracksJson(ExportText(tracks), "t.json");
  ASSERT_OK(got.status());
  EXPECT_EQ(*got, tracks);
}

TEST(JsonStreamTest, BlanksLongerThanTheLimitAreNoRecord) {
  const std::vector<TrackRecord> tracks = TrickyTracks(3);
  std::string text = ExportText(tracks);
  text.insert(1, std::string(size_t{70} << 20, ' '));
  text.insert(text.size() - 1, std::string(size_t{3} << 20, '\n'));
  Result<std::vector<TrackRecord>> got = ParseTracksJson(text, "t.json");
  ASSERT_OK(got.status());
  EXPECT_EQ(*got, tracks);
}

TEST(JsonStreamTest, RecordLargerThanTheLimitIsRefused) {
  std::vector<TrackRecord> tracks = TrickyTracks(3);
  tracks[1].name = std::string(size_t{70} << 20, 'x');
  Status s = ParseTracksJson(ExportText(tracks), "t.json").status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("record 1: no end of the record"));
  EXPECT_THAT(s.message(), HasSubstr("at most"));
}

TEST(JsonStreamTest, InvalidUtf8DeepInsideHasItsOffsetInTheInput) {
  const std::vector<TrackRecord> tracks = TrickyTracks(30000);
  std::string text = ExportText(tracks);
  const size_t at = text.find("track 25000");
  ASSERT_NE(at, std::string::npos);
  text[at + 2] = '\xff';
  Status s = ParseTracksJson("\xEF\xBB\xBF" + text, "t.json").status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("offset " + std::to_string(at + 2 + 3)));
}

TEST(JsonStreamTest, ErrorsDeepInsideNameTheRecord) {
  const std::vector<TrackRecord> tracks = TrickyTracks(30000);
  std::string text = ExportText(tracks);
  // A type error in record 20001.
  const std::string needle = R"("id":"id-20001","name":")";
  const size_t at = text.find(needle);
  ASSERT_NE(at, std::string::npos);
  text.replace(at + needle.size() - 1, 1, "7,\"x\":\"");
  Status s = ParseTracksJson(text, "t.json").status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("record 20001: field 'name': expected a string, got number"));
}

TEST(JsonStreamTest, SyntaxErrorsDeepInsideAreErrors) {
  const std::string text = ExportText(TrickyTracks(30000));
  const size_t middle = text.find("\"id\":\"id-15000\"");
  ASSERT_NE(middle, std::string::npos);
  for (const std::string& bad : {std::string("{"), std::string("]"), std::string(",,"),
                                 std::string("\"x\""), std::string("nul")}) {
    SCOPED_TRACE(bad);
    std::string broken = text;
    broken.insert(middle, bad);
    Status s = ParseTracksJson(broken, "t.json").status();
    EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  }
  // Missing the end.
  for (size_t cut : {text.size() - 1, text.size() / 2, text.size() / 3 + 1}) {
    Status s = ParseTracksJson(text.substr(0, cut), "t.json").status();
    EXPECT_TRUE(s.IsInvalidArgument()) << cut << ": " << s.ToString();
  }
  // Text after the array.
  Status s = ParseTracksJson(text + std::string(3 << 20, ' ') + "x", "t.json").status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
}

TEST(JsonStreamTest, GzipInPiecesManyWindowsLong) {
  TempDir dir;
  const std::vector<TrackRecord> tracks = TrickyTracks(40000);
  const std::string text = ExportText(tracks);
  // Two members, split in the middle of a record.
  const std::string gz = Gzip(text.substr(0, text.size() / 2)) + Gzip(text.substr(text.size() / 2));
  WriteFileBytes(dir.file("t.json.gz"), gz);
  Result<std::vector<TrackRecord>> got = ImportJsonFile(dir.file("t.json.gz"));
  ASSERT_OK(got.status());
  EXPECT_EQ(*got, tracks);
  // Truncated in the second member.
  WriteFileBytes(dir.file("cut.json.gz"), gz.substr(0, gz.size() - 100));
  Status s = ImportJsonFile(dir.file("cut.json.gz")).status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("truncated gzip data"));
}

}  // namespace
}  // namespace trackstore

// --- straight into columns ---------------------------------------------------

namespace trackstore {
namespace {

// The column path gives the bytes the record path gives.
TEST(JsonColumnsTest, SnapshotEqualsTheWritersOutput) {
  TempDir dir;
  const std::vector<TrackRecord> tracks = TrickyTracks(30000);
  ASSERT_OK(WriteJsonFile(tracks, dir.file("t.json")));
  Result<WriteResult> imported = ImportJsonToSnapshot(dir.file("t.json"), dir.file("a.snap"));
  ASSERT_OK(imported.status());
  Result<WriteResult> written = WriteSnapshot(dir.file("b.snap"), tracks);
  ASSERT_OK(written.status());
  EXPECT_EQ(imported->content_hash, written->content_hash);
  EXPECT_EQ(imported->track_count, tracks.size());
  EXPECT_EQ(testing::ReadFileBytes(dir.file("a.snap")), testing::ReadFileBytes(dir.file("b.snap")));
  Result<Snapshot> snap = Snapshot::Open(dir.file("a.snap"));
  ASSERT_OK(snap.status());
  EXPECT_EQ(snap->size(), tracks.size());
}

// The progress callback sees the counts grow, window by window, to the
// whole input, for a snapshot, a store and records alike.
TEST(JsonColumnsTest, ProgressReachesTheWholeInput) {
  TempDir dir;
  const std::vector<TrackRecord> tracks = TrickyTracks(30000);
  ASSERT_OK(WriteJsonFile(tracks, dir.file("t.json")));
  const uint64_t size = std::filesystem::file_size(dir.file("t.json"));
  ASSERT_GT(size, uint64_t{2} << 20);  // several windows of about 1 MiB
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  JsonImportOptions options;
  options.progress = [&](uint64_t records, uint64_t bytes) { calls.emplace_back(records, bytes); };
  auto check = [&](const char* what) {
    SCOPED_TRACE(what);
    ASSERT_GT(calls.size(), 2u);
    for (size_t i = 1; i < calls.size(); ++i) {
      EXPECT_GT(calls[i].first, calls[i - 1].first);
      EXPECT_GT(calls[i].second, calls[i - 1].second);
    }
    EXPECT_EQ(calls.back().first, tracks.size());
    EXPECT_LE(calls.back().second, size);
    EXPECT_GT(calls.back().second, size - 16);  // all but the closing bracket and blanks
    calls.clear();
  };
  ASSERT_OK(ImportJsonToSnapshot(dir.file("t.json"), dir.file("a.snap"), options).status());
  check("snapshot");
  Result<Store> store = Store::Open(dir.file("store"));
  ASSERT_OK(store.status());
  ASSERT_OK(ImportJsonToStore(*store, dir.file("t.json"), options).status());
  check("store");
  ASSERT_OK(ImportJsonFile(dir.file("t.json"), options).status());
  check("records");
}

TEST(JsonColumnsTest, EmptyLibrary) {
  TempDir dir;
  testing::WriteFileBytes(dir.file("t.json"), " [ ] \n");
  Result<WriteResult> imported = ImportJsonToSnapshot(dir.file("t.json"), dir.file("a.snap"));
  ASSERT_OK(imported.status());
  EXPECT_EQ(imported->track_count, 0u);
  ASSERT_OK(Snapshot::Open(dir.file("a.snap")).status());
}

std::string Record(const std::string& id, const std::string& name) {
  return R"({"id":")" + id + R"(","name":")" + name + R"(","artist":"","album":""})";
}

TEST(JsonColumnsTest, DuplicateIdPolicies) {
  TempDir dir;
  testing::WriteFileBytes(dir.file("t.json"), "[" + Record("a", "1") + "," + Record("b", "2") +
                                                  "," + Record("a", "3") + "]");
  Status s = ImportJsonToSnapshot(dir.file("t.json"), dir.file("out.snap")).status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("'a' at records 0 and 2"));
  EXPECT_FALSE(std::filesystem::exists(dir.file("out.snap")));

  for (DuplicatePolicy policy : {DuplicatePolicy::kKeepFirst, DuplicatePolicy::kKeepLast}) {
    WriteOptions w;
    w.duplicates = policy;
    Result<WriteResult> r = ImportJsonToSnapshot(dir.file("t.json"), dir.file("out.snap"), {}, w);
    ASSERT_OK(r.status());
    EXPECT_EQ(r->duplicates_dropped, 1u);
    Result<Snapshot> snap = Snapshot::Open(dir.file("out.snap"));
    ASSERT_OK(snap.status());
    ASSERT_EQ(snap->size(), 2u);
    EXPECT_EQ(snap->Find("a")->name(), policy == DuplicatePolicy::kKeepFirst ? "1" : "3");
    EXPECT_EQ((*snap->begin()).id(), "a");  // the first position
  }
}

TEST(JsonColumnsTest, EmptyIdsAndNulBytes) {
  TempDir dir;
  testing::WriteFileBytes(dir.file("t.json"), "[" + Record("", "x") + "," + Record("b", "2") + "," +
                                                  Record("", "y") + "," + Record("b2", "z") + "]");
  Status s = ImportJsonToSnapshot(dir.file("t.json"), dir.file("out.snap")).status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("2 tracks have an empty id, at records 0, 2"));
  WriteOptions w;
  w.drop_empty_ids = true;
  Result<WriteResult> r = ImportJsonToSnapshot(dir.file("t.json"), dir.file("out.snap"), {}, w);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->empty_ids_dropped, 2u);
  EXPECT_EQ(r->track_count, 2u);

  // Positions in duplicate messages count the dropped records.
  testing::WriteFileBytes(dir.file("d.json"), "[" + Record("", "x") + "," + Record("b", "2") + "," +
                                                  Record("b", "3") + "]");
  s = ImportJsonToSnapshot(dir.file("d.json"), dir.file("out.snap"), {}, w).status();
  EXPECT_THAT(s.message(), HasSubstr("'b' at records 1 and 2"));

  for (const std::string& field : {std::string("id"), std::string("name")}) {
    const std::string rec = field == "id" ? Record("a\\u0000b", "n") : Record("a", "n\\u0000");
    testing::WriteFileBytes(dir.file("n.json"), "[" + Record("x", "") + "," + rec + "]");
    s = ImportJsonToSnapshot(dir.file("n.json"), dir.file("out.snap")).status();
    EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("record 1: field '" + field + "' contains a NUL byte"));
  }
}

TEST(JsonColumnsTest, FailureLeavesTheOldFile) {
  TempDir dir;
  ASSERT_OK(WriteSnapshot(dir.file("out.snap"), TrickyTracks(5)).status());
  const std::string before = testing::ReadFileBytes(dir.file("out.snap"));
  std::string text = ExportText(TrickyTracks(30000));
  text.resize(text.size() - 10);  // truncated
  testing::WriteFileBytes(dir.file("t.json"), text);
  EXPECT_FALSE(ImportJsonToSnapshot(dir.file("t.json"), dir.file("out.snap")).ok());
  EXPECT_EQ(testing::ReadFileBytes(dir.file("out.snap")), before);
}

// A store import writes a fragment whenever one fills, and the version it
// commits reads as the records.
TEST(JsonColumnsTest, StoreImportSplitsIntoFragments) {
  TempDir dir;
  const std::vector<TrackRecord> tracks = TrickyTracks(20000);
  ASSERT_OK(WriteJsonFile(tracks, dir.file("t.json")));
  StoreOptions options;
  options.max_fragment_bytes = 1 << 20;
  Result<Store> store = Store::Open(dir.file("store"), options);
  ASSERT_OK(store.status());
  Result<CommitStats> stats = ImportJsonToStore(*store, dir.file("t.json"));
  ASSERT_OK(stats.status());
  EXPECT_EQ(stats->track_count, tracks.size());
  Result<Version> v = store->Current();
  ASSERT_OK(v.status());
  EXPECT_GT(v->info().fragments.size(), 2u);
  ASSERT_OK(v->Verify());
  std::vector<TrackRecord> back;
  for (TrackView t : *v) back.push_back(t.ToRecord());
  EXPECT_EQ(back, tracks);
  // The same hash as one snapshot of the tracks.
  ASSERT_OK(WriteSnapshot(dir.file("one.snap"), tracks).status());
  Result<Snapshot> one = Snapshot::Open(dir.file("one.snap"));
  ASSERT_OK(one.status());
  EXPECT_EQ(v->content_hash(), LogicalContentHash(*one));
}

TEST(JsonColumnsTest, StoreImportFailureKeepsThePreviousVersion) {
  TempDir dir;
  StoreOptions options;
  options.max_fragment_bytes = 1 << 20;
  Result<Store> store = Store::Open(dir.file("store"), options);
  ASSERT_OK(store.status());
  ASSERT_OK(store->Replace(TrickyTracks(10)).status());
  // Bad record after several fragments were written.
  std::string text = ExportText(TrickyTracks(20000));
  const std::string needle = R"("id":"id-19000","name":")";
  const size_t at = text.find(needle);
  text.replace(at + needle.size() - 1, 1, "7,\"x\":\"");
  testing::WriteFileBytes(dir.file("bad.json"), text);
  Status s = ImportJsonToStore(*store, dir.file("bad.json")).status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  Result<Version> v = store->Current();
  ASSERT_OK(v.status());
  EXPECT_EQ(v->size(), 10u);
  EXPECT_EQ(v->number(), 1u);
  // A duplicate across fragments is refused too.
  std::vector<TrackRecord> dup = TrickyTracks(20000);
  dup.back().id = dup.front().id;
  ASSERT_OK(WriteJsonFile(dup, dir.file("dup.json")));
  s = ImportJsonToStore(*store, dir.file("dup.json")).status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_EQ(store->Current()->number(), 1u);
}

// The input is read through the Env: a read that fails part way through
// the file (plain, or gzip inflated on its own thread) fails the import,
// and the old snapshot file stays as it was, with no file left beside it.
TEST(JsonColumnsTest, ReadFailureMidStreamLeavesTheOldFile) {
  TempDir dir;
  const std::string out = dir.file("out.snap");
  ASSERT_OK(WriteSnapshot(out, TrickyTracks(5)).status());
  const std::string before = testing::ReadFileBytes(out);
  const std::string text = ExportText(TrickyTracks(100000));  // about 7 MiB
  testing::WriteFileBytes(dir.file("t.json"), text);
  testing::WriteFileBytes(dir.file("t.json.gz"), Gzip(text));
  for (const std::string name : {"t.json", "t.json.gz"}) {
    SCOPED_TRACE(name);
    const std::string in = dir.file(name);
    testing::FaultEnv env;
    WriteOptions write_options;
    write_options.env = &env;  // the input is read through it too
    ASSERT_OK(ImportJsonToSnapshot(in, dir.file("count.snap"), {}, write_options).status());
    // The failing read comes after bytes were read (gzip: the raw bytes,
    // which compress to less than one read, then the end).
    ASSERT_GE(env.count(testing::Op::kRead), name == "t.json" ? 4u : 2u);
    std::filesystem::remove(dir.file("count.snap"));

    env.FailAt(2, testing::FaultEnv::Action::kFail, testing::Ops({testing::Op::kRead}));
    Status s = ImportJsonToSnapshot(in, out, {}, write_options).status();
    EXPECT_TRUE(s.IsIOError()) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr(in));
    EXPECT_EQ(testing::ReadFileBytes(out), before);
    const auto entries = std::distance(std::filesystem::directory_iterator(dir.path()), {});
    EXPECT_EQ(entries, 3);  // the two inputs and out.snap

    // JsonImportOptions::env reads the input; the output's Env is left alone.
    testing::FaultEnv reads;
    reads.FailEvery(testing::Ops({testing::Op::kRead}));
    JsonImportOptions import_options;
    import_options.env = &reads;
    s = ImportJsonToSnapshot(in, out, import_options).status();
    EXPECT_TRUE(s.IsIOError()) << s.ToString();
    EXPECT_EQ(testing::ReadFileBytes(out), before);
    EXPECT_TRUE(ImportJsonFile(in, import_options).status().IsIOError());
  }
}

// A store import reads through the store's Env: a read failure after
// fragments were written keeps the previous version current.
TEST(JsonColumnsTest, StoreImportReadFailureKeepsThePreviousVersion) {
  TempDir dir;
  testing::FaultEnv env;
  StoreOptions options;
  options.max_fragment_bytes = 1 << 20;
  options.env = &env;
  Result<Store> store = Store::Open(dir.file("store"), options);
  ASSERT_OK(store.status());
  ASSERT_OK(store->Replace(TrickyTracks(10)).status());
  testing::WriteFileBytes(dir.file("t.json"), ExportText(TrickyTracks(20000)));
  env.FailAt(3, testing::FaultEnv::Action::kFail, testing::Ops({testing::Op::kRead}));
  Status s = ImportJsonToStore(*store, dir.file("t.json")).status();
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_EQ(env.failed_op(), "Read");
  EXPECT_GT(env.count(testing::Op::kWriteNewFile), 0u);  // a fragment was written before
  Result<Version> v = store->Current();
  ASSERT_OK(v.status());
  EXPECT_EQ(v->number(), 1u);
  EXPECT_EQ(v->size(), 10u);
  ASSERT_OK(v->Verify());
}

}  // namespace
}  // namespace trackstore

namespace trackstore {
namespace {

// gzip input is inflated on a thread of its own: an import that fails while
// that thread waits on a pipe that never ends returns, and the thread stops.
TEST(JsonStreamTest, FailureWhileInflatingFromAnOpenPipe) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  const std::string gz = Gzip("{\"not\": \"an array\"}");
  ASSERT_EQ(::write(fds[1], gz.data(), gz.size()), static_cast<ssize_t>(gz.size()));
  // fds[1] stays open: the input never ends.
  Status s = ImportJsonFile("/dev/fd/" + std::to_string(fds[0])).status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("expected an array of track objects"));
  ::close(fds[0]);
  ::close(fds[1]);
}

}  // namespace
}  // namespace trackstore

// --- large files: two halves parsed at once -----------------------------------

namespace trackstore {
namespace {

// A file of at least 16 MiB is split near its middle and parsed on two
// threads; whatever the split, the result and the errors are those of one
// pass.
class JsonHalvesTest : public ::testing::Test {
 protected:
  // About 20 MiB of records, with presence bits that differ track by track
  // (so that joining the halves' bitmaps must shift them).
  static std::vector<TrackRecord> Library() { return TrickyTracks(200000); }

  void Import(const std::string& text, Status* status, std::string* bytes) {
    testing::WriteFileBytes(dir_.file("t.json"), text);
    Result<WriteResult> r = ImportJsonToSnapshot(dir_.file("t.json"), dir_.file("out.snap"));
    *status = r.status();
    *bytes = r.ok() ? testing::ReadFileBytes(dir_.file("out.snap")) : "";
  }

  testing::TempDir dir_;
};

TEST_F(JsonHalvesTest, SameBytesAsTheWriter) {
  const std::vector<TrackRecord> tracks = Library();
  const std::string text = ExportText(tracks);
  ASSERT_GT(text.size(), size_t{16} << 20);
  ASSERT_OK(WriteSnapshot(dir_.file("want.snap"), tracks).status());
  Status s;
  std::string got;
  Import(text, &s, &got);
  ASSERT_OK(s);
  EXPECT_EQ(got, testing::ReadFileBytes(dir_.file("want.snap")));
}

// Around the middle, every "},{" is inside a string or ends a nested object:
// the halves fail and the one-pass parse gives the same library.
TEST_F(JsonHalvesTest, SplitThatIsNoRecordBoundary) {
  std::vector<TrackRecord> tracks = Library();
  for (size_t i = tracks.size() / 2 - 3000; i < tracks.size() / 2 + 3000; ++i) {
    tracks[i].name = "},{\"x\":1},{";
    tracks[i].extras_json = R"({"a":[{"b":1},{"c":2}]})";
  }
  ASSERT_OK(WriteSnapshot(dir_.file("want.snap"), tracks).status());
  Status s;
  std::string got;
  Import(ExportText(tracks), &s, &got);
  ASSERT_OK(s);
  EXPECT_EQ(got, testing::ReadFileBytes(dir_.file("want.snap")));
}

TEST_F(JsonHalvesTest, ErrorsNameTheRecordOfTheWholeFile) {
  std::vector<TrackRecord> tracks = Library();
  tracks[190000].id = tracks[10].id;
  Status s;
  std::string got;
  Import(ExportText(tracks), &s, &got);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("' at records 10 and 190000"));

  tracks = Library();
  tracks[150000].id.clear();
  Import(ExportText(tracks), &s, &got);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("1 tracks have an empty id, at records 150000"));

  std::string text = ExportText(Library());
  const std::string needle = R"("id":"id-180001","name":")";
  const size_t at = text.find(needle);
  ASSERT_NE(at, std::string::npos);
  text.replace(at + needle.size() - 1, 1, "7,\"x\":\"");
  Import(text, &s, &got);
  EXPECT_THAT(s.message(), HasSubstr("record 180001: field 'name': expected a string, got number"));
}

}  // namespace
}  // namespace trackstore
