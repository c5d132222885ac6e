// Tests of JSON import and export: exact round trips, every malformed input
// that concerns JSON (malformed, truncated, wrong types, huge
// strings, bytes that are not UTF-8), and gzip handling.
#include "trackstore/json.h"

#include <stdio.h>

#include <filesystem>
#include <nlohmann/json.hpp>

#include "test_util.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/store.h"
#include "trackstore/synthetic.h"

namespace trackstore {

// Failures print a track as its JSON text.
void PrintTo(const TrackRecord& t, std::ostream* os) {
  std::string text;
  AppendTrackJson(t, &text);
  *os << text;
}

namespace {

using ::testing::HasSubstr;
using testing::MakeTrack;
using testing::MakeTracks;
using testing::ReadFileBytes;
using testing::TempDir;
using testing::WriteFileBytes;

// Every field set, with text that needs escaping.
TrackRecord FullTrack() {
  TrackRecord t;
  t.id = "4711";
  t.name = "Quote \" backslash \\ slash / tab \t newline \n nul " + std::string(1, '\0') + " end";
  t.artist =
      "Beyonc\u00e9 \u00fcber Ni\u00f1o \u65e5\u672c \u041c\u043e\u0441\u043a\u0432\u0430 "
      "\U0001F3B5";
  t.album = "ctl \x01\x02\x1f\x7f del";
  for (int f = kRequiredStringFieldCount; f < kStringFieldCount; ++f) {
    t.SetStringField(f, "value of " + std::string(FieldName(static_cast<Field>(f))));
  }
  t.original_pos = 7;
  t.extras_json = R"({"nested":{"a":[1,2.5,{"b":null}],"t":true},"rating":80,"s":"x\"y\u0001"})";
  return t;
}

TrackRecord MinimalTrack(std::string id) {
  TrackRecord t;
  t.id = std::move(id);
  return t;
}

std::string ToJson(const std::vector<TrackRecord>& tracks) {
  std::string out = "[";
  for (const TrackRecord& t : tracks) {
    if (out.size() > 1) out.push_back(',');
    AppendTrackJson(t, &out);
  }
  out.push_back(']');
  return out;
}

std::vector<TrackRecord> MustParse(std::string_view json) {
  Result<std::vector<TrackRecord>> r = ParseTracksJson(json, "t.json");
  EXPECT_OK(r.status()) << json;
  return r.ok() ? std::move(r).value() : std::vector<TrackRecord>{};
}

// The status of parsing `json`, which must have failed.
Status ParseError(std::string_view json) {
  Result<std::vector<TrackRecord>> r = ParseTracksJson(json, "t.json");
  EXPECT_FALSE(r.ok()) << json;
  return r.ok() ? Status::OK() : r.status();
}

// `record` wrapped as the second element of an array, after a valid one.
std::string SecondRecord(std::string_view record) {
  return std::string(R"([{"id":"1","name":"","artist":"","album":""},)") + std::string(record) +
         "]";
}

constexpr std::string_view kValidRecord = R"({"id":"2","name":"n","artist":"a","album":"b")";

std::string WithField(std::string_view key_and_value) {
  return SecondRecord(std::string(kValidRecord) + "," + std::string(key_and_value) + "}");
}

// --------------------------------------------------------------- round trip

TEST(JsonRoundTripTest, EveryFieldSurvivesExportAndImport) {
  TempDir dir;
  std::vector<TrackRecord> tracks = MakeTracks(300);  // absent / empty / set combinations
  tracks.push_back(FullTrack());
  TrackRecord empties = MinimalTrack("empties");
  for (int f = kRequiredStringFieldCount; f < kStringFieldCount; ++f) empties.SetStringField(f, "");
  empties.original_pos = 0;
  tracks.push_back(empties);
  tracks.push_back(MinimalTrack("absents"));
  TrackRecord big = MinimalTrack("big");
  big.name = std::string(64 * 1024, 'x');
  big.genre = std::string(64 * 1024, '\n');  // every byte escaped
  big.original_pos = INT64_MIN;
  tracks.push_back(big);
  TrackRecord max_pos = MinimalTrack("max");
  max_pos.original_pos = INT64_MAX;
  tracks.push_back(max_pos);

  ASSERT_OK(WriteJsonFile(tracks, dir.file("t.json")));
  Result<std::vector<TrackRecord>> back = ImportJsonFile(dir.file("t.json"));
  ASSERT_OK(back.status());
  ASSERT_EQ(back->size(), tracks.size());
  for (size_t i = 0; i < tracks.size(); ++i) EXPECT_EQ((*back)[i], tracks[i]) << "track " << i;
  EXPECT_EQ(MustParse(ToJson(tracks)), tracks);
}

