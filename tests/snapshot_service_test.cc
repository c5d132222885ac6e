// Tests of SnapshotService: the metadata file (SPEC.md section 4), the
// validity checks in their order (section 5) and the force-scan rule
// (section 8), with an injected clock for every boundary.
#include "trackstore/snapshot_service.h"

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <limits>

#include "service_test_util.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore {
namespace {

using testing::DirContents;
using ::testing::HasSubstr;
using testing::kHour;
using testing::kStartTime;
using testing::MakeTracks;
using testing::ReadFileBytes;
using testing::ServiceTest;
using testing::SetMtime;
using ::testing::StartsWith;
using testing::WriteFileBytes;
using Check = Validity::Check;

class SnapshotServiceTest : public ServiceTest {
 protected:
  // A snapshot of `n` tracks with matching metadata taken now, of the
  // library's current mtime.
  void WriteValid(SnapshotService& service, size_t n = 20) {
    Result<WriteResult> w = service.SaveSnapshot(MakeTracks(n));
    ASSERT_OK(w.status());
    SnapshotMetadata m;
    m.last_full_scan = now_;
    m.library_mtime = *service.LibraryMtime();
    m.track_count = w->track_count;
    m.snapshot_hash = w->content_hash;
    ASSERT_OK(service.WriteMetadata(m));
  }

  // Rewrites the metadata through `edit`.
  template <typename Fn>
  void EditMetadata(SnapshotService& service, Fn edit) {
    Result<SnapshotMetadata> m = service.ReadMetadata();
    ASSERT_OK(m.status());
    edit(*m);
    ASSERT_OK(service.WriteMetadata(*m));
  }

  // The library changed after the snapshot and the last scan is `age` ago.
  void LibraryChangedAndScanAged(SnapshotService& service, Micros age) {
    SetMtime(library(), kStartTime);
    EditMetadata(service, [&](SnapshotMetadata& m) { m.last_full_scan = now_ - age; });
  }
};

// --- section 4: metadata ----------------------------------------------------

TEST_F(SnapshotServiceTest, DefaultsMatchSpec) {
  ServiceOptions o;
  EXPECT_TRUE(o.enabled);
  EXPECT_TRUE(o.delta_enabled);
  EXPECT_EQ(o.max_age, 24 * kHour);
  EXPECT_TRUE(o.library_path.empty());
  EXPECT_EQ(o.env, nullptr);
  EXPECT_TRUE(static_cast<bool>(o.clock));
}

TEST_F(SnapshotServiceTest, MetadataReadsBackExactlyAsWritten) {
  SnapshotService service(Options());
  SnapshotMetadata m;
  m.last_full_scan = std::numeric_limits<Micros>::max();
  m.library_mtime = -1'234'567;  // before 1970
  m.track_count = std::numeric_limits<uint64_t>::max();
  m.snapshot_hash = "00112233445566778899aabbccddeeff";
  for (std::optional<Micros> force :
       {std::optional<Micros>(), std::optional<Micros>(kStartTime + 1)}) {
    m.last_force_scan = force;
    ASSERT_OK(service.WriteMetadata(m));
    Result<SnapshotMetadata> back = service.ReadMetadata();
    ASSERT_OK(back.status());
    EXPECT_EQ(*back, m);
  }
}

TEST_F(SnapshotServiceTest, MissingMetadataIsNotFound) {
  SnapshotService service(Options());
  EXPECT_TRUE(service.ReadMetadata().status().IsNotFound());
}

TEST_F(SnapshotServiceTest, UnreadableMetadataIsAnError) {
  SnapshotService service(Options());
  std::filesystem::create_directory(file(kMetadataFileName));  // read(2) fails: EISDIR
  EXPECT_FALSE(service.ReadMetadata().ok());
  EXPECT_EQ(service.CheckValidity().failed, Check::kMetadata);
}

TEST_F(SnapshotServiceTest, CorruptPartialOrIncompleteMetadataIsNoMetadata) {
  SnapshotService service(Options());
  WriteValid(service);
  const std::string good = ReadFileBytes(file(kMetadataFileName));
  std::vector<std::string> cases = {
      "",
      "garbage",
      good.substr(0, good.size() / 2),  // a torn write
      "[1,2]",
      R"({"format_version":1,"last_full_scan":1,"library_mtime":1,"track_count":-1,"snapshot_hash":"x"})",
      R"({"format_version":1,"last_full_scan":1.5,"library_mtime":1,"track_count":1,"snapshot_hash":"x"})",
      R"({"format_version":1,"last_full_scan":1,"library_mtime":1,"track_count":1,"snapshot_hash":7})",
      R"({"format_version":1,"last_full_scan":1,"library_mtime":1,"track_count":1,"snapshot_hash":"x","last_force_scan":"x"})",
      R"({"format_version":1,"last_full_scan":1,"library_mtime":18446744073709551615,"track_count":1,"snapshot_hash":"x"})",
  };
  for (const char* field :
       {"format_version", "last_full_scan", "library_mtime", "track_count", "snapshot_hash"}) {
    std::string text = good;
    const size_t at = text.find(std::string("\"") + field + "\"");
    ASSERT_NE(at, std::string::npos) << field;
    text.replace(at, 1 + std::strlen(field), std::string("\"x") + field);  // rename the key
    cases.push_back(text);
  }
  for (const std::string& text : cases) {
    WriteFileBytes(file(kMetadataFileName), text);
    Result<SnapshotMetadata> m = service.ReadMetadata();
    EXPECT_TRUE(m.status().IsInvalidArgument()) << text << " -> " << m.status().ToString();
    Validity v = service.CheckValidity();
    EXPECT_FALSE(v.valid) << text;
    EXPECT_EQ(v.failed, Check::kMetadata) << text;
    EXPECT_THAT(v.reason, StartsWith("no usable metadata")) << text;
  }
}

// --- section 5: validity ----------------------------------------------------

TEST_F(SnapshotServiceTest, ValidWhenEverythingMatches) {
  SnapshotService service(Options());
  WriteValid(service);
  std::optional<Snapshot> opened;
  Validity v = service.CheckValidity(&opened);
  EXPECT_TRUE(v.valid) << v.reason;
  EXPECT_EQ(v.failed, Check::kNone);
  EXPECT_EQ(v.reason, "library unchanged since the last full scan 0.0 s ago");
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->size(), 20u);
}

