// Store: the commit protocol (doc/store_format.md).
//
// Every write runs under the writer lock and ends by renaming one manifest
// into manifests/. Before that rename, everything the manifest names is
// written, fsync'ed and renamed into place, and those directories are
// fsync'ed; so a manifest that can be seen is a complete version. What a
// failed or killed commit leaves behind (temporary files, fragments no
// manifest names) is removed by later writers.
#include "trackstore/store.h"

#include <sys/random.h>
#include <time.h>

#include <algorithm>
#include <bit>
#include <cinttypes>
#include <cstdio>
#include <mutex>
#include <new>
#include <unordered_map>
#include <unordered_set>

#include "misuse.h"
#include "snapshot_access.h"
#include "snapshot_format.h"
#include "store/compaction.h"
#include "store/manifest.h"
#include "store/store_access.h"
#include "store/version_rep.h"
#include "track_hash.h"
#include "trackstore/env.h"

namespace trackstore {

namespace {

constexpr std::string_view kManifestDir = "manifests";
constexpr std::string_view kFragmentDir = "fragments";
constexpr std::string_view kStateDir = "state";
constexpr std::string_view kTempDir = "tmp";
constexpr std::string_view kLockFile = "LOCK";

// Readers retry when garbage collection removed a version's files between
// listing the manifests and opening the fragments.
constexpr int kOpenAttempts = 4;

std::string RandomHex() {
  uint64_t v = 0;
  if (::getrandom(&v, sizeof(v), 0) != sizeof(v)) {
    timespec ts;
    ::clock_gettime(CLOCK_MONOTONIC, &ts);
    v = static_cast<uint64_t>(ts.tv_nsec) * 0x9E3779B97F4A7C15ULL ^
        static_cast<uint64_t>(ts.tv_sec);
  }
  char buf[17];
  std::snprintf(buf, sizeof(buf), "%016" PRIx64, v);
  return buf;
}

void SleepMicros(Micros us) {
  timespec ts{static_cast<time_t>(us / kMicrosPerSecond),
              static_cast<long>((us % kMicrosPerSecond) * 1000)};
  ::nanosleep(&ts, nullptr);
}

Micros MonotonicMicros() {
  timespec ts;
  ::clock_gettime(CLOCK_MONOTONIC, &ts);
  return static_cast<Micros>(ts.tv_sec) * kMicrosPerSecond + ts.tv_nsec / 1000;
}

}  // namespace

struct TRACKSTORE_HIDDEN Store::Rep {
  std::string dir;
  StoreOptions options;
  Env* env = nullptr;
  SnapshotWriter writer;  // reused across commits: keeps its buffers
  // The newest version this handle opened or wrote: later opens reuse its
  // fragments' mappings, whose touched pages are then already mapped (a
  // first touch of a page costs 10-20 us on the development VM, and a
  // commit's lookups touch thousands).
  mutable std::mutex cache_mu;
  mutable std::shared_ptr<const Version::Fragments> cached;
  std::shared_ptr<const Version::Fragments> Cached() const {
    std::lock_guard<std::mutex> lock(cache_mu);
    return cached;
  }
  void Remember(const Version& v) const {
    std::lock_guard<std::mutex> lock(cache_mu);
    cached = v.rep_;
  }

  std::string Sub(std::string_view name) const { return dir + "/" + std::string(name); }
  std::string FragmentPath(std::string_view name) const {
    return dir + "/fragments/" + std::string(name) + ".snap";
  }
  std::string StatePath(std::string_view name) const {
    return dir + "/state/" + std::string(name) + ".json";
  }
  std::string ManifestPath(uint64_t n) const {
    return dir + "/manifests/" + store::ManifestFileName(n);
  }

  // --- reading ---
  // Valid manifest numbers, newest first; `highest` also counts damaged
  // ones, so that a writer never reuses a number.
  Status ListManifests(std::vector<uint64_t>* numbers, uint64_t* highest) const;
  Status ReadManifest(uint64_t n, VersionInfo* info) const;
  // Opens the fragments of `info`, reusing mappings of `reuse` when given.
  Result<Version> OpenVersion(VersionInfo info, const Version::Fragments* reuse) const;
  // The newest version. With `allow_empty`, a store without versions gives
  // an empty version 0 instead of NotFound.
  Result<Version> Newest(bool allow_empty, uint64_t* highest) const;
  Version Empty() const;
  // The newest manifest (number 0 and no fragments when there is none),
  // without opening its fragments.
  Result<VersionInfo> NewestInfo(uint64_t* highest) const;

