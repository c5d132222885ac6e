// benchmarks/bench_flags.h: whether the command line sets a Google Benchmark
// flag, so that a harness applies its own defaults (repetitions, minimum
// time) only where the user gave none.
#ifndef TRACKSTORE_BENCHMARKS_BENCH_FLAGS_H_
#define TRACKSTORE_BENCHMARKS_BENCH_FLAGS_H_

#include <string_view>

namespace trackstore_bench {

// True when argv holds `flag` or `flag=...`.
inline bool HasFlag(int argc, char** argv, std::string_view flag) {
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg.starts_with(flag) && (arg.size() == flag.size() || arg[flag.size()] == '=')) {
      return true;
    }
  }
  return false;
}

}  // namespace trackstore_bench

#endif  // TRACKSTORE_BENCHMARKS_BENCH_FLAGS_H_
