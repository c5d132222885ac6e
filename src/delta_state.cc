// DeltaState: the reset rule of doc/behaviour.md section 6 and the JSON layout of
// delta_state.json:
//   {"format_version": 1, "last_run": <micros>, "tracked_since": <micros>,
//    "processed_ids": ["id", ...], "field_hashes": {"id": "hash", ...}}
// tracked_since is omitted when unset. Ids are written sorted (std::set), so
// the same state always gives the same bytes.
#include "trackstore/delta_state.h"

#include "json_util.h"

namespace trackstore {

using internal::Json;

bool DeltaState::IsDueForReset(Micros now) const {
  if (processed_ids.size() >= kDeltaResetIdCount) return true;
  const Micros since = tracked_since.value_or(last_run);
  Micros age = 0;
  // A window start from a damaged file may be far enough off to overflow.
  if (__builtin_sub_overflow(now, since, &age)) return since < now;
  return age > kDeltaResetAge;
}

bool DeltaState::ResetIfDue(Micros now) {
  if (!IsDueForReset(now)) return false;
  processed_ids.clear();
  tracked_since = now;
  return true;
}

void DeltaState::AddProcessedIds(std::span<const std::string> ids, Micros now) {
  ResetIfDue(now);
  processed_ids.insert(ids.begin(), ids.end());
  if (!tracked_since) tracked_since = now;
}

Result<std::string> DeltaState::ToJson() const {
  Json j = {{"format_version", kDeltaStateFormatVersion}, {"last_run", last_run}};
  if (tracked_since) j["tracked_since"] = *tracked_since;
  j["processed_ids"] = processed_ids;
  j["field_hashes"] = field_hashes;
  return internal::DumpJson(j, "delta state");
}

namespace {

// Reads processed_ids and field_hashes, which must hold only strings.
Status ReadCollections(const Json& j, std::string_view source, DeltaState* state) {
  auto ids = j.find("processed_ids");
  if (ids == j.end() || !ids->is_array()) return internal::MissingField(source, "processed_ids");
  for (const Json& id : *ids) {
    if (!id.is_string()) return internal::MissingField(source, "processed_ids");
    state->processed_ids.insert(id.get<std::string>());
  }
  auto hashes = j.find("field_hashes");
  if (hashes == j.end() || !hashes->is_object()) {
    return internal::MissingField(source, "field_hashes");
  }
  for (const auto& [id, hash] : hashes->items()) {
    if (!hash.is_string()) return internal::MissingField(source, "field_hashes");
    state->field_hashes.emplace(id, hash.get<std::string>());
  }
  return Status::OK();
}

}  // namespace

Result<DeltaState> DeltaState::FromJson(std::string_view json, std::string_view source) {
  Result<Json> j = internal::ParseJsonObject(json, source);
  if (!j.ok()) return j.status();
  const std::optional<int64_t> version = internal::GetInt64(*j, "format_version");
  if (!version) return internal::MissingField(source, "format_version");
  if (*version != kDeltaStateFormatVersion) {
    return Status::InvalidArgument(source, "format version " + std::to_string(*version) +
                                               ", this build reads " +
                                               std::to_string(kDeltaStateFormatVersion));
  }
  DeltaState state;
  const std::optional<int64_t> last_run = internal::GetInt64(*j, "last_run");
  if (!last_run) return internal::MissingField(source, "last_run");
  state.last_run = *last_run;
  if (j->contains("tracked_since")) {
    state.tracked_since = internal::GetInt64(*j, "tracked_since");
    if (!state.tracked_since) return internal::MissingField(source, "tracked_since");
  }
  if (Status s = ReadCollections(*j, source, &state); !s.ok()) return s;
  return state;
}

}  // namespace trackstore
