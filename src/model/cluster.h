#pragma once
// Cluster specs: how many GPUs, how they are linked, how fast they compute. Presets by name
// (`h800`, `h100`, `a100`) or a JSON file; docs/cluster.md gives the sources of the numbers.
#include <memory>
#include <string>
#include <string_view>
#include <vector>

namespace epbench {

struct Profile;  // costmodel/profile.h

struct LinkSpec {
  double latency_s = 0;      // alpha: per message
  double bandwidth_Bps = 0;  // beta: bytes per second, one direction, per GPU
};

struct ClusterSpec {
  std::string name;
  int nodes = 1;
  int gpus_per_node = 1;
  int slots_per_gpu = 0;          // expert slots per GPU per MoE layer (0: E / GPUs)
  double kv_capacity_tokens = 0;  // KV-cache capacity per GPU, in tokens of context
  LinkSpec same_node;             // NVLink-class
  LinkSpec other_node;            // NIC-class, per GPU when gpus_per_nic GPUs share one NIC
  int gpus_per_nic = 1;
  double gpu_flops = 0;          // dense bf16 FLOP/s per GPU
  double hbm_bandwidth_Bps = 0;  // bytes/s per GPU
  int bytes_per_activation = 2;  // bf16 hidden states
  int bytes_per_weight = 2;      // bf16 expert weights
  double hbm_bytes = 80e9;       // memory per GPU: weights and KV cache (serve)
  double step_overhead_s = 0;    // serve: per-step time outside the layers (scheduling, launch)
  std::string source;            // where the numbers come from
  // A measured profile (docs/profile.md) priced in place of the roofline and alpha-beta
  // terms; null: the roofline. Read once by load_cluster, shared by every copy.
  std::string profile_path;
  std::shared_ptr<const Profile> profile;

  int num_gpus() const { return nodes * gpus_per_node; }
  int node_of(int gpu) const { return gpu / gpus_per_node; }
  int total_slots() const { return num_gpus() * slots_per_gpu; }
};

std::vector<std::string> cluster_preset_names();
// Whether `name` is a preset rather than a JSON file.
bool is_cluster_preset(const std::string& name);
// A preset name or a path to a JSON file (docs/cluster.md); errors name the file and field.
ClusterSpec load_cluster(const std::string& name_or_path);
// Overrides the shape (nodes, GPUs per node, slots) where the value is > 0, then checks that
// num_experts fit in the slots (throws InputError naming the options otherwise).
ClusterSpec shape_cluster(ClusterSpec c, int nodes, int gpus_per_node, int slots_per_gpu,
                          int num_experts);

}  // namespace epbench
