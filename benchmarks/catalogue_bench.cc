// benchmarks/catalogue_bench.cc
//
// A catalogue past one FlatBuffers buffer: a Store of 20M tracks (about
// 6.6 GB in several base fragments of at most StoreOptions::
// max_fragment_bytes each) beside the same figures at 1M tracks, built the
// same way in the same run, so that the ratios say how reads scale with the
// catalogue: open-and-ready should stay O(1), a random lookup probes one
// hash index per base fragment, a scan is linear.
//
// Both stores are built directly with Store::Replace(TrackSource), fed
// batches of 100,000 tracks from the synthetic generator (batch b is
// GenerateLibrary(100000) with seed 42 + b and ids counting on from the
// previous batch's; no JSON), into a fresh directory on disk. The build
// time of each is printed once (a one-off timing, not a benchmark
// iteration). The files stay in the page cache afterwards: no figure
// includes a disk read.
//
// Workloads (benchmark name Workload/tracks):
//   Open    open-and-ready: Store::Open + Current() + Find of one id
//           (manual time: dropping the previous handles is not timed)
//   Lookup  batches of 1,000 random lookups by id (Version::Find, reading
//           the name); ids drawn uniformly from the whole catalogue with
//           the same seed at both sizes
//   Scan    the name of every track, in library order (Version iteration)
// The run ends with the ratios of the medians: big / 1M for open and per
// lookup, and per track for the scan.
//
// Environment:
//   CATALOGUE_TRACKS       tracks of the big store (default 20000000; 2000000
//                          for a quick check)
//   CATALOGUE_DIR          where the stores' directory is made (default
//                          /var/tmp; must not be a tmpfs). It needs about
//                          750 bytes per track free (15 GB for 20M), else
//                          the run is skipped with a message.
//   CATALOGUE_FRAGMENT_MB  StoreOptions::max_fragment_bytes in MiB (default:
//                          the store's, 1536), to get several fragments at
//                          a small size
// The directory is removed at exit. Not run by `meson test --benchmark`:
// the 20M build alone takes minutes and 6.6 GB. About 8 GB of RAM at 20M
// (one fragment's tracks as records while building).
#include <sys/statfs.h>
#include <sys/statvfs.h>

#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_flags.h"
#include "median_ratios.h"
#include "trackstore/result.h"
#include "trackstore/status.h"
#include "trackstore/store.h"
#include "trackstore/synthetic.h"

namespace trackstore_bench {
namespace {

using trackstore::Result;
using trackstore::Status;
using trackstore::TrackRecord;

constexpr uint64_t kReferenceTracks = 1'000'000;
constexpr uint64_t kDefaultTracks = 20'000'000;
constexpr uint64_t kBatch = 100'000;
constexpr uint64_t kFirstId = 100000;  // SyntheticOptions::first_id's default
constexpr uint64_t kFreeBytesPerTrack = 750;
constexpr size_t kLookupIds = size_t{1} << 20;
constexpr uint64_t kLookupSeed = 20240229;
constexpr size_t kLookupBatch = 1000;
constexpr long kTmpfsMagic = 0x01021994;

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// As store_bench's: the length and first byte of a string.
uint64_t Touch(std::string_view s) {
  return s.size() + (s.empty() ? 0 : static_cast<unsigned char>(s.front()));
}

uint64_t EnvNumber(const char* name, uint64_t fallback) {
  const char* v = std::getenv(name);
  if (v == nullptr || *v == '\0') return fallback;
  char* end = nullptr;
  const unsigned long long n = std::strtoull(v, &end, 10);
  if (*end != '\0' || n == 0) {
    std::fprintf(stderr, "catalogue_bench: %s=%s is not a positive number\n", name, v);
    std::exit(2);
  }
  return n;
}

struct Catalogue {
  uint64_t tracks = 0;
  std::string dir;
  double build_seconds = 0;
  uint64_t bytes = 0;
  size_t fragments = 0;
  std::vector<std::string> lookup_ids;
};

struct Harness {
  std::string dir;
  trackstore::StoreOptions options;
  std::map<int64_t, Catalogue> catalogues;

