#include "cli_common.h"

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

int Fail(const Status& s, bool json, std::string_view hint) {
  std::cerr << "trackstore: " << s.ToString() << "\n";
  if (!hint.empty()) std::cerr << "hint: " << hint << "\n";
  if (json) {
    nlohmann::ordered_json j = {{"error", Status::CodeName(s.code())}, {"message", s.message()}};
    std::cout << j.dump() << "\n";
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
