// benchmarks/store_bench.cc
//
// trackstore against the stores a user would pick instead (issue 5), every
// store driven through the same Store/Reader interface (peers/store.h) on
// the same libraries: GenerateLibrary(30k) and GenerateLibrary(1M), the
// generator behind `trackstore generate`. The stores, each in its own file
// under peers/ with its configuration written at the top:
//
//   trackstore  the snapshot, mapped (peers/trackstore_store.cc)
//   read        the same snapshot file read(2) into the heap (read_store.cc)
//   reference   the reference application's JSON array, gzip 6, SHA-256
//   sqlite      WAL, synchronous=NORMAL, one table, prepared statements
//   lmdb        one record per track, the value a FlatBuffer of the track
//
// Peers whose library was not found at configure time are not compiled in.
//
// Workloads (benchmark name Workload/store/tracks[/processes]):
//   Save      the whole library into an empty place, durable (each store's
//             fsync or commit; manual time: removing the old files is not
//             timed)
//   Open      open-and-ready: open until the first track is read (manual
//             time: closing the previous reader is not timed)
//   Verify    the store's integrity check from its files; LMDB has none
//   Scan      id and name of every track, on an open store
//   Lookup    batches of 1,000 random lookups by id (reading the name), the
//             same id sequence for every store
//   Merge     a 1% delta (90% changed tracks, 10% new ids, as merge_bench)
//             applied to a saved store and made durable (manual time: the
//             fresh copy of the saved store it starts from is not timed)
//   Readers   1, 2 and 4 processes, each opening the store itself and
//             warming up with 0.1 s of lookups, then doing random lookups
//             for 0.3 s from a common start; the counter lookups_per_second
//             is the aggregate (processes.h). One repetition at 1M for the
//             reference, whose every child decodes the whole library.
//   PeakRss   1M tracks only: ru_maxrss of a fresh child process that opens
//             the store and scans it (processes.h, RssProbe)
//
// The libraries, deltas, id sequences and one saved copy of each store
// ("base") are made once per size, lazily, outside the timed loops, in a
// temporary directory /tmp/trackstore-store-bench-XXXXXX on the disk (not a
// tmpfs: fsync is real), removed at exit. The files stay in the page cache:
// no figure includes a disk read; saves and merges include their fsyncs.
//
// Defaults (unless --benchmark_repetitions / --benchmark_min_time are
// given): 5 repetitions at 30k (3 for Readers), 3 at 1M, aggregates only;
// at 1M, one repetition of the reference's Save, Merge and Readers (every
// run decodes or encodes 1M tracks of JSON: 10-20 s). About 9-10 minutes
// on 2 shared vCPUs. benchmarks/report.py turns the JSON output into
// docs/benchmarks/README.md; scripts/bench_peers.sh runs it all.
#include <algorithm>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_flags.h"
#include "peers/files.h"
#include "peers/store.h"
#include "processes.h"
#include "trackstore/synthetic.h"

