// Synthetic trace generation throughput in token-layers per second (docs/benchmarks.md):
// generation alone, and generation plus the HDF5 write.
#include <benchmark/benchmark.h>

#include <unistd.h>
#include <cstdio>
#include <memory>
#include <string>

#include "trace/synth.h"
#include "trace/trace_io.h"

namespace {

using epbench::SynthGenerator;
using epbench::SynthOptions;

// Enough tokens that one benchmark iteration (one block) rarely reaches the end.
std::unique_ptr<SynthGenerator> make_generator(const std::string& model, uint64_t tokens) {
  SynthOptions o;
  o.model = model;
  o.tokens = tokens;
  o.seed = 7;
  return std::make_unique<SynthGenerator>(o);
}

void BM_SynthGenerate(benchmark::State& state, const std::string& model) {
  auto gen = make_generator(model, 4'000'000);
  const size_t block_tokens = 4096;
  epbench::TokenBlock block;
  uint64_t token_layers = 0;
  for (auto _ : state) {
    if (!gen->next_block(block, block_tokens)) {
      gen->rewind();
      gen->next_block(block, block_tokens);
    }
    benchmark::DoNotOptimize(block.expert_ids.data());
    token_layers += block.size() * static_cast<uint64_t>(block.num_layers);
  }
  state.SetItemsProcessed(static_cast<int64_t>(token_layers));
}

void BM_SynthGenerateAndWrite(benchmark::State& state, const std::string& model) {
  const uint64_t tokens = 100'000;
  auto gen = make_generator(model, tokens);
  const std::string path = "/tmp/epbench-bench-synth-" + std::to_string(getpid()) + ".h5";
  const auto& h = gen->header();
  epbench::TokenBlock block;
  for (auto _ : state) {
    gen->rewind();
    epbench::TraceWriter writer(path, h);
    while (gen->next_block(block, epbench::default_chunk_tokens(h.num_layers, h.top_k)))
      writer.append(block);
    writer.finish(gen->requests());
  }
  std::remove(path.c_str());
  state.SetItemsProcessed(static_cast<int64_t>(state.iterations() * tokens * h.num_layers));
}

}  // namespace

BENCHMARK_CAPTURE(BM_SynthGenerate, mixtral_8x7b, std::string("mixtral-8x7b"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SynthGenerate, deepseek_v3, std::string("deepseek-v3"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SynthGenerateAndWrite, mixtral_8x7b, std::string("mixtral-8x7b"))
    ->Unit(benchmark::kMillisecond);
BENCHMARK_CAPTURE(BM_SynthGenerateAndWrite, deepseek_v3, std::string("deepseek-v3"))
    ->Unit(benchmark::kMillisecond);
