#pragma once
// A layout: which experts each GPU holds in each MoE layer (an expert on several GPUs is
// replicated). JSON on disk, format "epbench-layout" (docs/formats.md).
#include <cstdint>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

namespace epbench {

struct ClusterSpec;
struct ModelPreset;

inline constexpr const char* kLayoutFormat = "epbench-layout";
inline constexpr int kLayoutVersion = 1;

struct LayerPlacement {
  std::vector<std::vector<uint16_t>> gpu_experts;  // [G][<= slots_per_gpu] expert ids
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

// Where each expert of one layer lives: replicas[e] = GPUs holding e (ascending).
struct ReplicaMap {
  std::vector<std::vector<int>> replicas;  // [E]
};
ReplicaMap replica_map(const LayerPlacement& layer, int num_experts);

// Every expert present at least once per layer, no GPU over its slots, ids in range, no
// expert twice on one GPU, one entry per GPU. Throws InputError naming `file` and the field.
void validate_layout(const Layout& layout, const std::string& file);
// The layout is for this model and cluster shape; throws InputError naming `file` otherwise.
void require_layout_matches(const Layout& layout, const ModelPreset& model,
                            const ClusterSpec& cluster, const std::string& file);

Layout read_layout(const std::string& path);                       // validates
void write_layout(const std::string& path, const Layout& layout);  // atomic
nlohmann::json layout_to_json(const Layout& layout);
Layout layout_from_json(const nlohmann::json& j, const std::string& file);  // validates

}  // namespace epbench
