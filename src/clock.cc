// The system clock: CLOCK_REALTIME, which is UTC on every POSIX system.
#include "trackstore/clock.h"

#include <time.h>

namespace trackstore {

Micros SystemNow() {
  timespec ts;
  ::clock_gettime(CLOCK_REALTIME, &ts);  // cannot fail for CLOCK_REALTIME
  return static_cast<Micros>(ts.tv_sec) * kMicrosPerSecond + ts.tv_nsec / 1000;
}

}  // namespace trackstore
