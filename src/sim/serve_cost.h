#pragma once
// What serving costs besides the routed experts (docs/serve.md "Step cost"): each GPU runs
// attention, the shared-expert and dense FFNs for its own requests (DP attention), and holds
// their weights and the KV cache of its requests. A roofline per GPU and layer, like the
// cost model's experts.
#include <cstdint>
#include <vector>

#include "model/cluster.h"
#include "model/presets.h"

namespace epbench {

// The work of one GPU in one step, per layer (every layer runs the same attention).
struct GpuAttentionWork {
  uint64_t tokens = 0;  // tokens computed: prefill chunks and decode tokens
  double flops = 0;     // attention FLOPs (QK^T and PV), one layer
  double kv_bytes = 0;  // KV cache read and written, one layer
  void clear() { *this = {}; }
};

class DeploymentCost {
 public:
  // `model` as priced (MoE layers as in the trace); slots_per_gpu expert slots per MoE layer.
  DeploymentCost(const ModelPreset& model, const ClusterSpec& cluster);

  // Adds one request's chunk of `tokens` tokens at context positions [start, start + tokens).
  void add_chunk(GpuAttentionWork& w, uint64_t start, uint64_t tokens) const;
  // Time of the layers outside the routed experts for the whole step: per layer the slowest
  // GPU (the MoE all-to-all that follows is a barrier), summed over MoE and dense layers.
  double non_moe_time(const std::vector<GpuAttentionWork>& gpus) const;

  double weight_bytes_per_gpu() const { return weights_; }
  double kv_bytes_per_token() const { return kv_per_token_; }
  // Tokens of KV cache one GPU holds: (memory_fraction x HBM - weights) / KV bytes per token;
  // InputError when the weights leave no room.
  double kv_capacity_tokens(double memory_fraction) const;

 private:
  double gpu_time(const GpuAttentionWork& w, double ffn_width) const;

  ClusterSpec c_;
  int moe_layers_ = 0, dense_layers_ = 0;
  double d_model_ = 0;
  double attn_flop_per_pair_ = 0;  // 4 heads head_dim: QK^T and PV, per (query, key) pair
  double kv_per_layer_ = 0, kv_per_token_ = 0;
  double attn_weight_bytes_ = 0;  // one layer
  double shared_width_ = 0, dense_width_ = 0;
  double weights_ = 0;
  double hbm_ = 0;
};

}  // namespace epbench
