// Tests of WriteFileAtomically and AtomicOutputFile, the ways trackstore
// writes an output file: symbolic links followed, special files refused,
// permission bits kept, temporary names that cannot collide, an honest
// error when only the directory fsync fails, and nothing published after a
// failure.
#include "trackstore/env.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstring>
#include <ctime>
#include <filesystem>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include "fault_env.h"
#include "test_util.h"

namespace trackstore {
namespace {

using testing::FaultEnv;
using ::testing::HasSubstr;
using testing::Op;
using testing::ReadFileBytes;
using testing::TempDir;
using testing::WriteFileBytes;

Status Write(const std::string& path, const std::string& bytes, Env* env = nullptr) {
  const ConstBytes piece{bytes.data(), bytes.size()};
  return WriteFileAtomically(env, path, std::span<const ConstBytes>(&piece, 1));
}

mode_t ModeOf(const std::string& path) {
  struct stat st;
  EXPECT_EQ(::lstat(path.c_str(), &st), 0) << path;
  return st.st_mode;
}

size_t FilesIn(const std::string& dir) {
  size_t n = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir)) ++n;
  return n;
}

// Records the temporary names; answers EEXIST for the first `taken` of them
// as if another writer held them; fails SyncDir when asked.
class RecordingEnv final : public EnvWrapper {
 public:
  int taken = 0;
  bool fail_sync_dir = false;
  std::vector<std::string> created, removed;

  Status WriteNewFile(const std::string& path, std::span<const ConstBytes> pieces,
                      bool sync) override {
    created.push_back(path);
    if (static_cast<int>(created.size()) <= taken) return PosixError(path, EEXIST);
    return Env::Default()->WriteNewFile(path, pieces, sync);
  }
  Status SyncDir(const std::string& dir) override {
    if (fail_sync_dir) return Status::IOError(dir, "injected EIO");
    return Env::Default()->SyncDir(dir);
  }
  Status RemoveFile(const std::string& path) override {
    removed.push_back(path);
    return Env::Default()->RemoveFile(path);
  }
};

TEST(WriteFileAtomicallyTest, SymlinkIsFollowedAndStays) {
  TempDir dir;
  const std::string target = dir.file("target.json");
  const std::string link = dir.file("link.json");
  WriteFileBytes(target, "old");
  ASSERT_EQ(::symlink("target.json", link.c_str()), 0);  // relative, as ln -s makes it
  ASSERT_OK(Write(link, "new"));
  EXPECT_TRUE(S_ISLNK(ModeOf(link)));
  EXPECT_EQ(ReadFileBytes(target), "new");
  EXPECT_EQ(FilesIn(dir.path()), 2u);
}

TEST(WriteFileAtomicallyTest, ChainOfSymlinksAndDanglingLinkAreFollowed) {
  TempDir dir;
  std::filesystem::create_directory(dir.file("sub"));
  ASSERT_EQ(::symlink(dir.file("sub/real").c_str(), dir.file("sub/hop").c_str()), 0);
  ASSERT_EQ(::symlink("sub/hop", dir.file("link").c_str()), 0);
  ASSERT_OK(Write(dir.file("link"), "created"));  // sub/real did not exist
  EXPECT_EQ(ReadFileBytes(dir.file("sub/real")), "created");
  EXPECT_TRUE(S_ISLNK(ModeOf(dir.file("link"))));
  EXPECT_TRUE(S_ISLNK(ModeOf(dir.file("sub/hop"))));
}

TEST(WriteFileAtomicallyTest, SymlinkLoopIsAnError) {
  TempDir dir;
  ASSERT_EQ(::symlink("b", dir.file("a").c_str()), 0);
  ASSERT_EQ(::symlink("a", dir.file("b").c_str()), 0);
  Status s = Write(dir.file("a"), "x");
  EXPECT_FALSE(s.ok());
  EXPECT_EQ(FilesIn(dir.path()), 2u);
}

TEST(WriteFileAtomicallyTest, FifoIsRefusedAndKept) {
  TempDir dir;
  const std::string fifo = dir.file("out.json");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  Status s = Write(fifo, "x");
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr(fifo));
  EXPECT_THAT(s.ToString(), HasSubstr("a FIFO, not a regular file"));
  EXPECT_TRUE(S_ISFIFO(ModeOf(fifo)));
  EXPECT_EQ(FilesIn(dir.path()), 1u);
}

