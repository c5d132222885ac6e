// Adopting the reference application's cache directory into a store and
// writing it back (include/trackstore/reference_files.h): the directory is
// written here as the reference writes it (gzip'd JSON by zlib, the
// metadata and delta files in Python's indent=2 layout), adopted, checked
// through the store and service API, and exported again byte for byte.
// Also the text forms underneath (src/reference_format.h: Python's float
// repr, naive UTC times) and the two CLI commands.
#include "trackstore/reference_files.h"

#include <sys/stat.h>
#include <sys/time.h>

#include <filesystem>
#include <string>
#include <vector>

#include <nlohmann/json.hpp>

#include "cli_test_util.h"
#include "fault_env.h"
#include "gzip_test_util.h"
#include "reference_format.h"
#include "test_util.h"
#include "trackstore/env.h"
#include "trackstore/snapshot_service.h"
#include "trackstore/store.h"

namespace trackstore {
namespace {

using testing::Gunzip;
using testing::Gzip;
using ::testing::HasSubstr;
using testing::ReadFileBytes;
using testing::TempDir;
using testing::WriteFileBytes;

// --- the reference's files, as it writes them ---------------------------------

// json.dumps(payload, ensure_ascii=False) of three tracks: every declared
// field, null where absent, "" where empty, non-ASCII, and extras of every
// JSON type after the fields (their keys sorted, as a store keeps them).
const std::string kSnapshotText =
    "[{\"id\": \"1\", \"name\": \"Blue in Green\", \"artist\": \"Miles Davis\", \"album\": "
    "\"Kind of Blue\", \"genre\": \"Jazz\", \"year\": \"1959\", \"date_added\": \"2020-01-01 "
    "10:00:00\", \"last_modified\": \"\", \"track_status\": \"subscription\", "
    "\"original_artist\": null, \"original_album\": null, \"year_before_mgu\": null, "
    "\"year_set_by_mgu\": null, \"release_year\": \"1959\", \"original_pos\": 3, "
    "\"album_artist\": \"\", \"flags\": [true, false, null], \"loved\": true, \"nested\": "
    "{\"a\": 1, \"b\": {\"c\": \"d\"}}, \"plays\": 12, \"rating\": 4.5, \"tag\": "
    "\"x\\u0001y\u2028/\"}, "
    "{\"id\": \"2\", \"name\": \"Zo\u00eb \U0001F3B5\", \"artist\": \"Sigur R\u00f3s\", "
    "\"album\": \"\", \"genre\": null, \"year\": null, \"date_added\": null, "
    "\"last_modified\": null, \"track_status\": null, \"original_artist\": null, "
    "\"original_album\": null, \"year_before_mgu\": null, \"year_set_by_mgu\": null, "
    "\"release_year\": null, \"original_pos\": null, \"album_artist\": null}, "
    "{\"id\": \"3\", \"name\": \"\", \"artist\": \"\", \"album\": \"A\", \"genre\": \"\", "
    "\"year\": \"\", \"date_added\": null, \"last_modified\": null, \"track_status\": null, "
    "\"original_artist\": \"\", \"original_album\": \"\", \"year_before_mgu\": \"1998\", "
    "\"year_set_by_mgu\": \"2001\", \"release_year\": null, \"original_pos\": -1, "
    "\"album_artist\": null, \"big\": 1e+16, \"small\": 1.5e-07}]";

// hashlib.sha256(json.dumps(payload, ensure_ascii=False, sort_keys=True,
// separators=(",", ":")).encode()).hexdigest(), computed by Python.
constexpr char kSnapshotHash[] = "627a86f75b86eec07a77ac921e21d68f9f0a31cf936827bcf2313c81a2cd5a8d";

const std::string kMetaText =
    "{\n"
    "  \"version\": \"1.0\",\n"
    "  \"last_full_scan\": \"2025-11-29T16:38:50.714113\",\n"
    "  \"library_mtime\": \"2025-11-29T16:00:00\",\n"
    "  \"track_count\": 3,\n"
    "  \"snapshot_hash\": \"" +
    std::string(kSnapshotHash) +
    "\",\n"
    "  \"last_force_scan_time\": \"2025-11-20T03:04:05.000006\"\n"
    "}";

const std::string kDeltaText =
    "{\n"
    "  \"last_run\": \"2025-11-29T16:38:51.000001\",\n"
    "  \"processed_track_ids\": [\n"
    "    \"1\",\n"
    "    \"2\",\n"
    "    \"\\u00fc\"\n"
    "  ],\n"
    "  \"field_hashes\": {\n"
    "    \"1\": \"abc\",\n"
    "    \"2\": \"def\"\n"
    "  },\n"
    "  \"tracked_since\": \"2025-11-28T00:00:00\"\n"
    "}";

// The instants above, as Python's datetime gives them.
constexpr Micros kLastFullScan = 1764434330714113;
constexpr Micros kLibraryMtime = 1764432000000000;
constexpr Micros kLastForceScan = 1763607845000006;
constexpr Micros kLastRun = 1764434331000001;
constexpr Micros kTrackedSince = 1764288000000000;

class ReferenceFilesTest : public ::testing::Test {
 protected:
  void SetUp() override {
    ref_ = dir_.file("cache");
    store_ = dir_.file("store");
    std::filesystem::create_directory(ref_);
  }

