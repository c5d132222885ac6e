// benchmarks/shm_bench.cc
//
// The shared-memory cache beside baselines measured in the same run:
//
//  - Readers: Get + a full read (id and name of every track) and random
//    lookups by id (Find on one held entry) with 1, 2 and 4 reader processes
//    at once, beside the same loops over the snapshot file mapped by each
//    process (Snapshot::OpenTrusted, page cache warm). Readers are fork()ed
//    once per iteration, each opens its own ShmCache and touches every page,
//    then they run rounds of 1 s started by the parent through pipes (1, then
//    2, then 4 at once, back to back, so that a change in the machine's load
//    skews the ratios less) and report their counts through a pipe. Counters:
//    items/s summed over the readers (`items/s_Nr`: full reads, or lookups),
//    the scaling `2r_vs_1r` and `4r_vs_1r` (target: 2 readers >= 1.8x one on
//    2 cores), the CPUs the readers got (`cores_Nr`) and the scaling per
//    CPU-second (`Nr_vs_1r_percpu`, which only contention between readers
//    lowers). The time column is one reader's time per item.
//  - Resident memory: 1 and 8 readers each Get the 1M-track entry and touch
//    every page (Verify() hashes the whole image); while they are parked the
//    parent sums their Pss: of the segment's mapping alone (/proc/PID/smaps;
//    the figure that matters, target within 1.2x of image_size()) and of the
//    whole process (smaps_rollup; it also counts each reader's share of this
//    benchmark's heap and binary). The parent keeps no mapping of the
//    segment, so the readers' shares add up to what they hold.
//  - Publish: PutFile (what `trackstore shm publish` calls: pread into the
//    new block, then full verification, XXH3-128 included) and PutImage
//    (memcpy, then the same verification), each timed beside a memcpy of the
//    same bytes right after every publish (`x_memcpy`, and `x_memcpy_cpu` in
//    CPU time, the steadier on a busy machine); and separate rows: memcpy
//    into a warm buffer, into a fresh one (page faults included), and memcpy
//    + XXH3-128 (the least a verified publish can cost). Target: PutFile of
//    1M tracks within 3x memcpy.
//
// Arguments: track count (30k and 1M of GenerateLibrary), and the number of
// readers for resident memory. Needs about 2 GB in /dev/shm (segments
// trackstore-shmbench-PID-*) and 0.4 GB in /tmp, removed at exit, on failure
// and on SIGINT/SIGTERM. About 1 minute per repetition; for medians run
// --benchmark_repetitions=5 --benchmark_report_aggregates_only=true.
#include <fcntl.h>
#include <limits.h>
#include <malloc.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <xxh_x86dispatch.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <functional>
#include <map>
#include <memory>
#include <random>
#include <sstream>
#include <string>
#include <string_view>
#include <vector>

#include <benchmark/benchmark.h>

#include "trackstore/env.h"
#include "trackstore/shm_cache.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/synthetic.h"

