// src/json_columns.h (internal)
//
// ImportJsonToStore (include/trackstore/json.h) with what adopting another
// application's files needs beyond it.
#ifndef TRACKSTORE_SRC_JSON_COLUMNS_H_
#define TRACKSTORE_SRC_JSON_COLUMNS_H_

#include <functional>
#include <string>

#include "trackstore/json.h"
#include "trackstore/result.h"
#include "trackstore/status.h"
#include "trackstore/store.h"

namespace trackstore::internal {

struct StoreImportHooks {
  // Runs under the store's writer lock before anything is written; an
  // error stops the import with nothing written (a check that must not race
  // another writer, such as "the store holds no version yet").
  std::function<Status()> under_lock;
  // As StoreAccess::ReplaceStreaming's inherit_state.
  bool inherit_state = true;
};

Result<CommitStats> ImportJsonToStore(Store& store, const std::string& json_path,
                                      const JsonImportOptions& import_options,
                                      const CommitOptions& commit_options,
                                      const StoreImportHooks& hooks);

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_JSON_COLUMNS_H_