  // The reference's directory with the given files ("" leaves one out).
  void WriteReference(const std::string& snapshot, const std::string& meta,
                      const std::string& delta, bool gzip = true) {
    WriteFileBytes(ref_ + (gzip ? "/library_snapshot.json.gz" : "/library_snapshot.json"),
                   gzip ? Gzip(snapshot) : snapshot);
    if (!meta.empty()) WriteFileBytes(ref_ + "/library_snapshot.meta.json", meta);
    if (!delta.empty()) WriteFileBytes(ref_ + "/library_delta.json", delta);
  }

  std::vector<TrackRecord> StoredTracks() {
    Result<Store> store = Store::Open(store_);
    EXPECT_OK(store.status());
    Result<Version> v = store->Current();
    EXPECT_OK(v.status());
    std::vector<TrackRecord> out;
    if (v.ok()) {
      for (TrackView t : *v) out.push_back(t.ToRecord());
    }
    return out;
  }

  bool StoreExists() const { return std::filesystem::exists(store_); }

  // Whatever the notes say about `item`, joined.
  static std::string Note(const AdoptReport& r, const std::string& item) {
    std::string out;
    for (const NotCarried& n : r.not_carried) {
      if (n.item == item) out += n.reason + "\n";
    }
    return out;
  }

  TempDir dir_;
  std::string ref_, store_;
};

TEST_F(ReferenceFilesTest, AdoptCarriesTracksMetadataAndDeltaStateInOneVersion) {
  WriteReference(kSnapshotText, kMetaText, kDeltaText);
  Result<AdoptReport> r = AdoptReferenceCache(ref_, store_);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->snapshot_file, ref_ + "/library_snapshot.json.gz");
  EXPECT_EQ(r->records_read, 3u);
  EXPECT_EQ(r->tracks_carried, 3u);
  EXPECT_TRUE(r->metadata_carried);
  EXPECT_TRUE(r->delta_carried);
  EXPECT_EQ(r->snapshot_hash_check, ReferenceHashCheck::kMatched);
  EXPECT_EQ(r->computed_snapshot_hash, kSnapshotHash);
  EXPECT_TRUE(r->not_carried.empty()) << r->not_carried[0].item << ": " << r->not_carried[0].reason;
  EXPECT_EQ(r->version, 1u);

  std::vector<TrackRecord> tracks = StoredTracks();
  ASSERT_EQ(tracks.size(), 3u);
  TrackRecord t1;
  t1.id = "1";
  t1.name = "Blue in Green";
  t1.artist = "Miles Davis";
  t1.album = "Kind of Blue";
  t1.genre = "Jazz";
  t1.year = "1959";
  t1.date_added = "2020-01-01 10:00:00";
  t1.last_modified = "";
  t1.track_status = "subscription";
  t1.release_year = "1959";
  t1.original_pos = 3;
  t1.album_artist = "";
  t1.extras_json =
      "{\"flags\":[true,false,null],\"loved\":true,\"nested\":{\"a\":1,\"b\":{\"c\":\"d\"}},"
      "\"plays\":12,\"rating\":4.5,\"tag\":\"x\\u0001y\u2028/\"}";
  EXPECT_EQ(tracks[0], t1);
  TrackRecord t2;
  t2.id = "2";
  t2.name = "Zo\u00eb \U0001F3B5";
  t2.artist = "Sigur R\u00f3s";
  EXPECT_EQ(tracks[1], t2);  // every optional field absent (None), album ""
  EXPECT_FALSE(tracks[1].genre.has_value());
  TrackRecord t3;
  t3.id = "3";
  t3.album = "A";
  t3.genre = "";
  t3.year = "";
  t3.original_artist = "";
  t3.original_album = "";
  t3.year_before_mgu = "1998";
  t3.year_set_by_mgu = "2001";
  t3.original_pos = -1;
  t3.extras_json = "{\"big\":1e16,\"small\":1.5e-7}";
  EXPECT_EQ(tracks[2].extras_json.empty(), false);
  t3.extras_json = tracks[2].extras_json;  // simdjson's number text; checked by the export below
  EXPECT_EQ(tracks[2], t3);