TEST(JsonRoundTripTest, AbsentAndEmptyStayDistinct) {
  TrackRecord absent = MinimalTrack("a");
  TrackRecord empty = MinimalTrack("e");
  empty.genre = "";
  empty.year = "";
  std::vector<TrackRecord> back = MustParse(ToJson({absent, empty}));
  ASSERT_EQ(back.size(), 2u);
  EXPECT_FALSE(back[0].genre.has_value());
  EXPECT_FALSE(back[0].year.has_value());
  EXPECT_EQ(back[1].genre, std::optional<std::string>(""));
  EXPECT_EQ(back[1].year, std::optional<std::string>(""));
}

TEST(JsonRoundTripTest, SyntheticLibraryRoundTrips) {
  TempDir dir;
  const std::vector<TrackRecord> tracks = GenerateLibrary(20000);  // ~8 MB: several chunks
  ASSERT_OK(WriteJsonFile(tracks, dir.file("lib.json")));
  ASSERT_GT(std::filesystem::file_size(dir.file("lib.json")), 2 * (4u << 20));
  Result<std::vector<TrackRecord>> back = ImportJsonFile(dir.file("lib.json"));
  ASSERT_OK(back.status());
  EXPECT_TRUE(*back == tracks);
}

TEST(JsonExportTest, FieldsInSpecOrderAbsentOmittedExtrasLast) {
  TrackRecord t = MinimalTrack("1");
  t.name = "N";
  t.album_artist = "AA";
  t.genre = "";
  t.original_pos = -3;
  t.extras_json = R"({"rating":5,"tags":["a"]})";
  std::string out = "prefix";
  AppendTrackJson(t, &out);
  EXPECT_EQ(out,
            R"(prefix{"id":"1","name":"N","artist":"","album":"","genre":"","album_artist":"AA",)"
            R"("original_pos":-3,"rating":5,"tags":["a"]})");
}

TEST(JsonExportTest, EscapesControlCharactersAndKeepsUtf8) {
  TrackRecord t = MinimalTrack("q\"\\");
  t.name = std::string("\x01\b\f\n\r\t\x1f\x7f/") + std::string(1, '\0') + "\u00e9\u65e5";
  std::string out;
  AppendTrackJson(t, &out);
  EXPECT_THAT(out, HasSubstr(R"("id":"q\"\\")"));
  EXPECT_THAT(out, HasSubstr("\"name\":\"\\u0001\\b\\f\\n\\r\\t\\u001f\x7f/\\u0000\u00e9\u65e5\""));
}

TEST(JsonExportTest, EmptyExtrasObjectAddsNothing) {
  TrackRecord t = MinimalTrack("1");
  t.extras_json = "{}";
  std::string out;
  AppendTrackJson(t, &out);
  EXPECT_EQ(out, R"({"id":"1","name":"","artist":"","album":""})");
}

// nlohmann::json is an independent parser: it must read what we write.
TEST(JsonExportTest, OutputIsStandardJson) {
  TrackRecord t = FullTrack();
  std::string out;
  AppendTrackJson(t, &out);
  nlohmann::json j = nlohmann::json::parse(out, nullptr, /*allow_exceptions=*/false);
  ASSERT_FALSE(j.is_discarded()) << out;
  EXPECT_EQ(j["id"], t.id);
  EXPECT_EQ(j["name"], t.name);
  EXPECT_EQ(j["artist"], t.artist);
  EXPECT_EQ(j["album"], t.album);
  EXPECT_EQ(j["album_artist"], *t.album_artist);
  EXPECT_EQ(j["original_pos"], 7);
  EXPECT_EQ(j["rating"], 80);
  EXPECT_EQ(j["nested"]["a"][1], 2.5);
  EXPECT_EQ(j["s"], "x\"y\x01");
  EXPECT_EQ(j.size(), 19u);  // 15 strings + original_pos + 3 extras
}

TEST(JsonExportTest, FileHasOneObjectPerLine) {
  TempDir dir;
  ASSERT_OK(WriteJsonFile({}, dir.file("empty.json")));
  EXPECT_EQ(ReadFileBytes(dir.file("empty.json")), "[]\n");

  std::vector<TrackRecord> two = {MinimalTrack("1"), MinimalTrack("2")};
  ASSERT_OK(WriteJsonFile(two, dir.file("two.json")));
  EXPECT_EQ(ReadFileBytes(dir.file("two.json")),
            "[\n"
            R"({"id":"1","name":"","artist":"","album":""})"
            ",\n"
            R"({"id":"2","name":"","artist":"","album":""})"
            "\n]\n");
}

TEST(JsonExportTest, ReplacesFileAtomicallyLeavingNoTemporary) {
  TempDir dir;
  WriteFileBytes(dir.file("t.json"), "old");
  ASSERT_OK(WriteJsonFile(MakeTracks(10), dir.file("t.json")));
  size_t files = 0;
  for ([[maybe_unused]] const auto& e : std::filesystem::directory_iterator(dir.path())) ++files;
  EXPECT_EQ(files, 1u);
  Result<std::vector<TrackRecord>> back = ImportJsonFile(dir.file("t.json"));
  ASSERT_OK(back.status());
  EXPECT_EQ(*back, MakeTracks(10));
}

TEST(JsonExportTest, InvalidUtf8IsRefusedNamingRecordAndField) {
  TempDir dir;
  std::vector<TrackRecord> tracks = MakeTracks(3);
  tracks[2].album = "bad \xff byte";
  Status s = WriteJsonFile(tracks, dir.file("t.json"));
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("record 2: field 'album': invalid UTF-8"));
  EXPECT_FALSE(std::filesystem::exists(dir.file("t.json")));
}

