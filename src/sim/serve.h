#pragma once
// `epbench serve` (docs/serve.md): many requests at once on each layout. For every layout x
// routing x scheduling policy x arrival rate, simulates arrivals, KV-bounded admission,
// continuous batching and preemption, prices each step, and writes a results file with the
// per-request and per-step datasets and a summary (TTFT, TPOT, goodput).
#include <vector>

#include "results/serve_result.h"
#include "sim/serve_options.h"

namespace epbench {

// Refuses bad options before any file is read (OptionError naming the option).
void check_serve_options(const ServeOptions& opt);

// Runs every configuration and writes opt.output atomically; returns the runs with their
// summaries (their datasets dropped once written).
std::vector<ServeRun> run_serve(const ServeOptions& opt);

}  // namespace epbench
