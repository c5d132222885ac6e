// src/cli/cli_common.h: what every subcommand of the `trackstore` tool
// shares: exit codes, timing on stderr, and error reporting.
//
// Exit codes: 0 success, 1 the operation failed (the Status is printed),
// 2 usage error (reported by CLI11 before any work starts). Timings go to
// stderr so that stdout stays clean for --json consumers.
#ifndef TRACKSTORE_CLI_CLI_COMMON_H_
#define TRACKSTORE_CLI_CLI_COMMON_H_

#include <chrono>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include <nlohmann/json.hpp>

#include "trackstore/clock.h"
#include "trackstore/result.h"
#include "trackstore/status.h"
#include "trackstore/track.h"

namespace trackstore::cli {

inline constexpr int kExitOk = 0;
inline constexpr int kExitFailure = 1;
inline constexpr int kExitUsage = 2;

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

// "import: 100000 tracks in 412 ms" on stderr.
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
// one, and returns kExitFailure. With `json`, also
// {"error": "<code name>", "message": "..."} on stdout.
int Fail(const Status& s, bool json = false, std::string_view hint = {});

// "key: value" per present field of `t` on stdout; absent optional fields
// are left out, so an empty value means "".
void PrintTrack(const TrackView& t);

}  // namespace trackstore::cli

#endif  // TRACKSTORE_CLI_CLI_COMMON_H_
