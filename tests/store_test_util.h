// tests/store_test_util.h: helpers for the store's crash, fault and
// multi-process tests: the fault-injecting Env (fault_env.h), the library
// model, and small process utilities.
#ifndef TRACKSTORE_TESTS_STORE_TEST_UTIL_H_
#define TRACKSTORE_TESTS_STORE_TEST_UTIL_H_

#include <signal.h>
#include <sys/wait.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <filesystem>
#include <functional>
#include <mutex>
#include <set>
#include <string>
#include <vector>

#include "fault_env.h"
#include "test_util.h"
#include "trackstore/env.h"
#include "trackstore/store.h"

namespace trackstore::testing {

// The library as a list, changed the way a commit is defined to change it.
struct Model {
  std::vector<TrackRecord> tracks;

  void Apply(const std::vector<TrackRecord>& updates, const std::vector<std::string>& removed) {
    for (const TrackRecord& u : updates) {
      auto it = std::find_if(tracks.begin(), tracks.end(),
                             [&](const TrackRecord& t) { return t.id == u.id; });
      if (it != tracks.end()) {
        *it = u;
      } else {
        tracks.push_back(u);
      }
    }
    std::erase_if(tracks, [&](const TrackRecord& t) {
      return std::find(removed.begin(), removed.end(), t.id) != removed.end();
    });
  }
};

inline std::vector<TrackRecord> Records(const Version& v) {
  std::vector<TrackRecord> out;
  for (TrackView t : v) out.push_back(t.ToRecord());
  return out;
}

inline std::vector<std::string> ListNames(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : std::filesystem::directory_iterator(dir, ec)) {
    names.push_back(e.path().filename().string());
  }
  std::sort(names.begin(), names.end());
  return names;
}

inline void CopyStore(const std::string& from, const std::string& to) {
  std::filesystem::remove_all(to);
  std::filesystem::copy(from, to, std::filesystem::copy_options::recursive);
}

// Fragment and state files no manifest names (what gc must remove).
inline std::vector<std::string> Unreferenced(const std::string& dir, const Store& store) {
  std::set<std::string> used;
  Result<std::vector<VersionInfo>> log = store.Log();
  if (!log.ok()) return {"<log failed: " + log.status().ToString() + ">"};
  for (const VersionInfo& info : *log) {
    for (const FragmentInfo& f : info.fragments) used.insert("fragments/" + f.name + ".snap");
    if (!info.delta_state.empty()) used.insert("state/" + info.delta_state + ".json");
  }
  std::vector<std::string> extra;
  for (const char* sub : {"fragments", "state"}) {
    for (const std::string& name : ListNames(dir + "/" + sub)) {
      const std::string rel = std::string(sub) + "/" + name;
      if (!used.contains(rel)) extra.push_back(rel);
    }
  }
  return extra;
}

// Runs `body` in a forked child that ends with _exit(body()). The child
// uses only the library (no gtest assertions).
inline pid_t ForkChild(const std::function<int()>& body) {
  const pid_t pid = ::fork();
  if (pid == 0) ::_exit(body());
  return pid;
}

// Waits for `pid`; its raw wait status.
inline int WaitFor(pid_t pid) {
  int status = 0;
  while (::waitpid(pid, &status, 0) < 0 && errno == EINTR) {
  }
  return status;
}

inline bool KilledBySigkill(int status) {
  return WIFSIGNALED(status) && WTERMSIG(status) == SIGKILL;
}
inline bool ExitedZero(int status) { return WIFEXITED(status) && WEXITSTATUS(status) == 0; }

// Writes/reads a whole fixed-size value on a pipe (false at EOF or error).
template <typename T>
bool WriteValue(int fd, const T& value) {
  return ::write(fd, &value, sizeof(value)) == static_cast<ssize_t>(sizeof(value));
}
template <typename T>
bool ReadValue(int fd, T* value) {
  size_t got = 0;
  auto* p = reinterpret_cast<char*>(value);
  while (got < sizeof(T)) {
    const ssize_t n = ::read(fd, p + got, sizeof(T) - got);
    if (n < 0 && errno == EINTR) continue;
    if (n <= 0) return false;
    got += static_cast<size_t>(n);
  }
  return true;
}

struct Pipe {
  int fds[2] = {-1, -1};
  Pipe() {
    if (::pipe(fds) != 0) std::abort();
  }
  ~Pipe() {
    CloseRead();
    CloseWrite();
  }
  int read_fd() const { return fds[0]; }
  int write_fd() const { return fds[1]; }
  void CloseRead() {
    if (fds[0] >= 0) ::close(fds[0]);
    fds[0] = -1;
  }
  void CloseWrite() {
    if (fds[1] >= 0) ::close(fds[1]);
    fds[1] = -1;
  }
};

}  // namespace trackstore::testing

#endif  // TRACKSTORE_TESTS_STORE_TEST_UTIL_H_
