#include "trackstore/snapshot_writer.h"

#include <simdjson.h>

#include <algorithm>
#include <cstring>
#include <new>
#include <thread>
#include <unordered_map>
#include <vector>

#include "run_pair.h"
#include "snapshot_access.h"
#include "snapshot_format.h"
#include "track_fields.h"
#include "track_hash.h"
#include "trackstore/env.h"

namespace trackstore {

namespace {

using format::PayloadOut;
using format::PayloadShape;
using internal::kMinTracksForTwoThreads;
using internal::kOptionalMembers;
using internal::kRequiredMembers;
using internal::RunPair;

constexpr size_t kMaxListedProblems = 10;

// Input tracks, either the caller's span as it is or a selection of it after
// dropping empty or duplicate ids. Positions reported in errors are always
// positions in the caller's span.
struct Input {
  std::span<const TrackRecord> all;
  const std::vector<const TrackRecord*>* selection = nullptr;
  // A store's delta rows: rows point anywhere, positions are row numbers.
  std::span<const TrackRecord* const> rows;
  bool by_rows = false;
  std::span<const uint64_t> hashes;  // precomputed TrackHash per track, or empty

  uint64_t size() const {
    return by_rows ? rows.size() : selection ? selection->size() : all.size();
  }
  const TrackRecord& operator[](uint64_t i) const {
    return by_rows ? *rows[i] : selection ? *(*selection)[i] : all[i];
  }
  uint64_t Position(uint64_t i) const {
    return by_rows ? i : selection ? static_cast<uint64_t>((*selection)[i] - all.data()) : i;
  }
};

// A share of the input tracks, [lo, hi), encoded by one thread.
struct Part {
  uint64_t lo = 0;
  uint64_t hi = 0;
  std::array<uint64_t, format::kStringColumnCount> bytes{};  // per column
  uint64_t empty_ids = 0;
  bool invalid_strings = false;  // some value failed the UTF-8/NUL check
};

// Splits the input in one or two parts. The split falls on a multiple of
// 512 tracks, so the parts share no bitmap byte and no cache line of one.
int SplitInput(const Input& in, std::array<Part, 2>* parts) {
  const uint64_t n = in.size();
  const bool two = n >= kMinTracksForTwoThreads && std::thread::hardware_concurrency() >= 2;
  const uint64_t mid = two ? (n / 2) & ~uint64_t{511} : n;
  (*parts)[0] = Part{.lo = 0, .hi = mid};
  (*parts)[1] = Part{.lo = mid, .hi = n};
  return two ? 2 : 1;
}

// The sizes pass: reads only the records (contiguous), not their strings.
void SizePart(const Input& in, Part* part) {
  for (uint64_t i = part->lo; i < part->hi; ++i) {
    const TrackRecord& t = in[i];
    for (int c = 0; c < kRequiredStringFieldCount; ++c) {
      part->bytes[c] += (t.*kRequiredMembers[c]).size();
    }
    for (int c = 0; c < internal::kOptionalStringFieldCount; ++c) {
      const auto& v = t.*kOptionalMembers[c];
      if (v) part->bytes[kRequiredStringFieldCount + c] += v->size();
    }
    part->bytes[format::kExtrasColumn] += t.extras_json.size();
    part->empty_ids += t.id.empty();
  }
}

PayloadShape SizeInput(const Input& in, std::array<Part, 2>* parts, int* count) {
  *count = SplitInput(in, parts);
  RunPair(
      *count == 2, [&] { SizePart(in, &(*parts)[0]); }, [&] { SizePart(in, &(*parts)[1]); });
  PayloadShape shape;
  shape.track_count = in.size();
  for (int c = 0; c < format::kStringColumnCount; ++c) {
    shape.column_bytes[c] = (*parts)[0].bytes[c] + (*parts)[1].bytes[c];
  }
  return shape;
}

// Whether tracks [b, e), whose values start at `from` in each column, hold
// valid UTF-8 values and no NUL in ids and names. Valid UTF-8 whose every
// value starts on a character boundary has only valid values. The value
// before `from` belongs to another thread: only offsets [b + 1, e] are read.
bool BlockStringsValid(const PayloadOut& out, uint64_t b, uint64_t e,
                       const std::array<uint32_t, format::kStringColumnCount>& from) {
  for (int c = 0; c < format::kStringColumnCount; ++c) {
    const format::StringColumnOut& col = out.strings[c];
    const uint32_t to = col.offsets[e];
    const size_t len = to - from[c];
    if (!simdjson::validate_utf8(col.bytes + from[c], len)) return false;
    uint32_t begin = from[c];
    for (uint64_t i = b; i < e; ++i) {
      const uint32_t next = col.offsets[i + 1];
      if (next != begin && (static_cast<uint8_t>(col.bytes[begin]) & 0xC0) == 0x80) return false;
      begin = next;
    }
    const bool no_nul = c == static_cast<int>(Field::kId) || c == static_cast<int>(Field::kName);
    if (no_nul && std::memchr(col.bytes + from[c], 0, len) != nullptr) return false;
  }
  return true;
}

// memcpy of a short value without a call: most values are under 32 bytes,
// where the call costs more than the copy. Never reads or writes past n.
inline void CopyValue(char* dst, const char* src, size_t n) {
  if (n >= 8) {
    if (n > 16) {
      if (n > 32) {
        std::memcpy(dst, src, n);
        return;
      }
      char a[16], b[16];
      std::memcpy(a, src, 16);
      std::memcpy(b, src + n - 16, 16);
      std::memcpy(dst, a, 16);
      std::memcpy(dst + n - 16, b, 16);
      return;
    }
    uint64_t a, b;
    std::memcpy(&a, src, 8);
    std::memcpy(&b, src + n - 8, 8);
    std::memcpy(dst, &a, 8);
    std::memcpy(dst + n - 8, &b, 8);
  } else if (n >= 4) {
    uint32_t a, b;
    std::memcpy(&a, src, 4);
    std::memcpy(&b, src + n - 4, 4);
    std::memcpy(dst, &a, 4);
    std::memcpy(dst + n - 4, &b, 4);
  } else {
    for (size_t k = 0; k < n; ++k) dst[k] = src[k];
  }
}

// Fills the part's tracks into their precomputed places: `start` is where
// the part begins in each column's bytes. Row by row in blocks small enough
// to stay in L2, so that the track hashes, id hashes and UTF-8 checks read
// what the copy just brought into cache instead of memory.
void FillPart(const Input& in, const std::array<uint64_t, format::kStringColumnCount>& start,
              const PayloadOut& out, uint64_t* id_hashes, bool validate, Part* part) {
  std::array<uint32_t, format::kStringColumnCount> end;
  for (int c = 0; c < format::kStringColumnCount; ++c) end[c] = static_cast<uint32_t>(start[c]);
  constexpr uint64_t kBlock = 256;
  const TrackRecord* block[kBlock];
  for (uint64_t b = part->lo; b < part->hi; b += kBlock) {
    const uint64_t e = std::min(part->hi, b + kBlock);
    const std::array<uint32_t, format::kStringColumnCount> block_start = end;
    for (uint64_t i = b; i < e; ++i) {
      const TrackRecord& t = in[i];
      block[i - b] = &t;
      auto append = [&](int c, const std::string& v) {
        CopyValue(out.strings[c].bytes + end[c], v.data(), v.size());
        end[c] += static_cast<uint32_t>(v.size());
        out.strings[c].offsets[i + 1] = end[c];
      };
      const uint8_t bit = static_cast<uint8_t>(1u << (i & 7));
      for (int c = 0; c < kRequiredStringFieldCount; ++c) append(c, t.*kRequiredMembers[c]);
      for (int k = 0; k < internal::kOptionalStringFieldCount; ++k) {
        const int c = kRequiredStringFieldCount + k;
        const auto& v = t.*kOptionalMembers[k];
        if (v) {
          out.strings[c].present[i >> 3] |= bit;
          append(c, *v);
        } else {
          out.strings[c].offsets[i + 1] = end[c];
        }
      }
      append(format::kExtrasColumn, t.extras_json);
      if (t.original_pos) out.pos_present[i >> 3] |= bit;
      out.pos_values[i] = t.original_pos.value_or(0);
      id_hashes[i] = internal::IdHash(t.id);
    }
    if (in.hashes.empty()) {
      internal::TrackHashes({block, e - b}, out.track_hashes + b);
    } else {
      std::memcpy(out.track_hashes + b, in.hashes.data() + b, (e - b) * sizeof(uint64_t));
    }
    if (validate && !part->invalid_strings) {
      part->invalid_strings = !BlockStringsValid(out, b, e, block_start);
    }
  }
}

// Fills every part, each on its own thread, and tells whether a string
// failed the check (ValidateStrings then names it).
bool FillInput(const Input& in, std::array<Part, 2>& parts, int count, const PayloadOut& out,
               uint64_t* id_hashes, bool validate) {
  const std::array<uint64_t, format::kStringColumnCount> zero{};
  RunPair(
      count == 2, [&] { FillPart(in, zero, out, id_hashes, validate, &parts[0]); },
      [&] { FillPart(in, parts[0].bytes, out, id_hashes, validate, &parts[1]); });
  return parts[0].invalid_strings || parts[1].invalid_strings;
}

// Builds the id index and hashes the payload, the two at once: every byte
// before the index is final once the columns are filled.
std::span<const uint8_t> FinishAndHash(format::PayloadBuilder* builder, const PayloadOut& out,
                                       const uint64_t* id_hashes, bool two,
                                       std::vector<format::DuplicateId>* duplicates,
                                       std::array<uint8_t, 16>* hash) {
  format::PayloadHasher hasher(out.payload);
  std::span<const uint8_t> payload;
  RunPair(
      two, [&] { payload = builder->Finish(duplicates, {}, id_hashes); },
      [&] { hasher.HashTo(out.index); });
  *hash = hasher.Finish();
  return payload;
}

std::string Describe(const Input& in, uint64_t i) {
  return "track " + std::to_string(in.Position(i)) + " (id '" + in[i].id.substr(0, 64) + "')";
}

std::string FieldLabel(int c) {
  return c == format::kExtrasColumn ? "extras" : std::string(FieldName(static_cast<Field>(c)));
}

// Whole-column UTF-8 validation runs at memory speed; a valid column whose
// every value starts on a character boundary has only valid values. Only on
// failure are values checked one by one, to name the culprit.
Status ValidateStrings(std::string_view name, const Input& in, const PayloadOut& out) {
  const uint64_t n = in.size();
  for (int c = 0; c < format::kStringColumnCount; ++c) {
    const format::StringColumnOut& col = out.strings[c];
    const uint32_t* off = col.offsets;
    const bool no_nul = c == static_cast<int>(Field::kId) || c == static_cast<int>(Field::kName);
    bool ok = simdjson::validate_utf8(col.bytes, off[n]);
    for (uint64_t i = 0; ok && i < n; ++i) {
      ok = off[i] == off[i + 1] || (static_cast<uint8_t>(col.bytes[off[i]]) & 0xC0) != 0x80;
    }
    if (ok && no_nul && std::memchr(col.bytes, 0, off[n]) != nullptr) ok = false;
    if (ok) continue;
    for (uint64_t i = 0; i < n; ++i) {
      const char* v = col.bytes + off[i];
      const size_t len = off[i + 1] - off[i];
      if (!simdjson::validate_utf8(v, len)) {
        return Status::InvalidArgument(
            name, Describe(in, i) + ": field '" + FieldLabel(c) + "' is not valid UTF-8");
      }
      if (no_nul && std::memchr(v, 0, len) != nullptr) {
        return Status::InvalidArgument(
            name, Describe(in, i) + ": field '" + FieldLabel(c) + "' contains a NUL byte");
      }
    }
  }
  return Status::OK();
}

std::string ListPositions(const Input& in, const std::vector<uint64_t>& positions) {
  std::string text;
  for (size_t k = 0; k < positions.size() && k < kMaxListedProblems; ++k) {
    text += (k ? ", " : "") + std::to_string(in.Position(positions[k]));
  }
  if (positions.size() > kMaxListedProblems) text += ", ...";
  return text;
}

}  // namespace

struct TRACKSTORE_HIDDEN SnapshotWriter::Rep {
  format::PayloadBuilder builder;
  format::SealedPayload sealed;  // the last build, for EncodeView
  std::vector<const TrackRecord*> selection;
  std::vector<const TrackRecord*> next_selection;
  std::vector<format::DuplicateId> duplicates;
  std::array<Part, 2> parts;
  std::vector<uint64_t> id_hashes;  // HashId of each track's id, for the index

