// Model presets: the published sizes, lookup by name, and refusal of another model's data.
#include <gtest/gtest.h>

#include "common/error.h"
#include "model/model_spec.h"
#include "model/presets.h"

namespace epbench {
namespace {

TEST(Presets, PublishedSizes) {
  const auto& m = find_preset("mixtral-8x7b");
  EXPECT_EQ(m.num_layers, 32);
  EXPECT_EQ(m.num_experts, 8);
  EXPECT_EQ(m.top_k, 2);
  EXPECT_EQ(m.d_model, 4096);
  EXPECT_EQ(m.d_ff, 14336);
  const auto& d = find_preset("deepseek-v3");
  EXPECT_EQ(d.num_layers, 58);
  EXPECT_EQ(d.dense_layers, 3);
  EXPECT_EQ(d.num_experts, 256);
  EXPECT_EQ(d.expert_groups, 8);
  EXPECT_EQ(d.groups_per_token, 4);
  EXPECT_EQ(d.top_k, 8);
  EXPECT_EQ(d.shared_experts, 1);
  EXPECT_EQ(find_preset("deepseek-moe-16b").shared_experts, 2);
  EXPECT_EQ(find_preset("qwen1.5-moe-a2.7b").shared_d_ff, 5632);
  EXPECT_EQ(find_preset("qwen3-30b-a3b").num_experts, 128);
  EXPECT_EQ(find_preset("olmoe-1b-7b").top_k, 8);
  EXPECT_EQ(find_preset("brown-moe-32e-top4").num_experts, 32);
  EXPECT_EQ(all_presets().size(), 8u);
}

// Attention and dtype sizes against each model's published config.json.
TEST(Presets, PublishedAttentionSizes) {
  const auto& m = find_preset("mixtral-8x7b");
  EXPECT_EQ(m.total_layers(), 32);
  EXPECT_EQ(m.attention, "gqa");
  EXPECT_EQ(m.attention_heads, 32);
  EXPECT_EQ(m.kv_heads, 8);
  EXPECT_EQ(m.head_dim, 128);
  EXPECT_EQ(m.weight_bytes, 2);
  EXPECT_EQ(m.kv_bytes, 2);
  const auto& q = find_preset("qwen3-30b-a3b");
  EXPECT_EQ(q.total_layers(), 48);
  EXPECT_EQ(q.attention_heads, 32);
  EXPECT_EQ(q.kv_heads, 4);
  EXPECT_EQ(q.head_dim, 128);
  const auto& o = find_preset("olmoe-1b-7b");
  EXPECT_EQ(o.total_layers(), 16);
  EXPECT_EQ(o.attention_heads, 16);
  EXPECT_EQ(o.kv_heads, 16);
  EXPECT_EQ(o.head_dim, 128);
  const auto& d = find_preset("deepseek-v3");
  EXPECT_EQ(d.total_layers(), 61);
  EXPECT_EQ(d.dense_layers, 3);
  EXPECT_EQ(d.attention, "mla");
  EXPECT_EQ(d.attention_heads, 128);
  EXPECT_EQ(d.kv_latent_dim, 512 + 64);  // kv_lora_rank + qk_rope_head_dim
  EXPECT_EQ(d.weight_bytes, 1);          // fp8 weights
  EXPECT_EQ(d.kv_bytes, 2);
  EXPECT_EQ(find_preset("deepseek-moe-16b").total_layers(), 28);
  EXPECT_EQ(find_preset("brown-moe-8e-top2").head_dim, 64);
  EXPECT_EQ(find_preset("brown-moe-32e-top4").weight_bytes, 4);  // trained in float32
}

TEST(Presets, KvBytesPerToken) {
  // K and V x 8 KV heads x 128 x 32 layers x bf16.
  EXPECT_EQ(kv_bytes_per_token(find_preset("mixtral-8x7b")), 2 * 8 * 128 * 32 * 2);
  EXPECT_EQ(kv_bytes_per_token(find_preset("mixtral-8x7b")), 131072);
  // One 576-wide latent x 61 layers (dense ones too) x bf16.
  EXPECT_EQ(kv_bytes_per_token(find_preset("deepseek-v3")), 70272);
  EXPECT_EQ(kv_bytes_per_token(find_preset("qwen3-30b-a3b")), 2 * 4 * 128 * 48 * 2);
  ModelPreset fp8 = find_preset("deepseek-v3");
  fp8.kv_bytes = 1;
  EXPECT_EQ(kv_bytes_per_token(fp8), 576 * 61);
}

TEST(Presets, EveryPresetIsConsistent) {
  for (const auto& p : all_presets()) {
    EXPECT_GT(p.num_layers, 0) << p.name;
    EXPECT_LE(p.top_k, p.num_experts) << p.name;
    EXPECT_EQ(p.num_experts % p.expert_groups, 0) << p.name;
    EXPECT_LE(p.groups_per_token, p.expert_groups) << p.name;
    EXPECT_EQ(&find_preset(p.name), &p);
    EXPECT_NO_THROW(validate_model(p, p.name)) << p.name;
    EXPECT_NE(p.source.find("config"), std::string::npos) << p.name;
  }
}

TEST(Presets, UnknownNameListsTheKnownOnes) {
  try {
    find_preset("mixtral-8x22b", "--model");
    FAIL();
  } catch (const InputError& e) {
    const std::string msg = e.what();
    EXPECT_NE(msg.find("--model"), std::string::npos);
    EXPECT_NE(msg.find("'mixtral-8x22b'"), std::string::npos);
    EXPECT_NE(msg.find("olmoe-1b-7b"), std::string::npos);
  }
}

TEST(Presets, DataForAnotherModelIsRefused) {
  const auto& m = find_preset("mixtral-8x7b");
  EXPECT_NO_THROW(require_same_model(m, "mixtral-8x7b", 32, 8, 2, "t.h5"));
  EXPECT_THROW(require_same_model(m, "olmoe-1b-7b", 16, 64, 8, "t.h5"), InputError);
  EXPECT_THROW(require_same_model(m, "mixtral-8x7b", 16, 8, 2, "t.h5"), InputError);
}

}  // namespace
}  // namespace epbench
