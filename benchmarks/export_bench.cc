// benchmarks/export_bench.cc
//
// Streaming JSON export (ExportJsonFile of a Snapshot) beside the least work
// each output could take, measured in the same run: memcpy of the same JSON
// bytes for the plain export, and zlib's deflate of the same bytes alone, at
// the same level (6) and with the same gzip framing, for the gzip export.
// Compare ratios within one run, never figures across runs.
//
// Rows (argument = track count, EXPORT_TRACKS, default 1,000,000):
//   Export/plain        ExportJsonFile to lib.json, sync=false (temp+rename)
//   Baseline/memcpy     memcpy of that file's bytes to a touched buffer
//   Export/gzip         ExportJsonFile to lib.json.gz, sync=false
//   Baseline/deflate    deflate of the JSON bytes into a reused buffer
//   PeakRss/plain, PeakRss/gzip
//                       the export in a forked child: its peak RSS from
//                       wait4's rusage (peak_MiB), what it had resident when
//                       it began, shared with this process (start_MiB), and
//                       the difference, the export's own: buffers and the
//                       snapshot pages it read (growth_MiB); beside
//                       snapshot_MiB and out_MiB. The time is the child's
//                       whole run. This process frees the baselines' JSON
//                       bytes first (made again when a baseline next runs),
//                       so the child starts with almost nothing resident.
//
// The library (GenerateLibrary), its snapshot and the JSON bytes are made
// once (the JSON bytes lazily), outside the timed loops, in /var/tmp/trackstore-ebench-XXXXXX
// (EXPORT_DIR to change the parent), removed at exit. The snapshot stays in
// the page cache. Unless the command line says otherwise, each row runs 3
// repetitions and reports only the aggregates; the console run ends with
// the ratios of the medians (median_ratios.h). About 2-3 minutes at 1M
// tracks on 2 vCPUs, ~1.5 GB of RAM and ~1 GB of disk.
#include <malloc.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <iterator>
#include <memory>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_flags.h"
#include "median_ratios.h"
#include "trackstore/json.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/synthetic.h"

namespace trackstore_bench {
namespace {

using trackstore::ExportJsonFile;
using trackstore::JsonExportOptions;
using trackstore::Snapshot;
using trackstore::Status;

constexpr uint64_t kDefaultTracks = 1'000'000;
constexpr int kGzipLevel = 6;  // JsonExportOptions' default, the reference application's

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (*end != '\0' || n == 0) {
    std::fprintf(stderr, "export_bench: %s=%s is not a positive number\n", name, v);
    std::exit(2);
  }
  return n;
}

[[noreturn]] void Die(const std::string& what, const Status& s) {
  std::fprintf(stderr, "export_bench: %s: %s\n", what.c_str(), s.ToString().c_str());
  std::exit(1);
}

struct Fixture {
  uint64_t tracks = 0;
  std::string dir;
  std::string snap_path;
  std::unique_ptr<Snapshot> snap;
  std::string json;         // the plain export's bytes, made by Json()
  std::string copy;         // memcpy's destination, touched
  std::string deflated;     // deflate's destination, sized for the worst case
  uint64_t gzip_bytes = 0;  // the size of the gzip export
};

Fixture& F() {
  static Fixture f;
  return f;
}

JsonExportOptions NoSync() {
  JsonExportOptions options;
  options.sync = false;
  return options;
}

void Build(uint64_t tracks) {
  Fixture& f = F();
  f.tracks = tracks;
  f.snap_path = f.dir + "/lib.snap";
  {
    trackstore::WriteOptions options;
    options.sync = false;
    trackstore::SnapshotWriter writer;
    auto written = writer.Write(f.snap_path, trackstore::GenerateLibrary(tracks), options);
    if (!written.ok()) Die("writing the snapshot", written.status());
  }
  ::malloc_trim(0);  // the records' heap, which a forked child would share
  trackstore::Result<Snapshot> snap = Snapshot::Open(f.snap_path);
  if (!snap.ok()) Die("opening the snapshot", snap.status());
  f.snap = std::make_unique<Snapshot>(std::move(snap).value());
}

// The plain export's bytes, and touched buffers for the baselines to write.
const std::string& Json() {
  Fixture& f = F();
  if (!f.json.empty()) return f.json;
  const std::string json_path = f.dir + "/ref.json";
  if (Status s = ExportJsonFile(*f.snap, json_path, NoSync()); !s.ok()) Die("export", s);
  std::ifstream in(json_path, std::ios::binary);
  f.json.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  std::filesystem::remove(json_path);
  f.copy.assign(f.json.size(), '\1');
  f.deflated.assign(compressBound(static_cast<uLong>(f.json.size())) + 64, '\1');
  return f.json;
}

// Runs `body` once untimed (first touch of fresh memory costs several times
// more on this VM), then the timed loop.
template <typename Body>
void Loop(benchmark::State& state, Body body) {
  body();
  for (auto _ : state) body();
}

void SetCounters(benchmark::State& state, uint64_t bytes) {
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(F().tracks));
}

