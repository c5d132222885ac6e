// src/reference_format.h (internal)
//
// The text forms of the reference application's files
// (doc/reference_files.md): its times (naive UTC ISO 8601), Python's JSON
// output (json.dumps: float repr, the default and the canonical layout, the
// indent=2 layout of its metadata and delta files), and the readers of its
// metadata and delta files with the leniency of its loaders. Pure
// functions, for src/reference_files.cc, its tests and a fuzz target.
#ifndef TRACKSTORE_SRC_REFERENCE_FORMAT_H_
#define TRACKSTORE_SRC_REFERENCE_FORMAT_H_

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include "json_records.h"
#include "trackstore/clock.h"
#include "trackstore/delta_state.h"
#include "trackstore/reference_files.h"
#include "trackstore/result.h"
#include "trackstore/store.h"
#include "trackstore/track.h"

namespace trackstore::internal {

// --- times ------------------------------------------------------------------

// Python's datetime.isoformat() of a naive UTC time:
// "2025-11-29T16:38:50.714113", without the fraction when it is 0.
// InvalidArgument for a time outside the years 1 to 9999 (Python's range).
Result<std::string> FormatReferenceTime(Micros t);

// What datetime.fromisoformat() reads, as a UTC instant:
// "YYYY-MM-DD", or that followed by 'T' or ' ' and "HH:MM", "HH:MM:SS" or
// "HH:MM:SS.f" (1 to 6 digits), then optionally "Z" or "+HH:MM" / "-HH:MM"
// (converted to UTC; no offset means UTC, as the reference writes).
// nullopt for anything else.
std::optional<Micros> ParseReferenceTime(std::string_view text);

// --- Python's json.dumps ------------------------------------------------------

// repr(float): the shortest text that reads back as `v`, in fixed notation
// with at least one decimal ("1.0", "0.0001") when its decimal exponent is
// in [-4, 16), else "1e+16", "1.5e-07". NaN and infinities as json.dumps
// writes them ("NaN", "Infinity", "-Infinity").
void AppendPythonFloat(double v, std::string* out);

// A JSON string as json.dumps writes it: with ensure_ascii=false
// (`ascii` false), every character but '"', '\\' and the controls below
// U+0020 as it is; with ensure_ascii=true, every non-ASCII character as
// \uXXXX (a surrogate pair above U+FFFF). `s` must be valid UTF-8.
void AppendPythonString(std::string_view s, bool ascii, std::string* out);

// How a track is written.
enum class PythonLayout {
  kDefault,    // json.dumps(ensure_ascii=False): ", " and ": ", keys in order
  kCanonical,  // sort_keys=True, separators=(",", ":"): the snapshot_hash text
};

// Appends one track as the reference's dict serialized in `layout`: every
// declared field in the reference's order (original_pos before
// album_artist), null when absent, then the extras' members in their order;
// kCanonical sorts the keys of every object instead. InvalidArgument when
// extras_json is not a JSON object.
Status AppendReferenceTrack(const TrackView& t, PythonLayout layout, std::string* out);
Status AppendReferenceTrack(const TrackRecord& t, PythonLayout layout, std::string* out);
Status AppendReferenceTrack(const JsonRecord& r, PythonLayout layout, std::string* out);

// --- the metadata file ----------------------------------------------------------

struct ReferenceMetadata {
  std::optional<ServiceMetadata> service;  // unset: not carried (see notes)
  std::optional<int64_t> track_count;      // as the file says, when readable
  std::string snapshot_hash;               // str() of the file's value
  std::vector<NotCarried> notes;
};

// Reads library_snapshot.meta.json as the reference's loader does: a
// missing "version" is "1.0", another one is not carried; track_count as
// int(...) (an integer, a float, a numeric string), snapshot_hash as
// str(...); last_force_scan_time a time, null or missing. Never fails: what
// cannot be read is a note, and `service` is unset when the metadata as a
// whole is not carried.
ReferenceMetadata ReadReferenceMetadata(std::string_view text, std::string_view source);

// The file as the reference writes it (json.dump(indent=2)).
Result<std::string> FormatReferenceMetadata(const ServiceMetadata& service, uint64_t track_count,
                                            std::string_view snapshot_hash);

// --- the delta file ---------------------------------------------------------------

struct ReferenceDelta {
  std::optional<DeltaState> state;  // unset: not carried (see notes)
  std::vector<NotCarried> notes;
};

// Reads library_delta.json as the reference's loader does: last_run
// required; processed_track_ids may be missing, and numbers in it become
// strings as Python's str() writes them; field_hashes may be missing;
// tracked_since may be missing or null.
ReferenceDelta ReadReferenceDelta(std::string_view text, std::string_view source);

// The file as the reference writes it: processed ids sorted, tracked_since
// = last_run when unset.
Result<std::string> FormatReferenceDelta(const DeltaState& state);

}  // namespace trackstore::internal

#endif  // TRACKSTORE_SRC_REFERENCE_FORMAT_H_
