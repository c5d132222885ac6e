// fuzz/fuzz_tracks.h: small hand-made inputs shared by the seed generator
// and the shared-memory fuzzer.
#ifndef TRACKSTORE_FUZZ_FUZZ_TRACKS_H_
#define TRACKSTORE_FUZZ_FUZZ_TRACKS_H_

#include <cstdint>
#include <string>
#include <vector>

#include "trackstore/shm_cache.h"
#include "trackstore/track.h"

namespace trackstore::fuzz {

// `count` tracks that vary which optional fields are absent, empty or set.
inline std::vector<TrackRecord> SmallTracks(uint64_t count) {
  std::vector<TrackRecord> tracks(count);
  for (uint64_t i = 0; i < count; ++i) {
    TrackRecord& t = tracks[i];
    t.id = std::to_string(1000 + i);
    t.name = "Track " + std::to_string(i);
    t.artist = i % 2 ? "Björk" : "";
    t.album = "Album";
    if (i % 3 == 0) t.genre = "Jazz";
    if (i % 3 == 1) t.genre = "";
    t.year = std::to_string(1990 + i);
    if (i % 2 == 0) t.original_pos = -static_cast<int64_t>(i);
    if (i % 4 == 3) t.extras_json = R"({"rating":5})";
  }
  return tracks;
}

// The segment the shared-memory fuzzer damages: small, so that writing it
// afresh for every input is cheap.
inline ShmOptions ShmFixtureOptions(const std::string& dir) {
  ShmOptions o;
  o.name = "fuzz";
  o.shm_dir = dir;
  o.capacity_bytes = 128 << 10;
  o.max_entries = 4;
  o.max_readers = 2;
  o.lock_timeout_ms = 1000;
  return o;
}

inline constexpr const char* kShmFixtureKeys[] = {"tracks_all", "a", "empty"};

// Creates the segment in `dir` with an entry under each key.
inline Status MakeShmFixture(const std::string& dir) {
  Result<ShmCache> cache = ShmCache::Open(ShmFixtureOptions(dir));
  if (!cache.ok()) return cache.status();
  const uint64_t counts[] = {6, 2, 0};
  for (int k = 0; k < 3; ++k) {
    Result<uint64_t> v = cache->Put(kShmFixtureKeys[k], SmallTracks(counts[k]));
    if (!v.ok()) return v.status();
  }
  return Status::OK();
}

}  // namespace trackstore::fuzz

#endif  // TRACKSTORE_FUZZ_FUZZ_TRACKS_H_
