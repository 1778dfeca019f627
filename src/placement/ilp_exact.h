#pragma once
// The exact optimum of one layer over several steps: placement (shared by the steps) and
// routing (per step), as a mixed-integer program (lp_model.h, exact form) solved with CBC.
// For tiny instances only: tests of the lower bounds, `epbench bound --ilp`.
#include <cstdint>
#include <vector>

#include "costmodel/cost_model.h"
#include "placement/layout.h"
#include "placement/lp_model.h"

namespace epbench {

struct ExactIlp {
  double total_s = 0;         // the optimum: the returned routing priced by CostModel
  double objective_s = 0;     // CBC's objective (equal up to its tolerances)
  LayerPlacement placement;   // experts ascending on each GPU, at most S
  std::vector<int32_t> slot;  // [tokens * k]: the replica of each pair (gpu * S + index)
};

// Limits: what CBC proves optimal in well under a second on the tests' instances.
inline constexpr int kIlpMaxExperts = 16, kIlpMaxGpus = 8, kIlpMaxPairs = 64;
// CBC's time limit: beyond it the instance is refused (8 GPUs and 32 pairs can take minutes).
inline constexpr double kIlpMaxSeconds = 120;

// InputError when the steps do not fit the model (check_layer_steps), the instance exceeds the
// limits above, or the cluster shares a NIC between GPUs (gpus_per_nic > 1: the NIC's load
// is a sum over GPUs gated by each one's use of it, which this program does not model).
ExactIlp exact_ilp(const CostModel& model, const LayerSteps& steps);

}  // namespace epbench
