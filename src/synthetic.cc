// A deterministic synthetic library (include/trackstore/synthetic.h).
//
// Every choice comes from splitmix64 and integer arithmetic, never from
// <random>'s distributions, whose output differs between standard libraries.
// Tracks are generated artist by artist and album by album; `count` only
// says where to stop, so a shorter library is a prefix of a longer one.
#include "trackstore/synthetic.h"

#include <algorithm>
#include <charconv>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace trackstore {

namespace {

class Rng {
 public:
  explicit Rng(uint64_t seed) : state_(seed) {}

  // splitmix64 (Steele, Lea, Flood 2014): small, fast and fully specified.
  uint64_t Next() {
    uint64_t z = (state_ += 0x9e3779b97f4a7c15);
    z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9;
    z = (z ^ (z >> 27)) * 0x94d049bb133111eb;
    return z ^ (z >> 31);
  }
  // Uniform in [0, n) by multiply-shift; the bias (< n / 2^32) is harmless here.
  uint32_t Below(uint32_t n) { return static_cast<uint32_t>(((Next() >> 32) * n) >> 32); }
  uint32_t Between(uint32_t lo, uint32_t hi) { return lo + Below(hi - lo + 1); }
  bool PerMille(uint32_t p) { return Below(1000) < p; }
  bool Percent(uint32_t p) { return PerMille(10 * p); }
  template <size_t N>
  std::string_view Pick(const std::string_view (&list)[N]) {
    return list[Below(N)];
  }

