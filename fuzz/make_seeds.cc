// Writes the generated seed corpora of the fuzzers: snapshots, JSON exports
// and the service's JSON files written by the library itself, and the
// header of a real shared-memory segment. Hand-made seeds (error cases,
// regressions) are committed under fuzz/corpus/ instead.
//
//   make_seeds OUT_DIR    # writes OUT_DIR/<fuzzer>/<seed>
#include <sys/stat.h>
#include <unistd.h>
#include <zlib.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <fstream>
#include <sstream>
#include <string>
#include <vector>

#include "fuzz_tracks.h"
#include "shm/layout.h"
#include "trackstore/delta_state.h"
#include "trackstore/json.h"
#include "trackstore/snapshot_service.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/synthetic.h"

namespace trackstore {
namespace {

std::string out_dir;

void Fail(const std::string& what) {
  std::fprintf(stderr, "make_seeds: %s\n", what.c_str());
  std::exit(1);
}

void Write(const std::string& fuzzer, const std::string& name, const std::string& bytes) {
  const std::string dir = out_dir + "/" + fuzzer;
  ::mkdir(out_dir.c_str(), 0777);
  ::mkdir(dir.c_str(), 0777);
  std::ofstream out(dir + "/" + name, std::ios::binary | std::ios::trunc);
  out << bytes;
  if (!out) Fail("cannot write " + dir + "/" + name);
}

std::string Encode(const std::vector<TrackRecord>& tracks) {
  SnapshotWriter writer;
  std::string image;
  Result<WriteResult> r = writer.Encode(tracks, &image);
  if (!r.ok()) Fail(r.status().ToString());
  return image;
}

std::string JsonArray(const std::vector<TrackRecord>& tracks) {
  std::string json = "[\n";
  for (size_t i = 0; i < tracks.size(); ++i) {
    if (i > 0) json += ",\n";
    AppendTrackJson(tracks[i], &json);
  }
  return json + "\n]\n";
}

std::string Gzip(const std::string& bytes) {
  z_stream z = {};
  if (deflateInit2(&z, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) Fail("deflate");
  std::string out(deflateBound(&z, bytes.size()) + 32, '\0');
  z.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(bytes.data()));
  z.avail_in = static_cast<uInt>(bytes.size());
  z.next_out = reinterpret_cast<Bytef*>(out.data());
  z.avail_out = static_cast<uInt>(out.size());
  if (deflate(&z, Z_FINISH) != Z_STREAM_END) Fail("deflate");
  out.resize(z.total_out);
  deflateEnd(&z);
  return out;
}

void SnapshotSeeds() {
  Write("snapshot_fuzzer", "empty.snap", Encode({}));
  std::vector<TrackRecord> one(1);
  one[0].id = "1";
  Write("snapshot_fuzzer", "one_required_only.snap", Encode(one));
  one[0].genre = "";
  one[0].year = "";
  one[0].original_pos = 0;
  one[0].extras_json = R"({"x":null})";
  Write("snapshot_fuzzer", "one_empty_optionals.snap", Encode(one));
  Write("snapshot_fuzzer", "small.snap", Encode(fuzz::SmallTracks(5)));
  Write("snapshot_fuzzer", "synthetic_12.snap", Encode(GenerateLibrary(12)));
}

void JsonSeeds() {
  Write("json_import_fuzzer", "empty_array.json", "[]");
  Write("json_import_fuzzer", "small.json", JsonArray(fuzz::SmallTracks(5)));
  const std::string synthetic = JsonArray(GenerateLibrary(4));
  Write("json_import_fuzzer", "synthetic_4.json", synthetic);
  Write("json_import_fuzzer", "synthetic_4.json.gz", Gzip(synthetic));
}

void MetadataSeeds() {
  SnapshotMetadata m;
  m.last_full_scan = 1700000000000000;
  m.library_mtime = 1699999999000000;
  m.track_count = 30000;
  m.snapshot_hash = "0123456789abcdef0123456789abcdef";
  Write("metadata_fuzzer", "metadata.json", m.ToJson().value());
  m.last_force_scan = 1700000001000000;
  Write("metadata_fuzzer", "metadata_force_scan.json", m.ToJson().value());
  DeltaState d;
  d.last_run = 1700000000000000;
  Write("metadata_fuzzer", "delta_state_fresh.json", d.ToJson().value());
  d.tracked_since = 1699000000000000;
  d.processed_ids = {"1", "100042", "\xc3\xa9"};
  d.field_hashes = {{"1", "abc"}, {"2", ""}};
  Write("metadata_fuzzer", "delta_state.json", d.ToJson().value());
}

// The start of a real segment, as the fuzzer's own fixture has it.
void ShmSeeds() {
  char tmpl[] = "/tmp/make_seeds-XXXXXX";
  if (::mkdtemp(tmpl) == nullptr) Fail("mkdtemp");
  const std::string dir = tmpl;
  if (Status s = fuzz::MakeShmFixture(dir); !s.ok()) Fail(s.ToString());
  const ShmOptions options = fuzz::ShmFixtureOptions(dir);
  std::ifstream in(dir + "/" + options.name, std::ios::binary);
  std::ostringstream bytes;
  bytes << in.rdbuf();
  (void)ShmCache::Remove(options);
  ::rmdir(tmpl);
  const std::string segment = bytes.str();
  const auto* h = reinterpret_cast<const shm::SegmentHeader*>(segment.data());
  Write("shm_header_fuzzer", "header", segment.substr(0, sizeof(shm::SegmentHeader)));
  Write("shm_header_fuzzer", "header_and_slots", segment.substr(0, h->heap_offset));
  // Regression: a waiting writer's stamp far in the past overflowed the
  // writer's "asked within 5 ms" test.
  std::string stale_stamp = segment.substr(0, sizeof(shm::SegmentHeader));
  const int64_t oldest = INT64_MIN;
  std::memcpy(stale_stamp.data() + offsetof(shm::SegmentHeader, lock_wanted_ns), &oldest,
              sizeof oldest);
  Write("shm_header_fuzzer", "lock_wanted_min", stale_stamp);
}

}  // namespace
}  // namespace trackstore

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: make_seeds OUT_DIR\n");
    return 2;
  }
  trackstore::out_dir = argv[1];
  trackstore::SnapshotSeeds();
  trackstore::JsonSeeds();
  trackstore::MetadataSeeds();
  trackstore::ShmSeeds();
  return 0;
}
