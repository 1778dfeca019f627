#include "sim/serve.h"

#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <cmath>
#include <string>

#include "common/error.h"
#include "common/numeric.h"
#include "common/progress.h"
#include "common/strprintf.h"
#include "io/h5.h"
#include "model/model_spec.h"
#include "results/schema_names.h"
#include "results/serve_summary.h"
#include "results/serve_writer.h"
#include "scenario/layouts.h"
#include "scenario/request_spans.h"
#include "scenario/step_plan.h"
#include "sim/schedule_file.h"
#include "sim/serve_requests.h"
#include "sim/serve_sim.h"
#include "trace/trace_io.h"

namespace epbench {

namespace {

bool open_kind(ArrivalKind k) {
  return k == ArrivalKind::kPoisson || k == ArrivalKind::kGamma;
}

// The model steps are priced at: --model (or the trace's), with the trace's MoE layers, since
// those are the layers whose routing the trace holds.
ModelPreset priced_model(const ServeOptions& opt, const TraceHeader& h) {
  ModelPreset m = resolve_model(opt.model.empty() ? h.model : opt.model,
                                opt.model.empty() ? "the trace's model (pass --model)" : "--model");
  if (m.num_experts != h.num_experts || m.top_k != h.top_k)
    throw OptionError(
        "model", "expected a model with the trace's " + std::to_string(h.num_experts) +
                     " experts and top-" + std::to_string(h.top_k) + ", got " + m.name + " with " +
                     std::to_string(m.num_experts) + " and top-" + std::to_string(m.top_k));
  m.num_layers = h.num_layers;
  return m;
}

// One arrival setting of the sweep: the spec with its rate, and a name for the run.
struct ArrivalVariant {
  ArrivalSpec spec;
  std::string tag;
};

std::vector<ArrivalVariant> arrival_variants(const ServeOptions& opt) {
  std::vector<ArrivalVariant> out;
  if (!open_kind(opt.arrivals.kind)) {
    const std::string tag = opt.arrivals.kind == ArrivalKind::kClosed
                                ? "users" + std::to_string(opt.arrivals.users)
                                : "csv";
    return {{opt.arrivals, tag}};
  }
  for (double rate : opt.rates) {
    ArrivalSpec s = opt.arrivals;
    s.rate = rate;
    out.push_back({s, strprintf("rate%g", rate)});
  }
  return out;
}

ServingAttrs serving_attrs(const ServeOptions& opt, const ArrivalSpec& a, SchedulePolicy policy,
                           const ModelPreset& m, double overhead, double capacity) {
  ServingAttrs s;
  s.policy = schedule_name(policy);
  s.arrival = arrival_name(a.kind);
  s.step_cost = step_cost_name(opt.step_cost);
  s.priced_model = m.name;
  s.rate = open_kind(a.kind) ? a.rate : 0;
  s.cv = a.kind == ArrivalKind::kGamma ? a.cv : 1;
  s.users = a.users, s.think_time = a.think_s, s.seed = static_cast<int64_t>(a.seed);
  s.slo_ttft = opt.slo.ttft_s, s.slo_tpot = opt.slo.tpot_s;
  s.token_budget = static_cast<int64_t>(opt.limits.token_budget);
  s.max_running = opt.limits.max_running;
  s.fixed_prompt_tokens = opt.prompt_tokens, s.fixed_output_tokens = opt.output_tokens;
  s.step_overhead = overhead, s.kv_capacity_tokens = capacity;
  s.memory_fraction = opt.memory_fraction;
  return s;
}

// Everything one layout's runs share.
struct LayoutContext {
  const PreparedLayout& layout;
  const ModelPreset& model;
  const TokenBlock& block;
  const std::vector<RequestSpan>& spans;
  const std::vector<Arrival>& csv_rows;
  const ServeOptions& opt;
  const TraceHeader& header;
  std::vector<std::vector<double>> affinity;  // per trace request, for --allocation affinity
};

// One run of the sweep: an arrival setting, a routing and a policy.
struct ServeJob {
  ArrivalVariant arrivals;
  RoutingPolicy routing;
  SchedulePolicy policy;
};

ServeRun serve_one(const LayoutContext& c, const DeploymentCost& deploy, const ServeJob& job,
                   double capacity, double overhead, bool progress) {
  const ServeOptions& opt = c.opt;
  const ArrivalSpec& spec = job.arrivals.spec;
  std::vector<RequestShape> shapes =
      make_requests({spec, c.csv_rows, opt.prompt_tokens, opt.output_tokens}, c.spans);
  check_requests_fit(shapes, capacity);
  ClusterSpec kv_cluster = c.layout.cluster;
  kv_cluster.kv_capacity_tokens = capacity;
  ServeState state(std::move(shapes), Allocator(opt.allocation, kv_cluster), opt.limits.max_running,
                   c.affinity);
  Scheduler scheduler(job.policy, opt.limits, opt.slo);
  const CostModel cost(c.layout.cluster, c.model.d_model, c.model.d_ff, opt.cost);  // per thread
  StepPricer pricer(opt.step_cost, c.block, c.layout.replicas, cost, job.routing, deploy, overhead);
  const ClosedLoop closed{spec.kind == ArrivalKind::kClosed ? spec.users : 0, spec.think_s};
  ServeSimInputs in{c.block, c.spans,        deploy,  c.layout.cluster.num_gpus(),
                    closed,  opt.per_gpu_kv, progress};
  in.record_schedule = !opt.schedule_out.empty();
  ServeRun run = simulate_serving(in, state, scheduler, pricer);
  run.summary = summarize_serving(run.requests, run.steps, opt.slo);
  run.summary.kv_capacity = capacity;
  if (!open_kind(spec.kind)) run.summary.saturated = false;
  run.layers = sz(c.header.num_layers), run.experts = sz(c.header.num_experts);
  run.name = c.layout.name + "." + routing_name(job.routing) + "." + schedule_name(job.policy) +
             "." + job.arrivals.tag;
  run.layout = c.layout.name, run.layout_path = c.layout.path;
  run.algorithm = c.layout.layout.algorithm;
  run.routing = routing_name(job.routing), run.policy = schedule_name(job.policy);
  run.arrival = arrival_name(spec.kind);
  run.rate = open_kind(spec.kind) ? spec.rate : 0;
  return run;
}

ConfigAttrs config_attrs(const ServeOptions& opt, const PreparedLayout& p, const ModelPreset& m,
                         RoutingPolicy rp) {
  ConfigAttrs a = layout_config_attrs(p);
  a.routing = routing_name(rp);
  a.allocation = allocation_name(opt.allocation);
  a.batching = "continuous";
  a.backend = "serving-model";
  a.comm = opt.cost.hierarchical ? "hierarchical" : "flat";
  a.dtype = p.cluster.bytes_per_activation == 2 ? "bf16" : "other";
  a.d_model = m.d_model, a.d_ff = m.d_ff;
  a.trace = opt.trace, a.token_begin = opt.begin, a.token_end = opt.end;
  return a;
}

// The run's step schedule with what `run --schedule` checks and compares against.
ScheduleFile schedule_of(const LayoutContext& c, const ServeRun& run) {
  const ServeOptions& opt = c.opt;
  ScheduleFile s;
  s.id = schedule_identity(opt.trace, c.header, c.block, opt.begin, opt.end, c.layout);
  s.routing = run.routing, s.policy = run.policy, s.cluster = c.layout.cluster.name;
  s.step_cost = step_cost_name(opt.step_cost), s.rate = run.rate;
  s.command_line = opt.command_line;
  s.steps = run.schedule;
  s.step_start = run.steps.start;
  for (size_t i = 0; i < run.steps.size(); ++i)
    s.step_end.push_back(run.steps.start[i] + run.steps.time[i]);
  const ServedRequests& q = run.requests;
  s.arrival = q.arrival, s.prompt = q.prompt, s.output = q.output;
  for (size_t r = 0; r < q.size(); ++r) {
    s.ttft.push_back(q.first_token[r] - q.arrival[r]);
    s.tpot.push_back(q.output[r] > 1 ? (q.finish[r] - q.first_token[r]) / (q.output[r] - 1)
                                     : std::nan(""));
  }
  return s;
}

// Keeps the summary and names of a written run, drops its datasets.
ServeRun summary_only(ServeRun&& r) {
  r.requests = {}, r.steps = {}, r.tokens_per_expert = {};
  return std::move(r);
}

std::vector<ServeJob> serve_jobs(const ServeOptions& opt) {
  std::vector<ServeJob> jobs;
  for (const ArrivalVariant& av : arrival_variants(opt))
    for (RoutingPolicy rp : opt.routings)
      for (SchedulePolicy policy : opt.policies) jobs.push_back({av, rp, policy});
  return jobs;
}

// Runs as many jobs at once as there are threads, then writes them in order: the file does
// not depend on the thread count, and at most one run per thread is in memory.
void serve_layout(const LayoutContext& c, hid_t runs, std::vector<ServeRun>& out) {
  const ServeOptions& opt = c.opt;
  const DeploymentCost deploy(c.model, c.layout.cluster);
  const double capacity = opt.kv_capacity_tokens > 0
                              ? opt.kv_capacity_tokens
                              : deploy.kv_capacity_tokens(opt.memory_fraction);
  const double overhead =
      opt.step_overhead_s >= 0 ? opt.step_overhead_s : c.layout.cluster.step_overhead_s;
  const std::vector<ServeJob> jobs = serve_jobs(opt);
  const bool one = jobs.size() == 1;
  const size_t width = sz(tbb::this_task_arena::max_concurrency());
  Progress progress("serve " + c.layout.name, opt.progress && !one ? jobs.size() : 0, "runs");
  for (size_t first = 0; first < jobs.size(); first += width) {
    const size_t last = std::min(jobs.size(), first + width);
    std::vector<ServeRun> batch(last - first);
    tbb::parallel_for(first, last, [&](size_t i) {
      batch[i - first] = serve_one(c, deploy, jobs[i], capacity, overhead, opt.progress && one);
    });
    for (size_t i = first; i < last; ++i) {
      const ServeJob& job = jobs[i];
      if (!opt.schedule_out.empty())
        write_schedule_file(opt.schedule_out, schedule_of(c, batch[i - first]));
      write_serve_run(
          runs, batch[i - first], config_attrs(opt, c.layout, c.model, job.routing),
          serving_attrs(opt, job.arrivals.spec, job.policy, c.model, overhead, capacity));
      out.push_back(summary_only(std::move(batch[i - first])));
    }
    progress.update(last);
  }
}

// A schedule is one configuration's: refuse sweeps, naming what has several values.
void check_schedule_out(const ServeOptions& opt) {
  if (opt.schedule_out.empty()) return;
  const auto one = [](const char* what, size_t n) {
    if (n != 1)
      throw OptionError("schedule-out", strprintf("writes the schedule of exactly one "
                                                  "configuration, but %zu %s were given: pass one",
                                                  n, what));
  };
  one("layouts", opt.layouts.size());
  one("routings", opt.routings.size());
  one("policies", opt.policies.size());
  if (open_kind(opt.arrivals.kind)) one("rates", opt.rates.size());
}

}  // namespace

void check_serve_options(const ServeOptions& opt) {
  if (opt.layouts.empty()) throw OptionError("layouts", "expected at least one layout file");
  if (opt.routings.empty()) throw OptionError("routing", "expected at least one policy");
  if (opt.policies.empty()) throw OptionError("policy", "expected at least one policy");
  if (open_kind(opt.arrivals.kind) && opt.rates.empty())
    throw OptionError("rate", "expected at least one arrival rate (requests/s) for " +
                                  std::string(arrival_name(opt.arrivals.kind)) + " arrivals");
  for (double r : opt.rates)
    if (!(r > 0) || !std::isfinite(r))
      throw OptionError("rate", strprintf("expected rates > 0 requests/s, got %g", r));
  ArrivalSpec probe = opt.arrivals;
  if (open_kind(probe.kind) && !opt.rates.empty()) probe.rate = opt.rates[0];
  if (probe.requests == 0) probe.requests = 1;  // 0: as many as the range holds
  check_arrival_spec(probe);
  if (opt.limits.token_budget < 1) throw OptionError("token-budget", "expected at least 1 token");
  if (!(opt.memory_fraction > 0 && opt.memory_fraction <= 1))
    throw OptionError("memory-fraction",
                      strprintf("expected a share in (0, 1], got %g", opt.memory_fraction));
  for (SchedulePolicy p : opt.policies)
    if (p == SchedulePolicy::kSloAware && !(opt.slo.tpot_s > 0))
      throw OptionError("policy", "slo-aware needs a TPOT target: expected --slo-tpot");
  check_schedule_out(opt);
  if (opt.step_cost == StepCostKind::kConstant && !(opt.step_overhead_s > 0))
    throw OptionError("step-cost", "constant needs the step time: expected --step-overhead > 0");
}

std::vector<ServeRun> run_serve(const ServeOptions& opt) {
  check_serve_options(opt);
  const TraceReader reader(opt.trace);
  const TraceHeader& h = reader.header();
  check_token_range(h, opt.begin, opt.end);
  const ModelPreset model = priced_model(opt, h);
  const std::vector<Arrival> csv_rows = opt.arrivals.kind == ArrivalKind::kCsv
                                            ? read_arrivals_csv(opt.arrivals.csv)
                                            : std::vector<Arrival>{};
  const LayoutSource src{opt.layouts, opt.cluster, opt.nodes, opt.gpus_per_node,
                         opt.trace,   opt.begin,   opt.end};
  const std::vector<PreparedLayout> layouts = load_layouts(src, h);
  const TokenBlock block = reader.read(opt.begin, opt.end - opt.begin, false);
  const std::vector<RequestSpan> spans =
      servable_spans(request_spans(reader.requests(), opt.begin, opt.end));
  std::vector<ServeRun> runs;
  const ResultsHeader header{"serve", opt.command_line, opt.trace, h.model, {hostname()}};
  write_results_file(opt.output, header, [&](hid_t g) {
    for (const PreparedLayout& p : layouts)
      serve_layout(
          {p, model, block, spans, csv_rows, opt, h,
           opt.allocation == AllocationPolicy::kAffinity ? request_profiles(spans, block, p)
                                                         : std::vector<std::vector<double>>{}},
          g, runs);
  });
  return runs;
}

}  // namespace epbench
