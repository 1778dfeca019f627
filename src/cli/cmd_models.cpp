// `epbench models`: the model presets and their sizes.
#include <cstdio>

#include "cli/cli_common.h"
#include "model/presets.h"

namespace epbench::cli {

namespace {
void print_models() {
  std::printf("%-20s %7s %8s %5s %8s %7s %7s %7s\n", "model", "layers", "experts", "top-k",
              "d_model", "d_ff", "shared", "groups");
  for (const auto& p : all_presets())
    std::printf("%-20s %7d %8d %5d %8d %7d %7d %4d/%d\n", p.name.c_str(), p.num_layers,
                p.num_experts, p.top_k, p.d_model, p.d_ff, p.shared_experts, p.groups_per_token,
                p.expert_groups);
}
}  // namespace

void register_models(CLI::App& app) {
  app.add_subcommand("models", "List the model presets (--model NAME everywhere)")
      ->callback(print_models);
}

}  // namespace epbench::cli
