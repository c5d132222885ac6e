// tests/pkgconfig/consumer.cc: a program outside the library's build that
// links against the installed libtrackstore through pkg-config or CMake
// (tests/pkgconfig_test.sh). Checks that it runs with the library version it
// was compiled against, writes three tracks to argv[1], reopens the file
// with full verification and looks each id up.
#include <trackstore/snapshot.h>
#include <trackstore/snapshot_writer.h>
#include <trackstore/version.h>

#include <cstdio>
#include <optional>
#include <string>
#include <vector>

namespace {

int Check(bool ok, const std::string& what) {
  if (!ok) std::fprintf(stderr, "consumer: FAILED: %s\n", what.c_str());
  return ok ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc != 2) {
    std::fprintf(stderr, "usage: consumer OUT.snap\n");
    return 2;
  }
  const std::string path = argv[1];
  if (!trackstore::LibraryMatchesHeaders()) {
    return Check(false, std::string("headers ") + TRACKSTORE_VERSION_STRING + ", library " +
                            trackstore::LibraryVersion().string);
  }

  std::vector<trackstore::TrackRecord> tracks(3);
  tracks[0].id = "1";
  tracks[0].name = "Blue in Green";
  tracks[1].id = "2";
  tracks[1].name = "So What";
  tracks[1].genre = "Jazz";
  tracks[2].id = "3";
  tracks[2].name = "Flamenco Sketches";
  tracks[2].original_pos = 5;

  trackstore::Result<trackstore::WriteResult> written = trackstore::WriteSnapshot(path, tracks);
  if (!written.ok()) return Check(false, written.status().ToString());

  trackstore::Result<trackstore::Snapshot> snap = trackstore::Snapshot::Open(path);
  if (!snap.ok()) return Check(false, snap.status().ToString());

  int failures = Check(snap->size() == 3, "size() == 3");
  failures += Check(snap->content_hash() == written->content_hash, "content hash round trip");
  for (const trackstore::TrackRecord& t : tracks) {
    std::optional<trackstore::TrackView> found = snap->Find(t.id);
    failures += Check(found.has_value() && found->ToRecord() == t, "Find(" + t.id + ")");
  }
  failures += Check(!snap->Find("4").has_value(), "Find(4) misses");
  if (failures == 0) std::printf("consumer: OK (%s)\n", written->content_hash.c_str());
  return failures == 0 ? 0 : 1;
}
