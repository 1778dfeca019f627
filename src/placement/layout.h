#pragma once
// A layout: which expert each physical slot of each GPU holds in each MoE layer. An expert in
// several slots is replicated, possibly twice on one GPU (as DeepSeek's EPLB may place it); a
// slot may stay empty. JSON on disk, format "epbench-layout" (docs/placement.md).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace epbench {

struct ClusterSpec;
struct ModelPreset;

inline constexpr const char* kLayoutFormat = "epbench-layout";
// Version 2 lists every physical slot (`gpu_slots`, -1 for an empty one); version 1 listed
// each GPU's distinct experts (`gpu_experts`) and is still read.
inline constexpr int kLayoutVersion = 2;
inline constexpr uint16_t kEmptySlot = 0xFFFF;   // an empty slot in memory (-1 on disk)
inline constexpr int kMaxLayoutExperts = 65535;  // ids below kEmptySlot

inline bool is_empty_slot(uint16_t e) {
  return e == kEmptySlot;
}

// gpu_experts[g][i] is the expert in GPU g's physical slot i (global physical slot
// g * slots_per_gpu + i), or kEmptySlot. Canonical form: no trailing empty slots (a list
// shorter than slots_per_gpu leaves the rest empty), which is what readers produce.
struct LayerPlacement {
  std::vector<std::vector<uint16_t>> gpu_experts;  // [G][<= slots_per_gpu]
};

struct Layout {
  std::string model;
  int num_layers = 0;
  int num_experts = 0;
  int nodes = 1, gpus_per_node = 1, slots_per_gpu = 1;
  std::string algorithm;
  nlohmann::json params = nlohmann::json::object();
  std::string fit_trace;                // trace the placement was fitted on ("" if none)
  uint64_t fit_begin = 0, fit_end = 0;  // its token range
  std::vector<LayerPlacement> layers;   // [L]

  int num_gpus() const { return nodes * gpus_per_node; }
};

// Drops trailing empty slots from every GPU of every layer (the canonical form).
void trim_empty_slots(Layout& layout);
// Occupied slots of one layer (replicas, duplicates on one GPU included).
size_t occupied_slots(const LayerPlacement& layer);

// Where each expert of one layer lives: replicas[e] = GPUs holding e (ascending, a GPU once per
// slot it gives e).
struct ReplicaMap {
  std::vector<std::vector<int>> replicas;  // [E]
};
ReplicaMap replica_map(const LayerPlacement& layer, int num_experts);

// Every GPU holds the same experts (as many times each) in every layer, in whatever slots: the
// two place alike, and a run of one measures the other.
bool same_placement(const Layout& a, const Layout& b);

// Every expert present at least once per layer, no GPU over its slots, ids in range (or empty
// slots), one entry per GPU. Throws InputError naming `file` and the field.
void validate_layout(const Layout& layout, const std::string& file);
// The layout is for this model and cluster shape; throws InputError naming `file` otherwise.
void require_layout_matches(const Layout& layout, const ModelPreset& model,
                            const ClusterSpec& cluster, const std::string& file);

Layout read_layout(const std::string& path);                       // validates
void write_layout(const std::string& path, const Layout& layout);  // atomic
nlohmann::json layout_to_json(const Layout& layout);
Layout layout_from_json(const nlohmann::json& j, const std::string& file);  // validates

}  // namespace epbench
