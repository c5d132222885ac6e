// benchmarks/processes.h
//
// The store_bench workloads that run a store in child processes:
//  - concurrent readers: N children, forked from the harness, each open the
//    store themselves and then do random lookups from a common start;
//  - peak RSS of open-and-full-scan: one child per measurement, forked from
//    a small helper process (RssProbe) so that the child's peak is its own
//    and not the harness's multi-GB footprint, read with wait4().
// Children leave with _exit(): no destructor or atexit handler of the
// harness runs in them.
#ifndef TRACKSTORE_BENCHMARKS_PROCESSES_H_
#define TRACKSTORE_BENCHMARKS_PROCESSES_H_

#include <sys/types.h>

#include <cstddef>
#include <cstdint>
#include <span>
#include <string>
#include <vector>

#include "peers/store.h"

namespace trackstore_bench {

struct ReadersResult {
  uint64_t lookups = 0;  // by all children together
  double seconds = 0;    // from the common start until the last child reported
};

// Forks `procs` children. Each opens the store at `path` (Store::Open,
// Reader::PrepareLookups), warms up with lookups for seconds/3, says it is
// ready, waits for the common start,
// then looks up batches of `batch` ids of `ids` (child k starting at
// k/procs of the way through) until `seconds` have passed, and reports its
// count. Open time is not in the result: that is the open workload.
Status RunConcurrentReaders(Store* store, const std::string& path, std::span<const std::string> ids,
                            int procs, double seconds, size_t batch, ReadersResult* out);

struct RssSample {
  uint64_t peak_rss_bytes = 0;  // ru_maxrss of the child, from wait4()
  uint64_t rss_anon_bytes = 0;  // RssAnon after the scan (/proc/self/status)
  uint64_t rss_file_bytes = 0;  // RssFile after the scan: mapped file pages
  uint64_t tracks = 0;          // seen by the scan
  double seconds = 0;           // open + scan, in the child
};

// The helper process. Start() must be called before the harness allocates
// anything large; the helper exits when the RssProbe is destroyed (or the
// harness dies: it reads EOF).
class RssProbe {
 public:
  RssProbe() = default;
  RssProbe(const RssProbe&) = delete;
  RssProbe& operator=(const RssProbe&) = delete;
  ~RssProbe();

  // `stores` must be the same list, in the same order, in the harness and
  // in the helper (it is: the helper is a fork of the harness).
  Status Start(std::vector<Store*> stores);

  // Opens and scans (id and name of every track) the store `store_index`
  // at `path` in a fresh child of the helper. store_index -1: a child that
  // exits at once, the baseline every sample includes (the binary and its
  // libraries).
  Status Measure(int store_index, const std::string& path, RssSample* out);

 private:
  int to_helper_ = -1;
  int from_helper_ = -1;
  pid_t helper_ = -1;
};

}  // namespace trackstore_bench

#endif  // TRACKSTORE_BENCHMARKS_PROCESSES_H_
