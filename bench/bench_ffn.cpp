// The expert FFN backends (runtime/ffn_backend.h) alone: at large batch in TFLOP/s (6 d_model
// d_ff FLOP per token), at one token in weight bytes read per second (the decode bound), for
// OpenBLAS and, where a GPU is usable, cuBLAS in fp32 and bf16. `forward` is what `run` pays
// (rows staged host <-> device on the GPU); `gemms` the GEMMs alone on device buffers.
// BM_FfnGroup is the grouped call `run` makes: E experts with T tokens each in one
// forward_group (one copy each way, grouped GEMMs on the GPU), with the GPU's phase times.
// Sizes: EPBENCH_FFN_D_MODEL x EPBENCH_FFN_D_FF (default 1024 x 3584; gpu-check.sh uses
// Mixtral's 4096 x 14336). Two experts alternate, so weights come from memory, not cache, as
// long as one expert exceeds the last-level cache.
#include <benchmark/benchmark.h>

#include <cstdlib>
#include <memory>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

#include "runtime/ffn_backend.h"
#include "runtime/seeded_values.h"

namespace epbench {
namespace {

int env_int(const char* name, int fallback) {
  const char* v = std::getenv(name);
  return v ? std::atoi(v) : fallback;
}

struct Sizes {
  int d = env_int("EPBENCH_FFN_D_MODEL", 1024), f = env_int("EPBENCH_FFN_D_FF", 3584);
};

enum Kind { kCpu = 0, kCudaFp32 = 1, kCudaBf16 = 2 };
constexpr size_t kExperts = 2;

// The backend with `experts` seeded experts loaded, or null with the reason (no GPU, ...).
std::unique_ptr<FfnBackend> make_loaded(Kind kind, const Sizes& s, std::string& why,
                                        size_t experts = kExperts) {
  std::unique_ptr<FfnBackend> b;
  try {
    b = kind == kCpu ? make_cpu_backend(s.d, s.f, experts, 1)
                     : make_cuda_backend(s.d, s.f, experts, 0, kind == kCudaBf16);
  } catch (const std::runtime_error& e) {
    why = e.what();
    return nullptr;
  }
  const DType dt = kind == kCudaBf16 ? DType::kBf16 : DType::kFp32;
  // One seeded expert in every shard: each shard still has its own memory, and generating
  // the weights is what takes the time at Mixtral's sizes.
  ExpertWeightsF32 w;
  make_expert_weights(1, 0, 0, s.d, s.f, dt, w);
  for (size_t e = 0; e < experts; ++e) b->load(e, w.gate.data(), w.up.data(), w.down.data());
  return b;
}

// TFLOP/s and weight bytes read per second of `experts` experts with n tokens each.
void set_rates(benchmark::State& state, Kind kind, const Sizes& s, size_t experts, size_t n) {
  const double flops = 6.0 * s.d * s.f * double(n) * double(experts);
  const double weight_bytes = 3.0 * s.d * s.f * (kind == kCudaBf16 ? 2 : 4) * double(experts);
  state.counters["TFLOP"] =
      benchmark::Counter(flops / 1e12, benchmark::Counter::kIsIterationInvariantRate);
  state.counters["weights_TB"] =
      benchmark::Counter(weight_bytes / 1e12, benchmark::Counter::kIsIterationInvariantRate);
}

// Args: kind, tokens, 0 = forward / 1 = gemms only.
void BM_Ffn(benchmark::State& state) {
  const Sizes s;
  const auto kind = static_cast<Kind>(state.range(0));
  const auto n = static_cast<size_t>(state.range(1));
  const bool gemms_only = state.range(2) == 1;
  std::string why;
  const std::unique_ptr<FfnBackend> b = make_loaded(kind, s, why);
  if (!b) {
    state.SkipWithError(why.c_str());
    return;
  }
  b->reserve_rows(n);
  std::vector<float> x(n * size_t(s.d), 0.25f), y(x.size());
  size_t e = 0;
  for (auto _ : state) {
    if (gemms_only)
      b->raw_gemms(e, n);
    else
      b->forward(e, x.data(), n, y.data());
    e = (e + 1) % kExperts;
  }
  set_rates(state, kind, s, 1, n);
  state.SetLabel(b->name() + (gemms_only ? " gemms" : " forward") + " d" + std::to_string(s.d) +
                 "x" + std::to_string(s.f));
}

void FfnArgs(benchmark::internal::Benchmark* b) {
  for (int kind : {kCpu, kCudaFp32, kCudaBf16})
    for (int tokens : {1, 256, 4096})
      for (int gemms : {0, 1}) b->Args({kind, tokens, gemms});
}
BENCHMARK(BM_Ffn)->Apply(FfnArgs)->Unit(benchmark::kMillisecond)->UseRealTime();

// Args: kind, experts, tokens per expert.
void BM_FfnGroup(benchmark::State& state) {
  const Sizes s;
  const auto kind = static_cast<Kind>(state.range(0));
  const auto experts = static_cast<size_t>(state.range(1));
  const auto n = static_cast<size_t>(state.range(2));
  std::string why;
  const std::unique_ptr<FfnBackend> b = make_loaded(kind, s, why, experts);
  if (!b) {
    state.SkipWithError(why.c_str());
    return;
  }
  ExpertGroup g;
  g.width = size_t(s.d);
  for (size_t e = 0; e < experts; ++e) g.add(e, n);
  b->reserve_rows(experts * n);
  std::vector<float> x(experts * n * size_t(s.d), 0.25f), y(x.size());
  for (auto _ : state) b->forward_group(g, x.data(), y.data());
  set_rates(state, kind, s, experts, n);
  const FfnPhaseTimes t = b->last_phase_times();  // the last call's, device time
  if (t.known)
    for (const auto& [name, sec] :
         {std::pair{"h2d_us", t.h2d}, std::pair{"gate_up_us", t.gate_up},
          std::pair{"act_us", t.act}, std::pair{"down_us", t.down}, std::pair{"d2h_us", t.d2h}})
      state.counters[name] = sec * 1e6;
  state.SetLabel(b->name() + " group d" + std::to_string(s.d) + "x" + std::to_string(s.f));
}

// The GPU at 8 experts (a rank's share of a layer), the CPU at small sizes only (a 4,096-token
// group takes seconds on it).
void FfnGroupArgs(benchmark::internal::Benchmark* b) {
  for (int tokens : {1, 256}) b->Args({kCpu, 2, tokens});
  for (int kind : {kCudaFp32, kCudaBf16})
    for (int tokens : {1, 256, 4096}) b->Args({kind, 8, tokens});
}
BENCHMARK(BM_FfnGroup)->Apply(FfnGroupArgs)->Unit(benchmark::kMillisecond)->UseRealTime();

}  // namespace
}  // namespace epbench
