// `epbench validate`, launched like `run` (docs/validate.md): runs configurations for real,
// predicts the same steps with the cost model of a machine's cluster file, and reports how far
// apart they are: relative error of the step time (median, p90, max), Spearman's rank
// correlation of the layouts at each batch size and routing, and with --schedule the served
// requests' TTFT and TPOT. Optional bars turn the report into a pass/fail (exit 3).
#include <algorithm>
#include <cmath>
#include <cstdio>
#include <map>
#include <memory>
#include <nlohmann/json.hpp>

#include "cli/cli_common.h"
#include "cli/mpi_command.h"
#include "cli/run_cli.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/numeric.h"
#include "common/strprintf.h"
#include "placement/layout.h"
#include "results/summary.h"
#include "results/validation.h"
#include "runtime/profile_job.h"
#include "runtime/topology.h"

namespace epbench::cli {

namespace {

struct ValidateCliOptions {
  RunCliOptions run;
  std::string report;
  int rounds = 1;  // the whole set of configurations run this many times, medians kept
  double max_median = -1, max_p90 = -1, min_spearman = -2;  // bars; the defaults are off
};

struct Validation {
  std::vector<ValidationPoint> points;
  std::vector<double> ttft_m, ttft_s, tpot_m, tpot_s;  // per served request (--schedule)
  std::vector<double> tokens_per_step;
  std::vector<double> spread;  // per configuration: slowest round's mean / fastest's - 1
  int rounds = 1;
  // The profile's cold expert table measured again before the first round and after the last
  // (empty without a profile): how far the machine itself moved.
  std::vector<DriftPoint> drift_before, drift_after;
  ValidationSummary summary;
  ErrorStats ttft, tpot;  // count 0 without --schedule
};

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

// Every round ran the same configurations in the same order; the prediction is the same in
// each (the model is deterministic), the measurement is each step's median round.
Validation validate_rounds(const std::vector<std::vector<MeasuredConfig>>& rounds) {
  Validation v;
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
  return v;
}

std::string percent(double x) {
  return std::isnan(x) ? "n/a" : strprintf("%.1f %%", 100 * x);
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
  if (v.drift_before.empty()) return "";
  std::string shapes;
  for (const DriftPoint& d : v.drift_before)
    shapes +=
        strprintf(" %lldx%lld", static_cast<long long>(d.active), static_cast<long long>(d.tokens));
  return "machine against its profile: the expert phase at (experts x tokens)" + shapes +
         " measured again, over the profile's time - 1: before the runs" +
         drift_text(v.drift_before) + ", after" + drift_text(v.drift_after) + "\n";
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
  return out + drift_lines(v);
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

// The report file (docs/validate.md "Report"): every configuration and the statistics.
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
                        {"tpot_measured_s", number_or_null(v.tpot_m[i])},
                        {"tpot_simulated_s", number_or_null(v.tpot_s[i])}});
  j["requests"] = requests;
  j["ttft_error"] = stats_json(v.ttft);
  j["tpot_error"] = stats_json(v.tpot);
  nlohmann::ordered_json drift = nlohmann::ordered_json::array();
  for (size_t i = 0; i < v.drift_before.size(); ++i)
    drift.push_back({{"active_experts", v.drift_before[i].active},
                     {"tokens", v.drift_before[i].tokens},
                     {"profiled_s", v.drift_before[i].profiled_s},
                     {"before_s", v.drift_before[i].measured_s},
                     {"after_s", v.drift_after[i].measured_s}});
  j["machine_drift"] = drift;
  return j.dump(2) + "\n";
}

// The bars asked for, each "met" or "NOT met"; returns whether all were met.
bool check_bars(const ValidateCliOptions& o, const Validation& v, std::string& out) {
  bool all = true;
  auto bar = [&](bool on, const std::string& what, bool met) {
    if (!on) return;
    out += strprintf("bar: %s: %s\n", what.c_str(), met ? "met" : "NOT met");
    all = all && met;
  };
  const ErrorStats& s = v.summary.step_time;
  bar(o.max_median >= 0, "median step-time error <= " + percent(o.max_median),
      s.median <= o.max_median);
  bar(o.max_p90 >= 0, "p90 step-time error <= " + percent(o.max_p90), s.p90 <= o.max_p90);
  bar(o.min_spearman >= -1,
      strprintf("Spearman >= %.2f at every batch size and routing", o.min_spearman),
      v.summary.min_spearman >= o.min_spearman);
  return all;
}

