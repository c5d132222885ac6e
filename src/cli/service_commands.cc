// src/cli/service_commands.cc: `trackstore status` and `trackstore update`.
//
// status reports what a SnapshotService directory holds and whether the
// snapshot would be used, with the reason, and says so in its exit code (0
// valid, 3 invalid); update runs the cache manager's update snapshot from a
// JSON library file.
#include "service_commands.h"

#include <cmath>
#include <filesystem>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "trackstore/cache_manager.h"
#include "trackstore/json.h"
#include "trackstore/snapshot_service.h"

namespace trackstore {
namespace {

using cli::Fail;
using cli::Flags;
using cli::FormatUtc;
using cli::Json;
using cli::kExitOk;

// --- status -----------------------------------------------------------------

struct StatusArgs {
  std::string dir;
  std::string library;
  double max_age_hours = static_cast<double>(kDefaultMaxAge) / (3600.0 * kMicrosPerSecond);
};

// Everything status reports, gathered once for both output forms.
struct Report {
  Result<SnapshotMetadata> metadata = Status::NotFound("metadata");
  Validity validity;
  Result<DeltaState> delta = Status::NotFound("delta state");
  bool delta_due = false;
  ForceScanDecision force_scan;
};

Report Gather(const SnapshotService& service) {
  Report r;
  r.metadata = service.ReadMetadata();
  r.validity = service.CheckValidity();
  r.delta = service.ReadDeltaState();
  r.delta_due = r.delta.ok() && r.delta->IsDueForReset(service.Now());
  r.force_scan = service.CheckForceScan();
  return r;
}

// ISO-8601 UTC, or null.
Json TimeJson(std::optional<Micros> t) {
  if (!t) return nullptr;
  return FormatUtc(*t);
}

// `dir` as given on the command line, as every command's "path".
Json ReportJson(const std::string& dir, const Report& r) {
  Json j = {{"path", dir},
            {"valid", r.validity.valid},
            {"failed_check", ValidityCheckName(r.validity.failed)},
            {"reason", r.validity.reason}};
  if (r.metadata.ok()) {
    const SnapshotMetadata& m = *r.metadata;
    j["metadata"] = {{"format_version", m.format_version},
                     {"last_full_scan", TimeJson(m.last_full_scan)},
                     {"library_mtime", TimeJson(m.library_mtime)},
                     {"tracks", m.track_count},
                     {"content_hash", m.snapshot_hash},
                     {"last_force_scan", TimeJson(m.last_force_scan)}};
  } else {
    j["metadata"] = nullptr;
    j["metadata_error"] = r.metadata.status().message();
  }
  if (r.delta.ok()) {
    j["delta_state"] = {{"last_run", TimeJson(r.delta->last_run)},
                        {"tracked_since", TimeJson(r.delta->tracked_since)},
                        {"processed_ids", r.delta->processed_ids.size()},
                        {"field_hashes", r.delta->field_hashes.size()},
                        {"due_for_reset", r.delta_due}};
  } else {
    j["delta_state"] = nullptr;
    j["delta_state_error"] = r.delta.status().message();
  }
  j["force_scan"] = {{"due", r.force_scan.due}, {"reason", r.force_scan.reason}};
  if (r.force_scan.days_since_last)
    j["force_scan"]["days_since_last"] = *r.force_scan.days_since_last;
  return j;
}

void PrintMetadata(const Result<SnapshotMetadata>& meta) {
  if (!meta.ok()) {
    std::cout << "metadata:        none (" << meta.status().message() << ")\n";
    return;
  }
  std::cout << "metadata:        format " << meta->format_version << ", " << meta->track_count
            << " tracks, hash " << meta->snapshot_hash << "\n"
            << "last full scan:  " << FormatUtc(meta->last_full_scan) << "\n"
            << "library mtime:   " << FormatUtc(meta->library_mtime) << "\n"
            << "last force scan: "
            << (meta->last_force_scan ? FormatUtc(*meta->last_force_scan) : "never") << "\n";
}

void PrintDelta(const Report& r) {
  if (!r.delta.ok()) {
    std::cout << "delta state:     none (" << r.delta.status().message() << ")\n";
    return;
  }
  const DeltaState& d = *r.delta;
  std::cout << "delta state:     " << d.processed_ids.size() << " processed ids, "
            << d.field_hashes.size() << " field hashes, last run " << FormatUtc(d.last_run)
            << ", tracked since "
            << (d.tracked_since ? FormatUtc(*d.tracked_since) : std::string("-"))
            << (r.delta_due ? " (due for reset)" : "") << "\n";
}

void PrintReport(const SnapshotService& service, const Report& r) {
  std::cout << "directory:       " << service.options().directory << "\n";
  PrintMetadata(r.metadata);
  std::cout << "validity:        " << (r.validity.valid ? "valid" : "invalid") << ": "
            << r.validity.reason << "\n";
  PrintDelta(r);
  std::cout << "force scan due:  " << (r.force_scan.due ? "yes" : "no") << " ("
            << r.force_scan.reason;
  if (r.force_scan.days_since_last) {
    std::cout << ", last one " << *r.force_scan.days_since_last << " days ago";
  }
  std::cout << ")\n";
}

int RunStatus(const StatusArgs& a) {
  // A directory that is not there is an error, not an invalid snapshot: a
  // typo must not read as "needs a full scan".
  std::error_code ec;
  if (!std::filesystem::is_directory(a.dir, ec)) {
    return Fail(std::filesystem::exists(a.dir, ec)
                    ? Status::InvalidArgument(a.dir, "not a directory")
                    : Status::NotFound(a.dir, "no such directory"),
                "`trackstore update " + a.dir + " LIBRARY.json --library FILE` creates it");
  }
  ServiceOptions options;
  options.directory = a.dir;
  options.library_path = a.library;
  options.max_age = std::llround(a.max_age_hours * 3600.0 * kMicrosPerSecond);
  SnapshotService service(options);
  const Report report = Gather(service);
  // An invalid snapshot is an answer, not a failure: exit 3, ok true.
  const int code = report.validity.valid ? kExitOk : cli::kExitInvalid;
  if (Flags().json) {
    cli::PrintJsonOk(ReportJson(a.dir, report));
  } else {
    PrintReport(service, report);
  }
  return code;
}

// --- update -----------------------------------------------------------------

struct UpdateArgs {
  std::string dir;
  std::string in;
  std::string library;
  std::string processed_ids;
};

int RunUpdate(const UpdateArgs& a) {
  cli::Stopwatch timer;
  std::vector<std::string> ids;
  if (!a.processed_ids.empty()) {
    Result<std::vector<std::string>> read = cli::ReadIdList(a.processed_ids);
    if (!read.ok()) return Fail(read.status());
    ids = std::move(read).value();
  }
  Result<std::vector<TrackRecord>> tracks = cli::ImportJsonWithProgress("update", a.in);
  if (!tracks.ok()) return Fail(tracks.status());
  std::error_code ec;
  std::filesystem::create_directories(a.dir, ec);
  if (ec) return Fail(Status::IOError(a.dir, ec.message()));

  ServiceOptions options;
  options.directory = a.dir;
  options.library_path = a.library;
  SnapshotService service(options);
  CacheManager manager(/*cache=*/nullptr, &service);
  if (Status s = manager.UpdateSnapshot(*tracks, ids); !s.ok()) return Fail(s);

  Result<SnapshotMetadata> meta = service.ReadMetadata();
  if (!meta.ok()) return Fail(meta.status());
  const double seconds = timer.Seconds();
  cli::ReportTime("update", meta->track_count, seconds);
  if (Flags().json) {
    Json j = {{"path", a.dir},
              {"input", a.in},
              {"tracks", meta->track_count},
              {"content_hash", meta->snapshot_hash},
              {"library_mtime", FormatUtc(meta->library_mtime)}};
    if (Result<DeltaState> delta = service.ReadDeltaState(); delta.ok()) {
      j["processed_ids"] = delta->processed_ids.size();
    }
    j["seconds"] = seconds;
    return cli::PrintJsonOk(j);
  }
  std::cout << service.directory() << ": " << meta->track_count << " tracks, hash "
            << meta->snapshot_hash << ", library mtime " << FormatUtc(meta->library_mtime);
  if (Result<DeltaState> delta = service.ReadDeltaState(); delta.ok()) {
    std::cout << ", " << delta->processed_ids.size() << " processed ids";
  }
  std::cout << "\n";
  return kExitOk;
}

// --- registration -----------------------------------------------------------

void AddStatus(CLI::App& app, cli::CommandTable* commands) {
  auto a = std::make_shared<StatusArgs>();
  CLI::App* c = app.add_subcommand(
      "status",
      "Show a service directory's metadata, validity (with the reason) and delta state; exit 3 "
      "when the snapshot is not valid");
  c->add_option("DIR", a->dir, "Service directory")->required();
  c->add_option("--library", a->library, "Music library file whose mtime is checked");
  c->add_option("--max-age-hours", a->max_age_hours, "Maximum snapshot age; 0 = no limit")
      ->check(CLI::NonNegativeNumber)
      ->capture_default_str();
  cli::AddCommand(commands, c, [a] { return RunStatus(*a); });
}

void AddUpdate(CLI::App& app, cli::CommandTable* commands) {
  auto a = std::make_shared<UpdateArgs>();
  CLI::App* c = app.add_subcommand(
      "update", "Publish a JSON library as the directory's snapshot, metadata and delta state");
  c->add_option("DIR", a->dir, "Service directory (created if missing)")->required();
  c->add_option("IN.json", a->in, "Input: a JSON array of tracks, plain or gzip")->required();
  c->add_option("--library", a->library, "Music library file whose mtime is recorded")->required();
  c->add_option("--processed-ids", a->processed_ids,
                "Track ids this run processed (delta state): a JSON array, or one per line");
  cli::AddCommand(commands, c, [a] { return RunUpdate(*a); });
}

}  // namespace

void AddServiceCommands(CLI::App& app, cli::CommandTable* commands) {
  AddStatus(app, commands);
  AddUpdate(app, commands);
}

}  // namespace trackstore