TEST(WriteFileAtomicallyTest, DirectoryIsRefused) {
  TempDir dir;
  std::filesystem::create_directory(dir.file("out"));
  Status s = Write(dir.file("out"), "x");
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr("a directory"));
  EXPECT_EQ(FilesIn(dir.path()), 1u);
}

// The device is made inside the test directory: if the check failed, only
// that node would be replaced, never /dev/null itself.
TEST(WriteFileAtomicallyTest, DeviceIsRefusedAlsoThroughASymlink) {
  TempDir dir;
  const std::string dev = dir.file("null");
  if (::mknod(dev.c_str(), S_IFCHR | 0666, makedev(1, 3)) != 0) {
    GTEST_SKIP() << "mknod needs CAP_MKNOD: " << std::strerror(errno);
  }
  ASSERT_EQ(::symlink("null", dir.file("link").c_str()), 0);
  for (const std::string& path : {dev, dir.file("link")}) {
    Status s = Write(path, "x");
    EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
    EXPECT_THAT(s.ToString(), HasSubstr("a character device"));
    EXPECT_TRUE(S_ISCHR(ModeOf(dev)));
  }
  EXPECT_EQ(FilesIn(dir.path()), 2u);
}

TEST(WriteFileAtomicallyTest, ReplacedFileKeepsItsPermissionBits) {
  TempDir dir;
  for (mode_t mode : {0600, 0640, 0444, 0755}) {
    const std::string path = dir.file("lib.snap");
    WriteFileBytes(path, "old");
    ASSERT_EQ(::chmod(path.c_str(), mode), 0);
    ASSERT_OK(Write(path, "new"));
    EXPECT_EQ(ModeOf(path) & 07777, mode) << std::oct << mode;
    EXPECT_EQ(ReadFileBytes(path), "new");
    ASSERT_EQ(::unlink(path.c_str()), 0);
  }
}

// As root, replacing another user's 0600 file must not hand it to root
// with the default mode.
TEST(WriteFileAtomicallyTest, RootKeepsTheOwnerOfAReplacedFile) {
  if (::geteuid() != 0) GTEST_SKIP() << "only root can give a file to another user";
  TempDir dir;
  const std::string path = dir.file("lib.snap");
  WriteFileBytes(path, "old");
  ASSERT_EQ(::chown(path.c_str(), 65534, 65534), 0);
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  ASSERT_OK(Write(path, "new"));
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(st.st_uid, 65534u);
  EXPECT_EQ(st.st_gid, 65534u);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(ReadFileBytes(path), "new");
}

TEST(WriteFileAtomicallyTest, NewFileGetsTheUmaskDefault) {
  TempDir dir;
  const mode_t old_mask = ::umask(027);
  Status s = Write(dir.file("new.json"), "x");
  ::umask(old_mask);
  ASSERT_OK(s);
  EXPECT_EQ(ModeOf(dir.file("new.json")) & 07777, 0640u);
}

// The old names were NAME.<pid>.<n>.tmp: a writer that reused a dead
// writer's pid (pid 1 in every container) found them taken.
TEST(WriteFileAtomicallyTest, NamesOfDeadWritersWithOurPidDoNotCollide) {
  TempDir dir;
  const std::string path = dir.file("lib.snap");
  for (int n = 0; n < 100; ++n) {
    WriteFileBytes(path + "." + std::to_string(::getpid()) + "." + std::to_string(n) + ".tmp",
                   "planted");
  }
  RecordingEnv env;
  ASSERT_OK(Write(path, "new", &env));
  EXPECT_EQ(ReadFileBytes(path), "new");
  EXPECT_EQ(FilesIn(dir.path()), 101u);  // the planted files are untouched
  ASSERT_EQ(env.created.size(), 1u);
  const std::string prefix = path + ".tmp-";
  ASSERT_TRUE(env.created[0].starts_with(prefix)) << env.created[0];
  // <pid>-<start time>-<8 random hex digits>
  const std::string suffix = env.created[0].substr(prefix.size());
  EXPECT_TRUE(suffix.starts_with(std::to_string(::getpid()) + "-")) << env.created[0];
  const std::string random = suffix.substr(suffix.rfind('-') + 1);
  EXPECT_EQ(random.size(), 8u) << env.created[0];
  EXPECT_EQ(random.find_first_not_of("0123456789abcdef"), std::string::npos) << env.created[0];
}

