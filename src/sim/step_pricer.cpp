#include "sim/step_pricer.h"

#include "common/numeric.h"

namespace epbench {

StepPricer::StepPricer(StepCostKind kind, const TokenBlock& tokens,
                       const std::vector<LayerReplicas>& replicas, const CostModel& cost,
                       RoutingPolicy routing, const DeploymentCost& deployment, double overhead_s)
    : kind_(kind),
      tokens_(tokens),
      replicas_(replicas),
      cost_(cost),
      router_(routing),
      deployment_(deployment),
      overhead_(overhead_s) {
  scratch_.lower_bound = false;
  scratch_.store_cells = false;
  const size_t E = replicas.empty() ? 0 : sz(replicas[0].num_experts());
  acc_.tokens_per_expert.assign(sz(tokens.num_layers) * E, 0);
}

StepParts StepPricer::price(StepTokens moe_tokens, const std::vector<GpuAttentionWork>& gpus) {
  StepParts p;
  if (kind_ == StepCostKind::kConstant) {
    p.overhead = overhead_;
    return p;
  }
  const StepPrice m = price_step(tokens_, moe_tokens, replicas_, cost_, router_, acc_, 0, scratch_);
  p.moe = m.time;
  p.dispatch = m.dispatch, p.compute = m.compute, p.combine = m.combine;
  if (kind_ == StepCostKind::kFull) {
    p.non_moe = deployment_.non_moe_time(gpus);
    p.overhead = overhead_;
  }
  return p;
}

}  // namespace epbench
