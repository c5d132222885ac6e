// include/trackstore/shm_cache.h
//
// ShmCache is a named shared-memory cache of keyed entries (doc/behaviour.md section
// 9). Each entry is a complete snapshot image (doc/snapshot_format.md) with an
// expiry and a version. Many processes read it at once; a reader gets a
// zero-copy view of the tracks that stays valid while the reader holds it,
// whatever writers do meanwhile.
//
//   ShmOptions options;
//   options.name = "mylib";
//   Result<ShmCache> cache = ShmCache::Open(options);
//   if (!cache.ok()) return cache.status();
//   cache->PutFile(kAllTracksKey, "library.snap");   // in the scanning process
//   Result<ShmEntry> e = cache->Get(kAllTracksKey);  // in any process
//   if (e.ok()) for (TrackView t : e->snapshot()) use(t.id());
//
// Guarantees:
//  - A reader sees a whole version of an entry or none: readers take no lock,
//    and an entry is never modified once published (it is replaced by a new
//    block). The bytes a held ShmEntry points at stay valid and unchanged
//    until it is destroyed; a replaced version's memory is reused only when
//    no live process holds it.
//  - Any process may die at any instant (kill -9). Writers are serialized by
//    a kernel lock on a lock file, which the kernel releases when its holder
//    dies. A writer that dies mid-write leaves a marker; the next writer
//    replaces the segment with an empty one (the cache is a cache: repair is
//    rebuild). Processes already holding views of the old segment keep them.
//    A reader that dies holding views is detected by pid (and process start
//    time, against pid reuse) and its views are released by the next writer.
//
// Caveats (act on these):
//  - All processes sharing a segment must share a PID namespace (one
//    container, or containers run with a shared pid namespace): liveness is
//    checked with kill(pid, 0) and /proc/<pid>/stat.
//  - Linux only: the segment is the tmpfs file <shm_dir>/<name> (what
//    shm_open(3) uses), and the writer lock is an open-file-description lock
//    (F_OFD_SETLK) on a byte of the segment file itself.
//  - A process that stops (SIGSTOP, a debugger) while holding views keeps
//    those versions alive (and the one published right after each). One
//    handle holding views of more than six versions at once keeps every
//    version replaced since its oldest view alive: the segment may fill up,
//    and puts fail with ResourceExhausted until it lets go (as in LMDB).
//  - Trust: a segment is created with mode 0600 (0660 with
//    share_with_group), and one that another user owns, or others may
//    write, is refused with an error naming its owner. Its owner can still
//    write into it or truncate it; a reader that holds a view of a truncated
//    segment gets SIGBUS when it touches the missing pages (each get checks
//    the size first and fails cleanly). README.md, "Who may use a segment".
//  - Memory is allocated in full when the segment is created
//    (posix_fallocate), so a full /dev/shm is an error at creation, never a
//    SIGBUS later. Capacity is fixed at creation.
//  - A ShmCache handle belongs to the process that opened it; after fork(),
//    open a new one in the child.
//
// Thread safety: a ShmCache may be used from many threads at once; writes
// from threads of one process are serialized. ShmEntry is immutable.
#ifndef TRACKSTORE_SHM_CACHE_H_
#define TRACKSTORE_SHM_CACHE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trackstore/clock.h"
#include "trackstore/export.h"
#include "trackstore/result.h"
#include "trackstore/snapshot.h"
#include "trackstore/status.h"
#include "trackstore/track.h"
#include "trackstore/track_cache.h"

