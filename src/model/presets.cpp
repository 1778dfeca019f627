#include "model/presets.h"

#include <array>
#include <tuple>

#include "common/error.h"

namespace epbench {

namespace {

// Sizes from each model's published Hugging Face config.json, and the two models epbench
// trains on the Brown corpus for its shipped traces (analysis/epbench_moe/configs.py). A
// config.json field that is absent is derived as Transformers does (head_dim = hidden_size
// / num_attention_heads); the serving dtype is the checkpoint's torch_dtype unless noted.
const std::array<ModelPreset, 8> kPresets = {{
    {.name = "mixtral-8x7b",
     .num_layers = 32,
     .num_experts = 8,
     .top_k = 2,
     .d_model = 4096,
     .d_ff = 14336,
     .attention_heads = 32,
     .kv_heads = 8,
     .head_dim = 128,
     .source = "mistralai/Mixtral-8x7B-v0.1 config.json (num_hidden_layers 32, "
               "num_attention_heads 32, num_key_value_heads 8, head_dim 4096/32, bfloat16)"},
    {.name = "deepseek-v3",
     .num_layers = 58,
     .num_experts = 256,
     .top_k = 8,
     .d_model = 7168,
     .d_ff = 2048,
     .dense_layers = 3,
     .shared_experts = 1,
     .shared_d_ff = 2048,
     .expert_groups = 8,
     .groups_per_token = 4,
     .attention = "mla",
     .attention_heads = 128,
     .kv_heads = 128,
     .head_dim = 192,
     .kv_latent_dim = 576,
     .dense_d_ff = 18432,
     // q_a 7168x1536, q_b 1536x(128x192), kv_a 7168x576, kv_b 512x(128x256), o 16384x7168
     .attention_params = 187107328,
     .weight_bytes = 1,
     .kv_bytes = 2,
     .source =
         "deepseek-ai/DeepSeek-V3 config.json (num_hidden_layers 61, "
         "first_k_dense_replace 3, num_attention_heads 128, kv_lora_rank 512, "
         "qk_rope_head_dim 64, qk_nope_head_dim 128, intermediate_size 18432, q_lora_rank 1536, "
         "v_head_dim 128; weights fp8 e4m3 per "
         "quantization_config, KV cache bf16)"},
    {.name = "deepseek-moe-16b",
     .num_layers = 27,
     .num_experts = 64,
     .top_k = 6,
     .d_model = 2048,
     .d_ff = 1408,
     .dense_layers = 1,
     .shared_experts = 2,
     .shared_d_ff = 1408,
     .attention_heads = 16,
     .kv_heads = 16,
     .head_dim = 128,
     .dense_d_ff = 10944,
     .source = "deepseek-ai/deepseek-moe-16b-base config.json (num_hidden_layers 28, "
               "first_k_dense_replace 1, num_attention_heads 16, num_key_value_heads 16, "
               "head_dim 2048/16, intermediate_size 10944, bfloat16)"},
    {.name = "qwen1.5-moe-a2.7b",
     .num_layers = 24,
     .num_experts = 60,
     .top_k = 4,
     .d_model = 2048,
     .d_ff = 1408,
     .shared_experts = 1,
     .shared_d_ff = 5632,
     .attention_heads = 16,
     .kv_heads = 16,
     .head_dim = 128,
     .source = "Qwen/Qwen1.5-MoE-A2.7B config.json (num_hidden_layers 24, "
               "num_attention_heads 16, num_key_value_heads 16, head_dim 2048/16, bfloat16)"},
    {.name = "qwen3-30b-a3b",
     .num_layers = 48,
     .num_experts = 128,
     .top_k = 8,
     .d_model = 2048,
     .d_ff = 768,
     .attention_heads = 32,
     .kv_heads = 4,
     .head_dim = 128,
     .source = "Qwen/Qwen3-30B-A3B config.json (num_hidden_layers 48, num_attention_heads 32, "
               "num_key_value_heads 4, head_dim 128, bfloat16)"},
    {.name = "olmoe-1b-7b",
     .num_layers = 16,
     .num_experts = 64,
     .top_k = 8,
     .d_model = 2048,
     .d_ff = 1024,
     .attention_heads = 16,
     .kv_heads = 16,
     .head_dim = 128,
     .source = "allenai/OLMoE-1B-7B-0924 config.json (num_hidden_layers 16, "
               "num_attention_heads 16, num_key_value_heads 16, head_dim 2048/16); dtype bf16 "
               "assumed for serving, the checkpoint's torch_dtype not checked"},
    {.name = "brown-moe-8e-top2",
     .num_layers = 4,
     .num_experts = 8,
     .top_k = 2,
     .d_model = 256,
     .d_ff = 512,
     .attention_heads = 4,
     .kv_heads = 4,
     .head_dim = 64,
     .weight_bytes = 4,
     .kv_bytes = 4,
     .source = "analysis/epbench_moe/configs.py MIXTRAL_LIKE (Mixtral-like, trained on Brown; "
               "every layer MoE, MHA with head_dim 256/4, float32)"},
    {.name = "brown-moe-32e-top4",
     .num_layers = 4,
     .num_experts = 32,
     .top_k = 4,
     .d_model = 256,
     .d_ff = 256,
     .attention_heads = 4,
     .kv_heads = 4,
     .head_dim = 64,
     .weight_bytes = 4,
     .kv_bytes = 4,
     .source = "analysis/epbench_moe/configs.py OLMOE_LIKE (OLMoE-like, trained on Brown; "
               "every layer MoE, MHA with head_dim 256/4, float32)"},
}};

std::string known_names() {
  std::string names;
  for (const auto& p : kPresets) names += (names.empty() ? "" : ", ") + p.name;
  return names;
}

}  // namespace

namespace {
// Every field but `source`, for comparing two models.
auto sizes(const ModelPreset& m) {
  return std::tie(m.name, m.num_layers, m.num_experts, m.top_k, m.d_model, m.d_ff, m.dense_layers,
                  m.shared_experts, m.shared_d_ff, m.expert_groups, m.groups_per_token, m.attention,
                  m.attention_heads, m.kv_heads, m.head_dim, m.kv_latent_dim, m.dense_d_ff,
                  m.attention_params, m.weight_bytes, m.kv_bytes);
}
}  // namespace

bool ModelPreset::same_model(const ModelPreset& o) const {
  return sizes(*this) == sizes(o);
}

int64_t kv_bytes_per_token(const ModelPreset& m) {
  const int64_t per_layer = m.attention == "mla" ? int64_t{m.kv_latent_dim}
                                                 : int64_t{2} * m.kv_heads * m.head_dim;  // K and V
  return per_layer * m.total_layers() * m.kv_bytes;
}

int64_t dense_ffn_width(const ModelPreset& m) {
  if (m.dense_d_ff > 0) return m.dense_d_ff;
  return int64_t{m.top_k} * m.d_ff + int64_t{m.shared_experts} * m.shared_d_ff;
}

int64_t attention_weights(const ModelPreset& m) {
  if (m.attention_params > 0) return m.attention_params;
  return int64_t{m.d_model} * m.head_dim * (2 * int64_t{m.attention_heads} + 2 * m.kv_heads);
}

std::span<const ModelPreset> all_presets() {
  return kPresets;
}

const ModelPreset* preset_or_null(std::string_view name) {
  for (const auto& p : kPresets)
    if (p.name == name) return &p;
  return nullptr;
}

const ModelPreset& find_preset(std::string_view name, std::string_view where) {
  if (const ModelPreset* p = preset_or_null(name)) return *p;
  throw InputError(std::string(where) + ": unknown model preset '" + std::string(name) +
                   "', expected one of: " + known_names() + " or a model spec FILE.json");
}

void require_same_model(const ModelPreset& expected, std::string_view got_name, int got_layers,
                        int got_experts, int got_top_k, std::string_view what) {
  if (got_name != expected.name)
    throw_field_error(std::string(what), "model", "'" + expected.name + "'",
                      "'" + std::string(got_name) + "'");
  if (got_layers != expected.num_layers || got_experts != expected.num_experts ||
      got_top_k != expected.top_k)
    throw_field_error(std::string(what), "model sizes",
                      std::to_string(expected.num_layers) + " layers, " +
                          std::to_string(expected.num_experts) + " experts, top-" +
                          std::to_string(expected.top_k) + " for " + expected.name,
                      std::to_string(got_layers) + ", " + std::to_string(got_experts) + ", top-" +
                          std::to_string(got_top_k));
}

}  // namespace epbench