TEST(JsonExportTest, MissingDirectoryIsNotFound) {
  TempDir dir;
  Status s = WriteJsonFile(MakeTracks(1), dir.file("no/such/dir/t.json"));
  EXPECT_TRUE(s.IsNotFound()) << s.ToString();
}

TEST(JsonExportTest, SnapshotExportMatchesRecordExport) {
  TempDir dir;
  std::vector<TrackRecord> tracks = MakeTracks(500);
  tracks.push_back(FullTrack());
  std::erase(tracks.back().name, '\0');  // the snapshot writer refuses NUL in a name
  SnapshotWriter writer;
  ASSERT_OK(writer.Write(dir.file("lib.snap"), tracks).status());
  Result<Snapshot> snap = Snapshot::Open(dir.file("lib.snap"));
  ASSERT_OK(snap.status());

  ASSERT_OK(ExportJsonFile(*snap, dir.file("from_snap.json")));
  ASSERT_OK(WriteJsonFile(tracks, dir.file("from_records.json")));
  EXPECT_EQ(ReadFileBytes(dir.file("from_snap.json")),
            ReadFileBytes(dir.file("from_records.json")));
  std::string view_text, record_text;
  AppendTrackJson((*snap)[500], &view_text);
  AppendTrackJson(tracks[500], &record_text);
  EXPECT_EQ(view_text, record_text);

  Result<std::vector<TrackRecord>> back = ImportJsonFile(dir.file("from_snap.json"));
  ASSERT_OK(back.status());
  EXPECT_EQ(*back, tracks);
}

// A layered version (a base and deltas that replace, append and remove)
// exports the same text as the same library compacted and as its tracks
// written as one snapshot.
TEST(JsonExportTest, LayeredVersionExportMatchesCompactedLibrary) {
  TempDir dir;
  StoreOptions options;
  options.sync = false;
  options.auto_compact = false;
  Result<Store> store = Store::Open(dir.file("store"), options);
  ASSERT_OK(store.status());
  std::vector<TrackRecord> tracks = MakeTracks(200);
  ASSERT_OK(store->Replace(tracks).status());
  std::vector<TrackRecord> updates = {tracks[3], tracks[150], MakeTrack(900), MakeTrack(901)};
  updates[0].name = "renamed";
  updates[1].genre.reset();
  ASSERT_OK(store->Commit(updates, std::vector<std::string>{tracks[7].id, "absent"}).status());
  ASSERT_OK(store
                ->Commit(std::vector<TrackRecord>{MakeTrack(902)},
                         std::vector<std::string>{MakeTrack(900).id})
                .status());
  Result<Version> layered = store->Current();
  ASSERT_OK(layered.status());
  ASSERT_EQ(layered->single_snapshot(), nullptr);
  ASSERT_OK(ExportJsonFile(*layered, dir.file("layered.json")));

  ASSERT_OK(store->Compact().status());
  Result<Version> compacted = store->Current();
  ASSERT_OK(compacted.status());
  ASSERT_NE(compacted->single_snapshot(), nullptr);
  ASSERT_OK(ExportJsonFile(*compacted->single_snapshot(), dir.file("compacted.json")));
  EXPECT_EQ(ReadFileBytes(dir.file("layered.json")), ReadFileBytes(dir.file("compacted.json")));

  std::vector<TrackRecord> expected;
  for (TrackView t : *layered) expected.push_back(t.ToRecord());
  ASSERT_EQ(expected.size(), 201u);  // 900, 901, 902 appended; 7 and 900 removed
  ASSERT_OK(WriteJsonFile(expected, dir.file("records.json")));
  EXPECT_EQ(ReadFileBytes(dir.file("layered.json")), ReadFileBytes(dir.file("records.json")));
  Result<std::vector<TrackRecord>> back = ImportJsonFile(dir.file("layered.json"));
  ASSERT_OK(back.status());
  EXPECT_EQ(*back, expected);
}

