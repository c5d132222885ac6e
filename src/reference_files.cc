// Adopting the reference application's cache directory into a store, and
// writing a store version back in its format
// (include/trackstore/reference_files.h, doc/reference_files.md).
#include "trackstore/reference_files.h"

#include <openssl/evp.h>
#include <xxhash.h>
#include <zlib.h>

#include <algorithm>
#include <cstring>
#include <memory>
#include <new>
#include <unordered_map>
#include <utility>

#include "json_input.h"
#include "json_records.h"
#include "json_text.h"
#include "reference_format.h"
#include "store/store_access.h"
#include "trackstore/env.h"
#include "trackstore/snapshot_service.h"

namespace trackstore {

namespace {

// Ids listed by name in a report entry; the count says how many more.
constexpr size_t kListedIds = 5;
// The text hashed or written is handed on in pieces of about this size.
constexpr size_t kPieceBytes = size_t{1} << 20;

std::string Join(const std::string& dir, std::string_view name) {
  if (!dir.empty() && dir.back() == '/') return dir + std::string(name);
  return dir + "/" + std::string(name);
}

// "'abc'" with a long id cut, for messages.
std::string Quoted(std::string_view id) {
  std::string s(1, '\'');
  s.append(id.substr(0, 64));
  s.append(id.size() > 64 ? "...'" : "'");
  return s;
}

// SHA-256 through OpenSSL's EVP interface.
class Sha256 {
 public:
  Sha256() : ctx_(EVP_MD_CTX_new()) {
    ok_ = ctx_ != nullptr && EVP_DigestInit_ex(ctx_.get(), EVP_sha256(), nullptr) == 1;
  }
  void Update(std::string_view data) {
    ok_ = ok_ && EVP_DigestUpdate(ctx_.get(), data.data(), data.size()) == 1;
  }
  // 64 lowercase hex digits.
  Result<std::string> Hex() {
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    if (!ok_ || EVP_DigestFinal_ex(ctx_.get(), md, &len) != 1) {
      return Status::IOError("SHA-256", "OpenSSL failed");
    }
    static constexpr char kHex[] = "0123456789abcdef";
    std::string hex;
    for (unsigned int i = 0; i < len; ++i) {
      hex.push_back(kHex[md[i] >> 4]);
      hex.push_back(kHex[md[i] & 15]);
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

// A regular file's contents, following symbolic links (a cache directory
// may well be reached through one). NotFound when it does not exist.
Status ReadWholeFile(Env* env, const std::string& path, uint64_t max_bytes, std::string* out) {
  std::unique_ptr<SequentialFile> file;
  if (Status s = env->NewSequentialFile(path, &file); !s.ok()) return s;
  FileInfo info;
  if (Status s = file->GetInfo(&info); !s.ok()) return s;
  if (info.kind != FileInfo::Kind::kRegular) {
    return Status::InvalidArgument(path, "not a regular file");
  }
  if (info.size > max_bytes) {
    return Status::ResourceExhausted(path, std::to_string(info.size) + " bytes, more than the " +
                                               std::to_string(max_bytes) + " allowed");
  }
  out->resize(static_cast<size_t>(info.size));
  size_t got = 0;
  while (got < out->size()) {
    size_t n = 0;
    if (Status s = file->Read(out->data() + got, out->size() - got, &n); !s.ok()) {
      out->resize(got);
      return s;
    }
    if (n == 0) break;
    got += n;
  }
  out->resize(got);
  return Status::OK();
}

// stat(2) of a path that may be missing: nullopt then.
Result<std::optional<FileInfo>> StatIfExists(Env* env, const std::string& path) {
  FileInfo info;
  Status s = env->GetFileInfo(path, &info);
  if (s.ok()) return std::optional<FileInfo>(info);
  if (s.IsNotFound()) return std::optional<FileInfo>();
  return s;
}

bool Newer(const FileInfo& a, const FileInfo& b) {
  if (a.mtime_seconds != b.mtime_seconds) return a.mtime_seconds > b.mtime_seconds;
  return a.mtime_nanos > b.mtime_nanos;
}

// Whether `a` and `b` both exist and are one directory (or file).
bool SameFile(Env* env, const std::string& a, const std::string& b) {
  FileInfo ia, ib;
  return env->GetFileInfo(a, &ia).ok() && env->GetFileInfo(b, &ib).ok() && ia.device == ib.device &&
         ia.inode == ib.inode;
}

bool IsSha256Hex(std::string_view s) {
  return s.size() == 64 && std::all_of(s.begin(), s.end(), [](char c) {
           return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
         });
}

std::string Lower(std::string s) {
  for (char& c : s) {
    if (c >= 'A' && c <= 'F') c = static_cast<char>(c - 'A' + 'a');
  }
  return s;
}

// The first pass over the reference's snapshot: every record checked as the
// import will check it, the SHA-256 of the list as the reference computes
// it, and the duplicate and empty ids the import's policy will drop. Ids
// are remembered by their 128-bit hash, not their text, so that a large
// library costs 24 bytes an id.
class SnapshotScan : public internal::JsonRecordSink {
 public:
  explicit SnapshotScan(std::string source) : source_(std::move(source)) {
    text_.reserve(kPieceBytes + (kPieceBytes >> 2));
  }

  Status Add(const internal::JsonRecord& r) override {
    const std::string_view id = *r.strings[static_cast<int>(Field::kId)];
    // The store's columns refuse these; say so before anything is written.
    for (Field f : {Field::kId, Field::kName}) {
      const std::string_view v = *r.strings[static_cast<int>(f)];
      if (std::memchr(v.data(), 0, v.size()) != nullptr) {
        return Status::InvalidArgument(source_, "record " + std::to_string(r.index) + ": field '" +
                                                    std::string(FieldName(f)) +
                                                    "' contains a NUL byte");
      }
    }
    if (id.empty()) {
      if (empty_records_.size() < kListedIds) empty_records_.push_back(r.index);
      ++empty_count_;
    } else {
      const XXH128_hash_t h = XXH3_128bits(id.data(), id.size());
      auto [it, fresh] = first_record_.emplace(Key{h.low64, h.high64}, r.index);
      if (!fresh) {
        if (duplicates_.size() < kListedIds) {
          duplicates_.push_back(Quoted(id) + " at records " + std::to_string(it->second) + " and " +
                                std::to_string(r.index));
        }
        ++duplicate_count_;
      }
    }
    text_.push_back(r.index == 0 ? '[' : ',');
    if (Status s = internal::AppendReferenceTrack(r, internal::PythonLayout::kCanonical, &text_);
        !s.ok()) {
      return s.Annotate(source_ + ": record " + std::to_string(r.index));
    }
    if (text_.size() >= kPieceBytes) Flush();
    ++records_;
    return Status::OK();
  }

  // Ends the list and gives its SHA-256.
  Result<std::string> Finish() {
    text_.append(records_ == 0 ? "[]" : "]");
    Flush();
    return sha_.Hex();
  }

  uint64_t records() const { return records_; }

  void Report(AdoptReport* report) const {
    if (duplicate_count_ > 0) {
      std::string reason = std::to_string(duplicate_count_) +
                           (duplicate_count_ == 1 ? " record repeats" : " records repeat") +
                           " an earlier id; each id keeps the content of its last record at the "
                           "position of its first: ";
      for (size_t i = 0; i < duplicates_.size(); ++i) reason += (i ? "; " : "") + duplicates_[i];
      if (duplicate_count_ > duplicates_.size()) reason += "; ...";
      report->not_carried.push_back({"duplicate ids", reason});
    }
    if (empty_count_ > 0) {
      std::string reason = std::to_string(empty_count_) +
                           (empty_count_ == 1 ? " record has an empty id: dropped (record "
                                              : " records have an empty id: dropped (records ");
      for (size_t i = 0; i < empty_records_.size(); ++i) {
        reason += (i ? ", " : "") + std::to_string(empty_records_[i]);
      }
      if (empty_count_ > empty_records_.size()) reason += ", ...";
      report->not_carried.push_back({"empty ids", reason + ")"});
    }
  }

  uint64_t duplicate_count() const { return duplicate_count_; }
  uint64_t empty_count() const { return empty_count_; }

 private:
  struct Key {
    uint64_t low, high;
    bool operator==(const Key&) const = default;
  };
  struct KeyHash {
    size_t operator()(const Key& k) const { return static_cast<size_t>(k.low); }
  };

  void Flush() {
    sha_.Update(text_);
    text_.clear();
  }

  std::string source_;
  Sha256 sha_;
  std::string text_;
  uint64_t records_ = 0;
  std::unordered_map<Key, uint64_t, KeyHash> first_record_;
  uint64_t duplicate_count_ = 0;
  std::vector<std::string> duplicates_;
  uint64_t empty_count_ = 0;
  std::vector<uint64_t> empty_records_;
};

// The output of the snapshot file: plain, or deflated on the way into a
// gzip member (zlib's header, as the export of json.h writes it).
class SnapshotOut {
 public:
  ~SnapshotOut() {
    if (gzip_) deflateEnd(&z_);
  }

  Status Open(Env* env, const std::string& path, bool gzip, bool sync) {
    path_ = path;
    if (gzip) {
      // Level 6, the reference's; 15 + 16: the largest window, gzip framing.
      if (deflateInit2(&z_, 6, Z_DEFLATED, 15 + 16, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        return Status::ResourceExhausted(path, "zlib could not start");
      }
      gzip_ = true;
      deflated_.resize(kPieceBytes);
    }
    return AtomicOutputFile::Open(env, path, sync, &file_);
  }

  Status Write(std::string_view text) { return gzip_ ? Deflate(text, Z_NO_FLUSH) : Emit(text); }

  Status Commit() {
    if (gzip_) {
      if (Status s = Deflate({}, Z_FINISH); !s.ok()) return s;
    }
    return file_->Commit();
  }

 private:
  Status Emit(std::string_view bytes) {
    if (bytes.empty()) return Status::OK();
    return file_->Append(bytes.data(), bytes.size());
  }

  // `text` is at most a few MiB: it fits zlib's uInt.
  Status Deflate(std::string_view text, int flush) {
    z_.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(text.data()));
    z_.avail_in = static_cast<uInt>(text.size());
    for (;;) {
      z_.next_out = reinterpret_cast<Bytef*>(deflated_.data());
      z_.avail_out = static_cast<uInt>(deflated_.size());
      const int rc = deflate(&z_, flush);
      if (rc == Z_STREAM_ERROR) return Status::IOError(path_, "zlib deflate failed");
      if (Status s = Emit({deflated_.data(), deflated_.size() - z_.avail_out}); !s.ok()) return s;
      if (flush == Z_FINISH ? rc == Z_STREAM_END : (z_.avail_in == 0 && z_.avail_out > 0)) {
        return Status::OK();
      }
    }
  }

  std::string path_;
  std::unique_ptr<AtomicOutputFile> file_;
  bool gzip_ = false;
  z_stream z_ = {};
  std::string deflated_;
};

// Removes `path` if it exists. Says whether it did.
Result<bool> RemoveIfExists(Env* env, const std::string& path) {
  Status s = env->RemoveFile(path);
  if (s.ok()) return true;
  if (s.IsNotFound()) return false;
  return s;
}

}  // namespace

std::string_view ReferenceHashCheckName(ReferenceHashCheck check) {
  switch (check) {
    case ReferenceHashCheck::kMatched:
      return "matched";
    case ReferenceHashCheck::kMismatched:
      return "mismatched";
    case ReferenceHashCheck::kNotChecked:
      break;
  }
  return "not checked";
}

// --- adopt -----------------------------------------------------------------------

Result<AdoptReport> AdoptReferenceCache(const std::string& reference_dir,
                                        const std::string& store_dir,
                                        const AdoptOptions& options) try {
  AdoptReport report;
  Env* env = options.store.env != nullptr ? options.store.env : Env::Default();
  FileInfo dir_info;
  if (Status s = env->GetFileInfo(reference_dir, &dir_info); !s.ok()) return s;
  if (dir_info.kind != FileInfo::Kind::kDirectory) {
    return Status::InvalidArgument(reference_dir,
                                   "not a directory (the reference's cache directory)");
  }

  // The snapshot: the reference reads the one its compress setting names,
  // which is not recorded; when both exist, the newer is the one it wrote
  // last.
  const std::string gz_path = Join(reference_dir, kReferenceSnapshotGzName);
  const std::string plain_path = Join(reference_dir, kReferenceSnapshotName);
  Result<std::optional<FileInfo>> gz = StatIfExists(env, gz_path);
  if (!gz.ok()) return gz.status();
  Result<std::optional<FileInfo>> plain = StatIfExists(env, plain_path);
  if (!plain.ok()) return plain.status();
  if (!gz->has_value() && !plain->has_value()) {
    return Status::NotFound(reference_dir, "no " + std::string(kReferenceSnapshotGzName) + " or " +
                                               std::string(kReferenceSnapshotName));
  }
  if (gz->has_value() && plain->has_value()) {
    const bool plain_newer = Newer(**plain, **gz);
    report.snapshot_file = plain_newer ? plain_path : gz_path;
    report.not_carried.push_back(
        {std::string(plain_newer ? kReferenceSnapshotGzName : kReferenceSnapshotName),
         "both snapshot files exist; the newer one (" +
             std::string(plain_newer ? kReferenceSnapshotName : kReferenceSnapshotGzName) +
             ") was read, this one ignored"});
  } else {
    report.snapshot_file = gz->has_value() ? gz_path : plain_path;
  }

  // Adopting into the reference's own directory would mix the two layouts.
  if (FileInfo store_info; env->GetFileInfo(store_dir, &store_info).ok() &&
                           store_info.device == dir_info.device &&
                           store_info.inode == dir_info.inode) {
    return Status::InvalidArgument(store_dir,
                                   "is the reference's cache directory itself; "
                                   "adopt into another directory");
  }

  // A store that already holds a version is refused before anything is
  // read (and checked again under the writer lock).
  StoreOptions store_options = options.store;
  {
    StoreOptions probe = store_options;
    probe.create_if_missing = false;
    Result<Store> existing = Store::Open(store_dir, probe);
    if (existing.ok()) {
      Result<VersionInfo> info = existing->CurrentInfo();
      if (info.ok() && !options.overwrite) {
        return Status::InvalidArgument(
            store_dir, "the store already holds version " + std::to_string(info->number) +
                           "; adopt into a new store, or overwrite (the adopted library becomes "
                           "a new version, the older ones stay in the history)");
      }
    } else if (!existing.status().IsNotFound()) {
      return existing.status();
    }
  }

  // Metadata and delta state: what cannot be read is reported, not fatal.
  std::optional<ServiceMetadata> service;
  std::optional<int64_t> reference_count;
  std::string reference_hash;
  {
    const std::string path = Join(reference_dir, kReferenceMetadataName);
    std::string text;
    Status s = ReadWholeFile(env, path, options.import.max_input_bytes, &text);
    if (s.IsNotFound()) {
      report.not_carried.push_back(
          {"metadata", std::string(kReferenceMetadataName) +
                           " does not exist: the store will require a full scan"});
    } else if (!s.ok()) {
      report.not_carried.push_back(
          {"metadata", "unreadable: " + s.ToString() + ": the store will require a full scan"});
    } else {
      internal::ReferenceMetadata m = internal::ReadReferenceMetadata(text, path);
      service = m.service;
      reference_count = m.track_count;
      reference_hash = m.snapshot_hash;
      for (NotCarried& n : m.notes) report.not_carried.push_back(std::move(n));
    }
  }
  std::optional<DeltaState> delta;
  {
    const std::string path = Join(reference_dir, kReferenceDeltaName);
    std::string text;
    Status s = ReadWholeFile(env, path, options.import.max_input_bytes, &text);
    if (s.IsNotFound()) {
      report.not_carried.push_back(
          {"delta state", std::string(kReferenceDeltaName) + " does not exist"});
    } else if (!s.ok()) {
      report.not_carried.push_back(
          {"delta state", "delta file unreadable: " + s.ToString() + ": not carried"});
    } else {
      internal::ReferenceDelta d = internal::ReadReferenceDelta(text, path);
      delta = std::move(d.state);
      for (NotCarried& n : d.notes) report.not_carried.push_back(std::move(n));
    }
  }

  // Pass 1: nothing is written unless every record reads.
  SnapshotScan scan(report.snapshot_file);
  {
    Result<std::unique_ptr<internal::JsonInput>> input =
        internal::JsonInput::Open(report.snapshot_file, options.import,
                                  options.import.env != nullptr ? options.import.env : env);
    if (!input.ok()) return input.status();
    if (Status s = internal::ReadJsonRecords(input->get(), &scan); !s.ok()) return s;
  }
  Result<std::string> computed = scan.Finish();
  if (!computed.ok()) return computed.status();
  report.computed_snapshot_hash = *computed;
  report.records_read = scan.records();
  report.duplicates_dropped = scan.duplicate_count();
  report.empty_ids_dropped = scan.empty_count();
  scan.Report(&report);
  if (IsSha256Hex(reference_hash)) {
    if (Lower(reference_hash) == report.computed_snapshot_hash) {
      report.snapshot_hash_check = ReferenceHashCheck::kMatched;
    } else {
      report.snapshot_hash_check = ReferenceHashCheck::kMismatched;
      report.not_carried.push_back(
          {"snapshot_hash", "the metadata's " + reference_hash +
                                " does not match the tracks read (" +
                                report.computed_snapshot_hash +
                                "); the store keeps its own content hash of the tracks"});
    }
  } else if (service) {
    report.not_carried.push_back({"snapshot_hash", "not a SHA-256 (64 hex digits): not checked"});
  }
  if (reference_count && static_cast<uint64_t>(*reference_count) != report.records_read) {
    report.not_carried.push_back(
        {"track_count", "the metadata says " + std::to_string(*reference_count) +
                            ", the snapshot holds " + std::to_string(report.records_read) +
                            " records; the store keeps its own count"});
  }

  // Pass 2: the one commit.
  store_options.create_if_missing = true;
  Result<Store> store = Store::Open(store_dir, store_options);
  if (!store.ok()) return store.status();
  CommitOptions commit;
  commit.duplicates = DuplicatePolicy::kKeepLast;
  commit.drop_empty_ids = true;
  commit.service = service;
  commit.delta_state = delta;
  internal::StoreImportHooks hooks;
  hooks.inherit_state = false;  // what is not carried must not come from the replaced version
  hooks.under_lock = [&]() -> Status {
    if (options.overwrite) return Status::OK();
    Result<VersionInfo> info = store->CurrentInfo();
    if (info.ok()) {
      return Status::InvalidArgument(store_dir, "another writer made version " +
                                                    std::to_string(info->number) +
                                                    " meanwhile; nothing adopted");
    }
    return info.status().IsNotFound() ? Status::OK() : info.status();
  };
  Result<CommitStats> stats =
      internal::ImportJsonToStore(*store, report.snapshot_file, options.import, commit, hooks);
  if (!stats.ok()) return stats.status();
  report.version = stats->version;
  report.content_hash = stats->content_hash;
  report.tracks_carried = stats->track_count;
  report.metadata_carried = service.has_value();
  report.delta_carried = delta.has_value();
  return report;
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(reference_dir, "out of memory");
}

// --- export ------------------------------------------------------------------------

Result<ExportReferenceReport> ExportReferenceCache(const std::string& store_dir,
                                                   const std::string& reference_dir,
                                                   const ExportReferenceOptions& options) try {
  Env* env = options.store.env != nullptr ? options.store.env : Env::Default();
  StoreOptions store_options = options.store;
  store_options.create_if_missing = false;
  Result<Store> store = Store::Open(store_dir, store_options);
  if (!store.ok()) return store.status();
  Result<Version> version = options.version ? store->At(*options.version) : store->Current();
  if (!version.ok()) return version.status();

  ExportReferenceReport report;
  report.version = version->number();
  report.tracks = version->size();

  // Everything that can fail without writing comes first.
  std::optional<DeltaState> delta;
  if (Result<DeltaState> d = version->ReadDeltaState(); d.ok()) {
    delta = std::move(d).value();
  } else if (!d.status().IsNotFound()) {
    return d.status();
  }
  std::optional<ServiceMetadata> service = version->info().service;
  if (service && service->format_version != kMetadataFormatVersion) {
    report.notes.push_back(
        "version " + std::to_string(report.version) + " has metadata of format version " +
        std::to_string(service->format_version) + ", not this build's: no metadata written");
    service.reset();
  }
  std::string delta_text;
  if (delta) {
    Result<std::string> text = internal::FormatReferenceDelta(*delta);
    if (!text.ok()) return text.status();
    delta_text = std::move(text).value();
  }
  if (service) {  // the times must be representable before any file changes
    Result<std::string> probe = internal::FormatReferenceMetadata(*service, 0, "");
    if (!probe.ok()) return probe.status();
  }

  if (Status s = env->CreateDir(reference_dir); !s.ok()) return s;
  // The reference's files inside the store directory would mix the layouts.
  if (SameFile(env, store_dir, reference_dir)) {
    return Status::InvalidArgument(reference_dir,
                                   "is the store directory itself; export into "
                                   "another directory");
  }
  const std::string meta_path = Join(reference_dir, kReferenceMetadataName);
  const std::string delta_path = Join(reference_dir, kReferenceDeltaName);
  report.snapshot_file =
      Join(reference_dir, options.compress ? kReferenceSnapshotGzName : kReferenceSnapshotName);

  // The metadata goes first: until it is written again, the reference sees
  // no metadata and scans in full, never new tracks with old metadata.
  Result<bool> removed = RemoveIfExists(env, meta_path);
  if (!removed.ok()) return removed.status();
  if (*removed && options.sync) {
    if (Status s = env->SyncDir(reference_dir); !s.ok()) return s;
  }

  // The tracks, streamed: the file's text and the hash's are made per track
  // and handed on about every MiB.
  {
    SnapshotOut out;
    if (Status s = out.Open(env, report.snapshot_file, options.compress, options.sync); !s.ok()) {
      return s;
    }
    Sha256 sha;
    std::string text, canonical;
    text.reserve(kPieceBytes + (kPieceBytes >> 2));
    canonical.reserve(kPieceBytes + (kPieceBytes >> 2));
    text.push_back('[');
    canonical.push_back('[');
    uint64_t i = 0;
    for (TrackView t : *version) {
      if (i > 0) {
        text.append(", ");
        canonical.push_back(',');
      }
      const size_t start = text.size();
      if (Status s = internal::AppendReferenceTrack(t, internal::PythonLayout::kDefault, &text);
          !s.ok()) {
        return s.Annotate(report.snapshot_file + ": record " + std::to_string(i));
      }
      if (json_text::FirstInvalidUtf8(std::string_view(text).substr(start)) !=
          text.size() - start) {
        return Status::InvalidArgument(report.snapshot_file,
                                       "record " + std::to_string(i) + " (id " + Quoted(t.id()) +
                                           "): invalid UTF-8, which JSON cannot hold");
      }
      if (Status s =
              internal::AppendReferenceTrack(t, internal::PythonLayout::kCanonical, &canonical);
          !s.ok()) {
        return s;
      }
      ++i;
      if (text.size() >= kPieceBytes) {
        if (Status s = out.Write(text); !s.ok()) return s;
        text.clear();
      }
      if (canonical.size() >= kPieceBytes) {
        sha.Update(canonical);
        canonical.clear();
      }
    }
    text.push_back(']');
    canonical.push_back(']');
    sha.Update(canonical);
    if (Status s = out.Write(text); !s.ok()) return s;
    if (Status s = out.Commit(); !s.ok()) return s;
    Result<std::string> hex = sha.Hex();
    if (!hex.ok()) return hex.status();
    report.snapshot_hash = std::move(hex).value();
  }

  if (service) {
    Result<std::string> text =
        internal::FormatReferenceMetadata(*service, report.tracks, report.snapshot_hash);
    if (!text.ok()) return text.status();
    const ConstBytes piece{text->data(), text->size()};
    if (Status s = WriteFileAtomically(env, meta_path, {&piece, 1}, options.sync); !s.ok()) {
      return s;
    }
    report.metadata_file = meta_path;
  } else {
    report.notes.push_back(std::string(kReferenceMetadataName) +
                           " not written: the version has no metadata (the reference will scan "
                           "in full)" +
                           (*removed ? "; the old one was removed" : ""));
  }

  if (delta) {
    const ConstBytes piece{delta_text.data(), delta_text.size()};
    if (Status s = WriteFileAtomically(env, delta_path, {&piece, 1}, options.sync); !s.ok()) {
      return s;
    }
    report.delta_file = delta_path;
  } else {
    Result<bool> gone = RemoveIfExists(env, delta_path);
    if (!gone.ok()) return gone.status();
    if (*gone && options.sync) {
      if (Status s = env->SyncDir(reference_dir); !s.ok()) return s;
    }
    report.notes.push_back(std::string(kReferenceDeltaName) +
                           " not written: the version has no delta state" +
                           (*gone ? "; the old one was removed" : ""));
  }

  const std::string other =
      Join(reference_dir, options.compress ? kReferenceSnapshotName : kReferenceSnapshotGzName);
  if (Result<std::optional<FileInfo>> st = StatIfExists(env, other); st.ok() && st->has_value()) {
    report.notes.push_back(other +
                           " exists and was left as it is; the reference reads the file "
                           "its compress setting names");
  }
  return report;
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(store_dir, "out of memory");
}

}  // namespace trackstore
