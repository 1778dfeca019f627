#pragma once
// The options of one `epbench serve` job (docs/serve.md): what is served (trace, layouts,
// priced model), how requests arrive, how they are scheduled, and how steps are priced.
#include <cstdint>
#include <string>
#include <vector>

#include "costmodel/cost_model.h"
#include "results/serve_summary.h"
#include "routing/allocation.h"
#include "routing/routing.h"
#include "sim/arrivals.h"

namespace epbench {

// Named scheduling policies (docs/serve.md "Scheduling").
enum class SchedulePolicy { kFcfs, kChunked, kDecodeFirst, kSloAware };
std::vector<std::string> schedule_names();
SchedulePolicy parse_schedule(const std::string& name);  // OptionError of field "policy"
const char* schedule_name(SchedulePolicy p);

// How a step is priced: `full` is the serving model, `moe` the MoE layers only (as `evaluate`
// prices a step), `constant` every step costs step_overhead (queueing-theory checks).
enum class StepCostKind { kFull, kMoe, kConstant };
std::vector<std::string> step_cost_names();
StepCostKind parse_step_cost(const std::string& name);  // OptionError of field "step-cost"
const char* step_cost_name(StepCostKind k);

struct ScheduleLimits {
  uint64_t token_budget = 8192;  // tokens per step, all GPUs together
  uint32_t max_running = 0;      // requests admitted at once, 0: only KV limits
};

struct ServeOptions {
  std::string trace;
  uint64_t begin = 0, end = 0;  // token range whose requests are served
  std::vector<std::string> layouts;
  std::string cluster = "h800";
  int nodes = 0, gpus_per_node = 0;
  std::string model;  // priced model: preset or spec file; empty: the trace's model
  std::vector<RoutingPolicy> routings{RoutingPolicy::kFirst};
  AllocationPolicy allocation = AllocationPolicy::kRoundRobin;
  std::vector<SchedulePolicy> policies{SchedulePolicy::kChunked};
  ScheduleLimits limits;
  SloLimits slo;  // 0: no target
  // Arrivals: spec.rate is replaced by each of `rates` in turn (poisson and gamma).
  ArrivalSpec arrivals;
  std::vector<double> rates;
  uint32_t prompt_tokens = 0, output_tokens = 0;  // fixed lengths; 0: the trace request's
  StepCostKind step_cost = StepCostKind::kFull;
  double step_overhead_s = -1;    // < 0: the cluster's
  double kv_capacity_tokens = 0;  // per GPU; 0: from HBM minus weights
  double memory_fraction = 0.9;   // of HBM usable for weights and KV (vLLM's default)
  CostOptions cost;
  std::string command_line;
  std::string output;
  std::string schedule_out;  // one configuration's step schedule (sim/schedule_file.h)
  bool per_gpu_kv = false;   // write steps/kv_per_gpu [S, G]
  bool progress = true;
};

}  // namespace epbench
