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

#include "fault_env.h"
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
