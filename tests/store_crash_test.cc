// Store under kill -9 and many processes: real files, real fork, real
// SIGKILL. A child dies at each file operation of a write, or at a random
// instant; afterwards the store must open at the old or the new state,
// verify, and take the next writer's commit without leftovers. Writers in
// many processes must lose no acknowledged commit, and readers must never
// see an error or a half-applied state.
//
// Every store here keeps StoreOptions::sync = true: the protocol under test
// is the real one. TRACKSTORE_CRASH_TRIALS sets the number of random-instant
// kills (default 250; sanitizer runs may lower it).
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <random>

#include "store_test_util.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore {
namespace {

using testing::CopyStore;
using testing::ExitedZero;
using testing::FaultEnv;
using testing::ForkChild;
using ::testing::HasSubstr;
using testing::KilledBySigkill;
using testing::ListNames;
using testing::MakeTrack;
using testing::MakeTracks;
using testing::Model;
using testing::Pipe;
using testing::ReadValue;
using testing::Records;
using testing::TempDir;
using testing::Unreferenced;
using testing::WaitFor;
using testing::WriteValue;

// What a version holds that a reader can tell apart.
struct State {
  std::vector<TrackRecord> tracks;
  std::optional<ServiceMetadata> service;
  std::string delta_state;
  bool operator==(const State&) const = default;
};

State StateOf(const Version& v) { return {Records(v), v.info().service, v.info().delta_state}; }

TrackRecord Named(uint64_t i, const std::string& id, const std::string& name) {
  TrackRecord t = MakeTrack(i);
  t.id = id;
  t.name = name;
  return t;
}

void SleepMicros(long us) {
  timespec ts{us / 1'000'000, (us % 1'000'000) * 1000};
  while (::nanosleep(&ts, &ts) != 0 && errno == EINTR) {
  }
}

int TrialsFromEnv(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v != nullptr && *v != '\0' ? std::max(1, std::atoi(v)) : fallback;
}

// The checks after a writer died: the store opens at `before` or `after`
// (exactly `after` when `must_be_after`), every listed version verifies,
// the next writer commits and leaves tmp/ empty, and gc keeping `keep`
// versions leaves no unreferenced file. Returns whether it was `after`.
bool CheckRecovered(const std::string& dir, const State& before, const State& after,
                    uint64_t before_number, bool must_be_after, uint32_t keep,
                    const std::string& where) {
  SCOPED_TRACE(where);
  Result<Store> store = Store::Open(dir);
  EXPECT_OK(store.status());
  if (!store.ok()) return false;
  Result<Version> v = store->Current();
  EXPECT_OK(v.status());
  if (!v.ok()) return false;
  EXPECT_GE(v->number(), before_number);
  EXPECT_OK(v->Verify());
  const State got = StateOf(*v);
  const bool is_after = got == after;
  const bool is_before = got == before;
  EXPECT_TRUE(is_after || is_before) << "version " << v->number() << " holds " << got.tracks.size()
                                     << " tracks: neither the old nor the new state";
  if (must_be_after) {
    EXPECT_TRUE(is_after) << "the write completed but is not current";
  }

  Result<std::vector<VersionInfo>> log = store->Log();
  EXPECT_OK(log.status());
  if (log.ok() && log->size() <= 16) {
    for (const VersionInfo& info : *log) {
      Result<Version> old = store->At(info.number);
      EXPECT_OK(old.status()) << "version " << info.number;
      if (old.ok()) {
        EXPECT_OK(old->Verify()) << "version " << info.number;
      }
    }
  }

  // The next writer: removes what the dead one left in tmp/.
  Result<CommitStats> c = store->Commit(std::vector<TrackRecord>{Named(7, "next-writer", where)});
  EXPECT_OK(c.status());
  EXPECT_THAT(ListNames(dir + "/tmp"), ::testing::IsEmpty());
  Result<Version> now = store->Current();
  EXPECT_OK(now.status());
  if (now.ok()) {
    EXPECT_OK(now->Verify());
    EXPECT_TRUE(now->Find("next-writer").has_value());
  }
  EXPECT_OK(store->CollectGarbage(keep).status());
  EXPECT_THAT(Unreferenced(dir, *store), ::testing::IsEmpty());
  return is_after;
}

// --- kill -9 at each operation ----------------------------------------------

struct Scenario {
  std::string name;
  StoreOptions options;
  std::function<void(Store&)> setup;  // builds the old state (default Env)
  std::function<Status(Store&)> run;  // the write under test
};

template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}

