#include "trackstore/status.h"

#include "test_util.h"
#include "trackstore/result.h"

namespace trackstore {
namespace {

TEST(StatusTest, OkIsCheapAndPrintsOk) {
  Status s;
  EXPECT_TRUE(s.ok());
  EXPECT_EQ(s.code(), Status::Code::kOk);
  EXPECT_EQ(s.ToString(), "OK");
  EXPECT_FALSE(s.IsCorruption());
}

TEST(StatusTest, MessageNamesWhatAndDetail) {
  Status s = Status::HashMismatch("lib.snap", "header says 1f, content hashes to 9a");
  EXPECT_TRUE(s.IsHashMismatch());
  EXPECT_TRUE(s.IsCorruption());
  EXPECT_EQ(s.message(), "lib.snap: header says 1f, content hashes to 9a");
  EXPECT_EQ(s.ToString(), "Hash mismatch: lib.snap: header says 1f, content hashes to 9a");
  EXPECT_EQ(Status::CodeName(s.code()), "hash_mismatch");
}

TEST(StatusTest, EveryKindIsDistinct) {
  const Status all[] = {Status::NotFound("x"),           Status::NotASnapshot("x"),
                        Status::VersionUnsupported("x"), Status::Truncated("x"),
                        Status::HashMismatch("x"),       Status::StructureInvalid("x"),
                        Status::InvalidArgument("x"),    Status::IOError("x"),
                        Status::ResourceExhausted("x"),  Status::NotSupported("x")};
  for (size_t i = 0; i < std::size(all); ++i) {
    for (size_t j = 0; j < std::size(all); ++j) {
      EXPECT_EQ(all[i].code() == all[j].code(), i == j);
    }
    EXPECT_FALSE(all[i].ok());
  }
  EXPECT_TRUE(Status::Truncated("x").IsCorruption());
  EXPECT_TRUE(Status::StructureInvalid("x").IsCorruption());
  EXPECT_FALSE(Status::NotFound("x").IsCorruption());
}

TEST(StatusTest, CopiesAreDeep) {
  Status a = Status::IOError("a", "b");
  Status b = a;
  a = Status::OK();
  EXPECT_TRUE(a.ok());
  EXPECT_EQ(b.ToString(), "I/O error: a: b");
}

TEST(ResultTest, HoldsValueOrStatus) {
  Result<int> good = 7;
  ASSERT_TRUE(good.ok());
  EXPECT_EQ(*good, 7);
  Result<int> bad = Status::NotFound("k");
  EXPECT_FALSE(bad.ok());
  EXPECT_TRUE(bad.status().IsNotFound());
}

}  // namespace
}  // namespace trackstore
