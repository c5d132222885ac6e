#include "snapshot_format.h"

#include <sys/mman.h>
#include <xxh_x86dispatch.h>  // redirects XXH3_* to the AVX2 dispatch entry points

#include <algorithm>
#include <bit>
#include <cstring>
#include <utility>

#include "flatbuffers/flatbuffers.h"
#include "track_generated.h"
#include "trackstore/env.h"

namespace trackstore::format {

static_assert(std::endian::native == std::endian::little,
              "the file format is little-endian; a big-endian port must byte-swap");

namespace {

template <typename T>
void Put(uint8_t* out, size_t at, T value) {
  std::memcpy(out + at, &value, sizeof(T));
}
template <typename T>
T Get(const uint8_t* in, size_t at) {
  T value;
  std::memcpy(&value, in + at, sizeof(T));
  return value;
}

constexpr size_t kChecksumOffset = 56;

}  // namespace

void EncodeHeader(const Header& h, uint8_t out[kHeaderSize]) {
  std::memset(out, 0, kHeaderSize);
  std::memcpy(out, kMagic, sizeof(kMagic));
  Put<uint16_t>(out, 4, h.format_version);
  Put<uint16_t>(out, 6, static_cast<uint16_t>(kHeaderSize));
  Put<uint32_t>(out, 8, h.chunk_count);
  Put<uint32_t>(out, 12, 0);  // flags
  Put<uint64_t>(out, 16, h.payload_offset);
  Put<uint64_t>(out, 24, h.payload_size);
  Put<uint64_t>(out, 32, h.track_count);
  std::memcpy(out + 40, h.content_hash.data(), h.content_hash.size());
  Put<uint64_t>(out, kChecksumOffset, XXH3_64bits(out, kChecksumOffset));
}

Status DecodeHeader(std::string_view name, std::span<const uint8_t> file, Header* h) {
  const uint8_t* p = file.data();
  if (file.empty()) return Status::NotASnapshot(name, "empty file");
  if (file.size() < sizeof(kMagic) || std::memcmp(p, kMagic, sizeof(kMagic)) != 0) {
    return Status::NotASnapshot(name, "no trackstore magic at offset 0");
  }
  if (file.size() < kHeaderSize) {
    return Status::Truncated(name, "file has " + std::to_string(file.size()) +
                                       " bytes, shorter than the " + std::to_string(kHeaderSize) +
                                       "-byte header");
  }
  h->format_version = Get<uint16_t>(p, 4);
  if (h->format_version != kFormatVersion) {
    return Status::VersionUnsupported(name, "format version " + std::to_string(h->format_version) +
                                                ", this build reads " +
                                                std::to_string(kFormatVersion));
  }
  if (Get<uint64_t>(p, kChecksumOffset) != XXH3_64bits(p, kChecksumOffset)) {
    return Status::StructureInvalid(name, "header checksum mismatch (damaged header)");
  }
  h->chunk_count = Get<uint32_t>(p, 8);
  h->payload_offset = Get<uint64_t>(p, 16);
  h->payload_size = Get<uint64_t>(p, 24);
  h->track_count = Get<uint64_t>(p, 32);
  std::memcpy(h->content_hash.data(), p + 40, h->content_hash.size());
  if (Get<uint16_t>(p, 6) != kHeaderSize || h->payload_offset != kHeaderSize) {
    return Status::StructureInvalid(name, "unexpected header or payload offset");
  }
  if (h->chunk_count != 1) {
    return Status::NotSupported(
        name, std::to_string(h->chunk_count) + " payload chunks; this build reads one");
  }
  const uint64_t have = file.size() - kHeaderSize;
  if (h->payload_size > have) {
    return Status::Truncated(name, "header says " + std::to_string(kHeaderSize + h->payload_size) +
                                       " bytes, file has " + std::to_string(file.size()));
  }
  if (h->payload_size < have) {
    return Status::StructureInvalid(
        name, std::to_string(have - h->payload_size) + " trailing bytes after the payload");
  }
  return Status::OK();
}

namespace {

// A hash in canonical (big-endian) byte order.
std::array<uint8_t, 16> Canonical(XXH128_hash_t hash) {
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, hash);
  std::array<uint8_t, 16> out;
  std::memcpy(out.data(), canonical.digest, out.size());
  return out;
}

// Where `at` lies in `pieces`: the piece and the offset in it ({size, 0}
// when in none).
std::pair<size_t, size_t> Locate(std::span<const ConstBytes> pieces, const void* at) {
  const auto a = reinterpret_cast<uintptr_t>(at);
  for (size_t k = 0; k < pieces.size(); ++k) {
    const auto begin = reinterpret_cast<uintptr_t>(pieces[k].data);
    if (a >= begin && a - begin < pieces[k].size) return {k, a - begin};
  }
  return {pieces.size(), 0};
}

}  // namespace

