// Misuse of the API fails loudly in every build, never as a silent read of
// freed or absent memory (doc/behaviour.md section 11): the value of a failed
// Result, a call on a moved-from Snapshot, Store or Version. A field with no
// string column gives an empty view rather than a read past the columns.
#include <gtest/gtest.h>

#include <string>
#include <utility>

#include "test_util.h"
#include "trackstore/result.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/status.h"
#include "trackstore/store.h"

namespace trackstore {
namespace {

using testing::MakeTracks;
using testing::TempDir;

class MisuseDeathTest : public ::testing::Test {
 protected:
  void SetUp() override { GTEST_FLAG_SET(death_test_style, "threadsafe"); }
};

TEST_F(MisuseDeathTest, ValueOfAFailedResultAbortsWithItsStatus) {
  Result<int> r = Status::NotFound("lib.snap", "no such file");
  EXPECT_DEATH((void)r.value(), "misuse: Result::value\\(\\) on an error: Not ?[Ff]ound.*lib.snap");
  EXPECT_DEATH((void)*r, "Result::value\\(\\) on an error");
  EXPECT_DEATH((void)std::move(r).value(), "Result::value\\(\\) on an error");
}

TEST_F(MisuseDeathTest, ArrowOnAFailedResultAborts) {
  Result<std::string> r = Status::IOError("x");
  EXPECT_DEATH((void)r->size(), "Result::value\\(\\) on an error");
}

TEST_F(MisuseDeathTest, ResultFromAnOkStatusAborts) {
  EXPECT_DEATH((void)Result<int>(Status::OK()), "Result constructed from an OK Status");
}

TEST(ResultTest, ValueOrGivesTheValueOrTheFallback) {
  Result<int> good = 7;
  Result<int> bad = Status::NotFound("x");
  EXPECT_EQ(good.value_or(1), 7);
  EXPECT_EQ(bad.value_or(1), 1);
  Result<std::string> s = Status::IOError("x");
  EXPECT_EQ(std::move(s).value_or("none"), "none");
}

class MovedFromDeathTest : public MisuseDeathTest {
 protected:
  void SetUp() override {
    MisuseDeathTest::SetUp();
    path_ = dir_.file("lib.snap");
    ASSERT_OK(WriteSnapshot(path_, MakeTracks(10)).status());
  }
  TempDir dir_;
  std::string path_;
};

TEST_F(MovedFromDeathTest, SnapshotAborts) {
  Result<Snapshot> snap = Snapshot::Open(path_);
  ASSERT_OK(snap.status());
  Snapshot taken = std::move(*snap);
  EXPECT_EQ(taken.size(), 10u);
  const Snapshot& gone = *snap;
  EXPECT_DEATH((void)gone.size(), "misuse: Snapshot::size on a moved-from object");
  EXPECT_DEATH((void)gone.Find("1"), "Snapshot::Find on a moved-from object");
  EXPECT_DEATH((void)gone[0], "Snapshot::operator\\[\\] or iteration on a moved-from object");
  EXPECT_DEATH((void)gone.Verify(), "Snapshot::Verify on a moved-from object");
  EXPECT_DEATH((void)gone.column(Field::kName), "Snapshot::column on a moved-from object");
  // Assigning to it makes it usable again.
  *snap = std::move(taken);
  EXPECT_EQ(snap->size(), 10u);
}

TEST_F(MovedFromDeathTest, StoreAndVersionAbort) {
  StoreOptions o;
  o.sync = false;
  Result<Store> store = Store::Open(dir_.file("s"), o);
  ASSERT_OK(store.status());
  ASSERT_OK(store->Replace(MakeTracks(10)).status());
  Result<Version> v = store->Current();
  ASSERT_OK(v.status());

  Store store2 = std::move(*store);
  EXPECT_DEATH((void)store->Current(), "misuse: Store::Current on a moved-from object");
  EXPECT_DEATH((void)store->Commit(MakeTracks(1)), "Store::Commit on a moved-from object");
  EXPECT_DEATH((void)store->directory(), "Store::directory on a moved-from object");

  Version v2 = std::move(*v);
  EXPECT_EQ(v2.size(), 10u);
  EXPECT_DEATH((void)v->size(), "misuse: Version::info on a moved-from object");
  EXPECT_DEATH((void)v->Find("1"), "Version::Find on a moved-from object");
  EXPECT_DEATH((void)v->begin(), "Version::begin on a moved-from object");
  EXPECT_DEATH((void)v->Verify(), "Version::Verify on a moved-from object");
}

TEST_F(MovedFromDeathTest, NonStringFieldHasAnEmptyColumn) {
  Result<Snapshot> snap = Snapshot::Open(path_);
  ASSERT_OK(snap.status());
  EXPECT_EQ(snap->column(Field::kName).size(), 10u);
  EXPECT_EQ(snap->column(Field::kExtras).size(), 10u);
  EXPECT_EQ(snap->column(Field::kOriginalPos).size(), 0u);
  EXPECT_EQ(snap->column(static_cast<Field>(200)).size(), 0u);
  EXPECT_EQ((*snap)[0].string_field(kStringFieldCount), std::nullopt);
  EXPECT_EQ((*snap)[0].string_field(-1), std::nullopt);
  EXPECT_EQ((*snap)[0].string_field(0), (*snap)[0].id());
}

// Documented preconditions are checked by assertions in builds without
// NDEBUG (the sanitizer build in CI); a release build does not pay for them.
#ifndef NDEBUG
TEST_F(MovedFromDeathTest, IndexPastTheEndAssertsInDebugBuilds) {
  Result<Snapshot> snap = Snapshot::Open(path_);
  ASSERT_OK(snap.status());
  EXPECT_DEATH((void)(*snap)[10], "Snapshot::operator\\[\\]: index out of range");
  StringColumnView names = snap->column(Field::kName);
  EXPECT_DEATH((void)names[10], "StringColumnView::operator\\[\\]: index out of range");
  EXPECT_DEATH((void)names.is_null(10), "StringColumnView::is_null: index out of range");
}
#endif

}  // namespace
}  // namespace trackstore
