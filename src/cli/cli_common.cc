#include "cli_common.h"

#include "trackstore/json.h"
#include "trackstore/version.h"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>
#include <streambuf>

#include <nlohmann/json.hpp>

namespace trackstore::cli {

GlobalFlags& Flags() {
  static GlobalFlags flags;
  return flags;
}

void AddCommand(CommandTable* table, CLI::App* app, std::function<int()> run) {
  app->add_flag("--json", Flags().json, "Print one line of JSON on stdout (doc/cli.md)");
  app->add_flag("-q,--quiet", Flags().quiet, "No timings, notes or progress on stderr");
  table->push_back({app, std::move(run)});
}

std::string CommandName(const CLI::App* app) {
  std::string name = app->get_name();
  for (const CLI::App* p = app->get_parent(); p != nullptr && p->get_parent() != nullptr;
       p = p->get_parent()) {
    name = p->get_name() + " " + name;
  }
  return name;
}

std::string_view ErrorCode(const Status& s) {
  switch (s.code()) {
    case Status::Code::kOk:
      return "Ok";
    case Status::Code::kNotFound:
      return "NotFound";
    case Status::Code::kNotASnapshot:
      return "NotASnapshot";
    case Status::Code::kVersionUnsupported:
      return "VersionUnsupported";
    case Status::Code::kTruncated:
      return "Truncated";
    case Status::Code::kHashMismatch:
      return "HashMismatch";
    case Status::Code::kStructureInvalid:
      return "StructureInvalid";
    case Status::Code::kInvalidArgument:
      return "InvalidArgument";
    case Status::Code::kIOError:
      return "IOError";
    case Status::Code::kResourceExhausted:
      return "ResourceExhausted";
    case Status::Code::kNotSupported:
      return "NotSupported";
    case Status::Code::kBusy:
      return "Busy";
  }
  return "Unknown";
}

namespace {

Json Envelope(bool ok) {
  return Json{{"schema_version", kJsonSchemaVersion}, {"command", Flags().command}, {"ok", ok}};
}

// Discards what is written: std::cerr's stand-in under --quiet.
class NullBuffer : public std::streambuf {
 protected:
  int overflow(int c) override { return traits_type::not_eof(c); }
};

}  // namespace

int PrintJsonOk(const Json& fields, std::string_view raw_key, std::string_view raw_json) {
  Json j = Envelope(true);
  for (const auto& [key, value] : fields.items()) j[key] = value;
  std::string text = JsonText(j);
  if (!raw_key.empty()) {
    text.pop_back();  // the closing '}'
    text += "," + JsonText(Json(raw_key)) + ":" + std::string(raw_json) + "}";
  }
  std::cout << text << "\n" << std::flush;
  return kExitOk;
}

void PrintJsonError(std::string_view code, std::string_view message, std::string_view hint) {
  Json error = {{"code", code}, {"message", message}};
  if (!hint.empty()) error["hint"] = hint;
  Json j = Envelope(false);
  j["error"] = std::move(error);
  std::cout << JsonText(j) << "\n" << std::flush;
}

int VerifyExitCode(const Status& s) {
  return s.IsCorruption() || s.IsNotASnapshot() || s.IsVersionUnsupported() ? kExitInvalid
                                                                            : kExitFailure;
}

std::string CompletionWords(const CLI::App& app, const std::vector<std::string>& words) {
  const CLI::App* at = &app;
  for (const std::string& word : words) {
    const CLI::App* next = nullptr;
    for (const CLI::App* sub : at->get_subcommands({})) {
      if (sub->get_name() == word) next = sub;
    }
    if (next != nullptr) at = next;
  }
  std::string out;
  for (const CLI::App* sub : at->get_subcommands({})) {
    if (!sub->get_group().empty()) out += sub->get_name() + "\n";
  }
  for (const CLI::Option* o : at->get_options()) {
    if (!o->nonpositional()) continue;
    for (const std::string& n : o->get_lnames()) out += "--" + n + "\n";
    for (const std::string& n : o->get_snames()) out += "-" + n + "\n";
  }
  return out;
}

std::ostream& Info() {
  static NullBuffer null_buffer;
  static std::ostream null_stream(&null_buffer);
  return Flags().quiet ? null_stream : std::cerr;
}

std::string VersionText() {
  const LibraryVersionInfo& v = LibraryVersion();
  return std::string("trackstore ") + v.string + " (snapshot format " +
         std::to_string(v.snapshot_format) + ", store manifest " +
         std::to_string(v.manifest_format) + ", shm layout " + std::to_string(v.shm_layout) + ")";
}

std::string FormatSeconds(double s) {
  char buf[32];
  if (s >= 10) {
    std::snprintf(buf, sizeof(buf), "%.1f s", s);
  } else if (s >= 0.01) {
    std::snprintf(buf, sizeof(buf), "%.0f ms", s * 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%.2f ms", s * 1e3);
  }
  return buf;
}

std::string Tracks(uint64_t n) { return std::to_string(n) + (n == 1 ? " track" : " tracks"); }

std::string FormatBytes(uint64_t bytes) {
  char buf[32];
  if (bytes >= 1000 * 1000 * 1000) {
    std::snprintf(buf, sizeof(buf), "%.2f GB", bytes / 1e9);
  } else if (bytes >= 1000 * 1000) {
    std::snprintf(buf, sizeof(buf), "%.1f MB", bytes / 1e6);
  } else if (bytes >= 1000) {
    std::snprintf(buf, sizeof(buf), "%.1f kB", bytes / 1e3);
  } else {
    std::snprintf(buf, sizeof(buf), "%llu bytes", static_cast<unsigned long long>(bytes));
  }
  return buf;
}

std::string FormatUtc(Micros t) {
  const Micros secs = t / kMicrosPerSecond - (t % kMicrosPerSecond < 0 ? 1 : 0);
  const Micros frac = t - secs * kMicrosPerSecond;
  const time_t tt = static_cast<time_t>(secs);
  tm parts{};
  char date[32] = "?";
  if (gmtime_r(&tt, &parts) != nullptr) strftime(date, sizeof(date), "%Y-%m-%dT%H:%M:%S", &parts);
  char out[64];
  std::snprintf(out, sizeof(out), "%s.%06lldZ", date, static_cast<long long>(frac));
  return out;
}

Result<std::vector<std::string>> ReadIdList(const std::string& path) {
  std::string text;
  if (path == "-") {
    text.assign(std::istreambuf_iterator<char>(std::cin), std::istreambuf_iterator<char>());
  } else {
    std::ifstream in(path, std::ios::binary);
    if (!in) return Status::NotFound(path, "cannot open");
    text.assign(std::istreambuf_iterator<char>(in), std::istreambuf_iterator<char>());
  }
  const std::string source = path == "-" ? "<stdin>" : path;
  std::vector<std::string> ids;
  const size_t first = text.find_first_not_of(" \t\r\n");
  if (first != std::string::npos && text[first] == '[') {
    const nlohmann::json j = nlohmann::json::parse(text, nullptr, /*allow_exceptions=*/false);
    if (j.is_discarded() || !j.is_array()) {
      return Status::InvalidArgument(source, "expected a JSON array of id strings");
    }
    for (const nlohmann::json& id : j) {
      if (!id.is_string()) {
        return Status::InvalidArgument(source, "expected a JSON array of id strings");
      }
      ids.push_back(id.get<std::string>());
    }
    return ids;
  }
  size_t start = 0;
  while (start < text.size()) {
    size_t end = text.find('\n', start);
    if (end == std::string::npos) end = text.size();
    std::string_view line(text.data() + start, end - start);
    if (!line.empty() && line.back() == '\r') line.remove_suffix(1);
    if (!line.empty()) ids.emplace_back(line);
    start = end + 1;
  }
  return ids;
}

void ReportTime(std::string_view command, uint64_t tracks, double seconds) {
  Info() << command << ": " << Tracks(tracks) << " in " << FormatSeconds(seconds) << "\n";
}

std::string JsonText(const nlohmann::ordered_json& j, int indent) {
  return j.dump(indent, ' ', /*ensure_ascii=*/false, nlohmann::json::error_handler_t::replace);
}

std::string ValidUtf8(std::string_view text) { return ReplaceInvalidUtf8(text); }

Status CheckFitsInMemory(std::string_view what, uint64_t count, uint64_t bytes_each) {
  const long pages = ::sysconf(_SC_PHYS_PAGES);
  const long page_size = ::sysconf(_SC_PAGESIZE);
  if (pages <= 0 || page_size <= 0) return Status::OK();  // unknown: let the allocator decide
  const uint64_t memory = static_cast<uint64_t>(pages) * static_cast<uint64_t>(page_size);
  uint64_t needed = 0;
  const bool overflow = __builtin_mul_overflow(count, bytes_each, &needed);
  if (!overflow && needed <= memory) return Status::OK();
  return Status::ResourceExhausted(
      what, "needs more than " + (overflow ? std::string("2^64") : std::to_string(needed)) +
                " bytes of memory; this machine has " + std::to_string(memory));
}

int Fail(const Status& s, std::string_view hint, int exit_code) {
  std::cerr << "trackstore: " << s.ToString() << "\n";
  if (!hint.empty()) std::cerr << "hint: " << hint << "\n";
  if (Flags().json) PrintJsonError(ErrorCode(s), s.message(), hint);
  return exit_code;
}

int UsageError(std::string_view message) {
  std::cerr << "trackstore: " << message << "\n";
  if (Flags().json) PrintJsonError("Usage", message);
  return kExitUsage;
}

namespace {

// How often the progress line is rewritten; TRACKSTORE_PROGRESS_MS changes
// it (0: at every update, which tests use to see a line however fast).
std::chrono::milliseconds ProgressInterval() {
  const char* env = std::getenv("TRACKSTORE_PROGRESS_MS");
  if (env != nullptr && *env != '\0') {
    char* end = nullptr;
    const long ms = std::strtol(env, &end, 10);
    if (*end == '\0' && ms >= 0) return std::chrono::milliseconds(ms);
  }
  return std::chrono::milliseconds(200);
}

// "412,000"
std::string Grouped(uint64_t n) {
  std::string digits = std::to_string(n);
  std::string out;
  for (size_t i = 0; i < digits.size(); ++i) {
    if (i > 0 && (digits.size() - i) % 3 == 0) out += ',';
    out += digits[i];
  }
  return out;
}

}  // namespace

Progress::Progress(std::string_view command)
    : command_(command),
      enabled_(!Flags().quiet && ::isatty(STDERR_FILENO) == 1),
      interval_(enabled_ ? ProgressInterval() : std::chrono::milliseconds(0)),
      last_(std::chrono::steady_clock::now()) {}

Progress::~Progress() {
  // The line is cleared, so that the summary that follows starts clean.
  if (shown_) std::cerr << "\r\033[K" << std::flush;
}

void Progress::Update(uint64_t tracks, uint64_t bytes) {
  if (!enabled_) return;
  const auto now = std::chrono::steady_clock::now();
  if (now - last_ < interval_) return;
  last_ = now;
  std::string line = command_ + ": " + Grouped(tracks) + (tracks == 1 ? " track" : " tracks");
  if (bytes > 0) line += ", " + FormatBytes(bytes);
  std::cerr << "\r\033[K" << line << std::flush;
  shown_ = true;
}

Result<std::vector<TrackRecord>> ImportJsonWithProgress(std::string_view command,
                                                        const std::string& path) {
  Progress progress(command);
  JsonImportOptions options;
  if (progress.enabled()) {
    options.progress = [&](uint64_t records, uint64_t bytes) { progress.Update(records, bytes); };
  }
  return ImportJsonFile(path, options);
}

Status WithExportProgress(std::string_view command,
                          const std::function<Status(const JsonExportOptions&)>& export_json) {
  Progress progress(command);
  JsonExportOptions options;
  if (progress.enabled()) {
    options.progress = [&](uint64_t tracks, uint64_t bytes) { progress.Update(tracks, bytes); };
  }
  return export_json(options);
}

void PrintTrack(const TrackView& t) {
  for (int f = 0; f < kStringFieldCount; ++f) {
    std::optional<std::string_view> value = t.string_field(f);
    if (value) std::cout << FieldName(static_cast<Field>(f)) << ": " << *value << "\n";
  }
  if (std::optional<int64_t> pos = t.original_pos()) {
    std::cout << FieldName(Field::kOriginalPos) << ": " << *pos << "\n";
  }
  if (!t.extras_json().empty()) {
    std::cout << FieldName(Field::kExtras) << ": " << t.extras_json() << "\n";
  }
}

}  // namespace trackstore::cli
