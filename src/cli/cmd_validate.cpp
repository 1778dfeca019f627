// `epbench validate`, launched like `run` (docs/validate.md): runs configurations for real,
// predicts the same steps with the cost model of a machine's cluster file, and reports how far
// apart they are: relative error of the step time (median, p90, max), Spearman's rank
// correlation of the layouts at each batch size and routing, and with --schedule the served
// requests' TTFT and TPOT. Optional bars turn the report into a pass/fail (exit 3).
#include <cstdio>
#include <memory>

#include "cli/cli_common.h"
#include "cli/mpi_command.h"
#include "cli/run_cli.h"
#include "cli/validate_report.h"
#include "common/atomic_file.h"
#include "common/error.h"
#include "common/numeric.h"
#include "common/strprintf.h"
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
    // A profile of another machine or job is refused by the runs, with its field named.
    const Profile* p = cluster.profile.get();
    const bool probed = p && p->backend == cfg.backend && p->dtype == dtype_name(cfg.dtype) &&
                        p->world_size == mpi.size();
    const int gpu =
        probed ? discover_topology(MPI_COMM_WORLD, cfg.ranks_per_node).ranks[sz(mpi.rank())].gpu
               : -1;
    const auto probe = [&] {
      return probed ? probe_profile(*p, MPI_COMM_WORLD, gpu, cfg.threads)
                    : std::vector<DriftPoint>{};
    };
    // Probed between the rounds too: the drift factor follows the machine through them.
    std::vector<std::vector<DriftPoint>> probes = {probe()};
    std::vector<std::vector<MeasuredConfig>> rounds;
    for (int i = 0; i < o.rounds; ++i) {
      cfg.announce = i == 0;  // the same job every round: its line and warnings once
      rounds.push_back(run_job(cfg, MPI_COMM_WORLD));
      probes.push_back(probe());
    }
    if (mpi.rank() != 0) return;
    const Validation v = validate_rounds(rounds, std::move(probes));
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
