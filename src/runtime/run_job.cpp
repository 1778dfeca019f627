#include "runtime/run_job.h"

#include <signal.h>
#include <unistd.h>

#include <algorithm>
#include <cstdio>
#include <cstring>
#include <iterator>
#include <memory>
#include <optional>

#include "common/error.h"
#include "common/numeric.h"
#include "common/strprintf.h"
#include "costmodel/cost_model.h"
#include "costmodel/profile.h"
#include "runtime/gpu_locality.h"
#include "runtime/mpi_env.h"
#include "runtime/planted_fault.h"
#include "runtime/reference_check.h"
#include "runtime/run_results.h"
#include "runtime/schedule_replay.h"
#include "runtime/shards.h"
#include "runtime/topology.h"
#include "scenario/layouts.h"
#include "scenario/request_spans.h"
#include "scenario/step_plan.h"
#include "sim/evaluate.h"
#include "sim/schedule_metrics.h"
#include "trace/trace_io.h"

namespace epbench {

namespace {

// What every rank knows before the first step.
struct Job {
  Job(const RunOptions& c, MPI_Comm m) : cfg(c), comm(m) {}
  const RunOptions& cfg;
  MPI_Comm comm;
  int rank = 0, world = 1;
  TraceHeader header;
  TokenBlock block;
  std::vector<RequestSpan> spans;
  std::vector<PreparedLayout> layouts;
  JobTopology topo;
  int d_model = 0, d_ff = 0;
  std::vector<ConfigAttrs> attrs;        // per configuration run, for the results file
  uint64_t shard_bytes = 0;              // the largest layout's, per rank
  std::optional<ScheduleFile> schedule;  // --schedule
};

int scaled(int given, int trace_value, double scale) {
  const int v = given > 0 ? given : trace_value;
  return std::max(1, static_cast<int>(static_cast<double>(v) * scale + 0.5));
}

void load_inputs(Job& job) {
  const RunOptions& cfg = job.cfg;
  const TraceReader reader(cfg.trace);
  job.header = reader.header();
  if (cfg.begin >= cfg.end || cfg.end > job.header.num_tokens)
    throw OptionError("range", "expected a non-empty token range within the trace's " +
                                   std::to_string(job.header.num_tokens) + " tokens");
  job.block = reader.read(cfg.begin, cfg.end - cfg.begin);
  job.spans = request_spans(reader.requests(), cfg.begin, cfg.end);
  const LayoutSource src{cfg.layouts, cfg.cluster, 0,       0,
                         cfg.trace,   cfg.begin,   cfg.end, job.rank == 0};
  job.layouts = load_layouts(src, job.header);
  job.d_model = scaled(cfg.d_model, job.header.d_model, cfg.scale);
  job.d_ff = scaled(cfg.d_ff, job.header.d_ff, cfg.scale);
}

// run --schedule: the schedule decides the token range and the routing; the baselines are
// skipped, since they would run inside the timed steps. Its trace fields are checked here,
// before the range is read, so another trace is named as such.
ScheduleFile load_schedule(RunOptions& cfg) {
  ScheduleFile s = read_schedule_file(cfg.schedule);
  if (cfg.layouts.size() != 1)
    throw OptionError("layouts",
                      "with --schedule, expected the one layout the schedule was made "
                      "for (" +
                          s.id.layout + "), got " + std::to_string(cfg.layouts.size()));
  const TraceHeader h = TraceReader(cfg.trace).header();
  ScheduleIdentity here = s.id;
  here.model = h.model, here.tokens = static_cast<int64_t>(h.num_tokens);
  here.layers = h.num_layers, here.experts = h.num_experts, here.top_k = h.top_k;
  here.requests = static_cast<int64_t>(h.num_requests);
  check_schedule_identity(cfg.schedule, s.id, here);
  cfg.begin = static_cast<uint64_t>(s.id.begin), cfg.end = static_cast<uint64_t>(s.id.end);
  try {
    cfg.routings = {parse_routing(s.routing)};
  } catch (const InputError&) {
    throw_field_error(cfg.schedule, "routing", "a routing policy", "'" + s.routing + "'");
  }
  cfg.baseline = false;
  return s;
}

// The range's expert choices and the layout's placement are the schedule's.
void check_schedule_inputs(const Job& job) {
  const ScheduleFile& s = *job.schedule;
  check_schedule_identity(job.cfg.schedule, s.id,
                          schedule_identity(job.cfg.trace, job.header, job.block, job.cfg.begin,
                                            job.cfg.end, job.layouts.front()));
}

// The layout must place experts on exactly this job's ranks, grouped into its nodes.
void check_shape(const Job& job) {
  for (const PreparedLayout& p : job.layouts) {
    const Layout& l = p.layout;
    if (l.num_gpus() != job.world)
      throw InputError(p.path + ": places experts on " + std::to_string(l.num_gpus()) + " GPUs (" +
                       std::to_string(l.nodes) + " nodes x " + std::to_string(l.gpus_per_node) +
                       "), but this job has " + std::to_string(job.world) +
                       " ranks; launch it with -np " + std::to_string(l.num_gpus()));
    if (l.nodes != job.topo.nodes || l.gpus_per_node != job.topo.ranks_per_node)
      throw InputError(p.path + ": expects " + std::to_string(l.nodes) + " nodes x " +
                       std::to_string(l.gpus_per_node) + " GPUs, but this job's ranks form " +
                       std::to_string(job.topo.nodes) + " node(s)" +
                       (job.topo.virtual_nodes ? " (virtual)" : "") + "; --ranks-per-node " +
                       std::to_string(l.gpus_per_node) +
                       " groups the ranks into virtual nodes of that size");
  }
}

// A cluster's profile must have been measured like this run (docs/profile.md), checked here
// where every rank agrees, before any step or output.
void check_profiles(const Job& job) {
  for (const PreparedLayout& p : job.layouts) {
    if (!p.cluster.profile) continue;
    check_profile_shape(*p.cluster.profile, job.d_model, job.d_ff, job.world);
    check_profile_backend(*p.cluster.profile, job.cfg.backend, dtype_name(job.cfg.dtype));
  }
}

// The CPU backend holds fp32 shards in host memory; the GPU backend holds them on the device in
// the run's dtype, so its budget is the device's free memory shared by the ranks using it.
MemoryBudget shard_budget(const Job& job) {
  const RankPlacement& me = job.topo.ranks[sz(job.rank)];
  if (job.cfg.backend != "cuda") return memory_per_rank(job.cfg.memory_limit, me.local_size);
  const DeviceMemory device = device_memory(me.gpu);
  if (device.total == 0) return {};  // no usable GPU: the backend refuses, saying why
  return device_memory_per_rank(job.cfg.memory_limit, device.free,
                                ranks_on_gpu(job.topo, job.rank));
}

void check_memory(Job& job) {
  const size_t value_bytes = job.cfg.backend == "cuda" ? dtype_bytes(job.cfg.dtype) : sizeof(float);
  const MemoryBudget have = shard_budget(job);
  for (const PreparedLayout& p : job.layouts) {
    const uint64_t need = shard_bytes(p.layout, job.d_model, job.d_ff, value_bytes);
    require_memory(p.path, need, have, p.layout.num_layers, p.layout.slots_per_gpu, job.d_model,
                   job.d_ff, value_bytes);
    job.shard_bytes = std::max(job.shard_bytes, need);
  }
}

std::unique_ptr<FfnBackend> make_backend(const Job& job, const PreparedLayout& p) {
  const size_t shards = sz(p.layout.num_layers) * sz(p.layout.slots_per_gpu);
  if (job.cfg.backend == "cpu")
    return make_cpu_backend(job.d_model, job.d_ff, shards, job.cfg.threads);
  if (job.cfg.backend == "cuda")
    return make_cuda_backend(job.d_model, job.d_ff, shards, job.topo.ranks[sz(job.rank)].gpu,
                             job.cfg.dtype == DType::kBf16);
  throw OptionError("backend", "expected cpu or cuda, got '" + job.cfg.backend + "'");
}

std::unique_ptr<Exchange> make_exchange(const Job& job) {
  if (job.cfg.comm == "mpi") return make_mpi_exchange(job.comm);
  if (job.cfg.comm == "nccl") {
    require_distinct_gpus(job.topo);
    return make_nccl_exchange(job.comm, job.topo.ranks[sz(job.rank)].gpu);
  }
  throw OptionError("comm", "expected mpi or nccl, got '" + job.cfg.comm + "'");
}

// The cost model priced like the run: its sizes and its dtype on the wire and in the weights.
CostModel run_cost_model(const Job& job, const PreparedLayout& p) {
  ClusterSpec c = p.cluster;
  c.bytes_per_activation = static_cast<int>(dtype_bytes(job.cfg.dtype));
  c.bytes_per_weight = job.cfg.backend == "cpu" ? 4 : static_cast<int>(dtype_bytes(job.cfg.dtype));
  return CostModel(c, job.d_model, job.d_ff);
}

// A test-only fault (runtime/planted_fault.h) is announced, so no one mistakes its results.
void warn_planted_fault(int rank) {
  const PlantedFault f = planted_fault();
  if (f == PlantedFault::kNone || rank != 0) return;
  std::fprintf(stderr, "epbench: warning: EPBENCH_PLANT_FAULT=%s: this run is wrong on purpose\n",
               planted_fault_name(f));
}

// A rank that dies mid-run, for the fault tests: the launcher must end the job promptly.
void maybe_die(const Job& job, uint64_t step) {
  if (job.rank != job.cfg.fault_rank || step != job.cfg.fault_step) return;
  std::fprintf(stderr, "epbench: rank %d: --inject-fault: killing this rank at step %llu\n",
               job.rank, static_cast<unsigned long long>(step));
  std::fflush(stderr);
  raise(SIGKILL);
}

// Per layer, the scratch of one step on this rank.
struct StepScratch {
  std::vector<uint16_t> ids;
  std::vector<float> gate, x, y;
  std::vector<int32_t> slots;
  std::vector<uint64_t> trace_token;
  DispatchPlan plan;
};

// Tokens in the plan's largest step: what the device buffers are reserved for.
size_t largest_step(const StepPlan& plan) {
  uint64_t most = 0;
  for (size_t s = 0; s + 1 < plan.offset.size(); ++s)
    most = std::max(most, plan.offset[s + 1] - plan.offset[s]);
  return static_cast<size_t>(most);
}

class ConfigRunner {
 public:
  ConfigRunner(const Job& job, const PreparedLayout& p, const StepPlan& plan, RoutingPolicy rp,
               FfnBackend& backend, Exchange& exchange)
      : job_(job),
        p_(p),
        plan_(plan),
        router_(rp),
        cost_(run_cost_model(job, p)),
        runner_(job.comm, exchange, backend, job.cfg.dtype, job.d_model, node_of(job)),
        check_(job.cfg.seed, job.d_model, job.d_ff, job.header.top_k, job.cfg.dtype,
               job.cfg.check_stride) {
    runner_.reserve(largest_step(plan), job.header.top_k);
  }

