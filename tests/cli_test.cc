// Tests of the `trackstore` tool as a user runs it: the built binary (its
// path comes from TRACKSTORE_CLI, set by tests/meson.build) in a child
// process. No input may make a command abort: --json output with bytes that
// are not UTF-8, crafted snapshots whose hash is valid, counts too large
// for memory, inputs without end; and "-" for standard input and output.
#include <fcntl.h>
#include <signal.h>
#include <sys/resource.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "gzip_test_util.h"
#include "snapshot_format.h"
#include "test_util.h"
#include "trackstore/json.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore {
namespace {

using testing::CliRun;
using testing::Describe;
using testing::Gunzip;
using testing::Gzip;
using ::testing::HasSubstr;
using testing::MakeTracks;
using ::testing::Not;
using testing::ReadFileBytes;
using testing::RunCli;
using testing::TempDir;
using testing::WriteFileBytes;

// The run ended normally with `code`, and stdout is one JSON text in valid
// UTF-8 (nlohmann rejects invalid UTF-8).
void ExpectJson(const CliRun& r, int code) {
  EXPECT_EQ(r.exit_code, code) << Describe(r);
  EXPECT_TRUE(nlohmann::json::accept(r.out)) << Describe(r);
}

// The run ended normally, success or failure, with JSON on stdout.
void ExpectNoCrashJson(const CliRun& r) {
  EXPECT_TRUE(r.exit_code == 0 || r.exit_code == 1) << Describe(r);
  EXPECT_TRUE(nlohmann::json::accept(r.out)) << Describe(r);
}

std::string WriteSnap(const TempDir& dir, const std::string& name,
                      const std::vector<TrackRecord>& tracks) {
  const std::string path = dir.file(name);
  EXPECT_OK(WriteSnapshot(path, tracks).status());
  return path;
}

// --- --json with bytes that are not UTF-8 -----------------------------------

class CliNonUtf8Test : public ::testing::Test {
 protected:
  CliNonUtf8Test() {
    snap_ = WriteSnap(dir_, "lib\xff.snap", MakeTracks(20));
    other_ = WriteSnap(dir_, "other\xfe.snap", MakeTracks(25));
  }
  TempDir dir_;
  std::string snap_, other_;
};

TEST_F(CliNonUtf8Test, VerifyAndInfo) {
  for (const char* command : {"verify", "info"}) {
    CliRun r = RunCli(dir_, {command, snap_, "--json"});
    ExpectJson(r, 0);
    EXPECT_THAT(r.out, HasSubstr("lib\xef\xbf\xbd.snap")) << command;  // U+FFFD
    ExpectJson(RunCli(dir_, {command, dir_.file("missing\xff.snap"), "--json"}), 1);
  }
}

TEST_F(CliNonUtf8Test, GetWithNonUtf8PathAndId) {
  ExpectJson(RunCli(dir_, {"get", snap_, "1003", "--json"}), 0);
  CliRun r = RunCli(dir_, {"get", snap_, "10\xff", "--json"});
  ExpectJson(r, 1);
  EXPECT_THAT(r.out, HasSubstr(R"("code":"NotFound")"));
}

TEST_F(CliNonUtf8Test, Lookup) {
  ExpectJson(RunCli(dir_, {"lookup", snap_, "--count", "100", "--json"}), 0);
}

TEST_F(CliNonUtf8Test, MergeAndDiff) {
  ExpectJson(RunCli(dir_, {"merge", snap_, other_, dir_.file("merged\xfd.snap"), "--json"}), 0);
  ExpectJson(RunCli(dir_, {"diff", snap_, other_, "--json"}), 0);
  ExpectJson(RunCli(dir_, {"diff", snap_, dir_.file("none\xff.snap"), "--json"}), 1);
}

// An empty directory holds no valid snapshot: exit 3, still JSON.
TEST_F(CliNonUtf8Test, Status) {
  std::filesystem::create_directory(dir_.file("svc\xff"));
  ExpectJson(
      RunCli(dir_, {"status", dir_.file("svc\xff"), "--library", dir_.file("lib\xfe"), "--json"}),
      3);
}

TEST_F(CliNonUtf8Test, ShmGet) {
  CliRun r =
      RunCli(dir_, {"shm", "get", "trackstore-cli-test-\xff", "tracks_all", "1000", "--json"});
  ExpectJson(r, 1);
}

// --- crafted snapshots: valid hash, duplicate ids, NUL and non-UTF-8 ids ----

// Rewrites bytes of `path`'s payload (every occurrence of `from` becomes
// `to`, same length) and seals it again with a valid content hash and
// header checksum, as a hostile writer could.
void Craft(const std::string& path, const std::string& from, const std::string& to) {
  ASSERT_EQ(from.size(), to.size());
  std::string bytes = ReadFileBytes(path);
  auto* data = reinterpret_cast<uint8_t*>(bytes.data());
  format::Header h;
  ASSERT_OK(format::DecodeHeader(path, {data, bytes.size()}, &h));
  std::string payload = bytes.substr(h.payload_offset, h.payload_size);
  size_t found = 0;
  for (size_t at = payload.find(from); at != std::string::npos; at = payload.find(from, at + 1)) {
    payload.replace(at, from.size(), to);
    ++found;
  }
  ASSERT_GT(found, 0u) << from;
  bytes.replace(h.payload_offset, h.payload_size, payload);
  data = reinterpret_cast<uint8_t*>(bytes.data());
  h.content_hash = format::HashPayload({data + h.payload_offset, h.payload_size});
  format::EncodeHeader(h, data);
  WriteFileBytes(path, bytes);
}

std::vector<TrackRecord> IdTracks() {
  std::vector<TrackRecord> tracks = MakeTracks(6);
  for (size_t i = 0; i < tracks.size(); ++i) tracks[i].id = "zqid000" + std::to_string(i);
  return tracks;
}

TEST(CliCraftedSnapshotTest, EveryReaderSurvivesDuplicateNulAndNonUtf8Ids) {
  TempDir dir;
  const std::string good = WriteSnap(dir, "good.snap", IdTracks());
  const std::vector<std::pair<std::string, std::string>> crafts = {
      {"zqid0002", "zqid0001"},  // a duplicate id
      {"zqid0003", std::string("zqid\0\0"
                               "03",
                               8)},  // NUL bytes
      {"zqid0004",
       "zqid\xff\xfe"
       "04"},  // not UTF-8
  };
  for (const auto& [from, to] : crafts) {
    SCOPED_TRACE(to);
    const std::string bad = dir.file("bad.snap");
    std::filesystem::copy_file(good, bad, std::filesystem::copy_options::overwrite_existing);
    Craft(bad, from, to);
    ASSERT_EQ(RunCli(dir, {"verify", bad}).exit_code, 0) << "the crafted file must be hash-valid";
    ExpectJson(RunCli(dir, {"diff", good, bad, "--json"}), 0);
    ExpectJson(RunCli(dir, {"diff", bad, good, "--json"}), 0);
    ExpectJson(RunCli(dir, {"diff", bad, bad, "--json"}), 0);
    // The id index was built for the original ids: a crafted id may not be
    // found, which is an answer, not a crash.
    ExpectJson(RunCli(dir, {"get", bad, "zqid0001", "--json"}), 0);
    ExpectNoCrashJson(RunCli(dir, {"get", bad, to, "--json"}));
    ExpectNoCrashJson(RunCli(dir, {"lookup", bad, "--count", "1000", "--json"}));
    ExpectNoCrashJson(RunCli(dir, {"merge", bad, good, dir.file("m.snap"), "--json"}));
    ExpectNoCrashJson(RunCli(dir, {"merge", good, bad, dir.file("m.snap"), "--json"}));
    const CliRun exported = RunCli(dir, {"export", bad, dir.file("e.json")});
    EXPECT_TRUE(exported.exit_code == 0 || exported.exit_code == 1) << Describe(exported);
  }
}

// "Song\xff" "3" as --json prints it.
constexpr std::string_view kReplacedName = "Song\ufffd3";

// A value that is not UTF-8 comes out of get and shm get --json as U+FFFD.
TEST(CliCraftedSnapshotTest, NonUtf8ValueIsReplacedInGetAndShmGet) {
  TempDir dir;
  const std::string snap = WriteSnap(dir, "lib.snap", IdTracks());
  Craft(snap, "Song 3",
        "Song\xff"
        "3");
  CliRun r = RunCli(dir, {"get", snap, "zqid0003", "--json"});
  ExpectJson(r, 0);
  if (r.exit_code == 0) {
    EXPECT_EQ(nlohmann::json::parse(r.out)["track"]["name"], kReplacedName);
  }

  const std::string name = "ts-cli-test-" + std::to_string(::getpid());
  CliRun published = RunCli(dir, {"shm", "publish", name, "tracks_all", snap});
  ASSERT_EQ(published.exit_code, 0) << Describe(published);
  r = RunCli(dir, {"shm", "get", name, "tracks_all", "zqid0003", "--json"});
  ExpectJson(r, 0);
  if (r.exit_code == 0) {
    EXPECT_EQ(nlohmann::json::parse(r.out)["track"]["name"], kReplacedName);
  }
  ExpectNoCrashJson(RunCli(dir, {"shm", "get", name, "tracks_all", "zq\xff", "--json"}));
  ExpectNoCrashJson(RunCli(dir, {"shm", "stat", name + "\xff", "--json"}));
  ExpectJson(RunCli(dir, {"shm", "stat", name, "--json"}), 0);
  EXPECT_EQ(RunCli(dir, {"shm", "remove", name}).exit_code, 0);
}

// --- counts too large for memory --------------------------------------------

TEST(CliResourceTest, HugeGenerateIsResourceExhausted) {
  TempDir dir;
  CliRun r = RunCli(dir, {"generate", "100000000000", dir.file("x.json")});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("Resource exhausted")) << Describe(r);
  EXPECT_THAT(r.err, Not(HasSubstr("bad_alloc")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("x.json")));
}

