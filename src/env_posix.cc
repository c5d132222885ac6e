// The POSIX Env: plain open/read/mmap/stat/writev/fdatasync/rename/fsync,
// errno translated once per call with the path as context.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <sys/vfs.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <deque>
#include <mutex>
#include <optional>
#include <random>
#include <string>
#include <system_error>
#include <thread>
#include <utility>
#include <vector>

#include "file_util.h"
#include "trackstore/env.h"
#include "trackstore/result.h"

namespace trackstore {

Status PosixError(const std::string& path, int err) {
  const char* text = std::strerror(err);
  if (err == ENOENT) return Status::NotFound(path, text);
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) return Status::ResourceExhausted(path, text);
  return Status::IOError(path, text);
}

namespace internal {

// writev takes at most IOV_MAX pieces and the kernel caps one call near
// 2 GiB, so loop.
Status WriteAll(int fd, const std::string& path, std::span<const ConstBytes> pieces) {
  std::vector<iovec> iov;
  iov.reserve(pieces.size());
  for (const ConstBytes& p : pieces) {
    if (p.size > 0) iov.push_back({const_cast<void*>(p.data), p.size});
  }
  size_t next = 0;
  while (next < iov.size()) {
    const int n = static_cast<int>(std::min<size_t>(iov.size() - next, IOV_MAX));
    const ssize_t written = ::writev(fd, iov.data() + next, n);
    if (written < 0) {
      if (errno == EINTR) continue;
      return PosixError(path, errno);
    }
    size_t left = static_cast<size_t>(written);
    while (next < iov.size() && left >= iov[next].iov_len) left -= iov[next++].iov_len;
    if (left > 0) {
      iov[next].iov_base = static_cast<char*>(iov[next].iov_base) + left;
      iov[next].iov_len -= left;
    }
  }
  return Status::OK();
}

}  // namespace internal

namespace {

FileInfo InfoOf(const struct stat& st) {
  FileInfo info;
  info.kind = S_ISREG(st.st_mode)   ? FileInfo::Kind::kRegular
              : S_ISDIR(st.st_mode) ? FileInfo::Kind::kDirectory
                                    : FileInfo::Kind::kOther;
  info.size = static_cast<uint64_t>(st.st_size);
  info.mtime_seconds = static_cast<int64_t>(st.st_mtim.tv_sec);
  info.mtime_nanos = static_cast<int64_t>(st.st_mtim.tv_nsec);
  info.device = static_cast<uint64_t>(st.st_dev);
  info.inode = static_cast<uint64_t>(st.st_ino);
  return info;
}

class PosixSequentialFile final : public SequentialFile {
 public:
  PosixSequentialFile(std::string path, int fd, bool owns_fd)
      : path_(std::move(path)), fd_(fd), owns_fd_(owns_fd) {}
  ~PosixSequentialFile() override {
    if (owns_fd_) ::close(fd_);
  }

  Status Read(char* out, size_t size, size_t* got) override {
    *got = 0;
    for (;;) {
      const ssize_t n = ::read(fd_, out, size);
      if (n < 0 && errno == EINTR) continue;
      if (n < 0) return PosixError(path_, errno);
      *got = static_cast<size_t>(n);
      return Status::OK();
    }
  }
  Status Skip(uint64_t n) override {
    if (::lseek(fd_, static_cast<off_t>(n), SEEK_CUR) < 0) return PosixError(path_, errno);
    return Status::OK();
  }
  Status GetInfo(FileInfo* info) override {
    struct stat st;
    if (::fstat(fd_, &st) != 0) return PosixError(path_, errno);
    *info = InfoOf(st);
    return Status::OK();
  }
  bool WaitReadable(int timeout_ms) override {
    struct pollfd p = {fd_, POLLIN, 0};
    const int r = ::poll(&p, 1, timeout_ms);
    return r > 0 || (r < 0 && errno != EINTR);  // an error: let Read report it
  }

