// colocate: affinity co-location (ExFlow / Occult style). Experts that tokens choose together
// go to the same node and GPU, so a token's hidden state travels to fewer distinct remote GPUs
// and nodes (the cost model sends it once per destination). METIS partitions the co-activation
// graph (vertex weights: load and slots; edge weights: pair counts) into nodes, then each
// node's units into its GPUs, with a fix-up for slot capacity; a swap search then gathers
// co-activated units further under the load cap. docs/placement-coactivation.md.
#include "placement/coact_graph.h"
#include "placement/metis_partition.h"
#include "placement/spread_search.h"

namespace epbench {
namespace {

std::vector<int> assign_colocate(const UnitGraph& g, const ClusterSpec& c,
                                 const CoactOptions& opt) {
  std::vector<int> gpu(size_t(g.num_units), 0);
  SearchOptions s;
  s.sign = -1;  // gather, not spread
  s.balance_tolerance = opt.balance_tolerance;
  s.max_passes = opt.passes;
  s.seed = opt.seed;
  const auto nodes = partition_nodes(g, c, opt);
  for (int n = 0; n < c.nodes; ++n) {
    const std::vector<int>& units = nodes[size_t(n)];
    const std::vector<int> gpus = node_gpus(c, n);
    PartitionOptions p;
    p.parts = c.gpus_per_node;
    p.capacity = c.slots_per_gpu;
    p.balance_tolerance = opt.balance_tolerance;
    p.seed = opt.seed ^ (0x9e37ull + uint64_t(n));
    const std::vector<int> part = partition_units(g, units, p);
    for (size_t i = 0; i < units.size(); ++i) gpu[size_t(units[i])] = gpus[size_t(part[i])];
    swap_search(g, units, gpus, c.slots_per_gpu, s, gpu);
  }
  return gpu;
}

}  // namespace

Layout place_colocate(const PlacementInput& in) {
  return place_by_units(in, "colocate", assign_colocate);
}

}  // namespace epbench
