// benchmarks/snapshot_bench.cc
//
// trackstore snapshots beside baselines measured in the same run: every
// trackstore figure has a neighbour that does the least work the operation
// could possibly do (memcpy, write(2), XXH3 of the same bytes)
// and one that does it the plain FlatBuffers way (one table per track in a
// vector sorted by id: baseline/track_table.fbs). Compare ratios within one
// run, never figures across runs (they move 1.4-1.6x here).
//
// Each benchmark runs at 10k, 100k and 1M tracks from GenerateLibrary(n). The
// library, its snapshot file, the table-per-track file and a random id
// sequence are built once per size (lazily, outside the timed loops) and kept
// in a temporary directory /tmp/trackstore-bench-XXXXXX, removed at exit.
// Files are in the page cache (warm) throughout: no figure here includes a
// disk read.
//
// Families (argument = track count):
//   Write   BM_Write_Encode                  SnapshotWriter::Encode into a reused std::string
//           BM_Write_EncodeNoUtf8Check       the same with WriteOptions::validate_utf8=false
//           BM_Write_File                    SnapshotWriter::Write, sync=false (temp+rename)
//           BM_Write_BaselineMemcpy          memcpy of the output bytes to a touched buffer
//           BM_Write_BaselineWriteSyscall    write(2) of the output bytes to a new file +
//                                            rename, no fsync: the file-path cost alone
//           BM_Write_BaselineFlatBuffersBuild  one table per track, reused pre-sized builder
//   Open    BM_Open_Verified                 Snapshot::Open (header, Verifier, layout, hash)
//           BM_Open_Trusted                  Snapshot::OpenTrusted (O(1))
//           BM_Open_BaselineXXH3             XXH3-128 of the file bytes, already mapped, warm
//           BM_Open_BaselineMmapXXH3         open+mmap+XXH3-128+munmap, fresh mapping
//           BM_Open_BaselineMmapPopulateXXH3 the same with MAP_POPULATE
//           BM_Open_BaselineFlatBuffersVerifier  stock Verifier over one table per track
//           BM_Verify                        Snapshot::Verify on an open snapshot
//   Scan    BM_Scan_IdName / BM_Scan_AllFields, trackstore TrackView in library order
//           BM_Scan_AllFieldsByColumn        all fields, one column at a time (Snapshot::column)
//           BM_Scan_BaselineFlatBuffersIdName / ...AllFields, table per track
//           BM_Scan_BaselineMemcpy           memcpy of the snapshot file's bytes
//   Lookup  BM_Lookup_Find                   Snapshot::Find (hash index in the file)
//           BM_Lookup_BaselineLookupByKey    binary search of the sorted table vector
//
// Every benchmark that walks the whole data set runs its body once untimed
// before the timed loop (Loop below): at 1M tracks a repetition is often a
// single iteration, and on this VM memory left untouched for some tens of
// seconds costs several times more on its first touch.
//
// A scan reads, for every string it visits, its length and its first byte:
// the length alone would let a columnar layout answer from the offsets
// vector without touching the string bytes.
//
// Repetitions and minimum time: unless the command line says otherwise, each
// benchmark runs 5 repetitions and reports only the aggregates (mean, median,
// stddev, cv), with a per-family minimum time that keeps the whole binary
// under 5 minutes on the 2-vCPU development VM. --benchmark_repetitions=N or
// --benchmark_min_time=S on the command line replace those defaults (with
// --benchmark_repetitions, pass --benchmark_report_aggregates_only=true as
// well to get medians only). See README.md and ratios.py.
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxh_x86dispatch.h>  // XXH3_128bits -> the AVX2 dispatch entry point

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
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>
#include <flatbuffers/flatbuffers.h>

#include "baseline/track_table_builder.h"
#include "bench_flags.h"
#include "median_ratios.h"
#include "track_table_generated.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/synthetic.h"
#include "trackstore/track.h"

