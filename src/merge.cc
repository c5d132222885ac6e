#include "trackstore/merge.h"

#include <algorithm>
#include <array>
#include <cstring>
#include <new>
#include <vector>

#include "snapshot_access.h"
#include "snapshot_format.h"

namespace trackstore {

namespace {

using format::kExtrasColumn;
using format::kStringColumnCount;
using internal::Columns;
using internal::StringColumnRef;

// The updates as the columns of a snapshot, read one value at a time.
// Column c is a string field, or kExtrasColumn. Update records are first
// encoded into a snapshot (row by row, at the writer's speed), so that every
// later pass reads columns sequentially instead of visiting each record once
// per column.
class Updates {
 public:
  explicit Updates(const Columns& columns) : c_(columns) {}

  uint64_t size() const { return c_.count; }
  std::string_view id(uint64_t j) const { return internal::StringAt(c_.strings[0], j); }
  std::optional<std::string_view> value(int c, uint64_t j) const {
    return c == kExtrasColumn ? internal::StringAt(c_.extras, j)
                              : internal::OptionalStringAt(c_.strings[c], j);
  }
  std::optional<int64_t> pos(uint64_t j) const {
    const internal::IntColumnRef& col = c_.original_pos;
    return internal::BitSet(col.present, j) ? std::optional<int64_t>(col.values[j]) : std::nullopt;
  }
  uint64_t hash(uint64_t j) const { return c_.track_hashes[j]; }

 private:
  const Columns& c_;
};

// Which output track comes from where. Output track i < base count is base
// track i unless replaced; appended tracks follow.
struct Plan {
  std::vector<std::pair<uint64_t, uint64_t>> replaced;  // (base index, update), by base index
  std::vector<uint64_t> appended;                       // update indices, in output order
};

// Where each update goes. The ids of an updates snapshot are unique.
void MakePlan(const Snapshot& base, const Updates& updates, Plan* plan) {
  for (uint64_t j = 0; j < updates.size(); ++j) {
    if (std::optional<TrackView> t = base.Find(updates.id(j))) {
      plan->replaced.emplace_back(t->index(), j);
    } else {
      plan->appended.push_back(j);
    }
  }
  std::sort(plan->replaced.begin(), plan->replaced.end());
}

// Visits the output of one string column as runs of carried base tracks
// and single update values, in output order.
template <typename Carry, typename Put>
void WalkColumn(const Plan& plan, uint64_t base_count, Carry carry, Put put) {
  uint64_t next = 0;
  for (const auto& [i, j] : plan.replaced) {
    carry(next, i);
    put(i, j);
    next = i + 1;
  }
  carry(next, base_count);
  for (size_t k = 0; k < plan.appended.size(); ++k) put(base_count + k, plan.appended[k]);
}

// Copies the first `n` bits of `src` into a zeroed `dst`.
void CopyBitmap(const uint8_t* src, uint64_t n, uint8_t* dst) {
  const uint64_t bytes = format::BitmapBytes(n);
  if (bytes == 0) return;
  std::memcpy(dst, src, bytes);
  if (n % 8 != 0) dst[bytes - 1] &= static_cast<uint8_t>((1u << (n % 8)) - 1);
}

void SetBit(uint8_t* bitmap, uint64_t i, bool value) {
  const uint8_t bit = static_cast<uint8_t>(1u << (i & 7));
  bitmap[i >> 3] = static_cast<uint8_t>(value ? bitmap[i >> 3] | bit : bitmap[i >> 3] & ~bit);
}

}  // namespace

// Where the merged file goes: any of a path, a string, a view.
struct Output {
  const std::string* path = nullptr;
  std::string* bytes = nullptr;
  EncodedView* view = nullptr;
};

struct TRACKSTORE_HIDDEN Merger::Rep {
  format::PayloadBuilder builder;
  format::SealedPayload sealed;  // the last build, for EncodeView
  SnapshotWriter update_writer;  // encodes update records
  std::string update_bytes;
  std::vector<format::DuplicateId> duplicates;
  // Per string column, the base bytes of each carried run, in output order.
  struct ByteRange {
    uint32_t from, to;
  };
  std::array<std::vector<ByteRange>, kStringColumnCount> run_bytes;