// For N = 1, 2, ...: a child runs the write with an Env that SIGKILLs it at
// operation N, until a child completes the write; then once more dying just
// after the last operation. Returns the number of kills.
int KillAtEachStep(const Scenario& sc, int* after_count) {
  SCOPED_TRACE(sc.name);
  TempDir dir;
  const std::string tmpl = dir.file("template"), trial = dir.file("trial");
  State before, after;
  uint64_t before_number = 0;
  {
    Result<Store> store = Store::Open(tmpl, sc.options);
    EXPECT_OK(store.status());
    if (!store.ok()) return 0;
    sc.setup(*store);
    Result<Version> v = store->Current();
    EXPECT_OK(v.status());
    if (!v.ok()) return 0;
    before = StateOf(*v);
    before_number = v->number();
  }
  {
    CopyStore(tmpl, trial);
    Result<Store> store = Store::Open(trial, sc.options);
    EXPECT_OK(store.status());
    EXPECT_OK(sc.run(*store));
    Result<Version> v = store->Current();
    EXPECT_OK(v.status());
    if (!v.ok()) return 0;
    after = StateOf(*v);
  }
  auto one = [&](FaultEnv::Action action, uint64_t n) -> int {
    CopyStore(tmpl, trial);
    const pid_t pid = ForkChild([&] {
      FaultEnv env;
      env.FailAt(n, action);
      StoreOptions o = sc.options;
      o.env = &env;
      Result<Store> store = Store::Open(trial, o);
      if (!store.ok()) return 2;
      return sc.run(*store).ok() ? 0 : 3;
    });
    return WaitFor(pid);
  };
  int kills = 0;
  uint64_t n = 1;
  for (;; ++n) {
    const int status = one(FaultEnv::Action::kKill, n);
    if (ExitedZero(status)) break;  // operation n does not exist: the write completed
    EXPECT_TRUE(KilledBySigkill(status)) << "operation " << n << ": wait status " << status;
    if (!KilledBySigkill(status)) return kills;
    ++kills;
    if (CheckRecovered(trial, before, after, before_number, false, 1000,
                       sc.name + ": killed before operation " + std::to_string(n))) {
      ++*after_count;
    }
    if (::testing::Test::HasFailure()) return kills;
  }
  EXPECT_GT(n, 3u) << "the write did fewer operations than a commit needs";
  // Dead right after its last operation: the write is complete.
  const int status = one(FaultEnv::Action::kKillAfter, n - 1);
  EXPECT_TRUE(KilledBySigkill(status)) << status;
  ++kills;
  if (CheckRecovered(trial, before, after, before_number, true, 1000,
                     sc.name + ": killed after the last operation")) {
    ++*after_count;
  }
  std::printf("[ kill -9  ] %-28s %3d kills (%llu operations)\n", sc.name.c_str(), kills,
              static_cast<unsigned long long>(n - 1));
  return kills;
}

std::vector<TrackRecord> Updates(int round) {
  return {Named(100 + round, "new-" + std::to_string(round), "appended"),
          Named(3, MakeTrack(3).id, "replaced in " + std::to_string(round)),
          Named(round % 20, MakeTrack(round % 20).id, "also " + std::to_string(round))};
}

