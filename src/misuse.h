// src/misuse.h: the checks that make misuse of the API fail loudly instead
// of reading freed or absent memory (doc/behaviour.md section 11).
#ifndef TRACKSTORE_SRC_MISUSE_H_
#define TRACKSTORE_SRC_MISUSE_H_

namespace trackstore::internal {

// Aborts through AbortOnMisuse: "<call> on a moved-from object".
[[noreturn]] void AbortOnMovedFrom(const char* call);

// A Snapshot, Store or Version that was moved from has no representation
// left; `call` names the method for the message.
template <typename Pointer>
inline void CheckNotMovedFrom(const Pointer& rep, const char* call) {
  if (rep == nullptr) [[unlikely]]
    AbortOnMovedFrom(call);
}

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_MISUSE_H_
