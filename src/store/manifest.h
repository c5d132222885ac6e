// src/store/manifest.h (internal)
//
// The manifest of one store version (doc/store_format.md): a JSON object
// followed by a line "checksum <16 hex digits>" holding XXH3-64 of every
// byte before that line. A manifest is written once under a temporary name,
// fsync'ed and renamed into place, so a torn one can only come from damage;
// the checksum tells it apart.
#ifndef TRACKSTORE_SRC_STORE_MANIFEST_H_
#define TRACKSTORE_SRC_STORE_MANIFEST_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "trackstore/status.h"
#include "trackstore/store.h"

namespace trackstore::store {

// Persisted: bump when the manifest's meaning changes; a reader rejects
// other versions with VersionUnsupported.
inline constexpr int64_t kManifestFormat = 1;
// A manifest larger than this is damage, not a manifest.
inline constexpr uint64_t kMaxManifestBytes = 64 << 20;

std::string EncodeManifest(const VersionInfo& info);
// Errors (naming `name`): StructureInvalid for a bad checksum or a missing
// or mistyped field, VersionUnsupported for another format.
Status DecodeManifest(std::string_view text, std::string_view name, VersionInfo* info);

// "00000000000000000042.manifest": zero-padded so names sort as numbers.
std::string ManifestFileName(uint64_t number);
// The number of a manifest file name, or nullopt for any other name.
std::optional<uint64_t> ParseManifestFileName(std::string_view name);

// Whether `name` is 32 lowercase hex digits (a fragment or state name).
bool IsHashName(std::string_view name);

}  // namespace trackstore::store

#endif  // TRACKSTORE_SRC_STORE_MANIFEST_H_