TEST_F(SnapshotServiceTest, ValidEmptySnapshotIsValid) {
  SnapshotService service(Options());
  WriteValid(service, 0);
  std::optional<Snapshot> opened;
  EXPECT_TRUE(service.CheckValidity(&opened).valid);
  ASSERT_TRUE(opened.has_value());
  EXPECT_TRUE(opened->empty());
}

TEST_F(SnapshotServiceTest, Step1MissingMetadataIsInvalid) {
  SnapshotService service(Options());
  ASSERT_OK(service.SaveSnapshot(MakeTracks(3)).status());
  Validity v = service.CheckValidity();
  EXPECT_FALSE(v.valid);
  EXPECT_EQ(v.failed, Check::kMetadata);
  EXPECT_THAT(v.reason, HasSubstr(kMetadataFileName));
}

TEST_F(SnapshotServiceTest, Step2OtherFormatVersionIsInvalid) {
  SnapshotService service(Options());
  WriteValid(service);
  EditMetadata(service, [](SnapshotMetadata& m) { m.format_version = kMetadataFormatVersion + 1; });
  Validity v = service.CheckValidity();
  EXPECT_EQ(v.failed, Check::kFormatVersion);
  EXPECT_EQ(v.reason, "metadata format version 2, this build uses 1");
}

TEST_F(SnapshotServiceTest, Step3LibraryNotConfiguredIsInvalid) {
  ServiceOptions o = Options();
  o.library_path.clear();
  SnapshotService service(o);
  ASSERT_OK(service.SaveSnapshot(MakeTracks(3)).status());
  SnapshotMetadata m;
  ASSERT_OK(service.WriteMetadata(m));
  Validity v = service.CheckValidity();
  EXPECT_EQ(v.failed, Check::kLibrary);
  EXPECT_EQ(v.reason, "library file not configured");
}

// A relative library path is resolved once, when the service is created:
// a later chdir of the process does not make the library missing.
TEST_F(SnapshotServiceTest, RelativeLibraryPathSurvivesChdir) {
  const std::filesystem::path before = std::filesystem::current_path();
  std::filesystem::current_path(tmp_.path());
  ServiceOptions o = Options();
  o.library_path = "Library.musiclibrary";
  SnapshotService service(o);
  std::filesystem::current_path("/");
  Result<Micros> mtime = service.LibraryMtime();
  std::filesystem::current_path(before);
  ASSERT_OK(mtime.status());
  EXPECT_EQ(*mtime, kStartTime - kHour);
  EXPECT_EQ(service.options().library_path,
            (std::filesystem::absolute(tmp_.path()) / "Library.musiclibrary").string());
}

