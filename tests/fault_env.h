// tests/fault_env.h: the one fault-injecting Env of the tests. It counts
// every operation (those of the Env and of the files it opens), records
// them, and can fail one of them, or every operation of some kinds, or kill
// its own process at one (for the crash tests, which run in a forked
// child). A failed write can leave half of its bytes behind, and a
// capacity models a full disk.
#ifndef TRACKSTORE_TESTS_FAULT_ENV_H_
#define TRACKSTORE_TESTS_FAULT_ENV_H_

#include <errno.h>
#include <signal.h>

#include <algorithm>
#include <bitset>
#include <cstdint>
#include <cstring>
#include <functional>
#include <initializer_list>
#include <iterator>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <utility>
#include <vector>

#include "trackstore/env.h"

namespace trackstore::testing {

// The operations FaultEnv sees, named as the calls that make them.
enum class Op {
  kWriteNewFile,
  kNewWritableFile,
  kAppend,  // WritableFile
  kSync,    // WritableFile
  kClose,   // WritableFile
  kRename,
  kSyncDir,
  kRemoveFile,
  kCreateDir,
  kListDir,
  kReadFile,
  kTryLockFile,
  kNewSequentialFile,
  kRead,     // SequentialFile
  kSkip,     // SequentialFile
  kGetInfo,  // SequentialFile
  kMapReadOnlyFile,
  kGetFileInfo,
  kCount_,  // the number of kinds
};

inline const char* OpName(Op op) {
  static const char* const kNames[] = {"WriteNewFile",
                                       "NewWritableFile",
                                       "Append",
                                       "Sync",
                                       "Close",
                                       "Rename",
                                       "SyncDir",
                                       "RemoveFile",
                                       "CreateDir",
                                       "ListDir",
                                       "ReadFile",
                                       "TryLockFile",
                                       "NewSequentialFile",
                                       "Read",
                                       "Skip",
                                       "GetInfo",
                                       "MapReadOnlyFile",
                                       "GetFileInfo"};
  static_assert(std::size(kNames) == static_cast<size_t>(Op::kCount_));
  return kNames[static_cast<size_t>(op)];
}

using OpSet = std::bitset<static_cast<size_t>(Op::kCount_)>;

inline OpSet Ops(std::initializer_list<Op> ops) {
  OpSet set;
  for (Op op : ops) set.set(static_cast<size_t>(op));
  return set;
}
inline OpSet AllOps() { return OpSet().set(); }
// The operations that change the file system.
inline OpSet ChangingOps() {
  return Ops({Op::kWriteNewFile, Op::kRename, Op::kSyncDir, Op::kRemoveFile, Op::kCreateDir,
              Op::kTryLockFile});
}

class FaultEnv final : public EnvWrapper {
 public:
  // What happens at the operation FailAt names: an injected error; SIGKILL
  // before the operation; or SIGKILL once it is done, before its caller
  // sees the result.
  enum class Action { kFail, kKill, kKillAfter };

  explicit FaultEnv(Env* target = Env::Default()) : EnvWrapper(target) {}

  // Starts counting again: the `n`-th operation from now (1-based) among
  // the `counted` kinds gets `action`; 0 triggers none (and only counts).
  // Clears the log and what failed.
  void FailAt(uint64_t n, Action action = Action::kFail, OpSet counted = AllOps()) {
    std::lock_guard<std::mutex> l(mu_);
    trigger_ = n;
    action_ = action;
    counted_ = counted;
    count_ = 0;
    failed_ = false;
    failed_op_.clear();
    failed_path_.clear();
    manifest_published_ = false;
    log_.clear();
  }
  // Every operation of the kinds in `kinds` fails, until set again.
  void FailEvery(OpSet kinds) {
    std::lock_guard<std::mutex> l(mu_);
    fail_every_ = kinds;
  }
  // A failed WriteNewFile or Append first writes half of its bytes, as a
  // write cut short by a full disk does.
  void set_partial_writes(bool on) {
    std::lock_guard<std::mutex> l(mu_);
    partial_writes_ = on;
  }
  // The disk holds this many more bytes (of WriteNewFile and Append); a
  // write past it writes what fits and fails with ENOSPC.
  void set_capacity(uint64_t bytes) {
    std::lock_guard<std::mutex> l(mu_);
    capacity_ = bytes;
  }
  // The errno an injected failure stands for (EIO: an IOError; ENOSPC: a
  // ResourceExhausted).
  void set_injected_errno(int err) {
    std::lock_guard<std::mutex> l(mu_);
    injected_errno_ = err;
  }

