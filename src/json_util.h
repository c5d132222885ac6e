// Internal: the few nlohmann::json helpers the service's small JSON files
// (metadata.json, delta_state.json) need, with nlohmann's exceptions stopped
// here so that callers see Status values.
#ifndef TRACKSTORE_SRC_JSON_UTIL_H_
#define TRACKSTORE_SRC_JSON_UTIL_H_

#include <cstdint>
#include <limits>
#include <optional>
#include <string>
#include <string_view>

#include <nlohmann/json.hpp>

#include "trackstore/result.h"

namespace trackstore::internal {

using Json = nlohmann::ordered_json;

// Parses `text` as a JSON object; InvalidArgument naming `source` otherwise.
inline Result<Json> ParseJsonObject(std::string_view text, std::string_view source) {
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return Status::InvalidArgument(source, "not valid JSON");
  if (!j.is_object()) return Status::InvalidArgument(source, "not a JSON object");
  return j;
}

// The integer member `key` if present and representable as int64.
inline std::optional<int64_t> GetInt64(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end()) return std::nullopt;
  if (it->is_number_unsigned()) {
    const uint64_t u = it->get<uint64_t>();
    if (u > static_cast<uint64_t>(std::numeric_limits<int64_t>::max())) return std::nullopt;
    return static_cast<int64_t>(u);
  }
  if (it->is_number_integer()) return it->get<int64_t>();
  return std::nullopt;
}

// The string member `key` if present and a string.
inline std::optional<std::string> GetString(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_string()) return std::nullopt;
  return it->get<std::string>();
}

// Serializes `j`, two-space indented with a final newline. dump() throws
// on a string that is not valid UTF-8; that becomes InvalidArgument.
inline Result<std::string> DumpJson(const Json& j, std::string_view what) {
  try {
    return j.dump(2) + "\n";
  } catch (const nlohmann::json::exception& e) {
    return Status::InvalidArgument(what, e.what());
  }
}

inline Status MissingField(std::string_view source, std::string_view field) {
  return Status::InvalidArgument(source,
                                 "field '" + std::string(field) + "' missing or of the wrong type");
}

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_JSON_UTIL_H_
