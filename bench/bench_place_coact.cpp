// Time of the co-activation placements (spread, colocate, topo) and of steptime (which starts
// from every other algorithm) for a whole DeepSeek-V3 model: 58 layers, 256 experts, top-8, on
// 4 nodes x 8 GPUs with 9 slots each (288 slots, 32 spare for replicas). Target: <= 2 s each
// (issues 3 and 14). docs/placement-coactivation.md, docs/placement.md.
#include <benchmark/benchmark.h>

#include <cmath>

#include "common/rng.h"
#include "placement/algorithm.h"
#include "trace/stats.h"

namespace epbench {
namespace {

// Statistics shaped like a real router's: Zipf-like load per layer (a random expert order each
// layer), and planted groups of 8 experts that tokens tend to pick together, so the pair matrix
// is dense but structured. Counted from `tokens` sampled tokens.
struct Fit {
  TraceStats stats;
  TokenBlock tokens;  // the tokens counted, for steptime's sampled steps
};

Fit deepseek_like_fit(int tokens) {
  const int L = 58, E = 256, K = 8;
  Fit fit;
  fit.tokens.num_layers = L, fit.tokens.top_k = K;
  fit.tokens.resize(size_t(tokens), false);
  TraceStats& s = fit.stats;
  s.num_layers = L, s.num_experts = E, s.top_k = K, s.tokens = uint64_t(tokens);
  s.load.assign(size_t(L) * E, 0);
  s.pairs.assign(size_t(L) * E * E, 0);
  Rng rng(42);
  for (int l = 0; l < L; ++l) {
    std::vector<double> cdf(E);
    double sum = 0;
    for (int e = 0; e < E; ++e)
      cdf[size_t(e)] = sum += 1.0 / std::pow(1.0 + double(rng.below(E)), 0.7);
    for (int t = 0; t < tokens; ++t) {
      std::vector<int> chosen;
      // Half of a token's experts from one planted group (experts g*8 .. g*8+7), the rest by load.
      const int group = int(rng.below(E / K)) * K;
      while (chosen.size() < size_t(K)) {
        int e =
            chosen.size() < size_t(K / 2)
                ? group + int(rng.below(K))
                : int(std::lower_bound(cdf.begin(), cdf.end(), rng.uniform() * sum) - cdf.begin());
        e = std::min(e, E - 1);
        if (std::find(chosen.begin(), chosen.end(), e) == chosen.end()) chosen.push_back(e);
      }
      std::copy(chosen.begin(), chosen.end(), fit.tokens.experts(size_t(t), l));
      for (int a : chosen) {
        ++s.load[size_t(l) * E + size_t(a)];
        for (int b : chosen)
          if (a != b) ++s.pairs[(size_t(l) * E + size_t(a)) * E + size_t(b)];
      }
    }
  }
  return fit;
}

const Fit& fit() {
  static const Fit f = deepseek_like_fit(4000);
  return f;
}

void BM_PlaceCoact(benchmark::State& state, const char* algo) {
  ClusterSpec c;
  c.name = "deepseek-v3-32gpu";
  c.nodes = 4, c.gpus_per_node = 8, c.slots_per_gpu = 9;
  const TraceStats& s = fit().stats;
  const PlacementAlgorithm& a = find_placement(algo);
  for (auto _ : state) {
    PlacementInput in{"deepseek-v3", s, c, 1, nlohmann::json::object(), 0, 0, &fit().tokens};
    benchmark::DoNotOptimize(a.place(in));
  }
  state.counters["layers_per_s"] =
      benchmark::Counter(double(s.num_layers), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_CAPTURE(BM_PlaceCoact, spread, "spread")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PlaceCoact, colocate, "colocate")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PlaceCoact, topo, "topo")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PlaceCoact, steptime, "steptime")->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace epbench