  void run(uint64_t measured_steps, RankRecord& rec) {
    begin(measured_steps, rec);
    const uint64_t warmup = std::min(job_.cfg.warmup, measured_steps);
    for (uint64_t i = 0; i < warmup + measured_steps; ++i) {
      const bool measured = i >= warmup;
      const uint64_t s = measured ? i - warmup : i;
      if (measured) maybe_die(job_, s);
      run_step(s, measured, rec);
    }
    end(rec);
  }

  // Step by step (run --schedule): begin, then any run_step, then end.
  void begin(uint64_t measured_steps, RankRecord& rec) const {
    rec.reset(measured_steps, sz(job_.header.num_layers), sz(job_.header.num_experts));
  }
  void end(RankRecord& rec) {
    rec.checked_tokens = check_.checked();
    rec.check_max_error = check_.max_error();
  }

  void run_step(uint64_t s, bool measured, RankRecord& rec) {
    std::string failure;
    for (int l = 0; l < job_.header.num_layers; ++l) {
      LayerMeasure scratch;
      LayerMeasure& m = measured ? rec.measures[s * rec.layers + sz(l)] : scratch;
      run_layer(s, l, m, measured ? &rec : nullptr, failure);
    }
    prepared_step_ = UINT64_MAX;  // its inputs were taken
    // One collective per step: a mismatch anywhere stops every rank.
    if (job_.cfg.check)
      agree(job_.comm, [&] {
        if (!failure.empty()) throw std::runtime_error(failure);
      });
  }