// A writer that died leaves its temporary file; the next writer of the
// same output removes it once it is old, and only then, and only its own
// user's files named by a process that is gone.
TEST(WriteFileAtomicallyTest, StaleTemporariesOfDeadWritersAreRemoved) {
  TempDir dir;
  const std::string path = dir.file("lib.snap");
  const pid_t child = ::fork();
  if (child == 0) ::_exit(0);
  ASSERT_GT(child, 0);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, 0), child);  // its pid now names no process
  auto plant = [&](const std::string& name, int age_seconds) {
    WriteFileBytes(name, "partial");
    const struct timespec times[2] = {{::time(nullptr) - age_seconds, 0},
                                      {::time(nullptr) - age_seconds, 0}};
    ASSERT_EQ(::utimensat(AT_FDCWD, name.c_str(), times, 0), 0);
  };
  const std::string dead = path + ".tmp-" + std::to_string(child) + "-12345-0badf00d";
  const std::string dead_recent = path + ".tmp-" + std::to_string(child) + "-12346-0badf00d";
  const std::string alive = path + ".tmp-" + std::to_string(::getppid()) + "-0-0badf00d";
  const std::string other =
      dir.file("other.snap") + ".tmp-" + std::to_string(child) + "-1-0badf00d";
  const std::string not_ours = path + ".tmp-notours";
  plant(dead, 3600);
  plant(dead_recent, 10);
  plant(other, 3600);
  plant(not_ours, 3600);
  ASSERT_OK(Write(path, "new", Env::Default()));
  EXPECT_FALSE(std::filesystem::exists(dead));
  EXPECT_TRUE(std::filesystem::exists(dead_recent));  // may be a live writer elsewhere
  EXPECT_TRUE(std::filesystem::exists(other));        // another output's
  EXPECT_TRUE(std::filesystem::exists(not_ours));     // not a name writers make
  // The parent's pid is alive but started at another time than "0": gone.
  plant(alive, 3600);
  ASSERT_OK(Write(path, "newer", Env::Default()));
  EXPECT_FALSE(std::filesystem::exists(alive));
  // A stale name owned by another user stays (root only: chown).
  if (::geteuid() == 0) {
    plant(dead, 3600);
    ASSERT_EQ(::chown(dead.c_str(), 65534, 65534), 0);
    ASSERT_OK(Write(path, "newest", Env::Default()));
    EXPECT_TRUE(std::filesystem::exists(dead));
  }
}

TEST(WriteFileAtomicallyTest, TakenTemporaryNameIsRetriedAndNeverRemoved) {
  TempDir dir;
  RecordingEnv env;
  env.taken = 3;
  ASSERT_OK(Write(dir.file("lib.snap"), "new", &env));
  EXPECT_EQ(ReadFileBytes(dir.file("lib.snap")), "new");
  ASSERT_EQ(env.created.size(), 4u);
  EXPECT_EQ(std::set<std::string>(env.created.begin(), env.created.end()).size(), 4u);
  EXPECT_TRUE(env.removed.empty());
}

TEST(WriteFileAtomicallyTest, TemporaryFileIsCreatedOwnerOnly) {
  TempDir dir;
  const std::string tmp = dir.file("x.tmp");
  std::string bytes = "secret";
  const ConstBytes piece{bytes.data(), bytes.size()};
  ASSERT_OK(Env::Default()->WriteNewFile(tmp, std::span<const ConstBytes>(&piece, 1), false));
  EXPECT_EQ(ModeOf(tmp) & 0777, 0600u);
  ASSERT_EQ(::symlink("x.tmp", dir.file("link.tmp").c_str()), 0);
  EXPECT_FALSE(
      Env::Default()
          ->WriteNewFile(dir.file("link.tmp"), std::span<const ConstBytes>(&piece, 1), false)
          .ok());
}

