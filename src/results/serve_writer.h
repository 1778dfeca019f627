#pragma once
// Writing a served run into a results file (docs/formats.md "Served runs"): one group per run
// under runs/, with the layout's attributes, the serving options, the summary, and the
// per-request and per-step datasets.
#include <hdf5.h>

#include "results/results_writer.h"
#include "results/serve_result.h"

namespace epbench {

// The options a served run was made with (attributes of its group).
struct ServingAttrs {
  std::string policy, arrival, step_cost, priced_model;
  double rate = 0, cv = 0, think_time = 0, slo_ttft = 0, slo_tpot = 0;
  int64_t users = 0, token_budget = 0, max_running = 0, seed = 0;
  int64_t fixed_prompt_tokens = 0, fixed_output_tokens = 0;
  double step_overhead = 0, kv_capacity_tokens = 0, memory_fraction = 0;
};

void write_serve_run(hid_t runs, const ServeRun& run, const ConfigAttrs& config,
                     const ServingAttrs& serving);

}  // namespace epbench
