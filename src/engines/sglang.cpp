// SGLang's --init-expert-location file (docs/engines.md): {"physical_to_logical_map": [L][P]}
// with a row for every hidden layer, dense ones included (rows are indexed by decoder layer
// id), physical slot p on EP rank p / (P / ep_size). The loader unpacks the object into
// init_by_mapping(**data), so it must hold that one key; every row must name every logical
// expert (static dispatch divides by each expert's replica count) and no -1 (Python would
// read it as expert E-1).
#include "common/error.h"
#include "common/numeric.h"
#include "engines/engine_format.h"
#include "model/presets.h"

namespace epbench {

namespace {

constexpr const char* kKey = "physical_to_logical_map";

// A dense layer's row: SGLang's trivial map (slot p holds expert p mod E).
std::vector<int32_t> trivial_row(int physical, int num_experts) {
  std::vector<int32_t> row(sz(physical));
  for (int p = 0; p < physical; ++p) row[sz(p)] = p % num_experts;
  return row;
}

}  // namespace

std::vector<EngineFile> export_sglang(const ExportInput& in) {
  const SlotMap map = slot_map_of(in.layout);
  nlohmann::json rows = nlohmann::json::array();
  for (int l = 0; l < in.model.dense_layers; ++l)
    rows.push_back(trivial_row(map.physical_slots(), map.num_experts));
  for (const auto& row : map.phy2log) rows.push_back(row);
  return {{in.output, nlohmann::json{{kKey, rows}}.dump() + "\n"}};
}

SlotMap import_sglang(const std::string& path, const ModelPreset& model, int ranks) {
  const nlohmann::json j = read_json(path);
  refuse_other_keys(j, {kKey}, path, "");
  if (!j.contains(kKey)) throw_field_error(path, kKey, "the map", "nothing (missing)");
  auto rows = int_rows(j.at(kKey), path, kKey);
  if (static_cast<int>(rows.size()) != model.total_layers())
    throw_field_error(path, kKey,
                      std::to_string(model.total_layers()) + " rows (every hidden layer of " +
                          model.name + ", " + std::to_string(model.dense_layers) +
                          " dense included)",
                      std::to_string(rows.size()) + " rows");
  SlotMap map;
  map.ranks = require_ranks(ranks, path);
  map.num_experts = model.num_experts;
  map.slots_per_rank = slots_per_rank(static_cast<int64_t>(rows[0].size()), map.ranks, path,
                                      std::string(kKey) + "[0]");
  // Every row, dense ones included: they are never routed, but static dispatch needs them whole.
  map.phy2log = std::move(rows);
  validate_slot_map(map, path, kKey);
  map.phy2log.erase(map.phy2log.begin(), map.phy2log.begin() + model.dense_layers);
  return map;
}

}  // namespace epbench