std::vector<Scenario> StepScenarios() {
  std::vector<Scenario> out;
  StoreOptions plain;
  plain.auto_compact = false;

  out.push_back({"commit", plain,
                 [](Store& s) {
                   ASSERT_OK(s.Replace(MakeTracks(40)).status());
                   ASSERT_OK(s.Commit(Updates(1)).status());
                 },
                 [](Store& s) {
                   return StatusOf(s.Commit(Updates(2), std::vector<std::string>{"1005", "1006"}));
                 }});

  // One call that commits, compacts and collects garbage.
  StoreOptions busy;
  busy.keep_versions = 2;
  busy.compact_max_deltas = 2;
  out.push_back({"commit+compact+gc", busy,
                 [](Store& s) {
                   ASSERT_OK(s.Replace(MakeTracks(40)).status());
                   CommitOptions no;
                   no.allow_compaction = false;
                   for (int r = 1; r <= 5; ++r) ASSERT_OK(s.Commit(Updates(r), {}, no).status());
                 },
                 [](Store& s) { return StatusOf(s.Commit(Updates(6))); }});

  // Several base fragments, new metadata and a new delta state.
  StoreOptions split = plain;
  split.max_fragment_bytes = 2048;
  out.push_back({"replace", split,
                 [](Store& s) {
                   ASSERT_OK(s.Replace(MakeTracks(30)).status());
                   ASSERT_OK(s.Commit(Updates(1)).status());
                 },
                 [](Store& s) {
                   CommitOptions c;
                   c.service = ServiceMetadata{1, 11, 22, 33};
                   DeltaState d;
                   d.last_run = 44;
                   d.processed_ids = {"x", "y"};
                   c.delta_state = d;
                   std::vector<TrackRecord> lib = MakeTracks(50);
                   for (TrackRecord& t : lib) t.album = "replaced";
                   return StatusOf(s.Replace(lib, c));
                 }});

  out.push_back({"compact", plain,
                 [](Store& s) {
                   ASSERT_OK(s.Replace(MakeTracks(40)).status());
                   for (int r = 1; r <= 3; ++r) {
                     ASSERT_OK(
                         s.Commit(Updates(r), std::vector<std::string>{MakeTrack(r).id}).status());
                   }
                 },
                 [](Store& s) { return StatusOf(s.Compact()); }});

  out.push_back({"gc", plain,
                 [](Store& s) {
                   ASSERT_OK(s.Replace(MakeTracks(40)).status());
                   for (int r = 1; r <= 4; ++r) ASSERT_OK(s.Commit(Updates(r)).status());
                   ASSERT_OK(s.Compact().status());
                   // What a dead writer leaves behind.
                   testing::WriteFileBytes(s.directory() + "/tmp/manifest.deadbeef", "partial");
                 },
                 [](Store& s) { return StatusOf(s.CollectGarbage(2)); }});

  // The library from a snapshot file, copied in as the base fragment.
  out.push_back({"replace-from-file", plain,
                 [](Store& s) {
                   ASSERT_OK(s.Replace(MakeTracks(40)).status());
                   std::vector<TrackRecord> lib = MakeTracks(25);
                   for (TrackRecord& t : lib) t.artist = "from file";
                   ASSERT_OK(WriteSnapshot(s.directory() + "/../library.snap", lib).status());
                 },
                 [](Store& s) {
                   Result<Snapshot> snap = Snapshot::Open(s.directory() + "/../library.snap");
                   if (!snap.ok()) return snap.status();
                   return StatusOf(s.Replace(*snap));
                 }});
  out.push_back({"checkout", plain,
                 [](Store& s) {
                   ASSERT_OK(s.Replace(MakeTracks(40)).status());
                   for (int r = 1; r <= 3; ++r) ASSERT_OK(s.Commit(Updates(r)).status());
                 },
                 [](Store& s) { return StatusOf(s.Checkout(2)); }});

  out.push_back({"set-state", plain,
                 [](Store& s) {
                   CommitOptions c;
                   c.service = ServiceMetadata{1, 1, 2, std::nullopt};
                   ASSERT_OK(s.Replace(MakeTracks(20), c).status());
                 },
                 [](Store& s) {
                   CommitOptions c;
                   c.service = ServiceMetadata{1, 5, 6, 7};
                   DeltaState d;
                   d.last_run = 8;
                   c.delta_state = d;
                   return StatusOf(s.SetState(c));
                 }});
  return out;
}

