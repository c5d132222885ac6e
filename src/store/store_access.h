// src/store/store_access.h (internal)
//
// What other parts of the library do to a Store that its users do not: a
// full replacement from fragments already encoded (the streaming JSON
// import fills snapshot columns itself), and that import with hooks.
#ifndef TRACKSTORE_SRC_STORE_STORE_ACCESS_H_
#define TRACKSTORE_SRC_STORE_STORE_ACCESS_H_

#include <cstdint>
#include <functional>
#include <string>

#include "trackstore/json.h"
#include "trackstore/result.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/store.h"

namespace trackstore::internal {

// Sets *image to the next base fragment (a complete snapshot file image,
// valid until the next call) and *result to what encoding it gave, and
// returns true; returns false when there are no more. An empty library is
// one fragment of no tracks.
using FragmentImageFn = std::function<Result<bool>(EncodedView* image, WriteResult* result)>;

// Hands one encoded base fragment to the store, which writes it before
// returning (the image may then be reused).
using AddFragmentFn = std::function<Status(const EncodedView& image, const WriteResult& result)>;

// What adopting another application's files (src/reference_files.cc) needs
// beyond ImportJsonToStore.
struct StoreImportHooks {
  // Runs under the store's writer lock before anything is written; an
  // error stops the import with nothing written (a check that must not race
  // another writer, such as "the store holds no version yet").
  std::function<Status()> under_lock;
  // As StoreAccess::ReplaceStreaming's inherit_state.
  bool inherit_state = true;
};

// ImportJsonToStore (json.h) with `hooks`; defined in src/json_columns.cc.
Result<CommitStats> ImportJsonToStore(Store& store, const std::string& json_path,
                                      const JsonImportOptions& import_options,
                                      const CommitOptions& commit_options,
                                      const StoreImportHooks& hooks);

struct StoreAccess {
  // Store::Replace with the fragments `produce` hands over, holding the
  // writer lock while it runs. Ids must be unique across fragments (checked,
  // as Replace does). `produce` must add at least one fragment (an empty
  // library is one fragment of no tracks). With `inherit_state` false, the
  // new version's metadata and delta state are those of `options` only
  // (unset: none), not the parent's: a library adopted from elsewhere must
  // not pair with the state of the one it replaces.
  static Result<CommitStats> ReplaceStreaming(
      Store& store, const std::function<Status(const AddFragmentFn&)>& produce,
      const CommitOptions& options, bool inherit_state = true);
  // StoreOptions::max_fragment_bytes after clamping.
  static uint64_t MaxFragmentBytes(const Store& store);
  // The Env the store does its file operations through.
  static Env* GetEnv(const Store& store);
};

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_STORE_STORE_ACCESS_H_
