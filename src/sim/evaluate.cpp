#include "sim/evaluate.h"

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

// The requests' tokens within [a, b), as indices relative to a; the KV a request holds is its
// context at its last evaluated token.
std::vector<RequestSpan> request_spans(const TraceRequests& req, uint64_t a, uint64_t b) {
  const auto& off = req.token_offset;
  std::vector<RequestSpan> out;
  size_t r = static_cast<size_t>(std::upper_bound(off.begin(), off.end(), a) - off.begin());
  for (r = r > 0 ? r - 1 : 0; r < req.size() && off[r] < b; ++r) {
    const uint64_t first = std::max(off[r], a), end = std::min(off[r + 1], b);
    if (first >= end) continue;
    const uint64_t prompt_end = std::clamp<uint64_t>(off[r] + req.prompt_len[r], first, end);
    out.push_back({first - a, prompt_end - a, end - a, dbl(end - off[r])});
  }
  return out;
}

ModelPreset model_of(const TraceHeader& h) {
  ModelPreset m;
  m.name = h.model;
  m.num_layers = h.num_layers;
  m.num_experts = h.num_experts;
  m.top_k = h.top_k;
  m.d_model = h.d_model;
  m.d_ff = h.d_ff;
  return m;
}

// Scoring a layout on the tokens it was fitted on flatters it: say so (the run still goes on,
// as a deliberate in-sample comparison is legitimate).
void warn_if_fitted_on_test(const Layout& l, const EvaluateConfig& cfg, const std::string& path) {
  std::error_code ec;
  if (l.fit_trace.empty() || !std::filesystem::equivalent(l.fit_trace, cfg.trace, ec)) return;
  if (l.fit_begin < cfg.test_end && cfg.test_begin < l.fit_end)
    std::fprintf(stderr,
                 "epbench: warning: %s was fitted on tokens [%llu, %llu), which overlap the "
                 "test range\n",
                 path.c_str(), static_cast<unsigned long long>(l.fit_begin),
                 static_cast<unsigned long long>(l.fit_end));
}

struct Prepared {
  std::string path, name;
  Layout layout;
  ClusterSpec cluster;
  std::vector<LayerReplicas> replicas;
};

// Reads each layout, checks it against the trace's model and the cluster's shape (the layouts'
// own unless --nodes / --gpus-per-node say otherwise, and the same for all of them).
std::vector<Prepared> load_layouts(const EvaluateConfig& cfg, const TraceHeader& h) {
  const ClusterSpec base = load_cluster(cfg.cluster);
  const ModelPreset model = model_of(h);
  std::vector<Prepared> out;
  for (const std::string& path : cfg.layouts) {
    Prepared p;
    p.path = path;
    p.layout = read_layout(path);
    const int nodes = cfg.nodes > 0 ? cfg.nodes
                      : out.empty() ? p.layout.nodes
                                    : out[0].layout.nodes;
    const int gpn = cfg.gpus_per_node > 0 ? cfg.gpus_per_node
                    : out.empty()         ? p.layout.gpus_per_node
                                          : out[0].layout.gpus_per_node;
    ClusterSpec check = shape_cluster(base, nodes, gpn, 0, h.num_experts);
    check.slots_per_gpu = 0;  // layouts may differ in slots (replication) on one cluster
    require_layout_matches(p.layout, model, check, path);
    p.cluster = shape_cluster(base, nodes, gpn, p.layout.slots_per_gpu, h.num_experts);
    for (const LayerPlacement& lp : p.layout.layers)
      p.replicas.push_back(
          make_replicas(lp, h.num_experts, p.layout.slots_per_gpu, p.layout.gpus_per_node));
    warn_if_fitted_on_test(p.layout, cfg, path);
    p.name = std::filesystem::path(path).stem().string();
    for (const Prepared& q : out)
      if (q.name == p.name) p.name += "_" + std::to_string(out.size());
    out.push_back(std::move(p));
  }
  return out;
}

std::string utc_now() {
  const std::time_t t = std::time(nullptr);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[32];
  std::strftime(buf, sizeof buf, "%Y-%m-%dT%H:%M:%SZ", &tm);
  return buf;
}

std::string hostname() {
  char buf[256] = {};
  if (gethostname(buf, sizeof buf - 1) != 0) return "unknown";
  return buf;
}

void write_root_attrs(hid_t f, const EvaluateConfig& cfg, const TraceHeader& h) {
  h5::write_attr(f, "format", std::string(kResultsFormat));
  h5::write_attr(f, "version", int64_t{kResultsVersion});
  h5::write_attr(f, "tool", std::string("evaluate"));
  h5::write_attr(f, "command_line", cfg.command_line);
  h5::write_attr(f, "epbench_version", std::string(EPBENCH_VERSION));
#ifdef EPBENCH_GIT_REVISION
  h5::write_attr(f, "git_revision", std::string(EPBENCH_GIT_REVISION));
#else
  h5::write_attr(f, "git_revision", std::string("unknown"));
#endif
  h5::write_attr(f, "created_at", utc_now());
  h5::write_attr(f, "hosts", std::vector<std::string>{hostname()});
  h5::write_attr(f, "trace", cfg.trace);
  h5::write_attr(f, "model", h.model);
}