namespace trackstore {
namespace {

using SteadyClock = std::chrono::steady_clock;

constexpr std::string_view kKey = kAllTracksKey;
constexpr auto kRound = std::chrono::seconds(1);  // each reader's timed run
constexpr int kReaderTimeoutMs = 120'000;         // a reader silent this long failed
constexpr uint64_t kIdCount = uint64_t{1} << 20;  // random ids per library
constexpr uint64_t kLookupBatch = 1024;           // lookups between clock reads

double SecondsSince(SteadyClock::time_point t) {
  return std::chrono::duration<double>(SteadyClock::now() - t).count();
}

// --- cleanup ------------------------------------------------------------------

// Every path this process creates, removed at exit and on a fatal signal.
// Fixed storage: a signal handler may call only async-signal-safe functions.
constexpr int kMaxPaths = 64;
char g_paths[kMaxPaths][512];
int g_path_count = 0;
pid_t g_owner = 0;

void RemoveAll() {
  if (::getpid() != g_owner) return;  // a forked reader: not its files
  for (int i = g_path_count - 1; i >= 0; --i) {
    if (::unlink(g_paths[i]) != 0) ::rmdir(g_paths[i]);  // files before their directory
  }
}

void OnSignal(int sig) {
  RemoveAll();
  ::signal(sig, SIG_DFL);
  ::raise(sig);
}

void InstallCleanup() {
  g_owner = ::getpid();
  std::atexit(RemoveAll);
  for (int sig : {SIGINT, SIGTERM, SIGHUP, SIGABRT, SIGSEGV, SIGBUS}) ::signal(sig, OnSignal);
  // A reader that died makes a write to its pipe fail with EPIPE, an error
  // the round reports, instead of killing the benchmark.
  ::signal(SIGPIPE, SIG_IGN);
}

void Track(const std::string& path) {
  for (int i = 0; i < g_path_count; ++i) {
    if (path == g_paths[i]) return;
  }
  if (g_path_count == kMaxPaths || path.size() >= sizeof(g_paths[0])) std::abort();
  std::memcpy(g_paths[g_path_count], path.c_str(), path.size() + 1);
  ++g_path_count;
}

[[noreturn]] void Die(const std::string& what) {
  std::fprintf(stderr, "shm_bench: %s\n", what.c_str());
  std::exit(1);  // runs RemoveAll
}

const std::string& TempDir() {
  static const std::string dir = [] {
    std::string tmpl = std::filesystem::temp_directory_path() / "trackstore-shmbench-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) Die("mkdtemp: " + std::string(std::strerror(errno)));
    Track(tmpl);
    return tmpl;
  }();
  return dir;
}

// A segment named after this process, tracked for removal.
ShmOptions SegmentOptions(const std::string& tag, uint64_t capacity) {
  ShmOptions o;
  o.name = "trackstore-shmbench-" + std::to_string(::getpid()) + "-" + tag;
  o.capacity_bytes = capacity;
  for (const char* suffix : {"", ".new", ".lock"}) Track(o.shm_dir + "/" + o.name + suffix);
  return o;
}

void RemoveSegment(const ShmOptions& o) {
  if (Status s = ShmCache::Remove(o); !s.ok() && !s.IsNotFound()) {
    std::fprintf(stderr, "shm_bench: %s\n", s.ToString().c_str());
  }
}

// --- fixtures -----------------------------------------------------------------

// One library of `count` tracks: its snapshot file, a segment holding it
// under kKey, and ids of random tracks in it. The parent keeps no handle on
// the segment: readers open their own, and Pss counts only them.
struct Library {
  std::string path;
  uint64_t image_size = 0;
  ShmOptions shm;
  std::string id_bytes;               // the ids, back to back
  std::vector<std::string_view> ids;  // kIdCount views into id_bytes
  std::string image;                  // the file's bytes, read for publish only
};

void PickIds(Library& lib) {
  Result<Snapshot> snap = Snapshot::OpenTrusted(lib.path);
  if (!snap.ok()) Die(snap.status().ToString());
  std::mt19937_64 rng(7);
  std::uniform_int_distribution<uint64_t> pick(0, snap->size() - 1);
  std::vector<uint64_t> ends;
  ends.reserve(kIdCount);
  for (uint64_t i = 0; i < kIdCount; ++i) {
    lib.id_bytes += (*snap)[pick(rng)].id();
    ends.push_back(lib.id_bytes.size());
  }
  // Views only once id_bytes has stopped growing.
  for (uint64_t i = 0, begin = 0; i < kIdCount; begin = ends[i++]) {
    lib.ids.emplace_back(lib.id_bytes.data() + begin, ends[i] - begin);
  }
}

std::map<uint64_t, std::unique_ptr<Library>>& Libraries() {
  static auto* libraries = new std::map<uint64_t, std::unique_ptr<Library>>;  // never destroyed
  return *libraries;
}

Library& GetLibrary(uint64_t count) {
  std::unique_ptr<Library>& slot = Libraries()[count];
  if (slot) return *slot;
  slot = std::make_unique<Library>();
  Library& lib = *slot;
  lib.path = TempDir() + "/" + std::to_string(count) + ".snap";
  Track(lib.path);
  {
    WriteOptions options;
    options.sync = false;
    const std::vector<TrackRecord> tracks = GenerateLibrary(count);
    Result<WriteResult> w = WriteSnapshot(lib.path, tracks, options);
    if (!w.ok()) Die(w.status().ToString());
    lib.image_size = w->file_size;
  }
  ::malloc_trim(0);  // the records' heap, which forked readers would share
  PickIds(lib);

  lib.shm = SegmentOptions(std::to_string(count), lib.image_size + lib.image_size / 8 + (32 << 20));
  Result<ShmCache> cache = ShmCache::Open(lib.shm);
  if (!cache.ok()) Die(cache.status().ToString());
  if (Result<uint64_t> v = cache->PutFile(kKey, lib.path); !v.ok()) Die(v.status().ToString());
  return lib;
}

const std::string& Image(Library& lib) {
  if (lib.image.empty()) {
    std::ifstream in(lib.path, std::ios::binary);
    std::ostringstream bytes;
    bytes << in.rdbuf();
    lib.image = std::move(bytes).str();
    if (lib.image.size() != lib.image_size) Die("short read of " + lib.path);
  }
  return lib.image;
}

// --- reader processes ---------------------------------------------------------

// What a reader sends the parent: once set up, then after each round. No
// larger than PIPE_BUF, so each write is atomic and messages never interleave.
struct Message {
  int32_t ok = 1;
  uint64_t items = 0;
  int64_t nanos = 0;      // wall-clock time of the round
  int64_t cpu_nanos = 0;  // CPU time the reader got meanwhile
  uint64_t image_size = 0;
  char error[256] = {};
};
static_assert(sizeof(Message) <= PIPE_BUF);

Message Error(const Status& s) {
  Message m;
  m.ok = 0;
  std::snprintf(m.error, sizeof(m.error), "%s", s.ToString().c_str());
  return m;
}

bool WriteMessage(int fd, const Message& m) {
  ssize_t n;
  do n = ::write(fd, &m, sizeof(m));
  while (n < 0 && errno == EINTR);
  return n == static_cast<ssize_t>(sizeof(m));
}

Result<Message> ReadMessage(int fd) {
  Message m;
  char* p = reinterpret_cast<char*>(&m);
  for (size_t done = 0; done < sizeof(m);) {
    pollfd pfd = {fd, POLLIN, 0};
    const int ready = ::poll(&pfd, 1, kReaderTimeoutMs);
    if (ready < 0 && errno == EINTR) continue;
    if (ready == 0) return Status::IOError("reader", "no word for 120 s");
    const ssize_t n = ::read(fd, p + done, sizeof(m) - done);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return Status::IOError("reader", "exited without a word");
    done += static_cast<size_t>(n);
  }
  if (!m.ok) return Status::IOError("reader", m.error);
  return m;
}

// A reader's line to the parent. Next(m) sends m (first: "set up") and
// waits for the parent: true means run a round, false that the parent is
// done with this reader.
class Line {
 public:
  Line(int go, int reports) : go_(go), reports_(reports) {}
  bool Next(const Message& m) {
    if (!WriteMessage(reports_, m)) return false;
    char c;
    ssize_t n;
    do n = ::read(go_, &c, 1);
    while (n < 0 && errno == EINTR);
    return n == 1;  // EOF: the parent closed its end
  }

