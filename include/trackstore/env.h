// include/trackstore/env.h
//
// Env is the seam through which trackstore does its file operations: create,
// write, sync, rename, remove, list, lock, and the reads (whole small files,
// streamed files, read-only mappings, stat). Env::Default() is the POSIX
// implementation; tests wrap it to fail the N-th operation and prove that a
// failure loses nothing. Implementations must be thread-safe.
//
// Outside the Env: the shared-memory cache (shm_cache.h), which is not a
// file store (its segments and lock files in /dev/shm are opened directly);
// standard input and output ("-"); and AtomicOutputFile's own look at its
// target (following symbolic links, the mode to keep, stale temporaries),
// whose writes, renames, syncs and removals do go through the Env.
#ifndef TRACKSTORE_ENV_H_
#define TRACKSTORE_ENV_H_

#include <cstddef>
#include <cstdint>
#include <functional>
#include <memory>
#include <span>
#include <string>
#include <vector>

#include "trackstore/export.h"
#include "trackstore/status.h"

namespace trackstore {

// A piece of bytes to write; a file is written from a sequence of pieces
// without first joining them in memory.
struct TRACKSTORE_EXPORT ConstBytes {
  const void* data = nullptr;
  size_t size = 0;
};

// A file being written from start to end (Env::NewWritableFile). Not
// thread-safe.
class TRACKSTORE_EXPORT WritableFile {
 public:
  // Closes the file if Close was not called, without syncing it and
  // dropping any error: call Close to learn about one.
  virtual ~WritableFile() = default;
  // Writes the pieces at the end of the file, in order.
  virtual Status Append(std::span<const ConstBytes> pieces) = 0;
  // fdatasync(2).
  virtual Status Sync() = 0;
  // close(2), which may report a deferred write error (NFS, quotas).
  virtual Status Close() = 0;
};

// What stat(2) tells of a file (Env::GetFileInfo, SequentialFile::GetInfo).
struct TRACKSTORE_EXPORT FileInfo {
  enum class Kind { kRegular, kDirectory, kOther };
  Kind kind = Kind::kOther;
  uint64_t size = 0;
  // Modification time since the Unix epoch, as stat(2) gives it: whole
  // seconds, and nanoseconds (0 to 999999999) after them.
  int64_t mtime_seconds = 0;
  int64_t mtime_nanos = 0;
  // Together they name the file: two paths to one directory have equal ones.
  uint64_t device = 0;
  uint64_t inode = 0;
};

// A file being read from start to end (Env::NewSequentialFile), such as a
// JSON import streamed in pieces. Not thread-safe.
class TRACKSTORE_EXPORT SequentialFile {
 public:
  virtual ~SequentialFile() = default;  // closes the file
  // read(2): up to `size` bytes into `out`; *got is 0 only at the end.
  virtual Status Read(char* out, size_t size, size_t* got) = 0;
  // Moves `n` bytes ahead without reading them (lseek(2)), to read one part
  // of a regular file.
  virtual Status Skip(uint64_t n) = 0;
  // fstat(2) of the open file: what was opened, not what the path names now.
  virtual Status GetInfo(FileInfo* info) = 0;
  // Waits at most `timeout_ms` for the file to have bytes to read (poll(2)):
  // true when a Read would not block. A thread reading a pipe that never
  // sends uses it to notice that it should stop. Always true for a regular
  // file.
  virtual bool WaitReadable(int timeout_ms) = 0;
};

// A whole file mapped read-only (Env::MapReadOnlyFile). The bytes are those
// of the file as the kernel pages them in: a file changed in place while
// mapped changes them too (files that trackstore maps are never changed,
// only replaced). Unmapped when destroyed; it does not need the Env that
// made it to live on.
class TRACKSTORE_EXPORT ReadOnlyMapping {
 public:
  virtual ~ReadOnlyMapping() = default;
  // Page-aligned; null when size() is 0 (an empty file is not mapped).
  virtual const uint8_t* data() const = 0;
  virtual size_t size() const = 0;
};

// A lock taken with Env::TryLockFile; released when destroyed (and by the
// kernel when its process dies).
class TRACKSTORE_EXPORT FileLock {
 public:
  virtual ~FileLock() = default;
};

class TRACKSTORE_EXPORT Env {
 public:
  virtual ~Env() = default;

