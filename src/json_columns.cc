// JSON import straight into snapshot columns (include/trackstore/json.h:
// ImportJsonToSnapshot, ImportJsonToStore): each record's values go from
// the parser's window into TrackColumns, with no TrackRecord in between;
// at the end of the input (or of a store fragment) the columns become a
// payload in one copy.

#include <array>
#include <cstring>
#include <memory>
#include <new>
#include <optional>
#include <string>
#include <thread>
#include <vector>

#include "column_writer.h"
#include "json_input.h"
#include "json_records.h"
#include "run_pair.h"
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
  bool saw_empty_ids() const { return empty_count_ > 0; }

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
  columns.CopyIds(out);  // the index is built from the payload's ids
  std::vector<format::DuplicateId> dups;
  std::span<const uint8_t> payload;
  std::optional<std::array<uint8_t, 16>> pieces_hash;
  if (pieces != nullptr) {
    // Every byte before the index is final: it is hashed while the index
    // is built.
    pieces->clear();
    columns.PayloadPieces(out, out.payload, pieces);
    format::PiecesHasher hasher;
    internal::RunPair(
        n >= internal::kMinTracksForTwoThreads && std::thread::hardware_concurrency() >= 2,
        [&] { payload = builder->Finish(&dups, {}, columns.id_hashes()); },
        [&] { hasher.UpdateBefore(*pieces, out.index); });
    if (dups.empty()) {
      hasher.UpdateFrom(*pieces, out.index);
      pieces_hash = hasher.Finish();
    }
  } else {
    payload = builder->Finish(&dups, {}, columns.id_hashes());
    columns.FillPayload(out);
  }
  if (dups.empty()) {
    *sealed = pieces_hash ? format::Seal(payload, n, *pieces_hash, result)
                          : format::Seal(payload, n, result);
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

// Writes the sink's columns as the snapshot file `snapshot_path`: empty ids
// and duplicates are reported as the writer reports them.
Result<WriteResult> WriteSinkToFile(ColumnSink* sink, const std::string& source,
                                    const std::string& snapshot_path,
                                    const WriteOptions& write_options) {
  if (Status s = sink->EmptyIdError(); !s.ok()) return s;
  format::PayloadBuilder builder;
  SnapshotWriter writer;
  format::SealedPayload sealed;
  EncodedView image;
  WriteResult result;
  // The file is written from the columns where they are: the payload's
  // pages for them are never touched, which saves a copy of the library
  // and as many fresh pages.
  std::vector<ConstBytes> pieces;
  if (Status s = EncodeColumns(sink, write_options.duplicates, source, &builder, &writer, &sealed,
                               &pieces, &image, &result);
      !s.ok()) {
    return s;
  }
  result.empty_ids_dropped = sink->empty_ids_dropped();
  if (pieces.empty()) pieces.push_back({image.payload.data(), image.payload.size()});
  pieces.insert(pieces.begin(), ConstBytes{image.header.data(), image.header.size()});
  if (Status s = WriteFileAtomically(write_options.env, snapshot_path, pieces, write_options.sync);
      !s.ok()) {
    return s;
  }
  return result;
}

// Plain JSON files at least this large are parsed in two halves at once.
constexpr uint64_t kHalvesFromBytes = uint64_t{16} << 20;

// Where a plain JSON file of `size` bytes splits into two parts at a record
// boundary near its middle: the first part ends after a '}' that a ',' and
// a '{' follow (with blanks between), the second starts at that '{'.
// Nothing proves the '}' ends a record rather than a nested object or lies
// inside a string; the parse of the halves does (see ParseInHalves).
struct Split {
  uint64_t first_end = 0;
  uint64_t second_begin = 0;
};

std::optional<Split> FindSplit(Env* env, const std::string& path, uint64_t size) {
  std::unique_ptr<SequentialFile> file;
  if (!env->NewSequentialFile(path, &file).ok()) return std::nullopt;
  std::string head(2, '\0');
  std::string probe(size_t{1} << 20, '\0');
  const uint64_t at = size / 2;
  size_t head_got = 0, probe_got = 0;
  const bool read = file->Read(head.data(), 2, &head_got).ok() && head_got == 2 &&
                    file->Skip(at - 2).ok() &&
                    file->Read(probe.data(), probe.size(), &probe_got).ok() && probe_got > 0;
  file.reset();
  if (!read || (static_cast<uint8_t>(head[0]) == 0x1f && static_cast<uint8_t>(head[1]) == 0x8b)) {
    return std::nullopt;  // gzip: one stream
  }
  auto blank = [](char c) { return c == ' ' || c == '\n' || c == '\r' || c == '\t'; };
  for (size_t i = 0; i < probe.size(); ++i) {
    if (probe[i] != '}') continue;
    size_t k = i + 1;
    while (k < probe.size() && blank(probe[k])) ++k;
    if (k >= probe.size() || probe[k] != ',') continue;
    ++k;
    while (k < probe.size() && blank(probe[k])) ++k;
    if (k >= probe.size() || probe[k] != '{') continue;
    return Split{at + i + 1, at + k};
  }
  return std::nullopt;
}

// Parses the two halves of the file at once, the second on a thread of its
// own, into `sink` (the first half's) and then appends the second's columns.
// Any failure, and any case whose message or record positions need the
// whole file in one pass (an error, empty ids, a library too large), is
// false: the caller then parses the file in one pass, which gives exactly
// the result and the error it always gives. So a split that was not a
// record boundary costs time, never a different outcome.
bool ParseInHalves(Env* env, const std::string& path, uint64_t size, const Split& split,
                   bool drop_empty_ids, const internal::JsonWindows& windows, ColumnSink* sink) {
  Result<std::unique_ptr<internal::JsonInput>> first =
      internal::JsonInput::OpenRange(env, path, 0, split.first_end, "", "]");
  Result<std::unique_ptr<internal::JsonInput>> second =
      internal::JsonInput::OpenRange(env, path, split.second_begin, size, "[", "");
  if (!first.ok() || !second.ok()) return false;
  ColumnSink second_sink(path, kMaxSnapshotPayloadBytes, drop_empty_ids);
  Status second_status;
  std::thread second_parser(
      [&] { second_status = internal::ReadJsonRecords(second->get(), &second_sink); });
  // Progress is reported by the first half only (on the caller's thread).
  const Status first_status = internal::ReadJsonRecords(first->get(), sink, windows);
  second_parser.join();
  if (!first_status.ok() || !second_status.ok()) return false;
  if (sink->saw_empty_ids() || second_sink.saw_empty_ids()) return false;
  if (sink->columns.payload_bytes() + second_sink.columns.payload_bytes() >
      kMaxSnapshotPayloadBytes) {
    return false;
  }
  sink->columns.Absorb(&second_sink.columns);
  return true;
}

}  // namespace

