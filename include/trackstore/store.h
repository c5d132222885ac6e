// include/trackstore/store.h
//
// A Store is a directory that keeps a library as numbered versions, each a
// consistent state with one commit point (doc/store_format.md):
//
//   DIR/LOCK                     the writer lock (released by the kernel
//                                when its holder dies)
//   DIR/manifests/<n>.manifest   version n: its fragments, track count and
//                                content hash, the service's metadata and
//                                delta state; checksummed. The newest
//                                complete manifest is the current version.
//   DIR/fragments/<hash>.snap    immutable snapshot files, named by their
//                                payload hash: base fragments hold tracks,
//                                delta fragments replace, append or remove
//   DIR/state/<hash>.json        delta-processing states, named by hash
//   DIR/tmp/                     a writer's temporary files
//
// A commit writes new fragments, then the manifest under a temporary name,
// fsyncs both, renames the manifest into manifests/ and fsyncs the
// directory. Whatever fails or is killed, the store opens at the previous
// version or the new one. Commits of a delta write only the delta.
//
//   Result<Store> store = Store::Open("/var/cache/app/library");
//   Result<CommitStats> c = store->Commit(changed_tracks, removed_ids);
//   Result<Version> v = store->Current();
//   for (TrackView t : *v) use(t.id(), t.name());
//   if (auto t = v->Find("4711")) use(t->artist());
//
// Thread-safety: a Store may be used from many threads and many processes at
// once. Writes take the writer lock for their duration (a second writer
// waits up to StoreOptions::lock_timeout, then fails with Busy naming the
// holder's pid); readers take no lock. A Version is immutable: its views stay
// valid while any copy of it lives, even after its files are deleted.
#ifndef TRACKSTORE_STORE_H_
#define TRACKSTORE_STORE_H_

#include <cstdint>
#include <functional>
#include <iterator>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trackstore/clock.h"
#include "trackstore/delta_state.h"
#include "trackstore/export.h"
#include "trackstore/result.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/status.h"
#include "trackstore/track.h"

namespace trackstore {

class Env;
namespace internal {
struct StoreAccess;
}

struct TRACKSTORE_EXPORT StoreOptions {
  // Create the directory and its layout when missing. Default: true.
  bool create_if_missing = true;
  // fsync files and directories at each commit. If false, a machine crash
  // (not a process crash) may lose recent versions. Default: true.
  bool sync = true;
  // How long a writer waits for the writer lock before failing with Busy.
  // Microseconds. Default: 30 s.
  Micros lock_timeout = 30 * kMicrosPerSecond;
  // Versions kept readable by garbage collection (the current one
  // included). At least 1. Default: 8.
  uint32_t keep_versions = 8;
  // After a commit: when the delta fragments hold more rows than
  // compact_delta_share of the base, compact (copy the library into new
  // base fragments); else, when there are more than compact_max_deltas of
  // them, fold them into one delta fragment (a cost of the deltas' rows, not
  // of the library). Defaults: 0.25 and 8 (doc/store_format.md gives the
  // measurements behind them).
  bool auto_compact = true;
  double compact_delta_share = 0.25;
  uint32_t compact_max_deltas = 8;
  // A base is split into fragments of at most about this many payload
  // bytes. Each must stay under the 2 GiB FlatBuffers limit, so larger
  // values are lowered to 80% of it. Fewer fragments make lookups cheaper
  // (one index probe each, overlapped): at 20M tracks, 1.5 GiB fragments
  // (5 of them) look up in 1.78x the time of a 1M library, 1 GiB ones (7)
  // in 2.67x. Default: 1.5 GiB.
  uint64_t max_fragment_bytes = uint64_t{3} << 29;
  // Timestamps of versions. Default: the system clock.
  Clock clock;
  // Every file operation goes through it. Default (null): Env::Default().
  Env* env = nullptr;
};

// The application's snapshot-service metadata kept with a version
// (snapshot_service.h): when the last full scan was, of which library mtime,
// and the last force scan.
struct TRACKSTORE_EXPORT ServiceMetadata {
  // The layout version of the service's metadata (SnapshotService checks
  // it against its own, kMetadataFormatVersion).
  int64_t format_version = 1;
  Micros last_full_scan = 0;
  Micros library_mtime = 0;
  std::optional<Micros> last_force_scan;
  bool operator==(const ServiceMetadata&) const = default;
};

struct TRACKSTORE_EXPORT FragmentInfo {
  std::string name;  // 32 hex digits: the payload hash; file fragments/<name>.snap
  bool delta = false;
  uint64_t rows = 0;   // tracks (base) or rows (delta: replacements, appends, removals)
  uint64_t bytes = 0;  // file size
};

// What a manifest records about one version.
struct TRACKSTORE_EXPORT VersionInfo {
  uint64_t number = 0;
  uint64_t parent = 0;  // 0 for the first version
  Micros created = 0;
  // "replace", "commit", "compact", "fold", "checkout N".
  std::string operation;
  uint64_t track_count = 0;
  std::string content_hash;  // logical hash: see Version::content_hash
  std::vector<FragmentInfo> fragments;
  std::optional<ServiceMetadata> service;
  std::string delta_state;  // name of its state/<name>.json, or "" for none
};

// One version of a store, opened: tracks in library order, lookups by id,
// column scans, all zero-copy over the fragments' mappings. A moved-from
// Version may only be destroyed or assigned to; any other call aborts with a
// message naming it (AbortOnMisuse).
class TRACKSTORE_EXPORT Version {
 public:
  struct Fragments;  // its open fragments; internal (src/store/version_rep.h)

