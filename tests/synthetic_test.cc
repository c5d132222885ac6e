// Tests of the synthetic library: determinism, ids, and that it has the
// variety (absent and empty fields, non-ASCII text, extras) the other tests
// and the benchmarks rely on.
#include "trackstore/synthetic.h"

#include <nlohmann/json.hpp>
#include <set>
#include <string>

#include "test_util.h"
#include "trackstore/json.h"

namespace trackstore {
namespace {

using ::testing::AllOf;
using ::testing::Ge;
using ::testing::Le;

SyntheticOptions Seed(uint64_t seed) {
  SyntheticOptions o;
  o.seed = seed;
  return o;
}

SyntheticOptions FirstId(uint64_t first_id) {
  SyntheticOptions o;
  o.first_id = first_id;
  return o;
}

constexpr std::string_view kGoldenFirstTrack =
    R"({"id":"100000","name":"Über Diamond Little Diamond Forever - Radio Edit",)"
    R"("artist":"Sarah Clark & The Heart Band","album":"Satellite Midnight Garden",)"
    R"("genre":"Alternative","year":"2013","date_added":"2016-04-30 21:16:54",)"
    R"("last_modified":"2017-02-24 02:10:57","track_status":"subscription",)"
    R"("original_artist":"Sarah Clark & The Heart Band",)"
    R"("original_album":"Satellite Midnight Garden","release_year":"2013",)"
    R"("album_artist":"Sarah Clark & The Heart Band"})";
// FNV-1a of the JSON text of GenerateLibrary(1000).
constexpr uint64_t kGoldenFnv = 0x947946c0b53b8ed5;

// Bytes of string data: every present string field plus the extras text.
uint64_t StringBytes(const TrackRecord& t) {
  uint64_t n = t.extras_json.size();
  for (int f = 0; f < kStringFieldCount; ++f) {
    if (const std::string* s = t.StringField(f)) n += s->size();
  }
  return n;
}

// nlohmann::json's strict serializer rejects invalid UTF-8 (type_error 316);
// it stands in for simdjson::validate_utf8, which the tests do not link.
bool IsValidUtf8(const std::string& s) {
  try {
    (void)nlohmann::json(s).dump();
    return true;
  } catch (const nlohmann::json::type_error&) {
    return false;
  }
}

TEST(SyntheticTest, SameSeedSameTracks) {
  EXPECT_EQ(GenerateLibrary(3000), GenerateLibrary(3000));
  EXPECT_EQ(GenerateLibrary(3000, Seed(7)), GenerateLibrary(3000, Seed(7)));
}

TEST(SyntheticTest, DifferentSeedDifferentTracks) {
  const std::vector<TrackRecord> a = GenerateLibrary(1000, Seed(1));
  const std::vector<TrackRecord> b = GenerateLibrary(1000, Seed(2));
  ASSERT_EQ(a.size(), b.size());
  size_t same_names = 0;
  for (size_t i = 0; i < a.size(); ++i) same_names += a[i].name == b[i].name;
  EXPECT_LT(same_names, a.size() / 10);
  EXPECT_EQ(a[0].id, b[0].id);  // ids depend on first_id only
}

// FNV-1a, 64 bits: fixed by its definition, unlike std::hash.
uint64_t Fnv1a(std::string_view s) {
  uint64_t h = 0xcbf29ce484222325;
  for (unsigned char c : s) h = (h ^ c) * 0x100000001b3;
  return h;
}

// Pins the generator's output. A change here changes every benchmark's input
// and baseline, so make it on purpose and update the constants.
TEST(SyntheticTest, OutputIsPinned) {
  const std::vector<TrackRecord> t = GenerateLibrary(1000);
  std::string first;
  AppendTrackJson(t[0], &first);
  EXPECT_EQ(first, kGoldenFirstTrack);
  std::string all;
  for (const TrackRecord& r : t) AppendTrackJson(r, &all);
  EXPECT_EQ(Fnv1a(all), kGoldenFnv) << std::hex << Fnv1a(all);
}

TEST(SyntheticTest, ShorterLibraryIsAPrefix) {
  const std::vector<TrackRecord> full = GenerateLibrary(2000);
  const std::vector<TrackRecord> part = GenerateLibrary(777);
  ASSERT_EQ(part.size(), 777u);
  EXPECT_TRUE(std::equal(part.begin(), part.end(), full.begin()));
}

TEST(SyntheticTest, BatchesConcatenatedAreTheLibrary) {
  SyntheticOptions options;
  options.seed = 9;
  options.first_id = 5;
  LibraryGenerator generator(options);
  std::vector<TrackRecord> batches;
  // Odd sizes, so batches end inside albums and between artists.
  for (uint64_t size : {0, 1, 7, 13, 100, 379, 1000}) generator.Next(size, &batches);
  EXPECT_EQ(generator.generated(), batches.size());
  EXPECT_EQ(batches, GenerateLibrary(batches.size(), options));
}

TEST(SyntheticTest, ExactCount) {
  for (uint64_t n : {0, 1, 2, 15, 16, 17, 1000}) EXPECT_EQ(GenerateLibrary(n).size(), n);
}

TEST(SyntheticTest, IdsCountUpFromFirstId) {
  const std::vector<TrackRecord> t = GenerateLibrary(5000, FirstId(7));
  std::set<std::string> ids;
  for (size_t i = 0; i < t.size(); ++i) {
    EXPECT_EQ(t[i].id, std::to_string(7 + i));
    ids.insert(t[i].id);
  }
  EXPECT_EQ(ids.size(), t.size());
  EXPECT_EQ(GenerateLibrary(1)[0].id, "100000");  // the default first_id
}

TEST(SyntheticTest, AboutTwoHundredThirtyBytesPerTrack) {
  for (uint64_t seed : {1, 42, 1000}) {
    const std::vector<TrackRecord> t = GenerateLibrary(20000, Seed(seed));
    uint64_t bytes = 0;
    for (const TrackRecord& r : t) bytes += StringBytes(r);
    EXPECT_THAT(static_cast<double>(bytes) / t.size(), AllOf(Ge(180.0), Le(300.0))) << seed;
  }
}

TEST(SyntheticTest, AllTextIsValidUtf8AndSomeIsNotAscii) {
  const std::vector<TrackRecord> t = GenerateLibrary(20000);
  size_t non_ascii = 0;
  for (const TrackRecord& r : t) {
    for (int f = 0; f < kStringFieldCount; ++f) {
      const std::string* s = r.StringField(f);
      if (s == nullptr) continue;
      ASSERT_TRUE(IsValidUtf8(*s)) << r.id << " " << FieldName(static_cast<Field>(f));
      non_ascii += std::any_of(s->begin(), s->end(), [](char c) { return c & 0x80; });
    }
    ASSERT_TRUE(IsValidUtf8(r.extras_json)) << r.id;
  }
  EXPECT_GT(non_ascii, t.size() / 20);
}

TEST(SyntheticTest, HasAbsentAndEmptyOptionalFields) {
  const std::vector<TrackRecord> t = GenerateLibrary(20000);
  for (int f = kRequiredStringFieldCount; f < kStringFieldCount; ++f) {
    size_t absent = 0, empty = 0, set = 0;
    for (const TrackRecord& r : t) {
      const std::string* s = r.StringField(f);
      if (s == nullptr) {
        ++absent;
      } else if (s->empty()) {
        ++empty;
      } else {
        ++set;
      }
    }
    const std::string_view name = FieldName(static_cast<Field>(f));
    EXPECT_GT(absent, 0u) << name;
    EXPECT_GT(set, 0u) << name;
    // Empty values where a real library has them.
    if (name == "genre" || name == "year" || name == "album_artist" || name == "year_before_mgu" ||
        name == "original_album") {
      EXPECT_GT(empty, 0u) << name;
    }
  }
  size_t with_pos = 0, with_extras = 0;
  for (const TrackRecord& r : t) {
    with_pos += r.original_pos.has_value();
    with_extras += !r.extras_json.empty();
  }
  EXPECT_THAT(with_pos, AllOf(Ge(t.size() * 35 / 100), Le(t.size() * 65 / 100)));
  EXPECT_THAT(with_extras, AllOf(Ge(size_t{1}), Le(t.size() / 10)));
}

TEST(SyntheticTest, FieldsLookRealistic) {
  const std::vector<TrackRecord> t = GenerateLibrary(20000);
  const std::set<std::string> statuses = {"subscription", "purchased", "matched", "local",
                                          "uploaded"};
  for (const TrackRecord& r : t) {
    if (r.year && !r.year->empty()) {
      ASSERT_EQ(r.year->size(), 4u) << *r.year;
      ASSERT_GE(*r.year, "1967");
      ASSERT_LE(*r.year, "2024");
    }
    for (const auto& date : {r.date_added, r.last_modified}) {
      if (!date) continue;
      // "2019-03-04 12:34:56"
      ASSERT_EQ(date->size(), 19u) << *date;
      ASSERT_EQ((*date)[4], '-');
      ASSERT_EQ((*date)[10], ' ');
      ASSERT_EQ((*date)[13], ':');
      ASSERT_GE(*date, "2008-01-01 00:00:00");
    }
    if (r.date_added && r.last_modified) {
      ASSERT_GE(*r.last_modified, *r.date_added);
    }
    if (r.track_status) {
      ASSERT_TRUE(statuses.count(*r.track_status)) << *r.track_status;
    }
    if (r.original_pos) {
      ASSERT_THAT(*r.original_pos, AllOf(Ge(1), Le(16)));
    }
  }
}

// The extras are JSON objects that import reads back unchanged.
TEST(SyntheticTest, SurvivesJsonRoundTrip) {
  const std::vector<TrackRecord> t = GenerateLibrary(3000, Seed(9));
  std::string json = "[";
  for (const TrackRecord& r : t) {
    if (json.size() > 1) json.push_back(',');
    AppendTrackJson(r, &json);
  }
  json.push_back(']');
  Result<std::vector<TrackRecord>> back = ParseTracksJson(json);
  ASSERT_OK(back.status());
  EXPECT_TRUE(*back == t);
}

}  // namespace
}  // namespace trackstore
