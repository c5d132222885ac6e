// Version: reads over a base and its delta fragments.
#include <xxh_x86dispatch.h>

#include <algorithm>
#include <bit>
#include <cstring>

#include "misuse.h"
#include "snapshot_access.h"
#include "snapshot_format.h"
#include "store/version_rep.h"
#include "trackstore/store.h"

namespace trackstore {

namespace store {

void SlotTable::Reset(uint64_t expected) {
  const uint64_t size = std::bit_ceil(std::max<uint64_t>(2 * expected, 16));
  cells_.assign(size, {0, 0});
  mask_ = size - 1;
}

void SlotTable::Put(uint64_t slot, uint64_t row) {
  const uint64_t key = slot + 1;
  for (uint64_t i = (key * 0x9E3779B97F4A7C15ULL) >> 20 & mask_;; i = (i + 1) & mask_) {
    if (cells_[i].first == 0 || cells_[i].first == key) {
      cells_[i] = {key, row};
      return;
    }
  }
}

uint64_t SlotTable::Get(uint64_t slot) const {
  const uint64_t key = slot + 1;
  for (uint64_t i = (key * 0x9E3779B97F4A7C15ULL) >> 20 & mask_;; i = (i + 1) & mask_) {
    if (cells_[i].first == key) return cells_[i].second;
    if (cells_[i].first == 0) return kDeadRow;  // not reached for a slot that was Put
  }
}

}  // namespace store

using store::SlotMap;

void Version::Fragments::Index() {
  columns.clear();
  start.assign(1, 0);
  base_fragments = 0;
  for (const auto& f : fragments) {
    columns.push_back(&internal::SnapshotAccess::Of(*f));
    start.push_back(start.back() + f->size());
    if (!f->is_delta()) ++base_fragments;
  }
  base_rows = start[base_fragments];
}

size_t Version::Fragments::FragmentOf(uint64_t row) const {
  return static_cast<size_t>(std::upper_bound(start.begin(), start.end(), row) - start.begin()) - 1;
}

bool Version::Fragments::IsRemoved(size_t k, uint64_t r) const {
  const uint8_t* removed = columns[k]->delta_removed;
  return removed != nullptr && internal::BitSet(removed, r);
}

uint64_t Version::Fragments::SlotOf(size_t k, uint64_t r) const {
  const uint64_t* targets = columns[k]->delta_targets;
  if (targets != nullptr && targets[r] != format::kAppendTarget) return targets[r];
  return start[k] + r;
}

void Version::Fragments::Prefetch(uint64_t h) const {
  for (const internal::Columns* c : columns) __builtin_prefetch(internal::HomeSlot(*c, h));
}

void Version::Fragments::PrefetchRow(uint64_t h) const {
  for (const internal::Columns* c : columns) {
    const uint64_t slot = *internal::HomeSlot(*c, h);
    if (slot == 0 || (slot >> 32) != (h >> 32)) continue;
    const uint64_t row = (slot & 0xffffffff) - 1;
    if (row >= c->count) continue;
    __builtin_prefetch(c->strings[0].offsets + row);
    __builtin_prefetch(c->track_hashes + row);
  }
}

std::pair<size_t, uint64_t> Version::Fragments::Locate(std::string_view id) const {
  const uint64_t h = format::HashId(id);
  // One cache miss per fragment, overlapped: with several fragments a lookup
  // costs about one miss, not one per fragment.
  Prefetch(h);
  return Locate(id, h);
}

std::pair<size_t, uint64_t> Version::Fragments::Locate(std::string_view id, uint64_t h) const {
  for (size_t k = columns.size(); k-- > 0;) {
    const uint64_t r = internal::FindRow(*columns[k], id, h);
    if (r != internal::kNoRow) return {k, r};
  }
  return {SIZE_MAX, 0};
}

const SlotMap& Version::Fragments::Slots() const {
  std::call_once(slots_once_, [this] {
    SlotMap& m = slots_;
    const uint64_t total = start.back();
    uint64_t delta_rows = total - base_rows;
    m.live = base_rows;
    if (delta_rows == 0) return;
    m.overridden.assign((total + 63) / 64, 0);
    m.table.Reset(delta_rows);
    // A slot's first row is a base row or a delta row appended as new.
    auto is_slot = [&](uint64_t row) {
      if (row < base_rows) return true;
      const size_t k = FragmentOf(row);
      return columns[k]->delta_targets[row - start[k]] == format::kAppendTarget;
    };
    for (size_t k = base_fragments; k < columns.size(); ++k) {
      const internal::Columns& c = *columns[k];
      for (uint64_t r = 0; r < c.count; ++r) {
        const uint64_t row = start[k] + r;
        const uint64_t target = c.delta_targets[r];
        const bool removed = internal::BitSet(c.delta_removed, r);
        if (target == format::kAppendTarget) {
          if (removed) {
            m.status = Status::StructureInvalid(info.fragments[k].name, "a removal appends");
            continue;
          }
          m.appended.push_back(row);
          ++m.live;
          continue;
        }
        if (target >= start[k] || !is_slot(target)) {
          m.status = Status::StructureInvalid(
              info.fragments[k].name, "row " + std::to_string(r) + " targets row " +
                                          std::to_string(target) + ", not a slot before it");
          continue;
        }
        const bool was_live =
            !m.Overridden(target) || m.table.Get(target) != store::SlotTable::kDeadRow;
        m.overridden[target >> 6] |= uint64_t{1} << (target & 63);
        m.table.Put(target, removed ? store::SlotTable::kDeadRow : row);
        if (was_live && removed) --m.live;
        if (!was_live && !removed) ++m.live;
      }
    }
  });
  return slots_;
}

uint64_t Version::Fragments::SlotCount() const { return base_rows + Slots().appended.size(); }

uint64_t Version::Fragments::SlotAt(uint64_t p) const {
  return p < base_rows ? p : Slots().appended[p - base_rows];
}

void Version::Fragments::Compute(uint64_t* count, std::string* hash) const {
  const SlotMap& m = Slots();
  XXH3_state_t* state = XXH3_createState();
  XXH3_128bits_reset(state);
  // Singles gathered in a buffer; runs of untouched base rows hashed in
  // place. Both in library order.
  uint64_t buffer[512];
  size_t buffered = 0;
  auto flush = [&] {
    XXH3_128bits_update(state, buffer, buffered * sizeof(uint64_t));
    buffered = 0;
  };
  auto single = [&](uint64_t row) {
    const size_t k = FragmentOf(row);
    buffer[buffered++] = columns[k]->track_hashes[row - start[k]];
    if (buffered == std::size(buffer)) flush();
  };
  uint64_t live = 0;
  // Base rows: runs between overridden slots are hashed in place. The
  // bitmap is read a word at a time, so untouched stretches cost nothing.
  uint64_t run = 0;  // first row of the current untouched run
  auto end_run = [&](uint64_t at) {
    while (run < at) {  // a run may span base fragments
      const size_t k = FragmentOf(run);
      const uint64_t to = std::min(at, start[k + 1]);
      flush();
      XXH3_128bits_update(state, columns[k]->track_hashes + (run - start[k]),
                          (to - run) * sizeof(uint64_t));
      live += to - run;
      run = to;
    }
  };
  for (uint64_t w = 0; w < m.overridden.size() && w * 64 < base_rows; ++w) {
    for (uint64_t bits = m.overridden[w]; bits != 0; bits &= bits - 1) {
      const uint64_t slot = w * 64 + static_cast<uint64_t>(std::countr_zero(bits));
      if (slot >= base_rows) break;
      end_run(slot);
      run = slot + 1;
      const uint64_t now = m.table.Get(slot);
      if (now != store::SlotTable::kDeadRow) {
        single(now);
        ++live;
      }
    }
  }
  end_run(base_rows);
  for (uint64_t slot : m.appended) {
    const uint64_t now = m.Overridden(slot) ? m.table.Get(slot) : slot;
    if (now != store::SlotTable::kDeadRow) {
      single(now);
      ++live;
    }
  }
  flush();
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits_digest(state));
  XXH3_freeState(state);
  std::array<uint8_t, 16> digest;
  std::memcpy(digest.data(), canonical.digest, digest.size());
  *hash = format::HashToHex(digest);
  *count = live;
}

