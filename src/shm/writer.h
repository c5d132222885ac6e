// src/shm/writer.h: the changes a writer makes to a segment.
//
// REQUIRES for every method: the writer lock is held. Readers run
// concurrently and take no lock, so each change keeps what they can reach
// whole: a block is filled before its offset is release-stored into the
// index, never changed while linked, and freed only after it is unlinked and
// every reader that could have seen it has moved on (reader slots).
#ifndef TRACKSTORE_SRC_SHM_WRITER_H_
#define TRACKSTORE_SRC_SHM_WRITER_H_

#include <signal.h>

#include <cstdint>
#include <cstdlib>
#include <cstring>
#include <limits>
#include <string_view>
#include <vector>

#include "shm/heap.h"
#include "shm/layout.h"
#include "shm/segment.h"
#include "trackstore/clock.h"

namespace trackstore::shm {

// Test hook: TRACKSTORE_SHM_CRASH_AT=<point> makes a writer kill itself with
// SIGKILL at that point (after_dirty, after_alloc, after_data, after_publish,
// before_free). Inert unless set; read on every call so that a forked child
// may set it.
inline void CrashPoint(const char* point) {
  const char* at = std::getenv("TRACKSTORE_SHM_CRASH_AT");
  if (at != nullptr && std::strcmp(at, point) == 0) ::raise(SIGKILL);
}

class Writer {
 public:
  explicit Writer(Segment* seg);

  // The dirty marker: set before the first change to shared structures,
  // cleared after the last. A writer that finds it set knows its
  // predecessor died mid-change (it holds the lock, so nobody else is
  // writing) and rebuilds the segment.
  void Begin();
  void End();

  // The index position holding `key`, or -1.
  int64_t Find(std::string_view key, uint64_t key_hash) const;
  // A new entry block with its header and key filled in, not yet linked;
  // nullptr when the heap has no room.
  EntryHeader* Allocate(std::string_view key, uint64_t key_hash, uint64_t image_size);
  // Frees a block that was never linked.
  void FreeUnlinked(EntryHeader* e);

  // Links `e` under its key: at `pos` when the key is there (returns the
  // replaced entry's offset), else at a free position (returns 0).
  uint64_t Link(EntryHeader* e, int64_t pos);
  // Unlinks the entry at `pos`, returns its offset (0 if it was damaged);
  // Retire it afterwards.
  uint64_t Unlink(int64_t pos);
  // Bumps the generation after unlinks; returns the new value, the retire
  // generation of the blocks just unlinked.
  uint64_t BumpGeneration();
  void Retire(uint64_t offset, uint64_t retire_generation);  // no-op for 0
  // Frees retired blocks that no live reader can still hold (exactly: a
  // block is held only by readers pinned while it was linked). Slots of dead
  // readers that stand in the way are freed first; with `all_slots`, every
  // dead reader's slot is.
  void ReclaimRetired(bool all_slots = false);
  // Whether the retired list leads only to blocks of ours, without a cycle.
  // Only writers follow it, and a stray write into it would send a writer's
  // free() anywhere: ForWrite rebuilds the segment when this is false.
  bool RetiredListIntact() const;

  // The position of the entry to evict next: an expired one, else the least
  // recently used one; -1 when empty.
  int64_t PickVictim(Micros now) const;
  // Positions of entries with expires_at <= now, or of all entries.
  std::vector<int64_t> Positions(Micros now, bool expired_only) const;
  // Rebuilds the index without deleted markers when they crowd it.
  void MaybeCompactIndex();

  uint64_t WordAt(int64_t pos) const;
  uint64_t FreeBytes() const { return heap_->get_free_memory(); }

 private:
  std::atomic<uint64_t>* words() const;
  uint64_t mask() const { return h_->index_slot_count - 1; }
  void Deallocate(uint64_t offset);
  struct Pins {
    uint64_t coarse = std::numeric_limits<uint64_t>::max();  // the smallest
    std::vector<uint64_t> exact;                             // sorted
  };
  Pins LivePins(uint64_t newest_retired, bool all_slots);
  uint64_t LinkGeneration(const BlockHeader* b) const;

  Segment* seg_;
  SegmentHeader* h_;
  Heap* heap_;
};

}  // namespace trackstore::shm

#endif  // TRACKSTORE_SRC_SHM_WRITER_H_