std::array<uint8_t, 16> HashPayload(std::span<const uint8_t> payload) {
  return Canonical(XXH3_128bits(payload.data(), payload.size()));
}

PiecesHasher::PiecesHasher() : state_(XXH3_createState()) {
  if (state_ == nullptr) throw std::bad_alloc();
  XXH3_128bits_reset(state_);
}

PiecesHasher::~PiecesHasher() { XXH3_freeState(state_); }

void PiecesHasher::UpdateBefore(std::span<const ConstBytes> pieces, const void* at) {
  const auto [split, offset] = Locate(pieces, at);
  for (size_t k = 0; k < split; ++k) XXH3_128bits_update(state_, pieces[k].data, pieces[k].size);
  if (split < pieces.size()) XXH3_128bits_update(state_, pieces[split].data, offset);
}

void PiecesHasher::UpdateFrom(std::span<const ConstBytes> pieces, const void* at) {
  const auto [split, offset] = Locate(pieces, at);
  if (split == pieces.size()) return;
  XXH3_128bits_update(state_, static_cast<const uint8_t*>(pieces[split].data) + offset,
                      pieces[split].size - offset);
  for (size_t k = split + 1; k < pieces.size(); ++k) {
    XXH3_128bits_update(state_, pieces[k].data, pieces[k].size);
  }
}

std::array<uint8_t, 16> PiecesHasher::Finish() { return Canonical(XXH3_128bits_digest(state_)); }

std::string HashToHex(const std::array<uint8_t, 16>& hash) {
  static constexpr char kDigits[] = "0123456789abcdef";
  std::string hex(32, '0');
  for (size_t i = 0; i < hash.size(); ++i) {
    hex[2 * i] = kDigits[hash[i] >> 4];
    hex[2 * i + 1] = kDigits[hash[i] & 15];
  }
  return hex;
}

uint64_t HashId(std::string_view id) { return XXH3_64bits(id.data(), id.size()); }

uint64_t PayloadBytesOf(const TrackRecord& t) {
  uint64_t bytes = kPayloadBytesPerTrack + t.id.size() + t.name.size() + t.artist.size() +
                   t.album.size() + t.extras_json.size();
  for (int i = kRequiredStringFieldCount; i < kStringFieldCount; ++i) {
    if (const std::string* v = t.StringField(i)) bytes += v->size();
  }
  return bytes;
}

uint64_t IndexSizeFor(uint64_t track_count) {
  // Load factor between 1/4 and 1/2: short probe runs, always an empty slot.
  return std::bit_ceil(std::max<uint64_t>(2 * track_count, 2));
}

namespace {

// Big builder buffers come from mmap with transparent huge pages: first
// touch of fresh 4 KiB pages costs 12-19 µs each on the development VM (measured),
// so a 300 MB payload would spend most of its time in page faults.
class LargeBufferAllocator final : public flatbuffers::Allocator {
 public:
  uint8_t* allocate(size_t size) override {
    if (size < kLarge) return new uint8_t[size];
    void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (p == MAP_FAILED) throw std::bad_alloc();
    (void)::madvise(p, size, MADV_HUGEPAGE);
    return static_cast<uint8_t*>(p);
  }
  void deallocate(uint8_t* p, size_t size) override {
    if (size < kLarge) {
      delete[] p;
    } else {
      ::munmap(p, size);
    }
  }

