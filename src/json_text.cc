// JSON text helpers shared by import and export (src/json_text.h).
#include "json_text.h"

#include <cstdint>

#include "trackstore/json.h"

namespace trackstore {

namespace json_text {

namespace {

void AppendU16Escape(uint32_t unit, std::string* out) {
  static constexpr char kHex[] = "0123456789abcdef";
  out->append("\\u");
  for (int shift = 12; shift >= 0; shift -= 4) out->push_back(kHex[(unit >> shift) & 15]);
}

// '"', '\\' or a control character (below U+0020, or U+007F), with
// json.dumps' escapes.
void AppendShortEscape(unsigned char c, std::string* out) {
  switch (c) {
    case '"':
      out->append("\\\"");
      break;
    case '\\':
      out->append("\\\\");
      break;
    case '\b':
      out->append("\\b");
      break;
    case '\f':
      out->append("\\f");
      break;
    case '\n':
      out->append("\\n");
      break;
    case '\r':
      out->append("\\r");
      break;
    case '\t':
      out->append("\\t");
      break;
    default:
      AppendU16Escape(c, out);
  }
}

// The non-ASCII character at s[i] as \uXXXX, or a surrogate pair;
// returns its length in bytes.
size_t AppendAsciiEscape(std::string_view s, size_t i, std::string* out) {
  const unsigned char c = static_cast<unsigned char>(s[i]);
  size_t len = Utf8SequenceLength(s, i);
  uint32_t cp;
  if (len == 0) {  // not UTF-8: callers check first; never a crash
    cp = 0xFFFD;
    len = 1;
  } else {
    cp = c & (0xFF >> (len + 1));
    for (size_t k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
  }
  if (cp >= 0x10000) {
    cp -= 0x10000;
    AppendU16Escape(0xD800 + (cp >> 10), out);
    AppendU16Escape(0xDC00 + (cp & 0x3FF), out);
  } else {
    AppendU16Escape(cp, out);
  }
  return len;
}

}  // namespace

void AppendJsonString(std::string_view s, std::string* out, JsonEscape mode) {
  const bool ascii = mode == JsonEscape::kAscii;
  out->push_back('"');
  size_t copied = 0;
  for (size_t i = 0; i < s.size();) {
    const unsigned char c = static_cast<unsigned char>(s[i]);
    if (c >= 0x20 && c != '"' && c != '\\' && (c < 0x7f || !ascii)) {
      ++i;
      continue;
    }
    out->append(s.data() + copied, i - copied);
    if (c >= 0x80) {
      i += AppendAsciiEscape(s, i, out);
    } else {
      AppendShortEscape(c, out);
      ++i;
    }
    copied = i;
  }
  out->append(s.data() + copied, s.size() - copied);
  out->push_back('"');
}

size_t Utf8SequenceLength(std::string_view s, size_t i) {
  const auto byte = [&](size_t k) { return static_cast<unsigned char>(s[k]); };
  const unsigned c = byte(i);
  if (c < 0x80) return 1;
  size_t len;
  unsigned lo = 0x80, hi = 0xBF;  // range of the second byte
  if (c >= 0xC2 && c <= 0xDF) {
    len = 2;
  } else if (c >= 0xE0 && c <= 0xEF) {
    len = 3;
    if (c == 0xE0) lo = 0xA0;  // overlong
    if (c == 0xED) hi = 0x9F;  // surrogates
  } else if (c >= 0xF0 && c <= 0xF4) {
    len = 4;
    if (c == 0xF0) lo = 0x90;  // overlong
    if (c == 0xF4) hi = 0x8F;  // above U+10FFFF
  } else {
    return 0;
  }
  if (s.size() - i < len || byte(i + 1) < lo || byte(i + 1) > hi) return 0;
  for (size_t k = 2; k < len; ++k) {
    if ((byte(i + k) & 0xC0) != 0x80) return 0;
  }
  return len;
}

size_t FirstInvalidUtf8(std::string_view s) {
  for (size_t i = 0; i < s.size();) {
    const size_t len = Utf8SequenceLength(s, i);
    if (len == 0) return i;
    i += len;
  }
  return s.size();
}

}  // namespace json_text

std::string ReplaceInvalidUtf8(std::string_view text) {
  std::string out;
  out.reserve(text.size());
  for (size_t i = 0; i < text.size();) {
    const size_t len = json_text::Utf8SequenceLength(text, i);
    if (len == 0) {
      out.append("\xEF\xBF\xBD");  // U+FFFD
      ++i;
    } else {
      out.append(text.substr(i, len));
      i += len;
    }
  }
  return out;
}

}  // namespace trackstore
