// `epbench place`: fit a placement on a token range of a trace and write a layout file.
#include <algorithm>
#include <cstdio>
#include <memory>

#include "cli/cli_common.h"
#include "common/error.h"
#include "common/progress.h"
#include "model/cluster.h"
#include "model/model_spec.h"
#include "placement/algorithm.h"
#include "placement/common.h"
#include "trace/load_file.h"
#include "trace/stats.h"
#include "trace/trace_io.h"

namespace epbench::cli {

namespace {

struct PlaceOptions {
  std::string algo, trace, loads, model, fit = "0:100%", cluster = "h800", output, check;
  std::string price_as;  // a model whose expert sizes price layouts (algorithms that price)
  int nodes = 0, gpus_per_node = 0, slots = 0;
  uint64_t seed = 1;
  std::vector<std::string> params;
};

// "k=v": v as JSON when it parses as a number or true/false (so "groups=4" is an integer),
// else as a string.
nlohmann::json parse_params(const std::vector<std::string>& items) {
  nlohmann::json p = nlohmann::json::object();
  for (const auto& item : items) {
    const size_t eq = item.find('=');
    if (eq == 0 || eq == std::string::npos)
      throw InputError("--param: expected KEY=VALUE, got '" + item + "'");
    const std::string key = item.substr(0, eq), value = item.substr(eq + 1);
    const nlohmann::json v = nlohmann::json::parse(value, nullptr, false);
    p[key] = (v.is_number() || v.is_boolean()) ? v : nlohmann::json(value);
  }
  return p;
}

constexpr uint64_t kFitTokens = 1 << 16;

// Statistics of tokens [begin, end) only, streamed in blocks as compute_stats does.
TraceStats fit_stats(const TraceReader& reader, uint64_t begin, uint64_t end) {
  StatsOptions opt;
  opt.transitions = false;  // no placement uses them; they cost an extra pass per layer pair
  StatsAccumulator acc(reader.header(), reader.requests(), opt);
  const uint64_t block = stats_block_tokens(reader.header(), reader.chunk_tokens());
  Progress progress("place: stats " + reader.path(), end - begin);
  for (uint64_t t = begin; t < end; t += block) {
    acc.add(reader.read(t, std::min(block, end - t)));
    progress.update(std::min(end, t + block) - begin);
  }
  return acc.take();
}

// Max over mean predicted GPU load, averaged over layers, and the worst layer's.
std::pair<double, double> imbalance(const Layout& lay, const TraceStats& s) {
  double sum = 0, worst = 0;
  for (int l = 0; l < lay.num_layers; ++l) {
    const std::vector<double> w = gpu_loads(lay.layers[static_cast<size_t>(l)], layer_load(s, l));
    double total = 0;
    for (double x : w) total += x;
    const double n = static_cast<double>(w.size());
    const double r = total > 0 ? *std::max_element(w.begin(), w.end()) * n / total : 1;
    sum += r;
    worst = std::max(worst, r);
  }
  return {lay.num_layers ? sum / lay.num_layers : 1, worst};
}

void print_summary(const PlaceOptions& o, const Layout& lay, const TraceStats& stats,
                   const std::string& fitted_on) {
  const auto [mean_r, worst_r] = imbalance(lay, stats);
  std::printf(
      "place: %s -> %s: %d layers, %d nodes x %d GPUs x %d slots, fit %s; "
      "predicted max/mean GPU load %.3f (mean over layers), %.3f (worst layer)\n",
      o.algo.c_str(), o.output.c_str(), lay.num_layers, lay.nodes, lay.gpus_per_node,
      lay.slots_per_gpu, fitted_on.c_str(), mean_r, worst_r);
}

void run_place(const PlaceOptions& o) {
  const PlacementAlgorithm& algo = find_placement(o.algo);  // unknown name: fail before reading
  const nlohmann::json params = parse_params(o.params);
  TraceReader reader(o.trace);
  const TraceHeader& h = reader.header();
  const ClusterSpec cluster =
      shape_cluster(load_cluster(o.cluster), o.nodes, o.gpus_per_node, o.slots, h.num_experts);
  const auto [begin, end] = parse_token_range(o.fit, h.num_tokens, "--fit");
  const TraceStats stats = fit_stats(reader, begin, end);
  const auto [d_model, d_ff] = priced_sizes(o.price_as, h.d_model, h.d_ff);
  // Algorithms that price sampled steps get the fit range's first kFitTokens tokens.
  TokenBlock tokens;
  if (algo.needs_tokens) tokens = reader.read(begin, std::min(end - begin, kFitTokens), false);
  Layout lay = algo.place({h.model, stats, cluster, o.seed, params, d_model, d_ff,
                           algo.needs_tokens ? &tokens : nullptr});
  lay.fit_trace = o.trace;
  lay.fit_begin = begin;
  lay.fit_end = end;
  validate_layout(lay, o.output + " (as produced by " + o.algo + ")");
  write_layout(o.output, lay);
  print_summary(o, lay, stats,
                "tokens [" + std::to_string(begin) + ", " + std::to_string(end) + ")");
}

// --loads: fit on counts an engine recorded (no tokens, so no co-activation).
void run_place_on_loads(const PlaceOptions& o) {
  const PlacementAlgorithm& algo = find_placement(o.algo);
  if (algo.needs_pairs)
    throw OptionError("algo", "'" + o.algo +
                                  "' places by co-activation, which a load file does not "
                                  "record; fit it on a trace (--trace) or use round-robin, "
                                  "balanced or eplb");
  const nlohmann::json params = parse_params(o.params);
  const LoadFile loads = read_load_file(o.loads);
  const ModelPreset model = resolve_model(o.model.empty() ? loads.model : o.model,
                                          o.model.empty() ? o.loads + ": model" : "--model");
  const TraceStats stats = stats_from_loads(loads, model, o.loads);
  const ClusterSpec cluster =
      shape_cluster(load_cluster(o.cluster), o.nodes, o.gpus_per_node, o.slots, model.num_experts);
  const auto [d_model, d_ff] = priced_sizes(o.price_as, model.d_model, model.d_ff);
  Layout lay = algo.place({model.name, stats, cluster, o.seed, params, d_model, d_ff});
  lay.params["loads"] = o.loads;
  validate_layout(lay, o.output + " (as produced by " + o.algo + ")");
  write_layout(o.output, lay);
  print_summary(o, lay, stats, "loads " + o.loads);
}

// --check: read and validate a layout file, print what it holds.
void run_check(const std::string& path) {
  const Layout lay = read_layout(path);
  size_t replicas = 0;
  for (const auto& layer : lay.layers) replicas += occupied_slots(layer);
  std::printf(
      "%s: valid layout: %s, %d layers x %d experts, %d nodes x %d GPUs x %d slots, "
      "algorithm %s, %.2f replicas per expert\n",
      path.c_str(), lay.model.c_str(), lay.num_layers, lay.num_experts, lay.nodes,
      lay.gpus_per_node, lay.slots_per_gpu, lay.algorithm.c_str(),
      static_cast<double>(replicas) / (lay.num_layers * lay.num_experts));
}

std::string algo_help() {
  std::string s = "Placement algorithm:";
  for (const auto& a : placement_algorithms()) s += std::string("\n  ") + a.name + ": " + a.summary;
  return s;
}

}  // namespace

void register_place(CLI::App& app) {
  auto o = std::make_shared<PlaceOptions>();
  CLI::App* cmd = app.add_subcommand(
      "place", "Fit an expert placement on part of a trace and write a layout (JSON)");
  CLI::Option* check =
      cmd->add_option("--check", o->check, "Only validate this layout file and summarise it");
  // Required unless --check: CLI11's needs/excludes cannot say "required unless", so the
  // callback checks.
  cmd->add_option("--algo", o->algo, algo_help())->excludes(check);
  CLI::Option* trace =
      cmd->add_option("--trace", o->trace, "Trace to fit on (HDF5)")->excludes(check);
  cmd->add_option("--loads", o->loads,
                  "Fit on a load file (expert counts an engine recorded; docs/engines.md) "
                  "instead of a trace")
      ->excludes(check)
      ->excludes(trace);
  cmd->add_option("--model", o->model,
                  "With --loads: the model (preset or FILE.json), if not the load file's");
  add_price_as(cmd, o->price_as);  // for the algorithms that price layouts (steptime, exact)
  cmd->add_option("--fit", o->fit, "Token range to fit on: A:B tokens or A%:B% of the trace")
      ->capture_default_str();
  cmd->add_option("--cluster", o->cluster, "Cluster preset (h800, h100, a100) or JSON file")
      ->capture_default_str();
  cmd->add_option("--nodes", o->nodes, "Override the cluster's number of nodes");
  cmd->add_option("--gpus-per-node", o->gpus_per_node, "Override GPUs per node");
  cmd->add_option("--slots", o->slots, "Expert slots per GPU per layer (default: E / GPUs)");
  cmd->add_option("--seed", o->seed, "Seed for randomised algorithms")->capture_default_str();
  cmd->add_option("--param", o->params, "Algorithm option KEY=VALUE (repeatable)");
  cmd->add_option("-o,--output", o->output, "Layout file to write (JSON)")->excludes(check);
  cmd->callback([o] {
    if (!o->check.empty()) return run_check(o->check);
    for (const auto& [value, name] : {std::pair{o->algo, "--algo"}, {o->output, "--output"}})
      if (value.empty()) throw InputError(std::string(name) + " is required (or use --check)");
    if (!o->loads.empty()) return run_place_on_loads(*o);
    if (o->trace.empty()) throw InputError("--trace or --loads is required (or use --check)");
    run_place(*o);
  });
}

}  // namespace epbench::cli
