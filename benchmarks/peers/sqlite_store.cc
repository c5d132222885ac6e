// benchmarks/peers/sqlite_store.cc
//
// SQLite as a competent user would set it up for this data: one rowid table
// (rows of ~300 bytes are too wide for WITHOUT ROWID to pay off, per the
// SQLite documentation), `id TEXT PRIMARY KEY`, one column per field,
// journal_mode=WAL, synchronous=NORMAL, a 64 MiB page cache for writers,
// prepared statements with SQLITE_STATIC bindings, and for readers
// mmap_size=2 GiB (reads from the page cache without a copy).
//
//   Save   CREATE TABLE, one transaction of prepared INSERTs, COMMIT, then
//          PRAGMA wal_checkpoint(TRUNCATE): with synchronous=NORMAL a WAL
//          commit is not fsync'ed; the checkpoint fsyncs the WAL and the
//          database file, which makes the save durable.
//   Open   sqlite3_open_v2 + the first row of SELECT id, name.
//   Verify PRAGMA quick_check (the fast form of integrity_check).
//   Scan   SELECT id, name FROM tracks (rowid order = library order).
//   Lookup SELECT name FROM tracks WHERE id = ?, one read transaction per
//          batch of lookups (BEGIN ... COMMIT), as a burst of reads would.
//   Merge  one transaction of INSERT ... ON CONFLICT(id) DO UPDATE (keeps
//          an existing track's rowid, so its place in library order), then
//          the same checkpoint as Save.
#include <sqlite3.h>

#include <memory>
#include <string>
#include <vector>

#include "store.h"

namespace trackstore_bench {
namespace {

using trackstore::Field;
using trackstore::FieldName;

constexpr int kColumns = trackstore::kFieldCount;  // 15 strings, original_pos, extras

std::string ColumnName(int i) { return std::string(FieldName(static_cast<Field>(i))); }

std::string CreateTableSql() {
  std::string sql = "CREATE TABLE tracks (id TEXT PRIMARY KEY";
  for (int i = 1; i < kColumns; ++i) {
    sql += ", " + ColumnName(i);
    if (i < trackstore::kRequiredStringFieldCount) {
      sql += " TEXT NOT NULL";
    } else {
      sql += static_cast<Field>(i) == Field::kOriginalPos ? " INTEGER" : " TEXT";
    }
  }
  return sql + ")";
}

// INSERT of every column; with `upsert`, an existing id is updated in place.
std::string InsertSql(bool upsert) {
  std::string sql = "INSERT INTO tracks VALUES (?1";
  for (int i = 2; i <= kColumns; ++i) sql += ", ?" + std::to_string(i);
  sql += ")";
  if (!upsert) return sql;
  sql += " ON CONFLICT(id) DO UPDATE SET ";
  for (int i = 1; i < kColumns; ++i) {
    if (i > 1) sql += ", ";
    sql += ColumnName(i) + " = excluded." + ColumnName(i);
  }
  return sql;
}

struct StmtFree {
  void operator()(sqlite3_stmt* s) const { sqlite3_finalize(s); }
};
using Stmt = std::unique_ptr<sqlite3_stmt, StmtFree>;

// One connection; closed on destruction.
class Db {
 public:
  Db() = default;
  Db(Db&& o) noexcept : db_(o.db_), path_(std::move(o.path_)) { o.db_ = nullptr; }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;
  ~Db() { sqlite3_close_v2(db_); }

  Status Open(const std::string& path, int flags) {
    path_ = path;
    if (sqlite3_open_v2(path.c_str(), &db_, flags, nullptr) != SQLITE_OK) return Error("open");
    return Status::OK();
  }

  Status Exec(const std::string& sql) {
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, nullptr) != SQLITE_OK) return Error(sql);
    return Status::OK();
  }

  Status Prepare(const std::string& sql, Stmt* out) {
    sqlite3_stmt* s = nullptr;
    if (sqlite3_prepare_v3(db_, sql.c_str(), -1, SQLITE_PREPARE_PERSISTENT, &s, nullptr) !=
        SQLITE_OK) {
      return Error(sql);
    }
    out->reset(s);
    return Status::OK();
  }

