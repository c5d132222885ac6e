// The version header, the library's version at run time, and the tool's
// --version, all from the one project version (meson.build).
#include "trackstore/version.h"

#include <gtest/gtest.h>

#include <cstdlib>
#include <string>

#include "cli_test_util.h"
#include "test_util.h"

namespace trackstore {
namespace {

TEST(VersionTest, HeaderMacrosMatchTheLibrary) {
  const LibraryVersionInfo& v = LibraryVersion();
  EXPECT_EQ(v.major, TRACKSTORE_VERSION_MAJOR);
  EXPECT_EQ(v.minor, TRACKSTORE_VERSION_MINOR);
  EXPECT_EQ(v.patch, TRACKSTORE_VERSION_PATCH);
  EXPECT_STREQ(v.string, TRACKSTORE_VERSION_STRING);
  EXPECT_EQ(std::string(TRACKSTORE_VERSION_STRING), std::to_string(TRACKSTORE_VERSION_MAJOR) + "." +
                                                        std::to_string(TRACKSTORE_VERSION_MINOR) +
                                                        "." +
                                                        std::to_string(TRACKSTORE_VERSION_PATCH));
  EXPECT_TRUE(LibraryMatchesHeaders());
}

TEST(VersionTest, NamesTheFormatsItReadsAndWrites) {
  const LibraryVersionInfo& v = LibraryVersion();
  EXPECT_EQ(v.snapshot_format, 1u);
  EXPECT_EQ(v.manifest_format, 1u);
  EXPECT_GE(v.shm_layout, 2u);
}

TEST(VersionTest, CliPrintsTheVersion) {
  if (std::getenv("TRACKSTORE_CLI") == nullptr) GTEST_SKIP() << "built without the CLI";
  testing::TempDir dir;
  testing::CliRun r = testing::RunCli(dir, {"--version"});
  EXPECT_EQ(r.exit_code, 0) << r.err;
  EXPECT_EQ(r.out, std::string("trackstore ") + TRACKSTORE_VERSION_STRING +
                       " (snapshot format 1, store manifest 1, shm layout " +
                       std::to_string(LibraryVersion().shm_layout) + ")\n");
}

}  // namespace
}  // namespace trackstore
