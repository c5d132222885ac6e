// src/cli/library.h: what the reading commands (info, verify, get, lookup,
// export, diff) open: a snapshot file, or a version of a store directory.
#ifndef TRACKSTORE_CLI_LIBRARY_H_
#define TRACKSTORE_CLI_LIBRARY_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "trackstore/result.h"
#include "trackstore/snapshot.h"
#include "trackstore/status.h"
#include "trackstore/store.h"

namespace trackstore::cli {

// A store is a directory with a manifests/ directory in it.
bool IsStoreDirectory(const std::string& path);

// An error with what a person can do about it ("" when nothing useful).
struct Failure {
  Status status;
  std::string hint;
};

// Opens the store at `dir`, which must exist. `lock_wait_seconds` bounds how
// long a write waits for another writer.
Result<Store> OpenExistingStore(const std::string& dir, double lock_wait_seconds, bool sync,
                                std::string* hint);

// The hint for a store operation's error: who holds the lock, what to do
// with a damaged store or a missing version.
std::string StoreHint(const Status& s, const std::string& dir);

// Version `number` of `store` could not be opened (`why`, NotFound): says
// whether it never existed or was garbage-collected, and where to look.
Status MissingVersion(const Store& store, uint64_t number, const Status& why);

// A snapshot file or one version of a store, opened for reading.
class Library {
 public:
  // `version`: which version of a store (default the current one); an error
  // for a snapshot file.
  static Result<Library> Open(const std::string& path, std::optional<uint64_t> version,
                              std::string* hint);

  bool is_store() const { return version_.has_value(); }
  const std::string& path() const { return path_; }
  uint64_t size() const { return is_store() ? version_->size() : snapshot_->size(); }
  bool empty() const { return size() == 0; }
  std::optional<TrackView> Find(std::string_view id) const {
    return is_store() ? version_->Find(id) : snapshot_->Find(id);
  }
  const std::string& content_hash() const {
    return is_store() ? version_->content_hash() : snapshot_->content_hash();
  }
  // "lib.snap" or "store/ version 7".
  std::string Describe() const;

  const Snapshot* snapshot() const { return snapshot_ ? &*snapshot_ : nullptr; }
  const Version* version() const { return version_ ? &*version_ : nullptr; }

  // Calls f(const Snapshot&) or f(const Version&): code written once for
  // both kinds.
  template <typename F>
  decltype(auto) Visit(F&& f) const {
    return is_store() ? f(*version_) : f(*snapshot_);
  }

 private:
  std::string path_;
  std::optional<Snapshot> snapshot_;
  std::optional<Version> version_;
};

}  // namespace trackstore::cli

#endif  // TRACKSTORE_CLI_LIBRARY_H_
