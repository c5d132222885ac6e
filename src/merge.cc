#include "trackstore/merge.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <unordered_map>
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

// The updates, from records or from the tracks of another snapshot, seen
// one value at a time. Column c is a string field, or kExtrasColumn.
class Updates {
 public:
  explicit Updates(std::span<const TrackRecord> records) : records_(records) {}
  explicit Updates(const Columns* columns) : columns_(columns) {}

  uint64_t size() const { return columns_ ? columns_->count : records_.size(); }
  std::string_view id(uint64_t j) const { return *value(0, j); }

  std::optional<std::string_view> value(int c, uint64_t j) const {
    if (columns_ != nullptr) {
      return c == kExtrasColumn ? internal::StringAt(columns_->extras, j)
                                : internal::OptionalStringAt(columns_->strings[c], j);
    }
    if (c == kExtrasColumn) return records_[j].extras_json;
    const std::string* s = records_[j].StringField(c);
    return s ? std::optional<std::string_view>(*s) : std::nullopt;
  }
  std::optional<int64_t> pos(uint64_t j) const {
    if (columns_ == nullptr) return records_[j].original_pos;
    const internal::IntColumnRef& col = columns_->original_pos;
    return internal::BitSet(col.present, j) ? std::optional<int64_t>(col.values[j]) : std::nullopt;
  }
  uint64_t hash(uint64_t j) const {
    return columns_ ? columns_->track_hashes[j] : internal::TrackHash(records_[j]);
  }
  bool from_records() const { return columns_ == nullptr; }
  const TrackRecord& record(uint64_t j) const { return records_[j]; }

 private:
  std::span<const TrackRecord> records_;
  const Columns* columns_ = nullptr;
};

// Which output track comes from where. Output track i < base count is base
// track i unless replaced; appended tracks follow.
struct Plan {
  std::vector<std::pair<uint64_t, uint64_t>> replaced;  // (base index, update), by base index
  std::vector<uint64_t> appended;                       // update indices, in output order
  uint64_t superseded = 0;
};

Status CheckUpdateRecord(std::string_view name, const TrackRecord& t, uint64_t j,
                         bool validate_strings) {
  const std::string where = "update " + std::to_string(j);
  if (t.id.empty()) return Status::InvalidArgument(name, where + " has an empty id");
  if (!validate_strings) return Status::OK();
  for (int c = 0; c < kStringFieldCount; ++c) {
    const std::string* s = t.StringField(c);
    if (s == nullptr) continue;
    if (!simdjson::validate_utf8(s->data(), s->size())) {
      return Status::InvalidArgument(name, where + ": field '" +
                                               std::string(FieldName(static_cast<Field>(c))) +
                                               "' is not valid UTF-8");
    }
    if (c <= static_cast<int>(Field::kName) && s->find('\0') != std::string::npos) {
      return Status::InvalidArgument(name, where + ": field '" +
                                               std::string(FieldName(static_cast<Field>(c))) +
                                               "' contains a NUL byte");
    }
  }
  if (!simdjson::validate_utf8(t.extras_json.data(), t.extras_json.size())) {
    return Status::InvalidArgument(name, where + ": extras are not valid UTF-8");
  }
  return Status::OK();
}

