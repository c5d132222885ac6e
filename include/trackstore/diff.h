// include/trackstore/diff.h
//
// The difference between two snapshots A (older) and B (newer), as doc/behaviour.md
// section 8 says: new = ids only in B, removed = ids only in A, updated =
// ids in both whose content differs, each sorted by id byte-wise. Each
// updated id lists the fields that changed.
//
// Every track carries a hash of its content, so an unchanged track costs a
// hash compare, not a field compare; where A and B hold the same id at the
// same place in library order (B came from a merge into A), no lookup is
// needed either. Elsewhere each id is looked up with Find in the other side.
//
// A side is a snapshot file or a store version (layered or not); any pair
// gives the same result as the two libraries written from scratch.
#ifndef TRACKSTORE_DIFF_H_
#define TRACKSTORE_DIFF_H_

#include <string>
#include <vector>

#include "trackstore/export.h"
#include "trackstore/snapshot.h"
#include "trackstore/track.h"

namespace trackstore {

class Version;  // store.h

enum class ChangeRule {
  // Any field, extras included, counts; null and "" differ.
  kAllFields,
  // The reference application's rule: only genre, year and track_status;
  // genre and year count when the new value is non-empty and differs (null
  // and "" are the same, clearing a value is not a change); track_status
  // counts only when both values are non-empty and differ.
  kReference,
};

struct TRACKSTORE_EXPORT DiffOptions {
  // Which differences make a common id "updated". Default: every field.
  ChangeRule rule = ChangeRule::kAllFields;
};

struct TRACKSTORE_EXPORT UpdatedTrack {
  std::string id;
  std::vector<Field> changed;  // in Field order; by the rule in force
};

struct TRACKSTORE_EXPORT SnapshotDiff {
  std::vector<std::string> added;  // SPEC's "new"
  std::vector<UpdatedTrack> updated;
  std::vector<std::string> removed;
  bool empty() const { return added.empty() && updated.empty() && removed.empty(); }
};

TRACKSTORE_EXPORT SnapshotDiff Diff(const Snapshot& a, const Snapshot& b,
                                    const DiffOptions& options = {});
TRACKSTORE_EXPORT SnapshotDiff Diff(const Version& a, const Version& b,
                                    const DiffOptions& options = {});
TRACKSTORE_EXPORT SnapshotDiff Diff(const Snapshot& a, const Version& b,
                                    const DiffOptions& options = {});
TRACKSTORE_EXPORT SnapshotDiff Diff(const Version& a, const Snapshot& b,
                                    const DiffOptions& options = {});

}  // namespace trackstore

#endif  // TRACKSTORE_DIFF_H_
