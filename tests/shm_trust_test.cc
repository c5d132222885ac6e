// tests/shm_trust_test.cc: who may use a shared-memory segment. Another
// user (created here with useradd when running as root; those tests skip
// otherwise) cannot read, write, lock, squat or poison a segment; names the
// cache uses for itself never collide with a segment's; sizes and counts
// that would overflow are refused; a segment truncated under a reader is an
// error, not SIGBUS. Real processes (fork, and exec for useradd and the
// CLI); they synchronise through pipes, never by sleeping.
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <pwd.h>
#include <signal.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "shm_test_util.h"
#include "test_util.h"
#include "trackstore/shm_cache.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore {
namespace {

using ::testing::HasSubstr;
using testing::MakeTracks;

constexpr const char* kStranger = "tsshmstranger";

// Runs argv; returns its wait status, its stdout+stderr in *out.
int Exec(const std::vector<std::string>& argv, std::string* out = nullptr) {
  int fds[2];
  if (::pipe(fds) != 0) return -1;
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::dup2(fds[1], 1);
    ::dup2(fds[1], 2);
    ::close(fds[0]);
    std::vector<char*> args;
    for (const std::string& a : argv) args.push_back(const_cast<char*>(a.c_str()));
    args.push_back(nullptr);
    ::execvp(args[0], args.data());
    _exit(127);
  }
  ::close(fds[1]);
  std::string text;
  char buf[4096];
  ssize_t n;
  while ((n = ::read(fds[0], buf, sizeof(buf))) > 0) text.append(buf, static_cast<size_t>(n));
  ::close(fds[0]);
  int status = 0;
  ::waitpid(pid, &status, 0);
  if (out != nullptr) *out = text;
  return status;
}

// The uid and gid of a user that is not us, created when missing. False
// (with *why) when not root or useradd fails.
bool Stranger(uid_t* uid, gid_t* gid, std::string* why) {
  if (::geteuid() != 0) {
    *why = "needs root, to create a second user and switch to it";
    return false;
  }
  if (::getpwnam(kStranger) == nullptr) {
    std::string out;
    // Exit 9: another test process created it meanwhile.
    const int st = Exec({"useradd", "--system", "--no-create-home", "--user-group", "--shell",
                         "/usr/sbin/nologin", kStranger},
                        &out);
    if (!WIFEXITED(st) || (WEXITSTATUS(st) != 0 && WEXITSTATUS(st) != 9)) {
      *why = "useradd failed: " + out;
      return false;
    }
  }
  const struct passwd* pw = ::getpwnam(kStranger);
  if (pw == nullptr) {
    *why = "no user " + std::string(kStranger) + " after useradd";
    return false;
  }
  *uid = pw->pw_uid;
  *gid = pw->pw_gid;
  return true;
}

// Forks; the child drops to uid/gid (no supplementary groups) and runs
// body, whose return value is its exit code. Returns the wait status.
int RunAs(uid_t uid, gid_t gid, const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(60);
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) _exit(100);
    _exit(body());
  }
  int status = 0;
  ::waitpid(pid, &status, 0);
  return status;
}

int ExitCode(int status) { return WIFEXITED(status) ? WEXITSTATUS(status) : 1000 + status; }

// Directory entries that are the segment or any file the cache could have
// made for it (NAME.*, .NAME.*).
std::vector<std::string> FilesOf(const std::string& dir, const std::string& name) {
  std::vector<std::string> out;
  for (const auto& f : std::filesystem::directory_iterator(dir)) {
    const std::string n = f.path().filename().string();
    if (n == name || n.rfind(name + ".", 0) == 0 || n.rfind("." + name + ".", 0) == 0) {
      out.push_back(n);
    }
  }
  return out;
}