  // Through the service, as an application reads them.
  ServiceOptions o;
  o.directory = store_;
  SnapshotService service(o);
  Result<SnapshotMetadata> meta = service.ReadMetadata();
  ASSERT_OK(meta.status());
  EXPECT_EQ(meta->format_version, kMetadataFormatVersion);
  EXPECT_EQ(meta->last_full_scan, kLastFullScan);
  EXPECT_EQ(meta->library_mtime, kLibraryMtime);
  EXPECT_EQ(meta->last_force_scan, kLastForceScan);
  EXPECT_EQ(meta->track_count, 3u);
  Result<DeltaState> delta = service.ReadDeltaState();
  ASSERT_OK(delta.status());
  EXPECT_EQ(delta->last_run, kLastRun);
  EXPECT_EQ(delta->tracked_since, kTrackedSince);
  EXPECT_EQ(delta->processed_ids, (std::set<std::string>{"1", "2", "\u00fc"}));
  EXPECT_EQ(delta->field_hashes, (std::map<std::string, std::string>{{"1", "abc"}, {"2", "def"}}));
}

TEST_F(ReferenceFilesTest, RoundTripGivesTheReferenceFilesByteForByte) {
  for (bool compress : {true, false}) {
    SCOPED_TRACE(compress ? "gzip" : "plain");
    TempDir d;
    ref_ = d.file("cache");
    store_ = d.file("store");
    std::filesystem::create_directory(ref_);
    WriteReference(kSnapshotText, kMetaText, kDeltaText, compress);
    ASSERT_OK(AdoptReferenceCache(ref_, store_).status());
    ExportReferenceOptions options;
    options.compress = compress;
    const std::string out = d.file("back");
    Result<ExportReferenceReport> r = ExportReferenceCache(store_, out, options);
    ASSERT_OK(r.status());
    EXPECT_EQ(r->version, 1u);
    EXPECT_EQ(r->tracks, 3u);
    EXPECT_EQ(r->snapshot_hash, kSnapshotHash);
    EXPECT_EQ(r->metadata_file, out + "/library_snapshot.meta.json");
    EXPECT_EQ(r->delta_file, out + "/library_delta.json");
    const std::string snap = ReadFileBytes(r->snapshot_file);
    EXPECT_EQ(compress ? Gunzip(snap) : snap, kSnapshotText);
    if (compress) {
      EXPECT_EQ(snap.substr(0, 2), "\x1f\x8b");
    }
    EXPECT_EQ(ReadFileBytes(out + "/library_snapshot.meta.json"), kMetaText);
    EXPECT_EQ(ReadFileBytes(out + "/library_delta.json"), kDeltaText);
  }
}

TEST_F(ReferenceFilesTest, LenientInputsOfTheReferenceLoadersAreRead) {
  // No version, a numeric-string track count, a number as the hash, no
  // last force scan; ids as numbers, no field hashes, a null tracked_since.
  const std::string meta =
      "{\"last_full_scan\": \"2025-11-29T16:38:50.714113Z\", \"library_mtime\": "
      "\"2025-11-29T18:00:00+02:00\", \"track_count\": \" 3 \", \"snapshot_hash\": 17}";
  const std::string delta =
      "{\"last_run\": \"2025-11-29T16:38:51.000001\", \"processed_track_ids\": [1, \"2\", 3.5, "
      "-4], \"tracked_since\": null}";
  WriteReference(kSnapshotText, meta, delta);
  Result<AdoptReport> r = AdoptReferenceCache(ref_, store_);
  ASSERT_OK(r.status());
  EXPECT_TRUE(r->metadata_carried);
  EXPECT_TRUE(r->delta_carried);
  EXPECT_EQ(r->snapshot_hash_check, ReferenceHashCheck::kNotChecked);
  EXPECT_THAT(Note(*r, "snapshot_hash"), HasSubstr("not checked"));
  EXPECT_EQ(Note(*r, "track_count"), "");  // " 3 " is int()'s 3

  ServiceOptions o;
  o.directory = store_;
  SnapshotService service(o);
  Result<SnapshotMetadata> m = service.ReadMetadata();
  ASSERT_OK(m.status());
  EXPECT_EQ(m->last_full_scan, kLastFullScan);
  EXPECT_EQ(m->library_mtime, kLibraryMtime);  // +02:00 converted to UTC
  EXPECT_FALSE(m->last_force_scan.has_value());
  Result<DeltaState> d = service.ReadDeltaState();
  ASSERT_OK(d.status());
  EXPECT_EQ(d->processed_ids, (std::set<std::string>{"1", "2", "3.5", "-4"}));
  EXPECT_TRUE(d->field_hashes.empty());
  EXPECT_FALSE(d->tracked_since.has_value());

  // Back: tracked_since is written as last_run, as the reference saves it;
  // no last force scan is null.
  const std::string out = dir_.file("back");
  ASSERT_OK(ExportReferenceCache(store_, out).status());
  const std::string back_delta = ReadFileBytes(out + "/library_delta.json");
  EXPECT_THAT(back_delta, HasSubstr("\"tracked_since\": \"2025-11-29T16:38:51.000001\""));
  EXPECT_THAT(back_delta, HasSubstr("\"field_hashes\": {},"));
  EXPECT_THAT(back_delta, HasSubstr("    \"-4\",\n    \"1\",\n    \"2\",\n    \"3.5\"\n"));
  const std::string back_meta = ReadFileBytes(out + "/library_snapshot.meta.json");
  EXPECT_THAT(back_meta, HasSubstr("\"last_force_scan_time\": null\n}"));
  EXPECT_THAT(back_meta, HasSubstr(std::string("\"snapshot_hash\": \"") + kSnapshotHash));
  EXPECT_THAT(back_meta, HasSubstr("\"version\": \"1.0\""));
}

TEST_F(ReferenceFilesTest, MetadataOfAnotherVersionIsNotCarriedAndForcesAFullScan) {
  std::string meta = kMetaText;
  meta.replace(meta.find("\"1.0\""), 5, "\"2.0\"");
  WriteReference(kSnapshotText, meta, kDeltaText);
  Result<AdoptReport> r = AdoptReferenceCache(ref_, store_);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->tracks_carried, 3u);
  EXPECT_FALSE(r->metadata_carried);
  EXPECT_TRUE(r->delta_carried);
  EXPECT_THAT(Note(*r, "metadata"), HasSubstr("metadata version 2.0 is not 1.0: not carried; the "
                                              "store will require a full scan"));
  // The hash is still checked: the reference wrote it over these tracks.
  EXPECT_EQ(r->snapshot_hash_check, ReferenceHashCheck::kMatched);

