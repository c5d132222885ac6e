// tests/shm_multiprocess_test.cc: ShmCache across real processes (fork), with
// kill -9 at named points of a put and at random times (writers and
// readers killed at every stage, concurrent writers, a stopped reader). Every child is bounded by
// alarm(); every wait in the parent has a deadline, after which the child is killed and the test
// fails.
//
// The gtest process is single-threaded, so fork() without exec is safe.
// Children report through a MAP_SHARED anonymous page and their exit code,
// and close their ShmCache handles before _exit.
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <filesystem>
#include <functional>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "shm_test_util.h"
#include "test_util.h"
#include "trackstore/shm_cache.h"

namespace trackstore {
namespace {

using Clock = std::chrono::steady_clock;

constexpr uint64_t kTracks = 200;  // tracks per version
constexpr int kMaxChildren = 16;
constexpr int kMaxPuts = 1024;

// Shared with the children.
struct Board {
  std::atomic<int> stop;
  std::atomic<uint64_t> reads[kMaxChildren];
  std::atomic<uint64_t> torn[kMaxChildren];
  std::atomic<uint64_t> misses[kMaxChildren];
  std::atomic<uint64_t> errors[kMaxChildren];
  std::atomic<uint64_t> backwards[kMaxChildren];
  std::atomic<uint64_t> versions[2][kMaxPuts];
  char last_error[256];
};

std::vector<TrackRecord> Versioned(uint64_t version) {
  return testing::VersionedTracks(kTracks, version);
}
bool Whole(const ShmEntry& e) { return testing::IsWholeVersion(e, kTracks); }

pid_t Spawn(const std::function<int()>& body, unsigned alarm_seconds = 100) {
  const pid_t pid = ::fork();
  if (pid == 0) {
    ::alarm(alarm_seconds);  // no child outlives a hung test
    _exit(body());
  }
  return pid;
}

// Waits for `pid` until `timeout`; kills it past the deadline. Returns the
// wait status, or -1 when it had to be killed.
int Reap(pid_t pid, std::chrono::milliseconds timeout) {
  const auto deadline = Clock::now() + timeout;
  int status = 0;
  while (::waitpid(pid, &status, WNOHANG) == 0) {
    if (Clock::now() > deadline) {
      ::kill(pid, SIGKILL);
      ::waitpid(pid, &status, 0);
      return -1;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  }
  return status;
}

bool ExitedOk(int status) { return status != -1 && WIFEXITED(status) && WEXITSTATUS(status) == 0; }
bool Killed(int status) {
  return status != -1 && WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}

class ShmMultiprocessTest : public ::testing::Test {
 protected:
  ShmMultiprocessTest() {
    void* p =
        ::mmap(nullptr, sizeof(Board), PROT_READ | PROT_WRITE, MAP_SHARED | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) std::abort();
    board_ = new (p) Board();
    static int counter = 0;
    options_.name = "ts-mp-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    options_.capacity_bytes = 32 << 20;
    options_.max_entries = 64;
    options_.max_readers = 32;
    options_.verify_on_get = true;  // every read re-checks the hash
  }
  ~ShmMultiprocessTest() override {
    (void)ShmCache::Remove(options_);
    ::munmap(board_, sizeof(Board));
  }

  ShmCache OpenOrDie() {
    Result<ShmCache> c = ShmCache::Open(options_);
    if (!c.ok()) {
      ADD_FAILURE() << c.status().ToString();
      std::abort();
    }
    return std::move(c).value();
  }

  // A reader process: gets the key until told to stop, checks each version
  // whole, and holds some views for a while (up to 3 at once). With
  // `monotonic`, versions must never go backwards.
  pid_t SpawnReader(int slot, bool monotonic) {
    return Spawn([this, slot, monotonic] {
      Board& b = *board_;
      Result<ShmCache> c = ShmCache::Open(options_);
      if (!c.ok()) return 10;
      std::mt19937 rng(static_cast<unsigned>(::getpid()));
      std::vector<ShmEntry> held;
      uint64_t last = 0;
      while (b.stop.load() == 0) {
        Result<ShmEntry> e = c->Get("k");
        if (!e.ok()) {
          const Status& s = e.status();
          if (s.IsNotFound()) {
            b.misses[slot]++;
          } else {
            (s.IsCorruption() ? b.torn : b.errors)[slot]++;
            std::snprintf(b.last_error, sizeof(b.last_error), "%s", s.ToString().c_str());
          }
          continue;
        }
        b.reads[slot]++;
        if (!Whole(*e)) b.torn[slot]++;
        if (monotonic && e->version() < last) b.backwards[slot]++;
        last = e->version();
        if (rng() % 4 == 0) held.push_back(std::move(e).value());
        if (held.size() > 3) {
          if (!Whole(held.front())) b.torn[slot]++;  // still whole after being held
          held.erase(held.begin());
        }
      }
      for (const ShmEntry& e : held) {
        if (!Whole(e)) b.torn[slot]++;
      }
      return 0;
    });
  }

  void StopAndReapReaders(const std::vector<pid_t>& readers) {
    board_->stop.store(1);
    for (pid_t pid : readers) EXPECT_TRUE(ExitedOk(Reap(pid, std::chrono::seconds(20))));
    board_->stop.store(0);
  }

  uint64_t Sum(std::atomic<uint64_t>* counters) {
    uint64_t n = 0;
    for (int i = 0; i < kMaxChildren; ++i) n += counters[i].load();
    return n;
  }

  // bytes_used with one entry of kTracks tracks and nothing retired.
  uint64_t Baseline(ShmCache& cache) {
    EXPECT_OK(cache.Put("k", Versioned(0)).status());
    EXPECT_EQ(cache.Stats().retired_bytes, 0u);
    return cache.Stats().bytes_used;
  }

  Board* board_;
  ShmOptions options_;
};

// 8 readers, 1 writer, 1,000 versions, no torn reads.
TEST_F(ShmMultiprocessTest, EightReadersSeeOnlyWholeVersionsWhileAWriterPublishesAThousand) {
  ShmCache cache = OpenOrDie();
  const uint64_t baseline = Baseline(cache);
  std::vector<pid_t> readers;
  for (int i = 0; i < 8; ++i) readers.push_back(SpawnReader(i, /*monotonic=*/true));
  const pid_t writer = Spawn([this] {
    Result<ShmCache> c = ShmCache::Open(options_);
    if (!c.ok()) return 10;
    uint64_t last = 0;
    for (uint64_t v = 1; v <= 1000; ++v) {
      Result<uint64_t> version = c->Put("k", Versioned(v));
      if (!version.ok()) {
        std::snprintf(board_->last_error, sizeof(board_->last_error), "%s",
                      version.status().ToString().c_str());
        return 11;
      }
      if (*version <= last) return 12;
      last = *version;
    }
    return 0;
  });
  const int ws = Reap(writer, std::chrono::seconds(90));
  EXPECT_TRUE(ExitedOk(ws)) << ws << " " << board_->last_error;
  StopAndReapReaders(readers);

  for (int i = 0; i < 8; ++i) EXPECT_GT(board_->reads[i].load(), 0u) << "reader " << i;
  EXPECT_EQ(Sum(board_->torn), 0u);
  EXPECT_EQ(Sum(board_->misses), 0u);
  EXPECT_EQ(Sum(board_->errors), 0u) << board_->last_error;
  EXPECT_EQ(Sum(board_->backwards), 0u);
  Result<ShmEntry> last = cache.Get("k");
  ASSERT_OK(last.status());
  EXPECT_EQ(last->snapshot()[0].name().substr(0, 8), "v001000 ");
  last = Status::NotFound("released");
  EXPECT_OK(cache.Put("k", Versioned(1001)).status());
  const ShmStats s = cache.Stats();
  EXPECT_EQ(s.bytes_used, baseline);
  EXPECT_EQ(s.retired_bytes, 0u);
  EXPECT_EQ(s.dead_reader_slots, 0u);
  RecordProperty("reads", std::to_string(Sum(board_->reads)));
  std::printf("8 readers: %llu whole reads, 0 torn, over 1000 versions\n",
              static_cast<unsigned long long>(Sum(board_->reads)));
}

// A writer killed at each named point of a put, and at random
// times. Readers carry on and see only whole versions; the next writer gets
// the lock at once, finds the dirty marker, rebuilds, and succeeds.
TEST_F(ShmMultiprocessTest, WriterKilledMidPutNeverBlocksOrTearsAnything) {
  options_.capacity_bytes = 8 << 20;
  ShmCache cache = OpenOrDie();
  const uint64_t baseline = Baseline(cache);
  std::vector<pid_t> readers = {SpawnReader(0, false), SpawnReader(1, false)};
  const char* points[] = {"after_dirty", "after_alloc", "after_data", "after_publish",
                          "before_free"};
  std::mt19937 rng(42);
  double max_recovery_ms = 0;
  int killed = 0, rebuilt = 0;
  for (int trial = 0; trial < 70; ++trial) {
    const bool named = trial < 50;
    const char* point = points[trial % 5];
    const pid_t child = Spawn(
        [this, named, point, trial] {
          if (named) ::setenv("TRACKSTORE_SHM_CRASH_AT", point, 1);
          Result<ShmCache> c = ShmCache::Open(options_);
          if (!c.ok()) return 10;
          for (uint64_t v = 0;; ++v) {  // killed by the hook or by the parent
            Result<uint64_t> put = c->Put("k", Versioned(100000 + trial * 1000 + v % 1000));
            if (!put.ok()) {
              std::snprintf(board_->last_error, sizeof(board_->last_error), "put %llu: %s",
                            static_cast<unsigned long long>(v), put.status().ToString().c_str());
              return 11;
            }
          }
        },
        30);
    if (!named) std::this_thread::sleep_for(std::chrono::microseconds(rng() % 20000));
    if (!named) ::kill(child, SIGKILL);
    const int status = Reap(child, std::chrono::seconds(20));
    ASSERT_TRUE(Killed(status)) << "trial " << trial << " (" << (named ? point : "random")
                                << "): status " << status << " " << board_->last_error;
    ++killed;
    const ShmStats before = cache.Stats();
    if (named) {
      EXPECT_EQ(before.dead_writer_pid, child) << point;
    }
    const auto start = Clock::now();
    ASSERT_OK(cache.Put("k", Versioned(trial)).status()) << "after trial " << trial;
    const double ms = std::chrono::duration<double, std::milli>(Clock::now() - start).count();
    max_recovery_ms = std::max(max_recovery_ms, ms);
    const ShmStats after = cache.Stats();
    rebuilt += after.rebuilds > before.rebuilds;
    EXPECT_EQ(after.dead_writer_pid, 0);
    EXPECT_EQ(after.entries, 1u);
  }
  StopAndReapReaders(readers);
  EXPECT_EQ(Sum(board_->torn), 0u);
  EXPECT_EQ(Sum(board_->errors), 0u) << board_->last_error;
  EXPECT_GT(Sum(board_->reads), 0u);
  EXPECT_GE(rebuilt, 50);  // every named point is inside the dirty section
  EXPECT_LT(max_recovery_ms, 5000);
  EXPECT_OK(cache.Put("k", Versioned(9)).status());
  const ShmStats s = cache.Stats();
  EXPECT_EQ(s.bytes_used, baseline);
  EXPECT_EQ(s.retired_bytes, 0u);
  EXPECT_EQ(s.live_readers + s.dead_reader_slots, 0u);
  // No half-built segment files left behind (temporary names start with
  // '.'), and no lock file: the lock is on the segment itself.
  int files = 0;
  for (const auto& f : std::filesystem::directory_iterator(options_.shm_dir)) {
    const std::string n = f.path().filename().string();
    files += n.rfind(options_.name, 0) == 0 || n.rfind("." + options_.name, 0) == 0;
  }
  EXPECT_EQ(files, 1);
  std::printf(
      "%d writers killed (50 at named points, 20 at random), %d rebuilds, %llu whole "
      "reads, 0 torn, slowest recovery put %.1f ms\n",
      killed, rebuilt, static_cast<unsigned long long>(Sum(board_->reads)), max_recovery_ms);
}

// A reader killed while it holds a view (even trials), or at a random
// instant from 0 to 3 ms after it starts: before it attaches, inside Open or
// Get, or holding (odd trials). Its slot and the versions it held are
// reclaimed by the next put; with 8 slots, 200 kills would run out of slots
// if any leaked.
TEST_F(ShmMultiprocessTest, ReaderKilledHoldingAViewLeaksNothing) {
  options_.max_readers = 8;
  ShmCache cache = OpenOrDie();
  const uint64_t baseline = Baseline(cache);
  std::vector<pid_t> readers = {SpawnReader(0, true), SpawnReader(1, true)};
  constexpr int kTrials = 200;
  std::mt19937 rng(11);
  int killed_holding = 0;
  for (int trial = 0; trial < kTrials; ++trial) {
    const bool at_random = trial % 2 == 1;
    int pipe_fds[2];
    ASSERT_EQ(::pipe(pipe_fds), 0);
    const pid_t child = Spawn(
        [this, &pipe_fds] {
          ::close(pipe_fds[0]);
          Result<ShmCache> c = ShmCache::Open(options_);
          if (!c.ok()) return 10;
          Result<ShmEntry> e = c->Get("k");
          if (!e.ok() || !Whole(*e)) return 11;
          if (::write(pipe_fds[1], "h", 1) != 1) return 12;
          for (;;) ::pause();  // holding the view until killed
        },
        30);
    ::close(pipe_fds[1]);
    pollfd pfd = {pipe_fds[0], POLLIN, 0};
    char c = 0;
    const int wait_ms = at_random ? static_cast<int>(rng() % 4) : 10000;
    const bool holding = ::poll(&pfd, 1, wait_ms) == 1 && ::read(pipe_fds[0], &c, 1) == 1;
    ::close(pipe_fds[0]);
    ::kill(child, SIGKILL);
    const int exit_status = Reap(child, std::chrono::seconds(10));
    // At random, the child may also die of SIGPIPE writing 'h' to the closed
    // pipe, or see EPIPE (exit 12): still a reader dying mid-way.
    const bool died = at_random ? exit_status != -1 &&
                                      (WIFSIGNALED(exit_status) ||
                                       (WIFEXITED(exit_status) && WEXITSTATUS(exit_status) == 12))
                                : Killed(exit_status);
    ASSERT_TRUE(died) << "trial " << trial << ", wait status " << exit_status;
    ASSERT_TRUE(holding || at_random) << "trial " << trial;
    killed_holding += holding;
    EXPECT_LE(cache.Stats().dead_reader_slots, 1u) << "trial " << trial;
    ASSERT_OK(cache.Put("k", Versioned(trial + 1)).status()) << "trial " << trial;
    EXPECT_EQ(cache.Stats().dead_reader_slots, 0u) << "trial " << trial;
  }
  StopAndReapReaders(readers);
  EXPECT_EQ(Sum(board_->torn), 0u);
  EXPECT_EQ(Sum(board_->errors), 0u) << board_->last_error;
  EXPECT_EQ(Sum(board_->backwards), 0u);
  EXPECT_OK(cache.Put("k", Versioned(77)).status());
  const ShmStats s = cache.Stats();
  EXPECT_EQ(s.bytes_used, baseline);
  EXPECT_EQ(s.retired_bytes, 0u);
  EXPECT_EQ(s.live_readers + s.dead_reader_slots, 0u);
  std::printf(
      "%d readers killed (%d holding a view, the rest at a random instant): slots leaked 0, "
      "bytes back to %llu\n",
      kTrials, killed_holding, static_cast<unsigned long long>(s.bytes_used));
}

// Two writer processes publish concurrently. The kernel lock serializes
// them: versions are unique and increase within each writer.
TEST_F(ShmMultiprocessTest, TwoWritersAreSerialized) {
  ShmCache cache = OpenOrDie();
  constexpr int kPuts = 300;
  std::vector<pid_t> writers;
  for (int w = 0; w < 2; ++w) {
    writers.push_back(Spawn([this, w] {
      Result<ShmCache> c = ShmCache::Open(options_);
      if (!c.ok()) return 10;
      for (int i = 0; i < kPuts; ++i) {
        Result<uint64_t> v = c->Put("k", Versioned(w * kPuts + i));
        if (!v.ok()) return 11;
        board_->versions[w][i] = *v;
      }
      return 0;
    }));
  }
  for (pid_t pid : writers) EXPECT_TRUE(ExitedOk(Reap(pid, std::chrono::seconds(60))));
  std::vector<uint64_t> all;
  for (int w = 0; w < 2; ++w) {
    for (int i = 0; i < kPuts; ++i) {
      all.push_back(board_->versions[w][i]);
      if (i > 0) {
        EXPECT_GT(board_->versions[w][i], board_->versions[w][i - 1]);
      }
    }
  }
  std::sort(all.begin(), all.end());
  EXPECT_EQ(std::adjacent_find(all.begin(), all.end()), all.end());  // none duplicated
  // How often the lock changed hands (fairness, for information).
  std::vector<std::pair<uint64_t, int>> order;
  for (int w = 0; w < 2; ++w) {
    for (int i = 0; i < kPuts; ++i) order.emplace_back(board_->versions[w][i], w);
  }
  std::sort(order.begin(), order.end());
  int handovers = 0;
  for (size_t i = 1; i < order.size(); ++i) handovers += order[i].second != order[i - 1].second;
  std::printf("2 writers x %d puts: versions unique, %d lock handovers\n", kPuts, handovers);
  Result<ShmEntry> e = cache.Get("k");
  ASSERT_OK(e.status());
  EXPECT_EQ(e->version(), all.back());
}

// A stopped reader (a short run) holds back only the version it has a view
// of, not every version published since (writers' puts used to fail with
// ResourceExhausted then, and a reader descheduled on a loaded machine made
// a writer's put fail in WriterKilledMidPutNeverBlocksOrTearsAnything). Once
// it resumes and lets go, the memory comes back; its view was valid
// throughout.
TEST_F(ShmMultiprocessTest, StoppedReaderHoldsBackOnlyTheVersionItViews) {
  options_.capacity_bytes = 2 << 20;
  ShmCache cache = OpenOrDie();
  const uint64_t baseline = Baseline(cache);
  const uint64_t one_entry = cache.Stats().entry_bytes;
  int to_child[2], from_child[2];
  ASSERT_EQ(::pipe(to_child), 0);
  ASSERT_EQ(::pipe(from_child), 0);
  const pid_t child = Spawn(
      [&] {
        Result<ShmCache> c = ShmCache::Open(options_);
        if (!c.ok()) return 10;
        Result<ShmEntry> e = c->Get("k");
        if (!e.ok() || ::write(from_child[1], "h", 1) != 1) return 11;
        ::raise(SIGSTOP);
        char go = 0;
        if (::read(to_child[0], &go, 1) != 1) return 12;
        return Whole(*e) ? 0 : 13;  // still whole after all those puts
      },
      30);
  char c = 0;
  ASSERT_EQ(::read(from_child[0], &c, 1), 1);
  int status = 0;
  ASSERT_EQ(::waitpid(child, &status, WUNTRACED), child);
  ASSERT_TRUE(WIFSTOPPED(status));
  uint64_t peak = 0;
  int published = 0;
  for (; published < 500; ++published) {
    const Status s = cache.Put("k", Versioned(published)).status();
    if (!s.ok()) {  // not ASSERT: the child must be let go below
      ADD_FAILURE() << "put " << published << ": " << s.ToString();
      break;
    }
    peak = std::max(peak, cache.Stats().retired_bytes);
  }
  // The stopped reader's version, and the one published next (linked at the
  // generation the reader pinned, so it might have seen it): nothing more.
  EXPECT_GT(peak, 0u);
  EXPECT_LE(peak, 2 * one_entry);
  ::kill(child, SIGCONT);
  ASSERT_EQ(::write(to_child[1], "g", 1), 1);
  EXPECT_TRUE(ExitedOk(Reap(child, std::chrono::seconds(10))));
  for (int fd : {to_child[0], to_child[1], from_child[0], from_child[1]}) ::close(fd);
  EXPECT_OK(cache.Put("k", Versioned(1)).status());
  EXPECT_EQ(cache.Stats().retired_bytes, 0u);
  EXPECT_EQ(cache.Stats().bytes_used, baseline);
  std::printf(
      "stopped reader: %d puts, peak %llu bytes held (at most two entries), all back after\n",
      published, static_cast<unsigned long long>(peak));
}

// A damaged segment found while other processes have it open is
// replaced, quickly; the attached process follows to the new one.
TEST_F(ShmMultiprocessTest, DamagedSegmentInUseIsReplacedWithoutSpinning) {
  ShmCache cache = OpenOrDie();
  ASSERT_OK(cache.Put("k", Versioned(1)).status());
  const std::string path = options_.shm_dir + "/" + options_.name;
  testing::WriteFileBytes(path + ".junk", std::string(1 << 16, '\0'));
  ASSERT_EQ(::rename((path + ".junk").c_str(), path.c_str()), 0);
  const pid_t child = Spawn([this] {
    const auto start = Clock::now();
    Result<ShmCache> c = ShmCache::Open(options_);
    if (!c.ok() || Clock::now() - start > std::chrono::seconds(5)) return 10;
    if (c->Stats().rebuilds != 1) return 11;
    return c->Put("k", Versioned(2)).ok() ? 0 : 12;
  });
  EXPECT_TRUE(ExitedOk(Reap(child, std::chrono::seconds(20))));
  // This handle still maps the old segment, which nobody marked replaced
  // (the file was swapped behind the cache's back). A write notices that the
  // name now holds another file and follows it.
  ASSERT_OK(cache.Put("k", Versioned(3)).status());
  Result<ShmEntry> e = cache.Get("k");
  ASSERT_OK(e.status());
  EXPECT_EQ(e->snapshot()[0].name().substr(0, 8), "v000003 ");
  EXPECT_EQ(cache.Stats().rebuilds, 1u);
}

}  // namespace
}  // namespace trackstore
