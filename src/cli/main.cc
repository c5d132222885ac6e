// src/cli/main.cc: the `trackstore` command-line tool: generate, import,
// export, info, verify, get and lookup here; merge and diff, status and
// update, the store's commit, log, checkout, compact and gc, and shm in the
// *_commands.cc files beside it. Every command that reads a snapshot also
// reads a store directory (library.h), the current version or --version N.
//
// One function per subcommand. Exit codes and timing as in cli_common.h:
// 0 success, 1 the operation failed (the Status is printed), 2 usage error
// (reported by CLI11 before any work starts); elapsed time on stderr so
// that stdout stays clean for --json consumers.
#include <cstdint>
#include <cstdio>
#include <functional>
#include <iostream>
#include <new>
#include <optional>
#include <random>
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

using Json = nlohmann::ordered_json;
using cli::Fail;
using cli::FormatSeconds;
using cli::kExitOk;
using cli::kExitUsage;
using cli::Library;
using cli::PrintTrack;
using cli::ReportTime;
using cli::Stopwatch;
using cli::Tracks;

// --- generate ---------------------------------------------------------------

struct GenerateArgs {
  uint64_t count = 0;
  std::string out;
  uint64_t seed = SyntheticOptions{}.seed;
  uint64_t first_id = SyntheticOptions{}.first_id;
};

// A count whose records cannot be allocated is ResourceExhausted, not an
// uncaught std::bad_alloc.
Result<std::vector<TrackRecord>> Generate(uint64_t count, const SyntheticOptions& options) try {
  const std::string what = "generate " + std::to_string(count);
  if (Status s = cli::CheckFitsInMemory(what, count, sizeof(TrackRecord)); !s.ok()) return s;
  return GenerateLibrary(count, options);
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
        false, hint);
  };
  constexpr uint64_t kBatch = 65'536;
  LibraryGenerator generator(options);
  std::vector<TrackRecord> tracks;
  uint64_t payload = 0;
  while (tracks.size() < a.count) {
    const size_t from = tracks.size();
    generator.Next(std::min<uint64_t>(kBatch, a.count - from), &tracks);
    for (size_t i = from; i < tracks.size(); ++i) payload += EstimatePayloadBytes(tracks[i]);
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
  Result<WriteResult> written = WriteSnapshot(a.out, tracks);
  if (!written.ok()) return Fail(written.status(), false, hint);
  ReportTime("generate", written->track_count, timer.Seconds());
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
  Stopwatch timer;
  Result<std::vector<TrackRecord>> tracks = Generate(a.count, options);
  if (!tracks.ok()) return Fail(tracks.status());
  if (Status s = WriteJsonFile(*tracks, a.out); !s.ok()) return Fail(s);
  ReportTime("generate", tracks->size(), timer.Seconds());
  // With "-" the JSON is on stdout: the summary goes with the timing.
  (a.out == "-" ? std::cerr : std::cout)
      << a.out << ": " << Tracks(tracks->size()) << " (seed " << a.seed << ")\n";
  return kExitOk;
}

// --- import -----------------------------------------------------------------

struct ImportArgs {
  std::string in;
  std::string out;
  std::string dedupe = "reject";
  bool drop_empty_ids = false;
  bool no_sync = false;
  bool json = false;
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
                             .json = a.json,
                             .wait = a.wait,
                             .max_input_bytes = a.max_input_bytes});
  }
  Stopwatch timer;
  JsonImportOptions import_options;
  import_options.max_input_bytes = a.max_input_bytes;
  import_options.max_decompressed_bytes = a.max_input_bytes;
  WriteOptions options;
  options.duplicates = ParsePolicy(a.dedupe);
  options.drop_empty_ids = a.drop_empty_ids;
  options.sync = !a.no_sync;
  // Records go straight into the snapshot's columns; a library too big for
  // one file fails at the record that passes the limit.
  Result<WriteResult> written = ImportJsonToSnapshot(a.in, a.out, import_options, options);
  if (!written.ok()) {
    const Status& st = written.status();
    return Fail(st, a.json,
                st.IsResourceExhausted() ? "--max-input-bytes raises the limit"
                : st.IsNotSupported()
                    ? "import into a store instead: trackstore import " + a.in + " DIR/"
                    : "");
  }
  ReportTime("import", written->track_count, timer.Seconds());
  if (a.json) {
    Json j = {{"path", a.out},
              {"track_count", written->track_count},
              {"file_bytes", written->file_size},
              {"content_hash", written->content_hash},
              {"duplicates_dropped", written->duplicates_dropped},
              {"empty_ids_dropped", written->empty_ids_dropped}};
    std::cout << cli::JsonText(j) << "\n";
    return kExitOk;
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
  bool json = false;
};