  WriteFileBytes(dir_.file("Library.musiclibrary"), "x");
  ServiceOptions o;
  o.directory = store_;
  o.library_path = dir_.file("Library.musiclibrary");
  SnapshotService service(o);
  Validity v = service.CheckValidity();
  EXPECT_FALSE(v.valid);
  EXPECT_EQ(v.failed, Validity::Check::kMetadata) << v.reason;
  EXPECT_EQ(StoredTracks().size(), 3u);
}

TEST_F(ReferenceFilesTest, UnreadableMetadataOrDeltaFilesAreReportedNotFatal) {
  WriteReference(kSnapshotText, "{\"version\": \"1.0\", \"last_full_scan\": 12}",
                 "{\"processed_track_ids\": [\"1\"]");
  Result<AdoptReport> r = AdoptReferenceCache(ref_, store_);
  ASSERT_OK(r.status());
  EXPECT_FALSE(r->metadata_carried);
  EXPECT_FALSE(r->delta_carried);
  EXPECT_THAT(Note(*r, "metadata"), HasSubstr("'last_full_scan' is not a string"));
  EXPECT_THAT(Note(*r, "delta state"), HasSubstr("delta file unreadable: "));
  EXPECT_THAT(Note(*r, "delta state"), HasSubstr("not valid JSON"));
  Result<Store> store = Store::Open(store_);
  ASSERT_OK(store.status());
  Result<VersionInfo> info = store->CurrentInfo();
  ASSERT_OK(info.status());
  EXPECT_FALSE(info->service.has_value());
  EXPECT_EQ(info->delta_state, "");

  // Missing files are reported too.
  TempDir d;
  const std::string ref = d.file("cache");
  std::filesystem::create_directory(ref);
  WriteFileBytes(ref + "/library_snapshot.json", "[]");
  Result<AdoptReport> empty = AdoptReferenceCache(ref, d.file("store"));
  ASSERT_OK(empty.status());
  EXPECT_EQ(empty->tracks_carried, 0u);
  EXPECT_THAT(Note(*empty, "metadata"), HasSubstr("does not exist"));
  EXPECT_THAT(Note(*empty, "delta state"), HasSubstr("does not exist"));
}

TEST_F(ReferenceFilesTest, ABadSnapshotIsAnErrorAndNothingIsWritten) {
  struct Case {
    const char* name;
    std::string file;  // written as library_snapshot.json.gz when gzip
    bool gzip;
    const char* expect;
  };
  const std::string gz = Gzip(kSnapshotText);
  const Case cases[] = {
      {"malformed JSON", "[{\"id\": \"1\", \"name\": }]", false, "library_snapshot.json"},
      {"truncated gzip", gz.substr(0, gz.size() / 2), true, "library_snapshot.json.gz"},
      {"missing field", "[{\"id\": \"1\", \"name\": \"n\", \"artist\": \"a\"}]", false,
       "record 0: field 'album': missing"},
      {"a number as a year",
       "[{\"id\": \"1\", \"name\": \"\", \"artist\": \"\", \"album\": \"\", \"year\": 1999}]",
       false, "record 0: field 'year'"},
      {"not an array", "{}", false, "library_snapshot.json"},
  };
  for (const Case& c : cases) {
    SCOPED_TRACE(c.name);
    TempDir d;
    const std::string ref = d.file("cache");
    std::filesystem::create_directory(ref);
    WriteFileBytes(ref + (c.gzip ? "/library_snapshot.json.gz" : "/library_snapshot.json"), c.file);
    WriteFileBytes(ref + "/library_snapshot.meta.json", kMetaText);
    Result<AdoptReport> r = AdoptReferenceCache(ref, d.file("store"));
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    EXPECT_THAT(r.status().ToString(), HasSubstr(c.expect));
    EXPECT_FALSE(std::filesystem::exists(d.file("store")));
  }

  // No snapshot at all.
  Result<AdoptReport> none = AdoptReferenceCache(ref_, store_);
  ASSERT_FALSE(none.ok());
  EXPECT_TRUE(none.status().IsNotFound()) << none.status().ToString();
  EXPECT_THAT(none.status().ToString(), HasSubstr("library_snapshot.json.gz"));
  EXPECT_FALSE(StoreExists());
  EXPECT_TRUE(AdoptReferenceCache(dir_.file("nowhere"), store_).status().IsNotFound());
}

