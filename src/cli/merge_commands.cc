#include "merge_commands.h"

#include <iostream>
#include <memory>
#include <optional>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "library.h"
#include "trackstore/diff.h"
#include "trackstore/json.h"
#include "trackstore/merge.h"
#include "trackstore/snapshot.h"

namespace trackstore {
namespace {

using cli::Fail;
using cli::Flags;
using cli::Json;

struct MergeArgs {
  std::string base, updates, out;
  bool no_sync = false;
};

// The base is fully verified first: a corrupt base is an error and no
// output is written. Updates are a snapshot when the file says so (magic),
// else JSON.
int RunMerge(const MergeArgs& a) {
  cli::Stopwatch timer;
  Result<Snapshot> base = Snapshot::Open(a.base);
  if (!base.ok()) return Fail(base.status());
  WriteOptions options;
  options.sync = !a.no_sync;
  Merger merger;
  Result<MergeStats> stats = Status::NotFound(a.updates);
  Result<Snapshot> update_snap = Snapshot::Open(a.updates);
  if (update_snap.ok()) {
    stats = merger.Merge(*base, *update_snap, a.out, options);
  } else if (update_snap.status().IsNotASnapshot()) {
    Result<std::vector<TrackRecord>> records = cli::ImportJsonWithProgress("merge", a.updates);
    if (!records.ok()) return Fail(records.status());
    stats = merger.Merge(*base, *records, a.out, options);
  } else {
    return Fail(update_snap.status());
  }
  if (!stats.ok()) return Fail(stats.status());
  const double seconds = timer.Seconds();
  cli::ReportTime("merge", stats->written.track_count, seconds);
  if (Flags().json) {
    return cli::PrintJsonOk({{"path", a.out},
                             {"kind", "snapshot"},
                             {"base", a.base},
                             {"updates", a.updates},
                             {"tracks", stats->written.track_count},
                             {"bytes", stats->written.file_size},
                             {"content_hash", stats->written.content_hash},
                             {"carried", stats->carried},
                             {"replaced", stats->replaced},
                             {"appended", stats->appended},
                             {"superseded", stats->superseded},
                             {"seconds", seconds}});
  } else {
    std::cout << a.out << ": " << cli::Tracks(stats->written.track_count) << " (" << stats->carried
              << " carried, " << stats->replaced << " replaced, " << stats->appended
              << " appended), hash " << stats->written.content_hash << "\n";
  }
  return cli::kExitOk;
}

struct DiffArgs {
  std::string a, b;
  std::optional<uint64_t> version_a, version_b;
  bool reference_rule = false;
};

Json FieldList(const std::vector<Field>& fields) {
  Json list = Json::array();
  for (Field f : fields) list.push_back(FieldName(f));
  return list;
}

void PrintDiff(const SnapshotDiff& d) {
  std::cout << d.added.size() << " new, " << d.updated.size() << " updated, " << d.removed.size()
            << " removed\n";
  for (const std::string& id : d.added) std::cout << "+ " << id << "\n";
  for (const UpdatedTrack& u : d.updated) {
    std::cout << "~ " << u.id << ":";
    for (Field f : u.changed) std::cout << " " << FieldName(f);
    std::cout << "\n";
  }
  for (const std::string& id : d.removed) std::cout << "- " << id << "\n";
}

// Each side is a snapshot file or a store version (A and B may be the same
// store at two versions).
int RunDiff(const DiffArgs& a) {
  std::string hint;
  Result<cli::Library> before = cli::Library::Open(a.a, a.version_a, &hint);
  if (!before.ok()) return Fail(before.status(), hint);
  Result<cli::Library> after = cli::Library::Open(a.b, a.version_b, &hint);
  if (!after.ok()) return Fail(after.status(), hint);
  cli::Stopwatch timer;
  DiffOptions options;
  options.rule = a.reference_rule ? ChangeRule::kReference : ChangeRule::kAllFields;
  const SnapshotDiff d = before->Visit([&](const auto& x) {
    return after->Visit([&](const auto& y) { return Diff(x, y, options); });
  });
  const double seconds = timer.Seconds();
  cli::Info() << "diff: " << cli::Tracks(before->size()) << " against "
              << cli::Tracks(after->size()) << " in " << cli::FormatSeconds(seconds) << "\n";
  if (!Flags().json) {
    PrintDiff(d);
    return cli::kExitOk;
  }
  Json updated = Json::array();
  for (const UpdatedTrack& u : d.updated) {
    updated.push_back({{"id", u.id}, {"changed", FieldList(u.changed)}});
  }
  // Each side: its path, and its version when it is a store.
  auto side = [](const cli::Library& lib) {
    Json j = {{"path", lib.path()}};
    if (lib.version() != nullptr) j["version"] = lib.version()->number();
    j["tracks"] = lib.size();
    j["content_hash"] = lib.content_hash();
    return j;
  };
  return cli::PrintJsonOk({{"a", side(*before)},
                           {"b", side(*after)},
                           {"new", d.added},
                           {"updated", updated},
                           {"removed", d.removed},
                           {"seconds", seconds}});
}

}  // namespace

void AddMergeCommands(CLI::App& app, cli::CommandTable* commands) {
  auto merge = std::make_shared<MergeArgs>();
  CLI::App* m = app.add_subcommand("merge", "Merge new and changed tracks into a snapshot");
  m->add_option("BASE.snap", merge->base, "Existing snapshot (fully verified)")->required();
  m->add_option("UPDATES", merge->updates, "Updates: a snapshot, or JSON (.json / .json.gz)")
      ->required();
  m->add_option("OUT.snap", merge->out, "Output snapshot (may be BASE; replaced atomically)")
      ->required();
  m->add_flag("--no-sync", merge->no_sync, "Skip fsync (a machine crash may lose the file)");
  cli::AddCommand(commands, m, [merge] { return RunMerge(*merge); });

  auto diff = std::make_shared<DiffArgs>();
  CLI::App* d = app.add_subcommand("diff", "List new, updated and removed tracks from A to B");
  d->add_option("A", diff->a, "Older snapshot, or store directory")->required();
  d->add_option("B", diff->b, "Newer snapshot, or store directory")->required();
  d->add_option("--version-a", diff->version_a, "Store A: version N instead of the current one");
  d->add_option("--version-b", diff->version_b, "Store B: version N instead of the current one");
  d->add_flag("--reference-rule", diff->reference_rule,
              "Count only genre, year and track_status changes, as the reference application");
  cli::AddCommand(commands, d, [diff] { return RunDiff(*diff); });
}

}  // namespace trackstore
