// tests/service_test_util.h: a fixture for tests of SnapshotService and
// CacheManager: a temporary service directory, a library file whose mtime
// the test sets, and a clock the test moves.
#ifndef TRACKSTORE_TESTS_SERVICE_TEST_UTIL_H_
#define TRACKSTORE_TESTS_SERVICE_TEST_UTIL_H_

#include <fcntl.h>
#include <sys/stat.h>

#include <filesystem>
#include <map>
#include <string>

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

// Every file of `dir` with its bytes, to prove that nothing was written.
inline std::map<std::string, std::string> DirContents(const std::string& dir) {
  std::map<std::string, std::string> files;
  for (const auto& e : std::filesystem::directory_iterator(dir)) {
    files[e.path().filename().string()] = ReadFileBytes(e.path().string());
  }
  return files;
}

// An Env that fails the creation of any file whose name contains `match`.
class FailingEnv final : public EnvWrapper {
 public:
  explicit FailingEnv(std::string match) : match_(std::move(match)) {}
  Status WriteNewFile(const std::string& path, std::span<const ConstBytes> pieces,
                      bool sync) override {
    if (path.find(match_) != std::string::npos) return Status::IOError(path, "injected failure");
    return Env::Default()->WriteNewFile(path, pieces, sync);
  }

 private:
  std::string match_;
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
  std::string file(std::string_view name) const { return service_dir() + "/" + std::string(name); }

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
