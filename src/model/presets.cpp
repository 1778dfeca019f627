#include "model/presets.h"

#include <array>

#include "common/error.h"

namespace epbench {

namespace {

// Sizes from each model's published config.json (Hugging Face model cards), and the two
// models epbench trains on the Brown corpus for its shipped traces (traces/README.md).
const std::array<ModelPreset, 8> kPresets = {{
    {"mixtral-8x7b", 32, 8, 2, 4096, 14336, 0, 0, 0, 1, 1,
     "mistralai/Mixtral-8x7B-v0.1 config.json"},
    {"deepseek-v3", 58, 256, 8, 7168, 2048, 3, 1, 2048, 8, 4,
     "deepseek-ai/DeepSeek-V3 config.json"},
    {"deepseek-moe-16b", 27, 64, 6, 2048, 1408, 1, 2, 1408, 1, 1,
     "deepseek-ai/deepseek-moe-16b-base config.json"},
    {"qwen1.5-moe-a2.7b", 24, 60, 4, 2048, 1408, 0, 1, 5632, 1, 1,
     "Qwen/Qwen1.5-MoE-A2.7B config.json"},
    {"qwen3-30b-a3b", 48, 128, 8, 2048, 768, 0, 0, 0, 1, 1, "Qwen/Qwen3-30B-A3B config.json"},
    {"olmoe-1b-7b", 16, 64, 8, 2048, 1024, 0, 0, 0, 1, 1, "allenai/OLMoE-1B-7B-0924 config.json"},
    {"brown-moe-8e-top2", 4, 8, 2, 256, 512, 0, 0, 0, 1, 1,
     "analysis/epbench_moe/configs.py (Mixtral-like, trained on Brown)"},
    {"brown-moe-32e-top4", 4, 32, 4, 256, 256, 0, 0, 0, 1, 1,
     "analysis/epbench_moe/configs.py (OLMoE-like, trained on Brown)"},
}};

std::string known_names() {
  std::string names;
  for (const auto& p : kPresets) names += (names.empty() ? "" : ", ") + p.name;
  return names;
}

}  // namespace

std::span<const ModelPreset> all_presets() {
  return kPresets;
}

const ModelPreset& find_preset(std::string_view name, std::string_view where) {
  for (const auto& p : kPresets)
    if (p.name == name) return p;
  throw InputError(std::string(where) + ": unknown model preset '" + std::string(name) +
                   "', expected one of: " + known_names());
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
