// benchmarks/import_bench.cc
//
// JSON import beside its physical baselines, measured in the same run, on
// one generated library (IMPORT_TRACKS tracks, default 1,000,000) written
// once as plain JSON and as gzip (level 6, as the reference application
// writes it):
//
//   Read/cat             read(2) of the plain file in 1 MiB pieces, as
//                        `cat FILE > /dev/null` does: the least any import
//                        of the file can do
//   Parse/ondemand       simdjson On-Demand over the file in memory, every
//                        value of every record touched, nothing built (this
//                        file is compiled for the build machine, so it gets
//                        simdjson's fastest kernels)
//   Parse/dom            simdjson's DOM parser over the same, every value
//                        touched (the parser the import uses, per window)
//   Write/output         write(2) of the snapshot import writes, from memory,
//                        to a new file, not fsync'ed: the least any writer
//                        of the output can do
//   Import/json          ImportJsonToSnapshot, output not fsync'ed
//   Import/json_durable  the same with fsync, as `trackstore import` does
//   Inflate/zlib         zlib inflating the .gz file alone, 1 MiB pieces
//   Import/gzip          ImportJsonToSnapshot of the .gz file, no fsync
//   Rss/json, Rss/gzip   `trackstore import` in a child process: its peak
//                        RSS (getrusage of the child) in the counters, beside
//                        the bound 1.2 x output + 64 MiB
//
// Run: build/benchmarks/import_bench --benchmark_repetitions=5
//      --benchmark_report_aggregates_only=true
// The files stay in the page cache (the plain one is read once before).
#include <fcntl.h>
#include <simdjson.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zlib.h>

#include <cstdlib>
#include <cstring>
#include <filesystem>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

#include "median_ratios.h"
#include "trackstore/json.h"
#include "trackstore/snapshot_writer.h"
#include "trackstore/synthetic.h"

// The kernels this file's On-Demand code is compiled for (the header's
// builtin implementation; simdjson::builtin_implementation() would name the
// shared library's).
#define TS_STRINGIFY_(x) #x
#define TS_STRINGIFY(x) TS_STRINGIFY_(x)

