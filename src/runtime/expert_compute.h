#pragma once
// The expert phase of one MoE layer on one rank, as `run` times it and `profile` measures it:
// the busy local slots' work rows are gathered into one packed buffer, the backend runs every
// busy expert's SwiGLU FFN in one grouped call, and each gated result is added into its row's
// partial sum (slot by slot, rows in order: the same sums, in the same order, as one call per
// expert).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/dispatch_plan.h"
#include "runtime/ffn_backend.h"

namespace epbench {

// Reused from call to call, so nothing allocates once it has grown to the largest step.
struct ExpertScratch {
  std::vector<float> xe, ye;  // the packed rows of all busy experts and their outputs
  ExpertGroup group;
};

struct ExpertCounts {
  uint32_t pairs = 0, active = 0;  // token-expert pairs computed, busy slots
};

// work: plan.work_rows() rows of d values; out: as many, overwritten. Local slot i runs the
// backend's expert shard0 + i.
ExpertCounts run_experts(FfnBackend& backend, const DispatchPlan& plan, size_t shard0,
                         const float* work, size_t d, float* out, ExpertScratch& scratch);

}  // namespace epbench
