#pragma once
// The options `epbench run` and `epbench validate` share (docs/run.md), and the table of
// measured-next-to-predicted step times both print.
#include <CLI/CLI.hpp>
#include <string>
#include <vector>

#include "model/cluster.h"
#include "runtime/run_job.h"

namespace epbench::cli {

struct RunCliOptions {
  std::string trace, layouts, cluster = "h800", routing = "first", allocation = "round-robin";
  std::string batching = "fifo", batch_sizes = "1,16,64", range = "50%:100%", backend = "cpu";
  std::string comm = "mpi", dtype = "fp32", fault, output, schedule;
  RunOptions cfg;
};

// Registers the options on `cmd`; make_run_config turns them into the job's (InputError naming
// the option otherwise; reads the trace's header for --range).
void add_run_options(CLI::App* cmd, RunCliOptions& o);
RunOptions make_run_config(const RunCliOptions& o);

// What the predicted columns are and what the times cover (c: the cluster loaded from `given`,
// the --cluster value), then one row per configuration.
std::string run_table_legend(const ClusterSpec& c, const std::string& given);
std::string run_table(const std::vector<MeasuredConfig>& runs);
// Which model priced the predictions: the profile the cluster names, or the roofline.
std::string cost_model_label(const ClusterSpec& c);
// The tokens a step really had, on average.
double mean_step_tokens(const ConfigResult& r);

}  // namespace epbench::cli
