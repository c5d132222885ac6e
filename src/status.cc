#include "trackstore/status.h"

#include <cstdio>
#include <cstdlib>
#include <string>

#include "misuse.h"

namespace trackstore {

Status::Status(Code code, std::string_view what, std::string_view detail) {
  std::string message(what);
  if (!detail.empty()) {
    message.append(": ");
    message.append(detail);
  }
  rep_ = std::make_unique<const Rep>(Rep{code, std::move(message)});
}

Status::Status(const Status& other)
    : rep_(other.rep_ ? std::make_unique<const Rep>(*other.rep_) : nullptr) {}

Status& Status::operator=(const Status& other) {
  if (this != &other) rep_ = other.rep_ ? std::make_unique<const Rep>(*other.rep_) : nullptr;
  return *this;
}

#define TRACKSTORE_STATUS_FACTORY(Name, kind)                           \
  Status Status::Name(std::string_view what, std::string_view detail) { \
    return Status(Code::kind, what, detail);                            \
  }
TRACKSTORE_STATUS_FACTORY(NotFound, kNotFound)
TRACKSTORE_STATUS_FACTORY(NotASnapshot, kNotASnapshot)
TRACKSTORE_STATUS_FACTORY(VersionUnsupported, kVersionUnsupported)
TRACKSTORE_STATUS_FACTORY(Truncated, kTruncated)
TRACKSTORE_STATUS_FACTORY(HashMismatch, kHashMismatch)
TRACKSTORE_STATUS_FACTORY(StructureInvalid, kStructureInvalid)
TRACKSTORE_STATUS_FACTORY(InvalidArgument, kInvalidArgument)
TRACKSTORE_STATUS_FACTORY(IOError, kIOError)
TRACKSTORE_STATUS_FACTORY(ResourceExhausted, kResourceExhausted)
TRACKSTORE_STATUS_FACTORY(NotSupported, kNotSupported)
TRACKSTORE_STATUS_FACTORY(Busy, kBusy)
#undef TRACKSTORE_STATUS_FACTORY

Status::Code Status::code() const { return rep_ ? rep_->code : Code::kOk; }

bool Status::IsCorruption() const {
  const Code c = code();
  return c == Code::kTruncated || c == Code::kHashMismatch || c == Code::kStructureInvalid;
}

Status Status::Annotate(std::string_view context) const {
  if (ok()) return Status();
  return Status(rep_->code, context, rep_->message);
}

std::string Status::message() const { return rep_ ? rep_->message : std::string(); }

std::string_view Status::CodeName(Code code) {
  switch (code) {
    case Code::kOk:
      return "ok";
    case Code::kNotFound:
      return "not_found";
    case Code::kNotASnapshot:
      return "not_a_snapshot";
    case Code::kVersionUnsupported:
      return "version_unsupported";
    case Code::kTruncated:
      return "truncated";
    case Code::kHashMismatch:
      return "hash_mismatch";
    case Code::kStructureInvalid:
      return "structure_invalid";
    case Code::kInvalidArgument:
      return "invalid_argument";
    case Code::kIOError:
      return "io_error";
    case Code::kResourceExhausted:
      return "resource_exhausted";
    case Code::kNotSupported:
      return "not_supported";
    case Code::kBusy:
      return "busy";
  }
  return "unknown";
}

std::string Status::ToString() const {
  if (ok()) return "OK";
  static constexpr std::string_view kLabels[] = {
      "OK",        "Not found",          "Not a snapshot",    "Unsupported format version",
      "Truncated", "Hash mismatch",      "Invalid structure", "Invalid argument",
      "I/O error", "Resource exhausted", "Not supported",     "Busy"};
  std::string out(kLabels[static_cast<int>(rep_->code)]);
  out.append(": ");
  out.append(rep_->message);
  return out;
}

void AbortOnMisuse(std::string_view what, const Status& status) {
  std::string line = "trackstore: misuse: ";
  line.append(what);
  if (!status.ok()) {
    line.append(": ");
    line.append(status.ToString());
  }
  line.push_back('\n');
  std::fputs(line.c_str(), stderr);
  std::fflush(stderr);
  std::abort();
}

void internal::AbortOnMovedFrom(const char* call) {
  AbortOnMisuse(std::string(call) + " on a moved-from object");
}

}  // namespace trackstore
