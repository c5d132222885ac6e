#include "trackstore/merge.h"

#include <algorithm>
#include <array>
#include <atomic>
#include <cstring>
#include <new>
#include <system_error>
#include <thread>
#include <vector>

#include "snapshot_access.h"
#include "snapshot_format.h"
#include "track_hash.h"

namespace trackstore {

namespace {

using format::kExtrasColumn;
using format::kStringColumnCount;
using internal::Columns;
using internal::StringColumnRef;

// Below this many output bytes a second thread costs more than it saves.
constexpr uint64_t kMinBytesForTwoThreads = uint64_t{8} << 20;

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

  // Replaced tracks visit the updates in base order, not in their order:
  // each value is a cache miss unless fetched ahead.
  void PrefetchOffsets(int c, uint64_t j) const { __builtin_prefetch(column(c).offsets + j); }
  void PrefetchBytes(int c, uint64_t j) const {
    const StringColumnRef& col = column(c);
    __builtin_prefetch(col.bytes + std::min<uint64_t>(col.offsets[j], col.bytes_size));
  }

 private:
  const StringColumnRef& column(int c) const {
    return c == kExtrasColumn ? c_.extras : c_.strings[c];
  }

  const Columns& c_;
};

// Which output track comes from where. Output track i < base count is base
// track i unless replaced; appended tracks follow.
struct Plan {
  std::vector<std::pair<uint64_t, uint64_t>> replaced;  // (base index, update), by base index
  std::vector<uint64_t> appended;                       // update indices, in output order
};

// Which update's content each update's id takes: itself, or for the first
// of several updates with one id the last of them, and kNoRow for the
// later ones (already taken). Empty when every id is unique.
std::vector<uint64_t> ContentOf(uint64_t count,
                                const std::vector<std::pair<uint64_t, uint64_t>>& repeats) {
  std::vector<uint64_t> content;
  if (repeats.empty()) return content;
  content.resize(count);
  for (uint64_t j = 0; j < count; ++j) content[j] = j;
  for (const auto& [first, later] : repeats) {
    if (first >= count || later >= count || first == later) continue;
    content[first] = std::max(content[first], later);
    content[later] = internal::kNoRow;
  }
  return content;
}

// Where each update goes. With `content` (ContentOf), an id that repeats
// keeps its first position and takes its last content.
// The lookups are cache misses in a large base (index slot, id offsets, id
// bytes: three dependent loads each), so they go in batches, each stage
// prefetching what the next one reads for every update of the batch.
void MakePlan(const Columns& base, const Updates& updates, const std::vector<uint64_t>& content,
              Plan* plan) {
  constexpr uint64_t kBatch = 32;
  const StringColumnRef& ids = base.strings[static_cast<int>(Field::kId)];
  const uint64_t mask = base.id_index_size - 1;
  uint64_t hashes[kBatch];
  uint64_t rows[kBatch];
  for (uint64_t b = 0; b < updates.size(); b += kBatch) {
    const uint64_t e = std::min(updates.size(), b + kBatch);
    for (uint64_t j = b; j < e; ++j) {
      hashes[j - b] = internal::IdHash(updates.id(j));
      __builtin_prefetch(internal::HomeSlot(base, hashes[j - b]));
    }
    // The home slot usually holds the track (the index is at most half full).
    for (uint64_t j = b; j < e; ++j) {
      const uint64_t slot = base.id_index[hashes[j - b] & mask];
      const uint64_t row = (slot & 0xffffffff) - 1;
      const bool likely = slot != 0 && (slot >> 32) == (hashes[j - b] >> 32) && row < base.count;
      rows[j - b] = likely ? row : internal::kNoRow;
      if (likely) __builtin_prefetch(ids.offsets + row);
    }
    for (uint64_t j = b; j < e; ++j) {
      if (rows[j - b] != internal::kNoRow) __builtin_prefetch(ids.bytes + ids.offsets[rows[j - b]]);
    }
    for (uint64_t j = b; j < e; ++j) {
      const uint64_t take = content.empty() ? j : content[j];
      if (take == internal::kNoRow) continue;
      const uint64_t row = internal::FindRow(base, updates.id(j), hashes[j - b]);
      if (row != internal::kNoRow) {
        plan->replaced.emplace_back(row, take);
      } else {
        plan->appended.push_back(take);
      }
    }
  }
  std::sort(plan->replaced.begin(), plan->replaced.end());
}

// How far ahead of a replaced track its update's value is prefetched.
constexpr size_t kUpdatesAhead = 16;

// The update of the replaced track kUpdatesAhead after the k-th, if any.
inline bool UpdateAhead(const Plan& plan, size_t k, uint64_t* j) {
  if (k + kUpdatesAhead >= plan.replaced.size()) return false;
  *j = plan.replaced[k + kUpdatesAhead].second;
  return true;
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
  std::vector<std::pair<uint64_t, uint64_t>> repeats;  // of update ids, by position
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
                                   const Output& output, const std::vector<uint64_t>& content = {});
  // `content`: ContentOf the updates' repeated ids, or empty.
  Status Build(std::string_view name, const Snapshot& base, const Updates& updates,
               const std::vector<uint64_t>& content, MergeStats* stats);
  Status Shape(std::string_view name, const Columns& base, const Updates& updates, const Plan& plan,
               format::PayloadShape* shape);
  // False when the base's offsets decrease inside a carried run (a damaged
  // base opened trusted; Shape checked only the ends of each run).
  bool FillColumn(int c, const Columns& base, const Updates& updates, const Plan& plan,
                  const format::PayloadOut& out, format::PayloadHasher* hasher);
  // Every string column and FillFixed; hashed up to the index.
  bool FillAll(const Columns& base, const Updates& updates, const Plan& plan,
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
        [&, r = size_t{0}](uint64_t, uint64_t j) mutable {
          if (uint64_t ahead; UpdateAhead(plan, r++, &ahead)) updates.PrefetchOffsets(c, ahead);
          bytes += updates.value(c, j).value_or("").size();
        });
    if (!ok) return Status::StructureInvalid(name, "base snapshot offsets are damaged");
    shape->column_bytes[c] = bytes;
  }
  return Status::OK();
}

