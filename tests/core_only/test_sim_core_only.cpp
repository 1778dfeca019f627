// The simulator from epbench_core alone: evaluate a layout on a small trace and read the
// results back. Linked without epbench_runtime; check_no_mpi.cmake asserts that its
// dependencies hold no MPI, CUDA or NCCL library.
#include <gtest/gtest.h>

#include <numeric>

#include "placement/layout.h"
#include "results/results_reader.h"
#include "sim/evaluate.h"
#include "test_util.h"
#include "trace/trace_io.h"

namespace epbench {
namespace {

// 2 nodes x 2 GPUs, two experts each, for the test trace's 2 layers x 8 experts.
Layout blocks_layout() {
  Layout l;
  l.model = "test-model";
  l.num_layers = 2, l.num_experts = 8;
  l.nodes = 2, l.gpus_per_node = 2, l.slots_per_gpu = 2;
  l.algorithm = "round-robin";
  for (int layer = 0; layer < 2; ++layer) {
    LayerPlacement p;
    p.gpu_experts.resize(4);
    for (uint16_t e = 0; e < 8; ++e) p.gpu_experts[e / 2].push_back(e);
    l.layers.push_back(p);
  }
  return l;
}

TEST(CoreOnly, EvaluatesAndReadsBack) {
  test::ScratchDir dir;
  EvaluateOptions opt;
  opt.trace = dir.path("t.h5");
  opt.layouts = {dir.path("blocks.json")};
  opt.output = dir.path("results.h5");
  opt.cluster = "h100";
  opt.batch_sizes = {2};
  opt.progress = false;
  write_trace(opt.trace, test::make_trace(6, 8, 2, 8, 2, true));
  write_layout(opt.layouts[0], blocks_layout());
  opt.begin = 0, opt.end = 48;
  const std::vector<ConfigResult> configs = run_evaluate(opt);
  ASSERT_EQ(configs.size(), 1u);
  EXPECT_EQ(configs[0].summary.tokens, 48u);

  const ResultsReader reader(opt.output);
  ASSERT_EQ(reader.config_names(), std::vector<std::string>{"blocks.first.b2"});
  const ConfigResult r = reader.config("blocks.first.b2").read_all();
  EXPECT_EQ(r.layers, 2u);
  EXPECT_EQ(r.gpus, 4u);
  // Every token's k = 2 pairs are computed once in each layer (the [L, G] totals: evaluate
  // writes no [S, L, G] cubes unless asked).
  const uint64_t pairs = std::accumulate(r.total_pairs.begin(), r.total_pairs.end(), uint64_t{0});
  EXPECT_EQ(pairs, 48u * 2 * 2);
  EXPECT_EQ(std::accumulate(r.step_tokens.begin(), r.step_tokens.end(), uint64_t{0}), 48u);
}

}  // namespace
}  // namespace epbench
