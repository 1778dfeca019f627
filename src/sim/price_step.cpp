#include "sim/price_step.h"

#include <algorithm>
#include <cstring>

#include "common/numeric.h"
#include "placement/bound.h"
#include "sim/weight_reuse.h"

namespace epbench {

void store_layer(const SparseLayerCost& lc, size_t at, size_t G, ConfigResult& out) {
  const auto zero = [&](auto& v) {
    std::fill_n(v.begin() + static_cast<std::ptrdiff_t>(at), G, 0);
  };
  zero(out.dispatch), zero(out.compute), zero(out.combine);
  zero(out.bytes_same_node), zero(out.bytes_other_node);
  zero(out.tokens_per_gpu), zero(out.experts_active);
  for (size_t i = 0; i < lc.size; ++i) {
    const size_t c = at + sz(lc.gpu[i]);
    out.dispatch[c] = out.combine[c] = lc.dispatch_s[i];
    out.compute[c] = lc.compute_s[i];
    out.bytes_same_node[c] = lc.bytes_same_node[i];
    out.bytes_other_node[c] = lc.bytes_other_node[i];
    out.tokens_per_gpu[c] = lc.pairs[i];
    out.experts_active[c] = lc.active[i];
  }
}

namespace {

// Copies the step's choices in `layer` to ids [n, k] and counts them per expert. K > 0: the
// top-k known at compile time, so the copy is a few moves instead of a call to memcpy.
template <int K>
void gather_ids(const TokenBlock& tokens, StepTokens step, int layer, PriceScratch& scratch) {
  const size_t kk = K > 0 ? sz(K) : sz(tokens.top_k);
  uint16_t* ids = scratch.ids.data();
  uint32_t* counts = scratch.counts.data();
  for (size_t i = 0; i < step.n; ++i, ids += kk) {
    const uint16_t* src = tokens.experts(step.token[i], layer);
    std::memcpy(ids, src, kk * sizeof(uint16_t));
    for (size_t j = 0; j < kk; ++j) ++counts[ids[j]];
  }
}

void gather(const TokenBlock& tokens, StepTokens step, int layer, PriceScratch& scratch) {
  switch (tokens.top_k) {
    case 1:
      return gather_ids<1>(tokens, step, layer, scratch);
    case 2:
      return gather_ids<2>(tokens, step, layer, scratch);
    case 4:
      return gather_ids<4>(tokens, step, layer, scratch);
    case 6:
      return gather_ids<6>(tokens, step, layer, scratch);
    case 8:
      return gather_ids<8>(tokens, step, layer, scratch);
    default:
      return gather_ids<0>(tokens, step, layer, scratch);
  }
}

}  // namespace

LayerPrice price_step_layer(const TokenBlock& tokens, StepTokens step, int layer,
                            const LayerReplicas& replicas, const CostModel& cost, Router& router,
                            uint64_t* per_expert, PriceScratch& scratch) {
  const int k = tokens.top_k, E = replicas.num_experts();
  const size_t n = step.n;
  scratch.ids.resize(n * sz(k));
  scratch.slots.resize(n * sz(k));
  scratch.counts.resize(sz(E), 0);
  gather(tokens, step, layer, scratch);
  LayerPrice p;
  if (scratch.lower_bound)
    p.lower_bound = layer_lower_bound_counts(cost, scratch.counts.data(), n, k, E,
                                             scratch.ids.data(), step.home)
                        .total();
  for (size_t e = 0; e < sz(E); ++e) per_expert[e] += scratch.counts[e];
  std::fill(scratch.counts.begin(), scratch.counts.end(), 0u);
  router.route(replicas, scratch.ids.data(), step.home, n, k, scratch.slots.data(), &cost);
  const size_t slots = replicas.slot_gpu.size();
  const uint8_t* warm = scratch.warm.empty() ? nullptr : scratch.warm.data() + sz(layer) * slots;
  cost.price_layer_sparse(step.home, scratch.slots.data(), n, k, scratch.sparse, warm);
  p.time = scratch.sparse.total();
  p.dispatch = scratch.sparse.dispatch_max;
  p.compute = scratch.sparse.compute_max;
  p.combine = scratch.sparse.combine_max;
  return p;
}

void mark_step_warm(const TokenBlock& tokens, StepTokens step,
                    const std::vector<LayerReplicas>& replicas, const CostModel& cost,
                    Router& router, PriceScratch& scratch) {
  mark_warm_slots(tokens, step, replicas, cost, router, scratch.warm);
}

StepPrice price_step(const TokenBlock& tokens, StepTokens step,
                     const std::vector<LayerReplicas>& replicas, const CostModel& cost,
                     Router& router, ConfigResult& out, size_t row, PriceScratch& scratch) {
  const int L = tokens.num_layers, G = cost.num_gpus();
  const int E = replicas.empty() ? 0 : replicas[0].num_experts();
  StepPrice price;
  mark_step_warm(tokens, step, replicas, cost, router, scratch);
  for (int l = 0; l < L; ++l) {
    uint64_t* per_expert = out.tokens_per_expert.data() + sz(l) * sz(E);
    const LayerPrice p =
        price_step_layer(tokens, step, l, replicas[sz(l)], cost, router, per_expert, scratch);
    if (scratch.store_cells) store_layer(scratch.sparse, (row * sz(L) + sz(l)) * sz(G), sz(G), out);
    price.lower_bound += p.lower_bound;
    price.time += p.time;
    price.dispatch += p.dispatch;
    price.compute += p.compute;
    price.combine += p.combine;
  }
  return price;
}

}  // namespace epbench
