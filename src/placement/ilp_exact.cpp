// Binary presence p[e][g]: an expert twice on one GPU never helps under the cost model. Two
// replicas of e on g that serve x1 and x2 tokens cost max(a x1, w) + max(a x2, w) >= max(a (x1
// + x2), w) there, and move the same tokens to the same GPU, so merging them costs no more
// and frees a slot (slots may stay empty: a GPU holds at most S experts).
#include "placement/ilp_exact.h"

#include <algorithm>
#include <string>

#include <CbcModel.hpp>
#include <OsiClpSolverInterface.hpp>

#include "common/error.h"
#include "common/numeric.h"

namespace epbench {

namespace {

void check_size(const CostModel& model, const LayerSteps& steps) {
  const size_t pairs = steps.num_tokens() * sz(steps.top_k);
  if (steps.num_experts > kIlpMaxExperts || model.num_gpus() > kIlpMaxGpus ||
      pairs > sz(kIlpMaxPairs))
    throw InputError("exact ILP: instance too large (" + std::to_string(steps.num_experts) +
                     " experts, " + std::to_string(model.num_gpus()) + " GPUs, " +
                     std::to_string(pairs) + " token-expert pairs); expected at most " +
                     std::to_string(kIlpMaxExperts) + " experts, " + std::to_string(kIlpMaxGpus) +
                     " GPUs and " + std::to_string(kIlpMaxPairs) + " pairs");
  if (model.cluster().gpus_per_nic != 1)
    throw InputError("exact ILP: expected one GPU per NIC (gpus_per_nic = 1), got " +
                     std::to_string(model.cluster().gpus_per_nic));
}

}  // namespace

ExactIlp exact_ilp(const CostModel& model, const LayerSteps& steps) {
  check_layer_steps(model, steps, "exact ILP");
  check_size(model, steps);
  const LayerProgram prog = build_layer_program(model, steps, true);
  OsiClpSolverInterface solver;
  prog.lp.load(solver);
  CbcModel cbc(solver);
  cbc.setLogLevel(0);
  cbc.messageHandler()->setLogLevel(0);
  // Prove the optimum: no gap allowed beyond rounding (times are microseconds, ~1 to 1e3).
  cbc.setAllowableGap(1e-10);
  cbc.setAllowableFractionGap(1e-12);
  cbc.setCutoffIncrement(1e-10);
  cbc.setIntegerTolerance(1e-9);
  cbc.setMaximumSeconds(kIlpMaxSeconds);
  cbc.branchAndBound();
  if (!cbc.isProvenOptimal() || !cbc.bestSolution())
    throw InputError("exact ILP: CBC proved no optimum within " +
                     std::to_string(int(kIlpMaxSeconds)) +
                     " s; expected a smaller instance (fewer steps, tokens or GPUs)");
  const double* x = cbc.bestSolution();
  ExactIlp out;
  out.objective_s = cbc.getObjValue() / prog.time_scale;
  const int G = model.num_gpus(), S = model.slots_per_gpu(), E = steps.num_experts;
  out.placement.gpu_experts.assign(sz(G), {});
  for (int g = 0; g < G; ++g)
    for (int e = 0; e < E; ++e)
      if (x[prog.p[sz(e) * sz(G) + sz(g)]] > 0.5)
        out.placement.gpu_experts[sz(g)].push_back(static_cast<uint16_t>(e));
  // Each pair on the GPU its u picks, at that GPU's replica of the expert.
  const size_t k = sz(steps.top_k);
  out.slot.assign(steps.num_tokens() * k, -1);
  for (const TokenClass& c : prog.classes) {
    const uint16_t* ids = steps.ids.data() + c.first_token * k;
    for (size_t j = 0; j < c.experts.size(); ++j) {
      int best = 0;
      for (int g = 1; g < G; ++g)
        if (x[c.u[j * sz(G) + sz(g)]] > x[c.u[j * sz(G) + sz(best)]]) best = g;
      const auto& list = out.placement.gpu_experts[sz(best)];
      const auto at = std::find(list.begin(), list.end(), c.experts[j]);
      if (at == list.end()) throw InputError("exact ILP: CBC routed a pair to no replica");
      const auto pair = std::find(ids, ids + k, c.experts[j]) - ids;
      out.slot[c.first_token * k + sz(static_cast<int>(pair))] =
          best * S + static_cast<int32_t>(at - list.begin());
    }
  }
  SparseLayerCost priced;
  for (size_t s = 0; s < steps.num_steps(); ++s) {
    const size_t first = steps.offset[s], n = steps.offset[s + 1] - first;
    model.price_layer_sparse(steps.home.data() + first, out.slot.data() + first * k, n, steps.top_k,
                             priced);
    out.total_s += priced.total();
  }
  return out;
}

}  // namespace epbench