namespace trackstore {

struct TRACKSTORE_EXPORT ShmOptions {
  // The segment's name: 1-200 characters from [A-Za-z0-9._-], not starting
  // with '.'. Required.
  std::string name;
  // Total size of the segment in bytes, allocated in full at creation, below
  // 1 TiB. Only used when the segment is created; an existing one keeps its
  // size. Default: 64 MiB.
  uint64_t capacity_bytes = uint64_t{64} << 20;
  // Least-recently-used eviction past this many entries. The segment's index
  // is sized from it at creation (16 bytes per entry); a later handle may ask
  // for fewer, not more. At most 2^32. Default: 10,000.
  uint64_t max_entries = 10000;
  // Least-recently-used eviction past this many bytes of entries (headers
  // included). 0 means the whole segment. Default: 0.
  uint64_t max_bytes = 0;
  // Time to live of an entry put without an explicit TTL. Default: 900 s.
  int64_t default_ttl_seconds = kDefaultTtlSeconds;
  // Reader slots (processes holding views at once; one slot per open
  // ShmCache handle that reads), 1 to 65536. Only used at creation.
  // Default: 126.
  uint32_t max_readers = 126;
  // Create the segment when it does not exist; else NotFound. Default: true.
  bool create_if_missing = true;
  // Get() recomputes the XXH3-128 of the entry (one pass over its bytes),
  // in addition to the O(1) header and layout checks it always runs. Entries
  // are verified when put, so this only guards against stray writes into
  // the segment. Default: false.
  bool verify_on_get = false;
  // The time source for expiry. Default: SystemClock().
  Clock clock;
  // Directory of the segment file. Default: /dev/shm.
  std::string shm_dir = "/dev/shm";
  // Who may use the segment besides its owner. A segment is created with
  // mode 0600 (whatever the umask), and a segment owned by another user, or
  // writable by its group or by anyone, is refused with an error naming its
  // owner and mode: whoever can write a segment decides what its readers
  // get. With share_with_group, a new segment gets mode 0660 (its group:
  // this process's, or the directory's when set-group-ID), and a segment
  // owned by another user is accepted when its group is one this process is
  // in and others have no access. Default: false.
  bool share_with_group = false;
  // How long a write waits for the writer lock (held by a live writer)
  // before failing with IOError. Default: 5,000 ms.
  int64_t lock_timeout_ms = 5000;
};

struct TRACKSTORE_EXPORT ShmStats {
  uint64_t entries = 0;
  uint64_t bytes_used = 0;         // allocated in the segment's heap, index included
  uint64_t capacity = 0;           // size of the segment's heap
  uint64_t entry_bytes = 0;        // bytes of live entries (counted against max_bytes)
  uint64_t retired_bytes = 0;      // replaced versions still held by readers
  uint64_t live_readers = 0;       // reader slots held by live processes
  uint64_t dead_reader_slots = 0;  // held by dead processes; the next write frees them
  uint64_t reader_slots = 0;
  uint64_t max_entries = 0;  // the index's limit, fixed at creation
  uint64_t hits = 0;
  uint64_t misses = 0;
  uint64_t evictions = 0;
  uint64_t rebuilds = 0;    // times a writer replaced a damaged segment
  uint64_t generation = 0;  // bumped by every change
  // Pid of a writer that died in the middle of a write, or 0. The next write
  // rebuilds the segment (its entries are dropped).
  int64_t dead_writer_pid = 0;
};

class ShmCache;

// A held entry: a Snapshot over the entry's bytes in shared memory, and the
// registration that keeps those bytes alive. Move-only. The Snapshot and
// every TrackView from it are valid until the ShmEntry is destroyed (even if
// the ShmCache that produced it is destroyed first).
class TRACKSTORE_EXPORT ShmEntry {
 public:
  ShmEntry(ShmEntry&&) noexcept;
  ShmEntry& operator=(ShmEntry&&) noexcept;
  ShmEntry(const ShmEntry&) = delete;
  ShmEntry& operator=(const ShmEntry&) = delete;
  ~ShmEntry();  // releases the registration; views become invalid

  const Snapshot& snapshot() const;
  const Snapshot* operator->() const { return &snapshot(); }
  std::string_view key() const;
  // The cache generation at which this version was published; a later put
  // of the same key gives a larger version. Versions start again from 1 in a
  // rebuilt or recreated segment.
  uint64_t version() const;
  Micros expires_at() const;
  // Size of the snapshot image in bytes.
  uint64_t image_size() const;

 private:
  friend class ShmCache;
  struct Pin;  // the segment pinned and the entry's place in it
  explicit ShmEntry(std::unique_ptr<Pin> pin);
  std::unique_ptr<Pin> rep_;
};

class TRACKSTORE_EXPORT ShmCache {
 public:
  // Opens the segment `options.name`, creating it when missing (and allowed).
  // A segment left by a crashed creator, from another build (other layout or
  // Boost version), or damaged, is replaced by an empty one when no other
  // process has it open; when others do, a damaged one is still replaced,
  // an incompatible one is VersionUnsupported.
  // Errors: InvalidArgument (options), NotFound (missing, create_if_missing
  // false), ResourceExhausted (/dev/shm too small for the capacity),
  // VersionUnsupported, IOError.
  static Result<ShmCache> Open(const ShmOptions& options);

