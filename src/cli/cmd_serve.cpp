// `epbench serve`: many requests at once on each layout (docs/serve.md); writes a results
// file and prints, per run, throughput, latency percentiles and goodput, all predicted.
#include <cstdio>
#include <memory>

#include "cli/cli_common.h"
#include "common/error.h"
#include "common/strprintf.h"
#include "sim/serve.h"
#include "trace/trace_io.h"

namespace epbench::cli {

namespace {

struct ServeCliOptions {
  std::string trace, layouts, cluster = "h800", model, routing = "first";
  std::string allocation = "round-robin", policy = "chunked", range = "50%:100%", output;
  std::string arrival = "poisson", rates = "1", arrival_file, slo_ttft, slo_tpot, think = "0s";
  std::string step_cost = "full", step_overhead, schedule_out;
  int nodes = 0, gpus_per_node = 0, users = 0;
  double cv = 1, kv_capacity = 0, memory_fraction = 0.9;
  uint64_t requests = 0, seed = 1, token_budget = 8192;
  uint32_t max_running = 0, prompt_tokens = 0, output_tokens = 0;
  bool hierarchical = false, per_gpu = false;
};

template <class T, class Parse>
std::vector<T> parse_each(const std::string& text, Parse parse) {
  std::vector<T> out;
  for (const std::string& s : split_commas(text)) out.push_back(parse(s));
  return out;
}

void set_arrivals(const ServeCliOptions& o, ServeOptions& c) {
  c.arrivals.kind = parse_arrival(o.arrival);
  c.arrivals.cv = o.cv;
  c.arrivals.users = o.users;
  c.arrivals.think_s = parse_duration(o.think, "--think");
  c.arrivals.csv = o.arrival_file;
  c.arrivals.seed = o.seed;
  c.arrivals.requests = o.requests;
  const bool open =
      c.arrivals.kind == ArrivalKind::kPoisson || c.arrivals.kind == ArrivalKind::kGamma;
  if (open) c.rates = parse_positive_numbers(o.rates, "--rate");
}

ServeOptions make_options(const ServeCliOptions& o) {
  ServeOptions c;
  c.trace = o.trace;
  for (const std::string& l : split_commas(o.layouts))
    if (!l.empty()) c.layouts.push_back(l);
  c.cluster = o.cluster, c.nodes = o.nodes, c.gpus_per_node = o.gpus_per_node;
  c.model = o.model;
  c.routings = parse_each<RoutingPolicy>(o.routing, parse_routing);
  c.allocation = parse_allocation(o.allocation);
  c.policies = parse_each<SchedulePolicy>(o.policy, parse_schedule);
  c.limits = {o.token_budget, o.max_running};
  if (!o.slo_ttft.empty()) c.slo.ttft_s = parse_duration(o.slo_ttft, "--slo-ttft");
  if (!o.slo_tpot.empty()) c.slo.tpot_s = parse_duration(o.slo_tpot, "--slo-tpot");
  set_arrivals(o, c);
  c.prompt_tokens = o.prompt_tokens, c.output_tokens = o.output_tokens;
  c.step_cost = parse_step_cost(o.step_cost);
  if (!o.step_overhead.empty())
    c.step_overhead_s = parse_duration(o.step_overhead, "--step-overhead");
  c.kv_capacity_tokens = o.kv_capacity;
  c.memory_fraction = o.memory_fraction;
  c.cost.hierarchical = o.hierarchical;
  c.per_gpu_kv = o.per_gpu;
  c.command_line = command_line();
  c.output = o.output;
  c.schedule_out = o.schedule_out;
  check_serve_options(c);
  const TraceReader reader(o.trace);  // only for the length: run_serve reads it again
  std::tie(c.begin, c.end) = parse_token_range(o.range, reader.header().num_tokens, "--range");
  return c;
}

std::string rate_text(const ServeRun& r) {
  return r.rate > 0 ? strprintf("%g", r.rate) : r.arrival;
}

std::string summary_table(const std::vector<ServeRun>& runs, const ServeOptions& opt) {
  std::string out = strprintf(
      "predicted by the serving model (docs/serve.md: %s step cost); goodput: requests/s "
      "meeting TTFT <= %s and TPOT <= %s\n",
      step_cost_name(opt.step_cost),
      opt.slo.ttft_s > 0 ? strprintf("%gms", opt.slo.ttft_s * 1e3).c_str() : "any",
      opt.slo.tpot_s > 0 ? strprintf("%gms", opt.slo.tpot_s * 1e3).c_str() : "any");
  out += strprintf("%-26s %-10s %-12s %7s %8s %10s %9s %9s %9s %8s %6s %7s\n", "layout", "routing",
                   "policy", "rate/s", "req/s", "out tok/s", "TTFT p99", "TPOT p50", "TPOT p99",
                   "goodput", "SLO %", "preempt");
  for (const ServeRun& r : runs) {
    const ServeSummary& m = r.summary;
    out += strprintf(
        "%-26s %-10s %-12s %7s %8.3g %10.4g %7.4gms %7.4gms %7.4gms %8.3g %6.1f %7llu%s\n",
        r.layout.c_str(), r.routing.c_str(), r.policy.c_str(), rate_text(r).c_str(),
        m.request_throughput, m.output_tokens_per_s, m.ttft_p99 * 1e3, m.tpot_p50 * 1e3,
        m.tpot_p99 * 1e3, m.goodput, 100 * m.slo_attainment,
        static_cast<unsigned long long>(m.preemptions), m.saturated ? "  saturated" : "");
  }
  return out;
}

void run(const ServeCliOptions& o) {
  const ServeOptions opt = make_options(o);
  const std::vector<ServeRun> runs = run_serve(opt);
  const std::string text = summary_table(runs, opt);
  std::fwrite(text.data(), 1, text.size(), stdout);
}

void add_arrival_options(CLI::App* cmd, ServeCliOptions& o) {
  cmd->add_option("--arrival", o.arrival, "Arrivals: poisson, gamma, closed, csv")
      ->capture_default_str();
  cmd->add_option("--rate", o.rates, "Arrival rates in requests/s, comma-separated (a sweep)")
      ->capture_default_str();
  cmd->add_option("--cv", o.cv, "gamma: coefficient of variation of inter-arrival times")
      ->capture_default_str();
  cmd->add_option("--users", o.users, "closed: concurrent users");
  cmd->add_option("--think", o.think, "closed: think time between requests, e.g. 500ms")
      ->capture_default_str();
  cmd->add_option("--arrival-file", o.arrival_file,
                  "csv: TIMESTAMP,ContextTokens,GeneratedTokens (Azure LLM inference traces)");
  cmd->add_option("--requests", o.requests,
                  "Requests per run (poisson, gamma, closed; default: the range's requests)");
  cmd->add_option("--seed", o.seed, "Seed of the arrival times")->capture_default_str();
  cmd->add_option("--prompt-tokens", o.prompt_tokens, "Fixed prompt length (default: trace's)");
  cmd->add_option("--output-tokens", o.output_tokens, "Fixed output length (default: trace's)");
}

void add_schedule_options(CLI::App* cmd, ServeCliOptions& o) {
  cmd->add_option("--policy", o.policy,
                  "Scheduling, comma-separated: fcfs, chunked, decode-first, slo-aware")
      ->capture_default_str();
  cmd->add_option("--token-budget", o.token_budget, "Tokens per step, all GPUs together")
      ->capture_default_str();
  cmd->add_option("--max-running", o.max_running, "Requests running at once (0: KV limits)")
      ->capture_default_str();
  cmd->add_option("--allocation", o.allocation,
                  "Request homes: round-robin, least-loaded, affinity")
      ->capture_default_str();
  cmd->add_option("--slo-ttft", o.slo_ttft, "TTFT target with a unit, e.g. 2s");
  cmd->add_option("--slo-tpot", o.slo_tpot, "TPOT target with a unit, e.g. 50ms");
}

void add_cost_options(CLI::App* cmd, ServeCliOptions& o) {
  cmd->add_option("--cluster", o.cluster, "Cluster preset (h800, h100, a100) or JSON file")
      ->capture_default_str();
  cmd->add_option("--nodes", o.nodes, "Nodes (default: the layouts')");
  cmd->add_option("--gpus-per-node", o.gpus_per_node, "GPUs per node (default: the layouts')");
  cmd->add_option("--model", o.model,
                  "Price at this model's sizes (preset or spec file; same experts and top-k as "
                  "the trace; the MoE layers stay the trace's)");
  cmd->add_option("--routing", o.routing, routing_help())->capture_default_str();
  cmd->add_option("--step-cost", o.step_cost, "full, moe (as evaluate), constant")
      ->capture_default_str();
  cmd->add_option("--step-overhead", o.step_overhead,
                  "Per-step overhead with a unit (default: the cluster's); constant: the step");
  cmd->add_option("--kv-capacity", o.kv_capacity,
                  "KV tokens per GPU (default: memory-fraction x HBM minus weights)");
  cmd->add_option("--memory-fraction", o.memory_fraction, "Share of HBM for weights and KV")
      ->capture_default_str();
  cmd->add_flag("--hierarchical", o.hierarchical, "Hierarchical dispatch");
}

}  // namespace

void register_serve(CLI::App& app) {
  auto o = std::make_shared<ServeCliOptions>();
  CLI::App* cmd = app.add_subcommand(
      "serve", "Simulate serving many requests at once: arrivals, continuous batching, KV");
  cmd->add_option("--trace", o->trace, "Trace (HDF5)")->required();
  cmd->add_option("--layouts", o->layouts, "Layout files, comma-separated")->required();
  cmd->add_option("--range,--test", o->range,
                  "Token range whose requests are replayed: A:B or A%:B%")
      ->capture_default_str();
  add_arrival_options(cmd, *o);
  add_schedule_options(cmd, *o);
  add_cost_options(cmd, *o);
  cmd->add_flag("--per-gpu", o->per_gpu, "Also write the KV in use per GPU and step");
  cmd->add_option("--schedule-out", o->schedule_out,
                  "Also write the step schedule (one configuration) for `run --schedule`");
  cmd->add_option("-o,--output", o->output, "Results file to write (HDF5)")->required();
  cmd->callback([o] { run(*o); });
}

}  // namespace epbench::cli