  // Step s's hidden states for every layer, made ahead (run --schedule: off the step's clock);
  // run_layer then takes them in place of making its own.
  void prepare_inputs(uint64_t s) {
    const size_t first = plan_.offset[s], n = plan_.offset[s + 1] - first,
                 L = sz(job_.header.num_layers);
    prepared_.resize(L);
    for (size_t l = 0; l < L; ++l) {
      std::vector<float>& x = prepared_[l];
      x.clear();
      for (size_t i = 0; i < n; ++i)
        if (plan_.home[first + i] == job_.rank) add_hidden_state(plan_.token[first + i], l, x);
    }
    prepared_step_ = s;
  }

 private:
  static std::vector<int> node_of(const Job& job) {
    std::vector<int> out;
    for (const RankPlacement& r : job.topo.ranks) out.push_back(r.node);
    return out;
  }

  void route_layer(uint64_t s, int l) {
    const size_t first = plan_.offset[s], n = plan_.offset[s + 1] - first;
    const size_t k = sz(job_.header.top_k);
    const TokenBlock& b = job_.block;
    sc_.ids.resize(n * k), sc_.gate.resize(n * k), sc_.slots.resize(n * k);
    sc_.trace_token.resize(n);
    for (size_t i = 0; i < n; ++i) {
      const uint64_t t = plan_.token[first + i];
      sc_.trace_token[i] = job_.cfg.begin + t;
      std::memcpy(sc_.ids.data() + i * k, b.experts(t, l), k * sizeof(uint16_t));
      const size_t at = (t * sz(b.num_layers) + sz(l)) * k;
      for (size_t j = 0; j < k; ++j)
        sc_.gate[i * k + j] =
            b.gate_weights.empty() ? 1.f / static_cast<float>(k) : b.gate_weights[at + j];
    }
    // The same routing as the prediction's (evaluate_plan), min-time priced by the same model.
    router_.route(p_.replicas[sz(l)], sc_.ids.data(), plan_.home.data() + first, n,
                  job_.header.top_k, sc_.slots.data(), &cost_);
    build_dispatch_plan(job_.rank, job_.world, p_.layout.slots_per_gpu, plan_.home.data() + first,
                        sc_.slots.data(), sc_.gate.data(), n, job_.header.top_k, sc_.plan);
  }

