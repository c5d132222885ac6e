// A store's manifest over any bytes, at two levels:
//  - DecodeManifest: what parses must survive the round trip (EncodeManifest
//    then DecodeManifest gives the same version);
//  - a real store whose newest manifest is the input with its checksum line
//    made valid, so that the JSON itself reaches the store: opening the
//    current version, iterating it, looking up ids and verifying must
//    never crash, whatever fragments, counts and order the manifest claims.
#include <unistd.h>

#include <cstddef>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <fstream>
#include <string>
#include <string_view>
#include <vector>

#include <xxhash.h>

#include "store/manifest.h"
#include "trackstore/store.h"

namespace {

using trackstore::Store;
using trackstore::TrackRecord;
using trackstore::VersionInfo;

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

bool Same(const VersionInfo& a, const VersionInfo& b) {
  if (a.number != b.number || a.parent != b.parent || a.created != b.created ||
      a.operation != b.operation || a.track_count != b.track_count ||
      a.content_hash != b.content_hash || a.service != b.service ||
      a.delta_state != b.delta_state || a.fragments.size() != b.fragments.size()) {
    return false;
  }
  for (size_t i = 0; i < a.fragments.size(); ++i) {
    const auto& x = a.fragments[i];
    const auto& y = b.fragments[i];
    if (x.name != y.name || x.delta != y.delta || x.rows != y.rows || x.bytes != y.bytes) {
      return false;
    }
  }
  return true;
}

// A store with a base and two deltas (replacements, appends, a removal), made
// once per process; each input becomes its version 4.
const std::string& StoreDir() {
  static const std::string dir = [] {
    char tmpl[] = "/tmp/trackstore-manifest-fuzz-XXXXXX";
    if (::mkdtemp(tmpl) == nullptr) std::abort();
    const std::string d = std::string(tmpl) + "/s";
    trackstore::StoreOptions o;
    o.sync = false;
    o.auto_compact = false;
    trackstore::Result<Store> store = Store::Open(d, o);
    Check(store.ok());
    std::vector<TrackRecord> tracks(20);
    for (size_t i = 0; i < tracks.size(); ++i) {
      tracks[i].id = std::to_string(100 + i);
      tracks[i].name = "n" + std::to_string(i);
      if (i % 2) tracks[i].genre = "g";
    }
    Check(store->Replace(tracks).ok());
    tracks.resize(3);
    tracks[0].name = "changed";
    tracks[2].id = "new";
    Check(store->Commit(tracks, std::vector<std::string>{"105"}).ok());
    Check(store->Commit(std::vector<TrackRecord>{tracks[2]}, std::vector<std::string>{"101"}).ok());
    // Removed at exit; the path is kept in a buffer of its own because the
    // static string is destroyed before this handler runs.
    static char root[sizeof(tmpl)];
    std::memcpy(root, tmpl, sizeof(tmpl));
    std::atexit([] {
      std::error_code ec;
      std::filesystem::remove_all(root, ec);
    });
    return d;
  }();
  return dir;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  VersionInfo info;
  if (trackstore::store::DecodeManifest(text, "fuzz", &info).ok()) {
    VersionInfo again;
    Check(
        trackstore::store::DecodeManifest(trackstore::store::EncodeManifest(info), "again", &again)
            .ok());
    Check(Same(info, again));
  }

  // The input's body with a valid checksum line (XXH3-64 of the body, as
  // the store writes it), as version 4.
  std::string body(text);
  if (const size_t cut = body.rfind("\nchecksum "); cut != std::string::npos) body.resize(cut + 1);
  char checksum[17];
  std::snprintf(checksum, sizeof(checksum), "%016llx",
                static_cast<unsigned long long>(XXH3_64bits(body.data(), body.size())));
  const std::string encoded = body + "checksum " + checksum + "\n";
  const std::string path = StoreDir() + "/manifests/00000000000000000004.manifest";
  {
    std::ofstream out(path, std::ios::binary | std::ios::trunc);
    out.write(encoded.data(), static_cast<std::streamsize>(encoded.size()));
  }
  trackstore::StoreOptions o;
  o.create_if_missing = false;
  trackstore::Result<Store> store = Store::Open(StoreDir(), o);
  Check(store.ok());
  trackstore::Result<trackstore::Version> v = store->Current();
  if (v.ok()) {
    uint64_t n = 0;
    for (trackstore::TrackView t : *v) n += t.id().size() + t.name().size();
    (void)v->Find("100");
    (void)v->Find("new");
    (void)v->Find("");
    (void)v->Verify();
    (void)v->ReadDeltaState();
    (void)n;
  }
  (void)store->Log();
  ::unlink(path.c_str());
  return 0;
}
