// src/store/version_rep.h (internal)
//
// What an open Version holds, shared by version.cc (reads) and store.cc
// (commits, which resolve their rows against the version they apply to).
//
// Rows are numbered across the version's fragments in manifest order (base
// fragments, then deltas): fragment k's rows are [start[k], start[k+1]).
// A slot is a place in library order: every base row is one, and so is
// every delta row appended as new. A delta row that replaces or removes
// targets a slot by its first row; the newest such row decides the slot.
#ifndef TRACKSTORE_SRC_STORE_VERSION_REP_H_
#define TRACKSTORE_SRC_STORE_VERSION_REP_H_

#include <cstdint>
#include <memory>
#include <mutex>
#include <string>
#include <vector>

#include "trackstore/env.h"
#include "trackstore/snapshot.h"
#include "trackstore/store.h"

namespace trackstore {

namespace store {

// The delta state named by `info` (DIR/state/<name>.json), checked against
// its name. NotFound when the version has none. Reads no fragment.
Result<DeltaState> ReadDeltaState(Env* env, const std::string& directory, const VersionInfo& info);

// slot -> the row now holding it, or kDeadRow when removed. Open addressing
// over non-zero keys (slot + 1): built once per version from the delta rows.
class SlotTable {
 public:
  static constexpr uint64_t kDeadRow = ~uint64_t{0};
  void Reset(uint64_t expected);
  void Put(uint64_t slot, uint64_t row);
  uint64_t Get(uint64_t slot) const;  // REQUIRES: Put(slot) was called

 private:
  std::vector<std::pair<uint64_t, uint64_t>> cells_;
  uint64_t mask_ = 0;
};

struct SlotMap {
  std::vector<uint64_t> overridden;  // bitmap over rows: a delta replaced or removed this slot
  SlotTable table;
  std::vector<uint64_t> appended;  // first rows of appended slots, in library order
  uint64_t live = 0;               // tracks in the version
  Status status;                   // damage found while building (bad targets)

  bool Overridden(uint64_t slot) const {
    return !overridden.empty() && (overridden[slot >> 6] >> (slot & 63) & 1) != 0;
  }
};

}  // namespace store

struct TRACKSTORE_HIDDEN Version::Fragments {
  VersionInfo info;
  std::vector<std::shared_ptr<const Snapshot>> fragments;  // manifest order
  std::vector<const internal::Columns*> columns;           // of each fragment
  std::vector<uint64_t> start;                             // fragments.size() + 1 entries
  size_t base_fragments = 0;
  uint64_t base_rows = 0;
  std::string directory;  // for the delta state
  Env* env = nullptr;

  // Fills columns, start, base_fragments and base_rows from fragments.
  void Index();
  // Built on first use; thread-safe.
  const store::SlotMap& Slots() const;
  // Fragment holding row `row`.
  size_t FragmentOf(uint64_t row) const;
  // The slot a row stands for: its target when it replaces or removes,
  // else itself.
  uint64_t SlotOf(size_t fragment, uint64_t local_row) const;
  // Newest-first lookup: fragment and local row, or fragment == SIZE_MAX.
  // A removal row is returned as found; the caller checks IsRemoved.
  std::pair<size_t, uint64_t> Locate(std::string_view id) const;
  // The same with the id's hash (format::HashId) known; Prefetch(hash) a
  // few lookups ahead lets the cache misses of many lookups overlap.
  std::pair<size_t, uint64_t> Locate(std::string_view id, uint64_t hash) const;
  void Prefetch(uint64_t hash) const;
  // The second stage, once Prefetch(hash) has landed: where the home slot
  // names a row whose hash tag matches, prefetches that row's id offsets
  // and track hash.
  void PrefetchRow(uint64_t hash) const;
  bool IsRemoved(size_t fragment, uint64_t local_row) const;
  // Slots in library order: base rows, then appended slots.
  uint64_t SlotCount() const;
  uint64_t SlotAt(uint64_t position) const;

  // Track count and logical hash recomputed from the fragments.
  void Compute(uint64_t* count, std::string* hash) const;

 private:
  mutable std::once_flag slots_once_;
  mutable store::SlotMap slots_;
};

}  // namespace trackstore

#endif  // TRACKSTORE_SRC_STORE_VERSION_REP_H_
