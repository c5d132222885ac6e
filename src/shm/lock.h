// src/shm/lock.h: a segment file's descriptor, who may use it, and its
// kernel locks.
//
// The locks are Linux open-file-description (OFD) locks on two bytes of the
// segment file itself, through a descriptor this process opened:
//   byte 0  the writer lock, exclusive: serializes every change to the segment;
//   byte 1  "attached", shared by every open handle for its whole life; an
//           exclusive probe of it succeeds only when no other handle exists
//           (lmdb:mdb.c mdb_env_excl_lock).
// Taking a lock needs a descriptor of the file, and only the users who may
// open the segment (its owner, and its group when shared) can get one: there
// is no separate lock file for a stranger to lock or plant. The kernel drops
// both locks when the last descriptor of the open file description is
// closed, so a process killed at any instant releases them. OFD locks are not
// shared by the threads of a process and are not dropped when some other
// descriptor of the same file is closed; threads of one process are
// serialized by a mutex in front of byte 0.
//
// A writer that replaces a segment (rename over its name) takes the writer
// lock of the new file before it gets the name, so whoever finds the new
// file waits for it. Whoever locked a file checks that the name still leads
// to it (IsAt) before changing anything.
#ifndef TRACKSTORE_SRC_SHM_LOCK_H_
#define TRACKSTORE_SRC_SHM_LOCK_H_

#include <sys/types.h>

#include <atomic>
#include <cstdint>
#include <memory>
#include <mutex>
#include <string>

#include "trackstore/result.h"

namespace trackstore::shm {

class SegmentFile {
 public:
  // Opens the existing segment file `path`, never through a symbolic link,
  // and checks that nobody but this user (and, with `share_with_group`, the
  // file's group, which this process must be in) can have written it: owned
  // by another uid, or writable by others, is an error naming the owner and
  // mode, and the file is not used. Then takes the shared "attached" lock,
  // waiting at most `timeout_ms` for a concurrent exclusive probe to end.
  // Errors: NotFound, IOError (permissions, owner, not a regular file).
  static Result<std::shared_ptr<SegmentFile>> Open(const std::string& path, const std::string& name,
                                                   bool share_with_group, int64_t timeout_ms);
  // Creates `path` exclusively (O_EXCL, O_NOFOLLOW) with mode 0600, or 0660
  // with `share_with_group`, whatever the umask, and takes both locks (the
  // writer lock exclusive). EEXIST is an IOError with that errno text.
  static Result<std::shared_ptr<SegmentFile>> Create(const std::string& path,
                                                     const std::string& name,
                                                     bool share_with_group);
  SegmentFile(const SegmentFile&) = delete;
  SegmentFile& operator=(const SegmentFile&) = delete;
  ~SegmentFile();  // closing the descriptor drops both locks

  int fd() const { return fd_; }
  dev_t dev() const { return dev_; }
  ino_t ino() const { return ino_; }
  // True while `path` names this file (lstat: a symbolic link never does).
  bool IsAt(const std::string& path) const;
  // The file's size now, or -1 when fstat fails.
  int64_t CurrentSize() const;

  // Takes the writer lock, polling for at most `timeout_ms`. `wanted`, a
  // word in the segment header, lets a waiting process ask a busy writer to
  // pause between writes so that it is not starved; it may be null.
  Status LockWriter(int64_t timeout_ms, std::atomic<int64_t>* wanted);
  // Takes the writer lock only if it is free now.
  bool TryLockWriter();
  void UnlockWriter();

  // True when no other handle has the file open (or is about to lock it).
  bool Alone();

  const std::string& name() const { return name_; }

 private:
  SegmentFile(std::string name, int fd, dev_t dev, ino_t ino)
      : name_(std::move(name)), fd_(fd), dev_(dev), ino_(ino) {}

  const std::string name_;
  const int fd_;
  const dev_t dev_;
  const ino_t ino_;
  std::mutex thread_mu_;  // threads of this process, in front of byte 0
};

}  // namespace trackstore::shm

#endif  // TRACKSTORE_SRC_SHM_LOCK_H_