 private:
  const std::string path_;
  const int fd_;
  const bool owns_fd_;
};

class PosixReadOnlyMapping final : public ReadOnlyMapping {
 public:
  PosixReadOnlyMapping(const uint8_t* data, size_t size) : data_(data), size_(size) {}
  ~PosixReadOnlyMapping() override {
    if (data_ != nullptr) ::munmap(const_cast<uint8_t*>(data_), size_);
  }
  const uint8_t* data() const override { return data_; }
  size_t size() const override { return size_; }

 private:
  const uint8_t* const data_;
  const size_t size_;
};

class PosixWritableFile final : public WritableFile {
 public:
  PosixWritableFile(std::string path, int fd) : path_(std::move(path)), fd_(fd) {}
  ~PosixWritableFile() override {
    if (fd_ >= 0) ::close(fd_);
  }

  Status Append(std::span<const ConstBytes> pieces) override {
    if (fd_ < 0) return Status::IOError(path_, "append after close");
    return internal::WriteAll(fd_, path_, pieces);
  }
  // Allocates the file's first `bytes` bytes on disk before they are
  // written, for a file that is synced before it is published: a full disk
  // is then an error before anything is copied, and ext4 has no delayed
  // allocation to do. Only then: an unsynced file allocated ahead could come
  // back from a crash at full size with zeroed ranges instead of short. Not
  // on btrfs, which does not compress data written into allocated extents.
  // Anything but a full disk means "not supported" and is ignored.
  Status Reserve(uint64_t bytes) {
    if (bytes == 0 || bytes > static_cast<uint64_t>(INT64_MAX)) return Status::OK();
    struct statfs fs;
    constexpr int64_t kBtrfsMagic = 0x9123683E;
    if (::fstatfs(fd_, &fs) == 0 && static_cast<int64_t>(fs.f_type) == kBtrfsMagic) {
      return Status::OK();
    }
    int rc;
    do {
      rc = ::fallocate(fd_, 0, 0, static_cast<off_t>(bytes));
    } while (rc != 0 && errno == EINTR);
    if (rc == 0) return Status::OK();
    const int err = errno;
    if (err == ENOSPC || err == EDQUOT || err == EFBIG) return PosixError(path_, err);
    return Status::OK();
  }
  Status Sync() override {
    if (fd_ < 0) return Status::IOError(path_, "sync after close");
    if (::fdatasync(fd_) != 0) return PosixError(path_, errno);
    return Status::OK();
  }
  Status Close() override {
    if (fd_ < 0) return Status::OK();
    const int fd = std::exchange(fd_, -1);
    if (::close(fd) != 0) return PosixError(path_, errno);
    return Status::OK();
  }

 private:
  const std::string path_;
  int fd_;
};

// Closes file descriptors on a thread of its own. Dropping the last
// reference to a large file that a rename replaced frees its page cache and
// its blocks, which takes about as long as writing it did (about 50-100 ms
// for 256 MiB); the caller of the rename need not wait for that.
//
// The thread starts on demand and ends after a second with nothing to do,
// so an idle process has no extra thread (Python warns when a process with
// threads forks). A fork is safe at any time: the child closes the
// inherited queued descriptors and then closes every descriptor itself.
class BackgroundCloser {
 public:
  // Smaller files are closed by the caller: their release is cheap.
  static constexpr uint64_t kMinBytes = uint64_t{64} << 20;
  // More waiting than this and the caller closes it (back-pressure).
  static constexpr size_t kMaxWaiting = 8;

  static BackgroundCloser& Instance() {
    // Never deleted: its thread may still run while the process exits.
    static BackgroundCloser* closer = [] {
      auto* c = new BackgroundCloser;
      ::pthread_atfork([] { Instance().mu_.lock(); }, [] { Instance().mu_.unlock(); },
                       [] { Instance().AfterForkInChild(); });
      return c;
    }();
    return *closer;
  }

  // Closes `fd` now or soon, on the closer's thread.
  void Close(int fd) {
    {
      std::lock_guard<std::mutex> l(mu_);
      if (!forked_child_ && waiting_.size() < kMaxWaiting && (running_ || Start())) {
        try {
          waiting_.push_back(fd);
          cv_.notify_all();
          return;
        } catch (const std::bad_alloc&) {
        }
      }
    }
    ::close(fd);
  }