void write_run_attrs(hid_t g, const EvaluateConfig& cfg, const Prepared& p, const RunResult& r,
                     const TraceHeader& h) {
  const ClusterSpec& c = p.cluster;
  h5::write_attr(g, "layout", p.path);
  h5::write_attr(g, "algorithm", p.layout.algorithm);
  h5::write_attr(g, "fit_trace", p.layout.fit_trace);
  h5::write_attr(g, "fit_begin", static_cast<int64_t>(p.layout.fit_begin));
  h5::write_attr(g, "fit_end", static_cast<int64_t>(p.layout.fit_end));
  h5::write_attr(g, "routing", std::string(routing_name(r.routing)));
  h5::write_attr(g, "allocation", std::string(allocation_name(cfg.allocation)));
  h5::write_attr(g, "batching", std::string(batching_name(cfg.batching)));
  h5::write_attr(g, "batch_size", int64_t{r.batch_size});
  h5::write_attr(g, "prefill_chunk", static_cast<int64_t>(cfg.prefill_chunk));
  h5::write_attr(g, "world_size", int64_t{c.num_gpus()});
  h5::write_attr(g, "nodes", int64_t{c.nodes});
  h5::write_attr(g, "gpus_per_node", int64_t{c.gpus_per_node});
  h5::write_attr(g, "slots_per_gpu", int64_t{c.slots_per_gpu});
  h5::write_attr(g, "virtual_nodes", int64_t{0});
  h5::write_attr(g, "backend", std::string("cost-model"));
  h5::write_attr(g, "comm", std::string(cfg.cost.hierarchical ? "hierarchical" : "flat"));
  h5::write_attr(g, "dtype", std::string(c.bytes_per_activation == 2 ? "bf16" : "other"));
  h5::write_attr(g, "d_model", int64_t{h.d_model});
  h5::write_attr(g, "d_ff", int64_t{h.d_ff});
  h5::write_attr(g, "trace", cfg.trace);
  h5::write_attr(g, "token_begin", static_cast<int64_t>(cfg.test_begin));
  h5::write_attr(g, "token_end", static_cast<int64_t>(cfg.test_end));
  h5::write_attr(g, "cluster", c.name);
}

void write_summary_attrs(hid_t g, const RunSummary& m) {
  h5::write_attr(g, "steps", static_cast<int64_t>(m.steps));
  h5::write_attr(g, "tokens", static_cast<int64_t>(m.tokens));
  h5::write_attr(g, "tokens_per_s", m.tokens_per_s);
  h5::write_attr(g, "step_time_mean", m.step_time_mean);
  h5::write_attr(g, "step_time_p50", m.step_time_p50);
  h5::write_attr(g, "step_time_p99", m.step_time_p99);
  h5::write_attr(g, "lower_bound_time", m.lower_bound_time);
  h5::write_attr(g, "gap_to_lower_bound", m.gap_to_lower_bound);
  h5::write_attr(g, "comm_share", m.comm_share);
  h5::write_attr(g, "imbalance", m.imbalance);
  h5::write_attr(g, "other_node_bytes_per_token", m.other_node_bytes_per_token);
}

// One run's group, its [S, L, G] and [S] datasets grown chunk by chunk as steps are priced.
class RunWriter {
 public:
  RunWriter(hid_t runs, const std::string& name, size_t layers, size_t gpus)
      : group_(h5::create_group(runs, name)) {
    h5::DatasetOptions cube;
    cube.extendible = true;
    cube.chunk = {64, layers, gpus};
    const std::vector<hsize_t> dims{0, layers, gpus};
    for (const char* n : {"time/dispatch", "time/compute", "time/combine"})
      f64_.push_back(h5::create_dataset<double>(group_.id(), n, dims, cube));
    for (const char* n : {"bytes/same_node", "bytes/other_node"})
      u64_.push_back(h5::create_dataset<uint64_t>(group_.id(), n, dims, cube));
    pairs_ = h5::create_dataset<uint32_t>(group_.id(), "tokens/per_gpu", dims, cube);
    h5::DatasetOptions row;
    row.extendible = true;
    row.chunk = {4096};
    time_ = h5::create_dataset<double>(group_.id(), "steps/time", {0}, row);
    bound_ = h5::create_dataset<double>(group_.id(), "steps/lower_bound", {0}, row);
    tokens_ = h5::create_dataset<uint32_t>(group_.id(), "steps/tokens", {0}, row);
    prefill_ = h5::create_dataset<uint8_t>(group_.id(), "steps/prefill", {0}, row);
  }
  hid_t id() const { return group_.id(); }

