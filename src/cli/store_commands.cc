#include "store_commands.h"

#include <algorithm>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <nlohmann/json.hpp>

#include "trackstore/json.h"
#include "trackstore/snapshot.h"
#include "trackstore/store.h"

namespace trackstore {
namespace {

using cli::Fail;
using cli::Flags;
using cli::FormatBytes;
using cli::FormatSeconds;
using cli::Json;
using cli::kExitOk;
using cli::Library;
using cli::Stopwatch;
using cli::Tracks;

// What every writing command shares.
struct WriteArgs {
  std::string dir;
  bool no_sync = false;
  double wait = 30;
};

void AddWriteOptions(CLI::App* c, WriteArgs& a) {
  c->add_option("DIR", a.dir, "Store directory")->required();
  c->add_option("--wait", a.wait, "Seconds to wait for another writer")->capture_default_str();
  c->add_flag("--no-sync", a.no_sync, "Skip fsync (a machine crash may lose recent versions)");
}

// The store's error, with what a person can do about it.
int StoreFail(const Status& s, const std::string& dir) { return Fail(s, cli::StoreHint(s, dir)); }

struct FragmentCounts {
  uint64_t base = 0, delta = 0, bytes = 0;
};

FragmentCounts CountFragments(const VersionInfo& info) {
  FragmentCounts c;
  for (const FragmentInfo& f : info.fragments) {
    ++(f.delta ? c.delta : c.base);
    c.bytes += f.bytes;
  }
  return c;
}

// "1 base", "1 base + 3 delta", "none".
std::string FragmentKinds(const FragmentCounts& c) {
  if (c.base == 0 && c.delta == 0) return "none";
  std::string s = std::to_string(c.base) + " base";
  if (c.delta > 0) s += " + " + std::to_string(c.delta) + " delta";
  return s;
}

// "1 version", "3 versions".
std::string Count(uint64_t n, std::string_view noun) {
  return std::to_string(n) + " " + std::string(noun) + (n == 1 ? "" : "s");
}

// "2024-05-01T12:00:00Z": the seconds are enough for a person.
std::string ShortUtc(Micros t) {
  std::string s = cli::FormatUtc(t);
  const size_t dot = s.find('.');
  return dot == std::string::npos ? s : s.substr(0, dot) + "Z";
}

Json StatsJson(const std::string& dir, std::string_view operation, const CommitStats& s,
               double seconds) {
  return Json{{"path", dir},
              {"operation", operation},
              {"version", s.version},
              {"tracks", s.track_count},
              {"content_hash", s.content_hash},
              {"replaced", s.replaced},
              {"appended", s.appended},
              {"unchanged", s.unchanged},
              {"superseded", s.superseded},
              {"removed", s.removed},
              {"not_found", s.not_found},
              {"duplicates_dropped", s.duplicates_dropped},
              {"empty_ids_dropped", s.empty_ids_dropped},
              {"bytes_written", s.bytes_written},
              {"compacted", s.compacted},
              {"seconds", seconds}};
}

// "; 1.2 MB written in 8.1 ms" (and the automatic compaction, if one ran).
std::string Written(const CommitStats& s, double seconds) {
  return std::string(s.compacted ? "; then compacted" : "") + "; " + FormatBytes(s.bytes_written) +
         " written in " + FormatSeconds(seconds);
}

// --- commit -----------------------------------------------------------------

struct CommitArgs : WriteArgs {
  std::string updates;
  std::string remove;
  bool no_compact = false;
};

int RunCommit(const CommitArgs& a) {
  if (a.updates.empty() && a.remove.empty()) {
    return cli::UsageError("commit: nothing to commit: give UPDATES, --remove or both");
  }
  Stopwatch timer;
  std::vector<std::string> removed;
  if (!a.remove.empty()) {
    Result<std::vector<std::string>> ids = cli::ReadIdList(a.remove);
    if (!ids.ok()) return Fail(ids.status());
    removed = std::move(ids).value();
  }
  // Updates are a snapshot when the file says so (magic), else JSON.
  std::optional<Snapshot> update_snap;
  std::vector<TrackRecord> records;
  if (!a.updates.empty()) {
    Result<Snapshot> snap = Snapshot::Open(a.updates);
    if (snap.ok()) {
      if (snap->is_delta()) {
        return Fail(
            Status::InvalidArgument(a.updates, "a delta fragment, not a snapshot of tracks"));
      }
      update_snap.emplace(std::move(snap).value());
    } else if (snap.status().IsNotASnapshot()) {
      Result<std::vector<TrackRecord>> parsed = cli::ImportJsonWithProgress("commit", a.updates);
      if (!parsed.ok()) return Fail(parsed.status());
      records = std::move(parsed).value();
    } else {
      return Fail(snap.status());
    }
  }
  std::string hint;
  Result<Store> store = cli::OpenExistingStore(a.dir, a.wait, !a.no_sync, &hint);
  if (!store.ok()) return Fail(store.status(), hint);
  CommitOptions options;
  options.allow_compaction = !a.no_compact;
  Result<CommitStats> stats = update_snap ? store->Commit(*update_snap, removed, options)
                                          : store->Commit(records, removed, options);
  if (!stats.ok()) return StoreFail(stats.status(), a.dir);
  const double seconds = timer.Seconds();
  const CommitStats& s = *stats;
  cli::ReportTime("commit", s.track_count, seconds);
  if (Flags().json) return cli::PrintJsonOk(StatsJson(a.dir, "commit", s, seconds));
  std::string line = "version " + std::to_string(s.version) + ": " + std::to_string(s.replaced) +
                     " replaced, " + std::to_string(s.appended) + " appended, " +
                     std::to_string(s.removed) + " removed, " + std::to_string(s.not_found) +
                     " not found";
  if (s.unchanged > 0) line += ", " + std::to_string(s.unchanged) + " unchanged";
  if (s.superseded > 0) line += ", " + std::to_string(s.superseded) + " superseded";
  std::cout << line << "; " << Tracks(s.track_count) << Written(s, seconds) << "\n";
  return kExitOk;
}

// --- log --------------------------------------------------------------------

struct LogArgs {
  std::string dir;
};

int RunLog(const LogArgs& a) {
  std::string hint;
  Result<Store> store = cli::OpenExistingStore(a.dir, 0, true, &hint);
  if (!store.ok()) return Fail(store.status(), hint);
  Result<std::vector<VersionInfo>> log = store->Log();
  if (!log.ok()) return StoreFail(log.status(), a.dir);
  // The current version is the newest whose files all open; a damaged
  // newer manifest is listed by Log() only if it decodes.
  Result<Version> current = store->Current();
  const uint64_t current_number = current.ok() ? current->number() : 0;
  if (!current.ok() && !current.status().IsNotFound()) {
    std::cerr << "trackstore: " << current.status().ToString() << "\n";
  }
  if (Flags().json) {
    Json versions = Json::array();
    for (const VersionInfo& v : *log) {
      const FragmentCounts c = CountFragments(v);
      Json fragments = Json::array();
      for (const FragmentInfo& f : v.fragments) {
        fragments.push_back({{"name", f.name},
                             {"kind", f.delta ? "delta" : "base"},
                             {"rows", f.rows},
                             {"bytes", f.bytes}});
      }
      versions.push_back({{"version", v.number},
                          {"parent", v.parent},
                          {"current", v.number == current_number},
                          {"time", cli::FormatUtc(v.created)},
                          {"operation", v.operation},
                          {"tracks", v.track_count},
                          {"content_hash", v.content_hash},
                          {"base_fragments", c.base},
                          {"delta_fragments", c.delta},
                          {"bytes", c.bytes},
                          {"fragments", std::move(fragments)}});
    }
    return cli::PrintJsonOk(
        {{"path", a.dir},
         {"current", current_number == 0 ? Json(nullptr) : Json(current_number)},
         {"versions", std::move(versions)}});
  }
  if (log->empty()) {
    std::cout << a.dir << ": no versions yet\n";
    return kExitOk;
  }
  std::printf("  %7s  %-20s  %-11s  %9s  %-32s  %s\n", "version", "time (UTC)", "operation",
              "tracks", "content hash", "fragments");
  for (const VersionInfo& v : *log) {
    const FragmentCounts c = CountFragments(v);
    std::printf("%c %7llu  %-20s  %-11s  %9llu  %-32s  %s, %s\n",
                v.number == current_number ? '*' : ' ', static_cast<unsigned long long>(v.number),
                ShortUtc(v.created).c_str(), v.operation.c_str(),
                static_cast<unsigned long long>(v.track_count), v.content_hash.c_str(),
                FragmentKinds(c).c_str(), FormatBytes(c.bytes).c_str());
  }
  std::fflush(stdout);
  return kExitOk;
}

// --- checkout ---------------------------------------------------------------

struct CheckoutArgs : WriteArgs {
  uint64_t version = 0;
};

int RunCheckout(const CheckoutArgs& a) {
  Stopwatch timer;
  std::string hint;
  Result<Store> store = cli::OpenExistingStore(a.dir, a.wait, !a.no_sync, &hint);
  if (!store.ok()) return Fail(store.status(), hint);
  Result<CommitStats> stats = store->Checkout(a.version);
  if (!stats.ok()) {
    if (stats.status().IsNotFound()) {
      return Fail(cli::MissingVersion(*store, a.version, stats.status()));
    }
    return StoreFail(stats.status(), a.dir);
  }
  const double seconds = timer.Seconds();
  cli::ReportTime("checkout", stats->track_count, seconds);
  if (Flags().json) {
    Json j = StatsJson(a.dir, "checkout", *stats, seconds);
    j["checked_out"] = a.version;
    return cli::PrintJsonOk(j);
  }
  std::cout << "version " << stats->version << ": checkout of version " << a.version << ", "
            << Tracks(stats->track_count) << ", hash " << stats->content_hash
            << Written(*stats, seconds) << "\n";
  return kExitOk;
}

// --- compact ----------------------------------------------------------------

int RunCompact(const WriteArgs& a) {
  Stopwatch timer;
  std::string hint;
  Result<Store> store = cli::OpenExistingStore(a.dir, a.wait, !a.no_sync, &hint);
  if (!store.ok()) return Fail(store.status(), hint);
  Result<Version> before = store->Current();
  if (!before.ok()) return StoreFail(before.status(), a.dir);
  Result<CommitStats> stats = store->Compact();
  if (!stats.ok()) return StoreFail(stats.status(), a.dir);
  const double seconds = timer.Seconds();
  // Another writer may commit in between; this says what this run saw.
  const std::string from = FragmentKinds(CountFragments(before->info()));
  std::string to = from;
  if (stats->compacted) {
    Result<Version> after = store->At(stats->version);
    to = after.ok() ? FragmentKinds(CountFragments(after->info())) : "?";
  }
  cli::ReportTime("compact", stats->track_count, seconds);
  if (Flags().json) {
    Json j = StatsJson(a.dir, "compact", *stats, seconds);
    j["fragments_before"] = from;
    j["fragments_after"] = to;
    return cli::PrintJsonOk(j);
  }
  if (!stats->compacted) {
    std::cout << "version " << stats->version << ": nothing to compact (" << from << " fragment), "
              << Tracks(stats->track_count) << "\n";
    return kExitOk;
  }
  std::cout << "version " << stats->version << ": compacted " << from << " fragments into " << to
            << ", " << Tracks(stats->track_count) << ", hash " << stats->content_hash << "; "
            << FormatBytes(stats->bytes_written) << " written in " << FormatSeconds(seconds)
            << "\n";
  return kExitOk;
}

// --- gc ---------------------------------------------------------------------

struct GcArgs : WriteArgs {
  std::optional<uint32_t> keep;
};

int RunGc(const GcArgs& a) {
  Stopwatch timer;
  std::string hint;
  Result<Store> store = cli::OpenExistingStore(a.dir, a.wait, !a.no_sync, &hint);
  if (!store.ok()) return Fail(store.status(), hint);
  Result<GcStats> gc = store->CollectGarbage(a.keep);
  if (!gc.ok()) return StoreFail(gc.status(), a.dir);
  const double seconds = timer.Seconds();
  std::vector<uint64_t> kept;
  if (Result<std::vector<VersionInfo>> log = store->Log(); log.ok()) {
    for (const VersionInfo& v : *log) kept.push_back(v.number);
  }
  cli::Info() << "gc: " << FormatSeconds(seconds) << "\n";
  if (Flags().json) {
    return cli::PrintJsonOk({{"path", a.dir},
                             {"manifests_removed", gc->manifests_removed},
                             {"fragments_removed", gc->fragments_removed},
                             {"states_removed", gc->states_removed},
                             {"temporary_removed", gc->temporary_removed},
                             {"bytes_freed", gc->bytes_freed},
                             {"kept_versions", kept},
                             {"seconds", seconds}});
  }
  std::string kept_text = "none";
  if (!kept.empty()) {
    kept_text = std::to_string(kept.back());
    if (kept.size() > 1) kept_text += " to " + std::to_string(kept.front());
  }
  std::cout << "removed " << Count(gc->manifests_removed, "version") << ", "
            << Count(gc->fragments_removed, "fragment") << ", "
            << Count(gc->states_removed, "state") << ", "
            << Count(gc->temporary_removed, "temporary file") << "; "
            << FormatBytes(gc->bytes_freed) << " freed in " << FormatSeconds(seconds)
            << "; kept version" << (kept.size() == 1 ? " " : "s ") << kept_text << "\n";
  return kExitOk;
}

}  // namespace

// --- import into a store ----------------------------------------------------

int RunImportToStore(const StoreImportArgs& a) {
  Stopwatch timer;
  std::optional<cli::Progress> progress(std::in_place, "import");
  StoreOptions options;
  options.sync = a.sync;
  options.lock_timeout = static_cast<Micros>(std::max(0.0, a.wait) * kMicrosPerSecond);
  Result<Store> store = Store::Open(a.dir, options);  // created when missing
  if (!store.ok()) return StoreFail(store.status(), a.dir);
  JsonImportOptions import_options;
  import_options.max_input_bytes = a.max_input_bytes;
  import_options.max_decompressed_bytes = a.max_input_bytes;
  if (progress->enabled()) {
    import_options.progress = [&](uint64_t records, uint64_t bytes) {
      progress->Update(records, bytes);
    };
  }
  CommitOptions commit;
  commit.duplicates = a.duplicates;
  commit.drop_empty_ids = a.drop_empty_ids;
  // Records go straight into fragment columns, a fragment written as each
  // fills, under the store's writer lock.
  Result<CommitStats> stats = ImportJsonToStore(*store, a.in, import_options, commit);
  progress.reset();
  if (!stats.ok()) {
    if (stats.status().IsResourceExhausted()) {
      return Fail(stats.status(), "--max-input-bytes raises the limit");
    }
    return StoreFail(stats.status(), a.dir);
  }
  const double seconds = timer.Seconds();
  cli::ReportTime("import", stats->track_count, seconds);
  if (Flags().json) {
    Json j = StatsJson(store->directory(), "replace", *stats, seconds);
    j["kind"] = "store";
    j["input"] = a.in;
    return cli::PrintJsonOk(j);
  }
  std::cout << "version " << stats->version << ": full replacement, " << Tracks(stats->track_count)
            << ", hash " << stats->content_hash;
  if (stats->duplicates_dropped > 0) {
    std::cout << ", " << stats->duplicates_dropped << " duplicate ids dropped";
  }
  if (stats->empty_ids_dropped > 0) {
    std::cout << ", " << stats->empty_ids_dropped << " empty ids dropped";
  }
  std::cout << Written(*stats, seconds) << "\n";
  return kExitOk;
}

int RunGenerateToStore(const StoreGenerateArgs& a) {
  Stopwatch timer;
  Result<Store> store = Store::Open(a.dir);  // created when missing
  if (!store.ok()) return StoreFail(store.status(), a.dir);
  // A batch is small beside a fragment: the store cuts fragments by bytes.
  constexpr uint64_t kBatch = 100'000;
  LibraryGenerator generator(a.options);
  std::optional<cli::Progress> progress(std::in_place, "generate");
  const TrackSource source = [&](std::vector<TrackRecord>* batch) -> Result<bool> {
    if (generator.generated() == a.count) return false;
    generator.Next(std::min(kBatch, a.count - generator.generated()), batch);
    progress->Update(generator.generated());
    return true;
  };
  Result<CommitStats> stats = store->Replace(source);
  progress.reset();
  if (!stats.ok()) return StoreFail(stats.status(), a.dir);
  const double seconds = timer.Seconds();
  cli::ReportTime("generate", stats->track_count, seconds);
  if (Flags().json) {
    Json j = StatsJson(store->directory(), "replace", *stats, seconds);
    j["kind"] = "store";
    j["seed"] = a.options.seed;
    return cli::PrintJsonOk(j);
  }
  std::cout << "version " << stats->version << ": full replacement, " << Tracks(stats->track_count)
            << " (seed " << a.options.seed << "), hash " << stats->content_hash
            << Written(*stats, seconds) << "\n";
  return kExitOk;
}

// --- info / verify of a store -------------------------------------------------

int PrintStoreInfo(const Library& lib, const Stopwatch& timer) {
  const Version& v = *lib.version();
  // As for a snapshot file, info is fully verified.
  if (Status s = v.Verify(); !s.ok()) return Fail(s, cli::StoreHint(s, lib.path()));
  const double seconds = timer.Seconds();
  cli::ReportTime("info (open + verify)", v.size(), seconds);
  const FragmentCounts c = CountFragments(v.info());
  const double per_track = v.empty() ? 0.0 : static_cast<double>(c.bytes) / v.size();
  if (Flags().json) {
    return cli::PrintJsonOk({{"path", lib.path()},
                             {"kind", "store"},
                             {"version", v.number()},
                             {"time", cli::FormatUtc(v.info().created)},
                             {"operation", v.info().operation},
                             {"tracks", v.size()},
                             {"base_fragments", c.base},
                             {"delta_fragments", c.delta},
                             {"bytes", c.bytes},
                             {"bytes_per_track", per_track},
                             {"content_hash", v.content_hash()},
                             {"seconds", seconds}});
  }
  char per_track_text[32];
  std::snprintf(per_track_text, sizeof(per_track_text), "%.1f", per_track);
  std::cout << "store:           " << lib.path() << "\n"
            << "version:         " << v.number() << " (" << v.info().operation << ", "
            << ShortUtc(v.info().created) << ")\n"
            << "tracks:          " << v.size() << "\n"
            << "fragments:       " << FragmentKinds(c) << "\n"
            << "file bytes:      " << c.bytes << "\n"
            << "bytes per track: " << per_track_text << "\n"
            << "content hash:    " << v.content_hash() << "\n";
  return kExitOk;
}

int VerifyStore(const Library& lib, const Stopwatch& timer) {
  const Version& v = *lib.version();
  if (Status s = v.Verify(); !s.ok()) {
    return Fail(s, cli::StoreHint(s, lib.path()), cli::VerifyExitCode(s));
  }
  const double seconds = timer.Seconds();
  cli::ReportTime("verify", v.size(), seconds);
  if (Flags().json) {
    return cli::PrintJsonOk({{"path", lib.path()},
                             {"kind", "store"},
                             {"version", v.number()},
                             {"tracks", v.size()},
                             {"content_hash", v.content_hash()},
                             {"seconds", seconds}});
  } else {
    const size_t n = v.info().fragments.size();
    std::cout << "OK: " << lib.Describe() << ": " << Tracks(v.size()) << " in " << n
              << (n == 1 ? " fragment" : " fragments") << ", hash " << v.content_hash() << "\n";
  }
  return kExitOk;
}

// --- registration -----------------------------------------------------------

void AddStoreCommands(CLI::App& app, cli::CommandTable* commands) {
  auto commit = std::make_shared<CommitArgs>();
  CLI::App* c = app.add_subcommand(
      "commit", "Commit new, changed and removed tracks to a store (writes only the delta)");
  AddWriteOptions(c, *commit);
  c->add_option("UPDATES", commit->updates,
                "New and changed tracks: a snapshot, or JSON (.json / .json.gz)");
  c->add_option("--remove", commit->remove,
                "Ids to remove: one per line, or a JSON array; - for stdin");
  c->add_flag("--no-compact", commit->no_compact, "Skip the automatic compaction");
  cli::AddCommand(commands, c, [commit] { return RunCommit(*commit); });

  auto log = std::make_shared<LogArgs>();
  CLI::App* l = app.add_subcommand("log", "List a store's versions, newest first");
  l->add_option("DIR", log->dir, "Store directory")->required();
  cli::AddCommand(commands, l, [log] { return RunLog(*log); });

  auto checkout = std::make_shared<CheckoutArgs>();
  CLI::App* k =
      app.add_subcommand("checkout", "Make an older version current again (as a new version)");
  AddWriteOptions(k, *checkout);
  k->add_option("VERSION", checkout->version, "Version number (trackstore log lists them)")
      ->required();
  cli::AddCommand(commands, k, [checkout] { return RunCheckout(*checkout); });

  auto compact = std::make_shared<WriteArgs>();
  CLI::App* p = app.add_subcommand(
      "compact", "Fold the current version's delta fragments into new base fragments");
  AddWriteOptions(p, *compact);
  cli::AddCommand(commands, p, [compact] { return RunCompact(*compact); });

  auto gc = std::make_shared<GcArgs>();
  CLI::App* g = app.add_subcommand(
      "gc", "Remove versions beyond the newest N, and files no kept version uses");
  AddWriteOptions(g, *gc);
  g->add_option("--keep", gc->keep, "Versions to keep, the current one included (default 8)")
      ->check(CLI::Range(1u, 1000000u));
  cli::AddCommand(commands, g, [gc] { return RunGc(*gc); });
}

}  // namespace trackstore
