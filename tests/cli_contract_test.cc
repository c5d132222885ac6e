// The tool's machine contract (doc/cli.md): every command, each shm
// subcommand included, run with --json on success and on failure prints
// exactly one line of JSON on stdout, the envelope
//   {"schema_version":1,"command":"<name>","ok":<bool>, ...}
// with the documented exit code; usage errors are JSON too when --json is
// given; --quiet leaves stderr empty; progress appears on a terminal only.
//
// The commands come from `trackstore --help` (and `trackstore shm --help`),
// so that a new command without a case here fails the test.
#include <fcntl.h>
#include <poll.h>
#include <pty.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cerrno>
#include <cstdlib>
#include <filesystem>
#include <map>
#include <set>
#include <sstream>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "test_util.h"
#include "trackstore/json.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore {
namespace {

using testing::CliRun;
using testing::Describe;
using ::testing::HasSubstr;
using testing::MakeTracks;
using ::testing::Not;
using testing::ReadFileBytes;
using testing::RunCli;
using testing::TempDir;
using testing::WriteFileBytes;
using Json = nlohmann::json;

// The subcommand names a --help text lists (CLI11: the first word of each
// line between "Subcommands:" and the next blank line).
std::vector<std::string> SubcommandsIn(const std::string& help) {
  std::vector<std::string> names;
  std::istringstream in(help);
  std::string line;
  bool inside = false;
  while (std::getline(in, line)) {
    if (line == "Subcommands:") {
      inside = true;
    } else if (inside && line.empty()) {
      break;
    } else if (inside) {
      std::istringstream words(line);
      std::string name;
      words >> name;
      names.push_back(name);
    }
  }
  return names;
}

// "import", "shm publish", ...: every command a user can run.
std::vector<std::string> AllCommands(const TempDir& dir) {
  std::vector<std::string> commands;
  const CliRun top = RunCli(dir, {"--help"});
  EXPECT_EQ(top.exit_code, 0) << Describe(top);
  for (const std::string& name : SubcommandsIn(top.out)) {
    const CliRun sub = RunCli(dir, {name, "--help"});
    EXPECT_EQ(sub.exit_code, 0) << Describe(sub);
    const std::vector<std::string> nested = SubcommandsIn(sub.out);
    if (nested.empty()) commands.push_back(name);
    for (const std::string& n : nested) commands.push_back(name + " " + n);
  }
  return commands;
}

// Splits "shm publish" into its words.
std::vector<std::string> Words(const std::string& command) {
  std::vector<std::string> words;
  std::istringstream in(command);
  for (std::string w; in >> w;) words.push_back(w);
  return words;
}

// stdout is exactly one line of JSON, the envelope of `command`; returns it.
Json ExpectEnvelope(const CliRun& r, const std::string& command, bool ok) {
  const std::string what = command + ": " + Describe(r);
  EXPECT_FALSE(r.out.empty()) << what;
  EXPECT_EQ(r.out.find('\n'), r.out.size() - 1) << "not exactly one line: " << what;
  if (!Json::accept(r.out)) {
    ADD_FAILURE() << "not JSON: " << what;
    return Json();
  }
  Json j = Json::parse(r.out);
  EXPECT_TRUE(j.is_object()) << what;
  EXPECT_EQ(j.value("schema_version", 0), 1) << what;
  EXPECT_EQ(j.value("command", std::string("?")), command) << what;
  EXPECT_EQ(j.value("ok", !ok), ok) << what;
  if (!ok) {
    EXPECT_TRUE(j["error"]["code"].is_string()) << what;
    EXPECT_TRUE(j["error"]["message"].is_string()) << what;
  }
  return j;
}

struct Case {
  std::string command;            // "shm publish"
  std::vector<std::string> args;  // after the command's words
  int exit_code;
  bool ok;  // the envelope's "ok"
};

class CliContractTest : public ::testing::Test {
 protected:
  CliContractTest() {
    shm_ = "ts-contract-" + std::to_string(::getpid());
    std::filesystem::create_directory(dir_.file("shm"));
    EXPECT_OK(WriteJsonFile(MakeTracks(200), dir_.file("lib.json")));
    std::vector<TrackRecord> changes = MakeTracks(20);
    for (TrackRecord& t : changes) t.name += " (changed)";
    EXPECT_OK(WriteJsonFile(changes, dir_.file("changes.json")));
    EXPECT_OK(WriteSnapshot(dir_.file("lib.snap"), MakeTracks(200)).status());
    // A flipped byte in the payload: the hash no longer matches.
    std::string bytes = ReadFileBytes(dir_.file("lib.snap"));
    bytes[bytes.size() - 10] ^= 0x01;
    WriteFileBytes(dir_.file("corrupt.snap"), bytes);
    std::filesystem::create_directory(dir_.file("empty"));
    // The reference application's cache directory: its snapshot only.
    std::filesystem::create_directory(dir_.file("ref"));
    EXPECT_OK(WriteJsonFile(MakeTracks(20), dir_.file("ref/library_snapshot.json")));
  }

