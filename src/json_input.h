// src/json_input.h (internal)
//
// The text of a JSON import, read in pieces: a file, standard input ("-")
// or bytes in memory; gzip is recognised by its magic bytes (not the name)
// and inflated piece by piece. The limits of JsonImportOptions are enforced
// while reading, so a FIFO, /dev/zero or a decompression bomb stops at its
// limit having used no more memory than the caller's buffer.
#ifndef TRACKSTORE_SRC_JSON_INPUT_H_
#define TRACKSTORE_SRC_JSON_INPUT_H_

#include <cstddef>
#include <cstdint>
#include <memory>
#include <string>
#include <string_view>

#include "trackstore/json.h"
#include "trackstore/result.h"

namespace trackstore::internal {

class JsonInput {
 public:
  // `path` read through `env` (null: Env::Default()); "-" is standard
  // input, read directly. Errors: NotFound / IOError opening `path`;
  // ResourceExhausted when a regular file is already larger than
  // options.max_input_bytes.
  static Result<std::unique_ptr<JsonInput>> Open(const std::string& path,
                                                 const JsonImportOptions& options,
                                                 Env* env = nullptr);
  // Bytes [begin, end) of the plain (not gzip) file `path`, after `prefix`
  // and before `suffix`: one part of a file that two parsers read at once,
  // each through a file of its own. No limit applies (the caller has
  // checked the file's size). Errors: NotFound / IOError opening `path`.
  static Result<std::unique_ptr<JsonInput>> OpenRange(Env* env, const std::string& path,
                                                      uint64_t begin, uint64_t end,
                                                      std::string prefix, std::string suffix);
  // `bytes` must outlive the JsonInput. gzip is recognised here too.
  static std::unique_ptr<JsonInput> FromMemory(std::string_view bytes, std::string_view name);

  ~JsonInput();
  JsonInput(const JsonInput&) = delete;
  JsonInput& operator=(const JsonInput&) = delete;

  // Reads up to `size` bytes of (decompressed) text into `out`; *got is 0
  // only at the end. An input of no bytes at all is InvalidArgument
  // ("empty file"); corrupt or truncated gzip data is InvalidArgument;
  // passing a limit is ResourceExhausted.
  Status Read(char* out, size_t size, size_t* got);

  // The size of the input when known before reading (a regular file's size
  // when opened, the bytes in memory), else 0. gzip input inflates to more.
  uint64_t size_hint() const;

  // The name errors use: the path, or the name given.
  const std::string& name() const;

 private:
  struct Rep;
  explicit JsonInput(std::unique_ptr<Rep> rep);
  std::unique_ptr<Rep> rep_;
};

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_JSON_INPUT_H_
