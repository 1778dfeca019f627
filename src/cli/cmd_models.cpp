// `epbench models`: the model presets and their sizes, as a table or as model spec JSON.
#include <cstdio>
#include <memory>

#include "cli/cli_common.h"
#include "model/model_spec.h"

namespace epbench::cli {

namespace {

struct ModelsOptions {
  bool json = false;
  std::string model;  // one preset or spec file only
};

// Columns: layers are MoE layers (the traced ones), all_layers counts the dense ones too;
// kv_B/token is the KV cache one token takes over all layers. analysis/ reads the first six.
void print_table(const std::vector<ModelPreset>& models) {
  std::printf("%-20s %7s %8s %5s %8s %7s %7s %7s %10s %4s %9s %8s %11s\n", "model", "layers",
              "experts", "top-k", "d_model", "d_ff", "shared", "groups", "all_layers", "attn",
              "heads/kv", "head_dim", "kv_B/token");
  for (const auto& p : models) {
    const std::string heads = std::to_string(p.attention_heads) + "/" + std::to_string(p.kv_heads);
    std::printf("%-20s %7d %8d %5d %8d %7d %7d %4d/%-2d %10d %4s %9s %8d %11lld\n", p.name.c_str(),
                p.num_layers, p.num_experts, p.top_k, p.d_model, p.d_ff, p.shared_experts,
                p.groups_per_token, p.expert_groups, p.total_layers(), p.attention.c_str(),
                heads.c_str(), p.head_dim, static_cast<long long>(kv_bytes_per_token(p)));
  }
}

// JSON: one spec object for --model, else an array of every preset's spec; each object is
// a model spec file as it stands (`epbench models --json --model NAME > my.json`).
void print_json(const std::vector<ModelPreset>& models, bool one) {
  nlohmann::ordered_json out = nlohmann::ordered_json::array();
  for (const auto& p : models) out.push_back(model_spec_json(p));
  std::printf("%s\n", (one ? out.at(0) : out).dump(2).c_str());
}

void run_models(const ModelsOptions& o) {
  std::vector<ModelPreset> models;
  if (!o.model.empty())
    models.push_back(resolve_model(o.model));
  else
    models.assign(all_presets().begin(), all_presets().end());
  if (o.json)
    print_json(models, !o.model.empty());
  else
    print_table(models);
}

}  // namespace

void register_models(CLI::App& app) {
  auto o = std::make_shared<ModelsOptions>();
  CLI::App* cmd = app.add_subcommand(
      "models",
      "List the model presets (--model NAME or FILE.json everywhere); layers: MoE layers, "
      "all_layers: with the dense ones, kv_B/token: KV-cache bytes per token");
  cmd->add_flag("--json", o->json, "Print model spec JSON (docs/formats.md) instead of a table");
  cmd->add_option("--model", o->model, "Only this preset, or check and print a spec FILE.json");
  cmd->callback([o] { run_models(*o); });
}

}  // namespace epbench::cli
