#include "shm/segment.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <sys/mman.h>
#include <sys/random.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <time.h>
#include <unistd.h>
#include <boost/version.hpp>

#include <bit>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <new>
#include <sstream>

#include "shm/heap.h"
#include "trackstore/env.h"

namespace trackstore::shm {

namespace {

// Fields 3 (state) and 22 (starttime) of /proc/<pid>/stat. The command name
// (field 2) may hold spaces and parentheses, so parse after the last ')'.
bool ReadProcStat(int64_t pid, char* state, uint64_t* start_time) {
  std::ifstream in("/proc/" + std::to_string(pid) + "/stat");
  std::string line;
  if (!std::getline(in, line)) return false;
  const size_t paren = line.rfind(')');
  if (paren == std::string::npos) return false;
  std::istringstream fields(line.substr(paren + 1));
  std::string field;
  for (int i = 3; i <= 22 && fields >> field; ++i) {
    if (i == 3) *state = field.empty() ? '?' : field[0];
    if (i == 22) {
      *start_time = std::strtoull(field.c_str(), nullptr, 10);
      return true;
    }
  }
  return false;
}

uint64_t MakeOwner(int64_t pid, uint64_t start_time) {
  return static_cast<uint64_t>(pid) << 32 | (start_time & 0xffffffff);
}

Status Damaged(const std::string& name, const std::string& why) {
  return Status::StructureInvalid("shm segment " + name, why);
}

// posix_fallocate reserves every page now (Boost 1.74's ftruncate would make
// a sparse file and SIGBUS on first touch when /dev/shm is full). Its failure names the space
// needed and what is free.
Status Reserve(int fd, const std::string& path, const std::string& name, uint64_t bytes) {
  const int err = ::posix_fallocate(fd, 0, static_cast<off_t>(bytes));
  if (err == 0) return Status::OK();
  if (err != ENOSPC && err != EFBIG && err != EDQUOT) return PosixError(path, err);
  struct statvfs vfs;
  const std::string dir = path.substr(0, path.rfind('/'));
  std::string free_text = "?";
  if (::statvfs(dir.c_str(), &vfs) == 0) {
    free_text = std::to_string(uint64_t{vfs.f_bavail} * vfs.f_frsize >> 20);
  }
  return Status::ResourceExhausted(
      "shm segment " + name, "cannot reserve " + std::to_string(bytes >> 20) + " MiB in " + dir +
                                 " (" + free_text + " MiB free): " + std::strerror(err) +
                                 "; choose a smaller capacity or free space in " + dir);
}

}  // namespace

uint64_t SelfOwner() {
  // Cached per pid: a forked child has its own pid and start time.
  static std::atomic<uint64_t> cached{0};
  const int64_t pid = ::getpid();
  uint64_t owner = cached.load(std::memory_order_relaxed);
  if (owner >> 32 == static_cast<uint64_t>(pid)) return owner;
  char state = '?';
  uint64_t start = 0;
  ReadProcStat(pid, &state, &start);  // without /proc: pid alone, checked by kill()
  owner = MakeOwner(pid, start);
  cached.store(owner, std::memory_order_relaxed);
  return owner;
}

bool PidAlive(int64_t pid) {
  if (pid <= 0) return false;
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  // A zombie (killed, not yet reaped) still answers kill() but can no longer
  // touch memory.
  char state = '?';
  uint64_t start = 0;
  if (ReadProcStat(pid, &state, &start) && (state == 'Z' || state == 'X')) return false;
  return true;
}

bool OwnerAlive(uint64_t owner) {
  const int64_t pid = static_cast<int64_t>(owner >> 32);
  if (::kill(static_cast<pid_t>(pid), 0) != 0 && errno == ESRCH) return false;
  char state = '?';
  uint64_t start = 0;
  if (!ReadProcStat(pid, &state, &start)) return true;  // in doubt: alive
  if (state == 'Z' || state == 'X') return false;
  return MakeOwner(pid, start) == owner;  // else the pid was reused
}

Segment::Segment(std::shared_ptr<SegmentFile> file, char* base, uint64_t size)
    : file_(std::move(file)), name_(file_->name()), base_(base), size_(size), pid_(::getpid()) {}

Segment::~Segment() {
  // A forked child holds a copy of this object but not the slot. A file its
  // owner truncated has lost the slot's page: touching it would be SIGBUS.
  if (slot_ != nullptr && ::getpid() == pid_ && CheckSize().ok()) {
    slot_->generation.store(0, std::memory_order_seq_cst);
    for (std::atomic<uint64_t>& pin : slot_->pins) pin.store(0, std::memory_order_seq_cst);
    slot_->owner.store(0, std::memory_order_release);
  }
  ::munmap(base_, size_);
}

Status Segment::CheckSize() const {
  const int64_t now = file_->CurrentSize();
  if (now >= 0 && static_cast<uint64_t>(now) >= size_) return Status::OK();
  return Damaged(name_, "its file was truncated to " + std::to_string(now) + " of " +
                            std::to_string(size_) + " bytes while in use");
}

Result<std::shared_ptr<Segment>> Segment::Attach(std::shared_ptr<SegmentFile> file) {
  const std::string name = file->name();
  const int64_t file_size = file->CurrentSize();
  if (file_size < 0) return Status::IOError("shm segment " + name, "fstat failed");
  const uint64_t size = static_cast<uint64_t>(file_size);
  if (size < kHeaderBytes) {
    return Damaged(name, "only " + std::to_string(size) + " bytes: not initialised");
  }
  if (size > kMaxSegmentBytes) {
    return Damaged(name, std::to_string(size) + " bytes: larger than any segment");
  }
  void* p = ::mmap(nullptr, size, PROT_READ | PROT_WRITE, MAP_SHARED, file->fd(), 0);
  if (p == MAP_FAILED) return PosixError("shm segment " + name, errno);
  std::shared_ptr<Segment> seg(new Segment(std::move(file), static_cast<char*>(p), size));

  const SegmentHeader& h = *seg->header();
  if (h.magic != kSegmentMagic) return Damaged(name, "not a trackstore cache segment");
  if (h.layout_version != kLayoutVersion || h.boost_version != BOOST_VERSION ||
      h.pointer_bytes != sizeof(void*)) {
    return Status::VersionUnsupported(
        "shm segment " + name,
        "made by another trackstore build (layout " + std::to_string(h.layout_version) +
            ", Boost " + std::to_string(h.boost_version) + ", " +
            std::to_string(h.pointer_bytes * 8) + "-bit; this build: layout " +
            std::to_string(kLayoutVersion) + ", Boost " + std::to_string(BOOST_VERSION) + ", " +
            std::to_string(sizeof(void*) * 8) + "-bit)");
  }
  if (h.ready.load(std::memory_order_acquire) != 1) {
    return Damaged(name, "its creator did not finish initialising it");
  }
  // Every sum below is of values already bounded by `size` (< 2^40), so
  // none can wrap.
  if (h.segment_size != size) {
    return Damaged(name, "the header says " + std::to_string(h.segment_size) +
                             " bytes, the file has " + std::to_string(size));
  }
  const bool geometry_ok =
      h.slots_offset == kHeaderBytes && h.reader_slot_count >= 1 &&
      h.reader_slot_count <= kMaxReaders && h.heap_offset <= size &&
      h.slots_offset + uint64_t{h.reader_slot_count} * sizeof(ReaderSlot) <= h.heap_offset &&
      h.heap_size == size - h.heap_offset && h.index_slot_count <= size / sizeof(uint64_t) &&
      std::has_single_bit(h.index_slot_count) && h.max_entries >= 1 &&
      h.max_entries <= h.index_slot_count / 2 &&
      seg->IndexAt(h.index_offset.load(std::memory_order_acquire)) != nullptr;
  if (!geometry_ok) return Damaged(name, "inconsistent header");
  return seg;
}

namespace {

// ".<name>.<16 hex digits>.new": user names cannot start with '.', so no
// segment can have this name, and the random part keeps a concurrent
// creator (or a stranger in a shared directory) from predicting it.
std::string TmpName(const std::string& name) {
  uint64_t r = 0;
  if (::getrandom(&r, sizeof(r), 0) != sizeof(r)) {
    r = static_cast<uint64_t>(::getpid()) << 32 ^ static_cast<uint64_t>(::time(nullptr));
  }
  char hex[17];
  std::snprintf(hex, sizeof(hex), "%016llx", static_cast<unsigned long long>(r));
  return "." + name + "." + hex + ".new";
}

// Removes temporary files of creators that died building a segment named
// `name`: ours, not empty (a live creator locks its file before it grows),
// and with the writer lock free.
void RemoveStaleTmpFiles(const std::string& dir, const std::string& name) {
  DIR* d = ::opendir(dir.c_str());
  if (d == nullptr) return;
  const std::string prefix = "." + name + ".";
  while (const struct dirent* ent = ::readdir(d)) {
    const std::string f = ent->d_name;
    if (f.size() != prefix.size() + 16 + 4 || f.compare(0, prefix.size(), prefix) != 0 ||
        f.compare(f.size() - 4, 4, ".new") != 0) {
      continue;
    }
    const std::string path = dir + "/" + f;
    const int fd = ::open(path.c_str(), O_RDWR | O_NOFOLLOW | O_NONBLOCK | O_CLOEXEC);
    if (fd < 0) continue;
    struct stat st;
    struct flock fl = {};
    fl.l_type = F_WRLCK;
    fl.l_whence = SEEK_SET;
    fl.l_len = 1;
    if (::fstat(fd, &st) == 0 && S_ISREG(st.st_mode) && st.st_uid == ::geteuid() &&
        st.st_size > 0 && ::fcntl(fd, F_OFD_SETLK, &fl) == 0) {
      ::unlink(path.c_str());
    }
    ::close(fd);
  }
  ::closedir(d);
}

// Where the parts of a new segment go.
struct SegmentPlan {
  uint64_t index_slots = 0;
  uint64_t heap_offset = 0;
  uint64_t index_bytes = 0;
};

// Checks the geometry, bounds first so that no product below can wrap, and
// lays the segment out.
Result<SegmentPlan> PlanSegment(const std::string& name, const Geometry& g) {
  if (g.capacity >= kMaxSegmentBytes) {
    return Status::InvalidArgument("shm segment " + name,
                                   "capacity " + std::to_string(g.capacity) +
                                       " bytes: it must be below 1 TiB (1099511627776 bytes)");
  }
  if (g.max_entries == 0 || g.max_entries > kMaxEntries || g.reader_slots == 0 ||
      g.reader_slots > kMaxReaders) {
    return Status::InvalidArgument(
        "shm segment " + name, "max_entries " + std::to_string(g.max_entries) + " and readers " +
                                   std::to_string(g.reader_slots) + ": max_entries must be 1 to " +
                                   std::to_string(kMaxEntries) + ", readers 1 to " +
                                   std::to_string(kMaxReaders));
  }
  SegmentPlan plan;
  plan.index_slots = std::bit_ceil(std::max<uint64_t>(16, g.max_entries * 2));
  plan.heap_offset =
      kHeaderBytes + (uint64_t{g.reader_slots} * sizeof(ReaderSlot) + 4095) / 4096 * 4096;
  plan.index_bytes = IndexBlockBytes(plan.index_slots);
  if (g.capacity < plan.heap_offset + Heap::get_min_size(0) + 2 * plan.index_bytes + 4096) {
    return Status::InvalidArgument(
        "shm segment " + name, "capacity " + std::to_string(g.capacity) +
                                   " bytes is too small for " + std::to_string(g.max_entries) +
                                   " entries and " + std::to_string(g.reader_slots) +
                                   " readers: give at least " +
                                   std::to_string(plan.heap_offset + 2 * plan.index_bytes + 65536));
  }
  return plan;
}

// A new file in `dir` under a temporary name (in *tmp_path), its writer
// lock held.
Result<std::shared_ptr<SegmentFile>> CreateTmpFile(const std::string& dir, const std::string& name,
                                                   bool share_with_group, std::string* tmp_path) {
  *tmp_path = dir + "/" + TmpName(name);
  Result<std::shared_ptr<SegmentFile>> file =
      SegmentFile::Create(*tmp_path, name, share_with_group);
  // Only when the name is taken (a 1-in-2^64 chance): another one.
  struct stat st;
  for (int attempt = 1; !file.ok() && attempt < 8 && ::lstat(tmp_path->c_str(), &st) == 0;
       ++attempt) {
    *tmp_path = dir + "/" + TmpName(name);
    file = SegmentFile::Create(*tmp_path, name, share_with_group);
  }
  return file;
}

// Reserves the file's `capacity` bytes and maps them. On failure the file
// is removed and its writer lock dropped.
Result<char*> MapTmpFile(SegmentFile& file, const std::string& tmp_path, const std::string& name,
                         uint64_t capacity) {
  Status s = Reserve(file.fd(), tmp_path, name, capacity);
  void* p = MAP_FAILED;
  if (s.ok()) {
    p = ::mmap(nullptr, capacity, PROT_READ | PROT_WRITE, MAP_SHARED, file.fd(), 0);
    if (p == MAP_FAILED) s = PosixError(tmp_path, errno);
  }
  if (!s.ok()) {
    ::unlink(tmp_path.c_str());
    file.UnlockWriter();
    return s;
  }
  return static_cast<char*>(p);
}

// The header (all but the index, the largest entry and `ready`), the reader
// slots and the empty heap; returns the heap.
Heap* InitSegment(const Segment& seg, const Geometry& g, const SegmentPlan& plan) {
  SegmentHeader* h = new (seg.base()) SegmentHeader();
  h->magic = kSegmentMagic;
  h->layout_version = kLayoutVersion;
  h->boost_version = BOOST_VERSION;
  h->pointer_bytes = sizeof(void*);
  h->reader_slot_count = g.reader_slots;
  h->segment_size = g.capacity;
  h->slots_offset = kHeaderBytes;
  h->heap_offset = plan.heap_offset;
  h->heap_size = g.capacity - plan.heap_offset;
  h->index_slot_count = plan.index_slots;
  h->max_entries = g.max_entries;
  h->generation.store(1);
  new (seg.slots()) ReaderSlot[g.reader_slots]();
  return new (seg.base() + plan.heap_offset) Heap(h->heap_size, 0);
}

// An empty index in the heap, its offset in the header.
Status CreateIndex(const Segment& seg, Heap* heap, const SegmentPlan& plan) {
  void* index = HeapAllocate(heap, plan.index_bytes);
  if (index == nullptr) {
    return Status::InvalidArgument("shm segment " + seg.name(), "capacity too small for the index");
  }
  IndexBlock* ib = new (index) IndexBlock();
  ib->block = {kIndexMagic, plan.index_bytes, 0, 0};
  ib->slot_count = plan.index_slots;
  new (ib->words()) std::atomic<uint64_t>[ plan.index_slots ]();
  seg.header()->index_offset.store(static_cast<char*>(index) - seg.base());
  return Status::OK();
}

// The largest entry block an otherwise empty heap holds (the allocator's
// per-block overhead is not exposed, so probe for it). An entry above this
// is rejected up front, leaving the cache unchanged.
uint64_t LargestEntryBytes(Heap* heap) {
  uint64_t largest = heap->get_free_memory();
  void* probe = nullptr;
  while (largest > 0 && (probe = HeapAllocate(heap, largest)) == nullptr) largest -= 16;
  if (probe != nullptr) HeapFree(heap, probe);
  return largest;
}

// Gives the finished file at `tmp_path` the name `path`: over what is there
// with `replace`, else only if the name is free (*name_taken set when not).
Status Publish(const std::string& tmp_path, const std::string& path, bool replace,
               bool* name_taken) {
  int rc = 0;
  if (replace) {
    rc = ::rename(tmp_path.c_str(), path.c_str());
  } else {
    rc = ::renameat2(AT_FDCWD, tmp_path.c_str(), AT_FDCWD, path.c_str(), RENAME_NOREPLACE);
    if (rc != 0 && errno == EINVAL) {
      // A file system without RENAME_NOREPLACE: link() also refuses to
      // replace a name.
      rc = ::link(tmp_path.c_str(), path.c_str());
      if (rc == 0) ::unlink(tmp_path.c_str());
    }
  }
  if (rc != 0) {
    if (errno == EEXIST && name_taken != nullptr) *name_taken = true;
    return PosixError(path, errno);
  }
  return Status::OK();
}

}  // namespace

Result<std::shared_ptr<Segment>> Segment::Create(const std::string& dir, const std::string& name,
                                                 const Geometry& g, bool share_with_group,
                                                 bool replace, bool* name_taken) {
  Result<SegmentPlan> plan = PlanSegment(name, g);
  if (!plan.ok()) return plan.status();
  RemoveStaleTmpFiles(dir, name);
  std::string tmp_path;
  Result<std::shared_ptr<SegmentFile>> file = CreateTmpFile(dir, name, share_with_group, &tmp_path);
  if (!file.ok()) return file.status();
  Result<char*> base = MapTmpFile(**file, tmp_path, name, g.capacity);
  if (!base.ok()) return base.status();
  std::shared_ptr<Segment> seg(new Segment(*file, *base, g.capacity));
  // From here on, every return that is not the segment drops the writer lock.
  auto fail = [&](Status why) {
    ::unlink(tmp_path.c_str());
    seg->file()->UnlockWriter();
    return why;
  };

  // The file is not yet visible under its name: plain stores suffice until
  // `ready` and the rename publish it.
  Heap* heap = InitSegment(*seg, g, *plan);
  if (Status s = CreateIndex(*seg, heap, *plan); !s.ok()) return fail(s);
  SegmentHeader* h = seg->header();
  h->max_entry_bytes = LargestEntryBytes(heap);
  h->heap_used.store(HeapUsed(heap));
  h->ready.store(1, std::memory_order_release);
  if (Status s = Publish(tmp_path, dir + "/" + name, replace, name_taken); !s.ok()) {
    return fail(s);
  }
  return seg;
}

EntryHeader* Segment::EntryAt(uint64_t offset) const {
  const SegmentHeader& h = *header();
  if (offset % 8 != 0 || offset < h.heap_offset || offset > size_ - sizeof(EntryHeader)) {
    return nullptr;
  }
  auto* e = reinterpret_cast<EntryHeader*>(base_ + offset);
  const uint64_t room = size_ - offset;
  if (e->block.magic != kEntryMagic || e->block.block_bytes > room) return nullptr;
  const uint64_t b = e->block.block_bytes;
  if (e->key_size > b || e->image_offset % 8 != 0 ||
      e->image_offset < sizeof(EntryHeader) + e->key_size || e->image_offset > b ||
      e->image_size > b - e->image_offset) {
    return nullptr;
  }
  return e;
}

IndexBlock* Segment::IndexAt(uint64_t offset) const {
  const SegmentHeader& h = *header();
  if (offset % 8 != 0 || offset < h.heap_offset || offset > size_ - sizeof(IndexBlock)) {
    return nullptr;
  }
  auto* ib = reinterpret_cast<IndexBlock*>(base_ + offset);
  if (ib->block.magic != kIndexMagic || ib->slot_count != h.index_slot_count ||
      ib->slot_count > (size_ - offset) / sizeof(uint64_t) ||  // no overflow below
      IndexBlockBytes(ib->slot_count) > size_ - offset) {
    return nullptr;
  }
  return ib;
}

std::string_view Segment::EntryKey(const EntryHeader* e) const {
  return std::string_view(reinterpret_cast<const char*>(e + 1), e->key_size);
}

const char* Segment::EntryImage(const EntryHeader* e) const {
  return reinterpret_cast<const char*>(e) + e->image_offset;
}

// A slot is claimed with a compare-and-swap from 0, so two processes never
// share one. Dead owners' slots are freed only by a writer (under the lock),
// never here: a reader that freed one could race with another reader
// claiming it and zero that reader's generation.
Status Segment::ClaimSlot() {
  const SegmentHeader& h = *header();
  const uint64_t me = SelfOwner();
  const uint32_t n = h.reader_slot_count;
  ReaderSlot* slots = this->slots();
  for (uint32_t k = 0; k < n; ++k) {
    ReaderSlot& s = slots[(static_cast<uint64_t>(pid_) + k) % n];
    uint64_t expected = 0;
    // seq_cst, like the slot's generation stores: a writer that has bumped
    // the generation past our pin must see the owner too (Pin's comment).
    if (s.owner.compare_exchange_strong(expected, me, std::memory_order_seq_cst)) {
      // 1, not 0, until Pin stores the generation it reads at: were we killed
      // right here, a slot at 0 would look idle and be freed only when the
      // slots run out, while one at 1 holds back every retired block, so
      // the next put that retires anything checks our pid and frees it.
      s.generation.store(1, std::memory_order_seq_cst);
      // A dead owner's exact pins are stale; they only held frees back.
      for (std::atomic<uint64_t>& pin : s.pins) pin.store(0, std::memory_order_seq_cst);
      slot_ = &s;
      return Status::OK();
    }
  }
  return Status::ResourceExhausted("shm segment " + name_,
                                   "all " + std::to_string(n) + " reader slots are in use");
}

// The LMDB reader protocol (mdb.c mdb_txn_renew0, ITS#7970): publish the
// generation we are about to read at, then re-read the global generation and
// retry until they agree. Two ways to publish it:
//  - exact: in a free word of slot.pins. The reader then promises to use
//    only what the index held at exactly generation g: after each load of an
//    offset from the index it re-reads the global generation, and starts
//    over if it moved (ShmCache::Rep::GetFrom). A block linked at L and
//    unlinked by the bump to R is then held back only by pins in [L, R);
//  - coarse: in slot.generation, the minimum over such pins of this handle:
//    every block still linked at g is held back (R > g), whenever the read
//    happens. Used when the pin words are all taken, and by a reader that
//    keeps losing the race against writers.
// A writer frees a retired block only when no live slot holds it back. Why
// that is safe, with every access involved seq_cst (our claim of the slot's
// owner, our stores and re-reads; the writer's increment and its loads of
// each slot's words):
//  - if our store precedes the writer's scan, the scan sees it;
//  - if not, the writer's increment to R precedes our re-read, so we see
//    g >= R and retry, or we already held g >= R; and a reader that loaded
//    g >= R also sees the unlink (it happens before the increment), so it
//    cannot reach the block at all;
//  - an exact reader that loads the offset of a block linked at L > g sees
//    the global generation at L or later on its re-read (the link store
//    happens after the increment to L), so it never dereferences it.
Result<Pinned> Segment::Pin(bool coarse) {
  std::lock_guard<std::mutex> lock(mu_);
  if (slot_ == nullptr) {
    Status s = ClaimSlot();
    if (!s.ok()) return s;
  }
  std::atomic<uint64_t>& global = header()->generation;
  uint64_t g = global.load(std::memory_order_seq_cst);
  // Publishes g in `word`, re-reading until the global generation agrees.
  auto publish = [&](std::atomic<uint64_t>& word) {
    for (;;) {
      word.store(g, std::memory_order_seq_cst);
      const uint64_t again = global.load(std::memory_order_seq_cst);
      if (again == g) return;
      g = again;
    }
  };
  if (!coarse) {
    for (ExactPin& pin : exact_) {  // a word already published at g
      if (pin.count > 0 && pin.generation == g) {
        ++pin.count;
        return Pinned{g, false};
      }
    }
    for (size_t i = 0; i < exact_.size(); ++i) {
      if (exact_[i].count != 0) continue;
      publish(slot_->pins[i]);
      exact_[i] = {g, 1};
      // The "holds everything" mark ClaimSlot left, when nothing else needs it.
      if (coarse_.empty()) slot_->generation.store(0, std::memory_order_seq_cst);
      return Pinned{g, false};
    }
  }
  // While this handle holds coarse pins, the word holds their minimum, which
  // is <= the current generation: new reads are covered without a store.
  if (coarse_.empty()) publish(slot_->generation);
  coarse_.insert(g);
  return Pinned{g, true};
}

void Segment::Unpin(Pinned pinned) {
  std::lock_guard<std::mutex> lock(mu_);
  // Truncated by its owner: the slot's page may be gone, and the segment is
  // dead anyway (writers replace it).
  if (!CheckSize().ok()) return;
  // seq_cst stores: our reads of the blocks happen before a writer that
  // sees the new value frees them.
  if (!pinned.coarse) {
    for (size_t i = 0; i < exact_.size(); ++i) {
      if (exact_[i].count == 0 || exact_[i].generation != pinned.generation) continue;
      if (--exact_[i].count == 0) slot_->pins[i].store(0, std::memory_order_seq_cst);
      return;
    }
    return;
  }
  auto it = coarse_.find(pinned.generation);
  if (it == coarse_.end()) return;
  coarse_.erase(it);
  slot_->generation.store(coarse_.empty() ? 0 : *coarse_.begin(), std::memory_order_seq_cst);
}

}  // namespace trackstore::shm