namespace {

namespace fbt = trackstore_bench::fb;
using trackstore::Snapshot;
using trackstore::SnapshotWriter;
using trackstore::TrackRecord;
using trackstore::TrackView;

constexpr int64_t kSizes[] = {10'000, 100'000, 1'000'000};
constexpr size_t kLookupIds = 1'000'000;  // random ids per size, drawn with replacement
constexpr uint64_t kLookupSeed = 20240229;

// A read-only mapping of a whole file; unmapped on destruction.
class Mapping {
 public:
  Mapping() = default;
  Mapping(const Mapping&) = delete;
  Mapping& operator=(const Mapping&) = delete;
  ~Mapping() {
    if (data_ != nullptr) munmap(const_cast<uint8_t*>(data_), size_);
  }

  // Maps `path`; `flags` is added to MAP_PRIVATE (e.g. MAP_POPULATE).
  bool Map(const std::string& path, int flags, std::string* error) {
    const int fd = open(path.c_str(), O_RDONLY | O_CLOEXEC);
    if (fd < 0) return Fail(path, error);
    struct stat st;
    if (fstat(fd, &st) != 0) {
      close(fd);
      return Fail(path, error);
    }
    void* p = mmap(nullptr, static_cast<size_t>(st.st_size), PROT_READ, MAP_PRIVATE | flags, fd, 0);
    close(fd);
    if (p == MAP_FAILED) return Fail(path, error);
    data_ = static_cast<const uint8_t*>(p);
    size_ = static_cast<size_t>(st.st_size);
    return true;
  }
  const uint8_t* data() const { return data_; }
  size_t size() const { return size_; }

 private:
  static bool Fail(const std::string& path, std::string* error) {
    *error = path + ": " + std::strerror(errno);
    return false;
  }
  const uint8_t* data_ = nullptr;
  size_t size_ = 0;
};

// Writes `size` bytes to a new file `tmp` with write(2), closes it and
// renames it over `path`; no fsync. What SnapshotWriter::Write with
// sync=false must do at least, given its bytes.
bool WriteNewFile(const std::string& tmp, const std::string& path, const char* data, size_t size) {
  const int fd = open(tmp.c_str(), O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
  if (fd < 0) return false;
  while (size > 0) {
    const ssize_t n = write(fd, data, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) {
      close(fd);
      unlink(tmp.c_str());
      return false;
    }
    data += n;
    size -= static_cast<size_t>(n);
  }
  if (close(fd) != 0) return false;
  return rename(tmp.c_str(), path.c_str()) == 0;
}

// The plain FlatBuffers approach: one TrackTable per track, strings not
// shared, the vector sorted by id. `builder` and `offsets` are reused.
void BuildTableLibrary(const std::vector<TrackRecord>& tracks, flatbuffers::FlatBufferBuilder* fbb,
                       std::vector<flatbuffers::Offset<fbt::TrackTable>>* offsets) {
  fbb->Clear();
  offsets->clear();
  for (const TrackRecord& t : tracks) {
    offsets->push_back(trackstore_bench::BuildTrackTable(t, fbb));
  }
  const auto vec = fbb->CreateVectorOfSortedTables(offsets);
  fbt::FinishTrackLibraryBuffer(*fbb, fbt::CreateTrackLibrary(*fbb, vec));
}

// Everything the benchmarks of one size read. Built once, never freed before exit.
struct Fixture {
  int64_t n = 0;
  std::vector<TrackRecord> tracks;
  uint64_t input_bytes = 0;  // the records plus their heap-allocated strings

  SnapshotWriter writer;         // reused by Encode/Write: its buffers stay warm
  std::string image;             // the snapshot file's bytes, from Encode
  std::string encode_out;        // Encode's reused output
  std::string snap_path;         // the snapshot file, opened by the Open benchmarks
  std::string write_path;        // target of BM_Write_File
  std::string syscall_path;      // target of BM_Write_BaselineWriteSyscall
  Mapping snap_map;              // snap_path, mapped once and warm
  std::optional<Snapshot> snap;  // snap_path, opened (verified) once

  std::unique_ptr<flatbuffers::FlatBufferBuilder> fbb;  // reused, pre-sized
  std::vector<flatbuffers::Offset<fbt::TrackTable>> fb_offsets;
  std::string fb_path;  // the table-per-track buffer as a file
  Mapping fb_map;       // fb_path, mapped once and warm
  const fbt::TrackLibrary* fb_root = nullptr;

  std::vector<std::string> lookup_ids;
  std::vector<char> scratch;  // memcpy destination, touched

  double snap_bytes_per_track() const { return double(image.size()) / double(n); }
  double fb_bytes_per_track() const { return double(fb_map.size()) / double(n); }
};

// The temporary directory and the fixtures in it. The fixtures are declared
// after the directory, so they are destroyed (files unmapped) before it is removed.
struct BenchEnv {
  std::string dir;
  std::map<int64_t, std::unique_ptr<Fixture>> fixtures;
  std::map<int64_t, std::string> errors;

  BenchEnv() {
    char tmpl[] = "/tmp/trackstore-bench-XXXXXX";
    if (mkdtemp(tmpl) == nullptr) {
      std::fprintf(stderr, "snapshot_bench: mkdtemp: %s\n", std::strerror(errno));
      std::exit(1);
    }
    dir = tmpl;
  }
  ~BenchEnv() {
    fixtures.clear();
    std::error_code ec;
    std::filesystem::remove_all(dir, ec);
  }
};

BenchEnv& Bench() {
  static BenchEnv env;
  return env;
}

double SecondsSince(std::chrono::steady_clock::time_point start) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - start).count();
}