TEST(CliResourceTest, HugeLookupCountIsResourceExhausted) {
  TempDir dir;
  const std::string snap = WriteSnap(dir, "lib.snap", MakeTracks(10));
  CliRun r = RunCli(dir, {"lookup", snap, "--count", "100000000000", "--json"});
  ExpectJson(r, 1);
  EXPECT_THAT(r.out, HasSubstr(R"("code":"ResourceExhausted")")) << Describe(r);
}

// --- bounded input ------------------------------------------------------------

// "[" and then `members` gzip members of `member_bytes` blanks each: import
// reads concatenated members as one stream, so this inflates to the start
// of a JSON array that goes on for their product.
std::string GzipBomb(size_t member_bytes, int members) {
  const std::string member = Gzip(std::string(member_bytes, ' '));
  std::string bomb = Gzip("[");
  for (int i = 0; i < members; ++i) bomb += member;
  return bomb;
}

constexpr long kRssBoundKib = 256 << 10;  // the cap is 32 MiB; unbounded would be 1 GiB

TEST(CliBoundedInputTest, GzipBombStopsAtTheCap) {
  TempDir dir;
  WriteFileBytes(dir.file("bomb.json.gz"), GzipBomb(64 << 20, 16));  // 1 GiB inflated
  CliRun r = RunCli(dir, {"import", dir.file("bomb.json.gz"), dir.file("out.snap"),
                          "--max-input-bytes", std::to_string(32 << 20)});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("Resource exhausted")) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("--max-input-bytes"));
  EXPECT_LT(r.max_rss_kib, kRssBoundKib);
  EXPECT_FALSE(std::filesystem::exists(dir.file("out.snap")));
}

