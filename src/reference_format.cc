// The reference application's text forms (src/reference_format.h).
#include "reference_format.h"

#include <simdjson.h>

#include <algorithm>
#include <charconv>
#include <cmath>
#include <cstdio>
#include <limits>
#include <utility>

#include "json_records.h"
#include "json_text.h"
#include "json_util.h"

namespace trackstore::internal {

namespace {

// --- calendar (proleptic Gregorian, as Python's datetime) -----------------

int64_t DaysFromCivil(int64_t y, unsigned m, unsigned d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const unsigned yoe = static_cast<unsigned>(y - era * 400);
  const unsigned doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const unsigned doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + static_cast<int64_t>(doe) - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, unsigned* m, unsigned* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const unsigned doe = static_cast<unsigned>(z - era * 146097);
  const unsigned yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const unsigned doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const unsigned mp = (5 * doy + 2) / 153;
  *d = doy - (153 * mp + 2) / 5 + 1;
  *m = mp < 10 ? mp + 3 : mp - 9;
  *y = static_cast<int64_t>(yoe) + era * 400 + (*m <= 2);
}

bool LeapYear(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

unsigned DaysInMonth(int64_t y, unsigned m) {
  static constexpr unsigned kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && LeapYear(y) ? 29 : kDays[m - 1];
}

int64_t FloorDiv(int64_t a, int64_t b) {
  const int64_t q = a / b;
  return (a % b != 0 && (a < 0) != (b < 0)) ? q - 1 : q;
}

// Reads exactly `n` ASCII digits at text[*pos].
bool Digits(std::string_view text, size_t* pos, size_t n, unsigned* out) {
  if (*pos + n > text.size()) return false;
  unsigned v = 0;
  for (size_t i = 0; i < n; ++i) {
    const char c = text[*pos + i];
    if (c < '0' || c > '9') return false;
    v = v * 10 + static_cast<unsigned>(c - '0');
  }
  *pos += n;
  *out = v;
  return true;
}

// --- Python JSON -----------------------------------------------------------

// The reference's declared fields in its order, as (key, Field).
struct DeclaredField {
  std::string_view key;
  Field field;
};
constexpr DeclaredField kReferenceOrder[] = {
    {"id", Field::kId},
    {"name", Field::kName},
    {"artist", Field::kArtist},
    {"album", Field::kAlbum},
    {"genre", Field::kGenre},
    {"year", Field::kYear},
    {"date_added", Field::kDateAdded},
    {"last_modified", Field::kLastModified},
    {"track_status", Field::kTrackStatus},
    {"original_artist", Field::kOriginalArtist},
    {"original_album", Field::kOriginalAlbum},
    {"year_before_mgu", Field::kYearBeforeMgu},
    {"year_set_by_mgu", Field::kYearSetByMgu},
    {"release_year", Field::kReleaseYear},
    {"original_pos", Field::kOriginalPos},
    {"album_artist", Field::kAlbumArtist},
};

// Accessors over the three forms of a track.
std::optional<std::string_view> StringOf(const TrackRecord& t, int i) {
  const std::string* s = t.StringField(i);
  if (s == nullptr) return std::nullopt;
  return std::string_view(*s);
}
std::optional<std::string_view> StringOf(const TrackView& t, int i) { return t.string_field(i); }
std::optional<int64_t> PosOf(const TrackRecord& t) { return t.original_pos; }
std::optional<int64_t> PosOf(const TrackView& t) { return t.original_pos(); }
std::string_view ExtrasOf(const TrackRecord& t) { return t.extras_json; }
std::string_view ExtrasOf(const TrackView& t) { return t.extras_json(); }
std::optional<std::string_view> StringOf(const JsonRecord& r, int i) { return r.strings[i]; }
std::optional<int64_t> PosOf(const JsonRecord& r) { return r.original_pos; }
std::string_view ExtrasOf(const JsonRecord& r) { return r.extras_json; }

struct Separators {
  std::string_view item, key;
};
Separators SeparatorsOf(PythonLayout layout) {
  return layout == PythonLayout::kCanonical ? Separators{",", ":"} : Separators{", ", ": "};
}

void AppendInt(int64_t v, std::string* out) {
  char digits[24];
  const auto r = std::to_chars(digits, digits + sizeof(digits), v);
  out->append(digits, r.ptr);
}

void AppendValue(simdjson::dom::element v, PythonLayout layout, std::string* out);

using Member = std::pair<std::string_view, simdjson::dom::element>;

void AppendObject(std::vector<Member> members, PythonLayout layout, std::string* out) {
  const Separators sep = SeparatorsOf(layout);
  if (layout == PythonLayout::kCanonical) {
    // Byte order of UTF-8 is code point order, Python's order of str keys.
    std::stable_sort(members.begin(), members.end(),
                     [](const Member& a, const Member& b) { return a.first < b.first; });
  }
  out->push_back('{');
  for (size_t i = 0; i < members.size(); ++i) {
    if (i > 0) out->append(sep.item);
    AppendPythonString(members[i].first, false, out);
    out->append(sep.key);
    AppendValue(members[i].second, layout, out);
  }
  out->push_back('}');
}

void AppendValue(simdjson::dom::element v, PythonLayout layout, std::string* out) {
  using simdjson::dom::element_type;
  switch (v.type()) {
    case element_type::OBJECT: {
      std::vector<Member> members;
      for (simdjson::dom::key_value_pair kv : simdjson::dom::object(v)) {
        members.emplace_back(kv.key, kv.value);
      }
      AppendObject(std::move(members), layout, out);
      return;
    }
    case element_type::ARRAY: {
      const Separators sep = SeparatorsOf(layout);
      out->push_back('[');
      bool first = true;
      for (simdjson::dom::element e : simdjson::dom::array(v)) {
        if (!first) out->append(sep.item);
        first = false;
        AppendValue(e, layout, out);
      }
      out->push_back(']');
      return;
    }
    case element_type::INT64:
      AppendInt(int64_t(v), out);
      return;
    case element_type::UINT64: {
      char digits[24];
      const auto r = std::to_chars(digits, digits + sizeof(digits), uint64_t(v));
      out->append(digits, r.ptr);
      return;
    }
    case element_type::DOUBLE:
      AppendPythonFloat(double(v), out);
      return;
    case element_type::STRING:
      AppendPythonString(std::string_view(v), false, out);
      return;
    case element_type::BOOL:
      out->append(bool(v) ? "true" : "false");
      return;
    case element_type::NULL_VALUE:
      out->append("null");
      return;
  }
}

// One declared field's value.
template <typename Track>
void AppendField(const Track& t, Field f, std::string* out) {
  if (f == Field::kOriginalPos) {
    if (std::optional<int64_t> pos = PosOf(t)) {
      AppendInt(*pos, out);
    } else {
      out->append("null");
    }
    return;
  }
  std::optional<std::string_view> v = StringOf(t, static_cast<int>(f));
  if (v) {
    AppendPythonString(*v, false, out);
  } else {
    out->append("null");
  }
}

template <typename Track>
Status AppendTrack(const Track& t, PythonLayout layout, std::string* out) {
  // One parser per thread, reused: extras are small and many.
  thread_local simdjson::dom::parser parser;
  std::vector<Member> extras;
  const std::string_view extras_text = ExtrasOf(t);
  if (!extras_text.empty()) {
    simdjson::dom::element root;
    simdjson::dom::object obj;
    if (parser.parse(extras_text.data(), extras_text.size()).get(root) != simdjson::SUCCESS ||
        root.get(obj) != simdjson::SUCCESS) {
      return Status::InvalidArgument("track '" + std::string(StringOf(t, 0).value_or("")) + "'",
                                     "extras are not a JSON object");
    }
    for (simdjson::dom::key_value_pair kv : obj) extras.emplace_back(kv.key, kv.value);
  }
  const Separators sep = SeparatorsOf(layout);
  out->push_back('{');
  if (layout == PythonLayout::kDefault) {
    bool first = true;
    for (const DeclaredField& d : kReferenceOrder) {
      if (!first) out->append(sep.item);
      first = false;
      AppendPythonString(d.key, false, out);
      out->append(sep.key);
      AppendField(t, d.field, out);
    }
    for (const Member& m : extras) {
      out->append(sep.item);
      AppendPythonString(m.first, false, out);
      out->append(sep.key);
      AppendValue(m.second, layout, out);
    }
  } else {
    // The declared fields and the extras' keys, sorted together.
    struct Key {
      std::string_view key;
      int declared;  // index into kReferenceOrder, or -1 for extras[extra]
      size_t extra;
    };
    std::vector<Key> keys;
    keys.reserve(std::size(kReferenceOrder) + extras.size());
    for (size_t i = 0; i < std::size(kReferenceOrder); ++i) {
      keys.push_back({kReferenceOrder[i].key, static_cast<int>(i), 0});
    }
    for (size_t i = 0; i < extras.size(); ++i) keys.push_back({extras[i].first, -1, i});
    std::stable_sort(keys.begin(), keys.end(),
                     [](const Key& a, const Key& b) { return a.key < b.key; });
    for (size_t i = 0; i < keys.size(); ++i) {
      if (i > 0) out->append(sep.item);
      AppendPythonString(keys[i].key, false, out);
      out->append(sep.key);
      if (keys[i].declared >= 0) {
        AppendField(t, kReferenceOrder[keys[i].declared].field, out);
      } else {
        AppendValue(extras[keys[i].extra].second, layout, out);
      }
    }
  }
  out->push_back('}');
  return Status::OK();
}

// Python's int() of a str: blanks around, an optional sign, decimal digits
// with single underscores between them.
std::optional<int64_t> PythonIntOfString(std::string_view s) {
  auto blank = [](char c) {
    return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
  };
  while (!s.empty() && blank(s.front())) s.remove_prefix(1);
  while (!s.empty() && blank(s.back())) s.remove_suffix(1);
  bool negative = false;
  if (!s.empty() && (s.front() == '+' || s.front() == '-')) {
    negative = s.front() == '-';
    s.remove_prefix(1);
  }
  if (s.empty()) return std::nullopt;
  std::string digits;
  for (size_t i = 0; i < s.size(); ++i) {
    const char c = s[i];
    if (c >= '0' && c <= '9') {
      digits.push_back(c);
    } else if (c == '_' && i > 0 && i + 1 < s.size() && s[i - 1] != '_' && s[i + 1] >= '0' &&
               s[i + 1] <= '9') {
      continue;
    } else {
      return std::nullopt;
    }
  }
  if (negative) digits.insert(digits.begin(), '-');
  int64_t v = 0;
  const auto [end, ec] = std::from_chars(digits.data(), digits.data() + digits.size(), v);
  if (ec != std::errc() || end != digits.data() + digits.size()) return std::nullopt;
  return v;
}

// Python's str() of a JSON number, for ids given as numbers.
std::optional<std::string> PythonStrOfNumber(const Json& j) {
  std::string out;
  if (j.is_number_unsigned()) {
    out = std::to_string(j.get<uint64_t>());
  } else if (j.is_number_integer()) {
    out = std::to_string(j.get<int64_t>());
  } else if (j.is_number_float()) {
    AppendPythonFloat(j.get<double>(), &out);
  } else {
    return std::nullopt;
  }
  return out;
}

// The time at member `key`: nullopt with *why set when it is missing or not
// a time.
std::optional<Micros> TimeMember(const Json& j, const char* key, std::string* why) {
  auto it = j.find(key);
  if (it == j.end()) {
    *why = std::string("'") + key + "' is missing";
    return std::nullopt;
  }
  if (!it->is_string()) {
    *why = std::string("'") + key + "' is not a string";
    return std::nullopt;
  }
  std::optional<Micros> t = ParseReferenceTime(it->get<std::string>());
  if (!t) *why = std::string("'") + key + "' is not an ISO 8601 time: " + it->dump();
  return t;
}

// Python's json.dumps(indent=2) of a flat object whose values are already
// JSON text.
std::string IndentedObject(const std::vector<std::pair<std::string_view, std::string>>& members) {
  std::string out = "{";
  for (size_t i = 0; i < members.size(); ++i) {
    out.append(i == 0 ? "\n  " : ",\n  ");
    AppendPythonString(members[i].first, true, &out);
    out.append(": ");
    out.append(members[i].second);
  }
  out.append(members.empty() ? "}" : "\n}");
  return out;
}

}  // namespace

// --- times ---------------------------------------------------------------------

Result<std::string> FormatReferenceTime(Micros t) {
  const int64_t days = FloorDiv(t, kMicrosPerDay);
  const int64_t in_day = t - days * kMicrosPerDay;
  int64_t y;
  unsigned m, d;
  CivilFromDays(days, &y, &m, &d);
  if (y < 1 || y > 9999) {
    return Status::InvalidArgument("time " + std::to_string(t) + " µs",
                                   "outside the years 1 to 9999 that the reference can read");
  }
  const int64_t secs = in_day / kMicrosPerSecond;
  const int64_t micros = in_day % kMicrosPerSecond;
  char buf[40];
  int n = std::snprintf(buf, sizeof(buf), "%04d-%02u-%02uT%02d:%02d:%02d", static_cast<int>(y), m,
                        d, static_cast<int>(secs / 3600), static_cast<int>(secs / 60 % 60),
                        static_cast<int>(secs % 60));
  if (micros != 0) {
    n += std::snprintf(buf + n, sizeof(buf) - n, ".%06d", static_cast<int>(micros));
  }
  return std::string(buf, static_cast<size_t>(n));
}

std::optional<Micros> ParseReferenceTime(std::string_view text) {
  size_t pos = 0;
  unsigned year = 0, month = 0, day = 0, hour = 0, minute = 0, second = 0, micros = 0;
  if (!Digits(text, &pos, 4, &year) || pos >= text.size() || text[pos++] != '-' ||
      !Digits(text, &pos, 2, &month) || pos >= text.size() || text[pos++] != '-' ||
      !Digits(text, &pos, 2, &day)) {
    return std::nullopt;
  }
  if (year < 1 || month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) {
    return std::nullopt;
  }
  int64_t offset_seconds = 0;
  if (pos < text.size()) {
    if (text[pos] != 'T' && text[pos] != ' ') return std::nullopt;
    ++pos;
    if (!Digits(text, &pos, 2, &hour) || pos >= text.size() || text[pos++] != ':' ||
        !Digits(text, &pos, 2, &minute)) {
      return std::nullopt;
    }
    if (pos < text.size() && text[pos] == ':') {
      ++pos;
      if (!Digits(text, &pos, 2, &second)) return std::nullopt;
      if (pos < text.size() && (text[pos] == '.' || text[pos] == ',')) {
        ++pos;
        size_t n = 0;
        while (pos + n < text.size() && text[pos + n] >= '0' && text[pos + n] <= '9') ++n;
        if (n < 1 || n > 6) return std::nullopt;
        unsigned frac = 0;
        Digits(text, &pos, n, &frac);
        for (size_t k = n; k < 6; ++k) frac *= 10;
        micros = frac;
      }
    }
    if (hour > 23 || minute > 59 || second > 59) return std::nullopt;
    if (pos < text.size()) {
      const char sign = text[pos++];
      if (sign == 'Z') {
        if (pos != text.size()) return std::nullopt;
      } else if (sign == '+' || sign == '-') {
        unsigned oh = 0, om = 0, os = 0;
        if (!Digits(text, &pos, 2, &oh) || pos >= text.size() || text[pos++] != ':' ||
            !Digits(text, &pos, 2, &om)) {
          return std::nullopt;
        }
        if (pos < text.size() && text[pos] == ':') {
          ++pos;
          if (!Digits(text, &pos, 2, &os)) return std::nullopt;
        }
        if (pos != text.size() || oh > 23 || om > 59 || os > 59) return std::nullopt;
        offset_seconds = (sign == '-' ? -1 : 1) * static_cast<int64_t>(oh * 3600 + om * 60 + os);
      } else {
        return std::nullopt;
      }
    }
  }
  const int64_t days = DaysFromCivil(year, month, day);
  // Local time = UTC + offset, so UTC = local - offset.
  const int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_seconds;
  return secs * kMicrosPerSecond + micros;
}

// --- Python JSON -----------------------------------------------------------------

void AppendPythonFloat(double v, std::string* out) {
  if (std::isnan(v)) {
    out->append("NaN");
    return;
  }
  if (std::isinf(v)) {
    out->append(v < 0 ? "-Infinity" : "Infinity");
    return;
  }
  // to_chars without a precision gives the shortest text that reads back
  // as v, as Python's repr does; only the notation differs.
  char buf[64];
  const auto r = std::to_chars(buf, buf + sizeof(buf), v, std::chars_format::scientific);
  std::string_view s(buf, static_cast<size_t>(r.ptr - buf));
  if (s.front() == '-') {
    out->push_back('-');
    s.remove_prefix(1);
  }
  const size_t e = s.find('e');
  std::string digits;
  for (char c : s.substr(0, e)) {
    if (c != '.') digits.push_back(c);
  }
  int exp10 = 0;
  std::string_view exp_text = s.substr(e + 1);
  if (!exp_text.empty() && exp_text.front() == '+') exp_text.remove_prefix(1);
  std::from_chars(exp_text.data(), exp_text.data() + exp_text.size(), exp10);
  // v = 0.DIGITS * 10^decpt, as in CPython's float_repr_style 'short'.
  const int decpt = exp10 + 1;
  const int n = static_cast<int>(digits.size());
  if (decpt <= -4 || decpt > 16) {
    out->push_back(digits[0]);
    if (n > 1) {
      out->push_back('.');
      out->append(digits, 1);
    }
    const int x = decpt - 1;
    char e_buf[16];
    std::snprintf(e_buf, sizeof(e_buf), "e%c%02d", x < 0 ? '-' : '+', x < 0 ? -x : x);
    out->append(e_buf);
  } else if (decpt <= 0) {
    out->append("0.");
    out->append(static_cast<size_t>(-decpt), '0');
    out->append(digits);
  } else if (decpt >= n) {
    out->append(digits);
    out->append(static_cast<size_t>(decpt - n), '0');
    out->append(".0");
  } else {
    out->append(digits, 0, static_cast<size_t>(decpt));
    out->push_back('.');
    out->append(digits, static_cast<size_t>(decpt));
  }
}

void AppendPythonString(std::string_view s, bool ascii, std::string* out) {
  json_text::AppendJsonString(s, out,
                              ascii ? json_text::JsonEscape::kAscii : json_text::JsonEscape::kUtf8);
}

Status AppendReferenceTrack(const TrackView& t, PythonLayout layout, std::string* out) {
  return AppendTrack(t, layout, out);
}
Status AppendReferenceTrack(const TrackRecord& t, PythonLayout layout, std::string* out) {
  return AppendTrack(t, layout, out);
}
Status AppendReferenceTrack(const JsonRecord& r, PythonLayout layout, std::string* out) {
  return AppendTrack(r, layout, out);
}

// --- the metadata file ----------------------------------------------------------------

ReferenceMetadata ReadReferenceMetadata(std::string_view text, std::string_view source) {
  ReferenceMetadata m;
  auto not_carried = [&](std::string why) {
    m.service.reset();
    m.notes.push_back(
        {"metadata", std::move(why) + ": not carried; the store will require a full scan"});
    return m;
  };
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return not_carried(std::string(source) + " is not valid JSON");
  if (!j.is_object()) return not_carried(std::string(source) + " is not a JSON object");
  // What the reference's loader reads whatever the version is.
  if (auto h = j.find("snapshot_hash"); h != j.end()) {
    if (h->is_string()) {
      m.snapshot_hash = h->get<std::string>();
    } else if (std::optional<std::string> s = PythonStrOfNumber(*h)) {
      m.snapshot_hash = *s;
    }
  }
  if (auto c = j.find("track_count"); c != j.end()) {
    if (c->is_number_integer()) {
      if (!c->is_number_unsigned() || c->get<uint64_t>() <= uint64_t{INT64_MAX}) {
        m.track_count = c->get<int64_t>();
      }
    } else if (c->is_number_float() && std::isfinite(c->get<double>()) &&
               std::fabs(c->get<double>()) < 9.2e18) {
      m.track_count = static_cast<int64_t>(c->get<double>());  // int() truncates
    } else if (c->is_boolean()) {
      m.track_count = c->get<bool>() ? 1 : 0;
    } else if (c->is_string()) {
      m.track_count = PythonIntOfString(c->get<std::string>());
    }
  }
  auto version = j.find("version");
  if (version != j.end() &&
      !(version->is_string() && version->get<std::string>() == kReferenceMetadataVersion)) {
    return not_carried("metadata version " +
                       (version->is_string() ? version->get<std::string>() : version->dump()) +
                       " is not " + std::string(kReferenceMetadataVersion));
  }
  std::string why;
  ServiceMetadata service;
  std::optional<Micros> scan = TimeMember(j, "last_full_scan", &why);
  if (!scan) return not_carried(why);
  std::optional<Micros> mtime = TimeMember(j, "library_mtime", &why);
  if (!mtime) return not_carried(why);
  if (!j.contains("track_count")) return not_carried("'track_count' is missing");
  if (!m.track_count) {
    return not_carried("'track_count' is not an integer: " + j["track_count"].dump());
  }
  if (!j.contains("snapshot_hash")) return not_carried("'snapshot_hash' is missing");
  service.format_version = 1;
  service.last_full_scan = *scan;
  service.library_mtime = *mtime;
  if (auto f = j.find("last_force_scan_time"); f != j.end() && !f->is_null()) {
    std::optional<Micros> t =
        f->is_string() ? ParseReferenceTime(f->get<std::string>()) : std::nullopt;
    if (t) {
      service.last_force_scan = *t;
    } else {
      m.notes.push_back(
          {"last_force_scan_time", "not an ISO 8601 time: " + f->dump() +
                                       ": not carried; the next force-scan check is a first run"});
    }
  }
  m.service = service;
  return m;
}

Result<std::string> FormatReferenceMetadata(const ServiceMetadata& service, uint64_t track_count,
                                            std::string_view snapshot_hash) {
  Result<std::string> scan = FormatReferenceTime(service.last_full_scan);
  if (!scan.ok()) return scan.status().Annotate("last_full_scan");
  Result<std::string> mtime = FormatReferenceTime(service.library_mtime);
  if (!mtime.ok()) return mtime.status().Annotate("library_mtime");
  std::string force = "null";
  if (service.last_force_scan) {
    Result<std::string> t = FormatReferenceTime(*service.last_force_scan);
    if (!t.ok()) return t.status().Annotate("last_force_scan_time");
    force.clear();
    AppendPythonString(*t, true, &force);
  }
  auto str = [](std::string_view s) {
    std::string out;
    AppendPythonString(s, true, &out);
    return out;
  };
  return IndentedObject({{"version", str(kReferenceMetadataVersion)},
                         {"last_full_scan", str(*scan)},
                         {"library_mtime", str(*mtime)},
                         {"track_count", std::to_string(track_count)},
                         {"snapshot_hash", str(snapshot_hash)},
                         {"last_force_scan_time", force}});
}

// --- the delta file ---------------------------------------------------------------------

ReferenceDelta ReadReferenceDelta(std::string_view text, std::string_view source) {
  ReferenceDelta d;
  auto unreadable = [&](std::string why) {
    d.state.reset();
    d.notes.push_back(
        {"delta state", "delta file unreadable: " + std::move(why) + ": not carried"});
    return d;
  };
  Json j = Json::parse(text, nullptr, /*allow_exceptions=*/false);
  if (j.is_discarded()) return unreadable(std::string(source) + " is not valid JSON");
  if (!j.is_object()) return unreadable(std::string(source) + " is not a JSON object");
  std::string why;
  DeltaState state;
  std::optional<Micros> last_run = TimeMember(j, "last_run", &why);
  if (!last_run) return unreadable(why);
  state.last_run = *last_run;
  if (auto ids = j.find("processed_track_ids"); ids != j.end() && !ids->is_null()) {
    if (!ids->is_array()) return unreadable("'processed_track_ids' is not a list");
    uint64_t skipped = 0;
    for (const Json& id : *ids) {
      if (id.is_string()) {
        state.processed_ids.insert(id.get<std::string>());
      } else if (std::optional<std::string> s = PythonStrOfNumber(id)) {
        state.processed_ids.insert(*s);  // the reference makes them str()
      } else {
        ++skipped;
      }
    }
    if (skipped > 0) {
      d.notes.push_back({"processed_track_ids", std::to_string(skipped) +
                                                    " entries are neither strings nor numbers: "
                                                    "not carried"});
    }
  }
  if (auto hashes = j.find("field_hashes"); hashes != j.end() && !hashes->is_null()) {
    if (!hashes->is_object()) {
      d.notes.push_back({"field_hashes", "not an object: not carried"});
    } else {
      uint64_t skipped = 0;
      for (const auto& [id, hash] : hashes->items()) {
        if (hash.is_string()) {
          state.field_hashes[id] = hash.get<std::string>();
        } else {
          ++skipped;
        }
      }
      if (skipped > 0) {
        d.notes.push_back(
            {"field_hashes", std::to_string(skipped) + " values are not strings: not carried"});
      }
    }
  }
  if (auto since = j.find("tracked_since"); since != j.end() && !since->is_null()) {
    std::optional<Micros> t =
        since->is_string() ? ParseReferenceTime(since->get<std::string>()) : std::nullopt;
    if (t) {
      state.tracked_since = *t;
    } else {
      d.notes.push_back({"tracked_since", "not an ISO 8601 time: " + since->dump() +
                                              ": not carried; the window restarts"});
    }
  }
  d.state = std::move(state);
  return d;
}

Result<std::string> FormatReferenceDelta(const DeltaState& state) {
  Result<std::string> last_run = FormatReferenceTime(state.last_run);
  if (!last_run.ok()) return last_run.status().Annotate("last_run");
  Result<std::string> since = FormatReferenceTime(state.tracked_since.value_or(state.last_run));
  if (!since.ok()) return since.status().Annotate("tracked_since");
  for (const std::string& id : state.processed_ids) {
    if (json_text::FirstInvalidUtf8(id) != id.size()) {
      return Status::InvalidArgument("delta state", "a processed id is not valid UTF-8");
    }
  }
  for (const auto& [id, hash] : state.field_hashes) {
    if (json_text::FirstInvalidUtf8(id) != id.size() ||
        json_text::FirstInvalidUtf8(hash) != hash.size()) {
      return Status::InvalidArgument("delta state", "a field hash is not valid UTF-8");
    }
  }
  std::string ids = "[";
  if (!state.processed_ids.empty()) {
    bool first = true;
    for (const std::string& id : state.processed_ids) {  // std::set: sorted, as sorted(ids)
      ids.append(first ? "\n    " : ",\n    ");
      first = false;
      AppendPythonString(id, true, &ids);
    }
    ids.append("\n  ");
  }
  ids.push_back(']');
  std::string hashes = "{";
  if (!state.field_hashes.empty()) {
    bool first = true;
    for (const auto& [id, hash] : state.field_hashes) {
      hashes.append(first ? "\n    " : ",\n    ");
      first = false;
      AppendPythonString(id, true, &hashes);
      hashes.append(": ");
      AppendPythonString(hash, true, &hashes);
    }
    hashes.append("\n  ");
  }
  hashes.push_back('}');
  auto str = [](std::string_view s) {
    std::string out;
    AppendPythonString(s, true, &out);
    return out;
  };
  return IndentedObject({{"last_run", str(*last_run)},
                         {"processed_track_ids", ids},
                         {"field_hashes", hashes},
                         {"tracked_since", str(*since)}});
}

}  // namespace trackstore::internal