// Finds the last appearance of every update id, in order of first
// appearance, and where each goes.
Status MakePlan(std::string_view name, const Snapshot& base, const Updates& updates,
                bool validate_strings, Plan* plan) {
  std::unordered_map<std::string_view, uint64_t> last;
  std::vector<uint64_t> first_seen;
  last.reserve(updates.size());
  for (uint64_t j = 0; j < updates.size(); ++j) {
    // An updates snapshot was checked by its writer; records are checked here.
    if (updates.from_records()) {
      Status s = CheckUpdateRecord(name, updates.record(j), j, validate_strings);
      if (!s.ok()) return s;
    }
    auto [it, inserted] = last.try_emplace(updates.id(j), j);
    if (inserted) {
      first_seen.push_back(j);
    } else {
      it->second = j;
      ++plan->superseded;
    }
  }
  for (uint64_t first : first_seen) {
    const std::string_view id = updates.id(first);
    const uint64_t j = last[id];
    if (std::optional<TrackView> t = base.Find(id)) {
      plan->replaced.emplace_back(t->index(), j);
    } else {
      plan->appended.push_back(j);
    }
  }
  std::sort(plan->replaced.begin(), plan->replaced.end());
  return Status::OK();
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

struct Merger::Rep {
  format::PayloadBuilder builder;
  format::SealedPayload sealed;  // the last build, for EncodeView
  std::vector<format::DuplicateId> duplicates;

  Result<MergeStats> Run(std::string_view name, const Snapshot& base, const Updates& updates,
                         const WriteOptions& options, const std::string* path, std::string* out,
                         EncodedView* view = nullptr);
  Status Build(std::string_view name, const Snapshot& base, const Updates& updates,
               const WriteOptions& options, format::SealedPayload* sealed, MergeStats* stats);
  Status Shape(std::string_view name, const Columns& base, const Updates& updates, const Plan& plan,
               format::PayloadShape* shape);
  void FillStrings(const Columns& base, const Updates& updates, const Plan& plan,
                   const format::PayloadOut& out);
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
// the fill write past what Start allocated.
Status Merger::Rep::Shape(std::string_view name, const Columns& base, const Updates& updates,
                          const Plan& plan, format::PayloadShape* shape) {
  shape->track_count = base.count + plan.appended.size();
  for (int c = 0; c < kStringColumnCount; ++c) {
    const StringColumnRef& src = BaseColumn(base, c);
    uint64_t bytes = 0;
    bool ok = true;
    WalkColumn(
        plan, base.count,
        [&](uint64_t a, uint64_t b) {
          if (a == b) return;
          const uint32_t from = src.offsets[a], to = src.offsets[b];
          ok &= from <= to && to <= src.bytes_size;
          bytes += ok ? to - from : 0;
        },
        [&](uint64_t, uint64_t j) { bytes += updates.value(c, j).value_or("").size(); });
    if (!ok) return Status::StructureInvalid(name, "base snapshot offsets are damaged");
    shape->column_bytes[c] = bytes;
  }
  return Status::OK();
}

void Merger::Rep::FillStrings(const Columns& base, const Updates& updates, const Plan& plan,
                              const format::PayloadOut& out) {
  for (int c = 0; c < kStringColumnCount; ++c) {
    const StringColumnRef& src = BaseColumn(base, c);
    const format::StringColumnOut& dst = out.strings[c];
    uint32_t end = 0;
    WalkColumn(
        plan, base.count,
        [&](uint64_t a, uint64_t b) {
          if (a == b) return;
          const uint32_t from = src.offsets[a], to = src.offsets[b];
          std::memcpy(dst.bytes + end, src.bytes + from, to - from);
          // Rebase: unsigned wrap-around makes this exact for any sign of
          // the shift, and the loop vectorizes.
          const uint32_t shift = end - from;
          for (uint64_t k = a; k < b; ++k) dst.offsets[k + 1] = src.offsets[k + 1] + shift;
          end += to - from;
        },
        [&](uint64_t i, uint64_t j) {
          const std::optional<std::string_view> v = updates.value(c, j);
          if (v) {
            std::memcpy(dst.bytes + end, v->data(), v->size());
            end += static_cast<uint32_t>(v->size());
          }
          dst.offsets[i + 1] = end;
        });
  }
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
                          const Updates& updates, const WriteOptions& options,
                          format::SealedPayload* sealed, MergeStats* stats) try {
  const Columns& base = internal::SnapshotAccess::Of(base_snapshot);
  Plan plan;
  Status s = MakePlan(name, base_snapshot, updates, options.validate_utf8, &plan);
  if (!s.ok()) return s;
  format::PayloadShape shape;
  s = Shape(name, base, updates, plan, &shape);
  if (!s.ok()) return s;
  format::PayloadOut out;
  s = builder.Start(shape, &out);
  if (!s.ok()) return s;
  FillStrings(base, updates, plan, out);
  FillFixed(base, updates, plan, out);
  duplicates.clear();
  const std::span<const uint8_t> payload =
      builder.Finish(&duplicates, {base.id_index, base.id_index_size, base.count});
  if (!duplicates.empty()) {
    return Status::StructureInvalid(name, "base snapshot holds duplicate ids");
  }
  *stats = MergeStats{};
  *sealed = format::Seal(payload, shape.track_count, &stats->written);
  stats->replaced = plan.replaced.size();
  stats->appended = plan.appended.size();
  stats->carried = base.count - plan.replaced.size();
  stats->superseded = plan.superseded;
  return Status::OK();
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(name, "out of memory while merging");
}

Merger::Merger() : rep_(std::make_unique<Rep>()) {}
Merger::~Merger() = default;

Result<MergeStats> Merger::Rep::Run(std::string_view name, const Snapshot& base,
                                    const Updates& updates, const WriteOptions& options,
                                    const std::string* path, std::string* out, EncodedView* view) {
  MergeStats stats;
  Status s = Build(name, base, updates, options, &sealed, &stats);
  if (s.ok() && path != nullptr) s = format::WriteToFile(sealed, *path, options);
  if (!s.ok()) return s;
  if (out != nullptr) format::CopyToString(sealed, out);
  if (view != nullptr) *view = sealed.View();
  return stats;
}

Result<MergeStats> Merger::Merge(const Snapshot& base, std::span<const TrackRecord> updates,
                                 const std::string& path, const WriteOptions& options) {
  return rep_->Run(path, base, Updates(updates), options, &path, nullptr);
}

Result<MergeStats> Merger::Merge(const Snapshot& base, const Snapshot& updates,
                                 const std::string& path, const WriteOptions& options) {
  return rep_->Run(path, base, Updates(&internal::SnapshotAccess::Of(updates)), options, &path,
                   nullptr);
}

Result<MergeStats> Merger::Encode(const Snapshot& base, std::span<const TrackRecord> updates,
                                  std::string* out, const WriteOptions& options) {
  return rep_->Run("merge", base, Updates(updates), options, nullptr, out);
}

Result<MergeStats> Merger::Encode(const Snapshot& base, const Snapshot& updates, std::string* out,
                                  const WriteOptions& options) {
  return rep_->Run("merge", base, Updates(&internal::SnapshotAccess::Of(updates)), options, nullptr,
                   out);
}

Result<MergeStats> Merger::EncodeView(const Snapshot& base, std::span<const TrackRecord> updates,
                                      EncodedView* view, const WriteOptions& options) {
  return rep_->Run("merge", base, Updates(updates), options, nullptr, nullptr, view);
}

}  // namespace trackstore