// Import reads as it parses: an endless input that is not JSON stops at its
// first byte, whether it is a device or a pipe.
TEST(CliBoundedInputTest, EndlessInputStopsAtItsFirstBadByte) {
  TempDir dir;
  for (const std::string& in : {std::string("/dev/zero"), std::string("-")}) {
    SCOPED_TRACE(in);
    CliRun r = RunCli(
        dir, {"import", in, dir.file("out.snap"), "--max-input-bytes", std::to_string(32 << 20)},
        "/dev/zero");
    EXPECT_EQ(r.exit_code, 1) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("expected an array of track objects")) << Describe(r);
    EXPECT_LT(r.max_rss_kib, kRssBoundKib);
  }
}

TEST(CliBoundedInputTest, InputUnderTheCapImports) {
  TempDir dir;
  ASSERT_OK(WriteJsonFile(MakeTracks(50), dir.file("lib.json")));
  const uint64_t size = std::filesystem::file_size(dir.file("lib.json"));
  CliRun r = RunCli(dir, {"import", dir.file("lib.json"), dir.file("out.snap"), "--max-input-bytes",
                          std::to_string(size)});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  r = RunCli(dir, {"import", dir.file("lib.json"), dir.file("out.snap"), "--max-input-bytes",
                   std::to_string(size - 1)});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
}