// --------------------------------------------------------------- accepted input

TEST(JsonImportTest, NullAndMissingOptionalFieldsAreAbsent) {
  std::vector<TrackRecord> t = MustParse(WithField(R"("genre":null,"original_pos":null)"));
  ASSERT_EQ(t.size(), 2u);
  TrackRecord expected = MinimalTrack("2");
  expected.name = "n";
  expected.artist = "a";
  expected.album = "b";
  EXPECT_EQ(t[1], expected);
}

TEST(JsonImportTest, OriginalPosAcceptsIntegersAndNumericStrings) {
  EXPECT_EQ(MustParse(WithField(R"("original_pos":7)"))[1].original_pos, 7);
  EXPECT_EQ(MustParse(WithField(R"("original_pos":"7")"))[1].original_pos, 7);
  EXPECT_EQ(MustParse(WithField(R"("original_pos":"-12")"))[1].original_pos, -12);
  EXPECT_EQ(MustParse(WithField(R"("original_pos":"007")"))[1].original_pos, 7);
  EXPECT_EQ(MustParse(WithField(R"("original_pos":-9223372036854775808)"))[1].original_pos,
            INT64_MIN);
  EXPECT_EQ(MustParse(WithField(R"("original_pos":"9223372036854775807")"))[1].original_pos,
            INT64_MAX);
}

TEST(JsonImportTest, UnknownKeysAreKeptCompactWithSortedKeys) {
  std::vector<TrackRecord> t = MustParse(SecondRecord(
      R"({ "zeta" : 1, "id":"2","name":"n","artist":"a","album":"b", "alpha" : { "x" : [ 1 , 2.50, "\u0041" ] }, "extras": null })"));
  EXPECT_EQ(t[1].extras_json, R"({"alpha":{"x":[1,2.5,"A"]},"extras":null,"zeta":1})");
  EXPECT_EQ(t[0].extras_json, "");
}

// The key order of the unknown fields, at any depth, changes neither the
// stored extras nor the content hash.
TEST(JsonImportTest, KeyOrderOfExtrasDoesNotChangeTheHash) {
  const std::string xy = R"("x":1,"y":2,"n":{"b":[{"d":1,"c":2}],"a":null,"\u00e9":0,"z":0})";
  const std::string yx = R"("n":{"z":0,"a":null,"\u00e9":0,"b":[{"c":2,"d":1}]},"y":2,"x":1)";
  std::vector<TrackRecord> a = MustParse(WithField(xy));
  std::vector<TrackRecord> b = MustParse(WithField(yx));
  EXPECT_EQ(a[1].extras_json, b[1].extras_json);
  EXPECT_EQ(a[1].extras_json,
            "{\"n\":{\"a\":null,\"b\":[{\"c\":2,\"d\":1}],\"z\":0,\"\u00e9\":0},"
            "\"x\":1,\"y\":2}");
  std::string image_a, image_b;
  Result<WriteResult> ha = SnapshotWriter().Encode(a, &image_a);
  Result<WriteResult> hb = SnapshotWriter().Encode(b, &image_b);
  ASSERT_OK(ha.status());
  ASSERT_OK(hb.status());
  EXPECT_EQ(ha->content_hash, hb->content_hash);
  EXPECT_EQ(image_a, image_b);
}

