// `epbench run`, launched by mpirun/srun with one rank per GPU: real expert FFNs and real
// all-to-alls for each layout, routing policy and batch size (docs/run.md). Rank 0 prints the
// communication/compute table, measured next to the cost model's prediction.
#include <cstdio>
#include <memory>

#include "cli/cli_common.h"
#include "cli/mpi_command.h"
#include "cli/run_cli.h"
#include "model/cluster.h"
#include "sim/schedule_metrics.h"

namespace epbench::cli {

namespace {

void run(RunCliOptions& o) {
  run_mpi_command([&](MpiSession& mpi) {
    RunOptions cfg;
    agree(MPI_COMM_WORLD, [&] { cfg = make_run_config(o); });
    const std::vector<MeasuredConfig> runs = run_job(cfg, MPI_COMM_WORLD);
    if (mpi.rank() != 0) return;
    std::string text = run_table_legend(load_cluster(cfg.cluster), cfg.cluster) + run_table(runs);
    for (const MeasuredConfig& r : runs)
      if (!r.schedule.arrival.empty()) text += comparison_table(r.schedule);
    std::fwrite(text.data(), 1, text.size(), stdout);
    if (!cfg.output.empty()) std::printf("results: %s\n", cfg.output.c_str());
  });
}

}  // namespace

void register_run(CLI::App& app) {
  auto o = std::make_shared<RunCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "run", "Run layouts for real under mpirun/srun: expert FFNs and all-to-alls, measured");
  add_run_options(cmd, *o);
  cmd->callback([o] { run(*o); });
}

}  // namespace epbench::cli
