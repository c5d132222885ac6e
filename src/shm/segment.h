// src/shm/segment.h: one process's mapping of one cache segment, and the
// reader side of the protocol (reader slots, pinning a generation).
//
// A Segment is shared (std::shared_ptr) by the ShmCache that mapped it and
// every ShmEntry handed out from it, so a held entry keeps its bytes mapped
// even after the segment file was replaced or removed.
#ifndef TRACKSTORE_SRC_SHM_SEGMENT_H_
#define TRACKSTORE_SRC_SHM_SEGMENT_H_

#include <sys/types.h>

#include <array>
#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "shm/layout.h"
#include "shm/lock.h"
#include "trackstore/result.h"

namespace trackstore::shm {

// This process as a reader-slot owner: pid << 32 | the low 32 bits of its
// start time (/proc/self/stat field 22, clock ticks since boot).
uint64_t SelfOwner();
// False when the owner's process has exited (or is a zombie), or its pid now
// names a newer process. True when in doubt.
bool OwnerAlive(uint64_t owner);
// kill(pid, 0) says the process exists and /proc does not show a zombie.
bool PidAlive(int64_t pid);

// A reader's registration (Segment::Pin).
struct Pinned {
  uint64_t generation = 0;
  bool coarse = false;
};

// The shape of a new segment.
struct Geometry {
  uint64_t capacity = 0;
  uint64_t max_entries = 0;
  uint32_t reader_slots = 0;
};

// Largest values a new segment accepts (the index needs 16 bytes per entry,
// and offsets in the index have 40 bits).
inline constexpr uint64_t kMaxEntries = uint64_t{1} << 32;
inline constexpr uint32_t kMaxReaders = 65536;

class Segment {
 public:
  // Maps the segment file `file` (opened by SegmentFile::Open, which checked
  // who may have written it) and checks its header. The size is taken with
  // fstat before mapping, and the header must agree with it, so nothing
  // beyond the end of the file is ever touched. Errors: VersionUnsupported
  // (a trackstore segment of another layout, Boost version or word size),
  // StructureInvalid (not a segment, one whose creator died before
  // finishing, or one shorter than its header says), IOError.
  static Result<std::shared_ptr<Segment>> Attach(std::shared_ptr<SegmentFile> file);

  // Creates and initialises a segment in a new file, under a name no
  // segment can have (it starts with '.'), holding its writer lock, then
  // gives it the name `path`: with `replace`, by renaming it over what is
  // there (the caller holds that file's writer lock); else only if `path`
  // does not exist (else an IOError, with *name_taken set). Other
  // processes see no segment or a complete one. Errors: ResourceExhausted
  // (/dev/shm too small), InvalidArgument (capacity too small or too large
  // for the geometry), IOError. The returned segment's writer lock is held:
  // the caller releases it.
  static Result<std::shared_ptr<Segment>> Create(const std::string& dir, const std::string& name,
                                                 const Geometry& g, bool share_with_group,
                                                 bool replace, bool* name_taken = nullptr);

  Segment(const Segment&) = delete;
  Segment& operator=(const Segment&) = delete;
  ~Segment();  // releases this handle's reader slot, then unmaps

  SegmentHeader* header() const { return reinterpret_cast<SegmentHeader*>(base_); }
  char* base() const { return base_; }
  uint64_t size() const { return size_; }
  ReaderSlot* slots() const {
    return reinterpret_cast<ReaderSlot*>(base_ + header()->slots_offset);
  }
  const std::string& name() const { return name_; }
  const std::shared_ptr<SegmentFile>& file() const { return file_; }
  // True while `path` still names the file this Segment maps.
  bool IsAt(const std::string& path) const { return file_->IsAt(path); }
  // An error when the file is now shorter than the mapping (its owner
  // truncated it): touching the missing pages would raise SIGBUS. One fstat.
  Status CheckSize() const;

  // The block at `offset` when it lies inside the heap, is aligned and has
  // the right magic, else nullptr. Readers check every offset they load from
  // shared memory, so a damaged segment gives a miss, never a wild read.
  EntryHeader* EntryAt(uint64_t offset) const;
  IndexBlock* IndexAt(uint64_t offset) const;
  // The key and image of a checked entry.
  std::string_view EntryKey(const EntryHeader* e) const;
  const char* EntryImage(const EntryHeader* e) const;

  // Registers this process as reading at the current generation and
  // returns it. Exact (the default, while this handle has a free pin word):
  // the caller must re-read the global generation after every offset it
  // loads from the index and, if it moved, Unpin and start over; until the
  // matching Unpin, no block linked at the returned generation is freed.
  // Coarse: no block reachable from the index now is freed, whenever it is
  // read. Claims a reader slot on first use; ResourceExhausted when every
  // slot is held.
  Result<Pinned> Pin(bool coarse = false);
  void Unpin(Pinned pinned);

 private:
  Segment(std::shared_ptr<SegmentFile> file, char* base, uint64_t size);
  Status ClaimSlot();  // REQUIRES: mu_ held

  const std::shared_ptr<SegmentFile> file_;  // its descriptor holds the attached lock
  const std::string name_;
  char* const base_;
  const uint64_t size_;
  const pid_t pid_;  // the process that mapped it; a forked child must not release its slot

  std::mutex mu_;
  ReaderSlot* slot_ = nullptr;  // guarded by mu_
  // Guarded by mu_: this handle's pins, mirroring slot_->pins and
  // slot_->generation.
  struct ExactPin {
    uint64_t generation = 0;
    uint64_t count = 0;  // views held at it
  };
  std::array<ExactPin, kExactPins> exact_;
  std::multiset<uint64_t> coarse_;
};

}  // namespace trackstore::shm

#endif  // TRACKSTORE_SRC_SHM_SEGMENT_H_
