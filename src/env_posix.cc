// The POSIX Env: plain open/writev/fdatasync/rename/fsync, errno translated
// once per call with the path as context.
#include <errno.h>
#include <fcntl.h>
#include <sys/uio.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
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
};

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
