// JSON export (include/trackstore/json.h).
#include <simdjson.h>
#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <charconv>
#include <memory>
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

bool WantsGzip(const std::string& path, const JsonExportOptions& options) {
  switch (options.compression) {
    case JsonCompression::kNone:
      return false;
    case JsonCompression::kGzip:
      return true;
    case JsonCompression::kByName:
      break;
  }
  return path.ends_with(".gz");
}

// Where the text of an export goes: standard output, or a file published
// when complete; deflated on the way for gzip.
class ExportSink {
 public:
  explicit ExportSink(const std::string& path) : path_(path) {}
  ~ExportSink() {
    if (gzip_) deflateEnd(&z_);
  }
  ExportSink(const ExportSink&) = delete;
  ExportSink& operator=(const ExportSink&) = delete;

  Status Open(const JsonExportOptions& options) {
    if (WantsGzip(path_, options)) {
      if (options.gzip_level < -1 || options.gzip_level > 9) {
        return Status::InvalidArgument(
            path_, "gzip level " + std::to_string(options.gzip_level) + " is not -1 or 0 to 9");
      }
      // 15 + 16: the largest window, with a gzip header and trailer.
      const int rc =
          deflateInit2(&z_, options.gzip_level, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY);
      if (rc == Z_MEM_ERROR) return Status::ResourceExhausted(path_, "out of memory for zlib");
      if (rc != Z_OK) return Status::InvalidArgument(path_, "zlib refused its parameters");
      gzip_ = true;
      deflated_.resize(std::min(options.buffer_bytes, kMaxDeflatedBytes) + 1);
      ResetOutput();
    }
    if (path_ == "-") return Status::OK();
    return AtomicOutputFile::Open(options.env, path_, options.sync, &file_);
  }

  // Writes (or deflates) the next piece of the text.
  Status Write(std::string_view text) {
    if (!gzip_) return Emit(text.data(), text.size());
    return Deflate(text, Z_NO_FLUSH);
  }

  // Ends the gzip stream and publishes the file.
  Status Finish() {
    if (gzip_) {
      if (Status s = Deflate({}, Z_FINISH); !s.ok()) return s;
    }
    return file_ != nullptr ? file_->Commit() : Status::OK();
  }

 private:
  // The compressed text is a few times smaller: a smaller buffer for it.
  static constexpr size_t kMaxDeflatedBytes = size_t{1} << 20;

  Status Emit(const void* data, size_t size) {
    if (size == 0) return Status::OK();
    if (file_ != nullptr) return file_->Append(data, size);
    const ConstBytes piece{data, size};
    return internal::WriteAll(STDOUT_FILENO, "<stdout>", std::span<const ConstBytes>(&piece, 1));
  }

  // Feeds `text` to zlib; its output fills deflated_, which is written out
  // each time it is full, and at the end of the stream (Z_FINISH). zlib
  // counts in uInt, so a huge piece is fed in parts.
  Status Deflate(std::string_view text, int flush) {
    constexpr size_t kMaxIn = size_t{1} << 30;
    do {
      const size_t in = std::min(text.size(), kMaxIn);
      const int mode = in == text.size() ? flush : Z_NO_FLUSH;
      z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
      z_.avail_in = static_cast<uInt>(in);
      text.remove_prefix(in);
      int rc = Z_OK;
      while (true) {
        rc = deflate(&z_, mode);
        if (rc == Z_STREAM_ERROR) return Status::IOError(path_, "zlib deflate failed");
        const bool end = mode == Z_FINISH && rc == Z_STREAM_END;
        if (z_.avail_out == 0 || end) {
          if (Status s = Emit(deflated_.data(), deflated_.size() - z_.avail_out); !s.ok()) {
            return s;
          }
          ResetOutput();
        }
        if (end) break;
        if (mode != Z_FINISH && z_.avail_in == 0 && z_.avail_out > 0) break;
        if (mode == Z_FINISH && rc == Z_BUF_ERROR && z_.avail_out > 0) {
          return Status::IOError(path_, "zlib could not end the stream");  // never expected
        }
      }
    } while (!text.empty());
    return Status::OK();
  }

  void ResetOutput() {
    z_.next_out = reinterpret_cast<Bytef*>(deflated_.data());
    z_.avail_out = static_cast<uInt>(deflated_.size());
  }

  const std::string& path_;
  std::unique_ptr<AtomicOutputFile> file_;  // null for standard output
  bool gzip_ = false;
  z_stream z_ = {};
  std::string deflated_;  // zlib's output, written out when full
};

// Writes "[\n{...},\n{...}\n]\n" (or "[]\n") from the `count` tracks of
// `tracks`, anything iterable in library order (a Snapshot, a Version, a
// span of records). The text is made in one buffer of about
// options.buffer_bytes, written out (or deflated) each time it fills.
template <typename Tracks>
Status WriteTracks(uint64_t count, const Tracks& tracks, const std::string& path,
                   const JsonExportOptions& options) try {
  ExportSink sink(path);
  if (Status s = sink.Open(options); !s.ok()) return s;
  const size_t buffer_bytes = std::max<size_t>(options.buffer_bytes, 1);
  std::string text;
  const size_t reserve = std::min(buffer_bytes, size_t{1} << 30);  // a huge bound is no reason
  text.reserve(reserve + (reserve >> 2));
  text.append(count == 0 ? "[]\n" : "[\n");
  uint64_t i = 0;
  uint64_t written = 0;  // bytes of text, for options.progress
  for (const auto& track : tracks) {
    const size_t start = text.size();
    AppendTrack(track, &text);
    // Escaping leaves bytes >= 0x80 alone, so this checks the strings. A file
    // with invalid UTF-8 would not import again: refuse to write it (the
    // sink's destructor removes what was written so far).
    if (!simdjson::validate_utf8(text.data() + start, text.size() - start)) {
      return InvalidUtf8Error(path, i, track);
    }
    ++i;
    text.append(i < count ? ",\n" : "\n]\n");
    if (text.size() >= buffer_bytes) {
      if (Status s = sink.Write(text); !s.ok()) return s;
      written += text.size();
      text.clear();
      if (options.progress) options.progress(i, written);
    }
  }
  if (i != count) return Status::StructureInvalid(path, "track count differs from the tracks");
  if (Status s = sink.Write(text); !s.ok()) return s;
  // (Unless the last piece was written in the loop, with these counts.)
  if (options.progress && !text.empty()) options.progress(i, written + text.size());
  return sink.Finish();
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(path, "out of memory");
}

}  // namespace

void AppendTrackJson(const TrackView& track, std::string* out) { AppendTrack(track, out); }
void AppendTrackJson(const TrackRecord& track, std::string* out) { AppendTrack(track, out); }

Status ExportJsonFile(const Snapshot& snapshot, const std::string& path,
                      const JsonExportOptions& options) {
  return WriteTracks(snapshot.size(), snapshot, path, options);
}

Status ExportJsonFile(const Version& version, const std::string& path,
                      const JsonExportOptions& options) {
  return WriteTracks(version.size(), version, path, options);
}

Status WriteJsonFile(std::span<const TrackRecord> tracks, const std::string& path,
                     const JsonExportOptions& options) {
  return WriteTracks(tracks.size(), tracks, path, options);
}

}  // namespace trackstore
