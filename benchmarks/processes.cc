// benchmarks/processes.cc
#include "processes.h"

#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <chrono>
#include <cstdio>
#include <cstring>
#include <fstream>
#include <memory>

#include "trackstore/env.h"

namespace trackstore_bench {
namespace {

using Clock = std::chrono::steady_clock;

double SecondsSince(Clock::time_point start) {
  return std::chrono::duration<double>(Clock::now() - start).count();
}

bool WriteAll(int fd, const void* data, size_t size) {
  const char* p = static_cast<const char*>(data);
  while (size > 0) {
    const ssize_t n = write(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// False at EOF before `size` bytes, or on an error.
bool ReadAll(int fd, void* data, size_t size) {
  char* p = static_cast<char*>(data);
  while (size > 0) {
    const ssize_t n = read(fd, p, size);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    p += n;
    size -= static_cast<size_t>(n);
  }
  return true;
}

// Blocks until every write end of `fd`'s pipe is closed.
void WaitForEof(int fd) {
  char c;
  for (;;) {
    const ssize_t n = read(fd, &c, 1);
    if (n == 0 || (n < 0 && errno != EINTR)) return;
  }
}

// What a child sends back: fixed size, below PIPE_BUF, so one write is atomic.
struct ChildReport {
  int32_t ok = 0;
  uint64_t lookups = 0;
  uint64_t tracks = 0;
  uint64_t checksum = 0;  // of what was read: keeps the reads observable
  uint64_t rss_anon_kb = 0;
  uint64_t rss_file_kb = 0;
  double seconds = 0;
  char error[512] = {};

  void SetError(const Status& s) {
    std::snprintf(error, sizeof(error), "%s", s.ToString().c_str());
  }
};

Status PipeError(const char* what) { return trackstore::PosixError(what, errno); }

[[noreturn]] void ReaderChild(Store* store, const std::string& path,
                              std::span<const std::string> ids, size_t start, double seconds,
                              size_t batch, int ready_fd, int go_fd, int result_fd) {
  ChildReport rep;
  Result<std::unique_ptr<Reader>> reader = store->Open(path);
  Status s = reader.status();
  if (s.ok()) s = (*reader)->PrepareLookups();
  // Warm up (page tables of a fresh mapping, caches) for a third of the
  // measured time, so that the figure is the steady rate.
  const Clock::time_point warm = Clock::now();
  size_t pos = start;
  uint64_t sum = 0;
  while (s.ok() && SecondsSince(warm) < seconds / 3) {
    if (pos + batch > ids.size()) pos = 0;
    s = (*reader)->Lookup(ids.subspan(pos, batch), &sum);
    pos += batch;
  }
  WriteAll(ready_fd, "r", 1);
  WaitForEof(go_fd);  // the parent closes its end: every child starts at once
  const Clock::time_point t0 = Clock::now();
  pos = start;
  while (s.ok() && SecondsSince(t0) < seconds) {
    if (pos + batch > ids.size()) pos = 0;
    uint64_t batch_sum = 0;
    s = (*reader)->Lookup(ids.subspan(pos, batch), &batch_sum);
    sum += batch_sum;
    pos += batch;
    rep.lookups += batch;
  }
  rep.seconds = SecondsSince(t0);
  rep.ok = s.ok();
  if (!s.ok()) rep.SetError(s);
  rep.checksum = sum;
  WriteAll(result_fd, &rep, sizeof(rep));
  _exit(0);
}

// The kB figure of `key` ("RssAnon:") in /proc/self/status, or 0.
uint64_t StatusKb(const char* key) {
  std::ifstream in("/proc/self/status");
  std::string line;
  const size_t len = std::strlen(key);
  while (std::getline(in, line)) {
    if (line.compare(0, len, key) == 0) return std::strtoull(line.c_str() + len, nullptr, 10);
  }
  return 0;
}

// In a child of the helper: open + scan, then report.
[[noreturn]] void ScanChild(Store* store, const std::string& path, int result_fd) {
  ChildReport rep;
  const Clock::time_point t0 = Clock::now();
  Status s;
  if (store != nullptr) {
    Result<std::unique_ptr<Reader>> reader = store->Open(path);
    s = reader.status();
    if (s.ok()) s = (*reader)->Scan(&rep.tracks, &rep.checksum);
    rep.rss_anon_kb = StatusKb("RssAnon:");
    rep.rss_file_kb = StatusKb("RssFile:");
  }
  rep.seconds = SecondsSince(t0);
  rep.ok = s.ok();
  if (!s.ok()) rep.SetError(s);
  WriteAll(result_fd, &rep, sizeof(rep));
  _exit(0);
}

struct RssRequest {
  int32_t store_index = -1;
  char path[1024] = {};
};

struct RssReply {
  ChildReport child;
  int64_t maxrss_kb = 0;
};

[[noreturn]] void HelperMain(const std::vector<Store*>& stores, int requests, int replies) {
  RssRequest req;
  while (ReadAll(requests, &req, sizeof(req))) {
    RssReply reply;
    int p[2];
    if (pipe(p) != 0) _exit(1);
    const pid_t pid = fork();
    if (pid == 0) {
      close(p[0]);
      Store* store = req.store_index < 0 ? nullptr : stores[static_cast<size_t>(req.store_index)];
      ScanChild(store, req.path, p[1]);
    }
    close(p[1]);
    if (pid < 0 || !ReadAll(p[0], &reply.child, sizeof(reply.child))) {
      reply.child.ok = 0;
      std::snprintf(reply.child.error, sizeof(reply.child.error), "the scan child died");
    }
    close(p[0]);
    struct rusage ru {};
    int status = 0;
    if (pid > 0 && wait4(pid, &status, 0, &ru) == pid) reply.maxrss_kb = ru.ru_maxrss;
    if (!WriteAll(replies, &reply, sizeof(reply))) break;
  }
  _exit(0);
}

}  // namespace

Status RunConcurrentReaders(Store* store, const std::string& path, std::span<const std::string> ids,
                            int procs, double seconds, size_t batch, ReadersResult* out) {
  int ready[2], go[2], result[2];
  if (pipe(ready) != 0) return PipeError("pipe");
  if (pipe(go) != 0) return PipeError("pipe");
  if (pipe(result) != 0) return PipeError("pipe");
  std::vector<pid_t> pids;
  Status s;
  for (int k = 0; k < procs; ++k) {
    const pid_t pid = fork();
    if (pid == 0) {
      close(ready[0]);
      close(go[1]);  // else this child would hold the start back
      close(result[0]);
      ReaderChild(store, path, ids, ids.size() / static_cast<size_t>(procs) * k, seconds, batch,
                  ready[1], go[0], result[1]);
    }
    if (pid < 0) {
      s = PipeError("fork");
      break;
    }
    pids.push_back(pid);
  }
  close(ready[1]);
  close(go[0]);
  close(result[1]);
  for (size_t k = 0; k < pids.size(); ++k) {
    char c;
    if (!ReadAll(ready[0], &c, 1) && s.ok()) s = Status::IOError(path, "a reader child died");
  }
  const Clock::time_point t0 = Clock::now();
  close(go[1]);  // EOF in every child: go
  *out = {};
  for (size_t k = 0; k < pids.size(); ++k) {
    ChildReport rep;
    if (!ReadAll(result[0], &rep, sizeof(rep))) {
      if (s.ok()) s = Status::IOError(path, "a reader child died");
      break;
    }
    if (!rep.ok && s.ok()) s = Status::IOError(path, std::string("reader child: ") + rep.error);
    out->lookups += rep.lookups;
  }
  out->seconds = SecondsSince(t0);
  close(ready[0]);
  close(result[0]);
  for (pid_t pid : pids) waitpid(pid, nullptr, 0);
  return s;
}

RssProbe::~RssProbe() {
  if (helper_ < 0) return;
  close(to_helper_);  // EOF: the helper exits
  close(from_helper_);
  waitpid(helper_, nullptr, 0);
}

Status RssProbe::Start(std::vector<Store*> stores) {
  int req[2], rep[2];
  if (pipe(req) != 0) return PipeError("pipe");
  if (pipe(rep) != 0) return PipeError("pipe");
  const pid_t pid = fork();
  if (pid < 0) return PipeError("fork");
  if (pid == 0) {
    close(req[1]);
    close(rep[0]);
    HelperMain(stores, req[0], rep[1]);
  }
  close(req[0]);
  close(rep[1]);
  helper_ = pid;
  to_helper_ = req[1];
  from_helper_ = rep[0];
  return Status::OK();
}

Status RssProbe::Measure(int store_index, const std::string& path, RssSample* out) {
  if (helper_ < 0) return Status::IOError("rss probe", "not started");
  RssRequest req;
  req.store_index = store_index;
  if (path.size() >= sizeof(req.path)) return Status::InvalidArgument(path, "path too long");
  std::memcpy(req.path, path.data(), path.size());
  RssReply reply;
  if (!WriteAll(to_helper_, &req, sizeof(req)) || !ReadAll(from_helper_, &reply, sizeof(reply))) {
    return Status::IOError("rss probe", "the helper process died");
  }
  if (!reply.child.ok) return Status::IOError(path, reply.child.error);
  out->peak_rss_bytes = static_cast<uint64_t>(reply.maxrss_kb) * 1024;
  out->rss_anon_bytes = reply.child.rss_anon_kb * 1024;
  out->rss_file_bytes = reply.child.rss_file_kb * 1024;
  out->tracks = reply.child.tracks;
  out->seconds = reply.child.seconds;
  return Status::OK();
}

}  // namespace trackstore_bench
