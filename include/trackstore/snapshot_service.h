// include/trackstore/snapshot_service.h
//
// A SnapshotService owns one store directory (store.h) that holds the
// library and what is needed to decide whether it may be used instead of a
// full scan of the music library (doc/behaviour.md sections 4, 5, 6 and 8): each
// version of the store carries the tracks, the metadata (when the last full
// scan was, of which library mtime, the last force scan) and the delta-
// processing state together, so they are replaced in one commit and can
// never disagree. The track count and content hash the metadata reports
// are the version's own.
//
//   ServiceOptions o;
//   o.directory = "/var/cache/app/library";
//   o.library_path = "/Music/Library.musiclibrary";
//   SnapshotService service(o);
//   Validity v = service.CheckValidity();
//   if (!v.valid) std::cerr << "full scan: " << v.reason << "\n";
//
// Thread-safety: any method may run concurrently, from any number of
// threads and processes; writes are serialized by the store's writer lock.
// All times are UTC microseconds since the epoch, from options.clock.
#ifndef TRACKSTORE_SNAPSHOT_SERVICE_H_
#define TRACKSTORE_SNAPSHOT_SERVICE_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "trackstore/clock.h"
#include "trackstore/delta_state.h"
#include "trackstore/export.h"
#include "trackstore/merge.h"
#include "trackstore/result.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/store.h"
#include "trackstore/track.h"

namespace trackstore {

class Env;

// The metadata layout this build writes and accepts. Persisted (in each
// version's manifest): bump when the meaning of the metadata or of the
// library it describes changes; a version with metadata of another layout
// is not used (doc/behaviour.md section 5, step 2).
inline constexpr int64_t kMetadataFormatVersion = 1;

inline constexpr Micros kDefaultMaxAge = 24 * 3600 * kMicrosPerSecond;

struct TRACKSTORE_EXPORT ServiceOptions {
  // The store directory; created with its layout by the first write.
  // Required.
  std::string directory;
  // Use and write snapshots at all. When false, CacheManager::UpdateSnapshot
  // writes nothing and RecordForceScan writes nothing. Default: true.
  bool enabled = true;
  // Keep the delta-processing state. It is read and written only when
  // `enabled` is also true (deliberate: the reference checks only this
  // flag). Default: true.
  bool delta_enabled = true;
  // A snapshot whose last full scan is more than this long ago is not used
  // once the library has changed since (doc/behaviour.md section 5, step 4). Microseconds;
  // 0 = no limit. Default: 24 hours.
  Micros max_age = kDefaultMaxAge;
  // The music library file whose modification time tells whether the
  // library changed since the snapshot. Empty = not configured, and then no
  // snapshot is valid. A relative path is made absolute once, against the
  // current directory when the service is constructed (options() returns
  // the absolute path), so a later chdir changes nothing. Default: empty.
  std::string library_path;
  // The one time source for every decision of the service and of the
  // CacheManager over it. Default: the system clock.
  Clock clock = SystemClock();
  // File operations go through it; tests pass a fault-injecting Env.
  // Default (null): Env::Default().
  Env* env = nullptr;
  // How the store is kept (history, compaction, lock timeout, fsync).
  // Its env and clock are replaced by the two above.
  StoreOptions store;
};

// The metadata of doc/behaviour.md section 4, as kept with a store version. Read
// back exactly as written; track_count and snapshot_hash are the version's
// own (its size and logical content hash).
struct TRACKSTORE_EXPORT SnapshotMetadata {
  int64_t format_version = kMetadataFormatVersion;
  Micros last_full_scan = 0;              // when the snapshot was last written
  Micros library_mtime = 0;               // the library file's mtime the snapshot reflects
  uint64_t track_count = 0;               // tracks in the version
  std::string snapshot_hash;              // the version's content hash (32 hex digits)
  std::optional<Micros> last_force_scan;  // unset until a force scan ran

  bool operator==(const SnapshotMetadata&) const = default;

  // The metadata as a JSON object text (for tools). Errors:
  // InvalidArgument when snapshot_hash is not valid UTF-8.
  Result<std::string> ToJson() const;
  // Parses ToJson's output; every field but last_force_scan is required.
  // Errors: InvalidArgument naming `source` and the missing or mistyped
  // field, or "not valid JSON".
  static Result<SnapshotMetadata> FromJson(std::string_view json, std::string_view source);
};

// The answer to "may the snapshot be used?" with the reason in one line a
// person understands, such as
//   "snapshot older than the maximum age: last full scan 26.0 h ago, limit 24.0 h".
struct TRACKSTORE_EXPORT Validity {
  // The checks of doc/behaviour.md section 5, in the order they run.
  enum class Check {
    kNone,             // nothing failed: the snapshot is valid
    kMetadata,         // 1: metadata missing, unreadable or incomplete
    kFormatVersion,    // 2: metadata of another format version
    kLibrary,          // 3: library not configured or its mtime unreadable
    kMaxAge,           // 4: library changed and the snapshot is too old
    kSnapshotMissing,  // 5: a file of the version is missing
    kSnapshotContent,  // 6: the version fails verification
  };
  bool valid = false;
  Check failed = Check::kNone;  // the first check that failed
  std::string reason;
};

// The check as the CLI and the Python module name it: "none", "metadata",
// "format_version", "library", "max_age", "snapshot_missing",
// "snapshot_content".
TRACKSTORE_EXPORT std::string_view ValidityCheckName(Validity::Check check);

// The answer to "is a full force scan due?" (doc/behaviour.md section 8).
struct TRACKSTORE_EXPORT ForceScanDecision {
  bool due = false;
  // Exactly one of "forced", "first run", "weekly", "fast mode".
  std::string reason;
  // Whole days since the last force scan (floor; negative if in the
  // future); unset for "forced" and "first run".
  std::optional<int64_t> days_since_last;
};

class TRACKSTORE_EXPORT SnapshotService {
 public:
  explicit SnapshotService(ServiceOptions options);

