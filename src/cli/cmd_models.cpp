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

void print_table(const std::vector<ModelPreset>& models) {
  std::printf("%-20s %9s %8s %5s %8s %7s %7s %7s %4s %9s %9s %10s\n", "model", "layers", "experts",
              "top-k", "d_model", "d_ff", "shared", "groups", "attn", "heads/kv", "head_dim",
              "KV B/token");
  for (const auto& p : models) {
    const std::string layers =
        std::to_string(p.num_layers) + "/" + std::to_string(p.total_layers());
    const std::string heads = std::to_string(p.attention_heads) + "/" + std::to_string(p.kv_heads);
    std::printf("%-20s %9s %8d %5d %8d %7d %7d %4d/%-2d %4s %9s %9d %10lld\n", p.name.c_str(),
                layers.c_str(), p.num_experts, p.top_k, p.d_model, p.d_ff, p.shared_experts,
                p.groups_per_token, p.expert_groups, p.attention.c_str(), heads.c_str(), p.head_dim,
                static_cast<long long>(kv_bytes_per_token(p)));
  }
  std::printf("layers: MoE/total; KV B/token: KV-cache bytes per token over all layers\n");
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
  CLI::App* cmd =
      app.add_subcommand("models", "List the model presets (--model NAME or FILE.json everywhere)");
  cmd->add_flag("--json", o->json, "Print model spec JSON (docs/formats.md) instead of a table");
  cmd->add_option("--model", o->model, "Only this preset, or check and print a spec FILE.json");
  cmd->callback([o] { run_models(*o); });
}

}  // namespace epbench::cli
