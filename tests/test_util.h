// tests/test_util.h: helpers shared by the tests.
#ifndef TRACKSTORE_TESTS_TEST_UTIL_H_
#define TRACKSTORE_TESTS_TEST_UTIL_H_

#include <gmock/gmock.h>
#include <gtest/gtest.h>
#include <stdlib.h>
#include <unistd.h>

#include <filesystem>
#include <fstream>
#include <iterator>
#include <string>
#include <vector>

#include "trackstore/status.h"
#include "trackstore/track.h"

// Evaluates expr once and prints the Status when it is not OK.
MATCHER(IsOk, "") {
  *result_listener << arg.ToString();
  return arg.ok();
}
#define ASSERT_OK(expr) ASSERT_THAT((expr), IsOk())
#define EXPECT_OK(expr) EXPECT_THAT((expr), IsOk())

namespace trackstore::testing {

// A fresh directory under $TMPDIR (or /tmp), removed with its contents when
// the object goes away.
class TempDir {
 public:
  TempDir() {
    const char* base = getenv("TMPDIR");
    std::string tmpl = std::string(base && *base ? base : "/tmp") + "/trackstore-test-XXXXXX";
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    path_ = tmpl;
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  TempDir(const TempDir&) = delete;
  TempDir& operator=(const TempDir&) = delete;
  const std::string& path() const { return path_; }
  std::string file(const std::string& name) const { return path_ + "/" + name; }

 private:
  std::string path_;
};

inline std::string ReadFileBytes(const std::string& path) {
  std::ifstream in(path, std::ios::binary);
  return std::string(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
}

inline void WriteFileBytes(const std::string& path, const std::string& bytes) {
  std::ofstream out(path, std::ios::binary | std::ios::trunc);
  out.write(bytes.data(), static_cast<std::streamsize>(bytes.size()));
}

// A small varied track: every optional field is absent, empty or set
// depending on `i`, so a few hundred of them cover every combination.
inline TrackRecord MakeTrack(uint64_t i) {
  TrackRecord t;
  t.id = std::to_string(1000 + i);
  t.name = "Song " + std::to_string(i) + (i % 7 == 0 ? " \u00e9t\u00e9 \u65e5\u672c" : "");
  t.artist = i % 5 == 0 ? "" : "Artist " + std::to_string(i / 10);
  t.album = "Album " + std::to_string(i / 12);
  for (int f = kRequiredStringFieldCount; f < kStringFieldCount; ++f) {
    switch ((i + static_cast<uint64_t>(f)) % 3) {
      case 0:
        break;  // absent
      case 1:
        t.SetStringField(f, std::string());
        break;  // empty
      default: {
        // Built with +=: GCC 12 warns (-Wrestrict, a false positive) on the
        // inlined a + b + c.
        std::string value = "v";
        value += std::to_string(f);
        value += '-';
        value += std::to_string(i);
        t.SetStringField(f, std::move(value));
        break;
      }
    }
  }
  if (i % 2 == 0) t.original_pos = static_cast<int64_t>(i) - 3;
  if (i % 4 == 0) t.extras_json = "{\"rating\":" + std::to_string(i % 100) + "}";
  return t;
}

inline std::vector<TrackRecord> MakeTracks(uint64_t count) {
  std::vector<TrackRecord> tracks;
  tracks.reserve(count);
  for (uint64_t i = 0; i < count; ++i) tracks.push_back(MakeTrack(i));
  return tracks;
}

}  // namespace trackstore::testing

#endif  // TRACKSTORE_TESTS_TEST_UTIL_H_
