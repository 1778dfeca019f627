#pragma once
// A lower bound on the predicted time of one layer summed over several steps, valid for ANY
// placement (at most S replicas per GPU, every expert at least once, shared by the steps) and
// any routing per step: the LP relaxation of the exact program (lp_model.h), solved with CLP,
// and never below the closed-form bound of each step (bound.h). docs/placement.md.
#include <cstddef>

#include "costmodel/cost_model.h"
#include "placement/lp_model.h"

namespace epbench {

struct LpBound {
  double total_s = 0;        // max(lp_s, closed_form_s): the bound
  double lp_s = 0;           // the LP's optimum (it includes the closed-form rows)
  double closed_form_s = 0;  // sum over the steps of layer_lower_bound
  int vars = 0, rows = 0;    // the LP's size
};

// InputError for steps that do not fit the model (check_layer_steps) or an LP beyond
// kMaxLpRows rows (limit the steps).
LpBound lp_lower_bound(const CostModel& model, const LayerSteps& steps);

inline constexpr int kMaxLpRows = 4'000'000;

}  // namespace epbench