TEST_F(ReferenceFilesTest, ABadSnapshotLeavesAnExistingStoreAsItWas) {
  WriteReference(kSnapshotText, kMetaText, kDeltaText);
  ASSERT_OK(AdoptReferenceCache(ref_, store_).status());
  WriteFileBytes(ref_ + "/library_snapshot.json.gz", Gzip("[{\"id\": \"9\"}"));
  AdoptOptions o;
  o.overwrite = true;
  Result<AdoptReport> r = AdoptReferenceCache(ref_, store_, o);
  ASSERT_FALSE(r.ok());
  Result<Store> store = Store::Open(store_);
  ASSERT_OK(store.status());
  Result<std::vector<VersionInfo>> log = store->Log();
  ASSERT_OK(log.status());
  EXPECT_EQ(log->size(), 1u);
  EXPECT_EQ(StoredTracks().size(), 3u);
}

// Fails the rename that would publish a manifest: the commit point.
// The reference's files are read through options.store.env: a read that
// fails is an error (or, for the optional metadata and delta files, a note),
// and no store is created, not even half of one.
TEST_F(ReferenceFilesTest, AdoptReadFailureCreatesNoStore) {
  WriteReference(kSnapshotText, kMetaText, kDeltaText);
  testing::FaultEnv env;
  AdoptOptions o;
  o.store.env = &env;
  ASSERT_OK(AdoptReferenceCache(ref_, dir_.file("counted"), o).status());
  EXPECT_GT(env.count(testing::Op::kRead), 0u);
  EXPECT_GT(env.count(testing::Op::kGetFileInfo), 0u);

  struct Case {
    testing::Op op;
    std::string error;  // in the message
  };
  for (const Case& c : {Case{testing::Op::kGetFileInfo, ref_},
                        Case{testing::Op::kNewSequentialFile, "library_snapshot.json.gz"},
                        Case{testing::Op::kRead, "library_snapshot.json.gz"}}) {
    SCOPED_TRACE(testing::OpName(c.op));
    env.FailAt(0);
    env.FailEvery(testing::Ops({c.op}));
    Result<AdoptReport> r = AdoptReferenceCache(ref_, store_, o);
    ASSERT_FALSE(r.ok());
    EXPECT_TRUE(r.status().IsIOError()) << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr(c.error));
    EXPECT_FALSE(StoreExists());
  }
  // The metadata file unreadable: adopted, with a note saying so.
  env.FailEvery({});
  env.FailAt(1, testing::FaultEnv::Action::kFail, testing::Ops({testing::Op::kNewSequentialFile}));
  Result<AdoptReport> r = AdoptReferenceCache(ref_, store_, o);
  ASSERT_OK(r.status());
  EXPECT_THAT(Note(*r, "metadata"), HasSubstr("unreadable"));
  EXPECT_EQ(StoredTracks().size(), 3u);
}

class NoManifestEnv : public EnvWrapper {
 public:
  Status Rename(const std::string& from, const std::string& to) override {
    if (to.find("/manifests/") != std::string::npos) return Status::IOError(to, "injected");
    return EnvWrapper::Rename(from, to);
  }
};

TEST_F(ReferenceFilesTest, AFailedCommitLeavesTheStoreAtItsVersion) {
  WriteReference(kSnapshotText, kMetaText, kDeltaText);
  ASSERT_OK(AdoptReferenceCache(ref_, store_).status());
  WriteReference("[{\"id\": \"9\", \"name\": \"\", \"artist\": \"\", \"album\": \"\"}]", "", "");
  NoManifestEnv env;
  AdoptOptions o;
  o.overwrite = true;
  o.store.env = &env;
  Result<AdoptReport> r = AdoptReferenceCache(ref_, store_, o);
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsIOError()) << r.status().ToString();
  Result<Store> store = Store::Open(store_);
  ASSERT_OK(store.status());
  Result<VersionInfo> info = store->CurrentInfo();
  ASSERT_OK(info.status());
  EXPECT_EQ(info->number, 1u);
  EXPECT_TRUE(info->service.has_value());
  EXPECT_EQ(StoredTracks().size(), 3u);
}