  ~Harness() {
    if (!dir.empty()) {
      std::error_code ec;
      std::filesystem::remove_all(dir, ec);
    }
  }
};

Harness& H() {
  static Harness harness;
  return harness;
}

// Builds a store of `tracks` tracks in `c->dir` through Replace(TrackSource).
Status Build(uint64_t tracks, Catalogue* c) {
  c->tracks = tracks;
  c->dir = H().dir + "/" + std::to_string(tracks);
  const Clock::time_point start = Clock::now();
  Result<trackstore::Store> store = trackstore::Store::Open(c->dir, H().options);
  if (!store.ok()) return store.status();
  uint64_t next = 0;
  const trackstore::TrackSource source = [&](std::vector<TrackRecord>* batch) -> Result<bool> {
    const uint64_t count = std::min(kBatch, tracks - next);
    trackstore::SyntheticOptions o;
    o.seed = 42 + next / kBatch;
    o.first_id = kFirstId + next;
    std::vector<TrackRecord> generated = trackstore::GenerateLibrary(count, o);
    batch->insert(batch->end(), std::make_move_iterator(generated.begin()),
                  std::make_move_iterator(generated.end()));
    next += count;
    return next < tracks;
  };
  Result<trackstore::CommitStats> stats = store->Replace(source);
  if (!stats.ok()) return stats.status();
  c->build_seconds = SecondsSince(start);
  Result<trackstore::Version> v = store->Current();
  if (!v.ok()) return v.status();
  if (v->size() != tracks) {
    return Status::InvalidArgument(c->dir, "built " + std::to_string(v->size()) + " tracks");
  }
  for (const trackstore::FragmentInfo& f : v->info().fragments) c->bytes += f.bytes;
  c->fragments = v->info().fragments.size();
  std::mt19937_64 rng(kLookupSeed);
  std::uniform_int_distribution<uint64_t> pick(0, tracks - 1);
  c->lookup_ids.reserve(kLookupIds);
  for (size_t i = 0; i < kLookupIds; ++i) {
    c->lookup_ids.push_back(std::to_string(kFirstId + pick(rng)));
  }
  std::fprintf(stderr,
               "catalogue_bench: built %llu tracks in %.1f s (%.0f tracks/s): %zu fragments, "
               "%.2f GB\n",
               static_cast<unsigned long long>(tracks), c->build_seconds,
               static_cast<double>(tracks) / c->build_seconds, c->fragments,
               static_cast<double>(c->bytes) / 1e9);
  return Status::OK();
}

Catalogue& Get(benchmark::State& state) { return H().catalogues.at(state.range(0)); }

bool Check(benchmark::State& state, const Status& s) {
  if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  return s.ok();
}

trackstore::StoreOptions ReadOnly() {
  trackstore::StoreOptions options = H().options;
  options.create_if_missing = false;
  return options;
}

// Opens the catalogue's current version; nullopt after SkipWithError.
std::optional<trackstore::Version> OpenCurrent(benchmark::State& state, const Catalogue& c) {
  Result<trackstore::Store> store = trackstore::Store::Open(c.dir, ReadOnly());
  if (!Check(state, store.status())) return std::nullopt;
  Result<trackstore::Version> v = store->Current();
  if (!Check(state, v.status())) return std::nullopt;
  return std::move(v).value();
}

// Runs `body` once untimed, then in the timed loop (as store_bench).
template <typename Body>
void Loop(benchmark::State& state, Body body) {
  if (!body()) return;
  for (auto _ : state) {
    if (!body()) break;
  }
}

void BM_Open(benchmark::State& state) {
  const Catalogue& c = Get(state);
  std::optional<trackstore::Store> store;
  std::optional<trackstore::Version> version;
  uint64_t sum = 0;
  for (auto _ : state) {
    version.reset();  // not part of open-and-ready
    store.reset();
    const Clock::time_point start = Clock::now();
    Result<trackstore::Store> s = trackstore::Store::Open(c.dir, ReadOnly());
    if (!Check(state, s.status())) break;
    store.emplace(std::move(s).value());
    Result<trackstore::Version> v = store->Current();
    if (!Check(state, v.status())) break;
    version.emplace(std::move(v).value());
    const std::optional<trackstore::TrackView> t = version->Find(c.lookup_ids.front());
    if (!t) {
      state.SkipWithError("first lookup: not found");
      break;
    }
    sum += Touch(t->name());
    state.SetIterationTime(SecondsSince(start));
  }
  benchmark::DoNotOptimize(sum);
  state.counters["fragments"] = static_cast<double>(c.fragments);
}

void BM_Lookup(benchmark::State& state) {
  const Catalogue& c = Get(state);
  const std::optional<trackstore::Version> version = OpenCurrent(state, c);
  if (!version) return;
  const std::span<const std::string> ids(c.lookup_ids);
  size_t pos = 0;
  Loop(state, [&] {
    if (pos + kLookupBatch > ids.size()) pos = 0;
    uint64_t sum = 0;
    for (const std::string& id : ids.subspan(pos, kLookupBatch)) {
      const std::optional<trackstore::TrackView> t = version->Find(id);
      if (!t) [[unlikely]] {
        state.SkipWithError(("no track with id " + id).c_str());
        return false;
      }
      sum += Touch(t->name());
    }
    benchmark::DoNotOptimize(sum);
    pos += kLookupBatch;
    return true;
  });
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kLookupBatch));
  state.counters["fragments"] = static_cast<double>(c.fragments);
}

