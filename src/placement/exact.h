#pragma once
// The `exact` placement's search for one layer, exposed for tests and studies.
#include <vector>

#include "costmodel/cost_model.h"
#include "trace/stats.h"

namespace epbench {

// Tokens in the representative batch the objective prices (before one copy per home GPU).
inline constexpr int kExactSampleTokens = 4096;

// Each expert's GPU in the placement with the least predicted step time (top-1 or top-2,
// at most 12 experts, one replica each). See exact.cpp for the objective and the search.
std::vector<int> exact_layer(const CostModel& model, const TraceStats& stats, int layer,
                             int sample_tokens = kExactSampleTokens);

// The objective `exact` minimises: the predicted time of the representative batch of `layer`
// when expert e sits (alone of its kind) on GPU gpu_of[e].
double exact_objective(const CostModel& model, const TraceStats& stats, int layer,
                       const std::vector<int>& gpu_of, int sample_tokens = kExactSampleTokens);

}  // namespace epbench
