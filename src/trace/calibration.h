#pragma once
// Calibration of synthetic traces to real routing statistics: the per-layer expert selection
// counts of the OLMoE routing analysis (third_party/olmoe-routing-analysis, docs/synth.md).
// The counts exist only at a few layers of one model; this file turns them into a target
// load profile for any layer of any model shape.
#include <cstdint>
#include <string>
#include <vector>

namespace epbench {

struct ModelPreset;

// One text domain's expert selection counts at a few layers (an `expert_counts` JSON file).
struct CountsFile {
  std::string path, model, domain;
  int num_experts = 0;
  int source_layers = 0;                    // MoE layers of the model the counts come from
  std::vector<int> layers;                  // the calibrated layers, increasing
  std::vector<std::vector<double>> counts;  // [layers.size()][num_experts]
};

// Reads and validates a counts file; errors name the file and the field.
CountsFile read_counts_file(const std::string& path);

struct CalibrationSource {
  std::string spec;                 // as given on the command line
  std::string description;          // for TraceHeader::dataset
  std::vector<CountsFile> domains;  // one per domain; empty for a uniform profile
  bool uniform() const { return domains.empty(); }
};

// SOURCE is `uniform`/`none`, MODEL[:DOMAIN[,DOMAIN...]] with MODEL `mixtral` or `olmoe`, or
// comma-separated paths to counts files. Errors name `option`.
CalibrationSource load_calibration_source(const std::string& spec,
                                          const std::string& option = "calibrate");
// `mixtral` for 8-expert models, `olmoe` otherwise: the closer of the two real routers.
std::string default_calibration_source(const ModelPreset& model);
// Where the shipped counts live: $EPBENCH_DATA_DIR if set, else the source tree's copy.
std::string calibration_data_dir();

// The wanted load of one synthetic layer for one domain.
struct LayerTarget {
  std::vector<double> load;  // per expert, mean 1
  double max_over_mean = 1;  // of `load`
  double uncapped = 1;       // the interpolated real skew before the top-k cap
  bool capped = false;       // uncapped exceeded E/k
};

// Target for layer `layer` of `num_layers` in a model with `num_experts` and `top_k`:
// max/mean interpolated by relative depth, shape from the nearest calibrated layer, resampled
// as a quantile function when the expert counts differ and reshaped by a power transform.
// `perm_seed` fixes which synthetic expert plays which real one (same for every domain).
LayerTarget layer_target(const CountsFile& c, int layer, int num_layers, int num_experts, int top_k,
                         uint64_t perm_seed);

// Profile helpers, exposed for tests.
// Resamples a descending profile at `n` points as a quantile function (linear interpolation).
std::vector<double> resample_quantiles(const std::vector<double>& sorted_desc, int n);
// Raises a positive profile to the power that makes max/mean equal `target` (mean-normalised
// result); returns the flattest reachable profile when `target` cannot be reached.
std::vector<double> power_to_ratio(const std::vector<double>& profile, double target);
double max_over_mean(const std::vector<double>& v);

}  // namespace epbench
