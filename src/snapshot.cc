#include "trackstore/snapshot.h"

#include <cstring>

#include "flatbuffers/flatbuffers.h"
#include "misuse.h"
#include "snapshot_access.h"
#include "snapshot_format.h"
#include "track_generated.h"
#include "trackstore/env.h"

namespace trackstore {

namespace {

// Resolves one StringColumn in O(1): the Verifier has checked that its
// vectors lie in the buffer; here their lengths must fit the track count,
// which is what makes every later read stay in bounds (StringAt checks the
// offsets it reads against the arena size).
bool ResolveStringColumn(const fb::StringColumn* col, uint64_t n, bool has_presence,
                         internal::StringColumnRef* ref) {
  if (col == nullptr || col->offsets()->size() != n + 1) return false;
  if (has_presence != (col->present() != nullptr)) return false;
  if (has_presence && col->present()->size() != format::BitmapBytes(n)) return false;
  ref->offsets = col->offsets()->data();
  ref->bytes = reinterpret_cast<const char*>(col->bytes()->data());
  ref->bytes_size = col->bytes()->size();
  ref->present = has_presence ? col->present()->data() : nullptr;
  return true;
}

// O(n): offsets start at 0, never decrease and end at the arena's size.
bool OffsetsConsistent(const internal::StringColumnRef& col, uint64_t n) {
  const uint32_t* off = col.offsets;
  if (off[0] != 0 || off[n] != col.bytes_size) return false;
  uint32_t decreasing = 0;
  for (uint64_t i = 0; i < n; ++i) decreasing |= off[i] > off[i + 1];  // branch-free: vectorizes
  return decreasing == 0;
}

bool SameColumn(const internal::StringColumnRef& a, const internal::StringColumnRef& b) {
  return a.offsets == b.offsets && a.bytes == b.bytes && a.bytes_size == b.bytes_size &&
         a.present == b.present;
}

// Whether two resolutions of one payload point at the same vectors.
bool SameLayout(const internal::Columns& a, const internal::Columns& b) {
  for (int c = 0; c < kStringFieldCount; ++c) {
    if (!SameColumn(a.strings[c], b.strings[c])) return false;
  }
  return a.count == b.count && SameColumn(a.extras, b.extras) &&
         a.original_pos.values == b.original_pos.values &&
         a.original_pos.present == b.original_pos.present && a.track_hashes == b.track_hashes &&
         a.id_index == b.id_index && a.id_index_size == b.id_index_size &&
         a.delta_targets == b.delta_targets && a.delta_removed == b.delta_removed;
}

}  // namespace

struct TRACKSTORE_HIDDEN Snapshot::Rep {
  std::string path;
  const uint8_t* data = nullptr;
  size_t size = 0;
  std::unique_ptr<ReadOnlyMapping> mapping;  // of a file; null over a buffer
  format::Header header;
  std::string hash_hex;
  std::span<const uint8_t> payload;
  internal::Columns columns;

