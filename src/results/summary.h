#pragma once
// A configuration's summary (the attributes beside its datasets), built chunk by chunk so long
// runs never hold all their steps at once.
#include <cstdint>
#include <vector>

#include "results/config_result.h"

namespace epbench {

struct SummaryParts {
  uint64_t tokens = 0;
  double comm = 0, max_pairs = 0, mean_pairs = 0, other_bytes = 0, lower_bound = 0;
  std::vector<double> step_time;
};
void accumulate(const ConfigResult& chunk, SummaryParts& parts);
ConfigSummary finish_summary(const SummaryParts& parts);
ConfigSummary summarize(const ConfigResult& r);  // one chunk holding the whole run

// Nearest-rank percentile of unsorted values.
double percentile(std::vector<double> v, double q);

}  // namespace epbench
