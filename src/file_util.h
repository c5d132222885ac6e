// Internal: writing to and reading from an open descriptor, for standard
// output and standard input, which are not files an Env opens.
#ifndef TRACKSTORE_SRC_FILE_UTIL_H_
#define TRACKSTORE_SRC_FILE_UTIL_H_

#include <memory>
#include <span>
#include <string>

#include "trackstore/env.h"
#include "trackstore/status.h"

namespace trackstore::internal {

// Writes every piece to `fd` in order, retrying short writes and EINTR.
// Errors name `name`.
Status WriteAll(int fd, const std::string& name, std::span<const ConstBytes> pieces);

// A SequentialFile reading `fd` (standard input), which it does not close.
// Errors name `name`.
std::unique_ptr<SequentialFile> SequentialFileOnDescriptor(int fd, std::string name);

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_FILE_UTIL_H_
