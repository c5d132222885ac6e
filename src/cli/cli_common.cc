#include "cli_common.h"

#include <unistd.h>

#include <cstdio>
#include <iostream>
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
