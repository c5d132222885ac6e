// SnapshotService: the service's state kept in a store, the validity checks
// of doc/behaviour.md section 5 and the force-scan rule of section 8.
//
// SnapshotMetadata's JSON form (times in UTC microseconds, last_force_scan
// omitted when unset):
//   {"format_version": 1, "last_full_scan": <micros>, "library_mtime": <micros>,
//    "track_count": <n>, "snapshot_hash": "<32 hex>", "last_force_scan": <micros>}
#include "trackstore/snapshot_service.h"

#include <cstdio>
#include <filesystem>
#include <limits>
#include <utility>

#include "json_util.h"
#include "trackstore/env.h"

namespace trackstore {

using internal::Json;

namespace {

// a - b without overflow: far-off times from a damaged file clamp instead.
Micros SaturatingSub(Micros a, Micros b) {
  Micros d = 0;
  if (!__builtin_sub_overflow(a, b, &d)) return d;
  return a > b ? std::numeric_limits<Micros>::max() : std::numeric_limits<Micros>::min();
}

int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && a < 0) ? q - 1 : q;
}

// "26.0 h", "12.5 min", "3.0 s": a duration in a unit a person reads.
std::string Duration(Micros d) {
  const double s = static_cast<double>(d) / kMicrosPerSecond;
  char buf[48];
  if (s >= 3600) {
    std::snprintf(buf, sizeof(buf), "%.1f h", s / 3600);
  } else if (s >= 60) {
    std::snprintf(buf, sizeof(buf), "%.1f min", s / 60);
  } else {
    std::snprintf(buf, sizeof(buf), "%.1f s", s);
  }
  return buf;
}

// "26.0 h ago" or "1.5 h in the future".
std::string Ago(Micros age) {
  return age >= 0 ? Duration(age) + " ago" : Duration(SaturatingSub(0, age)) + " in the future";
}

Validity Invalid(Validity::Check check, std::string reason) {
  return Validity{false, check, std::move(reason)};
}

SnapshotMetadata MetadataOf(const VersionInfo& info) {
  SnapshotMetadata m;
  m.format_version = info.service->format_version;
  m.last_full_scan = info.service->last_full_scan;
  m.library_mtime = info.service->library_mtime;
  m.last_force_scan = info.service->last_force_scan;
  m.track_count = info.track_count;
  m.snapshot_hash = info.content_hash;
  return m;
}

ServiceMetadata ServiceOf(const SnapshotMetadata& m) {
  return ServiceMetadata{m.format_version, m.last_full_scan, m.library_mtime, m.last_force_scan};
}

// The first fragment file of `info` that is not in the store `dir`, or ""
// (step 5's reason names it).
std::string MissingFragment(Env* env, const std::string& dir, const VersionInfo& info) {
  for (const FragmentInfo& f : info.fragments) {
    std::string path = dir + "/fragments/" + f.name + ".snap";  // returned by move
    FileInfo file;
    if (env->GetFileInfo(path, &file).IsNotFound()) return path;
  }
  return {};
}

}  // namespace

// --- SnapshotMetadata -------------------------------------------------------

Result<std::string> SnapshotMetadata::ToJson() const {
  Json j = {{"format_version", format_version},
            {"last_full_scan", last_full_scan},
            {"library_mtime", library_mtime},
            {"track_count", track_count},
            {"snapshot_hash", snapshot_hash}};
  if (last_force_scan) j["last_force_scan"] = *last_force_scan;
  return internal::DumpJson(j, "snapshot metadata");
}

Result<SnapshotMetadata> SnapshotMetadata::FromJson(std::string_view json,
                                                    std::string_view source) {
  Result<Json> j = internal::ParseJsonObject(json, source);
  if (!j.ok()) return j.status();
  SnapshotMetadata m;
  for (auto [key, out] : {std::pair{"format_version", &m.format_version},
                          std::pair{"last_full_scan", &m.last_full_scan},
                          std::pair{"library_mtime", &m.library_mtime}}) {
    std::optional<int64_t> v = internal::GetInt64(*j, key);
    if (!v) return internal::MissingField(source, key);
    *out = *v;
  }
  auto count = j->find("track_count");
  if (count == j->end() || !count->is_number_unsigned()) {
    return internal::MissingField(source, "track_count");
  }
  m.track_count = count->get<uint64_t>();
  std::optional<std::string> hash = internal::GetString(*j, "snapshot_hash");
  if (!hash) return internal::MissingField(source, "snapshot_hash");
  m.snapshot_hash = std::move(*hash);
  if (j->contains("last_force_scan")) {
    m.last_force_scan = internal::GetInt64(*j, "last_force_scan");
    if (!m.last_force_scan) return internal::MissingField(source, "last_force_scan");
  }
  return m;
}

