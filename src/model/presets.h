#pragma once
// MoE model presets: the sizes that matter for expert placement and for serving (attention,
// KV cache, dtypes), selectable by name everywhere. Models that are no preset come from a
// model spec file (model/model_spec.h).
#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace epbench {

struct ModelPreset {
  std::string name;
  int num_layers = 0;   // MoE layers only (dense layers are not routed)
  int num_experts = 0;  // routed experts per MoE layer
  int top_k = 0;        // routed experts per token
  int d_model = 0;
  int d_ff = 0;              // one routed expert's FFN width
  int dense_layers = 0;      // leading dense (non-MoE) layers
  int shared_experts = 0;    // always-active experts, not placed by epbench
  int shared_d_ff = 0;       // width of one shared expert (0 when none)
  int expert_groups = 1;     // DeepSeek-V3 node-limited routing: groups of experts
  int groups_per_token = 1;  // groups a token may route to
  // Attention, for the KV cache a serving simulator must hold. "gqa" covers MHA (kv_heads ==
  // attention_heads) and MQA (kv_heads == 1); "mla" (DeepSeek) caches one latent vector of
  // kv_latent_dim values per token and layer instead of per-head keys and values.
  std::string attention = "gqa";
  int attention_heads = 0;
  int kv_heads = 0;       // key/value heads (gqa); for mla the same as attention_heads
  int head_dim = 0;       // width of one query/key head (mla: qk_nope + qk_rope head dims)
  int kv_latent_dim = 0;  // mla: kv_lora_rank + qk_rope_head_dim; 0 for gqa
  // Weights outside the routed experts, for serving's weight reads and memory. 0 derives them:
  // dense FFN width as the active width of an MoE layer (top_k d_ff + shared), attention as
  // q, k, v, o projections (d_model head_dim (2 heads + 2 kv_heads)).
  int dense_d_ff = 0;        // FFN width of each leading dense layer
  int attention_params = 0;  // weights of one layer's attention block
  int weight_bytes = 2;      // bytes per weight element (bf16 2, fp8 1, fp32 4)
  int kv_bytes = 2;          // bytes per KV-cache element
  std::string source;        // where the sizes come from

  // Every decoder layer (dense and MoE), each with its own attention and KV cache.
  int total_layers() const { return dense_layers + num_layers; }
  // Equal as models: every size equal; `source` is a note and does not count.
  bool same_model(const ModelPreset& o) const;
};

// KV-cache bytes one token occupies across all layers: gqa keeps K and V per KV head,
// mla one latent vector per layer.
int64_t kv_bytes_per_token(const ModelPreset& m);
// dense_d_ff and attention_params, or the values derived when they are 0.
int64_t dense_ffn_width(const ModelPreset& m);
int64_t attention_weights(const ModelPreset& m);

std::span<const ModelPreset> all_presets();

// The preset named `name`, or nullptr.
const ModelPreset* preset_or_null(std::string_view name);

// Throws InputError naming the option or file (`where`) and the known names.
const ModelPreset& find_preset(std::string_view name, std::string_view where = "--model");

// Refuses data made for one model being used with another: `what` names the file.
void require_same_model(const ModelPreset& expected, std::string_view got_name, int got_layers,
                        int got_experts, int got_top_k, std::string_view what);

}  // namespace epbench
