// include/trackstore/reference_files.h
//
// Moving an installation of the reference application (doc/behaviour.md)
// to a trackstore store, and back. The reference keeps its cache directory
// as three files (doc/reference_files.md describes them):
//
//   library_snapshot.json.gz   the tracks, a gzip'd JSON array (or
//   library_snapshot.json)     plain JSON when compression is off)
//   library_snapshot.meta.json last full scan, library mtime, track count,
//                              SHA-256 of the tracks, last force scan
//   library_delta.json         the delta-processing state
//
// AdoptReferenceCache reads them into ONE new version of a store: the
// tracks, the service metadata and the delta state together, as
// SnapshotService and CacheManager keep them. ExportReferenceCache writes a
// store version back as the reference writes those files, so that the
// reference application can carry on from it.
//
//   Result<AdoptReport> r = AdoptReferenceCache("/home/u/.cache/app", "/var/lib/app/store");
//   if (!r.ok()) { ... nothing was written ... }
//   for (const NotCarried& n : r->not_carried) log(n.item + ": " + n.reason);
//
// Thread-safety: both functions may run concurrently with readers of the
// store; writers are serialized by the store's writer lock. The reference
// application must not write its cache directory meanwhile.
#ifndef TRACKSTORE_REFERENCE_FILES_H_
#define TRACKSTORE_REFERENCE_FILES_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "trackstore/export.h"
#include "trackstore/json.h"
#include "trackstore/result.h"
#include "trackstore/store.h"