TEST_F(ReferenceFilesTest, DuplicateIdsKeepTheLastAndEmptyIdsAreDropped) {
  const std::string snap =
      "[{\"id\": \"a\", \"name\": \"first a\", \"artist\": \"\", \"album\": \"\"}, "
      "{\"id\": \"b\", \"name\": \"b\", \"artist\": \"\", \"album\": \"\"}, "
      "{\"id\": \"\", \"name\": \"no id\", \"artist\": \"\", \"album\": \"\"}, "
      "{\"id\": \"a\", \"name\": \"last a\", \"artist\": \"\", \"album\": \"\"}, "
      "{\"id\": \"c\", \"name\": \"c\", \"artist\": \"\", \"album\": \"\"}, "
      "{\"id\": \"\", \"name\": \"no id either\", \"artist\": \"\", \"album\": \"\"}]";
  WriteReference(snap, "", "");
  Result<AdoptReport> r = AdoptReferenceCache(ref_, store_);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->records_read, 6u);
  EXPECT_EQ(r->tracks_carried, 3u);
  EXPECT_EQ(r->duplicates_dropped, 1u);
  EXPECT_EQ(r->empty_ids_dropped, 2u);
  EXPECT_THAT(Note(*r, "duplicate ids"), HasSubstr("'a' at records 0 and 3"));
  EXPECT_THAT(Note(*r, "empty ids"),
              HasSubstr("2 records have an empty id: dropped (records 2, 5)"));
  std::vector<TrackRecord> tracks = StoredTracks();
  ASSERT_EQ(tracks.size(), 3u);
  EXPECT_EQ(tracks[0].id, "a");
  EXPECT_EQ(tracks[0].name, "last a");  // the last content at the first position
  EXPECT_EQ(tracks[1].id, "b");
  EXPECT_EQ(tracks[2].id, "c");
}

TEST_F(ReferenceFilesTest, AMismatchedHashOrCountIsReportedAndTheAdoptionGoesOn) {
  std::string meta = kMetaText;
  meta.replace(meta.find(kSnapshotHash), 64, std::string(64, 'a'));
  meta.replace(meta.find("\"track_count\": 3"), 16, "\"track_count\": 4");
  WriteReference(kSnapshotText, meta, kDeltaText);
  Result<AdoptReport> r = AdoptReferenceCache(ref_, store_);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->snapshot_hash_check, ReferenceHashCheck::kMismatched);
  EXPECT_TRUE(r->metadata_carried);
  EXPECT_THAT(Note(*r, "snapshot_hash"), HasSubstr("does not match the tracks read"));
  EXPECT_THAT(Note(*r, "track_count"), HasSubstr("the metadata says 4, the snapshot holds 3"));
}

TEST_F(ReferenceFilesTest, AStoreWithAVersionIsRefusedUnlessOverwriting) {
  WriteReference(kSnapshotText, kMetaText, kDeltaText);
  ASSERT_OK(AdoptReferenceCache(ref_, store_).status());
  Result<AdoptReport> again = AdoptReferenceCache(ref_, store_);
  ASSERT_FALSE(again.ok());
  EXPECT_TRUE(again.status().IsInvalidArgument());
  EXPECT_THAT(again.status().ToString(), HasSubstr("already holds version 1"));

  // Overwrite: a new version; metadata and delta state that are not
  // carried are absent, not inherited from version 1.
  std::filesystem::remove(ref_ + "/library_snapshot.meta.json");
  std::filesystem::remove(ref_ + "/library_delta.json");
  AdoptOptions o;
  o.overwrite = true;
  Result<AdoptReport> r = AdoptReferenceCache(ref_, store_, o);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->version, 2u);
  Result<Store> store = Store::Open(store_);
  ASSERT_OK(store.status());
  Result<VersionInfo> info = store->CurrentInfo();
  ASSERT_OK(info.status());
  EXPECT_FALSE(info->service.has_value());
  EXPECT_EQ(info->delta_state, "");
  Result<Version> v1 = store->At(1);
  ASSERT_OK(v1.status());
  EXPECT_TRUE(v1->info().service.has_value());  // the history keeps the first

  // The reference's own directory is not a store.
  Result<AdoptReport> self = AdoptReferenceCache(ref_, ref_ + "/");
  ASSERT_FALSE(self.ok());
  EXPECT_THAT(self.status().ToString(), HasSubstr("cache directory itself"));
}

TEST_F(ReferenceFilesTest, WhenBothSnapshotFilesExistTheNewerIsRead) {
  WriteReference(kSnapshotText, "", "", /*gzip=*/true);
  WriteFileBytes(ref_ + "/library_snapshot.json",
                 "[{\"id\": \"p\", \"name\": \"plain\", \"artist\": \"\", \"album\": \"\"}]");
  // The gzip file a day older.
  struct timeval times[2] = {{1000000, 0}, {1000000, 0}};
  ASSERT_EQ(::utimes((ref_ + "/library_snapshot.json.gz").c_str(), times), 0);
  Result<AdoptReport> r = AdoptReferenceCache(ref_, store_);
  ASSERT_OK(r.status());
  EXPECT_EQ(r->snapshot_file, ref_ + "/library_snapshot.json");
  EXPECT_EQ(r->tracks_carried, 1u);
  EXPECT_THAT(Note(*r, "library_snapshot.json.gz"), HasSubstr("this one ignored"));
}

