#pragma once
// The price of one served step (docs/serve.md "Step cost"): the routed experts by the cost
// model on the step's real routing (sim/price_step.h), the rest of every layer per GPU
// (sim/serve_cost.h), and a per-step overhead; or a constant, for queueing checks.
#include <cstdint>
#include <vector>

#include "costmodel/cost_model.h"
#include "results/config_result.h"
#include "routing/routing.h"
#include "sim/price_step.h"
#include "sim/serve_cost.h"
#include "sim/serve_options.h"
#include "trace/trace.h"

namespace epbench {

struct StepParts {
  double moe = 0;  // == dispatch + compute + combine up to rounding: summed per layer
  double dispatch = 0, compute = 0, combine = 0;
  double non_moe = 0, overhead = 0;
  double total() const { return moe + non_moe + overhead; }
};

class StepPricer {
 public:
  StepPricer(StepCostKind kind, const TokenBlock& tokens,
             const std::vector<LayerReplicas>& replicas, const CostModel& cost,
             RoutingPolicy routing, const DeploymentCost& deployment, double overhead_s);

  StepParts price(StepTokens moe_tokens, const std::vector<GpuAttentionWork>& gpus);
  const std::vector<uint64_t>& tokens_per_expert() const { return acc_.tokens_per_expert; }

 private:
  StepCostKind kind_;
  const TokenBlock& tokens_;
  const std::vector<LayerReplicas>& replicas_;
  const CostModel& cost_;
  Router router_;
  const DeploymentCost& deployment_;
  double overhead_;
  PriceScratch scratch_;
  ConfigResult acc_;  // tokens_per_expert only: the cubes stay empty
  void remember(StepTokens step);
  // The steps priced, recent ones (weight reuse only): tokens, their home GPUs, and each
  // step's offset.
  std::vector<uint64_t> history_, history_offset_{0};
  std::vector<int32_t> history_home_;
};

}  // namespace epbench
