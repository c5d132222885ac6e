// The POSIX Env: plain open/writev/fdatasync/rename/fsync, errno translated
// once per call with the path as context.
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <cstdlib>
#include <cstring>
#include <string>
#include <vector>

#include "trackstore/env.h"

namespace trackstore {

Status PosixError(const std::string& path, int err) {
  const char* text = std::strerror(err);
  if (err == ENOENT) return Status::NotFound(path, text);
  if (err == ENOSPC || err == EDQUOT || err == EFBIG) return Status::ResourceExhausted(path, text);
  return Status::IOError(path, text);
}

namespace {

// Writes every piece, retrying short writes and EINTR. writev takes at most
// IOV_MAX pieces and the kernel caps one call near 2 GiB, so loop.
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

class PosixEnv final : public Env {
 public:
  Status WriteNewFile(const std::string& path, std::span<const ConstBytes> pieces,
                      bool sync) override {
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
    if (fd < 0) return PosixError(path, errno);
    Status s = WriteAll(fd, path, pieces);
    if (s.ok() && sync && ::fdatasync(fd) != 0) s = PosixError(path, errno);
    if (::close(fd) != 0 && s.ok()) s = PosixError(path, errno);
    return s;
  }

  Status Rename(const std::string& from, const std::string& to) override {
    if (::rename(from.c_str(), to.c_str()) != 0) return PosixError(to, errno);
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

Env* Env::Default() {
  static PosixEnv* env = new PosixEnv;  // never deleted: usable from static destructors
  return env;
}

Status WriteFileAtomically(Env* env, const std::string& path, std::span<const ConstBytes> pieces,
                           bool sync) {
  if (env == nullptr) env = Env::Default();
  // Unique within the process (counter) and across processes (pid), in the
  // target's directory so that rename(2) stays on one filesystem.
  static std::atomic<uint64_t> counter{0};
  const std::string tmp =
      path + "." + std::to_string(::getpid()) + "." + std::to_string(counter.fetch_add(1)) + ".tmp";
  Status s = env->WriteNewFile(tmp, pieces, sync);
  if (s.ok()) s = env->Rename(tmp, path);
  if (s.ok() && sync) s = env->SyncDir(DirName(path));
  if (!s.ok()) (void)env->RemoveFile(tmp);  // never leave a half file; ENOENT after rename is fine
  return s;
}

}  // namespace trackstore
