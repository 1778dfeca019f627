#pragma once
// Building blocks shared by the placement algorithms: loads as doubles, the replication step
// (EPLB's rule: each spare slot to the expert with the largest load per replica), and
// balanced packing (greedy largest-first onto the lightest bin with room).
#include <span>
#include <vector>

#include "costmodel/cost_model.h"
#include "placement/algorithm.h"

namespace epbench {

// Load of each expert of one layer, as doubles.
std::vector<double> layer_load(const TraceStats& s, int layer);

// Descending order of `w`, ties by lower index first (torch.sort(descending=True, stable=True)).
std::vector<int> sort_descending(std::span<const double> w);

// EPLB's replicate_experts: physical replica p < E is expert p; each further replica goes, one
// at a time, to the expert with the largest load / replicas (ties: lowest id, as torch.max).
struct Replication {
  std::vector<int> phy2log;  // [num_physical] expert of each replica
  std::vector<int> rank;     // [num_physical] index of the replica among its expert's
  std::vector<int> count;    // [E] replicas per expert
};
Replication replicate_experts(std::span<const double> load, int num_physical);

// The same rule with a cap: at most `max_per_expert` replicas of one expert (0: no cap), so
// that no GPU needs two copies of one expert. Slots that no expert may take stay unused.
std::vector<int> replica_counts(std::span<const double> load, int total, int max_per_expert);

// EPLB's balanced_packing: n items into num_packs packs of exactly n / num_packs items each
// (n must be a multiple), heaviest first, each onto the lightest pack that still has room
// (ties: lowest pack). One item per pack keeps the input order, as EPLB does.
struct Packing {
  std::vector<int> pack;  // [n]
  std::vector<int> rank;  // [n] position inside its pack
};
Packing balanced_packing(std::span<const double> weight, int num_packs);

// Greedy (LPT) placement of replicas with slot limits: replicas (load[e] / counts[e] each)
// heaviest first (ties: lower expert id), each onto the least-loaded GPU (ties: lowest id) with
// a free slot that does not already hold that expert. When every GPU with a free slot holds it
// already, one expert moves from a GPU lacking it to one with room (always possible with at
// most one replica per GPU), so every replica in `counts` is placed.
LayerPlacement pack_replicas(std::span<const double> load, std::span<const int> counts,
                             int num_gpus, int slots_per_gpu);

// The replication step for any algorithm that placed each expert once: fills free slots with
// extra replicas (replica_counts, at most one per GPU), each onto the least-loaded GPU with a
// free slot not holding that expert (or made room for as in pack_replicas). GPU load = sum of
// load[e] / replicas(e) over its experts. Base experts may move only in that fallback.
void add_replicas(LayerPlacement& layer, std::span<const double> load, int slots_per_gpu);

// Predicted load of each GPU when every expert's load is split evenly over its replicas.
std::vector<double> gpu_loads(const LayerPlacement& layer, std::span<const double> load);

// Boolean algorithm parameter ("replicate": true/false/1/0); InputError naming it otherwise.
bool param_bool(const nlohmann::json& params, const char* key, bool fallback);
// Integer parameter >= min; InputError naming it otherwise.
int param_int(const nlohmann::json& params, const char* key, int fallback, int min);

// The cost model that algorithms pricing layouts use: expert sizes from params d_model and
// d_ff, else the input's (the trace's, or --price-as), else the model preset's.
CostModel priced_model(const PlacementInput& in);

}  // namespace epbench
