// benchmarks/peers/files.cc
#include "files.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cerrno>
#include <filesystem>
#include <system_error>

#include "trackstore/env.h"

namespace trackstore_bench {

using trackstore::PosixError;

Status ReadFile(const std::string& path, HeapFile* out) {
  const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError(path, errno);
  struct stat st;
  if (fstat(fd, &st) != 0) {
    const int err = errno;
    close(fd);
    return PosixError(path, err);
  }
  const size_t size = static_cast<size_t>(st.st_size);
  // new T[] without "()" does not zero: read() writes every byte once.
  out->words.reset(new uint64_t[(size + 7) / 8]);
  out->size = size;
  char* dst = reinterpret_cast<char*>(out->words.get());
  size_t done = 0;
  while (done < size) {
    const ssize_t n = read(fd, dst + done, size - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      const int err = n < 0 ? errno : EIO;  // 0: the file shrank under us
      close(fd);
      return PosixError(path, err);
    }
    done += static_cast<size_t>(n);
  }
  close(fd);
  return Status::OK();
}

void RemoveFiles(std::span<const std::string> paths) {
  for (const std::string& p : paths) unlink(p.c_str());
}

Status CopyFile(const std::string& from, const std::string& to) {
  std::error_code ec;
  std::filesystem::copy_file(from, to, std::filesystem::copy_options::overwrite_existing, ec);
  if (ec) return Status::IOError(from + " -> " + to, ec.message());
  const int fd = open(to.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError(to, errno);
  const int rc = fsync(fd);
  const int err = errno;
  close(fd);
  return rc == 0 ? Status::OK() : PosixError(to, err);
}

uint64_t FileBytes(std::span<const std::string> paths) {
  uint64_t total = 0;
  for (const std::string& p : paths) {
    struct stat st;
    if (stat(p.c_str(), &st) == 0) total += static_cast<uint64_t>(st.st_size);
  }
  return total;
}

Status SyncParentDir(const std::string& path) {
  const std::string dir = std::filesystem::path(path).parent_path().string();
  const int fd = open(dir.empty() ? "." : dir.c_str(), O_RDONLY | O_DIRECTORY | O_CLOEXEC);
  if (fd < 0) return PosixError(dir, errno);
  const int rc = fsync(fd);
  const int err = errno;
  close(fd);
  return rc == 0 ? Status::OK() : PosixError(dir, err);
}

}  // namespace trackstore_bench
