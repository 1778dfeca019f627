// `epbench profile`, launched by mpirun/srun like `run`: times the expert FFNs and the
// all-to-all on this machine and writes a profile that `--cluster` JSON files can name, so the
// cost model prices measured times instead of its roofline (docs/profile.md).
#include <cstdio>
#include <memory>

#include "cli/cli_common.h"
#include "cli/mpi_command.h"
#include "common/error.h"
#include "common/strprintf.h"
#include "model/model_spec.h"
#include "runtime/profile_job.h"
#include "trace/trace_io.h"

namespace epbench::cli {

namespace {

struct ProfileCliOptions {
  std::string trace, model, dtype = "fp32";
  double scale = 1;
  ProfileOptions cfg;
};

int scaled(int v, double scale) {
  return std::max(1, static_cast<int>(static_cast<double>(v) * scale + 0.5));
}

// Sizes as `run` takes them: given, else the trace's or the model's, then scaled.
ProfileOptions make_config(const ProfileCliOptions& o) {
  ProfileOptions c = o.cfg;
  int d_model = 0, d_ff = 0, layers = 1;
  if (!o.trace.empty()) {
    const TraceHeader h = TraceReader(o.trace).header();
    d_model = h.d_model, d_ff = h.d_ff, layers = h.num_layers;
  } else if (!o.model.empty()) {
    const ModelPreset m = resolve_model(o.model);
    d_model = m.d_model, d_ff = m.d_ff, layers = m.num_layers;
  }
  if (c.weight_sets <= 0) c.weight_sets = layers;
  if (c.d_model <= 0) c.d_model = d_model;
  if (c.d_ff <= 0) c.d_ff = d_ff;
  if (o.scale <= 0 || o.scale > 1) throw InputError("--scale: expected a factor in (0, 1]");
  if (c.d_model > 0) c.d_model = scaled(c.d_model, o.scale);
  if (c.d_ff > 0) c.d_ff = scaled(c.d_ff, o.scale);
  c.dtype = parse_dtype(o.dtype);
  c.command_line = command_line();
  return c;
}

// The per-expert FFN row the cost model uses and the all-to-all rows, in microseconds.
std::string summary(const Profile& p) {
  std::string out =
      strprintf("profile: %s, %lld ranks, d_model %lld x d_ff %lld, %s\n", p.backend.c_str(),
                static_cast<long long>(p.world_size), static_cast<long long>(p.d_model),
                static_cast<long long>(p.d_ff), p.dtype.c_str());
  const size_t T = p.ffn_tokens.size(), A = p.ffn_active.size();
  const bool warm = !p.ffn_warm_time_s.empty();
  out += "tokens/expert  us/expert (median, slowest rank, " + std::to_string(p.ffn_active.back()) +
         " active)" + (warm ? "  warm us/expert (weights in the cache)" : "") + "\n";
  for (size_t t = 0; t < T; ++t)
    out += strprintf("%13lld  %9.2f", static_cast<long long>(p.ffn_tokens[t]),
                     1e6 * p.ffn_time_s[(A - 1) * T + t] / double(p.ffn_active.back())) +
           (warm ? strprintf("  %9.2f\n", 1e6 * p.ffn_warm_time_s[t]) : "\n");
  out += p.cache_bytes_per_rank > 0
             ? strprintf("last-level cache per rank: %.1f MiB (hwloc; weight reuse modelled)\n",
                         double(p.cache_bytes_per_rank) / (1 << 20))
             : "last-level cache per rank: not used (weight reuse not modelled)\n";
  if (!p.ffn_reuse_bytes.empty()) {
    out += "reuse: us at 1 token after MiB of other experts read, from memory / from the cache:";
    for (size_t d = 0; d < p.ffn_reuse_bytes.size(); ++d)
      out += strprintf(" %.1f:%.0f/%.0f", double(p.ffn_reuse_bytes[d]) / (1 << 20),
                       1e6 * p.ffn_reuse_time_s[d], 1e6 * p.ffn_reuse_loop_time_s[d]);
    out += "\n";
  }
  const size_t M = p.a2a_bytes.size();
  for (size_t i = 0; i < p.a2a_patterns.size(); ++i)
    out += strprintf(
        "all-to-all %s (%lld destinations, buffers %s): %.2f us at %lld B, %.2f us at %lld B\n",
        p.a2a_patterns[i].c_str(), static_cast<long long>(p.a2a_destinations[i]),
        p.a2a_cache_state.c_str(), 1e6 * p.a2a_time_s[i * M],
        static_cast<long long>(p.a2a_bytes[0]), 1e6 * p.a2a_time_s[i * M + M - 1],
        static_cast<long long>(p.a2a_bytes.back()));
  out += strprintf("count exchange: %.2f us\n", 1e6 * p.count_exchange_s);
  if (!p.row_moves.empty())
    out += strprintf("row moves (pack and add back): %.2f us at %lld rows, %.2f us at %lld rows\n",
                     1e6 * p.row_move_time_s.front(), static_cast<long long>(p.row_moves.front()),
                     1e6 * p.row_move_time_s.back(), static_cast<long long>(p.row_moves.back()));
  return out + "wrote " + p.path + "\n";
}

void run(const ProfileCliOptions& o) {
  run_mpi_command([&](MpiSession& mpi) {
    ProfileOptions cfg;
    agree(MPI_COMM_WORLD, [&] { cfg = make_config(o); });
    const Profile p = run_profile(cfg, MPI_COMM_WORLD);
    if (mpi.rank() != 0) return;
    const std::string text = summary(p);
    std::fwrite(text.data(), 1, text.size(), stdout);
  });
}

void add_options(CLI::App* cmd, ProfileCliOptions& o) {
  ProfileOptions& c = o.cfg;
  cmd->option_defaults()->multi_option_policy(CLI::MultiOptionPolicy::TakeLast);
  cmd->add_option("--trace", o.trace, "Take d_model and d_ff from this trace (HDF5)");
  cmd->add_option("--model", o.model, "Take d_model and d_ff from this model (preset or JSON)");
  cmd->add_option("--d-model", c.d_model, "Hidden size");
  cmd->add_option("--d-ff", c.d_ff, "Expert FFN size");
  cmd->add_option("--scale", o.scale, "Multiply d_model and d_ff by this (0, 1]")
      ->capture_default_str();
  cmd->add_option("--backend", c.backend, "Expert FFNs: cpu (OpenBLAS) or cuda (cuBLAS)")
      ->capture_default_str();
  cmd->add_option("--comm", c.comm, "All-to-all: mpi or nccl")->capture_default_str();
  cmd->add_option("--dtype", o.dtype, "Hidden states and weights: fp32 or bf16")
      ->capture_default_str();
  cmd->add_option("--max-tokens", c.max_tokens, "Tokens per expert: 1, 2, 4, ... up to this")
      ->capture_default_str();
  cmd->add_option("--max-active", c.max_active, "Active experts per rank: 1 .. this")
      ->capture_default_str();
  cmd->add_option("--weight-sets", c.weight_sets,
                  "Sets of --max-active experts' weights the FFN calls rotate through, as a "
                  "run's layers (default: the trace's or model's layers, else 1; on the CPU, "
                  "at least enough to overflow twice the rank's cache share)");
  cmd->add_option("--max-bytes", c.max_bytes, "Bytes per destination: 8, 16, ... up to this")
      ->capture_default_str();
  cmd->add_option("--repetitions", c.repetitions, "Timed calls per grid point (median)")
      ->capture_default_str();
  cmd->add_option("--sweeps", c.sweeps,
                  "Times the whole grid is measured; each point keeps its median sweep")
      ->capture_default_str();
  cmd->add_option("--warmup", c.warmup, "Untimed calls first, per grid point")
      ->capture_default_str();
  cmd->add_option("--ranks-per-node", c.ranks_per_node,
                  "Group ranks into virtual nodes of K (0: real hosts)")
      ->capture_default_str();
  cmd->add_option("--threads", c.threads, "BLAS threads per rank")->capture_default_str();
  cmd->add_option("--seed", c.seed, "Seed of the weights")->capture_default_str();
  cmd->add_option("-o,--output", c.output, "Profile file to write (HDF5)")->required();
}

}  // namespace

void register_profile(CLI::App& app) {
  auto o = std::make_shared<ProfileCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "profile", "Measure expert FFN and all-to-all times under mpirun/srun for the cost model");
  add_options(cmd, *o);
  cmd->callback([o] { run(*o); });
}

}  // namespace epbench::cli
