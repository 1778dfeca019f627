#pragma once
// Lower bounds on the predicted time of one MoE layer in one step, valid for ANY placement
// (with or without replicas) and any routing on the given cluster (docs/placement.md).
#include <cstddef>
#include <cstdint>

#include "costmodel/cost_model.h"

namespace epbench {

struct LayerBound {
  // max(total work / GPUs, hottest expert over its most replicas, weight reads of the active
  // experts over the GPUs)
  double compute_s = 0;
  // fewest remote GPUs a token must reach, spread evenly, fastest link; one message when a
  // home GPU's tokens choose more distinct experts than it has slots
  double dispatch_s = 0;
  double combine_s = 0;  // the combine mirrors the dispatch
  double total() const { return compute_s + dispatch_s + combine_s; }
};

// `ids`: the step's tokens, [n, k] expert ids of this layer; `home` [n] their home GPUs, or
// null (then the home term of the dispatch is left out).
LayerBound layer_lower_bound(const CostModel& model, const uint16_t* ids, size_t n, int k,
                             int num_experts);
LayerBound layer_lower_bound(const CostModel& model, const uint16_t* ids, const int32_t* home,
                             size_t n, int k, int num_experts);
// The same from the layer's pairs per expert (`tokens`, [num_experts]), when the caller
// counted them already; `ids` and `home` as above (both or neither).
LayerBound layer_lower_bound_counts(const CostModel& model, const uint32_t* tokens, size_t n, int k,
                                    int num_experts, const uint16_t* ids = nullptr,
                                    const int32_t* home = nullptr);

}  // namespace epbench
