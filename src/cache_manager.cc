// CacheManager: cache reads with all-or-nothing validation, snapshot loads
// through the service's validity checks, and the publish sequence of
// SPEC.md section 7 (prepare everything that can fail, then snapshot,
// metadata, delta state).
#include "trackstore/cache_manager.h"

#include <cstring>
#include <iostream>
#include <utility>

#include <simdjson.h>
#include <nlohmann/json.hpp>

namespace trackstore {

namespace {

std::string_view LevelName(LogLevel level) {
  switch (level) {
    case LogLevel::kDebug:
      return "debug";
    case LogLevel::kInfo:
      return "info";
    case LogLevel::kWarning:
      return "warning";
    case LogLevel::kError:
      return "error";
  }
  return "log";
}

bool IsUtf8(std::string_view s) { return simdjson::validate_utf8(s.data(), s.size()); }

// Extras hold a JSON object or nothing. A valid JSON text that starts with
// '{' is an object; accept() also rejects invalid UTF-8 inside strings.
bool IsObjectOrEmpty(std::string_view json) {
  if (json.empty()) return true;
  const size_t first = json.find_first_not_of(" \t\r\n");
  return first != std::string_view::npos && json[first] == '{' &&
         nlohmann::json::accept(json.begin(), json.end());
}

Status BadField(Field field, std::string_view problem) {
  return Status::InvalidArgument("field '" + std::string(FieldName(field)) + "'", problem);
}

}  // namespace

LogSink LogSink::Stderr(LogLevel min_level) {
  return LogSink{[min_level](LogLevel level, std::string_view message) {
    if (level < min_level) return;
    std::cerr << "trackstore: " << LevelName(level) << ": " << message << "\n";
  }};
}

Status ValidateTrack(const TrackRecord& track) {
  if (track.id.empty()) return BadField(Field::kId, "empty");
  for (int f = 0; f < kStringFieldCount; ++f) {
    const std::string* s = track.StringField(f);
    if (s != nullptr && !IsUtf8(*s)) return BadField(static_cast<Field>(f), "not valid UTF-8");
  }
  if (track.id.find('\0') != std::string::npos) return BadField(Field::kId, "contains NUL");
  if (track.name.find('\0') != std::string::npos) return BadField(Field::kName, "contains NUL");
  if (!IsObjectOrEmpty(track.extras_json)) {
    return BadField(Field::kExtras, "not a JSON object");
  }
  return Status::OK();
}

CacheManager::CacheManager(TrackCache* cache, SnapshotService* service, LogSink log)
    : cache_(cache), service_(service), log_(std::move(log)) {
  if (!log_.write) log_ = LogSink::Stderr();
}

void CacheManager::Log(LogLevel level, const std::string& message) const {
  log_.write(level, message);
}

bool CacheManager::CanUseSnapshot() const { return service_ != nullptr && service_->enabled(); }

std::optional<Snapshot> CacheManager::LoadSnapshot(Validity* why) {
  Validity validity;
  std::optional<Snapshot> snapshot;
  if (service_ == nullptr) {
    validity.reason = "no snapshot service configured";
  } else {
    validity = service_->CheckValidity(&snapshot);
  }
  if (validity.valid) {
    Log(LogLevel::kDebug, "snapshot loaded: " + validity.reason);
  } else {
    const bool damaged = validity.failed == Validity::Check::kSnapshotContent;
    Log(damaged ? LogLevel::kWarning : LogLevel::kInfo, "snapshot not used: " + validity.reason);
  }
  if (why != nullptr) *why = std::move(validity);
  return snapshot;
}

std::optional<std::vector<TrackRecord>> CacheManager::LoadSnapshotRecords(Validity* why) {
  std::optional<Snapshot> snapshot = LoadSnapshot(why);
  if (!snapshot) return std::nullopt;
  std::vector<TrackRecord> records;
  records.reserve(snapshot->size());
  for (TrackView t : *snapshot) records.push_back(t.ToRecord());
  return records;
}

std::optional<std::vector<TrackRecord>> CacheManager::GetCachedTracks(std::string_view key) {
  if (cache_ == nullptr) return std::nullopt;
  std::optional<std::vector<TrackRecord>> tracks = cache_->Get(key);
  if (!tracks) return std::nullopt;
  for (size_t i = 0; i < tracks->size(); ++i) {
    if (Status s = ValidateTrack((*tracks)[i]); !s.ok()) {
      Log(LogLevel::kWarning, "cached data for '" + std::string(key) +
                                  "' has an invalid track at index " + std::to_string(i) + " (" +
                                  s.message() + "); ignoring the cache");
      return std::nullopt;
    }
  }
  return tracks;
}

// --- publishing -------------------------------------------------------------

// What UpdateSnapshot needs before it writes anything.
struct CacheManager::Prepared {
  Micros now = 0;
  Micros library_mtime = 0;
  std::optional<Micros> last_force_scan;
  std::vector<std::string> ids;  // non-empty processed ids
};

Result<CacheManager::Prepared> CacheManager::Prepare(
    std::span<const std::string> processed_ids,
    std::optional<Micros> library_mtime_override) const {
  Prepared p;
  p.now = service_->Now();
  if (library_mtime_override) {
    p.library_mtime = *library_mtime_override;
  } else {
    Result<Micros> mtime = service_->LibraryMtime();
    if (!mtime.ok()) return mtime.status();
    p.library_mtime = *mtime;
  }
  for (size_t i = 0; i < processed_ids.size(); ++i) {
    const std::string& id = processed_ids[i];
    if (id.empty()) continue;
    if (!IsUtf8(id)) {
      return Status::InvalidArgument("processed ids",
                                     "id at position " + std::to_string(i) + " is not valid UTF-8");
    }
    p.ids.push_back(id);
  }
  // Unreadable previous metadata has no force-scan time to keep.
  if (Result<SnapshotMetadata> old = service_->ReadMetadata(); old.ok()) {
    p.last_force_scan = old->last_force_scan;
  }
  return p;
}

Status CacheManager::SaveMetadataAndDelta(const Prepared& p, const WriteResult& written) {
  SnapshotMetadata meta;
  meta.last_full_scan = p.now;
  meta.library_mtime = p.library_mtime;
  meta.track_count = written.track_count;
  meta.snapshot_hash = written.content_hash;
  meta.last_force_scan = p.last_force_scan;
  if (Status s = service_->WriteMetadata(meta); !s.ok()) return s;
  if (!service_->delta_enabled()) return Status::OK();

  DeltaState state = service_->LoadDeltaState().value_or(DeltaState());  // fresh if none
  state.last_run = p.now;
  // Also without ids: the first update starts the tracking window, so that
  // the 7-day reset counts from it and does not slide with last_run.
  state.AddProcessedIds(p.ids, p.now);
  return service_->SaveDeltaState(std::move(state));
}

template <typename WriteFn>
Status CacheManager::Publish(std::span<const std::string> processed_ids,
                             std::optional<Micros> library_mtime_override, WriteFn write_snapshot) {
  if (!CanUseSnapshot()) return Status::OK();
  Result<Prepared> prepared = Prepare(processed_ids, library_mtime_override);
  if (!prepared.ok()) return prepared.status();
  Result<WriteResult> written = write_snapshot();
  if (!written.ok()) return written.status();
  if (Status s = SaveMetadataAndDelta(*prepared, *written); !s.ok()) return s;
  Log(LogLevel::kInfo, "snapshot updated: " + std::to_string(written->track_count) +
                           " tracks, hash " + written->content_hash);
  return Status::OK();
}

Status CacheManager::UpdateSnapshot(std::span<const TrackRecord> tracks,
                                    std::span<const std::string> processed_ids,
                                    std::optional<Micros> library_mtime_override) {
  return Publish(processed_ids, library_mtime_override,
                 [&] { return service_->SaveSnapshot(tracks); });
}

Status CacheManager::Merge(const Snapshot& base, std::span<const TrackRecord> updates,
                           std::span<const std::string> processed_ids,
                           std::optional<Micros> library_mtime_override) {
  return Publish(processed_ids, library_mtime_override, [&]() -> Result<WriteResult> {
    Result<MergeStats> merged = service_->SaveMergedSnapshot(base, updates);
    if (!merged.ok()) return merged.status();
    return merged->written;
  });
}

}  // namespace trackstore