TEST(WriteFileAtomicallyTest, FailedDirectorySyncSaysTheNewContentIsInPlace) {
  TempDir dir;
  const std::string path = dir.file("lib.snap");
  WriteFileBytes(path, "old");
  RecordingEnv env;
  env.fail_sync_dir = true;
  Status s = Write(path, "new", &env);
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr(path));
  EXPECT_THAT(s.ToString(), HasSubstr("the new content is in place"));
  EXPECT_THAT(s.ToString(), HasSubstr("durability is unconfirmed"));
  EXPECT_EQ(ReadFileBytes(path), "new");
  EXPECT_EQ(FilesIn(dir.path()), 1u);
}

TEST(WriteFileAtomicallyTest, FailedWriteLeavesTheOldFileAndNoTemporary) {
  TempDir dir;
  const std::string path = dir.file("lib.snap");
  WriteFileBytes(path, "old");
  ASSERT_EQ(::chmod(path.c_str(), 0600), 0);
  FaultEnv env;  // the write fails after writing half of its bytes
  env.set_partial_writes(true);
  env.set_injected_errno(ENOSPC);
  env.FailEvery(testing::Ops({Op::kWriteNewFile}));
  Status s = Write(path, "new", &env);
  EXPECT_TRUE(s.IsResourceExhausted()) << s.ToString();
  EXPECT_EQ(ReadFileBytes(path), "old");
  EXPECT_EQ(FilesIn(dir.path()), 1u);
}

// --- AtomicOutputFile: the same publication, written piece by piece --------

Status Open(Env* env, const std::string& path, std::unique_ptr<AtomicOutputFile>* out) {
  return AtomicOutputFile::Open(env, path, /*sync=*/true, out);
}

Status Append(AtomicOutputFile* out, const std::string& bytes) {
  return out->Append(bytes.data(), bytes.size());
}

// The descriptors this process has open.
size_t OpenFds() { return FilesIn("/proc/self/fd"); }

// A large file is allocated before it is written, and a replaced file of
// 64 MiB or more is released by a background thread: the content is in
// place at once, exactly, and the old file's descriptor is never leaked (at
// most a few wait to be closed at any time).
TEST(WriteFileAtomicallyTest, LargeReplacedFileIsReleasedInTheBackground) {
  TempDir dir;
  const std::string path = dir.file("big");
  std::string bytes(size_t{64} << 20, 'a');
  ASSERT_OK(Write(path, bytes));
  const size_t baseline = OpenFds();
  for (char c = 'b'; c < 'b' + 12; ++c) {
    bytes[0] = c;
    ASSERT_OK(Write(path, bytes));
    EXPECT_TRUE(ReadFileBytes(path) == bytes);  // allocated ahead, written exactly
    // Waiting for the closer thread: at most 8 queued and 1 being closed;
    // its thread adds no descriptor.
    EXPECT_LE(OpenFds(), baseline + 9);
  }
  EXPECT_EQ(FilesIn(dir.path()), 1u);
}

// A fork right after a large replace, while the closer may hold its lock,
// wait for work or have descriptors queued: the child replaces files too,
// never hangs, and closes what it replaces itself.
TEST(WriteFileAtomicallyTest, ForkedChildReplacesLargeFilesToo) {
  TempDir dir;
  const std::string path = dir.file("big");
  std::string bytes(size_t{64} << 20, 'a');
  ASSERT_OK(Write(path, bytes));
  ASSERT_OK(Write(path, bytes));  // the parent's closer has work now
  const pid_t pid = fork();
  ASSERT_GE(pid, 0);
  if (pid == 0) {
    const size_t before = OpenFds();
    bool ok = true;
    for (int i = 0; i < 3 && ok; ++i) ok = Write(path, bytes).ok() && OpenFds() == before;
    _exit(ok ? 0 : 1);
  }
  int status = 0;
  ASSERT_EQ(waitpid(pid, &status, 0), pid);
  EXPECT_TRUE(WIFEXITED(status) && WEXITSTATUS(status) == 0) << status;
}

