#pragma once
// `epbench evaluate` (docs/evaluate.md): replays a token range of a trace through static
// batching, request allocation, routing and each layout, prices every layer of every step with
// the cost model (sim/price_step.h), and writes a results file (results/, docs/formats.md).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "costmodel/cost_model.h"
#include "placement/layout.h"
#include "results/config_result.h"
#include "routing/allocation.h"
#include "routing/batching.h"
#include "routing/routing.h"
#include "trace/trace.h"

namespace epbench {

// The options of one `evaluate` job; their names match `run`'s (runtime/run_options.h).
struct EvaluateOptions {
  std::string trace;
  uint64_t begin = 0, end = 0;  // token range replayed, [begin, end)
  std::vector<std::string> layouts;
  std::string cluster = "h800";      // preset or JSON file
  int nodes = 0, gpus_per_node = 0;  // 0: the layouts' shape
  std::vector<RoutingPolicy> routings{RoutingPolicy::kFirst};
  AllocationPolicy allocation = AllocationPolicy::kRoundRobin;
  BatchingPolicy batching = BatchingPolicy::kFifo;
  std::vector<int> batch_sizes{1, 8, 64, 256};
  uint64_t prefill_chunk = 2048;  // 0: decode tokens only
  uint64_t max_steps = 0;         // at most this many steps per configuration, 0: all
  CostOptions cost;
  // Expert sizes the steps are priced at; 0: the trace's (--price-as MODEL sets both).
  int d_model = 0, d_ff = 0;
  std::string command_line;
  std::string output;
  bool progress = true;
  bool cubes = false;  // also write the [S, L, G] cubes (large: S * L * G * 48 bytes)
  int threads = 0;     // threads pricing steps, 0: one per core; results do not depend on it
};

// Prices steps [first_step, last_step) of `plan` over `tokens` with one layout's replicas.
// One thread, as `run` and the benchmark need; run_evaluate prices steps in parallel.
// out's [S, L, G] and [S] arrays hold those steps only (so long runs go chunk by chunk);
// out.tokens_per_expert accumulates across calls. Token indices of the plan refer to `tokens`.
void evaluate_plan(const TokenBlock& tokens, const StepPlan& plan,
                   const std::vector<LayerReplicas>& replicas, const CostModel& cost,
                   Router& router, ConfigResult& out, size_t first_step = 0,
                   size_t last_step = SIZE_MAX);

// Runs the whole job and writes opt.output atomically; returns the configurations with their
// summaries (the per-step datasets dropped once written).
std::vector<ConfigResult> run_evaluate(const EvaluateOptions& opt);

}  // namespace epbench
