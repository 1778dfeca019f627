#pragma once
// Reductions over a configuration's [S, L, G] cubes, the one place that says how the GPUs'
// times of a layer make the layer's time: the layer waits for its slowest GPU in each phase
// (dispatch, compute, combine), and a step is the sum of its layers.
#include <cstddef>
#include <vector>

#include "results/config_result.h"

namespace epbench {

struct PhaseTimes {
  double dispatch = 0, compute = 0, combine = 0;
  double total() const { return dispatch + compute + combine; }
};

// The slowest GPU of each phase in layer `layer` of step `step`.
PhaseTimes layer_phase_max(const ConfigResult& r, size_t step, size_t layer);

// Per step, the sum over layers of each phase's slowest GPU: the step times the cubes imply.
std::vector<double> step_times_from_cubes(const ConfigResult& r);

// The same, averaged over steps (seconds per step).
PhaseTimes mean_phase_times(const ConfigResult& r);

// One phase across GPUs, OSU-style: per step, the sum over layers of the fastest GPU's, the
// mean GPU's and the slowest GPU's time, averaged over steps.
struct RankSpread {
  double min = 0, avg = 0, max = 0;
};
RankSpread rank_spread(const std::vector<double>& cube, size_t steps, size_t layers, size_t gpus);

}  // namespace epbench
