// tests/shm_threads_test.cc: ShmCache from several threads of one process,
// for ThreadSanitizer (meson setup -Db_sanitize=thread). TSan sees the
// atomics and the handle's mutexes; across processes, correctness rests on
// shm_multiprocess_test.cc instead.
#include <atomic>
#include <cstdio>
#include <string>
#include <thread>
#include <vector>

#include "shm_test_util.h"
#include "test_util.h"
#include "trackstore/shm_cache.h"

namespace trackstore {
namespace {

constexpr uint64_t kTracks = 100;

std::vector<TrackRecord> Versioned(uint64_t version) {
  return testing::VersionedTracks(kTracks, version);
}
bool Whole(const ShmEntry& e) { return testing::IsWholeVersion(e, kTracks); }

class ShmThreadsTest : public ::testing::Test {
 protected:
  ShmThreadsTest() {
    static int counter = 0;
    options_.name = "ts-thr-" + std::to_string(::getpid()) + "-" + std::to_string(++counter);
    options_.capacity_bytes = 16 << 20;
    options_.max_entries = 64;
    options_.max_readers = 16;
  }
  ~ShmThreadsTest() override { (void)ShmCache::Remove(options_); }

  // Readers on `read_handle` get "k" until `stop`, checking every version
  // whole and holding some views; returns the number of torn or failed reads.
  void RunReaders(ShmCache* read_handle, int threads, std::atomic<bool>* stop,
                  std::atomic<uint64_t>* bad, std::atomic<uint64_t>* reads,
                  std::vector<std::thread>* out) {
    for (int i = 0; i < threads; ++i) {
      out->emplace_back([=] {
        std::vector<ShmEntry> held;
        uint64_t last = 0;
        while (!stop->load()) {
          Result<ShmEntry> e = read_handle->Get("k");
          if (!e.ok() || !Whole(*e) || e->version() < last) {
            bad->fetch_add(1);
            continue;
          }
          last = e->version();
          reads->fetch_add(1);
          if (last % 3 == 0) held.push_back(std::move(e).value());
          if (held.size() > 2) {
            if (!Whole(held.front())) bad->fetch_add(1);
            held.erase(held.begin());
          }
        }
      });
    }
  }

  ShmOptions options_;
};

TEST_F(ShmThreadsTest, ReaderThreadsAndAWriterThreadShareOneHandle) {
  Result<ShmCache> cache = ShmCache::Open(options_);
  ASSERT_OK(cache.status());
  ASSERT_OK(cache->Put("k", Versioned(0)).status());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, reads{0};
  std::vector<std::thread> threads;
  RunReaders(&*cache, 4, &stop, &bad, &reads, &threads);
  std::thread writer([&] {
    for (uint64_t v = 1; v <= 200; ++v) {
      if (!cache->Put("k", Versioned(v)).ok()) bad.fetch_add(1000);
    }
  });
  writer.join();
  stop = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
  EXPECT_OK(cache->Put("k", Versioned(201)).status());
  EXPECT_EQ(cache->Stats().retired_bytes, 0u);
}

// Two handles in one process have separate reader slots and lock
// descriptors; two writer threads on one handle are serialized.
TEST_F(ShmThreadsTest, WritersOnSeparateHandlesAndThreads) {
  Result<ShmCache> readers = ShmCache::Open(options_);
  Result<ShmCache> writers = ShmCache::Open(options_);
  ASSERT_OK(readers.status());
  ASSERT_OK(writers.status());
  ASSERT_OK(writers->Put("k", Versioned(0)).status());
  std::atomic<bool> stop{false};
  std::atomic<uint64_t> bad{0}, reads{0};
  std::vector<std::thread> threads;
  RunReaders(&*readers, 3, &stop, &bad, &reads, &threads);
  std::vector<std::thread> writer_threads;
  for (int w = 0; w < 2; ++w) {
    writer_threads.emplace_back([&, w] {
      const std::string own = w == 0 ? "w0" : "w1";
      for (uint64_t i = 1; i <= 60; ++i) {
        if (!writers->Put("k", Versioned(i)).ok()) bad.fetch_add(1000);
        if (!writers->Put(own, Versioned(i)).ok()) bad.fetch_add(1000);
        if (i % 20 == 0 && !writers->Invalidate(own).ok()) bad.fetch_add(1);
      }
    });
  }
  for (std::thread& t : writer_threads) t.join();
  stop = true;
  for (std::thread& t : threads) t.join();
  EXPECT_EQ(bad.load(), 0u);
  EXPECT_GT(reads.load(), 0u);
  const ShmStats s = writers->Stats();
  EXPECT_EQ(s.live_readers, 1u);  // the readers' handle
  EXPECT_EQ(s.entries, 1u);       // k; w0 and w1 were invalidated last
}

}  // namespace
}  // namespace trackstore
