// src/json_text.h (internal)
//
// The pieces of JSON text handling that import and export share: writing a
// JSON string and finding where UTF-8 goes wrong.
#ifndef TRACKSTORE_SRC_JSON_TEXT_H_
#define TRACKSTORE_SRC_JSON_TEXT_H_

#include <cstddef>
#include <string>
#include <string_view>

namespace trackstore::json_text {

// Which characters a JSON string escapes beyond '"', '\\' and the controls.
enum class JsonEscape {
  kUtf8,   // none: UTF-8 as it is (the export; json.dumps(ensure_ascii=False))
  kAscii,  // U+007F and every non-ASCII character as \uXXXX, a surrogate pair
           // above U+FFFF (json.dumps' default ensure_ascii=True)
};

// Writes `s` as a JSON string: '"' and '\\' escaped, control characters as
// \b \f \n \r \t or \u00XX, the rest as `mode` says. kAscii expects valid
// UTF-8 (callers check) and writes \ufffd for a byte that does not start a
// sequence.
void AppendJsonString(std::string_view s, std::string* out, JsonEscape mode = JsonEscape::kUtf8);

// Length of the well-formed UTF-8 sequence at s[i] (Unicode Table 3-7), or
// 0 when the byte there does not start one.
size_t Utf8SequenceLength(std::string_view s, size_t i);

// Offset of the first byte that does not start a well-formed UTF-8
// sequence, or s.size().
size_t FirstInvalidUtf8(std::string_view s);

}  // namespace trackstore::json_text

#endif  // TRACKSTORE_SRC_JSON_TEXT_H_
