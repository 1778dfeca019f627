// vLLM-Ascend's expert_map_path JSON (docs/engines.md): {"moe_layer_count": L, "layer_list":
// [{"layer_id", "device_count", "device_list": [{"device_id", "device_expert": [...]}]}]}.
// The parser indexes layers by position (the L-th MoE layer the model builds, dense ones not
// counted) and devices by position (EP rank); device_expert[k] is the logical expert in the
// device's slot k. Every device lists the same number of experts (the lists become one
// tensor), none twice (the local map keeps one slot per expert), every expert somewhere.
#include "common/error.h"
#include "common/numeric.h"
#include "engines/engine_format.h"
#include "model/presets.h"

namespace epbench {

namespace {

std::string str(int64_t v) {
  return std::to_string(v);
}

const nlohmann::json& need(const nlohmann::json& j, const char* key, const std::string& file,
                           const std::string& where) {
  if (!j.is_object() || !j.contains(key))
    throw_field_error(file, where + key, "a value", "nothing (missing)");
  return j.at(key);
}

// One layer's devices: [ranks][slots] expert ids.
std::vector<std::vector<int32_t>> read_devices(const nlohmann::json& layer, const std::string& file,
                                               const std::string& where) {
  const nlohmann::json& devices = need(layer, "device_list", file, where);
  if (!devices.is_array() || devices.empty())
    throw_field_error(file, where + "device_list", "an array of devices", devices.dump());
  nlohmann::json rows = nlohmann::json::array();
  for (size_t d = 0; d < devices.size(); ++d)
    rows.push_back(need(devices[d], "device_expert", file,
                        where + "device_list[" + str(static_cast<int64_t>(d)) + "]."));
  return int_rows(rows, file, where + "device_list[].device_expert");
}

void check_device(const std::vector<int32_t>& experts, size_t width, const std::string& file,
                  const std::string& where) {
  if (experts.size() != width)
    throw_field_error(file, where, str(static_cast<int64_t>(width)) + " experts (as device 0)",
                      str(static_cast<int64_t>(experts.size())));
  for (size_t i = 0; i < experts.size(); ++i)
    for (size_t k = i + 1; k < experts.size(); ++k)
      if (experts[i] == experts[k])
        throw_field_error(file, where, "each expert at most once per device",
                          "expert " + str(experts[i]) + " twice");
}

}  // namespace

std::vector<EngineFile> export_vllm_ascend(const ExportInput& in) {
  const SlotMap map = slot_map_of(in.layout, EmptySlotFill::kDistinct, in.layout_file);
  nlohmann::ordered_json layers = nlohmann::ordered_json::array();
  for (int l = 0; l < map.layers(); ++l) {
    nlohmann::ordered_json devices = nlohmann::ordered_json::array();
    const auto& row = map.phy2log[sz(l)];
    for (int r = 0; r < map.ranks; ++r) {
      const auto first = row.begin() + static_cast<ptrdiff_t>(r) * map.slots_per_rank;
      devices.push_back(
          {{"device_id", r},
           {"device_expert", std::vector<int32_t>(first, first + map.slots_per_rank)}});
    }
    layers.push_back({{"layer_id", l}, {"device_count", map.ranks}, {"device_list", devices}});
  }
  const nlohmann::ordered_json j = {{"moe_layer_count", map.layers()}, {"layer_list", layers}};
  return {{in.output, j.dump() + "\n"}};
}

SlotMap import_vllm_ascend(const std::string& path, const ModelPreset& model, int ranks) {
  const nlohmann::json j = read_json(path);
  const nlohmann::json& count = need(j, "moe_layer_count", path, "");
  if (!count.is_number_integer() || count.get<int64_t>() != model.num_layers)
    throw_field_error(path, "moe_layer_count",
                      str(model.num_layers) + " (MoE layers of " + model.name + ")", count.dump());
  const nlohmann::json& layers = need(j, "layer_list", path, "");
  if (!layers.is_array() || static_cast<int>(layers.size()) != model.num_layers)
    throw_field_error(path, "layer_list", str(model.num_layers) + " layers (moe_layer_count)",
                      layers.is_array() ? str(static_cast<int64_t>(layers.size())) : layers.dump());
  SlotMap map;
  map.num_experts = model.num_experts;
  for (size_t l = 0; l < layers.size(); ++l) {
    const std::string where = "layer_list[" + str(static_cast<int64_t>(l)) + "].";
    const auto devices = read_devices(layers[l], path, where);
    if (l == 0) {
      map.ranks = static_cast<int>(devices.size());
      map.slots_per_rank = static_cast<int>(devices[0].size());
      if (ranks > 0 && ranks != map.ranks)
        throw_field_error(path, where + "device_list",
                          str(ranks) + " devices (--nodes x --gpus-per-node)", str(map.ranks));
    }
    if (static_cast<int>(devices.size()) != map.ranks)
      throw_field_error(path, where + "device_list", str(map.ranks) + " devices (as layer 0)",
                        str(static_cast<int64_t>(devices.size())));
    std::vector<int32_t> row;
    for (size_t d = 0; d < devices.size(); ++d) {
      check_device(devices[d], sz(map.slots_per_rank), path,
                   where + "device_list[" + str(static_cast<int64_t>(d)) + "].device_expert");
      row.insert(row.end(), devices[d].begin(), devices[d].end());
    }
    map.phy2log.push_back(std::move(row));
  }
  validate_slot_map(map, path, "layer_list");
  return map;
}

}  // namespace epbench
