// `epbench evaluate`: scores layouts on the held-out part of a trace with the cost model
// (docs/evaluate.md); writes a results file and prints a summary table of predicted figures.
#include <algorithm>
#include <charconv>
#include <cstdarg>
#include <cstdio>
#include <map>
#include <memory>

#include "cli/cli_common.h"
#include "common/error.h"
#include "common/strprintf.h"
#include "sim/evaluate.h"
#include "trace/trace_io.h"

namespace epbench::cli {

namespace {

struct EvaluateCliOptions {
  std::string trace, layouts, cluster = "h800", routing = "first", allocation = "round-robin";
  std::string batching = "fifo", batch_sizes = "1,8,64,256", range = "50%:100%", output;
  std::string price_as;
  int nodes = 0, gpus_per_node = 0, threads = 0;
  uint64_t steps = 0, prefill_chunk = 2048;
  bool hierarchical = false, cubes = false;
};

EvaluateOptions make_options(const EvaluateCliOptions& o) {
  EvaluateOptions c;
  c.trace = o.trace;
  for (const std::string& l : split_commas(o.layouts))
    if (!l.empty()) c.layouts.push_back(l);
  c.cluster = o.cluster;
  c.nodes = o.nodes, c.gpus_per_node = o.gpus_per_node;
  c.routings.clear();
  for (const std::string& r : split_distinct(o.routing, "--routing"))
    c.routings.push_back(parse_routing(r));
  c.allocation = parse_allocation(o.allocation);
  c.batching = parse_batching(o.batching);
  c.batch_sizes = parse_positive_list(o.batch_sizes, "--batch-sizes");
  c.prefill_chunk = o.prefill_chunk;
  c.max_steps = o.steps;
  c.cost.hierarchical = o.hierarchical;
  if (!o.price_as.empty()) std::tie(c.d_model, c.d_ff) = priced_sizes(o.price_as, 0, 0);
  c.cubes = o.cubes;
  c.threads = o.threads;
  c.command_line = command_line();
  c.output = o.output;
  const TraceReader reader(o.trace);  // only for the length: run_evaluate reads it again
  std::tie(c.begin, c.end) = parse_token_range(o.range, reader.header().num_tokens, "--range");
  return c;
}

// One row per run; speed-up is over the round-robin layout with the same routing and batch.
std::string summary_table(const std::vector<ConfigResult>& runs) {
  std::map<std::pair<int, int>, double> baseline;  // (routing, batch) -> tokens/s
  for (const ConfigResult& r : runs)
    if (r.algorithm == "round-robin")
      baseline.emplace(std::make_pair(static_cast<int>(r.routing), r.batch_size),
                       r.summary.tokens_per_s);
  std::string out =
      "predicted by the cost model (docs/costmodel.md); vs bound: step time over the lower bound\n"
      "for any placement and routing (docs/placement.md)\n";
  out +=
      strprintf("%-28s %-12s %5s %12s %10s %10s %9s %12s %8s %8s\n", "layout", "routing", "B",
                "tokens/s", "mean ms", "p99 ms", "imbalance", "net B/token", "speedup", "vs bound");
  for (const ConfigResult& r : runs) {
    const ConfigSummary& m = r.summary;
    const auto it = baseline.find({static_cast<int>(r.routing), r.batch_size});
    const std::string speedup = it != baseline.end() && it->second > 0
                                    ? strprintf("%.2fx", m.tokens_per_s / it->second)
                                    : "-";
    out += strprintf("%-28s %-12s %5d %12.4g %10.4g %10.4g %9.3f %12.4g %8s %7.2fx\n",
                     r.layout.c_str(), routing_name(r.routing), r.batch_size, m.tokens_per_s,
                     m.step_time_mean * 1e3, m.step_time_p99 * 1e3, m.imbalance,
                     m.other_node_bytes_per_token, speedup.c_str(), m.gap_to_lower_bound);
  }
  return out;
}

void run(const EvaluateCliOptions& o) {
  const EvaluateOptions opt = make_options(o);
  const std::vector<ConfigResult> runs = run_evaluate(opt);
  const std::string text = summary_table(runs);
  std::fwrite(text.data(), 1, text.size(), stdout);
}

}  // namespace

void register_evaluate(CLI::App& app) {
  auto o = std::make_shared<EvaluateCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "evaluate", "Predict step times of layouts on a held-out trace range (cost model)");
  cmd->add_option("--trace", o->trace, "Trace (HDF5)")->required();
  cmd->add_option("--layouts", o->layouts, "Layout files, comma-separated")->required();
  cmd->add_option("--cluster", o->cluster, "Cluster preset (h800, h100, a100) or JSON file")
      ->capture_default_str();
  cmd->add_option("--nodes", o->nodes, "Nodes (default: the layouts')");
  cmd->add_option("--gpus-per-node", o->gpus_per_node, "GPUs per node (default: the layouts')");
  cmd->add_option("--routing", o->routing, routing_help())->capture_default_str();
  cmd->add_option("--allocation", o->allocation,
                  "Request homes: round-robin, least-loaded, affinity")
      ->capture_default_str();
  cmd->add_option("--batching", o->batching, "Batching policy: fifo, affinity")
      ->capture_default_str();
  cmd->add_option("--batch-sizes", o->batch_sizes, "Concurrent requests per batch, e.g. 1,8,64")
      ->capture_default_str();
  cmd->add_option("--range,--test", o->range,
                  "Token range replayed: A:B tokens or A%:B% of the trace")
      ->capture_default_str();
  cmd->add_option("--steps", o->steps,
                  "At most this many steps per configuration (0: all the range gives)")
      ->capture_default_str();
  cmd->add_option("--prefill-chunk", o->prefill_chunk,
                  "Prompt tokens per prefill step (0: decode tokens only)")
      ->capture_default_str();
  add_price_as(cmd, o->price_as);
  cmd->add_flag("--hierarchical", o->hierarchical,
                "Hierarchical dispatch: cross the network once per destination node");
  cmd->add_flag("--cubes", o->cubes,
                "Also write the [steps, layers, GPUs] datasets (large; default: per-step series "
                "and per-layer-and-GPU totals only)");
  cmd->add_option("--threads", o->threads,
                  "Threads pricing steps (0: one per core); results do not depend on it")
      ->capture_default_str()
      ->check(CLI::NonNegativeNumber);
  cmd->add_option("-o,--output", o->output, "Results file to write (HDF5)")->required();
  cmd->callback([o] { run(*o); });
}

}  // namespace epbench::cli
