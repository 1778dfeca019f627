#pragma once
// `epbench evaluate` (docs/evaluate.md): replays the held-out part of a trace through static
// batching, request allocation, routing and each layout, prices every layer of every step with
// the cost model, and writes a results file (DESIGN.md "Results").
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "costmodel/cost_model.h"
#include "model/cluster.h"
#include "placement/layout.h"
#include "routing/batching.h"
#include "routing/routing.h"
#include "trace/trace.h"

namespace epbench {

inline constexpr const char* kResultsFormat = "epbench-results";
inline constexpr int kResultsVersion = 1;

struct EvaluateConfig {
  std::string trace;
  uint64_t test_begin = 0, test_end = 0;  // token range scored, [begin, end)
  std::vector<std::string> layouts;
  std::string cluster = "h800";      // preset or JSON file
  int nodes = 0, gpus_per_node = 0;  // 0: the layouts' shape
  std::vector<RoutingPolicy> routings{RoutingPolicy::kFirst};
  AllocationPolicy allocation = AllocationPolicy::kRoundRobin;
  BatchingPolicy batching = BatchingPolicy::kFifo;
  std::vector<int> batch_sizes{1, 8, 64, 256};
  uint64_t prefill_chunk = 2048;  // 0: decode tokens only
  uint64_t max_steps = 0;         // per configuration, 0: all
  CostOptions cost;
  std::string command_line;
  std::string output;
  bool progress = true;
};

struct RunSummary {
  uint64_t steps = 0, tokens = 0;
  double total_time = 0, tokens_per_s = 0;
  double step_time_mean = 0, step_time_p50 = 0, step_time_p99 = 0;
  double comm_share = 0;                  // (dispatch + combine) / step time, over the run
  double imbalance = 0;                   // sum of max over sum of mean GPU pairs, per layer
  double other_node_bytes_per_token = 0;  // all layers, dispatch plus combine
  double lower_bound_time = 0;            // sum over steps of the placement-free lower bound
  double gap_to_lower_bound = 0;          // total_time / lower_bound_time (>= 1)
};

// One configuration: a layout, a routing policy and a batch size, priced step by step.
struct RunResult {
  std::string name, layout_path, algorithm;
  RoutingPolicy routing = RoutingPolicy::kFirst;
  int batch_size = 0;
  size_t steps = 0, layers = 0, gpus = 0, experts = 0;
  std::vector<double> dispatch, compute, combine;           // [S, L, G] seconds
  std::vector<uint64_t> bytes_same_node, bytes_other_node;  // [S, L, G] sent
  std::vector<uint32_t> tokens_per_gpu;                     // [S, L, G] pairs computed
  std::vector<uint32_t> experts_active;                     // [S, L, G] experts with tokens
  std::vector<uint64_t> tokens_per_expert;                  // [L, E]
  std::vector<double> step_time;                            // [S]
  std::vector<double> step_lower_bound;                     // [S] any placement and routing
  std::vector<uint32_t> step_tokens;                        // [S]
  std::vector<uint8_t> step_prefill;                        // [S]
  RunSummary summary;
};

// The evaluator's core, reusable: prices steps [first_step, last_step) of `plan` over `tokens`
// with one layout's replicas. out's [S, L, G] and [S] arrays hold those steps only (so long runs
// go chunk by chunk); out.tokens_per_expert accumulates across calls. Token indices of the plan
// refer to `tokens`.
void evaluate_plan(const TokenBlock& tokens, const StepPlan& plan,
                   const std::vector<LayerReplicas>& replicas, const CostModel& cost,
                   Router& router, RunResult& out, size_t first_step = 0,
                   size_t last_step = SIZE_MAX);

// Summaries built chunk by chunk.
struct SummaryParts {
  uint64_t tokens = 0;
  double comm = 0, max_pairs = 0, mean_pairs = 0, other_bytes = 0, lower_bound = 0;
  std::vector<double> step_time;
};
void accumulate(const RunResult& chunk, SummaryParts& parts);
RunSummary finish_summary(const SummaryParts& parts);
RunSummary summarize(const RunResult& r);  // one chunk holding the whole run

// Runs the whole job and writes cfg.output atomically; returns the runs with their summaries
// (the per-step datasets dropped once written).
std::vector<RunResult> run_evaluate(const EvaluateConfig& cfg);

}  // namespace epbench