 private:
  static constexpr size_t kLarge = size_t{2} << 20;
};

struct ColumnVectors {
  flatbuffers::uoffset_t offsets = 0, bytes = 0, present = 0;
};

}  // namespace

struct PayloadBuilder::Rep {
  LargeBufferAllocator allocator;
  std::unique_ptr<flatbuffers::FlatBufferBuilder> fbb;
  size_t capacity = 0;

  PayloadShape shape;
  std::array<ColumnVectors, kStringColumnCount> columns;
  flatbuffers::uoffset_t pos_values = 0, pos_present = 0, index = 0, track_hashes = 0;
  flatbuffers::uoffset_t delta_targets = 0, delta_removed = 0;
  PayloadOut out;
  uint64_t* index_slots = nullptr;
  uint64_t index_size = 0;
  // The elements of every vector, as (first byte, size), for Relocate.
  std::vector<std::pair<const uint8_t*, uint64_t>> elements;

  // Address of the elements of a vector created earlier, valid until the
  // builder grows (it does not, while filling: Start sized it).
  template <typename T>
  T* Data(flatbuffers::uoffset_t vec) {
    uint8_t* end = fbb->GetCurrentBufferPointer() + fbb->GetSize();
    return reinterpret_cast<T*>(end - vec + sizeof(flatbuffers::uoffset_t));
  }
  flatbuffers::uoffset_t Vector(size_t count, size_t elem_size) {
    uint8_t* unused;
    return fbb->CreateUninitializedVector(count, elem_size, &unused);
  }

  // The steps of Start, in order, for `shape` (set first).
  Status Reserve();
  void CreateVectors();
  void CreateTables();
  void PointAtVectors();
  void ListElements();
};

PayloadBuilder::PayloadBuilder() : rep_(std::make_unique<Rep>()) {}
PayloadBuilder::~PayloadBuilder() = default;

Status PayloadBuilder::Start(const PayloadShape& shape, PayloadOut* out) {
  Rep& r = *rep_;
  r.shape = shape;
  r.index_size = IndexSizeFor(shape.track_count);
  if (Status s = r.Reserve(); !s.ok()) return s;
  r.CreateVectors();
  r.CreateTables();
  r.PointAtVectors();
  r.ListElements();
  *out = r.out;
  return Status::OK();
}

// A builder with room for the whole payload, so that it never grows (and
// moves the vectors) while they are filled.
Status PayloadBuilder::Rep::Reserve() {
  const uint64_t n = shape.track_count;
  const uint64_t bitmap = BitmapBytes(n);
  // Every vector costs at most its elements, a length prefix and 7 bytes of
  // alignment; tables and vtables fit in the fixed slack.
  uint64_t estimate = 4096 + 3 * 16 * kStringColumnCount;
  for (int c = 0; c < kStringColumnCount; ++c) {
    estimate += (n + 1) * 4 + shape.column_bytes[c] + (ColumnHasPresence(c) ? bitmap : 0);
  }
  estimate += n * 8 + bitmap + index_size * 8 + n * 8;
  if (shape.delta) estimate += n * 8 + bitmap + 64;
  if (n >= 0xffffffffULL || estimate >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return Status::NotSupported("snapshot", "payload of about " + std::to_string(estimate) +
                                                " bytes exceeds the 2 GiB FlatBuffers limit");
  }
  if (!fbb || capacity < estimate) {
    fbb.reset();  // free the old buffer before taking a bigger one
    capacity = estimate + estimate / 8;
    fbb = std::make_unique<flatbuffers::FlatBufferBuilder>(capacity, &allocator, false);
  } else {
    fbb->Clear();
  }
  return Status::OK();
}