TEST_F(ReferenceFilesTest, ExportOfAVersionWithoutMetadataRemovesStaleFiles) {
  Result<Store> store = Store::Open(store_);
  ASSERT_OK(store.status());
  ASSERT_OK(store->Replace(testing::MakeTracks(20)).status());
  const std::string out = dir_.file("back");
  std::filesystem::create_directory(out);
  WriteFileBytes(out + "/library_snapshot.meta.json", kMetaText);
  WriteFileBytes(out + "/library_delta.json", kDeltaText);
  WriteFileBytes(out + "/library_snapshot.json", "[]");
  Result<ExportReferenceReport> r = ExportReferenceCache(store_, out);
  ASSERT_OK(r.status());
  EXPECT_FALSE(r->metadata_file.has_value());
  EXPECT_FALSE(r->delta_file.has_value());
  EXPECT_FALSE(std::filesystem::exists(out + "/library_snapshot.meta.json"));
  EXPECT_FALSE(std::filesystem::exists(out + "/library_delta.json"));
  ASSERT_EQ(r->notes.size(), 3u);
  EXPECT_THAT(r->notes[0], HasSubstr("the old one was removed"));
  EXPECT_THAT(r->notes[2], HasSubstr("left as it is"));

  // The tracks read back as they were, through an adoption.
  Result<AdoptReport> a = AdoptReferenceCache(out, dir_.file("store2"));
  ASSERT_OK(a.status());
  Result<Store> again = Store::Open(dir_.file("store2"));
  ASSERT_OK(again.status());
  Result<Version> v = again->Current();
  ASSERT_OK(v.status());
  std::vector<TrackRecord> back;
  for (TrackView t : *v) back.push_back(t.ToRecord());
  EXPECT_EQ(back, testing::MakeTracks(20));

  EXPECT_TRUE(ExportReferenceCache(dir_.file("nowhere"), out).status().IsNotFound());
  Result<ExportReferenceReport> into_store = ExportReferenceCache(store_, store_ + "/");
  EXPECT_TRUE(into_store.status().IsInvalidArgument()) << into_store.status().ToString();
  EXPECT_FALSE(std::filesystem::exists(store_ + "/library_snapshot.json.gz"));
}

// --- the text forms ------------------------------------------------------------