  // Returns once every descriptor given to Close is closed.
  void WaitIdle() {
    std::unique_lock<std::mutex> l(mu_);
    idle_.wait(l, [&] { return waiting_.empty() && closing_ < 0; });
  }

 private:
  // Requires mu_.
  bool Start() {
    // The thread takes no signals: they stay with the application's threads.
    sigset_t all, old;
    sigfillset(&all);
    pthread_sigmask(SIG_SETMASK, &all, &old);
    bool started = true;
    try {
      std::thread([this] { Loop(); }).detach();
    } catch (const std::system_error&) {
      started = false;
    }
    pthread_sigmask(SIG_SETMASK, &old, nullptr);
    running_ = started;
    return started;
  }

  void Loop() {
    std::unique_lock<std::mutex> l(mu_);
    for (;;) {
      if (!cv_.wait_for(l, std::chrono::seconds(1), [&] { return !waiting_.empty(); })) {
        running_ = false;  // a second idle: the next Close starts a new thread
        return;
      }
      const int fd = waiting_.front();
      waiting_.pop_front();
      closing_ = fd;
      l.unlock();
      ::close(fd);
      l.lock();
      closing_ = -1;
      if (waiting_.empty()) idle_.notify_all();
    }
  }

  // In a forked child (mu_ held by the forking thread since the prepare
  // handler): no closer thread runs here, the queued descriptors are the
  // child's copies, which nothing else would close, and from now on the
  // child closes every descriptor itself.
  void AfterForkInChild() {
    for (const int fd : waiting_) ::close(fd);
    if (closing_ >= 0) ::close(closing_);
    waiting_.clear();
    running_ = false;
    closing_ = -1;
    // The condition variables may still count the parent thread's waits, so
    // waking them here could block forever: this process closes inline.
    forked_child_ = true;
    mu_.unlock();
  }

