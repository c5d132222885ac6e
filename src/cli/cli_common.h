// src/cli/cli_common.h: what every subcommand of the `trackstore` tool
// shares: the command table, the global flags (--json, --quiet), exit
// codes, the JSON envelope, timing and progress on stderr, and error
// reporting.
//
// Exit codes (doc/cli.md): 0 success, 1 the operation failed (the Status is
// printed), 2 usage error, 3 the check ran and the answer is "invalid"
// (status, verify). Timings and progress go to stderr so that stdout stays
// clean for --json consumers.
#ifndef TRACKSTORE_CLI_CLI_COMMON_H_
#define TRACKSTORE_CLI_CLI_COMMON_H_

#include <chrono>
#include <cstdint>
#include <functional>
#include <ostream>
#include <string>
#include <string_view>
#include <vector>

#include <CLI/CLI.hpp>
#include <nlohmann/json.hpp>

#include "trackstore/clock.h"
#include "trackstore/json.h"
#include "trackstore/result.h"
#include "trackstore/status.h"
#include "trackstore/track.h"

namespace trackstore::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;
inline constexpr int kExitInvalid = 3;

// The version of every --json line's shape. Added fields keep it; a field
// renamed or removed, or a meaning changed, bumps it (doc/cli.md).
inline constexpr int kJsonSchemaVersion = 1;

using Json = nlohmann::ordered_json;

// The flags every command takes, set while the command line is parsed.
struct GlobalFlags {
  bool json = false;    // --json: one line of JSON on stdout
  bool quiet = false;   // -q/--quiet: no timings, notes or progress on stderr
  std::string command;  // "import", "shm stat": the command being run
};
GlobalFlags& Flags();

// A command of the tool and the function that runs it once parsed.
struct Command {
  CLI::App* app = nullptr;
  std::function<int()> run;
};
using CommandTable = std::vector<Command>;

// Adds --json and -q/--quiet to `app` and registers `run` for it: the one
// way a command is added, so that no command lacks either flag.
void AddCommand(CommandTable* table, CLI::App* app, std::function<int()> run);

// "import", or "shm stat" for a command under another.
std::string CommandName(const CLI::App* app);

// The status code's name in the JSON envelope: "NotFound", "HashMismatch".
std::string_view ErrorCode(const Status& s);

// Prints {"schema_version":1,"command":<Flags().command>,"ok":true,
// <fields' members>} as one line on stdout and returns kExitOk. With
// `raw_key`, the member raw_key: raw_json (JSON text made elsewhere, kept
// byte for byte) comes last.
int PrintJsonOk(const Json& fields, std::string_view raw_key = {}, std::string_view raw_json = {});

// Prints {"schema_version":1,"command":...,"ok":false,"error":{"code":...,
// "message":...[,"hint":...]}} as one line on stdout.
void PrintJsonError(std::string_view code, std::string_view message, std::string_view hint = {});

// The exit code of a failed verification: kExitInvalid when the content
// was read and found invalid (not a snapshot, an unsupported version,
// truncated, a hash mismatch, a broken structure), else kExitFailure.
int VerifyExitCode(const Status& s);

// For `trackstore __complete WORD...` (the bash completion script): the
// commands and options that may follow `words`, one per line, commands
// first. `words` are descended as long as they name commands.
std::string CompletionWords(const CLI::App& app, const std::vector<std::string>& words);

// Informational text on stderr (timings, notes): a sink with --quiet.
std::ostream& Info();

class Stopwatch {
 public:
  Stopwatch() : start_(std::chrono::steady_clock::now()) {}
  double Seconds() const {
    return std::chrono::duration<double>(std::chrono::steady_clock::now() - start_).count();
  }

 private:
  std::chrono::steady_clock::time_point start_;
};

// "412 ms", "3.07 ms", "1.84 s": enough digits to read, no more.
std::string FormatSeconds(double seconds);

// "1 track", "3 tracks".
std::string Tracks(uint64_t n);

// "1.2 MB", "830 kB", "512 bytes" (decimal units).
std::string FormatBytes(uint64_t bytes);

// "2024-05-01T12:00:00.250000Z"
std::string FormatUtc(Micros t);

// The ids in `path` ("-": standard input): a JSON array of strings when the
// text starts with '[' (after blanks), else one id per line (a trailing
// "\r" and empty lines are dropped; other bytes are kept as they are).
Result<std::vector<std::string>> ReadIdList(const std::string& path);

// "import: 100000 tracks in 412 ms" on stderr, unless --quiet.
void ReportTime(std::string_view command, uint64_t tracks, double seconds);

// The one way --json output is serialized (`indent` as nlohmann's dump).
// Text that is not valid UTF-8 (a file name, an id, a value from a crafted
// file) cannot be JSON: each invalid byte becomes U+FFFD instead of making
// dump() throw.
std::string JsonText(const nlohmann::ordered_json& j, int indent = -1);

// The same policy for JSON text built elsewhere (AppendTrackJson): `text`
// with each byte that is not part of a well-formed UTF-8 sequence replaced
// by U+FFFD.
std::string ValidUtf8(std::string_view text);

// ResourceExhausted naming `what` when `count` items of at least
// `bytes_each` bytes cannot fit in the machine's physical memory (or the
// product overflows): refused before allocating, so that neither
// std::bad_alloc nor the OOM killer ends the command.
Status CheckFitsInMemory(std::string_view what, uint64_t count, uint64_t bytes_each);

// What `trackstore --version` prints: the library's version and the format
// versions it reads and writes, e.g.
//   "trackstore 0.1.0 (snapshot format 1, store manifest 1, shm layout 2)".
std::string VersionText();

// Prints "trackstore: <status>" on stderr, then "hint: <hint>" when there is
// one, and returns `exit_code` (kExitFailure by default). With --json, also
// the error envelope on stdout.
int Fail(const Status& s, std::string_view hint = {}, int exit_code = kExitFailure);

// A usage error found by a command itself (two flags that cannot go
// together): "trackstore: <message>" on stderr, the envelope with code
// "Usage" with --json; returns kExitUsage.
int UsageError(std::string_view message);

// ImportJsonFile(path) with a progress line named `command` while it reads.
Result<std::vector<TrackRecord>> ImportJsonWithProgress(std::string_view command,
                                                        const std::string& path);

// export_json(options), options.progress showing a line named `command`.
Status WithExportProgress(std::string_view command,
                          const std::function<Status(const JsonExportOptions&)>& export_json);

// A line about work in progress on stderr, rewritten in place ("\r") at
// most every 200 ms, only when stderr is a terminal and not --quiet; the
// line is cleared when the object goes away.
class Progress {
 public:
  explicit Progress(std::string_view command);
  ~Progress();
  Progress(const Progress&) = delete;
  Progress& operator=(const Progress&) = delete;

  bool enabled() const { return enabled_; }
  // "import: 412,000 tracks, 160 MB" (bytes left out when 0).
  void Update(uint64_t tracks, uint64_t bytes = 0);

 private:
  std::string command_;
  bool enabled_;
  bool shown_ = false;
  std::chrono::milliseconds interval_;
  std::chrono::steady_clock::time_point last_;
};

// "key: value" per present field of `t` on stdout; absent optional fields
// are left out, so an empty value means "".
void PrintTrack(const TrackView& t);

}  // namespace trackstore::cli

#endif  // TRACKSTORE_CLI_CLI_COMMON_H_
