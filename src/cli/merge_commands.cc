#include "merge_commands.h"

#include <iostream>
#include <memory>
#include <string>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "trackstore/diff.h"
#include "trackstore/json.h"
#include "trackstore/merge.h"
#include "trackstore/snapshot.h"

namespace trackstore {
namespace {

using cli::Fail;
using Json = nlohmann::ordered_json;

struct MergeArgs {
  std::string base, updates, out;
  bool no_sync = false;
  bool json = false;
};

// The base is fully verified first: a corrupt base is an error and no
// output is written. Updates are a snapshot when the file says so (magic),
// else JSON.
int RunMerge(const MergeArgs& a) {
  cli::Stopwatch timer;
  Result<Snapshot> base = Snapshot::Open(a.base);
  if (!base.ok()) return Fail(base.status(), a.json);
  WriteOptions options;
  options.sync = !a.no_sync;
  Merger merger;
  Result<MergeStats> stats = Status::NotFound(a.updates);
  Result<Snapshot> update_snap = Snapshot::Open(a.updates);
  if (update_snap.ok()) {
    stats = merger.Merge(*base, *update_snap, a.out, options);
  } else if (update_snap.status().IsNotASnapshot()) {
    Result<std::vector<TrackRecord>> records = ImportJsonFile(a.updates);
    if (!records.ok()) return Fail(records.status(), a.json);
    stats = merger.Merge(*base, *records, a.out, options);
  } else {
    return Fail(update_snap.status(), a.json);
  }
  if (!stats.ok()) return Fail(stats.status(), a.json);
  cli::ReportTime("merge", stats->written.track_count, timer.Seconds());
  if (a.json) {
    Json j = {{"path", a.out},
              {"track_count", stats->written.track_count},
              {"content_hash", stats->written.content_hash},
              {"carried", stats->carried},
              {"replaced", stats->replaced},
              {"appended", stats->appended},
              {"superseded", stats->superseded}};
    std::cout << cli::JsonText(j, 2) << "\n";
  } else {
    std::cout << a.out << ": " << cli::Tracks(stats->written.track_count) << " (" << stats->carried
              << " carried, " << stats->replaced << " replaced, " << stats->appended
              << " appended), hash " << stats->written.content_hash << "\n";
  }
  return cli::kExitOk;
}

struct DiffArgs {
  std::string a, b;
  bool reference_rule = false;
  bool json = false;
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

int RunDiff(const DiffArgs& a) {
  Result<Snapshot> before = Snapshot::Open(a.a);
  if (!before.ok()) return Fail(before.status(), a.json);
  Result<Snapshot> after = Snapshot::Open(a.b);
  if (!after.ok()) return Fail(after.status(), a.json);
  cli::Stopwatch timer;
  DiffOptions options;
  options.rule = a.reference_rule ? ChangeRule::kReference : ChangeRule::kAllFields;
  const SnapshotDiff d = Diff(*before, *after, options);
  std::cerr << "diff: " << cli::Tracks(before->size()) << " against " << cli::Tracks(after->size())
            << " in " << cli::FormatSeconds(timer.Seconds()) << "\n";
  if (!a.json) {
    PrintDiff(d);
    return cli::kExitOk;
  }
  Json updated = Json::array();
  for (const UpdatedTrack& u : d.updated) {
    updated.push_back({{"id", u.id}, {"changed", FieldList(u.changed)}});
  }
  Json j = {{"new", d.added}, {"updated", updated}, {"removed", d.removed}};
  std::cout << cli::JsonText(j, 2) << "\n";
  return cli::kExitOk;
}

}  // namespace

void AddMergeCommands(CLI::App& app, int* exit_code) {
  auto merge = std::make_shared<MergeArgs>();
  CLI::App* m = app.add_subcommand("merge", "Merge new and changed tracks into a snapshot");
  m->add_option("BASE.snap", merge->base, "Existing snapshot (fully verified)")->required();
  m->add_option("UPDATES", merge->updates, "Updates: a snapshot, or JSON (.json / .json.gz)")
      ->required();
  m->add_option("OUT.snap", merge->out, "Output snapshot (may be BASE; replaced atomically)")
      ->required();
  m->add_flag("--no-sync", merge->no_sync, "Skip fsync (a machine crash may lose the file)");
  m->add_flag("--json", merge->json, "Print JSON");
  m->callback([merge, exit_code] { *exit_code = RunMerge(*merge); });

  auto diff = std::make_shared<DiffArgs>();
  CLI::App* d = app.add_subcommand("diff", "List new, updated and removed tracks from A to B");
  d->add_option("A.snap", diff->a, "Older snapshot")->required();
  d->add_option("B.snap", diff->b, "Newer snapshot")->required();
  d->add_flag("--reference-rule", diff->reference_rule,
              "Count only genre, year and track_status changes, as the reference application");
  d->add_flag("--json", diff->json, "Print JSON");
  d->callback([diff, exit_code] { *exit_code = RunDiff(*diff); });
}

}  // namespace trackstore
