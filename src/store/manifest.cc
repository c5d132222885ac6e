// Manifest text: a JSON object, then "checksum <hex>\n".
//   {"trackstore_manifest": 1, "version": 7, "parent": 6, "created": <micros>,
//    "operation": "commit", "track_count": 1000, "content_hash": "<32 hex>",
//    "fragments": [{"name": "<32 hex>", "kind": "base", "rows": 990, "bytes": 323000}, ...],
//    "service": {"format_version": 1, "last_full_scan": <micros>, "library_mtime": <micros>,
//                "last_force_scan": <micros>},          (optional; force scan optional)
//    "delta_state": "<32 hex>"}                         (optional)
#include "store/manifest.h"

#include <xxhash.h>

#include <cinttypes>
#include <cstdio>

#include "json_util.h"

namespace trackstore::store {

using internal::Json;

namespace {

constexpr std::string_view kChecksumPrefix = "checksum ";

std::string Hex64(uint64_t v) {
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

std::optional<uint64_t> GetUint64(const Json& j, const char* key) {
  auto it = j.find(key);
  if (it == j.end() || !it->is_number_unsigned()) return std::nullopt;
  return it->get<uint64_t>();
}

}  // namespace

bool IsHashName(std::string_view name) {
  if (name.size() != 32) return false;
  for (char c : name) {
    if (!((c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'))) return false;
  }
  return true;
}

std::string ManifestFileName(uint64_t number) {
  char buf[40];
  std::snprintf(buf, sizeof(buf), "%020" PRIu64 ".manifest", number);
  return buf;
}

std::optional<uint64_t> ParseManifestFileName(std::string_view name) {
  constexpr std::string_view kSuffix = ".manifest";
  if (name.size() != 20 + kSuffix.size() || !name.ends_with(kSuffix)) return std::nullopt;
  uint64_t n = 0;
  for (char c : name.substr(0, 20)) {
    if (c < '0' || c > '9') return std::nullopt;
    if (__builtin_mul_overflow(n, 10, &n) || __builtin_add_overflow(n, c - '0', &n)) {
      return std::nullopt;
    }
  }
  return n;
}

std::string EncodeManifest(const VersionInfo& info) {
  Json fragments = Json::array();
  for (const FragmentInfo& f : info.fragments) {
    fragments.push_back({{"name", f.name},
                         {"kind", f.delta ? "delta" : "base"},
                         {"rows", f.rows},
                         {"bytes", f.bytes}});
  }
  Json j = {{"trackstore_manifest", kManifestFormat},
            {"version", info.number},
            {"parent", info.parent},
            {"created", info.created},
            {"operation", info.operation},
            {"track_count", info.track_count},
            {"content_hash", info.content_hash},
            {"fragments", std::move(fragments)}};
  if (info.service) {
    Json s = {{"format_version", info.service->format_version},
              {"last_full_scan", info.service->last_full_scan},
              {"library_mtime", info.service->library_mtime}};
    if (info.service->last_force_scan) s["last_force_scan"] = *info.service->last_force_scan;
    j["service"] = std::move(s);
  }
  if (!info.delta_state.empty()) j["delta_state"] = info.delta_state;
  // Every string here is ASCII (hex names, operation words), so dump cannot
  // meet invalid UTF-8.
  std::string text = j.dump(1) + "\n";
  text += std::string(kChecksumPrefix) + Hex64(XXH3_64bits(text.data(), text.size())) + "\n";
  return text;
}

Status DecodeManifest(std::string_view text, std::string_view name, VersionInfo* info) {
  auto bad = [&](std::string_view detail) { return Status::StructureInvalid(name, detail); };
  // The checksum line is the last one: "checksum <16 hex>\n".
  constexpr size_t kLine = kChecksumPrefix.size() + 16 + 1;
  if (text.size() < kLine || text.back() != '\n' ||
      text.substr(text.size() - kLine, kChecksumPrefix.size()) != kChecksumPrefix) {
    return bad("no checksum line (damaged or not a manifest)");
  }
  const std::string_view body = text.substr(0, text.size() - kLine);
  const std::string_view stored = text.substr(text.size() - 17, 16);
  if (stored != Hex64(XXH3_64bits(body.data(), body.size()))) {
    return bad("manifest checksum mismatch (damaged)");
  }
  Result<Json> parsed = internal::ParseJsonObject(body, name);
  if (!parsed.ok()) return bad("not a JSON object");
  const Json& j = *parsed;
  std::optional<int64_t> format = internal::GetInt64(j, "trackstore_manifest");
  if (!format) return bad("no 'trackstore_manifest' field");
  if (*format != kManifestFormat) {
    return Status::VersionUnsupported(name, "manifest format " + std::to_string(*format) +
                                                ", this build reads " +
                                                std::to_string(kManifestFormat));
  }
  VersionInfo v;
  std::optional<uint64_t> number = GetUint64(j, "version"), parent = GetUint64(j, "parent"),
                          count = GetUint64(j, "track_count");
  std::optional<int64_t> created = internal::GetInt64(j, "created");
  std::optional<std::string> operation = internal::GetString(j, "operation"),
                             hash = internal::GetString(j, "content_hash");
  if (!number || !parent || !count || !created || !operation || !hash || !IsHashName(*hash)) {
    return bad("a required field is missing or mistyped");
  }
  v.number = *number;
  v.parent = *parent;
  v.track_count = *count;
  v.created = *created;
  v.operation = std::move(*operation);
  v.content_hash = std::move(*hash);
  auto frags = j.find("fragments");
  if (frags == j.end() || !frags->is_array()) return bad("no fragment list");
  bool deltas_started = false;
  for (const Json& f : *frags) {
    if (!f.is_object()) return bad("a fragment entry is not an object");
    FragmentInfo fi;
    std::optional<std::string> fname = internal::GetString(f, "name"),
                               kind = internal::GetString(f, "kind");
    std::optional<uint64_t> rows = GetUint64(f, "rows"), bytes = GetUint64(f, "bytes");
    if (!fname || !IsHashName(*fname) || !kind || (*kind != "base" && *kind != "delta") || !rows ||
        !bytes) {
      return bad("a fragment entry is incomplete");
    }
    fi.name = std::move(*fname);
    fi.delta = *kind == "delta";
    // Base fragments first, then deltas: the order reads resolve in.
    if (deltas_started && !fi.delta) return bad("a base fragment follows a delta fragment");
    deltas_started |= fi.delta;
    fi.rows = *rows;
    fi.bytes = *bytes;
    v.fragments.push_back(std::move(fi));
  }
  if (auto s = j.find("service"); s != j.end()) {
    if (!s->is_object()) return bad("'service' is not an object");
    std::optional<int64_t> format = internal::GetInt64(*s, "format_version"),
                           scan = internal::GetInt64(*s, "last_full_scan"),
                           mtime = internal::GetInt64(*s, "library_mtime");
    if (!format || !scan || !mtime) return bad("'service' is incomplete");
    ServiceMetadata m{*format, *scan, *mtime, std::nullopt};
    if (s->contains("last_force_scan")) {
      m.last_force_scan = internal::GetInt64(*s, "last_force_scan");
      if (!m.last_force_scan) return bad("'last_force_scan' is not an integer");
    }
    v.service = m;
  }
  if (j.contains("delta_state")) {
    std::optional<std::string> state = internal::GetString(j, "delta_state");
    if (!state || !IsHashName(*state)) return bad("'delta_state' is not a state name");
    v.delta_state = std::move(*state);
  }
  *info = std::move(v);
  return Status::OK();
}

}  // namespace trackstore::store
