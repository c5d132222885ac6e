// benchmarks/peers/reference_store.cc
//
// The reference application's own format: the tracks as one JSON array
// (trackstore's canonical JSON text, the same bytes `trackstore export`
// writes), gzip level 6 (zlib), and the SHA-256 of the JSON text (OpenSSL
// EVP) kept beside it in PATH.sha256, as the application keeps its hash in
// its metadata.
//
//   Save   JSON text in 4 MiB chunks, each hashed and deflated as it is
//          made (no 300 MB string); the .gz and the .sha256 are each written
//          atomically with fsync (trackstore::WriteFileAtomically).
//   Open   read + gunzip + parse every record (trackstore::ImportJsonFile:
//          simdjson DOM) into TrackRecords: the format cannot be read lazily.
//   Verify read + gunzip + SHA-256 of the text, compared with PATH.sha256.
//   Merge  load, merge in memory by id (doc/behaviour.md section 2), save again.
// Lookups go through an id -> record hash map, built by PrepareLookups
// after open (untimed), as the application would build a dict.
#include <openssl/evp.h>
#include <zlib.h>

#include <array>
#include <cstdio>
#include <memory>
#include <string>
#include <unordered_map>
#include <vector>

#include "files.h"
#include "store.h"
#include "trackstore/env.h"
#include "trackstore/json.h"

namespace trackstore_bench {
namespace {

constexpr size_t kChunkBytes = size_t{4} << 20;
constexpr int kGzipLevel = 6;

std::string HashPath(const std::string& path) { return path + ".sha256"; }

// SHA-256 through OpenSSL's EVP interface; Hex() finishes it.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    ok_ = ctx_ != nullptr && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1;
  }
  void Update(const void* data, size_t size) {
    ok_ = ok_ && EVP_DigestUpdate(ctx_.get(), data, size) == 1;
  }
  // 64 lowercase hex digits, or "" if OpenSSL failed.
  std::string Hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!ok_ || EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1) return "";
    std::string hex;
    for (unsigned int i = 0; i < len; ++i) {
      char b[3];
      std::snprintf(b, sizeof(b), "%02x", md[i]);
      hex += b;
    }
    return hex;
  }

 private:
  struct Free {
    void operator()(EVP_MD_CTX* c) const { EVP_MD_CTX_free(c); }
  };
  std::unique_ptr<EVP_MD_CTX, Free> ctx_;
  bool ok_ = false;
};

// gzip (RFC 1952) compression into a list of chunks.
class Gzip {
 public:
  Gzip() {
    ok_ = deflateInit2(&zs_, kGzipLevel, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) == Z_OK;
  }
  ~Gzip() {
    if (ok_) deflateEnd(&zs_);
  }
  Gzip(const Gzip&) = delete;
  Gzip& operator=(const Gzip&) = delete;

  bool Add(std::string_view in) { return Run(in, Z_NO_FLUSH); }
  bool Finish() { return Run({}, Z_FINISH); }
  const std::vector<std::string>& chunks() const { return out_; }

 private:
  bool Run(std::string_view in, int flush) {
    if (!ok_) return false;
    zs_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(in.data()));
    zs_.avail_in = static_cast<uInt>(in.size());  // chunks are far below 4 GiB
    for (;;) {
      if (out_.empty() || used_ == out_.back().size()) {
        out_.emplace_back(kChunkBytes, '\0');
        used_ = 0;
      }
      zs_.next_out = reinterpret_cast<Bytef*>(out_.back().data() + used_);
      zs_.avail_out = static_cast<uInt>(out_.back().size() - used_);
      const int rc = deflate(&zs_, flush);
      used_ = out_.back().size() - zs_.avail_out;
      if (rc == Z_STREAM_END) {
        out_.back().resize(used_);
        return true;
      }
      if (rc != Z_OK && rc != Z_BUF_ERROR) return false;
      if (flush == Z_NO_FLUSH && zs_.avail_in == 0) return true;
    }
  }

  z_stream zs_{};
  bool ok_ = false;
  std::vector<std::string> out_;
  size_t used_ = 0;  // bytes of out_.back() written
};

Status SaveJson(std::span<const TrackRecord> tracks, const std::string& path) {
  Sha256 sha;
  Gzip gz;
  std::string text;
  text.reserve(kChunkBytes + (kChunkBytes >> 2));
  text = tracks.empty() ? "[]\n" : "[\n";
  for (size_t i = 0; i < tracks.size(); ++i) {
    trackstore::AppendTrackJson(tracks[i], &text);
    text += i + 1 < tracks.size() ? ",\n" : "\n]\n";
    if (text.size() >= kChunkBytes) {
      sha.Update(text.data(), text.size());
      if (!gz.Add(text)) return Status::IOError(path, "zlib deflate failed");
      text.clear();
    }
  }
  sha.Update(text.data(), text.size());
  if (!gz.Add(text) || !gz.Finish()) return Status::IOError(path, "zlib deflate failed");
  const std::string hex = sha.Hex();
  if (hex.empty()) return Status::IOError(path, "OpenSSL SHA-256 failed");
  std::vector<trackstore::ConstBytes> pieces;
  for (const std::string& c : gz.chunks()) pieces.push_back({c.data(), c.size()});
  Status s = trackstore::WriteFileAtomically(nullptr, path, pieces);
  if (!s.ok()) return s;
  const trackstore::ConstBytes hash_piece{hex.data(), hex.size()};
  return trackstore::WriteFileAtomically(nullptr, HashPath(path), {&hash_piece, 1});
}

