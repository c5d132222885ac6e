// python/src/readers.h: the C++ values behind the Python reader types
// (Snapshot, Version, ShmEntry). Each gives the same things to the
// bindings: its size, a track by position, a track by id, a cursor in
// library order, and the one snapshot file that holds it all when there is
// one (for the raw column buffers).
#ifndef TRACKSTORE_PYTHON_READERS_H_
#define TRACKSTORE_PYTHON_READERS_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "track_object.h"
#include "trackstore/shm_cache.h"
#include "trackstore/snapshot.h"
#include "trackstore/store.h"

namespace trackstore::python {

class Reader {
 public:
  virtual ~Reader() = default;
  virtual uint64_t Size() const = 0;
  // REQUIRES: i < Size(). Called with the GIL held.
  virtual TrackView At(uint64_t i) = 0;
  virtual std::optional<TrackView> Find(std::string_view id) const = 0;
  virtual std::unique_ptr<Cursor> Begin() const = 0;
  // The snapshot holding every track, in library order, or null.
  virtual const Snapshot* Single() const = 0;
  virtual std::string ContentHash() const = 0;
  virtual Status Verify() const = 0;
};

class SnapshotCursor final : public Cursor {
 public:
  explicit SnapshotCursor(const Snapshot* s) : it_(s->begin()), end_(s->end()) {}
  std::optional<TrackView> Next() override {
    if (it_ == end_) return std::nullopt;
    TrackView view = *it_;
    ++it_;
    return view;
  }

 private:
  Snapshot::Iterator it_, end_;
};

class VersionCursor final : public Cursor {
 public:
  explicit VersionCursor(const Version& v) : it_(v.begin()), end_(v.end()) {}
  std::optional<TrackView> Next() override {
    if (it_ == end_) return std::nullopt;
    TrackView view = *it_;
    ++it_;
    return view;
  }

 private:
  Version::Iterator it_, end_;
};

class SnapshotReader final : public Reader {
 public:
  explicit SnapshotReader(Snapshot s) : snapshot_(std::move(s)) {}
  uint64_t Size() const override { return snapshot_.size(); }
  TrackView At(uint64_t i) override { return snapshot_[i]; }
  std::optional<TrackView> Find(std::string_view id) const override { return snapshot_.Find(id); }
  std::unique_ptr<Cursor> Begin() const override {
    return std::make_unique<SnapshotCursor>(&snapshot_);
  }
  const Snapshot* Single() const override { return &snapshot_; }
  std::string ContentHash() const override { return snapshot_.content_hash(); }
  Status Verify() const override { return snapshot_.Verify(); }
  const Snapshot& snapshot() const { return snapshot_; }

 private:
  Snapshot snapshot_;
};

class VersionReader final : public Reader {
 public:
  explicit VersionReader(Version v) : version_(std::move(v)) {}
  uint64_t Size() const override { return version_.size(); }
  TrackView At(uint64_t i) override {
    if (const Snapshot* s = version_.single_snapshot()) return (*s)[i];
    // Deltas leave no O(1) position: a table of every position, built on
    // the first use (16 bytes a track).
    if (positions_.empty()) {
      positions_.reserve(version_.size());
      for (TrackView t : version_) positions_.push_back(t);
    }
    return positions_[i];
  }
  std::optional<TrackView> Find(std::string_view id) const override { return version_.Find(id); }
  std::unique_ptr<Cursor> Begin() const override {
    return std::make_unique<VersionCursor>(version_);
  }
  const Snapshot* Single() const override { return version_.single_snapshot(); }
  std::string ContentHash() const override { return version_.content_hash(); }
  Status Verify() const override { return version_.Verify(); }
  const Version& version() const { return version_; }

 private:
  Version version_;
  std::vector<TrackView> positions_;
};

class ShmEntryReader final : public Reader {
 public:
  explicit ShmEntryReader(ShmEntry e) : entry_(std::move(e)) {}
  uint64_t Size() const override { return entry_->size(); }
  TrackView At(uint64_t i) override { return entry_.snapshot()[i]; }
  std::optional<TrackView> Find(std::string_view id) const override { return entry_->Find(id); }
  std::unique_ptr<Cursor> Begin() const override {
    return std::make_unique<SnapshotCursor>(&entry_.snapshot());
  }
  const Snapshot* Single() const override { return &entry_.snapshot(); }
  std::string ContentHash() const override { return entry_->content_hash(); }
  Status Verify() const override { return entry_->Verify(); }
  const ShmEntry& entry() const { return entry_; }

 private:
  ShmEntry entry_;
};

}  // namespace trackstore::python

#endif  // TRACKSTORE_PYTHON_READERS_H_
