#pragma once
// Balanced partition of units (expert replicas) into parts with METIS, then a fix-up so that no
// part exceeds its slot capacity or holds too many replicas of one expert: the engine of
// `colocate` and of the node level of `topo` (docs/placement-coactivation.md).
#include <cstdint>
#include <vector>

#include "placement/coact_graph.h"

namespace epbench {

struct PartitionOptions {
  int parts = 1;
  int capacity = 0;               // units per part at most
  int max_replicas_per_part = 1;  // copies of one expert per part at most
  double balance_tolerance = 0.05;
  uint64_t seed = 1;
};

// Part in [0, parts) of each of `units` (same order). METIS (recursive bisection up to 8 parts,
// k-way above) minimises the co-activation weight cut between parts under two balance
// constraints (load, and unit count so the slots fit); then units move out of over-full or
// conflicting parts to the part with room they are most co-activated with. Without edges
// (e.g. top-1) largest-load-first packing replaces METIS: there is nothing to cut.
std::vector<int> partition_units(const UnitGraph& g, const std::vector<int>& units,
                                 const PartitionOptions& opt);

// The node level of colocate and topo: all units of g into c.nodes parts of
// gpus_per_node * slots_per_gpu units, at most gpus_per_node copies of an expert per node.
// Returns the units of each node.
std::vector<std::vector<int>> partition_nodes(const UnitGraph& g, const ClusterSpec& c,
                                              const CoactOptions& opt);

}  // namespace epbench
