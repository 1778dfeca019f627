#pragma once
// What every inference engine's placement file says, in one shape: for each MoE layer, the
// logical expert in each physical slot, slots in rank order (slot p lives on rank
// p / slots_per_rank, the rule SGLang, TensorRT-LLM, vLLM and DeepSeek's EPLB share), no slot
// empty. Each engine format (src/engines/<engine>.cpp) converts this to and from its file.
#include <cstdint>
#include <string>
#include <vector>

#include "placement/layout.h"

namespace epbench {

struct ModelPreset;

struct SlotMap {
  int ranks = 0, slots_per_rank = 0, num_experts = 0;
  std::vector<std::vector<int32_t>> phy2log;  // [MoE layers][ranks * slots_per_rank]

  int physical_slots() const { return ranks * slots_per_rank; }
  int layers() const { return static_cast<int>(phy2log.size()); }
};

// How an empty slot is filled: engines have no empty slot (every rank holds the same number of
// expert weights).
enum class EmptySlotFill {
  // Another copy of an expert the GPU already holds (the first in its slots): no new expert's
  // weights and no new destination of tokens on that GPU, so dispatch traffic stays what the
  // layout predicts. A GPU with no expert at all gets, slot by slot, the layer's expert with
  // the fewest replicas that it does not hold yet (lowest id on ties). SGLang, TensorRT-LLM,
  // vLLM, EPLB.
  kLocalCopy,
  // For engines that refuse an expert twice on one device (vLLM-Ascend): the layer's expert
  // with the fewest replicas among those the GPU does not hold (lowest id on ties).
  kDistinct,
};

// The layout's slots in engine form, empty slots filled as `fill` says. With kDistinct, a
// layout holding an expert twice on one GPU is refused (InputError naming `file`).
SlotMap slot_map_of(const Layout& layout, EmptySlotFill fill = EmptySlotFill::kLocalCopy,
                    const std::string& file = "layout");

// How an imported map becomes a layout: the model's name and sizes, and the cluster shape.
struct LayoutShape {
  std::string model;
  int num_experts = 0;
  int nodes = 1, gpus_per_node = 1;
};

// The layout a map describes (algorithm "imported:<format>"). Checks the map first (see
// validate_slot_map); `file` is named in every error.
Layout layout_of(const SlotMap& map, const LayoutShape& shape, const std::string& format,
                 const std::string& file);

// Refuses, naming `file` and `field` ("physical_to_logical_map[3]", the row numbered from
// `first_row`), a map whose rows differ in length, with an id outside [0, num_experts), or
// missing an expert in some layer.
void validate_slot_map(const SlotMap& map, const std::string& file, const std::string& field,
                       int first_row = 0);

// Splits `slots` physical slots of one layer over `ranks`; InputError naming file and field
// when they do not divide.
int slots_per_rank(int64_t slots, int ranks, const std::string& file, const std::string& field);

// DeepSeek EPLB's derived tensors of one layer: logcnt[e] = replicas of e, log2phy[e][r] =
// the physical slot of its r-th replica (ascending), padded with -1 to `max_replicas`.
struct ReplicaTables {
  std::vector<int32_t> logcnt;   // [E]
  std::vector<int32_t> log2phy;  // [E][max_replicas]
};
ReplicaTables replica_tables(const std::vector<int32_t>& phy2log, int num_experts,
                             int max_replicas);
// The largest replica count of any expert in any layer.
int max_replicas(const SlotMap& map);

// Model layer index (dense layers counted) of MoE layer l, and back; engines that key
// layers by the model's own index (SGLang rows, TensorRT-LLM keys) use it.
int model_layer_of(const ModelPreset& model, int moe_layer);

}  // namespace epbench
