// Tests of streaming JSON export, plain and gzip: the text written in pieces
// is the text of one pass, export then import gives back the same tracks,
// a failure at any point publishes nothing, and memory stays near one
// piece however large the library.
#include <errno.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdio>
#include <filesystem>
#include <functional>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "fault_env.h"
#include "gzip_test_util.h"
#include "test_util.h"
#include "trackstore/env.h"
#include "trackstore/json.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/store.h"
#include "trackstore/synthetic.h"

namespace trackstore {
namespace {

using testing::FaultEnv;
using testing::Gunzip;
using ::testing::HasSubstr;
using testing::MakeTrack;
using testing::MakeTracks;
using testing::Op;
using testing::ReadFileBytes;
using testing::TempDir;
using testing::WriteFileBytes;

size_t FilesIn(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

bool IsGzip(const std::string& bytes) {
  return bytes.size() >= 2 && static_cast<unsigned char>(bytes[0]) == 0x1f &&
         static_cast<unsigned char>(bytes[1]) == 0x8b;
}

std::vector<TrackRecord> MustImport(const std::string& path) {
  Result<std::vector<TrackRecord>> r = ImportJsonFile(path);
  EXPECT_OK(r.status()) << path;
  return r.ok() ? std::move(r).value() : std::vector<TrackRecord>{};
}

// Every field set, extras with nesting, and text that needs escaping.
TrackRecord FullTrack() {
  TrackRecord t;
  t.id = "4711";
  t.name = "Quote \" backslash \\ tab \t newline \n \u00e9t\u00e9 \U0001F3B5";
  t.artist = "ctl \x01\x1f\x7f del";
  t.album = "";
  for (int f = kRequiredStringFieldCount; f < kStringFieldCount; ++f) {
    t.SetStringField(f, "value of " + std::string(FieldName(static_cast<Field>(f))));
  }
  t.original_pos = -7;
  t.extras_json = R"({"nested":{"a":[1,2.5,{"b":null}],"t":true},"rating":80,"s":"x\"y"})";
  return t;
}

// MakeTracks covers absent, empty and set optional fields and extras.
std::vector<TrackRecord> VariedTracks(uint64_t count) {
  std::vector<TrackRecord> tracks = MakeTracks(count);
  tracks.push_back(FullTrack());
  return tracks;
}

JsonExportOptions Options(JsonCompression compression, size_t buffer_bytes = size_t{4} << 20) {
  JsonExportOptions options;
  options.compression = compression;
  options.buffer_bytes = buffer_bytes;
  options.sync = false;
  return options;
}

// --- round trips -------------------------------------------------------------

TEST(JsonExportStreamTest, EmptyLibraryPlainAndGzip) {
  TempDir dir;
  ASSERT_OK(WriteJsonFile({}, dir.file("empty.json")));
  ASSERT_OK(WriteJsonFile({}, dir.file("empty.json.gz")));
  EXPECT_EQ(ReadFileBytes(dir.file("empty.json")), "[]\n");
  const std::string gz = ReadFileBytes(dir.file("empty.json.gz"));
  EXPECT_TRUE(IsGzip(gz));
  EXPECT_EQ(Gunzip(gz), "[]\n");
  EXPECT_TRUE(MustImport(dir.file("empty.json")).empty());
  EXPECT_TRUE(MustImport(dir.file("empty.json.gz")).empty());
}

TEST(JsonExportStreamTest, RecordsRoundTripPlainAndGzip) {
  TempDir dir;
  const std::vector<TrackRecord> tracks = VariedTracks(300);
  ASSERT_OK(WriteJsonFile(tracks, dir.file("t.json")));
  ASSERT_OK(WriteJsonFile(tracks, dir.file("t.json.gz")));
  EXPECT_EQ(MustImport(dir.file("t.json")), tracks);
  EXPECT_EQ(MustImport(dir.file("t.json.gz")), tracks);
  const std::string gz = ReadFileBytes(dir.file("t.json.gz"));
  ASSERT_TRUE(IsGzip(gz));
  EXPECT_EQ(Gunzip(gz), ReadFileBytes(dir.file("t.json")));
  EXPECT_EQ(FilesIn(dir.path()), 2u);
}

// Pieces of 1 byte (one per track), 4 KiB and the default give the same
// bytes: where a piece ends never shows in the text or the gzip stream.
TEST(JsonExportStreamTest, TextDoesNotDependOnTheBufferSize) {
  TempDir dir;
  const std::vector<TrackRecord> tracks = VariedTracks(2000);  // ~200 KB of JSON
  std::string plain, gzip;
  for (size_t buffer : {size_t{1}, size_t{4096}, size_t{4} << 20}) {
    ASSERT_OK(WriteJsonFile(tracks, dir.file("t.json"), Options(JsonCompression::kNone, buffer)));
    ASSERT_OK(WriteJsonFile(tracks, dir.file("t.gz"), Options(JsonCompression::kGzip, buffer)));
    const std::string p = ReadFileBytes(dir.file("t.json"));
    const std::string g = ReadFileBytes(dir.file("t.gz"));
    ASSERT_GT(p.size(), 40 * size_t{4096});
    if (plain.empty()) {
      plain = p;
      gzip = g;
    }
    EXPECT_EQ(p, plain) << buffer;
    EXPECT_EQ(g, gzip) << buffer;
    EXPECT_EQ(Gunzip(g), plain) << buffer;
    EXPECT_EQ(MustImport(dir.file("t.gz")), tracks) << buffer;
  }
}

// The progress callback sees the counts grow piece by piece, to every
// track and every byte of the text.
TEST(JsonExportStreamTest, ProgressReachesEveryTrackAndByte) {
  TempDir dir;
  const std::vector<TrackRecord> tracks = VariedTracks(2000);
  std::vector<std::pair<uint64_t, uint64_t>> calls;
  JsonExportOptions options = Options(JsonCompression::kGzip, 4096);
  options.progress = [&](uint64_t n, uint64_t bytes) { calls.emplace_back(n, bytes); };
  ASSERT_OK(WriteJsonFile(tracks, dir.file("t.json.gz"), options));
  ASSERT_GT(calls.size(), 10u);
  for (size_t i = 1; i < calls.size(); ++i) {
    EXPECT_GE(calls[i].first, calls[i - 1].first);
    EXPECT_GT(calls[i].second, calls[i - 1].second);
  }
  EXPECT_EQ(calls.back().first, tracks.size());
  EXPECT_EQ(calls.back().second, Gunzip(ReadFileBytes(dir.file("t.json.gz"))).size());
}

// A snapshot (read through its mapping) whose JSON is several default
// buffers long.
TEST(JsonExportStreamTest, LargeSnapshotRoundTripsPlainAndGzip) {
  TempDir dir;
  const std::vector<TrackRecord> tracks = GenerateLibrary(40000);  // ~16 MB of JSON
  SnapshotWriter writer;
  ASSERT_OK(writer.Write(dir.file("lib.snap"), tracks).status());
  Result<Snapshot> snap = Snapshot::Open(dir.file("lib.snap"));
  ASSERT_OK(snap.status());
  ASSERT_OK(ExportJsonFile(*snap, dir.file("lib.json")));
  ASSERT_OK(ExportJsonFile(*snap, dir.file("lib.json.gz")));
  const std::string plain = ReadFileBytes(dir.file("lib.json"));
  EXPECT_GT(plain.size(), 3 * (size_t{4} << 20));
  const std::string gz = ReadFileBytes(dir.file("lib.json.gz"));
  EXPECT_LT(gz.size(), plain.size() / 3);
  EXPECT_EQ(Gunzip(gz), plain);
  EXPECT_EQ(MustImport(dir.file("lib.json")), tracks);
  EXPECT_EQ(MustImport(dir.file("lib.json.gz")), tracks);
}

TEST(JsonExportStreamTest, LayeredVersionRoundTripsThroughGzip) {
  TempDir dir;
  StoreOptions store_options;
  store_options.sync = false;
  store_options.auto_compact = false;
  Result<Store> store = Store::Open(dir.file("store"), store_options);
  ASSERT_OK(store.status());
  std::vector<TrackRecord> tracks = VariedTracks(400);
  ASSERT_OK(store->Replace(tracks).status());
  ASSERT_OK(
      store
          ->Commit(std::vector<TrackRecord>{MakeTrack(900)}, std::vector<std::string>{tracks[5].id})
          .status());
  Result<Version> version = store->Current();
  ASSERT_OK(version.status());
  ASSERT_EQ(version->single_snapshot(), nullptr);
  std::vector<TrackRecord> expected;
  for (TrackView t : *version) expected.push_back(t.ToRecord());

  ASSERT_OK(ExportJsonFile(*version, dir.file("v.json"), Options(JsonCompression::kNone, 1000)));
  ASSERT_OK(ExportJsonFile(*version, dir.file("v.json.gz")));
  EXPECT_EQ(MustImport(dir.file("v.json")), expected);
  EXPECT_EQ(MustImport(dir.file("v.json.gz")), expected);
  EXPECT_EQ(Gunzip(ReadFileBytes(dir.file("v.json.gz"))), ReadFileBytes(dir.file("v.json")));
}

TEST(JsonExportStreamTest, CompressionByNameOrAsAsked) {
  TempDir dir;
  const std::vector<TrackRecord> tracks = MakeTracks(20);
  ASSERT_OK(WriteJsonFile(tracks, dir.file("a.json.gz")));
  ASSERT_OK(WriteJsonFile(tracks, dir.file("b.json.GZ")));  // the suffix is case-sensitive
  ASSERT_OK(WriteJsonFile(tracks, dir.file("c.json"), Options(JsonCompression::kGzip)));
  ASSERT_OK(WriteJsonFile(tracks, dir.file("d.json.gz"), Options(JsonCompression::kNone)));
  ASSERT_OK(WriteJsonFile(tracks, dir.file("e.json.gz"), Options(JsonCompression::kByName)));
  EXPECT_TRUE(IsGzip(ReadFileBytes(dir.file("a.json.gz"))));
  EXPECT_FALSE(IsGzip(ReadFileBytes(dir.file("b.json.GZ"))));
  EXPECT_TRUE(IsGzip(ReadFileBytes(dir.file("c.json"))));
  EXPECT_FALSE(IsGzip(ReadFileBytes(dir.file("d.json.gz"))));
  EXPECT_TRUE(IsGzip(ReadFileBytes(dir.file("e.json.gz"))));
  for (const char* name : {"a.json.gz", "b.json.GZ", "c.json", "d.json.gz", "e.json.gz"}) {
    EXPECT_EQ(MustImport(dir.file(name)), tracks) << name;
  }
}

TEST(JsonExportStreamTest, GzipLevelIsChecked) {
  TempDir dir;
  const std::vector<TrackRecord> tracks = MakeTracks(500);
  std::vector<size_t> sizes;
  for (int level : {0, 1, 9, -1}) {
    JsonExportOptions options = Options(JsonCompression::kGzip);
    options.gzip_level = level;
    ASSERT_OK(WriteJsonFile(tracks, dir.file("t.gz"), options)) << level;
    EXPECT_EQ(MustImport(dir.file("t.gz")), tracks) << level;
    sizes.push_back(ReadFileBytes(dir.file("t.gz")).size());
  }
  EXPECT_GT(sizes[0], sizes[1]);  // 0 stores
  EXPECT_GE(sizes[1], sizes[2]);

  WriteFileBytes(dir.file("t.gz"), "old");
  for (int level : {10, -2}) {
    JsonExportOptions options = Options(JsonCompression::kGzip);
    options.gzip_level = level;
    Status s = WriteJsonFile(tracks, dir.file("t.gz"), options);
    EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("gzip level"));
  }
  EXPECT_EQ(ReadFileBytes(dir.file("t.gz")), "old");
  EXPECT_EQ(FilesIn(dir.path()), 1u);
}

