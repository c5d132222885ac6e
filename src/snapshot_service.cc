// SnapshotService: the service directory's three files, the validity checks
// of SPEC.md section 5 and the force-scan rule of section 8.
//
// metadata.json layout (times in UTC microseconds, last_force_scan omitted
// when unset):
//   {"format_version": 1, "last_full_scan": <micros>, "library_mtime": <micros>,
//    "track_count": <n>, "snapshot_hash": "<32 hex>", "last_force_scan": <micros>}
#include "trackstore/snapshot_service.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

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

// Reads a whole file; errno becomes NotFound or IOError naming `path`.
Result<std::string> ReadWholeFile(const std::string& path) {
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC);
  if (fd < 0) return PosixError(path, errno);
  std::string data;
  char buf[64 * 1024];
  for (;;) {
    const ssize_t n = ::read(fd, buf, sizeof(buf));
    if (n < 0 && errno == EINTR) continue;
    if (n < 0) {
      const int err = errno;
      ::close(fd);
      return PosixError(path, err);
    }
    if (n == 0) break;
    data.append(buf, static_cast<size_t>(n));
  }
  ::close(fd);
  return data;
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

// --- files ------------------------------------------------------------------

SnapshotService::SnapshotService(ServiceOptions options) : options_(std::move(options)) {
  if (!options_.clock) options_.clock = SystemClock();
  // Resolved once, so that a later chdir of the process does not make the
  // library "missing". Without a current directory it stays relative.
  if (!options_.library_path.empty() && options_.library_path.front() != '/') {
    std::error_code ec;
    std::filesystem::path absolute = std::filesystem::absolute(options_.library_path, ec);
    if (!ec) options_.library_path = absolute.string();
  }
}

std::string SnapshotService::PathOf(std::string_view name) const {
  const std::string& dir = options_.directory;
  if (dir.empty()) return std::string(name);
  return dir + (dir.back() == '/' ? "" : "/") + std::string(name);
}

std::string SnapshotService::snapshot_path() const { return PathOf(kSnapshotFileName); }
std::string SnapshotService::metadata_path() const { return PathOf(kMetadataFileName); }
std::string SnapshotService::delta_state_path() const { return PathOf(kDeltaStateFileName); }

Status SnapshotService::WriteText(const std::string& path, const std::string& text) {
  const ConstBytes piece{text.data(), text.size()};
  return WriteFileAtomically(options_.env, path, std::span<const ConstBytes>(&piece, 1));
}

WriteOptions SnapshotService::SnapshotWriteOptions() const {
  WriteOptions w;
  w.env = options_.env;
  return w;
}

Result<WriteResult> SnapshotService::SaveSnapshot(std::span<const TrackRecord> tracks) {
  return WriteSnapshot(snapshot_path(), tracks, SnapshotWriteOptions());
}

Result<MergeStats> SnapshotService::SaveMergedSnapshot(const Snapshot& base,
                                                       std::span<const TrackRecord> updates) {
  Merger merger;
  return merger.Merge(base, updates, snapshot_path(), SnapshotWriteOptions());
}

Result<SnapshotMetadata> SnapshotService::ReadMetadata() const {
  Result<std::string> text = ReadWholeFile(metadata_path());
  if (!text.ok()) return text.status();
  return SnapshotMetadata::FromJson(*text, metadata_path());
}

Status SnapshotService::WriteMetadata(const SnapshotMetadata& metadata) {
  Result<std::string> text = metadata.ToJson();
  if (!text.ok()) return text.status();
  return WriteText(metadata_path(), *text);
}

Result<Micros> SnapshotService::LibraryMtime() const {
  const std::string& path = options_.library_path;
  if (path.empty()) return Status::InvalidArgument("library file", "not configured");
  struct stat st;
  if (::stat(path.c_str(), &st) != 0) return PosixError(path, errno);
  return static_cast<Micros>(st.st_mtim.tv_sec) * kMicrosPerSecond + st.st_mtim.tv_nsec / 1000;
}

// --- validity ---------------------------------------------------------------

namespace {

// Steps 5 and 6: the snapshot exists, verifies, and is the one the metadata
// describes.
Validity CheckSnapshotFile(const std::string& path, const SnapshotMetadata& meta,
                           std::optional<Snapshot>* opened) {
  Result<Snapshot> snap = Snapshot::Open(path);
  if (!snap.ok() && snap.status().IsNotFound()) {
    return Invalid(Validity::Check::kSnapshotMissing, "snapshot file missing: " + path);
  }
  if (!snap.ok()) {
    return Invalid(Validity::Check::kSnapshotContent,
                   "snapshot fails verification: " + snap.status().ToString());
  }
  if (snap->content_hash() != meta.snapshot_hash) {
    return Invalid(Validity::Check::kSnapshotContent,
                   "snapshot hash " + snap->content_hash() + " differs from the metadata's " +
                       meta.snapshot_hash +
                       " (snapshot replaced without its metadata, e.g. an interrupted update)");
  }
  if (snap->size() != meta.track_count) {
    return Invalid(Validity::Check::kSnapshotContent,
                   "snapshot holds " + std::to_string(snap->size()) +
                       " tracks, the metadata says " + std::to_string(meta.track_count));
  }
  if (opened != nullptr) opened->emplace(std::move(snap).value());
  return Validity{true, Validity::Check::kNone, {}};
}

}  // namespace

Validity SnapshotService::CheckValidity(std::optional<Snapshot>* opened) const {
  using Check = Validity::Check;
  Result<SnapshotMetadata> meta = ReadMetadata();
  if (!meta.ok())
    return Invalid(Check::kMetadata, "no usable metadata: " + meta.status().message());
  if (meta->format_version != kMetadataFormatVersion) {
    return Invalid(Check::kFormatVersion,
                   "metadata format version " + std::to_string(meta->format_version) +
                       ", this build uses " + std::to_string(kMetadataFormatVersion));
  }
  if (options_.library_path.empty()) return Invalid(Check::kLibrary, "library file not configured");
  Result<Micros> mtime = LibraryMtime();
  if (!mtime.ok()) {
    return Invalid(Check::kLibrary,
                   "cannot read the library file's modification time: " + mtime.status().message());
  }
  const bool changed = *mtime > meta->library_mtime;
  const Micros age = SaturatingSub(Now(), meta->last_full_scan);
  const Micros max_age = options_.max_age;
  if (changed && max_age > 0 && age > max_age) {
    return Invalid(Check::kMaxAge, "snapshot older than the maximum age: last full scan " +
                                       Ago(age) + ", limit " + Duration(max_age));
  }
  Validity v = CheckSnapshotFile(snapshot_path(), *meta, opened);
  if (!v.valid) return v;
  v.reason = std::string(changed ? "library changed" : "library unchanged") +
             " since the last full scan " + Ago(age) +
             (!changed      ? ""
              : max_age > 0 ? ", within the maximum age of " + Duration(max_age)
                            : ", no age limit");
  return v;
}

// --- delta state ------------------------------------------------------------

Result<DeltaState> SnapshotService::ReadDeltaState() const {
  Result<std::string> text = ReadWholeFile(delta_state_path());
  if (!text.ok()) return text.status();
  return DeltaState::FromJson(*text, delta_state_path());
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
  Result<std::string> text = state.ToJson();
  if (!text.ok()) return text.status();
  return WriteText(delta_state_path(), *text);
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
  if (!meta.ok()) return Status::OK();  // SPEC.md 8: without metadata nothing is written
  meta->last_force_scan = Now();
  return WriteMetadata(*meta);
}

}  // namespace trackstore
