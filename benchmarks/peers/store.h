// benchmarks/peers/store.h
//
// The one interface store_bench drives: a store that can save a whole track
// library to a path, open it, check it, read it and merge a delta into it.
// trackstore and each peer (the reference application's JSON format,
// SQLite, LMDB, the snapshot read() into the heap) implement it in one file
// under benchmarks/peers/, so every workload runs the same code around the
// same calls for every store.
//
// Benchmark-only code: not part of the library. A Store is stateless apart
// from reusable buffers and is used from one thread; a Reader is one open
// store, used from the process that opened it (never across fork()).
#ifndef TRACKSTORE_BENCHMARKS_PEERS_STORE_H_
#define TRACKSTORE_BENCHMARKS_PEERS_STORE_H_

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "trackstore/result.h"
#include "trackstore/status.h"
#include "trackstore/track.h"

namespace trackstore_bench {

using trackstore::Result;
using trackstore::Status;
using trackstore::TrackRecord;

// What a read touches of a string: its length and its first byte, so that
// no store can answer from lengths alone (as in snapshot_bench).
inline uint64_t Touch(std::string_view s) {
  return s.size() + (s.empty() ? 0 : static_cast<unsigned char>(s.front()));
}

// One open store, ready to read.
class Reader {
 public:
  virtual ~Reader() = default;

  // Reads the id and name of the first track in the store's order (library
  // order, or key order for LMDB). NotFound when the store is empty.
  virtual Status ReadFirst(uint64_t* sum) = 0;

  // Builds what Lookup needs beyond Open, if anything (the reference's id
  // map). The harness calls it untimed, after open-and-ready.
  virtual Status PrepareLookups() { return Status::OK(); }

  // Reads the id and name of every track. *count receives the number of
  // tracks seen, *sum a checksum of what was read (Touch of both strings).
  virtual Status Scan(uint64_t* count, uint64_t* sum) = 0;

  // Looks up every id of `ids` in turn and reads the name of the track
  // found. NotFound when an id is missing. *sum: Touch of the names.
  virtual Status Lookup(std::span<const std::string> ids, uint64_t* sum) = 0;
};

class Store {
 public:
  virtual ~Store() = default;

  // The short name used in benchmark names and in the report.
  virtual std::string_view name() const = 0;

  // Whether Save and Merge are this store's own code. False for a store
  // that reads another store's files (the read() peer): it has no writer.
  virtual bool has_writer() const { return true; }
  // Whether the store has an integrity check (Verify). LMDB has none.
  virtual bool has_verify() const { return true; }
  // Whether Open decodes the whole library (the reference format): seconds
  // per process at 1M tracks, so the harness runs fewer repetitions of the
  // multi-process workload.
  virtual bool loads_whole_library() const { return false; }

  // Writes `tracks`, in this order, as a new store at `path` (no file of
  // the store exists there), durable when it returns.
  virtual Status Save(std::span<const TrackRecord> tracks, const std::string& path) = 0;

  // Opens the store at `path` as far as needed to read a track
  // (open-and-ready is Open followed by Reader::ReadFirst).
  virtual Result<std::unique_ptr<Reader>> Open(const std::string& path) = 0;

  // The store's full integrity check, from the files at `path` (nothing
  // opened before). NotSupported when the store has none.
  virtual Status Verify(const std::string& path) = 0;

  // Applies `delta` to the store at `path` (doc/behaviour.md section 2: an existing
  // id is replaced whole, a new id is added) and makes the result durable.
  virtual Status Merge(const std::string& path, std::span<const TrackRecord> delta) = 0;

  // The files that make up the store at `path` (the first is `path`).
  virtual std::vector<std::string> Files(const std::string& path) const { return {path}; }
};

// The stores compiled into this binary, trackstore first. Peers whose
// library was not found at configure time are absent (benchmarks/meson.build).
std::vector<std::unique_ptr<Store>> AllStores();

std::unique_ptr<Store> NewTrackstoreStore();
std::unique_ptr<Store> NewReadStore();
std::unique_ptr<Store> NewReferenceStore();
std::unique_ptr<Store> NewSqliteStore();
std::unique_ptr<Store> NewLmdbStore();

}  // namespace trackstore_bench

#endif  // TRACKSTORE_BENCHMARKS_PEERS_STORE_H_
