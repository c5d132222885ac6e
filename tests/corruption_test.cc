// The corruption campaign: truncate a valid snapshot
// at many lengths and flip bits across the whole file. Every damaged file
// must be reported as an error by a verifying open, none may crash, and a
// trusted open of a damaged file must still keep every read in bounds (the
// sanitizer build turns any stray read into a failure).
#include <cstring>
#include <iostream>
#include <random>

#include "test_util.h"
#include "trackstore/snapshot.h"
#include "trackstore/snapshot_writer.h"

namespace trackstore {
namespace {

using testing::MakeTracks;
using testing::ReadFileBytes;
using testing::TempDir;
using testing::WriteFileBytes;

constexpr size_t kHeaderSize = 64;

// Which layer caught a damaged file.
struct Detection {
  size_t header = 0, structure = 0, hash = 0, missed = 0;
  void Count(const Status& s) {
    if (s.ok()) {
      ++missed;
    } else if (s.IsHashMismatch()) {
      ++hash;
    } else if (s.IsStructureInvalid()) {
      ++structure;
    } else {
      ++header;  // not a snapshot, version, truncated, not supported
    }
  }
  std::string ToString() const {
    return "header " + std::to_string(header) + ", structure " + std::to_string(structure) +
           ", hash " + std::to_string(hash) + ", missed " + std::to_string(missed);
  }
};

class CorruptionTest : public ::testing::Test {
 protected:
  void SetUp() override {
    tracks_ = MakeTracks(2000);
    SnapshotWriter writer;
    ASSERT_OK(writer.Encode(tracks_, &good_).status());
    buffer_.resize(good_.size() / 8 + 1);
  }

  // Opens `bytes` through FromBuffer (an 8-aligned copy), verifying.
  Status Open(const std::string& bytes) {
    std::memcpy(buffer_.data(), bytes.data(), bytes.size());
    return Snapshot::FromBuffer(buffer_.data(), bytes.size(), "damaged").status();
  }

  // Opens `bytes` trusted and, if that succeeds, reads every field of every
  // track and looks every id up: whatever the damage, no read may leave the
  // buffer. Then Verify must find the damage.
  Status ReadEverythingTrusted(const std::string& bytes) {
    std::memcpy(buffer_.data(), bytes.data(), bytes.size());
    Result<Snapshot> snap = Snapshot::FromBuffer(buffer_.data(), bytes.size(), "damaged", false);
    if (!snap.ok()) return snap.status();
    size_t total = 0;
    for (TrackView t : *snap) {
      TrackRecord r = t.ToRecord();
      total += r.id.size() + r.extras_json.size();
      total += snap->Find(t.id()).has_value();
    }
    for (const TrackRecord& t : tracks_) total += snap->Find(t.id).has_value();
    ::testing::Test::RecordProperty("bytes_read", static_cast<int>(total % 1000));
    return snap->Verify();
  }

  std::vector<TrackRecord> tracks_;
  std::string good_;
  std::vector<uint64_t> buffer_;
};

TEST_F(CorruptionTest, TheUndamagedFileOpens) {
  ASSERT_OK(Open(good_));
  ASSERT_OK(ReadEverythingTrusted(good_));
}

TEST_F(CorruptionTest, EveryTruncationIsReported) {
  std::vector<size_t> lengths;
  for (size_t n = 0; n < 4096 && n < good_.size(); ++n) lengths.push_back(n);
  std::mt19937_64 rng(1);
  for (int i = 0; i < 1000; ++i) lengths.push_back(rng() % good_.size());
  Detection d;
  for (size_t n : lengths) {
    const Status s = Open(good_.substr(0, n));
    d.Count(s);
    ASSERT_FALSE(s.ok()) << "truncated to " << n << " bytes was accepted";
    if (n >= kHeaderSize) {
      EXPECT_TRUE(s.IsTruncated()) << n << ": " << s.ToString();
    }
    ASSERT_FALSE(ReadEverythingTrusted(good_.substr(0, n)).ok());
  }
  std::cout << "truncations: " << lengths.size() << " tried; " << d.ToString() << "\n";
}

TEST_F(CorruptionTest, EveryHeaderBitFlipIsReported) {
  Detection d;
  for (size_t bit = 0; bit < kHeaderSize * 8; ++bit) {
    std::string bytes = good_;
    bytes[bit / 8] = static_cast<char>(bytes[bit / 8] ^ (1 << (bit % 8)));
    const Status s = Open(bytes);
    d.Count(s);
    ASSERT_FALSE(s.ok()) << "header bit " << bit << " flipped was accepted";
    ASSERT_FALSE(ReadEverythingTrusted(bytes).ok()) << "header bit " << bit;
  }
  std::cout << "header bit flips: " << kHeaderSize * 8 << "; " << d.ToString() << "\n";
}

TEST_F(CorruptionTest, RandomPayloadBitFlipsAreReported) {
  std::mt19937_64 rng(2);
  Detection d;
  constexpr int kFlips = 10000;
  for (int i = 0; i < kFlips; ++i) {
    std::string bytes = good_;
    const size_t at = kHeaderSize + rng() % (good_.size() - kHeaderSize);
    bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
    const Status s = Open(bytes);
    d.Count(s);
    ASSERT_FALSE(s.ok()) << "flip at byte " << at << " was accepted";
    // Reading everything is the expensive part: do it for a tenth.
    if (i % 10 == 0) {
      ASSERT_FALSE(ReadEverythingTrusted(bytes).ok()) << "flip at " << at;
    }
  }
  std::cout << "payload bit flips: " << kFlips << "; " << d.ToString() << "\n";
}

TEST_F(CorruptionTest, ZeroedPagesAreReported) {
  std::mt19937_64 rng(3);
  Detection d;
  for (int i = 0; i < 200; ++i) {
    std::string bytes = good_;
    const size_t page = rng() % (good_.size() / 4096 + 1);
    const size_t begin = page * 4096, end = std::min(bytes.size(), begin + 4096);
    std::string before = bytes.substr(begin, end - begin);
    std::fill(bytes.begin() + static_cast<long>(begin), bytes.begin() + static_cast<long>(end), 0);
    if (bytes.substr(begin, end - begin) == before) continue;  // page was all zeros
    const Status s = Open(bytes);
    d.Count(s);
    ASSERT_FALSE(s.ok()) << "zeroed page " << page << " was accepted";
    ASSERT_FALSE(ReadEverythingTrusted(bytes).ok()) << "zeroed page " << page;
  }
  std::cout << "zeroed pages: " << d.ToString() << "\n";
}

TEST_F(CorruptionTest, DamagedFilesOnDiskAreReportedByOpenAndVerify) {
  TempDir dir;
  const std::string path = dir.file("lib.snap");
  std::mt19937_64 rng(4);
  for (int i = 0; i < 200; ++i) {
    std::string bytes = good_;
    const size_t at = rng() % good_.size();
    bytes[at] = static_cast<char>(bytes[at] ^ (1 << (rng() % 8)));
    WriteFileBytes(path, bytes);
    EXPECT_FALSE(Snapshot::Open(path).ok()) << "flip at " << at;
    Result<Snapshot> trusted = Snapshot::OpenTrusted(path);
    if (trusted.ok()) {
      EXPECT_FALSE(trusted->Verify().ok()) << "flip at " << at;
    }
  }
}

}  // namespace
}  // namespace trackstore
