// JSON import reads its input in windows of about a MiB: these tests give it
// inputs many windows long, with the text that can fool a window's cut
// (strings and nested objects holding "},"), records longer than a window,
// and errors deep inside, and check every record and every error offset.
#include <zlib.h>

#include <string>
#include <vector>

#include "test_util.h"
#include "trackstore/json.h"

namespace trackstore {
namespace {

using ::testing::HasSubstr;
using testing::TempDir;
using testing::WriteFileBytes;

// Records whose text is hostile to a cut after "}," : ids, names and
// extras holding "},", "}, {" and nested objects in arrays.
std::vector<TrackRecord> TrickyTracks(size_t count) {
  std::vector<TrackRecord> tracks(count);
  for (size_t i = 0; i < count; ++i) {
    TrackRecord& t = tracks[i];
    t.id = "id-" + std::to_string(i);
    t.name = i % 3 == 0 ? "a},{\"b\":\"c\"}," : "track " + std::to_string(i);
    t.artist = i % 5 == 0 ? "}, {" : "artist";
    t.album = "album";
    if (i % 2 == 0) t.genre = "rock},";
    if (i % 7 == 0) t.original_pos = static_cast<int64_t>(i);
    if (i % 4 == 0) {
      t.extras_json = R"({"tags":[{"a":1},{"b":[{"c":"},"}]}],"z":{"y":{}}})";
    }
  }
  return tracks;
}

std::string ExportText(const std::vector<TrackRecord>& tracks) {
  std::string text = "[";
  for (size_t i = 0; i < tracks.size(); ++i) {
    if (i) text += ",";
    AppendTrackJson(tracks[i], &text);
  }
  return text + "]";
}

TEST(JsonStreamTest, CompactTextManyWindowsLong) {
  const std::vector<TrackRecord> tracks = TrickyTracks(40000);
  const std::string text = ExportText(tracks);
  ASSERT_GT(text.size(), size_t{3} << 20);  // windows are about 1 MiB
  Result<std::vector<TrackRecord>> got = ParseTracksJson(text, "t.json");
  ASSERT_OK(got.status());
  EXPECT_EQ(*got, tracks);
}

TEST(JsonStreamTest, PrettyTextManyWindowsLong) {
  const std::vector<TrackRecord> tracks = TrickyTracks(30000);
  std::string text = "\n[\n";
  for (size_t i = 0; i < tracks.size(); ++i) {
    std::string one;
    AppendTrackJson(tracks[i], &one);
    // Blanks around every structural character outside strings would need
    // a tokenizer; between records and after the keys' colons is enough.
    text += "  " + one + (i + 1 < tracks.size() ? " ,\n\t" : "\n");
  }
  text += "]\n\n";
  Result<std::vector<TrackRecord>> got = ParseTracksJson(text, "t.json");
  ASSERT_OK(got.status());
  EXPECT_EQ(*got, tracks);
}

// Every window ends inside a string: each record is one long name of
// "}," pairs.
TEST(JsonStreamTest, CutsInsideStringsAreRetried) {
  std::vector<TrackRecord> tracks(12);
  for (size_t i = 0; i < tracks.size(); ++i) {
    tracks[i].id = std::to_string(i);
    std::string name;
    while (name.size() < (size_t{700} << 10)) name += "},";
    tracks[i].name = name;
  }
  Result<std::vector<TrackRecord>> got = ParseTracksJson(ExportText(tracks), "t.json");
  ASSERT_OK(got.status());
  EXPECT_EQ(*got, tracks);
}

TEST(JsonStreamTest, RecordLargerThanAWindow) {
  std::vector<TrackRecord> tracks = TrickyTracks(10);
  tracks[4].name = std::string(size_t{5} << 20, 'x');
  tracks[5].extras_json = R"({"big":")" + std::string(size_t{3} << 20, 'y') + R"("})";
  Result<std::vector<TrackRecord>> got = ParseTracksJson(ExportText(tracks), "t.json");
  ASSERT_OK(got.status());
  EXPECT_EQ(*got, tracks);
}

TEST(JsonStreamTest, RecordLargerThanTheLimitIsRefused) {
  std::vector<TrackRecord> tracks = TrickyTracks(3);
  tracks[1].name = std::string(size_t{70} << 20, 'x');
  Status s = ParseTracksJson(ExportText(tracks), "t.json").status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("record 1: no end of the record"));
  EXPECT_THAT(s.message(), HasSubstr("at most"));
}

