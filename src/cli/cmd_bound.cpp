// `epbench bound`: lower bounds on the predicted step time that hold for ANY placement and
// routing on a cluster (docs/placement.md), for batches of consecutive tokens of a trace.
#include <cstdio>
#include <memory>

#include "cli/cli_common.h"
#include "costmodel/cost_model.h"
#include "model/cluster.h"
#include "placement/bound.h"
#include "trace/trace_io.h"

namespace epbench::cli {

namespace {

struct BoundOptions {
  std::string trace, test = "0:100%", cluster = "h800", batch_sizes = "1,8,64,256";
  int nodes = 0, gpus_per_node = 0, slots = 0;
};

struct BoundSums {
  uint64_t steps = 0, tokens = 0;
  double compute = 0, comm = 0;
};

// Sums the per-layer bounds over batches of `batch` consecutive tokens of `tokens`.
BoundSums bound_batches(const CostModel& model, const TokenBlock& tokens, int num_experts,
                        size_t batch) {
  BoundSums sums;
  const size_t k = static_cast<size_t>(tokens.top_k);
  std::vector<uint16_t> ids;
  for (size_t first = 0; first < tokens.size(); first += batch, ++sums.steps) {
    const size_t n = std::min(batch, tokens.size() - first);
    sums.tokens += n;
    for (int l = 0; l < tokens.num_layers; ++l) {
      ids.clear();
      for (size_t t = first; t < first + n; ++t)
        ids.insert(ids.end(), tokens.experts(t, l), tokens.experts(t, l) + k);
      const LayerBound b = layer_lower_bound(model, ids.data(), n, int(k), num_experts);
      sums.compute += b.compute_s;
      sums.comm += b.dispatch_s + b.combine_s;
    }
  }
  return sums;
}

void run_bound(const BoundOptions& o) {
  TraceReader reader(o.trace);
  const TraceHeader& h = reader.header();
  const auto [a, b] = parse_token_range(o.test, h.num_tokens, "--test");
  const std::vector<int> batches = parse_positive_list(o.batch_sizes, "--batch-sizes");
  const ClusterSpec cluster =
      shape_cluster(load_cluster(o.cluster), o.nodes, o.gpus_per_node, o.slots, h.num_experts);
  const CostModel model(cluster, h.d_model, h.d_ff);
  const TokenBlock tokens = reader.read(a, b - a);
  std::printf("lower bounds for any placement and routing (cost model, docs/placement.md)\n");
  std::printf("%s tokens [%llu, %llu), %s: %d nodes x %d GPUs, %d slots per GPU\n", o.trace.c_str(),
              static_cast<unsigned long long>(a), static_cast<unsigned long long>(b),
              cluster.name.c_str(), cluster.nodes, cluster.gpus_per_node, cluster.slots_per_gpu);
  std::printf("%8s %10s %14s %14s %14s %16s\n", "batch", "steps",
              "step ms >=", "compute ms >=", "comm ms >=", "tokens/s <=");
  for (int batch : batches) {
    const BoundSums s = bound_batches(model, tokens, h.num_experts, size_t(batch));
    const double total = s.compute + s.comm, steps = double(s.steps);
    std::printf("%8d %10llu %14.4g %14.4g %14.4g %16.4g\n", batch,
                static_cast<unsigned long long>(s.steps), total / steps * 1e3,
                s.compute / steps * 1e3, s.comm / steps * 1e3,
                total > 0 ? double(s.tokens) / total : 0.0);
  }
}

}  // namespace

void register_bound(CLI::App& app) {
  auto o = std::make_shared<BoundOptions>();
  CLI::App* cmd = app.add_subcommand(
      "bound", "Lower bounds on step time for any placement and routing (cost model)");
  cmd->add_option("--trace", o->trace, "Trace (HDF5)")->required();
  cmd->add_option("--test", o->test, "Token range: A:B tokens or A%:B% of the trace")
      ->capture_default_str();
  cmd->add_option("--cluster", o->cluster, "Cluster preset (h800, h100, a100) or JSON file")
      ->capture_default_str();
  cmd->add_option("--nodes", o->nodes, "Override the cluster's number of nodes");
  cmd->add_option("--gpus-per-node", o->gpus_per_node, "Override the GPUs per node");
  cmd->add_option("--slots", o->slots, "Expert slots per GPU per layer (default: E / GPUs)");
  cmd->add_option("--batch-sizes", o->batch_sizes, "Tokens per step, comma-separated")
      ->capture_default_str();
  cmd->callback([o] { run_bound(*o); });
}

}  // namespace epbench::cli