namespace trackstore_bench {
namespace {

constexpr int64_t kSizes[] = {30'000, 1'000'000};
constexpr int kRepetitions[] = {5, 3};  // per size: 1M runs are seconds each
constexpr int64_t kRssSize = 1'000'000;
constexpr size_t kLookupIds = size_t{1} << 20;  // drawn with replacement
constexpr uint64_t kLookupSeed = 20240229;
constexpr size_t kLookupBatch = 1000;
constexpr uint64_t kDeltaPercent = 1;
constexpr int kReaderProcs[] = {1, 2, 4};
constexpr double kReaderSeconds = 0.3;

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

// One generated library and what every store's benchmarks share.
struct Library {
  int64_t n = 0;
  std::string dir;
  std::vector<TrackRecord> tracks;
  std::vector<TrackRecord> delta;
  uint64_t delta_new_ids = 0;
  std::vector<std::string> lookup_ids;
  std::map<std::string, std::string> bases;   // store name -> path of its saved copy
  std::map<std::string, std::string> errors;  // store name -> why its base is missing
  // Open readers of the bases, shared by Scan and Lookup (the reference's
  // open decodes the whole library: once is enough).
  std::map<std::string, std::unique_ptr<Reader>> readers;
};

struct Harness {
  std::string dir;
  std::vector<std::unique_ptr<Store>> stores;
  std::map<int64_t, std::unique_ptr<Library>> libraries;
  RssProbe rss_probe;

  ~Harness() {
    libraries.clear();
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

// merge_bench's delta: `percent` of the library, every tenth track a new
// id, the others changed copies of existing tracks, spread uniformly.
std::vector<TrackRecord> MakeDelta(const std::vector<TrackRecord>& tracks, uint64_t percent,
                                   uint64_t* new_ids) {
  const uint64_t n = tracks.size() * percent / 100;
  std::mt19937_64 rng(percent);
  std::vector<TrackRecord> delta;
  delta.reserve(n);
  *new_ids = 0;
  for (uint64_t k = 0; k < n; ++k) {
    TrackRecord t = tracks[rng() % tracks.size()];
    if (k % 10 == 9) {
      t.id = "new-" + std::to_string(k);
      ++*new_ids;
    } else {
      t.name += " (remastered)";
      t.year = "2024";
    }
    delta.push_back(std::move(t));
  }
  return delta;
}

Library* GetLibrary(benchmark::State& state) {
  const int64_t n = state.range(0);
  auto& slot = H().libraries[n];
  if (slot) return slot.get();
  const Clock::time_point start = Clock::now();
  auto lib = std::make_unique<Library>();
  lib->n = n;
  lib->dir = H().dir + "/" + std::to_string(n);
  std::filesystem::create_directories(lib->dir);
  lib->tracks = trackstore::GenerateLibrary(static_cast<uint64_t>(n));
  lib->delta = MakeDelta(lib->tracks, kDeltaPercent, &lib->delta_new_ids);
  std::mt19937_64 rng(kLookupSeed);
  std::uniform_int_distribution<size_t> pick(0, lib->tracks.size() - 1);
  lib->lookup_ids.reserve(kLookupIds);
  for (size_t i = 0; i < kLookupIds; ++i) lib->lookup_ids.push_back(lib->tracks[pick(rng)].id);
  std::fprintf(stderr, "store_bench: %lld tracks generated in %.2f s\n", static_cast<long long>(n),
               SecondsSince(start));
  slot = std::move(lib);
  return slot.get();
}

// The saved copy of `store` for `lib`, made on first use; nullptr after
// SkipWithError. A store without a writer reads trackstore's copy.
const std::string* Base(benchmark::State& state, Library* lib, Store* store) {
  if (!store->has_writer()) store = H().stores.front().get();
  const std::string name(store->name());
  if (auto it = lib->bases.find(name); it != lib->bases.end()) return &it->second;
  if (!lib->errors.contains(name)) {
    const std::string path = lib->dir + "/" + name + ".base";
    RemoveFiles(store->Files(path));
    const Clock::time_point start = Clock::now();
    Status s = store->Save(lib->tracks, path);
    if (s.ok()) {
      std::fprintf(stderr, "store_bench: %s: saved %lld tracks in %.2f s, %llu bytes\n",
                   name.c_str(), static_cast<long long>(lib->n), SecondsSince(start),
                   static_cast<unsigned long long>(FileBytes(store->Files(path))));
      return &(lib->bases[name] = path);
    }
    lib->errors[name] = "save: " + s.ToString();
  }
  state.SkipWithError(lib->errors[name].c_str());
  return nullptr;
}

bool Check(benchmark::State& state, const Status& s) {
  if (!s.ok()) state.SkipWithError(s.ToString().c_str());
  return s.ok();
}

// The timed loop of a manual-time benchmark: `setup` (untimed) then `timed`
// (timed), each returning false after SkipWithError.
template <typename Setup, typename Timed>
void ManualLoop(benchmark::State& state, Setup setup, Timed timed) {
  for (auto _ : state) {
    if (!setup()) break;
    const Clock::time_point start = Clock::now();
    const bool ok = timed();
    state.SetIterationTime(SecondsSince(start));
    if (!ok) break;
  }
}

// Runs `body` once untimed, then in the timed loop (as snapshot_bench: on
// this VM memory untouched for some seconds costs several times more on
// its first touch, and a 1M repetition is often a single iteration).
template <typename Body>
void Loop(benchmark::State& state, Body body) {
  if (!body()) return;
  for (auto _ : state) {
    if (!body()) break;
  }
}

// ---------------------------------------------------------------- workloads

void BM_Save(benchmark::State& state, Store* store) {
  Library* lib = GetLibrary(state);
  if (lib == nullptr || Base(state, lib, store) == nullptr) return;
  const std::string path = lib->dir + "/" + std::string(store->name()) + ".save";
  ManualLoop(
      state,
      [&] {
        RemoveFiles(store->Files(path));
        return true;
      },
      [&] { return Check(state, store->Save(lib->tracks, path)); });
  state.SetItemsProcessed(state.iterations() * lib->n);
  state.counters["store_bytes"] = static_cast<double>(FileBytes(store->Files(path)));
}

void BM_Open(benchmark::State& state, Store* store) {
  Library* lib = GetLibrary(state);
  const std::string* base = lib == nullptr ? nullptr : Base(state, lib, store);
  if (base == nullptr) return;
  std::unique_ptr<Reader> reader;
  uint64_t sum = 0;
  auto open = [&] {
    Result<std::unique_ptr<Reader>> r = store->Open(*base);
    if (!Check(state, r.status())) return false;
    reader = std::move(r).value();
    return Check(state, reader->ReadFirst(&sum));
  };
  ManualLoop(
      state,
      [&] {
        reader.reset();  // closing is not part of open-and-ready
        return true;
      },
      open);
  benchmark::DoNotOptimize(sum);
}

void BM_Verify(benchmark::State& state, Store* store) {
  Library* lib = GetLibrary(state);
  const std::string* base = lib == nullptr ? nullptr : Base(state, lib, store);
  if (base == nullptr) return;
  for (auto _ : state) {
    if (!Check(state, store->Verify(*base))) break;
  }
  state.SetItemsProcessed(state.iterations() * lib->n);
}

// The open reader of `store`'s base, ready for lookups, opened on first
// use; nullptr after SkipWithError.
Reader* BaseReader(benchmark::State& state, Library* lib, Store* store) {
  const std::string name(store->name());
  if (auto it = lib->readers.find(name); it != lib->readers.end()) return it->second.get();
  const std::string* base = Base(state, lib, store);
  if (base == nullptr) return nullptr;
  Result<std::unique_ptr<Reader>> r = store->Open(*base);
  if (!Check(state, r.status()) || !Check(state, (*r)->PrepareLookups())) return nullptr;
  return (lib->readers[name] = std::move(r).value()).get();
}

void BM_Scan(benchmark::State& state, Store* store) {
  Library* lib = GetLibrary(state);
  Reader* reader = lib == nullptr ? nullptr : BaseReader(state, lib, store);
  if (reader == nullptr) return;
  Loop(state, [&] {
    uint64_t count = 0, sum = 0;
    if (!Check(state, reader->Scan(&count, &sum))) return false;
    benchmark::DoNotOptimize(sum);
    if (count == static_cast<uint64_t>(lib->n)) return true;
    state.SkipWithError(("scan saw " + std::to_string(count) + " tracks").c_str());
    return false;
  });
  state.SetItemsProcessed(state.iterations() * lib->n);
}

void BM_Lookup(benchmark::State& state, Store* store) {
  Library* lib = GetLibrary(state);
  Reader* reader = lib == nullptr ? nullptr : BaseReader(state, lib, store);
  if (reader == nullptr) return;
  const std::span<const std::string> ids(lib->lookup_ids);
  size_t pos = 0;
  Loop(state, [&] {
    if (pos + kLookupBatch > ids.size()) pos = 0;
    uint64_t sum = 0;
    if (!Check(state, reader->Lookup(ids.subspan(pos, kLookupBatch), &sum))) return false;
    benchmark::DoNotOptimize(sum);
    pos += kLookupBatch;
    return true;
  });
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(kLookupBatch));
  state.counters["lookups_per_iteration"] = static_cast<double>(kLookupBatch);
}

void BM_Merge(benchmark::State& state, Store* store) {
  Library* lib = GetLibrary(state);
  const std::string* base = lib == nullptr ? nullptr : Base(state, lib, store);
  if (base == nullptr) return;
  const std::string work = lib->dir + "/" + std::string(store->name()) + ".merge";
  const std::vector<std::string> from = store->Files(*base), to = store->Files(work);
  ManualLoop(
      state,
      [&] {  // a fresh copy of the saved store, fsync'ed, in the page cache
        RemoveFiles(to);
        for (size_t i = 0; i < from.size(); ++i) {
          if (FileBytes({&from[i], 1}) == 0 && i > 0) continue;  // absent side file
          if (!Check(state, CopyFile(from[i], to[i]))) return false;
        }
        return true;
      },
      [&] { return Check(state, store->Merge(work, lib->delta)); });
  // The result must hold the library plus the new ids.
  Result<std::unique_ptr<Reader>> r = store->Open(work);
  uint64_t count = 0, sum = 0;
  if (!Check(state, r.status()) || !Check(state, (*r)->Scan(&count, &sum))) return;
  if (count != lib->tracks.size() + lib->delta_new_ids) {
    state.SkipWithError(("merged store holds " + std::to_string(count) + " tracks").c_str());
  }
  state.counters["delta_tracks"] = static_cast<double>(lib->delta.size());
}

void BM_Readers(benchmark::State& state, Store* store) {
  Library* lib = GetLibrary(state);
  const std::string* base = lib == nullptr ? nullptr : Base(state, lib, store);
  if (base == nullptr) return;
  const int procs = static_cast<int>(state.range(1));
  uint64_t lookups = 0;
  double seconds = 0;
  for (auto _ : state) {
    ReadersResult r;
    if (!Check(state, RunConcurrentReaders(store, *base, lib->lookup_ids, procs, kReaderSeconds,
                                           kLookupBatch, &r))) {
      break;
    }
    state.SetIterationTime(r.seconds);
    lookups += r.lookups;
    seconds += r.seconds;
  }
  state.counters["processes"] = procs;
  state.counters["lookups_per_second"] = seconds > 0 ? static_cast<double>(lookups) / seconds : 0;
}

void BM_PeakRss(benchmark::State& state, Store* store, int store_index) {
  Library* lib = GetLibrary(state);
  const std::string* base = lib == nullptr ? nullptr : Base(state, lib, store);
  if (base == nullptr) return;
  RssSample baseline, sample;
  if (!Check(state, H().rss_probe.Measure(-1, *base, &baseline))) return;
  for (auto _ : state) {
    if (!Check(state, H().rss_probe.Measure(store_index, *base, &sample))) break;
    state.SetIterationTime(sample.seconds);
  }
  if (sample.tracks != static_cast<uint64_t>(lib->n)) {
    state.SkipWithError(("scan saw " + std::to_string(sample.tracks) + " tracks").c_str());
    return;
  }
  const Store* owner = store->has_writer() ? store : H().stores.front().get();
  state.counters["peak_rss_bytes"] = static_cast<double>(sample.peak_rss_bytes);
  state.counters["baseline_rss_bytes"] = static_cast<double>(baseline.peak_rss_bytes);
  state.counters["rss_anon_bytes"] = static_cast<double>(sample.rss_anon_bytes);
  state.counters["rss_file_bytes"] = static_cast<double>(sample.rss_file_bytes);
  state.counters["store_bytes"] = static_cast<double>(FileBytes(owner->Files(*base)));
}

// ---------------------------------------------------------------- registration

enum class Timing { kReal, kManual };

struct Workload {
  const char* name;
  void (*fn)(benchmark::State&, Store*);
  Timing timing;
  benchmark::TimeUnit unit;
  double min_time;  // seconds, unless --benchmark_min_time is given
  bool needs_writer;
  bool needs_verify;
  // One repetition at 1M for a store whose every run decodes or encodes
  // the whole library as JSON (10-20 s each here), to keep the harness
  // within its time budget.
  bool once_if_whole_library;
};

// In running order: for each size, every store of a workload, then the next.
const Workload kWorkloads[] = {
    {"Save", BM_Save, Timing::kManual, benchmark::kMillisecond, 0.1, true, false, true},
    {"Open", BM_Open, Timing::kManual, benchmark::kMicrosecond, 0.2, false, false, false},
    {"Verify", BM_Verify, Timing::kReal, benchmark::kMillisecond, 0.2, false, true, false},
    {"Scan", BM_Scan, Timing::kReal, benchmark::kMillisecond, 0.2, false, false, false},
    {"Lookup", BM_Lookup, Timing::kReal, benchmark::kMicrosecond, 0.2, false, false, false},
    {"Merge", BM_Merge, Timing::kManual, benchmark::kMillisecond, 0.1, true, false, true},
};

void Register(bool user_min_time, bool user_repetitions) {
  for (size_t z = 0; z < std::size(kSizes); ++z) {
    const int64_t n = kSizes[z];
    auto defaults = [&](benchmark::internal::Benchmark* b, double min_time) {
      if (!user_min_time && min_time > 0) b->MinTime(min_time);
      if (!user_repetitions) b->Repetitions(kRepetitions[z])->ReportAggregatesOnly(true);
    };
    for (const Workload& w : kWorkloads) {
      for (const auto& store : H().stores) {
        if ((w.needs_writer && !store->has_writer()) || (w.needs_verify && !store->has_verify())) {
          continue;
        }
        const std::string name = std::string(w.name) + "/" + std::string(store->name());
        auto* b = benchmark::RegisterBenchmark(name.c_str(), w.fn, store.get());
        b->Arg(n)->Unit(w.unit);
        if (w.timing == Timing::kManual) b->UseManualTime();
        if (w.timing == Timing::kReal) b->UseRealTime();
        defaults(b, w.min_time);
        if (!user_repetitions && n >= 1'000'000 && w.once_if_whole_library &&
            store->loads_whole_library()) {
          b->Repetitions(1)->ReportAggregatesOnly(false);
        }
      }
    }
    for (const auto& store : H().stores) {
      const std::string name = "Readers/" + std::string(store->name());
      auto* b = benchmark::RegisterBenchmark(name.c_str(), BM_Readers, store.get());
      for (int procs : kReaderProcs) b->Args({n, procs});
      b->Unit(benchmark::kMillisecond)->UseManualTime()->Iterations(1);
      defaults(b, 0);
      if (!user_repetitions && n < 1'000'000) b->Repetitions(3);  // 45 runs of ~0.5 s
      // Every reference child decodes the whole library first (~15 s at 1M
      // here): one repetition, or this family alone would take minutes.
      if (!user_repetitions && n >= 1'000'000 && store->loads_whole_library()) {
        b->Repetitions(1)->ReportAggregatesOnly(false);
      }
    }
  }
  for (size_t i = 0; i < H().stores.size(); ++i) {
    Store* store = H().stores[i].get();
    const std::string name = "PeakRss/" + std::string(store->name());
    benchmark::RegisterBenchmark(name.c_str(), BM_PeakRss, store, static_cast<int>(i))
        ->Arg(kRssSize)
        ->Unit(benchmark::kMillisecond)
        ->UseManualTime()
        ->Iterations(1)
        ->Repetitions(1);
  }
}

}  // namespace
}  // namespace trackstore_bench

int main(int argc, char** argv) {
  using namespace trackstore_bench;
  // Read before Initialize, which removes the flags it consumes from argv.
  const bool user_min_time = trackstore_bench::HasFlag(argc, argv, "--benchmark_min_time");
  const bool user_repetitions = trackstore_bench::HasFlag(argc, argv, "--benchmark_repetitions");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  Harness& h = H();
  h.stores = AllStores();
  std::vector<Store*> stores;
  for (const auto& s : h.stores) stores.push_back(s.get());
  // Before anything large is allocated: the probe's children start from it.
  if (Status s = h.rss_probe.Start(stores); !s.ok()) {
    std::fprintf(stderr, "store_bench: %s\n", s.ToString().c_str());
    return 1;
  }
  char tmpl[] = "/tmp/trackstore-store-bench-XXXXXX";
  if (mkdtemp(tmpl) == nullptr) {
    std::perror("store_bench: mkdtemp");
    return 1;
  }
  h.dir = tmpl;
  std::string names;
  for (const auto& s : h.stores) names.append(" ").append(s->name());
  std::fprintf(stderr, "store_bench: stores:%s; files in %s\n", names.c_str(), h.dir.c_str());

  Register(user_min_time, user_repetitions);
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  return 0;
}
