// benchmarks/peers/read_store.cc
//
// "flatbuffers+read()": trackstore's own snapshot file, read with read(2)
// into a fresh heap buffer instead of mapped, then used through
// Snapshot::FromBuffer. Open-and-ready reads the whole file and checks what
// OpenTrusted checks; Verify reads it and runs the full verification. It
// has no writer of its own: its files are trackstore's (has_writer false),
// so save and merge are trackstore's figures.
#include <memory>

#include "files.h"
#include "snapshot_reader.h"
#include "store.h"
#include "trackstore/snapshot.h"

namespace trackstore_bench {
namespace {

using trackstore::Snapshot;

class ReadStore : public Store {
 public:
  std::string_view name() const override { return "read"; }
  bool has_writer() const override { return false; }

  Status Save(std::span<const TrackRecord>, const std::string& path) override {
    return Status::NotSupported(path, "the read() peer reads trackstore's files");
  }

  Result<std::unique_ptr<Reader>> Open(const std::string& path) override {
    return OpenVerified(path, /*verify=*/false);
  }

  Status Verify(const std::string& path) override {
    return OpenVerified(path, /*verify=*/true).status();
  }

  Status Merge(const std::string& path, std::span<const TrackRecord>) override {
    return Status::NotSupported(path, "the read() peer reads trackstore's files");
  }

 private:
  static Result<std::unique_ptr<Reader>> OpenVerified(const std::string& path, bool verify) {
    HeapFile bytes;
    Status s = ReadFile(path, &bytes);
    if (!s.ok()) return s;
    Result<Snapshot> snap = Snapshot::FromBuffer(bytes.data(), bytes.size, path, verify);
    if (!snap.ok()) return snap.status();
    return NewSnapshotReader(std::move(snap).value(), std::move(bytes));
  }
};

}  // namespace

std::unique_ptr<Store> NewReadStore() { return std::make_unique<ReadStore>(); }

}  // namespace trackstore_bench
