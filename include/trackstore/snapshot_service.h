// include/trackstore/snapshot_service.h
//
// A SnapshotService owns one directory that holds the library snapshot and
// what is needed to decide whether it may be used instead of a full scan of
// the music library (SPEC.md sections 4, 5, 6 and 8):
//
//   DIR/library.snap      the snapshot file (snapshot.h)
//   DIR/metadata.json     SnapshotMetadata: when the snapshot was taken, of
//                         which library mtime, its track count and hash
//   DIR/delta_state.json  DeltaState (delta_state.h)
//
// Each file is replaced atomically (temporary file, fsync, rename), so a
// reader sees the old or the new version of each. The three are not
// replaced together: a crash between the snapshot and its metadata leaves
// a pair whose hashes differ, which CheckValidity reports as invalid rather
// than serving a snapshot the metadata does not describe.
//
//   ServiceOptions o;
//   o.directory = "/var/cache/app";
//   o.library_path = "/Music/Library.musiclibrary";
//   SnapshotService service(o);
//   Validity v = service.CheckValidity();
//   if (!v.valid) std::cerr << "full scan: " << v.reason << "\n";
//
// Thread-safety: const methods may run concurrently. Methods that write are
// for one writer at a time; concurrent writers cannot corrupt a file, but
// may leave a snapshot and metadata that disagree (read as invalid).
// All times are UTC microseconds since the epoch, from options.clock.
#ifndef TRACKSTORE_SNAPSHOT_SERVICE_H_
#define TRACKSTORE_SNAPSHOT_SERVICE_H_

#include <cstdint>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include "trackstore/clock.h"
#include "trackstore/delta_state.h"
#include "trackstore/merge.h"
#include "trackstore/result.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/track.h"

namespace trackstore {

class Env;

// File names inside the service directory. Persisted: do not change.
inline constexpr std::string_view kSnapshotFileName = "library.snap";
inline constexpr std::string_view kMetadataFileName = "metadata.json";
inline constexpr std::string_view kDeltaStateFileName = "delta_state.json";

// The metadata layout this build writes and accepts. Persisted: bump when
// the meaning of metadata.json or of the snapshot it describes changes; a
// snapshot with metadata of another version is not used (SPEC.md 5, step 2).
inline constexpr int64_t kMetadataFormatVersion = 1;

inline constexpr Micros kDefaultMaxAge = 24 * 3600 * kMicrosPerSecond;

struct ServiceOptions {
  // The directory holding the three files. It must exist before the first
  // write. Required.
  std::string directory;
  // Use and write snapshots at all. When false, CacheManager::UpdateSnapshot
  // writes nothing and RecordForceScan writes nothing. Default: true.
  bool enabled = true;
  // Keep the delta-processing state. It is read and written only when
  // `enabled` is also true (deliberate: the reference checks only this
  // flag). Default: true.
  bool delta_enabled = true;
  // A snapshot whose last full scan is more than this long ago is not used
  // once the library has changed since (SPEC.md 5, step 4). Microseconds;
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
  // File writes go through it; tests pass a fault-injecting Env.
  // Default (null): Env::Default().
  Env* env = nullptr;
};

// What metadata.json holds (SPEC.md section 4). Read back exactly as
// written.
struct SnapshotMetadata {
  int64_t format_version = kMetadataFormatVersion;
  Micros last_full_scan = 0;              // when the snapshot was last written
  Micros library_mtime = 0;               // the library file's mtime the snapshot reflects
  uint64_t track_count = 0;               // tracks in the snapshot
  std::string snapshot_hash;              // the snapshot's content hash (32 hex digits)
  std::optional<Micros> last_force_scan;  // unset until a force scan ran

  bool operator==(const SnapshotMetadata&) const = default;