int RunExport(const ExportArgs& a) {
  Stopwatch timer;
  std::string hint;
  Result<Library> lib = Library::Open(a.snap, a.version, &hint);
  if (!lib.ok()) return Fail(lib.status(), a.json, hint);
  Status s = lib->Visit([&](const auto& tracks) { return ExportJsonFile(tracks, a.out); });
  if (!s.ok()) return Fail(s, a.json);
  ReportTime("export", lib->size(), timer.Seconds());
  if (a.json) {
    Json j = {{"path", a.out}, {"source", lib->Describe()}, {"track_count", lib->size()}};
    std::cout << cli::JsonText(j) << "\n";
  }
  return kExitOk;
}

// --- info / verify ----------------------------------------------------------

struct SnapArgs {
  std::string snap;
  std::optional<uint64_t> version;
  bool json = false;
};

double BytesPerTrack(const Snapshot& snap) {
  return snap.empty() ? 0.0 : static_cast<double>(snap.file_size()) / snap.size();
}

int RunInfo(const SnapArgs& a) {
  Stopwatch timer;
  std::string hint;
  Result<Library> lib = Library::Open(a.snap, a.version, &hint);
  if (!lib.ok()) return Fail(lib.status(), a.json, hint);
  if (lib->is_store()) return PrintStoreInfo(*lib, a.json, timer);
  const Snapshot* snap = lib->snapshot();
  ReportTime("info (open + verify)", snap->size(), timer.Seconds());
  if (a.json) {
    Json j = {{"path", snap->path()},
              {"format_version", snap->format_version()},
              {"track_count", snap->size()},
              {"file_bytes", snap->file_size()},
              {"bytes_per_track", BytesPerTrack(*snap)},
              {"content_hash", snap->content_hash()}};
    std::cout << cli::JsonText(j, 2) << "\n";
    return kExitOk;
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
// a store version is checked by Version::Verify.
int RunVerify(const SnapArgs& a) {
  Stopwatch timer;
  std::string hint;
  Result<Library> lib = Library::Open(a.snap, a.version, &hint);
  if (!lib.ok()) return Fail(lib.status(), a.json, hint);
  if (lib->is_store()) return VerifyStore(*lib, a.json, timer);
  const Snapshot* snap = lib->snapshot();
  ReportTime("verify", snap->size(), timer.Seconds());
  if (a.json) {
    Json j = {{"ok", true},
              {"path", snap->path()},
              {"track_count", snap->size()},
              {"content_hash", snap->content_hash()}};
    std::cout << cli::JsonText(j) << "\n";
  } else {
    std::cout << "OK: " << snap->path() << ": " << Tracks(snap->size()) << ", hash "
              << snap->content_hash() << "\n";
  }
  return kExitOk;
}

// --- get --------------------------------------------------------------------

struct GetArgs {
  std::string snap;
  std::string id;
  std::optional<uint64_t> version;
  bool json = false;
};

int RunGet(const GetArgs& a) {
  std::string hint;
  Result<Library> lib = Library::Open(a.snap, a.version, &hint);
  if (!lib.ok()) return Fail(lib.status(), a.json, hint);
  Stopwatch timer;
  std::optional<TrackView> track = lib->Find(a.id);
  const double seconds = timer.Seconds();
  if (!track) return Fail(Status::NotFound(a.id + " in " + lib->Describe()), a.json);
  // A store's track sits in one of its fragments: its row there is no
  // place in library order.
  if (lib->is_store()) {
    std::cerr << "get: found in " << FormatSeconds(seconds) << "\n";
  } else {
    std::cerr << "get: found at index " << track->index() << " in " << FormatSeconds(seconds)
              << "\n";
  }
  if (a.json) {
    std::string out;
    AppendTrackJson(*track, &out);
    std::cout << cli::ValidUtf8(out) << "\n";
  } else {
    PrintTrack(*track);
  }
  return kExitOk;
}

// --- lookup -----------------------------------------------------------------

struct LookupArgs {
  std::string snap;
  uint64_t count = 1000000;
  uint64_t seed = 1;
  std::optional<uint64_t> version;
  bool json = false;
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
  if (!lib.ok()) return Fail(lib.status(), a.json, hint);
  if (lib->empty()) {
    return Fail(Status::InvalidArgument(lib->Describe(), "no tracks to look up"), a.json);
  }
  Result<std::vector<std::string_view>> picked =
      lib->Visit([&](const auto& tracks) { return PickIds(tracks, a.count, a.seed); });
  if (!picked.ok()) return Fail(picked.status(), a.json);
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
                                         std::to_string(misses) + " ids present were not found"),
                a.json);
  }

  const double per_second = seconds > 0 ? a.count / seconds : 0;
  const double ns_per_lookup = a.count > 0 ? seconds * 1e9 / a.count : 0;
  std::cerr << "lookup: " << a.count << " lookups in " << FormatSeconds(seconds) << "\n";
  if (a.json) {
    Json j = {{"path", lib->Describe()},
              {"track_count", lib->size()},
              {"lookups", a.count},
              {"seconds", seconds},
              {"lookups_per_second", per_second},
              {"ns_per_lookup", ns_per_lookup}};
    std::cout << cli::JsonText(j) << "\n";
  } else {
    char line[128];
    std::snprintf(line, sizeof(line), "%.0f lookups/s, %.1f ns per lookup", per_second,
                  ns_per_lookup);
    std::cout << a.count << " random lookups over " << Tracks(lib->size()) << ": " << line << "\n";
  }
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
  c->add_flag("--json", a.json, "Print JSON");
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
  c->add_flag("--json", a.json, "Print JSON");
  return c;
}

