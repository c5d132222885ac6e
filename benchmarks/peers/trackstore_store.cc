// benchmarks/peers/trackstore_store.cc
//
// trackstore itself: SnapshotWriter::Write with sync (temporary file,
// fdatasync, rename, fsync of the directory); open-and-ready is
// Snapshot::OpenTrusted (O(1): the header and the column tables, no pass
// over the data), as SQLite and LMDB check nothing at open either; Verify is
// the full Snapshot::Open (Verifier, layout, XXH3-128 of the payload).
// Merge opens the base trusted and merges in place with Merger (zero-copy).
#include <memory>
#include <optional>

#include "snapshot_reader.h"
#include "store.h"
#include "trackstore/merge.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore_bench {
namespace {

using trackstore::Snapshot;
using trackstore::TrackView;

class SnapshotReader : public Reader {
 public:
  SnapshotReader(Snapshot snap, HeapFile bytes)
      : bytes_(std::move(bytes)), snap_(std::move(snap)) {}

  Status ReadFirst(uint64_t* sum) override {
    if (snap_.empty()) return Status::NotFound(snap_.path(), "no tracks");
    *sum = Touch(snap_[0].id()) + Touch(snap_[0].name());
    return Status::OK();
  }

  Status Scan(uint64_t* count, uint64_t* sum) override {
    uint64_t s = 0;
    for (TrackView t : snap_) s += Touch(t.id()) + Touch(t.name());
    *count = snap_.size();
    *sum = s;
    return Status::OK();
  }

  Status Lookup(std::span<const std::string> ids, uint64_t* sum) override {
    uint64_t s = 0;
    for (const std::string& id : ids) {
      const std::optional<TrackView> t = snap_.Find(id);
      if (!t) [[unlikely]]
        return Status::NotFound(snap_.path(), "no track with id " + id);
      s += Touch(t->name());
    }
    *sum = s;
    return Status::OK();
  }

 private:
  HeapFile bytes_;  // declared first: destroyed after the Snapshot that views it
  Snapshot snap_;
};

class TrackstoreStore : public Store {
 public:
  std::string_view name() const override { return "trackstore"; }

  Status Save(std::span<const TrackRecord> tracks, const std::string& path) override {
    return writer_.Write(path, tracks).status();  // WriteOptions::sync is on by default
  }

  Result<std::unique_ptr<Reader>> Open(const std::string& path) override {
    Result<Snapshot> snap = Snapshot::OpenTrusted(path);
    if (!snap.ok()) return snap.status();
    return NewSnapshotReader(std::move(snap).value());
  }

  Status Verify(const std::string& path) override { return Snapshot::Open(path).status(); }

  Status Merge(const std::string& path, std::span<const TrackRecord> delta) override {
    Result<Snapshot> base = Snapshot::OpenTrusted(path);
    if (!base.ok()) return base.status();
    // In place: the base stays mapped (the old inode) while the merged file
    // replaces it by rename.
    return merger_.Merge(*base, delta, path).status();
  }

 private:
  trackstore::SnapshotWriter writer_;  // reused: its buffers stay allocated
  trackstore::Merger merger_;
};

}  // namespace

std::unique_ptr<Reader> NewSnapshotReader(Snapshot snap, HeapFile bytes) {
  return std::make_unique<SnapshotReader>(std::move(snap), std::move(bytes));
}

std::unique_ptr<Store> NewTrackstoreStore() { return std::make_unique<TrackstoreStore>(); }

}  // namespace trackstore_bench