// --- Version ---------------------------------------------------------------

Version::Version(std::shared_ptr<const Fragments> fragments) : rep_(std::move(fragments)) {}
Version::~Version() = default;

// Every method checks that the Version was not moved from (one compare): a
// call on a moved-from Version aborts with its name instead of reading
// through a null pointer.
const VersionInfo& Version::info() const {
  internal::CheckNotMovedFrom(rep_, "Version::info");
  return rep_->info;
}

std::optional<TrackView> Version::Find(std::string_view id) const {
  internal::CheckNotMovedFrom(rep_, "Version::Find");
  const auto [k, r] = rep_->Locate(id);
  if (k == SIZE_MAX || rep_->IsRemoved(k, r)) return std::nullopt;
  return TrackView(rep_->columns[k], r);
}

const Snapshot* Version::single_snapshot() const {
  internal::CheckNotMovedFrom(rep_, "Version::single_snapshot");
  const bool one_base = rep_->fragments.size() == 1 && !rep_->fragments[0]->is_delta();
  return one_base ? rep_->fragments[0].get() : nullptr;
}

Status Version::Verify() const {
  internal::CheckNotMovedFrom(rep_, "Version::Verify");
  const Fragments& r = *rep_;
  for (size_t k = 0; k < r.fragments.size(); ++k) {
    if (Status s = r.fragments[k]->Verify(); !s.ok()) return s;
  }
  if (!r.Slots().status.ok()) return r.Slots().status;
  uint64_t count = 0;
  std::string hash;
  r.Compute(&count, &hash);
  const std::string name = "version " + std::to_string(r.info.number);
  if (count != r.info.track_count) {
    return Status::StructureInvalid(name, "fragments hold " + std::to_string(count) +
                                              " tracks, the manifest says " +
                                              std::to_string(r.info.track_count));
  }
  if (hash != r.info.content_hash) {
    return Status::HashMismatch(
        name, "manifest says " + r.info.content_hash + ", the tracks hash to " + hash);
  }
  return Status::OK();
}