void BM_ExportPlain(benchmark::State& state) {
  Fixture& f = F();
  Json();
  const std::string out = f.dir + "/lib.json";
  Loop(state, [&] {
    if (Status s = ExportJsonFile(*f.snap, out, NoSync()); !s.ok()) {
      state.SkipWithError(s.ToString().c_str());
    }
  });
  SetCounters(state, f.json.size());
  state.counters["json_MiB"] = static_cast<double>(f.json.size()) / (1 << 20);
}

void BM_BaselineMemcpy(benchmark::State& state) {
  Fixture& f = F();
  Json();
  Loop(state, [&] {
    std::memcpy(f.copy.data(), f.json.data(), f.json.size());
    benchmark::ClobberMemory();
  });
  SetCounters(state, f.json.size());
}

void BM_ExportGzip(benchmark::State& state) {
  Fixture& f = F();
  Json();
  const std::string out = f.dir + "/lib.json.gz";
  Loop(state, [&] {
    if (Status s = ExportJsonFile(*f.snap, out, NoSync()); !s.ok()) {
      state.SkipWithError(s.ToString().c_str());
    }
  });
  f.gzip_bytes = std::filesystem::file_size(out);
  SetCounters(state, f.json.size());
  state.counters["gzip_MiB"] = static_cast<double>(f.gzip_bytes) / (1 << 20);
}

// One deflate call over the whole text, into a buffer that holds the worst
// case: zlib alone, no piece-by-piece overhead and no file.
void BM_BaselineDeflate(benchmark::State& state) {
  Fixture& f = F();
  Json();
  size_t out_bytes = 0;
  if (f.json.size() > (uint64_t{1} << 31)) {
    state.SkipWithError("more JSON than one deflate call takes (2 GiB)");
    return;
  }
  Loop(state, [&] {
    z_stream z = {};
    if (deflateInit2(&z, kGzipLevel, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
      state.SkipWithError("deflateInit2");
      return;
    }
    z.next_in = reinterpret_cast<Bytef*>(f.json.data());
    z.avail_in = static_cast<uInt>(f.json.size());
    z.next_out = reinterpret_cast<Bytef*>(f.deflated.data());
    z.avail_out = static_cast<uInt>(f.deflated.size());
    if (deflate(&z, Z_FINISH) != Z_STREAM_END) state.SkipWithError("deflate did not finish");
    out_bytes = z.total_out;
    deflateEnd(&z);
  });
  SetCounters(state, f.json.size());
  state.counters["gzip_MiB"] = static_cast<double>(out_bytes) / (1 << 20);
}

// The child of PeakRss: opens the snapshot and exports it. Leaves with
// _exit, never exit(): this process's atexit handler removes the directory.
[[noreturn]] void ExportChild(const std::string& out) {
  trackstore::Result<Snapshot> snap = Snapshot::Open(F().snap_path);
  Status s = snap.ok() ? ExportJsonFile(*snap, out, NoSync()) : snap.status();
  if (!s.ok()) std::fprintf(stderr, "export_bench: child: %s\n", s.ToString().c_str());
  std::fflush(stderr);
  ::_exit(s.ok() ? 0 : 1);
}

// Gives back the memory of Json() (made again if a baseline runs later), so
// that a forked child starts with almost nothing resident.
void ReleaseJson() {
  Fixture& f = F();
  for (std::string* s : {&f.json, &f.copy, &f.deflated}) std::string().swap(*s);
  ::malloc_trim(0);
}

// The export in a forked child that opens the snapshot itself.
void PeakRss(benchmark::State& state, const char* name) {
  Fixture& f = F();
  ReleaseJson();
  const std::string out = f.dir + "/" + name;
  uint64_t peak = 0, start_rss = 0;
  for (auto _ : state) {
    const auto start = std::chrono::steady_clock::now();
    int fds[2];
    if (::pipe(fds) != 0) {
      state.SkipWithError("pipe");
      break;
    }
    std::fflush(nullptr);
    const pid_t pid = ::fork();
    if (pid == 0) {
      ::close(fds[0]);
      struct rusage self = {};
      ::getrusage(RUSAGE_SELF, &self);
      const uint64_t kib = static_cast<uint64_t>(self.ru_maxrss);
      if (::write(fds[1], &kib, sizeof(kib)) != sizeof(kib)) ::_exit(3);
      ::close(fds[1]);
      ExportChild(out);
    }
    ::close(fds[1]);
    uint64_t start_kib = 0;
    const bool got = pid > 0 && ::read(fds[0], &start_kib, sizeof(start_kib)) == sizeof(start_kib);
    ::close(fds[0]);
    int status = 0;
    struct rusage usage = {};
    if (pid < 0 || ::wait4(pid, &status, 0, &usage) != pid || !WIFEXITED(status) ||
        WEXITSTATUS(status) != 0 || !got) {
      state.SkipWithError("the export child failed");
      break;
    }
    state.SetIterationTime(
        std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count());
    peak = static_cast<uint64_t>(usage.ru_maxrss) * 1024;
    start_rss = start_kib * 1024;
  }
  const double mib = 1 << 20;
  state.counters["peak_MiB"] = static_cast<double>(peak) / mib;
  state.counters["start_MiB"] = static_cast<double>(start_rss) / mib;
  state.counters["growth_MiB"] = static_cast<double>(peak - std::min(peak, start_rss)) / mib;
  state.counters["snapshot_MiB"] =
      static_cast<double>(std::filesystem::file_size(f.snap_path)) / mib;
  // The JSON's size from the child's own output, not Json(): this row must
  // not make this process hold the text.
  state.counters["out_MiB"] = static_cast<double>(std::filesystem::file_size(out)) / mib;
}

void BM_PeakRssPlain(benchmark::State& state) { PeakRss(state, "rss.json"); }
void BM_PeakRssGzip(benchmark::State& state) { PeakRss(state, "rss.json.gz"); }

}  // namespace
}  // namespace trackstore_bench