  Status Corrupt(const std::string& detail) const { return Status::StructureInvalid(path, detail); }
  Status Map(Env* env);  // maps `path` into data/size
  // O(1) in the track count. `trusted`: place the columns from the column
  // directory when there is one (PlaceFromDirectory) instead of verifying
  // every vector's header.
  Status CheckHeaderAndLayout(bool trusted);
  // The Verifier over the whole structure, then every column resolved and
  // its length checked against the track count (and the directory, if any).
  Status ResolveVerified(internal::Columns* out) const;
  bool PlaceFromDirectory();
  bool placed_from_directory = false;
  // O(size): hash and layout invariants. `known_hash`: the payload's hash,
  // computed by whoever just wrote the bytes.
  Status CheckContent(const uint8_t* known_hash = nullptr) const;
};

Status Snapshot::Rep::CheckHeaderAndLayout(bool trusted) {
  Status s = format::DecodeHeader(path, {data, size}, &header);
  if (!s.ok()) return s;
  hash_hex = format::HashToHex(header.content_hash);
  payload = {data + header.payload_offset, header.payload_size};
  if (payload.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return Status::NotSupported(path, "payload over the 2 GiB FlatBuffers limit");
  }
  if (trusted && PlaceFromDirectory()) return Status::OK();
  return ResolveVerified(&columns);
}

Status Snapshot::Rep::ResolveVerified(internal::Columns* out) const {
  internal::Columns& columns = *out;
  // The payload is a fixed set of 18 tables and 47 vectors: the Verifier's
  // cost does not grow with the track count, and its default limits hold.
  flatbuffers::Verifier verifier(payload.data(), payload.size());
  if (!fb::VerifySnapshotBuffer(verifier)) {
    return Corrupt("FlatBuffers verification of the payload failed");
  }
  const fb::Snapshot* root = fb::GetSnapshot(payload.data());
  const uint64_t n = header.track_count;
  if (root->track_count() != n) {
    return Corrupt("payload holds " + std::to_string(root->track_count()) +
                   " tracks, header says " + std::to_string(n));
  }
  const fb::StringColumn* strings[kStringFieldCount] = {root->id(),
                                                        root->name(),
                                                        root->artist(),
                                                        root->album(),
                                                        root->genre(),
                                                        root->year(),
                                                        root->date_added(),
                                                        root->last_modified(),
                                                        root->track_status(),
                                                        root->original_artist(),
                                                        root->original_album(),
                                                        root->year_before_mgu(),
                                                        root->year_set_by_mgu(),
                                                        root->release_year(),
                                                        root->album_artist()};
  columns.count = n;
  for (int c = 0; c < kStringFieldCount; ++c) {
    if (!ResolveStringColumn(strings[c], n, format::ColumnHasPresence(c), &columns.strings[c])) {
      return Corrupt("column '" + std::string(FieldName(static_cast<Field>(c))) +
                     "' does not match the track count");
    }
  }
  if (!ResolveStringColumn(root->extras(), n, false, &columns.extras)) {
    return Corrupt("column 'extras' does not match the track count");
  }
  const fb::IntColumn* pos = root->original_pos();
  if (pos->values()->size() != n || pos->present()->size() != format::BitmapBytes(n)) {
    return Corrupt("column 'original_pos' does not match the track count");
  }
  columns.original_pos = {pos->values()->data(), pos->present()->data()};
  if (root->track_hash()->size() != n) {
    return Corrupt("column 'track_hash' does not match the track count");
  }
  columns.track_hashes = root->track_hash()->data();
  columns.id_index = root->id_index()->data();
  columns.id_index_size = root->id_index()->size();
  if (columns.id_index_size != format::IndexSizeFor(n)) {
    return Corrupt("id index has " + std::to_string(columns.id_index_size) + " slots, expected " +
                   std::to_string(format::IndexSizeFor(n)));
  }
  if (const fb::DeltaRows* delta = root->delta()) {
    if (delta->target()->size() != n || delta->removed()->size() != format::BitmapBytes(n)) {
      return Corrupt("delta rows do not match the track count");
    }
    columns.delta_targets = delta->target()->data();
    columns.delta_removed = delta->removed()->data();
  }
  if (const flatbuffers::Vector<uint64_t>* directory = root->column_bytes()) {
    bool same = directory->size() == format::kStringColumnCount;
    for (int c = 0; same && c < format::kStringColumnCount; ++c) {
      const internal::StringColumnRef& col =
          c == format::kExtrasColumn ? columns.extras : columns.strings[c];
      same = directory->Get(c) == col.bytes_size;
    }
    if (!same) return Corrupt("column directory does not match the columns");
  }
  return Status::OK();
}

namespace {

// Where vector `field` of `table` has its elements, given their number, or
// null when they would not lie wholly in `payload`. Reads the table's field
// only, never the vector.
template <typename T>
const T* PlaceVector(const void* table, flatbuffers::voffset_t field, uint64_t count,
                     std::span<const uint8_t> payload) {
  const uint8_t* at = reinterpret_cast<const flatbuffers::Table*>(table)->GetAddressOf(field);
  if (at == nullptr) return nullptr;
  // The Verifier checked that the offset leads into the payload.
  const uint64_t start = static_cast<uint64_t>(at - payload.data()) +
                         flatbuffers::ReadScalar<flatbuffers::uoffset_t>(at) +
                         sizeof(flatbuffers::uoffset_t);
  if (start > payload.size() || count > (payload.size() - start) / sizeof(T) ||
      start % alignof(T) != 0) {
    return nullptr;
  }
  return reinterpret_cast<const T*>(payload.data() + start);
}

// The Verifier's checks of a table and of its offset fields (vtable and
// targets in bounds), without following the offsets into the vectors.
bool VerifyTableOffsets(const void* table, std::initializer_list<flatbuffers::voffset_t> required,
                        std::initializer_list<flatbuffers::voffset_t> optional,
                        flatbuffers::Verifier& verifier) {
  const auto* t = reinterpret_cast<const flatbuffers::Table*>(table);
  if (!t->VerifyTableStart(verifier)) return false;
  for (flatbuffers::voffset_t f : required) {
    if (!t->VerifyOffsetRequired(verifier, f)) return false;
  }
  for (flatbuffers::voffset_t f : optional) {
    if (!t->VerifyOffset(verifier, f)) return false;
  }
  return verifier.EndTable();
}

}  // namespace

// The trusted open's fast path. The tables, and the directory written right
// after them, sit in the payload's first page or two; every vector's length
// follows from the track count and the directory, so no column's first page
// is touched here (on this VM each first touch of a page costs 10-20 µs, and
// there are 47 vectors). Memory safety is the same as the Verifier's path:
// each vector is placed wholly inside the payload. Returns false, to take
// the Verifier's path, when anything is missing or out of place.
bool Snapshot::Rep::PlaceFromDirectory() {
  using fb::Snapshot;
  if (payload.size() < 2 * sizeof(flatbuffers::uoffset_t) ||
      !flatbuffers::BufferHasIdentifier(payload.data(), format::kFileIdentifier)) {
    return false;
  }
  flatbuffers::Verifier verifier(payload.data(), payload.size());
  const flatbuffers::uoffset_t root_at = verifier.VerifyOffset(0);
  if (root_at == 0) return false;
  const fb::Snapshot* root = fb::GetSnapshot(payload.data());
  static_assert(Snapshot::VT_ALBUM_ARTIST == Snapshot::VT_ID + 2 * (kStringFieldCount - 1));
  auto string_field = [](int c) {
    return c == format::kExtrasColumn
               ? static_cast<flatbuffers::voffset_t>(Snapshot::VT_EXTRAS)
               : static_cast<flatbuffers::voffset_t>(Snapshot::VT_ID + 2 * c);
  };
  const auto* t = reinterpret_cast<const flatbuffers::Table*>(root);
  if (!t->VerifyTableStart(verifier) ||
      !t->VerifyField<uint64_t>(verifier, Snapshot::VT_TRACK_COUNT, alignof(uint64_t)) ||
      !t->VerifyOffsetRequired(verifier, Snapshot::VT_ORIGINAL_POS) ||
      !t->VerifyOffsetRequired(verifier, Snapshot::VT_ID_INDEX) ||
      !t->VerifyOffsetRequired(verifier, Snapshot::VT_TRACK_HASH) ||
      !t->VerifyOffset(verifier, Snapshot::VT_COLUMN_BYTES) ||
      !t->VerifyOffset(verifier, Snapshot::VT_DELTA) ||
      !verifier.VerifyVector(root->column_bytes())) {
    return false;
  }
  for (int c = 0; c < format::kStringColumnCount; ++c) {
    if (!t->VerifyOffsetRequired(verifier, string_field(c))) return false;
  }
  if (!verifier.EndTable()) return false;
  const flatbuffers::Vector<uint64_t>* directory = root->column_bytes();
  const uint64_t n = header.track_count;
  if (directory == nullptr || directory->size() != format::kStringColumnCount ||
      root->track_count() != n) {
    return false;
  }

  internal::Columns placed;
  placed.count = n;
  const uint64_t bitmap = format::BitmapBytes(n);
  for (int c = 0; c < format::kStringColumnCount; ++c) {
    const void* table = t->GetPointer<const flatbuffers::Table*>(string_field(c));
    const bool has_presence = format::ColumnHasPresence(c);
    if (!VerifyTableOffsets(table, {fb::StringColumn::VT_OFFSETS, fb::StringColumn::VT_BYTES},
                            {fb::StringColumn::VT_PRESENT}, verifier)) {
      return false;
    }
    internal::StringColumnRef ref;
    ref.bytes_size = directory->Get(c);
    ref.offsets = PlaceVector<uint32_t>(table, fb::StringColumn::VT_OFFSETS, n + 1, payload);
    ref.bytes = PlaceVector<char>(table, fb::StringColumn::VT_BYTES, ref.bytes_size, payload);
    ref.present = PlaceVector<uint8_t>(table, fb::StringColumn::VT_PRESENT, bitmap, payload);
    if (ref.offsets == nullptr || ref.bytes == nullptr ||
        has_presence != (ref.present != nullptr)) {
      return false;
    }
    if (!has_presence) ref.present = nullptr;
    (c == format::kExtrasColumn ? placed.extras : placed.strings[c]) = ref;
  }
  const void* pos = t->GetPointer<const flatbuffers::Table*>(Snapshot::VT_ORIGINAL_POS);
  if (!VerifyTableOffsets(pos, {fb::IntColumn::VT_VALUES, fb::IntColumn::VT_PRESENT}, {},
                          verifier)) {
    return false;
  }
  placed.original_pos = {PlaceVector<int64_t>(pos, fb::IntColumn::VT_VALUES, n, payload),
                         PlaceVector<uint8_t>(pos, fb::IntColumn::VT_PRESENT, bitmap, payload)};
  placed.track_hashes = PlaceVector<uint64_t>(root, Snapshot::VT_TRACK_HASH, n, payload);
  placed.id_index_size = format::IndexSizeFor(n);
  placed.id_index =
      PlaceVector<uint64_t>(root, Snapshot::VT_ID_INDEX, placed.id_index_size, payload);
  if (placed.original_pos.values == nullptr || placed.original_pos.present == nullptr ||
      placed.track_hashes == nullptr || placed.id_index == nullptr) {
    return false;
  }
  if (const void* delta = t->GetPointer<const flatbuffers::Table*>(Snapshot::VT_DELTA)) {
    if (!VerifyTableOffsets(delta, {fb::DeltaRows::VT_TARGET, fb::DeltaRows::VT_REMOVED}, {},
                            verifier)) {
      return false;
    }
    placed.delta_targets = PlaceVector<uint64_t>(delta, fb::DeltaRows::VT_TARGET, n, payload);
    placed.delta_removed = PlaceVector<uint8_t>(delta, fb::DeltaRows::VT_REMOVED, bitmap, payload);
    if (placed.delta_targets == nullptr || placed.delta_removed == nullptr) return false;
  }
  columns = placed;
  placed_from_directory = true;
  return true;
}

Status Snapshot::Rep::CheckContent(const uint8_t* known_hash) const {
  if (placed_from_directory) {
    // The directory was trusted at open; now check it against the vectors.
    internal::Columns exact;
    if (Status s = ResolveVerified(&exact); !s.ok()) return s;
    if (!SameLayout(exact, columns)) return Corrupt("column directory does not match the columns");
  }
  std::array<uint8_t, 16> actual;
  if (known_hash != nullptr) {
    std::memcpy(actual.data(), known_hash, actual.size());
  } else {
    actual = format::HashPayload(payload);
  }
  if (actual != header.content_hash) {
    return Status::HashMismatch(
        path, "header says " + hash_hex + ", content hashes to " + format::HashToHex(actual));
  }
  // A file whose hash matches was written by a trackstore writer or crafted
  // with intent; the checks below keep the second kind honest too.
  const uint64_t n = columns.count;
  for (int c = 0; c < kStringFieldCount; ++c) {
    if (!OffsetsConsistent(columns.strings[c], n)) {
      return Corrupt("offsets of column '" + std::string(FieldName(static_cast<Field>(c))) +
                     "' are not monotonic");
    }
  }
  if (!OffsetsConsistent(columns.extras, n)) return Corrupt("offsets of 'extras' not monotonic");
  uint64_t used = 0, out_of_range = 0;
  for (uint64_t i = 0; i < columns.id_index_size; ++i) {
    // A slot is empty only when all of it is 0 (the probes stop there): a
    // tag with track 0 would name track -1.
    const uint64_t slot = columns.id_index[i];
    const uint64_t track = slot & 0xffffffff;
    used += slot != 0;
    out_of_range |= slot != 0 && (track == 0 || track > n);
  }
  if (out_of_range != 0 || used != n) return Corrupt("id index does not match the tracks");
  return Status::OK();
}

Snapshot::Snapshot(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Snapshot::Snapshot(Snapshot&&) noexcept = default;
Snapshot& Snapshot::operator=(Snapshot&&) noexcept = default;
Snapshot::~Snapshot() = default;

// Maps the whole file read-only. The Env opens it non-blocking and maps
// nothing but a regular file, so a FIFO or device neither blocks nor maps.
Status Snapshot::Rep::Map(Env* env) {
  Status s = env->MapReadOnlyFile(path, &mapping);
  // Not a regular file (a directory, FIFO or device): the message already
  // names the path and says what it is.
  if (s.IsInvalidArgument()) return Status::NotASnapshot(s.message());
  if (!s.ok()) return s;
  data = mapping->data();
  size = mapping->size();
  return Status::OK();
}

Result<Snapshot> Snapshot::Make(std::unique_ptr<Rep> rep, bool verify) {
  Status s = rep->CheckHeaderAndLayout(/*trusted=*/!verify);
  if (s.ok() && verify) s = rep->CheckContent();
  if (!s.ok()) return s;
  return Snapshot(std::move(rep));
}

Result<Snapshot> Snapshot::OpenFile(const std::string& path, bool verify, Env* env) {
  auto rep = std::make_unique<Rep>();
  rep->path = path;
  Status s = rep->Map(env != nullptr ? env : Env::Default());
  if (!s.ok()) return s;
  return Make(std::move(rep), verify);
}

Result<Snapshot> Snapshot::Open(const std::string& path) { return OpenFile(path, true, nullptr); }
Result<Snapshot> Snapshot::Open(const std::string& path, Env* env) {
  return OpenFile(path, true, env);
}
Result<Snapshot> Snapshot::OpenTrusted(const std::string& path) {
  return OpenFile(path, false, nullptr);
}
Result<Snapshot> Snapshot::OpenTrusted(const std::string& path, Env* env) {
  return OpenFile(path, false, env);
}

Result<Snapshot> Snapshot::FromBuffer(const void* data, size_t size, std::string_view name,
                                      bool verify) {
  if (reinterpret_cast<uintptr_t>(data) % 8 != 0) {
    return Status::InvalidArgument(name, "snapshot bytes must be 8-byte aligned");
  }
  auto rep = std::make_unique<Rep>();
  rep->path = std::string(name);
  rep->data = static_cast<const uint8_t*>(data);
  rep->size = size;
  return Make(std::move(rep), verify);
}

Result<Snapshot> internal::SnapshotAccess::FromBufferHashed(
    const void* data, size_t size, std::string_view name,
    const std::array<uint8_t, 16>& payload_hash) {
  Result<Snapshot> snapshot = Snapshot::FromBuffer(data, size, name, /*verify=*/false);
  if (!snapshot.ok()) return snapshot;
  if (Status s = snapshot->rep_->CheckContent(payload_hash.data()); !s.ok()) return s;
  return snapshot;
}

std::span<const uint8_t> internal::SnapshotAccess::FileBytes(const Snapshot& snapshot) {
  return {snapshot.rep_->data, snapshot.rep_->size};
}

// Every method checks that the Snapshot was not moved from (one compare):
// a call on a moved-from Snapshot aborts with its name instead of reading
// through a null pointer.
Status Snapshot::Verify() const {
  internal::CheckNotMovedFrom(rep_, "Snapshot::Verify");
  return rep_->CheckContent();
}

uint64_t Snapshot::size() const {
  internal::CheckNotMovedFrom(rep_, "Snapshot::size");
  return rep_->columns.count;
}
const internal::Columns* Snapshot::columns() const {
  internal::CheckNotMovedFrom(rep_, "Snapshot::operator[] or iteration");
  return &rep_->columns;
}
const std::string& Snapshot::content_hash() const {
  internal::CheckNotMovedFrom(rep_, "Snapshot::content_hash");
  return rep_->hash_hex;
}
const std::string& Snapshot::path() const {
  internal::CheckNotMovedFrom(rep_, "Snapshot::path");
  return rep_->path;
}
uint64_t Snapshot::file_size() const {
  internal::CheckNotMovedFrom(rep_, "Snapshot::file_size");
  return rep_->size;
}
uint32_t Snapshot::format_version() const {
  internal::CheckNotMovedFrom(rep_, "Snapshot::format_version");
  return rep_->header.format_version;
}
bool Snapshot::is_delta() const {
  internal::CheckNotMovedFrom(rep_, "Snapshot::is_delta");
  return rep_->columns.delta_targets != nullptr;
}

StringColumnView Snapshot::column(Field field) const {
  internal::CheckNotMovedFrom(rep_, "Snapshot::column");
  const internal::Columns& c = rep_->columns;
  if (field == Field::kExtras) return StringColumnView(&c.extras, c.count);
  const int i = static_cast<int>(field);
  // kOriginalPos (an integer) or a value outside the enum: no string column
  // to view, so an empty view rather than a read past the column array.
  if (i < 0 || i >= kStringFieldCount) return StringColumnView();
  return StringColumnView(&c.strings[i], c.count);
}

uint64_t internal::FindRow(const Columns& c, std::string_view id, uint64_t h) {
  const uint64_t mask = c.id_index_size - 1;
  const internal::StringColumnRef& ids = c.strings[static_cast<int>(Field::kId)];
  // Bounded by the table size so that a damaged index (OpenTrusted) cannot
  // loop forever; a verified index always has an empty slot.
  uint64_t pos = h & mask;
  for (uint64_t probes = 0; probes < c.id_index_size; ++probes, pos = (pos + 1) & mask) {
    const uint64_t slot = c.id_index[pos];
    if (slot == 0) break;
    if ((slot >> 32) != (h >> 32)) continue;
    const uint64_t track = (slot & 0xffffffff) - 1;
    if (track < c.count && internal::StringAt(ids, track) == id) return track;
  }
  return kNoRow;
}

std::optional<TrackView> Snapshot::Find(std::string_view id) const {
  internal::CheckNotMovedFrom(rep_, "Snapshot::Find");
  const uint64_t row = internal::FindRow(rep_->columns, id, format::HashId(id));
  if (row == internal::kNoRow) return std::nullopt;
  return TrackView(&rep_->columns, row);
}

}  // namespace trackstore