  std::mutex mu_;
  std::condition_variable cv_;    // work waiting
  std::condition_variable idle_;  // the queue drained
  std::deque<int> waiting_;       // guarded by mu_
  bool running_ = false;          // a thread runs Loop; guarded by mu_
  int closing_ = -1;              // the one it is closing; guarded by mu_
  bool forked_child_ = false;     // closes inline (AfterForkInChild); guarded by mu_
};

class PosixEnv final : public Env {
 public:
  // Files written whole and synced of at least this size are allocated
  // before they are written (PosixWritableFile::Reserve).
  static constexpr uint64_t kReserveFromBytes = uint64_t{1} << 20;

  Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) override {
    // Owner-only until AtomicOutputFile gives it its final mode: bytes meant
    // for a 0600 file are never readable by others, even briefly.
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC,
                          S_IRUSR | S_IWUSR);
    if (fd < 0) return PosixError(path, errno);
    *file = std::make_unique<PosixWritableFile>(path, fd);
    return Status::OK();
  }

  Status WriteNewFile(const std::string& path, std::span<const ConstBytes> pieces,
                      bool sync) override {
    std::unique_ptr<WritableFile> file;
    Status s = NewWritableFile(path, &file);
    if (!s.ok()) return s;
    uint64_t total = 0;
    for (const ConstBytes& p : pieces) total += p.size;
    // A large file waits for the release of files replaced before: their
    // blocks count against a nearly full disk until they are closed.
    if (total >= BackgroundCloser::kMinBytes) BackgroundCloser::Instance().WaitIdle();
    if (sync && total >= kReserveFromBytes) {
      s = static_cast<PosixWritableFile*>(file.get())->Reserve(total);
    }
    if (s.ok()) s = file->Append(pieces);
    if (s.ok() && sync) s = file->Sync();
    if (Status c = file->Close(); s.ok()) s = c;
    return s;
  }

  Status Rename(const std::string& from, const std::string& to) override {
    // A large file about to be replaced is held across the rename, so that
    // the background closer, not this thread, frees it. An O_PATH
    // descriptor pins the file without opening it: no read permission
    // needed, no device or FIFO opened, no lock of the caller's dropped.
    int replaced = -1;
    struct stat st;
    if (::fstatat(AT_FDCWD, to.c_str(), &st, AT_SYMLINK_NOFOLLOW) == 0 && S_ISREG(st.st_mode) &&
        static_cast<uint64_t>(st.st_blocks) * 512 >= BackgroundCloser::kMinBytes) {
      replaced = ::open(to.c_str(), O_PATH | O_NOFOLLOW | O_CLOEXEC);
    }
    if (::rename(from.c_str(), to.c_str()) != 0) {
      const int err = errno;
      if (replaced >= 0) ::close(replaced);
      return PosixError(to, err);
    }
    if (replaced >= 0) BackgroundCloser::Instance().Close(replaced);
    return Status::OK();
  }

  Status SyncDir(const std::string& dir) override {
    const int fd = ::open(dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (fd < 0) return PosixError(dir, errno);
    Status s;
    if (::fsync(fd) != 0) s = PosixError(dir, errno);
    ::close(fd);
    return s;
  }

  Status RemoveFile(const std::string& path) override {
    if (::unlink(path.c_str()) != 0) return PosixError(path, errno);
    return Status::OK();
  }

  Status CreateDir(const std::string& path) override {
    if (::mkdir(path.c_str(), 0777) == 0) return Status::OK();
    const int err = errno;
    struct stat st;
    if (err == EEXIST && ::lstat(path.c_str(), &st) == 0 && S_ISDIR(st.st_mode)) {
      return Status::OK();
    }
    if (err == EEXIST) return Status::IOError(path, "exists and is not a directory");
    return PosixError(path, err);
  }

  Status ListDir(const std::string& dir, std::vector<std::string>* names) override {
    names->clear();
    DIR* d = ::opendir(dir.c_str());
    if (d == nullptr) return PosixError(dir, errno);
    errno = 0;
    while (const dirent* e = ::readdir(d)) {
      const std::string_view name = e->d_name;
      if (name != "." && name != "..") names->emplace_back(name);
    }
    const int err = errno;
    ::closedir(d);
    if (err != 0) return PosixError(dir, err);
    return Status::OK();
  }

  Status ReadFile(const std::string& path, uint64_t max_bytes, std::string* out) override {
    out->clear();
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NOFOLLOW | O_NONBLOCK);
    if (fd < 0) return PosixError(path, errno);
    Status s;
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      s = PosixError(path, errno);
    } else if (!S_ISREG(st.st_mode)) {
      s = Status::IOError(path, "not a regular file");
    } else if (static_cast<uint64_t>(st.st_size) > max_bytes) {
      s = Status::ResourceExhausted(path, std::to_string(st.st_size) + " bytes, more than the " +
                                              std::to_string(max_bytes) + " expected");
    } else {
      out->resize(static_cast<size_t>(st.st_size));
      size_t done = 0;
      while (s.ok() && done < out->size()) {
        const ssize_t n = ::read(fd, out->data() + done, out->size() - done);
        if (n < 0 && errno == EINTR) continue;
        if (n < 0) s = PosixError(path, errno);
        if (n == 0) out->resize(done);  // shrank under us: what was read
        if (n <= 0) break;
        done += static_cast<size_t>(n);
      }
    }
    ::close(fd);
    return s;
  }

  Status TryLockFile(const std::string& path, std::unique_ptr<FileLock>* lock) override;

  Status NewSequentialFile(const std::string& path,
                           std::unique_ptr<SequentialFile>* file) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return PosixError(path, errno);
    *file = std::make_unique<PosixSequentialFile>(path, fd, /*owns_fd=*/true);
    return Status::OK();
  }

  // One open, fstat and mmap: opening a snapshot costs microseconds.
  Status MapReadOnlyFile(const std::string& path,
                         std::unique_ptr<ReadOnlyMapping>* mapping) override {
    const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
    if (fd < 0) return PosixError(path, errno);
    struct stat st;
    if (::fstat(fd, &st) != 0) {
      const int err = errno;
      ::close(fd);
      return PosixError(path, err);
    }
    if (!S_ISREG(st.st_mode)) {
      ::close(fd);
      return Status::InvalidArgument(path,
                                     S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
    }
    const size_t size = static_cast<size_t>(st.st_size);
    const uint8_t* data = nullptr;
    if (size > 0) {
      void* p = ::mmap(nullptr, size, PROT_READ, MAP_SHARED, fd, 0);
      if (p == MAP_FAILED) {
        const int err = errno;
        ::close(fd);
        return PosixError(path, err);
      }
      data = static_cast<const uint8_t*>(p);
    }
    ::close(fd);  // the mapping keeps the file alive
    *mapping = std::make_unique<PosixReadOnlyMapping>(data, size);
    return Status::OK();
  }

  Status GetFileInfo(const std::string& path, FileInfo* info) override {
    struct stat st;
    if (::stat(path.c_str(), &st) != 0) return PosixError(path, errno);
    *info = InfoOf(st);
    return Status::OK();
  }
};

