#include "trackstore/snapshot_writer.h"

#include <simdjson.h>

#include <cstring>
#include <new>
#include <unordered_map>
#include <vector>

#include "snapshot_access.h"
#include "snapshot_format.h"
#include "track_fields.h"
#include "track_hash.h"
#include "trackstore/env.h"

namespace trackstore {

namespace {

using format::PayloadOut;
using format::PayloadShape;
using internal::kOptionalMembers;
using internal::kRequiredMembers;

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

PayloadShape ShapeOf(const Input& in) {
  PayloadShape shape;
  shape.track_count = in.size();
  for (uint64_t i = 0; i < in.size(); ++i) {
    const TrackRecord& t = in[i];
    for (int c = 0; c < kRequiredStringFieldCount; ++c) {
      shape.column_bytes[c] += (t.*kRequiredMembers[c]).size();
    }
    for (int c = 0; c < internal::kOptionalStringFieldCount; ++c) {
      const auto& v = t.*kOptionalMembers[c];
      if (v) shape.column_bytes[kRequiredStringFieldCount + c] += v->size();
    }
    shape.column_bytes[format::kExtrasColumn] += t.extras_json.size();
  }
  return shape;
}

// Row by row: one pass over the records, sixteen sequential write streams.
void Fill(const Input& in, const PayloadOut& out) {
  std::array<uint32_t, format::kStringColumnCount> end{};
  auto append = [&](int c, uint64_t i, const std::string& s) {
    std::memcpy(out.strings[c].bytes + end[c], s.data(), s.size());
    end[c] += static_cast<uint32_t>(s.size());
    out.strings[c].offsets[i + 1] = end[c];
  };
  for (uint64_t i = 0; i < in.size(); ++i) {
    const TrackRecord& t = in[i];
    const uint8_t bit = static_cast<uint8_t>(1u << (i & 7));
    for (int c = 0; c < kRequiredStringFieldCount; ++c) append(c, i, t.*kRequiredMembers[c]);
    for (int k = 0; k < internal::kOptionalStringFieldCount; ++k) {
      const int c = kRequiredStringFieldCount + k;
      const auto& v = t.*kOptionalMembers[k];
      if (v) {
        out.strings[c].present[i >> 3] |= bit;
        append(c, i, *v);
      } else {
        out.strings[c].offsets[i + 1] = end[c];
      }
    }
    append(format::kExtrasColumn, i, t.extras_json);
    if (t.original_pos) out.pos_present[i >> 3] |= bit;
    out.pos_values[i] = t.original_pos.value_or(0);
    out.track_hashes[i] = in.hashes.empty() ? internal::TrackHash(t) : in.hashes[i];
  }
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

  // Builds the payload of `tracks` after applying the id policies, and fills
  // `header` and `result`. The payload lives in `builder`.
  std::string name;  // the output path, or "snapshot" for Encode

  Status Build(std::span<const TrackRecord> tracks, const WriteOptions& options,
               format::SealedPayload* sealed, WriteResult* result);
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

Status SnapshotWriter::Rep::Build(std::span<const TrackRecord> tracks, const WriteOptions& options,
                                  format::SealedPayload* sealed, WriteResult* result) try {
  *result = WriteResult{};
  Input in;
  in.all = tracks;
  std::span<const uint8_t> payload;
  Status s = ApplyEmptyIdPolicy(&in, options, result);
  if (!s.ok()) return s;
  // At most two rounds: the second runs only when the first found duplicate
  // ids and the policy keeps one of each.
  for (int round = 0;; ++round) {
    PayloadOut out;
    s = builder.Start(ShapeOf(in), &out);
    if (!s.ok()) return s;
    Fill(in, out);
    if (options.validate_utf8) {
      s = ValidateStrings(name, in, out);
      if (!s.ok()) return s;
    }
    duplicates.clear();
    payload = builder.Finish(&duplicates);
    if (duplicates.empty()) break;
    if (round > 0) return Status::InvalidArgument(name, "duplicate ids remain after dedupe");
    s = ApplyDuplicatePolicy(&in, options, result);
    if (!s.ok()) return s;
  }
  *sealed = format::Seal(payload, in.size(), result);  // sets hash, count and size only
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
  format::PayloadShape shape = ShapeOf(in);
  shape.delta = true;
  PayloadOut out;
  Status s = builder.Start(shape, &out);
  if (!s.ok()) return s;
  Fill(in, out);
  s = ValidateStrings(name, in, out);
  if (!s.ok()) return s;
  for (uint64_t i = 0; i < in.size(); ++i) {
    out.delta_targets[i] = delta.targets[i];
    if (delta.removed[i]) out.delta_removed[i >> 3] |= static_cast<uint8_t>(1u << (i & 7));
  }
  duplicates.clear();
  const std::span<const uint8_t> payload = builder.Finish(&duplicates);
  if (!duplicates.empty()) return Status::InvalidArgument(name, "delta rows repeat an id");
  *sealed = format::Seal(payload, in.size(), result);
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

SnapshotWriter::SnapshotWriter() : rep_(std::make_unique<Rep>()) {}
SnapshotWriter::~SnapshotWriter() = default;

Result<WriteResult> SnapshotWriter::Encode(std::span<const TrackRecord> tracks, std::string* out,
                                           const WriteOptions& options) {
  format::SealedPayload sealed;
  WriteResult result;
  rep_->name = "snapshot";
  Status s = rep_->Build(tracks, options, &sealed, &result);
  if (!s.ok()) return s;
  format::CopyToString(sealed, out);
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

Result<WriteResult> WriteSnapshot(const std::string& path, std::span<const TrackRecord> tracks,
                                  const WriteOptions& options) {
  SnapshotWriter writer;
  return writer.Write(path, tracks, options);
}

}  // namespace trackstore