TEST(StoreCrashTest, KillAtEveryOperation) {
  int total = 0, after = 0;
  for (const Scenario& sc : StepScenarios()) {
    total += KillAtEachStep(sc, &after);
    ASSERT_FALSE(HasFailure()) << sc.name;
  }
  std::printf("[ kill -9  ] at each operation: %d kills, %d ended at the new state\n", total,
              after);
  RecordProperty("step_kills", total);
  EXPECT_GE(total, 50);
}

// --- kill -9 at random instants ---------------------------------------------

// Round r of the writer loop: mostly delta commits (replacements, appends,
// removals), sometimes a full replacement, a compaction or a gc.
enum class Op { kCommit, kReplace, kCompact, kGc };
Op OpOf(uint64_t r) {
  switch (r % 10) {
    case 9:
      return Op::kReplace;
    case 4:
      return Op::kCompact;
    case 7:
      return Op::kGc;
    default:
      return Op::kCommit;
  }
}
std::vector<TrackRecord> RoundUpdates(uint64_t r) {
  return {Named(r, "n" + std::to_string(r) + "a", "a"),
          Named(r + 1, "n" + std::to_string(r) + "b", "b"),
          Named(r % 30, MakeTrack(r % 30).id, "round " + std::to_string(r))};
}
std::vector<std::string> RoundRemovals(uint64_t r) {
  return {"n" + std::to_string(r - 2) + "a", MakeTrack((r * 7) % 30).id};
}
std::vector<TrackRecord> RoundLibrary(uint64_t r) {
  std::vector<TrackRecord> lib = MakeTracks(30);
  for (TrackRecord& t : lib) t.album = "library " + std::to_string(r);
  return lib;
}
Status RunRound(Store& s, uint64_t r) {
  switch (OpOf(r)) {
    case Op::kReplace:
      return s.Replace(RoundLibrary(r)).status();
    case Op::kCompact:
      return s.Compact().status();
    case Op::kGc:
      return s.CollectGarbage(3).status();
    case Op::kCommit:
      return s.Commit(RoundUpdates(r), RoundRemovals(r)).status();
  }
  return Status::OK();
}
std::vector<TrackRecord> ModelRound(std::vector<TrackRecord> tracks, uint64_t r) {
  Model m{std::move(tracks)};
  switch (OpOf(r)) {
    case Op::kReplace:
      m.tracks = RoundLibrary(r);
      break;
    case Op::kCommit:
      m.Apply(RoundUpdates(r), RoundRemovals(r));
      break;
    default:
      break;
  }
  return m.tracks;
}

