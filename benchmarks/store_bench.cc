// benchmarks/store_bench.cc
//
// trackstore against the stores a user would pick instead, every
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
//             timed). Save/write-fsync: write(2) + fdatasync of a new file
//             of as many bytes as trackstore's saved file, the floor of
//             any durable save of them.
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
// The versioned Store (trackstore/store.h), whose directories are made once
// per size with Store::Replace and Store::Commit:
//   Commit/<store>/<tracks>/<percent>
//             a 1% and a 10% delta (as Merge's) applied and made durable.
//             trackstore: Store::Open + Store::Commit on a store holding the
//             library as one base fragment (writes one delta fragment and a
//             manifest). snapshot-file: trackstore's whole-file Merger (the
//             Merge row). sqlite, lmdb: their Merge. Manual time: the fresh
//             copy of the store each iteration starts from is not timed (a
//             Store is copied with its fragments hard-linked: they are
//             immutable). The reference is left out (see Merge).
//             write-fsync: write(2) + fdatasync of a new file of as many
//             bytes as trackstore's commit writes, the floor of any
//             durable write of them.
//   StoreOpen/{layered,compacted}
//             open-and-ready (Store::Open + Current + the first Find) of a
//             store holding the base + 4 commits of a different 1% delta
//             each, and of the same library compacted (Store::Compact)
//   StoreLookup/{layered,compacted}
//             the Lookup batches through Version::Find on the same two
//   Compact/trackstore
//             Store::Open + Store::Compact of the layered store (manual
//             time: its fresh copy is not timed); the baselines
//             Compact/memcpy copies as many bytes as the compacted fragments
//             hold, Compact/write-fsync writes and fdatasyncs them
// A console run ends with the ratios of the medians these rows are read by
// (median_ratios.h): each peer's commit over trackstore's, trackstore's
// over write-fsync, layered over compacted, compaction over its baselines.
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
// run decodes or encodes 1M tracks of JSON: 10-20 s). About 13 minutes
// on 2 shared vCPUs (the Store rows about 3-4 of them, most of it
// restoring the peers' 300-450 MB files before each timed commit).
// benchmarks/report.py turns the JSON output into
// doc/benchmarks/README.md; scripts/bench_peers.sh runs it all.
#include <fcntl.h>
#include <unistd.h>

#include <algorithm>
#include <cerrno>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <optional>
#include <random>
#include <span>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_flags.h"
#include "median_ratios.h"
#include "peers/files.h"
#include "peers/store.h"
#include "processes.h"
#include "trackstore/env.h"
#include "trackstore/store.h"
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
constexpr int64_t kCommitPercents[] = {1, 10};
constexpr uint64_t kLayers = 4;  // delta commits over the base of the layered store
constexpr int kReaderProcs[] = {1, 2, 4};
constexpr double kReaderSeconds = 0.3;

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

struct Delta {
  std::vector<TrackRecord> tracks;
  uint64_t new_ids = 0;
};

