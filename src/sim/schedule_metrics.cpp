#include "sim/schedule_metrics.h"

#include <algorithm>
#include <cmath>
#include <cstdint>

#include "common/strprintf.h"
#include "results/summary.h"

namespace epbench {

namespace {

// Per request, when its output tokens came: the ends of the steps whose items produced them.
struct TokenTimes {
  std::vector<double> first, last;
  std::vector<uint32_t> count;
};

TokenTimes token_times(const ScheduleFile& s, const std::vector<double>& step_end) {
  TokenTimes t{std::vector<double>(s.requests(), -1), std::vector<double>(s.requests(), -1),
               std::vector<uint32_t>(s.requests(), 0)};
  const ScheduledSteps& st = s.steps;
  for (size_t k = 0; k < st.steps(); ++k)
    for (uint64_t i = st.item_offset[k]; i < st.item_offset[k + 1]; ++i) {
      if (!st.produces[i]) continue;
      const uint32_t r = st.request[i];
      if (t.count[r]++ == 0) t.first[r] = step_end[k];
      t.last[r] = step_end[k];
    }
  return t;
}

// Per request, the first step that ran any of its tokens.
std::vector<size_t> first_steps(const ScheduleFile& s) {
  std::vector<size_t> first(s.requests(), SIZE_MAX);
  const ScheduledSteps& st = s.steps;
  for (size_t k = st.steps(); k-- > 0;)
    for (uint64_t i = st.item_offset[k]; i < st.item_offset[k + 1]; ++i) first[st.request[i]] = k;
  return first;
}

double tpot(const TokenTimes& t, size_t r) {
  return t.count[r] > 1 ? (t.last[r] - t.first[r]) / (t.count[r] - 1) : std::nan("");
}

double span(const std::vector<double>& arrival, const TokenTimes& t) {
  if (arrival.empty()) return 0;
  return *std::max_element(t.last.begin(), t.last.end()) -
         *std::min_element(arrival.begin(), arrival.end());
}

std::vector<double> finite(const std::vector<double>& v) {
  std::vector<double> out;
  for (double x : v)
    if (std::isfinite(x)) out.push_back(x);
  return out;
}

// Relative errors |m - s| / s of the requests where both are defined and s > 0.
std::vector<double> relative_errors(const std::vector<double>& m, const std::vector<double>& s) {
  std::vector<double> out;
  for (size_t i = 0; i < m.size(); ++i)
    if (std::isfinite(m[i]) && std::isfinite(s[i]) && s[i] > 0)
      out.push_back(std::abs(m[i] - s[i]) / s[i]);
  return out;
}

std::string percentile_row(const char* name, const std::vector<double>& m,
                           const std::vector<double>& s) {
  std::string out = strprintf("%-9s", name);
  for (double q : {0.5, 0.9, 0.99}) {
    const double pm = percentile(finite(m), q), ps = percentile(finite(s), q);
    out +=
        strprintf(" %9.3f %9.3f %+7.1f%%", pm * 1e3, ps * 1e3, ps > 0 ? 100 * (pm - ps) / ps : 0.0);
  }
  const std::vector<double> e = relative_errors(m, s);
  return out +
         strprintf("   %6.1f%% %6.1f%%\n", 100 * percentile(e, 0.5), 100 * percentile(e, 0.9));
}

}  // namespace

std::vector<double> step_ready_times(const ScheduleFile& s) {
  std::vector<double> ready(s.steps.steps(), 0);
  for (size_t k = 0; k < ready.size(); ++k)
    for (uint64_t i = s.steps.item_offset[k]; i < s.steps.item_offset[k + 1]; ++i)
      ready[k] = std::max(ready[k], s.arrival[s.steps.request[i]]);
  return ready;
}

ScheduleComparison compare_schedule(const ScheduleFile& s, std::vector<double> step_start,
                                    std::vector<double> step_end) {
  ScheduleComparison c;
  const TokenTimes m = token_times(s, step_end), p = token_times(s, s.step_end);
  c.arrival = s.arrival;
  const std::vector<size_t> first = first_steps(s);
  for (size_t r = 0; r < s.requests(); ++r) {
    c.ttft_measured.push_back(m.first[r] - s.arrival[r]);
    c.first_step_late.push_back(first[r] < step_start.size()
                                    ? step_start[first[r]] - s.step_start[first[r]]
                                    : std::nan(""));
    c.ttft_simulated.push_back(p.first[r] - s.arrival[r]);
    c.tpot_measured.push_back(tpot(m, r)), c.tpot_simulated.push_back(tpot(p, r));
    c.decode_intervals.push_back(m.count[r] > 0 ? m.count[r] - 1 : 0);
    c.output_tokens += m.count[r];
  }
  c.step_start = std::move(step_start), c.step_end = std::move(step_end);
  c.sim_step_start = s.step_start, c.sim_step_end = s.step_end;
  c.duration_measured = span(s.arrival, m), c.duration_simulated = span(s.arrival, p);
  return c;
}

double own_ttft(const ScheduleComparison& c, size_t r) {
  return c.ttft_measured[r] - c.first_step_late[r];
}

std::string comparison_table(const ScheduleComparison& c) {
  std::string out = strprintf(
      "serving schedule: %zu requests, %zu steps; ms, m = measured here (arrival to the end of "
      "the step that produced the token), s = simulated by serve; err = (m - s) / s\n",
      c.arrival.size(), c.step_end.size());
  out += strprintf("%-9s %9s %9s %8s %9s %9s %8s %9s %9s %8s   %s\n", "metric", "p50 m", "p50 s",
                   "err", "p90 m", "p90 s", "err", "p99 m", "p99 s", "err",
                   "per request |err|: p50 p90");
  out += percentile_row("TTFT", c.ttft_measured, c.ttft_simulated);
  out += percentile_row("TPOT", c.tpot_measured, c.tpot_simulated);
  std::vector<double> own(c.arrival.size());
  for (size_t r = 0; r < own.size(); ++r) own[r] = own_ttft(c, r);
  out += percentile_row("TTFT own", own, c.ttft_simulated);
  const std::vector<double> lateness = finite(c.first_step_late);
  out += strprintf(
      "TTFT own: each request's TTFT less its first step's lateness; that lateness (p50 %.3f, "
      "p90 %.3f ms) is the steps before it running over their simulated times\n",
      1e3 * percentile(lateness, 0.5), 1e3 * percentile(lateness, 0.9));
  const auto rate = [&](double d) { return d > 0 ? static_cast<double>(c.output_tokens) / d : 0; };
  size_t late = 0;
  for (size_t k = 0; k < c.step_start.size(); ++k)
    late += c.step_start[k] > c.sim_step_start[k] ? 1 : 0;
  out += strprintf(
      "throughput: measured %.4g output tok/s (%.4g s), simulated %.4g output tok/s (%.4g s); "
      "%zu of %zu steps started later than simulated\n",
      rate(c.duration_measured), c.duration_measured, rate(c.duration_simulated),
      c.duration_simulated, late, c.step_start.size());
  return out;
}

}  // namespace epbench