Result<WriteResult> ImportJsonToSnapshot(const std::string& json_path,
                                         const std::string& snapshot_path,
                                         const JsonImportOptions& import_options,
                                         const WriteOptions& write_options) try {
  Env* env = import_options.env != nullptr  ? import_options.env
             : write_options.env != nullptr ? write_options.env
                                            : Env::Default();
  Result<std::unique_ptr<internal::JsonInput>> input =
      internal::JsonInput::Open(json_path, import_options, env);
  if (!input.ok()) return input.status();
  auto sink = std::make_unique<ColumnSink>(json_path, kMaxSnapshotPayloadBytes,
                                           write_options.drop_empty_ids);
  // A large plain file is parsed on both cores; anything out of the
  // ordinary goes through the one-pass parse below instead.
  const uint64_t size = (*input)->size_hint();
  internal::JsonWindows windows;
  windows.progress = &import_options.progress;
  bool parsed = false;
  if (size >= kHalvesFromBytes && size <= import_options.max_input_bytes &&
      std::thread::hardware_concurrency() > 1) {
    if (std::optional<Split> split = FindSplit(env, json_path, size)) {
      parsed = ParseInHalves(env, json_path, size, *split, write_options.drop_empty_ids, windows,
                             sink.get());
      if (!parsed) {
        sink = std::make_unique<ColumnSink>(json_path, kMaxSnapshotPayloadBytes,
                                            write_options.drop_empty_ids);
      }
    }
  }
  if (!parsed) {
    if (Status s = internal::ReadJsonRecords(input->get(), sink.get(), windows); !s.ok()) return s;
  }
  input->reset();  // its window is not needed while the payload is built
  return WriteSinkToFile(sink.get(), json_path, snapshot_path, write_options);
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(json_path, "out of memory");
}

Result<CommitStats> ImportJsonToStore(Store& store, const std::string& json_path,
                                      const JsonImportOptions& import_options,
                                      const CommitOptions& commit_options) {
  return internal::ImportJsonToStore(store, json_path, import_options, commit_options, {});
}

Result<CommitStats> internal::ImportJsonToStore(Store& store, const std::string& json_path,
                                                const JsonImportOptions& import_options,
                                                const CommitOptions& commit_options,
                                                const StoreImportHooks& hooks) try {
  Env* env =
      import_options.env != nullptr ? import_options.env : internal::StoreAccess::GetEnv(store);
  Result<std::unique_ptr<internal::JsonInput>> input =
      internal::JsonInput::Open(json_path, import_options, env);
  if (!input.ok()) return input.status();
  format::PayloadBuilder builder;
  SnapshotWriter writer;
  format::SealedPayload sealed;
  ColumnSink sink(json_path, internal::StoreAccess::MaxFragmentBytes(store),
                  commit_options.drop_empty_ids);
  // The parse runs inside the store's commit, under its writer lock: each
  // fragment goes to the store as soon as its columns are full.
  auto produce = [&](const internal::AddFragmentFn& add) -> Status {
    if (hooks.under_lock) {
      if (Status s = hooks.under_lock(); !s.ok()) return s;
    }
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
  return internal::StoreAccess::ReplaceStreaming(store, produce, commit_options,
                                                 hooks.inherit_state);
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(json_path, "out of memory");
}

// --- ColumnSnapshotWriter (src/column_writer.h) ------------------------------

namespace internal {

struct ColumnSnapshotWriter::State {
  State(std::string name, bool drop_empty_ids)
      : source(std::move(name)), sink(source, kMaxSnapshotPayloadBytes, drop_empty_ids) {
    // Its callers hold the whole input in memory already (a Python list of
    // dicts): 2 MiB pages fill faster, and their slack is small beside it.
    sink.columns.UseHugePages();
  }
  std::string source;
  ColumnSink sink;
};

ColumnSnapshotWriter::ColumnSnapshotWriter(std::string source, bool drop_empty_ids)
    : state_(std::make_unique<State>(std::move(source), drop_empty_ids)) {}

ColumnSnapshotWriter::~ColumnSnapshotWriter() = default;

Status ColumnSnapshotWriter::Add(const JsonRecord& record) {
  try {
    return state_->sink.Add(record);
  } catch (const std::bad_alloc&) {
    return Status::ResourceExhausted(state_->source, "out of memory");
  }
}

Result<WriteResult> ColumnSnapshotWriter::Write(const std::string& path,
                                                const WriteOptions& options) try {
  const bool drop = options.drop_empty_ids;
  Result<WriteResult> r = WriteSinkToFile(&state_->sink, state_->source, path, options);
  state_ = std::make_unique<State>(state_->source, drop);
  return r;
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(path, "out of memory");
}

}  // namespace internal

}  // namespace trackstore
