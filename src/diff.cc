#include "trackstore/diff.h"

#include <algorithm>
#include <optional>
#include <string>
#include <vector>

#include "trackstore/store.h"

namespace trackstore {

namespace {

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

// The reference application's narrower rule (doc/behaviour.md section 8).
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

std::vector<Field> Changes(const TrackView& before, const TrackView& after,
                           const DiffOptions& options) {
  return options.rule == ChangeRule::kReference ? ReferenceChangedFields(before, after)
                                                : ChangedFields(before, after);
}

// One walk for every pair of sides: A and B are Snapshot or Version, each
// with begin()/end() yielding TrackView in library order and Find(id).
// Both are walked together; where the ids agree (B came from a merge or a
// commit into A), the pair is compared directly. Elsewhere an id of A that
// B lacks is removed and only A advances, and an id of B that A lacks is
// new and only B advances, so the two walks fall back into step after a
// removal or an insertion; otherwise both ids are on both sides and B's
// track is compared with A's found by lookup. Ids are unique on each side,
// so every common id is compared exactly once: where both walks meet it, or
// where B's walk reaches it out of step.
template <typename A, typename B>
SnapshotDiff DiffOf(const A& a, const B& b, const DiffOptions& options) {
  SnapshotDiff diff;
  auto compare = [&](const TrackView& before, const TrackView& after) {
    if (before.content_hash() == after.content_hash()) return;  // unchanged
    std::vector<Field> changed = Changes(before, after, options);
    if (!changed.empty()) diff.updated.push_back({std::string(after.id()), std::move(changed)});
  };
  auto ia = a.begin(), ea = a.end();
  auto ib = b.begin(), eb = b.end();
  while (ia != ea || ib != eb) {
    const bool has_a = ia != ea, has_b = ib != eb;
    if (has_a && has_b && (*ia).id() == (*ib).id()) {
      compare(*ia, *ib);
      ++ia;
      ++ib;
      continue;
    }
    if (has_a && !b.Find((*ia).id())) {
      diff.removed.emplace_back((*ia).id());
      ++ia;
      continue;
    }
    if (has_b) {
      const TrackView after = *ib;
      std::optional<TrackView> before = a.Find(after.id());
      if (!before) {
        diff.added.emplace_back(after.id());
        ++ib;
        continue;
      }
      compare(*before, after);
      ++ib;
    }
    if (has_a) ++ia;  // in B too, out of step: compared when B's walk reaches it
  }
  std::sort(diff.added.begin(), diff.added.end());
  std::sort(diff.removed.begin(), diff.removed.end());
  std::sort(diff.updated.begin(), diff.updated.end(),
            [](const UpdatedTrack& x, const UpdatedTrack& y) { return x.id < y.id; });
  return diff;
}

// Two single snapshots: one lookup at most per track of A, whatever the
// order. Position i of B is tried first (shared order costs no lookup), and
// every track of B that A matched is marked by its position, so the tracks
// of B left unmarked are the new ones without a lookup back into A.
SnapshotDiff DiffSnapshots(const Snapshot& a, const Snapshot& b, const DiffOptions& options) {
  SnapshotDiff diff;
  std::vector<uint64_t> matched((b.size() + 63) / 64, 0);
  for (uint64_t i = 0; i < a.size(); ++i) {
    const TrackView before = a[i];
    std::optional<TrackView> after;
    if (i < b.size() && b[i].id() == before.id()) {
      after = b[i];
    } else {
      after = b.Find(before.id());
    }
    if (!after) {
      diff.removed.emplace_back(before.id());
      continue;
    }
    matched[after->index() >> 6] |= uint64_t{1} << (after->index() & 63);
    if (before.content_hash() == after->content_hash()) continue;  // unchanged
    std::vector<Field> changed = Changes(before, *after, options);
    if (!changed.empty()) diff.updated.push_back({std::string(after->id()), std::move(changed)});
  }
  for (uint64_t j = 0; j < b.size(); ++j) {
    if ((matched[j >> 6] >> (j & 63) & 1) == 0) diff.added.emplace_back(b[j].id());
  }
  std::sort(diff.added.begin(), diff.added.end());
  std::sort(diff.removed.begin(), diff.removed.end());
  std::sort(diff.updated.begin(), diff.updated.end(),
            [](const UpdatedTrack& x, const UpdatedTrack& y) { return x.id < y.id; });
  return diff;
}

}  // namespace

SnapshotDiff Diff(const Snapshot& a, const Snapshot& b, const DiffOptions& options) {
  return DiffSnapshots(a, b, options);
}
// A version of one base fragment is that snapshot: the cheaper diff applies.
SnapshotDiff Diff(const Version& a, const Version& b, const DiffOptions& options) {
  if (a.single_snapshot() != nullptr && b.single_snapshot() != nullptr) {
    return DiffSnapshots(*a.single_snapshot(), *b.single_snapshot(), options);
  }
  return DiffOf(a, b, options);
}
SnapshotDiff Diff(const Snapshot& a, const Version& b, const DiffOptions& options) {
  if (b.single_snapshot() != nullptr) return DiffSnapshots(a, *b.single_snapshot(), options);
  return DiffOf(a, b, options);
}
SnapshotDiff Diff(const Version& a, const Snapshot& b, const DiffOptions& options) {
  if (a.single_snapshot() != nullptr) return DiffSnapshots(*a.single_snapshot(), b, options);
  return DiffOf(a, b, options);
}

}  // namespace trackstore
