#include "sim/evaluate.h"

#include "sim/replay.h"
#include "sim/results_writer.h"

#include <unistd.h>

#include <algorithm>
#include <cmath>
#include <cstdarg>
#include <cstdio>
#include <cstring>
#include <ctime>
#include <filesystem>

#include "common/atomic_file.h"
#include "common/error.h"
#include "common/numeric.h"
#include "io/h5.h"
#include "model/presets.h"
#include "placement/bound.h"
#include "routing/allocation.h"
#include "trace/trace_io.h"

namespace epbench {

namespace {

// Nearest-rank percentile of unsorted values.
double percentile(std::vector<double> v, double q) {
  if (v.empty()) return 0;
  std::sort(v.begin(), v.end());
  const size_t rank = static_cast<size_t>(std::ceil(q * static_cast<double>(v.size())));
  return v[std::clamp<size_t>(rank, 1, v.size()) - 1];
}

}  // namespace

void evaluate_plan(const TokenBlock& tokens, const StepPlan& plan,
                   const std::vector<LayerReplicas>& replicas, const CostModel& cost,
                   Router& router, RunResult& out, size_t first_step, size_t last_step) {
  const int L = tokens.num_layers, k = tokens.top_k, G = cost.num_gpus();
  const int E = replicas.empty() ? 0 : replicas[0].num_experts();
  last_step = std::min(last_step, plan.num_steps());
  first_step = std::min(first_step, last_step);
  const size_t S = last_step - first_step, cells = S * sz(L) * sz(G);
  out.steps = S, out.layers = sz(L), out.gpus = sz(G), out.experts = sz(E);
  for (auto* v : {&out.dispatch, &out.compute, &out.combine}) v->assign(cells, 0);
  for (auto* v : {&out.bytes_same_node, &out.bytes_other_node}) v->assign(cells, 0);
  out.tokens_per_gpu.assign(cells, 0);
  out.experts_active.assign(cells, 0);
  if (out.tokens_per_expert.size() != sz(L) * sz(E)) out.tokens_per_expert.assign(sz(L) * sz(E), 0);
  out.step_time.assign(S, 0);
  out.step_lower_bound.assign(S, 0);
  out.step_tokens.assign(S, 0);
  out.step_prefill.assign(plan.prefill.begin() + static_cast<std::ptrdiff_t>(first_step),
                          plan.prefill.begin() + static_cast<std::ptrdiff_t>(last_step));
  std::vector<uint16_t> ids;  // one layer of the step, [n, k]
  std::vector<int32_t> slots;
  LayerCost lc;
  const size_t kk = sz(k);
  for (size_t s = 0; s < S; ++s) {
    const size_t first = plan.offset[first_step + s];
    const size_t n = plan.offset[first_step + s + 1] - first;
    const int32_t* home = plan.home.data() + first;
    ids.resize(n * kk);
    slots.resize(n * kk);
    double step = 0, bound = 0;
    for (int l = 0; l < L; ++l) {
      uint64_t* per_expert = out.tokens_per_expert.data() + sz(l) * sz(E);
      for (size_t i = 0; i < n; ++i) {
        const uint16_t* src = tokens.experts(plan.token[first + i], l);
        std::memcpy(ids.data() + i * kk, src, kk * sizeof(uint16_t));
        for (size_t j = 0; j < kk; ++j) ++per_expert[src[j]];
      }
      bound += layer_lower_bound(cost, ids.data(), n, k, E).total();
      router.route(replicas[sz(l)], ids.data(), home, n, k, slots.data());
      cost.price_layer(home, slots.data(), n, k, lc);
      const size_t at = (s * sz(L) + sz(l)) * sz(G);
      std::copy(lc.dispatch_s.begin(), lc.dispatch_s.end(), out.dispatch.begin() + at);
      std::copy(lc.compute_s.begin(), lc.compute_s.end(), out.compute.begin() + at);
      std::copy(lc.combine_s.begin(), lc.combine_s.end(), out.combine.begin() + at);
      std::copy(lc.bytes_same_node.begin(), lc.bytes_same_node.end(),
                out.bytes_same_node.begin() + at);
      std::copy(lc.bytes_other_node.begin(), lc.bytes_other_node.end(),
                out.bytes_other_node.begin() + at);
      std::copy(lc.pairs.begin(), lc.pairs.end(), out.tokens_per_gpu.begin() + at);
      std::copy(lc.active.begin(), lc.active.end(), out.experts_active.begin() + at);
      step += lc.total();
    }
    out.step_time[s] = step;
    out.step_lower_bound[s] = bound;
    out.step_tokens[s] = static_cast<uint32_t>(n);
  }
}

void accumulate(const RunResult& r, SummaryParts& m) {
  for (size_t s = 0; s < r.steps; ++s) {
    m.tokens += r.step_tokens[s];
    m.step_time.push_back(r.step_time[s]);
    m.lower_bound += r.step_lower_bound[s];
    for (size_t l = 0; l < r.layers; ++l) {
      const size_t at = (s * r.layers + l) * r.gpus;
      double d = 0, c = 0;
      uint32_t hi = 0;
      uint64_t sum = 0;
      for (size_t g = at; g < at + r.gpus; ++g) {
        d = std::max(d, r.dispatch[g]), c = std::max(c, r.combine[g]);
        hi = std::max(hi, r.tokens_per_gpu[g]), sum += r.tokens_per_gpu[g];
        m.other_bytes += dbl(r.bytes_other_node[g]);
      }
      m.comm += d + c;
      m.max_pairs += hi;
      m.mean_pairs += dbl(sum) / dbl(r.gpus);
    }
  }
}

RunSummary finish_summary(const SummaryParts& p) {
  RunSummary m;
  m.steps = p.step_time.size();
  m.tokens = p.tokens;
  if (m.steps == 0) return m;
  for (double t : p.step_time) m.total_time += t;
  m.tokens_per_s = m.total_time > 0 ? dbl(m.tokens) / m.total_time : 0;
  m.step_time_mean = m.total_time / dbl(m.steps);
  m.step_time_p50 = percentile(p.step_time, 0.50);
  m.step_time_p99 = percentile(p.step_time, 0.99);
  m.comm_share = m.total_time > 0 ? p.comm / m.total_time : 0;
  m.imbalance = p.mean_pairs > 0 ? p.max_pairs / p.mean_pairs : 0;
  m.other_node_bytes_per_token = m.tokens ? p.other_bytes / dbl(m.tokens) : 0;
  m.lower_bound_time = p.lower_bound;
  m.gap_to_lower_bound = p.lower_bound > 0 ? m.total_time / p.lower_bound : 0;
  return m;
}

RunSummary summarize(const RunResult& r) {
  SummaryParts parts;
  accumulate(r, parts);
  return finish_summary(parts);
}

namespace {

// Steps priced per chunk: at most about 2M [step, layer, GPU] cells in memory at once.
size_t chunk_steps(size_t layers, size_t gpus) {
  return std::max<size_t>(1, (size_t{2} << 20) / std::max<size_t>(1, layers * gpus));
}

void check_config(const EvaluateConfig& cfg) {
  if (cfg.layouts.empty()) throw InputError("--layouts: expected at least one layout file");
  if (cfg.routings.empty()) throw InputError("--routing: expected at least one policy");
  if (cfg.batch_sizes.empty()) throw InputError("--batch-sizes: expected at least one size");
  for (int b : cfg.batch_sizes)
    if (b < 1) throw InputError("--batch-sizes: expected sizes >= 1, got " + std::to_string(b));
}

RunAttrs run_attrs(const EvaluateConfig& cfg, const PreparedLayout& p, const RunResult& r,
                   const TraceHeader& h) {
  RunAttrs a = layout_run_attrs(p);
  a.routing = routing_name(r.routing);
  a.allocation = allocation_name(cfg.allocation);
  a.batching = batching_name(cfg.batching);
  a.batch_size = r.batch_size, a.prefill_chunk = cfg.prefill_chunk;
  a.backend = "cost-model";
  a.comm = cfg.cost.hierarchical ? "hierarchical" : "flat";
  a.dtype = p.cluster.bytes_per_activation == 2 ? "bf16" : "other";
  a.d_model = h.d_model, a.d_ff = h.d_ff;
  a.trace = cfg.trace, a.token_begin = cfg.test_begin, a.token_end = cfg.test_end;
  return a;
}

void evaluate_layout(const EvaluateConfig& cfg, const PreparedLayout& p, const TraceHeader& h,
                     const TokenBlock& block, const std::vector<RequestSpan>& spans, hid_t runs,
                     std::vector<RunResult>& results) {
  const CostModel cost(p.cluster, h.d_model, h.d_ff, cfg.cost);
  for (int b : cfg.batch_sizes) {
    const PlanOptions po{cfg.allocation, cfg.batching, b, cfg.prefill_chunk, cfg.max_steps};
    const StepPlan plan = plan_layout_steps(p, block, spans, po);
    for (RoutingPolicy rp : cfg.routings) {
      Router router(rp);
      RunResult r;
      r.name = p.name + "." + routing_name(rp) + ".b" + std::to_string(b);
      r.layout_path = p.path;
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
      write_run_attrs(group.id(), run_attrs(cfg, p, r, h));
      write_summary_attrs(group.id(), r.summary);
      h5::write_all<uint64_t>(group.id(), "tokens/per_expert", {r.layers, r.experts},
                              r.tokens_per_expert.data());
      RunResult kept;  // the summary only: the datasets are in the file now
      kept.name = r.name, kept.layout_path = r.layout_path, kept.algorithm = r.algorithm;
      kept.routing = rp, kept.batch_size = b, kept.summary = r.summary;
      results.push_back(std::move(kept));
    }
  }
}

}  // namespace

std::vector<RunResult> run_evaluate(const EvaluateConfig& cfg) {
  check_config(cfg);
  const TraceReader reader(cfg.trace);
  const TraceHeader& h = reader.header();
  if (cfg.test_begin >= cfg.test_end || cfg.test_end > h.num_tokens)
    throw InputError("--test: expected a non-empty token range within the trace's " +
                     std::to_string(h.num_tokens) + " tokens");
  const LayoutSource src{cfg.layouts, cfg.cluster,    cfg.nodes,   cfg.gpus_per_node,
                         cfg.trace,   cfg.test_begin, cfg.test_end};
  const std::vector<PreparedLayout> layouts = load_layouts(src, h);
  const TokenBlock block = reader.read(cfg.test_begin, cfg.test_end - cfg.test_begin);
  const std::vector<RequestSpan> spans =
      request_spans(reader.requests(), cfg.test_begin, cfg.test_end);
  std::vector<RunResult> results;
  AtomicOutput out(cfg.output);
  {
    h5::File f = h5::create_file(out.temp_path());
    write_results_root(f.id(), {"evaluate", cfg.command_line, cfg.trace, h.model, {hostname()}});
    h5::Group runs = h5::create_group(f.id(), "runs");
    for (const PreparedLayout& p : layouts)
      evaluate_layout(cfg, p, h, block, spans, runs.id(), results);
  }
  out.commit();
  return results;
}

}  // namespace epbench