  // Steps `s` to its end, then resets it. The statements used this way
  // (INSERT, BEGIN, COMMIT) return no rows.
  Status Run(sqlite3_stmt* s, const char* what) {
    const int rc = sqlite3_step(s);
    sqlite3_reset(s);
    return rc == SQLITE_DONE ? Status::OK() : Error(what);
  }

  // The first column of the first row of `sql` as text ("" for none).
  Status QueryText(const std::string& sql, std::string* out) {
    Stmt s;
    Status st = Prepare(sql, &s);
    if (!st.ok()) return st;
    const int rc = sqlite3_step(s.get());
    if (rc != SQLITE_ROW && rc != SQLITE_DONE) return Error(sql);
    const unsigned char* text = rc == SQLITE_ROW ? sqlite3_column_text(s.get(), 0) : nullptr;
    *out = text == nullptr ? "" : reinterpret_cast<const char*>(text);
    return Status::OK();
  }

  // Commits nothing by itself: copies the WAL into the database file and
  // truncates it, fsync'ing both (synchronous=NORMAL syncs at checkpoints).
  Status Checkpoint() {
    std::string busy;
    Status s = QueryText("PRAGMA wal_checkpoint(TRUNCATE)", &busy);
    if (s.ok() && busy != "0") return Status::IOError(path_, "checkpoint blocked by a reader");
    return s;
  }

  Status Error(const std::string& what) const {
    return Status::IOError(path_, what + ": " + (db_ ? sqlite3_errmsg(db_) : "out of memory"));
  }

  sqlite3* get() const { return db_; }

 private:
  sqlite3* db_ = nullptr;
  std::string path_;
};

Status OpenWriter(const std::string& path, int flags, Db* db) {
  Status s = db->Open(path, flags);
  if (s.ok()) s = db->Exec("PRAGMA journal_mode=WAL");
  if (s.ok()) s = db->Exec("PRAGMA synchronous=NORMAL");
  if (s.ok()) s = db->Exec("PRAGMA cache_size=-65536");  // KiB: 64 MiB
  return s;
}

void BindText(sqlite3_stmt* s, int col, const std::string* v) {
  if (v == nullptr) {
    sqlite3_bind_null(s, col);
  } else {
    sqlite3_bind_text(s, col, v->data(), static_cast<int>(v->size()), SQLITE_STATIC);
  }
}

// Binds every field of `t`; the strings must outlive the next step.
void BindTrack(sqlite3_stmt* s, const TrackRecord& t) {
  for (int i = 0; i < trackstore::kStringFieldCount; ++i) BindText(s, i + 1, t.StringField(i));
  if (t.original_pos) {
    sqlite3_bind_int64(s, kColumns - 1, *t.original_pos);
  } else {
    sqlite3_bind_null(s, kColumns - 1);
  }
  BindText(s, kColumns, t.extras_json.empty() ? nullptr : &t.extras_json);
}

// One transaction of `insert` over `tracks`, committed and checkpointed.
Status WriteAll(Db* db, const std::string& insert_sql, std::span<const TrackRecord> tracks) {
  Stmt begin, commit, insert;
  Status s = db->Prepare("BEGIN", &begin);
  if (s.ok()) s = db->Prepare("COMMIT", &commit);
  if (s.ok()) s = db->Prepare(insert_sql, &insert);
  if (s.ok()) s = db->Run(begin.get(), "BEGIN");
  for (size_t i = 0; s.ok() && i < tracks.size(); ++i) {
    BindTrack(insert.get(), tracks[i]);
    s = db->Run(insert.get(), "INSERT");
  }
  if (s.ok()) s = db->Run(commit.get(), "COMMIT");
  if (s.ok()) s = db->Checkpoint();
  return s;
}

std::string_view ColumnText(sqlite3_stmt* s, int col) {
  const unsigned char* p = sqlite3_column_text(s, col);
  return {reinterpret_cast<const char*>(p), static_cast<size_t>(sqlite3_column_bytes(s, col))};
}

class SqliteReader : public Reader {
 public:
  explicit SqliteReader(Db db) : db_(std::move(db)) {}