namespace trackstore {
namespace {

struct Fixture {
  std::string dir;
  std::string json_path;
  std::string gzip_path;
  uint64_t tracks = 0;
  uint64_t json_bytes = 0;
  uint64_t output_bytes = 0;  // of the snapshot import writes
};

uint64_t TrackCount() {
  const char* env = std::getenv("IMPORT_TRACKS");
  return env != nullptr ? std::strtoull(env, nullptr, 10) : 1'000'000;
}

std::string ReadAll(const std::string& path) {
  std::string bytes(std::filesystem::file_size(path), '\0');
  const int fd = ::open(path.c_str(), O_RDONLY);
  size_t done = 0;
  while (fd >= 0 && done < bytes.size()) {
    const ssize_t r = ::read(fd, bytes.data() + done, bytes.size() - done);
    if (r <= 0) break;
    done += static_cast<size_t>(r);
  }
  if (fd >= 0) ::close(fd);
  if (done != bytes.size()) std::abort();
  return bytes;
}

void WriteGzip(const std::string& text, const std::string& path) {
  gzFile gz = gzopen(path.c_str(), "wb6");
  if (gz == nullptr) std::abort();
  for (size_t at = 0; at < text.size(); at += 1 << 20) {
    const unsigned n = static_cast<unsigned>(std::min<size_t>(1 << 20, text.size() - at));
    if (gzwrite(gz, text.data() + at, n) != static_cast<int>(n)) std::abort();
  }
  if (gzclose(gz) != Z_OK) std::abort();
}

const Fixture& Get() {
  static const Fixture f = [] {
    Fixture f;
    std::string tmpl = std::filesystem::temp_directory_path() / "trackstore-ibench-XXXXXX";
    if (::mkdtemp(tmpl.data()) == nullptr) std::abort();
    f.dir = tmpl;
    std::atexit([] { std::filesystem::remove_all(Get().dir); });
    f.json_path = f.dir + "/lib.json";
    f.gzip_path = f.dir + "/lib.json.gz";
    {
      std::vector<TrackRecord> tracks = GenerateLibrary(TrackCount());
      f.tracks = tracks.size();
      if (!WriteJsonFile(tracks, f.json_path).ok()) std::abort();
    }
    const std::string text = ReadAll(f.json_path);
    f.json_bytes = text.size();
    WriteGzip(text, f.gzip_path);
    WriteOptions w;
    w.sync = false;
    Result<WriteResult> r = ImportJsonToSnapshot(f.json_path, f.dir + "/probe.snap", {}, w);
    if (!r.ok()) std::abort();
    f.output_bytes = r->file_size;
    return f;
  }();
  return f;
}

void SetBytes(benchmark::State& state, uint64_t bytes) {
  state.SetBytesProcessed(static_cast<int64_t>(state.iterations() * bytes));
}

void BM_ReadCat(benchmark::State& state) {
  const Fixture& f = Get();
  std::vector<char> buf(1 << 20);
  for (auto _ : state) {
    const int fd = ::open(f.json_path.c_str(), O_RDONLY);
    uint64_t total = 0;
    for (ssize_t r; (r = ::read(fd, buf.data(), buf.size())) > 0;) total += r;
    ::close(fd);
    if (total != f.json_bytes) state.SkipWithError("short read");
  }
  SetBytes(state, f.json_bytes);
}

void BM_WriteOutput(benchmark::State& state) {
  const Fixture& f = Get();
  const std::string bytes = ReadAll(f.dir + "/probe.snap");
  const std::string path = f.dir + "/write.out";
  for (auto _ : state) {
    ::unlink(path.c_str());
    const int fd = ::open(path.c_str(), O_WRONLY | O_CREAT | O_TRUNC, 0644);
    size_t done = 0;
    while (fd >= 0 && done < bytes.size()) {
      const ssize_t w =
          ::write(fd, bytes.data() + done, std::min<size_t>(bytes.size() - done, 1 << 30));
      if (w <= 0) break;
      done += static_cast<size_t>(w);
    }
    if (fd >= 0) ::close(fd);
    if (done != bytes.size()) state.SkipWithError("short write");
  }
  SetBytes(state, bytes.size());
}

// Every value of every record: strings read (unescaped), numbers parsed,
// nulls checked, nested values (extras) skipped over as raw JSON.
void BM_ParseOnDemand(benchmark::State& state) {
  const Fixture& f = Get();
  const simdjson::padded_string json(ReadAll(f.json_path));
  simdjson::ondemand::parser parser;
  for (auto _ : state) {
    uint64_t touched = 0;
    simdjson::ondemand::document doc = parser.iterate(json);
    for (simdjson::ondemand::object record : doc.get_array()) {
      for (simdjson::ondemand::field field : record) {
        touched += field.unescaped_key().value().size();
        simdjson::ondemand::value v = field.value();
        switch (v.type().value()) {
          case simdjson::ondemand::json_type::string:
            touched += v.get_string().value().size();
            break;
          case simdjson::ondemand::json_type::number:
            touched += static_cast<uint64_t>(v.get_double().value());
            break;
          case simdjson::ondemand::json_type::null:
            touched += v.is_null().value();
            break;
          default:
            touched += simdjson::to_json_string(v).value().size();
        }
      }
    }
    benchmark::DoNotOptimize(touched);
  }
  SetBytes(state, f.json_bytes);
  state.SetLabel("simdjson kernels: " TS_STRINGIFY(SIMDJSON_BUILTIN_IMPLEMENTATION));
}

uint64_t Touch(simdjson::dom::element e) {
  std::string_view s;
  simdjson::dom::object obj;
  simdjson::dom::array arr;
  if (e.get(s) == simdjson::SUCCESS) return s.size();
  uint64_t n = 1;
  if (e.get(obj) == simdjson::SUCCESS) {
    for (simdjson::dom::key_value_pair kv : obj) n += kv.key.size() + Touch(kv.value);
  } else if (e.get(arr) == simdjson::SUCCESS) {
    for (simdjson::dom::element x : arr) n += Touch(x);
  }
  return n;
}

void BM_ParseDom(benchmark::State& state) {
  const Fixture& f = Get();
  const simdjson::padded_string json(ReadAll(f.json_path));
  simdjson::dom::parser parser;
  for (auto _ : state) {
    simdjson::dom::element root;
    if (parser.parse(json).get(root) != simdjson::SUCCESS) state.SkipWithError("parse failed");
    benchmark::DoNotOptimize(Touch(root));
  }
  SetBytes(state, f.json_bytes);
}

void BM_Import(benchmark::State& state, const std::string& which, bool sync) {
  const Fixture& f = Get();
  WriteOptions w;
  w.sync = sync;
  const std::string& in = which == "gzip" ? f.gzip_path : f.json_path;
  for (auto _ : state) {
    Result<WriteResult> r = ImportJsonToSnapshot(in, f.dir + "/out.snap", {}, w);
    if (!r.ok() || r->track_count != f.tracks) state.SkipWithError("import failed");
  }
  SetBytes(state, f.json_bytes);
}

void BM_ImportJson(benchmark::State& state) { BM_Import(state, "json", false); }
void BM_ImportJsonDurable(benchmark::State& state) { BM_Import(state, "json", true); }
void BM_ImportGzip(benchmark::State& state) { BM_Import(state, "gzip", false); }

void BM_InflateZlib(benchmark::State& state) {
  const Fixture& f = Get();
  const std::string gz = ReadAll(f.gzip_path);
  std::vector<unsigned char> out(1 << 20);
  for (auto _ : state) {
    z_stream zs{};
    inflateInit2(&zs, 16 + MAX_WBITS);
    zs.next_in = reinterpret_cast<Bytef*>(const_cast<char*>(gz.data()));
    zs.avail_in = static_cast<uInt>(gz.size());
    uint64_t total = 0;
    int rc;
    do {
      zs.next_out = out.data();
      zs.avail_out = static_cast<uInt>(out.size());
      rc = inflate(&zs, Z_NO_FLUSH);
      total += out.size() - zs.avail_out;
    } while (rc == Z_OK);
    inflateEnd(&zs);
    if (rc != Z_STREAM_END || total != f.json_bytes) state.SkipWithError("inflate failed");
  }
  SetBytes(state, f.json_bytes);
}

// The CLI beside this binary: build/src/cli/trackstore.
std::string CliPath() {
  if (const char* env = std::getenv("TRACKSTORE_CLI")) return env;
  const std::filesystem::path self = std::filesystem::read_symlink("/proc/self/exe");
  return (self.parent_path().parent_path() / "src" / "cli" / "trackstore").string();
}

// Runs `trackstore import IN OUT --no-sync` in a child; its peak RSS.
bool RunImportChild(const std::string& in, const std::string& out, long* max_rss_kib) {
  const std::string cli = CliPath();
  const pid_t pid = ::fork();
  if (pid == 0) {
    const int null_fd = ::open("/dev/null", O_WRONLY);
    ::dup2(null_fd, STDOUT_FILENO);
    ::dup2(null_fd, STDERR_FILENO);
    ::execl(cli.c_str(), cli.c_str(), "import", in.c_str(), out.c_str(), "--no-sync",
            static_cast<char*>(nullptr));
    ::_exit(127);
  }
  int status = 0;
  struct rusage usage {};
  if (pid < 0 || ::wait4(pid, &status, 0, &usage) != pid) return false;
  *max_rss_kib = usage.ru_maxrss;
  return WIFEXITED(status) && WEXITSTATUS(status) == 0;
}

void BM_Rss(benchmark::State& state, const std::string& which) {
  const Fixture& f = Get();
  const std::string& in = which == "gzip" ? f.gzip_path : f.json_path;
  long rss_kib = 0;
  for (auto _ : state) {
    if (!RunImportChild(in, f.dir + "/rss.snap", &rss_kib)) {
      std::string message = "import in a child failed: ";
      message.append(CliPath());
      state.SkipWithError(message.c_str());
      break;
    }
  }
  const double bound = 1.2 * static_cast<double>(f.output_bytes) + (64 << 20);
  state.counters["peak_rss_MB"] = static_cast<double>(rss_kib) * 1024 / 1e6;
  state.counters["output_MB"] = static_cast<double>(f.output_bytes) / 1e6;
  state.counters["input_MB"] = static_cast<double>(f.json_bytes) / 1e6;
  state.counters["rss_over_bound"] = static_cast<double>(rss_kib) * 1024 / bound;
}

void BM_RssJson(benchmark::State& state) { BM_Rss(state, "json"); }
void BM_RssGzip(benchmark::State& state) { BM_Rss(state, "gzip"); }

void Register() {
  auto reg = [](const char* name, void (*fn)(benchmark::State&)) {
    benchmark::RegisterBenchmark(name, fn)->Unit(benchmark::kMillisecond)->UseRealTime();
  };
  reg("Read/cat", BM_ReadCat);
  reg("Write/output", BM_WriteOutput);
  reg("Parse/ondemand", BM_ParseOnDemand);
  reg("Parse/dom", BM_ParseDom);
  reg("Import/json", BM_ImportJson);
  reg("Import/json_durable", BM_ImportJsonDurable);
  reg("Inflate/zlib", BM_InflateZlib);
  reg("Import/gzip", BM_ImportGzip);
  benchmark::RegisterBenchmark("Rss/json", BM_RssJson)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->Iterations(1);
  benchmark::RegisterBenchmark("Rss/gzip", BM_RssGzip)
      ->Unit(benchmark::kMillisecond)
      ->UseRealTime()
      ->Iterations(1);
}

}  // namespace
}  // namespace trackstore

int main(int argc, char** argv) {
  benchmark::Initialize(&argc, argv);
  trackstore::Register();
  trackstore_bench::MedianRatioReporter reporter;
  reporter.AddRatio("import json / simdjson On-Demand parse only", "Import/json", "Parse/ondemand");
  reporter.AddRatio("import json / simdjson DOM parse only", "Import/json", "Parse/dom");
  reporter.AddRatio("import json / read (cat)", "Import/json", "Read/cat");
  reporter.AddRatio("import gzip / zlib inflate alone", "Import/gzip", "Inflate/zlib");
  reporter.AddRatio("durable import / import", "Import/json_durable", "Import/json");
  benchmark::RunSpecifiedBenchmarks(&reporter);
  benchmark::Shutdown();
  return 0;
}
