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
#include <memory>
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

// The same tracks a batch at a time, for libraries too large to hold at
// once: the batches of one generator, concatenated, are GenerateLibrary's
// tracks with the same options.
class TRACKSTORE_EXPORT LibraryGenerator {
 public:
  explicit LibraryGenerator(const SyntheticOptions& options = {});
  ~LibraryGenerator();
  LibraryGenerator(const LibraryGenerator&) = delete;
  LibraryGenerator& operator=(const LibraryGenerator&) = delete;

  // Appends the next `count` tracks to `out`.
  void Next(uint64_t count, std::vector<TrackRecord>* out);
  // How many tracks Next has made so far.
  uint64_t generated() const;

 private:
  struct Rep;
  std::unique_ptr<Rep> rep_;
};

}  // namespace trackstore

#endif  // TRACKSTORE_SYNTHETIC_H_