// --- the store ---------------------------------------------------------------

SnapshotService::SnapshotService(ServiceOptions options) : options_(std::move(options)) {
  if (!options_.clock) options_.clock = SystemClock();
  // Both paths are resolved once, so that a later chdir of the process does
  // not make the library "missing" or move the store. Without a current
  // directory they stay relative.
  for (std::string* path : {&options_.library_path, &options_.directory}) {
    if (path->empty() || path->front() == '/') continue;
    std::error_code ec;
    std::filesystem::path absolute = std::filesystem::absolute(*path, ec);
    if (!ec) *path = absolute.string();
  }
}

Result<Store*> SnapshotService::store() const { return OpenStore(true); }

Result<Store*> SnapshotService::OpenStore(bool create) const {
  std::lock_guard<std::mutex> lock(store_mu_);
  if (store_ == nullptr) {
    StoreOptions o = options_.store;
    o.env = options_.env;
    o.clock = options_.clock;
    o.create_if_missing = create;
    Result<Store> opened = Store::Open(options_.directory, o);
    if (!opened.ok()) return opened.status();
    store_ = std::make_shared<Store>(std::move(opened).value());
  }
  return store_.get();
}

Result<CommitStats> SnapshotService::SaveSnapshot(std::span<const TrackRecord> tracks) {
  Result<Store*> s = store();
  if (!s.ok()) return s.status();
  return (*s)->Replace(tracks);
}

Result<CommitStats> SnapshotService::CommitDelta(std::span<const TrackRecord> updates,
                                                 std::span<const std::string> removed_ids) {
  Result<Store*> s = store();
  if (!s.ok()) return s.status();
  return (*s)->Commit(updates, removed_ids);
}

Result<SnapshotMetadata> SnapshotService::ReadMetadata() const {
  Result<Store*> s = OpenStore(false);
  if (!s.ok()) return s.status();
  Result<VersionInfo> info = (*s)->CurrentInfo();
  if (!info.ok()) return info.status();
  if (!info->service) {
    return Status::NotFound(options_.directory,
                            "version " + std::to_string(info->number) + " has no metadata");
  }
  return MetadataOf(*info);
}

Status SnapshotService::WriteMetadata(const SnapshotMetadata& metadata) {
  Result<Store*> s = OpenStore(false);
  if (!s.ok()) return s.status();
  if (Result<VersionInfo> info = (*s)->CurrentInfo(); !info.ok()) return info.status();
  CommitOptions c;
  c.service = ServiceOf(metadata);
  return (*s)->SetState(c).status();
}

Result<Micros> SnapshotService::LibraryMtime() const {
  const std::string& path = options_.library_path;
  if (path.empty()) return Status::InvalidArgument("library file", "not configured");
  Env* env = options_.env != nullptr ? options_.env : Env::Default();
  FileInfo info;
  if (Status s = env->GetFileInfo(path, &info); !s.ok()) return s;
  return info.mtime_seconds * kMicrosPerSecond + info.mtime_nanos / 1000;
}

// --- validity ---------------------------------------------------------------