// The SHA-256 of the JSON text inside the gzip file `path`, streamed
// through a 1 MiB window.
Status HashGzipContent(const std::string& path, std::string* hex) {
  HeapFile gz;
  Status s = ReadFile(path, &gz);
  if (!s.ok()) return s;
  z_stream zs{};
  if (inflateInit2(&zs, 15 + 16) != Z_OK) return Status::IOError(path, "zlib inflateInit failed");
  std::vector<unsigned char> window(size_t{1} << 20);
  Sha256 sha;
  zs.next_in = reinterpret_cast<Bytef*>(gz.words.get());
  zs.avail_in = static_cast<uInt>(gz.size);
  int rc = Z_OK;
  while (rc != Z_STREAM_END) {
    zs.next_out = window.data();
    zs.avail_out = static_cast<uInt>(window.size());
    rc = inflate(&zs, Z_NO_FLUSH);
    if (rc != Z_OK && rc != Z_STREAM_END) break;
    sha.Update(window.data(), window.size() - zs.avail_out);
  }
  inflateEnd(&zs);
  if (rc != Z_STREAM_END) return Status::HashMismatch(path, "corrupt or truncated gzip data");
  *hex = sha.Hex();
  return Status::OK();
}

class RecordsReader : public Reader {
 public:
  explicit RecordsReader(std::vector<TrackRecord> tracks) : tracks_(std::move(tracks)) {}

  Status ReadFirst(uint64_t* sum) override {
    if (tracks_.empty()) return Status::NotFound("reference", "no tracks");
    *sum = Touch(tracks_[0].id) + Touch(tracks_[0].name);
    return Status::OK();
  }

  Status PrepareLookups() override {
    by_id_.reserve(tracks_.size());
    for (const TrackRecord& t : tracks_) by_id_.emplace(t.id, &t);
    return Status::OK();
  }

  Status Scan(uint64_t* count, uint64_t* sum) override {
    uint64_t s = 0;
    for (const TrackRecord& t : tracks_) s += Touch(t.id) + Touch(t.name);
    *count = tracks_.size();
    *sum = s;
    return Status::OK();
  }

  Status Lookup(std::span<const std::string> ids, uint64_t* sum) override {
    uint64_t s = 0;
    for (const std::string& id : ids) {
      auto it = by_id_.find(id);
      if (it == by_id_.end()) [[unlikely]]
        return Status::NotFound("reference", "no track with id " + id);
      s += Touch(it->second->name);
    }
    *sum = s;
    return Status::OK();
  }

 private:
  std::vector<TrackRecord> tracks_;
  std::unordered_map<std::string_view, const TrackRecord*> by_id_;
};

class ReferenceStore : public Store {
 public:
  std::string_view name() const override { return "reference"; }
  bool loads_whole_library() const override { return true; }

  Status Save(std::span<const TrackRecord> tracks, const std::string& path) override {
    return SaveJson(tracks, path);
  }

  Result<std::unique_ptr<Reader>> Open(const std::string& path) override {
    Result<std::vector<TrackRecord>> tracks = trackstore::ImportJsonFile(path);
    if (!tracks.ok()) return tracks.status();
    return std::unique_ptr<Reader>(std::make_unique<RecordsReader>(std::move(tracks).value()));
  }

  Status Verify(const std::string& path) override {
    HeapFile expected;
    Status s = ReadFile(HashPath(path), &expected);
    if (!s.ok()) return s;
    std::string actual;
    s = HashGzipContent(path, &actual);
    if (!s.ok()) return s;
    const std::string_view want(reinterpret_cast<const char*>(expected.data()), expected.size);
    if (actual != want) return Status::HashMismatch(path, "SHA-256 differs from " + HashPath(path));
    return Status::OK();
  }

  Status Merge(const std::string& path, std::span<const TrackRecord> delta) override {
    Result<std::vector<TrackRecord>> loaded = trackstore::ImportJsonFile(path);
    if (!loaded.ok()) return loaded.status();
    std::vector<TrackRecord>& tracks = loaded.value();
    std::unordered_map<std::string, size_t> index;
    index.reserve(tracks.size() + delta.size());
    for (size_t i = 0; i < tracks.size(); ++i) index.emplace(tracks[i].id, i);
    for (const TrackRecord& t : delta) {
      auto [it, added] = index.try_emplace(t.id, tracks.size());
      if (added) {
        tracks.push_back(t);  // a new id, at its first appearance
      } else {
        tracks[it->second] = t;  // replaced whole; the last update wins
      }
    }
    return SaveJson(tracks, path);
  }

  std::vector<std::string> Files(const std::string& path) const override {
    return {path, HashPath(path)};
  }
};

}  // namespace

std::unique_ptr<Store> NewReferenceStore() { return std::make_unique<ReferenceStore>(); }

}  // namespace trackstore_bench
