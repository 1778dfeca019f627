#pragma once
// The summary of a served run (docs/serve.md "Metrics"): throughput, latency percentiles,
// SLO attainment and goodput (DistServe), Little's-law terms and saturation.
#include "results/serve_result.h"

namespace epbench {

struct SloLimits {
  double ttft_s = 0, tpot_s = 0;  // 0: not constrained
};

// TPOT of request r: (finish - first token) / (output - 1); 0 for one-token outputs.
double request_tpot(const ServedRequests& q, size_t r);
// Whether request r met both SLOs (a one-token output has no TPOT to miss).
bool meets_slo(const ServedRequests& q, size_t r, const SloLimits& slo);

ServeSummary summarize_serving(const ServedRequests& q, const ServedSteps& s, const SloLimits& slo);

}  // namespace epbench