 private:
  uint64_t state_;
};

// About one word in seven is non-ASCII, as in a library with some French,
// German, Spanish, Russian and Japanese music.
constexpr std::string_view kWords[] = {
    "Love",    "Night",   "Heart",   "Fire",     "Dream",   "Summer",   "River",   "Light",
    "Shadow",  "Road",    "Rain",    "City",     "Blue",    "Gold",     "Silver",  "Midnight",
    "Morning", "Ocean",   "Stone",   "Wild",     "Broken",  "Electric", "Sweet",   "Lonely",
    "Golden",  "Dancing", "Falling", "Running",  "Burning", "Forever",  "Tonight", "Paradise",
    "Highway", "Thunder", "Angel",   "Ghost",    "Mirror",  "Garden",   "Winter",  "Echo",
    "Velvet",  "Neon",    "Crystal", "Secret",   "Storm",   "Sugar",    "Horizon", "Satellite",
    "Hollow",  "Diamond", "Whisper", "Kingdom",  "Memory",  "Children", "Machine", "Flower",
    "Island",  "Desert",  "Window",  "Letter",   "Little",  "Strange",  "Last",    "Café",
    "Über",    "Niño",    "Corazón", "Señorita", "Mädchen", "Rêve",     "Été",     "Москва",
    "Любовь",  "Ночь",    "日本",    "東京",     "夜明け",
};

constexpr std::string_view kFirstNames[] = {
    "John",  "Paul",  "Mary",   "Anna",   "David",  "Sarah", "Michael", "Laura",
    "James", "Emma",  "Robert", "Sofia",  "Daniel", "Julia", "Thomas",  "Nina",
    "Peter", "Grace", "Marcus", "Alice",  "Oliver", "Chloe", "Lucas",   "Hannah",
    "José",  "Zoë",   "Renée",  "Jürgen", "Søren",  "Björn", "Иван",    "Анна",
};

constexpr std::string_view kLastNames[] = {
    "Smith",  "Johnson", "Brown",  "Taylor", "Miller", "Wilson", "Moore",  "Anderson",
    "Clark",  "Lewis",   "Walker", "Hall",   "Young",  "King",   "Wright", "Hill",
    "Green",  "Baker",   "Nelson", "Carter", "Parker", "Evans",  "Turner", "Collins",
    "Müller", "García",  "Núñez",  "Dubois", "Łukasz", "Петров", "Yamada", "山田",
};

constexpr std::string_view kGenres[] = {
    "Rock",       "Pop",     "Alternative", "Indie Rock", "Hip-Hop/Rap",
    "Electronic", "Jazz",    "R&B/Soul",    "Country",    "Metal",
    "Folk",       "Blues",   "Reggae",      "Soundtrack", "Singer/Songwriter",
    "Dance",      "Latin",   "World",       "Ambient",    "Punk",
    "J-Pop",      "Chanson",
};

constexpr std::string_view kStatuses[] = {
    "subscription", "subscription", "subscription", "subscription", "purchased",
    "purchased",    "matched",      "matched",      "local",        "uploaded",
};

constexpr std::string_view kTitleSuffixes[] = {
    " (Remastered)",       " (Live)", " - Radio Edit",
    " (Acoustic Version)", " (Demo)", " (Extended Mix)",
    " (Single Version)",   " (Mono)", " - Live at Wembley Stadium",
    " (Instrumental)",
};

constexpr std::string_view kAlbumSuffixes[] = {
    " (Deluxe Edition)",
    " [Remastered]",
    " (Expanded Edition)",
    " - EP",
    " (Live)",
    " (Original Motion Picture Soundtrack)",
};

std::string Decimal(uint64_t v) {
  char buf[24];
  return std::string(buf, std::to_chars(buf, buf + sizeof(buf), v).ptr);
}

// Seconds since the epoch to "YYYY-MM-DD hh:mm:ss" (UTC), by Hinnant's
// civil_from_days: no time zone database, the same on every machine.
std::string FormatUtc(int64_t seconds) {
  const int64_t z = seconds / 86400 + 719468;
  const int secs = static_cast<int>(seconds % 86400);
  const int64_t era = z / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  const int day = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  const int month = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  const int year = static_cast<int>(yoe + era * 400 + (month <= 2 ? 1 : 0));
  char buf[] = "0000-00-00 00:00:00";
  auto put = [&](int pos, int width, int value) {
    for (int i = pos + width - 1; i >= pos; --i, value /= 10) {
      buf[i] = static_cast<char>('0' + value % 10);
    }
  };
  put(0, 4, year);
  put(5, 2, month);
  put(8, 2, day);
  put(11, 2, secs / 3600);
  put(14, 2, secs / 60 % 60);
  put(17, 2, secs % 60);
  return std::string(buf, 19);
}

void AppendWords(Rng& rng, uint32_t n, std::string* out) {
  for (uint32_t i = 0; i < n; ++i) {
    if (i > 0) out->push_back(' ');
    out->append(rng.Pick(kWords));
  }
}

void AppendPerson(Rng& rng, std::string* out) {
  out->append(rng.Pick(kFirstNames)).append(" ").append(rng.Pick(kLastNames));
}

// Titles in a few common shapes: "Heart of the City", "The Last Road".
void AppendTitle(Rng& rng, std::string* out) {
  static constexpr std::string_view kGlue[] = {" of the ", " in the ", " and the ", " on ",
                                               " for "};
  switch (rng.Below(6)) {
    case 0:
      out->append("The ");
      AppendWords(rng, 2, out);
      break;
    case 1:
    case 2:
      AppendWords(rng, rng.Between(1, 3), out);
      out->append(rng.Pick(kGlue));
      AppendWords(rng, rng.Between(1, 2), out);
      break;
    default:
      AppendWords(rng, rng.Between(2, 5), out);
  }
}

// A movement of a classical work: "Symphony No. 5 in C Minor, Op. 67: II. Adagio".
void AppendMovement(Rng& rng, uint32_t work, uint32_t movement, std::string* out) {
  static constexpr std::string_view kForms[] = {"Symphony", "Piano Concerto", "String Quartet",
                                                "Violin Sonata", "Piano Sonata"};
  static constexpr std::string_view kKeys[] = {"C Major", "D Minor",      "E-Flat Major", "G Minor",
                                               "A Major", "B-Flat Major", "F-Sharp Minor"};
  static constexpr std::string_view kNumerals[] = {"I", "II", "III", "IV"};
  static constexpr std::string_view kTempi[] = {
      "Allegro con brio", "Andante con moto", "Adagio",       "Scherzo. Allegro vivace",
      "Finale. Presto",   "Allegretto",       "Largo e mesto"};
  out->append(kForms[work % 5]).append(" No. ").append(Decimal(work % 9 + 1));
  out->append(" in ").append(kKeys[work % 7]).append(", Op. ").append(Decimal(work % 120 + 1));
  out->append(": ").append(kNumerals[movement % 4]).append(". ").append(rng.Pick(kTempi));
}

struct Artist {
  std::string name;
  bool classical = false;  // an orchestra and conductor, albums of numbered works
};

Artist MakeArtist(Rng& rng) {
  Artist a;
  a.name.reserve(48);
  const uint32_t kind = rng.Below(20);
  if (kind < 4) {
    static constexpr std::string_view kOrchestras[] = {
        "Wiener Philharmoniker", "London Symphony Orchestra", "Orchestre de Paris",
        "Berliner Philharmoniker", "Московский камерный оркестр"};
    a.classical = true;
    a.name.append(rng.Pick(kOrchestras)).append(" & ");
    AppendPerson(rng, &a.name);
  } else if (kind < 7) {
    a.name.append("The ");
    AppendWords(rng, rng.Between(1, 3), &a.name);
    a.name.push_back('s');
  } else if (kind < 10) {
    AppendWords(rng, rng.Between(1, 3), &a.name);
  } else {
    AppendPerson(rng, &a.name);
    if (rng.Percent(35)) a.name.append(" & The ").append(rng.Pick(kWords)).append(" Band");
  }
  return a;
}

// What the tracks of one album share.
struct Album {
  std::string title;
  std::optional<std::string> album_artist;
  std::optional<std::string> genre;
  std::optional<std::string> year;
  std::optional<std::string> release_year;
  std::optional<std::string> track_status;
  int64_t added = 0;  // seconds since the epoch
  uint32_t year_number = 0;
  uint32_t work = 0;  // first classical work, for a classical album
  bool compilation = false;
  bool numbered = false;  // whether its tracks carry original_pos
};

constexpr int64_t kFirstAdded = 1199145600;    // 2008-01-01 00:00:00 UTC
constexpr int64_t kLastAdded = 1735603200;     // 2024-12-31 00:00:00 UTC
constexpr int64_t kSecondsPerYear = 31556952;  // the Gregorian average

Album MakeAlbum(Rng& rng, const Artist& artist, uint32_t year) {
  Album a;
  a.year_number = year;
  a.title.reserve(48);
  if (artist.classical) {
    static constexpr std::string_view kComposers[] = {"Beethoven", "Mozart", "Brahms", "Dvořák",
                                                      "Чайковский"};
    a.work = rng.Below(1000);
    a.title.append(rng.Pick(kComposers)).append(": Symphonies & Concertos, Vol. ");
    a.title.append(Decimal(rng.Between(1, 9)));
    a.genre = "Classical";
  } else {
    AppendTitle(rng, &a.title);
    if (rng.Percent(30)) a.title.append(rng.Pick(kAlbumSuffixes));
    a.compilation = rng.Percent(5);
    if (!rng.Percent(3)) a.genre = rng.Percent(2) ? std::string() : std::string(rng.Pick(kGenres));
  }
  if (a.compilation) {
    a.album_artist = "Various Artists";
  } else if (rng.Percent(90)) {
    a.album_artist = rng.Percent(3) ? std::string() : artist.name;
  }
  if (!rng.Percent(4)) a.year = rng.Percent(3) ? std::string() : Decimal(year);
  if (rng.Percent(75)) a.release_year = Decimal(rng.Percent(85) ? year : rng.Between(year, 2024));
  if (!rng.Percent(10)) a.track_status = std::string(rng.Pick(kStatuses));
  // Added to the library no earlier than the album's year.
  const int64_t first = std::max<int64_t>(kFirstAdded, (int64_t{year} - 1970) * kSecondsPerYear);
  a.added = first + rng.Below(static_cast<uint32_t>(kLastAdded - first));
  a.numbered = rng.Percent(50);
  return a;
}

// Keys in sorted order, as import writes extras, so that a generated
// library reads back unchanged.
std::string Extras(Rng& rng) {
  const std::string rating = Decimal(20 * rng.Between(1, 5));
  const std::string play_count = Decimal(rng.Below(500));
  const bool tagged = rng.Percent(20);
  std::string s = tagged ? "{\"bpm\":128.5," : "{";
  s.append("\"play_count\":").append(play_count);
  s.append(",\"rating\":").append(rating);
  if (tagged) s.append(",\"tags\":[\"live\",\"favorite\"]");
  s.push_back('}');
  return s;
}

TrackRecord MakeTrack(Rng& rng, const Artist& artist, const Album& a, uint32_t number,
                      uint64_t id) {
  TrackRecord t;
  t.id = Decimal(id);
  t.name.reserve(64);
  if (rng.PerMille(2)) {
    // An empty name happens.
  } else if (artist.classical) {
    AppendMovement(rng, a.work + (number - 1) / 4, number - 1, &t.name);
  } else {
    AppendTitle(rng, &t.name);
    if (rng.Percent(20)) t.name.append(rng.Pick(kTitleSuffixes));
  }
  if (a.compilation) {
    t.artist = MakeArtist(rng).name;
  } else {
    t.artist = artist.name;
    if (!artist.classical && rng.Percent(10)) {
      t.name.append(" (feat. ");
      AppendPerson(rng, &t.name);
      t.name.push_back(')');
    }
  }
  t.album = a.title;
  t.genre = a.genre;
  t.year = a.year;
  const int64_t added = a.added + number * 7 + rng.Below(5);
  if (!rng.PerMille(5)) t.date_added = FormatUtc(added);
  if (!rng.Percent(2)) {  // within three years, and not after kLastAdded
    const int64_t span = std::clamp<int64_t>(kLastAdded - added, 0, 3 * kSecondsPerYear) + 1;
    t.last_modified = FormatUtc(added + rng.Below(static_cast<uint32_t>(span)));
  }
  t.track_status = a.track_status;
  if (rng.Percent(85)) {  // what the reference application saw before editing
    t.original_artist = t.artist;
    t.original_album = rng.Percent(97) ? t.album : std::string();
  }
  if (t.year && rng.Percent(25)) {  // Music Genre Updater corrected the year
    t.year_before_mgu = rng.Percent(30) ? std::string() : Decimal(a.year_number + rng.Below(30));
    t.year_set_by_mgu = *t.year;
  }
  t.release_year = a.release_year;
  t.album_artist = a.album_artist;
  if (a.numbered) t.original_pos = number;
  if (rng.Percent(2)) t.extras_json = Extras(rng);
  return t;
}

}  // namespace