// What Encode reads for one track: the record and the strings it owns on
// the heap (those longer than the small-string buffer).
uint64_t InputBytes(const TrackRecord& t) {
  auto heap = [&t](const std::string& s) {
    const bool inline_buffer = s.data() >= reinterpret_cast<const char*>(&t) &&
                               s.data() < reinterpret_cast<const char*>(&t + 1);
    return inline_buffer ? 0 : s.capacity() + 1;
  };
  uint64_t bytes = sizeof(TrackRecord) + heap(t.extras_json);
  for (int i = 0; i < trackstore::kStringFieldCount; ++i) {
    if (const std::string* s = t.StringField(i)) bytes += heap(*s);
  }
  return bytes;
}

std::unique_ptr<Fixture> BuildFixture(int64_t n, std::string* error) {
  const auto start = std::chrono::steady_clock::now();
  auto f = std::make_unique<Fixture>();
  f->n = n;
  f->tracks = trackstore::GenerateLibrary(static_cast<uint64_t>(n));
  const double generate_s = SecondsSince(start);
  for (const TrackRecord& t : f->tracks) f->input_bytes += InputBytes(t);
  const std::string prefix = Bench().dir + "/" + std::to_string(n);
  f->snap_path = prefix + ".snap";
  f->write_path = prefix + "-write.snap";
  f->syscall_path = prefix + "-syscall.out";
  f->fb_path = prefix + ".fb";

  // The snapshot: in memory (twice, warming encode_out) and as a file.
  auto encoded = f->writer.Encode(f->tracks, &f->image);
  if (!encoded.ok()) {
    *error = "Encode: " + encoded.status().ToString();
    return nullptr;
  }
  if (auto again = f->writer.Encode(f->tracks, &f->encode_out); !again.ok()) {
    *error = "Encode: " + again.status().ToString();
    return nullptr;
  }
  trackstore::WriteOptions no_sync;
  no_sync.sync = false;
  if (auto w = f->writer.Write(f->snap_path, f->tracks, no_sync); !w.ok()) {
    *error = "Write: " + w.status().ToString();
    return nullptr;
  }
  if (!f->snap_map.Map(f->snap_path, MAP_POPULATE, error)) return nullptr;
  if (f->snap_map.size() != f->image.size() ||
      std::memcmp(f->snap_map.data(), f->image.data(), f->image.size()) != 0) {
    std::fprintf(stderr, "snapshot_bench: warning: Encode and Write disagree at %lld tracks\n",
                 static_cast<long long>(n));
  }
  auto opened = Snapshot::Open(f->snap_path);
  if (!opened.ok()) {
    *error = "Open: " + opened.status().ToString();
    return nullptr;
  }
  f->snap.emplace(std::move(opened).value());
  if (f->snap->size() != static_cast<uint64_t>(n)) {
    *error = "Open: " + std::to_string(f->snap->size()) + " tracks, expected " + std::to_string(n);
    return nullptr;
  }

  // The table-per-track baseline, pre-sized so the builder never regrows.
  const auto fb_start = std::chrono::steady_clock::now();
  f->fbb =
      std::make_unique<flatbuffers::FlatBufferBuilder>(static_cast<size_t>(n) * 512 + (1 << 20));
  f->fb_offsets.reserve(static_cast<size_t>(n));
  BuildTableLibrary(f->tracks, f->fbb.get(), &f->fb_offsets);
  const double fb_build_s = SecondsSince(fb_start);
  if (!WriteNewFile(f->fb_path + ".tmp", f->fb_path,
                    reinterpret_cast<const char*>(f->fbb->GetBufferPointer()), f->fbb->GetSize())) {
    *error = f->fb_path + ": " + std::strerror(errno);
    return nullptr;
  }
  if (!f->fb_map.Map(f->fb_path, MAP_POPULATE, error)) return nullptr;
  f->fb_root = fbt::GetTrackLibrary(f->fb_map.data());

  // The same random ids for Find and LookupByKey.
  std::mt19937_64 rng(kLookupSeed);
  std::uniform_int_distribution<size_t> pick(0, f->tracks.size() - 1);
  f->lookup_ids.reserve(kLookupIds);
  for (size_t i = 0; i < kLookupIds; ++i) f->lookup_ids.push_back(f->tracks[pick(rng)].id);

  // Distinct page contents: identical pages may be merged by the host (KSM)
  // and then cost a copy-on-write fault on the first write.
  f->scratch.resize(std::max(f->image.size(), f->snap_map.size()) + 8);
  for (uint64_t i = 0; i + 8 <= f->scratch.size(); i += 8) std::memcpy(&f->scratch[i], &i, 8);
  std::fprintf(stderr,
               "snapshot_bench: %lld tracks: generated in %.2f s (%.0f B/track in TrackRecords);"
               " snapshot %zu bytes (%.1f B/track); table per track %zu bytes (%.1f B/track),"
               " built in %.2f s\n",
               static_cast<long long>(n), generate_s, double(f->input_bytes) / double(n),
               f->image.size(), f->snap_bytes_per_track(), f->fb_map.size(),
               f->fb_bytes_per_track(), fb_build_s);
  return f;
}