 private:
  int go_, reports_;
};

// A reader's work, in the child: returns an error, or ok once Next is false.
using ReaderBody = std::function<Message(int index, Line& line)>;

// Reader processes forked together: each opens what it reads after the fork
// and waits; the parent then runs rounds with some of them at once. The
// destructor kills and reaps any still running, so a failure leaves none.
class ReaderGroup {
 public:
  ReaderGroup() = default;
  ReaderGroup(const ReaderGroup&) = delete;
  ReaderGroup& operator=(const ReaderGroup&) = delete;
  ~ReaderGroup() {
    for (pid_t pid : pids_) ::kill(pid, SIGKILL);
    Reap();
    for (int& fd : go_) Close(fd);
    Close(reports_);
  }

  // Forks `n` readers running `body`; returns their first reports once
  // each is set up.
  Result<std::vector<Message>> Start(int n, const ReaderBody& body) {
    int reports[2];
    if (::pipe2(reports, O_CLOEXEC) != 0) return PosixError("pipe", errno);
    reports_ = reports[0];
    std::fflush(nullptr);
    for (int i = 0; i < n; ++i) {
      int go[2];
      if (::pipe2(go, O_CLOEXEC) != 0) {
        ::close(reports[1]);
        return PosixError("pipe", errno);
      }
      const pid_t pid = ::fork();
      if (pid == 0) {
        // Only the parent may hold a write end of a go pipe, or a reader
        // would never see EOF; and the reports pipe's read end is its too.
        for (int fd : go_) ::close(fd);
        ::close(go[1]);
        ::close(reports[0]);
        RunReader(body, i, go[0], reports[1]);
      }
      ::close(go[0]);
      go_.push_back(go[1]);
      if (pid < 0) {
        ::close(reports[1]);
        return PosixError("fork", errno);
      }
      pids_.push_back(pid);
    }
    ::close(reports[1]);  // only readers hold it now: EOF means all exited
    return Reports(n);
  }