// Import streams: its peak memory follows its output, not its input. The
// child's peak RSS (wait4) over a library of 200,000 tracks, plain and gzip,
// stays under 1.5 x (input + output), and under 1.2 x the output + 64 MiB
// (the binary, the window, the parser, the id index); a whole-input parse
// needs several times the input.
TEST(CliBoundedInputTest, ImportMemoryFollowsTheOutputNotTheInput) {
#if defined(__SANITIZE_ADDRESS__) || defined(__SANITIZE_THREAD__)
  GTEST_SKIP() << "a sanitizer's shadow memory and quarantine are not the tool's memory";
#endif
  // meson test sets MALLOC_PERTURB_, which makes glibc fill every block it
  // hands out: capacity the tool reserves but never touches (the JSON
  // parsers' buffers) would count as resident. Not the tool's memory.
  ::unsetenv("MALLOC_PERTURB_");
  TempDir dir;
  CliRun r = RunCli(dir, {"generate", "200000", dir.file("lib.json")});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  r = RunCli(dir, {"generate", "200000", dir.file("lib.json.gz")});
  ASSERT_EQ(r.exit_code, 0) << Describe(r);
  const double input = static_cast<double>(std::filesystem::file_size(dir.file("lib.json")));
  for (const std::string& in : {std::string("lib.json"), std::string("lib.json.gz")}) {
    SCOPED_TRACE(in);
    r = RunCli(dir, {"import", dir.file(in), dir.file("out.snap"), "--no-sync"});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    const double output = static_cast<double>(std::filesystem::file_size(dir.file("out.snap")));
    const double peak = static_cast<double>(r.max_rss_kib) * 1024;
    EXPECT_LT(peak, 1.5 * (input + output)) << peak;
    EXPECT_LT(peak, 1.2 * output + (64 << 20)) << peak;
  }
}

// --- "-" for standard input and output ---------------------------------------

TEST(CliStdioTest, DashIsStdoutForExportAndGenerateAndStdinForImport) {
  TempDir dir;
  const std::string snap = WriteSnap(dir, "lib.snap", MakeTracks(30));
  ASSERT_EQ(RunCli(dir, {"export", snap, dir.file("lib.json")}).exit_code, 0);
  CliRun exported = RunCli(dir, {"export", snap, "-"});
  EXPECT_EQ(exported.exit_code, 0) << Describe(exported);
  EXPECT_EQ(exported.out, ReadFileBytes(dir.file("lib.json")));
  EXPECT_FALSE(std::filesystem::exists(dir.file("-")));

  ASSERT_EQ(RunCli(dir, {"generate", "40", dir.file("gen.json")}).exit_code, 0);
  CliRun generated = RunCli(dir, {"generate", "40", "-"});
  EXPECT_EQ(generated.exit_code, 0) << Describe(generated);
  EXPECT_EQ(generated.out, ReadFileBytes(dir.file("gen.json")));

  CliRun imported = RunCli(dir, {"import", "-", dir.file("back.snap")}, dir.file("lib.json"));
  EXPECT_EQ(imported.exit_code, 0) << Describe(imported);
  CliRun diff = RunCli(dir, {"diff", snap, dir.file("back.snap"), "--json"});
  ExpectJson(diff, 0);
  EXPECT_EQ(nlohmann::json::parse(diff.out)["updated"].size(), 0u) << diff.out;
}

// --- output files -------------------------------------------------------------