// A preset prices another machine: validating it against this one measures nothing useful.
void require_machine_cluster(const std::string& cluster) {
  if (is_cluster_preset(cluster))
    throw OptionError("cluster",
                      "a cluster JSON of this machine (naming a profile from `epbench "
                      "profile`, or written by `epbench calibrate`), got the preset '" +
                          cluster + "'");
}

void validate(ValidateCliOptions& o) {
  bool bars_met = true;
  run_mpi_command([&](MpiSession& mpi) {
    RunOptions cfg;
    ClusterSpec cluster;
    std::unique_ptr<AtomicOutput> report;  // opened first: a bad path fails before any run
    agree(MPI_COMM_WORLD, [&] {
      require_machine_cluster(o.run.cluster);
      cfg = make_run_config(o.run);
      cluster = load_cluster(cfg.cluster);
      if (mpi.rank() == 0 && !o.report.empty()) report = std::make_unique<AtomicOutput>(o.report);
    });
    const auto probe = [&] {
      // A profile of another machine or job is refused by the runs, with its field named.
      const Profile* p = cluster.profile.get();
      if (!p || p->backend != cfg.backend || p->dtype != dtype_name(cfg.dtype) ||
          p->world_size != mpi.size())
        return std::vector<DriftPoint>{};
      const int gpu =
          discover_topology(MPI_COMM_WORLD, cfg.ranks_per_node).ranks[sz(mpi.rank())].gpu;
      return probe_profile(*cluster.profile, MPI_COMM_WORLD, gpu, cfg.threads);
    };
    const std::vector<DriftPoint> before = probe();
    std::vector<std::vector<MeasuredConfig>> rounds;
    for (int i = 0; i < o.rounds; ++i) rounds.push_back(run_job(cfg, MPI_COMM_WORLD));
    const std::vector<DriftPoint> after = probe();
    if (mpi.rank() != 0) return;
    Validation v = validate_rounds(rounds);
    v.drift_before = before, v.drift_after = after;
    std::string text = strprintf(
                           "validate: %zu configurations run for real on %d ranks, %d "
                           "round(s) (m: each step's median round, averaged over the steps); ",
                           v.points.size(), mpi.size(), v.rounds) +
                       run_table_legend(cluster, cfg.cluster) + report_text(v);
    bars_met = check_bars(o, v, text);
    std::fwrite(text.data(), 1, text.size(), stdout);
    if (report) {
      const std::string json = report_json(v, cfg, cluster, mpi.size());
      report->write(json.data(), json.size());
      report->commit();
      std::printf("report: %s\n", o.report.c_str());
    }
  });
  if (!bars_met) throw SilentExit(3);
}

}  // namespace

void register_validate(CLI::App& app) {
  auto o = std::make_shared<ValidateCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "validate",
      "Under mpirun/srun: run configurations for real and report the cost model's errors "
      "(median, p90, max) and its ranking of the layouts (Spearman)");
  add_run_options(cmd, o->run);
  cmd->add_option("--report", o->report, "Report to write (JSON, docs/validate.md)");
  cmd->add_option("--rounds", o->rounds,
                  "Run every configuration this many times, in turn; keep each one's median")
      ->check(CLI::Range(1, 1000))
      ->capture_default_str();
  cmd->add_option("--max-median-error", o->max_median,
                  "Bar: exit 3 if the median relative step-time error exceeds this (e.g. 0.1)");
  cmd->add_option("--max-p90-error", o->max_p90, "Bar: the same for the p90");
  cmd->add_option("--min-spearman", o->min_spearman,
                  "Bar: exit 3 if any batch size and routing ranks the layouts below this");
  cmd->callback([o] { validate(*o); });
}

}  // namespace epbench::cli