  Status Init() {
    Status s = db_.Prepare("SELECT id, name FROM tracks", &scan_);
    if (s.ok()) s = db_.Prepare("SELECT name FROM tracks WHERE id = ?1", &find_);
    if (s.ok()) s = db_.Prepare("BEGIN", &begin_);
    if (s.ok()) s = db_.Prepare("COMMIT", &commit_);
    return s;
  }

  Status ReadFirst(uint64_t* sum) override {
    Stmt first;
    Status s = db_.Prepare("SELECT id, name FROM tracks LIMIT 1", &first);
    if (!s.ok()) return s;
    if (sqlite3_step(first.get()) != SQLITE_ROW) return db_.Error("first track");
    *sum = Touch(ColumnText(first.get(), 0)) + Touch(ColumnText(first.get(), 1));
    return Status::OK();
  }

  Status Scan(uint64_t* count, uint64_t* sum) override {
    uint64_t n = 0, acc = 0;
    int rc;
    while ((rc = sqlite3_step(scan_.get())) == SQLITE_ROW) {
      acc += Touch(ColumnText(scan_.get(), 0)) + Touch(ColumnText(scan_.get(), 1));
      ++n;
    }
    sqlite3_reset(scan_.get());
    if (rc != SQLITE_DONE) return db_.Error("scan");
    *count = n;
    *sum = acc;
    return Status::OK();
  }

  Status Lookup(std::span<const std::string> ids, uint64_t* sum) override {
    Status s = db_.Run(begin_.get(), "BEGIN");
    uint64_t acc = 0;
    for (size_t i = 0; s.ok() && i < ids.size(); ++i) {
      sqlite3_stmt* f = find_.get();
      sqlite3_bind_text(f, 1, ids[i].data(), static_cast<int>(ids[i].size()), SQLITE_STATIC);
      const int rc = sqlite3_step(f);
      if (rc == SQLITE_ROW) {
        acc += Touch(ColumnText(f, 0));
      } else {
        s = rc == SQLITE_DONE ? Status::NotFound("sqlite", "no track with id " + ids[i])
                              : db_.Error("lookup");
      }
      sqlite3_reset(f);
    }
    Status end = db_.Run(commit_.get(), "COMMIT");
    *sum = acc;
    return s.ok() ? end : s;
  }

 private:
  Db db_;  // declared first: the statements are finalized before it closes
  Stmt scan_, find_, begin_, commit_;
};

class SqliteStore : public Store {
 public:
  std::string_view name() const override { return "sqlite"; }

  Status Save(std::span<const TrackRecord> tracks, const std::string& path) override {
    Db db;
    Status s = OpenWriter(path, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, &db);
    if (s.ok()) s = db.Exec(CreateTableSql());
    if (s.ok()) s = WriteAll(&db, InsertSql(/*upsert=*/false), tracks);
    return s;
  }

  Result<std::unique_ptr<Reader>> Open(const std::string& path) override {
    Db db;
    Status s = db.Open(path, SQLITE_OPEN_READWRITE);  // WAL readers write to the -shm file
    if (s.ok()) s = db.Exec("PRAGMA mmap_size=2147418112");
    if (!s.ok()) return s;
    auto reader = std::make_unique<SqliteReader>(std::move(db));
    s = reader->Init();
    if (!s.ok()) return s;
    return std::unique_ptr<Reader>(std::move(reader));
  }

  Status Verify(const std::string& path) override {
    Db db;
    Status s = db.Open(path, SQLITE_OPEN_READWRITE);
    std::string verdict;
    if (s.ok()) s = db.QueryText("PRAGMA quick_check", &verdict);
    if (s.ok() && verdict != "ok") return Status::StructureInvalid(path, "quick_check: " + verdict);
    return s;
  }

  Status Merge(const std::string& path, std::span<const TrackRecord> delta) override {
    Db db;
    Status s = OpenWriter(path, SQLITE_OPEN_READWRITE, &db);
    if (s.ok()) s = WriteAll(&db, InsertSql(/*upsert=*/true), delta);
    return s;
  }

  std::vector<std::string> Files(const std::string& path) const override {
    return {path, path + "-wal", path + "-shm"};
  }
};

}  // namespace

std::unique_ptr<Store> NewSqliteStore() { return std::make_unique<SqliteStore>(); }

}  // namespace trackstore_bench
