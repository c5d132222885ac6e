#include "cli_common.h"

#include <time.h>
#include <unistd.h>

#include <cstdio>
#include <fstream>
#include <iostream>
#include <iterator>
#include <optional>

#include <nlohmann/json.hpp>

namespace trackstore::cli {

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

namespace {

// Length of the well-formed UTF-8 sequence at s[i] (Unicode Table 3-7), or
// 0 when the byte there does not start one.
size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned c = byte(i);
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;  // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - i < len || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return len;
}

}  // namespace

std::string ValidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t len = Utf8SequenceLength(text, i);
    if (len == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

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
