// include/trackstore/clock.h
//
// Time in trackstore is a UTC instant in microseconds since the Unix epoch
// (doc/behaviour.md: times are UTC, as microseconds since the epoch).
// Everything that asks for the time takes a Clock, so tests can inject one
// and a service shares one clock across all its parts.
#ifndef TRACKSTORE_CLOCK_H_
#define TRACKSTORE_CLOCK_H_

#include <cstdint>
#include <functional>

#include "trackstore/export.h"

namespace trackstore {

using Micros = int64_t;  // microseconds since 1970-01-01T00:00:00Z

inline constexpr Micros kMicrosPerSecond = 1'000'000;
inline constexpr Micros kMicrosPerDay = 86'400 * kMicrosPerSecond;

// Returns the current time. Must be callable from any thread.
using Clock = std::function<Micros()>;

// The system's real-time clock.
TRACKSTORE_EXPORT Micros SystemNow();
inline Clock SystemClock() { return &SystemNow; }

}  // namespace trackstore

#endif  // TRACKSTORE_CLOCK_H_