  // Counted operations since FailAt.
  uint64_t count() const {
    std::lock_guard<std::mutex> l(mu_);
    return count_;
  }
  // Operations of kind `op` since FailAt, counted or not.
  uint64_t count(Op op) const {
    std::lock_guard<std::mutex> l(mu_);
    uint64_t n = 0;
    for (const auto& [o, path] : log_) n += o == op;
    return n;
  }
  // Whether an injected failure (or a full disk) failed an operation.
  bool failed() const {
    std::lock_guard<std::mutex> l(mu_);
    return failed_;
  }
  // The first failed operation's name (OpName) and path; "" before one.
  std::string failed_op() const {
    std::lock_guard<std::mutex> l(mu_);
    return failed_op_;
  }
  std::string failed_path() const {
    std::lock_guard<std::mutex> l(mu_);
    return failed_path_;
  }
  // A manifest was renamed into a store's manifests/ (its commit point).
  bool manifest_published() const {
    std::lock_guard<std::mutex> l(mu_);
    return manifest_published_;
  }
  // Every operation since FailAt, in order, as "Name path".
  std::vector<std::string> log() const {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (const auto& [op, path] : log_) out.push_back(std::string(OpName(op)) + " " + path);
    return out;
  }
  // The paths of the operations of kind `op`, in order.
  std::vector<std::string> paths(Op op) const {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (const auto& [o, path] : log_) {
      if (o == op) out.push_back(path);
    }
    return out;
  }
  // The names alone.
  std::vector<std::string> ops() const {
    std::lock_guard<std::mutex> l(mu_);
    std::vector<std::string> out;
    for (const auto& entry : log_) out.emplace_back(OpName(entry.first));
    return out;
  }

  Status WriteNewFile(const std::string& path, std::span<const ConstBytes> pieces,
                      bool sync) override {
    return Write(Op::kWriteNewFile, path, pieces, [&](std::span<const ConstBytes> p, bool all) {
      return target()->WriteNewFile(path, p, sync && all);
    });
  }
  Status NewWritableFile(const std::string& path, std::unique_ptr<WritableFile>* file) override {
    return Run(Op::kNewWritableFile, path, [&] {
      std::unique_ptr<WritableFile> real;
      Status s = target()->NewWritableFile(path, &real);
      if (s.ok()) *file = std::make_unique<Writable>(this, path, std::move(real));
      return s;
    });
  }
  Status Rename(const std::string& from, const std::string& to) override {
    return Run(Op::kRename, to, [&] {
      Status s = target()->Rename(from, to);
      if (s.ok() && to.find("/manifests/") != std::string::npos) {
        std::lock_guard<std::mutex> l(mu_);
        manifest_published_ = true;
      }
      return s;
    });
  }
  Status SyncDir(const std::string& dir) override {
    return Run(Op::kSyncDir, dir, [&] { return target()->SyncDir(dir); });
  }
  Status RemoveFile(const std::string& path) override {
    return Run(Op::kRemoveFile, path, [&] { return target()->RemoveFile(path); });
  }
  Status CreateDir(const std::string& path) override {
    return Run(Op::kCreateDir, path, [&] { return target()->CreateDir(path); });
  }
  Status ListDir(const std::string& dir, std::vector<std::string>* names) override {
    return Run(Op::kListDir, dir, [&] { return target()->ListDir(dir, names); });
  }
  Status ReadFile(const std::string& path, uint64_t max_bytes, std::string* out) override {
    return Run(Op::kReadFile, path, [&] { return target()->ReadFile(path, max_bytes, out); });
  }
  Status TryLockFile(const std::string& path, std::unique_ptr<FileLock>* lock) override {
    return Run(Op::kTryLockFile, path, [&] { return target()->TryLockFile(path, lock); });
  }
  Status NewSequentialFile(const std::string& path,
                           std::unique_ptr<SequentialFile>* file) override {
    return Run(Op::kNewSequentialFile, path, [&] {
      std::unique_ptr<SequentialFile> real;
      Status s = target()->NewSequentialFile(path, &real);
      if (s.ok()) *file = std::make_unique<Sequential>(this, path, std::move(real));
      return s;
    });
  }
  Status MapReadOnlyFile(const std::string& path,
                         std::unique_ptr<ReadOnlyMapping>* mapping) override {
    return Run(Op::kMapReadOnlyFile, path,
               [&] { return target()->MapReadOnlyFile(path, mapping); });
  }
  Status GetFileInfo(const std::string& path, FileInfo* info) override {
    return Run(Op::kGetFileInfo, path, [&] { return target()->GetFileInfo(path, info); });
  }

 private:
  // Counts `op` and says what to do with it.
  enum class Verdict { kRun, kFail, kKill, kKillAfter };
  Verdict Step(Op op, const std::string& path) {
    std::lock_guard<std::mutex> l(mu_);
    log_.emplace_back(op, path);
    const size_t kind = static_cast<size_t>(op);
    Verdict v = Verdict::kRun;
    if (counted_.test(kind) && ++count_ == trigger_) {
      v = action_ == Action::kKill        ? Verdict::kKill
          : action_ == Action::kKillAfter ? Verdict::kKillAfter
                                          : Verdict::kFail;
    }
    if (fail_every_.test(kind) && v == Verdict::kRun) v = Verdict::kFail;
    if (v == Verdict::kFail) RecordFailure(op, path);
    return v;
  }
  void RecordFailure(Op op, const std::string& path) {  // mu_ held
    if (failed_) return;
    failed_ = true;
    failed_op_ = OpName(op);
    failed_path_ = path;
  }
  Status Injected(Op op, const std::string& path) const {
    std::lock_guard<std::mutex> l(mu_);
    const std::string what = std::string("injected failure of ") + OpName(op) + " (" +
                             std::strerror(injected_errno_) + ")";
    return PosixError(path, injected_errno_).IsResourceExhausted()
               ? Status::ResourceExhausted(path, what)
               : Status::IOError(path, what);
  }

