// tests/shm_test_util.h: versions of a track list that a reader can tell
// apart, and the check that a view holds one whole version. Shared by the
// shared-memory tests (one process, threads, and many processes).
#ifndef TRACKSTORE_TESTS_SHM_TEST_UTIL_H_
#define TRACKSTORE_TESTS_SHM_TEST_UTIL_H_

#include <cstdint>
#include <cstdio>
#include <string_view>
#include <vector>

#include "test_util.h"
#include "trackstore/shm_cache.h"

namespace trackstore::testing {

// `n` tracks whose names all carry `version` in a fixed-width tag: every
// version has the same size, and a reader can tell a mix of two versions.
inline std::vector<TrackRecord> VersionedTracks(uint64_t n, uint64_t version) {
  std::vector<TrackRecord> tracks = MakeTracks(n);
  char tag[16];
  std::snprintf(tag, sizeof(tag), "v%06llu ", static_cast<unsigned long long>(version));
  for (TrackRecord& t : tracks) t.name = tag + t.name;
  return tracks;
}

// A whole version of `n` tracks: the hash matches and every name has track
// 0's tag.
inline bool IsWholeVersion(const ShmEntry& e, uint64_t n) {
  const Snapshot& s = e.snapshot();
  if (s.size() != n || !s.Verify().ok()) return false;
  const std::string_view tag = s[0].name().substr(0, 8);
  for (TrackView t : s) {
    if (t.name().substr(0, 8) != tag) return false;
  }
  return true;
}

}  // namespace trackstore::testing

#endif  // TRACKSTORE_TESTS_SHM_TEST_UTIL_H_
