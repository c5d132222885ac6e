// include/trackstore/env.h
//
// Env is the seam through which trackstore writes files. Env::Default() is
// the POSIX implementation; tests wrap it to fail the N-th operation and
// prove that a failure loses nothing. Implementations must be thread-safe.
#ifndef TRACKSTORE_ENV_H_
#define TRACKSTORE_ENV_H_

#include <cstddef>
#include <span>
#include <string>

#include "trackstore/status.h"

namespace trackstore {

// A piece of bytes to write; a file is written from a sequence of pieces
// without first joining them in memory.
struct ConstBytes {
  const void* data = nullptr;
  size_t size = 0;
};

class Env {
 public:
  virtual ~Env() = default;

  // Creates `path` (which must not exist), writes the pieces in order and,
  // when `sync`, fdatasyncs it. On error the partial file may remain; the
  // caller removes it.
  virtual Status WriteNewFile(const std::string& path, std::span<const ConstBytes> pieces,
                              bool sync) = 0;
  // rename(2): atomically replaces `to`.
  virtual Status Rename(const std::string& from, const std::string& to) = 0;
  // fsync of a directory, making a rename in it durable.
  virtual Status SyncDir(const std::string& dir) = 0;
  virtual Status RemoveFile(const std::string& path) = 0;

  // The process-wide POSIX Env. Never deleted.
  static Env* Default();
};

// Publishes `path` atomically: writes the pieces to a temporary file in the
// same directory, fdatasyncs it (when `sync`), renames it over `path` and
// fsyncs the directory. Readers see the old file or the new one, never a
// part. On failure the temporary file is removed and `path` is untouched.
// `env` may be null for Env::Default().
Status WriteFileAtomically(Env* env, const std::string& path, std::span<const ConstBytes> pieces,
                           bool sync = true);

// Maps an errno value to a Status naming `path` (ENOENT → NotFound,
// ENOSPC/EDQUOT/EFBIG → ResourceExhausted, else IOError).
Status PosixError(const std::string& path, int err);

}  // namespace trackstore

#endif  // TRACKSTORE_ENV_H_