  const std::vector<pid_t>& pids() const { return pids_; }

  // Readers 0..n-1 run one round at once; returns what each reports.
  Result<std::vector<Message>> Round(int n) {
    for (int i = 0; i < n; ++i) {
      if (::write(go_[i], "r", 1) != 1) return PosixError("pipe", errno);
    }
    return Reports(n);
  }

  // Lets every reader go home; OK when each exited cleanly.
  Status Finish() {
    for (int& fd : go_) Close(fd);
    return Reap() ? Status::OK() : Status::IOError("reader", "exited with a failure");
  }

 private:
  Result<std::vector<Message>> Reports(int n) {
    std::vector<Message> out;
    for (int i = 0; i < n; ++i) {
      Result<Message> m = ReadMessage(reports_);
      if (!m.ok()) return m.status();
      out.push_back(*m);
    }
    return out;
  }

  [[noreturn]] static void RunReader(const ReaderBody& body, int index, int go, int reports) {
    ::prctl(PR_SET_PDEATHSIG, SIGKILL);  // never outlive the benchmark
    if (::getppid() != g_owner) ::_exit(1);
    int code;
    {
      Line line(go, reports);
      const Message m = body(index, line);  // its handles are gone when it returns
      code = m.ok ? 0 : 1;
      if (!m.ok) WriteMessage(reports, m);
    }
    ::_exit(code);  // no atexit handlers, no flush of the parent's stdio buffers
  }

  static void Close(int& fd) {
    if (fd >= 0) ::close(fd);
    fd = -1;
  }

  bool Reap() {
    bool ok = true;
    for (pid_t pid : pids_) {
      int status = 0;
      while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
      }
      ok = ok && WIFEXITED(status) && WEXITSTATUS(status) == 0;
    }
    pids_.clear();
    return ok;
  }

