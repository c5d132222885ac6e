#include "json_input.h"

#include <unistd.h>
#include <zlib.h>

#include <algorithm>
#include <atomic>
#include <condition_variable>
#include <cstring>
#include <deque>
#include <mutex>
#include <thread>
#include <vector>

#include "file_util.h"
#include "trackstore/env.h"

namespace trackstore::internal {

namespace {

// Compressed bytes are read in pieces of this size.
constexpr size_t kRawChunk = size_t{1} << 20;
// zlib counts in 32-bit uInt: at most 1 GiB per call.
constexpr size_t kMaxZlibStep = size_t{1} << 30;
// gzip input is inflated on a thread of its own, ahead of the parser, in
// chunks of this size, at most kInflatedChunks of them waiting.
constexpr size_t kInflatedChunk = size_t{1} << 20;
constexpr size_t kInflatedChunks = 3;

}  // namespace

struct JsonInput::Rep {
  std::string name;
  uint64_t max_input = 0;
  uint64_t max_decompressed = 0;

  std::unique_ptr<SequentialFile> file;  // null when reading from memory
  std::string_view memory;               // when reading from memory
  bool from_memory = false;
  uint64_t raw_read = 0;  // bytes taken from the file or memory
  uint64_t size_hint = 0;

  // OpenRange: prefix, then the file's bytes [range_at, range_end), then
  // suffix.
  bool ranged = false;
  std::string prefix, suffix;
  size_t prefix_at = 0, suffix_at = 0;
  uint64_t range_at = 0, range_end = 0;

  Status ReadRanged(char* out, size_t size, size_t* got) {
    *got = 0;
    if (prefix_at < prefix.size()) {
      *got = std::min(size, prefix.size() - prefix_at);
      std::memcpy(out, prefix.data() + prefix_at, *got);
      prefix_at += *got;
      return Status::OK();
    }
    if (range_at < range_end) {
      const size_t want = static_cast<size_t>(std::min<uint64_t>(size, range_end - range_at));
      if (Status s = file->Read(out, want, got); !s.ok()) return s;
      if (*got == 0) return Status::IOError(name, "the file became shorter while it was read");
      range_at += *got;
      return Status::OK();
    }
    *got = std::min(size, suffix.size() - suffix_at);
    std::memcpy(out, suffix.data() + suffix_at, *got);
    suffix_at += *got;
    return Status::OK();
  }

  // The first bytes, read to recognise gzip, and later the compressed input.
  std::vector<char> raw;
  size_t raw_begin = 0, raw_end = 0;
  bool started = false;

  bool gzip = false;
  bool zs_ready = false;
  z_stream zs{};
  bool member_ended = false;
  bool done = false;
  uint64_t produced = 0;

  // The inflating thread and what it hands over.
  struct Chunk {
    std::unique_ptr<char[]> bytes;
    size_t size = 0;
    size_t taken = 0;
  };
  std::thread inflater;
  std::mutex mu;
  std::condition_variable cv;
  std::deque<Chunk> ready;                     // guarded by mu
  std::vector<std::unique_ptr<char[]>> spare;  // guarded by mu
  Status inflate_error;                        // guarded by mu
  bool inflate_finished = false;               // guarded by mu
  std::atomic<bool> stop{false};
  bool threaded = false;  // set before the thread starts

  ~Rep() {
    if (inflater.joinable()) {
      stop = true;
      cv.notify_all();
      inflater.join();
    }
    if (zs_ready) inflateEnd(&zs);
  }

  // The inflating thread: fills spare chunks until the end, an error, or
  // `stop`.
  void InflateAhead() {
    for (;;) {
      std::unique_ptr<char[]> bytes;
      {
        std::unique_lock<std::mutex> l(mu);
        cv.wait(l, [&] { return stop || !spare.empty(); });
        if (stop) return;
        bytes = std::move(spare.back());
        spare.pop_back();
      }
      size_t got = 0;
      Status s = ReadGzip(bytes.get(), kInflatedChunk, &got);
      std::lock_guard<std::mutex> l(mu);
      if (!s.ok()) {
        inflate_error = s;
        inflate_finished = true;
      } else if (got == 0) {
        inflate_finished = true;
      } else {
        ready.push_back({std::move(bytes), got, 0});
      }
      cv.notify_all();
      if (inflate_finished) return;
    }
  }