TEST(CliOutputTest, ExportFollowsASymlinkAndRefusesAFifo) {
  TempDir dir;
  const std::string snap = WriteSnap(dir, "lib.snap", MakeTracks(5));
  WriteFileBytes(dir.file("target.json"), "old");
  ASSERT_EQ(::chmod(dir.file("target.json").c_str(), 0600), 0);
  ASSERT_EQ(::symlink("target.json", dir.file("link.json").c_str()), 0);
  ASSERT_EQ(RunCli(dir, {"export", snap, dir.file("link.json")}).exit_code, 0);
  struct stat st;
  ASSERT_EQ(::lstat(dir.file("link.json").c_str(), &st), 0);
  EXPECT_TRUE(S_ISLNK(st.st_mode));
  ASSERT_EQ(::stat(dir.file("target.json").c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_THAT(ReadFileBytes(dir.file("target.json")), HasSubstr("\"id\""));

  ASSERT_EQ(::mkfifo(dir.file("fifo").c_str(), 0600), 0);
  CliRun r = RunCli(dir, {"export", snap, dir.file("fifo")});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("a FIFO, not a regular file"));
}

// --- gzip export -----------------------------------------------------------------

TEST(CliGzipTest, ExportToJsonGzIsGzipAndImportsBack) {
  TempDir dir;
  const std::string snap = WriteSnap(dir, "lib.snap", MakeTracks(300));
  ASSERT_EQ(RunCli(dir, {"export", snap, dir.file("lib.json")}).exit_code, 0);
  CliRun r = RunCli(dir, {"export", snap, dir.file("lib.json.gz"), "--json"});
  ExpectJson(r, 0);
  const std::string gz = ReadFileBytes(dir.file("lib.json.gz"));
  ASSERT_GE(gz.size(), 2u);
  EXPECT_EQ(static_cast<unsigned char>(gz[0]), 0x1f);
  EXPECT_EQ(static_cast<unsigned char>(gz[1]), 0x8b);
  EXPECT_EQ(Gunzip(gz), ReadFileBytes(dir.file("lib.json")));

  CliRun imported = RunCli(dir, {"import", dir.file("lib.json.gz"), dir.file("back.snap")});
  EXPECT_EQ(imported.exit_code, 0) << Describe(imported);
  CliRun diff = RunCli(dir, {"diff", snap, dir.file("back.snap"), "--json"});
  ExpectJson(diff, 0);
  const nlohmann::json d = nlohmann::json::parse(diff.out);
  EXPECT_EQ(d["updated"].size() + d["new"].size() + d["removed"].size(), 0u) << diff.out;

  // Standard output stays plain JSON.
  CliRun out = RunCli(dir, {"export", snap, "-"});
  EXPECT_EQ(out.exit_code, 0) << Describe(out);
  EXPECT_EQ(out.out, ReadFileBytes(dir.file("lib.json")));
}

TEST(CliGzipTest, EmptyLibraryAndGenerateToJsonGz) {
  TempDir dir;
  const std::string snap = WriteSnap(dir, "empty.snap", {});
  ASSERT_EQ(RunCli(dir, {"export", snap, dir.file("empty.json.gz")}).exit_code, 0);
  EXPECT_EQ(Gunzip(ReadFileBytes(dir.file("empty.json.gz"))), "[]\n");

  ASSERT_EQ(RunCli(dir, {"generate", "50", dir.file("gen.json")}).exit_code, 0);
  ASSERT_EQ(RunCli(dir, {"generate", "50", dir.file("gen.json.gz")}).exit_code, 0);
  EXPECT_EQ(Gunzip(ReadFileBytes(dir.file("gen.json.gz"))), ReadFileBytes(dir.file("gen.json")));
}

// A file size limit (RLIMIT_FSIZE, which binds root too, with SIGXFSZ
// ignored so that write fails with EFBIG) stops the export in the middle
// of its output: the old file stays and no temporary file is left.
TEST(CliGzipTest, WriteErrorInTheMiddleKeepsTheOldFile) {
  TempDir dir;
  const std::string snap = WriteSnap(dir, "lib.snap", MakeTracks(3000));
  for (const char* name : {"out.json", "out.json.gz"}) {
    WriteFileBytes(dir.file(name), "old");
    struct rlimit old_limit;
    ASSERT_EQ(::getrlimit(RLIMIT_FSIZE, &old_limit), 0);
    struct rlimit limit = old_limit;
    limit.rlim_cur = 8 << 10;
    void (*old_handler)(int) = ::signal(SIGXFSZ, SIG_IGN);
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &limit), 0);
    CliRun r = RunCli(dir, {"export", snap, dir.file(name)});
    ASSERT_EQ(::setrlimit(RLIMIT_FSIZE, &old_limit), 0);
    ::signal(SIGXFSZ, old_handler);
    EXPECT_EQ(r.exit_code, 1) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("Resource exhausted")) << name;
    EXPECT_EQ(ReadFileBytes(dir.file(name)), "old") << name;
    for (const auto& e : std::filesystem::directory_iterator(dir.path())) {
      EXPECT_THAT(e.path().string(), Not(HasSubstr(".tmp-"))) << name;
    }
  }
}