  std::vector<pid_t> pids_;
  std::vector<int> go_;  // write ends: a byte runs a round, EOF ends the reader
  int reports_ = -1;     // read end, shared by every reader
};

// --- reader bodies ------------------------------------------------------------

enum class Source { kShm, kFile };
enum class Work { kGetFullRead, kLookup };

uint64_t ReadIdsAndNames(const Snapshot& snap) {
  uint64_t bytes = 0;
  for (TrackView t : snap) bytes += t.id().size() + t.name().size();
  return bytes;
}

int64_t CpuNanos() {
  timespec t;
  ::clock_gettime(CLOCK_PROCESS_CPUTIME_ID, &t);
  return int64_t{t.tv_sec} * 1'000'000'000 + t.tv_nsec;
}

// Runs a round of `step` (some items; returns how many) for kRound each
// time the parent asks.
template <typename Step>
Message Rounds(Line& line, Step step) {
  Message m;
  while (line.Next(m)) {
    m = Message();
    const SteadyClock::time_point start = SteadyClock::now();
    const int64_t cpu_start = CpuNanos();
    do {
      Result<uint64_t> items = step();
      if (!items.ok()) return Error(items.status());
      m.items += *items;
    } while (SteadyClock::now() - start < kRound);
    m.cpu_nanos = CpuNanos() - cpu_start;
    m.nanos =
        std::chrono::duration_cast<std::chrono::nanoseconds>(SteadyClock::now() - start).count();
  }
  return Message();
}

// Each reader starts at its own place in the id list, so that readers do not
// walk the same cache lines in step.
Message Lookups(const Library& lib, const Snapshot& snap, int index, Line& line) {
  uint64_t next = static_cast<uint64_t>(index) * (kIdCount / 8);
  return Rounds(line, [&]() -> Result<uint64_t> {
    uint64_t found = 0;
    for (uint64_t k = 0; k < kLookupBatch; ++k, next = (next + 1) % kIdCount) {
      found += snap.Find(lib.ids[next]).has_value();
    }
    if (found != kLookupBatch) return Status::StructureInvalid(snap.path(), "an id went missing");
    return kLookupBatch;
  });
}

// The segment, opened after fork (shm_cache.h), and the entry held with
// every page touched by Verify(), so that no later round pays first-touch
// faults.
struct Held {
  ShmCache cache;
  ShmEntry entry;
};
Result<Held> OpenAndHold(const Library& lib) {
  ShmOptions options = lib.shm;
  options.create_if_missing = false;
  Result<ShmCache> cache = ShmCache::Open(options);
  if (!cache.ok()) return cache.status();
  Result<ShmEntry> entry = cache->Get(kKey);
  if (!entry.ok()) return entry.status();
  if (Status s = entry->snapshot().Verify(); !s.ok()) return s;
  return Held{std::move(cache).value(), std::move(entry).value()};
}

Message ShmReader(const Library& lib, Work work, int index, Line& line) {
  Result<Held> opened = OpenAndHold(lib);
  if (!opened.ok()) return Error(opened.status());
  ShmCache* cache = &opened->cache;
  const ShmEntry* held = &opened->entry;
  if (work == Work::kLookup) return Lookups(lib, held->snapshot(), index, line);
  return Rounds(line, [&]() -> Result<uint64_t> {
    Result<ShmEntry> e = cache->Get(kKey);
    if (!e.ok()) return e.status();
    benchmark::DoNotOptimize(ReadIdsAndNames(e->snapshot()));
    return 1;
  });
}

Message FileReader(const Library& lib, Work work, int index, Line& line) {
  Result<Snapshot> snap = Snapshot::OpenTrusted(lib.path);
  if (!snap.ok()) return Error(snap.status());
  if (Status s = snap->Verify(); !s.ok()) return Error(s);
  if (work == Work::kLookup) return Lookups(lib, *snap, index, line);
  return Rounds(line, [&]() -> Result<uint64_t> {
    benchmark::DoNotOptimize(ReadIdsAndNames(*snap));
    return 1;
  });
}

struct Rate {
  double items_per_second = 0;  // summed over the readers
  double cores = 0;             // CPUs the readers got, summed (CPU time / wall time)
};

Rate Sum(const std::vector<Message>& reports) {
  Rate rate;
  for (const Message& m : reports) {
    rate.items_per_second += m.items / (m.nanos / 1e9);
    rate.cores += static_cast<double>(m.cpu_nanos) / m.nanos;
  }
  return rate;
}

// Four readers are forked and set up once per iteration; rounds of 1, 2
// and 4 of them at once follow back to back. `cores_Nr` says how much CPU
// the readers got: on a busy machine 2 readers may get much less than 2
// cores, and the scaling with it. `Nr_vs_1r_percpu` compares items per
// CPU-second, which only contention between the readers (shared cache
// lines, memory bandwidth) lowers.
void ReaderRounds(benchmark::State& state, Source source, Work work) {
  const Library& lib = GetLibrary(state.range(0));
  constexpr int kReaders[] = {1, 2, 4};
  const ReaderBody body = [&](int index, Line& line) {
    return source == Source::kShm ? ShmReader(lib, work, index, line)
                                  : FileReader(lib, work, index, line);
  };
  Rate rate[3];
  for (auto _ : state) {
    ReaderGroup group;
    Status s = group.Start(4, body).status();
    for (int k = 0; k < 3 && s.ok(); ++k) {
      Result<std::vector<Message>> r = group.Round(kReaders[k]);
      if (r.ok()) rate[k] = Sum(*r);
      s = r.status();
    }
    if (s.ok()) s = group.Finish();
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return;
    }
    state.SetIterationTime(1 / rate[0].items_per_second);
  }
  const auto per_cpu = [&](int k) { return rate[k].items_per_second / rate[k].cores; };
  for (int k = 0; k < 3; ++k) {
    const std::string n = std::to_string(kReaders[k]) + "r";
    state.counters["items/s_" + n] = rate[k].items_per_second;
    state.counters["cores_" + n] = rate[k].cores;
    if (k > 0) {
      state.counters[n + "_vs_1r"] = rate[k].items_per_second / rate[0].items_per_second;
      state.counters[n + "_vs_1r_percpu"] = per_cpu(k) / per_cpu(0);
    }
  }
}