// A fixed creation order keeps the bytes deterministic. The builder grows
// down, so the last vector created lies first: this order puts the string
// columns first in the payload, id column leading, and the hash index
// last, which is the order a merge fills them in (PayloadHasher). A delta
// fragment's rows come after the index.
void PayloadBuilder::Rep::CreateVectors() {
  const uint64_t n = shape.track_count;
  const uint64_t bitmap = BitmapBytes(n);
  if (shape.delta) {
    delta_removed = Vector(bitmap, 1);
    delta_targets = Vector(n, sizeof(uint64_t));
  }
  index = Vector(index_size, sizeof(uint64_t));
  track_hashes = Vector(n, sizeof(uint64_t));
  pos_values = Vector(n, sizeof(int64_t));
  pos_present = Vector(bitmap, 1);
  for (int c = kStringColumnCount - 1; c >= 0; --c) {
    columns[c].present = ColumnHasPresence(c) ? Vector(bitmap, 1) : 0;
  }
  for (int c = kStringColumnCount - 1; c >= 0; --c) {
    columns[c].bytes = Vector(shape.column_bytes[c], 1);
    columns[c].offsets = Vector(n + 1, sizeof(uint32_t));
  }
}

// The tables only point at the vectors, so they are laid out now and the
// payload's every byte outside the vectors' elements is final from here.
void PayloadBuilder::Rep::CreateTables() {
  namespace fb = trackstore::fb;
  flatbuffers::FlatBufferBuilder& b = *fbb;
  const auto directory = b.CreateVector(shape.column_bytes.data(), shape.column_bytes.size());
  std::array<flatbuffers::Offset<fb::StringColumn>, kStringColumnCount> tables;
  for (int c = 0; c < kStringColumnCount; ++c) {
    const ColumnVectors& v = columns[c];
    tables[c] =
        fb::CreateStringColumn(b, flatbuffers::Offset<flatbuffers::Vector<uint32_t>>(v.offsets),
                               flatbuffers::Offset<flatbuffers::Vector<uint8_t>>(v.bytes),
                               flatbuffers::Offset<flatbuffers::Vector<uint8_t>>(v.present));
  }
  const auto pos =
      fb::CreateIntColumn(b, flatbuffers::Offset<flatbuffers::Vector<int64_t>>(pos_values),
                          flatbuffers::Offset<flatbuffers::Vector<uint8_t>>(pos_present));
  flatbuffers::Offset<fb::DeltaRows> delta;
  if (shape.delta) {
    delta =
        fb::CreateDeltaRows(b, flatbuffers::Offset<flatbuffers::Vector<uint64_t>>(delta_targets),
                            flatbuffers::Offset<flatbuffers::Vector<uint8_t>>(delta_removed));
  }
  const auto root = fb::CreateSnapshot(
      b, shape.track_count, tables[0], tables[1], tables[2], tables[3], tables[4], tables[5],
      tables[6], tables[7], tables[8], tables[9], tables[10], tables[11], tables[12], tables[13],
      tables[14], pos, tables[kExtrasColumn],
      flatbuffers::Offset<flatbuffers::Vector<uint64_t>>(index),
      flatbuffers::Offset<flatbuffers::Vector<uint64_t>>(track_hashes), directory, delta);
  b.Finish(root, kFileIdentifier);
}

// `out` points at the vectors' elements, with the bitmaps cleared: every
// track starts absent.
void PayloadBuilder::Rep::PointAtVectors() {
  const uint64_t bitmap = BitmapBytes(shape.track_count);
  for (int c = 0; c < kStringColumnCount; ++c) {
    StringColumnOut& col = out.strings[c];
    col.offsets = Data<uint32_t>(columns[c].offsets);
    col.offsets[0] = 0;
    col.bytes = Data<char>(columns[c].bytes);
    col.present = columns[c].present ? Data<uint8_t>(columns[c].present) : nullptr;
    if (col.present) std::memset(col.present, 0, bitmap);
  }
  out.pos_values = Data<int64_t>(pos_values);
  out.pos_present = Data<uint8_t>(pos_present);
  std::memset(out.pos_present, 0, bitmap);
  out.track_hashes = Data<uint64_t>(track_hashes);
  out.delta_targets = shape.delta ? Data<uint64_t>(delta_targets) : nullptr;
  out.delta_removed = shape.delta ? Data<uint8_t>(delta_removed) : nullptr;
  if (shape.delta) std::memset(out.delta_removed, 0, bitmap);
  out.payload = {fbb->GetBufferPointer(), fbb->GetSize()};
  index_slots = Data<uint64_t>(index);
  out.index = index_slots;
}

