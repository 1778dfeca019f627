// The table of placement algorithms: one entry per file in this folder.
#include <array>

#include "common/error.h"
#include "placement/algorithm.h"

namespace epbench {

Layout place_round_robin(const PlacementInput& in);
Layout place_balanced(const PlacementInput& in);
Layout place_eplb(const PlacementInput& in);
Layout place_spread(const PlacementInput& in);
Layout place_colocate(const PlacementInput& in);
Layout place_topo(const PlacementInput& in);
Layout place_exact(const PlacementInput& in);
Layout place_steptime(const PlacementInput& in);

namespace {

const std::array<PlacementAlgorithm, 8> kAlgorithms = {{
    {"round-robin", "contiguous blocks of experts per GPU (Megatron/DeepSpeed default)",
     place_round_robin},
    {"balanced", "greedy largest-load-first onto the least-loaded GPU", place_balanced},
    {"eplb", "DeepSeek's Expert Parallelism Load Balancer (hierarchical or global)", place_eplb},
    {"spread", "co-activated experts on different GPUs (Beaumont et al. 2025)", place_spread, true},
    {"colocate", "co-activated experts on the same GPU/node, METIS partition (ExFlow/Occult)",
     place_colocate, true},
    {"topo", "ours: co-locate across nodes, spread within a node, replicate hot experts",
     place_topo, true},
    {"exact", "optimal for small instances (branch and bound on the cost model)", place_exact,
     true},
    {"steptime",
     "ours: least predicted step time of a batch-size mix (min-time routing), searched from "
     "every other algorithm",
     place_steptime, false, true},
}};

}  // namespace

std::span<const PlacementAlgorithm> placement_algorithms() {
  return kAlgorithms;
}

const PlacementAlgorithm& find_placement(const std::string& name) {
  std::string known;
  for (const auto& a : kAlgorithms) {
    if (name == a.name) return a;
    if (!known.empty()) known += ", ";
    known += a.name;
  }
  throw OptionError("algo",
                    "unknown placement algorithm '" + name + "', expected one of: " + known);
}

}  // namespace epbench
