// CacheManager: cache reads with all-or-nothing validation, snapshot loads
// through the service's validity checks, and the publish sequence of
// doc/behaviour.md section 7 (prepare everything that can fail, then snapshot,
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

std::optional<Version> CacheManager::LoadSnapshot(Validity* why) {
  Validity validity;
  std::optional<Version> snapshot;
  if (service_ == nullptr) {
    validity.reason = "no snapshot service configured";
  } else {
    validity = service_->CheckValidity(&snapshot);
  }
  if (validity.valid) {
    Log(LogLevel::kDebug, "snapshot loaded: " + validity.reason);
  } else {
    const bool damaged = validity.failed == Validity::Check::kSnapshotContent ||
                         validity.failed == Validity::Check::kSnapshotMissing;
    Log(damaged ? LogLevel::kWarning : LogLevel::kInfo, "snapshot not used: " + validity.reason);
  }
  if (why != nullptr) *why = std::move(validity);
  return snapshot;
}

std::optional<std::vector<TrackRecord>> CacheManager::LoadSnapshotRecords(Validity* why) {
  std::optional<Version> snapshot = LoadSnapshot(why);
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

// Everything a publish needs is gathered before anything is written; then
// the tracks, the metadata and the delta state go into one commit, so a
// failure anywhere leaves the previous version current and consistent.
Result<CommitOptions> CacheManager::Prepare(std::span<const std::string> processed_ids,
                                            std::optional<Micros> library_mtime_override) const {
  const Micros now = service_->Now();
  ServiceMetadata meta;
  meta.last_full_scan = now;
  if (library_mtime_override) {
    meta.library_mtime = *library_mtime_override;
  } else {
    Result<Micros> mtime = service_->LibraryMtime();
    if (!mtime.ok()) return mtime.status();
    meta.library_mtime = *mtime;
  }
  std::vector<std::string> ids;
  for (size_t i = 0; i < processed_ids.size(); ++i) {
    const std::string& id = processed_ids[i];
    if (id.empty()) continue;
    if (!IsUtf8(id)) {
      return Status::InvalidArgument("processed ids",
                                     "id at position " + std::to_string(i) + " is not valid UTF-8");
    }
    ids.push_back(id);
  }
  // Unreadable previous metadata has no force-scan time to keep.
  if (Result<SnapshotMetadata> old = service_->ReadMetadata(); old.ok()) {
    meta.last_force_scan = old->last_force_scan;
  }
  CommitOptions c;
  c.service = meta;
  if (service_->delta_enabled()) {
    DeltaState state = service_->LoadDeltaState().value_or(DeltaState());  // fresh if none
    state.last_run = now;
    // Also with no ids: a fresh state's tracking window starts now.
    state.AddProcessedIds(ids, now);
    state.ResetIfDue(now);
    c.delta_state = std::move(state);
  }
  return c;
}

template <typename CommitFn>
Status CacheManager::Publish(std::span<const std::string> processed_ids,
                             std::optional<Micros> library_mtime_override, CommitFn commit) {
  if (!CanUseSnapshot()) return Status::OK();
  Result<CommitOptions> prepared = Prepare(processed_ids, library_mtime_override);
  if (!prepared.ok()) return prepared.status();
  Result<Store*> store = service_->store();
  if (!store.ok()) return store.status();
  Result<CommitStats> committed = commit(**store, *prepared);
  if (!committed.ok()) return committed.status();
  Log(LogLevel::kInfo, "snapshot updated: version " + std::to_string(committed->version) + ", " +
                           std::to_string(committed->track_count) + " tracks, hash " +
                           committed->content_hash);
  return Status::OK();
}

Status CacheManager::UpdateSnapshot(std::span<const TrackRecord> tracks,
                                    std::span<const std::string> processed_ids,
                                    std::optional<Micros> library_mtime_override) {
  return Publish(processed_ids, library_mtime_override,
                 [&](Store& store, const CommitOptions& c) { return store.Replace(tracks, c); });
}

Status CacheManager::CommitDelta(std::span<const TrackRecord> updates,
                                 std::span<const std::string> removed_ids,
                                 std::span<const std::string> processed_ids,
                                 std::optional<Micros> library_mtime_override) {
  return Publish(processed_ids, library_mtime_override, [&](Store& store, const CommitOptions& c) {
    return store.Commit(updates, removed_ids, c);
  });
}

}  // namespace trackstore