TEST(AtomicOutputFileTest, PiecesArePublishedOnlyOnCommit) {
  TempDir dir;
  const std::string path = dir.file("out.json");
  WriteFileBytes(path, "old");
  FaultEnv env;
  std::unique_ptr<AtomicOutputFile> out;
  ASSERT_OK(Open(&env, path, &out));
  ASSERT_EQ(env.paths(Op::kNewWritableFile).size(), 1u);
  EXPECT_EQ(out->temp_path(), env.paths(Op::kNewWritableFile)[0]);
  EXPECT_TRUE(out->temp_path().starts_with(path + ".tmp-")) << out->temp_path();
  EXPECT_EQ(ModeOf(out->temp_path()) & 0777, 0600u);
  for (const char* piece : {"a", "bc", "", "def"}) ASSERT_OK(Append(out.get(), piece));
  EXPECT_EQ(ReadFileBytes(path), "old");  // nothing visible before Commit
  ASSERT_OK(out->Commit());
  EXPECT_EQ(ReadFileBytes(path), "abcdef");
  EXPECT_EQ(FilesIn(dir.path()), 1u);
  EXPECT_TRUE(env.paths(Op::kRemoveFile).empty());
  EXPECT_FALSE(out->Commit().ok());  // once only
  EXPECT_FALSE(Append(out.get(), "more").ok());
  EXPECT_EQ(ReadFileBytes(path), "abcdef");
}

TEST(AtomicOutputFileTest, DestroyedWithoutCommitLeavesNothing) {
  TempDir dir;
  const std::string path = dir.file("out.json");
  WriteFileBytes(path, "old");
  {
    std::unique_ptr<AtomicOutputFile> out;
    ASSERT_OK(Open(nullptr, path, &out));
    ASSERT_OK(Append(out.get(), "partial"));
    EXPECT_EQ(FilesIn(dir.path()), 2u);
  }
  EXPECT_EQ(ReadFileBytes(path), "old");
  EXPECT_EQ(FilesIn(dir.path()), 1u);
}

TEST(AtomicOutputFileTest, FailedAppendAbandonsTheFile) {
  TempDir dir;
  const std::string path = dir.file("out.json");
  WriteFileBytes(path, "old");
  FaultEnv env;  // the third Append fails with ENOSPC after writing half of it
  env.set_partial_writes(true);
  env.set_injected_errno(ENOSPC);
  env.FailAt(3, FaultEnv::Action::kFail, testing::Ops({Op::kAppend}));
  std::unique_ptr<AtomicOutputFile> out;
  ASSERT_OK(Open(&env, path, &out));
  ASSERT_OK(Append(out.get(), "one"));
  ASSERT_OK(Append(out.get(), "two"));
  Status s = Append(out.get(), "three");
  EXPECT_TRUE(s.IsResourceExhausted()) << s.ToString();
  EXPECT_EQ(FilesIn(dir.path()), 1u);  // removed at once, not only when destroyed
  EXPECT_EQ(Append(out.get(), "four").ToString(), s.ToString());
  EXPECT_EQ(out->Commit().ToString(), s.ToString());
  out.reset();
  EXPECT_EQ(ReadFileBytes(path), "old");
  EXPECT_EQ(FilesIn(dir.path()), 1u);
  EXPECT_EQ(env.paths(Op::kRemoveFile), env.paths(Op::kNewWritableFile));
}

TEST(AtomicOutputFileTest, FailedCloseAtCommitPublishesNothing) {
  TempDir dir;
  const std::string path = dir.file("out.json");
  WriteFileBytes(path, "old");
  FaultEnv env;
  env.FailEvery(testing::Ops({Op::kClose}));
  std::unique_ptr<AtomicOutputFile> out;
  ASSERT_OK(Open(&env, path, &out));
  ASSERT_OK(Append(out.get(), "new"));
  Status s = out->Commit();
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_EQ(ReadFileBytes(path), "old");
  EXPECT_EQ(FilesIn(dir.path()), 1u);
}

TEST(AtomicOutputFileTest, FailedDirectorySyncSaysTheNewContentIsInPlace) {
  TempDir dir;
  const std::string path = dir.file("out.json");
  FaultEnv env;
  env.FailEvery(testing::Ops({Op::kSyncDir}));
  std::unique_ptr<AtomicOutputFile> out;
  ASSERT_OK(Open(&env, path, &out));
  ASSERT_OK(Append(out.get(), "new"));
  Status s = out->Commit();
  EXPECT_TRUE(s.IsIOError()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr(path));
  EXPECT_THAT(s.ToString(), HasSubstr("the new content is in place"));
  EXPECT_EQ(ReadFileBytes(path), "new");
  EXPECT_EQ(FilesIn(dir.path()), 1u);
}