// One column, offsets then bytes: the order they lie in the payload, so
// that the hasher (when given) takes each stretch while it is still in
// cache. Long runs are cut into hasher-sized pieces for the same reason.
bool Merger::Rep::FillColumn(int c, const Columns& base, const Updates& updates, const Plan& plan,
                             const format::PayloadOut& out, format::PayloadHasher* hasher) {
  uint32_t decreasing = 0;
  constexpr uint64_t kOffsetsPerPiece = format::PayloadHasher::kStride / sizeof(uint32_t);
  constexpr uint64_t kBytesPerPiece = format::PayloadHasher::kStride;
  auto hash_ahead = [&](const void* end) {
    if (hasher != nullptr) hasher->HashAhead(end);
  };
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
          hash_ahead(dst.offsets + q + 1);
        }
        end = dst.offsets[b];
      },
      [&, r = size_t{0}](uint64_t i, uint64_t j) mutable {
        if (uint64_t ahead; UpdateAhead(plan, r++, &ahead)) updates.PrefetchBytes(c, ahead);
        end += static_cast<uint32_t>(updates.value(c, j).value_or("").size());
        dst.offsets[i + 1] = end;
        hash_ahead(dst.offsets + i + 2);
      });
  if (hasher != nullptr) hasher->HashTo(dst.offsets + base.count + plan.appended.size() + 1);

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
          hash_ahead(dst.bytes + end);
        }
      },
      [&](uint64_t, uint64_t j) {
        // A damaged value of an updates snapshot opened trusted reads as
        // an empty view with no address, which memcpy must not be given.
        if (const std::optional<std::string_view> v = updates.value(c, j); v && !v->empty()) {
          std::memcpy(dst.bytes + end, v->data(), v->size());
          end += static_cast<uint32_t>(v->size());
          hash_ahead(dst.bytes + end);
        }
      });
  if (hasher != nullptr) hasher->HashTo(dst.bytes + end);
  return decreasing == 0;
}