  // Creates `path` (which must not exist, and is never followed if it is a
  // symbolic link) with mode 0600, writes the pieces in order and, when
  // `sync`, fdatasyncs it. On error the partial file may remain; the caller
  // removes it. A `path` that exists fails with PosixError(path, EEXIST).
  // The POSIX Env allocates a synced file of 1 MiB or more with
  // fallocate(2) before writing it (not on btrfs, whose compression skips
  // allocated extents): a full disk fails before the copy, and ext4 then
  // has no delayed allocation to do.
  virtual Status WriteNewFile(const std::string& path, std::span<const ConstBytes> pieces,
                              bool sync) = 0;
  // Creates `path` as WriteNewFile does (never an existing file, never
  // through a symbolic link, mode 0600) and opens it for appending, so that
  // a file too large to hold in memory is written in pieces. On error the
  // partial file may remain; the caller removes it.
  virtual Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) = 0;
  // rename(2): atomically replaces `to`. The POSIX Env pins a replaced
  // regular file of 64 MiB or more (an O_PATH descriptor, which opens
  // nothing) and drops it on a background thread, which frees the file's
  // page cache and blocks without the caller waiting; the thread ends after
  // a second idle, and the next large write waits for it to finish.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // fsync of a directory, making a rename in it durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;
  // mkdir(2) with mode 0777 & ~umask; OK when `path` already is a directory.
  virtual Status CreateDir(const std::string& path) = 0;
  // The names in `dir` ("." and ".." left out), in no particular order.
  virtual Status ListDir(const std::string& dir, std::vector<std::string>* names) = 0;
  // The contents of the regular file `path`, which must hold at most
  // `max_bytes` bytes (else ResourceExhausted). Symlinks are not followed.
  virtual Status ReadFile(const std::string& path, uint64_t max_bytes, std::string* out) = 0;
  // Takes an exclusive lock on `path` (created with mode 0600 if missing)
  // without waiting, and records this process's pid in it. Busy when
  // another holder has it, naming the holder's pid when it is known. The
  // lock is an open-file-description lock: two holders in one process
  // exclude each other too.
  virtual Status TryLockFile(const std::string& path, std::unique_ptr<FileLock>* lock) = 0;

  // Opens `path` for reading in pieces (a symbolic link is followed): for
  // files too large to read whole, such as a JSON import. Opening a FIFO
  // waits for a writer, as open(2) does.
  virtual Status NewSequentialFile(const std::string& path,
                                   std::unique_ptr<SequentialFile>* file) = 0;
  // Maps the whole of `path` read-only (MAP_SHARED; a symbolic link is
  // followed), the way a snapshot is read without copying it. Only a
  // regular file is mapped: anything else is InvalidArgument(path, "is a
  // directory" or "not a regular file"), found without blocking on a FIFO
  // or device (it is opened non-blocking). An empty file gives a mapping of
  // size 0.
  virtual Status MapReadOnlyFile(const std::string& path,
                                 std::unique_ptr<ReadOnlyMapping>* mapping) = 0;
  // stat(2) of `path`, following symbolic links. NotFound when it does not
  // exist.
  virtual Status GetFileInfo(const std::string& path, FileInfo* info) = 0;

  // The process-wide POSIX Env. Never deleted.
  static Env* Default();
};

// An Env that forwards every call to `target`: derive from it and override
// only the calls to observe or fail.
class TRACKSTORE_EXPORT EnvWrapper : public Env {
 public:
  explicit EnvWrapper(Env* target = Env::Default()) : target_(target) {}
  Env* target() const { return target_; }

  Status WriteNewFile(const std::string& path, std::span<const ConstBytes> pieces,
                      bool sync) override {
    return target_->WriteNewFile(path, pieces, sync);
  }
  Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) override {
    return target_->NewWritableFile(path, file);
  }
  Status Rename(const std::string& from, const std::string& to) override {
    return target_->Rename(from, to);
  }
  Status SyncDir(const std::string& dir) override { return target_->SyncDir(dir); }
  Status RemoveFile(const std::string& path) override { return target_->RemoveFile(path); }
  Status CreateDir(const std::string& path) override { return target_->CreateDir(path); }
  Status ListDir(const std::string& dir, std::vector<std::string>* names) override {
    return target_->ListDir(dir, names);
  }
  Status ReadFile(const std::string& path, uint64_t max_bytes, std::string* out) override {
    return target_->ReadFile(path, max_bytes, out);
  }
  Status TryLockFile(const std::string& path, std::unique_ptr<FileLock>* lock) override {
    return target_->TryLockFile(path, lock);
  }
  Status NewSequentialFile(const std::string& path,
                           std::unique_ptr<SequentialFile>* file) override {
    return target_->NewSequentialFile(path, file);
  }
  Status MapReadOnlyFile(const std::string& path,
                         std::unique_ptr<ReadOnlyMapping>* mapping) override {
    return target_->MapReadOnlyFile(path, mapping);
  }
  Status GetFileInfo(const std::string& path, FileInfo* info) override {
    return target_->GetFileInfo(path, info);
  }

 private:
  Env* target_;
};