TEST(AtomicOutputFileTest, SpecialFileIsRefusedByOpen) {
  TempDir dir;
  const std::string fifo = dir.file("out.json");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0644), 0);
  std::unique_ptr<AtomicOutputFile> out;
  Status s = Open(nullptr, fifo, &out);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr("a FIFO, not a regular file"));
  EXPECT_EQ(out, nullptr);
  EXPECT_EQ(FilesIn(dir.path()), 1u);
}

TEST(AtomicOutputFileTest, FollowsSymlinksAndKeepsTheModeOfTheReplacedFile) {
  TempDir dir;
  const std::string target = dir.file("target.json");
  WriteFileBytes(target, "old");
  ASSERT_EQ(::chmod(target.c_str(), 0640), 0);
  ASSERT_EQ(::symlink("target.json", dir.file("link.json").c_str()), 0);
  std::unique_ptr<AtomicOutputFile> out;
  ASSERT_OK(Open(nullptr, dir.file("link.json"), &out));
  EXPECT_TRUE(out->temp_path().starts_with(target + ".tmp-")) << out->temp_path();
  ASSERT_OK(Append(out.get(), "new"));
  ASSERT_OK(out->Commit());
  EXPECT_TRUE(S_ISLNK(ModeOf(dir.file("link.json"))));
  EXPECT_EQ(ReadFileBytes(target), "new");
  EXPECT_EQ(ModeOf(target) & 07777, 0640u);
}

TEST(AtomicOutputFileTest, TakenTemporaryNameIsRetriedAndNeverRemoved) {
  TempDir dir;
  class TakenEnv final : public EnvWrapper {
   public:
    std::vector<std::string> tried;
    Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* f) override {
      tried.push_back(path);
      if (tried.size() <= 2) return PosixError(path, EEXIST);
      return EnvWrapper::NewWritableFile(path, f);
    }
    Status RemoveFile(const std::string& path) override {
      ADD_FAILURE() << "removed " << path;
      return EnvWrapper::RemoveFile(path);
    }
  } env;
  std::unique_ptr<AtomicOutputFile> out;
  ASSERT_OK(Open(&env, dir.file("lib.json"), &out));
  ASSERT_OK(Append(out.get(), "x"));
  ASSERT_OK(out->Commit());
  EXPECT_EQ(env.tried.size(), 3u);
  EXPECT_EQ(std::set<std::string>(env.tried.begin(), env.tried.end()).size(), 3u);
  EXPECT_EQ(ReadFileBytes(dir.file("lib.json")), "x");
}

// --- reads -----------------------------------------------------------------

TEST(EnvReadTest, SequentialFileReadsSkipsAndTellsItsInfo) {
  TempDir dir;
  const std::string path = dir.file("t.json");
  WriteFileBytes(path, "0123456789");
  std::unique_ptr<SequentialFile> file;
  ASSERT_OK(Env::Default()->NewSequentialFile(path, &file));
  FileInfo info;
  ASSERT_OK(file->GetInfo(&info));
  EXPECT_EQ(info.kind, FileInfo::Kind::kRegular);
  EXPECT_EQ(info.size, 10u);
  EXPECT_TRUE(file->WaitReadable(0));
  char buf[4];
  size_t got = 0;
  ASSERT_OK(file->Read(buf, 3, &got));
  EXPECT_EQ(std::string(buf, got), "012");
  ASSERT_OK(file->Skip(4));
  ASSERT_OK(file->Read(buf, sizeof(buf), &got));
  EXPECT_EQ(std::string(buf, got), "789");
  ASSERT_OK(file->Read(buf, sizeof(buf), &got));
  EXPECT_EQ(got, 0u);  // the end

  Status s = Env::Default()->NewSequentialFile(dir.file("nope"), &file);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr(dir.file("nope")));
}

// A pipe with nothing in it is not readable: a reader can wait for it in
// steps and stop.
TEST(EnvReadTest, SequentialFileWaitsForAPipe) {
  int fds[2];
  ASSERT_EQ(::pipe(fds), 0);
  std::unique_ptr<SequentialFile> file;
  ASSERT_OK(Env::Default()->NewSequentialFile("/dev/fd/" + std::to_string(fds[0]), &file));
  EXPECT_FALSE(file->WaitReadable(10));
  ASSERT_EQ(::write(fds[1], "x", 1), 1);
  EXPECT_TRUE(file->WaitReadable(1000));
  FileInfo info;
  ASSERT_OK(file->GetInfo(&info));
  EXPECT_EQ(info.kind, FileInfo::Kind::kOther);
  ::close(fds[0]);
  ::close(fds[1]);
}

