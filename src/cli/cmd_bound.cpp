// `epbench bound`: lower bounds on the predicted step time that hold for ANY placement and
// routing on a cluster (docs/placement.md), for batches of consecutive tokens of a trace; with
// --lp (--ilp) the LP bound (exact optimum) over the steps `evaluate` forms.
#include <chrono>
#include <cstdio>
#include <memory>

#include "cli/cli_common.h"
#include "costmodel/cost_model.h"
#include "model/cluster.h"
#include "placement/bound.h"
#include "placement/ilp_exact.h"
#include "placement/lp_bound.h"
#include "routing/allocation.h"
#include "routing/batching.h"
#include "scenario/request_spans.h"
#include "trace/trace_io.h"

namespace epbench::cli {

namespace {

struct BoundOptions {
  std::string trace, test = "0:100%", cluster = "h800", batch_sizes = "1,8,64,256", price_as;
  int nodes = 0, gpus_per_node = 0, slots = 0;
  bool lp = false, ilp = false;
  uint64_t steps = 64, prefill_chunk = 2048;
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

// One layer's steps of a plan: the first `count` steps, tokens with their homes.
LayerSteps layer_steps(const StepPlan& plan, const TokenBlock& block, int layer, size_t count) {
  LayerSteps st;
  st.num_experts = 0;
  st.top_k = block.top_k;
  const size_t k = static_cast<size_t>(block.top_k);
  std::vector<uint16_t> ids;
  for (size_t s = 0; s < std::min(count, plan.num_steps()); ++s) {
    ids.clear();
    for (uint64_t i = plan.offset[s]; i < plan.offset[s + 1]; ++i)
      ids.insert(ids.end(), block.experts(plan.token[i], layer),
                 block.experts(plan.token[i], layer) + k);
    st.add_step(plan.home.data() + plan.offset[s], ids.data(), plan.offset[s + 1] - plan.offset[s]);
  }
  return st;
}

// --lp / --ilp: the steps `evaluate` forms with its defaults (round-robin homes, fifo
// batches, prefill chunks), the first --steps of them, bounded layer by layer.
void run_program_bounds(const BoundOptions& o, const TraceReader& reader, uint64_t a, uint64_t b,
                        const CostModel& model, const std::vector<int>& batches) {
  const TraceHeader& h = reader.header();
  const TokenBlock block = reader.read(a, b - a, false);
  const std::vector<RequestSpan> spans = request_spans(reader.requests(), a, b);
  std::printf(
      "steps as evaluate forms them (round-robin homes, fifo, prefill chunk %llu), "
      "first %llu per batch size; per step, summed over %d layers\n",
      static_cast<unsigned long long>(o.prefill_chunk), static_cast<unsigned long long>(o.steps),
      h.num_layers);
  std::printf("%8s %8s %16s %12s %12s %10s %10s\n", "batch", "steps",
              "closed ms >=", "LP ms >=", o.ilp ? "exact ms" : "", "LP s", "LP rows");
  for (int batch : batches) {
    Allocator alloc(AllocationPolicy::kRoundRobin, model.cluster());
    const BatchingOptions bo{BatchingPolicy::kFifo, batch, o.prefill_chunk, o.steps, 0};
    const StepPlan plan = plan_steps(spans, {}, bo, alloc);
    const size_t steps = std::min<size_t>(plan.num_steps(), o.steps);
    double closed = 0, lp = 0, exact = 0, seconds = 0;
    long long rows = 0;
    for (int l = 0; l < h.num_layers; ++l) {
      LayerSteps st = layer_steps(plan, block, l, steps);
      st.num_experts = h.num_experts;
      const auto t0 = std::chrono::steady_clock::now();
      const LpBound bound = lp_lower_bound(model, st);
      seconds += std::chrono::duration<double>(std::chrono::steady_clock::now() - t0).count();
      closed += bound.closed_form_s, lp += bound.total_s, rows += bound.rows;
      if (o.ilp) exact += exact_ilp(model, st).total_s;
    }
    const double per = steps ? 1e3 / double(steps) : 0;
    std::printf("%8d %8zu %16.4g %12.4g %12s %10.3g %10lld\n", batch, steps, closed * per, lp * per,
                o.ilp ? std::to_string(exact * per).c_str() : "", seconds, rows);
  }
}

void run_bound(const BoundOptions& o) {
  TraceReader reader(o.trace);
  const TraceHeader& h = reader.header();
  const auto [a, b] = parse_token_range(o.test, h.num_tokens, "--test");
  const std::vector<int> batches = parse_positive_list(o.batch_sizes, "--batch-sizes");
  const ClusterSpec cluster =
      shape_cluster(load_cluster(o.cluster), o.nodes, o.gpus_per_node, o.slots, h.num_experts);
  const auto [d_model, d_ff] = priced_sizes(o.price_as, h.d_model, h.d_ff);
  const CostModel model(cluster, d_model, d_ff);
  std::printf("lower bounds for any placement and routing (cost model, docs/placement.md)\n");
  std::printf("%s tokens [%llu, %llu), %s: %d nodes x %d GPUs, %d slots per GPU\n", o.trace.c_str(),
              static_cast<unsigned long long>(a), static_cast<unsigned long long>(b),
              cluster.name.c_str(), cluster.nodes, cluster.gpus_per_node, cluster.slots_per_gpu);
  if (o.lp || o.ilp) return run_program_bounds(o, reader, a, b, model, batches);
  const TokenBlock tokens = reader.read(a, b - a);
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
  add_price_as(cmd, o->price_as);
  cmd->add_flag("--lp", o->lp,
                "LP bound over the steps evaluate forms (placement shared by the steps)");
  cmd->add_flag("--ilp", o->ilp, "Also the exact optimum (CBC), tiny instances only");
  cmd->add_option("--steps", o->steps, "With --lp/--ilp: the first N steps per batch size")
      ->capture_default_str();
  cmd->add_option("--prefill-chunk", o->prefill_chunk,
                  "With --lp/--ilp: prompt tokens per prefill step, as evaluate")
      ->capture_default_str();
  cmd->callback([o] { run_bound(*o); });
}

}  // namespace epbench::cli