namespace trackstore {

// The reference's file names inside its cache directory.
inline constexpr std::string_view kReferenceSnapshotGzName = "library_snapshot.json.gz";
inline constexpr std::string_view kReferenceSnapshotName = "library_snapshot.json";
inline constexpr std::string_view kReferenceMetadataName = "library_snapshot.meta.json";
inline constexpr std::string_view kReferenceDeltaName = "library_delta.json";
// The only metadata "version" the reference accepts.
inline constexpr std::string_view kReferenceMetadataVersion = "1.0";

struct TRACKSTORE_EXPORT AdoptOptions {
  // When the store already holds a version: false refuses (nothing is
  // written); true adds the adopted library as a new version (the older
  // ones stay in the store's history). Default: false.
  bool overwrite = false;
  // How the store is opened (fsync, lock timeout, history). A missing store
  // is created. Default: the store's defaults.
  StoreOptions store;
  // Limits on reading the snapshot file (size, inflated size).
  JsonImportOptions import;
};

// One thing of the reference's files that the store did not get, and why.
struct TRACKSTORE_EXPORT NotCarried {
  // What: "metadata", "delta state", "duplicate ids", "empty ids",
  // "snapshot_hash", a file name, a field ("last_force_scan_time").
  std::string item;
  std::string reason;
  bool operator==(const NotCarried&) const = default;
};

// Whether the tracks read hash to the metadata's snapshot_hash (the
// reference never checks it itself).
enum class ReferenceHashCheck {
  kNotChecked,  // no readable metadata, or a snapshot_hash that is not 64 hex digits
  kMatched,
  kMismatched,  // reported in not_carried; the adoption goes on
};

// "not checked", "matched", "mismatched".
TRACKSTORE_EXPORT std::string_view ReferenceHashCheckName(ReferenceHashCheck check);

struct TRACKSTORE_EXPORT AdoptReport {
  std::string snapshot_file;        // the snapshot file read (its path)
  uint64_t records_read = 0;        // records in it
  uint64_t tracks_carried = 0;      // tracks in the new version
  uint64_t duplicates_dropped = 0;  // records whose id came again later (keep-last)
  uint64_t empty_ids_dropped = 0;   // records with an empty id
  bool metadata_carried = false;
  bool delta_carried = false;
  ReferenceHashCheck snapshot_hash_check = ReferenceHashCheck::kNotChecked;
  // The SHA-256 of the records read, computed as the reference computes it.
  std::string computed_snapshot_hash;
  uint64_t version = 0;      // the store version written
  std::string content_hash;  // its content hash (Version::content_hash)
  std::vector<NotCarried> not_carried;
};

// Reads the reference cache directory `reference_dir` and makes its
// tracks, metadata and delta state the store `store_dir`'s next version, in
// one commit (created when missing):
//  - the snapshot: library_snapshot.json.gz or library_snapshot.json; when
//    both exist, the one modified last (the .gz on a tie), and the other is
//    reported. Read twice, streaming: a first pass checks every record and
//    computes the SHA-256 and the duplicate and empty ids before anything
//    is written, the second imports it into the store's columns, so memory
//    stays near one store fragment whatever the size of the library.
//    Duplicate ids keep the content of the last record at the position of
//    the first; records with an empty id are dropped; both are reported.
//  - the metadata becomes the version's ServiceMetadata (last full scan,
//    library mtime, last force scan); track count and hash are the
//    version's own. Metadata that is missing, unreadable or of a version
//    other than "1.0" is not carried (reported): the store then has no
//    metadata and the service's validity check asks for a full scan.
//  - the delta state (last run, processed ids, field hashes, tracked since)
//    likewise; a missing or unreadable delta file is reported, not an error.
// With options.overwrite, metadata or a delta state that is not carried is
// absent from the new version (the older version's is not inherited).
// Errors (nothing written to the store): NotFound (no reference directory,
// no snapshot file), InvalidArgument (a snapshot that is not the reference's
// JSON, naming the record and field; the store already holds a version and
// overwrite is false), file and store errors.
TRACKSTORE_EXPORT Result<AdoptReport> AdoptReferenceCache(const std::string& reference_dir,
                                                          const std::string& store_dir,
                                                          const AdoptOptions& options = {});

struct TRACKSTORE_EXPORT ExportReferenceOptions {
  // library_snapshot.json.gz (gzip level 6) when true, library_snapshot.json
  // when false, as the reference's own setting. Default: true.
  bool compress = true;
  // The store version to write; unset: the current one.
  std::optional<uint64_t> version;
  // fdatasync each file and fsync the directory. Default: true.
  bool sync = true;
  // How the store is opened (read only: it is never created).
  StoreOptions store;
};

struct TRACKSTORE_EXPORT ExportReferenceReport {
  uint64_t version = 0;  // the store version written
  uint64_t tracks = 0;
  std::string snapshot_file;                 // path written
  std::optional<std::string> metadata_file;  // unset: the version had no metadata
  std::optional<std::string> delta_file;     // unset: the version had no delta state
  std::string snapshot_hash;  // SHA-256 written into the metadata (computed either way)
  // Things worth knowing: a metadata or delta file removed because the
  // version has none, the other snapshot file left in place.
  std::vector<std::string> notes;
};

// Writes store version `options.version` (default: current) of `store_dir`
// into `reference_dir` (created when missing) as the reference writes its
// files: the tracks as one JSON array with every declared field in the
// reference's order (null when absent) and the extras after them, in
// Python json.dumps's layout; the metadata and delta files indented by 2;
// times as naive UTC ISO 8601; snapshot_hash = SHA-256 of the tracks in
// Python's canonical form (sorted keys, compact). Each file is replaced
// atomically. The metadata file is removed first and written last but one,
// so an interruption leaves no metadata, which the reference reads as "full
// scan needed". A version without metadata (or delta state) removes that
// file from `reference_dir`, for the same reason.
// Errors: NotFound (no store, no version), InvalidArgument (a time the
// reference cannot represent, text that is not UTF-8), file errors.
TRACKSTORE_EXPORT Result<ExportReferenceReport> ExportReferenceCache(
    const std::string& store_dir, const std::string& reference_dir,
    const ExportReferenceOptions& options = {});

}  // namespace trackstore

#endif  // TRACKSTORE_REFERENCE_FILES_H_