  Status ReadInflated(char* out, size_t size, size_t* got) {
    std::unique_lock<std::mutex> l(mu);
    cv.wait(l, [&] { return !ready.empty() || inflate_finished; });
    if (ready.empty()) return inflate_error;  // OK at the end: *got stays 0
    Chunk& c = ready.front();
    *got = std::min(size, c.size - c.taken);
    std::memcpy(out, c.bytes.get() + c.taken, *got);
    c.taken += *got;
    if (c.taken == c.size) {
      spare.push_back(std::move(c.bytes));
      ready.pop_front();
      cv.notify_all();
    }
    return Status::OK();
  }

  // Waits until the file is readable or `stop` is set (a pipe that never
  // sends must not keep the inflating thread from being joined).
  bool WaitReadable() {
    if (from_memory || !threaded) return true;
    for (;;) {
      if (stop) return false;
      if (file->WaitReadable(100)) return true;
    }
  }

  Status TooLarge() const {
    return Status::ResourceExhausted(
        name, "input is larger than max_input_bytes (" + std::to_string(max_input) + " bytes)");
  }

  // Up to `size` bytes of the file as it is; 0 at its end. Reads at most one
  // byte past the limit, which proves the limit passed.
  Status ReadRaw(char* out, size_t size, size_t* got) {
    *got = 0;
    const uint64_t room = max_input - std::min(max_input, raw_read) + 1;
    size = static_cast<size_t>(std::min<uint64_t>(size, room));
    if (!WaitReadable()) return Status::IOError(name, "reading stopped");
    if (from_memory) {
      const size_t n = std::min(size, memory.size() - static_cast<size_t>(raw_read));
      std::memcpy(out, memory.data() + raw_read, n);
      *got = n;
    } else if (Status s = file->Read(out, size, got); !s.ok()) {
      return s;
    }
    raw_read += *got;
    if (raw_read > max_input) return TooLarge();
    return Status::OK();
  }

  // Reads the first bytes (at least two, or all there are) to tell gzip
  // from plain text.
  Status Start() {
    started = true;
    raw.resize(kRawChunk);
    while (raw_end < 2) {
      size_t n = 0;
      if (Status s = ReadRaw(raw.data() + raw_end, raw.size() - raw_end, &n); !s.ok()) return s;
      if (n == 0) break;
      raw_end += n;
    }
    if (raw_end == 0) return Status::InvalidArgument(name, "empty file");
    gzip = raw_end >= 2 && static_cast<unsigned char>(raw[0]) == 0x1f &&
           static_cast<unsigned char>(raw[1]) == 0x8b;
    if (gzip) {
      if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK) {
        return Status::ResourceExhausted(name, "zlib: out of memory");
      }
      zs_ready = true;
      zs.next_in = reinterpret_cast<unsigned char*>(raw.data());
      zs.avail_in = static_cast<uInt>(raw_end);
      // Inflating costs about as much as parsing: on a thread of its own
      // the two overlap.
      for (size_t i = 0; i < kInflatedChunks; ++i) {
        spare.push_back(std::make_unique<char[]>(kInflatedChunk));
      }
      threaded = true;
      inflater = std::thread([this] { InflateAhead(); });
    }
    return Status::OK();
  }

  Status ReadPlain(char* out, size_t size, size_t* got) {
    if (raw_begin < raw_end) {
      *got = std::min(size, raw_end - raw_begin);
      std::memcpy(out, raw.data() + raw_begin, *got);
      raw_begin += *got;
      if (raw_begin == raw_end) std::vector<char>().swap(raw);
      return Status::OK();
    }
    return ReadRaw(out, size, got);
  }