  // The JSON text of metadata.json. Errors: InvalidArgument when
  // snapshot_hash is not valid UTF-8 (JSON cannot hold it).
  Result<std::string> ToJson() const;
  // Parses ToJson's output; every field but last_force_scan is required.
  // Errors: InvalidArgument naming `source` and the missing or mistyped
  // field, or "not valid JSON".
  static Result<SnapshotMetadata> FromJson(std::string_view json, std::string_view source);
};

// The answer to "may the snapshot be used?" with the reason in one line a
// person understands, such as
//   "snapshot older than the maximum age: last full scan 26.0 h ago, limit 24.0 h".
struct Validity {
  // The checks of SPEC.md section 5, in the order they run.
  enum class Check {
    kNone,             // nothing failed: the snapshot is valid
    kMetadata,         // 1: metadata missing, unreadable or incomplete
    kFormatVersion,    // 2: metadata of another format version
    kLibrary,          // 3: library not configured or its mtime unreadable
    kMaxAge,           // 4: library changed and the snapshot is too old
    kSnapshotMissing,  // 5: no snapshot file
    kSnapshotContent,  // 6: snapshot corrupt, or hash/count differ from metadata
  };
  bool valid = false;
  Check failed = Check::kNone;  // the first check that failed
  std::string reason;
};

// The answer to "is a full force scan due?" (SPEC.md section 8).
struct ForceScanDecision {
  bool due = false;
  // Exactly one of "forced", "first run", "weekly", "fast mode".
  std::string reason;
  // Whole days since the last force scan (floor; negative if in the
  // future); unset for "forced" and "first run".
  std::optional<int64_t> days_since_last;
};

class SnapshotService {
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

  std::string snapshot_path() const;
  std::string metadata_path() const;
  std::string delta_state_path() const;

  // --- snapshot ---------------------------------------------------------

  // Writes `tracks` as the snapshot, atomically. Does not touch metadata.
  // Errors: those of SnapshotWriter::Write (empty or duplicate ids are
  // rejected).
  Result<WriteResult> SaveSnapshot(std::span<const TrackRecord> tracks);
  // Merges `updates` into `base` (merge.h) and writes the result as the
  // snapshot, atomically. `base` may be the current snapshot: it stays
  // mapped and valid. Does not touch metadata.
  Result<MergeStats> SaveMergedSnapshot(const Snapshot& base, std::span<const TrackRecord> updates);

  // --- metadata ---------------------------------------------------------

  // The metadata as written. Errors (each reads as "no metadata"): NotFound
  // when the file is missing, IOError when it cannot be read,
  // InvalidArgument when it is not JSON or lacks a field.
  Result<SnapshotMetadata> ReadMetadata() const;
  // Writes `metadata` atomically. Errors: those of ToJson; file errors.
  Status WriteMetadata(const SnapshotMetadata& metadata);

  // The library file's modification time (st_mtim) as UTC microseconds.
  // Errors: InvalidArgument when library_path is empty; NotFound or
  // IOError from stat(2), naming the path.
  Result<Micros> LibraryMtime() const;

  // --- validity ---------------------------------------------------------

  // Runs the checks of SPEC.md section 5 in order; the first failure wins:
  //   1 metadata missing/unreadable; 2 format version differs;
  //   3 library not configured or mtime unreadable;
  //   4 only if the library mtime is newer than the recorded one and
  //     max_age > 0: now - last_full_scan > max_age (exactly max_age is
  //     valid; a last full scan in the future is valid);
  //   5 snapshot file missing (checked even if the library is unchanged);
  //   6 (deliberate) the snapshot, opened with full verification, is
  //     corrupt, or its hash or track count differs from the metadata.
  // Step 6 reads the whole file once. When valid and `opened` is not null,
  // the snapshot opened by step 6 is handed over, so the caller does not
  // open and verify it a second time.
  Validity CheckValidity(std::optional<Snapshot>* opened = nullptr) const;

  // --- delta state (SPEC.md section 6) ----------------------------------

  // The stored delta state as written, whatever its age. Errors: NotFound,
  // IOError, InvalidArgument (not JSON, incomplete, other version).
  Result<DeltaState> ReadDeltaState() const;
  // The delta state to continue from: nullopt when deltas are disabled (see
  // delta_enabled()), or the stored state is missing, unreadable or due for
  // reset.
  std::optional<DeltaState> LoadDeltaState() const;
  // Writes `state` atomically, first resetting it if it is due for reset.
  // Does nothing (and returns OK) when deltas are disabled.
  // Errors: InvalidArgument when an id is not valid UTF-8; file errors.
  Status SaveDeltaState(DeltaState state);

  // --- force scan (SPEC.md section 8) -----------------------------------

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
  std::string PathOf(std::string_view name) const;
  Status WriteText(const std::string& path, const std::string& text);
  WriteOptions SnapshotWriteOptions() const;

  ServiceOptions options_;
};

}  // namespace trackstore

#endif  // TRACKSTORE_SNAPSHOT_SERVICE_H_