  Version(const Version&) = default;
  Version& operator=(const Version&) = default;
  Version(Version&&) noexcept = default;
  Version& operator=(Version&&) noexcept = default;
  ~Version();

  const VersionInfo& info() const;
  uint64_t number() const { return info().number; }
  uint64_t size() const { return info().track_count; }
  bool empty() const { return size() == 0; }
  // XXH3-128 over the tracks' 64-bit content hashes (TrackView::content_hash),
  // little-endian, in library order; 32 lowercase hex digits. The same
  // tracks in the same order give the same hash however they are split into
  // fragments, and a single snapshot of them gives it too
  // (LogicalContentHash).
  const std::string& content_hash() const { return info().content_hash; }

  // The track whose id is `id`: the newest fragment that mentions the id
  // decides. O(fragments) probes, issued together.
  std::optional<TrackView> Find(std::string_view id) const;

  // Full check: every fragment verified (layout and payload hash, as
  // Snapshot::Open), every delta row's target valid, and the track count
  // and logical hash recomputed against the manifest. One pass over the
  // files.
  Status Verify() const;

  // The version's delta-processing state, if it has one (checked against
  // its hash). NotFound when it has none.
  Result<DeltaState> ReadDeltaState() const;

  // When the version is a single base fragment, that snapshot (to use with
  // the APIs that take a Snapshot), else null.
  const Snapshot* single_snapshot() const;

  // Tracks in library order. The first iteration of a layered version
  // builds its slot map (O(rows of the deltas)).
  class Iterator {
   public:
    using iterator_category = std::forward_iterator_tag;
    using value_type = TrackView;
    using difference_type = std::ptrdiff_t;
    using pointer = void;
    using reference = TrackView;
    Iterator() = default;
    TrackView operator*() const { return TrackView(columns_, row_); }
    Iterator& operator++();
    Iterator operator++(int) {
      Iterator t = *this;
      ++*this;
      return t;
    }
    bool operator==(const Iterator& o) const { return slot_ == o.slot_; }

   private:
    friend class Version;
    Iterator(const Version::Fragments* version, uint64_t slot);
    void Settle();  // moves to the first live slot at or after slot_
    const Version::Fragments* version_ = nullptr;
    uint64_t slot_ = 0;
    const internal::Columns* columns_ = nullptr;
    uint64_t row_ = 0;
  };
  Iterator begin() const;
  Iterator end() const;

 private:
  friend class Store;
  explicit Version(std::shared_ptr<const Fragments> fragments);
  std::shared_ptr<const Fragments> rep_;
};

// The logical content hash of a single snapshot's tracks (Version's).
TRACKSTORE_EXPORT std::string LogicalContentHash(const Snapshot& snapshot);

struct TRACKSTORE_EXPORT CommitOptions {
  // Service metadata and delta state to record with the new version. Unset:
  // the parent version's are kept.
  std::optional<ServiceMetadata> service;
  std::optional<DeltaState> delta_state;
  // For Replace: what to do with duplicate and empty ids (as WriteOptions).
  // A duplicate in different base fragments is always rejected.
  DuplicatePolicy duplicates = DuplicatePolicy::kReject;
  bool drop_empty_ids = false;
  // Check UTF-8 and NUL bytes as WriteOptions::validate_utf8. Default: true.
  bool validate_utf8 = true;
  // Run the automatic compaction policy after this commit. Default: true
  // (StoreOptions::auto_compact must also be set).
  bool allow_compaction = true;
};

struct TRACKSTORE_EXPORT CommitStats {
  uint64_t version = 0;  // the version now current (after any compaction)
  uint64_t track_count = 0;
  std::string content_hash;
  uint64_t replaced = 0;            // existing tracks given new content
  uint64_t appended = 0;            // new ids
  uint64_t unchanged = 0;           // updates equal to the track already there (nothing written)
  uint64_t superseded = 0;          // updates dropped because a later one had the same id
  uint64_t removed = 0;             // ids removed
  uint64_t not_found = 0;           // ids asked to be removed that were not there
  uint64_t bytes_written = 0;       // fragment and manifest bytes
  uint64_t duplicates_dropped = 0;  // Replace with a keep policy
  uint64_t empty_ids_dropped = 0;   // Replace with drop_empty_ids
  bool compacted = false;           // a compaction ran after the commit
};

struct TRACKSTORE_EXPORT GcStats {
  uint64_t manifests_removed = 0;
  uint64_t fragments_removed = 0;
  uint64_t states_removed = 0;
  uint64_t temporary_removed = 0;
  uint64_t bytes_freed = 0;
};

// Produces the tracks of a full replacement in pieces, for libraries too big
// to hold as one vector: appends the next tracks to `batch` and returns
// true, or returns false when there are no more.
using TrackSource = std::function<Result<bool>(std::vector<TrackRecord>* batch)>;

class TRACKSTORE_EXPORT Store {
 public:
  // Opens (and with create_if_missing, creates) the store at `dir`. Takes
  // no lock and reads no version.
  // Errors: NotFound (no store and not creating), NotASnapshot (the
  // directory is not a store), IOError.
  static Result<Store> Open(const std::string& dir, const StoreOptions& options = {});

