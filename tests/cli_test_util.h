// tests/cli_test_util.h
//
// Runs the built trackstore tool (its path in TRACKSTORE_CLI, set by
// tests/meson.build) in a child process, as a user would.
#ifndef TRACKSTORE_TESTS_CLI_TEST_UTIL_H_
#define TRACKSTORE_TESTS_CLI_TEST_UTIL_H_

#include <fcntl.h>
#include <gtest/gtest.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <string>
#include <vector>

#include "test_util.h"

namespace trackstore::testing {

struct CliRun {
  int exit_code = -1;  // -1 when killed by a signal
  int signal = 0;
  std::string out, err;
  long max_rss_kib = 0;  // the child's peak resident memory
};

// Runs the tool with `args`, stdin from `stdin_path`, and waits for it.
// wait4 gives this child's own peak RSS (RUSAGE_CHILDREN would take the
// maximum over every child this test process has had).
inline CliRun RunCli(const TempDir& dir, const std::vector<std::string>& args,
                     const std::string& stdin_path = "/dev/null") {
  const char* cli = std::getenv("TRACKSTORE_CLI");
  EXPECT_NE(cli, nullptr) << "TRACKSTORE_CLI is not set (tests/meson.build sets it)";
  const std::string out_path = dir.file(".stdout"), err_path = dir.file(".stderr");
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(cli != nullptr ? cli : "trackstore"));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int in = ::open(stdin_path.c_str(), O_RDONLY);
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    const int err = ::open(err_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (in < 0 || out < 0 || err < 0) ::_exit(127);
    ::dup2(in, 0);
    ::dup2(out, 1);
    ::dup2(err, 2);
    // Under ASan a huge allocation must fail as new does (std::bad_alloc),
    // not stop the process with a report.
    std::string asan = "allocator_may_return_null=1";
    if (const char* o = std::getenv("ASAN_OPTIONS")) asan = std::string(o) + ":" + asan;
    ::setenv("ASAN_OPTIONS", asan.c_str(), 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  CliRun r;
  int status = 0;
  rusage usage{};
  EXPECT_EQ(::wait4(pid, &status, 0, &usage), pid);
  if (WIFEXITED(status)) r.exit_code = WEXITSTATUS(status);
  if (WIFSIGNALED(status)) r.signal = WTERMSIG(status);
  r.max_rss_kib = usage.ru_maxrss;
  r.out = ReadFileBytes(out_path);
  r.err = ReadFileBytes(err_path);
  return r;
}

inline std::string Describe(const CliRun& r) {
  return "exit " + std::to_string(r.exit_code) + ", signal " + std::to_string(r.signal) +
         "\nstdout: " + r.out + "\nstderr: " + r.err;
}

}  // namespace trackstore::testing

#endif  // TRACKSTORE_TESTS_CLI_TEST_UTIL_H_