// --- failures publish nothing ---------------------------------------------------

class JsonExportFailureTest : public ::testing::TestWithParam<JsonCompression> {
 protected:
  // Exports tracks_ to out_ (which holds "old") through `env` in pieces of
  // 4 KiB; expects a failure that left out_ as it was and no other file.
  Status ExportExpectingFailure(FaultEnv* env) {
    JsonExportOptions options = Options(GetParam(), 4096);
    options.env = env;
    Status s = WriteJsonFile(tracks_, out_, options);
    EXPECT_FALSE(s.ok());
    EXPECT_EQ(ReadFileBytes(out_), "old");
    EXPECT_EQ(FilesIn(dir_.path()), 1u);
    EXPECT_EQ(env->paths(Op::kRemoveFile), env->paths(Op::kNewWritableFile));
    return s;
  }

  void SetUp() override { WriteFileBytes(out_, "old"); }

  TempDir dir_;
  const std::string out_ = dir_.file("lib.json");
  const std::vector<TrackRecord> tracks_ = VariedTracks(5000);  // ~500 KB of JSON
};

TEST_P(JsonExportFailureTest, WriteErrorInTheMiddle) {
  // How many appends a complete export makes.
  FaultEnv counting;
  JsonExportOptions options = Options(GetParam(), 4096);
  options.env = &counting;
  ASSERT_OK(WriteJsonFile(tracks_, dir_.file("count.json"), options));
  const int appends = static_cast<int>(counting.count(Op::kAppend));
  ASSERT_GT(appends, 5);
  std::filesystem::remove(dir_.file("count.json"));

  for (int n : {1, 2, appends / 2, appends - 1, appends}) {
    FaultEnv env;
    env.set_partial_writes(true);
    env.set_injected_errno(ENOSPC);
    env.FailAt(n, FaultEnv::Action::kFail, testing::Ops({Op::kAppend}));
    Status s = ExportExpectingFailure(&env);
    EXPECT_TRUE(s.IsResourceExhausted()) << n << ": " << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr(out_ + ".tmp-")) << n;
    EXPECT_EQ(env.count(Op::kAppend), static_cast<uint64_t>(n));  // the first error stops it
  }
}

