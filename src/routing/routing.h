#pragma once
// Routing: which replica serves each (token, expert) pair of a batch, one layer at a time
// (docs/evaluate.md). A replica is named by its slot, gpu * slots_per_gpu + its index in the
// GPU's expert list, which is what CostModel::price_layer takes.
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "costmodel/cost_model.h"
#include "placement/layout.h"
#include "routing/max_flow.h"

namespace epbench {

enum class RoutingPolicy { kFirst, kRoundRobin, kLeastLoaded, kLocalFirst, kOptimal, kMinTime };

std::vector<std::string> routing_names();
RoutingPolicy parse_routing(const std::string& name);  // OptionError of field "routing"
const char* routing_name(RoutingPolicy p);

// The replicas of every expert of one layer, flattened for fast lookup.
struct LayerReplicas {
  int num_gpus = 0, slots_per_gpu = 0, gpus_per_node = 1;
  std::vector<uint32_t> offset;     // [E+1]: expert e's replicas are slot[offset[e] .. offset[e+1])
  std::vector<int32_t> slot;        // slot ids, ascending GPU
  std::vector<int32_t> slot_gpu;    // [G*S]: the GPU of each slot (no division in hot loops)
  std::vector<int32_t> slot_node;   // [G*S]: its node
  std::vector<int32_t> first_slot;  // [E]: slot[offset[e]], the replica `first` routes to

  int num_experts() const { return static_cast<int>(offset.size()) - 1; }
  uint32_t count(int e) const { return offset[e + 1] - offset[e]; }
  int gpu(int32_t s) const { return slot_gpu[static_cast<size_t>(s)]; }
};
// Throws InputError when an expert has no replica or an id is out of range.
LayerReplicas make_replicas(const LayerPlacement& layer, int num_experts, int slots_per_gpu,
                            int gpus_per_node);

class Router {
 public:
  explicit Router(RoutingPolicy policy) : policy_(policy) {}
  RoutingPolicy policy() const { return policy_; }
  // kMinTime prices every assignment when there are at most this many (exact), else searches.
  static constexpr uint64_t kExhaustiveLimit = 4096;
  void set_exhaustive_limit(uint64_t limit) { exhaustive_limit_ = limit; }

  // ids[t*k + j]: token t's j-th expert; home[t]: its home GPU. Writes slot[t*k + j]. `cost`
  // prices the layer for kMinTime (required there; the others ignore it).
  void route(const LayerReplicas& r, const uint16_t* ids, const int32_t* home, size_t n, int k,
             int32_t* slot, const CostModel* cost = nullptr);

 private:
  // Every policy but kMinTime, which route() prices (kMinTime here routes as kOptimal).
  void route_as(RoutingPolicy policy, const LayerReplicas& r, const uint16_t* ids,
                const int32_t* home, size_t n, int k, int32_t* slot);
  void least_loaded(const LayerReplicas& r, const uint16_t* ids, const int32_t* home, size_t n,
                    int k, int32_t* slot, bool local_first);
  void optimal(const LayerReplicas& r, const uint16_t* ids, const int32_t* home, size_t n, int k,
               int32_t* slot);
  // routing_min_time.cpp: the replicas that minimise the layer's predicted time.
  void min_time(const LayerReplicas& r, const CostModel& cost, const uint16_t* ids,
                const int32_t* home, size_t n, int k, int32_t* slot);
  double price(const CostModel& cost, const int32_t* home, const int32_t* slot, size_t n, int k);
  bool enumerate(const LayerReplicas& r, const CostModel& cost, const uint16_t* ids,
                 const int32_t* home, size_t n, int k, int32_t* slot);
  void concentrate(const LayerReplicas& r, const CostModel& cost, const uint16_t* ids, size_t pairs,
                   int32_t* slot);
  double improve(const LayerReplicas& r, const CostModel& cost, const int32_t* home, size_t n,
                 int k, int32_t* slot, double best);
  bool try_move(const CostModel& cost, const int32_t* home, size_t n, int k, int32_t* slot,
                const std::vector<uint32_t>& pairs, int32_t from, int32_t to, size_t limit,
                double& best);

  void build_network(const LayerReplicas& r);
  bool feasible(int64_t max_load);
  void assign_quotas(const LayerReplicas& r, const uint16_t* ids, const int32_t* home, size_t n,
                     int k, int32_t* slot);

  RoutingPolicy policy_;
  uint64_t exhaustive_limit_ = kExhaustiveLimit;
  std::vector<uint32_t> load_;         // [G] pairs per GPU in this batch and layer
  std::vector<uint32_t> demand_;       // [E] pairs per expert
  std::vector<uint32_t> base_;         // [G] pairs of experts without replicas
  std::vector<int> replicated_;        // experts with demand and several replicas
  std::vector<int> edge_;              // flow arc of each replica (index into LayerReplicas::slot)
  std::vector<int> sink_arc_;          // [G] flow arc GPU -> sink
  int64_t want_ = 0;                   // pairs of replicated experts: the flow that fits
  std::vector<uint32_t> quota_;        // pairs each replica serves under the optimum
  std::vector<uint32_t> pending_;      // pairs not yet given a replica by assign_quotas
  std::vector<int32_t> pending_home_;  // their home GPUs
  MaxFlowNetwork flow_;
  // min_time's scratch: the pairs of each expert, a candidate routing, the priced layer.
  std::vector<uint32_t> pair_offset_, pair_index_;
  std::vector<int32_t> candidate_;
  std::vector<uint32_t> moved_;
  std::vector<double> busy_;  // [G] predicted compute per GPU while concentrating
  SparseLayerCost priced_;
};

// The largest number of pairs on one GPU under an assignment.
uint32_t max_gpu_load(const LayerReplicas& r, const int32_t* slot, size_t pairs);

}  // namespace epbench