  // --- writing (lock held) ---
  Status Lock(std::unique_ptr<FileLock>* lock);
  Status RemoveTemporaries(uint64_t* removed);
  Status WriteInto(const std::string& path, std::span<const ConstBytes> pieces);
  Status WriteFragment(const EncodedView& image, const std::string& name, bool delta, uint64_t rows,
                       std::vector<std::shared_ptr<const Snapshot>>* fragments,
                       std::vector<FragmentInfo>* infos, uint64_t* bytes_written);
  Status WriteState(const DeltaState& state, std::string* name, uint64_t* bytes_written);
  // Writes version highest+1 with `fragments`; fills the count and hash.
  Result<Version> Publish(VersionInfo info, std::vector<std::shared_ptr<const Snapshot>> fragments,
                          uint64_t highest, uint64_t* bytes_written);
  // Applies the options' metadata and state over the parent's.
  Status CarryState(const VersionInfo& parent, const CommitOptions& options, VersionInfo* next,
                    uint64_t* bytes_written, bool* wrote_state);
  // Sets `chunk` to the next fragment's tracks (valid until the next call)
  // and returns whether more may follow.
  using ChunkFn = std::function<Result<bool>(std::span<const TrackRecord>* chunk)>;
  Status WriteBase(const ChunkFn& next_chunk, const CommitOptions& options,
                   std::vector<std::shared_ptr<const Snapshot>>* frags,
                   std::vector<FragmentInfo>* infos, CommitStats* stats);
  // The same from fragments already encoded (internal::StoreAccess).
  Status WriteBaseImages(const internal::FragmentImageFn& next_image,
                         std::vector<std::shared_ptr<const Snapshot>>* frags,
                         std::vector<FragmentInfo>* infos, CommitStats* stats);
  // A new base as one version: `write` writes its fragments. Reads only the
  // parent's manifest, so that a replacement also repairs a version whose
  // files are lost or damaged.
  // With `inherit_state` false, metadata and delta state come from
  // `options` only (unset ones are absent), not from the parent.
  Result<CommitStats> CommitBase(
      const CommitOptions& options,
      const std::function<Status(std::vector<std::shared_ptr<const Snapshot>>*,
                                 std::vector<FragmentInfo>*, CommitStats*)>& write,
      bool inherit_state = true);
  Result<Version> CompactLocked(const Version& v, uint64_t highest, uint64_t* bytes_written);
  // Folds the delta fragments of `v` into one: per slot they touch, only
  // its newest row. Costs the deltas' rows, not the library.
  Result<Version> FoldLocked(const Version& v, uint64_t highest, uint64_t* bytes_written);
  // Compaction and garbage collection due after a commit. Only damage found
  // fails it: the commit is in place whatever else goes wrong.
  Status AfterCommit(Version* current, uint64_t highest, const CommitOptions& options,
                     CommitStats* stats);
  Result<GcStats> CollectLocked(uint32_t keep);
  Status SyncDirs(bool fragments, bool state);
  void Fill(const Version& v, CommitStats* stats) const {
    stats->version = v.number();
    stats->track_count = v.size();
    stats->content_hash = v.content_hash();
  }
};

Store::Store(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
Store::Store(Store&&) noexcept = default;
Store& Store::operator=(Store&&) noexcept = default;
Store::~Store() = default;

// Every method checks that the Store was not moved from (one compare): a
// call on a moved-from Store aborts with its name instead of reading through
// a null pointer.
const std::string& Store::directory() const {
  internal::CheckNotMovedFrom(rep_, "Store::directory");
  return rep_->dir;
}

Result<Store> Store::Open(const std::string& dir_in, const StoreOptions& options) {
  auto rep = std::make_unique<Rep>();
  rep->dir = dir_in;
  while (rep->dir.size() > 1 && rep->dir.back() == '/') rep->dir.pop_back();
  rep->options = options;
  if (!rep->options.clock) rep->options.clock = SystemClock();
  if (rep->options.keep_versions == 0) rep->options.keep_versions = 1;
  // Fragment sizes are estimates (format::PayloadBytesOf): keep a margin
  // under the FlatBuffers limit.
  rep->options.max_fragment_bytes =
      std::clamp<uint64_t>(rep->options.max_fragment_bytes, 1024, kMaxSnapshotPayloadBytes / 5 * 4);
  rep->env = options.env != nullptr ? options.env : Env::Default();
  Env* env = rep->env;
  std::vector<std::string> names;
  Status s = env->ListDir(rep->dir, &names);
  if (s.IsNotFound() && options.create_if_missing) s = env->CreateDir(rep->dir);
  if (!s.ok()) return s.Annotate("opening store");
  s = env->ListDir(rep->Sub(kManifestDir), &names);
  if (s.IsNotFound()) {
    if (!options.create_if_missing) {
      return Status::NotFound(rep->dir, "not a trackstore store (no manifests/ directory)");
    }
    for (std::string_view sub : {kFragmentDir, kStateDir, kTempDir, kManifestDir}) {
      s = env->CreateDir(rep->Sub(sub));
      if (!s.ok()) return s.Annotate("creating store layout");
    }
    if (options.sync) s = env->SyncDir(rep->dir);
  }
  if (!s.ok()) return s.Annotate("opening store");
  return Store(std::move(rep));
}

// --- reading -----------------------------------------------------------------

Status Store::Rep::ListManifests(std::vector<uint64_t>* numbers, uint64_t* highest) const {
  std::vector<std::string> names;
  if (Status s = env->ListDir(Sub(kManifestDir), &names); !s.ok()) return s;
  numbers->clear();
  for (const std::string& name : names) {
    if (std::optional<uint64_t> n = store::ParseManifestFileName(name)) numbers->push_back(*n);
  }
  std::sort(numbers->rbegin(), numbers->rend());
  if (highest != nullptr) *highest = numbers->empty() ? 0 : numbers->front();
  return Status::OK();
}

Status Store::Rep::ReadManifest(uint64_t n, VersionInfo* info) const {
  const std::string path = ManifestPath(n);
  std::string text;
  if (Status s = env->ReadFile(path, store::kMaxManifestBytes, &text); !s.ok()) return s;
  if (Status s = store::DecodeManifest(text, path, info); !s.ok()) return s;
  if (info->number != n) return Status::StructureInvalid(path, "names another version number");
  return Status::OK();
}

Version Store::Rep::Empty() const {
  auto rep = std::make_shared<Version::Fragments>();
  rep->directory = dir;
  rep->env = env;
  rep->Index();
  rep->Compute(&rep->info.track_count, &rep->info.content_hash);
  return Version(std::move(rep));
}

Result<Version> Store::Rep::OpenVersion(VersionInfo info, const Version::Fragments* reuse) const {
  auto rep = std::make_shared<Version::Fragments>();
  rep->directory = dir;
  rep->env = env;
  for (const FragmentInfo& f : info.fragments) {
    std::shared_ptr<const Snapshot> open;
    if (reuse != nullptr) {
      for (size_t k = 0; k < reuse->info.fragments.size(); ++k) {
        if (reuse->info.fragments[k].name == f.name) open = reuse->fragments[k];
      }
    }
    if (open == nullptr) {
      Result<Snapshot> snap = Snapshot::OpenTrusted(FragmentPath(f.name), env);
      if (!snap.ok()) return snap.status();
      // The name is the payload hash: the file is the one the manifest
      // means (the hash itself is checked by Verify).
      if (snap->content_hash() != f.name) {
        return Status::StructureInvalid(
            snap->path(), "header hash " + snap->content_hash() + " differs from the file's name");
      }
      open = std::make_shared<const Snapshot>(std::move(snap).value());
    }
    if (open->is_delta() != f.delta || open->size() != f.rows) {
      return Status::StructureInvalid(FragmentPath(f.name), "does not match the manifest's entry");
    }
    rep->fragments.push_back(std::move(open));
  }
  rep->info = std::move(info);
  rep->Index();
  return Version(std::move(rep));
}

Result<Version> Store::Rep::Newest(bool allow_empty, uint64_t* highest) const {
  Status last;
  for (int attempt = 0; attempt < kOpenAttempts; ++attempt) {
    std::vector<uint64_t> numbers;
    if (Status s = ListManifests(&numbers, highest); !s.ok()) return s.Annotate("listing versions");
    last = Status::OK();
    bool retry = false;
    for (uint64_t n : numbers) {
      VersionInfo info;
      Status s = ReadManifest(n, &info);
      if (s.IsNotFound()) {  // removed by gc since the listing: list again
        retry = true;
        break;
      }
      if (!s.ok()) {
        // Damaged: the previous version is current. Any other error (an
        // I/O error) says nothing about the manifest: falling back would
        // let a writer build on an older version and drop this one.
        if (!s.IsCorruption()) return s.Annotate("reading version " + std::to_string(n));
        last = s;
        continue;
      }
      const std::shared_ptr<const Version::Fragments> reuse = Cached();
      Result<Version> v = OpenVersion(std::move(info), reuse.get());
      if (v.ok()) Remember(*v);
      if (v.ok() || !v.status().IsNotFound()) return v;
      retry = true;  // a fragment went with gc: a newer version exists
      last = v.status();
      break;
    }
    if (!retry) break;
  }
  if (!last.ok()) return last.Annotate("no readable version");
  if (allow_empty) return Empty();
  return Status::NotFound(dir, "the store has no version yet");
}

Result<VersionInfo> Store::Rep::NewestInfo(uint64_t* highest) const {
  std::vector<uint64_t> numbers;
  if (Status s = ListManifests(&numbers, highest); !s.ok()) return s.Annotate("listing versions");
  for (uint64_t n : numbers) {
    VersionInfo info;
    Status s = ReadManifest(n, &info);
    if (s.ok()) return info;
    // Only damage falls back to the previous version; an I/O error must not
    // make a writer build on an older version than the current one.
    if (!s.IsCorruption() && !s.IsNotFound()) {
      return s.Annotate("reading the current version");
    }
  }
  return VersionInfo{};
}

Result<Version> Store::Current() const {
  internal::CheckNotMovedFrom(rep_, "Store::Current");
  return rep_->Newest(false, nullptr);
}

Result<Version> Store::At(uint64_t number) const {
  internal::CheckNotMovedFrom(rep_, "Store::At");
  VersionInfo info;
  Status s = rep_->ReadManifest(number, &info);
  if (s.IsNotFound()) {
    return Status::NotFound(rep_->dir, "version " + std::to_string(number) +
                                           " does not exist or was garbage-collected");
  }
  if (!s.ok()) return s;
  Result<Version> v = rep_->OpenVersion(std::move(info), nullptr);
  if (!v.ok() && v.status().IsNotFound()) {
    return v.status().Annotate("version " + std::to_string(number) + " was garbage-collected");
  }
  return v;
}

Result<DeltaState> Store::ReadDeltaState(const VersionInfo& info) const {
  internal::CheckNotMovedFrom(rep_, "Store::ReadDeltaState");
  return store::ReadDeltaState(rep_->env, rep_->dir, info);
}

Result<VersionInfo> Store::CurrentInfo() const {
  internal::CheckNotMovedFrom(rep_, "Store::CurrentInfo");
  std::vector<uint64_t> numbers;
  if (Status s = rep_->ListManifests(&numbers, nullptr); !s.ok()) return s;
  Status last;
  for (uint64_t n : numbers) {
    VersionInfo info;
    Status s = rep_->ReadManifest(n, &info);
    if (s.ok()) return info;
    // Damage falls back to the previous version, NotFound means gc removed
    // it meanwhile; any other error says nothing about the manifest.
    if (!s.IsCorruption() && !s.IsNotFound()) {
      return s.Annotate("reading version " + std::to_string(n));
    }
    if (!s.IsNotFound()) last = s;
  }
  if (!last.ok()) return last.Annotate("no readable version");
  return Status::NotFound(rep_->dir, "the store has no version yet");
}

Result<std::vector<VersionInfo>> Store::Log() const {
  internal::CheckNotMovedFrom(rep_, "Store::Log");
  std::vector<uint64_t> numbers;
  if (Status s = rep_->ListManifests(&numbers, nullptr); !s.ok()) return s;
  std::vector<VersionInfo> log;
  for (uint64_t n : numbers) {
    VersionInfo info;
    if (rep_->ReadManifest(n, &info).ok()) log.push_back(std::move(info));
  }
  return log;
}

// --- writing -----------------------------------------------------------------

Status Store::Rep::Lock(std::unique_ptr<FileLock>* lock) {
  const std::string path = Sub(kLockFile);
  const Micros deadline = MonotonicMicros() + options.lock_timeout;
  Micros pause = 200;
  for (;;) {
    Status s = env->TryLockFile(path, lock);
    if (s.ok()) break;
    if (!s.IsBusy() || MonotonicMicros() >= deadline) {
      if (s.IsBusy()) {
        char waited[32];
        std::snprintf(waited, sizeof(waited), "%.1f s",
                      static_cast<double>(options.lock_timeout) / kMicrosPerSecond);
        return s.Annotate("store is locked by another writer (waited " + std::string(waited) +
                          "; if that process is gone, the lock is already free: retry)");
      }
      return s.Annotate("taking the writer lock");
    }
    SleepMicros(pause);
    pause = std::min<Micros>(pause * 2, 20'000);
  }
  uint64_t removed = 0;
  return RemoveTemporaries(&removed);
}

// Only the lock holder writes in tmp/, so everything there is left over
// from a writer that failed or died.
Status Store::Rep::RemoveTemporaries(uint64_t* removed) {
  std::vector<std::string> names;
  if (Status s = env->ListDir(Sub(kTempDir), &names); !s.ok()) {
    return s.Annotate("listing temporary files");
  }
  for (const std::string& name : names) {
    if (Status s = env->RemoveFile(Sub(kTempDir) + "/" + name); !s.ok() && !s.IsNotFound()) {
      return s.Annotate("removing a leftover temporary file");
    }
    ++*removed;
  }
  return Status::OK();
}

Status Store::Rep::WriteInto(const std::string& path, std::span<const ConstBytes> pieces) {
  const std::string tmp =
      Sub(kTempDir) + "/" + path.substr(path.find_last_of('/') + 1) + "." + RandomHex();
  Status s = env->WriteNewFile(tmp, pieces, options.sync);
  if (s.ok()) s = env->Rename(tmp, path);
  if (!s.ok()) (void)env->RemoveFile(tmp);
  return s;
}

Status Store::Rep::SyncDirs(bool fragments, bool state) {
  if (!options.sync) return Status::OK();
  if (fragments) {
    if (Status s = env->SyncDir(Sub(kFragmentDir)); !s.ok()) return s.Annotate("syncing fragments");
  }
  if (state) {
    if (Status s = env->SyncDir(Sub(kStateDir)); !s.ok()) return s.Annotate("syncing states");
  }
  return Status::OK();
}

Status Store::Rep::WriteFragment(const EncodedView& image, const std::string& name, bool delta,
                                 uint64_t rows,
                                 std::vector<std::shared_ptr<const Snapshot>>* fragments,
                                 std::vector<FragmentInfo>* infos, uint64_t* bytes_written) {
  const std::string path = FragmentPath(name);
  const ConstBytes pieces[] = {{image.header.data(), image.header.size()},
                               {image.payload.data(), image.payload.size()}};
  if (Status s = WriteInto(path, pieces); !s.ok()) return s.Annotate("writing a fragment");
  // Mapped back from the page cache: O(1), and later versions share it.
  Result<Snapshot> snap = Snapshot::OpenTrusted(path, env);
  if (!snap.ok()) return snap.status().Annotate("reopening a written fragment");
  fragments->push_back(std::make_shared<const Snapshot>(std::move(snap).value()));
  infos->push_back({name, delta, rows, image.size()});
  *bytes_written += image.size();
  return Status::OK();
}

Status Store::Rep::WriteState(const DeltaState& state, std::string* name, uint64_t* bytes_written) {
  Result<std::string> text = state.ToJson();
  if (!text.ok()) return text.status();
  *name = format::HashToHex(
      format::HashPayload({reinterpret_cast<const uint8_t*>(text->data()), text->size()}));
  const ConstBytes piece{text->data(), text->size()};
  if (Status s = WriteInto(StatePath(*name), {&piece, 1}); !s.ok()) {
    return s.Annotate("writing the delta state");
  }
  *bytes_written += text->size();
  return Status::OK();
}

Status Store::Rep::CarryState(const VersionInfo& parent, const CommitOptions& options,
                              VersionInfo* next, uint64_t* bytes_written, bool* wrote_state) {
  next->service = options.service ? options.service : parent.service;
  next->delta_state = parent.delta_state;
  *wrote_state = false;
  if (options.delta_state) {
    if (Status s = WriteState(*options.delta_state, &next->delta_state, bytes_written); !s.ok()) {
      return s;
    }
    *wrote_state = true;
  }
  return Status::OK();
}

Result<Version> Store::Rep::Publish(VersionInfo info,
                                    std::vector<std::shared_ptr<const Snapshot>> fragments,
                                    uint64_t highest, uint64_t* bytes_written) {
  auto rep = std::make_shared<Version::Fragments>();
  rep->directory = dir;
  rep->env = env;
  rep->fragments = std::move(fragments);
  rep->Index();
  if (!rep->Slots().status.ok()) return rep->Slots().status;
  info.number = highest + 1;
  info.created = options.clock();
  rep->Compute(&info.track_count, &info.content_hash);
  rep->info = std::move(info);
  const std::string text = store::EncodeManifest(rep->info);
  const ConstBytes piece{text.data(), text.size()};
  // The commit point: once this rename is durable, the version is current.
  if (Status s = WriteInto(ManifestPath(rep->info.number), {&piece, 1}); !s.ok()) {
    return s.Annotate("writing the manifest of version " + std::to_string(rep->info.number));
  }
  if (options.sync) {
    if (Status s = env->SyncDir(Sub(kManifestDir)); !s.ok()) {
      return s.Annotate("syncing the manifest directory: version " +
                        std::to_string(rep->info.number) +
                        " is in place but its durability is unconfirmed");
    }
  }
  *bytes_written += text.size();
  Version published(std::move(rep));
  Remember(published);
  return published;
}

Result<Version> Store::Rep::CompactLocked(const Version& v, uint64_t highest,
                                          uint64_t* bytes_written) {
  std::vector<std::shared_ptr<const Snapshot>> fragments;
  VersionInfo next;
  Status s =
      store::Compact(*v.rep_, options.max_fragment_bytes,
                     [&](const EncodedView& image, const WriteResult& written) {
                       return WriteFragment(image, written.content_hash, false, written.track_count,
                                            &fragments, &next.fragments, bytes_written);
                     });
  if (s.ok()) s = SyncDirs(true, false);
  if (!s.ok()) return s.Annotate("compacting");
  next.parent = v.number();
  next.operation = "compact";
  next.service = v.info().service;
  next.delta_state = v.info().delta_state;
  Result<Version> compacted =
      Publish(std::move(next), std::move(fragments), highest, bytes_written);
  if (compacted.ok() && compacted->content_hash() != v.content_hash()) {
    // Cannot happen unless a fragment was damaged under us; the version is
    // written, so say so loudly rather than hide it.
    return Status::HashMismatch("compaction", "compacted version " +
                                                  std::to_string(compacted->number()) +
                                                  " hashes differently from its source");
  }
  return compacted;
}

Result<Version> Store::Rep::FoldLocked(const Version& version, uint64_t highest,
                                       uint64_t* bytes_written) {
  const Version::Fragments& v = *version.rep_;
  const store::SlotMap& m = v.Slots();
  if (!m.status.ok()) return m.status;
  std::vector<TrackRecord> records;
  std::vector<uint64_t> targets, hashes;
  std::vector<uint8_t> removed;
  records.reserve(v.start.back() - v.base_rows);
  auto add_row = [&](uint64_t row, uint64_t target) {
    const size_t k = v.FragmentOf(row);
    records.push_back(internal::SnapshotAccess::View(v.columns[k], row - v.start[k]).ToRecord());
    targets.push_back(target);
    removed.push_back(0);
    hashes.push_back(v.columns[k]->track_hashes[row - v.start[k]]);
  };
  // Base slots the deltas replaced or removed, then the appended slots that
  // are still there, in library order.
  for (uint64_t w = 0; w < m.overridden.size() && w * 64 < v.base_rows; ++w) {
    for (uint64_t bits = m.overridden[w]; bits != 0; bits &= bits - 1) {
      const uint64_t slot = w * 64 + static_cast<uint64_t>(std::countr_zero(bits));
      if (slot >= v.base_rows) break;
      const uint64_t now = m.table.Get(slot);
      if (now != store::SlotTable::kDeadRow) {
        add_row(now, slot);
        continue;
      }
      const size_t k = v.FragmentOf(slot);
      TrackRecord& tomb = records.emplace_back();
      tomb.id = std::string(internal::StringAt(v.columns[k]->strings[0], slot - v.start[k]));
      targets.push_back(slot);
      removed.push_back(1);
      hashes.push_back(internal::TrackHash(tomb));
    }
  }
  for (uint64_t slot : m.appended) {
    const uint64_t now = m.Overridden(slot) ? m.table.Get(slot) : slot;
    if (now != store::SlotTable::kDeadRow) add_row(now, format::kAppendTarget);
  }
  std::vector<const TrackRecord*> rows;
  rows.reserve(records.size());
  for (const TrackRecord& t : records) rows.push_back(&t);

  std::vector<std::shared_ptr<const Snapshot>> fragments(
      v.fragments.begin(), v.fragments.begin() + static_cast<ptrdiff_t>(v.base_fragments));
  VersionInfo next;
  next.fragments.assign(v.info.fragments.begin(),
                        v.info.fragments.begin() + static_cast<ptrdiff_t>(v.base_fragments));
  Status s;
  if (!rows.empty()) {
    EncodedView image;
    Result<WriteResult> written =
        internal::WriterAccess::EncodeDelta(writer, {rows, targets, removed, hashes}, &image);
    s = written.status();
    if (s.ok()) {
      s = WriteFragment(image, written->content_hash, true, rows.size(), &fragments,
                        &next.fragments, bytes_written);
    }
    if (s.ok()) s = SyncDirs(true, false);
  }
  if (!s.ok()) return s.Annotate("folding the deltas");
  next.parent = v.info.number;
  next.operation = "fold";
  next.service = v.info.service;
  next.delta_state = v.info.delta_state;
  Result<Version> folded = Publish(std::move(next), std::move(fragments), highest, bytes_written);
  if (folded.ok() && folded->content_hash() != version.content_hash()) {
    return Status::HashMismatch(
        "folding the deltas",
        "version " + std::to_string(folded->number()) + " hashes differently from its source");
  }
  return folded;
}

// After a commit, with 1% deltas at 1M tracks (benchmarks/store_bench): a
// commit takes about 12 ms, a fold of 8 deltas about as much as a commit of
// their rows, a full compaction about 320 ms. So deltas are folded together
// whenever there are more than compact_max_deltas of them (lookups probe
// one delta again) and the library is copied only once they hold more than
// compact_delta_share of the base.
Status Store::Rep::AfterCommit(Version* current, uint64_t highest, const CommitOptions& commit,
                               CommitStats* stats) {
  const Version::Fragments& v = *current->rep_;
  const uint64_t delta_fragments = v.fragments.size() - v.base_fragments;
  const uint64_t delta_rows = v.start.back() - v.base_rows;
  const bool compact_due =
      static_cast<double>(delta_rows) >
      options.compact_delta_share * static_cast<double>(std::max<uint64_t>(v.base_rows, 1));
  const bool fold_due = delta_fragments > options.compact_max_deltas;
  // The commit is in place: housekeeping that fails must not report it as
  // failed (a caller would retry or give up a delta that is committed).
  // What a failed compaction or gc leaves, the next writer redoes.
  if (options.auto_compact && commit.allow_compaction && delta_fragments > 0 &&
      (compact_due || fold_due)) {
    Result<Version> compacted = compact_due
                                    ? CompactLocked(*current, highest, &stats->bytes_written)
                                    : FoldLocked(*current, highest, &stats->bytes_written);
    if (compacted.ok()) {
      *current = std::move(compacted).value();
      stats->compacted = true;
    } else if (compacted.status().IsHashMismatch()) {
      return compacted.status();  // damage found: say so
    }
  }
  // Amortized: collect once the history passes its limit by a margin.
  std::vector<uint64_t> numbers;
  if (ListManifests(&numbers, nullptr).ok() &&
      numbers.size() > options.keep_versions + std::max<uint32_t>(4, options.keep_versions / 2)) {
    (void)CollectLocked(options.keep_versions);
  }
  return Status::OK();
}

// --- commit of a delta ------------------------------------------------------

Result<CommitStats> Store::Commit(std::span<const TrackRecord> updates,
                                  std::span<const std::string> removed_ids,
                                  const CommitOptions& options) try {
  internal::CheckNotMovedFrom(rep_, "Store::Commit");
  Rep& r = *rep_;
  std::unique_ptr<FileLock> lock;
  if (Status s = r.Lock(&lock); !s.ok()) return s;
  uint64_t highest = 0;
  Result<Version> parent = r.Newest(true, &highest);
  if (!parent.ok()) return parent.status();
  const Version::Fragments& pv = *parent->rep_;
  CommitStats stats;

  // Repeated ids: the first position, the last content. Each id is hashed
  // once (the hash serves the lookups below too) and matched through a
  // small open-addressing table of first appearances.
  std::vector<uint64_t> update_hashes(updates.size());
  for (size_t i = 0; i < updates.size(); ++i) {
    if (updates[i].id.empty()) {
      return Status::InvalidArgument("updates", "track " + std::to_string(i) + " has an empty id");
    }
    update_hashes[i] = format::HashId(updates[i].id);
  }
  const uint64_t mask = std::bit_ceil(std::max<uint64_t>(2 * updates.size(), 2)) - 1;
  std::vector<uint32_t> table(mask + 1, 0);  // 1 + index into first_seen, 0 when empty
  std::vector<size_t> first_seen, content;   // per distinct id: first and last position
  first_seen.reserve(updates.size());
  content.reserve(updates.size());
  for (size_t i = 0; i < updates.size(); ++i) {
    const uint64_t h = update_hashes[i];
    uint64_t pos = h & mask;
    for (; table[pos] != 0; pos = (pos + 1) & mask) {
      const size_t j = table[pos] - 1;
      if (update_hashes[first_seen[j]] == h && updates[first_seen[j]].id == updates[i].id) break;
    }
    if (table[pos] != 0) {
      content[table[pos] - 1] = i;
      ++stats.superseded;
      continue;
    }
    table[pos] = static_cast<uint32_t>(first_seen.size() + 1);
    first_seen.push_back(i);
    content.push_back(i);
  }
  const std::unordered_set<std::string_view> removing(removed_ids.begin(), removed_ids.end());

  // The tracks to place, each once, in order of first appearance.
  std::vector<const TrackRecord*> candidates;
  std::vector<uint64_t> id_hashes;
  candidates.reserve(first_seen.size());
  id_hashes.reserve(first_seen.size());
  for (size_t j = 0; j < first_seen.size(); ++j) {
    const TrackRecord& t = updates[content[j]];
    if (!removing.empty() && removing.contains(t.id)) continue;  // updated and removed: removed
    candidates.push_back(&t);
    id_hashes.push_back(update_hashes[first_seen[j]]);
  }

  std::vector<const TrackRecord*> rows;
  std::vector<uint64_t> targets, hashes;
  std::vector<uint8_t> removed;
  rows.reserve(candidates.size() + removing.size());
  // Lookups in two prefetch stages, so that their cache misses overlap: the
  // index slots 16 ids ahead, then the rows those slots name 8 ids ahead.
  constexpr size_t kSlotsAhead = 16, kRowsAhead = 8;
  for (size_t i = 0; i < candidates.size(); ++i) {
    if (i + kSlotsAhead < candidates.size()) pv.Prefetch(id_hashes[i + kSlotsAhead]);
    if (i + kRowsAhead < candidates.size()) pv.PrefetchRow(id_hashes[i + kRowsAhead]);
    const TrackRecord& t = *candidates[i];
    const uint64_t hash = internal::TrackHash(t);
    const auto [k, row] = pv.Locate(t.id, id_hashes[i]);
    uint64_t target = format::kAppendTarget;
    if (k != SIZE_MAX && !pv.IsRemoved(k, row)) {
      if (pv.columns[k]->track_hashes[row] == hash) {
        ++stats.unchanged;
        continue;
      }
      target = pv.SlotOf(k, row);
      ++stats.replaced;
    } else {
      ++stats.appended;
    }
    rows.push_back(&t);
    targets.push_back(target);
    removed.push_back(0);
    hashes.push_back(hash);
  }
  std::vector<TrackRecord> tombstones;
  tombstones.reserve(removing.size());
  std::unordered_set<std::string_view> seen;
  for (const std::string& id : removed_ids) {
    if (!seen.insert(id).second) continue;
    const auto [k, row] = pv.Locate(id);
    if (k == SIZE_MAX || pv.IsRemoved(k, row)) {
      ++stats.not_found;
      continue;
    }
    TrackRecord& tomb = tombstones.emplace_back();
    tomb.id = id;
    rows.push_back(&tomb);
    targets.push_back(pv.SlotOf(k, row));
    removed.push_back(1);
    hashes.push_back(internal::TrackHash(tomb));
    ++stats.removed;
  }

  std::vector<std::shared_ptr<const Snapshot>> fragments = pv.fragments;
  VersionInfo next;
  next.parent = pv.info.number;
  next.operation = "commit";
  next.fragments = pv.info.fragments;
  if (!rows.empty()) {
    EncodedView image;
    Result<WriteResult> written =
        internal::WriterAccess::EncodeDelta(r.writer, {rows, targets, removed, hashes}, &image);
    if (!written.ok()) return written.status();
    if (Status s = r.WriteFragment(image, written->content_hash, true, rows.size(), &fragments,
                                   &next.fragments, &stats.bytes_written);
        !s.ok()) {
      return s;
    }
  }
  bool wrote_state = false;
  if (Status s = r.CarryState(pv.info, options, &next, &stats.bytes_written, &wrote_state);
      !s.ok()) {
    return s;
  }
  if (Status s = r.SyncDirs(!rows.empty(), wrote_state); !s.ok()) return s;
  Result<Version> v =
      r.Publish(std::move(next), std::move(fragments), highest, &stats.bytes_written);
  if (!v.ok()) return v.status();
  Version current = std::move(v).value();
  highest = current.number();
  if (Status s = r.AfterCommit(&current, highest, options, &stats); !s.ok()) return s;
  r.Fill(current, &stats);
  return stats;
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(rep_->dir, "out of memory while committing");
}

Result<CommitStats> Store::Commit(const Snapshot& updates, std::span<const std::string> removed_ids,
                                  const CommitOptions& options) {
  internal::CheckNotMovedFrom(rep_, "Store::Commit");
  if (updates.is_delta()) {
    return Status::InvalidArgument(updates.path(), "is a store's delta fragment, not a library");
  }
  std::vector<TrackRecord> records;
  records.reserve(updates.size());
  for (TrackView t : updates) records.push_back(t.ToRecord());
  return Commit(records, removed_ids, options);
}

// --- full replacement --------------------------------------------------------

Status Store::Rep::WriteBase(const ChunkFn& next_chunk, const CommitOptions& commit,
                             std::vector<std::shared_ptr<const Snapshot>>* frags,
                             std::vector<FragmentInfo>* infos, CommitStats* stats) {
  WriteOptions w;
  w.duplicates = commit.duplicates;
  w.drop_empty_ids = commit.drop_empty_ids;
  w.validate_utf8 = commit.validate_utf8;
  bool more = true;
  bool wrote_any = false;
  auto next_image = [&](EncodedView* image, WriteResult* written) -> Result<bool> {
    while (more) {
      std::span<const TrackRecord> chunk;
      Result<bool> got = next_chunk(&chunk);
      if (!got.ok()) return got.status();
      more = *got;
      // An empty library is one empty fragment; empty chunks are skipped.
      if (chunk.empty() && (wrote_any || more)) continue;
      Result<WriteResult> encoded = writer.EncodeView(chunk, image, w);
      if (!encoded.ok()) return encoded.status();
      *written = *encoded;
      wrote_any = true;
      return true;
    }
    return false;
  };
  return WriteBaseImages(next_image, frags, infos, stats);
}

Status Store::Rep::WriteBaseImages(const internal::FragmentImageFn& next_image,
                                   std::vector<std::shared_ptr<const Snapshot>>* frags,
                                   std::vector<FragmentInfo>* infos, CommitStats* stats) {
  for (;;) {
    EncodedView image;
    WriteResult written;
    Result<bool> got = next_image(&image, &written);
    if (!got.ok()) return got.status();
    if (!*got) break;
    stats->duplicates_dropped += written.duplicates_dropped;
    stats->empty_ids_dropped += written.empty_ids_dropped;
    const size_t before = frags->size();
    if (Status s = WriteFragment(image, written.content_hash, false, written.track_count, frags,
                                 infos, &stats->bytes_written);
        !s.ok()) {
      return s;
    }
    // Ids must be unique across base fragments too: probe the earlier ones,
    // a few ids ahead so that the cache misses overlap.
    const internal::Columns& added = internal::SnapshotAccess::Of(*frags->back());
    constexpr uint64_t kAhead = 8;
    auto id_at = [&](uint64_t i) { return internal::StringAt(added.strings[0], i); };
    for (uint64_t i = 0; i < added.count && before > 0; ++i) {
      if (i + kAhead < added.count) {
        const uint64_t ahead = format::HashId(id_at(i + kAhead));
        for (size_t k = 0; k < before; ++k) {
          __builtin_prefetch(internal::HomeSlot(internal::SnapshotAccess::Of(*(*frags)[k]), ahead));
        }
      }
      const std::string_view id = id_at(i);
      const uint64_t h = format::HashId(id);
      for (size_t k = 0; k < before; ++k) {
        if (internal::FindRow(internal::SnapshotAccess::Of(*(*frags)[k]), id, h) !=
            internal::kNoRow) {
          return Status::InvalidArgument(
              dir, "id '" + std::string(id.substr(0, 64)) +
                       "' appears twice, in different base fragments (dedupe policies apply "
                       "within a fragment of about " +
                       std::to_string(options.max_fragment_bytes) + " bytes)");
        }
      }
    }
  }
  return Status::OK();
}

Result<CommitStats> Store::Rep::CommitBase(
    const CommitOptions& options,
    const std::function<Status(std::vector<std::shared_ptr<const Snapshot>>*,
                               std::vector<FragmentInfo>*, CommitStats*)>& write,
    bool inherit_state) try {
  std::unique_ptr<FileLock> lock;
  if (Status s = Lock(&lock); !s.ok()) return s;
  uint64_t highest = 0;
  Result<VersionInfo> parent = NewestInfo(&highest);
  if (!parent.ok()) return parent.status();
  CommitStats stats;
  std::vector<std::shared_ptr<const Snapshot>> fragments;
  VersionInfo next;
  next.parent = parent->number;
  next.operation = "replace";
  Status s = write(&fragments, &next.fragments, &stats);
  bool wrote_state = false;
  if (s.ok()) {
    s = CarryState(inherit_state ? *parent : VersionInfo{}, options, &next, &stats.bytes_written,
                   &wrote_state);
  }
  if (s.ok()) s = SyncDirs(true, wrote_state);
  if (!s.ok()) return s;
  Result<Version> v = Publish(std::move(next), std::move(fragments), highest, &stats.bytes_written);
  if (!v.ok()) return v.status();
  Version current = std::move(v).value();
  stats.appended = current.size();
  if (Status s2 = AfterCommit(&current, current.number(), options, &stats); !s2.ok()) return s2;
  Fill(current, &stats);
  return stats;
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted(dir, "out of memory while replacing the library");
}

Result<CommitStats> Store::Replace(const TrackSource& source, const CommitOptions& options) {
  internal::CheckNotMovedFrom(rep_, "Store::Replace");
  Rep& r = *rep_;
  // Batches gather until a fragment's worth; what overflows starts the next.
  std::vector<TrackRecord> pending, chunk;
  bool source_done = false;
  const uint64_t limit = r.options.max_fragment_bytes;
  auto next_chunk = [&](std::span<const TrackRecord>* out) -> Result<bool> {
    uint64_t bytes = 0;
    size_t take = 0;
    for (;;) {
      for (; take < pending.size(); ++take) {
        bytes += format::PayloadBytesOf(pending[take]);
        if (bytes > limit && take > 0) break;
      }
      if (take < pending.size() || source_done) break;
      Result<bool> more = source(&pending);
      if (!more.ok()) return more.status();
      source_done = !*more;
    }
    chunk.assign(std::make_move_iterator(pending.begin()),
                 std::make_move_iterator(pending.begin() + static_cast<ptrdiff_t>(take)));
    pending.erase(pending.begin(), pending.begin() + static_cast<ptrdiff_t>(take));
    *out = chunk;
    return !(source_done && pending.empty());
  };
  return r.CommitBase(options, [&](auto* fragments, auto* infos, CommitStats* stats) {
    return r.WriteBase(next_chunk, options, fragments, infos, stats);
  });
}

// The caller's tracks are encoded where they are, a fragment's worth at a
// time: no copy of the records.
Result<CommitStats> Store::Replace(std::span<const TrackRecord> tracks,
                                   const CommitOptions& options) {
  internal::CheckNotMovedFrom(rep_, "Store::Replace");
  Rep& r = *rep_;
  size_t next = 0;
  auto next_chunk = [&](std::span<const TrackRecord>* out) -> Result<bool> {
    uint64_t bytes = 0;
    size_t end = next;
    while (end < tracks.size() && (end == next || bytes <= r.options.max_fragment_bytes)) {
      bytes += format::PayloadBytesOf(tracks[end++]);
    }
    *out = tracks.subspan(next, end - next);
    next = end;
    return next < tracks.size();
  };
  return r.CommitBase(options, [&](auto* fragments, auto* infos, CommitStats* stats) {
    return r.WriteBase(next_chunk, options, fragments, infos, stats);
  });
}

Result<CommitStats> Store::Replace(const Snapshot& snapshot, const CommitOptions& options) {
  internal::CheckNotMovedFrom(rep_, "Store::Replace");
  if (snapshot.is_delta()) {
    return Status::InvalidArgument(snapshot.path(), "is a store's delta fragment, not a library");
  }
  Rep& r = *rep_;
  return r.CommitBase(options, [&](auto* fragments, auto* infos, CommitStats* stats) {
    const std::span<const uint8_t> bytes = internal::SnapshotAccess::FileBytes(snapshot);
    const EncodedView image{bytes.first(format::kHeaderSize), bytes.subspan(format::kHeaderSize)};
    return r.WriteFragment(image, snapshot.content_hash(), false, snapshot.size(), fragments, infos,
                           &stats->bytes_written);
  });
}

Result<CommitStats> internal::StoreAccess::ReplaceStreaming(
    Store& store, const std::function<Status(const AddFragmentFn&)>& produce,
    const CommitOptions& options, bool inherit_state) {
  Store::Rep& r = *store.rep_;
  return r.CommitBase(
      options,
      [&](auto* fragments, auto* infos, CommitStats* stats) {
        const AddFragmentFn add = [&](const EncodedView& image, const WriteResult& result) {
          bool given = false;
          return r.WriteBaseImages(
              [&](EncodedView* next, WriteResult* next_result) -> Result<bool> {
                if (given) return false;
                given = true;
                *next = image;
                *next_result = result;
                return true;
              },
              fragments, infos, stats);
        };
        return produce(add);
      },
      inherit_state);
}

uint64_t internal::StoreAccess::MaxFragmentBytes(const Store& store) {
  return store.rep_->options.max_fragment_bytes;
}

Env* internal::StoreAccess::GetEnv(const Store& store) { return store.rep_->env; }

Result<CommitStats> Store::SetState(const CommitOptions& options) {
  internal::CheckNotMovedFrom(rep_, "Store::SetState");
  return Commit(std::span<const TrackRecord>{}, {}, options);
}

Result<CommitStats> Store::Checkout(uint64_t number) {
  internal::CheckNotMovedFrom(rep_, "Store::Checkout");
  Rep& r = *rep_;
  std::unique_ptr<FileLock> lock;
  if (Status s = r.Lock(&lock); !s.ok()) return s;
  uint64_t highest = 0;
  Result<VersionInfo> parent = r.NewestInfo(&highest);  // its files may be lost: checkout repairs
  if (!parent.ok()) return parent.status();
  Result<Version> old = At(number);
  if (!old.ok()) return old.status().Annotate("checkout of version " + std::to_string(number));
  VersionInfo next;
  next.parent = parent->number;
  next.operation = "checkout " + std::to_string(number);
  next.fragments = old->info().fragments;
  next.service = old->info().service;
  next.delta_state = old->info().delta_state;
  CommitStats stats;
  Result<Version> v =
      r.Publish(std::move(next), old->rep_->fragments, highest, &stats.bytes_written);
  if (!v.ok()) return v.status();
  r.Fill(*v, &stats);
  return stats;
}

Result<CommitStats> Store::Compact() {
  internal::CheckNotMovedFrom(rep_, "Store::Compact");
  Rep& r = *rep_;
  std::unique_ptr<FileLock> lock;
  if (Status s = r.Lock(&lock); !s.ok()) return s;
  uint64_t highest = 0;
  Result<Version> current = r.Newest(false, &highest);
  if (!current.ok()) return current.status();
  CommitStats stats;
  if (current->rep_->base_fragments == current->rep_->fragments.size() &&
      current->rep_->fragments.size() <= 1) {
    r.Fill(*current, &stats);  // nothing to fold
    return stats;
  }
  Result<Version> v = r.CompactLocked(*current, highest, &stats.bytes_written);
  if (!v.ok()) return v.status();
  stats.compacted = true;
  r.Fill(*v, &stats);
  return stats;
}

// --- garbage collection ------------------------------------------------------

Result<GcStats> Store::Rep::CollectLocked(uint32_t keep) {
  GcStats gc;
  keep = std::max<uint32_t>(keep, 1);
  std::vector<uint64_t> numbers;
  if (Status s = ListManifests(&numbers, nullptr); !s.ok())
    return s.Annotate("garbage collection: listing versions");
  std::unordered_set<std::string> fragments_used, states_used;
  std::unordered_map<std::string, uint64_t> known_bytes;
  uint32_t kept = 0;
  uint64_t oldest_kept = 0;
  for (uint64_t n : numbers) {
    VersionInfo info;
    if (Status s = ReadManifest(n, &info); !s.ok()) {
      if (s.IsCorruption()) continue;  // damaged: never readable
      // Unread, its fragments would look unused and be swept.
      return s.Annotate("garbage collection: reading version " + std::to_string(n));
    }
    for (const FragmentInfo& f : info.fragments) known_bytes[f.name] = f.bytes;
    if (kept == keep) continue;
    ++kept;
    oldest_kept = n;
    for (const FragmentInfo& f : info.fragments) fragments_used.insert(f.name);
    if (!info.delta_state.empty()) states_used.insert(info.delta_state);
  }
  // Manifests first: a fragment is removed only once no manifest names it.
  for (uint64_t n : numbers) {
    if (kept == 0 || n >= oldest_kept) continue;
    if (Status s = env->RemoveFile(ManifestPath(n)); !s.ok() && !s.IsNotFound()) {
      return s.Annotate("garbage collection");
    }
    ++gc.manifests_removed;
  }
  if (kept == 0) return gc;  // no readable version: remove nothing it may need
  auto sweep = [&](std::string_view sub, std::string_view suffix,
                   const std::unordered_set<std::string>& used, uint64_t* count) -> Status {
    std::vector<std::string> names;
    if (Status s = env->ListDir(Sub(sub), &names); !s.ok()) return s;
    for (const std::string& name : names) {
      if (!name.ends_with(suffix)) continue;
      const std::string stem = name.substr(0, name.size() - suffix.size());
      if (!store::IsHashName(stem) || used.contains(stem)) continue;
      if (Status s = env->RemoveFile(Sub(sub) + "/" + name); !s.ok() && !s.IsNotFound()) return s;
      ++*count;
      if (auto it = known_bytes.find(stem); it != known_bytes.end()) gc.bytes_freed += it->second;
    }
    return Status::OK();
  };
  Status s = sweep(kFragmentDir, ".snap", fragments_used, &gc.fragments_removed);
  if (s.ok()) s = sweep(kStateDir, ".json", states_used, &gc.states_removed);
  if (s.ok()) s = RemoveTemporaries(&gc.temporary_removed);
  if (!s.ok()) return s.Annotate("garbage collection");
  return gc;
}

Result<GcStats> Store::CollectGarbage(std::optional<uint32_t> keep) {
  internal::CheckNotMovedFrom(rep_, "Store::CollectGarbage");
  std::unique_ptr<FileLock> lock;
  if (Status s = rep_->Lock(&lock); !s.ok()) return s;
  return rep_->CollectLocked(keep.value_or(rep_->options.keep_versions));
}

}  // namespace trackstore
