// src/shm/heap.h: the segment's allocator.
//
// Boost.Interprocess's rbtree_best_fit (the algorithm behind
// managed_shared_memory), placed at the segment's heap offset, with
// null_mutex_family: it takes no lock of its own. A mutex inside the segment
// would stay locked forever if its holder died (Boost 1.74's interprocess
// mutexes are not robust: nothing frees them after a crash). Every call
// happens under the cache's writer lock, a kernel file lock the kernel
// releases on death. A writer that dies mid-call leaves the allocator in an
// unknown state; its dirty marker makes the next writer replace the whole
// segment.
//
// offset_ptr keeps the allocator's own links position-independent: each
// process maps the segment at a different address.
#ifndef TRACKSTORE_SRC_SHM_HEAP_H_
#define TRACKSTORE_SRC_SHM_HEAP_H_

#include <boost/interprocess/mem_algo/rbtree_best_fit.hpp>
#include <boost/interprocess/offset_ptr.hpp>
#include <boost/interprocess/sync/mutex_family.hpp>
#include <cstdint>

namespace trackstore::shm {

using Heap = boost::interprocess::rbtree_best_fit<boost::interprocess::null_mutex_family,
                                                  boost::interprocess::offset_ptr<void>>;

// Boost reports failure by throwing (allocation returns null in 1.74, but
// keep the boundary explicit: errors leave as values, never as exceptions). Null when there is no
// room.
inline void* HeapAllocate(Heap* heap, uint64_t bytes) noexcept {
  try {
    return heap->allocate(bytes);
  } catch (...) {
    return nullptr;
  }
}

inline void HeapFree(Heap* heap, void* p) noexcept {
  try {
    heap->deallocate(p);
  } catch (...) {
    // Unreachable with null_mutex_family; a leak is the safe outcome.
  }
}

// Bytes allocated, the allocator's own header included.
inline uint64_t HeapUsed(const Heap* heap) { return heap->get_size() - heap->get_free_memory(); }

}  // namespace trackstore::shm

#endif  // TRACKSTORE_SRC_SHM_HEAP_H_