  // gzip(1) reads concatenated members as one stream (`cat a.gz b.gz`), so
  // this does too; bytes after a member that are not another member are
  // corrupt data.
  Status ReadGzip(char* out, size_t size, size_t* got) {
    *got = 0;
    while (*got == 0 && !done) {
      if (zs.avail_in == 0) {
        size_t n = 0;
        if (Status s = ReadRaw(raw.data(), raw.size(), &n); !s.ok()) return s;
        if (n == 0) {
          if (member_ended) {
            done = true;
            break;
          }
          return Status::InvalidArgument(name, "truncated gzip data");
        }
        zs.next_in = reinterpret_cast<unsigned char*>(raw.data());
        zs.avail_in = static_cast<uInt>(n);
      }
      if (member_ended) {
        inflateReset(&zs);  // another member follows
        member_ended = false;
      }
      zs.next_out = reinterpret_cast<unsigned char*>(out);
      zs.avail_out = static_cast<uInt>(std::min(size, kMaxZlibStep));
      const int rc = inflate(&zs, Z_NO_FLUSH);
      const size_t made = reinterpret_cast<char*>(zs.next_out) - out;
      *got += made;
      produced += made;
      if (produced > max_decompressed) {
        return Status::ResourceExhausted(
            name, "gzip data inflates to more than max_decompressed_bytes (" +
                      std::to_string(max_decompressed) + " bytes)");
      }
      if (rc == Z_STREAM_END) {
        member_ended = true;
      } else if (rc == Z_MEM_ERROR) {
        return Status::ResourceExhausted(name, "zlib: out of memory");
      } else if (rc != Z_OK && rc != Z_BUF_ERROR) {
        return Status::InvalidArgument(
            name, std::string("corrupt gzip data: ") + (zs.msg != nullptr ? zs.msg : "zlib error"));
      }
    }
    return Status::OK();
  }
};

JsonInput::JsonInput(std::unique_ptr<Rep> rep) : rep_(std::move(rep)) {}
JsonInput::~JsonInput() = default;

Result<std::unique_ptr<JsonInput>> JsonInput::Open(const std::string& path,
                                                   const JsonImportOptions& options, Env* env) {
  auto rep = std::make_unique<Rep>();
  rep->name = path;
  rep->max_input = options.max_input_bytes;
  rep->max_decompressed = options.max_decompressed_bytes;
  if (path == "-") {
    rep->file = SequentialFileOnDescriptor(STDIN_FILENO, path);
  } else {
    if (env == nullptr) env = Env::Default();
    if (Status s = env->NewSequentialFile(path, &rep->file); !s.ok()) return s;
  }
  FileInfo info;
  if (Status s = rep->file->GetInfo(&info); !s.ok()) return s;
  // The size of a regular file is only a hint (it is read to its end, in
  // case it grew), but one above the limit needs no reading to refuse.
  const bool regular = info.kind == FileInfo::Kind::kRegular;
  if (regular && info.size > rep->max_input) return rep->TooLarge();
  if (regular) rep->size_hint = info.size;
  return std::unique_ptr<JsonInput>(new JsonInput(std::move(rep)));
}

Result<std::unique_ptr<JsonInput>> JsonInput::OpenRange(Env* env, const std::string& path,
                                                        uint64_t begin, uint64_t end,
                                                        std::string prefix, std::string suffix) {
  auto rep = std::make_unique<Rep>();
  rep->name = path;
  if (env == nullptr) env = Env::Default();
  if (Status s = env->NewSequentialFile(path, &rep->file); !s.ok()) return s;
  if (Status s = rep->file->Skip(begin); !s.ok()) return s;
  rep->ranged = true;
  rep->prefix = std::move(prefix);
  rep->suffix = std::move(suffix);
  rep->range_at = begin;
  rep->range_end = std::max(begin, end);
  rep->size_hint = rep->prefix.size() + (rep->range_end - begin) + rep->suffix.size();
  return std::unique_ptr<JsonInput>(new JsonInput(std::move(rep)));
}

std::unique_ptr<JsonInput> JsonInput::FromMemory(std::string_view bytes, std::string_view name) {
  auto rep = std::make_unique<Rep>();
  rep->name = std::string(name);
  rep->max_input = UINT64_MAX - 1;
  rep->max_decompressed = UINT64_MAX - 1;
  rep->memory = bytes;
  rep->from_memory = true;
  rep->size_hint = bytes.size();
  return std::unique_ptr<JsonInput>(new JsonInput(std::move(rep)));
}

Status JsonInput::Read(char* out, size_t size, size_t* got) {
  *got = 0;
  Rep& r = *rep_;
  if (r.ranged) return r.ReadRanged(out, size, got);
  if (!r.started) {
    if (Status s = r.Start(); !s.ok()) return s;
  }
  if (size == 0) return Status::OK();
  return r.gzip ? r.ReadInflated(out, size, got) : r.ReadPlain(out, size, got);
}

uint64_t JsonInput::size_hint() const { return rep_->gzip ? 0 : rep_->size_hint; }

const std::string& JsonInput::name() const { return rep_->name; }

}  // namespace trackstore::internal