class PosixFileLock final : public FileLock {
 public:
  explicit PosixFileLock(int fd) : fd_(fd) {}
  ~PosixFileLock() override { ::close(fd_); }  // closing the description releases the lock

 private:
  int fd_;
};

// An OFD lock (not a classic POSIX record lock): it belongs to the open file
// description, so a second open in the same process conflicts as it should,
// and closing some other descriptor of the file does not drop it. OFD locks
// do not report the holder's pid, so the holder writes it into the file.
Status PosixEnv::TryLockFile(const std::string& path, std::unique_ptr<FileLock>* lock) {
  const int fd = ::open(path.c_str(), O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW, 0600);
  if (fd < 0) return PosixError(path, errno);
  struct flock fl = {};
  fl.l_type = F_WRLCK;
  fl.l_whence = SEEK_SET;
  if (::fcntl(fd, F_OFD_SETLK, &fl) != 0) {
    const int err = errno;
    if (err != EAGAIN && err != EACCES) {
      ::close(fd);
      return PosixError(path, err);
    }
    char buf[32] = {};
    const ssize_t n = ::pread(fd, buf, sizeof(buf) - 1, 0);
    ::close(fd);
    const long pid = n > 0 ? std::strtol(buf, nullptr, 10) : 0;
    return Status::Busy(path, pid > 0 ? "held by process " + std::to_string(pid)
                                      : std::string("held by another process"));
  }
  const std::string pid = std::to_string(::getpid()) + "\n";
  if (::ftruncate(fd, 0) != 0 || ::pwrite(fd, pid.data(), pid.size(), 0) < 0) {
    const int err = errno;
    ::close(fd);
    return PosixError(path, err);
  }
  *lock = std::make_unique<PosixFileLock>(fd);
  return Status::OK();
}

std::string DirName(const std::string& path) {
  const size_t slash = path.find_last_of('/');
  if (slash == std::string::npos) return ".";
  if (slash == 0) return "/";
  return path.substr(0, slash);
}

}  // namespace

std::unique_ptr<SequentialFile> internal::SequentialFileOnDescriptor(int fd, std::string name) {
  return std::make_unique<PosixSequentialFile>(std::move(name), fd, /*owns_fd=*/false);
}

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv;  // never deleted: usable from static destructors
  return env;
}

