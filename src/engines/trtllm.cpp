// TensorRT-LLM's MoE load-balancer YAML (docs/engines.md), loaded with yaml.safe_load into
// MoeLoadBalancerConfig, which forbids other keys: num_slots, layer_updates_per_iter (0: the
// placement stays as given) and initial_global_assignments, keyed by the decoder layer index
// (dense layers counted: DeepSeek-V3's MoE layers are 3..60), each a list of num_slots expert
// ids, slot j on EP rank j / (num_slots / ep_size). Each list must hold exactly the experts
// 0..E-1, replicas allowed anywhere.
#include <yaml-cpp/yaml.h>
#include <map>

#include "common/error.h"
#include "common/text_file.h"
#include "engines/engine_format.h"
#include "model/presets.h"

namespace epbench {

namespace {

std::string str(int64_t v) {
  return std::to_string(v);
}

int64_t yaml_int(const YAML::Node& n, const std::string& file, const std::string& field) {
  try {
    if (n.IsScalar()) return n.as<int64_t>();
  } catch (const YAML::Exception&) {
  }
  throw_field_error(file, field, "an integer", n.IsScalar() ? n.Scalar() : "a non-scalar");
}

YAML::Node load_yaml(const std::string& path) {
  try {
    return YAML::Load(read_text_file(path, "the file"));
  } catch (const YAML::Exception& e) {
    throw InputError(path + ": not valid YAML (" + e.msg + ", line " + str(e.mark.line + 1) + ")");
  }
}

std::map<int64_t, std::vector<int32_t>> read_assignments(const YAML::Node& a,
                                                         const std::string& file) {
  if (!a.IsMap())
    throw_field_error(file, "initial_global_assignments", "a mapping layer index -> expert ids");
  std::map<int64_t, std::vector<int32_t>> out;
  for (const auto& kv : a) {
    const int64_t layer = yaml_int(kv.first, file, "initial_global_assignments (a key)");
    const std::string field = "initial_global_assignments[" + str(layer) + "]";
    if (!kv.second.IsSequence()) throw_field_error(file, field, "a list of expert ids");
    std::vector<int32_t> row;
    for (const auto& e : kv.second) row.push_back(static_cast<int32_t>(yaml_int(e, file, field)));
    out[layer] = std::move(row);
  }
  return out;
}

}  // namespace

std::vector<EngineFile> export_trtllm(const ExportInput& in) {
  const SlotMap map = slot_map_of(in.layout);
  YAML::Emitter out;
  out << YAML::BeginMap;
  out << YAML::Key << "num_slots" << YAML::Value << map.physical_slots();
  out << YAML::Key << "layer_updates_per_iter" << YAML::Value << 0;
  out << YAML::Key << "initial_global_assignments" << YAML::Value << YAML::BeginMap;
  for (int l = 0; l < map.layers(); ++l)
    out << YAML::Key << model_layer_of(in.model, l) << YAML::Value << YAML::Flow
        << map.phy2log[static_cast<size_t>(l)];
  out << YAML::EndMap << YAML::EndMap;
  const std::string header = "# epbench layout export for TensorRT-LLM (" + in.model.name + ", " +
                             str(map.ranks) + " EP ranks x " + str(map.slots_per_rank) +
                             " slots): moe_config.load_balancer in --extra_llm_api_options\n";
  return {{in.output, header + out.c_str() + "\n"}};
}

SlotMap import_trtllm(const std::string& path, const ModelPreset& model, int ranks) {
  const YAML::Node root = load_yaml(path);
  if (!root.IsMap()) throw_field_error(path, "(top level)", "a mapping");
  for (const auto& kv : root) {
    const std::string key = kv.first.Scalar();
    if (key != "num_slots" && key != "layer_updates_per_iter" &&
        key != "initial_global_assignments")
      throw_field_error(path, key,
                        "only num_slots, layer_updates_per_iter, initial_global_assignments "
                        "(MoeLoadBalancerConfig refuses others)",
                        "'" + key + "'");
  }
  if (!root["num_slots"])
    throw_field_error(path, "num_slots", "the slot count", "nothing (missing)");
  if (!root["initial_global_assignments"])
    throw_field_error(path, "initial_global_assignments", "the placement of every MoE layer",
                      "nothing (the engine would place experts itself)");
  const int64_t slots = yaml_int(root["num_slots"], path, "num_slots");
  SlotMap map;
  map.ranks = require_ranks(ranks, path);
  map.num_experts = model.num_experts;
  if (slots < model.num_experts)
    throw_field_error(path, "num_slots", "at least " + str(model.num_experts) + " (the experts)",
                      str(slots));
  map.slots_per_rank = slots_per_rank(slots, map.ranks, path, "num_slots");
  auto rows = read_assignments(root["initial_global_assignments"], path);
  for (int l = 0; l < model.num_layers; ++l) {
    const int key = model_layer_of(model, l);
    const auto it = rows.find(key);
    if (it == rows.end())
      throw_field_error(path, "initial_global_assignments",
                        "a key for every MoE layer of " + model.name + " (" +
                            str(model_layer_of(model, 0)) + ".." +
                            str(model_layer_of(model, model.num_layers - 1)) + ")",
                        "no layer " + str(key));
    map.phy2log.push_back(std::move(it->second));
  }
  validate_slot_map(map, path, "initial_global_assignments", model_layer_of(model, 0));
  return map;
}

}  // namespace epbench
