// The reference application's metadata and delta files over any bytes
// (src/reference_format.h): reading never fails, and what is carried
// survives the round trip: written as the reference writes it, then read
// again, it gives an equal value (traps otherwise).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "reference_format.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

void Metadata(std::string_view text) {
  trackstore::internal::ReferenceMetadata m =
      trackstore::internal::ReadReferenceMetadata(text, "fuzz");
  if (!m.service) return;
  Check(m.track_count.has_value());
  if (*m.track_count < 0) return;  // the store writes its own count, never negative
  const uint64_t count = static_cast<uint64_t>(*m.track_count);
  trackstore::Result<std::string> written =
      trackstore::internal::FormatReferenceMetadata(*m.service, count, m.snapshot_hash);
  if (!written.ok()) return;  // a time an offset moved outside the years 1 to 9999
  trackstore::internal::ReferenceMetadata again =
      trackstore::internal::ReadReferenceMetadata(*written, "round trip");
  Check(again.service == m.service);
  Check(again.track_count == m.track_count);
  Check(again.snapshot_hash == m.snapshot_hash);
}

void Delta(std::string_view text) {
  trackstore::internal::ReferenceDelta d = trackstore::internal::ReadReferenceDelta(text, "fuzz");
  if (!d.state) return;
  trackstore::Result<std::string> written = trackstore::internal::FormatReferenceDelta(*d.state);
  if (!written.ok()) return;
  trackstore::internal::ReferenceDelta again =
      trackstore::internal::ReadReferenceDelta(*written, "round trip");
  Check(again.state.has_value());
  trackstore::DeltaState expected = *d.state;
  // The reference saves an unset window start as the last run.
  if (!expected.tracked_since) expected.tracked_since = expected.last_run;
  Check(*again.state == expected);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view text(reinterpret_cast<const char*>(data), size);
  Metadata(text);
  Delta(text);
  return 0;
}