void BM_Scan(benchmark::State& state) {
  const Catalogue& c = Get(state);
  const std::optional<trackstore::Version> version = OpenCurrent(state, c);
  if (!version) return;
  Loop(state, [&] {
    uint64_t sum = 0, count = 0;
    for (trackstore::TrackView t : *version) {
      sum += Touch(t.name());
      ++count;
    }
    benchmark::DoNotOptimize(sum);
    if (count == c.tracks) return true;
    state.SkipWithError(("scan saw " + std::to_string(count) + " tracks").c_str());
    return false;
  });
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(c.tracks));
}

// Free bytes at `dir`, or nullopt (with a message) when it is unusable.
std::optional<uint64_t> FreeBytes(const std::string& dir) {
  struct statfs fs;
  struct statvfs vfs;
  if (::statfs(dir.c_str(), &fs) != 0 || ::statvfs(dir.c_str(), &vfs) != 0) {
    std::perror(("catalogue_bench: " + dir).c_str());
    return std::nullopt;
  }
  if (static_cast<long>(fs.f_type) == kTmpfsMagic) {
    std::fprintf(stderr,
                 "catalogue_bench: %s is a tmpfs; set CATALOGUE_DIR to a directory on disk\n",
                 dir.c_str());
    return std::nullopt;
  }
  return static_cast<uint64_t>(vfs.f_bavail) * vfs.f_frsize;
}

}  // namespace
}  // namespace trackstore_bench

