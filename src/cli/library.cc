#include "library.h"

#include <algorithm>
#include <filesystem>
#include <utility>
#include <vector>

#include "trackstore/clock.h"

namespace trackstore::cli {

bool IsStoreDirectory(const std::string& path) {
  std::error_code ec;
  return std::filesystem::is_directory(std::filesystem::path(path) / "manifests", ec);
}

std::string StoreHint(const Status& s, const std::string& dir) {
  if (s.IsBusy()) {
    return "another process is writing to " + dir +
           " (its pid is above); wait for it to finish, or give it longer with --wait SECONDS";
  }
  if (s.IsNotFound() && s.message().find("not a trackstore store") != std::string::npos) {
    return "create one with `trackstore import LIBRARY.json " + dir + "/`";
  }
  if (s.IsNotFound() && s.message().find("no version yet") != std::string::npos) {
    return "give it its first version with `trackstore import LIBRARY.json " + dir + "/`";
  }
  if (s.IsCorruption() || s.IsVersionUnsupported() || s.IsNotASnapshot()) {
    return "the store is damaged; `trackstore log " + dir +
           "` lists the versions that still read, `trackstore checkout " + dir +
           " N` makes one of them current";
  }
  return {};
}

Result<Store> OpenExistingStore(const std::string& dir, double lock_wait_seconds, bool sync,
                                std::string* hint) {
  if (!IsStoreDirectory(dir)) {
    Status s = Status::NotFound(dir, "not a trackstore store (no manifests/ directory)");
    *hint = StoreHint(s, dir);
    return s;
  }
  StoreOptions options;
  options.create_if_missing = false;
  options.sync = sync;
  options.lock_timeout = static_cast<Micros>(std::max(0.0, lock_wait_seconds) * kMicrosPerSecond);
  Result<Store> store = Store::Open(dir, options);
  if (!store.ok()) *hint = StoreHint(store.status(), dir);
  return store;
}

Status MissingVersion(const Store& store, uint64_t number, const Status& why) {
  Result<std::vector<VersionInfo>> log = store.Log();
  const std::string& dir = store.directory();
  const std::string n = std::to_string(number);
  if (!log.ok()) return why;
  if (log->empty() || number > log->front().number) {
    return Status::NotFound(
        dir, "version " + n + " does not exist" +
                 (log->empty() ? std::string(" (the store has no version yet)")
                               : " (the newest is " + std::to_string(log->front().number) + ")"));
  }
  if (number == 0) return Status::NotFound(dir, "versions are numbered from 1");
  return Status::NotFound(dir, "version " + n + " was garbage-collected; `trackstore log " + dir +
                                   "` lists the kept ones");
}

Result<Library> Library::Open(const std::string& path, std::optional<uint64_t> version,
                              std::string* hint) {
  Library lib;
  lib.path_ = path;
  if (!IsStoreDirectory(path)) {
    if (version) {
      return Status::InvalidArgument(path, "--version needs a store directory, not a file");
    }
    Result<Snapshot> snap = Snapshot::Open(path);
    if (!snap.ok()) return snap.status();
    lib.snapshot_.emplace(std::move(snap).value());
    return lib;
  }
  Result<Store> store = OpenExistingStore(path, 0, true, hint);
  if (!store.ok()) return store.status();
  Result<Version> v = version ? store->At(*version) : store->Current();
  if (!v.ok()) {
    if (version && v.status().IsNotFound()) return MissingVersion(*store, *version, v.status());
    *hint = StoreHint(v.status(), path);
    return v.status();
  }
  lib.version_.emplace(std::move(v).value());
  return lib;
}

std::string Library::Describe() const {
  if (!is_store()) return path_;
  return path_ + " version " + std::to_string(version_->number());
}

}  // namespace trackstore::cli
