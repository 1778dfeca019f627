// Throughput of `trace stats`, in token-layers per second (items_per_second), one thread:
//   BM_StatsAdd   StatsAccumulator::add on an in-memory block of the file's chunk size;
//   BM_StatsFile  compute_stats on a trace file in /tmp (HDF5 read + decompression + add),
//                 including the accumulator's set-up: for 256 experts about 135 MB of counters,
//                 whose first touch (page faults) costs about 0.5 s on a small VM;
//   BM_StatsFileReadOnly  the same read without statistics.
// Routing is synthetic with a mild per-layer skew (expert weight 1 / (rank + 1)^0.6), so the
// counters touch about as many distinct cache lines as a real trace would.
#include <benchmark/benchmark.h>
#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <numeric>
#include <random>

#include "trace/stats.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

struct Shape {
  const char* name;
  int layers, experts, top_k;
};
constexpr Shape kMixtral{"mixtral-8x7b", 32, 8, 2};
constexpr Shape kDeepSeek{"deepseek-v3", 58, 256, 8};

void fill_routing(TokenBlock& b, const Shape& s, std::mt19937& rng) {
  std::vector<double> w(static_cast<size_t>(s.experts));
  for (size_t e = 0; e < w.size(); ++e) w[e] = 1.0 / std::pow(static_cast<double>(e + 1), 0.6);
  for (int l = 0; l < s.layers; ++l) {
    std::shuffle(w.begin(), w.end(), rng);  // a different hot set per layer
    std::discrete_distribution<int> pick(w.begin(), w.end());
    for (size_t t = 0; t < b.size(); ++t) {
      uint16_t* ids = b.experts(t, l);
      for (int k = 0; k < s.top_k; ++k) {
        uint16_t e;
        do e = static_cast<uint16_t>(pick(rng));
        while (std::find(ids, ids + k, e) != ids + k);
        ids[k] = e;
      }
    }
  }
}

// Requests of 64 to 255 tokens, the first quarter prompt, in three domains.
Trace make_bench_trace(const Shape& s, uint64_t tokens, unsigned seed) {
  std::mt19937 rng(seed);
  Trace t;
  TraceHeader& h = t.header;
  h.model = s.name;
  h.num_layers = s.layers;
  h.num_experts = s.experts;
  h.top_k = s.top_k;
  h.d_model = 4096;
  h.d_ff = 14336;
  h.source = "bench";
  h.domains = {"code", "math", "chat"};
  t.tokens.num_layers = s.layers;
  t.tokens.top_k = s.top_k;
  t.tokens.resize(tokens, false);
  t.requests.token_offset = {0};
  while (t.requests.token_offset.back() < tokens) {
    const uint64_t first = t.requests.token_offset.back();
    const uint64_t len = std::min<uint64_t>(64 + rng() % 192, tokens - first);
    t.requests.token_offset.push_back(first + len);
    t.requests.prompt_len.push_back(static_cast<uint32_t>(len / 4));
    t.requests.domain.push_back(static_cast<uint16_t>(rng() % 3));
    for (uint64_t i = 0; i < len; ++i) {
      t.tokens.phase[first + i] = i < len / 4 ? 0 : 1;
      t.tokens.position[first + i] = static_cast<uint32_t>(i);
    }
  }
  h.num_tokens = tokens;
  h.num_requests = t.requests.size();
  fill_routing(t.tokens, s, rng);
  return t;
}

void BM_StatsAdd(benchmark::State& state, Shape s, bool pairs, bool transitions = true) {
  // Arg 0: the block size compute_stats streams with; otherwise that many tokens.
  TraceHeader shape;
  shape.num_layers = s.layers;
  shape.top_k = s.top_k;
  shape.num_experts = s.experts;
  const uint64_t n = state.range(0)
                         ? static_cast<uint64_t>(state.range(0))
                         : stats_block_tokens(shape, default_chunk_tokens(s.layers, s.top_k));
  const Trace t = make_bench_trace(s, n, 1);
  StatsOptions opt;
  opt.pairs = pairs;
  opt.transitions = transitions;
  StatsAccumulator acc(t.header, t.requests, opt);
  for (auto _ : state) acc.add(t.tokens);
  benchmark::DoNotOptimize(acc.stats().tokens);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(n) * s.layers);
  state.SetLabel(std::to_string(n) + " tokens/block");
}

// Trace files are written once per process and removed at exit.
class TempTraces {
 public:
  ~TempTraces() {
    for (auto& [name, path] : paths_) std::remove(path.c_str());
  }
  const std::string& get(const Shape& s, uint64_t tokens) {
    auto it = paths_.find(s.name);
    if (it != paths_.end()) return it->second;
    const std::string path = "/tmp/epbench-bench-stats-" + std::string(s.name) + "-" +
                             std::to_string(static_cast<long>(getpid())) + ".h5";
    write_trace(path, make_bench_trace(s, tokens, 2));
    return paths_[s.name] = path;
  }

 private:
  std::map<std::string, std::string> paths_;
};

TempTraces& temp_traces() {
  static TempTraces t;
  return t;
}

void BM_StatsFile(benchmark::State& state, Shape s, uint64_t tokens) {
  const TraceReader reader(temp_traces().get(s, tokens));
  StatsOptions opt;
  opt.progress = false;
  for (auto _ : state) benchmark::DoNotOptimize(compute_stats(reader, opt).tokens);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(tokens) * s.layers);
}

// The read alone (HDF5, decompression, validation), same blocks: the I/O share of BM_StatsFile.
void BM_StatsFileReadOnly(benchmark::State& state, Shape s, uint64_t tokens) {
  const TraceReader reader(temp_traces().get(s, tokens));
  const uint64_t block = stats_block_tokens(reader.header(), reader.chunk_tokens());
  for (auto _ : state)
    reader.for_each_block([](const TokenBlock& b) { benchmark::DoNotOptimize(b.size()); }, block);
  state.SetItemsProcessed(state.iterations() * static_cast<int64_t>(tokens) * s.layers);
}

BENCHMARK_CAPTURE(BM_StatsAdd, mixtral_8x7b, kMixtral, true)->Arg(0)->Arg(131072);
BENCHMARK_CAPTURE(BM_StatsAdd, mixtral_8x7b_no_pairs, kMixtral, false)->Arg(0);
// 1129 tokens: one HDF5 chunk of the file (about 1 MiB of ids).
BENCHMARK_CAPTURE(BM_StatsAdd, deepseek_v3, kDeepSeek, true)->Arg(0)->Arg(1129)->Arg(4096);
BENCHMARK_CAPTURE(BM_StatsAdd, deepseek_v3_no_pairs, kDeepSeek, false)->Arg(0);
BENCHMARK_CAPTURE(BM_StatsAdd, deepseek_v3_loads_only, kDeepSeek, false, false)->Arg(0);
BENCHMARK_CAPTURE(BM_StatsAdd, deepseek_v3_no_transitions, kDeepSeek, true, false)->Arg(0);
BENCHMARK_CAPTURE(BM_StatsFile, mixtral_8x7b, kMixtral, 200000)->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_StatsFile, deepseek_v3, kDeepSeek, 50000)->Unit(benchmark::kMillisecond);

}  // namespace
}  // namespace epbench

namespace epbench {
namespace {
BENCHMARK_CAPTURE(BM_StatsFileReadOnly, mixtral_8x7b, kMixtral, 200000)
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_StatsFileReadOnly, deepseek_v3, kDeepSeek, 50000)
    ->Unit(benchmark::kMillisecond);
}  // namespace
}  // namespace epbench