// The fixture for state.range(0) tracks, or nullptr after SkipWithError.
Fixture* GetFixture(benchmark::State& state) {
  const int64_t n = state.range(0);
  BenchEnv& env = Bench();
  if (auto it = env.fixtures.find(n); it != env.fixtures.end()) return it->second.get();
  if (auto it = env.errors.find(n); it == env.errors.end()) {
    std::string error;
    auto f = BuildFixture(n, &error);
    if (f != nullptr) return (env.fixtures[n] = std::move(f)).get();
    env.errors[n] = error;
  }
  state.SkipWithError(("fixture: " + env.errors[n]).c_str());
  return nullptr;
}

void SetSnapshotCounters(benchmark::State& state, const Fixture& f, size_t bytes) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) * static_cast<int64_t>(bytes));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * f.n);
  state.counters["bytes_per_track"] = f.snap_bytes_per_track();
}

void SetTableCounters(benchmark::State& state, const Fixture& f) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations()) *
                          static_cast<int64_t>(f.fb_map.size()));
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()) * f.n);
  state.counters["bytes_per_track"] = f.fb_bytes_per_track();
}

// Runs `body` (which returns false after SkipWithError) once untimed, then
// in the timed loop. Measured on this VM: 256 MB left untouched for 40 s
// takes 4x longer to read and 4-10x longer to overwrite the first time
// (host-side page tracking or merging); the second pass is back to normal.
template <typename Body>
void Loop(benchmark::State& state, Body body) {
  if (!body()) return;
  for (auto _ : state) {
    if (!body()) break;
  }
}

bool Check(benchmark::State& state, const trackstore::Status& status) {
  if (!status.ok()) state.SkipWithError(status.ToString().c_str());
  return status.ok();
}

