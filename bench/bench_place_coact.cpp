// Time of the co-activation placements (spread, colocate, topo) for a whole DeepSeek-V3 model:
// 58 layers, 256 experts, top-8, on 4 nodes x 8 GPUs with 9 slots each (288 slots, 32 spare
// for replicas). Target: <= 2 s each (issue 3). docs/placement-coactivation.md.
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
TraceStats deepseek_like_stats(int tokens) {
  const int L = 58, E = 256, K = 8;
  TraceStats s;
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
      for (int a : chosen) {
        ++s.load[size_t(l) * E + size_t(a)];
        for (int b : chosen)
          if (a != b) ++s.pairs[(size_t(l) * E + size_t(a)) * E + size_t(b)];
      }
    }
  }
  return s;
}

const TraceStats& stats() {
  static const TraceStats s = deepseek_like_stats(4000);
  return s;
}

void BM_PlaceCoact(benchmark::State& state, const char* algo) {
  ClusterSpec c;
  c.name = "deepseek-v3-32gpu";
  c.nodes = 4, c.gpus_per_node = 8, c.slots_per_gpu = 9;
  const TraceStats& s = stats();
  const PlacementAlgorithm& a = find_placement(algo);
  for (auto _ : state) {
    PlacementInput in{"deepseek-v3", s, c, 1, nlohmann::json::object()};
    benchmark::DoNotOptimize(a.place(in));
  }
  state.counters["layers_per_s"] =
      benchmark::Counter(double(s.num_layers), benchmark::Counter::kIsIterationInvariantRate);
}

BENCHMARK_CAPTURE(BM_PlaceCoact, spread, "spread")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PlaceCoact, colocate, "colocate")->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_PlaceCoact, topo, "topo")->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace epbench
