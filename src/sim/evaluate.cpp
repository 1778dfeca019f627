#include "sim/evaluate.h"

#include <tbb/blocked_range.h>
#include <tbb/enumerable_thread_specific.h>
#include <tbb/parallel_for.h>
#include <tbb/task_arena.h>

#include <algorithm>
#include <string>

#include "common/error.h"
#include "common/numeric.h"
#include "io/h5.h"
#include "results/results_writer.h"
#include "results/schema_names.h"
#include "results/summary.h"
#include "scenario/layouts.h"
#include "scenario/request_spans.h"
#include "scenario/step_plan.h"
#include "sim/price_step.h"
#include "trace/trace_io.h"

namespace epbench {

namespace {

// Sizes out's arrays for S steps of L layers on G GPUs, zeroed; keeps tokens_per_expert.
void size_cubes(ConfigResult& out, size_t S, size_t L, size_t G, size_t E) {
  const size_t cells = S * L * G;
  out.steps = S, out.layers = L, out.gpus = G, out.experts = E;
  for (auto* v : {&out.dispatch, &out.compute, &out.combine}) v->assign(cells, 0);
  for (auto* v : {&out.bytes_same_node, &out.bytes_other_node}) v->assign(cells, 0);
  out.tokens_per_gpu.assign(cells, 0);
  out.experts_active.assign(cells, 0);
  if (out.tokens_per_expert.size() != L * E) out.tokens_per_expert.assign(L * E, 0);
  out.step_time.assign(S, 0);
  out.step_lower_bound.assign(S, 0);
  out.step_tokens.assign(S, 0);
  for (auto* v : {&out.step_dispatch, &out.step_compute, &out.step_combine}) v->assign(S, 0);
}

StepTokens step_tokens(const StepPlan& plan, size_t s) {
  const size_t first = plan.offset[s];
  // The plan's earlier steps precede this one in plan.token: they are its history.
  return {plan.token.data() + first, plan.home.data() + first, plan.offset[s + 1] - first,
          plan.token.data(),         plan.offset.data(),       s,
          plan.home.data()};
}

void store_step(const StepPrice& p, size_t s, size_t n, ConfigResult& out) {
  out.step_time[s] = p.time;
  out.step_lower_bound[s] = p.lower_bound;
  out.step_tokens[s] = static_cast<uint32_t>(n);
  out.step_dispatch[s] = p.dispatch;
  out.step_compute[s] = p.compute;
  out.step_combine[s] = p.combine;
}

}  // namespace

void evaluate_plan(const TokenBlock& tokens, const StepPlan& plan,
                   const std::vector<LayerReplicas>& replicas, const CostModel& cost,
                   Router& router, ConfigResult& out, size_t first_step, size_t last_step) {
  const int E = replicas.empty() ? 0 : replicas[0].num_experts();
  last_step = std::min(last_step, plan.num_steps());
  first_step = std::min(first_step, last_step);
  const size_t S = last_step - first_step, L = sz(tokens.num_layers), G = sz(cost.num_gpus());
  size_cubes(out, S, L, G, sz(E));
  out.step_prefill.assign(plan.prefill.begin() + static_cast<std::ptrdiff_t>(first_step),
                          plan.prefill.begin() + static_cast<std::ptrdiff_t>(last_step));
  PriceScratch scratch;
  for (size_t s = 0; s < S; ++s) {
    const StepTokens step = step_tokens(plan, first_step + s);
    store_step(price_step(tokens, step, replicas, cost, router, out, s, scratch), s, step.n, out);
  }
}

namespace {

// Steps priced per chunk: with cubes, at most about 2M [step, layer, GPU] cells in memory at
// once; without, the per-layer records of 4096 steps.
size_t chunk_steps(size_t layers, size_t gpus, bool cubes) {
  if (!cubes) return 4096;
  return std::max<size_t>(1, (size_t{2} << 20) / std::max<size_t>(1, layers * gpus));
}

void check_config(const EvaluateOptions& opt) {
  if (opt.layouts.empty()) throw OptionError("layouts", "expected at least one layout file");
  if (opt.routings.empty()) throw OptionError("routing", "expected at least one policy");
  if (opt.batch_sizes.empty()) throw OptionError("batch_sizes", "expected at least one size");
  for (int b : opt.batch_sizes)
    if (b < 1) throw OptionError("batch_sizes", "expected sizes >= 1, got " + std::to_string(b));
  if (opt.threads < 0) throw OptionError("threads", "expected >= 0 (0: one per core)");
}

int priced_d_model(const EvaluateOptions& opt, const TraceHeader& h) {
  return opt.d_model > 0 ? opt.d_model : h.d_model;
}
int priced_d_ff(const EvaluateOptions& opt, const TraceHeader& h) {
  return opt.d_ff > 0 ? opt.d_ff : h.d_ff;
}

ConfigAttrs config_attrs(const EvaluateOptions& opt, const PreparedLayout& p, const ConfigResult& r,
                         const TraceHeader& h) {
  ConfigAttrs a = layout_config_attrs(p);
  a.routing = routing_name(r.routing);
  a.allocation = allocation_name(opt.allocation);
  a.batching = batching_name(opt.batching);
  a.batch_size = r.batch_size, a.prefill_chunk = opt.prefill_chunk;
  a.backend = "cost-model";
  a.comm = opt.cost.hierarchical ? "hierarchical" : "flat";
  a.dtype = p.cluster.bytes_per_activation == 2 ? "bf16" : "other";
  a.d_model = priced_d_model(opt, h), a.d_ff = priced_d_ff(opt, h);
  a.trace = opt.trace, a.token_begin = opt.begin, a.token_end = opt.end;
  return a;
}

// One (step, layer)'s part of the summary. Kept per layer so that the summary adds them in
// the order accumulate() (results/summary.h) does over cubes: the same bits at any thread
// count, and with or without cubes. Integer parts are exact in doubles below 2^53.
struct LayerSummary {
  double comm = 0;  // slowest dispatch + slowest combine
  uint64_t pairs = 0, other_bytes = 0;
  uint32_t max_pairs = 0;
};

// What one thread needs: routers and cost models keep scratch, and the run totals are summed
// over threads at the end (integers, so in any order).
struct Worker {
  Worker(RoutingPolicy rp, const CostModel& c, size_t L, size_t E, size_t G)
      : router(rp),
        cost(c),
        per_expert(L * E, 0),
        pairs(L * G, 0),
        same(L * G, 0),
        other(L * G, 0) {}
  Router router;
  CostModel cost;
  PriceScratch scratch;
  std::vector<uint64_t> per_expert;          // [L, E]
  std::vector<uint64_t> pairs, same, other;  // [L, G]
};

struct ConfigJob {
  const TokenBlock& tokens;
  const StepPlan& plan;
  const std::vector<LayerReplicas>& replicas;
  size_t L, E, G;
  bool cubes;
};

// Adds one priced layer to the worker's totals and, with cubes, to row s of the chunk.
LayerSummary sink_layer(const ConfigJob& job, const SparseLayerCost& lc, size_t s, size_t l,
                        Worker& w, ConfigResult& chunk) {
  if (job.cubes) store_layer(lc, (s * job.L + l) * job.G, job.G, chunk);
  LayerSummary m;
  m.comm = lc.dispatch_max + lc.combine_max;
  const size_t row = l * job.G;
  for (size_t i = 0; i < lc.size; ++i) {
    const size_t g = row + sz(lc.gpu[i]);
    w.pairs[g] += lc.pairs[i];
    w.same[g] += lc.bytes_same_node[i];
    w.other[g] += lc.bytes_other_node[i];
    m.pairs += lc.pairs[i];
    m.max_pairs = std::max(m.max_pairs, lc.pairs[i]);
    m.other_bytes += lc.bytes_other_node[i];
  }
  return m;
}

// Prices step s0 + s of the plan (chunk row s), layer by layer in order like price_step.
void price_one_step(const ConfigJob& job, size_t s0, size_t s, Worker& w, ConfigResult& chunk,
                    LayerSummary* layers) {
  const StepTokens step = step_tokens(job.plan, s0 + s);
  StepPrice price;
  mark_step_warm(job.tokens, step, job.replicas, w.cost, w.router, w.scratch);
  for (size_t l = 0; l < job.L; ++l) {
    const LayerPrice p =
        price_step_layer(job.tokens, step, static_cast<int>(l), job.replicas[l], w.cost, w.router,
                         w.per_expert.data() + l * job.E, w.scratch);
    layers[l] = sink_layer(job, w.scratch.sparse, s, l, w, chunk);
    price.lower_bound += p.lower_bound;
    price.time += p.time;
    price.dispatch += p.dispatch;
    price.compute += p.compute;
    price.combine += p.combine;
  }
  store_step(price, s, step.n, chunk);
}

// Steps [s0, s1) in parallel; each step's figures depend on that step alone.
void price_chunk(const ConfigJob& job, size_t s0, size_t s1,
                 tbb::enumerable_thread_specific<Worker>& workers, ConfigResult& chunk,
                 std::vector<LayerSummary>& layers) {
  const size_t S = s1 - s0;
  chunk.steps = S, chunk.layers = job.L, chunk.gpus = job.G, chunk.experts = job.E;
  for (auto* v : {&chunk.step_time, &chunk.step_lower_bound, &chunk.step_dispatch,
                  &chunk.step_compute, &chunk.step_combine})
    v->assign(S, 0);
  chunk.step_tokens.assign(S, 0);
  chunk.step_prefill.assign(job.plan.prefill.begin() + static_cast<std::ptrdiff_t>(s0),
                            job.plan.prefill.begin() + static_cast<std::ptrdiff_t>(s1));
  if (job.cubes) size_cubes(chunk, S, job.L, job.G, job.E);
  layers.assign(S * job.L, {});
  tbb::parallel_for(tbb::blocked_range<size_t>(0, S), [&](const tbb::blocked_range<size_t>& r) {
    Worker& w = workers.local();
    for (size_t s = r.begin(); s < r.end(); ++s)
      price_one_step(job, s0, s, w, chunk, layers.data() + s * job.L);
  });
}

// accumulate() (results/summary.cpp) from the per-layer records instead of the cubes.
void accumulate_layers(const ConfigResult& chunk, const std::vector<LayerSummary>& layers,
                       SummaryParts& m) {
  for (size_t s = 0; s < chunk.steps; ++s) {
    m.tokens += chunk.step_tokens[s];
    m.step_time.push_back(chunk.step_time[s]);
    m.lower_bound += chunk.step_lower_bound[s];
    for (size_t l = 0; l < chunk.layers; ++l) {
      const LayerSummary& ls = layers[s * chunk.layers + l];
      m.comm += ls.comm;
      m.max_pairs += ls.max_pairs;
      m.mean_pairs += dbl(ls.pairs) / dbl(chunk.gpus);
      m.other_bytes += dbl(ls.other_bytes);
    }
  }
}

// The run totals: the sums of every worker's.
void sum_workers(tbb::enumerable_thread_specific<Worker>& workers, ConfigResult& r) {
  r.tokens_per_expert.assign(r.layers * r.experts, 0);
  for (auto* v : {&r.total_pairs, &r.total_bytes_same_node, &r.total_bytes_other_node})
    v->assign(r.layers * r.gpus, 0);
  const auto add = [](std::vector<uint64_t>& to, const std::vector<uint64_t>& from) {
    for (size_t i = 0; i < to.size(); ++i) to[i] += from[i];
  };
  for (const Worker& w : workers) {
    add(r.tokens_per_expert, w.per_expert);
    add(r.total_pairs, w.pairs);
    add(r.total_bytes_same_node, w.same);
    add(r.total_bytes_other_node, w.other);
  }
}

// Prices one configuration chunk by chunk, appending each chunk to the file.
void evaluate_config(const EvaluateOptions& opt, const PreparedLayout& p, const CostModel& cost,
                     const TokenBlock& block, const StepPlan& plan, hid_t group, ConfigResult& r) {
  const ConfigJob job{block,
                      plan,
                      p.replicas,
                      sz(block.num_layers),
                      sz(p.replicas.empty() ? 0 : p.replicas[0].num_experts()),
                      sz(cost.num_gpus()),
                      opt.cubes};
  r.layers = job.L, r.experts = job.E, r.gpus = job.G;
  tbb::enumerable_thread_specific<Worker> workers(Worker(r.routing, cost, job.L, job.E, job.G));
  CubeWriter w(group, "", job.L, job.G, {opt.cubes, true});
  SummaryParts parts;
  ConfigResult chunk;
  std::vector<LayerSummary> layers;
  const size_t step = chunk_steps(job.L, job.G, opt.cubes);
  for (size_t s0 = 0; s0 == 0 || s0 < plan.num_steps(); s0 += step) {
    const size_t s1 = std::min(plan.num_steps(), s0 + step);
    price_chunk(job, s0, s1, workers, chunk, layers);
    accumulate_layers(chunk, layers, parts);
    w.append(chunk);
  }
  r.summary = finish_summary(parts);
  sum_workers(workers, r);
}

void evaluate_layout(const EvaluateOptions& opt, const PreparedLayout& p, const TraceHeader& h,
                     const TokenBlock& block, const std::vector<RequestSpan>& spans, hid_t runs,
                     std::vector<ConfigResult>& configs) {
  const CostModel cost(p.cluster, priced_d_model(opt, h), priced_d_ff(opt, h), opt.cost);
  for (int b : opt.batch_sizes) {
    const PlanOptions po{opt.allocation, opt.batching, b, opt.prefill_chunk, opt.max_steps};
    const StepPlan plan = plan_layout_steps(p, block, spans, po);
    for (RoutingPolicy rp : opt.routings) {
      ConfigResult r;
      r.name = p.name + "." + routing_name(rp) + ".b" + std::to_string(b);
      r.layout = p.name, r.layout_path = p.path;
      r.algorithm = p.layout.algorithm;
      r.routing = rp;
      r.batch_size = b;
      h5::Group group = h5::create_group(runs, r.name);
      evaluate_config(opt, p, cost, block, plan, group.id(), r);
      write_config_attrs(group.id(), config_attrs(opt, p, r, h));
      write_summary_attrs(group.id(), r.summary);
      h5::write_all<uint64_t>(group.id(), results::dset::tokens_per_expert, {r.layers, r.experts},
                              r.tokens_per_expert.data());
      write_totals(group.id(), r);
      ConfigResult kept;  // the summary only: the datasets are in the file now
      kept.name = r.name, kept.layout = r.layout, kept.layout_path = r.layout_path,
      kept.algorithm = r.algorithm;
      kept.routing = rp, kept.batch_size = b, kept.summary = r.summary;
      configs.push_back(std::move(kept));
    }
  }
}

}  // namespace

std::vector<ConfigResult> run_evaluate(const EvaluateOptions& opt) {
  check_config(opt);
  const TraceReader reader(opt.trace);
  const TraceHeader& h = reader.header();
  check_token_range(h, opt.begin, opt.end);
  const LayoutSource src{opt.layouts, opt.cluster, opt.nodes, opt.gpus_per_node,
                         opt.trace,   opt.begin,   opt.end};
  const std::vector<PreparedLayout> layouts = load_layouts(src, h);
  const TokenBlock block = reader.read(opt.begin, opt.end - opt.begin, false);
  const std::vector<RequestSpan> spans = request_spans(reader.requests(), opt.begin, opt.end);
  std::vector<ConfigResult> configs;
  const ResultsHeader header{"evaluate", opt.command_line, opt.trace, h.model, {hostname()}};
  write_results_file(opt.output, header, [&](hid_t runs) {
    tbb::task_arena arena(opt.threads > 0 ? opt.threads : tbb::task_arena::automatic);
    arena.execute([&] {
      for (const PreparedLayout& p : layouts)
        evaluate_layout(opt, p, h, block, spans, runs, configs);
    });
  });
  return configs;
}

}  // namespace epbench