TEST(StoreCrashTest, KillAtRandomInstants) {
  const int trials = TrialsFromEnv("TRACKSTORE_CRASH_TRIALS", 250);
  TempDir dir;
  const std::string path = dir.file("s");
  {
    Result<Store> store = Store::Open(path);
    ASSERT_OK(store.status());
    ASSERT_OK(store->Replace(MakeTracks(30)).status());
  }
  // The kill instants are spread over about three rounds of the loop, as
  // long as a round takes on this machine now (measured on a copy).
  long spread_us = 0;
  {
    CopyStore(path, dir.file("calibration"));
    Result<Store> store = Store::Open(dir.file("calibration"));
    ASSERT_OK(store.status());
    const auto start = std::chrono::steady_clock::now();
    for (uint64_t r = 1; r <= 10; ++r) ASSERT_OK(RunRound(*store, r));
    const auto took = std::chrono::steady_clock::now() - start;
    spread_us = std::max<long>(
        1000, 3 * std::chrono::duration_cast<std::chrono::microseconds>(took).count() / 10);
  }
  std::mt19937_64 rng(20240615);
  uint64_t round = 1;
  std::map<uint64_t, int> acks_histogram;
  int landed_new = 0;
  for (int trial = 0; trial < trials; ++trial) {
    State before;
    uint64_t before_number = 0;
    {
      Result<Store> store = Store::Open(path);
      ASSERT_OK(store.status());
      Result<Version> v = store->Current();
      ASSERT_OK(v.status());
      before = StateOf(*v);
      before_number = v->number();
    }
    Pipe ready, acks;
    const uint64_t first = round;
    const pid_t pid = ForkChild([&] {
      ready.CloseRead();
      acks.CloseRead();
      Result<Store> store = Store::Open(path);
      if (!store.ok()) return 2;
      const char go = 'g';
      if (!WriteValue(ready.write_fd(), go)) return 4;
      for (uint64_t r = first; r < first + 1000; ++r) {
        if (!RunRound(*store, r).ok()) return 3;
        if (!WriteValue(acks.write_fd(), r)) return 4;
      }
      return 0;
    });
    ready.CloseWrite();
    acks.CloseWrite();
    char go = 0;
    ASSERT_TRUE(ReadValue(ready.read_fd(), &go)) << "child died before starting";
    // The random instant is the test's input, not a synchronization.
    SleepMicros(static_cast<long>(rng() % static_cast<uint64_t>(spread_us)));
    ::kill(pid, SIGKILL);
    const int status = WaitFor(pid);
    ASSERT_TRUE(KilledBySigkill(status)) << "child failed: wait status " << status;
    uint64_t acked = 0, r = 0;
    while (ReadValue(acks.read_fd(), &r)) {
      ASSERT_EQ(r, first + acked);
      ++acked;
    }
    ++acks_histogram[std::min<uint64_t>(acked, 5)];
    // Acknowledged rounds are in; the one in flight may be.
    std::vector<TrackRecord> done = before.tracks;
    for (uint64_t k = first; k < first + acked; ++k) done = ModelRound(std::move(done), k);
    const std::vector<TrackRecord> maybe = ModelRound(done, first + acked);
    State old_state{done, before.service, before.delta_state};
    State new_state{maybe, before.service, before.delta_state};
    if (CheckRecovered(path, old_state, new_state, before_number, false, 8,
                       "trial " + std::to_string(trial)) &&
        !(old_state == new_state)) {
      ++landed_new;
    }
    ASSERT_FALSE(HasFailure()) << "trial " << trial << ", " << acked << " rounds acknowledged";
    round = first + acked + 1;
  }
  std::printf(
      "[ kill -9  ] at random instants (0-%ld us): %d kills; acknowledged rounds per trial:",
      spread_us, trials);
  for (const auto& [k, n] : acks_histogram) {
    std::printf(" %s%llu:%d", k == 5 ? ">=" : "", static_cast<unsigned long long>(k), n);
  }
  std::printf("; in-flight round landed in %d\n", landed_new);
  RecordProperty("random_kills", trials);
}

// --- many writers, many readers ---------------------------------------------

// One acknowledged commit, as a writer reports it.
struct Ack {
  int writer = 0;
  int round = 0;
  uint64_t version = 0;
  int compacted = 0;
};

std::string OwnId(int w, int r, int k) {
  return "w" + std::to_string(w) + "-r" + std::to_string(r) + "-" + std::to_string(k);
}