TEST_P(JsonExportFailureTest, FilesystemFillsUp) {
  FaultEnv env;
  env.set_capacity(50000);
  Status s = ExportExpectingFailure(&env);
  EXPECT_TRUE(s.IsResourceExhausted()) << s.ToString();
}

TEST_P(JsonExportFailureTest, FailedRename) {
  FaultEnv env;
  env.FailEvery(testing::Ops({Op::kRename}));
  Status s = ExportExpectingFailure(&env);
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
}

// Record 4000's album is not UTF-8: the pieces before it were written
// already, and are removed.
TEST_P(JsonExportFailureTest, InvalidUtf8InTheMiddle) {
  std::vector<TrackRecord> tracks = tracks_;
  tracks[4000].album = "bad \xff byte";
  FaultEnv env;
  JsonExportOptions options = Options(GetParam(), 4096);
  options.env = &env;
  Status s = WriteJsonFile(tracks, out_, options);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("record 4000: field 'album': invalid UTF-8"));
  EXPECT_GT(env.count(Op::kAppend), 1u);  // it did stream before the bad record
  EXPECT_EQ(ReadFileBytes(out_), "old");
  EXPECT_EQ(FilesIn(dir_.path()), 1u);
  EXPECT_EQ(env.paths(Op::kRemoveFile), env.paths(Op::kNewWritableFile));

  // Without an old file, no file at all.
  std::filesystem::remove(out_);
  EXPECT_TRUE(WriteJsonFile(tracks, out_, options).IsInvalidArgument());
  EXPECT_EQ(FilesIn(dir_.path()), 0u);
}