// Decision (json.h): a repeated key keeps its last value, as Python's json
// module does.
TEST(JsonImportTest, RepeatedKeyTakesItsLastValue) {
  std::vector<TrackRecord> t =
      MustParse(WithField(R"("year":"1999","x":1,"y":2,"year":"2000","x":3)"));
  EXPECT_EQ(t[1].year, "2000");
  EXPECT_EQ(t[1].extras_json, R"({"x":3,"y":2})");
  EXPECT_EQ(MustParse(WithField(R"("x":{"k":1,"k":2})"))[1].extras_json, R"({"x":{"k":2}})");
  // Only the last value is checked: the first is discarded unread.
  EXPECT_EQ(MustParse(WithField(R"("genre":5,"genre":"Rock")"))[1].genre, "Rock");
  Status s = ParseError(WithField(R"("genre":"Rock","genre":5)"));
  EXPECT_THAT(s.message(), HasSubstr("record 1: field 'genre'"));
}

// Decision (json.h): a leading UTF-8 byte order mark is skipped (RFC 8259
// section 8.1 allows it); any other BOM fails as invalid UTF-8.
TEST(JsonImportTest, Utf8ByteOrderMarkIsSkipped) {
  std::vector<TrackRecord> t =
      MustParse("\xEF\xBB\xBF" + SecondRecord(std::string(kValidRecord) + "}"));
  EXPECT_EQ(t.size(), 2u);
  Status s = ParseError("\xFF\xFE[]");  // UTF-16 little-endian BOM
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("UTF-8"));
  s = ParseError("\xEF\xBB\xBF\xEF\xBB\xBF[]");  // only one is skipped
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
}

TEST(JsonImportTest, EmptyArrayAndSurroundingWhitespace) {
  EXPECT_TRUE(MustParse(" \n[ ]\t\r\n").empty());
}

// --------------------------------------------------------------- rejected input

TEST(JsonImportTest, ErrorMessageNamesSourceRecordAndField) {
  Status s = ParseError(WithField(R"("year":1999)"));
  EXPECT_TRUE(s.IsInvalidArgument());
  EXPECT_EQ(s.message(), "t.json: record 1: field 'year': expected a string or null, got number");
}

TEST(JsonImportTest, MissingRequiredField) {
  for (std::string_view field : {"id", "name", "artist", "album"}) {
    nlohmann::json record = nlohmann::json::parse(std::string(kValidRecord) + "}");
    record.erase(std::string(field));
    Status s = ParseError(SecondRecord(record.dump()));
    EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("record 1: field '" + std::string(field) + "': missing"));
  }
}

TEST(JsonImportTest, RequiredFieldOfWrongType) {
  for (std::string_view value : {"1", "null", "true", "[]", "{}", "1.5"}) {
    for (std::string_view field : {"id", "name", "artist", "album"}) {
      nlohmann::json record = nlohmann::json::parse(std::string(kValidRecord) + "}");
      record[std::string(field)] = nlohmann::json::parse(value);
      Status s = ParseError(SecondRecord(record.dump()));
      EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
      EXPECT_THAT(s.message(), HasSubstr("record 1: field '" + std::string(field) +
                                         "': expected a string, got"));
    }
  }
  EXPECT_THAT(ParseError(SecondRecord(R"({"id":4711,"name":"","artist":"","album":""})")).message(),
              HasSubstr("field 'id': expected a string, got number"));
}

TEST(JsonImportTest, OptionalStringFieldOfWrongType) {
  const std::pair<std::string_view, std::string_view> kValues[] = {
      {"1999", "number"}, {"true", "boolean"}, {"[]", "array"}, {R"({"a":1})", "object"}};
  for (int f = kRequiredStringFieldCount; f < kStringFieldCount; ++f) {
    const std::string field(FieldName(static_cast<Field>(f)));
    for (const auto& [value, type] : kValues) {
      Status s = ParseError(WithField("\"" + field + "\":" + std::string(value)));
      EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
      EXPECT_THAT(s.message(), HasSubstr("record 1: field '" + field +
                                         "': expected a string or null, got " + std::string(type)));
    }
  }
}

