#include "sim/step_pricer.h"

#include "common/numeric.h"
#include "sim/weight_reuse.h"

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

void StepPricer::remember(StepTokens step) {
  if (!cost_.models_weight_reuse()) return;
  history_.insert(history_.end(), step.token, step.token + step.n);
  history_home_.insert(history_home_.end(), step.home, step.home + step.n);
  history_offset_.push_back(history_.size());
  if (history_offset_.size() <= 2 * kReuseHistorySteps + 1) return;
  // Keep the recent kReuseHistorySteps steps (amortised O(1) per step).
  const size_t drop = history_offset_.size() - 1 - kReuseHistorySteps;
  const uint64_t first = history_offset_[drop];
  history_.erase(history_.begin(), history_.begin() + static_cast<std::ptrdiff_t>(first));
  history_home_.erase(history_home_.begin(),
                      history_home_.begin() + static_cast<std::ptrdiff_t>(first));
  history_offset_.erase(history_offset_.begin(),
                        history_offset_.begin() + static_cast<std::ptrdiff_t>(drop));
  for (uint64_t& o : history_offset_) o -= first;
}

StepParts StepPricer::price(StepTokens moe_tokens, const std::vector<GpuAttentionWork>& gpus) {
  StepParts p;
  if (kind_ == StepCostKind::kConstant) {
    p.overhead = overhead_;
    return p;
  }
  // Steps come in time order: the ones priced before are this one's history (weight reuse).
  moe_tokens.history = history_.data(), moe_tokens.history_offset = history_offset_.data();
  moe_tokens.history_steps = history_offset_.size() - 1;
  moe_tokens.history_home = history_home_.data();
  const StepPrice m = price_step(tokens_, moe_tokens, replicas_, cost_, router_, acc_, 0, scratch_);
  remember(moe_tokens);
  p.moe = m.time;
  p.dispatch = m.dispatch, p.compute = m.compute, p.combine = m.combine;
  if (kind_ == StepCostKind::kFull) {
    p.non_moe = deployment_.non_moe_time(gpus);
    p.overhead = overhead_;
  }
  return p;
}

}  // namespace epbench
