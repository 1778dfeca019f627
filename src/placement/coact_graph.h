#pragma once
// The co-activation graph of one layer, over expert replicas ("units"): the shared input of the
// spread, colocate and topo placements (docs/placement-coactivation.md).
#include <cstdint>
#include <vector>

#include "placement/algorithm.h"
#include "placement/layout.h"
#include "trace/stats.h"

namespace epbench {

// Replica r of expert e is one unit. Routing is assumed to split an expert's tokens evenly over
// its replicas, so a unit carries load / r_e and a pair of units of experts a != b is hit by
// pairs(a, b) / (r_a r_b) tokens: the expected co-activation of those two copies.
struct UnitGraph {
  int num_units = 0;
  std::vector<int> expert;   // [U] expert of each unit
  std::vector<double> load;  // [U] tokens per unit
  std::vector<double> w;     // [U * U] symmetric, zero diagonal and between replicas of one expert

  double weight(int a, int b) const { return w[static_cast<size_t>(a) * num_units + b]; }
};

// Units of `layer` with replicas[e] >= 1 copies of expert e, listed expert by expert.
UnitGraph build_unit_graph(const TraceStats& s, int layer, const std::vector<int>& replicas);

// Sum of unit-pair weights over pairs on one GPU: the expected number of a token's expert pairs
// that land on the same GPU (the spread objective; colocate maximises it).
double same_gpu_weight(const UnitGraph& g, const std::vector<int>& gpu_of_unit);

// The GPU lists of a layer, experts sorted on each GPU. gpu_of_unit[u] in [0, num_gpus).
LayerPlacement to_layer_placement(const UnitGraph& g, const std::vector<int>& gpu_of_unit,
                                  int num_gpus);

// Load of each expert of `layer` as doubles, floored at 1 token, so that experts never seen in
// the fit range still count as something when balancing.
std::vector<double> layer_loads(const TraceStats& s, int layer);

// Options shared by spread, colocate and topo, from PlacementInput::params:
// replicate (bool, true), balance_tolerance (number >= 0, 0.05), passes (int >= 0, 50),
// exact (bool, true: spread's exact matching where it applies).
struct CoactOptions {
  bool replicate = true;
  bool exact = true;
  double balance_tolerance = 0.05;
  int passes = 50;
  uint64_t seed = 1;
};
CoactOptions coact_options(const PlacementInput& in);

// One layer's work: the GPU of every unit of g.
using AssignUnits = std::vector<int> (*)(const UnitGraph& g, const ClusterSpec& c,
                                         const CoactOptions& opt);

// The common frame: per layer, replica counts (the shared replication step, at most one copy per
// GPU, when opt.replicate and slots are spare), the unit graph, `assign`, the GPU lists. Each
// layer gets its own seed derived from in.seed. The options go into the layout's params.
Layout place_by_units(const PlacementInput& in, const std::string& name, AssignUnits assign);

// GPU ids of node n.
std::vector<int> node_gpus(const ClusterSpec& c, int node);

}  // namespace epbench