// ---------------------------------------------------------------- write

void BM_Write_Encode(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  Loop(state, [&] {
    auto r = f->writer.Encode(f->tracks, &f->encode_out);
    benchmark::DoNotOptimize(f->encode_out.data());
    benchmark::ClobberMemory();
    return Check(state, r.status());
  });
  SetSnapshotCounters(state, *f, f->image.size());
  state.counters["input_bytes_per_track"] = double(f->input_bytes) / double(f->n);
}

// The same without the UTF-8/NUL check (WriteOptions::validate_utf8), to
// show what that check costs.
void BM_Write_EncodeNoUtf8Check(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  trackstore::WriteOptions options;
  options.validate_utf8 = false;
  Loop(state, [&] {
    auto r = f->writer.Encode(f->tracks, &f->encode_out, options);
    benchmark::DoNotOptimize(f->encode_out.data());
    benchmark::ClobberMemory();
    return Check(state, r.status());
  });
  SetSnapshotCounters(state, *f, f->image.size());
  state.counters["input_bytes_per_track"] = double(f->input_bytes) / double(f->n);
}

void BM_Write_File(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  trackstore::WriteOptions options;
  options.sync = false;
  Loop(state,
       [&] { return Check(state, f->writer.Write(f->write_path, f->tracks, options).status()); });
  SetSnapshotCounters(state, *f, f->image.size());
}

void BM_Write_BaselineMemcpy(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  Loop(state, [&] {
    std::memcpy(f->scratch.data(), f->image.data(), f->image.size());
    benchmark::DoNotOptimize(f->scratch.data());
    benchmark::ClobberMemory();
    return true;
  });
  SetSnapshotCounters(state, *f, f->image.size());
}

void BM_Write_BaselineWriteSyscall(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  const std::string tmp = f->syscall_path + ".tmp";
  Loop(state, [&] {
    if (WriteNewFile(tmp, f->syscall_path, f->image.data(), f->image.size())) return true;
    state.SkipWithError((f->syscall_path + ": " + std::strerror(errno)).c_str());
    return false;
  });
  SetSnapshotCounters(state, *f, f->image.size());
}

void BM_Write_BaselineFlatBuffersBuild(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  // The fixture's builder holds the buffer the .fb file was written from;
  // rebuilding it gives the same bytes.
  Loop(state, [&] {
    BuildTableLibrary(f->tracks, f->fbb.get(), &f->fb_offsets);
    benchmark::DoNotOptimize(f->fbb->GetBufferPointer());
    return true;
  });
  SetTableCounters(state, *f);
}

// ---------------------------------------------------------------- open / verify

template <bool kTrusted>
void OpenBenchmark(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  Loop(state, [&] {
    auto snap = kTrusted ? Snapshot::OpenTrusted(f->snap_path) : Snapshot::Open(f->snap_path);
    if (!Check(state, snap.status())) return false;
    benchmark::DoNotOptimize(snap->size());
    return true;
  });
  SetSnapshotCounters(state, *f, f->image.size());
}
void BM_Open_Verified(benchmark::State& state) { OpenBenchmark<false>(state); }
void BM_Open_Trusted(benchmark::State& state) { OpenBenchmark<true>(state); }

void BM_Open_BaselineXXH3(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  Loop(state, [&] {
    XXH128_hash_t h = XXH3_128bits(f->snap_map.data(), f->snap_map.size());
    benchmark::DoNotOptimize(h);
    return true;
  });
  SetSnapshotCounters(state, *f, f->snap_map.size());
}

// What a verified open costs at least: a fresh mapping of the file, every
// page faulted in, hashed.
template <int kFlags>
void MmapXXH3Benchmark(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  std::string error;
  Loop(state, [&] {
    Mapping m;
    if (!m.Map(f->snap_path, kFlags, &error)) {
      state.SkipWithError(error.c_str());
      return false;
    }
    XXH128_hash_t h = XXH3_128bits(m.data(), m.size());
    benchmark::DoNotOptimize(h);
    return true;
  });
  SetSnapshotCounters(state, *f, f->snap_map.size());
}
void BM_Open_BaselineMmapXXH3(benchmark::State& state) { MmapXXH3Benchmark<0>(state); }
void BM_Open_BaselineMmapPopulateXXH3(benchmark::State& state) {
  MmapXXH3Benchmark<MAP_POPULATE>(state);
}

