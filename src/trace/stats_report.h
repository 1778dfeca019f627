#pragma once
// Presenting TraceStats: per-layer and per-domain summaries, a text table for people, a JSON
// document for scripts, and an HDF5 file with every matrix (docs/stats.md).
#include <string>
#include <vector>

#include "trace/stats.h"

namespace epbench {

inline constexpr const char* kStatsFormat = "epbench-trace-stats";
inline constexpr int kStatsVersion = 1;

struct LayerReport {
  int layer = 0;
  LoadSummary load;
  LoadSummary by_phase[2];      // prefill, decode
  double phase_js_bits = 0;     // prefill versus decode load distributions
  double transition_mi = 0;     // top-1 mutual information to layer + 1 (0 for the last)
  std::vector<PairLift> pairs;  // the most frequent pairs
};

struct DomainLayerReport {
  LoadSummary load;
  double js_bits = 0;        // domain load versus the overall load of the layer
  std::vector<int> hottest;  // the domain's hottest experts in the layer, hottest first
};

struct DomainReport {
  std::string name;
  uint64_t tokens = 0;
  std::vector<DomainLayerReport> layers;  // one per reported layer
  double mean_max_over_mean = 0, mean_js_bits = 0;
  int most_divergent = 0;  // index into layers with the largest js_bits
};

struct StatsReport {
  std::vector<LayerReport> layers;
  std::vector<DomainReport> domains;
};

struct StatsReportOptions {
  std::vector<int> layers;  // layers to report, empty: all
  int top_pairs = 5;        // pairs per layer
  int hottest = 3;          // hottest experts per domain and layer
};

StatsReport make_report(const TraceStats& s, const StatsReportOptions& opt);

// `trace_path` and the header name the input in the table's heading and the JSON.
std::string format_stats_table(const TraceStats& s, const TraceHeader& h,
                               const std::string& trace_path, const StatsReport& r);
std::string format_stats_json(const TraceStats& s, const TraceHeader& h,
                              const std::string& trace_path, const StatsReport& r);

// Every matrix of `s` plus all-layer summary datasets; appears atomically at `path`.
void write_stats_h5(const std::string& path, const TraceStats& s, const TraceHeader& h,
                    const std::string& trace_path);

}  // namespace epbench