Result<DeltaState> store::ReadDeltaState(Env* env, const std::string& directory,
                                         const VersionInfo& info) {
  if (info.delta_state.empty()) {
    return Status::NotFound("version " + std::to_string(info.number), "no delta state");
  }
  const std::string path = directory + "/state/" + info.delta_state + ".json";
  std::string text;
  if (Status s = env->ReadFile(path, uint64_t{1} << 30, &text); !s.ok()) return s;
  const std::array<uint8_t, 16> digest =
      format::HashPayload({reinterpret_cast<const uint8_t*>(text.data()), text.size()});
  if (format::HashToHex(digest) != info.delta_state) {
    return Status::HashMismatch(path, "delta state does not hash to its name");
  }
  return DeltaState::FromJson(text, path);
}

Result<DeltaState> Version::ReadDeltaState() const {
  internal::CheckNotMovedFrom(rep_, "Version::ReadDeltaState");
  return store::ReadDeltaState(rep_->env, rep_->directory, rep_->info);
}

// --- iteration -------------------------------------------------------------

Version::Iterator::Iterator(const Version::Fragments* version, uint64_t slot)
    : version_(version), slot_(slot) {
  Settle();
}

void Version::Iterator::Settle() {
  const Fragments& v = *version_;
  const uint64_t end = v.base_rows + (v.start.back() > v.base_rows ? v.Slots().appended.size() : 0);
  for (; slot_ < end; ++slot_) {
    const uint64_t slot = slot_ < v.base_rows ? slot_ : v.Slots().appended[slot_ - v.base_rows];
    uint64_t row = slot;
    if (v.start.back() > v.base_rows && v.Slots().Overridden(slot)) {
      row = v.Slots().table.Get(slot);
      if (row == store::SlotTable::kDeadRow) continue;
    }
    const size_t k = v.FragmentOf(row);
    columns_ = v.columns[k];
    row_ = row - v.start[k];
    return;
  }
}

Version::Iterator& Version::Iterator::operator++() {
  ++slot_;
  Settle();
  return *this;
}

Version::Iterator Version::begin() const {
  internal::CheckNotMovedFrom(rep_, "Version::begin");
  return Iterator(rep_.get(), 0);
}

Version::Iterator Version::end() const {
  internal::CheckNotMovedFrom(rep_, "Version::end");
  const Fragments& v = *rep_;
  return Iterator(&v, v.base_rows + (v.start.back() > v.base_rows ? v.Slots().appended.size() : 0));
}

std::string LogicalContentHash(const Snapshot& snapshot) {
  const internal::Columns& c = internal::SnapshotAccess::Of(snapshot);
  XXH128_canonical_t canonical;
  XXH128_canonicalFromHash(&canonical, XXH3_128bits(c.track_hashes, c.count * sizeof(uint64_t)));
  std::array<uint8_t, 16> digest;
  std::memcpy(digest.data(), canonical.digest, digest.size());
  return format::HashToHex(digest);
}

}  // namespace trackstore