// GenerateLibrary's loops (artists, their albums, their tracks) unrolled
// into a state that can stop after any track and resume, drawing from the
// generator in the same order.
struct LibraryGenerator::Rep {
  explicit Rep(const SyntheticOptions& o) : options(o), rng(o.seed) {}
  SyntheticOptions options;
  Rng rng;
  uint64_t generated = 0;
  std::optional<Artist> artist;
  uint32_t year = 0;
  uint32_t albums = 0;  // of this artist
  uint32_t album_index = 0;
  std::optional<Album> album;
  uint32_t tracks = 0;  // on this album
  uint32_t number = 0;  // of the next track on it
};

LibraryGenerator::LibraryGenerator(const SyntheticOptions& options)
    : rep_(std::make_unique<Rep>(options)) {}
LibraryGenerator::~LibraryGenerator() = default;

uint64_t LibraryGenerator::generated() const { return rep_->generated; }

void LibraryGenerator::Next(uint64_t count, std::vector<TrackRecord>* out) {
  Rep& r = *rep_;
  for (uint64_t made = 0; made < count;) {
    if (!r.artist) {
      r.artist = MakeArtist(r.rng);
      r.year = r.rng.Between(1967, 2020);
      r.albums = r.rng.Between(1, 6);
      r.album_index = 0;
    }
    if (!r.album) {
      if (r.album_index == r.albums) {
        r.artist.reset();
        continue;
      }
      r.album = MakeAlbum(r.rng, *r.artist, r.year);
      r.tracks = r.rng.Between(8, 16);
      r.number = 1;
    }
    if (r.number > r.tracks) {
      r.year = std::min<uint32_t>(2024, r.year + r.rng.Between(1, 4));
      r.album.reset();
      ++r.album_index;
      continue;
    }
    out->push_back(
        MakeTrack(r.rng, *r.artist, *r.album, r.number++, r.options.first_id + r.generated));
    ++r.generated;
    ++made;
  }
}

std::vector<TrackRecord> GenerateLibrary(uint64_t count, const SyntheticOptions& options) {
  std::vector<TrackRecord> tracks;
  tracks.reserve(count);
  LibraryGenerator(options).Next(count, &tracks);
  return tracks;
}

}  // namespace trackstore