  // Builds the payload of `tracks` after applying the id policies, and fills
  // `header` and `result`. The payload lives in `builder`.
  std::string name;  // the output path, or "snapshot" for Encode

  // With `copy`, the file image goes there (resized to fit). With
  // `keep_repeats`, repeated ids are left in `duplicates`, not resolved.
  Status Build(std::span<const TrackRecord> tracks, const WriteOptions& options,
               format::SealedPayload* sealed, WriteResult* result, std::string* copy = nullptr,
               bool keep_repeats = false);
  // Start, fill, check, index and hash of `in`; `extra` runs after the
  // fill, before the index (delta rows).
  template <typename Extra>
  Status BuildPayload(const Input& in, PayloadShape shape, int part_count, bool validate,
                      Extra extra, std::span<const uint8_t>* payload, std::string* copy,
                      std::array<uint8_t, 16>* hash);
  Status BuildDelta(const internal::DeltaRowsIn& delta, format::SealedPayload* sealed,
                    WriteResult* result);
  Status ApplyEmptyIdPolicy(Input* in, const WriteOptions& options, WriteResult* result);
  Status ApplyDuplicatePolicy(Input* in, const WriteOptions& options, WriteResult* result);
};

Status SnapshotWriter::Rep::ApplyEmptyIdPolicy(Input* in, const WriteOptions& options,
                                               WriteResult* result) {
  std::vector<uint64_t> empty;
  for (uint64_t i = 0; i < in->size(); ++i) {
    if ((*in)[i].id.empty()) empty.push_back(i);
  }
  if (empty.empty()) return Status::OK();
  if (!options.drop_empty_ids) {
    return Status::InvalidArgument(name, std::to_string(empty.size()) +
                                             " tracks have an empty id, at positions " +
                                             ListPositions(*in, empty));
  }
  selection.clear();
  for (uint64_t i = 0; i < in->size(); ++i) {
    if (!(*in)[i].id.empty()) selection.push_back(&(*in)[i]);
  }
  result->empty_ids_dropped = empty.size();
  in->selection = &selection;
  return Status::OK();
}

// Called after a build found duplicates: rewrites the selection so that each
// id appears once, at its first position.
Status SnapshotWriter::Rep::ApplyDuplicatePolicy(Input* in, const WriteOptions& options,
                                                 WriteResult* result) {
  if (options.duplicates == DuplicatePolicy::kReject) {
    std::string text;
    for (size_t k = 0; k < duplicates.size() && k < kMaxListedProblems; ++k) {
      const auto& d = duplicates[k];
      text += (k ? "; '" : "'") + (*in)[d.first].id.substr(0, 64) + "' at positions " +
              std::to_string(in->Position(d.first)) + " and " +
              std::to_string(in->Position(d.second));
    }
    if (duplicates.size() > kMaxListedProblems) text += "; ...";
    return Status::InvalidArgument(name, std::to_string(duplicates.size()) +
                                             " duplicate ids: " + text +
                                             " (choose a dedupe policy: keep first or keep last)");
  }
  // Later occurrences are dropped; with keep-last the first position takes
  // the content of the last occurrence (duplicates are in input order).
  std::vector<bool> dropped(in->size(), false);
  std::unordered_map<uint64_t, uint64_t> content_of;
  for (const auto& d : duplicates) {
    dropped[d.second] = true;
    if (options.duplicates == DuplicatePolicy::kKeepLast) content_of[d.first] = d.second;
  }
  next_selection.clear();
  for (uint64_t i = 0; i < in->size(); ++i) {
    if (dropped[i]) continue;
    auto it = content_of.find(i);
    next_selection.push_back(&(*in)[it == content_of.end() ? i : it->second]);
  }
  selection.swap(next_selection);
  result->duplicates_dropped = duplicates.size();
  in->selection = &selection;
  return Status::OK();
}

template <typename Extra>
Status SnapshotWriter::Rep::BuildPayload(const Input& in, PayloadShape shape, int part_count,
                                         bool validate, Extra extra,
                                         std::span<const uint8_t>* payload, std::string* copy,
                                         std::array<uint8_t, 16>* hash) {
  PayloadOut out;
  Status s = builder.Start(shape, &out);
  if (!s.ok()) return s;
  id_hashes.resize(in.size());
  if (copy != nullptr) {
    copy->resize(format::kHeaderSize + out.payload.size());
    builder.Relocate(reinterpret_cast<uint8_t*>(copy->data()) + format::kHeaderSize, &out);
  }
  if (FillInput(in, parts, part_count, out, id_hashes.data(), validate)) {
    s = ValidateStrings(name, in, out);
    if (!s.ok()) return s;
  }
  extra(out);
  duplicates.clear();
  *payload = FinishAndHash(&builder, out, id_hashes.data(), part_count == 2, &duplicates, hash);
  return Status::OK();
}

Status SnapshotWriter::Rep::Build(std::span<const TrackRecord> tracks, const WriteOptions& options,
                                  format::SealedPayload* sealed, WriteResult* result,
                                  std::string* copy, bool keep_repeats) try {
  *result = WriteResult{};
  Input in;
  in.all = tracks;
  int part_count = 0;
  PayloadShape shape = SizeInput(in, &parts, &part_count);
  if (parts[0].empty_ids + parts[1].empty_ids > 0) {
    Status s = ApplyEmptyIdPolicy(&in, options, result);
    if (!s.ok()) return s;
    shape = SizeInput(in, &parts, &part_count);
  }
  std::span<const uint8_t> payload;
  std::array<uint8_t, 16> hash;
  // At most two rounds: the second runs only when the first found duplicate
  // ids and the policy keeps one of each.
  for (int round = 0;; ++round) {
    Status s = BuildPayload(
        in, shape, part_count, options.validate_utf8, [](const PayloadOut&) {}, &payload, copy,
        &hash);
    if (!s.ok()) return s;
    if (duplicates.empty() || keep_repeats) break;
    if (round > 0) return Status::InvalidArgument(name, "duplicate ids remain after dedupe");
    s = ApplyDuplicatePolicy(&in, options, result);
    if (!s.ok()) return s;
    shape = SizeInput(in, &parts, &part_count);
  }
  *sealed = format::Seal(payload, in.size(), hash, result);  // sets hash, count and size only
  if (copy != nullptr) std::memcpy(copy->data(), sealed->header_bytes, format::kHeaderSize);
  return Status::OK();
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(name, "out of memory while encoding");
}

// A delta fragment's rows are unique by construction (the store resolved
// them against the version), so a duplicate here is a bug, not input.
Status SnapshotWriter::Rep::BuildDelta(const internal::DeltaRowsIn& delta,
                                       format::SealedPayload* sealed, WriteResult* result) try {
  *result = WriteResult{};
  Input in;
  in.rows = delta.rows;
  in.by_rows = true;
  in.hashes = delta.hashes;
  int part_count = 0;
  format::PayloadShape shape = SizeInput(in, &parts, &part_count);
  shape.delta = true;
  std::span<const uint8_t> payload;
  std::array<uint8_t, 16> hash;
  Status s = BuildPayload(
      in, shape, part_count, true,
      [&](const PayloadOut& out) {
        for (uint64_t i = 0; i < in.size(); ++i) {
          out.delta_targets[i] = delta.targets[i];
          if (delta.removed[i]) out.delta_removed[i >> 3] |= static_cast<uint8_t>(1u << (i & 7));
        }
      },
      &payload, nullptr, &hash);
  if (!s.ok()) return s;
  if (!duplicates.empty()) return Status::InvalidArgument(name, "delta rows repeat an id");
  *sealed = format::Seal(payload, in.size(), hash, result);
  return Status::OK();
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(name, "out of memory while encoding");
}

Result<WriteResult> internal::WriterAccess::EncodeDelta(SnapshotWriter& writer,
                                                        const DeltaRowsIn& delta,
                                                        EncodedView* view) {
  WriteResult result;
  writer.rep_->name = "delta fragment";
  Status s = writer.rep_->BuildDelta(delta, &writer.rep_->sealed, &result);
  if (!s.ok()) return s;
  *view = writer.rep_->sealed.View();
  return result;
}

Result<WriteResult> internal::WriterAccess::EncodeKeepingRepeats(
    SnapshotWriter& writer, std::span<const TrackRecord> tracks, bool validate_utf8,
    std::string* out, std::vector<std::pair<uint64_t, uint64_t>>* repeats) {
  WriteResult result;
  WriteOptions options;
  options.validate_utf8 = validate_utf8;
  format::SealedPayload sealed;
  SnapshotWriter::Rep& rep = *writer.rep_;
  rep.name = "snapshot";
  Status s = rep.Build(tracks, options, &sealed, &result, out, true);
  if (!s.ok()) {
    out->clear();
    return s;
  }
  repeats->clear();
  for (const format::DuplicateId& d : rep.duplicates) repeats->emplace_back(d.first, d.second);
  return result;
}

SnapshotWriter::SnapshotWriter() : rep_(std::make_unique<Rep>()) {}
SnapshotWriter::~SnapshotWriter() = default;

Result<WriteResult> SnapshotWriter::Encode(std::span<const TrackRecord> tracks, std::string* out,
                                           const WriteOptions& options) {
  format::SealedPayload sealed;
  WriteResult result;
  rep_->name = "snapshot";
  Status s = rep_->Build(tracks, options, &sealed, &result, out);
  if (!s.ok()) {
    out->clear();  // the build writes into `out` as it goes
    return s;
  }
  return result;
}

Result<WriteResult> SnapshotWriter::EncodeView(std::span<const TrackRecord> tracks,
                                               EncodedView* view, const WriteOptions& options) {
  WriteResult result;
  rep_->name = "snapshot";
  Status s = rep_->Build(tracks, options, &rep_->sealed, &result);
  if (!s.ok()) return s;
  *view = rep_->sealed.View();
  return result;
}

Result<WriteResult> SnapshotWriter::Write(const std::string& path,
                                          std::span<const TrackRecord> tracks,
                                          const WriteOptions& options) {
  format::SealedPayload sealed;
  WriteResult result;
  rep_->name = path;
  Status s = rep_->Build(tracks, options, &sealed, &result);
  if (s.ok()) s = format::WriteToFile(sealed, path, options);
  if (!s.ok()) return s;
  return result;
}

uint64_t EstimatePayloadBytes(const TrackRecord& track) { return format::PayloadBytesOf(track); }

Result<WriteResult> WriteSnapshot(const std::string& path, std::span<const TrackRecord> tracks,
                                  const WriteOptions& options) {
  SnapshotWriter writer;
  return writer.Write(path, tracks, options);
}

}  // namespace trackstore
