// benchmarks/merge_bench.cc
//
// The zero-copy merge and the snapshot diff beside baselines measured in the
// same run: memcpy of the merged output's bytes (the least a merge
// producing a new file can do), decode-merge-encode (the naive approach: every
// track decoded into an owning record, merged by id, encoded again), XXH3 of
// both files' bytes (the least a diff that reads everything can do), and
// decode-both-and-compare (the naive diff).
//
// Arguments: track count, percentage of tracks in the delta. A delta holds
// 90% changed existing tracks (spread uniformly) and 10% new ids. Files stay
// in the page cache. Run with --benchmark_repetitions=5
// --benchmark_report_aggregates_only=true for medians.
#include <xxh_x86dispatch.h>

#include <algorithm>
#include <cstring>
#include <filesystem>
#include <map>
#include <memory>
#include <random>
#include <string>
#include <unordered_map>
#include <vector>

#include <benchmark/benchmark.h>

#include "bench_flags.h"
#include "median_ratios.h"

#include "trackstore/diff.h"
#include "trackstore/merge.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/synthetic.h"

namespace trackstore {
namespace {

// One generated library with a delta, written once per (size, percent).
struct Fixture {
  std::string dir;
  std::vector<TrackRecord> tracks;
  std::vector<TrackRecord> delta;
  std::unique_ptr<Snapshot> base;      // the library
  std::unique_ptr<Snapshot> merged;    // base + delta (shares base's order)
  std::unique_ptr<Snapshot> shuffled;  // merged's tracks in a random order
  uint64_t merged_bytes = 0;
};

std::string TempDir() {
  static std::string dir = [] {
    std::string tmpl = (std::filesystem::temp_directory_path() / "trackstore-mbench-XXXXXX");
    if (mkdtemp(tmpl.data()) == nullptr) std::abort();
    std::atexit([] { std::filesystem::remove_all(TempDir()); });
    return tmpl;
  }();
  return dir;
}

std::unique_ptr<Snapshot> WriteAndOpen(const std::string& path,
                                       const std::vector<TrackRecord>& tracks) {
  WriteOptions options;
  options.sync = false;
  if (!WriteSnapshot(path, tracks, options).ok()) std::abort();
  Result<Snapshot> snap = Snapshot::Open(path);
  if (!snap.ok()) std::abort();
  return std::make_unique<Snapshot>(std::move(snap.value()));
}

std::vector<TrackRecord> MakeDelta(const std::vector<TrackRecord>& tracks, uint64_t percent) {
  const uint64_t n = tracks.size() * percent / 100;
  std::mt19937_64 rng(percent);
  std::vector<TrackRecord> delta;
  delta.reserve(n);
  for (uint64_t k = 0; k < n; ++k) {
    if (k % 10 == 9) {  // a new id
      TrackRecord t = tracks[rng() % tracks.size()];
      t.id = "new-" + std::to_string(k);
      delta.push_back(std::move(t));
    } else {
      TrackRecord t = tracks[rng() % tracks.size()];
      t.name += " (remastered)";
      t.year = "2024";
      delta.push_back(std::move(t));
    }
  }
  return delta;
}

Fixture& Get(uint64_t count, uint64_t percent) {
  static std::map<std::pair<uint64_t, uint64_t>, std::unique_ptr<Fixture>> cache;
  auto& slot = cache[{count, percent}];
  if (slot) return *slot;
  slot = std::make_unique<Fixture>();
  Fixture& f = *slot;
  const std::string prefix =
      TempDir() + "/" + std::to_string(count) + "-" + std::to_string(percent);
  f.tracks = GenerateLibrary(count);
  f.delta = MakeDelta(f.tracks, percent);
  f.base = WriteAndOpen(prefix + "-base.snap", f.tracks);
  Merger merger;
  WriteOptions options;
  options.sync = false;
  Result<MergeStats> stats = merger.Merge(*f.base, f.delta, prefix + "-merged.snap", options);
  if (!stats.ok()) std::abort();
  f.merged_bytes = stats->written.file_size;
  f.merged = std::make_unique<Snapshot>(std::move(Snapshot::Open(prefix + "-merged.snap").value()));
  std::vector<TrackRecord> shuffled;
  shuffled.reserve(f.merged->size());
  for (TrackView t : *f.merged) shuffled.push_back(t.ToRecord());
  std::shuffle(shuffled.begin(), shuffled.end(), std::mt19937_64(3));
  f.shuffled = WriteAndOpen(prefix + "-shuffled.snap", shuffled);
  return f;
}

// Runs `body` once untimed (first touch of fresh memory costs several times
// more on this VM), then the timed loop.
template <typename Body>
void Loop(benchmark::State& state, Body body) {
  body();
  for (auto _ : state) body();
}

void BM_Merge_ZeroCopy(benchmark::State& state) {
  Fixture& f = Get(state.range(0), state.range(1));
  Merger merger;
  EncodedView view;
  Loop(state, [&] {
    if (!merger.EncodeView(*f.base, f.delta, &view).ok()) state.SkipWithError("merge failed");
    benchmark::DoNotOptimize(view.payload.data());
  });
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(f.merged_bytes));
}

void BM_Merge_ZeroCopyToFile(benchmark::State& state) {
  Fixture& f = Get(state.range(0), state.range(1));
  Merger merger;
  WriteOptions options;
  options.sync = false;  // before fsync, as the issue asks
  const std::string path = TempDir() + "/out.snap";
  Loop(state, [&] {
    if (!merger.Merge(*f.base, f.delta, path, options).ok()) state.SkipWithError("merge failed");
  });
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(f.merged_bytes));
}

