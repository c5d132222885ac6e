// tests/service_test_util.h: a fixture for tests of SnapshotService and
// CacheManager: a temporary store directory, a library file whose mtime the
// test sets, a clock the test moves, helpers to look at and damage the
// store's files, and an Env that fails a chosen file operation.
#ifndef TRACKSTORE_TESTS_SERVICE_TEST_UTIL_H_
#define TRACKSTORE_TESTS_SERVICE_TEST_UTIL_H_

#include <fcntl.h>
#include <sys/stat.h>

#include <algorithm>
#include <filesystem>
#include <map>
#include <string>
#include <string_view>
#include <vector>

#include "test_util.h"
#include "trackstore/clock.h"
#include "trackstore/env.h"
#include "trackstore/snapshot_service.h"

namespace trackstore::testing {

inline constexpr Micros kHour = 3600 * kMicrosPerSecond;
// 2023-11-14T22:13:20Z: an arbitrary fixed "now".
inline constexpr Micros kStartTime = 1'700'000'000 * kMicrosPerSecond;

// Sets the file's mtime to `t` (microseconds are kept exactly).
inline void SetMtime(const std::string& path, Micros t) {
  timespec times[2];
  times[0].tv_sec = 0;
  times[0].tv_nsec = UTIME_OMIT;
  times[1].tv_sec = t / kMicrosPerSecond;
  times[1].tv_nsec = (t % kMicrosPerSecond) * 1000;
  ASSERT_EQ(::utimensat(AT_FDCWD, path.c_str(), times, 0), 0) << path;
}

// Every file under `dir` (path relative to it) with its bytes, to prove
// that nothing was written. The writer's LOCK file is left out: taking the
// lock is not a write of the store's contents.
inline std::map<std::string, std::string> DirContents(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::recursive_directory_iterator(dir)) {
    if (!e.is_regular_file()) continue;
    const std::string rel = std::filesystem::relative(e.path(), dir).string();
    if (rel == "LOCK") continue;
    files[rel] = ReadFileBytes(e.path().string());
  }
  return files;
}

// The names in `dir`, sorted; none when it does not exist.
inline std::vector<std::string> FileNames(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

// Replaces the file's contents through a new inode, so that mappings of the
// old file stay intact (truncating a mapped file would fault its readers).
inline void ReplaceFileBytes(const std::string& path, const std::string& bytes) {
  const std::string tmp = path + ".replacing";
  WriteFileBytes(tmp, bytes);
  std::filesystem::rename(tmp, path);
}

// An Env that counts the file operations that change the file system
// (create and write, rename, remove, mkdir, directory sync, lock) and fails
// the `fail_at`-th of them (1-based; 0 fails none) with an injected
// IOError. A failed write leaves half of its bytes behind, as a full disk
// would.
class FaultEnv final : public EnvWrapper {
 public:
  int fail_at = 0;
  int ops = 0;                      // operations seen so far
  bool failed = false;              // the injected failure happened
  bool manifest_published = false;  // a manifest was renamed into manifests/

  // Starts counting again, to fail the `n`-th operation from now.
  void FailAt(int n) {
    fail_at = n;
    ops = 0;
    failed = false;
    manifest_published = false;
  }

  Status WriteNewFile(const std::string& path, std::span<const ConstBytes> pieces,
                      bool sync) override {
    if (Fails()) {
      size_t total = 0;
      for (const ConstBytes& p : pieces) total += p.size;
      std::string half;
      for (const ConstBytes& p : pieces) half.append(static_cast<const char*>(p.data), p.size);
      half.resize(total / 2);
      const ConstBytes piece{half.data(), half.size()};
      (void)EnvWrapper::WriteNewFile(path, {&piece, 1}, false);
      return Injected(path);
    }
    return EnvWrapper::WriteNewFile(path, pieces, sync);
  }
  Status Rename(const std::string& from, const std::string& to) override {
    if (Fails()) return Injected(to);
    Status s = EnvWrapper::Rename(from, to);
    if (s.ok() && to.find("/manifests/") != std::string::npos) manifest_published = true;
    return s;
  }
  Status SyncDir(const std::string& dir) override {
    return Fails() ? Injected(dir) : EnvWrapper::SyncDir(dir);
  }
  Status RemoveFile(const std::string& path) override {
    return Fails() ? Injected(path) : EnvWrapper::RemoveFile(path);
  }
  Status CreateDir(const std::string& path) override {
    return Fails() ? Injected(path) : EnvWrapper::CreateDir(path);
  }
  Status TryLockFile(const std::string& path, std::unique_ptr<FileLock>* lock) override {
    return Fails() ? Injected(path) : EnvWrapper::TryLockFile(path, lock);
  }

 private:
  bool Fails() {
    if (++ops != fail_at) return false;
    failed = true;
    return true;
  }
  static Status Injected(const std::string& path) {
    return Status::IOError(path, "injected failure");
  }
};

class ServiceTest : public ::testing::Test {
 protected:
  ServiceTest() {
    std::filesystem::create_directory(service_dir());
    WriteFileBytes(library(), "<library/>");
    SetMtime(library(), kStartTime - kHour);
  }

  std::string service_dir() const { return tmp_.file("svc"); }
  std::string library() const { return tmp_.file("Library.musiclibrary"); }
  // A path inside the store directory, such as "fragments" or "tmp".
  std::string file(std::string_view name) const { return service_dir() + "/" + std::string(name); }

  // The paths of the store's manifests, oldest first.
  std::vector<std::string> Manifests() const {
    std::vector<std::string> paths;
    for (const std::string& name : FileNames(file("manifests"))) {
      paths.push_back(file("manifests/" + name));
    }
    return paths;
  }
  // The paths of the store's fragment files.
  std::vector<std::string> Fragments() const {
    std::vector<std::string> paths;
    for (const std::string& name : FileNames(file("fragments"))) {
      paths.push_back(file("fragments/" + name));
    }
    return paths;
  }

  // Options over the fixture's directory, library and clock.
  ServiceOptions Options() {
    ServiceOptions o;
    o.directory = service_dir();
    o.library_path = library();
    o.clock = [this] { return now_; };
    return o;
  }

  TempDir tmp_;
  Micros now_ = kStartTime;
};

}  // namespace trackstore::testing

#endif  // TRACKSTORE_TESTS_SERVICE_TEST_UTIL_H_