  void make_inputs(uint64_t s, int l) {
    const size_t d = sz(job_.d_model), home = sc_.plan.home_tokens.size();
    sc_.y.resize(home * d);
    if (prepared_step_ == s) {
      sc_.x.swap(prepared_[sz(l)]);
      return;
    }
    sc_.x.clear();
    for (size_t i = 0; i < home; ++i)
      add_hidden_state(plan_.token[plan_.offset[s] + sc_.plan.home_tokens[i]], sz(l), sc_.x);
  }

  void add_hidden_state(uint64_t token, size_t l, std::vector<float>& x) const {
    const size_t d = sz(job_.d_model);
    x.resize(x.size() + d);
    make_hidden_state(job_.cfg.seed, job_.cfg.begin + token, static_cast<int>(l), job_.d_model,
                      job_.cfg.dtype, x.data() + x.size() - d);
  }

  void run_layer(uint64_t s, int l, LayerMeasure& m, RankRecord* rec, std::string& failure) {
    route_layer(s, l);
    make_inputs(s, l);
    const size_t shard0 = sz(l) * sz(p_.layout.slots_per_gpu);
    runner_.run(sc_.plan, shard0, sc_.x.data(), sc_.y.data(), m);
    if (rec && job_.cfg.baseline)
      runner_.run_baseline(sc_.plan, shard0, sc_.x.data(), sc_.y.data(), job_.cfg.baseline_reps, m);
    if (rec) count_experts(l, *rec);
    if (job_.cfg.check && failure.empty()) try {
        check_.check_layer(l, sc_.plan, sc_.trace_token.data(), sc_.ids.data(), sc_.gate.data(),
                           sc_.x.data(), sc_.y.data());
      } catch (const std::exception& e) {
        failure = e.what();
      }
  }