  std::string F(const std::string& name) const { return dir_.file(name); }
  std::vector<std::string> Shm(std::vector<std::string> args) const {
    args.push_back("--shm-dir");
    args.push_back(F("shm"));
    return args;
  }

  // In order: later cases use what earlier ones made.
  std::vector<Case> Successes() const {
    const std::string id = MakeTracks(1)[0].id;
    return {
        {"generate", {"50", F("gen.json")}, 0, true},
        {"import", {F("lib.json"), F("imported.snap")}, 0, true},
        {"export", {F("lib.snap"), F("out.json")}, 0, true},
        {"info", {F("lib.snap")}, 0, true},
        {"verify", {F("lib.snap")}, 0, true},
        {"get", {F("lib.snap"), id}, 0, true},
        {"lookup", {F("lib.snap"), "--count", "100"}, 0, true},
        {"merge", {F("lib.snap"), F("changes.json"), F("merged.snap")}, 0, true},
        {"diff", {F("lib.snap"), F("merged.snap")}, 0, true},
        {"update", {F("svc"), F("lib.json"), "--library", F("lib.json")}, 0, true},
        {"status", {F("svc"), "--library", F("lib.json")}, 0, true},
        {"import", {F("lib.json"), F("store") + "/"}, 0, true},
        {"commit", {F("store"), F("changes.json")}, 0, true},
        {"log", {F("store")}, 0, true},
        {"checkout", {F("store"), "1"}, 0, true},
        {"compact", {F("store")}, 0, true},
        {"gc", {F("store"), "--keep", "2"}, 0, true},
        {"adopt", {F("ref"), F("adopted")}, 0, true},
        {"export-reference", {F("adopted"), F("ref-out")}, 0, true},
        {"shm publish", Shm({shm_, "tracks_all", F("lib.snap"), "--capacity", "8"}), 0, true},
        {"shm get", Shm({shm_, "tracks_all", id}), 0, true},
        {"shm lookup", Shm({shm_, "tracks_all", "--count", "100"}), 0, true},
        {"shm stat", Shm({shm_}), 0, true},
        {"shm clear", Shm({shm_}), 0, true},
        {"shm remove", Shm({shm_}), 0, true},
    };
  }

  std::vector<Case> Failures() const {
    const std::string none = "no-such-segment";
    return {
        {"generate", {"100000000000", F("x.json")}, 1, false},
        {"import", {F("missing.json"), F("x.snap")}, 1, false},
        {"export", {F("missing.snap"), F("x.json")}, 1, false},
        {"info", {F("missing.snap")}, 1, false},
        {"verify", {F("missing.snap")}, 1, false},
        {"verify", {F("corrupt.snap")}, 3, false},  // read, and corrupt
        {"get", {F("lib.snap"), "no-such-id"}, 1, false},
        {"lookup", {F("missing.snap")}, 1, false},
        {"merge", {F("missing.snap"), F("changes.json"), F("x.snap")}, 1, false},
        {"diff", {F("lib.snap"), F("missing.snap")}, 1, false},
        {"update", {F("svc2"), F("missing.json"), "--library", F("lib.json")}, 1, false},
        {"status", {F("nowhere")}, 1, false},
        {"status", {F("empty")}, 3, true},  // an answer: not valid
        {"commit", {F("nowhere"), F("changes.json")}, 1, false},
        {"log", {F("nowhere")}, 1, false},
        {"checkout", {F("nowhere"), "1"}, 1, false},
        {"compact", {F("nowhere")}, 1, false},
        {"gc", {F("nowhere")}, 1, false},
        {"adopt", {F("nowhere"), F("x-store")}, 1, false},
        {"export-reference", {F("nowhere"), F("x-ref")}, 1, false},
        {"shm publish", Shm({none, "tracks_all", F("lib.snap"), "--capacity", "0"}), 1, false},
        {"shm get", Shm({none, "tracks_all"}), 1, false},
        {"shm lookup", Shm({none, "tracks_all"}), 1, false},
        {"shm stat", Shm({none}), 1, false},
        {"shm clear", Shm({none}), 1, false},
        {"shm remove", Shm({none}), 1, false},
    };
  }