// A reader's loop: every version it sees verifies, its iteration yields its
// manifest's track count, and each writer's rounds in it form a prefix (a
// writer's commits land in order, whole). Ends when `stop` reaches EOF.
int ReaderLoop(const std::string& path, int stop_fd, int writers, int count_fd) {
  Result<Store> store = Store::Open(path);
  if (!store.ok()) return 10;
  uint64_t last = 0, seen = 0;
  for (;;) {
    pollfd p{stop_fd, POLLIN, 0};
    if (::poll(&p, 1, 0) > 0) break;
    Result<Version> v = store->Current();
    if (!v.ok()) {
      std::fprintf(stderr, "reader: Current: %s\n", v.status().ToString().c_str());
      return 11;
    }
    if (v->number() < last) return 12;
    last = v->number();
    if (Status s = v->Verify(); !s.ok()) {
      std::fprintf(stderr, "reader: Verify: %s\n", s.ToString().c_str());
      return 13;
    }
    uint64_t n = 0;
    std::map<int, std::set<int>> rounds;
    for (TrackView t : *v) {
      ++n;
      int w = 0, r = 0, k = 0;
      const std::string id(t.id());
      if (std::sscanf(id.c_str(), "w%d-r%d-%d", &w, &r, &k) == 3) rounds[w].insert(r);
    }
    if (n != v->size()) return 14;
    for (const auto& [w, rs] : rounds) {
      if (w < 0 || w >= writers) return 15;
      if (*rs.rbegin() != static_cast<int>(rs.size()) - 1) {
        std::fprintf(stderr, "reader: version %llu has a gap in writer %d's rounds\n",
                     static_cast<unsigned long long>(v->number()), w);
        return 16;
      }
    }
    if (!v->Find("shared-0").has_value()) return 17;
    ++seen;
  }
  WriteValue(count_fd, seen);
  return 0;
}