void BM_ShmReaders_GetFullRead(benchmark::State& state) {
  ReaderRounds(state, Source::kShm, Work::kGetFullRead);
}
void BM_ShmReaders_BaselineFileFullRead(benchmark::State& state) {
  ReaderRounds(state, Source::kFile, Work::kGetFullRead);
}
void BM_ShmReaders_Lookup(benchmark::State& state) {
  ReaderRounds(state, Source::kShm, Work::kLookup);
}
void BM_ShmReaders_BaselineFileLookup(benchmark::State& state) {
  ReaderRounds(state, Source::kFile, Work::kLookup);
}

// --- resident memory ----------------------------------------------------------

struct Pss {
  uint64_t segment_kb = 0;  // the segment's mappings
  uint64_t total_kb = 0;    // the whole process
};

// Sums the "Pss:" lines of /proc/PID/smaps whose mapping is `segment`, and
// reads the process total from smaps_rollup.
Result<Pss> ReadPss(pid_t pid, const std::string& segment) {
  const std::string proc = "/proc/" + std::to_string(pid);
  Pss pss;
  std::ifstream smaps(proc + "/smaps");
  bool in_segment = false;
  for (std::string line; std::getline(smaps, line);) {
    std::istringstream fields(line);
    std::string first;
    fields >> first;
    if (first.empty()) continue;
    if (first.back() != ':') {  // "start-end perms offset dev inode [path]"
      std::string perms, offset, dev, inode, path;
      fields >> perms >> offset >> dev >> inode >> path;
      in_segment = path == segment;
    } else if (first == "Pss:" && in_segment) {
      uint64_t kb = 0;
      fields >> kb;
      pss.segment_kb += kb;
    }
  }
  std::ifstream rollup(proc + "/smaps_rollup");
  for (std::string line; std::getline(rollup, line);) {
    if (line.rfind("Pss:", 0) == 0) pss.total_kb = std::strtoull(line.c_str() + 4, nullptr, 10);
  }
  if (!smaps.eof() || pss.total_kb == 0) return Status::IOError(proc, "cannot read smaps");
  return pss;
}

// Holds the entry with every page touched while the parent measures.
Message ResidentReader(const Library& lib, Line& line) {
  Result<Held> opened = OpenAndHold(lib);
  if (!opened.ok()) return Error(opened.status());
  const ShmEntry* held = &opened->entry;  // the cache handle stays open with it
  Message m;
  m.image_size = held->image_size();
  while (line.Next(m)) {
  }
  return Message();
}

