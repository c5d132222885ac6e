// ShmCache's public methods: argument checks, the exception boundary, and
// the work handed to ShmCache::Rep (shm/cache_rep.cc).
#include "trackstore/shm_cache.h"

#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <cerrno>
#include <cstring>
#include <exception>
#include <functional>
#include <limits>
#include <mutex>
#include <optional>
#include <span>

#include "shm/cache_rep.h"
#include "snapshot_access.h"
#include "snapshot_format.h"
#include "trackstore/env.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore {

namespace {

bool ValidName(const std::string& name) {
  if (name.empty() || name.size() > 200 || name[0] == '.') return false;
  for (char c : name) {
    const bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                    c == '.' || c == '_' || c == '-';
    if (!ok) return false;
  }
  return true;
}

}  // namespace

// --- ShmEntry ---------------------------------------------------------------

ShmEntry::ShmEntry(std::unique_ptr<Pin> pin) : rep_(std::move(pin)) {}
ShmEntry::ShmEntry(ShmEntry&&) noexcept = default;
ShmEntry& ShmEntry::operator=(ShmEntry&&) noexcept = default;
ShmEntry::~ShmEntry() = default;
const Snapshot& ShmEntry::snapshot() const { return rep_->snapshot; }
std::string_view ShmEntry::key() const { return rep_->key; }
uint64_t ShmEntry::version() const { return rep_->version; }
Micros ShmEntry::expires_at() const { return rep_->expires_at; }
uint64_t ShmEntry::image_size() const { return rep_->snapshot.file_size(); }

// --- ShmCache ---------------------------------------------------------------

// Exceptions (std::bad_alloc, anything from Boost) stop here: the
// public API returns errors as values.
#define TRACKSTORE_SHM_BOUNDARY(subject)                                          \
  catch (const std::exception& ex) {                                              \
    return Status::IOError(subject, std::string("internal error: ") + ex.what()); \
  }

Result<ShmCache> ShmCache::Open(const ShmOptions& options) try {
  if (!ValidName(options.name)) {
    return Status::InvalidArgument("shm segment name " + Quote(options.name),
                                   "use 1-200 characters from A-Z a-z 0-9 . _ -, not starting "
                                   "with '.' (names starting with '.' are the cache's own)");
  }
  // Checked before anything is created, and before any arithmetic on them.
  const std::string what = "shm segment " + options.name;
  if (options.capacity_bytes >= shm::kMaxSegmentBytes) {
    return Status::InvalidArgument(what, "capacity_bytes " +
                                             std::to_string(options.capacity_bytes) +
                                             ": must be below 1 TiB (1099511627776 bytes)");
  }
  if (options.max_entries == 0 || options.max_entries > shm::kMaxEntries) {
    return Status::InvalidArgument(what, "max_entries " + std::to_string(options.max_entries) +
                                             ": must be 1 to " + std::to_string(shm::kMaxEntries));
  }
  if (options.max_readers == 0 || options.max_readers > shm::kMaxReaders ||
      options.lock_timeout_ms < 0) {
    return Status::InvalidArgument(what, "max_readers must be 1 to " +
                                             std::to_string(shm::kMaxReaders) +
                                             ", lock_timeout_ms not negative");
  }
  auto rep = std::make_unique<Rep>();
  rep->options = options;
  if (!rep->options.clock) rep->options.clock = SystemClock();
  rep->path = rep->options.shm_dir + "/" + options.name;
  Status s = rep->Open();
  if (!s.ok()) return s;
  return ShmCache(std::move(rep));
}
TRACKSTORE_SHM_BOUNDARY("shm segment " + options.name)

Status ShmCache::Remove(const ShmOptions& options) try {
  if (!ValidName(options.name)) {
    return Status::InvalidArgument("shm segment name " + Quote(options.name));
  }
  const std::string path = options.shm_dir + "/" + options.name;
  // Only a segment this user may use is removed (the same checks as Open).
  Result<std::shared_ptr<shm::SegmentFile>> file =
      shm::SegmentFile::Open(path, options.name, options.share_with_group, options.lock_timeout_ms);
  if (!file.ok()) {
    if (file.status().IsNotFound()) {
      return Status::NotFound("shm segment " + options.name, "does not exist");
    }
    return file.status();
  }
  if (Status ls = (*file)->LockWriter(options.lock_timeout_ms, nullptr); !ls.ok()) return ls;
  WriteScope scope;
  scope.Hold(*file);
  if (!(*file)->IsAt(path)) return Status::OK();  // replaced meanwhile: someone else's now
  // Tell attached processes to look again (they find nothing, or a writer's
  // new segment); then take the name away.
  if (Result<SegmentPtr> a = Segment::Attach(*file); a.ok() && (*a)->CheckSize().ok()) {
    (*a)->header()->replaced.store(1, std::memory_order_release);
  }
  if (::unlink(path.c_str()) != 0) return PosixError(path, errno);
  return Status::OK();
}
TRACKSTORE_SHM_BOUNDARY("shm segment " + options.name)

