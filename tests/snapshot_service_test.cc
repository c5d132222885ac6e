// Tests of SnapshotService: the metadata kept with each store version
// (doc/behaviour.md section 4), the validity checks in their order (section 5) and
// the force-scan rule (section 8), with an injected clock for every
// boundary.
#include "trackstore/snapshot_service.h"

#include <sys/stat.h>

#include <cstring>
#include <filesystem>
#include <functional>
#include <limits>

#include "service_test_util.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore {
namespace {

using testing::DirContents;
using testing::FaultEnv;
using testing::FileNames;
using ::testing::HasSubstr;
using testing::kHour;
using testing::kStartTime;
using testing::MakeTrack;
using testing::MakeTracks;
using testing::ReadFileBytes;
using testing::ReplaceFileBytes;
using testing::ServiceTest;
using testing::SetMtime;
using ::testing::StartsWith;
using Check = Validity::Check;

std::vector<TrackRecord> Records(const Version& v) {
  std::vector<TrackRecord> out;
  for (TrackView t : v) out.push_back(t.ToRecord());
  return out;
}

class SnapshotServiceTest : public ServiceTest {
 protected:
  // A version of `n` tracks with metadata taken now, of the library's
  // current mtime.
  void WriteValid(SnapshotService& service, size_t n = 20) {
    ASSERT_OK(service.SaveSnapshot(MakeTracks(n)).status());
    SnapshotMetadata m;
    m.last_full_scan = now_;
    m.library_mtime = *service.LibraryMtime();
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

  // The current version's tracks, read from the store directly.
  std::vector<TrackRecord> CurrentTracks(SnapshotService& service) {
    Result<Store*> store = service.store();
    EXPECT_OK(store.status());
    if (!store.ok()) return {};
    Result<Version> v = (*store)->Current();
    EXPECT_OK(v.status());
    return v.ok() ? Records(*v) : std::vector<TrackRecord>{};
  }

  // The current version's delta state, if it has a readable one.
  static std::optional<DeltaState> StoredDelta(const SnapshotService& service) {
    Result<DeltaState> d = service.ReadDeltaState();
    if (!d.ok()) return std::nullopt;
    return std::move(d).value();
  }

  // Flips one bit of the newest manifest (its checksum then fails).
  void DamageNewestManifest() {
    const std::string path = Manifests().back();
    std::string bytes = ReadFileBytes(path);
    bytes[bytes.size() / 2] ^= 0x01;
    ReplaceFileBytes(path, bytes);
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

// Every field the caller sets reads back exactly; track_count and
// snapshot_hash are the version's own.
TEST_F(SnapshotServiceTest, MetadataReadsBackExactlyAsWritten) {
  SnapshotService service(Options());
  Result<CommitStats> saved = service.SaveSnapshot(MakeTracks(5));
  ASSERT_OK(saved.status());
  SnapshotMetadata m;
  m.last_full_scan = std::numeric_limits<Micros>::max();
  m.library_mtime = -1'234'567;  // before 1970
  m.track_count = std::numeric_limits<uint64_t>::max();
  m.snapshot_hash = "00112233445566778899aabbccddeeff";
  for (std::optional<Micros> force :
       {std::optional<Micros>(), std::optional<Micros>(kStartTime + 1),
        std::optional<Micros>(std::numeric_limits<Micros>::min())}) {
    m.last_force_scan = force;
    ASSERT_OK(service.WriteMetadata(m));
    Result<SnapshotMetadata> back = service.ReadMetadata();
    ASSERT_OK(back.status());
    SnapshotMetadata expected = m;
    expected.track_count = 5;
    expected.snapshot_hash = saved->content_hash;
    EXPECT_EQ(*back, expected);
  }
}

// Metadata is kept with a version: without one there is nothing to keep it
// with, and nothing is written (not even the store's layout).
TEST_F(SnapshotServiceTest, WriteMetadataWithoutAVersionIsNotFoundAndWritesNothing) {
  SnapshotService service(Options());
  EXPECT_TRUE(service.WriteMetadata(SnapshotMetadata()).IsNotFound());
  EXPECT_TRUE(FileNames(service_dir()).empty());

  ASSERT_OK(service.store().status());  // a store without versions
  const auto before = DirContents(service_dir());
  EXPECT_TRUE(service.WriteMetadata(SnapshotMetadata()).IsNotFound());
  EXPECT_EQ(DirContents(service_dir()), before);
  EXPECT_TRUE(Manifests().empty());
}

TEST_F(SnapshotServiceTest, MissingMetadataIsNotFound) {
  // No store directory at all; reading does not create it.
  std::filesystem::remove(service_dir());
  SnapshotService service(Options());
  EXPECT_TRUE(service.ReadMetadata().status().IsNotFound());
  EXPECT_EQ(service.CheckValidity().failed, Check::kMetadata);
  EXPECT_FALSE(std::filesystem::exists(service_dir()));

  // A store without versions.
  ASSERT_OK(service.store().status());
  EXPECT_TRUE(service.ReadMetadata().status().IsNotFound());
  EXPECT_EQ(service.CheckValidity().failed, Check::kMetadata);

  // A version without metadata.
  ASSERT_OK(service.SaveSnapshot(MakeTracks(3)).status());
  EXPECT_TRUE(service.ReadMetadata().status().IsNotFound());
  EXPECT_EQ(service.CheckValidity().failed, Check::kMetadata);
}

TEST_F(SnapshotServiceTest, AnEmptyDirectoryIsNoMetadata) {
  SnapshotService service(Options());  // the fixture's directory exists, empty
  EXPECT_TRUE(service.ReadMetadata().status().IsNotFound());
  Validity v = service.CheckValidity();
  EXPECT_EQ(v.failed, Check::kMetadata);
  EXPECT_THAT(v.reason, StartsWith("no usable metadata"));
  EXPECT_TRUE(FileNames(service_dir()).empty());
}

TEST_F(SnapshotServiceTest, UnreadableManifestIsNoMetadata) {
  SnapshotService service(Options());
  WriteValid(service);
  for (const std::string& path : Manifests()) {
    std::filesystem::remove(path);
    std::filesystem::create_directory(path);  // read fails: not a regular file
  }
  EXPECT_FALSE(service.ReadMetadata().ok());
  Validity v = service.CheckValidity();
  EXPECT_EQ(v.failed, Check::kMetadata);
  EXPECT_THAT(v.reason, StartsWith("no usable metadata"));
}

// A damaged manifest (empty, garbage, torn, one bit flipped) is not a
// version: with no other version there is no metadata.
TEST_F(SnapshotServiceTest, CorruptOrPartialManifestIsNoMetadata) {
  SnapshotService service(Options());
  WriteValid(service);  // version 1: the tracks; version 2: with the metadata
  ASSERT_EQ(Manifests().size(), 2u);
  std::filesystem::remove(Manifests().front());  // only the version with metadata is left
  const std::string path = Manifests().back();
  const std::string good = ReadFileBytes(path);
  ASSERT_TRUE(SnapshotService(Options()).CheckValidity().valid);

  std::string flipped = good;
  flipped[flipped.size() / 3] ^= 0x04;
  const std::vector<std::string> cases = {
      "",
      "garbage",
      good.substr(0, good.size() / 2),  // a torn write
      good.substr(0, good.rfind("checksum")),
      flipped,
  };
  for (const std::string& bytes : cases) {
    ReplaceFileBytes(path, bytes);
    SnapshotService reader(Options());
    Result<SnapshotMetadata> m = reader.ReadMetadata();
    EXPECT_FALSE(m.ok()) << bytes;
    Validity v = reader.CheckValidity();
    EXPECT_FALSE(v.valid) << bytes;
    EXPECT_EQ(v.failed, Check::kMetadata) << bytes;
    EXPECT_THAT(v.reason, StartsWith("no usable metadata")) << bytes;
    EXPECT_EQ(reader.CheckForceScan().reason, "first run") << bytes;
  }
}

// The newest manifest damaged: the version before it is current, with its
// own tracks and metadata.
TEST_F(SnapshotServiceTest, DamagedNewestManifestFallsBackToThePreviousVersion) {
  SnapshotService service(Options());
  WriteValid(service, 20);
  const SnapshotMetadata first = *service.ReadMetadata();
  now_ += kHour;
  CommitOptions c;  // new tracks and new metadata in one commit
  c.service = ServiceMetadata{kMetadataFormatVersion, now_, first.library_mtime, std::nullopt};
  ASSERT_OK((*service.store())->Replace(MakeTracks(30), c).status());
  ASSERT_EQ(service.ReadMetadata()->track_count, 30u);
  ASSERT_EQ(service.ReadMetadata()->last_full_scan, now_);

  DamageNewestManifest();
  Result<SnapshotMetadata> m = service.ReadMetadata();
  ASSERT_OK(m.status());
  EXPECT_EQ(*m, first);
  std::optional<Version> opened;
  Validity v = service.CheckValidity(&opened);
  EXPECT_TRUE(v.valid) << v.reason;
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(Records(*opened), MakeTracks(20));
}

// SnapshotMetadata's JSON form, for tools.
TEST(SnapshotMetadataJsonTest, RoundTripsExactly) {
  SnapshotMetadata m;
  m.last_full_scan = std::numeric_limits<Micros>::max();
  m.library_mtime = -1'234'567;
  m.track_count = std::numeric_limits<uint64_t>::max();
  m.snapshot_hash = "00112233445566778899aabbccddeeff";
  for (std::optional<Micros> force :
       {std::optional<Micros>(), std::optional<Micros>(kStartTime + 1)}) {
    m.last_force_scan = force;
    Result<std::string> json = m.ToJson();
    ASSERT_OK(json.status());
    Result<SnapshotMetadata> back = SnapshotMetadata::FromJson(*json, "test");
    ASSERT_OK(back.status());
    EXPECT_EQ(*back, m);
  }
}

TEST(SnapshotMetadataJsonTest, ToJsonRejectsAHashThatIsNotUtf8) {
  SnapshotMetadata m;
  m.snapshot_hash = "bad\xff";
  EXPECT_TRUE(m.ToJson().status().IsInvalidArgument());
}

TEST(SnapshotMetadataJsonTest, FromJsonRejectsBrokenPartialOrIncompleteText) {
  SnapshotMetadata m;
  m.last_full_scan = 1;
  m.library_mtime = 2;
  m.track_count = 3;
  m.snapshot_hash = "x";
  const std::string good = *m.ToJson();
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
    Result<SnapshotMetadata> back = SnapshotMetadata::FromJson(text, "meta.json");
    EXPECT_TRUE(back.status().IsInvalidArgument()) << text << " -> " << back.status().ToString();
    EXPECT_THAT(back.status().message(), HasSubstr("meta.json")) << text;
  }
}

// --- section 5: validity ----------------------------------------------------

TEST_F(SnapshotServiceTest, ValidWhenEverythingMatches) {
  SnapshotService service(Options());
  WriteValid(service);
  std::optional<Version> opened;
  Validity v = service.CheckValidity(&opened);
  EXPECT_TRUE(v.valid) << v.reason;
  EXPECT_EQ(v.failed, Check::kNone);
  EXPECT_EQ(v.reason, "library unchanged since the last full scan 0.0 s ago");
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->size(), 20u);
  EXPECT_EQ(Records(*opened), MakeTracks(20));
  EXPECT_EQ(opened->content_hash(), service.ReadMetadata()->snapshot_hash);
}

TEST_F(SnapshotServiceTest, ValidEmptySnapshotIsValid) {
  SnapshotService service(Options());
  WriteValid(service, 0);
  std::optional<Version> opened;
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
  EXPECT_EQ(v.reason, "no usable metadata: version 1 has none");
}

TEST_F(SnapshotServiceTest, Step2OtherFormatVersionIsInvalid) {
  SnapshotService service(Options());
  WriteValid(service);
  EditMetadata(service, [](SnapshotMetadata& m) { m.format_version = kMetadataFormatVersion + 1; });
  Validity v = service.CheckValidity();
  EXPECT_EQ(v.failed, Check::kFormatVersion);
  EXPECT_EQ(v.reason, "metadata format version 2, this build uses 1");
  EXPECT_EQ(service.ReadMetadata()->format_version, 2);  // read back as written
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

TEST_F(SnapshotServiceTest, RelativeStoreDirectorySurvivesChdir) {
  const std::filesystem::path before = std::filesystem::current_path();
  std::filesystem::current_path(tmp_.path());
  ServiceOptions o = Options();
  o.directory = "relative-store";
  SnapshotService service(o);
  std::filesystem::current_path("/");
  Result<CommitStats> saved = service.SaveSnapshot(MakeTracks(3));
  std::filesystem::current_path(before);
  ASSERT_OK(saved.status());
  EXPECT_TRUE(std::filesystem::is_directory(tmp_.path() + "/relative-store/manifests"));
  EXPECT_FALSE(std::filesystem::exists("/relative-store"));
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

// The library's mtime is read through the service's Env: a failed stat is
// an error value, and the validity check says the library is the problem.
TEST_F(SnapshotServiceTest, Step3FailedLibraryStatIsAnErrorNotACrash) {
  FaultEnv env;
  ServiceOptions o = Options();
  o.env = &env;
  SnapshotService service(o);
  WriteValid(service);
  env.FailEvery(testing::Ops({testing::Op::kGetFileInfo}));
  Result<Micros> mtime = service.LibraryMtime();
  ASSERT_FALSE(mtime.ok());
  EXPECT_TRUE(mtime.status().IsIOError()) << mtime.status().ToString();
  EXPECT_THAT(mtime.status().message(), HasSubstr(library()));
  Validity v = service.CheckValidity();
  EXPECT_EQ(v.failed, Check::kLibrary);
  EXPECT_THAT(v.reason, HasSubstr("cannot read the library file's modification time"));
  EXPECT_THAT(v.reason, HasSubstr("injected failure of GetFileInfo"));
  env.FailEvery({});
  EXPECT_TRUE(service.CheckValidity().valid);
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
  Validity v = service.CheckValidity();
  EXPECT_TRUE(v.valid);
  EXPECT_THAT(v.reason, HasSubstr("no age limit"));
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
  const std::vector<std::string> fragments = Fragments();
  ASSERT_EQ(fragments.size(), 1u);
  std::filesystem::remove(fragments[0]);
  Validity v = service.CheckValidity();
  EXPECT_EQ(v.failed, Check::kSnapshotMissing);
  // The reason names the file, not a garbage collection that did not happen.
  EXPECT_EQ(v.reason, "version 2 has a missing file: " + fragments[0]);
}

// A delta fragment missing is as much a missing file as the base.
TEST_F(SnapshotServiceTest, Step5MissingDeltaFragmentIsInvalid) {
  SnapshotService service(Options());
  ASSERT_OK(service.SaveSnapshot(MakeTracks(20)).status());
  const std::vector<std::string> base = Fragments();
  ASSERT_OK(service.CommitDelta(std::vector<TrackRecord>{MakeTrack(50)}).status());
  SnapshotMetadata m;
  m.last_full_scan = now_;
  m.library_mtime = *service.LibraryMtime();
  ASSERT_OK(service.WriteMetadata(m));
  ASSERT_TRUE(service.CheckValidity().valid);
  for (const std::string& f : Fragments()) {
    if (std::find(base.begin(), base.end(), f) == base.end()) std::filesystem::remove(f);
  }
  EXPECT_EQ(service.CheckValidity().failed, Check::kSnapshotMissing);
}

// Deliberate (validity step 6): the metadata's hash and count are the
// version's own, so metadata written with other ones cannot make a version
// disagree with its metadata.
TEST_F(SnapshotServiceTest, Step6HashWrittenIntoTheMetadataIsTheVersionsOwn) {
  SnapshotService service(Options());
  WriteValid(service);
  const std::string real = service.ReadMetadata()->snapshot_hash;
  ASSERT_EQ(real.size(), 32u);
  EditMetadata(service, [](SnapshotMetadata& m) { m.snapshot_hash = std::string(32, '0'); });
  EXPECT_EQ(service.ReadMetadata()->snapshot_hash, real);
  Validity v = service.CheckValidity();
  EXPECT_TRUE(v.valid) << v.reason;
}

TEST_F(SnapshotServiceTest, Step6TrackCountWrittenIntoTheMetadataIsTheVersionsOwn) {
  SnapshotService service(Options());
  WriteValid(service);
  EditMetadata(service, [](SnapshotMetadata& m) { m.track_count += 1; });
  EXPECT_EQ(service.ReadMetadata()->track_count, 20u);
  std::optional<Version> opened;
  Validity v = service.CheckValidity(&opened);
  EXPECT_TRUE(v.valid) << v.reason;
  ASSERT_TRUE(opened.has_value());
  EXPECT_EQ(opened->size(), 20u);
}

TEST_F(SnapshotServiceTest, Step6CorruptSnapshotIsInvalid) {
  SnapshotService service(Options());
  WriteValid(service);
  const std::vector<std::string> fragments = Fragments();
  ASSERT_EQ(fragments.size(), 1u);
  const std::string good = ReadFileBytes(fragments[0]);
  ASSERT_GT(good.size(), 64u + 9u);  // past the header: a payload byte
  std::string bytes = good;
  bytes[bytes.size() - 9] ^= 0x10;
  ReplaceFileBytes(fragments[0], bytes);
  Validity v = service.CheckValidity();
  EXPECT_EQ(v.failed, Check::kSnapshotContent);
  EXPECT_THAT(v.reason, StartsWith("snapshot fails verification: Hash mismatch"));

  ReplaceFileBytes(fragments[0], "not a snapshot at all");
  v = service.CheckValidity();
  EXPECT_EQ(v.failed, Check::kSnapshotContent);
  EXPECT_THAT(v.reason, StartsWith("snapshot fails verification"));

  ReplaceFileBytes(fragments[0], good.substr(0, good.size() - 1));  // truncated
  EXPECT_EQ(service.CheckValidity().failed, Check::kSnapshotContent);

  ReplaceFileBytes(fragments[0], good);
  EXPECT_TRUE(service.CheckValidity().valid);
}

TEST_F(SnapshotServiceTest, Step6CorruptDeltaFragmentIsInvalid) {
  SnapshotService service(Options());
  WriteValid(service);
  const std::vector<std::string> base = Fragments();
  std::vector<TrackRecord> updates = {MakeTrack(3), MakeTrack(40)};
  updates[0].name = "changed";
  ASSERT_OK(service.CommitDelta(updates).status());
  ASSERT_TRUE(service.CheckValidity().valid);
  for (const std::string& f : Fragments()) {
    if (std::find(base.begin(), base.end(), f) != base.end()) continue;
    std::string bytes = ReadFileBytes(f);
    bytes[bytes.size() - 5] ^= 0x01;
    ReplaceFileBytes(f, bytes);
  }
  EXPECT_EQ(service.CheckValidity().failed, Check::kSnapshotContent);
}

// Tracks and metadata are one commit: a write of the service that fails at
// any file operation leaves the previous version current and valid, with its
// own tracks and metadata, and leaves no temporary file behind; the same
// write then succeeds.
TEST_F(SnapshotServiceTest, FailedWriteAtAnyFileOperationKeepsThePreviousVersionValid) {
  FaultEnv env;
  env.set_partial_writes(true);  // a failed write leaves half of its bytes, as a full disk would
  ServiceOptions o = Options();
  o.env = &env;
  o.store.sync = true;  // directory syncs are operations that can fail too
  SnapshotService service(o);
  WriteValid(service, 20);

  struct Write {
    const char* what;
    std::function<Status()> run;
  };
  const Write writes[] = {
      {"WriteMetadata",
       [&] {
         SnapshotMetadata m = *service.ReadMetadata();
         m.library_mtime += 1;
         return service.WriteMetadata(m);
       }},
      {"RecordForceScan", [&] { return service.RecordForceScan(); }},
      {"SaveDeltaState",
       [&] {
         DeltaState d;
         d.last_run = now_;
         d.processed_ids = {"a"};
         return service.SaveDeltaState(d);
       }},
      {"SaveSnapshot", [&] { return service.SaveSnapshot(MakeTracks(21)).status(); }},
  };
  for (const Write& w : writes) {
    for (int k = 1;; ++k) {
      now_ += kMicrosPerSecond;
      const SnapshotMetadata before = *service.ReadMetadata();
      const std::vector<TrackRecord> before_tracks = CurrentTracks(service);
      const std::optional<DeltaState> before_delta = StoredDelta(service);
      const size_t versions = Manifests().size();
      env.FailAt(k, FaultEnv::Action::kFail, testing::ChangingOps());
      const Status s = w.run();
      if (!env.failed()) {  // k is past the last operation: the write succeeded
        ASSERT_OK(s) << w.what;
        break;
      }
      const bool published = env.manifest_published();
      env.FailAt(0);
      // After the commit point only syncing the manifest directory fails the
      // call; a failed compaction or gc after it leaves the write done.
      if (!published) {
        EXPECT_FALSE(s.ok()) << w.what << ", operation " << k;
      }
      EXPECT_TRUE(FileNames(file("tmp")).empty()) << w.what << ", operation " << k;
      std::optional<Version> current;
      Validity v = service.CheckValidity(&current);
      ASSERT_TRUE(v.valid) << w.what << ", operation " << k << ": " << v.reason;
      if (!published) {  // failed before the commit point
        EXPECT_EQ(Manifests().size(), versions) << w.what << ", operation " << k;
        EXPECT_EQ(*service.ReadMetadata(), before) << w.what << ", operation " << k;
        EXPECT_EQ(Records(*current), before_tracks) << w.what << ", operation " << k;
        EXPECT_EQ(StoredDelta(service), before_delta) << w.what << ", operation " << k;
      }
      // The same write, retried without a failure, succeeds.
      ASSERT_OK(w.run()) << w.what << ", operation " << k;
    }
  }
  EXPECT_EQ(CurrentTracks(service), MakeTracks(21));
}

TEST_F(SnapshotServiceTest, FirstFailureWins) {
  SnapshotService service(Options());
  // Nothing at all: metadata is reported, not the missing snapshot.
  EXPECT_EQ(service.CheckValidity().failed, Check::kMetadata);

  WriteValid(service);
  LibraryChangedAndScanAged(service, 48 * kHour);
  // The version's files are taken away (and brought back to write).
  auto hide = [&] { std::filesystem::rename(file("fragments"), file("fragments.away")); };
  auto restore = [&] { std::filesystem::rename(file("fragments.away"), file("fragments")); };
  hide();
  EXPECT_EQ(service.CheckValidity().failed, Check::kMaxAge);  // before step 5

  SetMtime(library(), kStartTime);
  std::filesystem::remove(library());
  EXPECT_EQ(service.CheckValidity().failed, Check::kLibrary);  // before step 4

  restore();
  EditMetadata(service, [](SnapshotMetadata& m) { m.format_version = 7; });
  hide();
  EXPECT_EQ(service.CheckValidity().failed, Check::kFormatVersion);  // before step 3
}

TEST_F(SnapshotServiceTest, OpenedSnapshotIsHandedOverOnlyWhenValid) {
  SnapshotService service(Options());
  WriteValid(service);
  std::string bytes = ReadFileBytes(Fragments()[0]);
  bytes[bytes.size() - 9] ^= 0x10;
  ReplaceFileBytes(Fragments()[0], bytes);
  std::optional<Version> opened;
  EXPECT_FALSE(service.CheckValidity(&opened).valid);  // step 6 opened it, then it failed
  EXPECT_FALSE(opened.has_value());
}

// SaveSnapshot replaces the tracks and keeps the metadata and delta state:
// the metadata then reports the new version's count and hash.
TEST_F(SnapshotServiceTest, SaveSnapshotKeepsTheMetadataAndDeltaState) {
  SnapshotService service(Options());
  WriteValid(service, 10);
  DeltaState d;
  d.last_run = now_;
  d.processed_ids = {"x"};
  ASSERT_OK(service.SaveDeltaState(d));
  const SnapshotMetadata before = *service.ReadMetadata();
  Result<CommitStats> saved = service.SaveSnapshot(MakeTracks(12));
  ASSERT_OK(saved.status());
  EXPECT_EQ(saved->track_count, 12u);
  EXPECT_EQ(saved->version, 4u);
  SnapshotMetadata after = *service.ReadMetadata();
  EXPECT_EQ(after.track_count, 12u);
  EXPECT_EQ(after.snapshot_hash, saved->content_hash);
  EXPECT_EQ(after.last_full_scan, before.last_full_scan);
  EXPECT_EQ(after.library_mtime, before.library_mtime);
  EXPECT_EQ(*service.ReadDeltaState(), d);
  EXPECT_EQ(CurrentTracks(service), MakeTracks(12));
}

TEST_F(SnapshotServiceTest, SaveSnapshotRejectsEmptyAndDuplicateIdsWritingNothing) {
  SnapshotService service(Options());
  WriteValid(service, 10);
  const auto before = DirContents(service_dir());
  std::vector<TrackRecord> dup = MakeTracks(5);
  dup.push_back(dup[0]);
  EXPECT_TRUE(service.SaveSnapshot(dup).status().IsInvalidArgument());
  std::vector<TrackRecord> empty_id = MakeTracks(5);
  empty_id[2].id.clear();
  EXPECT_TRUE(service.SaveSnapshot(empty_id).status().IsInvalidArgument());
  EXPECT_EQ(DirContents(service_dir()), before);
}

TEST_F(SnapshotServiceTest, CommitDeltaLayersTheUpdatesOnTheCurrentVersion) {
  SnapshotService service(Options());
  WriteValid(service, 10);
  const SnapshotMetadata before = *service.ReadMetadata();
  std::vector<TrackRecord> updates = {MakeTracks(12)[11], MakeTrack(4)};
  updates[1].name = "changed";
  const std::vector<std::string> removed = {MakeTrack(0).id};
  Result<CommitStats> c = service.CommitDelta(updates, removed);
  ASSERT_OK(c.status());
  EXPECT_EQ(c->appended, 1u);
  EXPECT_EQ(c->replaced, 1u);
  EXPECT_EQ(c->removed, 1u);
  EXPECT_EQ(c->track_count, 10u);

  std::vector<TrackRecord> expected = MakeTracks(10);
  expected[4] = updates[1];
  expected.push_back(updates[0]);
  expected.erase(expected.begin());
  std::optional<Version> opened;
  Validity v = service.CheckValidity(&opened);  // the metadata is kept
  ASSERT_TRUE(v.valid) << v.reason;
  EXPECT_EQ(Records(*opened), expected);
  EXPECT_EQ(opened->content_hash(), c->content_hash);
  ASSERT_TRUE(opened->Find(updates[1].id).has_value());
  EXPECT_EQ(opened->Find(updates[1].id)->name(), "changed");
  EXPECT_FALSE(opened->Find(removed[0]).has_value());
  SnapshotMetadata after = *service.ReadMetadata();
  EXPECT_EQ(after.snapshot_hash, c->content_hash);
  EXPECT_EQ(after.last_full_scan, before.last_full_scan);
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
  EXPECT_FALSE(d.days_since_last.has_value());
}

TEST_F(ForceScanTest, NoMetadataIsFirstRun) {
  SnapshotService service(Options());
  ForceScanDecision d = service.CheckForceScan();
  EXPECT_FALSE(d.due);
  EXPECT_EQ(d.reason, "first run");
  EXPECT_FALSE(d.days_since_last.has_value());
  ASSERT_OK(service.SaveSnapshot(MakeTracks(2)).status());  // a version without metadata
  EXPECT_EQ(service.CheckForceScan().reason, "first run");
  WriteValid(service);
  LastForceScanAgo(service, 30 * kMicrosPerDay);
  ASSERT_TRUE(service.CheckForceScan().due);
  for (const std::string& path : Manifests()) {
    testing::ReplaceFileBytes(path, "{broken");
  }
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
  DeltaState d;
  d.last_run = now_;
  d.processed_ids = {"kept"};
  ASSERT_OK(service.SaveDeltaState(d));
  SnapshotMetadata before = *service.ReadMetadata();
  const std::vector<TrackRecord> tracks = CurrentTracks(service);
  now_ += 3 * kHour;
  ASSERT_OK(service.RecordForceScan());
  SnapshotMetadata after = *service.ReadMetadata();
  EXPECT_EQ(after.last_force_scan, now_);
  after.last_force_scan.reset();
  EXPECT_EQ(after, before);
  EXPECT_EQ(CurrentTracks(service), tracks);
  EXPECT_EQ(*service.ReadDeltaState(), d);
  EXPECT_TRUE(service.CheckValidity().valid);
  EXPECT_EQ(service.CheckForceScan().reason, "fast mode");
}

TEST_F(ForceScanTest, RecordingWithoutMetadataWritesNothing) {
  SnapshotService service(Options());
  ASSERT_OK(service.RecordForceScan());  // no store
  EXPECT_TRUE(DirContents(service_dir()).empty());
  EXPECT_TRUE(FileNames(service_dir()).empty());

  ASSERT_OK(service.SaveSnapshot(MakeTracks(3)).status());  // a version without metadata
  const auto before = DirContents(service_dir());
  ASSERT_OK(service.RecordForceScan());
  EXPECT_EQ(DirContents(service_dir()), before);
  EXPECT_TRUE(service.ReadMetadata().status().IsNotFound());
}

TEST_F(ForceScanTest, RecordingWhenDisabledWritesNothing) {
  SnapshotService writer(Options());
  WriteValid(writer);
  const auto before = DirContents(service_dir());
  ServiceOptions o = Options();
  o.enabled = false;
  SnapshotService disabled(o);
  ASSERT_OK(disabled.RecordForceScan());
  EXPECT_EQ(DirContents(service_dir()), before);
  EXPECT_FALSE(writer.ReadMetadata()->last_force_scan.has_value());
}

}  // namespace
}  // namespace trackstore
