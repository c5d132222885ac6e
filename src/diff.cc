#include "trackstore/diff.h"

#include <algorithm>

#include "snapshot_access.h"

namespace trackstore {

namespace {

using internal::Columns;

std::string_view IdAt(const Columns& c, uint64_t i) {
  return internal::StringAt(c.strings[static_cast<int>(Field::kId)], i);
}

// Every field that differs; null and "" differ.
std::vector<Field> ChangedFields(const TrackView& a, const TrackView& b) {
  std::vector<Field> changed;
  for (int f = 0; f < kStringFieldCount; ++f) {
    if (a.string_field(f) != b.string_field(f)) changed.push_back(static_cast<Field>(f));
  }
  if (a.original_pos() != b.original_pos()) changed.push_back(Field::kOriginalPos);
  if (a.extras_json() != b.extras_json()) changed.push_back(Field::kExtras);
  return changed;
}

// The reference application's narrower rule (SPEC.md section 8).
std::vector<Field> ReferenceChangedFields(const TrackView& a, const TrackView& b) {
  std::vector<Field> changed;
  for (Field f : {Field::kGenre, Field::kYear}) {
    const std::string_view before = a.string_field(static_cast<int>(f)).value_or("");
    const std::string_view after = b.string_field(static_cast<int>(f)).value_or("");
    if (!after.empty() && after != before) changed.push_back(f);
  }
  const std::string_view before = a.track_status().value_or("");
  const std::string_view after = b.track_status().value_or("");
  if (!before.empty() && !after.empty() && before != after) {
    changed.push_back(Field::kTrackStatus);
  }
  return changed;
}

}  // namespace

SnapshotDiff Diff(const Snapshot& a, const Snapshot& b, const DiffOptions& options) {
  const Columns& ca = internal::SnapshotAccess::Of(a);
  const Columns& cb = internal::SnapshotAccess::Of(b);
  SnapshotDiff diff;
  std::vector<bool> seen_in_b(ca.count, false);
  for (uint64_t j = 0; j < cb.count; ++j) {
    const std::string_view id = IdAt(cb, j);
    // When B came from a merge into A, the same id sits at the same
    // position: one compare instead of a lookup.
    uint64_t i = j;
    if (j >= ca.count || IdAt(ca, j) != id) {
      std::optional<TrackView> found = a.Find(id);
      if (!found) {
        diff.added.emplace_back(id);
        continue;
      }
      i = found->index();
    }
    seen_in_b[i] = true;
    if (ca.track_hashes[i] == cb.track_hashes[j]) continue;  // unchanged
    const TrackView before(&ca, i), after(&cb, j);
    std::vector<Field> changed = options.rule == ChangeRule::kReference
                                     ? ReferenceChangedFields(before, after)
                                     : ChangedFields(before, after);
    if (!changed.empty()) diff.updated.push_back({std::string(id), std::move(changed)});
  }
  for (uint64_t i = 0; i < ca.count; ++i) {
    if (!seen_in_b[i]) diff.removed.emplace_back(IdAt(ca, i));
  }
  std::sort(diff.added.begin(), diff.added.end());
  std::sort(diff.removed.begin(), diff.removed.end());
  std::sort(diff.updated.begin(), diff.updated.end(),
            [](const UpdatedTrack& x, const UpdatedTrack& y) { return x.id < y.id; });
  return diff;
}

}  // namespace trackstore
