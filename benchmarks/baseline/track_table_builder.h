// benchmarks/baseline/track_table_builder.h
//
// One track as a table of baseline/track_table.fbs: the "plain FlatBuffers
// approach" that snapshot_bench compares against, and the value of one LMDB
// record in store_bench. Strings are not shared; absent optional fields and
// empty extras add nothing.
#ifndef TRACKSTORE_BENCHMARKS_BASELINE_TRACK_TABLE_BUILDER_H_
#define TRACKSTORE_BENCHMARKS_BASELINE_TRACK_TABLE_BUILDER_H_

#include <optional>
#include <string>

#include "flatbuffers/flatbuffers.h"
#include "track_table_generated.h"
#include "trackstore/track.h"

namespace trackstore_bench {

inline flatbuffers::Offset<fb::TrackTable> BuildTrackTable(const trackstore::TrackRecord& t,
                                                           flatbuffers::FlatBufferBuilder* fbb) {
  auto opt = [fbb](const std::optional<std::string>& s) {
    return s ? fbb->CreateString(*s) : flatbuffers::Offset<flatbuffers::String>();
  };
  // Strings first: a table cannot be under construction while they are made.
  const auto id = fbb->CreateString(t.id);
  const auto name = fbb->CreateString(t.name);
  const auto artist = fbb->CreateString(t.artist);
  const auto album = fbb->CreateString(t.album);
  const auto genre = opt(t.genre);
  const auto year = opt(t.year);
  const auto date_added = opt(t.date_added);
  const auto last_modified = opt(t.last_modified);
  const auto track_status = opt(t.track_status);
  const auto original_artist = opt(t.original_artist);
  const auto original_album = opt(t.original_album);
  const auto year_before_mgu = opt(t.year_before_mgu);
  const auto year_set_by_mgu = opt(t.year_set_by_mgu);
  const auto release_year = opt(t.release_year);
  const auto album_artist = opt(t.album_artist);
  const auto extras = t.extras_json.empty() ? flatbuffers::Offset<flatbuffers::String>()
                                            : fbb->CreateString(t.extras_json);
  fb::TrackTableBuilder b(*fbb);
  b.add_id(id);
  b.add_name(name);
  b.add_artist(artist);
  b.add_album(album);
  b.add_genre(genre);  // a null offset adds nothing: the field stays absent
  b.add_year(year);
  b.add_date_added(date_added);
  b.add_last_modified(last_modified);
  b.add_track_status(track_status);
  b.add_original_artist(original_artist);
  b.add_original_album(original_album);
  b.add_year_before_mgu(year_before_mgu);
  b.add_year_set_by_mgu(year_set_by_mgu);
  b.add_release_year(release_year);
  b.add_album_artist(album_artist);
  if (t.original_pos) b.add_original_pos(*t.original_pos);
  b.add_extras(extras);
  return b.Finish();
}

}  // namespace trackstore_bench

#endif  // TRACKSTORE_BENCHMARKS_BASELINE_TRACK_TABLE_BUILDER_H_
