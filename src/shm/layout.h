// src/shm/layout.h: the byte layout of a shared-memory cache segment.
//
// Persisted in shared memory and read by every process attached to the
// segment, each possibly a different build: bump kLayoutVersion on any change
// to the structs below.
//
//   offset 0            SegmentHeader (one page)
//   slots_offset        ReaderSlot[reader_slot_count], 64 bytes each
//   heap_offset         Boost.Interprocess rbtree_best_fit allocator header,
//                       then allocated blocks: one IndexBlock and the entries
//
// Every block begins with a BlockHeader. An entry block holds an
// EntryHeader, the key bytes, padding to 8, then the snapshot image. The
// index is an open-addressing hash table of 64-bit words: 0 empty, 1 deleted,
// else (24-bit key-hash tag << 40 | entry offset from the segment base).
//
// Shared fields that any process reads while a writer may change them are
// lock-free std::atomic; the rest is written once before it is published
// (header: before the segment gets its name; blocks: before their offset is
// release-stored) and never changed while reachable.
#ifndef TRACKSTORE_SRC_SHM_LAYOUT_H_
#define TRACKSTORE_SRC_SHM_LAYOUT_H_

#include <atomic>
#include <cstddef>
#include <cstdint>
#include <type_traits>

namespace trackstore::shm {

// Cross-process atomics must not fall back to a lock in the library (which
// would live in one process's memory only).
static_assert(std::atomic<uint64_t>::is_always_lock_free);
static_assert(std::atomic<uint32_t>::is_always_lock_free);

// Persisted. Do not change existing values.
inline constexpr uint64_t kSegmentMagic = 0x314d48535453544bULL;  // "KTSTSHM1"
// 2: the writer and "attached" locks moved from a lock file to the segment
// file itself; a build of layout 1 must not share a segment with one of 2.
// Reader slots gained exact pins; IndexBlock its link generation.
inline constexpr uint32_t kLayoutVersion = 2;
inline constexpr uint64_t kEntryMagic = 0x59524e4548534b54ULL;  // "TKSHENRY"
inline constexpr uint64_t kIndexMagic = 0x5844494853534b54ULL;  // "TKSSHIDX"
inline constexpr uint64_t kHeaderBytes = 4096;

// Index words.
inline constexpr uint64_t kEmpty = 0;
inline constexpr uint64_t kDeleted = 1;
inline constexpr int kOffsetBits = 40;  // segments up to 1 TiB
inline constexpr uint64_t kOffsetMask = (uint64_t{1} << kOffsetBits) - 1;
inline constexpr uint64_t kMaxSegmentBytes = uint64_t{1} << kOffsetBits;
inline uint64_t IndexWord(uint64_t key_hash, uint64_t offset) {
  return (key_hash >> kOffsetBits << kOffsetBits) | offset;
}
inline bool IsLive(uint64_t word) { return word > kDeleted; }
inline uint64_t WordOffset(uint64_t word) { return word & kOffsetMask; }
inline bool TagMatches(uint64_t word, uint64_t key_hash) {
  return (word >> kOffsetBits) == (key_hash >> kOffsetBits);
}

// One per reading handle, on its own cache line. `owner` is claimed with a
// compare-and-swap from 0. `generation` (coarse, 0: none) means the owner may
// still read any block that was linked at that generation or later; each
// nonzero word of `pins` (exact) means it reads only blocks that were linked
// at exactly that generation (shm/segment.cc, Segment::Pin).
inline constexpr int kExactPins = 6;
struct alignas(64) ReaderSlot {
  std::atomic<uint64_t> owner;  // pid << 32 | low 32 bits of its start time; 0 free
  std::atomic<uint64_t> generation;
  std::atomic<uint64_t> pins[kExactPins];
};
static_assert(sizeof(ReaderSlot) == 64);

struct SegmentHeader {
  // Written by the creator before the segment file gets its name.
  uint64_t magic;
  uint32_t layout_version;
  uint32_t boost_version;  // BOOST_VERSION: the allocator's layout is Boost's
  uint32_t pointer_bytes;  // sizeof(void*): 32- and 64-bit builds must not share
  uint32_t reader_slot_count;
  uint64_t segment_size;
  uint64_t slots_offset;
  uint64_t heap_offset;
  uint64_t heap_size;
  uint64_t index_slot_count;  // power of two, >= 2 * max_entries
  uint64_t max_entries;
  uint64_t max_entry_bytes;        // the largest block the empty heap can hold
  std::atomic<uint32_t> ready;     // 1 once initialised
  std::atomic<uint32_t> replaced;  // 1 once another segment took the name: reopen

