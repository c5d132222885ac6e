// include/trackstore/result.h
//
// Result<T> holds either a T or a non-OK Status (C++20 has no std::expected).
//
//   Result<Snapshot> snap = Snapshot::Open(path);
//   if (!snap.ok()) return snap.status();
//   std::size_t n = snap->size();
//
// Accessing the value of a failed Result is a programming error (asserts).
#ifndef TRACKSTORE_RESULT_H_
#define TRACKSTORE_RESULT_H_

#include <cassert>
#include <optional>
#include <utility>

#include "trackstore/status.h"

namespace trackstore {

template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit on purpose: `return Status::NotFound(...)` and `return value`.
  Result(Status status) : status_(std::move(status)) { assert(!status_.ok()); }
  Result(T value) : value_(std::move(value)) {}

  bool ok() const { return value_.has_value(); }
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }

  T& value() & {
    assert(ok());
    return *value_;
  }
  const T& value() const& {
    assert(ok());
    return *value_;
  }
  T&& value() && {
    assert(ok());
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

 private:
  Status status_;  // OK when value_ is set
  std::optional<T> value_;
};

}  // namespace trackstore

#endif  // TRACKSTORE_RESULT_H_