void BM_ShmResident(benchmark::State& state) {
  const Library& lib = GetLibrary(state.range(0));
  const int n = static_cast<int>(state.range(1));
  const std::string segment = lib.shm.shm_dir + "/" + lib.shm.name;
  Pss sum;
  uint64_t image_size = 0;
  for (auto _ : state) {
    const SteadyClock::time_point start = SteadyClock::now();
    ReaderGroup group;
    Result<std::vector<Message>> ready =
        group.Start(n, [&](int, Line& line) { return ResidentReader(lib, line); });
    state.SetIterationTime(SecondsSince(start));  // until every reader has read it all
    Status s = ready.status();
    sum = {};
    for (size_t i = 0; s.ok() && i < group.pids().size(); ++i) {
      Result<Pss> pss = ReadPss(group.pids()[i], segment);
      if (pss.ok()) {
        sum.segment_kb += pss->segment_kb;
        sum.total_kb += pss->total_kb;
      }
      s = pss.status();
    }
    if (s.ok()) s = group.Finish();
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      return;
    }
    image_size = ready->front().image_size;
  }
  const double entry_kb = image_size / 1024.0;
  state.counters["entry_MiB"] = entry_kb / 1024;
  state.counters["shm_pss_MiB"] = sum.segment_kb / 1024.0;
  state.counters["shm_pss_vs_entry"] = sum.segment_kb / entry_kb;
  state.counters["total_pss_MiB"] = sum.total_kb / 1024.0;
  state.counters["total_pss_vs_entry"] = sum.total_kb / entry_kb;
}

// --- publish ------------------------------------------------------------------

// A segment of one publish benchmark's own, removed when it ends. Room for
// two images: a put allocates the new version before it frees the old one.
class PublishSegment {
 public:
  explicit PublishSegment(const Library& lib)
      : options_(SegmentOptions("publish", 2 * lib.image_size + (32 << 20))) {
    Result<ShmCache> cache = ShmCache::Open(options_);
    if (!cache.ok()) Die(cache.status().ToString());
    cache_ = std::make_unique<ShmCache>(std::move(cache).value());
  }
  ~PublishSegment() {
    cache_.reset();
    RemoveSegment(options_);
  }
  ShmCache& cache() { return *cache_; }

 private:
  ShmOptions options_;
  std::unique_ptr<ShmCache> cache_;
};

std::vector<char>& WarmBuffer(size_t size) {
  static std::map<size_t, std::vector<char>> buffers;
  std::vector<char>& b = buffers[size];
  if (b.size() != size) b.assign(size, 1);
  return b;
}

// Times `publish` alone (manual time) and a memcpy of the same bytes right
// after each, in wall-clock and in CPU time (steadier on a busy machine; it
// includes the kernel's work, such as pread's copy). Two untimed runs first:
// from then on the two blocks the puts alternate between are mapped and
// warm, as the memcpy's destination is.
void PublishLoop(benchmark::State& state, Library& lib, const std::function<Status()>& publish) {
  const std::string& image = Image(lib);
  std::vector<char>& dst = WarmBuffer(image.size());
  for (int i = 0; i < 2; ++i) {
    if (Status s = publish(); !s.ok()) return state.SkipWithError(s.ToString().c_str());
  }
  double wall[2] = {}, cpu[2] = {};  // publish, memcpy
  for (auto _ : state) {
    const SteadyClock::time_point start = SteadyClock::now();
    const int64_t cpu_start = CpuNanos();
    Status s = publish();
    const SteadyClock::time_point published = SteadyClock::now();
    const int64_t cpu_published = CpuNanos();
    if (!s.ok()) {
      state.SkipWithError(s.ToString().c_str());
      break;
    }
    std::memcpy(dst.data(), image.data(), image.size());
    benchmark::ClobberMemory();
    const double seconds = std::chrono::duration<double>(published - start).count();
    wall[0] += seconds;
    wall[1] += SecondsSince(published);
    cpu[0] += (cpu_published - cpu_start) / 1e9;
    cpu[1] += (CpuNanos() - cpu_published) / 1e9;
    state.SetIterationTime(seconds);
  }
  const double n = static_cast<double>(state.iterations());
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(image.size()));
  state.counters["cpu_ms"] = cpu[0] * 1e3 / n;
  state.counters["memcpy_ms"] = wall[1] * 1e3 / n;
  state.counters["memcpy_cpu_ms"] = cpu[1] * 1e3 / n;
  state.counters["x_memcpy"] = wall[0] / wall[1];
  state.counters["x_memcpy_cpu"] = cpu[0] / cpu[1];
}

void BM_Publish_PutFile(benchmark::State& state) {
  Library& lib = GetLibrary(state.range(0));
  PublishSegment segment(lib);
  PublishLoop(state, lib, [&] { return segment.cache().PutFile(kKey, lib.path).status(); });
}