TEST(ReferenceFormatTest, FloatsAreWrittenAsPythonsRepr) {
  // Each pair: a double and repr() of it in Python 3.
  const std::pair<double, const char*> cases[] = {
      {0.0, "0.0"},
      {-0.0, "-0.0"},
      {1.0, "1.0"},
      {0.1, "0.1"},
      {1.5, "1.5"},
      {100.0, "100.0"},
      {1e15, "1000000000000000.0"},
      {9999999999999998.0, "9999999999999998.0"},
      {1e16, "1e+16"},
      {1.5e16, "1.5e+16"},
      {1e22, "1e+22"},
      {0.0001, "0.0001"},
      {0.00012345, "0.00012345"},
      {1e-05, "1e-05"},
      {1.5e-07, "1.5e-07"},
      {5e-324, "5e-324"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {123456789.125, "123456789.125"},
      {-3.25e-10, "-3.25e-10"},
      {2.5e100, "2.5e+100"},
      {1.0 / 3.0, "0.3333333333333333"},
  };
  for (const auto& [v, want] : cases) {
    std::string out;
    internal::AppendPythonFloat(v, &out);
    EXPECT_EQ(out, want);
  }
}

TEST(ReferenceFormatTest, TimesAreNaiveUtcIsoformat) {
  const std::pair<Micros, const char*> cases[] = {
      {kLastFullScan, "2025-11-29T16:38:50.714113"},
      {kLibraryMtime, "2025-11-29T16:00:00"},
      {kLastRun, "2025-11-29T16:38:51.000001"},
      {-500000, "1969-12-31T23:59:59.500000"},
      {-62135596800000000, "0001-01-01T00:00:00"},
      {253402300799999999, "9999-12-31T23:59:59.999999"},
      {1709208000000000, "2024-02-29T12:00:00"},
  };
  for (const auto& [t, text] : cases) {
    Result<std::string> f = internal::FormatReferenceTime(t);
    ASSERT_OK(f.status());
    EXPECT_EQ(*f, text);
    EXPECT_EQ(internal::ParseReferenceTime(text), t) << text;
  }
  EXPECT_FALSE(internal::FormatReferenceTime(-62135596800000001).ok());
  EXPECT_FALSE(internal::FormatReferenceTime(253402300800000000).ok());
  // Offsets are converted to UTC; shorter forms are what fromisoformat reads.
  EXPECT_EQ(internal::ParseReferenceTime("2025-11-29T18:38:50+02:00"), 1764434330000000);
  EXPECT_EQ(internal::ParseReferenceTime("2025-11-29T16:38:50Z"), 1764434330000000);
  EXPECT_EQ(internal::ParseReferenceTime("2025-11-29 16:38:50.7"), 1764434330700000);
  EXPECT_EQ(internal::ParseReferenceTime("2025-11-28"), kTrackedSince);
  EXPECT_EQ(internal::ParseReferenceTime("2025-11-28T00:00"), kTrackedSince);
  for (const char* bad : {"", "2025", "2025-13-01", "2025-02-29", "2025-11-29T24:00:00",
                          "2025-11-29T16:38:50.1234567", "2025-11-29T16:38:50+0200",
                          "2025-11-29T16:38:50 ", "yesterday", "2025-11-29X16:38:50"}) {
    EXPECT_FALSE(internal::ParseReferenceTime(bad).has_value()) << bad;
  }
}

TEST(ReferenceFormatTest, EnsureAsciiStringsEscapeAsPythonDoes) {
  std::string out;
  internal::AppendPythonString("a\"\\/\x01\x7f\u00fc\u2028\U0001F3B5", true, &out);
  EXPECT_EQ(out, "\"a\\\"\\\\/\\u0001\\u007f\\u00fc\\u2028\\ud83c\\udfb5\"");
  out.clear();
  internal::AppendPythonString("a\"\\/\x01\x7f\u00fc\u2028", false, &out);
  EXPECT_EQ(out, "\"a\\\"\\\\/\\u0001\x7f\u00fc\u2028\"");
}

// --- the CLI -------------------------------------------------------------------

TEST_F(ReferenceFilesTest, CliAdoptAndExportReference) {
  if (std::getenv("TRACKSTORE_CLI") == nullptr) GTEST_SKIP() << "built without the tool";
  WriteReference(kSnapshotText, kMetaText, kDeltaText);
  testing::CliRun a = testing::RunCli(dir_, {"adopt", ref_, store_, "--json"});
  ASSERT_EQ(a.exit_code, 0) << testing::Describe(a);
  nlohmann::json j = nlohmann::json::parse(a.out);
  EXPECT_EQ(j["schema_version"], 1);
  EXPECT_EQ(j["command"], "adopt");
  EXPECT_EQ(j["ok"], true);
  EXPECT_EQ(j["tracks"], 3);
  EXPECT_EQ(j["kind"], "store");
  EXPECT_EQ(j["metadata_carried"], true);
  EXPECT_EQ(j["delta_carried"], true);
  EXPECT_EQ(j["snapshot_hash_check"], "matched");
  EXPECT_EQ(j["not_carried"], nlohmann::json::array());
  EXPECT_EQ(a.out.find('\n'), a.out.size() - 1);  // one line

  testing::CliRun again = testing::RunCli(dir_, {"adopt", ref_, store_, "--json"});
  EXPECT_EQ(again.exit_code, 1) << testing::Describe(again);
  nlohmann::json e = nlohmann::json::parse(again.out);
  EXPECT_EQ(e["ok"], false);
  EXPECT_EQ(e["command"], "adopt");
  EXPECT_EQ(e["error"]["code"], "InvalidArgument");
  EXPECT_THAT(e["error"]["message"].get<std::string>(), HasSubstr("already holds version 1"));
  EXPECT_THAT(again.err, HasSubstr("trackstore: Invalid argument"));

  testing::CliRun human = testing::RunCli(dir_, {"adopt", ref_, store_, "--overwrite"});
  ASSERT_EQ(human.exit_code, 0) << testing::Describe(human);
  EXPECT_THAT(human.out, HasSubstr("as version 2: 3 tracks of 3 records"));
  EXPECT_THAT(human.out, HasSubstr("metadata: carried\n"));

  const std::string out = dir_.file("back");
  testing::CliRun x =
      testing::RunCli(dir_, {"export-reference", store_, out, "--no-compress", "--json"});
  ASSERT_EQ(x.exit_code, 0) << testing::Describe(x);
  nlohmann::json xj = nlohmann::json::parse(x.out);
  EXPECT_EQ(xj["command"], "export-reference");
  EXPECT_EQ(xj["ok"], true);
  EXPECT_EQ(xj["version"], 2);
  EXPECT_EQ(xj["snapshot_hash"], kSnapshotHash);
  EXPECT_EQ(ReadFileBytes(out + "/library_snapshot.json"), kSnapshotText);
  EXPECT_EQ(ReadFileBytes(out + "/library_snapshot.meta.json"), kMetaText);

  // An older version, in human form.
  const std::string older = dir_.file("older");
  testing::CliRun v1 = testing::RunCli(dir_, {"export-reference", store_, older, "--version", "1"});
  ASSERT_EQ(v1.exit_code, 0) << testing::Describe(v1);
  EXPECT_THAT(v1.out, HasSubstr("wrote version 1 of " + store_ + " (3 tracks) to " + older +
                                "/library_snapshot.json.gz\n"));
  EXPECT_THAT(v1.out, HasSubstr(std::string("snapshot_hash: ") + kSnapshotHash));
  EXPECT_EQ(Gunzip(ReadFileBytes(older + "/library_snapshot.json.gz")), kSnapshotText);

  testing::CliRun missing =
      testing::RunCli(dir_, {"export-reference", dir_.file("nowhere"), out, "--json"});
  EXPECT_EQ(missing.exit_code, 1);
  EXPECT_EQ(nlohmann::json::parse(missing.out)["error"]["code"], "NotFound");
  EXPECT_EQ(testing::RunCli(dir_, {"adopt", ref_}).exit_code, 2);
  EXPECT_EQ(testing::RunCli(dir_, {"export-reference", store_, out, "--bogus"}).exit_code, 2);
}

}  // namespace
}  // namespace trackstore
