// include/trackstore/delta_state.h
//
// DeltaState is the delta-processing state of doc/behaviour.md section 6: when the
// last run was, which track ids have been processed since tracking began,
// and per-track field hashes that trackstore carries but never interprets.
//
// The set of processed ids is reset (emptied, and the tracking window
// restarted) when it grows to 50,000 ids or its window is more than 7 days
// old, so that it cannot grow without bound and old work gets redone.
//
// SnapshotService loads and saves a DeltaState as delta_state.json; this
// header holds the value and its rules. A DeltaState is plain data: not
// thread-safe for concurrent mutation.
#ifndef TRACKSTORE_DELTA_STATE_H_
#define TRACKSTORE_DELTA_STATE_H_

#include <cstddef>
#include <map>
#include <optional>
#include <set>
#include <span>
#include <string>
#include <string_view>

#include "trackstore/clock.h"
#include "trackstore/export.h"
#include "trackstore/result.h"

namespace trackstore {

// Due for reset at this many processed ids or more.
inline constexpr size_t kDeltaResetIdCount = 50'000;
// Due for reset when the tracking window is strictly older than this.
inline constexpr Micros kDeltaResetAge = 7 * kMicrosPerDay;

// Persisted in delta_state.json. Bump when the layout changes; a file of
// another version reads as "no delta state".
inline constexpr int kDeltaStateFormatVersion = 1;

struct TRACKSTORE_EXPORT DeltaState {
  // When the last delta run finished.
  Micros last_run = 0;
  // Track ids processed since `tracked_since`, compared as exact bytes.
  std::set<std::string> processed_ids;
  // Per-track field hashes: id -> hash text. Carried through load and save
  // unchanged, and kept across a reset of the ids.
  std::map<std::string, std::string> field_hashes;
  // Start of the tracking window of processed_ids; unset until the first
  // AddProcessedIds (even one that adds no ids).
  std::optional<Micros> tracked_since;

  bool operator==(const DeltaState&) const = default;

  // True when processed_ids holds >= kDeltaResetIdCount ids, or when
  // now - (tracked_since, or else last_run) > kDeltaResetAge (strictly: a
  // window of exactly 7 days is not yet due).
  bool IsDueForReset(Micros now) const;

  // If due for reset, empties processed_ids and sets tracked_since = now.
  // Returns whether it reset.
  bool ResetIfDue(Micros now);

  // Adds `ids`. The reset rule is applied first, so the limit is checked
  // before adding, not after: 49,999 ids plus 10 more gives 50,009 ids (the
  // next add or save resets). Then, if tracked_since is unset, sets it to
  // now, even when `ids` is empty.
  void AddProcessedIds(std::span<const std::string> ids, Micros now);

  // The JSON text stored in delta_state.json. Errors: InvalidArgument when
  // an id or hash is not valid UTF-8 (JSON cannot hold it).
  Result<std::string> ToJson() const;

  // Parses ToJson's output. Errors: InvalidArgument for text that is not
  // JSON, lacks a field, has a field of the wrong type, or another format
  // version; the message names the problem and `source`.
  static Result<DeltaState> FromJson(std::string_view json, std::string_view source);
};

}  // namespace trackstore

#endif  // TRACKSTORE_DELTA_STATE_H_