Validity SnapshotService::CheckValidity(std::optional<Version>* opened) const {
  using Check = Validity::Check;
  Result<Store*> store_or = OpenStore(false);
  if (!store_or.ok()) {
    return Invalid(Check::kMetadata, "no usable metadata: " + store_or.status().message());
  }
  Store& st = **store_or;
  // A version read here may be garbage-collected before its files are
  // opened (after keep_versions newer commits): then the newer one is read.
  for (int attempt = 0;; ++attempt) {
    Result<VersionInfo> info = st.CurrentInfo();
    if (!info.ok() && info.status().IsVersionUnsupported()) {
      return Invalid(Check::kFormatVersion, "store format: " + info.status().message());
    }
    if (!info.ok()) {
      return Invalid(Check::kMetadata, "no usable metadata: " + info.status().message());
    }
    if (!info->service) {
      return Invalid(Check::kMetadata,
                     "no usable metadata: version " + std::to_string(info->number) + " has none");
    }
    const ServiceMetadata& meta = *info->service;
    if (meta.format_version != kMetadataFormatVersion) {
      return Invalid(Check::kFormatVersion,
                     "metadata format version " + std::to_string(meta.format_version) +
                         ", this build uses " + std::to_string(kMetadataFormatVersion));
    }
    if (options_.library_path.empty()) {
      return Invalid(Check::kLibrary, "library file not configured");
    }
    Result<Micros> mtime = LibraryMtime();
    if (!mtime.ok()) {
      return Invalid(Check::kLibrary, "cannot read the library file's modification time: " +
                                          mtime.status().message());
    }
    const bool changed = *mtime > meta.library_mtime;
    const Micros age = SaturatingSub(Now(), meta.last_full_scan);
    const Micros max_age = options_.max_age;
    if (changed && max_age > 0 && age > max_age) {
      return Invalid(Check::kMaxAge, "snapshot older than the maximum age: last full scan " +
                                         Ago(age) + ", limit " + Duration(max_age));
    }
    Result<Version> version = st.At(info->number);
    if (!version.ok() && version.status().IsNotFound()) {
      Result<VersionInfo> now = st.CurrentInfo();
      if (attempt < 3 && now.ok() && now->number != info->number) continue;
      // Still current: a file was lost, not garbage-collected.
      const std::string missing = MissingFragment(
          options_.env != nullptr ? options_.env : Env::Default(), st.directory(), *info);
      return Invalid(Check::kSnapshotMissing,
                     "version " + std::to_string(info->number) + " has a missing file: " +
                         (missing.empty() ? version.status().message() : missing));
    }
    Status verified = version.ok() ? version->Verify() : version.status();
    if (!verified.ok()) {
      return Invalid(Check::kSnapshotContent,
                     "snapshot fails verification: " + verified.ToString());
    }
    if (opened != nullptr) opened->emplace(std::move(version).value());
    Validity v{true, Check::kNone, {}};
    v.reason = std::string(changed ? "library changed" : "library unchanged") +
               " since the last full scan " + Ago(age) +
               (!changed      ? ""
                : max_age > 0 ? ", within the maximum age of " + Duration(max_age)
                              : ", no age limit");
    return v;
  }
}

// --- delta state ------------------------------------------------------------

Result<DeltaState> SnapshotService::ReadDeltaState() const {
  Result<Store*> s = OpenStore(false);
  if (!s.ok()) return s.status();
  Result<VersionInfo> info = (*s)->CurrentInfo();
  if (!info.ok()) return info.status();
  // Without opening the tracks: a version whose library files are lost or
  // damaged (a full scan is then due) still has its state; only a missing
  // or unreadable state reads as none.
  return (*s)->ReadDeltaState(*info);
}

std::optional<DeltaState> SnapshotService::LoadDeltaState() const {
  if (!delta_enabled()) return std::nullopt;
  Result<DeltaState> state = ReadDeltaState();
  if (!state.ok() || state->IsDueForReset(Now())) return std::nullopt;
  return std::move(state).value();
}

Status SnapshotService::SaveDeltaState(DeltaState state) {
  if (!delta_enabled()) return Status::OK();
  state.ResetIfDue(Now());
  Result<Store*> s = store();
  if (!s.ok()) return s.status();
  CommitOptions c;
  c.delta_state = std::move(state);
  return (*s)->SetState(c).status();
}

// --- force scan -------------------------------------------------------------

ForceScanDecision SnapshotService::CheckForceScan(bool forced) const {
  if (forced) return {true, "forced", std::nullopt};
  Result<SnapshotMetadata> meta = ReadMetadata();
  if (!meta.ok() || !meta->last_force_scan) return {false, "first run", std::nullopt};
  const int64_t days = FloorDiv(SaturatingSub(Now(), *meta->last_force_scan), kMicrosPerDay);
  if (days >= 7) return {true, "weekly", days};
  return {false, "fast mode", days};
}

Status SnapshotService::RecordForceScan() {
  if (!enabled()) return Status::OK();
  Result<SnapshotMetadata> meta = ReadMetadata();
  if (!meta.ok())
    return Status::OK();  // doc/behaviour.md section 8: without metadata nothing is written
  meta->last_force_scan = Now();
  return WriteMetadata(*meta);
}

// --- names -----------------------------------------------------------------

std::string_view ValidityCheckName(Validity::Check check) {
  switch (check) {
    case Validity::Check::kNone:
      return "none";
    case Validity::Check::kMetadata:
      return "metadata";
    case Validity::Check::kFormatVersion:
      return "format_version";
    case Validity::Check::kLibrary:
      return "library";
    case Validity::Check::kMaxAge:
      return "max_age";
    case Validity::Check::kSnapshotMissing:
      return "snapshot_missing";
    case Validity::Check::kSnapshotContent:
      return "snapshot_content";
  }
  return "unknown";
}

}  // namespace trackstore
