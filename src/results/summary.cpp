#include "results/summary.h"

#include <algorithm>
#include <cmath>

#include "common/numeric.h"
#include "results/reductions.h"

namespace epbench {

double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

void accumulate(const ConfigResult& r, SummaryParts& m) {
  for (size_t s = 0; s < r.steps; ++s) {
    m.tokens += r.step_tokens[s];
    m.step_time.push_back(r.step_time[s]);
    m.lower_bound += r.step_lower_bound[s];
    for (size_t l = 0; l < r.layers; ++l) {
      const PhaseTimes slowest = layer_phase_max(r, s, l);
      m.comm += slowest.dispatch + slowest.combine;
      const size_t at = (s * r.layers + l) * r.gpus;
      uint32_t hi = 0;
      uint64_t sum = 0;
      for (size_t g = at; g < at + r.gpus; ++g) {
        hi = std::max(hi, r.tokens_per_gpu[g]), sum += r.tokens_per_gpu[g];
        m.other_bytes += dbl(r.bytes_other_node[g]);
      }
      m.max_pairs += hi;
      m.mean_pairs += dbl(sum) / dbl(r.gpus);
    }
  }
}

ConfigSummary finish_summary(const SummaryParts& p) {
  ConfigSummary m;
  m.steps = p.step_time.size();
  m.tokens = p.tokens;
  if (m.steps == 0) return m;
  for (double t : p.step_time) m.total_time += t;
  m.tokens_per_s = m.total_time > 0 ? dbl(m.tokens) / m.total_time : 0;
  m.step_time_mean = m.total_time / dbl(m.steps);
  m.step_time_p50 = percentile(p.step_time, 0.50);
  m.step_time_p99 = percentile(p.step_time, 0.99);
  m.comm_share = m.total_time > 0 ? p.comm / m.total_time : 0;
  m.imbalance = p.mean_pairs > 0 ? p.max_pairs / p.mean_pairs : 0;
  m.other_node_bytes_per_token = m.tokens ? p.other_bytes / dbl(m.tokens) : 0;
  m.lower_bound_time = p.lower_bound;
  m.gap_to_lower_bound = p.lower_bound > 0 ? m.total_time / p.lower_bound : 0;
  return m;
}

ConfigSummary summarize(const ConfigResult& r) {
  SummaryParts parts;
  accumulate(r, parts);
  return finish_summary(parts);
}

}  // namespace epbench