void BM_Publish_PutImage(benchmark::State& state) {
  Library& lib = GetLibrary(state.range(0));
  PublishSegment segment(lib);
  const std::string& image = Image(lib);
  PublishLoop(state, lib,
              [&] { return segment.cache().PutImage(kKey, image.data(), image.size()).status(); });
}

void BM_Publish_BaselineMemcpy(benchmark::State& state) {
  Library& lib = GetLibrary(state.range(0));
  const std::string& image = Image(lib);
  std::vector<char>& dst = WarmBuffer(image.size());
  for (auto _ : state) {
    std::memcpy(dst.data(), image.data(), image.size());
    benchmark::ClobberMemory();
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(image.size()));
}

// A new anonymous mapping each time: memcpy plus the first touch of its pages.
void BM_Publish_BaselineMemcpyFreshBuffer(benchmark::State& state) {
  Library& lib = GetLibrary(state.range(0));
  const std::string& image = Image(lib);
  for (auto _ : state) {
    void* dst =
        ::mmap(nullptr, image.size(), PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (dst == MAP_FAILED) {
      state.SkipWithError("mmap failed");
      break;
    }
    std::memcpy(dst, image.data(), image.size());
    benchmark::ClobberMemory();
    ::munmap(dst, image.size());
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(image.size()));
}

// The least a publish that verifies the content hash can cost.
void BM_Publish_BaselineMemcpyXXH3(benchmark::State& state) {
  Library& lib = GetLibrary(state.range(0));
  const std::string& image = Image(lib);
  std::vector<char>& dst = WarmBuffer(image.size());
  for (auto _ : state) {
    std::memcpy(dst.data(), image.data(), image.size());
    benchmark::DoNotOptimize(XXH3_128bits(dst.data(), dst.size()));
  }
  state.SetBytesProcessed(state.iterations() * static_cast<int64_t>(image.size()));
}

void Readers(benchmark::internal::Benchmark* b) {
  b->ArgName("tracks")->Arg(30'000)->Arg(1'000'000);
  b->Iterations(1)->UseManualTime()->Unit(benchmark::kMicrosecond);
}

void Publish(benchmark::internal::Benchmark* b) {
  b->ArgName("tracks")->Arg(30'000)->Arg(1'000'000)->Unit(benchmark::kMillisecond);
}

BENCHMARK(BM_ShmReaders_GetFullRead)->Apply(Readers);
BENCHMARK(BM_ShmReaders_BaselineFileFullRead)->Apply(Readers);
BENCHMARK(BM_ShmReaders_Lookup)->Apply(Readers);
BENCHMARK(BM_ShmReaders_BaselineFileLookup)->Apply(Readers);
BENCHMARK(BM_ShmResident)
    ->ArgNames({"tracks", "readers"})
    ->Args({1'000'000, 1})
    ->Args({1'000'000, 8})
    ->Iterations(1)
    ->UseManualTime()
    ->Unit(benchmark::kMillisecond);
BENCHMARK(BM_Publish_PutFile)->Apply(Publish)->UseManualTime();
BENCHMARK(BM_Publish_PutImage)->Apply(Publish)->UseManualTime();
BENCHMARK(BM_Publish_BaselineMemcpy)->Apply(Publish)->UseRealTime();
BENCHMARK(BM_Publish_BaselineMemcpyFreshBuffer)->Apply(Publish)->UseRealTime();
BENCHMARK(BM_Publish_BaselineMemcpyXXH3)->Apply(Publish)->UseRealTime();

}  // namespace
}  // namespace trackstore

int main(int argc, char** argv) {
  trackstore::InstallCleanup();
  benchmark::Initialize(&argc, argv);
  if (benchmark::ReportUnrecognizedArguments(argc, argv)) return 1;
  benchmark::RunSpecifiedBenchmarks();
  benchmark::Shutdown();
  for (const auto& entry : trackstore::Libraries()) trackstore::RemoveSegment(entry.second->shm);
  return 0;  // RemoveAll takes the snapshot files (and anything a failure left)
}
