// src/cli/shm_commands.cc: `trackstore shm publish|get|lookup|stat|clear|remove`.
//
// Each command opens the named segment, does one thing and prints what a
// person needs next: a missing segment says how to create it, a full one
// how big it is and what holds it, a dead writer's leftovers what the next
// publish will do about them. Timings and notes go to stderr (not with
// --quiet; warnings always); --json output to stdout.
#include "shm_commands.h"

#include <time.h>
#include <unistd.h>

#include <chrono>
#include <cstdint>
#include <cstdio>
#include <iostream>
#include <memory>
#include <optional>
#include <random>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "trackstore/json.h"
#include "trackstore/shm_cache.h"
#include "trackstore/snapshot.h"

namespace trackstore {
namespace {

using cli::Fail;
using cli::Flags;
using cli::Json;
using cli::kExitOk;
using cli::PrintJsonOk;
using cli::PrintTrack;

struct ShmArgs {
  std::string name;
  std::string key;
  std::string file;
  std::string id;
  uint64_t count = 1000000;
  uint64_t seed = 1;
  int64_t ttl = kDefaultTtlSeconds;
  uint64_t capacity_mb = 64;
  uint64_t max_entries = ShmOptions{}.max_entries;
  std::string shm_dir = ShmOptions{}.shm_dir;
  bool share_with_group = false;
  CLI::Option* capacity_option = nullptr;
};

std::string MiB(uint64_t bytes) {
  char buf[32];
  std::snprintf(buf, sizeof(buf), "%.1f MiB", bytes / 1048576.0);
  return buf;
}

double Seconds(std::chrono::steady_clock::time_point since) {
  return std::chrono::duration<double>(std::chrono::steady_clock::now() - since).count();
}

ShmOptions OptionsFor(const ShmArgs& a, bool create) {
  ShmOptions o;
  o.name = a.name;
  o.shm_dir = a.shm_dir;
  o.create_if_missing = create;
  // Saturated: a count of MiB that does not fit in bytes must not wrap to a
  // small size (RunPublish reports it; the library rejects it anyway).
  o.capacity_bytes = a.capacity_mb > (UINT64_MAX >> 20) ? UINT64_MAX : a.capacity_mb << 20;
  o.max_entries = a.max_entries;
  o.share_with_group = a.share_with_group;
  return o;
}

// What a person reads when the segment carries a dead process's leftovers.
void ReportLeftovers(const ShmStats& s, const std::string& name) {
  if (s.dead_writer_pid != 0) {
    std::cerr << "warning: a writer (pid " << s.dead_writer_pid << ") died in the middle of a "
              << "write to " << name << "; the next publish rebuilds the segment, dropping its "
              << "entries (readers keep what they hold)\n";
  }
  if (s.dead_reader_slots != 0) {
    cli::Info() << "note: " << s.dead_reader_slots << " reader slot(s) of " << name
                << " belong to processes that died; the next publish frees them\n";
  }
}

int RunPublish(const ShmArgs& a) {
  constexpr uint64_t kMaxCapacityMb = uint64_t{1} << 20;  // 1 TiB
  if (a.capacity_mb == 0 || a.capacity_mb >= kMaxCapacityMb) {
    return Fail(Status::InvalidArgument("--capacity " + std::to_string(a.capacity_mb),
                                        "the segment size in MiB must be 1 to " +
                                            std::to_string(kMaxCapacityMb - 1) + " (below 1 TiB)"));
  }
  Result<ShmCache> cache = ShmCache::Open(OptionsFor(a, /*create=*/true));
  if (!cache.ok()) {
    return Fail(cache.status(),
                cache.status().IsResourceExhausted()
                    ? "pass a smaller --capacity (MiB), or free space in " + a.shm_dir
                    : "");
  }
  const ShmStats before = cache->Stats();
  if (a.capacity_option != nullptr && a.capacity_option->count() > 0 &&
      before.capacity > (a.capacity_mb << 20)) {
    cli::Info() << "note: " << a.name << " already exists with " << MiB(before.capacity)
                << "; --capacity applies only when a segment is created\n";
  }
  const auto start = std::chrono::steady_clock::now();
  Result<uint64_t> version = cache->PutFile(a.key, a.file, a.ttl);
  if (!version.ok()) {
    std::string hint;
    if (version.status().IsResourceExhausted()) {
      hint = "the segment holds " + MiB(before.capacity) + "; run `trackstore shm remove " +
             a.name +
             "` and publish again with a larger --capacity, or let readers that hold "
             "old versions finish";
    }
    return Fail(version.status(), hint);
  }
  const double seconds = Seconds(start);
  const ShmStats after = cache->Stats();
  if (after.rebuilds > before.rebuilds || before.dead_writer_pid != 0) {
    cli::Info() << "note: rebuilt " << a.name << " first: a previous writer had died mid-write "
                << "or the segment was damaged; its other entries were dropped\n";
  }
  char took[32];
  std::snprintf(took, sizeof(took), "%.1f ms", seconds * 1e3);
  cli::Info() << "publish: " << a.file << " in " << took << "\n";
  Result<ShmEntry> e = cache->Get(a.key);
  const uint64_t tracks = e.ok() ? e->snapshot().size() : 0;
  if (Flags().json) {
    return PrintJsonOk({{"segment", a.name},
                        {"key", a.key},
                        {"path", a.file},
                        {"version", *version},
                        {"tracks", tracks},
                        {"bytes", e.ok() ? e->image_size() : 0},
                        {"ttl_seconds", a.ttl},
                        {"entries", after.entries},
                        {"bytes_used", after.bytes_used},
                        {"capacity", after.capacity},
                        {"seconds", seconds}});
  }
  std::cout << "published " << a.key << " to " << a.name << ": " << tracks << " tracks, "
            << (e.ok() ? e->image_size() : 0) << " bytes, version " << *version << ", ttl " << a.ttl
            << " s\n"
            << a.name << ": " << after.entries << (after.entries == 1 ? " entry, " : " entries, ")
            << MiB(after.bytes_used) << " of " << MiB(after.capacity) << " used\n";
  return kExitOk;
}

int RunGet(const ShmArgs& a) {
  Result<ShmCache> cache = ShmCache::Open(OptionsFor(a, /*create=*/false));
  if (!cache.ok()) return Fail(cache.status());
  Result<ShmEntry> e = cache->Get(a.key);
  if (!e.ok()) return Fail(e.status());
  if (!a.id.empty()) {
    std::optional<TrackView> t = e->snapshot().Find(a.id);
    if (!t) return Fail(Status::NotFound("track " + a.id, "not in " + a.name + "/" + a.key));
    if (Flags().json) {
      std::string out;
      AppendTrackJson(*t, &out);
      return PrintJsonOk(
          {{"segment", a.name}, {"key", std::string(e->key())}, {"version", e->version()}}, "track",
          cli::ValidUtf8(out));
    }
    PrintTrack(*t);
    return kExitOk;
  }
  if (Flags().json) {
    return PrintJsonOk({{"segment", a.name},
                        {"key", std::string(e->key())},
                        {"version", e->version()},
                        {"tracks", e->snapshot().size()},
                        {"bytes", e->image_size()},
                        {"content_hash", e->snapshot().content_hash()},
                        {"expires_at", cli::FormatUtc(e->expires_at())}});
  } else {
    std::cout << "key:          " << e->key() << "\n"
              << "version:      " << e->version() << "\n"
              << "tracks:       " << e->snapshot().size() << "\n"
              << "bytes:        " << e->image_size() << "\n"
              << "content hash: " << e->snapshot().content_hash() << "\n"
              << "expires at:   " << cli::FormatUtc(e->expires_at()) << "\n";
  }
  return kExitOk;
}

// Random lookups of ids present in the entry, timed alone: the ids are picked
// by position first (views into the held entry), so the timed loop does
// nothing but Find. Several of these at once show readers sharing one copy.
int RunLookup(const ShmArgs& a) {
  Result<ShmCache> cache = ShmCache::Open(OptionsFor(a, /*create=*/false));
  if (!cache.ok()) return Fail(cache.status());
  Result<ShmEntry> e = cache->Get(a.key);
  if (!e.ok()) return Fail(e.status());
  const Snapshot& snap = e->snapshot();
  if (snap.empty()) {
    return Fail(Status::InvalidArgument(a.name + "/" + a.key, "no tracks to look up"));
  }
  std::mt19937_64 rng(a.seed);
  std::uniform_int_distribution<uint64_t> pick(0, snap.size() - 1);
  std::vector<std::string_view> ids;
  ids.reserve(a.count);
  for (uint64_t i = 0; i < a.count; ++i) ids.push_back(snap[pick(rng)].id());

  const auto start = std::chrono::steady_clock::now();
  uint64_t misses = 0;
  for (std::string_view id : ids) misses += !snap.Find(id).has_value();
  const double seconds = Seconds(start);
  if (misses > 0) {
    return Fail(Status::StructureInvalid(
        a.name + "/" + a.key, std::to_string(misses) + " ids present in the entry were not found"));
  }
  const double per_second = seconds > 0 ? a.count / seconds : 0;
  if (Flags().json) {
    return PrintJsonOk({{"segment", a.name},
                        {"key", std::string(e->key())},
                        {"version", e->version()},
                        {"tracks", snap.size()},
                        {"lookups", a.count},
                        {"seconds", seconds},
                        {"lookups_per_second", per_second},
                        {"ns_per_lookup", a.count > 0 ? seconds * 1e9 / a.count : 0},
                        {"pid", ::getpid()}});
  }
  char rate[64];
  std::snprintf(rate, sizeof(rate), "in %.2f s (%.2f M lookups/s)", seconds, per_second / 1e6);
  std::cout << "shm lookup: " << a.count << " lookups " << rate << ", entry " << e->key()
            << " version " << e->version() << ", " << snap.size() << " tracks, pid " << ::getpid()
            << "\n";
  return kExitOk;
}

int RunStat(const ShmArgs& a) {
  Result<ShmCache> cache = ShmCache::Open(OptionsFor(a, /*create=*/false));
  if (!cache.ok()) return Fail(cache.status());
  const ShmStats s = cache->Stats();
  ReportLeftovers(s, a.name);
  if (Flags().json) {
    return PrintJsonOk({{"segment", a.name},
                        {"entries", s.entries},
                        {"max_entries", s.max_entries},
                        {"bytes_used", s.bytes_used},
                        {"capacity", s.capacity},
                        {"entry_bytes", s.entry_bytes},
                        {"retired_bytes", s.retired_bytes},
                        {"live_readers", s.live_readers},
                        {"dead_reader_slots", s.dead_reader_slots},
                        {"reader_slots", s.reader_slots},
                        {"hits", s.hits},
                        {"misses", s.misses},
                        {"evictions", s.evictions},
                        {"rebuilds", s.rebuilds},
                        {"generation", s.generation},
                        {"dead_writer_pid", s.dead_writer_pid}});
  }
  std::cout << "segment:       " << a.name << " (" << a.shm_dir << "/" << a.name << ")\n"
            << "entries:       " << s.entries << " of at most " << s.max_entries << "\n"
            << "bytes used:    " << s.bytes_used << " of " << s.capacity << " ("
            << MiB(s.bytes_used) << " of " << MiB(s.capacity) << ")\n"
            << "held by readers of replaced versions: " << s.retired_bytes << " bytes\n"
            << "live readers:  " << s.live_readers << " of " << s.reader_slots << " slots\n"
            << "hits / misses: " << s.hits << " / " << s.misses << "\n"
            << "evictions:     " << s.evictions << "\n"
            << "rebuilds:      " << s.rebuilds << "\n"
            << "generation:    " << s.generation << "\n";
  return kExitOk;
}

int RunClear(const ShmArgs& a) {
  Result<ShmCache> cache = ShmCache::Open(OptionsFor(a, /*create=*/false));
  if (!cache.ok()) return Fail(cache.status());
  const uint64_t entries = cache->Stats().entries;
  if (Status s = cache->Clear(); !s.ok()) return Fail(s);
  if (Flags().json) return PrintJsonOk({{"segment", a.name}, {"entries_removed", entries}});
  std::cout << "cleared " << a.name << ": " << entries << " entries removed\n";
  return kExitOk;
}

int RunRemove(const ShmArgs& a) {
  if (Status s = ShmCache::Remove(OptionsFor(a, false)); !s.ok()) return Fail(s);
  if (Flags().json) return PrintJsonOk({{"segment", a.name}});
  std::cout << "removed " << a.name << " (processes that have it open keep their copy until "
            << "they let go)\n";
  return kExitOk;
}

}  // namespace

void AddShmCommands(CLI::App& app, cli::CommandTable* commands) {
  CLI::App* shm = app.add_subcommand(
      "shm", "Shared-memory cache: publish snapshots that many processes read at once");
  shm->require_subcommand(1);
  // `trackstore shm --json stat NAME` as well.
  shm->add_flag("--json", Flags().json, "Print one line of JSON on stdout (doc/cli.md)");
  shm->add_flag("-q,--quiet", Flags().quiet, "No timings, notes or progress on stderr");
  auto a = std::make_shared<ShmArgs>();  // kept alive by the callbacks below
  auto add = [&](const char* name, const char* about, int (*run)(const ShmArgs&)) {
    CLI::App* c = shm->add_subcommand(name, about);
    c->add_option("NAME", a->name, "Segment name (the file /dev/shm/NAME)")->required();
    c->add_option("--shm-dir", a->shm_dir, "Directory of the segment")->capture_default_str();
    c->add_flag("--share-with-group", a->share_with_group,
                "Create the segment with mode 0660 instead of 0600, and accept one that "
                "another user of a group of ours created so");
    cli::AddCommand(commands, c, [a, run] { return run(*a); });
    return c;
  };
  CLI::App* publish = add("publish", "Copy a snapshot file into the segment under KEY", RunPublish);
  publish->add_option("KEY", a->key, "Entry key (the library-wide list: tracks_all)")->required();
  publish->add_option("FILE.snap", a->file, "Snapshot file (verified before publishing)")
      ->required();
  publish->add_option("--ttl", a->ttl, "Seconds until the entry expires")->capture_default_str();
  a->capacity_option =
      publish->add_option("--capacity", a->capacity_mb, "Segment size in MiB, when creating it")
          ->capture_default_str();
  publish->add_option("--max-entries", a->max_entries, "Entry limit, when creating it")
      ->capture_default_str();

  CLI::App* get = add("get", "Show an entry, or one track of it by id", RunGet);
  get->add_option("KEY", a->key, "Entry key")->required();
  get->add_option("ID", a->id, "Track id (exact bytes)");

  CLI::App* lookup =
      add("lookup", "Time random lookups by id in an entry (ids that are present)", RunLookup);
  lookup->add_option("KEY", a->key, "Entry key")->required();
  lookup->add_option("--count", a->count, "Number of lookups")
      ->check(CLI::Range(uint64_t{1}, uint64_t{100000000}))
      ->capture_default_str();
  lookup->add_option("--seed", a->seed, "Seed of the random ids")->capture_default_str();

  add("stat", "Show entries, memory, readers and counters", RunStat);

  add("clear", "Remove every entry", RunClear);
  add("remove", "Remove the segment (and its lock file when unused)", RunRemove);
}

}  // namespace trackstore
