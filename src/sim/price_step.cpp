#include "sim/price_step.h"

#include <algorithm>
#include <cstring>

#include "common/numeric.h"
#include "placement/bound.h"

namespace epbench {

namespace {

// Writes one layer's per-GPU figures at cell `at` of the cubes.
void store_layer(const LayerCost& lc, size_t at, ConfigResult& out) {
  std::copy(lc.dispatch_s.begin(), lc.dispatch_s.end(), out.dispatch.begin() + at);
  std::copy(lc.compute_s.begin(), lc.compute_s.end(), out.compute.begin() + at);
  std::copy(lc.combine_s.begin(), lc.combine_s.end(), out.combine.begin() + at);
  std::copy(lc.bytes_same_node.begin(), lc.bytes_same_node.end(), out.bytes_same_node.begin() + at);
  std::copy(lc.bytes_other_node.begin(), lc.bytes_other_node.end(),
            out.bytes_other_node.begin() + at);
  std::copy(lc.pairs.begin(), lc.pairs.end(), out.tokens_per_gpu.begin() + at);
  std::copy(lc.active.begin(), lc.active.end(), out.experts_active.begin() + at);
}

}  // namespace

StepPrice price_step(const TokenBlock& tokens, StepTokens step,
                     const std::vector<LayerReplicas>& replicas, const CostModel& cost,
                     Router& router, ConfigResult& out, size_t row, PriceScratch& scratch) {
  const int L = tokens.num_layers, k = tokens.top_k, G = cost.num_gpus();
  const int E = replicas.empty() ? 0 : replicas[0].num_experts();
  const size_t kk = sz(k), n = step.n;
  scratch.ids.resize(n * kk);
  scratch.slots.resize(n * kk);
  StepPrice price;
  for (int l = 0; l < L; ++l) {
    uint64_t* per_expert = out.tokens_per_expert.data() + sz(l) * sz(E);
    for (size_t i = 0; i < n; ++i) {
      const uint16_t* src = tokens.experts(step.token[i], l);
      std::memcpy(scratch.ids.data() + i * kk, src, kk * sizeof(uint16_t));
      for (size_t j = 0; j < kk; ++j) ++per_expert[src[j]];
    }
    if (scratch.lower_bound)
      price.lower_bound += layer_lower_bound(cost, scratch.ids.data(), n, k, E).total();
    router.route(replicas[sz(l)], scratch.ids.data(), step.home, n, k, scratch.slots.data());
    cost.price_layer(step.home, scratch.slots.data(), n, k, scratch.layer);
    if (scratch.store_cells) store_layer(scratch.layer, (row * sz(L) + sz(l)) * sz(G), out);
    price.time += scratch.layer.total();
    price.dispatch += scratch.layer.dispatch_max;
    price.compute += scratch.layer.compute_max;
    price.combine += scratch.layer.combine_max;
  }
  return price;
}

}  // namespace epbench
