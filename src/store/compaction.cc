#include "store/compaction.h"

#include <cstring>
#include <new>
#include <vector>

#include "snapshot_format.h"

namespace trackstore::store {

namespace {

using format::kExtrasColumn;
using format::kStringColumnCount;
using internal::Columns;
using internal::StringColumnRef;

struct Run {
  const Columns* from;
  uint64_t begin, end;  // rows [begin, end) of `from`
};

const StringColumnRef& ColumnOf(const Columns& c, int column) {
  return column == kExtrasColumn ? c.extras : c.strings[column];
}

// Bytes of run `r` in string column `c`, 0 for offsets damaged in a
// trusted-open fragment (the fill then copies nothing either).
uint64_t RunBytes(const Run& r, int c) {
  const StringColumnRef& col = ColumnOf(*r.from, c);
  const uint32_t a = col.offsets[r.begin], b = col.offsets[r.end];
  return a <= b && b <= col.bytes_size ? b - a : 0;
}

uint64_t PayloadEstimate(const Run& r) {
  uint64_t bytes = (r.end - r.begin) * format::kPayloadBytesPerTrack;
  for (int c = 0; c < kStringColumnCount; ++c) bytes += RunBytes(r, c);
  return bytes;
}

void CopyBits(const uint8_t* src, uint64_t from, uint64_t count, uint8_t* dst, uint64_t to) {
  for (uint64_t i = 0; i < count; ++i) {
    if (internal::BitSet(src, from + i)) {
      dst[(to + i) >> 3] |= static_cast<uint8_t>(1u << ((to + i) & 7));
    }
  }
}

// One output fragment from `runs`.
Status Assemble(std::span<const Run> runs, format::PayloadBuilder* builder,
                const FragmentSink& sink) {
  format::PayloadShape shape;
  for (const Run& r : runs) {
    shape.track_count += r.end - r.begin;
    for (int c = 0; c < kStringColumnCount; ++c) shape.column_bytes[c] += RunBytes(r, c);
  }
  format::PayloadOut out;
  if (Status s = builder->Start(shape, &out); !s.ok()) return s;
  for (int c = 0; c < kStringColumnCount; ++c) {
    const format::StringColumnOut& dst = out.strings[c];
    uint64_t at = 0;
    uint32_t end = 0;
    for (const Run& r : runs) {
      const StringColumnRef& src = ColumnOf(*r.from, c);
      const uint64_t bytes = RunBytes(r, c);
      const uint32_t base = src.offsets[r.begin];
      // Rebase: unsigned wrap-around makes this exact for any shift. A
      // damaged run (bytes == 0) gets empty values.
      const uint32_t shift = end - base;
      for (uint64_t i = r.begin; i < r.end; ++i) {
        dst.offsets[++at] = bytes == 0 ? end : src.offsets[i + 1] + shift;
      }
      std::memcpy(dst.bytes + end, src.bytes + base, bytes);
      end += static_cast<uint32_t>(bytes);
      if (dst.present != nullptr) {
        CopyBits(src.present, r.begin, r.end - r.begin, dst.present, at - (r.end - r.begin));
      }
    }
  }
  uint64_t at = 0;
  for (const Run& r : runs) {
    const uint64_t n = r.end - r.begin;
    std::memcpy(out.pos_values + at, r.from->original_pos.values + r.begin, n * sizeof(int64_t));
    std::memcpy(out.track_hashes + at, r.from->track_hashes + r.begin, n * sizeof(uint64_t));
    CopyBits(r.from->original_pos.present, r.begin, n, out.pos_present, at);
    at += n;
  }
  std::vector<format::DuplicateId> duplicates;
  const std::span<const uint8_t> payload = builder->Finish(&duplicates);
  if (!duplicates.empty()) {
    return Status::StructureInvalid("compaction", "the version holds an id twice");
  }
  WriteResult written;
  const format::SealedPayload sealed = format::Seal(payload, shape.track_count, &written);
  return sink(sealed.View(), written);
}

}  // namespace

Status Compact(const Version::Fragments& v, uint64_t max_payload_bytes,
               const FragmentSink& sink) try {
  std::vector<Run> runs;
  const bool layered = v.start.back() > v.base_rows;
  const uint64_t slots = v.SlotCount();
  for (uint64_t p = 0; p < slots; ++p) {
    const uint64_t slot = v.SlotAt(p);
    uint64_t row = slot;
    if (layered && v.Slots().Overridden(slot)) {
      row = v.Slots().table.Get(slot);
      if (row == SlotTable::kDeadRow) continue;
    }
    const size_t k = v.FragmentOf(row);
    const Columns* from = v.columns[k];
    const uint64_t local = row - v.start[k];
    if (!runs.empty() && runs.back().from == from && runs.back().end == local) {
      ++runs.back().end;
    } else {
      runs.push_back({from, local, local + 1});
    }
  }
  // Cut into fragments; a run is split where a fragment fills.
  format::PayloadBuilder builder;
  std::vector<Run> piece;
  uint64_t piece_bytes = 0;
  for (Run r : runs) {
    while (r.begin < r.end) {
      Run part = r;
      uint64_t bytes = PayloadEstimate(part);
      if (piece_bytes + bytes > max_payload_bytes && part.end - part.begin > 1) {
        // Halve until it fits or is one track: logarithmic, runs are few.
        while (part.end - part.begin > 1 && piece_bytes + bytes > max_payload_bytes) {
          part.end = part.begin + (part.end - part.begin) / 2;
          bytes = PayloadEstimate(part);
        }
      }
      if (piece_bytes + bytes > max_payload_bytes && !piece.empty()) {
        if (Status s = Assemble(piece, &builder, sink); !s.ok()) return s;
        piece.clear();
        piece_bytes = 0;
        continue;
      }
      piece.push_back(part);
      piece_bytes += bytes;
      r.begin = part.end;
    }
  }
  if (!piece.empty() || runs.empty()) return Assemble(piece, &builder, sink);
  return Status::OK();
} catch (const std::bad_alloc&) {
  return Status::ResourceExhausted("compaction", "out of memory");
}

}  // namespace trackstore::store
