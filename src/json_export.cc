// JSON export (include/trackstore/json.h).
#include <simdjson.h>
#include <unistd.h>

#include <charconv>
#include <new>
#include <optional>
#include <string>
#include <vector>

#include "file_util.h"
#include "json_text.h"
#include "trackstore/env.h"
#include "trackstore/json.h"
#include "trackstore/store.h"

namespace trackstore {

namespace {

using json_text::AppendJsonString;

// The accessors that differ between TrackRecord and TrackView, so that one
// AppendTrack serves both.
std::optional<std::string_view> StringValue(const TrackRecord& t, int i) {
  const std::string* s = t.StringField(i);
  if (s == nullptr) return std::nullopt;
  return std::string_view(*s);
}
std::optional<std::string_view> StringValue(const TrackView& t, int i) { return t.string_field(i); }
std::optional<int64_t> OriginalPos(const TrackRecord& t) { return t.original_pos; }
std::optional<int64_t> OriginalPos(const TrackView& t) { return t.original_pos(); }
std::string_view Extras(const TrackRecord& t) { return t.extras_json; }
std::string_view Extras(const TrackView& t) { return t.extras_json(); }

void AppendKey(Field field, std::string* out) {
  out->push_back('"');
  out->append(FieldName(field));
  out->append("\":");
}

template <typename Track>
void AppendTrack(const Track& t, std::string* out) {
  out->push_back('{');
  for (int i = 0; i < kStringFieldCount; ++i) {
    std::optional<std::string_view> v = StringValue(t, i);
    if (!v) continue;
    if (i > 0) out->push_back(',');  // id, always present, comes first
    AppendKey(static_cast<Field>(i), out);
    AppendJsonString(*v, out);
  }
  if (std::optional<int64_t> pos = OriginalPos(t)) {
    char digits[24];
    const auto result = std::to_chars(digits, digits + sizeof(digits), *pos);
    out->push_back(',');
    AppendKey(Field::kOriginalPos, out);
    out->append(digits, result.ptr);
  }
  // The members of the extras object, between its braces, follow the fields.
  const std::string_view extras = Extras(t);
  const size_t open = extras.find('{');
  const size_t close = extras.rfind('}');
  if (open != std::string_view::npos && close != std::string_view::npos && close > open) {
    std::string_view members = extras.substr(open + 1, close - open - 1);
    const size_t first = members.find_first_not_of(" \t\r\n");
    if (first != std::string_view::npos) {
      out->push_back(',');
      out->append(members.substr(first));
    }
  }
  out->push_back('}');
}

// The error for a track whose text is not UTF-8: names the first bad field.
template <typename Track>
Status InvalidUtf8Error(const std::string& path, uint64_t index, const Track& t) {
  std::string where = "extras";
  for (int i = 0; i < kStringFieldCount; ++i) {
    std::optional<std::string_view> v = StringValue(t, i);
    if (v && !simdjson::validate_utf8(v->data(), v->size())) {
      where = "field '" + std::string(FieldName(static_cast<Field>(i))) + "'";
      break;
    }
  }
  return Status::InvalidArgument(path, "record " + std::to_string(index) + ": " + where +
                                           ": invalid UTF-8, which JSON cannot hold");
}

// Writes "[\n{...},\n{...}\n]\n" (or "[]\n") from the `count` tracks of
// `tracks`, anything iterable in library order (a Snapshot, a Version, a
// span of records). The text is built in chunks of a few MiB and written as
// pieces, so that a large library is never copied to grow one buffer.
template <typename Tracks>
Status WriteTracks(uint64_t count, const Tracks& tracks, const std::string& path) try {
  constexpr size_t kChunkBytes = size_t{4} << 20;
  std::vector<std::string> chunks(1);
  chunks.back().reserve(kChunkBytes + (kChunkBytes >> 2));
  chunks.back().append(count == 0 ? "[]\n" : "[\n");
  uint64_t i = 0;
  for (const auto& track : tracks) {
    std::string* out = &chunks.back();
    const size_t start = out->size();
    AppendTrack(track, out);
    // Escaping leaves bytes >= 0x80 alone, so this checks the strings. A file
    // with invalid UTF-8 would not import again: refuse to write it.
    if (!simdjson::validate_utf8(out->data() + start, out->size() - start)) {
      return InvalidUtf8Error(path, i, track);
    }
    ++i;
    out->append(i < count ? ",\n" : "\n]\n");
    if (out->size() >= kChunkBytes && i < count) {
      chunks.emplace_back().reserve(kChunkBytes + (kChunkBytes >> 2));
    }
  }
  if (i != count) return Status::StructureInvalid(path, "track count differs from the tracks");
  std::vector<ConstBytes> pieces;
  pieces.reserve(chunks.size());
  for (const std::string& c : chunks) pieces.push_back({c.data(), c.size()});
  if (path == "-") return internal::WriteAll(STDOUT_FILENO, "<stdout>", pieces);
  return WriteFileAtomically(nullptr, path, pieces, /*sync=*/true);
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(path, "out of memory");
}

}  // namespace

void AppendTrackJson(const TrackView& track, std::string* out) { AppendTrack(track, out); }
void AppendTrackJson(const TrackRecord& track, std::string* out) { AppendTrack(track, out); }

Status ExportJsonFile(const Snapshot& snapshot, const std::string& path) {
  return WriteTracks(snapshot.size(), snapshot, path);
}

Status ExportJsonFile(const Version& version, const std::string& path) {
  return WriteTracks(version.size(), version, path);
}

Status WriteJsonFile(std::span<const TrackRecord> tracks, const std::string& path) {
  return WriteTracks(tracks.size(), tracks, path);
}

}  // namespace trackstore
