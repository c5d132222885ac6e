#include "trackstore/version.h"

#include "shm/layout.h"
#include "snapshot_format.h"
#include "store/manifest.h"

namespace trackstore {

const LibraryVersionInfo& LibraryVersion() {
  static const LibraryVersionInfo kVersion{
      TRACKSTORE_VERSION_MAJOR, TRACKSTORE_VERSION_MINOR,
      TRACKSTORE_VERSION_PATCH, TRACKSTORE_VERSION_STRING,
      format::kFormatVersion,   static_cast<uint32_t>(store::kManifestFormat),
      shm::kLayoutVersion,
  };
  return kVersion;
}

}  // namespace trackstore