  const ServiceOptions& options() const { return options_; }
  // options().enabled.
  bool enabled() const { return options_.enabled; }
  // True when the delta state is read and written: snapshots and deltas
  // both enabled.
  bool delta_enabled() const { return options_.enabled && options_.delta_enabled; }
  // The service's clock.
  Micros Now() const { return options_.clock(); }

  // The store directory (options().directory).
  const std::string& directory() const { return options_.directory; }
  // The store, opened (and with its layout created) on first use.
  // Errors: those of Store::Open.
  Result<Store*> store() const;

  // --- snapshot ---------------------------------------------------------

  // Makes `tracks` the library, as one commit (Store::Replace). Keeps the
  // metadata and delta state. Errors: those of Store::Replace (empty or
  // duplicate ids are rejected).
  Result<CommitStats> SaveSnapshot(std::span<const TrackRecord> tracks);
  // Commits `updates` and `removed_ids` as a delta (Store::Commit, the
  // merge rule of doc/behaviour.md section 2). Keeps the metadata and delta state.
  Result<CommitStats> CommitDelta(std::span<const TrackRecord> updates,
                                  std::span<const std::string> removed_ids = {});

  // --- metadata ---------------------------------------------------------

  // The current version's metadata. Errors (each reads as "no metadata"):
  // NotFound when there is no version or it has no metadata, the store's
  // errors when no manifest can be read.
  Result<SnapshotMetadata> ReadMetadata() const;
  // Records `metadata` with the current tracks, as one commit.
  // track_count and snapshot_hash are ignored: they are the version's.
  // Errors: NotFound when the store has no version yet; file errors.
  Status WriteMetadata(const SnapshotMetadata& metadata);

  // The library file's modification time (st_mtim) as UTC microseconds.
  // Errors: InvalidArgument when library_path is empty; NotFound or
  // IOError from stat(2), naming the path.
  Result<Micros> LibraryMtime() const;

  // --- validity ---------------------------------------------------------

  // Runs the checks of doc/behaviour.md section 5 in order; the first failure wins:
  //   1 metadata missing/unreadable; 2 format version differs;
  //   3 library not configured or mtime unreadable;
  //   4 only if the library mtime is newer than the recorded one and
  //     max_age > 0: now - last_full_scan > max_age (exactly max_age is
  //     valid; a last full scan in the future is valid);
  //   5 a file of the version is missing (checked even if the library is
  //     unchanged);
  //   6 (deliberate) the version, verified in full (Version::Verify), is
  //     corrupt. A hash or count differing from the metadata cannot happen:
  //     they are one record.
  // Step 6 reads the version's files once. When valid and `opened` is not
  // null, the version opened by step 6 is handed over, so the caller does
  // not open and verify it a second time.
  Validity CheckValidity(std::optional<Version>* opened = nullptr) const;

  // --- delta state (doc/behaviour.md section 6) ----------------------------------

  // The stored delta state as written, whatever its age. Errors: NotFound,
  // IOError, InvalidArgument (not JSON, incomplete, other version).
  Result<DeltaState> ReadDeltaState() const;
  // The delta state to continue from: nullopt when deltas are disabled (see
  // delta_enabled()), or the stored state is missing, unreadable or due for
  // reset.
  std::optional<DeltaState> LoadDeltaState() const;
  // Records `state` with the current tracks as one commit, first resetting
  // it if it is due for reset. Does nothing (and returns OK) when deltas are
  // disabled. Errors: InvalidArgument when an id is not valid UTF-8; file
  // errors.
  Status SaveDeltaState(DeltaState state);

  // --- force scan (doc/behaviour.md section 8) -----------------------------------

  // "forced" when `forced`; else "first run" (not due) when there is no
  // metadata or no last force scan; else days = floor((now - last) / 1 day)
  // and "weekly" (due) when days >= 7, otherwise "fast mode" (not due),
  // a last force scan in the future included.
  ForceScanDecision CheckForceScan(bool forced = false) const;
  // Sets the metadata's last_force_scan to now, keeping the other fields.
  // Without readable metadata, or when disabled, writes nothing and
  // returns OK.
  Status RecordForceScan();

 private:
  // The store, opened once; with `create`, created if missing. Reads do not
  // create it: a missing directory reads as "no metadata".
  Result<Store*> OpenStore(bool create) const;

  ServiceOptions options_;
  mutable std::mutex store_mu_;
  mutable std::shared_ptr<Store> store_;  // opened by store()
};

}  // namespace trackstore

#endif  // TRACKSTORE_SNAPSHOT_SERVICE_H_