  // Removes the segment's name (and its lock file when nobody has it open).
  // Processes that have it open keep their mapping and notice on their next
  // call: a reader then gets NotFound, a writer creates a fresh segment.
  // NotFound when there is no such segment.
  static Status Remove(const ShmOptions& options);

  ShmCache(ShmCache&&) noexcept;
  ShmCache& operator=(ShmCache&&) noexcept;
  ShmCache(const ShmCache&) = delete;
  ShmCache& operator=(const ShmCache&) = delete;
  ~ShmCache();  // held ShmEntry objects stay valid

  // The entry under `key`, as a zero-copy view. A miss is NotFound (no such
  // key, or expired: an expired entry is also dropped); an entry failing its
  // checks is dropped and reported with the check's error (HashMismatch,
  // StructureInvalid, ...). Takes no lock. Refreshes the entry's recency.
  Result<ShmEntry> Get(std::string_view key);

  // Stores `tracks` (encoded as a snapshot image) under `key` for
  // `ttl_seconds` (default: options.default_ttl_seconds; 0 or less: already
  // expired), replacing any entry. Returns the new version. Evicts least
  // recently used entries past max_entries or max_bytes, except when
  // replacing an existing key. Errors: InvalidArgument (key, tracks),
  // ResourceExhausted (larger than the segment or max_bytes: the cache is
  // unchanged; or the segment is full of entries readers still hold), IOError
  // (writer lock timeout).
  Result<uint64_t> Put(std::string_view key, std::span<const TrackRecord> tracks,
                       std::optional<int64_t> ttl_seconds = std::nullopt);

  // As Put, with the bytes of the snapshot file at `path`, copied straight
  // into shared memory and fully verified there before they are published.
  // Errors also: those of Snapshot::Open for a bad file.
  Result<uint64_t> PutFile(std::string_view key, const std::string& path,
                           std::optional<int64_t> ttl_seconds = std::nullopt);

  // As PutFile, with a snapshot file image in memory (need not be aligned).
  Result<uint64_t> PutImage(std::string_view key, const void* data, size_t size,
                            std::optional<int64_t> ttl_seconds = std::nullopt);

  // Removes `key`; true when there was an entry.
  Result<bool> Invalidate(std::string_view key);
  // Removes every entry.
  Status Clear();
  // Removes every expired entry; returns how many.
  Result<uint64_t> RemoveExpired();

  // A consistent-enough picture for monitoring: counters are read without
  // the writer lock, so they may lag a concurrent write.
  ShmStats Stats() const;

  const std::string& name() const;

 private:
  struct Rep;
  explicit ShmCache(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

// The TrackCache interface over a ShmCache (which must outlive it): Get
// copies the records out, Put encodes. For the cache manager.
class TRACKSTORE_EXPORT ShmTrackCache : public TrackCache {
 public:
  explicit ShmTrackCache(ShmCache* cache) : cache_(cache) {}
  // A miss (NotFound) and a damaged entry are both nullopt.
  std::optional<std::vector<TrackRecord>> Get(std::string_view key) override;
  Status Put(std::string_view key, std::span<const TrackRecord> tracks,
             int64_t ttl_seconds = kDefaultTtlSeconds) override;
  // A failure to take the writer lock reads as false.
  bool Invalidate(std::string_view key) override;

 private:
  ShmCache* cache_;
};

// Publishes the snapshot file at `path` (verified) under `key`, by default
// the library-wide track list: one call for the scanning process.
TRACKSTORE_EXPORT Status PublishSnapshotFile(ShmCache& cache, const std::string& path,
                                             std::string_view key = kAllTracksKey,
                                             std::optional<int64_t> ttl_seconds = std::nullopt);

}  // namespace trackstore

#endif  // TRACKSTORE_SHM_CACHE_H_
