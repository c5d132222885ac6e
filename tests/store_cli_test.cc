// The store commands of the `trackstore` tool as a user runs them: the
// built binary (its path comes from TRACKSTORE_CLI, set by
// tests/meson.build) in a child process, checking what it prints and its
// exit code. import into a store, commit with removals, log, checkout,
// compact, gc, and the store forms of info, verify, get, lookup, export and
// diff; a locked store, a collected version and a damaged store.
#include <fcntl.h>
#include <sys/wait.h>
#include <unistd.h>

#include <cstdlib>
#include <filesystem>
#include <memory>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "test_util.h"
#include "trackstore/diff.h"
#include "trackstore/env.h"
#include "trackstore/json.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/store.h"

namespace trackstore {
namespace {

using testing::CliRun;
using testing::Describe;
using ::testing::HasSubstr;
using testing::MakeTrack;
using testing::MakeTracks;
using testing::ReadFileBytes;
using ::testing::StartsWith;
using testing::TempDir;
using testing::WriteFileBytes;
using Json = nlohmann::json;

// "2026-11-29T19:00:06.123456Z": digits where digits go, separators in
// place. (No std::regex: GCC 12 warns inside it under ASan.)
bool IsIsoUtc(const std::string& t) {
  constexpr std::string_view kShape = "dddd-dd-ddTdd:dd:dd.ddddddZ";
  if (t.size() != kShape.size()) return false;
  for (size_t i = 0; i < t.size(); ++i) {
    if (kShape[i] == 'd' ? (t[i] < '0' || t[i] > '9') : t[i] != kShape[i]) return false;
  }
  return true;
}

class StoreCliTest : public ::testing::Test {
 protected:
  void SetUp() override {
    store_ = dir_.file("store");
    library_ = MakeTracks(300);
    ASSERT_OK(WriteJsonFile(library_, dir_.file("lib.json")));
  }

  // Runs the tool with `args` and `stdin_path` as standard input.
  CliRun Run(const std::vector<std::string>& args, const std::string& stdin_path = "/dev/null") {
    return testing::RunCli(dir_, args, stdin_path);
  }

  // Runs and expects exit 0; returns stdout parsed as JSON when `json`.
  Json RunJson(const std::vector<std::string>& args) {
    CliRun r = Run(args);
    EXPECT_EQ(r.exit_code, 0) << Describe(r);
    Json j = Json::parse(r.out, nullptr, /*allow_exceptions=*/false);
    EXPECT_FALSE(j.is_discarded()) << Describe(r);
    return j;
  }

  void ImportStore() {
    CliRun r = Run({"import", dir_.file("lib.json"), store_ + "/"});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    EXPECT_THAT(r.out, StartsWith("version 1: full replacement, 300 tracks"));
  }

  // Version 2: 10 tracks changed, 5 new, 3 removed and one id that is not
  // there.
  void CommitDelta() {
    std::vector<TrackRecord> updates;
    for (int i = 0; i < 10; ++i) {
      TrackRecord t = library_[i * 7];
      t.genre = "changed";
      updates.push_back(t);
    }
    for (uint64_t i = 1000; i < 1005; ++i) updates.push_back(MakeTrack(i));
    ASSERT_OK(WriteJsonFile(updates, dir_.file("updates.json")));
    WriteFileBytes(dir_.file("remove.txt"),
                   library_[1].id + "\n" + library_[2].id + "\r\n\n" + library_[3].id + "\nnope\n");
    CliRun r =
        Run({"commit", store_, dir_.file("updates.json"), "--remove", dir_.file("remove.txt")});
    ASSERT_EQ(r.exit_code, 0) << Describe(r);
    EXPECT_THAT(r.out, StartsWith("version 2: 10 replaced, 5 appended, 3 removed, 1 not found; "
                                  "302 tracks; "));
    EXPECT_THAT(r.out, HasSubstr(" written in "));
  }

