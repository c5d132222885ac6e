// benchmarks/peers/lmdb_store.cc
//
// LMDB as a competent user would set it up: one environment file
// (MDB_NOSUBDIR), one record per track keyed by its id, the value one
// packed FlatBuffer of the track (baseline/track_table.fbs's TrackTable, id
// included), a map size far above the data (16 GiB of address space), and
// the default sync mode: every commit fsyncs, so a save is as durable as
// trackstore's.
//
//   Save   sort the tracks by id (timed: it is part of the bulk load), then
//          one write transaction of mdb_put(MDB_APPEND), the fast bulk-load
//          path, which requires keys in order; mdb_txn_commit fsyncs.
//   Open   mdb_env_open(MDB_RDONLY) + a read transaction + the first record.
//   Verify LMDB has no integrity check (has_verify false).
//   Scan   a cursor over every record, in key (id) order, not library
//          order: LMDB keeps no other order.
//   Lookup mdb_get; one read transaction per batch of lookups, reused with
//          mdb_txn_reset / mdb_txn_renew between batches.
//   Merge  one write transaction of mdb_put (overwrite or insert), commit.
#include <lmdb.h>

#include <algorithm>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <flatbuffers/flatbuffers.h>

#include "baseline/track_table_builder.h"
#include "store.h"
#include "track_table_generated.h"

namespace trackstore_bench {
namespace {

namespace fbt = trackstore_bench::fb;

constexpr size_t kMapSize = size_t{16} << 30;

Status LmdbError(const std::string& path, const char* what, int rc) {
  return Status::IOError(path, std::string(what) + ": " + mdb_strerror(rc));
}

MDB_val Val(std::string_view s) { return {s.size(), const_cast<char*>(s.data())}; }
std::string_view View(const MDB_val& v) { return {static_cast<const char*>(v.mv_data), v.mv_size}; }

// One track as a finished FlatBuffer in `fbb` (cleared first).
void BuildTrack(const TrackRecord& t, flatbuffers::FlatBufferBuilder* fbb) {
  fbb->Clear();
  fbb->Finish(BuildTrackTable(t, fbb));
}

uint64_t TouchName(const MDB_val& v) {
  const flatbuffers::String* name = flatbuffers::GetRoot<fbt::TrackTable>(v.mv_data)->name();
  return name == nullptr ? 0 : Touch(name->string_view());
}

// An environment handle; closed on destruction (after its transactions).
class Env {
 public:
  Env() = default;
  Env(const Env&) = delete;
  Env& operator=(const Env&) = delete;
  ~Env() {
    if (env_ != nullptr) mdb_env_close(env_);
  }

  Status Open(const std::string& path, unsigned flags) {
    path_ = path;
    int rc = mdb_env_create(&env_);
    if (rc == 0) rc = mdb_env_set_mapsize(env_, kMapSize);
    if (rc == 0) rc = mdb_env_open(env_, path.c_str(), flags | MDB_NOSUBDIR, 0644);
    return rc == 0 ? Status::OK() : LmdbError(path, "mdb_env_open", rc);
  }

  // Runs `put` for every track of `tracks` in one write transaction and
  // commits it (fsync).
  template <typename Put>
  Status Write(size_t count, Put put) {
    MDB_txn* txn = nullptr;
    MDB_dbi dbi;
    int rc = mdb_txn_begin(env_, nullptr, 0, &txn);
    if (rc != 0) return LmdbError(path_, "mdb_txn_begin", rc);
    rc = mdb_dbi_open(txn, nullptr, 0, &dbi);
    for (size_t i = 0; rc == 0 && i < count; ++i) rc = put(txn, dbi, i);
    if (rc != 0) {
      mdb_txn_abort(txn);
      return LmdbError(path_, "mdb_put", rc);
    }
    rc = mdb_txn_commit(txn);
    return rc == 0 ? Status::OK() : LmdbError(path_, "mdb_txn_commit", rc);
  }

  MDB_env* get() const { return env_; }
  const std::string& path() const { return path_; }

 private:
  MDB_env* env_ = nullptr;
  std::string path_;
};

class LmdbReader : public Reader {
 public:
  ~LmdbReader() override {
    if (cursor_ != nullptr) mdb_cursor_close(cursor_);
    if (txn_ != nullptr) mdb_txn_abort(txn_);
  }

  Status Open(const std::string& path) {
    Status s = env_.Open(path, MDB_RDONLY);
    if (!s.ok()) return s;
    int rc = mdb_txn_begin(env_.get(), nullptr, MDB_RDONLY, &txn_);
    if (rc == 0) rc = mdb_dbi_open(txn_, nullptr, 0, &dbi_);
    if (rc == 0) rc = mdb_cursor_open(txn_, dbi_, &cursor_);
    live_ = rc == 0;
    return rc == 0 ? Status::OK() : LmdbError(path, "read transaction", rc);
  }

