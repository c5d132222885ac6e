// The reader's (and a writer's) side of a shared-memory segment whose header
// page and reader slots hold any bytes. A good segment is made once; each
// input is written over the start of a fresh copy of it (up to the heap),
// then a reader opens it, reads the stats, gets every key and reads every
// track, and finally puts an entry. Errors are fine; a crash, a sanitizer
// report or a hang is not.
//
// The segment lives in $TS_FUZZ_SHM_DIR (scripts/fuzz.sh makes and removes
// it), else in a new directory under /dev/shm removed at exit.
#include <fcntl.h>
#include <stdlib.h>
#include <unistd.h>

#include <algorithm>
#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <iterator>
#include <sstream>
#include <string>

#include "fuzz_tracks.h"
#include "shm/layout.h"
#include "trackstore/shm_cache.h"

namespace trackstore {
namespace {

struct Fixture {
  ShmOptions options;
  std::string path;
  std::string pristine;
  uint64_t damage_limit = 0;  // inputs cover bytes [0, heap_offset)
  bool own_dir = false;
};

Fixture* Get();

Fixture* MakeFixture() {
  auto* f = new Fixture;
  std::string dir;
  if (const char* env = std::getenv("TS_FUZZ_SHM_DIR")) {
    dir = env;
  } else {
    char tmpl[] = "/dev/shm/ts-shm-fuzz-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) std::abort();
    dir = tmpl;
    f->own_dir = true;
  }
  f->options = fuzz::ShmFixtureOptions(dir);
  f->options.create_if_missing = false;
  f->path = dir + "/" + f->options.name;
  (void)ShmCache::Remove(f->options);
  if (Status s = fuzz::MakeShmFixture(dir); !s.ok()) {
    std::fprintf(stderr, "shm_header_fuzzer: %s\n", s.ToString().c_str());
    std::abort();
  }
  std::ifstream in(f->path, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  f->pristine = bytes.str();
  const auto* h = reinterpret_cast<const shm::SegmentHeader*>(f->pristine.data());
  f->damage_limit = h->heap_offset;
  std::atexit([] {
    Fixture* f = Get();
    (void)ShmCache::Remove(f->options);
    if (f->own_dir) ::rmdir(f->options.shm_dir.c_str());
  });
  return f;
}

Fixture* Get() {
  static Fixture* fixture = MakeFixture();
  return fixture;
}

// Replaces the segment file's contents (or a file a rebuild put under its
// name) with `image`.
bool WriteSegment(const std::string& path, const std::string& image) {
  const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600);
  if (fd < 0) return false;
  const bool ok = ::write(fd, image.data(), image.size()) == static_cast<ssize_t>(image.size());
  ::close(fd);
  return ok;
}

uint64_t Visit(ShmCache& cache) {
  ShmStats stats = cache.Stats();
  uint64_t sink = stats.entries + stats.bytes_used + stats.live_readers;
  for (const char* key : fuzz::kShmFixtureKeys) {
    Result<ShmEntry> e = cache.Get(key);
    if (!e.ok()) continue;
    sink += e->version() + e->image_size() + e->key().size();
    for (TrackView t : e->snapshot()) {
      TrackRecord r = t.ToRecord();
      sink += r.id.size() + r.extras_json.size() + t.content_hash();
      if (!e->snapshot().Find(r.id)) __builtin_trap();  // a verified image finds its ids
    }
  }
  return sink;
}

}  // namespace
}  // namespace trackstore

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using namespace trackstore;
  Fixture* f = Get();
  std::string image = f->pristine;
  std::memcpy(image.data(), data, std::min<uint64_t>(size, f->damage_limit));
  if (!WriteSegment(f->path, image)) std::abort();
  Result<ShmCache> cache = ShmCache::Open(f->options);
  if (!cache.ok()) return 0;
  volatile uint64_t sink = Visit(*cache);
  (void)sink;
  (void)cache->Put("written-after-damage", fuzz::SmallTracks(2));
  return 0;
}