void BM_Open_BaselineFlatBuffersVerifier(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  flatbuffers::Verifier::Options options;  // max_depth stays at its default (64)
  // One table per track plus the root; the default (1,000,000) rejects 1M tracks.
  options.max_tables = static_cast<flatbuffers::uoffset_t>(f->n) + 1024;
  Loop(state, [&] {
    flatbuffers::Verifier verifier(f->fb_map.data(), f->fb_map.size(), options);
    if (fbt::VerifyTrackLibraryBuffer(verifier)) return true;
    state.SkipWithError("the FlatBuffers Verifier rejected the table-per-track buffer");
    return false;
  });
  SetTableCounters(state, *f);
}

void BM_Verify(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  Loop(state, [&] { return Check(state, f->snap->Verify()); });
  SetSnapshotCounters(state, *f, f->image.size());
}

// ---------------------------------------------------------------- scan

inline uint64_t Touch(std::string_view s) {
  return s.size() + (s.empty() ? 0 : static_cast<unsigned char>(s.front()));
}
inline uint64_t Touch(std::optional<std::string_view> s) { return s ? Touch(*s) : 0; }
inline uint64_t Touch(const flatbuffers::String* s) {
  return s == nullptr ? 0 : Touch(std::string_view(s->c_str(), s->size()));
}

void BM_Scan_IdName(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  Loop(state, [&] {
    uint64_t sum = 0;
    for (TrackView t : *f->snap) sum += Touch(t.id()) + Touch(t.name());
    benchmark::DoNotOptimize(sum);
    return true;
  });
  SetSnapshotCounters(state, *f, f->image.size());
}

void BM_Scan_AllFields(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  Loop(state, [&] {
    uint64_t sum = 0;
    for (TrackView t : *f->snap) {
      sum += Touch(t.id()) + Touch(t.name()) + Touch(t.artist()) + Touch(t.album());
      sum += Touch(t.genre()) + Touch(t.year()) + Touch(t.date_added()) + Touch(t.last_modified()) +
             Touch(t.track_status()) + Touch(t.original_artist()) + Touch(t.original_album()) +
             Touch(t.year_before_mgu()) + Touch(t.year_set_by_mgu()) + Touch(t.release_year()) +
             Touch(t.album_artist());
      if (auto pos = t.original_pos()) sum += static_cast<uint64_t>(*pos);
      sum += Touch(t.extras_json());
    }
    benchmark::DoNotOptimize(sum);
    return true;
  });
  SetSnapshotCounters(state, *f, f->image.size());
}

// All fields again, one column at a time (Snapshot::column), the access
// pattern the columnar layout is made for: one or two memory streams at a
// time instead of some forty.
void BM_Scan_AllFieldsByColumn(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  const Snapshot& snap = *f->snap;
  Loop(state, [&] {
    uint64_t sum = 0;
    for (int c = 0; c <= trackstore::kStringFieldCount; ++c) {
      const trackstore::Field field = c == trackstore::kStringFieldCount
                                          ? trackstore::Field::kExtras
                                          : static_cast<trackstore::Field>(c);
      const trackstore::StringColumnView col = snap.column(field);
      for (uint64_t i = 0; i < col.size(); ++i) {
        if (!col.is_null(i)) sum += Touch(col[i]);
      }
    }
    for (uint64_t i = 0; i < snap.size(); ++i) {
      if (auto pos = snap[i].original_pos()) sum += static_cast<uint64_t>(*pos);
    }
    benchmark::DoNotOptimize(sum);
    return true;
  });
  SetSnapshotCounters(state, *f, f->image.size());
}

