// Crafted damage to a snapshot's id index and offsets, found by the
// snapshot fuzzer: an index slot with a hash tag but track 0 (which a probe
// takes for a used slot naming track -1), an index with no empty slot, and
// id offsets that decrease. A verifying open must refuse each; a merge into
// a trusted open of each must end in an error or a snapshot, never a read
// outside the payload or a loop.
#include <cstring>
#include <vector>

#include "snapshot_access.h"  // internal: where the index lies
#include "snapshot_format.h"
#include "test_util.h"
#include "trackstore/merge.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore {
namespace {

using testing::MakeTracks;

class IndexDamageTest : public ::testing::Test {
 protected:
  void SetUp() override {
    SnapshotWriter writer;
    std::string image;
    ASSERT_OK(writer.Encode(MakeTracks(5), &image).status());
    size_ = image.size();
    words_.resize(size_ / 8 + 1);
    std::memcpy(bytes(), image.data(), size_);
  }

  uint8_t* bytes() { return reinterpret_cast<uint8_t*>(words_.data()); }

  // The id the merge below appends: the base lacks it.
  static std::string NewId() { return MakeTracks(7)[6].id; }

  // Sets the empty index slot where a lookup of NewId() ends (every empty
  // slot when `all`) to NewId()'s hash tag with track 0, then rewrites the
  // header's hashes to match.
  void DamageEmptySlots(bool all) {
    uint64_t* index;
    uint64_t slots;
    {
      Result<Snapshot> snap = Snapshot::FromBuffer(bytes(), size_, "good");
      ASSERT_OK(snap.status());
      const internal::Columns& c = internal::SnapshotAccess::Of(*snap);
      index = const_cast<uint64_t*>(c.id_index);
      slots = c.id_index_size;
    }
    const uint64_t id_hash = format::HashId(NewId());
    for (uint64_t k = 0; k < slots; ++k) {
      uint64_t& slot = index[(id_hash + k) & (slots - 1)];
      if (slot != 0) continue;
      slot = id_hash >> 32 << 32;
      if (!all) break;
    }
    RehashHeader();
  }

  // Makes the id offsets decrease between tracks 1 and 3.
  void DamageIdOffsets() {
    {
      Result<Snapshot> snap = Snapshot::FromBuffer(bytes(), size_, "good");
      ASSERT_OK(snap.status());
      const internal::Columns& c = internal::SnapshotAccess::Of(*snap);
      auto* offsets = const_cast<uint32_t*>(c.strings[static_cast<int>(Field::kId)].offsets);
      offsets[2] = offsets[3] + 1;
    }
    RehashHeader();
  }

  void RehashHeader() {
    format::Header h;
    h.payload_size = size_ - format::kHeaderSize;
    h.track_count = 5;
    h.content_hash = format::HashPayload({bytes() + format::kHeaderSize, h.payload_size});
    format::EncodeHeader(h, bytes());
  }

  // A trusted open of the damaged bytes, merged with NewId() (the base's
  // index is kept and extended), then with 7 new tracks (the index grows and
  // is built again from every id).
  void MergeTrusted() {
    Result<Snapshot> snap = Snapshot::FromBuffer(bytes(), size_, "damaged", /*verify=*/false);
    ASSERT_OK(snap.status());
    std::vector<TrackRecord> one = {MakeTracks(7)[6]};
    ASSERT_EQ(one[0].id, NewId());
    std::vector<TrackRecord> seven = MakeTracks(12);
    seven.erase(seven.begin(), seven.begin() + 5);
    Merger merger;
    std::string out;
    for (const std::vector<TrackRecord>* updates : {&one, &seven}) {
      Result<MergeStats> merged = merger.Encode(*snap, *updates, &out);
      if (!merged.ok()) {
        EXPECT_TRUE(merged.status().IsStructureInvalid()) << merged.status().ToString();
      }
    }
  }

  std::vector<uint64_t> words_;
  size_t size_ = 0;
};

TEST_F(IndexDamageTest, SlotWithTagButNoTrackIsRefusedByVerification) {
  DamageEmptySlots(/*all=*/false);
  Status s = Snapshot::FromBuffer(bytes(), size_, "damaged").status();
  EXPECT_TRUE(s.IsStructureInvalid()) << s.ToString();
  MergeTrusted();
}

TEST_F(IndexDamageTest, DecreasingOffsetsAreRefusedAndMergeReportsThem) {
  DamageIdOffsets();
  Status s = Snapshot::FromBuffer(bytes(), size_, "damaged").status();
  EXPECT_TRUE(s.IsStructureInvalid()) << s.ToString();
  MergeTrusted();
}

TEST_F(IndexDamageTest, IndexWithoutEmptySlotIsRefusedAndMergeEnds) {
  DamageEmptySlots(/*all=*/true);
  Status s = Snapshot::FromBuffer(bytes(), size_, "damaged").status();
  EXPECT_TRUE(s.IsStructureInvalid()) << s.ToString();
  MergeTrusted();
}

}  // namespace
}  // namespace trackstore
