#pragma once
// The expert phase of one MoE layer on one rank, as `run` times it and `profile` measures it:
// each busy local slot gathers its work rows, runs the backend's SwiGLU FFN on them, and adds
// the gated result into those rows' partial sums.
#include <cstddef>
#include <cstdint>
#include <vector>

#include "runtime/dispatch_plan.h"
#include "runtime/ffn_backend.h"

namespace epbench {

struct ExpertScratch {
  std::vector<float> xe, ye;  // one expert's gathered rows and its output
};

struct ExpertCounts {
  uint32_t pairs = 0, active = 0;  // token-expert pairs computed, busy slots
};

// work: plan.work_rows() rows of d values; out: as many, overwritten. Local slot i runs the
// backend's expert shard0 + i.
ExpertCounts run_experts(FfnBackend& backend, const DispatchPlan& plan, size_t shard0,
                         const float* work, size_t d, float* out, ExpertScratch& scratch);

}  // namespace epbench
