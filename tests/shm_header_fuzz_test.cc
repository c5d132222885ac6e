// tests/shm_header_fuzz_test.cc: the reader's side of a shared-memory segment
// against damaged bytes.
//
// A reader trusts nothing it finds in the segment: the segment header, the
// reader slots, the index, entry headers and entry images may hold any bytes
// (a stray write from a buggy process, a different build). Each trial takes a
// good segment, damages it (bit flips, random bytes, and "interesting" 64-bit
// values dropped on 8-byte boundaries of our structures), then in a child
// process opens a reader, reads the stats, gets every key and reads every
// field of every track. The child must finish: an error or a hit are both
// fine; a crash, a sanitizer report or a hang fails the test.
//
// Then, unless the damage may have hit Boost's allocator metadata (the
// "whole heap" region), the child also puts an entry: a writer must rebuild
// or report, not crash. (A reader that opens a segment nobody else has open
// already runs the writer's repair.) Boost's own heap metadata has no
// checksum, so damage there is outside what a writer can detect.
//
// Deterministic (fixed seed); TS_SHM_FUZZ_TRIALS overrides the trial count.
#include <fcntl.h>
#include <signal.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include <chrono>
#include <cstdlib>
#include <cstring>
#include <map>
#include <random>
#include <string>
#include <thread>
#include <vector>

#include "shm/layout.h"  // internal: where the structures lie
#include "test_util.h"
#include "trackstore/shm_cache.h"

namespace trackstore {
namespace {

using testing::MakeTracks;

constexpr const char* kKeys[] = {"tracks_all", "a", "second-key"};

// What a child saw, as its exit code.
enum Outcome : int {
  kOpenFailed = 1,   // Open returned an error
  kAllMisses = 2,    // opened; every get missed
  kSomeHits = 3,     // opened; at least one get returned an entry, read whole
  kChildError = 40,  // the child's own setup failed
};

// One reader's whole visit, in the child.
int VisitAsReader(const ShmOptions& options, bool then_write) {
  ShmOptions o = options;
  o.create_if_missing = false;
  Result<ShmCache> cache = ShmCache::Open(o);
  if (!cache.ok()) return kOpenFailed;
  (void)cache->Stats();
  int hits = 0;
  uint64_t sink = 0;
  for (const char* key : kKeys) {
    Result<ShmEntry> e = cache->Get(key);
    if (!e.ok()) continue;
    ++hits;
    for (TrackView t : e->snapshot()) {
      sink += t.id().size() + t.extras_json().size() + t.content_hash();
      sink += static_cast<uint64_t>(t.original_pos().value_or(0));
      for (int f = 0; f < kStringFieldCount; ++f) {
        if (std::optional<std::string_view> v = t.string_field(f)) sink += v->size();
      }
    }
    if (e->snapshot().size() > 0) {
      TrackView first = *e->snapshot().begin();
      sink += e->snapshot().Find(first.id()).has_value();
    }
    sink += e->snapshot().Find("no-such-id").has_value();
  }
  volatile uint64_t keep = sink;
  (void)keep;
  // The segment handle is reused: the put rebuilds a damaged segment or
  // fails with a Status; either is fine here.
  if (then_write) (void)cache->Put("written-after-damage", MakeTracks(2));
  return hits > 0 ? kSomeHits : kAllMisses;
}

// Runs `VisitAsReader` in a child; returns its exit code, or -1 with `why`
// set when it crashed or hung.
int VisitInChild(const ShmOptions& options, bool then_write, std::string* why) {
  const pid_t pid = ::fork();
  if (pid < 0) {
    *why = "fork failed";
    return -1;
  }
  if (pid == 0) {
    ::alarm(20);  // a hang becomes SIGALRM
    ::_exit(VisitAsReader(options, then_write));
  }
  int status = 0;
  if (::waitpid(pid, &status, 0) != pid) {
    *why = "waitpid failed";
    return -1;
  }
  if (WIFSIGNALED(status)) {
    *why = "child killed by signal " + std::to_string(WTERMSIG(status));
    return -1;
  }
  const int code = WEXITSTATUS(status);
  if (code < kOpenFailed || code > kSomeHits) {
    *why = "child exited with " + std::to_string(code) + " (a sanitizer report?)";
    return -1;
  }
  return code;
}

// A byte range of the segment worth damaging.
struct Region {
  const char* name;
  uint64_t begin, end;
};

class ShmHeaderFuzzTest : public ::testing::Test {
 protected:
  ShmHeaderFuzzTest() {
    options_.name = "ts-fuzz-" + std::to_string(::getpid());
    options_.capacity_bytes = 2 << 20;
    options_.max_entries = 16;
    options_.max_readers = 8;
  }
  ~ShmHeaderFuzzTest() override {
    if (map_ != nullptr) ::munmap(map_, size_);
    (void)ShmCache::Remove(options_);
  }