int main(int argc, char** argv) {
  using namespace trackstore_bench;
  const bool user_min_time = HasFlag(argc, argv, "--benchmark_min_time");
  const bool user_repetitions = HasFlag(argc, argv, "--benchmark_repetitions");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  const uint64_t big = EnvNumber("CATALOGUE_TRACKS", kDefaultTracks);
  const char* parent_env = std::getenv("CATALOGUE_DIR");
  const std::string parent = parent_env != nullptr && *parent_env ? parent_env : "/var/tmp";
  Harness& h = H();
  if (const char* mb = std::getenv("CATALOGUE_FRAGMENT_MB"); mb != nullptr && *mb) {
    h.options.max_fragment_bytes = EnvNumber("CATALOGUE_FRAGMENT_MB", 1024) << 20;
  }
  std::vector<uint64_t> sizes{std::min(big, kReferenceTracks)};
  if (big > kReferenceTracks) sizes.push_back(big);

  uint64_t needed = 0;
  for (uint64_t n : sizes) needed += n * kFreeBytesPerTrack;
  const std::optional<uint64_t> free_bytes = FreeBytes(parent);
  if (!free_bytes) return 1;
  if (*free_bytes < needed) {
    std::fprintf(stderr,
                 "catalogue_bench: skipped: %.1f GB free in %s, %.1f GB needed for %llu tracks "
                 "(set CATALOGUE_DIR or CATALOGUE_TRACKS)\n",
                 static_cast<double>(*free_bytes) / 1e9, parent.c_str(),
                 static_cast<double>(needed) / 1e9, static_cast<unsigned long long>(big));
    return 0;
  }
  std::string tmpl = parent + "/trackstore-catalogue-XXXXXX";
  if (mkdtemp(tmpl.data()) == nullptr) {
    std::perror("catalogue_bench: mkdtemp");
    return 1;
  }
  h.dir = tmpl;
  std::fprintf(stderr, "catalogue_bench: %.1f GB free in %s; stores in %s\n",
               static_cast<double>(*free_bytes) / 1e9, parent.c_str(), h.dir.c_str());

  for (uint64_t n : sizes) {
    if (Status s = Build(n, &h.catalogues[static_cast<int64_t>(n)]); !s.ok()) {
      std::fprintf(stderr, "catalogue_bench: building %llu tracks: %s\n",
                   static_cast<unsigned long long>(n), s.ToString().c_str());
      return 1;
    }
  }

  auto defaults = [&](benchmark::internal::Benchmark* b, double min_time) {
    for (uint64_t n : sizes) b->Arg(static_cast<int64_t>(n));
    if (!user_min_time) b->MinTime(min_time);
    if (!user_repetitions) b->Repetitions(3)->ReportAggregatesOnly(true);
  };
  defaults(
      benchmark::RegisterBenchmark("Open", BM_Open)->Unit(benchmark::kMicrosecond)->UseManualTime(),
      0.2);
  defaults(benchmark::RegisterBenchmark("Lookup", BM_Lookup)
               ->Unit(benchmark::kMicrosecond)
               ->UseRealTime(),
           0.2);
  defaults(
      benchmark::RegisterBenchmark("Scan", BM_Scan)->Unit(benchmark::kMillisecond)->UseRealTime(),
      0.5);

  MedianRatioReporter reporter;
  if (sizes.size() == 2) {
    const std::string b = "/" + std::to_string(big), r = "/" + std::to_string(kReferenceTracks);
    const std::string label = std::to_string(big) + " / " + std::to_string(kReferenceTracks);
    reporter.AddRatio("open-and-ready " + label, "Open" + b, "Open" + r);
    reporter.AddRatio("random lookup " + label, "Lookup" + b, "Lookup" + r);
    reporter.AddRatio("scan of name, per track, " + label, "Scan" + b, "Scan" + r,
                      static_cast<double>(kReferenceTracks) / static_cast<double>(big));
  }
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  for (uint64_t n : sizes) {
    const Catalogue& c = h.catalogues[static_cast<int64_t>(n)];
    std::printf(
        "build (Store::Replace from batches, durable) of %llu tracks: %.1f s, "
        "%.0f tracks/s, %zu fragments, %.2f GB\n",
        static_cast<unsigned long long>(n), c.build_seconds,
        static_cast<double>(n) / c.build_seconds, c.fragments, static_cast<double>(c.bytes) / 1e9);
  }
  if (sizes.size() == 2) {
    const double per_track = [&](const Catalogue& a, const Catalogue& b) {
      return (a.build_seconds / static_cast<double>(a.tracks)) /
             (b.build_seconds / static_cast<double>(b.tracks));
    }(h.catalogues[static_cast<int64_t>(big)], h.catalogues[kReferenceTracks]);
    std::printf("build time per track, %llu / %llu: %.2fx\n", static_cast<unsigned long long>(big),
                static_cast<unsigned long long>(kReferenceTracks), per_track);
  }
  return 0;
}
