#include "trackstore/snapshot.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cstring>

#include "flatbuffers/flatbuffers.h"
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

}  // namespace

struct Snapshot::Rep {
  std::string path;
  const uint8_t* data = nullptr;
  size_t size = 0;
  bool mapped = false;  // unmap on destruction
  format::Header header;
  std::string hash_hex;
  std::span<const uint8_t> payload;
  internal::Columns columns;

  ~Rep() {
    if (mapped) ::munmap(const_cast<uint8_t*>(data), size);
  }

  Status Corrupt(const std::string& detail) const { return Status::StructureInvalid(path, detail); }
  Status Map();                   // maps `path` into data/size
  Status CheckHeaderAndLayout();  // O(1) in the track count
  // O(size): hash and layout invariants. `known_hash`: the payload's hash,
  // computed by whoever just wrote the bytes.
  Status CheckContent(const uint8_t* known_hash = nullptr) const;
};

Status Snapshot::Rep::CheckHeaderAndLayout() {
  Status s = format::DecodeHeader(path, {data, size}, &header);
  if (!s.ok()) return s;
  hash_hex = format::HashToHex(header.content_hash);
  payload = {data + header.payload_offset, header.payload_size};
  if (payload.size() >= FLATBUFFERS_MAX_BUFFER_SIZE) {
    return Status::NotSupported(path, "payload over the 2 GiB FlatBuffers limit");
  }
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
  return Status::OK();
}

Status Snapshot::Rep::CheckContent(const uint8_t* known_hash) const {
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
    const uint64_t track = columns.id_index[i] & 0xffffffff;
    used += track != 0;
    out_of_range |= track > n;
  }
  if (out_of_range != 0 || used != n) return Corrupt("id index does not match the tracks");
  return Status::OK();
}

Snapshot::Snapshot(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Snapshot::Snapshot(Snapshot&&) noexcept = default;
Snapshot& Snapshot::operator=(Snapshot&&) noexcept = default;
Snapshot::~Snapshot() = default;

// Maps the whole file read-only. A FIFO or device must not block or be
// mapped, so it is opened non-blocking and rejected after fstat.
Status Snapshot::Rep::Map() {
  Rep* rep = this;
  const int fd = ::open(path.c_str(), O_RDONLY | O_CLOEXEC | O_NONBLOCK);
  if (fd < 0) return PosixError(path, errno);
  struct stat st;
  if (::fstat(fd, &st) != 0) {
    const int err = errno;
    ::close(fd);
    return PosixError(path, err);
  }
  if (!S_ISREG(st.st_mode)) {
    ::close(fd);
    return Status::NotASnapshot(path,
                                S_ISDIR(st.st_mode) ? "is a directory" : "not a regular file");
  }
  rep->size = static_cast<size_t>(st.st_size);
  if (rep->size > 0) {
    void* p = ::mmap(nullptr, rep->size, PROT_READ, MAP_SHARED, fd, 0);
    if (p == MAP_FAILED) {
      const int err = errno;
      ::close(fd);
      return PosixError(path, err);
    }
    rep->data = static_cast<const uint8_t*>(p);
    rep->mapped = true;
  }
  ::close(fd);  // the mapping keeps the file alive
  return Status::OK();
}

Result<Snapshot> Snapshot::Make(std::unique_ptr<Rep> rep, bool verify) {
  Status s = rep->CheckHeaderAndLayout();
  if (s.ok() && verify) s = rep->CheckContent();
  if (!s.ok()) return s;
  return Snapshot(std::move(rep));
}

Result<Snapshot> Snapshot::OpenFile(const std::string& path, bool verify) {
  auto rep = std::make_unique<Rep>();
  rep->path = path;
  Status s = rep->Map();
  if (!s.ok()) return s;
  return Make(std::move(rep), verify);
}

Result<Snapshot> Snapshot::Open(const std::string& path) { return OpenFile(path, true); }
Result<Snapshot> Snapshot::OpenTrusted(const std::string& path) { return OpenFile(path, false); }

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

Status Snapshot::Verify() const { return rep_->CheckContent(); }

uint64_t Snapshot::size() const { return rep_->columns.count; }
const internal::Columns* Snapshot::columns() const { return &rep_->columns; }
const std::string& Snapshot::content_hash() const { return rep_->hash_hex; }
const std::string& Snapshot::path() const { return rep_->path; }
uint64_t Snapshot::file_size() const { return rep_->size; }
uint32_t Snapshot::format_version() const { return rep_->header.format_version; }

StringColumnView Snapshot::column(Field field) const {
  const internal::Columns& c = rep_->columns;
  return StringColumnView(field == Field::kExtras ? &c.extras : &c.strings[static_cast<int>(field)],
                          c.count);
}

std::optional<TrackView> Snapshot::Find(std::string_view id) const {
  const Rep& r = *rep_;
  const uint64_t h = format::HashId(id);
  const uint64_t mask = r.columns.id_index_size - 1;
  const internal::StringColumnRef& ids = r.columns.strings[static_cast<int>(Field::kId)];
  // Bounded by the table size so that a damaged index (OpenTrusted) cannot
  // loop forever; a verified index always has an empty slot.
  uint64_t pos = h & mask;
  for (uint64_t probes = 0; probes < r.columns.id_index_size; ++probes, pos = (pos + 1) & mask) {
    const uint64_t slot = r.columns.id_index[pos];
    if (slot == 0) break;
    if ((slot >> 32) != (h >> 32)) continue;
    const uint64_t track = (slot & 0xffffffff) - 1;
    if (track < r.columns.count && internal::StringAt(ids, track) == id) {
      return TrackView(&r.columns, track);
    }
  }
  return std::nullopt;
}

}  // namespace trackstore
