#include "scenario/step_plan.h"

#include <algorithm>

#include "common/numeric.h"

namespace epbench {

std::vector<std::vector<double>> request_profiles(const std::vector<RequestSpan>& spans,
                                                  const TokenBlock& block,
                                                  const PreparedLayout& p) {
  std::vector<std::vector<double>> out(spans.size(),
                                       std::vector<double>(sz(p.cluster.num_gpus()), 0.0));
  for (size_t r = 0; r < spans.size(); ++r) {
    // A request cut by the range start may have no prompt left: use its first token then.
    const uint64_t last = std::max(spans[r].prompt_end, spans[r].first + 1);
    add_affinity(p.replicas, block, spans[r].first, last, out[r]);
  }
  return out;
}

StepPlan plan_layout_steps(const PreparedLayout& p, const TokenBlock& block,
                           const std::vector<RequestSpan>& spans, const PlanOptions& opt) {
  const bool affinity =
      opt.allocation == AllocationPolicy::kAffinity || opt.batching == BatchingPolicy::kAffinity;
  const auto profiles =
      affinity ? request_profiles(spans, block, p) : std::vector<std::vector<double>>();
  Allocator alloc(opt.allocation, p.cluster);
  const BatchingOptions bo{opt.batching, opt.batch_size, opt.prefill_chunk, opt.max_steps, 0};
  return plan_steps(spans, profiles, bo, alloc);
}

StepPlan plan_from_schedule(const ScheduleFile& s) {
  const ScheduledSteps& st = s.steps;
  StepPlan plan;
  plan.token = st.token;
  for (size_t k = 0; k < st.steps(); ++k) {
    uint8_t prefill = 0;
    for (uint64_t i = st.item_offset[k]; i < st.item_offset[k + 1]; ++i) {
      plan.home.insert(plan.home.end(), st.tokens[i], st.home[i]);
      prefill |= st.prefill[i];
    }
    plan.offset.push_back(st.token_offset[st.item_offset[k + 1]]);
    plan.prefill.push_back(prefill);
  }
  return plan;
}

}  // namespace epbench
