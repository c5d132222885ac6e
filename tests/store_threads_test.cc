// Threads of one process sharing a Store and its Versions: readers iterate
// and look up (the first iteration of a layered version builds its slot
// map, once) while a writer thread commits. Run under ThreadSanitizer by
// scripts/test.sh; processes are covered by the crash and concurrency tests.
#include <gtest/gtest.h>

#include <atomic>
#include <thread>
#include <vector>

#include "test_util.h"
#include "trackstore/store.h"

namespace trackstore {
namespace {

using testing::MakeTrack;
using testing::MakeTracks;
using testing::TempDir;

TEST(StoreThreadsTest, ReadersShareVersionsWhileAWriterCommits) {
  TempDir dir;
  StoreOptions o;
  o.sync = false;
  o.compact_max_deltas = 3;  // compactions happen during the test too
  Result<Store> store = Store::Open(dir.file("s"), o);
  ASSERT_OK(store.status());
  ASSERT_OK(store->Replace(MakeTracks(200)).status());
  ASSERT_OK(store->Commit(std::vector<TrackRecord>{MakeTrack(1000)}).status());

  std::atomic<bool> done{false};
  std::atomic<int> failures{0};
  Result<Version> shared = store->Current();  // one Version, iterated by all
  ASSERT_OK(shared.status());
  std::vector<std::thread> readers;
  for (int r = 0; r < 3; ++r) {
    readers.emplace_back([&] {
      while (!done.load()) {
        uint64_t n = 0;
        for (TrackView t : *shared) n += !t.id().empty();
        if (n != shared->size()) failures.fetch_add(1);
        Result<Version> v = store->Current();
        if (!v.ok() || !v->Find("1000").has_value()) failures.fetch_add(1);
        if (v.ok()) {
          uint64_t m = 0;
          for (TrackView t : *v) m += t.content_hash() != 0;
          if (m != v->size()) failures.fetch_add(1);
        }
      }
    });
  }
  for (int i = 0; i < 20; ++i) {
    std::vector<TrackRecord> updates = {MakeTrack(static_cast<uint64_t>(i)), MakeTrack(2000 + i)};
    updates[0].name = "round " + std::to_string(i);
    ASSERT_OK(store->Commit(updates).status());
  }
  done.store(true);
  for (std::thread& t : readers) t.join();
  EXPECT_EQ(failures.load(), 0);
  Result<Version> v = store->Current();
  ASSERT_OK(v.status());
  EXPECT_EQ(v->size(), 221u);
  EXPECT_OK(v->Verify());
}

}  // namespace
}  // namespace trackstore
