#include "cli_common.h"

#include "trackstore/json.h"
#include "trackstore/version.h"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>

#include <nlohmann/json.hpp>

namespace trackstore::cli {

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
  std::cerr << command << ": " << Tracks(tracks) << " in " << FormatSeconds(seconds) << "\n";
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

int Fail(const Status& s, bool json, std::string_view hint) {
  std::cerr << "trackstore: " << s.ToString() << "\n";
  if (!hint.empty()) std::cerr << "hint: " << hint << "\n";
  if (json) {
    nlohmann::ordered_json j = {{"error", Status::CodeName(s.code())}, {"message", s.message()}};
    std::cout << JsonText(j) << "\n";
  }
  return kExitFailure;
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