// The table-per-track scans go in vector (id) order, the only order the
// plain approach stores. Tracks were built in library order, so for ids of
// one length that is also memory order.
void BM_Scan_BaselineFlatBuffersIdName(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  Loop(state, [&] {
    uint64_t sum = 0;
    for (const fbt::TrackTable* t : *f->fb_root->tracks()) sum += Touch(t->id()) + Touch(t->name());
    benchmark::DoNotOptimize(sum);
    return true;
  });
  SetTableCounters(state, *f);
}

void BM_Scan_BaselineFlatBuffersAllFields(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  Loop(state, [&] {
    uint64_t sum = 0;
    for (const fbt::TrackTable* t : *f->fb_root->tracks()) {
      sum += Touch(t->id()) + Touch(t->name()) + Touch(t->artist()) + Touch(t->album());
      sum += Touch(t->genre()) + Touch(t->year()) + Touch(t->date_added()) +
             Touch(t->last_modified()) + Touch(t->track_status()) + Touch(t->original_artist()) +
             Touch(t->original_album()) + Touch(t->year_before_mgu()) +
             Touch(t->year_set_by_mgu()) + Touch(t->release_year()) + Touch(t->album_artist());
      if (auto pos = t->original_pos()) sum += static_cast<uint64_t>(*pos);
      sum += Touch(t->extras());
    }
    benchmark::DoNotOptimize(sum);
    return true;
  });
  SetTableCounters(state, *f);
}

void BM_Scan_BaselineMemcpy(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  Loop(state, [&] {
    std::memcpy(f->scratch.data(), f->snap_map.data(), f->snap_map.size());
    benchmark::DoNotOptimize(f->scratch.data());
    benchmark::ClobberMemory();
    return true;
  });
  SetSnapshotCounters(state, *f, f->snap_map.size());
}

// ---------------------------------------------------------------- lookup

// One lookup per iteration, cycling through the fixture's random ids; the
// first iterations warm the caches (no untimed pass needed).
void BM_Lookup_Find(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  const std::vector<std::string>& ids = f->lookup_ids;
  size_t i = 0;
  for (auto _ : state) {
    const std::optional<TrackView> t = f->snap->Find(ids[i]);
    if (!t) [[unlikely]] {
      state.SkipWithError(("Find missed id " + ids[i]).c_str());
      break;
    }
    benchmark::DoNotOptimize(t->name().size());
    if (++i == ids.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

void BM_Lookup_BaselineLookupByKey(benchmark::State& state) {
  Fixture* f = GetFixture(state);
  if (f == nullptr) return;
  const std::vector<std::string>& ids = f->lookup_ids;
  const auto* tracks = f->fb_root->tracks();
  size_t i = 0;
  for (auto _ : state) {
    const fbt::TrackTable* t = tracks->LookupByKey(ids[i].c_str());
    if (t == nullptr) [[unlikely]] {
      state.SkipWithError(("LookupByKey missed id " + ids[i]).c_str());
      break;
    }
    benchmark::DoNotOptimize(t->name()->size());
    if (++i == ids.size()) i = 0;
  }
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations()));
}

// ---------------------------------------------------------------- registration

struct Family {
  const char* name;
  void (*fn)(benchmark::State&);
  benchmark::TimeUnit unit;
  bool real_time;   // I/O or mmap inside the loop
  double min_time;  // seconds, unless --benchmark_min_time is given
};

// In running order: every size of a family runs before the next family.
const Family kFamilies[] = {
    {"BM_Write_Encode", BM_Write_Encode, benchmark::kMillisecond, false, 0.3},
    {"BM_Write_EncodeNoUtf8Check", BM_Write_EncodeNoUtf8Check, benchmark::kMillisecond, false, 0.3},
    {"BM_Write_File", BM_Write_File, benchmark::kMillisecond, true, 0.3},
    {"BM_Write_BaselineMemcpy", BM_Write_BaselineMemcpy, benchmark::kMillisecond, false, 0.2},
    {"BM_Write_BaselineWriteSyscall", BM_Write_BaselineWriteSyscall, benchmark::kMillisecond, true,
     0.3},
    {"BM_Write_BaselineFlatBuffersBuild", BM_Write_BaselineFlatBuffersBuild,
     benchmark::kMillisecond, false, 0.2},
    {"BM_Open_Verified", BM_Open_Verified, benchmark::kMillisecond, true, 0.3},
    {"BM_Open_Trusted", BM_Open_Trusted, benchmark::kMicrosecond, true, 0.2},
    {"BM_Open_BaselineXXH3", BM_Open_BaselineXXH3, benchmark::kMillisecond, false, 0.2},
    {"BM_Open_BaselineMmapXXH3", BM_Open_BaselineMmapXXH3, benchmark::kMillisecond, true, 0.2},
    {"BM_Open_BaselineMmapPopulateXXH3", BM_Open_BaselineMmapPopulateXXH3, benchmark::kMillisecond,
     true, 0.2},
    {"BM_Open_BaselineFlatBuffersVerifier", BM_Open_BaselineFlatBuffersVerifier,
     benchmark::kMillisecond, false, 0.3},
    {"BM_Verify", BM_Verify, benchmark::kMillisecond, false, 0.3},
    {"BM_Scan_IdName", BM_Scan_IdName, benchmark::kMillisecond, false, 0.2},
    {"BM_Scan_AllFields", BM_Scan_AllFields, benchmark::kMillisecond, false, 0.3},
    {"BM_Scan_AllFieldsByColumn", BM_Scan_AllFieldsByColumn, benchmark::kMillisecond, false, 0.3},
    {"BM_Scan_BaselineFlatBuffersIdName", BM_Scan_BaselineFlatBuffersIdName,
     benchmark::kMillisecond, false, 0.2},
    {"BM_Scan_BaselineFlatBuffersAllFields", BM_Scan_BaselineFlatBuffersAllFields,
     benchmark::kMillisecond, false, 0.3},
    {"BM_Scan_BaselineMemcpy", BM_Scan_BaselineMemcpy, benchmark::kMillisecond, false, 0.2},
    {"BM_Lookup_Find", BM_Lookup_Find, benchmark::kNanosecond, false, 0.2},
    {"BM_Lookup_BaselineLookupByKey", BM_Lookup_BaselineLookupByKey, benchmark::kNanosecond, false,
     0.2},
};

}  // namespace