  // Readers load these; the writer stores them.
  alignas(64) std::atomic<uint64_t> generation;  // starts at 1; bumped by every change
  std::atomic<uint64_t> index_offset;            // the IndexBlock in use

  // Changed only under the writer lock; atomic because Stats() and other
  // processes read them without it.
  alignas(64) std::atomic<int64_t> dirty_pid;  // a writer mid-change, else 0
  std::atomic<int64_t> writer_pid;             // the last writer to take the lock
  std::atomic<uint64_t> entries;
  std::atomic<uint64_t> entry_bytes;
  std::atomic<uint64_t> heap_used;
  std::atomic<uint64_t> retired_bytes;
  std::atomic<uint64_t> evictions;
  std::atomic<uint64_t> rebuilds;
  std::atomic<int64_t> lock_wanted_ns;  // CLOCK_MONOTONIC of a waiting writer; 0 none
  uint64_t retired_head;                // writer only: retired blocks, newest first
  uint64_t tombstones;                  // writer only: kDeleted words in the index

  // Bumped by readers.
  alignas(64) std::atomic<uint64_t> lru_clock;
  alignas(64) std::atomic<uint64_t> hits;
  std::atomic<uint64_t> misses;
};
static_assert(sizeof(SegmentHeader) <= kHeaderBytes);
static_assert(std::is_standard_layout_v<SegmentHeader>);

struct BlockHeader {
  uint64_t magic;        // kEntryMagic or kIndexMagic
  uint64_t block_bytes;  // as requested from the allocator
  // Writer only, set when the block is unlinked: it is freed once no reader
  // slot holds it back (Writer::ReclaimRetired).
  uint64_t retire_generation;
  uint64_t retire_next;  // next retired block's offset, 0 at the end
};

struct EntryHeader {
  BlockHeader block;
  uint64_t key_hash;
  uint64_t version;       // the generation after its link: linked at version - 1
  int64_t expires_at;     // Micros
  uint64_t image_offset;  // from the start of this header; 8-aligned
  uint64_t image_size;
  uint32_t key_size;
  uint32_t reserved;
  std::atomic<uint64_t> last_used;  // lru_clock value of the last get or put
  // key bytes follow
};
static_assert(sizeof(EntryHeader) % 8 == 0);

struct IndexBlock {
  BlockHeader block;
  uint64_t slot_count;
  uint64_t link_generation;  // the generation at which it became the index in use
  // std::atomic<uint64_t> words[slot_count] follow
  std::atomic<uint64_t>* words() { return reinterpret_cast<std::atomic<uint64_t>*>(this + 1); }
};

inline uint64_t RoundUp8(uint64_t n) { return (n + 7) & ~uint64_t{7}; }
inline uint64_t EntryBlockBytes(uint64_t key_size, uint64_t image_size) {
  return RoundUp8(sizeof(EntryHeader) + key_size) + image_size;
}
inline uint64_t IndexBlockBytes(uint64_t slot_count) {
  return sizeof(IndexBlock) + slot_count * sizeof(uint64_t);
}

}  // namespace trackstore::shm

#endif  // TRACKSTORE_SRC_SHM_LAYOUT_H_
