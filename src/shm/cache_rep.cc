// ShmCache::Rep: opening a segment, reading an entry, writing one. The
// layout is in shm/layout.h, the reader protocol in shm/segment.cc
// (Segment::Pin), the writer's changes in shm/writer.cc, the locks in
// shm/lock.cc.
#include "shm/cache_rep.h"

#include <algorithm>
#include <chrono>
#include <limits>

namespace trackstore {

namespace {

constexpr size_t kMaxKeyBytes = 4096;

Micros ExpiresAt(Micros now, int64_t ttl_seconds) {
  if (ttl_seconds <= 0) return now;
  if (ttl_seconds > (std::numeric_limits<Micros>::max() - now) / kMicrosPerSecond) {
    return std::numeric_limits<Micros>::max();
  }
  return now + ttl_seconds * kMicrosPerSecond;
}

}  // namespace

// Follows the name to a newer segment when a writer replaced this one.
// A segment whose owner truncated it is an error: its header may lie in the
// missing pages, and touching them is SIGBUS.
Result<SegmentPtr> ShmCache::Rep::ForRead() {
  SegmentPtr s = Current();
  if (s != nullptr) {
    if (Status size = s->CheckSize(); !size.ok()) return size;
    if (s->header()->replaced.load(std::memory_order_acquire) == 0) return s;
  }
  Result<std::shared_ptr<shm::SegmentFile>> file = OpenFile();
  if (!file.ok()) {
    if (!file.status().IsNotFound()) return file.status();
    return Status::NotFound(What(), "was removed (`trackstore shm publish` creates it again)");
  }
  Result<SegmentPtr> fresh = Segment::Attach(std::move(file).value());
  if (!fresh.ok()) return fresh.status();
  SetCurrent(*fresh);
  return *fresh;
}

// Anything odd is repaired by replacing the segment with an empty one (it
// is a cache): missing, damaged, truncated, made by another build when
// nobody else uses it, or left dirty by a writer that died mid-change. After
// taking a file's lock, the name must still lead to that file (one lstat):
// else another writer replaced it meanwhile, and we go after the new one.
Result<SegmentPtr> ShmCache::Rep::ForWrite(WriteScope& scope) {
  using std::chrono::steady_clock;
  const auto deadline = steady_clock::now() + std::chrono::milliseconds(options.lock_timeout_ms);
  for (;;) {
    const int64_t left = std::max<int64_t>(
        0, std::chrono::duration_cast<std::chrono::milliseconds>(deadline - steady_clock::now())
               .count());
    SegmentPtr s = Current();
    std::shared_ptr<shm::SegmentFile> file;
    if (s != nullptr && s->CheckSize().ok() &&
        s->header()->replaced.load(std::memory_order_acquire) == 0 && s->IsAt(path)) {
      file = s->file();
    } else {
      s = nullptr;
      Result<std::shared_ptr<shm::SegmentFile>> opened = OpenFile();
      if (!opened.ok()) {
        if (!opened.status().IsNotFound()) return opened.status();
        bool taken = false;
        Result<SegmentPtr> created = Rebuild(scope, nullptr, "", /*replace=*/false, &taken);
        if (!taken || left == 0) return created;
        continue;  // another process created it first: use theirs
      }
      file = std::move(opened).value();
    }
    if (Status ls = file->LockWriter(left, Wanted(s)); !ls.ok()) return ls;
    scope.Hold(file);
    if (!file->IsAt(path)) {
      scope.Release(file);
      if (left == 0) return Status::IOError(What(), "keeps being replaced");
      continue;
    }
    if (s == nullptr) {
      Result<SegmentPtr> a = Segment::Attach(file);
      if (a.ok()) {
        s = *a;
        SetCurrent(s);
      } else if (a.status().IsVersionUnsupported() && !file->Alone()) {
        return Status::VersionUnsupported(a.status().message(),
                                          "other processes still use it: stop them, or run "
                                          "`trackstore shm remove " +
                                              options.name + "`");
      } else {
        return Rebuild(scope, nullptr, a.status().message(), /*replace=*/true);
      }
    }
    // Its header may lie in the missing pages: do not read it.
    if (Status size = s->CheckSize(); !size.ok()) {
      return Rebuild(scope, nullptr, size.message(), /*replace=*/true);
    }
    // We hold the lock, so a set marker is not a live writer's.
    const int64_t dirty = s->header()->dirty_pid.load(std::memory_order_acquire);
    if (dirty != 0) {
      return Rebuild(scope, s.get(), "writer pid " + std::to_string(dirty) + " died mid-write",
                     /*replace=*/true);
    }
    if (!Writer(s.get()).RetiredListIntact()) {
      return Rebuild(scope, s.get(), "its list of retired blocks is damaged", /*replace=*/true);
    }
    return s;
  }
}

// Builds a new segment under a temporary name and renames it over the old
// one. Processes that have the old one mapped keep it (and their views of
// it) until they notice `replaced`; the memory goes when the last unmaps.
Result<SegmentPtr> ShmCache::Rep::Rebuild(WriteScope& scope, const Segment* old,
                                          const std::string& why, bool replace, bool* name_taken) {
  shm::Geometry g{options.capacity_bytes, options.max_entries, options.max_readers};
  if (old != nullptr) {
    const SegmentHeader& oh = *old->header();
    g = {oh.segment_size, oh.max_entries, oh.reader_slot_count};
  }
  Result<SegmentPtr> fresh = Segment::Create(options.shm_dir, options.name, g,
                                             options.share_with_group, replace, name_taken);
  if (!fresh.ok()) return fresh.status();
  scope.Hold((*fresh)->file());
  SegmentHeader& nh = *(*fresh)->header();
  if (old != nullptr) {
    const SegmentHeader& oh = *old->header();
    nh.hits.store(oh.hits.load());
    nh.misses.store(oh.misses.load());
    nh.evictions.store(oh.evictions.load());
    nh.rebuilds.store(oh.rebuilds.load());
    old->header()->replaced.store(1, std::memory_order_release);
  }
  if (!why.empty()) nh.rebuilds.fetch_add(1);
  SetCurrent(*fresh);
  return *fresh;
}

Status ShmCache::Rep::Missing() const {
  return Status::NotFound(What(), "does not exist: publish to it first (`trackstore shm publish " +
                                      options.name + " KEY FILE.snap`)");
}

Status ShmCache::Rep::Open() {
  Result<std::shared_ptr<shm::SegmentFile>> file = OpenFile();
  bool alone = false;
  if (file.ok()) {
    alone = (*file)->Alone();
    Result<SegmentPtr> a = Segment::Attach(std::move(file).value());
    // A segment a writer died in is still readable (what it published is
    // whole); the next write rebuilds it, and Stats() reports it until then.
    if (a.ok() && (!alone || (*a)->header()->dirty_pid.load() != 0)) {
      SetCurrent(*a);
      return Status::OK();
    }
    // Else its descriptor is closed here, so that ForWrite's own probe of
    // who else has the file open does not count us.
    if (a.ok()) SetCurrent(*a);
  } else if (!file.status().IsNotFound()) {
    return file.status();
  } else if (!options.create_if_missing) {
    return Missing();
  }
  WriteScope scope;
  Result<SegmentPtr> s = ForWrite(scope);
  if (!s.ok()) return s.status();
  if (alone) {
    // Nobody else has the segment open, so every reader slot is a dead
    // process's: free them and everything they held.
    Writer w(s->get());
    w.Begin();
    w.ReclaimRetired(/*all_slots=*/true);
    w.End();
  }
  return Status::OK();
}

void ShmCache::Rep::Evict(Writer& w, SegmentHeader& h, int64_t pos) {
  w.Retire(w.Unlink(pos), w.BumpGeneration());
  h.evictions.fetch_add(1, std::memory_order_relaxed);
}

// Allocate, fill, link, retire the replaced version: each step leaves what
// readers can reach whole. The crash points name the steps for the
// kill tests; a writer killed anywhere after Begin() leaves the dirty marker.
Result<uint64_t> ShmCache::Rep::Put(std::string_view key, uint64_t image_size,
                                    const std::function<Status(char*)>& fill,
                                    std::optional<int64_t> ttl) {
  if (key.empty() || key.size() > kMaxKeyBytes) {
    return Status::InvalidArgument(What(), "a key must have 1 to 4096 bytes");
  }
  const uint64_t hash = HashKey(key);
  const uint64_t need = shm::EntryBlockBytes(key.size(), image_size);
  WriteScope scope;
  Result<SegmentPtr> rs = ForWrite(scope);
  if (!rs.ok()) return rs.status();
  const SegmentPtr s = *rs;
  SegmentHeader& h = *s->header();
  if (Status fits = CheckEntryFits(key, need, h); !fits.ok()) return fits;
  const Micros now = options.clock();
  Writer w(s.get());
  w.Begin();
  shm::CrashPoint("after_dirty");
  w.ReclaimRetired();
  const int64_t pos = w.Find(key, hash);
  if (pos < 0) MakeRoom(w, h, need, now);
  Result<shm::EntryHeader*> e = AllocateEntry(w, h, key, hash, image_size, pos, now);
  if (!e.ok()) {
    w.End();
    return e.status();
  }
  shm::CrashPoint("after_alloc");
  Status filled = fill(const_cast<char*>(s->EntryImage(*e)));
  if (!filled.ok()) {
    w.FreeUnlinked(*e);
    w.End();
    return filled;
  }
  shm::CrashPoint("after_data");
  const uint64_t version = LinkEntry(w, h, *e, pos, now, ttl);
  w.End();
  return version;
}

// An entry larger than the whole segment (or the cache's byte limit) is
// rejected before anything changes.
Status ShmCache::Rep::CheckEntryFits(std::string_view key, uint64_t need,
                                     const SegmentHeader& h) const {
  const uint64_t max_bytes = MaxBytes(h);
  if (need <= h.max_entry_bytes && need <= max_bytes) return Status::OK();
  return Status::ResourceExhausted(What(),
                                   "entry " + Quote(key) + " needs " + std::to_string(need) +
                                       " bytes, more than the whole segment holds (" +
                                       std::to_string(std::min(h.max_entry_bytes, max_bytes)) +
                                       "): recreate it with a larger capacity");
}

// For a new key: evicts until the cache's limits leave room for one more
// entry of `need` bytes (or nothing is left to evict).
void ShmCache::Rep::MakeRoom(Writer& w, SegmentHeader& h, uint64_t need, Micros now) {
  const uint64_t max_bytes = MaxBytes(h);
  const uint64_t max_entries = MaxEntries(h);
  while (h.entries.load() + 1 > max_entries || h.entry_bytes.load() + need > max_bytes) {
    const int64_t victim = w.PickVictim(now);
    if (victim < 0) break;
    Evict(w, h, victim);
  }
  w.MaybeCompactIndex();
}

// A block for the entry, evicting (for a new key) and reclaiming until one
// is free. ResourceExhausted when none can be had.
Result<shm::EntryHeader*> ShmCache::Rep::AllocateEntry(Writer& w, SegmentHeader& h,
                                                       std::string_view key, uint64_t hash,
                                                       uint64_t image_size, int64_t pos,
                                                       Micros now) {
  shm::EntryHeader* e = w.Allocate(key, hash, image_size);
  while (e == nullptr) {
    // Replacing a key never evicts another (doc/behaviour.md section 9).
    const int64_t victim = pos < 0 ? w.PickVictim(now) : -1;
    if (victim >= 0) Evict(w, h, victim);
    w.ReclaimRetired();
    e = w.Allocate(key, hash, image_size);
    if (e == nullptr && victim < 0) {
      const uint64_t need = shm::EntryBlockBytes(key.size(), image_size);
      return Status::ResourceExhausted(
          What(), "full: entry " + Quote(key) + " needs " + std::to_string(need) + " bytes, " +
                      std::to_string(w.FreeBytes()) + " are free and " +
                      std::to_string(h.retired_bytes.load()) +
                      " are held by readers of replaced versions");
    }
  }
  return e;
}

// Publishes the filled entry `e` in place of the one at `pos` (if any),
// then retires the replaced one; returns the new version.
uint64_t ShmCache::Rep::LinkEntry(Writer& w, SegmentHeader& h, shm::EntryHeader* e, int64_t pos,
                                  Micros now, std::optional<int64_t> ttl) {
  e->version = h.generation.load() + 1;
  e->expires_at = ExpiresAt(now, ttl.value_or(options.default_ttl_seconds));
  e->last_used.store(h.lru_clock.fetch_add(1, std::memory_order_relaxed) + 1);
  const uint64_t replaced = w.Link(e, pos);
  shm::CrashPoint("after_publish");
  const uint64_t version = w.BumpGeneration();
  w.Retire(replaced, version);
  shm::CrashPoint("before_free");
  w.ReclaimRetired();
  return version;
}

Result<ShmEntry> ShmCache::Rep::Get(std::string_view key) {
  Result<SegmentPtr> rs = ForRead();
  if (!rs.ok()) return rs.status();
  Result<ShmEntry> e = GetFrom(*rs, key);
  // A miss checks (one stat) that the name still leads to this segment. A
  // writer killed between renaming a rebuilt segment into place and marking
  // the old one replaced would otherwise leave us reading a stale one.
  if (e.ok() || !e.status().IsNotFound() || (*rs)->IsAt(path)) return e;
  Result<std::shared_ptr<shm::SegmentFile>> file = OpenFile();
  if (!file.ok()) return e;
  Result<SegmentPtr> fresh = Segment::Attach(std::move(file).value());
  if (!fresh.ok()) return e;
  SetCurrent(*fresh);
  return GetFrom(*fresh, key);
}

// A few exact attempts, then a coarse one, which never goes stale: a
// reader never waits for writers, however fast they publish.
Result<ShmEntry> ShmCache::Rep::GetFrom(const SegmentPtr& s, std::string_view key) {
  constexpr int kExactAttempts = 8;
  if (Status size = s->CheckSize(); !size.ok()) return size;
  SegmentHeader& h = *s->header();
  for (int attempt = 0;; ++attempt) {
    const bool coarse = attempt >= kExactAttempts;
    Result<shm::Pinned> pinned = s->Pin(coarse);
    if (!pinned.ok()) {
      // Every slot is taken; dead processes' slots are freed under the lock.
      WriteScope scope;
      Result<SegmentPtr> locked = ForWrite(scope);
      if (locked.ok() && *locked == s && h.dirty_pid.load() == 0) {
        Writer w(s.get());
        w.Begin();
        w.ReclaimRetired(/*all_slots=*/true);
        w.End();
      }
      pinned = s->Pin(coarse);
      if (!pinned.ok()) return pinned.status();
    }
    std::optional<Result<ShmEntry>> got = TryGet(s, key, *pinned);
    if (got.has_value()) return *std::move(got);
  }
}

std::optional<Result<ShmEntry>> ShmCache::Rep::TryGet(const SegmentPtr& s, std::string_view key,
                                                      shm::Pinned pinned) {
  SegmentHeader& h = *s->header();
  // An exact pin covers only what the index held at its generation: after
  // loading an offset, check that the generation has not moved.
  auto stale = [&] {
    if (pinned.coarse || h.generation.load(std::memory_order_seq_cst) == pinned.generation) {
      return false;
    }
    s->Unpin(pinned);
    return true;
  };
  auto miss = [&](Status why, uint64_t word) {
    s->Unpin(pinned);
    h.misses.fetch_add(1, std::memory_order_relaxed);
    if (word != 0) DropIfUnchanged(s, key, HashKey(key), word);
    return why;
  };
  // Acquire loads: the index and every block it links were complete before
  // their offsets were stored (release), and stay unchanged while pinned.
  const uint64_t hash = HashKey(key);
  const uint64_t index_offset = h.index_offset.load(std::memory_order_acquire);
  if (stale()) return std::nullopt;
  const shm::IndexBlock* index = s->IndexAt(index_offset);
  if (index == nullptr) return miss(Status::StructureInvalid(What(), "damaged index"), 0);
  const std::atomic<uint64_t>* words = const_cast<shm::IndexBlock*>(index)->words();
  const uint64_t mask = index->slot_count - 1;
  for (uint64_t n = 0, p = hash & mask; n <= mask; ++n, p = (p + 1) & mask) {
    const uint64_t word = words[p].load(std::memory_order_acquire);
    if (word == shm::kEmpty) break;
    if (!shm::IsLive(word) || !shm::TagMatches(word, hash)) continue;
    if (stale()) return std::nullopt;
    shm::EntryHeader* e = s->EntryAt(shm::WordOffset(word));
    if (e == nullptr || e->key_hash != hash || s->EntryKey(e) != key) continue;
    if (e->expires_at <= options.clock()) {
      return miss(Status::NotFound(What(), "entry " + Quote(key) + " expired"), word);
    }
    Result<Snapshot> snap =
        Snapshot::FromBuffer(s->EntryImage(e), e->image_size,
                             "shm:" + options.name + "/" + std::string(key), options.verify_on_get);
    if (!snap.ok()) return miss(snap.status(), word);
    e->last_used.store(h.lru_clock.fetch_add(1, std::memory_order_relaxed) + 1,
                       std::memory_order_relaxed);
    h.hits.fetch_add(1, std::memory_order_relaxed);
    return ShmEntry(std::unique_ptr<ShmEntry::Pin>(new ShmEntry::Pin{
        s, pinned, std::move(snap).value(), s->EntryKey(e), e->version, e->expires_at}));
  }
  return miss(Status::NotFound(What(), "no entry " + Quote(key)), 0);
}

// Drops an expired or damaged entry a reader found, if it is still the one
// linked. Only when the writer lock is free right now: a reader does not
// wait for writers; a later get, put or RemoveExpired drops it otherwise.
void ShmCache::Rep::DropIfUnchanged(const SegmentPtr& s, std::string_view key, uint64_t hash,
                                    uint64_t word) {
  if (!s->file()->TryLockWriter()) return;
  WriteScope scope;
  scope.Hold(s->file());
  if (Current() != s || !s->IsAt(path) || s->header()->dirty_pid.load() != 0) return;
  Writer w(s.get());
  const int64_t pos = w.Find(key, hash);
  if (pos < 0 || w.WordAt(pos) != word) return;
  w.Begin();
  w.Retire(w.Unlink(pos), w.BumpGeneration());
  w.ReclaimRetired();
  w.End();
}

}  // namespace trackstore