  Status ReadFirst(uint64_t* sum) override {
    int rc = Renew();
    MDB_val k, v;
    if (rc == 0) rc = mdb_cursor_get(cursor_, &k, &v, MDB_FIRST);
    if (rc == 0) *sum = Touch(View(k)) + TouchName(v);
    Reset();
    return rc == 0 ? Status::OK() : LmdbError(env_.path(), "first record", rc);
  }

  Status Scan(uint64_t* count, uint64_t* sum) override {
    int rc = Renew();
    if (rc != 0) return LmdbError(env_.path(), "mdb_txn_renew", rc);
    uint64_t n = 0, acc = 0;
    MDB_val k, v;
    for (rc = mdb_cursor_get(cursor_, &k, &v, MDB_FIRST); rc == 0;
         rc = mdb_cursor_get(cursor_, &k, &v, MDB_NEXT)) {
      acc += Touch(View(k)) + TouchName(v);
      ++n;
    }
    Reset();
    if (rc != MDB_NOTFOUND) return LmdbError(env_.path(), "cursor", rc);
    *count = n;
    *sum = acc;
    return Status::OK();
  }

  Status Lookup(std::span<const std::string> ids, uint64_t* sum) override {
    int rc = Renew();
    if (rc != 0) return LmdbError(env_.path(), "mdb_txn_renew", rc);
    uint64_t acc = 0;
    for (const std::string& id : ids) {
      MDB_val k = Val(id), v;
      rc = mdb_get(txn_, dbi_, &k, &v);
      if (rc != 0) [[unlikely]]
        break;
      acc += TouchName(v);
    }
    Reset();
    *sum = acc;
    if (rc == MDB_NOTFOUND) return Status::NotFound(env_.path(), "an id of the batch is missing");
    return rc == 0 ? Status::OK() : LmdbError(env_.path(), "mdb_get", rc);
  }

 private:
  // The read transaction is live from Renew() to Reset(): a reset one holds
  // no snapshot, so a reader between calls never pins old pages.
  int Renew() {
    if (live_) return 0;
    int rc = mdb_txn_renew(txn_);
    if (rc == 0) rc = mdb_cursor_renew(txn_, cursor_);
    live_ = rc == 0;
    return rc;
  }
  void Reset() {
    mdb_txn_reset(txn_);
    live_ = false;
  }

  Env env_;  // declared first: closed after the transaction and cursor
  bool live_ = false;
  MDB_txn* txn_ = nullptr;
  MDB_dbi dbi_ = 0;
  MDB_cursor* cursor_ = nullptr;
};

class LmdbStore : public Store {
 public:
  std::string_view name() const override { return "lmdb"; }
  bool has_verify() const override { return false; }

  Status Save(std::span<const TrackRecord> tracks, const std::string& path) override {
    std::vector<const TrackRecord*> sorted(tracks.size());
    for (size_t i = 0; i < tracks.size(); ++i) sorted[i] = &tracks[i];
    // std::string orders bytes as unsigned, then by length: LMDB's default
    // key order, which MDB_APPEND requires.
    std::sort(sorted.begin(), sorted.end(),
              [](const TrackRecord* a, const TrackRecord* b) { return a->id < b->id; });
    Env env;
    Status s = env.Open(path, 0);
    if (!s.ok()) return s;
    return env.Write(sorted.size(), [&](MDB_txn* txn, MDB_dbi dbi, size_t i) {
      BuildTrack(*sorted[i], &fbb_);
      MDB_val k = Val(sorted[i]->id);
      MDB_val v{fbb_.GetSize(), fbb_.GetBufferPointer()};
      return mdb_put(txn, dbi, &k, &v, MDB_APPEND);
    });
  }

  Result<std::unique_ptr<Reader>> Open(const std::string& path) override {
    auto reader = std::make_unique<LmdbReader>();
    Status s = reader->Open(path);
    if (!s.ok()) return s;
    return std::unique_ptr<Reader>(std::move(reader));
  }

  Status Verify(const std::string& path) override {
    return Status::NotSupported(path, "LMDB has no integrity check");
  }

  Status Merge(const std::string& path, std::span<const TrackRecord> delta) override {
    Env env;
    Status s = env.Open(path, 0);
    if (!s.ok()) return s;
    return env.Write(delta.size(), [&](MDB_txn* txn, MDB_dbi dbi, size_t i) {
      BuildTrack(delta[i], &fbb_);
      MDB_val k = Val(delta[i].id);
      MDB_val v{fbb_.GetSize(), fbb_.GetBufferPointer()};
      return mdb_put(txn, dbi, &k, &v, 0);
    });
  }

  std::vector<std::string> Files(const std::string& path) const override {
    return {path, path + "-lock"};
  }

 private:
  flatbuffers::FlatBufferBuilder fbb_{1024};  // reused for every track
};

}  // namespace

std::unique_ptr<Store> NewLmdbStore() { return std::make_unique<LmdbStore>(); }

}  // namespace trackstore_bench