TEST_F(SnapshotServiceTest, Step3MissingLibraryFileIsInvalid) {
  SnapshotService service(Options());
  WriteValid(service);
  std::filesystem::remove(library());
  Validity v = service.CheckValidity();
  EXPECT_EQ(v.failed, Check::kLibrary);
  EXPECT_THAT(v.reason, HasSubstr("cannot read the library file's modification time"));
  EXPECT_THAT(v.reason, HasSubstr(library()));
}

TEST_F(SnapshotServiceTest, LibraryMtimeIsTheFilesMtimeInUtcMicros) {
  SnapshotService service(Options());
  SetMtime(library(), kStartTime + 123'456);
  EXPECT_EQ(*service.LibraryMtime(), kStartTime + 123'456);
  struct stat st;
  ASSERT_EQ(::stat(library().c_str(), &st), 0);
  EXPECT_EQ(*service.LibraryMtime(),
            st.st_mtim.tv_sec * kMicrosPerSecond + st.st_mtim.tv_nsec / 1000);
}

TEST_F(SnapshotServiceTest, Step4UnchangedLibrarySkipsTheAgeCheck) {
  SnapshotService service(Options());
  WriteValid(service);
  now_ += 100 * kMicrosPerDay;
  EXPECT_TRUE(service.CheckValidity().valid);
  EXPECT_THAT(service.CheckValidity().reason, HasSubstr("library unchanged"));
  SetMtime(library(), kStartTime - 2 * kHour);  // older than recorded: also unchanged
  EXPECT_TRUE(service.CheckValidity().valid);
}

TEST_F(SnapshotServiceTest, Step4ChangedLibraryExactlyMaxAgeIsValid) {
  SnapshotService service(Options());
  WriteValid(service);
  LibraryChangedAndScanAged(service, 24 * kHour);
  Validity v = service.CheckValidity();
  EXPECT_TRUE(v.valid) << v.reason;
  EXPECT_EQ(
      v.reason,
      "library changed since the last full scan 24.0 h ago, within the maximum age of 24.0 h");
}

TEST_F(SnapshotServiceTest, Step4ChangedLibraryOneMicrosecondPastMaxAgeIsInvalid) {
  SnapshotService service(Options());
  WriteValid(service);
  LibraryChangedAndScanAged(service, 24 * kHour + 1);
  Validity v = service.CheckValidity();
  EXPECT_FALSE(v.valid);
  EXPECT_EQ(v.failed, Check::kMaxAge);
}

TEST_F(SnapshotServiceTest, Step4ReasonSaysHowOldAndTheLimit) {
  SnapshotService service(Options());
  WriteValid(service);
  LibraryChangedAndScanAged(service, 26 * kHour);
  EXPECT_EQ(service.CheckValidity().reason,
            "snapshot older than the maximum age: last full scan 26.0 h ago, limit 24.0 h");
}

TEST_F(SnapshotServiceTest, Step4LastFullScanInTheFutureIsValid) {
  SnapshotService service(Options());
  WriteValid(service);
  LibraryChangedAndScanAged(service, -5 * kHour);
  Validity v = service.CheckValidity();
  EXPECT_TRUE(v.valid) << v.reason;
  EXPECT_THAT(v.reason, HasSubstr("in the future"));
}

TEST_F(SnapshotServiceTest, Step4MaxAgeZeroMeansNoLimit) {
  ServiceOptions o = Options();
  o.max_age = 0;
  SnapshotService service(o);
  WriteValid(service);
  LibraryChangedAndScanAged(service, 1000 * kMicrosPerDay);
  EXPECT_TRUE(service.CheckValidity().valid);
}

TEST_F(SnapshotServiceTest, Step4CustomMaxAge) {
  ServiceOptions o = Options();
  o.max_age = kHour;
  SnapshotService service(o);
  WriteValid(service);
  LibraryChangedAndScanAged(service, kHour + 30 * kMicrosPerSecond);
  EXPECT_EQ(service.CheckValidity().failed, Check::kMaxAge);
  o.max_age = 90 * kMicrosPerSecond;
  SnapshotService short_limit(o);
  EXPECT_EQ(short_limit.CheckValidity().reason,
            "snapshot older than the maximum age: last full scan 1.0 h ago, limit 1.5 min");
}

TEST_F(SnapshotServiceTest, Step5MissingSnapshotIsInvalidEvenWithAnUnchangedLibrary) {
  SnapshotService service(Options());
  WriteValid(service);
  std::filesystem::remove(file(kSnapshotFileName));
  Validity v = service.CheckValidity();
  EXPECT_EQ(v.failed, Check::kSnapshotMissing);
  EXPECT_EQ(v.reason, "snapshot file missing: " + file(kSnapshotFileName));
}

TEST_F(SnapshotServiceTest, Step6HashDifferingFromMetadataIsInvalid) {
  SnapshotService service(Options());
  WriteValid(service);
  EditMetadata(service, [](SnapshotMetadata& m) { m.snapshot_hash = std::string(32, '0'); });
  Validity v = service.CheckValidity();
  EXPECT_EQ(v.failed, Check::kSnapshotContent);
  EXPECT_THAT(v.reason, HasSubstr("differs from the metadata's"));
}

TEST_F(SnapshotServiceTest, Step6TrackCountDifferingFromMetadataIsInvalid) {
  SnapshotService service(Options());
  WriteValid(service);
  EditMetadata(service, [](SnapshotMetadata& m) { m.track_count += 1; });
  Validity v = service.CheckValidity();
  EXPECT_EQ(v.failed, Check::kSnapshotContent);
  EXPECT_EQ(v.reason, "snapshot holds 20 tracks, the metadata says 21");
}

TEST_F(SnapshotServiceTest, Step6CorruptSnapshotIsInvalid) {
  SnapshotService service(Options());
  WriteValid(service);
  std::string bytes = ReadFileBytes(file(kSnapshotFileName));
  bytes[bytes.size() - 9] ^= 0x10;
  WriteFileBytes(file(kSnapshotFileName), bytes);
  Validity v = service.CheckValidity();
  EXPECT_EQ(v.failed, Check::kSnapshotContent);
  EXPECT_THAT(v.reason, StartsWith("snapshot fails verification"));
  WriteFileBytes(file(kSnapshotFileName), "not a snapshot at all");
  EXPECT_EQ(service.CheckValidity().failed, Check::kSnapshotContent);
}

// A crash after the new snapshot was renamed into place but before its
// metadata was: the old metadata must not vouch for the new snapshot.
TEST_F(SnapshotServiceTest, CrashBetweenSnapshotAndMetadataReadsAsInvalid) {
  SnapshotService service(Options());
  WriteValid(service, 20);
  ASSERT_OK(service.SaveSnapshot(MakeTracks(21)).status());
  EXPECT_EQ(service.CheckValidity().failed, Check::kSnapshotContent);

  // The same with the old snapshot kept and only new metadata written.
  WriteValid(service, 20);
  const std::string old_snapshot = ReadFileBytes(file(kSnapshotFileName));
  WriteValid(service, 22);
  WriteFileBytes(file(kSnapshotFileName), old_snapshot);
  EXPECT_EQ(service.CheckValidity().failed, Check::kSnapshotContent);
}

TEST_F(SnapshotServiceTest, FirstFailureWins) {
  SnapshotService service(Options());
  // Nothing at all: metadata is reported, not the missing snapshot.
  EXPECT_EQ(service.CheckValidity().failed, Check::kMetadata);

  WriteValid(service);
  LibraryChangedAndScanAged(service, 48 * kHour);
  std::filesystem::remove(file(kSnapshotFileName));
  EXPECT_EQ(service.CheckValidity().failed, Check::kMaxAge);  // before step 5

  SetMtime(library(), kStartTime);
  std::filesystem::remove(library());
  EXPECT_EQ(service.CheckValidity().failed, Check::kLibrary);  // before step 4

  EditMetadata(service, [](SnapshotMetadata& m) { m.format_version = 7; });
  EXPECT_EQ(service.CheckValidity().failed, Check::kFormatVersion);  // before step 3
}

TEST_F(SnapshotServiceTest, OpenedSnapshotIsHandedOverOnlyWhenValid) {
  SnapshotService service(Options());
  WriteValid(service);
  EditMetadata(service, [](SnapshotMetadata& m) { m.track_count = 1; });
  std::optional<Snapshot> opened;
  EXPECT_FALSE(service.CheckValidity(&opened).valid);
  EXPECT_FALSE(opened.has_value());
}

TEST_F(SnapshotServiceTest, SaveMergedSnapshotMergesIntoTheServiceFile) {
  SnapshotService service(Options());
  ASSERT_OK(service.SaveSnapshot(MakeTracks(10)).status());
  Result<Snapshot> base = Snapshot::Open(service.snapshot_path());
  ASSERT_OK(base.status());
  std::vector<TrackRecord> updates = {MakeTracks(12)[11]};
  updates[0].name = "changed";
  Result<MergeStats> merged = service.SaveMergedSnapshot(*base, updates);
  ASSERT_OK(merged.status());
  Result<Snapshot> after = Snapshot::Open(service.snapshot_path());
  ASSERT_OK(after.status());
  EXPECT_EQ(after->size(), 11u);
  EXPECT_EQ((*after)[10].name(), "changed");
  EXPECT_EQ(after->content_hash(), merged->written.content_hash);
}

// --- section 8: force scan --------------------------------------------------

class ForceScanTest : public SnapshotServiceTest {
 protected:
  void LastForceScanAgo(SnapshotService& service, Micros ago) {
    EditMetadata(service, [&](SnapshotMetadata& m) { m.last_force_scan = now_ - ago; });
  }
};

TEST_F(ForceScanTest, ForcedIsDueEvenWithoutMetadata) {
  SnapshotService service(Options());
  ForceScanDecision d = service.CheckForceScan(/*forced=*/true);
  EXPECT_TRUE(d.due);
  EXPECT_EQ(d.reason, "forced");
}

TEST_F(ForceScanTest, NoMetadataIsFirstRun) {
  SnapshotService service(Options());
  ForceScanDecision d = service.CheckForceScan();
  EXPECT_FALSE(d.due);
  EXPECT_EQ(d.reason, "first run");
  WriteFileBytes(file(kMetadataFileName), "{broken");
  EXPECT_EQ(service.CheckForceScan().reason, "first run");
}

TEST_F(ForceScanTest, NoLastForceScanIsFirstRun) {
  SnapshotService service(Options());
  WriteValid(service);
  ForceScanDecision d = service.CheckForceScan();
  EXPECT_FALSE(d.due);
  EXPECT_EQ(d.reason, "first run");
}

TEST_F(ForceScanTest, SixDays2359IsFastMode) {
  SnapshotService service(Options());
  WriteValid(service);
  LastForceScanAgo(service, 7 * kMicrosPerDay - 60 * kMicrosPerSecond);
  ForceScanDecision d = service.CheckForceScan();
  EXPECT_FALSE(d.due);
  EXPECT_EQ(d.reason, "fast mode");
  EXPECT_EQ(d.days_since_last, 6);
}

TEST_F(ForceScanTest, ExactlySevenDaysIsWeekly) {
  SnapshotService service(Options());
  WriteValid(service);
  LastForceScanAgo(service, 7 * kMicrosPerDay);
  ForceScanDecision d = service.CheckForceScan();
  EXPECT_TRUE(d.due);
  EXPECT_EQ(d.reason, "weekly");
  EXPECT_EQ(d.days_since_last, 7);
  LastForceScanAgo(service, 30 * kMicrosPerDay);
  EXPECT_TRUE(service.CheckForceScan().due);
}

TEST_F(ForceScanTest, FutureLastForceScanIsFastMode) {
  SnapshotService service(Options());
  WriteValid(service);
  LastForceScanAgo(service, -10 * kMicrosPerDay);
  ForceScanDecision d = service.CheckForceScan();
  EXPECT_FALSE(d.due);
  EXPECT_EQ(d.reason, "fast mode");
  EXPECT_EQ(d.days_since_last, -10);
  LastForceScanAgo(service, -1);  // floor: -1 day, not 0
  EXPECT_EQ(service.CheckForceScan().days_since_last, -1);
}

TEST_F(ForceScanTest, RecordingSetsNowAndKeepsTheOtherFields) {
  SnapshotService service(Options());
  WriteValid(service);
  SnapshotMetadata before = *service.ReadMetadata();
  now_ += 3 * kHour;
  ASSERT_OK(service.RecordForceScan());
  SnapshotMetadata after = *service.ReadMetadata();
  EXPECT_EQ(after.last_force_scan, now_);
  after.last_force_scan.reset();
  EXPECT_EQ(after, before);
  EXPECT_TRUE(service.CheckValidity().valid);
  EXPECT_EQ(service.CheckForceScan().reason, "fast mode");
}

TEST_F(ForceScanTest, RecordingWithoutMetadataWritesNothing) {
  SnapshotService service(Options());
  ASSERT_OK(service.RecordForceScan());
  EXPECT_TRUE(DirContents(service_dir()).empty());
  WriteFileBytes(file(kMetadataFileName), "{\"format_version\":1}");
  ASSERT_OK(service.RecordForceScan());
  EXPECT_EQ(ReadFileBytes(file(kMetadataFileName)), "{\"format_version\":1}");
}

}  // namespace
}  // namespace trackstore
