// DeepSeek EPLB's output tensors (docs/engines.md): rebalance_experts returns phy2log
// [layers][num_replicas] (physical slot p on GPU p / (num_replicas / num_gpus)), log2phy
// [layers][experts][X] (each expert's physical slots, padded with -1 to X, the largest replica
// count) and logcnt [layers][experts], all int64. Written as one JSON object and as .npy
// files beside it; read from either (phy2log decides, the others must agree with it).
#include <algorithm>

#include "common/error.h"
#include "common/numeric.h"
#include "engines/engine_format.h"
#include "io/npy_writer.h"
#include "model/presets.h"
#include "trace/import_npy.h"

namespace epbench {

namespace {

std::string str(int64_t v) {
  return std::to_string(v);
}

std::string stem_of(const std::string& output) {
  const std::string ext = ".json";
  const bool has_ext = output.size() > ext.size() &&
                       output.compare(output.size() - ext.size(), ext.size(), ext) == 0;
  return has_ext ? output.substr(0, output.size() - ext.size()) : output;
}

std::vector<int64_t> flat(const std::vector<std::vector<int32_t>>& rows) {
  std::vector<int64_t> out;
  for (const auto& r : rows) out.insert(out.end(), r.begin(), r.end());
  return out;
}

struct Tables {
  std::vector<std::vector<int32_t>> log2phy, logcnt;  // [L][E * X], [L][E]
  int max_replicas = 1;
};

Tables tables_of(const SlotMap& map) {
  Tables t;
  t.max_replicas = max_replicas(map);
  for (const auto& row : map.phy2log) {
    ReplicaTables r = replica_tables(row, map.num_experts, t.max_replicas);
    t.log2phy.push_back(std::move(r.log2phy));
    t.logcnt.push_back(std::move(r.logcnt));
  }
  return t;
}

// [L][E * X] rows as [L][E][X] JSON.
nlohmann::json nested(const std::vector<std::vector<int32_t>>& rows, int width) {
  nlohmann::json out = nlohmann::json::array();
  for (const auto& r : rows) {
    nlohmann::json layer = nlohmann::json::array();
    for (size_t i = 0; i < r.size(); i += sz(width))
      layer.push_back(std::vector<int32_t>(r.begin() + static_cast<ptrdiff_t>(i),
                                           r.begin() + static_cast<ptrdiff_t>(i) + width));
    out.push_back(std::move(layer));
  }
  return out;
}

std::vector<std::vector<int32_t>> read_npy_rows(const std::string& path) {
  NpyReader npy(path);
  const auto& shape = npy.header().shape;
  if (shape.size() != 2 || npy.header().fortran_order)
    throw_field_error(path, "shape", "a C-order [layers, physical slots] phy2log array",
                      std::to_string(shape.size()) + " dimensions");
  npy.require_integer("phy2log");
  std::vector<int64_t> values;
  npy.read_ints(shape[0] * shape[1], values);
  std::vector<std::vector<int32_t>> rows(shape[0]);
  for (size_t i = 0; i < values.size(); ++i)
    rows[i / shape[1]].push_back(
        static_cast<int32_t>(std::clamp<int64_t>(values[i], -1, INT32_MAX)));
  return rows;
}

// log2phy and logcnt, where given, say what phy2log says (log2phy in any replica order).
void check_tables(const nlohmann::json& j, const SlotMap& map, const std::string& file) {
  const Tables want = tables_of(map);
  if (j.contains("logcnt") && int_rows(j.at("logcnt"), file, "logcnt") != want.logcnt)
    throw_field_error(file, "logcnt", "each expert's replica count in phy2log", "other counts");
  if (!j.contains("log2phy")) return;
  const auto& l2p = j.at("log2phy");
  if (!l2p.is_array() || l2p.size() != map.phy2log.size())
    throw_field_error(file, "log2phy", str(map.layers()) + " layers", l2p.dump().substr(0, 40));
  for (size_t l = 0; l < l2p.size(); ++l) {
    const std::string where = "log2phy[" + str(static_cast<int64_t>(l)) + "]";
    auto got = int_rows(l2p[l], file, where);
    for (size_t e = 0; e < got.size(); ++e) {
      std::sort(got[e].begin(), got[e].end());
      got[e].erase(got[e].begin(),
                   std::find_if(got[e].begin(), got[e].end(), [](int32_t v) { return v >= 0; }));
    }
    std::vector<std::vector<int32_t>> expect(sz(map.num_experts));
    for (size_t p = 0; p < map.phy2log[l].size(); ++p)
      expect[sz(map.phy2log[l][p])].push_back(static_cast<int32_t>(p));
    if (got != expect)
      throw_field_error(file, where, "each expert's physical slots in phy2log (-1 padding)",
                        "other slots");
  }
}

}  // namespace

std::vector<EngineFile> export_eplb(const ExportInput& in) {
  const SlotMap map = slot_map_of(in.layout);
  const Tables t = tables_of(map);
  const auto L = static_cast<uint64_t>(map.layers());
  const auto E = static_cast<uint64_t>(map.num_experts);
  const nlohmann::ordered_json j = {{"phy2log", map.phy2log},
                                    {"log2phy", nested(t.log2phy, t.max_replicas)},
                                    {"logcnt", t.logcnt}};
  const std::string stem = stem_of(in.output);
  return {{in.output, j.dump() + "\n"},
          {stem + ".phy2log.npy",
           npy_int64(flat(map.phy2log), {L, static_cast<uint64_t>(map.physical_slots())})},
          {stem + ".log2phy.npy",
           npy_int64(flat(t.log2phy), {L, E, static_cast<uint64_t>(t.max_replicas)})},
          {stem + ".logcnt.npy", npy_int64(flat(t.logcnt), {L, E})}};
}

SlotMap import_eplb(const std::string& path, const ModelPreset& model, int ranks) {
  const bool npy = path.size() > 4 && path.compare(path.size() - 4, 4, ".npy") == 0;
  nlohmann::json j;
  SlotMap map;
  if (npy) {
    map.phy2log = read_npy_rows(path);
  } else {
    j = read_json(path);
    if (!j.contains("phy2log")) throw_field_error(path, "phy2log", "the map", "nothing (missing)");
    map.phy2log = int_rows(j.at("phy2log"), path, "phy2log");
  }
  if (map.layers() != model.num_layers)
    throw_field_error(path, "phy2log",
                      str(model.num_layers) + " rows (MoE layers of " + model.name + ")",
                      str(map.layers()) + " rows");
  map.ranks = require_ranks(ranks, path);
  map.num_experts = model.num_experts;
  map.slots_per_rank =
      slots_per_rank(static_cast<int64_t>(map.phy2log[0].size()), map.ranks, path, "phy2log[0]");
  validate_slot_map(map, path, "phy2log");
  if (!npy) check_tables(j, map, path);
  return map;
}

}  // namespace epbench