int main(int argc, char** argv) {
  // Read before Initialize, which removes the flags it consumes from argv.
  const bool user_min_time = trackstore_bench::HasFlag(argc, argv, "--benchmark_min_time");
  const bool user_repetitions = trackstore_bench::HasFlag(argc, argv, "--benchmark_repetitions");
  const bool user_format = trackstore_bench::HasFlag(argc, argv, "--benchmark_format");
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;

  for (const Family& family : kFamilies) {
    benchmark::internal::Benchmark* b = benchmark::RegisterBenchmark(family.name, family.fn);
    for (int64_t n : kSizes) b->Arg(n);
    b->Unit(family.unit);
    if (family.real_time) b->UseRealTime();
    if (!user_min_time) b->MinTime(family.min_time);
    if (!user_repetitions) b->Repetitions(5)->ReportAggregatesOnly(true);
  }
  Bench();  // create the temporary directory before the fixtures, so it outlives them
  if (user_format) {
    benchmark::RunSpecifiedBenchmarks();
  } else {
    // A console run ends with the write ratios of the medians.
    trackstore_bench::MedianRatioReporter reporter;
    for (int64_t n : kSizes) {
      const std::string size = "/" + std::to_string(n);
      reporter.AddRatio("encode at " + std::to_string(n) + ": Encode / memcpy of its output",
                        "BM_Write_Encode" + size, "BM_Write_BaselineMemcpy" + size);
      reporter.AddRatio("write at " + std::to_string(n) + ": Write (no fsync) / memcpy",
                        "BM_Write_File" + size, "BM_Write_BaselineMemcpy" + size);
      reporter.AddRatio("write at " + std::to_string(n) + ": Write (no fsync) / write(2)+rename",
                        "BM_Write_File" + size, "BM_Write_BaselineWriteSyscall" + size);
    }
    benchmark::RunSpecifiedBenchmarks(&reporter);
  }
  benchmark::Shutdown();
  return 0;
}