class ShmTrustTest : public ::testing::Test {
 protected:
  ShmTrustTest() {
    static int counter = 0;
    options_.name = "ts-trust-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    options_.capacity_bytes = 4 << 20;
    options_.max_entries = 16;
    options_.max_readers = 8;
    options_.lock_timeout_ms = 2000;
  }
  ~ShmTrustTest() override {
    for (const std::string& f : FilesOf(options_.shm_dir, options_.name)) {
      ::unlink((options_.shm_dir + "/" + f).c_str());
    }
  }
  std::string Path() const { return options_.shm_dir + "/" + options_.name; }
  ShmCache OpenOrDie(const ShmOptions& o) {
    Result<ShmCache> c = ShmCache::Open(o);
    EXPECT_OK(c.status());
    if (!c.ok()) std::abort();
    return std::move(c).value();
  }

  ShmOptions options_;
};

TEST_F(ShmTrustTest, SegmentIsOwnerOnlyWhateverTheUmaskAndHasNoLockFile) {
  const mode_t old = ::umask(0);
  {
    ShmCache cache = OpenOrDie(options_);
    ASSERT_OK(cache.Put("k", MakeTracks(3)).status());
  }
  ::umask(old);
  struct stat st;
  ASSERT_EQ(::lstat(Path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0600u);
  EXPECT_EQ(st.st_uid, ::geteuid());
  EXPECT_EQ(FilesOf(options_.shm_dir, options_.name), std::vector<std::string>{options_.name});
}

TEST_F(ShmTrustTest, ShareWithGroupCreates0660AndOnlyThenAcceptsGroupWritable) {
  options_.share_with_group = true;
  const mode_t old = ::umask(077);
  {
    ShmCache cache = OpenOrDie(options_);
    ASSERT_OK(cache.Put("k", MakeTracks(3)).status());
  }
  ::umask(old);
  struct stat st;
  ASSERT_EQ(::lstat(Path().c_str(), &st), 0);
  EXPECT_EQ(st.st_mode & 07777, 0660u);
  // Without the option, a segment the group may write is refused.
  ShmOptions strict = options_;
  strict.share_with_group = false;
  Result<ShmCache> c = ShmCache::Open(strict);
  EXPECT_TRUE(c.status().IsIOError()) << c.status().ToString();
  EXPECT_THAT(c.status().ToString(), HasSubstr("0660"));
  // Nor is one anybody may write, even with it.
  ASSERT_EQ(::chmod(Path().c_str(), 0666), 0);
  c = ShmCache::Open(options_);
  EXPECT_THAT(c.status().ToString(), HasSubstr("any user may write it"));
}

// A symlink at the segment's name (or where older versions kept a lock
// file) is never followed: nothing is created at its target.
TEST_F(ShmTrustTest, SymlinkAtTheNameIsNeverFollowed) {
  testing::TempDir dir;
  const std::string target = dir.path() + "/target";
  ASSERT_EQ(::symlink(target.c_str(), Path().c_str()), 0);
  Result<ShmCache> c = ShmCache::Open(options_);
  EXPECT_FALSE(c.ok());
  EXPECT_THAT(c.status().ToString(), HasSubstr("symbolic link"));
  EXPECT_FALSE(ShmCache::Remove(options_).ok());
  EXPECT_EQ(::access(target.c_str(), F_OK), -1);
  ASSERT_EQ(::unlink(Path().c_str()), 0);

  ASSERT_EQ(::symlink(target.c_str(), (Path() + ".lock").c_str()), 0);
  {
    ShmCache cache = OpenOrDie(options_);
    ASSERT_OK(cache.Put("k", MakeTracks(3)).status());
  }
  ASSERT_OK(ShmCache::Remove(options_));
  EXPECT_EQ(::access(target.c_str(), F_OK), -1);
}

// Publishing X must not delete a segment named X.new, a segment named
// X.lock must not stand in for X's lock, and removing X leaves both alone.
TEST_F(ShmTrustTest, HelperNamesNeverCollideWithSegmentNames) {
  ShmOptions x_new = options_, x_lock = options_;
  x_new.name += ".new";
  x_lock.name += ".lock";
  ShmCache n = OpenOrDie(x_new);
  ASSERT_OK(n.Put("k", MakeTracks(5)).status());
  ShmCache l = OpenOrDie(x_lock);
  ASSERT_OK(l.Put("k", MakeTracks(6)).status());
  {
    ShmCache x = OpenOrDie(options_);
    ASSERT_OK(x.Put("k", MakeTracks(7)).status());
    // The writer lock of X is X's own: holding X.lock's does not block X.
    Result<ShmEntry> e = x.Get("k");
    ASSERT_OK(e.status());
    EXPECT_EQ(e->snapshot().size(), 7u);
  }
  ASSERT_OK(ShmCache::Remove(options_));
  for (const ShmOptions* o : {&x_new, &x_lock}) {
    ShmCache again = OpenOrDie(*o);
    Result<ShmEntry> e = again.Get("k");
    ASSERT_OK(e.status()) << o->name;
  }
  EXPECT_EQ(n.Get("k")->snapshot().size(), 5u);
  EXPECT_EQ(l.Get("k")->snapshot().size(), 6u);
  EXPECT_OK(ShmCache::Remove(x_new));
  EXPECT_OK(ShmCache::Remove(x_lock));
  // Names the cache keeps for itself are refused.
  ShmOptions hidden = options_;
  hidden.name = "." + options_.name + ".0123456789abcdef.new";
  EXPECT_TRUE(ShmCache::Open(hidden).status().IsInvalidArgument());
}

// A creator killed while building a segment leaves its temporary file; the
// next creator removes it (unlocked, not empty, ours), and keeps a file a
// live creator holds.
TEST_F(ShmTrustTest, TemporaryFilesOfDeadCreatorsAreRemoved) {
  const std::string dead = options_.shm_dir + "/." + options_.name + ".00000000deadbeef.new";
  const std::string live = options_.shm_dir + "/." + options_.name + ".00000000000a11fe.new";
  testing::WriteFileBytes(dead, std::string(8192, 'x'));
  testing::WriteFileBytes(live, std::string(8192, 'x'));
  const int fd = ::open(live.c_str(), O_RDWR | O_CLOEXEC);
  ASSERT_GE(fd, 0);
  struct flock writer = {};
  writer.l_type = F_WRLCK;
  writer.l_whence = SEEK_SET;
  writer.l_len = 1;
  ASSERT_EQ(::fcntl(fd, F_OFD_SETLK, &writer), 0);
  {
    ShmCache cache = OpenOrDie(options_);
    ASSERT_OK(cache.Put("k", MakeTracks(3)).status());
  }
  EXPECT_EQ(::access(dead.c_str(), F_OK), -1);
  EXPECT_EQ(::access(live.c_str(), F_OK), 0);
  ::close(fd);
}

TEST_F(ShmTrustTest, SizesAndCountsThatWouldOverflowAreInvalidArgument) {
  struct Case {
    uint64_t capacity;
    uint64_t max_entries;
    const char* limit;
  };
  const Case cases[] = {
      {uint64_t{16} << 40, 16, "1 TiB"},  // --capacity 17592186044416 (MiB) wrapped to 0
      {uint64_t{1} << 40, 16, "1 TiB"},
      {UINT64_MAX, 16, "1 TiB"},
      {4 << 20, uint64_t{1} << 60, "4294967296"},
      {4 << 20, uint64_t{1} << 63, "4294967296"},
      {4 << 20, (uint64_t{1} << 63) + 1, "4294967296"},
      {4 << 20, UINT64_MAX, "4294967296"},
      {4 << 20, (uint64_t{1} << 32) + 1, "4294967296"},
  };
  for (const Case& c : cases) {
    ShmOptions o = options_;
    o.capacity_bytes = c.capacity;
    o.max_entries = c.max_entries;
    Result<ShmCache> r = ShmCache::Open(o);
    EXPECT_TRUE(r.status().IsInvalidArgument())
        << c.capacity << " " << c.max_entries << ": " << r.status().ToString();
    EXPECT_THAT(r.status().ToString(), HasSubstr(c.limit));
    EXPECT_TRUE(FilesOf(o.shm_dir, o.name).empty()) << c.capacity << " " << c.max_entries;
  }
  // Allowed by the limits but not by this capacity: still refused up front.
  ShmOptions o = options_;
  o.max_entries = uint64_t{1} << 32;
  EXPECT_TRUE(ShmCache::Open(o).status().IsInvalidArgument());
  EXPECT_TRUE(FilesOf(o.shm_dir, o.name).empty());
}

// The CLI takes --capacity in MiB: 17592186044416 MiB << 20 is 2^64, which
// wrapped to 0.
TEST_F(ShmTrustTest, CliRefusesCapacityAndEntryCountThatOverflow) {
  const char* cli = std::getenv("TRACKSTORE_CLI");
  if (cli == nullptr) GTEST_SKIP() << "TRACKSTORE_CLI is not set (built without the CLI)";
  if (::access(cli, X_OK) != 0) GTEST_SKIP() << cli << " is not built";
  testing::TempDir dir;
  const std::string snap = dir.path() + "/lib.snap";
  {
    std::string image;
    SnapshotWriter writer;
    ASSERT_OK(writer.Encode(MakeTracks(3), &image).status());
    testing::WriteFileBytes(snap, image);
  }
  for (const std::vector<std::string>& extra :
       std::vector<std::vector<std::string>>{{"--capacity", "17592186044416"},
                                             {"--capacity", "1048576"},
                                             {"--max-entries", "1152921504606846976"},
                                             {"--max-entries", "9223372036854775808"}}) {
    std::vector<std::string> argv = {cli, "shm", "publish", options_.name, "k", snap};
    argv.insert(argv.end(), extra.begin(), extra.end());
    std::string out;
    const int st = Exec(argv, &out);
    EXPECT_TRUE(WIFEXITED(st) && WEXITSTATUS(st) != 0)
        << extra[0] << " " << extra[1] << ": " << out;
    EXPECT_THAT(out, HasSubstr("nvalid")) << out;  // "invalid argument" in some casing
    EXPECT_TRUE(FilesOf(options_.shm_dir, options_.name).empty()) << out;
  }
}

// A reader process has the segment open and holds a view; its owner
// truncates it. The reader's next get is an error, releasing the view and
// the handle is safe, and the reader lives (SIGBUS killed it before).
TEST_F(ShmTrustTest, SegmentTruncatedUnderAReaderIsAnErrorNotSigbus) {
  {
    ShmCache cache = OpenOrDie(options_);
    ASSERT_OK(cache.Put("k", MakeTracks(2000)).status());
  }
  for (const off_t length : {off_t{4096}, off_t{0}}) {
    int ready[2], go[2];
    ASSERT_EQ(::pipe(ready), 0);
    ASSERT_EQ(::pipe(go), 0);
    const pid_t child = ::fork();
    if (child == 0) {
      ::alarm(60);
      std::optional<ShmCache> c;
      if (Result<ShmCache> opened = ShmCache::Open(options_); opened.ok()) {
        c.emplace(std::move(opened).value());
      } else {
        _exit(10);
      }
      // Held, never read after the truncation (that would be SIGBUS: the
      // owner's caveat); releasing it must not touch the lost pages.
      std::optional<Result<ShmEntry>> held(c->Get("k"));
      if (!held->ok()) _exit(11);
      char b = 0;
      if (::write(ready[1], "r", 1) != 1 || ::read(go[0], &b, 1) != 1) _exit(12);
      Result<ShmEntry> e = c->Get("k");
      if (e.ok()) _exit(13);
      if (e.status().ToString().find("truncated") == std::string::npos) _exit(14);
      held.reset();
      c.reset();
      _exit(0);
    }
    char b = 0;
    ASSERT_EQ(::read(ready[0], &b, 1), 1);
    ASSERT_EQ(::truncate(Path().c_str(), length), 0);
    ASSERT_EQ(::write(go[1], "g", 1), 1);
    int status = 0;
    ASSERT_EQ(::waitpid(child, &status, 0), child);
    EXPECT_EQ(ExitCode(status), 0) << "truncated to " << length << ": wait status " << status
                                   << (WIFSIGNALED(status) ? " (signal)" : "");
    for (int fd : {ready[0], ready[1], go[0], go[1]}) ::close(fd);
    // A writer finds it truncated and replaces it.
    ShmCache cache = OpenOrDie(options_);
    EXPECT_OK(cache.Put("k", MakeTracks(2000)).status());
    EXPECT_OK(cache.Get("k").status());
  }
}

// Another user, on a segment created by this one: cannot open it to read
// or write (so cannot lock it either), cannot remove or truncate it; a
// lock file it plants and holds where older versions looked changes
// nothing.
TEST_F(ShmTrustTest, AnotherUserCannotReadWriteLockOrRemoveOurSegment) {
  uid_t uid;
  gid_t gid;
  std::string why;
  if (!Stranger(&uid, &gid, &why)) GTEST_SKIP() << why;
  ShmCache cache = OpenOrDie(options_);
  ASSERT_OK(cache.Put("k", MakeTracks(20)).status());
  const std::string path = Path();
  const ShmOptions options = options_;
  const int st = ExitCode(RunAs(uid, gid, [&] {
    if (::open(path.c_str(), O_RDONLY) >= 0 || errno != EACCES) return 1;
    if (::open(path.c_str(), O_RDWR) >= 0 || errno != EACCES) return 2;
    if (::truncate(path.c_str(), 0) == 0) return 3;
    if (ShmCache::Open(options).ok()) return 4;
    ShmOptions reader = options;
    reader.create_if_missing = false;
    if (ShmCache::Open(reader).ok()) return 5;
    if (ShmCache::Remove(options).ok()) return 6;
    if (::unlink(path.c_str()) == 0) return 7;  // /dev/shm is sticky
    return 0;
  }));
  EXPECT_EQ(st, 0) << "step that wrongly succeeded";

  // The stranger plants <name>.lock, holds a lock on it and waits.
  int ready[2], done[2];
  ASSERT_EQ(::pipe(ready), 0);
  ASSERT_EQ(::pipe(done), 0);
  const pid_t squatter = ::fork();
  if (squatter == 0) {
    ::alarm(60);
    if (::setgroups(0, nullptr) != 0 || ::setgid(gid) != 0 || ::setuid(uid) != 0) _exit(100);
    const int fd = ::open((path + ".lock").c_str(), O_RDWR | O_CREAT, 0666);
    struct flock fl = {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_len = 0;  // every byte
    if (fd < 0 || ::fcntl(fd, F_OFD_SETLK, &fl) != 0) _exit(101);
    char b = 0;
    if (::write(ready[1], "r", 1) != 1) _exit(102);
    (void)!::read(done[0], &b, 1);
    _exit(0);
  }
  char b = 0;
  ASSERT_EQ(::read(ready[0], &b, 1), 1);
  ShmOptions quick = options_;
  quick.lock_timeout_ms = 500;
  ShmCache other = OpenOrDie(quick);
  EXPECT_OK(other.Put("k", MakeTracks(21)).status());
  Result<ShmEntry> e = other.Get("k");
  ASSERT_OK(e.status());
  EXPECT_EQ(e->snapshot().size(), 21u);
  ASSERT_EQ(::write(done[1], "d", 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(squatter, &status, 0), squatter);
  EXPECT_EQ(ExitCode(status), 0);
  for (int fd : {ready[0], ready[1], done[0], done[1]}) ::close(fd);
  ::unlink((path + ".lock").c_str());
}

// Another user creates the name first (squatting it) and publishes a
// forged entry into it, with umask 0. This user is refused with the owner
// named, and never reads the forged entry nor writes into the segment.
TEST_F(ShmTrustTest, SegmentAnotherUserCreatedIsNeverAdopted) {
  uid_t uid;
  gid_t gid;
  std::string why;
  if (!Stranger(&uid, &gid, &why)) GTEST_SKIP() << why;
  const ShmOptions options = options_;
  for (const bool group : {false, true}) {
    const int st = ExitCode(RunAs(uid, gid, [&] {
      ::umask(0);
      ShmOptions o = options;
      o.share_with_group = group;
      Result<ShmCache> c = ShmCache::Open(o);
      if (!c.ok()) return 1;
      return c->Put("k", MakeTracks(4)).ok() ? 0 : 2;
    }));
    ASSERT_EQ(st, 0);
    struct stat before;
    ASSERT_EQ(::lstat(Path().c_str(), &before), 0);
    ASSERT_EQ(before.st_uid, uid);
    for (const bool we_share : {false, true}) {
      ShmOptions o = options_;
      o.share_with_group = we_share;  // we are not in the stranger's group
      Result<ShmCache> c = ShmCache::Open(o);
      ASSERT_FALSE(c.ok()) << "group " << group << " we_share " << we_share;
      EXPECT_TRUE(c.status().IsIOError()) << c.status().ToString();
      EXPECT_THAT(c.status().ToString(), HasSubstr("owned by uid " + std::to_string(uid)));
      o.create_if_missing = false;
      EXPECT_FALSE(ShmCache::Open(o).ok());
      EXPECT_FALSE(ShmCache::Remove(o).ok());
    }
    struct stat after;
    ASSERT_EQ(::lstat(Path().c_str(), &after), 0);
    EXPECT_EQ(after.st_ino, before.st_ino);
    EXPECT_EQ(after.st_mtim.tv_nsec, before.st_mtim.tv_nsec);
    EXPECT_EQ(after.st_size, before.st_size);
    ASSERT_EQ(::unlink(Path().c_str()), 0);  // as root
  }
}

// With share_with_group, a member of the segment's group (here: this test
// process, root, made a member by a supplementary group in the child) may
// use a segment another user created so; without being a member, not.
TEST_F(ShmTrustTest, GroupSharedSegmentIsUsableByTheGroupOnly) {
  uid_t uid;
  gid_t gid;
  std::string why;
  if (!Stranger(&uid, &gid, &why)) GTEST_SKIP() << why;
  const ShmOptions options = [&] {
    ShmOptions o = options_;
    o.share_with_group = true;
    return o;
  }();
  ASSERT_EQ(ExitCode(RunAs(uid, gid,
                           [&] {
                             Result<ShmCache> c = ShmCache::Open(options);
                             return c.ok() && c->Put("k", MakeTracks(4)).ok() ? 0 : 1;
                           })),
            0);
  // A child of root that is in the stranger's group: accepted.
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(60);
    const gid_t groups[] = {gid};
    if (::setgroups(1, groups) != 0) _exit(100);
    Result<ShmCache> c = ShmCache::Open(options);
    if (!c.ok()) _exit(1);
    Result<ShmEntry> e = c->Get("k");
    _exit(e.ok() && e->snapshot().size() == 4 ? 0 : 2);
  }
  int status = 0;
  ASSERT_EQ(::waitpid(pid, &status, 0), pid);
  EXPECT_EQ(ExitCode(status), 0);
  // Root in its own groups only: refused.
  Result<ShmCache> c = ShmCache::Open(options);
  EXPECT_THAT(c.status().ToString(), HasSubstr("owned by uid " + std::to_string(uid)));
}

}  // namespace
}  // namespace trackstore