void ConcurrentWriters(int writers, int rounds) {
  SCOPED_TRACE(std::to_string(writers) + " writers");
  TempDir dir;
  const std::string path = dir.file("s");
  {
    Result<Store> store = Store::Open(path);
    ASSERT_OK(store.status());
    std::vector<TrackRecord> base = MakeTracks(40);
    for (int k = 0; k < 5; ++k) base.push_back(Named(k, "shared-" + std::to_string(k), "base"));
    ASSERT_OK(store->Replace(base).status());
  }
  Pipe stop, counts, acks, start;
  std::vector<pid_t> readers;
  for (int i = 0; i < 2; ++i) {
    readers.push_back(ForkChild([&] {
      stop.CloseWrite();  // else the readers would never see EOF
      start.CloseWrite();
      acks.CloseWrite();
      return ReaderLoop(path, stop.read_fd(), writers, counts.write_fd());
    }));
  }
  std::vector<pid_t> pids;
  for (int w = 0; w < writers; ++w) {
    pids.push_back(ForkChild([&, w] {
      start.CloseWrite();
      StoreOptions o;
      o.lock_timeout = 120 * kMicrosPerSecond;
      Result<Store> store = Store::Open(path, o);
      if (!store.ok()) return 2;
      char go;
      if (ReadValue(start.read_fd(), &go)) return 5;  // released together by EOF
      for (int r = 0; r < rounds; ++r) {
        std::vector<TrackRecord> updates = {
            Named(r, OwnId(w, r, 0), "own"), Named(r + 1, OwnId(w, r, 1), "own"),
            Named(r, "shared-" + std::to_string((w + r) % 5),
                  "w" + std::to_string(w) + " r" + std::to_string(r))};
        Result<CommitStats> c = store->Commit(updates);
        if (!c.ok()) {
          std::fprintf(stderr, "writer %d: %s\n", w, c.status().ToString().c_str());
          return 3;
        }
        Ack a{w, r, c->version, c->compacted ? 1 : 0};
        if (!WriteValue(acks.write_fd(), a)) return 4;
      }
      return 0;
    }));
  }
  start.CloseWrite();  // all writers go
  acks.CloseWrite();
  std::vector<Ack> got;
  Ack a;
  while (ReadValue(acks.read_fd(), &a)) got.push_back(a);
  for (pid_t pid : pids) {
    const int status = WaitFor(pid);
    EXPECT_TRUE(ExitedZero(status)) << "writer wait status " << status;
  }
  stop.CloseWrite();  // readers stop
  counts.CloseWrite();
  for (pid_t pid : readers) {
    const int status = WaitFor(pid);
    EXPECT_TRUE(ExitedZero(status)) << "reader wait status " << status << " (exit code "
                                    << (WIFEXITED(status) ? WEXITSTATUS(status) : -1) << ")";
  }
  uint64_t reader_views = 0, n = 0;
  while (ReadValue(counts.read_fd(), &n)) reader_views += n;

  ASSERT_EQ(got.size(), static_cast<size_t>(writers * rounds));
  std::set<uint64_t> versions;
  uint64_t compactions = 0;
  for (const Ack& x : got) {
    versions.insert(x.version);
    compactions += x.compacted;
  }
  // A compaction's version is reported by the commit that triggered it.
  EXPECT_EQ(versions.size(), got.size()) << "two commits acknowledged the same version";

  Result<Store> store = Store::Open(path);
  ASSERT_OK(store.status());
  Result<Version> v = store->Current();
  ASSERT_OK(v.status());
  EXPECT_OK(v->Verify());
  EXPECT_EQ(v->number(), 1 + got.size() + compactions) << "a version number was skipped or reused";
  for (const Ack& x : got) {
    for (int k = 0; k < 2; ++k) {
      EXPECT_TRUE(v->Find(OwnId(x.writer, x.round, k)).has_value())
          << "acknowledged commit lost: " << OwnId(x.writer, x.round, k);
    }
  }
  EXPECT_EQ(v->size(), 45u + 2 * got.size());
  // Each shared id holds what the newest acknowledged commit gave it.
  std::map<int, Ack> newest;
  for (const Ack& x : got) {
    Ack& n = newest[(x.writer + x.round) % 5];
    if (x.version > n.version) n = x;
  }
  for (const auto& [k, x] : newest) {
    std::optional<TrackView> t = v->Find("shared-" + std::to_string(k));
    ASSERT_TRUE(t.has_value());
    EXPECT_EQ(t->name(), "w" + std::to_string(x.writer) + " r" + std::to_string(x.round))
        << "shared-" << k << ": a later commit's replacement was lost";
  }
  Result<std::vector<VersionInfo>> log = store->Log();
  ASSERT_OK(log.status());
  ASSERT_FALSE(log->empty());
  for (size_t i = 0; i < log->size(); ++i) {
    const VersionInfo& info = (*log)[i];
    EXPECT_EQ(info.number, v->number() - i) << "gap in the kept history";
    EXPECT_EQ(info.parent, info.number - 1) << "version " << info.number << " skipped a parent";
    Result<Version> old = store->At(info.number);
    ASSERT_OK(old.status());
    EXPECT_OK(old->Verify());
  }
  std::printf(
      "[ writers  ] %d writers x %d rounds: %zu commits, %llu compactions, final version "
      "%llu; readers checked %llu versions\n",
      writers, rounds, got.size(), static_cast<unsigned long long>(compactions),
      static_cast<unsigned long long>(v->number()), static_cast<unsigned long long>(reader_views));
  EXPECT_GT(reader_views, 0u);
}

TEST(StoreCrashTest, TwoWritersLoseNothing) { ConcurrentWriters(2, 100); }
TEST(StoreCrashTest, EightWritersLoseNothing) { ConcurrentWriters(8, 40); }

// --- a reader across another process's gc -----------------------------------

