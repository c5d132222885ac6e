#include "shm/lock.h"

#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <cstdio>
#include <thread>
#include <vector>

#include "trackstore/env.h"

namespace trackstore::shm {

namespace {

constexpr off_t kWriterByte = 0;
constexpr off_t kAttachedByte = 1;

// F_OFD_SETLK on one byte; false when another open file description holds a
// conflicting lock.
bool SetLock(int fd, off_t byte, short type) {
  struct flock fl = {};
  fl.l_type = type;
  fl.l_whence = SEEK_SET;
  fl.l_start = byte;
  fl.l_len = 1;
  while (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    if (errno != EINTR) return false;
  }
  return true;
}

int64_t MonotonicNanos() {
  struct timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return int64_t{ts.tv_sec} * 1'000'000'000 + ts.tv_nsec;
}

// There is no timed F_OFD_SETLKW, so waits poll: 20 us doubling to 1 ms.
// Locks are held for the length of one write, so the latency added is small.
template <typename TryFn>
bool PollUntil(std::chrono::steady_clock::time_point deadline, TryFn try_fn) {
  auto pause = std::chrono::microseconds(20);
  for (;;) {
    if (try_fn()) return true;
    if (std::chrono::steady_clock::now() >= deadline) return false;
    std::this_thread::sleep_for(pause);
    pause = std::min(pause * 2, std::chrono::microseconds(1000));
  }
}

bool InGroup(gid_t gid) {
  if (gid == ::getegid()) return true;
  const int n = ::getgroups(0, nullptr);
  if (n <= 0) return false;
  std::vector<gid_t> groups(static_cast<size_t>(n));
  const int got = ::getgroups(n, groups.data());
  return got > 0 && std::find(groups.begin(), groups.begin() + got, gid) != groups.begin() + got;
}

std::string Octal(mode_t mode) {
  char buf[8];
  std::snprintf(buf, sizeof(buf), "%04o", static_cast<unsigned>(mode & 07777));
  return buf;
}

// Whether a file this user did not create alone may be used. A segment is
// read without further checks by every process that maps it, so whoever
// could write it could forge what readers get.
Status CheckTrust(const struct stat& st, const std::string& path, const std::string& name,
                  bool share_with_group) {
  const std::string what = "shm segment " + name;
  if (!S_ISREG(st.st_mode)) return Status::IOError(what, path + " is not a regular file");
  const uid_t me = ::geteuid();
  const bool group_ok = share_with_group && InGroup(st.st_gid);
  if (st.st_uid != me && !group_ok) {
    return Status::IOError(
        what, path + " is owned by uid " + std::to_string(st.st_uid) + ", not by this user (uid " +
                  std::to_string(me) +
                  "): not used. Anyone who can write a segment decides what its readers get; "
                  "have its owner remove it, or use another name or shm_dir");
  }
  if ((st.st_mode & 0002) != 0 || (st.st_mode & 0020 && !group_ok)) {
    return Status::IOError(
        what, path + " has mode " + Octal(st.st_mode) +
                  ((st.st_mode & 0002) != 0 ? ": any user may write it; not used"
                                            : ": its group (gid " + std::to_string(st.st_gid) +
                                                  ") may write it; share_with_group "
                                                  "(--share-with-group) accepts that"));
  }
  return Status::OK();
}

}  // namespace

Result<std::shared_ptr<SegmentFile>> SegmentFile::Open(const std::string& path,
                                                       const std::string& name,
                                                       bool share_with_group, int64_t timeout_ms) {
  // O_NONBLOCK: a FIFO planted at the name must not block the open.
  const int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) {
    const int err = errno;
    if (err == ELOOP) {
      return Status::IOError("shm segment " + name,
                             path + " is a symbolic link: segments are never opened through one");
    }
    return PosixError(path, err);
  }
  struct stat st;
  Status s = ::fstat(fd, &st) == 0 ? Status::OK() : PosixError(path, errno);
  if (s.ok()) s = CheckTrust(st, path, name, share_with_group);
  if (!s.ok()) {
    ::close(fd);
    return s;
  }
  std::shared_ptr<SegmentFile> file(new SegmentFile(name, fd, st.st_dev, st.st_ino));
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  if (!PollUntil(deadline, [&] { return SetLock(fd, kAttachedByte, F_RDLCK); })) {
    return Status::IOError("shm segment " + name, "timed out waiting to attach to " + path);
  }
  return file;
}

