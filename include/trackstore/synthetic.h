// include/trackstore/synthetic.h
//
// A realistic synthetic music library for demos, tests and benchmarks:
// artists with several albums of 8-16 tracks, genres, years, dates and
// statuses distributed as in a personal library, some non-ASCII names, some
// absent and some empty optional fields, a few extra fields. About 230 bytes
// of string data per track. Deterministic: the same (count, seed) always
// gives the same tracks, on every machine (integer arithmetic only), and
// GenerateLibrary(n) is a prefix of GenerateLibrary(m) for n < m.
#ifndef TRACKSTORE_SYNTHETIC_H_
#define TRACKSTORE_SYNTHETIC_H_

#include <cstdint>
#include <vector>

#include "trackstore/export.h"
#include "trackstore/track.h"

namespace trackstore {

struct TRACKSTORE_EXPORT SyntheticOptions {
  // Seed of the generator. Default: 42.
  uint64_t seed = 42;
  // Id of the first track; ids are decimal strings counting up from here,
  // as the reference application's persistent ids are unique strings.
  uint64_t first_id = 100000;
};

TRACKSTORE_EXPORT std::vector<TrackRecord> GenerateLibrary(uint64_t count,
                                                           const SyntheticOptions& options = {});

}  // namespace trackstore

#endif  // TRACKSTORE_SYNTHETIC_H_
