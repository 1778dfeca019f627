// round-robin: contiguous blocks of experts per GPU, what Megatron-LM and DeepSpeed do by
// default (expert e on GPU e / (E / G)). Load-oblivious: the baseline every other algorithm is
// measured against. Spare slots stay empty unless --param replicate=1 applies the shared
// replication step (common.h) on top of the blocks.
#include "placement/common.h"

namespace epbench {

namespace {

// Blocks as even as possible when G does not divide E: the first E % G GPUs get one more.
LayerPlacement contiguous_blocks(int experts, int gpus) {
  LayerPlacement layer;
  layer.gpu_experts.resize(static_cast<size_t>(gpus));
  const int base = experts / gpus, extra = experts % gpus;
  int e = 0;
  for (int g = 0; g < gpus; ++g)
    for (int i = 0; i < base + (g < extra ? 1 : 0); ++i)
      layer.gpu_experts[static_cast<size_t>(g)].push_back(static_cast<uint16_t>(e++));
  return layer;
}

}  // namespace

Layout place_round_robin(const PlacementInput& in) {
  Layout lay = empty_layout(in, "round-robin");
  const bool replicate = param_bool(in.params, "replicate", false);
  lay.params["replicate"] = replicate;
  const LayerPlacement blocks = contiguous_blocks(lay.num_experts, lay.num_gpus());
  for (int l = 0; l < lay.num_layers; ++l) {
    lay.layers.push_back(blocks);
    if (replicate) add_replicas(lay.layers.back(), layer_load(in.stats, l), lay.slots_per_gpu);
  }
  return lay;
}

}  // namespace epbench