namespace {

// What a write to `path` replaces: `path` itself, or the file that the
// symbolic link(s) at `path` lead to, resolved as open(2) would (at most 40
// links; a relative target is relative to the link's directory). The links
// stay; a dangling link's target is created.
Result<std::string> ResolveOutputPath(const std::string& path) {
  std::string p = path;
  for (int links = 0; links < 40; ++links) {
    struct stat st;
    if (::lstat(p.c_str(), &st) != 0) {
      if (errno == ENOENT) return p;  // a new file; a missing directory fails later
      return PosixError(p, errno);
    }
    if (!S_ISLNK(st.st_mode)) return p;
    std::string target(static_cast<size_t>(st.st_size) + 256, '\0');
    const ssize_t n = ::readlink(p.c_str(), target.data(), target.size());
    if (n < 0) return PosixError(p, errno);
    if (static_cast<size_t>(n) == target.size()) return PosixError(p, ENAMETOOLONG);  // grew
    target.resize(static_cast<size_t>(n));
    p = target.starts_with('/') ? target : DirName(p) + "/" + target;
  }
  return PosixError(path, ELOOP);
}

const char* FileTypeName(mode_t mode) {
  if (S_ISDIR(mode)) return "a directory";
  if (S_ISFIFO(mode)) return "a FIFO";
  if (S_ISCHR(mode)) return "a character device";
  if (S_ISBLK(mode)) return "a block device";
  if (S_ISSOCK(mode)) return "a socket";
  return "not a regular file";
}

// The file at `target` if there is one. Only a regular file may be
// replaced: renaming over a device, a FIFO or a socket would swap a special
// file for a regular one (as root, /dev/null), and a directory cannot be.
Result<std::optional<struct stat>> ExistingOutput(const std::string& path,
                                                  const std::string& target) {
  struct stat st;
  if (::stat(target.c_str(), &st) != 0) {
    if (errno == ENOENT) return std::optional<struct stat>();
    return PosixError(target, errno);
  }
  if (S_ISREG(st.st_mode)) return std::optional<struct stat>(st);
  std::string what = path == target ? path : path + " -> " + target;
  return Status::InvalidArgument(what, std::string("is ") + FileTypeName(st.st_mode) +
                                           ", not a regular file; refusing to replace it");
}

// The process umask. /proc tells it without changing it; umask(2) can only
// read it by setting it, which races with other threads creating files.
mode_t CurrentUmask() {
  if (FILE* f = std::fopen("/proc/self/status", "re")) {
    char line[256];
    unsigned mask = 0;
    bool found = false;
    while (!found && std::fgets(line, sizeof(line), f) != nullptr) {
      found = std::sscanf(line, "Umask: %o", &mask) == 1;
    }
    std::fclose(f);
    if (found) return static_cast<mode_t>(mask);
  }
  const mode_t mask = ::umask(022);
  ::umask(mask);
  return mask;
}

// Gives the finished temporary file the mode (and, where permitted, the
// owner) of the file it replaces, or 0666 & ~umask for a new file.
Status SetFinalMode(const std::string& tmp, const std::optional<struct stat>& existing) {
  const int fd = ::open(tmp.c_str(), O_RDONLY | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
  if (fd < 0) return PosixError(tmp, errno);
  Status s;
  if (existing && (existing->st_uid != ::geteuid() || existing->st_gid != ::getegid())) {
    // Keeps another user's file theirs when we may (root; or a group we are
    // in). Where we may not, the new file is ours, as after an editor's
    // save: not an error.
    if (::fchown(fd, existing->st_uid, existing->st_gid) != 0) {
    }
  }
  // After fchown, which clears set-id bits.
  const mode_t mode = existing ? (existing->st_mode & 07777) : (0666 & ~CurrentUmask());
  if (::fchmod(fd, mode) != 0) s = PosixError(tmp, errno);
  ::close(fd);
  return s;
}

// 16 random hex digits: a temporary name no other writer (a reused pid, a
// restarted container) can predict or collide with.
std::string RandomHex() {
  uint64_t r = 0;
  if (::getrandom(&r, sizeof(r), 0) != static_cast<ssize_t>(sizeof(r))) {
    r = (uint64_t{std::random_device()()} << 32) ^ std::random_device()();
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(r));
  return hex;
}

// When this process started, in clock ticks after boot (/proc/PID/stat,
// field 22), or 0 when unknown: with the pid it names a process for good,
// where a pid alone is reused.
uint64_t ProcessStartTime(pid_t pid) {
  char path[64];
  std::snprintf(path, sizeof(path), "/proc/%d/stat", static_cast<int>(pid));
  const int fd = ::open(path, O_RDONLY | O_CLOEXEC);
  if (fd < 0) return 0;
  char buf[1024];
  const ssize_t n = ::read(fd, buf, sizeof(buf) - 1);
  ::close(fd);
  if (n <= 0) return 0;
  buf[n] = '\0';
  // The command name (field 2) is in parentheses and may hold blanks and
  // parentheses itself: count fields after its last ')'.
  const char* p = std::strrchr(buf, ')');
  if (p == nullptr) return 0;
  for (int field = 2; field < 22 && p != nullptr; ++field) p = std::strchr(p + 1, ' ');
  return p != nullptr ? std::strtoull(p + 1, nullptr, 10) : 0;
}

// The temporary name of one writer: "<target>.tmp-<pid>-<start>-<random>".
std::string TempSuffix() {
  static const pid_t pid = ::getpid();
  const pid_t now = ::getpid();  // after a fork, the child's own
  static uint64_t start = ProcessStartTime(pid);
  const uint64_t my_start = now == pid ? start : ProcessStartTime(now);
  return ".tmp-" + std::to_string(now) + "-" + std::to_string(my_start) + "-" +
         RandomHex().substr(0, 8);
}

// Temporary files of `target` that writers which died left behind (killed,
// or the machine stopped) are removed: those named by a process that is
// gone (its pid unused, or used by a process that started at another
// time), untouched for kStaleAfterSeconds, and owned by this user. The
// age guards against a live writer in another pid namespace, whose pid
// means nothing here. Best effort: what cannot be removed stays.
void RemoveStaleTemporaries(const std::string& target) {
  constexpr time_t kStaleAfterSeconds = 600;
  const size_t slash = target.rfind('/');
  const std::string dir = slash == std::string::npos ? "." : target.substr(0, slash + 1);
  const std::string prefix =
      (slash == std::string::npos ? target : target.substr(slash + 1)) + ".tmp-";
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  const time_t now = ::time(nullptr);
  while (struct dirent* e = ::readdir(d)) {
    const std::string_view name(e->d_name);
    if (!name.starts_with(prefix)) continue;
    unsigned long long pid = 0, start = 0;
    int used = 0;
    const std::string rest(name.substr(prefix.size()));
    if (std::sscanf(rest.c_str(), "%llu-%llu-%*x%n", &pid, &start, &used) != 2 ||
        static_cast<size_t>(used) != rest.size() || pid == 0 || pid > INT32_MAX) {
      continue;  // not a name this code makes
    }
    const bool alive = ::kill(static_cast<pid_t>(pid), 0) == 0 || errno == EPERM;
    if (alive && ProcessStartTime(static_cast<pid_t>(pid)) == start) continue;
    struct stat st;
    const std::string path = dir + std::string(name);
    if (::fstatat(::dirfd(d), e->d_name, &st, AT_SYMLINK_NOFOLLOW) != 0) continue;
    if (!S_ISREG(st.st_mode) || st.st_uid != ::geteuid()) continue;
    if (now - st.st_mtime < kStaleAfterSeconds) continue;
    (void)::unlinkat(::dirfd(d), e->d_name, 0);
  }
  ::closedir(d);
}

bool IsAlreadyExists(const Status& s) {
  return s.IsIOError() && s.message().ends_with(std::strerror(EEXIST));
}

}  // namespace

// What Open found out about the output, and the temporary file.
struct TRACKSTORE_HIDDEN AtomicOutputFile::Rep {
  Env* env = nullptr;
  std::string path;    // as given, for messages
  std::string target;  // `path` with its symbolic links followed
  std::optional<struct stat> existing;
  bool sync = true;
  std::string tmp;
  std::unique_ptr<WritableFile> file;  // null once closed, or when written in one call
  bool tmp_exists = false;             // ours to remove if not published
  Status failed;                       // the error that abandoned the file
};

AtomicOutputFile::AtomicOutputFile(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}

AtomicOutputFile::~AtomicOutputFile() { Abandon(); }

const std::string& AtomicOutputFile::temp_path() const { return rep_->tmp; }

// Closes and removes the temporary file: nothing of it is ever published.
void AtomicOutputFile::Abandon() {
  if (rep_->file != nullptr) (void)rep_->file->Close();
  rep_->file.reset();
  if (rep_->tmp_exists) (void)rep_->env->RemoveFile(rep_->tmp);
  rep_->tmp_exists = false;
}

Status AtomicOutputFile::Create(
    Env* env, const std::string& path, bool sync,
    const std::function<Status(const std::string& tmp, Rep* rep)>& create,
    std::unique_ptr<AtomicOutputFile>* file) {
  auto rep = std::make_unique<Rep>();
  rep->env = env != nullptr ? env : Env::Default();
  rep->path = path;
  rep->sync = sync;
  Result<std::string> target = ResolveOutputPath(path);
  if (!target.ok()) return target.status();
  rep->target = *target;
  Result<std::optional<struct stat>> existing = ExistingOutput(path, rep->target);
  if (!existing.ok()) return existing.status();
  rep->existing = *existing;

  // In the target's directory, so that rename(2) stays on one filesystem.
  // A taken name (another writer's, or planted) is never opened: O_EXCL,
  // and a new random name is tried.
  constexpr int kAttempts = 16;
  Status s;
  RemoveStaleTemporaries(rep->target);
  for (int attempt = 0; attempt < kAttempts; ++attempt) {
    rep->tmp = rep->target + TempSuffix();
    s = create(rep->tmp, rep.get());
    if (!IsAlreadyExists(s)) break;
  }
  if (IsAlreadyExists(s)) return s;  // the name is someone else's file: leave it
  rep->tmp_exists = true;            // possibly partly written: removed unless published
  file->reset(new AtomicOutputFile(std::move(rep)));
  if (!s.ok()) file->reset();  // its destructor removes what was written
  return s;
}

Status AtomicOutputFile::Open(Env* env, const std::string& path, bool sync,
                              std::unique_ptr<AtomicOutputFile>* file) {
  return Create(
      env, path, sync,
      [](const std::string& tmp, Rep* rep) { return rep->env->NewWritableFile(tmp, &rep->file); },
      file);
}

Status AtomicOutputFile::Append(std::span<const ConstBytes> pieces) {
  if (!rep_->failed.ok()) return rep_->failed;
  if (rep_->file == nullptr) return Status::InvalidArgument(rep_->path, "append after commit");
  Status s = rep_->file->Append(pieces);
  if (!s.ok()) {
    rep_->failed = s;
    Abandon();
  }
  return s;
}

Status AtomicOutputFile::Commit() {
  Rep& r = *rep_;
  if (!r.failed.ok()) return r.failed;
  if (!r.tmp_exists) return Status::InvalidArgument(r.path, "already committed");
  Status s;
  if (r.file != nullptr) {
    if (r.sync) s = r.file->Sync();
    if (Status c = r.file->Close(); s.ok()) s = c;
    r.file.reset();
  }
  if (s.ok()) s = SetFinalMode(r.tmp, r.existing);
  if (s.ok()) s = r.env->Rename(r.tmp, r.target);
  if (!s.ok()) {
    r.failed = s;
    Abandon();  // never leave a half file
    return s;
  }
  r.tmp_exists = false;
  if (r.sync) {
    if (Status d = r.env->SyncDir(DirName(r.target)); !d.ok()) {
      // The rename happened: saying "failed" would suggest the old file is
      // still there.
      return Status::IOError(
          r.path, "the new content is in place, but its durability is unconfirmed (" + d.message() +
                      "); a machine crash now may bring back the old file");
    }
  }
  return Status::OK();
}

// The whole content in one Env::WriteNewFile, which the fault-injecting Envs
// of the snapshot and store tests observe.
Status WriteFileAtomically(Env* env, const std::string& path, std::span<const ConstBytes> pieces,
                           bool sync) {
  std::unique_ptr<AtomicOutputFile> file;
  Status s = AtomicOutputFile::Create(
      env, path, sync,
      [&](const std::string& tmp, AtomicOutputFile::Rep* rep) {
        return rep->env->WriteNewFile(tmp, pieces, rep->sync);
      },
      &file);
  if (!s.ok()) return s;
  return file->Commit();
}

}  // namespace trackstore
