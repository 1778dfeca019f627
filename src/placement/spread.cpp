// spread: co-activation spreading (Beaumont et al., Euro-Par 2025). Experts that tokens choose
// together go to different GPUs, so a token's experts run in parallel and no GPU is its
// bottleneck. Objective: the expected number of a token's expert pairs that share a GPU
// (pair counts of the fit range; for top-2 it is exactly the expected excess of the token's
// busiest GPU over one), under a load cap. Exact in the matching case (two experts per GPU, no
// replicas: a perfect matching); otherwise greedy construction plus swap local search.
// docs/placement-coactivation.md.
#include <numeric>

#include "placement/coact_graph.h"
#include "placement/spread_matching.h"
#include "placement/spread_search.h"

namespace epbench {
namespace {

bool matching_case(const UnitGraph& g, const ClusterSpec& c, const CoactOptions& opt) {
  return opt.exact && c.slots_per_gpu == 2 && g.num_units == 2 * c.num_gpus() &&
         g.expert.back() == g.num_units - 1;  // no replicas
}

// Minimum same-GPU weight exactly; among optimal matchings the one with the least sum of squared
// GPU loads: the tie term totals below 1/4, less than any difference of integer pair counts.
std::vector<int> assign_by_matching(const UnitGraph& g) {
  const auto n = static_cast<size_t>(g.num_units);
  const double total = std::accumulate(g.load.begin(), g.load.end(), 0.0);
  std::vector<double> w(g.w);
  for (size_t a = 0; a < n; ++a)
    for (size_t b = 0; b < n; ++b) {
      const double pair_load = g.load[a] + g.load[b];
      w[a * n + b] += 0.25 * pair_load * pair_load / (total * total);
    }
  std::vector<int> gpu(n, 0);
  int next = 0;
  for (auto [a, b] : min_weight_perfect_matching(g.num_units, w)) {
    gpu[size_t(a)] = gpu[size_t(b)] = next++;
  }
  return gpu;
}

SearchOptions spread_search_options(const CoactOptions& opt) {
  SearchOptions s;
  s.sign = +1;
  s.balance_tolerance = opt.balance_tolerance;
  s.max_passes = opt.passes;
  s.seed = opt.seed;
  return s;
}

std::vector<int> assign_spread(const UnitGraph& g, const ClusterSpec& c, const CoactOptions& opt) {
  if (matching_case(g, c, opt)) return assign_by_matching(g);
  std::vector<int> units(size_t(g.num_units)), gpus(size_t(c.num_gpus()));
  std::iota(units.begin(), units.end(), 0);
  std::iota(gpus.begin(), gpus.end(), 0);
  std::vector<int> gpu(units.size(), 0);
  const SearchOptions s = spread_search_options(opt);
  greedy_assign(g, units, gpus, c.slots_per_gpu, s, gpu);
  swap_search(g, units, gpus, c.slots_per_gpu, s, gpu);
  return gpu;
}

}  // namespace

Layout place_spread(const PlacementInput& in) {
  return place_by_units(in, "spread", assign_spread);
}

}  // namespace epbench
