#include "shm/writer.h"

#include <unistd.h>

#include <algorithm>
#include <limits>
#include <new>

namespace trackstore::shm {

Writer::Writer(Segment* seg)
    : seg_(seg),
      h_(seg->header()),
      heap_(reinterpret_cast<Heap*>(seg->base() + seg->header()->heap_offset)) {}

void Writer::Begin() { h_->dirty_pid.store(::getpid(), std::memory_order_seq_cst); }

void Writer::End() {
  h_->heap_used.store(HeapUsed(heap_), std::memory_order_relaxed);
  h_->dirty_pid.store(0, std::memory_order_release);
}

std::atomic<uint64_t>* Writer::words() const {
  return seg_->IndexAt(h_->index_offset.load(std::memory_order_relaxed))->words();
}

uint64_t Writer::WordAt(int64_t pos) const { return words()[pos].load(std::memory_order_relaxed); }

// Linear probing from the key's hash. The scan stops at an empty word: Unlink
// keeps the invariant that no empty word lies between a key's home position
// and the key.
int64_t Writer::Find(std::string_view key, uint64_t key_hash) const {
  std::atomic<uint64_t>* w = words();
  for (uint64_t n = 0, pos = key_hash & mask(); n <= mask(); ++n, pos = (pos + 1) & mask()) {
    const uint64_t word = w[pos].load(std::memory_order_relaxed);
    if (word == kEmpty) break;
    if (!IsLive(word) || !TagMatches(word, key_hash)) continue;
    const EntryHeader* e = seg_->EntryAt(WordOffset(word));
    if (e != nullptr && e->key_hash == key_hash && seg_->EntryKey(e) == key) {
      return static_cast<int64_t>(pos);
    }
  }
  return -1;
}

EntryHeader* Writer::Allocate(std::string_view key, uint64_t key_hash, uint64_t image_size) {
  const uint64_t bytes = EntryBlockBytes(key.size(), image_size);
  void* p = HeapAllocate(heap_, bytes);
  if (p == nullptr) return nullptr;
  auto* e = new (p) EntryHeader();
  e->block = {kEntryMagic, bytes, 0, 0};
  e->key_hash = key_hash;
  e->image_offset = RoundUp8(sizeof(EntryHeader) + key.size());
  e->image_size = image_size;
  e->key_size = static_cast<uint32_t>(key.size());
  std::memcpy(reinterpret_cast<char*>(e) + sizeof(EntryHeader), key.data(), key.size());
  return e;
}

void Writer::FreeUnlinked(EntryHeader* e) { HeapFree(heap_, e); }

uint64_t Writer::Link(EntryHeader* e, int64_t pos) {
  const uint64_t offset = reinterpret_cast<char*>(e) - seg_->base();
  const uint64_t word = IndexWord(e->key_hash, offset);
  std::atomic<uint64_t>* w = words();
  h_->entry_bytes.fetch_add(e->block.block_bytes, std::memory_order_relaxed);
  uint64_t replaced = 0;
  if (pos < 0) {
    // The first empty or deleted word on the key's probe path (Find has
    // checked that the key is not further along).
    uint64_t p = e->key_hash & mask();
    while (IsLive(w[p].load(std::memory_order_relaxed))) p = (p + 1) & mask();
    if (w[p].load(std::memory_order_relaxed) == kDeleted) --h_->tombstones;
    pos = static_cast<int64_t>(p);
    h_->entries.fetch_add(1, std::memory_order_relaxed);
  } else {
    replaced = WordOffset(w[pos].load(std::memory_order_relaxed));
    if (const EntryHeader* old = seg_->EntryAt(replaced)) {
      h_->entry_bytes.fetch_sub(old->block.block_bytes, std::memory_order_relaxed);
    }
  }
  // Release: a reader that loads this word (acquire) sees the whole block.
  w[pos].store(word, std::memory_order_release);
  return replaced;
}

uint64_t Writer::Unlink(int64_t pos) {
  std::atomic<uint64_t>* w = words();
  uint64_t offset = WordOffset(w[pos].load(std::memory_order_relaxed));
  w[pos].store(kDeleted, std::memory_order_release);
  ++h_->tombstones;
  h_->entries.fetch_sub(1, std::memory_order_relaxed);
  if (const EntryHeader* e = seg_->EntryAt(offset)) {
    h_->entry_bytes.fetch_sub(e->block.block_bytes, std::memory_order_relaxed);
  } else {
    offset = 0;  // damaged: never hand it to the allocator
  }
  // A deleted marker followed by an empty word ends every probe path through
  // it, so it (and deleted markers just before it) may become empty: a
  // reader stopping there earlier misses nothing.
  uint64_t p = static_cast<uint64_t>(pos);
  if (w[(p + 1) & mask()].load(std::memory_order_relaxed) == kEmpty) {
    for (uint64_t n = 0; n <= mask() && w[p].load(std::memory_order_relaxed) == kDeleted; ++n) {
      w[p].store(kEmpty, std::memory_order_release);
      --h_->tombstones;
      p = (p - 1) & mask();
    }
  }
  return offset;
}

// seq_cst: pairs with the reader's slot store and re-read in Segment::Pin.
uint64_t Writer::BumpGeneration() {
  return h_->generation.fetch_add(1, std::memory_order_seq_cst) + 1;
}

void Writer::Retire(uint64_t offset, uint64_t retire_generation) {
  if (offset == 0) return;
  auto* b = reinterpret_cast<BlockHeader*>(seg_->base() + offset);
  b->retire_generation = retire_generation;
  b->retire_next = h_->retired_head;
  h_->retired_head = offset;
  h_->retired_bytes.fetch_add(b->block_bytes, std::memory_order_relaxed);
}

void Writer::Deallocate(uint64_t offset) { HeapFree(heap_, seg_->base() + offset); }

// What live readers hold back. Only slots holding something linked before
// `newest_retired` can matter, so only those are checked for a dead owner
// (a kill() and a /proc read each).
Writer::Pins Writer::LivePins(uint64_t newest_retired, bool all_slots) {
  Pins pins;
  ReaderSlot* slots = seg_->slots();
  for (uint32_t i = 0; i < h_->reader_slot_count; ++i) {
    uint64_t owner = slots[i].owner.load(std::memory_order_seq_cst);
    if (owner == 0) continue;
    const uint64_t coarse = slots[i].generation.load(std::memory_order_seq_cst);
    uint64_t exact[kExactPins];
    bool matters = all_slots || (coarse != 0 && coarse < newest_retired);
    for (int k = 0; k < kExactPins; ++k) {
      exact[k] = slots[i].pins[k].load(std::memory_order_seq_cst);
      matters |= exact[k] != 0 && exact[k] < newest_retired;
    }
    if (!matters) continue;
    if (!OwnerAlive(owner)) {
      // The owner is gone, so it cannot race with us; a new claimer can
      // only take the slot from 0. Its stale words are left in place: a
      // claimer overwrites them, and until then they only hold frees back.
      slots[i].owner.compare_exchange_strong(owner, 0, std::memory_order_acq_rel);
      continue;
    }
    if (coarse != 0) pins.coarse = std::min(pins.coarse, coarse);
    for (uint64_t g : exact) {
      if (g != 0) pins.exact.push_back(g);
    }
  }
  std::sort(pins.exact.begin(), pins.exact.end());
  return pins;
}

// The generation at which the retired block `b` became reachable. Clamped
// so that a damaged value can only hold the block back longer.
uint64_t Writer::LinkGeneration(const BlockHeader* b) const {
  uint64_t linked = 0;
  if (b->magic == kEntryMagic && b->block_bytes >= sizeof(EntryHeader)) {
    const uint64_t version = reinterpret_cast<const EntryHeader*>(b)->version;
    linked = version == 0 ? 0 : version - 1;
  } else if (b->magic == kIndexMagic && b->block_bytes >= sizeof(IndexBlock)) {
    linked = reinterpret_cast<const IndexBlock*>(b)->link_generation;
  }
  return std::min(linked, b->retire_generation - 1);
}

// A block linked at L and unlinked by the bump to R is free when no coarse
// pin lies below R and no exact pin in [L, R): a reader pinned exactly at
// g < L never dereferences it, and one at g >= R never finds it.
void Writer::ReclaimRetired(bool all_slots) {
  if (h_->retired_head == 0 && !all_slots) return;
  if (!RetiredListIntact()) {
    // Leave the list alone (ForWrite rebuilds the segment on the next
    // write), but still free dead readers' slots: a reader may be waiting
    // for one.
    if (all_slots) LivePins(0, /*all_slots=*/true);
    return;
  }
  const uint64_t newest =
      h_->retired_head == 0
          ? 0
          : reinterpret_cast<BlockHeader*>(seg_->base() + h_->retired_head)->retire_generation;
  const Pins pins = LivePins(newest, all_slots);
  uint64_t* link = &h_->retired_head;
  while (*link != 0) {
    auto* b = reinterpret_cast<BlockHeader*>(seg_->base() + *link);
    const uint64_t retired = b->retire_generation;
    const auto first = std::lower_bound(pins.exact.begin(), pins.exact.end(), LinkGeneration(b));
    const bool held = pins.coarse < retired || (first != pins.exact.end() && *first < retired);
    if (!held) {
      const uint64_t offset = *link;
      *link = b->retire_next;
      h_->retired_bytes.fetch_sub(b->block_bytes, std::memory_order_relaxed);
      Deallocate(offset);
    } else {
      link = &b->retire_next;
    }
  }
}

bool Writer::RetiredListIntact() const {
  const uint64_t max_blocks = h_->heap_size / sizeof(BlockHeader) + 1;
  uint64_t n = 0;
  for (uint64_t at = h_->retired_head; at != 0; ++n) {
    if (n > max_blocks || at % 8 != 0 || at < h_->heap_offset ||
        at > seg_->size() - sizeof(BlockHeader)) {
      return false;
    }
    const auto* b = reinterpret_cast<const BlockHeader*>(seg_->base() + at);
    // A block in use has retire_generation 0, and the index in use is never
    // retired: either one here would be freed while reachable.
    if ((b->magic != kEntryMagic && b->magic != kIndexMagic) ||
        b->block_bytes > seg_->size() - at || b->retire_generation == 0 ||
        b->retire_generation > h_->generation.load(std::memory_order_relaxed) ||
        at == h_->index_offset.load(std::memory_order_relaxed)) {
      return false;
    }
    at = b->retire_next;
  }
  return true;
}

int64_t Writer::PickVictim(Micros now) const {
  std::atomic<uint64_t>* w = words();
  int64_t victim = -1;
  uint64_t oldest_use = std::numeric_limits<uint64_t>::max();
  for (uint64_t pos = 0; pos <= mask(); ++pos) {
    const uint64_t word = w[pos].load(std::memory_order_relaxed);
    if (!IsLive(word)) continue;
    const EntryHeader* e = seg_->EntryAt(WordOffset(word));
    if (e == nullptr || e->expires_at <= now) return static_cast<int64_t>(pos);
    const uint64_t used = e->last_used.load(std::memory_order_relaxed);
    if (used < oldest_use) {
      oldest_use = used;
      victim = static_cast<int64_t>(pos);
    }
  }
  return victim;
}

std::vector<int64_t> Writer::Positions(Micros now, bool expired_only) const {
  std::vector<int64_t> out;
  std::atomic<uint64_t>* w = words();
  for (uint64_t pos = 0; pos <= mask(); ++pos) {
    const uint64_t word = w[pos].load(std::memory_order_relaxed);
    if (!IsLive(word)) continue;
    const EntryHeader* e = seg_->EntryAt(WordOffset(word));
    if (!expired_only || e == nullptr || e->expires_at <= now) {
      out.push_back(static_cast<int64_t>(pos));
    }
  }
  return out;
}

// Deleted markers that do not end a probe path stay until the index is
// rebuilt: when they and the entries fill 3/4 of it, a fresh index is built
// beside it and published with one release store. Readers still probing the
// old one are pinned, so it is retired like an entry. No room for a second
// index only means probes stay longer.
void Writer::MaybeCompactIndex() {
  const uint64_t slots = h_->index_slot_count;
  if ((h_->entries.load(std::memory_order_relaxed) + h_->tombstones + 1) * 4 <= slots * 3) return;
  const uint64_t bytes = IndexBlockBytes(slots);
  void* p = HeapAllocate(heap_, bytes);
  if (p == nullptr) return;
  auto* fresh = new (p) IndexBlock();
  fresh->block = {kIndexMagic, bytes, 0, 0};
  fresh->slot_count = slots;
  std::atomic<uint64_t>* nw = new (fresh->words()) std::atomic<uint64_t>[slots]();
  std::atomic<uint64_t>* old = words();
  for (uint64_t pos = 0; pos < slots; ++pos) {
    const uint64_t word = old[pos].load(std::memory_order_relaxed);
    if (!IsLive(word)) continue;
    const EntryHeader* e = seg_->EntryAt(WordOffset(word));
    if (e == nullptr) continue;  // damaged: dropped (and leaked until a rebuild)
    uint64_t q = e->key_hash & mask();
    while (nw[q].load(std::memory_order_relaxed) != kEmpty) q = (q + 1) & mask();
    nw[q].store(word, std::memory_order_relaxed);
  }
  const uint64_t old_offset = h_->index_offset.load(std::memory_order_relaxed);
  fresh->link_generation = h_->generation.load(std::memory_order_relaxed);
  h_->index_offset.store(reinterpret_cast<char*>(fresh) - seg_->base(), std::memory_order_release);
  h_->tombstones = 0;
  Retire(old_offset, BumpGeneration());
}

}  // namespace trackstore::shm
