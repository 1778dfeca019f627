#pragma once
// One served run (docs/serve.md): requests arrive, wait, are admitted to a home GPU, are
// prefilled and decoded step by step until done. Time advances one priced step at a time;
// between steps the scheduler decides the next one.
#include <cstdint>
#include <vector>

#include "results/serve_result.h"
#include "routing/batching.h"
#include "sim/scheduler.h"
#include "sim/serve_cost.h"
#include "sim/serve_state.h"
#include "sim/step_pricer.h"

namespace epbench {

// Closed loop: `users` requests start at once; each finish issues the next request
// `think_s` later, until every request has run. users == 0: the shapes' arrival times hold.
struct ClosedLoop {
  int users = 0;
  double think_s = 0;
};

struct ServeSimInputs {
  const TokenBlock& tokens;
  const std::vector<RequestSpan>& spans;  // trace requests, indexed by RequestShape
  const DeploymentCost& deployment;
  int gpus = 0;
  ClosedLoop closed;
  bool per_gpu_kv = false;       // keep ServedSteps::kv_per_gpu
  bool record_schedule = false;  // keep ServeRun::schedule (serve --schedule-out)
  bool progress = false;         // a progress line over the requests (one run at a time only)
};

// Runs `state`'s requests to the end; returns requests and steps (the summary is left to
// results/serve_summary.h).
ServeRun simulate_serving(const ServeSimInputs& in, ServeState& state, Scheduler& scheduler,
                          StepPricer& pricer);

// The trace token computing context position `pos` of a request of `prompt` tokens replaying
// `span`: prompt positions cycle through the span's prompt, later ones through its decode
// tokens (its prompt when it has none). Exact when the lengths are the trace request's.
uint64_t context_token(const RequestSpan& span, uint32_t prompt, uint32_t pos);

}  // namespace epbench
