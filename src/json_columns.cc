// JSON import straight into snapshot columns (include/trackstore/json.h:
// ImportJsonToSnapshot, ImportJsonToStore): each record's values go from
// the parser's window into TrackColumns, with no TrackRecord in between;
// at the end of the input (or of a store fragment) the columns become a
// payload in one copy.
#include <cstring>
#include <new>
#include <string>
#include <vector>

#include "json_input.h"
#include "json_records.h"
#include "snapshot_format.h"
#include "store/store_access.h"
#include "track_columns.h"
#include "trackstore/env.h"
#include "trackstore/json.h"

namespace trackstore {

namespace {

constexpr size_t kMaxListedProblems = 10;

// Records into columns, a payload's worth at a time; `flush` encodes them
// when the next record would pass `payload_limit`.
class ColumnSink : public internal::JsonRecordSink {
 public:
  ColumnSink(std::string source, uint64_t payload_limit, bool drop_empty_ids)
      : source_(std::move(source)), limit_(payload_limit), drop_empty_ids_(drop_empty_ids) {}

  // Called with the columns full; must leave them empty (FillPayload).
  std::function<Status()> flush;

  Status Add(const internal::JsonRecord& r) override {
    const std::string_view id = *r.strings[static_cast<int>(Field::kId)];
    if (id.empty()) {
      if (!drop_empty_ids_ && empty_ids_.size() < kMaxListedProblems) empty_ids_.push_back(r.index);
      ++empty_count_;
      dropped_.push_back(r.index);
      return Status::OK();
    }
    // The Verifier does not look inside strings; the snapshot format keeps
    // ids and names free of NUL (JSON can hold one as \u0000).
    for (Field f : {Field::kId, Field::kName}) {
      const std::string_view v = *r.strings[static_cast<int>(f)];
      if (std::memchr(v.data(), 0, v.size()) != nullptr) {
        return Status::InvalidArgument(source_, "record " + std::to_string(r.index) + ": field '" +
                                                    std::string(FieldName(f)) +
                                                    "' contains a NUL byte");
      }
    }
    if (!empty_ids_.empty()) return Status::OK();  // failing anyway: keep counting only
    uint64_t bytes = format::kPayloadBytesPerTrack + r.extras_json.size();
    for (const auto& v : r.strings) bytes += v ? v->size() : 0;
    if (columns.payload_bytes() + bytes > limit_) {
      if (columns.size() == 0 || !flush) {
        return Status::NotSupported(
            source_, "record " + std::to_string(r.index) + ": the tracks so far need about " +
                         std::to_string(columns.payload_bytes() + bytes) +
                         " bytes, more than one snapshot file holds (" + std::to_string(limit_) +
                         "); a store directory splits a library into fragments");
      }
      if (Status s = flush(); !s.ok()) return s;
    }
    columns.Append(r.strings.data(), r.original_pos, r.extras_json);
    return Status::OK();
  }

  // After the last record: the error for empty ids, unless dropped.
  Status EmptyIdError() const {
    if (drop_empty_ids_ || empty_count_ == 0) return Status::OK();
    std::string text;
    for (size_t k = 0; k < empty_ids_.size(); ++k) {
      text += (k ? ", " : "") + std::to_string(empty_ids_[k]);
    }
    if (empty_count_ > empty_ids_.size()) text += ", ...";
    return Status::InvalidArgument(
        source_, std::to_string(empty_count_) + " tracks have an empty id, at records " + text);
  }
  uint64_t empty_ids_dropped() const { return drop_empty_ids_ ? empty_count_ : 0; }

  // The record index of the track at `position` of the library.
  uint64_t RecordOf(uint64_t position) const {
    uint64_t record = position;
    for (uint64_t d : dropped_) {
      if (d > record) break;
      ++record;
    }
    return record;
  }

  internal::TrackColumns columns;
  uint64_t tracks_before = 0;  // tracks in earlier fragments

