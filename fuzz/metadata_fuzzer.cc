// The service's small JSON files over any bytes: SnapshotMetadata::FromJson
// and DeltaState::FromJson. What parses must survive the round trip: ToJson
// then FromJson gives an equal value (traps otherwise).
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "trackstore/delta_state.h"
#include "trackstore/snapshot_service.h"

namespace {

void Check(bool ok) {
  if (!ok) __builtin_trap();
}

template <typename T>
void RoundTrip(std::string_view json) {
  trackstore::Result<T> parsed = T::FromJson(json, "fuzz");
  if (!parsed.ok()) return;
  // ToJson refuses strings that are not UTF-8; FromJson never yields them.
  trackstore::Result<std::string> text = parsed->ToJson();
  Check(text.ok());
  trackstore::Result<T> again = T::FromJson(*text, "round trip");
  Check(again.ok());
  Check(*again == *parsed);
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  const std::string_view json(reinterpret_cast<const char*>(data), size);
  RoundTrip<trackstore::SnapshotMetadata>(json);
  RoundTrip<trackstore::DeltaState>(json);
  return 0;
}