TEST(JsonImportTest, OriginalPosThatIsNotAnInteger) {
  for (std::string_view value :
       {"1.5", "1.0", "1e30", "-1e30", "9223372036854775808", "18446744073709551615", "\"abc\"",
        "\"\"", "\" 7\"", "\"7 \"", "\"+7\"", "\"1.5\"", "\"99999999999999999999\"", "true", "[7]",
        "{}"}) {
    Status s = ParseError(WithField("\"original_pos\":" + std::string(value)));
    EXPECT_TRUE(s.IsInvalidArgument()) << value << ": " << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("record 1: field 'original_pos': expected an integer"))
        << value;
  }
}

TEST(JsonImportTest, TopLevelNotAnArray) {
  for (std::string_view doc :
       {R"({"id":"1","name":"","artist":"","album":""})", "7", "\"x\"", "null", "true"}) {
    Status s = ParseError(doc);
    EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("expected an array of track objects at the top level"));
  }
}

TEST(JsonImportTest, ElementNotAnObject) {
  for (std::string_view element : {"[1]", "\"x\"", "1", "null"}) {
    Status s = ParseError(SecondRecord(element));
    EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("record 1: expected an object, got "));
  }
}

// Syntax errors are reported with simdjson's message; none may crash.
TEST(JsonImportTest, SyntaxErrors) {
  const std::string valid = SecondRecord(std::string(kValidRecord) + R"(,"original_pos":3})");
  for (size_t n = 0; n < valid.size(); ++n) {  // every truncation
    Status s = ParseError(valid.substr(0, n));
    EXPECT_TRUE(s.IsInvalidArgument()) << n << ": " << s.ToString();
  }
  for (std::string_view doc : {
           "[] x",                                               // trailing garbage
           "[]]",                                                //
           "[][]",                                               //
           R"([{"id":"1","name":"","artist":"","album":""},])",  // trailing comma in array
           R"([{"id":"1","name":"","artist":"","album":"",}])",  // trailing comma in object
           "[/* comment */]",                                    //
           "[] // comment",                                      //
           R"([{"id":"1","name":"","artist":"","album":"","x":NaN}])",
           R"([{"id":"1","name":"","artist":"","album":"","x":Infinity}])",
           R"([{"id":"1","name":"","artist":"","album":"","x":1e400}])",
           R"([{'id':'1'}])",  // single quotes
           "[\"tab\tinside\"]",
           "",
           "   ",
       }) {
    Status s = ParseError(doc);
    EXPECT_TRUE(s.IsInvalidArgument()) << doc << ": " << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("t.json: ")) << doc;
  }
}

TEST(JsonImportTest, DeepNestingIsAnErrorNotACrash) {
  const std::string open(100000, '[');
  EXPECT_TRUE(ParseError(open).IsInvalidArgument());
  EXPECT_TRUE(ParseError(open + std::string(100000, ']')).IsInvalidArgument());
  std::string objects;
  for (int i = 0; i < 100000; ++i) objects += R"({"a":)";
  EXPECT_TRUE(ParseError("[" + objects).IsInvalidArgument());
}

TEST(JsonImportTest, InvalidUtf8IsRejectedWithItsOffset) {
  const std::string prefix = R"([{"id":"1","name":")";
  for (std::string_view bad : {
           "\xff",              // never valid
           "\xfe",              //
           "\xc0\xaf",          // overlong '/'
           "\xe0\x80\xaf",      // overlong
           "\xed\xa0\x80",      // UTF-16 surrogate D800 encoded in UTF-8
           "\xf4\x90\x80\x80",  // above U+10FFFF
           "\xe6\x97",          // truncated sequence
           "\x80",              // lone continuation byte
       }) {
    Status s = ParseError(prefix + "ok " + std::string(bad) + R"(","artist":"","album":""}])");
    EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
    EXPECT_THAT(s.message(), HasSubstr("UTF-8"));
    EXPECT_THAT(s.message(), HasSubstr("offset " + std::to_string(prefix.size() + 3)));
  }
  // The offset counts the skipped byte order mark.
  Status s = ParseError("\xEF\xBB\xBF[\"\xff\"]");
  EXPECT_THAT(s.message(), HasSubstr("offset 5"));
}

TEST(JsonImportTest, LoneSurrogateEscapeIsRejected) {
  for (std::string_view name : {R"(\ud800)", R"(\udc00)", R"(\ud800\u0041)", R"(\ud800x)"}) {
    Status s =
        ParseError(R"([{"id":"1","name":")" + std::string(name) + R"(","artist":"","album":""}])");
    EXPECT_TRUE(s.IsInvalidArgument()) << name << ": " << s.ToString();
  }
  // A correct pair is fine.
  EXPECT_EQ(MustParse(R"([{"id":"1","name":"\ud83c\udfb5","artist":"","album":""}])")[0].name,
            "\U0001F3B5");
}

