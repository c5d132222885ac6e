// benchmarks/median_ratios.h: a console reporter that also keeps the median
// wall time of every benchmark (its "median" aggregate, or the median of its
// single runs when it has no aggregate) and, at the end of the run, prints
// the ratios a harness asks for, so that the figures a claim rests on come
// out of one run side by side.
//
// Benchmarks are named by family and arguments ("Commit/lmdb/1000000/1"),
// without the "/manual_time" or "/real_time" suffix. A ratio whose
// benchmarks did not run (filtered out, skipped with an error) is left out.
#ifndef TRACKSTORE_BENCHMARKS_MEDIAN_RATIOS_H_
#define TRACKSTORE_BENCHMARKS_MEDIAN_RATIOS_H_

#include <algorithm>
#include <cstdio>
#include <map>
#include <string>
#include <vector>

#include <benchmark/benchmark.h>

namespace trackstore_bench {

class MedianRatioReporter : public benchmark::ConsoleReporter {
 public:
  struct Ratio {
    std::string label;
    std::string numerator;  // benchmark names as above
    std::string denominator;
    double scale = 1;  // the ratio printed is numerator / denominator * scale
  };

  void AddRatio(std::string label, std::string numerator, std::string denominator,
                double scale = 1) {
    ratios_.push_back({std::move(label), std::move(numerator), std::move(denominator), scale});
  }

  void ReportRuns(const std::vector<Run>& runs) override {
    ConsoleReporter::ReportRuns(runs);
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      std::string key = run.run_name.function_name;
      if (!run.run_name.args.empty()) key += "/" + run.run_name.args;
      const double seconds =
          run.GetAdjustedRealTime() / benchmark::GetTimeUnitMultiplier(run.time_unit);
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name == "median") medians_[key] = seconds;
      } else {
        singles_[key].push_back(seconds);
      }
    }
  }

  void Finalize() override {
    ConsoleReporter::Finalize();
    bool header = false;
    for (const Ratio& r : ratios_) {
      const double* num = Median(r.numerator);
      const double* den = Median(r.denominator);
      if (num == nullptr || den == nullptr || *den <= 0) continue;
      if (!header) {
        std::printf("\nRatios of medians (wall time):\n");
        header = true;
      }
      std::printf("  %-58s %8.2fx   (%s / %s)\n", r.label.c_str(), *num / *den * r.scale,
                  Pretty(*num).c_str(), Pretty(*den).c_str());
    }
    std::fflush(stdout);
  }

  // The median wall time of `name` in seconds, or null when it did not run.
  const double* Median(const std::string& name) {
    if (auto it = medians_.find(name); it != medians_.end()) return &it->second;
    auto it = singles_.find(name);
    if (it == singles_.end() || it->second.empty()) return nullptr;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    const size_t m = v.size() / 2;
    medians_[name] = v.size() % 2 == 1 ? v[m] : (v[m - 1] + v[m]) / 2;
    return &medians_[name];
  }

 private:
  static std::string Pretty(double seconds) {
    char buf[32];
    if (seconds >= 1) {
      std::snprintf(buf, sizeof(buf), "%.3g s", seconds);
    } else if (seconds >= 1e-3) {
      std::snprintf(buf, sizeof(buf), "%.3g ms", seconds * 1e3);
    } else {
      std::snprintf(buf, sizeof(buf), "%.3g us", seconds * 1e6);
    }
    return buf;
  }

  std::vector<Ratio> ratios_;
  std::map<std::string, double> medians_;
  std::map<std::string, std::vector<double>> singles_;
};

}  // namespace trackstore_bench

#endif  // TRACKSTORE_BENCHMARKS_MEDIAN_RATIOS_H_
