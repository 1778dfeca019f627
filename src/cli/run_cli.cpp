// The options `epbench run` and `epbench validate` share, and their table.
#include "cli/run_cli.h"

#include <tuple>

#include "cli/cli_common.h"
#include "common/error.h"
#include "common/strprintf.h"
#include "model/cluster.h"
#include "results/summary.h"
#include "trace/trace_io.h"

namespace epbench::cli {

RunOptions make_run_config(const RunCliOptions& o) {
  RunOptions c = o.cfg;
  c.trace = o.trace;
  c.layouts.clear();
  for (const std::string& l : split_commas(o.layouts))
    if (!l.empty()) c.layouts.push_back(l);
  if (c.layouts.empty()) throw InputError("--layouts: expected at least one layout file");
  c.cluster = o.cluster;
  c.routings.clear();
  for (const std::string& r : split_distinct(o.routing, "--routing"))
    c.routings.push_back(parse_routing(r));
  c.allocation = parse_allocation(o.allocation);
  c.batching = parse_batching(o.batching);
  c.batch_sizes = parse_positive_list(o.batch_sizes, "--batch-sizes");
  c.backend = o.backend, c.comm = o.comm, c.dtype = parse_dtype(o.dtype);
  if (c.scale <= 0 || c.scale > 1) throw InputError("--scale: expected a factor in (0, 1]");
  if (!o.fault.empty()) {
    const size_t colon = o.fault.find(':');
    const std::string expected = "RANK:STEP, two integers", text = o.fault;
    if (colon == std::string::npos) throw InputError("--inject-fault: expected " + expected);
    c.fault_rank = static_cast<int>(
        parse_uint(std::string_view(text).substr(0, colon), "--inject-fault", expected, text));
    c.fault_step =
        parse_uint(std::string_view(text).substr(colon + 1), "--inject-fault", expected, text);
  }
  c.output = o.output;
  c.schedule = o.schedule;
  c.command_line = command_line();
  const TraceReader reader(o.trace);
  std::tie(c.begin, c.end) = parse_token_range(o.range, reader.header().num_tokens, "--range");
  return c;
}

// What the predicted columns are and what the times cover, so no figure passes for more than it
// is: the cluster the model was priced for (the default preset is not this machine).
std::string run_table_legend(const ClusterSpec& c, const std::string& given) {
  std::string out = strprintf(
      "ms per step: each phase's slowest rank, summed over layers; m = measured here, p = "
      "predicted by %s for cluster '%s' (%s)\n",
      cost_model_label(c).c_str(), c.name.c_str(), c.source.c_str());
  if (is_cluster_preset(given))
    out +=
        "  p is priced for a preset, not this machine: pass --cluster with the file that "
        "`epbench calibrate` writes to predict this machine\n";
  out +=
      "times cover the routed experts only (dispatch, expert FFNs, combine; no attention, gate "
      "or shared experts); hidden states and weights are synthetic (seeded), the routing is "
      "the trace's\n";
  out +=
      "tok/step: the tokens a step really had (mean), next to the B requests asked for; a2a x: "
      "dispatch+combine over the raw all-to-alls of the same bytes (a2a-c x: without the count "
      "exchange); gemm x: expert compute over bare GEMMs of the same shapes (medians)\n";
  return out;
}

std::string cost_model_label(const ClusterSpec& c) {
  if (c.profile) return "the profile-based cost model (profile " + c.profile_path + ")";
  return "the roofline cost model";
}

double mean_step_tokens(const ConfigResult& r) {
  if (r.step_tokens.empty()) return 0;
  double sum = 0;
  for (uint32_t t : r.step_tokens) sum += t;
  return sum / static_cast<double>(r.step_tokens.size());
}

// One row per configuration: milliseconds per step, measured (m) and predicted (p).
std::string run_table(const std::vector<MeasuredConfig>& runs) {
  std::string out =
      strprintf("%-20s %-11s %4s %8s %10s %8s %8s %8s %8s %8s %8s %6s %6s %6s %7s %6s\n", "layout",
                "routing", "B", "tok/step", "tokens/s", "step m", "step p", "disp m", "disp p",
                "comp m", "comp p", "comm%m", "comm%p", "a2a x", "a2a-c x", "gemm x");
  for (const MeasuredConfig& r : runs) {
    const ConfigSummary m = summarize(r.measured), p = summarize(r.predicted);
    const PhaseTimes tm = mean_phase_times(r.measured), tp = mean_phase_times(r.predicted);
    out += strprintf(
        "%-20s %-11s %4d %8.1f %10.4g %8.3f %8.3f %8.3f %8.3f %8.3f %8.3f %6.1f %6.1f %6.2f "
        "%7.2f %6.2f\n",
        r.layout.c_str(), r.routing.c_str(), r.batch_size, mean_step_tokens(r.measured),
        m.tokens_per_s, m.step_time_mean * 1e3, p.step_time_mean * 1e3,
        (tm.dispatch + tm.combine) * 1e3, (tp.dispatch + tp.combine) * 1e3, tm.compute * 1e3,
        tp.compute * 1e3, 100 * m.comm_share, 100 * p.comm_share, r.overhead_alltoallv,
        r.overhead_alltoallv_no_counts, r.overhead_gemm);
  }
  return out;
}

void add_run_options(CLI::App* cmd, RunCliOptions& o) {
  RunOptions& c = o.cfg;
  // The last value wins, so job scripts can pass defaults that a user's options override.
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("--trace", o.trace, "Trace (HDF5)")->required();
  cmd->add_option("--layouts", o.layouts, "Layout files, comma-separated")->required();
  cmd->add_option("--range", o.range, "Token range replayed: A:B tokens or A%:B% of the trace")
      ->capture_default_str();
  cmd->add_option("--cluster", o.cluster,
                  "Cluster preset or JSON for the predictions (best: from epbench calibrate)")
      ->capture_default_str();
  cmd->add_option("--routing", o.routing, routing_help())->capture_default_str();
  cmd->add_option("--allocation", o.allocation,
                  "Request homes: round-robin, least-loaded, affinity")
      ->capture_default_str();
  cmd->add_option("--batching", o.batching, "Batching policy: fifo, affinity")
      ->capture_default_str();
  cmd->add_option("--batch-sizes", o.batch_sizes, "Concurrent requests per batch, e.g. 1,16,64")
      ->capture_default_str();
  cmd->add_option("--prefill-chunk", c.prefill_chunk,
                  "Prompt tokens per prefill step (0: decode tokens only)")
      ->capture_default_str();
  cmd->add_option("--steps", c.steps,
                  "At most this many measured steps per configuration (0: all the range gives)")
      ->capture_default_str();
  cmd->add_option("--min-step-tokens", c.min_step_tokens,
                  "With --steps: at least this many tokens' steps per configuration (B = 1 "
                  "measured as long as B = 64)")
      ->capture_default_str();
  cmd->add_option("--warmup", c.warmup, "Unmeasured steps first")->capture_default_str();
  cmd->add_option("--backend", o.backend, "Expert FFNs: cpu (OpenBLAS) or cuda (cuBLAS)")
      ->capture_default_str();
  cmd->add_option("--comm", o.comm, "All-to-all: mpi or nccl")->capture_default_str();
  cmd->add_option("--dtype", o.dtype, "Hidden states and weights: fp32 or bf16")
      ->capture_default_str();
  cmd->add_option("--d-model", c.d_model, "Hidden size (default: the trace's model)");
  cmd->add_option("--d-ff", c.d_ff, "Expert FFN size (default: the trace's model)");
  cmd->add_option("--scale", c.scale, "Multiply d_model and d_ff by this (0, 1]")
      ->capture_default_str();
  cmd->add_option("--ranks-per-node", c.ranks_per_node,
                  "Group ranks into virtual nodes of K (0: real hosts)")
      ->capture_default_str();
  cmd->add_flag("--check", c.check,
                "Compare every token (see --check-stride) with a reference FFN");
  cmd->add_option("--check-stride", c.check_stride, "Check every N-th token (1: all of them)")
      ->capture_default_str();
  cmd->add_flag("!--no-baseline", c.baseline, "Skip the raw all-to-all and GEMM baselines");
  cmd->add_option("--baseline-reps", c.baseline_reps,
                  "Repetitions of each side of the all-to-all baseline, medians kept")
      ->capture_default_str()
      ->check(CLI::Range(1, 1000));
  cmd->add_option("--threads", c.threads, "BLAS threads per rank")->capture_default_str();
  cmd->add_option("--memory-limit", c.memory_limit,
                  "Bytes per rank for expert shards (0: MemAvailable / ranks on the host)")
      ->capture_default_str();
  cmd->add_option("--seed", c.seed, "Seed of weights and hidden states")->capture_default_str();
  cmd->add_option("--schedule", o.schedule,
                  "Run the steps of this `serve --schedule-out` file at their arrival times "
                  "instead of batches (its range and routing; one layout)");
  cmd->add_option("--inject-fault", o.fault, "RANK:STEP: kill that rank at that step (tests)");
  cmd->add_option("-o,--output", o.output, "Results file to write (HDF5)");
}

}  // namespace epbench::cli