// --------------------------------------------------------------- files and gzip

// Writes `data` as one gzip member with gzip(1), or appends a member to an
// existing file. gzip(1) rather than zlib's gzwrite: tests/meson.build does
// not link zlib into the tests, and a second implementation is a fair check.
void WriteGzip(const std::string& path, std::string_view data, bool append = false) {
  const std::string command = "gzip -c -n " + std::string(append ? ">> '" : "> '") + path + "'";
  FILE* pipe = popen(command.c_str(), "w");
  ASSERT_NE(pipe, nullptr) << command;
  ASSERT_EQ(fwrite(data.data(), 1, data.size(), pipe), data.size());
  ASSERT_EQ(pclose(pipe), 0) << command;
}

class JsonFileTest : public ::testing::Test {
 protected:
  std::string Path(const std::string& name) const { return dir_.file(name); }

  TempDir dir_;
  const std::vector<TrackRecord> tracks_ = MakeTracks(200);
  const std::string json_ = ToJson(tracks_);
};

TEST_F(JsonFileTest, PlainFile) {
  WriteFileBytes(Path("t.json"), json_);
  Result<std::vector<TrackRecord>> r = ImportJsonFile(Path("t.json"));
  ASSERT_OK(r.status());
  EXPECT_EQ(*r, tracks_);
}

TEST_F(JsonFileTest, GzipIsDetectedByContentNotName) {
  WriteGzip(Path("really_gzip.json"), json_);
  Result<std::vector<TrackRecord>> r = ImportJsonFile(Path("really_gzip.json"));
  ASSERT_OK(r.status());
  EXPECT_EQ(*r, tracks_);

  WriteFileBytes(Path("plain.json.gz"), json_);
  r = ImportJsonFile(Path("plain.json.gz"));
  ASSERT_OK(r.status());
  EXPECT_EQ(*r, tracks_);
}

TEST_F(JsonFileTest, GzipRoundTripOfExport) {
  ASSERT_OK(WriteJsonFile(tracks_, Path("t.json")));
  WriteGzip(Path("t.json.gz"), ReadFileBytes(Path("t.json")));
  Result<std::vector<TrackRecord>> r = ImportJsonFile(Path("t.json.gz"));
  ASSERT_OK(r.status());
  EXPECT_EQ(*r, tracks_);
}

TEST_F(JsonFileTest, MultiMemberGzipIsOneStream) {
  const size_t half = json_.size() / 2;
  WriteGzip(Path("t.json.gz"), std::string_view(json_).substr(0, half));
  WriteGzip(Path("t.json.gz"), std::string_view(json_).substr(half), /*append=*/true);
  WriteGzip(Path("t.json.gz"), "", /*append=*/true);  // an empty member too
  Result<std::vector<TrackRecord>> r = ImportJsonFile(Path("t.json.gz"));
  ASSERT_OK(r.status());
  EXPECT_EQ(*r, tracks_);
}

TEST_F(JsonFileTest, CorruptGzipNamesTheFile) {
  WriteGzip(Path("t.json.gz"), json_);
  std::string gz = ReadFileBytes(Path("t.json.gz"));
  for (size_t pos : {size_t{3}, gz.size() / 2, gz.size() - 6}) {  // flags, data, CRC
    std::string bad = gz;
    bad[pos] = static_cast<char>(bad[pos] ^ 0x55);
    WriteFileBytes(Path("bad.gz"), bad);
    Result<std::vector<TrackRecord>> r = ImportJsonFile(Path("bad.gz"));
    ASSERT_FALSE(r.ok()) << pos;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr(Path("bad.gz")));
  }
  WriteFileBytes(Path("garbage.gz"), gz + "trailing garbage");
  Result<std::vector<TrackRecord>> r = ImportJsonFile(Path("garbage.gz"));
  ASSERT_FALSE(r.ok());
  EXPECT_THAT(r.status().message(), HasSubstr("corrupt gzip data"));
}