  CliRun Run(const Case& c, const std::vector<std::string>& extra) const {
    std::vector<std::string> argv = Words(c.command);
    argv.insert(argv.end(), c.args.begin(), c.args.end());
    argv.insert(argv.end(), extra.begin(), extra.end());
    return RunCli(dir_, argv);
  }

  TempDir dir_;
  std::string shm_;
};

// Every command has a success case and a failure case, and each prints
// its envelope with the documented exit code. With --quiet, stderr holds
// errors only.
TEST_F(CliContractTest, EveryCommandPrintsOneEnvelopeLine) {
  const std::vector<std::string> commands = AllCommands(dir_);
  ASSERT_GE(commands.size(), 22u);
  std::set<std::string> succeeded, failed;
  for (const Case& c : Successes()) {
    const CliRun r = Run(c, {"--json", "--quiet"});
    EXPECT_EQ(r.exit_code, c.exit_code) << c.command << ": " << Describe(r);
    ExpectEnvelope(r, c.command, c.ok);
    EXPECT_EQ(r.err, "") << c.command << ": --quiet, yet: " << Describe(r);
    succeeded.insert(c.command);
  }
  for (const Case& c : Failures()) {
    const CliRun r = Run(c, {"--json"});
    EXPECT_EQ(r.exit_code, c.exit_code) << c.command << ": " << Describe(r);
    ExpectEnvelope(r, c.command, c.ok);
    failed.insert(c.command);
  }
  for (const std::string& command : commands) {
    EXPECT_TRUE(succeeded.count(command)) << "no success case for " << command;
    EXPECT_TRUE(failed.count(command)) << "no failure case for " << command;
  }
}

// Usage errors: with --json anywhere, the envelope with code "Usage" and
// exit 2; without it, CLI11's text on stderr and nothing on stdout.
TEST_F(CliContractTest, UsageErrorsAreJsonWithJson) {
  for (const std::string& command : AllCommands(dir_)) {
    std::vector<std::string> argv = Words(command);
    argv.push_back("--no-such-option");
    argv.push_back("--json");
    CliRun r = RunCli(dir_, argv);
    EXPECT_EQ(r.exit_code, 2) << command << ": " << Describe(r);
    Json j = ExpectEnvelope(r, command, false);
    EXPECT_EQ(j["error"]["code"], "Usage") << command;

    argv.pop_back();
    r = RunCli(dir_, argv);
    EXPECT_EQ(r.exit_code, 2) << command << ": " << Describe(r);
    EXPECT_EQ(r.out, "") << command;
    EXPECT_NE(r.err, "") << command;
  }
  // No command at all, a missing argument, an unknown command.
  for (const std::vector<std::string>& argv :
       {std::vector<std::string>{"--json"},
        std::vector<std::string>{"--json", "no-such-command"}}) {
    const CliRun r = RunCli(dir_, argv);
    EXPECT_EQ(r.exit_code, 2) << Describe(r);
    EXPECT_EQ(ExpectEnvelope(r, "", false)["error"]["code"], "Usage");
  }
  CliRun r = RunCli(dir_, {"import", "--json", F("lib.json")});  // OUT missing
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_EQ(ExpectEnvelope(r, "import", false)["error"]["code"], "Usage");
  r = RunCli(dir_, {"shm", "--json"});  // no shm subcommand
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_EQ(ExpectEnvelope(r, "shm", false)["error"]["code"], "Usage");
  // The data and the envelope cannot share stdout.
  r = RunCli(dir_, {"export", F("lib.snap"), "-", "--json"});
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_EQ(ExpectEnvelope(r, "export", false)["error"]["code"], "Usage");
  r = RunCli(dir_, {"commit", F("store"), "--json"});  // nothing to commit
  EXPECT_EQ(r.exit_code, 2) << Describe(r);
  EXPECT_EQ(ExpectEnvelope(r, "commit", false)["error"]["code"], "Usage");
}

// The names the envelope's fields share across commands (doc/cli.md).
TEST_F(CliContractTest, SharedFieldNames) {
  const CliRun imp = RunCli(dir_, {"import", F("lib.json"), F("a.snap"), "--json"});
  const Json i = ExpectEnvelope(imp, "import", true);
  const CliRun info = RunCli(dir_, {"info", F("a.snap"), "--json"});
  const Json n = ExpectEnvelope(info, "info", true);
  for (const char* key : {"path", "tracks", "bytes", "content_hash", "seconds"}) {
    EXPECT_TRUE(i.contains(key)) << key << " " << i;
    EXPECT_TRUE(n.contains(key)) << key << " " << n;
  }
  EXPECT_EQ(i["tracks"], 200);
  EXPECT_EQ(i["bytes"], n["bytes"]);
  EXPECT_EQ(i["content_hash"], n["content_hash"]);
  EXPECT_TRUE(i["seconds"].is_number());

  const CliRun get = RunCli(dir_, {"get", F("a.snap"), MakeTracks(1)[0].id, "--json"});
  const Json g = ExpectEnvelope(get, "get", true);
  EXPECT_EQ(g["track"]["id"], MakeTracks(1)[0].id) << g;

  ASSERT_EQ(RunCli(dir_, {"import", F("lib.json"), F("s") + "/"}).exit_code, 0);
  const Json log = ExpectEnvelope(RunCli(dir_, {"log", F("s"), "--json"}), "log", true);
  const std::string time = log["versions"][0]["time"];
  EXPECT_EQ(time.back(), 'Z') << time;
  EXPECT_EQ(time[10], 'T') << time;
}

// Timings go to stderr, and not with --quiet; errors print either way.
TEST_F(CliContractTest, QuietKeepsErrorsOnly) {
  CliRun r = RunCli(dir_, {"import", F("lib.json"), F("a.snap")});
  EXPECT_THAT(r.err, HasSubstr("import: 200 tracks in")) << Describe(r);
  r = RunCli(dir_, {"-q", "import", F("lib.json"), F("a.snap")});
  EXPECT_EQ(r.exit_code, 0) << Describe(r);
  EXPECT_EQ(r.err, "") << Describe(r);
  EXPECT_THAT(r.out, HasSubstr("200 tracks"));  // the result is no timing
  r = RunCli(dir_, {"import", F("missing.json"), F("a.snap"), "--quiet"});
  EXPECT_EQ(r.exit_code, 1) << Describe(r);
  EXPECT_THAT(r.err, HasSubstr("trackstore: Not found")) << Describe(r);
}

// --- progress on a terminal -----------------------------------------------------

struct PtyRun {
  int exit_code = -1;
  std::string tty;         // what the tool wrote to the terminal
  std::string err_stream;  // stderr when it was a pipe
};

// Runs the tool with stdout to a file and stderr on a pseudo-terminal (or,
// with `stderr_pipe`, a pipe), progress lines allowed at every update
// (TRACKSTORE_PROGRESS_MS=0) so that a fast run shows them too.
PtyRun RunOnPty(const TempDir& dir, const std::vector<std::string>& args, bool stderr_pipe) {
  const char* cli = std::getenv("TRACKSTORE_CLI");
  PtyRun result;
  if (cli == nullptr) {
    ADD_FAILURE() << "TRACKSTORE_CLI is not set";
    return result;
  }
  std::vector<char*> argv;
  argv.push_back(const_cast<char*>(cli));
  for (const std::string& a : args) argv.push_back(const_cast<char*>(a.c_str()));
  argv.push_back(nullptr);
  int pipe_fds[2] = {-1, -1};
  if (stderr_pipe && ::pipe(pipe_fds) != 0) {
    ADD_FAILURE() << "pipe: " << errno;
    return result;
  }
  const std::string out_path = dir.file(".pty-stdout");
  int master = -1;
  const pid_t pid = ::forkpty(&master, nullptr, nullptr, nullptr);
  if (pid < 0) {
    ADD_FAILURE() << "forkpty: " << errno;
    return result;
  }
  if (pid == 0) {
    const int out = ::open(out_path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0600);
    if (out < 0) ::_exit(127);
    ::dup2(out, 1);
    if (stderr_pipe) {
      ::dup2(pipe_fds[1], 2);
      ::close(pipe_fds[0]);
      ::close(pipe_fds[1]);
    }
    ::setenv("TRACKSTORE_PROGRESS_MS", "0", 1);
    ::execv(argv[0], argv.data());
    ::_exit(127);
  }
  if (stderr_pipe) ::close(pipe_fds[1]);
  // Both until their ends: the pty's read fails (EIO) once the child has
  // gone; the pipe reads 0.
  std::vector<pollfd> fds = {{master, POLLIN, 0}};
  if (stderr_pipe) fds.push_back({pipe_fds[0], POLLIN, 0});
  size_t open_fds = fds.size();
  while (open_fds > 0) {
    if (::poll(fds.data(), fds.size(), -1) < 0) {
      if (errno == EINTR) continue;
      break;
    }
    for (size_t i = 0; i < fds.size(); ++i) {
      if (fds[i].fd < 0 || fds[i].revents == 0) continue;
      char buf[4096];
      const ssize_t n = ::read(fds[i].fd, buf, sizeof(buf));
      if (n > 0) {
        (i == 0 ? result.tty : result.err_stream).append(buf, static_cast<size_t>(n));
      } else if (n == 0 || errno != EINTR) {
        ::close(fds[i].fd);
        fds[i].fd = -1;
        --open_fds;
      }
    }
  }
  int status = 0;
  EXPECT_EQ(::waitpid(pid, &status, 0), pid);
  if (WIFEXITED(status)) result.exit_code = WEXITSTATUS(status);
  return result;
}

TEST_F(CliContractTest, ProgressOnATerminalOnly) {
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"import", F("lib.json"), F("p.snap")},
        std::vector<std::string>{"import", F("lib.json"), F("pstore") + "/"},
        std::vector<std::string>{"generate", "70000", F("p.json")},
        std::vector<std::string>{"generate", "70000", F("g.snap")},
        std::vector<std::string>{"merge", F("lib.snap"), F("changes.json"), F("m.snap")},
        std::vector<std::string>{"export", F("lib.snap"), F("e.json.gz")}}) {
    const std::string command = args[0] + ": ";
    PtyRun tty = RunOnPty(dir_, args, /*stderr_pipe=*/false);
    EXPECT_EQ(tty.exit_code, 0) << tty.tty;
    EXPECT_THAT(tty.tty, HasSubstr("\r\033[K" + command)) << tty.tty;  // the progress line
    EXPECT_THAT(tty.tty, HasSubstr(" tracks")) << tty.tty;

    std::vector<std::string> quiet = args;
    quiet.push_back("--quiet");
    tty = RunOnPty(dir_, quiet, /*stderr_pipe=*/false);
    EXPECT_EQ(tty.exit_code, 0) << tty.tty;
    EXPECT_EQ(tty.tty, "") << "--quiet, yet on the terminal: " << tty.tty;

    const PtyRun piped = RunOnPty(dir_, args, /*stderr_pipe=*/true);
    EXPECT_EQ(piped.exit_code, 0) << piped.err_stream;
    EXPECT_THAT(piped.err_stream, Not(HasSubstr("\r"))) << piped.err_stream;
    EXPECT_THAT(piped.err_stream, HasSubstr(command)) << piped.err_stream;  // the timing
    EXPECT_EQ(piped.tty, "");
  }
}

}  // namespace
}  // namespace trackstore
