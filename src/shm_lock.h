// src/shm_lock.h: the cache's kernel locks, on one lock file per segment.
//
// Linux open-file-description (OFD) locks, taken on two bytes of
// <lock_dir>/<name>.lock through a descriptor this handle opened:
//   byte 0  the writer lock, exclusive: serializes every change to the segment;
//   byte 1  "attached", shared by every open handle for its whole life; an
//           exclusive probe of it succeeds only when no other handle exists
//           (lmdb:mdb.c mdb_env_excl_lock).
// The kernel drops both when the last descriptor of the open file
// description is closed, so a process killed at any instant releases them.
// Unlike POSIX record locks, OFD locks are not shared by the threads of a
// process and are not dropped when some other descriptor of the same file is
// closed (RELIABILITY.md, Boost item 11); threads of one process are
// serialized by a mutex in front of byte 0.
#ifndef TRACKSTORE_SRC_SHM_LOCK_H_
#define TRACKSTORE_SRC_SHM_LOCK_H_

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "trackstore/result.h"

namespace trackstore::shm {

class LockFile {
 public:
  // Opens or creates `path` and takes the shared "attached" lock, waiting
  // at most `timeout_ms` for a concurrent exclusive probe to end. Sets
  // *alone when no other handle had the file open (this one took the
  // attached byte exclusively, and still holds it shared).
  static Result<std::unique_ptr<LockFile>> Open(const std::string& path, const std::string& name,
                                                int64_t timeout_ms, bool* alone);
  LockFile(const LockFile&) = delete;
  LockFile& operator=(const LockFile&) = delete;
  ~LockFile();  // closing the descriptor drops both locks

  // Takes the writer lock, polling for at most `timeout_ms`. `wanted`, a
  // word in the segment header, lets a waiting process ask a busy writer to
  // pause between writes so that it is not starved; it may be null.
  Status LockWriter(int64_t timeout_ms, std::atomic<int64_t>* wanted);
  // Takes the writer lock only if it is free now.
  bool TryLockWriter();
  void UnlockWriter();

  // True when no other handle has the lock file open (or is about to lock
  // it: Open re-checks the file's inode after locking).
  bool Alone();

  // Unlinks the lock file. REQUIRES: Alone() was just true.
  void Unlink();

  const std::string& path() const { return path_; }
  const std::string& name() const { return name_; }

 private:
  LockFile(std::string path, std::string name, int fd)
      : path_(std::move(path)), name_(std::move(name)), fd_(fd) {}

  const std::string path_;
  const std::string name_;
  const int fd_;
  std::mutex thread_mu_;  // threads of this process, in front of byte 0
};

// The writer lock for one scope.
class WriterLock {
 public:
  WriterLock(LockFile* file, int64_t timeout_ms, std::atomic<int64_t>* wanted)
      : file_(file), status_(file->LockWriter(timeout_ms, wanted)) {}
  WriterLock(LockFile* file, std::try_to_lock_t)
      : file_(file),
        status_(file->TryLockWriter() ? Status::OK() : Status::IOError("writer lock busy")) {}
  ~WriterLock() {
    if (status_.ok()) file_->UnlockWriter();
  }
  WriterLock(const WriterLock&) = delete;
  WriterLock& operator=(const WriterLock&) = delete;
  const Status& status() const { return status_; }

 private:
  LockFile* file_;
  Status status_;
};

}  // namespace trackstore::shm

#endif  // TRACKSTORE_SRC_SHM_LOCK_H_
