// JSON import over any bytes: ParseTracksJson from memory and, for input
// that starts with the gzip magic, ImportJsonFile through a temporary file
// (the gzip path only reads files).
//
// Import reads its input in windows cut at likely record boundaries: the
// same bytes are also read in windows of 16 to 271 bytes (chosen by the
// input's first byte), which must give the same records, or fail too.
//
// When the input parses, checks the documented round trip: exporting the
// records and importing them again gives the same records. Then encodes
// them as a snapshot (keeping the last of repeated ids) and opens it.
#include <fcntl.h>
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "json_input.h"
#include "json_records.h"
#include "trackstore/json.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore {
namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void RoundTrip(const std::vector<TrackRecord>& tracks) {
  std::string json = "[";
  for (size_t i = 0; i < tracks.size(); ++i) {
    if (i > 0) json += ",";
    AppendTrackJson(tracks[i], &json);
  }
  json += "]";
  Result<std::vector<TrackRecord>> again = ParseTracksJson(json, "round trip");
  Check(again.ok());
  Check(again->size() == tracks.size());
  for (size_t i = 0; i < tracks.size(); ++i) {
    TrackRecord want = tracks[i];
    if (want.extras_json == "{}") want.extras_json.clear();  // documented: "{}" reads back as ""
    Check((*again)[i] == want);
  }

  WriteOptions options;
  options.duplicates = DuplicatePolicy::kKeepLast;
  options.drop_empty_ids = true;
  SnapshotWriter writer;
  std::string image;
  if (!writer.Encode(tracks, &image, options).ok()) return;
  std::vector<uint64_t> aligned(image.size() / 8 + 1);
  std::memcpy(aligned.data(), image.data(), image.size());
  Result<Snapshot> snap = Snapshot::FromBuffer(aligned.data(), image.size(), "encoded");
  Check(snap.ok());
}

// A temporary file for the gzip path, made once per process.
const std::string& TempPath() {
  static const std::string path = [] {
    const char* dir = std::getenv("TMPDIR");
    std::string p = std::string(dir != nullptr ? dir : "/tmp") + "/json_import_fuzzer.XXXXXX";
    const int fd = ::mkstemp(p.data());
    if (fd >= 0) ::close(fd);
    std::atexit([] { ::unlink(TempPath().c_str()); });
    return p;
  }();
  return path;
}

void ImportGzip(const uint8_t* data, size_t size) {
  const int fd = ::open(TempPath().c_str(), O_WRONLY | O_TRUNC | O_CLOEXEC);
  if (fd < 0) return;
  const bool written = ::write(fd, data, size) == static_cast<ssize_t>(size);
  ::close(fd);
  if (!written) return;
  JsonImportOptions options;
  options.max_decompressed_bytes = 1 << 20;  // a bomb stops here, not at 4 GiB
  Result<std::vector<TrackRecord>> tracks = ImportJsonFile(TempPath(), options);
  if (tracks.ok()) RoundTrip(*tracks);
}

// Collects the records, as ParseTracksJson does.
class Collect : public internal::JsonRecordSink {
 public:
  Status Add(const internal::JsonRecord& r) override {
    TrackRecord& t = tracks.emplace_back();
    for (int i = 0; i < kStringFieldCount; ++i) {
      if (r.strings[i]) t.SetStringField(i, std::string(*r.strings[i]));
    }
    t.original_pos = r.original_pos;
    t.extras_json = r.extras_json;
    return Status::OK();
  }
  std::vector<TrackRecord> tracks;
};

void CompareWithTinyWindows(std::string_view json, const Result<std::vector<TrackRecord>>& whole) {
  internal::JsonWindows windows;
  windows.window_bytes = 16 + (json.empty() ? 0 : static_cast<uint8_t>(json[0]));
  windows.max_record_bytes = 1 << 20;
  std::unique_ptr<internal::JsonInput> input = internal::JsonInput::FromMemory(json, "fuzz");
  Collect tiny;
  const Status s = internal::ReadJsonRecords(input.get(), &tiny, windows);
  Check(s.ok() == whole.ok());
  if (s.ok()) Check(tiny.tracks == *whole);
}

}  // namespace
}  // namespace trackstore

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  trackstore::Result<std::vector<trackstore::TrackRecord>> tracks =
      trackstore::ParseTracksJson(json, "fuzz");
  // Inputs that start with the gzip magic are inflated first by both.
  if (size < 2 || data[0] != 0x1f || data[1] != 0x8b) {
    trackstore::CompareWithTinyWindows(json, tracks);
  }
  if (tracks.ok()) trackstore::RoundTrip(*tracks);
  if (size >= 2 && data[0] == 0x1f && data[1] == 0x8b) trackstore::ImportGzip(data, size);
  return 0;
}