  void append(const RunResult& c) {
    const hsize_t n = c.steps;
    append_rows(f64_[0], c.dispatch.data(), n);
    append_rows(f64_[1], c.compute.data(), n);
    append_rows(f64_[2], c.combine.data(), n);
    append_rows(u64_[0], c.bytes_same_node.data(), n);
    append_rows(u64_[1], c.bytes_other_node.data(), n);
    append_rows(pairs_, c.tokens_per_gpu.data(), n);
    append_rows(time_, c.step_time.data(), n);
    append_rows(bound_, c.step_lower_bound.data(), n);
    append_rows(tokens_, c.step_tokens.data(), n);
    append_rows(prefill_, c.step_prefill.data(), n);
    rows_ += n;
  }

 private:
  template <class T>
  void append_rows(const h5::Dataset& d, const T* data, hsize_t n) {
    if (n == 0) return;
    h5::extend(d.id(), rows_ + n);
    h5::write_rows<T>(d.id(), rows_, n, data);
  }
  h5::Group group_;
  std::vector<h5::Dataset> f64_, u64_;
  h5::Dataset pairs_, time_, bound_, tokens_, prefill_;
  hsize_t rows_ = 0;
};

// Steps priced per chunk: at most about 2M [step, layer, GPU] cells in memory at once.
size_t chunk_steps(size_t layers, size_t gpus) {
  return std::max<size_t>(1, (size_t{2} << 20) / std::max<size_t>(1, layers * gpus));
}

// Per request, the share of its prompt's expert work each GPU would serve under the layout.
std::vector<std::vector<double>> request_profiles(const std::vector<RequestSpan>& spans,
                                                  const TokenBlock& block, const Prepared& p) {
  std::vector<std::vector<double>> out(spans.size(),
                                       std::vector<double>(sz(p.cluster.num_gpus()), 0.0));
  for (size_t r = 0; r < spans.size(); ++r) {
    // A request cut by the range start may have no prompt left: use its first token then.
    const uint64_t last = std::max(spans[r].prompt_end, spans[r].first + 1);
    add_affinity(p.replicas, block, spans[r].first, last, out[r]);
  }
  return out;
}

void check_config(const EvaluateConfig& cfg) {
  if (cfg.layouts.empty()) throw InputError("--layouts: expected at least one layout file");
  if (cfg.routings.empty()) throw InputError("--routing: expected at least one policy");
  if (cfg.batch_sizes.empty()) throw InputError("--batch-sizes: expected at least one size");
  for (int b : cfg.batch_sizes)
    if (b < 1) throw InputError("--batch-sizes: expected sizes >= 1, got " + std::to_string(b));
}

void evaluate_layout(const EvaluateConfig& cfg, const Prepared& p, const TraceHeader& h,
                     const TokenBlock& block, const std::vector<RequestSpan>& spans, hid_t runs,
                     std::vector<RunResult>& results) {
  const CostModel cost(p.cluster, h.d_model, h.d_ff, cfg.cost);
  const bool affinity =
      cfg.allocation == AllocationPolicy::kAffinity || cfg.batching == BatchingPolicy::kAffinity;
  const auto profiles =
      affinity ? request_profiles(spans, block, p) : std::vector<std::vector<double>>();
  for (int b : cfg.batch_sizes) {
    Allocator alloc(cfg.allocation, p.cluster);
    BatchingOptions bo{cfg.batching, b, cfg.prefill_chunk, cfg.max_steps, 0};
    const StepPlan plan = plan_steps(spans, profiles, bo, alloc);
    for (RoutingPolicy rp : cfg.routings) {
      Router router(rp);
      RunResult r;
      r.name = p.name + "." + routing_name(rp) + ".b" + std::to_string(b);
      r.layout_path = p.path;
      r.algorithm = p.layout.algorithm;
      r.routing = rp;
      r.batch_size = b;
      RunWriter w(runs, r.name, sz(h.num_layers), sz(p.cluster.num_gpus()));
      SummaryParts parts;
      const size_t step = chunk_steps(sz(h.num_layers), sz(p.cluster.num_gpus()));
      for (size_t s0 = 0; s0 == 0 || s0 < plan.num_steps(); s0 += step) {
        evaluate_plan(block, plan, p.replicas, cost, router, r, s0, s0 + step);
        accumulate(r, parts);
        w.append(r);
      }
      r.summary = finish_summary(parts);
      write_run_attrs(w.id(), cfg, p, r, h);
      write_summary_attrs(w.id(), r.summary);
      h5::write_all<uint64_t>(w.id(), "tokens/per_expert", {r.layers, r.experts},
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
  const std::vector<Prepared> layouts = load_layouts(cfg, h);
  const TokenBlock block = reader.read(cfg.test_begin, cfg.test_end - cfg.test_begin);
  const std::vector<RequestSpan> spans =
      request_spans(reader.requests(), cfg.test_begin, cfg.test_end);
  std::vector<RunResult> results;
  AtomicOutput out(cfg.output);
  {
    h5::File f = h5::create_file(out.temp_path());
    write_root_attrs(f.id(), cfg, h);
    h5::Group runs = h5::create_group(f.id(), "runs");
    for (const Prepared& p : layouts) evaluate_layout(cfg, p, h, block, spans, runs.id(), results);
  }
  out.commit();
  return results;
}

}  // namespace epbench
