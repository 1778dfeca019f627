#pragma once
// One configuration's results (a layout, a routing policy and a batch size): its [S, L, G]
// cubes and [S] step series as the results format stores them (docs/formats.md), and its
// summary. Written by `evaluate` (predicted) and `run` (measured, and predicted beside it).
#include <cstddef>
#include <cstdint>
#include <string>
#include <vector>

#include "routing/routing.h"

namespace epbench {

struct ConfigSummary {
  uint64_t steps = 0, tokens = 0;
  double total_time = 0, tokens_per_s = 0;
  double step_time_mean = 0, step_time_p50 = 0, step_time_p99 = 0;
  double comm_share = 0;                  // (dispatch + combine) / step time, over the run
  double imbalance = 0;                   // sum of max over sum of mean GPU pairs, per layer
  double other_node_bytes_per_token = 0;  // all layers, dispatch plus combine
  double lower_bound_time = 0;            // sum over steps of the placement-free lower bound
  double gap_to_lower_bound = 0;          // total_time / lower_bound_time (>= 1)
};

struct ConfigResult {
  std::string name;    // the group under /runs: <layout>.<routing>.b<B>
  std::string layout;  // the layout's display name (scenario/layouts.h)
  std::string layout_path, algorithm;
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
  // Per step, the sum over layers of each phase's slowest GPU (what the cubes reduce to).
  std::vector<double> step_dispatch, step_compute, step_combine;  // [S]
  // Per layer and GPU, sums over the run of tokens_per_gpu and the bytes cubes (evaluate).
  std::vector<uint64_t> total_pairs, total_bytes_same_node, total_bytes_other_node;  // [L, G]
  ConfigSummary summary;
};

}  // namespace epbench