TEST_F(JsonFileTest, TruncatedGzip) {
  WriteGzip(Path("t.json.gz"), json_);
  const std::string gz = ReadFileBytes(Path("t.json.gz"));
  for (size_t n : {size_t{2}, size_t{10}, gz.size() / 2, gz.size() - 4, gz.size() - 1}) {
    WriteFileBytes(Path("cut.gz"), gz.substr(0, n));
    Result<std::vector<TrackRecord>> r = ImportJsonFile(Path("cut.gz"));
    ASSERT_FALSE(r.ok()) << n;
    EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
    EXPECT_THAT(r.status().message(), HasSubstr("truncated gzip data")) << n;
    EXPECT_THAT(r.status().message(), HasSubstr(Path("cut.gz")));
  }
}

TEST_F(JsonFileTest, DecompressionBombIsStoppedAtTheLimit) {
  const std::string big = "[" + std::string(8 << 20, ' ') + "]";
  WriteGzip(Path("bomb.gz"), big);
  ASSERT_LT(ReadFileBytes(Path("bomb.gz")).size(), 64u << 10);

  Result<std::vector<TrackRecord>> r =
      ImportJsonFile(Path("bomb.gz"), JsonImportOptions{.max_decompressed_bytes = 1 << 20});
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsResourceExhausted()) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr(Path("bomb.gz")));
  EXPECT_THAT(r.status().message(), HasSubstr("max_decompressed_bytes"));

  // Exactly at the limit is fine; one byte less is not.
  r = ImportJsonFile(Path("bomb.gz"), JsonImportOptions{.max_decompressed_bytes = big.size()});
  ASSERT_OK(r.status());
  EXPECT_TRUE(r->empty());
  r = ImportJsonFile(Path("bomb.gz"), JsonImportOptions{.max_decompressed_bytes = big.size() - 1});
  EXPECT_TRUE(r.status().IsResourceExhausted()) << r.status().ToString();
}

TEST_F(JsonFileTest, MissingFileIsNotFound) {
  Result<std::vector<TrackRecord>> r = ImportJsonFile(Path("missing.json"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsNotFound()) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr(Path("missing.json")));
}

TEST_F(JsonFileTest, EmptyFileAndEmptyGzip) {
  WriteFileBytes(Path("empty.json"), "");
  Result<std::vector<TrackRecord>> r = ImportJsonFile(Path("empty.json"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
  EXPECT_THAT(r.status().message(), HasSubstr(Path("empty.json") + ": empty file"));

  WriteGzip(Path("empty.gz"), "");
  r = ImportJsonFile(Path("empty.gz"));
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsInvalidArgument()) << r.status().ToString();
}

TEST_F(JsonFileTest, DirectoryIsAnError) {
  Result<std::vector<TrackRecord>> r = ImportJsonFile(dir_.path());
  ASSERT_FALSE(r.ok());
  EXPECT_TRUE(r.status().IsIOError()) << r.status().ToString();
}

TEST_F(JsonFileTest, ErrorsNameTheFile) {
  WriteFileBytes(Path("t.json"), SecondRecord("[]"));
  Result<std::vector<TrackRecord>> r = ImportJsonFile(Path("t.json"));
  ASSERT_FALSE(r.ok());
  EXPECT_EQ(r.status().message(), Path("t.json") + ": record 1: expected an object, got array");
}

}  // namespace
}  // namespace trackstore

namespace trackstore {
namespace {

// A library too big for one snapshot file is refused at the record that
// passes the limit, before the rest is turned into records.
TEST(JsonImportLimitTest, PayloadLimitStopsAtTheRecordThatPassesIt) {
  testing::TempDir dir;
  std::string json = "[";
  for (int i = 0; i < 100; ++i) {
    json += (i ? "," : "") + std::string("{\"id\":\"") + std::to_string(i) + "\",\"name\":\"" +
            std::string(1000, 'x') + "\",\"artist\":\"\",\"album\":\"\"}";
  }
  json += "]";
  testing::WriteFileBytes(dir.file("big.json"), json);
  JsonImportOptions options;
  options.max_payload_bytes = 10 * 1000;  // about 1115 bytes a record: 9 pass it
  Result<std::vector<TrackRecord>> tracks = ImportJsonFile(dir.file("big.json"), options);
  ASSERT_TRUE(tracks.status().IsNotSupported()) << tracks.status().ToString();
  EXPECT_THAT(tracks.status().message(), ::testing::HasSubstr("record 8:"));
  options.max_payload_bytes = 0;
  ASSERT_OK(ImportJsonFile(dir.file("big.json"), options).status());
}

}  // namespace
}  // namespace trackstore
