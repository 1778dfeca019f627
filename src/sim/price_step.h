#pragma once
// Pricing one step with the cost model: each layer's tokens are routed to replicas and the
// layer priced per GPU (docs/costmodel.md). The building block of `evaluate` (static batches)
// and of the serving simulator (steps composed as requests come and go).
#include <cstddef>
#include <cstdint>
#include <vector>

#include "costmodel/cost_model.h"
#include "placement/layout.h"
#include "results/config_result.h"
#include "routing/routing.h"
#include "sim/weight_reuse.h"
#include "trace/trace.h"

namespace epbench {

struct StepPrice {
  double time = 0;         // sum over layers of the cost model's layer time
  double lower_bound = 0;  // for any placement and routing (placement/bound.h); 0 if not asked
  // time split by phase: sums over layers of each phase's slowest GPU
  double dispatch = 0, compute = 0, combine = 0;
};

// Buffers reused from step to step.
struct PriceScratch {
  bool lower_bound = true;    // compute StepPrice::lower_bound (serve does not need it)
  bool store_cells = true;    // write the [L, G] figures into out's cubes (serve keeps sums only)
  std::vector<uint16_t> ids;  // one layer of the step, [n, k]
  std::vector<int32_t> slots;
  LayerCost layer;
  std::vector<uint32_t> counts;  // [E] pairs per expert in the layer, kept zero between layers
  SparseLayerCost sparse;        // the last layer priced by price_step_layer
  std::vector<uint8_t> warm;     // [L, G*S] each slot's warmth (mark_step_warm), or empty
};

// Marks the step's warm slots in scratch.warm (sim/weight_reuse.h), the step and its history
// routed by `router` as they are priced; price_step does it, a caller pricing layer by layer
// does it once per step first.
void mark_step_warm(const TokenBlock& tokens, StepTokens step,
                    const std::vector<LayerReplicas>& replicas, const CostModel& cost,
                    Router& router, PriceScratch& scratch);

// What one layer of one step adds to its StepPrice.
struct LayerPrice {
  double time = 0, lower_bound = 0, dispatch = 0, compute = 0, combine = 0;
};

// Prices layer `layer` of `step`: its per-GPU figures go to scratch.sparse, its pairs per
// expert are added to per_expert [E]. price_step is this for every layer.
LayerPrice price_step_layer(const TokenBlock& tokens, StepTokens step, int layer,
                            const LayerReplicas& replicas, const CostModel& cost, Router& router,
                            uint64_t* per_expert, PriceScratch& scratch);

// Writes one layer's per-GPU figures at cell `at` of out's cubes (G cells; untouched GPUs 0).
void store_layer(const SparseLayerCost& lc, size_t at, size_t G, ConfigResult& out);

// Prices `step` and writes its [L, G] figures into row `row` of out's cubes (sized by the
// caller; not touched unless scratch.store_cells); out.tokens_per_expert [L, E] accumulates.
StepPrice price_step(const TokenBlock& tokens, StepTokens step,
                     const std::vector<LayerReplicas>& replicas, const CostModel& cost,
                     Router& router, ConfigResult& out, size_t row, PriceScratch& scratch);

}  // namespace epbench
