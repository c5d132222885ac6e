// src/cli/reference_commands.cc: `trackstore adopt` and `trackstore
// export-reference`.
#include "reference_commands.h"

#include <algorithm>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <string_view>

#include "cli_common.h"
#include "library.h"
#include "trackstore/reference_files.h"

namespace trackstore {
namespace {

using cli::Json;
using cli::kExitOk;

int FailWith(const Status& s, const std::string& store_dir) {
  return cli::Fail(s, cli::StoreHint(s, store_dir));
}

Micros WaitMicros(double seconds) {
  return static_cast<Micros>(std::max(0.0, seconds) * kMicrosPerSecond);
}

// The end both commands share: the time on stderr, then the report as one
// JSON object (with the seconds taken) or as text.
template <typename ToJson, typename PrintText>
int Report(std::string_view command, uint64_t tracks, const cli::Stopwatch& timer, ToJson to_json,
           PrintText print_text) {
  cli::ReportTime(command, tracks, timer.Seconds());
  if (cli::Flags().json) {
    Json j = to_json();
    j["seconds"] = timer.Seconds();
    return cli::PrintJsonOk(j);
  }
  print_text();
  return kExitOk;
}

// --- adopt ---------------------------------------------------------------------

struct AdoptArgs {
  std::string reference_dir;
  std::string store_dir;
  bool overwrite = false;
  bool no_sync = false;
  double wait = 30;
};

Json AdoptJson(const AdoptArgs& a, const AdoptReport& r) {
  Json j;
  j["path"] = a.store_dir;
  j["kind"] = "store";
  j["input"] = a.reference_dir;
  j["snapshot_file"] = r.snapshot_file;
  j["records_read"] = r.records_read;
  j["tracks"] = r.tracks_carried;
  j["duplicates_dropped"] = r.duplicates_dropped;
  j["empty_ids_dropped"] = r.empty_ids_dropped;
  j["metadata_carried"] = r.metadata_carried;
  j["delta_carried"] = r.delta_carried;
  j["snapshot_hash_check"] = ReferenceHashCheckName(r.snapshot_hash_check);
  j["computed_snapshot_hash"] = r.computed_snapshot_hash;
  j["version"] = r.version;
  j["content_hash"] = r.content_hash;
  Json items = Json::array();
  for (const NotCarried& n : r.not_carried) {
    items.push_back({{"item", n.item}, {"reason", n.reason}});
  }
  j["not_carried"] = std::move(items);
  return j;
}

void PrintAdopt(const AdoptArgs& a, const AdoptReport& r) {
  std::cout << "adopted " << r.snapshot_file << " into " << a.store_dir << " as version "
            << r.version << ": " << cli::Tracks(r.tracks_carried) << " of " << r.records_read
            << " records, hash " << r.content_hash << "\n";
  std::cout << "metadata: " << (r.metadata_carried ? "carried" : "not carried") << "\n";
  std::cout << "delta state: " << (r.delta_carried ? "carried" : "not carried") << "\n";
  std::cout << "snapshot_hash: " << ReferenceHashCheckName(r.snapshot_hash_check) << "\n";
  if (!r.not_carried.empty()) {
    std::cout << "not carried:\n";
    for (const NotCarried& n : r.not_carried) {
      std::cout << "  " << n.item << ": " << n.reason << "\n";
    }
  }
}

int RunAdopt(const AdoptArgs& a) {
  cli::Stopwatch timer;
  AdoptOptions options;
  options.overwrite = a.overwrite;
  options.store.sync = !a.no_sync;
  options.store.lock_timeout = WaitMicros(a.wait);
  Result<AdoptReport> r = AdoptReferenceCache(a.reference_dir, a.store_dir, options);
  if (!r.ok()) return FailWith(r.status(), a.store_dir);
  return Report(
      "adopt", r->tracks_carried, timer, [&] { return AdoptJson(a, *r); },
      [&] { PrintAdopt(a, *r); });
}

// --- export-reference ------------------------------------------------------------

struct ExportArgs {
  std::string store_dir;
  std::string reference_dir;
  bool no_compress = false;
  std::optional<uint64_t> version;
  bool no_sync = false;
};

Json ExportJson(const ExportArgs& a, const ExportReferenceReport& r) {
  Json j;
  j["path"] = a.reference_dir;
  j["kind"] = "json";
  j["input"] = a.store_dir;
  j["version"] = r.version;
  j["tracks"] = r.tracks;
  j["snapshot_file"] = r.snapshot_file;
  j["metadata_file"] = r.metadata_file ? Json(*r.metadata_file) : Json(nullptr);
  j["delta_file"] = r.delta_file ? Json(*r.delta_file) : Json(nullptr);
  j["snapshot_hash"] = r.snapshot_hash;
  j["notes"] = r.notes;
  return j;
}

void PrintExport(const ExportArgs& a, const ExportReferenceReport& r) {
  std::cout << "wrote version " << r.version << " of " << a.store_dir << " ("
            << cli::Tracks(r.tracks) << ") to " << r.snapshot_file << "\n";
  std::cout << "metadata: " << r.metadata_file.value_or("not written") << "\n";
  std::cout << "delta state: " << r.delta_file.value_or("not written") << "\n";
  std::cout << "snapshot_hash: " << r.snapshot_hash << "\n";
  for (const std::string& n : r.notes) std::cout << "note: " << n << "\n";
}

int RunExportReference(const ExportArgs& a) {
  cli::Stopwatch timer;
  ExportReferenceOptions options;
  options.compress = !a.no_compress;
  options.version = a.version;
  options.sync = !a.no_sync;
  if (!cli::IsStoreDirectory(a.store_dir)) {
    return FailWith(
        Status::NotFound(a.store_dir, "not a trackstore store (no manifests/ directory)"),
        a.store_dir);
  }
  Result<ExportReferenceReport> r = ExportReferenceCache(a.store_dir, a.reference_dir, options);
  if (!r.ok()) return FailWith(r.status(), a.store_dir);
  return Report(
      "export-reference", r->tracks, timer, [&] { return ExportJson(a, *r); },
      [&] { PrintExport(a, *r); });
}

}  // namespace

void AddReferenceCommands(CLI::App& app, cli::CommandTable* commands) {
  auto adopt = std::make_shared<AdoptArgs>();
  CLI::App* c = app.add_subcommand(
      "adopt", "Move the reference application's cache directory into a store (one version)");
  c->add_option("REFERENCE_CACHE_DIR", adopt->reference_dir,
                "The reference's cache directory (library_snapshot.json[.gz], "
                "library_snapshot.meta.json, library_delta.json)")
      ->required();
  c->add_option("STORE_DIR", adopt->store_dir, "Store directory (created when missing)")
      ->required();
  c->add_flag("--overwrite", adopt->overwrite,
              "Adopt into a store that already holds versions (as a new version)");
  c->add_option("--wait", adopt->wait, "Seconds to wait for another writer")->capture_default_str();
  c->add_flag("--no-sync", adopt->no_sync, "Skip fsync (a machine crash may lose the version)");
  cli::AddCommand(commands, c, [adopt] { return RunAdopt(*adopt); });

  auto ex = std::make_shared<ExportArgs>();
  CLI::App* e = app.add_subcommand(
      "export-reference", "Write a store version as the reference application's cache files");
  e->add_option("STORE_DIR", ex->store_dir, "Store directory")->required();
  e->add_option("DIR", ex->reference_dir, "The reference's cache directory (created when missing)")
      ->required();
  e->add_flag("--no-compress", ex->no_compress,
              "Write library_snapshot.json instead of library_snapshot.json.gz");
  e->add_option("--version", ex->version, "Store version to write (default: the current one)");
  e->add_flag("--no-sync", ex->no_sync, "Skip fsync");
  cli::AddCommand(commands, e, [ex] { return RunExportReference(*ex); });
}

}  // namespace trackstore