// The naive merge: decode every track, merge by id, encode again.
void BM_Merge_BaselineDecodeMergeEncode(benchmark::State& state) {
  Fixture& f = Get(state.range(0), state.range(1));
  SnapshotWriter writer;
  EncodedView view;
  Loop(state, [&] {
    std::unordered_map<std::string_view, const TrackRecord*> updates;
    std::vector<const TrackRecord*> order;
    for (const TrackRecord& t : f.delta) {
      auto [it, inserted] = updates.try_emplace(t.id, &t);
      if (inserted) order.push_back(&t);
      it->second = &t;
    }
    std::vector<TrackRecord> merged;
    merged.reserve(f.base->size() + order.size());
    for (TrackView t : *f.base) {
      auto it = updates.find(t.id());
      merged.push_back(it == updates.end() ? t.ToRecord() : *it->second);
      if (it != updates.end()) updates.erase(it);
    }
    for (const TrackRecord* t : order) {
      if (updates.count(t->id)) merged.push_back(*updates[t->id]);
    }
    if (!writer.EncodeView(merged, &view).ok()) state.SkipWithError("encode failed");
    benchmark::DoNotOptimize(view.payload.data());
  });
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(f.merged_bytes));
}

void BM_Merge_BaselineMemcpy(benchmark::State& state) {
  Fixture& f = Get(state.range(0), state.range(1));
  std::vector<char> dst(f.merged_bytes, 1);
  const std::string src = [&] {
    std::string bytes(f.merged_bytes, 0);
    FILE* in = std::fopen(f.merged->path().c_str(), "rb");
    if (in == nullptr || std::fread(bytes.data(), 1, bytes.size(), in) != bytes.size())
      std::abort();
    std::fclose(in);
    return bytes;
  }();
  Loop(state, [&] {
    std::memcpy(dst.data(), src.data(), src.size());
    benchmark::ClobberMemory();
  });
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(f.merged_bytes));
}

void BM_Diff_SharedOrder(benchmark::State& state) {
  Fixture& f = Get(state.range(0), state.range(1));
  Loop(state, [&] { benchmark::DoNotOptimize(Diff(*f.base, *f.merged).updated.size()); });
}

void BM_Diff_Shuffled(benchmark::State& state) {
  Fixture& f = Get(state.range(0), state.range(1));
  Loop(state, [&] { benchmark::DoNotOptimize(Diff(*f.base, *f.shuffled).updated.size()); });
}

