// balanced: greedy largest-load-first (LPT) onto the least-loaded GPU with a free slot.
//
// Objective: the predicted maximum GPU load of each layer (an expert's load split evenly over
// its replicas). Spare slots (S > E / G) first go to hot experts by the shared replication
// step (EPLB's rule, at most one replica per GPU); --param replicate=0 turns that off.
//
// Guarantee: without slot limits this is Graham's LPT rule, max load <= (4/3 - 1/(3G)) OPT.
// With the slot limit the greedy may have to skip the least-loaded GPU because it is full, so
// the 4/3 argument no longer applies; docs/placement.md says what is known and what the tests
// check (max load within 2x the brute-force optimum on small instances).
#include "placement/common.h"

namespace epbench {

Layout place_balanced(const PlacementInput& in) {
  Layout lay = empty_layout(in, "balanced");
  const bool replicate = param_bool(in.params, "replicate", true);
  lay.params["replicate"] = replicate;
  const int gpus = lay.num_gpus();
  for (int l = 0; l < lay.num_layers; ++l) {
    const std::vector<double> load = layer_load(in.stats, l);
    const int total = replicate ? gpus * lay.slots_per_gpu : lay.num_experts;
    const std::vector<int> counts = replica_counts(load, total, gpus);
    lay.layers.push_back(pack_replicas(load, counts, gpus, lay.slots_per_gpu));
  }
  return lay;
}

}  // namespace epbench
