#include "track_columns.h"

#include <sys/mman.h>
#include <unistd.h>

#include <algorithm>
#include <cstring>
#include <new>

#include "track_hash.h"

namespace trackstore::internal {

namespace {

constexpr size_t kMinMapping = size_t{64} << 10;
constexpr size_t kHugePage = size_t{2} << 20;

size_t RoundUpToPage(size_t n) {
  static const size_t page = static_cast<size_t>(::sysconf(_SC_PAGESIZE));
  return (n + page - 1) / page * page;
}

// Appends `count` bits of `src` to the bitmap `dst` of `dst_count` bits.
void AppendBits(GrowBuffer* dst, uint64_t dst_count, const char* src, uint64_t count) {
  const uint64_t src_bytes = format::BitmapBytes(count);
  const unsigned shift = dst_count & 7;
  if (shift == 0) {
    dst->Append(src, src_bytes);
    return;
  }
  const uint64_t total = format::BitmapBytes(dst_count + count);
  dst->AppendZeros(total - dst->size());
  auto* out = reinterpret_cast<uint8_t*>(dst->data()) + (dst_count >> 3);
  for (uint64_t k = 0; k < src_bytes; ++k) {
    const uint8_t b = static_cast<uint8_t>(src[k]);
    out[k] |= static_cast<uint8_t>(b << shift);
    if (b >> (8 - shift)) out[k + 1] |= static_cast<uint8_t>(b >> (8 - shift));
  }
}

}  // namespace

// ThreadSanitizer intercepts mmap and munmap but not mremap: memory that
// mremap moves keeps the shadow state of whatever was mapped there before,
// and two threads growing buffers (the two-halves import) then look like a
// race on the same bytes. Under TSan a buffer grows by mmap, copy and
// munmap instead, which TSan sees; elsewhere mremap moves the pages without
// copying them.
#if defined(__SANITIZE_THREAD__)
#define TRACKSTORE_GROW_BY_COPY 1
#elif defined(__has_feature)
#if __has_feature(thread_sanitizer)
#define TRACKSTORE_GROW_BY_COPY 1
#endif
#endif

void GrowBuffer::Grow(size_t need) {
  if (need < size_) throw std::bad_alloc();  // size_t overflow
  const size_t cap = RoundUpToPage(std::max({need, cap_ * 2, kMinMapping}));
#ifdef TRACKSTORE_GROW_BY_COPY
  void* p = ::mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
  if (p == MAP_FAILED) throw std::bad_alloc();
  if (data_ != nullptr) {
    std::memcpy(p, data_, size_);
    ::munmap(data_, cap_);
  }
#else
  void* p = data_ == nullptr
                ? ::mmap(nullptr, cap, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0)
                : ::mremap(data_, cap_, cap, MREMAP_MAYMOVE);
  if (p == MAP_FAILED) throw std::bad_alloc();
#endif
  if (huge_pages_ && cap >= kHugePage) (void)::madvise(p, cap, MADV_HUGEPAGE);  // advice only
  data_ = static_cast<char*>(p);
  cap_ = cap;
}

void GrowBuffer::Release() {
  if (data_ != nullptr) ::munmap(data_, cap_);
  data_ = nullptr;
  size_ = cap_ = 0;
}

void TrackColumns::Append(const std::optional<std::string_view>* strings,
                          std::optional<int64_t> original_pos, std::string_view extras_json) {
  const uint64_t i = count_;
  const uint8_t bit = static_cast<uint8_t>(1u << (i & 7));
  const bool new_bitmap_byte = (i & 7) == 0;
  uint64_t string_bytes = 0;
  auto append = [&](int c, std::string_view v) {
    bytes_[c].Append(v.data(), v.size());
    const auto end = static_cast<uint32_t>(bytes_[c].size());
    ends_[c].Append(&end, sizeof end);
    string_bytes += v.size();
  };
  for (int c = 0; c < kStringFieldCount; ++c) {
    const std::optional<std::string_view>& v = strings[c];
    if (format::ColumnHasPresence(c)) {
      if (new_bitmap_byte) present_[c].AppendZeros(1);
      if (v) present_[c].data()[i >> 3] |= bit;
    }
    append(c, v.value_or(std::string_view()));
  }
  append(format::kExtrasColumn, extras_json);
  if (new_bitmap_byte) pos_present_.AppendZeros(1);
  if (original_pos) pos_present_.data()[i >> 3] |= bit;
  const int64_t pos = original_pos.value_or(0);
  pos_values_.Append(&pos, sizeof pos);
  const uint64_t hash = TrackHash(strings, original_pos, extras_json);
  hashes_.Append(&hash, sizeof hash);
  const uint64_t id_hash = IdHash(strings[0].value_or(std::string_view()));
  id_hashes_.Append(&id_hash, sizeof id_hash);
  payload_bytes_ += string_bytes + format::kPayloadBytesPerTrack;
  ++count_;
}

std::string_view TrackColumns::id(uint64_t i) const {
  const auto* ends = reinterpret_cast<const uint32_t*>(ends_[0].data());
  const uint32_t begin = i == 0 ? 0 : ends[i - 1];
  return std::string_view(bytes_[0].data() + begin, ends[i] - begin);
}

format::PayloadShape TrackColumns::Shape() const {
  format::PayloadShape shape;
  shape.track_count = count_;
  for (int c = 0; c < kColumns; ++c) shape.column_bytes[c] = bytes_[c].size();
  return shape;
}

void TrackColumns::FillPayload(const format::PayloadOut& out) {
  const uint64_t n = count_;
  for (int c = 1; c < kColumns; ++c) {  // the ids are there already (CopyIds)
    const format::StringColumnOut& col = out.strings[c];
    if (n > 0) std::memcpy(col.offsets + 1, ends_[c].data(), n * sizeof(uint32_t));
    if (bytes_[c].size() > 0) std::memcpy(col.bytes, bytes_[c].data(), bytes_[c].size());
    if (col.present != nullptr && n > 0) {
      std::memcpy(col.present, present_[c].data(), format::BitmapBytes(n));
    }
    bytes_[c].Release();
    ends_[c].Release();
    present_[c].Release();
  }
  if (n > 0) {
    std::memcpy(out.pos_present, pos_present_.data(), format::BitmapBytes(n));
    std::memcpy(out.pos_values, pos_values_.data(), n * sizeof(int64_t));
    std::memcpy(out.track_hashes, hashes_.data(), n * sizeof(uint64_t));
  }
  Clear();
}

void TrackColumns::CopyIds(const format::PayloadOut& out) const {
  const format::StringColumnOut& ids = out.strings[static_cast<int>(Field::kId)];
  if (count_ == 0) return;
  std::memcpy(ids.offsets + 1, ends_[0].data(), count_ * sizeof(uint32_t));
  std::memcpy(ids.bytes, bytes_[0].data(), bytes_[0].size());
}

void TrackColumns::PayloadPieces(const format::PayloadOut& out, std::span<const uint8_t> payload,
                                 std::vector<ConstBytes>* pieces) const {
  const uint64_t n = count_;
  struct Source {
    const void* at;  // where the elements lie in `payload`
    const char* from;
    size_t size;
  };
  std::vector<Source> sources;
  for (int c = 1; c < kColumns; ++c) {  // the id column is in `payload`
    const format::StringColumnOut& col = out.strings[c];
    sources.push_back({col.offsets + 1, ends_[c].data(), n * sizeof(uint32_t)});
    sources.push_back({col.bytes, bytes_[c].data(), bytes_[c].size()});
    if (col.present != nullptr) {
      sources.push_back({col.present, present_[c].data(), format::BitmapBytes(n)});
    }
  }
  sources.push_back({out.pos_present, pos_present_.data(), format::BitmapBytes(n)});
  sources.push_back({out.pos_values, pos_values_.data(), n * sizeof(int64_t)});
  sources.push_back({out.track_hashes, hashes_.data(), n * sizeof(uint64_t)});
  std::sort(sources.begin(), sources.end(),
            [](const Source& a, const Source& b) { return a.at < b.at; });
  const auto* cursor = payload.data();
  for (const Source& s : sources) {
    if (s.size == 0) continue;
    const auto* at = static_cast<const uint8_t*>(s.at);
    if (at > cursor) pieces->push_back({cursor, static_cast<size_t>(at - cursor)});
    pieces->push_back({s.from, s.size});
    cursor = at + s.size;
  }
  const uint8_t* end = payload.data() + payload.size();
  if (end > cursor) pieces->push_back({cursor, static_cast<size_t>(end - cursor)});
}

void TrackColumns::Absorb(TrackColumns* other) {
  const uint64_t n = count_;
  const uint64_t m = other->count_;
  for (int c = 0; c < kColumns; ++c) {
    const auto base = static_cast<uint32_t>(bytes_[c].size());
    const auto* ends = reinterpret_cast<const uint32_t*>(other->ends_[c].data());
    for (uint64_t i = 0; i < m; ++i) {
      const uint32_t end = base + ends[i];
      ends_[c].Append(&end, sizeof end);
    }
    bytes_[c].Append(other->bytes_[c].data(), other->bytes_[c].size());
    if (format::ColumnHasPresence(c)) AppendBits(&present_[c], n, other->present_[c].data(), m);
    other->bytes_[c].Release();
    other->ends_[c].Release();
    other->present_[c].Release();
  }
  AppendBits(&pos_present_, n, other->pos_present_.data(), m);
  pos_values_.Append(other->pos_values_.data(), other->pos_values_.size());
  hashes_.Append(other->hashes_.data(), other->hashes_.size());
  id_hashes_.Append(other->id_hashes_.data(), other->id_hashes_.size());
  count_ += m;
  payload_bytes_ += other->payload_bytes_;
  other->Clear();
}

void TrackColumns::UseHugePages() {
  for (int c = 0; c < kColumns; ++c) {
    bytes_[c].UseHugePages();
    ends_[c].UseHugePages();
    present_[c].UseHugePages();
  }
  for (GrowBuffer* b : {&pos_values_, &pos_present_, &hashes_, &id_hashes_}) b->UseHugePages();
}

void TrackColumns::Clear() {
  for (int c = 0; c < kColumns; ++c) {
    bytes_[c].Release();
    ends_[c].Release();
    present_[c].Release();
  }
  pos_present_.Release();
  pos_values_.Release();
  hashes_.Release();
  id_hashes_.Release();
  count_ = 0;
  payload_bytes_ = 0;
}

}  // namespace trackstore::internal
