// include/trackstore/status.h
//
// A Status is the outcome of an operation: OK, or an error kind with a
// message that names the file (or input) and the problem, such as
//   "hash mismatch: lib.snap: header says 1f..., content hashes to 9a...".
// trackstore never throws across its API; every failure is a Status.
//
// Status is a value type: cheap to return when OK (no allocation), safe to
// copy. Not thread-safe for concurrent mutation of the same object.
#ifndef TRACKSTORE_STATUS_H_
#define TRACKSTORE_STATUS_H_

#include <memory>
#include <string>
#include <string_view>

#include "trackstore/export.h"

namespace trackstore {

class [[nodiscard]] TRACKSTORE_EXPORT Status {
 public:
  // Each kind is distinct so a caller can act on it. Persisted nowhere; the
  // numeric values may change between releases.
  enum class Code {
    kOk = 0,
    kNotFound,            // file or key does not exist
    kNotASnapshot,        // the file is not a trackstore snapshot (wrong magic)
    kVersionUnsupported,  // a snapshot of a format version this build cannot read
    kTruncated,           // the file is shorter than its header says
    kHashMismatch,        // the content does not hash to the stored hash
    kStructureInvalid,    // the layout is broken (Verifier or layout check failed)
    kInvalidArgument,     // bad input: malformed JSON, empty or duplicate ids, ...
    kIOError,             // the operating system reported an error
    kResourceExhausted,   // no space left, a full segment, a size limit
    kNotSupported,        // valid but beyond what this build supports
    kBusy,                // another process holds what is needed (a store's writer lock)
  };

  Status() = default;  // OK
  static Status OK() { return Status(); }
  static Status NotFound(std::string_view what, std::string_view detail = {});
  static Status NotASnapshot(std::string_view what, std::string_view detail = {});
  static Status VersionUnsupported(std::string_view what, std::string_view detail = {});
  static Status Truncated(std::string_view what, std::string_view detail = {});
  static Status HashMismatch(std::string_view what, std::string_view detail = {});
  static Status StructureInvalid(std::string_view what, std::string_view detail = {});
  static Status InvalidArgument(std::string_view what, std::string_view detail = {});
  static Status IOError(std::string_view what, std::string_view detail = {});
  static Status ResourceExhausted(std::string_view what, std::string_view detail = {});
  static Status NotSupported(std::string_view what, std::string_view detail = {});
  static Status Busy(std::string_view what, std::string_view detail = {});

  Status(const Status& other);
  Status& operator=(const Status& other);
  Status(Status&&) noexcept = default;
  Status& operator=(Status&&) noexcept = default;
  ~Status() = default;

  bool ok() const { return rep_ == nullptr; }
  Code code() const;
  bool IsNotFound() const { return code() == Code::kNotFound; }
  bool IsNotASnapshot() const { return code() == Code::kNotASnapshot; }
  bool IsVersionUnsupported() const { return code() == Code::kVersionUnsupported; }
  bool IsTruncated() const { return code() == Code::kTruncated; }
  bool IsHashMismatch() const { return code() == Code::kHashMismatch; }
  bool IsStructureInvalid() const { return code() == Code::kStructureInvalid; }
  bool IsInvalidArgument() const { return code() == Code::kInvalidArgument; }
  bool IsIOError() const { return code() == Code::kIOError; }
  bool IsResourceExhausted() const { return code() == Code::kResourceExhausted; }
  bool IsNotSupported() const { return code() == Code::kNotSupported; }
  bool IsBusy() const { return code() == Code::kBusy; }
  // True for the kinds that mean "the bytes are damaged": truncated, hash
  // mismatch, structure invalid.
  bool IsCorruption() const;

  // The same kind with `context` put before the message ("writing the
  // manifest: <message>"); OK stays OK.
  Status Annotate(std::string_view context) const;

  // The message without the kind: "lib.snap: hash mismatch ...".
  std::string message() const;
  // "<kind>: <what>: <detail>", or "OK".
  std::string ToString() const;

  // A short stable name for the kind ("hash_mismatch"), for --json output.
  static std::string_view CodeName(Code code);

 private:
  struct Rep {
    Code code;
    std::string message;
  };
  Status(Code code, std::string_view what, std::string_view detail);

  std::unique_ptr<const Rep> rep_;  // null when OK
};

// Prints "trackstore: misuse: <what>" (and `status`, when it is an error) to
// standard error, then aborts, in every build. The library calls it where a
// program breaks a precondition that would otherwise be undefined behaviour
// (doc/behaviour.md section 11): the value of a failed Result, a call on a
// moved-from Snapshot, Store or Version.
[[noreturn]] TRACKSTORE_EXPORT void AbortOnMisuse(std::string_view what,
                                                  const Status& status = Status());

}  // namespace trackstore

#endif  // TRACKSTORE_STATUS_H_