// The columns split in two at about half of their bytes: this thread fills
// and hashes the first ones, a second thread fills the others and the
// fixed-size vectors, and this thread then hashes each of those columns as
// soon as it is done (while it may still be in the shared cache).
bool Merger::Rep::FillAll(const Columns& base, const Updates& updates, const Plan& plan,
                          const format::PayloadOut& out, format::PayloadHasher* hasher) {
  const uint8_t* payload = out.payload.data();
  const uint64_t strings_end = static_cast<uint64_t>(
      reinterpret_cast<const uint8_t*>(out.strings[kStringColumnCount - 1].bytes) +
      out.strings[kStringColumnCount - 1].offsets[0] - payload);
  int split = kStringColumnCount;
  if (out.payload.size() >= kMinBytesForTwoThreads && std::thread::hardware_concurrency() >= 2) {
    split = 1;
    while (split < kStringColumnCount &&
           static_cast<uint64_t>(reinterpret_cast<const uint8_t*>(out.strings[split].offsets) -
                                 payload) < strings_end / 2) {
      ++split;
    }
  }
  std::atomic<int> done{split};  // columns [0, done) are filled
  std::atomic<bool> other_ok{true};
  auto other = [&] {
    bool ok = true;
    for (int c = split; c < kStringColumnCount; ++c) {
      ok &= FillColumn(c, base, updates, plan, out, nullptr);
      done.store(c + 1, std::memory_order_release);
      done.notify_one();
    }
    FillFixed(base, updates, plan, out);
    other_ok.store(ok, std::memory_order_relaxed);
  };
  std::thread thread;
  if (split < kStringColumnCount) {
    try {
      thread = std::thread(other);
    } catch (const std::system_error&) {
      split = kStringColumnCount;
      done.store(split);
    }
  }
  bool ok = true;
  for (int c = 0; c < split; ++c) ok &= FillColumn(c, base, updates, plan, out, hasher);
  if (!thread.joinable()) {
    FillFixed(base, updates, plan, out);
  } else {
    for (int c = split; c < kStringColumnCount; ++c) {
      for (int d = done.load(std::memory_order_acquire); d <= c;
           d = done.load(std::memory_order_acquire)) {
        done.wait(d, std::memory_order_acquire);
      }
      const format::StringColumnOut& col = out.strings[c];
      hasher->HashTo(col.bytes + col.offsets[base.count + plan.appended.size()]);
    }
    thread.join();
    ok &= other_ok.load(std::memory_order_relaxed);
  }
  return ok;
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
                          const Updates& updates, const std::vector<uint64_t>& content,
                          MergeStats* stats) try {
  const Columns& base = internal::SnapshotAccess::Of(base_snapshot);
  Plan plan;
  MakePlan(base, updates, content, &plan);
  format::PayloadShape shape;
  Status s = Shape(name, base, updates, plan, &shape);
  if (!s.ok()) return s;
  format::PayloadOut out;
  s = builder.Start(shape, &out);
  if (!s.ok()) return s;
  format::PayloadHasher hasher(out.payload);
  if (!FillAll(base, updates, plan, out, &hasher)) {
    return Status::StructureInvalid(name, "base snapshot offsets are damaged");
  }
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
                                              const Output& output,
                                              const std::vector<uint64_t>& content) {
  MergeStats stats;
  Status s = Build(name, base, Updates(internal::SnapshotAccess::Of(updates)), content, &stats);
  if (s.ok() && output.path != nullptr) s = format::WriteToFile(sealed, *output.path, options);
  if (!s.ok()) return s;
  if (output.bytes != nullptr) format::CopyToString(sealed, output.bytes);
  if (output.view != nullptr) *output.view = sealed.View();
  return stats;
}

// Update records become a snapshot image first, repeated ids kept: the plan
// then applies the merge rule for them (the first position, the last
// content), which a keep-last dedupe in the writer would give only by
// encoding all the updates a second time.
Result<MergeStats> Merger::Rep::MergeRecords(std::string_view name, const Snapshot& base,
                                             std::span<const TrackRecord> updates,
                                             const WriteOptions& options, const Output& output) {
  Result<WriteResult> encoded = internal::WriterAccess::EncodeKeepingRepeats(
      update_writer, updates, options.validate_utf8, &update_bytes, &repeats);
  if (!encoded.ok()) {
    const Status& s = encoded.status();
    if (!s.IsInvalidArgument()) return s;
    const std::string detail = s.message();  // "snapshot: <detail>"
    return Status::InvalidArgument(name, "updates: " + detail.substr(detail.find(": ") + 2));
  }
  Result<Snapshot> snapshot =
      Snapshot::FromBuffer(update_bytes.data(), update_bytes.size(), "updates", false);
  if (!snapshot.ok()) return snapshot.status();
  Result<MergeStats> stats =
      MergeSnapshot(name, base, *snapshot, options, output, ContentOf(updates.size(), repeats));
  if (stats.ok()) stats->superseded = repeats.size();
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