TEST(EnvReadTest, MapReadOnlyFileMapsOnlyRegularFiles) {
  TempDir dir;
  const std::string path = dir.file("lib.snap");
  WriteFileBytes(path, "mapped bytes");
  std::unique_ptr<ReadOnlyMapping> mapping;
  ASSERT_OK(Env::Default()->MapReadOnlyFile(path, &mapping));
  ASSERT_EQ(mapping->size(), 12u);
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(mapping->data()), mapping->size()),
            "mapped bytes");
  // Replacing the file leaves the mapping as it was.
  std::filesystem::remove(path);
  WriteFileBytes(path, "other");
  EXPECT_EQ(std::string(reinterpret_cast<const char*>(mapping->data()), 6), "mapped");

  WriteFileBytes(dir.file("empty"), "");
  ASSERT_OK(Env::Default()->MapReadOnlyFile(dir.file("empty"), &mapping));
  EXPECT_EQ(mapping->size(), 0u);
  EXPECT_EQ(mapping->data(), nullptr);

  Status s = Env::Default()->MapReadOnlyFile(dir.path(), &mapping);
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr("is a directory"));
  const std::string fifo = dir.file("fifo");
  ASSERT_EQ(::mkfifo(fifo.c_str(), 0600), 0);
  s = Env::Default()->MapReadOnlyFile(fifo, &mapping);  // must not wait for a writer
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.ToString(), HasSubstr("not a regular file"));
  EXPECT_TRUE(Env::Default()->MapReadOnlyFile(dir.file("nope"), &mapping).IsNotFound());
}

TEST(EnvReadTest, GetFileInfoFollowsSymlinksAndKeepsNanoseconds) {
  TempDir dir;
  const std::string path = dir.file("lib.xml");
  WriteFileBytes(path, "12345");
  const struct timespec times[2] = {{1700000000, 123456789}, {1700000000, 987654321}};
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0);
  ASSERT_EQ(::symlink(path.c_str(), dir.file("link").c_str()), 0);
  FileInfo info;
  ASSERT_OK(Env::Default()->GetFileInfo(dir.file("link"), &info));
  EXPECT_EQ(info.kind, FileInfo::Kind::kRegular);
  EXPECT_EQ(info.size, 5u);
  EXPECT_EQ(info.mtime_seconds, 1700000000);
  EXPECT_EQ(info.mtime_nanos, 987654321);
  struct stat st;
  ASSERT_EQ(::stat(path.c_str(), &st), 0);
  EXPECT_EQ(info.device, static_cast<uint64_t>(st.st_dev));
  EXPECT_EQ(info.inode, static_cast<uint64_t>(st.st_ino));

  ASSERT_OK(Env::Default()->GetFileInfo(dir.path(), &info));
  EXPECT_EQ(info.kind, FileInfo::Kind::kDirectory);
  Status s = Env::Default()->GetFileInfo(dir.file("nope"), &info);
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
}

// EnvWrapper forwards the reads too.
TEST(EnvReadTest, WrapperForwardsReads) {
  TempDir dir;
  WriteFileBytes(dir.file("f"), "abc");
  EnvWrapper env;
  FileInfo info;
  ASSERT_OK(env.GetFileInfo(dir.file("f"), &info));
  EXPECT_EQ(info.size, 3u);
  std::unique_ptr<ReadOnlyMapping> mapping;
  ASSERT_OK(env.MapReadOnlyFile(dir.file("f"), &mapping));
  EXPECT_EQ(mapping->size(), 3u);
  std::unique_ptr<SequentialFile> file;
  ASSERT_OK(env.NewSequentialFile(dir.file("f"), &file));
  char buf[8];
  size_t got = 0;
  ASSERT_OK(file->Read(buf, sizeof(buf), &got));
  EXPECT_EQ(std::string(buf, got), "abc");
}

}  // namespace
}  // namespace trackstore
