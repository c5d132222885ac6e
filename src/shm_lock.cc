#include "shm_lock.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <algorithm>
#include <chrono>
#include <thread>

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

}  // namespace

Result<std::unique_ptr<LockFile>> LockFile::Open(const std::string& path, const std::string& name,
                                                 int64_t timeout_ms, bool* alone) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  for (;;) {
    const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC, 0666);
    if (fd < 0) return PosixError(path, errno);
    std::unique_ptr<LockFile> file(new LockFile(path, name, fd));
    *alone = SetLock(fd, kAttachedByte, F_WRLCK);
    if (*alone) {
      SetLock(fd, kAttachedByte, F_RDLCK);  // a downgrade always succeeds
    } else if (!PollUntil(deadline, [&] { return SetLock(fd, kAttachedByte, F_RDLCK); })) {
      return Status::IOError("shm segment " + name, "timed out waiting for " + path);
    }
    // Remove() unlinks the lock file when nobody holds byte 1. If that
    // happened between our open() and our lock, we hold a lock on a dead
    // inode that a newcomer would not see: start again with the new file.
    struct stat ours, now;
    if (::fstat(fd, &ours) == 0 && ::stat(path.c_str(), &now) == 0 && ours.st_ino == now.st_ino &&
        ours.st_dev == now.st_dev) {
      return file;
    }
    if (std::chrono::steady_clock::now() >= deadline) {
      return Status::IOError("shm segment " + name, path + " keeps being replaced");
    }
  }
}

LockFile::~LockFile() { ::close(fd_); }

Status LockFile::LockWriter(int64_t timeout_ms, std::atomic<int64_t>* wanted) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::milliseconds(timeout_ms);
  const Status timeout = Status::IOError(
      "shm segment " + name_,
      "the writer lock (" + path_ + ") was not free within " + std::to_string(timeout_ms) + " ms");
  // Polled rather than std::timed_mutex, whose clocklock ThreadSanitizer
  // does not see.
  if (!PollUntil(deadline, [&] { return thread_mu_.try_lock(); })) return timeout;
  // Another process polled for the lock within the last 5 ms: give it a
  // window, or a process writing back to back would starve it.
  const int64_t asked = wanted != nullptr ? wanted->load(std::memory_order_relaxed) : 0;
  if (asked != 0 && MonotonicNanos() - asked < 5'000'000) {
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

bool LockFile::TryLockWriter() {
  if (!thread_mu_.try_lock()) return false;
  if (SetLock(fd_, kWriterByte, F_WRLCK)) return true;
  thread_mu_.unlock();
  return false;
}

void LockFile::UnlockWriter() {
  SetLock(fd_, kWriterByte, F_UNLCK);
  thread_mu_.unlock();
}

bool LockFile::Alone() {
  if (!SetLock(fd_, kAttachedByte, F_WRLCK)) return false;
  SetLock(fd_, kAttachedByte, F_RDLCK);
  return true;
}

void LockFile::Unlink() { ::unlink(path_.c_str()); }

}  // namespace trackstore::shm
