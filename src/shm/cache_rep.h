// src/shm/cache_rep.h: the insides of ShmCache and ShmEntry, shared by
// shm/cache.cc (the public methods) and shm/cache_rep.cc (opening, reading,
// writing).
#ifndef TRACKSTORE_SRC_SHM_CACHE_REP_H_
#define TRACKSTORE_SRC_SHM_CACHE_REP_H_

#include <unistd.h>
#include <xxhash.h>

#include <algorithm>
#include <functional>
#include <memory>
#include <mutex>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "shm/lock.h"
#include "shm/segment.h"
#include "shm/writer.h"
#include "trackstore/shm_cache.h"

namespace trackstore {

using shm::Segment;
using shm::SegmentHeader;
using shm::Writer;
using SegmentPtr = std::shared_ptr<Segment>;

inline uint64_t HashKey(std::string_view key) { return XXH3_64bits(key.data(), key.size()); }

// 'key', for messages.
inline std::string Quote(std::string_view key) {
  std::string q(1, '\'');
  q.append(key);
  q.push_back('\'');
  return q;
}

struct TRACKSTORE_HIDDEN ShmEntry::Pin {
  SegmentPtr seg;
  shm::Pinned pinned;
  Snapshot snapshot;
  std::string_view key;  // in the segment
  uint64_t version;
  Micros expires_at;
  ~Pin() { seg->Unpin(pinned); }
};

// Writer locks held for one change: the segment's, and that of any segment
// created meanwhile (a creator holds the new file's lock before it gets the
// name). Released in the destructor.
class WriteScope {
 public:
  WriteScope() = default;
  WriteScope(const WriteScope&) = delete;
  WriteScope& operator=(const WriteScope&) = delete;
  ~WriteScope() {
    for (const auto& f : held_) f->UnlockWriter();
  }
  // `file`'s writer lock was just taken by this thread.
  void Hold(std::shared_ptr<shm::SegmentFile> file) { held_.push_back(std::move(file)); }
  void Release(const std::shared_ptr<shm::SegmentFile>& file) {
    auto it = std::find(held_.begin(), held_.end(), file);
    if (it == held_.end()) return;
    (*it)->UnlockWriter();
    held_.erase(it);
  }

 private:
  std::vector<std::shared_ptr<shm::SegmentFile>> held_;
};

struct TRACKSTORE_HIDDEN ShmCache::Rep {
  ShmOptions options;
  std::string path;  // <shm_dir>/<name>
  pid_t pid = ::getpid();

  std::mutex mu;
  SegmentPtr seg;  // guarded by mu

  std::string What() const { return "shm segment " + options.name; }
  SegmentPtr Current() {
    std::lock_guard<std::mutex> l(mu);
    return seg;
  }
  void SetCurrent(SegmentPtr s) {
    std::lock_guard<std::mutex> l(mu);
    seg = std::move(s);
  }
  // Waiting writers note the time in the current segment's header, so that
  // a writer publishing back to back pauses to let them in (shm/lock.h).
  static std::atomic<int64_t>* Wanted(const SegmentPtr& s) {
    return s != nullptr ? &s->header()->lock_wanted_ns : nullptr;
  }
  Status CheckProcess() const {
    if (::getpid() == pid) return Status::OK();
    return Status::InvalidArgument(What(),
                                   "handle opened by another process (fork): open a new one");
  }
  Result<std::shared_ptr<shm::SegmentFile>> OpenFile() const {
    return shm::SegmentFile::Open(path, options.name, options.share_with_group,
                                  options.lock_timeout_ms);
  }

  Result<SegmentPtr> ForRead();
  // Takes the writer lock of the segment at `path` (creating one when there
  // is none) into `scope`, and returns the segment a writer may change.
  Result<SegmentPtr> ForWrite(WriteScope& scope);
  // Builds an empty segment (geometry from `old`, else the options) and
  // gives it the name: over the file there with `replace` (REQUIRES: its
  // writer lock in `scope`), else only if the name is free.
  // *name_taken is set when another process created it first.
  Result<SegmentPtr> Rebuild(WriteScope& scope, const Segment* old, const std::string& why,
                             bool replace, bool* name_taken = nullptr);
  Status Open();
  Status Missing() const;  // NotFound, saying how to create the segment
  Result<uint64_t> Put(std::string_view key, uint64_t image_size,
                       const std::function<Status(char*)>& fill, std::optional<int64_t> ttl);
  Result<ShmEntry> Get(std::string_view key);
  Result<ShmEntry> GetFrom(const SegmentPtr& s, std::string_view key);
  // One attempt of GetFrom; nullopt when an exact pin went stale.
  std::optional<Result<ShmEntry>> TryGet(const SegmentPtr& s, std::string_view key,
                                         shm::Pinned pinned);
  void DropIfUnchanged(const SegmentPtr& s, std::string_view key, uint64_t hash, uint64_t word);
  void Evict(Writer& w, SegmentHeader& h, int64_t pos);
  // The steps of Put. The limits on the cache's entries and bytes, the
  // options' within the segment's.
  uint64_t MaxEntries(const SegmentHeader& h) const {
    return std::min(options.max_entries, h.max_entries);
  }
  uint64_t MaxBytes(const SegmentHeader& h) const {
    return options.max_bytes == 0 ? h.heap_size : options.max_bytes;
  }
  Status CheckEntryFits(std::string_view key, uint64_t need, const SegmentHeader& h) const;
  void MakeRoom(Writer& w, SegmentHeader& h, uint64_t need, Micros now);
  Result<shm::EntryHeader*> AllocateEntry(Writer& w, SegmentHeader& h, std::string_view key,
                                          uint64_t hash, uint64_t image_size, int64_t pos,
                                          Micros now);
  uint64_t LinkEntry(Writer& w, SegmentHeader& h, shm::EntryHeader* e, int64_t pos, Micros now,
                     std::optional<int64_t> ttl);
  template <typename Fn>
  Result<uint64_t> Mutate(Fn fn);
};

// Runs fn(Writer&, Segment&) under the writer lock between Begin and End.
template <typename Fn>
Result<uint64_t> ShmCache::Rep::Mutate(Fn fn) {
  WriteScope scope;
  Result<SegmentPtr> rs = ForWrite(scope);
  if (!rs.ok()) return rs.status();
  Writer w(rs->get());
  w.Begin();
  const uint64_t n = fn(w);
  w.ReclaimRetired();
  w.End();
  return n;
}

}  // namespace trackstore

#endif  // TRACKSTORE_SRC_SHM_CACHE_REP_H_
