// src/cli/main.cc: the `trackstore` command-line tool: generate, import,
// export, info, verify, get and lookup here; merge and diff, status and
// update, the store's commit, log, checkout, compact and gc, and shm in the
// *_commands.cc files beside it. Every command that reads a snapshot also
// reads a store directory (library.h), the current version or --version N.
//
// One function per subcommand, registered in one command table
// (cli_common.h) that gives each --json and --quiet. Exit codes, the JSON
// envelope and timing as in cli_common.h and doc/cli.md.
#include <unistd.h>

#include <algorithm>
#include <cstdint>
#include <cstdio>
#include <cstring>
#include <functional>
#include <iostream>
#include <memory>
#include <new>
#include <optional>
#include <random>
#include <sstream>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "cli_common.h"
#include "library.h"
#include "merge_commands.h"
#include "reference_commands.h"
#include "service_commands.h"
#include "shm_commands.h"
#include "store_commands.h"
#include "trackstore/json.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/status.h"
#include "trackstore/synthetic.h"
#include "trackstore/track.h"

namespace trackstore {
namespace {

using cli::Fail;
using cli::Flags;
using cli::FormatSeconds;
using cli::Json;
using cli::kExitOk;
using cli::kExitUsage;
using cli::Library;
using cli::PrintJsonOk;
using cli::PrintTrack;
using cli::ReportTime;
using cli::Stopwatch;
using cli::Tracks;

// "version": N for a store version, nothing for a snapshot file.
void AddVersion(const Library& lib, Json* j) {
  if (lib.version() != nullptr) (*j)["version"] = lib.version()->number();
}

// --json and OUT "-" would both write to stdout.
int JsonOnStdout(std::string_view command) {
  return cli::UsageError(std::string(command) +
                         ": --json and OUT '-' both write to stdout; give a file, or drop --json");
}

// --- generate ---------------------------------------------------------------

struct GenerateArgs {
  uint64_t count = 0;
  std::string out;
  uint64_t seed = SyntheticOptions{}.seed;
  uint64_t first_id = SyntheticOptions{}.first_id;
};

// A count whose records cannot be allocated is ResourceExhausted, not an
// uncaught std::bad_alloc. Batches, so that progress can be shown.
Result<std::vector<TrackRecord>> Generate(uint64_t count, const SyntheticOptions& options) try {
  const std::string what = "generate " + std::to_string(count);
  if (Status s = cli::CheckFitsInMemory(what, count, sizeof(TrackRecord)); !s.ok()) return s;
  constexpr uint64_t kBatch = 65'536;
  cli::Progress progress("generate");
  LibraryGenerator generator(options);
  std::vector<TrackRecord> tracks;
  tracks.reserve(count);
  while (tracks.size() < count) {
    generator.Next(std::min<uint64_t>(kBatch, count - tracks.size()), &tracks);
    progress.Update(tracks.size());
  }
  return tracks;
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted("generate " + std::to_string(count),
                                   "that many tracks do not fit in memory");
} catch (const std::length_error&) {
  return Status::ResourceExhausted("generate " + std::to_string(count),
                                   "that many tracks do not fit in memory");
}

// A snapshot file: the tracks come in batches, so that a count past one
// file's limit fails at the first batch (whose size per track says where
// the count is heading) or at the one that passes it, not after the whole
// library is in memory. Memory holds the records and the encoded payload.
int RunGenerateSnapshot(const GenerateArgs& a, const SyntheticOptions& options) try {
  Stopwatch timer;
  const std::string hint =
      "generate into a store instead: trackstore generate " + std::to_string(a.count) + " DIR/";
  auto too_big = [&](uint64_t payload, uint64_t tracks) {
    return Fail(
        Status::NotSupported(a.out, Tracks(a.count) + " need about " + std::to_string(payload) +
                                        " bytes of payload (estimated from the first " +
                                        Tracks(tracks) + "), more than one snapshot file holds (" +
                                        std::to_string(kMaxSnapshotPayloadBytes) + ")"),
        hint);
  };
  constexpr uint64_t kBatch = 65'536;
  std::optional<cli::Progress> progress(std::in_place, "generate");
  LibraryGenerator generator(options);
  std::vector<TrackRecord> tracks;
  uint64_t payload = 0;
  while (tracks.size() < a.count) {
    const size_t from = tracks.size();
    generator.Next(std::min<uint64_t>(kBatch, a.count - from), &tracks);
    for (size_t i = from; i < tracks.size(); ++i) payload += EstimatePayloadBytes(tracks[i]);
    progress->Update(tracks.size(), payload);
    if (payload > kMaxSnapshotPayloadBytes) return too_big(payload, tracks.size());
    if (from == 0) {
      const long double per_track = static_cast<long double>(payload) / tracks.size();
      const long double expected = per_track * static_cast<long double>(a.count);
      if (expected > kMaxSnapshotPayloadBytes) {
        return too_big(static_cast<uint64_t>(expected), tracks.size());
      }
      const std::string what = "generate " + std::to_string(a.count);
      if (Status s = cli::CheckFitsInMemory(what, a.count, sizeof(TrackRecord) + 256); !s.ok()) {
        return Fail(s);
      }
      tracks.reserve(a.count);
    }
  }
  progress.reset();
  Result<WriteResult> written = WriteSnapshot(a.out, tracks);
  if (!written.ok()) return Fail(written.status(), hint);
  const double seconds = timer.Seconds();
  ReportTime("generate", written->track_count, seconds);
  if (Flags().json) {
    return PrintJsonOk({{"path", a.out},
                        {"kind", "snapshot"},
                        {"tracks", written->track_count},
                        {"seed", a.seed},
                        {"bytes", written->file_size},
                        {"content_hash", written->content_hash},
                        {"seconds", seconds}});
  }
  std::cout << a.out << ": " << Tracks(written->track_count) << " (seed " << a.seed << "), "
            << written->file_size << " bytes, hash " << written->content_hash << "\n";
  return kExitOk;
} catch (const std::bad_alloc&) {
  return Fail(Status::ResourceExhausted("generate " + std::to_string(a.count),
                                        "that many tracks do not fit in memory"));
} catch (const std::length_error&) {
  return Fail(Status::ResourceExhausted("generate " + std::to_string(a.count),
                                        "that many tracks do not fit in memory"));
}

// Where OUT says: a store (an existing store directory, or a name ending in
// '/', as for import), a snapshot file (a name ending in ".snap"), else JSON.
int RunGenerate(const GenerateArgs& a) {
  SyntheticOptions options;
  options.seed = a.seed;
  options.first_id = a.first_id;
  if (cli::IsStoreDirectory(a.out) || (!a.out.empty() && a.out.back() == '/')) {
    return RunGenerateToStore({.count = a.count, .dir = a.out, .options = options});
  }
  if (a.out.ends_with(".snap")) return RunGenerateSnapshot(a, options);
  if (a.out == "-" && Flags().json) return JsonOnStdout("generate");
  Stopwatch timer;
  Result<std::vector<TrackRecord>> tracks = Generate(a.count, options);
  if (!tracks.ok()) return Fail(tracks.status());
  if (Status s = cli::WithExportProgress(
          "generate (writing)",
          [&](const JsonExportOptions& o) { return WriteJsonFile(*tracks, a.out, o); });
      !s.ok()) {
    return Fail(s);
  }
  const double seconds = timer.Seconds();
  ReportTime("generate", tracks->size(), seconds);
  if (Flags().json) {
    return PrintJsonOk({{"path", a.out},
                        {"kind", "json"},
                        {"tracks", tracks->size()},
                        {"seed", a.seed},
                        {"seconds", seconds}});
  }
  // With "-" the JSON is on stdout: the summary goes with the timing.
  if (a.out == "-") {
    cli::Info() << a.out << ": " << Tracks(tracks->size()) << " (seed " << a.seed << ")\n";
  } else {
    std::cout << a.out << ": " << Tracks(tracks->size()) << " (seed " << a.seed << ")\n";
  }
  return kExitOk;
}

// --- import -----------------------------------------------------------------

struct ImportArgs {
  std::string in;
  std::string out;
  std::string dedupe = "reject";
  bool drop_empty_ids = false;
  bool no_sync = false;
  double wait = 30;
  uint64_t max_input_bytes = JsonImportOptions{}.max_input_bytes;
};

DuplicatePolicy ParsePolicy(const std::string& name) {
  if (name == "first") return DuplicatePolicy::kKeepFirst;
  if (name == "last") return DuplicatePolicy::kKeepLast;
  return DuplicatePolicy::kReject;  // CLI11 has already checked the name
}

// Nothing touches `out` before the snapshot is complete: the writer
// publishes by rename, so a failed import leaves an existing file intact.
int RunImport(const ImportArgs& a) {
  // Into a store: a full replacement commit.
  if (cli::IsStoreDirectory(a.out) || (!a.out.empty() && a.out.back() == '/')) {
    return RunImportToStore({.in = a.in,
                             .dir = a.out,
                             .duplicates = ParsePolicy(a.dedupe),
                             .drop_empty_ids = a.drop_empty_ids,
                             .sync = !a.no_sync,
                             .wait = a.wait,
                             .max_input_bytes = a.max_input_bytes});
  }
  Stopwatch timer;
  std::optional<cli::Progress> progress(std::in_place, "import");
  JsonImportOptions import_options;
  import_options.max_input_bytes = a.max_input_bytes;
  import_options.max_decompressed_bytes = a.max_input_bytes;
  if (progress->enabled()) {
    import_options.progress = [&](uint64_t records, uint64_t bytes) {
      progress->Update(records, bytes);
    };
  }
  WriteOptions options;
  options.duplicates = ParsePolicy(a.dedupe);
  options.drop_empty_ids = a.drop_empty_ids;
  options.sync = !a.no_sync;
  // Records go straight into the snapshot's columns; a library too big for
  // one file fails at the record that passes the limit.
  Result<WriteResult> written = ImportJsonToSnapshot(a.in, a.out, import_options, options);
  progress.reset();  // its line cleared before what follows
  if (!written.ok()) {
    const Status& st = written.status();
    return Fail(st, st.IsResourceExhausted() ? "--max-input-bytes raises the limit"
                    : st.IsNotSupported()
                        ? "import into a store instead: trackstore import " + a.in + " DIR/"
                        : "");
  }
  const double seconds = timer.Seconds();
  ReportTime("import", written->track_count, seconds);
  if (Flags().json) {
    return PrintJsonOk({{"path", a.out},
                        {"kind", "snapshot"},
                        {"input", a.in},
                        {"tracks", written->track_count},
                        {"bytes", written->file_size},
                        {"content_hash", written->content_hash},
                        {"duplicates_dropped", written->duplicates_dropped},
                        {"empty_ids_dropped", written->empty_ids_dropped},
                        {"seconds", seconds}});
  }
  std::cout << a.out << ": " << Tracks(written->track_count) << ", " << written->file_size
            << " bytes, hash " << written->content_hash << "\n";
  if (written->duplicates_dropped > 0) {
    std::cout << "duplicate ids dropped: " << written->duplicates_dropped << "\n";
  }
  if (written->empty_ids_dropped > 0) {
    std::cout << "empty ids dropped: " << written->empty_ids_dropped << "\n";
  }
  return kExitOk;
}

// --- export -----------------------------------------------------------------

struct ExportArgs {
  std::string snap;
  std::string out;
  std::optional<uint64_t> version;
};

int RunExport(const ExportArgs& a) {
  if (a.out == "-" && Flags().json) return JsonOnStdout("export");
  Stopwatch timer;
  std::string hint;
  Result<Library> lib = Library::Open(a.snap, a.version, &hint);
  if (!lib.ok()) return Fail(lib.status(), hint);
  Status s = cli::WithExportProgress("export", [&](const JsonExportOptions& o) {
    return lib->Visit([&](const auto& tracks) { return ExportJsonFile(tracks, a.out, o); });
  });
  if (!s.ok()) return Fail(s);
  const double seconds = timer.Seconds();
  ReportTime("export", lib->size(), seconds);
  if (Flags().json) {
    Json j = {{"path", a.out}, {"input", lib->path()}};
    AddVersion(*lib, &j);
    j["tracks"] = lib->size();
    j["seconds"] = seconds;
    return PrintJsonOk(j);
  }
  return kExitOk;
}

// --- info / verify ----------------------------------------------------------

struct SnapArgs {
  std::string snap;
  std::optional<uint64_t> version;
};

double BytesPerTrack(const Snapshot& snap) {
  return snap.empty() ? 0.0 : static_cast<double>(snap.file_size()) / snap.size();
}

int RunInfo(const SnapArgs& a) {
  Stopwatch timer;
  std::string hint;
  Result<Library> lib = Library::Open(a.snap, a.version, &hint);
  if (!lib.ok()) return Fail(lib.status(), hint);
  if (lib->is_store()) return PrintStoreInfo(*lib, timer);
  const Snapshot* snap = lib->snapshot();
  const double seconds = timer.Seconds();
  ReportTime("info (open + verify)", snap->size(), seconds);
  if (Flags().json) {
    return PrintJsonOk({{"path", snap->path()},
                        {"kind", "snapshot"},
                        {"format_version", snap->format_version()},
                        {"tracks", snap->size()},
                        {"bytes", snap->file_size()},
                        {"bytes_per_track", BytesPerTrack(*snap)},
                        {"content_hash", snap->content_hash()},
                        {"seconds", seconds}});
  }
  char per_track[32];
  std::snprintf(per_track, sizeof(per_track), "%.1f", BytesPerTrack(*snap));
  std::cout << "path:            " << snap->path() << "\n"
            << "format version:  " << snap->format_version() << "\n"
            << "tracks:          " << snap->size() << "\n"
            << "file bytes:      " << snap->file_size() << "\n"
            << "bytes per track: " << per_track << "\n"
            << "content hash:    " << snap->content_hash() << "\n";
  return kExitOk;
}

// Snapshot::Open runs the full verification: header, layout, content hash;
// a store version is checked by Version::Verify. Content found invalid
// exits 3, a file that cannot be read 1.
int RunVerify(const SnapArgs& a) {
  Stopwatch timer;
  std::string hint;
  Result<Library> lib = Library::Open(a.snap, a.version, &hint);
  if (!lib.ok()) return Fail(lib.status(), hint, cli::VerifyExitCode(lib.status()));
  if (lib->is_store()) return VerifyStore(*lib, timer);
  const Snapshot* snap = lib->snapshot();
  const double seconds = timer.Seconds();
  ReportTime("verify", snap->size(), seconds);
  if (Flags().json) {
    return PrintJsonOk({{"path", snap->path()},
                        {"kind", "snapshot"},
                        {"tracks", snap->size()},
                        {"content_hash", snap->content_hash()},
                        {"seconds", seconds}});
  }
  std::cout << "OK: " << snap->path() << ": " << Tracks(snap->size()) << ", hash "
            << snap->content_hash() << "\n";
  return kExitOk;
}

// --- get --------------------------------------------------------------------

struct GetArgs {
  std::string snap;
  std::string id;
  std::optional<uint64_t> version;
};

int RunGet(const GetArgs& a) {
  std::string hint;
  Result<Library> lib = Library::Open(a.snap, a.version, &hint);
  if (!lib.ok()) return Fail(lib.status(), hint);
  Stopwatch timer;
  std::optional<TrackView> track = lib->Find(a.id);
  const double seconds = timer.Seconds();
  if (!track) return Fail(Status::NotFound(a.id + " in " + lib->Describe()));
  // A store's track sits in one of its fragments: its row there is no
  // place in library order.
  if (lib->is_store()) {
    cli::Info() << "get: found in " << FormatSeconds(seconds) << "\n";
  } else {
    cli::Info() << "get: found at index " << track->index() << " in " << FormatSeconds(seconds)
                << "\n";
  }
  if (Flags().json) {
    std::string out;
    AppendTrackJson(*track, &out);
    Json j = {{"path", lib->path()}};
    AddVersion(*lib, &j);
    return PrintJsonOk(j, "track", cli::ValidUtf8(out));
  }
  PrintTrack(*track);
  return kExitOk;
}

// --- lookup -----------------------------------------------------------------

struct LookupArgs {
  std::string snap;
  uint64_t count = 1000000;
  uint64_t seed = 1;
  std::optional<uint64_t> version;
};

// Ids of `count` tracks picked uniformly at random (with repetition), as
// views into the mapping, so that the timed loop does nothing but Find. The
// ids are gathered once in library order (a layered version has no
// positional access). A count too large for memory is ResourceExhausted.
template <typename Library>
Result<std::vector<std::string_view>> PickIds(const Library& library, uint64_t count,
                                              uint64_t seed) try {
  const std::string what = "lookup --count " + std::to_string(count);
  if (Status s = cli::CheckFitsInMemory(what, count, sizeof(std::string_view)); !s.ok()) return s;
  std::vector<std::string_view> all;
  all.reserve(library.size());
  for (TrackView t : library) all.push_back(t.id());
  std::mt19937_64 rng(seed);
  std::uniform_int_distribution<uint64_t> pick(0, all.size() - 1);
  std::vector<std::string_view> ids;
  ids.reserve(count);
  for (uint64_t i = 0; i < count; ++i) ids.push_back(all[pick(rng)]);
  return ids;
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted("lookup --count " + std::to_string(count),
                                   "the ids to look up do not fit in memory");
} catch (const std::length_error&) {
  return Status::ResourceExhausted("lookup --count " + std::to_string(count),
                                   "the ids to look up do not fit in memory");
}

int RunLookup(const LookupArgs& a) {
  std::string hint;
  Result<Library> lib = Library::Open(a.snap, a.version, &hint);
  if (!lib.ok()) return Fail(lib.status(), hint);
  if (lib->empty()) return Fail(Status::InvalidArgument(lib->Describe(), "no tracks to look up"));
  Result<std::vector<std::string_view>> picked =
      lib->Visit([&](const auto& tracks) { return PickIds(tracks, a.count, a.seed); });
  if (!picked.ok()) return Fail(picked.status());
  const std::vector<std::string_view>& ids = *picked;

  Stopwatch timer;
  const uint64_t misses = lib->Visit([&](const auto& tracks) {
    uint64_t n = 0;
    for (std::string_view id : ids) n += !tracks.Find(id).has_value();
    return n;
  });
  const double seconds = timer.Seconds();
  if (misses > 0) {
    return Fail(Status::StructureInvalid(lib->Describe(),
                                         std::to_string(misses) + " ids present were not found"));
  }

  const double per_second = seconds > 0 ? a.count / seconds : 0;
  const double ns_per_lookup = a.count > 0 ? seconds * 1e9 / a.count : 0;
  cli::Info() << "lookup: " << a.count << " lookups in " << FormatSeconds(seconds) << "\n";
  if (Flags().json) {
    Json j = {{"path", lib->path()}};
    AddVersion(*lib, &j);
    j["tracks"] = lib->size();
    j["lookups"] = a.count;
    j["seconds"] = seconds;
    j["lookups_per_second"] = per_second;
    j["ns_per_lookup"] = ns_per_lookup;
    return PrintJsonOk(j);
  }
  char line[128];
  std::snprintf(line, sizeof(line), "%.0f lookups/s, %.1f ns per lookup", per_second,
                ns_per_lookup);
  std::cout << a.count << " random lookups over " << Tracks(lib->size()) << ": " << line << "\n";
  return kExitOk;
}

// --- command line -----------------------------------------------------------

CLI::App* AddGenerate(CLI::App& app, GenerateArgs& a) {
  CLI::App* c = app.add_subcommand(
      "generate", "Write a synthetic library as JSON, as a snapshot, or into a store");
  c->add_option("N", a.count, "Number of tracks")->required();
  c->add_option("OUT", a.out,
                "Output: a snapshot (a name ending in .snap), a store directory (an existing "
                "one, or a name ending in '/': a full replacement commit, any N), else JSON "
                "(gzip when it ends in .gz; - for stdout); files are replaced atomically")
      ->required();
  c->add_option("--seed", a.seed, "Generator seed")->capture_default_str();
  c->add_option("--first-id", a.first_id, "Id of the first track (ids count up from it)")
      ->capture_default_str();
  return c;
}

CLI::App* AddImport(CLI::App& app, ImportArgs& a) {
  CLI::App* c = app.add_subcommand("import", "Snapshot a JSON library (.json or .json.gz)");
  c->add_option("IN.json", a.in, "Input: a JSON array of tracks, plain or gzip; - for stdin")
      ->required();
  c->add_option("OUT", a.out,
                "Output snapshot (replaced atomically), or a store directory (an existing one, "
                "or a name ending in '/'): a full replacement commit")
      ->required();
  c->add_option("--dedupe", a.dedupe, "Duplicate ids: reject, keep first or keep last")
      ->check(CLI::IsMember({"reject", "first", "last"}))
      ->capture_default_str();
  c->add_flag("--drop-empty-ids", a.drop_empty_ids, "Drop tracks with an empty id");
  c->add_flag("--no-sync", a.no_sync, "Skip fsync (a machine crash may lose the file)");
  c->add_option("--wait", a.wait, "Store: seconds to wait for another writer")
      ->capture_default_str();
  c->add_option("--max-input-bytes", a.max_input_bytes,
                "Refuse input larger than this, read or after gzip decompression")
      ->capture_default_str();
  return c;
}

// --version N: which version of a store to read (default: the current one).
void AddVersionOption(CLI::App* c, std::optional<uint64_t>& version) {
  c->add_option("--version", version, "Store: read version N instead of the current one");
}

CLI::App* AddExport(CLI::App& app, ExportArgs& a) {
  CLI::App* c = app.add_subcommand("export", "Write a snapshot's or a store's tracks as JSON");
  c->add_option("SNAP", a.snap, "Snapshot file or store directory")->required();
  c->add_option("OUT.json", a.out,
                "Output file (replaced atomically; gzip when it ends in .gz), or - for stdout")
      ->required();
  AddVersionOption(c, a.version);
  return c;
}

CLI::App* AddSnapCommand(CLI::App& app, const char* name, const char* about, SnapArgs& a) {
  CLI::App* c = app.add_subcommand(name, about);
  c->add_option("SNAP", a.snap, "Snapshot file or store directory")->required();
  AddVersionOption(c, a.version);
  return c;
}

CLI::App* AddGet(CLI::App& app, GetArgs& a) {
  CLI::App* c = app.add_subcommand("get", "Print the track with the given id");
  c->add_option("SNAP", a.snap, "Snapshot file or store directory")->required();
  c->add_option("ID", a.id, "Track id (exact bytes)")->required();
  AddVersionOption(c, a.version);
  return c;
}

CLI::App* AddLookup(CLI::App& app, LookupArgs& a) {
  CLI::App* c = app.add_subcommand("lookup", "Time random lookups of ids present in a snapshot");
  c->add_option("SNAP", a.snap, "Snapshot file or store directory")->required();
  c->add_option("--count", a.count, "Number of lookups")->capture_default_str();
  AddVersionOption(c, a.version);
  c->add_option("--seed", a.seed, "Seed for picking ids")->capture_default_str();
  return c;
}

struct Args {
  GenerateArgs generate;
  ImportArgs import;
  ExportArgs export_;
  SnapArgs info;
  SnapArgs verify;
  GetArgs get;
  LookupArgs lookup;
};

// What follows the options in `trackstore --help` (and so in the man page).
constexpr const char* kFooter =
    "Every command takes --json (one line of JSON on stdout: {\"schema_version\":1,\n"
    "\"command\":...,\"ok\":...}) and -q/--quiet (nothing on stderr but errors).\n"
    "`trackstore COMMAND --help` lists a command's options; `trackstore --help-all`\n"
    "lists them all.\n"
    "\n"
    "Exit status: 0 success; 1 the operation failed; 2 usage error; 3 the check\n"
    "ran and found the answer \"invalid\" (status: not valid, verify: corrupt).";

// The first word of argv that is not an option names the command, and for
// shm the next one (a usage error may come before CLI11 knows).
std::string CommandFromArgv(const CLI::App& app, int argc, char** argv) {
  const CLI::App* at = &app;
  std::string name;
  for (int i = 1; i < argc; ++i) {
    const std::string_view word = argv[i];
    if (word == "--") break;
    if (word.starts_with("-")) continue;
    const CLI::App* sub = nullptr;
    for (const CLI::App* s : at->get_subcommands({})) {
      if (s->get_name() == word) sub = s;
    }
    if (sub == nullptr) break;
    name += (name.empty() ? "" : " ") + std::string(word);
    at = sub;
    if (at->get_subcommands({}).empty()) break;
  }
  return name;
}

// --help-all, the text the man page is made from (help2man): each command
// under a heading of its own ("trackstore shm publish:") with its usage,
// arguments and options, shm's subcommands included.
class HelpAllFormatter : public CLI::Formatter {
 public:
  std::string make_expanded(const CLI::App* sub) const override {
    const std::string name = "trackstore " + cli::CommandName(sub);
    std::string out = "\n" + name + ":\n  " + sub->get_description() + "\n\n";
    std::istringstream body(make_usage(sub, name) + make_positionals(sub) +
                            make_groups(sub, CLI::AppFormatMode::Sub));
    for (std::string line; std::getline(body, line);) {
      if (line.empty() || line == "Positionals:" || line == "Options:") continue;
      out += line.starts_with("Usage:") ? "  " + line + "\n\n" : line + "\n";
    }
    for (const CLI::App* child : sub->get_subcommands({})) out += make_expanded(child);
    return out;
  }
};

bool JsonRequested(int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    if (std::strcmp(argv[i], "--") == 0) return false;
    if (std::strcmp(argv[i], "--json") == 0) return true;
  }
  return false;
}

int Main(int argc, char** argv) {
  CLI::App app("trackstore: memory-mapped snapshots of a music library's tracks", "trackstore");
  app.require_subcommand(1);
  app.formatter(std::make_shared<HelpAllFormatter>());  // before the subcommands inherit it
  app.set_version_flag("--version", cli::VersionText(),
                       "Print the version and the formats it reads");
  // `trackstore -q import ...` as well as `trackstore import ... -q`.
  app.add_flag("--json", Flags().json, "Print one line of JSON on stdout (doc/cli.md)");
  app.add_flag("-q,--quiet", Flags().quiet, "No timings, notes or progress on stderr");
  Args a;
  cli::CommandTable commands;
  cli::AddCommand(&commands, AddGenerate(app, a.generate), [&] { return RunGenerate(a.generate); });
  cli::AddCommand(&commands, AddImport(app, a.import), [&] { return RunImport(a.import); });
  cli::AddCommand(&commands, AddExport(app, a.export_), [&] { return RunExport(a.export_); });
  cli::AddCommand(&commands,
                  AddSnapCommand(app, "info",
                                 "Show a snapshot's count, size and hash (fully verified)", a.info),
                  [&] { return RunInfo(a.info); });
  cli::AddCommand(&commands,
                  AddSnapCommand(app, "verify",
                                 "Check a snapshot's or a store version's structure and content "
                                 "hash (exit 3 when corrupt)",
                                 a.verify),
                  [&] { return RunVerify(a.verify); });
  cli::AddCommand(&commands, AddGet(app, a.get), [&] { return RunGet(a.get); });
  cli::AddCommand(&commands, AddLookup(app, a.lookup), [&] { return RunLookup(a.lookup); });
  AddMergeCommands(app, &commands);
  AddServiceCommands(app, &commands);
  AddStoreCommands(app, &commands);
  AddShmCommands(app, &commands);
  AddReferenceCommands(app, &commands);
  // Set last, so that the subcommands do not inherit them.
  app.set_help_all_flag("--help-all", "Print the help of every command (the man page's text)");
  app.footer(kFooter);

  // A hidden helper of the bash completion script: the words that may
  // follow argv[2..].
  if (argc >= 2 && std::strcmp(argv[1], "__complete") == 0) {
    std::vector<std::string> words(argv + 2, argv + argc);
    std::cout << cli::CompletionWords(app, words);
    return kExitOk;
  }

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help and --version (exit code 0) print text; every other parse error
    // is a usage error.
    if (e.get_exit_code() == 0 || !JsonRequested(argc, argv)) {
      return app.exit(e) == 0 ? kExitOk : kExitUsage;
    }
    // CLI11's text still goes to stderr, for a person reading along.
    app.exit(e, std::cerr, std::cerr);
    Flags().command = CommandFromArgv(app, argc, argv);
    cli::PrintJsonError("Usage", e.what());
    return kExitUsage;
  }
  for (const cli::Command& command : commands) {
    if (command.app->parsed()) {
      Flags().command = cli::CommandName(command.app);
      return command.run();
    }
  }
  return kExitUsage;  // unreachable: require_subcommand(1) holds
}

}  // namespace
}  // namespace trackstore

// The commands turn allocation failures they can foresee into
// ResourceExhausted; this is the last resort for the others.
int main(int argc, char** argv) try {
  return trackstore::Main(argc, argv);
} catch (const std::bad_alloc&) {
  std::cerr << "trackstore: Resource exhausted: out of memory\n";
  if (trackstore::cli::Flags().json) {
    trackstore::cli::PrintJsonError("ResourceExhausted", "out of memory");
  }
  return trackstore::cli::kExitFailure;
} catch (const std::exception& e) {
  std::cerr << "trackstore: internal error: " << e.what() << "\n";
  if (trackstore::cli::Flags().json) trackstore::cli::PrintJsonError("Internal", e.what());
  return trackstore::cli::kExitFailure;
}
