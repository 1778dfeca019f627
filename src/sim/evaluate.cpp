#include "sim/evaluate.h"

#include <algorithm>
#include <string>

#include "common/atomic_file.h"
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
    const size_t first = plan.offset[first_step + s];
    const StepTokens step{plan.token.data() + first, plan.home.data() + first,
                          plan.offset[first_step + s + 1] - first};
    const StepPrice price = price_step(tokens, step, replicas, cost, router, out, s, scratch);
    out.step_time[s] = price.time;
    out.step_lower_bound[s] = price.lower_bound;
    out.step_tokens[s] = static_cast<uint32_t>(step.n);
  }
}

namespace {

// Steps priced per chunk: at most about 2M [step, layer, GPU] cells in memory at once.
size_t chunk_steps(size_t layers, size_t gpus) {
  return std::max<size_t>(1, (size_t{2} << 20) / std::max<size_t>(1, layers * gpus));
}

void check_config(const EvaluateOptions& opt) {
  if (opt.layouts.empty()) throw OptionError("layouts", "expected at least one layout file");
  if (opt.routings.empty()) throw OptionError("routing", "expected at least one policy");
  if (opt.batch_sizes.empty()) throw OptionError("batch_sizes", "expected at least one size");
  for (int b : opt.batch_sizes)
    if (b < 1) throw OptionError("batch_sizes", "expected sizes >= 1, got " + std::to_string(b));
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
  a.d_model = h.d_model, a.d_ff = h.d_ff;
  a.trace = opt.trace, a.token_begin = opt.begin, a.token_end = opt.end;
  return a;
}

void evaluate_layout(const EvaluateOptions& opt, const PreparedLayout& p, const TraceHeader& h,
                     const TokenBlock& block, const std::vector<RequestSpan>& spans, hid_t runs,
                     std::vector<ConfigResult>& configs) {
  const CostModel cost(p.cluster, h.d_model, h.d_ff, opt.cost);
  for (int b : opt.batch_sizes) {
    const PlanOptions po{opt.allocation, opt.batching, b, opt.prefill_chunk, opt.max_steps};
    const StepPlan plan = plan_layout_steps(p, block, spans, po);
    for (RoutingPolicy rp : opt.routings) {
      Router router(rp);
      ConfigResult r;
      r.name = p.name + "." + routing_name(rp) + ".b" + std::to_string(b);
      r.layout = p.name, r.layout_path = p.path;
      r.algorithm = p.layout.algorithm;
      r.routing = rp;
      r.batch_size = b;
      h5::Group group = h5::create_group(runs, r.name);
      CubeWriter w(group.id(), "", sz(h.num_layers), sz(p.cluster.num_gpus()));
      SummaryParts parts;
      const size_t step = chunk_steps(sz(h.num_layers), sz(p.cluster.num_gpus()));
      for (size_t s0 = 0; s0 == 0 || s0 < plan.num_steps(); s0 += step) {
        evaluate_plan(block, plan, p.replicas, cost, router, r, s0, s0 + step);
        accumulate(r, parts);
        w.append(r);
      }
      r.summary = finish_summary(parts);
      write_config_attrs(group.id(), config_attrs(opt, p, r, h));
      write_summary_attrs(group.id(), r.summary);
      h5::write_all<uint64_t>(group.id(), results::dset::tokens_per_expert, {r.layers, r.experts},
                              r.tokens_per_expert.data());
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
  if (opt.begin >= opt.end || opt.end > h.num_tokens)
    throw OptionError("range", "expected a non-empty token range within the trace's " +
                                   std::to_string(h.num_tokens) + " tokens");
  const LayoutSource src{opt.layouts, opt.cluster, opt.nodes, opt.gpus_per_node,
                         opt.trace,   opt.begin,   opt.end};
  const std::vector<PreparedLayout> layouts = load_layouts(src, h);
  const TokenBlock block = reader.read(opt.begin, opt.end - opt.begin);
  const std::vector<RequestSpan> spans = request_spans(reader.requests(), opt.begin, opt.end);
  std::vector<ConfigResult> configs;
  AtomicOutput out(opt.output);
  {
    h5::File f = h5::create_memory_file(opt.output);
    write_results_root(f.id(), {"evaluate", opt.command_line, opt.trace, h.model, {hostname()}});
    {
      h5::Group runs = h5::create_group(f.id(), results::kRunsGroup);
      for (const PreparedLayout& p : layouts)
        evaluate_layout(opt, p, h, block, spans, runs.id(), configs);
    }
    h5::write_image(f.id(), out);
  }
  out.commit();
  return configs;
}

}  // namespace epbench
