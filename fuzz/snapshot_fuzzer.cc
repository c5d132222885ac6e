// Snapshot::FromBuffer over any bytes, then every read path of a snapshot
// that opened: every field of every track, each column, Find, Verify, Diff
// against itself and a merge.
//
// Most mutations break the content hash, and a fuzzer cannot forge one, so
// each input is also opened once more with its header rewritten to carry the
// right hashes: that reaches the structural checks behind the hash, and
// readers of crafted hash-valid files.
//
// Traps (a crash libFuzzer reports) when a snapshot breaks a promise:
// Verify() agrees with a verified open, Find returns only the id asked for,
// a merge of a verified snapshot gives one that verifies, and a merge
// without updates keeps the same tracks. Not checked: the same bytes (a
// crafted file may hold padding the Verifier ignores, which a merge
// rewrites), and that Find finds every id (verification does not check the
// index against the ids).
#include <cstddef>
#include <cstdint>
#include <cstring>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "snapshot_format.h"
#include "trackstore/diff.h"
#include "trackstore/merge.h"
#include "trackstore/snapshot.h"

namespace trackstore {
namespace {

// FromBuffer requires 8-byte alignment; libFuzzer's data has none.
struct AlignedCopy {
  explicit AlignedCopy(const uint8_t* data, size_t size) : words(size / 8 + 1), size(size) {
    if (size > 0) std::memcpy(bytes(), data, size);
  }
  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(words.data()); }
  const uint8_t* bytes() const { return reinterpret_cast<const uint8_t*>(words.data()); }
  std::vector<uint64_t> words;
  size_t size;
};

uint64_t Get64(const uint8_t* p) {
  uint64_t v;
  std::memcpy(&v, p, 8);
  return v;
}

// Rewrites the header's content hash and checksum to match the payload it
// names. False when the header does not name a payload inside the buffer.
bool FixHashes(AlignedCopy* copy) {
  if (copy->size < format::kHeaderSize) return false;
  format::Header h;
  h.format_version = static_cast<uint16_t>(copy->bytes()[4] | copy->bytes()[5] << 8);
  std::memcpy(&h.chunk_count, copy->bytes() + 8, 4);
  h.payload_offset = Get64(copy->bytes() + 16);
  h.payload_size = Get64(copy->bytes() + 24);
  h.track_count = Get64(copy->bytes() + 32);
  if (h.payload_offset > copy->size || h.payload_size > copy->size - h.payload_offset) {
    return false;
  }
  h.content_hash = format::HashPayload({copy->bytes() + h.payload_offset, h.payload_size});
  format::EncodeHeader(h, copy->bytes());
  return true;
}

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

uint64_t ReadEverything(const Snapshot& snap) {
  uint64_t sink = snap.size() + snap.file_size() + snap.format_version();
  sink += snap.content_hash().size() + snap.path().size();
  for (TrackView t : snap) {
    TrackRecord r = t.ToRecord();
    sink += r.id.size() + r.name.size() + r.extras_json.size() + t.content_hash();
    sink += static_cast<uint64_t>(r.original_pos.value_or(0));
    for (int f = 0; f < kStringFieldCount; ++f) {
      if (std::optional<std::string_view> v = t.string_field(f)) sink += v->size();
    }
  }
  for (int f = 0; f <= static_cast<int>(Field::kExtras); ++f) {
    if (f == static_cast<int>(Field::kOriginalPos)) continue;
    StringColumnView col = snap.column(static_cast<Field>(f));
    for (uint64_t i = 0; i < col.size(); ++i) sink += col[i].size() + col.is_null(i);
  }
  return sink;
}

// Looks up the first, a middle and the last id, and ids that are not there.
void FindSome(const Snapshot& snap, std::string_view extra) {
  if (!snap.empty()) {
    for (uint64_t i : {uint64_t{0}, snap.size() / 2, snap.size() - 1}) {
      const std::string_view id = snap[i].id();
      std::optional<TrackView> found = snap.Find(id);
      if (found) Check(found->id() == id);
    }
  }
  for (std::string_view id : {std::string_view(), std::string_view("no-such-id"), extra}) {
    std::optional<TrackView> found = snap.Find(id);
    if (found) Check(found->id() == id);
  }
}

// A merge's output from a verified base must verify; returns it opened.
std::optional<Snapshot> OpenMerged(const std::string& out, AlignedCopy* copy) {
  *copy = AlignedCopy(reinterpret_cast<const uint8_t*>(out.data()), out.size());
  Result<Snapshot> merged = Snapshot::FromBuffer(copy->bytes(), copy->size, "merged");
  Check(merged.ok());
  return std::move(merged).value();
}

void MergeSome(const Snapshot& snap, bool verified) {
  Merger merger;
  std::string out;
  AlignedCopy copy(nullptr, 0);
  // No updates: the same tracks.
  Result<MergeStats> same = merger.Encode(snap, std::span<const TrackRecord>(), &out);
  if (verified && same.ok()) {
    std::optional<Snapshot> merged = OpenMerged(out, &copy);
    Check(merged->size() == snap.size());
    for (uint64_t i = 0; i < snap.size(); ++i) {
      Check((*merged)[i].ToRecord() == snap[i].ToRecord());
    }
  }
  // Merged into itself. Not always the same tracks: an id the index misses
  // is appended again.
  if (merger.Encode(snap, snap, &out).ok() && verified) (void)OpenMerged(out, &copy);
  std::vector<TrackRecord> updates(2);
  updates[0].id = snap.empty() ? "1" : std::string(snap[0].id());
  updates[0].name = "replaced";
  updates[1].id = "fuzz-new-id";
  updates[1].genre = "";
  if (merger.Encode(snap, updates, &out).ok() && verified) (void)OpenMerged(out, &copy);
}

void Exercise(const AlignedCopy& input, bool verify, std::string_view extra) {
  Result<Snapshot> snap = Snapshot::FromBuffer(input.bytes(), input.size, "fuzz", verify);
  if (!snap.ok()) return;
  volatile uint64_t sink = ReadEverything(*snap);
  (void)sink;
  FindSome(*snap, extra);
  const Status verified = snap->Verify();
  if (verify) Check(verified.ok());
  (void)Diff(*snap, *snap);
  (void)Diff(*snap, *snap, DiffOptions{ChangeRule::kReference});
  MergeSome(*snap, verify && verified.ok());
}

}  // namespace
}  // namespace trackstore

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  using trackstore::AlignedCopy;
  // A few bytes of the input double as an id to look up.
  const std::string_view extra(reinterpret_cast<const char*>(data), size < 8 ? size : 8);
  AlignedCopy input(data, size);
  trackstore::Exercise(input, /*verify=*/false, extra);
  trackstore::Exercise(input, /*verify=*/true, extra);
  AlignedCopy fixed(data, size);
  if (trackstore::FixHashes(&fixed) && std::memcmp(fixed.bytes(), data, size) != 0) {
    trackstore::Exercise(fixed, /*verify=*/true, extra);
    trackstore::Exercise(fixed, /*verify=*/false, extra);
  }
  return 0;
}
