#pragma once
// `epbench calibrate` (docs/calibrate.md): fits the cost model's link and compute parameters
// (docs/costmodel.md) to the per-GPU times of a results file, measured by `run` or predicted by
// `evaluate`, and makes a cluster spec that `load_cluster` reads back.
#include <cstddef>
#include <string>
#include <vector>

#include "model/cluster.h"

namespace epbench {

// How well one phase's fitted model explains its samples, one per (step, layer, GPU).
struct FitQuality {
  size_t samples = 0;
  double r2 = 0;       // 1 - RSS / TSS
  double rel_rms = 0;  // sqrt(RSS / sum y^2): the residual's size relative to the times
};

struct Calibration {
  ClusterSpec cluster;  // the fitted parameters over the base, shaped like the results' runs
  ClusterSpec base;     // where the parameters not fitted come from
  FitQuality comm;      // dispatch + combine
  FitQuality compute;
  size_t runs = 0;
  // Parameters kept from the base, and why (degenerate data); also other caveats.
  std::vector<std::string> notes;
};

// Fits the parameters to every run of `results_path`. `base_cluster` is a preset name or JSON
// file; empty: the runs' `cluster` attribute when it names a preset, else h800. Throws
// InputError naming the file and field on anything that is not a usable results file.
Calibration calibrate(const std::string& results_path, const std::string& base_cluster);

// The cluster as an epbench-cluster JSON file (docs/cluster.md), every field written.
std::string cluster_json(const ClusterSpec& c);

// A short table: each parameter fitted and in the base, the fit quality per phase, the notes.
std::string calibration_report(const Calibration& cal);

}  // namespace epbench
