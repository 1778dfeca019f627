// topo (ours): topology-aware hybrid. Across nodes, where links are slow, co-locate: METIS puts
// co-activated units on the same node, cutting the bytes that cross the NICs. Within a node,
// where NVLink is fast, spread: co-activated units go to different GPUs so a token's experts run
// in parallel and the node's load is balanced. Hot experts get the spare slots (the shared
// replication step). docs/placement-coactivation.md.
#include "placement/coact_graph.h"
#include "placement/metis_partition.h"
#include "placement/spread_search.h"

namespace epbench {
namespace {

std::vector<int> assign_topo(const UnitGraph& g, const ClusterSpec& c, const CoactOptions& opt) {
  std::vector<int> gpu(size_t(g.num_units), 0);
  SearchOptions s;
  s.sign = +1;
  s.balance_tolerance = opt.balance_tolerance;
  s.max_passes = opt.passes;
  s.seed = opt.seed;
  const auto nodes = partition_nodes(g, c, opt);
  for (int n = 0; n < c.nodes; ++n) {
    const std::vector<int> gpus = node_gpus(c, n);
    greedy_assign(g, nodes[size_t(n)], gpus, c.slots_per_gpu, s, gpu);
    swap_search(g, nodes[size_t(n)], gpus, c.slots_per_gpu, s, gpu);
  }
  return gpu;
}

}  // namespace

Layout place_topo(const PlacementInput& in) {
  return place_by_units(in, "topo", assign_topo);
}

}  // namespace epbench
