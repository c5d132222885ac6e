// src/shm_segment.h: one process's mapping of one cache segment, and the
// reader side of the protocol (reader slots, pinning a generation).
//
// A Segment is shared (std::shared_ptr) by the ShmCache that mapped it and
// every ShmEntry handed out from it, so a held entry keeps its bytes mapped
// even after the segment file was replaced or removed.
#ifndef TRACKSTORE_SRC_SHM_SEGMENT_H_
#define TRACKSTORE_SRC_SHM_SEGMENT_H_

#include <sys/types.h>

#include <cstdint>
#include <memory>
#include <mutex>
#include <set>
#include <string>

#include "shm_layout.h"
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

// The shape of a new segment.
struct Geometry {
  uint64_t capacity = 0;
  uint64_t max_entries = 0;
  uint32_t reader_slots = 0;
};

class Segment {
 public:
  // Maps the existing segment file `path` and checks its header. Errors:
  // NotFound (no file), VersionUnsupported (a trackstore segment of another
  // layout, Boost version or word size), StructureInvalid (not a segment, or
  // one whose creator died before finishing), IOError.
  static Result<std::shared_ptr<Segment>> Attach(const std::string& path, const std::string& name);

  // Creates and initialises a segment in a new file `tmp_path`, then renames
  // it to `path`: other processes see no segment or a complete one. The
  // caller holds the writer lock. Errors: ResourceExhausted (/dev/shm too
  // small), InvalidArgument (capacity too small for the geometry), IOError.
  static Result<std::shared_ptr<Segment>> Create(const std::string& path,
                                                 const std::string& tmp_path,
                                                 const std::string& name, const Geometry& g);

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
  // True while `path` still names the file this Segment maps.
  bool IsAt(const std::string& path) const;

  // The block at `offset` when it lies inside the heap, is aligned and has
  // the right magic, else nullptr. Readers check every offset they load from
  // shared memory, so a damaged segment gives a miss, never a wild read.
  EntryHeader* EntryAt(uint64_t offset) const;
  IndexBlock* IndexAt(uint64_t offset) const;
  // The key and image of a checked entry.
  std::string_view EntryKey(const EntryHeader* e) const;
  const char* EntryImage(const EntryHeader* e) const;

  // Registers this process as reading at the current generation and
  // returns it. Until the matching Unpin, no block reachable from the index
  // now is freed. Claims a reader slot on first use; ResourceExhausted when
  // every slot is held.
  Result<uint64_t> Pin();
  void Unpin(uint64_t generation);

 private:
  Segment(std::string name, char* base, uint64_t size, dev_t dev, ino_t ino);
  Status ClaimSlot();  // REQUIRES: mu_ held

  const std::string name_;
  char* const base_;
  const uint64_t size_;
  const pid_t pid_;  // the process that mapped it; a forked child must not release its slot
  const dev_t dev_;
  const ino_t ino_;

  std::mutex mu_;
  ReaderSlot* slot_ = nullptr;      // guarded by mu_
  std::multiset<uint64_t> pinned_;  // guarded by mu_: generations of this handle's held views
};

}  // namespace trackstore::shm

#endif  // TRACKSTORE_SRC_SHM_SEGMENT_H_
