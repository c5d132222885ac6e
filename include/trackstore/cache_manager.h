// include/trackstore/cache_manager.h
//
// CacheManager is what an application calls to get its track list cheaply
// (doc/behaviour.md section 7): from the in-memory TrackCache when a validated entry
// is there, else from the snapshot when the SnapshotService says it is
// valid, and to publish a new snapshot with its metadata and delta state
// after a scan.
//
//   MemoryTrackCache cache;
//   SnapshotService service(options);
//   CacheManager manager(&cache, &service);
//   if (auto tracks = manager.GetCachedTracks(kAllTracksKey)) return *tracks;
//   if (std::optional<Version> snap = manager.LoadSnapshot()) ... // zero-copy views
//   ... full or delta scan ...
//   Status s = manager.UpdateSnapshot(tracks, processed_ids, mtime_before_fetch);
//
// The manager holds no state of its own beyond its pointers: thread-safety
// is that of the TrackCache (thread-safe) and the SnapshotService (one
// writer at a time), so calls that write must not run concurrently.
#ifndef TRACKSTORE_CACHE_MANAGER_H_
#define TRACKSTORE_CACHE_MANAGER_H_

#include <functional>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trackstore/clock.h"
#include "trackstore/export.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_service.h"
#include "trackstore/status.h"
#include "trackstore/track.h"
#include "trackstore/track_cache.h"

namespace trackstore {

enum class LogLevel { kDebug, kInfo, kWarning, kError };

// Where the manager's log lines go; the application provides it. Each line
// is one message without a trailing newline. Called from the thread that
// called the manager.
struct TRACKSTORE_EXPORT LogSink {
  std::function<void(LogLevel, std::string_view)> write;

  // Writes "trackstore: warning: <message>" lines to stderr for messages at
  // `min_level` or above.
  static LogSink Stderr(LogLevel min_level = LogLevel::kWarning);
};

// Whether `track` may be handed out from a cache: a non-empty id, valid
// UTF-8 in every string field and in extras, no NUL byte in the id or
// name, and extras either empty or a JSON object. Errors: InvalidArgument
// naming the first bad field.
TRACKSTORE_EXPORT Status ValidateTrack(const TrackRecord& track);

class TRACKSTORE_EXPORT CacheManager {
 public:
  // `cache` may be null: every GetCachedTracks is then a miss. `service`
  // may be null: no snapshots. Neither is owned; both must outlive the
  // manager. A `log` without a write
  // function means LogSink::Stderr().
  CacheManager(TrackCache* cache, SnapshotService* service, LogSink log = {});

  // True when a snapshot service is configured and enabled.
  bool CanUseSnapshot() const;

  // The current version, fully verified, when SnapshotService::CheckValidity
  // says it is valid; nullopt when there is no service, no version, or it is
  // invalid or corrupt. A log line says which (a warning for a damaged or
  // incomplete version, info otherwise), and `why`, when not null, receives
  // the verdict. A valid version with no tracks is an empty Version, not
  // nullopt. Like the reference, this does not look at enabled(): ask
  // CanUseSnapshot() first.
  std::optional<Version> LoadSnapshot(Validity* why = nullptr);

  // LoadSnapshot's tracks as owning records: for callers that want a copy.
  std::optional<std::vector<TrackRecord>> LoadSnapshotRecords(Validity* why = nullptr);

  // The tracks cached under `key`, all checked with ValidateTrack. A miss
  // is nullopt. If any track is invalid, a warning names the key, the first
  // bad index and the problem, and the result is nullopt: no partial
  // results. An empty list is a hit.
  std::optional<std::vector<TrackRecord>> GetCachedTracks(std::string_view key);

  // Publishes `tracks` as the new library (doc/behaviour.md section 7), as one
  // commit of the store that also records the metadata and delta state.
  // When there is no service or it is disabled, does nothing and returns OK.
  //   processed_ids: ids of the tracks this run processed, for the delta
  //     state; empty ids are dropped.
  //   library_mtime_override: the library mtime to record instead of
  //     reading the library file now. Take it before fetching the tracks: a
  //     track added during the fetch then still shows as a change next time.
  // First everything that can fail without writing (the library mtime, the
  // processed ids' UTF-8, the previous metadata's last force-scan time and
  // delta state), then one commit of: the tracks; the metadata (last full
  // scan = now, the library mtime, the last force-scan time kept); if
  // deltas are enabled, the delta state (the stored one or a fresh one,
  // last run = now, the processed ids added). A failure at any point leaves
  // the previous version current, tracks and metadata together.
  // Errors: those of the steps, unchanged (NotFound for a missing library
  // file, InvalidArgument for bad tracks or ids, Busy, file errors).
  Status UpdateSnapshot(std::span<const TrackRecord> tracks,
                        std::span<const std::string> processed_ids = {},
                        std::optional<Micros> library_mtime_override = std::nullopt);

  // The same, with the new library made by committing `updates` and
  // `removed_ids` as a delta (Store::Commit, doc/behaviour.md section 2): only the
  // changed tracks are written.
  Status CommitDelta(std::span<const TrackRecord> updates,
                     std::span<const std::string> removed_ids = {},
                     std::span<const std::string> processed_ids = {},
                     std::optional<Micros> library_mtime_override = std::nullopt);

 private:
  Result<CommitOptions> Prepare(std::span<const std::string> processed_ids,
                                std::optional<Micros> library_mtime_override) const;
  template <typename CommitFn>
  Status Publish(std::span<const std::string> processed_ids,
                 std::optional<Micros> library_mtime_override, CommitFn commit);
  void Log(LogLevel level, const std::string& message) const;

  TrackCache* cache_;
  SnapshotService* service_;
  LogSink log_;
};

}  // namespace trackstore

#endif  // TRACKSTORE_CACHE_MANAGER_H_
