#include "engines/slot_map.h"

#include <algorithm>

#include "common/error.h"
#include "common/numeric.h"
#include "model/presets.h"

namespace epbench {

namespace {

std::string num(int64_t v) {
  return std::to_string(v);
}

bool holds(const std::vector<uint16_t>& gpu, int e) {
  return std::find(gpu.begin(), gpu.end(), static_cast<uint16_t>(e)) != gpu.end();
}

// The expert an empty slot of `gpu` gets (EmptySlotFill's rules); `own` is the first expert the
// GPU held before filling (kEmptySlot: none).
int32_t filler(const std::vector<uint16_t>& gpu, uint16_t own, const std::vector<int>& replicas,
               EmptySlotFill fill) {
  if (fill == EmptySlotFill::kLocalCopy && !is_empty_slot(own)) return own;
  int best = -1;
  for (int e = 0; e < static_cast<int>(replicas.size()); ++e)
    if (!holds(gpu, e) && (best < 0 || replicas[sz(e)] < replicas[sz(best)])) best = e;
  return best;
}

uint16_t first_expert(const std::vector<uint16_t>& gpu) {
  for (uint16_t e : gpu)
    if (!is_empty_slot(e)) return e;
  return kEmptySlot;
}

void refuse_twice_on_gpu(const std::vector<uint16_t>& gpu, const std::string& file, int layer,
                         size_t g) {
  for (size_t i = 0; i < gpu.size(); ++i)
    if (!is_empty_slot(gpu[i]) &&
        std::find(gpu.begin() + static_cast<ptrdiff_t>(i) + 1, gpu.end(), gpu[i]) != gpu.end())
      throw_field_error(
          file, "layers[" + num(layer) + "].gpu_slots[" + num(static_cast<int64_t>(g)) + "]",
          "each expert at most once per GPU (this engine loads one copy per device)",
          "expert " + num(gpu[i]) + " twice");
}

std::vector<int32_t> layer_row(const LayerPlacement& layer, int slots, int num_experts,
                               EmptySlotFill fill, const std::string& file, int l) {
  std::vector<int> replicas(sz(num_experts), 0);
  for (const auto& gpu : layer.gpu_experts)
    for (uint16_t e : gpu)
      if (!is_empty_slot(e)) ++replicas[e];
  std::vector<int32_t> row;
  for (size_t g = 0; g < layer.gpu_experts.size(); ++g) {
    std::vector<uint16_t> gpu = layer.gpu_experts[g];
    if (fill == EmptySlotFill::kDistinct) refuse_twice_on_gpu(gpu, file, l, g);
    gpu.resize(sz(slots), kEmptySlot);
    const uint16_t own = first_expert(gpu);
    for (auto& e : gpu) {
      if (!is_empty_slot(e)) continue;
      const int32_t f = filler(gpu, own, replicas, fill);
      if (f < 0)
        throw_field_error(file, "cluster.slots_per_gpu",
                          "at most " + num(num_experts) + " slots (each expert once per device)",
                          num(slots));
      e = static_cast<uint16_t>(f);
      ++replicas[sz(f)];
    }
    row.insert(row.end(), gpu.begin(), gpu.end());
  }
  return row;
}

}  // namespace

SlotMap slot_map_of(const Layout& layout, EmptySlotFill fill, const std::string& file) {
  SlotMap m;
  m.ranks = layout.num_gpus();
  m.slots_per_rank = layout.slots_per_gpu;
  m.num_experts = layout.num_experts;
  for (int l = 0; l < layout.num_layers; ++l)
    m.phy2log.push_back(
        layer_row(layout.layers[sz(l)], layout.slots_per_gpu, layout.num_experts, fill, file, l));
  return m;
}

int slots_per_rank(int64_t slots, int ranks, const std::string& file, const std::string& field) {
  if (slots <= 0 || ranks <= 0 || slots % ranks != 0)
    throw_field_error(file, field,
                      "a slot count divisible by the " + num(ranks) +
                          " ranks (slot p on rank p / " + "slots per rank)",
                      num(slots) + " slots");
  return static_cast<int>(slots / ranks);
}

void validate_slot_map(const SlotMap& map, const std::string& file, const std::string& field,
                       int first_row) {
  for (int l = 0; l < map.layers(); ++l) {
    const std::string where = field + "[" + num(first_row + l) + "]";
    const auto& row = map.phy2log[sz(l)];
    if (static_cast<int>(row.size()) != map.physical_slots())
      throw_field_error(file, where,
                        num(map.physical_slots()) + " physical slots (as the other layers)",
                        num(static_cast<int64_t>(row.size())));
    std::vector<bool> seen(sz(map.num_experts), false);
    for (size_t p = 0; p < row.size(); ++p) {
      if (row[p] < 0 || row[p] >= map.num_experts)
        throw_field_error(file, where + "[" + num(static_cast<int64_t>(p)) + "]",
                          "an expert id in [0, " + num(map.num_experts) + ")", num(row[p]));
      seen[sz(row[p])] = true;
    }
    const auto missing = std::find(seen.begin(), seen.end(), false);
    if (missing != seen.end())
      throw_field_error(file, where, "every expert 0.." + num(map.num_experts - 1) + " in a slot",
                        "expert " + num(missing - seen.begin()) + " missing");
  }
}

Layout layout_of(const SlotMap& map, const LayoutShape& shape, const std::string& format,
                 const std::string& file) {
  validate_slot_map(map, file, "layers");
  if (map.ranks != shape.nodes * shape.gpus_per_node)
    throw_field_error(file, "ranks", num(shape.nodes * shape.gpus_per_node) + " (nodes x GPUs)",
                      num(map.ranks));
  Layout lay;
  lay.model = shape.model;
  lay.num_layers = map.layers();
  lay.num_experts = shape.num_experts;
  lay.nodes = shape.nodes;
  lay.gpus_per_node = shape.gpus_per_node;
  lay.slots_per_gpu = map.slots_per_rank;
  lay.algorithm = "imported:" + format;
  lay.params = {{"file", file}};
  for (const auto& row : map.phy2log) {
    LayerPlacement layer;
    layer.gpu_experts.resize(sz(map.ranks));
    for (size_t p = 0; p < row.size(); ++p)
      layer.gpu_experts[p / sz(map.slots_per_rank)].push_back(static_cast<uint16_t>(row[p]));
    lay.layers.push_back(std::move(layer));
  }
  validate_layout(lay, file);
  return lay;
}

ReplicaTables replica_tables(const std::vector<int32_t>& phy2log, int num_experts,
                             int max_replicas) {
  ReplicaTables t;
  t.logcnt.assign(sz(num_experts), 0);
  t.log2phy.assign(sz(num_experts) * sz(max_replicas), -1);
  for (size_t p = 0; p < phy2log.size(); ++p) {
    const size_t e = sz(phy2log[p]);
    t.log2phy[e * sz(max_replicas) + sz(t.logcnt[e]++)] = static_cast<int32_t>(p);
  }
  return t;
}

int max_replicas(const SlotMap& map) {
  int most = 1;
  for (const auto& row : map.phy2log) {
    std::vector<int> count(sz(map.num_experts), 0);
    for (int32_t e : row) most = std::max(most, ++count[sz(e)]);
  }
  return most;
}

int model_layer_of(const ModelPreset& model, int moe_layer) {
  return model.dense_layers + moe_layer;
}

}  // namespace epbench
