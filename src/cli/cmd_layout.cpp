// `epbench layout export` and `layout import`: layouts to and from the placement files that
// inference engines load (docs/engines.md).
#include <cstdio>
#include <memory>

#include "cli/cli_common.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "engines/engine_format.h"
#include "model/model_spec.h"
#include "model/presets.h"
#include "placement/layout.h"

namespace epbench::cli {

namespace {

struct ExportOptions {
  std::string layout, format, model, output;
};

struct ImportOptions {
  std::string input, format, model, output;
  int nodes = 1, gpus_per_node = 0;
};

std::string format_help() {
  std::string s = "Engine format:";
  for (const auto& f : engine_formats()) s += std::string("\n  ") + f.name + ": " + f.summary;
  return s;
}

// Every file is produced before the first one is written, and all are linked into place at
// the end, so a refused layout or model leaves nothing behind.
void write_all(const std::vector<EngineFile>& files) {
  std::vector<std::unique_ptr<AtomicOutput>> outs;
  for (const auto& f : files) {
    outs.push_back(std::make_unique<AtomicOutput>(f.path));
    outs.back()->write(f.content.data(), f.content.size());
  }
  for (auto& out : outs) out->commit();
}

void run_export(const ExportOptions& o) {
  const EngineFormat& format = find_engine_format(o.format);
  const Layout lay = read_layout(o.layout);
  const ModelPreset model = resolve_model(o.model.empty() ? lay.model : o.model,
                                          o.model.empty() ? o.layout + ": model" : "--model");
  require_same_model(model, lay.model, lay.num_layers, lay.num_experts, model.top_k, o.layout);
  const std::vector<EngineFile> files = format.export_map({lay, o.layout, model, o.output});
  write_all(files);
  for (const auto& f : files)
    std::printf("layout export: %s -> %s (%s: %d MoE layers, %d ranks x %d slots)\n",
                o.layout.c_str(), f.path.c_str(), format.name, lay.num_layers, lay.num_gpus(),
                lay.slots_per_gpu);
}

void run_import(const ImportOptions& o) {
  const EngineFormat& format = find_engine_format(o.format);
  const ModelPreset model = resolve_model(o.model);
  if (o.nodes < 1) throw OptionError("nodes", "expected >= 1, got " + std::to_string(o.nodes));
  const int ranks = o.gpus_per_node > 0 ? o.nodes * o.gpus_per_node : 0;
  const SlotMap map = format.import_map(o.input, model, ranks);
  if (map.ranks % o.nodes != 0)
    throw OptionError("nodes", "the file's " + std::to_string(map.ranks) +
                                   " ranks do not split into " + std::to_string(o.nodes) +
                                   " nodes");
  const LayoutShape shape{model.name, model.num_experts, o.nodes, map.ranks / o.nodes};
  const Layout lay = layout_of(map, shape, format.name, o.input);
  write_layout(o.output, lay);
  std::printf("layout import: %s (%s) -> %s: %d MoE layers, %d nodes x %d GPUs x %d slots\n",
              o.input.c_str(), format.name, o.output.c_str(), lay.num_layers, lay.nodes,
              lay.gpus_per_node, lay.slots_per_gpu);
}

void register_export(CLI::App& layout) {
  auto o = std::make_shared<ExportOptions>();
  CLI::App* cmd = layout.add_subcommand(
      "export", "Write a layout as the placement file an inference engine loads");
  cmd->add_option("layout", o->layout, "Layout file (JSON)")->required();
  cmd->add_option("--format", o->format, format_help())->required();
  cmd->add_option("--model", o->model, "Model preset or FILE.json (default: the layout's)");
  cmd->add_option("-o,--output", o->output, "File to write")->required();
  cmd->callback([o] { run_export(*o); });
}

void register_import(CLI::App& layout) {
  auto o = std::make_shared<ImportOptions>();
  CLI::App* cmd =
      layout.add_subcommand("import", "Read an inference engine's placement file as a layout");
  cmd->add_option("file", o->input, "The engine's placement file")->required();
  cmd->add_option("--format", o->format, format_help())->required();
  cmd->add_option("--model", o->model, "Model preset or FILE.json")->required();
  cmd->add_option("--nodes", o->nodes, "Nodes the ranks are spread over")->capture_default_str();
  cmd->add_option("--gpus-per-node", o->gpus_per_node,
                  "GPUs (expert-parallel ranks) per node; required where the file does not "
                  "say how many ranks it is for");
  cmd->add_option("-o,--output", o->output, "Layout file to write (JSON)")->required();
  cmd->callback([o] { run_import(*o); });
}

}  // namespace

void register_layout(CLI::App& app) {
  CLI::App* layout = app.add_subcommand(
      "layout", "Layouts and inference engines: export placements, import engines' maps");
  layout->require_subcommand(1);
  register_export(*layout);
  register_import(*layout);
}

}  // namespace epbench::cli