INSTANTIATE_TEST_SUITE_P(PlainAndGzip, JsonExportFailureTest,
                         ::testing::Values(JsonCompression::kNone, JsonCompression::kGzip),
                         [](const ::testing::TestParamInfo<JsonCompression>& info) {
                           return info.param == JsonCompression::kGzip ? "Gzip" : "Plain";
                         });

// --- memory ------------------------------------------------------------------

struct ChildRun {
  int exit_code = -1;
  uint64_t start_rss = 0;  // bytes resident when the child began (what it shares with us)
  uint64_t peak_rss = 0;   // bytes, from wait4's rusage
};

// Runs `body` in a child process.
ChildRun RunInChild(const std::function<int()>& body) {
  ChildRun run;
  int fds[2];
  if (::pipe(fds) != 0) return run;
  std::fflush(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::close(fds[0]);
    struct rusage self = {};
    ::getrusage(RUSAGE_SELF, &self);
    const uint64_t start = static_cast<uint64_t>(self.ru_maxrss) * 1024;
    const bool sent = ::write(fds[1], &start, sizeof(start)) == sizeof(start);
    ::close(fds[1]);
    ::_exit(sent ? body() : 3);
  }
  ::close(fds[1]);
  if (pid < 0 || ::read(fds[0], &run.start_rss, sizeof(run.start_rss)) != sizeof(run.start_rss)) {
    run.start_rss = 0;
  }
  ::close(fds[0]);
  int status = 0;
  struct rusage usage = {};
  if (pid < 0 || ::wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status)) return run;
  run.exit_code = WEXITSTATUS(status);
  run.peak_rss = static_cast<uint64_t>(usage.ru_maxrss) * 1024;
  return run;
}

