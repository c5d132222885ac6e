// src/run_pair.h (internal)
//
// Two pieces of work at once: the second on a thread of its own, or both on
// the caller's thread, in order, when a thread would cost more than it saves
// or cannot be started.
#ifndef TRACKSTORE_SRC_RUN_PAIR_H_
#define TRACKSTORE_SRC_RUN_PAIR_H_

#include <cstdint>
#include <system_error>
#include <thread>

namespace trackstore::internal {

// Below this many tracks a second thread costs more than it saves.
inline constexpr uint64_t kMinTracksForTwoThreads = uint64_t{1} << 15;

// Runs a() here and b() on a second thread (both here, in order, when
// `two` is false or no thread can be started). b() must not throw.
template <typename A, typename B>
void RunPair(bool two, A a, B b) {
  std::thread other;
  if (two) {
    try {
      other = std::thread(b);
    } catch (const std::system_error&) {
      two = false;
    }
  }
  try {
    a();
  } catch (...) {
    if (two) other.join();
    throw;
  }
  if (two) {
    other.join();
  } else {
    b();
  }
}

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_RUN_PAIR_H_
