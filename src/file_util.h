// Internal: writing to an open descriptor, for outputs that are not files
// replaced atomically (standard output).
#ifndef TRACKSTORE_SRC_FILE_UTIL_H_
#define TRACKSTORE_SRC_FILE_UTIL_H_

#include <span>
#include <string>

#include "trackstore/env.h"
#include "trackstore/status.h"

namespace trackstore::internal {

// Writes every piece to `fd` in order, retrying short writes and EINTR.
// Errors name `name`.
Status WriteAll(int fd, const std::string& name, std::span<const ConstBytes> pieces);

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_FILE_UTIL_H_
