// Store under injected failures: every file operation of a write fails in
// turn (an IOError from a test Env). The write must report the failure
// naming what it was doing and the file, leave the previous version current
// and valid, and not get in the way of the next commit.
#include <set>

#include "store_test_util.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore {
namespace {

using testing::CopyStore;
using testing::FaultEnv;
using ::testing::HasSubstr;
using ::testing::IsEmpty;
using testing::ListNames;
using testing::MakeTrack;
using testing::MakeTracks;
using ::testing::Not;
using testing::Records;
using ::testing::StartsWith;
using testing::TempDir;

struct State {
  std::vector<TrackRecord> tracks;
  std::optional<ServiceMetadata> service;
  std::string delta_state;
  bool operator==(const State&) const = default;
};

State StateOf(const Version& v) { return {Records(v), v.info().service, v.info().delta_state}; }

TrackRecord Named(uint64_t i, const std::string& id, const std::string& name) {
  TrackRecord t = MakeTrack(i);
  t.id = id;
  t.name = name;
  return t;
}

std::vector<TrackRecord> Updates(int round) {
  return {Named(100 + round, "new-" + std::to_string(round), "appended"),
          Named(3, MakeTrack(3).id, "replaced in " + std::to_string(round))};
}

template <typename T>
Status StatusOf(const Result<T>& r) {
  return r.status();
}

struct Scenario {
  std::string name;
  StoreOptions options;
  std::function<void(Store&)> setup;
  std::function<Status(Store&)> run;
};

// For N = 1, 2, ... until the write completes: the write runs with its
// N-th file operation failing.
void FailAtEachStep(const Scenario& sc) {
  SCOPED_TRACE(sc.name);
  TempDir dir;
  const std::string tmpl = dir.file("template"), trial = dir.file("trial");
  State before, after;
  uint64_t before_number = 0;
  {
    Result<Store> store = Store::Open(tmpl, sc.options);
    ASSERT_OK(store.status());
    sc.setup(*store);
    Result<Version> v = store->Current();
    ASSERT_OK(v.status());
    before = StateOf(*v);
    before_number = v->number();
    CopyStore(tmpl, trial);
    Result<Store> copy = Store::Open(trial, sc.options);
    ASSERT_OK(copy.status());
    ASSERT_OK(sc.run(*copy));
    after = StateOf(*copy->Current());
  }
  uint64_t n = 1;
  for (;; ++n) {
    SCOPED_TRACE("operation " + std::to_string(n) + " fails");
    CopyStore(tmpl, trial);
    FaultEnv env;
    StoreOptions o = sc.options;
    o.env = &env;
    Result<Store> store = Store::Open(trial, o);
    ASSERT_OK(store.status());
    env.FailAt(n);  // counted from here: the operations of Store::Open are left out
    const Status s = sc.run(*store);
    if (env.failed_op().empty()) {  // fewer than n operations: done
      ASSERT_OK(s);
      break;
    }
    const std::string op = env.failed_op(), path = env.failed_path();
    SCOPED_TRACE(op + " " + path + " -> " + s.ToString());

    Result<Store> fresh = Store::Open(trial, sc.options);
    ASSERT_OK(fresh.status());
    Result<Version> v = fresh->Current();
    ASSERT_OK(v.status());
    EXPECT_OK(v->Verify());
    const State got = StateOf(*v);
    // Past the commit point (the manifest renamed into place) only the
    // durability of that rename is still unconfirmed.
    const bool past_commit_point = op == "SyncDir" && path == trial + "/manifests";
    if (s.ok()) {
      // A failure the write could work around must not change its result.
      EXPECT_TRUE(got == after) << "the write succeeded with another result";
    } else {
      EXPECT_TRUE(s.IsIOError()) << s.ToString();
      EXPECT_THAT(s.message(), HasSubstr(path));
      // The store says what it was doing before the Env's own message;
      // mapping a fragment of the version a write starts from fails as
      // Snapshot::Open does, naming the fragment.
      if (op != "MapReadOnlyFile") {
        EXPECT_THAT(s.message(), Not(StartsWith(path)));
      }
      if (past_commit_point) {
        EXPECT_TRUE(got == after || got == before);
      } else {
        EXPECT_TRUE(got == before) << "failed, yet version " << v->number() << " is current";
        EXPECT_EQ(v->number(), before_number);
      }
    }
    // The next writer is not hindered, and cleans up.
    Result<CommitStats> c = fresh->Commit(std::vector<TrackRecord>{Named(1, "after-failure", "x")});
    ASSERT_OK(c.status());
    EXPECT_THAT(ListNames(trial + "/tmp"), IsEmpty());
    Result<Version> next = fresh->Current();
    ASSERT_OK(next.status());
    EXPECT_OK(next->Verify());
    if (::testing::Test::HasFailure()) return;
  }
  EXPECT_GT(n, 3u);
  std::printf("[ failures ] %-20s %3llu operations failed in turn\n", sc.name.c_str(),
              static_cast<unsigned long long>(n - 1));
}

std::vector<Scenario> Scenarios() {
  std::vector<Scenario> out;
  StoreOptions plain;
  plain.auto_compact = false;
  out.push_back(
      {"commit", plain,
       [](Store& s) {
         ASSERT_OK(s.Replace(MakeTracks(30)).status());
         ASSERT_OK(s.Commit(Updates(1)).status());
       },
       [](Store& s) { return StatusOf(s.Commit(Updates(2), std::vector<std::string>{"1004"})); }});
  StoreOptions busy;
  busy.keep_versions = 2;
  busy.compact_max_deltas = 2;
  out.push_back({"commit+compact+gc", busy,
                 [](Store& s) {
                   ASSERT_OK(s.Replace(MakeTracks(30)).status());
                   CommitOptions no;
                   no.allow_compaction = false;
                   for (int r = 1; r <= 5; ++r) ASSERT_OK(s.Commit(Updates(r), {}, no).status());
                 },
                 [](Store& s) { return StatusOf(s.Commit(Updates(6))); }});
  StoreOptions split = plain;
  split.max_fragment_bytes = 2048;
  out.push_back({"replace", split, [](Store& s) { ASSERT_OK(s.Replace(MakeTracks(10)).status()); },
                 [](Store& s) {
                   CommitOptions c;
                   DeltaState d;
                   d.last_run = 3;
                   c.delta_state = d;
                   return StatusOf(s.Replace(MakeTracks(40), c));
                 }});
  out.push_back({"compact", plain,
                 [](Store& s) {
                   ASSERT_OK(s.Replace(MakeTracks(30)).status());
                   for (int r = 1; r <= 3; ++r) ASSERT_OK(s.Commit(Updates(r)).status());
                 },
                 [](Store& s) { return StatusOf(s.Compact()); }});
  out.push_back({"gc", plain,
                 [](Store& s) {
                   ASSERT_OK(s.Replace(MakeTracks(30)).status());
                   for (int r = 1; r <= 4; ++r) ASSERT_OK(s.Commit(Updates(r)).status());
                   testing::WriteFileBytes(s.directory() + "/tmp/leftover.0123", "x");
                 },
                 [](Store& s) { return StatusOf(s.CollectGarbage(2)); }});
  // The library from a snapshot file, copied in as the base fragment.
  out.push_back({"replace-from-file", plain,
                 [](Store& s) {
                   ASSERT_OK(s.Replace(MakeTracks(30)).status());
                   std::vector<TrackRecord> lib = MakeTracks(25);
                   for (TrackRecord& t : lib) t.artist = "from file";
                   ASSERT_OK(WriteSnapshot(s.directory() + "/../library.snap", lib).status());
                 },
                 [](Store& s) {
                   Result<Snapshot> snap = Snapshot::Open(s.directory() + "/../library.snap");
                   if (!snap.ok()) return snap.status();
                   return StatusOf(s.Replace(*snap));
                 }});
  out.push_back({"checkout", plain,
                 [](Store& s) {
                   ASSERT_OK(s.Replace(MakeTracks(30)).status());
                   for (int r = 1; r <= 3; ++r) ASSERT_OK(s.Commit(Updates(r)).status());
                 },
                 [](Store& s) { return StatusOf(s.Checkout(2)); }});
  out.push_back({"set-state", plain,
                 [](Store& s) { ASSERT_OK(s.Replace(MakeTracks(10)).status()); },
                 [](Store& s) {
                   CommitOptions c;
                   c.service = ServiceMetadata{1, 1, 2, 3};
                   DeltaState d;
                   d.processed_ids = {"a"};
                   c.delta_state = d;
                   return StatusOf(s.SetState(c));
                 }});
  return out;
}

class StoreFaultTest : public ::testing::TestWithParam<int> {};

TEST_P(StoreFaultTest, EveryOperationFailsInTurn) {
  const std::vector<Scenario> all = Scenarios();
  ASSERT_LT(static_cast<size_t>(GetParam()), all.size());
  FailAtEachStep(all[static_cast<size_t>(GetParam())]);
}

std::string ParamName(const ::testing::TestParamInfo<int>& info) {
  static const char* const kNames[] = {"Commit", "CommitCompactGc", "Replace",  "Compact",
                                       "Gc",     "ReplaceFromFile", "Checkout", "SetState"};
  return kNames[info.param];
}

INSTANTIATE_TEST_SUITE_P(Writes, StoreFaultTest, ::testing::Range(0, 8), ParamName);

}  // namespace
}  // namespace trackstore
