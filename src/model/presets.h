#pragma once
// MoE model presets: the sizes that matter for expert placement, selectable by name everywhere.
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
  std::string source;        // where the sizes come from
};

std::span<const ModelPreset> all_presets();

// Throws InputError naming the option or file (`where`) and the known names.
const ModelPreset& find_preset(std::string_view name, std::string_view where = "--model");

// Refuses data made for one model being used with another: `what` names the file.
void require_same_model(const ModelPreset& expected, std::string_view got_name, int got_layers,
                        int got_experts, int got_top_k, std::string_view what);

}  // namespace epbench