CLI::App* AddSnapCommand(CLI::App& app, const char* name, const char* about, SnapArgs& a) {
  CLI::App* c = app.add_subcommand(name, about);
  c->add_option("SNAP", a.snap, "Snapshot file or store directory")->required();
  AddVersionOption(c, a.version);
  c->add_flag("--json", a.json, "Print JSON");
  return c;
}

CLI::App* AddGet(CLI::App& app, GetArgs& a) {
  CLI::App* c = app.add_subcommand("get", "Print the track with the given id");
  c->add_option("SNAP", a.snap, "Snapshot file or store directory")->required();
  c->add_option("ID", a.id, "Track id (exact bytes)")->required();
  AddVersionOption(c, a.version);
  c->add_flag("--json", a.json, "Print the track as a JSON object");
  return c;
}

CLI::App* AddLookup(CLI::App& app, LookupArgs& a) {
  CLI::App* c = app.add_subcommand("lookup", "Time random lookups of ids present in a snapshot");
  c->add_option("SNAP", a.snap, "Snapshot file or store directory")->required();
  c->add_option("--count", a.count, "Number of lookups")->capture_default_str();
  AddVersionOption(c, a.version);
  c->add_option("--seed", a.seed, "Seed for picking ids")->capture_default_str();
  c->add_flag("--json", a.json, "Print JSON");
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

int Main(int argc, char** argv) {
  CLI::App app("trackstore: memory-mapped snapshots of a music library's tracks", "trackstore");
  app.require_subcommand(1);
  app.set_version_flag("--version", cli::VersionText(),
                       "Print the version and the formats it reads");
  Args a;
  const std::pair<CLI::App*, std::function<int()>> commands[] = {
      {AddGenerate(app, a.generate), [&] { return RunGenerate(a.generate); }},
      {AddImport(app, a.import), [&] { return RunImport(a.import); }},
      {AddExport(app, a.export_), [&] { return RunExport(a.export_); }},
      {AddSnapCommand(app, "info", "Show a snapshot's count, size and hash (fully verified)",
                      a.info),
       [&] { return RunInfo(a.info); }},
      {AddSnapCommand(app, "verify", "Check a snapshot's structure and content hash", a.verify),
       [&] { return RunVerify(a.verify); }},
      {AddGet(app, a.get), [&] { return RunGet(a.get); }},
      {AddLookup(app, a.lookup), [&] { return RunLookup(a.lookup); }},
  };
  // merge, diff, status, update, the store commands, shm, adopt and export-reference run from
  // CLI11's callback during parse() and leave their exit code here.
  int callback_exit = kExitOk;
  AddMergeCommands(app, &callback_exit);
  AddServiceCommands(app, &callback_exit);
  AddStoreCommands(app, &callback_exit);
  AddShmCommands(app, &callback_exit);
  AddReferenceCommands(app, &callback_exit);
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    // Help exits 0; every other parse error is a usage error.
    return app.exit(e) == 0 ? kExitOk : kExitUsage;
  }
  for (const auto& [command, run] : commands) {
    if (command->parsed()) return run();
  }
  return callback_exit;
}

}  // namespace
}  // namespace trackstore

// The commands turn allocation failures they can foresee into
// ResourceExhausted; this is the last resort for the others.
int main(int argc, char** argv) try {
  return trackstore::Main(argc, argv);
} catch (const std::bad_alloc&) {
  std::cerr << "trackstore: Resource exhausted: out of memory\n";
  return trackstore::cli::kExitFailure;
} catch (const std::exception& e) {
  std::cerr << "trackstore: internal error: " << e.what() << "\n";
  return trackstore::cli::kExitFailure;
}