Result<std::shared_ptr<SegmentFile>> SegmentFile::Create(const std::string& path,
                                                         const std::string& name,
                                                         bool share_with_group) {
  const mode_t mode = share_with_group ? 0660 : 0600;
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
  if (fd < 0) return PosixError(path, errno);
  // The umask may only take bits away; set exactly what was asked.
  struct stat st;
  Status s = ::fchmod(fd, mode) == 0 ? Status::OK() : PosixError(path, errno);
  if (s.ok() && ::fstat(fd, &st) != 0) s = PosixError(path, errno);
  if (s.ok() && !(SetLock(fd, kWriterByte, F_WRLCK) && SetLock(fd, kAttachedByte, F_RDLCK))) {
    s = PosixError(path, errno);
  }
  if (!s.ok()) {
    ::unlink(path.c_str());
    ::close(fd);
    return s;
  }
  std::shared_ptr<SegmentFile> file(new SegmentFile(name, fd, st.st_dev, st.st_ino));
  file->thread_mu_.lock();  // the writer lock, as LockWriter takes it
  return file;
}

SegmentFile::~SegmentFile() { ::close(fd_); }

bool SegmentFile::IsAt(const std::string& path) const {
  struct stat st;
  return ::lstat(path.c_str(), &st) == 0 && st.st_dev == dev_ && st.st_ino == ino_;
}

int64_t SegmentFile::CurrentSize() const {
  struct stat st;
  return ::fstat(fd_, &st) == 0 ? static_cast<int64_t>(st.st_size) : -1;
}

Status SegmentFile::LockWriter(int64_t timeout_ms, std::atomic<int64_t>* wanted) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  Status timeout =  // not const: returned by move
      Status::IOError("shm segment " + name_,
                      "the writer lock was not free within " + std::to_string(timeout_ms) + " ms");
  // Polled rather than std::timed_mutex, whose clocklock ThreadSanitizer
  // does not see.
  if (!PollUntil(deadline, [&] { return thread_mu_.try_lock(); })) return timeout;
  // Another process polled for the lock within the last 5 ms: give it a
  // window, or a process writing back to back would starve it.
  // The stamp lives in shared memory, so any value is possible: only a
  // stamp from the last 5 ms (never in the future) counts.
  const int64_t asked = wanted != nullptr ? wanted->load(std::memory_order_relaxed) : 0;
  const int64_t now = MonotonicNanos();
  if (asked > 0 && asked <= now && now - asked < 5'000'000) {
    std::this_thread::sleep_for(std::chrono::milliseconds(2));
  }
  const bool ok = PollUntil(deadline, [&] {
    if (SetLock(fd_, kWriterByte, F_WRLCK)) return true;
    if (wanted != nullptr) wanted->store(MonotonicNanos(), std::memory_order_relaxed);
    return false;
  });
  if (!ok) {
    thread_mu_.unlock();
    return timeout;
  }
  if (wanted != nullptr) wanted->store(0, std::memory_order_relaxed);
  return Status::OK();
}

bool SegmentFile::TryLockWriter() {
  if (!thread_mu_.try_lock()) return false;
  if (SetLock(fd_, kWriterByte, F_WRLCK)) return true;
  thread_mu_.unlock();
  return false;
}

void SegmentFile::UnlockWriter() {
  SetLock(fd_, kWriterByte, F_UNLCK);
  thread_mu_.unlock();
}

bool SegmentFile::Alone() {
  if (!SetLock(fd_, kAttachedByte, F_WRLCK)) return false;
  SetLock(fd_, kAttachedByte, F_RDLCK);
  return true;
}

}  // namespace trackstore::shm
