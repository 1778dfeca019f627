#include "cli/validate_report.h"

#include <algorithm>
#include <cmath>
#include <map>
#include <nlohmann/json.hpp>

#include "cli/run_cli.h"
#include "common/strprintf.h"
#include "placement/layout.h"
#include "results/summary.h"

namespace epbench::cli {

namespace {

// The median over rounds of one figure per configuration (or per served request).
template <class F>
double median_over(const std::vector<std::vector<MeasuredConfig>>& rounds, size_t c, F figure) {
  std::vector<double> v;
  for (const auto& round : rounds) v.push_back(figure(round[c]));
  return median_of(v);
}

void append_requests(const std::vector<std::vector<MeasuredConfig>>& rounds, size_t c,
                     Validation& v) {
  const ScheduleComparison& s0 = rounds[0][c].schedule;
  for (size_t i = 0; i < s0.ttft_measured.size(); ++i) {
    v.ttft_m.push_back(median_over(
        rounds, c, [&](const MeasuredConfig& r) { return r.schedule.ttft_measured[i]; }));
    v.tpot_m.push_back(median_over(
        rounds, c, [&](const MeasuredConfig& r) { return r.schedule.tpot_measured[i]; }));
    v.ttft_own_m.push_back(
        median_over(rounds, c, [&](const MeasuredConfig& r) { return own_ttft(r.schedule, i); }));
  }
  v.ttft_s.insert(v.ttft_s.end(), s0.ttft_simulated.begin(), s0.ttft_simulated.end());
  v.tpot_s.insert(v.tpot_s.end(), s0.tpot_simulated.begin(), s0.tpot_simulated.end());
}

// For each layout file of the configurations, the display name of the first layout that
// places as it does (placement/layout.h same_placement).
std::map<std::string, std::string> placement_keys(const std::vector<MeasuredConfig>& configs) {
  std::vector<std::pair<std::string, Layout>> seen;  // display name, layout
  std::map<std::string, std::string> key;
  for (const MeasuredConfig& c : configs) {
    if (key.count(c.layout_path)) continue;
    const Layout layout = read_layout(c.layout_path);
    const auto same = std::find_if(seen.begin(), seen.end(),
                                   [&](const auto& s) { return same_placement(s.second, layout); });
    key[c.layout_path] = same == seen.end() ? c.layout : same->first;
    if (same == seen.end()) seen.emplace_back(c.layout, layout);
  }
  return key;
}

std::vector<double> scaled(std::vector<double> v, double factor) {
  for (double& x : v) x *= factor;
  return v;
}

void adjust_for_drift(Validation& v) {
  std::vector<double> ratios;
  for (const std::vector<DriftPoint>& probe : v.probes)
    for (const DriftPoint& d : probe) ratios.push_back(d.measured_s / d.profiled_s);
  v.drift_factor = median_of(ratios);
  if (std::isnan(v.drift_factor)) return;
  std::vector<double> measured, predicted;
  for (const ValidationPoint& p : v.points) {
    measured.push_back(p.measured_s);
    predicted.push_back(p.predicted_s);
  }
  v.step_time_drift_adjusted = relative_error_stats(measured, scaled(predicted, v.drift_factor));
  v.ttft_drift_adjusted = relative_error_stats(v.ttft_m, scaled(v.ttft_s, v.drift_factor));
  v.tpot_drift_adjusted = relative_error_stats(v.tpot_m, scaled(v.tpot_s, v.drift_factor));
}

std::string rho_text(double rho) {
  return std::isnan(rho) ? "n/a" : strprintf("%.2f", rho);
}

std::string stats_line(const char* what, const ErrorStats& s, const char* over) {
  return strprintf("%s, |p - m| / m over %zu %s: median %s, p90 %s, max %s\n", what, s.count, over,
                   percent(s.median).c_str(), percent(s.p90).c_str(), percent(s.max).c_str());
}

// measured / profiled - 1 of the probe's points, e.g. "+3.1 % +0.4 %".
std::string drift_text(const std::vector<DriftPoint>& points) {
  std::string out;
  for (const DriftPoint& d : points)
    out += strprintf(" %+.1f %%", 100 * (d.measured_s / d.profiled_s - 1));
  return out;
}

std::string drift_lines(const Validation& v) {
  if (v.probes.empty() || v.probes.front().empty()) return "";
  std::string shapes;
  for (const DriftPoint& d : v.probes.front())
    shapes +=
        strprintf(" %lldx%lld", static_cast<long long>(d.active), static_cast<long long>(d.tokens));
  std::string out = "machine against its profile: the expert phase at (experts x tokens)" + shapes +
                    " measured again, over the profile's time - 1: before the runs" +
                    drift_text(v.probes.front()) + ", after" + drift_text(v.probes.back()) +
                    strprintf("; %zu probes, median ratio %.3f\n", v.probes.size(), v.drift_factor);
  out += strprintf(
      "drift-adjusted (every prediction x %.3f, the machine's drift taken out; not the model's "
      "error, which is above):\n",
      v.drift_factor);
  out += "  " + stats_line("step time", v.step_time_drift_adjusted, "configurations");
  if (v.ttft_drift_adjusted.count > 0)
    out += "  " + stats_line("TTFT", v.ttft_drift_adjusted, "requests");
  if (v.tpot_drift_adjusted.count > 0)
    out += "  " + stats_line("TPOT", v.tpot_drift_adjusted, "requests");
  return out;
}

// JSON has no NaN: an undefined figure (TPOT of a one-token request, a Spearman of ties) is null.
nlohmann::ordered_json number_or_null(double x) {
  return std::isnan(x) ? nlohmann::ordered_json() : nlohmann::ordered_json(x);
}

nlohmann::ordered_json stats_json(const ErrorStats& s) {
  return {{"count", s.count},
          {"median", number_or_null(s.median)},
          {"p90", number_or_null(s.p90)},
          {"max", number_or_null(s.max)}};
}

}  // namespace

// Every round ran the same configurations in the same order; the prediction is the same in
// each (the model is deterministic), the measurement is each step's median round.
Validation validate_rounds(const std::vector<std::vector<MeasuredConfig>>& rounds,
                           std::vector<std::vector<DriftPoint>> probes) {
  Validation v;
  v.probes = std::move(probes);
  const std::map<std::string, std::string> placement = placement_keys(rounds[0]);
  v.rounds = static_cast<int>(rounds.size());
  std::vector<std::vector<ValidationPoint>> by_round(rounds.size());  // each round's means
  std::vector<ValidationPoint> halves[2];  // the even rounds' and the odd rounds' measurements
  for (size_t c = 0; c < rounds[0].size(); ++c) {
    const MeasuredConfig& r = rounds[0][c];
    std::vector<double> means;
    std::vector<std::vector<double>> steps;
    for (size_t i = 0; i < rounds.size(); ++i) {
      means.push_back(summarize(rounds[i][c].measured).step_time_mean);
      steps.push_back(rounds[i][c].measured.step_time);
      by_round[i].push_back(
          {r.layout, r.routing, r.batch_size, means.back(), 0, placement.at(r.layout_path)});
    }
    v.points.push_back({r.layout, r.routing, r.batch_size, mean_of_step_medians(steps),
                        summarize(r.predicted).step_time_mean, placement.at(r.layout_path)});
    for (size_t h = 0; h < 2; ++h) {
      std::vector<std::vector<double>> half;
      for (size_t i = h; i < steps.size(); i += 2) half.push_back(steps[i]);
      halves[h].push_back({r.layout, r.routing, r.batch_size, mean_of_step_medians(half), 0,
                           placement.at(r.layout_path)});
    }
    v.spread.push_back(*std::max_element(means.begin(), means.end()) /
                           *std::min_element(means.begin(), means.end()) -
                       1);
    v.tokens_per_step.push_back(mean_step_tokens(r.measured));
    append_requests(rounds, c, v);
  }
  v.summary = summarize_validation(v.points);
  add_round_agreement(by_round, v.summary);
  if (rounds.size() >= 2) add_split_half_agreement(halves[0], halves[1], v.summary);
  v.ttft = relative_error_stats(v.ttft_m, v.ttft_s);
  v.tpot = relative_error_stats(v.tpot_m, v.tpot_s);
  v.ttft_own = relative_error_stats(v.ttft_own_m, v.ttft_s);
  adjust_for_drift(v);
  return v;
}

std::string percent(double x) {
  return std::isnan(x) ? "n/a" : strprintf("%.1f %%", 100 * x);
}

std::string report_text(const Validation& v) {
  std::string out = strprintf("%-20s %-11s %4s %8s %9s %9s %7s %7s\n", "layout", "routing", "B",
                              "tok/step", "step m ms", "step p ms", "error", "spread");
  for (size_t i = 0; i < v.points.size(); ++i) {
    const ValidationPoint& p = v.points[i];
    out += strprintf(
        "%-20s %-11s %4d %8.1f %9.3f %9.3f %7s %7s\n", p.layout.c_str(), p.routing.c_str(),
        p.batch_size, v.tokens_per_step[i], p.measured_s * 1e3, p.predicted_s * 1e3,
        percent(relative_error(p.measured_s, p.predicted_s)).c_str(), percent(v.spread[i]).c_str());
  }
  out += stats_line("step time", v.summary.step_time, "configurations");
  out +=
      "ranking of the placements (layouts that place alike are one, their mean), Spearman of "
      "predicted against measured step times; how well the measurement repeats: rounds, the "
      "median over pairs of rounds of their Spearman; halves, the even rounds against the odd; "
      "exact model, what a model without error would reach against this measurement, "
      "sqrt(2 halves / (1 + halves)) (docs/validate.md):\n";
  for (const RankAgreement& g : v.summary.ranking)
    out += strprintf("  B=%-4d %-11s %2zu placements  %s  (rounds %s, halves %s, exact model %s)\n",
                     g.batch_size, g.routing.c_str(), g.placements, rho_text(g.spearman).c_str(),
                     rho_text(g.rounds_spearman).c_str(), rho_text(g.halves_spearman).c_str(),
                     rho_text(g.exact_model_spearman).c_str());
  // Placing alike is the layouts' own property: the same in every group.
  if (!v.summary.ranking.empty())
    for (const std::string& same : v.summary.ranking[0].same)
      out += "  placed alike: " + same + "\n";
  if (v.ttft.count > 0) out += stats_line("TTFT", v.ttft, "requests");
  if (v.tpot.count > 0) out += stats_line("TPOT", v.tpot, "requests");
  if (v.ttft_own.count > 0)
    out +=
        "  of which the request's own steps (TTFT less its first step's lateness, the steps "
        "before it over their simulated times; not judged by the bars):\n  " +
        stats_line("TTFT own", v.ttft_own, "requests");
  return out + drift_lines(v);
}

std::string report_json(const Validation& v, const RunOptions& cfg, const ClusterSpec& cluster,
                        int world) {
  nlohmann::ordered_json j;
  j["format"] = "epbench-validation";
  j["version"] = 1;
  j["command_line"] = cfg.command_line;
  j["trace"] = cfg.trace;
  j["range"] = {cfg.begin, cfg.end};
  j["world_size"] = world;
  j["cluster"] = cfg.cluster;
  j["cost_model"] = cluster.profile ? "profile" : "roofline";
  j["profile"] = cluster.profile_path;
  j["rounds"] = v.rounds;
  nlohmann::ordered_json configs = nlohmann::ordered_json::array();
  for (size_t i = 0; i < v.points.size(); ++i) {
    const ValidationPoint& p = v.points[i];
    configs.push_back({{"layout", p.layout},
                       {"routing", p.routing},
                       {"batch_size", p.batch_size},
                       {"tokens_per_step", v.tokens_per_step[i]},
                       {"measured_step_s", p.measured_s},
                       {"predicted_step_s", p.predicted_s},
                       {"relative_error", relative_error(p.measured_s, p.predicted_s)},
                       {"measured_spread", v.spread[i]}});
  }
  j["configurations"] = configs;
  j["step_time_error"] = stats_json(v.summary.step_time);
  nlohmann::ordered_json ranking = nlohmann::ordered_json::array();
  for (const RankAgreement& g : v.summary.ranking)
    ranking.push_back({{"batch_size", g.batch_size},
                       {"routing", g.routing},
                       {"layouts", g.layouts},
                       {"placements", g.placements},
                       {"placed_alike", g.same},
                       {"spearman", number_or_null(g.spearman)},
                       {"rounds_spearman", number_or_null(g.rounds_spearman)},
                       {"halves_spearman", number_or_null(g.halves_spearman)},
                       {"exact_model_spearman", number_or_null(g.exact_model_spearman)}});
  j["ranking"] = ranking;
  nlohmann::ordered_json requests = nlohmann::ordered_json::array();
  for (size_t i = 0; i < v.ttft_m.size(); ++i)
    requests.push_back({{"ttft_measured_s", number_or_null(v.ttft_m[i])},
                        {"ttft_simulated_s", number_or_null(v.ttft_s[i])},
                        {"ttft_own_measured_s", number_or_null(v.ttft_own_m[i])},
                        {"tpot_measured_s", number_or_null(v.tpot_m[i])},
                        {"tpot_simulated_s", number_or_null(v.tpot_s[i])}});
  j["requests"] = requests;
  j["ttft_error"] = stats_json(v.ttft);
  j["tpot_error"] = stats_json(v.tpot);
  j["ttft_own_error"] = stats_json(v.ttft_own);
  nlohmann::ordered_json drift = nlohmann::ordered_json::array();
  for (size_t i = 0; !v.probes.empty() && i < v.probes.front().size(); ++i) {
    nlohmann::ordered_json between = nlohmann::ordered_json::array();
    for (size_t r = 1; r + 1 < v.probes.size(); ++r) between.push_back(v.probes[r][i].measured_s);
    drift.push_back({{"active_experts", v.probes.front()[i].active},
                     {"tokens", v.probes.front()[i].tokens},
                     {"profiled_s", v.probes.front()[i].profiled_s},
                     {"before_s", v.probes.front()[i].measured_s},
                     {"between_s", between},
                     {"after_s", v.probes.back()[i].measured_s}});
  }
  j["machine_drift"] = drift;
  j["drift_factor"] = number_or_null(v.drift_factor);
  j["drift_adjusted"] = {{"step_time_error", stats_json(v.step_time_drift_adjusted)},
                         {"ttft_error", stats_json(v.ttft_drift_adjusted)},
                         {"tpot_error", stats_json(v.tpot_drift_adjusted)}};
  return j.dump(2) + "\n";
}

}  // namespace epbench::cli