ShmCache::ShmCache(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
ShmCache::ShmCache(ShmCache&&) noexcept = default;
ShmCache& ShmCache::operator=(ShmCache&&) noexcept = default;
ShmCache::~ShmCache() = default;
const std::string& ShmCache::name() const { return rep_->options.name; }

Result<ShmEntry> ShmCache::Get(std::string_view key) try {
  if (Status s = rep_->CheckProcess(); !s.ok()) return s;
  return rep_->Get(key);
}
TRACKSTORE_SHM_BOUNDARY(rep_->What())

namespace {

// Fills the new block `dst` of `size` bytes piece by piece, `fill(offset,
// max)` writing at most `max` bytes at `dst + offset` and returning how many,
// and hashes each piece right after it lands, while it is in cache: checking
// the hash afterwards would read the whole image from memory again. Then
// verifies the image fully, as Snapshot::FromBuffer(verify=true) would.
template <typename FillPiece>
Status FillAndVerify(char* dst, uint64_t size, std::string_view name, FillPiece fill) {
  constexpr uint64_t kPiece = 256 << 10;
  const auto* bytes = reinterpret_cast<const uint8_t*>(dst);
  std::optional<format::PayloadHasher> hasher;
  bool header_read = false;
  for (uint64_t done = 0; done < size;) {
    Result<uint64_t> n = fill(done, std::min(size - done, kPiece));
    if (!n.ok()) return n.status();
    done += *n;
    if (!header_read && done >= format::kHeaderSize) {
      header_read = true;
      format::Header header;
      if (format::DecodeHeader(name, {bytes, size}, &header).ok()) {
        hasher.emplace(std::span(bytes + header.payload_offset, header.payload_size));
      }
    }
    if (hasher) hasher->HashTo(bytes + done);
  }
  // A bad header gets its error from the full check.
  if (!hasher) return Snapshot::FromBuffer(dst, size, name, /*verify=*/true).status();
  return internal::SnapshotAccess::FromBufferHashed(dst, size, name, hasher->Finish()).status();
}

}  // namespace

Result<uint64_t> ShmCache::PutImage(std::string_view key, const void* data, size_t size,
                                    std::optional<int64_t> ttl_seconds) try {
  if (Status s = rep_->CheckProcess(); !s.ok()) return s;
  const std::string name = "shm:" + rep_->options.name + "/" + std::string(key);
  return rep_->Put(
      key, size,
      [&](char* dst) {
        return FillAndVerify(dst, size, name, [&](uint64_t at, uint64_t n) -> Result<uint64_t> {
          std::memcpy(dst + at, static_cast<const char*>(data) + at, n);
          return n;
        });
      },
      ttl_seconds);
}
TRACKSTORE_SHM_BOUNDARY(rep_->What())

Result<uint64_t> ShmCache::Put(std::string_view key, std::span<const TrackRecord> tracks,
                               std::optional<int64_t> ttl_seconds) try {
  if (Status s = rep_->CheckProcess(); !s.ok()) return s;
  std::string image;
  SnapshotWriter writer;
  Result<WriteResult> encoded = writer.Encode(tracks, &image);
  if (!encoded.ok()) return encoded.status();
  // Our own encoding: the O(1) checks suffice.
  return rep_->Put(
      key, image.size(),
      [&](char* dst) {
        // A snapshot image, not a C string. NOLINTNEXTLINE(bugprone-not-null-terminated-result)
        std::memcpy(dst, image.data(), image.size());
        return Snapshot::FromBuffer(dst, image.size(), rep_->What(), /*verify=*/false).status();
      },
      ttl_seconds);
}
TRACKSTORE_SHM_BOUNDARY(rep_->What())

// The file's bytes go straight from the page cache into the new block and
// are verified there, so what readers get is exactly what was checked.
Result<uint64_t> ShmCache::PutFile(std::string_view key, const std::string& path,
                                   std::optional<int64_t> ttl_seconds) try {
  if (Status s = rep_->CheckProcess(); !s.ok()) return s;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return PosixError(path, errno);
  struct stat st;
  Status s = ::fstat(fd, &st) == 0 ? Status::OK() : PosixError(path, errno);
  if (s.ok() && !S_ISREG(st.st_mode)) s = Status::NotASnapshot(path, "not a regular file");
  if (!s.ok()) {
    ::close(fd);
    return s;
  }
  const uint64_t size = static_cast<uint64_t>(st.st_size);
  Result<uint64_t> version = rep_->Put(
      key, size,
      [&](char* dst) {
        return FillAndVerify(dst, size, path, [&](uint64_t at, uint64_t n) -> Result<uint64_t> {
          for (;;) {
            const ssize_t got = ::pread(fd, dst + at, n, static_cast<off_t>(at));
            if (got < 0 && errno == EINTR) continue;
            if (got < 0) return PosixError(path, errno);
            if (got == 0) return Status::Truncated(path, "the file shrank while being read");
            return static_cast<uint64_t>(got);
          }
        });
      },
      ttl_seconds);
  ::close(fd);
  return version;
}
TRACKSTORE_SHM_BOUNDARY(rep_->What())

Result<bool> ShmCache::Invalidate(std::string_view key) try {
  if (Status s = rep_->CheckProcess(); !s.ok()) return s;
  const uint64_t hash = HashKey(key);
  Result<uint64_t> n = rep_->Mutate([&](Writer& w) -> uint64_t {
    const int64_t pos = w.Find(key, hash);
    if (pos < 0) return 0;
    w.Retire(w.Unlink(pos), w.BumpGeneration());
    return 1;
  });
  if (!n.ok()) return n.status();
  return *n == 1;
}
TRACKSTORE_SHM_BOUNDARY(rep_->What())

Status ShmCache::Clear() try {
  if (Status s = rep_->CheckProcess(); !s.ok()) return s;
  return rep_
      ->Mutate([](Writer& w) -> uint64_t {
        const std::vector<int64_t> all = w.Positions(0, /*expired_only=*/false);
        std::vector<uint64_t> unlinked;
        unlinked.reserve(all.size());
        for (int64_t pos : all) unlinked.push_back(w.Unlink(pos));
        const uint64_t r = w.BumpGeneration();
        for (uint64_t offset : unlinked) w.Retire(offset, r);
        return all.size();
      })
      .status();
}
TRACKSTORE_SHM_BOUNDARY(rep_->What())

Result<uint64_t> ShmCache::RemoveExpired() try {
  if (Status s = rep_->CheckProcess(); !s.ok()) return s;
  const Micros now = rep_->options.clock();
  return rep_->Mutate([&](Writer& w) -> uint64_t {
    const std::vector<int64_t> expired = w.Positions(now, /*expired_only=*/true);
    std::vector<uint64_t> unlinked;
    unlinked.reserve(expired.size());
    for (int64_t pos : expired) unlinked.push_back(w.Unlink(pos));
    const uint64_t r = w.BumpGeneration();
    for (uint64_t offset : unlinked) w.Retire(offset, r);
    return expired.size();
  });
}
TRACKSTORE_SHM_BOUNDARY(rep_->What())

ShmStats ShmCache::Stats() const {
  ShmStats st;
  Result<SegmentPtr> rs = rep_->ForRead();
  if (!rs.ok()) return st;
  const Segment& s = **rs;
  const SegmentHeader& h = *s.header();
  st.entries = h.entries.load();
  st.bytes_used = h.heap_used.load();
  st.capacity = h.heap_size;
  st.entry_bytes = h.entry_bytes.load();
  st.retired_bytes = h.retired_bytes.load();
  st.reader_slots = h.reader_slot_count;
  st.max_entries = h.max_entries;
  st.hits = h.hits.load();
  st.misses = h.misses.load();
  st.evictions = h.evictions.load();
  st.rebuilds = h.rebuilds.load();
  st.generation = h.generation.load();
  for (uint32_t i = 0; i < h.reader_slot_count; ++i) {
    const uint64_t owner = s.slots()[i].owner.load();
    if (owner == 0) continue;
    (shm::OwnerAlive(owner) ? st.live_readers : st.dead_reader_slots) += 1;
  }
  const int64_t dirty = h.dirty_pid.load();
  if (dirty != 0 && !shm::PidAlive(dirty)) st.dead_writer_pid = dirty;
  return st;
}

// --- TrackCache over ShmCache -------------------------------------------------

std::optional<std::vector<TrackRecord>> ShmTrackCache::Get(std::string_view key) {
  Result<ShmEntry> e = cache_->Get(key);
  if (!e.ok()) return std::nullopt;
  std::vector<TrackRecord> records;
  records.reserve(e->snapshot().size());
  for (TrackView t : e->snapshot()) records.push_back(t.ToRecord());
  return records;
}

Status ShmTrackCache::Put(std::string_view key, std::span<const TrackRecord> tracks,
                          int64_t ttl_seconds) {
  return cache_->Put(key, tracks, ttl_seconds).status();
}

bool ShmTrackCache::Invalidate(std::string_view key) {
  Result<bool> removed = cache_->Invalidate(key);
  return removed.ok() && *removed;
}

Status PublishSnapshotFile(ShmCache& cache, const std::string& path, std::string_view key,
                           std::optional<int64_t> ttl_seconds) {
  return cache.PutFile(key, path, ttl_seconds).status();
}

}  // namespace trackstore
