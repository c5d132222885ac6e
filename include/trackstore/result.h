// include/trackstore/result.h
//
// Result<T> holds either a T or a non-OK Status (C++20 has no std::expected).
//
//   Result<Snapshot> snap = Snapshot::Open(path);
//   if (!snap.ok()) return snap.status();
//   std::size_t n = snap->size();
//
// Accessing the value of a failed Result is a programming error. It fails
// loudly in every build, as std::optional::value() would throw: the program
// prints "trackstore: misuse: Result::value() on an error: <status>" and
// aborts (AbortOnMisuse), never reads an absent value. value_or() gives a
// fallback instead.
#ifndef TRACKSTORE_RESULT_H_
#define TRACKSTORE_RESULT_H_

#include <optional>
#include <utility>

#include "trackstore/status.h"

namespace trackstore {

template <typename T>
class [[nodiscard]] Result {
 public:
  // Implicit on purpose: `return Status::NotFound(...)` and `return value`.
  // REQUIRES: !status.ok() (an OK Status carries no value; checked).
  Result(Status status) : status_(std::move(status)) {
    if (status_.ok()) [[unlikely]]
      AbortOnMisuse("Result constructed from an OK Status");
  }
  Result(T value) : value_(std::move(value)) {}

  bool ok() const { return value_.has_value(); }
  const Status& status() const& { return status_; }
  Status status() && { return std::move(status_); }

  // REQUIRES: ok() (checked in every build).
  T& value() & {
    CheckValue();
    return *value_;
  }
  const T& value() const& {
    CheckValue();
    return *value_;
  }
  T&& value() && {
    CheckValue();
    return std::move(*value_);
  }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }

  // The value, or `fallback` when this holds an error.
  template <typename U>
  T value_or(U&& fallback) const& {
    return ok() ? *value_ : static_cast<T>(std::forward<U>(fallback));
  }
  template <typename U>
  T value_or(U&& fallback) && {
    return ok() ? std::move(*value_) : static_cast<T>(std::forward<U>(fallback));
  }

 private:
  void CheckValue() const {
    if (!ok()) [[unlikely]]
      AbortOnMisuse("Result::value() on an error", status_);
  }

  Status status_;  // OK when value_ is set
  std::optional<T> value_;
};

}  // namespace trackstore

#endif  // TRACKSTORE_RESULT_H_