// --- generate into a snapshot or a store ------------------------------------

// The snapshot generate writes is the one import makes of the JSON generate
// writes, for the same count and options.
TEST(CliGenerateTest, SnapshotEqualsTheImportOfTheJson) {
  TempDir dir;
  const std::vector<std::string> options = {"--seed", "7", "--first-id", "5000"};
  auto args = [&](std::vector<std::string> a) {
    a.insert(a.end(), options.begin(), options.end());
    return a;
  };
  CliRun json = RunCli(dir, args({"generate", "70000", dir.file("lib.json")}));
  ASSERT_EQ(json.exit_code, 0) << Describe(json);
  CliRun import = RunCli(dir, {"import", dir.file("lib.json"), dir.file("imported.snap")});
  ASSERT_EQ(import.exit_code, 0) << Describe(import);
  CliRun snap = RunCli(dir, args({"generate", "70000", dir.file("lib.snap")}));
  ASSERT_EQ(snap.exit_code, 0) << Describe(snap);
  EXPECT_THAT(snap.out, HasSubstr("70000 tracks"));
  EXPECT_TRUE(ReadFileBytes(dir.file("lib.snap")) == ReadFileBytes(dir.file("imported.snap")));
}

// Into a store (a name ending in '/'), in batches: the same version content
// as importing the JSON into a store.
TEST(CliGenerateTest, StoreHoldsTheSameLibraryAsAnImport) {
  TempDir dir;
  ASSERT_EQ(RunCli(dir, {"generate", "120000", dir.file("lib.json")}).exit_code, 0);
  ASSERT_EQ(RunCli(dir, {"import", dir.file("lib.json"), dir.file("imported") + "/"}).exit_code, 0);
  CliRun gen = RunCli(dir, {"generate", "120000", dir.file("generated") + "/"});
  ASSERT_EQ(gen.exit_code, 0) << Describe(gen);
  EXPECT_THAT(gen.out, HasSubstr("version 1: full replacement, 120000 tracks"));
  CliRun a = RunCli(dir, {"info", dir.file("imported"), "--json"});
  CliRun b = RunCli(dir, {"info", dir.file("generated"), "--json"});
  ExpectJson(a, 0);
  ExpectJson(b, 0);
  EXPECT_EQ(nlohmann::json::parse(a.out)["content_hash"],
            nlohmann::json::parse(b.out)["content_hash"]);
  EXPECT_EQ(nlohmann::json::parse(b.out)["tracks"], 120000);

  // An existing store directory needs no '/': a second full replacement.
  gen = RunCli(dir, {"generate", "10", dir.file("generated")});
  ASSERT_EQ(gen.exit_code, 0) << Describe(gen);
  EXPECT_THAT(gen.out, HasSubstr("version 2: full replacement, 10 tracks"));
}

// Past one file's 2 GiB limit: an error that suggests a store, found from
// the first batch, and no file.
TEST(CliGenerateTest, TooManyTracksForOneSnapshotSuggestsAStore) {
  TempDir dir;
  for (const char* count : {"8000000", "100000000000"}) {
    CliRun r = RunCli(dir, {"generate", count, dir.file("big.snap")});
    EXPECT_EQ(r.exit_code, 1) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("more than one snapshot file holds")) << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("generate into a store instead")) << Describe(r);
    EXPECT_FALSE(std::filesystem::exists(dir.file("big.snap")));
  }
}

}  // namespace
}  // namespace trackstore