// Every vector's elements in address order, for Relocate.
void PayloadBuilder::Rep::ListElements() {
  const uint64_t n = shape.track_count;
  const uint64_t bitmap = BitmapBytes(n);
  elements.clear();
  auto element = [&](const void* p, uint64_t bytes) {
    if (p != nullptr) elements.emplace_back(static_cast<const uint8_t*>(p), bytes);
  };
  for (int c = 0; c < kStringColumnCount; ++c) {
    element(out.strings[c].offsets, (n + 1) * sizeof(uint32_t));
    element(out.strings[c].bytes, shape.column_bytes[c]);
    element(out.strings[c].present, bitmap);
  }
  element(out.pos_values, n * sizeof(int64_t));
  element(out.pos_present, bitmap);
  element(out.track_hashes, n * sizeof(uint64_t));
  element(index_slots, index_size * sizeof(uint64_t));
  element(out.delta_targets, n * sizeof(uint64_t));
  element(out.delta_removed, bitmap);
  std::sort(elements.begin(), elements.end());
}

void PayloadBuilder::Relocate(uint8_t* place, PayloadOut* out) {
  Rep& r = *rep_;
  const uint8_t* base = r.out.payload.data();
  const uint64_t size = r.out.payload.size();
  uint64_t done = 0;
  for (const auto& [p, bytes] : r.elements) {
    const uint64_t at = static_cast<uint64_t>(p - base);
    if (at > done) std::memcpy(place + done, base + done, at - done);
    done = std::max(done, at + bytes);
  }
  if (size > done) std::memcpy(place + done, base + done, size - done);
  auto move = [&]<typename T>(T* p) {
    return p == nullptr
               ? nullptr
               : reinterpret_cast<T*>(place + (reinterpret_cast<const uint8_t*>(p) - base));
  };
  const uint64_t bitmap = BitmapBytes(r.shape.track_count);
  for (StringColumnOut& col : r.out.strings) {
    col.offsets = move(col.offsets);
    col.offsets[0] = 0;
    col.bytes = move(col.bytes);
    col.present = move(col.present);
    if (col.present != nullptr) std::memset(col.present, 0, bitmap);
  }
  r.out.pos_values = move(r.out.pos_values);
  r.out.pos_present = move(r.out.pos_present);
  std::memset(r.out.pos_present, 0, bitmap);
  r.out.track_hashes = move(r.out.track_hashes);
  r.out.delta_targets = move(r.out.delta_targets);
  r.out.delta_removed = move(r.out.delta_removed);
  if (r.out.delta_removed != nullptr) std::memset(r.out.delta_removed, 0, bitmap);
  r.index_slots = move(r.index_slots);
  r.out.index = r.index_slots;
  r.out.payload = {place, size};
  r.elements.clear();
  *out = r.out;
}

std::span<const uint8_t> PayloadBuilder::Finish(std::vector<DuplicateId>* duplicates,
                                                const IndexPrefix& prefix) {
  return Finish(duplicates, prefix, nullptr);
}