TEST(StoreCrashTest, ReaderKeepsItsVersionWhileAnotherProcessCollects) {
  TempDir dir;
  const std::string path = dir.file("s");
  StoreOptions o;
  o.auto_compact = false;
  Result<Store> store = Store::Open(path, o);
  ASSERT_OK(store.status());
  ASSERT_OK(store->Replace(MakeTracks(50)).status());
  ASSERT_OK(store->Commit(Updates(1), std::vector<std::string>{"1002"}).status());
  Result<Version> held = store->Current();
  ASSERT_OK(held.status());
  const std::vector<TrackRecord> tracks = Records(*held);
  const uint64_t number = held->number();

  const pid_t pid = ForkChild([&] {
    Result<Store> other = Store::Open(path, o);
    if (!other.ok()) return 2;
    std::vector<TrackRecord> lib = MakeTracks(50);
    for (TrackRecord& t : lib) t.name = "other";
    if (!other->Replace(lib).ok()) return 3;
    if (!other->Commit(Updates(2)).ok()) return 4;
    return other->CollectGarbage(1).ok() ? 0 : 5;
  });
  ASSERT_TRUE(ExitedZero(WaitFor(pid)));

  // The held version's files are gone...
  for (const FragmentInfo& f : held->info().fragments) {
    EXPECT_FALSE(std::filesystem::exists(path + "/fragments/" + f.name + ".snap")) << f.name;
  }
  EXPECT_TRUE(store->At(number).status().IsNotFound());
  // ...and its bytes are still the same.
  EXPECT_EQ(Records(*held), tracks);
  EXPECT_OK(held->Verify());
  EXPECT_EQ(held->Find("1003")->name(), "replaced in 1");
  EXPECT_FALSE(held->Find("1002").has_value());
}

// --- Busy names the holder --------------------------------------------------

// Stops its process at the first file it writes (the writer lock held)
// until the parent kills it.
class BlockingEnv : public EnvWrapper {
 public:
  BlockingEnv(int ready_fd, int wait_fd) : ready_fd_(ready_fd), wait_fd_(wait_fd) {}
  Status WriteNewFile(const std::string& path, std::span<const ConstBytes> pieces,
                      bool sync) override {
    if (!blocked_) {
      blocked_ = true;
      const char c = 'r';
      (void)WriteValue(ready_fd_, c);
      char never;
      (void)ReadValue(wait_fd_, &never);
    }
    return target()->WriteNewFile(path, pieces, sync);
  }

 private:
  int ready_fd_, wait_fd_;
  bool blocked_ = false;
};

TEST(StoreCrashTest, BusyNamesTheHolderUntilTheKernelReleasesIt) {
  TempDir dir;
  const std::string path = dir.file("s");
  {
    Result<Store> store = Store::Open(path);
    ASSERT_OK(store.status());
    ASSERT_OK(store->Replace(MakeTracks(10)).status());
  }
  Pipe ready, wait;
  const pid_t pid = ForkChild([&] {
    BlockingEnv env(ready.write_fd(), wait.read_fd());
    StoreOptions o;
    o.env = &env;
    Result<Store> store = Store::Open(path, o);
    if (!store.ok()) return 2;
    (void)store->Commit(std::vector<TrackRecord>{MakeTrack(99)});
    return 0;
  });
  char c = 0;
  ASSERT_TRUE(ReadValue(ready.read_fd(), &c));  // the child holds the lock now

  StoreOptions o;
  o.lock_timeout = 50'000;
  Result<Store> store = Store::Open(path, o);
  ASSERT_OK(store.status());
  Result<CommitStats> r = store->Commit(std::vector<TrackRecord>{MakeTrack(100)});
  ASSERT_TRUE(r.status().IsBusy()) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr(std::to_string(pid)));

  ::kill(pid, SIGKILL);
  ASSERT_TRUE(KilledBySigkill(WaitFor(pid)));
  Result<CommitStats> again = store->Commit(std::vector<TrackRecord>{MakeTrack(100)});
  ASSERT_OK(again.status());
  EXPECT_EQ(again->version, 2u);
  EXPECT_THAT(ListNames(path + "/tmp"), ::testing::IsEmpty());
  Result<Version> v = store->Current();
  ASSERT_OK(v.status());
  EXPECT_OK(v->Verify());
  EXPECT_FALSE(v->Find(MakeTrack(99).id).has_value());
  EXPECT_TRUE(v->Find(MakeTrack(100).id).has_value());
}

}  // namespace
}  // namespace trackstore
