// vLLM's EPLB state as an offline map (experimental, docs/engines.md): vLLM keeps
// physical_to_logical_map [MoE layers][P] (vllm/distributed/eplb/eplb_state.py), MoE layers
// counted in order, physical slot p on EP rank p / (P / ep_size), but no loader for a file of
// it is merged upstream. The record written here is the single-model JSON of the offline-EPLB
// loader that ports it (format "vllm_offline_eplb_physical_to_logical", version 1); the
// reader also takes that loader's per-model envelope with one model.
#include "common/error.h"
#include "engines/engine_format.h"
#include "model/presets.h"

namespace epbench {

namespace {

constexpr const char* kFormat = "vllm_offline_eplb_physical_to_logical";
constexpr const char* kEnvelope = "vllm_offline_eplb_physical_to_logical_by_model";

// An optional size field agrees with the map (the loader derives absent ones from it).
void expect_int(const nlohmann::json& j, const char* key, int expected, const std::string& file,
                const std::string& what) {
  if (j.contains(key) && (!j.at(key).is_number_integer() || j.at(key).get<int64_t>() != expected))
    throw_field_error(file, key, std::to_string(expected) + " (" + what + ")", j.at(key).dump());
}

// The one model's record inside a per-model envelope.
const nlohmann::json& model_record(const nlohmann::json& j, const std::string& file) {
  if (!j.contains("model_maps")) return j;
  const auto& maps = j.at("model_maps");
  if (!maps.is_object() || maps.size() != 1)
    throw_field_error(file, "model_maps", "an object with one model's map",
                      maps.is_object() ? std::to_string(maps.size()) + " models" : maps.dump());
  return maps.begin().value();
}

}  // namespace

std::vector<EngineFile> export_vllm(const ExportInput& in) {
  const SlotMap map = slot_map_of(in.layout);
  const nlohmann::ordered_json j = {
      {"version", 1},
      {"format", kFormat},
      {"model_name", in.model.name},
      {"num_moe_layers", map.layers()},
      {"num_logical_experts", map.num_experts},
      {"num_physical_experts", map.physical_slots()},
      {"num_redundant_experts", map.physical_slots() - map.num_experts},
      {"physical_to_logical_map", map.phy2log}};
  return {{in.output, j.dump() + "\n"}};
}

SlotMap import_vllm(const std::string& path, const ModelPreset& model, int ranks) {
  const nlohmann::json top = read_json(path);
  if (top.contains("format") && top.at("format") != kFormat && top.at("format") != kEnvelope)
    throw_field_error(path, "format", std::string("\"") + kFormat + "\"", top.at("format").dump());
  const nlohmann::json& j = model_record(top, path);
  const char* key =
      j.contains("physical_to_logical_map") ? "physical_to_logical_map" : "expert_map";
  if (!j.contains(key))
    throw_field_error(path, "physical_to_logical_map", "the map", "nothing (missing)");
  SlotMap map;
  map.phy2log = int_rows(j.at(key), path, key);
  if (map.layers() != model.num_layers)
    throw_field_error(path, key,
                      std::to_string(model.num_layers) + " rows (MoE layers of " + model.name + ")",
                      std::to_string(map.layers()) + " rows");
  map.ranks = require_ranks(ranks, path);
  map.num_experts = model.num_experts;
  const auto physical = static_cast<int64_t>(map.phy2log[0].size());
  map.slots_per_rank = slots_per_rank(physical, map.ranks, path, std::string(key) + "[0]");
  expect_int(j, "num_moe_layers", model.num_layers, path, "MoE layers of " + model.name);
  expect_int(j, "num_logical_experts", model.num_experts, path, "experts of " + model.name);
  expect_int(j, "num_physical_experts", static_cast<int>(physical), path, "the map's width");
  expect_int(j, "num_redundant_experts", static_cast<int>(physical) - model.num_experts, path,
             "physical minus logical experts");
  validate_slot_map(map, path, key);
  return map;
}

}  // namespace epbench