  // A moved-from Store may only be destroyed or assigned to; any other call
  // aborts with a message naming it (AbortOnMisuse).
  Store(Store&&) noexcept;
  Store& operator=(Store&&) noexcept;
  ~Store();

  const std::string& directory() const;

  // --- reading (no lock) ------------------------------------------------

  // The newest version. Fragments are opened in O(1) each (header, tables,
  // name = payload hash); Version::Verify checks the rest.
  // Errors: NotFound when the store has no version yet; corruption kinds
  // naming the file.
  Result<Version> Current() const;
  // Version `number`, if still kept. NotFound when it never existed or was
  // garbage-collected.
  Result<Version> At(uint64_t number) const;
  // Every readable version, newest first.
  Result<std::vector<VersionInfo>> Log() const;
  // The delta state of the version `info` describes, read on its own: a
  // version whose track files are lost still has its state. NotFound when it
  // has none; HashMismatch when the file does not hash to its name.
  Result<DeltaState> ReadDeltaState(const VersionInfo& info) const;
  // What the newest version's manifest says, without opening its fragments.
  // NotFound when the store has no version; a damaged newest manifest gives
  // the one before it.
  Result<VersionInfo> CurrentInfo() const;

  // --- writing (each call takes the writer lock) -----------------------

  // Applies a delta to the current version (as a merge: existing tracks keep
  // their place and are replaced whole, new ids are appended in order of
  // first appearance, the last of repeated ids wins, then `removed_ids`
  // leave; an id both updated and removed is removed). Writes one delta
  // fragment holding only the changed rows. No change at all writes a new
  // version that shares every fragment with its parent.
  // Errors: InvalidArgument (empty id, invalid UTF-8), Busy, file errors.
  Result<CommitStats> Commit(std::span<const TrackRecord> updates,
                             std::span<const std::string> removed_ids = {},
                             const CommitOptions& options = {});
  // The same with the updates read from a snapshot file (not a delta).
  Result<CommitStats> Commit(const Snapshot& updates, std::span<const std::string> removed_ids = {},
                             const CommitOptions& options = {});

  // Makes `tracks` the whole library (new base fragments, no deltas).
  Result<CommitStats> Replace(std::span<const TrackRecord> tracks,
                              const CommitOptions& options = {});
  // The same from a source of batches: base fragments are written as they
  // fill, so memory holds one fragment's tracks at a time.
  Result<CommitStats> Replace(const TrackSource& source, const CommitOptions& options = {});
  // The same from a snapshot file, which becomes the base fragment as it is
  // (copied, not re-encoded).
  Result<CommitStats> Replace(const Snapshot& snapshot, const CommitOptions& options = {});

  // A new version with the current tracks and the metadata or delta state
  // of `options` (the unset ones kept).
  Result<CommitStats> SetState(const CommitOptions& options);

  // A new version equal to version `number` (tracks, metadata and delta
  // state). NotFound when that version is no longer kept.
  Result<CommitStats> Checkout(uint64_t number);

  // Folds the current version's delta fragments into new base fragments
  // (one copy of every track, by byte ranges), as a new version.
  Result<CommitStats> Compact();

  // Removes manifests beyond the newest `keep` versions (default:
  // options.keep_versions), fragments and states no kept version uses, and
  // temporary files. Readers holding a removed version keep reading it.
  Result<GcStats> CollectGarbage(std::optional<uint32_t> keep = std::nullopt);

 private:
  friend struct internal::StoreAccess;
  struct Rep;
  explicit Store(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace trackstore

#endif  // TRACKSTORE_STORE_H_