TEST(JsonStreamTest, InvalidUtf8DeepInsideHasItsOffsetInTheInput) {
  const std::vector<TrackRecord> tracks = TrickyTracks(30000);
  std::string text = ExportText(tracks);
  const size_t at = text.find("track 25000");
  ASSERT_NE(at, std::string::npos);
  text[at + 2] = '\xff';
  Status s = ParseTracksJson("\xEF\xBB\xBF" + text, "t.json").status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("offset " + std::to_string(at + 2 + 3)));
}

TEST(JsonStreamTest, ErrorsDeepInsideNameTheRecord) {
  const std::vector<TrackRecord> tracks = TrickyTracks(30000);
  std::string text = ExportText(tracks);
  // A type error in record 20001.
  const std::string needle = R"("id":"id-20001","name":")";
  const size_t at = text.find(needle);
  ASSERT_NE(at, std::string::npos);
  text.replace(at + needle.size() - 1, 1, "7,\"x\":\"");
  Status s = ParseTracksJson(text, "t.json").status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("record 20001: field 'name': expected a string, got number"));
}

TEST(JsonStreamTest, SyntaxErrorsDeepInsideAreErrors) {
  const std::string text = ExportText(TrickyTracks(30000));
  const size_t middle = text.find("\"id\":\"id-15000\"");
  ASSERT_NE(middle, std::string::npos);
  for (const std::string& bad : {std::string("{"), std::string("]"), std::string(",,"),
                                 std::string("\"x\""), std::string("nul")}) {
    SCOPED_TRACE(bad);
    std::string broken = text;
    broken.insert(middle, bad);
    Status s = ParseTracksJson(broken, "t.json").status();
    EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  }
  // Missing the end.
  for (size_t cut : {text.size() - 1, text.size() / 2, text.size() / 3 + 1}) {
    Status s = ParseTracksJson(text.substr(0, cut), "t.json").status();
    EXPECT_TRUE(s.IsInvalidArgument()) << cut << ": " << s.ToString();
  }
  // Text after the array.
  Status s = ParseTracksJson(text + std::string(3 << 20, ' ') + "x", "t.json").status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
}

TEST(JsonStreamTest, GzipInPiecesManyWindowsLong) {
  TempDir dir;
  const std::vector<TrackRecord> tracks = TrickyTracks(40000);
  const std::string text = ExportText(tracks);
  // Two members, split in the middle of a record.
  std::string gz;
  for (const std::string& part : {text.substr(0, text.size() / 2), text.substr(text.size() / 2)}) {
    z_stream zs{};
    ASSERT_EQ(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY), Z_OK);
    std::string out(deflateBound(&zs, part.size()), '\0');
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(part.data()));
    zs.avail_in = static_cast<uInt>(part.size());
    zs.next_out = reinterpret_cast<Bytef*>(out.data());
    zs.avail_out = static_cast<uInt>(out.size());
    ASSERT_EQ(deflate(&zs, Z_FINISH), Z_STREAM_END);
    out.resize(zs.total_out);
    deflateEnd(&zs);
    gz += out;
  }
  WriteFileBytes(dir.file("t.json.gz"), gz);
  Result<std::vector<TrackRecord>> got = ImportJsonFile(dir.file("t.json.gz"));
  ASSERT_OK(got.status());
  EXPECT_EQ(*got, tracks);
  // Truncated in the second member.
  WriteFileBytes(dir.file("cut.json.gz"), gz.substr(0, gz.size() - 100));
  Status s = ImportJsonFile(dir.file("cut.json.gz")).status();
  EXPECT_TRUE(s.IsInvalidArgument()) << s.ToString();
  EXPECT_THAT(s.message(), HasSubstr("truncated gzip data"));
}

}  // namespace
}  // namespace trackstore