 private:
  std::string source_;
  uint64_t limit_;
  bool drop_empty_ids_;
  uint64_t empty_count_ = 0;
  std::vector<uint64_t> empty_ids_;  // the first few, for the message
  std::vector<uint64_t> dropped_;    // records without a track, in order
};

// Encodes the sink's columns as a payload in `builder`, which *out
// describes. With `pieces`, only the ids are copied into the payload and
// *pieces lists it with the other columns read where they are (see
// TrackColumns::PayloadPieces); else every column is copied and *image is
// the sealed payload. When ids repeat and the policy keeps one of each, the
// same tracks go through `writer` instead (rebuilt as records from the
// payload: the rare case pays for the general one) and *image is its
// output, with *pieces left empty. *image is valid until the next call.
Status EncodeColumns(ColumnSink* sink, DuplicatePolicy duplicates, const std::string& name,
                     format::PayloadBuilder* builder, SnapshotWriter* writer,
                     format::SealedPayload* sealed, std::vector<ConstBytes>* pieces,
                     EncodedView* image, WriteResult* result) {
  *result = WriteResult{};
  format::PayloadOut out;
  internal::TrackColumns& columns = sink->columns;
  const uint64_t n = columns.size();
  if (Status s = builder->Start(columns.Shape(), &out); !s.ok()) return s;
  if (pieces != nullptr) {
    columns.CopyIds(out);
  } else {
    columns.FillPayload(out);
  }
  std::vector<format::DuplicateId> dups;
  const std::span<const uint8_t> payload = builder->Finish(&dups);
  if (dups.empty()) {
    if (pieces != nullptr) {
      pieces->clear();
      columns.PayloadPieces(out, payload, pieces);
      *sealed = format::Seal(payload, n, format::HashPieces(*pieces), result);
    } else {
      *sealed = format::Seal(payload, n, result);
    }
    *image = sealed->View();
    sink->tracks_before += n;
    return Status::OK();
  }
  if (pieces != nullptr) columns.FillPayload(out);
  auto id_at = [&](uint64_t i) {
    const format::StringColumnOut& c = out.strings[0];
    return std::string_view(c.bytes + c.offsets[i], c.offsets[i + 1] - c.offsets[i]);
  };
  if (duplicates == DuplicatePolicy::kReject) {
    std::string text;
    for (size_t k = 0; k < dups.size() && k < kMaxListedProblems; ++k) {
      text += (k ? "; '" : "'") + std::string(id_at(dups[k].first).substr(0, 64)) +
              "' at records " +
              std::to_string(sink->RecordOf(sink->tracks_before + dups[k].first)) + " and " +
              std::to_string(sink->RecordOf(sink->tracks_before + dups[k].second));
    }
    if (dups.size() > kMaxListedProblems) text += "; ...";
    return Status::InvalidArgument(name, std::to_string(dups.size()) + " duplicate ids: " + text +
                                             " (choose a dedupe policy: keep first or keep last)");
  }
  std::vector<TrackRecord> records(n);
  for (uint64_t i = 0; i < n; ++i) {
    TrackRecord& t = records[i];
    for (int c = 0; c < format::kStringColumnCount; ++c) {
      const format::StringColumnOut& col = out.strings[c];
      const std::string_view v(col.bytes + col.offsets[i], col.offsets[i + 1] - col.offsets[i]);
      if (c == format::kExtrasColumn) {
        t.extras_json = v;
      } else if (col.present == nullptr || internal::BitSet(col.present, i)) {
        t.SetStringField(c, std::string(v));
      }
    }
    if (internal::BitSet(out.pos_present, i)) t.original_pos = out.pos_values[i];
  }
  WriteOptions w;
  w.duplicates = duplicates;
  Result<WriteResult> encoded = writer->EncodeView(records, image, w);
  if (!encoded.ok()) return encoded.status();
  *result = *encoded;
  if (pieces != nullptr) pieces->clear();
  sink->tracks_before += n;
  return Status::OK();
}

}  // namespace

Result<WriteResult> ImportJsonToSnapshot(const std::string& json_path,
                                         const std::string& snapshot_path,
                                         const JsonImportOptions& import_options,
                                         const WriteOptions& write_options) try {
  Result<std::unique_ptr<internal::JsonInput>> input =
      internal::JsonInput::Open(json_path, import_options);
  if (!input.ok()) return input.status();
  ColumnSink sink(json_path, kMaxSnapshotPayloadBytes, write_options.drop_empty_ids);
  internal::JsonWindows windows;
  windows.progress = &import_options.progress;
  if (Status s = internal::ReadJsonRecords(input->get(), &sink, windows); !s.ok()) return s;
  input->reset();  // its window is not needed while the payload is built
  if (Status s = sink.EmptyIdError(); !s.ok()) return s;

  format::PayloadBuilder builder;
  SnapshotWriter writer;
  format::SealedPayload sealed;
  EncodedView image;
  WriteResult result;
  // The file is written from the columns where they are: the payload's
  // pages for them are never touched, which saves a copy of the library
  // and as many fresh pages.
  std::vector<ConstBytes> pieces;
  if (Status s = EncodeColumns(&sink, write_options.duplicates, json_path, &builder, &writer,
                               &sealed, &pieces, &image, &result);
      !s.ok()) {
    return s;
  }
  result.empty_ids_dropped = sink.empty_ids_dropped();
  if (pieces.empty()) pieces.push_back({image.payload.data(), image.payload.size()});
  pieces.insert(pieces.begin(), ConstBytes{image.header.data(), image.header.size()});
  if (Status s = WriteFileAtomically(write_options.env, snapshot_path, pieces, write_options.sync);
      !s.ok()) {
    return s;
  }
  return result;
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(json_path, "out of memory");
}

Result<CommitStats> ImportJsonToStore(Store& store, const std::string& json_path,
                                      const JsonImportOptions& import_options,
                                      const CommitOptions& commit_options) try {
  Result<std::unique_ptr<internal::JsonInput>> input =
      internal::JsonInput::Open(json_path, import_options);
  if (!input.ok()) return input.status();
  format::PayloadBuilder builder;
  SnapshotWriter writer;
  format::SealedPayload sealed;
  ColumnSink sink(json_path, internal::StoreAccess::MaxFragmentBytes(store),
                  commit_options.drop_empty_ids);
  // The parse runs inside the store's commit, under its writer lock: each
  // fragment goes to the store as soon as its columns are full.
  auto produce = [&](const internal::AddFragmentFn& add) -> Status {
    uint64_t dropped_so_far = 0;
    auto flush = [&]() -> Status {
      EncodedView image;
      WriteResult result;
      Status s = EncodeColumns(&sink, commit_options.duplicates, json_path, &builder, &writer,
                               &sealed, nullptr, &image, &result);
      if (!s.ok()) return s;
      // Counted once, with the fragment written last.
      result.empty_ids_dropped = sink.empty_ids_dropped() - dropped_so_far;
      dropped_so_far = sink.empty_ids_dropped();
      return add(image, result);
    };
    sink.flush = flush;
    internal::JsonWindows windows;
    windows.progress = &import_options.progress;
    if (Status s = internal::ReadJsonRecords(input->get(), &sink, windows); !s.ok()) return s;
    if (Status s = sink.EmptyIdError(); !s.ok()) return s;
    if (sink.columns.size() > 0 || sink.tracks_before == 0) return flush();
    return Status::OK();
  };
  return internal::StoreAccess::ReplaceStreaming(store, produce, commit_options);
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(json_path, "out of memory");
}

}  // namespace trackstore
