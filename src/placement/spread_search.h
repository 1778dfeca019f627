#pragma once
// Greedy construction and swap local search that assign units (expert replicas) to a set of
// GPUs: the engine of `spread` (sign +1: co-activated units apart) and the within-GPU
// refinement of `colocate` and `topo` (docs/placement-coactivation.md).
#include <cstdint>
#include <vector>

#include "placement/coact_graph.h"

namespace epbench {

struct SearchOptions {
  double sign = 1;                  // +1 minimises the same-GPU weight, -1 maximises it
  double balance_tolerance = 0.05;  // GPU load cap: (1 + tol) * max(mean, heaviest unit)
  int max_passes = 50;              // swap passes at most (each is O(units^2))
  uint64_t seed = 1;                // visiting order (ties)
};

// Places `units` (ids in g) on `gpus` (global ids), `slots` each, at most one replica of an
// expert per GPU: heaviest unit first, onto the GPU with free slots that keeps it under the load
// cap and has the least sign-weighted co-activation with what it holds (then the least load).
// Writes gpu_of_unit[u] for each u in units.
void greedy_assign(const UnitGraph& g, const std::vector<int>& units, const std::vector<int>& gpus,
                   int slots, const SearchOptions& opt, std::vector<int>& gpu_of_unit);

// Improves such an assignment by swapping two units (or moving one into a free slot) while the
// sign-weighted same-GPU weight falls, or stays equal and the two GPUs' load evens out; no move
// takes a GPU over the load cap (or, if already over, makes it worse). Units keep to `gpus`.
void swap_search(const UnitGraph& g, const std::vector<int>& units, const std::vector<int>& gpus,
                 int slots, const SearchOptions& opt, std::vector<int>& gpu_of_unit);

}  // namespace epbench