  Status Run(Op op, const std::string& path, const std::function<Status()>& run) {
    switch (Step(op, path)) {
      case Verdict::kKill:
        ::raise(SIGKILL);
        break;
      case Verdict::kKillAfter:
        (void)run();
        ::raise(SIGKILL);
        break;
      case Verdict::kFail:
        return Injected(op, path);
      case Verdict::kRun:
        break;
    }
    return run();
  }

  // A write of `pieces` by `write(pieces, complete)`: an injected failure
  // or the capacity may cut it short (`complete` false), leaving a head of
  // the bytes written.
  Status Write(Op op, const std::string& path, std::span<const ConstBytes> pieces,
               const std::function<Status(std::span<const ConstBytes>, bool)>& write) {
    uint64_t size = 0;
    for (const ConstBytes& p : pieces) size += p.size;
    const Verdict v = Step(op, path);
    if (v == Verdict::kKill) ::raise(SIGKILL);
    if (v == Verdict::kKillAfter) {
      (void)write(pieces, true);
      ::raise(SIGKILL);
    }
    uint64_t keep = 0;  // bytes written when cut short
    bool full = false, leave_head = false;
    {
      std::lock_guard<std::mutex> l(mu_);
      if (v == Verdict::kRun && size <= capacity_) {
        capacity_ -= size;
      } else if (v == Verdict::kRun) {
        full = true;
        keep = capacity_;
        capacity_ = 0;
        RecordFailure(op, path);
      } else {
        keep = partial_writes_ ? size / 2 : 0;
      }
      leave_head = full || partial_writes_;
    }
    if (v == Verdict::kRun && !full) return write(pieces, true);
    if (leave_head && (keep > 0 || op == Op::kWriteNewFile)) {
      std::string head;
      for (const ConstBytes& p : pieces) {
        if (head.size() >= keep) break;
        head.append(static_cast<const char*>(p.data), p.size);
      }
      head.resize(static_cast<size_t>(keep));
      const ConstBytes piece{head.data(), head.size()};
      (void)write({&piece, 1}, false);
    }
    if (full) return PosixError(path, ENOSPC);
    return Injected(op, path);
  }

  // The files it opens count their operations too.
  class Writable final : public WritableFile {
   public:
    Writable(FaultEnv* env, std::string path, std::unique_ptr<WritableFile> real)
        : env_(env), path_(std::move(path)), real_(std::move(real)) {}
    Status Append(std::span<const ConstBytes> pieces) override {
      return env_->Write(Op::kAppend, path_, pieces,
                         [&](std::span<const ConstBytes> p, bool) { return real_->Append(p); });
    }
    Status Sync() override {
      return env_->Run(Op::kSync, path_, [&] { return real_->Sync(); });
    }
    Status Close() override {
      return env_->Run(Op::kClose, path_, [&] { return real_->Close(); });
    }

   private:
    FaultEnv* env_;
    std::string path_;
    std::unique_ptr<WritableFile> real_;
  };

  class Sequential final : public SequentialFile {
   public:
    Sequential(FaultEnv* env, std::string path, std::unique_ptr<SequentialFile> real)
        : env_(env), path_(std::move(path)), real_(std::move(real)) {}
    Status Read(char* out, size_t size, size_t* got) override {
      *got = 0;
      return env_->Run(Op::kRead, path_, [&] { return real_->Read(out, size, got); });
    }
    Status Skip(uint64_t n) override {
      return env_->Run(Op::kSkip, path_, [&] { return real_->Skip(n); });
    }
    Status GetInfo(FileInfo* info) override {
      return env_->Run(Op::kGetInfo, path_, [&] { return real_->GetInfo(info); });
    }
    bool WaitReadable(int timeout_ms) override { return real_->WaitReadable(timeout_ms); }

   private:
    FaultEnv* env_;
    std::string path_;
    std::unique_ptr<SequentialFile> real_;
  };

  mutable std::mutex mu_;
  uint64_t trigger_ = 0;
  Action action_ = Action::kFail;
  OpSet counted_ = AllOps();
  OpSet fail_every_;
  uint64_t count_ = 0;
  bool failed_ = false;
  std::string failed_op_, failed_path_;
  bool manifest_published_ = false;
  bool partial_writes_ = false;
  uint64_t capacity_ = UINT64_MAX;
  int injected_errno_ = EIO;
  std::vector<std::pair<Op, std::string>> log_;
};

}  // namespace trackstore::testing

#endif  // TRACKSTORE_TESTS_FAULT_ENV_H_