std::span<const uint8_t> PayloadBuilder::Finish(std::vector<DuplicateId>* duplicates,
                                                const IndexPrefix& prefix,
                                                const uint64_t* id_hashes) {
  Rep& r = *rep_;
  const uint64_t n = r.shape.track_count;
  const StringColumnOut& ids = r.out.strings[static_cast<int>(Field::kId)];
  const uint64_t mask = r.index_size - 1;
  uint64_t first = 0;
  if (prefix.slots != nullptr && prefix.size == r.index_size && prefix.tracks <= n) {
    std::memcpy(r.index_slots, prefix.slots, r.index_size * sizeof(uint64_t));
    first = prefix.tracks;
  } else {
    std::memset(r.index_slots, 0, r.index_size * sizeof(uint64_t));
  }
  constexpr uint64_t kAhead = 16;
  for (uint64_t i = first; i < n; ++i) {
    const std::string_view id(ids.bytes + ids.offsets[i], ids.offsets[i + 1] - ids.offsets[i]);
    if (id_hashes != nullptr && i + kAhead < n) {
      __builtin_prefetch(r.index_slots + (id_hashes[i + kAhead] & mask), 1);
    }
    const uint64_t h = id_hashes != nullptr ? id_hashes[i] : HashId(id);
    uint64_t pos = h & mask;
    bool duplicate = false;
    uint64_t probes = 0;
    for (uint64_t slot; (slot = r.index_slots[pos]) != 0; pos = (pos + 1) & mask) {
      // Only a damaged prefix (a merge base opened trusted) fills every
      // slot, or names a track not yet placed: such a base fails the merge
      // (as holding duplicates) instead of looping or reading outside the
      // offsets.
      if (++probes > r.index_size) {
        duplicates->push_back({i, i});
        duplicate = true;
        break;
      }
      if ((slot >> 32) != (h >> 32)) continue;
      const uint64_t other = (slot & 0xffffffff) - 1;
      if (other >= i) continue;
      if (id == std::string_view(ids.bytes + ids.offsets[other],
                                 ids.offsets[other + 1] - ids.offsets[other])) {
        duplicates->push_back({other, i});
        duplicate = true;
        break;
      }
    }
    if (!duplicate) r.index_slots[pos] = IndexSlot(h, i);
  }
  return r.out.payload;
}

PayloadHasher::PayloadHasher(std::span<const uint8_t> payload)
    : state_(XXH3_createState()), next_(payload.data()), end_(payload.data() + payload.size()) {
  if (state_ == nullptr) throw std::bad_alloc();
  XXH3_128bits_reset(state_);
}

PayloadHasher::~PayloadHasher() { XXH3_freeState(state_); }

void PayloadHasher::HashAhead(const void* end) {
  if (static_cast<const uint8_t*>(end) - next_ >= kStride) HashTo(end);
}

void PayloadHasher::HashTo(const void* end) {
  const uint8_t* to = std::min(static_cast<const uint8_t*>(end), end_);
  if (to <= next_) return;
  XXH3_128bits_update(state_, next_, static_cast<size_t>(to - next_));
  next_ = to;
}

std::array<uint8_t, 16> PayloadHasher::Finish() {
  HashTo(end_);
  return Canonical(XXH3_128bits_digest(state_));
}

SealedPayload Seal(std::span<const uint8_t> payload, uint64_t track_count, WriteResult* result) {
  return Seal(payload, track_count, HashPayload(payload), result);
}

SealedPayload Seal(std::span<const uint8_t> payload, uint64_t track_count,
                   const std::array<uint8_t, 16>& content_hash, WriteResult* result) {
  SealedPayload sealed;
  sealed.payload = payload;
  sealed.header.payload_size = payload.size();
  sealed.header.track_count = track_count;
  sealed.header.content_hash = content_hash;
  result->content_hash = HashToHex(sealed.header.content_hash);
  result->track_count = track_count;
  result->file_size = kHeaderSize + payload.size();
  EncodeHeader(sealed.header, sealed.header_bytes);
  return sealed;
}

void CopyToString(const SealedPayload& sealed, std::string* out) {
  out->resize(kHeaderSize + sealed.payload.size());
  std::memcpy(out->data(), sealed.header_bytes, kHeaderSize);
  std::memcpy(out->data() + kHeaderSize, sealed.payload.data(), sealed.payload.size());
}

Status WriteToFile(const SealedPayload& sealed, const std::string& path,
                   const WriteOptions& options) {
  const ConstBytes pieces[] = {{sealed.header_bytes, kHeaderSize},
                               {sealed.payload.data(), sealed.payload.size()}};
  return WriteFileAtomically(options.env, path, pieces, options.sync);
}

}  // namespace trackstore::format
