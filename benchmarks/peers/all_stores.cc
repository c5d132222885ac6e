// benchmarks/peers/all_stores.cc
//
// The stores of this build. benchmarks/meson.build defines
// TRACKSTORE_PEER_<NAME>=1 for each peer whose library was found.
#include "store.h"

namespace trackstore_bench {

std::vector<std::unique_ptr<Store>> AllStores() {
  std::vector<std::unique_ptr<Store>> stores;
  stores.push_back(NewTrackstoreStore());
  stores.push_back(NewReadStore());  // needs nothing beyond trackstore
#if TRACKSTORE_PEER_REFERENCE
  stores.push_back(NewReferenceStore());
#endif
#if TRACKSTORE_PEER_SQLITE
  stores.push_back(NewSqliteStore());
#endif
#if TRACKSTORE_PEER_LMDB
  stores.push_back(NewLmdbStore());
#endif
  return stores;
}

}  // namespace trackstore_bench