  void count_experts(int l, RankRecord& rec) const {
    const auto& mine = p_.layout.layers[sz(l)].gpu_experts[sz(job_.rank)];
    uint64_t* row = rec.per_expert.data() + sz(l) * rec.experts;
    for (size_t i = 0; i < mine.size(); ++i)
      if (!is_empty_slot(mine[i])) row[mine[i]] += sc_.plan.slot_off[i + 1] - sc_.plan.slot_off[i];
  }

  const Job& job_;
  const PreparedLayout& p_;
  const StepPlan& plan_;
  Router router_;
  CostModel cost_;
  MoeLayerRunner runner_;
  ReferenceCheck check_;
  StepScratch sc_;
  std::vector<std::vector<float>> prepared_;  // [L] prepare_inputs' hidden states
  uint64_t prepared_step_ = UINT64_MAX;
};

// --steps means "at most", as in evaluate: a short range measures the steps it gives.
uint64_t measured_steps(const Job& job, const StepPlan& plan, int batch) {
  if (job.cfg.steps == 0) return plan.num_steps();
  const uint64_t b = static_cast<uint64_t>(std::max(batch, 1));
  const uint64_t steps = std::max(job.cfg.steps, (job.cfg.min_step_tokens + b - 1) / b);
  return std::min<uint64_t>(plan.num_steps(), steps);
}

MeasuredConfig gathered(const Job& job, const PreparedLayout& p, const StepPlan& plan,
                        RoutingPolicy rp, uint64_t steps, const RankRecord& rec,
                        const std::string& suffix, int batch);

MeasuredConfig run_config(const Job& job, const PreparedLayout& p, const StepPlan& plan,
                          RoutingPolicy rp, int batch, uint64_t steps, FfnBackend& backend,
                          Exchange& exchange) {
  RankRecord rec;
  ConfigRunner(job, p, plan, rp, backend, exchange).run(steps, rec);
  return gathered(job, p, plan, rp, steps, rec, ".b" + std::to_string(batch), batch);
}

// Rank 0 gets every rank's record and the cost model's prediction of the same steps.
MeasuredConfig gathered(const Job& job, const PreparedLayout& p, const StepPlan& plan,
                        RoutingPolicy rp, uint64_t steps, const RankRecord& rec,
                        const std::string& suffix, int batch) {
  MeasuredConfig r;
  r.name = p.name + "." + routing_name(rp) + suffix;
  r.layout = p.name, r.layout_path = p.path, r.routing = routing_name(rp), r.batch_size = batch;
  gather_record(job.comm, rec, r);
  if (job.rank == 0) {
    Router router(rp);
    evaluate_plan(job.block, plan, p.replicas, run_cost_model(job, p), router, r.predicted, 0,
                  steps);
    r.measured.step_tokens = r.predicted.step_tokens;
    r.measured.step_prefill = r.predicted.step_prefill;
    r.measured.step_lower_bound = r.predicted.step_lower_bound;  // a model figure, labelled so
    finish_measured(r);
  }
  return r;
}

// run --schedule: the serving schedule's steps on the wall clock, after `warmup` of them
// unmeasured; rank 0 derives TTFT and TPOT from the measured step ends.
MeasuredConfig run_schedule_config(const Job& job, const PreparedLayout& p, RoutingPolicy rp,
                                   FfnBackend& backend, Exchange& exchange) {
  const ScheduleFile& sched = *job.schedule;
  const StepPlan plan = plan_from_schedule(sched);
  const uint64_t steps = plan.num_steps();
  RankRecord rec;
  ConfigRunner runner(job, p, plan, rp, backend, exchange);
  runner.begin(steps, rec);
  for (uint64_t s = 0; s < std::min(job.cfg.warmup, steps); ++s) runner.run_step(s, false, rec);
  const ReplayTimes t = replay_steps(
      job.comm, step_ready_times(sched), [&](uint64_t s) { runner.prepare_inputs(s); },
      [&](uint64_t s) {
        maybe_die(job, s);
        runner.run_step(s, true, rec);
      });
  runner.end(rec);
  MeasuredConfig r = gathered(job, p, plan, rp, steps, rec, ".schedule", 0);
  if (job.rank == 0) r.schedule = compare_schedule(sched, t.start, t.end);
  return r;
}

ConfigAttrs config_attrs(const Job& job, const PreparedLayout& p, RoutingPolicy rp, int batch) {
  const RunOptions& cfg = job.cfg;
  ConfigAttrs a = layout_config_attrs(p);  // check_shape made its shape this job's
  a.routing = routing_name(rp);
  a.allocation = allocation_name(cfg.allocation);
  a.batching = batching_name(cfg.batching);
  a.batch_size = batch, a.prefill_chunk = cfg.prefill_chunk;
  a.virtual_nodes = job.topo.virtual_nodes;
  a.backend = cfg.backend, a.comm = cfg.comm, a.dtype = dtype_name(cfg.dtype);
  a.d_model = job.d_model, a.d_ff = job.d_ff;
  a.trace = cfg.trace, a.token_begin = cfg.begin, a.token_end = cfg.end;
  return a;
}

void write_results(const Job& job, const std::vector<MeasuredConfig>& configs) {
  RunFileInfo info;
  info.header = {"run", job.cfg.command_line, job.cfg.trace, job.header.model, {}};
  for (const RankPlacement& r : job.topo.ranks) {
    info.rank_hosts.push_back(r.host);
    info.rank_node.push_back(r.node);
    if (std::find(info.header.hosts.begin(), info.header.hosts.end(), r.host) ==
        info.header.hosts.end())
      info.header.hosts.push_back(r.host);
  }
  info.attrs = job.attrs;
  info.trace_d_model = job.header.d_model, info.trace_d_ff = job.header.d_ff;
  info.warmup = static_cast<int>(job.cfg.warmup), info.threads = job.cfg.threads;
  info.shard_bytes_per_rank = job.shard_bytes;
  write_run_results(job.cfg.output, info, configs);
}

std::unique_ptr<FfnBackend> loaded_backend(const Job& job, const PreparedLayout& p) {
  std::unique_ptr<FfnBackend> backend;
  agree(job.comm, [&] {
    backend = make_backend(job, p);
    load_shards(p.layout, job.rank, job.d_model, job.d_ff, job.cfg.dtype, job.cfg.seed, *backend);
  });
  return backend;
}

// run --schedule: the schedule once per layout.
void run_schedules(Job& job, Exchange& exchange, std::vector<MeasuredConfig>& out) {
  const RoutingPolicy rp = job.cfg.routings.front();
  for (const PreparedLayout& p : job.layouts) {
    const std::unique_ptr<FfnBackend> backend = loaded_backend(job, p);
    out.push_back(run_schedule_config(job, p, rp, *backend, exchange));
    job.attrs.push_back(config_attrs(job, p, rp, 0));
  }
}

// Batch size after batch size, every layout in turn (its shards loaded again, a few ms), so
// that the layouts compared at one batch size run seconds apart under the same conditions of
// the machine, not minutes apart as its drift changes them. Results stay in layout order:
// layout, then batch size, then routing.
void run_batches(Job& job, Exchange& exchange, std::vector<MeasuredConfig>& out) {
  const size_t B = job.cfg.batch_sizes.size(), R = job.cfg.routings.size();
  std::vector<MeasuredConfig> ran(job.layouts.size() * B * R);
  std::vector<ConfigAttrs> attrs(ran.size());
  for (size_t bi = 0; bi < B; ++bi) {
    const int b = job.cfg.batch_sizes[bi];
    for (size_t li = 0; li < job.layouts.size(); ++li) {
      const PreparedLayout& p = job.layouts[li];
      const std::unique_ptr<FfnBackend> backend = loaded_backend(job, p);
      StepPlan plan;
      uint64_t steps = 0;
      agree(job.comm, [&] {
        const PlanOptions po{job.cfg.allocation, job.cfg.batching, b, job.cfg.prefill_chunk, 0};
        plan = plan_layout_steps(p, job.block, job.spans, po);
        steps = measured_steps(job, plan, b);
      });
      for (size_t ri = 0; ri < R; ++ri) {
        const RoutingPolicy rp = job.cfg.routings[ri];
        const size_t at = (li * B + bi) * R + ri;
        ran[at] = run_config(job, p, plan, rp, b, steps, *backend, exchange);
        attrs[at] = config_attrs(job, p, rp, b);
      }
    }
  }
  std::move(ran.begin(), ran.end(), std::back_inserter(out));
  job.attrs.insert(job.attrs.end(), attrs.begin(), attrs.end());
}

// What the job is about to do, and where its ranks run.
void print_job(const Job& job) {
  const bool scaled = job.d_model != job.header.d_model || job.d_ff != job.header.d_ff;
  std::printf(
      "run: %d ranks in %d %snode(s), %s experts d_model %d x d_ff %d%s, %s on the wire, "
      "shards up to %.1f MiB per rank\n",
      job.world, job.topo.nodes, job.topo.virtual_nodes ? "virtual " : "", job.cfg.backend.c_str(),
      job.d_model, job.d_ff,
      scaled ? strprintf(" (scaled from %d x %d)", job.header.d_model, job.header.d_ff).c_str()
             : "",
      dtype_name(job.cfg.dtype), dbl(job.shard_bytes) / double(1 << 20));
  for (const std::string& w : topology_warnings(job.topo))
    std::fprintf(stderr, "epbench: warning: %s\n", w.c_str());
  std::fflush(stdout);
}

}  // namespace

std::vector<MeasuredConfig> run_job(const RunOptions& given, MPI_Comm comm) {
  RunOptions cfg = given;  // --schedule sets the range, the routing and no baselines
  Job job(cfg, comm);
  MPI_Comm_rank(comm, &job.rank);
  MPI_Comm_size(comm, &job.world);
  agree(comm, [&] {
    check_launcher(comm);
    warn_planted_fault(job.rank);
    if (!cfg.schedule.empty()) job.schedule = load_schedule(cfg);
    load_inputs(job);
    if (job.schedule) check_schedule_inputs(job);
  });
  agree(comm, [&] { job.topo = discover_topology(comm, cfg.ranks_per_node); });
  agree(comm, [&] {
    check_shape(job);
    check_profiles(job);
    check_memory(job);
  });
  if (job.rank == 0 && cfg.announce) print_job(job);
  std::unique_ptr<Exchange> exchange;
  agree(comm, [&] { exchange = make_exchange(job); });
  std::vector<MeasuredConfig> out;
  if (job.schedule)
    run_schedules(job, *exchange, out);
  else
    run_batches(job, *exchange, out);
  // Rank 0 writes; the others wait so that the job ends with the file in place or an error.
  agree(comm, [&] {
    if (job.rank == 0 && !cfg.output.empty()) write_results(job, out);
  });
  return job.rank == 0 ? std::move(out) : std::vector<MeasuredConfig>{};
}

}  // namespace epbench