  std::string SegmentPath() const { return options_.shm_dir + "/" + options_.name; }

  // Maps the segment file ourselves, as a stray writer would.
  void Map() {
    if (map_ != nullptr) ::munmap(map_, size_);
    map_ = nullptr;
    const int fd = ::open(SegmentPath().c_str(), O_RDWR | O_CLOEXEC);
    ASSERT_GE(fd, 0);
    struct stat st;
    ASSERT_EQ(::fstat(fd, &st), 0);
    size_ = static_cast<size_t>(st.st_size);
    inode_ = st.st_ino;
    void* p = ::mmap(nullptr, size_, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    ::close(fd);
    ASSERT_NE(p, MAP_FAILED);
    map_ = static_cast<char*>(p);
  }

  // Puts `bytes` back under the segment's name. A reader that found damage
  // may have had the segment rebuilt (a new file took the name): then the
  // pristine bytes go into a new file, renamed over it. Returns whether the
  // segment had been replaced.
  bool Restore(const std::string& bytes) {
    struct stat st;
    if (::stat(SegmentPath().c_str(), &st) == 0 && st.st_ino == inode_) {
      std::memcpy(map_, bytes.data(), size_);
      return false;
    }
    const std::string tmp = SegmentPath() + ".fuzz";
    testing::WriteFileBytes(tmp, bytes);
    EXPECT_EQ(::rename(tmp.c_str(), SegmentPath().c_str()), 0);
    Map();
    return true;
  }

  ShmOptions options_;
  char* map_ = nullptr;
  size_t size_ = 0;
  ino_t inode_ = 0;
};

TEST_F(ShmHeaderFuzzTest, ReadersSurviveAnyDamageToTheSegment) {
  {
    Result<ShmCache> cache = ShmCache::Open(options_);
    ASSERT_OK(cache.status());
    ASSERT_OK(cache->Put(kKeys[0], MakeTracks(40)).status());
    ASSERT_OK(cache->Put(kKeys[1], MakeTracks(3)).status());
    ASSERT_OK(cache->Put(kKeys[2], MakeTracks(0)).status());
    ASSERT_OK(cache->Put(kKeys[1], MakeTracks(5)).status());  // a retired version too
  }

  Map();
  const auto* header = reinterpret_cast<const shm::SegmentHeader*>(map_);
  ASSERT_EQ(header->magic, shm::kSegmentMagic);

  // The regions: our structures, found the way a reader finds them.
  std::vector<Region> regions = {
      {"segment header", 0, sizeof(shm::SegmentHeader)},
      {"reader slots", header->slots_offset,
       header->slots_offset + uint64_t{header->reader_slot_count} * sizeof(shm::ReaderSlot)},
  };
  const uint64_t index_at = header->index_offset.load();
  const auto* index = reinterpret_cast<const shm::IndexBlock*>(map_ + index_at);
  regions.push_back({"index", index_at, index_at + shm::IndexBlockBytes(index->slot_count)});
  uint64_t entries = 0;
  for (uint64_t i = 0; i < index->slot_count; ++i) {
    const uint64_t word = reinterpret_cast<const uint64_t*>(index + 1)[i];
    if (!shm::IsLive(word)) continue;
    const uint64_t at = shm::WordOffset(word);
    const auto* e = reinterpret_cast<const shm::EntryHeader*>(map_ + at);
    regions.push_back({"entry header and key", at, at + e->image_offset});
    regions.push_back({"entry image header", at + e->image_offset, at + e->image_offset + 64});
    regions.push_back({"entry image", at + e->image_offset, at + e->image_offset + e->image_size});
    ++entries;
  }
  ASSERT_EQ(entries, 3u);
  regions.push_back({"whole heap", header->heap_offset, size_});

  const std::string pristine(map_, size_);
  std::string why;
  ASSERT_EQ(VisitInChild(options_, false, &why), kSomeHits) << why;

  const char* env = std::getenv("TS_SHM_FUZZ_TRIALS");
  const int trials = env != nullptr ? std::atoi(env) : 2000;
  std::mt19937_64 rng(20261125);
  const uint64_t interesting[] = {0,
                                  1,
                                  7,
                                  ~uint64_t{0},
                                  ~uint64_t{0} - 7,
                                  uint64_t{1} << 31,
                                  uint64_t{1} << 32,
                                  uint64_t{1} << 40,
                                  size_,
                                  size_ - 8,
                                  size_ + 8,
                                  header->heap_offset,
                                  index_at,
                                  shm::kEntryMagic,
                                  shm::kIndexMagic};
  std::map<int, int> outcomes;
  std::map<std::string, int> per_region;
  int rebuilt = 0;
  for (int trial = 0; trial < trials; ++trial) {
    rebuilt += Restore(pristine);
    const Region& r = regions[rng() % regions.size()];
    const uint64_t span = r.end - r.begin;
    const int damages = 1 + static_cast<int>(rng() % 4);
    std::string what;
    for (int d = 0; d < damages; ++d) {
      const uint64_t at = r.begin + rng() % span;
      switch (rng() % 3) {
        case 0:  // one bit
          map_[at] = static_cast<char>(map_[at] ^ (1 << (rng() % 8)));
          what += " flip@" + std::to_string(at);
          break;
        case 1:  // one random byte
          map_[at] = static_cast<char>(rng());
          what += " byte@" + std::to_string(at);
          break;
        default: {  // an interesting 64-bit value on an 8-byte boundary
          const uint64_t aligned = at & ~uint64_t{7};
          if (aligned + 8 > size_) break;
          const uint64_t v = interesting[rng() % std::size(interesting)];
          std::memcpy(map_ + aligned, &v, 8);
          what += " word@" + std::to_string(aligned) + "=" + std::to_string(v);
        }
      }
    }
    const bool then_write = std::string_view(r.name) != "whole heap";
    const int outcome = VisitInChild(options_, then_write, &why);
    ASSERT_NE(outcome, -1) << "trial " << trial << ", " << r.name << ":" << what << ": " << why;
    ++outcomes[outcome];
    ++per_region[r.name];
  }
  rebuilt += Restore(pristine);
  EXPECT_EQ(VisitInChild(options_, false, &why), kSomeHits) << why;

  // "Rebuilt": a reader's Open found the damage and, holding the writer
  // lock with nobody else attached, replaced the segment with an empty one.
  std::printf(
      "%d damaged segments, 0 crashes, 0 hangs: open refused %d, all gets missed %d, "
      "some gets hit %d; the segment was rebuilt after %d\n",
      trials, outcomes[kOpenFailed], outcomes[kAllMisses], outcomes[kSomeHits], rebuilt);
  for (const auto& [name, n] : per_region) std::printf("  %-22s %d trials\n", name.c_str(), n);
}

}  // namespace
}  // namespace trackstore