// One generated library and what every store's benchmarks share.
struct Library {
  int64_t n = 0;
  std::string dir;
  std::vector<TrackRecord> tracks;
  std::vector<TrackRecord> delta;
  uint64_t delta_new_ids = 0;
  std::vector<std::string> lookup_ids;
  std::map<int64_t, Delta> deltas;            // percent -> delta, other than 1 (`delta`)
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
// `round` > 0 gives the round-th of several different deltas (new ids
// prefixed "new<round>-", so that no two rounds add the same id).
std::vector<TrackRecord> MakeDelta(const std::vector<TrackRecord>& tracks, uint64_t percent,
                                   uint64_t* new_ids, uint64_t round = 0) {
  const uint64_t n = tracks.size() * percent / 100;
  std::mt19937_64 rng(percent + 1000 * round);
  const std::string prefix = round == 0 ? "new-" : "new" + std::to_string(round) + "-";
  std::vector<TrackRecord> delta;
  delta.reserve(n);
  *new_ids = 0;
  for (uint64_t k = 0; k < n; ++k) {
    TrackRecord t = tracks[rng() % tracks.size()];
    if (k % 10 == 9) {
      t.id = prefix + std::to_string(k);
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

// `delta` applied to a fresh copy of `store`'s base and made durable, in
// the timed loop; the result checked once after it.
void MergeLoop(benchmark::State& state, Library* lib, Store* store,
               std::span<const TrackRecord> delta, uint64_t delta_new_ids) {
  const std::string* base = Base(state, lib, store);
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
      [&] { return Check(state, store->Merge(work, delta)); });
  if (state.error_occurred()) return;
  // The result must hold the library plus the new ids.
  Result<std::unique_ptr<Reader>> r = store->Open(work);
  uint64_t count = 0, sum = 0;
  if (!Check(state, r.status()) || !Check(state, (*r)->Scan(&count, &sum))) return;
  if (count != lib->tracks.size() + delta_new_ids) {
    state.SkipWithError(("merged store holds " + std::to_string(count) + " tracks").c_str());
  }
  state.counters["delta_tracks"] = static_cast<double>(delta.size());
}

void BM_Merge(benchmark::State& state, Store* store) {
  Library* lib = GetLibrary(state);
  if (lib != nullptr) MergeLoop(state, lib, store, lib->delta, lib->delta_new_ids);
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

// ---------------------------------------------------------------- the Store

// The delta of `percent` (1 is the library's own `delta`).
const Delta& GetDelta(Library* lib, int64_t percent) {
  Delta& d = lib->deltas[percent];
  if (d.tracks.empty()) {
    if (percent == kDeltaPercent) {
      d.tracks = lib->delta;
      d.new_ids = lib->delta_new_ids;
    } else {
      d.tracks = MakeDelta(lib->tracks, static_cast<uint64_t>(percent), &d.new_ids);
    }
  }
  return d;
}

Status FsyncPath(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return trackstore::PosixError(path, errno);
  const int rc = ::fsync(fd);
  const int err = errno;
  ::close(fd);
  return rc == 0 ? Status::OK() : trackstore::PosixError(path, err);
}

// Makes `to` a copy of the store directory `from` as its writer left it:
// fragments hard-linked (they are immutable, and the links share the
// originals' page cache), manifests and states copied, the lock file and
// temporary files left out; everything fsync'ed, so that no dirty page or
// directory entry of the copy lands in the timed commit's fsyncs.
Status RestoreStoreDir(const std::string& from, const std::string& to) {
  namespace fs = std::filesystem;
  std::error_code ec;
  fs::remove_all(to, ec);
  if (ec) return Status::IOError(to, "remove_all: " + ec.message());
  std::vector<std::string> synced{to};
  fs::create_directories(to, ec);
  for (auto it = fs::recursive_directory_iterator(from, ec);
       !ec && it != fs::recursive_directory_iterator(); it.increment(ec)) {
    const fs::path rel = fs::relative(it->path(), from, ec);
    if (ec) break;
    const std::string dst = to + "/" + rel.string();
    const std::string top = rel.begin()->string();
    if (it->is_directory()) {
      fs::create_directories(dst, ec);
      synced.push_back(dst);
    } else if (top == "fragments") {
      fs::create_hard_link(it->path(), dst, ec);
    } else if (top != "tmp" && top != "LOCK") {
      fs::copy_file(it->path(), dst, ec);
      synced.push_back(dst);
    }
  }
  if (ec) return Status::IOError(to, "copying the store " + from + ": " + ec.message());
  for (auto i = synced.rbegin(); i != synced.rend(); ++i) {
    if (Status s = FsyncPath(*i); !s.ok()) return s;
  }
  return Status::OK();
}

trackstore::StoreOptions ReadOnly() {
  trackstore::StoreOptions options;
  options.create_if_missing = false;
  return options;
}

// A Store directory for `lib`, made on first use (printing how long it
// took); nullptr after SkipWithError.
//   "base"       Replace(library): one base fragment
//   "layered"    base + 4 commits of a different 1% delta each (no
//                automatic compaction)
//   "compacted"  a copy of "layered" after Store::Compact
const std::string* StoreDir(benchmark::State& state, Library* lib, const std::string& which) {
  const std::string key = "store:" + which;
  if (auto it = lib->bases.find(key); it != lib->bases.end()) return &it->second;
  if (!lib->errors.contains(key)) {
    const std::string dir = lib->dir + "/store." + which;
    const Clock::time_point start = Clock::now();
    Status s = Status::OK();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
    if (which == "compacted") {
      const std::string* layered = StoreDir(state, lib, "layered");
      if (layered == nullptr) return nullptr;
      s = RestoreStoreDir(*layered, dir);
    }
    Result<trackstore::Store> store =
        s.ok() ? trackstore::Store::Open(dir) : Result<trackstore::Store>(s);
    s = store.status();
    if (s.ok() && which == "compacted") s = store->Compact().status();
    if (s.ok() && which != "compacted") s = store->Replace(lib->tracks).status();
    trackstore::CommitOptions no_compaction;
    no_compaction.allow_compaction = false;
    for (uint64_t round = 1; s.ok() && which == "layered" && round <= kLayers; ++round) {
      uint64_t new_ids = 0;
      const std::vector<TrackRecord> delta = MakeDelta(lib->tracks, 1, &new_ids, round);
      s = store->Commit(delta, {}, no_compaction).status();
    }
    if (s.ok()) {
      Result<trackstore::Version> v = store->Current();
      s = v.status();
      if (s.ok()) {
        uint64_t bytes = 0;
        for (const trackstore::FragmentInfo& f : v->info().fragments) bytes += f.bytes;
        std::fprintf(stderr,
                     "store_bench: store %s: %llu tracks in %zu fragments, %llu bytes, "
                     "made in %.2f s\n",
                     which.c_str(), static_cast<unsigned long long>(v->size()),
                     v->info().fragments.size(), static_cast<unsigned long long>(bytes),
                     SecondsSince(start));
        return &(lib->bases[key] = dir);
      }
    }
    lib->errors[key] = "store " + which + ": " + s.ToString();
  }
  state.SkipWithError(lib->errors[key].c_str());
  return nullptr;
}

// Commit: the delta applied to a Store holding the library as one base
// fragment and made durable (Store::Open + Store::Commit, which writes one
// delta fragment and a manifest, fsync'ed). The peers' rows are their Merge
// on the same delta; trackstore's whole-file Merger is "snapshot-file".
void BM_StoreCommit(benchmark::State& state) {
  Library* lib = GetLibrary(state);
  const std::string* base = lib == nullptr ? nullptr : StoreDir(state, lib, "base");
  if (base == nullptr) return;
  const Delta& delta = GetDelta(lib, state.range(1));
  const std::string work = lib->dir + "/store.commit";
  trackstore::CommitStats stats;
  ManualLoop(
      state, [&] { return Check(state, RestoreStoreDir(*base, work)); },
      [&] {
        Result<trackstore::Store> store = trackstore::Store::Open(work);
        if (!Check(state, store.status())) return false;
        Result<trackstore::CommitStats> c = store->Commit(delta.tracks);
        if (!Check(state, c.status())) return false;
        stats = *c;
        return true;
      });
  if (state.error_occurred()) return;
  if (stats.track_count != lib->tracks.size() + delta.new_ids || stats.compacted) {
    state.SkipWithError(("committed store holds " + std::to_string(stats.track_count) + " tracks" +
                         (stats.compacted ? " (compacted)" : ""))
                            .c_str());
  }
  state.counters["delta_tracks"] = static_cast<double>(delta.tracks.size());
  state.counters["bytes_written"] = static_cast<double>(stats.bytes_written);
}

void BM_PeerCommit(benchmark::State& state, Store* store) {
  Library* lib = GetLibrary(state);
  if (lib == nullptr) return;
  const Delta& delta = GetDelta(lib, state.range(1));
  MergeLoop(state, lib, store, delta.tracks, delta.new_ids);
}

// Writes `bytes` bytes to a new file in the timed loop and fdatasyncs it:
// the least a durable write of that much can cost on this disk (manual
// time: removing the previous file is not timed).
void WriteFsyncLoop(benchmark::State& state, const std::string& path, uint64_t bytes) {
  const std::vector<char> data(bytes, 'x');
  ManualLoop(
      state,
      [&] {
        RemoveFiles({&path, 1});
        return true;
      },
      [&] {
        const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
        if (fd < 0) return Check(state, trackstore::PosixError(path, errno));
        size_t done = 0;
        while (done < data.size()) {
          const ssize_t n = ::write(fd, data.data() + done, data.size() - done);
          if (n <= 0) break;
          done += static_cast<size_t>(n);
        }
        const bool ok = done == data.size() && ::fdatasync(fd) == 0;
        const int err = errno;
        ::close(fd);
        return Check(state, ok ? Status::OK() : trackstore::PosixError(path, err));
      });
  RemoveFiles({&path, 1});
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.counters["bytes_written"] = static_cast<double>(bytes);
}

// The baseline of Commit/trackstore: write + fdatasync of as many bytes as
// its commit writes (found by one untimed commit of the same delta).
void BM_CommitWriteFsync(benchmark::State& state) {
  Library* lib = GetLibrary(state);
  const std::string* base = lib == nullptr ? nullptr : StoreDir(state, lib, "base");
  if (base == nullptr) return;
  const Delta& delta = GetDelta(lib, state.range(1));
  const std::string work = lib->dir + "/store.commit";
  if (!Check(state, RestoreStoreDir(*base, work))) return;
  Result<trackstore::Store> store = trackstore::Store::Open(work);
  Result<trackstore::CommitStats> c = store.ok() ? store->Commit(delta.tracks) : store.status();
  if (!Check(state, c.status())) return;
  WriteFsyncLoop(state, lib->dir + "/write-fsync", c->bytes_written);
}

// The baseline of Save/trackstore: write + fdatasync of as many bytes as
// trackstore's saved file holds, the floor of any durable save of them.
void BM_SaveWriteFsync(benchmark::State& state) {
  Library* lib = GetLibrary(state);
  Store* trackstore = H().stores.front().get();
  const std::string* base = lib == nullptr ? nullptr : Base(state, lib, trackstore);
  if (base == nullptr) return;
  WriteFsyncLoop(state, lib->dir + "/save-write-fsync", FileBytes(trackstore->Files(*base)));
}

// Open-and-ready of a Store: Store::Open + Current() + the first lookup's
// Find (manual time: dropping the previous handles is not timed).
void BM_StoreOpen(benchmark::State& state, const char* which) {
  Library* lib = GetLibrary(state);
  const std::string* dir = lib == nullptr ? nullptr : StoreDir(state, lib, which);
  if (dir == nullptr) return;
  std::optional<trackstore::Store> store;
  std::optional<trackstore::Version> version;
  uint64_t sum = 0;
  ManualLoop(
      state,
      [&] {
        version.reset();
        store.reset();
        return true;
      },
      [&] {
        Result<trackstore::Store> s = trackstore::Store::Open(*dir, ReadOnly());
        if (!Check(state, s.status())) return false;
        store.emplace(std::move(s).value());
        Result<trackstore::Version> v = store->Current();
        if (!Check(state, v.status())) return false;
        version.emplace(std::move(v).value());
        const std::optional<trackstore::TrackView> t = version->Find(lib->lookup_ids.front());
        if (!t) {
          state.SkipWithError("first lookup: not found");
          return false;
        }
        sum += Touch(t->name());
        return true;
      });
  benchmark::DoNotOptimize(sum);
  if (version) state.counters["fragments"] = static_cast<double>(version->info().fragments.size());
}

// Batches of 1,000 random lookups by id (Version::Find, reading the name),
// the same id sequence as Lookup.
void BM_StoreLookup(benchmark::State& state, const char* which) {
  Library* lib = GetLibrary(state);
  const std::string* dir = lib == nullptr ? nullptr : StoreDir(state, lib, which);
  if (dir == nullptr) return;
  Result<trackstore::Store> store = trackstore::Store::Open(*dir, ReadOnly());
  if (!Check(state, store.status())) return;
  Result<trackstore::Version> version = store->Current();
  if (!Check(state, version.status())) return;
  const std::span<const std::string> ids(lib->lookup_ids);
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
  state.counters["fragments"] = static_cast<double>(version->info().fragments.size());
}

// The bytes of the compacted store's fragments (the compaction's output).
uint64_t CompactedBytes(benchmark::State& state, Library* lib) {
  const std::string* dir = StoreDir(state, lib, "compacted");
  if (dir == nullptr) return 0;
  Result<trackstore::Store> store = trackstore::Store::Open(*dir, ReadOnly());
  Result<trackstore::Version> v = store.ok() ? store->Current() : store.status();
  if (!Check(state, v.status())) return 0;
  uint64_t bytes = 0;
  for (const trackstore::FragmentInfo& f : v->info().fragments) bytes += f.bytes;
  return bytes;
}

// Compaction of the layered store (Store::Open + Store::Compact: the
// deltas folded into a new base, fsync'ed; manual time: the fresh copy of
// the layered store it starts from is not timed).
void BM_StoreCompact(benchmark::State& state) {
  Library* lib = GetLibrary(state);
  const std::string* layered = lib == nullptr ? nullptr : StoreDir(state, lib, "layered");
  const uint64_t bytes = layered == nullptr ? 0 : CompactedBytes(state, lib);
  if (bytes == 0) return;
  const std::string work = lib->dir + "/store.compact";
  trackstore::CommitStats stats;
  ManualLoop(
      state, [&] { return Check(state, RestoreStoreDir(*layered, work)); },
      [&] {
        Result<trackstore::Store> store = trackstore::Store::Open(work);
        if (!Check(state, store.status())) return false;
        Result<trackstore::CommitStats> c = store->Compact();
        if (!Check(state, c.status())) return false;
        stats = *c;
        return true;
      });
  if (!state.error_occurred() && !stats.compacted) state.SkipWithError("nothing compacted");
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.counters["output_bytes"] = static_cast<double>(bytes);
}

// A baseline: write + fdatasync of as many bytes as the compaction writes.
void BM_CompactWriteFsync(benchmark::State& state) {
  Library* lib = GetLibrary(state);
  const uint64_t bytes = lib == nullptr ? 0 : CompactedBytes(state, lib);
  if (bytes > 0) WriteFsyncLoop(state, lib->dir + "/write-fsync", bytes);
}

// A baseline: memcpy of as many bytes as the compaction writes, between
// two buffers touched beforehand.
void BM_CompactMemcpy(benchmark::State& state) {
  Library* lib = GetLibrary(state);
  const uint64_t bytes = lib == nullptr ? 0 : CompactedBytes(state, lib);
  if (bytes == 0) return;
  std::vector<char> src(bytes, 1), dst(bytes, 2);
  Loop(state, [&] {
    std::memcpy(dst.data(), src.data(), src.size());
    benchmark::ClobberMemory();
    return true;
  });
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(bytes));
  state.counters["output_bytes"] = static_cast<double>(bytes);
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

// The label of a peer's row in the Commit family: trackstore's Merge
// rewrites the whole snapshot file.
std::string CommitLabel(const Store& store) {
  return store.name() == "trackstore" ? "snapshot-file" : std::string(store.name());
}

// Commit, StoreOpen, StoreLookup and Compact at size kSizes[z].
void RegisterStoreWorkloads(size_t z, bool user_min_time, bool user_repetitions) {
  const int64_t n = kSizes[z];
  auto defaults = [&](benchmark::internal::Benchmark* b, double min_time) {
    if (!user_min_time) b->MinTime(min_time);
    if (!user_repetitions) b->Repetitions(kRepetitions[z])->ReportAggregatesOnly(true);
  };
  auto commit = [&](benchmark::internal::Benchmark* b) {
    for (int64_t percent : kCommitPercents) b->Args({n, percent});
    b->Unit(benchmark::kMillisecond)->UseManualTime();
    defaults(b, 0.1);
  };
  commit(benchmark::RegisterBenchmark("Commit/trackstore", BM_StoreCommit));
  commit(benchmark::RegisterBenchmark("Commit/write-fsync", BM_CommitWriteFsync));
  for (const auto& store : H().stores) {
    // Not the reference: every merge of it decodes and encodes the whole
    // library (Merge has its row).
    if (!store->has_writer() || store->loads_whole_library()) continue;
    const std::string name = "Commit/" + CommitLabel(*store);
    commit(benchmark::RegisterBenchmark(name.c_str(), BM_PeerCommit, store.get()));
  }
  for (const char* which : {"layered", "compacted"}) {
    auto* open = benchmark::RegisterBenchmark((std::string("StoreOpen/") + which).c_str(),
                                              BM_StoreOpen, which);
    open->Arg(n)->Unit(benchmark::kMicrosecond)->UseManualTime();
    defaults(open, 0.2);
    auto* lookup = benchmark::RegisterBenchmark((std::string("StoreLookup/") + which).c_str(),
                                                BM_StoreLookup, which);
    lookup->Arg(n)->Unit(benchmark::kMicrosecond)->UseRealTime();
    defaults(lookup, 0.2);
  }
  auto* compact = benchmark::RegisterBenchmark("Compact/trackstore", BM_StoreCompact);
  compact->Arg(n)->Unit(benchmark::kMillisecond)->UseManualTime();
  defaults(compact, 0.1);
  auto* sync = benchmark::RegisterBenchmark("Compact/write-fsync", BM_CompactWriteFsync);
  sync->Arg(n)->Unit(benchmark::kMillisecond)->UseManualTime();
  defaults(sync, 0.1);
  auto* copy = benchmark::RegisterBenchmark("Compact/memcpy", BM_CompactMemcpy);
  copy->Arg(n)->Unit(benchmark::kMillisecond)->UseRealTime();
  defaults(copy, 0.2);
}

// The ratios printed at the end of a console run.
void AddRatios(MedianRatioReporter* reporter) {
  for (int64_t n : kSizes) {
    const std::string size = "/" + std::to_string(n);
    reporter->AddRatio(
        "save at " + std::to_string(n) + ": trackstore / write+fdatasync of its bytes",
        "Save/trackstore" + size, "Save/write-fsync" + size);
    for (const auto& store : H().stores) {
      if (!store->has_writer() || store->name() == "trackstore") continue;
      const std::string name(store->name());
      reporter->AddRatio("save at " + std::to_string(n) + ": " + name + " / trackstore",
                         "Save/" + name + size, "Save/trackstore" + size);
    }
    for (int64_t percent : kCommitPercents) {
      const std::string arg = size + "/" + std::to_string(percent);
      const std::string what = "commit " + std::to_string(percent) + "% at " + std::to_string(n);
      reporter->AddRatio(what + ": trackstore / write+fdatasync of its bytes",
                         "Commit/trackstore" + arg, "Commit/write-fsync" + arg);
      for (const auto& store : H().stores) {
        if (!store->has_writer() || store->loads_whole_library()) continue;
        const std::string label = CommitLabel(*store);
        reporter->AddRatio(what + ": " + label + " / trackstore", "Commit/" + label + arg,
                           "Commit/trackstore" + arg);
      }
    }
    reporter->AddRatio("open-and-ready at " + std::to_string(n) + ": layered / compacted",
                       "StoreOpen/layered" + size, "StoreOpen/compacted" + size);
    reporter->AddRatio("lookup at " + std::to_string(n) + ": layered / compacted",
                       "StoreLookup/layered" + size, "StoreLookup/compacted" + size);
    reporter->AddRatio("compaction at " + std::to_string(n) + ": compact / memcpy of its output",
                       "Compact/trackstore" + size, "Compact/memcpy" + size);
    reporter->AddRatio(
        "compaction at " + std::to_string(n) + ": compact / write+fdatasync of its output",
        "Compact/trackstore" + size, "Compact/write-fsync" + size);
  }
}

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
  for (size_t z = 0; z < std::size(kSizes); ++z) {
    auto* b = benchmark::RegisterBenchmark("Save/write-fsync", BM_SaveWriteFsync);
    b->Arg(kSizes[z])->Unit(benchmark::kMillisecond)->UseManualTime();
    if (!user_min_time) b->MinTime(0.1);
    if (!user_repetitions) b->Repetitions(kRepetitions[z])->ReportAggregatesOnly(true);
  }
  for (size_t z = 0; z < std::size(kSizes); ++z)
    RegisterStoreWorkloads(z, user_min_time, user_repetitions);
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
  const bool user_format = trackstore_bench::HasFlag(argc, argv, "--benchmark_format");
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
  if (user_format) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    MedianRatioReporter reporter;
    AddRatios(&reporter);
    benchmark::RunSpecifiedBenchmarks(&reporter);
  }
  benchmark::Shutdown();
  return 0;
}