// The least a diff that reads both files can cost.
void BM_Diff_BaselineXXH3BothFiles(benchmark::State& state) {
  Fixture& f = Get(state.range(0), state.range(1));
  std::vector<std::string> files;
  for (const Snapshot* s : {f.base.get(), f.merged.get()}) {
    std::string bytes(s->file_size(), 0);
    FILE* in = std::fopen(s->path().c_str(), "rb");
    if (in == nullptr || std::fread(bytes.data(), 1, bytes.size(), in) != bytes.size())
      std::abort();
    std::fclose(in);
    files.push_back(std::move(bytes));
  }
  Loop(state, [&] {
    for (const std::string& bytes : files) {
      benchmark::DoNotOptimize(XXH3_128bits(bytes.data(), bytes.size()));
    }
  });
}

// The naive diff: decode both snapshots into records, index A by id,
// compare every common track field by field.
void BM_Diff_BaselineDecodeCompare(benchmark::State& state) {
  Fixture& f = Get(state.range(0), state.range(1));
  Loop(state, [&] {
    std::vector<TrackRecord> a, b;
    a.reserve(f.base->size());
    b.reserve(f.shuffled->size());
    for (TrackView t : *f.base) a.push_back(t.ToRecord());
    for (TrackView t : *f.shuffled) b.push_back(t.ToRecord());
    std::unordered_map<std::string_view, const TrackRecord*> by_id;
    by_id.reserve(a.size());
    for (const TrackRecord& t : a) by_id.emplace(t.id, &t);
    std::vector<std::string> added, updated, removed;
    for (const TrackRecord& t : b) {
      auto it = by_id.find(t.id);
      if (it == by_id.end()) {
        added.push_back(t.id);
      } else {
        if (!(*it->second == t)) updated.push_back(t.id);
        by_id.erase(it);
      }
    }
    for (const auto& [id, t] : by_id) removed.emplace_back(id);
    std::sort(added.begin(), added.end());
    std::sort(updated.begin(), updated.end());
    std::sort(removed.begin(), removed.end());
    benchmark::DoNotOptimize(updated.size());
  });
}

void Sizes(benchmark::internal::Benchmark* b) {
  b->Args({1'000'000, 1})->Args({1'000'000, 10})->Unit(benchmark::kMillisecond)->UseRealTime();
}

BENCHMARK(BM_Merge_ZeroCopy)->Apply(Sizes);
BENCHMARK(BM_Merge_ZeroCopyToFile)->Apply(Sizes);
BENCHMARK(BM_Merge_BaselineMemcpy)->Apply(Sizes);
BENCHMARK(BM_Merge_BaselineDecodeMergeEncode)->Apply(Sizes);
BENCHMARK(BM_Diff_SharedOrder)->Apply(Sizes);
BENCHMARK(BM_Diff_Shuffled)->Apply(Sizes);
BENCHMARK(BM_Diff_BaselineXXH3BothFiles)->Apply(Sizes);
BENCHMARK(BM_Diff_BaselineDecodeCompare)->Apply(Sizes);

}  // namespace
}  // namespace trackstore

// A console run ends with the ratios of the medians (median_ratios.h).
int main(int argc, char** argv) {
  const bool user_format = trackstore_bench::HasFlag(argc, argv, "--benchmark_format");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  if (user_format) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    trackstore_bench::MedianRatioReporter reporter;
    for (const char* percent : {"1", "10"}) {
      const std::string arg = std::string("/1000000/") + percent;
      reporter.AddRatio(
          std::string("merge ") + percent + "% at 1M: zero-copy / memcpy of its output",
          "BM_Merge_ZeroCopy" + arg, "BM_Merge_BaselineMemcpy" + arg);
      reporter.AddRatio(
          std::string("merge ") + percent + "% at 1M: decode-merge-encode / zero-copy",
          "BM_Merge_BaselineDecodeMergeEncode" + arg, "BM_Merge_ZeroCopy" + arg);
    }
    benchmark::RunSpecifiedBenchmarks(&reporter);
  }
  benchmark::Shutdown();
  return 0;
}