// Exporting a library whose JSON is ~10 buffers long (a 100k-track
// snapshot) grows the exporting process by less than half the JSON size on
// top of the mapping; holding the whole text, as a one-shot export does,
// would exceed that. The library is made in another child so that this
// process's heap stays small.
TEST(JsonExportMemoryTest, PeakRssStaysNearOneBuffer) {
  TempDir dir;
  const std::string snap = dir.file("lib.snap");
  const ChildRun made = RunInChild([&] {
    SnapshotWriter writer;
    WriteOptions options;
    options.sync = false;
    return writer.Write(snap, GenerateLibrary(100000), options).ok() ? 0 : 1;
  });
  ASSERT_EQ(made.exit_code, 0);
  const uint64_t snap_bytes = std::filesystem::file_size(snap);

  for (const char* name : {"lib.json", "lib.json.gz"}) {
    const ChildRun run = RunInChild([&] {
      Result<Snapshot> s = Snapshot::Open(snap);
      if (!s.ok()) return 2;
      return ExportJsonFile(*s, dir.file(name), Options(JsonCompression::kByName)).ok() ? 0 : 1;
    });
    ASSERT_EQ(run.exit_code, 0) << name;
    ASSERT_GT(run.start_rss, 0u);
    const uint64_t json_bytes = std::filesystem::file_size(dir.file("lib.json"));
    ASSERT_GT(json_bytes, 10 * (uint64_t{4} << 20));
    const uint64_t growth = run.peak_rss - std::min(run.peak_rss, run.start_rss);
    EXPECT_LT(growth, snap_bytes + json_bytes / 2)
        << name << ": grew by " << (growth >> 20) << " MiB; snapshot " << (snap_bytes >> 20)
        << " MiB, JSON " << (json_bytes >> 20) << " MiB";
    std::printf("%s: peak RSS %.1f MiB, %.1f MiB above the start (snapshot %.1f, JSON %.1f MiB)\n",
                name, run.peak_rss / 1048576.0, growth / 1048576.0, snap_bytes / 1048576.0,
                json_bytes / 1048576.0);
  }
  EXPECT_EQ(MustImport(dir.file("lib.json.gz")).size(), 100000u);
}

}  // namespace
}  // namespace trackstore