// Publishes `path` atomically: writes the pieces to a temporary file in the
// same directory, fdatasyncs it (when `sync`), renames it over `path` and
// fsyncs the directory. Readers see the old file or the new one, never a
// part. `env` may be null for Env::Default(). The temporary file is written
// with one Env::WriteNewFile; AtomicOutputFile below is the same publication
// for content produced piece by piece, and its rules apply here.
TRACKSTORE_EXPORT Status WriteFileAtomically(Env* env, const std::string& path,
                                             std::span<const ConstBytes> pieces, bool sync = true);

// A file published atomically once it is complete, for output too large to
// build in memory first: the bytes appended go to a temporary file in the
// same directory; Commit fdatasyncs it (when `sync`), renames it over `path`
// and fsyncs the directory. Destroyed without a successful Commit (an error,
// an early return), it removes the temporary file and `path` is untouched.
//
//   std::unique_ptr<AtomicOutputFile> out;
//   Status s = AtomicOutputFile::Open(env, path, /*sync=*/true, &out);
//   while (s.ok() && more) s = out->Append(next_piece);
//   if (s.ok()) s = out->Commit();
//
//  - A symbolic link at `path` is followed: the file it leads to is
//    replaced and the link stays (a dangling link's target is created).
//  - Only a regular file is replaced: a directory, FIFO, device or socket
//    at `path` (or at the link's target) is InvalidArgument naming it,
//    reported by Open.
//  - A replaced file keeps its permission bits (and its owner where the
//    process may keep it: as root); a new file gets 0666 & ~umask. The
//    temporary file is owner-only until it is complete.
//  - The temporary file is "<target>.tmp-<16 random hex digits>", created
//    with O_EXCL | O_NOFOLLOW; a name that exists is never touched, another
//    is tried.
//  - On failure before the rename, the temporary file is removed and `path`
//    is untouched. If only the final directory fsync fails, the new content
//    is already in place: the IOError says so ("the new content is in place,
//    but its durability is unconfirmed").
// After a failed Append or Commit the file is abandoned: later calls return
// an error and nothing is published. Not thread-safe.
class TRACKSTORE_EXPORT AtomicOutputFile {
 public:
  // Checks `path` and creates the temporary file. `env` may be null for
  // Env::Default().
  static Status Open(Env* env, const std::string& path, bool sync,
                     std::unique_ptr<AtomicOutputFile>* file);

  AtomicOutputFile(const AtomicOutputFile&) = delete;
  AtomicOutputFile& operator=(const AtomicOutputFile&) = delete;
  ~AtomicOutputFile();

  Status Append(std::span<const ConstBytes> pieces);
  Status Append(const void* data, size_t size) {
    const ConstBytes piece{data, size};
    return Append(std::span<const ConstBytes>(&piece, 1));
  }
  // Publishes what was appended. Errors name the `path` given to Open.
  Status Commit();

  // The temporary file's name (until Commit or abandonment removes it).
  const std::string& temp_path() const;

 private:
  struct Rep;
  explicit AtomicOutputFile(std::unique_ptr<Rep> rep);
  // Creates the temporary file with `create` (retried under new names).
  static Status Create(Env* env, const std::string& path, bool sync,
                       const std::function<Status(const std::string& tmp, Rep* rep)>& create,
                       std::unique_ptr<AtomicOutputFile>* file);
  void Abandon();
  friend Status WriteFileAtomically(Env*, const std::string&, std::span<const ConstBytes>, bool);

  std::unique_ptr<Rep> rep_;
};

// Maps an errno value to a Status naming `path` (ENOENT → NotFound,
// ENOSPC/EDQUOT/EFBIG → ResourceExhausted, else IOError).
TRACKSTORE_EXPORT Status PosixError(const std::string& path, int err);

}  // namespace trackstore

#endif  // TRACKSTORE_ENV_H_
