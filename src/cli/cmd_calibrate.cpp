// `epbench calibrate`: fits the cost model's link and compute parameters to a results file and
// writes them as a cluster JSON file (docs/calibrate.md).
#include <cstdio>
#include <memory>

#include "cli/cli_common.h"
#include "common/atomic_file.h"
#include "common/strprintf.h"
#include "costmodel/calibrate.h"

namespace epbench::cli {

namespace {

struct CalibrateCliOptions {
  std::string results, output, cluster;
};

void run(const CalibrateCliOptions& o) {
  const Calibration cal = calibrate(o.results, o.cluster);
  const std::string json = cluster_json(cal.cluster);
  if (!o.output.empty()) write_text_file(o.output, json);
  std::string text = strprintf("calibrated from %s (%zu runs)\n", o.results.c_str(), cal.runs);
  text += calibration_report(cal);
  text += o.output.empty() ? "\n" + json : "wrote " + o.output + "\n";
  std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace

void register_calibrate(CLI::App& app) {
  auto o = std::make_shared<CalibrateCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "calibrate", "Fit the cost model's link and compute parameters to a results file");
  cmd->add_option("results", o->results, "Results file (HDF5) of evaluate or run")->required();
  cmd->add_option("-o,--output", o->output,
                  "Cluster JSON file to write (default: print it after the table)");
  cmd->add_option("--cluster", o->cluster,
                  "Base cluster for the fields not fitted: preset or JSON file (default: the "
                  "runs' cluster if a preset, else h800)");
  cmd->callback([o] { run(*o); });
}

}  // namespace epbench::cli
