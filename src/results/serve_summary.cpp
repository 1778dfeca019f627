#include "results/serve_summary.h"

#include <algorithm>
#include <cmath>

#include "common/numeric.h"

namespace epbench {

namespace {

// A run is saturated when, at its last arrival, more than this share of its requests still
// waits for admission: the queue grew with time (a stable queue holds about rate x wait).
constexpr double kSaturatedBacklog = 0.05;

// Nearest-rank percentiles of one sorted sample.
struct Sorted {
  explicit Sorted(std::vector<double> v) : v_(std::move(v)) { std::sort(v_.begin(), v_.end()); }
  double at(double q) const {
    if (v_.empty()) return 0;
    const size_t rank = static_cast<size_t>(std::ceil(q * dbl(v_.size())));
    return v_[std::clamp<size_t>(rank, 1, v_.size()) - 1];
  }
  std::vector<double> v_;
};

void latency_percentiles(const ServedRequests& q, ServeSummary& m) {
  std::vector<double> ttft, tpot, e2e, itl;
  for (size_t r = 0; r < q.size(); ++r) {
    ttft.push_back(q.first_token[r] - q.arrival[r]);
    e2e.push_back(q.finish[r] - q.arrival[r]);
    if (q.output[r] > 1) tpot.push_back(request_tpot(q, r));
    for (uint64_t t = q.token_offset[r] + 1; t < q.token_offset[r + 1]; ++t)
      itl.push_back(q.token_time[t] - q.token_time[t - 1]);
  }
  const Sorted a(std::move(ttft)), b(std::move(tpot)), c(std::move(e2e)), d(std::move(itl));
  m.ttft_p50 = a.at(0.5), m.ttft_p90 = a.at(0.9), m.ttft_p99 = a.at(0.99);
  m.tpot_p50 = b.at(0.5), m.tpot_p90 = b.at(0.9), m.tpot_p99 = b.at(0.99);
  m.e2e_p50 = c.at(0.5), m.e2e_p90 = c.at(0.9), m.e2e_p99 = c.at(0.99);
  m.itl_p50 = d.at(0.5), m.itl_p99 = d.at(0.99);
}

// Requests queued (arrived, not admitted) at the last arrival, as a share of all.
double backlog_at_last_arrival(const ServedRequests& q) {
  const double last = *std::max_element(q.arrival.begin(), q.arrival.end());
  size_t open = 0;
  for (size_t r = 0; r < q.size(); ++r) open += q.admitted[r] > last ? 1 : 0;
  return dbl(open) / dbl(q.size());
}

}  // namespace

double request_tpot(const ServedRequests& q, size_t r) {
  return q.output[r] > 1 ? (q.finish[r] - q.first_token[r]) / (q.output[r] - 1) : 0;
}

bool meets_slo(const ServedRequests& q, size_t r, const SloLimits& slo) {
  const bool ttft = slo.ttft_s <= 0 || q.first_token[r] - q.arrival[r] <= slo.ttft_s;
  const bool tpot = slo.tpot_s <= 0 || request_tpot(q, r) <= slo.tpot_s;
  return ttft && tpot;
}

ServeSummary summarize_serving(const ServedRequests& q, const ServedSteps& s,
                               const SloLimits& slo) {
  ServeSummary m;
  m.requests = q.size();
  m.steps = s.size();
  if (q.size() == 0) return m;
  const double first = *std::min_element(q.arrival.begin(), q.arrival.end());
  const double last_arrival = *std::max_element(q.arrival.begin(), q.arrival.end());
  const double end = *std::max_element(q.finish.begin(), q.finish.end());
  m.duration = end - first;
  double sojourn = 0, wait = 0;
  size_t good = 0;
  for (size_t r = 0; r < q.size(); ++r) {
    m.preemptions += q.preemptions[r];
    m.output_tokens += q.output[r], m.prompt_tokens += q.prompt[r];
    sojourn += q.finish[r] - q.arrival[r];
    wait += q.admitted[r] - q.arrival[r];
    good += meets_slo(q, r, slo) ? 1 : 0;
  }
  const double T = m.duration > 0 ? m.duration : 1;
  m.offered_rate = last_arrival > first ? dbl(q.size() - 1) / (last_arrival - first) : 0;
  m.request_throughput = dbl(q.size()) / T;
  m.output_tokens_per_s = dbl(m.output_tokens) / T;
  m.total_tokens_per_s = dbl(m.output_tokens + m.prompt_tokens) / T;
  latency_percentiles(q, m);
  m.wait_mean = wait / dbl(q.size());
  m.slo_attainment = dbl(good) / dbl(q.size());
  m.goodput = dbl(good) / T;
  double area = 0;
  for (double a : s.occupancy) area += a;
  m.mean_in_system = area / T;
  m.mean_time_in_system = sojourn / dbl(q.size());
  for (double k : s.kv_max) m.kv_peak = std::max(m.kv_peak, k);
  m.saturated = m.offered_rate > 0 && backlog_at_last_arrival(q) > kSaturatedBacklog;
  return m;
}

}  // namespace epbench
