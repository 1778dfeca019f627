#include "sim/serve_cost.h"

#include <algorithm>
#include <cmath>

#include "common/error.h"
#include "common/strprintf.h"

namespace epbench {

DeploymentCost::DeploymentCost(const ModelPreset& m, const ClusterSpec& c)
    : c_(c), moe_layers_(m.num_layers), dense_layers_(m.dense_layers), d_model_(m.d_model) {
  attn_flop_per_pair_ = 4.0 * m.attention_heads * m.head_dim;
  kv_per_token_ = static_cast<double>(epbench::kv_bytes_per_token(m));
  kv_per_layer_ = kv_per_token_ / std::max(1, m.total_layers());
  attn_weight_bytes_ = static_cast<double>(attention_weights(m)) * m.weight_bytes;
  shared_width_ = static_cast<double>(m.shared_experts) * m.shared_d_ff;
  dense_width_ = static_cast<double>(dense_ffn_width(m));
  const double ffn = 3.0 * m.d_model * m.weight_bytes;  // bytes per unit of FFN width
  weights_ = c.slots_per_gpu * static_cast<double>(m.num_layers) * ffn * m.d_ff +
             m.total_layers() * attn_weight_bytes_ + m.num_layers * ffn * shared_width_ +
             m.dense_layers * ffn * dense_width_;
  hbm_ = c.hbm_bytes;
}

void DeploymentCost::add_chunk(GpuAttentionWork& w, uint64_t start, uint64_t tokens) const {
  // Query i of the chunk (at position start + i) attends to start + i + 1 keys.
  const double n = static_cast<double>(tokens), s = static_cast<double>(start);
  w.tokens += tokens;
  w.flops += attn_flop_per_pair_ * (n * s + n * (n + 1) / 2);
  w.kv_bytes += kv_per_layer_ * (s + n);
}

// Roofline of one GPU's layer: attention (KV and weights read, FLOPs) and an FFN of the
// given width (0: none) on its tokens, its weights read once.
double DeploymentCost::gpu_time(const GpuAttentionWork& w, double ffn_width) const {
  if (w.tokens == 0) return 0;
  const double flops = c_.gpu_flops, bw = c_.hbm_bandwidth_Bps;
  const double attn = std::max(flops > 0 ? w.flops / flops : 0,
                               bw > 0 ? (w.kv_bytes + attn_weight_bytes_) / bw : 0);
  if (ffn_width <= 0) return attn;
  const double ffn_flops = 6.0 * d_model_ * ffn_width * static_cast<double>(w.tokens);
  const double ffn_bytes = 3.0 * d_model_ * ffn_width * c_.bytes_per_weight;
  return attn + std::max(flops > 0 ? ffn_flops / flops : 0, bw > 0 ? ffn_bytes / bw : 0);
}

double DeploymentCost::non_moe_time(const std::vector<GpuAttentionWork>& gpus) const {
  double moe_layer = 0, dense_layer = 0;
  for (const GpuAttentionWork& w : gpus) {
    moe_layer = std::max(moe_layer, gpu_time(w, shared_width_));
    if (dense_layers_ > 0) dense_layer = std::max(dense_layer, gpu_time(w, dense_width_));
  }
  return moe_layers_ * moe_layer + dense_layers_ * dense_layer;
}

double DeploymentCost::kv_capacity_tokens(double memory_fraction) const {
  const double room = memory_fraction * hbm_ - weights_;
  if (room < kv_per_token_)
    throw InputError(strprintf(
        "serve: the weights one GPU holds (%.3g GB: its expert slots, attention, shared and "
        "dense layers) leave no room for a KV cache in %.3g of its %.3g GB; expected more "
        "GPUs, fewer slots per GPU, a larger hbm_GB in the cluster file or --kv-capacity",
        weights_ / 1e9, memory_fraction, hbm_ / 1e9));
  return std::floor(room / kv_per_token_);
}

}  // namespace epbench
