#pragma once
// The steps of one batch size for one layout: requests to home GPUs (allocation) and into
// batches (static batching), so `evaluate` and `run` replay identical steps.
#include <cstdint>
#include <vector>

#include "routing/allocation.h"
#include "routing/batching.h"
#include "scenario/layouts.h"
#include "sim/schedule_file.h"
#include "trace/trace.h"

namespace epbench {

struct PlanOptions {
  AllocationPolicy allocation = AllocationPolicy::kRoundRobin;
  BatchingPolicy batching = BatchingPolicy::kFifo;
  int batch_size = 1;
  uint64_t prefill_chunk = 0;
  uint64_t max_steps = 0;  // at most this many steps, 0: all the range gives
};
// Per request, the share of its prompt's expert work each GPU would serve under the layout
// (what the affinity allocation and batching read).
std::vector<std::vector<double>> request_profiles(const std::vector<RequestSpan>& spans,
                                                  const TokenBlock& block, const PreparedLayout& p);

StepPlan plan_layout_steps(const PreparedLayout& p, const TokenBlock& block,
                           const std::vector<RequestSpan>& spans, const PlanOptions& opt);

// The steps of a serving schedule (serve --schedule-out): each item's tokens from its
// request's home GPU; a step is a prefill step when any of its items is a prefill chunk.
StepPlan plan_from_schedule(const ScheduleFile& s);

}  // namespace epbench