  TempDir dir_;
  std::string store_;
  std::vector<TrackRecord> library_;
};

TEST_F(StoreCliTest, ImportIntoAStoreThenReadItLikeASnapshot) {
  ImportStore();
  CliRun info = Run({"info", store_});
  ASSERT_EQ(info.exit_code, 0) << Describe(info);
  EXPECT_THAT(info.out, HasSubstr("version:         1 (replace, "));
  EXPECT_THAT(info.out, HasSubstr("tracks:          300\n"));
  Json j = RunJson({"info", store_, "--json"});
  EXPECT_EQ(j["version"], 1);
  EXPECT_EQ(j["tracks"], 300);
  EXPECT_EQ(j["delta_fragments"], 0);

  CliRun verify = Run({"verify", store_});
  ASSERT_EQ(verify.exit_code, 0) << Describe(verify);
  EXPECT_THAT(verify.out, StartsWith("OK: " + store_ + " version 1: 300 tracks"));

  CliRun get = Run({"get", store_, library_[5].id});
  ASSERT_EQ(get.exit_code, 0) << Describe(get);
  EXPECT_THAT(get.out, HasSubstr("name: " + library_[5].name + "\n"));
  EXPECT_EQ(Run({"get", store_, "no-such-id"}).exit_code, 1);

  CliRun lookup = Run({"lookup", store_, "--count", "1000"});
  ASSERT_EQ(lookup.exit_code, 0) << Describe(lookup);
  EXPECT_THAT(lookup.out, HasSubstr("1000 random lookups over 300 tracks"));

  // Importing again into the existing store (no trailing '/') replaces.
  CliRun again = Run({"import", dir_.file("lib.json"), store_, "--json"});
  ASSERT_EQ(again.exit_code, 0) << Describe(again);
  EXPECT_EQ(Json::parse(again.out)["version"], 2);
}

TEST_F(StoreCliTest, CommitWithRemovalsIsReadLayeredAsWrittenFromScratch) {
  ImportStore();
  CommitDelta();
  // The same library written as one snapshot, by hand.
  std::vector<TrackRecord> expected = library_;
  for (int i = 0; i < 10; ++i) expected[i * 7].genre = "changed";
  for (uint64_t i = 1000; i < 1005; ++i) expected.push_back(MakeTrack(i));
  std::erase_if(expected, [&](const TrackRecord& t) {
    return t.id == library_[1].id || t.id == library_[2].id || t.id == library_[3].id;
  });
  ASSERT_OK(WriteJsonFile(expected, dir_.file("expected.json")));

  CliRun exp = Run({"export", store_, dir_.file("out.json")});
  ASSERT_EQ(exp.exit_code, 0) << Describe(exp);
  EXPECT_EQ(ReadFileBytes(dir_.file("out.json")), ReadFileBytes(dir_.file("expected.json")));
  CliRun old = Run({"export", store_, dir_.file("v1.json"), "--version", "1"});
  ASSERT_EQ(old.exit_code, 0) << Describe(old);
  EXPECT_EQ(ReadFileBytes(dir_.file("v1.json")), ReadFileBytes(dir_.file("lib.json")));

  Json info = RunJson({"info", store_, "--json"});
  EXPECT_EQ(info["version"], 2);
  EXPECT_EQ(info["tracks"], 302);
  EXPECT_EQ(info["delta_fragments"], 1);
  EXPECT_EQ(Run({"verify", store_}).exit_code, 0);
  EXPECT_EQ(Run({"get", store_, library_[2].id}).exit_code, 1);  // removed
  EXPECT_EQ(Run({"get", store_, library_[2].id, "--version", "1"}).exit_code, 0);

  // diff between two versions of the store, and against a snapshot file.
  Json d = RunJson({"diff", store_, store_, "--version-a", "1", "--json"});
  EXPECT_EQ(d["new"].size(), 5u);
  EXPECT_EQ(d["updated"].size(), 10u);
  EXPECT_EQ(d["removed"].size(), 3u);
  CliRun imp = Run({"import", dir_.file("expected.json"), dir_.file("expected.snap")});
  ASSERT_EQ(imp.exit_code, 0) << Describe(imp);
  CliRun same = Run({"diff", dir_.file("expected.snap"), store_});
  ASSERT_EQ(same.exit_code, 0) << Describe(same);
  EXPECT_EQ(same.out, "0 new, 0 updated, 0 removed\n");

  // Removal lists as a JSON array, from stdin: two of the new tracks.
  WriteFileBytes(dir_.file("remove.json"), "[\"2000\", \"2001\"]");
  CliRun rm = Run({"commit", store_, "--remove", "-", "--json"}, dir_.file("remove.json"));
  ASSERT_EQ(rm.exit_code, 0) << Describe(rm);
  Json c = Json::parse(rm.out);
  EXPECT_EQ(c["version"], 3);
  EXPECT_EQ(c["removed"], 2);
  EXPECT_EQ(c["tracks"], 300);
}

TEST_F(StoreCliTest, LogCheckoutCompactAndGc) {
  ImportStore();
  CommitDelta();
  Json log = RunJson({"log", store_, "--json"});
  ASSERT_EQ(log["versions"].size(), 2u);
  EXPECT_EQ(log["current"], 2);
  const Json& newest = log["versions"][0];
  EXPECT_EQ(newest["version"], 2);
  EXPECT_EQ(newest["operation"], "commit");
  EXPECT_EQ(newest["tracks"], 302);
  EXPECT_EQ(newest["fragments"].size(), 2u);
  EXPECT_EQ(newest["delta_fragments"], 1);
  EXPECT_EQ(newest["content_hash"].get<std::string>().size(), 32u);
  EXPECT_TRUE(IsIsoUtc(newest["time"].get<std::string>())) << newest["time"];
  EXPECT_EQ(log["versions"][1]["operation"], "replace");

  CliRun text = Run({"log", store_});
  ASSERT_EQ(text.exit_code, 0) << Describe(text);
  EXPECT_THAT(text.out, HasSubstr("*       2  "));
  EXPECT_THAT(text.out, HasSubstr("1 base + 1 delta"));

  CliRun co = Run({"checkout", store_, "1"});
  ASSERT_EQ(co.exit_code, 0) << Describe(co);
  EXPECT_THAT(co.out, StartsWith("version 3: checkout of version 1, 300 tracks, hash "));
  log = RunJson({"log", store_, "--json"});
  EXPECT_EQ(log["current"], 3);
  EXPECT_EQ(log["versions"][0]["operation"], "checkout 1");
  EXPECT_EQ(log["versions"][0]["content_hash"], log["versions"][2]["content_hash"]);
  EXPECT_EQ(Run({"get", store_, library_[2].id}).exit_code, 0);  // back again

  CliRun missing = Run({"checkout", store_, "9"});
  EXPECT_EQ(missing.exit_code, 1) << Describe(missing);
  EXPECT_THAT(missing.err, HasSubstr("version 9 does not exist (the newest is 3)"));

  ASSERT_EQ(Run({"checkout", store_, "2"}).exit_code, 0);
  CliRun compact = Run({"compact", store_});
  ASSERT_EQ(compact.exit_code, 0) << Describe(compact);
  EXPECT_THAT(
      compact.out,
      StartsWith("version 5: compacted 1 base + 1 delta fragments into 1 base, 302 tracks"));
  CliRun nothing = Run({"compact", store_});
  ASSERT_EQ(nothing.exit_code, 0) << Describe(nothing);
  EXPECT_THAT(nothing.out, HasSubstr("nothing to compact"));
  Json d = RunJson({"diff", store_, store_, "--version-a", "2", "--version-b", "5", "--json"});
  EXPECT_TRUE(d["new"].empty() && d["updated"].empty() && d["removed"].empty()) << d;

  CliRun gc = Run({"gc", store_, "--keep", "1"});
  ASSERT_EQ(gc.exit_code, 0) << Describe(gc);
  EXPECT_THAT(gc.out, StartsWith("removed 4 versions, "));
  EXPECT_THAT(gc.out, HasSubstr("kept version 5\n"));
  CliRun gone = Run({"info", store_, "--version", "1"});
  EXPECT_EQ(gone.exit_code, 1) << Describe(gone);
  EXPECT_THAT(gone.err, HasSubstr("version 1 was garbage-collected; `trackstore log " + store_ +
                                  "` lists the kept ones"));
  Json gone_json = Json::parse(Run({"get", store_, "x", "--version", "2", "--json"}).out);
  EXPECT_EQ(gone_json["error"]["code"], "NotFound");
  EXPECT_EQ(RunJson({"log", store_, "--json"})["versions"].size(), 1u);
  EXPECT_EQ(Run({"verify", store_}).exit_code, 0);
}

TEST_F(StoreCliTest, LockedStoreNamesTheHolder) {
  ImportStore();
  ASSERT_OK(WriteJsonFile(MakeTracks(2), dir_.file("two.json")));
  // This test process holds the writer lock; the tool is another process.
  std::unique_ptr<FileLock> lock;
  ASSERT_OK(Env::Default()->TryLockFile(store_ + "/LOCK", &lock));
  const std::string pid = std::to_string(::getpid());
  for (const std::vector<std::string>& args :
       {std::vector<std::string>{"commit", store_, dir_.file("two.json"), "--wait", "0.2"},
        std::vector<std::string>{"compact", store_, "--wait", "0"},
        std::vector<std::string>{"gc", store_, "--wait", "0"},
        std::vector<std::string>{"import", dir_.file("two.json"), store_, "--wait", "0"}}) {
    CliRun r = Run(args);
    EXPECT_EQ(r.exit_code, 1) << args[0] << ": " << Describe(r);
    EXPECT_THAT(r.err, HasSubstr("held by process " + pid)) << args[0];
    EXPECT_THAT(r.err, HasSubstr("hint: another process is writing to " + store_));
  }
  CliRun json = Run({"checkout", store_, "1", "--wait", "0", "--json"});
  EXPECT_EQ(json.exit_code, 1);
  EXPECT_EQ(Json::parse(json.out)["error"]["code"], "Busy");
  // Readers take no lock.
  EXPECT_EQ(Run({"info", store_}).exit_code, 0);
  lock.reset();
  EXPECT_EQ(Run({"commit", store_, dir_.file("two.json"), "--wait", "0"}).exit_code, 0);
}

TEST_F(StoreCliTest, UsageMissingAndDamagedStores) {
  EXPECT_EQ(Run({"checkout", store_}).exit_code, 2);           // no VERSION
  EXPECT_EQ(Run({"gc", store_, "--keep", "0"}).exit_code, 2);  // keeps at least one
  CliRun none = Run({"commit", dir_.file("nowhere"), dir_.file("lib.json")});
  EXPECT_EQ(none.exit_code, 1) << Describe(none);
  EXPECT_THAT(none.err, HasSubstr("not a trackstore store"));
  EXPECT_THAT(none.err, HasSubstr("hint: create one with `trackstore import"));
  EXPECT_FALSE(std::filesystem::exists(dir_.file("nowhere")));

  ImportStore();
  EXPECT_EQ(Run({"commit", store_}).exit_code, 2);  // nothing to commit
  EXPECT_EQ(Run({"info", dir_.file("lib.json"), "--version", "1"}).exit_code, 1);
  // A flipped byte in the base fragment: verify finds it and says what to do.
  std::string fragment;
  for (const auto& e : std::filesystem::directory_iterator(store_ + "/fragments")) {
    fragment = e.path();
  }
  std::string bytes = ReadFileBytes(fragment);
  bytes[bytes.size() - 100] ^= 0x01;
  WriteFileBytes(fragment, bytes);
  CliRun bad = Run({"verify", store_});
  EXPECT_EQ(bad.exit_code, 3) << Describe(bad);  // checked, and corrupt
  EXPECT_THAT(bad.err, HasSubstr("hint: the store is damaged; `trackstore log " + store_));
}

}  // namespace
}  // namespace trackstore
