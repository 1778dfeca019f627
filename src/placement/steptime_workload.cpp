#include "placement/steptime_workload.h"

#include <algorithm>

#include "common/error.h"
#include "common/numeric.h"
#include "common/rng.h"
#include "placement/common.h"

namespace epbench {

namespace {

// Indices of the tokens steps are drawn from: the decode tokens, or all when too few.
std::vector<uint32_t> token_pool(const TokenBlock& tokens, size_t at_least) {
  std::vector<uint32_t> pool;
  for (size_t t = 0; t < tokens.size(); ++t)
    if (tokens.phase[t] == static_cast<uint8_t>(Phase::kDecode))
      pool.push_back(static_cast<uint32_t>(t));
  if (pool.size() >= at_least) return pool;
  pool.resize(tokens.size());
  for (size_t t = 0; t < tokens.size(); ++t) pool[t] = static_cast<uint32_t>(t);
  return pool;
}

// k distinct experts drawn in proportion to `load` (each draw without the ones taken).
void draw_experts(std::vector<double> load, int k, Rng& rng, std::vector<uint16_t>& out) {
  for (int j = 0; j < k; ++j) {
    double total = 0;
    for (double w : load) total += w;
    double x = rng.uniform() * total;
    size_t e = 0;
    while (e + 1 < load.size() && (load[e] <= 0 || x >= load[e])) x -= load[e++];
    if (load[e] <= 0)  // rounding left nothing: the first expert not taken
      e = static_cast<size_t>(
          std::find_if(load.begin(), load.end(), [](double w) { return w > 0; }) - load.begin());
    out.push_back(static_cast<uint16_t>(e));
    load[e] = 0;
  }
}

}  // namespace

int steps_for(int batch, int steps_per_batch, int min_factor) {
  return std::max(steps_per_batch, (kMinSampleTokens * min_factor + batch - 1) / batch);
}

StepSample sample_steps(const PlacementInput& in, const std::vector<int>& batch_sizes,
                        int steps_per_batch, uint64_t seed, int min_factor) {
  const TraceStats& st = in.stats;
  const int L = st.num_layers, k = st.top_k, G = in.cluster.num_gpus();
  StepSample s;
  s.top_k = k;
  s.ids.resize(sz(L));
  const int largest = *std::max_element(batch_sizes.begin(), batch_sizes.end());
  std::vector<uint32_t> pool;
  if (in.tokens) {
    if (in.tokens->size() == 0) throw InputError("steptime: the fit range has no tokens");
    pool = token_pool(*in.tokens, sz(largest));
  }
  std::vector<std::vector<double>> loads;
  for (int l = 0; l < L && !in.tokens; ++l) loads.push_back(layer_load(st, l));
  Rng rng(mix_seed(seed, 0x57e9));
  for (size_t b = 0; b < batch_sizes.size(); ++b)
    for (int step = 0; step < steps_for(batch_sizes[b], steps_per_batch, min_factor); ++step) {
      for (int i = 0; i < batch_sizes[b]; ++i) {
        s.home.push_back((step * batch_sizes[b] + i) % G);
        if (!in.tokens) {
          for (int l = 0; l < L; ++l) draw_experts(loads[sz(l)], k, rng, s.ids[sz(l)]);
          continue;
        }
        const uint32_t t = pool[rng.below(pool.size())];
        for (int l = 0; l < L; ++l) {
          const uint16_t* e = in.tokens->experts(t, l);
          s.ids[sz(l)].insert(s.ids[sz(l)].end(), e, e + k);
        }
      }
      s.offset.push_back(s.home.size());
      s.batch_index.push_back(static_cast<int>(b));
    }
  return s;
}

}  // namespace epbench