  Result<MergeStats> MergeRecords(std::string_view name, const Snapshot& base,
                                  std::span<const TrackRecord> updates, const WriteOptions& options,
                                  const Output& output);
  Result<MergeStats> MergeSnapshot(std::string_view name, const Snapshot& base,
                                   const Snapshot& updates, const WriteOptions& options,
                                   const Output& output);
  Status Build(std::string_view name, const Snapshot& base, const Updates& updates,
               MergeStats* stats);
  Status Shape(std::string_view name, const Columns& base, const Updates& updates, const Plan& plan,
               format::PayloadShape* shape);
  // False when the base's offsets decrease inside a carried run (a damaged
  // base opened trusted; Shape checked only the ends of each run).
  bool FillStrings(const Columns& base, const Updates& updates, const Plan& plan,
                   const format::PayloadOut& out, format::PayloadHasher* hasher);
  void FillFixed(const Columns& base, const Updates& updates, const Plan& plan,
                 const format::PayloadOut& out);
};

namespace {

const StringColumnRef& BaseColumn(const Columns& base, int c) {
  return c == kExtrasColumn ? base.extras : base.strings[c];
}

}  // namespace

// Sizes come from the same runs the fill copies, and every run is checked
// against its arena, so even a damaged base (opened trusted) cannot make
// the fill write past what Start allocated. The runs' byte ranges are kept
// for the fill: reading them again from the base's offsets would be a cache
// miss per run per column.
Status Merger::Rep::Shape(std::string_view name, const Columns& base, const Updates& updates,
                          const Plan& plan, format::PayloadShape* shape) {
  shape->track_count = base.count + plan.appended.size();
  for (int c = 0; c < kStringColumnCount; ++c) {
    const StringColumnRef& src = BaseColumn(base, c);
    std::vector<ByteRange>& runs = run_bytes[c];
    runs.clear();
    uint64_t bytes = 0;
    bool ok = true;
    size_t k = 0;  // runs end at replaced tracks: prefetch a few runs ahead
    WalkColumn(
        plan, base.count,
        [&](uint64_t a, uint64_t b) {
          constexpr size_t kAhead = 16;
          if (k + kAhead < plan.replaced.size()) {
            __builtin_prefetch(src.offsets + plan.replaced[k + kAhead].first);
          }
          ++k;
          const uint32_t from = src.offsets[a], to = src.offsets[b];
          ok &= from <= to && to <= src.bytes_size;
          runs.push_back({from, ok ? to : from});
          bytes += ok ? to - from : 0;
        },
        [&](uint64_t, uint64_t j) { bytes += updates.value(c, j).value_or("").size(); });
    if (!ok) return Status::StructureInvalid(name, "base snapshot offsets are damaged");
    shape->column_bytes[c] = bytes;
  }
  return Status::OK();
}

// Column by column, offsets then bytes: the order they lie in the payload,
// so that the hasher takes each stretch while it is still in cache. Long
// runs are cut into hasher-sized pieces for the same reason.
bool Merger::Rep::FillStrings(const Columns& base, const Updates& updates, const Plan& plan,
                              const format::PayloadOut& out, format::PayloadHasher* hasher) {
  uint32_t decreasing = 0;
  constexpr uint64_t kOffsetsPerPiece = format::PayloadHasher::kStride / sizeof(uint32_t);
  constexpr uint64_t kBytesPerPiece = format::PayloadHasher::kStride;
  for (int c = 0; c < kStringColumnCount; ++c) {
    const StringColumnRef& src = BaseColumn(base, c);
    const format::StringColumnOut& dst = out.strings[c];
    const ByteRange* run = run_bytes[c].data();
    uint32_t end = 0;
    WalkColumn(
        plan, base.count,
        [&](uint64_t a, uint64_t b) {
          const uint32_t from = run++->from;
          if (a == b) return;
          // Rebase: unsigned wrap-around makes this exact for any sign of
          // the shift, and the loop vectorizes.
          const uint32_t shift = end - from;
          for (uint64_t p = a; p < b; p += kOffsetsPerPiece) {
            const uint64_t q = std::min(b, p + kOffsetsPerPiece);
            for (uint64_t k = p; k < q; ++k) {
              dst.offsets[k + 1] = src.offsets[k + 1] + shift;
              decreasing |= src.offsets[k + 1] < src.offsets[k];
            }
            hasher->HashAhead(dst.offsets + q + 1);
          }
          end = dst.offsets[b];
        },
        [&](uint64_t i, uint64_t j) {
          end += static_cast<uint32_t>(updates.value(c, j).value_or("").size());
          dst.offsets[i + 1] = end;
          hasher->HashAhead(dst.offsets + i + 2);
        });
    hasher->HashTo(dst.offsets + base.count + plan.appended.size() + 1);

    end = 0;
    run = run_bytes[c].data();
    WalkColumn(
        plan, base.count,
        [&](uint64_t, uint64_t) {
          const uint32_t to = run->to;
          for (uint32_t from = run++->from; from < to;) {
            const uint32_t piece = std::min<uint32_t>(to - from, kBytesPerPiece);
            std::memcpy(dst.bytes + end, src.bytes + from, piece);
            end += piece;
            from += piece;
            hasher->HashAhead(dst.bytes + end);
          }
        },
        [&](uint64_t, uint64_t j) {
          // A damaged value of an updates snapshot opened trusted reads as
          // an empty view with no address, which memcpy must not be given.
          if (const std::optional<std::string_view> v = updates.value(c, j); v && !v->empty()) {
            std::memcpy(dst.bytes + end, v->data(), v->size());
            end += static_cast<uint32_t>(v->size());
            hasher->HashAhead(dst.bytes + end);
          }
        });
    hasher->HashTo(dst.bytes + end);
  }
  return decreasing == 0;
}

// Bitmaps, original_pos and track hashes: output track i < base count sits
// at base position i, so the base's arrays are copied whole and patched.
void Merger::Rep::FillFixed(const Columns& base, const Updates& updates, const Plan& plan,
                            const format::PayloadOut& out) {
  const uint64_t n = base.count;
  std::memcpy(out.pos_values, base.original_pos.values, n * sizeof(int64_t));
  std::memcpy(out.track_hashes, base.track_hashes, n * sizeof(uint64_t));
  CopyBitmap(base.original_pos.present, n, out.pos_present);
  for (int c = kRequiredStringFieldCount; c < kStringFieldCount; ++c) {
    CopyBitmap(base.strings[c].present, n, out.strings[c].present);
  }
  auto put = [&](uint64_t i, uint64_t j) {
    for (int c = kRequiredStringFieldCount; c < kStringFieldCount; ++c) {
      SetBit(out.strings[c].present, i, updates.value(c, j).has_value());
    }
    const std::optional<int64_t> pos = updates.pos(j);
    SetBit(out.pos_present, i, pos.has_value());
    out.pos_values[i] = pos.value_or(0);
    out.track_hashes[i] = updates.hash(j);
  };
  for (const auto& [i, j] : plan.replaced) put(i, j);
  for (size_t k = 0; k < plan.appended.size(); ++k) put(n + k, plan.appended[k]);
}

Status Merger::Rep::Build(std::string_view name, const Snapshot& base_snapshot,
                          const Updates& updates, MergeStats* stats) try {
  const Columns& base = internal::SnapshotAccess::Of(base_snapshot);
  Plan plan;
  MakePlan(base_snapshot, updates, &plan);
  format::PayloadShape shape;
  Status s = Shape(name, base, updates, plan, &shape);
  if (!s.ok()) return s;
  format::PayloadOut out;
  s = builder.Start(shape, &out);
  if (!s.ok()) return s;
  format::PayloadHasher hasher(out.payload);
  if (!FillStrings(base, updates, plan, out, &hasher)) {
    return Status::StructureInvalid(name, "base snapshot offsets are damaged");
  }
  FillFixed(base, updates, plan, out);
  hasher.HashTo(out.index);
  duplicates.clear();
  const std::span<const uint8_t> payload =
      builder.Finish(&duplicates, {base.id_index, base.id_index_size, base.count});
  if (!duplicates.empty()) {
    return Status::StructureInvalid(name, "base snapshot holds duplicate ids");
  }
  sealed = format::Seal(payload, shape.track_count, hasher.Finish(), &stats->written);
  stats->replaced = plan.replaced.size();
  stats->appended = plan.appended.size();
  stats->carried = base.count - plan.replaced.size();
  return Status::OK();
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(name, "out of memory while merging");
}

Merger::Merger() : rep_(std::make_unique<Rep>()) {}
Merger::~Merger() = default;

Result<MergeStats> Merger::Rep::MergeSnapshot(std::string_view name, const Snapshot& base,
                                              const Snapshot& updates, const WriteOptions& options,
                                              const Output& output) {
  MergeStats stats;
  Status s = Build(name, base, Updates(internal::SnapshotAccess::Of(updates)), &stats);
  if (s.ok() && output.path != nullptr) s = format::WriteToFile(sealed, *output.path, options);
  if (!s.ok()) return s;
  if (output.bytes != nullptr) format::CopyToString(sealed, output.bytes);
  if (output.view != nullptr) *output.view = sealed.View();
  return stats;
}

// Update records become a snapshot first. Keep-last dedupe gives exactly the
// merge rule for repeated ids: the first position, the last content.
Result<MergeStats> Merger::Rep::MergeRecords(std::string_view name, const Snapshot& base,
                                             std::span<const TrackRecord> updates,
                                             const WriteOptions& options, const Output& output) {
  WriteOptions encode;
  encode.duplicates = DuplicatePolicy::kKeepLast;
  encode.validate_utf8 = options.validate_utf8;
  Result<WriteResult> encoded = update_writer.Encode(updates, &update_bytes, encode);
  if (!encoded.ok()) {
    const Status& s = encoded.status();
    if (!s.IsInvalidArgument()) return s;
    const std::string detail = s.message();  // "snapshot: <detail>"
    return Status::InvalidArgument(name, "updates: " + detail.substr(detail.find(": ") + 2));
  }
  Result<Snapshot> snapshot =
      Snapshot::FromBuffer(update_bytes.data(), update_bytes.size(), "updates", false);
  if (!snapshot.ok()) return snapshot.status();
  Result<MergeStats> stats = MergeSnapshot(name, base, *snapshot, options, output);
  if (stats.ok()) stats->superseded = encoded->duplicates_dropped;
  return stats;
}

Result<MergeStats> Merger::Merge(const Snapshot& base, std::span<const TrackRecord> updates,
                                 const std::string& path, const WriteOptions& options) {
  return rep_->MergeRecords(path, base, updates, options, {.path = &path});
}

Result<MergeStats> Merger::Merge(const Snapshot& base, const Snapshot& updates,
                                 const std::string& path, const WriteOptions& options) {
  return rep_->MergeSnapshot(path, base, updates, options, {.path = &path});
}

Result<MergeStats> Merger::Encode(const Snapshot& base, std::span<const TrackRecord> updates,
                                  std::string* out, const WriteOptions& options) {
  return rep_->MergeRecords("merge", base, updates, options, {.bytes = out});
}

Result<MergeStats> Merger::Encode(const Snapshot& base, const Snapshot& updates, std::string* out,
                                  const WriteOptions& options) {
  return rep_->MergeSnapshot("merge", base, updates, options, {.bytes = out});
}

Result<MergeStats> Merger::EncodeView(const Snapshot& base, std::span<const TrackRecord> updates,
                                      EncodedView* view, const WriteOptions& options) {
  return rep_->MergeRecords("merge", base, updates, options, {.view = view});
}

}  // namespace trackstore