int main(int argc, char** argv) {
  using namespace trackstore_bench;
  const bool user_min_time = HasFlag(argc, argv, "--benchmark_min_time");
  const bool user_repetitions = HasFlag(argc, argv, "--benchmark_repetitions");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  const uint64_t tracks = EnvNumber("EXPORT_TRACKS", kDefaultTracks);
  const char* parent_env = std::getenv("EXPORT_DIR");
  std::string tmpl = std::string(parent_env != nullptr && *parent_env ? parent_env : "/var/tmp") +
                     "/trackstore-ebench-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("export_bench: mkdtemp");
    return 1;
  }
  F().dir = tmpl;
  std::atexit([] { std::filesystem::remove_all(F().dir); });
  Build(tracks);

  struct Row {
    const char* name;
    void (*fn)(benchmark::State&);
    bool manual_time;
  };
  const Row rows[] = {
      {"Export/plain", BM_ExportPlain, false},  {"Baseline/memcpy", BM_BaselineMemcpy, false},
      {"Export/gzip", BM_ExportGzip, false},    {"Baseline/deflate", BM_BaselineDeflate, false},
      {"PeakRss/plain", BM_PeakRssPlain, true}, {"PeakRss/gzip", BM_PeakRssGzip, true},
  };
  for (const Row& row : rows) {
    benchmark::internal::Benchmark* b = benchmark::RegisterBenchmark(row.name, row.fn);
    b->Arg(static_cast<int64_t>(tracks))->Unit(benchmark::kMillisecond);
    if (row.manual_time) {
      b->UseManualTime()->Iterations(1);
    } else {
      b->UseRealTime();
      if (!user_min_time) b->MinTime(0.5);
    }
    if (!user_repetitions) b->Repetitions(3)->ReportAggregatesOnly(true);
  }

  MedianRatioReporter reporter;
  std::string n = "/";  // built with +=: GCC 12 warns (-Wrestrict, a false positive) on "/" + s
  n += std::to_string(tracks);
  reporter.AddRatio("plain export / memcpy of its bytes", "Export/plain" + n,
                    "Baseline/memcpy" + n);
  reporter.AddRatio("gzip export / deflate of the same bytes alone", "Export/gzip" + n,
                    "Baseline/deflate" + n);
  reporter.AddRatio("gzip export / plain export", "Export/gzip" + n, "Export/plain" + n);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
